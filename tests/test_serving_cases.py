"""The serving validation cases (perfmodel.validation.serving_cases): counts against the raw CSV, model ids,
request traces and their errors, the synthetic trace, and the FIT/HOLDOUT split."""

import csv
import json
from collections import Counter

import perfmodel as pm
import polars as pl
import pytest
from perfmodel.validation import serving_cases as sc


def _raw():
    with sc.CSV_PATH.open(newline="", encoding="utf-8") as f:
        return [(i, r, json.loads(r["params"])) for i, r in enumerate(csv.DictReader(f))]


def _measured(category=None):
    return [
        (i, r, p)
        for i, r, p in _raw()
        if p.get("kind") == "measured" and (category is None or r["category"] == category)
    ]


@pytest.fixture(scope="module")
def cases():
    return sc.all_cases()


def test_packaged_data_is_there():
    assert sc.CSV_PATH.is_file()
    names = sorted(str(f.relative_to(sc.TRACE_DIR)) for f in sc.TRACE_DIR.glob("*/*.csv"))
    assert names == [
        f"{t}/{w}_{r}.csv" for t in ("llama", "mistral") for w in ("creation", "lmsys") for r in ("025", "05")
    ]


def test_counts_match_the_csv(cases):
    raw = _measured()
    by_cat = Counter(r["category"] for _, r, _ in raw)
    assert by_cat["splitwise_phase"] == cases["splitwise_phase"].height == 234
    # every serving_throughput row is TensorRT-LLM: a vLLM throughput row would need its own function
    assert all(p["framework"].startswith("TensorRT-LLM") for _, _, p in _measured("serving_throughput"))
    assert by_cat["serving_throughput"] == cases["trtllm_throughput"].height == 206
    assert by_cat["single_request_latency"] == cases["single_request_latency"].height == 22

    replay_rows = [(r, p) for _, r, p in _measured("serving_latency_load") if "trace" in p]
    replays = {
        (p["model"], p["framework"], r["system"], p.get("plan") or p.get("parallelism"), p["trace"])
        for r, p in replay_rows
    }
    apex = cases["apex_replay"]
    assert apex.height == len(replays) == 35
    assert apex["rows"].list.len().sum() == len(replay_rows) == 116
    assert Counter(apex["framework"]) == {"vllm": 23, "sglang": 12}

    leaderboard = [i for i, r, _ in raw if "ml-energy/leaderboard" in r["source"]]
    mle = cases["mlenergy"]
    assert mle["rows"].list.len().sum() == len(leaderboard) == 231
    assert mle.height == 33 and set(mle["rows"].list.len()) == {7}

    # per-row frames: every row index is a measured row of the right category, once
    for name, cat in (
        ("splitwise_phase", "splitwise_phase"),
        ("trtllm_throughput", "serving_throughput"),
        ("single_request_latency", "single_request_latency"),
    ):
        assert sorted(cases[name]["row"]) == [i for i, _, _ in _measured(cat)]


def test_no_csv_row_in_two_cases(cases):
    seen: list[int] = []
    for df in cases.values():
        seen += df["row"].to_list() if "row" in df.columns else df["rows"].explode().to_list()
    assert len(seen) == len(set(seen))
    kinds = {i: p.get("kind") for i, _, p in _raw()}
    assert {kinds[i] for i in seen} == {"measured"}


def test_values_and_units(cases):
    raw = {i: r for i, r, _ in _raw()}
    sw = cases["splitwise_phase"]
    for rec in sw.iter_rows(named=True):
        assert rec["measured_s"] == pytest.approx(float(raw[rec["row"]]["value"]) / 1000)
    assert Counter(sw["phase"]) == {"prefill": 78, "decode": 78, "e2e": 78}
    trt = cases["trtllm_throughput"]
    per_gpu = trt.filter(pl.col("metric") == "output_throughput_per_gpu")
    assert per_gpu.height == 16
    assert (per_gpu["output_tokens_per_s"] == per_gpu["value"] * per_gpu["gpus"]).all()
    assert set(trt["dtype"]) == {"fp8", "fp16"} and set(trt["framework_version"]) == {
        "v1.0",
        "v0.10",
        "v0.6",
        "v0.5",
    }
    assert Counter(trt["framework_version"]) == {"v0.10": 123, "v1.0": 52, "v0.6": 29, "v0.5": 2}
    apex = cases["apex_replay"]
    vllm = apex.filter(pl.col("framework") == "vllm")
    assert vllm["mean_tpot_s"].null_count() == 0 and vllm["mean_ttft_s"].null_count() == 0
    assert (vllm["mean_e2e_s"] - vllm["sum_request_latency_s"] / vllm["num_requests"]).abs().max() < 1e-3
    assert apex["mean_e2e_s"].null_count() == 0 and apex["num_requests"].null_count() == 0


