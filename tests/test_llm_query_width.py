"""The training step prices the query projection at its real width, heads x head_dim, which differs from the
hidden size where a model gives head_dim (Qwen3-32B: 64 x 128 = 8,192 query columns on a 5,120 hidden)."""

from __future__ import annotations

import perfmodel as pm


def _compute_s(e) -> float:
    b = e.breakdown
    return float(b.filter(b["component"].is_in(["forward", "backward", "recompute"]))["time_s"].sum())


def test_query_width_moves_the_compute_time_by_the_extra_projection_work():
    """Qwen3-32B as published vs the same model with head_dim 80 (= hidden / heads), 1,024-token sequences,
    8 H100 at TP 8. Per layer and token the published one has, forward: QKV 2 x 5120 x (3072 + 768) more FLOPs
    (wider queries and K/V), output projection 2 x 3072 x 5120, attention core 4 x 512 x 64 x 48; x 4 for
    forward, backward and full recompute. The extra compute time can be no less than that work at the bf16 peak
    (989.4 TFLOP/s per GPU) and, since these GEMMs are mid-sized (1,024 x 1,280 x 5,120 per rank), no more than
    4x its time at the fitted large-GEMM rate (0.7475 of peak) times dgx-h100's compute factor. Pricing the
    query projection at the hidden width, as before, left about a fifth of the extra work: under the floor."""
    plan = dict(tp=8, pp=1, global_batch=64, micro_batch=1, recompute="full", zero=1)
    real = pm.llm.model({**pm.llm.model("qwen3-32b").fields, "seq_len": 1024.0})
    narrow = pm.llm.model({**real.fields, "head_dim": 80.0})
    extra = _compute_s(pm.llm.estimate(real, ("dgx-h100", 1), **plan)) - _compute_s(
        pm.llm.estimate(narrow, ("dgx-h100", 1), **plan)
    )
    per_token_fwd = 2 * 5120 * (3072 + 768) + 2 * 3072 * 5120 + 4 * 512 * 64 * 48
    flops_per_gpu = 4 * per_token_fwd * 64 * 1024 * 64 / 8  # x (fwd, bwd, recompute) x layers x tokens / GPUs
    scale = pm.llm.calibration("dgx-h100")["compute_time_scale"]
    assert flops_per_gpu / 989.4e12 < extra < 4 * scale * flops_per_gpu / (0.7475 * 989.4e12)
