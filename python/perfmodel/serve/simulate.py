"""The continuous-batching simulator from Python: request traces (Poisson or a file), one run on ``replicas``
copies of a serving instance, and offline maximum throughput (all requests at once, as trtllm-bench and
MLPerf Offline run)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import _check as check
from .. import _core
from .._display import Result
from ..errors import InvalidArgumentError

#: Columns a request trace has.
REQUEST_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


#: The most requests one simulation takes (about 1 KiB of state each in the engine and the result frame).
MAX_REQUESTS = 10_000_000
#: The longest prompt or output a request may have, tokens.
MAX_TOKENS = 1 << 24


def _dist(name: str, v: Any) -> tuple[str, float, float, float]:
    """A length given as a number (fixed), ``("uniform", lo, hi)`` or ``("lognormal", mean, sigma, max)``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return ("fixed", float(check.whole(name, v, 1, MAX_TOKENS)), 0.0, 0.0)
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "uniform":
        lo = check.number(f"{name}[1]", v[1], 1.0, MAX_TOKENS, lo_open=False)
        hi = check.number(f"{name}[2]", v[2], lo, MAX_TOKENS, lo_open=False)
        return ("uniform", lo, hi, 0.0)
    if isinstance(v, tuple) and len(v) == 4 and v[0] == "lognormal":
        mean = check.number(f"{name}[1]", v[1], 0.0, MAX_TOKENS)
        sigma = check.number(f"{name}[2]", v[2], 0.0, 10.0, lo_open=False)
        top = check.number(f"{name}[3]", v[3], 1.0, MAX_TOKENS, lo_open=False)
        return ("lognormal", mean, sigma, top)
    raise InvalidArgumentError(
        f"argument `{name}`: is {v!r}; expected a whole number, ('uniform', lo, hi) or ('lognormal', mean, sigma, max)"
    )


def requests(rate: float, n: int = 1000, prompt_tokens: Any = 512, output_tokens: Any = 128, seed: int = 0,
             *, n_name: str = "n") -> pl.DataFrame:  # fmt: skip
    """Requests arriving as a Poisson process, with prompt and output lengths fixed or drawn; seeded and
    deterministic.

    Parameters
    ----------
    rate : float
        Arrivals per second (``math.inf``: all at time 0).
    n : int
        Requests, 1 to 10,000,000 (default 1000).
    prompt_tokens, output_tokens : int or tuple
        Lengths, tokens (1 to 2^24): a whole number (fixed; defaults 512 and 128), ``("uniform", lo, hi)`` or
        ``("lognormal", mean, sigma, max)``.
    seed : int
        Seed, in [0, 2^64) (default 0).
    n_name : str
        The name errors give ``n`` (callers that call it ``num_requests`` pass that).

    Returns
    -------
    polars.DataFrame
        One row per request, in arrival order: ``arrival_s`` (seconds), ``prompt_tokens``, ``output_tokens``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A rate, count, length or seed outside its domain.

    Examples
    --------
    >>> import math
    >>> import perfmodel as pm
    >>> r = pm.serve.requests(2.0, 1000, prompt_tokens=("uniform", 100, 200), output_tokens=128, seed=1)
    >>> r.height, r["prompt_tokens"].min() >= 100, r["output_tokens"].unique().to_list()
    (1000, True, [128])
    >>> pm.serve.requests(math.inf, 3)["arrival_s"].to_list()
    [0.0, 0.0, 0.0]
    """
    rate = check.number("rate", rate, allow_inf=True, unit=" (requests per second; math.inf: all at once)")
    n = check.whole(n_name, n, 1, MAX_REQUESTS)
    seed = check.whole("seed", seed, 0, 2**64 - 1)
    a, p, o = _core.serve_requests(
        rate, n, _dist("prompt_tokens", prompt_tokens), _dist("output_tokens", output_tokens), seed
    )
    return pl.DataFrame(
        {"arrival_s": a, "prompt_tokens": p.astype(np.int64), "output_tokens": o.astype(np.int64)}
    )


