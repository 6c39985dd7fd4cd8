"""Altair charts of DAQ sweeps, saved to PNG/SVG/HTML with vl-convert (no browser)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import polars as pl

__all__ = ["pareto_front", "power_pareto", "power_by_stage", "relevant_per_kj", "save"]


def pareto_front(df: pl.DataFrame, cost: str = "power_w", benefit: str = "f1") -> pl.DataFrame:
    """Rows not dominated by another (lower ``cost`` and higher ``benefit``), sorted by cost."""
    d = df.sort([cost, benefit], descending=[False, True])
    best = d[benefit].cum_max()
    keep = (best > best.shift(1).fill_null(float("-inf"))).to_list()
    return d.filter(pl.Series(keep))


def power_pareto(df: pl.DataFrame) -> alt.LayerChart:
    """Power (MW) vs F1 for every lever combination, the Pareto front as a line."""
    d = df.with_columns(power_mw=pl.col("power_w") / 1e6)
    base = alt.Chart(d).encode(
        x=alt.X("power_mw:Q", title="power (MW, 2032 technology)"), y=alt.Y("f1:Q", title="pipeline F1")
    )
    points = base.mark_point(filled=True, size=80).encode(
        color="configuration:N", tooltip=["configuration", "power_mw", "f1", "relevant_per_kj"]
    )
    front = (
        alt.Chart(pareto_front(d, "power_mw", "f1")).mark_line(color="black").encode(x="power_mw:Q", y="f1:Q")
    )
    return (points + front).properties(title="Power vs F1 over the technology levers", width=420, height=300)


def power_by_stage(df: pl.DataFrame, id_col: str = "configuration") -> alt.Chart:
    """Stacked power per stage (``power_w:<stage>`` columns of a per-stage sweep) for each configuration."""
    stage_cols = [c for c in df.columns if c.startswith("power_w:")]
    long = df.select([id_col, *stage_cols]).unpivot(index=id_col, variable_name="stage", value_name="power_w")
    long = long.with_columns(
        stage=pl.col("stage").str.strip_prefix("power_w:"), power_mw=pl.col("power_w") / 1e6
    ).filter(pl.col("power_w") > 0)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y(f"{id_col}:N", sort="-x", title=None),
            x=alt.X("sum(power_mw):Q", title="power (MW)"),
            color="stage:N",
            tooltip=["stage", "power_mw"],
        )
        .properties(title="Power by stage", width=420)
    )


def relevant_per_kj(df: pl.DataFrame, id_col: str = "configuration") -> alt.Chart:
    """Relevant samples per kJ by configuration."""
    return (
        alt.Chart(df.select(id_col, "relevant_per_kj"))
        .mark_bar()
        .encode(
            y=alt.Y(f"{id_col}:N", sort="-x", title=None),
            x=alt.X("relevant_per_kj:Q", title="relevant samples per kJ"),
        )
        .properties(title="Relevant samples per kJ", width=420)
    )


def save(chart: alt.TopLevelMixin, path: str | Path) -> Path:
    """Saves ``chart`` as PNG, SVG or HTML by the file's suffix (vl-convert; no browser)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chart.save(str(path))
    return path
