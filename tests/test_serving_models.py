"""Serving-model presets: shapes from published config.json files, parameter counts against the model cards,
the HF config loader, and the new model fields (explicit head width, MLA, leading dense and interleaved MoE
layers).

Published counts and their sources: ``perfmodel.llm.presets.PUBLISHED_PARAMS_B``. Configs: trimmed copies of
each model's Hugging Face config.json in ``tests/data/hf_configs/`` (source URL in their ``_source`` key).
"""

from __future__ import annotations

import json
from pathlib import Path

import perfmodel as pm
import pytest
from perfmodel.errors import InvalidArgumentError, ModelError
from perfmodel.llm.presets import PRESETS, PUBLISHED_ACTIVE_PARAMS_B, PUBLISHED_PARAMS_B

CONFIGS = Path(__file__).resolve().parent / "data" / "hf_configs"
SERVING = (
    "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "llama3.3-70b", "qwen3-8b", "qwen3-32b", "qwen3-235b-a22b",
    "llama4-scout", "llama4-maverick", "deepseek-v3", "gpt-j-6b", "bloom-176b", "llama2-13b",
    "mistral-large-2407", "mixtral-8x22b", "falcon-180b",
)  # fmt: skip


@pytest.mark.parametrize("preset", SERVING)
def test_total_parameters_match_the_model_card(preset: str) -> None:
    # Within 1.5 % of the published total. Known gaps, all inside it: Qwen3's per-head q/k RMSNorms (2 x 128
    # per layer) are not counted (-0.1 %); Llama-4's published totals include the vision encoder (a 34-layer,
    # width-1408 ViT, about 0.8B), which is not modelled (Scout -1.1 %); DeepSeek-V3's 671B already excludes the
    # multi-token-prediction module, as ours does; GPT-J is modelled with attention biases and two LayerNorms
    # per layer (+0.2M of 6.05B); Falcon-180B's card rounds to 180B (ours, embeddings tied: 178.6B, -0.8 %).
    published, _source = PUBLISHED_PARAMS_B[preset]
    assert pm.llm.model(preset).params / 1e9 == pytest.approx(published, rel=0.015)


@pytest.mark.parametrize("preset", sorted(PUBLISHED_ACTIVE_PARAMS_B))
def test_active_parameters_match_the_model_card(preset: str) -> None:
    # The cards round the activated count to whole billions (17B, 22B, 37B); ours is 17.2, 22.2 and 37.6: the
    # embeddings and output layer count as active here; a 4 % band covers the rounding.
    published, _source = PUBLISHED_ACTIVE_PARAMS_B[preset]
    assert pm.llm.model(preset).active_params / 1e9 == pytest.approx(published, rel=0.04)


@pytest.mark.parametrize("preset", SERVING)
def test_every_serving_preset_is_sourced_from_its_config(preset: str) -> None:
    assert "config.json" in PRESETS[preset]["source"]
    assert preset in PUBLISHED_PARAMS_B


@pytest.mark.parametrize("preset", SERVING)
def test_published_config_loads_to_the_preset(preset: str) -> None:
    path = CONFIGS / f"{preset}.json"
    assert json.loads(path.read_text())["_source"].startswith("https://huggingface.co/")
    loaded = pm.llm.model(str(path))
    expected = pm.llm.model(preset)
    assert loaded.fields == expected.fields
    assert loaded.params == expected.params


def test_deepseek_v3_mla_and_moe_counts() -> None:
    # DeepSeek-V3 config.json: hidden 7168, 128 heads, q_lora 1536, kv_lora 512, rope 64, nope 128, v 128.
    h, a = 7168, 128
    attn = (
        (h * 1536 + 1536 * a * (128 + 64) + 1536) + h * (512 + 64) + 512 + 512 * a * (128 + 128) + a * 128 * h
    )
    expert = 3 * h * 2048
    dense_mlp = 3 * h * 18432
    norms = 2 * h
    moe_layer = attn + norms + 256 * expert + expert + h * 256  # routed, 1 shared, router
    dense_layer = attn + norms + dense_mlp
    total = 3 * dense_layer + 58 * moe_layer + 2 * 129280 * h + h
    m = pm.llm.model("deepseek-v3")
    assert m.params == pytest.approx(total, rel=1e-12)
    active = 3 * dense_layer + 58 * (moe_layer - 248 * expert) + 2 * 129280 * h + h
    assert m.active_params == pytest.approx(active, rel=1e-12)


