"""Serving suite, TensorRT-LLM throughput and APEX replay parts: fast checks only (a few simulations, no fit)."""

from __future__ import annotations

import json
import math

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel.validation import ROW_COLUMNS
from perfmodel.validation import serving_apex as apex
from perfmodel.validation import serving_trtllm as trt

ROW_KEYS = set(ROW_COLUMNS) - {"error"}


def _case(frame: pl.DataFrame, **eq: object) -> dict:
    f = frame
    for k, v in eq.items():
        f = f.filter(pl.col(k) == v)
    assert f.height >= 1, eq
    return f.row(0, named=True)


def test_trtllm_rows_predicted_end_to_end() -> None:
    c = trt.predictable()
    for row in (
        _case(
            c,
            model_id="llama2-7b",
            system_id="dgx-h100",
            framework_version="v0.10",
            dtype="fp8",
            isl=128,
            osl=128,
        ),
        _case(c, model_id="llama2-7b", system_id="dgx-a100", framework_version="v0.6", isl=2048, osl=128),
    ):
        p = trt.predict(row, {})
        assert math.isfinite(p) and p > 0
        # within a factor of 3 of the table (uncalibrated engine)
        assert 1 / 3 < p / row["output_tokens_per_s"] < 3, (row["row"], p, row["output_tokens_per_s"])
    # static-batch rows simulate one batch of batch_size; in-flight rows the table's count, capped
    static = _case(c, batching="static")
    assert trt.num_requests(static) == static["batch_size"]
    inflight = _case(c, batching="inflight")
    assert trt.num_requests(inflight) == min(
        inflight["num_requests"], trt.MAX_OUTPUT_TOKENS // inflight["osl"]
    )


def test_trtllm_rows_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    two = trt.predictable().filter(pl.col("model_id") == "llama2-7b").head(2)
    monkeypatch.setattr(trt, "predictable", lambda: two)
    rows = trt.rows({"dgx-h100": {"kernel_time_scale": 1.2}})
    assert len(rows) == 2
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["group"] == "trtllm_throughput" and r["suite"] == "serving"
        assert r["role"] in ("fit", "holdout") and r["predicted"] > 0
        assert json.loads(r["params"])["csv_row"] >= 0


def test_unpredicted_have_reasons() -> None:
    # TensorRT-LLM has excluded rows (the split's); every APEX replay's model now has a preset.
    assert trt.unpredicted().height > 0
    for mod in (trt, apex):
        u = mod.unpredicted()
        assert all(isinstance(w, str) and w.strip() for w in u["reason"].to_list())
        assert set(u["kind"].to_list()) <= {"no_preset", "no_system", "does_not_fit", "excluded", "no_osl"}
    # every case is either predicted or listed, never silently dropped
    assert trt.predictable().height + trt.unpredicted().height == trt.cases().height
    assert apex.predictable().height + apex.unpredicted().height == apex.cases().height


def test_trtllm_fit_residuals_finite_at_start() -> None:
    residuals, starts, (lo, hi), rows = trt.fit_residuals("dgx-a100")
    assert len(rows) > 0 and all(r["role"] == "fit" for r in rows)
    assert np.all(lo <= starts[0]) and np.all(starts[0] <= hi)
    res = residuals(starts[0])
    assert res.shape == (len(rows),) and np.all(np.isfinite(res))


def test_engine_figures_translate_comm() -> None:
    out = trt.engine_figures({"comm_time_scale": 2.0, "kernel_time_scale": 1.1})
    assert out["kernel_time_scale"] == 1.1
    assert out.get("comm_time_scale", 2.0) == 2.0 or out["comm_bandwidth_scale"] == 0.5
    unc = trt.uncalibrated_figures()
    assert unc["kernel_time_scale"] == 1.0 and unc["iteration_overhead_s"] == 0.0


