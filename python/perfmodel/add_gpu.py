"""Add your own GPU: a commented hwdb template from a sibling device, and a calibration of its fractions from three
measurement files (a GEMM sweep, a STREAM-like copy, an nccl-tests log). Walk-through: ``docs/add_your_own_gpu.md``.

    perfmodel hwdb new my-gpu --from h100-sxm5-80gb --out my-gpu.toml
    perfmodel hwdb calibrate my-gpu.toml --gemm gemm.csv --stream stream.csv --nccl all_reduce.log --system dgx-h100

The fractions are fitted with :func:`perfmodel.fitting.fit_scalar` (the routine ``tools/calibrate.py`` fits the
embedded devices with) on the roofline's own predictions of each measured row; the fabric or NIC of an nccl-tests log
with :func:`perfmodel.nccl_tests.calibrate`. Needs ``pip install perfmodel[calibrate]`` (scipy, tomlkit).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from . import hwdb, nccl_tests, roofline
from .errors import HwdbError, InvalidArgumentError
from .hwdb import Spec

__all__ = ["template", "calibrate", "GEMM_GROUPS", "GEMM_COLUMNS", "STREAM_COLUMNS"]

#: What each device figure means, and whether the loader requires it (the template's comments).
MEANING: dict[str, str] = {
    "units_count": "REQUIRED. SMs (NVIDIA) or CUs (AMD): deviceQuery 'multiprocessors' / rocminfo 'Compute Unit'",
    "unit_name": "'SM' or 'CU'",
    "boost_clock_mhz": "REQUIRED. Boost clock, MHz (informational: the model uses the peaks below)",
    "matrix_fp64_tflops": "dense FP64 tensor/matrix-core peak, TFLOPS (datasheet; never a 2:4-sparse figure)",
    "matrix_fp32_tflops": "dense FP32 matrix-core peak, TFLOPS",
    "matrix_tf32_tflops": "dense TF32 peak, TFLOPS (datasheets print the sparse figure: halve it)",
    "matrix_bf16_tflops": "dense BF16 peak, TFLOPS (at least one matrix_* or vector_* peak is REQUIRED)",
    "matrix_fp16_tflops": "dense FP16 peak, TFLOPS",
    "matrix_fp8_tflops": "dense FP8 peak, TFLOPS",
    "matrix_int8_tops": "dense INT8 peak, TOPS",
    "matrix_fp6_tflops": "dense MXFP6 peak, TFLOPS (needs efficiency.gemm_6bit_fraction)",
    "matrix_nvfp4_tflops": "dense NVFP4 peak, TFLOPS (needs efficiency.gemm_4bit_fraction)",
    "matrix_mxfp4_tflops": "dense MXFP4 peak, TFLOPS (needs efficiency.gemm_4bit_fraction)",
    "vector_fp64_tflops": "FP64 on the CUDA cores / SIMDs, TFLOPS",
    "vector_fp32_tflops": "FP32 on the CUDA cores / SIMDs, TFLOPS",
    "vector_fp16_tflops": "FP16 on the CUDA cores / SIMDs, TFLOPS",
    "vector_bf16_tflops": "BF16 on the CUDA cores / SIMDs, TFLOPS",
    "special_function_tflops": "special-function (exp2, log2, reciprocal) results per second, 10^12 (optional): SMs x "
    "per-SM rate per clock (CUDA C++ Programming Guide throughput table) x boost clock; with "
    "efficiency.attention_cudnn_softmax_fraction it prices cuDNN attention's softmax work",
    "hbm_capacity_gib": "REQUIRED (or hbm_capacity_gb). Device memory in GiB (HBM and GDDR are binary: '80 GB' = 80 GiB)",
    "hbm_capacity_gb": "device memory in 10^9 bytes, only where the datasheet means decimal bytes",
    "hbm_bandwidth_gbps": "REQUIRED. Peak memory bandwidth, 10^9 bytes/s (datasheet)",
    "l2_capacity_mib": "L2 cache, MiB (optional)",
    "l2_bandwidth_gbps": "L2 bandwidth, 10^9 bytes/s (optional; needs l2_capacity_mib)",
    "llc_capacity_mib": "last-level cache beyond L2 (AMD Infinity Cache), MiB (optional)",
    "llc_bandwidth_gbps": "its bandwidth, 10^9 bytes/s (optional)",
    "tdp_w": "REQUIRED. Board power limit, W",
    "idle_w": "idle board power, W (optional; inherited, scaled by the TDP, when absent)",
    "gemm_16bit_fraction": "REQUIRED, CALIBRATED (--gemm, bf16/fp16 rows): share of the matrix peak a large GEMM reaches",
    "gemm_8bit_fraction": "CALIBRATED (--gemm, fp8/int8 rows); defaults to the 16-bit fraction",
    "gemm_32bit_fraction": "CALIBRATED (--gemm, tf32/fp32/fp64 rows); defaults to the 16-bit fraction",
    "gemm_4bit_fraction": "CALIBRATED (--gemm, nvfp4/mxfp4 rows); REQUIRED with a 4-bit peak",
    "gemm_6bit_fraction": "CALIBRATED (--gemm, fp6 rows); REQUIRED with a 6-bit peak",
    "hbm_fraction": "REQUIRED, CALIBRATED (--stream): share of the peak bandwidth a large copy reaches",
    "attention_fraction": "REQUIRED. FlashAttention-2 rate as a share of the 16-bit GEMM rate (template value kept)",
    "tile_overhead_us": "REQUIRED. Fixed cost per GEMM output tile, us (template value kept)",
    "launch_overhead_us": "REQUIRED. Kernel launch and synchronisation, us (template value kept)",
    "inherit_from": "device whose fitted attention schedule, write penalty and overlap exponent this file takes",
    "fitted_on": "REQUIRED. What the fractions were fitted on (written by `perfmodel hwdb calibrate`)",
}

#: Measured GEMM dtypes -> the efficiency figure they calibrate.
GEMM_GROUPS = {
    "bf16": "gemm_16bit_fraction", "fp16": "gemm_16bit_fraction",
    "fp8": "gemm_8bit_fraction", "int8": "gemm_8bit_fraction",
    "tf32": "gemm_32bit_fraction", "fp32": "gemm_32bit_fraction", "fp64": "gemm_32bit_fraction",
    "nvfp4": "gemm_4bit_fraction", "mxfp4": "gemm_4bit_fraction", "fp6": "gemm_6bit_fraction",
}  # fmt: skip
#: Columns of the GEMM sweep CSV (one row per measured GEMM): ``time_s`` or ``tflops`` as measured.
GEMM_COLUMNS = ("m", "n", "k", "dtype")
#: Columns of the STREAM-like CSV (one row per kernel run and size): ``time_s`` or ``gbps`` as measured.
STREAM_COLUMNS = ("bytes_read", "bytes_written")
#: Bounds of a fitted fraction.
BOUNDS = (0.05, 1.0)


def template(device_id: str, template_id: str = "h100-sxm5-80gb", name: str | None = None) -> str:
    """A commented hwdb device file for ``device_id``, every figure copied from the embedded device
    ``template_id`` and its source marked ``TEMPLATE``: replace the datasheet figures and their sources, then run
    :func:`calibrate` for the fractions. The text loads with :func:`perfmodel.hwdb.load` as it is."""
    import tomlkit

    base = hwdb.get(template_id, "device").to_dict()
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(
            f"{name or device_id}: hwdb device file started from '{template_id}' (perfmodel hwdb new)."
        )
    )
    doc.add(
        tomlkit.comment(
            "Replace every figure with your datasheet's and its [sources] entry (URL and what it says);"
        )
    )
    doc.add(
        tomlkit.comment(
            "then fit the CALIBRATED fractions: perfmodel hwdb calibrate FILE --gemm CSV --stream CSV."
        )
    )
    doc.add(tomlkit.comment("Guide: docs/add_your_own_gpu.md; schema: hwdb/README.md."))
    doc.add("kind", "device")
    doc.add("id", device_id)
    doc.add("name", name or device_id)
    doc.add("vendor", base["vendor"])
    for section in ("compute", "memory", "power", "efficiency", "price"):
        if section not in base:
            continue
        t = tomlkit.table()
        for k, v in base[section].items():
            if section == "efficiency" and k == "fitted_on":
                v = f"TEMPLATE: {template_id}'s fractions, not yet calibrated on this device"
            if section == "efficiency" and k == "inherit_from":
                continue
            t.add(k, v)
            if k in MEANING and (k != "fitted_on" or section == "efficiency"):
                t[k].comment(MEANING[k])
        if section == "efficiency":
            t.add("inherit_from", base[section].get("inherit_from") or template_id)
            t["inherit_from"].comment(MEANING["inherit_from"])
        doc.add(section, t)
    src = tomlkit.table()
    for k, v in base.get("sources", {}).items():
        src.add(k, f"TEMPLATE {template_id}: {v}")
    doc.add("sources", src)
    return tomlkit.dumps(doc)


def _measured_rate(
    df: pl.DataFrame, path: str, what: str, columns: Sequence[str], rate: str, work: pl.Expr
) -> pl.DataFrame:
    """``df`` with its measured ``rate`` column: as given, or ``work / time_s``; an error naming the file and the
    columns expected when neither is there."""
    missing = [c for c in columns if c not in df.columns]
    if missing or not ({"time_s", rate} & set(df.columns)):
        raise InvalidArgumentError(
            f"{path}: a {what} needs columns {list(columns)} and 'time_s' or '{rate}'; it has {df.columns}"
        )
    return df if rate in df.columns else df.with_columns((work / pl.col("time_s")).alias(rate))


def _measured_gemm_tflops(df: pl.DataFrame, path: str) -> pl.DataFrame:
    flops = 2 * pl.col("m") * pl.col("n") * pl.col("k") / 1e12
    return _measured_rate(df, path, "GEMM sweep", GEMM_COLUMNS, "tflops", flops).with_columns(
        pl.col("dtype").str.to_lowercase()
    )


def _measured_stream_gbps(df: pl.DataFrame, path: str) -> pl.DataFrame:
    moved = (pl.col("bytes_read") + pl.col("bytes_written")) / 1e9
    return _measured_rate(df, path, "STREAM-like file", STREAM_COLUMNS, "gbps", moved)


def _errors(predict: Callable[[Spec], Sequence[float]], measured: Sequence[float], spec: Spec) -> list[float]:
    return [p / m - 1.0 for p, m in zip(predict(spec), measured, strict=True)]


def _fit(
    spec: Spec, key: str, predict: Callable[[Spec], Sequence[float]], measured: Sequence[float]
) -> dict[str, Any]:
    """Fits ``efficiency.<key>`` so that the predicted rates match the measured ones (least squares on the log
    ratio); reports the error before and after."""
    from .fitting import fit_scalar

    def objective(f: float) -> float:
        trial = spec.with_overrides({f"efficiency.{key}": float(f)})
        return sum(math.log(p / m) ** 2 for p, m in zip(predict(trial), measured, strict=True))

    before = [abs(e) for e in _errors(predict, measured, spec)]
    fit = fit_scalar(objective, BOUNDS)
    after = [
        abs(e) for e in _errors(predict, measured, spec.with_overrides({f"efficiency.{key}": fit.value}))
    ]
    return {
        "figure": f"efficiency.{key}", "value": fit.value, "rows": len(measured), "converged": fit.success,
        "at_bound": fit.value <= BOUNDS[0] + 1e-3 or fit.value >= BOUNDS[1] - 1e-3,
        "median_abs_error_before": statistics.median(before), "max_abs_error_before": max(before),
        "median_abs_error": statistics.median(after), "max_abs_error": max(after),
    }  # fmt: skip


def _computes_in(spec: Spec, dtype: str) -> bool:
    """Whether the device has a matrix (or vector) rate for ``dtype``."""
    return spec.peak_tflops(dtype) is not None or spec.peak_tflops(dtype, unit="vector") is not None


def calibrate(
    path: str | Path,
    gemm: str | Path | None = None,
    stream: str | Path | None = None,
    nccl: str | Path | None = None,
    system: str | Path | None = None,
) -> tuple[str, dict[str, Any]]:
    """Fits the device file at ``path`` to its measurements: each GEMM fraction present in the ``gemm`` sweep
    (:data:`GEMM_GROUPS`), ``hbm_fraction`` on the ``stream`` rows, and, given an nccl-tests log and the ``system``
    (id or file) it ran on, that system's fabric (or NIC, for a multi-node log). Returns the calibrated device file's
    TOML text (``fitted_on`` rewritten; the fabric's TOML under ``report["fabric_toml"]``) and a report with the
    fitted values and the median and max |predicted - measured| / measured before and after."""
    import tomlkit

    path = Path(path)
    spec = hwdb.load(path)
    if spec["kind"] != "device":
        raise HwdbError(
            f"{path}: `perfmodel hwdb calibrate` fits a device file; this one is a {spec['kind']}"
        )
    report: dict[str, Any] = {"device": spec["id"], "fits": []}
    values: dict[str, float] = {}
    described: list[str] = []
    if gemm is not None:
        df = _measured_gemm_tflops(pl.read_csv(gemm), str(gemm))
        # Rows in a dtype the device lacks (fp8 rows of a shared sweep on an Ampere card, say) are set aside and
        # reported; they cannot inform any figure of this device.
        lacking = sorted(d for d in set(df["dtype"]) if not _computes_in(spec, d))
        if lacking:
            skipped = df.filter(pl.col("dtype").is_in(lacking))
            report["skipped_gemm_rows"] = {d: skipped.filter(pl.col("dtype") == d).height for d in lacking}
            df = df.filter(~pl.col("dtype").is_in(lacking))
        for key in dict.fromkeys(GEMM_GROUPS.values()):
            rows = df.filter(pl.col("dtype").is_in([d for d, k in GEMM_GROUPS.items() if k == key]))
            if rows.height == 0:
                continue

            def predict(s: Spec, rows: pl.DataFrame = rows) -> list[float]:
                return [
                    float(roofline.gemm(s, r["m"], r["n"], r["k"], dtype=r["dtype"])["tflops"][0])
                    for r in rows.iter_rows(named=True)
                ]

            cur = spec.with_overrides({f"efficiency.{k}": v for k, v in values.items()})
            out = _fit(cur, key, predict, rows["tflops"].to_list())
            values[key] = out["value"]
            report["fits"].append(out)
            described.append(
                f"{key} on {rows.height} GEMM rows of {Path(gemm).name} ({', '.join(sorted(set(rows['dtype'])))})"
            )
    if stream is not None:
        df = _measured_stream_gbps(pl.read_csv(stream), str(stream))

        def predict_stream(s: Spec) -> list[float]:
            return roofline.memory_bound(s, df["bytes_read"].to_numpy(), df["bytes_written"].to_numpy())[
                "gbps"
            ].to_list()

        cur = spec.with_overrides({f"efficiency.{k}": v for k, v in values.items()})
        out = _fit(cur, "hbm_fraction", predict_stream, df["gbps"].to_list())
        values["hbm_fraction"] = out["value"]
        report["fits"].append(out)
        described.append(f"hbm_fraction on {df.height} rows of {Path(stream).name}")
    if nccl is not None:
        if system is None:
            raise InvalidArgumentError(
                "argument `system`: an nccl-tests log is fitted on the system it ran on (an id or a file)"
            )
        sysspec = hwdb.load(system) if Path(str(system)).is_file() else hwdb.get(str(system), "system")
        fit_report: dict[str, Any] = {}
        fabric = nccl_tests.calibrate(nccl_tests.read(nccl), sysspec, report=fit_report)
        report["fabric"] = {"id": fabric["id"], **{k: fabric[k] for k in ("efficiency.bandwidth_fraction", "efficiency.latency_us")},
                            **{k: v for k, v in fit_report.items() if k in ("method", "rms_log_error", "success", "at_bound")}}  # fmt: skip
        report["fabric_toml"] = nccl_tests.to_toml(fabric)
    if not values:
        if nccl is None:
            raise InvalidArgumentError("nothing to calibrate: give --gemm, --stream and/or --nccl")
        return path.read_text(), report
    doc = tomlkit.parse(path.read_text())
    eff = doc["efficiency"]
    for k, v in values.items():
        eff[k] = v  # type: ignore[index]
    eff["fitted_on"] = "perfmodel hwdb calibrate: " + " | ".join(described)  # type: ignore[index]
    src = doc["sources"]
    # The template's entry (or none) is replaced; one the user wrote (what was kept from the template, say) is
    # theirs and stays.
    old = str(src.get("efficiency", ""))  # type: ignore[union-attr]
    if old and not old.startswith("TEMPLATE"):
        return tomlkit.dumps(doc), report
    words = old.split(maxsplit=2)
    template = f"the template's ({words[1].rstrip(':')})" if len(words) > 1 else "the template's"
    src["efficiency"] = (  # type: ignore[index]
        "The fractions efficiency.fitted_on names: fitted by perfmodel hwdb calibrate on this device's own "
        f"measurements; the other [efficiency] figures (attention, overheads, any inherit_from) are {template}"
    )
    return tomlkit.dumps(doc), report
