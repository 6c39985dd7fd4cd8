"""Label placement for charts whose points carry text (the roofline's kernels, the DAQ configurations): each label
goes to the first spot around its point, then further out with a leader line, where it overlaps no other label,
no point and no reserved box, inside the plot. Widths are estimated from Helvetica/Arial advance widths (the
metrics of Liberation Sans, which vl-convert renders ``sans-serif`` with); :mod:`perfmodel.plots.check` verifies
the result with vl-convert's own measurements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Advance widths of Helvetica (= Arial = Liberation Sans) in 1/1000 em, printable ASCII from 32 (space).
_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip


def text_width(text: str, font_size: float = 10.0, bold: bool = False) -> float:
    """Estimated width in pixels of ``text`` in sans-serif at ``font_size`` (bold about 8% wider)."""
    units = sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) < 127 else 600 for c in text)
    return units * font_size / 1000.0 * (1.08 if bold else 1.0)


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, y down


def scheme(n: int) -> str:
    """A categorical colour scheme with at least ``n`` distinct colours where one exists (tableau10, then
    tableau20), so that no two series share a colour."""
    return "tableau10" if n <= 10 else "tableau20"


class Scale:
    """A linear or log scale from a data domain ``[lo, hi]`` onto ``size`` pixels (flipped for a y axis, whose
    pixels run down), and back: the mapping Vega-Lite draws with when the domain is given and ``nice`` is off."""

    def __init__(self, lo: float, hi: float, size: float, log: bool = False, flip: bool = False) -> None:
        self.log, self.size, self.flip = log, size, flip
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)

    def px(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        f = (t - self.lo) / (self.hi - self.lo)
        return self.size * (1 - f if self.flip else f)

    def value(self, px: float) -> float:
        f = px / self.size
        t = self.lo + (1 - f if self.flip else f) * (self.hi - self.lo)
        return float(10**t if self.log else t)


@dataclass(frozen=True)
class Placement:
    """Where one label goes: its anchor (pixels), ``align`` (left, right or center; baseline middle) and whether
    it sits away from its point (draw a leader line from the point to the anchor)."""

    x: float
    y: float
    align: str
    leader: bool
    box: Rect


def _box(x: float, y: float, w: float, h: float, align: str) -> Rect:
    x0 = x if align == "left" else x - w if align == "right" else x - w / 2
    return (x0, y - h / 2, x0 + w, y + h / 2)


def _overlap(a: Rect, b: Rect, pad: float) -> float:
    dx = min(a[2], b[2]) + pad - max(a[0], b[0])
    dy = min(a[3], b[3]) + pad - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


Segment = tuple[tuple[float, float], tuple[float, float]]


def hits(seg: Segment, r: Rect) -> bool:
    """Whether the segment crosses the rectangle (Liang-Barsky clipping)."""
    (x0, y0), (x1, y1) = seg
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - r[0]), (dx, r[2] - x0), (-dy, y0 - r[1]), (dy, r[3] - y0)):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def leader_end(px: float, py: float, box: Rect) -> tuple[float, float]:
    """The point of ``box`` nearest to (px, py): where a leader line from the point meets its label."""
    return min(max(px, box[0]), box[2]), min(max(py, box[1]), box[3])


def place_labels(
    anchors: Sequence[tuple[float, float]],
    texts: Sequence[str],
    width: float,
    height: float,
    font_size: float = 10.0,
    obstacles: Sequence[Rect] = (),
    lines: Sequence[Segment] = (),
    point_radius: float = 5.0,
    pad: float = 2.0,
) -> list[Placement]:
    """One :class:`Placement` per label of ``texts`` at its point ``anchors`` (pixels inside a ``width`` x
    ``height`` plot). The most crowded points are placed first; each label tries right, left, above, below and
    the diagonals of its point, then rings further out in 16 directions (with a leader line, which must not
    cross another point or label). The first spot clear of the labels placed before, every point, ``obstacles``
    and ``lines`` (the chart's lines, which a label should not sit on) inside the plot wins. Failing that within
    two rings, the first spot that only crosses ``lines``; failing that, further rings; with nothing clear, the
    least overlapped spot."""
    h = font_size + 2
    points = [(x - point_radius, y - point_radius, x + point_radius, y + point_radius) for x, y in anchors]
    taken: list[Rect] = list(obstacles)
    crowd = [sum(1 for bx, by in anchors if abs(bx - ax) < 90 and abs(by - ay) < 30) for ax, ay in anchors]
    order = sorted(range(len(anchors)), key=lambda i: -crowd[i])
    out: dict[int, Placement] = {}
    for i in order:
        (px, py), text = anchors[i], texts[i]
        w = text_width(text, font_size) + 2
        others = [b for k, b in enumerate(points) if k != i]
        best: tuple[float, Placement] | None = None
        chosen: Placement | None = None
        on_line: Placement | None = None  # the first spot clear of everything but ``lines``
        for ring in range(1, 7):
            if ring == 1:
                r, dv = 7.0, 7.0 + h / 2
                cands = [
                    (px + r, py, "left"),
                    (px - r, py, "right"),
                    (px, py - dv, "center"),
                    (px, py + dv, "center"),
                    (px + r * 0.6, py - dv, "left"),
                    (px + r * 0.6, py + dv, "left"),
                    (px - r * 0.6, py - dv, "right"),
                    (px - r * 0.6, py + dv, "right"),
                ]
            else:
                r = 7.0 + 14.0 * (ring - 1)
                cands = []
                for k in range(16):
                    a = 2 * math.pi * k / 16
                    cx, cy = px + r * math.cos(a), py - r * math.sin(a)
                    al = "left" if math.cos(a) > 0.3 else "right" if math.cos(a) < -0.3 else "center"
                    cands.append((cx, cy, al))
            for x, y, align in cands:
                box = _box(x, y, w, h, align)
                if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                    continue
                hard = sum(_overlap(box, t, pad) for t in taken) + sum(_overlap(box, p, 0) for p in points)
                if ring > 1:
                    lead = ((px, py), leader_end(px, py, box))
                    hard += 100.0 * sum(hits(lead, b) for b in [*others, *taken])
                on = sum(hits(seg, box) for seg in lines)
                cand = Placement(x, y, align, ring > 1, box)
                if hard == 0 and on == 0:
                    chosen = cand
                    break
                if hard == 0 and on_line is None:
                    on_line = cand
                cost = hard + 10.0 * on + 0.01 * ring
                if best is None or cost < best[0]:
                    best = (cost, cand)
            if chosen is None and ring >= 2 and on_line is not None:
                chosen = on_line
            if chosen is not None:
                best = (0.0, chosen)
                break
        if best is None:  # nowhere inside the plot: right of the point, as drawn by default
            x, y = px + 7, py
            best = (math.inf, Placement(x, y, "left", False, _box(x, y, w, h, "left")))
        out[i] = best[1]
        taken.append(best[1].box)
    return [out[i] for i in range(len(anchors))]
