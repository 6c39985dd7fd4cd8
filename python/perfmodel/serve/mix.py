"""The cheapest GPU mix for a serving workload: Mélange's cost-aware bin packing on the serving model.

Griggs et al., "Mélange: Cost Efficient Large Language Model Serving by Exploiting GPU Heterogeneity",
arXiv:2404.14527, Section 5: the workload is a histogram of requests over (prompt, output) length buckets at a
total rate; each GPU type has a capacity per bucket (the largest request rate one instance serves under the
TPOT SLO); each bucket is cut into ``slice_factor`` equal slices, every slice goes whole to one GPU type, and the
integer program chooses the slices' types and the instance counts that minimise the hourly cost:

    minimise  sum_g price_g n_g
    s.t.      sum_g x_sg = 1                       for every slice s   (x_sg binary)
              sum_s x_sg rate_s / cap_b(s),g <= n_g  for every type g    (n_g integer >= 0)

Mélange measures ``cap`` on each GPU; here it comes from the serving model (:func:`capacity`), so a GPU that
nobody has profiled is priced the same way as one that has. The program is solved with HiGHS through
``scipy.optimize.milp``.

>>> import perfmodel as pm
>>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
>>> r = pm.serve.cheapest_mix("llama2-7b", ["g6-l4", "g5-a10g"], w, rate=4.0, tpot_slo_s=0.12, dtype="fp16")
>>> r.cost_usd_per_h > 0
True
"""

from __future__ import annotations

import difflib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .. import hwdb
from .._api import keyword_options
from .._display import Result
from ..errors import InvalidArgumentError, PerfModelError
from . import _as_model, _system_and_nodes, _whole, iteration, memory
from .frameworks import framework_defaults
from .simulate import read_requests

__all__ = [
    "INPUT_EDGES",
    "OUTPUT_EDGES",
    "NoAllocationError",
    "Workload",
    "MixResult",
    "workload",
    "trace_requests",
    "capacity",
    "cheapest_mix",
    "price",
]

#: Prompt-length bucket edges, tokens (Mélange's ranges 1-25, 25-100, 100-250, ... doubling from 250; ten
#: buckets as the paper's Arena evaluation uses; melange-release README and Appendix C).
INPUT_EDGES: tuple[int, ...] = (1, 25, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000)
#: Output-length bucket edges, tokens (six buckets).
OUTPUT_EDGES: tuple[int, ...] = (1, 25, 100, 250, 500, 1000, 2000)


class NoAllocationError(PerfModelError, ValueError):
    """No GPU type can serve some bucket of the workload under the SLO (the message names the bucket and why).

    A :class:`perfmodel.PerfModelError` and a :class:`ValueError`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
    >>> try:
    ...     pm.serve.cheapest_mix("llama2-7b", ["g6-l4"], w, rate=4.0, tpot_slo_s=0.01, dtype="fp16")
    ... except pm.serve.mix.NoAllocationError as err:
    ...     print(str(err).split(": ", 1)[1])
    g6-l4: TPOT at batch 1 is 56.7 ms > SLO 10 ms
    """


@dataclass(frozen=True)
class Workload:
    """A request-length histogram (:func:`workload`): the input of :func:`capacity` and :func:`cheapest_mix`.

    Attributes
    ----------
    buckets : polars.DataFrame
        One row per non-empty bucket: ``prompt_lo``/``prompt_hi`` and ``output_lo``/``output_hi`` (token
        ranges, lower edge included), ``share`` (fraction of requests, summing to 1) and the bucket's
        representative request ``prompt_tokens``/``output_tokens`` (the mean of its requests, tokens).

    Examples
    --------
    >>> import polars as pl
    >>> import perfmodel as pm
    >>> w = pm.serve.mix.workload(pl.DataFrame({"prompt_tokens": [10, 20, 300], "output_tokens": [50, 60, 500]}))
    >>> len(w), w.buckets["share"].round(3).to_list()
    (2, [0.667, 0.333])
    """

    buckets: pl.DataFrame

    def __len__(self) -> int:
        return self.buckets.height


