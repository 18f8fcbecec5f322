"""Plots of a risk campaign: outcome bars with intervals, hold-time CDF, importance rankings.

Works from the campaign's plain-data result (``CampaignResult.to_dict()``), so a saved JSON
can be plotted again. PNG/SVG/PDF through matplotlib; ``.html`` embeds the PNG and tables.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from padguard.engines.risk_stats import fmt_p

FORMATS = (".png", ".svg", ".pdf", ".html")
SHOW = ("launched_on_time", "launched_after_holds", "scrubbed", "aborted", "pad_damaged",
        "personnel_hazard")


def figure(data: dict[str, Any]):
    """A matplotlib Figure with the three panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    procs = data["procedures"]
    fig, grid = plt.subplots(2, 2, figsize=(16, 10), constrained_layout=True)
    axes = [grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1]]
    # 1. outcomes, log scale, with 95 % intervals (zero-hit upper bounds drawn as arrows)
    ax = axes[0]
    width = 0.8 / len(procs)
    for k, pr in enumerate(procs):
        xs, ps, lo, hi, zx, zhi = [], [], [], [], [], []
        for i, name in enumerate(SHOW):
            o = pr["outcomes"].get(name)
            if o is None:
                continue
            x = i + (k - (len(procs) - 1) / 2) * width
            p = o["p"] or 0.0
            if p > 0:
                xs.append(x)
                ps.append(p)
                lo.append(max(p - (o["lo"] or 0.0), 0.0))
                hi.append(max((o["hi"] or 0.0) - p, 0.0))
            elif o["hi"]:
                zx.append(x)
                zhi.append(o["hi"])
        color = f"C{k}"
        ax.bar(xs, ps, width, label=pr["procedure"], alpha=0.8, color=color)
        ax.errorbar(xs, ps, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3, lw=1)
        if zx:  # never seen: only the 95 % upper bound is known
            ax.scatter(zx, zhi, marker="v", color=color, edgecolor="black", zorder=3,
                       label=f"{pr['procedure']}: not seen, upper bound")
    ax.set_yscale("log")
    ax.set_xticks(range(len(SHOW)))
    ax.set_xticklabels([s.replace("_", "\n") for s in SHOW], fontsize=8)
    ax.set_ylabel("probability per countdown (95 % interval)")
    ax.set_title(f"Outcomes, {data['site_name']} ({data['trials']:,} trials)")
    ax.legend()
    # 2. hold-time CDF among countdowns that held
    ax = axes[1]
    any_curve = False
    for pr in procs:
        pts = pr["holds"]["hold_time_s"]["cdf_given_hold"]
        if pts:
            any_curve = True
            ax.step([p[0] / 60 for p in pts], [p[1] for p in pts], where="post",
                    label=f"{pr['procedure']} ({pr['holds']['hold_time_s']['trials_with_hold_time']} held)")
    ax.set_xlabel("unplanned hold time (min)")
    ax.set_ylabel("P(hold time <= x | held)")
    ax.set_title("Hold-time distribution")
    ax.set_ylim(0, 1.02)
    if any_curve:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no unplanned holds", ha="center", transform=ax.transAxes)
    # 3-4. importance, one panel per event (their probabilities differ by orders of magnitude):
    # P(event | fault mode) on a log axis, the event's own probability as a line, FV as a label
    for ax, ev in zip(axes[2:], ("pad_damaged", "scrubbed"), strict=True):
        rows = []
        for k, pr in enumerate(procs):
            tab = [r for r in pr["importance"].get(ev, {}).get("table", []) if r["fv"] and r["p_given_fault"]]
            for r in tab[:8]:
                rows.append((f"{pr['procedure']}: {r['fault']}", r["p_given_fault"], r["fv"], k))
        rows = rows[::-1]
        if rows:
            ax.barh(range(len(rows)), [r[1] for r in rows], color=[f"C{r[3]}" for r in rows], alpha=0.75)
            for i, r in enumerate(rows):
                ax.text(r[1], i, f"  FV {r[2]:.2f}", va="center", fontsize=7)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([r[0] for r in rows], fontsize=7)
            ax.set_xscale("log")
            for k, pr in enumerate(procs):
                p_ev = (pr["outcomes"].get(ev) or {}).get("p")
                if p_ev:
                    ax.axvline(p_ev, color=f"C{k}", ls="--", lw=1, label=f"{pr['procedure']}: P({ev.replace('_', ' ')})")
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, f"no {ev.replace('_', ' ')} seen", ha="center", transform=ax.transAxes)
        ax.set_xlabel(f"P({ev.replace('_', ' ')} | fault mode occurs), log scale; FV = share of the risk")
        ax.set_title(f"Fault modes driving {ev.replace('_', ' ')}")
    return fig




def write(data: dict[str, Any], path: str | Path) -> Path:
    """Write the plots to ``path`` (format by extension: .png, .svg, .pdf or .html)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot plot to '{path}': use one of {', '.join(FORMATS)}")
    fig = figure(data)
    import matplotlib.pyplot as plt

    try:
        if ext != ".html":
            fig.savefig(path, dpi=110)
            return path
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    path.write_text(_html(data, base64.b64encode(buf.getvalue()).decode()))
    return path


def _html(data: dict[str, Any], png_b64: str) -> str:
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>padguard risk: {e(data['site_name'])}</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:right}"
             "th{background:#eee}td:first-child{text-align:left}</style>",
             f"<h1>Risk campaign: {e(data['site_name'])}</h1>",
             f"<p>{data['trials']:,} trials per procedure, seed {data['seed']}, method {e(data['method'])}.</p>",
             f"<img style='max-width:100%' src='data:image/png;base64,{png_b64}'>",
             "<h2>Outcome probabilities (95 % intervals)</h2><table><tr><th>outcome</th>"]
    procs = data["procedures"]
    parts += [f"<th>{e(p['procedure'])}</th>" for p in procs] + ["</tr>"]
    for name in SHOW:
        parts.append(f"<tr><td>{e(name.replace('_', ' '))}</td>")
        for p in procs:
            o = p["outcomes"].get(name)
            parts.append("<td>-</td>" if o is None else
                         f"<td>{fmt_p(o['p'])} [{fmt_p(o['lo'])}, {fmt_p(o['hi'])}] ({e(o['method'])})</td>")
        parts.append("</tr>")
    parts.append("</table>")
    for p in procs:
        for ev in ("pad_damaged", "scrubbed"):
            tab = p["importance"].get(ev, {}).get("table", [])[:10]
            if not tab:
                continue
            parts.append(f"<h3>{e(p['procedure'])}: importance for {e(ev.replace('_', ' '))}</h3>"
                         "<table><tr><th>fault</th><th>p</th><th>Fussell-Vesely</th><th>Birnbaum</th></tr>")
            for r in tab:
                b = r["birnbaum"]
                parts.append(f"<tr><td>{e(r['fault'])}</td><td>{fmt_p(r['probability'])}</td>"
                             f"<td>{r['fv']:.4f}</td><td>{'-' if b is None else fmt_p(b)}</td></tr>")
            parts.append("</table>")
    return "\n".join(parts)
