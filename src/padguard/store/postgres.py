"""PostgreSQL backend of the archive (psycopg 3): same tables, one writer per count."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from padguard.store.archive import Archive, ArchiveError, describe

SCHEMA = """
CREATE TABLE IF NOT EXISTS padguard_counts (count_id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS padguard_records (
    count_id TEXT NOT NULL, seq BIGINT NOT NULL, batch BIGINT NOT NULL, t BIGINT NOT NULL,
    tc BIGINT NOT NULL, wall DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, name TEXT, value TEXT,
    code BIGINT, data TEXT, hash TEXT, PRIMARY KEY (count_id, seq));
ALTER TABLE padguard_records ADD COLUMN IF NOT EXISTS hash TEXT;
"""


class PostgresArchive(Archive):
    """A count in a PostgreSQL database (see :mod:`padguard.store.archive`)."""

    def __init__(self, url: str, count_id: str, *, write: bool):
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise ArchiveError("PostgreSQL archives need psycopg: pip install 'padguard[live]'") from None
        self.url = url
        self.count_id = count_id
        self.writable = write
        self._psycopg = psycopg
        try:
            self.db = psycopg.connect(url, autocommit=False, connect_timeout=10)
            with self.db.cursor() as cur:
                if write:
                    cur.execute("SELECT pg_advisory_lock(hashtext('padguard'))")  # serialise DDL
                    cur.execute(SCHEMA)
                    cur.execute("SELECT pg_advisory_unlock(hashtext('padguard'))")
                    cur.execute("SELECT pg_try_advisory_lock(hashtext('padguard:' || %s))", (count_id,))
                    if not cur.fetchone()[0]:
                        raise ArchiveError(f"count '{count_id}' in {describe(url)} is in use by another "
                                           "padguard run (one writer at a time)")
                cur.execute("SELECT max(seq) FROM padguard_records WHERE count_id=%s", (count_id,))
                row = cur.fetchone()
            self.db.commit()
        except psycopg.Error as exc:
            raise ArchiveError(f"cannot open archive {describe(url)}: {str(exc).strip()}") from None
        self.last_seq = int(row[0] or 0) if row else 0

    def _insert(self, rows: list[tuple]) -> None:
        try:
            with self.db.cursor() as cur, cur.copy("COPY padguard_records FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        except BaseException:
            self.db.rollback()
            raise

    def _commit(self) -> None:
        self.db.commit()

    def _last_hash(self) -> str | None:
        with self.db.cursor() as cur:
            cur.execute("SELECT hash FROM padguard_records WHERE count_id=%s ORDER BY seq DESC LIMIT 1",
                        (self.count_id,))
            row = cur.fetchone()
        self.db.commit()
        return row[0] if row else None

    def _select(self, after: int, kinds: Sequence[str] | None, limit: int | None) -> Iterator[tuple]:
        q = ("SELECT count_id, seq, batch, t, tc, wall, kind, name, value, code, data, hash "
             "FROM padguard_records WHERE count_id=%s AND seq>%s")
        args: list[Any] = [self.count_id, after]
        if kinds:
            q += " AND kind = ANY(%s)"
            args.append(list(kinds))
        q += " ORDER BY seq"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        try:
            with self.db.cursor(name=None) as cur:
                cur.execute(q, args)
                rows = cur.fetchall()
            self.db.commit()
        except self._psycopg.Error as exc:
            raise ArchiveError(f"cannot read archive {describe(self.url)}: {exc}") from None
        yield from rows

    def meta(self) -> dict[str, Any] | None:
        try:
            with self.db.cursor() as cur:
                cur.execute("SELECT meta FROM padguard_counts WHERE count_id=%s", (self.count_id,))
                row = cur.fetchone()
            self.db.commit()
        except self._psycopg.Error as exc:
            self.db.rollback()
            raise ArchiveError(f"{describe(self.url)} holds no padguard archive ({str(exc).strip()})") from None
        return json.loads(row[0]) if row else None

    def set_meta(self, meta: dict[str, Any]) -> None:
        with self.db.cursor() as cur:
            cur.execute("INSERT INTO padguard_counts VALUES (%s, %s)", (self.count_id, json.dumps(meta)))
        self.db.commit()

    def counts(self) -> list[str]:
        try:
            with self.db.cursor() as cur:
                cur.execute("SELECT count_id FROM padguard_counts ORDER BY count_id")
                out = [r[0] for r in cur.fetchall()]
            self.db.commit()
            return out
        except self._psycopg.Error as exc:
            self.db.rollback()
            raise ArchiveError(f"{describe(self.url)} holds no padguard archive ({str(exc).strip()})") from None

    def close(self) -> None:
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass
