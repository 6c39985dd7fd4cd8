"""Roofline throughput through the Python API: GEMM evaluations per second on 10-million-element arrays
(target >= 20 million/s on the 2-core reference machine) and the per-call cost of a scalar call.

Run: python benchmarks/bench_roofline.py  (a benchmark script, not a timed test)
"""

from __future__ import annotations

import os
import time

import numpy as np
import perfmodel as pm

N = 10_000_000


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    dev = pm.hwdb.get("h100-sxm5-80gb")
    rng = np.random.default_rng(0)
    m = rng.integers(64, 65536, N).astype(np.float64)
    n = rng.integers(64, 65536, N).astype(np.float64)
    k = rng.integers(64, 65536, N).astype(np.float64)
    t = best_of(lambda: pm.roofline.gemm(dev, m, n, k))
    print(f"cores: {os.cpu_count()}")
    print(
        f"gemm, {N:,} elements -> DataFrame: {t:.3f} s = {N / t / 1e6:.1f} million evaluations/s (target >= 20)"
    )
    t_core = best_of(
        lambda: pm._core.roofline_gemm(dev._handle, "bf16", "row", m, n, k, np.ones(N), float("nan"))
    )
    print(f"gemm engine only (numpy columns out): {N / t_core / 1e6:.1f} million evaluations/s")
    calls = 100_000
    t_scalar = best_of(lambda: [pm.roofline.gemm_time(dev, 4096, 4096, 4096) for _ in range(calls)], 2)
    print(f"scalar pm.roofline.gemm_time: {t_scalar / calls * 1e6:.2f} us per call")
    t_df = best_of(lambda: [pm.roofline.gemm(dev, 4096, 4096, 4096) for _ in range(2000)], 2)
    print(f"scalar pm.roofline.gemm (DataFrame result): {t_df / 2000 * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
