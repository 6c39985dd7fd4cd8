"""Tidy validation cases for LLM serving (``pm.serve``) from ``perfmodel/data/serving_measurements.csv``.

Only ``params.kind == "measured"`` rows become cases; claims, simulator inputs and simulated rows are context
(see ``docs/serving_validation.md`` and ``serving_measurements.md`` next to the shared copy of the CSV). Each
function returns one polars frame per case type, with a ``case`` column naming it; every frame carries the
CSV's ``source`` and ``params`` (JSON) and the index of the CSV row(s) it comes from: ``row`` is the 0-based
index of the data row (header excluded; the row is on line ``row + 2`` of the file, no field spans lines),
``rows`` (a list) where one case aggregates several CSV rows.

- :func:`splitwise_phase_cases`: Splitwise per-phase prefill time, per-iteration decode time and end-to-end
  request time (one row per measurement, seconds);
- :func:`trtllm_throughput_cases`: TensorRT-LLM offline max-throughput tables (whole-TP-group output tokens/s);
- :func:`apex_replay_cases`: APEX vLLM / SGLang trace replays (one row per replay, metrics as columns);
- :func:`single_request_latency_cases`, :func:`mlenergy_cases`: TensorRT-LLM batch-1 latencies and the
  ML.ENERGY v3 latency/throughput/power sweep (for the power/energy work);
- :func:`load_trace`, :func:`synthetic_trace`: request traces for the replays;
- :func:`split`: the FIT/HOLDOUT roles (calibration per device and framework class, never per row).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import hwdb
from ..errors import InvalidArgumentError, PerfModelError

__all__ = [
    "CSV_PATH",
    "TRACE_DIR",
    "MODEL_IDS",
    "MISSING_PRESETS",
    "TraceError",
    "measured_rows",
    "model_id",
    "splitwise_phase_cases",
    "trtllm_throughput_cases",
    "apex_replay_cases",
    "single_request_latency_cases",
    "mlenergy_cases",
    "load_trace",
    "synthetic_trace",
    "trace_file",
    "split",
    "all_cases",
]

_DATA = Path(__file__).resolve().parent.parent / "data"
#: The packaged copy of the serving measurements.
CSV_PATH = _DATA / "serving_measurements.csv"
#: The packaged APEX request traces: ``<tokenizer>/<trace>.csv`` (tokenizer ``llama`` or ``mistral``).
TRACE_DIR = _DATA / "serving_traces"

#: Model name exactly as written in the CSV's ``params.model`` -> ``perfmodel.llm`` preset id. Instruct and
#: base checkpoints share the architecture (one id); "LLaMA(2)" in the TensorRT-LLM v0.5/v0.6.1 tables is
#: Llama 2; the FP8 Mistral-Large checkpoint is the same architecture as the bf16 one (dtype is a column).
MODEL_IDS: dict[str, str] = {
    # Splitwise (Mutinifni/splitwise-sim perf_model.csv)
    "Llama-2-70B": "llama2-70b",
    "BLOOM-176B": "bloom-176b",
    # TensorRT-LLM v1.0-era perf-overview (trtllm-bench, PyTorch backend)
    "Llama-3.1-8B-Instruct": "llama3.1-8b",
    "Llama-3.3-70B-Instruct": "llama3.3-70b",
    "Llama-3.1-405B-Instruct": "llama3.1-405b",
    "Llama-4-Scout-17B-16E (MoE)": "llama4-scout",
    "Llama-4-Maverick-17B-128E (MoE)": "llama4-maverick",
    "Qwen3-235B-A22B (MoE)": "qwen3-235b-a22b",
    # TensorRT-LLM v0.10.0 perf-overview
    "GPTJ 6B": "gpt-j-6b",
    "LLaMA v2 7B": "llama2-7b",
    "LLaMA v2 70B": "llama2-70b",
    "LLaMA v3 8B": "llama3-8b",
    "LLaMA v3 70B": "llama3-70b",
    "Mixtral 8x7B": "mixtral-8x7b",
    "Falcon 180B": "falcon-180b",
    # TensorRT-LLM v0.6.1 / v0.5 tables and the H100-vs-A100 blog
    "GPT-J 6B": "gpt-j-6b",
    "LLaMA(2) 7B": "llama2-7b",
    "LLaMA(2) 70B": "llama2-70b",
    # APEX replays
    "Llama-3.1-70B (meta-llama/Meta-Llama-3.1-70B or Llama-3.1-70B-Instruct)": "llama3.1-70b",
    "Mistral-Large-Instruct-2407 (123B)": "mistral-large-2407",
    "Mistral-Large-Instruct-2407-FP8 (alpindale ckpt, 123B)": "mistral-large-2407",
    "Mixtral-8x22B-Instruct-v0.1": "mixtral-8x22b",
    # ML.ENERGY v3 leaderboard and blog rows
    "meta-llama/Llama-3.1-8B-Instruct": "llama3.1-8b",
    "Qwen/Qwen3-8B": "qwen3-8b",
    "Qwen/Qwen3-32B": "qwen3-32b",
    "Llama-3.1-70B-Instruct": "llama3.1-70b",
    "Llama-3.1-405B": "llama3.1-405b",
}

#: Preset ids the cases use that ``perfmodel.llm.presets()`` did not have when this module was written (being
#: added separately). A suite predicts a case only when its ``model_id`` is a preset; the test checks every id
#: is either a preset or listed here.
MISSING_PRESETS: frozenset[str] = frozenset(
    {
        "bloom-176b",
        "gpt-j-6b",
        "llama3.1-8b",
        "llama3.1-70b",
        "llama3.1-405b",
        "llama3.3-70b",
        "llama4-scout",
        "llama4-maverick",
        "qwen3-8b",
        "qwen3-32b",
        "qwen3-235b-a22b",
    }
)

#: Framework classes: calibrations are per (device, class), never per row.
VLLM_LIKE = "vllm-like"
TRTLLM = "tensorrt-llm"


class TraceError(PerfModelError, ValueError):
    """A malformed request trace: names the file, the line and what is wrong."""


def model_id(name: str) -> str:
    """The preset id of a model as named in the CSV (:data:`MODEL_IDS`)."""
    try:
        return MODEL_IDS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"serving_measurements.csv: model '{name}' has no entry in MODEL_IDS"
        ) from None


@cache
def _raw_rows() -> tuple[dict[str, str], ...]:
    with CSV_PATH.open(newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def measured_rows(category: str | None = None) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """``(row, csv_row, params)`` for every ``kind == "measured"`` row (of ``category`` when given)."""
    out = []
    for i, r in enumerate(_raw_rows()):
        p = json.loads(r["params"])
        if p.get("kind") == "measured" and (category is None or r["category"] == category):
            out.append((i, r, p))
    return out


@cache
def _device_of(system_id: str) -> str:
    return str(hwdb.get(system_id, "system")["device"])


def _system_id(system: str) -> str:
    """The hwdb system of a CSV ``system`` string (all serving rows are 80 GB SXM parts in 8-GPU nodes)."""
    if "H200" in system:
        return "hgx-h200"
    if "H100" in system:
        return "dgx-h100"
    if "A100" in system:
        return "dgx-a100"
    raise InvalidArgumentError(f"serving_measurements.csv: system '{system}' maps to no hwdb system")


def _dtype(text: str) -> str:
    t = text.lower()
    for key, norm in (
        ("fp8", "fp8"),
        ("bf16", "bf16"),
        ("bfloat16", "bf16"),
        ("fp16", "fp16"),
        ("float16", "fp16"),
    ):
        if t.startswith(key):
            return norm
    raise InvalidArgumentError(f"serving_measurements.csv: dtype '{text}' is not fp8/bf16/fp16")


def _excluded(p: dict[str, Any]) -> bool:
    """The CSV's own caveat asks to exclude the row (a typo, a preempted/OOM run)."""
    return "exclude" in str(p.get("caveat", "")).lower()


