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
from .search import ROW_SUMMARY_KEYS, rank_key, ranked
from .simulate import Simulation, check_slo, read_requests, summarize
from .simulate import requests as _poisson_requests

__all__ = ["Pool", "Disaggregation", "SplitSearch", "disaggregated", "split_search"]

#: How the pools may be joined.
LINKS = ("auto", "nvlink", "nic", "ideal")
#: When the KV is sent.
TRANSFERS = ("layerwise", "serial")


@dataclass(frozen=True)
class Pool:
    """One pool of identical serving instances, a side of a disaggregated deployment (:func:`disaggregated`).

    Parameters
    ----------
    where : str or Spec
        The system (an id or spec).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of each instance (default 1 each).
    replicas : int
        Instances in the pool (default 1).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    max_num_seqs, max_num_batched_tokens : int, optional
        Scheduler limits per iteration (sequences, tokens; default: the framework's).
    chunked_prefill : bool, optional
        Split prompts over iterations (default: the framework's).
    gpu_memory_utilization : float, optional
        The fraction of GPU memory the framework takes (default: the framework's).
    power_cap_w : float, optional
        Power limit per GPU, W (above the device's idle power, at most its TDP; None: :func:`disaggregated`'s
        ``power_cap_w``).
    scheduler_policy : str, optional
        ``"max_utilization"`` or ``"guaranteed_no_evict"`` (default: the framework's).

    Attributes
    ----------
    gpus : int
        GPUs of the pool: ``tp x pp x replicas``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pool = pm.serve.Pool("dgx-h100", tp=2, replicas=3)
    >>> pool.gpus, pool.label()
    (6, '3 x TP2 on dgx-h100')
    """

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
        """GPUs of the pool: ``tp x pp x replicas``."""
        return int(self.tp) * int(self.pp) * int(self.replicas)

    def label(self) -> str:
        """The pool in words: ``"<replicas> x TP<tp>[xPP<pp>] on <system>"``."""
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
    """A disaggregated run (:func:`disaggregated`): a :class:`perfmodel.serve.Simulation` plus the KV transfer
    and each pool's utilisation and energy.

    Summary figures read as attributes (``d.mean_kv_transfer_s``, ``d.prefill_utilization``...).

    Attributes
    ----------
    requests : polars.DataFrame
        Everything :class:`~perfmodel.serve.Simulation`'s frame has (``ttft_s``, ``tpot_s``, ``e2e_s``... in
        seconds) plus ``prefill_replica``, ``replica`` (the decode instance; -1 for a one-token request, which
        never leaves the prefill pool), ``kv_transfer_bytes`` (bytes), ``kv_transfer_s`` (the request's KV
        alone over the link, s), ``kv_ready_s`` and ``kv_exposed_s`` (KV arrival after the first token, s).
    summary : dict of str to float
        The summaries of :class:`~perfmodel.serve.Simulation` (TTFT/TPOT/ITL/E2E means and percentiles in s,
        throughput, goodput) plus ``mean_/p50_/p90_/p99_kv_transfer_s``, ``mean_kv_exposed_s`` (s),
        ``mean_kv_transfer_bytes``, ``kv_bytes_per_token`` (bytes), ``prefill_utilization``,
        ``decode_utilization`` (busy time over the run, mean over instances) and ``link_utilization``
        (fractions), ``prefill_iterations``, ``decode_iterations``, ``prefill_gpus``, ``decode_gpus``,
        ``gpus``; energy (:func:`perfmodel.power.add_run_energy`, both pools): ``energy_j`` (J),
        ``mean_power_per_gpu_w`` (W, over every GPU of both pools), ``peak_power_per_gpu_w`` (W),
        ``energy_per_output_token_j``, ``energy_per_request_j``, ``energy_per_iteration_j`` (J),
        ``throttled_iterations``, and per pool ``prefill_energy_j``, ``prefill_mean_power_per_gpu_w``,
        ``prefill_peak_power_per_gpu_w``, ``prefill_throttled_iterations`` (and ``decode_...``).
    prefill, decode : Pool
        The pools.
    link : str
        The link the KV moved over: ``"nvlink"``, ``"nic"`` or ``"ideal"``.
    kv_transfer : str
        ``"layerwise"`` or ``"serial"``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> d = pm.serve.disaggregated("llama3-8b", prefill=pm.serve.Pool("dgx-h100", replicas=2),
    ...                            decode=pm.serve.Pool("dgx-h100", tp=2), rate=4.0, num_requests=100)
    >>> d.link, f"{d.mean_kv_transfer_s * 1e3:.2f} ms", f"{d.mean_kv_transfer_bytes / 2**20:.0f} MiB"
    ('nvlink', '1.05 ms', '64 MiB')
    """

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
    """Serve requests on a prefill pool and a decode pool, the KV cache moved per request between them
    (Splitwise, DistServe).

    Requests are ``requests`` (a frame or CSV/JSONL path) or ``num_requests`` Poisson arrivals at ``rate`` per
    second, on a ``prefill`` pool and a ``decode`` pool (:class:`Pool`; the two may be different systems,
    Splitwise-HA style). Both pools run ``framework``'s scheduler and figures; the model is in the module
    docstring.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    prefill, decode : Pool or dict
        The pools (a dict of :class:`Pool`'s fields is accepted; ``system`` for ``where``).
    requests : polars.DataFrame or str, optional
        A trace (give this or ``rate``).
    rate : float, optional
        Poisson arrivals, requests per second.
    num_requests : int
        Requests drawn with ``rate`` (default 1000).
    prompt_tokens, output_tokens : int or tuple
        Lengths, tokens, as :func:`perfmodel.serve.requests` takes them (default 512 and 128).
    dtype, kv_dtype, framework : str
        As :func:`perfmodel.serve.simulate` takes them (defaults ``"bf16"``, 16-bit, ``"vllm"``).
    seed : int
        Seed of the Poisson draws (default 0).
    slo_ttft_s, slo_tpot_s : float, optional
        SLOs on time to first token and time per output token, seconds.
    link : str
        ``"auto"`` (default: NVLink when both pools are one system and fit in one node, else the NIC),
        ``"nvlink"``, ``"nic"`` or ``"ideal"`` (no transfer time, a bound).
    kv_transfer : str
        ``"layerwise"`` (overlapped with the prefill, default) or ``"serial"``.
    max_model_len : int, optional
        The longest request, tokens (default: the model's ``seq_len``).
    balancer : str
        How requests are spread over instances (default ``"round_robin"``).
    power_cap_w : float, optional
        Power limit per GPU, W, for a pool without its own ``power_cap_w``.

    Returns
    -------
    Disaggregation
        The per-request frame and the summaries of :func:`perfmodel.serve.simulate` (energy included), the
        transfer per request, each pool's utilisation and energy (attributes in :class:`Disaggregation`).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A bad pool, link or transfer mode, or both or neither of ``requests`` and ``rate``.
    perfmodel.ModelError
        A pool's instance does not fit in GPU memory (naming the pool).

    Examples
    --------
    >>> import perfmodel as pm
    >>> d = pm.serve.disaggregated("llama3-8b", prefill={"where": "dgx-h100"}, decode={"where": "dgx-h100"},
    ...                            rate=4.0, num_requests=100, link="nic")
    >>> d.link, f"{d.mean_kv_transfer_s * 1e3:.2f} ms", d.requests.height
    ('nic', '2.60 ms', 100)
    """
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
    """What :func:`split_search` found: the best disaggregated split next to the best co-located plan.

    Attributes
    ----------
    compare : polars.DataFrame
        Two rows side by side, the best disaggregated split and the best co-located plan on the same GPUs and
        requests: ``mode``, ``plan``, ``gpus``, ``meets_slo``, the ``p{percentile}_`` TTFT and TPOT,
        ``mean_ttft_s``, ``mean_tpot_s``, ``mean_e2e_s`` (seconds), ``output_tokens_per_s``,
        ``goodput_requests_per_s``, ``slo_attainment`` (fraction) and ``why``.
    splits : polars.DataFrame
        Every split simulated, best first: ``prefill_tp``, ``prefill_pp``, ``prefill_replicas``,
        ``prefill_gpus`` and the ``decode_`` ones, ``fits``, ``meets_slo``, the latencies (s), throughput,
        goodput, ``preemptions``, ``link``, ``mean_kv_transfer_s``, ``mean_kv_exposed_s`` (s),
        ``prefill_utilization``, ``decode_utilization`` (fractions) and ``why``.
    colocated : polars.DataFrame
        :func:`perfmodel.serve.search`'s frame (or the same enumeration below a node).

    Examples
    --------
    >>> import perfmodel as pm
    >>> s = pm.serve.split_search("llama3-8b", "dgx-h100", 4, rate=8.0, slo_ttft_s=0.5, slo_tpot_s=0.05,
    ...                           num_requests=200)
    >>> s.compare["mode"].to_list(), s.splits.height
    (['co-located', 'disaggregated'], 6)
    """

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
        **{k: s[k] for k in ROW_SUMMARY_KEYS},
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
    """The best split of ``gpus`` GPUs into a prefill pool and a decode pool, compared with the best
    co-located plan.

    Each side's TP (dividing a node and the heads, up to ``max_tp``), PP (up to ``max_pp``) and replicas,
    using every GPU; ``prefill_where`` puts the prefill pool on another system, Splitwise-HA style. Every
    split is simulated on the same requests and ranked as :func:`perfmodel.serve.search` ranks plans (SLO met,
    then goodput, then output tokens/s). ``objective="max_rate"`` ranks splits and plans by the highest rate
    each holds under the SLOs (:func:`perfmodel.serve.max_rate`, DistServe's measure; ``rate`` not needed), in
    ``max_rate_req_s``.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    where : str or Spec
        The system (an id or spec).
    gpus : int
        GPUs to split, at least 2 (one per pool).
    rate : float, optional
        Poisson arrivals, requests per second.
    slo_ttft_s, slo_tpot_s : float, optional
        SLOs on time to first token and time per output token, seconds.
    percentile : int
        The percentile the SLOs apply to: 50, 90 (default) or 99.
    num_requests : int
        Requests drawn (default 1000).
    prompt_tokens, output_tokens : int or tuple
        Lengths, tokens, as :func:`perfmodel.serve.requests` takes them (default 512 and 128).
    requests : polars.DataFrame or str, optional
        A trace instead of Poisson arrivals.
    dtype, kv_dtype, framework : str
        As :func:`perfmodel.serve.simulate` takes them.
    prefill_where : str or Spec, optional
        Another system for the prefill pool (default ``where``).
    link, kv_transfer : str
        As :func:`disaggregated` takes them.
    max_tp : int, optional
        The largest TP degree tried per pool (default: ``gpus``; TP always divides a node's GPUs).
    max_pp : int
        The largest PP degree tried per pool (default 1).
    seed : int
        Seed of the Poisson draws (default 0).
    objective : str
        ``"goodput"`` (default) or ``"max_rate"``.

    Returns
    -------
    SplitSearch
        ``compare`` (best split vs best co-located plan, with ``why``), ``splits`` (every split, best first)
        and ``colocated``; latencies in seconds, throughputs per second.

    Raises
    ------
    perfmodel.InvalidArgumentError
        Fewer than 2 GPUs, a percentile other than 50, 90, 99, an unknown objective or ``max_rate`` without an
        SLO.

    Examples
    --------
    >>> import perfmodel as pm
    >>> s = pm.serve.split_search("llama3-8b", "dgx-h100", 4, rate=8.0, slo_ttft_s=0.5, slo_tpot_s=0.05,
    ...                           num_requests=200)
    >>> s.compare["plan"].to_list()
    ['1 x TP4 on dgx-h100', 'prefill 1 x TP2 on dgx-h100 + decode 1 x TP2 on dgx-h100 over nvlink']
    >>> s.splits.select("prefill_tp", "prefill_replicas", "decode_tp", "decode_replicas").row(0)
    (2, 1, 2, 1)
    """
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
