"""Charts of collective communication: bus bandwidth against message size (model lines per algorithm over
measured points) and the auto-tuner's algorithm map by message size and rank count.

Both are built from plain polars frames (:func:`model_curves`, :func:`measured_points`, :func:`algorithm_map_frame`)
so that a caller can inspect, filter or combine what a chart shows; save any chart with
:func:`perfmodel.plots.save` (PNG/SVG/HTML, no browser, no network).

Examples
--------
>>> import perfmodel as pm
>>> from perfmodel.plots import collectives as cp
>>> curves = cp.model_curves("dgx-h100", "all_reduce", 8, algorithms="all", sizes=[2**20, 2**30])
>>> sorted(set(curves["requested"]))
['auto', 'custom_all_reduce', 'direct', 'hierarchical', 'nvls', 'rabenseifner', 'recursive_doubling', 'ring', 'tree']
>>> chart = cp.busbw_chart(curves)              # doctest: +SKIP
>>> pm.plots.save(chart, "busbw.png")            # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .. import collectives
from ..cluster import Cluster, cluster
from ..errors import InvalidArgumentError, UnsupportedError
from ..hwdb import Spec, resolve
from . import _deps
from ._layout import scheme

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "format_bytes",
    "size_range",
    "model_curves",
    "compare_curves",
    "measured_points",
    "busbw_chart",
    "busbw_vs_size",
    "algorithm_map_frame",
    "algorithm_map",
]

_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))

#: Vega expression that writes an axis value in bytes as ``512 B``, ``4 KiB``, ``1.5 GiB``.
_BYTES_LABEL = " : ".join(
    [f"datum.value >= {v} ? format(datum.value / {v}, '~g') + ' {u}'" for u, v in _UNITS]
    + ["format(datum.value, '~g') + ' B'"]
)


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units as nccl-tests users read them: ``8 B``, ``1 KiB``, ``1.5 MiB``, ``8 GiB``."""
    if not math.isfinite(n) or n < 0:
        raise InvalidArgumentError(f"argument `n`: is {n}; expected a finite number of bytes >= 0")
    for unit, value in _UNITS:
        if n >= value:
            return f"{n / value:.4g} {unit}"
    return f"{n:.4g} B"


def size_range(lo: float = 8, hi: float = 8 * 2**30, factor: float = 2) -> np.ndarray:
    """Message sizes ``lo, lo*factor, ...`` up to ``hi`` inclusive, as ``all_reduce_perf -b lo -e hi -f factor``
    steps them."""
    if not (lo > 0 and hi >= lo and factor > 1):
        raise InvalidArgumentError(
            f"arguments `lo`, `hi`, `factor`: got {lo}, {hi}, {factor}; expected 0 < lo <= hi and factor > 1"
        )
    n = int(math.floor(math.log(hi / lo, factor) + 1e-9)) + 1
    return lo * factor ** np.arange(n, dtype=np.float64)


def _size_ticks(sizes: np.ndarray) -> list[float]:
    """Powers of two inside the size range, thinned to at most ~10 ticks (every 1, 2, 5 or 10 octaves)."""
    lo = math.ceil(math.log2(max(float(np.min(sizes)), 1.0)))
    hi = math.floor(math.log2(float(np.max(sizes))))
    for step in (1, 2, 5, 10):
        ticks = [2.0**k for k in range(lo, hi + 1) if k % step == 0]
        if len(ticks) <= 10:
            return ticks or [2.0**lo]
    return [2.0**k for k in range(lo, hi + 1) if k % 10 == 0]


def _size_axis(sizes: np.ndarray, title: str = "message size (bytes, as nccl-tests counts them)") -> alt.X:
    alt = _deps.altair()
    return alt.X(
        "nbytes:Q",
        scale=alt.Scale(type="log", base=2, nice=False),
        axis=alt.Axis(values=_size_ticks(sizes), labelExpr=_BYTES_LABEL, title=title, grid=True),
    )


def _runnable(where: Cluster, op: str, nranks: int) -> list[str]:
    """Algorithms (not ``auto``) that implement ``op`` on this topology and rank count."""
    out = []
    for name in collectives.ALGORITHMS:
        if name == "auto":
            continue
        try:
            collectives.predict(where, op, 2.0**20, nranks, name)
        except (UnsupportedError, InvalidArgumentError):
            continue
        out.append(name)
    return out


def _runs(where: Cluster, op: str, nbytes: float, nranks: int, name: str) -> bool:
    try:
        collectives.predict(where, op, nbytes, nranks, name)
    except UnsupportedError:
        return False
    return True


