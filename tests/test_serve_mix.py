"""The cheapest GPU mix (Mélange's integer program on the serving model): the solver against brute force, the
capacities against the discrete-event simulator, the baselines against their derivation, and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perfmodel.errors import PerfModelError
from perfmodel.serve import mix

GPUS = ["g6-l4", "g5-a10g", "nc24ads-a100-v4", "dgx-h100"]


@pytest.fixture(scope="module")
def arena() -> mix.Workload:
    return mix.workload(mix.trace_requests("lmsys_05"))


def _one_bucket(prompt: float, output: float) -> mix.Workload:
    return mix.Workload(pl.DataFrame({"prompt_lo": [1], "prompt_hi": [32000], "output_lo": [1], "output_hi": [2000],
                                      "share": [1.0], "prompt_tokens": [prompt], "output_tokens": [output]}))  # fmt: skip


def test_solver_matches_brute_force_on_melange_example():
    """melange-release's config/example.json (2 GPU types, 2 x 2 buckets, 30 req/s, slice factor 1): the
    integer program's cost equals the best of all 2^4 bucket-to-type assignments, each type then needing
    ceil(sum of its loads) instances."""
    tputs = {"A10G": np.array([[2, 1], [5, 2]], float), "A100": np.array([[20, 20], [40, 20]], float)}
    cost = np.array([1.01, 3.67])
    rates = (np.array([[0.2, 0.1], [0.5, 0.2]]) * 30.0).ravel()
    load = np.stack([rates / tputs["A10G"].ravel(), rates / tputs["A100"].ravel()], axis=1)
    best = min(
        sum(cost[g] * math.ceil(sum(load[s, g] for s in range(4) if pick[s] == g) - 1e-12) for g in range(2))
        for pick in itertools.product(range(2), repeat=4)
    )
    k, n, gap = mix._solve(load, cost, 1)
    assert gap == 0
    assert (k.sum(axis=1) == 1).all()
    assert float(n @ cost) == pytest.approx(best, abs=1e-9)
    assert ((k * load).sum(axis=0) <= n + 1e-9).all()


def test_solver_slices_split_a_bucket_when_cheaper():
    """One bucket, rate 1.5 instances' worth on type A (price 1) or B (price 1.2, twice the capacity): whole on
    A costs 2, whole on B costs 1.2; slicing cannot beat 1.2. With B at 1.6 the cheapest is half/half: 1 A + 1 B
    = 2.6 vs A 2.0 alone; brute force over the 4 slices agrees."""
    for price_b in (1.2, 1.6):
        cost = np.array([1.0, price_b])
        slices = np.tile([[1.5 / 4, 0.75 / 4]], (4, 1))
        best = min(
            sum(
                cost[g] * math.ceil(sum(slices[s, g] for s in range(4) if pick[s] == g) - 1e-12)
                for g in range(2)
            )
            for pick in itertools.product(range(2), repeat=4)
        )
        _, n, _ = mix._solve(np.array([[1.5, 0.75]]), cost, 4)
        assert float(n @ cost) == pytest.approx(best)


def test_capacity_is_where_the_simulator_saturates():
    """Uniform 150/200-token requests at 0.7x the steady-state capacity: the discrete-event simulator (prefill-
    first, as vLLM before chunked prefill) keeps the mean TPOT within the SLO and no queue builds; at 1.5x the
    queue grows (mean TTFT past 1 s). Both a KV-limited (A10G, 120 ms) and a TPOT-limited (A100, 40 ms) case."""
    for system, slo in (("g5-a10g", 0.12), ("nc24ads-a100-v4", 0.04)):
        c = mix.capacity("llama2-7b", system, _one_bucket(150, 200), slo, dtype="fp16").row(0, named=True)
        assert c["max_rate_req_s"] > 0
        kw = dict(
            num_requests=3000,
            prompt_tokens=150,
            output_tokens=200,
            dtype="fp16",
            chunked_prefill=False,
            seed=1,
        )
        low = pm.serve.simulate("llama2-7b", system, rate=0.7 * c["max_rate_req_s"], **kw)
        high = pm.serve.simulate("llama2-7b", system, rate=1.5 * c["max_rate_req_s"], **kw)
        assert low.mean_tpot_s <= slo and low.mean_ttft_s < 0.5
        assert high.mean_ttft_s > 1.0


def test_capacity_closed_form_at_its_batch():
    """TPOT(B) = t_dec(B, I + O/2) + B t_pf(I) / O and rate = B / (O TPOT(B)), recomputed from pm.serve.decode and
    pm.serve.prefill at the batch the capacity reports."""
    c = mix.capacity("llama2-7b", "dgx-h100", _one_bucket(300, 100), 0.05, dtype="fp16").row(0, named=True)
    B = c["batch"]
    t_dec = pm.serve.decode("llama2-7b", "dgx-h100", batch=B, context_len=350, dtype="fp16").time_s
    t_pf = pm.serve.prefill("llama2-7b", "dgx-h100", batch=1, prompt_len=300, dtype="fp16").time_s
    tpot = t_dec + B * t_pf / 100
    assert c["tpot_s"] == pytest.approx(tpot, rel=1e-12)
    assert c["max_rate_req_s"] == pytest.approx(B / (100 * tpot), rel=1e-12)


def test_mix_against_its_single_type_baselines(arena):
    """The mix never costs more than the cheapest single type; each single-type count is ceil(rate x sum over
    buckets of share / capacity), the prices come from hwdb [price] (Mélange Table 1)."""
    r = pm.serve.cheapest_mix("llama2-7b", GPUS, arena, rate=24.0, tpot_slo_s=0.12, dtype="fp16")
    caps = r.capacities
    share = arena.buckets["share"].to_numpy()
    for row in r.single_type.iter_rows(named=True):
        cap = caps.filter(pl.col("system") == row["system"])["max_rate_req_s"].to_numpy()
        need = math.ceil(24.0 * float((share / cap).sum()) - 1e-9)
        assert row["instances"] == need
        assert row["cost_usd_per_h"] == pytest.approx(need * mix.price(row["system"]))
        assert r.cost_usd_per_h <= row["cost_usd_per_h"] + 1e-9
    assert mix.price("g6-l4") == 0.7 and mix.price("nc24ads-a100-v4") == 3.67
    a = r.allocation
    assert float((a["cost_usd_per_h"]).sum()) == pytest.approx(r.cost_usd_per_h)
    assert ((a["load"] <= 1 + 1e-9) & (a["load"] >= 0)).all()
    served = r.assignment.group_by("prompt_lo", "output_lo").agg(pl.col("share_of_bucket").sum())
    assert np.allclose(served["share_of_bucket"].to_numpy(), 1.0)


def test_price_override_moves_the_allocation(arena):
    """An L4 made free is all the L4s the workload needs; an A100 at a tenth of its price takes over the 120 ms
    workload that the L4/A10G mix served."""
    base = pm.serve.cheapest_mix("llama2-7b", GPUS, arena, rate=16.0, tpot_slo_s=0.12, dtype="fp16")
    cheap_a100 = pm.serve.cheapest_mix("llama2-7b", GPUS, arena, rate=16.0, tpot_slo_s=0.12, dtype="fp16",
                                       prices={"a100-pcie-80gb": 0.367})  # fmt: skip
    n = dict(zip(cheap_a100.allocation["system"], cheap_a100.allocation["instances"], strict=True))
    assert n["nc24ads-a100-v4"] >= 1 and cheap_a100.cost_usd_per_h < base.cost_usd_per_h


def test_tensor_parallel_instances_cost_tp_gpus(arena):
    r = pm.serve.cheapest_mix("llama2-70b", {"dgx-h100": 4}, arena, rate=2.0, tpot_slo_s=0.1, dtype="fp16")
    row = r.allocation.row(0, named=True)
    assert row["gpus"] == 4 * row["instances"]
    assert row["cost_usd_per_h"] == pytest.approx(row["gpus"] * 7.516)


def test_workload_histogram(arena):
    b = arena.buckets
    assert b["share"].sum() == pytest.approx(1.0)
    assert ((b["prompt_tokens"] >= b["prompt_lo"]) & (b["prompt_tokens"] <= b["prompt_hi"])).all()
    assert len(arena) == b.height <= 60


def test_errors_name_the_argument(arena):
    with pytest.raises(PerfModelError, match="prices.*> 0"):
        pm.serve.cheapest_mix(
            "llama2-7b", GPUS, arena, rate=1.0, tpot_slo_s=0.12, dtype="fp16", prices={"l4": 0}
        )
    with pytest.raises(PerfModelError, match="g6-l4"):
        pm.serve.cheapest_mix("llama2-7b", ["g6-l5"], arena, rate=1.0, tpot_slo_s=0.12, dtype="fp16")
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(PerfModelError, match="rate"):
            pm.serve.cheapest_mix("llama2-7b", GPUS, arena, rate=bad, tpot_slo_s=0.12, dtype="fp16")
    with pytest.raises(PerfModelError, match="tpot_slo_s"):
        pm.serve.cheapest_mix("llama2-7b", GPUS, arena, rate=1.0, tpot_slo_s=0.0, dtype="fp16")
    with pytest.raises(PerfModelError, match="no \\[price\\]"):
        pm.serve.cheapest_mix("llama2-7b", ["dgx-a100"], arena, rate=1.0, tpot_slo_s=0.12, dtype="fp16")
    with pytest.raises(PerfModelError, match="'l5' is not a system or device id.*did you mean 'l4'"):
        pm.serve.cheapest_mix(
            "llama2-7b", ["g6-l4"], arena, rate=1.0, tpot_slo_s=0.12, dtype="fp16", prices={"l5": 1.0}
        )
    with pytest.raises(PerfModelError, match="lmsys_05"):
        mix.trace_requests("lmsys_07")
    with pytest.raises(PerfModelError, match="row 1 has prompt_tokens = 50000"):
        mix.workload(pl.DataFrame({"prompt_tokens": [10, 50000], "output_tokens": [10, 10]}))


def test_unservable_bucket_names_the_bucket_and_why(arena):
    """At a 30 ms TPOT an L4 (300 GB/s, 13.5 GB of fp16 weights: >= 45 ms a token) serves nothing."""
    with pytest.raises(
        mix.NoAllocationError,
        match=r"bucket prompt 1-25 x output 1-25 .*g6-l4: TPOT at batch 1 is \d+\.\d ms > SLO 30 ms",
    ):
        pm.serve.cheapest_mix("llama2-7b", ["g6-l4"], arena, rate=1.0, tpot_slo_s=0.03, dtype="fp16")


@settings(max_examples=25, deadline=None)
@given(
    rate=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 40)),
    slo=st.one_of(st.floats(-1, 1), st.just(math.nan)),
    price=st.one_of(st.floats(-2, 10), st.just(math.nan)),
)
def test_bad_or_odd_input_is_a_clear_error_or_a_valid_allocation(arena, rate, slo, price):
    try:
        r = pm.serve.cheapest_mix("llama2-7b", ["g5-a10g", "nc24ads-a100-v4"], arena, rate=rate, tpot_slo_s=slo,
                                  dtype="fp16", prices={"a10g": price})  # fmt: skip
    except PerfModelError as e:
        assert str(e)
        return
    assert math.isfinite(r.cost_usd_per_h) and r.cost_usd_per_h > 0


def test_cli_prints_the_allocation_and_errors_cleanly(capsys, tmp_path):
    from perfmodel import cli_mix

    assert (
        cli_mix.main(
            ["llama2-7b", "--gpus", "g6-l4,g5-a10g", "--rate", "4", "--tpot-slo", "0.12", "--dtype", "fp16"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "cheapest mix: $" in out and "single GPU type" in out
    chart = tmp_path / "cost.svg"
    assert cli_mix.main(["llama2-7b", "--gpus", "g6-l4,g5-a10g", "--rates", "1,4", "--tpot-slo", "0.12", "--dtype", "fp16",
                         "--chart", str(chart)]) == 0  # fmt: skip
    assert chart.stat().st_size > 1000
    assert (
        cli_mix.main(
            ["llama2-7b", "--gpus", "g6-l4", "--rate", "4", "--tpot-slo", "0.12", "--price", "l4=-1"]
        )
        == 1
    )
    assert "argument `prices`: 'l4' is -1.0" in capsys.readouterr().err
