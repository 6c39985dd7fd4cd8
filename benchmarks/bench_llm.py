"""LLM plan-evaluation benchmark.

Prints (1) full plan evaluations per second of the Rust search (GPT-3 175B on 1,024 A100, a wide space),
(2) the wall time of searching every plan for Turing-NLG 530B on 5,120 A100 (640 DGX A100 nodes),
(3) one ``pm.llm.estimate`` call through Python (GPT-3 175B, tp 8, pp 16 on 1,024 A100: the plan llm-analysis
is timed on), the median over repeats of the mean of many calls, and
(4) llm-analysis 0.2.2 on that plan in the same run, with the per-evaluation speed ratios (search and one call).

Targets: >= 200,000 evaluations/s on a 2-core machine; the 530B search under 1 s; one estimate call under 20 us.
Run: python benchmarks/bench_llm.py
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import perfmodel as pm


def evals_per_second() -> tuple[float, int, float]:
    wide: dict[str, Any] = {
        "micro_batch": [1, 2, 4, 8, 16],
        "vp": [1, 2, 3, 4, 6, 8],
        "cp": [1, 2],
        "fits_only": False,
        "progress": False,
    }
    pm.llm.search_full(
        "gpt3-175b", ("dgx-a100", 128), global_batch=1536, **wide
    )  # warm-up (thread pool, caches)
    best = 0.0
    n = 0
    secs = 0.0
    for _ in range(3):
        r = pm.llm.search_full("gpt3-175b", ("dgx-a100", 128), global_batch=1536, **wide)
        rate = r.plans.height / r.seconds
        if rate > best:
            best, n, secs = rate, r.plans.height, r.seconds
    return best, n, secs


def search_530b() -> tuple[float, int, int, pm.llm.SearchResult]:
    times = []
    r = None
    for _ in range(3):
        t0 = time.perf_counter()
        r = pm.llm.search_full("turing-nlg-530b", ("dgx-a100", 640), global_batch=2560, progress=False)
        times.append(time.perf_counter() - t0)
    assert r is not None
    return min(times), r.candidates, r.plans.height, r


def estimate_one_call(calls: int = 2000, repeats: int = 7) -> float:
    """Seconds per ``pm.llm.estimate`` call: the median over ``repeats`` of the mean over ``calls`` calls (after a
    warm-up call, so the cluster and model are resolved, as in any sweep a user writes)."""
    m = pm.llm.model("gpt3-175b")
    kw: dict[str, Any] = dict(tp=8, pp=16, global_batch=1536, micro_batch=1, recompute="full")
    pm.llm.estimate(m, ("dgx-a100", 128), **kw)
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            pm.llm.estimate(m, ("dgx-a100", 128), **kw)
        per.append((time.perf_counter() - t0) / calls)
    return sorted(per)[len(per) // 2]


def llm_analysis_one_plan(repeat: int = 20) -> float | None:
    try:
        from llm_analysis.analysis import train
    except ImportError:
        return None
    logging.disable(logging.CRITICAL)
    kw = dict(model_name="facebook_opt-175b", gpu_name="a100-sxm-80gb", dtype_name="w16a16e16", log_level="CRITICAL",
              seq_len=2048, global_batch_size=1536, batch_size_per_gpu=1, tp_size=8, pp_size=16, total_num_gpus=1024,
              activation_recomputation=2, flops_efficiency=0.5, hbm_memory_efficiency=0.9)  # fmt: skip
    train(**kw)
    t0 = time.perf_counter()
    for _ in range(repeat):
        train(**kw)
    logging.disable(logging.NOTSET)
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    print(f"cores available: {os.cpu_count()}")
    rate, n, secs = evals_per_second()
    print(
        f"plan evaluations: {n:,} valid plans in {secs * 1e3:.1f} ms -> {rate:,.0f} evaluations/s (target >= 500,000)"
    )
    t, cand, valid, r = search_530b()
    print(
        f"Turing-NLG 530B on 5,120 A100, global batch 2560: {cand:,} candidates, {valid:,} fitting plans, search {t * 1e3:.1f} ms (target < 1 s)"
    )
    print(f"  skipped: {r.skipped}")
    if r.plans.height:
        print("  best plans:")
        print(
            r.plans.head(5).select(
                "tp", "pp", "dp", "vp", "micro_batch", "sp", "recompute", "zero", "step_time_s", "mfu"
            )
        )
    one = estimate_one_call()
    print(
        f"pm.llm.estimate one call through Python (GPT-3 175B, tp 8, pp 16, 1024 A100): {one * 1e6:.1f} us (target < 20 us)"
    )
    la = llm_analysis_one_plan()
    if la is None:
        print("llm-analysis not installed (pip install llm-analysis==0.2.2); ratio not measured")
    else:
        print(
            f"llm-analysis 0.2.2 one plan (OPT-175B, tp 8, pp 16, 1024 A100): {la * 1e3:.2f} ms -> {1 / la:,.0f} evaluations/s"
        )
        print(f"ratio perfmodel / llm-analysis evaluations per second (search): {rate * la:,.0f}x")
        print(f"ratio perfmodel / llm-analysis one call through Python: {la / one:,.1f}x")


if __name__ == "__main__":
    main()
