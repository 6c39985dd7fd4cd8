"""The fused-attention kernel's head-dim dependence (issue 17): each head dim runs as the kernel instantiates it.

FlashAttention-2 (NVIDIA) rounds a head dim up to 32, 64, 96, 128, 192 or 256 (Dao-AILab/flash-attention
``csrc/flash_attn/src/static_switch.h`` ``HEADDIM_SWITCH`` @ 0251105a) and, on sm80/sm90, runs forward blocks of
128 query rows with 4 warps, 128 x 64 with 8 warps at 192 and 64 x 64 with 4 warps at 256
(``flash_fwd_launch_template.h``). Composable Kernel's FMHA (AMD) instantiates 32, 64, 128 and 256 with 128-row
blocks (ROCm/composable_kernel ``example/ck_tile/01_fmha/codegen/ops/fmha_fwd.py`` @ 8e22e1ae), and a forward 192
of 128 rows and 4 warps since PR #1961 (2025-03-11; ``fmha_fwd.py`` @ 00514bed), whose gfx9 backward has no 192
tile (ROCm/rocm-libraries ``projects/composablekernel/.../fmha_bwd.py`` @ 1d30ef29: 32, 64, 96, 128, 256). The
numbers below derive from those tables, not from the engine.
"""

from __future__ import annotations

import numpy as np
import perfmodel as pm
import pytest

H100 = "h100-sxm5-80gb"


def _fwd_time(device, head_dim, heads=8, seq=16384, kernel="flash"):
    # Long non-causal sequences: compute-bound, the per-block costs amortized.
    return float(
        pm.roofline.attention(device, 1, heads, seq, head_dim, causal=False, kernel=kernel)["time_s"][0]
    )


@pytest.mark.parametrize(
    ("device", "padded"),
    [
        # CK on gfx942: 80 and 96 run the 128 instantiation, 160 the 192 one, 224 the 256 one.
        ("mi300x", {80: 128, 96: 128, 112: 128, 160: 192, 176: 192, 224: 256}),
        # FlashAttention-2: 80 runs 96, 112 runs 128, 160 runs 192, 224 runs 256.
        (H100, {80: 96, 112: 128, 160: 192, 224: 256}),
    ],
)
def test_a_head_dim_runs_padded_to_the_kernels_instantiation(device, padded):
    for d, up in padded.items():
        # Same heads, same work per step: the padded head dim costs what its instantiation costs (the unpadded
        # tensors' HBM traffic differs; at 16k tokens it is a 1e-3 effect).
        assert _fwd_time(device, d) == pytest.approx(_fwd_time(device, up), rel=2e-3), (device, d)
    # Without padding, 96 would cost 3/4 of 128 on CK.
    assert _fwd_time("mi300x", 96) / _fwd_time("mi300x", 128) > 0.99


def test_head_dim_128_keeps_its_fitted_cost():
    # At d = 128 the tabled FlashAttention-2 model equals the plain 128 x 128 tile model the fractions were fitted
    # with: in the compute-bound limit, waves of 128-row query blocks over the SMs, each block 128 d = 128 tiles
    # at the attention rate plus its fixed cost (attention_fwd_block_tiles_ratio tiles).
    h = pm.hwdb.get(H100)
    units = float(h["compute.units_count"])
    rate = (
        float(h["compute.matrix_bf16_tflops"])
        * 1e12
        * float(h["efficiency.gemm_16bit_fraction"])
        * float(h["efficiency.attention_fraction"])
        / units
    )
    tile = 4.0 * 128**3 / rate
    waves = np.ceil(16 * 128 / units)
    expected = waves * (128 + float(h["efficiency.attention_fwd_block_tiles_ratio"])) * tile
    # Launch and the smooth maximum with the HBM stream add well under 1 %.
    assert _fwd_time(H100, 128, heads=16) == pytest.approx(expected, rel=1e-2)


