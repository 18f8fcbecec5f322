"""A mini pad for the risk engine's exact checks: its YAML, its closed form, its Storm model.

The mini pad has one stopper (commanded at T-2m, travel 10..30 s), two stopper switches voted
2-of-2 under a criterion that applies from T-100s with a 2 s debounce, and four fault modes:
the stopper jams or seats misaligned (per demand), and either switch reads "engaged" whatever
the truth from a uniformly drawn second of the 300 s count. From the semantics:

* the stopper is bad (never engaged) iff it jammed or seated misaligned;
* a bad stopper damages the pad iff both switches lie (they all start lying before the window
  closes, so the hold resumes into an unlocked ignition); else the count holds and scrubs;
* a good stopper launches on time iff it arrives by T-102s (travel <= 18 s: 9 of 21 travel
  times) or both switches lie from a second <= 198 (199 of 300 onsets each); else it holds at
  T-100s and resumes, launching late after a hold of (travel - 18) s.

The Storm model below encodes the same countdown independently, second by second, as a DTMC.
"""

from __future__ import annotations

from pathlib import Path

MINI_SITE = """\
site: mini
name: Mini pad (closed-form and Storm checks)
equipment:
  - name: stopper
    kind: lock
    positions: [disengaged, engaged, misaligned]
    initial: disengaged
    travel:
      - {from: disengaged, to: engaged, min: 10s, max: 30s}
sensors:
  - {name: stopper_a, observes: stopper, period: 1s, stale_after: 3}
  - {name: stopper_b, observes: stopper, period: 1s, stale_after: 3}
groups:
  - {name: lock, sensors: [stopper_a, stopper_b], vote: 2}
plume_zone:
  - {equipment: stopper, safe: [engaged], hazard: unlocked}
"""

MINI_PROC = """\
procedure: guarded
site: mini
start: T-5m
ignition: T-0
window: {duration: 10m}
debounce: 2s
steps:
  - {at: T-2m, move: stopper, to: engaged}
criteria:
  - name: locked
    applies: {from: T-100s, until: T-0}
    all:
      - {group: lock, is: engaged}
auto: {resume: true}
"""

MINI_FAULTS = """\
site: mini
faults:
  - {{component: stopper, mode: jammed, effect: jam, probability: {pj}}}
  - {{component: stopper, mode: misaligned, effect: wrong_position, to: misaligned, probability: {pm}}}
  - {{component: stopper_a, mode: wrong, effect: reads_wrong, value: engaged, probability: {pa}}}
  - {{component: stopper_b, mode: wrong, effect: reads_wrong, value: engaged, probability: {pb}}}
"""


def write_mini(d: Path, pj: float, pm: float, pa: float, pb: float) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "site.yaml").write_text(MINI_SITE)
    (d / "guarded.yaml").write_text(MINI_PROC)
    (d / "faults.yaml").write_text(MINI_FAULTS.format(pj=pj, pm=pm, pa=pa, pb=pb))
    return d


def closed_form(pj: float, pm: float, pa: float, pb: float) -> dict[str, float]:
    """Exact outcome probabilities of the mini pad (derivation in the module docstring)."""
    bad = 1 - (1 - pj) * (1 - pm)
    early = pa * pb * (199 / 300) ** 2
    return {"launched_on_time": (1 - bad) * (9 / 21 + 12 / 21 * early),
            "launched_after_holds": (1 - bad) * 12 / 21 * (1 - early),
            "pad_damaged": bad * pa * pb,
            "scrubbed": bad * (1 - pa * pb)}


