"""Bounded scalar fits of calibrated figures, shared by ``tools/calibrate.py`` (published rows) and
``perfmodel hwdb calibrate`` (a user's own measurements): one fitting routine for every device fraction.

Requires scipy (``pip install perfmodel[calibrate]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STARTS", "XATOL", "Fit", "fit_scalar"]

#: Sub-intervals of the bounds each scalar fit starts from.
STARTS = 6
#: Tolerance of the fitted fractions.
XATOL = 1e-4


@dataclass
class Fit:
    """One bounded fit: the value, the score and how the optimizer ended."""

    value: float
    score: float
    success: bool
    message: str
    evaluations: int
    starts: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"value": self.value, "score": self.score, "success": self.success, "message": self.message,
                "evaluations": self.evaluations, "starts": self.starts}  # fmt: skip


def fit_scalar(objective: Callable[[float], float], bounds: tuple[float, float], starts: int = STARTS) -> Fit:
    """Bounded minimisation of a piecewise-smooth scalar function: Brent's bounded method on each of ``starts``
    equal sub-intervals, the best result kept; success when every start converged."""
    from scipy import optimize

    edges = np.linspace(bounds[0], bounds[1], starts + 1)
    runs = [
        optimize.minimize_scalar(
            objective, bounds=(float(lo), float(hi)), method="bounded", options={"xatol": XATOL}
        )
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    best = min(runs, key=lambda r: r.fun)
    return Fit(
        value=round(float(best.x), 4),
        score=float(best.fun),
        success=all(bool(r.success) for r in runs),
        message=str(best.message),
        evaluations=sum(int(r.nfev) for r in runs),
        starts=[
            {
                "bounds": [float(lo), float(hi)],
                "x": float(r.x),
                "score": float(r.fun),
                "success": bool(r.success),
            }
            for (lo, hi), r in zip(zip(edges[:-1], edges[1:], strict=True), runs, strict=True)
        ],  # fmt: skip
    )
