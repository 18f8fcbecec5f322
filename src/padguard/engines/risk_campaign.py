"""Risk campaigns: chunks of trials on an executor, rare-event estimation, summaries.

A campaign splits its trials into fixed-size chunks. Chunk ``k`` of a stage draws from
``SeedSequence(seed, spawn_key=(stage...)).spawn(n_chunks)[k]`` and is reduced to additive sums;
the sums are merged in chunk order. So for a given seed the numbers are bit-identical whether
the chunks run in this process, in ``--workers`` local processes, or on a Dask cluster through
its ``concurrent.futures`` executor: the chunking never depends on the number of workers.

Rare events (pad damage under a guarded procedure may be 1e-9) use importance sampling: fault
occurrence probabilities are raised to a proposal tuned by the cross-entropy method on pilot
runs, every trial carries its likelihood ratio, and the estimate comes with its standard error
from the sample variance of the weighted indicator (the honest relative error).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard.compile import Plan
from padguard.engines import risk_stats as rs
from padguard.engines.risk import (
    EVENTS,
    OUTCOMES,
    ChunkStats,
    ChunkTask,
    TrialLaw,
    run_chunks,
    trial_law,
)

CHUNK = 65_536  # trials per crude chunk (fixed: results never depend on the worker count)
IS_CHUNK = 16_384  # trials per importance-sampling chunk
IS_ROUND = 4  # IS chunks between stopping checks
PILOT_CHUNKS = 2  # chunks per cross-entropy pilot iteration
RARE_CANDIDATES = ("pad_damaged", "aborted", "personnel_hazard")
AUTO_MIN_HITS = 100  # "auto" uses importance sampling when crude saw fewer hits (RE > ~10 %)
IMPORTANCE_EVENTS = ("pad_damaged", "scrubbed", "aborted")
Q_MAX = 0.9  # cap of a biased occurrence probability (keeps every likelihood ratio bounded)
# Defensive mixture (see rare_event): a share of every estimation chunk is drawn from a law in
# which every fault the event depends on occurs with probability DEFENSIVE_Q.
DEFENSIVE_Q = 0.3
DEFENSIVE_SHARE = 0.25
INVOLVED = 3.0  # a fault is "involved" when P(fault | event) >= INVOLVED x its nominal p
BOOSTS = (0.05, 0.15, 0.3)  # first pilot: every fault raised at least to this probability

Progress = Callable[[str, int, int], None]  # (stage label, trials done, trials in stage)


# --------------------------------------------------------------------------------------------
# executors


@contextlib.contextmanager
def executor_for(workers: int = 1, cluster: str | None = None) -> Iterator[Executor | None]:
    """The executor for a campaign: None (this process), local processes, or Dask.

    ``cluster`` is a Dask scheduler address (``tcp://host:8786``); its client's
    ``get_executor()`` is a standard ``concurrent.futures.Executor``.
    """
    if cluster:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - optional extra
            raise RuntimeError("--cluster needs dask distributed: pip install 'padguard[risk]'") from exc
        client = Client(cluster, timeout="10s")
        try:
            # Ready every worker once, at connection: import the engine and tune malloc there
            # (a cold import costs a worker ~0.5 s on its first chunk otherwise).
            client.run(warm_worker)
            yield client.get_executor()
        finally:
            client.close()
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as ex:
            yield ex
    else:
        yield None


def warm_worker() -> bool:
    """Import the risk engine and apply its malloc tuning in this (worker) process."""
    from padguard.engines import risk

    return risk.tune_malloc()


GROUP = 8  # chunks per task sent to a worker: their faulty trials share one event loop


def _groups(tasks: list[ChunkTask]) -> list[list[ChunkTask]]:
    """Consecutive chunks of the same plans, at most :data:`GROUP` together (results do not
    depend on the grouping: each chunk is drawn from its own seed and its columns are
    independent)."""
    out: list[list[ChunkTask]] = []
    for t in tasks:
        if out and len(out[-1]) < GROUP and out[-1][0].plans is t.plans:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def map_chunks(tasks: list[ChunkTask], executor: Executor | None, progress: Progress | None,
               label: str) -> list[tuple[list[ChunkStats], np.ndarray]]:
    """Run tasks (in this process or on ``executor``), a group of chunks at a time; results
    in task order."""
    total = sum(t.n for t in tasks)
    done = 0
    if progress:
        progress(label, 0, total)
    groups = _groups(tasks)
    if executor is None:
        out = []
        for grp in groups:
            out.extend(run_chunks(grp))
            done += sum(t.n for t in grp)
            if progress:
                progress(label, done, total)
        return out
    futs = [executor.submit(run_chunks, grp) for grp in groups]
    size = {f: sum(t.n for t in grp) for f, grp in zip(futs, groups, strict=True)}
    for f in as_completed(futs):
        done += size[f]
        if progress:
            progress(label, done, total)
    return [r for f in futs for r in f.result()]


def _seeds(seed: int, stage: tuple[int, ...], n: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed, spawn_key=stage).spawn(n)


def _tasks(plans: tuple[Plan, ...], law: TrialLaw, proposal: np.ndarray | None, seed: int,
           stage: tuple[int, ...], trials: int, chunk: int, examples: bool = True,
           first_chunk: int = 0, n_chunks_total: int | None = None,
           mix: np.ndarray | None = None) -> list[ChunkTask]:
    n_chunks = math.ceil(trials / chunk) if trials > 0 else 0
    seeds = _seeds(seed, stage, n_chunks_total or n_chunks)
    tasks = []
    for k in range(n_chunks):
        n = min(chunk, trials - k * chunk)
        tasks.append(ChunkTask(plans, law, proposal, seeds[first_chunk + k], n, examples, mix))
    return tasks


def _merge(results: list[tuple[list[ChunkStats], np.ndarray]]) -> tuple[list[ChunkStats], np.ndarray]:
    stats, pair = results[0]
    for s2, p2 in results[1:]:
        stats = [a.merge(b) for a, b in zip(stats, s2, strict=True)]
        pair = pair + p2
    return stats, pair


# --------------------------------------------------------------------------------------------
# rare events: cross-entropy tuned importance sampling


@dataclass
class RareResult:
    """An importance-sampling estimate of one event for one procedure, with diagnostics."""

    event: str
    estimate: rs.Estimate
    stats: ChunkStats | None
    proposal: dict[str, float]
    ess: float
    pilot_trials: int
    log: list[str] = field(default_factory=list)

    def to_dict(self, plan: Plan) -> dict[str, Any]:
        return {"event": self.event, **self.estimate.to_dict(), "ess": self.ess,
                "pilot_trials": self.pilot_trials, "proposal": self.proposal, "log": self.log}


def _cross_entropy_update(law: TrialLaw, st: ChunkStats, e: int, q_old: np.ndarray,
                          smooth: float = 0.7) -> np.ndarray:
    """CE update for independent Bernoulli faults: q_i = E_p[x_i | E], weighted by the hits.

    Clipped to [p_i, Q_MAX] (never below the nominal law, never certain) and smoothed.
    """
    p = law.probs
    q_new = st.joint_w[e] / st.wsum[e]
    q_new = np.clip(q_new, p, np.maximum(Q_MAX, p))
    q = smooth * q_new + (1 - smooth) * q_old
    return np.where((p <= 0) | (p >= 1), p, q)


def _with_siblings(plan: Plan, involved: np.ndarray) -> np.ndarray:
    """Add every fault mode of a component that an involved fault fails (its other modes, and
    common-cause events over it): a pilot that saw one mode of a switch often misses another
    (a stuck switch hides behind the same switch reading wrong), and a cut set left out of the
    defensive component is exactly the bias this mixture exists to prevent."""
    comps = {(int(plan.f_kind[f]), int(c)) for f in np.flatnonzero(involved) for c in plan.members(f)}
    out = involved.copy()
    for f in range(len(plan.faults)):
        if any((int(plan.f_kind[f]), int(c)) in comps for c in plan.members(f)):
            out[f] = True
    return out


def rare_event(plan: Plan, law: TrialLaw, event: str, seed: int, executor: Executor | None = None,
               budget: int = 1_000_000, target_re: float = 0.05, progress: Progress | None = None,
               plan_index: int = 0, ce_iterations: int = 3) -> RareResult:
    """Estimate P(event) for ``plan`` by cross-entropy importance sampling.

    Pilot: every fault raised to at least a boost probability until the event shows, then a
    few CE updates. Estimation: independent rounds of chunks with the tuned proposal until the
    relative error reaches ``target_re`` (with at least 100 hits) or ``budget`` trials.
    """
    e = EVENTS.index(event)
    ev_code = 10 + e
    log: list[str] = []
    pilot_trials = 0
    p = law.probs
    q = None
    st = None
    it = 0
    for b, boost in enumerate(BOOSTS):
        q0 = np.where((p <= 0) | (p >= 1), p, np.maximum(p, boost))
        tasks = _tasks((plan,), law, q0, seed, (1, plan_index, ev_code, b), PILOT_CHUNKS * IS_CHUNK,
                       IS_CHUNK, examples=False)
        st = _merge(map_chunks(tasks, executor, progress, f"{event}: pilot"))[0][0]
        pilot_trials += st.n
        log.append(f"pilot boost {boost}: {int(st.count[e])} hits in {st.n}")
        if st.count[e] >= 20:
            q = q0
            break
    if q is None or st is None:
        est = rs.Estimate(0.0, 0.0, 1.0, "is", pilot_trials, 0, math.nan, None,
                          "the event never occurred, even with every fault made likely; "
                          "see the crude interval")
        return RareResult(event, est, None, {}, 0.0, pilot_trials, log)
    for it in range(ce_iterations):
        q = _cross_entropy_update(law, st, e, q)
        tasks = _tasks((plan,), law, q, seed, (2, plan_index, ev_code, it), PILOT_CHUNKS * IS_CHUNK,
                       IS_CHUNK, examples=False)
        st = _merge(map_chunks(tasks, executor, progress, f"{event}: tuning"))[0][0]
        pilot_trials += st.n
        log.append(f"CE iteration {it + 1}: {int(st.count[e])} hits in {st.n}")
    # Estimation: a defensive mixture (Hesterberg 1995; Owen & Zhou 2000) of the CE law and a
    # flat law over the involved faults. The CE law alone is the best *product* law, but the
    # event's cut sets interact (a switch that reads wrong hides the same switch being stuck),
    # so CE drives some cut-set faults to Q_MAX and leaves others near 1 %: their cut sets are
    # then almost never drawn and carry huge weights, and the estimate comes out low with an
    # error that does not show it. The flat component draws every cut set of involved faults
    # often, and the balance-heuristic weight is at most p(x) / (share x flat(x)).
    target = st.joint_w[e] / st.wsum[e] if st.wsum[e] > 0 else p
    involved = _with_siblings(plan, (target >= INVOLVED * p) & (p > 0) & (p < 1)) & (p > 0) & (p < 1)
    flat = np.where(involved, np.maximum(p, DEFENSIVE_Q), q)
    Q = np.stack([q, flat])
    mix = np.array([1.0 - DEFENSIVE_SHARE, DEFENSIVE_SHARE])
    n_chunks = math.ceil(budget / IS_CHUNK)
    acc: ChunkStats | None = None
    k = 0
    while k < n_chunks:
        r = min(IS_ROUND, n_chunks - k)
        tasks = _tasks((plan,), law, Q, seed, (3, plan_index, ev_code), r * IS_CHUNK, IS_CHUNK,
                       first_chunk=k, n_chunks_total=n_chunks, mix=mix)
        part = _merge(map_chunks(tasks, executor, progress, f"{event}: importance sampling"))[0][0]
        acc = part if acc is None else acc.merge(part)
        k += r
        est = rs.weighted_estimate(float(acc.wsum[e]), float(acc.w2sum[e]), int(acc.count[e]), acc.n)
        if acc.count[e] >= AUTO_MIN_HITS and est.rel_err is not None and est.rel_err <= target_re:
            break
    assert acc is not None
    est = rs.weighted_estimate(float(acc.wsum[e]), float(acc.w2sum[e]), int(acc.count[e]), acc.n)
    log.append(f"estimation: {int(acc.count[e])} hits in {acc.n}, relative error "
               f"{est.rel_err if est.rel_err is not None else float('nan'):.3g}")
    proposal = {plan.faults[i]: float(q[i]) for i in range(len(q)) if q[i] != p[i]}
    log.append(f"defensive mixture: {DEFENSIVE_SHARE:.0%} of trials with "
               + ", ".join(plan.faults[i] for i in np.flatnonzero(involved)) + f" at {DEFENSIVE_Q}")
    return RareResult(event, est, acc, proposal, rs.ess(float(acc.wsum[e]), float(acc.w2sum[e])),
                      pilot_trials, log)


# --------------------------------------------------------------------------------------------
# summaries


def _importance_table(plan: Plan, law: TrialLaw, st: ChunkStats, e: int, p_event: float,
                      weighted: bool) -> list[dict[str, Any]]:
    n = st.n
    if weighted:
        p_joint = st.joint_w[e] / n
        p_fault = law.probs
    else:
        p_joint = st.joint_count[e] / n
        p_fault = st.fault_count / n
    rows = rs.importance(p_event, p_joint, p_fault)
    out = []
    for i, r in enumerate(rows):
        out.append({"fault": plan.faults[i], "probability": float(law.probs[i]),
                    "trials_with_fault": int(st.fault_count[i]),
                    "trials_with_fault_and_event": int(st.joint_count[e, i]), **r})
    out.sort(key=lambda r: (-(r["fv"] if not math.isnan(r["fv"]) else -1), r["fault"]))
    return out


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf become None, recursively."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return _finite(float(x))
    return x


def summarize(plan: Plan, law: TrialLaw, st: ChunkStats, rare: dict[str, RareResult],
              interval: str = "wilson") -> dict[str, Any]:
    """Everything about one procedure's campaign, as plain data."""
    n = st.n
    outcomes: dict[str, Any] = {}
    for e, name in enumerate(EVENTS):
        if name == "unfinished" and st.count[e] == 0:
            continue
        est = rs.crude_estimate(int(st.count[e]), n, interval).to_dict()
        r = rare.get(name)
        if r is not None and r.stats is not None:
            est = {**r.estimate.to_dict(), "crude": est}
        elif r is not None:  # importance sampling found nothing: the crude bound stands
            est["note"] = "; ".join(x for x in (est["note"], r.estimate.note) if x)
        outcomes[name] = est
    # holds
    h = st.nholds_hist
    vals = np.arange(len(h))
    mean_h = float((vals * h).sum() / n)
    var_h = float(((vals - mean_h) ** 2 * h).sum() / max(n - 1, 1))
    se_h = math.sqrt(var_h / n)
    held = int(st.hold_hist.sum())
    holds = {
        "expected_holds": mean_h,
        "expected_holds_ci": [max(0.0, mean_h - rs.Z95 * se_h), mean_h + rs.Z95 * se_h],
        "p_any_hold": rs.crude_estimate(int(n - h[0]), n, interval).to_dict(),
        "holds_distribution": {str(k): int(c) for k, c in enumerate(h) if c},
        "hold_time_s": {
            "mean": st.hold_ms / 1000 / n,
            "mean_given_hold": (st.hold_ms / 1000 / held) if held else None,
            "trials_with_hold_time": held,
            "quantiles_given_hold": rs.quantiles(st.hold_hist),
            "cdf_given_hold": rs.cdf_points(st.hold_hist, held),
        },
    }
    importance: dict[str, Any] = {}
    for name in IMPORTANCE_EVENTS:
        e = EVENTS.index(name)
        if name in rare and rare[name].stats is not None and rare[name].estimate.p > 0:
            r = rare[name]
            importance[name] = {"method": "is", "table": _importance_table(
                plan, law, r.stats, e, r.estimate.p, weighted=True)}
        elif st.count[e] > 0:
            importance[name] = {"method": "crude", "table": _importance_table(
                plan, law, st, e, st.count[e] / n, weighted=False)}
        else:
            importance[name] = {"method": "none", "table": []}
    zones = {z: rs.crude_estimate(int(st.zone_count[i]), n, interval).to_dict()
             for i, z in enumerate(plan.zones)}
    rules = {r: rs.crude_estimate(int(st.rule_count[i]), n, interval).to_dict()
             for i, r in enumerate(plan.plume)}
    examples = {EVENTS[e]: sc for e, sc in sorted(st.examples.items())}
    for name, r in rare.items():  # a rare event's example may only exist in the biased draws
        if name not in examples and r.stats is not None and EVENTS.index(name) in r.stats.examples:
            examples[name] = r.stats.examples[EVENTS.index(name)]
    return {
        "procedure": plan.model.procedure.procedure,
        "trials": n,
        "outcomes": outcomes,
        "holds": holds,
        "importance": importance,
        "personnel_hazard_by_zone": zones,
        "plume_rule_violated_at_ignition": rules,
        "rare_events": {k: v.to_dict(plan) for k, v in rare.items()},
        "examples": examples,
    }


@dataclass
class CampaignResult:
    """A finished campaign (one procedure, or two side by side)."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return _finite(self.data)

    def numbers(self) -> dict[str, Any]:
        """The result without timing and executor details (equal across executors)."""
        d = self.to_dict()
        d.pop("timing", None)
        d.pop("executor", None)
        return d


def campaign(plans: list[Plan], trials: int, seed: int | None = None, method: str = "auto",
             law: TrialLaw | None = None, executor: Executor | None = None,
             progress: Progress | None = None, chunk: int = CHUNK, interval: str = "wilson",
             rare_events: tuple[str, ...] = ("pad_damaged",), is_budget: int = 1_000_000,
             target_re: float = 0.05, executor_label: str = "local") -> CampaignResult:
    """Run a campaign of ``trials`` sampled countdowns on one or two procedures (paired).

    ``method``: "crude" (plain sampling), "is" (importance sampling for ``rare_events``), or
    "auto" (importance sampling for the rare events plain sampling saw fewer than 100 times).
    """
    if method not in ("auto", "crude", "is"):
        raise ValueError(f"unknown method '{method}': use auto, crude or is")
    if trials < 1:
        raise ValueError("--trials must be at least 1")
    for name in rare_events:
        if name not in RARE_CANDIDATES:
            raise ValueError(f"unknown rare event '{name}': use {', '.join(RARE_CANDIDATES)}")
    plans = list(plans)
    if len(plans) > 1 and plans[1].faults != plans[0].faults:
        raise ValueError("procedures compared side by side need the same fault modes (same site and faults file)")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)  # recorded, so the run can be repeated
    law = law or trial_law(plans[0])
    t0 = time.perf_counter()
    tasks = _tasks(tuple(plans), law, None, seed, (0,), trials, chunk)
    stats, pair = _merge(map_chunks(tasks, executor, progress, "sampling countdowns"))
    t_crude = time.perf_counter() - t0
    rare: list[dict[str, RareResult]] = [{} for _ in plans]
    if method != "crude":
        for pi, plan in enumerate(plans):
            for name in rare_events:
                e = EVENTS.index(name)
                if method == "auto" and stats[pi].count[e] >= AUTO_MIN_HITS:
                    continue
                rare[pi][name] = rare_event(plan, law, name, seed, executor, is_budget, target_re,
                                            progress, plan_index=pi)
    elapsed = time.perf_counter() - t0
    per_plan = [summarize(p, law, s, r, interval) for p, s, r in zip(plans, stats, rare, strict=True)]
    model = plans[0].model
    data: dict[str, Any] = {
        "site": model.site.site,
        "site_name": model.site.name,
        "trials": trials,
        "seed": seed,
        "method": method,
        "interval": interval,
        "chunk": chunk,
        "trial_law": {
            "faults": [{"fault": f, "probability": float(law.probs[i]),
                        "onset": "uniform second in the nominal count" if law.timed[i] else "count start (latent until demanded)"}
                       for i, f in enumerate(plans[0].faults)],
            "nominal_count_s": law.horizon_s,
            "travel": "uniform over the whole resolution steps of each declared [min, max] range",
        },
        "procedures": per_plan,
        "executor": executor_label,
        "timing": {"elapsed_s": elapsed, "sampling_s": t_crude,
                   "trials_per_s": trials * len(plans) / t_crude if t_crude > 0 else None},
    }
    if len(plans) > 1:
        data["paired"] = paired(plans, pair, trials)
    return CampaignResult(data)


def paired(plans: list[Plan], pair: np.ndarray, n: int) -> dict[str, Any]:
    """The side-by-side view: what each outcome under A becomes under B, same trials."""
    a, b = (p.model.procedure.procedure for p in plans[:2])
    table = {OUTCOMES[i]: {OUTCOMES[j]: int(pair[i, j]) for j in range(len(OUTCOMES)) if pair[i, j]}
             for i in range(len(OUTCOMES)) if pair[i].any()}
    diffs = {}
    for o, name in enumerate(OUTCOMES):
        a_only = int(pair[o].sum() - pair[o, o])
        b_only = int(pair[:, o].sum() - pair[o, o])
        d, lo, hi = rs.paired_difference(a_only, b_only, n)
        diffs[name] = {"difference": d, "lo": lo, "hi": hi}
    return {"a": a, "b": b, "rows": f"outcome under {a}", "columns": f"outcome under {b}",
            "table": table, "difference_b_minus_a": diffs}