def _common(i: int, r: dict[str, str], p: dict[str, Any]) -> dict[str, Any]:
    system_id = _system_id(r["system"])
    return {
        "row": i,
        "model": p["model"],
        "model_id": model_id(p["model"]),
        "system": r["system"],
        "system_id": system_id,
        "device": _device_of(system_id),
    }


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


_MS = {"ms": 1e-3, "ms/token": 1e-3, "s": 1.0, "s/token": 1.0}

_SPLITWISE_SCHEMA: dict[str, Any] = {
    "case": pl.String, "row": pl.Int64, "model": pl.String, "model_id": pl.String, "system": pl.String,
    "system_id": pl.String, "device": pl.String, "gpus": pl.Int64, "tp": pl.Int64, "pp": pl.Int64,
    "dtype": pl.String, "phase": pl.String, "metric": pl.String, "sweep": pl.String, "batch_size": pl.Int64,
    "prompt_tokens": pl.Int64, "output_tokens": pl.Int64, "measured_s": pl.Float64, "framework": pl.String,
    "framework_class": pl.String, "excluded": pl.Boolean, "caveat": pl.String, "params": pl.String,
    "source": pl.String,
}  # fmt: skip

_PHASES = {"prompt_time": "prefill", "token_time_per_iteration": "decode", "e2e_time": "e2e"}


