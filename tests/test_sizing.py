"""The model sizing advisor (perfmodel.llm.advisor), its CLI, charts and validation suite."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel import cli
from perfmodel.validation import sizing as vsizing

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def llama_h100():
    return pm.llm.sizing("llama2-7b", "h100-sxm5-80gb", seq_len=4096)


def test_calls_are_the_layer_gemms_priced_by_the_roofline_engine(llama_h100):
    s = llama_h100
    calls = {r["call"]: r for r in s.calls.iter_rows(named=True)}
    assert list(calls) == ["qkv", "attention", "attn_out", "mlp_up_gate", "mlp_down", "logits"]
    h, f, v, tok = 4096, 11008, 32000, 4096  # Llama-2-7B (config.json), 1 x 4,096 tokens
    shapes = {"qkv": (tok, 3 * h, h), "attn_out": (tok, h, h), "mlp_up_gate": (tok, 2 * f, h), "mlp_down": (tok, h, f),
              "logits": (tok, v, h)}  # fmt: skip
    dev = pm.hwdb.get("h100-sxm5-80gb")
    for name, (m, n, k) in shapes.items():
        c = calls[name]
        assert (c["m"], c["n"], c["k"]) == (m, n, k)
        # Training: forward, data gradient (m, k, n), weight gradient (k, n, m) on the one GEMM model.
        want = sum(pm.roofline.gemm_time(dev, *mnk) for mnk in ((m, n, k), (m, k, n), (k, n, m)))
        assert c["time_s"] == pytest.approx(want, rel=1e-12)
        assert c["flops"] == pytest.approx(3 * 2.0 * m * n * k)
    fwd = pm.roofline.attention(dev, 1, 32, 4096, 128, causal=True)
    bwd = pm.roofline.attention(dev, 1, 32, 4096, 128, causal=True, backward=True)
    assert calls["attention"]["time_s"] == pytest.approx(fwd["time_s"][0] + bwd["time_s"][0], rel=1e-12)
    layer = sum(r["time_s"] for r in calls.values() if r["per"] == "layer")
    assert s.layer_time_s == pytest.approx(layer)
    assert s.model_time_s == pytest.approx(32 * layer + calls["logits"]["time_s"])


def test_tiles_and_waves_are_derived_by_hand(llama_h100):
    qkv = llama_h100.calls.row(0, named=True)
    # 4,096 x 12,288 output in 256 x 128 tiles: 16 x 96 = 1,536 tiles; 132 SMs: ceil(1536 / 132) = 12 waves, the
    # last holding 84 tiles: 1536 / (12 x 132) of the wave slots used.
    assert (qkv["tile"], qkv["tiles"], qkv["waves"]) == ("256x128", 1536, 12)
    assert qkv["wave_utilization"] == pytest.approx(1536 / (12 * 132))
    assert qkv["tile_fill"] == 1.0 and qkv["aligned"]
    assert qkv["limiter"] == "wave tail"


def test_an_unaligned_vocabulary_is_named_and_padding_beats_it():
    s = pm.llm.sizing({"hidden": 2560, "heads": 32, "layers": 32, "seq_len": 2048, "vocab": 50257}, "h100-sxm5-80gb",
                      micro_batch=4, training=False)  # fmt: skip
    logits = s.calls.filter(pl.col("call") == "logits").row(0, named=True)
    assert not logits["aligned"] and logits["limiter"] == "alignment"
    pads = s.alternatives.filter(pl.col("change") == "vocab")
    # Padded to multiples of 64, 128 and 256 (Megatron-LM's make-vocab-size-divisible-by).
    assert set(pads["vocab"].to_list()) == {
        64 * math.ceil(50257 / 64),
        128 * math.ceil(50257 / 128),
        256 * math.ceil(50257 / 256),
    }
    assert (pads["relative"] > 1.0).all()
    assert s.best["tflops"] >= s.tflops and s.speedup >= 1.0
    model_row = s.alternatives.filter(pl.col("change") == "model").row(0, named=True)
    assert model_row["relative"] == 1.0 and model_row["tflops"] == pytest.approx(s.tflops)
    assert s.alternatives["tflops"].is_sorted(descending=True)


def test_tensor_parallel_widths_are_divided():
    s = pm.llm.sizing("llama3-70b", "mi300x", tp=8, training=False)
    qkv = s.calls.row(0, named=True)
    # 64 query heads and 8 KV heads of 128: (8192 + 2 x 1024) / 8 columns per rank.
    assert (qkv["n"], qkv["k"]) == ((8192 + 2048) // 8, 8192)
    assert s.calls.filter(pl.col("call") == "mlp_down")["k"][0] == 28672 // 8


def test_sweep_ranks_per_device_and_agrees_with_sizing():
    df = pm.llm.sizing_sweep(
        ["h100-sxm5-80gb", "mi300x"], hidden=[2560, 4096], heads=[20, 32], vocab_multiple=[1, 128]
    )
    # 2560/20, 2560/32 and 4096/32 are whole head dims (4096/20 is not): 3 shapes x 2 vocabularies x 2 devices.
    assert df.height == 3 * 2 * 2
    for _, g in df.group_by("device"):
        assert g.sort("rank")["tflops"].is_sorted(descending=True)
        assert g["rank"].min() == 1 and g["relative"].max() == 1.0
    row = df.filter(
        (pl.col("device") == "mi300x")
        & (pl.col("hidden") == 4096)
        & (pl.col("heads") == 32)
        & (pl.col("vocab") == 50257)
    )
    s = pm.llm.sizing({"hidden": 4096, "heads": 32, "layers": 32, "seq_len": 2048, "vocab": 50257}, "mi300x",
                      micro_batch=4, training=False)  # fmt: skip
    assert row["tflops"][0] == pytest.approx(s.tflops, rel=1e-12)
    # head_dim and heads: hidden / heads must be whole.
    assert pm.llm.sizing_sweep(["a100-sxm4-80gb"], hidden=[4096, 4100], heads=32)["hidden"].to_list() == [
        4096
    ]


def test_rules_table_side_by_side():
    r = pm.llm.sizing_rules()
    assert r["device"].to_list() == ["mi300x", "mi325x", "h100-sxm5-80gb", "h200-sxm-141gb", "a100-sxm4-80gb"]
    assert r["units"].to_list() == [int(pm.hwdb.get(d)["compute.units_count"]) for d in r["device"]]
    assert r.filter(pl.col("device") == "mi300x")["partitions"][0] == 8  # 8 XCDs x 38 CUs = 304
    # 16-byte alignment: 8 bf16 elements, 16 fp8 elements.
    assert set(r["align_elements"]) == {8}
    assert pm.llm.sizing_rules(["h100-sxm5-80gb"], dtype="fp8")["align_elements"][0] == 16


def test_errors_name_the_argument_and_the_closest_value():
    with pytest.raises(pm.PerfModelError, match=r"`device`.*'mi300x'"):
        pm.llm.sizing("llama2-7b", "mi30x")
    with pytest.raises(pm.PerfModelError, match="`tp`"):
        pm.llm.sizing("llama2-7b", "mi300x", tp=3)
    with pytest.raises(pm.PerfModelError, match=r"`dtype`.*'bf16'"):
        pm.llm.sizing("llama2-7b", "mi300x", dtype="bf61")
    with pytest.raises(pm.PerfModelError, match="MoE"):
        pm.llm.sizing("mixtral-8x7b", "mi300x")
    with pytest.raises(pm.PerfModelError, match="`micro_batch`"):
        pm.llm.sizing("llama2-7b", "mi300x", micro_batch=0)
    with pytest.raises(pm.PerfModelError, match="`hidden`"):
        pm.llm.sizing_sweep(["mi300x"], hidden=[4096.5])
    with pytest.raises(pm.PerfModelError, match="`heads` and `head_dim`"):
        pm.llm.sizing_sweep(["mi300x"], hidden=[4096], heads=32, head_dim=128)


def test_schedule_binding_matches_the_engine_time():
    from perfmodel import _core

    dev = pm.hwdb.get("mi300x")
    m = np.array([8192.0, 4096.0, 1000.0])
    tm, tn, tiles, waves, units, aligned, compute_s, memory_s = _core.roofline_gemm_schedule(
        dev._handle, "bf16", "row", m, m, m, np.ones(3)
    )
    assert list(units) == [304.0] * 3 and list(aligned) == [1, 1, 1]
    assert list(waves) == [math.ceil(t / 304) for t in tiles]
    t = pm.roofline.gemm(dev, m, m, m)["time_s"].to_numpy()
    # time = (compute^3 + memory^3)^(1/3) + launch (overlap exponent 3).
    launch = float(dev["efficiency.launch_overhead_us"]) * 1e-6
    assert np.allclose(t, np.cbrt(compute_s**3 + memory_s**3) + launch, rtol=1e-12)


def test_cli_sizing_table_and_json(capsys):
    assert cli.main(["llm", "sizing", "llama2-7b", "mi300x", "--seq-len", "4096", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "mi300x" and len(out["calls"]) == 6 and out["speedup"] >= 1.0
    assert cli.main(["llm", "sizing-rules", "--devices", "mi300x,h100-sxm5-80gb", "--format", "json"]) == 0
    assert [r["device"] for r in json.loads(capsys.readouterr().out)] == ["mi300x", "h100-sxm5-80gb"]
    assert cli.main(["llm", "sizing", "llama2-7b", "h100-sxm5-80gb", "--forward"]) == 0
    assert "limiter" in capsys.readouterr().out
    assert cli.main(["llm", "sizing", "llama2-7b", "mi300xx"]) == 1
    assert "did you mean 'mi300x'" in capsys.readouterr().err


def test_charts_build():
    from perfmodel.plots.sizing import heads_hidden_heatmap, sawtooth_chart

    sweep = pm.llm.sizing_sweep(["mi300x", "a100-sxm4-80gb"], hidden=[2048, 2560, 4096], heads=[16, 32])
    assert "arXiv:2401.14489" in json.dumps(sawtooth_chart(sweep).to_dict())
    assert heads_hidden_heatmap(sweep, "mi300x").to_dict()["mark"]["type"] == "rect"
    with pytest.raises(pm.PerfModelError, match="`device`"):
        heads_hidden_heatmap(sweep, "h100-sxm5-80gb")


# ---- validation ------------------------------------------------------------------------------------------------

#: Sweeps that do not meet the issue's targets, and why (numbers in validation/sizing_summary.json).
_UNMET = {
    # Hopper sweeps under stream-K tile scheduling (CUTLASS's sm90 heuristic, roofline.rs); "ceiling" is the sweep's
    # noise ceiling (sizing.noise_ceiling: Spearman of one measurement run against another, mean over run pairs).
    "h100_square_bf16": "rank 0.74 (ceiling 0.91, runs 0.86-0.95), median 2.7%: 2048^3 measures 714 TFLOP/s (3rd) "
    "where the fixed launch and tile overheads put it 10th (585); 8192^3 and 10240^3 measure 621 and 674 (10th, 7th), "
    "the engine ranks them 5th and 2nd (8192^3 runs 16 whole waves: its tail wave is over half full)",
    "h200_square_bf16": "rank 0.71 (ceiling 0.95), median 6.1%: as H100 (2048^3 fastest at 716, model 10th at 588; "
    "8192^3 measures 586, 10th, model 5th); H100 and H200 measurements agree at Spearman 0.88",
    "h200_llm_shapes_bf16": "rank 0.73 (ceiling 0.95; 0.89 when every tail wave was split, before CUTLASS's "
    "data-parallel rules), median 5.9%: 8192 x 1280 x 8192 measures 636 TFLOP/s (10th), the model 712 (4th)",
    "h200_llm_linears_bf16": "rank 0.37 (ceiling 0.62: the two runs themselves order these shapes alike only at 0.62), "
    "median 2.1%: 33 shapes within 624-705 TFLOP/s; the weight-gradient GEMMs (dy.t() @ x) measure 3-7% below "
    "fwd/dgrad of the same size, and the engine has no per-layout rate; the most displaced, dgrad 2048 x 3072 x 12288 "
    "and 4096 x 3584 x 8192, measure 645-651 (28th-30th), the model 713-717 (3rd-4th)",
    "h100_square_fp8": "rank 0.7 (ceiling 0.85), median 15.8%: 5 points, 8192^3 measures 1128 TFLOP/s, below 4096^3 "
    "(model +15.8%), 1024^3 and 2048^3 under-predicted by 31% and 16% (fixed per-kernel cost); the fp8 fraction is "
    "fitted on Azure's cuBLASLt rows (which it meets), not on this PyTorch sweep",
    "h200_square_fp16": "rank 0.1 (ceiling 0.9), median 13.8%: 5 points within 642-690 TFLOP/s above 1024 (2048^3 "
    "fastest, 16384^3 slowest above it, model the reverse); 1024^3 under-predicted by 30% (the fixed per-kernel "
    "cost, see NOTES)",
    # EleutherAI cookbook sweeps (arXiv:2401.14489's raw logs), their timing modelled (sizing.timing_figures: host
    # round trip per synchronised call, slowest-call ratio for bmm; fitted on every other row of the m and bmm sweeps,
    # the other rows held out).
    "cookbook_a100_bmm_bsweep": "rank 0.34 (held-out rows -0.23), median 3.7% (9.3% before the timing model): b >= 2 "
    "8192^3 and b >= 32 4096^3 measure 209-221 TFLOP/s, below 2048^3 (248-250), each the slowest of 199 calls; one "
    "slowest-call ratio (1.03) and host time (9.5 us) cannot reorder them and the engine's kernel is flat above 2048",
    "cookbook_v100_mm_ksweep_low": "rank 0.85 (held-out rows 0.92), median 11.5% (held out 9.9%): n <= 128 measure "
    "half the HBM-bound rate, 23-38 TFLOP/s",
    "cookbook_v100_bmm_bsweep": "rank 0.36 (held-out rows -0.20), median 3.2% (25.3% before the timing model; slowest "
    "call 1.25 x the kernel + 6.75 us): every b >= 2 shape measures 50-66 TFLOP/s, 2048..8192 alike at 63-66, where "
    "b = 1 reaches 84-90: the order is the slowest call's, not the kernel's",
    "cookbook_v100_bmm_msweep": "median 14.6% (31.5% before the timing model; held-out rows 12.9%): b >= 2 shapes of "
    "m <= 256 measure 2-4x below the model",
    "cookbook_mi250x_mm_m_sweep": "median 25.5% (23.3% before the timing model; host 13.25 us fitted): the engine prices "
    "32 and 64 (x 4096 x 32, 64) at 59 us of kernel alone (one tile runs the whole K loop), above the 36-48 us timed "
    "with the host round trip; 256 x 4096 x 256 measures 2.95 TFLOP/s (2.5x below) and 1024-2048 run 26-34% above",
    "cookbook_mi250x_mm_ksweep_high": "rank 0.42 (0.38 before the timing model): the measured drops (n = 1856, 3136, "
    "3648, 4864, 5440) follow rocBLAS/Tensile's per-size kernel choice, not 110-CU waves of 128-wide tiles (model: "
    "1600, 2368, 3136, ...)",
    "cookbook_mi250x_bmm_bsweep": "median 10.5%: the MI250X fractions are MI300X's (assumed); 4096-8192 measure "
    "105-109 TFLOP/s, the model 90-97; the fitted slowest-call ratio is 1.0 (host 9.25 us)",
    "cookbook_a100_vocab_out_sweep": "rank 0.76 (held-out rows 0.83, median 4.2%): the three alignment levels match "
    "(n = 0 mod 8: 254-261 TFLOP/s, model 264-266; other even n: 171-174, model 165-166; odd n: 70.9-72.0, model "
    "71.2-71.8) but the 64 odd sizes span 1.5% and the model orders them the other way",
    "cookbook_mi250x_bmm_msweep": "median 13.5% (14.2% before the timing model): b >= 2 shapes of m <= 256 measure a "
    "flat 1-4 TFLOP/s (13x below the model at 256, b = 16)",
}


@pytest.fixture(scope="module")
def sweeps():
    return {r["group"]: r for r in vsizing.sweep_summary().iter_rows(named=True)}


def test_every_sweep_is_listed(sweeps):
    assert set(sweeps) == set(vsizing.SWEEPS)
    assert set(_UNMET) <= set(sweeps)


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=_UNMET[s])) if s in _UNMET else s
        for s in vsizing.SWEEPS
    ],
)
def test_sweep_targets(sweeps, sweep):
    r = sweeps[sweep]
    assert (
        r["spearman"] >= vsizing.TARGET_SPEARMAN and r["median_abs_error"] <= vsizing.TARGET_MEDIAN_ERROR
    ), r


def test_stored_summary_matches_a_fresh_run(sweeps):
    stored = json.loads((ROOT / "validation" / "sizing_summary.json").read_text())
    for r in stored["sweeps"]:
        assert r["spearman"] == pytest.approx(sweeps[r["group"]]["spearman"], abs=1e-9), r["group"]
        assert r["median_abs_error"] == pytest.approx(sweeps[r["group"]]["median_abs_error"], abs=1e-6), r[
            "group"
        ]


def test_cookbook_rows_are_the_logs():
    # tools/import_cookbook_sweeps.py reads "MxNxK" with A of M x N and B of N x K: BLAS m = M, n = K, k = N.
    sys.path.insert(0, str(ROOT / "tools"))
    import import_cookbook_sweeps as imp

    line = (
        "Throughput (in TFLOP/s) for 27648x4096x130: 96.512\nThroughput (in TFLOP/s) for 2x32x4096x32: 0.229\n"
        "Throughput (in TFLOP/s) for 8192x51137x14336, b=1: 76.096"
    )
    assert imp.parse(line) == [
        ({"m": 27648, "n": 130, "k": 4096, "batch": 1}, 96.512),
        ({"m": 32, "n": 32, "k": 4096, "batch": 2}, 0.229),
        ({"m": 8192, "n": 14336, "k": 51137, "batch": 1}, 76.096),
    ]
    df = vsizing.sweep_rows()
    assert df.height == 1187 + 2 * 129  # five GEMM sweeps x three GPUs, two vocabulary sweeps
    assert set(df["device"]) == set(imp.DEVICES.values())
    assert df["source"].str.contains(imp.COMMIT).all()
    # The wave-quantization sweep on A100: 2304 x n x 4096 measures 228.951 TFLOP/s at n = 2304, 199.148 at 2368 (a100.out).
    a100 = df.filter(pl.col("sweep") == "a100_mm_ksweep_high")
    assert a100.height == 73
    by_n = {json.loads(p)["n"]: v for p, v in zip(a100["params"], a100["value"], strict=True)}
    assert by_n[2304] == 228.951 and by_n[2368] == 199.148


def test_cookbook_two_timings_agree_in_order():
    # The same nine m-sweep shapes timed by mm (mean of 100) and bmm at b = 1 (slowest of 200) on each GPU.
    agree = {r["gpu"]: r for r in vsizing.method_agreement().iter_rows(named=True)}
    assert set(agree) == {"a100", "v100", "mi250x"}
    assert all(r["rows"] == 9 for r in agree.values())
    assert agree["a100"]["spearman_mm_vs_bmm"] == pytest.approx(1.0)
    assert agree["v100"]["spearman_mm_vs_bmm"] == pytest.approx(0.9833, abs=1e-4)


def test_misranked_lists_the_low_rank_sweeps_only():
    rows = vsizing.run()
    summary = vsizing.sweep_summary(rows)
    low = set(summary.filter(pl.col("spearman") < vsizing.TARGET_SPEARMAN)["group"])
    worst = vsizing.misranked(rows, top=2)
    assert set(worst["group"]) == low
    assert worst.group_by("group").len()["len"].max() <= 2
    # H200 measures 8192^3 bf16 at 585.8 TFLOP/s, its slowest aligned square above 2048 (10th of 14), where the
    # model ranks it 4th: one of the sweep's two most displaced shapes.
    h200 = worst.filter(pl.col("group") == "h200_square_bf16")
    assert "GEMM 8192x8192x8192 bf16" in h200["operation"].to_list()


def test_cookbook_timing_is_fitted_on_the_fit_half():
    f = vsizing.timing_figures()
    mean = f[("a100", "mean")]
    # Every other row of the nine-shape m sweep (m = 32, 128, 512, 2048, 8192); its m <= 256 calls measure 39-47 us
    # each (a100.out) where the engine prices the kernel at 24 us.
    assert mean["rows"] == 5 and mean["slowest_ratio"] == 1.0 and 10e-6 <= mean["host_s"] <= 30e-6
    assert "cookbook_a100_mm_m_sweep" in mean["fitted_on"]
    assert f[("a100", "slowest")]["rows"] == 28 // 2 + (63 + 1) // 2  # both bmm sweeps' fit halves
    m_sweep = vsizing.run().filter(pl.col("group") == "cookbook_a100_mm_m_sweep")
    assert m_sweep["role"].to_list() == ["fit", "holdout"] * 4 + ["fit"]
    # The held-out shapes (m = 64, 256, 1024, 4096) within the 10% median once the host time is counted
    # (67.7% on the kernel alone).
    assert m_sweep.filter(pl.col("role") == "holdout")["error"].abs().median() <= vsizing.TARGET_MEDIAN_ERROR


def test_noise_ceiling_is_the_runs_own_rank_agreement():
    """The ceiling of a sweep is the Spearman of one run of tools/measure_gpu.py against another over the sweep's
    shapes, read here straight from the runs kept in validation/gpu_runs/ (not from the exported CSV)."""
    scipy_stats = pytest.importorskip("scipy.stats")
    square = {256, 512, 1024, 2048, 3072, 4000, 4096, 5120, 6144, 8191, 8192, 10240, 12288, 16384}

    def run_values(path: Path) -> dict[int, float]:
        out = {}
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["kind"] == "gemm" and r["dtype"] == "bf16" and r.get("batch", 1) == 1:
                if r["m"] == r["n"] == r["k"] and r["m"] in square:
                    out[r["m"]] = r["tflops"]
        return out

    runs = ROOT / "validation" / "gpu_runs" / "h200-2026-11-23"
    a, b = run_values(runs / "run1.jsonl"), run_values(runs / "run2.jsonl")
    assert set(a) == set(b) == square
    sizes = sorted(square)
    expected = scipy_stats.spearmanr([a[s] for s in sizes], [b[s] for s in sizes]).statistic
    ceiling = {r["group"]: r for r in vsizing.noise_ceiling().iter_rows(named=True)}
    h200 = ceiling["h200_square_bf16"]
    assert h200["noise_runs"] == 2
    assert h200["noise_ceiling_spearman"] == pytest.approx(expected, abs=1e-12)
    assert h200["noise_ceiling_min"] == h200["noise_ceiling_spearman"]  # one pair of runs
    # H100: four runs, six pairs; the mean is at least the lowest pair.
    h100 = ceiling["h100_square_bf16"]
    assert h100["noise_runs"] == 4 and h100["noise_ceiling_min"] <= h100["noise_ceiling_spearman"] <= 1.0
    # Every sweep of this project's own rows has one; published sweeps have none.
    summary = vsizing.sweep_summary()
    own = summary.filter(pl.col("group").str.starts_with("h1") | pl.col("group").str.starts_with("h2"))
    assert own["noise_ceiling_spearman"].null_count() == 0
    assert summary.filter(pl.col("group").str.starts_with("cookbook_"))[
        "noise_ceiling_spearman"
    ].null_count() == (summary.filter(pl.col("group").str.starts_with("cookbook_")).height)


def test_exported_runs_reproduce_the_medians():
    """measured_gpu_runs.csv (tools/export_gemm_runs.py) holds every run of every GEMM row of measured_gpu.csv: the
    median of a row's runs is its value, their count its ``runs``."""
    runs = vsizing.measured_runs()
    stats = runs.group_by("device", "group", "operation", "metric").agg(
        med=pl.col("value").median(), n=pl.len(), lo=pl.col("value").min(), hi=pl.col("value").max()
    )
    from perfmodel.validation import measured

    rows = measured.measurements().filter(
        pl.col("group").is_in(["gemm", "fp8_gemm"]) & (pl.col("metric") == "tflops")
    )
    joined = rows.join(stats, on=["device", "group", "operation", "metric"], how="left")
    assert joined.height == rows.height and joined["med"].null_count() == 0
    assert (joined["med"] - joined["value"]).abs().max() < 1e-3
    params = [json.loads(p) for p in joined["params"]]
    assert [p["runs"] for p in params] == joined["n"].to_list()
    assert max(abs(p["run_min"] - lo) for p, lo in zip(params, joined["lo"], strict=True)) < 1e-3
