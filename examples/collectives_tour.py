"""Collectives tour (writes examples/output/collectives_*, next to this file, from any directory).

1. All-reduce busbw curves of 8x H100 (NVLink4 + NVLS), 8x MI300X (xGMI mesh) and 2 nodes of 8x H100
   (NVLink + InfiniBand), with the points of a real rccl-tests log (8x MI300X) on top.
2. Which algorithm the auto-tuner picks by message size and rank count on 8 DGX H100 nodes.
3. The real log against the model, size by size, as ``perfmodel collectives --log`` prints it.
"""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import collectives as cplots
from perfmodel.plots import save

OUT = Path(__file__).resolve().parent / "output"
# A real rccl-tests log bundled with the tests (source: tests/data/nccl_tests/SOURCES.md).
LOG = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "data"
    / "nccl_tests"
    / "mi300x_8gpu_all_reduce_rccl.txt"
)


def main() -> None:
    log = pm.nccl_tests.read(LOG)
    print(f"{LOG.name}: {log.height} rows, {log['op'][0]} on {log['nranks'][0]} ranks")

    configs = {
        "8x H100 (DGX H100)": ("dgx-h100", 8),
        "8x MI300X": ("mi300x-pollara-node", 8),
        "2 nodes x 8 H100": (pm.cluster("dgx-h100", 2), 16),
    }
    curves = cplots.compare_curves(configs, "all_reduce")
    points = cplots.measured_points(log, label="8x MI300X rccl-tests")
    save(
        cplots.busbw_chart(curves, points, title="all_reduce busbw: model lines, rccl-tests points"),
        OUT / "collectives_busbw.png",
    )
    save(
        cplots.busbw_chart(
            curves, points, title="all_reduce busbw (log): model lines, rccl-tests points", log_y=True
        ),
        OUT / "collectives_busbw_log.svg",
    )

    peak = curves.filter(pl.col("nbytes") == 2**33).select("label", "algorithm", "busbw_gbps")
    print("modelled busbw at 8 GiB:")
    for row in peak.iter_rows(named=True):
        print(f"  {row['label']:<22s} {row['busbw_gbps']:7.1f} GB/s ({row['algorithm']})")

    # Every algorithm that runs on one H100 node, with the auto-tuner's envelope.
    save(
        cplots.busbw_vs_size("dgx-h100", "all_reduce", 8, algorithms="all"),
        OUT / "collectives_h100_algorithms.html",
    )

    cluster = pm.cluster("dgx-h100", 8)
    grid = cplots.algorithm_map_frame(cluster, "all_reduce")
    save(cplots.algorithm_map(cluster, "all_reduce"), OUT / "collectives_algorithm_map.png")
    print(
        "auto-tuner picks on 8x DGX H100 (count of grid cells):",
        dict(grid.group_by("algorithm").len().sort("algorithm").iter_rows()),
    )

    cmp = pm.nccl_tests.compare(log, "mi300x-pollara-node")
    big = cmp.filter(pl.col("size_bytes") >= 2**20)
    print(
        f"real 8x MI300X log vs model, sizes >= 1 MiB: median |busbw error| {100 * big['busbw_error'].abs().median():.1f}%, "
        f"max {100 * big['busbw_error'].abs().max():.1f}% over {big.height} sizes"
    )
    print(f"charts written to {OUT.resolve()}")


if __name__ == "__main__":
    main()
