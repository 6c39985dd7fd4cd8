"""Validation suite ``serving``: the serving model against published serving measurements
(``perfmodel/data/serving_measurements.csv``; cases and the fit/holdout split in :mod:`.serving_cases`,
rationale in docs/serving_validation.md).

Splitwise phase times (Patel et al., ISCA'24; Mutinifni/splitwise-sim ``data/perf_model.csv``): prefill time of
``batch`` prompts, and the mean decode iteration of ``batch`` sequences over a request of ``prompt`` +
``output`` tokens (mean context ``prompt + output / 2``). The Splitwise prototype ran on a 2023 vLLM without
CUDA graphs, so its iterations are priced eagerly (``cuda_graphs = 0``: the host launches every kernel).

The framework figures of each system (hwdb ``[[serving]]``, framework ``splitwise``: the prototype is its own
framework class, not vLLM v0.6+) are fitted on the ``fit`` rows
only (:func:`fit_splitwise`), by least squares on log(predicted / measured); ``tools/calibrate.py --serving``
writes them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import polars as pl

from .. import serve
from . import frame
from .serving_cases import split, splitwise_phase_cases

SUITE = "serving"
#: Systems with Splitwise rows, each fitted on its own.
SPLITWISE_SYSTEMS = ("dgx-a100", "dgx-h100")
#: Framework figures the Splitwise fit sets, with (lower, upper) bounds.
#: The paged-attention fraction is left at 1 (the stream rate): fitted on TP 8 alone it trades off against the
#: launch figure (both make TP 8 decode slow) and then misses TP 2/4 by 65% (session 6, NOTES.md).
SPLITWISE_FIGURES: dict[str, tuple[float, float]] = {
    "kernel_time_scale": (0.5, 3.0),
    "comm_bandwidth_scale": (0.05, 1.5),
    "collective_sync_s": (0.0, 2e-4),
    "iteration_overhead_s": (0.0, 0.05),
    "prefill_overhead_s": (0.0, 0.1),
}
#: Starting points (in units of ``_SCALE``) of the fit.
_STARTS = ([1.0, 1.0, 1.0, 1.0, 1.0], [1.3, 0.3, 2.0, 10.0, 20.0], [1.1, 0.5, 1.5, 0.1, 5.0])
_SCALE = np.array([1.0, 1.0, 1e-5, 1e-3, 1e-3])


def splitwise_frame() -> pl.DataFrame:
    """Splitwise prefill and decode rows (not the end-to-end rows) with their role."""
    return split(splitwise_phase_cases()).filter(pl.col("phase").is_in(["prefill", "decode"]))


def _predict_phase(r: dict[str, Any], figures: dict[str, float]) -> float:
    common: dict[str, Any] = {
        "tp": r["tp"],
        "pp": r["pp"] or 1,
        "batch": r["batch_size"],
        "framework": "splitwise",
        **figures,
    }
    if r["phase"] == "prefill":
        return float(
            serve.prefill(r["model_id"], r["system_id"], prompt_len=r["prompt_tokens"], **common).time_s
        )
    ctx = r["prompt_tokens"] + r["output_tokens"] / 2
    return float(serve.decode(r["model_id"], r["system_id"], context_len=ctx, **common).time_s)


#: Systems whose Splitwise rows hold one TP degree only take the collective figures of a system with several:
#: at one degree the collectives' bandwidth and sync trade off against the kernel factor (same software, the
#: same NVSwitch-class node fabric; an assumption, said so in fitted_on).
COMM_FROM: dict[str, str] = {"dgx-h100": "dgx-a100"}
_COMM_FIGURES = ("comm_bandwidth_scale", "collective_sync_s")


def fit_splitwise(
    system: str, fixed: dict[str, float] | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """The ``splitwise`` framework figures of ``system`` fitted on its Splitwise ``fit`` rows, and a report (rows,
    median and max error on them). ``fixed`` figures are held at their values (default: the collective figures
    of :data:`COMM_FROM`'s system, fitted first)."""
    if fixed is None and system in COMM_FROM:
        base, _ = fit_splitwise(COMM_FROM[system])
        fixed = {k: base[k] for k in _COMM_FIGURES}
    fixed = fixed or {}
    from scipy.optimize import least_squares

    rows = [
        r for r in splitwise_frame().iter_rows(named=True) if r["role"] == "fit" and r["system_id"] == system
    ]
    if not rows:
        raise ValueError(f"no Splitwise fit rows on '{system}'")
    free = [i for i, n in enumerate(SPLITWISE_FIGURES) if n not in fixed]
    names = [list(SPLITWISE_FIGURES)[i] for i in free]
    lo = np.array([SPLITWISE_FIGURES[n][0] for n in names])
    hi = np.array([SPLITWISE_FIGURES[n][1] for n in names])
    scale = _SCALE[free]

    def residuals(x: np.ndarray) -> np.ndarray:
        figs = {**fixed, **dict(zip(names, (x * scale).tolist(), strict=True))}
        return np.array([math.log(_predict_phase(r, figs) / r["measured_s"]) for r in rows])

    # Overheads enter through max() and bounds: the cost has flat directions, so several starts.
    starts = _STARTS
    fits = [
        least_squares(residuals, np.array(x0)[free], bounds=(lo / scale, hi / scale), diff_step=1e-3)
        for x0 in starts
    ]
    fit = min(fits, key=lambda f: f.cost)
    figures = {**fixed, **dict(zip(names, (fit.x * scale).tolist(), strict=True))}
    figures = {n: figures[n] for n in SPLITWISE_FIGURES}
    err = np.abs(np.exp(residuals(fit.x)) - 1)
    report = {"rows": len(rows), "median_abs_error": float(np.median(err)), "max_abs_error": float(err.max())}
    return figures, report


def splitwise_fitted_on(system: str) -> str:
    """What ``system``'s splitwise figures are fitted on, for hwdb ``fitted_on``."""
    f = splitwise_frame().filter(pl.col("system_id") == system)
    fit = f.filter(pl.col("role") == "fit")
    held = f.filter(pl.col("role") == "holdout")

    def desc(fr: pl.DataFrame) -> str:
        return ", ".join(
            f"{m} TP{t}" for m, t in fr.select("model_id", "tp").unique().sort(["model_id", "tp"]).iter_rows()
        )

    return (
        f"Splitwise phase times (Mutinifni/splitwise-sim data/perf_model.csv; a 2023 vLLM-based prototype run eagerly, "
        f"no CUDA graphs): {fit.height} prefill and decode rows of {desc(fit)} on {system}; held out: {held.height} rows "
        f"({desc(held) or 'none'}) and every other serving suite row. Least squares on log(predicted/measured) "
        f"(perfmodel.validation.serving.fit_splitwise). Caveat: these are the 2023 prototype's figures, not vLLM v0.6+'s"
        + (
            f"; comm_bandwidth_scale and collective_sync_us taken from {COMM_FROM[system]}'s fit (this system's rows hold "
            "one TP degree, where they trade off against the kernel factor; same software and NVSwitch-class fabric)"
            if system in COMM_FROM
            else ""
        )
    )


def splitwise_rows() -> list[dict[str, Any]]:
    """Suite rows for every Splitwise prefill and decode measurement (excluded rows left out)."""
    out = []
    for r in splitwise_frame().iter_rows(named=True):
        if r["role"] == "excluded":
            continue
        params = {
            "model": r["model_id"], "tp": r["tp"], "phase": r["phase"], "batch": r["batch_size"],
            "prompt_tokens": r["prompt_tokens"], "output_tokens": r["output_tokens"], "csv_row": r["row"],
        }  # fmt: skip
        out.append(
            {
                "suite": SUITE,
                "group": f"splitwise_{r['phase']}",
                "system": r["system_id"],
                "operation": f"{r['model_id']} {r['phase']} (Splitwise, vLLM-based prototype)",
                "params": json.dumps(params, sort_keys=True),
                "metric": "prompt_time" if r["phase"] == "prefill" else "token_time_per_iteration",
                "unit": "s",
                "measured": float(r["measured_s"]),
                "predicted": _predict_phase(r, {}),
                "role": r["role"],
                "source": r["source"],
            }
        )
    return out


#: The vLLM blog's light-load decode interval (v0.6.0 perf update, Llama-3-8B on one H100) is predicted as one
#: decode iteration of one sequence at the ShareGPT mean context of the same post (202 prompt + 179 / 2 output
#: tokens). The post gives neither the batch nor the context, so the row is reported, not a target.
VLLM_BLOG_CONTEXT = 202 + 179 / 2


def vllm_blog_rows() -> list[dict[str, Any]]:
    """The vLLM blog posts' one predictable figure (role ``reported``): the light-load decode interval of
    Llama-3-8B on one H100 under vLLM v0.6.0, against one uncalibrated ``vllm`` decode iteration (dgx-h100 has
    no ``vllm`` table). The blog's other rows are relative gains between vLLM versions (context only)."""
    from .serving_cases import measured_rows

    out = []
    for i, r, p in measured_rows("serving_latency_load"):
        if r["system"] != "H100 SXM (vLLM blog)" or r["metric"] != "decode_interval":
            continue
        d = serve.decode(
            "llama3-8b", "dgx-h100", tp=1, batch=1, context_len=VLLM_BLOG_CONTEXT, framework="vllm"
        )
        params = {"model": "llama3-8b", "tp": 1, "batch": 1, "context_len": VLLM_BLOG_CONTEXT, "csv_row": i,
                  "framework": p.get("framework")}  # fmt: skip
        out.append({
            "suite": SUITE, "group": "vllm_blog", "system": "dgx-h100", "operation": r["operation"],
            "params": json.dumps(params, sort_keys=True), "metric": "decode_interval", "unit": "s",
            "measured": float(r["value"]) * 1e-3, "predicted": float(d.iteration.time_s), "role": "reported",
            "source": r["source"],
        })  # fmt: skip
    return out


def run() -> pl.DataFrame:
    """Per-row predicted vs measured for the serving suite: Splitwise phase times, TensorRT-LLM offline
    throughput (:mod:`.serving_trtllm`), APEX vLLM trace replays (:mod:`.serving_apex`) and the vLLM blog's
    light-load decode interval (reported), each with the hwdb figures of its framework class on its system."""
    from . import serving_apex, serving_trtllm

    return frame(splitwise_rows() + serving_trtllm.rows() + serving_apex.rows() + vllm_blog_rows())
