"""Trial graphs: every countdown of a Plan that is a function of its travel draws, tabulated
once by the semantics.

Most countdowns a campaign draws have no fault at all (99.1 % of Site 31/6's nominal law). Such
a countdown is a deterministic function of its travel draws: at each settled instant the
semantics issues some moves, each move's travel is ``min + floor(u * n) * res`` for its own
draw ``u`` and its number ``n`` of travel choices (:func:`padguard.plant.travel_time`), and
everything else follows. The same holds for a countdown whose faults all act from count start
(latent faults such as a stopper not installed): they are part of its first state. So the
behaviour of a Plan under one such fault set (none by default) is a finite directed acyclic
graph:

* a **node** is a state about to be settled (count start, or the next event's instant);
* its **edges** are labelled by the travel indices ``k_j = floor(u_j * n_j)`` of the moves the
  semantics issues there; each edge leads to the next node or to a final result.

:func:`build` constructs the graph by running the one semantics (``initial_state``,
``plant.inject``, ``settle``, ``next_event``, ``advance_to``) on every node once per travel
combination, exactly as the risk engine runs a countdown, deduplicating states equal after
:func:`padguard.semantics.canonicalise`. :func:`walk` then runs any number of such trials as
gathers over the graph's tables: a trial follows the edge its own draws select, so each
trial's result is bit-identical to running it through the semantics
(``tests/test_risk_graph.py`` checks this trial by trial). Nothing of the pad or the sequencer
is restated here; the graph is a cache of the semantics' own transitions.

A graph is built only when it stays small (``max_nodes``); a Plan whose behaviour does not fit,
where the moves issued at an instant depend on another move's travel draw in the same instant,
or where a move can arrive in the instant it is issued (``GraphUnsupported``), runs through
the vectorised engine as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Plan, StepKind
from padguard.sequencer.table import FINAL, Mode

MAX_NODES = 200_000  # beyond this the tables cost more to build than the engine saves
MAX_COMBOS = 1 << 20  # travel combinations settled at one node
_FINAL = np.zeros(len(Mode), dtype=bool)  # mode code -> is a final mode
_FINAL[[int(m) for m in FINAL]] = True
_U_TOP = float(np.nextafter(1.0, 0.0))  # the largest draw: picks each range's maximum


class GraphUnsupported(Exception):
    """The behaviour cannot be tabulated (too large, or not a function of the travel indices)."""


@dataclass
class TrialGraph:
    """Tables of a trial graph (node 0 is count start, before its first settle)."""

    mv_step: np.ndarray  # (nodes, M) step index of each move issued at the node (0 pads)
    mv_n: np.ndarray  # (nodes, M) its number of travel choices (1 pads)
    edge_off: np.ndarray  # (nodes,) first edge of the node
    edge_to: np.ndarray  # (edges,) next *branching* node, or -1 - result index
    results: np.ndarray  # (R, 6) per RESULT_FIELDS: outcome, phaz, haz, nholds, holdtime, nrec
    nodes: int  # nodes built (before chains without a choice were short-cut)
    depth: int  # bound on the settles of a path (distinct instants of the graph's states)

    @property
    def edges(self) -> int:
        return len(self.edge_to)


RESULT_FIELDS = ("outcome", "phaz", "haz", "nholds", "holdtime", "nrec")


def result_rows(plan: Plan, S: np.ndarray, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
    """(n, 6) what the statistics read from finished countdowns (columns ``cols`` of ``S``),
    in :data:`RESULT_FIELDS` order; reads only those rows, no copy of the states."""
    return np.stack([semantics.outcome_codes(plan, S)[cols]]
                    + [S[row, cols] for row in (plan.PHAZ, plan.HAZ, plan.NHOLDS, plan.HOLDTIME, plan.NREC)],
                    axis=1)


def _issued_moves(plan: Plan, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``pre`` (states about to settle): the move steps issued there and their
    numbers of travel choices, as (N, M) arrays padded with step 0 and 1 choice, how many there
    are, and the issued matrix. Probed with the shortest and the longest travel; a move that does not go has one
    choice."""
    lo_s, hi_s = pre.copy(), pre.copy()
    nsteps, N = len(plan.step_at), pre.shape[1]
    h_lo = semantics.settle(plan, lo_s, tr_u=np.zeros((nsteps, N)))
    h_hi = semantics.settle(plan, hi_s, tr_u=np.full((nsteps, N), _U_TOP))
    if not np.array_equal(h_lo.issued, h_hi.issued):
        raise GraphUnsupported("the steps issued at an instant depend on a travel draw of that instant")
    moves = h_lo.issued & (plan.step_kind == StepKind.MOVE)[:, None]
    nmov = moves.sum(axis=0)
    M = max(int(nmov.max(initial=0)), 1)
    steps = np.zeros((N, M), dtype=np.int64)
    ns = np.ones((N, M), dtype=np.int64)
    for c in np.flatnonzero(nmov):  # the few instants that command moves
        js = np.flatnonzero(moves[:, c])
        tg = plan.step_target[js]
        if len(np.unique(tg)) != len(tg):
            raise GraphUnsupported("one equipment commanded twice in one instant")
        a0, a1 = lo_s[plan.ARRIVE + tg, c], hi_s[plan.ARRIVE + tg, c]
        if ((a1 > a0) & (a0 <= pre[plan.T, c])).any():
            # a zero minimum travel arrives within the instant: its range cannot be read off
            raise GraphUnsupported("a move that can arrive in the instant it is issued (zero minimum travel)")
        steps[c, :len(js)] = js
        ns[c, :len(js)] = np.where(a1 > a0, -((a0 - a1) // plan.res) + 1, 1)  # ceil(span / res) + 1
    return steps, ns, nmov, h_lo.issued


def _void(A: np.ndarray) -> np.ndarray:
    """Rows of ``A`` as opaque byte strings (for np.unique over whole rows)."""
    A = np.ascontiguousarray(A)
    return A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()


class _Index:
    """Byte rows to dense ids, assigning new ids in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}

    def ids_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of ``rows`` (R, W) and the positions of the rows that got new ids."""
        v = _void(rows)
        uniq, first, inv = np.unique(v, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # new ids in order of appearance
        uid = np.empty(len(uniq), dtype=np.int64)
        new = []
        for u in order:
            key = uniq[u].tobytes()
            i = self.ids.get(key)
            if i is None:
                i = self.ids[key] = len(self.ids)
                new.append(first[u])
            uid[u] = i
        return uid[inv.ravel()], np.array(new, dtype=np.int64)


def build(plan: Plan, faults: tuple[int, ...] = (), max_nodes: int | None = None) -> TrialGraph:
    """Tabulate every countdown of ``plan`` that starts with exactly the fault modes ``faults``
    active (none by default) and has no other fault; raises GraphUnsupported beyond
    ``max_nodes`` states (:data:`MAX_NODES` by default)."""
    max_nodes = MAX_NODES if max_nodes is None else max_nodes
    nsteps = len(plan.step_at)
    nodes, results = _Index(), _Index()
    root = semantics.initial_state(plan, 1)
    for f in sorted(faults):  # as the engine injects faults due at count start: in fault order
        plant.inject(plan, root, int(f))
    nodes.ids_of(root.T)
    queue: list[np.ndarray] = [root]  # states about to settle, in node-id order, as blocks
    res_rows: list[np.ndarray] = []
    b_steps, b_ns, b_sizes, b_targets, b_times = [], [], [], [], []
    while queue:
        batch = queue.pop(0)
        if batch.shape[1] > 2048:
            queue.insert(0, batch[:, 2048:])
            batch = batch[:, :2048]
        steps, ns, nmov, issued = _issued_moves(plan, batch)
        sizes = ns.prod(axis=1)
        if sizes.max() > MAX_COMBOS:
            raise GraphUnsupported(f"{sizes.max()} travel combinations at one instant")
        cols = np.repeat(np.arange(batch.shape[1]), sizes)
        S = batch[:, cols]
        tr_u = np.full((nsteps, S.shape[1]), 0.5)
        at = np.concatenate([[0], np.cumsum(sizes)])
        for c in np.flatnonzero(sizes > 1):
            m = int(nmov[c])
            # every combination, mixed radix with the first move most significant
            k = np.indices(ns[c, :m]).reshape(m, -1)
            tr_u[steps[c, :m], at[c]:at[c + 1]] = (k + 0.5) / ns[c, :m, None]
        h = semantics.settle(plan, S, tr_u=tr_u)
        if not np.array_equal(h.issued, issued[:, cols]):
            raise GraphUnsupported("the steps issued at an instant depend on a travel draw of that instant")
        semantics.canonicalise(plan, S)  # merge states whose futures are the same
        nxt = semantics.next_event(plan, S)
        final = _FINAL[S[plan.MODE]] | (nxt >= NEVER)
        semantics.advance_to(plan, S, np.where(final, S[plan.T], nxt))
        targets = np.empty(S.shape[1], dtype=np.int64)
        if final.any():
            rows = result_rows(plan, S, final)
            rid, new = results.ids_of(rows)
            res_rows.append(rows[new])
            targets[final] = -1 - rid
        live = np.flatnonzero(~final)
        if len(live):
            nid, new = nodes.ids_of(S[:, live].T)
            if len(nodes.ids) > max_nodes:
                raise GraphUnsupported(f"more than {max_nodes} fault-free states")
            if len(new):
                queue.append(S[:, live[new]])
            targets[live] = nid
        b_steps.append(steps)
        b_ns.append(ns)
        b_sizes.append(sizes)
        b_targets.append(targets)
        b_times.append(batch[plan.T])
    M = max(a.shape[1] for a in b_steps)
    pad = lambda a, v: np.pad(a, ((0, 0), (0, M - a.shape[1])), constant_values=v)  # noqa: E731
    res = np.concatenate(res_rows) if res_rows else np.zeros((0, 6), dtype=np.int64)
    return _tables(np.concatenate(b_times), np.concatenate([pad(a, 0) for a in b_steps]),
                   np.concatenate([pad(a, 1) for a in b_ns]), np.concatenate(b_sizes),
                   np.concatenate(b_targets), res)


def _tables(times: np.ndarray, steps: np.ndarray, ns: np.ndarray, sizes: np.ndarray,
            edge_to: np.ndarray, results: np.ndarray) -> TrialGraph:
    """Pack the graph, short-cutting nodes without a choice (one edge) so a walk only
    stops where a trial's draws select something."""
    nodes = len(times)
    edge_off = np.cumsum(sizes) - sizes
    single = sizes == 1
    single[0] = False  # the root stays: every walk starts there
    # Where a walk arriving at a node really stops: itself if it branches, else follow its one
    # edge; pointer jumping resolves every chain in log(depth) passes (edges go forward in time).
    f = np.arange(nodes)
    f[single] = edge_to[edge_off[single]]
    while True:
        g = np.where(f >= 0, f[np.maximum(f, 0)], f)
        if np.array_equal(g, f):
            break
        f = g
    keep = np.flatnonzero(~single)
    new_id = np.full(nodes, -1, dtype=np.int64)
    new_id[keep] = np.arange(len(keep))
    owner = np.repeat(np.arange(nodes), sizes)
    e = edge_to[~single[owner]]
    e = np.where(e < 0, e, f[np.maximum(e, 0)])
    e = np.where(e < 0, e, new_id[np.maximum(e, 0)])
    k_sizes = sizes[keep]
    # Every settle of a countdown is at a strictly later instant: a path has at most as many
    # settles as there are distinct instants (a bound on the event loop's event count).
    depth = len(np.unique(times))
    return TrialGraph(steps[keep], ns[keep], np.cumsum(k_sizes) - k_sizes, e.astype(np.int64),
                      results.astype(np.int64).reshape(-1, 6), nodes, depth)


def walk(g: TrialGraph, tr_u: np.ndarray, cols: np.ndarray | None = None,
         rows: np.ndarray | None = None) -> np.ndarray:
    """The result rows (n, 6) of fault-free trials with travel draws ``tr_u``.

    ``tr_u`` is (nsteps, N) by step, or any (R, N) array of draws with ``rows`` giving each
    step's row; ``cols`` picks the trials (columns) to walk (all by default). No copy of the
    draws is made: each iteration reads only the draws the current nodes use.
    """
    cols = np.arange(tr_u.shape[1]) if cols is None else np.asarray(cols)
    rows = np.arange(tr_u.shape[0]) if rows is None else np.asarray(rows)
    n, N = len(cols), tr_u.shape[1]
    flat = tr_u.reshape(-1)
    step_base = [rows.take(g.mv_step[:, m]) * N for m in range(g.mv_step.shape[1])]
    radix = [g.mv_n[:, m] for m in range(g.mv_n.shape[1])]
    out = np.empty(n, dtype=np.int64)
    cur = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    col = cols
    while len(cur):
        edge = None
        for m in range(len(radix)):
            r = radix[m].take(cur)
            if m and not (r > 1).any():
                continue
            # as plant.travel_time; a product rounding up to r picks the maximum there too
            k = np.minimum(np.floor(flat.take(step_base[m].take(cur) + col) * r).astype(np.int64), r - 1)
            edge = k if edge is None else edge * r + k
        to = g.edge_to.take(g.edge_off.take(cur) + edge)
        end = to < 0
        if end.any():
            out[idx[end]] = -1 - to[end]
            keep = ~end
            cur, idx, col = to[keep], idx[keep], col[keep]
        else:
            cur = to
    return g.results[out]


GRAPH_MIN_TRIALS = 50_000  # trials of one fault set in one call that justify building (~1 s)
CACHE_GRAPHS = 16  # graphs kept per process
_CACHE: dict[tuple[bytes, tuple[int, ...]], TrialGraph | None] = {}


def _digest(plan: Plan) -> bytes:
    """Content key of a Plan (campaign workers receive a fresh unpickled copy per task)."""
    import hashlib
    import pickle

    fields = {k: v for k, v in plan.__dict__.items() if not k.startswith("_")}
    return hashlib.sha256(pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)).digest()


def graph_for(plan: Plan, trials: int = 0, faults: tuple[int, ...] = ()) -> TrialGraph | None:
    """The graph of ``plan``'s countdowns starting with ``faults`` (none: the fault-free graph)
    if it is worth having for ``trials`` such trials: built once per process, Plan content and
    fault set, kept for later calls. None when unsupported, not worth building yet, or disabled
    (``PADGUARD_RISK_GRAPH=0``; ``=1`` builds it always)."""
    env = os.environ.get("PADGUARD_RISK_GRAPH")
    if env == "0":
        return None
    faults = tuple(sorted(int(f) for f in faults))
    mine = plan.__dict__.setdefault("_risk_graphs", {})
    if faults in mine:
        return mine[faults]
    key = (_digest(plan), faults)
    if key in _CACHE:
        g = _CACHE[key]
    elif trials >= GRAPH_MIN_TRIALS or env == "1":
        try:
            g = build(plan, faults)
        except GraphUnsupported:
            g = None
        while len(_CACHE) >= CACHE_GRAPHS:  # a long-lived process (the console) keeps the newest
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = g
    else:
        return None
    mine[faults] = g
    return g
