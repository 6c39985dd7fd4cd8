"""``perfmodel llm sizing``: the model sizing advisor on the command line.

perfmodel llm sizing MODEL DEVICE [--dtype bf16 --tp 1 --seq-len N --micro-batch 1 --forward] [--format json]
perfmodel llm sizing-rules [--devices mi300x,h100-sxm5-80gb,...] [--dtype bf16 --tp 1] [--format json]

``--format csv``: the per-GEMM calls (sizing) or the rules, one row per device (sizing-rules).
"""

from __future__ import annotations

import argparse
from typing import Any

import polars as pl

from .cli_common import add_command, emit, frame_text
from .llm import advisor as sz

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Registers ``sizing`` and ``sizing-rules`` under the ``perfmodel llm`` subcommands."""
    s = add_command(
        sub, "sizing", "which nearby shapes run faster: per-GEMM limits and alternatives", _sizing
    )
    s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
    s.add_argument("device", help="hwdb device id, e.g. mi300x")
    s.add_argument("--dtype", default="bf16", help="GEMM dtype (default bf16)")
    s.add_argument(
        "--tp", type=int, default=1, help="tensor-parallel size the GEMMs are split over (default 1)"
    )
    s.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the model's)")
    s.add_argument("--micro-batch", type=int, default=1, help="sequences per micro-batch (default 1)")
    s.add_argument("--forward", action="store_true", help="forward pass only (default: forward + backward)")
    s.add_argument("--top", type=int, default=10, help="alternatives to show")
    r = add_command(sub, "sizing-rules", "sizing rules per device, derived from the roofline model", _rules)
    r.add_argument("--devices", default=",".join(sz.DEVICES), help="comma-separated hwdb device ids")
    r.add_argument("--dtype", default="bf16", help="GEMM dtype (default bf16)")
    r.add_argument("--tp", type=int, default=1, help="tensor-parallel size (default 1)")


def _rules(args: argparse.Namespace) -> int:
    rules = sz.sizing_rules([d for d in args.devices.split(",") if d.strip()], dtype=args.dtype, tp=args.tp)

    def table() -> str:
        shown = rules.with_columns(pl.col(pl.Float64).round(3)).cast(pl.String)
        return frame_text(
            shown.transpose(include_header=True, header_name="rule", column_names="device"), width=200
        )

    return emit(args, rules, table, rules)


def _sizing(args: argparse.Namespace) -> int:
    s = sz.sizing(args.model, args.device, dtype=args.dtype, tp=args.tp, seq_len=args.seq_len,
                  micro_batch=args.micro_batch, training=not args.forward)  # fmt: skip
    alts = s.alternatives.head(args.top).select(
        "change", "hidden", "heads", "head_dim", "kv_heads", "ffn_hidden", "vocab", "params_relative", "layer_time_s",
        "tflops", "relative",
    )  # fmt: skip
    out = {
        "model": s.model, "device": s.device, "dtype": s.dtype, "tp": s.tp, "seq_len": s.seq_len,
        "micro_batch": s.micro_batch, "training": s.training, "layer_time_s": s.layer_time_s,
        "model_time_s": s.model_time_s, "tflops": s.tflops, "speedup": s.speedup,
        "calls": s.calls, "alternatives": alts,
    }  # fmt: skip

    def table() -> str:
        calls = s.calls.select("call", "per", "m", "n", "k", "tile", "waves", "wave_utilization", "tile_fill",
                               "aligned", "time_s", "tflops", "fraction_of_peak", "limiter")  # fmt: skip
        return "\n".join([repr(s), frame_text(calls, float_precision=4), frame_text(alts, float_precision=4)])

    return emit(args, out, table, s.calls)
