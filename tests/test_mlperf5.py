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


def _inference(
    rows: pl.DataFrame, scenario: str | None = None, benchmark: str = "llama2-70b"
) -> pl.DataFrame:
    """The priced inference rows of ``benchmark`` (a group substring; ``""``: every benchmark)."""
    priced = rows.filter(pl.col("group").str.starts_with("mlperf_inference_"))
    priced = priced.filter(pl.col("group").str.contains(benchmark, literal=True))
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
    queries/s, sits 12 % under the other AMD-harness systems'). All 104: median 9.0 %."""
    priced = _inference(rows)
    assert priced.height == 104 and set(priced["role"]) == {"holdout"}
    llama2 = m.inference_data().filter(pl.col("benchmark").str.starts_with("llama2-70b"))
    assert llama2.filter(pl.col("modelled") == "yes").height == 104
    assert len([r for r in m.offline_rows() if r["benchmark"].startswith("llama2-70b")]) == 104
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
    assert summary["serving"]["predicted"]["llama2_70b"]["rows"] == 104
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

    ok, over = run(rate), run(rate * 1.05)
    assert ok["p99_ttft_s"] <= 2.0 and ok["p99_tpot_s"] <= 0.2
    assert over["p99_ttft_s"] > 2.0 or over["p99_tpot_s"] > 0.2
    assert m.SCENARIO_SLO == {"Server": (2.0, 0.2), "Interactive": (0.45, 0.04)} and m.SLO_PERCENTILE == 99


@pytest.mark.xfail(
    strict=True,
    reason="Interactive (p99 TTFT 450 ms, TPOT 40 ms) is priced too fast: B200 +43 to +71 % (median +50 %), GB200 "
    "+62 %; at NVIDIA's B200 measured rate (220 queries/s) the model's mean/p99 TPOT is 15.9/18.4 ms against the "
    "log's 34.2/38.1 ms, 119 queries in flight per GPU against the log's 255 (Little's law) and p99 TTFT 66 ms "
    "against 140 ms. At the log's own operating point one iteration prices at 25.3 ms against 34.2 ms (test "
    "below): the uncalibrated trtllm class lacks ~9 ms per B200 iteration that no source quantifies (the same "
    "harness on H200 is priced within 1 %; docs/mlperf5_validation.md)",
)
def test_nvidia_interactive_rows_within_fifteen_percent(rows: pl.DataFrame) -> None:
    inter = _inference(rows, "Interactive").filter(~pl.col("group").str.ends_with("_mi325x"))
    assert inter.height == 16
    assert statistics.median(inter["error"].abs().to_list()) <= m.TARGETS["serving_median"]


#: NVIDIA's B200 Llama 2 70B Interactive run: completed queries/s, mean latency, mean first-token latency and
#: mean time per output token (s), from ``closed/NVIDIA/results/B200-SXM-180GBx8_TRT/llama2-70b-99/Interactive/
#: performance/run_1/mlperf_log_summary.txt`` of mlcommons/inference_results_v5.1
#: @965182b03376a00fcae415c54e560e1c83937932.
_INTERACTIVE_LOG = {"samples_per_s": 218.82, "mean_latency_s": 9.340421103, "mean_ttft_s": 0.069025796,
                    "mean_tpot_s": 0.034209789}  # fmt: skip
#: The same figures of HPE's H200 run of NVIDIA's harness (FP8 weights and KV cache, one engine per GPU, no CUDA
#: graphs: ``closed/HPE/configs/HPE_Cray_XD670_H200_SXM_141GBx8/Interactive/llama2-70b.py``), from
#: ``closed/HPE/results/HPE_Cray_XD670_H200_SXM_141GBx8_TRT/llama2-70b-99/Interactive/performance/run_1/
#: mlperf_log_summary.txt`` (same commit).
_H200_INTERACTIVE_LOG = {"samples_per_s": 69.79, "mean_latency_s": 10.370055896, "mean_ttft_s": 0.102479697,
                         "mean_tpot_s": 0.03519289}  # fmt: skip


def _interactive_row(submitter: str = "NVIDIA", accelerator: str = "B200") -> dict:
    return next(x for x in m.inference_data().iter_rows(named=True) if x["scenario"] == "Interactive"
                and x["submitter"] == submitter and x["accelerator"] == accelerator
                and x["benchmark"] == "llama2-70b-99")  # fmt: skip


