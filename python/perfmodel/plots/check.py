"""Layout checks of a chart as vl-convert renders it: where every text mark lands, and whether two of them
overprint, one runs off the canvas or one is cut short with an ellipsis.

The positions come from vl-convert's scenegraph (:func:`vl_convert.vegalite_to_scenegraph`: the same layout the
PNG and SVG are drawn from); the width of each string is measured by vl-convert's own text metrics (the fonts
it renders with), so a box here is the box Vega computes for its own label-overlap removal: ``fontSize`` high,
the measured width wide, placed by ``align``, ``baseline``, ``dx``, ``dy`` and rotated by ``angle``.

Tolerance: two boxes overprint when they intersect by more than ``tol`` pixels (default 1 px, at scale 1) in
both directions after each is shrunk by ``tol / 2`` on every side; widths are whole pixels (Vega rounds them),
so boxes that only touch, or share the anti-aliased edge pixel, pass. The same text drawn twice at the same
place (a white outline under a label) is one label. A box runs off the canvas when it reaches
more than ``tol`` pixels past an edge.

>>> import altair as alt
>>> from perfmodel.plots import check
>>> c = alt.Chart(alt.Data(values=[{"x": 1, "y": 1, "t": "a"}, {"x": 1, "y": 1, "t": "b"}]))
>>> c = c.mark_text().encode(x="x:Q", y="y:Q", text="t:N")
>>> [p.kind for p in check.problems(c)]
['overlap']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import _deps

__all__ = ["TextBox", "Problem", "scenegraph", "text_boxes", "problems", "canvas_size", "png_size"]

#: Pixels two text boxes may share (in each direction) before they count as overprinting.
TOLERANCE_PX = 1.0

_MEASURED: dict[tuple[str, str, float, str, str], float] = {}


@dataclass(frozen=True)
class TextBox:
    """One text mark as drawn: its text, role (``axis-label``, ``legend-label``, ``title-text``, ``mark``...),
    the four corners of its (possibly rotated) box in canvas pixels, and whether Vega truncated it."""

    text: str
    role: str
    corners: tuple[tuple[float, float], ...]
    truncated: bool

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 of the axis-aligned box around the corners."""
        xs = [p[0] for p in self.corners]
        ys = [p[1] for p in self.corners]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class Problem:
    """A layout defect: ``kind`` is ``overlap``, ``off-canvas`` or ``truncated``; ``detail`` says which texts."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def _spec(chart: Any) -> str:
    if isinstance(chart, str):
        return chart
    if isinstance(chart, dict):
        return json.dumps(chart)
    return str(chart.to_json())


def scenegraph(chart: Any) -> dict[str, Any]:
    """vl-convert's scenegraph of ``chart`` (an altair chart, a Vega-Lite dict or its JSON): ``width``,
    ``height`` (the canvas at scale 1), ``origin`` and ``scenegraph``."""
    vlc = _deps.vl_convert()
    return dict(vlc.vegalite_to_scenegraph(_spec(chart)))


def canvas_size(chart: Any) -> tuple[int, int]:
    """Width and height in pixels of ``chart`` rendered at scale 1 (the SVG size; a PNG at ``scale`` is
    ``scale`` times this)."""
    sg = scenegraph(chart)
    return int(sg["width"]), int(sg["height"])


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _text_of(item: dict[str, Any]) -> list[str]:
    t = item.get("text")
    if t is None:
        return []
    if isinstance(t, list):
        return [str(s) for s in t]
    return [str(t)]


def _key(item: dict[str, Any], s: str) -> tuple[str, str, float, str, str]:
    return (
        s,
        str(item.get("font", "sans-serif")),
        float(item.get("fontSize", 11)),
        str(item.get("fontWeight", "normal")),
        str(item.get("fontStyle", "normal")),
    )


def _measure(keys: Iterable[tuple[str, str, float, str, str]]) -> None:
    """Measures the strings not yet measured with vl-convert's text metrics, in one call: each string in its
    own group of a one-row Vega grid layout, so that each group's x offset is the sum of the widths before it."""
    todo = sorted({k for k in keys if k not in _MEASURED})
    if not todo:
        return
    vlc = _deps.vl_convert()
    sentinel = ("x", "sans-serif", 10.0, "normal", "normal")
    groups = []
    for text, font, size, weight, style in [*todo, sentinel]:
        enter = {
            "x": {"value": 0},
            "y": {"value": 0},
            "text": {"value": text},
            "font": {"value": font},
            "fontSize": {"value": size},
            "fontWeight": {"value": weight},
            "fontStyle": {"value": style},
            "align": {"value": "left"},
            "baseline": {"value": "top"},
        }
        groups.append({"type": "group", "marks": [{"type": "text", "encode": {"enter": enter}}]})
    spec = {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "padding": 0,
        "autosize": "pad",
        "layout": {"columns": len(groups), "padding": 0, "bounds": "full", "align": "none"},
        "marks": groups,
    }
    sg = vlc.vega_to_scenegraph(spec)
    root = sg["scenegraph"]["items"][0]
    xs = [float(m["items"][0]["x"]) for m in root["items"] if m.get("marktype") == "group"]
    for k, (x0, x1) in zip(todo, zip(xs, xs[1:], strict=False), strict=True):
        _MEASURED[k] = x1 - x0


