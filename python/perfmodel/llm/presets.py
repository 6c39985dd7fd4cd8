"""Model presets, each with its source. Field names follow :data:`FIELDS` (see :func:`perfmodel.llm.model`)."""

from __future__ import annotations

from typing import Any

_NARAYANAN = "Narayanan et al., 'Efficient Large-Scale Language Model Training on GPU Clusters Using Megatron-LM', SC'21 (arXiv:2104.04473), Table 1"
_GPT = {
    "vocab": 51200,
    "seq_len": 2048,
    "glu": False,
    "bias": True,
    "learned_pos": True,
    "tied_embeddings": True,
}
_LLAMA = {"glu": True, "bias": False, "learned_pos": False, "tied_embeddings": False}


def _hf(repo: str) -> str:
    """Source string for a shape read from a model's published config.json on the Hugging Face Hub."""
    return f"{repo} config.json, https://huggingface.co/{repo}/blob/main/config.json"


_LLAMA31_8B = {
    "hidden": 4096,
    "heads": 32,
    "kv_heads": 8,
    "layers": 32,
    "ffn_hidden": 14336,
    "seq_len": 131072,
    "vocab": 128256,
    **_LLAMA,
}
_LLAMA31_70B = {
    "hidden": 8192,
    "heads": 64,
    "kv_heads": 8,
    "layers": 80,
    "ffn_hidden": 28672,
    "seq_len": 131072,
    "vocab": 128256,
    **_LLAMA,
}
#: Llama-4 Scout and Maverick share the text model's shape (text_config): hidden 5120, 48 layers, 40 heads of 128,
#: 8 KV heads, expert width intermediate_size 8192, dense width intermediate_size_mlp 16384, top-1 routing.
_LLAMA4 = {
    "hidden": 5120,
    "heads": 40,
    "kv_heads": 8,
    "head_dim": 128,
    "layers": 48,
    "ffn_hidden": 16384,
    "moe_ffn_hidden": 8192,
    "top_k": 1,
    "shared_experts": 1,
    "vocab": 202048,
    **_LLAMA,
}


def _megatron(h: int, a: int, layers: int) -> dict[str, Any]:
    return {"hidden": h, "heads": a, "layers": layers, **_GPT, "source": _NARAYANAN}


