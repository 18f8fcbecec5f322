"""Benchmark: padguard's risk engine against an event-driven SimPy Monte Carlo of Site 31/6.

Baseline: what a competent SimPy user would write. The Site 31/6 countdown implemented
directly in SimPy from the model's YAML (steps, travel ranges, sensors, k-of-n votes, criteria
with debounce, auto resume and recycle, window, point of no return, faults including common
cause), one countdown at a time: equipment travel and fault onsets are SimPy processes, and the
sequencer settles only when something can change (a plant event or its own next deadline),
about 36 settles a countdown; it does not poll. (An earlier version of this benchmark polled
every sensor once a second, 3,901 wake-ups a countdown, and overstated padguard's lead
~100-fold.)

Both run on the same sampled trials (the engine's draw: fault occurrences, onsets, travel),
in one process each. The script checks that they agree trial by trial (every outcome, on
fault-heavy trials and on the model's own law), then prints trials per second and the ratio.

    python benchmarks/risk_vs_simpy.py [--trials 1000000] [--simpy-trials 3000]
                                       [--scale-trials 10000000] [--workers 2]

It also times a full campaign on local processes and two rare-event estimates by importance
sampling (a 1e-9 closed form on a mini pad, and Site 31/6 damage).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import simpy

import padguard as pg
from padguard.engines import risk
from padguard.engines import risk_campaign as rc
from padguard.model.derived import implicit_criteria
from padguard.model.schema import Expr
from padguard.model.validate import fault_members

IN_TRANSIT = "in_transit"
NEVER = 1 << 62
SETTLE = 2  # SimPy event priority of a sequencer settle: after every plant event of the instant
MODES = ("counting", "holding", "terminal")


def ms(x: float) -> int:
    return int(round(x * 1000))


class SimpyCount:
    """One countdown of a padguard model, written in SimPy the way a SimPy user would: event
    driven, from the model's YAML data (not from padguard's compiled tables).

    The pad is a set of SimPy processes (equipment travel, fault onsets). The sequencer is not
    a polling loop: it settles at an instant only when something can change there, i.e. when
    the plant changes (an arrival, a fault) or at its own next deadline (a step, a criterion
    window edge, the point of no return, T-0, a debounce maturing, a dropped-out sensor going
    stale, the window closing during a hold, the auto-recycle time). Settles run after every
    plant event of their instant (a lower SimPy priority), twice when the first one changed
    something, exactly as padguard's semantics documents. Times are integer milliseconds.
    """

    def __init__(self, plan: pg.Plan):
        m = plan.model
        self.site, self.proc = m.site, m.procedure
        if self.proc.holds or any(c.recycle_to for c in self.proc.criteria):
            raise ValueError("the SimPy baseline does not model built-in holds or cutoff criteria")
        self.faults = m.faults.faults
        self.members = [fault_members(m, f) for f in self.faults]
        self.eq = {e.name: e for e in self.site.equipment}
        self.travel = {e.name: {(t.from_, t.to): (ms(t.min), ms(t.max)) for t in e.travel}
                       for e in self.site.equipment}
        self.sensors = {s.name: s for s in self.site.sensors}
        self.limit = {s.name: ms(s.period * s.stale_after) for s in self.site.sensors}
        self.groups = {g.name: g for g in self.site.groups}
        self.steps = sorted(self.proc.steps, key=lambda s: s.at)
        self.step_at = [ms(s.at) for s in self.steps]
        pr = self.proc
        self.ign, self.start = ms(pr.ignition), ms(pr.start)
        self.window_close = ms(pr.ignition - pr.start + pr.window.duration)
        self.pnr = ms(pr.point_of_no_return if pr.point_of_no_return is not None else pr.ignition)
        self.crit = [(c, ms(c.applies.from_), ms(c.applies.until),
                      ms(c.debounce if c.debounce is not None else pr.debounce))
                     for c in list(pr.criteria) + implicit_criteria(m)]
        self.marks = sorted({self.ign} | {a for _, a, _, _ in self.crit} | {u + 1 for _, _, u, _ in self.crit})
        # sensor value/time tables of the current trial, read by the compiled criteria
        self.sval_ref: list[dict[str, str]] = [{}]
        self.stime_ref: list[dict[str, int]] = [{}]
        self.compiled = {c.name: self._compile(c.all or c.any, "all" if c.all else "any")
                         for c, *_ in self.crit}
        auto = pr.auto
        self.recycle_after = ms(auto.recycle_after) if auto.recycle_after is not None else None
        rp = next((r for r in pr.recycle_points if r.name == auto.recycle_to), None)
        self.recycle_at = ms(rp.at) if rp is not None else None

    # ---- one trial
    def run(self, faults: list[tuple[int, int]], travel_u: dict[int, float]) -> str:
        """faults: (fault index, onset ms); travel_u: step index -> u. Returns the outcome."""
        env = self.env = simpy.Environment()
        self.travel_u = travel_u
        self.pos = {e.name: e.initial for e in self.site.equipment}
        self.dest = dict(self.pos)
        self.moving: dict[str, simpy.Process] = {}
        self.efault: dict[str, object] = {}
        self.sfault: dict[str, object] = {}
        self.wrong: dict[str, str] = {}
        self.sval = {s: self._truth(s) for s in self.sensors}
        self.stime = {s: 0 for s in self.sensors}
        self.sval_ref[0], self.stime_ref[0] = self.sval, self.stime
        self.tc, self.mode, self.step = self.start, "counting", 0
        self.holds = self.recycles = 0
        self.hold_start = 0
        self.haz = False
        self.outcome: str | None = None
        self.token = 0
        self.last = 0
        # criteria already OK at count start count as settled
        self.ok_since = {c.name: (-NEVER if self._raw(c) == 2 else None) for c, *_ in self.crit}
        for i, onset in faults:
            if onset == 0:
                self._strike_now(i)
            else:
                env.process(self._strike(i, onset))
        self._schedule(0, plant=True)
        env.run()
        if self.outcome is None:
            return "unfinished"
        return self.outcome

    def _schedule(self, delay: int, plant: bool = False) -> None:
        ev = simpy.Event(self.env)
        ev._ok, ev._value = True, None
        if not plant:
            self.token += 1
        tok = None if plant else self.token
        ev.callbacks.append(lambda _ev: self._settle(tok))
        self.env.schedule(ev, priority=SETTLE, delay=delay)

    # ---- the pad
    def _truth(self, s: str) -> str:
        return self.pos[self.sensors[s].observes]

    def _strike(self, i: int, onset: int):
        yield self.env.timeout(onset)
        self._strike_now(i)
        self._schedule(0, plant=True)

    def _strike_now(self, i: int) -> None:
        f = self.faults[i]
        for c in self.members[i]:
            if c in self.sensors:
                if c not in self.sfault:  # a healthy sensor's last good sample is taken now
                    self.sval[c], self.stime[c] = self._truth(c), int(self.env.now)
                self.sfault[c] = f
                if f.effect == "reads_wrong":
                    dom = self.eq[self.sensors[c].observes].positions + [IN_TRANSIT]
                    self.wrong[c] = f.value or dom[(dom.index(self._truth(c)) + 1) % len(dom)]
            else:
                self.efault[c] = f
                if f.effect == "jam" and c in self.moving:
                    self.moving.pop(c).interrupt()
                    self.pos[c] = IN_TRANSIT
                elif f.effect == "spontaneous":
                    if c in self.moving:
                        self.moving.pop(c).interrupt()
                    self.pos[c] = self.dest[c] = f.to

    def _move(self, e: str, dt: int):
        try:
            yield self.env.timeout(dt)
        except simpy.Interrupt:
            return
        self.moving.pop(e, None)
        f = self.efault.get(e)
        self.pos[e] = f.to if f is not None and f.effect == "wrong_position" else self.dest[e]
        self._schedule(0, plant=True)

    def _command(self, k: int) -> bool:
        """Carry out step k; True if it acts on the pad (not a milestone)."""
        stp = self.steps[k]
        if stp.move is not None:
            e, to = stp.move, stp.to
            if (self.pos[e] == to and e not in self.moving) or (e in self.moving and self.dest[e] == to):
                return True
            f = self.efault.get(e)
            if f is not None and f.effect == "jam":
                return True
            host = self.eq[e].acts_on
            if host is not None and (self.pos[host.equipment] not in host.when or host.equipment in self.moving):
                return True  # a lock cannot move unless its host is in place and at rest
            rng = self.travel[e].get((self.pos[e], to))
            if rng is None:  # from in transit or an undeclared position: the widest range into `to`
                into = [r for (a, b), r in self.travel[e].items() if b == to]
                rng = (min(r[0] for r in into), max(r[1] for r in into))
            lo, hi = rng
            dt = lo + math.floor(self.travel_u[k] * ((hi - lo) // 1000 + 1)) * 1000
            if f is not None and f.effect == "slow":
                dt = hi + ms(f.delay)
            if e in self.moving:
                self.moving.pop(e).interrupt()
            self.pos[e], self.dest[e] = IN_TRANSIT, to
            self.moving[e] = self.env.process(self._move(e, dt))
            return True
        return stp.evacuate is not None or stp.occupy is not None

    # ---- the sequencer
    def _sense(self, now: int) -> None:
        for s in self.sensors:
            f = self.sfault.get(s)
            if f is None:
                self.sval[s], self.stime[s] = self._truth(s), now
            elif f.effect == "stuck":
                self.stime[s] = now
            elif f.effect == "reads_wrong":
                self.sval[s], self.stime[s] = self.wrong[s], now

    def _compile(self, items, op: str):
        """A criterion's expression as nested closures over plain sets (built once)."""
        parts = []
        for i in items:
            if isinstance(i, Expr):
                parts.append(self._compile(i.all or i.any, "all" if i.all else "any"))
            else:
                members = (i.sensor,) if i.sensor else tuple(self.groups[i.group].sensors)
                k = 1 if i.sensor else self.groups[i.group].vote
                parts.append(self._term_fn(members, k, frozenset(i.values())))
        comb = min if op == "all" else max
        return lambda now: comb(f(now) for f in parts)

    def _term_fn(self, members: tuple[str, ...], k: int, accepted: frozenset):
        sval, stime, limit = self.sval_ref, self.stime_ref, self.limit

        def term(now: int) -> int:
            yes = no = 0
            for m in members:
                if now - stime[0][m] <= limit[m]:  # fresh
                    if sval[0][m] in accepted:
                        yes += 1
                    else:
                        no += 1
            return 2 if yes >= k else 0 if no >= k else 1
        return term

    def _raw(self, c, now: int = 0) -> int:
        return self.compiled[c.name](now)

    def _decide(self, now: int) -> bool:
        """One sequencer evaluation; True if it changed mode or acted on the pad."""
        tc, mode = self.tc, self.mode
        blocking = False
        for c, frm, until, deb in self.crit:
            if self._raw(c, now) == 2:
                if self.ok_since[c.name] is None:
                    self.ok_since[c.name] = now
                ok = now - self.ok_since[c.name] >= deb
            else:
                self.ok_since[c.name] = None
                ok = False
            if frm <= tc <= until and not ok:
                blocking = True
        new = None
        if mode in ("holding", "counting") and now + (self.ign - tc) > self.window_close:
            self.mode, self.outcome = "scrubbed", "scrubbed"
            return True
        if mode in ("counting", "terminal"):
            if blocking:
                if mode == "terminal":
                    self.mode, self.outcome = "aborted", "aborted"
                    return True
                new = "holding"
                self.hold_start, self.holds = now, self.holds + 1
            elif tc >= self.ign:
                self.mode = "launched"
                unsafe = any(self.pos[r.equipment] not in r.safe for r in self.site.plume_zone)
                self.outcome = ("pad_damaged" if unsafe else "launched_after_holds"
                                if self.holds or self.recycles else "launched_on_time")
                return True
            elif mode == "counting" and tc >= self.pnr:
                new = "terminal"
        elif mode == "holding":
            if (self.recycle_after is not None and now - self.hold_start >= self.recycle_after
                    and self.recycles < self.proc.auto.max_recycles
                    and now + (self.ign - self.recycle_at) <= self.window_close
                    and self.recycle_at <= tc):
                new = "counting"
                self.tc, self.recycles = self.recycle_at, self.recycles + 1
                self.step = next((k for k, a in enumerate(self.step_at) if a >= self.recycle_at), len(self.steps))
            elif self.proc.auto.resume and not blocking:
                new = "counting"
        if new is not None:
            self.mode = new
        acted = False
        if self.mode in ("counting", "terminal"):
            while self.step < len(self.steps) and self.step_at[self.step] <= self.tc:
                acted |= self._command(self.step)
                self.step += 1
        return new is not None or acted

    def _settle(self, tok: int | None) -> None:
        if self.outcome is not None or (tok is not None and tok != self.token):
            return  # a deadline superseded by a later settle, or the count is over
        now = int(self.env.now)
        if self.mode in ("counting", "terminal"):  # the count clock runs with wall time
            self.tc += now - self.last
        self.last = now
        for _ in range(2):  # a second pass sees the plant's immediate reaction
            self._sense(now)
            if not self._decide(now) or self.outcome is not None:
                break
        if self.outcome is not None:
            return
        nxt = self._next_deadline(now)
        if nxt < NEVER:
            self._schedule(nxt - now)

    def _next_deadline(self, now: int) -> int:
        tc, mode = self.tc, self.mode
        cands = []

        def at_count(target: int) -> None:
            t = now + (target - tc)
            if t > now:
                cands.append(t)

        if mode in ("counting", "terminal"):
            if self.step < len(self.steps):
                at_count(self.step_at[self.step])
            mk = next((m for m in self.marks if m > tc), None)
            if mk is not None:
                at_count(mk)
            if mode == "counting":
                at_count(self.pnr)
        for s, f in self.sfault.items():
            if f.effect == "dropout" and self.stime[s] + self.limit[s] + 1 > now:
                cands.append(self.stime[s] + self.limit[s] + 1)
        for c, _, _, deb in self.crit:
            o = self.ok_since[c.name]
            if o is not None and o >= 0 and o + deb > now:
                cands.append(o + deb)
        if mode == "holding":
            scrub = self.window_close - (self.ign - tc) + 1
            if scrub > now:
                cands.append(scrub)
            if self.recycle_after is not None and self.recycles < self.proc.auto.max_recycles:
                rd = self.hold_start + self.recycle_after
                if rd > now:
                    cands.append(rd)
        return min(cands) if cands else NEVER


