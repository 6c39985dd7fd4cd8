"""Distributed plan search: a search of over 10 million candidate plans run locally and on a 2-worker Dask
LocalCluster (process workers, one engine thread each), with the overhead of chunking and shipping results.

Prints the wall times of both (median and best of the repeats, alternated), the overhead beyond the local time
from the medians and the median of the paired ratios, and asserts that the two frames are identical. Target
(issue 15): overhead under 15% of the local time when the cluster has the local run's cores (2 workers x 1
thread vs 2 local threads here). Needs ``pip install 'perfmodel[dask]'``.
Run: python benchmarks/bench_dask_search.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import sys
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


def cpu_pressure() -> str:
    """The kernel's CPU pressure (share of time some task waited for a CPU, last 10 s), when it says."""
    try:
        with open("/proc/pressure/cpu") as f:
            return f.readline().split()[1].split("=")[1] + "%"
    except (OSError, IndexError):
        return "n/a"


def main(repeats: int = 9) -> None:
    from distributed import Client, LocalCluster

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}; engine threads locally: {pm.get_num_threads()}")
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                     env={"RAYON_NUM_THREADS": "1"}) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        for fits_only in (True, False):
            print(
                f"-- fits_only={fits_only}"
                + (" (the default: fitting plans only)" if fits_only else " (every valid plan)")
            )
            compare(client, repeats, fits_only)


def compare(client: Any, repeats: int, fits_only: bool) -> None:
    timed(fits_only=fits_only)  # warm-up: thread pool, caches
    timed(client=client, fits_only=fits_only)  # warm-up: the workers import perfmodel
    # Alternated: a machine shared with other work slows both alike; the paired ratios cancel slow spells.
    pressure_before = cpu_pressure()
    runs = [(timed(fits_only=fits_only), timed(client=client, fits_only=fits_only)) for _ in range(repeats)]
    local_t = [r[0][0] for r in runs]
    dist_t = [r[1][0] for r in runs]
    local, dist = runs[0][0][1], runs[0][1][1]
    assert all(r[1][1].plans.equals(local.plans) for r in runs), (
        "the distributed search differs from the local one"
    )
    assert dist.skipped == local.skipped and dist.candidates == local.candidates
    print(
        f"{local.candidates:,} candidates, {local.plans.height:,} plans; frames identical; {repeats} runs each"
    )
    print(f"CPU pressure before/after: {pressure_before} / {cpu_pressure()}")
    med_l, med_d = statistics.median(local_t), statistics.median(dist_t)
    print(f"local:                 median {med_l:.3f} s, best {min(local_t):.3f} s")
    print(f"2-worker LocalCluster: median {med_d:.3f} s, best {min(dist_t):.3f} s")
    ratio = statistics.median(d / loc for loc, d in zip(local_t, dist_t, strict=True))
    print(
        f"overhead: {100 * (med_d / med_l - 1):+.1f}% (medians), {100 * (ratio - 1):+.1f}% (median of paired runs), "
        f"{100 * (min(dist_t) / min(local_t) - 1):+.1f}% (best of each); target < 15%"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
