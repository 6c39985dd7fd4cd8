"""Reproduces the power/F1/productivity table of Olin-Ammentorp, Wu & Chien (arXiv:2407.00123) for CMS
HL-LHC with perfmodel's DAQ model, and draws the what-if charts into examples/output/ (next to this file).

Power is a derivation of the SystemFlow equations (docs/models/daq.md#numbers-to-reproduce, within 0.5 %). The L1T classifier skill
is FITTED to two SystemFlow F1 rows (see python/perfmodel/daq/presets/cms-run5.toml); F1 and relevant
samples per kJ of the other rows follow from that calibration.
"""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.daq import plots

OUT = Path(__file__).resolve().parent / "output"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    df = pm.daq.lever_sweep("cms-run5", optical_links=False)
    table = df.select(
        "configuration",
        (pl.col("power_w") / 1e6).round(2).alias("power_MW"),
        pl.col("precision").round(4),
        pl.col("recall").round(4),
        pl.col("f1").round(4),
        pl.col("relevant_per_kj").round(4),
        (pl.col("cost") / 1e6).round(0).alias("cost_MUSD"),
    ).sort("power_MW", descending=True)
    with pl.Config(tbl_rows=20, tbl_width_chars=160, fmt_str_lengths=50):
        print(table)
    base = table.filter(pl.col("configuration") == "baseline")
    best = table.filter(pl.col("configuration") == "gpu_hlt + smart_pixels + l1_tracking")
    print(f"power reduction: {1 - best['power_MW'][0] / base['power_MW'][0]:.1%} (paper: 60 %)")
    print(
        f"relevant samples/kJ: {base['relevant_per_kj'][0]:.3f} -> {best['relevant_per_kj'][0]:.3f} (paper: 0.065 -> 0.31)"
    )
    table.write_csv(OUT / "daq_cms_table.csv")
    everything = pm.daq.lever_sweep("cms-run5")
    where = "CMS HL-LHC (cms-run5 preset)"
    plots.save(plots.power_pareto(everything, title=f"{where}: power vs F1"), OUT / "daq_power_vs_f1.png")
    plots.save(plots.power_by_stage(df, title=f"{where}: power by stage"), OUT / "daq_power_by_stage.svg")
    plots.save(
        plots.relevant_per_kj(df, title=f"{where}: relevant samples per kJ"), OUT / "daq_relevant_per_kj.html"
    )
    print(f"charts written to {OUT}")


if __name__ == "__main__":
    main()
