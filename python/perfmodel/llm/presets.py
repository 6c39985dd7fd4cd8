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
}
