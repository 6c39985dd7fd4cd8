"""perfmodel: analytical what-if models of AI clusters and HEP data-acquisition systems.

Kernels (roofline), collectives over real topologies, LLM training plans and DAQ pipelines, over a sourced
hardware database, fast enough to sweep millions of configurations and validated against published
measurements.
"""

from __future__ import annotations

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
]
