"""LLM training model: counts, memory, bubble, ZeRO/ZeRO++, errors, search and validation targets.

Expected numbers come from the papers' formulas as worked in docs/models/training.md and docs/models/memory.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import perfmodel as pm
import polars as pl
import pytest
from perfmodel.errors import InvalidArgumentError, ModelError, UnsupportedError

A100 = ("dgx-a100", 8)
A100_1 = ("dgx-a100", 1)


@pytest.mark.parametrize(
    ("preset", "billions"),
    [
        ("megatron-1.7b", 1.65), ("megatron-3.6b", 3.56), ("megatron-7.5b", 7.47), ("megatron-18b", 18.45),
        ("megatron-39b", 39.10), ("megatron-76b", 76.05), ("megatron-145b", 145.62), ("megatron-310b", 310.13),
        ("megatron-530b", 529.60), ("megatron-1t", 1008.04), ("gpt3-175b", 174.6),
    ],
)  # fmt: skip
def test_narayanan_parameter_counts(preset: str, billions: float) -> None:
    # docs/models/training.md#parameters: P = 12 l h^2 (1 + 13/(12h) + (V + s)/(12 l h)), GPT-3 with its own vocabulary 50257.
    assert pm.llm.model(preset).params / 1e9 == pytest.approx(billions, abs=0.006)


@pytest.mark.parametrize(("preset", "billions", "tol"), [("llama2-7b", 6.74, 0.005), ("llama2-70b", 68.98, 0.01), ("llama3-8b", 8.03, 0.005),
                                                         ("llama3-70b", 70.55, 0.01), ("llama3-405b", 405.85, 0.05), ("mixtral-8x7b", 46.70, 0.01)])  # fmt: skip
def test_published_sizes_of_modern_presets(preset: str, billions: float, tol: float) -> None:
    assert pm.llm.model(preset).params / 1e9 == pytest.approx(billions, abs=tol)


def test_mixtral_active_parameters() -> None:
    # Mixtral paper: 13B active parameters per token (12.9B: top-2 of 8 experts).
    assert pm.llm.model("mixtral-8x7b").active_params / 1e9 == pytest.approx(12.88, abs=0.01)


def test_gpt3_flops_per_token() -> None:
    m = pm.llm.model("gpt3-175b")
    # docs/models/training.md#flops: 72-formula 1.0764e12, 6N = 1.0477e12 per token.
    assert m.flops_per_token() == pytest.approx(1.0764e12, rel=2e-4)
    assert 6 * m.params == pytest.approx(1.0477e12, rel=2e-4)
    h, n, s, v = 12288, 96, 2048, 50257
    assert m.flops_per_token("full") == pytest.approx(
        96 * n * h * h * (1 + s / (6 * h) + v / (16 * n * h)), rel=1e-12
    )
    assert m.flops_per_token("selective") == pytest.approx(
        72 * n * h * h * (1 + s / (3 * h) + v / (12 * n * h)), rel=1e-12
    )


@pytest.mark.parametrize(
    ("tp", "sp", "recompute", "gb"),
    [
        (1, False, "none", 2.869),
        (8, False, "none", 0.579),
        (8, True, "none", 0.359),
        (8, False, "selective", 0.327),
        (8, True, "selective", 0.107),
        (8, False, "full", 0.050),
    ],
)
def test_korthikanti_activation_table(tp: int, sp: bool, recompute: str, gb: float) -> None:
    # docs/models/memory.md#activations, GPT-3 175B, b = 1, s = 2048.
    got = pm.llm.layer_activation_bytes("gpt3-175b", tp=tp, sp=sp, recompute=recompute)
    assert got / 1e9 == pytest.approx(gb, abs=0.0006)


@pytest.mark.parametrize(("tp", "sp", "gb"), [(8, False, 0.327), (8, True, 0.107), (1, False, 0.856)])
def test_flash_attention_stores_no_scores(tp: int, sp: bool, gb: float) -> None:
    # A flash-style kernel keeps no s^2 scores (Dao et al. 2022 §3.1), so without recomputation a layer stores
    # what Korthikanti's selective recomputation stores: sbh (10 + 24/t) (docs/models/memory.md#activations; tp=1: 34 sbh = 0.856 GB).
    none_flash = pm.llm.layer_activation_bytes(
        "gpt3-175b", tp=tp, sp=sp, recompute="none", flash_attention=True
    )
    selective = pm.llm.layer_activation_bytes("gpt3-175b", tp=tp, sp=sp, recompute="selective")
    assert none_flash == selective
    assert none_flash / 1e9 == pytest.approx(gb, abs=0.0006)


@pytest.mark.parametrize(("vp", "fraction"), [(1, 0.21875), (4, 0.0546875)])
def test_pipeline_bubble_fraction(vp: int, fraction: float) -> None:
    # docs/models/training.md#pipeline: p = 8, m = 32 -> (p - 1)/(v m) of the busy time when all stages are equal. Here the last
    # stage also runs the output layer and loss and sets the steady state; filling and draining runs the other
    # seven, which hold only layers. Their per-micro-batch time comes from two depths (128 and 64 layers,
    # 16 and 8 per stage): busy / m = layers_per_stage * x + logits.
    def busy_and_bubble(layers: int) -> tuple[float, float]:
        m = pm.llm.model({"hidden": 25600, "heads": 160, "layers": layers, "seq_len": 2048, "vocab": 51200})
        e = pm.llm.estimate(m, ("dgx-a100", 8), tp=8, pp=8, vp=vp, dp=1, micro_batch=1, global_batch=32)
        t = e.raw
        return t["forward"] + t["backward"] + t["recompute"] + t["tp_comm"] + t["cp_comm"] + t["ep_comm"], t[
            "bubble"
        ]

    busy, bubble = busy_and_bubble(128)
    half, _ = busy_and_bubble(64)
    per_layer = (busy - half) / (8 * 32)
    assert bubble == pytest.approx(7 / vp * 16 * per_layer, rel=1e-9)
    # The output layer is a few percent of a 16-layer stage, so the equal-stage formula is close.
    assert bubble / busy == pytest.approx(fraction, rel=0.03)
    assert bubble / busy < fraction


@pytest.mark.parametrize(("zero", "gb"), [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.88)])
def test_zero_model_state_memory(zero: int, gb: float) -> None:
    # ZeRO paper example (docs/models/memory.md#zero): Psi = 7.5B on 64 ranks; bytes per parameter are exact.
    m = pm.llm.model("megatron-7.5b")
    e = pm.llm.estimate(m, A100, dp=64, zero=zero, global_batch=64)
    per_param = (e.raw["weights"] + e.raw["gradients"] + e.raw["optimizer_states"]) / m.params
    # The paper prints rounded figures (31.4, 16.6, 1.88): exact to half a unit of the last printed digit.
    assert per_param * 7.5 == pytest.approx(gb, abs=0.05 if gb > 10 else 0.005)


def test_zeropp_cross_node_volume_is_4x_smaller() -> None:
    m = pm.llm.model("frontier-gpt-20b")

    def cross(**kw: Any) -> float:
        e = pm.llm.estimate(m, ("dgx-a100", 16), dp=128, zero=3, global_batch=128, **kw)
        return e.raw["dp_cross_node_bytes"] * 8 / (2 * m.params * 15 / 16)

    assert cross() == pytest.approx(3.0, rel=1e-12)
    assert cross(qwz=True, hpz=8, qgz=True) == pytest.approx(0.75, rel=1e-12)


def test_hpz_secondary_copy_memory() -> None:
    # ZeRO++: M / alpha extra per GPU; alpha = 2 (GCD pair) on Frontier: 2 Psi / 2 = Psi bytes.
    m = pm.llm.model("frontier-gpt-20b")
    e = pm.llm.estimate(m, ("frontier-node", 8), dp=64, zero=3, hpz=2, global_batch=64)
    assert e.raw["secondary"] == pytest.approx(m.params, rel=1e-12)


def test_memory_shortfall_is_reported() -> None:
    e = pm.llm.estimate("gpt3-175b", A100, tp=8, dp=8, global_batch=8)
    assert not e.fits
    assert e.shortfall_bytes == pytest.approx(e.memory_per_gpu_bytes - e.capacity_bytes)
    assert "does NOT fit" in repr(e)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"tp": 5, "dp": 1}, InvalidArgumentError, "heads (96) must be divisible by tp (5)"),
        ({"pp": 5, "tp": 8, "dp": 1}, InvalidArgumentError, "layers (96) must be divisible by pp x vp"),
        (
            {"tp": 8, "pp": 2, "vp": 5, "global_batch": 16},
            InvalidArgumentError,
            "layers (96) must be divisible by pp x vp = 2 x 5",
        ),
        (
            {"tp": 8, "dp": 8, "global_batch": 12},
            InvalidArgumentError,
            "global batch (12) must be divisible by dp x micro_batch",
        ),
        ({"tp": 8, "dp": 16, "global_batch": 16}, InvalidArgumentError, "more than the cluster's 64"),
        ({"tp": 8, "ep": 2, "global_batch": 8}, UnsupportedError, "needs a mixture-of-experts model"),
        (
            {"tp": 8, "pp": 2, "zero": 3, "global_batch": 8},
            UnsupportedError,
            "ZeRO-3 cannot be combined with pipeline",
        ),
        ({"tp": 8, "recompute": "some"}, InvalidArgumentError, "expected 'none', 'selective' or 'full'"),
    ],
)
def test_bad_plans_name_the_constraint(
    kwargs: dict[str, object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=None) as info:
        pm.llm.estimate("gpt3-175b", A100, **kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_bad_models() -> None:
    with pytest.raises(ModelError, match="did you mean"):
        pm.llm.model("gpt3-175")
    with pytest.raises(InvalidArgumentError, match="hidden"):
        pm.llm.model({"layers": 2, "heads": 2, "seq_len": 8, "vocab": 10})
    with pytest.raises(ModelError, match="multiple of kv_heads"):
        pm.llm.model({"hidden": 64, "layers": 2, "heads": 8, "kv_heads": 3, "seq_len": 8, "vocab": 10})
    with pytest.raises(UnsupportedError, match="fp8"):
        pm.llm.estimate("megatron-1.7b", A100, dtype="fp8")


def test_fp8_is_faster_on_h100() -> None:
    bf = pm.llm.estimate("llama3-8b", ("dgx-h100", 1), tp=1, global_batch=8, recompute="full")
    f8 = pm.llm.estimate("llama3-8b", ("dgx-h100", 1), tp=1, global_batch=8, recompute="full", dtype="fp8")
    assert f8.step_time_s < bf.step_time_s


def test_hf_config_loads(tmp_path: Path) -> None:
    cfg = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
           "vocab_size": 32000, "max_position_embeddings": 4096, "hidden_act": "silu", "num_local_experts": 8, "num_experts_per_tok": 2,
           "tie_word_embeddings": False, "model_type": "mixtral"}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert pm.llm.model(str(path)).params == pytest.approx(pm.llm.model("mixtral-8x7b").params, rel=1e-12)


def test_moe_expert_parallel_plan() -> None:
    e = pm.llm.estimate(
        "mixtral-8x7b", ("dgx-h100", 4), tp=2, ep=8, global_batch=64, recompute="full", zero=1
    )
    assert e.raw["ep_comm"] > 0
    assert math.isfinite(e.step_time_s) and e.mfu > 0


def test_search_best_first_with_skip_reasons() -> None:
    r = pm.llm.search_full("megatron-39b", ("dgx-a100", 8), global_batch=64, micro_batch=[1, 2])
    df = r.plans
    assert df.height > 0 and df["fits"].all()
    assert df["step_time_s"].is_sorted()
    assert (df["tp"] * df["pp"] * df["dp"] * df["cp"] == 64).all()
    assert r.skipped.get("layers not divisible by pp x vp", 0) > 0
    assert sum(r.skipped.values()) + r.plans.height <= r.candidates
    best: dict[str, Any] = df.row(0, named=True)
    again = pm.llm.estimate("megatron-39b", ("dgx-a100", 8), tp=best["tp"], pp=best["pp"], vp=best["vp"], micro_batch=best["micro_batch"],
                            global_batch=64, sp=best["sp"], recompute=best["recompute"], zero=best["zero"],
                            dp_overlap=best["dp_overlap"], tp_overlap=best["tp_overlap"], pp_overlap=best["pp_overlap"])  # fmt: skip
    assert again.step_time_s == pytest.approx(best["step_time_s"], rel=1e-12)
    # Overlap flags are searched; a flag without the communication it hides (pp_overlap with pp = 1...) is
    # skipped as a duplicate of the plan without it.
    assert r.skipped.get("overlap flag without the communication it hides", 0) > 0
    assert not (df["pp_overlap"] & (df["pp"] == 1)).any()


#: MegaScale (Jiang et al. NSDI'24) Table 2, Megatron-LM rows: global batch -> {GPUs: MFU %}.
MEGASCALE_MEGATRON = {
    768: {256: 53.0, 512: 49.9, 768: 46.7, 1024: 44.7},
    6144: {3072: 48.7, 6144: 47.8, 8192: 43.3, 12288: 41.2},
}


@pytest.mark.parametrize("global_batch", [768, 6144])
def test_megascale_mfu_falls_with_gpus_like_the_published_trend(global_batch: int) -> None:
    # 175B (h 12288, 128 heads, 96 layers, vocab 64000), tp 8, pp 8, vp 6, micro-batch 1, SP + selective
    # recompute, distributed optimizer with fp32 gradient reduction, no overlap (the validation's plan). A fixed
    # global batch spread over more GPUs leaves fewer micro-batches per pipeline while the per-step costs (the
    # bubble, the exposed DP reduce-scatter and all-gather) stay, so MFU falls.
    m = pm.llm.model({"hidden": 12288, "heads": 128, "layers": 96, "seq_len": 2048, "vocab": 64000})
    published = MEGASCALE_MEGATRON[global_batch]
    mfu = {
        g: 100
        * pm.llm.estimate(
            m,
            ("dgx-a100", g // 8),
            tp=8,
            pp=8,
            vp=6,
            global_batch=global_batch,
            sp=True,
            recompute="selective",
            zero=1,
            grad_fp32=True,
        ).mfu  # fmt: skip
        for g in published
    }
    gpus = sorted(published)
    assert all(mfu[a] > mfu[b] for a, b in zip(gpus, gpus[1:], strict=False)), mfu
    # The drop from the smallest to the largest GPU count: published 8.3 points (768) and 7.5 points (6144).
    # Tolerance: at least half and at most 1.5 times the published drop (the model before the network factor
    # and the overlap terms predicted 3.4 points for the 768 group).
    drop, pub_drop = mfu[gpus[0]] - mfu[gpus[-1]], published[gpus[0]] - published[gpus[-1]]
    assert 0.5 * pub_drop <= drop <= 1.5 * pub_drop, (drop, pub_drop, mfu)
    # Every level within the 12 % target.
    for g in gpus:
        assert abs(mfu[g] / published[g] - 1) <= 0.12, (g, mfu[g], published[g])


def test_megascale_strong_scaling_step_ratio_within_three_percent() -> None:
    # Issue 12 target: MegaScale Table 2, 175B at global batch 6144, 3,072 -> 12,288 GPUs: measured step time
    # 29.02 s -> 8.57 s (ratio 0.2953). These rows are held out of the dgx-a100 fit (batch 768 at 256 and 1024
    # GPUs and Megatron-LM Table 1 are in it); the validation's plan (tp 8, pp 8, vp 6, micro-batch 1, SP,
    # selective recompute, distributed optimizer, fp32 gradient reduction, no overlap).
    m = pm.llm.model({"hidden": 12288, "heads": 128, "layers": 96, "seq_len": 2048, "vocab": 64000})
    step = {
        g: pm.llm.estimate(
            m,
            ("dgx-a100", g // 8),
            tp=8,
            pp=8,
            vp=6,
            micro_batch=1,
            global_batch=6144,
            sp=True,
            recompute="selective",
            zero=1,
            grad_fp32=True,
        ).step_time_s  # fmt: skip
        for g in (3072, 12288)
    }
    assert step[12288] / step[3072] == pytest.approx(8.57 / 29.02, rel=0.03), step


#: Korthikanti et al. 2022 Table 4: one transformer layer of the 22B model (micro-batch 4, tp 8), forward +
#: backward ms: (recompute, sp) -> time.
KORTHIKANTI_TABLE4 = {
    ("none", False): 19.6,
    ("none", True): 19.0,
    ("full", False): 27.2,
    ("selective", False): 20.9,
    ("selective", True): 20.3,
}


def test_korthikanti_per_layer_times_and_recompute_overheads() -> None:
    # With dgx-a100's Megatron-LM 2022 profile, whose one compute factor is fitted on these five layer times (so
    # the absolute check is in sample; the overhead ratios are not tuned by a scalar factor and are the test).
    # Per-layer time as the difference of two models that differ only in depth (48 and 24 layers): forward,
    # backward, recompute and exposed TP communication. Backward TP collectives of the column-parallel linears
    # run behind their weight-gradient GEMMs (Korthikanti §6.2), which is why full recompute costs 39 % there
    # and not 33 %.
    def per_layer(recompute: str, sp: bool) -> float:
        t = []
        for layers in (48, 24):
            m = pm.llm.model({"hidden": 6144, "heads": 64, "layers": layers, "seq_len": 2048, "vocab": 51200})
            e = pm.llm.estimate(m, A100_1, tp=8, dp=1, micro_batch=4, global_batch=4, sp=sp, recompute=recompute, flash_attention=False,
                                calib="megatron-2022")  # fmt: skip
            t.append(e.raw["forward"] + e.raw["backward"] + e.raw["recompute"] + e.raw["tp_comm"])
        return 1e3 * (t[0] - t[1]) / 24

    got = {k: per_layer(*k) for k in KORTHIKANTI_TABLE4}
    base, pub_base = got[("none", False)], KORTHIKANTI_TABLE4[("none", False)]
    for k, ms in KORTHIKANTI_TABLE4.items():
        assert got[k] == pytest.approx(ms, rel=0.12), (k, got[k], ms)
        # Overheads relative to the no-recompute layer (1.39 full, 1.07 selective, 1.04 selective + SP).
        assert got[k] / base == pytest.approx(ms / pub_base, rel=0.03), (k, got[k] / base, ms / pub_base)


def test_dp_overlap_with_interleaving_leaves_one_chunk_exposed() -> None:
    # MegaScale §3.2: with v model chunks the DP collectives run per chunk and only the first all-gather and the
    # last reduce-scatter cannot be hidden; 175B on 256 GPUs (dp 4, v 6) has a cool-down long enough for the rest.
    m = pm.llm.model({"hidden": 12288, "heads": 128, "layers": 96, "seq_len": 2048, "vocab": 64000})
    plan: dict[str, Any] = dict(
        tp=8, pp=8, micro_batch=1, global_batch=768, sp=True, recompute="selective", zero=1, grad_fp32=True
    )
    off = pm.llm.estimate(m, ("dgx-a100", 32), vp=6, **plan).raw["dp_comm"]
    on = pm.llm.estimate(m, ("dgx-a100", 32), vp=6, dp_overlap=True, **plan).raw["dp_comm"]
    assert on == pytest.approx(off / 6, rel=1e-9)
    # Without interleaving the window is the last micro-batch's backward (forward) only.
    off1 = pm.llm.estimate(m, ("dgx-a100", 32), vp=1, **plan).raw["dp_comm"]
    on1 = pm.llm.estimate(m, ("dgx-a100", 32), vp=1, dp_overlap=True, **plan).raw["dp_comm"]
    assert off1 / 6 < on1 < off1


def test_validation_targets() -> None:
    import perfmodel.validation as V
    from perfmodel.validation import llm as vl

    rows = vl.run()
    checks = rows.filter(pl.col("role") == "check")
    assert float(checks["error"].abs().max()) < 0.003  # type: ignore[arg-type]
    s = V.summarize(rows.filter(pl.col("group").is_in(vl.TARGET_GROUPS)), ("role",)).to_dicts()
    by = {r["role"]: r for r in s}
    # Issue 4 targets over Megatron-LM Table 1, Korthikanti et al. and MegaScale's Megatron-LM rows: median <= 5 %,
    # max <= 12 %, one calibration for dgx-a100.
    assert by["fit"]["median_abs_error"] <= 0.05 and by["fit"]["max_abs_error"] <= 0.12
    assert by["holdout"]["median_abs_error"] <= 0.05 and by["holdout"]["max_abs_error"] <= 0.12


def test_committed_summary_matches_run() -> None:
    from perfmodel.validation import llm as vl

    path = Path(__file__).resolve().parent.parent / "validation" / "llm_summary.json"
    saved = json.loads(path.read_text())
    got = vl.run()
    assert len(got) == sum(g["rows"] for g in saved["overall"])


def test_fp16_training_on_a_device_without_bf16() -> None:
    # V100 has fp16 tensor cores and no bf16: 16-bit plans run at its fp16 peak (125 TFLOP/s dense).
    e = pm.llm.estimate("megatron-1.7b", ("dgx-v100", 2), tp=1, micro_batch=1, global_batch=16, dtype="fp16")
    peak = pm.hwdb.get("v100-sxm2-32gb").peak_tflops("fp16") * 1e12
    gpus = 16
    flops = e.raw["model_flops_per_step"]
    assert e.mfu == pytest.approx(flops / (e.step_time_s * gpus * peak), rel=1e-12)


def test_transcribed_megascale_rows_agree_with_their_iteration_times():
    # MegaScale Table 2 prints both MFU and iteration time; the transcription is checked by recomputing one from
    # the other with the 72-formula (Narayanan et al. 2021 eq. 3) per token, 175B (l 96, h 12288, s 2048,
    # V 64000), global batch 6144, A100 312 TFLOP/s: 72 l h^2 (1 + s/(6h) + V/(12 l h)) = 1.0774e12 FLOP/token.
    # The Megatron-LM rows match it; the MegaScale-framework rows count about 1.1% fewer FLOPs (their model
    # changes, e.g. sliding-window attention), the same factor on every row.
    l_, h, s, v = 96, 12288, 2048, 64000
    per_token = 72 * l_ * h**2 * (1 + s / (6 * h) + v / (12 * l_ * h))
    pub = pm.validation.published()
    rows = pub.filter(pl.col("params").str.contains('"global_batch":6144') & (pl.col("metric") == "MFU"))
    assert rows.height == 8
    ratios = []
    for r in rows.iter_rows(named=True):
        p = json.loads(r["params"])
        mfu = 100 * per_token * 6144 * s / (p["iteration_s"] * p["gpus"] * 312e12)
        if p["framework"] == "Megatron-LM":
            assert mfu == pytest.approx(r["value"], abs=0.1), p
        else:
            ratios.append(r["value"] / mfu)
    assert len(ratios) == 4 and 0.98 < min(ratios) and max(ratios) - min(ratios) < 0.003


def test_calibration_factors_split_matrix_and_memory_bound_kernels() -> None:
    # Kernel time = compute_time_scale * (GEMMs, attention) + memory_time_scale * (norms, activations, softmax,
    # loss), so on one GPU (no communication) the forward time is linear in the two factors and each part is
    # recovered from one change: f(1, 1) = G + M, f(2, 1) - f(1, 1) = G, f(1, 2) - f(1, 1) = M.
    def fwd(model: str, k: float, km: float) -> float:
        calib = {"compute_time_scale": k, "memory_time_scale": km, "comm_bandwidth_scale": 1.0}
        return pm.llm.estimate(model, A100_1, tp=1, dp=1, micro_batch=1, global_batch=1, calib=calib, recompute="none",
                               flash_attention=False).raw["forward"]  # fmt: skip

    shares = []
    for model in ("megatron-1.7b", "megatron-7.5b"):
        base = fwd(model, 1.0, 1.0)
        g, mem = fwd(model, 2.0, 1.0) - base, fwd(model, 1.0, 2.0) - base
        assert g > 0 and mem > 0
        assert g + mem == pytest.approx(base, rel=1e-9)
        assert fwd(model, 2.0, 2.0) == pytest.approx(2 * base, rel=1e-9)
        shares.append(mem / base)
    # GEMM FLOPs grow as h^2 per token, memory-bound bytes as h (and the s^2 softmax per head): the memory-bound
    # share falls from hidden 2304 to 4096.
    assert shares[1] < shares[0]


def test_calibration_defaults_and_misspelled_keys() -> None:
    c = pm.llm.calibration("dgx-a100")
    assert c["memory_time_scale"] == c["compute_time_scale"]  # fitted tied (validation/llm.py)
    assert pm.llm.calibration("dgx-v100")["memory_time_scale"] == 1.0  # uncalibrated system
    with pytest.raises(InvalidArgumentError, match="unknown key 'memory_scale'.*'memory_time_scale'"):
        pm.llm.estimate("megatron-1.7b", A100_1, tp=1, dp=1, calib={"memory_scale": 1.1})
    with pytest.raises(
        InvalidArgumentError, match=r"calib\['network_bandwidth_scale'\]`: is 'x'; expected a number"
    ):
        pm.llm.estimate("megatron-1.7b", A100_1, tp=1, dp=1, calib={"network_bandwidth_scale": "x"})
    with pytest.raises(
        InvalidArgumentError, match="network_bandwidth_scale.*is nan; expected a finite number"
    ):
        pm.llm.estimate("megatron-1.7b", A100_1, tp=1, dp=1, calib={"network_bandwidth_scale": float("nan")})
    # A factor past 100x either way says the model is wrong, not the calibration; and no factor may make the
    # step faster than the GPUs' peak (issue 15: compute_time_scale 0.1 gave MFU 2.59).
    with pytest.raises(InvalidArgumentError, match=r"compute_time_scale.*>= 0.01 and <= 100"):
        pm.llm.estimate("megatron-1.7b", A100_1, tp=1, dp=1, calib={"compute_time_scale": 1e-3})
    with pytest.raises(InvalidArgumentError, match="faster than the GPUs' peak"):
        pm.llm.estimate(
            "megatron-1.7b", A100_1, tp=1, dp=1, global_batch=8, calib={"compute_time_scale": 0.1}
        )


def test_cudnn_attention_plans() -> None:
    # Transformer Engine runs cuDNN's fused attention on Hopper: a plan can ask for it where the device has the
    # measured figure; the step gets faster only by the attention share, and memory does not change.
    plan: dict[str, Any] = dict(tp=8, dp=1, micro_batch=1, global_batch=8, sp=True, recompute="selective")
    m = pm.llm.model({"hidden": 8192, "heads": 64, "layers": 8, "seq_len": 16384, "vocab": 32000})
    flash = pm.llm.estimate(m, ("dgx-h100", 1), **plan)
    cudnn = pm.llm.estimate(m, ("dgx-h100", 1), cudnn_attention=True, **plan)
    assert 0.6 * flash.step_time_s < cudnn.step_time_s < flash.step_time_s
    assert cudnn.memory_per_gpu_bytes == flash.memory_per_gpu_bytes
    with pytest.raises(UnsupportedError, match="cudnn_attention.*attention_cudnn_fraction"):
        pm.llm.estimate(m, A100_1, cudnn_attention=True, **plan)
    with pytest.raises(InvalidArgumentError, match="cudnn_attention.*flash_attention=True"):
        pm.llm.estimate(m, ("dgx-h100", 1), cudnn_attention=True, flash_attention=False, **plan)


def test_output_layer_uses_megatrons_padded_vocabulary() -> None:
    # Megatron-LM pads the vocabulary to a multiple of make-vocab-size-divisible-by (128) x tp
    # (`_vocab_size_with_padding`): GPT-3's 50,257 tokens are 51,200 rows at TP 8, so the forward and backward
    # kernels equal those of a 51,200-token model exactly, and one token more (51,201) pads to 52,224.
    def kernels(vocab: int, multiple: int = 128) -> tuple[float, float]:
        e = pm.llm.estimate(
            pm.llm.model("gpt3-175b", layers=8, vocab=vocab), ("dgx-h100", 1), tp=8, pp=1, global_batch=8,
            vocab_multiple=multiple,
        )  # fmt: skip
        parts = dict(e.breakdown.select(["component", "time_s"]).iter_rows())
        return parts["forward"], parts["backward"]

    assert kernels(50257) == kernels(51200)
    assert all(x > y for x, y in zip(kernels(51201), kernels(51200), strict=True))
    # Unpadded (plain PyTorch): 50,257 / 8 columns per rank, an unaligned output GEMM, slower than the padded one.
    assert all(x > y for x, y in zip(kernels(50257, multiple=1), kernels(50257), strict=True))


def test_search_holds_vocab_multiple_fixed_like_estimate() -> None:
    # The search takes `vocab_multiple` as a fixed plan option: each plan's step time is `estimate`'s with the same
    # option, and the unpadded vocabulary (1) is slower than Megatron's padding (128) for GPT-3's 50,257 tokens.
    model, cluster = pm.llm.model("gpt3-175b", layers=8), ("dgx-h100", 1)
    times = {}
    for vm in (1, 128):
        best = pm.llm.search(model, cluster, 8, tp=[8], pp=[1], micro_batch=[1], zero=[0], recompute=["full"],
                             sp=[True], dp_overlap=False, tp_overlap=False, pp_overlap=False, offload_optimizer=False,
                             offload_activations=False, vocab_multiple=vm, top=1).row(0, named=True)  # fmt: skip
        e = pm.llm.estimate(model, cluster, tp=8, pp=1, global_batch=8, micro_batch=1, recompute="full", sp=True,
                            vocab_multiple=vm)  # fmt: skip
        assert best["step_time_s"] == pytest.approx(e.step_time_s, rel=1e-12)
        times[vm] = best["step_time_s"]
    assert times[1] > times[128]


def test_seq_len_keyword_is_the_model_at_that_length():
    # `seq_len=` on estimate/search prices the model at that sequence length, as pm.llm.model(m, seq_len=) does:
    # a step at 4096 tokens per sequence carries twice the tokens of one at 2048 and takes longer.
    short = pm.llm.estimate("llama2-7b", ("dgx-a100", 1), tp=1, pp=1, seq_len=2048)
    long = pm.llm.estimate("llama2-7b", ("dgx-a100", 1), tp=1, pp=1, seq_len=4096)
    same = pm.llm.estimate(pm.llm.model("llama2-7b", seq_len=4096), ("dgx-a100", 1), tp=1, pp=1)
    assert long.step_time_s == same.step_time_s and long.tokens_per_s == same.tokens_per_s
    assert long.step_time_s > short.step_time_s
    assert long.tokens_per_s * long.step_time_s == pytest.approx(2 * short.tokens_per_s * short.step_time_s)
    plans = pm.llm.search(
        "llama2-7b", ("dgx-a100", 1), 8, tp=[1], pp=[1], micro_batch=[1], seq_len=4096, top=1
    )
    ref = pm.llm.search(pm.llm.model("llama2-7b", seq_len=4096), ("dgx-a100", 1), 8, tp=[1], pp=[1],
                        micro_batch=[1], top=1)  # fmt: skip
    assert plans["step_time_s"].to_list() == ref["step_time_s"].to_list()
    with pytest.raises(pm.InvalidArgumentError, match="seq_len"):
        pm.llm.estimate("llama2-7b", ("dgx-a100", 1), seq_len=0)
