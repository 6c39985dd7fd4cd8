"""Llama-3-70B on 8x H100 (dgx-h100) vs 8x MI300X (mi300x-pollara-node): requests/s at TTFT <= 1 s and
TPOT <= 50 ms, and with which plan (writes examples/output/serve_*.png).

For each system every plan TP in {1, 2, 4, 8} x 8/TP replicas whose weights fit (``pm.serve.memory().fits``)
serves a seeded Poisson stream of 500 requests with ShareGPT-like lengths (prompt lognormal, mean 600, sigma 1.0,
at most 4000 tokens; output lognormal, mean 250, sigma 0.8, at most 2000), vLLM's scheduler (chunked prefill,
paged KV cache) and a round-robin balancer. A bisection over the rate finds the highest rate whose p90 TTFT and
p90 TPOT both meet the SLO (``pm.serve.max_rate``). Serving figures of a system are uncalibrated unless its hwdb entry has a
``[[serving]]`` table for the framework (printed below): compare the two systems with each other, not with a
stopwatch.
"""

from __future__ import annotations

import time
from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import save
from perfmodel.plots import serve as serve_plots

OUT = Path(__file__).resolve().parent / "output"
MODEL = "llama3-70b"
SYSTEMS = {"8x H100": "dgx-h100", "8x MI300X": "mi300x-pollara-node"}
SLO_TTFT_S, SLO_TPOT_S = 1.0, 0.050
TRAFFIC = dict(
    num_requests=500,
    prompt_tokens=("lognormal", 600, 1.0, 4000),
    output_tokens=("lognormal", 250, 0.8, 2000),
    seed=7,
    slo_ttft_s=SLO_TTFT_S,
    slo_tpot_s=SLO_TPOT_S,
)


def max_rate(system: str, tp: int, replicas: int) -> tuple[float, pm.serve.Simulation | None]:
    """The highest Poisson rate (requests/s) meeting both p90 SLOs (pm.serve.max_rate: bracketing, then bisection)."""
    r = pm.serve.max_rate(MODEL, system, tp=tp, replicas=replicas, rel_tol=0.01, **TRAFFIC)
    return r.rate_req_s, r.simulation


def main() -> None:
    t0 = time.perf_counter()
    rows, memories, sweeps, calibrated = [], {}, [], {}
    for label, system in SYSTEMS.items():
        fitted = pm.serve.engine(MODEL, system, tp=8).fitted_on
        calibrated[label] = fitted
        print(f"{label} ({system}): serving calibration: {fitted or 'none — uncalibrated figures'}")
        for tp in (1, 2, 4, 8):
            replicas = 8 // tp
            plan = f"{label} TP{tp} x {replicas}"
            mem = pm.serve.memory(MODEL, system, tp=tp)
            if not mem.fits:
                print(f"  skip TP{tp}: {mem.explain()}")
                continue
            memories[f"{label} TP{tp}"] = mem
            rate, sim = max_rate(system, tp, replicas)
            s = sim.summary if sim is not None else {}
            rows.append({
                "system": label, "tp": tp, "replicas": replicas, "kv_tokens_per_replica": int(mem.kv_tokens),
                "max_rate_rps": rate, "p90_ttft_ms": s.get("p90_ttft_s", float("nan")) * 1e3,
                "p90_tpot_ms": s.get("p90_tpot_s", float("nan")) * 1e3,
                "output_tok_s": s.get("output_tokens_per_s", float("nan")),
                "output_tok_s_per_gpu": s.get("output_tokens_per_s", float("nan")) / 8,
            })  # fmt: skip
            if rate > 0:
                rates = [round(rate * f, 3) for f in (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25)]
                sweeps.append(
                    serve_plots.latency_sweep(MODEL, system, {plan: {"tp": tp, "replicas": replicas}}, rates, **TRAFFIC)
                    .with_columns(pl.lit(label).alias("system"))
                )  # fmt: skip
    table = pl.DataFrame(rows)
    print()
    print(f"{MODEL}, 500 Poisson requests (ShareGPT-like lengths), SLO p90 TTFT <= {SLO_TTFT_S:g} s and "
          f"p90 TPOT <= {SLO_TPOT_S * 1e3:g} ms; highest rate meeting both, per plan:")  # fmt: skip
    with pl.Config(
        tbl_rows=20, tbl_cols=20, tbl_width_chars=160, float_precision=2, tbl_hide_dataframe_shape=True
    ):
        print(table)
    for label in SYSTEMS:
        sub = table.filter(pl.col("system") == label).sort("max_rate_rps", descending=True)
        if sub.height:
            b = sub.row(0, named=True)
            print(f"best on {label}: TP{b['tp']} x {b['replicas']} replicas at {b['max_rate_rps']:.2f} requests/s "
                  f"({b['output_tok_s']:,.0f} output tokens/s)")  # fmt: skip
    print("note: MI300X and H100 serving figures are uncalibrated unless hwdb has a [[serving]] table for that "
          "system (see the calibration lines above).")  # fmt: skip
    if len({c is None for c in calibrated.values()}) > 1:
        print("warning: one system is calibrated and the other is not; the two are not on the same footing "
              "(" + ", ".join(f"{k}: {'calibrated' if v else 'uncalibrated'}" for k, v in calibrated.items()) + ")")  # fmt: skip
    print("max_rate_rps 0: the plan misses the SLO even at the lowest rate tried.")

    sweep = pl.concat(sweeps)
    OUT.mkdir(exist_ok=True)
    for label in SYSTEMS:
        f = sweep.filter(pl.col("system") == label)
        chart = serve_plots.latency_vs_rate(f, slo_ttft_s=SLO_TTFT_S, slo_tpot_s=SLO_TPOT_S).properties(
            title=f"{MODEL} on {label}: p90 latency vs Poisson request rate"
        )
        print("wrote", save(chart, OUT / f"serve_latency_{label.split()[-1].lower()}.png"))
    pareto = serve_plots.pareto(
        sweep, title=f"{MODEL} on 8x H100 and 8x MI300X: throughput per GPU vs interactivity"
    )
    print("wrote", save(pareto, OUT / "serve_pareto.png"))
    memory = serve_plots.memory_breakdown(memories, title=f"{MODEL} serving memory per GPU (tick: capacity)")
    print("wrote", save(memory, OUT / "serve_memory.png"))
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
