"""Disaggregated serving: a prefill pool and a decode pool, the KV cache moved per request between them, as
Splitwise (Patel et al., ISCA 2024) and DistServe (Zhong et al., OSDI 2024) run it; and the search for the best
split of a GPU budget between the pools, side by side with the best co-located plan.

The model (``rust/perfmodel-core/src/serve/disagg.rs`` has the details):

* **Prefill pool**: prefill-only iterations under the pool's scheduler (FCFS, ``max_num_batched_tokens``,
  ``max_num_seqs``, KV blocks). The iteration that ends a prompt emits the first token, and **TTFT ends there**
  (the prompt machine returns the first token in both papers; the transfer shows in the second token).
* **KV transfer**: ``kv_bytes_per_token x prompt`` bytes (every layer, one copy) over the link joining the pools
  (``link``: NVLink inside a node, the NIC between nodes (the slower side's NIC share per GPU when the pools are
  different systems), priced by the collectives engine's send/recv, the same model as
  :func:`perfmodel.collectives.predict`, at the prefill framework's ``comm_bandwidth_scale`` as the iteration
  model's TP and PP collectives are, 1 where the system has no fitted figure), layer by layer overlapped with the prefill's remaining
  layers (``kv_transfer="layerwise"``) or after it (``"serial"``). TP may differ between the pools: KV heads are
  split in contiguous ranges on both sides, and every GPU moves its share at once, so one transfer takes the
  send/recv time of the larger of one prefill GPU's send and one decode GPU's receive.
* **Energy**: each pool's iterations are priced by the same power law as :func:`perfmodel.serve.simulate`
  (:mod:`perfmodel.power`, on the pool's own device; a pool's ``power_cap_w`` slows its iterations as the law
  says); every GPU of both pools draws its idle power over the whole run, busy or not (a pool waiting for work
  is not switched off), and :func:`perfmodel.power.add_run_energy` sums it. The KV transfer's own energy (NICs,
  NVLink) is not counted.
* **Decode pool**: continuous batching of requests whose KV has arrived (admitted FCFS while ``max_num_seqs``
  and the free KV blocks allow, otherwise they wait), preemption by recompute on the decode machine (vLLM's
  default). TPOT, ITL and end-to-end latency come from there; the first inter-token gap holds the exposed
  transfer.

>>> import perfmodel as pm
>>> d = pm.serve.disaggregated("llama3-8b", prefill=pm.serve.Pool("dgx-h100", tp=1, replicas=2),
...                            decode=pm.serve.Pool("dgx-h100", tp=2), rate=4.0, num_requests=100)
>>> d.link, d.requests.height, bool(d.mean_kv_transfer_s > 0)
('nvlink', 100, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from .. import _core, hwdb
from .._api import keyword_options
from .._display import Result
from ..errors import HwdbError, InvalidArgumentError, PerfModelError
from ..power import add_run_energy
from .search import rank_key, ranked
from .simulate import Simulation, check_slo, read_requests, summarize
from .simulate import requests as _poisson_requests

__all__ = ["Pool", "Disaggregation", "SplitSearch", "disaggregated", "split_search"]

#: How the pools may be joined.
LINKS = ("auto", "nvlink", "nic", "ideal")
#: When the KV is sent.
TRANSFERS = ("layerwise", "serial")


@dataclass(frozen=True)
class Pool:
    """One pool of identical serving instances: ``where`` (a system id or spec), each instance ``tp x pp`` GPUs
    (``ep`` for MoE), ``replicas`` instances, optional scheduler limits and ``scheduler_policy`` (the
    framework's defaults otherwise),
    and an optional power limit per GPU, ``power_cap_w`` in watts (above the device's idle power, at most its
    TDP; None: :func:`disaggregated`'s ``power_cap_w``)."""

    where: Any
    tp: int = 1
    pp: int = 1
    replicas: int = 1
    ep: int = 1
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    chunked_prefill: bool | None = None
    gpu_memory_utilization: float | None = None
    power_cap_w: float | None = None
    scheduler_policy: str | None = None

    @property
    def gpus(self) -> int:
        return int(self.tp) * int(self.pp) * int(self.replicas)

    def label(self) -> str:
        plan = f"TP{self.tp}" + (f"xPP{self.pp}" if self.pp != 1 else "")
        sys = self.where.id if isinstance(self.where, hwdb.Spec) else str(self.where)
        return f"{self.replicas} x {plan} on {sys}"


def _pool(name: str, v: Any) -> Pool:
    """A :class:`Pool` from a Pool or a dict of its fields (``system`` is accepted for ``where``)."""
    if isinstance(v, dict):
        d = dict(v)
        if "system" in d and "where" not in d:
            d["where"] = d.pop("system")
        unknown = sorted(set(d) - set(Pool.__dataclass_fields__))
        if unknown:
            raise InvalidArgumentError(
                f"argument `{name}`: unknown field(s) {unknown}; a pool has {sorted(Pool.__dataclass_fields__)}"
            )
        if "where" not in d:
            raise InvalidArgumentError(
                f"argument `{name}`: a pool needs `where` (a system id such as 'dgx-h100')"
            )
        v = Pool(**d)
    if not isinstance(v, Pool):
        raise InvalidArgumentError(
            f"argument `{name}`: expected a pm.serve.Pool or a dict, got {type(v).__name__}"
        )
    for f in ("tp", "pp", "replicas", "ep"):
        x = getattr(v, f)
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
            raise InvalidArgumentError(f"argument `{name}`: {f} is {x!r}; expected a whole number >= 1")
    return v


def _system(name: str, where: Any) -> hwdb.Spec:
    if not isinstance(where, (str, hwdb.Spec)):
        raise InvalidArgumentError(f"argument `{name}`: where is {where!r}; expected a system id or spec")
    return hwdb.resolve(where, "system")


@dataclass(frozen=True)
class Disaggregation(Simulation):
    """A disaggregated run: everything :class:`perfmodel.serve.Simulation` has (``requests`` frame, TTFT/TPOT/
    ITL/E2E means and percentiles, throughput, goodput) plus, per request, ``prefill_replica``, ``replica`` (the
    decode instance; -1 for a one-token request, which never leaves the prefill pool), ``kv_transfer_bytes``,
    ``kv_transfer_s`` (the request's KV alone over the link), ``kv_ready_s`` and ``kv_exposed_s`` (KV arrival
    after the first token); summary: ``mean_/p50_/p90_/p99_kv_transfer_s``, ``mean_kv_exposed_s``,
    ``mean_kv_transfer_bytes``, ``prefill_utilization`` and ``decode_utilization`` (busy time over the run, mean
    over instances), ``link_utilization``, ``prefill_gpus``, ``decode_gpus``, ``gpus``; energy
    (:func:`perfmodel.power.add_run_energy`, both pools): ``energy_j`` (J), ``mean_power_per_gpu_w`` (W, over
    every GPU of both pools), ``peak_power_per_gpu_w``, ``energy_per_output_token_j``, ``energy_per_request_j``,
    ``energy_per_iteration_j``, ``throttled_iterations``, and per pool ``prefill_energy_j``,
    ``prefill_mean_power_per_gpu_w``, ``prefill_peak_power_per_gpu_w``, ``prefill_throttled_iterations`` (and
    ``decode_...``)."""

    prefill: Pool | None = None
    decode: Pool | None = None
    link: str = ""
    kv_transfer: str = ""

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Disaggregation(prefill {self.prefill.label() if self.prefill else '?'}, decode "
            f"{self.decode.label() if self.decode else '?'}, {self.link}: {s['num_requests']:.0f} requests, mean TTFT "
            f"{s['mean_ttft_s'] * 1e3:.1f} ms, mean TPOT {s['mean_tpot_s'] * 1e3:.2f} ms, mean KV transfer "
            f"{s['mean_kv_transfer_s'] * 1e3:.2f} ms, {s['output_tokens_per_s']:,.0f} output tokens/s)"
        )


def _auto_link(pre: Pool, dec: Pool, ps: hwdb.Spec, ds: hwdb.Spec) -> str:
    """NVLink when both pools are one system and all their GPUs fit in one node, else the NIC."""
    if ps.id == ds.id and pre.gpus + dec.gpus <= int(ps["devices_per_node_count"]):
        return "nvlink"
    return "nic"


@keyword_options()
def disaggregated(
    model: Any,
    prefill: Pool | dict[str, Any],
    decode: Pool | dict[str, Any],
    requests: Any = None,
    rate: float | None = None,
    num_requests: int = 1000,
    prompt_tokens: Any = 512,
    output_tokens: Any = 128,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    seed: int = 0,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    link: str = "auto",
    kv_transfer: str = "layerwise",
    max_model_len: int | None = None,
    balancer: str = "round_robin",
    power_cap_w: float | None = None,
) -> Disaggregation:
    """Serves ``requests`` (a frame or CSV/JSONL path) or ``num_requests`` Poisson arrivals at ``rate`` per second
    on a ``prefill`` pool and a ``decode`` pool (:class:`Pool`; the two may be different systems, Splitwise-HA
    style), the KV cache moved per request over ``link``: ``"auto"`` (NVLink when both pools are one system and
    fit in one node, else the NIC), ``"nvlink"``, ``"nic"`` or ``"ideal"`` (no transfer time, a bound), and
    ``kv_transfer`` ``"layerwise"`` (overlapped with the prefill) or ``"serial"``. Both pools run ``framework``'s
    scheduler and figures; each GPU's power is limited to its pool's ``power_cap_w`` (W), or to
    ``power_cap_w`` for a pool without one. Returns a :class:`Disaggregation`: the per-request frame and the
    summaries of :func:`perfmodel.serve.simulate` (energy included), the transfer per request, each pool's
    utilisation and energy."""
    from . import _as_model, _columns, _instance, _trace

    m = _as_model(model)
    pre, dec = _pool("prefill", prefill), _pool("decode", decode)
    ps, ds = _system("prefill", pre.where), _system("decode", dec.where)
    if link not in LINKS:
        raise InvalidArgumentError(f"argument `link`: is {link!r}; expected one of {list(LINKS)}")
    if kv_transfer not in TRANSFERS:
        raise InvalidArgumentError(
            f"argument `kv_transfer`: is {kv_transfer!r}; expected one of {list(TRANSFERS)}"
        )
    trace = _trace(requests, rate, num_requests, prompt_tokens, output_tokens, seed)
    slo_ttft_s, slo_tpot_s = check_slo("slo_ttft_s", slo_ttft_s), check_slo("slo_tpot_s", slo_tpot_s)
    inst = []
    for name, p, spec in (("prefill", pre, ps), ("decode", dec, ds)):
        try:
            inst.append(_instance(m, spec, p.tp, p.pp, p.ep, dtype, kv_dtype, framework, p.max_num_seqs,
                                  p.max_num_batched_tokens, p.chunked_prefill, None, p.gpu_memory_utilization,
                                  max_model_len, power_cap_w if p.power_cap_w is None else p.power_cap_w,
                                  scheduler_policy=p.scheduler_policy))  # fmt: skip
        except HwdbError:
            raise
        except PerfModelError as exc:
            raise type(exc)(f"{name} pool: {exc}") from None
    pools = [
        {"engines": p.replicas * p.pp, "pp": p.pp, "scheduler": i.scheduler}
        for p, i in zip((pre, dec), inst, strict=True)
    ]
    kind = _auto_link(pre, dec, ps, ds) if link == "auto" else link
    raw = _core.serve_disaggregated(inst[0].handle, inst[1].handle, ps._handle, ds._handle, kind, kv_transfer,
                                    *_columns(trace), pools[0], pools[1], str(balancer), True, inst[0].power.handle,
                                    inst[1].power.handle, inst[0].power_cap_w, inst[1].power_cap_w)  # fmt: skip
    return _summarize(raw, trace, slo_ttft_s, slo_tpot_s, pre, dec, kind, kv_transfer)


def _summarize(raw: dict[str, Any], trace: pl.DataFrame, slo_ttft_s: float | None, slo_tpot_s: float | None, pre: Pool,
               dec: Pool, link: str, kv_transfer: str) -> Disaggregation:  # fmt: skip
    sim = summarize(raw, trace, slo_ttft_s, slo_tpot_s)
    moved = trace["output_tokens"].to_numpy() > 1
    exposed = np.where(moved, raw["kv_ready_s"] - raw["first_token_s"], 0.0)
    req = sim.requests.with_columns(
        prefill_replica=raw["prefill_replica"].astype(np.int64),
        kv_transfer_bytes=raw["kv_transfer_bytes"],
        kv_transfer_s=raw["kv_transfer_s"],
        kv_ready_s=raw["kv_ready_s"],
        kv_exposed_s=exposed,
    )
    out = dict(sim.summary)
    t = raw["kv_transfer_s"][moved]
    out["mean_kv_transfer_s"] = float(t.mean()) if t.size else 0.0
    for q, x in zip(
        (50, 90, 99), np.quantile(t, [0.5, 0.9, 0.99]) if t.size else (0.0, 0.0, 0.0), strict=True
    ):
        out[f"p{q}_kv_transfer_s"] = float(x)
    out["mean_kv_exposed_s"] = float(exposed[moved].mean()) if moved.any() else 0.0
    out["mean_kv_transfer_bytes"] = float(raw["kv_transfer_bytes"][moved].mean()) if moved.any() else 0.0
    start = float(trace["arrival_s"].to_numpy().min()) if trace.height else 0.0
    span = max(float(raw["makespan_s"]) - start, 1e-30)
    out["prefill_utilization"] = float(np.mean(raw["prefill_busy_s"]) / span)
    out["decode_utilization"] = float(np.mean(raw["decode_busy_s"]) / span)
    out["link_utilization"] = float(np.mean(raw["link_busy_s"]) / span)
    out["iterations"] = float(raw["prefill_iterations"] + raw["decode_iterations"])
    out["prefill_iterations"] = float(raw["prefill_iterations"])
    out["decode_iterations"] = float(raw["decode_iterations"])
    out["kv_bytes_per_token"] = float(raw["kv_bytes_per_token"])
    out["kv_lane_bytes_per_token"] = float(raw["kv_lane_bytes_per_token"])
    out["prefill_gpus"], out["decode_gpus"] = float(pre.gpus), float(dec.gpus)
    add_run_energy(
        out, raw, [("prefill_", pre.tp * pre.pp, pre.replicas), ("decode_", dec.tp * dec.pp, dec.replicas)]
    )
    return Disaggregation(req, out, pre, dec, str(raw["link"]), kv_transfer)


@dataclass(frozen=True)
class SplitSearch(Result):
    """What :func:`split_search` found. ``compare``: two rows side by side, the best disaggregated split and the
    best co-located plan on the same GPUs and requests, with ``why``; ``splits``: every split simulated (best
    first); ``colocated``: :func:`perfmodel.serve.search`'s frame (or the same enumeration below a node)."""

    compare: pl.DataFrame
    splits: pl.DataFrame
    colocated: pl.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        with pl.Config(tbl_cols=-1, fmt_str_lengths=200, tbl_width_chars=200):
            return f"SplitSearch({self.splits.height} splits)\n{self.compare.select('mode', 'plan', 'meets_slo', 'why')}"


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _tps(m: Any, spec: hwdb.Spec, limit: int) -> list[int]:
    per_node = int(spec["devices_per_node_count"])
    kv = int(m.fields.get("kv_heads", m.heads))
    return [
        t for t in _divisors(per_node) if t <= limit and m.heads % t == 0 and (kv % t == 0 or t % kv == 0)
    ]


def _summary_row(
    s: dict[str, float], percentile: int, slo_ttft_s: float | None, slo_tpot_s: float | None
) -> dict[str, Any]:
    ttft, tpot = s[f"p{percentile}_ttft_s"], s[f"p{percentile}_tpot_s"]
    meets = (slo_ttft_s is None or ttft <= slo_ttft_s) and (slo_tpot_s is None or tpot <= slo_tpot_s)
    return {
        "fits": True,
        "meets_slo": meets,
        f"p{percentile}_ttft_s": ttft,
        f"p{percentile}_tpot_s": tpot,
        **{
            k: s[k]
            for k in (
                "mean_ttft_s",
                "mean_tpot_s",
                "mean_e2e_s",
                "output_tokens_per_s",
                "goodput_requests_per_s",
                "slo_attainment",
                "preemptions",
            )
        },  # fmt: skip
    }


def _why(row: dict[str, Any], percentile: int, slo_ttft_s: float | None, slo_tpot_s: float | None) -> str:
    ttft, tpot = row[f"p{percentile}_ttft_s"], row[f"p{percentile}_tpot_s"]
    parts = [f"p{percentile} TTFT {ttft * 1e3:.0f} ms", f"p{percentile} TPOT {tpot * 1e3:.1f} ms"]
    miss = [
        n
        for n, v, slo in (("TTFT", ttft, slo_ttft_s), ("TPOT", tpot, slo_tpot_s))
        if slo is not None and v > slo
    ]
    parts.append(f"misses the {' and '.join(miss)} SLO" if miss else "meets the SLOs")
    parts.append(f"goodput {row['goodput_requests_per_s']:.2f} req/s")
    if row.get("preemptions"):
        parts.append(f"{row['preemptions']:.0f} preemptions")
    return "; ".join(parts)


@keyword_options()
def split_search(
    model: Any,
    where: Any,
    gpus: int,
    rate: float | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    percentile: int = 90,
    num_requests: int = 1000,
    prompt_tokens: Any = 512,
    output_tokens: Any = 128,
    requests: Any = None,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    prefill_where: Any = None,
    link: str = "auto",
    kv_transfer: str = "layerwise",
    max_tp: int | None = None,
    max_pp: int = 1,
    seed: int = 0,
    objective: str = "goodput",
) -> SplitSearch:
    """The best split of ``gpus`` GPUs of ``where`` (a system id) into a prefill pool and a decode pool (each
    side's TP (dividing a node and the heads, up to ``max_tp``), PP (up to ``max_pp``) and replicas, using every GPU; ``prefill_where`` puts the prefill pool on another system,
    Splitwise-HA style) for a ``rate`` (Poisson, ``num_requests``) or a ``requests`` trace and the TTFT/TPOT SLOs on
    the ``percentile``-th request; every split simulated on the same requests, ranked as
    :func:`perfmodel.serve.search` ranks plans (SLO met, then goodput, then output tokens/s). Returns a
    :class:`SplitSearch` whose ``compare`` frame puts the best split next to the best co-located plan of
    :func:`perfmodel.serve.search` on the same GPUs and requests (when ``gpus`` is not a whole number of nodes,
    the same TP x replicas enumeration is simulated directly). ``objective="max_rate"`` ranks splits and plans by
    the highest rate each holds under the SLOs (:func:`perfmodel.serve.max_rate`, DistServe's measure; ``rate`` not
    needed), in ``max_rate_req_s``."""
    from . import _as_model, _check_fits, memory, search, simulate
    from .max_rate import max_rate

    m = _as_model(model)
    if percentile not in (50, 90, 99):
        raise InvalidArgumentError(f"argument `percentile`: is {percentile!r}; expected 50, 90 or 99")
    if objective not in ("goodput", "max_rate"):
        raise InvalidArgumentError(
            f"argument `objective`: is {objective!r}; expected 'goodput' or 'max_rate'"
        )
    if objective == "max_rate" and slo_ttft_s is None and slo_tpot_s is None:
        raise InvalidArgumentError("objective 'max_rate' needs `slo_ttft_s`, `slo_tpot_s` or both")
    if isinstance(gpus, bool) or not isinstance(gpus, (int, np.integer)) or gpus < 2:
        raise InvalidArgumentError(
            f"argument `gpus`: is {gpus!r}; expected a whole number >= 2 (one GPU per pool at least)"
        )
    gpus = int(gpus)
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 or math.isinf(rate)
    ):
        raise InvalidArgumentError(f"argument `rate`: is {rate!r}; expected requests per second > 0")
    slo_ttft_s, slo_tpot_s = check_slo("slo_ttft_s", slo_ttft_s), check_slo("slo_tpot_s", slo_tpot_s)
    ds = _system("where", where)
    ps = _system("prefill_where", prefill_where) if prefill_where is not None else ds
    trace = read_requests(requests) if requests is not None else _poisson_requests(
        rate if rate is not None else math.inf, num_requests, prompt_tokens, output_tokens, seed)  # fmt: skip
    limit = gpus if max_tp is None else int(max_tp)
    if isinstance(max_pp, bool) or not isinstance(max_pp, (int, np.integer)) or max_pp < 1:
        raise InvalidArgumentError(f"argument `max_pp`: is {max_pp!r}; expected a whole number >= 1")
    pps = [p for p in range(1, int(max_pp) + 1) if p <= m.layers]
    fits: dict[tuple[str, int, int], str | None] = {}
    by_rate = objective == "max_rate"
    traffic: dict[str, Any] = {"requests": requests} if requests is not None else {
        "num_requests": num_requests, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens, "seed": seed}  # fmt: skip

    def fit(spec: hwdb.Spec, tp: int, pp: int = 1) -> str | None:
        key = (spec.id, tp, pp)
        if key not in fits:
            try:
                _check_fits(
                    memory(m, spec, tp=tp, pp=pp, dtype=dtype, kv_dtype=kv_dtype, framework=framework),
                    m,
                    spec.id,
                    tp,
                    pp,
                )
                fits[key] = None
            except PerfModelError as exc:
                fits[key] = str(exc)
        return fits[key]

    rows: list[dict[str, Any]] = []
    shapes_p = [(t, p) for t in _tps(m, ps, limit) for p in pps]
    shapes_d = [(t, p) for t in _tps(m, ds, limit) for p in pps]
    for tp_p, pp_p in shapes_p:
        for tp_d, pp_d in shapes_d:
            for g_p in range(tp_p * pp_p, gpus, tp_p * pp_p):
                g_d = gpus - g_p
                if g_d % (tp_d * pp_d):
                    continue
                pre = Pool(ps, tp=tp_p, pp=pp_p, replicas=g_p // (tp_p * pp_p))
                dec = Pool(ds, tp=tp_d, pp=pp_d, replicas=g_d // (tp_d * pp_d))
                row: dict[str, Any] = {"prefill_tp": tp_p, "prefill_pp": pp_p, "prefill_replicas": pre.replicas,
                                       "prefill_gpus": g_p, "decode_tp": tp_d, "decode_pp": pp_d,
                                       "decode_replicas": dec.replicas, "decode_gpus": g_d}  # fmt: skip
                bad = fit(ps, tp_p, pp_p) or fit(ds, tp_d, pp_d)
                if bad:
                    rows.append(row | {"fits": False, "why": bad})
                    continue
                opts: dict[str, Any] = dict(
                    dtype=dtype, kv_dtype=kv_dtype, framework=framework, link=link, kv_transfer=kv_transfer
                )
                if by_rate:
                    mr = max_rate(m, prefill=pre, decode=dec, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                                  percentile=percentile, **traffic, **opts)  # fmt: skip
                    row |= {"max_rate_req_s": mr.rate_req_s, "beyond_max_rate": mr.why}
                    if mr.simulation is None:
                        rows.append(
                            row
                            | {"fits": True, "meets_slo": False, "why": f"no rate meets the SLOs: {mr.why}"}
                        )
                        continue
                    d = mr.simulation
                else:
                    d = disaggregated(
                        m, pre, dec, requests=trace, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s, **opts
                    )
                s = d.summary
                r = row | _summary_row(s, percentile, slo_ttft_s, slo_tpot_s) | {
                    "link": d.link, "mean_kv_transfer_s": s["mean_kv_transfer_s"], "mean_kv_exposed_s": s["mean_kv_exposed_s"],
                    "prefill_utilization": s["prefill_utilization"], "decode_utilization": s["decode_utilization"],
                }  # fmt: skip
                r["why"] = (
                    _why(r, percentile, slo_ttft_s, slo_tpot_s)
                    + f"; prefill busy {s['prefill_utilization']:.0%}, decode busy {s['decode_utilization']:.0%}"
                )
                if by_rate:
                    r["why"] = f"serves {mr.rate_req_s:.3g} req/s (beyond: {mr.why}); " + r["why"]
                rows.append(r)
    if not rows:
        raise InvalidArgumentError(
            f"argument `gpus`: no split of {gpus} GPUs into TP-sized pools (TP dividing a node and the heads)"
        )
    splits = ranked(rows, objective)

    # Co-located on the same GPUs (of the decode system) and the same requests.
    per_node = int(ds["devices_per_node_count"])
    if gpus % per_node == 0:
        colo = search(m, (ds, gpus // per_node), slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s, percentile=percentile,
                      dtype=dtype, kv_dtype=kv_dtype, framework=framework, max_pp=max_pp, objective=objective,
                      **(traffic if by_rate else {"requests": trace}))  # fmt: skip
    else:
        crow = []
        for tp, pp in shapes_d:
            if gpus % (tp * pp):
                continue
            row = {"tp": tp, "pp": pp, "ep": 1, "replicas": gpus // (tp * pp), "gpus": gpus}
            bad = fit(ds, tp, pp)
            if bad:
                crow.append(row | {"fits": False, "why": bad})
                continue
            copts: dict[str, Any] = dict(dtype=dtype, kv_dtype=kv_dtype, framework=framework)
            if by_rate:
                mr = max_rate(m, ds, tp=tp, pp=pp, replicas=gpus // (tp * pp), slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                              percentile=percentile, **traffic, **copts)  # fmt: skip
                row |= {"max_rate_req_s": mr.rate_req_s, "beyond_max_rate": mr.why}
                if mr.simulation is None:
                    crow.append(
                        row | {"fits": True, "meets_slo": False, "why": f"no rate meets the SLOs: {mr.why}"}
                    )
                    continue
                s = mr.simulation.summary
            else:
                s = simulate(m, ds, tp=tp, pp=pp, replicas=gpus // (tp * pp), requests=trace, slo_ttft_s=slo_ttft_s,
                             slo_tpot_s=slo_tpot_s, **copts).summary  # fmt: skip
            r = row | _summary_row(s, percentile, slo_ttft_s, slo_tpot_s)
            r["why"] = _why(r, percentile, slo_ttft_s, slo_tpot_s)
            crow.append(r)
        colo = ranked(crow, objective)
    return SplitSearch(
        _compare(splits, colo, ps, ds, percentile, slo_ttft_s, slo_tpot_s, objective), splits, colo
    )


def _compare(splits: pl.DataFrame, colo: pl.DataFrame, ps: hwdb.Spec, ds: hwdb.Spec, percentile: int,
             slo_ttft_s: float | None, slo_tpot_s: float | None, objective: str = "goodput") -> pl.DataFrame:  # fmt: skip
    keys = ["meets_slo", f"p{percentile}_ttft_s", f"p{percentile}_tpot_s", "mean_ttft_s", "mean_tpot_s", "mean_e2e_s",
            "output_tokens_per_s", "goodput_requests_per_s", "slo_attainment"]  # fmt: skip
    if objective == "max_rate":
        keys = ["max_rate_req_s", *keys]
    rows = []
    d = splits.row(0, named=True)
    c = colo.row(0, named=True)
    if (
        d.get("fits")
        and d.get("meets_slo") is not None
        and f"p{percentile}_ttft_s" in d
        and d[f"p{percentile}_ttft_s"] is not None
    ):

        def shape(side: str) -> str:
            return f"{d[f'{side}_replicas']} x TP{d[f'{side}_tp']}" + (
                f"xPP{d[f'{side}_pp']}" if d[f"{side}_pp"] != 1 else ""
            )

        plan = f"prefill {shape('prefill')} on {ps.id} + decode {shape('decode')} on {ds.id} over {d['link']}"
        rows.append(
            {"mode": "disaggregated", "plan": plan, "gpus": d["prefill_gpus"] + d["decode_gpus"]}
            | {k: d[k] for k in keys}
        )
    if c.get("fits") and c.get(f"p{percentile}_ttft_s") is not None:
        plan = (
            f"{c['replicas']} x TP{c['tp']}"
            + (f"xPP{c['pp']}" if c.get("pp", 1) != 1 else "")
            + f" on {ds.id}"
        )
        rows.append({"mode": "co-located", "plan": plan, "gpus": c["gpus"]} | {k: c[k] for k in keys})
    if not rows:
        raise PerfModelError(f"no plan fits: {d.get('why')}")
    out = []
    for r in rows:
        why = _why(r, percentile, slo_ttft_s, slo_tpot_s)
        others = [o for o in rows if o is not r]
        if others:
            o = others[0]
            g, og = r["goodput_requests_per_s"], o["goodput_requests_per_s"]
            if objective == "max_rate" and o["max_rate_req_s"] > 0:
                why = (
                    f"serves {r['max_rate_req_s']:.3g} req/s, {r['max_rate_req_s'] / o['max_rate_req_s']:.2f}x the {o['mode']} plan; "
                    + why
                )
            elif r["meets_slo"] != o["meets_slo"]:
                why += (
                    "; the only one of the two that meets the SLOs"
                    if r["meets_slo"]
                    else f"; the {o['mode']} plan meets them"
                )
            elif og > 0:
                why += f"; goodput {g / og:.2f}x the {o['mode']} plan's"
            dt = r[f"p{percentile}_ttft_s"] / max(o[f"p{percentile}_ttft_s"], 1e-30)
            dp = r[f"p{percentile}_tpot_s"] / max(o[f"p{percentile}_tpot_s"], 1e-30)
            why += f"; TTFT {dt:.2f}x, TPOT {dp:.2f}x the {o['mode']} plan's"
        out.append(r | {"why": why})
    return pl.DataFrame(out).sort(rank_key(objective)[1:], descending=True)
