"""Validation against published measurements, as a library feature.

Each suite (``roofline``, ``collectives``, ``llm``, ``daq``, ``holmes``, ``serving``, ``allocation``, and ``measured`` for this project's own
GPU measurements) is a module of this package with a
``run() -> polars.DataFrame`` returning one row per published measurement it predicts, with the columns of
:data:`ROW_COLUMNS`. :func:`run` concatenates suites; :func:`summarize` gives median and max absolute error
per suite and role. The CLI (``perfmodel validate SUITE``) writes ``validation/<suite>.csv`` (per row) and
``validation/<suite>_summary.json`` into the repository so regressions show in review; tests fail when a
suite gets worse than its targets.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import InvalidArgumentError

__all__ = ["SUITES", "ROW_COLUMNS", "run", "summarize", "published", "write"]

#: Suite name -> module implementing ``run()``. A suite whose module is absent is reported as unavailable.
SUITES: dict[str, str] = {
    "roofline": "perfmodel.validation.roofline",
    "collectives": "perfmodel.validation.collectives",
    "llm": "perfmodel.validation.llm",
    "daq": "perfmodel.validation.daq",
    "holmes": "perfmodel.validation.holmes",
    "measured": "perfmodel.validation.measured",
    "serving": "perfmodel.validation.serving",
    "allocation": "perfmodel.validation.allocation",
    "energy": "perfmodel.validation.energy",
    "sizing": "perfmodel.validation.sizing",
    "mlperf5": "perfmodel.validation.mlperf5",
    "serving_new": "perfmodel.validation.serving_new",
}

#: Columns every suite returns. ``error`` is (predicted - measured) / measured; ``role`` is ``fit`` for rows
#: a calibration used, ``holdout`` for rows it did not, ``check`` for exact derivations (formulas, counts).
ROW_COLUMNS: dict[str, Any] = {
    "suite": pl.String,
    "group": pl.String,
    "system": pl.String,
    "operation": pl.String,
    "params": pl.String,
    "metric": pl.String,
    "unit": pl.String,
    "measured": pl.Float64,
    "predicted": pl.Float64,
    "error": pl.Float64,
    "role": pl.String,
    "source": pl.String,
}


def published() -> pl.DataFrame:
    """The published measurements the library ships, each with its source; ``params`` is a JSON string.

    ``perfmodel/data/published_measurements.csv`` is the team's curated table; ``transcribed_measurements.csv``
    holds further rows this library transcribed from the papers' text and tables (same columns, each row naming
    the passage it comes from)."""
    data = Path(__file__).resolve().parent.parent / "data"
    frames = [
        pl.read_csv(data / name, infer_schema=False)
        for name in ("published_measurements.csv", "transcribed_measurements.csv")
    ]
    return pl.concat(frames).with_columns(pl.col("value").cast(pl.Float64, strict=False))


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Builds a suite's result frame from row dicts; fills ``error`` from measured and predicted."""
    df = pl.DataFrame(rows, schema={k: v for k, v in ROW_COLUMNS.items() if k != "error"})
    return df.with_columns(error=(pl.col("predicted") - pl.col("measured")) / pl.col("measured")).select(
        list(ROW_COLUMNS)
    )


def published_row(suite: str, group: str, row: dict[str, Any], predicted: float, role: str) -> dict[str, Any]:
    """A suite row for one published measurement (a row of :func:`published`) and its prediction."""
    return {
        "suite": suite,
        "group": group,
        "system": row["system"],
        "operation": row["operation"],
        "params": row["params"],
        "metric": row["metric"],
        "unit": row["unit"],
        "measured": float(row["value"]),
        "predicted": predicted,
        "role": role,
        "source": row["source"],
    }


def run(suite: str = "all") -> pl.DataFrame:
    """Per-row predicted vs measured for one suite or ``"all"`` available suites."""
    names = list(SUITES) if suite == "all" else [suite]
    frames = []
    for name in names:
        if name not in SUITES:
            raise InvalidArgumentError(
                f"argument `suite`: unknown validation suite '{name}'; expected one of {sorted(SUITES)} or 'all'"
            )
        try:
            module = importlib.import_module(SUITES[name])
        except ModuleNotFoundError:
            if suite == "all":
                continue
            raise InvalidArgumentError(f"validation suite '{name}' is not implemented yet") from None
        frames.append(module.run())
    return pl.concat(frames) if frames else pl.DataFrame(schema=ROW_COLUMNS)


def summarize(rows: pl.DataFrame, by: tuple[str, ...] = ("suite", "role")) -> pl.DataFrame:
    """Median and max absolute relative error (and count) per group."""
    return (
        rows.with_columns(abs_error=pl.col("error").abs())
        .group_by(list(by))
        .agg(
            rows=pl.len(),
            median_abs_error=pl.col("abs_error").median(),
            max_abs_error=pl.col("abs_error").max(),
        )
        .sort(list(by))
    )


def write(suite: str, directory: str | Path = "validation") -> dict[str, Any]:
    """Runs one suite and writes ``<suite>.csv`` and ``<suite>_summary.json`` into ``directory``."""
    rows = run(suite)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rows.write_csv(out / f"{suite}.csv", float_precision=6)
    summary = {
        "suite": suite,
        "groups": summarize(rows, ("group", "role")).to_dicts(),
        "overall": summarize(rows, ("suite", "role")).to_dicts(),
    }
    extra = (
        getattr(importlib.import_module(SUITES[suite]), "summary_extra", None) if suite in SUITES else None
    )
    if extra is not None:
        summary.update(extra(rows))
    (out / f"{suite}_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
