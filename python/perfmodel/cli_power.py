"""``perfmodel power``: GPU power and energy of serving and training, power caps and oversubscription.

perfmodel power model DEVICE [--dtype bf16]
perfmodel power batch MODEL SYSTEM [--tp 1 --batches 1,8,64,256 --prompt-len 768 --output-len 400
    --cap W --chart out.png]
perfmodel power simulate MODEL SYSTEM [--tp 1 --replicas 1 --rate R --num-requests N --prompt-tokens P
    --output-tokens O --cap W]
perfmodel power pareto MODEL SYSTEM [--nodes 1 --rate R --num-requests N --max-num-seqs 16,64,256 --chart out.png]
perfmodel power oversubscribe MODEL SYSTEM --facility-w W --server-cap-w 8000,9000 [--tp 8 --isl --osl]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import polars as pl

from . import cluster, power, serve
from .cli_common import add_command, domain_main, emit, floats, frame_text, ints, note
from .errors import ModelError


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel power`` and its subcommands."""
    p = sub.add_parser("power", help="GPU power and energy of serving and training, power caps, oversubscription",
                       description="GPU power and energy, caps, oversubscription.")  # fmt: skip
    ps = p.add_subparsers(dest="cmd", required=True, metavar="ACTION")
    m = add_command(ps, "model", "a device's power law (idle, busy, compute and memory terms, TDP)", _model)
    m.add_argument("device", help="hwdb device or system id")
    m.add_argument(
        "--dtype", default="bf16", help="the dtype whose matrix peak the compute term uses (default bf16)"
    )
    for name, text, func in (
        ("batch", "power and energy per output token vs batch size (steady-state serving iterations)", _batch),
        ("simulate", "energy of a simulated request stream (per token, per request, mean power)", _simulate),
        ("pareto", "energy-latency Pareto front of the serving plans of a cluster", _pareto),
        ("oversubscribe", "POLCA-style oversubscription: servers under a facility budget at a per-server cap",
         _oversubscribe),
    ):  # fmt: skip
        s = add_command(ps, name, text, func)
        s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-h100")
        s.add_argument("--dtype", default="bf16", help="weights dtype (default bf16)")
        s.add_argument(
            "--framework", default="vllm", help="framework class of the serving model (default vllm)"
        )
        if name == "batch":
            s.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs (default 1)")
            s.add_argument("--batches", type=ints, default=[1, 8, 32, 64, 128, 256, 512],
                           help="batch sizes, comma-separated (default 1,8,32,64,128,256,512)")  # fmt: skip
            s.add_argument(
                "--prompt-len", type=float, default=768.0, help="prompt tokens per request (default 768)"
            )
            s.add_argument(
                "--output-len", type=float, default=400.0, help="output tokens per request (default 400)"
            )
            s.add_argument("--cap", type=float, default=None, help="power cap per GPU, W")
            s.add_argument("--chart", default=None, help="write the chart (.png, .svg, .html)")
        elif name == "simulate":
            s.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs (default 1)")
            s.add_argument("--replicas", type=int, default=1, help="serving instances (default 1)")
            s.add_argument("--rate", type=float, default=4.0, help="Poisson arrivals per second (default 4)")
            s.add_argument("--num-requests", type=int, default=500, help="requests (default 500)")
            s.add_argument(
                "--prompt-tokens", type=int, default=512, help="prompt tokens per request (default 512)"
            )
            s.add_argument(
                "--output-tokens", type=int, default=128, help="output tokens per request (default 128)"
            )
            s.add_argument("--cap", type=float, default=None, help="power cap per GPU, W")
        elif name == "pareto":
            s.add_argument("--nodes", type=int, default=1, help="nodes of the system (default 1)")
            s.add_argument("--rate", type=float, default=None, help="requests/s (default: offline)")
            s.add_argument("--num-requests", type=int, default=512, help="requests (default 512)")
            s.add_argument(
                "--prompt-tokens", type=int, default=512, help="prompt tokens per request (default 512)"
            )
            s.add_argument(
                "--output-tokens", type=int, default=256, help="output tokens per request (default 256)"
            )
            s.add_argument("--max-num-seqs", type=ints, default=[16, 64, 256],
                           help="scheduler batch limits to try, comma-separated (default 16,64,256)")  # fmt: skip
            s.add_argument("--max-pp", type=int, default=2, help="largest pipeline depth to try (default 2)")
            s.add_argument("--chart", default=None, help="write the chart (.png, .svg, .html)")
        else:
            s.add_argument("--facility-w", type=float, required=True, help="facility power budget, W")
            s.add_argument(
                "--server-cap-w", type=floats, required=True, help="per-server caps, W (comma-separated)"
            )
            s.add_argument("--tp", type=int, default=8, help="tensor-parallel GPUs (default 8)")
            s.add_argument("--isl", type=int, default=1024, help="prompt tokens per request (default 1024)")
            s.add_argument("--osl", type=int, default=256, help="output tokens per request (default 256)")
            s.add_argument("--num-requests", type=int, default=256, help="requests (default 256)")


