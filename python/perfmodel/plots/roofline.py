"""Roofline charts: ceilings per dtype and memory level with labelled kernel points, and GEMM efficiency
against problem size (sizes a multiple of 16 bytes apart from the others)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .. import roofline
from ..hwdb import Spec, resolve
from . import _deps
from ._layout import Rect, Scale, Segment, hits, leader_end, place_labels, text_width

if TYPE_CHECKING:
    import altair as alt

__all__ = ["roofline_chart", "gemm_efficiency_chart"]

_DTYPES = ("fp64", "tf32", "bf16", "fp8")
#: Bytes per element, for the 16-byte alignment of the GEMM kernels (hwdb/README.md, unaligned_gemm_fraction).
_DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "fp4": 0.5}
_WIDTH, _HEIGHT = 600, 380
_FONT = 10


def _levels(dev: Spec) -> list[tuple[str, float]]:
    levels = [("HBM", float(dev["memory.hbm_bandwidth_gbps"]))]
    if dev.get("memory.l2_bandwidth_gbps"):
        levels.append(("L2", float(dev["memory.l2_bandwidth_gbps"])))
    if dev.get("memory.llc_bandwidth_gbps"):
        levels.append(("Infinity Cache / LLC", float(dev["memory.llc_bandwidth_gbps"])))
    return levels


def _peaks(dev: Spec, dtypes: Sequence[str]) -> list[tuple[str, float]]:
    """(label, peak) per distinct peak, highest first: dtypes with the same peak share one ceiling
    ("fp8 / int8")."""
    groups: dict[float, list[str]] = {}
    for dt in dtypes:
        p = dev.peak_tflops(dt) or dev.peak_tflops(dt, "vector")
        if p:
            groups.setdefault(round(float(p), 1), []).append(dt)
    return [(" / ".join(names), p) for p, names in sorted(groups.items(), reverse=True)]


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _halo(base: Any, align: str) -> list[Any]:
    """A text layer over a white outline of itself, so that labels stay legible where they cross a line."""
    kw = {"align": align, "baseline": "middle", "fontSize": _FONT}
    return [
        base.mark_text(stroke="white", strokeWidth=3, strokeJoin="round", **kw),
        base.mark_text(**kw),
    ]


def roofline_chart(
    device: Spec | str,
    kernels: pl.DataFrame | None = None,
    dtypes: Sequence[str] | None = None,
    title: str | None = None,
) -> alt.LayerChart:
    """Hierarchical roofline of ``device``: one ceiling per dtype (colour; dtypes with the same peak share one)
    and memory level (dash), log-log, each peak written above its flat part; ``kernels`` (a frame with
    ``intensity``, ``tflops`` and optionally ``label``) drawn as points whose labels are placed clear of each
    other (further out with a leader line where they crowd). The axes span the ceilings and the kernels."""
    alt = _deps.altair()
    dev = resolve(device, "device")
    dts = list(dtypes or [d for d in _DTYPES if dev.peak_tflops(d) or dev.peak_tflops(d, "vector")])
    peaks = _peaks(dev, dts)
    levels = _levels(dev)
    pts = None
    if kernels is not None and kernels.height:
        pts = kernels.select(
            "intensity", "tflops", *([c for c in ("label", "bound") if c in kernels.columns])
        )
        if "label" not in pts.columns:
            pts = pts.with_columns(label=pl.lit(""))
        pts = pts.filter((pl.col("intensity") > 0) & (pl.col("tflops") > 0))
    ki = pts["intensity"].to_numpy() if pts is not None and pts.height else np.array([])
    kt = pts["tflops"].to_numpy() if pts is not None and pts.height else np.array([])
    x_lo = min(0.1, float(ki.min()) / 2) if ki.size else 0.1
    x_hi = max(1e4, float(ki.max()) * 6) if ki.size else 1e4
    top = max(p for _, p in peaks)
    low_bw = min(bw for _, bw in levels)
    y_lo = min(x_lo * low_bw / 1000.0, float(kt.min()) / 2 if kt.size else math.inf)
    y_lo = 10 ** math.floor(math.log10(y_lo))
    y_hi = top * 2.5
    xs, ys = Scale(x_lo, x_hi, _WIDTH, log=True), Scale(y_lo, y_hi, _HEIGHT, log=True, flip=True)

    ai = np.logspace(math.log10(x_lo), math.log10(x_hi), 200)
    rows = []
    for name, peak in peaks:
        for lname, bw in levels:
            rows.append(
                pl.DataFrame(
                    {
                        "intensity": ai,
                        "tflops": np.minimum(peak, ai * bw / 1000.0),
                        "dtype": name,
                        "memory": f"{lname} {bw:,.0f} GB/s",
                    }
                )
            )
    lines = pl.concat(rows).filter(pl.col("tflops") >= y_lo)

    # The ceilings as pixel segments (slope and flat part per dtype and level): labels should not sit on them.
    segments: list[Segment] = []
    for _, peak in peaks:
        for _, bw in levels:
            ridge = peak * 1000.0 / bw
            start = max(x_lo, y_lo * 1000.0 / bw)
            if start < ridge:
                segments.append(((xs.px(start), ys.px(start * bw / 1000.0)), (xs.px(ridge), ys.px(peak))))
            segments.append(((xs.px(max(ridge, x_lo)), ys.px(peak)), (_WIDTH, ys.px(peak))))
    kernel_boxes: list[Rect] = [
        (xs.px(a) - 6, ys.px(t) - 6, xs.px(a) + 6, ys.px(t) + 6) for a, t in zip(ki, kt, strict=True)
    ]

    # Each peak written along the flat part of its ceiling, just under it (or over it), as near the HBM ridge
    # point as it can be without covering a kernel, another peak or a line.
    hbm = levels[0][1]
    ceiling_labels: list[dict[str, Any]] = []
    boxes: list[Rect] = []
    for name, peak in peaks:
        text = f"{name} {peak:,.0f} TFLOP/s" if peak >= 10 else f"{name} {peak:g} TFLOP/s"
        w, h = text_width(text, _FONT) + 2, _FONT + 2
        start = xs.px(peak * 1000.0 / hbm) + 4
        cands = []
        for x0 in np.arange(min(start, _WIDTH - w - 2), _WIDTH - w - 1, 16.0):
            for dy in (h / 2 + 2, -(h / 2 + 2)):
                y = ys.px(peak) + dy
                cands.append((float(x0), y, (float(x0), y - h / 2, float(x0) + w, y + h / 2)))
        fallback = cands[0]
        pick = None
        for x0, y, box in cands:
            blocked = any(_overlaps(box, b) for b in [*boxes, *kernel_boxes])
            if not blocked and not any(hits(seg, box) for seg in segments):
                pick = (x0, y, box)
                break
            if not blocked and fallback is cands[0]:
                fallback = (x0, y, box)
        x0, y, box = pick or fallback
        boxes.append(box)
        ceiling_labels.append({"intensity": xs.value(x0), "tflops": ys.value(y), "label": text})

    x_scale = alt.Scale(type="log", domain=[x_lo, x_hi], nice=False)
    y_scale = alt.Scale(type="log", domain=[y_lo, y_hi], nice=False)
    x = alt.X("intensity:Q", scale=x_scale, title="arithmetic intensity (FLOP per byte of HBM traffic)")
    y = alt.Y("tflops:Q", scale=y_scale, title="attainable TFLOP/s")
    color = alt.Color(
        "dtype:N",
        title="dtype (peak)",
        sort=[n for n, _ in peaks],
        scale=alt.Scale(scheme="tableau10"),
    )
    enc: dict[str, Any] = {"x": x, "y": y, "color": color}
    if len(levels) > 1:
        enc["strokeDash"] = alt.StrokeDash("memory:N", title="memory level")
    layers: list[Any] = [
        alt.Chart(lines).mark_line(strokeWidth=1.6, clip=True).encode(**enc),
        *_halo(
            alt.Chart(pl.DataFrame(ceiling_labels)).encode(x=x, y=y, text="label:N"),
            align="left",
        ),
    ]
    if pts is not None and pts.height:
        anchors = [(xs.px(a), ys.px(t)) for a, t in zip(ki, kt, strict=True)]
        placed = place_labels(
            anchors, pts["label"].to_list(), _WIDTH, _HEIGHT, _FONT, obstacles=boxes, lines=segments
        )
        lab = pts.with_columns(
            lx=pl.Series([xs.value(p.x) for p in placed]),
            ly=pl.Series([ys.value(p.y) for p in placed]),
            align=pl.Series([p.align for p in placed]),
        )
        leaders = []
        for (ax, ay), p in zip(anchors, placed, strict=True):
            if p.leader:
                ex, ey = leader_end(ax, ay, p.box)
                leaders.append(
                    {
                        "intensity": xs.value(ax),
                        "tflops": ys.value(ay),
                        "x2": xs.value(ex),
                        "y2": ys.value(ey),
                    }
                )
        if leaders:
            layers.append(
                alt.Chart(pl.DataFrame(leaders))
                .mark_rule(color="#888", strokeWidth=0.8)
                .encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
            )
        layers.append(
            alt.Chart(pts)
            .mark_point(filled=True, size=50, color="black")
            .encode(x=x, y=y, tooltip=pts.columns)
        )
        for align in ("left", "right", "center"):
            part = lab.filter(pl.col("align") == align)
            if part.height:
                base = alt.Chart(part.select("lx", "ly", "label")).encode(
                    x=alt.X("lx:Q", scale=x_scale), y=alt.Y("ly:Q", scale=y_scale), text="label:N"
                )
                layers.extend(_halo(base, align=align))
    bw_text = ", ".join(f"{n} {b:,.0f} GB/s" for n, b in levels)
    return alt.layer(*layers).properties(
        width=_WIDTH,
        height=_HEIGHT,
        title=alt.TitleParams(
            title or f"Roofline of the {dev.name}",
            subtitle=f"dense peaks per dtype, {bw_text}" + ("; points: modelled kernels" if ki.size else ""),
            anchor="start",
        ),
    )


def gemm_efficiency_chart(
    devices: Sequence[Spec | str],
    dtype: str = "bf16",
    sizes: Sequence[int] | None = None,
    title: str | None = None,
) -> alt.Chart:
    """Fraction of dense peak reached by square GEMMs (M = N = K) against size, one colour per device: the
    small-size ramp and the wave-quantization sawtooth of the model. Sizes whose rows are a multiple of 16
    bytes (8 elements in bf16) are drawn solid, the others dotted: those run the unaligned kernels, at the
    device's ``unaligned_gemm_fraction`` of the aligned rate (H100: about a fifth), and the subtitle says so.
    Default sizes: 128 to 32768, multiples of 64 and a geometric sweep of 120 sizes (most of them unaligned)."""
    alt = _deps.altair()
    align = max(1, int(round(16 / _DTYPE_BYTES.get(dtype, 2))))
    if sizes is None:
        sweep = np.unique(np.geomspace(128, 32768, 120).astype(int))
        sz = np.unique(np.concatenate([np.unique(np.round(sweep / 64) * 64), sweep])).astype(float)
    else:
        sz = np.unique(np.asarray(sizes, dtype=float))
    aligned = np.mod(sz, align) == 0
    label_a = f"multiple of {align} (16 bytes)"
    label_u = "not a multiple of " + str(align)
    frames = []
    penalties = []
    for d in devices:
        dev = resolve(d, "device")
        df = roofline.gemm(dev, sz, sz, sz, dtype=dtype).select("m", "tflops", "fraction_of_peak", "bound")
        frames.append(
            df.with_columns(
                device=pl.lit(dev.id),
                alignment=pl.Series(np.where(aligned, label_a, label_u)),
            )
        )
        frac = dev.get("efficiency.unaligned_gemm_fraction")
        if frac is not None and float(frac) < 1:
            penalties.append(f"{dev.id} {float(frac):.0%}")
    data = pl.concat(frames)
    present = [a for a in (label_a, label_u) if a in set(data["alignment"].to_list())]
    others = [resolve(d, "device").id for d in devices]
    others = [d for d in others if not any(p.startswith(d + " ") for p in penalties)]
    sub = [
        f"solid: M = N = K a multiple of {align} (16-byte rows); dotted: other sizes, which run the unaligned kernels",
        "unaligned rate (hwdb unaligned_gemm_fraction): "
        + ", ".join(
            [
                *(f"{p} of the aligned rate" for p in penalties),
                *([f"{', '.join(others)} 100%"] if others else []),
            ]
        ),
    ]
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X(
                "m:Q",
                scale=alt.Scale(type="log", domain=[float(sz.min()), float(sz.max())], nice=False),
                title="M = N = K (log)",
            ),
            y=alt.Y(
                "fraction_of_peak:Q",
                title=f"fraction of the dense {dtype} peak",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("device:N", title="device", scale=alt.Scale(scheme="tableau10")),
            strokeDash=alt.StrokeDash(
                "alignment:N",
                title="size",
                sort=present,
                scale=alt.Scale(domain=present, range=[[1, 0], [2, 3]][: len(present)]),
            ),
            detail="alignment:N",
            tooltip=[
                "device",
                "m",
                "alignment",
                alt.Tooltip("tflops:Q", format=".0f"),
                alt.Tooltip("fraction_of_peak:Q", format=".1%"),
                "bound",
            ],
        )
        .properties(
            width=_WIDTH,
            height=320,
            title=alt.TitleParams(
                title or f"Modelled efficiency of square {dtype} GEMMs against size",
                subtitle=sub,
                anchor="start",
            ),
        )
    )