def splitwise_phase_cases() -> pl.DataFrame:
    """One row per Splitwise measurement (DGX-A100 / DGX-H100, fp16, TP2/4/8, pp 1).

    ``phase``: ``prefill`` (``prompt_time``: the prompt phase of a batch of ``batch_size`` prompts of
    ``prompt_tokens`` each), ``decode`` (``token_time_per_iteration``: the mean time of one decode iteration
    of the batch over its ``output_tokens`` iterations, contexts ``prompt_tokens`` .. ``prompt_tokens +
    output_tokens - 1``) or ``e2e`` (``e2e_time``: prompt phase plus all decode iterations). ``measured_s`` is
    the CSV value in seconds (the CSV value is the median of the 5-15 repeats).
    """
    rows = []
    for i, r, p in measured_rows("splitwise_phase"):
        rows.append(
            {
                "case": "splitwise_phase",
                **_common(i, r, p),
                "gpus": p["gpus"],
                "tp": p["tp"],
                "pp": p.get("pp", 1),
                "dtype": _dtype(p["dtype"]),
                "phase": _PHASES[r["metric"]],
                "metric": r["metric"],
                "sweep": p["sweep"],
                "batch_size": p["batch_size"],
                "prompt_tokens": p["prompt_tokens"],
                "output_tokens": p["output_tokens"],
                "measured_s": float(r["value"]) * _MS[r["unit"]],
                "framework": p["framework"],
                "framework_class": VLLM_LIKE,
                "excluded": _excluded(p),
                "caveat": p.get("caveat"),
                "params": r["params"],
                "source": r["source"],
            }
        )
    return _frame(rows, _SPLITWISE_SCHEMA)


_TRT_SCHEMA: dict[str, Any] = {
    "case": pl.String, "row": pl.Int64, "model": pl.String, "model_id": pl.String, "system": pl.String,
    "system_id": pl.String, "device": pl.String, "gpus": pl.Int64, "tp": pl.Int64, "pp": pl.Int64,
    "dtype": pl.String, "isl": pl.Int64, "osl": pl.Int64, "batch_size": pl.Int64, "num_requests": pl.Int64,
    "framework": pl.String, "framework_version": pl.String, "framework_class": pl.String, "batching": pl.String,
    "metric": pl.String, "unit": pl.String, "value": pl.Float64, "output_tokens_per_s": pl.Float64,
    "throughput_counts": pl.String, "excluded": pl.Boolean, "caveat": pl.String, "params": pl.String,
    "source": pl.String,
}  # fmt: skip


def _trt_version(framework: str) -> str:
    if "v1.0" in framework:
        return "v1.0"
    m = re.search(r"v(\d+)\.(\d+)", framework)
    if not m:
        raise InvalidArgumentError(f"serving_measurements.csv: no TensorRT-LLM version in '{framework}'")
    return f"v{m.group(1)}.{m.group(2)}"


def trtllm_throughput_cases() -> pl.DataFrame:
    """TensorRT-LLM ``serving_throughput`` rows (every ``serving_throughput`` row of the CSV is TensorRT-LLM;
    there are no vLLM throughput rows).

    ``framework_version``: ``v1.0`` (trtllm-bench, PyTorch backend, 2025 docs), ``v0.10`` (gptManagerBenchmark),
    both ``batching == "inflight"`` at an infinite request rate with ``num_requests`` requests of ``isl``/``osl``
    tokens; ``v0.6`` (gptSessionBenchmark) and ``v0.5`` (the H100-vs-A100 blog), ``batching == "static"`` with
    a fixed ``batch_size``. ``output_tokens_per_s`` is the whole TP group's output throughput: the CSV value,
    times ``gpus`` for the per-GPU v0.6.1 H100 table. ``throughput_counts`` is ``"output"`` except for v0.10,
    whose doc calls the figure "token throughput" without saying whether prompt tokens count
    (``"unstated"``; treated as output tokens/s). ``excluded``: the published typo the CSV flags (GPT-J fp8
    128/2048 on H100, ~6x the H200 figure) and the v0.6.1 A100 rows with more than one GPU, whose column header
    ("out tok/s") leaves per-GPU vs whole group open (the values agree with v0.10's whole-group figures only
    when read as per GPU).
    """
    rows = []
    for i, r, p in measured_rows("serving_throughput"):
        if not p["framework"].startswith("TensorRT-LLM"):
            continue
        version = _trt_version(p["framework"])
        value = float(r["value"])
        per_gpu = r["metric"] == "output_throughput_per_gpu"
        ambiguous = "ambiguous" in str(p.get("caveat", ""))
        osl = p.get("osl")
        rows.append(
            {
                "case": "trtllm_throughput",
                **_common(i, r, p),
                "gpus": p["gpus"],
                "tp": p["tp"],
                "pp": p.get("pp", 1),
                "dtype": _dtype(p["dtype"]),
                "isl": p["isl"],
                "osl": osl if isinstance(osl, int) else None,
                "batch_size": p.get("batch_size"),
                "num_requests": p.get("num_requests"),
                "framework": p["framework"],
                "framework_version": version,
                "framework_class": TRTLLM,
                "batching": "inflight" if version in ("v1.0", "v0.10") else "static",
                "metric": r["metric"],
                "unit": r["unit"],
                "value": value,
                "output_tokens_per_s": value * p["gpus"] if per_gpu else value,
                "throughput_counts": "unstated" if r["metric"] == "total_token_throughput" else "output",
                "excluded": _excluded(p) or (ambiguous and p["gpus"] > 1),
                "caveat": p.get("caveat"),
                "params": r["params"],
                "source": r["source"],
            }
        )
    return _frame(rows, _TRT_SCHEMA)


