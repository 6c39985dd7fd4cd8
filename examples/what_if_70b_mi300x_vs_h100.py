"""What-if: Llama-2-70B on 256 MI300X over Pollara 400 vs 256 H100 over InfiniBand NDR (run from inside examples/).

For each cluster the full plan search (TP, PP, interleaving, micro-batch, recompute, ZeRO, SP) at a global batch
of 1024 sequences of 4096 tokens; the best fitting plan's step time, MFU, tokens/s, memory and where the time
goes. Both systems are uncalibrated (no hwdb `[calibration]`) (no published Megatron-class run on
them in the validation set), so the numbers are the calibrated roofline's: on dgx-a100 the fitted compute
factor is 1.24 and this project's eager-PyTorch steps on one H100 took 23-33% longer than the uncalibrated
estimate (validation/measured.csv, group train_step); on MLPerf's FP8 GPT-3 run the uncalibrated H100 model is
1.9x too fast (validation/llm.csv, group mlperf_h100). Compare the two systems with each other, not with a
stopwatch.
"""

from __future__ import annotations

import perfmodel as pm

CLUSTERS = {
    "256 x MI300X, Pollara 400": ("mi300x-pollara-node", 32),
    "256 x H100, CX-7 NDR IB": ("dgx-h100", 32),
}


def main() -> None:
    model = pm.llm.model("llama2-70b")
    rows = []
    for name, cluster in CLUSTERS.items():
        best = pm.llm.search(model, cluster, global_batch=1024, top=1).row(0, named=True)
        plan = {k: best[k] for k in ("tp", "pp", "dp", "vp", "micro_batch", "sp", "recompute", "zero")}
        e = pm.llm.estimate(model, cluster, global_batch=1024, **plan)
        calib = pm.llm.calibration(cluster[0])["fitted_on"]
        rows.append((name, plan, e, calib))
    for name, plan, e, calib in rows:
        print(f"{name}  (calibration: {calib})")
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
