"""The cheapest mix of GPU types for a chat workload (Mélange's question, on perfmodel's serving model).

Llama-2-7B (fp16, vLLM scheduler) serving LMSYS-Chat-like requests (the packaged APEX lmsys trace, bucketed into
Mélange's 10 x 6 length ranges) under a 120 ms mean TPOT, on L4, A10G, A100-80GB PCIe and H100 at Mélange's
Table 1 prices (hwdb [price]). For each rate: the minimum-cost allocation and what each single GPU type would
cost. Writes examples/output/cost_vs_rate.png (next to this file); the copy in docs/ comes from the same function
(scripts/make_figures.py).

    python examples/cheapest_gpu_mix.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import perfmodel as pm
import polars as pl
from perfmodel.plots import cost, save

GPUS = ["g6-l4", "g5-a10g", "nc24ads-a100-v4", "dgx-h100"]
RATES = [1, 2, 4, 8, 16, 32, 64, 128]
OUT = Path(__file__).resolve().parent / "output"
TITLE = "Llama-2-7B, LMSYS-Chat requests, TPOT <= 120 ms: cheapest mix vs one GPU type"


def workload() -> pm.serve.mix.Workload:
    return pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))


def sweep(work: pm.serve.mix.Workload) -> pl.DataFrame:
    """The cheapest mix and each single GPU type at every rate of RATES."""
    return cost.cost_sweep("llama2-7b", GPUS, work, RATES, tpot_slo_s=0.12, dtype="fp16")


def cost_figure(frame: pl.DataFrame | None = None) -> Any:
    """Hourly cost against request rate, the mix against each single type."""
    return cost.cost_vs_rate(sweep(workload()) if frame is None else frame, TITLE)


def main() -> None:
    work = workload()
    print(f"workload: {len(work)} non-empty buckets; mean prompt "
          f"{(work.buckets['share'] * work.buckets['prompt_tokens']).sum():.0f}, mean output "
          f"{(work.buckets['share'] * work.buckets['output_tokens']).sum():.0f} tokens")  # fmt: skip
    r = pm.serve.cheapest_mix("llama2-7b", GPUS, work, rate=16.0, tpot_slo_s=0.12, dtype="fp16")
    print(f"\n16 req/s, TPOT <= 120 ms: {r}")
    with pl.Config(tbl_rows=40, tbl_width_chars=140, fmt_str_lengths=70):
        print(r.allocation)
        print(r.single_type)
        print(
            r.capacities.select(
                "system", "prompt_lo", "output_lo", "share", "max_rate_req_s", "batch", "limited_by"
            ).head(12)
        )
    frame = sweep(work)
    with pl.Config(tbl_rows=80, tbl_width_chars=140, fmt_str_lengths=70):
        print(frame.filter(pl.col("allocation") == "mix"))
    out = save(cost_figure(frame), OUT / "cost_vs_rate.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
