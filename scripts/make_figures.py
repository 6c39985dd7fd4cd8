"""Regenerates the figures in docs/ that the README and the notes show, from the examples' own functions, and
checks each one's layout (no overprinting or cut-off text: perfmodel.plots.check) before writing it.

    python scripts/make_figures.py              # writes docs/*.png
    python scripts/make_figures.py --out /tmp   # somewhere else

Needs the plotting extra: pip install '.[plot]'.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
SCALE = 2.0


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def figures() -> dict[str, Callable[[], Any]]:
    """File name in docs/ -> a function building the chart (the examples' functions, so one source)."""
    tour = _example("roofline_tour")
    mix = _example("cheapest_gpu_mix")
    return {
        "roofline_h100.png": tour.roofline_figure,  # README
        "gemm_efficiency.png": tour.gemm_figure,  # README
        "cost_vs_rate.png": mix.cost_figure,  # NOTES.md
    }


def build(out: Path = DOCS, names: list[str] | None = None) -> list[Path]:
    """Builds, checks and writes each figure; raises SystemExit naming the problems of any that fails."""
    from perfmodel.plots import check, save

    written, failed = [], []
    for name, make in figures().items():
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        chart = make()
        problems = check.problems(chart)
        if problems:
            failed.append(f"{name}:\n  " + "\n  ".join(map(str, problems)))
            continue
        path = save(chart, out / name, scale=SCALE)
        w, h = check.png_size(path.read_bytes())
        print(f"wrote {path} ({w} x {h} px, {time.perf_counter() - t0:.1f} s)")
        written.append(path)
    if failed:
        raise SystemExit("layout problems, not written:\n" + "\n".join(failed))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DOCS, help="directory to write into (default: docs/)")
    p.add_argument("names", nargs="*", help="only these figures (file names); default: all")
    args = p.parse_args(argv)
    build(args.out, args.names or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
