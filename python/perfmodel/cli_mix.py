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
import sys
from collections.abc import Sequence

import polars as pl

from .errors import PerfModelError
from .serve import mix


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perfmodel mix", description="cheapest GPU mix for a workload under a latency SLO"
    )
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
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--framework", default="vllm")
    p.add_argument("--slice-factor", type=int, default=8)
    p.add_argument(
        "--chart", default=None, help="with --rates: write the cost-vs-rate chart (.png/.svg/.html)"
    )
    return p


def _gpus(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, tp = item.partition(":")
        try:
            out[name] = int(tp) if tp else 1
        except ValueError:
            raise PerfModelError(f"argument `--gpus`: '{item}'; expected SYSTEM or SYSTEM:TP") from None
    return out


def _prices(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, _, v = item.partition("=")
        try:
            out[key] = float(v)
        except ValueError:
            raise PerfModelError(f"argument `--price`: '{item}'; expected ID=USD_PER_GPU_HOUR") from None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if (args.rate is None) == (args.rates is None):
            raise PerfModelError("give --rate or --rates (one of them)")
        work = mix.workload(mix.trace_requests(args.requests))
        kw = dict(tpot_slo_s=args.tpot_slo, ttft_slo_s=args.ttft_slo, prices=_prices(args.price), dtype=args.dtype,
                  framework=args.framework, slice_factor=args.slice_factor)  # fmt: skip
        gpus = _gpus(args.gpus)
        if args.rates is not None:
            from .plots import cost, save

            try:
                rates = [float(r) for r in args.rates.split(",")]
            except ValueError:
                raise PerfModelError(
                    f"argument `--rates`: '{args.rates}'; expected comma-separated numbers"
                ) from None
            frame = cost.cost_sweep(args.model, gpus, work, rates, **kw)
            with pl.Config(tbl_rows=200, tbl_width_chars=160, fmt_str_lengths=60):
                print(frame)
            if args.chart:
                print(f"wrote {save(cost.cost_vs_rate(frame), args.chart)}")
            return 0
        r = mix.cheapest_mix(args.model, gpus, work, args.rate, **kw)
        print(f"{args.model}: {len(work)} request buckets from {args.requests}, {args.rate:g} req/s, "
              f"TPOT <= {args.tpot_slo * 1e3:g} ms")  # fmt: skip
        print(f"cheapest mix: ${r.cost_usd_per_h:.2f}/h (integer program solved in {r.solve_s * 1e3:.0f} ms)")
        with pl.Config(tbl_rows=100, tbl_width_chars=160, fmt_str_lengths=80):
            print(r.allocation.filter(pl.col("instances") > 0))
            print("single GPU type:")
            print(r.single_type)
        return 0
    except PerfModelError as exc:
        print(f"perfmodel mix: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
