"""DAQ pipelines: the CMS power table and Gaussian oracle of docs/models/daq.md#numbers-to-reproduce, the calibrated
presets, sweeps, Monte Carlo mode and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import perfmodel as pm
import perfmodel.validation
import polars as pl
import pytest
from perfmodel.errors import InvalidArgumentError, ModelError

# docs/models/daq.md#numbers-to-reproduce power table (P_scaled, 2032 technology), tolerance 0.5 %.
POWER_TABLE = [
    ({}, 51.60e6),
    ({"gpu_hlt": True}, 25.85e6),
    ({"smart_pixels": True}, 40.83e6),
    ({"gpu_hlt": True, "smart_pixels": True}, 20.46e6),
]


@pytest.mark.parametrize(("levers", "watts"), POWER_TABLE)
def test_power_table(levers: dict[str, bool], watts: float) -> None:
    m = pm.daq.preset("cms-run5", **levers).evaluate()
    assert m.power_w == pytest.approx(watts, rel=5e-3)
    # Technology levers that do not touch compute leave power unchanged (docs/models/daq.md#numbers-to-reproduce: L1T tracking).
    assert pm.daq.preset("cms-run5", l1_tracking=True, **levers).evaluate().power_w == pytest.approx(
        m.power_w, rel=1e-12
    )


def test_power_reduction_is_the_papers_60_percent() -> None:
    base = pm.daq.preset("cms-run5").evaluate().power_w
    best = pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True).evaluate().power_w
    assert 1 - best / base == pytest.approx(0.603, abs=0.002)


def test_run3_and_rr400_power() -> None:
    assert pm.daq.preset("cms-run3").evaluate().power_w == pytest.approx(0.3215e6, rel=5e-3)
    p = pm.daq.preset("cms-run5").with_values({"L1T.reduction_ratio": 400.0})
    assert p.evaluate().power_w == pytest.approx(6.959e6, rel=5e-3)


def test_link_breakdown_run5() -> None:
    st = pm.daq.preset("cms-run5").evaluate().stages
    scale = np.exp(0.18717361 * 10)
    link = {r["stage"]: r["link_power_w"] * scale for r in st.iter_rows(named=True)}
    detectors = sum(v for k, v in link.items() if st.filter(pl.col("stage") == k)["kind"][0] == "detector")
    assert detectors == pytest.approx(58.00e3, rel=1e-3)
    assert sum(link[c] for c in ("Tracking", "Timing", "Calorimetry", "Muon")) == pytest.approx(
        65.32e3, rel=1e-3
    )
    assert link["L1T"] == pytest.approx(1.265e3, rel=1e-3)
    assert link["HLT"] == pytest.approx(12.6, rel=5e-3)


def test_link_throughput_units() -> None:
    """A 1 MHz detector of 1,000-byte events on a 10 pJ/bit link: 1e9 bytes/s, 8e9 bits/s, 0.08 W at the reference
    year's technology (by hand)."""
    p = pm.daq.Pipeline("units", year=2022)
    p.detector("Pixels", sample_rate_hz=1e6, data_bytes=1000, to="Storage", link_energy_per_bit_j=1e-11)
    p.storage("Storage")
    row = p.evaluate().stages.filter(pl.col("stage") == "Pixels").row(0, named=True)
    assert row["link_throughput_bytes_per_s"] == pytest.approx(1e9)
    assert row["link_throughput_bits_per_s"] == pytest.approx(8e9)
    assert row["link_power_w"] == pytest.approx(1e-11 * 8e9, rel=1e-9)


@pytest.mark.parametrize(
    ("skill", "f1", "precision", "recall"),
    [(3.0, 0.729308, 0.729211, 0.729405), (3.4, 0.790670, 0.790617, 0.790722)],
)
def test_deterministic_gaussian_oracle(skill: float, f1: float, precision: float, recall: float) -> None:
    m = pm.daq.preset("cms-run5").with_values({"L1T.skill": skill, "HLT.skill": 4.0}).evaluate()
    assert m.f1 == pytest.approx(f1, rel=1e-4)
    assert m.precision == pytest.approx(precision, rel=1e-4)
    assert m.recall == pytest.approx(recall, rel=1e-4)
    if skill == 3.0:
        assert m.relevant_per_kj == pytest.approx(0.10606, rel=1e-4)
        assert m.energy_per_relevant_j == pytest.approx(1e3 / m.relevant_per_kj, rel=1e-12)
        st = m.stages.filter(pl.col("stage") == "L1T")
        assert st["threshold"][0] == pytest.approx(2.083314, abs=1e-6)


