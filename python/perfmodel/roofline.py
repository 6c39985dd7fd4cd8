"""Roofline models of kernels on one device: GEMM, flash-style attention, memory-bound ops.

Every size argument takes a scalar or a numpy array (broadcast together); the result is a polars DataFrame
with one row per element. The engine runs in Rust with the interpreter lock released, in parallel for large
inputs. Model: ``rust/perfmodel-core/src/roofline.rs``.

Examples
--------
>>> import perfmodel as pm
>>> df = pm.roofline.gemm(pm.hwdb.get("h100-sxm5-80gb"), 8192, 8192, 8192)
>>> df["bound"][0]
'compute'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from . import _check as check
from . import _core
from ._api import keyword_options
from ._arrays import as_columns
from .hwdb import Spec, resolve

__all__ = ["gemm", "gemm_time", "attention", "memory_bound", "BOUNDS"]

BOUNDS: tuple[str, ...] = tuple(_core.bound_names())
_BOUND_DTYPE = pl.Enum(list(BOUNDS))
_BOUND_VALUES = pl.Series("bound", BOUNDS, dtype=_BOUND_DTYPE)


def _peak(device: Spec, dtype: str) -> float:
    """The dense peak ``fraction_of_peak`` is taken against, TFLOP/s; NaN if the device lists none (the engine
    refuses GEMMs and attention in such a dtype; a memory-bound kernel's ``fraction_of_peak`` is then null)."""
    return float(device.peak_tflops(dtype) or device.peak_tflops(dtype, "vector") or float("nan"))


def _call(
    client: Any, fn: Any, head: tuple[Any, ...], columns: list[np.ndarray], tail: tuple[Any, ...]
) -> tuple[np.ndarray, ...]:
    """The engine's kernel columns: one call here, or row ranges on ``client``'s workers."""
    if client is None:
        return fn(*head, *columns, *tail)  # type: ignore[no-any-return]
    from ._distributed import map_columns

    return map_columns(client, fn, head, columns, tail, what="roofline")


#: Up to this many rows, a frame built from Python rows beats polars' fixed cost per numpy column.
_SMALL_FRAME = 32


def _frame(inputs: dict[str, np.ndarray], cols: tuple[np.ndarray, ...]) -> pl.DataFrame:
    """The result frame: the (broadcast) inputs, then the engine's columns, taken over without copies except
    ``bound`` (codes -> enum)."""
    time_s, flops, hbm_bytes, tflops, gbps, intensity, fraction_of_peak, bound = cols
    floats: dict[str, Any] = dict(inputs)
    floats.update(
        time_s=time_s, flops=flops, hbm_bytes=hbm_bytes, tflops=tflops, gbps=gbps, intensity=intensity
    )
    if len(bound) <= _SMALL_FRAME:
        names = [*floats, "bound", "fraction_of_peak"]
        columns = [a.tolist() for a in floats.values()]
        columns += [
            [BOUNDS[c] for c in bound.tolist()],
            [None if f != f else f for f in fraction_of_peak.tolist()],
        ]
        schema = dict.fromkeys(names, pl.Float64) | {"bound": _BOUND_DTYPE}
        return pl.from_dicts(
            [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)], schema=schema
        )
    data = floats
    data["bound"] = _BOUND_VALUES.gather(pl.Series(bound))
    data["fraction_of_peak"] = pl.Series(fraction_of_peak, nan_to_null=True)
    return pl.DataFrame(data)


