"""Closed-loop clients in the serving simulator (``max_concurrency``): the benchmark mode of ``vllm bench serve
--max-concurrency``, SGLang ``bench_serving``, genai-perf/aiperf and InferenceMAX."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import perfmodel as pm
import pytest
from perfmodel.errors import InvalidArgumentError

MODEL, SYSTEM = "llama3.1-8b", "dgx-h100"


def test_one_client_is_strictly_serial():
    # One request in flight: each is sent when the previous finishes, so the E2E times add up to the makespan
    # and no two requests overlap.
    sim = pm.serve.simulate(MODEL, SYSTEM, num_requests=30, prompt_tokens=("uniform", 100, 900),
                            output_tokens=("uniform", 20, 200), max_concurrency=1)  # fmt: skip
    r = sim.requests
    assert r["e2e_s"].sum() == pytest.approx(sim.makespan_s, rel=1e-12)
    sends, finishes = r["arrival_s"].to_numpy(), (r["arrival_s"] + r["e2e_s"]).to_numpy()
    assert np.allclose(sends[1:], finishes[:-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("c", [8, 64])
def test_saturated_clients_obey_littles_law(c):
    # Every request ready at once: C in flight until the trace runs out, so requests/s over the run is
    # C / mean E2E less the drain of the last C requests (here C / 1000 of the requests).
    n = 1000
    sim = pm.serve.simulate(MODEL, SYSTEM, num_requests=n, prompt_tokens=("uniform", 819, 1024),
                            output_tokens=("uniform", 819, 1024), max_concurrency=c)  # fmt: skip
    little = c / sim.mean_e2e_s
    assert sim.requests_per_s <= little * (1 + 1e-9)
    assert sim.requests_per_s == pytest.approx(little, rel=0.03)


def test_closed_loop_differs_from_open_loop_and_is_deterministic():
    kw = dict(num_requests=200, prompt_tokens=512, output_tokens=128)
    burst = pm.serve.simulate(MODEL, SYSTEM, rate=math.inf, **kw)
    closed = pm.serve.simulate(MODEL, SYSTEM, max_concurrency=16, **kw)
    # Sixteen at a time queue nobody: TTFT counted from the send is one prefill, far below the burst's.
    assert closed.p99_ttft_s < 0.2 * burst.p99_ttft_s
    again = pm.serve.simulate(MODEL, SYSTEM, max_concurrency=16, **kw)
    assert closed.requests.equals(again.requests)
    # A cap above the trace length is the open-loop run.
    wide = pm.serve.simulate(MODEL, SYSTEM, rate=math.inf, max_concurrency=10_000, **kw)
    assert wide.requests.equals(burst.requests)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_bad_concurrency_is_named(bad):
    with pytest.raises(InvalidArgumentError, match="max_concurrency"):
        pm.serve.simulate(MODEL, SYSTEM, num_requests=4, max_concurrency=bad)


def test_attention_dp_groups_run_closed_loop():
    sim = pm.serve.simulate("deepseek-v3", "dgx-b200", tp=8, ep=8, dtype="fp8", kv_dtype="fp8",
                            attention_dp=True, num_requests=64, prompt_tokens=256, output_tokens=32,
                            max_concurrency=16)  # fmt: skip
    assert sim.requests_per_s <= 16 / sim.mean_e2e_s * (1 + 1e-9)


def test_cli_max_concurrency():
    out = subprocess.run([sys.executable, "-m", "perfmodel", "serve", "simulate", MODEL, SYSTEM, "--tp", "1",
                          "--num-requests", "20", "--max-concurrency", "1", "--format", "json"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    s = json.loads(out.stdout)["summary"]
    assert s["makespan_s"] == pytest.approx(20 * s["mean_e2e_s"], rel=1e-9)
    bad = subprocess.run([sys.executable, "-m", "perfmodel", "serve", "simulate", MODEL, SYSTEM,
                          "--max-concurrency", "0"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "max_concurrency" in bad.stderr


def test_plan_search_at_a_concurrency():
    # "Which plan at concurrency C": every plan serves the same 16 clients; each row's throughput is at most
    # C / mean E2E x mean output tokens (1024 here), the closed loop's bound.
    df = pm.serve.search(
        MODEL, SYSTEM, num_requests=160, prompt_tokens=512, output_tokens=1024, max_concurrency=16
    )
    fit = df.filter(df["fits"])
    assert fit.height > 1
    bound = 16 / fit["mean_e2e_s"] * 1024
    assert (fit["output_tokens_per_s"] <= bound * (1 + 1e-9)).all()
    with pytest.raises(InvalidArgumentError, match="max_concurrency"):
        pm.serve.search(MODEL, SYSTEM, max_concurrency=4, objective="max_rate", slo_tpot_s=0.05)


def test_max_throughput_passes_the_concurrency_on():
    capped = pm.serve.max_throughput(MODEL, SYSTEM, isl=512, osl=128, num_requests=256, max_concurrency=8)
    free = pm.serve.max_throughput(MODEL, SYSTEM, isl=512, osl=128, num_requests=256)
    assert capped.output_tokens_per_s < free.output_tokens_per_s
    assert capped.requests_per_s <= 8 / capped.mean_e2e_s * (1 + 1e-9)
