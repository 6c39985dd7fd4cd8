"""Scheduler policies: how admission holds KV blocks (vLLM/SGLang ``max_utilization`` vs TensorRT-LLM's default
``guaranteed_no_evict``, which reserves a request's whole cache at admission)."""

from __future__ import annotations

import math

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def test_framework_defaults_follow_the_frameworks() -> None:
    assert pm.serve.framework_defaults("vllm").scheduler_policy == "max_utilization"
    assert pm.serve.framework_defaults("sglang").scheduler_policy == "max_utilization"
    # TensorRT-LLM's executor SchedulerConfig constructs with kGUARANTEED_NO_EVICT.
    assert pm.serve.framework_defaults("trtllm").scheduler_policy == "guaranteed_no_evict"
    assert pm.serve.framework_defaults("trtllm-pytorch").scheduler_policy == "guaranteed_no_evict"


def test_reserving_admission_never_preempts_and_caps_concurrency_at_whole_requests() -> None:
    # Llama-2-7B on one L4, 128-token prompts and 2048-token outputs: the cache holds far fewer whole requests
    # than the 256 sequences vLLM's limit allows. Growing per decode, the run preempts; reserving the whole
    # request (ceil((128 + 2048) / 16) = 136 blocks of 16 tokens), at most floor(blocks / 136) requests run at
    # once, and none is ever preempted.
    kw = dict(isl=128, osl=2048, framework="vllm", num_requests=120)
    grow = pm.serve.max_throughput("llama2-7b", "g6-l4", **kw)
    keep = pm.serve.max_throughput("llama2-7b", "g6-l4", scheduler_policy="guaranteed_no_evict", **kw)
    assert grow.summary["preemptions"] > 0
    assert keep.summary["preemptions"] == 0
    mem = pm.serve.memory("llama2-7b", "g6-l4", framework="vllm")
    cap = int(mem.kv_tokens // 16) // math.ceil((128 + 2048) / 16)
    assert 1 <= cap < 120
    r = keep.requests
    first, finish = r["first_token_s"].to_numpy(), r["finish_s"].to_numpy()
    # Running at any moment: started (first token) and not yet finished; sampled at every first-token time.
    running = [int(np.sum((first <= t) & (finish > t))) for t in np.unique(first)]
    assert max(running) == cap


def test_a_policy_name_is_checked() -> None:
    with pytest.raises(pm.PerfModelError, match="guaranteed_no_evict"):
        pm.serve.simulate(
            "llama2-7b", "g6-l4", rate=1.0, num_requests=4, scheduler_policy="guaranteed_no_evic"
        )


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.floats(0.0, 5.0), st.integers(1, 600), st.integers(1, 300)), min_size=1, max_size=30
    ),
    policy=st.sampled_from(["max_utilization", "guaranteed_no_evict"]),
)
def test_every_request_finishes_under_either_policy(rows: list[tuple[float, int, int]], policy: str) -> None:
    # Random traces on a small cache (Llama-2-7B on one L4, a few thousand tokens of KV per request at most):
    # every request ends with all its tokens, in order, and reserving admission never preempts.
    rows = sorted(rows)
    trace = pl.DataFrame(
        {
            "arrival_s": [r[0] for r in rows],
            "prompt_tokens": [r[1] for r in rows],
            "output_tokens": [r[2] for r in rows],
        }
    )
    sim = pm.serve.simulate("llama2-7b", "g6-l4", requests=trace, framework="vllm", scheduler_policy=policy)
    r = sim.requests
    assert r.height == len(rows)
    assert (r["first_token_s"] >= r["arrival_s"]).all()
    assert (r["finish_s"] >= r["first_token_s"]).all()
    assert np.all(np.isfinite(r["e2e_s"].to_numpy()))
    if policy == "guaranteed_no_evict":
        assert sim.summary["preemptions"] == 0