def _interactive_operating_point(row: dict, log: dict) -> tuple[float, float, float]:
    """One GPU's iteration in an Interactive run of NVIDIA's harness, from its log alone: the queries in flight
    (Little's law: queries/s per GPU x mean latency; all but the ~1 % in their first token are decoding), the
    prompt tokens an iteration takes in (arrivals per iteration, queries/s per GPU x mean TPOT, times the OpenOrca
    mean prompt) and the tokens a decoding query attends to (its prompt and on average half its output). Each
    decoding query gains one token per iteration, so the log's mean TPOT is the mean iteration time."""
    per_gpu = log["samples_per_s"] / row["gpus"]
    prompt = float(m.openorca_input_lengths().mean())
    in_flight = per_gpu * log["mean_latency_s"]
    chunk = per_gpu * log["mean_tpot_s"] * prompt
    return in_flight, chunk, prompt + row["output_tokens_per_sample"] / 2


def _iteration_s(row: dict, log: dict, dtype: str) -> float:
    in_flight, chunk, context = _interactive_operating_point(row, log)
    it = pm.serve.iteration("llama2-70b", row["hwdb_system"], tp=1, dtype=dtype, kv_dtype="fp8",
                            framework="trtllm", prefill_seqs=1, prompt_len=chunk, decode_seqs=in_flight,
                            context_len=context)  # fmt: skip
    return float(it.frame()["time_s"][0])


def test_interactive_logs_are_the_rows_and_their_tpot_is_loadgens_per_query_definition() -> None:
    # The shipped rows are those logs' runs (queries/s, tokens/s), and a log's mean TPOT is (latency - TTFT) /
    # (tokens - 1) per query, the simulator's ``tpot_s``: B200 (9.3404 - 0.0690) / 271.12 = 34.20 ms against 34.21.
    for row, log, tokens in ((_interactive_row(), _INTERACTIVE_LOG, 59545.45),
                             (_interactive_row("HPE", "H200"), _H200_INTERACTIVE_LOG, 20432.07)):  # fmt: skip
        assert row["samples_per_s"] == log["samples_per_s"] and row["tokens_per_s"] == tokens
        tpot = (log["mean_latency_s"] - log["mean_ttft_s"]) / (row["output_tokens_per_sample"] - 1)
        assert tpot == pytest.approx(log["mean_tpot_s"], rel=0.005)
    in_flight, chunk, context = _interactive_operating_point(_interactive_row(), _INTERACTIVE_LOG)
    assert round(in_flight, 1) == 255.5 and round(chunk) == 208 and round(context) == 358


def test_trtllm_iteration_at_an_h200_interactive_operating_point() -> None:
    # The same harness on H200 (FP8; hgx-h200 has no trtllm table, so uncalibrated; the row is not priced, so
    # nothing was fitted on it): 90.5 queries in flight per GPU, a 68-token prompt chunk, 369 tokens attended;
    # the class prices 35.6 ms against the log's mean TPOT 35.2 ms, with no host time.
    row = _interactive_row("HPE", "H200")
    assert _iteration_s(row, _H200_INTERACTIVE_LOG, "fp8") == pytest.approx(_H200_INTERACTIVE_LOG["mean_tpot_s"],
                                                                             rel=0.15)  # fmt: skip


