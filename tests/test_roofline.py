"""Roofline model: formulas, broadcasting, bounds and bad input."""

import numpy as np
import polars as pl
import pytest

import perfmodel as pm

H100 = "h100-sxm5-80gb"


def test_gemm_dataframe_columns_and_flops():
    df = pm.roofline.gemm(pm.hwdb.get(H100), 8192, 8192, 8192)
    assert isinstance(df, pl.DataFrame) and df.height == 1
    for col in ("time_s", "tflops", "gbps", "intensity", "bound", "flops", "hbm_bytes", "fraction_of_peak"):
        assert col in df.columns
    assert df["flops"][0] == 2 * 8192**3
    # compulsory traffic: A, B, C once each at 2 bytes
    assert df["hbm_bytes"][0] == 3 * 8192 * 8192 * 2
    assert df["bound"][0] == "compute"
    # A large GEMM cannot beat the dense peak, and reaches most of it.
    assert 0.6 < df["fraction_of_peak"][0] < 1.0


def test_broadcasting_and_monotonic_efficiency():
    sizes = np.array([256, 512, 1024, 2048, 4096, 8192, 16384])
    df = pm.roofline.gemm(H100, sizes, sizes, sizes)
    assert df.height == len(sizes)
    eff = df["tflops"].to_numpy()
    assert np.all(np.diff(eff) > 0), "efficiency should grow with square GEMM size"
    assert df["bound"][0] == "launch"
    grid = pm.roofline.gemm(H100, sizes[:, None], sizes[None, :], 4096)
    assert grid.height == len(sizes) ** 2


def test_wave_quantization_visible():
    # 132 SMs: (128 x 132) x 256 makes exactly 132 output tiles of 128x256, one full wave; one more row adds a
    # partial wave, which even the best smaller tile cannot hide, so attained efficiency drops.
    full = pm.roofline.gemm(H100, 128 * 132, 256, 4096)["fraction_of_peak"][0]
    over = pm.roofline.gemm(H100, 128 * 132 + 1, 256, 4096)["fraction_of_peak"][0]
    assert over < 0.85 * full


def test_memory_bound_small_k():
    df = pm.roofline.gemm(H100, 65536, 65536, 16)
    assert df["bound"][0] == "hbm"
    assert df["intensity"][0] < 100


def test_memory_bound_kernel_time():
    # 1 GB read + 1 GB written at 3352 GB/s x fraction, writes 18% dearer, plus 5 us launch.
    h100 = pm.hwdb.get(H100)
    frac = h100["efficiency.hbm_fraction"]
    t = pm.roofline.memory_bound(h100, 1e9, 1e9)["time_s"][0]
    assert t == pytest.approx((1e9 + 1.18e9) / (3352e9 * frac) + 5e-6, rel=1e-9)


def test_attention_flops():
    # FlashAttention-2 accounting: 4 b h s^2 d forward, causal halves, backward 2.5x.
    f = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=False)["flops"][0]
    assert f == 4 * 2 * 16 * 4096 * 4096 * 128
    fc = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=True)["flops"][0]
    assert fc == f / 2
    fb = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=False, backward=True)["flops"][0]
    assert fb == 2.5 * f


def test_fp8_faster_than_bf16_on_h100_but_absent_on_a100():
    assert pm.roofline.gemm_time(H100, 8192, 8192, 8192, dtype="fp8") < pm.roofline.gemm_time(H100, 8192, 8192, 8192)
    with pytest.raises(pm.UnsupportedError, match="a100-sxm4-80gb.*fp8"):
        pm.roofline.gemm("a100-sxm4-80gb", 1024, 1024, 1024, dtype="fp8")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_sizes(bad):
    with pytest.raises(pm.InvalidArgumentError, match="`m`"):
        pm.roofline.gemm(H100, bad, 1024, 1024)
    with pytest.raises(pm.InvalidArgumentError, match="element 1"):
        pm.roofline.gemm(H100, [1024, bad], 1024, 1024)


def test_bad_dtype_and_shapes():
    with pytest.raises(pm.InvalidArgumentError, match="closest: 'bf16'"):
        pm.roofline.gemm(H100, 1024, 1024, 1024, dtype="bf61")
    with pytest.raises(pm.InvalidArgumentError, match="broadcast"):
        pm.roofline.gemm(H100, [1, 2, 3], [1, 2], 1)
    with pytest.raises(pm.InvalidArgumentError):
        pm.roofline.gemm(H100, "big", 1, 1)


def test_not_a_device():
    with pytest.raises(pm.HwdbError, match="expected a device"):
        pm.roofline.gemm("dgx-h100", 1, 1, 1)


def test_large_input_parallel_matches_scalar():
    rng = np.random.default_rng(0)
    m = rng.integers(1, 20000, 50_000).astype(float)
    df = pm.roofline.gemm(H100, m, 4096, 4096)
    i = 12345
    assert df["time_s"][i] == pm.roofline.gemm_time(H100, m[i], 4096, 4096)