def test_fitted_skills_reproduce_their_calibration_rows() -> None:
    """The presets' L1T skills are FITTED to SystemFlow's F1 (dc62d1e): baseline 0.385988, L1T tracking 0.793456.
    This checks the calibration is current, not a prediction."""
    base = pm.daq.preset("cms-run5")
    assert base.evaluate().f1 == pytest.approx(0.385988, rel=1e-3)
    assert pm.daq.preset("cms-run5", l1_tracking=True).evaluate().f1 == pytest.approx(0.793456, rel=1e-3)
    assert pm.daq.calibrate_skill(base, "L1T", 0.385988) == pytest.approx(base.get("L1T.skill"), abs=2e-3)


def test_headline_productivity_within_systemflow_spread() -> None:
    """Paper: 0.065 -> 0.31 relevant samples/kJ; SystemFlow's own runs: 0.0550/0.0562 -> 0.2595/0.2963 (holdout)."""
    base = pm.daq.preset("cms-run5").evaluate().relevant_per_kj
    best = (
        pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True, l1_tracking=True)
        .evaluate()
        .relevant_per_kj
    )
    assert 0.055 <= base <= 0.065
    assert 0.2595 <= best <= 0.31


def test_validation_suite_meets_targets_and_is_committed() -> None:
    rows = pm.validation.run("daq")
    check = rows.filter(pl.col("role") == "check")
    assert check.filter(pl.col("group") == "power_table")["error"].abs().max() < 5e-3
    assert check.filter(pl.col("group") == "gaussian_oracle")["error"].abs().max() < 1e-4
    summary = json.loads(
        (Path(__file__).resolve().parent.parent / "validation" / "daq_summary.json").read_text()
    )
    committed = {(g["group"], g["role"]): g["max_abs_error"] for g in summary["groups"]}
    now = pm.validation.summarize(rows, ("group", "role"))
    for r in now.iter_rows(named=True):
        assert r["max_abs_error"] <= committed[(r["group"], r["role"])] + 1e-9, r


def test_sweep_matches_single_evaluations() -> None:
    p = pm.daq.preset("cms-run5")
    skills = np.array([1.0, 2.0, 3.0, 3.4])
    df = p.sweep({"L1T.skill": skills, "year": 2032.0}, per_stage=True)
    assert df.height == 4
    for s, f1, pw in zip(skills, df["f1"], df["power_w"], strict=True):
        m = p.with_values({"L1T.skill": float(s)}).evaluate()
        assert f1 == pytest.approx(m.f1, rel=1e-14)
        assert pw == pytest.approx(m.power_w, rel=1e-14)
    stage_cols = [c for c in df.columns if c.startswith("power_w:")]
    assert df.select(pl.sum_horizontal(stage_cols))[:, 0].to_list() == pytest.approx(
        df["power_w"].to_list(), rel=1e-12
    )
    # CMOS scaling: ten more years divide power by exp(0.18717361 * 10).
    later = p.sweep({"year": [2032.0, 2042.0]})["power_w"]
    assert later[0] / later[1] == pytest.approx(np.exp(1.8717361), rel=1e-12)


def test_lever_sweep_has_every_combination() -> None:
    df = pm.daq.lever_sweep("cms-run5")
    assert df.height == 16
    row = df.filter(
        pl.col("gpu_hlt") & pl.col("smart_pixels") & ~pl.col("l1_tracking") & ~pl.col("optical_links")
    )
    assert row["power_w"][0] == pytest.approx(
        pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True).evaluate().power_w, rel=1e-12
    )


def test_monte_carlo_is_seeded_and_spreads_like_systemflow() -> None:
    p = pm.daq.preset("cms-run5")
    det = p.evaluate().f1
    a = p.evaluate(mc_seed=1, mc_samples=50_000)
    b = p.evaluate(mc_seed=1, mc_samples=50_000)
    c = p.evaluate(mc_seed=2, mc_samples=50_000)
    assert a.f1 == b.f1
    assert a.f1 != c.f1
    # 50k samples per class: SystemFlow's runs differ by a few percent (docs/models/daq.md#classifiers).
    assert abs(a.f1 - det) / det < 0.1 and abs(c.f1 - det) / det < 0.1


