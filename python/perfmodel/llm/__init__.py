"""LLM training: models, plans, step time, memory and plan search.

>>> import perfmodel as pm
>>> m = pm.llm.model("gpt3-175b")
>>> round(m.params / 1e9, 1)
174.6
>>> e = pm.llm.estimate(m, ("dgx-a100", 128), tp=8, pp=16, global_batch=1536, micro_batch=1, recompute="full")
>>> 0.2 < e.mfu < 0.7
True
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import _check as check
from .. import _core, hwdb
from .._api import keyword_options
from .._display import Result
from ..errors import InvalidArgumentError, ModelError, UnsupportedError
from .presets import PRESETS, PUBLISHED_PARAMS_B

__all__ = [
    "PRESETS",
    "PUBLISHED_PARAMS_B",
    "Model",
    "Estimate",
    "SearchResult",
    "model",
    "presets",
    "estimate",
    "search",
    "search_full",
    "calibration",
    "layer_activation_bytes",
    "RECOMPUTE",
    "PlacedEstimate",
    "compare_placements",
    "Sizing",
    "sizing",
    "sizing_sweep",
    "sizing_rules",
]

#: Recompute names in code order.
RECOMPUTE: tuple[str, ...] = ("none", "selective", "full")
#: Rank orders of a plan's groups, innermost first (the engine's codes 0, 1): Megatron-core's default
#: ``tp-cp-ep-dp-pp`` and its ``use_tp_pp_dp_mapping`` order ``tp-cp-ep-pp-dp`` (NeMo's ``TP_PP_DP_MAPPING``).
RANK_ORDERS: tuple[str, ...] = ("tp-cp-dp-pp", "tp-cp-pp-dp")
#: Which kernels of a training step replay from CUDA graphs: ``"none"`` (eager: Megatron-LM's and NeMo's default,
#: ``enable_cuda_graph`` off), ``"layer"`` (each transformer layer captured, Transformer Engine
#: ``make_graphed_callables``; the MLPerf configs' ``LAYER_CUDA_GRAPH=True``), ``"full"`` (the whole step).
CUDA_GRAPHS: tuple[str, ...] = ("none", "layer", "full")
_FIELDS = (
    "hidden", "layers", "heads", "kv_heads", "ffn_hidden", "glu", "seq_len", "vocab",
    "experts", "top_k", "shared_experts", "moe_ffn_hidden", "bias", "learned_pos", "tied_embeddings",
    "head_dim", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
    "dense_layers", "moe_layer_step",
)  # fmt: skip


@dataclass(frozen=True)
class Model(Result):
    """A decoder-only transformer (dense or MoE). Build it with :func:`model`.

    Fields read as attributes (``m.hidden``, ``m.layers``...; counts, floats as the engine takes them).

    Attributes
    ----------
    name : str
        The preset id, the dict's ``name`` or the config's ``_name_or_path`` (``"custom"`` otherwise).
    fields : dict of str to float
        The model's fields (:func:`model` lists them), booleans as 0/1.
    source : str
        Where the shape comes from (the preset's citation, the config path).
    params : float
        Total parameters (Narayanan et al. formula for GPT shapes).
    active_params : float
        Parameters a token touches (MoE: top-k experts), equal to ``params`` for a dense model.

    Examples
    --------
    >>> import perfmodel as pm
    >>> m = pm.llm.model("llama3-8b")
    >>> m
    Model('llama3-8b', 8.03B params)
    >>> int(m.hidden), int(m.layers), int(m.kv_heads)
    (4096, 32, 8)
    >>> f"{m.flops_per_token() / 1e9:.1f} GFLOP/token"
    '57.9 GFLOP/token'
    """

    name: str
    fields: dict[str, float]
    source: str = ""
    _stats: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    #: The engine's resolved model (made on first use; see :func:`_model_handle`).
    _handle: Any = field(default=None, repr=False, compare=False)

    def __getattr__(self, key: str) -> Any:
        f = self.__dict__.get("fields", {})
        if key in f:
            return f[key]
        raise AttributeError(key)

    @property
    def params(self) -> float:
        """Total parameters (Narayanan et al. formula for GPT shapes)."""
        return self._stats["params"]

    @property
    def active_params(self) -> float:
        """Parameters a token touches (MoE: top-k experts)."""
        return self._stats["active_params"]

    def flops_per_token(self, recompute: str = "none") -> float:
        """Training FLOPs per token: model FLOPs (72-formula generalized) or hardware FLOPs with recompute.

        Parameters
        ----------
        recompute : str
            ``"none"`` (model FLOPs, default), ``"selective"`` or ``"full"`` (hardware FLOPs with that
            recompute).

        Returns
        -------
        float
            FLOPs per token of one training step (forward and backward).

        Examples
        --------
        >>> import perfmodel as pm
        >>> m = pm.llm.model("llama3-8b")
        >>> m.flops_per_token("full") > m.flops_per_token()
        True
        """
        if recompute == "none":
            return self._stats["model_flops_per_token"]
        if recompute in ("selective", "full"):
            return self._stats[f"hardware_flops_per_token_{recompute}"]
        raise InvalidArgumentError(
            f"argument `recompute`: is '{recompute}'; expected one of {list(RECOMPUTE)}"
        )

    def to_dict(self) -> dict[str, float]:
        return dict(self.fields)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, {self.params / 1e9:.2f}B params)"


def presets() -> list[str]:
    """The preset model ids, sorted.

    Returns
    -------
    list of str
        Ids :func:`model` accepts (shapes and citations in :data:`PRESETS`).

    Examples
    --------
    >>> import perfmodel as pm
    >>> "llama3-8b" in pm.llm.presets(), "gpt3-175b" in pm.llm.presets()
    (True, True)
    """
    return sorted(PRESETS)


#: HF config.json spellings of each field, first found wins (Llama/Qwen/DeepSeek, BLOOM ``n_embed``/``n_head``,
#: GPT-2/GPT-J ``n_embd``/``n_head``/``n_layer``/``n_positions``).
_HF_ALIASES: dict[str, tuple[str, ...]] = {
    "hidden": ("hidden_size", "n_embed", "n_embd"),
    "layers": ("num_hidden_layers", "n_layer"),
    "heads": ("num_attention_heads", "n_head"),
    "vocab": ("vocab_size",),
}


def _hf_int(cfg: dict[str, Any], key: str, path: Path) -> int:
    """``cfg[key]`` as a whole number, or a :class:`ModelError` naming the config key."""
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 0:
        raise ModelError(f"{path}: config.json key `{key}` is {v!r}; expected a whole number >= 0")
    return int(v)


def _hf_first(cfg: dict[str, Any], keys: Sequence[str], path: Path) -> int | None:
    for k in keys:
        if cfg.get(k) is not None:
            return _hf_int(cfg, k, path)
    return None


def _from_hf_config(path: Path) -> tuple[str, dict[str, Any]]:
    """Model fields from a HuggingFace ``config.json``: Llama 2/3/3.1/3.3, Mistral/Mixtral, Qwen3 (dense and
    MoE), Llama-4 (its ``text_config``), DeepSeek-V3 (MLA, MoE with leading dense layers), BLOOM, Falcon, GPT-J
    and GPT-2-style configs."""
    try:
        root = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read a HuggingFace config.json: {exc}") from exc
    if not isinstance(root, dict):
        raise ModelError(f"{path}: config.json is not a JSON object")
    # Llama-4 (and other multimodal configs) nest the language model under `text_config`; its own keys win.
    text = root.get("text_config")
    cfg = {**root, **text} if isinstance(text, dict) else root
    found = {f: _hf_first(cfg, keys, path) for f, keys in _HF_ALIASES.items()}
    missing = [keys[0] for f, keys in _HF_ALIASES.items() if found[f] is None]
    if missing:
        raise ModelError(
            f"{path}: config.json lacks {missing}; expected a decoder config "
            "(Llama/Mistral/Mixtral/Qwen3/Llama-4/DeepSeek-V3/BLOOM/GPT-J/GPT-2-style)"
        )
    hidden, heads = int(found["hidden"] or 0), int(found["heads"] or 0)
    model_type = str(cfg.get("model_type", ""))
    act = str(cfg.get("hidden_act", cfg.get("activation_function", "gelu")))
    gated = act in ("silu", "swiglu", "swish") or any(t in model_type for t in ("llama", "mistral"))
    # Rotary (Llama, GPT-J `rotary_dim`, Qwen, DeepSeek, Falcon) or ALiBi (BLOOM, Falcon `alibi`): no learned
    # position table.
    no_pos_table = gated or "rotary_dim" in cfg or model_type in ("gptj", "bloom", "falcon")
    d: dict[str, Any] = {
        "hidden": hidden,
        "layers": found["layers"],
        "heads": heads,
        # Falcon spells the KV head count `num_kv_heads` and the MLP width `ffn_hidden_size` (default 4 x hidden).
        "kv_heads": _hf_first(cfg, ("num_key_value_heads", "num_kv_heads"), path) or heads,
        "ffn_hidden": _hf_first(
            cfg, ("intermediate_size_mlp", "intermediate_size", "n_inner", "ffn_hidden_size"), path
        )
        or 4 * hidden,
        "vocab": found["vocab"],
        "seq_len": _hf_first(cfg, ("max_position_embeddings", "n_positions", "seq_length"), path) or 2048,
        "glu": gated,
        # GPT-J has biases on the MLP only; the flag puts them on attention too (a few thousand parameters).
        # Falcon says so in its own `bias` key.
        "bias": bool(cfg["bias"])
        if isinstance(cfg.get("bias"), bool)
        else bool(cfg.get("attention_bias", False)) or not gated,
        "learned_pos": not no_pos_table,
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", root.get("tie_word_embeddings", not gated))),
    }
    head_dim = _hf_first(cfg, ("head_dim",), path)
    kv_lora = _hf_first(cfg, ("kv_lora_rank",), path)
    if kv_lora:
        d["kv_lora_rank"] = kv_lora
        for k in ("q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
            v = _hf_first(cfg, (k,), path)
            if v:
                d[k] = v
    elif head_dim:
        d["head_dim"] = head_dim
    experts = _hf_first(cfg, ("n_routed_experts", "num_experts", "num_local_experts"), path) or 0
    if experts > 1:
        d["experts"] = experts
        d["top_k"] = _hf_first(cfg, ("num_experts_per_tok",), path) or 2
        if "intermediate_size_mlp" in cfg:
            # Llama-4: `intermediate_size` is the expert width, `intermediate_size_mlp` the dense layers'.
            d["moe_ffn_hidden"] = _hf_int(cfg, "intermediate_size", path)
        moe_ffn = _hf_first(cfg, ("moe_intermediate_size",), path)
        if moe_ffn:
            d["moe_ffn_hidden"] = moe_ffn
        # Llama-4's MoE block always has one shared expert (transformers Llama4TextMoe.shared_expert).
        shared = _hf_first(cfg, ("n_shared_experts",), path)
        if shared is None and model_type.startswith("llama4"):
            shared = 1
        if shared:
            d["shared_experts"] = shared
        dense = _hf_first(cfg, ("first_k_dense_replace",), path)
        if dense:
            d["dense_layers"] = dense
        step = _hf_first(cfg, ("interleave_moe_layer_step", "decoder_sparse_step", "moe_layer_freq"), path)
        if step and step > 1:
            d["moe_layer_step"] = step
    name = str(root.get("_name_or_path") or path.parent.name or "hf-config")
    return name, d


def model(preset_or_dict: str | dict[str, Any] | Model, **overrides: Any) -> Model:
    """A model from a preset id, a dict of fields, or a HuggingFace ``config.json`` path.

    Parameters
    ----------
    preset_or_dict : str, dict, pathlib.Path or Model
        A preset id (:func:`presets`), a dict of fields (with optional ``name`` and ``source``), the path of a
        HuggingFace ``config.json`` (Llama 2/3/3.1/3.3, Mistral/Mixtral, Qwen3, Llama-4, DeepSeek-V3, BLOOM,
        Falcon, GPT-J, GPT-2-style), or a model (copied).
    **overrides
        Fields replaced, by name. Fields: hidden, layers, heads, seq_len, vocab (required); kv_heads,
        ffn_hidden, glu, experts, top_k, shared_experts, moe_ffn_hidden, bias, learned_pos, tied_embeddings,
        head_dim (0: hidden / heads), the MLA widths q_lora_rank, kv_lora_rank, qk_rope_head_dim,
        qk_nope_head_dim, v_head_dim, and for MoE models dense_layers (leading dense-MLP layers) and
        moe_layer_step (every n-th later layer is MoE) (optional). Widths are elements, ``seq_len`` tokens,
        booleans True/False.

    Returns
    -------
    Model
        The model, with its parameter count.

    Raises
    ------
    perfmodel.ModelError
        An unknown preset (naming the closest) or an unreadable config.
    perfmodel.InvalidArgumentError
        An unknown field or a value that is not a number or bool.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.llm.model("llama2-7b").params / 1e9  # doctest: +ELLIPSIS
    6.738...
    >>> pm.llm.model("llama3-8b", layers=16)
    Model('llama3-8b', 4.54B params)
    >>> pm.llm.model({"hidden": 4096, "layers": 32, "heads": 32, "seq_len": 2048, "vocab": 50257})
    Model('custom', 6.66B params)
    """
    if isinstance(preset_or_dict, Model):
        name, d, source = preset_or_dict.name, dict(preset_or_dict.fields), preset_or_dict.source
    elif isinstance(preset_or_dict, dict):
        d = dict(preset_or_dict)
        name, source = str(d.pop("name", "custom")), str(d.pop("source", ""))
    elif isinstance(preset_or_dict, (str, Path)) and str(preset_or_dict).endswith(".json"):
        name, d = _from_hf_config(Path(preset_or_dict))
        source = f"HuggingFace config {preset_or_dict}"
    elif isinstance(preset_or_dict, str):
        key = preset_or_dict.strip().lower()
        if key not in PRESETS:
            import difflib

            close = difflib.get_close_matches(key, PRESETS, n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ModelError(
                f"unknown model preset '{preset_or_dict}'{hint} (presets: {', '.join(presets())})"
            )
        d = dict(PRESETS[key])
        name, source = key, str(d.pop("source"))
    else:
        raise InvalidArgumentError(
            f"argument `preset_or_dict`: expected a preset id, a dict or a config.json path, got {type(preset_or_dict).__name__}"
        )
    d.update(overrides)
    unknown = sorted(set(d) - set(_FIELDS))
    if unknown:
        raise InvalidArgumentError(
            f"argument `{unknown[0]}`: is not a model field; expected some of {list(_FIELDS)}"
        )
    nums: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, bool):
            nums[k] = 1.0 if v else 0.0
        elif isinstance(v, (int, float)):
            nums[k] = float(v)
        else:
            raise InvalidArgumentError(f"argument `{k}`: expected a number or bool, got {v!r}")
    stats = _core.llm_model_stats(nums)
    return Model(name=name, fields=nums, source=source, _stats=stats)


def layer_activation_bytes(
    model: Model | str | dict[str, Any],
    tp: int = 1,
    sp: bool = False,
    recompute: str = "none",
    micro_batch: int = 1,
    cp: int = 1,
    flash_attention: bool = False,
) -> float:
    """Activation bytes of one transformer layer for one micro-batch, per GPU.

    Korthikanti et al. 2022, Table 2, explicit attention; with ``flash_attention=True`` the attention scores
    are not stored.

    Parameters
    ----------
    model : Model, str or dict
        A model, preset id or dict of fields.
    tp : int
        Tensor-parallel degree (default 1).
    sp : bool
        Sequence parallelism (default False).
    recompute : str
        ``"none"`` (default), ``"selective"`` or ``"full"``.
    micro_batch : int
        Sequences per micro-batch (default 1).
    cp : int
        Context-parallel degree (default 1).
    flash_attention : bool
        Attention scores not stored (default False: Korthikanti's explicit attention).

    Returns
    -------
    float
        Bytes of activations one layer stores for the backward pass, per GPU.

    Examples
    --------
    >>> import perfmodel as pm
    >>> round(pm.llm.layer_activation_bytes("gpt3-175b", tp=8, sp=True, recompute="selective") / 1e9, 3)
    0.107
    """
    m = model if isinstance(model, Model) else globals()["model"](model)
    plan = _plan_numbers(
        {
            "tp": tp,
            "sp": sp,
            "recompute": recompute,
            "micro_batch": micro_batch,
            "cp": cp,
            "flash_attention": flash_attention,
        }
    )
    return float(_core.llm_layer_activation_bytes(m.fields, plan))


# ---- cluster and calibration ----------------------------------------------------------------------------


def calibration(system: str | hwdb.Spec) -> dict[str, Any]:
    """The per-system calibration, from the system's hwdb ``[calibration]`` table.

    A system without the table is uncalibrated (all 1). Refit: ``tools/calibrate.py --llm``.

    Parameters
    ----------
    system : str or Spec
        A system id or spec.

    Returns
    -------
    dict
        ``compute_time_scale`` (multiplies GEMM and attention kernel times), ``memory_time_scale`` (multiplies
        the memory-bound kernels of the layers and the loss; equal to the compute factor where the table gives
        none), ``comm_bandwidth_scale`` (multiplies link bandwidths), ``network_bandwidth_scale`` (multiplies
        the network (NIC) level's bandwidth on top: the training framework's data-parallel and pipeline
        traffic over the NICs against the nccl-tests-validated engine; 1 where the table gives none), all
        dimensionless factors; ``kernel_launch_us`` (host time per kernel launch of an eager step, us; 0 where the
        table gives none); ``fitted_on`` (a system with ``same_as`` says whose it takes and why) and
        ``same_as``; and ``profiles``: named calibrations of the same system for other software stacks (hwdb
        ``[[calibration.profiles]]``; pass the name as ``calib=`` to :func:`estimate`).

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.llm.calibration("holmes-a100-ib")["same_as"]
    'dgx-a100'
    >>> sorted(pm.llm.calibration("dgx-a100")["profiles"])
    ['megatron-2022']
    """
    return dict(_system_calibration(hwdb.resolve(system, "system")))


def _system_calibration(spec: hwdb.Spec) -> dict[str, Any]:
    """``spec``'s calibration, read once per spec object (specs are immutable)."""
    cached = spec._memo.get("calibration")
    if cached is None:
        cached = spec._memo["calibration"] = spec._handle.calibration()
    return cached


def _model_handle(m: Model) -> Any:
    """The engine's resolved copy of ``m``, made once per model object."""
    h = m._handle
    if h is None:
        h = _core.llm_model_handle(m.fields)
        object.__setattr__(m, "_handle", h)
    return h


#: What a call needs of a cluster: (core system handle, system id, nodes, GPUs, the system's calibration tuple,
#: the system spec's memo where its engine clusters are kept by (nodes, calibration)).
#: A calibration as the engine takes it, in the order of :data:`_CALIB_KEYS`.
_CalibTuple = tuple[float, float, float, float, float]
_Resolved = tuple[Any, str, int, int, _CalibTuple, dict[Any, Any]]
#: Resolved ``(system id, nodes)`` pairs of embedded systems.
_RESOLVED: dict[tuple[str, int], _Resolved] = {}
hwdb._AFTER_REGISTER.append(_RESOLVED.clear)


def _resolve(cluster: Any) -> _Resolved:
    """What a call needs of a (system, nodes) pair, a cluster object with ``system`` and ``nodes``, or a system
    (one node). Embedded systems named by id are cached."""
    if type(cluster) is tuple and len(cluster) == 2:
        hit = _RESOLVED.get(cluster)
        if hit is not None:
            return hit
        system, nodes = cluster
    elif hasattr(cluster, "system") and hasattr(cluster, "nodes"):
        system, nodes = cluster.system, cluster.nodes
    elif isinstance(cluster, (str, hwdb.Spec)):
        system, nodes = cluster, 1
    else:
        raise InvalidArgumentError(
            "argument `cluster`: expected (system, nodes), a perfmodel cluster or a system id"
        )
    nodes = check.whole("nodes", nodes)
    spec = hwdb.resolve(system if isinstance(system, (str, hwdb.Spec)) else str(system), "system", "cluster")
    if nodes * int(spec["devices_per_node_count"]) > check.MAX_COUNT:
        raise InvalidArgumentError(
            f"argument `nodes`: {nodes:,} nodes of {spec.id} are more than {check.MAX_COUNT:,} GPUs"
        )
    c = _system_calibration(spec)
    out = (
        spec._handle,
        spec.id,
        nodes,
        nodes * int(spec["devices_per_node_count"]),
        _as_tuple(c),
        spec._memo.setdefault("llm_clusters", {}),
    )
    if type(system) is str and type(nodes) is int:
        if len(_RESOLVED) >= 4096:
            _RESOLVED.clear()
        _RESOLVED[(system, nodes)] = out
    return out


def _llm_cluster(r: _Resolved, calib: _CalibTuple) -> Any:
    """The engine's resolved cluster for ``r`` under ``calib``, made once per (system, nodes, calibration)."""
    memo, key = r[5], (r[2], calib)
    c = memo.get(key)
    if c is None:
        if len(memo) >= 4096:
            memo.clear()
        c = memo[key] = _core.llm_cluster_handle(r[0], r[2], calib)
    return c


#: The plan values and result figures of ``_core.llm_estimate_values``, in order.
_VALUE_PLAN_KEYS, _VALUE_KEYS = (tuple(k) for k in _core.llm_value_keys())
#: The order :func:`estimate` writes its plan values in; if the engine's differs, it goes by name.
_PLAN_ORDER = (
    "tp", "pp", "dp", "vp", "cp", "ep", "micro_batch", "global_batch", "sp", "recompute", "zero", "qwz", "qgz", "hpz",
    "weights_group", "grads_group", "offload_optimizer", "offload_activations", "fp8", "flash_attention",
    "cudnn_attention", "dp_overlap", "tp_overlap", "pp_overlap", "grad_fp32", "frozen_weights", "fp4", "rank_order",
    "cuda_graphs", "vocab_multiple", "lora_rank", "lora_dropout", "fp8_attention",
)  # fmt: skip
_PLAN_IN_ORDER = _VALUE_PLAN_KEYS == _PLAN_ORDER


def _cluster(cluster: Any) -> tuple[Any, str, int]:
    """(system handle for the core, system id, nodes) from a (system, nodes) pair, a cluster object or a system."""
    r = _resolve(cluster)
    return r[0], r[1], r[2]


#: The range of calibration factors accepted: a factor of 100 either way on a time or a bandwidth says the
#: model, not the calibration, is wrong.
CALIB_MIN, CALIB_MAX = 0.01, 100.0
_CALIB_KEYS = (
    "compute_time_scale", "memory_time_scale", "comm_bandwidth_scale", "network_bandwidth_scale", "kernel_launch_us",
)  # fmt: skip
#: The range of ``kernel_launch_us`` (host time per eager kernel launch, us; 0: the host never bounds a step).
LAUNCH_US_MAX = 1000.0


def _as_tuple(c: dict[str, Any]) -> _CalibTuple:
    """A calibration dict (hwdb's, a profile's) as the engine's tuple."""
    return tuple(float(c.get(k, 0.0)) for k in _CALIB_KEYS)  # type: ignore[return-value]


def _calib_tuple(
    system: str | hwdb.Spec, calib: dict[str, float] | str | None, base: _CalibTuple | None = None
) -> _CalibTuple:
    """The system's calibration (``base`` when the caller has it) with the keys of ``calib`` replaced (keys it
    does not give keep the system's); a string names one of the system's calibration profiles (hwdb
    ``[[calibration.profiles]]``, e.g. ``"megatron-2022"``)."""
    if isinstance(calib, str):
        profiles = _system_calibration(hwdb.resolve(system, "system")).get("profiles") or {}
        if calib not in profiles:
            import difflib

            close = difflib.get_close_matches(calib, list(profiles), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(sorted(profiles)) or "none"
            raise InvalidArgumentError(
                f"argument `calib`: '{calib}' is not a calibration profile of this system{hint} (profiles: {known})"
            )
        p = profiles[calib]
        return _as_tuple(p)
    if base is None:
        c = _system_calibration(hwdb.resolve(system, "system"))
        base = _as_tuple(c)
    if not calib:
        return base
    for key in calib:
        if key not in _CALIB_KEYS and key != "fitted_on":
            import difflib

            close = difflib.get_close_matches(str(key), _CALIB_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise InvalidArgumentError(
                f"argument `calib`: unknown key '{key}'{hint} (expected {', '.join(_CALIB_KEYS)})"
            )
    values = {
        k: check.number(f"calib['{k}']", calib[k], 0.0, LAUNCH_US_MAX, lo_open=False)
        if k == "kernel_launch_us"
        else check.number(f"calib['{k}']", calib[k], CALIB_MIN, CALIB_MAX, lo_open=False)
        for k in _CALIB_KEYS
        if k in calib
    }
    return tuple(values.get(k, b) for k, b in zip(_CALIB_KEYS, base, strict=True))  # type: ignore[return-value]


# ---- estimate ----------------------------------------------------------------------------------------------

_TIME_PARTS = (
    "forward",
    "backward",
    "recompute",
    "tp_comm",
    "cp_comm",
    "ep_comm",
    "pp_comm",
    "bubble",
    "dp_comm",
    "optimizer",
    "launch",
)
_MEM_PARTS = ("weights", "gradients", "optimizer_states", "activations", "secondary", "buffers")


@dataclass(frozen=True)
class Estimate(Result):
    """One plan's predicted training step: times (s), memory per GPU (bytes), throughput and utilization.

    Attributes
    ----------
    plan : dict
        The plan as given and defaulted (tp, pp, dp, vp, cp, ep, micro_batch, global_batch, sp, recompute,
        zero, dtype and the other options of :func:`estimate`).
    step_time_s : float
        Time of one optimizer step (``global_batch`` sequences), seconds.
    tokens_per_s : float
        Training tokens per second, the whole cluster.
    mfu, hfu : float
        Model and hardware FLOPs utilization, fractions of the GPUs' dense peak (hardware FLOPs count
        recompute).
    tflops_per_gpu : float
        Hardware FLOPs (recompute included) per second per GPU, TFLOP/s (10^12 FLOP/s): ``hfu`` times the
        dense peak.
    memory_per_gpu_bytes : float
        Peak memory of the heaviest GPU, bytes.
    capacity_bytes : float
        HBM capacity of one GPU, bytes.
    fits : bool
        The plan fits in GPU memory (and host memory, with offload).
    raw : dict of str to float
        Every engine figure: the step-time components in seconds (``forward``, ``backward``, ``recompute``,
        ``tp_comm``, ``cp_comm``, ``ep_comm``, ``pp_comm``, ``bubble``, ``dp_comm``, ``optimizer``, ``launch``: host
        launch time of eager kernels beyond the GPU time), the memory components in bytes (``weights``, ``gradients``, ``optimizer_states``, ``activations``,
        ``secondary``, ``buffers``, ``host_offload_bytes``), ``model_flops_per_step`` and
        ``hardware_flops_per_step`` (FLOPs), ``dp_cross_node_bytes``, ``gpus_in_cluster``.
    shortfall_bytes : float
        Memory missing per GPU, bytes (0 when the plan fits).
    breakdown : polars.DataFrame
        Step-time components: ``component``, ``time_s`` (seconds), ``fraction`` (of the step).
    memory_breakdown : polars.DataFrame
        Memory components per GPU: ``component``, ``bytes``.
    collectives : polars.DataFrame
        Every collective of the step as the collectives engine priced it (see the property).
    energy_per_step_j, power_per_gpu_w : float
        Energy of one step on one GPU (J) and the GPU's mean power over it (W), :meth:`energy`.

    Examples
    --------
    >>> import perfmodel as pm
    >>> e = pm.llm.estimate("gpt3-175b", ("dgx-a100", 128), tp=8, pp=16, global_batch=1536, recompute="full")
    >>> e
    Estimate(step 30.208 s, 104,137 tok/s, MFU 35.1%, 145.8 TFLOP/s/GPU, 26.4 of 80 GiB/GPU, fits)
    >>> e.breakdown.filter(e.breakdown["component"] == "bubble")["time_s"].round(2).to_list()
    [2.07]
    """

    plan: dict[str, Any]
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    tflops_per_gpu: float
    memory_per_gpu_bytes: float
    capacity_bytes: float
    fits: bool
    raw: dict[str, float] = field(repr=False)

    @property
    def shortfall_bytes(self) -> float:
        """How much memory is missing (0 when the plan fits)."""
        return max(0.0, self.memory_per_gpu_bytes - self.capacity_bytes)

    def energy(self, power_cap_w: float | None = None) -> dict[str, float]:
        """Energy of one step (:func:`perfmodel.power.step_energy`) on the estimate's system.

        Parameters
        ----------
        power_cap_w : float, optional
            A power cap per GPU, W (None: uncapped): the step slows as the power law says.

        Returns
        -------
        dict of str to float
            ``energy_per_step_j`` (one GPU, J), ``power_per_gpu_w`` (W), ``step_time_s`` (s; the slowed step
            under a cap), ``cluster_energy_per_step_j`` (all GPUs, J), ``energy_per_token_j`` (J per training
            token), ``compute_utilization`` and ``memory_utilization`` (fractions).

        Raises
        ------
        perfmodel.UnsupportedError
            A placed estimate spanning systems of different GPUs.

        Examples
        --------
        >>> import perfmodel as pm
        >>> e = pm.llm.estimate("llama3-8b", ("dgx-h100", 1), global_batch=64, zero=1)
        >>> capped = e.energy(power_cap_w=500)
        >>> round(capped["power_per_gpu_w"]), capped["step_time_s"] > e.step_time_s
        (500, True)
        """
        from ..power import step_energy

        ctx = self.__dict__.get("_context")
        if ctx is not None:
            return step_energy(self, ctx[4], power_cap_w=power_cap_w)
        stages = self.__dict__.get("stages")
        systems = set(stages["system"].to_list()) if stages is not None else set()
        if len(systems) != 1:
            raise UnsupportedError(
                f"this placed estimate spans systems {sorted(systems)}; the step's energy is priced for one GPU type"
            )
        return step_energy(self, systems.pop(), power_cap_w=power_cap_w)

    @property
    def energy_per_step_j(self) -> float:
        """Energy of one training step on one GPU, J (:meth:`energy`)."""
        return self.energy()["energy_per_step_j"]

    @property
    def power_per_gpu_w(self) -> float:
        """Average power of one GPU over the step, W (:meth:`energy`)."""
        return self.energy()["power_per_gpu_w"]

    @property
    def breakdown(self) -> pl.DataFrame:
        """Step-time components: ``component``, ``time_s``, ``fraction``."""
        t = [self.raw[k] for k in _TIME_PARTS]
        return pl.DataFrame(
            {"component": list(_TIME_PARTS), "time_s": t, "fraction": [x / self.step_time_s for x in t]}
        )

    @property
    def collectives(self) -> pl.DataFrame:
        """Every collective of the step as the collectives engine priced it (the heaviest pipeline stage's DP/ZeRO
        collectives): ``group`` (tp, cp, ep, dp, expert_dp, hpz, dp_in_node, dp_across_nodes, pp), ``what`` it
        moves, ``op``, ``algorithm`` (the tuner's pick), ``levels`` (the fabric levels the group crosses, as
        ``level:transport(spec)``), ``ranks``, ``stride`` (rank distance between members), ``bytes`` per call
        (as nccl-tests counts them), ``time_s`` per call, ``calls_per_step`` and ``cross_node_bytes`` per call.
        The exposed share of these calls is in :attr:`breakdown` (``tp_comm``, ``dp_comm``...)."""
        ctx = self.__dict__.get("_context")
        if ctx is None:
            raise UnsupportedError(
                "this estimate has no collective list; placed (heterogeneous) estimates give each stage's "
                "transports in `.stages`"
            )
        fields, handle, nodes, calib, sys_id, spec_calib = ctx
        rows = _core.llm_collectives(
            fields, handle, nodes, _plan_numbers(self.plan), _calib_tuple(sys_id, calib, spec_calib)
        )
        names = ("group", "what", "op", "algorithm", "levels", "ranks", "stride", "bytes", "time_s",
                 "calls_per_step", "cross_node_bytes")  # fmt: skip
        return pl.DataFrame(
            [dict(zip(names, r, strict=True)) for r in rows], schema=list(names), orient="row"
        )

    @property
    def memory_breakdown(self) -> pl.DataFrame:
        """Memory components per GPU: ``component``, ``bytes``."""
        return pl.DataFrame({"component": list(_MEM_PARTS), "bytes": [self.raw[k] for k in _MEM_PARTS]})

    def __repr__(self) -> str:
        fit = "fits" if self.fits else f"does NOT fit (short {self.shortfall_bytes / 2**30:.1f} GiB)"
        return (
            f"Estimate(step {self.step_time_s:.3f} s, {self.tokens_per_s:,.0f} tok/s, MFU {self.mfu:.1%}, "
            f"{self.tflops_per_gpu:.1f} TFLOP/s/GPU, {self.memory_per_gpu_bytes / 2**30:.1f} of "
            f"{self.capacity_bytes / 2**30:.0f} GiB/GPU, {fit})"
        )


#: Plan options that are counts (whole numbers >= 1), counts where 0 means "not set", and on/off flags.
_COUNT_KEYS = ("tp", "pp", "dp", "vp", "cp", "ep", "micro_batch", "global_batch", "hpz", "vocab_multiple")
_ZERO_OK_KEYS = ("weights_group", "grads_group", "lora_rank")
_FLAG_KEYS = ("sp", "qwz", "qgz", "offload_optimizer", "offload_activations", "flash_attention", "cudnn_attention",
              "dp_overlap", "tp_overlap", "pp_overlap", "grad_fp32", "frozen_weights", "lora_dropout",
              "fp8_attention")  # fmt: skip


#: Training GEMM dtypes: 16-bit, FP8 (Transformer Engine's recipe) and NVFP4 (TE's ``NVFP4BlockScaling``).
_TRAIN_DTYPES = ("bf16", "fp16", "fp8", "nvfp4")
_INT = {int}
_BOOL = {bool}


def _plan_numbers(plan: dict[str, Any]) -> dict[str, float]:
    """The plan as the engine's named numbers, every option checked (``_check``): counts whole, flags True/False,
    ``zero`` 0-3, ``recompute`` and ``dtype`` names. Unknown names go on to the engine, which names the closest."""
    out: dict[str, float] = {}
    for k, v in plan.items():
        if v is None:
            continue
        if k == "recompute":
            if not isinstance(v, str) or v not in RECOMPUTE:
                raise InvalidArgumentError(
                    f"argument `recompute`: is {v!r}; expected 'none', 'selective' or 'full'"
                )
            out[k] = float(RECOMPUTE.index(v))
        elif k == "rank_order":
            if not isinstance(v, str) or v not in RANK_ORDERS:
                raise InvalidArgumentError(
                    f"argument `rank_order`: is {v!r}; expected 'tp-cp-dp-pp' (Megatron's default) or "
                    "'tp-cp-pp-dp' (NeMo's TP_PP_DP_MAPPING)"
                )
            out[k] = float(RANK_ORDERS.index(v))
        elif k == "cuda_graphs":
            if not isinstance(v, str) or v not in CUDA_GRAPHS:
                raise InvalidArgumentError(
                    f"argument `cuda_graphs`: is {v!r}; expected 'none' (eager), 'layer' or 'full'"
                )
            out[k] = float(CUDA_GRAPHS.index(v))
        elif k == "dtype":
            name = check.dtype("dtype", v)
            if name not in _TRAIN_DTYPES:
                raise InvalidArgumentError(
                    f"argument `dtype`: is {v!r}; expected 'bf16', 'fp16', 'fp8' or 'nvfp4'"
                )
            out["fp8"] = 1.0 if name == "fp8" else 0.0
            out["fp4"] = 1.0 if name == "nvfp4" else 0.0
        elif k in _FLAG_KEYS:
            out[k] = 1.0 if check.flag(k, v) else 0.0
        elif k == "zero":
            out[k] = float(check.whole(k, v, 0, 3))
        elif k in _ZERO_OK_KEYS:
            out[k] = float(check.whole(k, v, 0))
        elif k in _COUNT_KEYS:
            out[k] = float(check.whole(k, v))
        elif isinstance(v, (bool, np.bool_)):
            out[k] = 1.0 if v else 0.0
        else:
            out[k] = check.number(k, v, lo=0.0, lo_open=False)
    return out


@keyword_options()
def estimate(
    model: Model | str | dict[str, Any],
    cluster: Any,
    tp: int = 1,
    pp: int = 1,
    dp: int | None = None,
    vp: int = 1,
    micro_batch: int = 1,
    global_batch: int | None = None,
    sp: bool = False,
    recompute: str = "none",
    zero: int = 0,
    dtype: str = "bf16",
    cp: int = 1,
    ep: int = 1,
    qwz: bool = False,
    qgz: bool = False,
    hpz: int = 1,
    flash_attention: bool = True,
    cudnn_attention: bool = False,
    dp_overlap: bool = False,
    tp_overlap: bool = False,
    pp_overlap: bool = False,
    grad_fp32: bool = False,
    weights_group: int = 0,
    grads_group: int = 0,
    offload_optimizer: bool = False,
    offload_activations: bool = False,
    calib: dict[str, float] | str | None = None,
    placement: str | Sequence[int] | None = None,
    layers_per_stage: str | Sequence[int] | None = None,
    frozen_weights: bool = False,
    rank_order: str = "tp-cp-dp-pp",
    cuda_graphs: str = "none",
    vocab_multiple: int = 128,
    seq_len: int | None = None,
    lora_rank: int = 0,
    lora_dropout: bool = False,
    fp8_attention: bool = False,
) -> Estimate:
    """Predict one training step of ``model`` on ``cluster`` under one plan.

    ``cluster`` is ``(system, nodes)`` (even pipeline stages, each priced as the heaviest) or a
    :func:`perfmodel.cluster`, possibly of node groups with different NICs: then ranks are placed over the
    nodes by ``placement`` and each stage is priced on the fabric it sits on; the result is a
    :class:`perfmodel.llm.placement.PlacedEstimate` (see that module).

    Parameters
    ----------
    model : Model, str or dict
        A model, preset id or dict of fields (:func:`model`).
    cluster : tuple, str, Spec or Cluster
        ``(system, nodes)``, a system id or spec (one node) or a :func:`perfmodel.cluster`.
    tp, pp, cp, ep : int
        Tensor-, pipeline-, context- and expert-parallel degrees (default 1 each).
    dp : int, optional
        Data-parallel degree (default None: all remaining GPUs, ``GPUs / (tp x pp x cp)``).
    vp : int
        Interleaved pipeline stages per GPU (virtual pipeline, default 1).
    micro_batch : int
        Sequences per micro-batch (default 1).
    global_batch : int, optional
        Sequences per optimizer step (default ``dp * micro_batch``).
    sp : bool
        Sequence parallelism (default False).
    recompute : str
        Activation recomputation: ``"none"`` (default), ``"selective"`` or ``"full"``.
    zero : int
        ZeRO stage, 0-3 (default 0).
    dtype : str
        Training GEMM dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (Transformer Engine's FP8 recipe, with
        its cast passes) or ``"nvfp4"`` (TE's NVFP4 recipe on Blackwell: the forward, data- and weight-gradient
        GEMMs of the transformer layers' linears in block-scaled FP4, with an amax and a cast pass per operand;
        attention and the LM head stay 16-bit; MFU then against the FP4 peak).
    qwz, qgz : bool
        ZeRO++ quantized weights (the forward all-gather of block-quantized int8 weights) and quantized
        gradients (int4 gradients reduced by an all-to-all inside the node, then across nodes); default False.
    hpz : int
        ZeRO++ hierarchical partitioning: a secondary 16-bit copy of the weights sharded over ``hpz`` ranks (a
        node), so the backward all-gather stays inside them (default 1: none).
    flash_attention : bool
        Price attention as FlashAttention-2 (default True; False: explicit QK^T/softmax/AV).
    cudnn_attention : bool
        Price attention as cuDNN's fused attention instead (Transformer Engine's default on Hopper; needs the
        device's measured figure: H100, H200).
    dp_overlap, tp_overlap, pp_overlap : bool
        Overlap the data-parallel, tensor-parallel and pipeline-send communication with compute (default
        False).
    grad_fp32 : bool
        Reduce gradients in fp32 (default False: in 16 bits).
    weights_group, grads_group : int
        ZeRO-3 only, 0 = all of dp (default): partition the 16-bit weights and the gradients over smaller
        groups of data-parallel ranks, as Xu et al.'s 3-level hierarchical partitioning on Frontier does
        (weights over the GCD pair, gradients over the node: ``weights_group=2, grads_group=8``): the
        per-micro-batch gathers and reductions stay inside the groups, and the gradient shards are reduced and
        the updated weights re-gathered across groups once per step.
    offload_optimizer : bool
        Keep the optimizer states in host memory and stream them over the system's host link for the update
        (ZeRO-Offload).
    offload_activations : bool
        Send each layer's stored activations to the host after its forward and back before its backward,
        overlapped with compute (Calculon). Both offloads need the system's hwdb
        ``host_link_bandwidth_per_direction_gbps``; host memory per device is ``raw["host_offload_bytes"]``
        and counts against ``host_memory_capacity_gib`` in ``fits``.
    calib : dict or str, optional
        Calibration factors replacing the system's (keys of :func:`calibration`: ``compute_time_scale``,
        ``memory_time_scale``, ``comm_bandwidth_scale``, ``network_bandwidth_scale``, each from 0.01 to 100;
        ``kernel_launch_us``, host microseconds per eager kernel launch, 0 to 1000), or the name of one of the system's calibration profiles (e.g. ``"megatron-2022"``).
    placement : str or sequence of int, optional
        On a cluster: ``"nic-aware"`` (default), ``"naive"`` or a node order (:mod:`perfmodel.llm.placement`).
    layers_per_stage : str or sequence of int, optional
        On a cluster: ``"auto"`` (default: chosen to minimize the step) or the layers of each pipeline stage.
    frozen_weights : bool
        Price fine-tuning with the model's weights frozen (LoRA and other adapters): no weight-gradient GEMMs,
        gradient reduction, optimizer step, gradients or optimizer states for them (ZeRO-3 still gathers
        them); the adapters themselves are priced only with ``lora_rank``.
    lora_rank : int
        LoRA adapters of this rank on the attention's QKV and output projections (NeMo's ``target_modules:
        ['attention']``; needs ``frozen_weights=True``; default 0: none): their 16-bit GEMMs, scaling and add
        passes and TP collectives, as NeMo's ``ParallelLinearAdapter`` runs them (``raw`` and the breakdown
        count them in forward, backward and ``tp_comm``). Their kernels are not in the eager launch count.
    lora_dropout : bool
        Dropout on each adapter's input (NeMo's ``adapter_dropout`` > 0 with ``dropout_position: pre``, as the
        MLPerf Llama-2-70B LoRA configs set it): a pass over the input each way and its 1-byte mask.
    fp8_attention : bool
        FP8 dot-product attention (Transformer Engine's ``fp8_dpa``; NeMo's and the MLPerf configs' ``FP8_DPA=1``
        with TE's default ``NVTE_FP8_DPA_BWD=1``): cuDNN's fused attention forward and backward on FP8 operands
        at the device's FP8 matrix rate (the roofline engine's cuDNN attention model, at FlashAttention-3's FP8
        share of the peak relative to its 16-bit one; the non-matrix softmax work unchanged), plus TE's casts of
        Q, K, V and O forward and of dO, dQ, dK, dV backward. Needs ``dtype="fp8"`` and ``cudnn_attention=True``
        (TE runs FP8 attention only in its cuDNN backend; H100, H200, H800).
    rank_order : str
        How ranks are numbered, innermost group first: ``"tp-cp-dp-pp"`` (default; Megatron-core's order, pipeline
        stages outermost) or ``"tp-cp-pp-dp"`` (Megatron-core's ``use_tp_pp_dp_mapping``, NeMo's
        ``TP_PP_DP_MAPPING``: a pipeline's stages are neighbours, the data-parallel replicas outermost; not with
        ``ep`` > 1 nor a placed estimate). It decides which groups share a node or NVLink domain.
    cuda_graphs : str
        Which kernels replay from CUDA graphs: ``"none"`` (default, eager: Megatron-LM's ``--enable-cuda-graph``
        and NeMo's ``enable_cuda_graph`` default to off), ``"layer"`` (each transformer layer's forward and
        backward captured, as MLPerf's ``LAYER_CUDA_GRAPH=True``) or ``"full"``. An eager micro-batch takes the
        longer of its GPU time and its kernels' host launches (the system's calibration ``kernel_launch_us``
        per kernel, 0 where it has none): the excess is ``raw["launch"]``.
    vocab_multiple : int
        The output layer holds the vocabulary padded up to a multiple of ``vocab_multiple x tp`` rows (default
        128: Megatron-LM's and NeMo's ``make_vocab_size_divisible_by``; 1 where the framework does not pad, as
        plain PyTorch): GPT-3's 50,257 tokens are 51,200 rows at TP 8.
    seq_len : int, optional
        Tokens per sequence (default None: the model's ``seq_len``); the same as passing
        ``pm.llm.model(model, seq_len=...)``.

    Returns
    -------
    Estimate
        ``step_time_s`` (s), ``tokens_per_s``, ``mfu`` and ``hfu`` (fractions), ``tflops_per_gpu`` (TFLOP/s),
        ``memory_per_gpu_bytes`` and ``capacity_bytes`` (bytes), ``fits``, the breakdowns; a
        :class:`~perfmodel.llm.placement.PlacedEstimate` on a :func:`perfmodel.cluster`.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A bad plan (naming the constraint: GPUs not divisible by tp x pp x cp, an unknown option value...).
    perfmodel.UnsupportedError
        A plan the model does not cover (naming why).

    Examples
    --------
    >>> import perfmodel as pm
    >>> e = pm.llm.estimate("gpt3-175b", ("dgx-a100", 128), tp=8, pp=16, global_batch=1536, recompute="full")
    >>> f"{e.step_time_s:.1f} s", f"MFU {e.mfu:.1%}", f"{e.memory_per_gpu_bytes / 2**30:.1f} GiB", e.fits
    ('30.2 s', 'MFU 35.1%', '26.4 GiB', True)
    >>> e.plan["dp"]  # 1024 GPUs / (tp 8 x pp 16)
    8
    """
    m = model if type(model) is Model else globals()["model"](model)
    if seq_len is not None:
        m = globals()["model"](m, seq_len=seq_len)
    resolved = None
    if type(cluster) is tuple and placement is None and layers_per_stage is None:
        # The common call, (system, nodes): resolved once per pair (_resolve).
        resolved = _resolve(cluster)
        handle, sys_id, nodes, gpus = resolved[:4]
    else:
        from ..cluster import Cluster
        from ..cluster import cluster as make_cluster

        placed = isinstance(cluster, Cluster) or placement is not None or layers_per_stage is not None
        if placed and not isinstance(cluster, Cluster):
            _, sys_id, nodes = _cluster(cluster)
            cluster = make_cluster(sys_id, nodes)
        if isinstance(cluster, Cluster):
            handle, gpus = None, cluster.devices
        else:
            resolved = _resolve(cluster)
            handle, sys_id, nodes, gpus = resolved[:4]
    if not (type(tp) is int and type(pp) is int and type(cp) is int and tp > 0 and pp > 0 and cp > 0):
        tp, pp, cp = check.whole("tp", tp), check.whole("pp", pp), check.whole("cp", cp)
    if dp is None:
        mp = tp * pp * cp
        if gpus % mp:
            given = [f"{k}={v}" for k, v in (("tp", tp), ("pp", pp), ("cp", cp)) if v != 1]
            names = " x ".join(f"`{g.split('=')[0]}`" for g in given) or "`tp`"
            raise InvalidArgumentError(
                f"argument {names}: {' x '.join(given)} = {mp} GPUs per data-parallel replica do not divide the "
                f"cluster's {gpus} GPUs (dp = GPUs / (tp x pp x cp) must be whole); divisors of {gpus}: "
                f"{', '.join(str(d) for d in range(1, min(gpus, 4096) + 1) if gpus % d == 0)[:120]}"
            )
        dp = gpus // mp
    if global_batch is None:
        global_batch = check.whole("dp", dp) * check.whole("micro_batch", micro_batch)
    plan = {
        "tp": tp, "pp": pp, "dp": dp, "vp": vp, "cp": cp, "ep": ep, "micro_batch": micro_batch, "global_batch": global_batch,
        "sp": sp, "recompute": recompute, "zero": zero, "dtype": dtype, "qwz": qwz, "qgz": qgz, "hpz": hpz,
        "flash_attention": flash_attention, "cudnn_attention": cudnn_attention, "dp_overlap": dp_overlap, "tp_overlap": tp_overlap, "pp_overlap": pp_overlap, "grad_fp32": grad_fp32,
        "weights_group": weights_group, "grads_group": grads_group, "offload_optimizer": offload_optimizer,
        "offload_activations": offload_activations, "frozen_weights": frozen_weights, "rank_order": rank_order,
        "cuda_graphs": cuda_graphs, "vocab_multiple": vocab_multiple, "lora_rank": lora_rank,
        "lora_dropout": lora_dropout, "fp8_attention": fp8_attention,
    }  # fmt: skip
    if handle is None:
        return placement_mod.estimate_placed(
            m, cluster, plan, placement or "nic-aware", layers_per_stage or "auto", calib
        )
    assert resolved is not None
    c = _llm_cluster(resolved, _calib_tuple(sys_id, calib, resolved[4]))
    values = None
    if (
        _PLAN_IN_ORDER
        and recompute in RECOMPUTE
        and dtype in _TRAIN_DTYPES
        and rank_order in RANK_ORDERS
        and cuda_graphs in CUDA_GRAPHS
        and {type(tp), type(pp), type(dp), type(vp), type(cp), type(ep), type(micro_batch), type(global_batch),
             type(zero), type(hpz), type(weights_group), type(grads_group), type(vocab_multiple),
             type(lora_rank)} == _INT
        and {type(sp), type(qwz), type(qgz), type(flash_attention), type(cudnn_attention), type(dp_overlap),
             type(tp_overlap), type(pp_overlap), type(grad_fp32), type(offload_optimizer), type(offload_activations),
             type(frozen_weights), type(lora_dropout), type(fp8_attention)} == _BOOL
    ):  # fmt: skip
        # The plan as numbers in the engine's order (ints and bools as floats; the engine checks ranges);
        # anything else (numpy scalars, 0/1 flags, wrong types) takes the checked path below.
        try:
            values = [float(tp), float(pp), float(dp), float(vp), float(cp), float(ep), float(micro_batch),
                      float(global_batch), float(sp), float(RECOMPUTE.index(recompute)), float(zero), float(qwz),
                      float(qgz), float(hpz), float(weights_group), float(grads_group), float(offload_optimizer),
                      float(offload_activations), 1.0 if dtype == "fp8" else 0.0, float(flash_attention),
                      float(cudnn_attention), float(dp_overlap), float(tp_overlap), float(pp_overlap),
                      float(grad_fp32), float(frozen_weights), 1.0 if dtype == "nvfp4" else 0.0,
                      float(RANK_ORDERS.index(rank_order)), float(CUDA_GRAPHS.index(cuda_graphs)),
                      float(vocab_multiple), float(lora_rank), float(lora_dropout),
                      float(fp8_attention)]  # fmt: skip
        except (TypeError, ValueError):
            values = None
    if values is None:
        raw = _core.llm_estimate(
            m.fields, handle, nodes, _plan_numbers(plan), _calib_tuple(sys_id, calib, resolved[4])
        )
    else:
        raw = dict(zip(_VALUE_KEYS, _core.llm_estimate_values(_model_handle(m), c, values), strict=True))
    # Built without the dataclass __init__ (the fields are the engine's, already checked): the per-call cost.
    e = object.__new__(Estimate)
    e.__dict__.update(_estimate_fields(plan, raw))
    # What `Estimate.collectives` needs to list the communication (built only when asked for).
    e.__dict__["_context"] = (m.fields, handle, nodes, calib, sys_id, resolved[4])
    return e


def _estimate_fields(plan: dict[str, Any], raw: dict[str, float]) -> dict[str, Any]:
    """The fields of an :class:`Estimate` from the engine's result dict."""
    keys = (
        "step_time_s",
        "tokens_per_s",
        "mfu",
        "hfu",
        "tflops_per_gpu",
        "memory_per_gpu_bytes",
        "capacity_bytes",
    )
    if not raw["hfu"] <= 1.0:
        raise InvalidArgumentError(
            f"argument `calib`: the calibration makes the step faster than the GPUs' peak (hardware FLOPs "
            f"utilization {raw['hfu']:.0%}); a compute_time_scale this small is not physical"
        )
    return {"plan": dict(plan), **{k: raw[k] for k in keys}, "fits": bool(raw["fits"]), "raw": raw}


# ---- search ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult(Result):
    """What :func:`search_full` found: all valid plans (best first), the skipped candidates by reason, and
    timing.

    Attributes
    ----------
    plans : polars.DataFrame
        One row per valid plan, best (fastest fitting) first: the plan (``tp``, ``pp``, ``dp``, ``vp``,
        ``cp``, ``ep``, ``micro_batch``, ``sp``, ``recompute``, ``zero``, the overlap and offload flags),
        ``step_time_s`` (s), ``tokens_per_s``, ``mfu`` and ``hfu`` (fractions), ``tflops_per_gpu`` (TFLOP/s),
        ``memory_per_gpu_bytes`` (bytes), ``bubble_s``, ``dp_comm_s``, ``tp_comm_s`` (s) and ``fits``
        (``layers_per_stage`` too on a cluster).
    skipped : dict of str to int
        Candidates skipped, by reason.
    candidates : int
        Candidates enumerated.
    seconds : float
        Wall time of the search, s.

    Examples
    --------
    >>> import perfmodel as pm
    >>> r = pm.llm.search_full("megatron-1.7b", ("dgx-a100", 1), 64, tp=[1, 2, 4, 8], pp=[1], zero=[0, 1])
    >>> r.candidates, r.plans.height > 0
    (61440, True)
    >>> "sequence parallelism needs tp > 1" in r.skipped
    True
    """

    plans: pl.DataFrame
    skipped: dict[str, int]
    candidates: int
    seconds: float


def _divisors(n: int, limit: int | None = None) -> list[int]:
    return [d for d in range(1, (limit or n) + 1) if n % d == 0]


def _progress(done: int, total: int, start: float) -> None:
    frac = done / total if total else 1.0
    bar = "#" * int(30 * frac)
    sys.stderr.write(
        f"\rllm search [{bar:<30}] {done:,}/{total:,} candidates, {time.perf_counter() - start:.1f} s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


@keyword_options()
def search_full(
    model: Model | str | dict[str, Any],
    cluster: Any,
    global_batch: int,
    tp: list[int] | None = None,
    pp: list[int] | None = None,
    vp: list[int] | None = None,
    cp: list[int] | None = None,
    ep: list[int] | None = None,
    micro_batch: list[int] | None = None,
    recompute: list[str] | None = None,
    zero: list[int] | None = None,
    sp: list[bool] | None = None,
    fits_only: bool = True,
    max_step_time_s: float | None = None,
    min_mfu: float | None = None,
    top: int | None = None,
    progress: bool | None = None,
    calib: dict[str, float] | str | None = None,
    placement: str | Sequence[int] | None = None,
    client: Any = None,
    seq_len: int | None = None,
    **options: Any,
) -> SearchResult:
    """Every valid plan on all GPUs of ``cluster`` for ``global_batch``, with the skipped candidates and
    timing.

    :func:`search` returns its ``plans`` frame; the choices, filters and defaults are the same. With
    ``client`` (a ``dask.distributed.Client``) the candidates' index ranges run as tasks on its workers; the
    result is the local one.

    Parameters
    ----------
    model : Model, str or dict
        A model, preset id or dict of fields.
    cluster : tuple, str, Spec or Cluster
        ``(system, nodes)``, a system (one node) or a :func:`perfmodel.cluster` (plans are then placed).
    global_batch : int
        Sequences per optimizer step.
    tp, pp, vp, cp, ep, micro_batch : list of int, optional
        The degrees to try (defaults: tp the divisors of heads up to 64, pp the divisors of layers, vp every
        interleaving that divides the layers, cp 1, ep 1 (MoE: the divisors of the experts), micro_batch
        {1, 2, 4, 8, 16}).
    recompute : list of str, optional
        Recompute modes to try (default all: ``"none"``, ``"selective"``, ``"full"``).
    zero : list of int, optional
        ZeRO stages to try (default 0-3).
    sp : list of bool, optional
        Sequence parallelism off/on (default both).
    fits_only : bool
        Keep only plans that fit in memory (default True).
    max_step_time_s : float, optional
        Keep plans at most this step time, seconds.
    min_mfu : float, optional
        Keep plans of at least this MFU, a fraction 0-1.
    top : int, optional
        Keep the best ``top`` plans.
    progress : bool, optional
        Show a progress bar on stderr (default None: once the search has run over a second).
    calib : dict or str, optional
        Calibration factors or profile name, as :func:`estimate` takes.
    placement : str or sequence of int, optional
        On a cluster: ``"nic-aware"`` (default), ``"naive"`` or a node order.
    client : dask.distributed.Client, optional
        Runs index ranges of the candidates on its workers.
    seq_len : int, optional
        Tokens per sequence (default None: the model's ``seq_len``).
    **options
        Plan options held fixed (``dtype``, ``flash_attention``, ``cudnn_attention``, ``dp_overlap``...:
        keywords of :func:`estimate`); giving an overlap or offload flag stops that flag being searched.

    Returns
    -------
    SearchResult
        ``plans`` (polars.DataFrame, best first; columns in :class:`SearchResult`), ``skipped`` (count per
        reason), ``candidates`` (count), ``seconds`` (wall time, s).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A choice outside its domain (e.g. a ZeRO stage above 3) or a filter out of range.

    Examples
    --------
    >>> import perfmodel as pm
    >>> r = pm.llm.search_full("megatron-1.7b", ("dgx-a100", 1), 64, tp=[1, 2], pp=[1], micro_batch=[4])
    >>> best = r.plans.row(0, named=True)
    >>> best["tp"], best["dp"], best["recompute"], f"{best['step_time_s']:.3f} s"
    (1, 8, 'none', '0.967 s')
    """
    from ..cluster import Cluster
    from ..cluster import cluster as make_cluster

    m = model if isinstance(model, Model) else globals()["model"](model)
    if seq_len is not None:
        m = globals()["model"](m, seq_len=seq_len)
    placed = isinstance(cluster, Cluster) or placement is not None
    if placed and not isinstance(cluster, Cluster):
        _, sys_id0, nodes0 = _cluster(cluster)
        cluster = make_cluster(sys_id0, nodes0)
    if placed:
        handle, sys_id, nodes = None, "", 0
    else:
        handle, sys_id, nodes = _cluster(cluster)
    global_batch = check.whole("global_batch", global_batch)
    fits_only = check.flag("fits_only", fits_only)
    top = check.optional_whole("top", top)
    if max_step_time_s is not None:
        max_step_time_s = check.number("max_step_time_s", max_step_time_s, allow_inf=True, unit=" (seconds)")
    if min_mfu is not None:
        min_mfu = check.number("min_mfu", min_mfu, 0.0, 1.0, lo_open=False)
    heads, layers = int(m.heads), int(m.layers)

    def counts(name: str, given: Any, default: list[int]) -> list[int]:
        return default if given is None else check.choices(name, given, check.whole)

    def recompute_name(name: str, v: Any) -> int:
        if not isinstance(v, str) or v not in RECOMPUTE:
            raise InvalidArgumentError(f"argument `{name}`: is {v!r}; expected 'none', 'selective' or 'full'")
        return RECOMPUTE.index(v)

    space: dict[str, list[Any]] = {
        "global_batch": [global_batch],
        "tp": counts("tp", tp, _divisors(heads, min(heads, 64))),
        "pp": counts("pp", pp, _divisors(layers)),
        "vp": counts("vp", vp, _divisors(layers)),
        "cp": counts("cp", cp, [1]),
        "ep": counts("ep", ep, [1] if m.fields.get("experts", 0) <= 1 else _divisors(int(m.experts))),
        "micro_batch": counts("micro_batch", micro_batch, [1, 2, 4, 8, 16]),
        "recompute": check.choices(
            "recompute", list(RECOMPUTE) if recompute is None else recompute, recompute_name
        ),
        "zero": [0, 1, 2, 3]
        if zero is None
        else check.choices("zero", zero, lambda n, v: check.whole(n, v, 0, 3)),
        "sp": [False, True] if sp is None else check.choices("sp", sp, check.flag),
    }
    # Overlap of DP, TP and pipeline communication (bit set 1, 2, 4) is searched unless the caller fixes a flag.
    if not any(k in options for k in ("dp_overlap", "tp_overlap", "pp_overlap")):
        space["overlap"] = list(range(8))
    # Offload of optimizer states and activations to host memory (bit set 1, 2), unless the caller fixes a flag;
    # systems without a host-link figure skip the offloading candidates with that reason.
    if not any(k in options for k in ("offload_optimizer", "offload_activations")):
        space["offload"] = list(range(4))
    base = _plan_numbers(options)
    spaced = {k: [float(x) for x in v] for k, v in space.items()}
    total = math.prod(len(v) for k, v in space.items() if k != "global_batch")
    start = time.perf_counter()
    chunk = 200_000 if handle is not None else 2_000
    frames: list[tuple[dict[str, Any], int]] = []
    skipped_total = [0] * len(_core.llm_invalid_reasons())
    rejected, rejected_why = 0, ""
    if handle is None:
        name, order = placement_mod.placement_order("nic-aware" if placement is None else placement)
        job: tuple[Any, ...] = (
            True,
            m.fields,
            cluster._handle,
            placement_mod._calibs(cluster, calib),
            spaced,
            base,
            name,
            order,
        )
    else:
        job = (False, m.fields, handle, nodes, _calib_tuple(sys_id, calib), spaced, base)
    if client is None:
        ranges = [(lo, min(total, lo + chunk)) for lo in range(0, total, chunk)]
    else:
        from .._distributed import guided_ranges

        # Large tasks first, then smaller ones, so that the workers finish together (the cost per candidate
        # varies along the index by up to 2x); a task runs its range `chunk` candidates at a time, as the local
        # search does (the engine is about 8% faster per candidate on such ranges than on millions at once).
        ranges = guided_ranges(client, total, min_items=_TASK_MIN_CANDIDATES)

    def show(done: int, chunks: int) -> None:
        # The bar shows when asked, or by itself once a search has run for more than a second.
        if progress or (progress is None and time.perf_counter() - start > 1.0):
            _progress(
                ranges[done - 1][1] if client is None else sum(hi - lo for lo, hi in ranges[:done]),
                total,
                start,
            )

    # Each chunk is filtered and ordered where it runs (on a worker when distributed); here the ordered
    # chunks are merged. The filters, the order and `top` are the same whoever runs a chunk.
    select = (fits_only, max_step_time_s, min_mfu, top)
    if client is None:
        outputs = []
        for i, (lo, hi) in enumerate(ranges):
            outputs.append(_search_chunk(job, lo, hi, select))
            show(i + 1, len(ranges))
    else:
        from .._distributed import map_chunks

        outputs = map_chunks(client, _search_range, [(job, lo, hi, select, chunk) for lo, hi in ranges],
                             what="llm search", progress=show)  # fmt: skip
    valid = 0
    for cols, skipped, rej, why, chunk_valid in outputs:
        rejected += rej
        rejected_why = rejected_why or why
        valid += chunk_valid
        # A chunk without a valid plan has untyped columns: only chunks that had plans are joined.
        if chunk_valid or not frames:
            frames.append((cols, chunk_valid))
        skipped_total = [a + b for a, b in zip(skipped_total, skipped, strict=True)]
    df = _merge_ordered([c for c, v in frames if v] or [c for c, _ in frames[:1]], valid, top)
    if valid:
        df = df.with_columns(
            pl.col("recompute").replace_strict(dict(enumerate(RECOMPUTE)), return_dtype=pl.String)
        )
    reasons = dict(zip(_core.llm_invalid_reasons(), skipped_total, strict=True))
    if rejected:
        reasons[f"rejected by the placement (first: {rejected_why})"] = rejected
    return SearchResult(
        plans=df,
        skipped={k: v for k, v in reasons.items() if v},
        candidates=total,
        seconds=time.perf_counter() - start,
    )


def _search_chunk(
    job: tuple[Any, ...], lo: int, hi: int, select: tuple[bool, float | None, float | None, int | None]
) -> tuple[dict[str, Any], list[int], int, str, int]:
    """Candidates ``lo..hi`` of a search (a task of a distributed search, or one step of a local one): (the
    columns of the valid plans that pass ``select`` = (fits_only, max_step_time_s, min_mfu, top), in the
    search's order (:func:`_plan_order`), at most ``top`` of them; skipped per reason; rejected by the
    placement; the first rejection's reason; the valid plans before the filters). Numpy only: on a worker
    nothing else starts threads beside the engine's."""
    if job[0]:
        _, fields, cluster, calibs, space, base, name, order = job
        cols, skipped, _, rej, why = _core.llm_search_hetero(
            fields, cluster, calibs, space, base, name, order, lo, hi
        )
    else:
        _, fields, system, nodes, calib_t, space, base = job
        cols, skipped, _ = _core.llm_search(fields, system, nodes, calib_t, space, base, lo, hi)
        rej, why = 0, ""
    fits_only, max_step_time_s, min_mfu, top = select
    fits, step = np.asarray(cols["fits"], dtype=bool), np.asarray(cols["step_time_s"])
    valid = len(fits)
    if valid:
        keep = fits.copy() if fits_only else np.ones(valid, dtype=bool)
        if max_step_time_s is not None:
            keep &= step <= max_step_time_s
        if min_mfu is not None:
            keep &= np.asarray(cols["mfu"]) >= min_mfu
        rows = np.flatnonzero(keep)
        rows = rows[_plan_order(fits[rows], step[rows])][:top]
        cols = {k: _take(v, rows) for k, v in cols.items()}
    return cols, skipped, rej, why, valid


#: The fewest candidates in one task of a distributed search (its last tasks; the first are larger).
_TASK_MIN_CANDIDATES = 500_000


def _search_range(
    job: tuple[Any, ...],
    lo: int,
    hi: int,
    select: tuple[bool, float | None, float | None, int | None],
    step: int,
) -> tuple[dict[str, Any], list[int], int, str, int]:
    """:func:`_search_chunk` over ``lo..hi`` (one task of a distributed search), ``step`` candidates per engine
    call, the chunks' plans merged into one chunk in the search's order."""
    parts = [_search_chunk(job, a, min(hi, a + step), select) for a in range(lo, hi, step)]
    if len(parts) == 1:
        return parts[0]
    with_plans = [p[0] for p in parts if p[4]] or [parts[0][0]]
    cols = {k: np.concatenate([c[k] for c in with_plans]) if isinstance(v, np.ndarray)
            else [x for c in with_plans for x in c[k]] for k, v in with_plans[0].items()}  # fmt: skip
    if len(with_plans) > 1:
        rows = _plan_order(np.asarray(cols["fits"], dtype=bool), np.asarray(cols["step_time_s"]))[: select[3]]
        cols = {k: _take(v, rows) for k, v in cols.items()}
    skipped = [sum(x) for x in zip(*(p[1] for p in parts), strict=True)]
    why = next((p[3] for p in parts if p[3]), "")
    return cols, skipped, sum(p[2] for p in parts), why, sum(p[4] for p in parts)


def _plan_order(fits: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The row order of a search's plans: fitting plans first, then by step time; a stable sort, so that plans of
    equal step time stay in candidate order and the frame is the same however the candidates were split. On
    rows made of runs already in this order (the chunks of a search) numpy's stable sort (a timsort) merges
    the runs."""
    if fits.all():
        return np.argsort(step, kind="stable")
    ok, other = np.flatnonzero(fits), np.flatnonzero(~fits)
    return np.concatenate(
        [ok[np.argsort(step[ok], kind="stable")], other[np.argsort(step[other], kind="stable")]]
    )


def _take(column: Any, rows: np.ndarray) -> Any:
    """``column[rows]`` for a numpy column or a list (``layers_per_stage``)."""
    return column[rows] if isinstance(column, np.ndarray) else [column[i] for i in rows]


def _merge_ordered(chunks: list[dict[str, Any]], valid: int, top: int | None) -> pl.DataFrame:
    """The columns of the chunks of a search (each in the search's order, in candidate order) as one frame in
    that order: what one stable sort of all their rows gives. ``valid``: the valid plans before the filters
    (with none, the first chunk's untyped columns as they are)."""
    if not chunks:
        return pl.DataFrame()
    cols = chunks[0]
    if len(chunks) > 1:
        cols = {
            k: np.concatenate([c[k] for c in chunks])
            if isinstance(cols[k], np.ndarray)
            else [x for c in chunks for x in c[k]]
            for k in cols
        }
    if not valid:
        return pl.DataFrame(cols)
    # A list column (a placed search's `layers_per_stage`) keeps its type when the filters left no row.
    df = pl.DataFrame(
        [
            pl.Series(k, v, dtype=pl.List(pl.Int64)) if isinstance(v, list) else pl.Series(k, v)
            for k, v in cols.items()
        ]
    )
    if len(chunks) > 1 and df.height > 1:
        df = df[_plan_order(cols["fits"], cols["step_time_s"])[:top]]  # polars gathers on its threads
    return df


@keyword_options()
def search(
    model: Model | str | dict[str, Any], cluster: Any, global_batch: int, **kwargs: Any
) -> pl.DataFrame:
    """Every valid plan for ``model`` on all GPUs of ``cluster`` at ``global_batch``, best (fastest fitting)
    first.

    Choices default to: tp = divisors of heads up to 64, pp = divisors of layers, every interleaving that
    divides the layers, micro_batch in {1, 2, 4, 8, 16}, every recompute mode, ZeRO 0-3, SP on/off, and every
    combination of DP, TP and pipeline-send overlap (unless ``dp_overlap``/``tp_overlap``/``pp_overlap`` is
    given, which holds the three fixed), and offload of optimizer states and activations to host memory
    (unless ``offload_optimizer``/``offload_activations`` is given). Skipped candidates and their reasons:
    :func:`search_full`.

    On a :func:`perfmodel.cluster` (for instance node groups with different NICs) every plan is placed over
    the nodes (``placement``, default ``"nic-aware"``) and gets its automatic layers per stage (column
    ``layers_per_stage``); see :mod:`perfmodel.llm.placement`.

    ``client`` (a ``dask.distributed.Client``; ``pip install 'perfmodel[dask]'``) runs the candidates' index
    ranges as tasks on its workers and returns the same frame as the local search (a failed chunk is retried).

    Parameters
    ----------
    model : Model, str or dict
        A model, preset id or dict of fields.
    cluster : tuple, str, Spec or Cluster
        ``(system, nodes)``, a system (one node) or a :func:`perfmodel.cluster`.
    global_batch : int
        Sequences per optimizer step.
    **kwargs
        The keywords of :func:`search_full`: the choices (``tp``, ``pp``, ``vp``, ``cp``, ``ep``,
        ``micro_batch``, ``recompute``, ``zero``, ``sp``: lists), the filters ``fits_only`` (default True),
        ``max_step_time_s`` (s), ``min_mfu`` (fraction), ``top``, and ``progress``, ``calib``, ``placement``,
        ``client``, ``seq_len`` (tokens per sequence, default the model's); other keyword options (``dtype``, ``flash_attention``, ``cudnn_attention``,
        ``vocab_multiple``, ``dp_overlap``...) are held fixed.

    Returns
    -------
    polars.DataFrame
        One row per valid plan, best first: the plan, ``step_time_s`` (s), ``tokens_per_s``, ``mfu`` and
        ``hfu`` (fractions), ``tflops_per_gpu`` (TFLOP/s), ``memory_per_gpu_bytes`` (bytes), ``bubble_s``,
        ``dp_comm_s``, ``tp_comm_s`` (s), ``fits`` (columns listed in :class:`SearchResult`).

    Examples
    --------
    >>> import perfmodel as pm
    >>> df = pm.llm.search("megatron-1.7b", ("dgx-a100", 1), 64, tp=[1, 2, 4, 8], top=3)
    >>> df.select("tp", "pp", "dp", "micro_batch", "zero").rows()
    [(1, 1, 8, 8, 1), (1, 1, 8, 8, 2), (1, 1, 8, 8, 3)]
    >>> f"{df['step_time_s'][0]:.3f} s, MFU {df['mfu'][0]:.1%}"
    '0.945 s, MFU 62.5%'
    """
    return search_full(model, cluster, global_batch, **kwargs).plans


from . import placement as placement_mod  # noqa: E402  (needs Estimate above)
from .advisor import Sizing, sizing, sizing_rules, sizing_sweep  # noqa: E402  (the sizing advisor; needs `model`)
from .placement import PlacedEstimate, compare_placements  # noqa: E402
