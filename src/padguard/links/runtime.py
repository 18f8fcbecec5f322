"""``padguard run``: the live sequencer against a pad over OPC UA, every record archived first.

One asyncio loop. Everything that can change the count arrives in one inbox: samples from the
OPC UA subscription, operator commands from the console (``padguard.console``), link events, ticks of the
clock. The loop drains the inbox, turns what it found into input records, one batch per
instant, and runs each batch through the pure :class:`~padguard.sequencer.live.Sequencer`.
Then it *group-commits*: the inputs and every event they caused are written to the archive and
committed, and only after that does anything leave the process (commands to the pad, replies
to operators, acknowledgements to a dry-run pad). A crash can lose only what nobody was told.

Clocks. ``wall``: count time is the monotonic clock since count start times ``speed`` (a
system clock that jumps against it holds the count). ``pad``: count time is the pad's own
clock (``padguard pad-sim``'s ``clock`` node), for dry runs; with ``pad-sim --lockstep`` the
pad waits for the runtime's acknowledgement of each instant, so the two never drift apart.

Restart. On start with an archive that already holds the count, the state is rebuilt by
applying the archived inputs again (from the last snapshot), checked against the archived
events, and the count is put in a safety hold at the last archived instant: a restarted
runtime always comes back HOLDING, with its full history, and an operator resumes it.
Commands that were archived but never acknowledged by the pad are sent again (moves are
idempotent: equipment already at or travelling to a position ignores the command).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from padguard.compile import NEVER, Plan
from padguard.links.mapping import LinkMap
from padguard.sequencer.live import OPS, LiveEvent, Rec, Sequencer, batches
from padguard.store.archive import Archive, ArchiveError, describe, open_archive


@dataclass
class RunOptions:
    """How ``padguard run`` connects, keeps time and archives."""

    link: str
    archive: str = "sqlite:///count.db"
    count_id: str = "main"
    speed: float = 1.0
    clock: str = "wall"  # "wall" or "pad"
    snapshot_every: int = 500  # batches between state snapshots (faster restarts)
    clock_tolerance_s: float = 1.0  # system clock vs monotonic clock disagreement that holds
    max_pad_jump_ms: int = 600_000  # a pad clock leaping further forward than this holds
    tick_s: float = 0.25  # longest wall-clock sleep between two looks at the clock


class Frontend(Protocol):
    """What serves the count to people (the console): started before anything is written."""

    async def start(self, rt: Runtime) -> str | None: ...

    async def stop(self) -> None: ...


def model_texts(plan: Plan) -> dict[str, str | None]:
    """The model files' text, archived with the count so a replay never depends on the disk."""
    out: dict[str, str | None] = {}
    for key in ("site", "procedure", "faults"):
        path = plan.model.files.get(key)
        try:
            out[key] = Path(path).read_text(encoding="utf-8") if path else None
        except OSError:
            out[key] = None
    return out


def fingerprint(texts: dict[str, str | None]) -> str:
    return hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:16]


