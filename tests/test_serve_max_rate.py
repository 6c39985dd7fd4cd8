"""The highest rate under SLOs (pm.serve.max_rate and search(objective="max_rate")): the bisection against a known
boundary, the answer re-checked on the simulator on both sides, a bound from offline throughput, bad input."""

from __future__ import annotations

import math

import perfmodel as pm
import pytest
from perfmodel.errors import PerfModelError
from perfmodel.serve.max_rate import bisect_rate, slo_check
from perfmodel.serve.simulate import Simulation

TRAFFIC = dict(
    num_requests=300,
    prompt_tokens=("lognormal", 600, 1.0, 4000),
    output_tokens=("lognormal", 250, 0.8, 2000),
    seed=3,
)
KEYS = (
    "mean_ttft_s",
    "p90_ttft_s",
    "p99_ttft_s",
    "mean_tpot_s",
    "p90_tpot_s",
    "p99_tpot_s",
    "output_tokens_per_s",
    "slo_attainment",
)


def _fake(rate: float) -> Simulation:
    """A run whose p90 TPOT is 10 ms + rate x 2 ms (below saturation) and grows without bound past 40 req/s."""
    tpot = 0.010 + 0.002 * rate if rate < 40 else math.inf
    s = dict.fromkeys(KEYS, 0.0) | {"p90_tpot_s": tpot, "p90_ttft_s": 0.1, "num_requests": 100.0}
    return Simulation(None, s)  # type: ignore[arg-type]


def test_bisection_finds_a_known_boundary():
    """p90 TPOT = 10 ms + 2 ms per req/s meets 50 ms up to 20 req/s exactly: found within the tolerance, from
    above and from below, and 'inf' never appears for a finite boundary."""
    check = slo_check(90, None, 0.050)
    for start in (1.0, 100.0, 0.01):
        r = bisect_rate(_fake, check, start=start, rel_tol=0.001)
        assert 20 * (1 - 0.002) <= r.rate_req_s <= 20
        assert "p90 TPOT" in r.why and r.evaluations["meets_slo"].any()
    assert bisect_rate(_fake, slo_check(90, None, 0.001), start=1.0).rate_req_s == 0.0


def test_rate_meets_the_slo_and_a_little_more_does_not():
    r = pm.serve.max_rate(
        "llama3-70b", "dgx-h100", tp=8, slo_ttft_s=1.0, slo_tpot_s=0.05, rel_tol=0.02, **TRAFFIC
    )
    assert 1 < r.rate_req_s < math.inf
    again = pm.serve.simulate("llama3-70b", "dgx-h100", tp=8, rate=r.rate_req_s, **TRAFFIC)
    assert again.p90_ttft_s <= 1.0 and again.p90_tpot_s <= 0.05
    beyond = pm.serve.simulate("llama3-70b", "dgx-h100", tp=8, rate=r.rate_req_s * 1.05, **TRAFFIC)
    assert beyond.p90_ttft_s > 1.0 or beyond.p90_tpot_s > 0.05
    # Little's law: the sequences decoding at once, rate x mean output tokens x mean TPOT, cannot exceed the
    # scheduler's max_num_seqs (vLLM: 256); 5% for a finite run's transient.
    mean_out = float(r.simulation.requests["output_tokens"].mean())
    assert r.rate_req_s * mean_out * r.mean_tpot_s <= 256 * 1.05


def test_a_short_run_is_flagged():
    """200 requests at ~10 req/s arrive in ~17 s, fewer than 10 mean request lifetimes: the answer says so; 2,000
    requests do not trigger it, and the answer moves by less than 10%."""
    kw = dict(slo_ttft_s=0.5, slo_tpot_s=0.012, prompt_tokens=("lognormal", 1000, 0.8, 4000),
              output_tokens=("lognormal", 200, 0.8, 1000), seed=1)  # fmt: skip
    short = pm.serve.max_rate("llama3-8b", "dgx-h100", num_requests=200, **kw)
    long = pm.serve.max_rate("llama3-8b", "dgx-h100", num_requests=2000, **kw)
    assert "caution" in short.why and "caution" not in long.why
    assert abs(short.rate_req_s / long.rate_req_s - 1) < 0.10


def test_looser_slo_never_lowers_the_rate():
    tight = pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.015, **TRAFFIC).rate_req_s
    loose = pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.030, **TRAFFIC).rate_req_s
    assert loose >= tight > 0