def _offset(baseline: str, h: float, line_height: float) -> float:
    # vega-scenegraph's text offset (src/marks/text.js) for each baseline.
    return float(
        round(
            0.79 * h
            if baseline == "top"
            else 0.30 * h
            if baseline == "middle"
            else -0.21 * h
            if baseline == "bottom"
            else 0.29 * h + 0.5 * line_height
            if baseline == "line-top"
            else 0.29 * h - 0.5 * line_height
            if baseline == "line-bottom"
            else 0.0
        )
    )


def _walk(mark: dict[str, Any], ox: float, oy: float) -> Iterator[tuple[dict[str, Any], float, float, str]]:
    items = mark.get("items")
    if not isinstance(items, list):
        return
    kind = mark.get("marktype")
    role = str(mark.get("role") or "")
    for item in items:
        if not isinstance(item, dict):
            continue
        if kind == "group":
            ix, iy = ox + float(item.get("x") or 0), oy + float(item.get("y") or 0)
            for child in item.get("items", []) or []:
                yield from _walk(child, ix, iy)
        elif kind == "text":
            yield item, ox, oy, role


def text_boxes(chart: Any) -> list[TextBox]:
    """Every visible text mark of ``chart`` as drawn (canvas pixels at scale 1, origin top left)."""
    return _boxes(scenegraph(chart))


def _boxes(sg: dict[str, Any]) -> list[TextBox]:
    ox, oy = (float(v) for v in sg.get("origin", (0, 0)))
    found = [
        (item, x, y, role)
        for item, x, y, role in _walk(sg["scenegraph"], ox, oy)
        if float(item.get("opacity", 1) or 0) > 0
        and float(item.get("fillOpacity", 1) or 0) > 0
        and item.get("fill") not in ("transparent", "none")
        and any(s.strip() for s in _text_of(item))
    ]
    _measure(_key(item, s) for item, *_ in found for s in _text_of(item))
    boxes = []
    for item, gx, gy, role in found:
        lines = _text_of(item)
        h = float(item.get("fontSize", 11))
        lh = float(item.get("lineHeight") or h + 2)
        widths = [_MEASURED[_key(item, s)] for s in lines]
        w = max(widths)
        limit = float(item.get("limit") or 0)
        truncated = bool(limit > 0 and w > limit + 0.5)
        if truncated:
            w = limit
        x, y = gx + float(item.get("x") or 0), gy + float(item.get("y") or 0)
        dx = float(item.get("dx") or 0)
        dy = (
            float(item.get("dy") or 0)
            + _offset(str(item.get("baseline", "alphabetic")), h, lh)
            - round(0.8 * h)
        )
        height = h + lh * (len(lines) - 1)
        align = item.get("align", "left")
        if align == "center":
            dx -= w / 2
        elif align == "right":
            dx -= w
        x0, y0 = x + dx, y + dy
        corners = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + height), (x0, y0 + height)]
        angle = float(item.get("angle") or 0)
        if angle:
            a = math.radians(angle)
            c, s = math.cos(a), math.sin(a)
            corners = [
                (x + (px - x) * c - (py - y) * s, y + (px - x) * s + (py - y) * c) for px, py in corners
            ]
        boxes.append(TextBox(" / ".join(lines), role, tuple(corners), truncated))
    return boxes


