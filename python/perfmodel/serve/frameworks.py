"""Scheduler and memory defaults of the serving frameworks, as their documentation gives them.

The timing figures of each framework class (kernel scale, paged-attention fraction, host overheads) are
fitted per system and live in hwdb (``[[serving]]`` tables of a system); these are the configuration defaults
a user gets without setting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InvalidArgumentError


@dataclass(frozen=True)
class FrameworkDefaults:
    """A serving framework's scheduler and memory defaults, as its documentation gives them
    (:data:`FRAMEWORKS`).

    Attributes
    ----------
    max_num_seqs : int
        Sequences per iteration.
    max_num_batched_tokens : int
        Tokens per iteration.
    memory_fraction : float
        Fraction of the GPU's memory (or of the memory left after weights and activations when
        ``fraction_of_free``) given to the KV cache.
    fraction_of_free : bool
        ``memory_fraction`` is of the free memory (TensorRT-LLM) rather than of the whole GPU.
    block_size : int
        Tokens per KV block.
    chunked_prefill : bool
        Prompts split over iterations.
    source : str
        Where the defaults come from.
    scheduler_policy : str
        How admission holds KV blocks (:data:`SCHEDULER_POLICIES`).

    Examples
    --------
    >>> import perfmodel as pm
    >>> d = pm.serve.framework_defaults("vllm")
    >>> d.max_num_seqs, d.max_num_batched_tokens, d.memory_fraction, d.block_size
    (256, 2048, 0.9, 16)
    """

    max_num_seqs: int
    max_num_batched_tokens: int
    memory_fraction: float
    fraction_of_free: bool
    block_size: int
    chunked_prefill: bool
    source: str
    scheduler_policy: str = "max_utilization"


#: How admission holds KV blocks (TensorRT-LLM's ``CapacitySchedulerPolicy`` names): ``max_utilization``
#: allocates a prompt's blocks and grows per decode, preempting (recompute) when the cache is full (vLLM's and
#: SGLang's only behaviour); ``guaranteed_no_evict`` reserves the blocks of the whole request (prompt and every
#: output token) at admission, so nothing is ever preempted and fewer requests run at once (TensorRT-LLM's
#: default: ``executor::SchedulerConfig`` constructs with ``kGUARANTEED_NO_EVICT``, and trtllm-bench's
#: ``--scheduler_policy`` defaults to it).
SCHEDULER_POLICIES: tuple[str, ...] = ("max_utilization", "guaranteed_no_evict")

_SGLANG = FrameworkDefaults(
    max_num_seqs=1024,
    max_num_batched_tokens=8192,
    memory_fraction=0.88,
    fraction_of_free=False,
    block_size=1,
    chunked_prefill=True,
    source="SGLang server arguments (docs.sglang.ai, 'Server Arguments'): chunked_prefill_size 8192 on "
    "80 GB-class GPUs, mem_fraction_static about 0.88, token-granular KV pool (page size 1)",
)

#: Framework class -> its defaults.
FRAMEWORKS: dict[str, FrameworkDefaults] = {
    "vllm": FrameworkDefaults(
        max_num_seqs=256,
        max_num_batched_tokens=2048,
        memory_fraction=0.9,
        fraction_of_free=False,
        block_size=16,
        chunked_prefill=True,
        source="vLLM engine arguments (docs.vllm.ai, 'Engine Arguments'): max_num_seqs 256, "
        "gpu_memory_utilization 0.9, block_size 16; V1 enables chunked prefill with max_num_batched_tokens 2048 "
        "for online serving",
    ),
    "sglang": _SGLANG,
    "sglang-v0.5.9": replace(
        _SGLANG,
        source="SGLang v0.5.9 (February 2026), the same server arguments as the sglang class; a class of its own "
        "because its ROCm builds ran DeepSeek-R1 decode 1.25-1.7x slower per step than v0.5.12 on MI300X/MI325X "
        "(InferenceMAX 1k/1k rows of the same run, perfmodel.validation.serving_new); it takes the sglang class's "
        "hwdb tables where a system has none of its own",
    ),
    "trtllm-pytorch": FrameworkDefaults(
        max_num_seqs=2048,
        max_num_batched_tokens=8192,
        memory_fraction=0.9,
        fraction_of_free=True,
        block_size=32,
        chunked_prefill=True,
        source="TensorRT-LLM 1.0 LLM API / trtllm-bench (PyTorch backend) defaults (nvidia.github.io/TensorRT-LLM): "
        "max_batch_size 2048, max_num_tokens 8192, KvCacheConfig free_gpu_memory_fraction 0.9, tokens_per_block 32; "
        "capacity scheduler policy guaranteed_no_evict (executor SchedulerConfig default)",
        scheduler_policy="guaranteed_no_evict",
    ),
    "vllm-v0.6": FrameworkDefaults(
        max_num_seqs=256,
        max_num_batched_tokens=512,
        memory_fraction=0.9,
        fraction_of_free=False,
        block_size=16,
        chunked_prefill=True,
        source="vLLM v0.6.0 (September 2024; the V0 engine): max_num_seqs 256, gpu_memory_utilization 0.9, "
        "block_size 16; chunked prefill on for models with max_model_len > 32K at its default 512 batched tokens "
        "(arg_utils.py; docs 'Performance and Tuning'); CUDA graphs for decode-only iterations only "
        "(worker/model_runner.py `_use_captured_graph`), so an iteration holding a prompt chunk launches its "
        "kernels eagerly (hwdb `kernel_launch_us` of this class)",
    ),
    "splitwise": FrameworkDefaults(
        max_num_seqs=256,
        max_num_batched_tokens=8192,
        memory_fraction=0.9,
        fraction_of_free=False,
        block_size=16,
        chunked_prefill=False,
        source="The Splitwise prototype (Patel et al., ISCA'24), built on a 2023 vLLM: vLLM v0.2 defaults "
        "(max_num_seqs 256, gpu_memory_utilization 0.9, block_size 16, whole prompts prefilled first, no CUDA "
        "graphs); max_num_batched_tokens raised to 8192 so the paper's 8192-token prompts run",
    ),
    "trtllm": FrameworkDefaults(
        max_num_seqs=2048,
        max_num_batched_tokens=8192,
        memory_fraction=0.9,
        fraction_of_free=True,
        block_size=64,
        chunked_prefill=True,
        source="TensorRT-LLM BuildConfig / KvCacheConfig defaults (nvidia.github.io/TensorRT-LLM): max_batch_size "
        "2048, max_num_tokens 8192, kv_cache_free_gpu_mem_fraction 0.9 of the memory left after the engine, "
        "tokens_per_block 64; capacity scheduler policy guaranteed_no_evict (executor SchedulerConfig default)",
        scheduler_policy="guaranteed_no_evict",
    ),
}


def scheduler_policy(name: str) -> str:
    """``name`` checked against :data:`SCHEDULER_POLICIES` (an error names the closest)."""
    key = str(name).strip().lower()
    if key not in SCHEDULER_POLICIES:
        import difflib

        close = difflib.get_close_matches(key, SCHEDULER_POLICIES, n=1)
        hint = f" (closest: '{close[0]}')" if close else ""
        raise InvalidArgumentError(
            f"argument `scheduler_policy`: is {name!r}; expected one of {list(SCHEDULER_POLICIES)}{hint}"
        )
    return key


def framework_defaults(name: str) -> FrameworkDefaults:
    """The defaults of a serving framework class.

    Parameters
    ----------
    name : str
        ``"vllm"``, ``"vllm-v0.6"``, ``"sglang"``, ``"sglang-v0.5.9"``, ``"trtllm"``, ``"trtllm-pytorch"`` or
        ``"splitwise"``
        (case-insensitive).

    Returns
    -------
    FrameworkDefaults
        ``max_num_seqs``, ``max_num_batched_tokens`` (tokens), ``memory_fraction`` (fraction), ``block_size``
        (tokens), ``chunked_prefill``, ``scheduler_policy``, ``source``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        An unknown name (naming the closest).

    Examples
    --------
    >>> import perfmodel as pm
    >>> d = pm.serve.framework_defaults("trtllm")
    >>> d.block_size, d.scheduler_policy
    (64, 'guaranteed_no_evict')
    """
    key = str(name).strip().lower()
    if key not in FRAMEWORKS:
        import difflib

        close = difflib.get_close_matches(key, FRAMEWORKS, n=1)
        hint = f" (closest: '{close[0]}')" if close else ""
        raise InvalidArgumentError(
            f"argument `framework`: is '{name}'; expected one of {sorted(FRAMEWORKS)}{hint}"
        )
    return FRAMEWORKS[key]
