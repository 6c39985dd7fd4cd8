"""Charts of LLM training estimates: step-time and memory breakdowns, MFU vs GPU count, TP x PP heatmap, and
TFLOP/s by NIC mix and placement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import llm
from ..hwdb import resolve
from . import _deps

if TYPE_CHECKING:
    import altair as alt

__all__ = ["step_breakdown", "memory_breakdown", "mfu_vs_gpus", "tp_pp_heatmap", "placement_bars"]

# Fixed colours per component (tableau10), so that the same component has the same colour in every chart.
_STEP_COLOURS = {
    "forward": "#4c78a8", "backward": "#72b7b2", "recompute": "#b279a2", "tp_comm": "#f58518",
    "cp_comm": "#ff9da6", "ep_comm": "#9d755d", "pp_comm": "#eeca3b", "bubble": "#bab0ac",
    "dp_comm": "#e45756", "optimizer": "#54a24b",
}  # fmt: skip
_MEMORY_COLOURS = {
    "weights": "#4c78a8", "gradients": "#e45756", "optimizer_states": "#72b7b2", "activations": "#f58518",
    "secondary": "#54a24b", "buffers": "#b279a2",
}  # fmt: skip


def _colour_scale(alt: Any, names: list[str], known: dict[str, str]) -> Any:
    spare = iter(
        c for c in ("#9d755d", "#bab0ac", "#eeca3b", "#ff9da6", "#54a24b") if c not in known.values()
    )
    return alt.Scale(domain=names, range=[known.get(n) or next(spare, "#888888") for n in names])


def step_breakdown(estimates: dict[str, llm.Estimate], title: str | None = None) -> alt.Chart:
    """Stacked bars of step-time components (seconds), one bar per labelled estimate, in the order the step
    runs (forward, backward, recompute, communication, bubble, optimizer); components that are zero in every
    plan are left out. ``title`` should say which model on which system (the estimates do not carry it)."""
    alt = _deps.altair()
    rows = [
        r | {"plan": label, "order": i}
        for label, e in estimates.items()
        for i, r in enumerate(e.breakdown.to_dicts())
        if r["time_s"] > 0
    ]
    names = list(dict.fromkeys(r["component"] for r in sorted(rows, key=lambda r: r["order"])))
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("time_s:Q", title="step time (s)", stack="zero"),
            y=alt.Y("plan:N", title=None, sort=list(estimates)),
            color=alt.Color("component:N", title="component", sort=names, scale=_colour_scale(alt, names, _STEP_COLOURS)),
            order=alt.Order("order:Q"),
            tooltip=["plan:N", "component:N", alt.Tooltip("time_s:Q", format=".3f")],
        )
        .properties(title=title or "Step time by component", width=480, height=max(60, 34 * len(estimates)))
    )  # fmt: skip


def memory_breakdown(estimates: dict[str, llm.Estimate], title: str | None = None) -> alt.LayerChart:
    """Stacked bars of memory per GPU (GB) by component, one bar per labelled estimate, with the device
    capacity as a dashed rule."""
    alt = _deps.altair()
    rows = [
        {"plan": label, "component": r["component"], "GB": r["bytes"] / 1e9, "order": i}
        for label, e in estimates.items()
        for i, r in enumerate(e.memory_breakdown.to_dicts())
        if r["bytes"] > 0
    ]
    names = list(dict.fromkeys(r["component"] for r in sorted(rows, key=lambda r: r["order"])))
    cap = [{"capacity_GB": e.capacity_bytes / 1e9} for e in list(estimates.values())[:1]]
    bars = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("GB:Q", title="memory per GPU (GB; dashed: capacity)", stack="zero"),
            y=alt.Y("plan:N", title=None, sort=list(estimates)),
            color=alt.Color("component:N", title="component", sort=names, scale=_colour_scale(alt, names, _MEMORY_COLOURS)),
            order=alt.Order("order:Q"),
            tooltip=["plan:N", "component:N", alt.Tooltip("GB:Q", format=".2f")],
        )
    )  # fmt: skip
    rule = alt.Chart(alt.Data(values=cap)).mark_rule(color="red", strokeDash=[4, 3]).encode(x="capacity_GB:Q")
    return (bars + rule).properties(
        title=title or "Memory per GPU by component", width=480, height=max(60, 34 * len(estimates))
    )


def _model_label(model: Any) -> str:
    m = llm.model(model)
    return m.name if m.name != "custom" else f"a {m.params / 1e9:,.0f}B-parameter model"


def mfu_vs_gpus(
    model: Any,
    system: str,
    gpus: Sequence[int],
    global_batch: int,
    measured: dict[int, float] | None = None,
    title: str | None = None,
    **plan: Any,
) -> alt.LayerChart:
    """Predicted MFU of one plan as a fixed global batch is spread over more GPUs (``system`` nodes of 8), with
    ``measured`` points ``{gpus: mfu}`` when given. The title names the model, the system and the batch."""
    alt = _deps.altair()
    points: list[tuple[int, float, str]] = []
    for g in gpus:
        e = llm.estimate(model, (system, max(1, g // 8)), global_batch=global_batch, **plan)
        points.append((int(g), float(e.mfu), "predicted"))
    points += [(int(g), float(v), "measured") for g, v in (measured or {}).items()]
    rows = [{"gpus": g, "MFU": v, "series": s} for g, v, s in points]
    xs = sorted({g for g, _, _ in points})
    ys = [v for _, v, _ in points]
    shown = {
        k: v for k, v in plan.items() if k in ("tp", "pp", "vp", "cp", "ep", "zero") and v not in (None, 1)
    }
    desc = ", ".join(
        f"{k.upper() if k != 'zero' else 'ZeRO-'}{'' if k == 'zero' else ' '}{v}" for k, v in shown.items()
    )
    sys_name = resolve(system, "system").name
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X("gpus:Q", title="GPUs (log)", scale=alt.Scale(type="log", domain=[xs[0], xs[-1]], nice=False),
                axis=alt.Axis(values=xs, format="d")),
        y=alt.Y("MFU:Q", axis=alt.Axis(format="%"), title="MFU (model FLOPs utilisation)",
                scale=alt.Scale(domain=[0, min(1.0, max(ys) * 1.15)])),
        color=alt.Color("series:N", title=None, sort=["predicted", "measured"],
                        scale=alt.Scale(domain=["predicted", "measured"], range=["#4c78a8", "#e45756"])),
        tooltip=["series:N", "gpus:Q", alt.Tooltip("MFU:Q", format=".1%")],
    )  # fmt: skip
    line = base.transform_filter("datum.series == 'predicted'").mark_line(point=True)
    pts = base.transform_filter("datum.series == 'measured'").mark_point(filled=True, size=70)
    return alt.layer(line, pts).properties(
        title=alt.TitleParams(
            title or f"MFU vs GPU count: {_model_label(model)} on {sys_name}",
            subtitle=f"global batch {global_batch:,} sequences fixed"
            + (f"; {desc}" if desc else "")
            + ("; line: model, points: measured" if measured else ""),
            anchor="start",
        ),
        width=420,
        height=260,
    )


def tp_pp_heatmap(plans: pl.DataFrame, title: str | None = None) -> alt.LayerChart:
    """Best step time (s) for each (tp, pp) of a :func:`perfmodel.llm.search` result, written in each cell."""
    alt = _deps.altair()
    best = plans.group_by("tp", "pp").agg(pl.col("step_time_s").min()).sort("tp", "pp")
    # white text on the dark end of the (reversed) viridis scale, black on the light end
    lo, hi = float(best["step_time_s"].min() or 0), float(best["step_time_s"].max() or 0)  # type: ignore[arg-type]
    data = alt.Data(values=best.to_dicts())
    heat = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("tp:O", title="tensor parallel (TP)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("pp:O", title="pipeline parallel (PP)"),
            color=alt.Color(
                "step_time_s:Q", title="step (s)", scale=alt.Scale(scheme="viridis", reverse=True)
            ),
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=10)
        .encode(
            x="tp:O",
            y="pp:O",
            text=alt.Text("step_time_s:Q", format=".1f"),
            color=alt.condition(
                alt.datum.step_time_s > lo + 0.55 * (hi - lo), alt.value("white"), alt.value("black")
            ),
        )
    )  # fmt: skip
    return (heat + text).properties(
        title=title or "Best step time (s) by TP x PP (blank: no plan fits)", width=360, height=300
    )


def placement_bars(
    rows: pl.DataFrame, measured: pl.DataFrame | None = None, title: str | None = None
) -> alt.LayerChart:
    """Grouped bars of predicted TFLOP/s per GPU by NIC mix (``nic_mix``) and ``placement``, from a frame with
    those columns and ``tflops_per_gpu`` (e.g. stacked :func:`perfmodel.llm.compare_placements` results);
    ``measured`` (same columns) adds published points as black ticks."""
    alt = _deps.altair()
    order = list(dict.fromkeys(rows["nic_mix"].to_list()))
    base = alt.Chart(alt.Data(values=rows.select("nic_mix", "placement", "tflops_per_gpu").to_dicts()))
    bars = base.mark_bar().encode(
        x=alt.X("nic_mix:N", title="NIC mix", sort=order, axis=alt.Axis(labelAngle=0)),
        xOffset="placement:N",
        y=alt.Y("tflops_per_gpu:Q", title="TFLOP/s per GPU"),
        color=alt.Color("placement:N", title="placement (model)", scale=alt.Scale(scheme="tableau10")),
        tooltip=["nic_mix:N", "placement:N", alt.Tooltip("tflops_per_gpu:Q", format=".1f")],
    )
    chart: Any = alt.layer(bars)
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
    return chart.properties(
        title=title or "TFLOP/s per GPU by NIC mix and placement (black ticks: published)", width=420
    )
