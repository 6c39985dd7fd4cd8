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
    """Time and attained throughput of a batched GEMM ``C[b] = A[b] (m x k) @ B[b] (k x n)`` on ``device``.

    Parameters
    ----------
    device : str, Spec, tuple or Cluster
        A device id or spec, or a system (id, spec, ``(system, nodes)``, cluster): the device its nodes hold.
    m, n, k : float or array_like
        GEMM dimensions, elements (scalars or numpy arrays, broadcast together).
    dtype : str
        Operand dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"``, ``"tf32"``, ``"fp32"``, ``"fp64"``,
        ``"int8"``, or a block-scaled format the device has a peak for.
    batch : float or array_like
        GEMMs in the batch (default 1), broadcast with the dimensions.
    layout : str
        Which dimensions must be multiples of 16 bytes for the aligned kernels: ``"row"`` (row-major operands
        as PyTorch and ``nn.Linear`` hold them: k and n) or ``"tn"`` (cuBLAS column-major TN, as cuBLASLt
        benchmarks call it: k and m). An unaligned GEMM runs at the device's ``unaligned_gemm_fraction`` of
        the aligned rate (measured on H100: 0.2-0.25; A100: 0.63; 1 where hwdb has no figure), and one whose
        leading dimension is not even a multiple of 4 bytes (an odd 16-bit size) at its ``odd_gemm_fraction``
        (A100: 0.27; the unaligned fraction where hwdb has none).
    client : dask.distributed.Client, optional
        Evaluates row ranges on its workers (every array call of this module takes it); the frame is the local
        one.

    Returns
    -------
    polars.DataFrame
        One row per element of the broadcast inputs: the inputs (as floats), then ``time_s`` (seconds),
        ``flops`` (FLOPs), ``hbm_bytes`` (bytes moved to and from HBM), ``tflops`` (attained, TFLOP/s = 10^12
        FLOP/s), ``gbps`` (attained HBM bandwidth, GB/s = 10^9 bytes/s), ``intensity`` (FLOP per HBM byte),
        ``bound`` (``compute``, ``hbm``, ``l2`` or ``launch``: what limits the kernel) and
        ``fraction_of_peak`` (attained over the dtype's dense peak, a fraction; null where the device lists no
        peak for it).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A size outside 1 to 2^40, or an unknown dtype.
    perfmodel.UnsupportedError
        A dtype the device has no matrix peak for.

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.roofline.gemm("h100-sxm5-80gb", 8192, 8192, 8192)
    >>> df["bound"][0], f"{df['tflops'][0]:.3g} TFLOP/s", f"{df['time_s'][0] * 1e3:.3g} ms"
    ('compute', '703 TFLOP/s', '1.56 ms')

    Arrays broadcast; an n that is not a multiple of 8 bf16 elements (16 bytes) takes the unaligned kernels:

    >>> pm.roofline.gemm("h100-sxm5-80gb", 4096, [4096, 4095], 4096)["tflops"].round(0).to_list()
    [683.0, 152.0]
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
    """Seconds for one GEMM: the scalar fast path of :func:`gemm` (no DataFrame).

    Parameters
    ----------
    device : str, Spec, tuple or Cluster
        A device id or spec, or a system: the device its nodes hold.
    m, n, k : float
        GEMM dimensions, elements.
    dtype : str
        Operand dtype, as in :func:`gemm` (default ``"bf16"``).
    batch : float
        GEMMs in the batch (default 1).
    layout : str
        ``"row"`` or ``"tn"``, as in :func:`gemm`.

    Returns
    -------
    float
        Time of the (batched) GEMM, seconds; equal to :func:`gemm`'s ``time_s``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> t = pm.roofline.gemm_time("h100-sxm5-80gb", 8192, 8192, 8192)
    >>> f"{t * 1e3:.3g} ms"
    '1.56 ms'
    >>> t == pm.roofline.gemm("h100-sxm5-80gb", 8192, 8192, 8192)["time_s"][0]
    True
    """
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
    """Time and attained throughput of flash-style attention, forward (or backward with ``backward=True``).

    FLOPs ``4 b h d`` per query-key pair forward, 2.5x for backward (FlashAttention-2 accounting): ``s_q s_kv``
    pairs, or under a causal mask with the queries aligned to the last keys ``s_q s_kv - s_q^2 / 2`` (half of a
    square; a decode step, ``s_q = 1``, scores every cached key). The time runs each head dim as the kernel
    instantiates it: ``kernel="flash"`` is FlashAttention-2 on NVIDIA devices (head dims 32, 64, 96, 128, 192, 256)
    and Composable Kernel's FMHA on AMD devices (32, 64, 128, 256); another head dim is padded up to the next one
    (``head_dim=80`` costs what 96 or 128 costs, its FLOPs are counted at 80), and the wide ones run the kernel's
    smaller blocks (docs/models/roofline.md, "Head dim"). cuDNN keeps one plain tile at every head dim; where a device gives
    ``efficiency.attention_cudnn_softmax_fraction`` its softmax work (one exponential, one conversion and three FP32
    operations per score, at the device's special-function and FP32 rates, the two pipes concurrent) overlaps the
    matrix work, so small head dims run slower per FLOP (docs/models/roofline.md, "Non-matrix work").

    Parameters
    ----------
    device : str, Spec, tuple or Cluster
        A device id or spec, or a system: the device its nodes hold.
    batch, heads : float or array_like
        Sequences and attention heads (scalars or arrays, broadcast together).
    seq_len : float or array_like
        Query tokens per sequence (``s_q``).
    head_dim : float or array_like
        Elements per head (``d``).
    causal : bool
        Causal mask (default True): half the score matrix is computed.
    backward : bool
        Price the backward pass instead of the forward (default False).
    dtype : str
        Operand dtype (default ``"bf16"``; ``"fp16"``, ``"fp8"``...).
    seq_kv : float or array_like, optional
        Key/value tokens per sequence (``s_kv``; default ``seq_len``): a decode step is ``seq_len=1`` against
        the cached context, priced as FlashAttention-2 runs it (one 128-row query block per sequence and head,
        padded, so short queries can be compute-bound). The paged-attention decode kernels serving engines run
        are priced by :func:`perfmodel.serve.decode` (KV bytes at the stream rate).
    kernel : str
        ``"flash"`` (FlashAttention-2, default) or ``"cudnn"`` (cuDNN's fused attention, where hwdb has its
        fraction: H100, H200).
    client : dask.distributed.Client, optional
        Evaluates row ranges on its workers; the frame is the local one.

    Returns
    -------
    polars.DataFrame
        One row per element of the broadcast inputs: the inputs (``batch``, ``heads``, ``seq_len``,
        ``seq_kv``, ``head_dim``, as floats), then ``time_s`` (seconds), ``flops`` (FLOPs), ``hbm_bytes``
        (bytes moved to and from HBM), ``tflops`` (attained, TFLOP/s = 10^12 FLOP/s), ``gbps`` (attained HBM
        bandwidth, GB/s = 10^9 bytes/s), ``intensity`` (FLOP per HBM byte), ``bound`` (``compute``, ``hbm``,
        ``l2`` or ``launch``: what limits the kernel) and ``fraction_of_peak`` (attained over the dtype's
        dense peak, a fraction; null where the device lists no peak for it).

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.roofline.attention("h100-sxm5-80gb", batch=1, heads=64, seq_len=8192, head_dim=128)
    >>> df["flops"][0] == 4 * 64 * 8192 * 8192 * 128 / 2  # causal: half the scores
    True
    >>> df["bound"][0], f"{df['tflops'][0]:.3g} TFLOP/s"
    ('compute', '322 TFLOP/s')
    """
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
    """Time of a memory-bound kernel (elementwise, normalization, softmax, reduction) by the bytes it moves.

    Parameters
    ----------
    device : str, Spec, tuple or Cluster
        A device id or spec, or a system: the device its nodes hold.
    bytes_read : float or array_like
        Bytes read from HBM (the read and written bytes together at least one byte, at most 1e18).
    bytes_written : float or array_like
        Bytes written to HBM (default 0).
    flops : float or array_like
        FLOPs the kernel does on the way (default 0).
    dtype : str
        The dtype whose peak ``fraction_of_peak`` is taken against (default ``"bf16"``).
    client : dask.distributed.Client, optional
        Evaluates row ranges on its workers; the frame is the local one.

    Returns
    -------
    polars.DataFrame
        One row per element of the broadcast inputs: the inputs (as floats), then ``time_s`` (seconds),
        ``flops`` (FLOPs), ``hbm_bytes`` (bytes moved to and from HBM), ``tflops`` (attained, TFLOP/s = 10^12
        FLOP/s), ``gbps`` (attained HBM bandwidth, GB/s = 10^9 bytes/s), ``intensity`` (FLOP per HBM byte),
        ``bound`` (``compute``, ``hbm``, ``l2`` or ``launch``: what limits the kernel) and
        ``fraction_of_peak`` (attained over the dtype's dense peak, a fraction; null where the device has no
        ``dtype`` peak: fp8 casts on A100).

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.roofline.memory_bound("h100-sxm5-80gb", 2**30, bytes_written=2**30)  # a 1 GiB copy
    >>> df["bound"][0], f"{df['gbps'][0]:,.0f} GB/s", f"{df['time_s'][0] * 1e6:.0f} us"
    ('hbm', '2,966 GB/s', '724 us')
    """
    dev = resolve(device, "device", "device")
    dtype = check.dtype("dtype", dtype)
    _, cols = as_columns(bytes_read=bytes_read, bytes_written=bytes_written, flops=flops)
    columns = [cols["bytes_read"], cols["bytes_written"], cols["flops"]]
    out = _call(client, _core.roofline_stream, (dev._handle, dtype), columns, (_peak(dev, dtype),))
    return _frame(cols, out)
