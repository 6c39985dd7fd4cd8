"""Roofline charts: ceilings per dtype and memory level with labelled kernel points, and GEMM efficiency
against problem size."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import polars as pl

from .. import roofline
from ..hwdb import Spec, resolve

__all__ = ["roofline_chart", "gemm_efficiency_chart"]

_DTYPES = ("fp64", "tf32", "bf16", "fp8")


def _ceilings(dev: Spec, dtypes: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    ai = np.logspace(-1, 4, 200)
    peaks = []
    for dt in dtypes:
        p = dev.peak_tflops(dt) or dev.peak_tflops(dt, "vector")
        if p:
            peaks.append((dt, p))
    levels = [("HBM", dev["memory.hbm_bandwidth_gbps"])]
    if dev.get("memory.l2_bandwidth_gbps"):
        levels.append(("L2", dev["memory.l2_bandwidth_gbps"]))
    if dev.get("memory.llc_bandwidth_gbps"):
        levels.append(("Infinity Cache / LLC", dev["memory.llc_bandwidth_gbps"]))
    rows = []
    for dt, peak in peaks:
        for lname, bw in levels:
            attainable = np.minimum(peak, ai * bw / 1000.0)
            rows.append(pl.DataFrame({"intensity": ai, "tflops": attainable, "ceiling": f"{dt} / {lname}"}))
    labels = pl.DataFrame(
        {
            "label": [f"{dt} peak {p:g} TFLOP/s" for dt, p in peaks],
            "tflops": [p for _, p in peaks],
            "intensity": [ai[-1]] * len(peaks),
        }
    )
    return pl.concat(rows), labels


def roofline_chart(
    device: Spec | str,
    kernels: pl.DataFrame | None = None,
    dtypes: Sequence[str] | None = None,
    title: str | None = None,
) -> alt.LayerChart:
    """Hierarchical roofline of ``device``: one ceiling per dtype and memory level (log-log), with
    ``kernels`` (a frame with ``intensity``, ``tflops`` and optionally ``label``) drawn as labelled points."""
    dev = resolve(device, "device")
    dts = dtypes or [d for d in _DTYPES if dev.peak_tflops(d) or dev.peak_tflops(d, "vector")]
    lines, labels = _ceilings(dev, dts)
    x = alt.X(
        "intensity:Q", scale=alt.Scale(type="log"), title="arithmetic intensity (FLOP/byte of HBM traffic)"
    )
    y = alt.Y("tflops:Q", scale=alt.Scale(type="log"), title="attainable TFLOP/s")
    layers: list[alt.Chart] = [
        alt.Chart(lines)
        .mark_line(strokeWidth=1.5)
        .encode(x=x, y=y, color=alt.Color("ceiling:N", title="ceiling")),
        alt.Chart(labels).mark_text(align="right", dy=-6, fontSize=10).encode(x=x, y=y, text="label:N"),
    ]
    if kernels is not None and kernels.height:
        pts = kernels.select(
            "intensity", "tflops", *([c for c in ("label", "bound") if c in kernels.columns])
        )
        if "label" not in pts.columns:
            pts = pts.with_columns(label=pl.lit(""))
        layers.append(
            alt.Chart(pts)
            .mark_point(filled=True, size=60, color="black")
            .encode(x=x, y=y, tooltip=pts.columns)
        )
        layers.append(
            alt.Chart(pts).mark_text(align="left", dx=6, dy=4, fontSize=10).encode(x=x, y=y, text="label:N")
        )
    return alt.layer(*layers).properties(width=560, height=380, title=title or f"Roofline: {dev.name}")


def gemm_efficiency_chart(
    devices: Sequence[Spec | str], dtype: str = "bf16", sizes: Sequence[int] | None = None
) -> alt.Chart:
    """Fraction of dense peak reached by square GEMMs against size, one line per device: the small-size ramp
    and the wave-quantization sawtooth of the model."""
    sz = np.asarray(
        sizes if sizes is not None else np.unique(np.geomspace(128, 32768, 120).astype(int)), dtype=float
    )
    frames = []
    for d in devices:
        dev = resolve(d, "device")
        df = roofline.gemm(dev, sz, sz, sz, dtype=dtype).select("m", "tflops", "fraction_of_peak", "bound")
        frames.append(df.with_columns(device=pl.lit(dev.id)))
    data = pl.concat(frames)
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("m:Q", scale=alt.Scale(type="log"), title="M = N = K"),
            y=alt.Y("fraction_of_peak:Q", title=f"fraction of dense {dtype} peak"),
            color="device:N",
            tooltip=["device", "m", "tflops", "fraction_of_peak", "bound"],
        )
        .properties(width=560, height=320, title=f"Modelled GEMM efficiency ({dtype})")
    )
