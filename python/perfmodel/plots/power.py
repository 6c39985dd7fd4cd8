"""Charts of power and energy: GPU power and energy per output token against the decode batch size, and the
energy-latency Pareto front of serving plans.

>>> from perfmodel.plots import power as pp
>>> f = pp.power_vs_batch("llama3.1-8b", "dgx-h100", [8, 64], context_len=1024)
>>> f.columns[:4]
['batch', 'power_per_gpu_w', 'energy_per_token_j', 'time_s']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from .. import serve
from ..errors import InvalidArgumentError

__all__ = ["power_vs_batch", "power_energy_chart", "energy_pareto_front", "energy_latency_pareto"]


def power_vs_batch(model: Any, where: Any, batches: Sequence[int], context_len: float = 1024, tp: int = 1,
                   measured: pl.DataFrame | None = None, prompt_len: float | None = None,
                   output_len: float | None = None, **kw: Any) -> pl.DataFrame:  # fmt: skip
    """Power and energy per output token per batch size: ``batch``, ``power_per_gpu_w``,
    ``energy_per_token_j``, ``time_s``, ``source`` ("model"). Pure decode iterations at ``context_len``
    (:func:`perfmodel.serve.decode`), or, with ``prompt_len`` and ``output_len``, a serving engine in steady state
    that also carries its requests' prefill (:func:`perfmodel.power.steady_state`, what a serving benchmark
    measures). ``measured`` (a frame with ``batch``, ``power_per_gpu_w``, ``energy_per_token_j``) is appended with
    ``source`` "measured"."""
    from .. import power

    b = np.asarray(list(batches), dtype=float)
    if b.size == 0:
        raise InvalidArgumentError("argument `batches`: is empty; expected batch sizes")
    if prompt_len is not None and output_len is not None:
        s = power.steady_state(model, where, b, prompt_len, output_len, tp=tp, **kw)
        w, e, t = s["power_per_gpu_w"], s["energy_per_token_j"], s["time_s"]
    else:
        d = serve.decode(model, where, tp=tp, batch=b, context_len=context_len, **kw)
        w, e, t = d.power_per_gpu_w, d.energy_per_token_j, d.time_s
    f = pl.DataFrame({
        "batch": b, "power_per_gpu_w": np.atleast_1d(w), "energy_per_token_j": np.atleast_1d(e),
        "time_s": np.atleast_1d(t),
    }).with_columns(source=pl.lit("model"))  # fmt: skip
    if measured is not None:
        m = measured.select(
            pl.col("batch").cast(pl.Float64), pl.col("power_per_gpu_w").cast(pl.Float64),
            pl.col("energy_per_token_j").cast(pl.Float64),
        ).with_columns(time_s=pl.lit(None, dtype=pl.Float64), source=pl.lit("measured"))  # fmt: skip
        f = pl.concat([f, m])
    return f


def power_energy_chart(frame: pl.DataFrame, title: str = "", tdp_w: float | None = None) -> alt.HConcatChart:
    """Power per GPU (W) and energy per output token (J, log) against the batch size (log), side by side; model
    rows as lines, measured rows as points; the TDP, when given, as a dashed rule."""
    missing = [
        c for c in ("batch", "power_per_gpu_w", "energy_per_token_j", "source") if c not in frame.columns
    ]
    if missing:
        raise InvalidArgumentError(f"argument `frame`: missing column(s) {missing} (has {frame.columns})")
    data = alt.Data(
        values=frame.select("batch", "power_per_gpu_w", "energy_per_token_j", "source").to_dicts()
    )
    ticks = [v for v in (1, 4, 16, 64, 256, 1024, 4096) if v <= max(frame["batch"].max() or 1, 1) * 2]  # type: ignore[operator]
    x = alt.X("batch:Q", title="running sequences per iteration (log)", scale=alt.Scale(type="log", base=2),
              axis=alt.Axis(values=ticks, format="d"))  # fmt: skip
    color = alt.Color(
        "source:N", title="", scale=alt.Scale(domain=["model", "measured"], range=["#1f77b4", "#d62728"])
    )
    panels = []
    for field, ytitle, log in (
        ("power_per_gpu_w", "power per GPU (W)", False),
        ("energy_per_token_j", "energy per output token (J, log)", True),
    ):
        y = alt.Y(f"{field}:Q", title=ytitle, scale=alt.Scale(type="log") if log else alt.Scale(zero=False))
        base = alt.Chart(data)
        line = (
            base.transform_filter("datum.source == 'model'")
            .mark_line(point=True)
            .encode(x=x, y=y, color=color)
        )
        pts = (
            base.transform_filter("datum.source == 'measured'")
            .mark_point(size=60, filled=True)
            .encode(x=x, y=y, color=color)
        )
        layers: list[Any] = [line, pts]
        if tdp_w is not None and field == "power_per_gpu_w":
            layers.append(
                alt.Chart(alt.Data(values=[{"tdp": tdp_w}]))
                .mark_rule(color="gray", strokeDash=[5, 4])
                .encode(y="tdp:Q")
            )
        panels.append(
            alt.layer(*layers).properties(width=340, height=260, title=ytitle.split(" (")[0] + " vs batch")
        )
    return alt.hconcat(*panels).properties(title=title)


def energy_pareto_front(frame: pl.DataFrame, latency: str, energy: str) -> pl.Series:
    """Whether each row is on the Pareto front minimising both ``latency`` and ``energy``."""
    xs, ys = frame[latency].to_numpy(), frame[energy].to_numpy()
    order = np.lexsort((ys, xs))
    on = np.zeros(len(xs), dtype=bool)
    best = np.inf
    for i in order:
        if np.isfinite(xs[i]) and ys[i] < best:
            on[i] = True
            best = ys[i]
    return pl.Series("pareto", on)


def energy_latency_pareto(frame: pl.DataFrame, latency: str = "p90_tpot_s",
                          energy: str = "energy_per_output_token_j") -> alt.TopLevelMixin:  # fmt: skip
    """Energy per output token against latency (ms), one point per serving plan (a :func:`perfmodel.serve.search`
    frame: ``tp``, ``pp``, ``replicas``, ``max_num_seqs`` and the two columns), the Pareto front (least energy at
    each latency) as a dashed line. Plans that do not fit are left out."""
    f = frame.filter(pl.col("fits")) if "fits" in frame.columns else frame
    missing = [c for c in (latency, energy, "tp", "replicas") if c not in f.columns]
    if missing:
        raise InvalidArgumentError(f"argument `frame`: missing column(s) {missing} (has {frame.columns})")
    f = f.filter(pl.col(latency).is_not_null() & pl.col(energy).is_not_null())
    pp = pl.col("pp").cast(pl.String) if "pp" in f.columns else pl.lit("1")
    seqs = pl.col("max_num_seqs").cast(pl.String) if "max_num_seqs" in f.columns else pl.lit("default")
    f = f.with_columns(
        parallelism=pl.format("TP{} x PP{}", pl.col("tp"), pp),
        plan=pl.format(
            "TP{} PP{} x{} seqs {}", pl.col("tp"), pp, pl.col("replicas"), seqs.fill_null("default")
        ),
        max_num_seqs_label=seqs.fill_null("default"),
        latency_ms=pl.col(latency) * 1e3,
    )
    f = f.with_columns(energy_pareto_front(f, "latency_ms", energy))
    data = alt.Data(
        values=f.select(
            "plan", "parallelism", "max_num_seqs_label", "latency_ms", energy, "pareto"
        ).to_dicts()
    )
    x = alt.X("latency_ms:Q", title=f"{latency.removesuffix('_s').replace('_', ' ').upper()} (ms)")
    y = alt.Y(
        f"{energy}:Q", title="energy per output token (J, all GPUs of the plan)", scale=alt.Scale(zero=False)
    )
    pts = alt.Chart(data).mark_point(filled=True, size=90).encode(
        x=x, y=y, color=alt.Color("parallelism:N", title="parallelism"),
        shape=alt.Shape("max_num_seqs_label:N", title="max_num_seqs"),
        tooltip=["plan:N", alt.Tooltip("latency_ms:Q", format=".1f"), alt.Tooltip(f"{energy}:Q", format=".3f")],
    )  # fmt: skip
    front = (
        alt.Chart(data)
        .transform_filter("datum.pareto")
        .mark_line(color="black", strokeDash=[6, 3], interpolate="step-after")
        .encode(x=x, y=y, order=alt.Order("latency_ms:Q"))
    )
    labels = (
        alt.Chart(data)
        .transform_filter("datum.pareto")
        .mark_text(align="left", dx=7, dy=-7, fontSize=10)
        .encode(x=x, y=y, text="plan:N")
    )
    return alt.layer(front, pts, labels).properties(
        title="Energy per output token vs latency of serving plans (dashed: Pareto front, labelled)",
        width=520,
        height=340,
    )