class Runtime:
    """One live count: link, clock, archive and control around a :class:`Sequencer`."""

    def __init__(self, plan: Plan, lm: LinkMap, opts: RunOptions,
                 on_event: Callable[[Rec], None] | None = None,
                 on_note: Callable[[str], None] | None = None, frontend: Frontend | None = None):
        if opts.clock not in ("wall", "pad"):
            raise ValueError("clock must be 'wall' or 'pad'")
        if opts.clock == "pad" and (lm.mapping.dry_run is None):
            raise ValueError("--clock pad needs a mapping with dry_run nodes (a padguard pad-sim)")
        if opts.speed <= 0:
            raise ValueError("speed must be > 0")
        self.plan, self.lm, self.opts = plan, lm, opts
        self.on_event = on_event or (lambda rec: None)
        self.note = on_note or (lambda text: None)
        self.texts = model_texts(plan)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.recent: deque[Rec] = deque(maxlen=2000)
        self.batch = 0
        self.archive: Archive | None = None
        self.seq: Sequencer | None = None
        self.frontend = frontend
        self.control_url: str | None = None
        #: called with each batch of records once durable (the console's feed)
        self.listeners: list[Callable[[list[Rec]], None]] = []
        self.link_state = "connecting"
        self.restarted = False
        self.recovery: dict[str, Any] = {}
        self._client = None
        self._idx: int | None = None
        self._pending: list[Rec] = []  # pad clock: samples waiting for their instant's clock
        self._pad_clock_bad = False
        self._last_data = time.monotonic()
        self._resend: list[Rec] = []
        self._snap_at = 0
        self._stop_reason: str | None = None
        self._done = asyncio.Event()
        self._connected = asyncio.Event()
        self.ready = asyncio.Event()
        self.exit_code = 0
        self._staged: list[tuple[Rec, LiveEvent]] = []
        self._kick = False

    # ------------------------------------------------------------------ archive and recovery
    def _open(self) -> None:
        """Open (or create) the count: checks first, then the state (see :meth:`_check_archive`)."""
        self._init_count(self._check_archive())

    def _check_archive(self) -> dict[str, Any] | None:
        """Open the archive and refuse what must never run live; the count's header, None if new."""
        opts = self.opts
        self.archive = open_archive(opts.archive, opts.count_id, write=True)
        meta = self.archive.meta()
        if meta is None:
            return None
        if meta.get("mode") != "live":
            raise ArchiveError(f"count '{opts.count_id}' is a {meta.get('mode')} archive: "
                               "replayed data can never drive a live count")
        if meta.get("fingerprint") != fingerprint(self.texts):
            raise ArchiveError(f"count '{opts.count_id}' was started with a different model "
                               f"({meta.get('site')}/{meta.get('procedure')}); restart it with the same files")
        return meta

    def _init_count(self, meta: dict[str, Any] | None) -> None:
        """A new count (header, start instant) or a restarted one (recovery, restart hold)."""
        p, opts = self.plan, self.opts
        assert self.archive is not None
        watched = self.lm.watched
        if meta is None:
            meta = {"version": 1, "mode": "live", "site": p.model.site.site,
                    "procedure": p.model.procedure.procedure, "model": self.texts,
                    "fingerprint": fingerprint(self.texts), "watched": [p.sensors[s] for s in watched],
                    "clock": opts.clock, "speed": opts.speed, "epoch": time.time(), "link": opts.link,
                    "mapping": self.lm.file}
            self.archive.set_meta(meta)
            self.meta = meta
            self.seq = Sequencer(p, watched)
            self._process(0, [Rec("start", 0, "start", f"{meta['site']}/{meta['procedure']}",
                                  data={"clock": opts.clock, "speed": opts.speed})])
            self.archive.commit()
            return
        self.meta = meta
        self.restarted = True
        self._recover([p.sensor_index(n) for n in meta["watched"]])

    def _recover(self, watched: list[int]) -> None:
        assert self.archive is not None
        recs = list(self.archive.read())
        seq = Sequencer(self.plan, watched)
        start = 0
        snaps = [r for r in recs if r.kind == "snapshot"]
        if snaps:
            seq.restore(snaps[-1].data or {})
            start = snaps[-1].seq
        tail = [r for r in recs if r.seq > start]
        produced: list[LiveEvent] = []
        for b in batches(tail):
            produced.extend(seq.apply(b))
        archived = [(r.t, r.tc, r.name, r.value) for r in tail if r.kind == "event"]
        mism = sum(1 for a, b in zip(archived, (e.key() for e in produced), strict=False) if a != b)
        mism += abs(len(archived) - len(produced))
        self.seq = seq
        self.batch = max((r.batch for r in recs), default=0)
        self._snap_at = seq.batches
        acked = {int((r.data or {}).get("command_seq", -1)) for r in recs
                 if r.kind == "ack" and (r.data or {}).get("ok")}
        self._resend = [r for r in recs if r.kind == "event" and r.name in ("command", "ignition")
                        and r.seq not in acked]
        t_last = max((r.t for r in recs), default=0)
        self.recovery = {"records": len(recs), "from_snapshot": start, "batches": len(batches(tail)),
                         "events_checked": len(archived), "mismatches": mism,
                         "unacknowledged_commands": len(self._resend)}
        self.archive.append([Rec("recovery", t_last, "recovery", "state rebuilt from the archive",
                                 data=self.recovery, batch=self.batch, tc=seq.tc)])
        self._process(t_last, [Rec("safety", t_last, "restart",
                                   f"runtime restarted from the archive (last record {len(recs)}); "
                                   "the count holds until an operator resumes")])
        self.archive.commit()
        if mism:
            self.note(f"WARNING: {mism} archived events differ from their replay (see padguard replay)")

    def _process(self, t: int, recs: list[Rec]) -> list[LiveEvent]:
        """One batch through the sequencer; inputs and outputs staged for the next commit."""
        assert self.seq is not None and self.archive is not None
        seq = self.seq
        tick_only = all(r.kind == "tick" for r in recs)
        before = seq.S[2:, 0].copy() if tick_only else None
        self.batch += 1
        for r in recs:
            r.t, r.batch = t, self.batch
        ev = seq.apply(recs)
        if tick_only and not ev and np.array_equal(before, seq.S[2:, 0]):
            self.batch -= 1  # a tick that changed nothing but the clock: nothing to archive
            return ev
        tc = seq.tc
        for r in recs:
            r.tc = tc
        outs = [e.to_rec() for e in ev]
        for o in outs:
            o.batch = self.batch
        self.archive.append(recs)
        self.archive.append(outs)
        self._staged.extend(zip(outs, ev, strict=True))
        if seq.batches - self._snap_at >= self.opts.snapshot_every:
            self._snap_at = seq.batches
            self.archive.append([Rec("snapshot", t, data=seq.snapshot(), batch=self.batch, tc=tc)])
        return ev

    # ------------------------------------------------------------------ clock
    def _start_clock(self) -> None:
        assert self.seq is not None
        self._mono0 = time.monotonic()
        self._unix0 = time.time()
        elapsed = int((self._unix0 - self.meta["epoch"]) * 1000 * self.opts.speed)
        self._t0 = max(self.seq.t, elapsed)
        self._drift = 0.0

    def now(self) -> int:
        """Count-start-relative wall ms (times speed); pad mode: the last pad instant."""
        assert self.seq is not None
        if self.opts.clock == "pad":
            return self.seq.t
        t = self._t0 + int((time.monotonic() - self._mono0) * 1000 * self.opts.speed)
        return max(t, self.seq.t)

    def _check_clock(self) -> None:
        if self.opts.clock != "wall":
            return
        drift = (time.time() - self._unix0) - (time.monotonic() - self._mono0)
        if abs(drift - self._drift) > self.opts.clock_tolerance_s:
            self.inbox.put_nowait(("safety", "clock", f"system clock jumped by {drift - self._drift:+.1f}s"))
            self._drift = drift

    def _timeout(self) -> float:
        assert self.seq is not None
        tick = self.opts.tick_s
        if self.opts.clock == "pad":
            return tick
        nxt = self.seq.next_deadline()
        if nxt >= NEVER:
            return tick
        wait = (nxt - self.now()) / 1000 / self.opts.speed
        return max(0.0, min(tick, wait))

    # ------------------------------------------------------------------ main loop
    async def run(self) -> int:
        """Run the count until it ends (or is stopped). Returns a process exit code."""
        from padguard.links.padsim import quiet_asyncua

        quiet_asyncua()
        self._staged = []
        # The console first: if its port is taken, nothing has been written yet.
        server = self.frontend
        if server is not None:
            self.control_url = await server.start(self)
        # Then the link: a new count's clock starts with readings flowing, not with a stale hold
        # (if the pad does not answer, the count starts anyway and holds for link loss).
        link = asyncio.create_task(self._link_loop())
        try:
            meta = self._check_archive()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), max(5.0, 2 * self.lm.mapping.link.request_timeout_s))
            self._init_count(meta)
        except BaseException:
            await self._shutdown(link, server)
            raise
        assert self.seq is not None and self.archive is not None
        if self.seq.final:
            self.note(f"count '{self.opts.count_id}' already ended: {self.seq.status()['outcome']}")
            await self._shutdown(link, server)
            return 0
        self._start_clock()
        self.archive.append([Rec("session", self.seq.t, "session", "runtime started",
                                 data={"pid": os.getpid(), "control": self.control_url, "link": self.opts.link,
                                       "clock": self.opts.clock, "speed": self.opts.speed,
                                       "restart": self.restarted}, batch=self.batch, tc=self.seq.tc)])
        self.archive.commit()
        await self._act()
        self.ready.set()
        try:
            while not self.seq.final and self._stop_reason is None:
                try:
                    item = await asyncio.wait_for(self.inbox.get(), self._timeout())
                    items = [item]
                except TimeoutError:
                    items = []
                while not self.inbox.empty():
                    items.append(self.inbox.get_nowait())
                self._check_clock()
                self._watchdog()
                await self._handle(items)
        except ArchiveError as exc:
            self.note(f"ARCHIVE FAILURE: {exc}; the count is held (nothing was sent); restart from the archive")
            self.exit_code = 3
        except Exception as exc:  # noqa: BLE001 - a runtime bug: hold, archive it if possible, exit
            self.exit_code = 4
            self.note(f"INTERNAL ERROR: {type(exc).__name__}: {exc}; holding and stopping")
            with contextlib.suppress(Exception):
                self._staged = []
                self._process(self.now(), [Rec("safety", 0, "internal", f"runtime error: {type(exc).__name__}: {exc}")])
                self.archive.commit()
        finally:
            if self.exit_code == 0:
                with contextlib.suppress(Exception):
                    st = self.seq.status()
                    self.archive.append([Rec("end", self.seq.t, "end", st["outcome"] or st["mode"], data=st,
                                             batch=self.batch, tc=self.seq.tc)])
                    self.archive.commit()
            await self._shutdown(link, server)
        return self.exit_code

    async def _shutdown(self, link: asyncio.Task, server: Frontend | None) -> None:
        self._done.set()
        link.cancel()
        with contextlib.suppress(BaseException):
            await link
        await self._disconnect()
        if server is not None:
            with contextlib.suppress(Exception):
                await server.stop()
        if self.archive is not None:
            self.archive.close()

    def stop(self, reason: str = "operator stopped the runtime") -> None:
        """Hold the count and end the loop (SIGINT/SIGTERM)."""
        self.inbox.put_nowait(("stop", reason))

    async def _handle(self, items: list[tuple]) -> None:
        assert self.seq is not None and self.archive is not None
        pad = self.opts.clock == "pad"
        samples: list[Rec] = self._pending if pad else []
        self._pending = []
        pad_instants: list[int] = []
        ops: list[tuple[Rec, asyncio.Future]] = []
        audits: list[tuple[Rec, asyncio.Future]] = []
        processed = False
        decode, plan = self.lm.decode, self.plan
        for it in items:
            kind = it[0]
            if kind == "dc":
                _, s, raw, good, status = it
                if s == -1:  # the pad clock
                    if good and isinstance(raw, int) and not isinstance(raw, bool):
                        t = self._pad_time(raw)
                        self._process(t, samples or [Rec("tick", t)])
                        samples = []
                        pad_instants.append(raw)
                        processed = True
                    continue
                name = plan.sensors[s]
                if good:
                    samples.append(Rec("sample", 0, name, raw if raw.__class__ is str else str(raw),
                                       decode(plan, s, raw)))
                else:
                    samples.append(Rec("sample", 0, name, f"<{status}>", -2, {"status": status}))
                continue
            if kind == "op":
                _, name, arg, fut, who = it
                if samples and not pad:
                    self._process(self.now(), samples)
                    samples = []
                ev = self._process(self.now(), [Rec("operator", 0, name, arg or "", data=who)])
                ops.append((ev, fut))
                processed = True
            elif kind == "audit":  # bookkeeping (a request, an approval, an acknowledgement): never an input
                _, name, value, data, fut = it
                rec = Rec("audit", self.seq.t, name, value, data=data, batch=self.batch, tc=self.seq.tc)
                self.archive.append([rec])
                audits.append((rec, fut))
            elif kind in ("safety", "link_down", "link_up", "stop"):
                if samples and not pad:
                    self._process(self.now(), samples)
                    samples = []
                t = self.now()
                if kind == "safety":
                    self._process(t, [Rec("safety", 0, it[1], it[2])])
                elif kind == "link_down":
                    samples = []  # (readings of an instant whose clock never came: the pad sends again)
                    if self.link_state != "down":
                        self.link_state = "down"
                        self._process(t, [Rec("safety", 0, "link", f"link lost: {it[1]}")])
                elif kind == "link_up":
                    self.link_state = "up"
                    if "link" in self.seq.conditions:
                        self._process(t, [Rec("clear", 0, "link", "link restored")])
                elif kind == "stop":
                    self._process(t, [Rec("safety", 0, "stopped", it[1])])
                    self._stop_reason = it[1]
                processed = True
        if any(it[0] == "dc" for it in items):
            self._last_data = time.monotonic()
        if pad:
            self._pending = samples
        elif samples:
            self._process(self.now(), samples)
            processed = True
        if not processed and not pad:
            self._process(self.now(), [Rec("tick", 0)])
        self.archive.commit()  # durable before anything below leaves the process
        for rec, fut in audits:
            self.recent.append(rec)
            if not fut.done():
                fut.set_result(rec.seq)
        if audits:
            self._notify([rec for rec, _ in audits])
        await self._act(ops)
        if pad_instants:
            await self._ack(max(pad_instants))

    def _pad_time(self, raw: int) -> int:
        assert self.seq is not None
        t0 = self.seq.t
        bad = raw < t0 or raw - t0 > self.opts.max_pad_jump_ms
        if bad and not self._pad_clock_bad:
            self.inbox.put_nowait(("safety", "clock", f"pad clock jumped from {t0} ms to {raw} ms"))
        self._pad_clock_bad = bad
        return max(raw, t0) if raw - t0 <= self.opts.max_pad_jump_ms else t0

    async def _act(self, ops: list[tuple[list[LiveEvent], asyncio.Future]] | None = None) -> None:
        """After the commit: show events, send commands, answer operators."""
        assert self.seq is not None and self.archive is not None
        staged, self._staged = self._staged, []
        sends = []
        for rec, ev in staged:
            self.recent.append(rec)
            self.on_event(rec)
            if ev.replay:
                raise RuntimeError("a replayed event reached the live runtime")  # can never happen
            if ev.kind in ("command", "ignition"):
                if self.link_state == "up":
                    sends.append(rec)
                else:  # sent when the link is back (the link loss already holds the count)
                    self._resend.append(rec)
        if self._resend and self.link_state == "up":
            again, self._resend = self._resend, []
            self.archive.append([Rec("resend", self.seq.t, r.name, r.value, data={"command_seq": r.seq, **(r.data or {})},
                                     batch=self.batch, tc=self.seq.tc) for r in again])
            self.archive.commit()
            sends = again + sends
        self._notify([rec for rec, _ in staged])
        for rec in sends:
            await self._send(rec)
        for ev, fut in ops or []:
            if not fut.done():
                refused = [e.text for e in ev if e.kind == "refused"]
                fut.set_result({"accepted": not refused, "refused": refused, "events": [e.text for e in ev],
                                "mode": self.seq.mode.name, "seq": self.archive.last_seq})

    def _notify(self, recs: list[Rec]) -> None:
        for cb in self.listeners:
            cb(recs)

    async def _send(self, rec: Rec) -> None:
        """One command to the pad; its answer is archived (with the next commit)."""
        from asyncua import ua

        assert self.seq is not None and self.archive is not None
        d = rec.data or {}
        m = self.lm.mapping
        if rec.name == "ignition":
            mn, args = m.ignition, []
        elif d.get("action") == "move":
            mn, args = m.commands.get(d["target"]), [ua.Variant(d["value"], ua.VariantType.String)]
        else:
            mn, args = m.zones.get(d.get("target", "")), [ua.Variant(d.get("action") == "occupy", ua.VariantType.Boolean)]
        if mn is None:
            self.archive.append([Rec("ack", self.seq.t, d.get("target", rec.name), "no node: announced only",
                                     data={"command_seq": rec.seq, "ok": True}, batch=self.batch, tc=self.seq.tc)])
            return
        try:
            if self._client is None or self._idx is None:
                raise ConnectionError("link down")
            obj = self._client.get_node(self._nid(mn.object))
            res = await asyncio.wait_for(obj.call_method(self._nid(mn.method), *args), m.link.request_timeout_s)
            self.archive.append([Rec("ack", self.seq.t, d.get("target", rec.name), str(res),
                                     data={"command_seq": rec.seq, "ok": True}, batch=self.batch, tc=self.seq.tc)])
        except Exception as exc:  # noqa: BLE001 - any OPC UA failure holds the count
            detail = f"command '{rec.value}' failed: {type(exc).__name__}: {exc}"
            self.archive.append([Rec("ack", self.seq.t, d.get("target", rec.name), detail,
                                     data={"command_seq": rec.seq, "ok": False}, batch=self.batch, tc=self.seq.tc)])
            self._resend.append(rec)
            self.inbox.put_nowait(("safety", "opcua", detail))

    async def _ack(self, t: int) -> None:
        """Lockstep: tell the pad this instant is archived and acted on."""
        from asyncua import ua

        d = self.lm.mapping.dry_run
        if self._client is None or self._idx is None or d is None:
            return
        try:
            obj = self._client.get_node(self._nid(d.object))
            await asyncio.wait_for(obj.call_method(self._nid(d.ack), ua.Variant(int(t), ua.VariantType.Int64)),
                                   self.lm.mapping.link.request_timeout_s)
        except Exception as exc:  # noqa: BLE001
            self.inbox.put_nowait(("link_down", f"acknowledgement failed: {type(exc).__name__}: {exc}"))

    def _nid(self, s: str):
        from asyncua import ua

        return ua.NodeId.from_string(f"ns={self._idx};{s}")

    def _watchdog(self) -> None:
        if self.link_state != "up":
            return
        limit = self.lm.mapping.link.link_timeout_s
        if self.opts.clock == "wall" and self.plan.S:
            limit = max(limit, 2 * float(self.plan.s_period.max()) / 1000 / self.opts.speed)
        if time.monotonic() - self._last_data > limit:
            self.inbox.put_nowait(("link_down", f"no data for {time.monotonic() - self._last_data:.1f}s"))
            self.link_state = "stale"
            self._kick = True

    # ------------------------------------------------------------------ link
    async def _link_loop(self) -> None:
        backoff = 0.1
        while not self._done.is_set():
            try:
                await self._session()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every link failure is link loss
                self.inbox.put_nowait(("link_down", f"{type(exc).__name__}: {exc}"))
            await self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _session(self) -> None:
        from asyncua import Client, ua
        from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent

        m = self.lm.mapping
        cl = Client(self.opts.link, timeout=m.link.request_timeout_s,
                    watchdog_intervall=max(0.2, m.link.link_timeout_s / 2))
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()
            self.inbox.put_nowait(("link_down", f"{type(exc).__name__}: {exc}"))

        cl.connection_lost_callback = on_lost
        await asyncio.wait_for(cl.connect(), m.link.request_timeout_s * 2)
        self._client = cl
        self._idx = await cl.get_namespace_index(m.namespace)
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = m.link.publishing_interval_ms
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = 3000
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        sub = await cl.create_subscription(params, None, queue_maxsize=1_000_000, overflow=OverflowPolicy.DISCONNECT)
        nodes: dict[int, int] = {}
        reqs = []
        entries = [(s, node) for s, node in sorted(self.lm.node_of_sensor.items())]
        if self.opts.clock == "pad" and m.dry_run is not None:
            entries.append((-1, m.dry_run.clock))
        for k, (s, node) in enumerate(entries):
            handle = 50_000 + k
            nodes[handle] = s
            mp = ua.MonitoringParameters(ClientHandle=handle, SamplingInterval=0, QueueSize=100, DiscardOldest=True,
                                         Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp))
            reqs.append(ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=self._nid(node), AttributeId=ua.AttributeIds.Value),
                MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=mp))
        results = await sub.create_monitored_items(reqs)
        bad = [entries[k][1] for k, r in enumerate(results) if isinstance(r, ua.StatusCode)]
        if bad:
            raise ConnectionError(f"the server has no node(s) {', '.join(bad)} (check the mapping)")
        self._last_data = time.monotonic()
        self.inbox.put_nowait(("link_up",))
        self._connected.set()
        self._kick = False
        put = self.inbox.put_nowait
        # (also watch _done: asyncio.wait_for in Python 3.11 can swallow a cancellation)
        while not lost.is_set() and not self._kick and not self._done.is_set():
            ev = await sub.next_event(0.5)
            if ev is None:
                continue
            if isinstance(ev, DataChangeEvent):
                mi = ev.data.monitored_item
                dv = mi.Value
                s = nodes.get(mi.ClientHandle)
                if s is None:
                    continue
                code = dv.StatusCode if dv is not None else None
                good = code is not None and code.is_good()
                status = "" if good else (code.name if code is not None else "no value")
                put(("dc", s, ev.value, good, status))
            elif isinstance(ev, StatusChangeEvent):
                raise ConnectionError(f"subscription status {ev.notification.Status}")
        if self._done.is_set():
            return
        raise ConnectionError("link lost" if lost.is_set() else "link silent")

    async def _disconnect(self) -> None:
        cl, self._client = self._client, None
        if cl is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(cl.disconnect(), 2.0)

    # ------------------------------------------------------------------ the console's interface (the console asks, the runtime decides)
    def status(self) -> dict[str, Any]:
        assert self.seq is not None
        st = self.seq.status()
        st.update({"link": self.link_state, "archive": describe(self.opts.archive), "count_id": self.opts.count_id,
                   "last_seq": self.archive.last_seq if self.archive else 0, "pid": os.getpid(),
                   "clock": self.opts.clock, "speed": self.opts.speed, "restarted": self.restarted,
                   "recovery": self.recovery or None})
        return st

    async def operator(self, command: str, arg: str | None = None, who: dict[str, Any] | None = None) -> dict[str, Any]:
        """Apply an operator command; returns once it is archived and applied.

        ``who`` (user, role, session, peer, approver...) is archived with the command."""
        if self._done.is_set() or self.seq is None or self.seq.final:
            return {"accepted": False, "refused": ["the count has ended"], "events": []}
        if command not in OPS:
            return {"accepted": False, "refused": [f"unknown command '{command}'"], "events": []}
        fut = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(("op", command, None if arg is None else str(arg), fut, dict(who or {"source": "api"})))
        return await fut

    async def audit(self, name: str, value: str, data: dict[str, Any]) -> int:
        """Archive a bookkeeping record (a request, an approval, an acknowledgement); its seq once durable."""
        if self._done.is_set():
            raise RuntimeError("the runtime has stopped")
        fut = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(("audit", name, value, data, fut))
        return await fut
