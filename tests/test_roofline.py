"""Roofline model: formulas, broadcasting, bounds and bad input."""

import numpy as np
import perfmodel as pm
import polars as pl
import pytest

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
    # A100 (108 SMs, whole waves): (128 x 108) x 256 makes exactly 108 output tiles of 128x256, one full wave; one
    # more row adds a partial wave, which even the best smaller tile cannot hide, so attained efficiency drops.
    a100 = "a100-sxm4-80gb"
    full = pm.roofline.gemm(a100, 128 * 108, 256, 4096)["fraction_of_peak"][0]
    over = pm.roofline.gemm(a100, 128 * 108 + 1, 256, 4096)["fraction_of_peak"][0]
    assert over < 0.85 * full


def test_stream_k_hides_a_small_tail_wave_on_hopper():
    # H100 (132 SMs) schedules stream-K (hwdb compute.gemm_tile_scheduler, CUTLASS's sm90 heuristic): 1536 x 2816 is
    # 12 x 11 = 132 tiles of 128 x 256, one wave; one more row makes 13 x 11 = 143, a tail wave of 11 tiles (less than
    # half a wave) whose tiles have 4096 / 64 = 64 K tiles each (more than 8), so the 143 x 64 = 9152 K tiles are
    # shared by the 132 SMs: ceil(9152 / 132) = 70, 70 / 64 of one tile's time T instead of two waves. A unit's 70 K
    # tiles span two output tiles, so it stores one fp32 partial tile (128 x 256 x 4 bytes) and loads another at one
    # SM's share of the L2 bandwidth (hwdb l2_bandwidth_per_unit_gbps): 2 p more. Within 2 %: the 4 us launch and the
    # memory term, which the ratio of compute times leaves out, move it by 1.3 %.
    h100 = pm.hwdb.get(H100)
    t = 2 * 128 * 256 * 4096 / (989.4e12 * h100["efficiency.gemm_16bit_fraction"] / 132)
    t += h100["efficiency.tile_overhead_us"] * 1e-6
    p = 128 * 256 * 4 / (h100["memory.l2_bandwidth_per_unit_gbps"] * 1e9)
    full = pm.roofline.gemm(H100, 1536, 2816, 4096)["fraction_of_peak"][0]
    over = pm.roofline.gemm(H100, 1537, 2816, 4096)["fraction_of_peak"][0]
    assert over == pytest.approx(full * 1537 / 1536 * t / (70 / 64 * t + 2 * p), rel=0.02)
    # Without the fixup it would be 4.9 % faster; in two whole waves, half as fast.
    assert over < 0.97 * full * 1537 / 1536 * 64 / 70
    assert over > 1.5 * full * 1537 / 1536 / 2


def test_memory_bound_small_k():
    df = pm.roofline.gemm(H100, 65536, 65536, 16)
    assert df["bound"][0] == "hbm"
    assert df["intensity"][0] < 100


def test_memory_bound_kernel_time():
    # 1 GB read + 1 GB written at 3352 GB/s x fraction, writes 18% dearer, plus the launch overhead.
    h100 = pm.hwdb.get(H100)
    frac = h100["efficiency.hbm_fraction"]
    launch = h100["efficiency.launch_overhead_us"] * 1e-6
    t = pm.roofline.memory_bound(h100, 1e9, 1e9)["time_s"][0]
    assert t == pytest.approx((1e9 + 1.18e9) / (3352e9 * frac) + launch, rel=1e-9)


def test_attention_flops():
    # FlashAttention-2 accounting: 4 b h s^2 d forward, causal halves, backward 2.5x.
    f = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=False)["flops"][0]
    assert f == 4 * 2 * 16 * 4096 * 4096 * 128
    fc = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=True)["flops"][0]
    assert fc == f / 2
    fb = pm.roofline.attention(H100, 2, 16, 4096, 128, causal=False, backward=True)["flops"][0]
    assert fb == 2.5 * f
    # Decode: one query against 4,096 cached keys scores every key, causal or not (4 b h s_kv d).
    fd = pm.roofline.attention(H100, 64, 64, 1, 128, seq_kv=4096, causal=True)
    assert fd["flops"][0] == 4 * 64 * 64 * (4096 - 0.5) * 128
    # A 512-token chunk after 1,536 cached tokens: 512 x 2,048 pairs less the masked half of the last 512 x 512.
    fchunk = pm.roofline.attention(H100, 1, 8, 512, 128, seq_kv=2048, causal=True)["flops"][0]
    assert fchunk == 4 * 8 * (512 * 2048 - 512 * 512 / 2) * 128


def test_fp8_faster_than_bf16_on_h100_but_absent_on_a100():
    assert pm.roofline.gemm_time(H100, 8192, 8192, 8192, dtype="fp8") < pm.roofline.gemm_time(
        H100, 8192, 8192, 8192
    )
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


