"""``perfmodel llm``: search the best training plans, or estimate one plan.

perfmodel llm presets
perfmodel llm search MODEL SYSTEM NODES --global-batch N [--top 10] [--tp 8 --pp 1,2,4 --cp 1,2 --ep 1,8 ...]
perfmodel llm estimate MODEL SYSTEM NODES --global-batch N [--tp 8 --pp 8 --vp 1 --cp 1 --ep 1 --micro-batch 1
    --recompute full --zero 1 --qwz --qgz --hpz 8 --sp --dp-overlap --tp-overlap --pp-overlap --seq-len 4096
    --frozen-weights --lora-rank 16 --lora-dropout]
    [--group SYSTEM:NODES ... --placement nic-aware|naive|compare --layers-per-stage 26,22|auto --no-fallback]
perfmodel llm sizing MODEL DEVICE [--tp 1 --seq-len N --micro-batch 1 --forward]  (``cli_sizing``)
perfmodel llm sizing-rules [--devices mi300x,h100-sxm5-80gb]

The flags map one to one onto :func:`perfmodel.llm.estimate` and :func:`perfmodel.llm.search_full`. With
``--group`` (more node groups, e.g. a RoCE cluster next to an InfiniBand one) or ``--placement`` the plan is
placed over the nodes (see ``perfmodel.llm.placement``) and each stage is reported.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import polars as pl

from . import cli_sizing, llm
from .cli_common import UsageError, add_command, domain_main, emit, frame_text, ints
from .cluster import cluster as make_cluster

__all__ = ["add_parser", "main"]

#: On/off plan options of both commands: (flag, estimate keyword, help).
_FLAGS = (
    ("--sp", "sp", "sequence parallelism (with TP)"),
    ("--qwz", "qwz", "ZeRO++ quantized weight all-gather (int8 weights in the ZeRO-3 gathers)"),
    ("--qgz", "qgz", "ZeRO++ quantized gradient reduce-scatter (int4 gradients, all-to-all based)"),
    ("--dp-overlap", "dp_overlap", "overlap the data-parallel gradient reduction with the backward pass"),
    ("--tp-overlap", "tp_overlap", "overlap the tensor-parallel collectives with the GEMMs"),
    ("--pp-overlap", "pp_overlap", "overlap the pipeline sends with compute"),
    ("--offload-optimizer", "offload_optimizer", "optimizer states in host memory (ZeRO-Offload)"),
    ("--offload-activations", "offload_activations", "stored activations sent to host memory and back"),
    ("--grad-fp32", "grad_fp32", "reduce gradients in fp32 (default: in the training dtype)"),
    ("--cudnn-attention", "cudnn_attention", "price attention as cuDNN fused attention (H100, H200)"),
    ("--frozen-weights", "frozen_weights",
     "fine-tuning with the weights frozen (LoRA): no weight gradients, reduction or optimizer for them"),
)  # fmt: skip
#: Options a search holds fixed only when one of them is given (otherwise it searches them).
_SEARCHED_TOGETHER = (
    ("dp_overlap", "tp_overlap", "pp_overlap"),
    ("offload_optimizer", "offload_activations"),
)
#: Columns of the search table (the frame has more: --format json/csv).
_SEARCH_COLUMNS = ("tp", "pp", "dp", "vp", "cp", "ep", "micro_batch", "sp", "recompute", "zero", "dp_overlap",
                   "tp_overlap", "pp_overlap", "step_time_s", "tokens_per_s", "mfu")  # fmt: skip


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel llm`` and its subcommands."""
    p = sub.add_parser("llm", help="LLM training: model presets, plan search and estimate, sizing advice",
                       description="LLM training plans: search and estimate; the sizing advisor.")  # fmt: skip
    ls = p.add_subparsers(dest="cmd", required=True, metavar="ACTION")
    add_command(ls, "presets", "list model presets (parameters, source)", _presets)
    cli_sizing.add_parsers(ls)
    texts = {
        "search": "every valid plan on all GPUs of the cluster, fastest first",
        "estimate": "one plan's step time, throughput, MFU, memory and communication",
    }
    for name, text in texts.items():
        s = add_command(ls, name, text, _search if name == "search" else _estimate)
        s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-a100 (`perfmodel hwdb list system`)")
        s.add_argument("nodes", type=int, help="nodes of the system")
        s.add_argument("--global-batch", type=int, required=True, help="sequences per optimizer step")
        s.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the model's)")
        s.add_argument(
            "--dtype", default="bf16", help="training GEMM dtype: bf16 (default), fp16, fp8 or nvfp4"
        )
        s.add_argument("--rank-order", default="tp-cp-dp-pp", choices=llm.RANK_ORDERS,
                       help="rank order of the groups, innermost first (default tp-cp-dp-pp, Megatron's; "
                            "tp-cp-pp-dp: NeMo's TP_PP_DP_MAPPING)")  # fmt: skip
        s.add_argument("--cuda-graphs", default="none", choices=llm.CUDA_GRAPHS,
                       help="kernels replayed from CUDA graphs: none (default, eager: Megatron's and NeMo's "
                            "default), layer (each transformer layer, MLPerf's LAYER_CUDA_GRAPH) or full")  # fmt: skip
        s.add_argument("--vocab-multiple", type=int, default=128,
                       help="the output layer's rows: the vocabulary padded to a multiple of this x tp "
                            "(default 128, Megatron-LM's and NeMo's; 1: unpadded, as plain PyTorch)")  # fmt: skip
        if name == "search":
            s.add_argument("--top", type=int, default=10, help="plans to show (default 10)")
            for k, what in (("tp", "tensor-parallel sizes (default: divisors of the heads)"),
                            ("pp", "pipeline stages (default: divisors of the layers)"),
                            ("vp", "interleaved stages per rank (default: every divisor of the layers)"),
                            ("cp", "context-parallel sizes (default 1)"),
                            ("ep", "expert-parallel sizes (default: divisors of the experts; 1 for dense)"),
                            ("micro-batch", "micro-batch sizes (default 1,2,4,8,16)"),
                            ("zero", "ZeRO stages 0-3 (default: all)")):  # fmt: skip
                s.add_argument(
                    f"--{k}", type=ints, default=None, metavar="N[,N...]", help=f"{what}, comma-separated"
                )
            s.add_argument("--recompute", default=None,
                           help="activation recompute modes to try, comma-separated: none,selective,full (default: all)")  # fmt: skip
            s.add_argument("--sp-choices", default=None, metavar="on,off",
                           help="sequence parallelism to try: on, off or on,off (default both)")  # fmt: skip
            s.add_argument(
                "--hpz", type=int, default=1, help="ZeRO++ hierarchical partition size (default 1: off)"
            )
            s.add_argument(
                "--max-step-time",
                type=float,
                default=None,
                metavar="S",
                help="drop plans slower than S seconds",
            )
            s.add_argument("--min-mfu", type=float, default=None, help="drop plans below this MFU (0-1)")
            s.add_argument("--all", action="store_true", help="keep plans that do not fit in memory")
            for flag, _, text in _FLAGS:
                if flag != "--sp":
                    s.add_argument(flag, action="store_true", default=None,
                                   help=text + (" (fixes all three overlaps; default: searched)" if "overlap" in flag
                                                else " (fixes both offloads; default: searched)" if "offload" in flag
                                                else ""))  # fmt: skip
        else:
            for k, d, what in (("tp", 1, "tensor-parallel size"), ("pp", 1, "pipeline stages"),
                               ("vp", 1, "interleaved (virtual) stages per rank"), ("cp", 1, "context-parallel size"),
                               ("ep", 1, "expert-parallel size (MoE)"), ("micro-batch", 1, "sequences per micro-batch")):  # fmt: skip
                s.add_argument(f"--{k}", type=int, default=d, help=f"{what} (default {d})")
            s.add_argument(
                "--dp", type=int, default=None, help="data-parallel size (default: the remaining GPUs)"
            )
            s.add_argument(
                "--recompute",
                default="none",
                choices=llm.RECOMPUTE,
                help="activation recompute (default none)",
            )
            s.add_argument("--zero", type=int, default=0, choices=(0, 1, 2, 3), help="ZeRO stage (default 0)")
            s.add_argument("--hpz", type=int, default=1,
                           help="ZeRO++ hierarchical partition: ZeRO-3 weights also kept per group of this many GPUs")  # fmt: skip
            s.add_argument(
                "--weights-group",
                type=int,
                default=0,
                help="ZeRO-3 weights partitioned over groups of this many ranks (0: all of dp)",
            )
            s.add_argument(
                "--grads-group",
                type=int,
                default=0,
                help="ZeRO-3 gradients partitioned over groups of this many ranks (0: all of dp)",
            )
            for flag, _, text in _FLAGS:
                s.add_argument(flag, action="store_true", help=text)
            s.add_argument("--lora-rank", type=int, default=0, metavar="R",
                           help="LoRA adapters of rank R on the QKV and output projections (with --frozen-weights; "
                                "default 0: none)")  # fmt: skip
            s.add_argument(
                "--lora-dropout",
                action="store_true",
                help="dropout on the adapters' inputs (with --lora-rank)",
            )
            s.add_argument(
                "--no-flash-attention", action="store_true", help="explicit QK^T/softmax/AV attention"
            )
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


