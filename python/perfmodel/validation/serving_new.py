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
``per_sequence_overhead_us`` fitted on throughput and TPOT, ``request_overhead_us`` on median TTFT alone
(:data:`FIGURES`), by ``tools/calibrate.py --inferencex`` on the system's 1k/1k rows (``role = fit``; least squares on
log(predicted / measured)); the 1k/8k and 8k/1k rows are held out. A row whose SGLang image is v0.5.9 (its own, or
that of a latest result of the same run) is simulated with the class ``sglang-v0.5.9`` (:data:`BUILD_CLASSES`),
fitted on that build's 1k/1k earlier results of the same runs, since its latest results are all 1k/8k
(docs/mlperf5_validation.md).
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
#: Fitted figures and their bounds (seconds for ``_s``): the first two on throughput and TPOT, ``request_overhead_s``
#: on TTFT alone (:data:`TTFT_FIGURE`).
FIGURES: dict[str, tuple[float, float]] = {
    "kernel_time_scale": (0.3, 3.0),
    "per_sequence_overhead_s": (0.0, 2e-3),
    "request_overhead_s": (0.0, 1.0),
}
#: The figure fitted on the fit rows' median TTFT only: the server's per-request time outside the GPU iterations
#: (the simulator admits a request this long after its send; hwdb ``request_overhead_us``).
TTFT_FIGURE = "request_overhead_s"
_SCALE = np.array([1.0, 1e-4])
#: SGLang builds modelled as framework classes of their own (image tag prefix -> class): SGLang v0.5.9's ROCm
#: images ran DeepSeek-R1 decode 1.25-1.7x slower per step than v0.5.12 at the same lengths (MI300X TP8 1k/1k
#: median TPOT at concurrency 4/16/64: 24.4/30.5/51.3 ms in run 22469096331 of 2026-02-27, 14.6/21.0/40.7 ms with
#: v0.5.12 on 2026-05-18), and the 1k/8k rows of every system ran v0.5.9 (InferenceX dropped 1k/8k on 2026-03-27,
#: SemiAnalysisAI/InferenceX PR #911, before the v0.5.12 images: PRs #1425, #1428).
BUILD_CLASSES: dict[str, str] = {"lmsysorg/sglang:v0.5.9-": "sglang-v0.5.9"}
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


@lru_cache(maxsize=1)
def _run_images() -> dict[tuple[str, str, str], str]:
    """(run URL, hardware, framework) -> image, from the latest results that name their image."""
    f = _all().filter(pl.col("image").is_not_null())
    return {
        (u, h, fw): im
        for u, h, fw, im in zip(f["run_url"], f["hardware"], f["framework"], f["image"], strict=True)
    }


def image(r: dict[str, Any]) -> str | None:
    """The row's container image: its own, or that of a latest result of the same run, hardware and framework
    (the earlier results do not name theirs); None where neither is known."""
    return r.get("image") or _run_images().get((r["run_url"], r["hardware"], r["framework"]))


def framework_class(r: dict[str, Any]) -> str:
    """The framework class the row is simulated with: its build's class (:data:`BUILD_CLASSES`) where its image is
    one, else the importer's class."""
    im = image(r) or ""
    return next((c for tag, c in BUILD_CLASSES.items() if im.startswith(tag)), r["framework_class"])


def role(r: dict[str, Any]) -> str:
    """``fit`` for a latest result at :data:`FIT_LENGTHS`, ``holdout`` otherwise (see :func:`history_role`)."""
    return "fit" if (r["isl"], r["osl"]) == FIT_LENGTHS else "holdout"


def history_role(r: dict[str, Any]) -> str:
    """An earlier result is held out, except one of a build class (:data:`BUILD_CLASSES`) at :data:`FIT_LENGTHS`:
    a build whose latest results are all long-context (v0.5.9's 1k/8k rows) is fitted on its own 1k/1k results
    of the same runs, never on the rows it is judged by."""
    build = framework_class(r) in BUILD_CLASSES.values()
    return "fit" if build and (r["isl"], r["osl"]) == FIT_LENGTHS else "holdout"


