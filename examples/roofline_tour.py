"""A tour of the roofline model: a few LLM kernels on H100 and MI300X, the roofline picture and the GEMM
efficiency curve. Writes examples/output/roofline_h100.png and gemm_efficiency.png (next to this file); the
README's copies in docs/ come from the same functions (scripts/make_figures.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import perfmodel as pm
import polars as pl

OUT = Path(__file__).resolve().parent / "output"
GEMM_DEVICES = ["a100-sxm4-80gb", "h100-sxm5-80gb", "mi300x"]


def kernels(device: Any) -> pl.DataFrame:
    """A Llama-3-70B-like layer, 8k tokens per micro-batch: QKV projection, MLP up-projection, an fp8 GEMM, a
    decode-sized GEMM, flash attention and an RMSNorm, as roofline points (intensity, tflops, bound, label)."""
    g = pm.roofline.gemm
    parts = [
        g(device, 8192, 10240, 8192).with_columns(label=pl.lit("QKV proj")),
        g(device, 8192, 57344, 8192).with_columns(label=pl.lit("MLP up (SwiGLU)")),
        g(device, 8192, 8192, 8192, dtype="fp8").with_columns(label=pl.lit("fp8 GEMM")),
        g(device, 8, 8192, 8192).with_columns(label=pl.lit("decode GEMV-like")),
        pm.roofline.attention(device, 1, 64, 8192, 128, causal=True).with_columns(
            label=pl.lit("flash attention fwd")
        ),
        pm.roofline.memory_bound(
            device, 8192 * 8192 * 2, 8192 * 8192 * 2, flops=5 * 8192 * 8192
        ).with_columns(label=pl.lit("RMSNorm")),
    ]
    return pl.concat([p.select("intensity", "tflops", "bound", "label") for p in parts])


def roofline_figure() -> Any:
    """The roofline of the H100 SXM5 with the kernels of :func:`kernels` on it."""
    from perfmodel.plots.roofline import roofline_chart

    h100 = pm.hwdb.get("h100-sxm5-80gb")
    return roofline_chart(
        h100, kernels(h100), title="Roofline of the NVIDIA H100 SXM5 80GB: Llama-3-70B kernels"
    )


def gemm_figure() -> Any:
    """Modelled bf16 GEMM efficiency against size on A100, H100 and MI300X, aligned and unaligned sizes apart."""
    from perfmodel.plots.roofline import gemm_efficiency_chart

    return gemm_efficiency_chart(GEMM_DEVICES)


def main() -> None:
    from perfmodel.plots import save

    h100 = pm.hwdb.get("h100-sxm5-80gb")
    print(kernels(h100))
    what_if = h100.with_overrides({"memory.hbm_bandwidth_gbps": 5000})
    t0 = pm.roofline.memory_bound(h100, 8192 * 8192 * 2, 8192 * 8192 * 2)["time_s"][0]
    t1 = pm.roofline.memory_bound(what_if, 8192 * 8192 * 2, 8192 * 8192 * 2)["time_s"][0]
    print(f"What-if H100 with 5 TB/s HBM: RMSNorm {t0 * 1e6:.1f} us -> {t1 * 1e6:.1f} us")
    n = pm.roofline.gemm(h100, 4100, 4100, 4100)["tflops"][0]
    a = pm.roofline.gemm(h100, 4096, 4096, 4096)["tflops"][0]
    print(
        f"H100 bf16 GEMM 4096^3: {a:.0f} TFLOP/s; 4100^3 (rows not a multiple of 16 bytes): {n:.0f} TFLOP/s"
    )
    save(roofline_figure(), OUT / "roofline_h100.png")
    save(gemm_figure(), OUT / "gemm_efficiency.png")
    print("wrote", OUT / "roofline_h100.png", "and", OUT / "gemm_efficiency.png")


if __name__ == "__main__":
    main()
