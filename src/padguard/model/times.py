"""Parsing of durations and count times ("90s", "1h30m", "6:15", "T-45m", "T-0", "+10m").

All times inside padguard are integer seconds. Count times are signed seconds relative to
T-0 (negative before ignition).
"""

from __future__ import annotations

import re

_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[hms])")


def parse_duration(text: str | int | float) -> float:
    """Parse a non-negative duration to seconds (millisecond precision).

    Accepts a bare number of seconds, unit strings such as "1h30m", "45m", "90s", and clock
    forms "H:MM:SS" or "M:SS", and milliseconds ("500ms").
    """
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '90s', '5m' or '1h30m'")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return _ms(text)
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
        return float(total)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return _ms(float(s))
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"'{text}' is not a duration such as '500ms', '90s', '5m', '1h30m' or '6:15'")
    return _ms(total)


def _ms(seconds: float) -> float:
    """Round to whole milliseconds, the resolution of every time inside padguard."""
    return round(float(seconds) * 1000) / 1000


def parse_count_time(text: str | int) -> float:
    """Parse a count time such as "T-45m", "T-0", "T+10s" to signed seconds from T-0."""
    if isinstance(text, bool):
        raise ValueError("expected a count time such as 'T-45m'")
    if isinstance(text, int | float):
        return _ms(text)
    s = str(text).strip().replace(" ", "").replace("\u2212", "-")
    m = re.fullmatch(r"[TtLl]([-+])(.+)", s)
    if not m:
        if s in ("T0", "t0", "T", "L0"):
            return 0.0
        raise ValueError(f"'{text}' is not a count time such as 'T-45m', 'T-0' or 'T+10s'")
    sign = -1 if m.group(1) == "-" else 1
    return sign * parse_duration(m.group(2))


def format_count_time(seconds: float) -> str:
    """Format signed seconds from T-0 as "T-00:45:00" (with ".250" when not whole)."""
    sign = "-" if seconds < 0 else "+"
    ms = int(round(abs(seconds) * 1000))
    s, frac = divmod(ms, 1000)
    out = f"T{sign}{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return out + (f".{frac:03d}" if frac else "")


def format_duration(seconds: float) -> str:
    """Format a duration compactly: "1h05m", "4m30s", "12s"."""
    if 0 < seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m" + (f"{s % 60:02d}s" if s % 60 else "")
    if s >= 60:
        return f"{s // 60}m" + (f"{s % 60:02d}s" if s % 60 else "")
    return f"{s}s"
