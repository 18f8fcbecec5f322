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
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from padguard.compile import NEVER, Plan, Tri
from padguard.links.mapping import LinkMap
from padguard.sequencer.live import OPS, LiveEvent, Rec, Sequencer, batches
from padguard.store.archive import (
    Archive,
    ArchiveError,
    SampleBlock,
    describe,
    flatten,
    open_archive,
)

#: OPC UA StatusCode info bits: InfoType = DataValue (0x400) with the Overflow bit (0x80).
OVERFLOW = 0x480


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
    commit_bound_s: float = 0.25  # an archive commit slower than this holds the count (`archive`)
    command_deadline_s: float = 1.0  # a command not sent this long after its decision is dropped, holding
    link_wait_s: float = 10.0  # a new count waits this long for the pad before it refuses to start
    max_sample_age_s: float = 10.0  # a sample stamped older than this (by its own timestamp) is not fresh
    command_retries: int = 3  # a failed pad command is tried again this often (backoff 0.5 s, doubling)
    security: Any = None  # a LinkSecurity (padguard.links.security): certificates, policy, user
    insecure: bool = False  # explicitly allow an unsecured link (said on every status)


class LinkWaitError(ConnectionError):
    """The pad did not answer before a new count would have started its clock."""


def boot_id() -> str:
    """This boot of the machine (the monotonic clock is comparable only within one boot)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class Frontend(Protocol):
    """What serves the count to people (the console): started before anything is written."""

    async def start(self, rt: Runtime) -> str | None: ...

    async def stop(self) -> None: ...


def plan_from_meta(meta: dict[str, Any]):
    """Compile the model archived with a count (never the files on disk, which may have changed)."""
    from padguard.compile import compile_model
    from padguard.model.errors import ModelError
    from padguard.model.loader import load

    texts = meta.get("model") or {}
    if not texts.get("site") or not texts.get("procedure"):
        raise ModelError([])
    with tempfile.TemporaryDirectory() as d:
        Path(d, "site.yaml").write_text(texts["site"])
        Path(d, "procedure.yaml").write_text(texts["procedure"])
        if texts.get("faults"):
            Path(d, "faults.yaml").write_text(texts["faults"])
        return compile_model(load(Path(d, "site.yaml"), Path(d, "procedure.yaml")))


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
        if opts.security is None and not opts.insecure:
            raise ValueError("an unsecured OPC UA link: give security settings (padguard certs) or, for a "
                             "test pad on loopback only, insecure=True (--insecure)")
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
        self._sub: Any = None
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
        # the archive writer: one thread, one commit in flight; what waits for it is released
        # (shown, sent, answered, acknowledged) once the records it needs are durable
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: asyncio.Future | None = None
        self._inflight_at = 0.0
        self._durable = 0
        self._archive_slow = False
        self._waiting: list[tuple[int, str, Any]] = []
        self._epoch = 0  # bumped by every hold/abort/scrub: a command decided before it is void
        self._retry: dict[int, list[Any]] = {}  # command seq -> [rec, attempts, next try (monotonic), error]
        self._last_src: dict[int, float] = {}  # sensor -> newest source timestamp seen (unix s)
        self._clock_note: str | None = None
        self._pad_clock_type_bad = False
        self.expired: list[Rec] = []

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
                    "mapping": self.lm.file, "mono": time.monotonic(), "boot": boot_id()}
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
                 if (r.kind == "ack" and (r.data or {}).get("ok")) or r.kind == "expired"}
        # moves are idempotent and sent again; an ignition is never re-sent after a restart
        pending = [r for r in recs if r.kind == "event" and r.name in ("command", "ignition") and r.seq not in acked]
        self._resend = [r for r in pending if r.name == "command"]
        self._unsent_ignition = [r for r in pending if r.name == "ignition"]
        for r in recs:
            if r.kind == "sample" and r.data and "src" in r.data:
                s = self.plan.sensor_index(r.name)
                self._last_src[s] = max(self._last_src.get(s, 0.0), float(r.data["src"]))
        sessions = [r for r in recs if r.kind == "session"]
        self._prev_session = sessions[-1] if sessions else None
        self._last_wall = max((r.wall for r in recs), default=0.0)
        t_last = max((r.t for r in recs), default=0)
        self.recovery = {"records": len(recs), "from_snapshot": start, "batches": len(batches(tail)),
                         "events_checked": len(archived), "mismatches": mism,
                         "unacknowledged_commands": len(self._resend)}
        self.archive.append([Rec("recovery", t_last, "recovery", "state rebuilt from the archive",
                                 data=self.recovery, batch=self.batch, tc=seq.tc)])
        self._process(t_last, [Rec("safety", t_last, "restart",
                                   f"runtime restarted from the archive (last record {len(recs)}); "
                                   "the count holds until an operator resumes")])
        for r in self._unsent_ignition:
            self.archive.append([Rec("expired", t_last, r.name, "ignition never sent again after a restart",
                                     data={"command_seq": r.seq}, batch=self.batch, tc=seq.tc)])
        self.archive.commit()
        if mism:
            self.note(f"WARNING: {mism} archived events differ from their replay (see padguard replay)")

    def _process(self, t: int, recs: list[Any]) -> list[LiveEvent]:
        """One batch through the sequencer; inputs and outputs staged for the next commit."""
        assert self.seq is not None and self.archive is not None
        seq = self.seq
        tick_only = all(r.kind == "tick" for r in recs)
        before = seq.S[2:, 0].copy() if tick_only else None
        self.batch += 1
        flat = flatten(recs) if any(r.__class__ is SampleBlock for r in recs) else recs
        b = self.batch
        for r in recs:
            r.t, r.batch = t, b
        if flat is not recs:
            for r in flat:
                r.t, r.batch = t, b
        ev = seq.apply(flat)
        if tick_only and not ev and np.array_equal(before, seq.S[2:, 0]):
            self.batch -= 1  # a tick that changed nothing but the clock: nothing to archive
            return ev
        tc = seq.tc
        for r in recs:
            r.tc = tc
        if flat is not recs:
            for r in flat:
                r.tc = tc
        outs = [e.to_rec() for e in ev]
        for o in outs:
            o.batch = self.batch
        self.archive.append(recs)
        self.archive.append(outs)
        if any(e.kind in ("hold", "abort", "scrub", "safety") for e in ev):
            self._epoch += 1
        now = time.monotonic()
        for o, e in zip(outs, ev, strict=True):
            self._staged.append((o, e))
            self._waiting.append((o.seq, "event", (o, e, now, self._epoch)))
        if seq.batches - self._snap_at >= self.opts.snapshot_every:
            self._snap_at = seq.batches
            self.archive.append([Rec("snapshot", t, data=seq.snapshot(), batch=self.batch, tc=tc)])
        return ev

    # ------------------------------------------------------------------ clock
    def _start_clock(self) -> None:
        """Count time from the monotonic clock; across a restart, bounded by the archive.

        A new count: the monotonic time since the count's header was written. A restart on the
        same boot: the previous session's monotonic origin carries the count clock across the
        downtime, and the system clock is only checked against it (a disagreement holds, naming
        it). A restart after a reboot cannot measure the downtime: the count clock resumes at the
        archive's last instant (never further, so nothing scrubs on a clock it cannot trust) and
        the count holds saying so.
        """
        assert self.seq is not None
        opts = self.opts
        self._mono0 = time.monotonic()
        self._unix0 = time.time()
        self._drift = 0.0
        self._clock_note = None
        k = 1000 * opts.speed
        t_last = self.seq.t
        if opts.clock != "wall":
            self._t0 = t_last
            return
        boot = boot_id()
        if not self.restarted:
            same = self.meta.get("boot") == boot and "mono" in self.meta
            self._t0 = max(t_last, int((self._mono0 - self.meta["mono"]) * k)) if same else t_last
            return
        prev = (self._prev_session.data or {}) if getattr(self, "_prev_session", None) is not None else {}
        wall_gap = self._unix0 - getattr(self, "_last_wall", self._unix0)
        if prev.get("boot") == boot and "mono0" in prev:
            t_mono = int(prev["t0"] + (self._mono0 - prev["mono0"]) * k)
            t_wall = int(prev["t0"] + (self._unix0 - prev["unix0"]) * k)
            self._t0 = max(t_last, t_mono)
            if abs(t_wall - t_mono) > opts.clock_tolerance_s * k:
                self._clock_note = (f"system clock disagrees with the monotonic clock by "
                                    f"{(t_wall - t_mono) / k:+.1f}s since the last session; the downtime "
                                    f"({(self._t0 - t_last) / k:.1f}s) is taken from the monotonic clock")
            return
        self._t0 = t_last
        self._clock_note = (f"the downtime cannot be measured (restarted after a reboot or without a session "
                            f"record; the system clock says {wall_gap:.0f}s): the count clock resumes at the "
                            "archive's last instant; check the window by hand before resuming")

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
        if self._inflight is not None and not self._archive_slow:
            tick = min(tick, max(0.0, self._inflight_at + self.opts.commit_bound_s - time.monotonic()) + 0.001)
        if self._retry:
            tick = min(tick, max(0.0, min(r[2] for r in self._retry.values()) - time.monotonic()))
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
        # Then the link: a new count's clock starts only with readings flowing (bounded wait;
        # a pad that does not answer in time means the count is not started at all).
        link = asyncio.create_task(self._link_loop())
        try:
            meta = self._check_archive()
            try:
                await asyncio.wait_for(self._connected.wait(), self.opts.link_wait_s)
            except TimeoutError:
                if meta is None:
                    raise LinkWaitError(f"the pad at {self.opts.link} did not answer within "
                                        f"{self.opts.link_wait_s:g}s: the count was not started") from None
            self._init_count(meta)
        except BaseException:
            await self._shutdown(link, server)
            raise
        assert self.seq is not None and self.archive is not None
        if self.seq.final:
            self.note(f"count '{self.opts.count_id}' already ended: {self.seq.status()['outcome']}")
            await self._shutdown(link, server)
            return 0
        # link events from before the start (a refused first attempt...) are history, not news
        early = []
        while not self.inbox.empty():
            it = self.inbox.get_nowait()
            if it[0] not in ("link_down", "link_up"):
                early.append(it)
        for it in early:
            self.inbox.put_nowait(it)
        if self._connected.is_set() and self._client is not None:
            self.link_state = "up"
        else:
            self.inbox.put_nowait(("link_down", f"the pad at {self.opts.link} did not answer within "
                                   f"{self.opts.link_wait_s:g}s"))
        self._start_clock()
        if self._clock_note:
            self.inbox.put_nowait(("safety", "clock", self._clock_note))
        self.archive.append([self._session_rec()])
        self.archive.commit()
        self._durable = self.archive.last_seq
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="padguard-archive")
        for rec in self._resend:
            self._retry[rec.seq] = [rec, 0, time.monotonic(), "restart"]
        self._resend = []
        await self._release()
        self.ready.set()
        try:
            # (a final count keeps deciding while what it decided last is still waiting for the archive)
            while (not self.seq.final or self._waiting or self._inflight is not None) and self._stop_reason is None:
                try:
                    item = await asyncio.wait_for(self.inbox.get(), self._timeout())
                    items = [item]
                except TimeoutError:
                    items = []
                while not self.inbox.empty():
                    items.append(self.inbox.get_nowait())
                self._check_clock()
                self._watchdog()
                self._check_commit()
                self._handle(items)
                self._collect()
                await self._release()
            await self._drain()
        except ArchiveError as exc:
            self.note(f"ARCHIVE FAILURE: {exc}; the count is held (nothing was sent); restart from the archive")
            self.exit_code = 3
        except Exception as exc:  # noqa: BLE001 - a runtime bug: hold, archive it if possible, exit
            self.exit_code = 4
            self.note(f"INTERNAL ERROR: {type(exc).__name__}: {exc}; holding and stopping")
            with contextlib.suppress(Exception):
                await self._drain(fail_ok=True)
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

    def _session_rec(self) -> Rec:
        """The session record: who runs the count, and the clock origins a restart measures from."""
        assert self.seq is not None
        return Rec("session", self.seq.t, "session", "runtime started",
                   data={"pid": os.getpid(), "control": self.control_url, "link": self.opts.link,
                         "clock": self.opts.clock, "speed": self.opts.speed, "restart": self.restarted,
                         "mono0": self._mono0, "unix0": self._unix0, "t0": self._t0, "boot": boot_id()},
                   batch=self.batch, tc=self.seq.tc)

    # ------------------------------------------------------------------ the archive writer
    def _collect(self) -> None:
        """Finish a completed commit (raising its error) and start the next one if rows wait."""
        assert self.archive is not None
        f = self._inflight
        if f is not None and f.done():
            self._inflight = None
            self._durable = max(self._durable, f.result())  # an ArchiveError ends the count (held)
            if self._archive_slow:
                self._archive_slow = False
                self._handle([("clear", "archive", "archive commits are timely again")])
        if self._inflight is None and self.archive._pending:
            rows = self.archive.take()
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(self._writer, self.archive.write, rows)
            self._inflight_at = time.monotonic()
            self._inflight.add_done_callback(lambda _f: self.inbox.put_nowait(("committed",)))

    def _check_commit(self) -> None:
        """A commit slower than its bound holds the count (the decisions go on meanwhile)."""
        if (self._inflight is not None and not self._archive_slow and not self._inflight.done()
                and time.monotonic() - self._inflight_at > self.opts.commit_bound_s):
            self._archive_slow = True
            self.inbox.put_nowait(("safety", "archive", f"archive commit slower than {self.opts.commit_bound_s:g}s "
                                   f"({describe(self.opts.archive)}): nothing waiting for it is sent"))

    async def _drain(self, fail_ok: bool = False) -> None:
        """Everything appended made durable and released (at the end of the loop)."""
        while self._inflight is not None or (self.archive is not None and self.archive._pending):
            if self._inflight is not None:
                try:
                    await asyncio.wait({self._inflight})
                except Exception:  # noqa: BLE001
                    if not fail_ok:
                        raise
            try:
                self._collect()
            except ArchiveError:
                if not fail_ok:
                    raise
                self._inflight = None
                return
        if not fail_ok:
            await self._release()

    async def _shutdown(self, link: asyncio.Task, server: Frontend | None) -> None:
        self._done.set()
        link.cancel()
        with contextlib.suppress(BaseException):
            await link
        await self._disconnect()
        if server is not None:
            with contextlib.suppress(Exception):
                await server.stop()
        if self._inflight is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._inflight), 30)
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self.archive is not None:
            self.archive.close()

    def stop(self, reason: str = "operator stopped the runtime") -> None:
        """Hold the count and end the loop (SIGINT/SIGTERM)."""
        self.inbox.put_nowait(("stop", reason))

    def _sample(self, s: int, raw: Any, good: bool, status: str, src: float | None, wall: float, now_t: int) -> Rec:
        """One reading off the wire -> an input record: decoded, bounded, and its freshness judged."""
        plan, opts = self.plan, self.opts
        name = plan.sensors[s]
        limit = self.lm.mapping.link.max_value_chars
        text = raw if raw.__class__ is str else str(raw)
        data: dict[str, Any] = {}
        if len(text) > limit:
            text, code = text[:limit] + "...", -2
            data["malformed"] = f"value longer than {limit} characters"
        elif good:
            code = self.lm.decode(plan, s, raw)
        else:
            text, code = f"<{status}>", -2
            data["status"] = status
        if code == -2:  # a bad value holds whatever its age: no freshness to judge
            if src is not None:
                data["src"] = src
        elif src is None:
            data["stale"] = "no source or server timestamp"
        else:
            data["src"] = src
            age = wall - src
            if age > opts.max_sample_age_s:
                data["stale"] = f"stamped {age:.0f}s ago"
            elif age < -opts.clock_tolerance_s:
                data["stale"] = f"stamped {-age:.0f}s in the future"
            elif src <= self._last_src.get(s, float("-inf")):
                data["stale"] = "re-delivered (not newer than the last sample)"
            else:
                self._last_src[s] = src
                if opts.clock == "wall":
                    data["st"] = now_t - max(0, int(age * 1000 * opts.speed))
        return Rec("sample", 0, name, text, code, data)

    def _block(self, b: str, raw: Any, good: bool, status: str, src: float | None, wall: float,
               now_t: int) -> SampleBlock:
        """One notification of a block node -> one sample per element, judged as :meth:`_sample`
        judges one (the freshness of the block's one timestamp is judged once)."""
        plan, opts = self.plan, self.opts
        members = self.lm.block_sensors[b]
        names = plan.sensors
        if not good or raw.__class__ is not list or len(raw) != len(members):
            data: dict[str, Any] = {"status": status} if not good else {
                "malformed": f"block {b} sent {len(raw) if raw.__class__ is list else type(raw).__name__} "
                             f"value(s), {len(members)} expected"}
            if src is not None:
                data["src"] = src
            text = f"<{status}>" if not good else "<malformed block>"
            return SampleBlock(b, [Rec("sample", 0, names[s], text, -2, data) for s in members], data)
        common: dict[str, Any] = {}
        stale = None
        if src is None:
            stale = "no source or server timestamp"
        else:
            common["src"] = src
            age = wall - src
            if age > opts.max_sample_age_s:
                stale = f"stamped {age:.0f}s ago"
            elif age < -opts.clock_tolerance_s:
                stale = f"stamped {-age:.0f}s in the future"
            elif opts.clock == "wall":
                common["st"] = now_t - max(0, int(age * 1000 * opts.speed))
        if stale is not None:
            common["stale"] = stale
        limit = self.lm.mapping.link.max_value_chars
        decode, last, tables = self.lm.decode, self._last_src, self.lm._codes
        bad: dict[str, Any] = {} if src is None else {"src": src}
        recs: list[Rec] = []
        append = recs.append
        for s, v in zip(members, raw, strict=True):
            kind = v.__class__
            text = v if kind is str else str(v)
            if len(text) > limit:
                append(Rec("sample", 0, names[s], text[:limit] + "...", -2,
                           {**bad, "malformed": f"value longer than {limit} characters"}))
                continue
            codes = tables.get(s)  # (LinkMap.decode inlined: this loop runs 100,000 times a second)
            code = (codes.get(v, -2) if kind is str or kind is int else -2) if codes is not None else decode(plan, s, v)
            if code == -2:  # a bad value holds whatever its age
                append(Rec("sample", 0, names[s], text, -2, bad))
            elif stale is not None:
                append(Rec("sample", 0, names[s], text, code, common))
            elif src <= last.get(s, -1.0):  # type: ignore[operator]
                append(Rec("sample", 0, names[s], text, code,
                           {"src": src, "stale": "re-delivered (not newer than the last sample)"}))
            else:
                last[s] = src  # type: ignore[assignment]
                append(Rec("sample", 0, names[s], text, code, common))
        return SampleBlock(b, recs, common)

    def _handle(self, items: list[tuple]) -> None:
        """Decide on everything that arrived: input records, one batch per instant, appended.

        Nothing here waits for the archive: what must follow a durable record (a command, an
        operator's answer, the pad's acknowledgement) is queued until the writer has it.
        """
        assert self.seq is not None and self.archive is not None
        pad = self.opts.clock == "pad"
        samples: list[Any] = self._pending if pad else []
        self._pending = []
        pad_instants: list[int] = []
        processed = False
        wall = time.time()
        now_t = self.now()
        for it in items:
            kind = it[0]
            if kind == "dc":
                _, s, raw, good, status, src = it
                if s == -1:  # the pad clock
                    if good and raw.__class__ is int:
                        self._pad_clock_type_bad = False
                        t = self._pad_time(raw)
                        self._process(t, samples or [Rec("tick", t)])
                        samples = []
                        pad_instants.append(raw)
                        processed = True
                    elif not self._pad_clock_type_bad:
                        self._pad_clock_type_bad = True
                        what = f"status {status}" if not good else f"a {type(raw).__name__}, not an integer"
                        self._process(self.seq.t, samples + [Rec("safety", 0, "clock", f"pad clock node sent {what}")])
                        samples = []
                        processed = True
                    continue
                samples.append(self._sample(s, raw, good, status, src, wall, now_t))
                continue
            if kind == "blk":
                _, b, raw, good, status, src = it
                samples.append(self._block(b, raw, good, status, src, wall, now_t))
                continue
            if kind == "op":
                _, name, arg, fut, who = it
                if samples and not pad:
                    self._process(self.now(), samples)
                    samples = []
                ev = self._process(self.now(), [Rec("operator", 0, name, arg or "", data=who)])
                self._waiting.append((self.archive.last_seq, "op", (fut, ev)))
                processed = True
            elif kind == "audit":  # bookkeeping (a request, an approval, an acknowledgement): never an input
                _, name, value, data, fut = it
                rec = Rec("audit", self.seq.t, name, value, data=data, batch=self.batch, tc=self.seq.tc)
                self.archive.append([rec])
                self._waiting.append((self.archive.last_seq, "audit", (rec, fut)))
            elif kind in ("safety", "link_down", "link_up", "stop", "clear"):
                if samples and not pad:
                    self._process(self.now(), samples)
                    samples = []
                t = self.now()
                if kind == "safety":
                    self._process(t, [Rec("safety", 0, it[1], it[2])])
                elif kind == "clear":
                    if it[1] in self.seq.conditions:
                        self._process(t, [Rec("clear", 0, it[1], it[2])])
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
        if any(it[0] in ("dc", "blk") for it in items):
            self._last_data = time.monotonic()
        if pad:
            self._pending = samples
        elif samples:
            self._process(self.now(), samples)
            processed = True
        if not processed and not pad:
            self._process(self.now(), [Rec("tick", 0)])
        if pad_instants:
            self._waiting.append((self.archive.last_seq, "ack", max(pad_instants)))

    def _pad_time(self, raw: int) -> int:
        assert self.seq is not None
        t0 = self.seq.t
        bad = raw < t0 or raw - t0 > self.opts.max_pad_jump_ms
        if bad and not self._pad_clock_bad:
            self.inbox.put_nowait(("safety", "clock", f"pad clock jumped from {t0} ms to {raw} ms"))
        self._pad_clock_bad = bad
        return max(raw, t0) if raw - t0 <= self.opts.max_pad_jump_ms else t0

    async def _release(self) -> None:
        """Act on what is durable now: show events, send commands (re-validated), answer, acknowledge."""
        assert self.seq is not None and self.archive is not None
        self._staged = []
        durable = self._durable
        ready = [w for w in self._waiting if w[0] <= durable]
        if not ready and not self._retry:
            return
        self._waiting = [w for w in self._waiting if w[0] > durable]
        sends: list[Rec] = []
        answers: list[asyncio.Future] = []
        shown: list[Rec] = []  # what the console is told about, once durable
        ack = None
        for _, what, payload in ready:
            if what == "event":
                rec, ev, decided, epoch = payload
                self.recent.append(rec)
                shown.append(rec)
                self.on_event(rec)
                if ev.replay:
                    raise RuntimeError("a replayed event reached the live runtime")  # can never happen
                if ev.kind in ("command", "ignition"):
                    why = self._void(rec, decided, epoch)
                    if why is not None:
                        self._expire(rec, why)
                    elif self.link_state == "up":
                        sends.append(rec)
                    else:  # sent when the link is back (the link loss already holds the count)
                        self._retry[rec.seq] = [rec, 0, time.monotonic(), "link down"]
            elif what == "op":
                answers.append(payload)
            elif what == "audit":
                rec, fut = payload
                self.recent.append(rec)
                shown.append(rec)
                if not fut.done():
                    fut.set_result(rec.seq)
            elif what == "ack":
                ack = payload if ack is None else max(ack, payload)
        now = time.monotonic()
        if self.link_state == "up":
            for seq_, r in sorted(self._retry.items()):
                if r[2] <= now:
                    del self._retry[seq_]
                    if r[1] > 0 or r[3] != "link down":
                        self.archive.append([Rec("resend", self.seq.t, r[0].name, r[0].value,
                                                 data={"command_seq": seq_, "attempt": r[1] + 1, **(r[0].data or {})},
                                                 batch=self.batch, tc=self.seq.tc)])
                    sends.insert(0, r[0])
                    self._attempt = getattr(self, "_attempt", {})
                    self._attempt[seq_] = r[1]
        if shown:
            self._notify(sorted(shown, key=lambda r: r.seq))
        for rec in sends:
            await self._send(rec)
        for fut, ev in answers:
            if not fut.done():
                fut.set_result(self._answer(ev))
        if ack is not None:
            await self._ack(ack)

    def _answer(self, ev: list[LiveEvent]) -> dict[str, Any]:
        assert self.seq is not None and self.archive is not None
        refused = [e.text for e in ev if e.kind == "refused"]
        return {"accepted": not refused, "refused": refused, "events": [e.text for e in ev],
                "mode": self.seq.mode.name, "seq": self.archive.last_seq}

    def _void(self, rec: Rec, decided: float, epoch: int) -> str | None:
        """Why a decided command must not go out now (None: send it). Checked just before sending."""
        assert self.seq is not None
        late = time.monotonic() - decided
        if late > self.opts.command_deadline_s:
            return f"decided {late:.2f}s ago, past its {self.opts.command_deadline_s:g}s deadline"
        if epoch != self._epoch:
            return "a later hold superseded it"
        if self.seq.lasting():
            return "still active: " + "; ".join(self.seq.lasting())
        if rec.name == "ignition":
            p, S = self.plan, self.seq.S
            bad = [p.criteria[c] for c in range(p.C) if p.c_from[c] <= 0 <= p.c_until[c]
                   and int(S[p.CST + c, 0]) != Tri.OK]
            if bad:
                return "criteria no longer OK: " + ", ".join(bad)
        return None

    def _expire(self, rec: Rec, why: str) -> None:
        """A command that will never be sent: archived as such, and the count holds naming it."""
        assert self.seq is not None and self.archive is not None
        text = f"{'IGNITION' if rec.name == 'ignition' else 'command'} '{rec.value}' NOT sent: {why}"
        self.archive.append([Rec("expired", self.seq.t, rec.name, text, data={"command_seq": rec.seq},
                                 batch=self.batch, tc=self.seq.tc)])
        self.expired.append(rec)
        self.note(text)
        self.inbox.put_nowait(("safety", "command", text))

    def _notify(self, recs: list[Rec]) -> None:
        for cb in self.listeners:
            cb(recs)

    async def _send(self, rec: Rec) -> None:
        """One command to the pad; its answer is archived (with the next commit).

        A failure holds the count at once (naming the command and the error) and the command is
        tried again ``command_retries`` times with a doubling backoff; then it is given up, and
        the count holds again saying so. Never a resend storm.
        """
        from asyncua import ua

        assert self.seq is not None and self.archive is not None
        d = rec.data or {}
        m = self.lm.mapping
        attempt = getattr(self, "_attempt", {}).pop(rec.seq, 0)
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
                                     data={"command_seq": rec.seq, "ok": False, "attempt": attempt + 1},
                                     batch=self.batch, tc=self.seq.tc)])
            if attempt + 1 <= self.opts.command_retries and rec.name != "ignition":
                self._retry[rec.seq] = [rec, attempt + 1, time.monotonic() + 0.5 * 2 ** attempt, detail]
                if attempt == 0:
                    self.inbox.put_nowait(("safety", "opcua", detail))
            else:
                self.inbox.put_nowait(("safety", "opcua", f"{detail}; given up after {attempt + 1} attempt(s)"))

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
        # asyncua's stale-subscription watchdog deletes a subscription that has published nothing
        # for max(interval x keep-alive x 1.5, 1 s) -- 1 s at publishing interval 0 -- and makes a
        # new one: what the server had queued for the old one is discarded and the new one starts
        # its sequence numbers again, unseen. The runtime judges silence itself (link_timeout_s:
        # link loss, a hold), so that watchdog is switched off, and a subscription recreated all
        # the same is treated as link loss (below).
        cl._stale_check_interval = 10 ** 9
        if self.opts.security is not None:
            await asyncio.wait_for(self.opts.security.apply_client(cl), m.link.request_timeout_s * 2)
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
        self._sub = sub
        sub_id = sub.subscription_id
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
        blocks: dict[int, str] = {}
        for k, (b, bn) in enumerate(sorted(m.blocks.items())):
            handle = 10_000 + k
            blocks[handle] = b
            entries.append((-2, bn.node))
            mp = ua.MonitoringParameters(ClientHandle=handle, SamplingInterval=0, QueueSize=100, DiscardOldest=True,
                                         Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp))
            reqs.append(ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=self._nid(bn.node), AttributeId=ua.AttributeIds.Value),
                MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=mp))
        nodes_name = {h: (self.plan.sensors[s] if s >= 0 else "the pad clock") for h, s in nodes.items()}
        nodes_name.update({h: f"block {b}" for h, b in blocks.items()})
        self._watch_sequence(cl, sub)
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
            if sub.subscription_id != sub_id:
                raise ConnectionError(f"the subscription was replaced (asyncua recreated {sub_id}): readings the "
                                      "server had queued for it were discarded")
            if ev is None:
                continue
            if isinstance(ev, DataChangeEvent):
                mi = ev.data.monitored_item
                dv = mi.Value
                s = nodes.get(mi.ClientHandle)
                blk = blocks.get(mi.ClientHandle) if s is None else None
                if s is None and blk is None:
                    continue
                code = dv.StatusCode if dv is not None else None
                good = code is not None and code.is_good()
                status = "" if good else (code.name if code is not None else "no value")
                ts = dv.SourceTimestamp or dv.ServerTimestamp if dv is not None else None
                src = None
                if ts is not None:
                    src = (ts if ts.tzinfo is not None else ts.replace(tzinfo=dt.UTC)).timestamp()
                if code is not None and (code.value & OVERFLOW) == OVERFLOW:
                    put(("safety", "overflow", f"the server's queue for {nodes_name.get(mi.ClientHandle)} "
                         "overflowed: readings were lost"))
                if blk is not None:
                    put(("blk", blk, ev.value, good, status, src))
                else:
                    put(("dc", s, ev.value, good, status, src))
            elif isinstance(ev, StatusChangeEvent):
                raise ConnectionError(f"subscription status {ev.notification.Status}")
        if self._done.is_set():
            return
        raise ConnectionError("link lost" if lost.is_set() else "link silent")

    def _watch_sequence(self, cl: Any, sub: Any) -> None:
        """Notification messages are numbered: a gap means the server dropped some (hold, naming it)."""
        callbacks = cl.uaclient._subscription_callbacks
        inner = callbacks.get(sub.subscription_id)
        if inner is None:
            return
        last = [None]

        async def checked(result: Any) -> None:
            msg = result.NotificationMessage
            if msg.NotificationData:
                n = int(msg.SequenceNumber)
                if last[0] is not None and n > last[0] + 1:
                    self.inbox.put_nowait(("safety", "overflow", f"notifications {last[0] + 1}..{n - 1} of the "
                                           "subscription never arrived: readings were lost"))
                last[0] = n
            await inner(result)

        callbacks[sub.subscription_id] = checked

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
                   "clock": self.opts.clock, "restarted": self.restarted,
                   # on the pad's clock the speed is the pad-sim's (pad-ctl status), not --speed
                   "speed": self.opts.speed if self.opts.clock == "wall" else "set by the pad (pad-ctl status)",
                   "recovery": self.recovery or None,
                   "link_security": (self.opts.security.describe() if self.opts.security is not None
                                     else "INSECURE: no OPC UA security (--insecure)")})
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
