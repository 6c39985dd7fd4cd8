"""FP8 dot-product attention in the training step (``fp8_attention``; Transformer Engine's ``fp8_dpa``, the MLPerf
configs' ``FP8_DPA=1``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import perfmodel as pm
import pytest
from perfmodel.errors import InvalidArgumentError, UnsupportedError
from perfmodel.validation import llm as vllm

ROOT = Path(__file__).resolve().parent.parent

#: Llama-2-70B as the MLPerf LoRA rows run it (8,192-token packed sequences).
LLAMA2_70B = {"hidden": 8192, "heads": 64, "kv_heads": 8, "layers": 80, "ffn_hidden": 28672, "seq_len": 8192,
              "vocab": 32000, "glu": True}  # fmt: skip
#: NVIDIA's v4.0 one-node H100 LoRA plan (config_DGXH100_1x8x4xtp4pp1cp1.sh).
LORA_PLAN = dict(tp=4, pp=1, cp=1, dp=2, micro_batch=1, global_batch=8, sp=True, dtype="fp8", zero=1,
                 dp_overlap=True, tp_overlap=True, frozen_weights=True, cudnn_attention=True, lora_rank=16,
                 lora_dropout=True)  # fmt: skip


def _step(cluster: tuple[str, int] = ("dgx-h100", 1), **kw: object) -> float:
    return pm.llm.estimate(pm.llm.model(LLAMA2_70B), cluster, **{**LORA_PLAN, **kw}).step_time_s


def test_fp8_attention_shortens_the_step_by_at_most_the_attention_it_speeds_up() -> None:
    """The option only touches the attention core: the step saves less than the 16-bit attention's whole time
    (forward + backward per layer, 80 layers, 4 micro-batches x 1 pipeline stage), and more than nothing."""
    base, fp8 = _step(), _step(fp8_attention=True)
    # 16-bit cuDNN attention per layer and micro-batch on a TP-4 rank: 16 heads, 8,192 causal tokens.
    att = [
        pm.roofline.attention("h100-sxm5-80gb", batch=1, heads=16, seq_len=8192, head_dim=128, causal=True,
                              backward=bw, kernel="cudnn")["time_s"][0]
        for bw in (False, True)
    ]  # fmt: skip
    upper = sum(att) * 80 * 4 * 1.3  # the dgx-h100 compute scale (1.19) with margin
    assert 0.0 < base - fp8 < upper
    assert fp8 / base < 0.97  # attention is a large share of this LoRA step (no weight-gradient GEMMs)


def test_fp8_attention_is_bounded_by_fa3s_fp8_share() -> None:
    """On FP8 operands the kernel's matrix rate is the FP8 peak at FlashAttention-3's FP8 share relative to its
    16-bit one (arXiv:2407.08608 abstract: 1.2 of 1,979 PFLOP/s vs 740 of 989 TFLOP/s): a speedup above
    2 x 0.81 = 1.62 would need more than that rate; the softmax work is unchanged, so some speedup remains below."""
    for backward in (False, True):
        t = {
            d: pm.roofline.attention("h100-sxm5-80gb", batch=1, heads=64, seq_len=16384, head_dim=128, causal=True,
                                     backward=backward, kernel="cudnn", dtype=d)["time_s"][0]
            for d in ("bf16", "fp8")
        }  # fmt: skip
        ratio = t["bf16"] / t["fp8"]
        assert 1.1 < ratio <= 2.0 * (1200 / 1979) / (740 / 989) + 1e-9


@pytest.mark.parametrize(
    ("kw", "cluster", "error", "needle"),
    [
        ({"dtype": "bf16"}, ("dgx-h100", 1), InvalidArgumentError, "fp8_attention"),
        ({"cudnn_attention": False}, ("dgx-h100", 1), InvalidArgumentError, "fp8_attention"),
        (
            {"flash_attention": False, "cudnn_attention": False},
            ("dgx-h100", 1),
            InvalidArgumentError,
            "fp8_attention",
        ),
        ({"dtype": "bf16"}, ("dgx-a100", 1), InvalidArgumentError, "fp8_attention"),
        ({"cudnn_attention": False}, ("dgx-b200", 1), InvalidArgumentError, "fp8_attention"),
    ],
)
def test_bad_fp8_attention_is_refused_naming_the_option(
    kw: dict[str, object], cluster: tuple[str, int], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        _step(cluster, fp8_attention=True, **kw)


def test_fp8_attention_without_cudnn_figures_is_unsupported() -> None:
    """B200 has FP8 matrix units but no cuDNN attention figure in hwdb."""
    with pytest.raises(UnsupportedError, match="fp8_attention"):
        _step(("dgx-b200", 1), fp8_attention=True)


def test_lora_rows_with_fp8_dpa_are_the_configs() -> None:
    """The LoRA rows whose configs set ``FP8_DPA=1`` (sourced with their ``configs/config_common.sh``): NVIDIA's four
    v4.0 rows, its v4.1 one-node H100 row, Dell's v4.1 and Lenovo's v5.0 H200 rows. The suite does not price them
    with ``fp8_attention`` (docs/models/training.md, "FP8 attention": the v5.x H200 rows disagree)."""
    rows = [json.loads(r["params"]) for r in vllm._mlperf_pub("Llama-2-70B LoRA").iter_rows(named=True)]
    on = sorted((p["submitter"], p["gpu"], p["nodes"]) for p in rows if p.get("fp8_dot_product_attention"))
    assert len(rows) == 16
    assert on == sorted(
        [("NVIDIA", "H100", 1), ("NVIDIA", "H100", 8), ("NVIDIA", "H100", 128), ("NVIDIA", "H200", 1),
         ("NVIDIA", "H100", 1), ("Dell", "H200", 1), ("Lenovo", "H200", 4)]
    )  # fmt: skip
    assert not any(vllm._lora_plan(p).get("fp8_attention") for p in rows)


def _importer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("import_mlperf5", ROOT / "tools" / "import_mlperf5.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["import_mlperf5"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("True", True), ("0", False), ("False", False)])
def test_importer_reads_fp8_dpa(value: str, expected: bool) -> None:
    env = {"DGXNNODES": "1", "DGXNGPU": "8", "TP": "4", "MINIBS": "4", "FP8": "True", "FP8_DPA": value}
    plan = _importer().plan_of(env)
    assert plan is not None and plan["fp8_dpa"] is expected
    unset = _importer().plan_of({k: v for k, v in env.items() if k != "FP8_DPA"})
    assert unset is not None and unset["fp8_dpa"] is False  # NeMo's default: ${oc.env:FP8_DPA,0}


def test_mlperf5_rows_record_fp8_dpa() -> None:
    """The imported rows keep their configs' ``FP8_DPA``: every NVIDIA-code Blackwell LoRA row sets it, no Llama 3.1
    405B row does, and AMD's own configs leave it off."""
    from perfmodel.validation import mlperf5

    rows = mlperf5.modelled()
    dpa = [r for r in rows if json.loads(r["plan"]).get("fp8_dpa")]
    assert any(r["accelerator"] == "B200" and r["benchmark"] == "llama2_70b_lora" for r in dpa)
    assert not any(r["benchmark"] == "llama31_405b" for r in dpa)
    assert not any(r["submitter"] == "AMD" for r in dpa)
    assert all("fp8_dpa" in json.loads(r["plan"]) for r in rows)
