"""The risk engine: many sampled countdowns at once, through the one semantics.

A *trial* is one countdown of a compiled Plan with sampled faults and travel times. The
engine runs thousands of trials as the columns of one state array, through exactly the
functions the simulator uses (:func:`padguard.semantics.initial_state`, ``next_event``,
``advance_to``, ``settle`` and :func:`padguard.plant.inject`), jumping from event to event.

How a trial is drawn (the *trial law*, the same for every engine that replays a trial):

* every fault mode of ``faults.yaml`` occurs independently with its per-demand
  ``probability`` (importance sampling draws from a biased law and weights the trial);
* an equipment fault that jams or misplaces the equipment (``jam``, ``wrong_position``) is
  latent from count start: it shows at the equipment's first command (its demand);
* a ``spontaneous`` equipment fault and every sensor fault strike at a whole second drawn
  uniformly from the nominal count (count start to nominal T-0, or to the last step after
  T-0 when the procedure has steps after liftoff, including built-in holds);
* faults striking at the same instant are injected in ``faults.yaml`` order (a later mode of
  the same component replaces an earlier one, as in the simulator);
* every move step gets ``u`` uniform in [0, 1), which :func:`padguard.plant.travel_time`
  turns into a whole number of resolution steps inside the declared [min, max] travel range
  (a step re-issued after a recycle uses the same ``u``); draws are keyed by the move, so two
  procedures of one site replay the same travel for the same moves.

:func:`trial_scenario` turns one drawn trial into the simulator's inputs (fault specs such as
``cabin.stopper:not_installed@+0s`` and ``travel_u``), so any trial can be replayed, narrated
and checked one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Effect, Plan, StepKind
from padguard.engines import risk_graph
from padguard.sequencer.table import FINAL, Mode

#: Effects whose onset is drawn uniformly over the nominal count; the rest are latent from start.
TIMED_EFFECTS = frozenset({Effect.SPONTANEOUS, Effect.STUCK, Effect.DROPOUT, Effect.READS_WRONG})

#: Outcome names (from the semantics) plus the personnel-hazard indicator, in event order.
OUTCOMES = semantics.OUTCOMES
PHAZ_EVENT = len(OUTCOMES)  # index of "personnel_hazard" in the event vector
EVENTS = (*OUTCOMES, "personnel_hazard")

MAX_EVENTS = 100_000  # same per-countdown event limit as the simulator
BATCH = 16384  # columns run together: per-call overhead amortised; 8192 and 32768 measured ~6 % slower


# --------------------------------------------------------------------------------------------
# the trial law


@dataclass(frozen=True)
class TrialLaw:
    """How trials are drawn: fault probabilities, which faults strike at a sampled time, horizon."""

    probs: np.ndarray  # (F,) per-demand probability of each fault mode
    timed: np.ndarray  # (F,) bool: onset drawn uniformly over the nominal count
    horizon_s: int  # nominal count length (start to T-0, or to the last step after it, plus
    #                 built-in holds), whole seconds

    def with_probs(self, probs: np.ndarray) -> TrialLaw:
        return TrialLaw(np.asarray(probs, dtype=np.float64), self.timed, self.horizon_s)


def trial_law(plan: Plan, given: list[str] | tuple[str, ...] = (),
              probs: dict[str, float] | None = None) -> TrialLaw:
    """The trial law of ``plan``: faults.yaml probabilities, with ``given`` faults made certain.

    ``probs`` overrides single probabilities by "component:mode" name (for studies and tests).
    Raises KeyError naming the known faults for an unknown name.
    """
    p = plan.f_prob.astype(np.float64).copy()
    for name, value in (probs or {}).items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"probability of {name} must be in [0, 1], got {value}")
        p[plan.fault_index(name)] = value
    for name in given:
        p[plan.fault_index(name)] = 1.0
    timed = np.array([int(e) in TIMED_EFFECTS for e in plan.f_effect], dtype=bool)
    # The nominal count, and past T-0 to the last step after liftoff (faults can strike while
    # the tail service masts retract or the hold-down releases, not only before ignition).
    end = plan.ign
    if plan.has_flight and plan.n_count:
        end = max(end, int(plan.step_at[:plan.n_count].max()))
    horizon = (end - plan.start + int(plan.h_dur.sum())) // 1000
    return TrialLaw(p, timed, max(int(horizon), 1))


def move_keys(plan: Plan) -> list[tuple[int, int, int]]:
    """One key per move step: (equipment, target position, how many earlier identical moves).

    Travel draws are keyed by move, not by step index, so that two procedures of one site
    replay the same travel times for the same moves (common random numbers in ``--vs``).
    """
    seen: dict[tuple[int, int], int] = {}
    keys = []
    for j in np.flatnonzero(plan.step_kind == StepKind.MOVE):
        k = (int(plan.step_target[j]), int(plan.step_to[j]))
        keys.append((*k, seen.get(k, 0)))
        seen[k] = seen.get(k, 0) + 1
    return keys


@dataclass
class Trials:
    """A batch of drawn trials (columns): fault occurrences and onsets, travel draws, weights."""

    n: int
    occ: np.ndarray  # (F, n) bool: fault mode occurs
    onset: np.ndarray  # (F, n) int64 ms after count start (0 for latent faults); valid where occ
    u: np.ndarray  # (K, n) float64 travel draws, one row per move key
    keys: list[tuple[int, int, int]]  # the move keys of the rows of ``u``
    logw: np.ndarray | None = None  # (n,) log likelihood ratio nominal/proposal, None if crude

    def take(self, idx: np.ndarray) -> Trials:
        return Trials(len(idx), self.occ[:, idx], self.onset[:, idx], self.u[:, idx], self.keys,
                      None if self.logw is None else self.logw[idx])

    def step_rows(self, plan: Plan) -> np.ndarray:
        """(nsteps,) the row of ``u`` holding each step's travel draw (0 for steps that do not move)."""
        rows = np.zeros(len(plan.step_at), dtype=np.int64)
        moves = np.flatnonzero(plan.step_kind == StepKind.MOVE)
        if len(moves):
            index = {k: r for r, k in enumerate(self.keys)}
            rows[moves] = [index[k] for k in move_keys(plan)]
        return rows

    def tr_u(self, plan: Plan) -> np.ndarray:
        """The (nsteps, n) travel draws of ``plan``'s steps (0.5 on steps that do not move)."""
        tr = np.full((len(plan.step_at), self.n), 0.5)
        moves = np.flatnonzero(plan.step_kind == StepKind.MOVE)
        if len(moves):
            index = {k: r for r, k in enumerate(self.keys)}
            tr[moves] = self.u[[index[k] for k in move_keys(plan)]]
        return tr

    @staticmethod
    def concat(parts: list[Trials]) -> Trials:
        """The trials of ``parts`` side by side (same move keys)."""
        if any(t.keys != parts[0].keys for t in parts):
            raise ValueError("trials drawn for different moves cannot be run together")
        logw = None if parts[0].logw is None else np.concatenate([t.logw for t in parts])
        return Trials(sum(t.n for t in parts), np.concatenate([t.occ for t in parts], axis=1),
                      np.concatenate([t.onset for t in parts], axis=1),
                      np.concatenate([t.u for t in parts], axis=1), parts[0].keys, logw)

    @property
    def weights(self) -> np.ndarray | None:
        return None if self.logw is None else np.exp(self.logw)