def test_trace_and_disaggregated_and_unbounded():
    trace = "python/perfmodel/data/serving_traces/llama/lmsys_05.csv"
    r = pm.serve.max_rate(
        "llama3-8b", "dgx-h100", requests=trace, slo_ttft_s=0.5, slo_tpot_s=0.02, percentile="mean"
    )
    assert 1 < r.rate_req_s < math.inf and r.simulation.mean_ttft_s <= 0.5
    unbounded = pm.serve.max_rate("llama3-8b", "dgx-h100", requests=trace, slo_tpot_s=0.05, percentile="mean")
    assert unbounded.rate_req_s == math.inf and "at once" in unbounded.why
    d = pm.serve.max_rate("llama3-70b", prefill=pm.serve.Pool("dgx-h100", tp=4), decode=pm.serve.Pool("dgx-h100", tp=4),
                          slo_ttft_s=1.0, slo_tpot_s=0.05, **TRAFFIC)  # fmt: skip
    assert 1 < d.rate_req_s < math.inf and d.simulation.p90_tpot_s <= 0.05


def test_search_by_max_rate_ranks_plans_by_their_own_max_rate():
    f = pm.serve.search(
        "llama3-70b", "dgx-h100", slo_ttft_s=1.0, slo_tpot_s=0.05, objective="max_rate", **TRAFFIC
    )
    fitting = f.filter(f["fits"])
    rates = fitting["max_rate_req_s"].to_list()
    assert rates == sorted(rates, reverse=True)
    best = fitting.row(0, named=True)
    alone = pm.serve.max_rate("llama3-70b", "dgx-h100", tp=best["tp"], pp=best["pp"], replicas=best["replicas"],
                              slo_ttft_s=1.0, slo_tpot_s=0.05, **TRAFFIC)  # fmt: skip
    assert best["max_rate_req_s"] == alone.rate_req_s
    assert best["why"].startswith("serves ")


def test_bad_input():
    with pytest.raises(PerfModelError, match="slo_ttft_s.*slo_tpot_s"):
        pm.serve.max_rate("llama3-8b", "dgx-h100")
    with pytest.raises(PerfModelError, match="percentile"):
        pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.05, percentile=95)
    with pytest.raises(PerfModelError, match="not both"):
        pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.05, prefill=pm.serve.Pool("dgx-h100"),
                          decode=pm.serve.Pool("dgx-h100"))  # fmt: skip
    with pytest.raises(PerfModelError, match="where"):
        pm.serve.max_rate("llama3-8b", slo_tpot_s=0.05)
    for bad in (0, -1.0, math.nan):
        with pytest.raises(PerfModelError, match="rel_tol"):
            pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=0.05, rel_tol=bad)
    with pytest.raises(PerfModelError, match="slo_tpot_s"):
        pm.serve.max_rate("llama3-8b", "dgx-h100", slo_tpot_s=-1)
    with pytest.raises(PerfModelError, match="objective"):
        pm.serve.search("llama3-8b", "dgx-h100", slo_tpot_s=0.05, objective="cheapest")
    with pytest.raises(PerfModelError, match="max_rate.*slo"):
        pm.serve.search("llama3-8b", "dgx-h100", objective="max_rate")


def test_cli_max_rate(capsys):
    from perfmodel import cli_serve

    args = [
        "max-rate",
        "llama3-8b",
        "dgx-h100",
        "--slo-tpot",
        "0.02",
        "--num-requests",
        "200",
        "--output-tokens",
        "200",
    ]
    assert cli_serve.main(args) == 0
    assert "requests/s meet the SLOs; beyond: at" in capsys.readouterr().out
    assert cli_serve.main([*args, "--percentile", "95"]) == 1
    assert "argument `percentile`" in capsys.readouterr().err


def test_split_search_by_max_rate_matches_max_rate_of_each_side():
    """DistServe's comparison: the best split's and the best co-located plan's highest rates under the SLOs,
    each equal to pm.serve.max_rate of that deployment on the same lengths (4 GPUs: below a node, so the
    co-located side is the direct TP x replicas enumeration)."""
    kw = dict(slo_ttft_s=0.5, slo_tpot_s=0.012, num_requests=200, prompt_tokens=("lognormal", 1000, 0.8, 4000),
              output_tokens=("lognormal", 200, 0.8, 1000), seed=1)  # fmt: skip
    r = pm.serve.split_search("llama3-8b", "dgx-h100", gpus=4, objective="max_rate", **kw)
    best = r.splits.row(0, named=True)
    pools = {
        side: pm.serve.Pool("dgx-h100", tp=best[f"{side}_tp"], replicas=best[f"{side}_replicas"])
        for side in ("prefill", "decode")
    }
    alone = pm.serve.max_rate("llama3-8b", prefill=pools["prefill"], decode=pools["decode"], **kw)
    assert best["max_rate_req_s"] == alone.rate_req_s > 0
    rates = r.splits.filter(r.splits["fits"])["max_rate_req_s"].to_list()
    assert rates == sorted(rates, reverse=True)
    colo = r.colocated.row(0, named=True)
    assert (
        colo["max_rate_req_s"]
        == pm.serve.max_rate(
            "llama3-8b", "dgx-h100", tp=colo["tp"], replicas=colo["replicas"], **kw
        ).rate_req_s
    )
    assert set(r.compare["mode"]) == {"disaggregated", "co-located"} and "max_rate_req_s" in r.compare.columns