def simulate(r: dict[str, Any], **figures: Any) -> Any:
    """The row's benchmark simulated (figures override the system's hwdb ``[[serving]]`` table)."""
    from .. import serve

    def lengths(n: int) -> tuple[str, int, int]:
        return ("uniform", int(r["range_ratio"] * n), n)

    return serve.simulate(
        r["preset"], r["system"], tp=r["tp"], ep=r["ep"], attention_dp=bool(r["dp_attention"]), dtype=r["dtype"],
        kv_dtype=r["kv_dtype"], framework=framework_class(r), num_requests=r["num_prompts"],
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


def _fit_rows(system: str, framework: str) -> list[dict[str, Any]]:
    """The fit rows of ``(system, framework)``: latest results with ``role = fit`` and earlier ones with
    ``history_role = fit``."""
    latest = [r for r in cases().iter_rows(named=True) if role(r) == "fit"]
    earlier = [r for r in history().iter_rows(named=True) if history_role(r) == "fit"]
    return [r for r in latest + earlier if r["system"] == system and framework_class(r) == framework]


def groups() -> list[tuple[str, str]]:
    """The (system, framework class) pairs the rows hold: one ``[[serving]]`` table each."""
    latest = {(r["system"], framework_class(r)) for r in cases().iter_rows(named=True)}
    earlier = {
        (r["system"], framework_class(r)) for r in history().iter_rows(named=True) if history_role(r) == "fit"
    }
    return sorted(latest | earlier)


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
    from scipy.optimize import least_squares, minimize_scalar

    from ..errors import InvalidArgumentError, ModelError

    t0 = time.perf_counter()
    good = []
    for r in _fit_rows(system, framework):
        try:
            simulate(r)
            good.append(r)
        except (ModelError, InvalidArgumentError):
            continue

    names = [k for k in FIGURES if k != TTFT_FIGURE]

    def residuals(x: np.ndarray, overhead: float) -> np.ndarray:
        fig = {**dict(zip(names, (x * _SCALE).tolist(), strict=True)), TTFT_FIGURE: overhead}
        res = []
        for r in good:
            p, m = predict(r, **fig), measured(r)
            res += [np.log(p[k] / m[k][1]) for k in TARGET_METRICS]
        return np.array(res)

    def ttft_residuals(overhead: np.ndarray, x: np.ndarray) -> np.ndarray:
        fig = {**dict(zip(names, (x * _SCALE).tolist(), strict=True)), TTFT_FIGURE: float(overhead[0])}
        return np.array([
            np.log(predict(r, **fig)["median_ttft_s"] / measured(r)["median_ttft_s"][1]) for r in good
        ])  # fmt: skip

    lo = np.array([FIGURES[k][0] for k in names]) / _SCALE
    hi = np.array([FIGURES[k][1] for k in names]) / _SCALE
    x_unc = np.array([1.0, 0.0])
    err0 = np.abs(np.expm1(residuals(x_unc, 0.0)))
    ttft0 = np.abs(np.expm1(ttft_residuals(np.array([0.0]), x_unc)))

    # Alternating: the throughput/TPOT figures with the request overhead held, then the overhead on TTFT alone
    # with them held (the overhead moves throughput a little: one more round settles it).
    # The TTFT is piecewise constant in the overhead (a request joins the next iteration), so the overhead is
    # found by a bounded scalar search, not by finite differences.
    def fit_overhead(x: np.ndarray) -> float:
        return float(
            minimize_scalar(lambda d: float(np.sum(ttft_residuals(np.array([d]), x) ** 2)),
                            bounds=FIGURES[TTFT_FIGURE], method="bounded", options={"xatol": 1e-4}).x
        )  # fmt: skip

    x, overhead = np.array([1.0, 0.5]), 0.0
    for _ in range(2):
        x = least_squares(residuals, x, bounds=(lo, hi), diff_step=1e-3, args=(overhead,)).x
        overhead = fit_overhead(x)
    # The overhead alone over the uncalibrated engine: what a table keeps when the other figures are not kept.
    alone = fit_overhead(x_unc)
    err_alone = np.abs(np.expm1(residuals(x_unc, alone)))
    ttft_alone = np.abs(np.expm1(ttft_residuals(np.array([alone]), x_unc)))
    figures = {**dict(zip(names, (x * _SCALE).tolist(), strict=True)), TTFT_FIGURE: overhead}
    err = np.abs(np.expm1(residuals(x, overhead)))
    ttft = np.abs(np.expm1(ttft_residuals(np.array([overhead]), x)))
    report = {
        "system": system,
        "framework": framework,
        "rows": len(good),
        "median_abs_error": float(np.median(err)),
        "max_abs_error": float(err.max()),
        "uncalibrated_median_abs_error": float(np.median(err0)),
        "uncalibrated_max_abs_error": float(err0.max()),
        "ttft_median_abs_error": float(np.median(ttft)),
        "ttft_uncalibrated_median_abs_error": float(np.median(ttft0)),
        "request_overhead_alone_s": alone,
        "median_abs_error_overhead_alone": float(np.median(err_alone)),
        "ttft_median_abs_error_overhead_alone": float(np.median(ttft_alone)),
        "seconds": time.perf_counter() - t0,
    }
    return figures, report


def fitted_on(system: str, framework: str, overhead_only: bool = False) -> str:
    """The ``fitted_on`` text of a table fitted by :func:`fit` (``overhead_only``: the table keeps only the request
    overhead, fitted over the uncalibrated engine, because the other figures were not kept)."""
    fit_rows = _fit_rows(system, framework)
    fit_n, fit_hist = len(fit_rows), sum(r["image"] is None for r in fit_rows)
    held = sum(
        r["system"] == system and framework_class(r) == framework and role(r) == "holdout"
        for r in cases().iter_rows(named=True)
    ) + sum(
        r["system"] == system and framework_class(r) == framework and history_role(r) == "holdout"
        for r in history().iter_rows(named=True)
    )
    prec = ", ".join(sorted({r["precision"] for r in fit_rows}))
    where = (
        "perfmodel/data/inferencex_dsr1.csv"
        if not fit_hist
        else f"perfmodel/data/inferencex_dsr1_history.csv, the {framework} build's own results of the runs that "
        f"also ran its held-out rows"
    )
    return (
        f"InferenceMAX/InferenceX nightly fixed-length results (SemiAnalysisAI/InferenceX-app API snapshot, "
        f"{where}): {fit_n} DeepSeek-R1 {prec} rows at ISL/OSL 1k/1k "
        f"(concurrency as run, closed-loop clients) on {system}, "
        + (
            "request_overhead_us alone on their median TTFT over the uncalibrated engine (the throughput/TPOT "
            "fit was not kept: it did not lower those rows' error, or raised another suite's held-out rows) "
            if overhead_only
            else "throughput per GPU and median TPOT; request_overhead_us on their median TTFT alone "
        )
        + "(perfmodel.validation.serving_new.fit, least squares on log(predicted/measured)); held out: "
        f"{held} rows of 1k/8k and 8k/1k (latest and earlier results) and every other serving row. Caveat: one model (DeepSeek-R1, "
        f"MoE with MLA), so the figures are a proxy for its kernels on this stack; on dgx-b200 the trtllm-pytorch "
        f"table makes the dense TensorRT-LLM offline tables worse (docs/mlperf5_validation.md)"
    )


def rows() -> list[dict[str, Any]]:
    """Suite rows: three metrics per predictable case; the latest results in groups ``inferencex_<metric>``
    (fit or holdout by :func:`role`), the earlier ones in ``inferencex_history_<metric>`` (all holdout)."""
    latest = [(r, p, role(r), "inferencex_") for r, p in _predictable(list(cases().iter_rows(named=True)))]
    earlier = [
        (r, p, history_role(r), "inferencex_history_")
        for r, p in _predictable(list(history().iter_rows(named=True)))
    ]
    out = []
    for r, p, role_, prefix in latest + earlier:
        m = measured(r)
        params = json.dumps({**{k: r[k] for k in ("framework", "image", "precision", "tp", "ep", "dp_attention",
                                                  "isl", "osl", "conc", "date")},
                             "framework_class": framework_class(r)})  # fmt: skip
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
    hist = every.filter(
        pl.col("history") & pl.col("metric_group").is_in(list(TARGET_METRICS)) & (pl.col("role") == "holdout")
    )
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
