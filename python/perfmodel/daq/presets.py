"""CMS presets (TOML files in ``perfmodel/daq/presets``), their technology levers, lever sweeps and the
calibration of the Gaussian L1T skill (the one fitted quantity of the presets)."""

from __future__ import annotations

import itertools
import math
import tomllib
from importlib import resources
from typing import Any

import polars as pl

from ..errors import InvalidArgumentError
from .farm import device_unit_time_s
from .pipeline import Pipeline

__all__ = ["PRESETS", "LEVERS", "preset", "levers", "lever_values", "lever_sweep", "calibrate_skill"]

PRESETS: tuple[str, ...] = ("cms-run3", "cms-run5")
LEVERS: tuple[str, ...] = ("gpu_hlt", "smart_pixels", "l1_tracking", "optical_links")


def _doc(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(name, PRESETS, n=2)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidArgumentError(
            f"argument `name`: unknown DAQ preset '{name}'{hint} (available: {', '.join(PRESETS)})"
        )
    text = resources.files("perfmodel.daq").joinpath("presets", f"{name}.toml").read_text()
    return tomllib.loads(text)


def levers(name: str) -> dict[str, dict[str, Any]]:
    """The lever definitions of a preset (description, the values each sets, farm sizing).

    Parameters
    ----------
    name : str
        ``"cms-run3"`` or ``"cms-run5"``.

    Returns
    -------
    dict of str to dict
        Per lever: ``description``, ``set`` (``{"stage.parameter" or "kind:<kind>.parameter": value}``) and,
        for a farm, ``farm`` (``stage``, ``device``, ``flops_per_op``, ``bytes_per_op``, ``dtype``,
        ``unit_cost``).

    Examples
    --------
    >>> import perfmodel as pm
    >>> sorted(pm.daq.levers("cms-run5"))
    ['gpu_hlt', 'l1_tracking', 'optical_links', 'smart_pixels']
    >>> pm.daq.levers("cms-run5")["gpu_hlt"]["set"]
    {'HLT.complexity_scale': 0.5}
    """
    return dict(_doc(name).get("levers", {}))


def _expand(p: Pipeline, values: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, v in values.items():
        if key.startswith("kind:"):
            kind, _, fld = key[5:].partition(".")
            for n in p.names:
                if p.kind(n) == kind:
                    out[f"{n}.{fld}"] = v
        else:
            out[key] = v
    return out


def lever_values(name: str, base: Pipeline | None = None, **switches: bool) -> dict[str, float]:
    """The ``"stage.parameter": value`` changes the switched-on levers make to the base preset.

    Parameters
    ----------
    name : str
        ``"cms-run3"`` or ``"cms-run5"``.
    base : Pipeline, optional
        The base pipeline (default: the preset's).
    **switches : bool
        Levers switched on (True) or off.

    Returns
    -------
    dict of str to float
        The changed values by ``"stage.parameter"`` (units in the parameter names); a farm lever also sets its
        stage's ``unit_time_s`` (s), ``unit_cost`` and ``utilization``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        An unknown lever, or a switch that is not True/False.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.daq.lever_values("cms-run5", smart_pixels=True)
    {'Inner Tracker.data_bytes': 662400.0}
    """
    defs = levers(name)
    p = base if base is not None else _base(name)
    out: dict[str, float] = {}
    for lever, on in switches.items():
        if lever not in defs:
            raise InvalidArgumentError(
                f"argument `{lever}`: unknown lever of preset '{name}'; expected one of {', '.join(defs)}"
            )
        if not isinstance(on, bool):
            raise InvalidArgumentError(f"argument `{lever}`: expected True or False, got {on!r}")
        if not on:
            continue
        d = defs[lever]
        out.update(_expand(p, dict(d.get("set", {}))))
        farm = d.get("farm")
        if farm is not None:
            out[f"{farm['stage']}.unit_time_s"] = device_unit_time_s(
                farm["device"], farm["flops_per_op"], farm["bytes_per_op"], farm.get("dtype", "fp32")
            )
            out[f"{farm['stage']}.unit_cost"] = float(farm["unit_cost"])
            out[f"{farm['stage']}.utilization"] = float(farm.get("utilization", 0.7))
    return out


def _base(name: str) -> Pipeline:
    from .pipeline import _from_doc

    return _from_doc(_doc(name), f"{name}.toml")


def preset(name: str, *, year: float | None = None, **switches: bool) -> Pipeline:
    """A CMS pipeline: ``"cms-run3"`` (pileup 60) or ``"cms-run5"`` (HL-LHC, pileup 200), with technology
    levers.

    Parameters
    ----------
    name : str
        ``"cms-run3"`` or ``"cms-run5"`` (:data:`PRESETS`).
    year : float, optional
        CMOS technology year (default: the preset's, 2032).
    **switches : bool
        Technology levers switched on or off: ``gpu_hlt``, ``smart_pixels``, ``l1_tracking``,
        ``optical_links`` (:data:`LEVERS`; their definitions: :func:`levers`).

    Returns
    -------
    Pipeline
        The pipeline, the levers' values applied (``meta["levers"]`` records them).

    Raises
    ------
    perfmodel.InvalidArgumentError
        An unknown preset (naming the closest) or lever, or a lever that is not True/False.

    Examples
    --------
    >>> import perfmodel as pm
    >>> round(pm.daq.preset("cms-run5").evaluate().power_w / 1e6, 2)
    51.6
    >>> round(pm.daq.preset("cms-run5", gpu_hlt=True).evaluate().power_w / 1e6, 2)
    25.85
    """
    base = _base(name)
    values = lever_values(name, base, **switches)
    if year is not None:
        values["year"] = year
    p = base.with_values(values) if values else base
    p.meta["levers"] = {lv: bool(switches.get(lv, False)) for lv in levers(name)}
    return p


def lever_sweep(name: str, per_stage: bool = True, *, client: Any = None, **fixed: bool) -> pl.DataFrame:
    """Every combination of the preset's levers (those not fixed), evaluated in one vectorized engine call.

    Parameters
    ----------
    name : str
        ``"cms-run3"`` or ``"cms-run5"``.
    per_stage : bool
        Add a ``power_w:<stage>`` column (W) per stage (default True).
    client : dask.distributed.Client, optional
        Run the sweep on the client's workers as :meth:`Pipeline.sweep` does; the frame is the local one.
    **fixed : bool
        Levers held on or off (not swept).

    Returns
    -------
    polars.DataFrame
        One row per combination: ``configuration`` (the levers on, ``+``-joined, or ``baseline``), one boolean
        column per lever, every metric of :data:`perfmodel.daq.METRICS` (powers in W, rates in events/s,
        ``f1`` a fraction...; see :meth:`Pipeline.sweep`), and ``power_w:<stage>`` with ``per_stage``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.daq.lever_sweep("cms-run5", per_stage=False)
    >>> df.height, df.columns[:5]
    (16, ['configuration', 'gpu_hlt', 'smart_pixels', 'l1_tracking', 'optical_links'])
    >>> df.filter(df["configuration"] == "l1_tracking")["f1"].round(3).to_list()
    [0.793]
    """
    names = list(levers(name))
    free = [lv for lv in names if lv not in fixed]
    combos = [
        dict(zip(free, bits, strict=True)) | fixed
        for bits in itertools.product([False, True], repeat=len(free))
    ]
    base = _base(name)
    changes = [lever_values(name, base, **c) for c in combos]
    keys = sorted({k for c in changes for k in c})
    columns = {k: [c.get(k, base.get(k)) for c in changes] for k in keys}
    df = base.sweep(columns, per_stage=per_stage, client=client).drop(keys)
    flags = pl.DataFrame({lv: [c[lv] for c in combos] for lv in names})
    label = pl.DataFrame(
        {"configuration": [" + ".join(lv for lv in names if c[lv]) or "baseline" for c in combos]}
    )
    return pl.concat([label, flags, df], how="horizontal")


def calibrate_skill(
    pipeline: Pipeline, stage: str, target_f1: float, lo: float = 0.0, hi: float = 10.0
) -> float:
    """The Gaussian skill of ``stage`` at which the pipeline's F1 equals ``target_f1`` (bisection; F1 rises
    with skill).

    Used to calibrate the presets' L1T skills to SystemFlow's published F1 rows.

    Parameters
    ----------
    pipeline : Pipeline
        The pipeline.
    stage : str
        A stage with a :class:`Gaussian` classifier.
    target_f1 : float
        The F1 to reach, a fraction.
    lo, hi : float
        The skill bracket searched (default 0 to 10).

    Returns
    -------
    float
        The skill (the positive scores' mean, in standard deviations of the negatives).

    Raises
    ------
    perfmodel.InvalidArgumentError
        ``target_f1`` outside the F1 range of the bracket.

    Examples
    --------
    >>> import perfmodel as pm
    >>> round(pm.daq.calibrate_skill(pm.daq.preset("cms-run5"), "L1T", 0.385988), 4)  # SystemFlow's Run-5 F1
    1.8642
    """

    def f1(s: float) -> float:
        return pipeline.with_values({f"{stage}.skill": s}).evaluate().f1

    f_lo, f_hi = f1(lo), f1(hi)
    if not (f_lo <= target_f1 <= f_hi):
        raise InvalidArgumentError(
            f"argument `target_f1`: {target_f1} is outside the F1 range [{f_lo:.4f}, {f_hi:.4f}] for skills [{lo}, {hi}]"
        )
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if f1(mid) < target_f1:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    return 0.5 * (lo + hi) if math.isfinite(lo + hi) else lo
