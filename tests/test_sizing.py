"""The model sizing advisor (perfmodel.llm.advisor), its CLI, charts and validation suite."""

import json
import math
import re
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
    # The rows are CUDA-graph replays of back-to-back calls on the same buffers: an aligned GEMM whose operands and
    # output fit in the 50 MiB L2 pays the measured graph floor (measured.replay_spec: 0.99 us H100, 0.84 us H200),
    # a larger one the engine's 4 us. The H100 fractions refitted under that pricing (16-bit 0.7422 -> 0.7249, 8-bit
    # 0.6976 -> 0.6688) give the same ranks (h200_llm_linears 0.35) and are not written (hwdb fitted_on: held-out
    # rows of other suites get worse).
    # Every row at the floor instead ranks worse (h100_llm_shapes 0.84 -> 0.79, h200_llm_shapes 0.73 -> 0.67).
    # Stream-K's partial-sum fixup is priced (roofline.rs GemmContext::stream_k: each unit sharing a tile stores or
    # loads its fp32 partial tile at one SM's share of the L2 bandwidth, hwdb l2_bandwidth_per_unit_gbps): 16-bit
    # 1024^3, over-predicted by 17-19 % when two units shared each 128 x 128 tile for free, now runs one whole wave
    # of 128 x 64 tiles (H100 bf16 +19.2 -> +2.0 %, fp16 +18.6 -> +1.5 %, H200 bf16 +17.1 -> -1.3 %, fp16 +18.1 ->
    # -0.5 %). fp8 1024^3 (+21 % H100, +26 % H200) is not stream-K: its 8 K tiles of 128 elements are never split.
    # Several dips are the call, not the shape: tools/measure_gpu.py times torch.matmul(a, b, out=c); called without
    # out=, 8192^3 bf16 measures 680 TFLOP/s on H200 (fp8_gemm "square (a @ b)" rows, 2026-12-04, same torch and
    # cuBLAS) against 586 with out=, and on H100 in one run (gemm_layout rows) 717 (matmul) and 709 (linear) against
    # 670 (out=); fp16 8192^3 measures 695 / 655 (H100 / H200) against bf16's 621 / 586.
    "h200_square_bf16": "rank 0.785 (0.75 before the stream-K fixup, 0.71 before the graph floor; ceiling 0.95), "
    "median 5.3%: 2048^3 fastest at 716 TFLOP/s, model 660 (-7.9%); 8192^3 measures 586 with out= in both runs, 680 "
    "without out= (a later run, same software), model 703 (+20%); H100 and H200 measurements agree at Spearman 0.88",
    "h200_llm_shapes_bf16": "rank 0.785 (0.73 before the stream-K fixup; ceiling 0.95; 0.89 when every tail wave was "
    "split, before CUTLASS's data-parallel rules), median 5.3%: 8192 x 1280 x 8192 measures 636 TFLOP/s (10th; runs "
    "634, 638), the model 702 (+10.4%); 4096 x 1280 x 8192 called without out= (x @ W.t(), 2026-12-04) measures 695",
    "h200_llm_linears_bf16": "rank 0.371 (ceiling 0.62: the two runs themselves order these shapes alike only at 0.62), "
    "median 2.1%: 33 shapes within 624-705 TFLOP/s; the weight-gradient GEMMs (dy.t() @ x) measure 3-7% below "
    "fwd/dgrad of the same size, and the engine has no per-layout rate; the most displaced, dgrad 2048 x 3072 x 12288 "
    "and 4096 x 3584 x 8192, measure 645-651 (28th-30th), the model 702-710 (+8.9%, +9.0%)",
    "h100_square_fp8": "rank 0.7 (ceiling 0.85), median 6.8% (15.8% before the graph floor): 5 points; 8192^3 "
    "measures 1128 TFLOP/s (runs 1091-1221: 4th of 5 in run 3), below 2048^3 (1130), model +15.8%; 1024^3 +21.4% "
    "(one whole wave of 128 x 64 tiles: its 8 K tiles are not split, so no stream-K cost applies)",
    "h200_square_fp16": "rank 0.1 (ceiling 0.9), median 6.3% (7.4% before the stream-K fixup, 13.8% before the graph "
    "floor): 5 points; above 1024 they measure 642-690 TFLOP/s (2048^3 fastest, in L2, model -4.4%; 16384^3 "
    "slowest, +13.8%), the model orders them rising with size; 1024^3 -0.5% (+18% before the fixup)",
    # EleutherAI cookbook sweeps (arXiv:2401.14489's raw logs), their timing modelled (sizing.timing_figures: host
    # round trip per synchronised call, slowest-call ratio for bmm; fitted on every other row of the m and bmm sweeps,
    # the other rows held out).
    "cookbook_a100_bmm_bsweep": "rank 0.34 (held-out rows -0.23), median 3.7%: b >= 2 8192^3 and b >= 32 4096^3 measure "
    "209-221 TFLOP/s against 248-257 for 2048-4096 at smaller b, and the m sweep repeats both drops (8192 x 4096 x "
    "8192 at b >= 2: 220-229; 4096^3 at b = 32, 64: 216, 213; the 4096^3 rows of both sweeps agree within 3.0%, "
    "sizing.bmm_sweep_agreement): a property of cuBLAS's strided-batched kernel choice, 0.79-0.87 of the b = 1 rate "
    "against 0.95-1.01 at other shapes, not noise. Not a power or clock cap: 8192 x 4096 x 8192 at b = 2 drops at 4.9 "
    "ms per call (1.2 s run) where 4096^3 at b = 16 holds 258 at 8.5 ms per call (2.1 s) and b = 1 8192^3 runs "
    "fastest (268). cuBLAS's strided-batched choice is known to fall off at some batch counts (pytorch/pytorch issue "
    "#118774: equal FLOPs 14x slower at b = 2048 than at b = 4) but no source gives its heuristic, so A100 keeps no "
    "batched fraction (a uniform one would only shift the rows)",
    "cookbook_v100_bmm_bsweep": "rank 0.58 (0.36 before cuBLAS's batched rate and split-K; held-out rows -0.03), "
    "median 9.4% (8.9% before V100's GEMM-stream floor refitted the slowest-call timing): the 15 rows of b >= 2 and 2048..8192 measure 62.8-66.1 TFLOP/s (a 5% span), while the two bmm "
    "sweeps' runs of the same 4096^3 shapes differ by 1.7% on median, 2.3% at most, and agree at Spearman 0.54 "
    "(sizing.bmm_sweep_agreement): that group's order is at the logs' reproducibility; the model orders it -0.43 "
    "(it prices 2048 at b = 2, 4 by waves, 7 for 6.4 and 13 for 12.8 of 128 x 128 tiles: 50-55, where the logs show "
    "no loss) and the other 9 rows at "
    "0.95; the group priced flat would rank the sweep 0.82",
    "cookbook_a100_vocab_out_sweep": "rank 0.76 (held-out rows 0.83, median 4.2%): the three alignment levels match "
    "(n = 0 mod 8: 254-261 TFLOP/s, model 263-266; other even n: 171-174, model 165-166; odd n: 70.9-72.0, model "
    "71.2-71.8), and the alignment class alone ranks the sweep at 0.91; within a class the engine's order is its "
    "waves (34 over the whole range, so throughput rises with n, Spearman 1.0 against n) where the measured odd "
    "sizes fall with n (-0.76), the even ones rise (+0.64) and the aligned ones scatter (-0.29) across 1.5-2.9%: "
    "trends of a few percent that no source explains (37 minutes of 47-170 ms calls, but the classes drift apart, "
    "so not one clock drift). The odd rows step at a tile-column boundary: 71.8-72.0 up to n = 14335, 70.9-71.3 from "
    "14337 (-1.1% on mean; 14336 = 112 x 128 = 56 x 256), where the engine's 3584 -> 3616 tiles of 256 x 128 both "
    "fill 34 waves of 108 SMs, so it has no step; pricing per tile instead of per wave would step -0.9% there but "
    "raise each segment by 0.4%, where the odd rows fall 0.3% below 14336 (rank vs n -0.89) and rise 0.3% above "
    "(+0.78), and the even rows do not step (+0.2% on mean): no kernel or wave model found that gives both",
    # rocBLAS's gfx942 logic file (tools/import_tensile_sweeps.py): efficiencies in % of peak at a tuning clock the
    # file does not state (Tensile tuning/automation/ConvertToEfficiency.py), timed as one cold event-timed enqueue
    # per size (Tensile's tuning header); the tuning clock and a per-enqueue time fitted on every other size
    # (sizing.tensile_figures), the other half held out.
    "tensile_mi300x_rocblas_fp16": "rank 0.963 (held-out 0.953), median 13.4% (held-out 13.5%, fit half 10.7%) with "
    "the tuning clock (1,300 MHz) and a time per timed enqueue (9.25 us) fitted on every other size; before, at the "
    "2,100 MHz boost clock with nothing fitted, 0.95 / 29.1% (the same 90 held-out sizes 30.5%). Fitted on the other "
    "half instead: 1,305 MHz, 11.25 us, held-out 13.0%. A sourced power-limited clock does worse: AMD's MAF blog's "
    "median clocks under its best fp16/bf16 GEMM, 1,115 / 1,207 MHz, with the enqueue time refitted, give held-out "
    "26.4% / 16.6%; the clock alone (best 1,510 MHz) 23.3%. What is left is the file's own spread: its rows come "
    "from 19 tuning commits (rocBLAS ecf2e9dc2..71ba94f73, 2024-01..09), and the residual follows "
    "the session: the 55 sizes of the first file -3% on median, those added in 71ba94f73 +7%, but 0f5129621 (7 "
    "sizes) +90%, 9d4ab3a48 (9) +55%, 94cc7eaca (9) +153%, 16a2d581f (the 3 batched sizes) +264%. The file's sizes "
    "that were re-measured in a later session change by 15.2% on median (76 pairs; 9.1% for the 31 whose winning "
    "macro tile and split stayed the same, from -25% for 8192x9728x16384 to +50% for 12288x14592x8256): the file "
    "does not reproduce itself to the 10% target",
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


