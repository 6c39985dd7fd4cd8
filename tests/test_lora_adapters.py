"""LoRA adapters priced in the training step (``lora_rank``, ``lora_dropout``): NeMo's ``ParallelLinearAdapter`` on
the attention's QKV and output projections (NVIDIA/NeMo @ 4068955b, tag 24.09-alpha.rc0,
``nemo/collections/nlp/modules/common/megatron/adapters/parallel_adapters.py``), as the MLPerf Llama-2-70B LoRA
configs run them (rank 16, dropout 0.1 before the adapter, ``target_modules: ['attention']``, ``LORA_A2A=1``)."""

from __future__ import annotations

import json

import perfmodel as pm
import pytest
from perfmodel.validation import llm as vllm

LLAMA2_70B = {"hidden": 8192, "heads": 64, "kv_heads": 8, "layers": 80, "ffn_hidden": 28672, "seq_len": 8192,
              "vocab": 32000, "glu": True}  # fmt: skip


def _gemm(device: str, m: float, n: float, k: float) -> float:
    return float(pm.roofline.gemm(device, m, n, k, dtype="bf16")["time_s"][0])


def _pass(device: str, read: float, write: float) -> float:
    return float(pm.roofline.memory_bound(device, read, write)["time_s"][0])


def _adapters_by_hand(device: str, tok: float, dropout: bool) -> tuple[float, float]:
    """(GEMM seconds, pass seconds) of one layer's two rank-16 adapters for one micro-batch at tp = 1, derived
    from NeMo's forward: dropout(x) -> linear_in (h -> 16) -> linear_out (16 -> out) -> x * alpha / r -> added to
    the frozen linear's output; backward the scaling, both linears' data and weight gradients and the input
    gradient added into the frozen path's."""
    h, q, qkv, r = 8192.0, 8192.0, 8192.0 + 2 * 1024.0, 16.0
    g = 0.0
    s = 0.0
    for width_in, width_out in ((h, qkv), (q, h)):
        g += _gemm(device, tok, r, width_in) + _gemm(device, tok, width_out, r)  # forward
        g += _gemm(device, tok, r, width_out) + _gemm(device, r, width_out, tok)  # linear_out dgrad, wgrad
        g += _gemm(device, tok, width_in, r) + _gemm(device, r, width_in, tok)  # linear_in dgrad, wgrad
        out = tok * width_out
        s += _pass(device, 2 * out, 2 * out) + _pass(device, 4 * out, 2 * out)  # scale, add
        s += _pass(device, 2 * out, 2 * out)  # scale backward
        s += _pass(device, 4 * tok * width_in, 2 * tok * width_in)  # input gradient added
        if dropout:
            n = tok * width_in
            s += _pass(device, 2 * n, 3 * n) + _pass(device, 3 * n, 2 * n)
    return g, s


@pytest.mark.parametrize("dropout", [False, True])
def test_adapters_at_tp1_are_their_gemms_and_passes(dropout: bool) -> None:
    # tp = 1 (no collectives), cp = 2, two micro-batches, graphs (no host launches): the LoRA step is the frozen
    # step plus layers x micro-batches x (compute factor x GEMMs + memory factor x passes), exactly.
    m = pm.llm.model(LLAMA2_70B)
    kw = dict(tp=1, cp=2, dp=4, micro_batch=1, global_batch=8, dtype="fp8", zero=1, dp_overlap=True,
              frozen_weights=True, cudnn_attention=True, cuda_graphs="full")  # fmt: skip
    base = pm.llm.estimate(m, ("hgx-h200", 1), **kw)
    lora = pm.llm.estimate(m, ("hgx-h200", 1), lora_rank=16, lora_dropout=dropout, **kw)
    cal = pm.llm.calibration("hgx-h200")
    g, s = _adapters_by_hand("h200-sxm-141gb", 4096.0, dropout)
    per_mb = cal["compute_time_scale"] * g + cal["memory_time_scale"] * s
    assert lora.step_time_s - base.step_time_s == pytest.approx(80 * 2 * per_mb, rel=1e-6)
    assert lora.raw["tp_comm"] == 0.0
    # Memory: the QKV adapter's 16-bit input per layer, and with dropout the masks and the projection adapter's
    # dropped input (tokens x hidden x (2 + 1 + 3 x 1): q = h at tp 1).
    extra = 80 * 4096 * 8192 * ((2 + 1 + 3) if dropout else 2)
    assert lora.raw["activations"] - base.raw["activations"] == pytest.approx(extra, rel=1e-9)


