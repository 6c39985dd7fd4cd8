"""Turns runs of ``tools/measure_fp8.py`` into rows of ``python/perfmodel/data/measured_gpu.csv`` (same columns
as the rows of ``tools/import_gpu_measurements.py``).

Groups: ``fp8_gemm`` (bf16 and fp8 GEMMs of the linear layers and squares, TFLOP/s), ``fp8_cast``,
``fp8_amax``, ``fp8_transpose``, ``fp8_fused`` (TB/s over the bytes the ideal single kernel reads and writes,
given in ``params``), ``fp8_scale_update`` (microseconds per call), ``fp8_linear`` (a whole linear layer's
training GEMMs and FP8 overheads in plain PyTorch) and ``te_linear`` (Transformer Engine ``te.Linear``), both
in microseconds per call and effective TFLOP/s. Each row is the median over the runs given; ``params`` keeps
the shape, the layers that use it, the number of runs and the lowest and highest run. The rows of these groups
for DEVICE_ID already in the file are replaced; every other row is kept. Records with an error, skipped
sections and the compile probe are left out (the error records are listed).

    python tools/import_fp8_measurements.py DEVICE_ID RUN_DIR_OR_FILE [...] [--csv PATH] [--stdout] [--allow-check]

A run is a folder holding ``fp8_measurements.jsonl`` and ``fp8_env.json``, or a file of the script's printed
lines (each measurement is one JSON line) with ``fp8_env.json`` beside it. ``--stdout`` prints the new rows as
CSV instead of writing the file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

CSV_PATH = Path("python/perfmodel/data/measured_gpu.csv")
COLUMNS = ["device", "group", "operation", "params", "metric", "value", "unit", "source"]
GROUPS = (
    "fp8_gemm",
    "fp8_cast",
    "fp8_amax",
    "fp8_transpose",
    "fp8_fused",
    "fp8_scale_update",
    "fp8_linear",
    "te_linear",
)
#: Keys that are measured (vary between runs) rather than name the measurement.
VALUE_KEYS = {
    "time_s",
    "tflops",
    "tbps",
    "kernels",
    "kernel_names",
    "kernels_error",
    "compile_s",
    "fp8_reason",
}


def _records(path: Path) -> tuple[list[dict], list[dict]]:
    f = path / "fp8_measurements.jsonl" if path.is_dir() else path
    ok, failed = [], []
    for line in f.read_text().splitlines():
        line = line.strip()
        if not line.startswith('{"kind"'):
            continue
        r = json.loads(line)
        if r["kind"] not in GROUPS:
            continue
        if "error" in r:
            failed.append(r)
        elif "time_s" in r:
            ok.append(r)
    return ok, failed


def _values(r: dict) -> list[tuple[str, str, float]]:
    """(metric, unit, value) of one record."""
    k = r["kind"]
    if k == "fp8_gemm":
        return [("tflops", "TFLOP/s", r["tflops"])]
    if k in ("fp8_cast", "fp8_amax", "fp8_transpose", "fp8_fused"):
        return [("tbps", "TB/s", r["tbps"])]
    if k == "fp8_scale_update":
        return [("us_per_call", "us", r["time_s"] * 1e6)]
    if k in ("fp8_linear", "te_linear"):
        return [("us_per_call", "us", r["time_s"] * 1e6), ("tflops", "TFLOP/s", r["tflops"])]
    raise ValueError(f"unknown kind {k!r}")


def _operation(r: dict) -> str:
    k = r["kind"]
    if k == "fp8_gemm":
        dt = (
            f"fp8 {r['a_dtype']}x{r['b_dtype']} {'fast' if r['fast_accum'] else 'split'} accumulation"
            if r["dtype"] == "fp8"
            else "bf16"
        )
        return f"GEMM {r['m']}x{r['n']}x{r['k']} {r['role']} {dt} ({r['layout']})"
    if k in ("fp8_cast", "fp8_amax", "fp8_transpose", "fp8_fused"):
        return f"{r['op']} bf16 {r['rows']}x{r['cols']} -> {r['fp8']}"
    if k == "fp8_scale_update":
        if r["op"].startswith("reference"):
            return f"{r['op']} (graph)"
        return f"amax history {r['hist_len']}x{r['tensors']} scale update {r['op']}"
    layer = f"{r['model']} tp{r['tp']} {r['layer']} {r['tokens']}x{r['in']}->{r['out']}"
    if k == "fp8_linear":
        return f"linear fwd+dgrad+wgrad {r['variant']} {layer}"
    return f"te.Linear {r['mode']} {r['variant']} {layer}"


def _source(env: dict) -> str:
    smi = env.get("nvidia_smi_before", {})
    te = env.get("transformer_engine") or env.get("transformer-engine") or "not installed"
    return (
        f"perfmodel measurement {env['date_utc'][:10]} on {env['device']} ({env.get('sm_count', '?')} SMs, power limit "
        f"{smi.get('power.limit', '?')}, driver {smi.get('driver_version', '?')}), torch {env['torch']}, CUDA {env['cuda']}, "
        f"cuBLAS {env.get('nvidia-cublas', '?')}, cuDNN {env.get('cudnn', '?')}, Transformer Engine {te}; "
        "tools/measure_fp8.py: random-normal inputs, CUDA-graph replay of back-to-back calls (te.Linear eager), "
        "median of 7 replays per run"
    )


def _identity(r: dict) -> tuple:
    return tuple((key, json.dumps(v, sort_keys=True)) for key, v in r.items() if key not in VALUE_KEYS)


def build_rows(device: str, paths: list[Path], allow_check: bool = False) -> tuple[list[dict], list[dict]]:
    env_path = next(
        (q for p in paths for q in (p / "fp8_env.json", p.parent / "fp8_env.json") if q.exists()), None
    )
    if env_path is None:
        sys.exit("no fp8_env.json in or beside the runs given")
    env = json.loads(env_path.read_text())
    if env.get("check_mode") and not allow_check:
        sys.exit(
            f"{env_path} is from a --check run (CPU, shapes / 16): not measurements (--allow-check to import anyway)"
        )
    grouped: dict[tuple, list[float]] = defaultdict(list)
    first: dict[tuple, tuple[dict, str, str]] = {}
    failed = []
    for path in paths:
        ok, bad = _records(path)
        failed += bad
        for r in ok:
            ident = _identity(r)
            for metric, unit, value in _values(r):
                key = (ident, metric)
                grouped[key].append(value)
                first.setdefault(key, (r, metric, unit))
    source = _source(env)
    rows = []
    for key, vals in grouped.items():
        r, metric, unit = first[key]
        params = {k: v for k, v in r.items() if k not in VALUE_KEYS and k != "kind"}
        if "kernels" in r:
            params["kernels"] = r["kernels"]
        params.update(runs=len(vals), run_min=round(min(vals), 4), run_max=round(max(vals), 4))
        rows.append(
            {
                "device": device,
                "group": r["kind"],
                "operation": _operation(r),
                "params": json.dumps(params, separators=(",", ":")),
                "metric": metric,
                "value": round(statistics.median(vals), 4),
                "unit": unit,
                "source": source,
            }
        )
    return rows, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("device")
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--csv", type=Path, default=CSV_PATH, help=f"file to update (default {CSV_PATH})")
    ap.add_argument("--stdout", action="store_true", help="print the new rows instead of writing the file")
    ap.add_argument(
        "--allow-check", action="store_true", help="accept --check runs (for testing this script)"
    )
    args = ap.parse_args()
    rows, failed = build_rows(args.device, args.runs, args.allow_check)
    for r in failed:
        print(f"left out (error): {json.dumps(r)[:300]}", file=sys.stderr)
    ops = [(r["group"], r["operation"], r["metric"]) for r in rows]
    dup = {o for o in ops if ops.count(o) > 1}
    if dup:
        sys.exit(f"operations not unique: {sorted(dup)[:5]}")
    if args.stdout:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
        print(buf.getvalue(), end="")
        return
    kept = []
    if args.csv.exists():
        with args.csv.open(newline="") as f:
            kept = [r for r in csv.DictReader(f) if not (r["device"] == args.device and r["group"] in GROUPS)]
    with args.csv.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(kept + rows)
    print(
        f"wrote {len(rows)} {args.device} FP8 rows ({len(failed)} error records left out); {len(kept) + len(rows)} rows in {args.csv}"
    )


if __name__ == "__main__":
    main()
