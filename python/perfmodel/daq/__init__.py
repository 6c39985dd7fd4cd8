"""HEP data-acquisition pipelines: detectors -> processing/trigger stages -> storage, joined by links.

Power (compute and links, with CMOS technology scaling), selection quality (precision, recall, F1),
output rate, relevant samples per kJ, energy per relevant sample and hardware cost, evaluated by the Rust
engine and vectorized over what-if sweeps. Model after SystemFlow (Olin-Ammentorp, Wu & Chien,
arXiv:2407.00123); equations in ``docs/models/daq.md``.

>>> import perfmodel as pm
>>> m = pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True).evaluate()
>>> round(m.power_w / 1e6, 2)
20.46
"""

from __future__ import annotations

from .farm import device_unit_time_s
from .pipeline import METRICS, Empirical, Evaluation, Gaussian, Pipeline, Rates
from .presets import LEVERS, PRESETS, calibrate_skill, lever_sweep, lever_values, levers, preset

__all__ = [
    "Pipeline",
    "Evaluation",
    "Gaussian",
    "Rates",
    "Empirical",
    "METRICS",
    "PRESETS",
    "LEVERS",
    "preset",
    "levers",
    "lever_values",
    "lever_sweep",
    "calibrate_skill",
    "device_unit_time_s",
    "load",
]


def load(path: str) -> Pipeline:
    """A pipeline from a TOML file (same format as the presets, ``perfmodel/daq/presets/cms-run5.toml``).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file: a ``[pipeline]`` table (``name``, ``year``...), ``[[detector]]`` and ``[[stage]]``
        tables (the keyword arguments of :meth:`Pipeline.detector` and :meth:`Pipeline.stage`, units in the
        key names; optional ``[defaults.detector]``/``[defaults.stage]``) and one ``[storage]`` table.

    Returns
    -------
    Pipeline
        The pipeline (its other top-level tables, such as ``[levers]``, in ``meta``).

    Raises
    ------
    perfmodel.InvalidArgumentError
        An unreadable file, malformed TOML or an unknown key.
    perfmodel.ModelError
        A pipeline without storage, or a stage defined twice.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import perfmodel as pm
    >>> text = '''
    ... [pipeline]
    ... name = "toy"
    ... year = 2022
    ...
    ... [[detector]]
    ... name = "Pixels"
    ... sample_rate_hz = 1e6
    ... data_bytes = 1000
    ... to = "Trigger"
    ...
    ... [[stage]]
    ... name = "Trigger"
    ... reduction_ratio = 10
    ... energy_per_op_j = 1e-6
    ... classifier = { kind = "gaussian", skill = 3.0 }
    ... to = "Disk"
    ...
    ... [storage]
    ... name = "Disk"
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.toml"
    >>> _ = path.write_text(text)
    >>> p = pm.daq.load(path)
    >>> p.names, p.evaluate().output_rate_hz
    (['Pixels', 'Trigger', 'Disk'], 99999.0)
    """
    return Pipeline.from_toml(path)
