"""Parsing of durations and count times ("90s", "1h30m", "6:15", "T-45m", "T-0", "+10m").

All times inside padguard are integer seconds. Count times are signed seconds relative to
T-0 (negative before ignition).
"""

from __future__ import annotations

import re

_UNIT = {"h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str | int | float) -> int:
    """Parse a non-negative duration to whole seconds.

    Accepts a bare number of seconds, unit strings such as "1h30m", "45m", "90s", and clock
    forms "H:MM:SS" or "M:SS".
    """
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '90s', '5m' or '1h30m'")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return int(round(text))
    s = str(text).strip().lower().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    if ":" in s:
        parts = s.split(":")
        if not all(p.isdigit() for p in parts) or len(parts) > 3:
            raise ValueError(f"'{text}' is not a clock duration like 6:15 or 1:02:00")
        total = 0
        for p in parts:
            total = total * 60 + int(p)
        return total
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return int(round(float(s)))
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"'{text}' is not a duration such as '90s', '5m', '1h30m' or '6:15'")
    return int(round(total))


def parse_count_time(text: str | int) -> int:
    """Parse a count time such as "T-45m", "T-0", "T+10s" to signed seconds from T-0."""
    if isinstance(text, bool):
        raise ValueError("expected a count time such as 'T-45m'")
    if isinstance(text, int | float):
        return int(round(text))
    s = str(text).strip().replace(" ", "").replace("\u2212", "-")
    m = re.fullmatch(r"[TtLl]([-+])(.+)", s)
    if not m:
        if s in ("T0", "t0", "T", "L0"):
            return 0
        raise ValueError(f"'{text}' is not a count time such as 'T-45m', 'T-0' or 'T+10s'")
    sign = -1 if m.group(1) == "-" else 1
    return sign * parse_duration(m.group(2))


def format_count_time(seconds: int) -> str:
    """Format signed seconds from T-0 as "T-00:45:00"."""
    sign = "-" if seconds < 0 else "+"
    s = abs(int(seconds))
    return f"T{sign}{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_duration(seconds: int) -> str:
    """Format a duration compactly: "1h05m", "4m30s", "12s"."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m" + (f"{s % 60:02d}s" if s % 60 else "")
    if s >= 60:
        return f"{s // 60}m" + (f"{s % 60:02d}s" if s % 60 else "")
    return f"{s}s"
