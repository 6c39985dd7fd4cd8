"""The public calling convention: what a call is about (model, hardware, sizes) goes by position, every option
by keyword.

Options passed by position still work for now (scripts written against earlier releases keep running) but
warn with a :class:`DeprecationWarning` that names each option and how to write it; the published signature
(``inspect.signature``, ``help()``, the documentation) shows them keyword-only.
"""

from __future__ import annotations

import functools
import inspect
import reprlib
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["keyword_options"]

P = ParamSpec("P")
R = TypeVar("R")


def keyword_options(positional: int | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make every parameter after the first ``positional`` keyword-only in the published signature (default:
    the leading parameters without a default, what the call is about); an option given by position is still
    accepted, with a DeprecationWarning naming it."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        by_position = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        if positional is None:
            required = 0
            for p in params:
                if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD or p.default is not p.empty:
                    break
                required += 1
            first = required
        else:
            first = positional
        options = by_position[first:]
        published = sig.replace(
            parameters=[
                p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.name in options else p for p in params
            ]
        )
        package = fn.__module__.split(".")[1:2]  # perfmodel.serve.simulate -> pm.serve.simulate()
        name = ".".join(["pm", *package, fn.__name__]) + "()"

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            if len(args) > first:
                given = options[: len(args) - first]
                shown = ", ".join(f"{n}={reprlib.repr(a)}" for n, a in zip(given, args[first:], strict=False))
                warnings.warn(
                    f"{name}: options by position are deprecated; write {shown}",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return fn(*args, **kwargs)

        call.__signature__ = published  # type: ignore[attr-defined]
        return call

    return wrap