def prism_model(pj: float, pm: float, pa: float, pb: float) -> str:
    """The mini countdown as a DTMC, one wall second at a time (an independent encoding).

    Phases per second: ``rnd`` draws what happens in the coming second (sensor-fault onsets
    with the hazard of a uniform onset, the stopper's per-demand faults and travel time in the
    second before its command) and advances the clock; ``eval`` settles the second: arrival,
    both switches, the 2 s debounce, the criterion window, hold/resume/scrub/ignition, command.
    """
    taus = " + ".join(f"1/21 : (tau'={k})" for k in range(10, 31))
    keep = "(pos'=posn) & (dest'=(posn=3 ? dest : 0)) & (arr'=(posn=3 ? arr : 0)) & (okc'=okn)"
    return f"""dtmc
const double pj = {pj!r};
const double pm = {pm!r};
const double pa = {pa!r};
const double pb = {pb!r};

module clock
  ph : [0..2] init 0;
  t : [0..901] init 0;
  [draw] ph=0 -> (ph'=2);
  [rnd] ph=1 & mode<2 -> (ph'=2) & (t'=min(t+1, 901));
  [rnd] ph=1 & mode>=2 -> (ph'=2);
  [eval] ph=2 -> (ph'=1);
endmodule

formula demand_next = mode=0 & tc=-121;
formula demand_now = mode=0 & !block & tc=-120;

module jamming
  jam : bool init false;
  [rnd] demand_next -> pj : (jam'=true) + 1-pj : (jam'=false);
  [rnd] !demand_next -> true;
  [eval] demand_now -> (jam'=false);
  [eval] !demand_now -> true;
endmodule

module misaligning = jamming [jam=mis, pj=pm] endmodule

module travel
  tau : [10..30] init 10;
  [rnd] demand_next -> {taus};
  [rnd] !demand_next -> true;
  [eval] demand_now -> (tau'=10);
  [eval] !demand_now -> true;
endmodule

module switch_a
  wa : [0..2] init 0;
  [draw] true -> pa/300 : (wa'=2) + pa*299/300 : (wa'=1) + 1-pa : (wa'=0);
  [rnd] wa=1 & mode<2 & t<298 -> 1/(299-t) : (wa'=2) + 1-1/(299-t) : (wa'=1);
  [rnd] wa=1 & mode<2 & t>=298 -> (wa'=2);
  [rnd] wa!=1 & mode<2 -> true;
  [rnd] mode>=2 -> (wa'=0);
endmodule

module switch_b = switch_a [wa=wb, pa=pb] endmodule

formula tc = t - 300 - held;
formula posn = (pos=3 & t>=arr) ? dest : pos;
formula rawok = (wa=2 | posn=1) & (wb=2 | posn=1);
formula okn = rawok ? (okc=-1 ? 0 : min(okc+1, 2)) : -1;
formula block = tc>=-100 & tc<=0 & !(rawok & okn>=2);
formula go = demand_now & (mis | !jam);

module countdown
  mode : [0..3] init 0;
  held : [0..901] init 0;
  hh : bool init false;
  dmg : bool init false;
  pos : [0..3] init 0;
  dest : [0..2] init 0;
  arr : [0..300] init 0;
  okc : [-1..2] init -1;
  [rnd] mode=1 -> (held'=min(held+1, 901));
  [rnd] mode!=1 -> true;
  [eval] mode=0 & block -> (mode'=1) & (hh'=true) & {keep};
  [eval] mode=0 & !block & tc>=0 -> (mode'=2) & (dmg'=(posn!=1)) & {keep};
  [eval] mode=0 & !block & tc<0 & go -> (pos'=3) & (arr'=t+tau) & (dest'=mis ? 2 : 1) & (okc'=okn);
  [eval] mode=0 & !block & tc<0 & !go -> {keep};
  [eval] mode=1 & t-tc>900 -> (mode'=3) & {keep};
  [eval] mode=1 & t-tc<=900 & !block -> (mode'=0) & {keep};
  [eval] mode=1 & t-tc<=900 & block -> {keep};
  [eval] mode>=2 -> (pos'=0) & (dest'=0) & (arr'=0) & (okc'=-1) & (held'=0);
endmodule

label "launched_on_time" = mode=2 & !hh & !dmg;
label "launched_after_holds" = mode=2 & hh & !dmg;
label "pad_damaged" = mode=2 & dmg;
label "scrubbed" = mode=3;
"""


def storm_probabilities(tmp: Path, pj: float, pm: float, pa: float, pb: float) -> dict[str, float]:
    """P(F outcome) of every outcome label, computed exactly by Storm."""
    import stormpy

    f = tmp / "mini.prism"
    f.write_text(prism_model(pj, pm, pa, pb))
    prog = stormpy.parse_prism_program(str(f))
    names = ("launched_on_time", "launched_after_holds", "pad_damaged", "scrubbed")
    props = stormpy.parse_properties(";".join(f'P=? [F "{n}"]' for n in names), prog)
    model = stormpy.build_model(prog, props)
    init = model.initial_states[0]
    return {n: stormpy.model_checking(model, p).get_value(init) for n, p in zip(names, props, strict=True)}
