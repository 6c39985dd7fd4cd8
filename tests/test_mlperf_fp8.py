"""FP8 cast fraction (hwdb ``fp8_cast_fraction``) and the dgx-h100 calibration fitted on MLPerf Training rows
(issue 12 item 7, FP8)."""

from __future__ import annotations

import json
import statistics

import perfmodel as pm
import pytest
from perfmodel.validation import llm as vllm
from perfmodel.validation import measured


def _fp8_fused(role: str) -> list[float]:
    rows = [
        r
        for r in measured.measurements().iter_rows(named=True)
        if r["group"] == "fp8_fused" and measured.role(r) == role
    ]
    return [abs(measured.predict(r) / r["value"] - 1) for r in rows]


def test_fp8_cast_fraction_in_hwdb() -> None:
    h200 = pm.hwdb.get("h200-sxm-141gb")
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    f = h200["efficiency.fp8_cast_fraction"]
    assert 0.3 < f < 0.6
    assert h100["efficiency.fp8_cast_fraction"] == f  # H100 takes H200's, and says so
    assert "taken from h200-sxm-141gb" in h100["efficiency.fitted_on"]
    assert "fp8_fused" in h200["efficiency.fitted_on"]


def test_fp8_memory_bound_is_the_cast_pass() -> None:
    h200 = pm.hwdb.get("h200-sxm-141gb")
    f = h200["efficiency.fp8_cast_fraction"]
    plain = pm.roofline.memory_bound(h200, 1e9, 1e9)["time_s"][0]
    cast = pm.roofline.memory_bound(h200, 1e9, 1e9, dtype="fp8")["time_s"][0]
    launch = h200["efficiency.launch_overhead_us"] * 1e-6
    assert (cast - launch) == pytest.approx((plain - launch) / f, rel=1e-9)
    # A device without the figure streams casts at the plain rate.
    a100 = pm.hwdb.get("a100-sxm4-80gb")
    assert pm.roofline.memory_bound(a100, 1e9, 1e9, dtype="fp8")["time_s"][0] == pytest.approx(
        pm.roofline.memory_bound(a100, 1e9, 1e9)["time_s"][0], rel=1e-12
    )


def test_fp8_fused_rows_fit_and_holdout() -> None:
    fit, held = _fp8_fused("fit"), _fp8_fused("holdout")
    assert len(fit) == 14 and len(held) == 32
    assert statistics.median(fit) < 0.10 and max(fit) < 0.15
    # Llama-2-70B shapes, held out (the model said +89 % median before the figure).
    assert statistics.median(held) < 0.06 and max(held) < 0.22


def test_dgx_h100_calibration_and_h200_same_as() -> None:
    cal = pm.llm.calibration("dgx-h100")
    assert "MLPerf Training GPT-3 175B" in cal["fitted_on"]
    h200 = pm.llm.calibration("hgx-h200")
    assert h200["same_as"] == "dgx-h100"
    assert h200["compute_time_scale"] == cal["compute_time_scale"]


def test_mlperf_gpt3_holdout_within_target() -> None:
    rows = vllm._mlperf_gpt3_rows()
    fit = [r for r in rows if r["role"] == "fit"]
    held = [r for r in rows if r["role"] == "holdout"]
    assert len(fit) == 10 and len(held) == 5
    assert {json.loads(r["params"])["submitter"] for r in fit} == {"NVIDIA"}
    err = [abs(r["predicted"] / r["measured"] - 1) for r in held]
    # Issue 12 target: FP8 MLPerf holdout median <= 10 %, max <= 20 % (GPT-3 rows).
    assert statistics.median(err) <= 0.10 and max(err) <= 0.20


def test_mlperf_lora_holdout_median_within_target() -> None:
    # Issue 12: FP8 MLPerf holdout median <= 10 %. The LoRA rows are held out of every fit (priced as full
    # fine-tuning less the frozen weight gradients, DP collectives and optimizer).
    rows = vllm._mlperf_lora_rows()
    assert len(rows) == 16
    err = [abs(r["predicted"] / r["measured"] - 1) for r in rows]
    assert statistics.median(err) <= 0.10


@pytest.mark.xfail(
    strict=True,
    reason="issue 12 target (max <= 20 %) not met: Oracle's v5.0 512 x H200 row (80.8 samples/s) is "
    "over-predicted by 66 % (cuDNN attention); Azure's v4.1 512 x H200 submission with the same plan and the same "
    "NeMo/Megatron 24.09 software measured 112.3 (+39 %). Sourced differences: Oracle runs without layer CUDA "
    "graphs (LAYER_CUDA_GRAPH unset) and with MC_TP_OVERLAP_RS_DGRAD on, over RoCE; the step model has no "
    "host-launch term for training, so one plan prices both the same. Next: NVIDIA v4.0 (no graphs) +26/+33 %",
)
def test_mlperf_lora_holdout_max_within_target() -> None:
    err = [abs(r["predicted"] / r["measured"] - 1) for r in vllm._mlperf_lora_rows()]
    assert max(err) <= 0.20


