"""The serving validation suite (Splitwise phase times so far). The issue's targets (held-out median <= 10%,
max <= 25%) are NOT met yet: the strict xfail below says so and turns into a failure when they are, so the
numbers get promoted. The guard under it stops the kept numbers (validation/serving_summary.json) getting worse."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from perfmodel.validation import run, summarize

KEPT = Path(__file__).resolve().parent.parent / "validation" / "serving_summary.json"


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return run("serving")


def _holdout(rows: pl.DataFrame) -> pl.DataFrame:
    return summarize(rows.filter(pl.col("role") == "holdout"), ("group", "role"))


def test_every_splitwise_phase_row_is_predicted_and_roles_come_from_the_split(rows: pl.DataFrame) -> None:
    assert set(rows["group"].unique()) == {"splitwise_prefill", "splitwise_decode"}
    assert set(rows["role"].unique()) == {"fit", "holdout"}
    assert rows.filter(pl.col("role") == "holdout").height >= 50  # BLOOM-176B on both systems
    assert rows["predicted"].is_finite().all() and (rows["predicted"] > 0).all()


@pytest.mark.xfail(strict=True, reason="issue 13 target not met yet: Splitwise held-out median <= 10%, max <= 25%")
def test_splitwise_holdout_meets_the_issue_target(rows: pl.DataFrame) -> None:
    h = _holdout(rows)
    assert (h["median_abs_error"] <= 0.10).all() and (h["max_abs_error"] <= 0.25).all()


def test_splitwise_holdout_no_worse_than_kept(rows: pl.DataFrame) -> None:
    kept = {(g["group"], g["role"]): g for g in json.loads(KEPT.read_text())["groups"]}
    for g in _holdout(rows).iter_rows(named=True):
        k = kept[(g["group"], "holdout")]
        assert g["median_abs_error"] <= k["median_abs_error"] + 0.005, g["group"]
        assert g["max_abs_error"] <= k["max_abs_error"] + 0.005, g["group"]
