"""Export a compiled Plan to Promela so SPIN can check the same model, and run SPIN on it.

The Promela model is generated from the Plan's tables (never written by hand per model). It
is the verifier's transition system, step for step: one ``atomic`` block per settled instant
(so SPIN stores one state per node, like the verifier), in which

1. time moves to the next event or, only when a fault strikes then, to any resolution step
   before it (a fault's instant moves its deadlines, e.g. when a dropout goes stale);
2. one non-deterministic ``if`` picks the set of not-yet-active fault modes that strike (at
   most one per component, at most K active), each applied at once (a reads_wrong sensor
   without a declared value then reports any value of its domain);
3. the instant is settled exactly as :func:`padguard.semantics.settle` does (two passes of
   arrivals, sensing, the sequencer's decision, commands, hazards), every move started taking
   each travel time of its range at the resolution, both ends included;
4. the state is put in the same canonical form and the properties are asserted.

Every regime of the count is generated from the same tables: cutoff windows (the count
recycles to the criterion's point), the abort's and the cutoff's safing sequences (their own
clock SEQ_T and next step SSTEP, their steps from the Plan's step tables), the SAFING and FLIGHT
modes (steps after T-0) and their end (every step issued, no equipment moving).

The export is tight: SPIN's state vector holds only what can change, each field as narrow as
its range (bits for positions, fault codes and flags; ``int`` only for times in ms, since a
count needs more than 16 bits). Rows constant for the whole model are literals (equipment no
step moves and no fault moves, sensors without fault modes, which always read their
equipment; criteria without debounce keep no "OK since" time; the hold reason, read only by
operator commands, is not kept), the plume, window and personnel properties are asserted at
the instant they are decided (no hazard flags or ignition time stored), constant tables and
scratch are ``hidden``, the deterministic parts are ``d_step`` and only the choices (time,
faults, travel times) sit between them. Anything read after a choice point stays in the
state vector (SPIN does not restore hidden variables when it backtracks into a choice).

Unlike the verifier, the Promela model applies no reduction (no dormant-fault pruning, every
sensor's faults included): agreement between the two is evidence that the reductions are
sound. Times are 32-bit ``int`` milliseconds (a count must stay under 12 days).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from padguard.compile import (
    NEVER,
    CompiledExpr,
    CompiledTerm,
    Effect,
    Plan,
    StepKind,
    Tri,
)
from padguard.sequencer.table import Mode, Trigger, next_table

PNEVER = 2**30 - 1  # "no such time" in Promela (fits int32 with room for additions)
PROPERTIES = ("plume", "personnel", "window", "invariants", "liveness")


class PromelaError(ValueError):
    """The model cannot be expressed in the generated Promela (e.g. times beyond int32)."""


def _c(v: int) -> str:
    """An int64 Plan constant as a Promela int literal (NEVER maps to PG_PNEVER)."""
    v = int(v)
    if v >= NEVER:
        return "PG_PNEVER"
    if v <= -NEVER:
        return "(-PG_PNEVER)"
    if abs(v) >= PNEVER:
        raise PromelaError(f"time {v} ms does not fit a 32-bit Promela int")
    return str(v) if v >= 0 else f"({v})"


def _decl(name: str, lo: int, hi: int) -> str:
    """The narrowest Promela declaration for values lo..hi: a bit field when non-negative."""
    if lo >= 0:
        if hi <= 1:
            return f"bit {name}"
        if hi < 2**31:
            return f"unsigned {name} : {max(1, int(hi).bit_length())}"
    if -(2**15) <= lo and hi < 2**15:
        return f"short {name}"
    return f"int {name}"


class _Gen:
    """Generates the tight Promela model of one Plan (see the module docstring)."""

    def __init__(self, plan: Plan, max_faults: int, properties: tuple[str, ...], invariants: list[Any],
                 lazy: bool = False):
        self.p = plan
        self.lazy = lazy
        self.K = max_faults
        self.props = properties
        self.invs = invariants
        self.lines: list[str] = []
        self.tmp = 0
        self.nested: list[str] = []
        p = plan
        F = len(p.faults)
        kinds = [int(k) for k in p.step_kind]
        #: equipment some step moves (position, destination and arrival change)
        self.moving = {int(p.step_target[j]) for j in range(len(kinds)) if kinds[j] == StepKind.MOVE}
        #: zones a step evacuates or occupies
        self.zone_var = {int(p.step_target[j]) for j in range(len(kinds))
                         if kinds[j] in (StepKind.EVACUATE, StepKind.OCCUPY)}
        self.e_faults: dict[int, list[int]] = {e: [] for e in range(p.E)}
        self.s_faults: dict[int, list[int]] = {s: [] for s in range(p.S)}
        for f in range(F):
            for m in p.members(f):
                (self.s_faults if p.f_kind[f] else self.e_faults)[int(m)].append(f)
        spont = {e for e in range(p.E) for f in self.e_faults[e] if p.f_effect[f] == Effect.SPONTANEOUS}
        #: equipment whose position ever changes
        self.pos_var = self.moving | spont
        #: debounced criteria keep their "OK since" time; the others need none
        self.oks_var = {c for c in range(p.C) if int(p.c_deb[c]) > 0}
        #: criteria an invariant reads keep their state in the vector (else it is scratch)
        self.cst_var: set[int] = set()
        self.recycles = p.auto_recycle_after >= 0 and len(p.r_at) > 0
        #: the count's steps (the first n_count of the step tables); the abort's safing steps
        #: follow them (n_count..cut0), then the cutoff's (cut0..); a safing step's time is ms
        #: after its sequence started (SEQ_T)
        self.n0, self.c0, self.ntot = int(p.n_count), int(p.cut0), len(p.step_at)
        self.cutoffs = [c for c in range(p.C) if len(p.c_recycle) and int(p.c_recycle[c]) >= 0]
        #: a safing sequence (abort or cutoff) can run: SSTEP and SEQ_T are state
        self.seqs = bool(p.has_safing) or self.c0 < self.ntot
        #: NREC changes on a cutoff too; kept when the auto recycle or an invariant reads it
        self.nrec_read = False
        self.inv_text = [self.invariant(inv) for inv in self.invs] if "invariants" in properties else []
        self.nrec_var = self.recycles or self.nrec_read

    def w(self, line: str = "", ind: int = 0) -> None:
        self.lines.append("    " * ind + line)

    def fresh_tmp(self) -> str:
        self.tmp += 1
        return f"t{self.tmp}"

    # ---- the state variables, or the constants they reduce to -------------------------
    def pos(self, e: int) -> str:
        return f"POS{e}" if e in self.pos_var else str(int(self.p.initial[e]))

    def lo(self, e: int) -> str:
        """Lazy travel: the earliest arrival instant still ahead of a travelling equipment."""
        return f"(ARR{e} - LOD{e})"

    def arr(self, e: int) -> str:
        return f"ARR{e}" if e in self.moving else "(-1)"

    def occ(self, z: int) -> str:
        return f"OCC{z}" if z in self.zone_var else str(int(self.p.zone_init[z]))

    def efx(self, e: int, effect: Effect) -> str:
        """Equipment ``e`` has an active fault with this effect (a literal false when it cannot)."""
        fs = [f for f in self.e_faults[e] if self.p.f_effect[f] == effect]
        return "(" + " || ".join(f"EFT{e} == {f + 1}" for f in fs) + ")" if fs else "false"

    def has_effect(self, s: int, effect: Effect) -> bool:
        return any(self.p.f_effect[f] == effect for f in self.s_faults[s])

    def sval(self, s: int) -> str:
        """A sensor without fault modes always reads its equipment's position (sensed just before)."""
        return f"SV{s}" if self.s_faults[s] else self.pos(int(self.p.s_equip[s]))

    def stime(self, s: int) -> str:
        """Only a dropout leaves a sample older than now."""
        return f"ST{s}" if self.has_effect(s, Effect.DROPOUT) else "T"

    def swrong(self, s: int) -> bool:
        return any(self.p.f_effect[f] == Effect.READS_WRONG and self.p.f_to[f] < 0 for f in self.s_faults[s])

    def cst(self, c: int) -> str:
        return f"CST{c}"

    def nfaults(self) -> str:
        p = self.p
        parts = [f"(EFT{e} != 0)" for e in range(p.E) if self.e_faults[e]]
        parts += [f"(SFT{s} != 0)" for s in range(p.S) if self.s_faults[s]]
        # a common-cause event marks every member but is one fault (plant.active_faults)
        for f in range(len(p.faults)):
            if p.is_common_cause(f):
                row = "SFT" if p.f_kind[f] else "EFT"
                hits = " + ".join(f"({row}{int(c)} == {f + 1})" for c in p.members(f))
                parts.append(f"- ((({hits}) > 0) -> (({hits}) - 1) : 0)")
        return "(" + " + ".join(parts).replace("+ -", "-") + ")" if parts else "0"

    def fresh_expr(self, s: int) -> str:
        p = self.p
        if not self.s_faults[s]:
            return "true"  # the equipment's own position, sampled now: always in the domain
        dom = int(p.transit[p.s_equip[s]]) + 1
        inrange = f"SV{s} < {dom}"
        st = self.stime(s)
        if st == "T":
            return f"({inrange})"
        return f"((T - {st}) <= {int(p.s_limit[s])} && {inrange})"

    def sval_range(self, s: int) -> int:
        p = self.p
        hi = int(p.transit[p.s_equip[s]])
        for f in self.s_faults[s]:
            if p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] >= 0:
                hi = max(hi, int(p.f_to[f]))
        return hi

    # ---- the model ---------------------------------------------------------------------
    def generate(self) -> str:
        p = self.p
        if p.E == 0:
            raise PromelaError("a model without equipment has nothing to check")
        for arr in (p.step_at, p.c_from, p.c_until, p.r_at):
            for v in arr:
                _c(int(v))
        _c(p.window_close)
        for f in range(len(p.faults)):
            if p.f_to[f] < -1 or p.f_to[f] > 255:
                raise PromelaError(f"fault {p.faults[f]}: value {int(p.f_to[f])} out of the export's range")
        nsteps = self.n0  # the count's steps
        F = len(p.faults)
        if self.seqs:
            for lo, hi in ((self.n0, self.c0), (self.c0, self.ntot)):
                if any(p.step_at[j] > p.step_at[j + 1] for j in range(lo, hi - 1)):
                    raise PromelaError("safing steps out of time order: not supported by the Promela export")
        w = self.w
        w(f"/* padguard: {p.model.site.name} / {p.model.procedure.procedure}, generated from the compiled Plan.")
        w(f"   PG_K = {self.K} faults at once, resolution {p.res} ms; properties: {', '.join(self.props)}.")
        w("   Check: spin -a FILE && gcc -O3 -DSAFETY -DNOBOUNDCHECK -DNOFAIR -o pan pan.c && ./pan -m1000000 -w24")
        w("   State vector: only what changes (constant rows are literals), each field as narrow as its range;")
        w("   scratch and constant tables are hidden (not stored). */")
        w(f"#define PG_PNEVER {PNEVER}")
        w(f"#define PG_K {self.K}")
        w(f"#define PG_RES {p.res}")
        w(f"#define PG_IGN {_c(p.ign)}")
        w(f"#define PG_PNR {_c(p.pnr)}")
        w(f"#define PG_WCLOSE {_c(p.window_close)}")
        # the number of active faults: a counter kept with the fault codes (faults are never
        # repaired; a common-cause event is one fault), cheaper to test in the choice's guards
        # than the sum over the codes; a function of them, so it adds no state
        self.nf_var = self.K > 0 and F > 0
        w(f"#define PG_NF {'NF' if self.nf_var else '0'}  /* = {self.nfaults()} */")
        # the count clock runs while counting, in the terminal count and (steps after T-0) in flight
        flight = f" || MODE == {int(Mode.FLIGHT)}" if p.has_flight else ""
        w(f"#define PG_RUN (MODE == 0 || MODE == 2{flight})")
        w("#define PG_CNT (MODE == 0 || MODE == 2)  /* the count runs: criteria, holds, T-0 */")
        w(f"#define PG_FINAL (MODE >= {int(Mode.LAUNCHED)} && MODE <= {int(Mode.ABORTED)})")
        w()
        # ---- the state vector
        w("/* the state vector */")
        w("int T, TC;  /* ms since count start; count time in ms */")
        w(f"{_decl('MODE', 0, max(int(m) for m in Mode))};")
        w(f"{_decl('STEP', 0, nsteps)};")
        w("bit BEGUN;  /* the first instant (count start) has been settled */")
        # the next event's time is recomputed at the start of each instant; it is read after the
        # time and fault choices, so it must survive SPIN's backtracking into them (reset to 0
        # before the state is stored). Without fault choices it is scratch
        self.nxt_state = (self.K > 0 and F > 0) or (self.lazy and bool(self.moving))
        #: lazy travel: something arrives at the chosen instant (read by the fault choice)
        self.ev_var = self.lazy and bool(self.moving) and self.K > 0 and F > 0
        if self.ev_var:
            w("bit EV;  /* lazy travel: something arrives at this instant (always 0 between instants) */")
        if self.nxt_state:
            w("int NXT;  /* the next event (0 between instants) */")
        if self.nf_var:
            w(f"{_decl('NF', 0, self.K)};  /* active faults */")
        if len(p.holds):
            w(f"{_decl('NEXTB', 0, len(p.holds))};")
            w("int HOLD_UNTIL;")
        if self.nrec_var:
            w(f"{_decl('NREC', 0, self.nrec_cap())};")
        if self.recycles:
            w("int HOLD_START;")
        if self.seqs:
            w(f"{_decl('SSTEP', 0, self.ntot)};  /* next safing step ({self.ntot}: none running) */")
            w("int SEQ_T;  /* when the running safing sequence started (0 when none runs) */")
        for e in range(p.E):
            name = p.equipment[e]
            if e in self.pos_var:
                w(f"{_decl(f'POS{e}', 0, int(p.transit[e]))};  /* {name} */")
            if e in self.moving:
                w(f"{_decl(f'DST{e}', 0, int(p.transit[e]))}; int ARR{e};")
                if self.lazy:  # the earliest arrival still ahead, as its distance before the latest (ARR)
                    span = int((p.tmax[e] - p.tmin[e])[p.tmin[e] >= 0].max(initial=0))
                    w(f"{_decl(f'LOD{e}', 0, span)};  /* lazy travel: ARR{e} - LOD{e} = earliest arrival */")
            if self.e_faults[e]:
                w(f"{_decl(f'EFT{e}', 0, F)};")
        for s in range(p.S):
            if not self.s_faults[s]:
                continue
            w(f"{_decl(f'SFT{s}', 0, F)}; {_decl(f'SV{s}', 0, self.sval_range(s))};  /* {p.sensors[s]} */")
            if self.stime(s) != "T":
                w(f"int ST{s};")
            if self.swrong(s):
                w(f"{_decl(f'SW{s}', 0, int(p.transit[p.s_equip[s]]) + 1)};  /* a wrong reading (+1: to choose) */")
        for z in sorted(self.zone_var):
            w(f"{_decl(f'OCC{z}', 0, max(1, int(p.zone_init[z])))};")
        for c in sorted(self.oks_var):
            w(f"int OKS{c};  /* {p.criteria[c]} OK since (debounce) */")
        for c in range(p.C):
            w(f"{_decl(f'CST{c}', 0, 2)};" if c in self.cst_var else f"hidden byte CST{c};")
        self.cmd_steps = [j for j in range(self.ntot) if int(p.step_kind[j]) in
                          (StepKind.MOVE, StepKind.EVACUATE, StepKind.OCCUPY)]
        for j in self.cmd_steps:
            w(f"bit ISS{j};  /* step {j} issued in this pass (always 0 between instants) */")
        w("unsigned PASS : 2;  /* settle pass (always 0 between instants) */")
        # ---- constant tables and scratch (hidden: not part of the state vector)
        w("/* constants and scratch, not stored */")
        w(f"hidden int STEP_AT[{nsteps + 1}];")
        nh = len(p.holds)
        w(f"hidden int H_AT[{nh + 1}], H_DUR[{nh + 1}];")
        nr = max(len(p.r_at), 1)
        w(f"hidden int R_AT[{nr}];")
        w(f"hidden byte R_STEP[{nr}], R_HOLD[{nr}];")
        w(f"hidden byte PEND[{max(F, 1)}];  /* faults chosen at this instant, until their effects are applied */")
        w(f"hidden int {'' if self.nxt_state else 'NXT, '}q_t, q_best;")
        self.decl_at = len(self.lines)
        w("hidden int q_raw, q_nin, q_nout, q_tri;")
        w("hidden byte q_anyblock, q_running, q_holding, q_moving, q_hexp, q_resumable, q_atb, q_did, q_enter_hold, "
          "q_leave_hold, q_builtin;")
        w("hidden short q_trig, q_newm, q_first, q_nextb, q_hb, q_cut;")
        w()
        self.inlines()
        w("active proctype countdown()")
        w("{")
        w("d_step {", 1)
        self.init_tables(2)
        self.initial_state(2)
        w("}", 1)
        w("do", 1)
        # one atomic block per settled instant, so SPIN stores one state per instant; it leaves
        # the loop itself once the count is over (final mode, or nothing left to happen)
        w(":: atomic { d_step { next_event() };", 1)
        self.macro_step(3)
        w("}", 2)
        w("od", 1)
        w("}")
        if self.nested:  # scratch for nested all/any expressions
            self.lines.insert(self.decl_at, f"hidden byte {', '.join(self.nested)};")
        return "\n".join(self.lines) + "\n"

    def init_tables(self, ind: int) -> None:
        p = self.p
        w = self.w
        for j, a in enumerate(p.step_at[:self.n0]):
            w(f"STEP_AT[{j}] = {_c(a)};", ind)
        w(f"STEP_AT[{self.n0}] = PG_PNEVER;", ind)
        for i in range(len(p.holds) + 1):
            w(f"H_AT[{i}] = {_c(p.h_at[i])}; H_DUR[{i}] = {_c(p.h_dur[i])};", ind)
        for i in range(len(p.r_at)):
            w(f"R_AT[{i}] = {_c(p.r_at[i])}; R_STEP[{i}] = {int(p.r_step[i])}; R_HOLD[{i}] = {int(p.r_hold[i])};", ind)

    def initial_state(self, ind: int) -> None:
        """semantics.initial_state: count start, then the first sensing and criteria (in canonical form)."""
        p = self.p
        w = self.w
        w(f"T = 0; TC = {_c(p.start)}; MODE = {int(Mode.COUNTING)};", ind)
        if len(p.holds):
            w("HOLD_UNTIL = -1;", ind)
        if self.seqs:
            w(f"SSTEP = {self.ntot};", ind)
        for e in range(p.E):
            if e in self.pos_var:
                w(f"POS{e} = {int(p.initial[e])};", ind)
            if e in self.moving:
                w(f"ARR{e} = -1;", ind)  # DST stays 0: the canonical form of "not moving"
        for z in sorted(self.zone_var):
            w(f"OCC{z} = {int(p.zone_init[z])};", ind)
        w("sense();", ind)
        for c in range(p.C):
            w("q_raw = 0;", ind)
            self._expr(p.c_expr[c], "q_raw", ind)
            if c in self.oks_var:
                w(f"OKS{c} = (q_raw == 2 -> (-PG_PNEVER) : -1);", ind)
            w(f"CST{c} = q_raw;", ind)

    # ---- inlines: the plant and the sequencer, unrolled over the Plan's tables ------------
    def inlines(self) -> None:
        p = self.p
        w = self.w
        w("inline arrivals() {")
        for e in sorted(self.moving):
            wrong = [f for f in self.e_faults[e] if p.f_effect[f] == Effect.WRONG_POSITION]
            to = f"DST{e}"
            for f in reversed(wrong):
                to = f"(EFT{e} == {f + 1} -> {int(p.f_to[f])} : {to})"
            w(f"if :: (ARR{e} >= 0 && ARR{e} <= T) -> POS{e} = {to}; ARR{e} = -1 :: else -> skip fi;", 1)
        w("skip")
        w("}")
        w("inline sense() {")
        for s in range(p.S):
            if not self.s_faults[s]:
                continue
            pos = self.pos(int(p.s_equip[s]))
            st = "" if self.stime(s) == "T" else f"; ST{s} = T"
            w(f"if :: (SFT{s} == 0) -> SV{s} = {pos}{st}", 1)
            for f in self.s_faults[s]:
                eff = int(p.f_effect[f])
                if eff == Effect.READS_WRONG:
                    val = int(p.f_to[f]) if p.f_to[f] >= 0 else f"SW{s}"
                    w(f":: (SFT{s} == {f + 1}) -> SV{s} = {val}{st}", 1)
                elif eff == Effect.STUCK:
                    w(f":: (SFT{s} == {f + 1}) -> skip{st}", 1)
                elif eff == Effect.DROPOUT:
                    w(f":: (SFT{s} == {f + 1}) -> skip", 1)
                else:
                    w(f":: (SFT{s} == {f + 1}) -> SV{s} = {pos}{st}", 1)
            w("fi;", 1)
        w("skip")
        w("}")
        w("inline personnel() {")  # the personnel property, asserted where it is decided
        if "personnel" in self.props:
            for z in range(len(p.zones)):
                eqs = [e for e in range(p.E) if p.zone_equip[z, e] and e in self.moving]
                occ = self.occ(z)
                if eqs and occ != "0":
                    moving = " || ".join(f"ARR{e} >= 0" for e in eqs)
                    w(f"assert(!({occ} > 0 && ({moving})));  /* personnel: {p.zones[z]} */", 1)
        w("skip")
        w("}")
        self.next_event_inline()
        w("inline canonical() {")
        for c in sorted(self.oks_var):
            w(f"if :: (OKS{c} >= 0 && T - OKS{c} >= {int(p.c_deb[c])}) -> OKS{c} = -PG_PNEVER :: else -> skip fi;", 1)
        for s in range(p.S):
            if self.stime(s) != "T":
                w(f"if :: ({self._is(s, Effect.DROPOUT)} && T - ST{s} > {int(p.s_limit[s])}) -> "
                  f"ST{s} = -PG_PNEVER :: else -> skip fi;", 1)
        if self.recycles:
            w("if :: (MODE != 1) -> HOLD_START = 0 :: else -> skip fi;", 1)
        if self.seqs:  # the sequence's clock is read only while a sequence has steps to issue
            w(f"if :: (SSTEP == {self.ntot} || (MODE == {int(Mode.SAFING)} && SSTEP == {self.c0}) || PG_FINAL) -> "
              "SEQ_T = 0 :: else -> skip fi;", 1)
        for e in sorted(self.moving):
            w(f"if :: (ARR{e} < 0) -> DST{e} = 0 :: else -> skip fi;", 1)
            if self.lazy:  # the window's first candidate still ahead (candidates: LO + k*res and ARR)
                lo = self.lo(e)
                w(f"if :: (ARR{e} < 0) -> LOD{e} = 0 :: (ARR{e} >= 0 && {lo} <= T) -> "
                  f"q_t = {lo} + ((T - {lo}) / PG_RES + 1) * PG_RES; "
                  f"LOD{e} = (q_t > ARR{e} -> 0 : ARR{e} - q_t) :: else -> skip fi;", 1)
        w("skip")
        w("}")
        self.decide_inline()
        self.check_inline()

    def _is(self, s: int, effect: Effect) -> str:
        fs = [f for f in self.s_faults[s] if self.p.f_effect[f] == effect]
        return "(" + " || ".join(f"SFT{s} == {f + 1}" for f in fs) + ")" if fs else "false"

    def next_event_inline(self) -> None:
        p = self.p
        w = self.w
        nsteps = self.n0
        marks = sorted({int(p.ign), *[int(x) for x in p.c_from], *[int(x) + 1 for x in p.c_until]})
        w("inline next_event() {")
        w("q_best = PG_PNEVER;", 1)
        w("q_running = PG_CNT; q_holding = (MODE == 1);", 1)

        def cand(cond: str, expr: str) -> None:
            w(f"q_t = {expr};", 1)
            w(f"if :: ({cond} && q_t > T && q_t < q_best) -> q_best = q_t :: else -> skip fi;", 1)

        if nsteps:
            cand(f"PG_RUN && STEP < {nsteps}", "T + (STEP_AT[STEP] - TC)")
        if self.seqs:  # the next safing step, on its sequence's clock
            for j in range(self.n0, self.ntot):
                live = (f"MODE == {int(Mode.SAFING)}" if j < self.c0 else
                        f"MODE != {int(Mode.SAFING)} && !PG_FINAL")
                cand(f"SSTEP == {j} && {live}", f"SEQ_T + {_c(p.step_at[j])}")
        w("q_t = PG_PNEVER;", 1)  # the first count mark strictly after TC
        for m in reversed(marks):
            w(f"if :: (TC < {_c(m)}) -> q_t = {_c(m)} :: else -> skip fi;", 1)
        w("if :: (q_running && q_t < PG_PNEVER && T + (q_t - TC) < q_best) -> q_best = T + (q_t - TC) "
          ":: else -> skip fi;", 1)
        cand("q_running && MODE == 0", "T + (PG_PNR - TC)")
        if len(p.holds):
            cand("MODE == 0 && H_AT[NEXTB] < PG_PNEVER", "T + (H_AT[NEXTB] - TC)")
        for e in sorted(self.moving):
            cand("true", f"ARR{e}")
        for s in range(p.S):
            if self.stime(s) != "T":
                cand(self._is(s, Effect.DROPOUT), f"ST{s} + {int(p.s_limit[s]) + 1}")
        for c in sorted(self.oks_var):
            cand(f"OKS{c} >= 0", f"OKS{c} + {int(p.c_deb[c])}")
        if len(p.holds):
            cand("q_holding", "HOLD_UNTIL")
        cand("q_holding", "PG_WCLOSE - (PG_IGN - TC) + 1")
        if self.recycles:
            cand(f"q_holding && NREC < {p.auto_max_recycles}", f"HOLD_START + {p.auto_recycle_after}")
        w("if :: PG_FINAL -> q_best = PG_PNEVER :: else -> skip fi;", 1)
        w("if :: !BEGUN -> q_best = T; BEGUN = 1 :: else -> skip fi;  /* count start is the first instant */", 1)
        w("NXT = q_best", 1)
        w("}")

    def _expr(self, e: CompiledExpr | CompiledTerm, out: str, ind: int) -> None:
        """Set ``out`` to an expression's tri-state (Kleene all = min, any = max)."""
        w = self.w
        if isinstance(e, CompiledTerm):
            self._term(e, out, ind)
            return
        w(f"{out} = {2 if e.op == 'all' else 0};", ind)
        for it in e.items:
            tmp = "q_tri"
            if isinstance(it, CompiledExpr):
                tmp = "q_" + self.fresh_tmp()
                self.nested.append(tmp)
            self._expr(it, tmp, ind)
            if e.op == "all":
                w(f"if :: ({tmp} < {out}) -> {out} = {tmp} :: else -> skip fi;", ind)
            else:
                w(f"if :: ({tmp} > {out}) -> {out} = {tmp} :: else -> skip fi;", ind)

    def _term(self, t: CompiledTerm, out: str, ind: int) -> None:
        w = self.w
        w("q_nin = 0; q_nout = 0;", ind)
        last = len(t.lut) - 1
        yes = [v for v in range(len(t.lut)) if t.lut[v]]
        for s in t.sensors:
            s = int(s)
            sv = self.sval(s)
            # values are clipped to the lookup table as in rules.eval_term (never negative here)
            clip = f"({sv} > {last} -> {last} : {sv})"
            inset = " || ".join(f"{clip} == {v}" for v in yes) or "false"
            fresh = self.fresh_expr(s)
            if fresh == "true":
                w(f"if :: ({inset}) -> q_nin++ :: else -> q_nout++ fi;", ind)
            else:
                w(f"if :: ({fresh}) -> if :: ({inset}) -> q_nin++ :: else -> q_nout++ fi :: else -> skip fi;", ind)
        w(f"{out} = (q_nin >= {t.k} -> {int(Tri.OK)} : (q_nout >= {t.k} -> {int(Tri.VIOLATED)} : {int(Tri.UNKNOWN)}));",
          ind)

    def decide_inline(self) -> None:
        """rules.decide with no operator command, unrolled (the hold reason, which only an operator
        command or the narration reads, is not kept)."""
        p = self.p
        w = self.w
        C = p.C
        nsteps = self.n0
        NEXT = next_table(p.has_safing, p.has_flight)
        w("inline decide() {")
        w("q_anyblock = 0; q_first = 0;", 1)
        if self.cutoffs:
            w("q_cut = -1;", 1)
        for c in range(C):
            w("q_raw = 0;", 1)
            self._expr(p.c_expr[c], "q_raw", 1)
            if c in self.oks_var:
                w(f"if :: (q_raw == 2) -> if :: (OKS{c} == -1) -> OKS{c} = T :: else -> skip fi "
                  f":: else -> OKS{c} = -1 fi;", 1)
                w(f"if :: (q_raw == 2 && T - OKS{c} < {int(p.c_deb[c])}) -> CST{c} = 1 :: else -> CST{c} = q_raw fi;", 1)
            else:
                w(f"CST{c} = q_raw;", 1)
            cut = (f"; if :: (q_cut < 0) -> q_cut = {int(p.c_recycle[c])} :: else -> skip fi"
                   if c in self.cutoffs else "")
            w(f"if :: ({_c(p.c_from[c])} <= TC && TC <= {_c(p.c_until[c])} && CST{c} != 2) -> q_anyblock = 1{cut} "
              ":: else -> skip fi;", 1)
        w("q_running = PG_CNT; q_holding = (MODE == 1);", 1)
        hexp = "(HOLD_UNTIL <= T)" if len(p.holds) else "1"
        w(f"q_hexp = {hexp}; q_resumable = (q_holding && !q_anyblock && q_hexp);", 1)
        if len(p.holds):
            w("q_nextb = NEXTB; q_atb = (MODE == 0 && TC >= H_AT[q_nextb]);", 1)
        else:
            w("q_nextb = 0; q_atb = 0;", 1)
        w("q_trig = -1;", 1)
        w(f"if :: ((q_holding || MODE == 0) && T + (PG_IGN - TC) > PG_WCLOSE) -> q_trig = {int(Trigger.WINDOW_CLOSED)} "
          ":: else -> skip fi;", 1)
        if self.cutoffs:  # a cutoff criterion not OK while the count runs: recycle to its point
            w(f"if :: (q_trig < 0 && q_running && q_cut >= 0) -> q_trig = {int(Trigger.CUTOFF)} :: else -> skip fi;", 1)
        w("if :: (q_trig < 0 && q_running) ->", 1)
        w(f"if :: q_anyblock -> q_trig = {int(Trigger.AUTO_HOLD)}", 2)
        w(f":: (!q_anyblock && q_atb) -> q_trig = {int(Trigger.BUILTIN_HOLD)}", 2)
        w(f":: (!q_anyblock && !q_atb && TC >= PG_IGN) -> q_trig = {int(Trigger.IGNITION)}", 2)
        w(f":: (!q_anyblock && !q_atb && TC < PG_IGN && MODE == 0 && TC >= PG_PNR) -> q_trig = {int(Trigger.PNR)}", 2)
        w(":: else -> skip fi", 2)
        w(":: else -> skip fi;", 1)
        if self.recycles:
            r_at = int(p.r_at[max(p.auto_recycle_to, 0)])
            w(f"if :: (q_trig < 0 && q_holding && T - HOLD_START >= {p.auto_recycle_after} "
              f"&& NREC < {p.auto_max_recycles} && q_hexp && T + (PG_IGN - ({_c(r_at)})) <= PG_WCLOSE) "
              f"-> q_trig = {int(Trigger.RECYCLE)} :: else -> skip fi;", 1)
        if p.auto_resume:
            w(f"if :: (q_trig < 0 && q_resumable) -> q_trig = {int(Trigger.RESUME)} :: else -> skip fi;", 1)
        w("q_newm = -1;", 1)  # the transition table
        for m in range(NEXT.shape[0]):
            for tr in range(NEXT.shape[1]):
                if NEXT[m, tr] >= 0 and tr != Trigger.SEQUENCE_DONE:
                    w(f"if :: (MODE == {m} && q_trig == {tr}) -> q_newm = {int(NEXT[m, tr])} :: else -> skip fi;", 1)
        w("q_did = (q_trig >= 0 && q_newm >= 0);", 1)
        w("if :: (!q_did) -> q_newm = MODE :: else -> skip fi;", 1)
        w("q_enter_hold = (q_did && q_newm == 1); q_leave_hold = (q_did && q_holding && q_newm != 1);", 1)
        w(f"q_builtin = (q_did && q_trig == {int(Trigger.BUILTIN_HOLD)});", 1)
        if len(p.holds) or self.recycles:
            w(f"q_hb = (q_nextb < {len(p.holds)} -> q_nextb : {len(p.holds)});", 1)
        if self.recycles:
            w("if :: q_enter_hold -> HOLD_START = (q_builtin -> T + H_DUR[q_hb] : T) :: else -> skip fi;", 1)
        if len(p.holds):
            w("if :: q_builtin -> HOLD_UNTIL = T + H_DUR[q_hb] :: else -> if :: q_leave_hold -> HOLD_UNTIL = -1 "
              ":: else -> skip fi fi;", 1)
            w("if :: q_builtin -> NEXTB = q_nextb + 1 :: else -> skip fi;", 1)
        nrec = ""
        if self.nrec_var:
            nrec = f"if :: (NREC < {self.nrec_cap()}) -> NREC++ :: else -> skip fi"
        if self.recycles:
            ri = min(max(p.auto_recycle_to, 0), len(p.r_at) - 1)
            hold = f"NEXTB = R_HOLD[{ri}]; " if len(p.holds) else ""
            w(f"if :: (q_did && q_trig == {int(Trigger.RECYCLE)}) -> TC = R_AT[{ri}]; STEP = R_STEP[{ri}]; "
              f"{hold}{nrec or 'skip'} :: else -> skip fi;", 1)
        if self.cutoffs:  # the cutoff recycles to its criterion's point
            hold = "NEXTB = R_HOLD[q_cut]; " if len(p.holds) else ""
            w(f"if :: (q_did && q_trig == {int(Trigger.CUTOFF)}) -> TC = R_AT[q_cut]; STEP = R_STEP[q_cut]; "
              f"{hold}{nrec or 'skip'} :: else -> skip fi;", 1)
        # ignition: the plume and window properties, asserted on the true state at that instant
        # (no step is issued in a pass that ignites)
        w(f"if :: (q_did && q_trig == {int(Trigger.IGNITION)}) ->", 1)
        if "plume" in self.props:
            for r in range(len(p.plume)):
                e = int(p.rule_equip[r])
                safe = [int(v) for v in np.flatnonzero(p.rule_safe[r]) if v < p.transit[e]]
                cond = " || ".join(f"{self.pos(e)} == {v}" for v in safe) or "false"
                w(f"assert({cond});  /* plume: {p.plume[r]} */", 2)
        if "window" in self.props:
            w("assert(T <= PG_WCLOSE);  /* window */", 2)
        w("skip", 2)
        w(":: else -> skip fi;", 1)
        w("MODE = q_newm;", 1)
        if nsteps:
            w("if :: PG_RUN ->", 1)
            for j in range(nsteps):
                iss = f"ISS{j} = 1; " if j in self.cmd_steps else ""
                w(f"if :: (STEP == {j} && TC >= {_c(p.step_at[j])}) -> {iss}STEP = {j + 1} :: else -> skip fi;", 2)
            w("skip", 2)
            w(":: else -> skip fi;", 1)
        if self.seqs or p.has_flight:
            self.sequences()
        w("skip", 1)
        w("}")

    def sequences(self) -> None:
        """rules._sequences: the cutoff's and the abort's safing sequences on their own clock, and
        the end of SAFING and FLIGHT (every step issued, no equipment moving or just commanded)."""
        p = self.p
        w = self.w
        SAF, FL = int(Mode.SAFING), int(Mode.FLIGHT)

        def issue(lo: int, hi: int, ind: int) -> None:
            for j in range(lo, hi):  # in order while their time on the sequence's clock has come
                iss = f"ISS{j} = 1; " if j in self.cmd_steps else ""
                w(f"if :: (SSTEP == {j} && T - SEQ_T >= {_c(p.step_at[j])}) -> {iss}SSTEP = {j + 1} "
                  ":: else -> skip fi;", ind)
            w("skip", ind)

        if self.c0 < self.ntot:
            w(f"if :: (q_did && q_trig == {int(Trigger.CUTOFF)}) -> SEQ_T = T; SSTEP = {self.c0} :: else -> skip fi;", 1)
            w(f"if :: (SSTEP >= {self.c0} && SSTEP < {self.ntot} && MODE != {SAF} && !PG_FINAL) ->", 1)
            issue(self.c0, self.ntot, 2)
            w(":: else -> skip fi;", 1)
        if p.has_safing:
            w(f"if :: (MODE == {SAF}) ->", 1)
            w(f"if :: q_did -> SEQ_T = T; SSTEP = {self.n0} :: else -> skip fi;", 2)
            issue(self.n0, self.c0, 2)
            w(":: else -> skip fi;", 1)
        if not (p.has_safing or p.has_flight):
            return
        moves = [f"ARR{e} >= 0" for e in sorted(self.moving)]
        moves += [f"ISS{j}" for j in self.cmd_steps if int(p.step_kind[j]) == StepKind.MOVE]
        w(f"q_moving = ({' || '.join(moves) or '0'});", 1)
        seq = []
        if p.has_safing:
            seq.append(f"(MODE == {SAF} && SSTEP >= {self.c0})")
        if p.has_flight:
            seq.append(f"(MODE == {FL} && STEP >= {self.n0})")
        done = next_table(p.has_safing, p.has_flight)[:, Trigger.SEQUENCE_DONE]
        w(f"if :: (!q_did && !q_moving && ({' || '.join(seq)})) -> "
          f"MODE = (MODE == {SAF} -> {int(done[SAF])} : {int(done[FL])}) :: else -> skip fi;", 1)

    def check_inline(self) -> None:
        w = self.w
        w("inline check() {")
        if self.inv_text:
            for inv, text in zip(self.invs, self.inv_text, strict=True):
                w(f"assert({text}); /* invariant {inv.name} */", 1)
        if "liveness" in self.props:
            w(f"assert(!((PG_FINAL || NXT >= PG_PNEVER) && PG_NF == 0 && MODE != {int(Mode.LAUNCHED)}));", 1)
        w("skip", 1)
        w("}")

    def _nrec(self) -> str:
        """An invariant reads the recycle count: NREC is kept (it is constant 0 only when nothing recycles)."""
        if self.recycles or self.cutoffs:
            self.nrec_read = True
            return "NREC"
        return "0"

    def nrec_cap(self) -> int:
        """The largest recycle count NREC must represent.

        Without a reader other than the auto recycle (NREC < max_recycles), counts past the
        maximum are alike, so NREC saturates there. An invariant reads the count itself: each
        cutoff needs the count to run again from its recycle point to its criterion's window
        (at least ``gap`` ms of wall time), and a count ends within the window."""
        p = self.p
        cap = max(int(p.auto_max_recycles), 1) if self.recycles else 1
        if not (self.nrec_read and self.cutoffs):
            return cap
        gap = min(int(p.c_from[c]) - int(p.r_at[int(p.c_recycle[c])]) for c in self.cutoffs)
        if gap <= 0:
            raise PromelaError("an invariant reads the recycle count and a cutoff recycles to a point inside "
                               "its own window: the count has no bound the export can size")
        horizon = int(p.window_close) + abs(int(p.ign) - int(p.start)) + max(int(p.h_dur.max()), 0)
        return cap + horizon // gap + 2

    def invariant(self, inv: Any) -> str:
        from padguard.model import invariants as I

        vars_ = I.variables(self.p.model.site, self.p.model.procedure)

        def go(t: Any) -> str:
            if isinstance(t, I.Const):
                return "true" if t.value else "false"
            if isinstance(t, I.Not):
                return f"!({go(t.item)})"
            if isinstance(t, I.BoolOp):
                if t.op == "implies":
                    return f"(!({go(t.items[0])}) || ({go(t.items[1])}))"
                j = " && " if t.op == "and" else " || "
                return "(" + j.join(f"({go(i)})" for i in t.items) + ")"
            v, codes = I._resolve(t, vars_)
            if v.kind == "criterion":
                self.cst_var.add(int(v.index))
            lhs = {"equipment": lambda: self.pos(int(v.index)), "criterion": lambda: f"CST{v.index}",
                   "zone": lambda: f"({self.occ(int(v.index))} > 0)", "mode": lambda: "MODE",
                   "count": lambda: "TC", "time": lambda: "T",
                   "recycles": lambda: self._nrec()}[v.kind]()
            if t.op in ("in", "notin"):
                e = "(" + " || ".join(f"{lhs} == {_c(c)}" for c in codes) + ")"
                return e if t.op == "in" else f"!{e}"
            return f"({lhs} {t.op} {_c(codes[0])})"

        return go(I.parse(inv.text))

    # ---- one settled instant ------------------------------------------------------------------
    def macro_step(self, ind: int) -> None:
        p = self.p
        w = self.w
        order = sorted(range(len(p.faults)), key=lambda f: (0 if p.f_kind[f] else 1, f))
        cells = {f: [("SFT" if p.f_kind[f] else "EFT", int(m)) for m in p.members(f)] for f in order}
        for f in order:
            if (p.f_kind[f] == 1 and p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] < 0
                    and len(cells[f]) > 1):
                raise PromelaError(f"common-cause fault {p.faults[f]} reads wrong without a declared value: "
                                   "not supported by the Promela export (declare 'value')")
        # 1. time: the next event, or (only when a fault strikes then) any grid instant before it,
        # since a fault's instant moves its deadlines (e.g. when a dropout goes stale)
        faulty = self.K > 0 and bool(order)
        lazy = sorted(self.moving) if self.lazy else []
        if faulty or lazy:
            w("if :: TC = TC + (PG_RUN -> NXT - T : 0); T = NXT", ind)
        if faulty:
            free = " || ".join("(" + " && ".join(f"{r}{m} == 0" for r, m in cells[f]) + ")" for f in order)
            w(f":: (PG_NF < PG_K && ({free}) && T + PG_RES < NXT) -> TC = TC + (PG_RUN -> PG_RES : 0); "
              "T = T + PG_RES;", ind)
            w("   do :: (T + PG_RES < NXT) -> TC = TC + (PG_RUN -> PG_RES : 0); T = T + PG_RES :: break od", ind)
        # lazy travel: a candidate arrival instant of a travelling equipment before the next event
        # (its earliest LO + k*res), where it arrives (Explorer._time_choices)
        ev = "; EV = 1" if self.ev_var else ""
        for e in lazy:
            lo = self.lo(e)
            w(f":: (ARR{e} >= 0 && {lo} < NXT) -> TC = TC + (PG_RUN -> {lo} - T : 0); T = {lo};", ind)
            w("   do :: (T + PG_RES < NXT) -> TC = TC + (PG_RUN -> PG_RES : 0); T = T + PG_RES :: break od;", ind)
            w(f"   ARR{e} = T{ev}", ind)
        if faulty or lazy:
            w("fi;", ind)
        else:
            w("TC = TC + (PG_RUN -> NXT - T : 0); T = NXT;", ind)
        for e in lazy:  # any other travelling equipment for which this instant is a candidate may arrive
            lo = self.lo(e)
            w(f"if :: (ARR{e} > T && {lo} <= T && (T - {lo}) % PG_RES == 0) -> "
              f"if :: ARR{e} = T{ev} :: skip fi :: else -> skip fi;", ind)
        w("skip;  /* a jump target outside the d_steps */", ind)
        # 2. faults: one non-deterministic choice among the sets of fault modes that may strike now
        # (within the budget, at most one per component, in the verifier's injection order), each
        # applied at once (plant.inject: sensors take their last good sample first). Off the next
        # event a fault must strike (the time choice above guarantees one can)
        if self.K > 0 and order:
            w("if", ind)
            w(f":: (T == NXT{' || EV' if self.ev_var else ''}) -> skip", ind)
            for k in range(1, self.K + 1):
                for sub in itertools.combinations(order, k):
                    used = [cell for f in sub for cell in cells[f]]
                    if len(set(used)) < len(used):  # at most one fault mode per component
                        continue
                    guard = " && ".join(f"{row}{m} == 0" for row, m in used)
                    act = [f"{row}{m} = {f + 1}" for f in sub for row, m in cells[f]]
                    act += [f"PEND[{f}] = 1" for f in sub] + [f"NF = NF + {k}"]
                    for f in sub:  # a wrong reading's value is chosen below
                        if p.f_kind[f] == 1 and p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] < 0:
                            c = int(p.f_comp[f])
                            act.append(f"SW{c} = {int(p.transit[p.s_equip[c]]) + 1}")
                    w(f":: (PG_NF + {k} <= PG_K && {guard}) -> d_step {{ {'; '.join(act)} }}", ind)
            w("fi;", ind)
            w("skip;", ind)
            # the effects, in injection order, right after the choice (PEND is scratch: set by the
            # chosen branch and cleared here, with no choice point in between)
            w("d_step {", ind)
            for f in order:
                w(f"if :: PEND[{f}] -> {'; '.join(self.inject(f))}; PEND[{f}] = 0 :: else -> skip fi;", ind + 1)
            w("skip", ind + 1)
            w("};", ind)
            for c in range(p.S):  # a reads_wrong fault without a declared value: any value of the domain
                if self.s_faults[c] and self.swrong(c):
                    dom = int(p.transit[p.s_equip[c]]) + 1
                    w(f"if :: (SW{c} == {dom}) -> SW{c} = 0; do :: (SW{c} < {dom - 1}) -> SW{c}++ :: break od "
                      ":: else -> skip fi;", ind)
            w("skip;", ind)
        # 3. settle: two passes of the semantics, the commands (and their travel choices) between
        # each pass's deterministic part and its personnel check
        w("do", ind)
        w(":: (PASS < 2) -> d_step { arrivals(); sense(); decide() };", ind)
        self.commands(ind + 1)
        w("skip;", ind + 1)
        w("d_step { personnel(); PASS++ }", ind + 1)
        w(":: else -> break", ind)
        w("od;", ind)
        w("skip;", ind)
        w(f"d_step {{ sense(); canonical(); next_event(); check(); PASS = 0{'; EV = 0' if self.ev_var else ''} }};", ind)
        w(f"if :: (PG_FINAL || NXT >= PG_PNEVER) -> break :: else -> {'NXT = 0' if self.nxt_state else 'skip'} fi",
          ind)

    def inject(self, f: int) -> list[str]:
        """plant.inject for fault ``f`` on each of its members, at the current instant."""
        p = self.p
        eff = int(p.f_effect[f])
        out = []
        for c in (int(m) for m in p.members(f)):
            if p.f_kind[f] == 0:
                if eff == Effect.JAM and c in self.moving:
                    out.append(f"if :: (ARR{c} >= 0) -> ARR{c} = -1; POS{c} = {int(p.transit[c])} :: else -> skip fi")
                elif eff == Effect.SPONTANEOUS:
                    out.append(f"POS{c} = {int(p.f_to[f])}")
                    if c in self.moving:
                        out.append(f"ARR{c} = -1; DST{c} = 0")
            else:
                out.append(f"SV{c} = {self.pos(int(p.s_equip[c]))}")
                if self.stime(c) != "T":
                    out.append(f"ST{c} = T")
        return out or ["skip"]

    def commands(self, ind: int) -> None:
        """plant.command for the steps issued in this pass: travel time chosen at the resolution
        (lazy travel: no choice; the move is in transit over [now + min, now + max], the arrival
        instant chosen when it comes, as Explorer._open_windows does; a slow move has one)."""
        p = self.p
        w = self.w
        for j in self.cmd_steps:
            kind = int(p.step_kind[j])
            tgt = int(p.step_target[j])
            if kind == StepKind.MOVE:
                to = int(p.step_to[j])
                P = int(p.transit[tgt])
                jam = self.efx(tgt, Effect.JAM)
                if len(p.host) and p.host[tgt] >= 0:  # a lock acts on its host (plant.command)
                    h = int(p.host[tgt])
                    ok = " || ".join(f"{self.pos(h)} == {v}"
                                     for v in np.flatnonzero(p.host_ok[tgt][:int(p.transit[h])])) or "false"
                    jam = f"{jam} || !(({ok}) && {self.arr(h)} < 0)"
                already = f"((POS{tgt} == {to} && ARR{tgt} < 0) || (DST{tgt} == {to} && ARR{tgt} >= 0))"
                opts = []  # the range depends on where the equipment starts from
                slow = [f for f in self.e_faults[tgt] if p.f_effect[f] == Effect.SLOW]
                for a in range(P + 1):
                    lo, hi = int(p.tmin[tgt, a, to]), int(p.tmax[tgt, a, to])
                    if lo >= 0:
                        opts.append((a, lo, hi))
                if self.lazy:
                    w(f"d_step {{ if :: (ISS{j} && !({jam}) && !{already}) ->", ind)
                    w("if", ind + 1)
                    for f in slow:
                        for a, _lo, hi in opts:
                            w(f":: (POS{tgt} == {a} && EFT{tgt} == {f + 1}) -> ARR{tgt} = T + "
                              f"{hi + int(p.f_delay[f])}; LOD{tgt} = 0", ind + 1)
                    for a, lo, hi in opts:
                        guard = f"POS{tgt} == {a}" + "".join(f" && EFT{tgt} != {f + 1}" for f in slow)
                        w(f":: ({guard}) -> LOD{tgt} = {hi - lo}; ARR{tgt} = T + {hi}", ind + 1)
                    w(f":: else -> ARR{tgt} = T; LOD{tgt} = 0", ind + 1)
                    w(f"fi; DST{tgt} = {to}; POS{tgt} = {P}", ind + 1)
                    w(":: else -> skip fi };", ind)
                    continue
                w(f"if :: (ISS{j} && !({jam}) && !{already}) ->", ind)
                w("if", ind + 1)
                for f in slow:  # slow: the declared maximum plus the fault's delay
                    for a, _lo, hi in opts:
                        w(f":: (POS{tgt} == {a} && EFT{tgt} == {f + 1}) -> ARR{tgt} = T + {hi + int(p.f_delay[f])}",
                          ind + 1)
                for a, lo, hi in opts:  # lo, lo + res, ..., and hi itself (plant.travel_time)
                    guard = f"POS{tgt} == {a}" + "".join(f" && EFT{tgt} != {f + 1}" for f in slow)
                    if lo == hi:
                        w(f":: ({guard}) -> ARR{tgt} = T + {lo}", ind + 1)
                    else:
                        w(f":: ({guard}) -> ARR{tgt} = T + {lo}; do :: (ARR{tgt} < T + {hi}) -> "
                          f"ARR{tgt} = (ARR{tgt} + PG_RES < T + {hi} -> ARR{tgt} + PG_RES : T + {hi}) :: break od",
                          ind + 1)
                w(f":: else -> ARR{tgt} = T", ind + 1)
                w("fi;", ind + 1)
                w("skip;", ind + 1)
                w(f"d_step {{ DST{tgt} = {to}; POS{tgt} = {P} }}", ind + 1)
                w(":: else -> skip fi;", ind)
            else:
                v = 1 if kind == StepKind.OCCUPY else 0
                w(f"if :: ISS{j} -> OCC{tgt} = {v} :: else -> skip fi;", ind)
        if self.cmd_steps:
            w("skip;", ind)
            w("d_step { " + " ".join(f"ISS{j} = 0;" for j in self.cmd_steps) + " skip };", ind)


