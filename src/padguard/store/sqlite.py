"""SQLite backend of the archive: one file, WAL journal, one writer at a time."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from padguard.store.archive import Archive, ArchiveError

SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (count_id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    count_id TEXT NOT NULL, seq INTEGER NOT NULL, batch INTEGER NOT NULL, t INTEGER NOT NULL,
    tc INTEGER NOT NULL, wall REAL NOT NULL, kind TEXT NOT NULL, name TEXT, value TEXT,
    code INTEGER, data TEXT, hash TEXT, PRIMARY KEY (count_id, seq)) WITHOUT ROWID;
"""


class SqliteArchive(Archive):
    """A count in a SQLite file (see :mod:`padguard.store.archive`)."""

    def __init__(self, path: str, count_id: str, *, write: bool, sync: str = "full"):
        super().__init__()
        self.url = f"sqlite:///{path}"
        self.path = path
        self.count_id = count_id
        self.writable = write
        self._lockf = None
        if sync.lower() not in ("full", "normal", "extra"):
            raise ArchiveError(f"sync={sync}: expected full, normal or extra")
        try:
            if write:
                self._lock()
            # Readers open normally too: a read-only connection cannot use the WAL index a
            # killed writer leaves behind. Only the lock holder ever writes.
            if write and not os.path.exists(path):
                # owner-only from the first byte (SQLite gives its -wal and -shm files the same mode)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            if write:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(f"PRAGMA synchronous={sync.upper()}")
                self.db.executescript(SCHEMA)
                cols = [r[1] for r in self.db.execute("PRAGMA table_info(records)")]
                if "hash" not in cols:
                    self.db.execute("ALTER TABLE records ADD COLUMN hash TEXT")
            self.db.execute("PRAGMA busy_timeout=5000")
            row = self.db.execute("SELECT max(seq) FROM records WHERE count_id=?", (count_id,)).fetchone()
        except sqlite3.Error as exc:
            self._unlock()
            raise ArchiveError(f"cannot open archive {path}: {exc}") from None
        self.last_seq = int(row[0] or 0)

    def _lock(self) -> None:
        lp = self.path + ".lock"
        f = os.fdopen(os.open(lp, os.O_CREAT | os.O_RDWR | os.O_APPEND, 0o600), "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise ArchiveError(f"archive {self.path} is in use by {who} (one writer at a time)") from None
        f.seek(0)
        f.truncate()
        f.write(f"padguard pid {os.getpid()}\n")
        f.flush()
        self._lockf = f

    def _unlock(self) -> None:
        if self._lockf is not None:
            self._lockf.close()
            self._lockf = None

    def _insert(self, rows: list[tuple]) -> None:
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _commit(self) -> None:
        self.db.execute("COMMIT")

    def _last_hash(self) -> str | None:
        row = self.db.execute("SELECT hash FROM records WHERE count_id=? ORDER BY seq DESC LIMIT 1",
                              (self.count_id,)).fetchone()
        return row[0] if row else None

    def _select(self, after: int, kinds: Sequence[str] | None, limit: int | None) -> Iterator[tuple]:
        q = ("SELECT count_id, seq, batch, t, tc, wall, kind, name, value, code, data, hash "
             "FROM records WHERE count_id=? AND seq>?")
        args: list[Any] = [self.count_id, after]
        if kinds:
            q += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        q += " ORDER BY seq"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        try:
            cur = self.db.execute(q, args)
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot read archive {self.path}: {exc}") from None
        try:
            while rows := cur.fetchmany(4096):
                yield from rows
        finally:
            with contextlib.suppress(sqlite3.Error):
                cur.close()

    def meta(self) -> dict[str, Any] | None:
        try:
            row = self.db.execute("SELECT meta FROM counts WHERE count_id=?", (self.count_id,)).fetchone()
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path} is not a padguard archive ({exc})") from None
        return json.loads(row[0]) if row else None

    def set_meta(self, meta: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO counts VALUES (?, ?)", (self.count_id, json.dumps(meta)))

    def counts(self) -> list[str]:
        try:
            return [r[0] for r in self.db.execute("SELECT count_id FROM counts ORDER BY count_id")]
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path} is not a padguard archive ({exc})") from None

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            self._unlock()
