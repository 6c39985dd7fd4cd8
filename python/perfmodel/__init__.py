"""perfmodel: analytical what-if models of AI clusters and HEP data-acquisition systems.

Kernels (roofline), collectives over real topologies, LLM training plans and DAQ pipelines, over a sourced
hardware database, fast enough to sweep millions of configurations and validated against published
measurements.
"""

from __future__ import annotations

import numpy as np

from . import _core, collectives, daq, hwdb, llm, nccl_tests, power, roofline, serve, validation
from .cluster import Cluster, cluster
from .errors import (
    HwdbError,
    InvalidArgumentError,
    LogParseError,
    ModelError,
    PerfModelError,
    UnsupportedError,
)

__version__: str = _core.__version__


def set_num_threads(n: int) -> None:
    """Set the threads the engine's parallel calls (searches, sweeps, array calls) use, from now on in this
    process.

    Without it the engine uses ``RAYON_NUM_THREADS`` threads if set, else one per CPU. A process forked after
    the engine ran gets a fresh pool of its own (the parent's threads are not copied by a fork).

    Parameters
    ----------
    n : int
        Threads, a whole number from 1 to 4096.

    Returns
    -------
    None

    Raises
    ------
    perfmodel.InvalidArgumentError
        When ``n`` is not a whole number in that range.

    Examples
    --------
    >>> import perfmodel as pm
    >>> before = pm.get_num_threads()
    >>> pm.set_num_threads(1)
    >>> pm.get_num_threads()
    1
    >>> pm.set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InvalidArgumentError(f"argument `n`: is {n!r}; expected a whole number of threads >= 1")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The threads the engine's parallel calls use (:func:`set_num_threads`, ``RAYON_NUM_THREADS``).

    Returns
    -------
    int
        Threads of the engine's pool: the count :func:`set_num_threads` set, else ``RAYON_NUM_THREADS``, else
        one per CPU.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.get_num_threads() >= 1
    True
    """
    return int(_core.get_num_threads())


__all__ = [
    "__version__",
    "PerfModelError",
    "HwdbError",
    "InvalidArgumentError",
    "UnsupportedError",
    "ModelError",
    "LogParseError",
    "daq",
    "hwdb",
    "llm",
    "serve",
    "power",
    "roofline",
    "validation",
    "cluster",
    "Cluster",
    "collectives",
    "nccl_tests",
    "set_num_threads",
    "get_num_threads",
]
