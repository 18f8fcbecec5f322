"""The console's data side: a live count (through the runtime) or an archived one (replay).

:class:`LiveHub` follows a :class:`~padguard.links.runtime.Runtime`: it is told of every durable
batch of records, keeps the latched alarms, the pending two-person requests and one serialized
screen frame per change (so fifty viewers cost one frame, not fifty). :class:`ReplayHub` runs an
archived count back through a fresh Sequencer (flagged replay) to any point a time slider asks
for. Both give the same screens (:mod:`padguard.console.state`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import secrets
import time
from typing import Any

from padguard.console import auth
from padguard.console.state import automatic_hold, is_alarm, layout, view
from padguard.sequencer.live import INPUTS, Rec, Sequencer, batches

HIDDEN = ("sample", "tick", "snapshot")


def _seq(r: Rec) -> int:
    return r.seq


def rec_line(r: Rec) -> dict[str, Any]:
    """One event-log line: the archive's record as stored."""
    return r.to_dict()


class Alarms:
    """Latched alarms: raised by alarm events, cleared only by an acknowledgement (archived)."""

    def __init__(self) -> None:
        self.items: dict[int, dict[str, Any]] = {}

    def see(self, r: Rec) -> bool:
        if is_alarm(r):
            self.items[r.seq] = {"seq": r.seq, "name": r.name, "text": r.value, "count": r.to_dict()["count"],
                                 "wall": r.wall, "data": r.data, "acked": None}
            return True
        if r.kind == "audit" and r.name == "ack":
            d = r.data or {}
            a = self.items.get(int(d.get("alarm_seq", -1)))
            if a is not None and a["acked"] is None:
                a["acked"] = {"user": d.get("user"), "role": d.get("role"), "comment": d.get("comment", ""),
                              "wall": r.wall, "seq": r.seq}
                return True
        return False

    def public(self) -> list[dict[str, Any]]:
        return sorted(self.items.values(), key=lambda a: -a["seq"])[:200]

    def unacked(self) -> int:
        return sum(1 for a in self.items.values() if a["acked"] is None)


class Hub:
    """Common to live and replay."""

    live = False

    def __init__(self, plan) -> None:
        self.plan = plan
        self.layout = layout(plan)
        self.alarms = Alarms()
        self.hold_seq = 0  # the record of the hold now in force
        self.automatic = False

    def _follow(self, r: Rec) -> None:
        a = automatic_hold(r)
        if a is not None:
            if r.name == "hold" or a:
                self.hold_seq = r.seq
                self.automatic = a
        elif r.kind == "event" and r.name in ("resume", "recycle"):
            self.automatic = False
        self.alarms.see(r)


