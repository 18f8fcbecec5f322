"""``padguard pad-sim``: the digital twin served as an OPC UA pad (asyncua server).

The address space is built from the mapping file: one variable per mapped sensor (its
readings, each sample written with a fresh source timestamp, so an unchanged reading is still
a sample), one ``MoveTo(position)`` method per equipment, ``SetOccupied(bool)`` per personnel
zone and ``Ignite()``. For dry runs the ``dry_run`` nodes add the pad clock (ms since pad
start), a JSON status, and methods to inject and clear faults, change the speed (0 pauses) and
acknowledge samples.

The twin (:class:`~padguard.links.twin.PadTwin`) runs on the wall clock times ``speed``. In
*lockstep* the pad also waits, after each instant it publishes, until a runtime acknowledges
that instant (``Ack(t)``, sent after the runtime archived and acted on it): the twin and the
runtime then share one clock that a stalled process cannot tear apart, so a dry run at
200x on a loaded machine sees the same countdown as one at 1x.

Method handlers are coroutines, so the twin is only ever touched from the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from typing import Any

from padguard.links.mapping import LinkMap
from padguard.links.twin import PadTwin

log = logging.getLogger("padguard.pad")


def quiet_asyncua() -> None:
    """asyncua logs every revised parameter, and a traceback for every lost connection: padguard
    reports link trouble itself (a safety hold naming the error), so keep the console clean."""
    for name in ("asyncua", "asyncua.server", "asyncua.client", "asyncua.common"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def conform_overflow() -> None:
    """Make asyncua's server say when its queue drops a value, as OPC UA Part 4 requires.

    asyncua discards the oldest queued value of a monitored item silently; the standard sets the
    Overflow bit (InfoType DataValue) on the values that follow a loss, so a client can tell. The
    pad-sim patches that in, once per process, so ``padguard run`` is tested against a pad that
    reports loss the way a conforming server does.
    """
    from asyncua import ua
    from asyncua.server.internal_subscription import InternalSubscription

    if getattr(InternalSubscription, "_padguard_overflow", False):
        return
    inner = InternalSubscription._enqueue_event

    async def enqueue(self, mid, eventdata, size, queue):
        if size != 0 and len(queue.get(mid, ())) >= size and isinstance(eventdata, ua.MonitoredItemNotification):
            dv = eventdata.Value
            code = dv.StatusCode.value if dv.StatusCode is not None else 0
            eventdata.Value = ua.DataValue(dv.Value, StatusCode=ua.StatusCode(code | 0x480),
                                           SourceTimestamp=dv.SourceTimestamp, ServerTimestamp=dv.ServerTimestamp)
        await inner(self, mid, eventdata, size, queue)

    InternalSubscription._enqueue_event = enqueue
    InternalSubscription._padguard_overflow = True


def _variant(raw: Any):
    from asyncua import ua

    if isinstance(raw, bool):
        return ua.Variant(raw, ua.VariantType.Boolean)
    if isinstance(raw, int):
        return ua.Variant(raw, ua.VariantType.Int32)
    return ua.Variant(str(raw), ua.VariantType.String)


def _array(raws: list[Any]):
    """A block's value: an Int32 array when the PLC counts, else a String array."""
    from asyncua import ua

    if raws and all(r.__class__ is int for r in raws):
        return ua.Variant(raws, ua.VariantType.Int32)
    return ua.Variant([str(r) for r in raws], ua.VariantType.String)


#: most variables per address-space folder (asyncua's add_node is linear in the parent's children)
FOLDER = 100


