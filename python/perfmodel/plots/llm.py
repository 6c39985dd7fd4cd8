"""Charts of LLM training estimates: step-time and memory breakdowns, MFU vs GPU count, TP x PP heatmap, and
TFLOP/s by NIC mix and placement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from .. import llm

__all__ = ["step_breakdown", "memory_breakdown", "mfu_vs_gpus", "tp_pp_heatmap", "placement_bars"]


def step_breakdown(estimates: dict[str, llm.Estimate]) -> alt.Chart:
    """Stacked bars of step-time components, one bar per labelled estimate."""
    rows = [
        r | {"plan": label}
        for label, e in estimates.items()
        for r in e.breakdown.to_dicts()
        if r["time_s"] > 0
    ]
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("time_s:Q", title="step time (s)"),
            y=alt.Y("plan:N", title=None),
            color=alt.Color("component:N"),
        )
        .properties(title="Step-time breakdown", width=480)
    )


def memory_breakdown(estimates: dict[str, llm.Estimate]) -> alt.LayerChart:
    """Stacked bars of memory per GPU by component, with the device capacity as a rule."""
    rows = [
        {"plan": label, "component": r["component"], "GB": r["bytes"] / 1e9}
        for label, e in estimates.items()
        for r in e.memory_breakdown.to_dicts()
    ]
    cap = [{"capacity_GB": e.capacity_bytes / 1e9} for e in list(estimates.values())[:1]]
    bars = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("GB:Q", title="memory per GPU (GB)"), y=alt.Y("plan:N", title=None), color="component:N"
        )
    )
    rule = alt.Chart(alt.Data(values=cap)).mark_rule(color="red", strokeDash=[4, 3]).encode(x="capacity_GB:Q")
    return (bars + rule).properties(title="Memory per GPU", width=480)


def mfu_vs_gpus(
    model: Any,
    system: str,
    gpus: Sequence[int],
    global_batch: int,
    measured: dict[int, float] | None = None,
    **plan: Any,
) -> alt.LayerChart:
    """Predicted MFU of one plan as a fixed global batch is spread over more GPUs (optionally with measured points)."""
    rows = []
    for g in gpus:
        e = llm.estimate(model, (system, max(1, g // 8)), global_batch=global_batch, **plan)
        rows.append({"gpus": g, "MFU": e.mfu, "series": "predicted"})
    for g, v in (measured or {}).items():
        rows.append({"gpus": g, "MFU": v, "series": "measured"})
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X("gpus:Q", title="GPUs", scale=alt.Scale(type="log")),
        y=alt.Y("MFU:Q", axis=alt.Axis(format="%")),
        color="series:N",
    )
    return (base.mark_line(point=True)).properties(
        title=f"MFU vs GPU count (global batch {global_batch})", width=420
    )


def tp_pp_heatmap(plans: pl.DataFrame) -> alt.LayerChart:
    """Best step time for each (tp, pp) of a :func:`perfmodel.llm.search` result."""
    best = plans.group_by("tp", "pp").agg(pl.col("step_time_s").min()).sort("tp", "pp")
    data = alt.Data(values=best.to_dicts())
    heat = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x="tp:O",
            y="pp:O",
            color=alt.Color("step_time_s:Q", scale=alt.Scale(scheme="viridis", reverse=True)),
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=10)
        .encode(x="tp:O", y="pp:O", text=alt.Text("step_time_s:Q", format=".1f"))
    )
    return (heat + text).properties(title="Best step time (s) by TP x PP", width=360, height=300)


def placement_bars(rows: pl.DataFrame, measured: pl.DataFrame | None = None) -> alt.LayerChart:
    """Grouped bars of predicted TFLOP/s per GPU by NIC mix (``nic_mix``) and ``placement``, from a frame with
    those columns and ``tflops_per_gpu`` (e.g. stacked :func:`perfmodel.llm.compare_placements` results);
    ``measured`` (same columns) adds published points as black ticks."""
    order = list(dict.fromkeys(rows["nic_mix"].to_list()))
    base = alt.Chart(alt.Data(values=rows.select("nic_mix", "placement", "tflops_per_gpu").to_dicts()))
    bars = base.mark_bar().encode(
        x=alt.X("nic_mix:N", title="NIC mix", sort=order),
        xOffset="placement:N",
        y=alt.Y("tflops_per_gpu:Q", title="TFLOP/s per GPU"),
        color=alt.Color("placement:N", title="placement (model)"),
        tooltip=["nic_mix:N", "placement:N", alt.Tooltip("tflops_per_gpu:Q", format=".1f")],
    )
    chart: alt.LayerChart = alt.layer(bars)
    if measured is not None and measured.height:
        pts = (
            alt.Chart(alt.Data(values=measured.select("nic_mix", "placement", "tflops_per_gpu").to_dicts()))
            .mark_tick(color="black", thickness=3, size=18)
            .encode(
                x=alt.X("nic_mix:N", sort=order),
                xOffset="placement:N",
                y="tflops_per_gpu:Q",
                tooltip=["nic_mix:N", "placement:N", alt.Tooltip("tflops_per_gpu:Q", title="published")],
            )
        )
        chart = alt.layer(bars, pts)
    return chart.properties(title="TFLOP/s per GPU by NIC mix and placement (ticks: published)", width=420)
