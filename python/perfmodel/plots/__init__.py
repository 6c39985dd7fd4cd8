"""Altair charts of perfmodel results, saved to PNG, SVG or HTML without a browser or network.

Each domain has its own module (``roofline``, ``collectives``, ``llm``, ``daq``); :func:`save` writes any chart.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt

from ..errors import InvalidArgumentError

__all__ = ["save"]


def save(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    """Writes ``chart`` to ``path``; the format follows the suffix (.png, .svg, .html). PNG and SVG are
    rendered by vl-convert in-process (no browser, no network); HTML inlines the Vega libraries."""
    p = Path(path)
    suffix = p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        import vl_convert as vlc

        p.write_bytes(vlc.vegalite_to_png(chart.to_json(), scale=scale))
    elif suffix == ".svg":
        import vl_convert as vlc

        p.write_text(vlc.vegalite_to_svg(chart.to_json()))
    elif suffix == ".html":
        import vl_convert as vlc

        p.write_text(vlc.vegalite_to_html(chart.to_json(), bundle=True))
    else:
        raise InvalidArgumentError(
            f"argument `path`: unsupported chart format '{suffix}'; expected .png, .svg or .html"
        )
    return p
