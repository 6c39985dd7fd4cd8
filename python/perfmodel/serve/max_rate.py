"""The highest request rate a serving plan holds under its latency SLOs: "how many requests/s does this model serve
on these GPUs under a 50 ms TPOT?".

The rate is found on the simulator, as the serving benchmarks measure it (vLLM's ``benchmark_serving``, DistServe's
per-GPU goodput): the same requests (a seeded Poisson stream, or a trace whose arrival times are scaled) are
replayed at increasing rates; a rate meets the SLOs when the ``percentile``-th TTFT and TPOT (or their means) are
within them. The rate is doubled (or halved) until it brackets the boundary, then bisected to ``rel_tol``. The
same seed at every rate gives the same requests in the same order (common random numbers), so the check is
monotone in the rate up to simulation noise; every evaluation is returned so a user can see it.

>>> import perfmodel as pm
>>> r = pm.serve.max_rate("llama3-8b", "dgx-h100", tp=1, slo_ttft_s=1.0, slo_tpot_s=0.03, num_requests=200)
>>> r.rate_req_s > 1
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from .._api import keyword_options
from .._display import Result
from ..errors import InvalidArgumentError
from .simulate import Simulation, check_slo, read_requests

__all__ = ["MaxRate", "max_rate", "slo_check"]

#: A run whose arrivals span fewer mean request lifetimes (end-to-end latencies) than this is flagged in ``why``:
#: its queue may not have reached a steady state.
STEADY_LIVES = 10.0
#: Latency statistics an SLO can be checked on.
STATISTICS = ("mean", 50, 90, 99)


@dataclass(frozen=True)
class MaxRate(Result):
    """The highest request rate a serving plan holds under its SLOs (:func:`max_rate`).

    Summary figures of the run at that rate read as attributes (``r.p90_ttft_s``...).

    Attributes
    ----------
    rate_req_s : float
        The highest rate found meeting the SLOs, requests per second (0 when even the lowest rate tried misses
        them; ``inf`` when they hold even with every request arriving at once).
    simulation : Simulation or None
        The run at that rate (None when 0).
    evaluations : polars.DataFrame
        Every rate tried: ``rate_req_s``, ``meets_slo``, ``what`` (what the check saw), ``mean_ttft_s``,
        ``p90_ttft_s``, ``p99_ttft_s``, ``mean_tpot_s``, ``p90_tpot_s``, ``p99_tpot_s`` (seconds),
        ``output_tokens_per_s`` and ``slo_attainment`` (fraction).
    why : str
        What the SLO check saw at the lowest failing rate (what binds), and a caution when the run may not
        have reached a steady state.

    Examples
    --------
    >>> import perfmodel as pm
    >>> r = pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.02, num_requests=500)
    >>> f"{r.rate_req_s:.1f} req/s", f"p90 TPOT {r.p90_tpot_s * 1e3:.1f} ms"
    ('44.5 req/s', 'p90 TPOT 20.0 ms')
    >>> r.evaluations.filter(~r.evaluations["meets_slo"])["rate_req_s"].min()
    45.0
    """

    rate_req_s: float
    simulation: Simulation | None
    evaluations: pl.DataFrame
    why: str

    def __getattr__(self, key: str) -> Any:
        sim = self.__dict__.get("simulation")
        if sim is not None and key in sim.summary:
            return sim.summary[key]
        raise AttributeError(key)

    def __repr__(self) -> str:
        return f"MaxRate({self.rate_req_s:.3g} requests/s; beyond it: {self.why})"


def slo_check(
    percentile: Any, slo_ttft_s: float | None, slo_tpot_s: float | None
) -> Callable[[dict[str, float]], tuple[bool, str]]:
    """A check of a run's summary against the SLOs on the ``percentile``-th request (50, 90, 99) or the mean
    (``"mean"``): returns (met, what it saw)."""
    if percentile not in STATISTICS:
        raise InvalidArgumentError(
            f"argument `percentile`: is {percentile!r}; expected one of {list(STATISTICS)}"
        )
    if slo_ttft_s is None and slo_tpot_s is None:
        raise InvalidArgumentError(
            "give `slo_ttft_s`, `slo_tpot_s` or both: the highest rate is the one that meets them"
        )
    stat = "mean" if percentile == "mean" else f"p{percentile}"

    def check(s: dict[str, float]) -> tuple[bool, str]:
        ttft, tpot = s[f"{stat}_ttft_s"], s[f"{stat}_tpot_s"]
        misses = []
        if slo_ttft_s is not None and not ttft <= slo_ttft_s:
            misses.append(f"{stat} TTFT {ttft * 1e3:.0f} ms > {slo_ttft_s * 1e3:g} ms")
        if slo_tpot_s is not None and not tpot <= slo_tpot_s:
            misses.append(f"{stat} TPOT {tpot * 1e3:.1f} ms > {slo_tpot_s * 1e3:g} ms")
        return (not misses, "; ".join(misses) or f"{stat} TTFT {ttft * 1e3:.0f} ms, TPOT {tpot * 1e3:.1f} ms")

    return check


def _check_positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise InvalidArgumentError(f"argument `{name}`: is {v!r}; expected a finite number > 0")
    return float(v)


def bisect_rate(
    run: Callable[[float], Simulation],
    check: Callable[[dict[str, float]], tuple[bool, str]],
    start: float = 1.0,
    rel_tol: float = 0.02,
    lowest: float = 1e-3,
    highest: float = 1e6,
) -> MaxRate:
    """The highest rate at which ``run(rate)``'s summary passes ``check``: doubling or halving from ``start``
    to bracket it, then bisection until the bracket is within ``rel_tol`` of its lower end."""
    rows: list[dict[str, Any]] = []
    best: tuple[float, Simulation | None] = (0.0, None)
    why = ""

    def evaluate(rate: float) -> bool:
        nonlocal best, why
        sim = run(rate)
        ok, seen = check(sim.summary)
        s = sim.summary
        rows.append({"rate_req_s": rate, "meets_slo": ok, "what": seen,
                     **{k: s[k] for k in ("mean_ttft_s", "p90_ttft_s", "p99_ttft_s", "mean_tpot_s", "p90_tpot_s",
                                          "p99_tpot_s", "output_tokens_per_s", "slo_attainment")}})  # fmt: skip
        if ok and rate > best[0]:
            best = (rate, sim)
        if not ok and (not why or rate < hi):
            why = f"at {rate:.3g} req/s: {seen}"
        return ok

    lo, hi = 0.0, math.inf
    offline = run(math.inf)
    ok, seen = check(offline.summary)
    if ok:
        n = offline.summary["num_requests"]
        why = (f"met even with all {n:.0f} requests at once ({seen}): the SLOs do not bound the rate for this many "
               f"requests; give more requests or a TTFT SLO")  # fmt: skip
        return MaxRate(math.inf, offline, pl.DataFrame(rows), why)
    r = start
    if evaluate(r):
        lo = r
        while hi == math.inf:
            r *= 2
            if r > highest:
                why = why or f"still met at {highest:.3g} req/s, the search's ceiling"
                hi = r
                break
            if evaluate(r):
                lo = r
            else:
                hi = r
    else:
        hi = r
        while lo == 0.0:
            r /= 2
            if r < lowest:
                return MaxRate(0.0, None, pl.DataFrame(rows), why)
            if evaluate(r):
                lo = r
            else:
                hi = r
    while hi <= highest and (hi - lo) > rel_tol * lo:
        mid = (lo + hi) / 2
        if evaluate(mid):
            lo = mid
        else:
            hi = mid
    frame = pl.DataFrame(rows).sort("rate_req_s")
    sim = best[1]
    if sim is not None and isinstance(sim.requests, pl.DataFrame):
        arrivals = sim.requests["arrival_s"]
        arrival_s = arrivals.to_numpy()
        span = float(arrival_s.max() - arrival_s.min())
        lives = span / sim.summary["mean_e2e_s"] if sim.summary["mean_e2e_s"] > 0 else math.inf
        if lives < STEADY_LIVES:
            why += (f"; caution: at that rate the {arrivals.len()} requests arrive within {span:.3g} s, only "
                    f"{lives:.1f} mean request lifetimes: the run may not reach a steady state, give more requests")  # fmt: skip
    return MaxRate(best[0], sim, frame, why)


def _scaled_trace(trace: pl.DataFrame) -> Callable[[float], pl.DataFrame]:
    """The trace with its arrival times scaled so that it arrives at ``rate`` requests/s on average."""
    a = trace["arrival_s"].to_numpy().astype(float)
    if a.size < 2 or not a[-1] > a[0]:
        raise InvalidArgumentError(
            "argument `requests`: needs at least two requests with different arrival times to scale its rate"
        )
    base = (a.size - 1) / (a[-1] - a[0])

    def at(rate: float) -> pl.DataFrame:
        return trace.with_columns(
            arrival_s=pl.Series((a - a[0]) * (base / rate) + a[0])
        )  # rate inf: all at a[0]

    return at


@keyword_options(2)
def max_rate(
    model: Any,
    where: Any = None,
    tp: int = 1,
    pp: int = 1,
    replicas: int = 1,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    percentile: Any = 90,
    requests: Any = None,
    num_requests: int = 1000,
    prompt_tokens: Any = 512,
    output_tokens: Any = 128,
    seed: int = 0,
    rel_tol: float = 0.02,
    start: float | None = None,
    prefill: Any = None,
    decode: Any = None,
    **options: Any,
) -> MaxRate:
    """The highest request rate a deployment serves within its TTFT and TPOT SLOs.

    The rate (requests/s, the whole deployment's) at which ``replicas`` copies of a ``tp x pp`` instance of
    ``model`` on ``where`` serve with the ``percentile``-th (50, 90, 99, or ``"mean"``) TTFT within
    ``slo_ttft_s`` and TPOT within ``slo_tpot_s``. Requests: ``num_requests`` seeded Poisson arrivals with the
    given lengths (see :func:`perfmodel.serve.requests`), or a ``requests`` trace replayed with its arrival
    times scaled to each rate. The rate is doubled (or halved) until it brackets the boundary, then bisected
    to ``rel_tol`` (module docstring). A finite run measures a rate over its arrival window: give enough
    requests (the default 1,000, or a long trace) that the window is long against one request's life, or a
    rate just past saturation can still pass.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    where : str, Spec, tuple or Cluster, optional
        The system (co-located serving); give this or ``prefill`` and ``decode``.
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    replicas : int
        Copies of the instance (default 1).
    slo_ttft_s, slo_tpot_s : float, optional
        SLOs on time to first token and time per output token, seconds (at least one).
    percentile : int or str
        50, 90 (default), 99 or ``"mean"``.
    requests : polars.DataFrame or str, optional
        A trace (its arrival times scaled to each rate; at least two different arrival times).
    num_requests : int
        Poisson requests per run (default 1000).
    prompt_tokens, output_tokens : int or tuple
        Lengths, tokens, as :func:`perfmodel.serve.requests` takes them (default 512 and 128).
    seed : int
        Seed of the Poisson draws: the same requests at every rate (default 0).
    rel_tol : float
        The bracket's relative width at which the bisection stops (default 0.02).
    start : float, optional
        The first rate tried, requests/s (default: 1 per replica).
    prefill, decode : perfmodel.serve.Pool, optional
        Pools of a disaggregated deployment (:func:`perfmodel.serve.disaggregated`) instead of ``where``.
    **options
        Keyword options of every run (:func:`perfmodel.serve.simulate` or
        :func:`perfmodel.serve.disaggregated`: dtype, framework, scheduler limits, power cap, ...).

    Returns
    -------
    MaxRate
        ``rate_req_s`` (requests/s), ``simulation`` (the run at that rate), ``evaluations`` (every rate tried)
        and ``why``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        No SLO, an unknown percentile, both or neither of ``where`` and the pools, or a bad
        ``rel_tol``/``start``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> r = pm.serve.max_rate("llama3-8b", "dgx-h100", tp=1, slo_ttft_s=1.0, slo_tpot_s=0.03)
    >>> f"{r.rate_req_s:.1f} req/s", r.why.split(";")[0]
    ('46.5 req/s', 'at 47 req/s: p90 TPOT 30.7 ms > 30 ms')
    """
    from . import simulate
    from .disagg import disaggregated

    check = slo_check(percentile, check_slo("slo_ttft_s", slo_ttft_s), check_slo("slo_tpot_s", slo_tpot_s))
    rel_tol = _check_positive("rel_tol", rel_tol)
    disagg = prefill is not None or decode is not None
    if disagg and where is not None:
        raise InvalidArgumentError(
            "give `where` (co-located) or `prefill` and `decode` pools (disaggregated), not both"
        )
    if not disagg and where is None:
        raise InvalidArgumentError(
            "argument `where`: missing; expected a system id (or `prefill` and `decode` pools)"
        )
    if requests is not None:
        scaled = _scaled_trace(read_requests(requests))
        traffic: Callable[[float], dict[str, Any]] = lambda r: {"requests": scaled(r)}  # noqa: E731
    else:
        traffic = lambda r: {"rate": r, "num_requests": num_requests, "prompt_tokens": prompt_tokens,  # noqa: E731
                             "output_tokens": output_tokens, "seed": seed}  # fmt: skip
    if disagg:

        def run(r: float) -> Simulation:
            return disaggregated(
                model, prefill, decode, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s, **traffic(r), **options
            )
    else:

        def run(r: float) -> Simulation:
            return simulate(
                model,
                where,
                tp=tp,
                pp=pp,
                replicas=replicas,
                slo_ttft_s=slo_ttft_s,
                slo_tpot_s=slo_tpot_s,
                **traffic(r),
                **options,
            )

    first = _check_positive("start", start) if start is not None else float(replicas if not disagg else 1)
    return bisect_rate(run, check, start=first, rel_tol=rel_tol)
