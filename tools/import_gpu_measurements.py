"""Turns runs of ``tools/measure_gpu.py`` into ``python/perfmodel/data/measured_gpu.csv``, the validation rows this
project measured itself (suite ``measured``).

Each row is the median over the runs given (the rows of other devices already in the file are kept); ``params`` keeps the shape, the number of runs and the lowest and
highest run. Rows from runs on one GPU share one ``source`` naming the GPU, date, driver and software versions
and the method, read from the first run's ``env.json``.

    python tools/import_gpu_measurements.py DEVICE_ID RUN_DIR_OR_FILE [...]

A run is a folder holding ``measurements.jsonl`` and ``env.json``, or a file of the script's printed lines (each
measurement is one JSON line) with ``env.json`` beside it. The runs of 2026-11-23 (H100 SXM5 and H200) are kept
in ``validation/gpu_runs/``:

    python tools/import_gpu_measurements.py h100-sxm5-80gb validation/gpu_runs/h100-sxm5-2026-11-23/*run*.jsonl
    python tools/import_gpu_measurements.py h200-sxm-141gb validation/gpu_runs/h200-2026-11-23/run*.jsonl
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

OUT = Path("python/perfmodel/data/measured_gpu.csv")
COLUMNS = ["device", "group", "operation", "params", "metric", "value", "unit", "source"]
SHAPE_KEYS = (
    "dtype",
    "m",
    "n",
    "k",
    "batch",
    "kernel",
    "array_bytes",
    "reads",
    "writes",
    "op",
    "rows",
    "cols",
    "read_bytes",
    "write_bytes",
    "backend",
    "heads",
    "seq",
    "head_dim",
    "causal",
    "mode",
    "variant",
    "data",
    "hidden",
    "layers",
    "vocab",
    "params",
)


def _records(path: Path) -> list[dict]:
    files = [path / "measurements.jsonl", path / "train_steps.jsonl"] if path.is_dir() else [path]
    out = []
    for line in (ln for f in files if f.exists() for ln in f.read_text().splitlines()):
        line = line.strip()
        if line.startswith('{"kind"'):
            r = json.loads(line)
            if "error" not in r:
                out.append(r)
    return out


def _values(r: dict) -> list[tuple[str, str, str, float]]:
    """(group, metric, unit, value) pairs of one record."""
    k = r["kind"]
    if k == "gemm":
        return [("gemm", "tflops", "TFLOP/s", r["tflops"])]
    if k == "gemm_layout":
        return [("gemm_layout", "tflops", "TFLOP/s", r["tflops"])]
    if k == "stream":
        return [("stream", "tbps", "TB/s", r["tbps"])]
    if k == "rowwise":
        return [("rowwise", "tbps", "TB/s", r["tbps"])]
    if k == "attention":
        g = f"attention_{r['backend']}"
        return [
            (g, "fwd_tflops", "TFLOP/s", r["fwd_tflops"]),
            (g, "fwd_bwd_tflops", "TFLOP/s", r["fwd_bwd_tflops"]),
        ]
    if k == "launch":
        return [("launch", "us_per_call", "us", r["time_s"] * 1e6)]
    if k == "train_step":
        return [
            ("train_step", "step_time_ms", "ms", r["time_s"] * 1e3),
            ("train_step", "peak_memory_gb", "GB", r["peak_memory_bytes"] / 1e9),
        ]
    raise ValueError(f"unknown kind {k!r}")


def _operation(r: dict) -> str:
    k = r["kind"]
    if k in ("gemm", "gemm_layout"):
        b = f"{r['batch']}x " if r.get("batch", 1) > 1 else ""
        v = f" {r['variant']} {r['data']}" if k == "gemm_layout" else ""
        return f"GEMM {b}{r['m']}x{r['n']}x{r['k']} {r['dtype']}{v}"
    if k == "stream":
        return f"stream {r['kernel']} fp32 {r['array_bytes'] / 2**20:g} MiB per array"
    if k == "rowwise":
        return f"{r['op']} bf16 {r['rows']}x{r['cols']}"
    if k == "attention":
        c = "causal" if r["causal"] else "non-causal"
        return f"SDPA {r['backend']} b{r['batch']} h{r['heads']} s{r['seq']} d{r['head_dim']} {c}"
    if k == "train_step":
        return f"GPT train step h{r['hidden']} L{r['layers']} a{r['heads']} s{r['seq']} V{r['vocab']} b{r['batch']}"
    return f"{r['op']} ({r['mode']})"


def _source(env: dict, kind: str) -> str:
    smi = env.get("nvidia_smi_before", {})
    method = (
        "tools/measure_train_step.py: plain-PyTorch GPT, fp32 parameters, bf16 autocast, FlashAttention-2 SDPA, "
        "fused AdamW, median of 10 steps after 3 warm-ups"
        if kind == "train_step"
        else "tools/measure_gpu.py: random-normal inputs, CUDA-graph replay of back-to-back calls (attention "
        "forward+backward eager), median of 7 replays per run"
    )
    return (
        f"perfmodel measurement {env['date_utc'][:10]} on {env['device']} ({env['sm_count']} SMs, power limit "
        f"{smi.get('power.limit', '?')}, driver {smi.get('driver_version', '?')}), torch {env['torch']}, CUDA {env['cuda']}, "
        f"cuBLAS {env.get('nvidia-cublas', '?')}, cuDNN {env['cudnn']}; {method}"
    )


def main() -> None:
    device, paths = sys.argv[1], [Path(p) for p in sys.argv[2:]]
    env_path = next(q for p in paths for q in (p / "env.json", p.parent / "env.json") if q.exists())
    env = json.loads(env_path.read_text())
    grouped: dict[tuple, list[float]] = defaultdict(list)
    first: dict[tuple, tuple[dict, str, str, str]] = {}
    for path in paths:
        for r in _records(path):
            shape = tuple((key, r[key]) for key in SHAPE_KEYS if key in r)
            for group, metric, unit, value in _values(r):
                key = (r["kind"], shape, metric)
                grouped[key].append(value)
                first.setdefault(key, (r, group, metric, unit))
    rows = []
    for key, vals in grouped.items():
        r, group, metric, unit = first[key]
        params = {name: value for name, value in key[1]}
        params.update(runs=len(vals), run_min=round(min(vals), 4), run_max=round(max(vals), 4))
        rows.append(
            {
                "device": device,
                "group": group,
                "operation": _operation(r),
                "params": json.dumps(params, separators=(",", ":")),
                "metric": metric,
                "value": round(statistics.median(vals), 4),
                "unit": unit,
                "source": _source(env, r["kind"]),
            }
        )
    # Rows of other devices already in the file stay; this device's rows are replaced.
    if OUT.exists():
        with OUT.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["device"] != device] + rows
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
