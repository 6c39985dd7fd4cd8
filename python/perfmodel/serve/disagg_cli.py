"""``perfmodel serve disagg`` and ``perfmodel serve split``: disaggregated serving from the command line.

perfmodel serve disagg MODEL SYSTEM [--prefill-tp 2 --prefill-replicas 2 --decode-tp 4 --decode-replicas 1
    --prefill-system dgx-h100 --link auto --kv-transfer layerwise] (--rate R [...] | --requests FILE)
perfmodel serve split MODEL SYSTEM --gpus 8 --rate R [--slo-ttft S --slo-tpot S --prefill-system ID]
    (or --objective max_rate without --rate: the highest rate each side holds under the SLOs)
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import polars as pl

from ..cli_common import UsageError, add_command, emit, frame_text, note
from . import disagg


def add_parsers(sub: Any, length: Any, rate: Any, format_summary: Any) -> None:
    """Adds the ``disagg`` and ``split`` subcommands to ``perfmodel serve``'s subparsers (``length`` and ``rate``
    are its argument parsers for lengths and rates, ``format_summary`` prints a simulation as ``perfmodel serve
    simulate`` does)."""
    helps = {
        "disagg": "disaggregated serving: a prefill pool and a decode pool, the KV cache moved between them",
        "split": "best split of a GPU budget into prefill and decode pools, next to the best co-located plan",
    }
    for name, text in helps.items():
        s = add_command(sub, name, text, functools.partial(run, format_summary=format_summary))
        s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
        s.add_argument(
            "system", help="hwdb system id of the decode pool (and of the prefill pool by default)"
        )
        s.add_argument(
            "--prefill-system", default=None, help="hwdb system of the prefill pool (e.g. Splitwise-HA)"
        )
        s.add_argument(
            "--dtype",
            default="bf16",
            help="weights: bf16, fp16, fp8 (W8A8), int4 (weight-only), nvfp4 / mxfp4 (W4A4), fp6 (W6A6 MXFP6)",
        )
        s.add_argument("--kv-dtype", default=None, help="KV cache dtype (default 16-bit)")
        s.add_argument("--framework", default="vllm", help="framework class of the schedulers and figures")
        s.add_argument(
            "--link", default="auto", choices=disagg.LINKS, help="link between the pools (default auto)"
        )
        s.add_argument("--kv-transfer", default="layerwise", choices=disagg.TRANSFERS,
                       help="how the KV cache moves: layer by layer overlapped with the prefill, or after it")  # fmt: skip
        s.add_argument("--rate", type=rate, default=None, help="Poisson arrivals per second")
        s.add_argument("--num-requests", type=int, default=1000, help="requests to simulate (default 1000)")
        s.add_argument(
            "--prompt-tokens", type=length, default=512, help="N, uniform:LO:HI or lognormal:MEAN:SIGMA:MAX"
        )
        s.add_argument(
            "--output-tokens", type=length, default=128, help="N, uniform:LO:HI or lognormal:MEAN:SIGMA:MAX"
        )
        s.add_argument("--seed", type=int, default=0, help="random seed of arrivals and lengths (default 0)")
        s.add_argument("--requests", metavar="FILE", default=None, help="CSV/JSONL trace (instead of --rate)")
        s.add_argument("--slo-ttft", type=float, default=None, metavar="S", help="TTFT SLO, seconds")
        s.add_argument("--slo-tpot", type=float, default=None, metavar="S", help="TPOT SLO, seconds")
        if name == "disagg":
            for side in ("prefill", "decode"):
                s.add_argument(
                    f"--{side}-tp", type=int, default=1, help=f"TP of a {side} instance (default 1)"
                )
                s.add_argument(
                    f"--{side}-replicas", type=int, default=1, help=f"{side} instances (default 1)"
                )
            s.add_argument("--power-cap", type=float, default=None, metavar="W",
                           help="power limit per GPU of both pools, watts (default: none)")  # fmt: skip
            s.add_argument("--csv", metavar="OUT", default=None, help="write the per-request frame to OUT")
        else:
            s.add_argument("--gpus", type=int, required=True, help="GPU budget shared by the two pools")
            s.add_argument("--percentile", type=int, default=90, choices=(50, 90, 99),
                           help="the request percentile the SLOs hold at (default 90)")  # fmt: skip
            s.add_argument("--objective", default="goodput", choices=("goodput", "max_rate"),
                           help="rank by goodput at --rate, or by the highest rate meeting the SLOs (no --rate)")  # fmt: skip


def _trace_kw(args: argparse.Namespace) -> dict[str, Any]:
    if args.requests is not None:
        return {"requests": args.requests}
    return {"rate": args.rate, "num_requests": args.num_requests, "prompt_tokens": args.prompt_tokens,
            "output_tokens": args.output_tokens, "seed": args.seed}  # fmt: skip


def run(args: argparse.Namespace, format_summary: Any) -> int:
    """Runs ``disagg`` or ``split``; ``format_summary`` prints a simulation as ``perfmodel serve simulate`` does."""
    if args.cmd == "disagg" and (args.requests is None) == (args.rate is None):
        raise UsageError("give either --rate (Poisson arrivals per second) or --requests FILE")
    common = {"dtype": args.dtype, "kv_dtype": args.kv_dtype, "framework": args.framework, "link": args.link,
              "kv_transfer": args.kv_transfer, "slo_ttft_s": args.slo_ttft, "slo_tpot_s": args.slo_tpot}  # fmt: skip
    head = {"model": args.model, "system": args.system, "prefill_system": args.prefill_system or args.system,
            **common}  # fmt: skip
    if args.cmd == "disagg":
        pre = disagg.Pool(
            args.prefill_system or args.system, tp=args.prefill_tp, replicas=args.prefill_replicas
        )
        dec = disagg.Pool(args.system, tp=args.decode_tp, replicas=args.decode_replicas)
        d = disagg.disaggregated(
            args.model, pre, dec, **_trace_kw(args), **common, power_cap_w=args.power_cap
        )
        s = d.summary
        title = f"{args.model}: prefill {pre.label()}, decode {dec.label()}, KV over {d.link} ({args.kv_transfer})"
        data = {**head, "prefill": pre.label(), "decode": dec.label(), "kv_link": d.link, "summary": s}
        text = "\n".join([
            format_summary(d, title, args.slo_ttft, args.slo_tpot),
            f"  KV transfer     {s['mean_kv_transfer_bytes'] / 2**20:,.1f} MiB per request; "
            f"{s['mean_kv_transfer_s'] * 1e3:.3f} ms alone (p99 {s['p99_kv_transfer_s'] * 1e3:.3f} ms), "
            f"{s['mean_kv_exposed_s'] * 1e3:.3f} ms exposed after the first token on average",
            f"  utilisation     prefill {s['prefill_utilization']:.1%}, decode {s['decode_utilization']:.1%}, "
            f"link {s['link_utilization']:.2%}",
            f"  energy          {s['energy_per_output_token_j']:.3f} J per output token, "
            f"{s['energy_per_request_j']:,.1f} J per request; mean power per GPU {s['mean_power_per_gpu_w']:.0f} W "
            f"(prefill {s['prefill_mean_power_per_gpu_w']:.0f} W, decode {s['decode_mean_power_per_gpu_w']:.0f} W)",
        ])  # fmt: skip
        emit(args, data, text, d.frame())
        if args.csv:
            d.requests.write_csv(args.csv)
            note(args, f"wrote {d.requests.height} requests to {args.csv}")
        return 0
    if args.rate is None and args.requests is None and args.objective != "max_rate":
        raise UsageError("give --rate (Poisson arrivals per second) or --requests FILE")
    kw = _trace_kw(args)
    kw.pop("seed", None)
    if kw.get("rate") is None:
        kw.pop("rate", None)
    r = disagg.split_search(args.model, args.system, args.gpus, prefill_where=args.prefill_system,
                            percentile=args.percentile, seed=args.seed, objective=args.objective, **kw, **common)  # fmt: skip
    p = args.percentile
    data = {**head, "gpus": args.gpus, "percentile": p, "objective": args.objective, "compare": r.compare,
            "splits": r.splits}  # fmt: skip

    def table() -> str:
        shown = r.compare.select("mode", "plan", "meets_slo", (pl.col(f"p{p}_ttft_s") * 1e3).round(1).alias(f"p{p} TTFT ms"),
                                 (pl.col(f"p{p}_tpot_s") * 1e3).round(2).alias(f"p{p} TPOT ms"),
                                 pl.col("goodput_requests_per_s").round(2).alias("goodput req/s"),
                                 *([pl.col("max_rate_req_s").round(2).alias("max rate req/s")] if args.objective == "max_rate" else []),
                                 pl.col("output_tokens_per_s").round(0).alias("out tok/s"))  # fmt: skip
        out = [f"{args.model} on {args.gpus} GPUs ({args.system}): best disaggregated split vs best co-located plan",
               frame_text(shown, fmt_str_lengths=400, tbl_hide_column_data_types=True)]  # fmt: skip
        out += [f"  {row['mode']}: {row['why']}" for row in r.compare.iter_rows(named=True)]
        out.append(f"{r.splits.height} splits simulated ({r.splits.filter(pl.col('fits')).height} fit)")
        return "\n".join(out)

    return emit(args, data, table, r.compare)
