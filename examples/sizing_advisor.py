"""The model sizing advisor: what limits each GEMM of Llama-2-7B on MI300X and H100, the nearby shapes that run
faster, the sizing rules side by side for five GPUs, and two charts (the throughput saw-tooth against hidden
size, and a heads x hidden heatmap on MI300X). Writes examples/output/sizing_sawtooth.png and
sizing_heads_hidden_mi300x.png."""

from pathlib import Path

import perfmodel as pm
import polars as pl
from perfmodel.plots import save
from perfmodel.plots.sizing import heads_hidden_heatmap, sawtooth_chart

OUT = Path(__file__).resolve().parent / "output"

with pl.Config(tbl_cols=20, tbl_width_chars=200, float_precision=3):
    for device in ("mi300x", "h100-sxm5-80gb"):
        s = pm.llm.sizing("llama2-7b", device, seq_len=4096)
        print(s)
        print(
            s.calls.select(
                "call", "m", "n", "k", "tile", "waves", "wave_utilization", "aligned", "tflops", "limiter"
            )
        )
        print(
            s.alternatives.head(5).select(
                "change", "hidden", "heads", "ffn_hidden", "vocab", "params_relative", "tflops"
            )
        )
    print(pm.llm.sizing_rules().with_columns(pl.col(pl.Float64).round(3)))

# Forward pass, 4 x 2,048 tokens, GPT-NeoX-style MLP (4h), vocabulary 50,257: the transformer benchmark settings
# of Anthony et al. 2024. head_dim 128 (hidden in steps of 128).
sweep = pm.llm.sizing_sweep(hidden=list(range(2048, 8192 + 1, 128)), head_dim=128)
save(
    sawtooth_chart(
        sweep,
        subtitle="bf16 forward, 4 x 2,048 tokens, head_dim 128, FFN 4h, 32 layers, vocabulary 50,257; "
        "H100 and H200 coincide (same die, compute-bound GEMMs)",
    ),
    OUT / "sizing_sawtooth.png",
)
grid = pm.llm.sizing_sweep(
    ["mi300x"], hidden=list(range(2048, 6144 + 1, 256)), heads=[8, 16, 24, 32, 40, 48, 64, 80, 96]
)
grid = grid.filter(pl.col("head_dim").is_between(32, 256))
save(
    heads_hidden_heatmap(
        grid,
        "mi300x",
        subtitle="bf16 forward, 4 x 2,048 tokens, FFN 4h, 32 layers; blank: head_dim not whole or outside 32..256",
    ),
    OUT / "sizing_heads_hidden_mi300x.png",
)
print("wrote", OUT / "sizing_sawtooth.png", "and", OUT / "sizing_heads_hidden_mi300x.png")
