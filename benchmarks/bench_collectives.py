"""Collective evaluations per second through the Python API on arrays (sizes x rank counts x algorithms).

Run: ``python benchmarks/bench_collectives.py``. Target (issue 3): >= 10 million evaluations per second.
"""

import time

import numpy as np
import perfmodel as pm


def main() -> None:
    c = pm.cluster("dgx-h100", 64)
    sizes = np.logspace(3, 34, 50_000, base=2.0)
    ranks = np.array([2, 4, 8, 16, 32, 64, 128, 256, 512])
    algos = ["ring", "tree", "hierarchical", "auto"]
    n = sizes.size * ranks.size * len(algos)
    pm.collectives.predict(c, "all_reduce", sizes[:, None], ranks, algos)  # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        df = pm.collectives.predict(c, "all_reduce", sizes[:, None], ranks, algos)
        best = min(best, time.perf_counter() - t0)
    assert df.height == n
    print(
        f"{n} evaluations in {best * 1e3:.1f} ms: {n / best / 1e6:.1f} million collective evaluations per second"
    )


if __name__ == "__main__":
    main()
