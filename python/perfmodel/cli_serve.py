"""``perfmodel serve``: LLM inference phases, serving memory, the continuous-batching simulator and offline
maximum throughput.

perfmodel serve prefill MODEL SYSTEM [--tp 8 --pp 1 --batch 1 --prompt-len 2048 --dtype bf16]
perfmodel serve decode MODEL SYSTEM [--tp 8 --batch 64 --context-len 2048]
perfmodel serve memory MODEL SYSTEM [--tp 8]
perfmodel serve simulate MODEL SYSTEM [--tp 8 --replicas 1] (--rate R [--num-requests N --prompt-tokens P
    --output-tokens O] | --requests FILE) [--max-concurrency C --slo-ttft S --slo-tpot S --csv OUT]
perfmodel serve throughput MODEL SYSTEM [--tp 8 --isl 1024 --osl 1024]
perfmodel serve max-rate MODEL SYSTEM [--tp 8 --replicas 1 | --search] --slo-tpot S [--slo-ttft S --percentile 90]
    [--num-requests N --prompt-tokens P --output-tokens O | --requests FILE]
perfmodel serve disagg MODEL SYSTEM [--prefill-tp 2 --prefill-replicas 2 --decode-tp 4 --decode-replicas 1
    --prefill-system ID --link auto --kv-transfer layerwise] (--rate R | --requests FILE)
perfmodel serve split MODEL SYSTEM --gpus 8 --rate R [--slo-ttft S --slo-tpot S --prefill-system ID]

Lengths (``--prompt-tokens``, ``--output-tokens``) are a whole number, ``uniform:LO:HI`` or
``lognormal:MEAN:SIGMA:MAX``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from . import serve
from .cli_common import UsageError, add_command, domain_main, emit, frame_text, note

#: Breakdown rows printed for one iteration (attribute, label).
_BREAKDOWN = (
    ("gemm_s", "GEMMs (attention and MLP linears)"),
    ("moe_s", "MoE router and experts"),
    ("prefill_attention_s", "prefill attention"),
    ("decode_attention_s", "decode attention"),
    ("elementwise_s", "elementwise"),
    ("head_s", "embedding, LM head, sampling"),
    ("tp_comm_s", "TP all-reduce"),
    ("pp_comm_s", "PP sends"),
    ("overhead_s", "framework overhead"),
)


def _length(text: str) -> Any:
    """A length: ``512``, ``uniform:LO:HI`` or ``lognormal:MEAN:SIGMA:MAX``."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return int(parts[0])
        if parts[0] == "uniform" and len(parts) == 3:
            return ("uniform", float(parts[1]), float(parts[2]))
        if parts[0] == "lognormal" and len(parts) == 4:
            return ("lognormal", float(parts[1]), float(parts[2]), float(parts[3]))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: expected N, uniform:LO:HI or lognormal:MEAN:SIGMA:MAX")