def test_unaligned_leading_dimensions():
    # A leading dimension that is not a multiple of 16 bytes (8 bf16 elements) slows the GEMM by the device's
    # unaligned fraction (hwdb; H100 fitted on its own 8191^3 and 1024x2145x1024 torch.matmul rows); which
    # dimensions lead depends on the layout: k and n row-major (PyTorch), k and m in cuBLAS's column-major TN.
    frac = float(pm.hwdb.get(H100)["efficiency.unaligned_gemm_fraction"])
    assert 0.1 < frac < 0.4
    aligned = pm.roofline.gemm_time(H100, 4096, 4096, 4096)
    for m, n, k, layout, slow in [
        (4096, 4100, 4096, "row", True), (4100, 4096, 4096, "row", False),
        (4100, 4096, 4096, "tn", True), (4096, 4100, 4096, "tn", False), (4096, 4096, 4100, "tn", True),
    ]:  # fmt: skip
        t = pm.roofline.gemm_time(H100, m, n, k, layout=layout)
        # Compute-bound at this size, so the time scales by 1 / fraction (up to the 0.1 % size change).
        expected = aligned / frac if slow else aligned
        assert t == pytest.approx(expected, rel=0.02), (m, n, k, layout)
    # fp8 needs 16 elements: 4104 is a multiple of 8, not of 16.
    assert pm.roofline.gemm_time(H100, 4096, 4104, 4096, dtype="fp8") > 3 * pm.roofline.gemm_time(
        H100, 4096, 4096, 4096, dtype="fp8"
    )
    # A device without a measured fraction has no penalty.
    assert pm.roofline.gemm_time("mi300x", 4096, 4100, 4096) == pytest.approx(
        pm.roofline.gemm_time("mi300x", 4096, 4096, 4096), rel=0.01
    )
    # A100: the fraction is fitted on the EleutherAI cookbook's alignment sweep (fp16 torch.mm 27648 x n x 4096,
    # n = 2 mod 4); n = 4 mod 8 is held out: 27648 x 260 x 4096 measures 117.158 TFLOP/s, its aligned neighbour
    # n = 264 171.318 (EleutherAI/cookbook sizing/results/gemm_data/mm/ksweep_low/a100.out @ 27dff48).
    got = pm.roofline.gemm("a100-sxm4-40gb", 27648, [260, 264], 4096, dtype="fp16")["tflops"].to_list()
    assert got[0] == pytest.approx(117.158, rel=0.10) and got[1] == pytest.approx(171.318, rel=0.10)
    # An odd leading dimension (2-byte aligned) takes odd_gemm_fraction, fitted on the odd outputs n of the
    # cookbook's 8192 x n x 51200 sweep; the sweep over the inner k is held out: 8192 x 14336 x k measures
    # 255.388 (k = 51136), 136.919 (51138, even) and 76.096 TFLOP/s (51137, odd) (transformer_data/vocab_v_sweep.out).
    odd = float(pm.hwdb.get("a100-sxm4-80gb")["efficiency.odd_gemm_fraction"])
    assert odd < float(pm.hwdb.get("a100-sxm4-80gb")["efficiency.unaligned_gemm_fraction"])
    aligned, odd_k, even_k = pm.roofline.gemm(
        "a100-sxm4-40gb", 8192, 14336, [51136, 51137, 51138], dtype="fp16"
    )["tflops"].to_list()
    assert aligned > even_k > odd_k
    assert odd_k == pytest.approx(76.096, rel=0.10) and aligned == pytest.approx(255.388, rel=0.10)
    # Where a device gives no odd fraction, odd sizes take the unaligned one (H100: 4097 and 4098 alike).
    h100 = [pm.roofline.gemm_time(H100, 4096, n, 4096) for n in (4097, 4098)]
    assert h100[0] == pytest.approx(h100[1], rel=1e-3)
    with pytest.raises(pm.InvalidArgumentError, match="`layout`.*'row'.*'tn'"):
        pm.roofline.gemm(H100, 1024, 1024, 1024, layout="col")


