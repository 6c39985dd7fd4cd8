"""Serving suite, APEX part: vLLM v0.6.0 / SGLang trace replays on one H100 replica
(:func:`perfmodel.validation.serving_cases.apex_replay_cases`), all held out.

Each replay is simulated with :func:`perfmodel.serve.simulate` on ``dgx-h100`` with the replay's TP (and EP
for SGLang's EP8 runs), dtype and framework class (``vllm`` or ``sglang``: its scheduler defaults and the
system's hwdb ``[[serving]]`` figures of that class), replaying the packaged trace (:func:`load_trace`) or, for
the summarization traces that are not packaged, a :func:`synthetic_trace` with the replay's rate, request count
and token sums (seed 0, CV 0.5). Compared: mean TTFT (queueing included, as APEX measures it) and the
token-weighted mean TPOT (``Simulation.summary["token_weighted_tpot_s"]``: per-token time summed over all
generated tokens, as APEX reports it; vLLM rows only). The trace's output lengths are replayed as given; the
lmsys replays stopped early (EOS) on the real server, which matters for end-to-end latency more than for TTFT
or TPOT, so end-to-end latency is predicted (:func:`predict`) but not a suite row.

vLLM v0.6.0 runs an iteration that holds a prompt chunk eagerly (CUDA graphs only for decode-only batches:
``vllm/worker/model_runner.py`` ``_use_captured_graph`` requires ``decode_only``), so its host launches bound
the short prefills of these replays: the replays run as framework class :data:`FRAMEWORK_CLASS`
(``"vllm-v0.6"``), whose per-kernel launch time is hwdb's (dgx-h100 ``[[serving]]`` ``kernel_launch_us``,
fitted on the Llama-3.1-70B replays by :func:`fit_launch`; Mistral-Large held out).

The SGLang replays' script reads SGLang's own ``time_to_first_token`` histogram, which for these
non-streaming requests is stamped when the tokenizer manager first receives output: the 50th output token or
the request's end (:func:`sglang_first_output_s`); they are reported (group ``apex_sglang_first_output``), not
a TTFT target.

Replays whose model has no preset are listed by :func:`unpredicted` with the reason.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import polars as pl

from .. import hwdb, llm, serve
from ..errors import PerfModelError
from .serving_cases import apex_replay_cases, load_trace, partition, split, synthetic_trace
from .serving_trtllm import engine_figures, uncalibrated_figures

SUITE = "serving"
SYSTEM = "dgx-h100"
#: metric of a case -> (suite group, suite metric, summary key of the simulation).
METRICS: dict[str, tuple[str, str, str]] = {
    "mean_ttft_s": ("apex_ttft", "mean_ttft", "mean_ttft_s"),
    "mean_tpot_s": ("apex_tpot", "mean_tpot", "token_weighted_tpot_s"),
}

__all__ = ["SUITE", "SYSTEM", "METRICS", "cases", "trace", "predict", "predictable", "unpredicted", "rows",
           "uncalibrated_figures"]  # fmt: skip


@cache
def _cases() -> pl.DataFrame:
    return split(apex_replay_cases())


def cases() -> pl.DataFrame:
    """The APEX replay cases with their split (``role``: all ``holdout``)."""
    return _cases()


def trace(case_row: dict[str, Any]) -> pl.DataFrame:
    """The request trace a case replays: the packaged trace, or a synthetic one with the same rate, request count
    and token sums (seed 0) where the trace is not packaged."""
    r = case_row
    if r["trace_file"]:
        return load_trace(r["trace_file"])
    return synthetic_trace(r["rate_req_s"], int(r["num_requests"]), int(r["trace_prompt_tokens_sum"]),
                           int(r["trace_output_tokens_sum"]), seed=0)  # fmt: skip


#: The scheduler of the vLLM v0.6.0 replays, as that version configures it for Llama-3.1 (max_model_len 131072):
#: chunked prefill switched on for models with max_model_len > 32K (vLLM 0.5.x/0.6 arg_utils: "Chunked prefill is
#: enabled by default for models with max_model_len > 32K"), at its default 512 batched tokens (vLLM 0.6 docs,
#: Performance and Tuning: "512 is the default max_num_batched_tokens for chunked prefill"), max_num_seqs 256,
#: and the replays' gpu-memory-utilization 0.97-0.99 (APEX rows' params; 0.98 used).
VLLM_060: dict[str, Any] = {"chunked_prefill": True, "max_num_batched_tokens": 512, "max_num_seqs": 256,
                            "gpu_memory_utilization": 0.97}  # fmt: skip
#: Servers whose launch flags differ from :data:`VLLM_060` (microsoft/apex_plus ``vllm/``, the scripts
#: ``fideility.sh`` runs for the TP2/TP4 replays): ``scale_2TP_llama.sh`` sets ``--max-model-len 24272`` and
#: ``scale_2TP_mistral.sh`` ``--max-model-len 20560 --gpu-memory-utilization 0.85``; below 32K vLLM v0.6.0 leaves
#: chunked prefill off (``arg_utils.py``) and takes ``max_num_batched_tokens = max(max_model_len, 2048)``
#: (``config.py`` ``SchedulerConfig``). Every other replay's script passes ``--gpu-memory-utilization 0.97``.
VLLM_060_SERVER: dict[tuple[str, int], dict[str, Any]] = {
    ("llama3.1-70b", 2): {"chunked_prefill": False, "max_num_batched_tokens": 24272, "max_model_len": 24272},
    ("mistral-large-2407", 2): {"chunked_prefill": False, "max_num_batched_tokens": 20560, "max_model_len": 20560,
                                "gpu_memory_utilization": 0.85},
}  # fmt: skip
#: Replays sent one after another to one vLLM server, in order: ``scale_4TP.sh``, ``scale_2TP_llama.sh``,
#: ``scale_4TP_fp8.sh`` and ``scale_2TP_mistral.sh`` start one server and run ``trace.py`` on lmsys_05, then
#: creation_05, then summarization_05; ``trace.py`` reads the server's ``/metrics`` after each trace, whose
#: histograms and counters accumulate from the server's start, so each replay's TTFT, TPOT and latency sum cover
#: the replays before it too (their latency sums only grow: Llama TP4 1,030 s, 15,972 s, 21,080 s). The TP8
#: scripts (``8TP.sh``, ``8TP_fp8.sh``) start a fresh server per trace. Llama TP2's creation_05 left an empty
#: results file, and the summarization_05 latency sum (8,864 s after lmsys_05's 1,625 s) has no room for it
#: (TP4's creation_05 alone: 14,942 s), so it is taken as not served.
SERVER_SESSIONS: dict[tuple[str, int], tuple[str, ...]] = {
    ("llama3.1-70b", 4): ("lmsys_05", "creation_05", "summarization_05"),
    ("llama3.1-70b", 2): ("lmsys_05", "summarization_05"),
    ("mistral-large-2407", 4): ("lmsys_05", "creation_05", "summarization_05"),
    ("mistral-large-2407", 2): ("lmsys_05", "creation_05", "summarization_05"),
}

#: The framework class the vLLM replays run as: vLLM v0.6.0's V0 engine, whose iterations that hold a prompt
#: chunk launch their kernels eagerly; its host time per kernel launch is the system's hwdb figure
#: (``[[serving]]`` ``kernel_launch_us``, fitted by :func:`fit_launch` and ``tools/calibrate.py --vllm`` on the
#: Llama-3.1-70B replays, ``serving_cases.APEX_FIT``; the Mistral-Large replays are held out). The ``vllm``
#: class (V1, which captures prefill iterations in CUDA graphs too) keeps no launch cost.
FRAMEWORK_CLASS = "vllm-v0.6"
#: SGLang (>= 0.4.4.post2, the APEX dockerfile's floor) sends a non-streaming request's output to its tokenizer
#: manager only when the request finishes or every this many output tokens
#: (``managers/scheduler_output_processor_mixin.py`` ``stream_output_generation``: ``len(req.output_ids) % 50 ==
#: 0``); ``TokenizerManager.collect_metrics`` stamps ``time_to_first_token`` at the first output it receives.
SGLANG_FORCE_STREAM_INTERVAL = 50


def predict(case_row: dict[str, Any], figures: dict[str, float] | None = None) -> dict[str, float]:
    """Predicted ``mean_ttft_s``, ``mean_tpot_s`` (token-weighted), ``mean_e2e_s`` and
    ``sglang_first_output_s`` of one replay (a row of :func:`cases`) as its server's metrics report them: over
    this replay and those sent to the same server before it (:data:`SERVER_SESSIONS`), each simulated with the
    replay's server settings (:data:`VLLM_060`, :data:`VLLM_060_SERVER`, :data:`FRAMEWORK_CLASS`, its KV format
    :func:`kv_dtype_of`) and framework ``figures`` overriding the system's hwdb figures of the case's framework
    class (none: as they are; ``comm_time_scale`` is translated for engines that scale collective bandwidth)."""
    r = case_row
    key = (r["model_id"], int(r["tp"]))
    session = SERVER_SESSIONS.get(key, ()) if r["framework"] == "vllm" else ()
    traces = session[: session.index(r["trace"]) + 1] if r["trace"] in session else (r["trace"],)
    figs = tuple(sorted((figures or {}).items()))
    runs = [_run(_session_case(r, t), figs) for t in traces]
    total = {k: sum(x[k] for x in runs) for k in runs[0]}
    n = total["requests"]
    return {"mean_ttft_s": total["ttft_sum"] / n, "mean_tpot_s": total["gap_sum"] / max(total["gaps"], 1.0),
            "mean_e2e_s": total["e2e_sum"] / n, "sglang_first_output_s": total["first_output_sum"] / n}  # fmt: skip


def kv_dtype_of(r: dict[str, Any]) -> str | None:
    """The KV-cache format of a replay: ``"fp8"`` where its CSV row says "fp8 KV" (the Mistral-Large scripts pass
    ``--kv-cache-dtype fp8``: ``8TP_fp8.sh``, ``scale_4TP_fp8.sh``, ``scale_2TP_mistral.sh``), else None (the
    16-bit default)."""
    return "fp8" if "fp8 KV" in str(json.loads(r["params"]).get("dtype", "")) else None


def _session_case(r: dict[str, Any], trace_name: str) -> dict[str, Any]:
    """The case of the replay ``trace_name`` sent to the same server as ``r`` (same model, TP, framework)."""
    if trace_name == r["trace"]:
        return r
    f = _cases().filter((pl.col("model_id") == r["model_id"]) & (pl.col("tp") == r["tp"]) &
                        (pl.col("framework") == r["framework"]) & (pl.col("trace") == trace_name))  # fmt: skip
    if f.height != 1:
        raise ValueError(f"no single APEX replay {r['model_id']} TP{r['tp']} {trace_name} (found {f.height})")
    return f.row(0, named=True)


def _run(r: dict[str, Any], figures: tuple[tuple[str, float], ...]) -> dict[str, float]:
    """Sums over one simulated replay: requests, TTFT, inter-token gaps and their count, e2e latency and
    SGLang's first-output time (s)."""
    key = (r["model_id"], int(r["tp"]), int(r["ep"] or 1), r["framework"], r["dtype"], kv_dtype_of(r), r["trace"],
           figures)  # fmt: skip
    if key not in _RUNS:
        vllm = r["framework"] == "vllm"
        figs = dict(figures)
        settings = {**VLLM_060, **VLLM_060_SERVER.get((r["model_id"], int(r["tp"])), {})} if vllm else {}
        sim = serve.simulate(
            r["model_id"], r["system_id"], tp=int(r["tp"]), ep=int(r["ep"] or 1), requests=trace(r),
            framework=FRAMEWORK_CLASS if vllm else r["framework"], dtype=r["dtype"], kv_dtype=kv_dtype_of(r),
            **settings, **engine_figures(figs),
        )  # fmt: skip
        q = sim.requests
        gaps = (q["output_tokens"] - 1).clip(lower_bound=0).cast(pl.Float64)
        _RUNS[key] = {
            "requests": float(q.height), "ttft_sum": float(q["ttft_s"].sum()),
            "gap_sum": float((q["tpot_s"].fill_null(0.0).fill_nan(0.0) * gaps).sum()), "gaps": float(gaps.sum()),
            "e2e_sum": float(q["e2e_s"].sum()), "first_output_sum": sglang_first_output_s(q) * q.height,
        }  # fmt: skip
    return _RUNS[key]


