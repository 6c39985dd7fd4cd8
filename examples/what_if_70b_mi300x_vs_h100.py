"""What-if: Llama-2-70B on 256 MI300X over Pollara 400 vs 256 H100 over InfiniBand NDR.

For each cluster the full plan search (TP, PP, interleaving, micro-batch, recompute, ZeRO, SP, overlaps and
offload) at a global batch of 1024 sequences of 4096 tokens; the best fitting plan's step time, MFU, tokens/s,
memory and where the time goes. Both clusters are priced on the same footing, uncalibrated (compute, memory and
communication factors 1: the roofline and collectives engines as validated): mi300x-pollara-node has no LLM
calibration, and dgx-h100's (fitted on MLPerf GPT-3, printed for context) carries a communication factor that
stands in for a step-model gap (NOTES.md). Compare the two systems with each other, not with a stopwatch.
"""

from __future__ import annotations

import perfmodel as pm

CLUSTERS = {
    "256 x MI300X, Pollara 400": ("mi300x-pollara-node", 32),
    "256 x H100, CX-7 NDR IB": ("dgx-h100", 32),
}


#: The same footing for both systems: the engines as validated, no per-system factors.
UNCALIBRATED = {"compute_time_scale": 1.0, "memory_time_scale": 1.0, "comm_bandwidth_scale": 1.0,
                "network_bandwidth_scale": 1.0}  # fmt: skip
PLAN_COLUMNS = ("tp", "pp", "dp", "vp", "micro_batch", "sp", "recompute", "zero", "dp_overlap", "tp_overlap",
                "pp_overlap", "offload_optimizer", "offload_activations")  # fmt: skip


def main() -> None:
    model = pm.llm.model("llama2-70b")
    rows = []
    for name, cluster in CLUSTERS.items():
        best = pm.llm.search(model, cluster, global_batch=1024, top=1, calib=UNCALIBRATED).row(0, named=True)
        plan = {k: best[k] for k in PLAN_COLUMNS}
        e = pm.llm.estimate(model, cluster, global_batch=1024, calib=UNCALIBRATED, **plan)
        own = pm.llm.calibration(cluster[0])
        calib = (
            "none"
            if own["fitted_on"] == "uncalibrated"
            else (
                f"compute {own['compute_time_scale']:.3f}, network {own['network_bandwidth_scale']:.3f} (not applied here)"
            )
        )
        rows.append((name, plan, e, calib))
    for name, plan, e, calib in rows:
        print(f"{name}  (system calibration: {calib})")
        print(f"  best plan: {plan}")
        print(
            f"  step {e.step_time_s:.2f} s   MFU {e.mfu:.1%}   {e.tokens_per_s / 1e3:,.0f}k tokens/s   "
            f"{e.memory_per_gpu_bytes / 1e9:.0f} GB of {e.capacity_bytes / 1e9:.0f} GB per GPU"
        )
        parts = dict(zip(e.breakdown["component"], e.breakdown["time_s"], strict=True))
        top = sorted(((t, c) for c, t in parts.items() if t > 0), reverse=True)[:4]
        print("  where the time goes: " + ", ".join(f"{c} {t:.2f} s" for t, c in top))
    (a, _, ea, _), (b, _, eb, _) = rows
    faster = a if ea.step_time_s < eb.step_time_s else b
    ratio = max(ea.step_time_s, eb.step_time_s) / min(ea.step_time_s, eb.step_time_s)
    print(f"\n{faster} is {ratio:.2f}x faster per step on this model.")


if __name__ == "__main__":
    main()
