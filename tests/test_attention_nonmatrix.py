"""Attention's non-matrix work as its own resource (issue 17): each score of a fused-attention kernel costs `4 d`
matrix FLOPs forward but one exponential, one conversion to 16 bits and three FP32 operations whatever the head dim
(FlashAttention-2 paper, arXiv:2307.08691, Algorithm 1). cuDNN's Hopper kernels run that work alongside the tensor
cores (roofline.rs ``AttentionContext::with_nonmatrix``). Priced where a device gives
``efficiency.attention_cudnn_softmax_fraction`` (the cuDNN fraction fitted with it: 0.8814 on the 48 own H100 cuDNN
rows by tools/calibrate.py --cudnn-softmax; H100, H200 and H800 give it, docs/models/roofline.md). The rates are the
device's: special functions at ``compute.special_function_tflops`` (derived from the CUDA C++ Programming Guide's 16
results per clock per SM), FP32 at half the vector FP32 peak (an FMA counts two FLOPs); the two pipes run
concurrently, so a score costs the slower of them (the special-function pipe on every device that gives it)."""

from __future__ import annotations

import numpy as np
import perfmodel as pm
import pytest

H100 = "h100-sxm5-80gb"
#: H100 as shipped: the cuDNN softmax resource at the fraction fitted with it.
H100_SFU = pm.hwdb.get(H100)
#: H100 without the key: cuDNN on the plain tile alone at attention_cudnn_fraction.
H100_PLAIN = pm.hwdb.parse(
    "\n".join(
        line
        for line in pm.hwdb.get(H100).to_toml().splitlines()
        if not line.startswith("attention_cudnn_softmax_fraction")
    ).replace('id = "h100-sxm5-80gb"', 'id = "h100-plain-cudnn"')
)


def test_h100_ships_the_fitted_softmax_fraction():
    # Fitted on the 48 own H100 cuDNN rows with the non-matrix resource (tools/calibrate.py --cudnn-softmax); H200
    # and H800 state H100's.
    for dev in (H100, "h200-sxm-141gb", "h800-sxm5-80gb"):
        assert float(pm.hwdb.get(dev)["efficiency.attention_cudnn_softmax_fraction"]) == 0.8814
    assert H100_PLAIN.get("efficiency.attention_cudnn_softmax_fraction") is None


def test_h100_special_function_rate_is_the_fa3_papers():
    # FlashAttention-3 (Shah et al., arXiv:2407.08608, Sec. 3): "the H100 SXM5 GPU has 989 TFLOPS of FP16 matmul
    # but only 3.9 TFLOPS of special functions". The hwdb figure is derived (132 SMs x 16 per clock x 1830 MHz);
    # the paper rounds to two digits, so it must agree within 2 %.
    h = pm.hwdb.get(H100)
    sfu = float(h["compute.special_function_tflops"])
    assert sfu == pytest.approx(3.9, rel=0.02)
    # (stored to four digits)
    assert sfu == pytest.approx(
        float(h["compute.units_count"]) * 16 * float(h["compute.boost_clock_mhz"]) / 1e6, rel=1e-3
    )
    # And the paper's consequence: at head dim 128 the exponentials take about half the matmul time at peak
    # (512 matmul FLOPs per exponential).
    assert (1.0 / sfu) / (512.0 / float(h["compute.matrix_bf16_tflops"])) == pytest.approx(0.5, abs=0.02)


def _cudnn_fwd_time(head_dim, heads=8, seq=16384, device=H100_SFU):
    return float(
        pm.roofline.attention(device, 1, heads, seq, head_dim, causal=False, kernel="cudnn")["time_s"][0]
    )


def test_cudnn_forward_step_by_hand():
    # Long non-causal forward (compute-bound, per-block costs amortized): each 128 x 128 step is the cube smooth
    # maximum (overlap_exponent 3) of its matrix time at the cuDNN rate and its scores' non-matrix time.
    h = H100_SFU
    units = float(h["compute.units_count"])
    rate = (
        float(h["compute.matrix_bf16_tflops"])
        * 1e12
        * float(h["efficiency.gemm_16bit_fraction"])
        * float(h["efficiency.attention_cudnn_softmax_fraction"])
        / units
    )
    # The special-function and FP32 pipes run concurrently: the slower one (2 results at 3.865 TFLOP/s against 3
    # FP32 operations at 33.45 T/s).
    score = units * max(
        2.0 / (float(h["compute.special_function_tflops"]) * 1e12),
        3.0 / (float(h["compute.vector_fp32_tflops"]) * 1e12 / 2.0),
    )

    def step(d):
        return np.cbrt((4.0 * 128**2 * d / rate) ** 3 + (128**2 * score) ** 3)

    for d in (64, 256):
        assert _cudnn_fwd_time(d) / _cudnn_fwd_time(128) == pytest.approx(step(d) / step(128), rel=5e-3), d


def test_cudnn_head_dim_64_runs_slower_per_flop():
    # The FlashAttention-3 paper's cuDNN bars (H100 bf16, non-causal, 16k; perfmodel/data/attention_headdim.csv):
    # d = 64 at 413 TFLOP/s, 0.69 of d = 128's 595. The plain tile alone priced them equal per FLOP; the
    # non-matrix resource (nothing fitted on these bars) gives 0.6-0.8.
    rate = {d: d / _cudnn_fwd_time(d) for d in (64, 128)}
    assert 0.6 < rate[64] / rate[128] < 0.8
    # Without the key cuDNN keeps the plain tile alone: equal per FLOP.
    plain = {d: d / _cudnn_fwd_time(d, device=H100_PLAIN) for d in (64, 128)}
    assert plain[64] / plain[128] == pytest.approx(1.0, rel=1e-2)


def test_fp32_work_hides_under_the_special_function_pipe():
    # One SM partition issues one warp instruction per clock; a special-function instruction keeps its unit busy 8
    # clocks (16 results per clock per SM), while FP32 instructions issue beside it (128 per clock per SM). Per 32
    # forward scores: 2 x 8 = 16 special-function clocks against 3 FP32 clocks, so the FP32 rate does not matter
    # until it is more than 16/3 times slower, and then it binds alone.
    h = H100_SFU
    fp32 = float(h["compute.vector_fp32_tflops"])
    base = _cudnn_fwd_time(64)
    assert _cudnn_fwd_time(64, device=h.with_overrides({"compute.vector_fp32_tflops": fp32 / 4})) == base
    # FP32 slower than the special functions: 3 / (fp32 / 2) = 2 / sfu at fp32 = 3 x sfu; at a third of that
    # the FP32 pipe takes 3x the special-function time, and the d = 64 step (non-matrix bound) grows with it.
    sfu = float(h["compute.special_function_tflops"])
    slow = _cudnn_fwd_time(64, device=h.with_overrides({"compute.vector_fp32_tflops": sfu}))
    assert slow > 2.0 * base