def read_requests(source: Any) -> pl.DataFrame:
    """A request trace from a polars frame, or a CSV or JSONL file.

    Rows are checked by the simulator (positive lengths, arrivals in order).

    Parameters
    ----------
    source : polars.DataFrame, str or pathlib.Path
        A frame, or the path of a CSV (or ``.jsonl``/``.ndjson``) file, with columns ``arrival_s`` (seconds),
        ``prompt_tokens`` and ``output_tokens``.

    Returns
    -------
    polars.DataFrame
        ``arrival_s``, ``prompt_tokens``, ``output_tokens`` as floats (other columns dropped).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A missing file, an unreadable one, a missing column or cells that are not numbers.

    Examples
    --------
    >>> import polars as pl
    >>> import perfmodel as pm
    >>> trace = pl.DataFrame({"arrival_s": [0.0, 0.5], "prompt_tokens": [512, 1024], "output_tokens": [128, 64]})
    >>> pm.serve.read_requests(trace).row(1)
    (0.5, 1024.0, 64.0)
    """
    where = "requests"
    if isinstance(source, (str, Path)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise InvalidArgumentError(f"argument `requests`: file '{path}' does not exist")
        try:
            frame = pl.read_ndjson(path) if path.suffix in (".jsonl", ".ndjson") else pl.read_csv(path)
        except Exception as exc:  # polars raises several types for a malformed file
            raise InvalidArgumentError(
                f"{path}: could not be read as {'JSONL' if path.suffix in ('.jsonl', '.ndjson') else 'CSV'}: {exc}"
            ) from None
    elif isinstance(source, pl.DataFrame):
        frame = source
    else:
        raise InvalidArgumentError(
            f"argument `requests`: expected a polars DataFrame or a CSV/JSONL path, got {type(source).__name__}"
        )
    missing = [c for c in REQUEST_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"{where}: missing column(s) {missing}; a trace needs {list(REQUEST_COLUMNS)} (has {frame.columns})"
        )
    try:
        return frame.select(pl.col(c).cast(pl.Float64) for c in REQUEST_COLUMNS)
    except Exception as exc:  # non-numeric cells
        raise InvalidArgumentError(
            f"{where}: columns {list(REQUEST_COLUMNS)} must be numbers ({exc})"
        ) from None


#: The percentiles a summary gives.
_QS = (50, 90, 99)


def _quantiles(v: np.ndarray) -> list[float]:
    """The ``_QS`` percentiles of ``v`` (numpy's linear method; zeros when empty), in one partition."""
    if not v.size:
        return [0.0] * len(_QS)
    return [float(x) for x in np.quantile(v, [q / 100 for q in _QS])]


@dataclass(frozen=True)
class Simulation(Result):
    """One simulated serving run (:func:`perfmodel.serve.simulate`, :func:`perfmodel.serve.max_throughput`).

    Summary figures read as attributes (``sim.mean_ttft_s``, ``sim.output_tokens_per_s``...); :meth:`frame`
    gives them as a one-row frame.

    Attributes
    ----------
    requests : polars.DataFrame
        One row per request: ``arrival_s``, ``prompt_tokens``, ``output_tokens``, ``ttft_s`` (time to first
        token), ``tpot_s`` (mean time per output token after the first), ``e2e_s`` (end-to-end latency),
        ``max_itl_s`` (longest inter-token gap), ``first_token_s`` and ``finish_s`` (times since the start),
        all seconds; ``preemptions`` and ``replica``.
    summary : dict of str to float
        ``mean_``, ``p50_``, ``p90_`` and ``p99_`` of ``ttft_s``, ``tpot_s``, ``e2e_s`` and ``itl_s`` (over
        every inter-token gap), seconds; ``token_weighted_tpot_s`` (s); ``output_tokens_per_s`` and
        ``requests_per_s`` over the makespan; ``goodput_requests_per_s`` (requests meeting both SLOs per
        second of makespan; all when no SLO is given), ``slo_attainment`` (fraction); ``num_requests``,
        ``iterations``, ``preemptions``, ``makespan_s`` (s); energy (:func:`perfmodel.power.add_run_energy`):
        ``energy_j`` (J, every GPU), ``mean_power_per_gpu_w`` and ``peak_power_per_gpu_w`` (W),
        ``energy_per_output_token_j``, ``energy_per_request_j``, ``energy_per_iteration_j`` (J),
        ``throttled_iterations``, ``gpus`` and ``cluster_power_w`` (W, with the nodes' non-GPU power; NaN
        where the system has no rating).

    Examples
    --------
    >>> import perfmodel as pm
    >>> sim = pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=4.0, num_requests=100, slo_ttft_s=0.03, slo_tpot_s=0.01)
    >>> sim.slo_attainment, f"{sim.goodput_requests_per_s:.2f} req/s", f"{sim.mean_power_per_gpu_w:.0f} W"
    (0.94, '3.30 req/s', '441 W')
    >>> sim.requests.columns[:6]
    ['arrival_s', 'prompt_tokens', 'output_tokens', 'ttft_s', 'tpot_s', 'e2e_s']
    """

    requests: pl.DataFrame
    summary: dict[str, float]

    def __getattr__(self, key: str) -> Any:
        s = self.__dict__.get("summary", {})
        if key in s:
            return s[key]
        raise AttributeError(key)

    def frame(self) -> pl.DataFrame:
        """The summary as a one-row frame.

        Returns
        -------
        polars.DataFrame
            One column per summary figure (units by name: ``_s`` seconds, ``_w`` W, ``_j`` J).
        """
        return pl.DataFrame([self.summary])

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Simulation({s['num_requests']:.0f} requests: mean TTFT {s['mean_ttft_s'] * 1e3:.1f} ms, mean TPOT "
            f"{s['mean_tpot_s'] * 1e3:.2f} ms, {s['output_tokens_per_s']:,.0f} output tokens/s)"
        )


def summarize(
    raw: dict[str, Any], trace: pl.DataFrame, slo_ttft_s: float | None, slo_tpot_s: float | None
) -> Simulation:
    """Per-request frame and summary of the engine's raw result."""
    req = trace.with_columns(
        pl.col("prompt_tokens").cast(pl.Int64),
        pl.col("output_tokens").cast(pl.Int64),
        ttft_s=raw["ttft_s"],
        tpot_s=raw["tpot_s"],
        e2e_s=raw["e2e_s"],
        max_itl_s=raw["max_itl_s"],
        first_token_s=raw["first_token_s"],
        finish_s=raw["finish_s"],
        preemptions=raw["preemptions"].astype(np.int64),
        replica=raw["replica"].astype(np.int64),
    )
    out: dict[str, float] = {"num_requests": float(req.height)}
    ttft, tpot, e2e = raw["ttft_s"], raw["tpot_s"], raw["e2e_s"]
    multi = req["output_tokens"].to_numpy() > 1
    for name, v in (("ttft_s", ttft), ("tpot_s", tpot[multi]), ("e2e_s", e2e)):
        out[f"mean_{name}"] = float(v.mean()) if v.size else 0.0
        for q, x in zip(_QS, _quantiles(v), strict=True):
            out[f"p{q}_{name}"] = x
    # Every inter-token gap (millions): the engine gives their mean and percentiles as numpy would.
    out["mean_itl_s"] = float(raw["itl_mean_s"])
    for q in _QS:
        out[f"p{q}_itl_s"] = float(raw[f"itl_p{q}_s"])
    # Token-weighted TPOT (sum of per-token times over generated tokens), as APEX reports it.
    n_out = req["output_tokens"].to_numpy().astype(float)
    out["token_weighted_tpot_s"] = float(
        (tpot * np.maximum(n_out - 1, 0)).sum() / max((n_out - 1).sum(), 1.0)
    )
    start = float(req["arrival_s"].to_numpy().min()) if req.height else 0.0
    span = max(float(raw["makespan_s"]) - start, 1e-30)
    out["makespan_s"] = float(raw["makespan_s"])
    out["output_tokens_per_s"] = float(n_out.sum() / span)
    out["requests_per_s"] = req.height / span
    ok = np.ones(req.height, dtype=bool)
    if slo_ttft_s is not None:
        ok &= ttft <= slo_ttft_s
    if slo_tpot_s is not None:
        ok &= tpot <= slo_tpot_s
    out["slo_attainment"] = float(ok.mean()) if req.height else 0.0
    out["goodput_requests_per_s"] = float(ok.sum() / span)
    out["iterations"] = float(raw["iterations"])
    out["preemptions"] = float(raw["preemptions"].sum())
    return Simulation(req, out)


def check_slo(name: str, v: float | None) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or math.isinf(v):
        raise InvalidArgumentError(f"argument `{name}`: is {v!r}; expected seconds > 0")
    return float(v)
