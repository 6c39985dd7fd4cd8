"""Charts of LLM serving: latency (TTFT, TPOT) against request rate per plan, throughput per GPU against
interactivity with the Pareto front, and memory per GPU (weights, KV cache, activations, free) per plan.

>>> import perfmodel as pm
>>> from perfmodel.plots import serve as sp
>>> f = sp.latency_sweep("llama3-8b", "dgx-h100", {"tp1": {"tp": 1}}, [1.0, 2.0], num_requests=50)
>>> sorted(f["plan"].unique().to_list()), f.height
(['tp1'], 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .. import serve
from ..errors import InvalidArgumentError
from . import _deps
from ._layout import scheme

if TYPE_CHECKING:
    import altair as alt

__all__ = ["latency_sweep", "latency_vs_rate", "pareto", "pareto_front", "memory_breakdown"]

#: Summary statistics :func:`latency_sweep` keeps (seconds unless named otherwise).
SWEEP_COLUMNS = (
    "mean_ttft_s", "p50_ttft_s", "p90_ttft_s", "p99_ttft_s", "mean_tpot_s", "p50_tpot_s", "p90_tpot_s",
    "p99_tpot_s", "mean_e2e_s", "p90_e2e_s", "output_tokens_per_s", "requests_per_s", "goodput_requests_per_s",
    "slo_attainment",
)  # fmt: skip


def _plan_kw(plan: Any) -> dict[str, Any]:
    if isinstance(plan, Mapping):
        return dict(plan)
    if isinstance(plan, tuple) and len(plan) == 2:
        return {"tp": int(plan[0]), "replicas": int(plan[1])}
    raise InvalidArgumentError(
        f"argument `plans`: a plan is a dict of simulate() arguments or (tp, replicas); got {plan!r}"
    )


def latency_sweep(
    model: Any, where: Any, plans: Mapping[str, Any] | Sequence[Any], rates: Sequence[float], **kw: Any
) -> pl.DataFrame:
    """One :func:`perfmodel.serve.simulate` per plan and rate: a frame with ``plan``, ``rate``, ``gpus``
    and :data:`SWEEP_COLUMNS`. ``plans`` maps a label to simulate() arguments (``{"tp": 4, "replicas": 2}``)
    or is a list of ``(tp, replicas)``; ``kw`` goes to every call (lengths, ``num_requests``, SLOs, seed)."""
    items = plans.items() if isinstance(plans, Mapping) else ((None, p) for p in plans)
    rows = []
    for label, plan in items:
        args = _plan_kw(plan)
        name = label if label is not None else f"TP{args.get('tp', 1)} x {args.get('replicas', 1)}"
        gpus = args.get("tp", 1) * args.get("pp", 1) * args.get("replicas", 1)
        for r in rates:
            s = serve.simulate(model, where, rate=float(r), **{**kw, **args}).summary
            rows.append({"plan": name, "rate": float(r), "gpus": gpus} | {c: s[c] for c in SWEEP_COLUMNS})
    return pl.DataFrame(rows)


def _stat_title(col: str) -> str:
    stat, _, metric = col.partition("_")
    return f"{stat} {metric.removesuffix('_s').upper()}"


def latency_vs_rate(
    frame: pl.DataFrame,
    ttft: str = "p90_ttft_s",
    tpot: str = "p90_tpot_s",
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
) -> alt.HConcatChart:
    """TTFT and TPOT (milliseconds, log scale) against the request rate, one line per ``plan``, side by side;
    ``frame`` has ``plan``, ``rate`` and the ``ttft`` and ``tpot`` columns (seconds, e.g. from
    :func:`latency_sweep`). SLOs, when given, are dashed red rules."""
    alt = _deps.altair()
    missing = [c for c in ("plan", "rate", ttft, tpot) if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(f"argument `frame`: missing column(s) {missing} (has {frame.columns})")
    data = frame.select(
        "plan", "rate", (pl.col(ttft) * 1e3).alias("ttft_ms"), (pl.col(tpot) * 1e3).alias("tpot_ms")
    )
    order = list(dict.fromkeys(data["plan"].to_list()))
    base = alt.Chart(alt.Data(values=data.to_dicts()))
    color = alt.Color("plan:N", title="plan", sort=order, scale=alt.Scale(scheme=scheme(len(order))))
    x = alt.X("rate:Q", title="request rate (requests/s)")
    panels = []
    for field, col, slo in (("ttft_ms", ttft, slo_ttft_s), ("tpot_ms", tpot, slo_tpot_s)):
        name = _stat_title(col)
        line = base.mark_line(point=True).encode(
            x=x,
            y=alt.Y(f"{field}:Q", title=f"{name} (ms, log)", scale=alt.Scale(type="log", nice=False)),
            color=color,
            tooltip=["plan:N", "rate:Q", alt.Tooltip(f"{field}:Q", format=".1f", title=f"{name} (ms)")],
        )
        layer: Any = line
        if slo is not None:
            rule = (
                alt.Chart(alt.Data(values=[{"slo": slo * 1e3}]))
                .mark_rule(color="red", strokeDash=[5, 4])
                .encode(y="slo:Q")
            )
            layer = alt.layer(line, rule)
        panels.append(
            layer.properties(
                title=f"{name} vs request rate" + (f" (SLO {slo * 1e3:g} ms)" if slo else ""),
                width=360,
                height=260,
            )
        )
    return alt.hconcat(*panels).resolve_scale(color="shared")


def pareto_front(frame: pl.DataFrame, x: str, y: str) -> pl.Series:
    """Whether each row is on the Pareto front maximising both ``x`` and ``y``."""
    xs, ys = frame[x].to_numpy(), frame[y].to_numpy()
    order = np.lexsort((-ys, -xs))
    on = np.zeros(len(xs), dtype=bool)
    best = -np.inf
    for i in order:
        if ys[i] > best:
            on[i] = True
            best = ys[i]
    return pl.Series("pareto", on)


def pareto(
    frame: pl.DataFrame,
    throughput: str = "output_tokens_per_s_per_gpu",
    interactivity: str = "tokens_per_s_per_user",
    title: str | None = None,
) -> alt.LayerChart:
    """Output tokens/s per GPU against interactivity (tokens/s per user, ``1 / TPOT``), one point per row, the
    Pareto front (best throughput at each interactivity) as a line. ``frame`` has ``plan`` and either those
    columns or ``output_tokens_per_s``, ``gpus`` and ``mean_tpot_s`` (as :func:`latency_sweep` gives), from
    which they are derived."""
    alt = _deps.altair()
    f = frame
    if throughput not in f.columns and {"output_tokens_per_s", "gpus"} <= set(f.columns):
        f = f.with_columns((pl.col("output_tokens_per_s") / pl.col("gpus")).alias(throughput))
    if interactivity not in f.columns and "mean_tpot_s" in f.columns:
        f = f.with_columns((1.0 / pl.col("mean_tpot_s")).alias(interactivity))
    missing = [c for c in ("plan", throughput, interactivity) if c not in f.columns]
    if missing:
        raise InvalidArgumentError(f"argument `frame`: missing column(s) {missing} (has {frame.columns})")
    keep = ["plan", throughput, interactivity] + [c for c in ("rate",) if c in f.columns]
    f = f.select(keep).with_columns(pareto_front(f, interactivity, throughput))
    data = alt.Data(values=f.to_dicts())
    tips = [alt.Tooltip(f"{c}:Q", format=".2f") if c != "plan" else "plan:N" for c in keep]
    x = alt.X(f"{interactivity}:Q", title="interactivity (output tokens/s per user = 1 / mean TPOT)")
    y = alt.Y(f"{throughput}:Q", title="throughput (output tokens/s per GPU)")
    pts = (
        alt.Chart(data)
        .mark_point(filled=True, size=70)
        .encode(
            x=x,
            y=y,
            color=alt.Color("plan:N", title="plan", scale=alt.Scale(scheme=scheme(f["plan"].n_unique()))),
            shape=alt.Shape(
                "pareto:N",
                title="on Pareto front",
                scale=alt.Scale(domain=[True, False], range=["diamond", "circle"]),
            ),
            opacity=alt.condition("datum.pareto", alt.value(1.0), alt.value(0.45)),
            tooltip=tips,
        )
    )
    front = (
        alt.Chart(data)
        .transform_filter("datum.pareto")
        .mark_line(color="black", strokeDash=[6, 3], interpolate="step-after")
        .encode(x=x, y=y, order=alt.Order(f"{interactivity}:Q"))
    )
    return alt.layer(front, pts).properties(
        title=title or "Throughput per GPU vs interactivity (dashed: Pareto front)", width=460, height=320
    )


def memory_breakdown(reports: Any, title: str | None = None) -> alt.LayerChart:
    """Stacked bars of memory per GPU (GiB): weights, KV cache, activations and free, one bar per plan, with
    each plan's capacity as a tick. ``reports`` is a :class:`perfmodel.serve.MemoryReport`, a dict of label ->
    report (or ``MemoryReport.frame()``), or a frame with ``plan``, ``part`` and ``bytes``."""
    alt = _deps.altair()
    if isinstance(reports, serve.MemoryReport):
        reports = {"plan": reports}
    if isinstance(reports, Mapping):
        parts = []
        for label, r in reports.items():
            f = r.frame() if isinstance(r, serve.MemoryReport) else r
            parts.append(f.select("part", "bytes").with_columns(pl.lit(str(label)).alias("plan")))
        frame = pl.concat(parts)
    elif isinstance(reports, pl.DataFrame):
        frame = reports
    else:
        raise InvalidArgumentError(
            f"argument `reports`: expected a MemoryReport, a dict of them or a frame; got {type(reports).__name__}"
        )
    missing = [c for c in ("plan", "part", "bytes") if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(f"argument `reports`: missing column(s) {missing} (has {frame.columns})")
    stack = ["weights", "kv_cache", "activations", "free"]
    labels = {"weights": "weights", "kv_cache": "KV cache", "activations": "activations", "free": "free"}
    rows = frame.with_columns(
        (pl.col("bytes") / 2**30).alias("GiB"),
        pl.col("part").replace_strict(labels, default=pl.col("part")).alias("component"),
        pl.col("part")
        .replace_strict({p: i for i, p in enumerate(stack)}, default=len(stack))
        .alias("stack_order"),
    )
    cap = rows.group_by("plan", maintain_order=True).agg(pl.col("GiB").sum().alias("capacity_GiB"))
    order = list(dict.fromkeys(rows["plan"].to_list()))
    bars = (
        alt.Chart(alt.Data(values=rows.select("plan", "component", "GiB", "stack_order").to_dicts()))
        .mark_bar()
        .encode(
            x=alt.X("GiB:Q", title="memory per GPU (GiB)", stack="zero"),
            y=alt.Y("plan:N", title=None, sort=order),
            color=alt.Color(
                "component:N",
                title="component",
                sort=[labels[p] for p in stack],
                scale=alt.Scale(
                    domain=[labels[p] for p in stack], range=["#4c78a8", "#f58518", "#e45756", "#d3d3d3"]
                ),
            ),
            order=alt.Order("stack_order:Q"),
            tooltip=["plan:N", "component:N", alt.Tooltip("GiB:Q", format=".2f")],
        )
    )
    ticks = (
        alt.Chart(alt.Data(values=cap.to_dicts()))
        .mark_tick(color="black", thickness=2)
        .encode(x="capacity_GiB:Q", y=alt.Y("plan:N", sort=order))
    )
    return alt.layer(bars, ticks).properties(
        title=title or "Serving memory per GPU (tick: capacity)", width=460
    )
