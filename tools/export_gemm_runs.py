"""Writes the per-run GEMM throughputs behind ``python/perfmodel/data/measured_gpu.csv`` into
``python/perfmodel/data/measured_gpu_runs.csv``: one row per device, operation and run (the GEMM rows of
``measured_gpu.csv`` keep only the median, the number of runs and the lowest and highest run).

The sizing suite uses them for each sweep's noise ceiling (``perfmodel.validation.sizing.noise_ceiling``): the
Spearman rank correlation of one run of the sweep against another, how well two measurements of the same ordering
agree. The runs are the ones ``tools/import_gpu_measurements.py`` and ``tools/import_fp8_measurements.py`` turned
into ``measured_gpu.csv``, read with those tools' own parsers (same operation names, same values), in the order
given here (run 1 is the first file):

    python tools/export_gemm_runs.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_fp8_measurements as fp8  # noqa: E402
import import_gpu_measurements as gpu  # noqa: E402

OUT = Path("python/perfmodel/data/measured_gpu_runs.csv")
COLUMNS = ["device", "group", "operation", "metric", "run", "value"]
RUNS = Path("validation/gpu_runs")
#: (device, tool, runs in order), as imported into ``measured_gpu.csv``.
SOURCES: tuple[tuple[str, str, list[Path]], ...] = (
    ("h100-sxm5-80gb", "gpu", sorted((RUNS / "h100-sxm5-2026-11-23").glob("run*.jsonl"))),
    ("h200-sxm-141gb", "gpu", sorted((RUNS / "h200-2026-11-23").glob("run*.jsonl"))),
    ("h200-sxm-141gb", "fp8", sorted((RUNS / "fp8_h200_2026-12-04").glob("run*"))),
)
#: The groups the sizing sweeps take rows from.
GROUPS = ("gemm", "fp8_gemm")


def rows() -> list[dict[str, object]]:
    """One row per device, GEMM operation, metric and run."""
    out: list[dict[str, object]] = []
    for device, tool, paths in SOURCES:
        if not paths:
            sys.exit(f"no runs of {device} under {RUNS}")
        for run, path in enumerate(paths, start=1):
            if tool == "gpu":
                recs = [
                    (group, gpu._operation(r), metric, value)
                    for r in gpu._records(path)
                    for group, metric, _unit, value in gpu._values(r)
                ]
            else:
                ok, _failed = fp8._records(path)
                recs = [
                    (r["kind"], fp8._operation(r), metric, value)
                    for r in ok
                    for metric, _unit, value in fp8._values(r)
                ]
            for group, operation, metric, value in recs:
                if group in GROUPS and metric == "tflops":
                    out.append(
                        {
                            "device": device,
                            "group": group,
                            "operation": operation,
                            "metric": metric,
                            "run": run,
                            "value": round(value, 4),
                        }
                    )
    return out


def main() -> None:
    data = rows()
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(data)
    print(f"wrote {len(data)} rows to {OUT}")


if __name__ == "__main__":
    main()
