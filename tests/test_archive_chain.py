"""The archive is tamper-evident: a hash chain over canonical records (issue 9, defect 8)."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from typer.testing import CliRunner

from padguard.cli import app
from padguard.store.archive import open_archive, verify
from tests.test_live_cli import archive_of_virtual_run

runner = CliRunner()


@pytest.fixture
def url(tmp_path) -> str:
    return archive_of_virtual_run(tmp_path / "c.db")


def db_of(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url[len("sqlite:///"):])


def check(url: str) -> tuple[int, str]:
    res = runner.invoke(app, ["log", url, "--verify"])
    return res.exit_code, res.output.replace("\n", " ")


def test_an_untouched_archive_verifies_and_names_its_head(url):
    code, out = check(url)
    assert code == 0 and "hash chain intact" in out
    with open_archive(url) as a:
        res = verify(a)
    assert res["ok"] and res["head"] in out.replace(" ", "")


def test_deleted_samples_and_acks_are_found_with_their_place(url):
    db = db_of(url)
    first = db.execute("SELECT min(seq) FROM records WHERE kind='sample' AND name='stopper_a'").fetchone()[0]
    db.execute("DELETE FROM records WHERE kind='sample' AND name='stopper_a'")
    db.commit()
    code, out = check(url)
    assert code == 1 and "ARCHIVE TAMPERED" in out and f"records {first}..{first} missing" in out


def test_deleting_and_renumbering_is_found(url):
    db = db_of(url)
    db.execute("DELETE FROM records WHERE seq=100")
    # renumber 101.. down by one in two set-based steps (through negatives: no key collision)
    db.execute("UPDATE records SET seq=-seq WHERE seq>100")
    db.execute("UPDATE records SET seq=-seq-1 WHERE seq<0")
    db.commit()
    code, out = check(url)
    assert code == 1 and "record 100 " in out


def test_an_edited_operator_record_is_found(url):
    db = db_of(url)
    seq = db.execute("SELECT min(seq) FROM records WHERE kind='event'").fetchone()[0]
    db.execute("UPDATE records SET wall=wall+3600, value=value||' (edited)' WHERE seq=?", (seq,))
    db.commit()
    code, out = check(url)
    assert code == 1 and f"record {seq} " in out


def test_reordered_and_inserted_records_are_found(url):
    db = db_of(url)
    a, b = db.execute("SELECT value, data FROM records WHERE seq=50").fetchone(), \
        db.execute("SELECT value, data FROM records WHERE seq=51").fetchone()
    db.execute("UPDATE records SET value=?, data=? WHERE seq=50", b)
    db.execute("UPDATE records SET value=?, data=? WHERE seq=51", a)
    db.commit()
    code, out = check(url)
    assert code == 1 and "record 50 " in out
    n = db.execute("SELECT max(seq) FROM records").fetchone()[0]
    db.execute("INSERT INTO records SELECT count_id, ?, batch, t, tc, wall, kind, name, value, code, data, hash "
               "FROM records WHERE seq=?", (n + 1, n))
    db.commit()
    code, out = check(url)
    assert f"record {n + 1} " in out


def test_a_changed_header_breaks_the_first_record(url):
    db = db_of(url)
    db.execute("UPDATE counts SET meta=replace(meta, 'guarded', 'legacy')")
    db.commit()
    code, out = check(url)
    assert code == 1 and "record 1 " in out


def test_a_cut_off_tail_is_found_against_a_head_kept_elsewhere(url):
    with open_archive(url) as a:
        head = verify(a)["head"]
    db = db_of(url)
    db.execute("DELETE FROM records WHERE seq > (SELECT max(seq) - 5 FROM records)")
    db.commit()
    assert check(url)[0] == 0  # (a chain alone cannot see its end cut off)
    res = runner.invoke(app, ["log", url, "--verify", "--expect-head", head])
    assert res.exit_code == 1 and "expected" in res.output


def test_replay_refuses_a_tampered_archive(url):
    db = db_of(url)
    db.execute("DELETE FROM records WHERE kind='sample' AND name='stopper_b'")
    db.commit()
    res = runner.invoke(app, ["replay", url])
    assert res.exit_code == 1 and "ARCHIVE TAMPERED" in res.output


def test_archive_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "new.db"
        with open_archive(str(path), write=True) as a:
            a.set_meta({"mode": "live"})
            a.append([])
            a.commit()
        for f in (path, tmp_path / "new.db.lock", tmp_path / "new.db-wal"):
            if f.exists():
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    finally:
        os.umask(old)


@pytest.mark.parametrize("cmd", [["log"], ["replay"], ["run", "site31", "guarded", "--link", "opc.tcp://127.0.0.1:1", "--archive"]])
def test_a_database_password_is_never_taken_on_the_command_line(cmd):
    url = "postgresql://padguard:s3cret@127.0.0.1:5432/padguard"
    res = runner.invoke(app, [*cmd, url])
    assert res.exit_code == 2 and "PGPASSWORD" in res.output and "s3cret" not in res.output