def test_mlperf_rows_run_the_attention_their_transformer_engine_picks() -> None:
    # TE >= 1.2 picks cuDNN's fused attention on Hopper; v3.1's TE (October 2023) runs FlashAttention first; every
    # LoRA config sets NVTE_FUSED_ATTN=1 (validation/llm.py::_mlperf_cudnn_attention has the sources).
    assert not vllm._mlperf_cudnn_attention("MLPerf Training v3.1 GPT-3 175B")
    assert vllm._mlperf_cudnn_attention("MLPerf Training v4.0 GPT-3 175B")
    assert vllm._mlperf_cudnn_attention("MLPerf Training v4.1 GPT-3 175B")
    p = {"tp": 4, "cp": 2, "dp": 8, "micro_batch": 1, "global_batch": 8, "sequence_parallel": True}
    assert vllm._lora_plan(p)["cudnn_attention"] is True
    # The priced rows differ from FlashAttention ones exactly where the rule says.
    rows = vllm._mlperf_gpt3_rows()
    m = pm.llm.model(vllm._GPT3_175B)
    for r in rows:
        p = json.loads(r["params"])
        kw = dict(tp=p["tp"], pp=p["pp"], dp=p["dp"], cp=p.get("cp", 1), vp=max(1, int(p.get("interleave") or 1)),
                  micro_batch=p["micro_batch"], global_batch=p["global_batch"],
                  sp=bool(p.get("sequence_parallel", True)), recompute=p.get("recompute", "none"),
                  dtype="fp8" if p.get("fp8") else "bf16", zero=1 if p.get("distributed_optimizer", True) else 0,
                  dp_overlap=True, tp_overlap=bool(p.get("tp_comm_overlap", False)),
                  pp_overlap=bool(p.get("overlap_p2p_comm", False)))  # fmt: skip
        flash = pm.llm.estimate(m, (vllm.MLPERF_SYSTEM, int(p["nodes"])), **kw).tokens_per_s
        same = r["predicted"] == pytest.approx(flash, rel=1e-12)
        assert same == ("v3.1" in r["operation"]), r["operation"]


def _gemm_s(device: str, m: float, n: float, k: float, dtype: str) -> float:
    return float(pm.roofline.gemm(device, m, n, k, dtype=dtype)["time_s"][0])


@pytest.mark.parametrize(("system", "plan"), [
    ("dgx-h100", dict(tp=4, cp=2, dp=8, nodes=8)),
    ("hgx-h200", dict(tp=2, cp=1, dp=4, nodes=1)),
])  # fmt: skip
def test_frozen_weights_is_full_finetuning_less_what_frozen_weights_do_not_need(
    system: str, plan: dict
) -> None:
    # An independent derivation of the frozen-weights step (LoRA): the full fine-tuning step of the same plan
    # less its data-parallel collectives and optimizer step, and less the weight-gradient GEMMs of the four
    # linears of every layer (fp8, with the shapes the step model uses: forward m = tokens of the rank,
    # n = outputs per TP rank, k = inputs; weight gradient (k, n, m)) and of the 16-bit output layer, priced by
    # the roofline GEMM and the system's compute factor. The frozen step must be exactly that.
    m = pm.llm.model({"hidden": 8192, "heads": 64, "kv_heads": 8, "layers": 80, "ffn_hidden": 28672, "seq_len": 8192,
                      "vocab": 32000, "glu": True})  # fmt: skip
    nodes = plan.pop("nodes")
    kw = dict(micro_batch=1, global_batch=2 * plan["dp"], sp=plan["tp"] > 1, recompute="none", dtype="fp8", zero=1,
              dp_overlap=True, tp_overlap=True, **plan)  # fmt: skip
    full = pm.llm.estimate(m, (system, nodes), **kw)
    frozen = pm.llm.estimate(m, (system, nodes), frozen_weights=True, **kw)
    f = m.fields
    t, h, ff = plan["tp"], f["hidden"], f["ffn_hidden"]
    tok = f["seq_len"] / plan["cp"]
    kv = 2.0 * f["kv_heads"] * h / f["heads"]
    device = pm.hwdb.get(system)["device"]
    shapes = [(h, (h + kv) / t), (h / t, h), (h, 2.0 * ff / t), (ff / t, h)]  # (inputs, outputs)
    layer = sum(_gemm_s(device, k_in, n_out, tok, "fp8") for k_in, n_out in shapes)
    logits = _gemm_s(device, h, f["vocab"] / t, tok, "bf16")
    k = pm.llm.calibration(system)["compute_time_scale"]
    wgrad = 2 * k * (f["layers"] * layer + logits)  # two micro-batches per rank
    expect = full.step_time_s - full.raw["dp_comm"] - full.raw["optimizer"] - wgrad
    assert frozen.step_time_s == pytest.approx(expect, rel=1e-6)
    # Nothing to reduce or update; no gradients or optimizer states kept.
    assert frozen.raw["dp_comm"] == 0 and frozen.raw["optimizer"] == 0
    assert frozen.raw["gradients"] == 0 and frozen.raw["optimizer_states"] == 0
    assert frozen.raw["weights"] == full.raw["weights"]


def test_a_frozen_weights_search_skips_options_that_change_nothing() -> None:
    # With frozen weights ZeRO-1/2 shard nothing, optimizer offload moves nothing and DP overlap hides nothing
    # below ZeRO-3: the search keeps the plan without them and counts the rest as skipped.
    m = pm.llm.model({"hidden": 8192, "heads": 64, "kv_heads": 8, "layers": 80, "ffn_hidden": 28672, "seq_len": 8192,
                      "vocab": 32000, "glu": True})  # fmt: skip
    r = pm.llm.search_full(m, ("dgx-h100", 2), global_batch=16, dtype="fp8", frozen_weights=True, top=None)
    plans = r.plans
    assert plans.height > 0
    assert not plans["zero"].is_in([1, 2]).any()
    assert not plans["offload_optimizer"].any()
    assert not (plans["dp_overlap"] & (plans["zero"] != 3)).any()
    assert (
        r.skipped["an option with no effect on frozen weights (ZeRO-1/2, optimizer offload, DP overlap)"] > 0
    )
