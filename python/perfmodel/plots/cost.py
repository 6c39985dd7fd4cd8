"""Charts of serving cost: the hourly cost of the cheapest GPU mix against the request rate, beside each
single-GPU-type allocation (Mélange's Figure 11 view).

>>> import perfmodel as pm
>>> from perfmodel.plots import cost
>>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
>>> f = cost.cost_sweep("llama2-7b", ["g6-l4", "g5-a10g"], w, [2.0, 4.0], tpot_slo_s=0.12, dtype="fp16")
>>> sorted(f["allocation"].unique().to_list())
['g5-a10g only', 'g6-l4 only', 'mix']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from ..serve import mix
from . import _deps

if TYPE_CHECKING:
    import altair as alt

__all__ = ["cost_sweep", "cost_vs_rate"]


def cost_sweep(model: Any, gpus: Any, work: mix.Workload, rates: Sequence[float], **kw: Any) -> pl.DataFrame:
    """One :func:`perfmodel.serve.cheapest_mix` per rate: rows ``rate``, ``allocation`` (``mix`` or
    ``<system> only``), ``cost_usd_per_h`` (null where one type cannot serve the workload), ``gpus`` (the mix's
    composition or the single type's count) and ``saving`` (% of the mix against that single type)."""
    rows = []
    for r in rates:
        res = mix.cheapest_mix(model, gpus, work, float(r), **kw)
        parts = ", ".join(
            f"{n}x {s}"
            for s, n in zip(res.allocation["system"], res.allocation["instances"], strict=True)
            if n
        )
        rows.append(
            {
                "rate": float(r),
                "allocation": "mix",
                "cost_usd_per_h": res.cost_usd_per_h,
                "gpus": parts,
                "saving": 0.0,
            }
        )
        for s in res.single_type.iter_rows(named=True):
            rows.append({"rate": float(r), "allocation": f"{s['system']} only", "cost_usd_per_h": s["cost_usd_per_h"],
                         "gpus": "" if s["instances"] is None else f"{s['instances']}x {s['system']}", "saving": s["saving"]})  # fmt: skip
    return pl.DataFrame(rows, schema={"rate": pl.Float64, "allocation": pl.String, "cost_usd_per_h": pl.Float64,
                                      "gpus": pl.String, "saving": pl.Float64})  # fmt: skip


def cost_vs_rate(frame: pl.DataFrame, title: str = "Hourly cost of serving vs request rate") -> alt.Chart:
    """Hourly cost (log) against request rate (log), one line per allocation from :func:`cost_sweep`; the mix
    drawn thick. Tooltips give the GPUs and the mix's saving."""
    alt = _deps.altair()
    data = frame.drop_nulls("cost_usd_per_h").with_columns(is_mix=pl.col("allocation") == "mix")
    names = ["mix"] + sorted(a for a in data["allocation"].unique().to_list() if a != "mix")
    # the mix in black, each single type in its own colour (tableau10, then tableau20 past nine types)
    palette = ["#000000", "#4c78a8", "#f58518", "#e45756", "#54a24b", "#b279a2", "#9d755d", "#72b7b2", "#eeca3b",
               "#ff9da6", "#bab0ac"]  # fmt: skip
    if len(names) > len(palette):
        palette = ["#000000", "#4c78a8", "#9ecae9", "#f58518", "#ffbf79", "#54a24b", "#88d27a", "#b79a20",
                   "#f2cf5b", "#439894", "#83bcb6", "#e45756", "#ff9d98", "#79706e", "#bab0ac", "#d67195",
                   "#fcbfd2", "#b279a2", "#d6a5c9", "#9e765f", "#d8b5a5"]  # fmt: skip
    xs, ys = data["rate"].to_numpy(), data["cost_usd_per_h"].to_numpy()
    base = alt.Chart(data).encode(
        x=alt.X(
            "rate:Q",
            scale=alt.Scale(type="log", domain=[float(xs.min()), float(xs.max())], nice=False),
            title="request rate (requests/s)",
        ),
        y=alt.Y(
            "cost_usd_per_h:Q",
            scale=alt.Scale(type="log", domain=[float(ys.min()) * 0.8, float(ys.max()) * 1.25], nice=False),
            title="cost (USD per hour)",
        ),
        color=alt.Color(
            "allocation:N", title="allocation", scale=alt.Scale(domain=names, range=palette[: len(names)])
        ),
        tooltip=[
            "allocation",
            "rate",
            alt.Tooltip("cost_usd_per_h:Q", format=".2f"),
            "gpus",
            alt.Tooltip("saving:Q", format=".1f"),
        ],
    )
    lines = base.mark_line(point=True).encode(
        strokeWidth=alt.condition("datum.is_mix", alt.value(4), alt.value(1.5))
    )
    return lines.properties(title=title, width=520, height=340)
