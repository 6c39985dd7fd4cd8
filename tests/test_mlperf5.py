"""MLPerf Training v5.x on B200, GB200 NVL72, MI325X and MI355X (issue 18's validation target; suite ``mlperf5``)."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import perfmodel as pm
import polars as pl
import pytest
from perfmodel.validation import mlperf5 as m

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return m.run()


def _tool():  # tools/import_mlperf5.py as a module
    spec = importlib.util.spec_from_file_location("import_mlperf5", ROOT / "tools" / "import_mlperf5.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _abs(df: pl.DataFrame) -> list[float]:
    return [abs(x) for x in df["error"].to_list()]


def test_split_is_the_documented_rule_and_the_importer_agrees() -> None:
    tool = _tool()
    assert tool.FIT is m.FIT  # one table: the importer reads the suite's
    for r in m.data().iter_rows(named=True):
        assert r["role"] == tool.role(r), r["system_dir"]
        if r["role"] == "fit":
            assert r["benchmark"] == m.FIT_BENCHMARK
            assert m.FIT[(r["hwdb_system"], r["version"])] == r["submitter"]
    # Every profile has fit rows, and no row is both.
    fit = m.data().filter(pl.col("role") == "fit")
    assert {(r["hwdb_system"], r["version"]) for r in fit.iter_rows(named=True)} == set(m.FIT)


def test_every_row_names_its_result_files_system_and_config_with_the_commit() -> None:
    d = m.data()
    assert d.height >= 150
    for r in d.iter_rows(named=True):
        assert r["source"].startswith(f"mlcommons/training_results_{r['version']}@")
        commit = r["source"].split("@")[1].split(":")[0]
        assert len(commit) == 40
        assert "result_*.txt" in r["source"] and f"systems/{r['system_dir']}.json" in r["source"]
        if r["modelled"] == "yes":
            assert r["config"] and r["config"] in r["source"]
            assert r["plan_status"] == "exact" and r["n_results"] >= 2
    counts = d.filter(pl.col("modelled") == "yes").group_by("accelerator").len()
    got = dict(counts.iter_rows())
    assert got["B200"] >= 25 and got["GB200"] >= 15 and got["MI325X"] >= 8 and got["MI355X"] >= 5


def test_hwdb_profiles_are_the_fits_and_say_what_they_were_fitted_on() -> None:
    for (system, version), submitter in m.FIT.items():
        cal = pm.llm.calibration(system)
        prof = cal["profiles"][m.profile(version)]
        assert f"MLPerf Training {version}" in prof["fitted_on"] and submitter in prof["fitted_on"]
        assert "training_results_" in prof["fitted_on"] and "@" in prof["fitted_on"]
        assert 0.5 < prof["compute_time_scale"] < 2.0
        assert prof["memory_time_scale"] == prof["compute_time_scale"]
        # The system's own calibration is its latest round's.
        latest = max(v for s, v in m.FIT if s == system)
        assert cal["compute_time_scale"] == cal["profiles"][m.profile(latest)]["compute_time_scale"]
        assert cal["network_bandwidth_scale"] == 1.0


def test_gb200_runs_are_spread_over_nvlink_domains_of_whole_trays() -> None:
    assert [m.gpus_per_domain(g) for g in (8, 72, 144, 256, 512, 2496)] == [8, 72, 72, 64, 64, 64]
    spec, nodes = m.where("gb200-nvl72", 512)
    assert nodes == 8 and spec["devices_per_node_count"] == 64 and spec["levels"][0]["size_count"] == 64
    assert spec["calibration"] == pm.hwdb.get("gb200-nvl72")["calibration"]
    assert m.where("gb200-nvl72", 144) == ("gb200-nvl72", 2)
    assert m.where("dgx-b200", 64) == ("dgx-b200", 8)


def test_asymmetric_pipeline_layers() -> None:
    assert m.layers_priced(126, 64) == 128 and m.layers_priced(80, 1) == 80
    with pytest.raises(ValueError):
        m.layers_priced(126, 5)


def test_prediction_is_global_batch_over_the_step_of_the_submissions_plan(rows: pl.DataFrame) -> None:
    r = next(x for x in m.modelled() if x["accelerator"] == "GB200" and x["benchmark"] == "llama31_405b")
    p = json.loads(r["plan"])
    e = m.estimate(r)
    assert m.predict(r) == pytest.approx(p["global_batch"] / e.step_time_s, rel=1e-12)
    assert (p["tp"], p["pp"], p["cp"], p["vp"]) == (4, 8, 2, 8)
    assert m.calib_of(r) == m.profile(r["version"])
    lora = next(x for x in m.modelled() if x["benchmark"] == "llama2_70b_lora" and x["accelerator"] == "B200")
    assert m.estimate(lora).raw["optimizer"] == 0  # frozen weights


def test_training_target_new_hardware_median(rows: pl.DataFrame) -> None:
    # Issue 18: MLPerf v5.x rows on the new hardware: median <= 10 % for training, held-out rows included.
    new = rows.filter(
        pl.col("group").str.extract(r"^([a-z0-9]+)_").str.to_uppercase().is_in(list(m.NEW_HARDWARE))
    )
    assert new.height >= 55
    assert statistics.median(_abs(new)) <= m.TARGETS["training_median"]
    held = new.filter(pl.col("role") == "holdout")
    assert statistics.median(_abs(held)) <= m.TARGETS["training_median"]
    for acc in m.NEW_HARDWARE:
        sub = new.filter(pl.col("group").str.starts_with(acc.lower() + "_"))
        assert statistics.median(_abs(sub)) <= m.TARGETS["training_median"], acc


def test_training_target_pretraining_holdout_median(rows: pl.DataFrame) -> None:
    # The stricter cut: held-out rows of the benchmarks no profile was fitted on (Llama 3.1 8B and 405B).
    new = rows.filter(
        pl.col("group").str.extract(r"^([a-z0-9]+)_").str.to_uppercase().is_in(list(m.NEW_HARDWARE))
        & ~pl.col("group").str.ends_with(m.FIT_BENCHMARK)
    )
    assert new.height >= 20 and set(new["role"]) == {"holdout"}
    assert statistics.median(_abs(new)) <= m.TARGETS["training_median"]


@pytest.mark.xfail(
    strict=True,
    reason="not a target of the issue, recorded: the worst held-out rows are GB200 Llama 3.1 8B at 512 GPUs "
    "(TP2 x CP4 x DP64, one micro-batch of 8,192 tokens per step: 0.089 s measured, the model +79 %; the step is "
    "short enough for per-step costs the model lacks to dominate) and at 72 GPUs (+24 %), B200 Llama 3.1 405B "
    "(University of Florida, 256 and 448 GPUs: +30 % and +32 %) and B200 Llama 3.1 8B (Dell and University of "
    "Florida, 8 to 256 GPUs: +13 to +22 %); the model is too fast on every one",
)
def test_every_held_out_row_within_twenty_percent(rows: pl.DataFrame) -> None:
    held = rows.filter(pl.col("role") == "holdout")
    new = held.filter(
        pl.col("group").str.extract(r"^([a-z0-9]+)_").str.to_uppercase().is_in(list(m.NEW_HARDWARE))
    )
    assert max(_abs(new)) <= 0.20


def test_rows_the_engine_refuses_are_reported_not_dropped_silently() -> None:
    refused = m.skipped()
    # The 2,496-GPU GB200 405B run (DP 39 over 64-GPU NVLink domains) was refused in Megatron's tp-cp-dp-pp order;
    # its config's TP_PP_DP_MAPPING (tp-cp-pp-dp) places it (tests/test_rank_order.py).
    assert refused == {}
    summary = json.loads((ROOT / "validation" / "mlperf5_summary.json").read_text())
    assert summary["refused_by_the_engine"] == refused
    assert sum(summary["excluded_rows"].values()) == m.data().filter(pl.col("modelled") != "yes").height


def test_inference_rows_are_recorded_with_their_sources() -> None:
    d = m.inference_data()
    assert d.height >= 300 and set(d["valid"]) == {"VALID"}
    for r in d.iter_rows(named=True):
        assert r["source"].startswith(f"mlcommons/inference_results_{r['version']}@")
        assert "mlperf_log_summary.txt" in r["source"] and r["tokens_per_s"] > 0
    new = d.filter(pl.col("accelerator").is_in(list(m.NEW_HARDWARE)))
    assert new.filter(pl.col("accelerator") == "B200").height >= 50
    # Llama 2 70B Offline: output tokens per sample = tokens/s over samples/s, near the reference 294.45.
    l2 = d.filter((pl.col("benchmark") == "llama2-70b-99") & (pl.col("scenario") == "Offline"))
    assert all(250 < x < 320 for x in l2["output_tokens_per_sample"].to_list())


def _inference(rows: pl.DataFrame, scenario: str | None = None) -> pl.DataFrame:
    priced = rows.filter(pl.col("group").str.starts_with("mlperf_inference_"))
    if scenario is None:
        return priced
    return priced.filter(pl.col("operation").str.ends_with(f" {scenario}"))


def test_serving_target_on_the_priced_mlperf_rows(rows: pl.DataFrame) -> None:
    """Issue 18's serving target on the MLPerf rows priced, Llama 2 70B (99 and 99.9), uncalibrated, all held out,
    the OpenOrca prompt lengths and the log's output tokens per sample; Server and Interactive as the highest
    Poisson rate within MLPerf's p99 TTFT/TPOT limits. B200/GB200 with NVIDIA's TensorRT harness and its configs'
    plans (one FP4 engine per GPU, FP8 KV; ``trtllm`` class): Offline 25 rows (median 3.6 %; Google's B200 runs
    +34 %, GB200 +13 to +17 %), Server 25 (B200 +10 %, GB200 +21 %), Interactive 16 (+43 to +71 %, test below).
    MI325X with AMD's vLLM harness and plans (one FP8 engine per GPU, FP8 KV; ``vllm`` class): 32 rows, median
    6.6 %, max 11.5 % (Offline -4 to -9 %, Server -1 to -7 %, Interactive +4 to +12 %); ASUSTeK's 6 rows (AMD's
    configs, named in its READMEs) Offline -8 %, Server -4 %, Interactive +26 % (its run's target rate, 51.85
    queries/s, sits 12 % under the other AMD-harness systems'). All 104: median 9.0 %. With the 24 MoE rows
    (tests/test_mlperf5_moe.py), 128 of the 207 new-hardware rows: median 10.1 %."""
    every = _inference(rows)
    assert (
        every.height == 128
        and statistics.median(every["error"].abs().to_list()) <= m.TARGETS["serving_median"]
    )
    priced = every.filter(pl.col("group").str.starts_with("mlperf_inference_llama2-70b"))
    assert priced.height == 104 and set(priced["role"]) == {"holdout"}
    assert len(m.offline_rows()) == 104
    assert statistics.median(priced["error"].abs().to_list()) <= m.TARGETS["serving_median"]
    offline, server = _inference(priced, "Offline"), _inference(priced, "Server")
    assert offline.height == 39 and server.height == 37
    assert statistics.median(offline["error"].abs().to_list()) <= m.TARGETS["serving_median"]
    assert statistics.median(server["error"].abs().to_list()) <= m.TARGETS["serving_median"]
    mi325x = priced.filter(
        pl.col("group").str.ends_with("_mi325x") & ~pl.col("operation").str.starts_with("ASUSTeK")
    )
    assert mi325x.height == 32 and max(mi325x["error"].abs().to_list()) <= 0.15
    summary = json.loads((ROOT / "validation" / "mlperf5_summary.json").read_text())
    assert summary["serving"]["rows_predicted"] == 128
    # The prompt lengths are the published extract: 24,576 samples, mean 222.3 tokens, max 1,021.
    lengths = m.openorca_input_lengths()
    assert len(lengths) == 24576 and abs(lengths.mean() - 222.33) < 0.01 and lengths.max() == 1021


def test_server_rows_are_the_highest_rate_within_mlperfs_latency_limits(rows: pl.DataFrame) -> None:
    # A Server row's prediction is max_rate's rate (p99 TTFT <= 2 s, p99 TPOT <= 200 ms) times the output tokens per
    # sample: at that rate the run holds both limits, 3 % faster it does not (the bisection's bracket is 1 %).
    r = next(x for x in m.offline_rows() if x["scenario"] == "Server" and x["submitter"] == "NVIDIA"
             and x["accelerator"] == "B200")  # fmt: skip
    rate = m.server_predict(r) / r["output_tokens_per_sample"]
    q = m.server_queries(m.QUERIES_PER_GPU * 8, round(r["output_tokens_per_sample"]))

    def run(qps: float) -> dict[str, float]:
        trace = q.with_columns(pl.col("arrival_s") / qps)
        sim = pm.serve.simulate("llama2-70b", "dgx-b200", replicas=8, requests=trace, balancer="least_outstanding",
                                **m.LLAMA2_SERVER_NVIDIA)  # fmt: skip
        return sim.summary

    ok, over = run(rate), run(rate * 1.03)
    assert ok["p99_ttft_s"] <= 2.0 and ok["p99_tpot_s"] <= 0.2
    assert over["p99_ttft_s"] > 2.0 or over["p99_tpot_s"] > 0.2
    assert m.SCENARIO_SLO == {"Server": (2.0, 0.2), "Interactive": (0.45, 0.04)} and m.SLO_PERCENTILE == 99


@pytest.mark.xfail(
    strict=True,
    reason="Interactive (p99 TTFT 450 ms, TPOT 40 ms) is priced too fast: B200 +43 to +71 % (median +50 %), GB200 "
    "+62 %; at NVIDIA's B200 measured rate (220 queries/s) the model's p99 TPOT is 18 ms against the log's 38 ms and "
    "its p99 TTFT 66 ms against 140 ms: the uncalibrated trtllm class runs the engine's 768-token iterations twice "
    "as fast as the B200 does",
)
def test_nvidia_interactive_rows_within_fifteen_percent(rows: pl.DataFrame) -> None:
    inter = _inference(rows, "Interactive").filter(~pl.col("group").str.ends_with("_mi325x"))
    assert inter.height == 16
    assert statistics.median(inter["error"].abs().to_list()) <= m.TARGETS["serving_median"]


def _standin(rows: pl.DataFrame, dense: bool) -> list[float]:
    s = rows.filter(pl.col("group").str.starts_with("trtllm_v1_"))
    s = s.filter(pl.col("group").str.contains("llama3") == dense)
    return _abs(s)


def test_serving_standin_dense_models_within_fifteen_percent(rows: pl.DataFrame) -> None:
    # TensorRT-LLM v1.0-era B200/GB200 FP4 tables (fixed ISL/OSL; not MLPerf rows, so outside the issue's
    # figure), uncalibrated: Llama 3.3 70B and Llama 3.1 405B, 40 rows.
    err = _standin(rows, dense=True)
    assert len(err) == 40 and set(rows.filter(pl.col("group").str.starts_with("trtllm_v1_"))["role"]) == {
        "holdout"
    }
    assert statistics.median(err) <= 0.15


@pytest.mark.xfail(
    strict=True,
    reason="MoE rows of the TensorRT-LLM v1.0 B200/GB200 tables, median 34 % (38 rows): Llama 4 Scout over-predicted "
    "(B200 median 38 %, GB200 44 %, up to +155 % at 128/128 on GB200), Llama 4 Maverick (32 %) and Qwen3-235B (27 %) "
    "under-predicted on B200; the H100 rows of the same document show the same MoE pattern (NOTES.md, issue 13)",
)
def test_serving_standin_moe_models_within_fifteen_percent(rows: pl.DataFrame) -> None:
    assert statistics.median(_standin(rows, dense=False)) <= 0.15


def test_inherited_hardware_rows_are_priced_and_all_held_out(rows: pl.DataFrame) -> None:
    """B300, GB300, MI350X and H200 NVL rows: priced on their hwdb systems with the sibling's calibration (same_as),
    never fitted; the summary reports them apart (docs/mlperf5_validation.md)."""
    d = m.data().filter(pl.col("accelerator").is_in(list(m.INHERITED_HARDWARE)))
    assert set(d.filter(pl.col("modelled") == "yes")["role"]) == {"holdout"}
    assert not any(m.SYSTEMS[a] in {s for s, _ in m.FIT} for a in m.INHERITED_HARDWARE)
    groups = rows["group"].str.extract(r"^([a-z0-9-]+)_").str.to_uppercase()
    held = rows.filter(groups.is_in(list(m.INHERITED_HARDWARE)))
    # 13 bf16/fp8 rows and GB300's two NVFP4 rows at 8 GPUs
    assert held.height == 15 and set(held["role"]) == {"holdout"}
    summary = json.loads((ROOT / "validation" / "mlperf5_summary.json").read_text())
    assert summary["inherited_hardware_all"]["rows"] == 15