def simpy_trials(base: SimpyCount, plan: pg.Plan, trials: risk.Trials, ks: range) -> list[str]:
    tr_u = trials.tr_u(plan)
    out = []
    for k in ks:
        faults = [(int(i), int(trials.onset[i, k])) for i in np.flatnonzero(trials.occ[:, k])]
        out.append(base.run(faults, {j: float(tr_u[j, k]) for j in range(tr_u.shape[0])}))
    return out


MINI = {  # the mini pad of tests/test_risk_models.py: P(pad damaged) = 1e-9 in closed form
    "site.yaml": """site: mini
name: Mini pad
equipment:
  - {name: stopper, kind: lock, positions: [disengaged, engaged], initial: disengaged,
     travel: [{from: disengaged, to: engaged, min: 10s, max: 30s}]}
sensors:
  - {name: stopper_a, observes: stopper, period: 1s, stale_after: 3}
  - {name: stopper_b, observes: stopper, period: 1s, stale_after: 3}
groups: [{name: lock, sensors: [stopper_a, stopper_b], vote: 2}]
plume_zone: [{equipment: stopper, safe: [engaged], hazard: unlocked}]
""",
    "guarded.yaml": """procedure: guarded
site: mini
start: T-5m
window: {duration: 10m}
debounce: 2s
steps: [{at: T-2m, move: stopper, to: engaged}]
criteria: [{name: locked, applies: {from: T-100s, until: T-0}, all: [{group: lock, is: engaged}]}]
""",
    "faults.yaml": """site: mini
faults:
  - {component: stopper, mode: jammed, effect: jam, probability: 1.0e-3}
  - {component: stopper_a, mode: wrong, effect: reads_wrong, value: engaged, probability: 1.0e-3}
  - {component: stopper_b, mode: wrong, effect: reads_wrong, value: engaged, probability: 1.0e-3}
""",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1_000_000, help="trials for the risk engine")
    ap.add_argument("--simpy-trials", type=int, default=3000, help="trials for the SimPy baseline")
    ap.add_argument("--scale-trials", type=int, default=10_000_000,
                    help="trials for the scale-out run (0 to skip)")
    ap.add_argument("--workers", type=int, default=2, help="local processes for the scale-out run")
    args = ap.parse_args()
    plan = pg.compile_model(pg.load("site31", "guarded"))
    law = risk.trial_law(plan)
    base = SimpyCount(plan)

    # 1. Correctness of the baseline: agreement on trials with many faults, both procedures.
    q = np.clip(np.maximum(law.probs * 100, 0.03), 0, 0.5)
    for proc in ("guarded", "legacy"):
        pl = pg.compile_model(pg.load("site31", proc))
        hard = risk.draw(pl, law, np.random.default_rng(7), 1000, proposal=q)
        eng = [risk.OUTCOMES[c] for c in risk.run_results(pl, hard).outcome]
        t0 = time.perf_counter()
        sp = simpy_trials(SimpyCount(pl), pl, hard, range(hard.n))
        t_h = time.perf_counter() - t0
        t0 = time.perf_counter()
        risk.run_results(pl, hard)
        t_e = time.perf_counter() - t0
        agree = sum(a == b for a, b in zip(eng, sp, strict=True))
        print(f"1. {proc}: {agree}/{hard.n} fault-heavy trials with equal outcomes; SimPy "
              f"{hard.n / t_h:,.0f} trials/s, padguard {hard.n / t_e:,.0f} trials/s "
              f"(ratio {t_h / t_e:,.1f}x)")

    # 2. Throughput on the same trials of the model's own law, one process each.
    trials = risk.draw(plan, law, np.random.default_rng(1), args.trials)
    # Like for like: every trial simulated by the event loop (the fault-free graph off).
    os.environ["PADGUARD_RISK_GRAPH"] = "0"
    t0 = time.perf_counter()
    res = risk.run_results(plan, trials)
    t_eng = time.perf_counter() - t0
    # What a user meets: fault-free trials looked up in the tabulated graph (build included).
    os.environ["PADGUARD_RISK_GRAPH"] = "1"
    t0 = time.perf_counter()
    res_g = risk.run_results(plan, trials)
    t_graph = time.perf_counter() - t0
    os.environ.pop("PADGUARD_RISK_GRAPH")
    assert np.array_equal(res.outcome, res_g.outcome) and np.array_equal(res.holdtime, res_g.holdtime)
    k = min(args.simpy_trials, trials.n)
    t0 = time.perf_counter()
    sp = simpy_trials(base, plan, trials, range(k))
    t_sp = time.perf_counter() - t0
    same = sum(risk.OUTCOMES[c] == o for c, o in zip(res.outcome[:k], sp, strict=True))
    eng_rate, sp_rate = trials.n / t_eng, k / t_sp
    print(f"2. site31/guarded, faults.yaml probabilities, seed 1; first {k} trials equal: {same}/{k}")
    print(f"   padguard risk engine (1 process): {trials.n:>10,} trials in {t_eng:7.2f} s = {eng_rate:12,.0f} trials/s")
    print(f"   SimPy baseline (1 process):       {k:>10,} trials in {t_sp:7.2f} s = {sp_rate:12,.1f} trials/s")
    print(f"   ratio (padguard / SimPy):         {eng_rate / sp_rate:12,.0f}x  (every trial simulated)")
    print(f"   padguard with the fault-free graph: {trials.n:>8,} trials in {t_graph:7.2f} s = "
          f"{trials.n / t_graph:12,.0f} trials/s (graph build included; same results), "
          f"{trials.n / t_graph / sp_rate:,.0f}x SimPy: fault-free trials are looked up, not simulated")

    # 3. Scale-out: a full campaign (draw, run, statistics) on local processes.
    if args.scale_trials:
        with rc.executor_for(args.workers) as ex:
            t0 = time.perf_counter()
            r = rc.campaign([plan], args.scale_trials, seed=1, method="crude", executor=ex)
            t = time.perf_counter() - t0
        o = r.to_dict()["procedures"][0]["outcomes"]
        print(f"3. campaign of {args.scale_trials:,} site31/guarded trials on {args.workers} processes: "
              f"{t:.1f} s ({args.scale_trials / t:,.0f} trials/s); P(scrubbed) = {o['scrubbed']['p']:.5f}")

    # 4. Rare events by importance sampling.
    with tempfile.TemporaryDirectory() as d:
        for name, text in MINI.items():
            Path(d, name).write_text(text)
        mini = pg.compile_model(pg.load(d, "guarded"))
        t0 = time.perf_counter()
        rr = rc.rare_event(mini, risk.trial_law(mini), "pad_damaged", seed=1, target_re=0.05)
        t = time.perf_counter() - t0
    e = rr.estimate
    print(f"4. mini pad, closed form P(pad damaged) = 1e-9: importance sampling {e.p:.4g} "
          f"(relative error {e.rel_err:.1%}, 95 % [{e.lo:.3g}, {e.hi:.3g}]) in {t:.1f} s, "
          f"{e.trials + rr.pilot_trials:,} trials")
    t0 = time.perf_counter()
    rr = rc.rare_event(plan, law, "pad_damaged", seed=1, target_re=0.05)
    t = time.perf_counter() - t0
    e = rr.estimate
    print(f"   site31/guarded P(pad damaged): {e.p:.3g} (relative error {e.rel_err:.1%}) in {t:.1f} s, "
          f"{e.trials + rr.pilot_trials:,} trials")


if __name__ == "__main__":
    main()
