"""The one place public arguments are checked as they enter perfmodel: type (numpy scalars accepted), range and
meaning. Every failure is an :class:`~perfmodel.errors.InvalidArgumentError` naming the argument as the user
wrote it, what it is and what was expected.

Physical bounds (documented in the README's "Input limits"): a count of devices, ranks, nodes or sequences is
at most :data:`MAX_COUNT`; a size in bytes at most :data:`MAX_BYTES` (one exabyte: beyond any machine); a
tensor dimension at most :data:`MAX_DIM`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from .errors import InvalidArgumentError

__all__ = ["MAX_BYTES", "MAX_COUNT", "MAX_DIM", "whole", "flag", "number", "dtype", "optional_whole"]

#: The largest count (GPUs, ranks, nodes, sequences, batch) perfmodel accepts: 2^24, about 16.8 million.
MAX_COUNT = 1 << 24
#: The largest size in bytes perfmodel accepts: 1e18 (one exabyte).
MAX_BYTES = 1e18
#: The largest tensor dimension (GEMM m, n, k, sequence length, hidden size) perfmodel accepts: 2^40.
MAX_DIM = float(1 << 40)

_INTEGRAL = (int, np.integer)
_REAL = (int, float, np.integer, np.floating)


def whole(name: str, value: Any, lo: int = 1, hi: int = MAX_COUNT) -> int:
    """``value`` as a Python int in ``[lo, hi]``: an ``int`` or numpy integer, never a bool or a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _INTEGRAL):
        raise InvalidArgumentError(f"argument `{name}`: is {value!r}; expected a whole number >= {lo}")
    v = int(value)
    if v < lo or v > hi:
        raise InvalidArgumentError(f"argument `{name}`: is {v}; expected a whole number from {lo} to {hi:,}")
    return v


def optional_whole(name: str, value: Any, lo: int = 1, hi: int = MAX_COUNT) -> int | None:
    """``None`` or :func:`whole`."""
    return None if value is None else whole(name, value, lo, hi)


def flag(name: str, value: Any) -> bool:
    """``value`` as a bool: ``True``/``False`` (numpy bools too) or the integers 0 and 1."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, _INTEGRAL) and int(value) in (0, 1):
        return bool(value)
    raise InvalidArgumentError(f"argument `{name}`: is {value!r}; expected True or False")


def number(
    name: str,
    value: Any,
    lo: float = 0.0,
    hi: float = math.inf,
    *,
    lo_open: bool = True,
    allow_inf: bool = False,
    unit: str = "",
) -> float:
    """``value`` as a finite float in ``(lo, hi]`` (``[lo, hi]`` with ``lo_open=False``); ``allow_inf``
    admits ``+inf`` (e.g. an arrival rate meaning "all at once")."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REAL):
        raise InvalidArgumentError(f"argument `{name}`: is {value!r}; expected a number{unit}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        raise InvalidArgumentError(f"argument `{name}`: is {v}; expected a finite number{unit}")
    low_bad = v <= lo if lo_open else v < lo
    if low_bad or (v > hi and not (allow_inf and math.isinf(v))):
        rel = ">" if lo_open else ">="
        upper = "" if math.isinf(hi) else f" and <= {hi:g}"
        raise InvalidArgumentError(
            f"argument `{name}`: is {v:g}; expected a number {rel} {lo:g}{upper}{unit}"
        )
    return v


def dtype(name: str, value: Any) -> str:
    """The canonical dtype name (``fp64``, ``fp32``, ``tf32``, ``bf16``, ``fp16``, ``fp8``, ``int8``, ...) of a
    name or alias (``float16``, ``FP16``, ``bfloat16``); the engine's vocabulary, so every module agrees."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"argument `{name}`: is {value!r}; expected a dtype name such as 'bf16'")
    return str(_core.dtype_name(name, value))


def choices(name: str, values: Any, each: Any) -> list[Any]:
    """A non-empty list of choices, each checked by ``each(f"{name}[{i}]", value)``; a scalar is refused (a
    search space is a list)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError(f"argument `{name}`: is {values!r}; expected a list of choices")
    out = [each(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise InvalidArgumentError(f"argument `{name}`: the list of choices is empty")
    return out