def trace_requests(name_or_path: str) -> pl.DataFrame:
    """A packaged request trace or a CSV/JSONL file, as the input of :func:`workload`.

    Parameters
    ----------
    name_or_path : str
        A packaged trace (``lmsys_05``, ``creation_025``, ... under ``llama/`` or ``mistral/``; a bare name is
        looked up under ``llama/``) or the path of a CSV/JSONL file.

    Returns
    -------
    polars.DataFrame
        One row per request with ``prompt_tokens`` and ``output_tokens`` (and ``arrival_s`` where the trace
        has it, seconds).

    Examples
    --------
    >>> import perfmodel as pm
    >>> t = pm.serve.mix.trace_requests("lmsys_05")
    >>> t.height, t.columns
    (1024, ['arrival_s', 'prompt_tokens', 'output_tokens'])
    """
    from pathlib import Path

    from ..validation.serving_cases import load_trace

    if Path(name_or_path).is_file():
        return read_requests(name_or_path)
    return load_trace(name_or_path if "/" in str(name_or_path) else f"llama/{name_or_path}")


def _edges(name: str, edges: Any) -> np.ndarray:
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or e[0] < 1 or np.any(np.diff(e) <= 0):
        raise InvalidArgumentError(
            f"argument `{name}`: is {edges!r}; expected at least two increasing token counts >= 1"
        )
    return e


def workload(requests: Any, input_edges: Any = INPUT_EDGES, output_edges: Any = OUTPUT_EDGES) -> Workload:
    """The histogram of a request trace over prompt x output length buckets.

    Parameters
    ----------
    requests : polars.DataFrame or str
        A frame, or a CSV/JSONL path, with ``prompt_tokens`` and ``output_tokens`` (other columns ignored).
    input_edges : sequence of int
        Prompt-length bucket edges, tokens, increasing, >= 1 (default :data:`INPUT_EDGES`, Mélange's; the last
        edge closes the last bucket).
    output_edges : sequence of int
        Output-length bucket edges, tokens (default :data:`OUTPUT_EDGES`).

    Returns
    -------
    Workload
        ``buckets``: one row per non-empty bucket with its token ranges, ``share`` (fraction) and mean
        request.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A missing column, an empty trace, bad edges, or a request outside the edges (naming its row).

    Examples
    --------
    >>> import polars as pl
    >>> import perfmodel as pm
    >>> trace = pl.DataFrame({"prompt_tokens": [10, 20, 300, 400], "output_tokens": [50, 60, 500, 600]})
    >>> pm.serve.mix.workload(trace).buckets.select("prompt_lo", "prompt_hi", "share", "prompt_tokens").rows()
    [(1, 25, 0.5, 15.0), (250, 500, 0.5, 350.0)]
    """
    frame = requests if isinstance(requests, pl.DataFrame) else read_requests(requests)
    for col in ("prompt_tokens", "output_tokens"):
        if col not in frame.columns:
            raise InvalidArgumentError(
                f"argument `requests`: has no `{col}` column; columns are {frame.columns}"
            )
    ie, oe = _edges("input_edges", input_edges), _edges("output_edges", output_edges)
    p = frame["prompt_tokens"].to_numpy().astype(float)
    o = frame["output_tokens"].to_numpy().astype(float)
    for col, x, e in (("prompt_tokens", p, ie), ("output_tokens", o, oe)):
        bad = np.flatnonzero(~np.isfinite(x) | (x < e[0]) | (x > e[-1]))
        if bad.size:
            raise InvalidArgumentError(
                f"argument `requests`: row {int(bad[0])} has {col} = {x[bad[0]]:g}; expected {e[0]:g} to {e[-1]:g} "
                f"(the bucket edges)"
            )
    if p.size == 0:
        raise InvalidArgumentError("argument `requests`: is empty; expected at least one request")
    i = np.clip(np.searchsorted(ie, p, side="right") - 1, 0, ie.size - 2)
    j = np.clip(np.searchsorted(oe, o, side="right") - 1, 0, oe.size - 2)
    rows = []
    for bi in range(ie.size - 1):
        for bj in range(oe.size - 1):
            m = (i == bi) & (j == bj)
            if m.any():
                rows.append({"prompt_lo": int(ie[bi]), "prompt_hi": int(ie[bi + 1]), "output_lo": int(oe[bj]),
                             "output_hi": int(oe[bj + 1]), "share": float(m.sum() / p.size),
                             "prompt_tokens": float(p[m].mean()), "output_tokens": float(o[m].mean())})  # fmt: skip
    return Workload(pl.DataFrame(rows))


