"""The serving validation suite: Splitwise phase times, TensorRT-LLM offline throughput and APEX vLLM trace
replays, each against the issue's target (issue 13). Targets not met yet are strict xfails: they turn into
failures when met, so the numbers get promoted. The guard at the end stops the kept numbers
(validation/serving_summary.json) getting worse."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from perfmodel.validation import run, summarize

KEPT = Path(__file__).resolve().parent.parent / "validation" / "serving_summary.json"
GROUPS = {
    "splitwise_prefill",
    "splitwise_decode",
    "trtllm_throughput",
    "apex_ttft",
    "apex_tpot",
    "apex_sglang_first_output",
    "vllm_blog",
}


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return run("serving")


@pytest.fixture(scope="module")
def holdout(rows: pl.DataFrame) -> dict[str, dict[str, float]]:
    h = summarize(rows.filter(pl.col("role") == "holdout"), ("group", "role"))
    return {r["group"]: r for r in h.iter_rows(named=True)}


def test_every_group_is_predicted_and_roles_come_from_the_split(rows: pl.DataFrame) -> None:
    assert set(rows["group"].unique()) == GROUPS
    assert set(rows["role"].unique()) == {"fit", "holdout", "reported"}
    # Reported, not targets: the vLLM blog's light-load decode interval (its batch and context are not
    # published) and the SGLang replays' first-output times (SGLang stamps "TTFT" at the 50th output token of a
    # non-streaming request, serving_apex.SGLANG_FORCE_STREAM_INTERVAL).
    reported = rows.filter(pl.col("role") == "reported")
    assert set(reported["group"].unique()) == {"vllm_blog", "apex_sglang_first_output"}
    assert reported.filter(pl.col("group") == "apex_sglang_first_output").height == 12
    assert rows["predicted"].is_finite().all() and (rows["predicted"] > 0).all()
    # Splitwise: BLOOM-176B on both systems; APEX: the Llama-3.1-70B vLLM replays fit vLLM v0.6.0's launch
    # figure (11 TTFT + 11 TPOT rows), the Mistral-Large ones (12 + 12) are held out.
    assert rows.filter((pl.col("group") == "splitwise_decode") & (pl.col("role") == "holdout")).height >= 26
    apex = rows.filter(pl.col("group").is_in(["apex_ttft", "apex_tpot"]))
    models = apex.select(pl.col("params").str.json_path_match("$.model").alias("m"), "role")
    assert set(models.filter(pl.col("role") == "fit")["m"]) == {"llama3.1-70b"}
    assert set(models.filter(pl.col("role") == "holdout")["m"]) == {"mistral-large-2407"}
    assert models.filter(pl.col("role") == "fit").height == 22 and models.height == 46


@pytest.mark.xfail(
    strict=True,
    reason="issue 13 target not met: Splitwise held-out median <= 10%, max <= 25%; measured (BLOOM-176B, 26 rows "
    "each) prefill 24.6% / 50.5%, decode 10.1% / 20.5% (validation/serving_summary.json)",
)
def test_splitwise_holdout_meets_the_target(holdout: dict[str, dict[str, float]]) -> None:
    for g in ("splitwise_prefill", "splitwise_decode"):
        assert holdout[g]["median_abs_error"] <= 0.10 and holdout[g]["max_abs_error"] <= 0.25, g


def test_trtllm_holdout_meets_the_target(holdout: dict[str, dict[str, float]]) -> None:
    assert holdout["trtllm_throughput"]["median_abs_error"] <= 0.15


def test_apex_mean_tpot_meets_the_target(holdout: dict[str, dict[str, float]]) -> None:
    assert holdout["apex_tpot"]["median_abs_error"] <= 0.15


def test_apex_mean_ttft_meets_the_target(holdout: dict[str, dict[str, float]]) -> None:
    # Held out: the 12 Mistral-Large-2407 vLLM replays (10.9% with vLLM v0.6.0's eager prefill launches and
    # fp8 input quantization kernels; 42.7% before); the SGLang rows are first-output times, reported.
    assert holdout["apex_ttft"]["median_abs_error"] <= 0.15


def test_no_group_worse_than_kept(holdout: dict[str, dict[str, float]]) -> None:
    kept = {(g["group"], g["role"]): g for g in json.loads(KEPT.read_text())["groups"]}
    for name, g in holdout.items():
        k = kept[(name, "holdout")]
        assert g["median_abs_error"] <= k["median_abs_error"] + 0.005, name
        assert g["max_abs_error"] <= k["max_abs_error"] + 0.005, name