def _model(args: argparse.Namespace) -> Any:
    return llm.model(args.model, seq_len=args.seq_len) if args.seq_len is not None else args.model


def _presets(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for k in llm.presets():
        m = llm.model(k)
        rows.append({"model": k, "params": m.params, "active_params": m.active_params, "seq_len": int(m.seq_len),
                     "source": m.source})  # fmt: skip
    df = pl.DataFrame(rows)
    text = "\n".join(f"{r['model']:18s} {r['params'] / 1e9:9.2f}B  {r['source']}" for r in rows)
    return emit(args, df, text, df)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    plan: dict[str, Any] = dict(
        tp=args.tp, pp=args.pp, dp=args.dp, vp=args.vp, cp=args.cp, ep=args.ep, micro_batch=args.micro_batch,
        global_batch=args.global_batch, recompute=args.recompute, zero=args.zero, hpz=args.hpz, dtype=args.dtype,
        weights_group=args.weights_group, grads_group=args.grads_group, flash_attention=not args.no_flash_attention,
        rank_order=args.rank_order, cuda_graphs=args.cuda_graphs, vocab_multiple=args.vocab_multiple,
    )  # fmt: skip
    plan.update({key: bool(getattr(args, key)) for _, key, _ in _FLAGS})
    plan.update(lora_rank=args.lora_rank, lora_dropout=args.lora_dropout)
    return plan


def _estimate_dict(e: Any, args: argparse.Namespace) -> dict[str, Any]:
    d: dict[str, Any] = {"model": args.model, "system": args.system, "nodes": args.nodes, "plan": e.plan}
    for k in ("step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_gpu", "memory_per_gpu_bytes",
              "capacity_bytes", "fits", "shortfall_bytes"):  # fmt: skip
        d[k] = getattr(e, k)
    d["breakdown"] = e.breakdown
    d["memory_breakdown"] = e.memory_breakdown
    return d


def _csv_row(d: dict[str, Any]) -> pl.DataFrame:
    """One estimate as one CSV row: the plan, the results, ``<component>_s`` and ``<component>_bytes``."""
    row = {**d["plan"], **{k: v for k, v in d.items() if not isinstance(v, (dict, list, pl.DataFrame))}}
    row.update({f"{r['component']}_s": r["time_s"] for r in d["breakdown"].iter_rows(named=True)})
    row.update({f"{r['component']}_bytes": r["bytes"] for r in d["memory_breakdown"].iter_rows(named=True)})
    return pl.DataFrame([row])


def _plan_line(plan: dict[str, Any]) -> str:
    keys = (
        "tp",
        "pp",
        "dp",
        "vp",
        "cp",
        "ep",
        "micro_batch",
        "global_batch",
        "recompute",
        "zero",
        "hpz",
        "dtype",
    )
    flags = [k for k, v in plan.items() if v is True and k != "flash_attention"]
    if plan.get("lora_rank"):
        flags.insert(0, f"lora_rank={plan['lora_rank']}")
    return "plan: " + ", ".join(f"{k}={plan[k]}" for k in keys) + ("; " + ", ".join(flags) if flags else "")


def _gib(df: pl.DataFrame, col: str, name: str) -> pl.DataFrame:
    """``col`` (bytes) shown as ``name`` in GiB, two decimals (tables only; JSON and CSV keep bytes)."""
    return df.with_columns((pl.col(col) / 2**30).round(2).alias(name)).drop(col)


def _estimate(args: argparse.Namespace) -> int:
    plan = _plan(args)
    model = _model(args)
    if args.group or args.placement or args.layers_per_stage or args.no_fallback:
        return _placed(args, model, plan)
    e = llm.estimate(model, (args.system, args.nodes), **plan)
    d = _estimate_dict(e, args)
    d["collectives"] = e.collectives
    d["calibration"] = llm.calibration(args.system)

    def table() -> str:
        coll = e.collectives.select("group", "what", "op", "algorithm", "levels", "ranks",
                                    (pl.col("bytes") / 2**20).round(2).alias("mib"), "time_s", "calls_per_step")  # fmt: skip
        mem = _gib(e.memory_breakdown, "bytes", "gib_per_gpu")
        return "\n".join([repr(e), _plan_line(e.plan), frame_text(e.breakdown), frame_text(mem),
                          frame_text(coll, width=260, fmt_str_lengths=70), _calibration_line(args.system)])  # fmt: skip

    return emit(args, d, table, _csv_row(d))


def _placed(args: argparse.Namespace, model: Any, plan: dict[str, Any]) -> int:
    groups: list[tuple[str, int]] = [(args.system, args.nodes)]
    for g in args.group:
        system, _, nodes = g.rpartition(":")
        if not system or not nodes.isdigit():
            raise UsageError(f"argument `--group`: is {g!r}; expected SYSTEM:NODES, e.g. holmes-a100-roce:2")
        groups.append((system, int(nodes)))
    c = make_cluster(groups, fallback_nic=None if args.no_fallback else "eth-100g")
    lps: str | list[int] = "auto"
    if args.layers_per_stage and args.layers_per_stage != "auto":
        try:
            lps = [int(x) for x in args.layers_per_stage.split(",") if x.strip()]
        except ValueError:
            raise UsageError(
                f"argument `--layers-per-stage`: is {args.layers_per_stage!r}; expected N,N,... or auto"
            ) from None
    if args.placement == "compare":
        df = llm.compare_placements(model, c, layers_per_stage=lps, **plan)
        return emit(args, df, lambda: frame_text(df, width=160), df)
    e: Any = llm.estimate(model, c, placement=args.placement or "nic-aware", layers_per_stage=lps, **plan)
    d = _estimate_dict(e, args)
    d.update(groups=[{"system": s, "nodes": n} for s, n in groups], placement=e.placement,
             layers_per_stage=e.layers_per_stage, stages=e.stages, reason=e.reason)  # fmt: skip

    def table() -> str:
        st = e.stages.select("stage", "system", "nodes", "transport", "layers", "micro_batch_s", "dp_comm_s",
                             "p2p_transport")  # fmt: skip
        return "\n".join([repr(e), _plan_line(e.plan), frame_text(st, width=160), frame_text(e.breakdown),
                          f"partition: {e.reason}"])  # fmt: skip

    return emit(args, d, table, _csv_row(d))


def _calibration_line(system: str) -> str:
    """What the estimate's factors are and what they were fitted on."""
    c = llm.calibration(system)
    if c["fitted_on"] == "uncalibrated":
        return f"calibration: none for {system} (the engines as validated)"
    return (
        f"calibration of {system}: kernels x{c['compute_time_scale']:.4g}, links x{c['comm_bandwidth_scale']:.4g}, "
        f"network x{c['network_bandwidth_scale']:.4g}, host {c.get('kernel_launch_us', 0.0):.4g} us per eager kernel; "
        f"fitted on {c['fitted_on']}"
    )


def _onoff(text: str) -> list[bool]:
    out = []
    for t in filter(None, (x.strip().lower() for x in text.split(","))):
        if t not in ("on", "off"):
            raise UsageError(f"argument `--sp-choices`: is {text!r}; expected on, off or on,off")
        out.append(t == "on")
    return out


def _search(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "hpz": args.hpz,
        "rank_order": args.rank_order,
        "cuda_graphs": args.cuda_graphs,
        "vocab_multiple": args.vocab_multiple,
    }
    for _, key, _ in _FLAGS:
        if key != "sp" and getattr(args, key) is not None:
            options[key] = True
    for together in _SEARCHED_TOGETHER:  # one given: the others of its set are off, not searched
        if any(k in options for k in together):
            options.update({k: options.get(k, False) for k in together})
    r = llm.search_full(
        _model(args), (args.system, args.nodes), global_batch=args.global_batch, tp=args.tp, pp=args.pp, vp=args.vp,
        cp=args.cp, ep=args.ep, micro_batch=args.micro_batch, zero=args.zero,
        recompute=args.recompute.split(",") if args.recompute else None,
        sp=_onoff(args.sp_choices) if args.sp_choices else None, fits_only=not args.all,
        max_step_time_s=args.max_step_time, min_mfu=args.min_mfu, dtype=args.dtype, top=args.top, **options,
    )  # fmt: skip
    d = {"model": args.model, "system": args.system, "nodes": args.nodes, "global_batch": args.global_batch,
         "candidates": r.candidates, "seconds": r.seconds, "skipped": r.skipped, "plans": r.plans}  # fmt: skip

    def table() -> str:
        shown = r.plans.select(*_SEARCH_COLUMNS, "memory_per_gpu_bytes") if r.plans.height else r.plans
        if r.plans.height:
            shown = _gib(shown, "memory_per_gpu_bytes", "memory_per_gpu_gib")
        return frame_text(shown, width=240) + (
            f"\n{r.candidates:,} candidates in {r.seconds * 1e3:.0f} ms; skipped: {r.skipped}"
        )

    return emit(args, d, table, r.plans)


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel llm ARGV...``."""
    return domain_main("llm", argv)