def test_systems_and_devices(cases):
    assert pm.hwdb.get("dgx-a100", "system")["device"] == "a100-sxm4-80gb"  # the CSV's A100s are 80 GB
    for df in cases.values():
        for sys_id, dev in df.select("system_id", "device").unique().iter_rows():
            assert pm.hwdb.get(sys_id, "system")["device"] == dev
            assert ("A100" in df.filter(pl.col("system_id") == sys_id)["system"][0]) == (
                dev == "a100-sxm4-80gb"
            )


def test_every_model_maps_to_a_preset_or_is_listed_missing(cases):
    names = {
        p["model"]
        for _, r, p in _measured()
        if r["category"] in ("splitwise_phase", "serving_throughput", "single_request_latency")
    }
    names |= {
        p["model"]
        for _, r, p in _measured("serving_latency_load")
        if "trace" in p or "ml-energy/leaderboard" in r["source"]
    }
    assert names <= set(sc.MODEL_IDS)
    presets = set(pm.llm.presets())
    assert {mid for mid in sc.MODEL_IDS.values() if mid not in presets} <= sc.MISSING_PRESETS
    for df in cases.values():
        assert df["model_id"].null_count() == 0
    with pytest.raises(pm.InvalidArgumentError, match="MODEL_IDS"):
        sc.model_id("GPT-5")


def test_packaged_traces_match_the_replays(cases):
    for rec in cases["apex_replay"].filter(pl.col("trace_file").is_not_null()).iter_rows(named=True):
        t = sc.load_trace(rec["trace_file"])
        assert t.columns == ["arrival_s", "prompt_tokens", "output_tokens"]
        assert t.height == rec["num_requests"]
        assert t["prompt_tokens"].sum() == rec["trace_prompt_tokens_sum"]
        assert t["output_tokens"].sum() == rec["trace_output_tokens_sum"]
    # the summarization traces are not packaged; every other replay names its file
    missing = cases["apex_replay"].filter(pl.col("trace_file").is_null())
    assert set(missing["trace"]) == {"summarization_025", "summarization_05"}
    assert sc.load_trace("llama/creation_05").equals(
        sc.load_trace(sc.TRACE_DIR / "llama" / "creation_05.csv")
    )


def _write(tmp_path, lines):
    path = tmp_path / "trace.csv"
    path.write_text("\n".join(["request_id,arrival_s,prompt_tokens,output_tokens", *lines]) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "line", "what"),
    [
        (["a,0.5,10,20", "b,0.2,10,20"], 3, "sorted"),
        (["a,0.5,10,20", "b,0.7,0,20"], 3, "positive"),
        (["a,0.5,10,-1"], 2, "positive"),
        (["a,0.5,10,20", "b,0.6,10,20", "c,x,10,20"], 4, "cannot read"),
        (["a,-1,10,20"], 2, ">= 0"),
        (["a,nan,10,20"], 2, "finite"),
        (["a,0.5,10.5,20"], 2, "cannot read"),
    ],
)
def test_trace_errors_name_file_and_line(tmp_path, lines, line, what):
    path = _write(tmp_path, lines)
    with pytest.raises(sc.TraceError, match=f"line {line}: .*{what}") as info:
        sc.load_trace(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, pm.PerfModelError) and isinstance(info.value, ValueError)


def test_trace_header_and_missing_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("arrival,prompt_tokens,output_tokens\n0.1,1,1\n")
    with pytest.raises(sc.TraceError, match="line 1: header lacks \\['arrival_s'\\]"):
        sc.load_trace(path)
    with pytest.raises(sc.TraceError, match="no such trace.*llama/creation_05"):
        sc.load_trace("llama/summarization_05")
    empty = tmp_path / "empty.csv"
    empty.write_text("arrival_s,prompt_tokens,output_tokens\n")
    with pytest.raises(sc.TraceError, match="no requests"):
        sc.load_trace(empty)


def test_synthetic_trace_reproduces_the_sums(cases):
    for rec in cases["apex_replay"].filter(pl.col("trace_file").is_null()).iter_rows(named=True):
        t = sc.synthetic_trace(
            rec["rate_req_s"],
            rec["num_requests"],
            rec["trace_prompt_tokens_sum"],
            rec["trace_output_tokens_sum"],
            seed=7,
        )
        assert t.height == rec["num_requests"]
        assert t["prompt_tokens"].sum() == rec["trace_prompt_tokens_sum"]
        assert t["output_tokens"].sum() == rec["trace_output_tokens_sum"]
        assert t["prompt_tokens"].min() >= 1 and t["output_tokens"].min() >= 1
        assert t["arrival_s"].is_sorted() and t["arrival_s"].min() > 0
        # Poisson at the stated rate: n arrivals take about n / rate seconds (within 10 % for n ~ 1000)
        assert t["arrival_s"].max() == pytest.approx(rec["num_requests"] / rec["rate_req_s"], rel=0.1)