def export(plan: Plan, max_faults: int = 1, properties: tuple[str, ...] = PROPERTIES,
           invariants: list[Any] | None = None, lazy_travel: bool = True) -> str:
    """The Promela text of ``plan`` under up to ``max_faults`` faults.

    ``lazy_travel`` (the verifier's default search): a move's arrival instant is chosen when it
    comes, among its candidates (min, min + res, ..., max after the issue), not its travel time
    at issue; the same runs, a smaller graph (docs/verification.md, "Lazy travel"). False: the
    eager graph (``verify --eager-travel``)."""
    return _Gen(plan, max_faults, tuple(properties), invariants or [], lazy=lazy_travel).generate()


# --------------------------------------------------------------------------- running SPIN


@dataclass
class SpinResult:
    verdict: str  # "proved" | "violated" | "error"
    states: int
    transitions: int
    seconds: float
    memory_mb: float  # pan's "total actual memory usage"
    vector_bytes: int  # pan's state vector size
    output: str

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


def spin_available() -> bool:
    return shutil.which("spin") is not None and shutil.which("gcc") is not None


def run_spin(text: str, workdir: str | Path | None = None, hash_bits: int = 22,
             extra_cflags: tuple[str, ...] = (), timeout: float = 600.0) -> SpinResult:
    """Generate ``pan`` with SPIN, compile it with ``gcc -O2 -DSAFETY`` and run it."""
    import time

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="padguard-spin-")
        workdir = tmp.name
    wd = Path(workdir)
    try:
        (wd / "model.pml").write_text(text)
        subprocess.run(["spin", "-a", "model.pml"], cwd=wd, check=True, capture_output=True, text=True,
                       timeout=timeout)
        subprocess.run(["gcc", "-O2", "-DSAFETY", *extra_cflags, "-o", "pan", "pan.c"], cwd=wd, check=True,
                       capture_output=True, text=True, timeout=timeout)
        t0 = time.perf_counter()
        run = subprocess.run(["./pan", "-m1000000", f"-w{hash_bits}"], cwd=wd, capture_output=True, text=True,
                             timeout=timeout)
        wall = time.perf_counter() - t0
    except subprocess.CalledProcessError as exc:
        raise PromelaError(f"SPIN failed: {(exc.stderr or exc.stdout or '')[:2000]}") from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return parse_pan(run.stdout + run.stderr, wall)


def parse_pan(out: str, wall: float = 0.0) -> SpinResult:
    """Read pan's verdict and statistics from its output."""
    def num(pattern: str, cast: Any = int, default: Any = 0) -> Any:
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else default

    errors = num(r"errors:\s*(\d+)", int, -1)
    if "assertion violated" in out or errors > 0:
        verdict = "violated"
    elif errors == 0:
        verdict = "proved"
    else:
        verdict = "error"
    if "max search depth too small" in out and verdict == "proved":
        verdict = "error"
    secs = num(r"pan: elapsed time ([0-9.e+-]+) seconds", float, wall)
    return SpinResult(verdict, num(r"(\d+) states, stored"), num(r"(\d+) transitions"),
                      secs if secs > 0 else wall, num(r"([0-9.]+)\s+total actual memory usage", float, 0.0),
                      num(r"State-vector (\d+) byte"), out)