@keyword_options(5)
def gemm(
    device: Spec | str,
    m: Any,
    n: Any,
    k: Any,
    dtype: str = "bf16",
    batch: Any = 1,
    layout: str = "row",
    *,
    client: Any = None,
) -> pl.DataFrame:
    """Batched GEMM ``C[b] = A[b] (m x k) @ B[b] (k x n)`` on ``device``.

    Columns: m, n, k, batch, time_s, flops, hbm_bytes, tflops (attained), gbps (attained HBM), intensity
    (FLOP/byte against HBM), bound (compute, hbm, l2 or launch), fraction_of_peak (of the dtype's dense peak).

    ``layout`` names the dimensions that must be multiples of 16 bytes for the aligned kernels: ``"row"``
    (row-major operands as PyTorch and ``nn.Linear`` hold them: k and n) or ``"tn"`` (cuBLAS column-major
    TN, as cuBLASLt benchmarks call it: k and m). An unaligned GEMM runs at the device's
    ``unaligned_gemm_fraction`` of the aligned rate (measured on H100: 0.2-0.25; 1 where hwdb has no figure).

    ``client`` (a ``dask.distributed.Client``) evaluates row ranges on its workers (every array call of this
    module takes it); the frame is the local one.

    >>> import perfmodel as pm
    >>> pm.roofline.gemm("a100-sxm4-80gb", [1024, 8192], 8192, 8192)["tflops"].round(0).to_list()  # doctest: +SKIP
    """
    dev = resolve(device, "device", "device")
    dtype = check.dtype("dtype", dtype)
    _, cols = as_columns(m=m, n=n, k=k, batch=batch)
    columns = [cols["m"], cols["n"], cols["k"], cols["batch"]]
    out = _call(client, _core.roofline_gemm, (dev._handle, dtype, layout), columns, (_peak(dev, dtype),))
    return _frame(cols, out)


def gemm_time(
    device: Spec | str,
    m: float,
    n: float,
    k: float,
    dtype: str = "bf16",
    batch: float = 1,
    layout: str = "row",
) -> float:
    """Seconds for one GEMM: the scalar fast path (no DataFrame); ``layout`` as in :func:`gemm`."""
    dev = resolve(device, "device", "device")
    dims = [
        check.number(name, v, hi=check.MAX_DIM)
        for name, v in (("m", m), ("n", n), ("k", k), ("batch", batch))
    ]
    return _core.roofline_gemm_scalar(dev._handle, check.dtype("dtype", dtype), layout, *dims)[0]


@keyword_options()
def attention(
    device: Spec | str,
    batch: Any,
    heads: Any,
    seq_len: Any,
    head_dim: Any,
    causal: bool = True,
    backward: bool = False,
    dtype: str = "bf16",
    seq_kv: Any = None,
    kernel: str = "flash",
    *,
    client: Any = None,
) -> pl.DataFrame:
    """Flash-style attention forward (or backward with ``backward=True``); FLOPs ``4 b h s_q s_kv d``
    forward, halved when causal, 2.5x for backward (FlashAttention-2 accounting). ``kernel`` is ``"flash"``
    (FlashAttention-2) or ``"cudnn"`` (cuDNN's fused attention, where hwdb has its fraction: H100, H200)."""
    dev = resolve(device, "device", "device")
    dtype = check.dtype("dtype", dtype)
    causal, backward = check.flag("causal", causal), check.flag("backward", backward)
    _, cols = as_columns(
        batch=batch,
        heads=heads,
        seq_len=seq_len,
        seq_kv=seq_len if seq_kv is None else seq_kv,
        head_dim=head_dim,
    )
    columns = [cols["batch"], cols["heads"], cols["seq_len"], cols["seq_kv"], cols["head_dim"]]
    out = _call(
        client,
        _core.roofline_attention,
        (dev._handle, dtype, kernel),
        columns,
        (causal, backward, _peak(dev, dtype)),
    )
    return _frame(cols, out)


@keyword_options(4)
def memory_bound(device: Spec | str, bytes_read: Any, bytes_written: Any = 0, flops: Any = 0, dtype: str = "bf16",
                 *, client: Any = None) -> pl.DataFrame:  # fmt: skip
    """A memory-bound kernel (elementwise, normalization, softmax, reduction) by bytes moved (at least one byte,
    at most 1e18). ``fraction_of_peak`` is null where the device has no ``dtype`` peak (fp8 casts on A100)."""
    dev = resolve(device, "device", "device")
    dtype = check.dtype("dtype", dtype)
    _, cols = as_columns(bytes_read=bytes_read, bytes_written=bytes_written, flops=flops)
    columns = [cols["bytes_read"], cols["bytes_written"], cols["flops"]]
    out = _call(client, _core.roofline_stream, (dev._handle, dtype), columns, (_peak(dev, dtype),))
    return _frame(cols, out)
