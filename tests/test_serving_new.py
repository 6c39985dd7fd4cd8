"""Suite ``serving_new``: InferenceMAX / InferenceX DeepSeek-R1 serving rows on B200, B300, H200, MI300X, MI325X and
MI355X, simulated with closed-loop clients (docs/mlperf5_validation.md, "Serving on the new hardware")."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel import hwdb
from perfmodel.validation import serving_new as v

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return v.run()


def test_importer_rows_sources_and_exclusions() -> None:
    d = pl.read_csv(v.DATA, infer_schema_length=None)
    assert d.height == 435  # every entry of the API snapshot, modelled or not
    assert d.filter(pl.col("excluded").is_null()).height == 120
    assert v.excluded() == {
        "speculative decoding (mtp)": 157,
        "disaggregated prefill/decode (dynamo-trt)": 77,
        "disaggregated prefill/decode (dynamo-sglang)": 52,
        "disaggregated prefill/decode (mori-sglang)": 15,
        "framework 'atom' has no framework class": 14,
    }
    for r in d.iter_rows(named=True):
        assert (
            r["source_repo"]
            and r["source_path"].endswith("benchmarks.json")
            and len(r["source_commit"]) == 40
        )
        assert r["run_url"].startswith("https://github.com/SemiAnalysisAI/InferenceX/actions/runs/")
        assert r["range_ratio"] == 0.8 and r["num_prompts"] == 10 * r["conc"]


def test_history_rows_are_the_other_nightly_results_all_held_out(rows: pl.DataFrame) -> None:
    # benchmarks-history.json less the latest entries: 1,231 results, 789 modelled (other dates and framework
    # versions of the same configurations), none in any fit; 3 refused by the engine (KV cache), reported.
    h = pl.read_csv(v.HISTORY, infer_schema_length=None)
    assert h.height == 1231 and v.history().height == 789
    assert set(h["source_path"]) == {"packages/app/cypress/fixtures/api/benchmarks-history.json"}
    summary = json.loads((ROOT / "validation" / "serving_new_summary.json").read_text())
    got = rows.filter(pl.col("group") == "inferencex_history_output_tput_per_gpu").height
    assert got == 789 - summary["history_rows_refused_by_the_engine"] and got >= 780


def test_a_row_is_simulated_as_the_benchmark_ran_it() -> None:
    # B200 SGLang FP8 TP8, 1k/1k at concurrency 64: 640 requests, lengths uniform in [819, 1024], at most 64 in
    # flight; throughput per GPU over the run is the closed loop's C / mean E2E x mean output / tp (Little's law;
    # the drain of the last 64 requests is 1/10 of the run, hence the tolerance).
    r = v.cases().filter((pl.col("hardware") == "b200") & (pl.col("framework") == "sglang")
                         & (pl.col("precision") == "fp8") & (pl.col("isl") == 1024) & (pl.col("osl") == 1024)
                         & (pl.col("conc") == 64)).row(0, named=True)  # fmt: skip
    sim = v.simulate(r)
    req = sim.requests
    assert req.height == 640
    assert req["prompt_tokens"].min() >= 819 and req["prompt_tokens"].max() <= 1024
    assert req["output_tokens"].min() >= 819 and req["output_tokens"].max() <= 1024
    little = 64 / float(req["e2e_s"].mean()) * float(req["output_tokens"].mean()) / r["tp"]
    per_gpu = v.predict(r)["output_tput_per_gpu"]
    assert per_gpu <= little * (1 + 1e-9) and per_gpu == pytest.approx(little, rel=0.12)


def test_fit_rows_are_one_k_one_k_and_hwdb_says_so(rows: pl.DataFrame) -> None:
    # Earlier results are held out, except the 1k/1k results of a build class (sglang-v0.5.9), which are its fit
    # rows: that build's latest results are all 1k/8k, judged against a table fitted on its own 1k/1k runs.
    history = rows.filter(pl.col("group").str.starts_with("inferencex_history_"))
    assert history.height and set(history["role"]) == {"holdout", "fit"}
    for p, role in zip(history["params"].to_list(), history["role"].to_list(), strict=True):
        q = json.loads(p)
        build = q["framework_class"] == "sglang-v0.5.9"
        assert role == ("fit" if build and (q["isl"], q["osl"]) == (1024, 1024) else "holdout")
    latest = rows.filter(~pl.col("group").str.starts_with("inferencex_history_"))
    params = latest["params"].map_elements(
        lambda p: (json.loads(p)["isl"], json.loads(p)["osl"]), return_dtype=pl.Object
    )
    for (isl, osl), role in zip(params.to_list(), latest["role"].to_list(), strict=True):
        assert role == ("fit" if (isl, osl) == (1024, 1024) else "holdout")
    report = json.loads((ROOT / "validation" / "calibration_report.json").read_text())["inferencex"]
    for key, rep in report.items():
        system, framework = key.split("/")
        table = [s for s in hwdb.get(system).to_dict().get("serving", []) if s["framework"] == framework]
        if not rep[
            "kept"
        ]:  # a fit that worsened its own rows, or other held-out rows of its class, is not written
            other = rep.get("other_holdout_median_abs_error")
            worse_elsewhere = other is not None and other["with_fit"] > other["uncalibrated"]
            assert rep["median_abs_error"] >= rep["uncalibrated_median_abs_error"] or worse_elsewhere
            if rep.get(
                "kept_request_overhead_alone"
            ):  # only the TTFT figure, fitted over the uncalibrated engine
                assert len(table) == 1 and set(table[0]) == {"framework", "request_overhead_us", "fitted_on"}
                assert "request_overhead_us alone" in table[0]["fitted_on"]
                assert rep["ttft_median_abs_error_overhead_alone"] < rep["ttft_uncalibrated_median_abs_error"]
                assert table[0]["request_overhead_us"] == pytest.approx(
                    rep["request_overhead_alone_s"] * 1e6, abs=1e-3
                )
            else:
                assert not table
            continue
        assert len(table) == 1 and "1k/1k" in table[0]["fitted_on"] and "held out" in table[0]["fitted_on"]
        assert table[0]["kernel_time_scale"] == pytest.approx(rep["figures"]["kernel_time_scale"], abs=1e-4)
        assert table[0]["request_overhead_us"] == pytest.approx(
            rep["figures"]["request_overhead_s"] * 1e6, abs=1e-3
        )


def test_held_out_throughput_alone_within_fifteen_percent(rows: pl.DataFrame) -> None:
    # Was a strict xfail at 15.6 %; SGLang's custom all-reduce and per-token-group fp8 quantization in the engine
    # (helper i18sglang) bring it to 12.9 % (79 held-out rows); the sglang-v0.5.9 build class to 8.6 %.
    assert statistics.median(_target(rows, "holdout", ("output_tput_per_gpu",))) <= 0.15


# Framework classes whose TP all-reduces run their own kernel by default.
DEFAULT_CUSTOM_AR = ("sglang", "trtllm")


def test_framework_custom_all_reduce_is_a_switch_on_by_default_for_sglang_and_trtllm() -> None:
    # vLLM's and TensorRT-LLM PyTorch backend's custom all-reduces are sourced (serve/iteration.rs
    # `runs_custom_all_reduce`) but off by default: turned on, held-out rows got worse (APEX vLLM v0.6.0 TPOT median
    # 8.2 -> 17.6 %; InferenceMAX H200 TensorRT-LLM throughput 3.9 -> 16.4 %); TensorRT-LLM engines (`trtllm`) keep
    # theirs (held-out 10.4 -> 8.6 % A100, 16.3 -> 15.3 % H100). The `custom_all_reduce` figure switches any class: its TP
    # all-reduces are then the collectives engine's `custom_all_reduce` (DeepSeek-V3 decode on hgx-h200 TP8, 4
    # sequences: each of the 61 layers' two all-reduces of 4 x 7168 x 2 bytes).
    figures = {"kernel_time_scale": 1.0, "per_sequence_overhead_s": 0.0, "comm_bandwidth_scale": 1.0}
    row = 4 * 7168 * 2
    ar = {
        a: float(pm.collectives.predict("hgx-h200", "all_reduce", row, 8, a)["time_s"][0])
        for a in ("auto", "custom_all_reduce")
    }
    expected = 61 * 2 * (ar["auto"] - ar["custom_all_reduce"])
    for fw in ("vllm", "vllm-v0.6", "trtllm", "trtllm-pytorch", "sglang"):
        tp_comm = {
            on: float(
                pm.serve.iteration(
                    "deepseek-v3", "hgx-h200", tp=8, dtype="fp8", kv_dtype="bf16", framework=fw,
                    decode_seqs=4, context_len=1500, **figures, custom_all_reduce=on,
                ).tp_comm_s
            )
            for on in (0, 1)
        }  # fmt: skip
        default = float(
            pm.serve.iteration(
                "deepseek-v3", "hgx-h200", tp=8, dtype="fp8", kv_dtype="bf16", framework=fw,
                decode_seqs=4, context_len=1500, **figures,
            ).tp_comm_s
        )  # fmt: skip
        assert tp_comm[0] - tp_comm[1] == pytest.approx(expected, rel=1e-6), fw
        assert default == tp_comm[1 if fw in DEFAULT_CUSTOM_AR else 0], fw


def test_sglang_custom_all_reduce_and_group_quant_by_hand() -> None:
    # DeepSeek-V3 decode on hgx-h200 TP8, fp8 weights, 4 sequences: the sglang class differs from the vllm class
    # (NCCL all-reduces, vLLM v0.6's three-kernel per-tensor fp8 quantization) only in (a) each of the 61
    # layers' two TP all-reduces of 4 x 7168 x 2 bytes, priced as SGLang's custom all-reduce line (7.0 us +
    # bytes / 37.4 GB/s; sgl-project/sglang PR #2904) instead of the collectives engine's NCCL all-reduce, and
    # (b) one quantization kernel per quantized linear instead of three (4 per layer: 8 fewer kernels a layer).
    import perfmodel as pm

    figures = {"kernel_time_scale": 1.0, "per_sequence_overhead_s": 0.0, "comm_bandwidth_scale": 1.0}

    def decode(system: str) -> dict[str, Any]:
        return {
            fw: pm.serve.iteration(
                "deepseek-v3",
                system,
                tp=8,
                dtype="fp8",
                kv_dtype="bf16",
                framework=fw,
                decode_seqs=4,
                context_len=1500,
                **figures,
            )  # fmt: skip
            for fw in ("sglang", "vllm")
        }

    it = decode("hgx-h200")
    row = 4 * 7168 * 2
    nccl = float(pm.collectives.predict("hgx-h200", "all_reduce", row, 8)["time_s"][0])
    custom = 7.0e-6 + row / 37.4e9
    assert nccl > 3 * custom  # the mechanism matters: ~32 us against ~8.5 us
    expected = 61 * 2 * (nccl - custom)
    assert float(it["vllm"].tp_comm_s - it["sglang"].tp_comm_s) == pytest.approx(expected, rel=1e-6)
    assert float(it["vllm"].kernels - it["sglang"].kernels) == pytest.approx(8 * 61)
    # No custom all-reduce off NVLink switches (AMD nodes keep NCCL/RCCL pricing).
    amd = decode("mi300x-pollara-node")
    assert float(amd["sglang"].tp_comm_s) == pytest.approx(float(amd["vllm"].tp_comm_s), rel=1e-12)


def _target(rows: pl.DataFrame, role: str, metrics: tuple[str, ...] = v.TARGET_METRICS) -> list[float]:
    groups = [f"inferencex_{m}" for m in metrics]
    return rows.filter(pl.col("group").is_in(groups) & (pl.col("role") == role))["error"].abs().to_list()


def test_issue18_serving_target_held_out_median(rows: pl.DataFrame) -> None:
    # Issue 18: "median <= 15% for serving, held-out rows included": output throughput per GPU and median TPOT of
    # the 1k/8k and 8k/1k rows (79 rows, 158 values), none of them in any fit.
    held = _target(rows, "holdout")
    assert len(held) == 158
    assert statistics.median(held) <= 0.15
    assert statistics.median(_target(rows, "holdout", ("median_tpot_s",))) <= 0.15
    summary = json.loads((ROOT / "validation" / "serving_new_summary.json").read_text())
    assert summary["target_holdout_throughput_and_tpot"]["median_abs_error"] == pytest.approx(
        statistics.median(held), abs=1e-9
    )


def test_mi300x_mi325x_long_context_within_fifteen_percent(rows: pl.DataFrame) -> None:
    # Was a strict xfail (held-out throughput +39 % MI300X, +50 % MI325X): their 1k/8k rows ran SGLang v0.5.9
    # (image in the row), the 1k/1k fit rows v0.5.12, and v0.5.9's own 1k/1k results of the same runs show the
    # same TPOT as its 1k/8k rows (MI300X c64 51.3 vs 53.4 ms), so the miss was the build, not the context.
    # With the sglang-v0.5.9 class fitted on those 1k/1k runs: held-out thr+TPOT median 9.5 % (34 values).
    sub = rows.filter(pl.col("system").is_in(["mi300x-pollara-node", "mi325x-node"]))
    held = _target(sub, "holdout")
    assert len(held) == 34 and statistics.median(held) <= 0.15


def test_v059_build_is_slower_than_v0512_at_the_same_lengths() -> None:
    # The measurement behind the build class: MI300X TP8 fp8, 1k/1k, median TPOT at concurrency 4/16/64 (ms).
    # v0.5.9 (earlier results of run 22469096331, 2026-02-27) against v0.5.12 (latest, 2026-05-18), and v0.5.9's
    # own 1k/8k rows of the same run within 4 % of its 1k/1k ones.
    def tpot(frame: pl.DataFrame, isl: int, osl: int, c: int) -> float:
        f = frame.filter((pl.col("hardware") == "mi300x") & (pl.col("isl") == isl) & (pl.col("osl") == osl)
                         & (pl.col("conc") == c) & pl.col("run_url").str.contains("22469096331|26008678094"))  # fmt: skip
        assert f.height == 1
        return float(f["median_tpot_s"][0]) * 1e3

    for c, old, new in [(4, 24.4, 14.6), (16, 30.5, 21.0), (64, 51.3, 40.7)]:
        assert tpot(v.history(), 1024, 1024, c) == pytest.approx(old, abs=0.05)
        assert tpot(v.cases(), 1024, 1024, c) == pytest.approx(new, abs=0.05)
        assert tpot(v.cases(), 1024, 8192, c) == pytest.approx(old, rel=0.045)
    r = v.cases().filter((pl.col("hardware") == "mi300x") & (pl.col("osl") == 8192)).row(0, named=True)
    assert v.framework_class(r) == "sglang-v0.5.9"


def test_request_overhead_delays_ttft_and_admission() -> None:
    # One client (C = 1): the request overhead D adds D to TTFT up to the iteration it joins (a request joins
    # the iteration that starts after its admission), and lowers throughput by about D / E2E.
    import perfmodel as pm

    def run(d: float) -> Any:
        return pm.serve.simulate("deepseek-v3", "mi300x-pollara-node", tp=8, dtype="fp8", kv_dtype="fp8",
                                 framework="sglang", num_requests=6, prompt_tokens=1000, output_tokens=200,
                                 max_concurrency=1, request_overhead_s=d)  # fmt: skip

    a, b = run(0.0), run(0.1)
    dt = b.requests["ttft_s"].to_numpy() - a.requests["ttft_s"].to_numpy()
    assert np.all(dt >= 0.1 - 1e-9) and np.all(dt < 0.1 + 0.03)
    e2e = float(a.requests["e2e_s"].mean())
    assert b.output_tokens_per_s == pytest.approx(
        a.output_tokens_per_s * e2e / (e2e + float(dt.mean())), rel=1e-3
    )
    with pytest.raises(pm.InvalidArgumentError, match="request_overhead_s"):
        run(-0.1)


@pytest.mark.xfail(
    strict=True,
    reason="median TTFT within 15 %: not met. With request_overhead_us fitted per (system, class) on the 1k/1k "
    "rows' TTFT, held-out median |error| 64.5 -> 31.1 % (79 rows, 59 still too low; 29.0 % before Hopper stream-K "
    "and the H200 refit). Left: the B200 tables (the overhead alone raises their fit rows' throughput/TPOT error by "
    "0.1 point, so it is not kept: 61-79 %), and "
    "8k-prompt prefill on MI300X/MI325X (measured TTFT 476-898 ms against 287-396 ms)",
)
def test_ttft_within_fifteen_percent(rows: pl.DataFrame) -> None:
    assert statistics.median(_target(rows, "holdout", ("median_ttft_s",))) <= 0.15


def test_rows_the_engine_refuses_are_reported() -> None:
    refused = v.unpredicted()
    assert len(refused) == 1 and refused[0]["hardware"] == "b200" and refused[0]["tp"] == 4
    summary = json.loads((ROOT / "validation" / "serving_new_summary.json").read_text())
    assert len(summary["refused_by_the_engine"]) == 1


def test_uncalibrated_engine_is_what_the_tables_improve_on() -> None:
    # The fit of each kept table lowered its own rows' median |error| (calibration_report.json); recomputed here
    # for dgx-b300 SGLang: uncalibrated 1k/1k rows vs the table.
    r = [x for x in v.cases().iter_rows(named=True) if x["system"] == "dgx-b300" and v.role(x) == "fit"]

    def med(**fig: float) -> float:
        e = []
        for x in r:
            p, m = v.predict(x, **fig), v.measured(x)
            e += [abs(p[k] / m[k][1] - 1) for k in v.TARGET_METRICS]
        return float(np.median(e))

    assert med() < 0.7 * med(kernel_time_scale=1.0, per_sequence_overhead_s=0.0)


def test_closed_loop_serving_is_exposed_for_the_rows() -> None:
    sim = pm.serve.simulate("deepseek-v3", "mi355x-pollara-node", tp=8, dtype="fp8", kv_dtype="fp8",
                            framework="sglang", num_requests=40, prompt_tokens=("uniform", 819, 1024),
                            output_tokens=("uniform", 819, 1024), max_concurrency=4)  # fmt: skip
    assert sim.requests_per_s <= 4 / sim.mean_e2e_s * (1 + 1e-9)
