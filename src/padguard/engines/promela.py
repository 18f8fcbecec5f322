"""Export a compiled Plan to Promela so SPIN can check the same model, and run SPIN on it.

The Promela model is generated from the Plan's tables (never written by hand per model). It
is the verifier's transition system, step for step: one ``atomic`` block per settled instant
(so SPIN stores one state per node, like the verifier), in which

1. any set of not-yet-active fault modes is injected (one per component, at most K active),
   a reads_wrong sensor without a declared value reporting any value of its domain;
2. time moves to the next event, or, when a fault was injected, one resolution step after
   the current instant if that is earlier;
3. the instant is settled exactly as :func:`padguard.semantics.settle` does (two passes of
   arrivals, sensing, the sequencer's decision, commands, hazards), every move started
   taking each travel time of its range at the resolution;
4. the state is put in the same canonical form and the properties are asserted.

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
    NO_REASON,
    CompiledExpr,
    CompiledTerm,
    Effect,
    Plan,
    StepKind,
    Tri,
)
from padguard.sequencer.table import NEXT, Mode, Trigger

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


class _Gen:
    def __init__(self, plan: Plan, max_faults: int, properties: tuple[str, ...], invariants: list[Any]):
        self.p = plan
        self.K = max_faults
        self.props = properties
        self.invs = invariants
        self.lines: list[str] = []
        self.tmp = 0
        self.nested: list[str] = []

    def w(self, line: str = "", ind: int = 0) -> None:
        self.lines.append("    " * ind + line)

    def fresh_tmp(self) -> str:
        self.tmp += 1
        return f"t{self.tmp}"

    # ---- expressions over the generated variables ------------------------------------
    def feff(self, code: str) -> str:
        return f"FEFF[{code}]"

    def nfaults(self) -> str:
        p = self.p
        parts = [f"(EFT[{e}] != 0)" for e in range(p.E)] + [f"(SFT[{s}] != 0)" for s in range(p.S)]
        # a common-cause event marks every member but is one fault (plant.active_faults)
        for f in range(len(p.faults)):
            if p.is_common_cause(f):
                row = "SFT" if p.f_kind[f] else "EFT"
                hits = " + ".join(f"({row}[{int(c)}] == {f + 1})" for c in p.members(f))
                parts.append(f"- ((({hits}) > 0) -> (({hits}) - 1) : 0)")
        return "(" + " + ".join(parts).replace("+ -", "-") + ")" if parts else "0"

    def fresh_expr(self, s: int) -> str:
        p = self.p
        dom = int(p.transit[p.s_equip[s]]) + 1
        return (f"((T - STIME[{s}]) <= {int(p.s_limit[s])} && (T - STIME[{s}]) >= 0 "
                f"&& SVAL[{s}] >= 0 && SVAL[{s}] < {dom})")

    # ---- the model ---------------------------------------------------------------------
    def generate(self) -> str:
        p = self.p
        if p.E == 0:
            raise PromelaError("a model without equipment has nothing to check")
        for arr in (p.step_at, p.c_from, p.c_until, p.r_at):
            for v in arr:
                _c(int(v))
        _c(p.window_close)
        nsteps = len(p.step_at)
        F = len(p.faults)
        w = self.w
        w(f"/* padguard: {p.model.site.name} / {p.model.procedure.procedure}, generated from the compiled Plan.")
        w(f"   PG_K = {self.K} faults at once, resolution {p.res} ms; properties: {', '.join(self.props)}.")
        w("   Check: spin -a FILE && gcc -O2 -DSAFETY -o pan pan.c && ./pan -m1000000 */")
        w(f"#define PG_PNEVER {PNEVER}")
        w(f"#define PG_K {self.K}")
        w(f"#define PG_RES {p.res}")
        w(f"#define PG_IGN {_c(p.ign)}")
        w(f"#define PG_PNR {_c(p.pnr)}")
        w(f"#define PG_WCLOSE {_c(p.window_close)}")
        w(f"#define PG_NF {self.nfaults()}")
        w()
        # ---- state (part of the state vector)
        w("int T, TC, HOLD_START, HOLD_UNTIL, IGN_T, NXT, X;")
        w("short REASON;")
        w("byte MODE, STEP, NREC, NEXTB, NCH, PASS;")
        w(f"unsigned HAZ : {max(1, len(p.plume))};  /* bitmasks, as narrow as the rules and zones */")
        w(f"unsigned PHAZ : {max(1, len(p.zones))};")
        w(f"byte POS[{p.E}], DEST[{p.E}], EFT[{p.E}];")
        w(f"int ARRIVE[{p.E}];")
        if p.S:
            w(f"short SVAL[{p.S}];")
            w(f"byte SFT[{p.S}], SWRONG[{p.S}];")
            w(f"int STIME[{p.S}];")
        if p.zones:
            w(f"byte OCC[{len(p.zones)}];")
        if p.C:
            w(f"int OKS[{p.C}];")
            w(f"byte CST[{p.C}];")
        if nsteps:
            w(f"bit ISS[{nsteps}];")
        if F:
            w(f"bit PEND[{F}];  /* faults striking at this instant (cleared once applied) */")
        # ---- constant tables (hidden: not part of the state vector, never change)
        w(f"hidden byte FEFF[{F + 1}];")
        w(f"hidden short FTO[{F + 1}];")
        w(f"hidden int STEP_AT[{nsteps + 1}];")
        nh = len(p.holds)
        w(f"hidden int H_AT[{nh + 1}], H_DUR[{nh + 1}];")
        nr = max(len(p.r_at), 1)
        w(f"hidden int R_AT[{nr}];")
        w(f"hidden byte R_STEP[{nr}], R_HOLD[{nr}];")
        # scratch (hidden: only used inside one d_step)
        w("int dt;  /* chosen travel time: state, since it crosses the choice point */")
        w("hidden int q_t, q_best;")
        self.decl_at = len(self.lines)
        w("hidden int q_raw, q_nin, q_nout, q_tri;")
        w("hidden byte q_anyblock, q_running, q_holding, q_hexp, q_resumable, q_atb, q_did, q_enter_hold, q_leave_hold, q_builtin;")
        w("hidden short q_trig, q_newm, q_first, q_nextb, q_hb;")
        w()
        self.inlines()
        w("active proctype countdown()")
        w("{")
        w("d_step {", 1)
        self.init_tables(2)
        self.initial_state(2)
        w("NXT = 0  /* the first instant is count start itself */", 2)
        w("}", 1)
        w("do", 1)
        w(":: (MODE == 3 || MODE == 4 || MODE == 5 || NXT >= PG_PNEVER) -> break", 1)
        # the guard opens the atomic block, so SPIN stores one state per settled instant
        w(":: atomic { !(MODE == 3 || MODE == 4 || MODE == 5 || NXT >= PG_PNEVER) ->", 1)
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
        w("FEFF[0] = 0; FTO[0] = -1;", ind)
        for f in range(len(p.faults)):
            w(f"FEFF[{f + 1}] = {int(p.f_effect[f])}; FTO[{f + 1}] = {int(p.f_to[f])};", ind)
        for j, a in enumerate(p.step_at):
            w(f"STEP_AT[{j}] = {_c(a)};", ind)
        w(f"STEP_AT[{len(p.step_at)}] = PG_PNEVER;", ind)
        for i in range(len(p.holds) + 1):
            w(f"H_AT[{i}] = {_c(p.h_at[i])}; H_DUR[{i}] = {_c(p.h_dur[i])};", ind)
        for i in range(len(p.r_at)):
            w(f"R_AT[{i}] = {_c(p.r_at[i])}; R_STEP[{i}] = {int(p.r_step[i])}; R_HOLD[{i}] = {int(p.r_hold[i])};", ind)

    def initial_state(self, ind: int) -> None:
        """semantics.initial_state: count start, then the q_first sensing and criteria."""
        p = self.p
        w = self.w
        w(f"T = 0; TC = {_c(p.start)}; MODE = {int(Mode.COUNTING)}; REASON = {NO_REASON}; HOLD_UNTIL = -1;"
          " IGN_T = -1;", ind)
        for e in range(p.E):
            w(f"POS[{e}] = {int(p.initial[e])}; DEST[{e}] = {int(p.initial[e])}; ARRIVE[{e}] = -1;", ind)
        for z in range(len(p.zones)):
            w(f"OCC[{z}] = {int(p.zone_init[z])};", ind)
        w("sense();", ind)
        for c in range(p.C):
            w("q_raw = 0;", ind)
            self.criterion(c, ind)
            w(f"OKS[{c}] = (q_raw == 2 -> (-PG_PNEVER) : -1); CST[{c}] = q_raw;", ind)

    # ---- inlines: the plant and the sequencer, unrolled over the Plan's tables ------------
    def inlines(self) -> None:
        p = self.p
        w = self.w
        # arrivals
        w("inline arrivals() {")
        for e in range(p.E):
            w(f"if :: (ARRIVE[{e}] >= 0 && ARRIVE[{e}] <= T) ->", 1)
            w(f"POS[{e}] = (FEFF[EFT[{e}]] == {int(Effect.WRONG_POSITION)} -> FTO[EFT[{e}]] : DEST[{e}]);"
              f" ARRIVE[{e}] = -1", 2)
            w(":: else -> skip fi;", 1)
        w("}")
        # sense
        w("inline sense() {")
        for s in range(p.S):
            e = int(p.s_equip[s])
            w(f"if :: (SFT[{s}] == 0) -> SVAL[{s}] = POS[{e}]; STIME[{s}] = T", 1)
            w(f":: else -> if :: (FEFF[SFT[{s}]] == {int(Effect.READS_WRONG)}) -> SVAL[{s}] = SWRONG[{s}]; STIME[{s}] = T", 1)
            w(f"   :: (FEFF[SFT[{s}]] == {int(Effect.STUCK)}) -> STIME[{s}] = T", 1)
            w(f"   :: (FEFF[SFT[{s}]] == {int(Effect.DROPOUT)}) -> skip", 1)
            w(f"   :: else -> SVAL[{s}] = POS[{e}]; STIME[{s}] = T fi", 1)
            w("fi;", 1)
        w("}")
        # personnel
        w("inline personnel() {")
        for z in range(len(p.zones)):
            eqs = [e for e in range(p.E) if p.zone_equip[z, e]]
            if eqs:
                moving = " || ".join(f"ARRIVE[{e}] >= 0" for e in eqs)
                w(f"if :: (OCC[{z}] > 0 && ({moving})) -> PHAZ = PHAZ | {1 << z} :: else -> skip fi;", 1)
        w("skip")
        w("}")
        # next event
        self.next_event_inline()
        # canonical form
        w("inline canonical() {")
        for c in range(p.C):
            w(f"if :: (OKS[{c}] >= 0 && T - OKS[{c}] >= {int(p.c_deb[c])}) -> OKS[{c}] = -PG_PNEVER :: else -> skip fi;", 1)
        for s in range(p.S):
            w(f"if :: (FEFF[SFT[{s}]] == {int(Effect.DROPOUT)} && T - STIME[{s}] > {int(p.s_limit[s])}) -> "
              f"STIME[{s}] = -PG_PNEVER :: else -> skip fi;", 1)
        w("if :: (MODE != 1) -> HOLD_START = 0 :: else -> skip fi;", 1)
        for e in range(p.E):
            w(f"if :: (ARRIVE[{e}] < 0) -> DEST[{e}] = 0 :: else -> skip fi;", 1)
        w("skip")
        w("}")
        self.decide_inline()
        self.properties_inline()

    def next_event_inline(self) -> None:
        p = self.p
        w = self.w
        nsteps = len(p.step_at)
        marks = sorted({int(p.ign), *[int(x) for x in p.c_from], *[int(x) + 1 for x in p.c_until]})
        w("inline next_event() {")
        w("q_best = PG_PNEVER;", 1)
        w("q_running = (MODE == 0 || MODE == 2); q_holding = (MODE == 1);", 1)

        def cand(cond: str, expr: str) -> None:
            w(f"q_t = {expr};", 1)
            w(f"if :: ({cond} && q_t > T && q_t < q_best) -> q_best = q_t :: else -> skip fi;", 1)

        if nsteps:
            cand(f"q_running && STEP < {nsteps}", "T + (STEP_AT[STEP] - TC)")
        # the first count mark strictly after TC
        w("q_t = PG_PNEVER;", 1)
        for m in reversed(marks):
            w(f"if :: (TC < {_c(m)}) -> q_t = {_c(m)} :: else -> skip fi;", 1)
        w("if :: (q_running && q_t < PG_PNEVER && T + (q_t - TC) < q_best) -> q_best = T + (q_t - TC) :: else -> skip fi;", 1)
        cand("q_running && MODE == 0", "T + (PG_PNR - TC)")
        if len(p.holds):
            cand("MODE == 0 && H_AT[NEXTB] < PG_PNEVER", "T + (H_AT[NEXTB] - TC)")
        for e in range(p.E):
            cand("true", f"ARRIVE[{e}]")
        for s in range(p.S):
            cand(f"FEFF[SFT[{s}]] == {int(Effect.DROPOUT)}", f"STIME[{s}] + {int(p.s_limit[s]) + 1}")
        for c in range(p.C):
            cand(f"OKS[{c}] >= 0", f"OKS[{c}] + {int(p.c_deb[c])}")
        cand("q_holding", "HOLD_UNTIL")
        cand("q_holding", "PG_WCLOSE - (PG_IGN - TC) + 1")
        if p.auto_recycle_after >= 0:
            cand(f"q_holding && NREC < {p.auto_max_recycles}", f"HOLD_START + {p.auto_recycle_after}")
        w("if :: (MODE == 3 || MODE == 4 || MODE == 5) -> q_best = PG_PNEVER :: else -> skip fi;", 1)
        w("NXT = q_best", 1)
        w("}")

    def criterion(self, c: int, ind: int) -> None:
        """Set ``q_raw`` to criterion ``c``'s q_tri-state (Kleene all = min, any = max)."""
        self._expr(self.p.c_expr[c], "q_raw", ind)

    def _expr(self, e: CompiledExpr | CompiledTerm, out: str, ind: int) -> None:
        w = self.w
        if isinstance(e, CompiledTerm):
            self._term(e, out, ind)
            return
        # evaluate items into a running min/max held in `out`
        w(f"{out} = {2 if e.op == 'all' else 0};", ind)
        for it in e.items:
            tmp = "q_tri"
            if isinstance(it, CompiledExpr):
                tmp = self._nested_var()
            self._expr(it, tmp, ind)
            if e.op == "all":
                w(f"if :: ({tmp} < {out}) -> {out} = {tmp} :: else -> skip fi;", ind)
            else:
                w(f"if :: ({tmp} > {out}) -> {out} = {tmp} :: else -> skip fi;", ind)

    def _nested_var(self) -> str:
        name = "q_" + self.fresh_tmp()
        self.nested.append(name)
        return name

    def _term(self, t: CompiledTerm, out: str, ind: int) -> None:
        w = self.w
        w("q_nin = 0; q_nout = 0;", ind)
        last = len(t.lut) - 1
        for s in t.sensors:
            s = int(s)
            yes = [v for v in range(len(t.lut)) if t.lut[v]]
            # values are clipped to the lookup table as in rules.eval_term
            clip = f"(SVAL[{s}] < 0 -> 0 : (SVAL[{s}] > {last} -> {last} : SVAL[{s}]))"
            inset = " || ".join(f"{clip} == {v}" for v in yes) or "false"
            w(f"if :: ({self.fresh_expr(s)}) -> if :: ({inset}) -> q_nin++ :: else -> q_nout++ fi :: else -> skip fi;",
              ind)
        w(f"{out} = (q_nin >= {t.k} -> {int(Tri.OK)} : (q_nout >= {t.k} -> {int(Tri.VIOLATED)} : {int(Tri.UNKNOWN)}));",
          ind)

    def decide_inline(self) -> None:
        """rules.decide with no operator command, unrolled."""
        p = self.p
        w = self.w
        C = p.C
        nsteps = len(p.step_at)
        w("inline decide() {")
        w("q_anyblock = 0; q_first = 0;", 1)
        for c in range(C):
            w("q_raw = 0;", 1)
            self.criterion(c, 1)
            w(f"if :: (q_raw == 2) -> if :: (OKS[{c}] == -1) -> OKS[{c}] = T :: else -> skip fi :: else -> OKS[{c}] = -1 fi;", 1)
            w(f"if :: (q_raw == 2 && T - OKS[{c}] < {int(p.c_deb[c])}) -> CST[{c}] = 1 :: else -> CST[{c}] = q_raw fi;", 1)
            w(f"if :: ({_c(p.c_from[c])} <= TC && TC <= {_c(p.c_until[c])} && CST[{c}] != 2) ->", 1)
            w(f"if :: (!q_anyblock) -> q_first = {c} :: else -> skip fi; q_anyblock = 1", 2)
            w(":: else -> skip fi;", 1)
        w("q_running = (MODE == 0 || MODE == 2); q_holding = (MODE == 1);", 1)
        w("q_hexp = (HOLD_UNTIL <= T); q_resumable = (q_holding && !q_anyblock && q_hexp); q_nextb = NEXTB;", 1)
        if len(p.holds):
            w("q_atb = (MODE == 0 && TC >= H_AT[q_nextb]);", 1)
        else:
            w("q_atb = 0;", 1)
        w("q_trig = -1;", 1)
        w(f"if :: ((q_holding || MODE == 0) && T + (PG_IGN - TC) > PG_WCLOSE) -> q_trig = {int(Trigger.WINDOW_CLOSED)} :: else -> skip fi;", 1)
        w("if :: (q_trig < 0 && q_running) ->", 1)
        w(f"if :: q_anyblock -> q_trig = {int(Trigger.AUTO_HOLD)}", 2)
        w(f":: (!q_anyblock && q_atb) -> q_trig = {int(Trigger.BUILTIN_HOLD)}", 2)
        w(f":: (!q_anyblock && !q_atb && TC >= PG_IGN) -> q_trig = {int(Trigger.IGNITION)}", 2)
        w(f":: (!q_anyblock && !q_atb && TC < PG_IGN && MODE == 0 && TC >= PG_PNR) -> q_trig = {int(Trigger.PNR)}", 2)
        w(":: else -> skip fi", 2)
        w(":: else -> skip fi;", 1)
        if p.auto_recycle_after >= 0:
            r_at = int(p.r_at[max(p.auto_recycle_to, 0)])
            w(f"if :: (q_trig < 0 && q_holding && REASON != -2 && T - HOLD_START >= {p.auto_recycle_after} "
              f"&& NREC < {p.auto_max_recycles} && q_hexp && T + (PG_IGN - ({_c(r_at)})) <= PG_WCLOSE) "
              f"-> q_trig = {int(Trigger.RECYCLE)} :: else -> skip fi;", 1)
        if p.auto_resume:
            w(f"if :: (q_trig < 0 && q_resumable && REASON != -2) -> q_trig = {int(Trigger.RESUME)} :: else -> skip fi;", 1)
        # transition table lookup
        w("q_newm = -1;", 1)
        for m in range(NEXT.shape[0]):
            for tr in range(NEXT.shape[1]):
                if NEXT[m, tr] >= 0:
                    w(f"if :: (MODE == {m} && q_trig == {tr}) -> q_newm = {int(NEXT[m, tr])} :: else -> skip fi;", 1)
        w("q_did = (q_trig >= 0 && q_newm >= 0);", 1)
        w("if :: (!q_did) -> q_newm = MODE :: else -> skip fi;", 1)
        w("q_enter_hold = (q_did && q_newm == 1); q_leave_hold = (q_did && q_holding && q_newm != 1);", 1)
        w(f"q_builtin = (q_did && q_trig == {int(Trigger.BUILTIN_HOLD)});", 1)
        w(f"q_hb = (q_nextb < {len(p.holds)} -> q_nextb : {len(p.holds)});", 1)
        w("if :: q_did ->", 1)
        w("if :: q_enter_hold -> HOLD_START = (q_builtin -> T + H_DUR[q_hb] : T) :: else -> skip fi;", 2)
        w("if :: q_builtin -> HOLD_UNTIL = T + H_DUR[q_hb] :: else -> if :: q_leave_hold -> HOLD_UNTIL = -1 :: else -> skip fi fi;", 2)
        w("if :: q_builtin -> NEXTB = q_nextb + 1 :: else -> skip fi;", 2)
        w(f"if :: (q_enter_hold || (q_newm == {int(Mode.ABORTED)} && q_trig == {int(Trigger.AUTO_HOLD)})) ->", 2)
        w(f"REASON = (q_trig == {int(Trigger.BUILTIN_HOLD)} -> {C} + q_nextb : q_first)", 3)
        w(f":: else -> if :: (q_trig == {int(Trigger.RESUME)} || q_trig == {int(Trigger.RECYCLE)}) -> REASON = {NO_REASON} "
          ":: else -> skip fi", 2)
        w("fi", 2)
        w(":: else -> skip fi;", 1)
        w(f"if :: (q_holding && !q_did && q_hexp && q_anyblock && REASON >= {C}) -> REASON = q_first :: else -> skip fi;", 1)
        if len(p.r_at):
            ri = min(max(p.auto_recycle_to, 0), len(p.r_at) - 1)
            w(f"if :: (q_did && q_trig == {int(Trigger.RECYCLE)}) -> TC = R_AT[{ri}]; STEP = R_STEP[{ri}]; "
              f"NEXTB = R_HOLD[{ri}]; NREC++ :: else -> skip fi;", 1)
        w(f"if :: (q_did && q_trig == {int(Trigger.IGNITION)}) -> IGN_T = T; HAZ = 0;", 1)
        # ignition hazards from the true state (no step is issued in a pass that ignites)
        for r in range(len(p.plume)):
            e = int(p.rule_equip[r])
            safe = [int(v) for v in np.flatnonzero(p.rule_safe[r]) if v < p.transit[e]]
            cond = " || ".join(f"POS[{e}] == {v}" for v in safe) or "false"
            w(f"if :: !({cond}) -> HAZ = HAZ | {1 << r} :: else -> skip fi;", 2)
        w(":: else -> skip fi;", 1)
        w("MODE = q_newm;", 1)
        if nsteps:
            w("if :: (MODE == 0 || MODE == 2) ->", 1)
            w("do", 2)
            w(f":: (STEP < {nsteps} && TC >= STEP_AT[STEP]) -> ISS[STEP] = 1; STEP++", 2)
            w(":: else -> break", 2)
            w("od", 2)
            w(":: else -> skip fi;", 1)
        w("skip", 1)
        w("}")

    def properties_inline(self) -> None:
        p = self.p
        w = self.w
        w("inline check() {")
        if "plume" in self.props and len(p.plume):
            w("assert(!(MODE == 3 && HAZ != 0));", 1)
        if "personnel" in self.props and p.zones:
            w("assert(PHAZ == 0);", 1)
        if "window" in self.props:
            w("assert(!(IGN_T >= 0 && IGN_T > PG_WCLOSE));", 1)
        if "invariants" in self.props:
            for inv in self.invs:
                w(f"assert({self.invariant(inv)}); /* invariant {inv.name} */", 1)
        if "liveness" in self.props:
            w("assert(!((MODE == 3 || MODE == 4 || MODE == 5 || NXT >= PG_PNEVER) && PG_NF == 0 && MODE != 3));", 1)
        w("skip", 1)
        w("}")

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
            lhs = {"equipment": f"POS[{v.index}]", "criterion": f"CST[{v.index}]",
                   "zone": f"(OCC[{v.index}] > 0)", "mode": "MODE", "count": "TC", "time": "T",
                   "recycles": "NREC"}[v.kind]
            if t.op in ("in", "notin"):
                e = "(" + " || ".join(f"{lhs} == {_c(c)}" for c in codes) + ")"
                return e if t.op == "in" else f"!{e}"
            return f"({lhs} {t.op} {_c(codes[0])})"

        return go(I.parse(inv.text))

    # ---- one settled instant ------------------------------------------------------------------
    def macro_step(self, ind: int) -> None:
        p = self.p
        w = self.w
        w("NCH = 0;", ind)
        # 1. faults: one non-deterministic choice among the sets of fault modes that may strike
        # now (within the budget, at most one per component, in the verifier's injection order).
        # Codes are set at once; the effects are applied once the clock has moved (step 3)
        order = sorted(range(len(p.faults)), key=lambda f: (0 if p.f_kind[f] else 1, f))
        # a common-cause fault marks every member and counts as one fault in the budget
        cells = {f: [("SFT" if p.f_kind[f] else "EFT", int(m)) for m in p.members(f)] for f in order}
        for f in order:
            if (p.f_kind[f] == 1 and p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] < 0
                    and len(cells[f]) > 1):
                raise PromelaError(f"common-cause fault {p.faults[f]} reads wrong without a declared value: "
                                   "not supported by the Promela export (declare 'value')")
        w("if", ind)
        w(":: skip", ind)
        for k in range(1, self.K + 1):
            for sub in itertools.combinations(order, k):
                used = [cell for f in sub for cell in cells[f]]
                if len(set(used)) < len(used):  # at most one fault mode per component
                    continue
                guard = " && ".join(f"{row}[{m}] == 0" for row, m in used)
                act = "; ".join([f"{row}[{m}] = {f + 1}" for f in sub for row, m in cells[f]]
                                + [f"PEND[{f}] = 1" for f in sub])
                for f in sub:
                    if p.f_kind[f] == 1 and p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] < 0:
                        c = int(p.f_comp[f])
                        dom = int(p.transit[p.s_equip[c]]) + 1
                        act += f"; SWRONG[{c}] = 0; do :: (SWRONG[{c}] < {dom - 1}) -> SWRONG[{c}]++ :: break od"
                w(f":: (PG_NF + {k} <= PG_K && {guard}) -> {act}; NCH = {k}", ind)
        w("fi;", ind)
        # 2. time (at count start NXT = T = 0, so the first instant is the start itself)
        # (a fault may strike at any resolution step before the next event: its instant moves
        # its deadlines, e.g. when a dropout goes stale)
        w("if :: X = NXT :: (NCH > 0 && T + PG_RES < NXT) -> X = T + PG_RES; "
          "do :: (X + PG_RES < NXT) -> X = X + PG_RES :: break od fi;", ind)
        w("skip;  /* a jump target outside the d_step */", ind)
        # 3. settle: the clock moves, the faults act, then two passes of the semantics with
        # the commands (and their travel choices) between the passes' d_steps
        w("d_step {", ind)
        w("if :: (MODE == 0 || MODE == 2) -> TC = TC + (X - T) :: else -> skip fi; T = X;", ind + 1)
        order = sorted(range(len(p.faults)), key=lambda f: (0 if p.f_kind[f] else 1, f))
        for f in order:  # plant.inject, in order: sensors take their last good sample first
            eff = int(p.f_effect[f])
            fxs = []
            for c in (int(m) for m in p.members(f)):  # every member of a common-cause event
                if p.f_kind[f] == 0:
                    if eff == Effect.JAM:
                        fx = f"if :: (ARRIVE[{c}] >= 0) -> ARRIVE[{c}] = -1; POS[{c}] = {int(p.transit[c])} :: else -> skip fi"
                    elif eff == Effect.SPONTANEOUS:
                        fx = f"POS[{c}] = {int(p.f_to[f])}; ARRIVE[{c}] = -1; DEST[{c}] = {int(p.f_to[f])}"
                    else:
                        fx = "skip"
                else:
                    fx = f"SVAL[{c}] = POS[{int(p.s_equip[c])}]; STIME[{c}] = T"
                    if eff == Effect.READS_WRONG and p.f_to[f] >= 0:
                        fx += f"; SWRONG[{c}] = {int(p.f_to[f])}"
                fxs.append(fx)
            w(f"if :: PEND[{f}] -> {'; '.join(fxs)}; PEND[{f}] = 0 :: else -> skip fi;", ind + 1)
        w("skip", ind + 1)
        w("};", ind)
        w("do", ind)
        w(":: (PASS < 2) ->", ind)
        w("d_step { arrivals(); sense(); decide() };", ind + 1)
        self.commands(ind + 1)
        w("d_step { personnel(); PASS++ }", ind + 1)
        w(":: else -> break", ind)
        w("od;", ind)
        w("skip;  /* a jump target outside the d_step */", ind)
        w("d_step { sense(); canonical(); next_event(); check(); X = 0; NCH = 0; PASS = 0 }", ind)

    def commands(self, ind: int) -> None:
        """plant.command for the steps issued in this pass: travel time chosen at the resolution."""
        p = self.p
        w = self.w
        for j in range(len(p.step_at)):
            kind = int(p.step_kind[j])
            tgt = int(p.step_target[j])
            if kind == StepKind.MOVE:
                to = int(p.step_to[j])
                P = int(p.transit[tgt])
                jam = f"FEFF[EFT[{tgt}]] == {int(Effect.JAM)}"
                if len(p.host) and p.host[tgt] >= 0:  # a lock acts on its host (plant.command)
                    h = int(p.host[tgt])
                    ok = " || ".join(f"POS[{h}] == {v}" for v in np.flatnonzero(p.host_ok[tgt][:int(p.transit[h])]))
                    jam = f"{jam} || !(({ok}) && ARRIVE[{h}] < 0)"
                already = f"((POS[{tgt}] == {to} && ARRIVE[{tgt}] < 0) || (DEST[{tgt}] == {to} && ARRIVE[{tgt}] >= 0))"
                w(f"if :: (ISS[{j}] && !({jam}) && !{already}) ->", ind)
                # the range depends on where the equipment starts from
                opts = []
                slow = [f for f in range(len(p.faults)) if p.f_effect[f] == Effect.SLOW and tgt in p.members(f)]
                for a in range(P + 1):
                    row = min(a, P)  # the equipment's own "from in transit" row (plant.travel_time)
                    lo, hi = int(p.tmin[tgt, row, to]), int(p.tmax[tgt, row, to])
                    if lo < 0:
                        continue
                    opts.append((a, lo, hi))  # lo, lo + res, ..., and hi itself (plant.travel_time)
                w("if", ind + 1)
                for f in slow:  # slow: the declared maximum plus the fault's delay
                    for a, _lo, hi in opts:
                        w(f":: (POS[{tgt}] == {a} && EFT[{tgt}] == {f + 1}) -> dt = {hi + int(p.f_delay[f])}", ind + 1)
                for a, lo, hi in opts:
                    guard = f"POS[{tgt}] == {a}" + "".join(f" && EFT[{tgt}] != {f + 1}" for f in slow)
                    w(f":: ({guard}) -> dt = {lo}; do :: (dt < {hi}) -> "
                      f"dt = (dt + PG_RES < {hi} -> dt + PG_RES : {hi}) :: break od", ind + 1)
                w(":: else -> dt = 0", ind + 1)
                w("fi;", ind + 1)
                w("skip;  /* a jump target outside the d_step */", ind + 1)
                w(f"d_step {{ DEST[{tgt}] = {to}; ARRIVE[{tgt}] = T + dt; POS[{tgt}] = {P}; dt = 0 }}", ind + 1)
                w(":: else -> skip fi;", ind)
            elif kind in (StepKind.EVACUATE, StepKind.OCCUPY):
                v = 1 if kind == StepKind.OCCUPY else 0
                w(f"if :: ISS[{j}] -> OCC[{tgt}] = {v} :: else -> skip fi;", ind)
        if len(p.step_at):
            w("d_step { " + " ".join(f"ISS[{j}] = 0;" for j in range(len(p.step_at))) + " skip };", ind)


def export(plan: Plan, max_faults: int = 1, properties: tuple[str, ...] = PROPERTIES,
           invariants: list[Any] | None = None) -> str:
    """The Promela text of ``plan`` under up to ``max_faults`` faults."""
    if len(plan.c_recycle) and (plan.c_recycle >= 0).any():
        names = [plan.criteria[c] for c in range(plan.C) if plan.c_recycle[c] >= 0]
        raise PromelaError(f"cutoff criteria ({', '.join(names)}: recycle_to) are not supported by the "
                           "Promela export yet; padguard verify checks them")
    if plan.has_safing or plan.has_flight:
        what = [w for w, on in (("an abort safing sequence (abort.safing)", plan.has_safing),
                                ("steps at or after T-0", plan.has_flight)) if on]
        raise PromelaError(f"{' and '.join(what)}: not supported by the Promela export yet (the SAFING "
                           "and FLIGHT modes are not generated); padguard verify checks them")
    return _Gen(plan, max_faults, tuple(properties), invariants or []).generate()


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

