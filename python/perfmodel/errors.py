"""The exceptions perfmodel raises on purpose. The Rust engine maps its errors onto these classes in one
place (``rust/perfmodel-py/src/errors.rs``); a panic inside the engine becomes a :class:`PerfModelError`."""

from __future__ import annotations

__all__ = [
    "PerfModelError",
    "HwdbError",
    "InvalidArgumentError",
    "UnsupportedError",
    "ModelError",
    "LogParseError",
]


class PerfModelError(Exception):
    """Base class of every error perfmodel raises on purpose."""


class HwdbError(PerfModelError, KeyError):
    """A bad or unknown hardware spec: names the file, the key, what was expected and the closest valid name."""

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(PerfModelError, ValueError):
    """An argument outside its domain (negative size, NaN, unknown option)."""


class UnsupportedError(PerfModelError, ValueError):
    """A valid request the hardware or topology cannot do (fp8 on A100, NVLS without NVSwitch)."""


class ModelError(PerfModelError, ValueError):
    """An inconsistent model input: a pipeline with a cycle, a plan that does not divide, and so on."""


class LogParseError(PerfModelError, ValueError):
    """A malformed or truncated measurement log (nccl-tests, rccl-tests)."""
