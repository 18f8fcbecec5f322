"""Mutations of the core rules: each is applied, one at a time, to a scratch copy of the tree and
the behavioural tests are run; every mutation must make at least one test fail.

    python3 scripts/mutants.py          # ~10 min on 2 cores; prints a Markdown section for docs/testing.md

Exit status 1 if a mutation survives (no test failed).
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

repo = pathlib.Path(__file__).resolve().parents[1]
root = pathlib.Path(tempfile.mkdtemp(prefix="padguard-mutants-"))
for part in ("src", "tests", "pyproject.toml"):
    src = repo / part
    (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
only = sys.argv[1:]  # e.g. "M9": run only these
M = [
 ("M1 HOLDING+OPERATOR_ABORT ends SCRUBBED", "src/padguard/sequencer/table.py",
  "(Mode.HOLDING, Trigger.OPERATOR_ABORT): (Mode.ABORTED", "(Mode.HOLDING, Trigger.OPERATOR_ABORT): (Mode.SCRUBBED"),
 ("M2 an UNKNOWN criterion does not block (only VIOLATED holds)", "src/padguard/sequencer/rules.py",
  "blocking = applies & (eff != _OK)", "blocking = applies & (eff == _VIOLATED)"),
 ("M3 debounce ignored", "src/padguard/sequencer/rules.py",
  "eff = np.where(rawok & (T - oks < plan.c_deb[:, None]), _UNKNOWN, raw)", "eff = raw"),
 ("M4 resume accepted into a violated criterion", "src/padguard/sequencer/rules.py",
  "bad_resume = (op == _RESUME) & ~resumable", "bad_resume = (op == _RESUME) & False"),
 ("M5 no window check on a recycle", "src/padguard/sequencer/rules.py",
  "bad_recycle |= (op == _RECYCLE) & (T + (plan.ign - plan.r_at[ri_op]) > plan.window_close)", "pass"),
 ("M6 the window never closes", "src/padguard/sequencer/rules.py",
  "window = (holding | (mode == _COUNTING)) & (T + (plan.ign - TC) > plan.window_close)",
  "window = (holding | (mode == _COUNTING)) & (T + (plan.ign - TC) > plan.window_close + 10**15)"),
 ("M7 a violation past the point of no return holds instead of aborting", "src/padguard/sequencer/table.py",
  "(Mode.TERMINAL, Trigger.AUTO_HOLD): (Mode.ABORTED", "(Mode.TERMINAL, Trigger.AUTO_HOLD): (Mode.HOLDING"),
 ("M8 k-of-n: more than k members needed (>= flipped to >)", "src/padguard/sequencer/rules.py",
  "sel = ((n_in >= km).view(np.uint8) << 1) | (n_out >= km).view(np.uint8)",
  "sel = ((n_in > km).view(np.uint8) << 1) | (n_out >= km).view(np.uint8)"),
 ("M9 staleness ignored: an old sample counts as fresh", "src/padguard/sequencer/rules.py",
  "return (age.view(np.uint64) <= lim) & (val.view(np.uint64) < dom)",
  "return (age.view(np.uint64) >= 0) & (val.view(np.uint64) < dom)"),
]
print("| mutation | tests failing | which (first 8) |\n|---|---|---|", flush=True)
tests = ["tests/test_sequencer.py", "tests/test_live_sequencer.py", "tests/test_simulate.py", "tests/test_verify.py"]
env = dict(os.environ, PYTHONPATH=str(root / "src"))
survivors = []
for name, f, old, new in M:
    if only and name.split()[0] not in only:
        continue
    p = root / f
    orig = p.read_text()
    assert old in orig, name
    p.write_text(orig.replace(old, new, 1))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "--maxfail=4", "--timeout", "300",
                            *tests], cwd=root, env=env, capture_output=True, text=True, timeout=1800)
        failed = sorted({ln.split(" ")[1] for ln in r.stdout.splitlines() if ln.startswith("FAILED ")})
        print(f"| {name} | {len(failed)}{'+' if len(failed) >= 4 else ''} | " + "; ".join(f.replace("tests/", "") for f in failed[:8])
              + (" ..." if len(failed) > 8 else "") + " |", flush=True)
        if not failed:
            survivors.append(name)
    finally:
        p.write_text(orig)
shutil.rmtree(root, ignore_errors=True)
if survivors:
    print("SURVIVED (no test caught them): " + "; ".join(survivors))
    sys.exit(1)
