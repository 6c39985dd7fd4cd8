"""Distributed plan search: a search of over 10 million candidate plans run locally and on a 2-worker Dask
LocalCluster (process workers, one engine thread each), with the overhead of chunking and shipping results.

Prints both wall times, the ratio distributed / local and the overhead beyond the local time, and asserts that
the two frames are identical. Target (issue 15): overhead under 15% of the local time when the cluster has the
local run's cores (2 workers x 1 thread vs 2 local threads here). Needs ``pip install 'perfmodel[dask]'``.
Run: python benchmarks/bench_dask_search.py
"""

from __future__ import annotations

import os
import time
from typing import Any

import perfmodel as pm

MODEL, CLUSTER, BATCH = "gpt3-175b", ("dgx-a100", 128), 1536
#: Every interleaving, micro-batch, recompute, ZeRO, SP, overlap and offload choice: 12,165,120 candidates.
SPACE: dict[str, Any] = {"micro_batch": [1, 2, 4, 8, 16], "cp": [1, 2], "progress": False}


def timed(**kw: Any) -> tuple[float, pm.llm.SearchResult]:
    t0 = time.perf_counter()
    r = pm.llm.search_full(MODEL, CLUSTER, BATCH, **SPACE, **kw)
    return time.perf_counter() - t0, r


def main(repeats: int = 5) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}; engine threads locally: {pm.get_num_threads()}")
    for fits_only in (True, False):
        print(
            f"-- fits_only={fits_only}"
            + (" (the default: fitting plans only)" if fits_only else " (every valid plan)")
        )
        compare(repeats, fits_only)


def compare(repeats: int, fits_only: bool) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                     env={"RAYON_NUM_THREADS": "1"}) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        timed(fits_only=fits_only)  # warm-up: thread pool, caches
        timed(client=client, fits_only=fits_only)  # warm-up: the workers import perfmodel
        # Alternated, best of each: a machine shared with other work slows both alike.
        runs = [
            (timed(fits_only=fits_only), timed(client=client, fits_only=fits_only)) for _ in range(repeats)
        ]
    local_s, local = min((r[0] for r in runs), key=lambda x: x[0])
    dist_s, dist = min((r[1] for r in runs), key=lambda x: x[0])
    print(f"local: {local.candidates:,} candidates, {local.plans.height:,} plans in {local_s:.2f} s")
    assert dist.plans.equals(local.plans), "the distributed search differs from the local one"
    assert dist.skipped == local.skipped and dist.candidates == local.candidates
    print(f"2-worker LocalCluster: {dist.plans.height:,} plans in {dist_s:.2f} s (frames identical)")
    print(
        f"ratio distributed / local: {dist_s / local_s:.3f}; overhead {100 * (dist_s / local_s - 1):+.1f}% (target < 15%)"
    )


if __name__ == "__main__":
    main()
