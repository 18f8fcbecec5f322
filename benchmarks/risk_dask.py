"""Benchmark: a risk campaign on local processes against a real multi-process Dask cluster.

Same seed, same chunks, same numbers (checked), two workers each; prints wall time, CPU time
of the workers (user and system, from the workers themselves) and the ratio. The system time
shows the malloc effect: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which
padguard's chunk worker overrides (``risk.tune_malloc``).

    PYTHONPATH=src python3 benchmarks/risk_dask.py --trials 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import padguard as pg
from padguard.engines import risk_campaign as rc


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    import distributed

    plan = pg.compile_model(pg.load("site31", "guarded"))
    kw = dict(seed=1, method="crude")
    print(f"load average before: {os.getloadavg()}")
    with ProcessPoolExecutor(a.workers) as ex:
        list(ex.map(_cpu, range(a.workers)))  # start the workers before timing
        t0 = time.perf_counter()
        local = rc.campaign([plan], a.trials, executor=ex, **kw)
        t_local = time.perf_counter() - t0
    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        before = client.run(_cpu)
        with rc.executor_for(cluster=cluster.scheduler_address) as ex:
            t0 = time.perf_counter()
            dask = rc.campaign([plan], a.trials, executor=ex, **kw)
            t_dask = time.perf_counter() - t0
        after = client.run(_cpu)
    assert dask.numbers() == local.numbers(), "Dask and local processes disagree"
    user = sum(after[w][0] - before[w][0] for w in after)
    sys_ = sum(after[w][1] - before[w][1] for w in after)
    print(f"{a.trials:,} site31/guarded trials, {a.workers} workers, identical numbers")
    print(f"  local processes: {t_local:7.2f} s wall")
    print(f"  Dask LocalCluster (processes): {t_dask:7.2f} s wall; worker CPU user {user:.1f} s, system {sys_:.1f} s")
    print(f"  ratio Dask / local: {t_dask / t_local:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
