"""A tour of the roofline model: a few LLM kernels on H100 and MI300X, the roofline picture and the GEMM
efficiency curve. Writes examples/output/roofline_h100.png and gemm_efficiency.png."""

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import save
from perfmodel.plots.roofline import gemm_efficiency_chart, roofline_chart

OUT = Path(__file__).resolve().parent / "output"

h100 = pm.hwdb.get("h100-sxm5-80gb")
# Llama-3-70B-like layer, 8k tokens per micro-batch: QKV projection, MLP up-projection, attention, a norm.
kernels = pl.concat(
    [
        pm.roofline.gemm(h100, 8192, 10240, 8192).with_columns(label=pl.lit("QKV proj")),
        pm.roofline.gemm(h100, 8192, 57344, 8192).with_columns(label=pl.lit("MLP up (SwiGLU)")),
        pm.roofline.gemm(h100, 8192, 8192, 8192, dtype="fp8").with_columns(label=pl.lit("fp8 GEMM")),
        pm.roofline.gemm(h100, 8, 8192, 8192).with_columns(label=pl.lit("decode GEMV-like")),
    ],
    how="diagonal",
)
attn = pm.roofline.attention(h100, 1, 64, 8192, 128, causal=True).with_columns(
    label=pl.lit("flash attention fwd")
)
norm = pm.roofline.memory_bound(h100, 8192 * 8192 * 2, 8192 * 8192 * 2, flops=5 * 8192 * 8192).with_columns(
    label=pl.lit("RMSNorm")
)
points = pl.concat(
    [
        kernels.select("intensity", "tflops", "bound", "label"),
        attn.select("intensity", "tflops", "bound", "label"),
        norm.select("intensity", "tflops", "bound", "label"),
    ]
)
print(points)

what_if = h100.with_overrides({"memory.hbm_bandwidth_gbps": 5000})
t0 = pm.roofline.memory_bound(h100, 8192 * 8192 * 2, 8192 * 8192 * 2)["time_s"][0]
t1 = pm.roofline.memory_bound(what_if, 8192 * 8192 * 2, 8192 * 8192 * 2)["time_s"][0]
print(f"What-if H100 with 5 TB/s HBM: RMSNorm {t0 * 1e6:.1f} us -> {t1 * 1e6:.1f} us")

save(roofline_chart(h100, points), OUT / "roofline_h100.png")
save(gemm_efficiency_chart(["a100-sxm4-80gb", "h100-sxm5-80gb", "mi300x"]), OUT / "gemm_efficiency.png")
print("wrote", OUT / "roofline_h100.png", "and", OUT / "gemm_efficiency.png")
