"""Allocation suite: the cheapest GPU mix (``pm.serve.cheapest_mix``) against Mélange's Arena allocations.

Griggs et al., arXiv:2404.14527, Table 3 / Appendix C (``melange_allocation`` rows of
``serving_measurements.csv``): Llama-2-7B on vLLM 0.2.7, the Arena (Chatbot Arena / LMSYS-Chat) workload,
TPOT SLOs of 40 and 120 ms, 1 to 32 requests/s, GPUs L4, A10G, A100-80G and H100 at the paper's prices; for each
the minimum hourly cost of Mélange's mix and of each single-GPU-type allocation, and the mix's saving against
each. Mélange derived them from its own per-GPU profiles; here the capacities come from the serving model and
the same integer program, so every row is a prediction nothing was fitted on (role ``holdout``).

What is not the paper's: the request-length histogram. Mélange's Arena histogram is not published; the
stand-in is the APEX LMSYS-Chat trace packaged with this library (``serving_traces/llama/lmsys_05.csv``, 1,024
requests, mean prompt 62 and output 162 tokens), bucketed with Mélange's 10 x 6 ranges. Mélange's A100-80G is
the PCIe card of Azure NC24ads_A100_v4 (hwdb ``nc24ads-a100-v4``), its H100 an SXM part (``dgx-h100`` at TP 1).
"""

from __future__ import annotations

import csv
import json
from functools import cache
from typing import Any

import polars as pl

from . import frame

#: Mélange's GPU names -> the hwdb systems that price them (one GPU per instance).
SYSTEMS: dict[str, str] = {
    "L4": "g6-l4",
    "A10G": "g5-a10g",
    "A100-80G": "nc24ads-a100-v4",
    "H100": "dgx-h100",
}
#: The stand-in for Mélange's Arena request histogram.
TRACE = "llama/lmsys_05"
MODEL = "llama2-7b"
DTYPE = "fp16"
SLICE_FACTOR = 8


def cases() -> pl.DataFrame:
    """Mélange's Arena allocations as one row per (SLO, rate, solver): ``hourly_cost`` (USD/h), ``saving`` (%,
    the Mélange mix against this single-type solver; null for the mix itself), the paper's allocation and the
    CSV rows."""
    from .serving_cases import CSV_PATH

    out: dict[tuple[float, float, str], dict[str, Any]] = {}
    with open(CSV_PATH, newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            if r["category"] != "melange_allocation" or r["metric"] not in (
                "hourly_cost",
                "melange_cost_saving",
            ):
                continue
            p = json.loads(r["params"])
            key = (float(p["tpot_slo_ms"]), float(p["request_rate_req_s"]), p["solver"])
            row = out.setdefault(key, {"tpot_slo_ms": key[0], "rate_req_s": key[1], "solver": key[2], "hourly_cost": None,
                                       "saving": None, "allocation": json.dumps(p["allocation"], sort_keys=True),
                                       "rows": [], "source": r["source"], "params": r["params"]})  # fmt: skip
            row["rows"].append(i)
            row["hourly_cost" if r["metric"] == "hourly_cost" else "saving"] = float(r["value"])
    return pl.DataFrame(list(out.values())).sort("tpot_slo_ms", "rate_req_s", "solver")


@cache
def predicted(tpot_slo_ms: float, rate_req_s: float) -> Any:
    """perfmodel's cheapest mix for one Mélange setting (cached)."""
    from ..serve.mix import cheapest_mix, trace_requests, workload

    w = workload(trace_requests(TRACE))
    return cheapest_mix(MODEL, list(SYSTEMS.values()), w, rate_req_s, tpot_slo_ms / 1e3, slice_factor=SLICE_FACTOR,
                        dtype=DTYPE, framework="vllm")  # fmt: skip


def comparison() -> pl.DataFrame:
    """Per Mélange row: the paper's and perfmodel's hourly cost and saving (percentage points apart)."""
    rows = []
    for c in cases().iter_rows(named=True):
        r = predicted(c["tpot_slo_ms"], c["rate_req_s"])
        if c["solver"] == "Mélange":
            cost, saving = r.cost_usd_per_h, None
        else:
            gpu = {"A100": "A100-80G"}.get(
                c["solver"].removesuffix("-only"), c["solver"].removesuffix("-only")
            )
            st = r.single_type.filter(pl.col("system") == SYSTEMS[gpu]).row(0, named=True)
            cost, saving = st["cost_usd_per_h"], st["saving"]
        rows.append({**c, "predicted_cost": cost, "predicted_saving": saving,
                     "predicted_allocation": json.dumps({s: n for s, n in zip(r.allocation["system"], r.allocation["instances"], strict=True) if n}, sort_keys=True)})  # fmt: skip
    return pl.DataFrame(rows).with_columns(
        cost_error=(pl.col("predicted_cost") - pl.col("hourly_cost")) / pl.col("hourly_cost"),
        saving_points=pl.col("predicted_saving") - pl.col("saving"),
    )


def run() -> pl.DataFrame:
    out = []
    for c in comparison().iter_rows(named=True):
        params = json.dumps({"tpot_slo_ms": c["tpot_slo_ms"], "rate_req_s": c["rate_req_s"], "solver": c["solver"],
                             "allocation": json.loads(c["allocation"]),
                             "predicted_allocation": json.loads(c["predicted_allocation"]), "workload": TRACE,
                             "rows": c["rows"]}, sort_keys=True)  # fmt: skip
        base = {
            "suite": "allocation",
            "system": c["solver"],
            "params": params,
            "role": "holdout",
            "source": c["source"],
        }
        if c["predicted_cost"] is not None:
            out.append({**base, "group": f"melange_cost_{c['tpot_slo_ms']:g}ms", "operation": "min-cost allocation",
                        "metric": "hourly_cost", "unit": "USD/h", "measured": c["hourly_cost"],
                        "predicted": c["predicted_cost"]})  # fmt: skip
        if c["saving"] is not None and c["predicted_saving"] is not None:
            out.append({**base, "group": f"melange_saving_{c['tpot_slo_ms']:g}ms", "operation": "Mélange saving vs single type",
                        "metric": "melange_cost_saving", "unit": "%", "measured": c["saving"],
                        "predicted": c["predicted_saving"]})  # fmt: skip
    return frame(out)
