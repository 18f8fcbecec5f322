"""The append-only archive of a live count: every input and every decision, in order.

One count is a sequence of :class:`~padguard.records.Rec` with contiguous sequence
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

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from padguard.records import Rec

COLUMNS = ("count_id", "seq", "batch", "t", "tc", "wall", "kind", "name", "value", "code", "data", "hash")


def canonical(row: Sequence[Any]) -> bytes:
    """The canonical bytes of a record row (every column but the hash), as the chain hashes it."""
    return json.dumps(list(row[:11]), separators=(",", ":"), ensure_ascii=False).encode()


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def genesis(count_id: str, meta: dict[str, Any] | None) -> str:
    """The chain's origin: the count's header (model texts, clock...), so editing it breaks record 1."""
    body = json.dumps({"count_id": count_id, "meta": meta}, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(b"padguard-archive-v2\n" + body).hexdigest()


def link(prev: str, row: Sequence[Any]) -> str:
    """One link of the hash chain: sha256(previous hash, canonical record)."""
    return hashlib.sha256(prev.encode() + b"\n" + canonical(row)).hexdigest()


#: the archive kind of a :class:`SampleBlock` row (read back as its ``sample`` records)
BLOCK = "samples"


@dataclass(slots=True)
class SampleBlock:
    """The samples of one notification of a block node (an array, one element per sensor).

    The Sequencer evaluates every one of ``recs`` (``sample`` records); the archive stores them
    as ONE row (kind ``samples``), hashed once into the chain, and :meth:`Archive.read` gives
    them back as the same ``sample`` records in the same order, so recovery and replay see
    exactly what the live count evaluated. ``data`` is what every element shares (its source
    timestamp...); an element whose ``data`` is another dict (stale, malformed) keeps its own.
    """

    name: str
    recs: list[Rec]
    data: dict[str, Any]
    t: int = 0
    batch: int = 0
    tc: int = 0
    seq: int = 0
    wall: float = 0.0
    kind: str = field(default=BLOCK)


def flatten(recs: Iterable[Rec | SampleBlock]) -> list[Rec]:
    """Input records with every block expanded into its samples (what the Sequencer consumes)."""
    out: list[Rec] = []
    for r in recs:
        if r.__class__ is SampleBlock:
            out.extend(r.recs)  # type: ignore[union-attr]
        else:
            out.append(r)  # type: ignore[arg-type]
    return out


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
        self._head: str | None = None  # hash of the last record appended (None: not read yet)

    def _last_hash(self) -> str | None:
        """The stored hash of the newest record (backend hook; None for an empty count)."""
        raise NotImplementedError

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
    def append(self, recs: Iterable[Rec | SampleBlock]) -> None:
        """Number ``recs`` and stage them; they are durable after :meth:`commit`.

        A :class:`SampleBlock` takes one sequence number (one row, one link of the chain); its
        samples carry that number too.
        """
        if not self.writable:
            raise ArchiveError("archive opened read-only")
        now = time.time()
        cid = self.count_id
        seq = self.last_seq
        rows = self._pending
        head = self._head
        if head is None:
            head = (self._last_hash() if seq else None) or genesis(cid, self.meta())
        dumps = _dumps
        sha = hashlib.sha256
        for r in recs:
            seq += 1
            r.seq = seq
            if not r.wall:
                r.wall = now
            if r.__class__ is SampleBlock:
                common = r.data
                for x in r.recs:
                    x.seq, x.wall = seq, r.wall
                xs = r.recs  # columns, not a list per sample: one C-encoded list each
                body = {**common, "names": [x.name for x in xs], "values": [x.value for x in xs],
                        "codes": [x.code for x in xs],
                        "own": {str(i): x.data for i, x in enumerate(xs) if x.data is not common}}
                row = (cid, seq, r.batch, r.t, r.tc, float(r.wall), BLOCK, r.name, f"{len(r.recs)} samples", None,
                       dumps(body))
            else:
                row = (cid, seq, r.batch, r.t, r.tc, float(r.wall), r.kind, r.name, r.value, r.code,
                       None if r.data is None else dumps(r.data))
            head = sha(head.encode() + b"\n" + canonical(row)).hexdigest()
            rows.append((*row, head))
        self.last_seq = seq
        self._head = head

    def commit(self) -> None:
        """Write everything staged, durably. Raises on failure (the caller must then hold)."""
        if self._pending:
            rows = self.take()
            try:
                self.write(rows)
            except ArchiveError:
                self.last_seq = rows[0][1] - 1
                self._head = None  # (read again from the archive)
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
        if kinds and "sample" in kinds:
            kinds = [*kinds, BLOCK]
        for row in self._select(after, kinds, limit):
            _, seq, batch, t, tc, wall, kind, name, value, code, data = row[:11]
            if kind == BLOCK:  # one block row -> its sample records, in order, sharing its seq
                d = json.loads(data)
                names, values, codes, own = d.pop("names"), d.pop("values"), d.pop("codes"), d.pop("own")
                seq, batch, t, tc, wall = int(seq), int(batch), int(t), int(tc), float(wall)
                for i, (nm, val, cd) in enumerate(zip(names, values, codes, strict=True)):
                    yield Rec("sample", t, nm, val, cd, own.get(str(i), d), seq, batch, tc, wall)
                continue
            yield Rec(kind, int(t), name or "", value or "", None if code is None else int(code),
                      None if data is None else json.loads(data), int(seq), int(batch), int(tc), float(wall))

    def rows(self) -> Iterator[tuple]:
        """Every stored row of the count in sequence order, hash included (for verification)."""
        yield from self._select(0, None, None)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify(archive: Archive, limit: int = 20) -> dict[str, Any]:
    """Walk the hash chain: every record must follow the one before it, numbered 1, 2, 3...

    Names where it breaks: a gap in the sequence numbers (records deleted), a record whose hash
    does not follow from the one before (edited, inserted, reordered or re-numbered), a header
    that changed (record 1 breaks). A chain recomputed end to end by someone who can write the
    archive, or a cut-off tail, is caught only against a head kept elsewhere (``head`` here;
    ``padguard log --verify --expect-head``).
    """
    problems: list[str] = []
    prev = genesis(archive.count_id, archive.meta())
    expect, n, head = 1, 0, prev
    for row in archive.rows():
        n += 1
        seq = int(row[1])
        stored = row[11] if len(row) > 11 else None
        if seq != expect:
            what = f"records {expect}..{seq - 1} missing" if seq > expect else f"record {seq} out of order"
            problems.append(f"at seq {seq}: {what} (deleted, inserted or reordered)")
        if stored is None:
            problems.append(f"record {seq}: no hash (written before the hash chain, or stripped)")
        elif link(prev, row) != stored:
            problems.append(f"record {seq} ({row[6]} {row[7]}): hash does not follow from the record before "
                            "(edited, inserted, reordered, or the header changed)")
        prev = stored or ""
        head = prev
        expect = seq + 1
        if len(problems) >= limit:
            problems.append("... (stopped after the first problems)")
            break
    return {"ok": not problems, "records": n, "head": head, "problems": problems}


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


def password_in(url: str) -> bool:
    """True when a database URL carries a password (which must never be in a process's arguments)."""
    try:
        return bool(urlparse(url).password) or "password=" in url
    except ValueError:
        return False


__all__ = ["Archive", "ArchiveError", "BLOCK", "COLUMNS", "SampleBlock", "flatten", "describe", "open_archive", "parse_url", "password_in", "verify"]
