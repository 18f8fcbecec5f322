"""The archive: append-only, contiguous sequence numbers, durable on commit, one writer.

Every test runs on a real SQLite file and, when PADGUARD_TEST_PG is set (scripts/test starts
Debian's PostgreSQL and sets it), on a real PostgreSQL server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from padguard.sequencer.live import Rec
from padguard.store.archive import ArchiveError, open_archive, parse_url

PG = os.environ.get("PADGUARD_TEST_PG")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'count.db'}"
    if not PG:
        pytest.skip("PostgreSQL archive tests need PADGUARD_TEST_PG (scripts/test starts Debian's "
                    "postgresql and sets it to postgresql://padguard:padguard@127.0.0.1:5432/padguard)")
    return PG


@pytest.fixture
def count_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def recs(n: int, t0: int = 0) -> list[Rec]:
    return [Rec("sample", t0 + i, "stopper_a", "engaged", 1, batch=t0 + i) for i in range(n)] + \
        [Rec("event", t0 + n, "hold", "AUTOMATIC HOLD", data={"criterion": "c"}, batch=t0 + n)]


def test_append_commit_read_roundtrip(url, count_id):
    with open_archive(url, count_id, write=True) as a:
        assert a.meta() is None
        a.set_meta({"site": "site31", "mode": "live"})
        a.append(recs(3))
        a.commit()
        a.append(recs(2, 10))
        a.commit()
        assert a.last_seq == 7
    with open_archive(url, count_id) as r:
        got = list(r.read())
        assert [x.seq for x in got] == list(range(1, 8))
        assert got[3].kind == "event" and got[3].data == {"criterion": "c"} and got[0].code == 1
        assert [x.seq for x in r.read(after=5)] == [6, 7]
        assert [x.kind for x in r.read(kinds=["event"])] == ["event", "event"]
        assert r.meta()["site"] == "site31" and count_id in r.counts()
        with pytest.raises(ArchiveError):
            r.append(recs(1))


def test_only_committed_records_survive_and_numbering_continues(url, count_id):
    a = open_archive(url, count_id, write=True)
    a.set_meta({"mode": "live"})
    a.append(recs(2))
    a.commit()
    a.append(recs(5, 100))  # staged, never committed: the writer dies here
    a.close()
    with open_archive(url, count_id, write=True) as b:
        assert b.last_seq == 3
        b.append(recs(1, 200))
        b.commit()
        assert [x.seq for x in b.read()] == [1, 2, 3, 4, 5]


def test_one_writer_at_a_time(url, count_id):
    with open_archive(url, count_id, write=True):
        with pytest.raises(ArchiveError, match="in use"):
            open_archive(url, count_id, write=True)
        with open_archive(url, count_id) as reader:  # readers are always welcome
            assert reader.last_seq == 0
    with open_archive(url, count_id, write=True):
        pass  # the lock went with the writer


def test_committed_records_survive_kill_9(tmp_path):
    """A writer killed right after commit() returns loses nothing it committed."""
    db = tmp_path / "k.db"
    code = (
        "import os, sys\n"
        "from padguard.store.archive import open_archive\n"
        "from padguard.sequencer.live import Rec\n"
        f"a = open_archive('sqlite:///{db}', 'main', write=True)\n"
        "a.set_meta({'mode': 'live'})\n"
        "for i in range(50):\n"
        "    a.append([Rec('sample', i, 's', 'v', 1, batch=i)]); a.commit()\n"
        "    print(i, flush=True)\n"
        "a.append([Rec('sample', 99, 's', 'v', 1, batch=99)])\n"
        "os.kill(os.getpid(), 9)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -9
    acknowledged = len(p.stdout.split())
    with open_archive(f"sqlite:///{db}", "main", write=True) as a:  # the lock died with the writer
        got = list(a.read())
    assert len(got) == acknowledged == 50 and [r.t for r in got] == list(range(50))


def test_urls():
    assert parse_url("count.db") == ("sqlite", "count.db", {})
    assert parse_url("sqlite:///count.db")[1] == "count.db"
    assert parse_url("sqlite:////abs/count.db?sync=normal") == ("sqlite", "/abs/count.db", {"sync": "normal"})
    assert parse_url("postgresql://u:p@h/db")[0] == "postgresql"
    with pytest.raises(ArchiveError, match="unknown archive URL"):
        parse_url("mysql://x")
    with pytest.raises(ArchiveError, match="no archive"):
        open_archive("/nonexistent/dir/count.db")


def test_a_file_that_is_not_an_archive(tmp_path):
    p = tmp_path / "x.db"
    p.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ArchiveError):
        a = open_archive(str(p))
        a.meta()
