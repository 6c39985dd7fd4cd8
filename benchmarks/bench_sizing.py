"""Speed of the model sizing advisor (issue 17 targets): one ``pm.llm.sizing`` call (one model, one device, with
its ~40 nearby shapes) under 50 ms, and a 10,000-shape ``pm.llm.sizing_sweep`` under 1 s (one device; the
five-device sweep is printed too).

Run: python benchmarks/bench_sizing.py  (a benchmark script, not a timed test)
"""

from __future__ import annotations

import numpy as np
import perfmodel as pm
from _timing import best_of


def main() -> None:
    for model, device, tp in (
        ("llama2-7b", "mi300x", 1),
        ("llama3-70b", "h100-sxm5-80gb", 8),
        ("gpt3-175b", "a100-sxm4-80gb", 8),
    ):
        t = best_of(lambda: pm.llm.sizing(model, device, tp=tp))  # noqa: B023
        print(f"sizing {model} on {device} tp={tp}: {t * 1e3:.1f} ms (target 50 ms)")
    # 125 hidden sizes x 4 head counts x 5 FFN multipliers x 4 vocabulary paddings = 10,000 shapes.
    grid = dict(hidden=np.arange(2048, 2048 + 64 * 125, 64).tolist(), heads=[8, 16, 32, 64],
                ffn_multiplier=[2.5, 3.0, 3.5, 4.0, 4.5], vocab_multiple=[1, 64, 128, 256])  # fmt: skip
    df = pm.llm.sizing_sweep(["mi300x"], **grid)
    t = best_of(lambda: pm.llm.sizing_sweep(["mi300x"], **grid))
    print(f"sweep of {df.height:,} shapes on one device: {t * 1e3:.1f} ms (target 1 s)")
    t = best_of(lambda: pm.llm.sizing_sweep(**grid), repeats=3)
    print(f"sweep of {df.height:,} shapes on each of {len(pm.llm.advisor.DEVICES)} devices: {t * 1e3:.1f} ms")
    t = best_of(lambda: pm.llm.sizing_sweep(["mi300x"], training=True, **grid))
    print(f"the same one-device sweep, forward + backward: {t * 1e3:.1f} ms")
    t = best_of(pm.llm.sizing_rules, repeats=3)
    print(f"sizing_rules for {len(pm.llm.advisor.DEVICES)} devices: {t * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
