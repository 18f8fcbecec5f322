"""The archive of live counts: append-only, SQLite by default, PostgreSQL by URL."""

from padguard.store.archive import Archive, ArchiveError, open_archive

__all__ = ["Archive", "ArchiveError", "open_archive"]
