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
    """Base class of every error perfmodel raises on purpose.

    Examples
    --------
    >>> import perfmodel as pm
    >>> try:
    ...     pm.llm.estimate("llama3-8b", ("dgx-h100", 1), tp=3)
    ... except pm.PerfModelError as err:
    ...     print(type(err).__name__)
    InvalidArgumentError
    """


class HwdbError(PerfModelError, KeyError):
    """A bad or unknown hardware spec: names the file, the key, what was expected and the closest valid name.

    Also a :class:`KeyError`, so a lookup that misses can be caught as one.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.hwdb.get("h100")
    Traceback (most recent call last):
        ...
    perfmodel.errors.HwdbError: unknown hwdb id 'h100'; did you mean 'h100-sxm5-80gb', 'eth-100g' or 'holmes-a100-roce'?
    """

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(PerfModelError, ValueError):
    """An argument outside its domain (negative size, NaN, unknown option). Also a :class:`ValueError`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.roofline.gemm("h100-sxm5-80gb", 0, 1024, 1024)
    Traceback (most recent call last):
        ...
    perfmodel.errors.InvalidArgumentError: argument `m`: element 0 is 0; expected a number >= 1 and <= 2^40
    """


class UnsupportedError(PerfModelError, ValueError):
    """A valid request the hardware or topology cannot do (fp8 on A100, NVLS without NVSwitch). Also a
    :class:`ValueError`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.roofline.gemm("a100-sxm4-80gb", 1024, 1024, 1024, dtype="fp8")
    Traceback (most recent call last):
        ...
    perfmodel.errors.UnsupportedError: device 'a100-sxm4-80gb' has no fp8 support; it computes in fp64, fp32, tf32, bf16, fp16, int8
    """


class ModelError(PerfModelError, ValueError):
    """An inconsistent model input: a pipeline with a cycle, a plan that does not divide, and so on. Also a
    :class:`ValueError`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.daq.Pipeline()
    >>> _ = p.storage("Disk")
    >>> p.storage("Disk")
    Traceback (most recent call last):
        ...
    perfmodel.errors.ModelError: stage 'Disk' is defined twice
    """


class LogParseError(PerfModelError, ValueError):
    """A malformed or truncated measurement log (nccl-tests, rccl-tests). Also a :class:`ValueError`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.nccl_tests.parse("no log here")
    Traceback (most recent call last):
        ...
    perfmodel.errors.LogParseError: <string>: no nccl-tests header row (a '#' line with size, time, algbw, busbw) found
    """