def test_adapter_collectives_with_tp_and_sp_are_listed_and_exposed() -> None:
    # TP 4 with SP: the QKV adapter's rank activations gathered, the projection adapter's row-parallel all-reduce,
    # two input-gradient all-reduces backward, the all-to-all of the projection adapter's output each way
    # (NeMo's a2a_experimental: b s h / tp 16-bit values per rank). They are exposed: tp_comm grows by their
    # listed time x calls, TP overlap or not.
    m = pm.llm.model(LLAMA2_70B)
    kw = dict(tp=4, cp=2, dp=1, micro_batch=1, global_batch=1, sp=True, dtype="fp8", zero=1, tp_overlap=True,
              frozen_weights=True, cudnn_attention=True, cuda_graphs="full")  # fmt: skip
    base = pm.llm.estimate(m, ("dgx-h100", 1), **kw)
    lora = pm.llm.estimate(m, ("dgx-h100", 1), lora_rank=16, lora_dropout=True, **kw)
    is_lora = lora.collectives["what"] == "LoRA adapter activations"
    c = lora.collectives.filter(is_lora)
    assert sorted(c["op"].to_list()) == ["all_gather", "all_reduce", "all_to_all"]
    calls = dict(zip(c["op"], c["calls_per_step"], strict=True))
    assert calls == {"all_gather": 80.0, "all_reduce": 240.0, "all_to_all": 160.0}
    a2a = c.filter(c["op"] == "all_to_all")
    assert a2a["bytes"][0] == 2 * 4096 * 8192 / 4
    exposed = float((c["time_s"] * c["calls_per_step"]).sum())
    assert lora.raw["tp_comm"] - base.raw["tp_comm"] == pytest.approx(exposed, rel=1e-9)
    assert is_lora.sum() == 3
    assert base.collectives.filter(base.collectives["what"] == "LoRA adapter activations").height == 0


def test_bad_lora_options_name_the_argument() -> None:
    m = pm.llm.model(LLAMA2_70B)
    with pytest.raises(pm.InvalidArgumentError, match="lora_rank.*frozen_weights"):
        pm.llm.estimate(m, ("dgx-h100", 1), tp=8, lora_rank=16)
    with pytest.raises(pm.InvalidArgumentError, match="lora_dropout"):
        pm.llm.estimate(m, ("dgx-h100", 1), tp=8, frozen_weights=True, lora_dropout=True)
    with pytest.raises(pm.InvalidArgumentError, match="lora_rank"):
        pm.llm.estimate(m, ("dgx-h100", 1), tp=8, frozen_weights=True, lora_rank=-1)
    with pytest.raises(pm.InvalidArgumentError, match="lora_rank"):
        pm.llm.estimate(m, ("dgx-h100", 1), tp=8, frozen_weights=True, lora_rank=2.5)


def test_mlperf_lora_rows_price_their_adapters() -> None:
    # Every LoRA row runs rank-16 adapters with input dropout (their configs' megatron_gpt_peft_tuning_config.yaml).
    for r in vllm._mlperf_pub("Llama-2-70B LoRA").iter_rows(named=True):
        p = json.loads(r["params"])
        plan = vllm._lora_plan(p)
        assert plan["lora_rank"] == p["lora_rank"] == 16
        assert plan["lora_dropout"] is True