#: Preset id -> model fields and ``source``.
PRESETS: dict[str, dict[str, Any]] = {
    "gpt3-175b": {
        "hidden": 12288,
        "heads": 96,
        "layers": 96,
        "seq_len": 2048,
        "vocab": 50257,
        "glu": False,
        "bias": True,
        "learned_pos": True,
        "tied_embeddings": True,
        "source": "Brown et al., 'Language Models are Few-Shot Learners', arXiv:2005.14165, Table 2.1 (GPT-3 175B)",
    },
    "megatron-1.7b": _megatron(2304, 24, 24),
    "megatron-3.6b": _megatron(3072, 32, 30),
    "megatron-7.5b": _megatron(4096, 32, 36),
    "megatron-18b": _megatron(6144, 48, 40),
    "megatron-39b": _megatron(8192, 64, 48),
    "megatron-76b": _megatron(10240, 80, 60),
    "megatron-145b": _megatron(12288, 96, 80),
    "megatron-310b": _megatron(16384, 128, 96),
    "megatron-530b": _megatron(20480, 128, 105),
    "megatron-1t": _megatron(25600, 160, 128),
    "turing-nlg-530b": {
        "hidden": 20480,
        "heads": 128,
        "layers": 105,
        **_GPT,
        "source": "Smith et al., 'Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B', arXiv:2201.11990, §3 (105 layers, hidden 20480, 128 heads, seq 2048)",
    },
    "frontier-gpt-20b": {
        "hidden": 6144,
        "heads": 64,
        "layers": 44,
        "seq_len": 2048,
        "vocab": 50432,
        "glu": False,
        "bias": True,
        "learned_pos": False,
        "tied_embeddings": False,
        "source": "20B GPT of Xu et al., arXiv:2501.04266 (Frontier); its shape is not in the abstract, so the GPT-NeoX-20B shape is assumed (Black et al., arXiv:2204.06745, Table 1: 44 layers, hidden 6144, 64 heads)",
    },
    "llama2-7b": {
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 32,
        "layers": 32,
        "ffn_hidden": 11008,
        "seq_len": 4096,
        "vocab": 32000,
        **_LLAMA,
        "source": "Touvron et al., 'Llama 2', arXiv:2307.09288; meta-llama/Llama-2-7b-hf config.json",
    },
    "llama2-70b": {
        "hidden": 8192,
        "heads": 64,
        "kv_heads": 8,
        "layers": 80,
        "ffn_hidden": 28672,
        "seq_len": 4096,
        "vocab": 32000,
        **_LLAMA,
        "source": "Touvron et al., 'Llama 2', arXiv:2307.09288; meta-llama/Llama-2-70b-hf config.json",
    },
    "llama3-8b": {
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 8,
        "layers": 32,
        "ffn_hidden": 14336,
        "seq_len": 8192,
        "vocab": 128256,
        **_LLAMA,
        "source": "Llama Team, 'The Llama 3 Herd of Models', arXiv:2407.21783, Table 3",
    },
    "llama3-70b": {
        "hidden": 8192,
        "heads": 64,
        "kv_heads": 8,
        "layers": 80,
        "ffn_hidden": 28672,
        "seq_len": 8192,
        "vocab": 128256,
        **_LLAMA,
        "source": "Llama Team, 'The Llama 3 Herd of Models', arXiv:2407.21783, Table 3",
    },
    "llama3-405b": {
        "hidden": 16384,
        "heads": 128,
        "kv_heads": 8,
        "layers": 126,
        "ffn_hidden": 53248,
        "seq_len": 8192,
        "vocab": 128256,
        **_LLAMA,
        "source": "Llama Team, 'The Llama 3 Herd of Models', arXiv:2407.21783, Table 3",
    },
    "mixtral-8x7b": {
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 8,
        "layers": 32,
        "ffn_hidden": 14336,
        "seq_len": 4096,
        "vocab": 32000,
        "experts": 8,
        "top_k": 2,
        **_LLAMA,
        "source": "Jiang et al., 'Mixtral of Experts', arXiv:2401.04088, Table 1 (seq_len set to 4096 for training; the model supports 32768)",
    },
    # ---- serving models: shapes from each model's published Hugging Face config.json ----
    "llama2-13b": {
        "hidden": 5120,
        "heads": 40,
        "kv_heads": 40,
        "layers": 40,
        "ffn_hidden": 13824,
        "seq_len": 4096,
        "vocab": 32000,
        **_LLAMA,
        "source": _hf("meta-llama/Llama-2-13b-hf"),
    },
    "llama3.1-8b": {**_LLAMA31_8B, "source": _hf("meta-llama/Llama-3.1-8B")},
    "llama3.1-70b": {**_LLAMA31_70B, "source": _hf("meta-llama/Llama-3.1-70B")},
    "llama3.1-405b": {
        "hidden": 16384,
        "heads": 128,
        "kv_heads": 8,
        "layers": 126,
        "ffn_hidden": 53248,
        "seq_len": 131072,
        "vocab": 128256,
        **_LLAMA,
        "source": _hf("meta-llama/Llama-3.1-405B"),
    },
    "llama3.3-70b": {
        **_LLAMA31_70B,
        "source": _hf("meta-llama/Llama-3.3-70B-Instruct") + " (the Llama-3.1-70B shape)",
    },
    "qwen3-8b": {
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 8,
        "head_dim": 128,
        "layers": 36,
        "ffn_hidden": 12288,
        "seq_len": 40960,
        "vocab": 151936,
        **_LLAMA,
        "source": _hf("Qwen/Qwen3-8B"),
    },
    "qwen3-32b": {
        "hidden": 5120,
        "heads": 64,
        "kv_heads": 8,
        "head_dim": 128,
        "layers": 64,
        "ffn_hidden": 25600,
        "seq_len": 40960,
        "vocab": 151936,
        **_LLAMA,
        "source": _hf("Qwen/Qwen3-32B") + " (q width 64 x 128 = 8192 > hidden 5120)",
    },
    "qwen3-235b-a22b": {
        "hidden": 4096,
        "heads": 64,
        "kv_heads": 4,
        "head_dim": 128,
        "layers": 94,
        "ffn_hidden": 12288,
        "moe_ffn_hidden": 1536,
        "experts": 128,
        "top_k": 8,
        "seq_len": 40960,
        "vocab": 151936,
        **_LLAMA,
        "source": _hf("Qwen/Qwen3-235B-A22B")
        + " (every layer MoE: decoder_sparse_step 1, mlp_only_layers []; intermediate_size unused)",
    },
    "llama4-scout": {
        **_LLAMA4,
        "experts": 16,
        "seq_len": 10485760,
        "source": _hf("meta-llama/Llama-4-Scout-17B-16E")
        + " text_config (every layer MoE, interleave_moe_layer_step 1; one shared expert per MoE layer as in"
        " transformers' Llama4TextMoe; the vision encoder is not modelled)",
    },
    "llama4-maverick": {
        **_LLAMA4,
        "experts": 128,
        "moe_layer_step": 2,
        "seq_len": 1048576,
        "source": _hf("meta-llama/Llama-4-Maverick-17B-128E")
        + " text_config (interleave_moe_layer_step 2: 24 of 48 layers MoE, the others a dense MLP of"
        " intermediate_size_mlp 16384; one shared expert per MoE layer; the vision encoder is not modelled)",
    },
    "deepseek-v3": {
        "hidden": 7168,
        "heads": 128,
        "kv_heads": 128,
        "layers": 61,
        "ffn_hidden": 18432,
        "moe_ffn_hidden": 2048,
        "experts": 256,
        "top_k": 8,
        "shared_experts": 1,
        "dense_layers": 3,
        "q_lora_rank": 1536,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
        "seq_len": 163840,
        "vocab": 129280,
        **_LLAMA,
        "source": _hf("deepseek-ai/DeepSeek-V3")
        + "; DeepSeek-AI, 'DeepSeek-V3 Technical Report', arXiv:2412.19437, §4.2 (MLA, first_k_dense_replace 3,"
        " 1 shared + 256 routed experts, top-8; the multi-token-prediction module is not modelled)",
    },
    "gpt-j-6b": {
        "hidden": 4096,
        "heads": 16,
        "kv_heads": 16,
        "layers": 28,
        "ffn_hidden": 16384,
        "seq_len": 2048,
        "vocab": 50400,
        "glu": False,
        "bias": True,
        "learned_pos": False,
        "tied_embeddings": False,
        "source": _hf("EleutherAI/gpt-j-6b")
        + " (n_embd 4096, n_layer 28, n_head 16, n_inner null = 4 n_embd, rotary_dim 64). Approximation: GPT-J runs"
        " attention and MLP in parallel from one LayerNorm and has no attention biases; modelled as a sequential"
        " GPT block with biases (a few hundred thousand extra parameters, same FLOPs)",
    },
    "bloom-176b": {
        "hidden": 14336,
        "heads": 112,
        "kv_heads": 112,
        "layers": 70,
        "ffn_hidden": 57344,
        "seq_len": 2048,
        "vocab": 250880,
        "glu": False,
        "bias": True,
        "learned_pos": False,
        "tied_embeddings": True,
        "source": _hf("bigscience/bloom")
        + " (hidden_size 14336, n_layer 70, n_head 112, vocab 250880; ALiBi, no position table);"
        " sequence length 2048 from BigScience, 'BLOOM', arXiv:2211.05100, §3.2 (the config gives none)",
    },
    "mistral-large-2407": {
        "hidden": 12288,
        "heads": 96,
        "kv_heads": 8,
        "layers": 88,
        "ffn_hidden": 28672,
        "seq_len": 131072,
        "vocab": 32768,
        **_LLAMA,
        "source": _hf("mistralai/Mistral-Large-Instruct-2407")
        + " (hidden_size 12288, 88 layers, 96 heads of 128, 8 KV heads, intermediate_size 28672, vocab 32768,"
        " max_position_embeddings 131072, untied). The gated repository's config.json was not found in a"
        " public copy to check against; the values agree with third-party configs of the same shape and with"
        " the model card's 123B and 128k context",
    },
    "mixtral-8x22b": {
        "hidden": 6144,
        "heads": 48,
        "kv_heads": 8,
        "layers": 56,
        "ffn_hidden": 16384,
        "seq_len": 65536,
        "vocab": 32000,
        "experts": 8,
        "top_k": 2,
        **_LLAMA,
        "source": _hf("mistralai/Mixtral-8x22B-v0.1")
        + " (hidden_size 6144, 56 layers, 48 heads, 8 KV heads, 8 local experts of intermediate_size 16384,"
        " top-2, max_position_embeddings 65536, vocab 32000). Mixtral-8x22B-Instruct-v0.1 has the same shape"
        " with the v3 tokenizer's vocab 32768 (+9.4M parameters, 0.007 %)",
    },
    "falcon-180b": {
        "hidden": 14848,
        "heads": 232,
        "kv_heads": 8,
        "layers": 80,
        "ffn_hidden": 59392,
        "seq_len": 2048,
        "vocab": 65024,
        "glu": False,
        "bias": False,
        "learned_pos": False,
        "tied_embeddings": True,
        "source": _hf("tiiuae/falcon-180B")
        + " (hidden_size 14848, num_hidden_layers 80, num_attention_heads 232 of 64, num_kv_heads 8,"
        " new_decoder_architecture, parallel_attn, bias false, alibi false (rotary), vocab 65024; GeLU MLP of"
        " 4 x hidden; no max_position_embeddings, so FalconConfig's 2048, the training length; no"
        " tie_word_embeddings, so transformers ties lm_head to the embeddings). Approximation: Falcon runs"
        " attention and MLP in parallel (ln_attn and ln_mlp on the same input); modelled as a sequential block"
        " (same parameters and FLOPs)",
    },
}

