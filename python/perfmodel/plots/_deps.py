"""The optional plotting dependencies (``pip install 'perfmodel[plot]'``: altair and vl-convert-python), imported
when a chart is built or saved, not when perfmodel or a plots module is imported: the frame builders of the
plots modules (``power_vs_batch``, ``cost_sweep``, ``latency_sweep``, ``model_curves``...) work without them."""

from __future__ import annotations

from types import ModuleType

from ..errors import PerfModelError

__all__ = ["MissingPlotExtraError", "altair", "vl_convert", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'perfmodel[plot]'"


class MissingPlotExtraError(PerfModelError, ImportError):
    """A chart was asked for without the plotting extra installed (altair, vl-convert-python)."""


def _load(name: str, dist: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingPlotExtraError(
            f"perfmodel's charts need {dist}, which is not installed: {INSTALL_HINT} "
            "(altair and vl-convert-python; the models work without them)",
            name=name,
        ) from e


def altair() -> ModuleType:
    """The ``altair`` module, or :class:`MissingPlotExtraError` saying how to install it."""
    return _load("altair", "altair")


def vl_convert() -> ModuleType:
    """The ``vl_convert`` module (vl-convert-python), or :class:`MissingPlotExtraError`."""
    return _load("vl_convert", "vl-convert-python")