def test_fa2_wide_heads_run_16_rows_per_warp_on_h100():
    # FlashAttention-2 on H100 at head dim 192 (128 x 64, 8 warps) and 256 (64 x 64, 4 warps) gives each warp 16
    # query rows against the K and V tile it reads from shared memory (128 B per clock per SM, CUDA C++ Programming
    # Guide), half the reuse of 32 rows at 64 and 128: the rate per FLOP drops. By hand: the d = 128 step's matrix
    # time at the attention rate, its shared-memory time, joined by the cube smooth maximum (overlap_exponent 3).
    h = pm.hwdb.get(H100)
    rate = (
        float(h["compute.matrix_bf16_tflops"])
        * 1e12
        * float(h["efficiency.gemm_16bit_fraction"])
        * float(h["efficiency.attention_fraction"])
        / float(h["compute.units_count"])
    )
    smem = 128.0 * float(h["compute.boost_clock_mhz"]) * 1e6
    sigma = float(h["efficiency.attention_softmax_ratio"])

    def step(rows, warps, d):
        math = 4.0 * rows * rows * (d + sigma * 128.0) / (rate * (1.0 + sigma))
        operands = warps * 2.0 * rows * d * 2.0 / smem
        return np.cbrt(math**3 + operands**3)

    # A 64 x 64 step at 256 does half the FLOPs of the 128 x 128 step at 128 (64 x 64 x 256 = 128^3 / 2).
    expected_256 = step(128, 4, 128) / (2.0 * step(64, 4, 256))

    def tflops(d):
        return float(pm.roofline.attention(H100, 1, 8, 16384, d, causal=False)["tflops"][0])

    assert tflops(256) / tflops(128) == pytest.approx(expected_256, rel=5e-3)
    # The FlashAttention-3 paper's FlashAttention-2 bars (H100, non-causal, 16k): 326 vs 370 TFLOP/s at 256 vs
    # 128 (0.88); the engine's 16 rows per warp give less of the drop, but the same sign.
    assert 0.88 < tflops(256) / tflops(128) < 1.0
    assert tflops(192) < tflops(128)


def test_zaya1_head_dims_that_are_multiples_of_64_run_fastest_on_cdna3():
    # ZAYA1's rule (Anthony et al., arXiv:2511.17127): head dim a multiple of 64. CK's forward instantiates 64,
    # 128, 192, 256; every other head dim of the advisor's list pays its padding.
    for dev in ("mi300x", "mi325x"):
        hd = np.array([64.0, 80.0, 96.0, 128.0, 160.0, 192.0, 256.0])
        r = pm.roofline.attention(dev, 4, 4096.0 / hd, 2048, hd, causal=True)
        tf = dict(zip(hd.astype(int).tolist(), r["tflops"].to_list(), strict=True))
        assert min(tf[64], tf[128], tf[192], tf[256]) > max(tf[80], tf[96], tf[160]), (dev, tf)


def test_ck_head_dim_192_runs_its_forward_tile_and_the_256_backward():
    # DeepSeek-V3's query/key head dim: CK's forward runs it unpadded in the same 128-row, 4-warp block as 128 and
    # 256 (rm0 4: 32 query rows per warp), so its long-sequence time lies between theirs in proportion to the
    # step's work; the backward has no 192 tile and runs 256's (64 key rows), exactly 256's time.
    fwd = {d: _fwd_time("mi300x", d) for d in (128, 192, 256)}
    assert fwd[128] < fwd[192] < fwd[256]
    assert fwd[192] / fwd[256] == pytest.approx(192 / 256, rel=0.05)

    def bwd(d):
        return float(
            pm.roofline.attention("mi300x", 1, 8, 16384, d, causal=False, backward=True)["time_s"][0]
        )

    assert bwd(192) == pytest.approx(bwd(256), rel=2e-3)
    assert bwd(192) > 1.3 * bwd(128)


def test_cudnn_and_other_vendors_keep_the_plain_tile():
    # No published tile table: cuDNN runs every head dim unpadded (80 costs what 64 and 128 bracket, no step);
    # its head-dim dependence is the non-matrix work (tests/test_attention_nonmatrix.py). Other vendors: linear.
    t = {d: _fwd_time(H100, d, heads=8, kernel="cudnn") for d in (64, 80, 96, 128)}
    assert t[64] < t[80] < t[96] < t[128]
    t = {d: _fwd_time("gaudi3", d, heads=8) for d in (80, 128)}
    assert t[80] / t[128] == pytest.approx(80 / 128, rel=1e-2)
