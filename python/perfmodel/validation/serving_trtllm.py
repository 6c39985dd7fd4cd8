"""Serving suite, TensorRT-LLM part: offline maximum throughput against the TensorRT-LLM performance tables
(:func:`perfmodel.validation.serving_cases.trtllm_throughput_cases`).

Each table entry is predicted as :func:`perfmodel.serve.max_throughput` with ``framework="trtllm"`` (its
scheduler and memory defaults; figures from the system's hwdb ``[[serving]]`` table of framework ``trtllm``,
absent so far, so the uncalibrated engine): ``num_requests`` requests of ``isl`` prompt and ``osl`` output
tokens all arriving at once, the whole TP group's output tokens/s.

- In-flight batching rows (v1.0 trtllm-bench, v0.10 gptManagerBenchmark) simulate the table's own
  ``num_requests`` (1000-30000), capped at :data:`MAX_OUTPUT_TOKENS` generated tokens per simulation.
- Static-batch rows (v0.6.1 gptSessionBenchmark, v0.5 blog) have a ``batch_size`` and no request count: one
  batch is simulated, ``batch_size`` requests with ``max_num_seqs = batch_size`` (the scheduler's chunked
  prefill still admits the batch in 8192-token chunks, where the static engine ran the context phase whole).
- Not predicted, each with its reason (:func:`unpredicted`): models without a preset, systems not in hwdb,
  configurations that do not fit in memory (TensorRT-LLM ran them, so a non-fit is a model error), and rows the
  split excludes (published typos, ambiguous units).

:func:`fit` fits four ``trtllm`` framework figures of one system on its ``fit`` rows (the v0.10 Llama-2 7B/70B
tables) by least squares on log(predicted / measured).
"""

from __future__ import annotations

import json
import math
import time
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from .. import hwdb, llm, serve
from ..errors import PerfModelError
from .serving_cases import partition, split, trtllm_throughput_cases

SUITE = "serving"
GROUP = "trtllm_throughput"
SYSTEMS = ("dgx-a100", "dgx-h100")
#: Cap on ``num_requests x osl`` (generated tokens) of one simulation. Measured on the 2-core development
#: machine: the largest cases of the tables (2000 x 2048, 3000 x 2048, 1500 x 4096 generated tokens) take
#: 0.2-0.28 s each; no current case reaches the cap, it only bounds a future table with larger counts (the
#: throughput of an offline run changes by a few % once a run holds many full batches).
MAX_OUTPUT_TOKENS = 6_200_000
#: Framework figures :func:`fit` sets, with (lower, upper) bounds.
FIGURES: dict[str, tuple[float, float]] = {
    "kernel_time_scale": (0.5, 3.0),
    "comm_bandwidth_scale": (0.1, 2.0),
    "iteration_overhead_s": (0.0, 0.02),
    "per_sequence_overhead_s": (0.0, 5e-5),
}
#: Units the optimiser works in (so every variable is of order 1).
_SCALE = np.array([1.0, 1.0, 1e-3, 1e-6])
#: Starting points of the fit, in units of ``_SCALE``.
_STARTS = ([1.0, 1.0, 1.0, 1.0], [1.5, 0.5, 5.0, 10.0], [0.8, 0.25, 0.2, 30.0])

__all__ = [
    "SUITE", "GROUP", "SYSTEMS", "MAX_OUTPUT_TOKENS", "FIGURES", "cases", "predict", "num_requests",
    "unpredicted", "predictable", "fit", "fit_residuals", "rows", "engine_figures", "uncalibrated_figures", "fitted_on",
    "moe_attention_dp",
]  # fmt: skip


# ----------------------------------------------------------------------------------------- engine figures


@cache
def _engine_keys() -> frozenset[str]:
    return frozenset(serve.engine("llama2-7b", "dgx-h100", framework="trtllm").framework)


