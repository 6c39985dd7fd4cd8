"""Data-parallel attention with expert-parallel MoE layers (``attention_dp``; TensorRT-LLM's
``enable_attention_dp``): one iteration against an independent derivation (the TP-1 engine, the roofline's
grouped GEMMs, the collectives engine's all-to-all), memory from parameter counts, the lockstep simulator
against hand-derived schedules, and the error boundary."""

from __future__ import annotations

import math

import perfmodel as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

UNCALIBRATED = {"kernel_time_scale": 1.0, "decode_attention_fraction": 1.0, "iteration_overhead_s": 0.0,
                "per_sequence_overhead_s": 0.0, "kernel_launch_s": 0.0}  # fmt: skip
H100 = "h100-sxm5-80gb"
QWEN = "qwen3-235b-a22b"  # 94 MoE layers, 128 experts, top 8, no shared experts (config.json)


def test_decode_on_eight_ranks_is_tp1_attention_plus_local_experts_plus_two_all_to_alls() -> None:
    m = pm.llm.model(QWEN)
    b, ctx, ranks = 32, 2048, 8
    dp = pm.serve.decode(m, "dgx-h100", tp=ranks, ep=ranks, batch=b, context_len=ctx, attention_dp=True,
                         **UNCALIBRATED)  # fmt: skip
    # Attention, norms, LM head: each rank runs the whole model's non-expert layers on its own b sequences,
    # exactly as one GPU at TP 1 does.
    one = pm.serve.decode(m, "dgx-h100", tp=1, batch=b, context_len=ctx, **UNCALIBRATED)
    for part in ("gemm_s", "decode_attention_s", "elementwise_s", "head_s"):
        assert getattr(dp, part) == pytest.approx(getattr(one, part), rel=1e-12), part
    # MoE: the router on the rank's b tokens, then the rank's 128 / 8 = 16 local experts on the tokens routed to
    # them from all 8 ranks (uniform routing): T = 8 b tokens pick 8 of 128 experts each; an expert is active
    # when any token picks it, and the active ones share T x 8 x 16 / 128 rows. Grouped GEMMs from the roofline.
    e, k, h, f = int(m.experts), int(m.top_k), m.hidden, m.fields["moe_ffn_hidden"]
    t_all = ranks * b
    local = e / ranks
    active = local * (1 - (1 - k / e) ** t_all)
    rows = t_all * k / e * local / active
    router = pm.roofline.gemm_time(H100, b, e, h)
    up = pm.roofline.gemm_time(H100, rows, 2 * f, h, batch=active)
    down = pm.roofline.gemm_time(H100, rows, h, f, batch=active)
    assert dp.moe_s == pytest.approx(m.layers * (router + up + down), rel=1e-9)
    # Two all-to-alls per MoE layer (dispatch, combine) of b tokens x top_k x hidden x 2 bytes per rank over the
    # 8 ranks, exactly as the collectives engine prices them with every GPU of the node busy; no TP all-reduce.
    a2a = pm.collectives.predict("dgx-h100", "all_to_all", b * k * h * 2, ranks, concurrent=8)["time_s"][0]
    assert dp.tp_comm_s == pytest.approx(m.layers * 2 * a2a, rel=1e-9)
    parts = ("gemm_s", "moe_s", "decode_attention_s", "elementwise_s", "head_s", "tp_comm_s", "overhead_s")
    assert dp.time_s == pytest.approx(sum(getattr(dp, p) for p in parts), rel=1e-12)


def test_memory_per_gpu_from_parameter_counts() -> None:
    # Each GPU holds every non-expert parameter (attention, router, norms, embedding and LM head) and 1/8 of
    # the routed experts: 94 layers x 128 experts x 3 x 4096 x 1536 (gate, up, down) of the 235.1e9.
    m = pm.llm.model(QWEN)
    experts = m.layers * m.experts * 3 * m.hidden * m.fields["moe_ffn_hidden"]
    want = 2 * (m.params - experts + experts / 8)
    r = pm.serve.memory(m, "dgx-h100", tp=8, ep=8, attention_dp=True)
    assert r.weights_bytes == pytest.approx(want, rel=1e-3)
    # The KV cache is not split: every rank keeps all 4 KV heads of its own sequences (94 x 2 x 4 x 128 x 2 B).
    assert r.kv_bytes_per_token == pytest.approx(94 * 2 * 4 * 128 * 2)
    tp = pm.serve.memory(m, "dgx-h100", tp=8, ep=8)
    assert tp.kv_bytes_per_token == pytest.approx(94 * 2 * 4 * 128 * 2 / 4)  # TP 8 > 4 KV heads: one per rank
    assert tp.weights_bytes == pytest.approx(2 * m.params / 8, rel=0.01)


def _trace(n: int, prompt: int, output: int) -> object:
    import polars as pl

    return pl.DataFrame(
        {"arrival_s": [0.0] * n, "prompt_tokens": [prompt] * n, "output_tokens": [output] * n}
    )


