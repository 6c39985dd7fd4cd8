"""The allocation validation suite: perfmodel's cheapest GPU mix against Mélange's Arena allocations (issue 14).
Targets not met are strict xfails (they fail once met, so the numbers get promoted); the guard at the end stops
the kept numbers (validation/allocation_summary.json) getting worse."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from perfmodel.validation import allocation, run

KEPT = Path(__file__).resolve().parent.parent / "validation" / "allocation_summary.json"


@pytest.fixture(scope="module")
def comparison() -> pl.DataFrame:
    return allocation.comparison()


def test_every_paper_row_is_read_and_compared(comparison: pl.DataFrame) -> None:
    """Table 3: 2 SLOs x 6 rates x (Mélange + 4 single types) = 60 settings, every one with the paper's cost; the
    savings of the 48 single-type rows are (1 - mix / single) to a tenth of a point (the paper rounds)."""
    assert comparison.height == 60
    assert comparison["hourly_cost"].is_not_null().all()
    mixes = comparison.filter(pl.col("solver") == "Mélange").select(
        "tpot_slo_ms", "rate_req_s", pl.col("hourly_cost").alias("mix")
    )
    singles = comparison.filter(pl.col("solver") != "Mélange").join(mixes, on=["tpot_slo_ms", "rate_req_s"])
    derived = (1 - singles["mix"] / singles["hourly_cost"]) * 100
    assert (derived - singles["saving"]).abs().max() < 0.1
    rows = run("allocation")
    assert set(rows["role"].unique()) == {"holdout"}
    assert rows["predicted"].is_finite().all()


@pytest.mark.xfail(
    strict=True,
    reason="issue 14 target not met: Mélange mix cost within 10% at every SLO and rate "
    "(measured: median 74%, max 83% under the paper; the model's per-GPU capacities are ~8x Mélange's)",
)
def test_mix_cost_within_ten_percent(comparison: pl.DataFrame) -> None:
    m = comparison.filter(pl.col("solver") == "Mélange")
    assert (m["cost_error"].abs() <= 0.10).all()


@pytest.mark.xfail(
    strict=True,
    reason="issue 14 target not met: savings vs single types within 10 points "
    "(measured: 22% of rows within; median 19 points, max 47; 12 single-type rows infeasible at 40 ms for L4/A10G)",
)
def test_savings_within_ten_points(comparison: pl.DataFrame) -> None:
    s = comparison.filter(pl.col("solver") != "Mélange")
    assert s["saving_points"].is_not_null().all() and (s["saving_points"].abs() <= 10).all()


def test_no_group_worse_than_kept() -> None:
    from perfmodel.validation import summarize

    now = {r["group"]: r for r in summarize(run("allocation"), ("group", "role")).iter_rows(named=True)}
    kept = {g["group"]: g for g in json.loads(KEPT.read_text())["groups"]}
    assert set(now) == set(kept)
    for name, g in now.items():
        assert g["median_abs_error"] <= kept[name]["median_abs_error"] + 0.005, name
        assert g["max_abs_error"] <= kept[name]["max_abs_error"] + 0.005, name