def _show(args: argparse.Namespace, f: pl.DataFrame, extra: str = "") -> int:
    return emit(
        args, f, lambda: frame_text(f, rows=100, float_precision=4) + (f"\n{extra}" if extra else ""), f
    )


def _model(args: argparse.Namespace) -> int:
    p = power.model(args.device, dtype=args.dtype)
    data = {"device": p.device, "dtype": p.dtype, "idle_w": p.idle_w, "active_w": p.active_w, "compute_w": p.compute_w,
            "memory_w": p.memory_w, "tdp_w": p.tdp_w, "fitted_on": p.fitted_on}  # fmt: skip
    text = (f"{p.device} ({p.dtype}): idle {p.idle_w:.0f} W, busy +{p.active_w:.0f} W, +{p.compute_w:.0f} W at the full "
            f"matrix peak, +{p.memory_w:.0f} W at the full HBM bandwidth, limit (TDP) {p.tdp_w:.0f} W\n"
            f"fitted on: {p.fitted_on}")  # fmt: skip
    return emit(args, data, text)


def _batch(args: argparse.Namespace) -> int:
    from .plots import power as pp

    kw: dict[str, Any] = {"dtype": args.dtype, "framework": args.framework}
    if args.cap is not None:
        kw["power_cap_w"] = args.cap
    f = pp.power_vs_batch(args.model, args.system, args.batches, tp=args.tp, prompt_len=args.prompt_len,
                          output_len=args.output_len, **kw)  # fmt: skip
    _show(args, f.drop("source"))
    if args.chart:
        from .plots import save

        tdp = power.model(args.system, dtype=args.dtype).tdp_w
        path = save(
            pp.power_energy_chart(f, title=f"{args.model} on {args.system} (TP {args.tp})", tdp_w=tdp),
            args.chart,
        )
        note(args, f"wrote {path}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    s = serve.simulate(args.model, args.system, tp=args.tp, replicas=args.replicas, rate=args.rate,
                       num_requests=args.num_requests, prompt_tokens=args.prompt_tokens,
                       output_tokens=args.output_tokens, dtype=args.dtype, framework=args.framework,
                       power_cap_w=args.cap)  # fmt: skip
    keys = ("gpus", "output_tokens_per_s", "mean_tpot_s", "p90_ttft_s", "mean_power_per_gpu_w", "peak_power_per_gpu_w",
            "energy_j", "energy_per_output_token_j", "energy_per_request_j", "throttled_iterations")  # fmt: skip
    return _show(args, pl.DataFrame([{k: s.summary[k] for k in keys}]))


def _pareto(args: argparse.Namespace) -> int:
    from .plots import power as pp

    f = serve.search(args.model, cluster(args.system, args.nodes), rate=args.rate, num_requests=args.num_requests,
                     prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens, dtype=args.dtype,
                     framework=args.framework, max_num_seqs=tuple(args.max_num_seqs), max_pp=args.max_pp)  # fmt: skip
    f = f.filter(pl.col("fits"))
    if f.is_empty():
        raise ModelError(f"no serving plan of {args.model} fits {args.nodes} '{args.system}' node(s)")
    f = f.with_columns(pp.energy_pareto_front(f.with_columns(latency_ms=pl.col("p90_tpot_s") * 1e3), "latency_ms",
                                              "energy_per_output_token_j"))  # fmt: skip
    cols = ["tp", "pp", "replicas", "max_num_seqs", "p90_tpot_s", "output_tokens_per_s", "energy_per_output_token_j",
            "mean_power_per_gpu_w", "pareto"]  # fmt: skip
    front = f.filter(pl.col("pareto"))
    fast = front.sort("p90_tpot_s").row(0, named=True)
    frugal = front.sort("energy_per_output_token_j").row(0, named=True)
    extra = (f"latency-optimal plan: {fast['energy_per_output_token_j']:.3f} J/token; energy-optimal: "
             f"{frugal['energy_per_output_token_j']:.3f} J/token "
             f"({1 - frugal['energy_per_output_token_j'] / fast['energy_per_output_token_j']:.0%} less energy)")  # fmt: skip
    _show(args, f.select(cols).sort("p90_tpot_s"), extra)
    if args.chart:
        from .plots import save

        note(args, f"wrote {save(pp.energy_latency_pareto(f), args.chart)}")
    return 0


def _oversubscribe(args: argparse.Namespace) -> int:
    f = power.oversubscription(args.model, args.system, args.facility_w, args.server_cap_w, tp=args.tp, isl=args.isl,
                               osl=args.osl, dtype=args.dtype, framework=args.framework,
                               num_requests=args.num_requests)  # fmt: skip
    return _show(args, f)


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel power ARGV...``."""
    return domain_main("power", argv)
