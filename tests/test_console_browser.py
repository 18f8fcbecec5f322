"""The console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

The MS-28 dry run: a lockstep pad-sim with the stopper popping out at +20 min, the runtime on
the pad's clock, the console in front. In the browser: log in as the operator, watch the count
hold on the stopper, acknowledge the alarm, request a recycle (two-person rule), log in as the
launch director in a second browser and approve it, see the launch. A viewer sees everything
and cannot command. Nothing downloads a browser: no Chromium at /usr/bin/chromium skips.

``PADGUARD_SCREENSHOTS=1`` also saves each screen to docs/console/ (the README shows them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PADGUARD_CHROMIUM", "/usr/bin/chromium")
pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (scripts/test installs it)")]
DOCS = Path(__file__).resolve().parent.parent / "docs" / "console"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--disable-sync"]


def shot(page, tmp: Path, name: str) -> None:
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("PADGUARD_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def login(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/#countdown")
    page.fill("#login-name", name)
    page.fill("#login-pass", password)
    page.click("#login-btn")
    page.wait_for_selector("#app", state="visible")
    page.wait_for_selector("#conn:has-text('LIVE')", timeout=20000)


def test_ms28_dry_run_in_a_real_browser(tmp_path):
    pw_sync = pytest.importorskip("playwright.sync_api")
    from padguard.console.rig import CREW, DryRun

    rig = DryRun(tmp_path, speed=150, faults=("cabin.stopper:pops_out@+20m",))
    url = rig.start()
    try:
        with pw_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            ctx_op = browser.new_context(viewport={"width": 1400, "height": 900})
            op = ctx_op.new_page()
            op.goto(url)
            op.wait_for_selector("#login-form", state="visible")
            op.fill("#login-name", "olga")
            op.fill("#login-pass", "wrong-password")
            op.click("#login-btn")
            op.wait_for_selector("#login-msg:has-text('wrong')")
            shot(op, tmp_path, "login")
            login(op, url, "olga", CREW["olga"][1])
            assert op.text_content("#whoami") == "olga (operator)"
            # the count is live (at 150x the pad may already hold by the time the page is up on
            # a loaded machine, so COUNTING is not waited for alone: that raced the pad clock)
            op.wait_for_selector("#cd-mode:has-text('COUNTING'), #cd-mode:has-text('HOLDING')")
            # the stopper pops out: an automatic hold, a latched alarm the operator cannot miss
            op.wait_for_selector("#cd-mode:has-text('HOLDING')", timeout=600000)
            assert rig.pad_call("set_speed", 0) == "ok"  # the pad crew works on the stopper
            op.wait_for_selector("#alarm-banner:not(.hidden)")
            assert "cabin_stowed_locked" in op.text_content("#cd-table")
            shot(op, tmp_path, "countdown")
            op.click("nav a[data-tab=pad]")
            op.wait_for_selector("g[data-eq='cabin.stopper'].hazard")
            assert "misaligned" in op.text_content("g[data-eq='cabin.stopper'] text.pos")
            shot(op, tmp_path, "pad")
            op.click("nav a[data-tab=criteria]")
            op.wait_for_selector(".crit.VIOLATED")
            assert "cabin_stowed_locked" in op.text_content(".crit.VIOLATED")
            shot(op, tmp_path, "criteria")
            op.click("nav a[data-tab=alarms]")
            first = op.locator(".alarm-item:not(.acked)").first
            first.locator(".ack-comment").fill("stopper seen misaligned, crew sent")
            seq = first.get_attribute("data-seq")
            first.locator(".ack-btn").click()
            op.wait_for_selector(f".alarm-item.acked[data-seq='{seq}']")
            assert "acknowledged by olga (operator)" in op.text_content(f".alarm-item[data-seq='{seq}']")
            shot(op, tmp_path, "alarms")
            # the network drops: the page says its data is stale, then reconnects by itself
            ctx_op.set_offline(True)
            op.evaluate("es.close(); es.onerror()")  # (offline emulation does not cut an open stream)
            op.wait_for_selector("#stale-banner:not(.hidden)", timeout=15000)
            assert op.text_content("#cd-mode") == "UNKNOWN (stale)"
            ctx_op.set_offline(False)
            op.wait_for_selector("#conn:has-text('LIVE')", timeout=20000)
            op.wait_for_selector("#stale-banner.hidden", state="attached")
            op.wait_for_selector("#cd-mode:has-text('HOLDING')", state="attached")
            # the crew reseats the stopper; the operator asks for a recycle: shown first, then sent
            assert rig.pad_call("clear", "cabin.stopper") == "ok"
            op.click("nav a[data-tab=commands]")
            op.select_option("#recycle-point", "stopper")
            op.click("button.cmd[data-cmd=recycle]")
            text = op.text_content("#preview-text")
            assert "stopper" in text and "T-00:55:00" in text and "TWO-PERSON RULE" in text
            shot(op, tmp_path, "commands")
            op.click("#preview-send")
            op.wait_for_selector("#cmd-msg:has-text('waiting for approval')")
            op.wait_for_selector(".req")
            assert op.is_disabled(".req .approve-btn")  # nobody approves their own request
            assert rig.rt.seq.mode.name == "HOLDING"
            # a viewer sees it all and can command nothing
            ctx_v = browser.new_context(viewport={"width": 1400, "height": 900})
            v = ctx_v.new_page()
            login(v, url, "vera", CREW["vera"][1])
            v.click("nav a[data-tab=commands]")
            for cmd in ("hold", "resume", "recycle", "scrub", "abort"):
                assert v.is_disabled(f"button.cmd[data-cmd={cmd}]")
            assert v.is_disabled(".req .approve-btn")
            csrf = v.evaluate("me.csrf")
            status = v.evaluate("""async (csrf) => (await fetch('/api/command', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({command: 'hold'})})).status""", csrf)
            assert status == 403
            ctx_v.close()
            # the launch director approves in another browser
            ctx_ld = browser.new_context(viewport={"width": 1400, "height": 900})
            ld = ctx_ld.new_page()
            login(ld, url, "lev", CREW["lev"][1])
            ld.click("nav a[data-tab=commands]")
            ld.wait_for_selector(".req .approve-btn:not([disabled])")
            assert "olga (operator) requests recycle stopper" in ld.text_content(".req")
            ld.click(".req .approve-btn")
            ld.wait_for_selector("#cmd-msg:has-text('approved')")
            assert "COUNTING" in ld.text_content("#cmd-msg")
            assert rig.pad_call("set_speed", 150) == "ok"
            op.click("nav a[data-tab=countdown]")
            op.wait_for_selector("#cd-mode:has-text('LAUNCHED')", timeout=600000)  # (lockstep: slow on a loaded machine)
            assert "launched after holds" in op.text_content("#cd-table")
            shot(op, tmp_path, "launched")
            op.click("nav a[data-tab=log]")
            op.locator("table.log tr.k-recycle").first.click()
            rec = op.text_content("#log-record")
            assert '"name": "recycle"' in rec and '"seq"' in rec
            op.fill("#log-text", "approves")
            op.wait_for_selector("table.log tr.k-audit")
            assert "lev (launch_director)" in op.text_content("table.log tr.k-audit")
            op.fill("#log-text", "")
            shot(op, tmp_path, "log")
            # the page notices when its data stops: the console goes away
            rig.stop()
            op.wait_for_selector("#stale-banner:not(.hidden)", timeout=15000)
            assert "NOT current" in op.text_content("#stale-banner") or "STALE" in op.text_content("#stale-banner")
            assert op.evaluate("document.body.classList.contains('stale')")
            assert op.text_content("#cd-mode") == "UNKNOWN (stale)"
            shot(op, tmp_path, "stale")
            browser.close()
    finally:
        if rig.thread.is_alive():
            rig.stop()
    # every step of the two-person rule is in the archive, with who did it
    from padguard.store.archive import open_archive

    with open_archive(rig.archive) as a:
        recs = list(a.read())
    audit = [(r.name, r.data["user"]) for r in recs if r.kind == "audit"]
    assert ("ack", "olga") in audit and ("request", "olga") in audit and ("approve", "lev") in audit
    ops = [r for r in recs if r.kind == "operator"]
    assert ops[-1].name == "recycle" and ops[-1].data["user"] == "olga" and ops[-1].data["approver"] == "lev"
    assert ops[-1].data["role"] == "operator" and ops[-1].data["approver_role"] == "launch_director"
    assert ops[-1].data["peer"].startswith("127.0.0.1:") and ops[-1].data["session"]


def test_replay_console_in_a_real_browser(tmp_path):
    """`padguard console ARCHIVE`: the same screens over an archived count, driven by a slider."""
    pw_sync = pytest.importorskip("playwright.sync_api")
    import asyncio
    import threading

    from padguard.console.hub import load_replay
    from padguard.console.rig import CREW, make_users
    from padguard.console.server import ConsoleOptions, ConsoleServer
    from tests.test_live_cli import archive_of_virtual_run

    url_db = archive_of_virtual_run(tmp_path / "c.db")
    make_users(tmp_path / "users.json")
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    srv = ConsoleServer(ConsoleOptions(port=0, users=str(tmp_path / "users.json")), load_replay(url_db, "main"))
    url = asyncio.run_coroutine_threadsafe(srv.start(), loop).result(30)
    try:
        with pw_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.fill("#login-name", "vera")
            page.fill("#login-pass", CREW["vera"][1])
            page.click("#login-btn")
            page.wait_for_selector("#replay-bar:not(.hidden)")
            page.wait_for_selector("#cd-mode:has-text('LAUNCHED')")
            holds = page.evaluate("records.filter(r => r.kind === 'event' && r.name === 'hold').map(r => r.seq)")
            assert holds
            page.eval_on_selector("#replay-slider", "(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }",
                                  holds[0])
            page.wait_for_selector("#cd-mode:has-text('HOLDING')")
            assert page.is_disabled("button.cmd[data-cmd=hold]")  # a replay commands nothing
            page.click("nav a[data-tab=pad]")
            page.wait_for_selector("g[data-eq='cabin.stopper'].hazard")
            shot(page, tmp_path, "replay")
            browser.close()
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)