_APEX_SCHEMA: dict[str, Any] = {
    "case": pl.String, "rows": pl.List(pl.Int64), "model": pl.String, "model_id": pl.String,
    "system": pl.String, "system_id": pl.String, "device": pl.String, "gpus": pl.Int64, "tp": pl.Int64,
    "ep": pl.Int64, "parallelism": pl.String, "dtype": pl.String, "framework": pl.String,
    "framework_version": pl.String, "framework_class": pl.String, "trace": pl.String,
    "trace_tokenizer": pl.String, "trace_file": pl.String, "rate_req_s": pl.Float64, "num_requests": pl.Int64,
    "trace_prompt_tokens_sum": pl.Int64, "trace_output_tokens_sum": pl.Int64,
    "served_prompt_tokens_sum": pl.Int64, "served_output_tokens_sum": pl.Int64, "mean_ttft_s": pl.Float64,
    "mean_tpot_s": pl.Float64, "sum_request_latency_s": pl.Float64, "mean_e2e_s": pl.Float64,
    "excluded": pl.Boolean, "caveat": pl.String, "params": pl.String, "source": pl.String,
}  # fmt: skip


def _tokenizer(mid: str) -> str:
    return "mistral" if mid.startswith(("mistral", "mixtral")) else "llama"


def trace_file(tokenizer: str, trace: str) -> str | None:
    """``"<tokenizer>/<trace>.csv"`` when that trace is packaged (under :data:`TRACE_DIR`), else None."""
    rel = f"{tokenizer}/{trace}.csv"
    return rel if (TRACE_DIR / rel).is_file() else None


def _int(x: Any) -> int | None:
    return None if x is None else int(round(float(x)))