#: Published total parameter counts (billions) a test checks the formulas against.
PUBLISHED_PARAMS_B: dict[str, tuple[float, str]] = {
    "megatron-1.7b": (1.7, _NARAYANAN),
    "megatron-3.6b": (3.6, _NARAYANAN),
    "megatron-7.5b": (7.5, _NARAYANAN),
    "megatron-18b": (18.4, _NARAYANAN),
    "megatron-39b": (39.1, _NARAYANAN),
    "megatron-76b": (76.1, _NARAYANAN),
    "megatron-145b": (145.6, _NARAYANAN),
    "megatron-310b": (310.1, _NARAYANAN),
    "megatron-530b": (529.6, _NARAYANAN),
    "megatron-1t": (1008.0, _NARAYANAN),
    "gpt3-175b": (175.0, "Brown et al. 2020, Table 2.1"),
    "llama2-7b": (6.74, "Llama 2 paper / HF model card (6.74B)"),
    "llama2-70b": (68.98, "HF model card meta-llama/Llama-2-70b-hf (68.98B)"),
    "llama3-8b": (8.03, "HF model card meta-llama/Meta-Llama-3-8B (8.03B)"),
    "llama3-70b": (70.55, "HF model card meta-llama/Meta-Llama-3-70B (70.55B)"),
    "llama3-405b": (405.9, "Llama 3 paper: 405B; HF model card 405.85B"),
    "mixtral-8x7b": (46.7, "Mixtral paper: 47B total (46.7B), 13B active (12.9B)"),
    "llama2-13b": (13.0, "HF model card meta-llama/Llama-2-13b-hf (13B; 13.0B in its safetensors metadata)"),
    "llama3.1-8b": (8.03, "HF model card meta-llama/Llama-3.1-8B (8.03B in its safetensors metadata)"),
    "llama3.1-70b": (70.6, "HF model card meta-llama/Llama-3.1-70B (70.6B in its safetensors metadata)"),
    "llama3.1-405b": (
        405.9,
        "HF model card meta-llama/Llama-3.1-405B (406B; 405.85B in its safetensors metadata)",
    ),
    "llama3.3-70b": (
        70.6,
        "HF model card meta-llama/Llama-3.3-70B-Instruct (70.6B in its safetensors metadata)",
    ),
    "qwen3-8b": (8.2, "HF model card Qwen/Qwen3-8B: 'Number of Parameters: 8.2B'"),
    "qwen3-32b": (32.8, "HF model card Qwen/Qwen3-32B: 'Number of Parameters: 32.8B'"),
    "qwen3-235b-a22b": (235.0, "HF model card Qwen/Qwen3-235B-A22B: '235B in total and 22B activated'"),
    # Meta's totals are for the text model; the vision encoder (under 1B) is outside our count and theirs is
    # rounded, so the check has the 1.5% tolerance of the others.
    "llama4-scout": (109.0, "HF model card meta-llama/Llama-4-Scout-17B-16E: 17B activated, 109B total"),
    "llama4-maverick": (
        400.0,
        "HF model card meta-llama/Llama-4-Maverick-17B-128E: 17B activated, 400B total",
    ),
    # 671B excludes the 14B multi-token-prediction module (the Hub's 685B includes it).
    "deepseek-v3": (
        671.0,
        "DeepSeek-V3 Technical Report arXiv:2412.19437 and HF model card: 671B total, 37B activated",
    ),
    "gpt-j-6b": (6.053381344, "HF model card EleutherAI/gpt-j-6b: n_parameters 6,053,381,344"),
    "bloom-176b": (176.247271424, "HF model card bigscience/bloom: 176,247,271,424 parameters"),
    "mistral-large-2407": (123.0, "HF model card mistralai/Mistral-Large-Instruct-2407: 123B parameters"),
    "mixtral-8x22b": (
        141.0,
        "HF model card mistralai/Mixtral-8x22B-v0.1 and Mistral AI: 141B total, 39B active",
    ),
    # Rounded; ours (tied embeddings, as transformers loads it) is 178.6B, -0.8 %.
    "falcon-180b": (180.0, "HF model card tiiuae/falcon-180B: 'a 180B parameters causal decoder-only model'"),
}

#: Published activated-parameter counts (billions) of the MoE presets.
PUBLISHED_ACTIVE_PARAMS_B: dict[str, tuple[float, str]] = {
    "qwen3-235b-a22b": (22.0, "HF model card Qwen/Qwen3-235B-A22B: 22B activated"),
    "llama4-scout": (17.0, "HF model card meta-llama/Llama-4-Scout-17B-16E: 17B activated"),
    "llama4-maverick": (17.0, "HF model card meta-llama/Llama-4-Maverick-17B-128E: 17B activated"),
    "deepseek-v3": (37.0, "DeepSeek-V3 Technical Report arXiv:2412.19437: 37B activated per token"),
    "mixtral-8x22b": (
        39.0,
        "Mistral AI, 'Cheaper, Better, Faster, Stronger' (Mixtral 8x22B): 39B active of 141B",
    ),
}
