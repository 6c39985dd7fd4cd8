"""Turns the GEMM sweeps of the EleutherAI cookbook into ``python/perfmodel/data/gemm_sweeps.csv`` (suite ``sizing``).

The sweeps are the raw logs behind the GEMM figures of Anthony et al., "The Case for Co-Designing Model
Architectures with Hardware" (arXiv:2401.14489): EleutherAI/cookbook, ``sizing/results/gemm_data/`` at commit
27dff48d595fb698e53673b750fbcc480b2f2235 ("track sizing folder", 2023-12-25; unchanged until the folder was
removed in 405f57389e1256e20a732bdf904b2398c135e418), one file per GPU (``a100``, ``v100``, ``mi250x``) and sweep:

- ``mm/m_sweep``: ``torch.mm`` of (m x 4096) by (4096 x m), m = 32..8192 (powers of two);
- ``mm/ksweep_low``: (27648 x 4096) by (4096 x k), k = 64..510 in steps of 2 (the narrow-output alignment sweep);
- ``mm/ksweep_high``: (2304 x 4096) by (4096 x k), k = 1536..6144 in steps of 64 (the wave-quantization sweep);
- ``bmm/bsweep``: ``torch.bmm`` of b square GEMMs 1024..8192, b = 1..64;
- ``bmm/msweep``: ``torch.bmm`` of b GEMMs (m x 4096) by (4096 x m), m = 32..8192, b = 1..64;

and two vocabulary sweeps of the same commit, ``sizing/results/transformer_data/vocab_v_sweep.out`` and
``vocab_h_sweep.out``: ``torch.nn.functional.linear`` of x (8192 x k) by W (n x k) with the inner dimension
k = 51136..51264 (n = 14336) and the output n = 14272..14400 (k = 51200), every size in between (odd ones
included). These two files do not name their GPU: their aligned rows reach 254-256 TFLOP/s, above the fp16 peak of
a V100 (125) or an MI250X GCD (191.5) and equal to the top of the cookbook's A100 logs (251-257), far below what an
H100 reaches; they are taken as A100 (``a100-sxm4-40gb``), an inference the rows' ``source`` states.

The logs print ``MxNxK`` (or ``BxMxNxK``, or ``MxNxK, b=B``) with A of m x n and B of n x k (of k x n for
``linear``; ``sizing/benchmarks/mm_flops.py`` and ``bmm_flops.py`` at the same commit), so the GEMM in BLAS terms
(C = A B, C of m x n, inner dimension k) is m = M, n = K, k = N; the rows store that convention. Inputs are fp16 (``.half()``). Method, from the scripts:
``mm``: 50 warm-up calls, then the mean of 100 calls each timed with ``time.time()`` around the call and a
``torch.cuda.synchronize()`` (host synchronisation per call included; ``linear`` likewise, ``benchmark_mm_b``);
``bmm``: 50 warm-up calls, then the slowest
of 200 such calls (``np.amax`` of the per-call times). The logs name the GPU only by file name: the A100 variant
(40 or 80 GB) and the software versions are not given; the log paths of the same commit are on an AWS FSx file
system (``/fsx/...``), and the alignment sweep's HBM-bound rows agree better with the 40 GB part's 1,555 GB/s
than with the 80 GB part's 2,039 (the A100 rows' median error 3.2% against 5.7%), so they are priced as
``a100-sxm4-40gb`` (the same GA100 die and clocks either way). Lines before a file's first shape of its sweep (the script's first loop iteration) and
lines whose shape is not of the sweep are left out: ``bmm/msweep/v100.out`` opens with four b = 64 square GEMMs
(1024..8192) of the ``bsweep`` design, which ``bsweep/v100.out`` lacks (it stops at b = 32), before its own
b = 1, m = 32 line. Where a shape appears twice in one file after that, the first line is kept.

    python tools/import_cookbook_sweeps.py MIRROR_GIT_DIR [--stdout]

``MIRROR_GIT_DIR`` is a clone (bare or not) of github.com/EleutherAI/cookbook holding the commit above.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

OUT = Path("python/perfmodel/data/gemm_sweeps.csv")
COLUMNS = ["device", "sweep", "operation", "params", "metric", "value", "unit", "source"]
REPO = "EleutherAI/cookbook"
COMMIT = "27dff48d595fb698e53673b750fbcc480b2f2235"
ROOT = "sizing/results"
#: Log file name -> hwdb device id. The A100 variant is not stated (40 GB assumed: AWS p4d, see the docstring).
DEVICES = {"a100": "a100-sxm4-40gb", "v100": "v100-sxm2-32gb", "mi250x": "mi250x-gcd"}
#: Sweep -> (whether a (m, n, k, batch) shape is of its design, its first shape as (m, n, batch)), from
#: ``mm_flops.py`` / ``bmm_flops.py``.
SWEEPS = {
    "mm/m_sweep": (lambda m, n, k, b: k == 4096 and m == n, (32, 32, 1)),
    "mm/ksweep_low": (lambda m, n, k, b: (m, k) == (27648, 4096), (27648, 64, 1)),
    "mm/ksweep_high": (lambda m, n, k, b: (m, k) == (2304, 4096), (2304, 1536, 1)),
    "bmm/bsweep": (lambda m, n, k, b: m == n == k, (1024, 1024, 1)),
    "bmm/msweep": (lambda m, n, k, b: k == 4096 and m == n, (32, 32, 1)),
}
#: The vocabulary sweeps: file under ROOT -> (sweep, design, first shape), all on an A100 (inferred, see above).
VOCAB = {
    "transformer_data/vocab_v_sweep.out": (
        "a100_vocab_inner_sweep",
        lambda m, n, k, b: (m, n) == (8192, 14336),
        (8192, 14336, 1),
    ),
    "transformer_data/vocab_h_sweep.out": (
        "a100_vocab_out_sweep",
        lambda m, n, k, b: (m, k) == (8192, 51200),
        (8192, 14272, 1),
    ),
}
VOCAB_DEVICE = "a100-sxm4-40gb"
METHOD = {
    "linear": "torch.nn.functional.linear fp16 (x of m x k by W of n x k), 50 warm-up calls, mean of 100 calls each "
    "timed by time.time() with torch.cuda.synchronize() after the call (benchmark_mm_b, "
    "sizing/benchmarks/mm_flops.py); the file names no GPU: A100 inferred from its aligned rows' 254-256 TFLOP/s "
    "(above V100's and MI250X's fp16 peaks, the top of the cookbook's A100 logs)",
    "mm": "torch.mm fp16, 50 warm-up calls, mean of 100 calls each timed by time.time() with "
    "torch.cuda.synchronize() after the call (sizing/benchmarks/mm_flops.py)",
    "bmm": "torch.bmm fp16, 50 warm-up calls, the slowest of 200 calls each timed by time.time() with "
    "torch.cuda.synchronize() after the call (sizing/benchmarks/bmm_flops.py)",
}
_LINE = re.compile(r"Throughput \(in TFLOP/s\) for (\d+(?:x\d+){2,3})(?:, b=(\d+))?: (\d+(?:\.\d+)?)")


def parse(text: str) -> list[tuple[dict[str, int], float]]:
    """The (shape, TFLOP/s) pairs of one log in its order, shape in BLAS terms (m, n, k, batch)."""
    out: list[tuple[dict[str, int], float]] = []
    for line in text.splitlines():
        hit = _LINE.search(line)
        if hit is None:
            continue
        dims = tuple(int(d) for d in hit.group(1).split("x"))
        b, (m, inner, n) = (int(hit.group(2) or 1), dims) if len(dims) == 3 else (dims[0], dims[1:])
        out.append(({"m": m, "n": n, "k": inner, "batch": b}, float(hit.group(3))))
    return out


def _logs() -> list[tuple[str, str, str, str, Any, tuple[int, int, int]]]:
    """(path under ROOT, device, sweep, kind, design, first shape) of every log read."""
    out: list[tuple[str, str, str, str, Any, tuple[int, int, int]]] = []
    for name, device in DEVICES.items():
        for sweep, (of_design, first) in SWEEPS.items():
            path = f"gemm_data/{sweep}/{name}.out"
            out.append(
                (path, device, f"{name}_{sweep.replace('/', '_')}", sweep.split("/")[0], of_design, first)
            )
    for path, (sweep, of_design, first) in VOCAB.items():
        out.append((path, VOCAB_DEVICE, sweep, "linear", of_design, first))
    return out


def rows(git_dir: Path) -> list[dict[str, str]]:
    """Every row of the CSV, read from the mirror at ``COMMIT``."""
    out = []
    for rel, device, sweep, kind, of_design, first in _logs():
        path = f"{ROOT}/{rel}"
        text = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{COMMIT}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        source = (
            f"{REPO}: {path} @ {COMMIT} https://github.com/{REPO}/blob/{COMMIT}/{path} (raw data of Anthony "
            f"et al., arXiv:2401.14489, GEMM figures); {METHOD[kind]}"
        )
        shapes = parse(text)
        start = next(i for i, (p, _) in enumerate(shapes) if (p["m"], p["n"], p["batch"]) == first)
        seen: set[tuple[int, ...]] = set()
        for shape, tflops in shapes[start:]:
            key = tuple(shape.values())
            if key in seen or not of_design(shape["m"], shape["n"], shape["k"], shape["batch"]):
                continue
            seen.add(key)
            b = shape["batch"]
            op = (
                f"{kind} {shape['m']}x{shape['n']}x{shape['k']}"
                + (f" b={b}" if kind == "bmm" else "")
                + " fp16"
            )
            log_shape = f"{shape['m']}x{shape['k']}x{shape['n']}"
            params = {
                "dtype": "fp16",
                **shape,
                "log_shape": log_shape if kind != "bmm" else f"{b}x{log_shape}",
            }
            out.append({
                "device": device, "sweep": sweep, "operation": op,
                "params": json.dumps(params, separators=(",", ":")), "metric": "tflops",
                "value": f"{tflops:g}", "unit": "TFLOP/s", "source": source,
            })  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "git_dir", type=Path, help="a clone of github.com/EleutherAI/cookbook (its .git or bare dir)"
    )
    ap.add_argument("--stdout", action="store_true", help="print the CSV instead of writing it")
    args = ap.parse_args(argv)
    git_dir = args.git_dir / ".git" if (args.git_dir / ".git").is_dir() else args.git_dir
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    data = rows(git_dir)
    w.writerows(data)
    if args.stdout:
        sys.stdout.write(buf.getvalue())
    else:
        OUT.write_text(buf.getvalue())
        print(f"{OUT}: {len(data)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