def test_llama31_rows_are_priced_with_their_own_lengths_plans_and_limits(rows: pl.DataFrame) -> None:
    """Llama 3.1 8B (22 B200 rows) and 405B (36 B200, 7 GB200) with NVIDIA's TensorRT harness: every one priced,
    held out, with the CNN/DailyMail and 405B prompt lengths of the published extract, NVIDIA's configs' plans and
    the limits of ``loadgen/mlperf.conf``."""
    d = m.inference_data().filter(pl.col("benchmark").is_in(list(m.LLAMA31_BENCHMARKS)))
    new = d.filter(pl.col("accelerator").is_in(list(m.NEW_HARDWARE)))
    assert new.height == 65 and set(new["modelled"]) == {"yes"}
    assert d.filter(pl.col("modelled") == "yes").height == 65  # H100/H200/RTX rows: not priced
    priced = _inference(rows, benchmark="llama3.1-")
    assert priced.height == 65 and set(priced["role"]) == {"holdout"}
    assert _inference(rows, benchmark="llama3.1-8b").height == 22
    # Extract statistics: 13,368 CNN/DailyMail prompts, mean 870.7, max 2,540 (the engines' max_input_len); 8,313
    # 405B prompts, mean 9,428.6, max 19,988 (under max_input_len 20,000).
    l8, l405 = m.llama31_input_lengths("llama3.1-8b"), m.llama31_input_lengths("llama3.1-405b")
    assert len(l8) == 13368 and abs(l8.mean() - 870.73) < 0.01 and l8.max() == 2540
    assert len(l405) == 8313 and abs(l405.mean() - 9428.64) < 0.01 and l405.max() == 19988
    assert m.LLAMA31_SLO[("llama3.1-8b", "Interactive")] == (0.5, 0.03)
    assert m.LLAMA31_SLO[("llama3.1-405b", "Server")] == (6.0, 0.175)
    # Plans: 405B Offline TP2 x PP2 (two engines on 8 B200s), Server TP4; Azure's GB200 Server batch 2,048.
    r = next(x for x in m.offline_rows() if x["benchmark"] == "llama3.1-405b" and x["accelerator"] == "B200"
             and x["scenario"] == "Offline")  # fmt: skip
    assert m.llama31_engines(r) == 2 and m.llama31_plan(r)["pp"] == 2
    az = next(x for x in m.offline_rows() if x["submitter"] == "Azure" and x["scenario"] == "Server")
    assert m.llama31_plan(az)["max_num_seqs"] == 2048 and m.llama31_engines(az) == 1
    summary = json.loads((ROOT / "validation" / "mlperf5_summary.json").read_text())
    assert summary["serving"]["predicted"]["llama31"]["rows"] == 65
    # Every priced new-hardware row together (Llama 2 70B, Llama 3.1, DeepSeek-R1, Mixtral): 193, median 10.1 %.
    every = _inference(rows, benchmark="")
    assert every.height == summary["serving"]["rows_predicted"] == 193
    assert statistics.median(_abs(every)) <= m.TARGETS["serving_median"]


def test_llama31_405b_offline_and_interactive_rows_within_fifteen_percent(rows: pl.DataFrame) -> None:
    # Uncalibrated trtllm class: Offline B200 -7 to -9 % (13 rows), GB200 -0.1 to -2.4 % (3); Interactive B200
    # -1 to +6 % (10), GB200 (72 GPUs) -14 %.
    for sc, n in (("Offline", 16), ("Interactive", 11)):
        r = _inference(rows, sc, benchmark="llama3.1-405b")
        assert r.height == n and max(_abs(r)) <= 0.15, sc


def test_llama31_server_rows_are_the_highest_rate_within_mlperfs_limits() -> None:
    # NVIDIA's B200 405B Server row: at the predicted rate both p99 limits (6 s TTFT, 175 ms TPOT) hold, 5 % faster
    # they do not. (The bisection's bracket is 1 %, but near saturation a finite run's p99 TTFT is not monotonic in
    # the rate: 4.68 s at the rate, 5.94 s at +3 %, 6.54 s at +5 %, 6.53 s at +8 %.)
    r = next(x for x in m.offline_rows() if x["benchmark"] == "llama3.1-405b" and x["scenario"] == "Server"
             and x["submitter"] == "NVIDIA" and x["accelerator"] == "B200")  # fmt: skip
    rate = m.llama31_server_predict(r) / r["output_tokens_per_sample"]
    q = m.llama31_queries("llama3.1-405b", 2 * m.LLAMA31_QUERIES_PER_ENGINE["llama3.1-405b"],
                          round(r["output_tokens_per_sample"]))  # fmt: skip

    # max_rate scales the trace to its mean rate, (n - 1) / span (4,096 queries: 1.6 % from 1/s), as here.
    a = q["arrival_s"]
    base = (len(a) - 1) / (a[-1] - a[0])

    def run(qps: float) -> dict[str, float]:
        trace = q.with_columns((pl.col("arrival_s") - a[0]) * base / qps + a[0])
        sim = pm.serve.simulate("llama3.1-405b", "dgx-b200", replicas=2, requests=trace,
                                balancer="least_outstanding", **m.llama31_plan(r))  # fmt: skip
        return sim.summary

    ok, over = run(rate), run(rate * 1.05)
    assert ok["p99_ttft_s"] <= 6.0 and ok["p99_tpot_s"] <= 0.175
    assert over["p99_ttft_s"] > 6.0 or over["p99_tpot_s"] > 0.175