def test_rates_and_empirical_classifiers() -> None:
    p = pm.daq.Pipeline(year=2022)
    p.detector("D", sample_rate_hz=1e6, data_bytes=100, to="T")
    p.stage("T", reduction_ratio=10, classifier=pm.daq.Rates(tpr=0.9, fpr=0.05), to="S")
    p.storage("S")
    m = p.evaluate()
    # rho = 1/10: 100 000 relevant, 900 000 irrelevant -> TP 90 000, FP 45 000.
    assert (m["tp_per_s"], m["fp_per_s"]) == (90_000.0, 45_000.0)
    assert m.precision == pytest.approx(90 / 135)
    # Empirical: negatives uniform [0, 1], positives uniform [1, 2], keep 1/2 of equal classes -> perfect.
    e = pm.daq.Empirical.from_efficiency_curve(
        [0.0, 1.0, 2.0], signal_efficiency=[1.0, 1.0, 0.0], background_efficiency=[1.0, 0.0, 0.0]
    )
    q = pm.daq.Pipeline(relevant_fraction=0.5)
    q.detector("D", sample_rate_hz=1e6, data_bytes=100, to="T").stage(
        "T", reduction_ratio=2, classifier=e, to="S"
    ).storage("S")
    assert q.evaluate().f1 == pytest.approx(1.0, abs=1e-6)


def test_farm_cost_is_units_times_unit_cost() -> None:
    m = pm.daq.preset("cms-run5").evaluate()
    hlt = m.stages.filter(pl.col("stage") == "HLT")
    expected_units = np.ceil(hlt["input_rate_hz"][0] * hlt["ops_per_event"][0] * (0.3313 / 64) / 0.7)
    assert hlt["units"][0] == expected_units
    assert m.cost == pytest.approx(expected_units * 20000.0)
    gpu = pm.daq.preset("cms-run5", gpu_hlt=True).evaluate().stages.filter(pl.col("stage") == "HLT")
    t = pm.daq.device_unit_time_s("h100-sxm5-80gb", 3.3e11, 2e9)
    assert gpu["units"][0] == np.ceil(gpu["input_rate_hz"][0] * gpu["ops_per_event"][0] * t / 0.7)


def _tiny() -> pm.daq.Pipeline:
    p = pm.daq.Pipeline()
    p.detector("D", sample_rate_hz=1e6, data_bytes=100, to="L1")
    p.stage("L1", reduction_ratio=10, classifier=pm.daq.Gaussian(2.0), to="S")
    return p.storage("S")


def test_bad_input_names_the_stage() -> None:
    p = _tiny()
    p._nodes["S"].to = "L1"  # storage feeding back into the trigger: a cycle
    with pytest.raises(ModelError, match="cycle"):
        p.evaluate()
    q = pm.daq.Pipeline()
    q.detector("D", sample_rate_hz=1e6, data_bytes=100, to="L1").stage(
        "L1", reduction_ratio=10, classifier=pm.daq.Gaussian(2.0)
    )
    with pytest.raises(ModelError, match="storage"):
        q.evaluate()
    with pytest.raises(InvalidArgumentError, match="'L1' reduction_ratio"):
        _tiny().with_values({"L1.reduction_ratio": 0.5}).evaluate()
    with pytest.raises(InvalidArgumentError, match="'D' sample_rate_hz"):
        _tiny().with_values({"D.sample_rate_hz": -1.0}).evaluate()
    with pytest.raises(InvalidArgumentError, match="'D' data_bytes"):
        _tiny().with_values({"D.data_bytes": -1.0}).evaluate()
    with pytest.raises(InvalidArgumentError, match="row 1"):
        _tiny().sweep({"L1.reduction_ratio": [2.0, 0.1]})
    with pytest.raises(InvalidArgumentError, match="unknown lever"):
        pm.daq.preset("cms-run5", gpu=True)
    with pytest.raises(InvalidArgumentError, match="cms-run5"):
        pm.daq.preset("cms-run6")
    with pytest.raises(InvalidArgumentError, match="True or False"):
        pm.daq.preset("cms-run5", gpu_hlt="yes")  # type: ignore[arg-type]


def test_toml_round_trip_and_strict_keys(tmp_path: Path) -> None:
    text = """
[pipeline]
year = 2022
[[detector]]
name = "D"
to = "T"
sample_rate_hz = 1e6
data_bytes = 100
[[stage]]
name = "T"
to = "S"
reduction_ratio = 10
classifier = { kind = "gaussian", skill = 2.0 }
[storage]
name = "S"
"""
    f = tmp_path / "p.toml"
    f.write_text(text)
    assert pm.daq.load(str(f)).evaluate().f1 == pytest.approx(_tiny().evaluate().f1, rel=1e-15)
    f.write_text(text.replace("reduction_ratio", "reduction_ration"))
    with pytest.raises(InvalidArgumentError, match="reduction_ration.*did you mean `reduction_ratio`"):
        pm.daq.load(str(f))