def _split(n: int, mix: np.ndarray) -> np.ndarray:
    """Deterministic allocation of ``n`` trials to mixture components (largest remainder)."""
    raw = n * np.asarray(mix, dtype=np.float64)
    k = np.floor(raw).astype(np.int64)
    rest = n - int(k.sum())
    if rest:
        k[np.argsort(-(raw - k), kind="stable")[:rest]] += 1
    return k


def draw(plans: Plan | list[Plan], law: TrialLaw, rng: np.random.Generator, n: int,
         proposal: np.ndarray | None = None, mix: np.ndarray | None = None) -> Trials:
    """Draw ``n`` trials from ``law`` (or from ``proposal`` fault probabilities, weighted).

    ``proposal`` is one (F,) vector of occurrence probabilities, or (K, F) for a mixture of
    K product laws with weights ``mix``: component k draws a fixed share ``n_k`` of the trials
    (deterministic allocation) and every trial is weighted by the balance heuristic
    ``p(x) / sum_k (n_k/n) q_k(x)``, which is unbiased and bounded by ``p(x) / ((n_k/n) q_k(x))``
    for every component k (a defensive component keeps every cut set it covers sampled).

    Occurrences are drawn per fault as a binomial count placed on a uniform random subset of
    the trials, which is exactly an i.i.d. Bernoulli draw per trial and costs O(n p). With
    several plans (procedures of one site), travel is drawn for the union of their moves.
    """
    plans = [plans] if isinstance(plans, Plan) else list(plans)
    F = len(plans[0].faults)
    if proposal is None:
        Q = law.probs[None, :]
        sizes = np.array([n])
    else:
        Q = np.atleast_2d(np.asarray(proposal, dtype=np.float64))
        sizes = _split(n, np.ones(len(Q)) / len(Q) if mix is None else mix)
    occ = np.zeros((F, n), dtype=bool)
    onset = np.zeros((F, n), dtype=np.int64)
    lo = 0
    for q, m in zip(Q, sizes, strict=True):
        m = int(m)
        for i in range(F):
            k = int(rng.binomial(m, q[i])) if q[i] < 1.0 else m
            if k == 0:
                continue
            where = lo + (np.arange(m) if k == m else rng.choice(m, size=k, replace=False))
            occ[i, where] = True
            if law.timed[i]:
                onset[i, where] = rng.integers(0, law.horizon_s, size=k) * 1000
        lo += m
    keys: list[tuple[int, int, int]] = []
    for p in plans:
        keys += [k for k in move_keys(p) if k not in keys]
    u = rng.random((len(keys), n))
    logw = None
    if proposal is not None:
        logw = log_likelihood_ratio(law.probs, Q, occ, sizes / max(n, 1))
    return Trials(n, occ, onset, u, keys, logw)


