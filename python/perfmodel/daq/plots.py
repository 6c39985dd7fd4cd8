"""Altair charts of DAQ sweeps (:func:`perfmodel.daq.lever_sweep`), saved to PNG/SVG/HTML with vl-convert (no
browser; HTML with Vega inline). They need the plotting extra (``pip install 'perfmodel[plot]'``);
:func:`pareto_front` does not.

>>> import perfmodel as pm
>>> from perfmodel.daq import plots
>>> front = plots.pareto_front(pm.daq.lever_sweep("cms-run5"))
>>> front["configuration"].to_list()
['gpu_hlt + smart_pixels + l1_tracking + optical_links']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ..plots import _deps
from ..plots._layout import Scale, place_labels

if TYPE_CHECKING:
    import altair as alt

__all__ = ["pareto_front", "power_pareto", "power_by_stage", "relevant_per_kj", "save"]

#: A lever whose toggling moves power by less than this fraction and F1 by less than ``_F1_SAME`` in every
#: configuration is drawn once (with and without it), and the chart says so.
_POWER_SAME = 0.005
_F1_SAME = 1e-3
_FRONT, _DOMINATED = "#d62728", "#7f7f7f"


def pareto_front(df: pl.DataFrame, cost: str = "power_w", benefit: str = "f1") -> pl.DataFrame:
    """Rows not dominated by another (lower ``cost`` and higher ``benefit``), sorted by cost."""
    d = df.sort([cost, benefit], descending=[False, True])
    best = d[benefit].cum_max()
    keep = (best > best.shift(1).fill_null(float("-inf"))).to_list()
    return d.filter(pl.Series(keep))


def _levers(df: pl.DataFrame) -> list[str]:
    return [c for c, t in df.schema.items() if t == pl.Boolean]


def _negligible(df: pl.DataFrame, levers: list[str]) -> list[str]:
    """Levers whose toggling changes neither power (by ``_POWER_SAME``) nor F1 (by ``_F1_SAME``) anywhere."""
    out = []
    for lv in levers:
        rest = [x for x in levers if x != lv]
        on = df.filter(pl.col(lv)).sort(rest) if rest else df.filter(pl.col(lv))
        off = df.filter(~pl.col(lv)).sort(rest) if rest else df.filter(~pl.col(lv))
        if on.height == 0 or on.height != off.height:
            continue
        dp = ((on["power_w"] - off["power_w"]).abs() / off["power_w"]).max()
        df1 = (on["f1"] - off["f1"]).abs().max()
        if dp is not None and df1 is not None and float(dp) < _POWER_SAME and float(df1) < _F1_SAME:  # type: ignore[arg-type]
            out.append(lv)
    return out


def power_pareto(df: pl.DataFrame, title: str | None = None) -> alt.LayerChart:
    """Power (MW) against pipeline F1, one labelled point per configuration of levers (the boolean columns of a
    :func:`perfmodel.daq.lever_sweep` frame), the Pareto front (least power for its F1) as a line, its points
    red. A lever that moves neither power (by 0.5 %) nor F1 is folded: the configurations with and without it
    are one point, and the subtitle names it. Labels sit clear of each other (leader lines where they crowd)."""
    alt = _deps.altair()
    levers = _levers(df)
    folded = _negligible(df, levers) if "configuration" in df.columns else []
    keep = [lv for lv in levers if lv not in folded]
    d = df.with_columns(power_mw=pl.col("power_w") / 1e6)
    if folded:
        d = d.filter(pl.all_horizontal([~pl.col(lv) for lv in folded]))
    if keep:
        d = d.with_columns(
            configuration=pl.concat_str(
                [pl.when(pl.col(lv)).then(pl.lit(lv)).otherwise(None) for lv in keep], separator=" + ",
                ignore_nulls=True,
            ).replace("", "baseline")
        )  # fmt: skip
    front = pareto_front(d, "power_mw", "f1")
    d = d.with_columns(on_front=pl.col("configuration").is_in(front["configuration"].to_list()))
    width, height = 520, 340
    xmax = float(d["power_mw"].max()) * 1.08  # type: ignore[arg-type]
    xs, ys = Scale(0.0, xmax, width), Scale(0.0, 1.0, height, flip=True)
    anchors = [(xs.px(p), ys.px(f)) for p, f in zip(d["power_mw"], d["f1"], strict=True)]
    placed = place_labels(anchors, d["configuration"].to_list(), width, height, 10)
    labels = pl.DataFrame(
        {
            "configuration": d["configuration"],
            "lx": [xs.value(p.x) for p in placed],
            "ly": [ys.value(p.y) for p in placed],
            "align": [p.align for p in placed],
        }
    )
    leaders = [
        {"power_mw": xs.value(ax), "f1": ys.value(ay),
         "x2": xs.value(min(max(ax, p.box[0]), p.box[2])), "y2": ys.value(min(max(ay, p.box[1]), p.box[3]))}
        for (ax, ay), p in zip(anchors, placed, strict=True) if p.leader
    ]  # fmt: skip
    x_scale = alt.Scale(domain=[0, xmax], nice=False)
    y_scale = alt.Scale(domain=[0, 1], nice=False)
    x = alt.X("power_mw:Q", title="power (MW, 2032 technology)", scale=x_scale)
    y = alt.Y("f1:Q", title="pipeline F1", scale=y_scale)
    tips = ["configuration", alt.Tooltip("power_mw:Q", format=".2f"), alt.Tooltip("f1:Q", format=".3f")]
    if "relevant_per_kj" in d.columns:
        tips.append(alt.Tooltip("relevant_per_kj:Q", format=".3f"))
    cols = [c for c in ("configuration", "power_mw", "f1", "relevant_per_kj", "on_front") if c in d.columns]
    points = (
        alt.Chart(d.select(cols))
        .mark_point(filled=True, size=80)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "on_front:N",
                title=None,
                scale=alt.Scale(domain=[True, False], range=[_FRONT, _DOMINATED]),
                legend=alt.Legend(labelExpr="datum.value ? 'on the Pareto front' : 'dominated'"),
            ),
            tooltip=tips,
        )
    )
    line = (
        alt.Chart(front.select("power_mw", "f1"))
        .mark_line(color=_FRONT, interpolate="step-after")
        .encode(x=x, y=y, order="power_mw:Q")
    )
    layers: list[Any] = [line, points]
    if leaders:
        layers.append(
            alt.Chart(pl.DataFrame(leaders))
            .mark_rule(color="#888", strokeWidth=0.8)
            .encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
        )
    for align in ("left", "right", "center"):
        part = labels.filter(pl.col("align") == align)
        if part.height:
            base = alt.Chart(part).encode(
                x=alt.X("lx:Q", scale=x_scale), y=alt.Y("ly:Q", scale=y_scale), text="configuration:N"
            )
            kw = {"align": align, "baseline": "middle", "fontSize": 10}
            layers += [
                base.mark_text(stroke="white", strokeWidth=3, strokeJoin="round", **kw),
                base.mark_text(**kw),
            ]
    sub = "every combination of the technology levers; red: the Pareto front (no other has less power and a higher F1)"
    if folded:
        sub = [
            sub,
            f"{', '.join(folded)} moves power by < {_POWER_SAME:.1%} and F1 not at all: each point is with and without it",
        ]  # type: ignore[assignment]
    return alt.layer(*layers).properties(
        title=alt.TitleParams(title or "Power vs F1 of the DAQ configurations", subtitle=sub, anchor="start"),
        width=width,
        height=height,
    )  # fmt: skip


def power_by_stage(
    df: pl.DataFrame, id_col: str = "configuration", title: str | None = None, max_stages: int = 6
) -> alt.HConcatChart | alt.Chart:
    """Power per stage (``power_w:<stage>`` columns of a per-stage sweep) for each configuration, as stacked
    bars with at most ``max_stages`` colours: the largest stages by name, the rest as one grey "other" bar.
    When one stage takes more than half the power of every configuration (the HLT farm of a trigger), a
    second panel breaks down the power outside it, in kW, so the small stages are seen too."""
    alt = _deps.altair()
    stage_cols = [c for c in df.columns if c.startswith("power_w:")]
    long = df.select([id_col, *stage_cols]).unpivot(index=id_col, variable_name="stage", value_name="power_w")
    long = long.with_columns(stage=pl.col("stage").str.strip_prefix("power_w:")).filter(pl.col("power_w") > 0)
    order = df.sort("power_w", descending=True)[id_col].to_list() if "power_w" in df.columns else None
    totals = long.group_by(id_col).agg(pl.col("power_w").sum().alias("total"))
    share = long.join(totals, on=id_col).with_columns(share=pl.col("power_w") / pl.col("total"))
    by_stage = share.group_by("stage").agg(pl.col("share").min().alias("min_share"), pl.col("power_w").max())
    dominant = by_stage.filter(pl.col("min_share") > 0.5)["stage"].to_list()

    def bars(frame: pl.DataFrame, unit: float, unit_name: str, names: list[str], panel_title: str) -> Any:
        ranked = (
            frame.group_by("stage")
            .agg(pl.col("power_w").max())
            .sort("power_w", descending=True)["stage"]
            .to_list()
        )
        if names:
            top = [s for s in names if s in ranked]
        else:
            top = ranked if len(ranked) <= max_stages else ranked[: max_stages - 1]
        rest = [s for s in ranked if s not in top]
        other = f"other ({len(rest)} stages)"
        f = frame.with_columns(
            group=pl.when(pl.col("stage").is_in(top)).then(pl.col("stage")).otherwise(pl.lit(other)),
            value=pl.col("power_w") / unit,
        )
        f = f.group_by(id_col, "group").agg(
            pl.col("value").sum(), pl.col("stage").sort().str.join(", ").alias("stages")
        )
        domain = top + ([other] if rest else [])
        palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#9d755d"]
        rng = palette[: len(top)] + (["#bab0ac"] if rest else [])
        f = f.with_columns(
            stack=pl.col("group").replace_strict({g: i for i, g in enumerate(domain)}, default=99)
        )
        return (
            alt.Chart(f)
            .mark_bar()
            .encode(
                y=alt.Y(f"{id_col}:N", sort=order, title=None),
                x=alt.X("value:Q", title=f"power ({unit_name})", stack="zero"),
                color=alt.Color("group:N", title="stage", sort=domain, scale=alt.Scale(domain=domain, range=rng),
                                legend=alt.Legend(orient="bottom", columns=3, labelLimit=200)),
                order=alt.Order("stack:Q"),
                tooltip=[id_col, "group", "stages", alt.Tooltip("value:Q", format=",.2f", title=unit_name)],
            )
            .properties(title=panel_title, width=300, height=max(80, 20 * df.height))
        )  # fmt: skip

    heading = title or "DAQ power by stage"
    if not dominant:
        return bars(long, 1e6, "MW", [], "").properties(title=heading, width=420)
    big = dominant[0]
    left = bars(
        long.with_columns(stage=pl.when(pl.col("stage") == big).then(pl.lit(big)).otherwise(pl.lit("all other stages"))),
        1e6, "MW", [big, "all other stages"], "total",
    )  # fmt: skip
    right = bars(long.filter(pl.col("stage") != big), 1e3, "kW", [], f"outside the {big}")
    return (
        alt.hconcat(left, right.encode(y=alt.Y(f"{id_col}:N", sort=order, title=None, axis=None)))
        .resolve_scale(color="independent")
        .properties(title=alt.TitleParams(heading, subtitle=f"the {big} is over half the power of every configuration", anchor="start"))
    )  # fmt: skip


def relevant_per_kj(df: pl.DataFrame, id_col: str = "configuration", title: str | None = None) -> alt.Chart:
    """Relevant samples per kJ by configuration, best first."""
    alt = _deps.altair()
    return (
        alt.Chart(df.select(id_col, "relevant_per_kj"))
        .mark_bar()
        .encode(
            y=alt.Y(f"{id_col}:N", sort="-x", title=None),
            x=alt.X("relevant_per_kj:Q", title="relevant samples per kJ"),
            tooltip=[id_col, alt.Tooltip("relevant_per_kj:Q", format=".4f")],
        )
        .properties(title=title or "Relevant samples per kJ by configuration", width=420)
    )


def save(chart: alt.TopLevelMixin, path: str | Path) -> Path:
    """Saves ``chart`` as PNG, SVG or HTML by the file's suffix: :func:`perfmodel.plots.save` (vl-convert, no
    browser; HTML with the Vega libraries inline)."""
    from ..plots import save as _save

    return _save(chart, path)
