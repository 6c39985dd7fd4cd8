"""LLM training plans: estimate, search and plot (writes examples/output/llm_*, next to this file).

GPT-3 175B on DGX A100 nodes: the step-time and memory breakdown of two plans, the best plans of a full
search, a TP x PP heatmap of the best step time, and MFU vs GPU count at MegaScale's fixed global batch.
"""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
from perfmodel.plots import llm as llm_plots
from perfmodel.plots import save

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    m = pm.llm.model("gpt3-175b")
    plans = {
        "tp8 pp16 full recompute": pm.llm.estimate(
            m, ("dgx-a100", 128), tp=8, pp=16, global_batch=1536, recompute="full"
        ),
        "tp8 pp8 vp6 SP selective": pm.llm.estimate(
            m, ("dgx-a100", 128), tp=8, pp=8, vp=6, global_batch=1536, sp=True, recompute="selective", zero=1
        ),
    }
    for name, e in plans.items():
        print(f"{name}: {e}")
    where = "GPT-3 175B on 128 DGX A100 nodes (1,024 GPUs), global batch 1,536"
    save(llm_plots.step_breakdown(plans, title=f"{where}: step time"), OUT / "llm_step_breakdown.png")
    save(
        llm_plots.memory_breakdown(plans, title=f"{where}: memory per GPU"), OUT / "llm_memory_breakdown.png"
    )

    r = pm.llm.search_full(m, ("dgx-a100", 128), global_batch=1536)
    print(
        f"search: {r.candidates:,} candidates, {r.plans.height:,} fitting plans in {r.seconds * 1e3:.0f} ms"
    )
    print(
        r.plans.head(5).select(
            "tp", "pp", "dp", "vp", "micro_batch", "sp", "recompute", "zero", "step_time_s", "mfu"
        )
    )
    save(
        llm_plots.tp_pp_heatmap(r.plans, title="GPT-3 175B on 1,024 A100: best step time (s) by TP x PP"),
        OUT / "llm_tp_pp_heatmap.png",
    )

    m175 = pm.llm.model(
        {
            "name": "MegaScale's 175B",
            "hidden": 12288,
            "heads": 128,
            "layers": 96,
            "seq_len": 2048,
            "vocab": 64000,
        }
    )
    measured = {256: 0.530, 512: 0.499, 768: 0.467, 1024: 0.447}  # MegaScale Table 2, Megatron-LM
    chart = llm_plots.mfu_vs_gpus(
        m175,
        "dgx-a100",
        [256, 512, 768, 1024],
        768,
        measured,
        tp=8,
        pp=8,
        vp=6,
        sp=True,
        recompute="selective",
        zero=1,
        grad_fp32=True,
    )
    save(chart, OUT / "llm_mfu_vs_gpus.png")
    print(f"charts written to {OUT.resolve()}")


if __name__ == "__main__":
    main()