def engine_figures(figures: dict[str, float]) -> dict[str, Any]:
    """``figures`` as the installed engine names them: ``comm_time_scale`` (collective time multiplier) becomes
    ``comm_bandwidth_scale = 1 / comm_time_scale`` where the engine scales collective bandwidth instead."""
    keys = _engine_keys()
    out = dict(figures)
    if "comm_time_scale" in out and "comm_time_scale" not in keys and "comm_bandwidth_scale" in keys:
        out["comm_bandwidth_scale"] = 1.0 / out.pop("comm_time_scale")
    return out


def uncalibrated_figures() -> dict[str, float]:
    """Every framework figure the engine has at its uncalibrated value (scales and fractions 1, CUDA graphs on,
    host times 0): overrides whatever hwdb ``[[serving]]`` table a system has."""
    one = {"cuda_graphs", "decode_attention_fraction"}
    return {k: (1.0 if k in one or k.endswith("_scale") else 0.0) for k in _engine_keys()}


# ------------------------------------------------------------------------------------------------- cases


@cache
def _cases() -> pl.DataFrame:
    return split(trtllm_throughput_cases())


def cases() -> pl.DataFrame:
    """The TensorRT-LLM throughput cases with their split (``role``)."""
    return _cases()


def num_requests(case_row: dict[str, Any]) -> int | None:
    """Requests simulated for a case: the table's count capped at :data:`MAX_OUTPUT_TOKENS` generated tokens;
    one batch of ``batch_size`` for static-batch rows; None (max_throughput's default) when neither is given."""
    if case_row["batching"] == "static" and case_row.get("batch_size"):
        return int(case_row["batch_size"])
    n = case_row.get("num_requests")
    if n is None:
        return None
    return max(1, min(int(n), MAX_OUTPUT_TOKENS // int(case_row["osl"])))


def _skip_reason(r: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, reason) when a case is not predicted before simulating it, else None."""
    if r["role"] == "excluded":
        return "excluded", f"excluded by the split: {r['caveat'] or 'ambiguous per-GPU vs whole-group units'}"
    if r["model_id"] not in llm.presets():
        return "no_preset", f"model '{r['model']}' ({r['model_id']}) has no perfmodel.llm preset"
    try:
        hwdb.get(r["system_id"], "system")
    except PerfModelError:
        return "no_system", f"system '{r['system_id']}' ({r['system']}) is not in hwdb"
    if r["osl"] is None:
        return "no_osl", "the table gives no output length"
    return None


def framework_of(r: dict[str, Any]) -> str:
    """The framework class of a case: ``trtllm-pytorch`` for the v1.0-era tables (trtllm-bench on the PyTorch
    backend), ``trtllm`` (the TensorRT engine) for the rest."""
    return "trtllm-pytorch" if r["framework_version"] == "v1.0" else "trtllm"


def kv_dtype_of(r: dict[str, Any]) -> str | None:
    """The KV cache format of a case, fp8 for:

    - the v1.0-era fp8 rows, whose checkpoints are NVIDIA ModelOpt FP8 builds (the row's params: "fp8
      (ModelOpt)"), which carry ``kv_cache_quant_algo: FP8`` in their hf_quant_config.json (ModelOpt's export
      format) and so run an fp8 KV cache in TensorRT-LLM;
    - the v0.10 fp8 rows: the v0.10 perf-overview.md builds every engine from a network configuration file
      ("Network Configuration Files"; GPT-J, Falcon-180B, Llama-2 7B/70B, Llama-3 8B/70B, Mixtral-8x7B), each
      with ``"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}``, removed only for A100
      ("Running on A100"), so the H100 FP8 columns ran an fp8 KV cache;
    - the v0.6.1 fp8 rows, whose table says "fp8 (fp8 KV)".

    16-bit otherwise (fp16 rows; the v0.5 blog's fp8 row states no KV format)."""
    dtype = str(json.loads(r["params"]).get("dtype", "") if r.get("params") else "").lower()
    if "modelopt" in dtype or "fp8 kv" in dtype:
        return "fp8"
    if r["framework_version"] == "v0.10" and r["dtype"] == "fp8":
        return "fp8"
    return None


def _engine_limits(r: dict[str, Any]) -> dict[str, Any]:
    """The scheduler limits and policy of a case's run (v0.10 rows: "max_batch_size 2048, max_num_tokens 2048,
    ..." and the documented ``max_utilization`` policy), as simulator options; the trtllm defaults otherwise."""
    import re

    text = json.loads(r["params"]).get("framework", "") if r.get("params") else ""
    out: dict[str, Any] = {}
    if m := re.search(r"max_num_tokens (\d+)", text):
        out["max_num_batched_tokens"] = int(m.group(1))
    if m := re.search(r"max_batch_size (\d+)", text):
        out["max_num_seqs"] = int(m.group(1))
    if r["framework_version"] == "v0.10":
        # The v0.10 perf-overview.md "Commands" table runs gptManagerBenchmark with
        # `--scheduler_policy max_utilization` (the executor's default is guaranteed_no_evict).
        out["scheduler_policy"] = "max_utilization"
    return out


#: trtllm-bench's ``--kv_cache_free_gpu_mem_fraction`` default (the v1.0-era perf-overview.md: "the default
#: setting of 0.90"; some runs used 0.95, which ones is not published).
BENCH_KV_FRACTION = 0.9


def trtllm_bench_settings(r: dict[str, Any]) -> tuple[int, int]:
    """``(max_batch_size, max_num_tokens)`` trtllm-bench derives for a v1.0-era case, whose published command
    (``trtllm-bench ... throughput --dataset ... --backend pytorch``) sets neither: ``get_settings`` ->
    ``get_benchmark_engine_settings`` -> ``calc_engine_setting`` and ``finetune_setting``
    (tensorrt_llm/bench/build/tuning.py), with chunked prefill off (``--enable_chunked_context`` defaults to
    off: ``max_num_tokens`` is raised to ``max_isl + max_batch_size``, tensorrt_llm/bench/benchmark/utils/
    general.py). The heuristic: engine size = parameters x bytes per element (FP8 1); available = device memory x
    GPUs - engine size; KV bytes per token = 2 x layers x max(tp, kv_heads) x head_dim x KV bytes; requests
    that fit = ``BENCH_KV_FRACTION`` x available / (KV bytes per token x (isl + osl)); the batch rounded up (to
    32 below 256 requests, at least 64; 128 below 1024; else 256; capped at 4096 / pp) and tokens = batch x (1 +
    isl/osl) rounded up (to 256 below 4096, at least 2048; 512 below 8192; else 1024; capped at 32768). Device
    memory here is hwdb's capacity (NVML reports 79.6 GiB for an H100 80GB; hwdb has 80)."""
    m = llm.model(r["model_id"])
    f = m.fields
    tp, pp = int(r["tp"]), int(r["pp"] or 1)
    isl, osl = int(r["isl"]), int(r["osl"])
    elem = {"fp8": 1.0, "fp4": 0.5, "nvfp4": 0.5, "mxfp4": 0.5, "int4": 0.5}.get(str(r["dtype"]), 2.0)
    kv_elem = 1.0 if kv_dtype_of(r) == "fp8" else 2.0
    head_dim = f.get("head_dim") or f["hidden"] / f["heads"]
    kv_gib_per_token = 2 * f["layers"] * max(tp, f["kv_heads"]) * head_dim * kv_elem / 2**30
    system = hwdb.get(r["system_id"], "system")
    total_gib = float(hwdb.get(system.get("device"), "device").hbm_capacity_gib) * tp * pp
    available = total_gib - m.params * elem / 2**30
    requests = BENCH_KV_FRACTION * available / (kv_gib_per_token * (isl + osl))
    raw_bs = min(requests, 4096) / pp
    raw_tokens = min(raw_bs * (1 + isl / osl), 32768)
    bs = _round_up(raw_bs, ((256, 32), (1024, 128)), 256, least=64)
    tokens = _round_up(raw_tokens, ((4096, 256), (8192, 512)), 1024, least=2048)
    return bs, max(tokens, isl + bs)


def _round_up(x: float, rungs: tuple[tuple[float, int], ...], step: int, least: int) -> int:
    """``x`` rounded up to the multiple of the first rung's step whose limit it is below (``step`` beyond the
    last), at least ``least``: trtllm-bench's rounding of its batch size and token budget."""
    for limit, multiple in rungs:
        if x < limit:
            return max(least, multiple * math.ceil(x / multiple))
    return max(least, step * math.ceil(x / step))


def _bench_limits(r: dict[str, Any]) -> dict[str, Any]:
    """Simulator limits of a v1.0-era (trtllm-bench) case, ``{}`` for the others: the batch size and token
    budget of :func:`trtllm_bench_settings`, with trtllm-bench's ``--scheduler_policy`` default
    ``guaranteed_no_evict`` (tensorrt_llm/bench/benchmark/throughput.py; the default users report for v0.17,
    NVIDIA/TensorRT-LLM#3122): a request is admitted only when the blocks of its whole prompt and output can be
    reserved (the simulator's ``scheduler_policy``; the v0.10 rows state ``max_utilization``)."""
    if r["framework_version"] != "v1.0":
        return {}
    bs, tokens = trtllm_bench_settings(r)
    return {"max_num_seqs": bs, "max_num_batched_tokens": tokens, "scheduler_policy": "guaranteed_no_evict"}


def moe_attention_dp(r: dict[str, Any]) -> dict[str, Any]:
    """The plan options of a case under the reading that the v1.0-era MoE rows ran data-parallel attention with
    expert parallelism over the TP ranks (TensorRT-LLM perf-overview.md, "For MoE models": ``trtllm-bench --tp
    $tp_size --pp $pp_size --ep $ep_size`` with ``enable_attention_dp: true``; the EP degree of each row is not
    published: assumed ``ep = tp``): ``{"ep": tp, "attention_dp": True}`` for such rows, ``{}`` otherwise. Not
    the suite's default (see NOTES.md: it makes every MoE group worse)."""
    if r["framework_version"] != "v1.0" or int(r["pp"] or 1) != 1:
        return {}
    if llm.model(r["model_id"]).fields.get("experts", 0) <= 1:
        return {}
    return {"ep": int(r["tp"]), "attention_dp": True}


def predict(
    case_row: dict[str, Any], figures: dict[str, float] | None = None, attention_dp: bool = False
) -> float:
    """Predicted whole-TP-group output tokens/s of one case (a row of :func:`cases`) with framework
    ``figures`` overriding the system's hwdb ``trtllm`` figures (none: hwdb as is). ``attention_dp``: predict
    the v1.0 MoE rows with data-parallel attention and ``ep = tp`` (:func:`moe_attention_dp`)."""
    r = case_row
    opts: dict[str, Any] = _engine_limits(r)
    if attention_dp:
        opts.update(moe_attention_dp(r))
    else:
        opts.update(_bench_limits(r))
    if r["batching"] == "static" and r.get("batch_size"):
        opts["max_num_seqs"] = int(r["batch_size"])
        # A static engine (gptSessionBenchmark) allocates the whole batch's KV when it builds, so the batch
        # runs together; the simulated cache (a fraction of free memory) must not serialise it by reserving.
        opts["scheduler_policy"] = "max_utilization"
    sim = serve.max_throughput(
        r["model_id"], r["system_id"], tp=int(r["tp"]), pp=int(r["pp"] or 1), isl=int(r["isl"]),
        osl=int(r["osl"]), dtype=r["dtype"], kv_dtype=kv_dtype_of(r), framework=framework_of(r),
        num_requests=num_requests(r),
        **opts, **engine_figures(figures or {}),
    )  # fmt: skip
    return float(sim.output_tokens_per_s)


def _fits(r: dict[str, Any]) -> str | None:
    """None when the case's instance fits in memory as the ``trtllm`` class allocates it, else why not."""
    seqs = int(r["batch_size"]) if r["batching"] == "static" and r.get("batch_size") else None
    try:
        mem = serve.memory(r["model_id"], r["system_id"], tp=int(r["tp"]), pp=int(r["pp"] or 1), dtype=r["dtype"],
                           kv_dtype=kv_dtype_of(r), framework=framework_of(r), max_num_seqs=seqs)  # fmt: skip
    except PerfModelError as exc:
        return str(exc)
    return None if mem.fits else mem.explain()


@cache
def _partition() -> tuple[tuple[int, ...], tuple[tuple[int, str, str], ...]]:
    """(indices of predictable cases, (index, kind, reason) of the others)."""

    def skip(r: dict[str, Any]) -> tuple[str, str] | None:
        reason = _skip_reason(r)
        if reason is None and (why := _fits(r)) is not None:
            return ("does_not_fit", why)
        return reason

    return partition(_cases(), skip)


def predictable() -> pl.DataFrame:
    """The cases :func:`rows` predicts."""
    return _cases()[list(_partition()[0])]


def unpredicted() -> pl.DataFrame:
    """Cases not predicted, one row each with ``kind`` (``no_preset``, ``no_system``, ``does_not_fit``,
    ``excluded``, ``no_osl``) and ``reason``."""
    bad = _partition()[1]
    f = _cases()[[i for i, _, _ in bad]].select(
        "row", "model", "model_id", "system_id", "framework_version", "tp", "pp", "dtype", "isl", "osl",
        "batch_size", "num_requests", "output_tokens_per_s", "role",
    )  # fmt: skip
    return f.with_columns(
        kind=pl.Series([k for _, k, _ in bad], dtype=pl.String),
        reason=pl.Series([w for _, _, w in bad], dtype=pl.String),
    )


# --------------------------------------------------------------------------------------------------- fit


def fit_residuals(
    system: str, framework: str = "trtllm"
) -> tuple[Any, list[np.ndarray], tuple[np.ndarray, np.ndarray], list[dict[str, Any]]]:
    """The least-squares problem of :func:`fit` on ``system``: ``(residuals, starts, (lo, hi), rows)`` where
    ``residuals(x)`` is log(predicted / measured) over the system's predictable ``fit`` rows for the scaled
    figure vector ``x`` (figures ``x * _SCALE`` in the order of :data:`FIGURES`)."""
    f = predictable().filter((pl.col("role") == "fit") & (pl.col("system_id") == system))
    rows_ = [r for r in f.iter_rows(named=True) if framework_of(r) == framework]
    if not rows_:
        raise ValueError(f"no {framework} fit rows on '{system}'")
    names = list(FIGURES)
    lo = np.array([FIGURES[n][0] for n in names]) / _SCALE
    hi = np.array([FIGURES[n][1] for n in names]) / _SCALE

    def residuals(x: np.ndarray) -> np.ndarray:
        figs = dict(zip(names, (np.asarray(x) * _SCALE).tolist(), strict=True))
        return np.array([math.log(predict(r, figs) / r["output_tokens_per_s"]) for r in rows_])

    return residuals, [np.array(s, dtype=float) for s in _STARTS], (lo, hi), rows_


def fit(system: str, framework: str = "trtllm") -> tuple[dict[str, float], dict[str, Any]]:
    """The ``trtllm`` framework figures of ``system`` fitted on its ``fit`` rows (:data:`FIGURES`, bounded;
    least squares on log(predicted / measured) from each of three starts, the best kept), and a report: rows,
    median and max |error| on them, the uncalibrated engine's on the same rows, cost, seconds taken (on the 2-core development machine, two fits
    at once: dgx-a100 13 rows 23 evaluations 190 s, dgx-h100 31 rows 39 evaluations 430 s; the three starts end at
    the same cost)."""
    from scipy.optimize import least_squares

    t0 = time.perf_counter()
    residuals, starts, (lo, hi), rows_ = fit_residuals(system, framework)
    x_unc = np.array([1.0, 1.0, 0.0, 0.0])
    err0 = np.abs(np.expm1(residuals(x_unc)))
    fits = [least_squares(residuals, x0, bounds=(lo, hi), diff_step=1e-3, x_scale=1.0) for x0 in starts]
    best = min(fits, key=lambda f: f.cost)
    figures = dict(zip(FIGURES, (best.x * _SCALE).tolist(), strict=True))
    err = np.abs(np.expm1(best.fun))
    report = {
        "system": system,
        "rows": len(rows_),
        "median_abs_error": float(np.median(err)),
        "max_abs_error": float(err.max()),
        "uncalibrated_median_abs_error": float(np.median(err0)),
        "uncalibrated_max_abs_error": float(err0.max()),
        "cost": float(best.cost),
        "costs_by_start": [float(f.cost) for f in fits],
        "evaluations": int(sum(f.nfev for f in fits)),
        "seconds": time.perf_counter() - t0,
    }
    return figures, report


# -------------------------------------------------------------------------------------------------- rows


def rows(figures_by_system: dict[str, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """Suite rows for every predictable case: with ``figures_by_system[system]`` overriding that system's
    hwdb ``trtllm`` figures, or hwdb as is (None, or a system absent from the dict). About 13 s for the 179
    rows on the 2-core development machine."""
    figs = figures_by_system or {}
    out = []
    for r in predictable().iter_rows(named=True):
        n = num_requests(r)
        params = {
            "model": r["model_id"], "tp": r["tp"], "pp": r["pp"], "dtype": r["dtype"], "isl": r["isl"],
            "osl": r["osl"], "framework_version": r["framework_version"], "batching": r["batching"],
            "batch_size": r["batch_size"], "num_requests": r["num_requests"], "simulated_requests": n,
            "throughput_counts": r["throughput_counts"], "csv_row": r["row"],
        }  # fmt: skip
        out.append(
            {
                "suite": SUITE,
                "group": GROUP,
                "system": r["system_id"],
                "operation": f"{r['model_id']} TP{r['tp']} {r['dtype']} {r['isl']}/{r['osl']} max throughput "
                f"(TensorRT-LLM {r['framework_version']}, {r['batching']} batching)",
                "params": json.dumps(params, sort_keys=True),
                "metric": "output_tokens_per_s",
                "unit": "tokens/s",
                "measured": float(r["output_tokens_per_s"]),
                "predicted": predict(r, figs.get(r["system_id"])),
                "role": r["role"],
                "source": r["source"],
            }
        )
    return out


#: (system, framework class) pairs :func:`fit` calibrates.
FITS: tuple[tuple[str, str], ...] = (
    ("dgx-a100", "trtllm"),
    ("dgx-h100", "trtllm"),
    ("dgx-h100", "trtllm-pytorch"),
)


def fitted_on(system: str, framework: str = "trtllm") -> str:
    """What ``system``'s ``framework`` figures are fitted on, for hwdb ``fitted_on``."""
    p = predictable().filter(pl.col("system_id") == system)
    p = p.filter(pl.Series([framework_of(r) == framework for r in p.iter_rows(named=True)], dtype=pl.Boolean))
    fit_rows = p.filter(pl.col("role") == "fit")
    held = p.filter(pl.col("role") == "holdout")
    if framework == "trtllm-pytorch":
        return (
            f"TensorRT-LLM v1.0-era throughput tables (perf-overview.md, trtllm-bench on the PyTorch backend, fp8): "
            f"{fit_rows.height} rows of {', '.join(sorted(set(fit_rows['model_id'].to_list())))} on {system}, "
            f"simulated as offline runs (perfmodel.validation.serving_trtllm.fit); held out: {held.height} rows "
            "(Llama-3.1-405B and the MoE models Llama-4 Scout/Maverick and Qwen3-235B-A22B) and every other serving row"
        )
    models = ", ".join(sorted(set(fit_rows["model_id"].to_list())))
    return (
        f"TensorRT-LLM offline throughput tables (NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md, v0.10 "
        f"in-flight batching, trtllm-bench): {fit_rows.height} rows of {models} on {system}, simulated as offline runs "
        f"(perfmodel.validation.serving_trtllm.fit, least squares on log(predicted/measured)); held out: {held.height} "
        "rows (the other v0.10 models, every v1.0 row, the static-batch v0.6.1/v0.5 rows) and every other serving row"
    )
