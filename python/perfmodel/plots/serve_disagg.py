"""Charts of disaggregated serving: TTFT and TPOT against request rate for co-located plans and prefill/decode
splits on the same requests, drawn by :func:`perfmodel.plots.serve.latency_vs_rate` (one line per plan).

>>> import perfmodel as pm
>>> from perfmodel.plots import serve_disagg as sd
>>> f = sd.disagg_sweep("llama3-8b", {"co-located TP1 x 2": {"where": "dgx-h100", "tp": 1, "replicas": 2}},
...                     {"1 P + 1 D": {"prefill": pm.serve.Pool("dgx-h100"), "decode": pm.serve.Pool("dgx-h100")}},
...                     [1.0, 2.0], num_requests=40)
>>> sorted(f["plan"].unique().to_list()), f.height
(['1 P + 1 D', 'co-located TP1 x 2'], 4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from .. import serve
from ..errors import InvalidArgumentError
from .serve import SWEEP_COLUMNS, latency_vs_rate

__all__ = ["disagg_sweep", "latency_vs_rate"]


def disagg_sweep(
    model: Any,
    colocated: Mapping[str, Mapping[str, Any]],
    disaggregated: Mapping[str, Mapping[str, Any]],
    rates: Sequence[float],
    **kw: Any,
) -> pl.DataFrame:
    """One simulation per plan and rate on the same seeded requests: ``colocated`` maps a label to
    :func:`perfmodel.serve.simulate` arguments (with ``where``), ``disaggregated`` a label to
    :func:`perfmodel.serve.disaggregated` arguments (``prefill``, ``decode``, optionally ``link``); ``kw`` goes to
    every call (lengths, ``num_requests``, SLOs, seed). Returns ``mode``, ``plan``, ``rate``, ``gpus``,
    :data:`perfmodel.plots.serve.SWEEP_COLUMNS` and, for splits, the mean KV transfer time alone and exposed
    after the first token (seconds) and each pool's utilisation."""
    rows = []
    for label, args in colocated.items():
        a = dict(args)
        if "where" not in a:
            raise InvalidArgumentError(f"argument `colocated`: plan {label!r} needs `where` (a system id)")
        gpus = a.get("tp", 1) * a.get("pp", 1) * a.get("replicas", 1)
        for r in rates:
            rest = {k: v for k, v in a.items() if k != "where"}
            s = serve.simulate(model, a["where"], rate=float(r), **{**kw, **rest}).summary
            rows.append(
                {"mode": "co-located", "plan": label, "rate": float(r), "gpus": gpus}
                | {c: s[c] for c in SWEEP_COLUMNS}
            )
    for label, args in disaggregated.items():
        for r in rates:
            d = serve.disaggregated(model, rate=float(r), **{**kw, **args})
            s = d.summary
            rows.append(
                {"mode": "disaggregated", "plan": label, "rate": float(r), "gpus": int(s["gpus"])}
                | {c: s[c] for c in SWEEP_COLUMNS}
                | {
                    "mean_kv_exposed_s": s["mean_kv_exposed_s"],
                    "mean_kv_transfer_s": s["mean_kv_transfer_s"],
                    "prefill_utilization": s["prefill_utilization"],
                    "decode_utilization": s["decode_utilization"],
                }  # fmt: skip
            )
    return pl.DataFrame(rows, infer_schema_length=None)
