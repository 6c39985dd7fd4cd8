"""Training across clusters with different NICs, the Holmes setting (writes examples/output/holmes_*, next to
this file).

1. Holmes's 4-node example (2 InfiniBand + 2 RoCE nodes, a 39.1B SwiGLU GPT, TP 8, PP 2): the automatic
   layers-per-stage partition against Holmes's hand partition 26/22, with the reason.
2. GPT 7.5B on 8 A100 nodes for several NIC mixes: the naive placement (as launched, one network for the
   whole job) against the NIC-aware placement (TP/DP groups inside one NIC type, only pipeline sends cross),
   charted with the published Holmes figures.
3. The Holmes validation summary (``perfmodel validate holmes``).
"""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import llm as llm_plots
from perfmodel.plots import save
from perfmodel.validation import holmes

OUT = Path(__file__).resolve().parent / "output"


def holmes_example() -> None:
    # CodexDive/Holmes examples/pretrain_gpt_4_nodes.sh: 48 layers, hidden 8192, 64 heads, SwiGLU, RoPE.
    m = pm.llm.model("megatron-39b", glu=True, ffn_hidden=21824, learned_pos=False)
    c = pm.cluster([("holmes-a100-ib", 2), ("holmes-a100-roce", 2)])
    plan = dict(
        tp=8, pp=2, micro_batch=4, global_batch=1536, sp=True, recompute="selective", zero=1, dtype="fp16"
    )
    auto = pm.llm.estimate(m, c, placement="nic-aware", **plan)
    hand = pm.llm.estimate(m, c, placement="nic-aware", layers_per_stage=[26, 22], **plan)
    print(
        f"automatic partition {auto.layers_per_stage}: step {auto.step_time_s:.2f} s, {auto.tflops_per_gpu:.1f} TFLOP/s/GPU"
    )
    print(
        f"Holmes's hand partition [26, 22]: step {hand.step_time_s:.2f} s, {hand.tflops_per_gpu:.1f} TFLOP/s/GPU"
    )
    print("why:", auto.reason)
    print(
        auto.stages.select(
            "stage", "system", "transport", "layers", "micro_batch_s", "dp_comm_s", "p2p_transport"
        )
    )


def nic_mixes() -> None:
    m = pm.llm.model("megatron-7.5b")
    plan = dict(
        tp=4, pp=2, micro_batch=4, global_batch=512, sp=True, recompute="selective", zero=1, dtype="fp16"
    )
    mixes = {
        "8 IB": [("holmes-a100-ib", 8)],
        "4 RoCE + 4 IB": [("holmes-a100-roce", 4), ("holmes-a100-ib", 4)],
        "8 RoCE": [("holmes-a100-roce", 8)],
        "4 IB + 4 Eth": [("holmes-a100-ib", 4), ("holmes-a100-eth", 4)],
        "8 Eth": [("holmes-a100-eth", 8)],
    }
    frames = []
    for name, groups in mixes.items():
        df = pm.llm.compare_placements(m, pm.cluster(groups), **plan)
        frames.append(df.with_columns(nic_mix=pl.lit(name)))
    rows = pl.concat(frames)
    print(rows.select("nic_mix", "placement", "layers_per_stage", "tflops_per_gpu", "dp_comm_s", "pp_comm_s"))
    published = pl.DataFrame(
        {
            "nic_mix": ["4 RoCE + 4 IB", "4 RoCE + 4 IB"],
            "placement": ["naive", "nic-aware"],
            "tflops_per_gpu": [145.0, 195.0],
        }
    )
    title = "GPT 7.5B on 8 A100 nodes: TFLOP/s per GPU by NIC mix (black ticks: Holmes, published)"
    save(llm_plots.placement_bars(rows, published, title=title), OUT / "holmes_nic_mix.png")


def main() -> None:
    holmes_example()
    nic_mixes()
    rows = holmes.run()
    print(pm.validation.summarize(rows, ("group", "role")))


if __name__ == "__main__":
    main()
