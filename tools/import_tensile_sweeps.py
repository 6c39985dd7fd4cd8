"""Turns a rocBLAS Tensile library-logic file's benchmarked sizes into ``python/perfmodel/data/tensile_sweeps.csv``
(suite ``sizing``, sweeps ``tensile_*``).

A Tensile logic file lists, for every size AMD benchmarked when tuning rocBLAS for a GPU, the winning kernel and
its benchmarked speed (``[[M, N, batch, K], [solution, speed]]``; Tensile ``LibraryLogic.py`` @ a164ed70d writes the
``WinnerGFlops`` column of the benchmark CSV). Tensile's benchmark protocol (``Tensile/Common.py`` @ a164ed70d
defaults): kernel time by GPU events, ``EnqueuesPerSync`` 1, ``SyncsPerBenchmark`` 1, ``NumBenchmarks`` 1,
``SleepPercent`` 300 (the GPU idles 3x the kernel's time between data points), ``PinClocks`` False.

The speed's unit is an efficiency in percent, not GFLOP/s: rocBLAS's tuning flow converts the GFLOP/s of the
logic files it ships with ROCm/Tensile ``tuning/automation/ConvertToEfficiency.py`` @ a164ed70d, which replaces
every figure by ``round(100 * GFLOP/s / (sclk / 1000 * alu * numCUs), 3)`` (``peakGFlops``: sclk the clock in MHz
"tuning was done at", a command-line argument; alu the FLOP per cycle per CU of the data type from a hardware-spec
file; numCUs the device's CUs; its ``-x`` option selects the ``...X`` schedule, the folder name of this file).
``tuning_docs/tensile_tuning.tex`` @ 051b8a8df (2024-08-28) names the second number of a size's entry the
"measured efficiency" and gives the same formula (efficiency = kernel GFLOP/s x 1000 / (ops/CU/cycle x sclk MHz x
CUs) x 100). The rows therefore keep the figure as ``efficiency`` in percent of the device's peak at the tuning
clock; the hardware-spec file and the clock are not published, so the clock is the one unknown of the unit (the
peak per cycle is MI300X's 1,307.4 TFLOP/s fp16 / 2.1 GHz = 2,048 FLOP/cycle/CU x 304 CUs). The figures bear it
out: the largest sizes reach 91.3 (a percentage, < 100), which as GFLOP/s or TFLOP/s would be 0.007 % or 7 % of
the device's peak where published MI300X GEMM rows run near 50 % of it (hwdb ``gemm_16bit_fraction``); the
aldebaran (MI250X) file of the same flow reaches 95.7 at 8192^3.

The file written is rocBLAS's gfx942 fp16 GEMM (``HHS``: fp16 inputs and outputs, fp32 accumulation, neither
operand transposed) table for device 0x74a1 (MI300X): ``library/src/blas3/Tensile/Logic/asm_full/aquavanjaram942X/
aquavanjaram942_Cijk_Ailk_Bljk_HHS_BH.yaml`` at rocBLAS commit b520bc83f (2024-10-23). Left out: 16 sizes whose
figure is 0.001 (hand-added sizes: their implied times are below 0.1 us) and every figure below 1 (rounded to 3
decimals).

    python tools/import_tensile_sweeps.py ROCBLAS_GIT_DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

COMMIT = "b520bc83fa67045bed4544f33ba83ce3a7c39c44"
FILES = {
    "tensile_mi300x_rocblas_fp16": (
        "mi300x",
        "library/src/blas3/Tensile/Logic/asm_full/aquavanjaram942X/aquavanjaram942_Cijk_Ailk_Bljk_HHS_BH.yaml",
    ),
}
OUT = Path("python/perfmodel/data/tensile_sweeps.csv")


def rows(text: str, device: str, sweep: str, path: str, commit: str) -> list[dict[str, str]]:
    """One CSV row per benchmarked size whose figure is >= 1. The GEMM in PyTorch's row-major terms is m = N,
    n = M of the column-major table (C^T = B^T A^T), k = K."""
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out = []
    url = f"https://github.com/ROCm/rocBLAS/blob/{commit}/{path}"
    for (big_m, big_n, batch, k), (solution, speed) in data[7]:
        if float(speed) < 1.0:
            continue
        m, n = big_n, big_m
        params = {"dtype": "fp16", "m": m, "n": n, "k": k, "batch": batch, "solution": solution}
        out.append(
            {
                "device": device,
                "sweep": sweep,
                "operation": f"rocBLAS Tensile {m}x{n}x{k}" + (f" b={batch}" if batch != 1 else "") + " fp16",
                "params": json.dumps(params, separators=(",", ":")),
                "metric": "efficiency",
                "value": f"{float(speed):g}",
                "unit": "% of peak at the tuning clock",
                "source": f"ROCm/rocBLAS {path} @ {commit} {url}: the winning kernel's benchmarked speed of this "
                "size as an efficiency, 100 x GFLOP/s / (sclk x FLOP/cycle/CU x CUs) (ROCm/Tensile "
                "tuning/automation/ConvertToEfficiency.py @ a164ed70d; GPU-event timing; the tuning clock sclk is "
                "not stated)",
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mirror", help="git directory of a ROCm/rocBLAS clone holding the commit")
    args = ap.parse_args(argv)
    out: list[dict[str, str]] = []
    for sweep, (device, path) in FILES.items():
        text = subprocess.run(
            ["git", "-C", args.mirror, "show", f"{COMMIT}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        out += rows(text, device, sweep, path, COMMIT)
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(out)
    print(f"wrote {OUT}: {len(out)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
