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
    """A pipeline from a TOML file (same format as the presets)."""
    return Pipeline.from_toml(path)
