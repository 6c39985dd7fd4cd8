"""Validation of the collectives model against the published measurements (categories ``collectives`` and
``interconnect_p2p`` of ``perfmodel/data/published_measurements.csv``).

Calibration protocol (one calibration per fabric or NIC, never per row): for each single-node nccl-tests /
rccl-tests sweep (8x A100 NVLink3, 8x H100 NVLink4 NVLS, 8x MI300X xGMI) the rows whose message size is an
*even* power of two (4^k bytes) are the ``fit`` rows: :func:`fit_frame` turns them into a log and
:func:`perfmodel.nccl_tests.calibrate` fits the fabric's bandwidth fraction (NVLS fraction for NVLink4),
per-step latency and launch cost; the values are stored in ``hwdb/fabrics/*.toml`` with ``fitted_on``. Every
other row (odd powers of two, other sources, other systems, multi-node) is ``holdout``. NIC fractions come
from maintainers' per-NIC statements (rows noted ``fit``). Rows left out: measured busbw of 0 (no relative
error), metrics that are ranges or unclear (``busbw_range_*``, ``secondary_unclear_metric``), systems without
an hwdb entry (B200, H800, PCIe pairs) and host-device copies.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import polars as pl

from . import frame, published, published_row

#: system text in the published table -> (hwdb system, fabric or nic substitutions)
SWEEPS: dict[str, tuple[str, str]] = {
    "Azure ND A100 v4 (8x A100 SXM4 80GB, NVLink3/NVSwitch)": ("dgx-a100", "auto"),
    "Azure ND H100 v5 (8x H100 SXM 80GB, NVLink4/NVSwitch)": ("dgx-h100", "auto"),
    "8x AMD MI300X (single node, xGMI fully connected)": ("mi300x-pollara-node", "auto"),
}


def _is_fit_size(nbytes: float) -> bool:
    k = math.log2(nbytes)
    return k == int(k) and int(k) % 2 == 0


def _sweep_rows(pub: pl.DataFrame) -> list[dict[str, Any]]:
    return [r for r in pub.iter_rows(named=True) if r["system"] in SWEEPS and r["metric"] == "busbw" and (r["value"] or 0) > 0]


def fit_frame(system: str) -> pl.DataFrame:
    """The fit rows of one sweep as an nccl-tests log frame (time from busbw: ``t = S * factor / busbw``)."""
    from ..collectives import busbw_factor

    rows = []
    for r in _sweep_rows(published()):
        if r["system"] != system:
            continue
        p = json.loads(r["params"])
        n = float(p["msg_bytes"])
        if not _is_fit_size(n):
            continue
        t_us = n * busbw_factor(r["operation"], p["gpus"]) / (r["value"] * 1e9) * 1e6
        rows.append({"size_bytes": int(n), "time_us": t_us, "busbw_gbps": r["value"], "placement": "out-of-place"})
    return pl.DataFrame(rows).with_columns(op=pl.lit("all_reduce"), nranks=pl.lit(8, dtype=pl.Int64))


def _predict_busbw(where: Any, op: str, nbytes: float, nranks: int, algorithm: str = "auto") -> float:
    from ..collectives import predict

    return float(predict(where, op, nbytes, nranks, algorithm)["busbw_gbps"][0])


def run() -> pl.DataFrame:
    from ..cluster import cluster
    from ..hwdb import get

    pub = published()
    out: list[dict[str, Any]] = []

    def add(r: dict[str, Any], group: str, predicted: float, role: str) -> None:
        out.append(
            published_row("collectives", group, r, predicted, role)
        )

    for r in _sweep_rows(pub):
        sysid, algo = SWEEPS[r["system"]]
        p = json.loads(r["params"])
        n = float(p["msg_bytes"])
        size_class = ">=1MiB" if n >= 2**20 else "<1MiB"
        add(r, f"{sysid} all_reduce {size_class}", _predict_busbw(sysid, "all_reduce", n, int(p["gpus"]), algo), "fit" if _is_fit_size(n) else "holdout")

    roce = cluster("dgx-h100", 2, specs={"nic": "cx7-roce400"})
    for r in pub.iter_rows(named=True):
        s, op, metric, v = r["system"], r["operation"], r["metric"], r["value"]
        p = json.loads(r["params"]) if r["params"] else {}
        if v is None or v <= 0:
            continue
        if s.startswith("8x H100 (NVLink4/NVSwitch)") and metric == "busbw_peak_expected":
            algo = "nvls" if "NVLS" in op else "ring"
            add(r, "dgx-h100 all_reduce >=1MiB", _predict_busbw("dgx-h100", "all_reduce", 2**33, 8, algo), "holdout")
        elif s.startswith("8x H100 (NVLink4/NVSwitch)") and metric == "algbw_peak_expected":
            pred = float(pm_predict("dgx-h100", "all_reduce", 2**33, 8, "nvls")["algbw_gbps"][0])
            add(r, "dgx-h100 all_reduce >=1MiB", pred, "holdout")
        elif s == "8x H100 node (NVLink4)" and metric == "busbw":
            add(r, "dgx-h100 all_reduce >=1MiB", _predict_busbw("dgx-h100", "all_reduce", p["msg_bytes"], 8), "holdout")
        elif s == "8x H200 (NVLink4)" and metric == "busbw_peak":
            add(r, "hgx-h200 all_reduce >=1MiB", _predict_busbw("hgx-h200", "all_reduce", 2**32, 8), "holdout")
        elif s in ("8x A100 node (NVLink3)", "8x A100 SXM4 (NVLink3, NV12)") and metric == "busbw":
            add(r, "dgx-a100 all_reduce >=1MiB", _predict_busbw("dgx-a100", "all_reduce", 2**33, 8), "holdout")
        elif s.startswith("HPE Apollo 6500") and metric == "busbw_approx":
            add(r, "dgx-a100 all_reduce >=1MiB", _predict_busbw("dgx-a100", "all_reduce", 2**30, 8), "holdout")
        elif s == "8x AMD MI300X node" and metric == "busbw":
            add(r, "mi300x all_reduce >=1MiB", _predict_busbw("mi300x-pollara-node", "all_reduce", p["msg_bytes"], p["gpus"]), "holdout")
        elif s.startswith("2 nodes x 8x H100 SXM, 8x400G RoCEv2 (reported") and metric == "busbw":
            opname = {"alltoall": "all_to_all"}.get(op, op)
            add(r, "2x dgx-h100 roce multi-node", _predict_busbw(roce, opname, p["msg_bytes"], 16), "holdout")
        elif s.startswith("32 nodes x 8 H100") and metric == "busbw_approx":
            add(r, "32x dgx-h100 multi-node", _predict_busbw(cluster("dgx-h100", 32), "all_gather", 2**31, 256), "holdout")
        elif s == "ConnectX-7 NDR 400 Gb/s" and metric == "bw":
            nic = get("cx7-ndr400")
            add(r, "nic per-NIC bandwidth", nic["line_rate_gbit_per_s"] / 8 * nic["efficiency.bandwidth_fraction"], "fit")
        elif s == "200 Gb/s HDR InfiniBand NIC" and metric == "busbw_per_nic":
            nic = get("cx6-hdr200")
            add(r, "nic per-NIC bandwidth", nic["line_rate_gbit_per_s"] / 8 * nic["efficiency.bandwidth_fraction"], "fit")
        elif s == "8x AMD MI300X (single node)" and metric in ("avg_link_bw", "per_gpu_aggregate_bw"):
            f = get("mi300x-xgmi-mesh")
            link = f["link_bandwidth_per_direction_gbps"] * f["efficiency.bandwidth_fraction"]
            add(r, "mi300x xgmi links", link if metric == "avg_link_bw" else link * 7, "holdout")
    return frame(out)


def pm_predict(*args: Any) -> pl.DataFrame:
    from ..collectives import predict

    return predict(*args)


def summary_by_size(rows: pl.DataFrame) -> pl.DataFrame:
    """Median and max |error| by size class (from the group name) and role."""
    return (
        rows.with_columns(
            size_class=pl.when(pl.col("group").str.contains("<1MiB")).then(pl.lit("<1MiB")).otherwise(pl.lit(">=1MiB")),
            abs_error=pl.col("error").abs(),
        )
        .group_by("size_class", "role")
        .agg(rows=pl.len(), median_abs_error=pl.col("abs_error").median(), max_abs_error=pl.col("abs_error").max())
        .sort("size_class", "role")
    )


def _unused(_: np.ndarray) -> None:  # keep numpy import meaningful for type checkers
    return None
