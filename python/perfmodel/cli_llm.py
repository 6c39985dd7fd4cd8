"""``perfmodel llm``: search the best training plans, or estimate one plan.

perfmodel llm search MODEL SYSTEM NODES --global-batch N [--top 10] [--tp 8 --pp 1,2,4 ...]
perfmodel llm estimate MODEL SYSTEM NODES --global-batch N [--tp 8 --pp 8 --vp 1 --micro-batch 1 --recompute full --zero 1 --sp]
perfmodel llm presets
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import polars as pl

from . import llm
from .errors import PerfModelError


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perfmodel llm", description="LLM training plans: search and estimate")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("presets", help="list model presets")
    for name in ("search", "estimate"):
        s = sub.add_parser(name)
        s.add_argument("model", help="preset id or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-a100")
        s.add_argument("nodes", type=int)
        s.add_argument("--global-batch", type=int, required=True)
        s.add_argument("--dtype", default="bf16")
        if name == "search":
            s.add_argument("--top", type=int, default=10)
            for k in ("tp", "pp", "vp", "micro-batch", "zero"):
                s.add_argument(f"--{k}", type=_ints, default=None, help="comma-separated choices")
            s.add_argument("--recompute", default=None, help="comma-separated: none,selective,full")
        else:
            for k, d in (("tp", 1), ("pp", 1), ("vp", 1), ("micro-batch", 1), ("zero", 0)):
                s.add_argument(f"--{k}", type=int, default=d)
            s.add_argument("--recompute", default="none")
            s.add_argument("--sp", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.cmd == "presets":
            for k in llm.presets():
                m = llm.model(k)
                print(f"{k:18s} {m.params / 1e9:9.2f}B  {m.source}")
            return 0
        cluster = (args.system, args.nodes)
        if args.cmd == "estimate":
            e = llm.estimate(args.model, cluster, tp=args.tp, pp=args.pp, vp=args.vp, micro_batch=args.micro_batch, global_batch=args.global_batch,
                             recompute=args.recompute, zero=args.zero, sp=args.sp, dtype=args.dtype)  # fmt: skip
            print(e)
            print(e.breakdown)
            print(e.memory_breakdown)
            return 0
        r = llm.search_full(
            args.model, cluster, global_batch=args.global_batch, tp=args.tp, pp=args.pp, vp=args.vp, micro_batch=args.micro_batch, zero=args.zero,
            recompute=args.recompute.split(",") if args.recompute else None, dtype=args.dtype, top=args.top,
        )  # fmt: skip
        with pl.Config(tbl_rows=args.top, tbl_cols=20, tbl_width_chars=160):
            print(
                r.plans.select(
                    "tp",
                    "pp",
                    "dp",
                    "vp",
                    "micro_batch",
                    "sp",
                    "recompute",
                    "zero",
                    "step_time_s",
                    "tokens_per_s",
                    "mfu",
                    "memory_per_gpu_bytes",
                )
            )
        print(f"{r.candidates:,} candidates in {r.seconds * 1e3:.0f} ms; skipped: {r.skipped}")
        return 0
    except PerfModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