def _shrunk(b: TextBox, by: float) -> list[tuple[float, float]]:
    """The corners of ``b`` moved inwards by ``by`` px on every side (at most half of each side)."""
    (ax, ay), (bx, by_), (cx, cy), (dx, dy) = b.corners
    lu, lv = math.hypot(bx - ax, by_ - ay), math.hypot(dx - ax, dy - ay)
    su, sv = min(by, lu / 2), min(by, lv / 2)
    ux, uy = ((bx - ax) / lu, (by_ - ay) / lu) if lu else (0.0, 0.0)
    vx, vy = ((dx - ax) / lv, (dy - ay) / lv) if lv else (0.0, 0.0)
    return [
        (ax + su * ux + sv * vx, ay + su * uy + sv * vy),
        (bx - su * ux + sv * vx, by_ - su * uy + sv * vy),
        (cx - su * ux - sv * vx, cy - su * uy - sv * vy),
        (dx + su * ux - sv * vx, dy + su * uy - sv * vy),
    ]


def _separated(p: list[tuple[float, float]], q: list[tuple[float, float]]) -> bool:
    """Separating-axis test of two convex quadrilaterals."""
    for poly in (p, q):
        for i in range(4):
            x0, y0 = poly[i]
            x1, y1 = poly[(i + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            pa = [nx * x + ny * y for x, y in p]
            qa = [nx * x + ny * y for x, y in q]
            if max(pa) <= min(qa) or max(qa) <= min(pa):
                return True
    return False


def problems(chart: Any, tol: float = TOLERANCE_PX) -> list[Problem]:
    """Text marks of ``chart`` that overprint each other (by more than ``tol`` px), run more than ``tol`` px
    off the canvas, or are cut short by Vega (an ellipsis: a label longer than its ``limit``). Empty when the
    chart's text is all readable."""
    sg = scenegraph(chart)
    sg_w, sg_h = int(sg["width"]), int(sg["height"])
    boxes = _boxes(sg)
    out: list[Problem] = []
    for b in boxes:
        x0, y0, x1, y1 = b.bounds
        if x0 < -tol or y0 < -tol or x1 > sg_w + tol or y1 > sg_h + tol:
            out.append(
                Problem(
                    "off-canvas",
                    f"{b.role} {b.text!r} at ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}) "
                    f"on a {sg_w} x {sg_h} canvas",
                )  # fmt: skip
            )
        if b.truncated:
            out.append(Problem("truncated", f"{b.role} {b.text!r} is longer than its limit and cut short"))
    shrunk = [_shrunk(b, tol / 2) for b in boxes]
    aabb = [b.bounds for b in boxes]
    for i in range(len(boxes)):
        ax0, ay0, ax1, ay1 = aabb[i]
        for j in range(i + 1, len(boxes)):
            bx0, by0, bx1, by1 = aabb[j]
            if ax1 - tol <= bx0 or bx1 - tol <= ax0 or ay1 - tol <= by0 or by1 - tol <= ay0:
                continue
            if boxes[i].text == boxes[j].text and all(
                abs(a - b) < 0.5 for a, b in zip(aabb[i], aabb[j], strict=True)
            ):
                continue  # one label drawn twice in place (a white outline under the text)
            if not _separated(shrunk[i], shrunk[j]):
                out.append(
                    Problem(
                        "overlap", f"{boxes[i].role} {boxes[i].text!r} and {boxes[j].role} {boxes[j].text!r}"
                    )
                )
    return out
