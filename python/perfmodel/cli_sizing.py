"""``perfmodel llm sizing``: the model sizing advisor on the command line.

perfmodel llm sizing MODEL DEVICE [--dtype bf16 --tp 1 --seq-len N --micro-batch 1 --forward] [--format table|json]
perfmodel llm sizing-rules [--devices mi300x,h100-sxm5-80gb,...] [--dtype bf16 --tp 1] [--format table|json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import polars as pl

from .llm import advisor as sz

__all__ = ["add_parsers", "run"]


def add_parsers(sub: Any) -> None:
    """Registers ``sizing`` and ``sizing-rules`` under the ``perfmodel llm`` subcommands."""
    s = sub.add_parser("sizing", help="which nearby shapes run faster: per-GEMM limits and alternatives")
    s.add_argument("model", help="preset id or config.json path")
    s.add_argument("device", help="hwdb device id, e.g. mi300x")
    s.add_argument("--dtype", default="bf16")
    s.add_argument("--tp", type=int, default=1)
    s.add_argument("--seq-len", type=int, default=None)
    s.add_argument("--micro-batch", type=int, default=1)
    s.add_argument("--forward", action="store_true", help="forward pass only (default: forward + backward)")
    s.add_argument("--top", type=int, default=10, help="alternatives to show")
    s.add_argument("--format", choices=("table", "json"), default="table")
    r = sub.add_parser("sizing-rules", help="sizing rules per device, derived from the roofline model")
    r.add_argument("--devices", default=",".join(sz.DEVICES), help="comma-separated hwdb device ids")
    r.add_argument("--dtype", default="bf16")
    r.add_argument("--tp", type=int, default=1)
    r.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    """Runs ``sizing`` or ``sizing-rules``; errors propagate as :class:`perfmodel.PerfModelError`."""
    if args.cmd == "sizing-rules":
        rules = sz.sizing_rules(
            [d for d in args.devices.split(",") if d.strip()], dtype=args.dtype, tp=args.tp
        )
        if args.format == "json":
            print(json.dumps(rules.to_dicts(), indent=2))
        else:
            shown = rules.with_columns(pl.col(pl.Float64).round(3)).cast(pl.String)
            with pl.Config(tbl_rows=40, tbl_cols=20, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
                print(shown.transpose(include_header=True, header_name="rule", column_names="device"))
        return 0
    s = sz.sizing(args.model, args.device, dtype=args.dtype, tp=args.tp, seq_len=args.seq_len,
                  micro_batch=args.micro_batch, training=not args.forward)  # fmt: skip
    alts = s.alternatives.head(args.top).select(
        "change", "hidden", "heads", "head_dim", "kv_heads", "ffn_hidden", "vocab", "params_relative", "layer_time_s",
        "tflops", "relative",
    )  # fmt: skip
    if args.format == "json":
        out = {
            "model": s.model, "device": s.device, "dtype": s.dtype, "tp": s.tp, "seq_len": s.seq_len,
            "micro_batch": s.micro_batch, "training": s.training, "layer_time_s": s.layer_time_s,
            "model_time_s": s.model_time_s, "tflops": s.tflops, "speedup": s.speedup,
            "calls": s.calls.to_dicts(), "alternatives": alts.to_dicts(),
        }  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    print(s)
    with pl.Config(tbl_cols=20, tbl_width_chars=220, tbl_hide_dataframe_shape=True, float_precision=4):
        print(s.calls.select("call", "per", "m", "n", "k", "tile", "waves", "wave_utilization", "tile_fill", "aligned",
                             "time_s", "tflops", "fraction_of_peak", "limiter"))  # fmt: skip
        print(alts)
    return 0