def _rate(text: str) -> float:
    if text.lower() in ("inf", "offline"):
        return math.inf
    return float(text)


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel serve`` and its subcommands."""
    p = sub.add_parser("serve", help="LLM serving: phases, memory, simulation, throughput, max rate, disaggregation",
                       description="LLM serving: phases, memory, simulation, throughput (`perfmodel serve ACTION --help`).")  # fmt: skip
    ss = p.add_subparsers(dest="cmd", required=True, metavar="ACTION")
    helps = {
        "prefill": ("time of one prefill of BATCH prompts", _phase),
        "decode": ("time of one decode iteration (time per output token) of BATCH sequences", _phase),
        "memory": ("memory per GPU: weights, activations, KV cache, free", _memory),
        "simulate": ("continuous-batching simulation of a request stream", _simulate),
        "throughput": ("offline maximum throughput of one instance (all requests at once)", _throughput),
        "max-rate": ("the highest request rate meeting the TTFT/TPOT SLOs (--search: of every plan of the node)",
                     _max_rate),
    }  # fmt: skip
    for name, (text, func) in helps.items():
        s = add_command(ss, name, text, func)
        s.add_argument("model", help="preset id (see `perfmodel llm presets`) or config.json path")
        s.add_argument("system", help="hwdb system id, e.g. dgx-h100")
        s.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs (default 1)")
        s.add_argument("--pp", type=int, default=1, help="pipeline stages (default 1)")
        s.add_argument(
            "--dtype",
            default="bf16",
            help="weights: bf16, fp16, fp8 (W8A8), int4 (weight-only), nvfp4 / mxfp4 (W4A4), fp6 (W6A6 MXFP6)",
        )
        s.add_argument("--kv-dtype", default=None, help="KV cache dtype (default 16-bit)")
        fw = "trtllm" if name == "throughput" else "vllm"
        s.add_argument(
            "--framework", default=fw, help=f"framework class of the scheduler and figures (default {fw})"
        )
        if name == "prefill":
            s.add_argument("--batch", type=int, default=1, help="prompts in the batch (default 1)")
            s.add_argument("--prompt-len", type=int, default=2048, help="tokens per prompt (default 2048)")
        elif name == "decode":
            s.add_argument("--batch", type=int, default=1, help="sequences in the batch (default 1)")
            s.add_argument(
                "--context-len", type=int, default=2048, help="tokens of context per sequence (default 2048)"
            )
        elif name in ("simulate", "max-rate"):
            s.add_argument(
                "--replicas", type=int, default=1, help="serving instances behind the balancer (default 1)"
            )
            if name == "simulate":
                s.add_argument(
                    "--rate", type=_rate, default=None, help="Poisson arrivals per second (inf: all at once)"
                )
            else:
                s.add_argument("--percentile", default="90", help="50, 90, 99 or mean (default 90)")
                s.add_argument(
                    "--search", action="store_true", help="every TP x PP x replicas plan of the node, ranked"
                )
            s.add_argument(
                "--num-requests", type=int, default=1000, help="requests to simulate (default 1000)"
            )
            s.add_argument(
                "--prompt-tokens",
                type=_length,
                default=512,
                help="N, uniform:LO:HI or lognormal:MEAN:SIGMA:MAX",
            )
            s.add_argument(
                "--output-tokens",
                type=_length,
                default=128,
                help="N, uniform:LO:HI or lognormal:MEAN:SIGMA:MAX",
            )
            s.add_argument(
                "--seed", type=int, default=0, help="random seed of arrivals and lengths (default 0)"
            )
            s.add_argument("--requests", metavar="FILE", default=None,
                           help="CSV/JSONL trace with arrival_s, prompt_tokens, output_tokens (instead of --rate)")  # fmt: skip
            s.add_argument("--slo-ttft", type=float, default=None, metavar="S", help="TTFT SLO, seconds")
            s.add_argument("--slo-tpot", type=float, default=None, metavar="S", help="TPOT SLO, seconds")
            s.add_argument("--balancer", default="round_robin", help="round_robin or least_outstanding")
            s.add_argument("--scheduler-policy", default=None, help=_POLICY_HELP)
            if name == "simulate":
                s.add_argument("--max-concurrency", type=int, default=None, metavar="C",
                               help="closed-loop clients: at most C requests in flight, the next sent when one "
                               "finishes (vllm bench serve --max-concurrency); without --rate: all ready at once")  # fmt: skip
            s.add_argument(
                "--csv",
                metavar="OUT",
                default=None,
                help="write the per-request frame (or, with --search, the plans) to OUT",
            )
        elif name == "throughput":
            s.add_argument("--isl", type=int, default=1024, help="prompt tokens per request")
            s.add_argument("--osl", type=int, default=1024, help="output tokens per request")
            s.add_argument(
                "--num-requests", type=int, default=None, help="requests (default: the framework's)"
            )
            s.add_argument("--scheduler-policy", default=None, help=_POLICY_HELP)
    from .serve import disagg_cli

    disagg_cli.add_parsers(ss, _length, _rate, format_summary)


_POLICY_HELP = (
    "how admission holds KV blocks: max_utilization (the prompt's, growing with preemption; vLLM, SGLang) "
    "or guaranteed_no_evict (the whole request's; TensorRT-LLM); default: the framework's"
)


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def _ms(s: float) -> str:
    return f"{s * 1e3:.3f} ms"


def _where(args: argparse.Namespace) -> str:
    plan = f"tp={args.tp}" + (f" x pp={args.pp}" if args.pp != 1 else "")
    return f"{args.model} on {args.system} ({plan}, {args.dtype}, {args.framework})"


def _calibration(fitted_on: str | None) -> str:
    if fitted_on:
        return f"calibration: {fitted_on[:160]}"
    return "calibration: none (no hwdb [[serving]] table for this system and framework; figures are uncalibrated)"


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "tp": args.tp,
        "pp": args.pp,
        "dtype": args.dtype,
        "kv_dtype": args.kv_dtype,
        "framework": args.framework,
    }


def _head(args: argparse.Namespace) -> dict[str, Any]:
    """The inputs every serving result repeats in JSON."""
    return {"model": args.model, "system": args.system, **_common(args)}


def _phase(args: argparse.Namespace) -> int:
    kw = _common(args)
    if args.cmd == "prefill":
        ph = serve.prefill(args.model, args.system, batch=args.batch, prompt_len=args.prompt_len, **kw)
        head = f"prefill of {args.batch} x {args.prompt_len} prompt tokens"
        unit = "prompt tokens/s"
        sizes = {"batch": args.batch, "prompt_len": args.prompt_len}
    else:
        ph = serve.decode(args.model, args.system, batch=args.batch, context_len=args.context_len, **kw)
        head = f"decode of {args.batch} sequences at {args.context_len} tokens of context"
        unit = "output tokens/s"
        sizes = {"batch": args.batch, "context_len": args.context_len}
    data = {**_head(args), "phase": args.cmd, **sizes, "time_s": ph.time_s, "tokens_per_s": ph.tokens_per_s,
            "per_user_tokens_per_s": 1.0 / ph.time_s if args.cmd == "decode" else None,
            "memory_per_gpu_bytes": ph.memory_per_gpu_bytes, "capacity_bytes": ph.memory.capacity_bytes,
            "fits": ph.fits, "kernels": ph.kernels, "breakdown": {k: getattr(ph, k) for k, _ in _BREAKDOWN},
            "energy": ph.energy, "calibration": ph.iteration.fitted_on}  # fmt: skip

    def table() -> str:
        out = [f"{head}: {_where(args)}", f"  time              {_ms(ph.time_s)}",
               f"  throughput        {ph.tokens_per_s:,.1f} {unit}"]  # fmt: skip
        if args.cmd == "decode":
            out.append(f"  per user          {1.0 / ph.time_s:,.1f} tokens/s")
        out.append(f"  memory per GPU    {_gib(ph.memory_per_gpu_bytes)} of {_gib(ph.memory.capacity_bytes)} "
                   f"({'fits' if ph.fits else 'does NOT fit'})")  # fmt: skip
        out.append(f"  kernels per GPU   {ph.kernels:,.0f}")
        out.append("  breakdown:")
        for key, label in _BREAKDOWN:
            v = getattr(ph, key)
            if v > 0:
                out.append(f"    {label:34s} {_ms(v):>12s}  {v / ph.time_s:6.1%}")
        out.append(_calibration(ph.iteration.fitted_on))
        return "\n".join(out)

    return emit(args, data, table, ph.frame())


def _memory(args: argparse.Namespace) -> int:
    kw = _common(args)
    m = serve.memory(args.model, args.system, **kw)
    fields = ("weights_bytes", "activations_bytes", "kv_cache_bytes", "kv_bytes_per_token", "kv_tokens",
              "capacity_bytes", "shortfall_bytes")  # fmt: skip
    data = {**_head(args), **{k: getattr(m, k) for k in fields}, "fits": m.fits, "explain": m.explain()}

    def table() -> str:
        out = [f"memory per GPU: {_where(args)}"]
        for r in m.frame().to_dicts():
            out.append(f"  {r['part']:12s} {r['gib']:9.2f} GiB  {r['bytes'] / m.capacity_bytes:6.1%}")
        out.append(f"  {'capacity':12s} {m.capacity_bytes / 2**30:9.2f} GiB")
        out.append(
            f"  KV cache: {m.kv_tokens:,.0f} tokens at {m.kv_bytes_per_token:,.0f} bytes per token per GPU"
        )
        out.append(m.explain())
        return "\n".join(out)

    return emit(args, data, table, m.frame())


def _fitted_on(args: argparse.Namespace) -> str | None:
    e = serve.engine(
        args.model,
        args.system,
        tp=args.tp,
        pp=args.pp,
        ep=1,
        dtype=args.dtype,
        kv_dtype=args.kv_dtype,
        framework=args.framework,
    )
    return e.fitted_on  # type: ignore[no-any-return]


def _simulate(args: argparse.Namespace) -> int:
    if args.requests is not None and args.rate is not None:
        raise UsageError("give either --rate (Poisson arrivals per second) or --requests FILE, not both")
    if args.requests is None and args.rate is None:
        if args.max_concurrency is None:
            raise UsageError("give either --rate (Poisson arrivals per second) or --requests FILE")
        args.rate = math.inf  # closed-loop clients with every request ready
    kw = _common(args)
    sim = serve.simulate(
        args.model, args.system, replicas=args.replicas, requests=args.requests, rate=args.rate,
        num_requests=args.num_requests, prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens,
        seed=args.seed, slo_ttft_s=args.slo_ttft, slo_tpot_s=args.slo_tpot, balancer=args.balancer,
        scheduler_policy=args.scheduler_policy, max_concurrency=args.max_concurrency, **kw,
    )  # fmt: skip
    fitted = _fitted_on(args)
    data = {**_head(args), "replicas": args.replicas, "slo_ttft_s": args.slo_ttft, "slo_tpot_s": args.slo_tpot,
            "summary": sim.summary, "calibration": fitted}  # fmt: skip
    text = format_summary(sim, f"{_where(args)}, {args.replicas} replica(s)", args.slo_ttft, args.slo_tpot)
    emit(args, data, f"{text}\n{_calibration(fitted)}", sim.frame())
    if args.csv:
        sim.requests.write_csv(args.csv)
        note(args, f"wrote {sim.requests.height} requests to {args.csv}")
    return 0


def _max_rate(args: argparse.Namespace) -> int:
    pct: Any = int(args.percentile) if args.percentile.isdigit() else args.percentile
    traffic = dict(requests=args.requests, num_requests=args.num_requests, prompt_tokens=args.prompt_tokens,
                   output_tokens=args.output_tokens, seed=args.seed)  # fmt: skip
    if args.search:
        f = serve.search(args.model, args.system, slo_ttft_s=args.slo_ttft, slo_tpot_s=args.slo_tpot, percentile=pct,
                         dtype=args.dtype, kv_dtype=args.kv_dtype, framework=args.framework, objective="max_rate",
                         **traffic)  # fmt: skip
        emit(args, f, lambda: frame_text(f.select("tp", "pp", "ep", "replicas", "fits", "max_rate_req_s", "why"),
                                         fmt_str_lengths=110), f)  # fmt: skip
        if args.csv:
            f.drop([c for c, t in f.schema.items() if t == pl.Object]).write_csv(args.csv)
        return 0
    r = serve.max_rate(args.model, args.system, tp=args.tp, pp=args.pp, replicas=args.replicas, slo_ttft_s=args.slo_ttft,
                       slo_tpot_s=args.slo_tpot, percentile=pct, dtype=args.dtype, kv_dtype=args.kv_dtype,
                       framework=args.framework, balancer=args.balancer, scheduler_policy=args.scheduler_policy,
                       **traffic)  # fmt: skip
    data = {**_head(args), "replicas": args.replicas, "percentile": pct, "slo_ttft_s": args.slo_ttft,
            "slo_tpot_s": args.slo_tpot, "rate_req_s": r.rate_req_s, "rate_unbounded": math.isinf(r.rate_req_s), "why": r.why,
            "summary": None if r.simulation is None else r.simulation.summary, "evaluations": r.evaluations}  # fmt: skip

    def table() -> str:
        out = [
            f"{_where(args)}, {args.replicas} replica(s): {r.rate_req_s:.3g} requests/s meet the SLOs; beyond: {r.why}"
        ]
        if r.simulation is not None:
            out.append(
                format_summary(
                    r.simulation, f"at {r.rate_req_s:.3g} requests/s", args.slo_ttft, args.slo_tpot
                )
            )
        return "\n".join(out)

    emit(args, data, table)
    if r.simulation is not None and args.csv:
        r.simulation.requests.write_csv(args.csv)
    return 0


def format_summary(
    sim: serve.Simulation, title: str, slo_ttft: float | None = None, slo_tpot: float | None = None
) -> str:
    """A readable summary of one :class:`perfmodel.serve.Simulation`."""
    s = sim.summary
    lines = [f"{s['num_requests']:.0f} requests, {title}"]
    lines.append(f"  {'latency':8s} {'mean':>12s} {'p50':>12s} {'p90':>12s} {'p99':>12s}")
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "ITL"), ("e2e_s", "E2E")):
        lines.append(
            f"  {label:8s} " + " ".join(f"{_ms(s[f'{q}_{key}']):>12s}" for q in ("mean", "p50", "p90", "p99"))
        )
    lines.append(f"  throughput      {s['output_tokens_per_s']:,.1f} output tokens/s, {s['requests_per_s']:,.3f} requests/s "
                 f"over {s['makespan_s']:,.2f} s")  # fmt: skip
    slo = ", ".join(
        x for x in (slo_ttft and f"TTFT <= {slo_ttft:g} s", slo_tpot and f"TPOT <= {slo_tpot:g} s") if x
    )
    lines.append(f"  goodput         {s['goodput_requests_per_s']:,.3f} requests/s; SLO attainment "
                 f"{s['slo_attainment']:.1%}" + (f" ({slo})" if slo else " (no SLO given)"))  # fmt: skip
    lines.append(f"  iterations      {s['iterations']:,.0f}; preemptions {s['preemptions']:,.0f}")
    return "\n".join(lines)


def _throughput(args: argparse.Namespace) -> int:
    kw = _common(args)
    sim = serve.max_throughput(
        args.model,
        args.system,
        isl=args.isl,
        osl=args.osl,
        num_requests=args.num_requests,
        scheduler_policy=args.scheduler_policy,
        **kw,
    )
    s = sim.summary
    gpus = args.tp * args.pp
    fitted = _fitted_on(args)
    data = {**_head(args), "isl": args.isl, "osl": args.osl, "gpus": gpus,
            "output_tokens_per_s_per_gpu": s["output_tokens_per_s"] / gpus, "summary": s, "calibration": fitted}  # fmt: skip
    text = "\n".join([
        f"offline maximum throughput, {args.isl} prompt / {args.osl} output tokens: {_where(args)}",
        f"  output tokens/s  {s['output_tokens_per_s']:,.1f} ({s['output_tokens_per_s'] / gpus:,.1f} per GPU)",
        f"  requests/s       {s['requests_per_s']:,.3f} ({s['num_requests']:.0f} requests in {s['makespan_s']:,.2f} s)",
        f"  mean TPOT        {_ms(s['mean_tpot_s'])}; mean TTFT {_ms(s['mean_ttft_s'])} (queueing included)",
        _calibration(fitted),
    ])  # fmt: skip
    return emit(args, data, text, sim.frame())


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel serve ARGV...``."""
    return domain_main("serve", argv)
