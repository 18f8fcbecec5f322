"""Benchmark: one risk campaign in 1 process, on local processes and on a real multi-process Dask cluster.

Same seed, same chunks, same numbers (checked bit for bit). For each executor it prints the
wall time of the whole campaign (connecting to the cluster included: ``executor_for`` warms
every Dask worker there), the CPU time the worker processes spent (user and system, read from
the workers themselves), trials per second and trials per worker CPU-second, and the ratios
Dask / local processes. On a shared machine wall time follows the other users' load; CPU per
trial does not, so both are printed. Rounds alternate the executors.

    PYTHONPATH=src python3 benchmarks/risk_dask.py --trials 1048576 [--workers 2] [--rounds 2]

``PADGUARD_MALLOC_TUNE=0`` leaves Dask's MALLOC_TRIM_THRESHOLD_ in force (the contrast that
showed half a worker's time in the kernel, see docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import padguard as pg
from padguard.engines import risk_campaign as rc


def _cpu(_: object = None) -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=16 * rc.CHUNK)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    import distributed

    plan = pg.compile_model(pg.load("site31", "guarded"))
    kw = dict(seed=1, method="crude")
    print(f"load average before: {os.getloadavg()}")
    rows: dict[str, list[tuple[float, float]]] = {}
    ref = None

    def record(name: str, wall: float, cpu: float, numbers: dict) -> None:
        nonlocal ref
        if ref is None:
            ref = numbers
        assert numbers == ref, f"{name} gives different numbers"
        rows.setdefault(name, []).append((wall, cpu))

    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        for _ in range(a.rounds):
            c0 = _cpu()
            t0 = time.perf_counter()
            one = rc.campaign([plan], a.trials, **kw)
            record("1 process", time.perf_counter() - t0, _cpu() - c0, one.numbers())

            c0 = _children_cpu()
            t0 = time.perf_counter()
            with ProcessPoolExecutor(a.workers) as ex:  # started, run and joined inside the timing
                local = rc.campaign([plan], a.trials, executor=ex, **kw)
            record(f"{a.workers} local processes", time.perf_counter() - t0, _children_cpu() - c0,
                   local.numbers())

            before = client.run(_cpu)
            t0 = time.perf_counter()
            with rc.executor_for(cluster=cluster.scheduler_address) as ex:  # connect + warm workers
                dask = rc.campaign([plan], a.trials, executor=ex, **kw)
            wall = time.perf_counter() - t0
            after = client.run(_cpu)
            record(f"Dask LocalCluster, {a.workers} worker processes x 1 thread", wall,
                   sum(after[w] - before[w] for w in after), dask.numbers())
    print(f"{a.trials:,} site31/guarded trials (seed 1, crude), identical numbers on every executor")
    best = {}
    for name, rs in rows.items():
        wall = min(w for w, _ in rs)
        cpu = min(c for _, c in rs)
        best[name] = (wall, cpu)
        print(f"  {name:48s} wall {wall:7.2f} s ({a.trials / wall:9,.0f} trials/s), "
              f"worker CPU {cpu:6.2f} s ({a.trials / cpu:9,.0f} trials per CPU-s)  [all rounds: "
              + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in rs) + "]")
    names = list(best)
    (lw, lc), (dw, dc) = best[names[1]], best[names[2]]
    print(f"  ratio Dask / local processes: wall {dw / lw:.2f}, CPU per trial {dc / lc:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
