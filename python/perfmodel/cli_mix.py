"""``perfmodel mix``: the cheapest mix of GPU types for a serving workload (Mélange's integer program on the
serving model), with each single-type allocation for comparison.

perfmodel mix MODEL --gpus g6-l4,g5-a10g,nc24ads-a100-v4,dgx-h100 --requests lmsys_05 --rate 8 --tpot-slo 0.12
    [--ttft-slo S] [--price a10g=0.9 ...] [--dtype fp16] [--slice-factor 8] [--framework vllm]
    [--rates 1,2,4,8,16,32 --chart cost.png]

``--gpus`` takes hwdb system ids, each optionally ``:TP`` (an instance of TP GPUs); ``--requests`` a packaged
trace name (``lmsys_05``, ``creation_05``) or a CSV/JSONL file with ``prompt_tokens`` and ``output_tokens``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import polars as pl

from .cli_common import UsageError, add_command, domain_main, emit, frame_text, note
from .serve import mix


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel mix``."""
    p = add_command(sub, "mix", "cheapest GPU mix for a serving workload under a latency SLO", _run)
    p.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
    p.add_argument("--gpus", required=True, help="comma-separated hwdb system ids, each optionally :TP")
    p.add_argument("--requests", default="lmsys_05", help="trace name or CSV/JSONL file (default lmsys_05)")
    p.add_argument("--rate", type=float, default=None, help="total request rate, requests/s")
    p.add_argument("--rates", default=None, help="comma-separated rates to sweep instead of --rate")
    p.add_argument("--tpot-slo", type=float, required=True, help="mean time per output token SLO, seconds")
    p.add_argument("--ttft-slo", type=float, default=None, help="time to first token SLO, seconds")
    p.add_argument(
        "--price", action="append", default=[], help="price override ID=USD_PER_GPU_HOUR (repeatable)"
    )
    p.add_argument("--dtype", default="bf16", help="weights dtype (default bf16)")
    p.add_argument("--framework", default="vllm", help="framework class of the serving model (default vllm)")
    p.add_argument("--slice-factor", type=int, default=8,
                   help="slices per request bucket in the integer program (default 8; Melange's)")  # fmt: skip
    p.add_argument(
        "--chart", default=None, help="with --rates: write the cost-vs-rate chart (.png/.svg/.html)"
    )


def _gpus(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, tp = item.partition(":")
        try:
            out[name] = int(tp) if tp else 1
        except ValueError:
            raise UsageError(f"argument `--gpus`: '{item}'; expected SYSTEM or SYSTEM:TP") from None
    return out


def _prices(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, _, v = item.partition("=")
        try:
            out[key] = float(v)
        except ValueError:
            raise UsageError(f"argument `--price`: '{item}'; expected ID=USD_PER_GPU_HOUR") from None
    return out


def _run(args: argparse.Namespace) -> int:
    if (args.rate is None) == (args.rates is None):
        raise UsageError("give --rate or --rates (one of them)")
    work = mix.workload(mix.trace_requests(args.requests))
    kw = dict(tpot_slo_s=args.tpot_slo, ttft_slo_s=args.ttft_slo, prices=_prices(args.price), dtype=args.dtype,
              framework=args.framework, slice_factor=args.slice_factor)  # fmt: skip
    gpus = _gpus(args.gpus)
    head = {"model": args.model, "gpus": gpus, "requests": args.requests, "tpot_slo_s": args.tpot_slo,
            "ttft_slo_s": args.ttft_slo, "dtype": args.dtype, "framework": args.framework}  # fmt: skip
    if args.rates is not None:
        from .plots import cost, save

        try:
            rates = [float(r) for r in args.rates.split(",")]
        except ValueError:
            raise UsageError(
                f"argument `--rates`: '{args.rates}'; expected comma-separated numbers"
            ) from None
        frame = cost.cost_sweep(args.model, gpus, work, rates, **kw)
        emit(args, {**head, "rates": rates, "sweep": frame}, lambda: frame_text(frame, width=160, fmt_str_lengths=60),
             frame)  # fmt: skip
        if args.chart:
            note(args, f"wrote {save(cost.cost_vs_rate(frame), args.chart)}")
        return 0
    r = mix.cheapest_mix(args.model, gpus, work, args.rate, **kw)
    used = r.allocation.filter(pl.col("instances") > 0)
    data = {**head, "rate_req_s": args.rate, "cost_usd_per_h": r.cost_usd_per_h, "solve_s": r.solve_s, "gap": r.gap,
            "allocation": r.allocation, "single_type": r.single_type}  # fmt: skip

    def table() -> str:
        return "\n".join([
            f"{args.model}: {len(work)} request buckets from {args.requests}, {args.rate:g} req/s, "
            f"TPOT <= {args.tpot_slo * 1e3:g} ms",
            f"cheapest mix: ${r.cost_usd_per_h:.2f}/h (integer program solved in {r.solve_s * 1e3:.0f} ms)",
            frame_text(used, width=160), "single GPU type:", frame_text(r.single_type, width=160),
        ])  # fmt: skip

    return emit(args, data, table, r.allocation)


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel mix ARGV...``."""
    return domain_main("mix", argv)