@pytest.mark.xfail(
    strict=True,
    reason="At the log's operating point (255.5 decoding queries attending to 358 tokens and a 208-token prompt "
    "chunk per B200 iteration) the uncalibrated trtllm class prices an iteration at 25.3 ms (FP4 GEMMs 16.3, "
    "decode attention 3.8, elementwise 4.4, prefill attention 0.7, LM head and sampling 0.2; no host time) against "
    "the log's mean TPOT 34.2 ms (-26 %); NVIDIA's Offline B200 rows (3,584-token iterations) are within +2 to "
    "+6.5 %, and the same harness on H200 is priced within 1 % (test above): the missing time is B200-specific",
)
def test_trtllm_iteration_at_nvidias_interactive_operating_point() -> None:
    row = _interactive_row()
    assert _iteration_s(row, _INTERACTIVE_LOG, "nvfp4") == pytest.approx(
        _INTERACTIVE_LOG["mean_tpot_s"], rel=0.15
    )


@pytest.mark.xfail(
    strict=True,
    reason="Llama 3.1 8B on B200 is priced too fast by the uncalibrated trtllm class: Offline +20 to +29 % (9 rows, "
    "median +24 %), Server +44 to +55 % (9), Interactive +38 to +64 % (4); the model's engine runs 12,000-token "
    "iterations of the 8B model at ~175k tokens/s per GPU against ~133k measured",
)
def test_llama31_8b_rows_within_fifteen_percent(rows: pl.DataFrame) -> None:
    assert statistics.median(_abs(_inference(rows, benchmark="llama3.1-8b"))) <= m.TARGETS["serving_median"]


@pytest.mark.xfail(
    strict=True,
    reason="Llama 3.1 405B Server is priced too slow: B200 -24 to -28 % (13 rows), GB200 4-GPU -19/-21 %, 72-GPU "
    "-3 % (with TensorRT-LLM's custom all-reduce; before it B200 -22 to -26 %); the model's TP4 engine saturates at 1.9 queries/s per 8 B200s (its TP2 x PP2 Offline engine: 2.3) where "
    "NVIDIA's log runs 1.9/s at p50 TPOT 101 ms (the model's at that rate: 191 ms); with the TP all-reduces free (a "
    "what-if, comm_bandwidth_scale=1000) NVIDIA's row goes from -26 % to +6 %",
)
def test_llama31_405b_server_rows_within_fifteen_percent(rows: pl.DataFrame) -> None:
    assert statistics.median(_abs(_inference(rows, "Server", benchmark="llama3.1-405b"))) <= 0.15


@pytest.mark.xfail(
    strict=True,
    reason="193 of the 207 MLPerf Inference v5.1 rows on B200/GB200/MI325X are priced (Llama 2 70B 104, Llama 3.1 "
    "8B 22, 405B 43, DeepSeek-R1 12, Mixtral 12; median 10.1 %, max 70.9 %); not priced: the MI325X rows of "
    "MangoBoost's LLMBoost stack and Supermicro's (LLMBoost too: no public plan, 12) and Azure's two GB200 Llama 2 "
    "rows (NVIDIA-format configs with the KV dtype commented out and 4,096 Server tokens: not wired)",
)
def test_serving_target_every_new_hardware_row_priced(rows: pl.DataFrame) -> None:
    new = m.inference_data().filter(pl.col("accelerator").is_in(list(m.NEW_HARDWARE)))
    priced = _inference(rows, benchmark="")
    assert priced.height == new.height == 207
    assert statistics.median(_abs(priced)) <= m.TARGETS["serving_median"]


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
    # 15 bf16/fp8 rows, GB300's two NVFP4 rows at 8 GPUs and Lenovo's NVFP4 B300 Llama 3.1 8B row
    assert held.height == 18 and set(held["role"]) == {"holdout"}
    summary = json.loads((ROOT / "validation" / "mlperf5_summary.json").read_text())
    assert summary["inherited_hardware_all"]["rows"] == 18