def test_apex_replay_predicted_end_to_end() -> None:
    c = apex.predictable()
    row = _case(c, model_id="llama3.1-70b", framework="vllm", trace="lmsys_05", tp=2)
    p = apex.predict(row)
    assert set(p) == {"mean_ttft_s", "mean_tpot_s", "mean_e2e_s", "sglang_first_output_s"}
    assert all(math.isfinite(v) and v > 0 for v in p.values())
    assert 0.2 < p["mean_tpot_s"] / row["mean_tpot_s"] < 5
    assert 0.1 < p["mean_ttft_s"] / row["mean_ttft_s"] < 10
    # summarization traces are not packaged: a synthetic trace with the same request count and token sums
    summ = _case(c, trace="summarization_05", tp=8)
    t = apex.trace(summ)
    assert (
        t.height == summ["num_requests"] and int(t["prompt_tokens"].sum()) == summ["trace_prompt_tokens_sum"]
    )


def test_apex_rows_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    one = apex.predictable().filter((pl.col("trace") == "lmsys_05") & (pl.col("tp") == 2))
    monkeypatch.setattr(apex, "predictable", lambda: one)
    rows = apex.rows()
    assert {r["group"] for r in rows} == {"apex_ttft", "apex_tpot"}
    assert {r["metric"] for r in rows} == {"mean_ttft", "mean_tpot"}
    for r in rows:
        # Llama-3.1-70B fits vLLM v0.6.0's launch figure; Mistral-Large is held out
        role = "fit" if json.loads(r["params"])["model"] == "llama3.1-70b" else "holdout"
        assert set(r) == ROW_KEYS and r["role"] == role and r["unit"] == "s" and r["predicted"] > 0


def test_apex_sglang_rows_are_reported_first_output_times(monkeypatch: pytest.MonkeyPatch) -> None:
    one = apex.predictable().filter((pl.col("framework") == "sglang") & (pl.col("trace") == "lmsys_05"))
    monkeypatch.setattr(apex, "predictable", lambda: one.head(1))
    rows = apex.rows()
    # SGLang's script prints no usable TPOT (not in the CSV): one row, the first-output time, reported
    assert [(r["group"], r["metric"], r["role"]) for r in rows] == [
        ("apex_sglang_first_output", "mean_first_output", "reported")
    ]


def test_apex_server_sessions_accumulate_like_vllm_metrics() -> None:
    # scale_4TP.sh sends lmsys_05 (1024 requests) then creation_05 (512) to one server and reads its cumulative
    # /metrics after each: creation_05's TTFT is the mean over both replays, its TPOT the gap sum over both gap
    # counts; a TP8 replay (8TP.sh: a fresh server per trace) is its own run.
    c = apex.cases()
    creation = _case(c, model_id="llama3.1-70b", framework="vllm", trace="creation_05", tp=4)
    lmsys = _case(c, model_id="llama3.1-70b", framework="vllm", trace="lmsys_05", tp=4)
    a, b = apex._run(lmsys, ()), apex._run(creation, ())
    assert (a["requests"], b["requests"]) == (1024, 512)
    p = apex.predict(creation)
    assert p["mean_ttft_s"] == pytest.approx((a["ttft_sum"] + b["ttft_sum"]) / 1536, rel=1e-12)
    assert p["mean_tpot_s"] == pytest.approx(
        (a["gap_sum"] + b["gap_sum"]) / (a["gaps"] + b["gaps"]), rel=1e-12
    )
    assert apex.predict(lmsys)["mean_ttft_s"] == pytest.approx(a["ttft_sum"] / 1024, rel=1e-12)
    tp8 = _case(c, model_id="llama3.1-70b", framework="vllm", trace="creation_05", tp=8)
    r8 = apex._run(tp8, ())
    assert apex.predict(tp8)["mean_ttft_s"] == pytest.approx(r8["ttft_sum"] / r8["requests"], rel=1e-12)
    # the Mistral-Large replays ran an fp8 KV cache (--kv-cache-dtype fp8), the Llama ones the 16-bit default
    assert apex.kv_dtype_of(_case(c, model_id="mistral-large-2407", tp=2)) == "fp8"
    assert apex.kv_dtype_of(lmsys) is None


