"""The ``measured`` suite: the model against this project's own H100/H200 measurements (tools/measure_gpu.py).

H100 rows were used in its fits (``measured.fit_key``: attention, cuDNN attention, unaligned GEMMs, aligned
GEMMs of every dimension >= 2048); the assertions below are holdout checks (H200, which inherits H100's fractions;
HBM kernels and training steps, which no fit used). Bounds are the errors seen when the data were imported
(2026-11-23) with a little room; the known gaps (small GEMMs, PyTorch's row-wise kernels, L2-resident copies,
eager training steps) are reported in validation/measured_summary.json, not asserted.
"""

import json
from pathlib import Path

import perfmodel as pm
import perfmodel.validation as v
import polars as pl
from perfmodel.validation import measured

ROOT = Path(__file__).resolve().parent.parent


def _rows(group_suffix: str) -> list[dict]:
    """Rows of groups ending in ``group_suffix``, each with its params decoded under ``p``."""
    df = measured.run().filter(pl.col("group").str.ends_with(group_suffix))
    return [{**r, "p": json.loads(r["params"])} for r in df.iter_rows(named=True)]


def _median_and_max(errs: list[float]) -> tuple[float, float]:
    """Median (upper middle) and maximum of absolute errors."""
    a = sorted(abs(e) for e in errs)
    return a[len(a) // 2], a[-1]


def test_every_measured_row_is_predicted_or_skipped_with_a_reason():
    assert len(measured.run()) + len(measured.skipped()) == measured.measurements().height
    assert all(reason for _, reason in measured.skipped())
    # The imported value is the median of the runs, inside their range.
    for r in measured.measurements().iter_rows(named=True):
        p = json.loads(r["params"])
        assert p["run_min"] - 1e-3 <= r["value"] <= p["run_max"] + 1e-3 and p["runs"] >= 1, r["operation"]


def test_hbm_stream_kernels_on_h100_and_h200():
    # H100's hbm_fraction was fitted on published BabelStream rows; H200 inherits it. Elementwise kernels over
    # 1 GiB fp32 arrays (mul, add, triad, sum) on both GPUs: within 7 % (seen: at most 6.2 %, sum on H200).
    picked = [
        r
        for r in _rows("/stream")
        if r["p"]["kernel"] in ("mul", "add", "triad", "sum") and r["p"]["array_bytes"] == 2**30
    ]
    assert len(picked) == 8
    for r in picked:
        assert abs(r["error"]) <= 0.07, (r["system"], r["operation"], r["error"])


def test_flash_attention_schedule_on_h200():
    # The attention work model (per-block fixed costs, causal diagonal and triangle, backward rate) was fitted on
    # the H100 rows; H200 has the same SMs and inherits H100's fraction, so its 48 rows (forward and
    # forward+backward, causal or not, d 64/128, sequence 512-16384) are the check: median within 5 %, every
    # row within 17 % (seen: 4.0 % and 15.5 %). Before the work model the same rows had median 13 %, max 130 %.
    errs = [r["error"] for r in _rows("/attention_flash") if r["system"] == "h200-sxm-141gb"]
    assert len(errs) == 48
    median, worst = _median_and_max(errs)
    assert median <= 0.05 and worst <= 0.17, errs


def test_cudnn_attention_on_h200():
    # H100's cuDNN attention fraction was fitted on its 48 cuDNN SDPA rows with the scores' non-matrix work as its
    # own resource (attention_cudnn_softmax_fraction, its special-function and FP32 pipes concurrent); H200 states
    # H100's: median within 5 %, every row within 21 % (seen: 4.0 % and 17.9 %, the worst the short causal d = 64
    # row at s 512, priced slow; with the two pipes summed 4.3 % and 23.7 %, with the plain tile alone 11.6 % and
    # 19.1 %, with the FlashAttention-2 figure 41 % / 48 %).
    errs = [r["error"] for r in _rows("/attention_cudnn") if r["system"] == "h200-sxm-141gb"]
    assert len(errs) == 48
    median, worst = _median_and_max(errs)
    assert median <= 0.05 and worst <= 0.21, errs


def test_unaligned_gemms_and_vocabulary_on_h200():
    # H100's unaligned-GEMM fraction was fitted on its two unaligned rows; H200 inherits it. Its own two rows
    # (8191^3, 1024x2145x1024) within 15 % (seen: 12.3 %), and the 350M training step with the unpadded GPT-2
    # vocabulary (50257: an unaligned output layer) now as close as the padded one (seen: -25.6 % and -24.3 %).
    unaligned = [r for r in _rows("/gemm_unaligned") if r["system"] == "h200-sxm-141gb"]
    assert len(unaligned) == 2 and all(abs(r["error"]) <= 0.15 for r in unaligned), unaligned
    steps = {r["p"]["vocab"]: r["error"] for r in _rows("/train_step")
             if r["system"] == "h200-sxm-141gb" and r["metric"] == "step_time_ms" and r["p"]["hidden"] == 1024}  # fmt: skip
    assert abs(steps[50257] - steps[50304]) <= 0.03, steps


def test_large_aligned_gemms_on_h200():
    # H100's 16-bit and 8-bit GEMM fractions are fitted on its published rows and its own aligned GEMMs of every
    # dimension >= 2048; H200 (same SMs and clocks) inherits them. Its 30 such rows (bf16/fp16/fp8/tf32/fp32,
    # squares and LLM layer shapes): median within 10 %, none beyond 25 % (seen: 6.7 % and 20.8 %, bf16 8192^3,
    # which ran slower than both its neighbours on both GPUs).
    big = [
        r
        for r in _rows("/gemm")
        if r["system"] == "h200-sxm-141gb" and min(r["p"]["m"], r["p"]["n"], r["p"]["k"]) >= 2048
    ]
    assert len(big) == 30
    median, worst = _median_and_max([r["error"] for r in big])
    assert median <= 0.10 and worst <= 0.25, (median, worst)


def test_stored_summary_matches_and_has_not_regressed():
    stored = json.loads((ROOT / "validation" / "measured_summary.json").read_text())
    fresh = v.summarize(v.run("measured"), ("group", "role")).to_dicts()
    old = {(g["group"], g["role"]): g for g in stored["groups"]}
    assert len(fresh) == len(old)
    for g in fresh:
        before = old[(g["group"], g["role"])]
        assert g["rows"] == before["rows"]
        assert g["median_abs_error"] <= before["median_abs_error"] + 0.005
        assert g["max_abs_error"] <= before["max_abs_error"] + 0.005


def test_single_gpu_training_step_memory_on_h100_and_h200():
    # Peak memory of plain-PyTorch GPT steps (350M, 1.3B, 2.7B on both GPUs, 6.7B on H200;
    # tools/measure_train_step.py) against the memory model (16 bytes per parameter, Korthikanti activations with
    # flash attention, Megatron's output-layer term): within 20 % (seen: -18 % for 350M, whose unfused fp32
    # cross-entropy over 50k logits the model does not count; -2 %, +6 % and +8 % for 1.3B, 2.7B and 6.7B).
    rows = [r for r in _rows("/train_step") if r["metric"] == "peak_memory_gb"]
    assert len(rows) == 9
    for r in rows:
        assert abs(r["error"]) <= 0.20, (r["system"], r["operation"], r["error"])


def test_graph_replayed_rows_pay_the_measured_graph_floor():
    # tools/measure_gpu.py times CUDA-graph replays of back-to-back calls. The one-element kernel under graph replay
    # is each GPU's floor (0.99 us H100, 0.84 us H200: the figure's own row, role fit); the 64^3 GEMM (held out) then
    # prices at the floor plus one wave's tile overhead: within 12 % (seen -5.1 % and -10.1 %; +215 % and +255 % at
    # the engine's 4 us launch, which training and serving keep).
    launch = {(r["system"], r["operation"]): r for r in _rows("/launch")}
    assert len(launch) == 4
    for gpu, floor_us in (("h100-sxm5-80gb", 0.9947), ("h200-sxm-141gb", 0.8391)):
        assert measured.graph_launch_us(gpu) == floor_us
        assert launch[(gpu, "add_ one element (graph)")]["role"] == "fit"
        gemm64 = launch[(gpu, "matmul bf16 64x64x64 (graph)")]
        assert gemm64["role"] == "holdout" and abs(gemm64["error"]) <= 0.12, gemm64
    # The floor applies to aligned GEMMs whose operands and output stay in the 50 MiB L2 between replays: 2048^3
    # bf16 (24 MiB) but not 3072^3 (54 MiB), nor the unaligned 1024 x 2145 x 1024 (other kernels).
    h100 = pm.hwdb.get("h100-sxm5-80gb")

    def floor(shape: tuple[int, int, int]) -> bool:
        m, n, k = shape
        p = json.dumps({"m": m, "n": n, "k": k, "dtype": "bf16"})
        row = {"device": "h100-sxm5-80gb", "group": "gemm", "params": p}
        return measured.replay_spec(row, h100).overrides == {"efficiency.launch_overhead_us": 0.9947}

    assert floor((2048, 2048, 2048)) and not floor((3072, 3072, 3072)) and not floor((1024, 2145, 1024))
    # The small held-out squares (256^3, 512^3 bf16) within 20 % on both GPUs (seen +7.6 / +10.7 % on H100, +15.2 /
    # +14.6 % on H200; -51 / -44 % at the engine's 4 us, which is most of their 2.7 / 3.4 us per call).
    small = [
        r
        for r in _rows("/gemm")
        if r["p"]["dtype"] == "bf16"
        and r["p"]["m"] == r["p"]["n"] == r["p"]["k"]
        and r["p"]["m"] in (256, 512)
    ]
    assert len(small) == 4 and all(r["role"] == "holdout" and abs(r["error"]) <= 0.20 for r in small), small
