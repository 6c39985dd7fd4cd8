"""LLM serving benchmark.

Prints (a) iteration-model evaluations per second on arrays (``pm.serve.iteration`` over 1,000,000 decode
batch x context combinations, Llama-3-70B TP8 on dgx-h100), (b) the time of one 10,000-request simulation
through ``pm.serve.simulate`` and of the engine call alone (``_core.serve_simulate`` with a prepared handle,
scheduler and trace), (c) every plan of Llama-3-70B on 8 H100 (TP 1, 2, 4, 8 x 8/TP replicas, those that fit)
simulated at 1,000 requests, and (d) llm-analysis 0.2.2's inference estimate of one case (Llama-2-70B TP8 on
A100-80GB, batch 1, prompt 512, output 128) next to ours, with the time per call ratio.

Targets: >= 5,000,000 iteration evaluations/s; one 10,000-request simulation <= 50 ms; all 8-GPU plans at
1,000 requests <= 2 s. Benchmarks print numbers; they do not assert on time.
Run: python benchmarks/bench_serve.py
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import perfmodel as pm
from _timing import best_of, vllm_scheduler
from perfmodel import _core

MODEL = "llama3-70b"
SYSTEM = "dgx-h100"
SHAREGPT = {"prompt_tokens": ("lognormal", 600, 1.0, 4000), "output_tokens": ("lognormal", 250, 0.8, 2000)}


def iteration_rate(n: int = 1_000_000) -> tuple[float, float, float]:
    """Evaluations/s through pm.serve.iteration, its time, and the engine call alone (``_core.serve_iteration``)."""
    rng = np.random.default_rng(0)
    batch = rng.integers(1, 257, n).astype(np.float64)
    context = rng.integers(128, 8193, n).astype(np.float64)
    t = best_of(lambda: pm.serve.iteration(MODEL, SYSTEM, tp=8, decode_seqs=batch, context_len=context))
    h, zero = pm.serve.engine(MODEL, SYSTEM, tp=8), np.zeros(n)
    raw = best_of(lambda: _core.serve_iteration(h, zero, zero, zero, batch, context))
    return n / t, t, raw


def simulation_10k() -> tuple[float, float, pm.serve.Simulation]:
    kw: dict[str, Any] = dict(tp=8, rate=20.0, num_requests=10_000, seed=1, **SHAREGPT)
    whole = best_of(lambda: pm.serve.simulate(MODEL, SYSTEM, **kw), repeats=3)
    sim = pm.serve.simulate(MODEL, SYSTEM, **kw)
    # The engine call alone: handle, scheduler and trace prepared as pm.serve.simulate prepares them.
    h = pm.serve.engine(MODEL, SYSTEM, tp=8)
    mem = pm.serve.memory(MODEL, SYSTEM, tp=8)
    sched = vllm_scheduler(mem, int(pm.llm.model(MODEL).seq_len))
    trace = pm.serve.requests(20.0, 10_000, seed=1, **SHAREGPT)
    cols = ("arrival_s", "prompt_tokens", "output_tokens")
    a, p, o = (np.ascontiguousarray(trace[c].to_numpy().astype(np.float64)) for c in cols)
    raw_t = best_of(lambda: _core.serve_simulate(h, a, p, o, 1, sched, "round_robin", True), repeats=3)
    return whole, raw_t, sim


def all_plans_8_gpus(n: int = 1000) -> tuple[float, list[tuple[int, int, pm.serve.Simulation]]]:
    def run() -> list[tuple[int, int, pm.serve.Simulation]]:
        out = []
        for tp in (1, 2, 4, 8):
            if not pm.serve.memory(MODEL, SYSTEM, tp=tp).fits:
                continue
            sim = pm.serve.simulate(
                MODEL, SYSTEM, tp=tp, replicas=8 // tp, rate=16.0, num_requests=n, seed=2, **SHAREGPT
            )
            out.append((tp, 8 // tp, sim))
        return out

    pm.serve._ENGINES.clear()  # cold: engines built inside the timed run
    t0 = time.perf_counter()
    sims = run()
    cold = time.perf_counter() - t0
    return cold, sims


def llm_analysis_case() -> None:
    prompt, output = 512, 128
    ours: Callable[[], pm.serve.Simulation] = lambda: pm.serve.simulate(  # noqa: E731
        "llama2-70b",
        "dgx-a100",
        tp=8,
        rate=math.inf,
        num_requests=1,
        prompt_tokens=prompt,
        output_tokens=output,
    )
    sim = ours()
    our_t = best_of(ours, repeats=20)
    p = pm.serve.prefill("llama2-70b", "dgx-a100", tp=8, batch=1, prompt_len=prompt)
    d = pm.serve.decode("llama2-70b", "dgx-a100", tp=8, batch=1, context_len=prompt + output // 2)
    print(
        f"  perfmodel: prefill {p.time_s * 1e3:.1f} ms, decode step {d.time_s * 1e3:.2f} ms (context {prompt + output // 2}),"
        f" end-to-end {sim.mean_e2e_s:.3f} s (one request simulated: TTFT {sim.mean_ttft_s * 1e3:.1f} ms,"
        f" TPOT {sim.mean_tpot_s * 1e3:.2f} ms); {our_t * 1e3:.2f} ms per simulate() call"
    )
    try:
        from llm_analysis.analysis import infer
    except ImportError:
        print("  llm-analysis not installed (pip install llm-analysis==0.2.2); not compared")
        return
    logging.disable(logging.CRITICAL)
    kw: dict[str, Any] = dict(model_name="upstage_Llama-2-70b-instruct-v2", gpu_name="a100-sxm-80gb", dtype_name="w16a16e16",
                              log_level="CRITICAL", batch_size_per_gpu=1, tp_size=8, seq_len=prompt,
                              num_tokens_to_generate=output, flops_efficiency=0.5, hbm_memory_efficiency=0.9)  # fmt: skip
    r = infer(**kw)
    la_t = best_of(lambda: infer(**kw), repeats=5)
    logging.disable(logging.NOTSET)
    print(
        f"  llm-analysis 0.2.2 (flops efficiency 0.5, HBM efficiency 0.9): prefill {r['prefill_latency'] * 1e3:.1f} ms,"
        f" decode step {r['decode_latency'] * 1e3:.2f} ms, end-to-end {r['total_latency']:.3f} s;"
        f" {la_t * 1e3:.2f} ms per infer() call"
    )
    print(
        f"  ratio end-to-end perfmodel / llm-analysis: {sim.mean_e2e_s / r['total_latency']:.2f};"
        f" time per call llm-analysis / perfmodel: {la_t / our_t:.1f}x"
    )


def main() -> None:
    print(f"cores available: {os.cpu_count()}")
    rate, t, raw = iteration_rate()
    print(f"(a) iteration model: 1,000,000 decode (batch, context) combinations, {MODEL} TP8 on {SYSTEM}: "
          f"{t * 1e3:.1f} ms -> {rate:,.0f} evaluations/s (target >= 5,000,000); engine call alone "
          f"{raw * 1e3:.1f} ms -> {1e6 / raw:,.0f}/s")  # fmt: skip
    whole, raw_t, sim = simulation_10k()
    print(f"(b) one 10,000-request simulation ({MODEL} TP8, Poisson 20 requests/s, ShareGPT-like lengths, "
          f"{sim.iterations:,.0f} iterations): pm.serve.simulate {whole * 1e3:.1f} ms, engine call alone "
          f"{raw_t * 1e3:.1f} ms (target <= 50 ms)")  # fmt: skip
    cold, sims = all_plans_8_gpus()
    print(f"(c) all fitting plans of {MODEL} on 8 H100 at 1,000 requests (16 requests/s), engines built cold: "
          f"{cold * 1e3:.0f} ms total (target <= 2 s)")  # fmt: skip
    for tp, reps, s in sims:
        print(f"    TP{tp} x {reps}: p90 TTFT {s.p90_ttft_s * 1e3:8.1f} ms, p90 TPOT {s.p90_tpot_s * 1e3:6.2f} ms, "
              f"{s.output_tokens_per_s:8,.0f} output tokens/s")  # fmt: skip
    print("(d) Llama-2-70B TP8 on A100-80GB (dgx-a100), batch 1, prompt 512, output 128:")
    llm_analysis_case()


if __name__ == "__main__":
    main()
