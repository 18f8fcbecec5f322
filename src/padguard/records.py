"""The archive record: the one type the live sequencer consumes and the archive stores.

It lives here, beside neither, so :mod:`padguard.store` and :mod:`padguard.sequencer` both
import it without one reaching into the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from padguard.model.times import format_count_time


@dataclass(slots=True)
class Rec:
    """One archive record. Inputs drive the sequencer; events are what it decided.

    ``t`` is wall ms since count start (× speed in a dry run), ``tc`` the count clock after the
    batch. ``batch`` groups the records of one instant; ``seq`` is the archive's order.
    """

    kind: str
    t: int
    name: str = ""
    value: str = ""
    code: int | None = None
    data: dict[str, Any] | None = None
    seq: int = 0
    batch: int = 0
    tc: int = 0
    wall: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "batch": self.batch, "t_ms": self.t, "count": format_count_time(self.tc / 1000),
                "tc_ms": self.tc, "wall": self.wall, "kind": self.kind, "name": self.name,
                "value": self.value, "code": self.code, "data": self.data}