def _log_law(q: np.ndarray, xf: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """log prod_i q_i^x_i (1-q_i)^(1-x_i) per column of ``xf`` over the faults ``keep``.

    Summed row by row in fault order (no BLAS): the same bits on every machine and thread count.
    """
    with np.errstate(divide="ignore"):
        yes = np.log(q[keep])
        no = np.log1p(-q[keep])
    x = xf[keep]
    out = np.full(x.shape[1], float(no.sum()))
    d = yes - no
    for r in range(len(d)):
        out += d[r] * x[r]
    return out


def log_likelihood_ratio(p: np.ndarray, q: np.ndarray, occ: np.ndarray,
                         mix: np.ndarray | None = None) -> np.ndarray:
    """log of p(x) / sum_k mix_k q_k(x) per trial (column of ``occ``), for product Bernoulli laws.

    With one proposal it is prod_i (p_i/q_i)^x_i ((1-p_i)/(1-q_i))^(1-x_i). Faults whose
    proposal equals the nominal law in every component cancel and are left out.
    """
    Q = np.atleast_2d(q)
    w = np.ones(1) if mix is None else np.asarray(mix, dtype=np.float64)
    keep = ~(Q == p[None, :]).all(axis=0)
    xf = occ.astype(np.float64)
    lp = _log_law(p, xf, keep)
    comps = [np.log(w[k]) + _log_law(Q[k], xf, keep) for k in range(len(Q)) if w[k] > 0]
    lq = comps[0] if len(comps) == 1 else np.logaddexp.reduce(np.stack(comps), axis=0)
    return lp - lq


def trial_scenario(plan: Plan, trials: Trials, k: int) -> dict:
    """Trial ``k`` as simulator inputs: ``{"faults": [...], "travel_u": (nsteps, 1) array}``.

    ``padguard.simulate(plan, faults=..., travel_u=...)`` replays it exactly.
    """
    faults = [f"{plan.faults[i]}@+{int(trials.onset[i, k]) // 1000}s"
              for i in np.flatnonzero(trials.occ[:, k])]
    return {"faults": faults, "travel_u": trials.take(np.array([k])).tr_u(plan)}


# --------------------------------------------------------------------------------------------
# running trials through the semantics


_FINAL = np.zeros(len(Mode), dtype=bool)  # mode code -> is a final mode
_FINAL[[int(m) for m in FINAL]] = True


def _final(plan: Plan, S: np.ndarray) -> np.ndarray:
    return _FINAL[S[plan.MODE]]


def run(plan: Plan, trials: Trials, max_events: int = MAX_EVENTS) -> np.ndarray:
    """Run every trial to its end; returns the final state array (D, n)."""
    out = np.empty((plan.layout.size, trials.n), dtype=np.int64)

    def keep(idx: np.ndarray, S: np.ndarray, done: np.ndarray) -> None:
        out[:, idx] = S[:, done]

    _run(plan, trials, max_events, keep)
    return out


RESULT_FIELDS = risk_graph.RESULT_FIELDS


def run_results(plan: Plan, trials: Trials, max_events: int = MAX_EVENTS) -> TrialResults:
    """Run every trial to its end; returns what the statistics need, read from each final
    state the moment its countdown ends (no full state array is kept)."""
    return run_results_many(plan, [trials], max_events)[0]


def run_results_many(plan: Plan, batches: list[Trials], max_events: int = MAX_EVENTS) -> list[TrialResults]:
    """:func:`run_results` of several batches of trials at once.

    A trial whose faults all act from count start (none, or latent ones such as a stopper not
    installed) is a deterministic function of its travel draws: trials sharing such a fault set
    follow that set's graph (:mod:`risk_graph`, the semantics' own transitions tabulated once)
    when there are enough of them to be worth building it. The other trials of every batch run
    through the semantics together, so a few hundred faulty trials per chunk share one event
    loop (columns are independent: the results are the same as batch by batch).
    """
    out = [TrialResults(*(np.empty(t.n, dtype=np.int64) for _ in RESULT_FIELDS)) for t in batches]
    # Per trial: the set of faults it starts with, or -1 if some fault strikes later.
    sets, codes = {}, []
    for t in batches:
        at_start = ~(t.occ & (t.onset > 0)).any(axis=0)
        c = np.full(t.n, -1, dtype=np.int64)
        if at_start.any():
            keys = np.packbits(t.occ[:, at_start], axis=0).T.copy()
            kv = keys.view(np.dtype((np.void, keys.shape[1]))).ravel() if keys.shape[1] else \
                np.zeros(len(keys), dtype=np.dtype((np.void, 1)))
            uniq, inv = np.unique(kv, return_inverse=True)
            ids = np.array([sets.setdefault(u.tobytes(), len(sets)) for u in uniq], dtype=np.int64)
            c[at_start] = ids[inv.ravel()]
        codes.append(c)
    graphs: dict[int, risk_graph.TrialGraph] = {}
    for key, k in sets.items():
        n = sum(int((c == k).sum()) for c in codes)
        faults = tuple(int(f) for f in np.flatnonzero(np.unpackbits(np.frombuffer(key, dtype=np.uint8))[:len(plan.faults)]))
        g = risk_graph.graph_for(plan, n, faults)
        if g is not None and g.depth <= max_events:
            graphs[k] = g
    rest, owner, where = [], [], []
    for b, (t, c) in enumerate(zip(batches, codes, strict=True)):
        walked = np.zeros(t.n, dtype=bool)
        step_rows = t.step_rows(plan) if graphs else None
        for k, g in graphs.items():
            sel = np.flatnonzero(c == k)
            if len(sel):
                rows = risk_graph.walk(g, t.u, sel, step_rows)
                for i, name in enumerate(RESULT_FIELDS):
                    getattr(out[b], name)[sel] = rows[:, i]
                walked[sel] = True
        sel = np.flatnonzero(~walked)
        if len(sel):
            rest.append(t if len(sel) == t.n else t.take(sel))
            owner.append(np.full(len(sel), b))
            where.append(sel)
    if rest:
        _run(plan, rest[0] if len(rest) == 1 else Trials.concat(rest), max_events,
             _keeper(plan, out, np.concatenate(owner), np.concatenate(where)))
    return out


def _keeper(plan: Plan, out: list[TrialResults], owner: np.ndarray, where: np.ndarray):
    """A ``keep`` callback for :func:`_run` writing each finished trial's results to
    ``out[owner[i]]`` at position ``where[i]`` (trial ``i`` of the batch being run)."""

    def keep(idx: np.ndarray, S: np.ndarray, done: np.ndarray) -> None:
        rows = risk_graph.result_rows(plan, S, done)
        ob, wh = owner[idx], where[idx]
        for b in np.unique(ob):
            m = ob == b
            for c, name in enumerate(RESULT_FIELDS):
                getattr(out[b], name)[wh[m]] = rows[m, c]

    return keep


def _run(plan: Plan, trials: Trials, max_events: int, keep) -> None:
    """Trials without faults run as their own batches (no fault bookkeeping at all), in
    batches of :data:`BATCH` columns; ``keep(idx, S, done)`` receives the columns ``done`` of
    ``S`` that just ended, and their trial indices ``idx``."""
    if trials.n == 0:
        return
    faulty = trials.occ.any(axis=0)
    tr_u = trials.tr_u(plan)
    for sel, with_faults in ((np.flatnonzero(~faulty), False), (np.flatnonzero(faulty), True)):
        for lo in range(0, len(sel), BATCH):
            part = sel[lo:lo + BATCH]
            _run_batch(plan, trials.occ[:, part], trials.onset[:, part], tr_u[:, part],
                       with_faults, max_events,
                       lambda idx, S, done, part=part: keep(part[idx], S, done))


def _run_batch(plan: Plan, occ: np.ndarray, onset: np.ndarray, tr_u: np.ndarray,
               with_faults: bool, max_events: int, keep) -> None:
    """Event loop over one batch of columns. A column whose countdown has ended is handed to
    ``keep`` once and never settled again; finished columns are dropped from the arrays when
    they make up a quarter of them (copying on every single finish would cost more)."""
    n = tr_u.shape[1]
    S = semantics.initial_state(plan, n)
    idx = np.arange(n)
    pend = pend_rows = None
    if with_faults:
        # Pending onsets, only for the fault rows that occur somewhere in this batch.
        pend_rows = np.flatnonzero(occ.any(axis=1))
        pend = np.where(occ[pend_rows], onset[pend_rows], NEVER)
        _inject_due(plan, S, pend, pend_rows)
    semantics.settle(plan, S, tr_u=tr_u)
    alive = np.ones(n, dtype=bool)
    events = 0
    while True:
        nxt = semantics.next_event(plan, S)
        if pend is not None:
            nxt = np.minimum(nxt, np.maximum(pend.min(axis=0), S[plan.T]))
        done = alive & (_final(plan, S) | (nxt >= NEVER))
        if events > max_events:  # the simulator's event limit: the countdown stays unfinished
            done = alive.copy()
        if done.any():
            keep(idx[done], S, done)
            alive &= ~done
            n_alive = int(alive.sum())
            if n_alive == 0:
                break
            if n_alive <= 3 * len(alive) // 4:
                S = np.ascontiguousarray(S[:, alive])
                tr_u = np.ascontiguousarray(tr_u[:, alive])
                idx, nxt = idx[alive], nxt[alive]
                if pend is not None:
                    pend = pend[:, alive]
                alive = np.ones(n_alive, dtype=bool)
        if not alive.all():
            # Ended columns stay in the arrays until the next compaction; freeze them on their
            # clock so they are not settled at a new time (their results are already kept).
            nxt = np.where(alive, nxt, S[plan.T])
        semantics.advance_to(plan, S, nxt)
        if pend is not None:
            _inject_due(plan, S, pend, pend_rows)
        semantics.settle(plan, S, tr_u=tr_u)
        events += 1


def _inject_due(plan: Plan, S: np.ndarray, pend: np.ndarray, rows: np.ndarray) -> None:
    """Inject, in fault order, every pending fault (of ``rows``) whose onset has come."""
    T = S[plan.T]
    due_any = (pend <= T).any(axis=1)
    for r in np.flatnonzero(due_any):
        due = pend[r] <= T
        plant.inject(plan, S, int(rows[r]), due)
        pend[r] = np.where(due, NEVER, pend[r])


@dataclass
class TrialResults:
    """Per-trial results extracted from the final states (what the statistics need)."""

    outcome: np.ndarray  # (n,) index into OUTCOMES
    phaz: np.ndarray  # (n,) personnel-hazard zone bitmask
    haz: np.ndarray  # (n,) plume-rule bitmask at ignition
    nholds: np.ndarray
    holdtime: np.ndarray  # ms of unplanned holding
    nrec: np.ndarray
    state: np.ndarray | None = field(default=None, repr=False)


def results(plan: Plan, S: np.ndarray, keep_state: bool = False) -> TrialResults:
    return TrialResults(semantics.outcome_codes(plan, S), S[plan.PHAZ].copy(), S[plan.HAZ].copy(),
                        S[plan.NHOLDS].copy(), S[plan.HOLDTIME].copy(), S[plan.NREC].copy(),
                        S if keep_state else None)


# --------------------------------------------------------------------------------------------
# per-chunk statistics (what a worker sends back; merged in chunk order, so bit-identical)

NHOLDS_CAP = 64  # histogram bins of the number of holds (the last bin collects the rest)


@dataclass
class ChunkStats:
    """Sums over the trials of one chunk for one procedure; additive across chunks."""

    n: int
    count: np.ndarray  # (EV,) trials with each event (outcomes, then personnel hazard)
    wsum: np.ndarray  # (EV,) sum of weights over trials with the event (= count if crude)
    w2sum: np.ndarray  # (EV,) sum of squared weights
    fault_count: np.ndarray  # (F,) trials in which each fault occurred
    fault_w: np.ndarray  # (F,) sum of weights over those trials
    joint_count: np.ndarray  # (EV, F) trials with the event and the fault
    joint_w: np.ndarray  # (EV, F) sum of weights over them
    nholds_hist: np.ndarray  # (NHOLDS_CAP + 1,) trials by number of unplanned holds
    hold_hist: np.ndarray  # trials with unplanned hold time in [s, s + 1) seconds, s >= 0
    hold_ms: int  # total unplanned hold time (ms)
    zone_count: np.ndarray  # (Z,) personnel hazard per zone
    rule_count: np.ndarray  # (R,) ignition with each plume-zone rule violated
    examples: dict[int, dict] = field(default_factory=dict)  # event -> first trial's scenario

    def merge(self, o: ChunkStats) -> ChunkStats:
        h = np.zeros(max(len(self.hold_hist), len(o.hold_hist)), dtype=np.int64)
        h[:len(self.hold_hist)] += self.hold_hist
        h[:len(o.hold_hist)] += o.hold_hist
        ex = dict(self.examples)
        for k, v in o.examples.items():
            ex.setdefault(k, v)
        return ChunkStats(self.n + o.n, self.count + o.count, self.wsum + o.wsum,
                          self.w2sum + o.w2sum, self.fault_count + o.fault_count,
                          self.fault_w + o.fault_w, self.joint_count + o.joint_count,
                          self.joint_w + o.joint_w, self.nholds_hist + o.nholds_hist, h,
                          self.hold_ms + o.hold_ms, self.zone_count + o.zone_count,
                          self.rule_count + o.rule_count, ex)


def event_matrix(plan: Plan, res: TrialResults) -> np.ndarray:
    """(EV, n) bool: which events each trial had (its outcome; personnel hazard)."""
    ev = np.zeros((len(EVENTS), len(res.outcome)), dtype=bool)
    ev[res.outcome, np.arange(len(res.outcome))] = True
    ev[PHAZ_EVENT] = res.phaz != 0
    return ev


def chunk_stats(plan: Plan, trials: Trials, res: TrialResults, examples: bool = True) -> ChunkStats:
    """Reduce one chunk's per-trial results to additive sums."""
    n = trials.n
    ev = event_matrix(plan, res)
    w = trials.weights
    evf = ev.astype(np.float64)
    count = ev.sum(axis=1).astype(np.int64)
    # sums without BLAS (its summation order depends on the thread count): bit-identical
    # results on any executor, whatever OPENBLAS_NUM_THREADS a worker runs with
    wsum = count.astype(np.float64) if w is None else (evf * w).sum(axis=1)
    w2sum = count.astype(np.float64) if w is None else (evf * (w * w)).sum(axis=1)
    fault_count = trials.occ.sum(axis=1).astype(np.int64)
    # Joint event x fault sums only over trials with some fault (few, unless biased).
    some = np.flatnonzero(trials.occ.any(axis=0))
    occ_f = trials.occ[:, some].astype(np.float64)
    ev_f = evf[:, some]
    joint_count = np.einsum("ej,fj->ef", ev_f, occ_f).round().astype(np.int64)
    if w is None:
        fault_w = fault_count.astype(np.float64)
        joint_w = joint_count.astype(np.float64)
    else:
        ws = w[some]
        fault_w = (occ_f * ws).sum(axis=1)
        joint_w = np.einsum("ej,fj->ef", ev_f * ws, occ_f)
    nholds_hist = np.bincount(np.minimum(res.nholds, NHOLDS_CAP), minlength=NHOLDS_CAP + 1)
    held = res.holdtime[res.holdtime > 0]
    hold_hist = np.bincount(held // 1000) if len(held) else np.zeros(0, dtype=np.int64)
    Z, R = len(plan.zones), len(plan.plume)
    zone_count = np.array([int(((res.phaz >> z) & 1).sum()) for z in range(Z)], dtype=np.int64)
    rule_count = np.array([int(((res.haz >> r) & 1).sum()) for r in range(R)], dtype=np.int64)
    ex: dict[int, dict] = {}
    if examples:
        for e in np.flatnonzero(count):
            k = int(np.argmax(ev[e]))
            sc = trial_scenario(plan, trials, k)
            ex[int(e)] = {"faults": sc["faults"], "travel_u": sc["travel_u"][:, 0].tolist()}
    return ChunkStats(n, count, wsum, w2sum, fault_count, fault_w, joint_count, joint_w,
                      nholds_hist.astype(np.int64), hold_hist.astype(np.int64),
                      int(res.holdtime.sum()), zone_count, rule_count, ex)


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: draw ``n`` trials from ``seed`` and run them on every plan."""

    plans: tuple[Plan, ...]
    law: TrialLaw
    proposal: np.ndarray | None
    seed: np.random.SeedSequence
    n: int
    examples: bool = True
    mix: np.ndarray | None = None  # mixture weights when ``proposal`` is (K, F)


_MALLOC_TUNED = False


def tune_malloc() -> bool:
    """Keep freed numpy temporaries in this process's heap (glibc only; once per process).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting any malloc
    threshold switches glibc's dynamic mmap threshold off, so every temporary array above
    128 KiB becomes a fresh mmap, page-faulted in and unmapped on each event: half a Dask
    worker's time went to the kernel. Raising both thresholds here makes a worker behave
    like a plain process whatever environment it was started with. Returns whether it applied.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    import os

    if os.environ.get("PADGUARD_MALLOC_TUNE") == "0":  # for benchmarks/risk_dask.py's contrast run
        return False
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
        ok &= libc.mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1
    except (OSError, AttributeError):
        return False
    _MALLOC_TUNED = bool(ok)
    return _MALLOC_TUNED


def run_chunk(task: ChunkTask) -> tuple[list[ChunkStats], np.ndarray]:
    """Draw and run one chunk; returns per-plan stats and the paired outcome table.

    The paired table counts trials by (outcome under plan 0, outcome under plan 1); with a
    single plan it is the outcome counts on the diagonal. Pure and deterministic in ``task``.
    """
    return run_chunks([task])[0]


def run_chunks(tasks: list[ChunkTask]) -> list[tuple[list[ChunkStats], np.ndarray]]:
    """:func:`run_chunk` of several chunks of the same plans, in one call: each chunk is drawn
    from its own seed exactly as alone, and their trials are run together (the same results
    per chunk, with fewer engine passes)."""
    tune_malloc()
    plans = tasks[0].plans
    if any(t.plans is not plans for t in tasks):
        raise ValueError("chunks run together must share their plans")
    drawn = [draw(list(t.plans), t.law, np.random.default_rng(t.seed), t.n, t.proposal, t.mix)
             for t in tasks]
    per_plan = [run_results_many(plan, drawn) for plan in plans]
    out = []
    for i, (task, trials) in enumerate(zip(tasks, drawn, strict=True)):
        stats = [chunk_stats(plan, trials, per_plan[p][i], task.examples) for p, plan in enumerate(plans)]
        pair = np.zeros((len(OUTCOMES), len(OUTCOMES)), dtype=np.int64)
        np.add.at(pair, (per_plan[0][i].outcome, per_plan[-1][i].outcome), 1)
        out.append((stats, pair))
    return out