def price(system: str, prices: dict[str, float] | None = None) -> float:
    """Hourly on-demand price of one GPU of ``system``, US dollars.

    Parameters
    ----------
    system : str
        A system or device id.
    prices : dict of str to float, optional
        USD per GPU-hour by system or device id, looked up first.

    Returns
    -------
    float
        USD per GPU-hour: from ``prices``, else the device's hwdb ``[price]``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A price that is not > 0, or a device without a price in hwdb or ``prices``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.serve.mix.price("g6-l4"), pm.serve.mix.price("dgx-h100", {"h100-sxm5-80gb": 2.5})
    (0.7, 2.5)
    """
    spec = hwdb.get(system)
    device = spec.id if spec.kind == "device" else spec["device"]
    for key in (system, device):
        if prices and key in prices:
            v = prices[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InvalidArgumentError(
                    f"argument `prices`: '{key}' is {v!r}; expected a price > 0 in USD per hour"
                )
            return float(v)
    p = hwdb.get(device).to_dict().get("price")
    if not p:
        raise InvalidArgumentError(
            f"argument `gpus`: device '{device}' (of '{system}') has no [price] in hwdb; give one with "
            f"prices={{'{device}': usd_per_hour}}"
        )
    return float(p["on_demand_usd_per_h"])


def _check_rate(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise InvalidArgumentError(f"argument `{name}`: is {v!r}; expected a finite number > 0")
    return float(v)


@keyword_options()
def capacity(
    model: Any,
    system: str,
    work: Workload,
    tpot_slo_s: float,
    ttft_slo_s: float | None = None,
    tp: int = 1,
    dtype: str = "bf16",
    framework: str = "vllm",
    max_num_seqs: int | None = None,
) -> pl.DataFrame:
    """Per bucket of ``work``, the largest request rate one ``tp``-GPU instance of ``system`` serves within
    the SLOs, requests/s.

    The rate is the steady state of continuous batching with the mean time per output token within
    ``tpot_slo_s`` (and, if given, a time to first token within ``ttft_slo_s``). Whole prompts are prefilled
    first, as vLLM before chunked prefill: with ``B`` sequences decoding at once, every request's prefill
    ``t_pf(I)`` interrupts all of them once, so over a request's ``O`` output tokens each sequence waits ``B
    t_pf(I) / O`` of prefill per token on top of the decode iteration ``t_dec(B, I + O/2)`` (mean context).
    Hence ``TPOT(B) = t_dec(B) + B t_pf(I)/O``, and Little's law gives the rate ``B / (O TPOT(B))``. The
    capacity is its maximum over ``B`` up to ``max_num_seqs`` whose KV cache fits ``B (I + O)`` tokens (each
    running sequence grows to its whole length; the paged scheduler admits while blocks last and preempts
    growing sequences when they run out, so the simulator saturates near this bound rather than at the mean
    occupancy ``I + O/2``). The time to first token is taken as ``t_pf(I) + t_dec(B)`` (a prompt waits for the
    running iteration).

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    system : str
        The system (an id).
    work : Workload
        The request histogram (:func:`workload`).
    tpot_slo_s : float
        SLO on the mean time per output token, seconds (> 0).
    ttft_slo_s : float, optional
        SLO on the time to first token, seconds.
    tp : int
        GPUs per instance (default 1).
    dtype : str
        Weights' dtype (default ``"bf16"``).
    framework : str
        Serving framework class (default ``"vllm"``).
    max_num_seqs : int, optional
        The largest batch (default: the framework's).

    Returns
    -------
    polars.DataFrame
        The buckets of ``work`` with ``max_rate_req_s`` (requests/s; 0 when even one request misses the SLO),
        ``batch`` (the batch that reaches it), ``tpot_s`` and ``ttft_s`` (seconds, at that batch),
        ``limited_by`` (``tpot_slo``, ``ttft_slo``, ``kv_cache``, ``max_num_seqs``, ``peak``: larger batches
        serve fewer requests/s; ``memory`` when the weights do not fit) and ``why``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        An SLO that is not a finite number > 0, or a bad ``tp`` or ``max_num_seqs``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
    >>> cap = pm.serve.mix.capacity("llama2-7b", "g6-l4", w, tpot_slo_s=0.12, dtype="fp16")
    >>> cap.select("prompt_lo", "output_lo", "batch", "limited_by").head(3).rows()
    [(1, 1, 15, 'tpot_slo'), (1, 25, 64, 'tpot_slo'), (1, 100, 100, 'kv_cache')]
    >>> cap["max_rate_req_s"].head(3).round(2).to_list()
    [10.25, 9.34, 5.53]
    """
    tpot_slo_s = _check_rate("tpot_slo_s", tpot_slo_s)
    if ttft_slo_s is not None:
        ttft_slo_s = _check_rate("ttft_slo_s", ttft_slo_s)
    m = _as_model(model)
    tp = _whole("tp", tp)
    _system_and_nodes(system, tp)
    seqs = (
        framework_defaults(framework).max_num_seqs
        if max_num_seqs is None
        else _whole("max_num_seqs", max_num_seqs)
    )
    mem = memory(m, system, tp=tp, pp=1, dtype=dtype, kv_dtype=None, framework=framework)
    b = work.buckets
    I = b["prompt_tokens"].to_numpy()  # noqa: E741  (the formula's names)
    O = b["output_tokens"].to_numpy()  # noqa: E741
    if not mem.fits:
        return b.with_columns(
            pl.lit(0.0).alias("max_rate_req_s"), pl.lit(0).alias("batch"), pl.lit(math.inf).alias("tpot_s"),
            pl.lit(math.inf).alias("ttft_s"), pl.lit("memory").alias("limited_by"),
            pl.lit(f"the weights do not fit: {mem.shortfall_bytes / 2**30:.1f} GiB short per GPU").alias("why"),
        )  # fmt: skip
    B = np.arange(1, seqs + 1, dtype=float)
    ctx = np.maximum(np.rint(I + O / 2), 1.0)
    # The iteration model as pm.serve.decode and pm.serve.prefill price it (times only).
    t_dec = np.asarray(iteration(m, system, tp=tp, decode_seqs=B[None, :], context_len=ctx[:, None], dtype=dtype,
                                 framework=framework).time_s)  # fmt: skip
    t_pf = np.asarray(iteration(m, system, tp=tp, prefill_seqs=1, prompt_len=np.maximum(np.rint(I), 1.0), dtype=dtype,
                                framework=framework).time_s)  # fmt: skip
    tpot = t_dec + B[None, :] * t_pf[:, None] / O[:, None]
    ttft = t_pf[:, None] + t_dec
    rate = B[None, :] / (O[:, None] * tpot)
    kv_ok = B[None, :] * (I + O)[:, None] <= mem.kv_tokens
    slo_ok = tpot <= tpot_slo_s
    ttft_ok = np.ones_like(slo_ok) if ttft_slo_s is None else ttft <= ttft_slo_s
    ok = kv_ok & slo_ok & ttft_ok
    out: dict[str, list[Any]] = {
        "max_rate_req_s": [],
        "batch": [],
        "tpot_s": [],
        "ttft_s": [],
        "limited_by": [],
        "why": [],
    }
    for k in range(I.size):
        if not ok[k].any():
            if not kv_ok[k, 0]:
                lim, why = (
                    "kv_cache",
                    f"one request ({I[k]:.0f} + {O[k]:.0f} tokens) exceeds the KV cache ({mem.kv_tokens:.0f} tokens)",
                )
            elif not slo_ok[k, 0]:
                lim, why = (
                    "tpot_slo",
                    f"TPOT at batch 1 is {tpot[k, 0] * 1e3:.1f} ms > SLO {tpot_slo_s * 1e3:g} ms",
                )
            else:
                lim, why = (
                    "ttft_slo",
                    f"TTFT at batch 1 is {ttft[k, 0] * 1e3:.1f} ms > SLO {(ttft_slo_s or math.inf) * 1e3:g} ms",
                )
            out["max_rate_req_s"].append(0.0)
            out["batch"].append(0)
            out["tpot_s"].append(float(tpot[k, 0]))
            out["ttft_s"].append(float(ttft[k, 0]))
        else:
            r = np.where(ok[k], rate[k], -1.0)
            a = int(np.argmax(r))
            nxt = a + 1
            if nxt >= B.size:
                lim, why = "max_num_seqs", f"batch {seqs} (max_num_seqs) reached within the SLO"
            elif not kv_ok[k, nxt]:
                lim, why = (
                    "kv_cache",
                    f"batch {nxt + 1} would exceed the KV cache ({mem.kv_tokens:.0f} tokens)",
                )
            elif not slo_ok[k, nxt]:
                lim, why = "tpot_slo", f"batch {nxt + 1} would take TPOT to {tpot[k, nxt] * 1e3:.1f} ms"
            elif not ttft_ok[k, nxt]:
                lim, why = "ttft_slo", f"batch {nxt + 1} would take TTFT to {ttft[k, nxt] * 1e3:.1f} ms"
            else:
                lim, why = (
                    "peak",
                    f"the rate peaks at batch {a + 1}: larger batches within the SLO serve fewer requests/s",
                )
            out["max_rate_req_s"].append(float(rate[k, a]))
            out["batch"].append(a + 1)
            out["tpot_s"].append(float(tpot[k, a]))
            out["ttft_s"].append(float(ttft[k, a]))
        out["limited_by"].append(lim)
        out["why"].append(why)
    return b.with_columns(*(pl.Series(k, v) for k, v in out.items()))


@dataclass(frozen=True)
class MixResult(Result):
    """The minimum-cost allocation of GPU types for a workload (:func:`cheapest_mix`). Prices are US dollars.

    Attributes
    ----------
    allocation : polars.DataFrame
        One row per GPU type: ``system``, ``tp``, ``instances``, ``gpus``, ``usd_per_gpu_h`` (USD per
        GPU-hour), ``cost_usd_per_h`` (USD per hour), ``load`` (the assigned load over the instances, in (0,
        1]).
    assignment : polars.DataFrame
        One row per bucket and type: the bucket's token ranges, ``system``, ``share_of_bucket`` (fraction of
        the bucket's requests sent there) and ``rate_req_s`` (requests/s).
    capacities : polars.DataFrame
        Per bucket and type, from :func:`capacity` (with ``system`` and ``tp``).
    single_type : polars.DataFrame
        The cheapest allocation using one type only, per type: ``system``, ``tp``, ``instances``,
        ``cost_usd_per_h`` (null when infeasible), ``why`` (why infeasible) and ``saving`` (of the mix against
        it, %).
    cost_usd_per_h : float
        The mix's cost, USD per hour.
    solve_s : float
        The integer program's time, seconds.
    gap : float
        The proven relative distance of ``cost_usd_per_h`` from the optimum, a fraction: 0 when optimal, > 0
        when the time limit stopped the search.

    Examples
    --------
    >>> import perfmodel as pm
    >>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
    >>> r = pm.serve.cheapest_mix("llama2-7b", ["g6-l4", "g5-a10g"], w, rate=20.0, tpot_slo_s=0.12, dtype="fp16")
    >>> r
    MixResult(4x g5-a10g: $4.04/h)
    >>> r.single_type["system"].to_list(), r.single_type["cost_usd_per_h"].round(2).to_list()
    (['g6-l4', 'g5-a10g'], [4.9, 4.04])
    """

    allocation: pl.DataFrame
    assignment: pl.DataFrame
    capacities: pl.DataFrame
    single_type: pl.DataFrame
    cost_usd_per_h: float
    solve_s: float
    gap: float = 0.0

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{r['instances']}x {r['system']}"
            for r in self.allocation.iter_rows(named=True)
            if r["instances"]
        )
        gap = "" if self.gap == 0 else f", within {self.gap * 100:.2g}% of optimal"
        return f"MixResult({parts}: ${self.cost_usd_per_h:.2f}/h{gap})"


def _solve(
    load: np.ndarray, cost: np.ndarray, slice_factor: int, time_limit_s: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mélange's integer program on bucket loads ``load[b, g]`` (instances of type g that bucket b alone needs;
    inf where g cannot serve it), instance costs ``cost[g]`` and ``slice_factor`` slices per bucket: the number of
    slices ``k[b, g]`` of each bucket given to each type and the instance counts ``n[g]`` of least cost.

    Slices of one bucket are interchangeable, so the program counts them (``0 <= k[b, g] <= slice_factor``,
    ``sum_g k[b, g] = slice_factor``, ``sum_b k[b, g] load[b, g] / slice_factor <= n[g]``) instead of assigning
    each by a binary as the paper writes it: the same feasible allocations and optimum, without the symmetric
    copies that slow branch and bound. HiGHS (scipy.optimize.milp); with ``time_limit_s`` the best allocation found
    by then is returned with its proven relative gap to the optimum (0: optimal)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix, hstack

    nb, ng = load.shape
    ok = np.isfinite(load)
    nk = nb * ng
    c = np.concatenate([np.zeros(nk), cost])
    b_idx = np.repeat(np.arange(nb), ng)
    g_idx = np.tile(np.arange(ng), nb)
    a1 = hstack([coo_matrix((np.ones(nk), (b_idx, np.arange(nk))), shape=(nb, nk)), coo_matrix((nb, ng))])
    lv = np.where(ok, load, 0.0).ravel() / slice_factor
    a2 = hstack([coo_matrix((lv, (g_idx, np.arange(nk))), shape=(ng, nk)), coo_matrix(-np.eye(ng))])
    # A type that takes any slice runs at least one instance: k[b, g] <= slice_factor n[g] (implied by the load
    # constraint in exact arithmetic, but not within the solver's feasibility tolerance for tiny loads).
    a3 = hstack([coo_matrix((np.ones(nk), (np.arange(nk), np.arange(nk))), shape=(nk, nk)),
                 coo_matrix((np.full(nk, -float(slice_factor)), (np.arange(nk), g_idx)), shape=(nk, ng))])  # fmt: skip
    ub = np.concatenate([np.where(ok, float(slice_factor), 0.0).ravel(), np.full(ng, np.inf)])
    res = milp(
        c,
        integrality=np.ones(nk + ng),
        bounds=Bounds(np.zeros(nk + ng), ub),
        constraints=[
            LinearConstraint(a1.tocsr(), slice_factor, slice_factor),
            LinearConstraint(a2.tocsr(), -np.inf, 0),
            LinearConstraint(a3.tocsr(), -np.inf, 0),
        ],
        options={"mip_rel_gap": 1e-9} | ({} if time_limit_s is None else {"time_limit": float(time_limit_s)}),
    )
    if res.x is None:
        raise PerfModelError(f"the allocation integer program found no solution: {res.message}")
    gap = 0.0 if res.status == 0 else float(getattr(res, "mip_gap", math.nan))
    return np.rint(res.x[:nk]).reshape(nb, ng), np.rint(res.x[nk:]), gap


def _gpu_list(gpus: Any) -> list[tuple[str, int]]:
    if isinstance(gpus, str):
        gpus = [gpus]
    items = (
        list(gpus.items())
        if isinstance(gpus, dict)
        else [(g, 1) if isinstance(g, str) else tuple(g) for g in gpus]
    )
    if not items:
        raise InvalidArgumentError("argument `gpus`: is empty; expected system ids (or {system: tp})")
    out = []
    for g, tp in items:
        hwdb.get(g)  # unknown ids raise with the closest name
        out.append((str(g), _whole(f"gpus['{g}'] (tp)", tp)))
    return out


@keyword_options()
def cheapest_mix(
    model: Any,
    gpus: Any,
    work: Workload,
    rate: float,
    tpot_slo_s: float,
    ttft_slo_s: float | None = None,
    prices: dict[str, float] | None = None,
    slice_factor: int = 8,
    dtype: str = "bf16",
    framework: str = "vllm",
    max_num_seqs: int | None = None,
    time_limit_s: float | None = 0.9,
) -> MixResult:
    """The minimum-cost mix of GPU types serving ``work`` at ``rate`` requests/s under the SLOs: Mélange's
    formulation (module docstring).

    An instance of ``tp`` GPUs costs ``tp`` times the GPU's price (hwdb ``[price]``, or ``prices``). The
    integer program stops after ``time_limit_s`` with the best allocation found and its proven ``gap`` to the
    optimum (0 when solved to optimality).

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    gpus : str, sequence of str or dict
        System ids (one GPU per instance) or ``{system: tp}``.
    work : Workload
        The request histogram (:func:`workload`).
    rate : float
        Total request rate, requests/s (> 0).
    tpot_slo_s : float
        SLO on the mean time per output token, seconds.
    ttft_slo_s : float, optional
        SLO on the time to first token, seconds.
    prices : dict of str to float, optional
        USD per GPU-hour by system or device id, replacing hwdb's.
    slice_factor : int
        Slices each bucket is cut into (default 8).
    dtype : str
        Weights' dtype (default ``"bf16"``).
    framework : str
        Serving framework class (default ``"vllm"``).
    max_num_seqs : int, optional
        The largest batch (default: the framework's).
    time_limit_s : float, optional
        The integer program's time limit, seconds (default 0.9; None: no limit).

    Returns
    -------
    MixResult
        ``allocation`` (instances and cost per type), ``assignment``, ``capacities``, ``single_type``,
        ``cost_usd_per_h`` (USD per hour), ``solve_s`` (s) and ``gap`` (fraction).

    Raises
    ------
    NoAllocationError
        No type can serve some bucket under the SLO (naming the bucket and why, for each type).
    perfmodel.InvalidArgumentError
        A bad rate, SLO, price key, GPU list or ``work``; a device without a price (give ``prices``).

    Examples
    --------
    >>> import perfmodel as pm
    >>> w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
    >>> r = pm.serve.cheapest_mix("llama2-7b", ["g6-l4", "g5-a10g"], w, rate=4.0, tpot_slo_s=0.12, dtype="fp16")
    >>> r.allocation.select("system", "instances", "cost_usd_per_h").rows(), r.gap
    ([('g6-l4', 0, 0.0), ('g5-a10g', 1, 1.01)], 0.0)
    """
    rate = _check_rate("rate", rate)
    types = _gpu_list(gpus)
    if prices:
        known = {s for s, _ in types} | {hwdb.get(s)["device"] for s, _ in types}
        for key in prices:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=2, cutoff=0.4)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise InvalidArgumentError(
                    f"argument `prices`: '{key}' is not a system or device id of `gpus` {sorted(known)}{hint}"
                )
    if time_limit_s is not None:
        time_limit_s = _check_rate("time_limit_s", time_limit_s)
    slice_factor = _whole("slice_factor", slice_factor)
    if not isinstance(work, Workload):
        raise InvalidArgumentError(
            "argument `work`: expected a Workload from perfmodel.serve.mix.workload(requests)"
        )
    caps = []
    for system, tp in types:
        c = capacity(
            model,
            system,
            work,
            tpot_slo_s,
            ttft_slo_s=ttft_slo_s,
            tp=tp,
            dtype=dtype,
            framework=framework,
            max_num_seqs=max_num_seqs,
        )
        caps.append(c.with_columns(pl.lit(system).alias("system"), pl.lit(tp).alias("tp")))
    unit_cost = np.array([price(s, prices) * tp for s, tp in types])
    cap = np.stack([c["max_rate_req_s"].to_numpy() for c in caps], axis=1)  # buckets x types
    share = work.buckets["share"].to_numpy()
    for bad in np.flatnonzero(~(cap > 0).any(axis=1)):
        b = work.buckets.row(int(bad), named=True)
        reasons = "; ".join(f"{s}: {c['why'][int(bad)]}" for (s, _), c in zip(types, caps, strict=True))
        raise NoAllocationError(
            f"no GPU type can serve bucket prompt {b['prompt_lo']}-{b['prompt_hi']} x output {b['output_lo']}-"
            f"{b['output_hi']} tokens ({b['share'] * 100:.1f}% of requests) under the SLO: {reasons}"
        )
    with np.errstate(divide="ignore"):
        bucket_load = np.where(cap > 0, (share * rate)[:, None] / cap, np.inf)  # instances per whole bucket
    t0 = time.perf_counter()
    slices, n, gap = _solve(bucket_load, unit_cost, slice_factor, time_limit_s)
    solve_s = time.perf_counter() - t0
    assigned = slices / slice_factor  # share of each bucket per type
    used = (np.where(np.isfinite(bucket_load), bucket_load, 0.0) * assigned).sum(axis=0)
    allocation = pl.DataFrame({
        "system": [s for s, _ in types], "tp": [tp for _, tp in types], "instances": n.astype(int),
        "gpus": (n * np.array([tp for _, tp in types])).astype(int),
        "usd_per_gpu_h": unit_cost / np.array([tp for _, tp in types], dtype=float),
        "cost_usd_per_h": n * unit_cost, "load": np.where(n > 0, used / np.maximum(n, 1), 0.0),
    })  # fmt: skip
    rows = []
    for k in range(len(share)):
        b = work.buckets.row(k, named=True)
        for g, (s, _) in enumerate(types):
            if assigned[k, g] > 0:
                rows.append({"prompt_lo": b["prompt_lo"], "prompt_hi": b["prompt_hi"], "output_lo": b["output_lo"],
                             "output_hi": b["output_hi"], "system": s, "share_of_bucket": float(assigned[k, g]),
                             "rate_req_s": float(assigned[k, g] * share[k] * rate)})  # fmt: skip
    single = []
    for g, (s, tp) in enumerate(types):
        if np.all(np.isfinite(bucket_load[:, g])):
            cnt = int(math.ceil(bucket_load[:, g].sum() - 1e-9))
            single.append(
                {
                    "system": s,
                    "tp": tp,
                    "instances": cnt,
                    "cost_usd_per_h": cnt * float(unit_cost[g]),
                    "why": "",
                }
            )
        else:
            first = int(np.flatnonzero(~np.isfinite(bucket_load[:, g]))[0])
            single.append({"system": s, "tp": tp, "instances": None, "cost_usd_per_h": None,
                           "why": f"cannot serve every bucket: {caps[g]['why'][first]}"})  # fmt: skip
    total = float((n * unit_cost).sum())
    single_df = pl.DataFrame(single, schema={"system": pl.String, "tp": pl.Int64, "instances": pl.Int64,
                                             "cost_usd_per_h": pl.Float64, "why": pl.String})  # fmt: skip
    single_df = single_df.with_columns(((1 - total / pl.col("cost_usd_per_h")) * 100).alias("saving"))
    return MixResult(allocation, pl.DataFrame(rows), pl.concat(caps), single_df, total, solve_s, gap)
