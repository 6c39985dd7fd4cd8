"""Power and energy: a GPU's power as a function of what it is doing, on the time model's own quantities.

The law (``perfmodel_core::power``; docs there): over an interval of ``t`` s in which kernels run for ``tau``
s doing ``F`` FLOPs and moving ``B`` HBM bytes, board power is

    P = P_idle + (a_busy * tau + a_compute * F / R_peak + a_memory * B / BW_peak) / t,   at most the limit

(Hong & Kim, ISCA 2010: idle plus each unit's access rate times its peak dynamic power). ``P_idle`` is
published (hwdb ``[power] idle_w``); ``a_*`` are fitted per device on measured power (hwdb
``active_tdp_ratio``, ``compute_tdp_ratio``, ``memory_tdp_ratio`` of the TDP; ``tools/calibrate.py --power``);
a device without them inherits its sibling's as fractions of its own TDP. A power cap lowers the SM clock
``s``: the compute-bound share of the busy time stretches as ``1/s``, dynamic energy per FLOP falls as ``s^2``
(CMOS ``P = a C V^2 f`` with V tracking f), energy per HBM byte stays: a memory-bound decode barely slows,
a prefill slows fully (POLCA, arXiv:2308.12908; Ma et al., arXiv:2605.11999).

>>> import perfmodel as pm
>>> p = pm.power.model("h100-sxm5-80gb")
>>> p.idle_w < p.tdp_w
True
>>> d = pm.serve.decode("llama3.1-8b", "dgx-h100", batch=64, context_len=1024)
>>> 300 < d.power_per_gpu_w <= 700
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from . import _core, hwdb
from ._api import keyword_options
from ._display import Result
from .errors import InvalidArgumentError

__all__ = [
    "PowerModel",
    "model",
    "check_cap",
    "node_power",
    "oversubscription",
    "step_energy",
]


@dataclass(frozen=True)
class PowerModel(Result):
    """One device's resolved power law (module docstring): the figures :func:`model` resolved from hwdb.

    Attributes
    ----------
    device : str
        The device id.
    dtype : str
        The dtype whose matrix peak the law uses (``bf16``, ``fp16``, ``fp8``, ``fp6``, ``nvfp4``, ``mxfp4``).
    tdp_w : float
        Board power limit (TDP), W.
    idle_w : float
        Idle power, W.
    active_w : float
        Busy power above idle (kernels running), W.
    compute_w : float
        Power at the full dense matrix peak, W (on top of idle and busy).
    memory_w : float
        Power at the full HBM bandwidth, W (on top of idle and busy).
    fitted_on : str
        What the device's figures were fitted on (and any overrides).
    handle : object
        The engine's power law (internal).

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.power.model("h100-sxm5-80gb")
    >>> p.tdp_w, p.idle_w, p.dtype
    (700.0, 75.0, 'bf16')
    """

    device: str
    dtype: str
    tdp_w: float
    idle_w: float
    active_w: float
    compute_w: float
    memory_w: float
    fitted_on: str
    handle: Any


_MODELS: dict[tuple[Any, ...], PowerModel] = {}
hwdb._AFTER_REGISTER.append(_MODELS.clear)


def _dtype_of(dev: hwdb.Spec, dtype: str) -> str:
    """The dtype whose matrix peak the power law uses for weights in ``dtype`` (int4: 16-bit compute; the
    block-scaled W4A4/W6A6 formats compute in their own)."""
    d = str(dtype).lower()
    if d in ("fp8", "nvfp4", "mxfp4", "fp6"):
        return d
    if d == "mxfp6":
        return "fp6"
    if d == "fp16" or not dev.get("compute.matrix_bf16_tflops"):
        return "fp16"
    return "bf16"


@keyword_options()
def model(device: Any, dtype: str = "bf16", **overrides: float) -> PowerModel:
    """The power law of ``device`` for weights in ``dtype``.

    Parameters
    ----------
    device : str, Spec, tuple or Cluster
        A device or system id or spec, ``(system, nodes)`` or a cluster: the device its nodes hold.
    dtype : str
        The weights' dtype (default ``"bf16"``): the law takes the matrix peak of the dtype the kernels
        compute in (int4 weight-only: 16-bit; ``fp8``, ``nvfp4``, ``mxfp4``, ``fp6``/``mxfp6``: their own).
    **overrides : float
        Figures replaced by name, each a finite number >= 0 (a what-if, or a calibration's trial point):
        ``active_tdp_ratio``, ``compute_tdp_ratio``, ``memory_tdp_ratio`` (fractions of the TDP), ``idle_w``
        (W).

    Returns
    -------
    PowerModel
        The resolved law: ``tdp_w``, ``idle_w``, ``active_w``, ``compute_w``, ``memory_w`` (W) and
        ``fitted_on``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        An override that is not a finite number >= 0 (or an unknown name).

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.power.model("dgx-h100")  # the device the system's nodes hold
    >>> p.device, p.tdp_w, p.idle_w
    ('h100-sxm5-80gb', 700.0, 75.0)
    >>> pm.power.model("h100-sxm5-80gb", active_tdp_ratio=0.3).active_w  # 0.3 x 700 W
    210.0
    """
    spec = hwdb.resolve(device, "device", "device")
    for k, v in overrides.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InvalidArgumentError(f"argument `{k}`: is {v!r}; expected a finite number >= 0")
    d = _dtype_of(spec, dtype)
    key = (spec.id, id(spec), d, tuple(sorted(overrides.items())))
    hit = _MODELS.get(key)
    if hit is not None:
        return hit
    h = _core.power_model(spec._handle, d, {k: float(v) for k, v in overrides.items()})
    f = h.figures
    out = PowerModel(
        spec.id, d, f["tdp_w"], f["idle_w"], f["active_w"], f["compute_w"], f["memory_w"], h.fitted_on, h
    )
    if len(_MODELS) > 256:
        _MODELS.clear()
    _MODELS[key] = out
    return out


def check_cap(power: PowerModel, cap_w: Any) -> float | None:
    """A power cap checked against the device.

    Parameters
    ----------
    power : PowerModel
        The device's law (:func:`model`).
    cap_w : float or None
        The cap per GPU, W: above the device's idle power and at most its TDP (None: no cap).

    Returns
    -------
    float or None
        The cap, W (None when ``cap_w`` is None).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A cap that is not a number, at or below idle or above the TDP (naming ``power_cap_w``).

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.power.model("h100-sxm5-80gb")
    >>> pm.power.check_cap(p, 500), pm.power.check_cap(p, None)
    (500.0, None)
    >>> pm.power.check_cap(p, 900)
    Traceback (most recent call last):
        ...
    perfmodel.errors.InvalidArgumentError: argument `power_cap_w`: is 900; expected a limit above h100-sxm5-80gb's idle power (75 W) and at most its TDP (700 W)
    """
    if cap_w is None:
        return None
    if isinstance(cap_w, bool) or not isinstance(cap_w, (int, float, np.floating, np.integer)):
        raise InvalidArgumentError(f"argument `power_cap_w`: is {cap_w!r}; expected a number of watts")
    return float(power.handle.check_cap(float(cap_w)))


def operate(
    power: PowerModel, flops: Any, hbm_bytes: Any, time_s: Any, host_s: Any, power_cap_w: float | None = None
) -> dict[str, np.ndarray]:
    """The law over intervals of given work (columns): ``time_s``, ``power_w``, ``energy_j``,
    ``clock_fraction``, ``compute_utilization``, ``memory_utilization``, ``demand_w``."""
    cols = [
        np.ascontiguousarray(np.atleast_1d(np.asarray(x, dtype=float)))
        for x in (flops, hbm_bytes, time_s, host_s)
    ]
    n = max(c.size for c in cols)
    f, b, t, h = (np.ascontiguousarray(np.broadcast_to(c, (n,))) for c in cols)
    return dict(_core.power_operate(power.handle, f, b, t, h, check_cap(power, power_cap_w)))


# ---- nodes and clusters -------------------------------------------------------------------------------------


def _rated(spec: hwdb.Spec) -> float | None:
    v = spec.get("rated_node_power_w")
    return None if v is None else float(v)


@keyword_options()
def node_power(system: Any, gpu_power_w: float, gpus: int | None = None) -> dict[str, float]:
    """Power of the nodes a plan uses: its GPUs, plus each node's non-GPU power where the system has a rating.

    The non-GPU power is taken, where the system's hwdb entry has its ``rated_node_power_w`` (the vendor's
    maximum), at the rating's share (``rated - GPUs x TDP``: CPUs, NICs, fans, conversion, at the datasheet
    maximum, so an upper bound: an 8x H100 HGX node measured at full GPU utilisation peaked at 8.4 kW of its
    10.2 kW, Latif et al. 2024).

    Parameters
    ----------
    system : str, Spec, tuple or Cluster
        The system (an id or spec, ``(system, nodes)`` or a one-group cluster).
    gpu_power_w : float
        Power per GPU, W (>= 0).
    gpus : int, optional
        GPUs the plan uses (default: one node's); whole nodes are counted.

    Returns
    -------
    dict of str to float
        ``gpu_w`` (all GPUs, W), ``non_gpu_w`` (the nodes' non-GPU power, W; NaN where unsourced), ``total_w``
        (W; the GPUs' alone where unsourced), ``nodes`` (count) and ``rated_w`` (the nodes' rating, W; NaN
        where unsourced).

    Raises
    ------
    perfmodel.InvalidArgumentError
        ``gpus`` not a whole number >= 1, or ``gpu_power_w`` not a number of watts >= 0.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.power.node_power("dgx-h100", 700.0)  # 8 GPUs at their TDP: the node's 10.2 kW rating
    {'gpu_w': 5600.0, 'non_gpu_w': 4600.0, 'total_w': 10200.0, 'nodes': 1.0, 'rated_w': 10200.0}
    >>> pm.power.node_power("dgx-h100", 500.0, gpus=16)["total_w"]
    17200.0
    """
    spec = hwdb.resolve(system, "system")
    per_node = int(spec["devices_per_node_count"])
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, np.integer))):
        raise InvalidArgumentError(f"argument `gpus`: is {gpus!r}; expected a whole number >= 1")
    n = per_node if gpus is None else int(gpus)
    if n < 1:
        raise InvalidArgumentError(f"argument `gpus`: is {gpus!r}; expected a whole number >= 1")
    if isinstance(gpu_power_w, bool) or not (
        isinstance(gpu_power_w, (int, float)) and math.isfinite(gpu_power_w) and gpu_power_w >= 0
    ):
        raise InvalidArgumentError(f"argument `gpu_power_w`: is {gpu_power_w!r}; expected watts >= 0")
    nodes = -(-n // per_node)
    rated = _rated(spec)
    tdp = float(hwdb.get(spec["device"], "device")["power.tdp_w"])
    non_gpu = nodes * (rated - per_node * tdp) if rated else float("nan")
    gpu_w = n * float(gpu_power_w)
    return {
        "gpu_w": gpu_w,
        "non_gpu_w": non_gpu,
        "total_w": gpu_w + non_gpu if rated else gpu_w,
        "nodes": float(nodes),
        "rated_w": nodes * rated if rated else float("nan"),
    }


@keyword_options()
def oversubscription(
    model_: Any,
    system: Any,
    facility_power_w: float,
    server_cap_w: float | Any,
    tp: int = 8,
    isl: int = 1024,
    osl: int = 256,
    dtype: str = "bf16",
    framework: str = "vllm",
    **options: Any,
) -> pl.DataFrame:
    """POLCA-style power oversubscription (Patel et al., arXiv:2308.12908) under a facility power budget.

    Servers provisioned at their rated power are compared with servers capped at ``server_cap_w`` each (one
    value or several). Each server runs ``model_`` offline (``isl``/``osl``, ``tp``-GPU instances filling the
    node, :func:`perfmodel.serve.max_throughput`) with its GPUs capped at ``(server_cap_w - non-GPU power) /
    GPUs``. The non-GPU share is the rating's (hwdb ``rated_node_power_w``); a system without one is an error.

    Parameters
    ----------
    model_ : str, dict or perfmodel.llm.Model
        The served model (a preset id, fields or a model).
    system : str, Spec, tuple or Cluster
        The server (a system with a rated node power: ``dgx-a100``, ``dgx-h100``, ``dgx-b200``).
    facility_power_w : float
        The facility's power budget, W (> 0).
    server_cap_w : float or sequence of float
        Power cap per server, W (at most its rating), one value or several (one row each).
    tp : int
        GPUs per serving instance (default 8).
    isl, osl : int
        Prompt and output tokens per request (default 1024 and 256).
    dtype : str
        Weights' dtype (default ``"bf16"``).
    framework : str
        Serving framework class (default ``"vllm"``).
    **options
        Further keyword options of :func:`perfmodel.serve.max_throughput`.

    Returns
    -------
    polars.DataFrame
        One row per cap: ``server_cap_w`` and ``gpu_cap_w`` (W), ``servers`` (that fit the budget capped),
        ``servers_uncapped`` (at the rating), ``extra_servers_fraction`` (fraction),
        ``tokens_per_s_per_server`` and ``tokens_per_s_per_server_uncapped`` (output tokens/s),
        ``throughput_loss_fraction`` (per server, fraction), ``facility_tokens_per_s`` and
        ``facility_tokens_per_s_uncapped`` (output tokens/s, all servers) and ``mean_power_per_gpu_w`` (W,
        capped).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A system without a rated node power, a budget that is not > 0, or a cap above the rating or leaving
        the GPUs no more than their idle power.

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.power.oversubscription("llama3.1-8b", "dgx-h100", 1e6, [8000, 9000], tp=1, isl=512, osl=128)
    >>> df["servers"].to_list(), df["servers_uncapped"].to_list(), df["gpu_cap_w"].to_list()
    ([125, 111], [98, 98], [425.0, 550.0])
    >>> [f"{x:.1%}" for x in df["throughput_loss_fraction"]]
    ['15.6%', '9.2%']
    """
    from . import serve

    spec = hwdb.resolve(system, "system")
    rated_w = _rated(spec)
    if rated_w is None:
        have = [s for s in hwdb.ids("system") if _rated(hwdb.get(s, "system")) is not None]
        raise InvalidArgumentError(
            f"argument `system`: '{spec.id}' has no rated node power in hwdb (rated_node_power_w); systems with one: {have}"
        )
    if isinstance(facility_power_w, bool) or not (
        isinstance(facility_power_w, (int, float))
        and math.isfinite(facility_power_w)
        and facility_power_w > 0
    ):
        raise InvalidArgumentError(
            f"argument `facility_power_w`: is {facility_power_w!r}; expected watts > 0"
        )
    per_node = int(spec["devices_per_node_count"])
    rated = rated_w
    nb = node_power(spec, 0.0)
    non_gpu = nb["non_gpu_w"]
    caps: list[Any] = (
        [server_cap_w] if np.ndim(server_cap_w) == 0 else [*np.asarray(server_cap_w, dtype=object)]
    )
    pmod = model(spec, dtype=dtype)
    instances = per_node // tp
    base = serve.max_throughput(
        model_, spec, tp=tp, isl=isl, osl=osl, dtype=dtype, framework=framework, **options
    )
    base_server = base.output_tokens_per_s * instances
    n_uncapped = math.floor(facility_power_w / rated)
    rows = []
    for cap in caps:
        if (
            isinstance(cap, bool)
            or not isinstance(cap, (int, float))
            or not math.isfinite(cap)
            or cap > rated
        ):
            raise InvalidArgumentError(
                f"argument `server_cap_w`: is {cap!r}; expected watts at most the server rating ({rated:.0f} W)"
            )
        gpu_cap = (cap - non_gpu) / per_node
        if gpu_cap <= pmod.idle_w:
            raise InvalidArgumentError(
                f"argument `server_cap_w`: {cap:.0f} W leaves {gpu_cap:.0f} W per GPU after {non_gpu:.0f} W of "
                f"non-GPU power, not above the GPU's idle {pmod.idle_w:.0f} W"
            )
        gpu_cap = min(gpu_cap, pmod.tdp_w)
        sim = serve.max_throughput(model_, spec, tp=tp, isl=isl, osl=osl, dtype=dtype, framework=framework,
                                   power_cap_w=gpu_cap, **options)  # fmt: skip
        server = sim.output_tokens_per_s * instances
        n = math.floor(facility_power_w / cap)
        rows.append({
            "server_cap_w": float(cap), "gpu_cap_w": gpu_cap, "servers": n, "servers_uncapped": n_uncapped,
            "extra_servers_fraction": n / n_uncapped - 1 if n_uncapped else float("inf"),
            "tokens_per_s_per_server": server, "tokens_per_s_per_server_uncapped": base_server,
            "throughput_loss_fraction": 1 - server / base_server,
            "facility_tokens_per_s": n * server, "facility_tokens_per_s_uncapped": n_uncapped * base_server,
            "mean_power_per_gpu_w": sim.mean_power_per_gpu_w,
        })  # fmt: skip
    return pl.DataFrame(rows)


# ---- training -----------------------------------------------------------------------------------------------

_IDLE_PARTS = ("tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm", "launch")


@keyword_options()
def step_energy(estimate: Any, system: Any, power_cap_w: float | None = None) -> dict[str, float]:
    """Energy of one training step of a :func:`perfmodel.llm.estimate` result on ``system``'s GPUs.

    The step's hardware FLOPs per GPU; HBM bytes per GPU counted from its memory model (weights read by the
    forward, backward and recompute passes of every micro-batch, activations written and read once, the
    optimizer step reading and writing weights, gradients and optimizer states); the exposed communication and
    pipeline bubble as GPU time without kernels.

    Parameters
    ----------
    estimate : perfmodel.llm.Estimate
        The step (from :func:`perfmodel.llm.estimate`).
    system : str, Spec, tuple or Cluster
        The system whose GPUs run it.
    power_cap_w : float, optional
        A power cap per GPU, W (None: uncapped): the step slows as the law says.

    Returns
    -------
    dict of str to float
        ``energy_per_step_j`` (one GPU, J), ``power_per_gpu_w`` (W), ``step_time_s`` (s; longer under a cap),
        ``cluster_energy_per_step_j`` (all GPUs, J), ``energy_per_token_j`` (J per training token),
        ``compute_utilization`` and ``memory_utilization`` (fractions of the dense peak and HBM bandwidth).

    Examples
    --------
    >>> import perfmodel as pm
    >>> e = pm.llm.estimate("llama3-8b", ("dgx-h100", 1), tp=1, global_batch=64, zero=1)
    >>> s = pm.power.step_energy(e, "dgx-h100")
    >>> f"{s['power_per_gpu_w']:.0f} W", f"{s['energy_per_token_j']:.3f} J/token"
    ('700 W', '0.080 J/token')
    >>> capped = pm.power.step_energy(e, "dgx-h100", power_cap_w=500)
    >>> capped["step_time_s"] > s["step_time_s"], capped["energy_per_token_j"] < s["energy_per_token_j"]
    (True, True)
    """
    spec = hwdb.resolve(system, "system")
    raw, plan = estimate.raw, estimate.plan
    pmod = model(spec, dtype=plan.get("dtype", "bf16"))
    gpus = float(plan["tp"] * plan["pp"] * plan["dp"] * plan.get("cp", 1))
    micro = plan["global_batch"] / (plan["micro_batch"] * plan["dp"])
    passes = 3.0 + (1.0 if plan.get("recompute") == "full" else 0.0)
    hbm = (passes * micro * raw["weights"] + 2.0 * raw["activations"]
           + 2.0 * (raw["weights"] + raw["optimizer_states"]) + raw["gradients"])  # fmt: skip
    idle = sum(raw[k] for k in _IDLE_PARTS)
    op = operate(pmod, raw["hardware_flops_per_step"] / gpus, hbm, raw["step_time_s"], idle, power_cap_w)
    e = float(op["energy_j"][0])
    tokens = raw["tokens_per_s"] * raw["step_time_s"]
    return {
        "energy_per_step_j": e,
        "power_per_gpu_w": float(op["power_w"][0]),
        "step_time_s": float(op["time_s"][0]),
        "cluster_energy_per_step_j": e * gpus,
        "energy_per_token_j": e * gpus / tokens,
        "compute_utilization": float(op["compute_utilization"][0]),
        "memory_utilization": float(op["memory_utilization"][0]),
    }


# ---- serving ------------------------------------------------------------------------------------------------


def serve_energy(engine_handle: Any, system: Any, dtype: str, inputs: dict[str, Any], tokens: Any, gpus: int,
                 power_cap_w: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Power and energy of uniform serving iterations (``inputs``: the iteration's ``prefill_seqs``,
    ``prompt_len``, ``cached``, ``decode_seqs``, ``context_len``, scalars or arrays) on an engine handle of
    :func:`perfmodel.serve.engine`, per GPU of the heaviest stage: ``power_per_gpu_w``, ``energy_per_gpu_j``,
    ``energy_j`` (the instance's ``gpus``), ``energy_per_token_j`` (over ``tokens``), ``compute_utilization``,
    ``memory_utilization``, ``clock_fraction`` and ``capped_time_s`` (the iteration under the cap)."""
    pmod = model(system, dtype=dtype)
    names = ("prefill_seqs", "prompt_len", "cached", "decode_seqs", "context_len")
    arrs = [np.asarray(inputs.get(k, 0.0), dtype=float) for k in names]
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    ps, pl_, ca, ds, cx = (np.ascontiguousarray(np.broadcast_to(a, shape).reshape(-1)) for a in arrs)
    r = _core.power_iteration(engine_handle, pmod.handle, ps, pl_, ca, ds, cx, check_cap(pmod, power_cap_w))
    tok = np.broadcast_to(np.asarray(tokens, dtype=float), shape).reshape(-1)
    out = {
        "power_per_gpu_w": r["power_w"],
        "energy_per_gpu_j": r["energy_j"],
        "energy_j": r["energy_j"] * gpus,
        "energy_per_token_j": r["energy_j"] * gpus / tok,
        "compute_utilization": r["compute_utilization"],
        "memory_utilization": r["memory_utilization"],
        "clock_fraction": r["clock_fraction"],
        "capped_time_s": r["time_s"],
    }
    if shape == ():
        return {k: float(v[0]) for k, v in out.items()}
    return {k: v.reshape(shape) for k, v in out.items()}


def add_run_energy(summary: dict[str, float], raw: dict[str, Any], pools: Sequence[tuple[str, int, int]],
                   system: Any = None) -> None:  # fmt: skip
    """Adds a simulated run's energy to its summary, from the simulator's power tally (``raw``: the dict of
    ``_core.serve_simulate`` or ``_core.serve_disaggregated``). ``pools``: ``(prefix, GPUs per instance,
    instances)`` of each pool whose tally ``raw`` holds under keys starting with ``prefix`` (``""`` for a
    co-located run; ``"prefill_"`` and ``"decode_"`` for a disaggregated one). Each GPU draws its idle power over
    the whole run (0 to the makespan, busy or not) plus, for each iteration of its instance, that iteration's
    energy above idle. Adds ``energy_j`` (every GPU of every pool, J), ``mean_power_per_gpu_w`` (W),
    ``peak_power_per_gpu_w`` (the busiest iteration's, W), ``energy_per_output_token_j``,
    ``energy_per_request_j``, ``energy_per_iteration_j`` (one instance's GPUs, above idle, mean over iterations),
    ``throttled_iterations``, ``gpus``; for a prefixed pool also its own ``{prefix}energy_j``,
    ``{prefix}mean_power_per_gpu_w``, ``{prefix}peak_power_per_gpu_w``, ``{prefix}throttled_iterations``; and,
    with ``system``, ``cluster_power_w`` (the GPUs' mean power plus the nodes' non-GPU power at the rating's
    share, :func:`node_power`; NaN where the system has no rating)."""
    makespan = float(raw["makespan_s"])
    n_out = summary["output_tokens_per_s"] * max(
        makespan - float(np.min(raw["arrival_s"])) if len(raw["arrival_s"]) else 0.0, 0.0
    )
    gpus = energy = dynamic = iterations = throttled = peak = idle_gpu_w = 0.0
    for prefix, gpus_per_replica, replicas in pools:
        g = float(gpus_per_replica * replicas)
        idle = float(raw[f"{prefix}idle_w"])
        e = idle * g * makespan + float(raw[f"{prefix}dynamic_j"]) * gpus_per_replica
        if prefix:
            summary[f"{prefix}energy_j"] = e
            summary[f"{prefix}mean_power_per_gpu_w"] = e / (g * makespan) if makespan > 0 else idle
            summary[f"{prefix}peak_power_per_gpu_w"] = float(raw[f"{prefix}peak_power_w"])
            summary[f"{prefix}throttled_iterations"] = float(raw[f"{prefix}throttled_iterations"])
        gpus += g
        energy += e
        dynamic += float(raw[f"{prefix}dynamic_j"]) * gpus_per_replica
        iterations += float(raw[f"{prefix}iterations"])
        throttled += float(raw[f"{prefix}throttled_iterations"])
        peak = max(peak, float(raw[f"{prefix}peak_power_w"]))
        idle_gpu_w += idle * g
    summary.update(
        gpus=gpus,
        energy_j=energy,
        mean_power_per_gpu_w=energy / (gpus * makespan) if makespan > 0 else idle_gpu_w / gpus,
        peak_power_per_gpu_w=peak,
        energy_per_output_token_j=energy / n_out if n_out > 0 else float("nan"),
        energy_per_request_j=energy / summary["num_requests"] if summary["num_requests"] else float("nan"),
        energy_per_iteration_j=dynamic / max(iterations, 1.0),
        throttled_iterations=throttled,
    )
    if system is not None:
        nodes = node_power(system, summary["mean_power_per_gpu_w"], gpus=int(gpus))
        summary["cluster_power_w"] = nodes["total_w"] if not math.isnan(nodes["non_gpu_w"]) else float("nan")


@keyword_options()
def steady_state(model_: Any, where: Any, batch: Any, prompt_len: float, output_len: Any, tp: int = 1,
                 dtype: str = "bf16", framework: str = "vllm", power_cap_w: float | None = None,
                 **figures: float) -> dict[str, Any]:  # fmt: skip
    """A serving engine in steady state at ``batch`` running sequences (scalars or arrays): each iteration
    decodes ``batch`` sequences at the mean context ``prompt_len + output_len / 2`` and carries the prefill of
    ``batch x prompt_len / output_len`` prompt tokens (chunked prefill spreads every admitted prompt over the
    decode iterations, so each output token brings ``prompt_len / output_len`` prompt tokens). Returns
    ``time_s`` (per iteration, under the cap when given), ``output_tokens_per_s`` (the instance's),
    ``power_per_gpu_w``, ``energy_per_token_j`` (all ``tp`` GPUs, per output token), utilisations."""
    from . import serve

    b = np.asarray(batch, dtype=float)
    o = np.asarray(output_len, dtype=float)
    if np.any(~np.isfinite(b)) or np.any(b < 1):
        raise InvalidArgumentError(f"argument `batch`: is {batch!r}; expected numbers >= 1")
    if not (np.isfinite(prompt_len) and prompt_len >= 0) or np.any(~np.isfinite(o)) or np.any(o < 1):
        raise InvalidArgumentError(
            f"argument `prompt_len`/`output_len`: expected prompt_len >= 0 and output_len >= 1; got {prompt_len!r}, {output_len!r}"
        )
    with np.errstate(all="ignore"):
        inputs = {"prefill_seqs": np.where(prompt_len > 0, 1.0, 0.0) + 0 * b, "prompt_len": b * prompt_len / o,
                  "cached": prompt_len / 2 + 0 * b, "decode_seqs": b, "context_len": prompt_len + o / 2 + 0 * b}  # fmt: skip
    if np.ndim(b) == 0 and np.ndim(o) == 0:
        inputs = {k: float(v) for k, v in inputs.items()}
    h = serve.engine(model_, where, tp=tp, dtype=dtype, framework=framework, **figures)  # type: ignore[arg-type]  # figures are keyword-only names
    spec, _ = serve._system_and_nodes(where, tp)
    e = serve_energy(h, spec, dtype, inputs, b, tp, power_cap_w)
    t = e["capped_time_s"]
    tps = b / t
    return {
        "time_s": t,
        "output_tokens_per_s": float(tps) if np.ndim(tps) == 0 else tps,
        "power_per_gpu_w": e["power_per_gpu_w"],
        "energy_per_token_j": e["energy_per_token_j"],
        "compute_utilization": e["compute_utilization"],
        "memory_utilization": e["memory_utilization"],
    }
