"""Disaggregated serving benchmark: one 10,000-request simulation through ``pm.serve.disaggregated`` (prefill pool
1 x TP8 + decode pool 1 x TP8 of Llama-3-70B on dgx-h100, KV over the NIC, layer-wise) next to the co-located
``pm.serve.simulate`` of one TP8 instance on the same requests (ShareGPT-like lengths at 20 requests/s, as
``bench_serve.py`` runs it), and the engine calls alone.

Target: the disaggregated simulation within ~2x of the co-located one. Benchmarks print numbers; they do not
assert on time. Run: python benchmarks/bench_serve_disagg.py
"""

from __future__ import annotations

import perfmodel as pm
from _timing import best_of

MODEL = "llama3-70b"
SYSTEM = "dgx-h100"
SHAREGPT = {"prompt_tokens": ("lognormal", 600, 1.0, 4000), "output_tokens": ("lognormal", 250, 0.8, 2000)}


def main() -> None:
    trace = pm.serve.requests(20.0, 10_000, seed=1, **SHAREGPT)
    co = best_of(lambda: pm.serve.simulate(MODEL, SYSTEM, tp=8, requests=trace))
    pools = {"prefill": pm.serve.Pool(SYSTEM, tp=8), "decode": pm.serve.Pool(SYSTEM, tp=8)}
    dis = best_of(lambda: pm.serve.disaggregated(MODEL, requests=trace, link="nic", **pools))  # type: ignore[arg-type]
    d = pm.serve.disaggregated(MODEL, requests=trace, link="nic", **pools)  # type: ignore[arg-type]
    s = pm.serve.simulate(MODEL, SYSTEM, tp=8, requests=trace)
    print(f"10,000 requests, {MODEL} TP8 on {SYSTEM}, 20 requests/s (ShareGPT-like lengths):")
    print(
        f"  co-located pm.serve.simulate (1 x TP8):               {co * 1e3:7.1f} ms  ({s.iterations:,.0f} iterations)"
    )
    print(f"  disaggregated pm.serve.disaggregated (1 P + 1 D TP8): {dis * 1e3:7.1f} ms  ({d.iterations:,.0f} iterations: "
          f"{d.prefill_iterations:,.0f} prefill, {d.decode_iterations:,.0f} decode)")  # fmt: skip
    print(f"  ratio {dis / co:.2f}x (target <= ~2x)")


if __name__ == "__main__":
    main()
