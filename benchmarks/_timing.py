"""What the serving benchmarks share: the best-of-n timer and the vLLM scheduler dict the simulator engine calls
take (as ``pm.serve.simulate`` prepares it), so that the engine call alone can be timed next to the public call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import perfmodel as pm
from perfmodel.serve import framework_defaults


def best_of(fn: Callable[[], Any], repeats: int = 5) -> float:
    """The shortest of ``repeats`` timed calls of ``fn`` after one warm-up call (engine cache, thread pool), s."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def vllm_scheduler(mem: pm.serve.MemoryReport, max_model_len: int) -> dict[str, Any]:
    """The scheduler of ``_core.serve_simulate`` with vLLM's defaults and the KV tokens of ``mem``."""
    d = framework_defaults("vllm")
    return {"max_num_seqs": d.max_num_seqs, "max_num_batched_tokens": d.max_num_batched_tokens,
            "chunked_prefill": d.chunked_prefill, "block_size": d.block_size,
            "kv_capacity_tokens": float(mem.kv_tokens), "max_model_len": max_model_len}  # fmt: skip
