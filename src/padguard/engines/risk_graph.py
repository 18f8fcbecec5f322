"""The fault-free trial graph: every fault-free countdown of a Plan, tabulated once by the semantics.

Most countdowns a campaign draws have no fault at all (99.1 % of Site 31/6's nominal law). Such
a countdown is a deterministic function of its travel draws: at each settled instant the
semantics issues some moves, each move's travel is ``min + floor(u * n) * res`` for its own
draw ``u`` and its number ``n`` of travel choices (:func:`padguard.plant.travel_time`), and
everything else follows. So the whole fault-free behaviour of a Plan is a finite directed
acyclic graph:

* a **node** is a state about to be settled (count start, or the next event's instant);
* its **edges** are labelled by the travel indices ``k_j = floor(u_j * n_j)`` of the moves the
  semantics issues there; each edge leads to the next node or to a final result.

:func:`build` constructs the graph by running the one semantics (``initial_state``,
``settle``, ``next_event``, ``advance_to``) on every node once per travel combination, exactly
as the risk engine runs a countdown, deduplicating identical states. :func:`walk` then runs any
number of fault-free trials as gathers over the graph's tables: a trial follows the edge its
own draws select, so each trial's result is bit-identical to running it through the semantics
(``tests/test_risk_graph.py`` checks this trial by trial). Nothing of the pad or the sequencer
is restated here; the graph is a cache of the semantics' own transitions.

The graph is built only when it stays small (``max_nodes``); a Plan whose fault-free behaviour
does not fit, or where the moves issued at an instant depend on another move's travel draw in
the same instant (``GraphUnsupported``), runs through the vectorised engine as before.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from padguard import semantics
from padguard.compile import NEVER, Plan, StepKind
from padguard.sequencer.table import FINAL, Mode

MAX_NODES = 200_000  # beyond this the tables cost more to build than the engine saves
MAX_COMBOS = 1 << 20  # travel combinations settled at one node
_FINAL = np.zeros(len(Mode), dtype=bool)  # mode code -> is a final mode
_FINAL[[int(m) for m in FINAL]] = True
_U_TOP = float(np.nextafter(1.0, 0.0))  # the largest draw: picks each range's maximum


class GraphUnsupported(Exception):
    """The Plan's fault-free behaviour cannot be tabulated (too large or draw-dependent issues)."""


@dataclass
class TrialGraph:
    """Tables of the fault-free graph (node 0 is count start, before its first settle)."""

    mv_step: np.ndarray  # (nodes, M) step index of each move issued at the node (0 pads)
    mv_n: np.ndarray  # (nodes, M) its number of travel choices (1 pads)
    edge_off: np.ndarray  # (nodes,) first edge of the node
    edge_to: np.ndarray  # (edges,) next *branching* node, or -1 - result index
    results: np.ndarray  # (R, 6) outcome, phaz, haz, nholds, holdtime, nrec
    nodes: int  # nodes built (before chains without a choice were short-cut)
    depth: int  # settles on the longest path

    @property
    def edges(self) -> int:
        return len(self.edge_to)


def _result_rows(plan: Plan, S: np.ndarray) -> np.ndarray:
    """What the statistics read from a finished countdown (as :func:`risk.run_results`)."""
    return np.stack([semantics.outcome_codes(plan, S), S[plan.PHAZ], S[plan.HAZ], S[plan.NHOLDS],
                     S[plan.HOLDTIME], S[plan.NREC]], axis=1)


