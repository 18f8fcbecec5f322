"""The live sequencer: the Plan's sequencer rules fed by timestamped records. Pure, no I/O.

A :class:`Sequencer` holds one countdown's state array (N = 1) and consumes *input records*
(:class:`Rec`), one instant (a *batch*) at a time: sensor samples, ticks, operator commands,
fail-safe conditions. For each batch it moves the clock with :func:`semantics.advance_to`,
writes the samples into the sequencer rows (SVAL/STIME), and decides with
:func:`padguard.sequencer.rules.decide`, exactly as the simulator does; the plant rows are not
used (the real pad is the plant). It returns :class:`LiveEvent` s: criterion changes, holds,
resumes, recycles and the equipment commands issued now, which the runtime sends over the link.

The same object runs live (the runtime builds records from the link and the wall clock),
restores a count after a crash (the archived records of the count, applied again) and replays
an archive (``padguard replay``, flagged ``replay``); only where the records come from differs.

Fail safe, on top of the criteria (which already hold on violated or unknown):

* a watched sensor silent past its staleness limit, a malformed or out-of-range value, link
  loss, a clock jump, an OPC UA error, a restart after a crash and any internal error hold the
  count (an operator hold through the transition table: past the point of no return that is an
  abort, as for any hold);
* such a *safety hold* is resumed only by an operator, and a resume or recycle is refused while
  a lasting condition (link lost, a sensor silent or malformed) is still active;
* a safety hold that strikes while the count is already held turns that hold into an operator
  hold (REASON = OPERATOR_REASON), so an automatic resume cannot end it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard import semantics
from padguard.compile import NEVER, NO_REASON, OPERATOR_REASON, Plan, StepKind, Tri
from padguard.model.times import format_count_time
from padguard.records import Rec
from padguard.sequencer import rules
from padguard.sequencer.explain import describe_readings, explain_criterion
from padguard.sequencer.table import FINAL, NEXT, Mode, Trigger
from padguard.view import OneCountdown

OPS = {"hold": Trigger.OPERATOR_HOLD, "resume": Trigger.RESUME, "recycle": Trigger.RECYCLE,
       "scrub": Trigger.OPERATOR_SCRUB, "abort": Trigger.OPERATOR_ABORT}
#: Input record kinds (everything else in an archive is output or bookkeeping).
INPUTS = ("start", "sample", "tick", "operator", "safety", "clear")
#: Conditions that block a resume until they clear; the others hold once (they are instants).
LASTING = ("link", "stale", "malformed", "archive")
SAFETY_CAUSES = ("link", "stale", "malformed", "clock", "opcua", "internal", "restart", "stopped", "archive",
                 "overflow", "command")
TRI = {Tri.OK: "OK", Tri.UNKNOWN: "UNKNOWN", Tri.VIOLATED: "VIOLATED"}


@dataclass
class LiveEvent:
    """Something the sequencer decided or noticed at one instant."""

    t: int
    tc: int
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    replay: bool = False

    def to_rec(self) -> Rec:
        data = dict(self.data)
        if self.replay:
            data["replay"] = True
        return Rec("event", self.t, self.kind, self.text, None, data or None, tc=self.tc)

    def key(self) -> tuple:
        """What must match between a live count and its replay."""
        return (self.t, self.tc, self.kind, self.text)


class Sequencer(OneCountdown):
    """One live countdown: records in, events out (see the module docstring)."""

    def __init__(self, plan: Plan, watched: Sequence[int] | None = None, *, replay: bool = False):
        self.plan = plan
        self.replay = replay
        self.watched = np.array(sorted(range(plan.S) if watched is None else watched), dtype=np.int64)
        S = semantics.initial_state(plan, 1)
        # Live, nothing has been sensed at count start: every reading is "no data" (the plant
        # rows initial_state filled are not used), so every criterion starts UNKNOWN.
        S[plan.SVAL:plan.SVAL + plan.S] = -1
        S[plan.STIME:plan.STIME + plan.S] = 0
        if plan.C:
            raw = rules.evaluate(plan, S)
            S[plan.OKS:plan.OKS + plan.C] = np.where(raw == Tri.OK, -NEVER, -1)
            S[plan.CST:plan.CST + plan.C] = raw
        self.S = S
        self.conditions: dict[str, str] = {}
        self.fault: str | None = None
        self.batches = 0
        self._cst = S[plan.CST:plan.CST + plan.C, 0].copy()
        self._last_hold: dict[str, Any] = {}
        self._sidx = {n: i for i, n in enumerate(plan.sensors)}

    # ---- views
    @property
    def final(self) -> bool:
        return self.mode in FINAL

    def lasting(self) -> list[str]:
        return [k for k in self.conditions if k.split(":")[0] in LASTING]

    def status(self) -> dict[str, Any]:
        """The state an operator console shows."""
        p, S = self.plan, self.S
        crits = []
        for c in range(p.C):
            applies = bool(p.c_from[c] <= self.tc <= p.c_until[c])
            crits.append({"criterion": p.criteria[c], "state": TRI[Tri(int(S[p.CST + c, 0]))],
                          "applies": applies})
        step = int(S[p.STEP, 0])
        return {"mode": self.mode.name, "t_ms": self.t, "tc_ms": self.tc,
                "count": format_count_time(self.tc / 1000),
                "reason": p.hold_reason_text(int(S[p.REASON, 0])) if self.mode == Mode.HOLDING else None,
                "conditions": dict(self.conditions), "fault": self.fault, "criteria": crits,
                "next_step": p.steps[step] if step < p.n_count else None,  # (safing steps follow)
                "holds": int(S[p.NHOLDS, 0]), "hold_time_s": int(S[p.HOLDTIME, 0]) / 1000,
                "recycles": int(S[p.NREC, 0]), "replay": self.replay,
                "outcome": semantics.OUTCOMES[int(semantics.outcome_codes(p, S)[0])] if self.final else None}

    def next_deadline(self) -> int:
        """The earliest future time (ms) at which a tick could change anything, NEVER if none.

        The sequencer's own events from :func:`semantics.next_event`, plus the moment a watched
        sensor would go stale (live, every sensor can fall silent, not only a dropped-out one).
        """
        p, S = self.plan, self.S
        nxt = int(semantics.next_event(p, S)[0])
        if self.final:
            return NEVER
        if len(self.watched):
            stale_at = S[p.STIME + self.watched, 0] + p.s_limit[self.watched] + 1
            later = stale_at[stale_at > self.t]
            if len(later):
                nxt = min(nxt, int(later.min()))
        return nxt

    # ---- snapshots (to restart from an archive without re-reading all of it)
    def snapshot(self) -> dict[str, Any]:
        return {"S": self.S[:, 0].tolist(), "conditions": dict(self.conditions), "fault": self.fault,
                "cst": self._cst.tolist(), "batches": self.batches}

    def restore(self, snap: dict[str, Any]) -> None:
        col = np.asarray(snap["S"], dtype=np.int64)
        if col.shape != (self.S.shape[0],):
            raise ValueError(f"snapshot has {col.shape[0]} state rows, this plan has {self.S.shape[0]}")
        self.S[:, 0] = col
        self.conditions = dict(snap["conditions"])
        self.fault = snap.get("fault")
        self._cst = np.asarray(snap["cst"], dtype=np.int64)
        self.batches = int(snap.get("batches", 0))

    # ---- conveniences over apply (the runtime builds records itself, to archive them)
    def samples(self, t: int, readings: dict[str, str]) -> list[LiveEvent]:
        """Readings by sensor name (position names; anything else is malformed) at time ``t``."""
        p = self.plan
        return self.apply([Rec("sample", t, n, v, p.encode_sensor(self._sidx[n], v)) for n, v in readings.items()])

    def tick(self, t: int) -> list[LiveEvent]:
        return self.apply([Rec("tick", t)])

    def command(self, t: int, name: str, arg: str | None = None) -> list[LiveEvent]:
        """An operator command: hold, resume, recycle [point], scrub, abort."""
        return self.apply([Rec("operator", t, name, arg or "")])

    # ---- the one entry point
    def apply(self, batch: Sequence[Rec]) -> list[LiveEvent]:
        """Process one instant: every record of ``batch`` has the same ``t``. Never raises.

        Samples are written first, then fail-safe conditions, then one operator command (if
        any), then the sequencer decides. Any internal error holds the count.
        """
        self.batches += 1
        ev: list[LiveEvent] = []
        try:
            for part in split_repeats(batch):
                self._apply(part, ev)
        except Exception as exc:  # noqa: BLE001 - fail safe: every internal error holds
            self._internal_error(exc, ev)
        if self.replay:
            for e in ev:
                e.replay = True
        return ev

    def _ev(self, ev: list[LiveEvent], kind: str, text: str, **data: Any) -> None:
        ev.append(LiveEvent(self.t, self.tc, kind, text, data))

    def _apply(self, batch: Sequence[Rec], ev: list[LiveEvent]) -> None:
        p, S = self.plan, self.S
        if not batch:
            return
        t = int(batch[0].t)
        if any(int(r.t) != t for r in batch):
            raise ValueError("a batch mixes instants")
        if t < self.t:
            # Never move the clock back: hold at the current time instead.
            self._raise(ev, "clock", f"time went back from {self.t} ms to {t} ms")
            self._decide(ev, hold=True)
            return
        semantics.advance_to(p, S, np.array([t], dtype=np.int64))
        samples: dict[int, int] = {}
        taken: dict[int, int] = {}  # sensor -> count time the sample was taken (its own timestamp)
        op: Rec | None = None
        hold = False
        for r in batch:
            k = r.kind
            if k == "sample":
                d = r.data
                if d is not None:
                    if d.get("stale"):  # archived, but not fresh (re-delivered, too old, from the future)
                        continue
                    if "st" in d:
                        taken[self._sidx[r.name]] = min(t, int(d["st"]))
                samples[self._sidx[r.name]] = -2 if r.code is None else int(r.code)
            elif k == "safety":
                cause = r.name if r.name in SAFETY_CAUSES else "internal"
                if cause == "restart" and len(self.watched):
                    # After a restart nothing the count saw before is evidence any more: every
                    # watched reading is unknown until a genuinely new sample arrives.
                    S[p.SVAL + self.watched, 0] = -1
                hold |= self._raise(ev, cause, r.value)
            elif k == "clear":
                if self.conditions.pop(r.name, None) is not None:
                    self._ev(ev, "condition", f"condition cleared: {r.name}", condition=r.name, active=False)
            elif k == "operator":
                op = r
            elif k in ("start", "tick"):
                pass
            else:
                raise ValueError(f"not an input record: {k}")
        if samples:
            idx = np.fromiter(samples.keys(), dtype=np.int64, count=len(samples))
            codes = np.fromiter(samples.values(), dtype=np.int64, count=len(samples))
            S[p.SVAL + idx, 0] = codes
            S[p.STIME + idx, 0] = t
            for s_, st in taken.items():
                S[p.STIME + s_, 0] = st
            dom = p.transit[p.s_equip[idx]] + 1
            bad = (codes < 0) | (codes >= dom)
            # only a bad sample, or one of a sensor with a condition to clear, needs a look (in
            # batch order); with 10,000 sensors a batch the rest must cost nothing here
            look = bad
            if self.conditions:
                flagged = [self._sidx.get(k.split(":", 1)[1], -1) for k in self.conditions
                           if k.startswith(("malformed:", "stale:"))]
                if flagged:
                    look = bad | np.isin(idx, np.array(flagged, dtype=np.int64))
            for s, b in zip(idx[look].tolist(), bad[look].tolist(), strict=True):
                name = p.sensors[s]
                if b:
                    hold |= self._raise(ev, f"malformed:{name}", f"{name} sent a malformed or out-of-range value")
                else:
                    for key in (f"malformed:{name}", f"stale:{name}"):
                        if self.conditions.pop(key, None) is not None:
                            self._ev(ev, "condition", f"condition cleared: {key}", condition=key, active=False)
        if len(self.watched):
            age = t - S[p.STIME + self.watched, 0]
            for s in self.watched[age > p.s_limit[self.watched]].tolist():
                name = p.sensors[s]
                if f"stale:{name}" not in self.conditions:
                    hold |= self._raise(ev, f"stale:{name}", f"{name} silent for {(t - int(S[p.STIME + s, 0])) / 1000:.1f}s "
                                        f"(limit {int(p.s_limit[s]) / 1000:.1f}s)")
        if op is not None and hold:
            self._ev(ev, "refused", f"operator {op.name} not applied: a safety hold takes precedence",
                     command=op.name)
            op = None
        self._decide(ev, hold=hold, op=op)

    def _raise(self, ev: list[LiveEvent], key: str, detail: str) -> bool:
        """Note a fail-safe condition; True when it is new (and so must hold the count)."""
        kind = key.split(":")[0]
        if kind in LASTING:
            if key in self.conditions:
                return False
            self.conditions[key] = detail
        self._ev(ev, "condition", f"condition: {key}: {detail}", condition=key, detail=detail, active=True)
        self._last_hold = {"cause": key, "detail": detail}
        return True

    def _decide(self, ev: list[LiveEvent], hold: bool = False, op: Rec | None = None) -> None:
        p, S = self.plan, self.S
        mode0 = self.mode
        opa = oparg = None
        if op is not None:
            name = op.name
            self._ev(ev, "operator", f"operator: {name}{' ' + op.value if op.value else ''}",
                     command=name, arg=op.value or None, **(op.data or {}))
            why = None
            self._recycle_point: int | None = None
            if name not in OPS:
                why = f"unknown command '{name}' (known: {', '.join(OPS)})"
            elif name in ("resume", "recycle") and self.lasting():
                why = "still active: " + "; ".join(self.conditions[k] for k in self.lasting())
            elif name == "recycle":
                target = op.value or (p.recycle_points[p.auto_recycle_to] if p.auto_recycle_to >= 0 else "")
                if target not in p.recycle_points:
                    why = f"unknown recycle point '{target}' (known: {', '.join(p.recycle_points) or 'none'})"
                else:
                    oparg = np.array([p.recycle_points.index(target)])
                    self._recycle_point = int(oparg[0])
            if why is not None:
                self._ev(ev, "refused", f"operator {name} refused: {why}", command=name, why=why)
            else:
                opa = np.array([OPS[name]])
        if hold and mode0 == Mode.HOLDING:
            # Already held: the table has no hold-while-holding edge, so make this hold one that
            # only an operator ends (before deciding, so no automatic resume can slip through).
            opa = oparg = None
            if int(S[p.REASON, 0]) != OPERATOR_REASON:
                S[p.REASON, 0] = OPERATOR_REASON
                self._ev(ev, "safety", f"SAFETY HOLD: {self._last_hold.get('detail', '')} -- the hold now "
                         "needs an operator resume", safety=True, **self._last_hold)
        elif hold:
            opa, oparg = np.array([Trigger.OPERATOR_HOLD]), None
        before = S[:, 0].copy()
        triggers: list[int] = []
        refused = False
        nsteps = len(p.steps)
        issued = np.zeros(nsteps, dtype=bool)
        for pas in range(semantics.PASSES):
            d = rules.decide(p, S, opa if pas == 0 else None, oparg if pas == 0 else None)
            tr = int(d.trigger[0])
            if pas == 0:
                refused = bool(d.refused[0])
            if nsteps:
                issued |= d.issued[:, 0]
            if tr < 0:
                break
            triggers.append(tr)
        if refused and op is not None and not hold:
            self._ev(ev, "refused", f"operator {op.name} refused in {mode0.name}" + self._refusal(mode0, op.name),
                     command=op.name)
        for tr in triggers:
            if tr != Trigger.SEQUENCE_DONE:  # narrated after the sequence's last commands
                self._transition(ev, Trigger(tr), mode0, before, hold)
        for j in np.flatnonzero(issued):
            kind = int(p.step_kind[j])
            if kind == StepKind.MILESTONE:
                self._ev(ev, "milestone", p.steps[j], step=int(j))
            else:
                tgt = int(p.step_target[j])
                if kind == StepKind.MOVE:
                    target, value, what = p.equipment[tgt], p.positions[tgt][int(p.step_to[j])], "move"
                else:
                    target = p.zones[tgt]
                    value = "occupied" if kind == StepKind.OCCUPY else "evacuated"
                    what = "occupy" if kind == StepKind.OCCUPY else "evacuate"
                self._ev(ev, "command", f"command: {p.steps[j]}", step=int(j), action=what,
                         target=target, value=value)
        if Trigger.SEQUENCE_DONE in triggers:
            self._transition(ev, Trigger.SEQUENCE_DONE, mode0, before, hold)
        cst = S[p.CST:p.CST + p.C, 0]
        for c in np.flatnonzero(cst != self._cst):
            if p.c_from[c] <= self.tc <= p.c_until[c]:
                ex = explain_criterion(p, S, int(c))
                self._ev(ev, "criterion", f"criterion {p.criteria[c]}: {ex['state']}",
                         criterion=p.criteria[c], state=ex["state"])
        self._cst = cst.copy()

    def _refusal(self, mode0: Mode, name: str) -> str:
        p, S = self.plan, self.S
        if NEXT[mode0, OPS[name]] < 0:
            return f" (not allowed from {mode0.name})"
        if name == "resume":
            if S[p.HOLD_UNTIL, 0] > self.t:
                return " (built-in hold still running)"
            blocking = [p.criteria[c] for c in range(p.C)
                        if p.c_from[c] <= self.tc <= p.c_until[c] and S[p.CST + c, 0] != Tri.OK]
            if blocking:
                return f" (not OK: {', '.join(blocking)})"
        if name == "recycle" and self._recycle_point is not None:
            return rules.recycle_refusal(p, self.t, self.tc, self._recycle_point)
        return ""

    def _transition(self, ev: list[LiveEvent], tr: Trigger, mode0: Mode, before: np.ndarray, safety: bool) -> None:
        p, S = self.plan, self.S
        reason = int(S[p.REASON, 0])
        held = self.mode == Mode.HOLDING
        if tr == Trigger.AUTO_HOLD and 0 <= reason < p.C:
            ex = explain_criterion(p, S, reason)
            verb = "AUTOMATIC HOLD" if held else "ABORT"
            self._ev(ev, "hold" if held else "abort",
                     f"{verb}: criterion {ex['criterion']} is {ex['state']} -- seen: {describe_readings(ex)}. "
                     f"Clears when {ex['clears_when']}.", **ex)
        elif tr == Trigger.CUTOFF:
            # the cutoff criterion that is not OK (the count has already recycled past its window)
            reason = next((c for c in range(p.C) if p.c_recycle[c] >= 0 and S[p.CST + c, 0] != 2), 0)
            ex = explain_criterion(p, S, reason)
            self._ev(ev, "cutoff", f"CUTOFF: criterion {ex['criterion']} is {ex['state']} -- seen: "
                     f"{describe_readings(ex)}. Count recycled to {format_count_time(self.tc / 1000)}."
                     "", cutoff=True, **ex)
        elif tr == Trigger.BUILTIN_HOLD:
            self._ev(ev, "hold", f"built-in hold: {p.hold_reason_text(reason)} "
                     f"({(int(S[p.HOLD_UNTIL, 0]) - self.t) // 1000}s)", builtin=True)
        elif tr == Trigger.OPERATOR_HOLD and safety:
            why = self._last_hold.get("detail", "")
            if held:
                self._ev(ev, "hold", f"SAFETY HOLD: {why} -- resume needs an operator", safety=True, **self._last_hold)
            else:
                self._ev(ev, "abort", f"ABORT: {why} past the point of no return", safety=True, **self._last_hold)
        elif tr == Trigger.OPERATOR_HOLD:
            self._ev(ev, "hold" if held else "abort",
                     "operator hold" if held else "operator hold past the point of no return: ABORT")
        elif tr == Trigger.RESUME:
            self._ev(ev, "resume", f"count resumes at {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.RECYCLE:
            self._ev(ev, "recycle", f"RECYCLE: count clock reset to {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.PNR:
            self._ev(ev, "pnr", "point of no return passed: from here a violation aborts")
        elif tr == Trigger.IGNITION:
            self._ev(ev, "ignition", "IGNITION commanded", ignite=True)
        elif tr == Trigger.WINDOW_CLOSED:
            self._ev(ev, "scrub", f"SCRUB: launch window closed during the hold ({p.hold_reason_text(reason)})")
        elif tr == Trigger.OPERATOR_SCRUB:
            self._ev(ev, "scrub", "SCRUB by operator")
        elif tr == Trigger.OPERATOR_ABORT:
            self._ev(ev, "abort", "ABORT by operator")
        elif tr == Trigger.SEQUENCE_DONE:
            self._ev(ev, "safed" if self.mode == Mode.ABORTED else "sequence_done",
                     "SAFED: safing sequence issued" if self.mode == Mode.ABORTED else
                     "steps after liftoff issued")

    def _internal_error(self, exc: Exception, ev: list[LiveEvent]) -> None:
        """Hold (through the table when it still works, by hand when it does not)."""
        p, S = self.plan, self.S
        self.fault = f"{type(exc).__name__}: {exc}"
        ev[:] = [e for e in ev if e.kind != "command"]  # nothing from a broken instant is sent
        self._last_hold = {"cause": "internal", "detail": f"internal error ({self.fault})"}
        self._ev(ev, "condition", f"condition: internal: {self.fault}", condition="internal",
                 detail=self.fault, active=True)
        mode = int(S[p.MODE, 0])
        try:
            d = rules.decide(p, S, np.array([Trigger.OPERATOR_HOLD]), None)
            if int(d.trigger[0]) == Trigger.OPERATOR_HOLD:
                self._transition(ev, Trigger.OPERATOR_HOLD, Mode(mode), S[:, 0].copy(), True)
            elif int(S[p.MODE, 0]) == Mode.HOLDING:
                S[p.REASON, 0] = OPERATOR_REASON
            return
        except Exception:  # noqa: BLE001 - the rules themselves fail: hold by the table, by hand
            pass
        new = int(NEXT[mode, Trigger.OPERATOR_HOLD])
        if new >= 0:
            S[p.MODE, 0] = new
            S[p.HOLD_START, 0] = S[p.T, 0]
            S[p.HOLD_UNTIL, 0] = -1
        if int(S[p.MODE, 0]) == Mode.HOLDING:
            S[p.REASON, 0] = OPERATOR_REASON
        self._ev(ev, "hold" if int(S[p.MODE, 0]) == Mode.HOLDING else "abort",
                 f"SAFETY HOLD: internal error ({self.fault})", safety=True)


def split_repeats(batch: Sequence[Rec]) -> list[Sequence[Rec]]:
    """Cut a batch where a sensor's value changes within it, so every value is evaluated in order
    (a transient violation followed, in the same drain, by a good value still holds the count)."""
    seen: dict[str, int | None] = {}
    cuts = [0]
    for i, r in enumerate(batch):
        if r.kind == "sample":
            if r.data is not None and r.data.get("stale"):
                continue  # (not evaluated at all)
            # a repeat of the same value adds nothing to evaluate (the later one refreshes the time)
            if r.name in seen and seen[r.name] != r.code:
                cuts.append(i)
                seen = {}
            seen[r.name] = r.code
    if len(cuts) == 1:
        return [batch]
    cuts.append(len(batch))
    return [batch[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def replay(plan: Plan, records: Sequence[Rec], watched: Sequence[int] | None = None) -> tuple[Sequencer, list[LiveEvent]]:
    """Run archived input records back through a fresh Sequencer flagged ``replay``."""
    seq = Sequencer(plan, watched, replay=True)
    out: list[LiveEvent] = []
    for batch in batches(records):
        out.extend(seq.apply(batch))
    return seq, out


def batches(records: Sequence[Rec]) -> list[list[Rec]]:
    """Group input records by batch (outputs and bookkeeping are skipped)."""
    out: list[list[Rec]] = []
    cur: list[Rec] = []
    cur_b = None
    for r in records:
        if r.kind not in INPUTS:
            continue
        if cur and r.batch != cur_b:
            out.append(cur)
            cur = []
        cur_b = r.batch
        cur.append(r)
    if cur:
        out.append(cur)
    return out


__all__ = ["INPUTS", "LASTING", "NO_REASON", "OPS", "LiveEvent", "Rec", "Sequencer", "batches", "replay"]