def apex_replay_cases() -> pl.DataFrame:
    """One row per APEX trace replay on one replica (vLLM v0.6.0 or SGLang on H100-SXM-80GB).

    Metrics: ``mean_ttft_s`` (includes queueing), ``mean_tpot_s`` (token-weighted: the sum of per-token
    times over all generated tokens; vLLM only, SGLang's printed TPOT is implausible and is not in the CSV),
    ``sum_request_latency_s`` and ``mean_e2e_s`` (= sum / ``num_requests``). The trace is ``trace`` tokenized
    for ``trace_tokenizer`` (``llama`` for Llama, ``mistral`` for Mistral/Mixtral); ``trace_file`` is its path
    under :data:`TRACE_DIR` (:func:`load_trace`) or None for the summarization traces, which are not packaged:
    use :func:`synthetic_trace` with ``rate_req_s``, ``num_requests`` and the ``trace_*_tokens_sum`` columns.
    ``num_requests`` is the CSV's where given (vLLM rows), else the packaged trace's length, else the vLLM
    rows' count for the same trace and tokenizer (SGLang summarization). The ``served_*`` sums are what the
    server saw: prompts with the chat template, outputs short of the trace where requests stopped early (EOS).
    SGLang ``EP8`` is expert parallel over the 8 GPUs with attention tensor parallel (``tp`` 8, ``ep`` 8).
    """
    groups: dict[tuple[Any, ...], list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
    for i, r, p in measured_rows("serving_latency_load"):
        if "trace" not in p:
            continue
        par = p.get("plan") or p.get("parallelism")
        key = (p["model"], p["framework"], r["system"], par, p["trace"])
        groups.setdefault(key, []).append((i, r, p))
    known_counts = {
        (_tokenizer(model_id(p["model"])), p["trace"]): int(p["num_requests"])
        for _, _, p in measured_rows("serving_latency_load")
        if "trace" in p and p.get("num_requests")
    }
    out = []
    for (_model, framework, _system, par, trace), members in groups.items():
        i0, r0, p0 = members[0]
        common = _common(i0, r0, p0)
        metrics = {r["metric"]: float(r["value"]) for _, r, _ in members}
        tok = _tokenizer(common["model_id"])
        rel = trace_file(tok, trace)
        n = p0.get("num_requests")
        if n is None and rel is not None:
            n = load_trace(rel).height
        if n is None:
            n = known_counts.get((tok, trace))
        sglang = framework.startswith("SGLang")
        par_s = str(par)
        m = re.search(r"(\d+)", par_s)
        width = int(m.group(1)) if m else int(p0["tp"])
        total = metrics.get("sum_of_request_latencies")
        caveats = sorted({str(p["caveat"]) for _, _, p in members if p.get("caveat")})
        out.append(
            {
                "case": "apex_replay",
                "rows": [i for i, _, _ in members],
                **{k: v for k, v in common.items() if k != "row"},
                "gpus": p0.get("gpus_in_this_replica", p0.get("gpus")),
                "tp": p0.get("tp", width),
                "ep": width if par_s.startswith("EP") else 1,
                "parallelism": par_s,
                "dtype": _dtype(p0["dtype"]),
                "framework": "sglang" if sglang else "vllm",
                "framework_version": None if sglang else "v0.6.0",
                "framework_class": VLLM_LIKE,
                "trace": trace,
                "trace_tokenizer": tok,
                "trace_file": rel,
                "rate_req_s": float(p0["poisson_rate_req_s"]),
                "num_requests": n,
                "trace_prompt_tokens_sum": _int(p0["trace_prompt_tokens_sum"]),
                "trace_output_tokens_sum": _int(p0["trace_output_tokens_sum"]),
                "served_prompt_tokens_sum": _int(p0.get("served_prompt_tokens_sum")),
                "served_output_tokens_sum": _int(p0.get("served_output_tokens_sum")),
                "mean_ttft_s": metrics.get("mean_ttft"),
                "mean_tpot_s": metrics.get("mean_tpot"),
                "sum_request_latency_s": total,
                "mean_e2e_s": metrics.get(
                    "mean_request_latency", total / n if total is not None and n else None
                ),
                "excluded": any(_excluded(p) for _, _, p in members),
                "caveat": "; ".join(caveats) or None,
                "params": r0["params"],
                "source": r0["source"],
            }
        )
    return _frame(out, _APEX_SCHEMA)


_SRL_SCHEMA: dict[str, Any] = {
    "case": pl.String, "row": pl.Int64, "model": pl.String, "model_id": pl.String, "system": pl.String,
    "system_id": pl.String, "device": pl.String, "gpus": pl.Int64, "tp": pl.Int64, "dtype": pl.String,
    "isl": pl.Int64, "osl": pl.Int64, "batch_size": pl.Int64, "framework": pl.String,
    "framework_version": pl.String, "framework_class": pl.String, "metric": pl.String, "unit": pl.String,
    "value": pl.Float64, "measured_s": pl.Float64, "excluded": pl.Boolean, "caveat": pl.String,
    "params": pl.String, "source": pl.String,
}  # fmt: skip


def single_request_latency_cases() -> pl.DataFrame:
    """TensorRT-LLM v0.5 ``single_request_latency`` rows (static batching): ``first_token_latency`` (ms; also
    in seconds as ``measured_s``) at batch 1 (and batch 64 in the blog) and batch-1 generation
    ``output_throughput`` (tokens/s, ``measured_s`` null)."""
    rows = []
    for i, r, p in measured_rows("single_request_latency"):
        osl = p.get("osl")
        value = float(r["value"])
        rows.append(
            {
                "case": "single_request_latency",
                **_common(i, r, p),
                "gpus": p["gpus"],
                "tp": p["tp"],
                "dtype": _dtype(p["dtype"]),
                "isl": p["isl"],
                "osl": osl if isinstance(osl, int) else None,
                "batch_size": p["batch_size"],
                "framework": p["framework"],
                "framework_version": _trt_version(p["framework"]),
                "framework_class": TRTLLM,
                "metric": r["metric"],
                "unit": r["unit"],
                "value": value,
                "measured_s": value * _MS[r["unit"]] if r["unit"] in _MS else None,
                "excluded": _excluded(p),
                "caveat": p.get("caveat"),
                "params": r["params"],
                "source": r["source"],
            }
        )
    return _frame(rows, _SRL_SCHEMA)


_MLE_SCHEMA: dict[str, Any] = {
    "case": pl.String, "rows": pl.List(pl.Int64), "model": pl.String, "model_id": pl.String,
    "system": pl.String, "system_id": pl.String, "device": pl.String, "gpus": pl.Int64, "tp": pl.Int64,
    "dp": pl.Int64, "ep": pl.Int64, "dtype": pl.String, "max_num_seqs": pl.Int64,
    "avg_batch_size": pl.Float64, "avg_output_len": pl.Float64, "framework": pl.String,
    "framework_class": pl.String, "output_tokens_per_s": pl.Float64, "median_itl_s": pl.Float64,
    "p90_itl_s": pl.Float64, "power_total_w": pl.Float64, "power_per_gpu_w": pl.Float64,
    "energy_per_output_token_j": pl.Float64, "energy_per_request_j": pl.Float64, "excluded": pl.Boolean,
    "params": pl.String, "source": pl.String,
}  # fmt: skip

_MLE_METRICS = {
    "output_throughput": ("output_tokens_per_s", 1.0),
    "median_itl": ("median_itl_s", 1e-3),
    "p90_itl": ("p90_itl_s", 1e-3),
    "avg_power_total": ("power_total_w", 1.0),
    "avg_power_per_gpu": ("power_per_gpu_w", 1.0),
    "energy_per_output_token": ("energy_per_output_token_j", 1.0),
    "energy_per_request": ("energy_per_request_j", 1.0),
}


def mlenergy_cases() -> pl.DataFrame:
    """One row per ML.ENERGY v3 leaderboard configuration (vLLM 0.11.1 on H100, LMArena chat, bf16):
    ``max_num_seqs`` (the batch-size knob), the achieved ``avg_batch_size``, output throughput, median/p90
    inter-token latency, GPU power (``power_total_w`` sums the run's GPUs) and energy per token/request. Built
    from the ``serving_latency_load`` and ``power_energy`` rows of the leaderboard source; the blog rows
    (single figures, v2 vs v3 comparisons) are not cases."""
    groups: dict[tuple[Any, ...], list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
    for i, r, p in measured_rows():
        if (
            r["category"] in ("serving_latency_load", "power_energy")
            and "ml-energy/leaderboard" in r["source"]
        ):
            key = (p["model"], p["gpus"], p["tp"], p["dp"], p["ep"], p["max_num_seqs"])
            groups.setdefault(key, []).append((i, r, p))
    out = []
    for members in groups.values():
        i0, r0, p0 = members[0]
        common = {k: v for k, v in _common(i0, r0, p0).items() if k != "row"}
        row: dict[str, Any] = {
            "case": "mlenergy",
            "rows": sorted(i for i, _, _ in members),
            **common,
            "gpus": p0["gpus"],
            "tp": p0["tp"],
            "dp": p0["dp"],
            "ep": p0["ep"],
            "dtype": _dtype(p0["weight_precision"]),
            "max_num_seqs": p0["max_num_seqs"],
            "avg_batch_size": float(p0["avg_batch_size"]),
            "avg_output_len": float(p0["avg_output_len"]),
            "framework": p0["framework"],
            "framework_class": VLLM_LIKE,
            "excluded": False,
            "params": r0["params"],
            "source": r0["source"],
        }
        for _, r, _ in members:
            col, scale = _MLE_METRICS[r["metric"]]
            row[col] = float(r["value"]) * scale
        out.append(row)
    return _frame(out, _MLE_SCHEMA)


# ---------------------------------------------------------------------------------------------- traces

_TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def _trace_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    for cand in (TRACE_DIR / p, TRACE_DIR / p.with_suffix(".csv")):
        if cand.is_file():
            return cand
    have = sorted(str(f.relative_to(TRACE_DIR).with_suffix("")) for f in TRACE_DIR.glob("*/*.csv"))
    raise TraceError(f"{name_or_path}: no such trace file; packaged traces: {have}")


def load_trace(name_or_path: str | Path) -> pl.DataFrame:
    """A request trace as columns ``arrival_s`` (float, s), ``prompt_tokens``, ``output_tokens`` (int).

    ``name_or_path``: a CSV file (columns ``arrival_s,prompt_tokens,output_tokens``, others ignored) or a
    packaged trace, ``"llama/creation_05"`` (``.csv`` optional, under :data:`TRACE_DIR`). Arrivals must be
    finite, non-negative and non-decreasing and token counts positive integers; a bad row raises
    :class:`TraceError` naming the file and the line.
    """
    path = _trace_path(name_or_path)
    arrival: list[float] = []
    prompt: list[int] = []
    output: list[int] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _TRACE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(
                f"{path}: line 1: header lacks {missing}; expected columns {list(_TRACE_COLUMNS)}"
            )
        for rec in reader:
            line = reader.line_num
            try:
                a = float(rec["arrival_s"])
                pt = int(rec["prompt_tokens"])
                ot = int(rec["output_tokens"])
            except (TypeError, ValueError):
                raise TraceError(
                    f"{path}: line {line}: cannot read arrival_s={rec.get('arrival_s')!r}, "
                    f"prompt_tokens={rec.get('prompt_tokens')!r}, output_tokens={rec.get('output_tokens')!r}"
                ) from None
            if not math.isfinite(a) or a < 0:
                raise TraceError(f"{path}: line {line}: arrival_s {a} must be finite and >= 0")
            if arrival and a < arrival[-1]:
                raise TraceError(
                    f"{path}: line {line}: arrival_s {a} is before the previous arrival {arrival[-1]}; arrivals must be sorted"
                )
            if pt <= 0 or ot <= 0:
                raise TraceError(
                    f"{path}: line {line}: token counts must be positive (prompt_tokens {pt}, output_tokens {ot})"
                )
            arrival.append(a)
            prompt.append(pt)
            output.append(ot)
    if not arrival:
        raise TraceError(f"{path}: the trace has no requests")
    return pl.DataFrame(
        {"arrival_s": arrival, "prompt_tokens": prompt, "output_tokens": output},
        schema={"arrival_s": pl.Float64, "prompt_tokens": pl.Int64, "output_tokens": pl.Int64},
    )


def _lengths(rng: np.random.Generator, n: int, total: int, cv: float) -> np.ndarray:
    """``n`` positive integers summing to ``total``: gamma(shape 1/cv^2) proportions, each at least 1, the
    remainder shared by largest remainders."""
    shape = 1.0 / (cv * cv)
    w = rng.gamma(shape, 1.0, size=n)
    share = (total - n) * w / w.sum()
    base = np.floor(share).astype(np.int64)
    left = (total - n) - int(base.sum())
    order = np.argsort(-(share - base), kind="stable")
    base[order[:left]] += 1
    return base + 1


def synthetic_trace(
    rate: float,
    n: int,
    prompt_sum: int,
    output_sum: int,
    seed: int = 0,
    *,
    prompt_cv: float = 0.5,
    output_cv: float = 0.5,
) -> pl.DataFrame:
    """A Poisson trace of ``n`` requests at ``rate`` req/s whose prompt and output lengths sum exactly to
    ``prompt_sum`` and ``output_sum`` (columns as :func:`load_trace`; deterministic in ``seed``).

    For the APEX summarization replays, whose traces are not packaged: the CSV gives the rate, the request
    count and the token sums only. Arrivals: exponential gaps of mean ``1 / rate`` from t = 0 (the APEX traces
    are Poisson). Lengths: gamma-distributed proportions with coefficient of variation ``prompt_cv`` /
    ``output_cv`` (default 0.5, shape 4), scaled to the sums, every length at least 1. The gamma keeps lengths
    positive and right-skewed; CV 0.5 lies between the packaged creation traces (0.2-0.4: prompts and outputs
    bounded by the task) and the lmsys ones (0.9-2.0: open conversations), as documents to summarize and their
    summaries are bounded but vary more than templated creation prompts. Means and sums (what the replay's
    aggregate load depends on first) are exact; the spread is an assumption, vary the CVs to see its effect.
    """
    if not (math.isfinite(rate) and rate > 0):
        raise InvalidArgumentError(f"argument `rate`: {rate} req/s must be positive and finite")
    if n < 1:
        raise InvalidArgumentError(f"argument `n`: {n} requests; expected at least 1")
    for name, total in (("prompt_sum", prompt_sum), ("output_sum", output_sum)):
        if int(total) != total or total < n:
            raise InvalidArgumentError(
                f"argument `{name}`: {total} must be an integer >= n ({n}): every request has at least one token"
            )
    for name, cv in (("prompt_cv", prompt_cv), ("output_cv", output_cv)):
        if not (math.isfinite(cv) and cv > 0):
            raise InvalidArgumentError(f"argument `{name}`: {cv} must be positive")
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1.0 / rate, size=n))
    prompt = _lengths(rng, n, int(prompt_sum), prompt_cv)
    output = _lengths(rng, n, int(output_sum), output_cv)
    return pl.DataFrame(
        {"arrival_s": arrival, "prompt_tokens": prompt, "output_tokens": output},
        schema={"arrival_s": pl.Float64, "prompt_tokens": pl.Int64, "output_tokens": pl.Int64},
    )