def _issued_moves(plan: Plan, pre: np.ndarray) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
    """Per column of ``pre`` (states about to settle): the move steps issued there, their
    numbers of travel choices, and the issued matrix (probed with the shortest and the longest
    travel; a move that does not go has one choice)."""
    lo_s, hi_s = pre.copy(), pre.copy()
    nsteps = len(plan.step_at)
    h_lo = semantics.settle(plan, lo_s, tr_u=np.zeros((nsteps, pre.shape[1])))
    h_hi = semantics.settle(plan, hi_s, tr_u=np.full((nsteps, pre.shape[1]), _U_TOP))
    if not np.array_equal(h_lo.issued, h_hi.issued):
        raise GraphUnsupported("the steps issued at an instant depend on a travel draw of that instant")
    moves = h_lo.issued & (plan.step_kind == StepKind.MOVE)[:, None]
    steps, ns = [], []
    for c in range(pre.shape[1]):
        js = [int(j) for j in np.flatnonzero(moves[:, c])]
        tg = [int(plan.step_target[j]) for j in js]
        if len(set(tg)) != len(tg):
            raise GraphUnsupported("one equipment commanded twice in one instant")
        n = []
        for e in tg:
            a0, a1 = int(lo_s[plan.ARRIVE + e, c]), int(hi_s[plan.ARRIVE + e, c])
            n.append(-((a0 - a1) // plan.res) + 1 if a1 > a0 else 1)  # ceil(span / res) + 1
        steps.append(js)
        ns.append(n)
    return steps, ns, h_lo.issued


def build(plan: Plan, max_nodes: int | None = None) -> TrialGraph:
    """Tabulate every fault-free countdown of ``plan`` (raises GraphUnsupported beyond
    ``max_nodes`` states, :data:`MAX_NODES` by default)."""
    max_nodes = MAX_NODES if max_nodes is None else max_nodes
    nsteps = len(plan.step_at)
    index: dict[bytes, int] = {}
    pending: list[np.ndarray] = []  # states about to settle, in node order
    root = semantics.initial_state(plan, 1)[:, 0]
    index[root.tobytes()] = 0
    pending.append(root)
    node_steps: list[list[int]] = []
    node_ns: list[list[int]] = []
    node_edges: list[np.ndarray] = []  # per node: target (node id, or -1 - result)
    node_depth: list[int] = [0]
    results: list[np.ndarray] = []
    result_index: dict[bytes, int] = {}
    done = 0
    while done < len(pending):
        batch = np.stack(pending[done:done + 2048], axis=1)
        first = done
        done += batch.shape[1]
        steps, ns, issued = _issued_moves(plan, batch)
        sizes = [math.prod(n) for n in ns]
        if max(sizes) > MAX_COMBOS:
            raise GraphUnsupported(f"{max(sizes)} travel combinations at one instant")
        cols = np.repeat(np.arange(batch.shape[1]), sizes)
        S = batch[:, cols]
        tr_u = np.full((nsteps, S.shape[1]), 0.5)
        at = 0
        for c, (js, n) in enumerate(zip(steps, ns, strict=True)):
            if js:
                # every combination, mixed radix with the first move most significant
                k = np.indices(n).reshape(len(n), -1)
                tr_u[js, at:at + sizes[c]] = (k + 0.5) / np.array(n)[:, None]
            at += sizes[c]
        h = semantics.settle(plan, S, tr_u=tr_u)
        if not np.array_equal(h.issued, issued[:, cols]):
            raise GraphUnsupported("the steps issued at an instant depend on a travel draw of that instant")
        semantics.canonicalise(plan, S)  # merge states whose futures are the same
        nxt = semantics.next_event(plan, S)
        final = _FINAL[S[plan.MODE]] | (nxt >= NEVER)
        res = _result_rows(plan, S)
        semantics.advance_to(plan, S, np.where(final, S[plan.T], nxt))
        targets = np.empty(S.shape[1], dtype=np.int64)
        for j in range(S.shape[1]):
            if final[j]:
                key = res[j].tobytes()
                r = result_index.setdefault(key, len(results))
                if r == len(results):
                    results.append(res[j])
                targets[j] = -1 - r
            else:
                key = S[:, j].tobytes()
                t = index.setdefault(key, len(pending))
                if t == len(pending):
                    if t >= max_nodes:
                        raise GraphUnsupported(f"more than {max_nodes} fault-free states")
                    pending.append(S[:, j].copy())
                    node_depth.append(0)
                node_depth[t] = max(node_depth[t], node_depth[first + int(cols[j])] + 1)
                targets[j] = t
        at = 0
        for c in range(batch.shape[1]):
            node_steps.append(steps[c])
            node_ns.append(ns[c])
            node_edges.append(targets[at:at + sizes[c]])
            at += sizes[c]
    times = np.array([int(x[plan.T]) for x in pending], dtype=np.int64)
    return _tables(times, node_steps, node_ns, node_edges, results, max(node_depth) + 1)


def _tables(times: np.ndarray, node_steps: list[list[int]], node_ns: list[list[int]],
            node_edges: list[np.ndarray], results: list[np.ndarray], depth: int) -> TrialGraph:
    """Pack the graph, short-cutting nodes without a choice (one edge) so a walk only
    stops where a trial's draws select something."""
    # Every edge leads to a strictly later instant, so resolving targets from the latest
    # node back short-cuts every chain in one pass.
    nodes = len(times)
    single = np.array([len(e) == 1 for e in node_edges])
    final_to = np.empty(nodes, dtype=np.int64)  # where a walk arriving at the node really stops
    for i in np.argsort(-times, kind="stable"):
        if single[i] and i != 0:
            t = int(node_edges[i][0])
            final_to[i] = t if t < 0 else final_to[t]
        else:
            final_to[i] = i
    keep = np.flatnonzero(~single | (np.arange(nodes) == 0))
    new_id = np.full(nodes, -1, dtype=np.int64)
    new_id[keep] = np.arange(len(keep))
    M = max([len(node_steps[i]) for i in keep] + [1])
    mv_step = np.zeros((len(keep), M), dtype=np.int64)
    mv_n = np.ones((len(keep), M), dtype=np.int64)
    edge_off = np.zeros(len(keep), dtype=np.int64)
    edge_to = []
    off = 0
    for a, i in enumerate(keep):
        mv_step[a, :len(node_steps[i])] = node_steps[i]
        mv_n[a, :len(node_ns[i])] = node_ns[i]
        edge_off[a] = off
        t = node_edges[i]
        f = np.where(t < 0, t, final_to[np.maximum(t, 0)])
        edge_to.append(np.where(f < 0, f, new_id[np.maximum(f, 0)]))
        off += len(t)
    res = np.array(results, dtype=np.int64).reshape(-1, 6)
    return TrialGraph(mv_step, mv_n, edge_off, np.concatenate(edge_to).astype(np.int64), res, nodes, depth)


def walk(g: TrialGraph, tr_u: np.ndarray) -> np.ndarray:
    """The result rows (n, 6) of fault-free trials with travel draws ``tr_u`` (nsteps, n)."""
    n = tr_u.shape[1]
    out = np.empty(n, dtype=np.int64)
    cur = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    M = g.mv_step.shape[1]
    while len(cur):
        steps, radix = g.mv_step[cur], g.mv_n[cur]
        edge = np.zeros(len(cur), dtype=np.int64)
        for m in range(M):
            r = radix[:, m]
            # as plant.travel_time; a product rounding up to r picks the maximum there too
            k = np.minimum(np.floor(tr_u[steps[:, m], idx] * r).astype(np.int64), r - 1)
            edge = edge * r + k
        to = g.edge_to[g.edge_off[cur] + edge]
        end = to < 0
        if end.any():
            out[idx[end]] = -1 - to[end]
            keep = ~end
            cur, idx = to[keep], idx[keep]
        else:
            cur = to
    return g.results[out]


GRAPH_MIN_TRIALS = 50_000  # fault-free trials in one call that justify building (~1 s)
_CACHE: dict[bytes, TrialGraph | None] = {}


def _digest(plan: Plan) -> bytes:
    """Content key of a Plan (campaign workers receive a fresh unpickled copy per chunk)."""
    import hashlib
    import pickle

    fields = {k: v for k, v in plan.__dict__.items() if not k.startswith("_")}
    return hashlib.sha256(pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)).digest()


def graph_for(plan: Plan, trials: int = 0) -> TrialGraph | None:
    """The plan's fault-free graph if it is worth having for ``trials`` fault-free trials:
    built once per process and Plan content, kept for later calls. None when unsupported,
    not worth building yet, or disabled (``PADGUARD_RISK_GRAPH=0``; ``=1`` builds it always)."""
    env = os.environ.get("PADGUARD_RISK_GRAPH")
    if env == "0":
        return None
    g = plan.__dict__.get("_risk_graph", False)
    if g is not False:
        return g
    key = _digest(plan)
    if key in _CACHE:
        g = _CACHE[key]
    elif trials >= GRAPH_MIN_TRIALS or env == "1":
        try:
            g = build(plan)
        except GraphUnsupported:
            g = None
        _CACHE[key] = g
    else:
        return None
    plan.__dict__["_risk_graph"] = g
    return g
