"""Power and energy of LLM serving and training on H100 (writes examples/output/power_*.png).

1. Power per GPU and energy per output token against the batch size for Qwen3-8B served by vLLM on one H100,
   next to the ML.ENERGY v3 measurements of the same runs (held out of the power fit: the H100 figures were fitted
   on Llama-3.1-8B only).
2. The energy-latency Pareto front of every serving plan of Llama-3-70B on one DGX-H100 (offline, 512 requests of
   512 + 256 tokens, max_num_seqs 16/64/256). APEX (Microsoft) reports energy-optimal plans about 45% cheaper in
   energy than latency-optimal ones; that is their claim about their setting, printed for context only.
3. Power caps: the same Llama-3.1-8B stream under per-GPU caps (decode barely slows, prefill does), and a POLCA-style
   oversubscription of a 1 MW budget of DGX-H100 servers (rated 10.2 kW) capped at 8 and 9 kW.
4. Energy of one training step of Llama-3.1-8B on one DGX-H100 node, with the node's power at its rating's non-GPU
   share.
"""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import power as pp
from perfmodel.plots import save
from perfmodel.validation import energy
from perfmodel.validation.serving_cases import mlenergy_cases

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    h100 = pm.power.model("dgx-h100")
    print(f"H100 power law: idle {h100.idle_w:.0f} W, busy +{h100.active_w:.0f} W, compute +{h100.compute_w:.0f} W "
          f"at full matrix peak, memory +{h100.memory_w:.0f} W at full HBM bandwidth, TDP {h100.tdp_w:.0f} W")  # fmt: skip

    # 1. power and energy per token vs batch, model vs ML.ENERGY (held out)
    runs = mlenergy_cases().filter(pl.col("model_id") == "qwen3-8b")
    meas = runs.select(pl.col("avg_batch_size").alias("batch"), "power_per_gpu_w",
                       pl.col("energy_per_output_token_j").alias("energy_per_token_j"))  # fmt: skip
    out_len = float(runs["avg_output_len"].mean())  # type: ignore[arg-type]
    f = pp.power_vs_batch("qwen3-8b", "dgx-h100", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
                          prompt_len=energy.PROMPT_TOKENS, output_len=out_len, measured=meas)  # fmt: skip
    title = "Qwen3-8B on one H100 (vLLM): model (held out of the power fit) vs ML.ENERGY v3"
    print("wrote", save(pp.power_energy_chart(f, title=title, tdp_w=h100.tdp_w), OUT / "power_vs_batch.png"))
    s = energy.summary()
    print(
        f"ML.ENERGY held out: power per GPU median {s['holdout/power_per_gpu_w']['median']:.1%} "
        f"(max {s['holdout/power_per_gpu_w']['max']:.1%}), energy per output token median "
        f"{s['holdout/energy_per_output_token_j']['median']:.1%} (max {s['holdout/energy_per_output_token_j']['max']:.1%})"
    )

    # 2. energy-latency Pareto front of serving plans
    plans = pm.serve.search("llama3-70b", pm.cluster("dgx-h100", 1), num_requests=512, prompt_tokens=512,
                            output_tokens=256, max_num_seqs=(16, 64, 256), max_pp=2)  # fmt: skip
    front = pp.energy_latency_pareto(
        plans, title="Llama-3-70B on one DGX-H100: energy per output token vs p90 TPOT"
    )
    print("wrote", save(front, OUT / "power_energy_latency_pareto.png"))
    ok = plans.filter(pl.col("fits"))
    fast = ok.sort("p90_tpot_s").row(0, named=True)
    frugal = ok.sort("energy_per_output_token_j").row(0, named=True)
    print(
        f"latency-optimal TP{fast['tp']} x{fast['replicas']} seqs {fast['max_num_seqs']}: p90 TPOT "
        f"{fast['p90_tpot_s'] * 1e3:.1f} ms, {fast['energy_per_output_token_j']:.2f} J/token; energy-optimal "
        f"TP{frugal['tp']} PP{frugal['pp']} x{frugal['replicas']} seqs {frugal['max_num_seqs']}: "
        f"{frugal['p90_tpot_s'] * 1e3:.1f} ms, {frugal['energy_per_output_token_j']:.2f} J/token "
        f"({1 - frugal['energy_per_output_token_j'] / fast['energy_per_output_token_j']:.0%} less; APEX claims ~45%)"
    )

    # 3. caps and oversubscription
    for cap in (None, 500, 350):
        sim = pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=30.0, num_requests=600, prompt_tokens=512,
                                output_tokens=128, seed=1, power_cap_w=cap)  # fmt: skip
        print(
            f"cap {cap or 'none (TDP)'}: mean TPOT {sim.mean_tpot_s * 1e3:.2f} ms, p90 TTFT {sim.p90_ttft_s * 1e3:.0f} ms, "
            f"mean power {sim.mean_power_per_gpu_w:.0f} W, {sim.energy_per_output_token_j:.3f} J/token"
        )
    over = pm.power.oversubscription("llama3.1-8b", "dgx-h100", 1_000_000, [8_000, 9_000], tp=1, isl=512, osl=128,
                                     num_requests=256)  # fmt: skip
    with pl.Config(tbl_cols=12, tbl_width_chars=160, float_precision=3):
        print(over.select("server_cap_w", "servers", "servers_uncapped", "throughput_loss_fraction",
                          "facility_tokens_per_s", "facility_tokens_per_s_uncapped"))  # fmt: skip

    # 4. a training step
    est = pm.llm.estimate("llama3.1-8b", ("dgx-h100", 1), tp=1, dp=8, global_batch=16)
    e = est.energy()
    node = pm.power.node_power("dgx-h100", e["power_per_gpu_w"])
    print(
        f"training step {est.step_time_s:.1f} s at MFU {est.mfu:.0%}: {e['power_per_gpu_w']:.0f} W per GPU, "
        f"{e['cluster_energy_per_step_j'] / 3.6e6:.3f} kWh per step for 8 GPUs, node {node['total_w'] / 1e3:.1f} kW "
        f"with {node['non_gpu_w'] / 1e3:.1f} kW non-GPU at the rating (measured peak of such a node: 8.4 kW)"
    )


if __name__ == "__main__":
    main()
