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
import sys
from collections.abc import Sequence

import polars as pl

from . import cluster, power, serve
from .errors import InvalidArgumentError, PerfModelError


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers separated by commas") from exc


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas") from exc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perfmodel power", description="GPU power and energy, caps, oversubscription"
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model", help="a device's power law (idle, busy, compute and memory terms, TDP)")
    m.add_argument("device", help="hwdb device or system id")
    m.add_argument("--dtype", default="bf16")
    for name, text in (
        ("batch", "power and energy per output token vs batch size (steady-state serving iterations)"),
        ("simulate", "energy of a simulated request stream (per token, per request, mean power)"),
        ("pareto", "energy-latency Pareto front of the serving plans of a cluster"),
        (
            "oversubscribe",
            "POLCA-style oversubscription: servers under a facility budget at a per-server cap",
        ),
    ):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-h100")
        s.add_argument("--dtype", default="bf16")
        s.add_argument("--framework", default="vllm")
        if name == "batch":
            s.add_argument("--tp", type=int, default=1)
            s.add_argument("--batches", type=_ints, default=[1, 8, 32, 64, 128, 256, 512])
            s.add_argument("--prompt-len", type=float, default=768.0)
            s.add_argument("--output-len", type=float, default=400.0)
            s.add_argument("--cap", type=float, default=None, help="power cap per GPU, W")
            s.add_argument("--chart", default=None, help="write the chart (.png, .svg, .html)")
        elif name == "simulate":
            s.add_argument("--tp", type=int, default=1)
            s.add_argument("--replicas", type=int, default=1)
            s.add_argument("--rate", type=float, default=4.0)
            s.add_argument("--num-requests", type=int, default=500)
            s.add_argument("--prompt-tokens", type=int, default=512)
            s.add_argument("--output-tokens", type=int, default=128)
            s.add_argument("--cap", type=float, default=None, help="power cap per GPU, W")
        elif name == "pareto":
            s.add_argument("--nodes", type=int, default=1)
            s.add_argument("--rate", type=float, default=None, help="requests/s (default: offline)")
            s.add_argument("--num-requests", type=int, default=512)
            s.add_argument("--prompt-tokens", type=int, default=512)
            s.add_argument("--output-tokens", type=int, default=256)
            s.add_argument("--max-num-seqs", type=_ints, default=[16, 64, 256])
            s.add_argument("--max-pp", type=int, default=2)
            s.add_argument("--chart", default=None, help="write the chart (.png, .svg, .html)")
        else:
            s.add_argument("--facility-w", type=float, required=True, help="facility power budget, W")
            s.add_argument(
                "--server-cap-w", type=_floats, required=True, help="per-server caps, W (comma-separated)"
            )
            s.add_argument("--tp", type=int, default=8)
            s.add_argument("--isl", type=int, default=1024)
            s.add_argument("--osl", type=int, default=256)
            s.add_argument("--num-requests", type=int, default=256)
    return p


def _print(f: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=100, tbl_cols=30, tbl_width_chars=200, float_precision=4):
        print(f)


def _model(args: argparse.Namespace) -> int:
    p = power.model(args.device, dtype=args.dtype)
    print(f"{p.device} ({p.dtype}): idle {p.idle_w:.0f} W, busy +{p.active_w:.0f} W, +{p.compute_w:.0f} W at the full "
          f"matrix peak, +{p.memory_w:.0f} W at the full HBM bandwidth, limit (TDP) {p.tdp_w:.0f} W")  # fmt: skip
    print(f"fitted on: {p.fitted_on}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .plots import power as pp

    kw = {"dtype": args.dtype, "framework": args.framework}
    if args.cap is not None:
        kw["power_cap_w"] = args.cap
    f = pp.power_vs_batch(args.model, args.system, args.batches, tp=args.tp, prompt_len=args.prompt_len,
                          output_len=args.output_len, **kw)  # fmt: skip
    _print(f.drop("source"))
    if args.chart:
        from .plots import save

        tdp = power.model(args.system, dtype=args.dtype).tdp_w
        path = save(
            pp.power_energy_chart(f, title=f"{args.model} on {args.system} (TP {args.tp})", tdp_w=tdp),
            args.chart,
        )
        print(f"wrote {path}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    s = serve.simulate(args.model, args.system, tp=args.tp, replicas=args.replicas, rate=args.rate,
                       num_requests=args.num_requests, prompt_tokens=args.prompt_tokens,
                       output_tokens=args.output_tokens, dtype=args.dtype, framework=args.framework,
                       power_cap_w=args.cap)  # fmt: skip
    keys = ("gpus", "output_tokens_per_s", "mean_tpot_s", "p90_ttft_s", "mean_power_per_gpu_w", "peak_power_per_gpu_w",
            "energy_j", "energy_per_output_token_j", "energy_per_request_j", "throttled_iterations")  # fmt: skip
    _print(pl.DataFrame([{k: s.summary[k] for k in keys}]))
    return 0


def _pareto(args: argparse.Namespace) -> int:
    from .plots import power as pp

    f = serve.search(args.model, cluster(args.system, args.nodes), rate=args.rate, num_requests=args.num_requests,
                     prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens, dtype=args.dtype,
                     framework=args.framework, max_num_seqs=tuple(args.max_num_seqs), max_pp=args.max_pp)  # fmt: skip
    f = f.filter(pl.col("fits"))
    if f.is_empty():
        raise InvalidArgumentError(
            f"no serving plan of {args.model} fits {args.nodes} '{args.system}' node(s)"
        )
    f = f.with_columns(pp.energy_pareto_front(f.with_columns(latency_ms=pl.col("p90_tpot_s") * 1e3), "latency_ms",
                                              "energy_per_output_token_j"))  # fmt: skip
    cols = ["tp", "pp", "replicas", "max_num_seqs", "p90_tpot_s", "output_tokens_per_s", "energy_per_output_token_j",
            "mean_power_per_gpu_w", "pareto"]  # fmt: skip
    _print(f.select(cols).sort("p90_tpot_s"))
    front = f.filter(pl.col("pareto"))
    fast = front.sort("p90_tpot_s").row(0, named=True)
    frugal = front.sort("energy_per_output_token_j").row(0, named=True)
    print(f"latency-optimal plan: {fast['energy_per_output_token_j']:.3f} J/token; energy-optimal: "
          f"{frugal['energy_per_output_token_j']:.3f} J/token "
          f"({1 - frugal['energy_per_output_token_j'] / fast['energy_per_output_token_j']:.0%} less energy)")  # fmt: skip
    if args.chart:
        from .plots import save

        print(f"wrote {save(pp.energy_latency_pareto(f), args.chart)}")
    return 0


def _oversubscribe(args: argparse.Namespace) -> int:
    f = power.oversubscription(args.model, args.system, args.facility_w, args.server_cap_w, tp=args.tp, isl=args.isl,
                               osl=args.osl, dtype=args.dtype, framework=args.framework,
                               num_requests=args.num_requests)  # fmt: skip
    _print(f)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return {"model": _model, "batch": _batch, "simulate": _simulate, "pareto": _pareto,
                "oversubscribe": _oversubscribe}[args.cmd](args)  # fmt: skip
    except PerfModelError as exc:
        print(f"perfmodel power {args.cmd}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
