"""Charts of the model sizing advisor: predicted throughput against hidden size per device (the saw-tooth of tile
and wave quantization), and a heads x hidden heatmap. Data: :func:`perfmodel.llm.sizing_sweep`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from ..errors import InvalidArgumentError
from . import _deps
from ._layout import scheme

if TYPE_CHECKING:
    import altair as alt

__all__ = ["sawtooth_chart", "heads_hidden_heatmap"]

_CITE = "Roofline model (perfmodel), shapes after Anthony et al. 2024, arXiv:2401.14489"


def _check(sweep: pl.DataFrame, needs: tuple[str, ...]) -> None:
    missing = [c for c in needs if c not in sweep.columns]
    if missing:
        raise InvalidArgumentError(
            f"argument `sweep`: lacks columns {missing}; expected a frame from pm.llm.sizing_sweep"
        )


def sawtooth_chart(sweep: pl.DataFrame, title: str | None = None, subtitle: str | None = None) -> alt.Chart:
    """Model TFLOP/s against hidden size, one line per device (one point per hidden size: the best head count
    of the sweep at that size)."""
    alt = _deps.altair()
    _check(sweep, ("device", "hidden", "tflops"))
    data = sweep.group_by("device", "hidden").agg(pl.col("tflops").max()).sort("device", "hidden")
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=1.2, point=alt.OverlayMarkDef(size=10))
        .encode(
            x=alt.X("hidden:Q", title="hidden size", scale=alt.Scale(zero=False)),
            y=alt.Y("tflops:Q", title="predicted throughput (TFLOP/s)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "device:N", title="device", scale=alt.Scale(scheme=scheme(data["device"].n_unique()))
            ),
            # Devices whose lines coincide (H100 and H200: one die, compute-bound GEMMs) stay visible by dash.
            strokeDash=alt.StrokeDash("device:N", title="device"),
            tooltip=["device", "hidden", alt.Tooltip("tflops:Q", format=".1f")],
        )
        .properties(
            width=640,
            height=340,
            title=alt.TitleParams(
                title or "Predicted transformer throughput vs hidden size",
                subtitle=[subtitle or "", _CITE],
                anchor="start",
            ),
        )
    )


def heads_hidden_heatmap(
    sweep: pl.DataFrame, device: str, title: str | None = None, subtitle: str | None = None
) -> alt.Chart:
    """Heatmap of model TFLOP/s over head count x hidden size on one device (empty where head_dim is not whole)."""
    alt = _deps.altair()
    _check(sweep, ("device", "hidden", "heads", "tflops"))
    data = sweep.filter(pl.col("device") == device)
    if data.is_empty():
        raise InvalidArgumentError(
            f"argument `device`: is {device!r}; the sweep has {sorted(sweep['device'].unique().to_list())}"
        )
    data = data.group_by("hidden", "heads").agg(pl.col("tflops").max(), pl.col("head_dim").first())
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("hidden:O", title="hidden size", axis=alt.Axis(labelAngle=-45, labelOverlap="greedy")),
            y=alt.Y("heads:O", title="attention heads", sort="descending"),
            color=alt.Color("tflops:Q", title="TFLOP/s", scale=alt.Scale(scheme="viridis", zero=False)),
            tooltip=["hidden", "heads", "head_dim", alt.Tooltip("tflops:Q", format=".1f")],
        )
        .properties(
            width=640,
            height=260,
            title=alt.TitleParams(
                title or f"Predicted throughput by heads x hidden size on {device}",
                subtitle=[subtitle or "", _CITE],
                anchor="start",
            ),
        )
    )
