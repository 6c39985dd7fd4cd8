"""The serving model: iteration times against independent derivations (roofline bounds, the collectives
engine), KV-cache sizes from the published shapes, the simulator through Python, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

H100_HBM = 3352e9 * 0.97  # datasheet bandwidth x the hwdb stream fraction (hwdb/devices/h100-sxm5-80gb.toml)
H100_BF16 = 989.4e12 * 0.7475  # dense bf16 peak x the fitted GEMM fraction (same file)
UNCALIBRATED = {"kernel_time_scale": 1.0, "decode_attention_fraction": 1.0, "iteration_overhead_s": 0.0,
                "per_sequence_overhead_s": 0.0, "kernel_launch_s": 0.0}  # fmt: skip


def test_decode_at_batch_one_is_bound_by_reading_the_weights() -> None:
    # One decode step of an 8B model reads all its weights once: 2 bytes x 8.03e9 parameters over HBM, and
    # each of its kernels costs at least the device's launch figure (4 us on H100, hwdb launch_overhead_us).
    m = pm.llm.model("llama3-8b")
    d = pm.serve.decode(m, "dgx-h100", batch=1, context_len=128, **UNCALIBRATED)
    bound = 2 * m.params / H100_HBM
    assert bound <= d.time_s <= 1.1 * (bound + d.kernels * 4e-6)


def test_vllm_like_fp8_quantizes_linear_inputs_in_kernels_of_their_own() -> None:
    # vLLM v0.6.0 apply_fp8_linear -> _custom_ops.scaled_fp8_quant with a dynamic scale: a zero fill, a max
    # reduction and the quantization before each of a layer's 4 linears (QKV, output, MLP up, MLP down), so
    # 12 more kernels per layer than bf16; TensorRT-LLM fuses the quantization (none).
    layers, h, q, f, tp, t = 80, 8192, 8192, 28672, 8, 512

    def it(framework: str, dtype: str) -> pm.serve.Iteration:
        return pm.serve.iteration("llama3.1-70b", "dgx-h100", tp=tp, dtype=dtype, prefill_seqs=1, prompt_len=t,
                                  framework=framework, **UNCALIBRATED)  # fmt: skip

    v8, v16, t8 = it("vllm", "fp8"), it("vllm", "bf16"), it("trtllm", "fp8")
    assert v8.kernels - v16.kernels == 12 * layers and t8.kernels == v16.kernels
    # Time: per input x (16-bit bytes per TP rank), the reduction reads x at the stream rate and the cast reads
    # x and writes x / 2 (write penalty 0.18) at the fp8 cast rate (0.4378 of it, hwdb h100-sxm5-80gb), each
    # kernel at least its body and at most its body plus the 4 us launch figure.
    x = 2 * t * np.array([h, q / tp, h, f / tp])
    body = layers * float(np.sum(x / H100_HBM + (x + 1.18 * x / 2) / (H100_HBM * 0.4378)))
    extra = v8.elementwise_s - t8.elementwise_s
    assert body <= extra <= body + layers * 8 * 4e-6


def test_long_prefill_is_bound_by_the_gemm_flops() -> None:
    # 2 x (active params without the embedding) x tokens FLOPs at the fitted GEMM rate, plus causal attention.
    m = pm.llm.model("llama3-8b")
    tokens = 8192
    p = pm.serve.prefill(m, "dgx-h100", batch=1, prompt_len=tokens, **UNCALIBRATED)
    linear = 2 * (m.params - 2 * m.vocab * m.hidden) * tokens / H100_BF16
    assert linear <= p.gemm_s + p.head_s <= 1.2 * linear
    # Its attention is the roofline engine's FlashAttention kernel, once per layer.
    fa = pm.roofline.attention("h100-sxm5-80gb", 1, m.heads, tokens, m.hidden / m.heads, causal=True)[
        "time_s"
    ][0]
    assert p.prefill_attention_s == pytest.approx(m.layers * fa, rel=1e-9)


def test_tp_all_reduce_is_the_collectives_engine() -> None:
    # One engine: a decode step's TP time is 2 all-reduces per layer of batch x hidden x 2 bytes plus the
    # logits' all-gather, each exactly what pm.collectives.predict gives with every GPU of the node busy.
    m = pm.llm.model("llama3-70b")
    batch = 32
    d = pm.serve.decode(m, "dgx-h100", tp=8, batch=batch, context_len=1024, **UNCALIBRATED)
    ar = pm.collectives.predict("dgx-h100", "all_reduce", batch * m.hidden * 2, 8, concurrent=8)["time_s"][0]
    ag = pm.collectives.predict("dgx-h100", "all_gather", batch * m.vocab * 4, 8, concurrent=8)["time_s"][0]
    assert d.tp_comm_s == pytest.approx(m.layers * 2 * ar + ag, rel=1e-9)


@pytest.mark.parametrize(
    ("preset", "tp", "per_gpu"),
    [
        # 80 layers x K and V x 8 KV heads x 128 x 2 bytes, split over TP 8 (Llama 3 paper, Table 3 shapes).
        ("llama3-70b", 8, 80 * 2 * 8 * 128 * 2 / 8),
        # TP 16 > 8 KV heads: each rank keeps one KV head (replicated).
        ("llama3-70b", 16, 80 * 2 * 1 * 128 * 2),
        # MLA: 61 layers x (kv_lora_rank 512 + rope 64) x 2 bytes on every rank (DeepSeek-V3 config.json).
        ("deepseek-v3", 8, 61 * (512 + 64) * 2),
    ],
)
def test_kv_bytes_per_token(preset: str, tp: int, per_gpu: float) -> None:
    h = pm.serve.engine(preset, ("dgx-h100", 2), tp=tp)
    assert h.kv_bytes_per_token == pytest.approx(per_gpu)


def test_fp8_kv_cache_halves_it() -> None:
    a = pm.serve.engine("llama3-8b", "dgx-h100").kv_bytes_per_token
    b = pm.serve.engine("llama3-8b", "dgx-h100", kv_dtype="fp8").kv_bytes_per_token
    assert b == pytest.approx(a / 2)


def test_memory_weights_and_what_is_left_for_the_kv_cache() -> None:
    m = pm.llm.model("llama3-70b")
    r = pm.serve.memory(m, "dgx-h100", tp=8)
    assert r.weights_bytes == pytest.approx(2 * m.params / 8, rel=0.01)
    # vLLM: 0.9 of the GPU minus weights and activations goes to the cache.
    assert r.kv_cache_bytes == pytest.approx(0.9 * 80 * 2**30 - r.weights_bytes - r.activations_bytes)
    assert r.fits and r.kv_tokens == pytest.approx(r.kv_cache_bytes / r.kv_bytes_per_token, rel=1e-3)
    f = r.frame()
    assert f["part"].to_list() == ["weights", "activations", "kv_cache", "free"]


def test_weights_that_do_not_fit_say_by_how_much() -> None:
    r = pm.serve.memory("llama3-405b", "dgx-h100", tp=1)
    assert not r.fits and r.shortfall_bytes > 600 * 2**30
    with pytest.raises(pm.ModelError, match=r"does not fit.*by \d+\.\d GiB"):
        pm.serve.simulate("llama3-405b", "dgx-h100", tp=1, rate=1.0, num_requests=10)


def test_arrays_broadcast() -> None:
    batches = np.array([1, 8, 64])
    d = pm.serve.decode("llama3-8b", "dgx-h100", batch=batches, context_len=2048)
    assert d.time_s.shape == (3,)
    assert np.all(np.diff(d.time_s) > 0)
    one = pm.serve.decode("llama3-8b", "dgx-h100", batch=8, context_len=2048)
    assert d.time_s[1] == pytest.approx(one.time_s)
    assert d.frame().height == 3


def test_tp_must_split_the_kv_heads_or_be_split_by_them() -> None:
    model = {
        "hidden": 6144,
        "layers": 4,
        "heads": 48,
        "kv_heads": 12,
        "seq_len": 4096,
        "vocab": 32000,
        "glu": True,
    }
    with pytest.raises(pm.ModelError, match=r"tp \(8\).*KV heads \(12\)"):
        pm.serve.engine(model, "dgx-h100", tp=8)
    with pytest.raises(pm.ModelError, match=r"tp \(8\) must divide the attention heads \(12\)"):
        pm.serve.engine({**model, "heads": 12}, "dgx-h100", tp=8)


def test_a_dtype_the_device_lacks() -> None:
    with pytest.raises(pm.UnsupportedError, match="a100.*fp8"):
        pm.serve.decode("llama3-8b", "dgx-a100", dtype="fp8")
    with pytest.raises(pm.PerfModelError, match="closest: 'int4'"):
        pm.serve.decode("llama3-8b", "dgx-h100", dtype="int3")


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(pm.InvalidArgumentError, match="`rate`"):
        pm.serve.simulate("llama3-8b", "dgx-h100", rate=rate)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"arrival_s": [0.0, 1.0], "prompt_tokens": [10, 0], "output_tokens": [5, 5]}, "row 1"),
        ({"arrival_s": [0.0, 1.0], "prompt_tokens": [10, 10], "output_tokens": [-3, 5]}, "row 0"),
        ({"arrival_s": [0.0, 2.0, 1.0], "prompt_tokens": [10, 10, 10], "output_tokens": [5, 5, 5]}, "row 2"),
    ],
)
def test_bad_trace_rows_are_named(rows: dict[str, list[float]], message: str, tmp_path: object) -> None:
    with pytest.raises(pm.InvalidArgumentError, match=message):
        pm.serve.simulate("llama3-8b", "dgx-h100", requests=pl.DataFrame(rows))


def test_trace_files_csv_and_jsonl(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    frame = pl.DataFrame(
        {"arrival_s": [0.0, 0.1, 0.2], "prompt_tokens": [100, 200, 300], "output_tokens": [10, 20, 30]}
    )
    frame.write_csv(d / "t.csv")
    frame.write_ndjson(d / "t.jsonl")
    a = pm.serve.simulate("llama3-8b", "dgx-h100", requests=d / "t.csv")
    b = pm.serve.simulate("llama3-8b", "dgx-h100", requests=str(d / "t.jsonl"))
    assert a.requests["ttft_s"].to_list() == b.requests["ttft_s"].to_list()
    with pytest.raises(pm.InvalidArgumentError, match="missing column"):
        pm.serve.simulate("llama3-8b", "dgx-h100", requests=frame.drop("arrival_s"))


def test_one_request_alone_takes_its_prefill_then_one_decode_step_per_token() -> None:
    # With no other load, TTFT is the prefill iteration and each later token one decode iteration.
    trace = pl.DataFrame({"arrival_s": [0.0], "prompt_tokens": [1000], "output_tokens": [3]})
    s = pm.serve.simulate("llama3-8b", "dgx-h100", requests=trace)
    p = pm.serve.prefill("llama3-8b", "dgx-h100", batch=1, prompt_len=1000)
    d1 = pm.serve.decode("llama3-8b", "dgx-h100", batch=1, context_len=1001)
    d2 = pm.serve.decode("llama3-8b", "dgx-h100", batch=1, context_len=1002)
    assert s.requests["ttft_s"][0] == pytest.approx(p.time_s)
    assert s.requests["e2e_s"][0] == pytest.approx(p.time_s + d1.time_s + d2.time_s)


def test_simulation_is_seeded_and_replicas_share_the_load() -> None:
    kw = {
        "rate": 30.0,
        "num_requests": 400,
        "prompt_tokens": ("lognormal", 500, 0.8, 4000),
        "output_tokens": 100,
    }
    a = pm.serve.simulate("llama3-8b", "dgx-h100", seed=3, **kw)
    b = pm.serve.simulate("llama3-8b", "dgx-h100", seed=3, **kw)
    assert a.summary == b.summary
    two = pm.serve.simulate("llama3-8b", "dgx-h100", replicas=2, seed=3, **kw)
    assert two.mean_ttft_s < a.mean_ttft_s
    assert set(two.requests["replica"].to_list()) == {0, 1}


def test_offline_throughput_is_at_most_a_full_batch_of_decodes() -> None:
    # Upper bound: every iteration a decode of the largest batch the scheduler allows.
    t = pm.serve.max_throughput("llama3-8b", "dgx-h100", isl=128, osl=512, framework="vllm")
    d = pm.serve.decode("llama3-8b", "dgx-h100", batch=256, context_len=128)
    assert 0.3 * 256 / d.time_s < t.output_tokens_per_s <= 256 / d.time_s


def test_search_ranks_plans_and_says_why() -> None:
    f = pm.serve.search("llama3-70b", "dgx-h100", rate=4.0, slo_ttft_s=1.0, slo_tpot_s=0.05, num_requests=200)
    assert f["fits"][0] and f["meets_slo"][0]
    no = f.filter(~pl.col("fits"))
    assert no.height >= 1 and all("does not fit" in w for w in no["why"])
    assert {(r["tp"], r["replicas"]) for r in f.iter_rows(named=True)} >= {(8, 1), (4, 2), (2, 4), (1, 8)}


@settings(max_examples=200, deadline=None)
@given(
    batch=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6)),
    ctx=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**7)),
    tp=st.integers(-2, 20),
)
def test_bad_numbers_give_perfmodel_errors(batch: float, ctx: float, tp: int) -> None:
    try:
        d = pm.serve.decode("llama3-8b", "dgx-h100", tp=tp, batch=batch, context_len=ctx)
    except pm.PerfModelError:
        return
    assert math.isfinite(d.time_s) and d.time_s >= 0


@settings(max_examples=100, deadline=None)
@given(
    rate=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 100)),
    n=st.integers(-2, 50),
    prompt=st.one_of(
        st.integers(-5, 5000), st.tuples(st.just("uniform"), st.integers(-5, 100), st.integers(-5, 100))
    ),
)
def test_request_generation_gives_perfmodel_errors_or_valid_traces(
    rate: float, n: int, prompt: object
) -> None:
    try:
        f = pm.serve.requests(rate, n, prompt_tokens=prompt, output_tokens=16, seed=1)
    except pm.PerfModelError:
        return
    assert (
        f.height == n and (f["prompt_tokens"] >= 1).all() and (f["arrival_s"].diff().drop_nulls() >= 0).all()
    )


def test_pipeline_parallel_keeps_pp_batches_in_flight() -> None:
    # vLLM's virtual engines: pp batches in flight, each iteration the whole pipeline's latency. One request
    # alone still takes the full pipeline per token; a saturated pp=2 instance on twice the GPUs serves about
    # twice the tokens of pp=1 (less the pipeline sends and the halved KV share per engine).
    one = pl.DataFrame({"arrival_s": [0.0], "prompt_tokens": [512], "output_tokens": [2]})
    s = pm.serve.simulate("llama3-70b", "dgx-h100", tp=4, pp=2, requests=one)
    p = pm.serve.prefill("llama3-70b", "dgx-h100", tp=4, pp=2, batch=1, prompt_len=512)
    assert s.requests["ttft_s"][0] == pytest.approx(p.time_s)
    t1 = pm.serve.max_throughput("llama3-70b", "dgx-h100", tp=4, pp=1, isl=512, osl=512, framework="vllm")
    t2 = pm.serve.max_throughput("llama3-70b", "dgx-h100", tp=4, pp=2, isl=512, osl=512, framework="vllm")
    assert 1.7 < t2.output_tokens_per_s / t1.output_tokens_per_s <= 2.05
    assert set(t2.requests["replica"].unique().to_list()) == {0}