# ----------------------------------------------------------------------------------------------- split

#: Splitwise: the (model, TP) groups a device's `splitwise` calibration is fitted on: Llama-2-70B at every TP
#: degree; BLOOM-176B (same devices) is held out.
SPLITWISE_FIT: frozenset[tuple[str, int]] = frozenset(
    {("llama2-70b", 2), ("llama2-70b", 4), ("llama2-70b", 8)}
)
#: TensorRT-LLM: the (version, model) groups each device's calibrations are fitted on: `trtllm` (the TensorRT
#: engine) on the v0.10 tables of the Llama-2 models (7B TP1 and 70B TP2-8, A100 and H100); `trtllm-pytorch`
#: (1.0's PyTorch backend, H100 fp8) on Llama-3.1-8B and Llama-3.3-70B. Held out: every other v0.10 model, the
#: v1.0 Llama-3.1-405B and MoE models (Llama-4 Scout/Maverick, Qwen3-235B-A22B), the static v0.6/v0.5 rows.
TRTLLM_FIT: frozenset[tuple[str, str]] = frozenset(
    {("v0.10", "llama2-7b"), ("v0.10", "llama2-70b"), ("v1.0", "llama3.1-8b"), ("v1.0", "llama3.3-70b")}
)


#: APEX: (framework, model) replays that fit the vLLM v0.6.0 replays' host launch figure
#: (``serving_apex.fit_launch`` -> hwdb dgx-h100 ``vllm-v0.6`` ``kernel_launch_us``): the 11 Llama-3.1-70B replays; the
#: Mistral-Large-2407 vLLM replays are held out. (Session 6 fitted kernel, per-iteration and per-prefill figures
#: on the same replays, ``serving_apex.fit``, without a better median: 11.5% vs 10.8%; not kept.)
APEX_FIT: frozenset[tuple[str, str]] = frozenset({("vllm", "llama3.1-70b")})