def test_sglang_first_output_by_hand() -> None:
    # A 10-token request (output at its end: first token + 9 gaps), a 200-token one (the 50th token: + 49 gaps)
    # and a 1-token one (no gap; its TPOT is undefined).
    reqs = pl.DataFrame(
        {"output_tokens": [10, 200, 1], "ttft_s": [0.1, 0.2, 0.3], "tpot_s": [0.01, 0.02, float("nan")]}
    )
    want = ((0.1 + 9 * 0.01) + (0.2 + 49 * 0.02) + 0.3) / 3
    assert apex.sglang_first_output_s(reqs) == pytest.approx(want, rel=1e-12)


def test_vllm_060_launch_figure_is_the_fit_on_the_llama_replays() -> None:
    figures, report = apex.fit_launch()
    assert report["replays"] == 11 and report["residuals"] == 22
    # the kept figure is the fit (to its 0.1 us rounding) and lies inside the bounds, not on them
    tables = pm.hwdb.get(apex.SYSTEM).to_dict()["serving"]
    kept = next(t for t in tables if t["framework"] == apex.FRAMEWORK_CLASS)
    assert figures["kernel_launch_s"] == pytest.approx(kept["kernel_launch_us"] * 1e-6, abs=1e-7)
    assert "Llama-3.1-70B" in kept["fitted_on"] and "held out" in kept["fitted_on"]
    assert 0.0 < figures["kernel_launch_s"] * 1e6 < report["bounds_us"][1]


def test_trtllm_kv_format_follows_the_published_engine_configs() -> None:
    c = trt.predictable()
    # v0.10: every network configuration file sets kv_cache_quant_algo FP8 with FP8 weights (H100 only)
    assert trt.kv_dtype_of(_case(c, system_id="dgx-h100", framework_version="v0.10", dtype="fp8")) == "fp8"
    assert trt.kv_dtype_of(_case(c, system_id="dgx-h100", framework_version="v0.10", dtype="fp16")) is None
    assert trt.kv_dtype_of(_case(c, system_id="dgx-a100", framework_version="v0.10")) is None
    # v0.6.1 table: "fp8 (fp8 KV)"; v1.0: ModelOpt FP8 checkpoints
    assert trt.kv_dtype_of(_case(c, framework_version="v0.6", dtype="fp8")) == "fp8"
    assert trt.kv_dtype_of(_case(c, framework_version="v1.0")) == "fp8"


def test_trtllm_bench_settings_by_hand() -> None:
    # Llama-3.1-8B FP8 on one H100, 128/2048 (tensorrt_llm/bench/build/tuning.py): engine 8.03e9 B = 7.48 GiB,
    # available 80 - 7.48 = 72.52 GiB, KV 2 x 32 layers x 8 heads x 128 x 1 B = 64 KiB per token,
    # 0.9 x 72.52 GiB / (64 KiB x 2176) = 491.4 requests -> batch 128 x ceil(491.4/128) = 512; tokens
    # 491.4 x (1 + 128/2048) = 522 -> 2048, and max(2048, isl + batch = 640) = 2048.
    c = trt.predictable()
    r = _case(c, model_id="llama3.1-8b", framework_version="v1.0", isl=128, osl=2048)
    assert trt.trtllm_bench_settings(r) == (512, 2048)
    # 20000/2000: 48.6 requests -> the minimum batch 64; tokens raised to isl + batch (no chunked prefill)
    r = _case(c, model_id="llama3.1-8b", framework_version="v1.0", isl=20000, osl=2000)
    assert trt.trtllm_bench_settings(r) == (64, 20064)
    # the simulated limit: no more sequences than whole requests fit the KV cache (guaranteed_no_evict)
    lim = trt._bench_limits(r)
    assert 1 <= lim["max_num_seqs"] <= 64 and lim["max_num_batched_tokens"] == 20064
    assert trt._bench_limits(_case(c, framework_version="v0.10")) == {}