def test_the_two_bmm_runs_of_the_same_shapes_agree_to_a_few_percent():
    # The 4096^3 rows at every batch appear in both bmm logs (bsweep and msweep m = 4096), each run on its own.
    agree = {r["gpu"]: r for r in vsizing.bmm_sweep_agreement().iter_rows(named=True)}
    assert {g: r["rows"] for g, r in agree.items()} == {"a100": 7, "mi250x": 7, "v100": 6}
    # V100 b = 4: 65.159 (bsweep) vs 63.65 (msweep) TFLOP/s, the largest V100 difference.
    assert agree["v100"]["max_abs_difference"] == pytest.approx(abs(63.65 - 65.159) / 65.159, rel=1e-9)
    assert agree["v100"]["spearman_bsweep_vs_msweep"] == pytest.approx(1 - 6 * 16 / (6 * 35))
    assert agree["a100"]["max_abs_difference"] < 0.031 and agree["mi250x"]["max_abs_difference"] < 0.003


def test_v100_batched_fraction_is_fitted_on_fit_half_pairs_only():
    rows = vsizing.sweep_rows()
    fit = [
        (r, vsizing.batched_fit_partner(r["sweep"], json.loads(r["params"])))
        for r in rows.iter_rows(named=True)
        if vsizing.cookbook_fit_key(r["sweep"], json.loads(r["params"])) == "batched"
    ]
    assert len(fit) == 11 and all(r["device"] == "v100-sxm2-32gb" for r, _ in fit)
    ran = vsizing.run().filter(pl.col("group").str.starts_with("cookbook_v100_bmm"))
    role = {(g, p): x for g, p, x in zip(ran["group"], ran["params"], ran["role"], strict=True)}
    for r, partner in fit:
        assert json.loads(r["params"])["batch"] >= 2 and json.loads(partner["params"])["batch"] == 1
        # Both the row and its b = 1 partner are timing fit rows, never held out.
        assert role[("cookbook_" + r["sweep"], r["params"])] == "fit"
        assert role[("cookbook_" + partner["sweep"], partner["params"])] == "fit"

    # Each fit row's rate over its partner's, relative to the model's ratio of the two: without the figure (1.0)
    # 0.70-0.80 (cuBLAS's strided-batched kernels on sm70 against its GEMM), centred on the fitted figure; with it,
    # centred on 1.
    def ratios(dev):
        return sorted(
            (r["value"] / vsizing.predict_cookbook(r, dev))
            / (float(p["value"]) / vsizing.predict_cookbook(p, dev))
            for r, p in fit
        )

    v100 = pm.hwdb.get("v100-sxm2-32gb")
    frac = float(v100["efficiency.batched_gemm_fraction"])
    raw = ratios(v100.with_overrides({"efficiency.batched_gemm_fraction": 1.0}))
    assert raw[0] > 0.69 and raw[-1] < 0.80 and 0.70 <= frac <= 0.75
    assert raw[len(raw) // 2] == pytest.approx(frac, abs=0.02)
    assert ratios(v100)[len(raw) // 2] == pytest.approx(1.0, abs=0.03)


def test_v100_unbatched_tiny_gemms_split_k_and_one_host_time_fits_both_timings():
    # 32 x 4096 x 32 on V100: the engine's whole-K 64 x 64 tile alone takes ~51 us, where the cookbook times the
    # whole call at 24-26 us by mm and by bmm with b = 1; b = 2 (strided-batched, no split-K) takes 73 us.
    v100 = pm.hwdb.get("v100-sxm2-32gb")
    one = pm.roofline.gemm(v100, 32, 32, 4096, dtype="fp16")["time_s"][0]
    two = pm.roofline.gemm(v100, 32, 32, 4096, dtype="fp16", batch=2)["time_s"][0]
    whole_k = pm.roofline.gemm(
        v100.with_overrides({"compute.gemm_split_k": False}), 32, 32, 4096, dtype="fp16"
    )
    assert 45e-6 < whole_k["time_s"][0] < 55e-6 and one < 15e-6
    # b = 2: both tiles whole-K in one wave, at the strided-batched rate (the launch is not scaled).
    launch = float(v100["efficiency.launch_overhead_us"]) * 1e-6
    frac = float(v100["efficiency.batched_gemm_fraction"])
    assert two == pytest.approx(launch + (whole_k["time_s"][0] - launch) / frac, rel=1e-3)
    # The host round trip fitted on the mm m sweep (mean of 100 calls) and on both bmm sweeps (slowest of 199)
    # agree, and the slowest call needs (almost) no ratio over the kernel: 8.25 vs 6.75 us x 1.25 before, 8.25 vs
    # 37.5 us with the batched rate alone; 12.25 vs 13.0 us x 1.005 (one grid step) since the GEMM-stream floor
    # (hwdb gemm_stream_fraction) prices the memory-bound small-m, large-b rows of the fit half.
    f = vsizing.timing_figures()
    mean, slowest = f[("v100", "mean")], f[("v100", "slowest")]
    assert slowest["slowest_ratio"] <= 1.005 and abs(mean["host_s"] - slowest["host_s"]) <= 1e-6
    # The held-out b = 1 rows of the bmm m sweep with m <= 256 (64, 256): 2.1% and 4.1% once split (-65%, -49%
    # priced whole-K).
    ms = vsizing.run().filter(pl.col("group") == "cookbook_v100_bmm_msweep")
    small = ms.filter(
        (pl.col("params").str.json_path_match("$.batch") == "1")
        & (pl.col("params").str.json_path_match("$.m").cast(pl.Int64) <= 256)
        & (pl.col("role") == "holdout")
    )
    assert small.height == 2 and small["error"].abs().max() < 0.05


def test_v100_gemm_stream_floor_is_fitted_on_half_the_skinny_rows_and_holds_on_the_other_half():
    # cookbook_v100_mm_ksweep_low, 27648 x n x 4096 with n <= 128: one 128-column tile covers the output, and V100
    # takes 0.56-0.75 ms per call whatever n (the 226.5 MB operand at 300-400 GB/s). gemm_stream_fraction is fitted
    # on n = 0 (mod 4) (17 rows); the n = 2 (mod 4) rows are held out.
    rows = [r for r in vsizing.sweep_rows().iter_rows(named=True) if r["sweep"] == "v100_mm_ksweep_low"]
    keys = {
        json.loads(r["params"])["n"]: vsizing.cookbook_fit_key(r["sweep"], json.loads(r["params"]))
        for r in rows
    }
    assert sorted(n for n, k in keys.items() if k == "stream") == list(range(64, 129, 4))
    assert all(keys[n] is None for n in range(66, 127, 4))
    v100 = pm.hwdb.get("v100-sxm2-32gb")
    f = float(v100["efficiency.gemm_stream_fraction"])
    assert 0.3 < f < 0.45  # 270-405 GB/s of V100's 900
    # The floor: a skinny GEMM takes its HBM bytes at f x 900 GB/s plus the launch, and is HBM-bound.
    g = pm.roofline.gemm(v100, 27648, 64, 4096, dtype="fp16")
    bytes_ = (27648 * 4096 + 4096 * 64 + 27648 * 64) * 2
    launch = float(v100["efficiency.launch_overhead_us"]) * 1e-6
    assert g["time_s"][0] == pytest.approx(bytes_ / (f * 900e9) + launch, rel=1e-12)
    assert g["bound"][0] == "hbm"
    # Without the figure the model priced n <= 128 36% fast on median; with it the held-out half is within 13%.
    ran = vsizing.run().filter(pl.col("group") == "cookbook_v100_mm_ksweep_low")
    n = ran["params"].str.json_path_match("$.n").cast(pl.Int64)
    held = ran.filter((n <= 128) & (n % 4 == 2))
    assert held.height == 16 and set(held["role"]) == {"holdout"}
    assert held["error"].abs().median() < 0.11 and held["error"].abs().max() < 0.13
    # A compute-bound GEMM does not feel it, and A100 (no figure) is untouched.
    big = pm.roofline.gemm(v100, 8192, 8192, 8192, dtype="fp16")
    assert big["bound"][0] == "compute"
    assert pm.hwdb.get("a100-sxm4-80gb").get("efficiency.gemm_stream_fraction") is None


def test_a_dtype_the_device_lacks_names_the_ones_it_has():
    # V100 has no bf16 (the advisor's default): the error suggests fp16, not bf16 itself.
    for call in (
        lambda: pm.llm.sizing("llama2-7b", "v100-sxm2-32gb"),
        lambda: pm.llm.sizing_sweep(["v100-sxm2-32gb"], hidden=4096, heads=32),
    ):
        with pytest.raises(pm.PerfModelError, match=r"v100-sxm2-32gb \(fp16\); did you mean 'fp16'\?"):
            call()


def test_mi250x_fp16_prices_the_kernel_rocblas_selects():
    from perfmodel import _core

    dev = pm.hwdb.get("mi250x-gcd")
    # PyTorch's 2304 x n x 4096 is rocBLAS's M = n, N = 2304; n = 1792 and 1856 are nearest to the benchmarked
    # [2048, 2048, 3840] of aldebaran_Cijk_Ailk_Bljk_HHS_BH.yaml (rocBLAS @ dd5b39d05): solution 31, a 256 x 160
    # macro tile. 7 x 15 = 105 tiles fill one wave of 110 CUs, 8 x 15 = 120 need two.
    n = np.array([1792.0, 1856.0])
    tm, tn, tiles, waves, units, aligned, *_ = _core.roofline_gemm_schedule(
        dev._handle, "fp16", "row", np.full(2, 2304.0), n, np.full(2, 4096.0), np.ones(2)
    )
    assert (list(tm), list(tn), list(tiles), list(waves), list(units)) == (
        [160.0] * 2,
        [256.0] * 2,
        [105.0, 120.0],
        [1.0, 2.0],
        [110.0] * 2,
    )
    # The measured drops of the wave-quantization sweep (a rate more than 5% below the previous n) are n = 1856,
    # 3136, 3648, 4864 and 5440 (mi250x.out); every drop the model prices is one of them. At 4864 rocBLAS switches
    # from 256 x 160 tiles (3 waves) to 128 x 128 (7 waves), which the model prices 8% up: it gives every macro tile
    # the same rate per CU, where these measure 128 x 128 about 10% below 256 x 160.
    sweep = vsizing.run().filter(pl.col("group") == "cookbook_mi250x_mm_ksweep_high")
    ns = [json.loads(p)["n"] for p in sweep["params"]]

    def drops(col):
        v = sweep[col].to_list()
        return {ns[i] for i in range(1, len(v)) if v[i] < 0.95 * v[i - 1]}

    assert drops("measured") == {1856, 3136, 3648, 4864, 5440}
    assert drops("predicted") == {1856, 3136, 3648, 5440}
    # bf16 has no table on MI250X: the generic tiles.
    big = np.array([8192.0])
    bf16 = _core.roofline_gemm_schedule(dev._handle, "bf16", "row", big, big, big, np.ones(1))
    assert (bf16[0][0], bf16[1][0]) == (256.0, 128.0)


def test_mi250x_vector_kernel_rate_is_fitted_on_its_own_rows():
    # rocBLAS's gfx90a table runs m <= 256 of the m sweep (M = N = m, K = 4096) on its 4 x 16 vector kernel with
    # global split-U 8 (solution 242); its rate is gemm_library_vector_fraction of the vector peak, fitted on the 5
    # bmm rows of the timing fit half with >= 1 GFLOP per call. m = 256 at b = 32 (fit half, 17 GFLOP) measures
    # 62 TFLOP/s, above MI250X's 23.9 TFLOP/s vector peak: no vector kernel ran it, so it is not a fit row.
    fit = [
        (p["m"], p["batch"])
        for r in vsizing.sweep_rows().iter_rows(named=True)
        for p in [json.loads(r["params"])]
        if vsizing.cookbook_fit_key(r["sweep"], p) == "vector16"
    ]
    assert sorted(fit) == [(64, 32), (128, 16), (128, 64), (256, 2), (256, 8)]
    dev = pm.hwdb.get("mi250x-gcd")
    frac = dev.get("efficiency.gemm_library_vector_fraction")
    assert 0.05 < frac < dev.get("efficiency.gemm_library_fraction")
    # 256 x 256 x 4096 at b = 8: 8 x 64 x 16 x 8 = 65,536 tiles of 4 x 16 x 512, ceil(/110) = 596 waves, each one
    # tile's FLOPs at the vector rate per CU plus the 1 us tile overhead, then the 4 us launch (compute-bound:
    # 12.6 MB of HBM traffic take 9 us).
    rate = 23.9e12 * frac / 110
    body = 596 * (2 * 4 * 16 * 512 / rate + 1e-6)
    t = pm.roofline.gemm(dev, 256, 256, 4096, dtype="fp16", batch=8)["time_s"][0]
    assert t == pytest.approx(body + 4e-6, rel=1e-3)


def test_tensile_rows_are_efficiencies_priced_at_the_tuning_clock():
    # Tensile tuning/automation/ConvertToEfficiency.py @ a164ed70d rewrites each figure as 100 x GFLOP/s / (sclk x
    # FLOP/cycle/CU x CUs): a percentage, so no figure of the file exceeds 100 (its largest, 98304^3, is 91.294).
    rows = vsizing.tensile_rows()
    assert set(rows["metric"]) == {"efficiency"} and 90 < rows["value"].max() <= 100
    priced = {r["operation"]: r for r in vsizing._tensile_rows(2100, 0.0)}
    big = priced["rocBLAS Tensile 98304x98304x98304 fp16"]
    assert big["measured"] == 91.294
    tflops = pm.roofline.gemm(pm.hwdb.get("mi300x"), 98304, 98304, 98304, dtype="fp16")["tflops"][0]
    # at the boost clock the peak is the datasheet's 1,307.4 TFLOP/s (2,048 FLOP/cycle/CU x 304 CUs x 2.1 GHz)
    assert big["predicted"] == pytest.approx(100 * tflops / (2048 * 304 * 2.1e9 / 1e12), rel=1e-4)
    # half the clock, half the peak: twice the efficiency; figures given, not fitted, so every row is held out
    assert vsizing._tensile_rows(1050, 0.0)[0]["predicted"] == pytest.approx(
        2 * vsizing._tensile_rows(2100, 0.0)[0]["predicted"]
    )
    assert {r["role"] for r in priced.values()} == {"holdout"}
    # 10 us more per timed enqueue: the 4864 x 6144 x 4096 row's kernel (first in the file) takes F / (rate) s
    first = vsizing._tensile_rows(2100, 0.0)[0]
    f = 2.0 * 4864 * 6144 * 4096
    t = f / (first["predicted"] / 100 * 1307.4e12)
    assert vsizing._tensile_rows(2100, 10e-6)[0]["predicted"] == pytest.approx(
        100 * f / (t + 10e-6) / 1307.4e12
    )


def test_tensile_setup_figures_are_fitted_on_every_other_size():
    f = vsizing.tensile_figures()["tensile_mi300x_rocblas_fp16"]
    rows = vsizing._tensile_rows()
    # 181 sizes, every other from the first: 91 fit, 90 held out, alternating in the file's order.
    assert f["rows"] == 91 and [r["role"] for r in rows] == ["fit", "holdout"] * 90 + ["fit"]
    assert "every other size" in f["fitted_on"]
    # The tuning clock lies between AMD's MAF blog's median clock under its heaviest fp16 GEMM (1,115 MHz, a sustained
    # power-limited run; published_measurements.csv) and the 2,100 MHz boost; the time per enqueue is a few us to
    # tens of us (a launch and two event markers, not a host round trip of ms).
    assert 1115 <= f["clock_mhz"] <= 2100 and 1e-6 <= f["call_s"] <= 30e-6
    # The fit's median is the upper median of the fit half's |errors| as the rows report them.
    fit = sorted(abs(r["predicted"] / r["measured"] - 1) for r in rows if r["role"] == "fit")
    assert f["median_abs_error"] == pytest.approx(fit[len(fit) // 2], rel=1e-9)

    # The figures carry to the held-out half: its median falls from 30.5% (boost clock, nothing fitted) to below 15%.
    def held_out(rs):
        errs = [abs(r["predicted"] / r["measured"] - 1) for i, r in enumerate(rs) if i % 2 == 1]
        return sorted(errs)[len(errs) // 2 - 1 : len(errs) // 2 + 1]

    assert min(held_out(vsizing._tensile_rows(2100, 0.0))) > 0.28
    assert max(held_out(rows)) < 0.15


def test_a_malformed_gemm_library_is_an_error_naming_its_key(tmp_path):
    text = (
        (ROOT / "hwdb" / "devices" / "mi250x-gcd.toml")
        .read_text()
        .replace('id = "mi250x-gcd"', 'id = "my-gcd"')
    )
    first = text.index("solutions = [") + len("solutions = [\n  ")
    bad = tmp_path / "my-gcd.toml"
    bad.write_text(text[:first] + "[256,128]," + text[first:])
    with pytest.raises(
        pm.HwdbError, match=r"gemm_library\.solutions.*row 0: expected 12 non-negative numbers"
    ):
        pm.hwdb.load(bad)
    bad.write_text(text.replace("sizes = [\n  [", "sizes = [\n  [1,1,1,9999,1.0], [", 1))
    with pytest.raises(pm.HwdbError, match=r"gemm_library\.sizes.*solution 9999 is not one of the 311"):
        pm.hwdb.load(bad)
    # The operand-feed penalty needs both of its figures.
    bad.write_text(re.sub(r"\ngemm_library_feed_exponent = [0-9.]+", "", text))
    with pytest.raises(pm.HwdbError, match=r"gemm_library_feed_exponent.*missing"):
        pm.hwdb.load(bad)


# ZAYA1's MI300X sizing rules (Anthony et al., "Training Foundation Models on a Full-Stack AMD Platform",
# arXiv:2511.17127, its "MI300X-aware transformer sizing rules"): the head dimension a multiple of 64, typically 128;
# the vocabulary divisible by 64 (ZAYA1's own 262,272 = 64 x 4,098); GEMM widths (hidden, MLP) multiples of 64. The
# paper's text was not reachable from this project's machines (abstract only; the rule wording is the and
# secondary summaries': emergentmind.com/topics/mi300x-aware-transformer-sizing-rules), so no section is cited. What
# `pm.llm.sizing_rules` derives from the engine, on MI300X and MI325X (bf16, 4 x 2,048 tokens):
_ZAYA1_DEVICES = ["mi300x", "mi325x"]


@pytest.fixture(scope="module")
def amd_rules():
    return {r["device"]: r for r in pm.llm.sizing_rules(_ZAYA1_DEVICES).iter_rows(named=True)}


@pytest.mark.parametrize(
    ("rule", "published"),
    [
        pytest.param("hidden_multiple", 64, id="gemm_widths_multiple_of_64"),
        pytest.param(
            "best_head_dim",
            128,
            id="head_dim_multiple_of_64_typically_128",
            marks=pytest.mark.xfail(
                strict=True,
                reason="the engine now runs each head dim as CK's FMHA instantiates it on gfx942 (forward 32, 64, 128, "
                "192, 256; others padded up; 128-row blocks of 4 warps at every head dim), so 80, 96 and 160 pay for "
                "their padding and the multiple-of-64 part holds, but nothing sourced makes 256 slower per FLOP than "
                "128 on CDNA3: MI300X 243.8 / 167.6 / 200.9 / 267.2 / 230.4 / 276.1 / 280.7 TFLOP/s at 64 / 80 / 96 / "
                "128 / 160 / 192 / 256 (MI325X 291.4 / 200.4 / 240.1 / 319.3 / 275.4 / 329.8 / 335.3; 4 x 2,048 "
                "causal tokens, hidden 4,096), best 256, not 128. CK runs 256 on its synchronous `qr` pipeline (the "
                "others `qr_async`), a cost no published MI300X measurement prices",
            ),
        ),
        pytest.param(
            "vocab_multiple",
            64,
            id="vocab_divisible_by_64",
            marks=pytest.mark.xfail(
                strict=True,
                reason="MI300X/MI325X have no unaligned-GEMM measurement (hwdb unaligned_gemm_fraction absent: 1; "
                "rocBLAS's gfx942 fp16 logic file benchmarks 3 sizes with a dimension not a multiple of 8, none with "
                "an aligned twin, as efficiencies at a tuning clock it does not state, so no fraction can be fitted "
                "on it), so "
                "the logits GEMM (8,192 tokens x 4,096 x vocab) prices the unpadded 50,257 at 99.65% of the best "
                "padding (50,432, a multiple of 256) and multiples of 8 at 99.67%: the derived vocabulary "
                "multiple is 8, not 64",
            ),
        ),
    ],
)
def test_zaya1_rule(amd_rules, rule, published):
    for d in _ZAYA1_DEVICES:
        assert amd_rules[d][rule] == published, d


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
    # (The attention sweeps' runs are kept as each shape's min/max of 4 runs, not per run: no ceiling.)
    own = summary.filter(
        (pl.col("group").str.starts_with("h1") | pl.col("group").str.starts_with("h2"))
        & ~pl.col("group").str.contains("attention")
    )
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