class PadServer:
    """Serve a :class:`PadTwin` over OPC UA according to a mapping."""

    def __init__(self, twin: PadTwin, lm: LinkMap, endpoint: str = "opc.tcp://127.0.0.1:4840",
                 speed: float = 1.0, lockstep: bool = False, heartbeat_s: float = 0.2, security: Any = None):
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 pauses the pad)")
        self.twin = twin
        self.lm = lm
        self.endpoint = endpoint
        self.speed = speed
        self.lockstep = lockstep
        self.heartbeat_s = heartbeat_s
        self.security = security  # a LinkSecurity (role "pad"): secured endpoints only
        self.acked = -1  # highest pad time a runtime has acknowledged
        self.ack_count = 0
        self.published = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._base = (0, time.monotonic())
        self.on_instant = None  # optional callback(t_ms) after each published instant
        self._stopping = False
        self._status_at = 0.0

    # ---- lifecycle
    async def start(self) -> str:
        """Build the address space, publish the pad at t = 0 and start its clock. Returns the URL."""
        from asyncua import Server, ua

        quiet_asyncua()
        conform_overflow()
        m = self.lm.mapping
        srv = Server()
        await srv.init()
        srv.set_endpoint(self.endpoint)
        srv.set_server_name(f"padguard pad-sim {m.mapping}")
        idx = await srv.register_namespace(m.namespace)
        self.idx = idx
        nid = self._nid = lambda s: ua.NodeId.from_string(f"ns={idx};{s}")
        objects = srv.nodes.objects
        plan = self.twin.plan
        sensors = await objects.add_folder(ua.NodeId(f"{m.mapping}.folders.sensors", idx), "Sensors")
        self._vars: dict[int, Any] = {}
        # asyncua checks every new reference against all of the parent's (quadratic in the
        # children: 10,000 variables in one folder took minutes), so at most FOLDER per folder
        folder, parent = FOLDER, sensors
        for k, (name, sn) in enumerate(m.sensors.items()):
            if len(m.sensors) > FOLDER and k % FOLDER == 0:
                parent = await sensors.add_folder(ua.NodeId(f"{m.mapping}.folders.sensors.{k // folder}", idx),
                                                  f"Sensors{k // folder}")
            s = plan.sensor_index(name)
            var = await parent.add_variable(nid(sn.node), name, _variant(self._raw(s)))
            self._vars[s] = var.nodeid
        self._blocks: dict[str, tuple[Any, list[Any]]] = {}  # block -> (node id, current raw values)
        self._in_block: dict[int, tuple[str, int]] = {}
        if m.blocks:
            bfolder = await objects.add_folder(ua.NodeId(f"{m.mapping}.folders.blocks", idx), "Blocks")
            for name, bn in m.blocks.items():
                members = self.lm.block_sensors[name]
                vals = [self._raw(s) for s in members]
                var = await bfolder.add_variable(nid(bn.node), name, _array(vals))
                self._blocks[name] = (var.nodeid, vals)
                for k, s in enumerate(members):
                    self._in_block[s] = (name, k)
        equipment = await objects.add_folder(ua.NodeId(f"{m.mapping}.folders.equipment", idx), "Equipment")
        for name, mn in m.commands.items():
            obj = await equipment.add_object(nid(mn.object), name)
            await obj.add_method(nid(mn.method), "MoveTo", self._mover(name),
                                 [ua.VariantType.String], [ua.VariantType.String])
        for name, mn in m.zones.items():
            obj = await objects.add_object(nid(mn.object), name)
            await obj.add_method(nid(mn.method), "SetOccupied", self._occupier(name),
                                 [ua.VariantType.Boolean], [ua.VariantType.String])
        if m.ignition is not None:
            obj = await objects.add_object(nid(m.ignition.object), "launch")
            await obj.add_method(nid(m.ignition.method), "Ignite", self._ignite, [], [ua.VariantType.String])
        self._clock = self._status = None
        if m.dry_run is not None:
            d = m.dry_run
            sim = await objects.add_object(nid(d.object), "sim")
            self._clock = (await sim.add_variable(nid(d.clock), "clock", ua.Variant(0, ua.VariantType.Int64))).nodeid
            self._status = (await sim.add_variable(nid(d.status), "status", "{}")).nodeid
            await sim.add_method(nid(d.ack), "Ack", self._ack, [ua.VariantType.Int64], [ua.VariantType.Int64])
            await sim.add_method(nid(d.inject), "Inject", self._inject, [ua.VariantType.String], [ua.VariantType.String])
            await sim.add_method(nid(d.clear), "Clear", self._clear, [ua.VariantType.String], [ua.VariantType.String])
            await sim.add_method(nid(d.set_speed), "SetSpeed", self._set_speed, [ua.VariantType.Double],
                                 [ua.VariantType.String])
        if self.security is not None:
            from padguard.links.security import OPERATOR, SEQUENCER

            def ident(node: str) -> str:
                return node.split("=", 1)[1]

            rights: dict[str, set[str]] = {}
            for mn in [*m.commands.values(), *m.zones.values(), *([m.ignition] if m.ignition else [])]:
                rights[ident(mn.method)] = {SEQUENCER}
            if m.dry_run is not None:
                rights[ident(m.dry_run.ack)] = {SEQUENCER}
                for node in (m.dry_run.inject, m.dry_run.clear, m.dry_run.set_speed):
                    rights[ident(node)] = {OPERATOR, SEQUENCER}
            await self.security.apply_server(srv, rights)
        self.server = srv
        await srv.start()
        port = srv.bserver.port if srv.bserver is not None else None
        if port:
            host = self.endpoint.split("://", 1)[1].rsplit(":", 1)[0]
            self.endpoint = f"opc.tcp://{host}:{port}"
        await self._publish(self.twin.advance(self.twin.t))
        self._base = (self.twin.t, time.monotonic())
        self._task = asyncio.create_task(self._run())
        return self.endpoint

    async def stop(self) -> None:
        self._stopping = True  # (the loop checks it: Python 3.11's wait_for can swallow a cancel)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        await self.server.stop()

    async def __aenter__(self) -> PadServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the clock
    def _wall_target(self) -> float:
        t0, m0 = self._base
        return t0 + (time.monotonic() - m0) * self.speed * 1000 if self.speed > 0 else float(t0)

    def _rebase(self) -> None:
        self._base = (self.twin.t, time.monotonic())

    async def _wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._wake.clear()

    async def _run(self) -> None:
        last_pub = time.monotonic()
        while not self._stopping:
            now = time.monotonic()
            if self.lockstep and self.acked < self.twin.t:
                if not await self._wait(self.heartbeat_s):
                    await self._heartbeat()
                continue
            nxt = self.twin.next_instant()
            if self.speed <= 0:
                if not await self._wait(self.heartbeat_s):
                    await self._heartbeat()
                continue
            ahead_ms = nxt - self._wall_target()
            if ahead_ms > 0:
                delay = min(ahead_ms / 1000 / self.speed, self.heartbeat_s - (now - last_pub))
                if delay > 0:
                    await self._wait(delay)
                    continue
                await self._heartbeat()
                last_pub = time.monotonic()
                continue
            await self._publish(self.twin.advance(nxt))
            last_pub = time.monotonic()
            if self.on_instant is not None:
                self.on_instant(self.twin.t)
            if not self.lockstep:
                await asyncio.sleep(0)

    async def _heartbeat(self) -> None:
        """Re-send the clock (same value, fresh timestamp): the link is alive while paused."""
        if self._clock is not None:
            await self._write(self._clock, self._clock_variant())

    def _clock_variant(self):
        from asyncua import ua

        return ua.Variant(self.twin.t, ua.VariantType.Int64)

    async def _write(self, nodeid, variant) -> None:
        from asyncua import ua

        now = dt.datetime.now(dt.UTC)
        await self.server.write_attribute_value(nodeid, ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now))

    async def _publish(self, samples: list[tuple[int, str]], status: bool = False) -> None:
        """Write the samples of this instant, then the clock (a runtime reads the instant as done)."""
        dirty: set[str] = set()
        in_block = self._in_block
        for s, name in samples:
            nodeid = self._vars.get(s)
            if nodeid is not None:
                await self._write(nodeid, _variant(self.lm.encode(s, name)))
                self.published += 1
            elif s in in_block:
                b, k = in_block[s]
                self._blocks[b][1][k] = self.lm.encode(s, name)
                dirty.add(b)
        for b in sorted(dirty):  # one write per block: every element is a sample, one timestamp
            nodeid, vals = self._blocks[b]
            await self._write(nodeid, _array(vals))
            self.published += len(vals)
        if self._clock is not None:
            now = time.monotonic()
            if status or now - self._status_at > self.heartbeat_s:  # (a JSON dump per instant is costly)
                self._status_at = now
                await self._write(self._status, _variant(json.dumps(self.status())))
            await self._write(self._clock, self._clock_variant())

    def _raw(self, s: int) -> Any:
        """Sensor ``s``'s current reading as the pad publishes it."""
        p = self.twin.plan
        return self.lm.encode(s, p.decode_sensor(s, int(self.twin.S[p.SVAL + s, 0])))

    def status(self) -> dict[str, Any]:
        return {**self.twin.status(), "speed": self.speed, "lockstep": self.lockstep, "acked_ms": self.acked,
                "published": self.published}

    # ---- method handlers (coroutines: they run on the event loop, never in a thread)
    def _mover(self, equipment: str):
        from asyncua import ua

        async def move(parent, position) -> Any:
            try:
                res = self.twin.move(equipment, str(position.Value))
            except ValueError as exc:
                log.warning("MoveTo %s refused: %s", equipment, exc)
                return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
            await self._publish(self.twin.settle(), True)
            return [ua.Variant(res, ua.VariantType.String)]

        return move

    def _occupier(self, zone: str):
        from asyncua import ua

        async def occupy(parent, occupied) -> Any:
            res = self.twin.set_occupied(zone, bool(occupied.Value))
            await self._publish(self.twin.settle(), True)
            return [ua.Variant(res, ua.VariantType.String)]

        return occupy

    async def _ignite(self, parent) -> Any:
        from asyncua import ua

        haz = self.twin.ignite()
        await self._publish([], True)
        return [ua.Variant(json.dumps(haz), ua.VariantType.String)]

    async def _ack(self, parent, t) -> Any:
        from asyncua import ua

        self.acked = max(self.acked, int(t.Value))
        self.ack_count += 1
        self._wake.set()
        return [ua.Variant(self.twin.t, ua.VariantType.Int64)]

    async def _inject(self, parent, spec) -> Any:
        from asyncua import ua

        from padguard.scenario import ScenarioError, parse_fault

        try:
            sc = parse_fault(self.twin.plan, str(spec.Value))
            if sc.when.count is not None:
                raise ScenarioError("the pad has no count clock: give pad time @+TIME (pad-ctl converts @T-... "
                                    "through the running count)")
            if (sc.when.wall or 0) > 0:  # scheduled at a pad time (ms since pad start)
                if sc.when.wall <= self.twin.t:
                    raise ScenarioError(f"pad time +{sc.when.wall / 1000:g}s has passed (the pad is at "
                                        f"+{self.twin.t / 1000:g}s)")
                self.twin.schedule.append(sc)
                self._wake.set()
                return [ua.Variant(f"scheduled at pad +{sc.when.wall / 1000:g}s", ua.VariantType.String)]
            self.twin.inject(sc.target, sc.value)
        except (ScenarioError, KeyError, ValueError) as exc:
            return [ua.Variant(f"error: {exc}", ua.VariantType.String)]
        await self._publish(self.twin.settle(), True)
        return [ua.Variant("ok", ua.VariantType.String)]

    async def _clear(self, parent, component) -> Any:
        from asyncua import ua

        try:
            self.twin.clear(str(component.Value))
        except ValueError as exc:
            return [ua.Variant(f"error: {exc}", ua.VariantType.String)]
        await self._publish(self.twin.settle(), True)
        return [ua.Variant("ok", ua.VariantType.String)]

    async def _set_speed(self, parent, speed) -> Any:
        from asyncua import ua

        v = float(speed.Value)
        if not v >= 0:
            return [ua.Variant("error: speed must be >= 0", ua.VariantType.String)]
        self._rebase()
        self.speed = v
        self._wake.set()
        return [ua.Variant("ok", ua.VariantType.String)]


async def call_sim(endpoint: str, lm: LinkMap, what: str, arg: Any = None, timeout: float = 5.0,
                   security: Any = None) -> str:
    """Call one of the pad-sim's dry-run methods (inject, clear, set_speed) or read its status."""
    from asyncua import Client, ua

    quiet_asyncua()
    d = lm.mapping.dry_run
    if d is None:
        raise ValueError("the mapping has no dry_run nodes: this is not a padguard pad-sim")
    cl = Client(endpoint, timeout=timeout)
    if security is not None:
        await security.apply_client(cl)
    async with cl:
        idx = await cl.get_namespace_index(lm.mapping.namespace)

        def nid(s: str):
            return ua.NodeId.from_string(f"ns={idx};{s}")

        if what == "status":
            return str(await cl.get_node(nid(d.status)).read_value())
        method = {"inject": d.inject, "clear": d.clear, "set_speed": d.set_speed}[what]
        var = ua.Variant(float(arg), ua.VariantType.Double) if what == "set_speed" else ua.Variant(str(arg), ua.VariantType.String)
        return str(await cl.get_node(nid(d.object)).call_method(nid(method), var))
