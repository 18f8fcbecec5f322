"""A whole dry run in one process, for tests, screenshots and the benchmark.

A lockstep pad-sim (the twin served over OPC UA on loopback), a ``padguard run`` runtime on the
pad's clock with a SQLite archive, and the console in front of it, all on one asyncio loop in a
background thread. Nothing here is used by ``padguard run`` itself.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from padguard.console.auth import Users
from padguard.console.server import ConsoleOptions, ConsoleServer

#: The demo crew (passwords are test fixtures, never a default of the product).
CREW = {"vera": ("viewer", "vera-password"), "olga": ("operator", "olga-password"),
        "lev": ("launch_director", "lev-password"), "sasha": ("safety_officer", "sasha-password"),
        "oleg": ("operator", "oleg-password")}


def make_users(path: Path, crew: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """A users file with the demo crew; returns an API token per user."""
    u = Users(path)
    toks = {}
    for name, (role, pw) in (crew or CREW).items():
        u.add(name, role, pw)
        toks[name] = u.new_token(name)
    u.save()
    return toks


class DryRun:
    """Pad-sim + runtime + console on a background loop. ``start()`` returns the console URL."""

    def __init__(self, tmp: Path, *, speed: float = 200, site: str | Path = "site31", procedure: str = "guarded",
                 faults: tuple[str, ...] = (), users: Path | None = None, paused: bool = False,
                 map_path: Path | None = None, pad_url: str | None = None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.speed, self.site, self.procedure, self.faults = speed, site, procedure, faults
        self.users = users or self.tmp / "users.json"
        self.tokens = make_users(self.users) if users is None else {}
        self.paused = paused
        self.map_path = map_path
        self.pad_url = pad_url  # a pad-sim already serving (another process), else one is started here
        self.pad = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = ""
        self.task = None

    def call(self, coro, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> str:
        import padguard as pg
        from padguard.links.mapping import default_map_path, load_linkmap, site_model
        from padguard.links.padsim import PadServer
        from padguard.links.runtime import RunOptions, Runtime
        from padguard.links.twin import PadTwin, pad_plan

        mp = self.map_path or default_map_path(str(self.site))
        pplan = pad_plan(site_model(str(self.site)))
        self.lm_pad = load_linkmap(pplan, mp, for_pad=True)
        if self.pad_url is None:
            twin = PadTwin(pplan, travel_u=0.5)
            for f in self.faults:
                twin.schedule_fault(f)
            self.pad = PadServer(twin, self.lm_pad, "opc.tcp://127.0.0.1:0", speed=0 if self.paused else self.speed,
                                 lockstep=True)
            self.pad_url = await self.pad.start()
        plan = pg.compile_model(pg.load(self.site, self.procedure))
        lm = load_linkmap(plan, mp)
        self.archive = f"sqlite:///{self.tmp / 'count.db'}?sync=normal"
        self.console = ConsoleServer(ConsoleOptions(host="127.0.0.1", port=0, users=str(self.users)))
        self.rt = Runtime(plan, lm, RunOptions(link=self.pad_url, archive=self.archive, clock="pad"),
                          frontend=self.console)
        self.task = asyncio.create_task(self.rt.run())
        await asyncio.wait_for(self.rt.ready.wait(), 60)
        return self.rt.control_url or ""

    def start(self) -> str:
        self.url = self.call(self._start(), 120)
        return self.url

    def pad_call(self, what: str, arg: Any = None) -> str:
        from padguard.links.padsim import call_sim

        return self.call(call_sim(self.pad_url, self.lm_pad, what, arg))

    def stop(self) -> None:
        async def _stop() -> None:
            if self.task is not None and not self.task.done():
                self.rt.stop()
                try:
                    await asyncio.wait_for(self.task, 30)
                except Exception:  # noqa: BLE001 - teardown
                    pass
            if self.pad is not None:
                await self.pad.stop()

        try:
            self.call(_stop(), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


__all__ = ["CREW", "DryRun", "make_users"]
