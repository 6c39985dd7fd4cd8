"""LLM inference and serving: one engine iteration, phase times, KV-cache memory, the continuous-batching
simulator and serving-plan search, on the same roofline, collectives and hwdb as training.

>>> import perfmodel as pm
>>> p = pm.serve.prefill("llama3-70b", "dgx-h100", tp=8, batch=1, prompt_len=2048)
>>> 0.05 < p.time_s < 0.5
True
>>> d = pm.serve.decode("llama3-70b", "dgx-h100", tp=8, batch=64, context_len=2048)
>>> 0.005 < d.time_s < 0.1
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from .. import _check as check
from .. import _core, hwdb
from .._api import keyword_options
from .._arrays import as_columns
from .._display import Result
from ..errors import InvalidArgumentError, ModelError
from ..llm import Model
from ..llm import model as _llm_model
from .frameworks import FRAMEWORKS, SCHEDULER_POLICIES, FrameworkDefaults, framework_defaults
from .frameworks import scheduler_policy as _policy
from .simulate import Simulation, check_slo, read_requests, requests, summarize

__all__ = [
    "FRAMEWORKS",
    "Iteration",
    "MemoryReport",
    "engine",
    "iteration",
    "prefill",
    "decode",
    "memory",
]

#: The breakdown columns of one iteration, seconds (``kernels`` is a count).
ITERATION_COLUMNS: tuple[str, ...] = (
    "time_s", "gemm_s", "moe_s", "prefill_attention_s", "decode_attention_s", "elementwise_s", "head_s",
    "tp_comm_s", "pp_comm_s", "overhead_s", "kernels",
)  # fmt: skip


def _as_model(model: Any) -> Model:
    return model if isinstance(model, Model) else _llm_model(model)


def _system_and_nodes(where: Any, gpus: int) -> tuple[hwdb.Spec, int]:
    """The system of ``where`` (an id, spec, ``(system, nodes)`` or a one-group cluster) and the nodes a group
    of ``gpus`` GPUs needs."""
    nodes = None
    if isinstance(where, tuple) and len(where) == 2:
        where, nodes = where
    elif hasattr(where, "groups") and hasattr(where, "devices"):
        if len(where.groups) != 1:
            raise InvalidArgumentError(
                "argument `where`: serving runs on one kind of node; give a system id or a cluster of one group"
            )
        nodes = where.groups[0]["nodes"]
        where = where.groups[0]["system"]
    if not isinstance(where, (str, hwdb.Spec)):
        raise InvalidArgumentError(
            f"argument `where`: expected a system id, a system spec, (system, nodes) or a cluster; got {where!r}"
        )
    spec = hwdb.resolve(where, "system", "where")
    per_node = int(spec["devices_per_node_count"])
    need = -(-gpus // per_node)
    if nodes is None:
        nodes = need
    elif isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise InvalidArgumentError(f"argument `nodes`: is {nodes!r}; expected a whole number >= 1")
    if nodes * per_node < gpus:
        raise InvalidArgumentError(
            f"argument `tp`: tp x pp = {gpus} GPUs, more than the {nodes * per_node} of {nodes} '{spec.id}' node(s)"
        )
    return spec, nodes


_flag = check.flag
_whole = check.whole


_ENGINES: dict[tuple[Any, ...], Any] = {}
hwdb._AFTER_REGISTER.append(_ENGINES.clear)


@keyword_options()
def engine(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    *,
    attention_dp: bool = False,
    **figures: float,
) -> Any:
    """The engine's resolved serving instance (cached): ``model`` on ``tp x pp`` GPUs of ``where``.

    The weights are in ``dtype``, the KV cache in ``kv_dtype``, and the ``framework`` class's figures come
    from the system's hwdb ``[[serving]]`` table; ``figures`` replace them by name.

    ``attention_dp=True`` (MoE models; TensorRT-LLM's ``enable_attention_dp``, SGLang's
    ``--enable-dp-attention``, DeepSeek-V3's serving layout) makes the ``tp`` GPUs ``tp`` data-parallel
    attention ranks: each holds the whole attention, dense, shared-expert and embedding weights, its own
    requests, scheduler and KV cache, and runs attention on its own tokens (no TP all-reduce); the MoE layers
    are expert-parallel over the same ranks (``ep`` must equal ``tp``; ``experts / ep`` whole experts per GPU,
    routing assumed uniform), the tokens dispatched and combined by two all-to-alls per MoE layer on the
    collectives engine; the ranks step in lockstep. ``pp`` must be 1.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    attention_dp : bool
        Data-parallel attention (above; default False).
    **figures : float
        Framework figures replaced by name (``kernel_time_scale``, ``comm_bandwidth_scale``,
        ``decode_attention_fraction``, ``iteration_overhead_s``, ``collective_sync_s``,
        ``prefill_overhead_s``, ``per_sequence_overhead_s``, ``request_overhead_s`` (the simulator admits each
        request this long after its send), ``kernel_launch_s`` (seconds where named ``_s``), ``cuda_graphs``;
        ``custom_all_reduce`` 1 or 0: whether the TP all-reduces run the framework's own kernel,
        ``pm.collectives`` algorithm ``custom_all_reduce``, where it runs).

    Returns
    -------
    perfmodel._core.ServeEngine
        The engine handle the other functions of this module take (``kv_bytes_per_token``: KV-cache bytes per
        token per GPU; ``framework``; ``fitted_on``: what the framework figures were fitted on, None when
        uncalibrated).

    Raises
    ------
    perfmodel.InvalidArgumentError
        A bad degree, dtype, framework or figure (naming it).

    Examples
    --------
    >>> import perfmodel as pm
    >>> h = pm.serve.engine("llama3.1-8b", "dgx-h100")
    >>> h.kv_bytes_per_token  # 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes
    131072.0
    >>> pm.serve.engine("llama3.1-8b", "dgx-h100") is h  # cached
    True
    """
    m = _as_model(model)
    tp, pp, ep = _whole("tp", tp), _whole("pp", pp), _whole("ep", ep)
    attention_dp = _flag("attention_dp", attention_dp)
    spec, nodes = _system_and_nodes(where, tp * pp)
    kv = "bf16" if kv_dtype is None else str(kv_dtype)
    key = (m.name, tuple(sorted(m.fields.items())), spec.id, id(spec), nodes, tp, pp, ep, dtype, kv, framework,
           attention_dp, tuple(sorted(figures.items())))  # fmt: skip
    hit = _ENGINES.get(key)
    if hit is not None:
        return hit
    for k, v in figures.items():
        if isinstance(v, bool):
            figures[k] = float(v)
        elif not isinstance(v, (int, float)):
            raise InvalidArgumentError(f"argument `{k}`: expected a number, got {v!r}")
    h = _core.serve_engine(m.fields, spec._handle, nodes, tp, pp, ep, str(dtype), kv, str(framework),
                           {k: float(v) for k, v in figures.items()}, attention_dp)  # fmt: skip
    if len(_ENGINES) > 1024:
        _ENGINES.clear()
    _ENGINES[key] = h
    return h


@dataclass(frozen=True)
class Iteration(Result):
    """Times of engine iterations, seconds, with the breakdown.

    Scalars for scalar inputs, numpy arrays otherwise; :meth:`frame` gives one row per element with the
    inputs. Figures read as attributes (``it.time_s``, ``it.gemm_s``, ``it.decode_seqs``...).

    Attributes
    ----------
    values : dict
        ``time_s`` (the iteration) and its breakdown, seconds: ``gemm_s`` (attention and dense-MLP linears),
        ``moe_s`` (router and experts), ``prefill_attention_s``, ``decode_attention_s``, ``elementwise_s``,
        ``head_s`` (embedding, LM head, sampling), ``tp_comm_s``, ``pp_comm_s``, ``overhead_s`` (framework
        host time); and ``kernels`` per GPU (a count).
    inputs : dict
        The iteration's inputs: ``prefill_seqs``, ``prompt_len``, ``cached``, ``decode_seqs``, ``context_len``
        (sequences and tokens).
    fitted_on : str or None
        What the framework figures were fitted on (None: uncalibrated engine).

    Examples
    --------
    >>> import perfmodel as pm
    >>> it = pm.serve.iteration("llama3.1-8b", "dgx-h100", decode_seqs=64, context_len=2048)
    >>> it
    Iteration(11.808 ms)
    >>> f"{it.decode_attention_s * 1e3:.2f} ms", int(it.kernels)
    ('5.41 ms', 388)
    """

    values: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    #: What the framework figures were fitted on (None: uncalibrated engine).
    fitted_on: str | None = None

    def __getattr__(self, key: str) -> Any:
        v = self.__dict__.get("values", {})
        if key in v:
            return v[key]
        i = self.__dict__.get("inputs", {})
        if key in i:
            return i[key]
        raise AttributeError(key)

    def frame(self) -> pl.DataFrame:
        """One row per element: the inputs and every time (seconds; ``kernels`` a count).

        Returns
        -------
        polars.DataFrame
            Columns ``prefill_seqs``, ``prompt_len``, ``cached``, ``decode_seqs``, ``context_len``, then
            ``time_s`` and its breakdown.
        """
        cols = {k: np.atleast_1d(v) for k, v in {**self.inputs, **self.values}.items()}
        return pl.DataFrame(cols)

    def to_frame(self) -> pl.DataFrame:
        """One row per element: the inputs and every time (as :meth:`frame`)."""
        return self.frame()

    def __repr__(self) -> str:
        t = self.values["time_s"]
        shown = f"{t * 1e3:.3f} ms" if np.ndim(t) == 0 else f"{np.size(t)} iterations"
        return f"Iteration({shown})"


def _scalarize(shape: tuple[int, ...], cols: dict[str, np.ndarray]) -> dict[str, Any]:
    if shape == ():
        return {k: float(v[0]) for k, v in cols.items()}
    return {k: v.reshape(shape) for k, v in cols.items()}


@keyword_options()
def iteration(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    prefill_seqs: Any = 0,
    prompt_len: Any = 0,
    cached: Any = 0,
    decode_seqs: Any = 0,
    context_len: Any = 0,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    ep: int = 1,
    attention_dp: bool = False,
    **figures: float,
) -> Iteration:
    """One engine iteration: prompt chunks and decode sequences batched together.

    The iteration holds ``prefill_seqs`` prompt chunks of ``prompt_len`` new tokens (after ``cached`` tokens
    already in the KV cache; each chunk ends its prompt and samples a token) and ``decode_seqs`` decode
    sequences attending to ``context_len`` tokens. Sizes broadcast (numpy arrays). With ``attention_dp`` (see
    :func:`engine`) the batch is each rank's: all ``tp`` ranks hold it, the local experts take ``tp`` ranks'
    routed tokens, and ``tp_comm_s`` holds the EP dispatch and combine all-to-alls.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    prefill_seqs : float or array_like
        Prompt chunks in the iteration (default 0).
    prompt_len : float or array_like
        New tokens per prompt chunk (default 0).
    cached : float or array_like
        Tokens of each prompt already in the KV cache (default 0).
    decode_seqs : float or array_like
        Decoding sequences (default 0).
    context_len : float or array_like
        Tokens each decoding sequence attends to (default 0).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks, experts over ``ep = tp`` (see
        :func:`engine`; default False).
    **figures : float
        Framework figures replaced by name (``kernel_time_scale``, ``comm_bandwidth_scale``,
        ``decode_attention_fraction``, ``iteration_overhead_s``, ``collective_sync_s``,
        ``prefill_overhead_s``, ``per_sequence_overhead_s``, ``request_overhead_s`` (the simulator admits each
        request this long after its send), ``kernel_launch_s`` (seconds where named ``_s``), ``cuda_graphs``;
        ``custom_all_reduce`` 1 or 0: whether the TP all-reduces run the framework's own kernel,
        ``pm.collectives`` algorithm ``custom_all_reduce``, where it runs).

    Returns
    -------
    Iteration
        ``time_s`` and its breakdown (seconds), ``kernels``; scalars for scalar inputs, arrays otherwise.

    Examples
    --------
    >>> import perfmodel as pm
    >>> it = pm.serve.iteration("llama3.1-8b", "dgx-h100", decode_seqs=[1, 64, 256], context_len=2048)
    >>> (it.time_s * 1e3).round(2).tolist()  # ms
    [6.37, 11.81, 30.25]
    >>> it.frame().columns[:6]
    ['prefill_seqs', 'prompt_len', 'cached', 'decode_seqs', 'context_len', 'time_s']
    """
    h = engine(
        model,
        where,
        tp=tp,
        pp=pp,
        ep=ep,
        dtype=dtype,
        kv_dtype=kv_dtype,
        framework=framework,
        attention_dp=attention_dp,
        **figures,
    )
    shape, cols = as_columns(
        prefill_seqs=prefill_seqs, prompt_len=prompt_len, cached=cached, decode_seqs=decode_seqs,
        context_len=context_len,
    )  # fmt: skip
    out = _core.serve_iteration(h, cols["prefill_seqs"], cols["prompt_len"], cols["cached"], cols["decode_seqs"],
                                cols["context_len"])  # fmt: skip
    return Iteration(_scalarize(shape, out), _scalarize(shape, cols), h.fitted_on)


@dataclass(frozen=True)
class MemoryReport(Result):
    """Memory of one GPU of the heaviest pipeline stage, bytes, as the serving framework allocates it.

    Attributes
    ----------
    weights_bytes : float
        Weights per GPU, bytes.
    activations_bytes : float
        The largest iteration's workspace, bytes.
    kv_cache_bytes : float
        What the framework allocates for the KV cache, bytes.
    kv_bytes_per_token : float
        KV-cache bytes per token per GPU.
    kv_tokens : float
        Tokens the KV cache holds (whole blocks).
    capacity_bytes : float
        HBM capacity of one GPU, bytes.
    shortfall_bytes : float
        By how much weights and activations exceed the framework's share, bytes (0 when they fit).
    fits : bool
        Weights and activations fit and the KV cache has room (``kv_tokens > 0``).

    Examples
    --------
    >>> import perfmodel as pm
    >>> mem = pm.serve.memory("llama3-70b", "dgx-h100", tp=8)
    >>> mem.explain()
    'fits: weights 16.4 GiB, activations 0.2 GiB, KV cache 55.4 GiB (1,451,344 tokens) of 80.0 GiB per GPU'
    >>> mem.frame()["gib"].round(1).to_list()  # weights, activations, KV cache, free
    [16.4, 0.2, 55.4, 8.0]
    """

    weights_bytes: float
    activations_bytes: float
    kv_cache_bytes: float
    kv_bytes_per_token: float
    kv_tokens: float
    capacity_bytes: float
    shortfall_bytes: float

    @property
    def fits(self) -> bool:
        return self.shortfall_bytes <= 0 and self.kv_tokens > 0

    def frame(self) -> pl.DataFrame:
        """One row per part (weights, activations, KV cache, free).

        Returns
        -------
        polars.DataFrame
            ``part``, ``bytes`` and ``gib`` (2^30 bytes).
        """
        free = max(
            self.capacity_bytes - self.weights_bytes - self.activations_bytes - self.kv_cache_bytes, 0.0
        )
        parts = ["weights", "activations", "kv_cache", "free"]
        b = [self.weights_bytes, self.activations_bytes, self.kv_cache_bytes, free]
        return pl.DataFrame({"part": parts, "bytes": b, "gib": [x / 2**30 for x in b]})

    def explain(self) -> str:
        """The report in words: what fits, or by how much it does not (GiB = 2^30 bytes).

        Returns
        -------
        str
            One sentence.
        """
        if self.fits:
            return (
                f"fits: weights {self.weights_bytes / 2**30:.1f} GiB, activations "
                f"{self.activations_bytes / 2**30:.1f} GiB, KV cache {self.kv_cache_bytes / 2**30:.1f} GiB "
                f"({self.kv_tokens:,.0f} tokens) of {self.capacity_bytes / 2**30:.1f} GiB per GPU"
            )
        return (
            f"does not fit: weights {self.weights_bytes / 2**30:.1f} GiB and activations "
            f"{self.activations_bytes / 2**30:.1f} GiB exceed the framework's share of the "
            f"{self.capacity_bytes / 2**30:.1f} GiB per GPU by {self.shortfall_bytes / 2**30:.1f} GiB"
        )


@keyword_options()
def memory(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    ep: int = 1,
    max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
    gpu_memory_utilization: float | None = None,
    block_size: int | None = None,
    attention_dp: bool = False,
) -> MemoryReport:
    """Memory per GPU of a serving instance as ``framework`` allocates it.

    The framework's defaults apply unless given (:data:`perfmodel.serve.frameworks.FRAMEWORKS`). With
    ``attention_dp`` each GPU holds the whole attention, dense, shared-expert and embedding weights and
    ``experts / ep`` routed experts, and its own requests' KV.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    max_num_batched_tokens : int, optional
        Tokens per iteration, which sizes the activations workspace (default: the framework's).
    max_num_seqs : int, optional
        Sequences per iteration (default: the framework's).
    gpu_memory_utilization : float, optional
        The fraction of GPU memory the framework takes (default: the framework's, e.g. vLLM 0.9).
    block_size : int, optional
        KV-cache block, tokens (default: the framework's).
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks (see :func:`engine`; default False).

    Returns
    -------
    MemoryReport
        ``weights_bytes``, ``activations_bytes``, ``kv_cache_bytes``, ``capacity_bytes``, ``shortfall_bytes``
        (bytes per GPU), ``kv_bytes_per_token``, ``kv_tokens``, ``fits``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> mem = pm.serve.memory("llama3-70b", "dgx-h100", tp=8)
    >>> mem.fits, f"{mem.weights_bytes / 2**30:.1f} GiB", f"{mem.kv_tokens:,.0f} tokens"
    (True, '16.4 GiB', '1,451,344 tokens')
    >>> pm.serve.memory("llama3-70b", "dgx-h100", tp=1).fits
    False
    """
    h = engine(
        model,
        where,
        tp=tp,
        pp=pp,
        ep=ep,
        dtype=dtype,
        kv_dtype=kv_dtype,
        framework=framework,
        attention_dp=attention_dp,
    )
    d = framework_defaults(framework)
    tokens = (
        d.max_num_batched_tokens
        if max_num_batched_tokens is None
        else _whole("max_num_batched_tokens", max_num_batched_tokens)
    )
    seqs = d.max_num_seqs if max_num_seqs is None else _whole("max_num_seqs", max_num_seqs)
    frac = d.memory_fraction if gpu_memory_utilization is None else float(gpu_memory_utilization)
    block = d.block_size if block_size is None else _whole("block_size", block_size)
    r = _core.serve_memory(h, float(tokens), float(seqs), frac, d.fraction_of_free, block)
    return MemoryReport(**{k: float(r[k]) for k in MemoryReport.__dataclass_fields__})


def _check_fits(mem: MemoryReport, model: Any, where: Any, tp: int, pp: int) -> None:
    if not mem.fits:
        name = model.name if isinstance(model, Model) else str(model)
        raise ModelError(f"{name} on tp={tp} x pp={pp} of {where!r}: {mem.explain()}")


@dataclass(frozen=True)
class Phase(Result):
    """One prefill or decode iteration (:func:`prefill`, :func:`decode`): throughput, memory and energy.

    Figures of the iteration and of ``energy`` read as attributes (``p.time_s``, ``p.gemm_s``,
    ``p.power_per_gpu_w``...).

    Attributes
    ----------
    iteration : Iteration
        The iteration: ``time_s`` (seconds) and its breakdown.
    tokens_per_s : float or numpy.ndarray
        Prompt tokens per second for prefill, generated tokens per second for decode.
    memory_per_gpu_bytes : float or numpy.ndarray
        Weights, activations and this phase's KV cache, bytes per GPU.
    fits : bool or numpy.ndarray
        The phase fits in GPU memory.
    memory : MemoryReport
        The instance's memory as the framework allocates it.
    energy : dict
        Power and energy of the iteration: ``power_per_gpu_w`` (W), ``energy_per_gpu_j``, ``energy_j`` (all
        GPUs of the instance), ``energy_per_token_j`` (J), ``compute_utilization``, ``memory_utilization`` and
        ``clock_fraction`` (fractions), ``capped_time_s`` (s).

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.serve.prefill("llama3-70b", "dgx-h100", tp=8, batch=1, prompt_len=2048)
    >>> f"{p.time_s * 1e3:.1f} ms", f"{p.tokens_per_s:,.0f} tokens/s", f"{p.power_per_gpu_w:.0f} W"
    ('102.2 ms', '20,040 tokens/s', '573 W')
    """

    iteration: Iteration
    tokens_per_s: Any
    memory_per_gpu_bytes: Any
    fits: Any
    memory: MemoryReport
    #: Power and energy of the iteration (:func:`perfmodel.power.serve_energy`): ``power_per_gpu_w``,
    #: ``energy_per_gpu_j``, ``energy_j`` (all GPUs of the instance), ``energy_per_token_j``, utilisations.
    energy: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        en = self.__dict__.get("energy") or {}
        if key in en:
            return en[key]
        it = self.__dict__.get("iteration")
        if it is not None:
            return getattr(it, key)
        raise AttributeError(key)

    def frame(self) -> pl.DataFrame:
        """One row per element: the iteration's inputs and times, ``tokens_per_s``, ``memory_per_gpu_bytes``,
        ``fits``.

        Returns
        -------
        polars.DataFrame
            The columns of :meth:`Iteration.frame` and those three.
        """
        f = self.iteration.frame()
        return f.with_columns(
            pl.Series("tokens_per_s", np.atleast_1d(self.tokens_per_s)),
            pl.Series("memory_per_gpu_bytes", np.atleast_1d(self.memory_per_gpu_bytes)),
            pl.Series("fits", np.atleast_1d(self.fits)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The inputs and times of the iteration, ``tokens_per_s``, ``memory_per_gpu_bytes``, ``fits``, the
        memory report as ``memory.*`` and the energy figures (scalars, or arrays for array inputs)."""
        out = {**self.iteration.to_dict(), "tokens_per_s": self.tokens_per_s,
               "memory_per_gpu_bytes": self.memory_per_gpu_bytes, "fits": self.fits}  # fmt: skip
        out.update({f"memory.{k}": v for k, v in self.memory.to_dict().items()})
        out.update(self.energy)
        return out


#: The largest batch or token count a phase accepts (2^40: beyond any serving iteration; larger is a mistake).
_MAX_SIZE = float(2**40)
_ARG_NAMES = {"prefill_seqs": "batch", "decode_seqs": "batch"}


def _product(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):  # sizes are checked in _phase
        return np.multiply(a, b)


def _phase(model: Any, where: Any, tp: int, pp: int, ep: int, dtype: str, kv_dtype: str | None, framework: str,
           figures: dict[str, float], it_args: dict[str, Any], tokens: Any, kv_tokens: Any, batch: Any,
           attention_dp: bool = False) -> Phase:  # fmt: skip
    for name, v in it_args.items():
        arr = np.asarray(v, dtype=float) if not isinstance(v, str) else np.asarray(np.nan)
        if not np.all(np.isfinite(arr)) or np.any(arr < 1) or np.any(arr > _MAX_SIZE):
            raise InvalidArgumentError(
                f"argument `{_ARG_NAMES.get(name, name)}`: is {v!r}; expected numbers from 1 to {_MAX_SIZE:.0e}"
            )
    it = iteration(model, where, tp=tp, pp=pp, dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=ep,
                   attention_dp=attention_dp, **it_args, **figures)  # fmt: skip
    h = engine(
        model,
        where,
        tp=tp,
        pp=pp,
        ep=ep,
        dtype=dtype,
        kv_dtype=kv_dtype,
        framework=framework,
        attention_dp=attention_dp,
        **figures,
    )
    mem = memory(
        model,
        where,
        tp=tp,
        pp=pp,
        dtype=dtype,
        kv_dtype=kv_dtype,
        framework=framework,
        ep=ep,
        attention_dp=attention_dp,
    )
    kv_bytes = np.asarray(kv_tokens, dtype=float) * h.kv_bytes_per_token
    act = np.asarray(batch, dtype=float) * 0 + mem.activations_bytes
    need = mem.weights_bytes + act + kv_bytes
    fits = (need <= mem.capacity_bytes) & (mem.shortfall_bytes <= 0)
    tps = np.asarray(tokens, dtype=float) / np.asarray(it.time_s)
    scalar = np.ndim(it.time_s) == 0
    conv = (lambda x: float(x)) if scalar else (lambda x: x)
    from ..power import serve_energy

    spec, _ = _system_and_nodes(where, tp * pp)
    energy = serve_energy(h, spec, dtype, it.inputs, tokens, tp * pp)
    return Phase(it, conv(tps), conv(need), bool(fits) if scalar else fits, mem,
                 {k: conv(v) if np.ndim(v) else v for k, v in energy.items()})  # fmt: skip


@keyword_options()
def prefill(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    batch: Any = 1,
    prompt_len: Any = 2048,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    ep: int = 1,
    attention_dp: bool = False,
    **figures: float,
) -> Phase:
    """One prefill of ``batch`` whole prompts of ``prompt_len`` tokens.

    ``time_s`` is the iteration, which also samples each prompt's first token. With ``attention_dp`` the batch
    is each rank's (every one of the ``tp`` ranks prefills ``batch`` prompts; ``tokens_per_s`` is one rank's).

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    batch : int or array_like
        Prompts in the iteration, 1 to 2^40 (default 1).
    prompt_len : int or array_like
        Tokens per prompt, 1 to 2^40 (default 2048).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks, experts over ``ep = tp`` (see
        :func:`engine`; default False).
    **figures : float
        Framework figures replaced by name (``kernel_time_scale``, ``comm_bandwidth_scale``,
        ``decode_attention_fraction``, ``iteration_overhead_s``, ``collective_sync_s``,
        ``prefill_overhead_s``, ``per_sequence_overhead_s``, ``request_overhead_s`` (the simulator admits each
        request this long after its send), ``kernel_launch_s`` (seconds where named ``_s``), ``cuda_graphs``;
        ``custom_all_reduce`` 1 or 0: whether the TP all-reduces run the framework's own kernel,
        ``pm.collectives`` algorithm ``custom_all_reduce``, where it runs).

    Returns
    -------
    Phase
        ``time_s`` (s) and its breakdown, ``tokens_per_s`` (prompt tokens/s), ``memory_per_gpu_bytes``,
        ``fits``, and the energy figures (``power_per_gpu_w`` W, ``energy_per_token_j`` J...); arrays for
        array inputs.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A batch or prompt length outside 1 to 2^40.

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.serve.prefill("llama3-70b", "dgx-h100", tp=8, batch=1, prompt_len=2048)
    >>> f"{p.time_s * 1e3:.1f} ms", f"{p.tokens_per_s:,.0f} tokens/s", p.fits
    ('102.2 ms', '20,040 tokens/s', True)
    """
    with np.errstate(all="ignore"):  # sizes are checked in _phase
        tokens = np.multiply(batch, prompt_len)
    return _phase(model, where, tp, pp, ep, dtype, kv_dtype, framework, figures,
                  {"prefill_seqs": batch, "prompt_len": prompt_len}, tokens, tokens, batch, attention_dp)  # fmt: skip


@keyword_options()
def decode(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    batch: Any = 1,
    context_len: Any = 2048,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    ep: int = 1,
    attention_dp: bool = False,
    **figures: float,
) -> Phase:
    """One decode iteration of ``batch`` sequences each attending to ``context_len`` tokens.

    ``time_s`` is the time per output token at this batch. With ``attention_dp`` the batch is each rank's
    (``tokens_per_s`` is one rank's).

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    batch : int or array_like
        Decoding sequences, 1 to 2^40 (default 1).
    context_len : int or array_like
        Tokens each sequence attends to, 1 to 2^40 (default 2048).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks, experts over ``ep = tp`` (see
        :func:`engine`; default False).
    **figures : float
        Framework figures replaced by name (``kernel_time_scale``, ``comm_bandwidth_scale``,
        ``decode_attention_fraction``, ``iteration_overhead_s``, ``collective_sync_s``,
        ``prefill_overhead_s``, ``per_sequence_overhead_s``, ``request_overhead_s`` (the simulator admits each
        request this long after its send), ``kernel_launch_s`` (seconds where named ``_s``), ``cuda_graphs``;
        ``custom_all_reduce`` 1 or 0: whether the TP all-reduces run the framework's own kernel,
        ``pm.collectives`` algorithm ``custom_all_reduce``, where it runs).

    Returns
    -------
    Phase
        ``time_s`` (s per output token) and its breakdown, ``tokens_per_s`` (generated tokens/s),
        ``memory_per_gpu_bytes``, ``fits`` and the energy figures; arrays for array inputs.

    Raises
    ------
    perfmodel.InvalidArgumentError
        A batch or context length outside 1 to 2^40.

    Examples
    --------
    >>> import perfmodel as pm
    >>> d = pm.serve.decode("llama3-70b", "dgx-h100", tp=8, batch=64, context_len=2048)
    >>> f"{d.time_s * 1e3:.2f} ms/token", f"{d.tokens_per_s:,.0f} tokens/s"
    ('18.55 ms/token', '3,450 tokens/s')
    >>> (pm.serve.decode("llama3-70b", "dgx-h100", tp=8, batch=[1, 256]).time_s * 1e3).round(1).tolist()
    [14.5, 30.8]
    """
    return _phase(model, where, tp, pp, ep, dtype, kv_dtype, framework, figures,
                  {"decode_seqs": batch, "context_len": context_len}, batch, _product(batch, context_len),
                  batch, attention_dp)  # fmt: skip


def _scheduler(m: Model, framework: str, mem: MemoryReport, max_num_seqs: int | None, max_num_batched_tokens: int | None,
               chunked_prefill: bool | None, block_size: int | None, max_model_len: int | None, pp: int = 1,
               scheduler_policy: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The scheduler of one engine (the framework's defaults unless given). Pipeline parallelism keeps ``pp``
    batches in flight, as vLLM's virtual engines do: each has its own scheduler and batch and a 1/pp share of the
    KV blocks, and each iteration takes the whole pipeline's latency, so the pp stages work on pp batches at
    once; a replica is simulated as pp such engines."""
    d = framework_defaults(framework)
    out = {
        "max_num_seqs": d.max_num_seqs if max_num_seqs is None else _whole("max_num_seqs", max_num_seqs),
        "max_num_batched_tokens": d.max_num_batched_tokens
        if max_num_batched_tokens is None
        else _whole("max_num_batched_tokens", max_num_batched_tokens),
        "chunked_prefill": d.chunked_prefill if chunked_prefill is None else bool(chunked_prefill),
        "block_size": d.block_size if block_size is None else _whole("block_size", block_size),
        "kv_capacity_tokens": float(mem.kv_tokens),
        "max_model_len": int(m.seq_len) if max_model_len is None else _whole("max_model_len", max_model_len),
        "reserve_output": (d.scheduler_policy if scheduler_policy is None else _policy(scheduler_policy))
        == "guaranteed_no_evict",
    }
    if pp > 1:
        block = out["block_size"]
        out["kv_capacity_tokens"] = float(math.floor(out["kv_capacity_tokens"] / pp / block) * block)
    return out


def _trace(requests: Any, rate: float | None, num_requests: int, prompt_tokens: Any, output_tokens: Any,
           seed: int) -> pl.DataFrame:  # fmt: skip
    """The requests of a run: a trace (a frame or CSV/JSONL path) or Poisson arrivals, exactly one of them."""
    if (requests is None) == (rate is None):
        raise InvalidArgumentError(
            "give either `requests` (a trace) or `rate` (Poisson arrivals per second), not both or neither"
        )
    if requests is not None:
        return read_requests(requests)
    frame: pl.DataFrame = globals()["requests"](
        rate, num_requests, prompt_tokens, output_tokens, seed, n_name="num_requests"
    )
    return frame


def _columns(trace: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trace's ``arrival_s``, ``prompt_tokens``, ``output_tokens`` as contiguous float64 columns."""
    a, p, o = (
        np.ascontiguousarray(trace[c].to_numpy().astype(np.float64))
        for c in ("arrival_s", "prompt_tokens", "output_tokens")
    )
    return a, p, o


@dataclass(frozen=True)
class _Instance:
    """A serving instance ready to simulate: its engine handle, memory, one engine's scheduler, the system's
    power law and the checked power cap (W, None: uncapped)."""

    handle: Any
    memory: MemoryReport
    scheduler: dict[str, Any]
    power: Any
    power_cap_w: float | None


def _instance(m: Model, where: Any, tp: int, pp: int, ep: int, dtype: str, kv_dtype: str | None, framework: str,
              max_num_seqs: int | None = None, max_num_batched_tokens: int | None = None,
              chunked_prefill: bool | None = None, block_size: int | None = None,
              gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
              power_cap_w: Any = None, attention_dp: bool = False, scheduler_policy: str | None = None,
              **figures: float) -> _Instance:  # fmt: skip
    """Resolves one ``tp x pp`` instance for the simulators (:func:`simulate` and the pools of
    :func:`perfmodel.serve.disaggregated`): engine, memory (a :class:`~perfmodel.ModelError` when it does not
    fit), scheduler, power law (:func:`perfmodel.power.model`) and cap."""
    from ..power import check_cap
    from ..power import model as power_model

    h = engine(
        m,
        where,
        tp=tp,
        pp=pp,
        ep=ep,
        dtype=dtype,
        kv_dtype=kv_dtype,
        framework=framework,
        attention_dp=attention_dp,
        **figures,
    )
    mem = memory(m, where, tp=tp, pp=pp, dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=ep,
                 max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                 gpu_memory_utilization=gpu_memory_utilization, block_size=block_size, attention_dp=attention_dp)  # fmt: skip
    _check_fits(mem, m, where.id if isinstance(where, hwdb.Spec) else where, tp, pp)
    pp = _whole("pp", pp)
    sched = _scheduler(m, framework, mem, max_num_seqs, max_num_batched_tokens, chunked_prefill, block_size, max_model_len, pp,
                       scheduler_policy)  # fmt: skip
    spec, _ = _system_and_nodes(where, tp * pp)
    pmod = power_model(spec, dtype=dtype)
    return _Instance(h, mem, sched, pmod, check_cap(pmod, power_cap_w))


@keyword_options()
def simulate(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    replicas: int = 1,
    requests: Any = None,
    rate: float | None = None,
    num_requests: int = 1000,
    prompt_tokens: Any = 512,
    output_tokens: Any = 128,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "vllm",
    ep: int = 1,
    seed: int = 0,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    chunked_prefill: bool | None = None,
    block_size: int | None = None,
    gpu_memory_utilization: float | None = None,
    max_model_len: int | None = None,
    balancer: str = "round_robin",
    power_cap_w: float | None = None,
    attention_dp: bool = False,
    scheduler_policy: str | None = None,
    max_concurrency: int | None = None,
    **figures: float,
) -> Simulation:
    """Serve a request trace or Poisson arrivals on ``replicas`` copies of an instance: the
    continuous-batching simulator.

    Requests are ``requests`` (a frame or CSV/JSONL path with ``arrival_s``, ``prompt_tokens``,
    ``output_tokens``) or ``num_requests`` Poisson arrivals at ``rate`` per second (lengths fixed or drawn,
    see :func:`perfmodel.serve.requests`), on ``replicas`` copies of a ``tp x pp`` instance behind a load
    balancer, with ``framework``'s scheduler (chunked prefill, FCFS, paged KV cache; its defaults unless
    given).

    With ``attention_dp`` (see :func:`engine`) each of the ``replicas`` groups is ``tp`` data-parallel
    attention ranks, each with its own scheduler (the framework's limits per rank) and KV cache, stepping in
    lockstep: an iteration holds every rank's batch and takes the slowest rank's time. ``balancer`` spreads
    requests over all ranks; the ``replica`` column is the rank (0 to ``replicas x tp - 1``). The energy
    columns are NaN (the power tally prices one batch per iteration; not modelled for lockstep groups).

    With ``max_concurrency`` = C the requests come from closed-loop clients, as ``vllm bench serve
    --max-concurrency C``, SGLang's ``bench_serving``, genai-perf/aiperf's concurrency mode and InferenceMAX
    run: requests are sent in order with at most C in flight, the next one when one finishes (its send time
    is the later of its own arrival and that finish). Each request's ``arrival_s`` is then its send time and
    TTFT, TPOT and end-to-end latency count from it, as those clients time a request from when they send it.
    Without ``rate`` or ``requests`` it defaults to ``rate=math.inf`` (every request ready at once, those
    benchmarks' default), so C requests stay in flight until the last ones drain.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    replicas : int
        Copies of the instance (default 1).
    requests : polars.DataFrame or str, optional
        A trace (give this or ``rate``).
    rate : float, optional
        Poisson arrivals, requests per second (``math.inf``: all at once).
    num_requests : int
        Requests drawn with ``rate`` (default 1000).
    prompt_tokens, output_tokens : int or tuple
        Lengths drawn with ``rate``, tokens: a whole number (fixed), ``("uniform", lo, hi)`` or
        ``("lognormal", mean, sigma, max)`` (default 512 and 128).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"`` (default), ``"sglang"``,
        ``"trtllm"``, ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    seed : int
        Seed of the Poisson draws, in [0, 2^64) (default 0).
    slo_ttft_s, slo_tpot_s : float, optional
        SLOs on time to first token and time per output token, seconds (goodput counts requests meeting both).
    max_num_seqs, max_num_batched_tokens : int, optional
        Scheduler limits per iteration (sequences, tokens; default: the framework's).
    chunked_prefill : bool, optional
        Split prompts over iterations (default: the framework's).
    block_size : int, optional
        KV-cache block, tokens (default: the framework's).
    gpu_memory_utilization : float, optional
        The fraction of GPU memory the framework takes (default: the framework's).
    max_model_len : int, optional
        The longest request, tokens (default: the model's ``seq_len``).
    balancer : str
        How requests are spread over replicas (default ``"round_robin"``).
    power_cap_w : float, optional
        Power cap per GPU, W (above idle, at most the TDP): iterations slow as the power law says.
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks (above; default False).
    scheduler_policy : str, optional
        How admission holds KV blocks: ``"max_utilization"`` (the prompt's, growing per decode with recompute
        preemption, as vLLM and SGLang do) or ``"guaranteed_no_evict"`` (the whole request's, TensorRT-LLM's
        default); see :data:`perfmodel.serve.frameworks.SCHEDULER_POLICIES`. Default: the framework's.
    max_concurrency : int, optional
        Closed-loop clients: at most this many requests in flight (a whole number >= 1; above). Default: none,
        every request is sent at its arrival.
    **figures : float
        Framework figures replaced by name (``kernel_time_scale``, ``comm_bandwidth_scale``,
        ``decode_attention_fraction``, ``iteration_overhead_s``, ``collective_sync_s``,
        ``prefill_overhead_s``, ``per_sequence_overhead_s``, ``request_overhead_s`` (the simulator admits each
        request this long after its send), ``kernel_launch_s`` (seconds where named ``_s``), ``cuda_graphs``;
        ``custom_all_reduce`` 1 or 0: whether the TP all-reduces run the framework's own kernel,
        ``pm.collectives`` algorithm ``custom_all_reduce``, where it runs).

    Returns
    -------
    Simulation
        Per-request TTFT, TPOT, ITL and end-to-end latency (s), their mean and percentiles, throughput and
        goodput under the SLOs, and the run's energy (:func:`perfmodel.power.add_run_energy`: ``energy_j``,
        ``mean_power_per_gpu_w``, ``energy_per_output_token_j``, ...; each GPU's power limited to
        ``power_cap_w`` watts when given). Attributes listed in :class:`Simulation`.

    Raises
    ------
    perfmodel.InvalidArgumentError
        Both or neither of ``requests`` and ``rate``, or a bad option (naming it).
    perfmodel.ModelError
        The instance does not fit in GPU memory (saying by how much).

    Examples
    --------
    >>> import perfmodel as pm
    >>> sim = pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=4.0, num_requests=100)
    >>> sim
    Simulation(100 requests: mean TTFT 21.0 ms, mean TPOT 6.66 ms, 449 output tokens/s)
    >>> f"p99 TTFT {sim.p99_ttft_s * 1e3:.0f} ms", sim.requests.height
    ('p99 TTFT 44 ms', 100)
    >>> one = pm.serve.simulate("llama3.1-8b", "dgx-h100", num_requests=20, max_concurrency=1)
    >>> round(one.requests["e2e_s"].sum() / one.makespan_s, 6)  # one client: strictly serial
    1.0
    """
    m = _as_model(model)
    concurrency = (
        None if max_concurrency is None else _whole("max_concurrency", max_concurrency, 1, 2**32 - 1)
    )
    if concurrency is not None and requests is None and rate is None:
        rate = math.inf
    trace = _trace(requests, rate, num_requests, prompt_tokens, output_tokens, seed)
    replicas = _whole("replicas", replicas)
    attention_dp = _flag("attention_dp", attention_dp)
    if attention_dp and power_cap_w is not None:
        raise InvalidArgumentError("argument `power_cap_w`: power capping is not modelled with attention_dp")
    slo_ttft_s, slo_tpot_s = check_slo("slo_ttft_s", slo_ttft_s), check_slo("slo_tpot_s", slo_tpot_s)
    inst = _instance(m, where, tp, pp, ep, dtype, kv_dtype, framework, max_num_seqs, max_num_batched_tokens,
                     chunked_prefill, block_size, gpu_memory_utilization, max_model_len, power_cap_w,
                     attention_dp, scheduler_policy, **figures)  # fmt: skip
    pp = _whole("pp", pp)
    # The simulator with each iteration's power tallied (perfmodel.power; times bit-identical without a cap).
    raw = _core.serve_simulate(inst.handle, *_columns(trace), replicas * pp, inst.scheduler, str(balancer), True,
                               inst.power.handle, inst.power_cap_w, concurrency)  # fmt: skip
    if concurrency is not None:  # the clients' send times
        trace = trace.with_columns(arrival_s=raw["arrival_s"])
    if pp > 1:
        raw["replica"] = np.floor_divide(raw["replica"], pp)
    sim = summarize(raw, trace, slo_ttft_s, slo_tpot_s)
    if attention_dp:
        nan = float("nan")
        sim.summary.update(gpus=float(tp * replicas), energy_j=nan, mean_power_per_gpu_w=nan, peak_power_per_gpu_w=nan,
                           energy_per_output_token_j=nan, energy_per_request_j=nan, energy_per_iteration_j=nan,
                           throttled_iterations=nan, cluster_power_w=nan)  # fmt: skip
        return sim
    from ..power import add_run_energy

    spec, _ = _system_and_nodes(where, tp * pp)
    add_run_energy(sim.summary, raw, [("", tp * pp, replicas)], spec)
    return sim


@keyword_options()
def max_throughput(
    model: Any,
    where: Any,
    tp: int = 1,
    pp: int = 1,
    isl: int = 1024,
    osl: int = 1024,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    framework: str = "trtllm",
    ep: int = 1,
    num_requests: int | None = None,
    attention_dp: bool = False,
    **options: Any,
) -> Simulation:
    """Offline maximum throughput of one ``tp x pp`` instance: every request arriving at once.

    ``num_requests`` requests of ``isl`` prompt and ``osl`` output tokens all arrive at once (as trtllm-bench
    and MLPerf Offline run), simulated with ``framework``'s scheduler. ``output_tokens_per_s`` is the whole
    group's.

    Parameters
    ----------
    model : str, dict or perfmodel.llm.Model
        The served model: a preset id, a dict of fields or a model.
    where : str, Spec, tuple or Cluster
        The system: an id or spec, ``(system, nodes)`` or a cluster of one group (a device id is an error
        naming the systems that hold it).
    tp, pp : int
        Tensor- and pipeline-parallel degrees of the instance (default 1 each).
    isl, osl : int
        Prompt and output tokens per request (default 1024 each).
    dtype : str
        Weights' dtype: ``"bf16"`` (default), ``"fp16"``, ``"fp8"`` (W8A8), ``"int4"`` (weight-only),
        ``"nvfp4"``/``"mxfp4"`` (W4A4) or ``"fp6"`` (W6A6, block-scaled), the last three on devices with those
        matrix peaks.
    kv_dtype : str, optional
        KV-cache dtype (default: 16-bit).
    framework : str
        Serving framework class whose figures and defaults apply: ``"vllm"``, ``"sglang"``,
        ``"trtllm"`` (default),
        ``"trtllm-pytorch"``, ``"splitwise"`` (:data:`FRAMEWORKS`).
    ep : int
        Expert-parallel degree for MoE models (default 1).
    attention_dp : bool
        MoE models: data-parallel attention over the ``tp`` ranks, experts over ``ep = tp`` (see
        :func:`engine`; default False).
    num_requests : int, optional
        Requests (default: enough for eight full batches, at least 256; with ``attention_dp``, eight full
        batches on every one of the ``tp`` ranks).
    **options
        Further keyword options of :func:`simulate` (scheduler limits, ``power_cap_w``, figures...).

    Returns
    -------
    Simulation
        The run (attributes in :class:`Simulation`): ``output_tokens_per_s``, latencies in seconds, energy.

    Raises
    ------
    perfmodel.ModelError
        The instance does not fit in GPU memory.

    Examples
    --------
    >>> import perfmodel as pm
    >>> sim = pm.serve.max_throughput("llama3.1-8b", "dgx-h100", isl=512, osl=128)
    >>> f"{sim.output_tokens_per_s:,.0f} output tokens/s", int(sim.num_requests)
    ('5,597 output tokens/s', 5672)
    """
    m = _as_model(model)
    isl, osl = _whole("isl", isl), _whole("osl", osl)
    attention_dp = _flag("attention_dp", attention_dp)
    if num_requests is None:
        d = framework_defaults(framework)
        seqs = options.get("max_num_seqs") or d.max_num_seqs
        mem = memory(m, where, tp=tp, pp=pp, dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=ep,
                     max_num_batched_tokens=options.get("max_num_batched_tokens"),
                     max_num_seqs=options.get("max_num_seqs"), attention_dp=attention_dp)  # fmt: skip
        _check_fits(mem, m, where, tp, pp)
        fit = max(int(mem.kv_tokens // (isl + osl)), 1)
        ranks = _whole("tp", tp) if attention_dp else 1
        num_requests = max(8 * min(seqs, fit) * ranks, 256)
    max_len = options.pop("max_model_len", None) or max(int(m.seq_len), isl + osl)
    return simulate(m, where, tp=tp, pp=pp, replicas=1, rate=math.inf, num_requests=_whole("num_requests", num_requests),
                    prompt_tokens=isl, output_tokens=osl, dtype=dtype, kv_dtype=kv_dtype, framework=framework, ep=ep,
                    max_model_len=max_len, attention_dp=attention_dp, **options)  # fmt: skip


__all__ += ["Phase", "ITERATION_COLUMNS", "FrameworkDefaults", "framework_defaults", "SCHEDULER_POLICIES", "Simulation", "simulate",
            "max_throughput", "requests", "read_requests", "search", "plans"]  # fmt: skip


from .disagg import Disaggregation, Pool, SplitSearch, disaggregated, split_search  # noqa: E402  (uses the functions above)
from .search import plans, search  # noqa: E402  (uses the functions above)

__all__ += ["Pool", "Disaggregation", "SplitSearch", "disaggregated", "split_search"]
from . import mix  # noqa: E402  (uses the functions above)
from .max_rate import MaxRate, max_rate  # noqa: E402
from .mix import cheapest_mix  # noqa: E402

__all__ += ["mix", "cheapest_mix", "MaxRate", "max_rate"]
