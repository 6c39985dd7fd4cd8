"""Altair charts of perfmodel results, saved to PNG, SVG or HTML without a browser or network.

Each domain has its own module (``roofline``, ``collectives``, ``llm``, ``serve``, ``power``, ``cost``, ``sizing``;
the DAQ charts are :mod:`perfmodel.daq.plots`); :func:`save` writes any chart and :mod:`perfmodel.plots.check`
finds overprinting text in one.

Charts need the plotting extra, ``pip install 'perfmodel[plot]'`` (altair and vl-convert-python). Without it,
``import perfmodel`` and every model work, and so do the plots modules' frame builders (``power_vs_batch``,
``cost_sweep``, ``latency_sweep``, ``model_curves``...); building or saving a chart raises
:class:`~perfmodel.plots._deps.MissingPlotExtraError` (a :class:`perfmodel.PerfModelError` and an ``ImportError``)
that says what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from ._deps import MissingPlotExtraError

if TYPE_CHECKING:
    import altair as alt

__all__ = ["save", "MissingPlotExtraError"]


def save(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    """Writes ``chart`` to ``path``; the format follows the suffix (.png, .svg, .html). PNG and SVG are
    rendered by vl-convert in-process (no browser, no network); PNG at ``scale`` times the chart's size in
    pixels. HTML embeds the Vega, Vega-Lite and vega-embed libraries inline: the page opens offline and loads
    nothing from a CDN."""
    from . import _deps

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".png", ".svg", ".html"):
        raise InvalidArgumentError(
            f"argument `path`: unsupported chart format '{suffix}'; expected .png, .svg or .html"
        )
    vlc = _deps.vl_convert()
    spec = chart.to_json()
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        p.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
    elif suffix == ".svg":
        p.write_text(vlc.vegalite_to_svg(spec))
    else:
        p.write_text(vlc.vegalite_to_html(spec, bundle=True))
    return p
