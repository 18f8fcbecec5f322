"""The ``crew check --plot`` figure: a Gantt of docked vehicles and pad availability, and
lifeboat seats against crew aboard, day by day. Drawn from a :class:`Report`'s plain data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

FORMATS = (".png", ".svg", ".pdf")


def figure(data: dict[str, Any], pads: list[dict[str, Any]]):
    """A matplotlib Figure from ``Report.to_dict()`` and the pads' outage windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    dates = [dt.date.fromisoformat(x) for x in data["daily"]["date"]]
    t0, t1 = dates[0], dates[-1] + dt.timedelta(days=1)
    ms = [m for m in data["missions"] if m["dock"] and m["dock"] < t1.isoformat()
          and (m["undock"] is None or m["undock"] > t0.isoformat())]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(14, 3 + 0.32 * (len(ms) + len(pads)) + 3),
                                  sharex=True, height_ratios=[len(ms) + len(pads) + 1, 4],
                                  constrained_layout=True)
    y = 0
    labels = []
    for m in ms:
        a = max(dt.date.fromisoformat(m["dock"]), t0)
        b = min(dt.date.fromisoformat(m["undock"]), t1) if m["undock"] else t1
        colour = "tab:blue" if m["lifeboat_seats"] else "tab:gray"
        ax.barh(y, (b - a).days, left=a, color=colour, height=0.6)
        if m["life_days"]:
            lim = dt.date.fromisoformat(m["dock"]) + dt.timedelta(days=m["life_days"])
            if lim < b:
                ax.barh(y, (b - max(lim, a)).days, left=max(lim, a), color="tab:red", height=0.6)
        if m["slip_days"]:
            ax.plot([dt.date.fromisoformat(m["planned_launch"])], [y], "k|", ms=10)
        labels.append(f"{m['mission']} ({m['crew']} crew)" if m["crew"] else m["mission"])
        y += 1
    for p in pads:
        ax.barh(y, (t1 - t0).days, left=t0, color="tab:green", height=0.6, alpha=0.5)
        for o in p["outages"]:
            a = max(dt.date.fromisoformat(o["from"]), t0)
            b = min(dt.date.fromisoformat(o["to"]), t1) if o["to"] else t1
            if a < b:
                ax.barh(y, (b - a).days, left=a, color="orange" if o["crew_only"] else "tab:red",
                        height=0.6)
        labels.append(f"pad {p['id']}")
        y += 1
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_title(f"{data['scenario']}: docked vehicles (blue lifeboat, grey cargo, red beyond life; "
                 "| planned launch) and pads (green up, red out, orange crew access out)")
    ax2.step(dates, data["daily"]["seats"], where="post", label="lifeboat seats", color="tab:blue",
             linewidth=4, alpha=0.5)
    ax2.step(dates, data["daily"]["crew"], where="post", label="crew aboard", color="black", linewidth=1.2)
    gap = [max(c - s, 0) for c, s in zip(data["daily"]["crew"], data["daily"]["seats"], strict=True)]
    ax2.fill_between(dates, 0, gap, step="post", color="tab:red", alpha=0.6, label="crew without a seat")
    ax2.set_ylabel("people / seats")
    ax2.legend(loc="upper right")
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return fig


def write(data: dict[str, Any], pads: list[dict[str, Any]], path: Path) -> None:
    fig = figure(data, pads)
    fig.savefig(path, dpi=110)
