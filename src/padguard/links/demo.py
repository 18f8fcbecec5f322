"""The live MS-28 walkthrough in one process (``padguard demo --live``).

What the README's live example does by hand, scripted so it works at any typing speed: the twin
served as an OPC UA pad (``pad-sim``, lockstep), the live runtime against it (``run --clock pad``)
with a SQLite archive, the stopper popping out at T-40m (scheduled at that pad time before the
count starts, so it cannot land too early), the automatic hold, the pad crew's repair, the
operator's recycle, the launch, and finally a replay of the archive through the same sequencer.
Loopback only.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import padguard as pg
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer, call_sim
from padguard.links.runtime import RunOptions, Runtime
from padguard.links.security import OPERATOR, SEQUENCER, LinkSecurity, make_certs
from padguard.links.twin import PadTwin, pad_plan
from padguard.records import Rec
from padguard.sequencer.live import replay
from padguard.sequencer.table import Mode
from padguard.store.archive import open_archive

FAULT = "cabin.stopper:pops_out"
AT_TC_MS = -40 * 60_000  # T-40m: after the stopper is engaged (T-55m), before the towers go


@dataclass
class LiveDemo:
    """What happened: for the narration and for tests."""

    archive: str
    outcome: str | None = None
    hold_reason: str | None = None
    refused_resume: list[str] = field(default_factory=list)
    pad_hazards: list[str] = field(default_factory=list)
    replay_matches: bool = False
    records: int = 0
    exit_code: int = 0


async def run_live_demo(archive: str, speed: float = 300.0, on_event: Callable[[Rec], None] | None = None,
                        say: Callable[[str], None] = print, timeout_s: float = 300.0) -> LiveDemo:
    """Run the whole walkthrough; ``on_event`` sees every archived event, ``say`` the narration."""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    pplan = pad_plan(site_model("site31"))
    lm_pad = load_linkmap(pplan, default_map_path("site31"), for_pad=True)
    twin = PadTwin(pplan, travel_u=0.5)
    # the pad clock starts with the count (lockstep: it waits for the runtime), so pad time
    # +(T-40m - start) is T-40m on the count clock as long as nothing holds before it
    twin.schedule_fault(f"{FAULT}@+{AT_TC_MS - plan.start}ms")
    # the pad link is secured as a real one must be: fresh certificates, trust list and users
    pki = tempfile.TemporaryDirectory(prefix="padguard-demo-pki-")
    await make_certs(pki.name, host="localhost")
    op_sec = LinkSecurity(pki.name, OPERATOR)
    pad = PadServer(twin, lm_pad, "opc.tcp://127.0.0.1:0", speed=speed, lockstep=True,
                    security=LinkSecurity(pki.name, "pad"))
    url = await pad.start()
    out = LiveDemo(archive=archive)
    rt = Runtime(plan, load_linkmap(plan, default_map_path("site31")),
                 RunOptions(link=url, archive=archive, count_id="main", clock="pad",
                            security=LinkSecurity(pki.name, SEQUENCER)),
                 on_event=on_event)
    task = asyncio.create_task(rt.run())
    try:
        await asyncio.wait_for(rt.ready.wait(), 60)
        say(f"pad-sim serving at {url} ({speed:g}x, lockstep, Basic256Sha256 SignAndEncrypt); count started, archive {archive}; "
            f"{FAULT} scheduled at T-40m")

        async def until(pred: Callable[[], bool], what: str) -> None:
            async def poll() -> None:
                while not pred():
                    if task.done():
                        raise RuntimeError(f"the count ended before {what}")
                    await asyncio.sleep(0.01)
            await asyncio.wait_for(poll(), timeout_s)

        await until(lambda: rt.seq is not None and rt.seq.mode == Mode.HOLDING, "the automatic hold")
        st = rt.status()
        out.hold_reason = st.get("reason")
        await call_sim(url, lm_pad, "set_speed", 0, security=op_sec)  # the pad crew works; the pad clock waits
        say(f"HOLDING ({out.hold_reason}); the pad is paused while the crew works")
        res: dict[str, Any] = await rt.operator("resume", None, who={"source": "demo"})
        out.refused_resume = list(res.get("refused", []))
        say(f"operator: resume -> {'refused: ' + '; '.join(out.refused_resume) if out.refused_resume else 'accepted'}")
        await call_sim(url, lm_pad, "clear", "cabin.stopper", security=op_sec)
        say("pad crew: cabin.stopper repaired (fault cleared)")
        res = await rt.operator("recycle", "stopper", who={"source": "demo"})
        say(f"operator: recycle stopper -> {'accepted' if res.get('accepted') else res.get('refused')}")
        await call_sim(url, lm_pad, "set_speed", speed, security=op_sec)
        out.exit_code = await asyncio.wait_for(task, timeout_s)
    finally:
        if not task.done():
            rt.stop("demo stopped")
            try:
                await asyncio.wait_for(task, 30)
            except (TimeoutError, Exception):  # noqa: BLE001 - already failing; keep the first error
                pass
        await pad.stop()
        pki.cleanup()
    out.outcome = rt.seq.status().get("outcome") if rt.seq is not None else None
    out.pad_hazards = twin.hazards()
    with open_archive(archive) as a:
        recs = list(a.read())
    out.records = len(recs)
    _, events = replay(plan, recs)
    out.replay_matches = [e.key() for e in events] == [(r.t, r.tc, r.name, r.value) for r in recs if r.kind == "event"]
    return out