#: Simulated replays by (model, TP, EP, framework, dtype, KV format, trace, figure overrides, the harness's
#: figures): replays of one server session are shared between its rows.
_RUNS: dict[tuple[Any, ...], dict[str, float]] = {}


def sglang_first_output_s(requests: pl.DataFrame) -> float:
    """Mean over ``requests`` (a :attr:`perfmodel.serve.Simulation.requests` frame) of the time from arrival
    to the output SGLang's tokenizer manager first receives for a non-streaming request, s: the
    ``min(50, output_tokens)``-th token (:data:`SGLANG_FORCE_STREAM_INTERVAL`), taken as the first token plus
    that many - 1 of the request's mean inter-token gaps (``tpot_s``)."""
    k = pl.min_horizontal(pl.col("output_tokens"), pl.lit(SGLANG_FORCE_STREAM_INTERVAL)) - 1
    t = requests.select(pl.col("ttft_s") + k * pl.col("tpot_s").fill_null(0.0).fill_nan(0.0))
    return float(t.to_series().mean())  # type: ignore[arg-type]


def _skip_reason(r: dict[str, Any]) -> tuple[str, str] | None:
    if r["role"] == "excluded":
        return "excluded", f"excluded by the split: {r['caveat']}"
    if r["model_id"] not in llm.presets():
        return "no_preset", f"model '{r['model']}' ({r['model_id']}) has no perfmodel.llm preset"
    try:
        hwdb.get(r["system_id"], "system")
    except PerfModelError:
        return "no_system", f"system '{r['system_id']}' ({r['system']}) is not in hwdb"
    try:
        mem = serve.memory(r["model_id"], r["system_id"], tp=int(r["tp"]), dtype=r["dtype"], framework=r["framework"],
                           ep=int(r["ep"] or 1))  # fmt: skip
    except PerfModelError as exc:
        return "does_not_fit", str(exc)
    if not mem.fits:
        return "does_not_fit", mem.explain()
    return None


