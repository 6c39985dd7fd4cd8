"""Serving-plan search: every TP x PP (x EP for MoE) split of a cluster's GPUs into data-parallel replicas,
each simulated on the same requests; the best plan for throughput under TTFT/TPOT SLOs first, with why."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from .. import hwdb
from .._api import keyword_options
from ..errors import InvalidArgumentError, PerfModelError


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _cluster_size(cluster: Any) -> tuple[Any, int, int]:
    """(system, nodes, GPUs per node) of a system id/spec (one node), ``(system, nodes)`` or a one-group cluster."""
    if isinstance(cluster, tuple) and len(cluster) == 2:
        system, nodes = cluster
    elif hasattr(cluster, "groups"):
        if len(cluster.groups) != 1:
            raise InvalidArgumentError(
                "argument `cluster`: serving search needs a cluster of one kind of node"
            )
        system, nodes = cluster.groups[0]["system"], cluster.groups[0]["nodes"]
    else:
        system, nodes = cluster, 1
    spec = hwdb.resolve(system, "system")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise InvalidArgumentError(f"argument `cluster`: nodes is {nodes!r}; expected a whole number >= 1")
    return spec, nodes, int(spec["devices_per_node_count"])


def plans(model: Any, cluster: Any, max_pp: int = 8) -> list[dict[str, int]]:
    """Every serving plan of a cluster's GPUs, the candidates :func:`search` simulates.

    TP divides a node's GPUs (and the model's heads), PP goes up to ``max_pp`` whole nodes or within one, EP
    is in {1, TP} for MoE models, and replicas fill the cluster; for MoE models also data-parallel attention
    over the TP ranks with EP = TP (``attention_dp``, PP 1, TP dividing the experts).

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    cluster : str, Spec, tuple or Cluster
        A system (one node), ``(system, nodes)`` or a cluster of one group.
    max_pp : int
        The largest pipeline degree (default 8).

    Returns
    -------
    list of dict
        One dict per plan: ``tp``, ``pp``, ``ep``, ``attention_dp``, ``replicas`` and ``gpus``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> ps = pm.serve.plans("llama3.1-8b", "dgx-h100")
    >>> len(ps), ps[0]
    (10, {'tp': 1, 'pp': 1, 'ep': 1, 'attention_dp': False, 'replicas': 8, 'gpus': 8})
    """
    from . import _as_model

    m = _as_model(model)
    spec, nodes, per_node = _cluster_size(cluster)
    gpus = nodes * per_node
    out = []
    for tp in _divisors(per_node):
        moe_ep = m.fields.get("experts", 0) > 1 and tp > 1 and int(m.experts) % tp == 0
        if m.heads % tp == 0:
            for pp in _divisors(gpus // tp):
                if pp > max_pp or pp > m.layers:
                    continue
                for ep in [1, tp] if moe_ep else [1]:
                    out.append({"tp": tp, "pp": pp, "ep": ep, "attention_dp": False, "replicas": gpus // (tp * pp),
                                "gpus": gpus})  # fmt: skip
        if moe_ep:
            out.append(
                {"tp": tp, "pp": 1, "ep": tp, "attention_dp": True, "replicas": gpus // tp, "gpus": gpus}
            )
    return out


#: The simulation summary figures every plan-search row carries (co-located and disaggregated searches).
ROW_SUMMARY_KEYS = ("mean_ttft_s", "mean_tpot_s", "mean_e2e_s", "output_tokens_per_s", "goodput_requests_per_s",
                    "slo_attainment", "preemptions")  # fmt: skip


@keyword_options()
def search(
    model: Any,
    cluster: Any,
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
    max_num_seqs: tuple[int | None, ...] = (None,),
    max_pp: int = 8,
    seed: int = 0,
    objective: str = "goodput",
    client: Any = None,
    max_concurrency: int | None = None,
) -> pl.DataFrame:
    """The best serving plan for a cluster: every TP x PP (x EP) split of its GPUs into replicas, simulated on
    the same requests.

    Simulates every plan of :func:`plans` (and each ``max_num_seqs`` option) on the same requests (a trace, or
    ``num_requests`` Poisson arrivals at ``rate`` per second for the whole cluster; offline, all at once, when
    neither is given) and returns one row per plan, best first: plans meeting the SLOs (on the
    ``percentile``-th TTFT and TPOT) before those that do not, then by goodput and output tokens/s. ``why``
    says what decided each row. Plans that do not fit say by how much.

    ``objective="max_rate"`` answers "how many requests/s under these SLOs, with which plan": each plan's
    highest rate meeting the SLOs (:func:`perfmodel.serve.max_rate` on the same lengths or trace; ``rate`` is
    not needed) in ``max_rate_req_s``, plans ranked by it, the other columns from the run at that rate.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model.
    cluster : str, Spec, tuple or Cluster
        A system (one node), ``(system, nodes)`` or a cluster of one group.
    rate : float, optional
        Poisson arrivals for the whole cluster, requests per second (None with no ``requests``: offline).
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
        As :func:`perfmodel.serve.simulate` takes them (defaults ``"bf16"``, 16-bit, ``"vllm"``).
    max_num_seqs : tuple of int or None
        Scheduler limits to try (default ``(None,)``: the framework's).
    max_pp : int
        The largest pipeline degree tried (default 8).
    seed : int
        Seed of the Poisson draws (default 0).
    objective : str
        ``"goodput"`` (default) or ``"max_rate"``.
    client : dask.distributed.Client, optional
        Simulates the plans as tasks on its workers (chunks of the plan list, each retried if it fails); the
        frame is the local one.
    max_concurrency : int, optional
        Closed-loop clients for the whole cluster (:func:`perfmodel.serve.simulate`): every plan serves the same
        requests with at most this many in flight (the benchmark question "which plan at concurrency C");
        ``objective="goodput"`` only. Default: none.

    Returns
    -------
    polars.DataFrame
        One row per plan and ``max_num_seqs``, best first: ``tp``, ``pp``, ``ep``, ``attention_dp``,
        ``replicas``, ``gpus``, ``max_num_seqs``, ``kv_tokens``, ``weights_gib_per_gpu`` (GiB), ``fits``,
        ``meets_slo``, ``mean_ttft_s``, ``mean_tpot_s``, ``mean_e2e_s`` and the ``p{percentile}_`` TTFT and
        TPOT (seconds), ``output_tokens_per_s``, ``output_tokens_per_s_per_gpu``, ``goodput_requests_per_s``,
        ``slo_attainment`` (fraction), ``preemptions``, ``energy_per_output_token_j`` (J),
        ``mean_power_per_gpu_w`` (W), ``why``; with ``objective="max_rate"`` also ``max_rate_req_s`` and
        ``beyond_max_rate``. Plans that do not fit lack the simulated columns.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A percentile other than 50, 90, 99, an unknown objective, ``max_rate`` without an SLO, or no plan.

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.serve.search("llama3.1-8b", "dgx-h100", rate=20.0, slo_ttft_s=0.5, slo_tpot_s=0.02, num_requests=200)
    >>> df.select("tp", "pp", "replicas", "meets_slo").row(0)
    (8, 1, 1, True)
    >>> f"{df['goodput_requests_per_s'][0]:.1f} req/s", df.height
    ('18.0 req/s', 10)
    """
    if percentile not in (50, 90, 99):
        raise InvalidArgumentError(f"argument `percentile`: is {percentile!r}; expected 50, 90 or 99")
    if objective not in ("goodput", "max_rate"):
        raise InvalidArgumentError(
            f"argument `objective`: is {objective!r}; expected 'goodput' or 'max_rate'"
        )
    if objective == "max_rate" and slo_ttft_s is None and slo_tpot_s is None:
        raise InvalidArgumentError("objective 'max_rate' needs `slo_ttft_s`, `slo_tpot_s` or both")
    if max_concurrency is not None:
        from .. import _check as check

        max_concurrency = check.whole("max_concurrency", max_concurrency, 1, 2**32 - 1)
        if objective == "max_rate":
            raise InvalidArgumentError(
                "argument `max_concurrency`: closed-loop clients set their own rate; use objective 'goodput'"
            )
    spec, nodes, _ = _cluster_size(cluster)
    items = [(p, seqs) for p in plans(model, cluster, max_pp) for seqs in max_num_seqs]
    ctx: dict[str, Any] = dict(model=model, spec=spec, nodes=nodes, rate=rate, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
                               percentile=percentile, num_requests=num_requests, prompt_tokens=prompt_tokens,
                               output_tokens=output_tokens, requests=requests, dtype=dtype, kv_dtype=kv_dtype,
                               framework=framework, seed=seed, objective=objective,
                               max_concurrency=max_concurrency)  # fmt: skip
    if client is None:
        rows = _plan_rows(items, ctx)
    else:
        from .._distributed import chunk_count, index_ranges, map_chunks

        ranges = index_ranges(len(items), chunk_count(client, len(items)))
        parts = map_chunks(
            client, _plan_rows, [(items[lo:hi], ctx) for lo, hi in ranges], what="serving plan search"
        )
        rows = [row for part in parts for row in part]
    if not rows:
        raise InvalidArgumentError("no plan: the model's heads admit no TP degree dividing the node's GPUs")
    return ranked(rows, objective)


def _plan_rows(items: list[tuple[dict[str, int], int | None]], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of :func:`search` for ``(plan, max_num_seqs)`` items (all of them locally, a chunk of them as a
    task of a distributed search)."""
    from . import _check_fits, memory, simulate
    from .max_rate import max_rate

    model, spec, nodes, rate, requests = ctx["model"], ctx["spec"], ctx["nodes"], ctx["rate"], ctx["requests"]
    slo_ttft_s, slo_tpot_s, percentile, objective = (
        ctx["slo_ttft_s"],
        ctx["slo_tpot_s"],
        ctx["percentile"],
        ctx["objective"],
    )
    num_requests, prompt_tokens, output_tokens, seed = (
        ctx["num_requests"],
        ctx["prompt_tokens"],
        ctx["output_tokens"],
        ctx["seed"],
    )
    dtype, kv_dtype, framework = ctx["dtype"], ctx["kv_dtype"], ctx["framework"]
    rows: list[dict[str, Any]] = []
    offline = rate is None and requests is None
    for p, seqs in items:
        row: dict[str, Any] = {**p, "max_num_seqs": seqs}
        mem = memory(model, (spec, nodes), tp=p["tp"], pp=p["pp"], dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=p["ep"], max_num_seqs=seqs,
                     attention_dp=bool(p["attention_dp"]))  # fmt: skip
        row["kv_tokens"] = mem.kv_tokens
        row["weights_gib_per_gpu"] = mem.weights_bytes / 2**30
        try:
            _check_fits(mem, model, spec.id, p["tp"], p["pp"])
        except PerfModelError as exc:
            row.update(fits=False, why=str(exc))
            rows.append(row)
            continue
        kw: dict[str, Any] = {"requests": requests} if requests is not None else {
            "rate": math.inf if offline else rate, "num_requests": num_requests,
            "prompt_tokens": prompt_tokens, "output_tokens": output_tokens, "seed": seed,
        }  # fmt: skip
        common = dict(dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=p["ep"], max_num_seqs=seqs)
        if ctx.get("max_concurrency") is not None:
            common["max_concurrency"] = ctx["max_concurrency"]
        if p["attention_dp"]:
            common["attention_dp"] = True
        if objective == "max_rate":
            mr = max_rate(model, (spec, nodes), tp=p["tp"], pp=p["pp"], replicas=p["replicas"], slo_ttft_s=slo_ttft_s,
                          slo_tpot_s=slo_tpot_s, percentile=percentile, requests=requests,
                          num_requests=num_requests, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                          seed=seed, **common)  # fmt: skip
            row.update(max_rate_req_s=mr.rate_req_s, beyond_max_rate=mr.why)
            if mr.simulation is None:
                row.update(fits=True, meets_slo=False, why=f"no rate meets the SLOs: {mr.why}")
                rows.append(row)
                continue
            sim = mr.simulation
        else:
            sim = simulate(model, (spec, nodes), tp=p["tp"], pp=p["pp"], replicas=p["replicas"], slo_ttft_s=slo_ttft_s,
                           slo_tpot_s=slo_tpot_s, **common, **kw)  # fmt: skip
        s = sim.summary
        ttft, tpot = s[f"p{percentile}_ttft_s"], s[f"p{percentile}_tpot_s"]
        meets = (slo_ttft_s is None or ttft <= slo_ttft_s) and (slo_tpot_s is None or tpot <= slo_tpot_s)
        parts = [f"p{percentile} TTFT {ttft * 1e3:.0f} ms", f"p{percentile} TPOT {tpot * 1e3:.1f} ms"]
        if objective == "max_rate":
            parts.insert(0, f"serves {row['max_rate_req_s']:.3g} req/s (beyond: {row['beyond_max_rate']})")
        if not meets:
            parts.append("misses the SLO")
        if s["preemptions"]:
            parts.append(f"{s['preemptions']:.0f} preemptions (KV cache full)")
        row.update(
            fits=True,
            meets_slo=meets,
            **{k: s[k] for k in ROW_SUMMARY_KEYS},
            **{f"p{percentile}_ttft_s": ttft, f"p{percentile}_tpot_s": tpot},
            output_tokens_per_s_per_gpu=s["output_tokens_per_s"] / p["gpus"],
            energy_per_output_token_j=s["energy_per_output_token_j"],
            mean_power_per_gpu_w=s["mean_power_per_gpu_w"],
            why="; ".join(parts),
        )
        rows.append(row)
    return rows


def rank_key(objective: str = "goodput") -> list[pl.Expr]:
    """How plans rank, best first: fitting, then (objective ``max_rate``) the highest rate under the SLOs, then
    meeting the SLOs, then goodput, then output tokens/s."""
    first = [pl.col("max_rate_req_s").fill_null(0.0)] if objective == "max_rate" else []
    return [pl.col("fits"), *first, pl.col("meets_slo").fill_null(False),
            pl.col("goodput_requests_per_s").fill_null(0.0), pl.col("output_tokens_per_s").fill_null(0.0)]  # fmt: skip


def ranked(rows: list[dict[str, Any]], objective: str = "goodput") -> pl.DataFrame:
    """One row per plan (those that do not fit lack the simulated columns), best first (:func:`rank_key`)."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    for col, dtype_ in (
        ("meets_slo", pl.Boolean),
        ("goodput_requests_per_s", pl.Float64),
        ("output_tokens_per_s", pl.Float64),
    ):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype_).alias(col))
    if objective == "max_rate" and "max_rate_req_s" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("max_rate_req_s"))
    # Stable: plans that tie keep the order of :func:`plans`, so local and distributed searches agree.
    return frame.sort(rank_key(objective), descending=True, maintain_order=True)
