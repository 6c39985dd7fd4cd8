"""Sizing processing farms from throughput with hwdb devices and the roofline engine.

SystemFlow has no hardware cost; perfmodel defines a stage's cost as ``units x unit cost`` with
``units = fixed units + ceil(input rate x ops per event x seconds per op per unit / utilization)``
(``rust/perfmodel-core/src/daq/eval.rs``). This module gives ``seconds per op per unit`` for a device: the
roofline time of one op's FLOPs (vector units) and bytes (HBM) on that device. FLOPs and bytes per op are
the caller's assumptions; the CMS presets state theirs in the TOML files.
"""

from __future__ import annotations

from ..hwdb import Spec
from ..roofline import memory_bound

__all__ = ["device_unit_time_s"]


def device_unit_time_s(
    device: Spec | str, flops_per_op: float, bytes_per_op: float, dtype: str = "fp32"
) -> float:
    """Seconds one ``device`` needs per op: roofline time of ``flops_per_op`` FLOPs and ``bytes_per_op``
    bytes.

    Parameters
    ----------
    device : str or Spec
        A device id or spec (or a system: the device its nodes hold).
    flops_per_op : float
        FLOPs per op (the caller's assumption).
    bytes_per_op : float
        HBM bytes read per op (the caller's assumption).
    dtype : str
        The FLOPs' dtype (default ``"fp32"``).

    Returns
    -------
    float
        Seconds per op on one device (a memory-bound kernel's time on the roofline engine).

    Examples
    --------
    >>> import perfmodel as pm
    >>> round(pm.daq.device_unit_time_s("h100-sxm5-80gb", 3.3e11, 2e9) * 1e3, 1)  # ms, the GPU-HLT preset's op
    4.9
    """
    return float(memory_bound(device, bytes_read=bytes_per_op, flops=flops_per_op, dtype=dtype)["time_s"][0])