def _as_cluster(where: Spec | str | Cluster, nranks: int) -> Cluster:
    if isinstance(where, Cluster):
        return where
    spec = resolve(where, "system")
    dpn = int(spec["devices_per_node_count"])
    return cluster(spec, max(1, -(-int(nranks) // dpn)))


def _label_of(where: Spec | str | Cluster, nranks: int) -> str:
    if isinstance(where, Cluster):
        name = " + ".join(f"{g['nodes']}x {g['system'].id}" for g in where.groups)
    else:
        name = resolve(where, "system").id
    return f"{name}, {nranks} ranks"


def model_curves(
    where: Spec | str | Cluster,
    op: str = "all_reduce",
    nranks: int = 8,
    algorithms: str | Sequence[str] = "auto",
    sizes: Any = None,
    label: str | None = None,
) -> pl.DataFrame:
    """Modelled time, algbw and busbw of ``op`` over a range of sizes, one curve per requested algorithm.

    Parameters
    ----------
    where
        System id/spec or :class:`~perfmodel.cluster.Cluster` (as for :func:`perfmodel.collectives.predict`).
    algorithms
        ``"auto"`` (the tuner's pick at each size), ``"all"`` (``auto`` plus every algorithm that runs ``op`` on
        this topology and rank count) or a list of names.
    sizes
        Message sizes in bytes (default 8 B to 8 GiB by factors of 2, as ``all_reduce_perf -b 8 -e 8G -f 2``).
    label
        Name of this configuration in legends (default ``"<system>, <n> ranks"``).

    Returns
    -------
    polars.DataFrame
        label, series, requested, algorithm (the one used), op, nranks, nbytes, time_us, algbw_gbps, busbw_gbps.
    """
    n = int(nranks)
    c = _as_cluster(where, n)
    sz = size_range() if sizes is None else np.asarray(sizes, dtype=np.float64).reshape(-1)
    if sz.size == 0:
        raise InvalidArgumentError("argument `sizes`: is empty; expected at least one message size")
    if isinstance(algorithms, str) and algorithms == "all":
        names = ["auto", *_runnable(c, op, n)]
    elif isinstance(algorithms, str):
        names = [algorithms]
    else:
        names = list(algorithms)
    if not names:
        raise InvalidArgumentError(
            "argument `algorithms`: is empty; expected 'auto', 'all' or algorithm names"
        )
    lab = label or _label_of(where, n)
    frames = []
    for name in names:
        try:
            df = collectives.predict(c, op, sz, n, name)
        except UnsupportedError:
            if not (isinstance(algorithms, str) and algorithms == "all"):
                raise
            # A size-limited algorithm (a framework's custom all-reduce): its curve over the sizes it takes.
            ok = [s for s in sz if _runs(c, op, s, n, name)]
            if not ok:
                continue
            df = collectives.predict(c, op, ok, n, name)
        series = name if label is None and len(names) > 1 else (lab if name == "auto" else f"{lab}: {name}")
        frames.append(
            df.select(
                pl.lit(lab).alias("label"),
                pl.lit(series).alias("series"),
                pl.lit(name).alias("requested"),
                pl.col("algorithm").cast(pl.String),
                "op",
                "nranks",
                "nbytes",
                "time_us",
                "algbw_gbps",
                "busbw_gbps",
            )
        )
    return pl.concat(frames)


def _validation_points(rows: pl.DataFrame) -> pl.DataFrame:
    out = []
    for r in rows.iter_rows(named=True):
        if r.get("metric") != "busbw":
            continue
        p = json.loads(r["params"]) if isinstance(r["params"], str) else dict(r["params"] or {})
        if "msg_bytes" not in p:
            continue
        out.append(
            {
                # One series per system: the group name without its size class ("dgx-h100 all_reduce").
                "label": re.sub(
                    r"\s*(<|>=)\s*1MiB$", "", str(r.get("group") or r.get("system") or "measured")
                ),
                "nbytes": float(p["msg_bytes"]),
                "busbw_gbps": float(r["measured"]),
                "time_us": None,
                "nranks": int(p.get("gpus", 0)) or None,
                "kind": str(r.get("role") or "measured"),
            }
        )
    if not out:
        raise InvalidArgumentError(
            "argument `measured`: the validation rows hold no busbw rows with a message size"
        )
    return pl.DataFrame(out, schema={"label": pl.String, "nbytes": pl.Float64, "busbw_gbps": pl.Float64, "time_us": pl.Float64,
                                     "nranks": pl.Int64, "kind": pl.String})  # fmt: skip


def measured_points(
    measured: pl.DataFrame,
    label: str | None = None,
    placement: str = "out-of-place",
) -> pl.DataFrame:
    """Measured busbw points from a log (:func:`perfmodel.nccl_tests.read`) or from validation rows
    (:func:`perfmodel.validation.run`, busbw rows with ``msg_bytes`` in their params).

    A log keeps the rows of ``placement`` (or all rows when the log has only the other placement, as rccl-tests'
    in-place-only output) with size > 0. Returns label, series, kind (placement, or fit/holdout for validation
    rows), nbytes, busbw_gbps, time_us, nranks.
    """
    if not isinstance(measured, pl.DataFrame):
        raise InvalidArgumentError(
            f"argument `measured`: expected a polars DataFrame from pm.nccl_tests.read or pm.validation.run, got {type(measured).__name__}"
        )
    if {"params", "measured", "metric"} <= set(measured.columns):
        pts = _validation_points(measured)
        if label is not None:
            pts = pts.with_columns(label=pl.lit(label))
    elif {"size_bytes", "busbw_gbps"} <= set(measured.columns):
        rows = measured.filter(pl.col("size_bytes") > 0)
        if "placement" in rows.columns:
            have = set(rows["placement"].drop_nulls().to_list())
            if placement in have:
                rows = rows.filter(pl.col("placement") == placement)
            elif have:
                rows = rows.filter(pl.col("placement") == sorted(have)[0])
        lab = label or "measured"
        pts = rows.select(
            pl.lit(lab).alias("label"),
            pl.col("size_bytes").cast(pl.Float64).alias("nbytes"),
            pl.col("busbw_gbps").cast(pl.Float64),
            (pl.col("time_us") if "time_us" in rows.columns else pl.lit(None))
            .cast(pl.Float64)
            .alias("time_us"),
            (pl.col("nranks") if "nranks" in rows.columns else pl.lit(None)).cast(pl.Int64).alias("nranks"),
            (pl.col("placement") if "placement" in rows.columns else pl.lit("measured"))
            .cast(pl.String)
            .alias("kind"),
        )
    else:
        raise InvalidArgumentError(
            "argument `measured`: expected a log frame (columns size_bytes, busbw_gbps) or validation rows "
            f"(columns params, measured, metric); got columns {measured.columns}"
        )
    if pts.height == 0:
        raise InvalidArgumentError(f"argument `measured`: no rows with size > 0 (placement '{placement}')")
    series = (
        pl.when(pl.col("label") == "measured")
        .then(pl.col("label"))
        .otherwise(pl.col("label") + pl.lit(" (measured)"))
    )
    return pts.with_columns(series=series).select(
        "label", "series", "kind", "nbytes", "busbw_gbps", "time_us", "nranks"
    )


def busbw_chart(
    curves: pl.DataFrame,
    measured: pl.DataFrame | None = None,
    title: str | None = None,
    log_y: bool = False,
    width: int = 560,
    height: int = 360,
) -> alt.LayerChart:
    """busbw against message size: model lines (``curves`` from :func:`model_curves`, possibly several
    concatenated) over measured points (``measured`` from :func:`measured_points`). The x axis is log2 in bytes
    with binary-unit labels; ``auto`` curves are drawn thicker than fixed-algorithm ones. Tooltips give the
    algorithm the model used, time and busbw."""
    alt = _deps.altair()
    need = {"series", "requested", "algorithm", "nbytes", "busbw_gbps", "time_us"}
    if not need <= set(curves.columns):
        raise InvalidArgumentError(
            f"argument `curves`: expected a frame from model_curves() with columns {sorted(need)}, got {curves.columns}"
        )
    all_sizes = curves["nbytes"].to_numpy()
    if measured is not None and measured.height:
        all_sizes = np.concatenate([all_sizes, measured["nbytes"].to_numpy()])
    x = _size_axis(all_sizes)
    ys = alt.Scale(type="log", nice=False) if log_y else alt.Scale(zero=True)
    y = alt.Y("busbw_gbps:Q", scale=ys, title="bus bandwidth (GB/s, nccl-tests busbw)")
    lines = curves.filter(pl.col("busbw_gbps") > 0) if log_y else curves
    n_series = len(
        set(lines["series"].to_list())
        | (set(measured["series"].to_list()) if measured is not None else set())
    )
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(scheme=scheme(n_series)),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=320),
    )
    tip = [
        alt.Tooltip("series:N"),
        alt.Tooltip("algorithm:N", title="algorithm used"),
        alt.Tooltip("nbytes:Q", title="bytes", format=","),
        alt.Tooltip("time_us:Q", title="time (us)", format=".2f"),
        alt.Tooltip("busbw_gbps:Q", title="busbw (GB/s)", format=".2f"),
    ]
    auto = lines.filter(pl.col("requested") == "auto")
    fixed = lines.filter(pl.col("requested") != "auto")
    layers: list[Any] = []
    # auto first and thick, fixed algorithms dashed on top of it: where auto equals one of them both stay visible.
    if auto.height:
        layers.append(
            alt.Chart(auto)
            .mark_line(strokeWidth=3.2, opacity=0.85)
            .encode(x=x, y=y, color=color, tooltip=tip)
        )
    if fixed.height:
        layers.append(
            alt.Chart(fixed)
            .mark_line(strokeWidth=1.4, strokeDash=[5, 3])
            .encode(x=x, y=y, color=color, tooltip=tip)
        )
    if measured is not None and measured.height:
        pts = measured.filter(pl.col("busbw_gbps") > 0) if log_y else measured
        layers.append(
            alt.Chart(pts)
            .mark_point(filled=True, size=46, opacity=0.9)
            .encode(
                x=x,
                y=y,
                color=color,
                shape=alt.Shape("kind:N", title="measured"),
                tooltip=[
                    alt.Tooltip("series:N"),
                    alt.Tooltip("kind:N"),
                    alt.Tooltip("nbytes:Q", title="bytes", format=","),
                    alt.Tooltip("busbw_gbps:Q", title="busbw (GB/s)", format=".2f"),
                ],
            )
        )
    ops = sorted(set(curves["op"].to_list())) if "op" in curves.columns else []
    default = "Bus bandwidth vs message size" + (f" ({', '.join(ops)})" if ops else "")
    chart = alt.layer(*layers).properties(width=width, height=height, title=title or default)
    return chart


def busbw_vs_size(
    where: Spec | str | Cluster,
    op: str | None = None,
    nranks: int | None = None,
    algorithms: str | Sequence[str] = "all",
    sizes: Any = None,
    measured: pl.DataFrame | None = None,
    placement: str = "out-of-place",
    title: str | None = None,
    log_y: bool = False,
) -> alt.LayerChart:
    """One configuration's busbw curves (every algorithm that runs, plus ``auto``) with measured points.

    ``measured`` is a log from :func:`perfmodel.nccl_tests.read` (its op and rank count are used when ``op`` and
    ``nranks`` are not given, and the model is evaluated at the log's sizes plus a dense grid) or validation
    rows. ``op`` defaults to ``all_reduce`` and ``nranks`` to 8 when neither they nor the log say.
    """
    if measured is not None and "size_bytes" in measured.columns and measured.height:
        op = op or (measured["op"][0] if "op" in measured.columns else None)
        if nranks is None and "nranks" in measured.columns and measured["nranks"][0] is not None:
            nranks = int(measured["nranks"][0])
    op = op or "all_reduce"
    nranks = int(nranks or 8)
    pts = measured_points(measured, placement=placement) if measured is not None else None
    if sizes is None:
        sz = size_range()
        if pts is not None:
            lo, hi = float(pts["nbytes"].min()), float(pts["nbytes"].max())  # type: ignore[arg-type]
            sz = np.unique(np.concatenate([size_range(max(lo, 1.0), hi, 2**0.25), pts["nbytes"].to_numpy()]))
    else:
        sz = np.asarray(sizes, dtype=np.float64)
    curves = model_curves(where, op, nranks, algorithms, sz)
    return busbw_chart(curves, pts, title=title or f"{op}: {_label_of(where, nranks)}", log_y=log_y)


def _default_ranks(c: Cluster) -> list[int]:
    d = c.devices
    ranks = [2**k for k in range(1, int(math.log2(d)) + 1)]
    dpn = [g["system"]["devices_per_node_count"] for g in c.groups]
    ranks += [int(x) for x in dpn if int(x) <= d]
    if d not in ranks:
        ranks.append(d)
    return sorted(set(ranks))


def algorithm_map_frame(
    where: Spec | str | Cluster,
    op: str = "all_reduce",
    sizes: Any = None,
    nranks: Sequence[int] | None = None,
    nodes: int = 8,
) -> pl.DataFrame:
    """The auto-tuner's choice over a grid of message sizes and rank counts.

    ``where`` is a Cluster, or a system id/spec (then a cluster of ``nodes`` nodes of it). ``nranks`` defaults
    to 2, 4, 8, ... up to the cluster's devices (and one node's device count). Returns nbytes, size (a label),
    nranks, algorithm, time_us, busbw_gbps, transports (the transport of each level the communicator spans).
    """
    c = where if isinstance(where, Cluster) else cluster(resolve(where, "system"), int(nodes))
    sz = size_range(2**10, 2**33, 4) if sizes is None else np.asarray(sizes, dtype=np.float64).reshape(-1)
    ranks = _default_ranks(c) if nranks is None else [int(r) for r in nranks]
    if not ranks or sz.size == 0:
        raise InvalidArgumentError(
            "arguments `sizes`/`nranks`: expected at least one size and one rank count"
        )
    r = np.asarray(ranks, dtype=np.float64)
    df = collectives.predict(c, op, sz[:, None], r[None, :])
    transports = {k: c.transports(k) for k in ranks}
    return df.select(
        "nbytes",
        pl.col("nbytes").map_elements(format_bytes, return_dtype=pl.String).alias("size"),
        "nranks",
        pl.col("algorithm").cast(pl.String),
        "time_us",
        "busbw_gbps",
        pl.col("nranks").replace_strict(transports, return_dtype=pl.String).alias("transports"),
    )


def algorithm_map(
    where: Spec | str | Cluster,
    op: str = "all_reduce",
    sizes: Any = None,
    nranks: Sequence[int] | None = None,
    nodes: int = 8,
    title: str | None = None,
    show_busbw: bool = True,
) -> alt.LayerChart:
    """Heatmap of the algorithm ``algorithm="auto"`` picks, by message size (x) and rank count (y), with busbw,
    time and transports as tooltip (and busbw in GB/s written in each cell unless ``show_busbw=False``). See
    :func:`algorithm_map_frame` for the grid."""
    alt = _deps.altair()
    df = algorithm_map_frame(where, op, sizes, nranks, nodes)
    size_order = df.sort("nbytes")["size"].unique(maintain_order=True).to_list()
    rank_order = sorted(set(df["nranks"].to_list()), reverse=True)
    c = where if isinstance(where, Cluster) else cluster(resolve(where, "system"), int(nodes))
    name = " + ".join(f"{g['nodes']} x {g['system'].id}" for g in c.groups) + f" nodes ({c.devices} GPUs)"
    x = alt.X("size:O", sort=size_order, title="message size", axis=alt.Axis(labelAngle=-45))
    y = alt.Y("nranks:O", sort=rank_order, title="ranks")
    heat = (
        alt.Chart(df)
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=x,
            y=y,
            color=alt.Color("algorithm:N", title="algorithm (auto)", scale=alt.Scale(scheme="tableau10")),
            tooltip=[
                alt.Tooltip("size:N"),
                alt.Tooltip("nranks:Q", title="ranks"),
                alt.Tooltip("algorithm:N"),
                alt.Tooltip("busbw_gbps:Q", title="busbw (GB/s)", format=".2f"),
                alt.Tooltip("time_us:Q", title="time (us)", format=".2f"),
                alt.Tooltip("transports:N"),
            ],
        )
    )
    layers: list[Any] = [heat]
    if show_busbw:
        # busbw (GB/s) written in each cell, so that a PNG or SVG (no tooltips) still shows it.
        layers.append(
            alt.Chart(df)
            .mark_text(fontSize=8, color="white")
            .encode(x=x, y=y, text=alt.Text("busbw_gbps:Q", format=".2~r"))
        )
    chart = alt.layer(*layers).properties(
        width=max(320, 34 * len(size_order)),
        height=max(160, 26 * len(rank_order)),
        title=alt.TitleParams(
            title or f"Which {op} algorithm wins: {name}",
            subtitle="colour: the algorithm auto picks; text: its busbw (GB/s)" if show_busbw else "",
            anchor="start",
        ),
    )
    return chart


def compare_curves(
    configs: Mapping[str, tuple[Spec | str | Cluster, int]],
    op: str = "all_reduce",
    sizes: Any = None,
    algorithm: str = "auto",
) -> pl.DataFrame:
    """:func:`model_curves` of several labelled configurations ``{label: (where, nranks)}``, concatenated (one
    ``auto`` curve each), for one :func:`busbw_chart`."""
    if not configs:
        raise InvalidArgumentError(
            "argument `configs`: is empty; expected {label: (system or cluster, nranks)}"
        )
    return pl.concat([model_curves(w, op, n, algorithm, sizes, label=lab) for lab, (w, n) in configs.items()])
