"""Collective communication over real topologies, in nccl-tests conventions.

:func:`predict` evaluates all-reduce, all-gather, reduce-scatter, broadcast, reduce, all-to-all and send/recv
over a system or a :class:`~perfmodel.cluster.Cluster`, vectorized over message sizes, rank counts and
algorithms, and returns time, algbw and busbw as nccl-tests reports them (busbw factors of nccl-tests'
doc/PERFORMANCE.md: all-reduce ``2(n-1)/n``; all-gather, reduce-scatter, all-to-all ``(n-1)/n``; broadcast,
reduce, send/recv ``1``). ``algorithm="auto"`` picks the fastest algorithm NCCL/RCCL would consider and the
``algorithm`` column names it. Model: ``rust/perfmodel-core/src/collective/mod.rs``.

Examples
--------
>>> import perfmodel as pm
>>> df = pm.collectives.predict("dgx-h100", "all_reduce", 2**30, 8)
>>> df.columns[:6]
['nbytes', 'nranks', 'time_s', 'algbw_gbps', 'busbw_gbps', 'algorithm']
>>> df["algorithm"][0]
'nvls'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from . import _check as check
from . import _core
from ._api import keyword_options
from ._arrays import as_columns
from .cluster import Cluster, cluster
from .errors import InvalidArgumentError
from .hwdb import Spec

__all__ = ["predict", "OPS", "ALGORITHMS", "busbw_factor"]

_OPS, _ALGOS = _core.collectives_names()
OPS: tuple[str, ...] = tuple(_OPS)
ALGORITHMS: tuple[str, ...] = tuple(_ALGOS)
_ALGO_DTYPE = pl.Enum(list(ALGORITHMS))
_ALGO_VALUES = pl.Series("algorithm", ALGORITHMS, dtype=_ALGO_DTYPE)


def _where(where: Spec | str | Cluster, nranks: np.ndarray, stride: int = 1) -> Cluster:
    if isinstance(where, Cluster):
        return where
    if isinstance(where, tuple) and len(where) == 2:
        return cluster(*where)
    if isinstance(where, (str, Spec)):
        from .hwdb import resolve

        spec = resolve(where, "system", "where")
        dpn = int(spec["devices_per_node_count"])
        most = int(np.max(nranks)) * stride if nranks.size else 1
        return cluster(spec, max(1, -(-most // dpn)))
    raise InvalidArgumentError(
        f"argument `where`: expected a system id, a system spec, (system, nodes) or a Cluster, got {where!r}"
    )


def _algorithm_codes(algorithm: Any, n: int) -> np.ndarray:
    if isinstance(algorithm, str):
        return np.full(n, _core.collectives_algorithm(algorithm), dtype=np.uint8)
    names = list(algorithm)
    codes = np.array([_core.collectives_algorithm(a) for a in names], dtype=np.uint8)
    return codes


@keyword_options(5)
def predict(
    where: Spec | str | Cluster,
    op: str,
    nbytes: Any,
    nranks: Any,
    algorithm: str | list[str] = "auto",
    *,
    stride: int = 1,
    concurrent: int | None = None,
    client: Any = None,
) -> pl.DataFrame:
    """Time, algbw and busbw of ``op`` on ``nbytes`` over ``nranks`` ranks.

    Parameters
    ----------
    where
        A system id/spec (ranks beyond one node span nodes of that system), ``(system, nodes)`` or a
        :class:`~perfmodel.Cluster`.
    op
        ``all_reduce``, ``all_gather``, ``reduce_scatter``, ``broadcast``, ``reduce``, ``all_to_all`` or
        ``send_recv`` (nccl-tests spellings such as ``allreduce`` are accepted).
    nbytes
        Message sizes, bytes, as nccl-tests counts them (its ``size`` column): scalar or array.
    nranks
        Ranks, whole numbers >= 1: scalar or array, broadcast against ``nbytes``.
    algorithm
        ``"auto"`` or an algorithm name (``ring``, ``tree``, ``recursive_doubling``, ``rabenseifner``,
        ``bruck``, ``direct``, ``nvls``, ``sharp``, ``hierarchical``, ``pxn``, ``custom_all_reduce``: a
        framework's own kernel, with the fabric's hwdb ``[custom_all_reduce]`` figures, never picked by ``auto``),
        or a list of names: then every (nbytes, nranks) element is evaluated for each algorithm (a new leading
        axis).
    stride
        Rank distance between consecutive members (1: consecutive devices, innermost level first). A data-
        parallel group under tensor parallelism 8 on 8-GPU nodes is ``stride=8``: one rank per node. The
        training model's groups are laid out so (Megatron order: tp, cp, dp/ep, pp).
    concurrent
        Ranks of each node communicating at the same time, sharing its NICs (``None``: only this
        communicator's own; in a training plan every rank communicates, so the model uses the devices per
        node). Strided or concurrent groups need a cluster of one node group.
    client
        A ``dask.distributed.Client``: row ranges are evaluated on its workers; the frame is the local one.

    Returns
    -------
    polars.DataFrame
        One row per (algorithm,) nbytes, nranks element: ``nbytes`` (bytes), ``nranks``, ``time_s`` (seconds),
        ``algbw_gbps`` (``nbytes / time``, GB/s = 10^9 bytes/s, as nccl-tests' algbw), ``busbw_gbps`` (algbw
        times the op's bus-bandwidth factor, :func:`busbw_factor`, GB/s), ``algorithm`` (the one used),
        ``op`` and ``time_us`` (microseconds, as nccl-tests' time column).

    Raises
    ------
    perfmodel.InvalidArgumentError
        An unknown op or algorithm, ranks that are not whole numbers >= 1, or more ranks than ``where`` has.
    perfmodel.HwdbError
        A ``where`` that is not a system or cluster (a device id names the systems that hold it).

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.collectives.predict("dgx-h100", "all_reduce", 2**30, 8)
    >>> df["algorithm"][0], f"{df['busbw_gbps'][0]:.0f} GB/s", f"{df['time_us'][0]:.0f} us"
    ('nvls', '468 GB/s', '4014 us')

    Several algorithms at once (a new leading axis), and sizes over four nodes:

    >>> both = pm.collectives.predict("dgx-h100", "all_reduce", 2**30, 8, algorithm=["ring", "nvls"])
    >>> both["busbw_gbps"].round(0).to_list()
    [356.0, 468.0]
    >>> sizes = pm.collectives.predict(("dgx-h100", 4), "all_gather", [2**20, 2**30], 32)
    >>> sizes["time_us"].round(0).to_list()
    [461.0, 3347.0]
    """
    op_name = _core.collectives_op(op)
    _, cols = as_columns(nbytes=nbytes, nranks=nranks)
    b, r = cols["nbytes"], cols["nranks"]
    bad = ~((r >= 1) & (r <= check.MAX_COUNT) & (r == np.floor(r)))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidArgumentError(
            f"argument `nranks`: element {i} is {r[i]:g}; expected a whole number from 1 to {check.MAX_COUNT:,}"
        )
    if isinstance(algorithm, str):
        codes = np.full(b.size, _core.collectives_algorithm(algorithm), dtype=np.uint8)
    else:
        per = _algorithm_codes(algorithm, 0)
        codes = np.repeat(per, b.size)
        b = np.tile(b, per.size)
        r = np.tile(r, per.size)
    b = np.ascontiguousarray(b)
    r = np.ascontiguousarray(r)
    stride = check.whole("stride", stride)
    concurrent = check.optional_whole("concurrent", concurrent)
    if r.size and float(np.max(r)) * stride > check.MAX_COUNT:
        raise InvalidArgumentError(
            f"arguments `nranks` x `stride`: span {float(np.max(r)) * stride:,.0f} devices; at most {check.MAX_COUNT:,}"
        )
    c = _where(where, r, int(stride))
    tail = (stride, concurrent)
    if client is None:
        time_s, used, factor = _core.collectives_predict(c._handle, op_name, b, r, codes, *tail)
    else:
        from ._distributed import map_columns

        time_s, used, factor = map_columns(client, _core.collectives_predict, (c._handle, op_name), [b, r, codes], tail,
                                           what="collectives")  # fmt: skip
    algbw = b / time_s / 1e9
    return pl.DataFrame(
        {
            "nbytes": b,
            "nranks": r.astype(np.int64),
            "time_s": time_s,
            "algbw_gbps": algbw,
            "busbw_gbps": algbw * factor,
        }
    ).with_columns(
        algorithm=_ALGO_VALUES.gather(used),
        op=pl.lit(op_name),
        time_us=pl.col("time_s") * 1e6,
    )


def busbw_factor(op: str, nranks: int) -> float:
    """The nccl-tests bus-bandwidth factor of ``op`` for ``nranks`` ranks (doc/PERFORMANCE.md).

    Parameters
    ----------
    op : str
        A collective (``all_reduce``, ``all_gather``, ``reduce_scatter``, ``broadcast``, ``reduce``,
        ``all_to_all``, ``send_recv``; nccl-tests spellings such as ``allreduce`` are accepted).
    nranks : int
        Ranks (values below 1 count as 1).

    Returns
    -------
    float
        ``busbw / algbw``, dimensionless: all-reduce ``2(n-1)/n``; all-gather, reduce-scatter, all-to-all
        ``(n-1)/n``; broadcast, reduce, send/recv ``1``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.collectives.busbw_factor("all_reduce", 8), pm.collectives.busbw_factor("allgather", 8)
    (1.75, 0.875)
    """
    name = _core.collectives_op(op)
    n = max(int(nranks), 1)
    if name == "all_reduce":
        return 2.0 * (n - 1) / n
    if name in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    return 1.0