def _role(case: str, rec: dict[str, Any]) -> tuple[str, str]:
    mid, dev = rec["model_id"], rec["device"]
    if case == "splitwise_phase":
        group = f"splitwise/{dev}/{mid}/tp{rec['tp']}"
        fit = (mid, rec["tp"]) in SPLITWISE_FIT
    elif case == "trtllm_throughput":
        group = f"trtllm/{dev}/{rec['framework_version']}/{mid}"
        fit = (rec["framework_version"], mid) in TRTLLM_FIT
    elif case == "apex_replay":
        group = f"apex/{dev}/{rec['framework']}/{mid}"
        fit = (rec["framework"], mid) in APEX_FIT
    elif case == "single_request_latency":
        group = f"trtllm-latency/{dev}/{rec['framework_version']}/{mid}"
        fit = False
    elif case == "mlenergy":
        group = f"mlenergy/{dev}/{mid}/tp{rec['tp']}"
        fit = False
    else:
        raise InvalidArgumentError(f"split: unknown case '{case}'")
    if rec.get("excluded"):
        return "excluded", group
    return ("fit" if fit else "holdout"), group


def split(cases: pl.DataFrame) -> pl.DataFrame:
    """``cases`` (a frame of this module) with ``role`` (``fit`` / ``holdout`` / ``excluded``), ``split_group``
    (the unit the roles are assigned to: never a single row) and ``calibration`` (``<device>/<framework
    class>``: what a fit may tune). Deterministic: roles follow from model, device, TP and framework version.

    - Splitwise (vLLM-like): fit on Llama-2-70B (TP2, TP4, TP8 on A100; TP8 on H100) on each device; hold out
      BLOOM-176B on the same devices (another model, 2.5x the weights, MHA instead of GQA). All TP degrees are
      fitted because at one degree the framework's collective cost and its kernel efficiency cannot be told
      apart (session 6: fitted on TP8 alone, TP2/TP4 were missed by 30-65%).
    - TensorRT-LLM throughput: `trtllm` fit on the v0.10 Llama-2 7B/70B tables per device, `trtllm-pytorch` on
      the v1.0 Llama-3.1-8B and Llama-3.3-70B rows (H100); hold out the other v0.10 models, the other v1.0
      models (405B dense, the MoE models) and the static-batch v0.6.1/v0.5 rows.
    - APEX replays (vLLM v0.6.0, SGLang): holdout only, predicted with the uncalibrated engine (see
      :data:`APEX_FIT`). TensorRT-LLM batch-1 latencies and ML.ENERGY: holdout only.
    - ``excluded``: rows the CSV flags for exclusion and ambiguous-unit rows (column ``excluded``); in no fit
      and no holdout error.
    """
    if "case" not in cases.columns:
        raise InvalidArgumentError(
            "split: the frame has no `case` column; pass a frame of perfmodel.validation.serving_cases"
        )
    roles: list[str] = []
    groups: list[str] = []
    for rec in cases.iter_rows(named=True):
        role, group = _role(rec["case"], rec)
        roles.append(role)
        groups.append(group)
    calibration = pl.col("device") + "/" + pl.col("framework_class")
    return cases.with_columns(
        role=pl.Series(roles, dtype=pl.String),
        split_group=pl.Series(groups, dtype=pl.String),
        calibration=calibration,
    )


def all_cases() -> dict[str, pl.DataFrame]:
    """Every case type by name, each with its split."""
    builders: Iterable[tuple[str, Any]] = (
        ("splitwise_phase", splitwise_phase_cases),
        ("trtllm_throughput", trtllm_throughput_cases),
        ("apex_replay", apex_replay_cases),
        ("single_request_latency", single_request_latency_cases),
        ("mlenergy", mlenergy_cases),
    )
    return {name: split(build()) for name, build in builders}


def partition(
    cases: pl.DataFrame, skip_reason: Callable[[dict[str, Any]], tuple[str, str] | None]
) -> tuple[tuple[int, ...], tuple[tuple[int, str, str], ...]]:
    """Row indices of ``cases`` a suite part predicts, and ``(index, kind, reason)`` of those it does not, as
    ``skip_reason(row)`` decides (None: predicted): nothing is dropped silently."""
    ok: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for i, r in enumerate(cases.iter_rows(named=True)):
        skip = skip_reason(r)
        if skip is None:
            ok.append(i)
        else:
            bad.append((i, *skip))
    return tuple(ok), tuple(bad)
