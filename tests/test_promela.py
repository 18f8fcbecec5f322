"""padguard and SPIN give the same verdict on the same model (Promela generated from the Plan).

SPIN is Debian's ``spin``; ``pan`` is compiled with ``gcc -O2 -DSAFETY``. The Promela model has
none of the verifier's reductions, so agreement also checks that they are sound.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import padguard as pg
from padguard.cli import app
from padguard.engines import verify as V
from padguard.engines.promela import export, parse_pan, run_spin, spin_available
from padguard.engines.verify_models import random_model, write_model
from padguard.model.invariants import compile_invariants

needs_spin = pytest.mark.skipif(not spin_available(), reason="SPIN cross-check needs Debian's `spin` and `gcc` "
                                                             "(apt-get install spin gcc; scripts/test does it)")
HAZARDS = ("plume", "personnel", "invariants", "liveness")
#: The random cross-check builds one pan per model (gcc dominates, ~1.5 s each on this machine):
#: 16 fresh random models in the everyday suite, 2 x 50 with PADGUARD_SLOW=1 (docs/testing.md).
SLOW = os.environ.get("PADGUARD_SLOW") == "1"
RANDOM_MODELS, RANDOM_ROUNDS = (50, 2) if SLOW else (16, 1)


def both(job: tuple[pg.Plan, int, tuple[str, ...]]) -> tuple[str, str]:
    """(padguard verdict, SPIN verdict) for one plan, K and property set."""
    plan, k, props = job
    invs = compile_invariants(plan)
    ours = V.verify(plan, max_faults=k, properties=props, invariants=invs).verdict
    spin = run_spin(export(plan, k, props, invs), hash_bits=20).verdict
    return ours, spin


def run_all(jobs: list) -> list[tuple[str, str]]:
    with ThreadPoolExecutor(2) as pool:  # pan's gcc build dominates: use both cores
        return list(pool.map(both, jobs))


@needs_spin
def test_shipped_models_agree_with_spin():
    def plan(site: str, proc: str, res_s: int) -> pg.Plan:
        return pg.compile_model(pg.load(site, proc), res_s * 1000)

    jobs = [
        (plan("site31", "legacy", 30), 1, V.PROPERTIES),    # violated: the stopper
        (plan("site31", "guarded", 30), 1, V.PROPERTIES),   # proved, the launch window included
        (plan("site31", "guarded", 30), 1, HAZARDS),        # proved
        (plan("falcon9", "crewed", 30), 1, V.PROPERTIES),   # proved
    ]
    results = run_all(jobs)
    assert [ours for ours, _ in results] == ["violated", "proved", "proved", "proved"]
    assert [spin for _, spin in results] == [ours for ours, _ in results]


@needs_spin
@settings(max_examples=RANDOM_ROUNDS, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seeds=st.lists(st.integers(0, 10**7), min_size=RANDOM_MODELS, max_size=RANDOM_MODELS, unique=True))
def test_random_small_models_agree_with_spin(seeds: list[int], tmp_path_factory):
    """Random small models (1-3 equipment, 1-4 sensors, 0-2 criteria, K 0-2): 16, or 2 x 50 when slow."""
    jobs = []
    for seed in seeds:
        docs = random_model(seed)
        site, proc = write_model(tmp_path_factory.mktemp("m"), docs)
        jobs.append((pg.compile_model(pg.load(site, proc)), docs["max_faults"], V.PROPERTIES))
    results = run_all(jobs)
    mismatches = [(s, r) for s, r in zip(seeds, results, strict=True) if r[0] != r[1]]
    assert not mismatches, f"padguard and SPIN disagree (seed, (padguard, spin)): {mismatches}"
    assert all(r[1] in ("proved", "violated") for r in results)


def test_export_is_generated_from_the_plan():
    """Changing the model changes the Promela: constants come from the compiled tables."""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    text = export(plan, 2)
    assert "#define PG_K 2" in text and "active proctype countdown()" in text
    assert f"#define PG_WCLOSE {plan.window_close}" in text
    assert "dt = 120000; do :: (dt < 300000)" in text  # cabin 2-5 min at 1 s
    coarse = export(pg.compile_model(pg.load("site31", "guarded"), 30_000), 2)
    assert "#define PG_RES 30000" in coarse and "#define PG_RES 1000" in text


def test_parse_pan_output():
    ok = "State-vector 244 byte, depth reached 10, errors: 0\n  48 states, stored\n  60 transitions (= x)\n" \
         "  542.448\ttotal actual memory usage\npan: elapsed time 0.5 seconds\n"
    r = parse_pan(ok)
    assert (r.verdict, r.states, r.vector_bytes, r.seconds) == ("proved", 48, 244, 0.5)
    bad = "pan:1: assertion violated  !(PHAZ != 0) (at depth 5)\nState-vector 8 byte, depth reached 5, errors: 1\n"
    assert parse_pan(bad).verdict == "violated"
    assert parse_pan("garbage").verdict == "error"


def test_cli_export_promela(tmp_path: Path):
    out = tmp_path / "guarded.pml"
    r = CliRunner().invoke(app, ["export", "promela", "site31", "guarded", "-k", "1", "--resolution", "30s",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("/* padguard: Baikonur Cosmodrome Site 31/6 / guarded")
    r = CliRunner().invoke(app, ["export", "promela", "site31", "guarded", "-p", "bogus"])
    assert r.exit_code == 2
