"""Broadcasting scalar-or-array arguments into equal-length float64 columns for the engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidArgumentError


def as_columns(**named: Any) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
    """Broadcasts the named arguments together; returns the common shape and flat contiguous float64 columns."""
    arrays = {}
    for name, value in named.items():
        try:
            raw = np.asarray(value)
            if raw.dtype.kind not in "iuf":  # strings, bools, None and objects are not sizes
                raise TypeError(raw.dtype)
            arr = raw.astype(np.float64, copy=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"argument `{name}`: expected a number or an array of numbers, got {value!r}"
            ) from exc
        arrays[name] = arr
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in arrays.items())
        raise InvalidArgumentError(f"arguments do not broadcast together: {shapes}") from exc
    cols = {}
    for name, arr in arrays.items():
        if arr.shape == shape:
            cols[name] = np.ascontiguousarray(arr.reshape(-1))
        else:
            cols[name] = np.ascontiguousarray(np.broadcast_to(arr, shape).reshape(-1))
    return shape, cols
