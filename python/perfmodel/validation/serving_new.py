"""Suite ``serving_new``: serving on the hardware people buy now, against InferenceMAX / InferenceX nightly results.

Rows: ``perfmodel/data/inferencex_dsr1.csv`` (``tools/import_inferencex.py``), the latest fixed-length result of
each single-node configuration of DeepSeek-R1 (the DeepSeek-V3 architecture, preset ``deepseek-v3``) served by
SGLang or TensorRT-LLM on B200, B300, H200, MI300X, MI325X and MI355X, FP8 or FP4 weights, TP/EP/DP-attention as
run, ISL/OSL 1k/1k, 1k/8k and 8k/1k, concurrency 1 to 128. Each row is simulated as the benchmark ran it:
closed-loop clients (``max_concurrency`` = the row's concurrency; ``vllm``-style ``benchmark_serving.py --request-rate
inf --max-concurrency C``), ``10 x C`` requests whose prompt and output lengths are drawn uniformly from
``[0.8 L, L]`` (``--random-range-ratio 0.8``), the framework class's scheduler defaults. Predicted: output
tokens/s per GPU (over the run; the row's ``tp`` GPUs), the median over requests of TPOT and of TTFT.

Calibration: one ``[[serving]]`` table per (system, framework class), ``kernel_time_scale`` and
``per_sequence_overhead_us`` (:data:`FIGURES`), fitted by ``tools/calibrate.py --inferencex`` on the system's
1k/1k rows (``role = fit``: throughput and TPOT; least squares on log(predicted / measured)); the 1k/8k and
8k/1k rows are held out. TTFT is reported, not fitted: the measured medians carry 60-300 ms at concurrency 1
that no GPU-side term explains (HTTP streaming, tokenisation, SGLang's ``--scheduler-recv-interval``), so they
are the model's known miss (docs/mlperf5_validation.md).
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import frame

SUITE = "serving_new"
DATA = Path(__file__).resolve().parent.parent / "data" / "inferencex_dsr1.csv"
#: Earlier nightly results of the same configurations (other dates and framework versions), all held out.
HISTORY = DATA.with_name("inferencex_dsr1_history.csv")
#: ISL/OSL of the fit rows; the other lengths are held out.
FIT_LENGTHS = (1024, 1024)
#: Fitted figures and their bounds (seconds for ``_s``).
FIGURES: dict[str, tuple[float, float]] = {
    "kernel_time_scale": (0.3, 3.0),
    "per_sequence_overhead_s": (0.0, 2e-3),
}
_SCALE = np.array([1.0, 1e-4])
#: Metrics predicted per row: (name, unit).
METRICS = (("output_tput_per_gpu", "tokens/s"), ("median_tpot_s", "s"), ("median_ttft_s", "s"))
#: The metrics the fit and the target use.
TARGET_METRICS = ("output_tput_per_gpu", "median_tpot_s")


@lru_cache(maxsize=1)
def _all() -> pl.DataFrame:
    return pl.read_csv(DATA, infer_schema_length=None)


def cases() -> pl.DataFrame:
    """The modelled rows (``excluded`` empty)."""
    return _all().filter(pl.col("excluded").is_null())


@lru_cache(maxsize=1)
def _history_all() -> pl.DataFrame:
    return pl.read_csv(HISTORY, infer_schema_length=None)


def history() -> pl.DataFrame:
    """The modelled earlier results (``benchmarks-history.json`` less the latest entries); every one held out."""
    return _history_all().filter(pl.col("excluded").is_null())


def excluded() -> dict[str, int]:
    """Rows not modelled, counted by reason."""
    f = _all().filter(pl.col("excluded").is_not_null()).group_by("excluded").len()
    return dict(zip(f["excluded"].to_list(), f["len"].to_list(), strict=True))


def role(r: dict[str, Any]) -> str:
    return "fit" if (r["isl"], r["osl"]) == FIT_LENGTHS else "holdout"


def simulate(r: dict[str, Any], **figures: Any) -> Any:
    """The row's benchmark simulated (figures override the system's hwdb ``[[serving]]`` table)."""
    from .. import serve

    def lengths(n: int) -> tuple[str, int, int]:
        return ("uniform", int(r["range_ratio"] * n), n)

    return serve.simulate(
        r["preset"], r["system"], tp=r["tp"], ep=r["ep"], attention_dp=bool(r["dp_attention"]), dtype=r["dtype"],
        kv_dtype=r["kv_dtype"], framework=r["framework_class"], num_requests=r["num_prompts"],
        prompt_tokens=lengths(r["isl"]), output_tokens=lengths(r["osl"]), max_concurrency=r["conc"],
        max_model_len=r["isl"] + r["osl"], **figures,
    )  # fmt: skip


def measured(r: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """The row's measured metrics: name -> (metric as published, value). A row without ``output_tput_per_gpu``
    (older entries) is compared on total tokens per GPU (``tput_per_gpu``)."""
    out = r["output_tput_per_gpu"]
    tput = (
        ("output_tput_per_gpu", float(out)) if out is not None else ("tput_per_gpu", float(r["tput_per_gpu"]))
    )
    return {
        "output_tput_per_gpu": tput,
        "median_tpot_s": ("median_tpot_s", float(r["median_tpot_s"])),
        "median_ttft_s": ("median_ttft_s", float(r["median_ttft_s"])),
    }


def predict(r: dict[str, Any], **figures: float) -> dict[str, float]:
    """Predicted metrics of a row (the throughput as :func:`measured` names it)."""
    sim = simulate(r, **figures)
    req = sim.requests
    out_tok = float(req["output_tokens"].sum())
    per_gpu = sim.output_tokens_per_s / r["tp"]
    if r["output_tput_per_gpu"] is None:  # total tokens, as tput_per_gpu counts them
        per_gpu *= (float(req["prompt_tokens"].sum()) + out_tok) / out_tok
    return {
        "output_tput_per_gpu": per_gpu,
        "median_tpot_s": float(np.median(req.filter(pl.col("output_tokens") > 1)["tpot_s"].to_numpy())),
        "median_ttft_s": float(np.median(req["ttft_s"].to_numpy())),
    }


def groups() -> list[tuple[str, str]]:
    """The (system, framework class) pairs the rows hold: one ``[[serving]]`` table each."""
    return sorted(set(zip(cases()["system"].to_list(), cases()["framework_class"].to_list(), strict=True)))


def _predictable(
    rows: list[dict[str, Any]], **figures: float
) -> list[tuple[dict[str, Any], dict[str, float]]]:
    from ..errors import InvalidArgumentError, ModelError

    out = []
    for r in rows:
        try:
            out.append((r, predict(r, **figures)))
        except (ModelError, InvalidArgumentError):
            continue
    return out


def unpredicted() -> list[dict[str, Any]]:
    """Modelled rows the engine refuses (the weights or one request's KV cache do not fit), with the reason."""
    from ..errors import InvalidArgumentError, ModelError

    out = []
    for r in cases().iter_rows(named=True):
        try:
            simulate(r)
        except (ModelError, InvalidArgumentError) as e:
            out.append({**r, "why": str(e).split("\n")[0]})
    return out


def fit(system: str, framework: str) -> tuple[dict[str, float], dict[str, Any]]:
    """:data:`FIGURES` of ``(system, framework)`` fitted on its ``fit`` rows (least squares on log(predicted /
    measured) of :data:`TARGET_METRICS`, bounded), and a report (rows, median/max |error| before and after)."""
    from scipy.optimize import least_squares

    from ..errors import InvalidArgumentError, ModelError

    t0 = time.perf_counter()
    rows_ = [
        r
        for r in cases().iter_rows(named=True)
        if r["system"] == system and r["framework_class"] == framework and role(r) == "fit"
    ]
    good = []
    for r in rows_:
        try:
            simulate(r)
            good.append(r)
        except (ModelError, InvalidArgumentError):
            continue

    def residuals(x: np.ndarray) -> np.ndarray:
        fig = dict(zip(FIGURES, (x * _SCALE).tolist(), strict=True))
        res = []
        for r in good:
            p, m = predict(r, **fig), measured(r)
            res += [np.log(p[k] / m[k][1]) for k in TARGET_METRICS]
        return np.array(res)

    lo = np.array([b[0] for b in FIGURES.values()]) / _SCALE
    hi = np.array([b[1] for b in FIGURES.values()]) / _SCALE
    x_unc = np.array([1.0, 0.0])
    err0 = np.abs(np.expm1(residuals(x_unc)))
    best = least_squares(residuals, np.array([1.0, 0.5]), bounds=(lo, hi), diff_step=1e-3)
    figures = dict(zip(FIGURES, (best.x * _SCALE).tolist(), strict=True))
    err = np.abs(np.expm1(best.fun))
    report = {
        "system": system,
        "framework": framework,
        "rows": len(good),
        "median_abs_error": float(np.median(err)),
        "max_abs_error": float(err.max()),
        "uncalibrated_median_abs_error": float(np.median(err0)),
        "uncalibrated_max_abs_error": float(err0.max()),
        "seconds": time.perf_counter() - t0,
    }
    return figures, report


def fitted_on(system: str, framework: str) -> str:
    """The ``fitted_on`` text of a table fitted by :func:`fit`."""
    c = cases().filter((pl.col("system") == system) & (pl.col("framework_class") == framework))
    fit_n = c.filter((pl.col("isl") == FIT_LENGTHS[0]) & (pl.col("osl") == FIT_LENGTHS[1])).height
    prec = ", ".join(sorted(set(c["precision"].to_list())))
    return (
        f"InferenceMAX/InferenceX nightly fixed-length results (SemiAnalysisAI/InferenceX-app API snapshot, "
        f"perfmodel/data/inferencex_dsr1.csv): {fit_n} DeepSeek-R1 {prec} rows at ISL/OSL 1k/1k "
        f"(concurrency as run, closed-loop clients) on {system}, throughput per GPU and median TPOT "
        f"(perfmodel.validation.serving_new.fit, least squares on log(predicted/measured)); held out: "
        f"{c.height - fit_n} rows of 1k/8k and 8k/1k and every other serving row. Caveat: one model (DeepSeek-R1, "
        f"MoE with MLA), so the figures are a proxy for its kernels on this stack; on dgx-b200 the trtllm-pytorch "
        f"table makes the dense TensorRT-LLM offline tables worse (docs/mlperf5_validation.md)"
    )


def rows() -> list[dict[str, Any]]:
    """Suite rows: three metrics per predictable case; the latest results in groups ``inferencex_<metric>``
    (fit or holdout by :func:`role`), the earlier ones in ``inferencex_history_<metric>`` (all holdout)."""
    latest = [(r, p, role(r), "inferencex_") for r, p in _predictable(list(cases().iter_rows(named=True)))]
    earlier = [
        (r, p, "holdout", "inferencex_history_")
        for r, p in _predictable(list(history().iter_rows(named=True)))
    ]
    out = []
    for r, p, role_, prefix in latest + earlier:
        m = measured(r)
        params = json.dumps({k: r[k] for k in ("framework", "image", "precision", "tp", "ep", "dp_attention", "isl",
                                               "osl", "conc", "date")})  # fmt: skip
        for name, unit in METRICS:
            metric, value = m[name]
            out.append({
                "suite": SUITE, "group": f"{prefix}{name}", "system": r["system"],
                "operation": f"dsr1 {r['precision']} {r['framework']} tp{r['tp']} ep{r['ep']}"
                + (" dpa" if r["dp_attention"] else "") + f" {r['isl']}/{r['osl']} c{r['conc']}",
                "params": params, "metric": metric, "unit": unit, "measured": value, "predicted": p[name],
                "role": role_, "source": f"{r['source_repo']}:{r['source_path']}@{r['source_commit'][:12]} ({r['run_url']})",
            })  # fmt: skip
    return out


def run() -> pl.DataFrame:
    return frame(rows())


def _stats(f: pl.DataFrame) -> dict[str, Any]:
    e = f["error"].to_numpy()
    if not e.size:
        return {"rows": 0, "median_abs_error": None, "max_abs_error": None, "median_error": None}
    return {"rows": f.height, "median_abs_error": float(np.median(np.abs(e))), "max_abs_error": float(np.abs(e).max()),
            "median_error": float(np.median(e))}  # fmt: skip


def summary_extra(rows: pl.DataFrame) -> dict[str, Any]:
    """Per (system, framework, metric, role) figures, the target (held-out throughput and TPOT), the rows not
    modelled by reason and those the engine refuses."""
    every = rows.with_columns(
        framework=pl.col("params").map_elements(lambda p: json.loads(p)["framework"], return_dtype=pl.String),
        history=pl.col("group").str.starts_with("inferencex_history_"),
        metric_group=pl.col("group").str.replace("inferencex_history_", "").str.replace("inferencex_", ""),
    )
    f = every.filter(~pl.col("history"))
    hist = every.filter(pl.col("history") & pl.col("metric_group").is_in(list(TARGET_METRICS)))
    hist_by = {
        f"{system}/{fw}": _stats(g)
        for (system, fw), g in sorted(
            hist.group_by("system", "framework"), key=lambda kv: tuple(map(str, kv[0]))
        )
    }
    by: dict[str, Any] = {}
    for (system, fw, metric, role_), g in sorted(
        f.group_by("system", "framework", "metric_group", "role"), key=lambda kv: tuple(map(str, kv[0]))
    ):
        by[f"{system}/{fw}/{metric}/{role_}"] = _stats(g)
    target = f.filter(pl.col("metric_group").is_in(list(TARGET_METRICS)))
    return {
        "by_system_framework_metric_role": by,
        "target_holdout_throughput_and_tpot": _stats(target.filter(pl.col("role") == "holdout")),
        "fit_throughput_and_tpot": _stats(target.filter(pl.col("role") == "fit")),
        "holdout_ttft": _stats(
            f.filter((pl.col("metric_group") == "median_ttft_s") & (pl.col("role") == "holdout"))
        ),
        "history_holdout_throughput_and_tpot": _stats(hist),
        "history_rows_modelled": history().height,
        "history_rows_refused_by_the_engine": history().height // 1
        - every.filter(pl.col("history") & (pl.col("metric_group") == "output_tput_per_gpu")).height,
        "history_by_system_framework": hist_by,
        "excluded_rows": excluded(),
        "refused_by_the_engine": [
            f"{r['system']} {r['framework']} {r['precision']} tp{r['tp']} {r['isl']}/{r['osl']} c{r['conc']}: {r['why']}"
            for r in unpredicted()
        ],
    }