def test_synthetic_trace_is_deterministic_and_checked():
    a = sc.synthetic_trace(0.5, 100, 10_000, 3_000, seed=3)
    assert a.equals(sc.synthetic_trace(0.5, 100, 10_000, 3_000, seed=3))
    assert not a.equals(sc.synthetic_trace(0.5, 100, 10_000, 3_000, seed=4))
    tight = sc.synthetic_trace(1.0, 5, 5, 6, seed=0)
    assert tight["prompt_tokens"].to_list() == [1] * 5 and tight["output_tokens"].sum() == 6
    for bad in ({"rate": 0.0}, {"n": 0}, {"prompt_sum": 99}, {"output_sum": 10.5}):
        args = {"rate": 0.5, "n": 100, "prompt_sum": 10_000, "output_sum": 3_000, **bad}
        with pytest.raises(pm.InvalidArgumentError):
            sc.synthetic_trace(**args)


def test_split_is_deterministic_and_by_group(cases):
    again = sc.all_cases()
    for name, df in cases.items():
        assert df.select("role", "split_group", "calibration").equals(
            again[name].select("role", "split_group", "calibration")
        )
        assert set(df["role"]) <= {"fit", "holdout", "excluded"}
        # a group has one role (excluded rows aside): roles never go row by row
        per_group = (
            df.filter(pl.col("role") != "excluded").group_by("split_group").agg(pl.col("role").n_unique())
        )
        assert (per_group["role"] == 1).all(), name


def test_split_does_not_leak(cases):
    sw = cases["splitwise_phase"]
    # the three metrics of one Splitwise configuration (prefill, decode, e2e) share a role
    cfg = ["model_id", "device", "tp", "batch_size", "prompt_tokens", "output_tokens"]
    assert (
        sw.filter(pl.col("role") != "excluded").group_by(cfg).agg(pl.col("role").n_unique())["role"] == 1
    ).all()
    # within a (model, device), fit and holdout differ in TP: held-out TP degrees are whole
    for (mid, dev), g in sw.filter(pl.col("role") != "excluded").group_by("model_id", "device"):
        fit_tp = set(g.filter(pl.col("role") == "fit")["tp"])
        hold_tp = set(g.filter(pl.col("role") == "holdout")["tp"])
        assert not fit_tp & hold_tp, (mid, dev)
    assert set(sw.filter(pl.col("model_id") == "bloom-176b")["role"]) == {"holdout"}
    assert set(sw.filter(pl.col("role") == "fit")["model_id"]) == {"llama2-70b"}
    # TensorRT-LLM: fit and holdout never share (version, model, device)
    trt = cases["trtllm_throughput"].filter(pl.col("role") != "excluded")
    by = trt.group_by("framework_version", "model_id", "device").agg(pl.col("role").n_unique())
    assert (by["role"] == 1).all()
    assert set(trt.filter(pl.col("role") == "fit")["framework_version"]) == {
        "v0.10",
        "v1.0",
    }  # trtllm, trtllm-pytorch
    # every calibration with held-out rows in these two case types has fit rows of the same calibration
    for df in (sw, trt):
        fitted = set(df.filter(pl.col("role") == "fit")["calibration"])
        assert set(df.filter(pl.col("role") == "holdout")["calibration"]) <= fitted
    # APEX: the vLLM Llama-3.1-70B replays fit vLLM v0.6.0's launch figure, every other replay is held out;
    # the batch-1 latencies and ML.ENERGY rows are held out
    apex = cases["apex_replay"]
    fit = apex.filter(pl.col("role") == "fit")
    assert set(zip(fit["framework"], fit["model_id"], strict=True)) == {("vllm", "llama3.1-70b")}
    held = apex.filter(pl.col("role") == "holdout")
    assert not set(held["model_id"]) & set(fit["model_id"]) and held.height == apex.height - fit.height
    for name in ("single_request_latency", "mlenergy"):
        assert set(cases[name]["role"]) == {"holdout"}


def test_excluded_rows_are_the_flagged_ones(cases):
    sw = cases["splitwise_phase"]
    assert sorted(sw.filter(pl.col("role") == "excluded")["row"]) == sorted(
        i for i, _, p in _measured("splitwise_phase") if "exclude" in p.get("caveat", "")
    )
    trt = cases["trtllm_throughput"].filter(pl.col("role") == "excluded")
    assert trt.height == 9
    assert set(trt.filter(pl.col("framework_version") == "v0.6")["gpus"]) == {2, 4, 8}
    assert trt.filter(pl.col("framework_version") == "v0.10")["value"].to_list() == [pytest.approx(54939.5)]


def test_split_needs_a_case_frame():
    with pytest.raises(pm.InvalidArgumentError, match="case"):
        sc.split(pl.DataFrame({"x": [1]}))
