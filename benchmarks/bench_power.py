"""Power benchmark: what power and energy add to a serving plan search.

``pm.serve.search`` simulates every plan with each iteration's power tallied (``_core.serve_simulate`` given a
power law). This prints (a) the whole search (Llama-3-70B on one dgx-h100 node, every TP x replicas plan, 1,000
Poisson requests) and (b) for the same plans and requests, the simulator engine call with power
(``_core.serve_simulate`` with the power law) and without it (``_core.serve_simulate``, the plain engine), best of 5 each, and the overhead as a share of the plain
simulations and of the whole search. Target (issue 14): power adds < 10% to a plan search.
(c) the power of one iteration over 1,000,000 decode batches (``_core.power_iteration``) against the iteration
alone (``_core.serve_iteration``). Benchmarks print numbers; they do not assert on time.
Run: python benchmarks/bench_power.py
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import perfmodel as pm
from _timing import best_of, vllm_scheduler
from perfmodel import _core

MODEL = "llama3-70b"
SYSTEM = "dgx-h100"
N = 1000
RATE = 8.0


def plan_inputs() -> list[tuple[Any, int, dict[str, Any]]]:
    """(engine handle, replicas, scheduler) of every plan of the search that fits."""
    out = []
    for p in pm.serve.plans(MODEL, pm.cluster(SYSTEM, 1)):
        mem = pm.serve.memory(MODEL, SYSTEM, p["tp"], p["pp"])
        if not mem.fits:
            continue
        h = pm.serve.engine(MODEL, SYSTEM, tp=p["tp"], pp=p["pp"], ep=p["ep"])
        out.append((h, p["replicas"] * p["pp"], vllm_scheduler(mem, 131072)))
    return out


def main() -> None:
    search = best_of(
        lambda: pm.serve.search(MODEL, pm.cluster(SYSTEM, 1), rate=RATE, num_requests=N), repeats=3
    )
    req = pm.serve.requests(RATE, N, 512, 128, 0)
    a, p, o = (
        np.ascontiguousarray(req[c].to_numpy().astype(np.float64))
        for c in ("arrival_s", "prompt_tokens", "output_tokens")
    )
    pmod = pm.power.model(SYSTEM)
    plans = plan_inputs()
    plain = best_of(
        lambda: [_core.serve_simulate(h, a, p, o, r, s, "round_robin", True) for h, r, s in plans]
    )
    powered = best_of(
        lambda: [
            _core.serve_simulate(h, a, p, o, r, s, "round_robin", True, pmod.handle) for h, r, s in plans
        ]
    )
    extra = powered - plain
    print(f"(a) plan search, {len(plans)} fitting plans x {N} requests, with power: {search * 1e3:.1f} ms")
    print(f"(b) simulator engine calls: plain {plain * 1e3:.2f} ms, with power {powered * 1e3:.2f} ms; power adds "
          f"{extra * 1e3:.2f} ms = {extra / plain:.1%} of the simulations, {extra / search:.1%} of the search "
          f"(target < 10%)")  # fmt: skip
    n = 1_000_000
    rng = np.random.default_rng(0)
    batch = rng.integers(1, 257, n).astype(np.float64)
    ctx = rng.integers(128, 8193, n).astype(np.float64)
    zero = np.zeros(n)
    h = pm.serve.engine(MODEL, SYSTEM, tp=8)
    it = best_of(lambda: _core.serve_iteration(h, zero, zero, zero, batch, ctx), repeats=3)
    pw = best_of(lambda: _core.power_iteration(h, pmod.handle, zero, zero, zero, batch, ctx, None), repeats=3)
    print(
        f"(c) 1,000,000 decode iterations: time only {it * 1e3:.1f} ms ({n / it / 1e6:.2f} M/s), with power "
        f"{pw * 1e3:.1f} ms ({n / pw / 1e6:.2f} M/s)"
    )
    assert math.isfinite(search)


if __name__ == "__main__":
    main()
