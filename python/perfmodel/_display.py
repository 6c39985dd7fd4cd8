"""How results show themselves: every figure with a unit a reader cannot misread, one-row frames, and HTML for
notebooks.

The unit comes from the figure's name, the convention used across the library: ``*_bytes`` in bytes (shown in
GiB, 2^30 bytes, or MiB), ``*_s`` in seconds (shown in s, ms or us), ``*_gbps`` in gigabytes per second (GB/s,
10^9 bytes/s; never gigabits), ``*_w`` watts, ``*_j`` joules, ``*_per_s`` per second, ``*_usd_per_h`` US dollars
per hour, and ``mfu``, ``hfu``, ``*fraction*``, ``*utilization*``, ``*efficiency*``, ``*error*`` as fractions
(shown in %).
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any

import numpy as np
import polars as pl

__all__ = ["Result", "human"]

_PERCENT_WORDS = ("fraction", "utilization", "efficiency", "error", "attainment", "share")


def _number(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e5 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.4g}"


def human(name: str, value: Any) -> str:
    """``value`` of the figure called ``name`` as a reader should see it, with its unit (module docstring)."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(x) for x in value)
    if isinstance(value, np.ndarray):
        return f"array of {value.size} values" if value.size != 1 else human(name, value.item())
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "undefined"
    n = name.lower()
    if n.endswith("_bytes") or "_bytes_per_" in n:
        if abs(v) >= 2**30 / 10:
            return f"{v / 2**30:,.2f} GiB"
        if abs(v) >= 2**20:
            return f"{v / 2**20:,.2f} MiB"
        return f"{v / 2**10:,.2f} KiB" if abs(v) >= 2**10 else f"{v:,.0f} B"
    if n.endswith("_s") and not n.endswith("_per_s"):
        if abs(v) >= 1 or v == 0 or math.isinf(v):
            return f"{v:,.3f} s"
        return f"{v * 1e3:.3f} ms" if abs(v) >= 1e-3 else f"{v * 1e6:.2f} us"
    if n in ("mfu", "hfu") or any(w in n for w in _PERCENT_WORDS):
        return f"{v * 100:.2f} %"
    if n.endswith("_gbps"):
        return f"{v:,.1f} GB/s"
    if "tflops" in n:
        return f"{v:,.1f} TFLOP/s"
    if n.endswith("_w"):
        return f"{v / 1e3:,.2f} kW" if abs(v) >= 1e4 else f"{v:,.1f} W"
    if n.endswith("_j"):
        return f"{v:,.4g} J"
    if n.endswith("_usd_per_h"):
        return f"${v:,.2f}/h"
    if n.endswith("_per_s"):
        return f"{_number(v)} /s"
    return _number(v)


class Result:
    """What every result object offers: :meth:`to_dict` (its figures, by the names above), :meth:`to_frame`
    (one row, or one row per element for array results) and a readable table in notebooks. Tables it holds
    (breakdowns, per-request frames) are attributes, listed under the table in HTML."""

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain values (nested results and dicts flattened as ``name.key``); tables left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.repr:
                continue
            _flatten(out, f.name, getattr(self, f.name), top=True)
        return out

    def to_frame(self) -> pl.DataFrame:
        """The figures as a polars DataFrame: one row (one per element for array inputs)."""
        d = self.to_dict()
        sizes = {np.size(v) for v in d.values() if isinstance(v, np.ndarray)}
        if len(sizes) == 1 and (n := sizes.pop()) > 1:
            return pl.DataFrame(
                {k: (np.ravel(v) if isinstance(v, np.ndarray) else [v] * n) for k, v in d.items()},
                strict=False,
            )
        return pl.DataFrame([{k: (v.item() if isinstance(v, np.ndarray) else v) for k, v in d.items()}])

    def _tables(self) -> dict[str, pl.DataFrame]:
        return {
            f.name: v
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if isinstance(v := getattr(self, f.name), pl.DataFrame) and f.repr
        }

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(k)}</td>"
            f"<td style='text-align:right'>{html.escape(human(k.rsplit('.', 1)[-1], v))}</td></tr>"
            for k, v in self.to_dict().items()
        )
        tables = "".join(
            f"<details><summary><code>.{html.escape(name)}</code>: {t.height} rows x {t.width} columns</summary>"
            f"{t._repr_html_()}</details>"
            for name, t in self._tables().items()
        )
        return (
            f"<div><p><b>{html.escape(type(self).__name__)}</b>: {html.escape(repr(self))}</p>"
            f"<table><thead><tr><th>figure</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{tables}</div>"
        )


def _flatten(out: dict[str, Any], name: str, value: Any, top: bool = False) -> None:
    if isinstance(value, pl.DataFrame) or callable(value):
        return
    if isinstance(value, Result):
        for k, v in value.to_dict().items():
            out[f"{name}.{k}"] = v
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(out, k if top and name in ("plan", "summary", "values", "inputs") else f"{name}.{k}", v)
    elif (
        isinstance(value, (str, int, float, bool, np.number, np.bool_, np.ndarray, list, tuple))
        or value is None
    ):
        out[name] = value
    elif hasattr(value, "id") and isinstance(value.id, str):  # a spec or a pool named by its id
        out[name] = value.id
