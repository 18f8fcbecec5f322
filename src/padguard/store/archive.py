"""The append-only archive of a live count: every input and every decision, in order.

One count is a sequence of :class:`~padguard.sequencer.live.Rec` with contiguous sequence
numbers starting at 1. The runtime appends the records of an instant (its inputs and the
events they caused) and commits them *before* anything leaves the process (a command to the
pad, a reply to an operator, an acknowledgement to a dry-run pad), so an acknowledged event
is never lost. Nothing is ever updated or deleted.

Two backends, one interface:

* SQLite (default, one file): WAL journal, ``synchronous=FULL`` (each commit is on disk
  before ``commit`` returns; ``?sync=normal`` trades power-loss safety for speed, still safe
  against a killed process). A lock file keeps a second writer out.
* PostgreSQL (``postgresql://...``), through psycopg 3; a session advisory lock keeps a second
  writer out and dies with the writer's connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from padguard.sequencer.live import Rec

COLUMNS = ("count_id", "seq", "batch", "t", "tc", "wall", "kind", "name", "value", "code", "data")


class ArchiveError(Exception):
    """An archive that cannot be opened, is in use, or does not hold the count asked for."""


class Archive:
    """One count in an archive (base class; see :func:`open_archive`)."""

    url: str
    count_id: str
    writable: bool

    def __init__(self) -> None:
        self.last_seq = 0
        self._pending: list[tuple] = []

    # ---- backend hooks
    def _insert(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _select(self, after: int, kinds: Sequence[str] | None, limit: int | None) -> Iterator[tuple]:
        raise NotImplementedError

    def meta(self) -> dict[str, Any] | None:
        """The count's header (site, procedure, model texts, clock...), None for a new count."""
        raise NotImplementedError

    def set_meta(self, meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def counts(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ---- the interface
    def append(self, recs: Iterable[Rec]) -> None:
        """Number ``recs`` and stage them; they are durable after :meth:`commit`."""
        if not self.writable:
            raise ArchiveError("archive opened read-only")
        now = time.time()
        cid = self.count_id
        seq = self.last_seq
        rows = self._pending
        for r in recs:
            seq += 1
            r.seq = seq
            if not r.wall:
                r.wall = now
            rows.append((cid, seq, r.batch, r.t, r.tc, r.wall, r.kind, r.name, r.value, r.code,
                         None if r.data is None else json.dumps(r.data, separators=(",", ":"))))
        self.last_seq = seq

    def commit(self) -> None:
        """Write everything staged, durably. Raises on failure (the caller must then hold)."""
        if self._pending:
            rows = self.take()
            try:
                self.write(rows)
            except ArchiveError:
                self.last_seq = rows[0][1] - 1
                raise

    def take(self) -> list[tuple]:
        """The staged rows, handed over for :meth:`write` (which may run in another thread)."""
        rows, self._pending = self._pending, []
        return rows

    def write(self, rows: list[tuple]) -> int:
        """Insert and commit ``rows`` durably; the last sequence number now durable.

        The runtime calls this from its single writer thread while its event loop goes on
        appending; only that thread touches the connection once the count runs.
        """
        if not rows:
            return 0
        try:
            self._insert(rows)
            self._commit()
        except Exception as exc:
            raise ArchiveError(f"archive write failed ({describe(self.url)}): {type(exc).__name__}: "
                               f"{str(exc).strip()}") from exc
        return int(rows[-1][1])

    def read(self, after: int = 0, kinds: Sequence[str] | None = None, limit: int | None = None) -> Iterator[Rec]:
        """Committed records with ``seq > after`` in order, optionally of some kinds only."""
        for row in self._select(after, kinds, limit):
            _, seq, batch, t, tc, wall, kind, name, value, code, data = row
            yield Rec(kind, int(t), name or "", value or "", None if code is None else int(code),
                      None if data is None else json.loads(data), int(seq), int(batch), int(tc), float(wall))

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``sqlite:///count.db`` / a plain path / ``postgresql://...`` -> (backend, target, options)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql", url, {}
    if url.startswith("sqlite:"):
        u = urlparse(url)
        path = u.path
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):].split("?")[0]
        opts = {k: v[-1] for k, v in parse_qs(u.query).items()}
        if not path:
            raise ArchiveError(f"no file in archive URL '{url}': use sqlite:///count.db")
        return "sqlite", path, opts
    if "://" in url:
        raise ArchiveError(f"unknown archive URL '{url}': use sqlite:///FILE or postgresql://USER:PASS@HOST/DB")
    return "sqlite", url, {}


def open_archive(url: str, count_id: str = "main", *, write: bool = False) -> Archive:
    """Open one count of an archive. ``write`` takes the single-writer lock (and creates)."""
    backend, target, opts = parse_url(url)
    if backend == "postgresql":
        from padguard.store.postgres import PostgresArchive

        return PostgresArchive(target, count_id, write=write)
    from padguard.store.sqlite import SqliteArchive

    if not write and not Path(target).exists():
        raise ArchiveError(f"no archive at {target}")
    return SqliteArchive(target, count_id, write=write, sync=opts.get("sync", "full"))


def describe(url: str) -> str:
    """The URL with any password masked, for messages."""
    u = urlparse(url)
    if u.password:
        return url.replace(f":{u.password}@", ":***@")
    return url


__all__ = ["Archive", "ArchiveError", "COLUMNS", "describe", "open_archive", "parse_url"]