@cache
def _partition() -> tuple[tuple[int, ...], tuple[tuple[int, str, str], ...]]:
    return partition(_cases(), _skip_reason)


def predictable() -> pl.DataFrame:
    """The replays :func:`rows` predicts."""
    return _cases()[list(_partition()[0])]


def unpredicted() -> pl.DataFrame:
    """Replays not predicted, one row each with ``kind`` (``no_preset``, ``no_system``, ``does_not_fit``,
    ``excluded``) and ``reason``."""
    bad = _partition()[1]
    f = _cases()[[i for i, _, _ in bad]].select(
        "rows", "model", "model_id", "system_id", "framework", "parallelism", "tp", "ep", "dtype", "trace",
        "mean_ttft_s", "mean_tpot_s", "role",
    )  # fmt: skip
    return f.with_columns(
        kind=pl.Series([k for _, k, _ in bad], dtype=pl.String),
        reason=pl.Series([w for _, _, w in bad], dtype=pl.String),
    )


def rows(figures: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Suite rows (groups ``apex_ttft`` and ``apex_tpot``; the SGLang replays' first-output time as
    ``apex_sglang_first_output``, role ``reported``) for every predictable replay and measured metric, with
    ``figures`` overriding the hwdb framework figures (None: as they are). About
    5 s for the 35 replays."""
    out = []
    for r in predictable().iter_rows(named=True):
        pred = predict(r, figures)
        params = {
            "model": r["model_id"], "tp": r["tp"], "ep": r["ep"], "dtype": r["dtype"], "framework": r["framework"],
            "framework_version": r["framework_version"], "trace": r["trace"],
            "trace_file": r["trace_file"] or "synthetic (seed 0, CV 0.5)", "rate_req_s": r["rate_req_s"],
            "num_requests": r["num_requests"], "csv_rows": r["rows"],
        }  # fmt: skip
        for col, (group, metric, _) in METRICS.items():
            if r[col] is None:
                continue
            role, pred_col = r["role"], col
            if r["framework"] == "sglang" and col == "mean_ttft_s":
                # SGLang's figure is the first output of a non-streaming request (module docstring): reported.
                group, metric = "apex_sglang_first_output", "mean_first_output"
                role, pred_col = "reported", "sglang_first_output_s"
            out.append(
                {
                    "suite": SUITE,
                    "group": group,
                    "system": r["system_id"],
                    "operation": f"{r['model_id']} {r['parallelism']} {r['dtype']} {r['trace']} replay "
                    f"({r['framework']}{' ' + r['framework_version'] if r['framework_version'] else ''}, APEX)",
                    "params": json.dumps(params, sort_keys=True),
                    "metric": metric,
                    "unit": "s",
                    "measured": float(r[col]),
                    "predicted": pred[pred_col],
                    "role": role,
                    "source": r["source"],
                }
            )
    return out


#: Framework figures :func:`fit` sets on the system's ``vllm`` table, with (lower, upper) bounds.
FIGURES: dict[str, tuple[float, float]] = {
    "kernel_time_scale": (0.5, 3.0),
    "iteration_overhead_s": (0.0, 0.02),
    "prefill_overhead_s": (0.0, 0.1),
}
_SCALE = (1.0, 1e-3, 1e-3)
_STARTS = ((1.0, 1.0, 5.0), (1.2, 0.2, 20.0), (0.9, 3.0, 1.0))


def fit(system: str = SYSTEM) -> tuple[dict[str, float], dict[str, Any]]:
    """The ``vllm`` figures of ``system`` fitted on its ``fit`` replays (:data:`FIGURES`): least squares on
    log(predicted / measured) of mean TTFT and token-weighted mean TPOT together, from three starts; and a report
    (rows, median and max |error| on them, the uncalibrated engine's, seconds)."""
    import math
    import time

    import numpy as np
    from scipy.optimize import least_squares

    t0 = time.perf_counter()
    fit_rows = [r for r in predictable().iter_rows(named=True) if r["role"] == "fit" and r["system_id"] == system
                and r["framework"] == "vllm"]  # fmt: skip
    if not fit_rows:
        raise ValueError(f"no APEX vLLM fit replays on '{system}'")
    names = list(FIGURES)
    scale = np.array(_SCALE)
    lo = np.array([FIGURES[n][0] for n in names]) / scale
    hi = np.array([FIGURES[n][1] for n in names]) / scale
    base = uncalibrated_figures()

    def residuals(x: np.ndarray) -> np.ndarray:
        figs = {**base, **dict(zip(names, (x * scale).tolist(), strict=True))}
        out = []
        for r in fit_rows:
            p = predict(r, figs)
            out += [math.log(p["mean_ttft_s"] / r["mean_ttft_s"])]
            if r["mean_tpot_s"] is not None:
                out += [math.log(p["mean_tpot_s"] / r["mean_tpot_s"])]
        return np.array(out)

    err0 = np.abs(np.expm1(residuals(np.array([1.0, 0.0, 0.0]))))
    fits = [least_squares(residuals, np.array(s), bounds=(lo, hi), diff_step=1e-3) for s in _STARTS]
    best = min(fits, key=lambda f: f.cost)
    figures = dict(zip(names, (best.x * scale).tolist(), strict=True))
    err = np.abs(np.expm1(best.fun))
    return figures, {
        "replays": len(fit_rows), "residuals": int(err.size), "median_abs_error": float(np.median(err)),
        "max_abs_error": float(err.max()), "uncalibrated_median_abs_error": float(np.median(err0)),
        "uncalibrated_max_abs_error": float(err0.max()), "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def fit_launch(system: str = SYSTEM) -> tuple[dict[str, float], dict[str, Any]]:
    """The ``kernel_launch_s`` of ``system``'s :data:`FRAMEWORK_CLASS` table refitted on its ``fit`` vLLM replays
    (bounded scalar least squares on log(predicted / measured) of mean TTFT and token-weighted mean TPOT, the
    other figures as hwdb has them), and a report (replays, residuals, median and max |error| on them, the
    figure's bounds, seconds). About 4 s."""
    import math
    import time

    import numpy as np
    from scipy.optimize import minimize_scalar

    t0 = time.perf_counter()
    fit_rows = [r for r in predictable().iter_rows(named=True) if r["role"] == "fit" and r["system_id"] == system
                and r["framework"] == "vllm"]  # fmt: skip
    if not fit_rows:
        raise ValueError(f"no APEX vLLM fit replays on '{system}'")

    def residuals(us: float) -> np.ndarray:
        out = []
        for r in fit_rows:
            p = predict(r, {"kernel_launch_s": us * 1e-6})
            out.append(math.log(p["mean_ttft_s"] / r["mean_ttft_s"]))
            if r["mean_tpot_s"] is not None:
                out.append(math.log(p["mean_tpot_s"] / r["mean_tpot_s"]))
        return np.array(out)

    bounds = (0.0, 100.0)
    best = minimize_scalar(lambda us: float(np.sum(residuals(us) ** 2)), bounds=bounds, method="bounded",
                           options={"xatol": 0.05})  # fmt: skip
    us = round(float(best.x), 1)
    err = np.abs(np.expm1(residuals(us)))
    return {"kernel_launch_s": us * 1e-6}, {
        "replays": len(fit_rows), "residuals": int(err.size), "median_abs_error": float(np.median(err)),
        "max_abs_error": float(err.max()), "bounds_us": bounds, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def launch_fitted_on(system: str = SYSTEM) -> str:
    """What ``system``'s :data:`FRAMEWORK_CLASS` launch figure is fitted on, for hwdb ``fitted_on``."""
    p = predictable().filter(pl.col("system_id") == system)
    fit_rows = p.filter((pl.col("role") == "fit") & (pl.col("framework") == "vllm"))
    held = p.filter((pl.col("role") == "holdout") & (pl.col("framework") == "vllm"))
    return (
        f"APEX vLLM v0.6.0 trace replays (microsoft/apex_plus vllm/results; 1 replica): mean TTFT and "
        f"token-weighted mean TPOT of {fit_rows.height} Llama-3.1-70B replays (TP2/TP4/TP8, bf16 and fp8) on "
        f"{system}, each simulated with its server's settings (perfmodel.validation.serving_apex: VLLM_060, "
        f"VLLM_060_SERVER, SERVER_SESSIONS), the other figures uncalibrated (perfmodel.validation.serving_apex."
        f"fit_launch, bounded least squares on log(predicted/measured)); held out: {held.height} Mistral-Large-2407 "
        "replays and every other serving row"
    )


def fitted_on(system: str = SYSTEM) -> str:
    """What ``system``'s ``vllm`` figures are fitted on, for hwdb ``fitted_on``."""
    p = predictable().filter(pl.col("system_id") == system)
    fit_rows = p.filter((pl.col("role") == "fit") & (pl.col("framework") == "vllm"))
    held = p.filter(pl.col("role") == "holdout")
    return (
        f"APEX vLLM v0.6.0 trace replays (microsoft/apex_plus vllm/results; 1 replica, Poisson arrivals): mean TTFT "
        f"and token-weighted mean TPOT of {fit_rows.height} Llama-3.1-70B TP8 replays (creation, lmsys, summarization "
        f"traces, bf16 and fp8) on {system}, simulated with vLLM v0.6.0's scheduler (chunked prefill, 512 batched "
        f"tokens) (perfmodel.validation.serving_apex.fit, least squares on log(predicted/measured)); held out: "
        f"{held.height} replays of other models (Mistral-Large-2407 on vLLM, Mixtral-8x22B on SGLang) and every "
        "other serving row"
    )
