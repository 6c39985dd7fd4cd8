"""Issue 18: NVFP4 training (Transformer Engine's ``NVFP4BlockScaling`` recipe, as the MLPerf Training v5.1 FP4
submissions run it). The step model runs the forward, data- and weight-gradient GEMMs of the transformer layers'
linears on the roofline engine's nvfp4 GEMM, and adds per operand an amax pass and a cast pass writing the row-wise
and column-wise FP4 copies with their block scales; attention and the LM head stay 16-bit. The tests derive the
difference to a bf16 step from ``pm.roofline`` by hand."""

from __future__ import annotations

import json
import statistics

import perfmodel as pm
import pytest
from perfmodel.validation import mlperf5

CALIB = {
    "compute_time_scale": 1.0,
    "memory_time_scale": 1.0,
    "comm_bandwidth_scale": 1.0,
    "network_bandwidth_scale": 1.0,
}
DEV = "b200-sxm-180gb"
TOK = 8192
#: Bytes per value of an NVFP4 tensor: 4 bits plus one E4M3 scale per 16 values.
NVFP4_BYTES = 0.5 + 1 / 16


def _llama8b() -> pm.llm.Model:
    f = {**pm.llm.model("llama3.1-8b").fields, "seq_len": TOK}
    return pm.llm.model({k: int(v) if float(v).is_integer() else v for k, v in f.items()})


def _part(e: pm.llm.Estimate, name: str) -> float:
    return float(e.breakdown.filter(component=name)["time_s"][0])


def _gemm(m: float, n: float, k: float, dtype: str) -> float:
    return float(pm.roofline.gemm(DEV, m, n, k, dtype=dtype)["time_s"][0])


def _cast(values: float) -> float:
    """One operand's amax pass (read the 16-bit values) and cast pass (read them again, write both FP4 copies)."""

    def t(r: float, w: float) -> float:
        return float(pm.roofline.memory_bound(DEV, r, w, dtype="fp8")["time_s"][0])

    return t(2 * values, 0) + t(2 * values, 2 * NVFP4_BYTES * values)


def test_nvfp4_step_is_bf16_plus_fp4_gemms_and_casts_derived_by_hand() -> None:
    m = _llama8b()
    f = m.fields
    h, ff, layers = f["hidden"], f["ffn_hidden"], f["layers"]
    q, kv = h, 2 * f["kv_heads"] * h / f["heads"]
    fp4 = pm.llm.estimate(m, ("dgx-b200", 1), dp=1, global_batch=1, dtype="nvfp4", calib=CALIB)
    bf16 = pm.llm.estimate(m, ("dgx-b200", 1), dp=1, global_batch=1, dtype="bf16", calib=CALIB)
    # The four linears (M x N x K = tokens x out x in): QKV, attention output, gated up (2 x ffn), down.
    linears = [(TOK, q + kv, h), (TOK, h, q), (TOK, 2 * ff, h), (TOK, h, ff)]
    fwd = sum(_gemm(mm, n, k, "nvfp4") - _gemm(mm, n, k, "bf16") for mm, n, k in linears)
    fwd += _cast(TOK * (h + q + h + ff))  # each linear's input
    # Backward: data gradient (M x K x N) and weight gradient (K x N x M) of each, the output gradients cast.
    bwd = sum(
        _gemm(mm, k, n, dt) * s + _gemm(k, n, mm, dt) * s
        for mm, n, k in linears
        for dt, s in (("nvfp4", 1), ("bf16", -1))
    )
    bwd += _cast(TOK * ((q + kv) + h + 2 * ff + h))
    assert _part(fp4, "forward") - _part(bf16, "forward") == pytest.approx(layers * fwd, rel=1e-9)
    assert _part(fp4, "backward") - _part(bf16, "backward") == pytest.approx(layers * bwd, rel=1e-9)
    assert fp4.step_time_s < bf16.step_time_s
    # MFU against the FP4 peak (9,000 dense TFLOP/s on B200, 4x bf16's 2,250): the same model FLOPs.
    assert fp4.mfu * fp4.step_time_s * 4 == pytest.approx(bf16.mfu * bf16.step_time_s, rel=1e-9)
    assert fp4.to_dict()["dtype"] == "nvfp4"


def test_nvfp4_errors_name_the_argument() -> None:
    with pytest.raises(pm.UnsupportedError, match="nvfp4 needs a device with block-scaled FP4"):
        pm.llm.estimate("llama3.1-8b", ("dgx-h100", 1), dtype="nvfp4")
    with pytest.raises(pm.InvalidArgumentError, match=r"`dtype`: is 'mxfp4'; expected .*'nvfp4'"):
        pm.llm.estimate("llama3.1-8b", ("dgx-b200", 1), dtype="mxfp4")
    with pytest.raises(pm.InvalidArgumentError, match="`dtype`"):
        pm.llm.estimate("llama3.1-8b", ("dgx-b200", 1), dtype="fp4")


def test_mlperf_fp4_rows_are_priced_and_held_out() -> None:
    # The 13 NVFP4 results of MLPerf Training v5.1 (NVIDIA GB200/GB300, Dell, Supermicro and Lenovo B200, Lenovo
    # B300): priced with their round's bf16/fp8 profile, none fitted. Measured: median |error| 7.3 %, max 15.4 %
    # over the first ten (B200 Llama 3.1 8B, predicted fast by 15 %, as the B200 fp8 8B rows are by 13-22 %); 8.9 %
    # and 15.5 % with Lenovo's three 8B rows (session 18: the importer reads their benchmark-directory config).
    rows = [r for r in mlperf5.modelled() if json.loads(r["plan"])["fp4"]]
    assert len(rows) == 13
    assert {r["role"] for r in rows} == {"holdout"}
    errs = [abs(mlperf5.predict(r) / float(r["value"]) - 1) for r in rows]
    assert statistics.median(errs) < 0.10
    assert max(errs) < 0.20
