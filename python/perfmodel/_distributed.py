"""Distributed sweeps on Dask: the one place where perfmodel talks to ``dask.distributed``.

An entry point that takes ``client=`` (:func:`perfmodel.llm.search`, :func:`perfmodel.serve.search`,
:meth:`perfmodel.daq.Pipeline.sweep`, the array calls of :mod:`perfmodel.roofline` and
:func:`perfmodel.collectives.predict`) splits its space into chunks by index range and hands them to
:func:`map_chunks`: each chunk is one task that runs the Rust engine on a worker, the results come back in
chunk order, and the entry point assembles them exactly as its local run does, so the frame is identical. A
task that fails (an exception, or a worker that dies) is run again (``retries``; a lost worker's tasks are
rescheduled by the scheduler), so no rows are lost. Progress across chunks: tqdm when installed, else a line
on stderr.

``dask[distributed]`` is an optional extra (``pip install perfmodel[dask]``); it is imported only when a
client is given.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, PerfModelError, UnsupportedError

__all__ = [
    "check_client",
    "map_chunks",
    "map_columns",
    "index_ranges",
    "guided_ranges",
    "chunk_count",
    "RETRIES",
]

#: Times a failed chunk is run again before the call fails.
RETRIES = 3

#: Signature of a progress callback: (chunks done, chunks in all).
Progress = Callable[[int, int], None]


def check_client(client: Any) -> Any:
    """``client`` if it is a ``dask.distributed.Client``; a :class:`perfmodel.PerfModelError` naming the argument
    when it is not, or when ``distributed`` is not installed."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise UnsupportedError(
            "argument `client`: distributed sweeps need dask.distributed, which is not installed "
            "(pip install 'perfmodel[dask]')"
        ) from exc
    if not isinstance(client, Client):
        raise InvalidArgumentError(
            f"argument `client`: expected a dask.distributed.Client, got {type(client).__name__}"
        )
    return client


def _threads(client: Any) -> int:
    """Worker threads of the cluster behind ``client`` (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # a client between connections: plan for one thread
        return 1


def chunk_count(client: Any, items: int, min_items: int = 1, per_thread: int = 4) -> int:
    """How many chunks to split ``items`` into for ``client``: ``per_thread`` per worker thread (so that a slow
    or lost worker delays little), none smaller than ``min_items``."""
    if items <= 0:
        return 0
    return max(1, min(per_thread * _threads(client), math.ceil(items / max(1, min_items))))


def index_ranges(total: int, chunks: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges covering ``0..total`` in ``chunks`` nearly equal, ordered parts."""
    if total <= 0:
        return []
    chunks = max(1, min(chunks, total))
    bounds = [total * i // chunks for i in range(chunks + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(chunks)]


def guided_ranges(client: Any, total: int, min_items: int = 1, share: float = 0.5) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges covering ``0..total`` in order, each ``share`` of what is left divided by the worker
    threads of ``client`` (guided self-scheduling), none smaller than ``min_items``: the first tasks are large
    (little per-task cost) and the last small, so that workers finish together even when the cost per item
    varies along the index. With 2 threads and 12 M items at ``min_items`` 200,000: 14 ranges, the first 3 M,
    the last 200,000."""
    if total <= 0:
        return []
    threads = _threads(client)
    ranges, lo = [], 0
    while lo < total:
        size = max(min_items, math.ceil(share * (total - lo) / threads), 1)
        if total - lo - size < min_items:  # no sliver at the end
            size = total - lo
        ranges.append((lo, lo + size))
        lo += size
    return ranges


class _Bar:
    """Progress over chunks: tqdm when installed, else a line on stderr."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.start = total, what, time.perf_counter()
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.tqdm = None
        else:
            self.tqdm = tqdm(total=total, desc=what, unit="chunk")

    def __call__(self, done: int, total: int) -> None:
        if self.tqdm is not None:
            self.tqdm.update(done - self.tqdm.n)
            if done >= total:
                self.tqdm.close()
            return
        sys.stderr.write(f"\r{self.what}: {done}/{total} chunks, {time.perf_counter() - self.start:.1f} s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _aligned(x: Any) -> Any:
    """``x`` with every numpy array in it (or in a list in it) C-contiguous and aligned, as the engine reads
    them: arrays that arrive from the scheduler may sit misaligned in the message's buffer."""
    if isinstance(x, np.ndarray):
        return np.require(x, requirements=["C", "A"])
    if isinstance(x, list) and any(isinstance(y, np.ndarray) for y in x):
        return [_aligned(y) for y in x]
    return x


def _on_worker(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """One chunk, run on a worker."""
    return fn(*(_aligned(a) for a in args))


def map_chunks(
    client: Any,
    fn: Callable[..., Any],
    chunks: Sequence[tuple[Any, ...]],
    *,
    what: str = "perfmodel",
    progress: bool | Progress | None = None,
    retries: int = RETRIES,
) -> list[Any]:
    """``[fn(*args) for args in chunks]``, each call a task on ``client``'s workers, results in chunk order.

    ``fn`` must be importable on the workers (a module-level function of perfmodel). A failed task is run again
    up to ``retries`` times; if it still fails the call raises a :class:`perfmodel.PerfModelError` naming the
    chunk (an error the engine raised on purpose comes through as it was), and the other tasks are cancelled.
    ``progress``: True for a bar (tqdm if installed), a callable for ``(done, total)`` reports, None/False none.
    """
    check_client(client)
    from distributed import as_completed

    n = len(chunks)
    if n == 0:
        return []
    report: Progress | None = progress if callable(progress) else (_Bar(n, what) if progress else None)
    futures = [client.submit(_on_worker, fn, args, retries=retries, pure=False) for args in chunks]
    order = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * n
    done = 0
    try:
        for fut in as_completed(futures):
            i = order[fut.key]
            try:
                results[i] = fut.result()
            except PerfModelError:
                raise
            except Exception as exc:
                raise PerfModelError(
                    f"{what}: chunk {i + 1} of {n} failed on the Dask cluster after {retries} retries: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            fut.release()
            done += 1
            if report is not None:
                report(done, n)
    except BaseException:
        client.cancel(futures)
        raise
    return results


#: Rows below which an array call is not split further.
MIN_ROWS = 4096


def map_columns(
    client: Any,
    fn: Callable[..., tuple[np.ndarray, ...]],
    head: tuple[Any, ...],
    columns: Sequence[np.ndarray],
    tail: tuple[Any, ...] = (),
    *,
    what: str = "perfmodel",
    progress: bool | Progress | None = None,
) -> tuple[np.ndarray, ...]:
    """An element-wise engine call ``fn(*head, *columns, *tail)`` (equal-length 1-D columns in, a tuple of
    equal-length 1-D arrays out) run over row ranges on ``client``'s workers; the outputs joined in row order."""
    check_client(client)
    n = len(columns[0]) if columns else 0
    ranges = index_ranges(n, chunk_count(client, n, min_items=MIN_ROWS))
    if not ranges:
        return fn(*head, *columns, *tail)
    parts = map_chunks(client, fn, [(*head, *(c[lo:hi] for c in columns), *tail) for lo, hi in ranges], what=what,
                       progress=progress)  # fmt: skip
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))
