"""Statistics for risk campaigns: binomial intervals, weighted estimates, importance measures.

Plain functions over counts and sums, so they are easy to check against textbook values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (good at 0 and at small p)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (conservative) Clopper-Pearson interval; needs scipy."""
    from scipy.stats import beta

    if n <= 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


INTERVALS = {"wilson": wilson, "clopper-pearson": clopper_pearson}


@dataclass
class Estimate:
    """A probability estimate with its 95 % interval and how it was obtained."""

    p: float
    lo: float
    hi: float
    method: str  # "crude" | "is"
    trials: int
    hits: int  # trials in which the event happened
    se: float  # standard error
    rel_err: float | None  # se / p (None when p = 0)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def crude_estimate(k: int, n: int, interval: str = "wilson") -> Estimate:
    """Plain Monte Carlo: k hits in n trials, with a Wilson or Clopper-Pearson interval."""
    p = k / n if n else 0.0
    lo, hi = INTERVALS[interval](k, n)
    se = math.sqrt(p * (1 - p) / n) if n else math.inf
    note = f"no hits: 95 % upper bound {hi:.3g}" if k == 0 else ""
    return Estimate(p, lo, hi, "crude", n, k, se, se / p if p > 0 else None, note)


def weighted_estimate(wsum: float, w2sum: float, hits: int, n: int) -> Estimate:
    """Importance sampling: mean of w 1_E over n trials; se from the sample variance."""
    if n < 2:
        return Estimate(0.0, 0.0, 1.0, "is", n, hits, math.inf, None, "too few trials")
    p = wsum / n
    var = max(w2sum / n - p * p, 0.0) * n / (n - 1)
    se = math.sqrt(var / n)
    lo, hi = max(0.0, p - Z95 * se), min(1.0, p + Z95 * se)
    note = ""
    if hits == 0:
        note = "no hits under the biased law either; the event may be impossible or need other faults"
    elif hits < 30:
        note = f"only {hits} hits: the error estimate itself is unreliable"
    return Estimate(p, lo, hi, "is", n, hits, se, se / p if p > 0 else None, note)


def ess(wsum: float, w2sum: float) -> float:
    """Kish effective sample size of the weighted hits."""
    return wsum * wsum / w2sum if w2sum > 0 else 0.0


def importance(p_event: float, p_joint: np.ndarray, p_fault: np.ndarray) -> list[dict]:
    """Importance of each fault mode i for one event E.

    ``p_joint[i]`` = P(E and fault i occurs), ``p_fault[i]`` = P(fault i occurs).
    Fussell-Vesely: P(E and i) / P(E), the share of the risk in which fault i takes part.
    Birnbaum: P(E | i) - P(E | not i). RAW = P(E | i) / P(E); RRW = P(E) / P(E | not i).
    Undefined values (a fault that is certain or impossible) are NaN.
    """
    out = []
    for i in range(len(p_fault)):
        pj, pf = float(p_joint[i]), float(p_fault[i])
        given = pj / pf if pf > 0 else math.nan
        given_not = (p_event - pj) / (1 - pf) if pf < 1 else math.nan
        out.append({
            "fv": pj / p_event if p_event > 0 else math.nan,
            "birnbaum": given - given_not,
            "raw": given / p_event if p_event > 0 else math.nan,
            "rrw": p_event / given_not if given_not > 0 else math.nan,
            "p_given_fault": given, "p_given_no_fault": given_not,
        })
    return out


def cdf_points(hist: np.ndarray, total: int, max_points: int = 200) -> list[list[float]]:
    """(value, P(X <= value)) at every value that occurs, thinned to about ``max_points``.

    Thinning keeps a point once the CDF has risen by at least 1/max_points since the last kept
    one (and always the last), so every step of that size or more stays exactly where it is and a
    step plot is never off by more than 1/max_points. (Evenly spaced indices, as before, could
    drop a large step, e.g. a 25-minute median, among hundreds of tiny ones.)
    """
    if total <= 0:
        return []
    cum = np.cumsum(hist) / total
    xs = np.flatnonzero(hist)
    if len(xs) > max_points:
        eps = 1.0 / max_points
        keep, last = [], 0.0
        for x in xs[:-1]:
            if cum[x] - last >= eps:
                keep.append(x)
                last = cum[x]
        xs = np.array([*keep, xs[-1]])
    return [[int(x), float(cum[x])] for x in xs]


def quantiles(hist: np.ndarray, qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, float | None]:
    """Quantiles of a histogram over 0, 1, 2, ... (None when empty)."""
    total = hist.sum()
    if total <= 0:
        return {f"p{round(q * 100):d}": None for q in qs} | {"max": None}
    cum = np.cumsum(hist)
    out: dict[str, float | None] = {}
    for q in qs:
        out[f"p{round(q * 100):d}"] = float(np.searchsorted(cum, q * total))
    out["max"] = float(np.flatnonzero(hist)[-1])
    return out


def paired_difference(a_only: int, b_only: int, n: int) -> tuple[float, float, float]:
    """P_B - P_A from paired trials (b_only: event under B not A), normal 95 % interval."""
    d = (b_only - a_only) / n
    var = max((a_only + b_only) / n - d * d, 0.0) / n
    se = math.sqrt(var)
    return d, d - Z95 * se, d + Z95 * se


def fmt_p(p: float | None) -> str:
    """Enough digits to tell a value from its interval bounds (0.9920 [0.9914, 0.9925])."""
    if p is None:
        return "-"
    if p == 0:
        return "0"
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.3g}"