def test_maverick_alternates_dense_and_moe_layers() -> None:
    # Llama-4-Maverick text_config: interleave_moe_layer_step 2, so 24 of 48 layers are MoE (128 experts of
    # width 8192, one shared expert, a router) and 24 have a dense MLP of intermediate_size_mlp 16384.
    h, v = 5120, 202048
    attn = h * (5120 + 2 * 8 * 128) + 5120 * h
    expert = 3 * h * 8192
    moe = 128 * expert + expert + h * 128
    total = 48 * (attn + 2 * h) + 24 * moe + 24 * 3 * h * 16384 + 2 * v * h + h
    m = pm.llm.model("llama4-maverick")
    assert m.params == pytest.approx(total, rel=1e-12)
    active = 48 * (attn + 2 * h) + 24 * (2 * expert + h * 128) + 24 * 3 * h * 16384 + 2 * v * h + h
    assert m.active_params == pytest.approx(active, rel=1e-12)
    # Forward GEMM FLOPs per token: 2 per weight a token touches (routed top-1, shared, router; dense MLPs).
    s = 1048576
    fwd = (
        48 * 2 * attn
        + 24 * 2 * (2 * expert + h * 128)
        + 24 * 2 * 3 * h * 16384
        + 48 * 4 * s * 5120
        + 2 * h * v
    )
    assert m.flops_per_token() == pytest.approx(3 * fwd, rel=1e-12)


def test_qwen3_query_width_exceeds_hidden() -> None:
    # Qwen3-32B: 64 heads x head_dim 128 = 8192 query width on hidden 5120; K, V: 8 x 128 each.
    m = pm.llm.model("qwen3-32b")
    h, q, kv = 5120, 64 * 128, 2 * 8 * 128
    per_layer = h * (q + kv) + q * h + 3 * h * 25600 + 2 * h
    assert m.params == pytest.approx(64 * per_layer + 2 * 151936 * h + h, rel=1e-12)
    # Forward FLOPs per token: 2 per weight plus the attention core over the full context, 4 s q per layer.
    s = 40960
    fwd = 64 * (2 * (h * (q + kv) + q * h + 3 * h * 25600) + 4 * s * q) + 2 * h * 151936
    assert m.flops_per_token() == pytest.approx(3 * fwd, rel=1e-12)


def test_head_dim_equal_to_hidden_over_heads_changes_nothing() -> None:
    base = pm.llm.model("llama3-8b")
    assert pm.llm.model("llama3-8b", head_dim=128).params == base.params


def test_new_fields_are_checked() -> None:
    with pytest.raises(ModelError, match="dense_layers"):
        pm.llm.model("deepseek-v3", dense_layers=61)
    with pytest.raises(ModelError, match="v_head_dim"):
        pm.llm.model("deepseek-v3", v_head_dim=0)
    with pytest.raises(InvalidArgumentError, match="moe_layer_step"):
        pm.llm.model("llama4-maverick", moe_layer_step=0)
    with pytest.raises(InvalidArgumentError, match="head_dim"):
        pm.llm.model("qwen3-8b", head_dim=127.5)


def test_config_with_a_bad_value_names_its_key(tmp_path: Path) -> None:
    cfg = json.loads((CONFIGS / "qwen3-8b.json").read_text())
    cfg["head_dim"] = "128"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="`head_dim`"):
        pm.llm.model(str(path))
    del cfg["head_dim"], cfg["hidden_size"]
    path.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="hidden_size"):
        pm.llm.model(str(path))
