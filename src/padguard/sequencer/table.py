"""Countdown states and their allowed transitions, as data.

This table is the single source of truth for what the sequencer may do. The vectorised rules
in :mod:`padguard.sequencer.rules` look transitions up in :data:`NEXT`; every pair not in
:data:`TRANSITIONS` is forbidden and leaves the state unchanged (an operator command on a
forbidden edge is refused with a reason). Docs and tests are generated from it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Mode(IntEnum):
    """Countdown states. LAUNCHED, SCRUBBED and ABORTED are final."""

    COUNTING = 0  # clock running, before the point of no return
    HOLDING = 1  # clock stopped
    TERMINAL = 2  # clock running past the point of no return: a violation aborts
    LAUNCHED = 3  # ignition commanded
    SCRUBBED = 4  # count ended without ignition; try another day
    ABORTED = 5  # terminal-count abort (and its safing sequence, if any, complete)
    SAFING = 6  # aborted; the procedure's safing sequence runs (count clock stopped)
    FLIGHT = 7  # lifted off; the procedure's steps after T-0 run (count clock runs; nothing stops)


FINAL = (Mode.LAUNCHED, Mode.SCRUBBED, Mode.ABORTED)


class Trigger(IntEnum):
    """Why a transition happens."""

    AUTO_HOLD = 0  # an applicable launch commit criterion is violated or unknown
    BUILTIN_HOLD = 1  # the count reached a built-in hold
    OPERATOR_HOLD = 2
    RESUME = 3  # criteria OK and any built-in hold expired (auto or operator)
    RECYCLE = 4  # clock reset to a recycle point (auto policy or operator)
    PNR = 5  # the clock passed the point of no return
    IGNITION = 6  # T-0 reached with every applicable criterion OK
    WINDOW_CLOSED = 7  # even resuming now, ignition would fall after the window
    OPERATOR_SCRUB = 8
    OPERATOR_ABORT = 9
    CUTOFF = 10  # a cutoff criterion is not OK: stop and recycle to its point (not an abort)
    SEQUENCE_DONE = 11  # every command of the safing sequence (or after T-0) issued, equipment at rest


# (from, trigger) -> to, with the reason a launch engineer would give.
TRANSITIONS: dict[tuple[Mode, Trigger], tuple[Mode, str]] = {
    (Mode.COUNTING, Trigger.AUTO_HOLD): (Mode.HOLDING, "criterion not OK: automatic hold"),
    (Mode.COUNTING, Trigger.BUILTIN_HOLD): (Mode.HOLDING, "built-in hold"),
    (Mode.COUNTING, Trigger.OPERATOR_HOLD): (Mode.HOLDING, "operator hold"),
    (Mode.COUNTING, Trigger.PNR): (Mode.TERMINAL, "point of no return passed"),
    (Mode.COUNTING, Trigger.IGNITION): (Mode.LAUNCHED, "ignition (no point of no return before T-0)"),
    (Mode.COUNTING, Trigger.WINDOW_CLOSED): (Mode.SCRUBBED, "ignition could no longer fall inside the window"),
    (Mode.COUNTING, Trigger.OPERATOR_SCRUB): (Mode.SCRUBBED, "operator scrub"),
    (Mode.COUNTING, Trigger.OPERATOR_ABORT): (Mode.ABORTED, "operator abort"),
    (Mode.HOLDING, Trigger.RESUME): (Mode.COUNTING, "resume"),
    (Mode.HOLDING, Trigger.RECYCLE): (Mode.COUNTING, "recycle to a declared point"),
    (Mode.HOLDING, Trigger.WINDOW_CLOSED): (Mode.SCRUBBED, "launch window closed during the hold"),
    (Mode.HOLDING, Trigger.OPERATOR_SCRUB): (Mode.SCRUBBED, "operator scrub"),
    (Mode.HOLDING, Trigger.OPERATOR_ABORT): (Mode.ABORTED, "operator abort"),
    (Mode.TERMINAL, Trigger.AUTO_HOLD): (Mode.ABORTED, "criterion not OK past the point of no return: abort"),
    (Mode.TERMINAL, Trigger.OPERATOR_HOLD): (Mode.ABORTED, "hold past the point of no return is an abort"),
    (Mode.TERMINAL, Trigger.IGNITION): (Mode.LAUNCHED, "ignition"),
    (Mode.TERMINAL, Trigger.OPERATOR_ABORT): (Mode.ABORTED, "operator abort"),
    (Mode.COUNTING, Trigger.CUTOFF): (Mode.COUNTING, "cutoff: recycle to the criterion's point"),
    (Mode.TERMINAL, Trigger.CUTOFF): (Mode.COUNTING, "cutoff inside its window: recycle, not abort"),
    (Mode.SAFING, Trigger.SEQUENCE_DONE): (Mode.ABORTED, "safing sequence complete"),
    (Mode.FLIGHT, Trigger.SEQUENCE_DONE): (Mode.LAUNCHED, "steps after liftoff complete"),
}

NO_MODE = -1

#: NEXT[mode, trigger] -> next mode, or -1 where the edge is forbidden.
NEXT = np.full((len(Mode), len(Trigger)), NO_MODE, dtype=np.int64)
for (_m, _t), (_to, _why) in TRANSITIONS.items():
    NEXT[_m, _t] = _to


_VARIANTS: dict[tuple[bool, bool], np.ndarray] = {}


def next_table(safing: bool, flight: bool) -> np.ndarray:
    """:data:`NEXT` for a procedure with a safing sequence (every edge into ABORTED enters
    SAFING instead) and/or steps after T-0 (IGNITION enters FLIGHT instead of LAUNCHED)."""
    key = (bool(safing), bool(flight))
    t = _VARIANTS.get(key)
    if t is None:
        t = NEXT.copy()
        if safing:
            t[(t == Mode.ABORTED) & (np.arange(len(Mode))[:, None] != Mode.SAFING)] = Mode.SAFING
        if flight:
            t[:, Trigger.IGNITION] = np.where(t[:, Trigger.IGNITION] == Mode.LAUNCHED, Mode.FLIGHT,
                                              t[:, Trigger.IGNITION])
        t.setflags(write=False)
        _VARIANTS[key] = t
    return t


def allowed(mode: Mode, trigger: Trigger) -> bool:
    return (mode, trigger) in TRANSITIONS


def table_markdown() -> str:
    """The transition table as Markdown, for docs."""
    rows = ["| from | trigger | to | meaning |", "|---|---|---|---|"]
    for (m, t), (to, why) in TRANSITIONS.items():
        rows.append(f"| {m.name} | {t.name} | {to.name} | {why} |")
    return "\n".join(rows)
