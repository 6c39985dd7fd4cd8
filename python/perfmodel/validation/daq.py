"""DAQ suite: the CMS pipelines against docs/models/daq.md#numbers-to-reproduce and SystemFlow's published outputs.

Roles: ``check`` = deterministic derivations of the SystemFlow equations (power table, Gaussian-classifier
oracle); ``fit`` = the two F1 rows the presets' Gaussian L1T skills are calibrated to (Run-5 baseline and
Run-5 + L1T tracking, results_table.ipynb at dc62d1e); ``holdout`` = everything else (the other
SystemFlow runs and configurations, Run-3, the paper's headline numbers).
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ..daq import preset
from . import frame, published

DOMAIN = "docs/models/daq.md#numbers-to-reproduce (deterministic re-implementation of the SystemFlow equations) [D]"
FIT_COMMIT = "dc62d1e"

#: SystemFlow scenario -> (preset, levers).
SCENARIOS: dict[str, tuple[str, dict[str, bool]]] = {
    "Run-3 baseline (PU60, L1T 400x)": ("cms-run3", {}),
    "Run-5 baseline (PU200, L1T 53x)": ("cms-run5", {}),
    "Run-5 + GPU HLT": ("cms-run5", {"gpu_hlt": True}),
    "Run-5 + L1T tracking": ("cms-run5", {"l1_tracking": True}),
    "Run-5 + smart sensors": ("cms-run5", {"smart_pixels": True}),
    "Run-5 + GPU HLT + L1T tracking": ("cms-run5", {"gpu_hlt": True, "l1_tracking": True}),
    "Run-5 + L1T tracking + smart sensors": ("cms-run5", {"l1_tracking": True, "smart_pixels": True}),
    "Run-5 + GPU HLT + smart sensors": ("cms-run5", {"gpu_hlt": True, "smart_pixels": True}),
    "Run-5 + GPU HLT + L1T tracking + smart sensors": (
        "cms-run5",
        {"gpu_hlt": True, "l1_tracking": True, "smart_pixels": True},
    ),
}
_METRIC = {
    "total_power_projected_2032": ("power_w", "W"),
    "pipeline_F1": ("f1", "fraction"),
    "productivity": ("relevant_per_kj", "relevant samples/kJ"),
}


def _row(
    group: str,
    system: str,
    operation: str,
    params: dict[str, Any],
    metric: str,
    unit: str,
    measured: float,
    predicted: float,
    role: str,
    source: str,
) -> dict[str, Any]:
    return {
        "suite": "daq", "group": group, "system": system, "operation": operation, "params": json.dumps(params, sort_keys=True),
        "metric": metric, "unit": unit, "measured": float(measured), "predicted": float(predicted), "role": role, "source": source,
    }  # fmt: skip


def run() -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    cache: dict[str, Any] = {}

    def ev(name: str, **kw: Any) -> Any:
        key = f"{name}{sorted(kw.items())}"
        if key not in cache:
            values = kw.pop("values", None)
            p = preset(name, **kw)
            cache[key] = (p.with_values(values) if values else p).evaluate()
        return cache[key]

    # Power table (docs/models/daq.md#numbers-to-reproduce), scaled to 2032 technology.
    table = [
        ("Run-3 PU60, RR 400", "cms-run3", {}, None, 0.3215e6),
        ("Run-5 PU200, RR 400", "cms-run5", {}, {"L1T.reduction_ratio": 400.0}, 6.959e6),
        ("Run-5 baseline RR 53.3", "cms-run5", {}, None, 51.60e6),
        ("+ GPU HLT", "cms-run5", {"gpu_hlt": True}, None, 25.85e6),
        ("+ smart pixels", "cms-run5", {"smart_pixels": True}, None, 40.83e6),
        ("+ GPU + smart pixels", "cms-run5", {"gpu_hlt": True, "smart_pixels": True}, None, 20.46e6),
    ]
    for label, name, lv, values, mw in table:
        m = ev(name, **lv, values=values) if values else ev(name, **lv)
        rows.append(
            _row(
                "power_table",
                name,
                label,
                {"levers": lv, "overrides": values or {}},
                "power_w",
                "W",
                mw,
                m.power_w,
                "check",
                DOMAIN,
            )
        )
    base, best = ev("cms-run5"), ev("cms-run5", gpu_hlt=True, smart_pixels=True)
    rows.append(
        _row(
            "power_table",
            "cms-run5",
            "power reduction baseline -> GPU + smart pixels",
            {},
            "power_reduction",
            "%",
            60.3,
            100 * (1 - best.power_w / base.power_w),
            "check",
            DOMAIN,
        )
    )
    l1 = base.stages.filter(pl.col("stage") == "L1T")
    rows.append(
        _row(
            "power_table",
            "cms-run5",
            "L1T node power (unscaled)",
            {},
            "power",
            "W",
            505499.99,
            l1["compute_power_w"][0] * base["scale_factor"],
            "check",
            "SystemFlow results_table.ipynb at dc62d1e (published_measurements.csv)",
        )
    )
    rows.append(
        _row(
            "power_table",
            "cms-run5",
            "CMOS density scaling factor 2032",
            {},
            "scale_factor",
            "x",
            6.499570514329353,
            base["scale_factor"],
            "check",
            "SystemFlow density_scale_model(2032) (published_measurements.csv)",
        )
    )

    # Deterministic Gaussian oracle: L1T N(3|3.4, 1), HLT N(4, 1), CPU HLT.
    for skill, f1, extra in [
        (3.0, 0.729308, {"relevant_per_kj": 0.10606, "precision": 0.729211, "recall": 0.729405}),
        (3.4, 0.790670, {"precision": 0.790617, "recall": 0.790722}),
    ]:
        m = ev("cms-run5", values={"L1T.skill": skill})
        params = {"L1T": f"gaussian({skill}, 1)", "HLT": "gaussian(4, 1)"}
        rows.append(
            _row(
                "gaussian_oracle",
                "cms-run5",
                f"L1T skill {skill}",
                params,
                "f1",
                "fraction",
                f1,
                m.f1,
                "check",
                DOMAIN,
            )
        )
        for k, v in extra.items():
            rows.append(
                _row(
                    "gaussian_oracle",
                    "cms-run5",
                    f"L1T skill {skill}",
                    params,
                    k,
                    "relevant samples/kJ" if k == "relevant_per_kj" else "fraction",
                    v,
                    m[k],
                    "check",
                    DOMAIN,
                )
            )

    # SystemFlow's notebook outputs (two commits) and the paper's headline numbers.
    pub = published().filter(pl.col("category") == "hep_daq")
    for r in pub.filter(pl.col("metric").is_in(list(_METRIC))).iter_rows(named=True):
        params = json.loads(r["params"])
        scenario, commit = params.get("scenario", r["operation"]), params.get("commit", "")
        if scenario not in SCENARIOS:
            continue
        name, lv = SCENARIOS[scenario]
        metric, unit = _METRIC[r["metric"]]
        fitted = (
            metric == "f1"
            and commit == FIT_COMMIT
            and scenario in ("Run-5 baseline (PU200, L1T 53x)", "Run-5 + L1T tracking")
        )
        rows.append(
            _row(
                f"systemflow_{commit}",
                name,
                scenario,
                {"levers": lv, "commit": commit},
                metric,
                unit,
                r["value"],
                ev(name, **lv)[metric],
                "fit" if fitted else "holdout",
                r["source"],
            )
        )
    head = pub.filter(pl.col("metric").is_in(["productivity_baseline", "productivity_improved"]))
    for r in head.iter_rows(named=True):
        lv = (
            {}
            if r["metric"] == "productivity_baseline"
            else {"gpu_hlt": True, "smart_pixels": True, "l1_tracking": True}
        )
        rows.append(
            _row(
                "paper_headline",
                "cms-run5",
                r["operation"],
                {"levers": lv},
                "relevant_per_kj",
                "relevant samples/kJ",
                r["value"],
                ev("cms-run5", **lv).relevant_per_kj,
                "holdout",
                r["source"],
            )
        )
    return frame(rows)
