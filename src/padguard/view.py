"""Read-only views of a one-column state, shared by the simulator and the live sequencer."""

from __future__ import annotations

import numpy as np

from padguard.compile import Plan
from padguard.sequencer.table import Mode


class OneCountdown:
    """Mixin: the wall time, count clock and mode of column 0 of ``self.S``."""

    plan: Plan
    S: np.ndarray

    @property
    def t(self) -> int:
        """Wall time since count start, ms."""
        return int(self.S[self.plan.T, 0])

    @property
    def tc(self) -> int:
        """Count clock, ms from T-0."""
        return int(self.S[self.plan.TC, 0])

    @property
    def mode(self) -> Mode:
        return Mode(int(self.S[self.plan.MODE, 0]))