class LiveHub(Hub):
    """A running count. Commands go to the runtime, which decides; this only asks."""

    live = True

    def __init__(self, rt, frame_interval_s: float = 0.02) -> None:
        super().__init__(rt.plan)
        self.rt = rt
        self.requests: dict[str, auth.Request] = {}
        self.recent: list[Rec] = []
        self.version = 0
        self.frame: str = ""
        self.frame_version = -1
        self._changed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._interval = frame_interval_s
        self._task: asyncio.Task | None = None
        rt.listeners.append(self.on_records)

    # ---- feed
    def on_records(self, recs: list[Rec]) -> None:
        for r in recs:
            if r.kind in HIDDEN:
                continue
            self._follow(r)
            if r.kind == "event" and r.name in ("hold", "safety") and (automatic_hold(r) or r.name == "hold"):
                for q in self.requests.values():  # a new hold voids what was asked about the old one
                    if q.state == "pending" and q.hold_seq != self.hold_seq:
                        q.state = "void"
            elif r.kind == "event" and r.name in ("resume", "recycle", "scrub", "abort", "ignition"):
                for q in self.requests.values():  # the hold it answered is over
                    if q.state == "pending":
                        q.state = "void"
            if self.recent and r.seq < self.recent[-1].seq:  # (an audit record committed with earlier events)
                bisect.insort(self.recent, r, key=_seq)
            else:
                self.recent.append(r)
        if len(self.recent) > 5000:
            del self.recent[:-4000]
        self._dirty.set()
        if any(r.kind in ("event", "audit", "operator") for r in recs):
            self._urgent.set()  # a decision: on screen now, not at the next paced frame

    async def run(self) -> None:
        """Build one frame per change, at most every ``frame_interval_s`` (and never spending more
        than a third of the loop on frames: a big pad gets fewer frames, never a slower count)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._urgent.clear()
            t0 = time.perf_counter()
            self._build()
            pace = max(self._interval, 2 * (time.perf_counter() - t0), len(self.frame) / 2e6)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), pace)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def ready(self) -> bool:
        return self.rt.seq is not None and self.rt.ready.is_set()

    def state(self) -> dict[str, Any]:
        rt = self.rt
        extra = {"link": rt.link_state, "count_id": rt.opts.count_id, "last_seq": rt.archive.last_seq if rt.archive else 0,
                 "clock": rt.opts.clock, "speed": rt.opts.speed, "restarted": rt.restarted,
                 "recovery": rt.recovery or None,
                 "alarms": self.alarms.public(), "unacked": self.alarms.unacked(),
                 "requests": [q.public() for q in self.requests.values() if q.state == "pending"],
                 "hold_seq": self.hold_seq, "server_wall": time.time(), "live": True}
        return view(self.plan, rt.seq, automatic=self.automatic, extra=extra)

    def _build(self) -> None:
        if not self.ready():
            return
        self.version += 1
        last = max((r.seq for r in self.recent), default=0)
        self.frame = json.dumps({"version": self.version, "state": self.state(), "last_event_seq": last},
                                separators=(",", ":"))
        self.frame_version = self.version
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait_change(self, version: int, timeout: float) -> None:
        if self.frame_version != version:
            return
        ev = self._changed
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except TimeoutError:
            pass

    def events(self, after: int = 0, kinds: list[str] | None = None, limit: int = 500) -> list[dict[str, Any]]:
        i = bisect.bisect_right(self.recent, after, key=_seq)
        return [rec_line(r) for r in self.recent[i:] if not kinds or r.kind in kinds or r.name in kinds][-limit:]

    def new_request(self, command: str, arg: str | None, comment: str, sess: auth.Session) -> auth.Request:
        q = auth.Request(secrets.token_hex(6), command, arg, comment, sess.user, sess.role, sess.id[:8], sess.peer,
                         self.hold_seq)
        self.requests[q.id] = q
        return q


class ReplayHub(Hub):
    """An archived count, replayed to the point a slider picks (never drives anything)."""

    def __init__(self, plan, meta: dict[str, Any], records: list[Rec], snapshot_every: int = 200) -> None:
        super().__init__(plan)
        self.meta = meta
        self.watched = [plan.sensor_index(n) for n in meta.get("watched", plan.sensors)]
        self.records = records
        self.shown = [r for r in records if r.kind not in HIDDEN]
        self.batches = batches(records)
        self.batch_end = [b[-1].seq for b in self.batches]
        self.seqs = [r.seq for r in records]
        self.last_seq = records[-1].seq if records else 0
        seq = Sequencer(plan, self.watched, replay=True)
        self.snaps: list[tuple[int, dict[str, Any]]] = [(0, seq.snapshot())]
        for i, b in enumerate(self.batches):
            seq.apply(b)
            if (i + 1) % snapshot_every == 0:
                self.snaps.append((i + 1, seq.snapshot()))
        t = [r.t for r in records]
        self.t_range = (min(t, default=0), max(t, default=0))

    def ready(self) -> bool:
        return True

    def at(self, seq_no: int) -> dict[str, Any]:
        """The screens as they were right after archive record ``seq_no``."""
        nb = bisect.bisect_right(self.batch_end, seq_no)
        k = max(i for i, (n, _) in enumerate(self.snaps) if n <= nb)
        seq = Sequencer(self.plan, self.watched, replay=True)
        seq.restore(self.snaps[k][1])
        for b in self.batches[self.snaps[k][0]:nb]:
            seq.apply(b)
        hub = Hub(self.plan)
        for r in self.shown:
            if r.seq > seq_no:
                break
            hub._follow(r)
        extra = {"link": "replay", "count_id": self.meta.get("count_id"), "last_seq": seq_no, "clock": "replay",
                 "alarms": hub.alarms.public(), "unacked": hub.alarms.unacked(), "requests": [],
                 "hold_seq": hub.hold_seq, "server_wall": time.time(), "live": False,
                 "replay_range": [self.seqs[0] if self.seqs else 0, self.last_seq]}
        return view(self.plan, seq, automatic=hub.automatic, extra=extra)

    def events(self, after: int = 0, kinds: list[str] | None = None, limit: int = 500, upto: int | None = None) -> list[dict[str, Any]]:
        out = []
        for r in self.shown:
            if upto is not None and r.seq > upto:
                break
            if r.seq > after and (not kinds or r.kind in kinds or r.name in kinds):
                out.append(rec_line(r))
        return out[-limit:]


def load_replay(archive_url: str, count: str) -> ReplayHub:
    """Open an archive read-only and prepare its replay (raises ArchiveError / ModelError)."""
    from padguard.links.cli import plan_from_meta
    from padguard.store.archive import ArchiveError, open_archive

    with open_archive(archive_url, count) as a:
        meta = a.meta()
        if meta is None:
            raise ArchiveError(f"no count '{count}' in {archive_url} (counts: {', '.join(a.counts()) or 'none'})")
        recs = list(a.read())
    meta = {**meta, "count_id": count}
    plan = plan_from_meta(meta)
    return ReplayHub(plan, meta, recs)


__all__ = ["INPUTS", "LiveHub", "ReplayHub", "load_replay"]
