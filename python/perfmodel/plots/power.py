"""Charts of power and energy: GPU power and energy per output token against the decode batch size, and the
energy-latency Pareto front of serving plans.

>>> from perfmodel.plots import power as pp
>>> f = pp.power_vs_batch("llama3.1-8b", "dgx-h100", [8, 64], context_len=1024)
>>> f.columns[:4]
['batch', 'power_per_gpu_w', 'energy_per_token_j', 'time_s']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .. import serve
from ..errors import InvalidArgumentError
from . import _deps
from ._layout import Scale, place_labels

if TYPE_CHECKING:
    import altair as alt

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
    rows as lines, measured rows as points; the TDP, when given, as a dashed rule. ``title`` should say which
    model on which system."""
    alt = _deps.altair()
    missing = [
        c for c in ("batch", "power_per_gpu_w", "energy_per_token_j", "source") if c not in frame.columns
    ]
    if missing:
        raise InvalidArgumentError(f"argument `frame`: missing column(s) {missing} (has {frame.columns})")
    data = alt.Data(
        values=frame.select("batch", "power_per_gpu_w", "energy_per_token_j", "source").to_dicts()
    )
    lo, hi = float(frame["batch"].min()), float(frame["batch"].max())  # type: ignore[arg-type]
    ticks = [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) if lo <= v <= hi]
    if len(ticks) > 8:
        ticks = ticks[::2]
    x = alt.X("batch:Q", title="running sequences per iteration (log)",
              scale=alt.Scale(type="log", base=2, domain=[lo, hi], nice=False),
              axis=alt.Axis(values=ticks, format="d"))  # fmt: skip
    sources = [v for v in ("model", "measured") if v in set(frame["source"].to_list())]
    color = alt.Color(
        "source:N",
        title="",
        scale=alt.Scale(domain=sources, range=["#1f77b4", "#d62728"][: len(sources)] if sources[:1] == ["model"] else ["#d62728"]),
    )  # fmt: skip
    panels = []
    for field, ytitle, log in (
        ("power_per_gpu_w", "power per GPU (W)", False),
        ("energy_per_token_j", "energy per output token (J, log)", True),
    ):
        y = alt.Y(f"{field}:Q", title=ytitle,
                  scale=alt.Scale(type="log", nice=False) if log else alt.Scale(zero=False))  # fmt: skip
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
                          energy: str = "energy_per_output_token_j", title: str | None = None) -> alt.TopLevelMixin:  # fmt: skip
    """Energy per output token against latency (ms), one point per serving plan (a :func:`perfmodel.serve.search`
    frame: ``tp``, ``pp``, ``replicas``, ``max_num_seqs`` and the two columns), the Pareto front (least energy at
    each latency) as a dashed line with its plans labelled (clear of each other: see
    :mod:`perfmodel.plots._layout`). Plans that do not fit are left out. ``title`` should name the model and
    system."""
    alt = _deps.altair()
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
    width, height = 520, 340
    lx, ly = f["latency_ms"].to_numpy(), f[energy].to_numpy()
    x0, x1 = float(lx.min()), float(lx.max())
    y0, y1 = float(ly.min()), float(ly.max())
    xpad, ypad = max((x1 - x0) * 0.06, 1e-9), max((y1 - y0) * 0.08, 1e-9)
    xdom, ydom = [max(0.0, x0 - xpad), x1 + xpad], [max(0.0, y0 - ypad), y1 + ypad]
    xs, ys = Scale(xdom[0], xdom[1], width), Scale(ydom[0], ydom[1], height, flip=True)
    front_rows = f.filter(pl.col("pareto"))
    anchors_all = [(xs.px(a), ys.px(b)) for a, b in zip(lx, ly, strict=True)]
    front_xy = [
        (xs.px(a), ys.px(b)) for a, b in zip(front_rows["latency_ms"], front_rows[energy], strict=True)
    ]
    others = [p for p, on in zip(anchors_all, f["pareto"], strict=True) if not on]
    r = 6.0
    # the dashed step line of the front: labels should not sit on it
    steps = sorted(front_xy)
    lines = []
    for (ax, ay), (bx, by) in zip(steps, steps[1:], strict=False):
        lines += [((ax, ay), (bx, ay)), ((bx, ay), (bx, by))]
    placed = place_labels(front_xy, front_rows["plan"].to_list(), width, height, 10,
                          obstacles=[(x - r, y - r, x + r, y + r) for x, y in others], lines=lines)  # fmt: skip
    labels_f = pl.DataFrame(
        {
            "plan": front_rows["plan"],
            "lx": [xs.value(p.x) for p in placed],
            "ly": [ys.value(p.y) for p in placed],
            "align": [p.align for p in placed],
        }
    )
    leaders = [
        {"latency_ms": xs.value(ax), energy: ys.value(ay),
         "x2": xs.value(min(max(ax, p.box[0]), p.box[2])), "y2": ys.value(min(max(ay, p.box[1]), p.box[3]))}
        for (ax, ay), p in zip(front_xy, placed, strict=True)
        if p.leader
    ]  # fmt: skip
    seqs_order = sorted(
        set(f["max_num_seqs_label"].to_list()), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0)
    )
    data = alt.Data(
        values=f.select(
            "plan", "parallelism", "max_num_seqs_label", "latency_ms", energy, "pareto"
        ).to_dicts()
    )
    x_scale = alt.Scale(domain=xdom, nice=False, zero=False)
    y_scale = alt.Scale(domain=ydom, nice=False, zero=False)
    x = alt.X(
        "latency_ms:Q", title=f"{latency.removesuffix('_s').replace('_', ' ').upper()} (ms)", scale=x_scale
    )
    y = alt.Y(f"{energy}:Q", title="energy per output token (J, all GPUs of the plan)", scale=y_scale)
    n_par = len(set(f["parallelism"].to_list()))
    pts = alt.Chart(data).mark_point(filled=True, size=90).encode(
        x=x, y=y,
        color=alt.Color("parallelism:N", title="parallelism", scale=alt.Scale(scheme="tableau10" if n_par <= 10 else "tableau20")),
        shape=alt.Shape("max_num_seqs_label:N", title="max_num_seqs", sort=seqs_order),
        tooltip=["plan:N", alt.Tooltip("latency_ms:Q", format=".1f"), alt.Tooltip(f"{energy}:Q", format=".3f")],
    )  # fmt: skip
    front = (
        alt.Chart(data)
        .transform_filter("datum.pareto")
        .mark_line(color="black", strokeDash=[6, 3], interpolate="step-after")
        .encode(x=x, y=y, order=alt.Order("latency_ms:Q"))
    )
    layers: list[Any] = [front, pts]
    if leaders:
        layers.append(
            alt.Chart(alt.Data(values=leaders))
            .mark_rule(color="#888", strokeWidth=0.8)
            .encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
        )
    for align in ("left", "right", "center"):
        part = labels_f.filter(pl.col("align") == align)
        if part.height:
            base = alt.Chart(alt.Data(values=part.to_dicts())).encode(
                x=alt.X("lx:Q", scale=x_scale), y=alt.Y("ly:Q", scale=y_scale), text="plan:N"
            )
            kw = {"align": align, "baseline": "middle", "fontSize": 10}
            layers += [
                base.mark_text(stroke="white", strokeWidth=3, strokeJoin="round", **kw),
                base.mark_text(**kw),
            ]
    return alt.layer(*layers).properties(
        title=alt.TitleParams(
            title or "Energy per output token vs latency of serving plans",
            subtitle="dashed: the Pareto front (least energy at each latency), its plans labelled",
            anchor="start",
        ),
        width=width,
        height=height,
    )