def test_cudnn_attention_kernel():
    # cuDNN's fused attention has its own fraction (H100: fitted on this project's 48 cuDNN SDPA rows; H200
    # inherits); the work model is the same, so the time ratio to FlashAttention-2 is the fraction ratio in the
    # compute-bound limit.
    # Checked on H100 without attention_cudnn_softmax_fraction (the plain tile alone); as shipped, the scores'
    # non-matrix work is cuDNN's own resource (tests/test_attention_nonmatrix.py derives that step by hand).
    h = pm.hwdb.parse(
        "\n".join(
            line
            for line in pm.hwdb.get(H100).to_toml().splitlines()
            if not line.startswith("attention_cudnn_softmax_fraction")
        ).replace(f'id = "{H100}"', 'id = "h100-plain-cudnn"')
    )
    ratio = float(h["efficiency.attention_cudnn_fraction"]) / float(h["efficiency.attention_fraction"])
    assert 1.3 < ratio < 1.9  # measured forward rates 1.4-1.9x FlashAttention-2 (validation/measured.csv)
    flash = pm.roofline.attention(h, 1, 16, 16384, 128, causal=False)["time_s"][0]
    cudnn = pm.roofline.attention(h, 1, 16, 16384, 128, causal=False, kernel="cudnn")["time_s"][0]
    assert flash / cudnn == pytest.approx(ratio, rel=0.02)
    # As shipped, still within the measured 1.4-1.9x at d = 128.
    shipped = pm.roofline.attention(H100, 1, 16, 16384, 128, causal=False, kernel="cudnn")["time_s"][0]
    assert 1.4 < flash / shipped < 1.9
    with pytest.raises(pm.UnsupportedError, match="cuDNN attention.*a100-sxm4-80gb"):
        pm.roofline.attention("a100-sxm4-80gb", 1, 16, 4096, 128, kernel="cudnn")
    with pytest.raises(pm.InvalidArgumentError, match="`kernel`.*'flash'.*'cudnn'"):
        pm.roofline.attention(H100, 1, 16, 4096, 128, kernel="fa3")


def test_not_a_device():
    with pytest.raises(pm.HwdbError, match="argument `device`.*is a nic, expected a device"):
        pm.roofline.gemm("cx7-ndr400", 1, 1, 1)


def test_large_input_parallel_matches_scalar():
    rng = np.random.default_rng(0)
    m = rng.integers(1, 20000, 50_000).astype(float)
    df = pm.roofline.gemm(H100, m, 4096, 4096)
    i = 12345
    assert df["time_s"][i] == pm.roofline.gemm_time(H100, m[i], 4096, 4096)


def test_rate_columns_equal_the_polars_expressions_they_replace():
    # The engine derives tflops, gbps, intensity and fraction_of_peak in its parallel pass; they must be the same
    # bits polars gave for the expressions the frame used to apply.
    h100 = pm.hwdb.get(H100)
    rng = np.random.default_rng(1)
    # Multiples of 8 (aligned), so tiny GEMMs stay launch-bound on H100 instead of taking its unaligned slowdown.
    m, n, k = ((8 * rng.integers(1, 8750, 100_000)).astype(float) for _ in range(3))
    df = pm.roofline.gemm(h100, m, n, k, batch=rng.integers(1, 4, 100_000))
    peak = h100.peak_tflops("bf16")
    expected = df.select(
        tflops=pl.col("flops") / pl.col("time_s") / 1e12,
        gbps=pl.col("hbm_bytes") / pl.col("time_s") / 1e9,
        intensity=pl.col("flops") / pl.col("hbm_bytes"),
    ).with_columns(fraction_of_peak=pl.col("tflops") / peak)
    for col in expected.columns:
        assert (df[col] == expected[col]).all(), col
    assert set(df["bound"].unique()) >= {"compute", "hbm", "launch"}


def test_small_and_large_frames_are_the_same(monkeypatch):
    # Up to roofline._SMALL_FRAME rows the frame is built from Python rows (cheaper); same schema and values.
    sizes = np.array([1.0, 100.5, 4096.0, 16897.0, 1e6])
    small = pm.roofline.gemm(H100, sizes, sizes[::-1], 64.0, dtype="fp8")
    att_small = pm.roofline.attention(H100, 1, 8, sizes, 128)
    mem_small = pm.roofline.memory_bound(H100, sizes, 0.0)
    monkeypatch.setattr(pm.roofline, "_SMALL_FRAME", -1)
    assert small.equals(pm.roofline.gemm(H100, sizes, sizes[::-1], 64.0, dtype="fp8"))
    assert small.schema == pm.roofline.gemm(H100, sizes, sizes[::-1], 64.0, dtype="fp8").schema
    assert att_small.equals(pm.roofline.attention(H100, 1, 8, sizes, 128))
    assert mem_small.equals(pm.roofline.memory_bound(H100, sizes, 0.0))
    assert small.columns[-2:] == ["bound", "fraction_of_peak"]


def test_bad_element_found_in_a_large_parallel_input():
    m = np.full(200_000, 1024.0)
    m[150_001] = -3.0
    m[199_999] = np.nan
    with pytest.raises(pm.InvalidArgumentError, match=r"`m`.*element 150001 is -3"):
        pm.roofline.gemm(H100, m, 1024, 1024)
    # Bad sizes come before a dtype the device lacks.
    with pytest.raises(pm.InvalidArgumentError, match="element 150001"):
        pm.roofline.gemm("a100-sxm4-80gb", m, 1024, 1024, dtype="fp8")