def test_lockstep_run_of_one_request_per_rank_is_the_replicated_iteration() -> None:
    # 8 equal requests on 8 ranks (round-robin: one each): the first iteration is every rank prefilling one
    # prompt, the second every rank decoding one token at context prompt + 1: pm.serve.prefill / decode of a
    # per-rank batch of 1 with attention_dp.
    kw = dict(tp=8, ep=8, attention_dp=True, framework="vllm", **UNCALIBRATED)
    sim = pm.serve.simulate(QWEN, "dgx-h100", requests=_trace(8, 512, 2), **kw)
    pre = pm.serve.prefill(QWEN, "dgx-h100", batch=1, prompt_len=512, **kw).time_s
    dec = pm.serve.decode(QWEN, "dgx-h100", batch=1, context_len=513, **kw).time_s
    r = sim.requests
    assert sorted(r["replica"].to_list()) == list(range(8))
    assert r["ttft_s"].to_list() == pytest.approx([pre] * 8, rel=1e-12)
    assert r["e2e_s"].to_list() == pytest.approx([pre + dec] * 8, rel=1e-12)
    assert math.isnan(sim.summary["energy_per_output_token_j"])


def test_lockstep_ranks_wait_for_the_slowest() -> None:
    # 8 ranks, rank 0 a 2048-token prompt, rank 1 a 16-token one, the others idle: rank 1's first token waits
    # for rank 0's prefill (the iteration is the slower rank's), so both first tokens come together, later than
    # rank 1 would alone.
    import polars as pl

    trace = pl.DataFrame({"arrival_s": [0.0, 0.0], "prompt_tokens": [2048, 16], "output_tokens": [2, 2]})
    kw = dict(tp=8, ep=8, attention_dp=True, **UNCALIBRATED)
    r = pm.serve.simulate(QWEN, "dgx-h100", requests=trace, dtype="fp8", **kw).requests
    assert r["replica"].to_list() == [0, 1]
    assert r["ttft_s"][0] == r["ttft_s"][1]
    alone = pm.serve.prefill(QWEN, "dgx-h100", batch=1, prompt_len=16, dtype="fp8", **kw).time_s
    assert r["ttft_s"][1] > 5 * alone


def test_max_throughput_and_search_offer_attention_dp_for_moe() -> None:
    plans = pm.serve.plans(QWEN, "dgx-h100")
    dp = [p for p in plans if p["attention_dp"]]
    assert [(p["tp"], p["ep"], p["pp"]) for p in dp] == [(2, 2, 1), (4, 4, 1), (8, 8, 1)]
    assert not any(p["attention_dp"] for p in pm.serve.plans("llama3-70b", "dgx-h100"))
    s = pm.serve.max_throughput(QWEN, "dgx-h100", tp=8, ep=8, isl=1024, osl=256, dtype="fp8",
                                framework="trtllm-pytorch", attention_dp=True, num_requests=512)  # fmt: skip
    assert s.summary["output_tokens_per_s"] > 0
    assert set(s.requests["replica"].to_list()) == set(range(8))


def test_attention_dp_errors_name_the_argument() -> None:
    with pytest.raises(pm.PerfModelError, match="attention_dp.*MoE"):
        pm.serve.engine("llama3-70b", "dgx-h100", tp=8, attention_dp=True)
    with pytest.raises(pm.PerfModelError, match=r"`ep`.*must equal tp"):
        pm.serve.engine(QWEN, "dgx-h100", tp=8, ep=1, attention_dp=True)
    with pytest.raises(pm.PerfModelError, match=r"`pp`"):
        pm.serve.engine(QWEN, ("dgx-h100", 2), tp=8, ep=8, pp=2, attention_dp=True)
    with pytest.raises(pm.PerfModelError, match=r"`attention_dp`.*True or False"):
        pm.serve.engine(QWEN, "dgx-h100", tp=8, ep=8, attention_dp="yes")
    with pytest.raises(pm.PerfModelError, match=r"`power_cap_w`"):
        pm.serve.simulate(QWEN, "dgx-h100", tp=8, ep=8, attention_dp=True, rate=1.0, num_requests=4,
                          dtype="fp8", power_cap_w=500.0)  # fmt: skip


MOE = {"hidden": 1024, "layers": 4, "heads": 16, "kv_heads": 4, "seq_len": 4096, "vocab": 32000, "glu": True,
       "ffn_hidden": 4096, "moe_ffn_hidden": 512, "top_k": 2}  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(tp=st.integers(1, 8), ep=st.integers(1, 8), experts=st.integers(2, 160))
def test_attention_dp_accepts_exactly_ep_equal_tp_dividing_the_experts(
    tp: int, ep: int, experts: int
) -> None:
    model = pm.llm.model({**MOE, "experts": experts})
    if ep == tp and experts % ep == 0:
        h = pm.serve.engine(model, "dgx-h100", tp=tp, ep=ep, attention_dp=True)
        assert h.kv_bytes_per_token == pytest.approx(4 * 2 * 4 * 64 * 2)  # whole KV heads on every rank
    else:
        with pytest.raises(pm.InvalidArgumentError, match=r"`ep`"):
            pm.serve.engine(model, "dgx-h100", tp=tp, ep=ep, attention_dp=True)


def test_validation_reading_of_the_moe_commands() -> None:
    # The v1.0 MoE rows' published command (--ep, enable_attention_dp) as plan options, ep = tp assumed; other
    # rows unchanged. Not the suite's default: with it every MoE group's error grows (NOTES.md).
    from perfmodel.validation import serving_trtllm as t

    rows = t.predictable().to_dicts()
    moe = [r for r in rows if r["model_id"] == QWEN and r["framework_version"] == "v1.0"]
    assert moe and all(t.moe_attention_dp(r) == {"ep": r["tp"], "attention_dp": True} for r in moe)
    dense = [r for r in rows if r["model_id"] == "llama3.1-405b"]
    assert dense and all(t.moe_attention_dp(r) == {} for r in dense)
    old = [r for r in rows if r["framework_version"] != "v1.0"]
    assert all(t.moe_attention_dp(r) == {} for r in old)
