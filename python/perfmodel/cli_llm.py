"""``perfmodel llm``: search the best training plans, or estimate one plan.

perfmodel llm search MODEL SYSTEM NODES --global-batch N [--top 10] [--tp 8 --pp 1,2,4 ...]
perfmodel llm estimate MODEL SYSTEM NODES --global-batch N [--tp 8 --pp 8 --vp 1 --micro-batch 1 --recompute full --zero 1 --sp]
    [--group SYSTEM:NODES ... --placement nic-aware|naive|compare --layers-per-stage 26,22|auto --no-fallback]
perfmodel llm presets
perfmodel llm sizing MODEL DEVICE [--tp 1 --seq-len N --micro-batch 1 --forward --format json]  (``cli_sizing``)
perfmodel llm sizing-rules [--devices mi300x,h100-sxm5-80gb --format json]

With ``--group`` (more node groups, e.g. a RoCE cluster next to an InfiniBand one) or ``--placement`` the
plan is placed over the nodes (see ``perfmodel.llm.placement``) and each stage is reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import polars as pl

from . import cli_sizing, llm
from .cluster import cluster as make_cluster
from .errors import InvalidArgumentError, PerfModelError


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perfmodel llm", description="LLM training plans: search and estimate")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("presets", help="list model presets")
    cli_sizing.add_parsers(sub)
    for name in ("search", "estimate"):
        s = sub.add_parser(name)
        s.add_argument("model", help="preset id or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-a100")
        s.add_argument("nodes", type=int)
        s.add_argument("--global-batch", type=int, required=True)
        s.add_argument("--dtype", default="bf16")
        s.add_argument("--frozen-weights", action="store_true",
                       help="fine-tuning with the weights frozen (LoRA): no weight gradients, reduction or optimizer for them")  # fmt: skip
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
            s.add_argument("--group", action="append", default=[], metavar="SYSTEM:NODES",
                           help="another node group of the cluster (repeatable)")  # fmt: skip
            s.add_argument(
                "--placement", default=None, help="nic-aware (default with groups), naive, or compare"
            )
            s.add_argument(
                "--layers-per-stage", default=None, help="comma-separated layers per stage, or auto"
            )
            s.add_argument(
                "--no-fallback", action="store_true", help="the groups share no network (no TCP fallback)"
            )
    return p


def _placed(args: argparse.Namespace, plan: dict[str, object]) -> int:
    groups: list[tuple[str, int]] = [(args.system, args.nodes)]
    for g in args.group:
        system, _, nodes = g.rpartition(":")
        if not system or not nodes.isdigit():
            raise InvalidArgumentError(
                f"argument `--group`: is {g!r}; expected SYSTEM:NODES, e.g. holmes-a100-roce:2"
            )
        groups.append((system, int(nodes)))
    c = make_cluster(groups, fallback_nic=None if args.no_fallback else "eth-100g")
    lps: str | list[int] = "auto"
    if args.layers_per_stage and args.layers_per_stage != "auto":
        lps = _ints(args.layers_per_stage)
    if args.placement == "compare":
        with pl.Config(tbl_cols=20, tbl_width_chars=160):
            print(llm.compare_placements(args.model, c, layers_per_stage=lps, **plan))  # type: ignore[arg-type]
        return 0
    e = llm.estimate(args.model, c, placement=args.placement or "nic-aware", layers_per_stage=lps, **plan)  # type: ignore[arg-type]
    print(e)
    with pl.Config(tbl_cols=20, tbl_width_chars=160):
        print(
            e.stages.select(
                "stage",
                "system",
                "nodes",
                "transport",
                "layers",
                "micro_batch_s",
                "dp_comm_s",
                "p2p_transport",
            )
        )
        print(e.breakdown)
    print("partition:", getattr(e, "reason", ""))
    return 0


def _calibration_line(system: str) -> str:
    """What the estimate's factors are and what they were fitted on."""
    c = llm.calibration(system)
    if c["fitted_on"] == "uncalibrated":
        return f"calibration: none for {system} (the engines as validated)"
    return (
        f"calibration of {system}: kernels x{c['compute_time_scale']:.4g}, links x{c['comm_bandwidth_scale']:.4g}, "
        f"network x{c['network_bandwidth_scale']:.4g}; fitted on {c['fitted_on']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.cmd == "presets":
            for k in llm.presets():
                m = llm.model(k)
                print(f"{k:18s} {m.params / 1e9:9.2f}B  {m.source}")
            return 0
        if args.cmd in ("sizing", "sizing-rules"):
            return cli_sizing.run(args)
        cluster = (args.system, args.nodes)
        if args.cmd == "estimate":
            plan = dict(tp=args.tp, pp=args.pp, vp=args.vp, micro_batch=args.micro_batch, global_batch=args.global_batch,
                        recompute=args.recompute, zero=args.zero, sp=args.sp, dtype=args.dtype,
                        frozen_weights=args.frozen_weights)  # fmt: skip
            if args.group or args.placement or args.layers_per_stage or args.no_fallback:
                return _placed(args, plan)
            e = llm.estimate(args.model, cluster, **plan)
            print(e)
            print(e.breakdown)
            print(e.memory_breakdown)
            with pl.Config(tbl_rows=20, tbl_cols=12, tbl_width_chars=260, fmt_str_lengths=60):
                print(e.collectives.select("group", "what", "op", "algorithm", "levels", "ranks", "bytes", "time_s",
                                           "calls_per_step"))  # fmt: skip
            print(_calibration_line(args.system))
            return 0
        r = llm.search_full(
            args.model, cluster, global_batch=args.global_batch, tp=args.tp, pp=args.pp, vp=args.vp, micro_batch=args.micro_batch, zero=args.zero,
            recompute=args.recompute.split(",") if args.recompute else None, dtype=args.dtype, top=args.top,
            frozen_weights=args.frozen_weights,
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
