"""MLPerf Training v5.0/v5.1 on the current hardware (issue 18): B200, GB200 NVL72, MI325X and MI355X, with H100,
H200 and MI300X rows as anchors.

Serving: the MLPerf Inference v5.1 LLM rows are recorded (``perfmodel/data/mlperf_v5_inference.csv``,
:func:`inference_data`); the Llama 2 70B Offline, Server and Interactive rows of NVIDIA's TensorRT harness on
B200/GB200 and of AMD's vLLM harness on MI325X are priced with the OpenOrca prompt lengths (:data:`OPENORCA_SOURCE`)
and the submitters' plans (:data:`NVIDIA_LLAMA2_PLANS`, :data:`AMD_LLAMA2_PLANS`), Server and Interactive as the
highest Poisson rate within MLPerf's p99 latency limits (:data:`SCENARIO_SLO`), groups ``mlperf_inference_*``,
all held out (:func:`offline_run`); the Llama 3.1 8B and 405B rows of NVIDIA's harness on B200/GB200 likewise, with
their own prompt lengths (:data:`CNNDM_SOURCE`, :data:`LLAMA31_405B_SOURCE`), plans (:data:`NVIDIA_LLAMA31_PLANS`)
and limits (:data:`LLAMA31_SLO`) (:func:`llama31_suite_row`); DeepSeek-R1 on B200/GB200 (NVIDIA's configs) and Mixtral-8x7B on MI325X
(AMD's harness) Offline and Server with the datasets' per-sample lengths (:data:`MOE_LENGTHS`) and the
submitters' plans (:data:`DSR1_PLANS`, :data:`MIXTRAL_PLANS`), all held out (:func:`moe_run`); the others are
not, and the summary says why (``serving``).

Rows: ``perfmodel/data/mlperf_v5.csv``, written by ``tools/import_mlperf5.py`` from the mlcommons
``training_results_v5.0`` / ``v5.1`` repositories (each row names the result files, system description and config
file it was read from, with the repository commit). One row per submission and benchmark (Llama 2 70B LoRA,
Llama 3.1 8B and 405B pretraining): the training rate in samples/s (evaluation excluded; median over the result
files) and the plan the submission's own config file gives (TP, PP, interleaving, CP, DP, micro-batch, global
batch, SP, FP8 or FP4, TP overlap, rank order). Rows the step model cannot price are kept in the file with the
reason (``modelled``) and left out here: results no shipped config reproduces, and results several configs with
different plans match. FP4 rows are priced with ``dtype="nvfp4"`` and always held out; plans whose config sets
NeMo's ``TP_PP_DP_MAPPING`` run in the tp-cp-pp-dp rank order. B300 (``dgx-b300``), GB300 (``gb300-nvl72``), MI350X (``mi350x-node``) and H200 NVL
(``h200-nvl-node``) rows are priced, all held out, with their sibling's calibration (hwdb ``same_as``:
:data:`INHERITED_HARDWARE`).

Prediction: ``perfmodel.llm.estimate`` with the submission's plan, global batch / step time. Common settings
(the submissions' frameworks: NeMo/Megatron-core and AMD's fork of it): FP8 GEMMs, the distributed optimizer
(ZeRO-1) with overlapped gradient reduction, flash attention (cuDNN's on H100/H200: :data:`CUDNN_ACCELERATORS`),
no recomputation unless the config asks for it,
overlapped pipeline sends when interleaved; LoRA rows with frozen weights (``frozen_weights=True``). Their rank-16
adapters are not priced here, unlike :func:`perfmodel.validation.llm._mlperf_lora_rows` (NeMo's adapters on the
v4.x/v5.0 H100/H200 submissions): priced with NeMo's passes and TP collectives and the v5.x profiles refitted on the
same LoRA rows, the held-out pretraining rows of the new hardware went 4.9 -> 11.3 % median and the H100 LoRA anchor
13.7 -> 23.9 % (session 16), so the v5.x stacks (Blackwell NeMo 25.x, AMD's fork) do not pay NeMo 24.09's adapter
cost; their profiles keep absorbing it. Systems: B200 ``dgx-b200``
(8 per node), MI325X ``mi325x-node``, MI355X ``mi355x-pollara-node``, H100 ``dgx-h100``, H200 ``hgx-h200``,
MI300X ``mi300x-pollara-node``; GB200 (GB300) on ``gb200-nvl72`` (``gb300-nvl72``) with the GPUs of a run spread over as few NVLink domains
as hold them evenly: the largest multiple of 4 (a compute tray) dividing the GPU count and at most 72 is the
GPUs per domain (8 -> one domain of 8, 72 -> 72, 144 -> 2 x 72, 512 -> 8 x 64, 2,496 -> 39 x 64; NVIDIA's
405B configs say the same: ``SEGMENT`` = TP x PP x CP / 4 = 16 trays, 64 GPUs, per NVLink domain).

Calibration: one compute factor (``compute_time_scale`` = ``memory_time_scale``) per system and MLPerf round, a
calibration profile ``mlperf-v5.0`` / ``mlperf-v5.1`` of the system (hwdb ``[[calibration.profiles]]``): each round
ships other software (NeMo 25.04 vs 25.09 on NVIDIA hardware, AMD's own releases), and the same plan on the same
B200 runs 15 % faster in v5.1 (Supermicro, Llama 2 70B LoRA on 8 GPUs: 5.28 -> 6.10 samples/s). Fitted on the
rows of :data:`FIT` (role ``fit``), least squares in log error (:func:`fit`; ``tools/calibrate.py --mlperf5``); the
system's own ``[calibration]`` is its latest round's. The network factor stays 1 (the collectives engine as
validated): no fit row exercises the network (LoRA has no data-parallel traffic with frozen weights and its
context-parallel groups stay inside a node or rack). Every other row is held out. The split and the results are
in ``docs/mlperf5_validation.md``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import hwdb, llm
from ..errors import PerfModelError
from . import frame

__all__ = ["FIT", "TARGETS", "data", "fit", "fitted_on", "profile", "run", "skipped", "summary_extra"]

#: The hwdb system of each accelerator's rows; absent: not modelled.
SYSTEMS = {
    "B200": "dgx-b200",
    "GB200": "gb200-nvl72",
    "MI325X": "mi325x-node",
    "MI355X": "mi355x-pollara-node",
    "MI300X": "mi300x-pollara-node",
    "H100": "dgx-h100",
    "H200": "hgx-h200",
    # Held out entirely (no fit row; each system's calibration is `same_as` its sibling's):
    "B300": "dgx-b300",
    "GB300": "gb300-nvl72",
    "MI350X": "mi350x-node",
    "H200-NVL": "h200-nvl-node",
}
#: The accelerators issue 18's target is about; the others are anchors (reported, not in the target).
NEW_HARDWARE = ("B200", "GB200", "MI325X", "MI355X")
#: Accelerators whose systems take a sibling's calibration (hwdb ``same_as``: B300 -> dgx-b200, GB300 ->
#: gb200-nvl72, MI350X -> mi355x-pollara-node, H200 NVL -> hgx-h200) and whose rows are all held out: reported apart
#: (``inherited_hardware``) and, for the Blackwell Ultra and MI350X parts, also together with :data:`NEW_HARDWARE`.
INHERITED_HARDWARE = ("B300", "GB300", "MI350X", "H200-NVL")
#: The benchmark every fit is on (Llama 2 70B LoRA: the one benchmark every system ran in both rounds).
FIT_BENCHMARK = "llama2_70b_lora"
#: Fit rows per (system, MLPerf round): the submitter whose :data:`FIT_BENCHMARK` rows that round's profile is
#: fitted on: the benchmark's reference submitter on that hardware (NVIDIA on B200 and GB200, AMD on MI325X and
#: MI355X), or, where it did not submit (B200 in v5.1), the submitter with a scale sweep (University of Florida,
#: 1 to 16 nodes). Every other row is held out: other submitters, the Llama 3.1 8B and 405B pretraining rows.
#: ``tools/import_mlperf5.py`` writes each row's role from this table.
FIT = {
    ("dgx-b200", "v5.0"): "NVIDIA",
    ("dgx-b200", "v5.1"): "University-of-Florida",
    ("gb200-nvl72", "v5.0"): "NVIDIA",
    ("gb200-nvl72", "v5.1"): "NVIDIA",
    ("mi325x-node", "v5.0"): "AMD",
    ("mi325x-node", "v5.1"): "AMD",
    ("mi355x-pollara-node", "v5.1"): "AMD",
}
#: Issue 18's targets: median |error| over the new hardware's training rows (fit and held out together).
TARGETS = {"training_median": 0.10, "serving_median": 0.15}
#: The model preset of each benchmark and whether its weights are frozen (LoRA).
BENCHMARKS = {
    "llama2_70b_lora": ("llama2-70b", True),
    "llama31_8b": ("llama3.1-8b", False),
    "llama31_405b": ("llama3.1-405b", False),
}
#: Bounds of the compute factor in :func:`fit` (as ``perfmodel.validation.llm.FIT_BOUNDS``).
FIT_BOUNDS = (0.5, 2.0)
#: GPUs of a GB200 compute tray (the unit a run's GPUs are allotted in).
_TRAY = 4
_RACK = 72


def inference_data() -> pl.DataFrame:
    """The MLPerf Inference v5.x LLM rows (closed division) the library records: ``tools/import_mlperf5.py
    --inference``. ``modelled`` is ``yes`` for the rows priced (:func:`offline_rows`) and says why for the others."""
    path = Path(__file__).resolve().parent.parent / "data" / "mlperf_v5_inference.csv"
    return pl.read_csv(path, infer_schema_length=None)


#: Where the Llama 2 70B (OpenOrca) prompt lengths come from: per-sample ``tok_input_length`` of MLCommons'
#: ``open_orca_gpt4_tokenized_llama.sampled_24576.pkl``, extracted by ``mlperf-data/original/generate_dataset_summaries.py``
#: into ``mlperf-data/summaries/llama2-70b-99.csv`` of openshift-psap/performance-dashboard @7cd1065d (24,576 samples,
#: dataset order; mean 222.3 tokens, max 1,021). ``perfmodel/data/mlperf_openorca_input_lengths.csv`` is that column.
OPENORCA_SOURCE = (
    "openshift-psap/performance-dashboard@7cd1065d1e2c53ee745cbda08e2a8f13a42c93bb:"
    "mlperf-data/summaries/llama2-70b-99.csv (tok_input_length of MLCommons' open_orca_gpt4_tokenized_llama."
    "sampled_24576.pkl)"
)
#: NVIDIA's Llama 2 70B Offline harness settings on B200 and GB200, identical in
#: ``closed/NVIDIA/configs/B200-SXM-180GBx8/Offline/llama2-70b.py`` and
#: ``closed/NVIDIA/configs/GB200-NVL72_GB200-186GB_aarch64x4/Offline/llama2-70b.py`` of
#: mlcommons/inference_results_v5.1 @965182b0: one TensorRT-LLM engine per GPU (``tensor_parallelism: 1``),
#: ``gpu_batch_size`` 2048, ``max_num_tokens`` 3584, ``tokens_per_block`` 32, FP4 weights, ``kv_cache_dtype: fp8``,
#: ``kvcache_free_gpu_mem_frac: 0.95``, ``enable_chunked_context``, ``batch_scheduler_policy: max_util``,
#: ``max_seq_len`` 2048. Simulated with the uncalibrated ``trtllm`` class (TensorRT engines; neither system has a
#: ``trtllm`` table, so nothing is fitted on these rows).
LLAMA2_OFFLINE_NVIDIA: dict[str, Any] = {
    "tp": 1, "dtype": "nvfp4", "kv_dtype": "fp8", "framework": "trtllm", "max_num_seqs": 2048,
    "max_num_batched_tokens": 3584, "block_size": 32, "gpu_memory_utilization": 0.95, "chunked_prefill": True,
    "scheduler_policy": "max_utilization", "max_model_len": 2048,
}  # fmt: skip


#: NVIDIA's Llama 2 70B Server harness settings on B200 and GB200: the Offline plan (:data:`LLAMA2_OFFLINE_NVIDIA`),
#: identical in ``closed/NVIDIA/configs/B200-SXM-180GBx8/Server/llama2-70b.py`` and
#: ``closed/NVIDIA/configs/GB200-NVL72_GB200-186GB_aarch64x4/Server/llama2-70b.py`` (@965182b0: ``gpu_batch_size``
#: 2048, ``max_num_tokens`` 3584, FP4, ``kv_cache_dtype: fp8``, the same runtime flags).
LLAMA2_SERVER_NVIDIA: dict[str, Any] = dict(LLAMA2_OFFLINE_NVIDIA)
#: NVIDIA's Llama 2 70B Interactive settings, ``closed/NVIDIA/configs/B200-SXM-180GBx8/Interactive/llama2-70b.py``
#: (@965182b0): ``gpu_batch_size`` 768 and ``max_num_tokens`` 768, the rest as Offline. The config sets no
#: ``kv_cache_dtype`` (the harness default ``None``: no KV quantization when the checkpoint is quantized), but it
#: enables ``use_fp8_context_fmha`` as the FP8-KV configs do; the FP8 KV cache is assumed (16-bit: 5 % lower
#: rates, docs/mlperf5_validation.md). No GB200 Interactive config is shipped: GB200 takes B200's.
LLAMA2_INTERACTIVE_NVIDIA: dict[str, Any] = {
    **LLAMA2_OFFLINE_NVIDIA,
    "max_num_seqs": 768,
    "max_num_batched_tokens": 768,
}
#: The plan of each scenario priced.
NVIDIA_LLAMA2_PLANS: dict[str, dict[str, Any]] = {
    "Offline": LLAMA2_OFFLINE_NVIDIA, "Server": LLAMA2_SERVER_NVIDIA, "Interactive": LLAMA2_INTERACTIVE_NVIDIA,
}  # fmt: skip
#: MLPerf's latency constraints of Llama 2 70B, (TTFT, TPOT) seconds, both at the 99th percentile:
#: ``llama2-70b.Server.ttft_latency = 2000``, ``tpot_latency = 200``, ``llama2-70b-interactive.Server.ttft_latency
#: = 450``, ``tpot_latency = 40`` (ms) and ``*.Server.target_latency_percentile = 99`` in ``loadgen/mlperf.conf`` of
#: mlcommons/inference @b66003e1 (the same in the submissions' ``measurements/.../mlperf.conf``).
SCENARIO_SLO = {"Server": (2.0, 0.2), "Interactive": (0.45, 0.04)}
SLO_PERCENTILE = 99
#: How NVIDIA's harness spreads queries over the GPUs' engines (``closed/NVIDIA/code/llmlib/config.py`` @965182b0:
#: ``traffic_distribution_policy`` ``load_balancing`` for Server, ``round_robin`` otherwise).
BALANCER = {"Server": "least_outstanding", "Interactive": "round_robin"}
#: AMD's Llama 2 70B vLLM plans on MI325X, ``closed/AMD/code/llama2-70b-99/harness_llm/models/llama2-70b/
#: {offline,server,interactive}_mi325x.yaml`` (@965182b0; the other submitters running AMD's harness ship the same
#: engine settings): one engine per GPU (``tensor_parallel_size: 1``), FP8 weights (``quantization: fp8``), FP8 KV
#: cache (``kv_cache_dtype: fp8``, ``harness_llm/common/config.yaml``), ``max_model_len`` 2048. Offline:
#: ``max_num_seqs`` 2700, ``max_num_batched_tokens`` 65536, ``block_size`` 32, ``gpu_memory_utilization`` 0.98,
#: whole prompts (``enable_chunked_prefill: False``). Server: 1024, 40960, 32, 1.0, whole prompts. Interactive
#: (vLLM V1): 3840, 43008, 16, 1.0, chunked prefill. AMD's custom scheduler (``VLLM_LLAMA2_MLPERF_SCHED``: decode
#: batch targets) and multi-step scheduling are not modelled: the uncalibrated ``vllm`` class (mi325x-node has no
#: serving table, so nothing is fitted on these rows).
_AMD_BASE: dict[str, Any] = {
    "tp": 1,
    "dtype": "fp8",
    "kv_dtype": "fp8",
    "framework": "vllm",
    "max_model_len": 2048,
}
AMD_LLAMA2_PLANS: dict[str, dict[str, Any]] = {
    "Offline": {**_AMD_BASE, "max_num_seqs": 2700, "max_num_batched_tokens": 65536, "block_size": 32,
                "gpu_memory_utilization": 0.98, "chunked_prefill": False},
    "Server": {**_AMD_BASE, "max_num_seqs": 1024, "max_num_batched_tokens": 40960, "block_size": 32,
               "gpu_memory_utilization": 1.0, "chunked_prefill": False},
    "Interactive": {**_AMD_BASE, "max_num_seqs": 3840, "max_num_batched_tokens": 43008, "block_size": 16,
                    "gpu_memory_utilization": 1.0, "chunked_prefill": True},
}  # fmt: skip
#: AMD's harness sends a query to the engine with the shortest queue (``schedule_algo: shortest_queue`` in
#: ``harness_llm/common/config.yaml``; Interactive ``shortest_queue_with_tokens``).
AMD_BALANCER = "least_outstanding"


def plan_of(r: dict[str, Any]) -> dict[str, Any]:
    """The serving plan of a priced inference row: AMD's on MI325X, NVIDIA's on B200/GB200."""
    return (AMD_LLAMA2_PLANS if r["accelerator"] == "MI325X" else NVIDIA_LLAMA2_PLANS)[r["scenario"]]


def balancer_of(r: dict[str, Any]) -> str:
    """How the row's harness spreads queries over the GPUs' engines."""
    return AMD_BALANCER if r["accelerator"] == "MI325X" else BALANCER[r["scenario"]]


#: Poisson queries per GPU of a Server/Interactive run: each GPU's engine sees the OpenOrca set once on average
#: (8 x 24,576 = 196,608 queries on 8 B200s: 540 s at 364 queries/s, about MLPerf's 600 s minimum run).
QUERIES_PER_GPU = 24576
#: Seed of the query stream (arrival gaps and the sample order).
SEED = 0


def openorca_input_lengths() -> np.ndarray:
    """The 24,576 Llama 2 70B prompt lengths (tokens), in dataset order (:data:`OPENORCA_SOURCE`)."""
    path = Path(__file__).resolve().parent.parent / "data" / "mlperf_openorca_input_lengths.csv"
    return pl.read_csv(path)["input_length"].to_numpy()


def offline_rows() -> list[dict[str, Any]]:
    """The dense-model inference rows priced (``modelled = yes``, decided by ``tools/import_mlperf5.py``
    ``inference_modelled``; the MoE rows are :func:`moe_rows`): Llama 2 70B (99 and 99.9, the same engine) Offline,
    Server and Interactive on B200 and GB200 run with NVIDIA's TensorRT harness (system directory ending ``_TRT``)
    on FP4 weights, on MI325X with AMD's vLLM harness; Llama 3.1 8B and 405B on B200/GB200 with NVIDIA's harness
    (:func:`llama31_suite_row`)."""
    d = inference_data().filter((pl.col("modelled") == "yes") & ~pl.col("benchmark").is_in(list(MOE_PRESETS)))
    return list(d.iter_rows(named=True))


def offline_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of an Offline row: one GPU's engine serving every ``gpus``-th OpenOrca prompt (the harness
    spreads the samples over the GPUs' engines), all at once, each with the log's mean output tokens per sample;
    the GPU's output tokens/s times the GPUs."""
    from .. import serve

    gpus = int(r["gpus"])
    prompts = openorca_input_lengths()[::gpus].astype(np.float64)
    out = float(round(r["output_tokens_per_sample"]))
    trace = pl.DataFrame({"arrival_s": np.zeros(len(prompts)), "prompt_tokens": prompts,
                          "output_tokens": np.full(len(prompts), out)})  # fmt: skip
    sim = serve.simulate("llama2-70b", r["hwdb_system"], requests=trace, **plan_of(r))
    return float(sim.output_tokens_per_s) * gpus


def server_queries(n: int, output_tokens: int, seed: int = SEED) -> pl.DataFrame:
    """``n`` queries as loadgen issues a Server run: Poisson arrivals (rate 1/s, scaled by
    ``perfmodel.serve.max_rate``), the OpenOrca prompts in random order (a fresh permutation of the 24,576 per
    pass), each with ``output_tokens``."""
    return _poisson_queries(openorca_input_lengths(), n, output_tokens, seed)


def _poisson_queries(lengths: np.ndarray, n: int, output_tokens: int, seed: int = SEED) -> pl.DataFrame:
    """``n`` queries with Poisson arrivals at 1/s (``perfmodel.serve.max_rate`` scales them) and the prompt
    ``lengths`` in random order (a fresh permutation per pass), each with ``output_tokens``."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths).astype(np.float64)
    arrivals = np.cumsum(rng.exponential(1.0, n))
    prompts = np.concatenate([rng.permutation(lengths) for _ in range(-(-n // len(lengths)))])[:n]
    return pl.DataFrame(
        {"arrival_s": arrivals, "prompt_tokens": prompts, "output_tokens": np.full(n, float(output_tokens))}
    )


@functools.lru_cache(maxsize=64)
def _server_rate(
    system: str, scenario: str, gpus: int, output_tokens: int, plan: str, balancer: str
) -> tuple[float, str]:
    from .. import serve

    ttft, tpot = SCENARIO_SLO[scenario]
    r = serve.max_rate(
        "llama2-70b", system, replicas=gpus, slo_ttft_s=ttft, slo_tpot_s=tpot, percentile=SLO_PERCENTILE,
        requests=server_queries(QUERIES_PER_GPU * gpus, output_tokens), rel_tol=0.01, balancer=balancer,
        **json.loads(plan),
    )  # fmt: skip
    return float(r.rate_req_s), r.why


def server_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of a Server or Interactive row: the highest Poisson query rate ``gpus`` engines (the
    scenario's plan, the harness's load balancing) serve within the scenario's p99 TTFT and TPOT limits
    (:data:`SCENARIO_SLO`), :data:`QUERIES_PER_GPU` queries per GPU, each with the log's mean output tokens per
    sample (rounded); the rate times that mean."""
    rate, _ = _server_rate(r["hwdb_system"], r["scenario"], int(r["gpus"]), round(r["output_tokens_per_sample"]),
                           json.dumps(plan_of(r), sort_keys=True), balancer_of(r))  # fmt: skip
    return rate * float(r["output_tokens_per_sample"])


def offline_run() -> list[dict[str, Any]]:
    """Suite rows of the priced inference rows (groups ``mlperf_inference_<benchmark>_<accelerator>`` for Offline,
    ``mlperf_inference_<benchmark>_<scenario>_<accelerator>`` for Server and Interactive), all held out."""
    out = []
    for r in offline_rows():
        if r["benchmark"] in LLAMA31_BENCHMARKS:
            out.append(llama31_suite_row(r))
            continue
        sc = r["scenario"]
        params = {k: r[k] for k in ("version", "submitter", "system_dir", "accelerator", "gpus", "benchmark",
                                    "scenario", "output_tokens_per_sample")}  # fmt: skip
        params.update(plan_of(r))
        if sc == "Offline":
            grp, pred, src = (
                f"mlperf_inference_{r['benchmark']}_{r['accelerator'].lower()}",
                offline_predict(r),
                "",
            )
        else:
            params.update(slo_ttft_s=SCENARIO_SLO[sc][0], slo_tpot_s=SCENARIO_SLO[sc][1], percentile=SLO_PERCENTILE,
                          balancer=balancer_of(r), queries=QUERIES_PER_GPU * int(r["gpus"]))  # fmt: skip
            grp = f"mlperf_inference_{r['benchmark']}_{sc.lower()}_{r['accelerator'].lower()}"
            pred = server_predict(r)
            src = "; SLOs: mlcommons/inference@b66003e10e2db4b8c36a448b0545ec90fcc6e9e9:loadgen/mlperf.conf"
        out.append({
            "suite": "mlperf5", "group": grp,
            "system": r["hwdb_system"], "operation": f"{r['submitter']} {r['system_dir']} {r['benchmark']} {sc}",
            "params": json.dumps(params), "metric": "output_tokens_per_s",
            "unit": "tokens/s", "measured": float(r["tokens_per_s"]), "predicted": pred,
            "role": "holdout", "source": f"{r['source']}; prompts: {OPENORCA_SOURCE}{src}",
        })  # fmt: skip
    return out


# ---- MLPerf Inference: Llama 3.1 8B and 405B ------------------------------------------------------------------

#: Where the Llama 3.1 8B (CNN/DailyMail) prompt lengths come from: ``len(tok_input)`` of each sample of MLCommons'
#: ``cnn_eval.json`` (13,368 samples, dataset order; mean 870.7 tokens, max 2,540 = the engines' ``max_input_len``),
#: extracted by ``mlperf-data/original/generate_dataset_summaries.py`` into ``mlperf-data/summaries/
#: llama3-1-8b-datacenter.csv``; ``perfmodel/data/mlperf_cnndm_input_lengths.csv`` is its ``input_length`` column
#: (the file's ``output_length`` is characters / 4, not tokens: not used).
CNNDM_SOURCE = (
    "openshift-psap/performance-dashboard@7cd1065d1e2c53ee745cbda08e2a8f13a42c93bb:"
    "mlperf-data/summaries/llama3-1-8b-datacenter.csv (len(tok_input) of MLCommons' cnn_eval.json)"
)
#: Where the Llama 3.1 405B prompt lengths come from: ``tok_input_len`` of MLCommons'
#: ``mlperf_llama3.1_405b_dataset_8313_processed_fp16_eval.pkl`` (8,313 samples, dataset order; mean 9,428.6
#: tokens, max 19,988, under the engines' ``max_input_len`` 20,000), ``mlperf-data/summaries/llama3-1-405b.csv``
#: (first at @67033bae); ``perfmodel/data/mlperf_llama31_405b_input_lengths.csv`` is its ``input_length`` column.
LLAMA31_405B_SOURCE = (
    "openshift-psap/performance-dashboard@67033baeaac181a3a35641dd2b86a7cb22d856dd:"
    "mlperf-data/summaries/llama3-1-405b.csv (tok_input_len of MLCommons' "
    "mlperf_llama3.1_405b_dataset_8313_processed_fp16_eval.pkl)"
)
#: The model preset and prompt-length file of each Llama 3.1 benchmark (both spellings the submitters use).
LLAMA31_BENCHMARKS = {
    "llama3.1-8b": ("llama3.1-8b", "mlperf_cnndm_input_lengths.csv", CNNDM_SOURCE),
    "llama3_1-8b": ("llama3.1-8b", "mlperf_cnndm_input_lengths.csv", CNNDM_SOURCE),
    "llama3.1-405b": ("llama3.1-405b", "mlperf_llama31_405b_input_lengths.csv", LLAMA31_405B_SOURCE),
    "llama3_1-405b": ("llama3.1-405b", "mlperf_llama31_405b_input_lengths.csv", LLAMA31_405B_SOURCE),
}
#: MLPerf's Llama 3.1 latency constraints, (TTFT, TPOT) seconds at the 99th percentile, per model and scenario:
#: ``llama3_1-8b.Server.ttft_latency = 2000``, ``tpot_latency = 100``, ``llama3_1-8b-interactive.*`` 500 / 30,
#: ``llama3_1-405b.Server.*`` 6000 / 175, ``llama3_1-405b-interactive.*`` 4500 / 80 (ms), ``*.Server.
#: target_latency_percentile = 99`` in ``loadgen/mlperf.conf`` of mlcommons/inference @b66003e1; the submissions'
#: logs print the same limits (``ttft_latency (ns)``, ``tpot_latency (ns)`` in ``mlperf_log_summary.txt``).
LLAMA31_SLO = {
    ("llama3.1-8b", "Server"): (2.0, 0.1),
    ("llama3.1-8b", "Interactive"): (0.5, 0.03),
    ("llama3.1-405b", "Server"): (6.0, 0.175),
    ("llama3.1-405b", "Interactive"): (4.5, 0.08),
}
#: Output tokens the 8B engines generate per sample: ``max_output_len`` 128 with stop tokens off
#: (``closed/NVIDIA/code/llama3_1-8b/tensorrt/generation_config.json`` @965182b0: ``use_stop_tokens: false``); the
#: logs count 128 or 129 per sample (tokens/s over samples/s), so the 8B rows compare samples/s times the log's
#: tokens per sample. 405B stops at the end-of-sequence token (``max_output_len`` 2000): the log's mean is used.
LLAMA31_8B_OUTPUT_TOKENS = 128
_L31_BASE: dict[str, Any] = {
    "dtype": "nvfp4", "kv_dtype": "fp8", "framework": "trtllm", "block_size": 32, "chunked_prefill": True,
    "scheduler_policy": "max_utilization",
}  # fmt: skip


def _l31(tp: int, pp: int, batch: int, tokens: int, mem: float, max_len: int) -> dict[str, Any]:
    # TensorRT-LLM's scheduler fits an iteration's tokens (one per decoding sequence) in ``max_num_tokens``, so the
    # running batch is at most the smaller of ``gpu_batch_size`` and ``max_num_tokens``.
    return {**_L31_BASE, "tp": tp, "pp": pp, "max_num_seqs": min(batch, tokens), "max_num_batched_tokens": tokens,
            "gpu_memory_utilization": mem, "max_model_len": max_len}  # fmt: skip


#: NVIDIA's Llama 3.1 plans, (benchmark, accelerator, scenario) -> serving plan, from ``closed/NVIDIA/configs/
#: {B200-SXM-180GBx8,GB200-NVL72_GB200-186GB_aarch64x4,GB200-NVL72_GB200-186GB_aarch64x72}/<Scenario>/
#: llama3_1-{8b,405b}.py`` of mlcommons/inference_results_v5.1 @965182b0 (the Custom harness's settings:
#: ``tensor_parallelism``, ``pipeline_parallelism``, ``gpu_batch_size``, the runtime ``max_num_tokens``,
#: ``kvcache_free_gpu_mem_frac``, build ``max_seq_len``; every one with ``precision: fp4``, ``kv_cache_dtype: fp8``,
#: 32-token blocks, ``enable_chunked_context``, ``batch_scheduler_policy: max_util``). Every B200 and GB200
#: submitter's own copy (``closed/<submitter>/configs/...``) carries the same engine settings (only the target QPS
#: differs) except Azure's GB200 Server (:data:`LLAMA31_OVERRIDES`). 8B: one engine per GPU, batch 6,000, 12,000
#: tokens per iteration, 0.9 of memory (all three scenarios). 405B on B200: Offline TP2 x PP2, batch 128, 1,536
#: tokens; Server TP4, 256, 2,048; Interactive TP4, 256, 1,536. 405B on GB200: Offline TP2 x PP2, batch 2,048, 1,536
#: tokens (4- and 72-GPU configs); Server TP4, 256, 2,048; Interactive (72 GPUs) TP4, 2,048, 1,024; 0.95 of memory.
NVIDIA_LLAMA31_PLANS: dict[tuple[str, str, str], dict[str, Any]] = {
    **{("llama3.1-8b", acc, sc): _l31(1, 1, 6000, 12000, 0.9, 2668)
       for acc in ("B200", "GB200") for sc in ("Offline", "Server", "Interactive")},
    ("llama3.1-405b", "B200", "Offline"): _l31(2, 2, 128, 1536, 0.95, 22000),
    ("llama3.1-405b", "B200", "Server"): _l31(4, 1, 256, 2048, 0.95, 22000),
    ("llama3.1-405b", "B200", "Interactive"): _l31(4, 1, 256, 1536, 0.95, 22000),
    ("llama3.1-405b", "GB200", "Offline"): _l31(2, 2, 2048, 1536, 0.95, 22000),
    ("llama3.1-405b", "GB200", "Server"): _l31(4, 1, 256, 2048, 0.95, 22000),
    ("llama3.1-405b", "GB200", "Interactive"): _l31(4, 1, 2048, 1024, 0.95, 22000),
}  # fmt: skip
#: Submitters whose own config departs from NVIDIA's: (submitter, system directory, benchmark, scenario) -> plan
#: changes. Azure's ``closed/Azure/configs/ND_GB200_v6/Server/llama3_1-405b.py`` (@965182b0): ``gpu_batch_size``
#: 2048 (NVIDIA's: 256), the rest as NVIDIA's.
LLAMA31_OVERRIDES: dict[tuple[str, str, str, str], dict[str, Any]] = {
    ("Azure", "ND_GB200_v6", "llama3.1-405b", "Server"): {"max_num_seqs": 2048},
}
#: Simulated Server/Interactive queries per engine: 8B the CNN/DailyMail set once per engine (13,368; 106,944 on 8
#: B200s: 107 s at the logs' ~1,000 queries/s), 405B 2,048 per engine (4,096 on 8 B200s: 2,150 s at 1.9/s, over
#: MLPerf's 600 s minimum run and ~30 request lifetimes).
LLAMA31_QUERIES_PER_ENGINE = {"llama3.1-8b": 13368, "llama3.1-405b": 2048}


def llama31_model(benchmark: str) -> str:
    """The ``perfmodel.llm`` preset of a Llama 3.1 benchmark (``llama3.1-8b`` or ``llama3.1-405b``)."""
    return str(LLAMA31_BENCHMARKS[benchmark][0])


def llama31_input_lengths(benchmark: str) -> np.ndarray:
    """The prompt lengths (tokens, dataset order) of a Llama 3.1 benchmark: 13,368 CNN/DailyMail samples for
    8B (:data:`CNNDM_SOURCE`), 8,313 for 405B (:data:`LLAMA31_405B_SOURCE`)."""
    path = Path(__file__).resolve().parent.parent / "data" / LLAMA31_BENCHMARKS[benchmark][1]
    return pl.read_csv(path)["input_length"].to_numpy()


def llama31_plan(r: dict[str, Any]) -> dict[str, Any]:
    """The serving plan of a priced Llama 3.1 row: NVIDIA's config for its model, accelerator and scenario
    (:data:`NVIDIA_LLAMA31_PLANS`) with the submitter's own departures (:data:`LLAMA31_OVERRIDES`)."""
    model = llama31_model(r["benchmark"])
    plan = dict(NVIDIA_LLAMA31_PLANS[(model, r["accelerator"], r["scenario"])])
    plan.update(LLAMA31_OVERRIDES.get((r["submitter"], r["system_dir"], model, r["scenario"]), {}))
    return plan


def llama31_engines(r: dict[str, Any]) -> int:
    """Engines (TP x PP GPUs each) a row's GPUs hold."""
    p = llama31_plan(r)
    return int(r["gpus"]) // (int(p["tp"]) * int(p["pp"]))


def _llama31_output_tokens(r: dict[str, Any]) -> int:
    if llama31_model(r["benchmark"]) == "llama3.1-8b":
        return LLAMA31_8B_OUTPUT_TOKENS
    return round(r["output_tokens_per_sample"])


def llama31_offline_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of a Llama 3.1 Offline row: one engine serving, all at once, as many samples as the set
    holds, dealt every ``engines``-th from the set repeated (the submitted queries repeat the set: 726,000 samples
    on 8 B200s for 8B, 111,196 on 72 GB200s for 405B), each with :func:`_llama31_output_tokens`; the engine's
    samples/s times the engines times the log's output tokens per sample."""
    from .. import serve

    n = llama31_engines(r)
    lengths = llama31_input_lengths(r["benchmark"]).astype(np.float64)
    prompts = np.tile(lengths, n)[::n]
    out = _llama31_output_tokens(r)
    trace = pl.DataFrame({"arrival_s": np.zeros(len(prompts)), "prompt_tokens": prompts,
                          "output_tokens": np.full(len(prompts), float(out))})  # fmt: skip
    sim = serve.simulate(llama31_model(r["benchmark"]), r["hwdb_system"], requests=trace, **llama31_plan(r))
    return float(sim.summary["requests_per_s"]) * n * float(r["output_tokens_per_sample"])


def llama31_queries(benchmark: str, n: int, output_tokens: int, seed: int = SEED) -> pl.DataFrame:
    """``n`` Server queries of a Llama 3.1 benchmark as :func:`server_queries` draws them (Poisson arrivals at
    1/s, the set's prompts in random order), each with ``output_tokens``."""
    return _poisson_queries(llama31_input_lengths(benchmark), n, output_tokens, seed)


@functools.lru_cache(maxsize=64)
def _llama31_rate(
    benchmark: str, system: str, scenario: str, engines: int, output_tokens: int, plan: str, balancer: str
) -> tuple[float, str]:
    from .. import serve

    model = llama31_model(benchmark)
    ttft, tpot = LLAMA31_SLO[(model, scenario)]
    queries = llama31_queries(benchmark, LLAMA31_QUERIES_PER_ENGINE[model] * engines, output_tokens)
    r = serve.max_rate(
        model, system, replicas=engines, slo_ttft_s=ttft, slo_tpot_s=tpot, percentile=SLO_PERCENTILE,
        requests=queries, rel_tol=0.01, balancer=balancer, **json.loads(plan),
    )  # fmt: skip
    return float(r.rate_req_s), r.why


def llama31_server_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of a Llama 3.1 Server or Interactive row: the highest Poisson query rate the row's engines
    (its plan, NVIDIA's balancer: :data:`BALANCER`) serve within the scenario's p99 TTFT and TPOT limits
    (:data:`LLAMA31_SLO`), :data:`LLAMA31_QUERIES_PER_ENGINE` queries per engine; the rate times the log's output
    tokens per sample."""
    rate, _ = _llama31_rate(llama31_model(r["benchmark"]), r["hwdb_system"], r["scenario"], llama31_engines(r), _llama31_output_tokens(r),
                            json.dumps(llama31_plan(r), sort_keys=True), BALANCER[r["scenario"]])  # fmt: skip
    return rate * float(r["output_tokens_per_sample"])


def llama31_suite_row(r: dict[str, Any]) -> dict[str, Any]:
    """The suite row of a priced Llama 3.1 row (groups as :func:`offline_run`'s), held out."""
    sc = r["scenario"]
    model = llama31_model(r["benchmark"])
    params = {k: r[k] for k in ("version", "submitter", "system_dir", "accelerator", "gpus", "benchmark",
                                "scenario", "output_tokens_per_sample")}  # fmt: skip
    params.update(
        llama31_plan(r), engines=llama31_engines(r), output_tokens_simulated=_llama31_output_tokens(r)
    )
    src = f"{r['source']}; prompts: {LLAMA31_BENCHMARKS[r['benchmark']][2]}"
    if sc == "Offline":
        grp, pred = f"mlperf_inference_{model}_{r['accelerator'].lower()}", llama31_offline_predict(r)
    else:
        ttft, tpot = LLAMA31_SLO[(model, sc)]
        params.update(slo_ttft_s=ttft, slo_tpot_s=tpot, percentile=SLO_PERCENTILE, balancer=BALANCER[sc],
                      queries=LLAMA31_QUERIES_PER_ENGINE[model] * llama31_engines(r))  # fmt: skip
        grp = f"mlperf_inference_{model}_{sc.lower()}_{r['accelerator'].lower()}"
        pred = llama31_server_predict(r)
        src += "; SLOs: mlcommons/inference@b66003e10e2db4b8c36a448b0545ec90fcc6e9e9:loadgen/mlperf.conf"
    return {
        "suite": "mlperf5", "group": grp, "system": r["hwdb_system"],
        "operation": f"{r['submitter']} {r['system_dir']} {r['benchmark']} {sc}", "params": json.dumps(params),
        "metric": "output_tokens_per_s", "unit": "tokens/s", "measured": float(r["tokens_per_s"]),
        "predicted": pred, "role": "holdout", "source": src,
    }  # fmt: skip


# ---- MLPerf Inference MoE rows: DeepSeek-R1 on B200/GB200, Mixtral-8x7B on MI325X ------------------------------

#: The MoE benchmarks priced, and the model preset each is served as (DeepSeek-R1 has DeepSeek-V3's architecture).
MOE_PRESETS = {"deepseek-r1": "deepseek-v3", "mixtral-8x7b": "mixtral-8x7b"}
#: Per-sample prompt and reference output lengths (tokens) of each MLPerf dataset, in dataset order: the datasets'
#: ``tok_input_len`` and ``tok_ref_output_len`` columns, extracted by ``mlperf-data/original/
#: generate_dataset_summaries.py`` of openshift-psap/performance-dashboard into ``mlperf-data/summaries/``; shipped
#: as ``perfmodel/data/<file>``. DeepSeek-R1: MLCommons' ``mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl``, 4,388
#: samples, prompts mean 803.8 tokens (max 3,140), reference outputs mean 4,043 (max 32,768: DeepSeek-R1's own
#: reasoning traces). Mixtral: ``09292024_mixtral_15k_mintoken2_v1.pkl`` (5,000 each of OpenOrca, GSM8K and MBXP),
#: 15,000 samples, prompts mean 427.4 (max 1,948), reference outputs mean 144.8 (max 1,024).
MOE_LENGTHS = {
    "deepseek-r1": (
        "mlperf_deepseek_r1_lengths.csv",
        "openshift-psap/performance-dashboard@7cd1065d1e2c53ee745cbda08e2a8f13a42c93bb:"
        "mlperf-data/summaries/deepseek-r1.csv (tok_input_len, tok_ref_output_len of MLCommons' "
        "mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl)",
    ),
    "mixtral-8x7b": (
        "mlperf_mixtral_lengths.csv",
        "openshift-psap/performance-dashboard@67033baeaac181a3a35641dd2b86a7cb22d856dd:"
        "mlperf-data/summaries/mixtral-8x7b.csv (tok_input_len, tok_ref_output_len of MLCommons' "
        "09292024_mixtral_15k_mintoken2_v1.pkl)",
    ),
}
#: The harnesses' output caps, tokens: ``max_output_len`` 20000 in NVIDIA's
#: ``closed/NVIDIA/code/deepseek-r1/tensorrt/generation_config.json``, ``max_tokens`` 1024 in AMD's
#: ``closed/AMD/code/mixtral-8x7b/harness_llm/models/mixtral-8x7b/{offline,server}_mi325x.yaml`` (@965182b0).
MOE_MAX_OUTPUT = {"deepseek-r1": 20000, "mixtral-8x7b": 1024}
#: MLPerf's Server limits, (TTFT, TPOT) seconds at the 99th percentile: ``deepseek-r1.Server.ttft_latency = 2000``,
#: ``tpot_latency = 80``, ``mixtral-8x7b.Server.ttft_latency = 2000``, ``tpot_latency = 200`` (ms) in
#: ``loadgen/mlperf.conf`` of mlcommons/inference @b66003e1 (as copied into the submissions'
#: ``measurements/<system>/<benchmark>/Server/mlperf.conf`` @965182b0).
MOE_SLO = {"deepseek-r1": (2.0, 0.08), "mixtral-8x7b": (2.0, 0.2)}
#: NVIDIA's DeepSeek-R1 plan on B200 and GB200, ``closed/NVIDIA/configs/{B200-SXM-180GBx8,
#: GB200-NVL72_GB200-186GB_aarch64x72}/Offline/deepseek-r1.py`` (@965182b0): TensorRT-LLM's PyTorch backend
#: (``trtllm_backend`` default ``pytorch`` in ``code/llmlib/config.py``), one instance per 8 GPUs
#: (``tensor_parallelism`` 8, ``moe_expert_parallelism`` 8) with ``enable_attention_dp`` (each GPU its own attention
#: batch of up to ``gpu_batch_size`` 512 and ``max_num_tokens`` 4608 per iteration, experts over the 8), NVFP4
#: weights (``precision: fp4``; the checkpoint keeps attention projections and the router in 16-bit:
#: ``hf_quant_config.json`` ``exclude_modules``, priced as FP4 here), ``kv_cache_dtype: fp8``,
#: ``kvcache_free_gpu_mem_frac`` 0.9, whole prompts (``enable_chunked_context: False``), ``max_util`` admission,
#: ``max_seq_len`` 3140 + 20000. No speculative decoding: the generated ``extra_config_yaml`` carries no
#: speculative or MTP settings. Server (``configs/*/Server/deepseek-r1.py``): the same with ``max_num_tokens`` 3456.
#: The ``trtllm-pytorch`` class, uncalibrated (neither system has a serving table of it).
DSR1_OFFLINE_NVIDIA: dict[str, Any] = {
    "tp": 8, "ep": 8, "attention_dp": True, "dtype": "nvfp4", "kv_dtype": "fp8", "framework": "trtllm-pytorch",
    "max_num_seqs": 512, "max_num_batched_tokens": 4608, "gpu_memory_utilization": 0.9, "chunked_prefill": False,
    "scheduler_policy": "max_utilization", "max_model_len": 3140 + 20000,
}  # fmt: skip
DSR1_PLANS: dict[str, dict[str, Any]] = {
    "Offline": DSR1_OFFLINE_NVIDIA,
    "Server": {**DSR1_OFFLINE_NVIDIA, "max_num_batched_tokens": 3456},
}
#: AMD's Mixtral-8x7B vLLM plans on MI325X, ``closed/AMD/code/mixtral-8x7b/harness_llm/models/mixtral-8x7b/
#: {offline,server}_mi325x.yaml`` (@965182b0): one engine per GPU (``tensor_parallel_size: 1``), FP8 weights and KV
#: cache, ``block_size`` 16, ``gpu_memory_utilization`` 0.96, ``max_model_len`` 2048, whole prompts. Offline:
#: ``max_num_seqs`` 4736, ``max_num_batched_tokens`` 51200. Server: 2560 and 32000, ``enforce_eager: True`` (no
#: CUDA graphs: ``cuda_graphs=0``). Multi-step scheduling (``num_scheduler_steps``) and AMD's MoE scheduler
#: environment switches are not modelled; the ``vllm`` class, uncalibrated (mi325x-node's one table is SGLang's).
_MIXTRAL_AMD: dict[str, Any] = {
    "tp": 1, "dtype": "fp8", "kv_dtype": "fp8", "framework": "vllm", "max_model_len": 2048, "block_size": 16,
    "gpu_memory_utilization": 0.96, "chunked_prefill": False,
}  # fmt: skip
MIXTRAL_PLANS: dict[str, dict[str, Any]] = {
    "Offline": {**_MIXTRAL_AMD, "max_num_seqs": 4736, "max_num_batched_tokens": 51200},
    "Server": {**_MIXTRAL_AMD, "max_num_seqs": 2560, "max_num_batched_tokens": 32000, "cuda_graphs": 0.0},
}
#: Where a submitter's own config departs from the reference plan (the rest identical, @965182b0):
#: GigaComputing's B200 DeepSeek-R1 Server config (``closed/GigaComputing/configs/G894-SD1_B200-SXM-180GBx8/Server/
#: deepseek-r1.py``) runs batch 768 with chunked context; GigaComputing's and Vultr's Mixtral Offline configs
#: (``closed/{GigaComputing,Vultr}/code/mixtral-8x7b/harness_llm/models/mixtral-8x7b/offline_mi325x.yaml``) take
#: 65000 tokens per iteration; Vultr's Server config runs with CUDA graphs (``enforce_eager: False``). Dell's and
#: Google's DeepSeek-R1 configs and MiTAC's and Quanta's Mixtral configs are NVIDIA's / AMD's (Dell's Server
#: differs in target QPS and balancing waits only); ASUSTeK ships no Mixtral config, its measurement READMEs run
#: AMD's ``offline_MI325X`` / ``server_MI325X`` from AMD's image (``rocm/mlperf-inference:submission_5.1-mixtral_8x7b``).
MOE_SUBMITTER_PLANS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("GigaComputing", "deepseek-r1", "Server"): {"max_num_seqs": 768, "chunked_prefill": True},
    ("GigaComputing", "mixtral-8x7b", "Offline"): {"max_num_batched_tokens": 65000},
    ("Vultr", "mixtral-8x7b", "Offline"): {"max_num_batched_tokens": 65000},
    ("Vultr", "mixtral-8x7b", "Server"): {"cuda_graphs": 1.0},
}
#: How each harness spreads Server queries: NVIDIA's ``load_balancing`` (``code/llmlib/config.py``), AMD's
#: ``shortest_queue_with_tokens`` (``server_mi325x.yaml``).
MOE_BALANCER = "least_outstanding"
#: Queries per instance (8 GPUs for DeepSeek-R1, one GPU for Mixtral) of an Offline run: NVIDIA's B200
#: ``min_query_count`` 26328 (six passes of the 4,388 samples; GB200: 26328 x 8 over 9 instances, 23,403 each);
#: Mixtral: four passes of the 15,000 per GPU (the runs last 40 min, ~77 passes over 8 GPUs: enough passes that
#: the last batch's drain is under 1 % of the run; 2 passes: +0.6 % higher error).
MOE_OFFLINE_QUERIES = {"deepseek-r1": 26328, "mixtral-8x7b": 60000}
#: Queries per instance of a Server run: one pass of the dataset per 8-GPU DeepSeek-R1 instance (4,388: 880 s at 5
#: queries/s, about MLPerf's 600 s minimum), one per Mixtral GPU (15,000: 300 s at 50 queries/s, some 40 query
#: lifetimes).
MOE_SERVER_QUERIES = {"deepseek-r1": 4388, "mixtral-8x7b": 15000}


def moe_rows() -> list[dict[str, Any]]:
    """The MoE inference rows priced (``modelled = yes``; DeepSeek-R1 and Mixtral-8x7B)."""
    d = inference_data().filter((pl.col("modelled") == "yes") & pl.col("benchmark").is_in(list(MOE_PRESETS)))
    return list(d.iter_rows(named=True))


def moe_plan(r: dict[str, Any]) -> dict[str, Any]:
    """The serving plan of a priced MoE row: the reference plan of its benchmark and scenario
    (:data:`DSR1_PLANS`, :data:`MIXTRAL_PLANS`) with its submitter's departures (:data:`MOE_SUBMITTER_PLANS`)."""
    base = (DSR1_PLANS if r["benchmark"] == "deepseek-r1" else MIXTRAL_PLANS)[r["scenario"]]
    return {**base, **MOE_SUBMITTER_PLANS.get((r["submitter"], r["benchmark"], r["scenario"]), {})}


def moe_lengths(benchmark: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's per-sample prompt and reference output lengths, tokens, in dataset order (:data:`MOE_LENGTHS`)."""
    if benchmark not in MOE_LENGTHS:
        raise ValueError(f"argument `benchmark`: {benchmark!r}; expected one of {sorted(MOE_LENGTHS)}")
    f = pl.read_csv(Path(__file__).resolve().parent.parent / "data" / MOE_LENGTHS[benchmark][0])
    return f["input_length"].to_numpy(), f["output_length"].to_numpy()


def moe_output_lengths(benchmark: str, mean: float) -> np.ndarray:
    """Per-sample output lengths of a run whose log reports ``mean`` output tokens per sample: the reference
    outputs capped at the harness's limit (:data:`MOE_MAX_OUTPUT`) and scaled to that mean (the served model's
    outputs differ from the reference's: DeepSeek-R1 FP4 runs average 3,650-3,750 tokens against the capped
    reference 3,886), whole tokens in [1, cap]."""
    cap = MOE_MAX_OUTPUT[benchmark]
    ref = np.minimum(moe_lengths(benchmark)[1].astype(np.float64), cap)
    return np.clip(np.round(ref * float(mean) / ref.mean()), 1, cap)


def moe_queries(
    benchmark: str, n: int, mean_output: float, offline: bool, max_model_len: int, seed: int = SEED
) -> pl.DataFrame:
    """``n`` queries over the dataset, a fresh random permutation per pass: all at time 0 (``offline``) or with
    Poisson gaps at rate 1/s (scaled by ``perfmodel.serve.max_rate``); outputs :func:`moe_output_lengths`, each
    cut to what ``max_model_len`` leaves after its prompt (as the engines stop a sequence there)."""
    rng = np.random.default_rng(seed)
    prompts = moe_lengths(benchmark)[0].astype(np.float64)
    outputs = np.minimum(moe_output_lengths(benchmark, mean_output), max_model_len - prompts)
    order = np.concatenate([rng.permutation(len(prompts)) for _ in range(-(-n // len(prompts)))])[:n]
    arrivals = np.zeros(n) if offline else np.cumsum(rng.exponential(1.0, n))
    return pl.DataFrame(
        {"arrival_s": arrivals, "prompt_tokens": prompts[order], "output_tokens": outputs[order]}
    )


def _moe_instances(r: dict[str, Any]) -> int:
    """Instances of the row's plan on its GPUs (an instance spans ``tp`` GPUs)."""
    gpus, tp = int(r["gpus"]), int(moe_plan(r)["tp"])
    if gpus % tp:
        raise ValueError(f"{r['submitter']} {r['system_dir']}: {gpus} GPUs do not hold instances of {tp}")
    return gpus // tp


@functools.lru_cache(maxsize=64)
def _moe_offline(benchmark: str, system: str, mean_output: float, plan: str) -> float:
    from .. import serve

    p = json.loads(plan)
    trace = moe_queries(benchmark, MOE_OFFLINE_QUERIES[benchmark], mean_output, True, p["max_model_len"])
    sim = serve.simulate(MOE_PRESETS[benchmark], system, requests=trace, **p)
    return float(sim.output_tokens_per_s)


def moe_offline_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of an Offline MoE row: one instance of the row's plan (:func:`moe_plan`) serving
    :data:`MOE_OFFLINE_QUERIES` samples all at once (the dataset in random order, the log's mean output per sample
    spread as the reference outputs are), times the instances on the row's GPUs."""
    plan = json.dumps(moe_plan(r), sort_keys=True)
    mean = round(float(r["output_tokens_per_sample"]))
    return _moe_offline(r["benchmark"], r["hwdb_system"], mean, plan) * _moe_instances(r)


@functools.lru_cache(maxsize=64)
def _moe_server(
    benchmark: str, system: str, instances: int, mean_output: float, plan: str
) -> tuple[float, str]:
    from .. import serve

    ttft, tpot = MOE_SLO[benchmark]
    p = json.loads(plan)
    trace = moe_queries(
        benchmark, MOE_SERVER_QUERIES[benchmark] * instances, mean_output, False, p["max_model_len"]
    )
    res = serve.max_rate(
        MOE_PRESETS[benchmark], system, replicas=instances, slo_ttft_s=ttft, slo_tpot_s=tpot,
        percentile=SLO_PERCENTILE, requests=trace, rel_tol=0.01, balancer=MOE_BALANCER, **p,
    )  # fmt: skip
    return float(res.rate_req_s), res.why


def moe_server_predict(r: dict[str, Any]) -> float:
    """Output tokens/s of a Server MoE row: the highest Poisson query rate the row's instances serve within
    MLPerf's p99 TTFT and TPOT limits (:data:`MOE_SLO`), :data:`MOE_SERVER_QUERIES` per instance, times the log's
    mean output tokens per sample."""
    plan = json.dumps(moe_plan(r), sort_keys=True)
    mean = round(float(r["output_tokens_per_sample"]))
    rate, _ = _moe_server(r["benchmark"], r["hwdb_system"], _moe_instances(r), mean, plan)
    return rate * float(r["output_tokens_per_sample"])


def moe_summary(priced: list[dict[str, Any]]) -> dict[str, Any]:
    """The MoE rows' errors (suite rows of :func:`moe_run` among ``priced``) per benchmark, scenario and system,
    signed medians besides."""
    rows = [r for r in priced if json.loads(r["params"])["benchmark"] in MOE_PRESETS]

    def key(r: dict[str, Any]) -> str:
        p = json.loads(r["params"])
        return f"{p['benchmark']} {p['scenario']} {p['accelerator']}"

    return {
        "what": "DeepSeek-R1 Offline/Server on B200/GB200 (NVIDIA's config: TP8/EP8 attention-DP instances, FP4, FP8 "
        "KV, no MTP; uncalibrated trtllm-pytorch class) and Mixtral-8x7B Offline/Server on MI325X (AMD's vLLM plans, "
        "one FP8 engine per GPU; uncalibrated vllm class): per-sample dataset lengths, outputs scaled to the log's "
        "mean; Server: the highest Poisson rate within MLPerf's p99 TTFT/TPOT limits; all held out",
        "all": _errors(rows),
        "per_benchmark_scenario_accelerator": {
            k: {**_errors([r for r in rows if key(r) == k]),
                "median_signed_error": statistics.median(r["predicted"] / r["measured"] - 1 for r in rows if key(r) == k)}
            for k in sorted({key(r) for r in rows})
        },
    }  # fmt: skip


def moe_run() -> list[dict[str, Any]]:
    """Suite rows of the priced MoE inference rows (groups ``mlperf_inference_<benchmark>_<accelerator>`` for
    Offline, ``mlperf_inference_<benchmark>_server_<accelerator>`` for Server), all held out."""
    out = []
    for r in moe_rows():
        sc, b = r["scenario"], r["benchmark"]
        params = {k: r[k] for k in ("version", "submitter", "system_dir", "accelerator", "gpus", "benchmark",
                                    "scenario", "output_tokens_per_sample")}  # fmt: skip
        params.update(moe_plan(r), instances=_moe_instances(r))
        src = f"{r['source']}; lengths: {MOE_LENGTHS[b][1]}"
        if sc == "Offline":
            grp, pred = f"mlperf_inference_{b}_{r['accelerator'].lower()}", moe_offline_predict(r)
            params.update(queries_per_instance=MOE_OFFLINE_QUERIES[b])
        else:
            params.update(slo_ttft_s=MOE_SLO[b][0], slo_tpot_s=MOE_SLO[b][1], percentile=SLO_PERCENTILE,
                          balancer=MOE_BALANCER, queries_per_instance=MOE_SERVER_QUERIES[b])  # fmt: skip
            grp, pred = f"mlperf_inference_{b}_{sc.lower()}_{r['accelerator'].lower()}", moe_server_predict(r)
            src += "; SLOs: mlcommons/inference@b66003e10e2db4b8c36a448b0545ec90fcc6e9e9:loadgen/mlperf.conf"
        out.append({
            "suite": "mlperf5", "group": grp, "system": r["hwdb_system"],
            "operation": f"{r['submitter']} {r['system_dir']} {b} {sc}", "params": json.dumps(params),
            "metric": "output_tokens_per_s", "unit": "tokens/s", "measured": float(r["tokens_per_s"]),
            "predicted": pred, "role": "holdout", "source": src,
        })  # fmt: skip
    return out


def data() -> pl.DataFrame:
    """The MLPerf v5.x training rows the library ships (``plan`` and ``per_file`` are JSON strings)."""
    path = Path(__file__).resolve().parent.parent / "data" / "mlperf_v5.csv"
    return pl.read_csv(path, infer_schema_length=None)


def layers_priced(layers: int, stages: int) -> int:
    """Transformer layers the step model prices for ``stages`` = PP x VP pipeline slots. The engine splits layers
    evenly; Llama 3.1 405B's 126 layers over 64 slots run with NeMo's asymmetric split (``ASYM_PP_EMBED``,
    ``ASYM_PP_LOSS`` in the configs: the embedding and the loss take a layer slot each, 128 slots), priced as 128
    layers (1.6 % more layer work, the embedding and loss then counted besides)."""
    if layers % stages == 0:
        return layers
    if (layers + 2) % stages == 0:
        return layers + 2
    raise ValueError(f"{layers} layers cannot be split over {stages} pipeline slots")


def _model(benchmark: str, seq_len: int, stages: int = 1) -> llm.Model:
    preset, _ = BENCHMARKS[benchmark]
    f = {**llm.model(preset).fields, "seq_len": seq_len}
    f["layers"] = layers_priced(int(f["layers"]), stages)
    return llm.model({k: int(v) if float(v).is_integer() else v for k, v in f.items()})


def gpus_per_domain(gpus: int) -> int:
    """GPUs per NVLink domain of a GB200 NVL72 run: the largest multiple of a tray (4) that divides the GPU count
    and fits a rack (72)."""
    return max(d for d in range(_TRAY, _RACK + 1, _TRAY) if gpus % d == 0)


def _domain_spec(system: str, gpus_per_domain: int) -> hwdb.Spec:
    """``system`` (a GB200 NVL72 rack) with ``gpus_per_domain`` of its GPUs in use: the rack's NVLink level, NICs and
    calibration, fewer devices."""
    text = hwdb.get(system).to_toml()
    for key in ("devices_per_node_count", "nics_per_node_count", "size_count"):
        text = re.sub(rf"(?m)^{key} = {_RACK}$", f"{key} = {gpus_per_domain}", text)
    return hwdb.parse(text, file=f"{system} ({gpus_per_domain} GPUs per NVLink domain)")


def where(system: str, gpus: int) -> tuple[Any, int]:
    """The cluster a run of ``gpus`` GPUs is priced on: ``(system or spec, nodes)``."""
    if system.startswith(("gb200-nvl72", "gb300-nvl72")):
        d = gpus_per_domain(gpus)
        return (system if d == _RACK else _domain_spec(system, d)), gpus // d
    per_node = int(hwdb.get(system)["devices_per_node_count"])
    return system, max(1, gpus // per_node)


def profile(version: str) -> str:
    """The calibration profile of an MLPerf round (``v5.1`` -> ``mlperf-v5.1``)."""
    return f"mlperf-{version}"


def calib_of(row: dict[str, Any]) -> str | None:
    """The calibration a row is priced with: its round's profile where its system has one, else the system's own
    (the anchors: dgx-h100 and hgx-h200 with their GPT-3 fit, mi300x-pollara-node uncalibrated)."""
    name = profile(row["version"])
    return name if name in (llm.calibration(SYSTEMS[row["accelerator"]]).get("profiles") or {}) else None


#: Accelerators whose rows run cuDNN's fused attention (``cudnn_attention``): Hopper, where Transformer Engine picks
#: FusedAttention over FlashAttention (TE >= 1.2; the v5.x NeMo containers ship TE 2.x) and the LoRA configs set
#: ``NVTE_FUSED_ATTN=1`` (``perfmodel.validation.llm._mlperf_cudnn_attention``). Blackwell keeps FlashAttention's
#: figures (hwdb has no cuDNN attention fraction for it); H200 NVL has no measured one either.
CUDNN_ACCELERATORS = frozenset({"H100", "H200"})


def estimate(row: dict[str, Any], calib: dict[str, float] | str | None = None) -> llm.Estimate:
    """The step-model estimate of one row with its own plan (module docstring); ``calib`` None: :func:`calib_of`."""
    calib = calib_of(row) if calib is None else calib
    p = json.loads(row["plan"])
    _, frozen = BENCHMARKS[row["benchmark"]]
    m = _model(row["benchmark"], int(p.get("seq_len") or 8192), int(p["pp"]) * max(1, int(p["vp"])))
    system, nodes = where(SYSTEMS[row["accelerator"]], int(row["gpus"]))
    return llm.estimate(
        m, (system, nodes), tp=p["tp"], pp=p["pp"], cp=p["cp"], dp=p["dp"], vp=max(1, int(p["vp"])),
        micro_batch=p["micro_batch"], global_batch=p["global_batch"], sp=bool(p["sp"]),
        recompute=p.get("recompute") or "none", dtype=_dtype(p),
        zero=1 if p.get("distributed_optimizer", True) else 0, dp_overlap=True,
        tp_overlap=bool(p["tp_comm_overlap"]), pp_overlap=int(p["vp"]) > 1, frozen_weights=frozen, calib=calib,
        rank_order=p.get("rank_order") or "tp-cp-dp-pp",
        cudnn_attention=row["accelerator"] in CUDNN_ACCELERATORS,
        cuda_graphs="layer" if p.get("cuda_graphs") else "none",
    )  # fmt: skip


def _dtype(plan: dict[str, Any]) -> str:
    """The training GEMM dtype of a plan: NVFP4 where the config sets ``FP4`` (Transformer Engine's NVFP4 recipe,
    ``FP4_RECIPE="nvfp4"`` in every FP4 config of v5.1), else FP8 or bf16."""
    if plan.get("fp4"):
        return "nvfp4"
    return "fp8" if plan["fp8"] else "bf16"


def predict(row: dict[str, Any], calib: dict[str, float] | str | None = None) -> float:
    """Predicted samples/s of one row."""
    return json.loads(row["plan"])["global_batch"] / estimate(row, calib).step_time_s


def modelled() -> list[dict[str, Any]]:
    """The rows the step model prices (``modelled == "yes"``)."""
    return [r for r in data().iter_rows(named=True) if r["modelled"] == "yes"]


def group(row: dict[str, Any]) -> str:
    """The validation group of a row: accelerator and benchmark."""
    return f"{row['accelerator'].lower()}_{row['benchmark']}"


def _suite_row(r: dict[str, Any], predicted: float) -> dict[str, Any]:
    p = json.loads(r["plan"])
    params = {k: r[k] for k in ("version", "submitter", "system_dir", "accelerator", "gpus", "n_results")}
    params.update(
        {k: p[k] for k in ("tp", "pp", "vp", "cp", "dp", "micro_batch", "global_batch", "sp", "fp8", "fp4")}
        | {"rank_order": p.get("rank_order") or "tp-cp-dp-pp"}
    )
    return {
        "suite": "mlperf5", "group": group(r), "system": f"{r['system_name']} ({r['gpus']}x {r['accelerator']})",
        "operation": f"MLPerf Training {r['version']} {r['benchmark']} ({r['submitter']})",
        "params": json.dumps(params, sort_keys=True), "metric": r["metric"], "unit": r["unit"],
        "measured": float(r["value"]), "predicted": predicted, "role": r["role"], "source": r["source"],
    }  # fmt: skip


def skipped() -> dict[str, str]:
    """Rows marked modelled that the step model refuses (a plan it cannot place), with the engine's message."""
    out = {}
    for r in modelled():
        try:
            estimate(r)
        except PerfModelError as e:
            out[f"{r['version']} {r['submitter']} {r['system_dir']} {r['benchmark']}"] = str(e)
    return out


def run(calib: dict[tuple[str, str], dict[str, float]] | None = None) -> pl.DataFrame:
    """Per-row predicted vs measured; ``calib`` maps (hwdb system, round) to a calibration overriding the
    profile. Rows the engine refuses are left out (:func:`skipped`, counted in the summary)."""
    rows = []
    for r in modelled():
        try:
            pred = predict(r, (calib or {}).get((SYSTEMS[r["accelerator"]], r["version"])))
        except PerfModelError:
            continue
        rows.append(_suite_row(r, pred))
    return frame(rows + trtllm_run() + offline_run() + moe_run())


def _errors(rows: list[dict[str, Any]]) -> dict[str, Any]:
    a = [abs(x) for x in (r["predicted"] / r["measured"] - 1 for r in rows)]
    if not a:
        return {"rows": 0}
    return {"rows": len(a), "median_abs_error": statistics.median(a), "max_abs_error": max(a)}


def summary_extra(rows: pl.DataFrame) -> dict[str, Any]:
    """The issue 18 target figures: per accelerator and over the new hardware, fit and held out together and
    held out alone; the excluded rows counted by reason."""
    d = [r for r in rows.to_dicts() if not r["group"].startswith(("trtllm_v1_", "mlperf_inference_"))]
    acc = {r["group"]: json.loads(r["params"])["accelerator"] for r in d}
    new = [r for r in d if acc[r["group"]] in NEW_HARDWARE]
    out: dict[str, Any] = {
        "target_training_median": TARGETS["training_median"],
        "new_hardware_all": _errors(new),
        "new_hardware_holdout": _errors([r for r in new if r["role"] == "holdout"]),
        # Held-out rows of another benchmark than the fit's (Llama 3.1 8B/405B pretraining): the other
        # submitters' LoRA rows mostly rerun the fit submitter's code and plan, so this is the stricter figure.
        "new_hardware_holdout_pretraining": _errors(
            [r for r in new if r["role"] == "holdout" and FIT_BENCHMARK not in r["operation"]]
        ),
        # FP4 (NVFP4) training rows: all held out, priced with their round's bf16/fp8 profile.
        "fp4_training": {
            "all": _errors([r for r in d if json.loads(r["params"]).get("fp4")]),
            "new_hardware": _errors([r for r in new if json.loads(r["params"]).get("fp4")]),
            "rows": {
                " ".join(str(json.loads(r["params"])[k]) for k in ("version", "submitter", "system_dir"))
                + f" {r['operation'].split()[3]} ({json.loads(r['params'])['gpus']}x {acc[r['group']]})": r[
                    "predicted"
                ]
                / r["measured"]
                - 1
                for r in d if json.loads(r["params"]).get("fp4")
            },
        },
        "new_hardware_all_without_fp4": _errors([r for r in new if not json.loads(r["params"]).get("fp4")]),
        # Rows on systems calibrated only through a sibling (nothing fitted on them): all held out.
        "inherited_hardware": {
            a: _errors([r for r in d if acc[r["group"]] == a]) for a in INHERITED_HARDWARE
        },
        "inherited_hardware_all": _errors([r for r in d if acc[r["group"]] in INHERITED_HARDWARE]),
        "new_and_inherited_hardware_all": _errors(
            [r for r in d if acc[r["group"]] in NEW_HARDWARE + INHERITED_HARDWARE[:3]]
        ),
        "per_accelerator": {
            a: {"all": _errors([r for r in d if acc[r["group"]] == a]),
                "holdout": _errors([r for r in d if acc[r["group"]] == a and r["role"] == "holdout"]),
                "fit": _errors([r for r in d if acc[r["group"]] == a and r["role"] == "fit"])}
            for a in sorted(set(acc.values()))
        },
    }  # fmt: skip
    excluded = data().filter(pl.col("modelled") != "yes")
    out["excluded_rows"] = {
        k: int(v) for k, v in excluded.group_by("modelled").len().sort("modelled").iter_rows()
    }
    out["refused_by_the_engine"] = skipped()
    inf = inference_data()
    priced = [r for r in rows.to_dicts() if r["group"].startswith("mlperf_inference_")]

    def scenario(r: dict[str, Any]) -> str:
        return str(json.loads(r["params"])["scenario"])

    def key(r: dict[str, Any]) -> str:
        p = json.loads(r["params"])
        return f"{p['benchmark']} {p['scenario']} {p['accelerator']}"

    out["serving"] = {
        "target_median": TARGETS["serving_median"],
        "rows_recorded": inf.height,
        "rows_on_new_hardware": inf.filter(pl.col("accelerator").is_in(list(NEW_HARDWARE))).height,
        "rows_predicted": len(priced),
        "predicted": {
            "what": "Llama 2 70B Offline, Server and Interactive on B200/GB200 with NVIDIA's TensorRT harness "
            "(uncalibrated trtllm class) and on MI325X with AMD's vLLM harness (uncalibrated vllm class): the "
            "scenario's config plan, OpenOrca prompt lengths, the log's output tokens per sample; Server/Interactive: "
            "the highest Poisson rate within MLPerf's p99 TTFT/TPOT limits; Llama 3.1 8B and 405B on B200/GB200 "
            "with NVIDIA's TensorRT harness likewise (NVIDIA_LLAMA31_PLANS, the CNN/DailyMail and 405B prompt "
            "lengths); DeepSeek-R1 and Mixtral-8x7B: see `moe`; every other row not predicted",
            "all": _errors(priced),
            "llama2_70b": _errors([r for r in priced if "llama2-70b" in r["group"]]),
            "llama31": _errors([r for r in priced if "llama3.1-" in r["group"]]),
            "median_signed_error": statistics.median(r["predicted"] / r["measured"] - 1 for r in priced)
            if priced
            else None,
            "per_accelerator": {
                a: _errors([r for r in priced if r["group"].rsplit("_", 1)[1] == a.lower()])
                for a in ("B200", "GB200", "MI325X")
            },
            "per_scenario": {
                sc: _errors([r for r in priced if scenario(r) == sc])
                for sc in ("Offline", "Server", "Interactive")
            },
            "per_benchmark_scenario_accelerator": {
                k: _errors([r for r in priced if key(r) == k]) for k in sorted({key(r) for r in priced})
            },
        },
        "why_not": sorted(set(inf["modelled"].to_list()) - {"yes"}),
    }
    out["serving"]["moe"] = moe_summary(priced)
    standin = [r for r in rows.to_dicts() if r["group"].startswith("trtllm_v1_")]
    out["serving_standin_trtllm_v1"] = {
        "note": "TensorRT-LLM v1.0-era B200/GB200 tables (fixed ISL/OSL), not MLPerf rows",
        "all": _errors(standin),
        "dense": _errors([r for r in standin if "llama3" in r["group"]]),
        "moe": _errors([r for r in standin if "llama3" not in r["group"]]),
        "not_predicted": trtllm_skipped(),
    }
    return out


def _cal(k: float) -> dict[str, float]:
    return {
        "compute_time_scale": k,
        "memory_time_scale": k,
        "comm_bandwidth_scale": 1.0,
        "network_bandwidth_scale": 1.0,
    }


def fit(system: str, version: str) -> dict[str, Any]:
    """Fits ``system``'s compute factor for MLPerf round ``version`` on its :data:`FIT` rows (least squares in log
    error, bounded scalar minimization, scipy). Returns the value, convergence, the fit rows' errors, a
    leave-one-out over the fit rows and the errors of the round's held-out rows of the system at the value."""
    from scipy import optimize

    acc = next(a for a, s in SYSTEMS.items() if s == system)
    rows = [r for r in modelled() if r["accelerator"] == acc and r["version"] == version and not _refused(r)]
    fit_rows = [r for r in rows if r["role"] == "fit"]
    held = [r for r in rows if r["role"] == "holdout"]
    if not fit_rows:
        raise ValueError(f"{system} {version}: no fit rows")

    def loss(k: float, subset: list[dict[str, Any]]) -> float:
        return sum(math.log(predict(r, _cal(k)) / float(r["value"])) ** 2 for r in subset)

    def solve(subset: list[dict[str, Any]]) -> Any:
        return optimize.minimize_scalar(
            loss, bounds=FIT_BOUNDS, args=(subset,), method="bounded", options={"xatol": 1e-5}
        )

    res = solve(fit_rows)
    k = round(float(res.x), 4)

    def errs(subset: list[dict[str, Any]], kk: float) -> dict[str, Any]:
        return _errors([{"predicted": predict(r, _cal(kk)), "measured": float(r["value"])} for r in subset])

    loo = {}
    if len(fit_rows) > 1:
        for i, r in enumerate(fit_rows):
            kk = float(solve(fit_rows[:i] + fit_rows[i + 1 :]).x)
            loo[f"{r['submitter']} {r['system_dir']}"] = {
                "compute_time_scale": kk, "error": predict(r, _cal(kk)) / float(r["value"]) - 1}  # fmt: skip
    return {
        "system": system, "profile": profile(version), "compute_time_scale": k, "memory_time_scale": k,
        "bounds": list(FIT_BOUNDS), "success": bool(res.success), "message": str(res.message),
        "evaluations": int(res.nfev), "loss": float(res.fun),
        "uncalibrated": {"fit": errs(fit_rows, 1.0), "holdout": errs(held, 1.0)},
        "in_sample": errs(fit_rows, k), "leave_one_out": loo, "holdout": errs(held, k),
    }  # fmt: skip


def _refused(row: dict[str, Any]) -> bool:
    try:
        estimate(row, _cal(1.0))
    except PerfModelError:
        return True
    return False


def fitted_on(system: str, version: str) -> str:
    """What ``system``'s round ``version`` profile is fitted on, for its hwdb ``fitted_on``."""
    acc = next(a for a, s in SYSTEMS.items() if s == system)
    rows = [
        r for r in modelled() if r["accelerator"] == acc and r["version"] == version and r["role"] == "fit"
    ]
    names = ", ".join(f"{r['system_dir']} ({r['gpus']} GPUs)" for r in rows)
    repo = rows[0]["source"].split(":")[0]
    return (
        f"MLPerf Training {version} {FIT_BENCHMARK}, {FIT[(system, version)]}'s submissions with their own plans, "
        f"training samples/s ({repo}: {names}; read by tools/import_mlperf5.py into "
        "python/perfmodel/data/mlperf_v5.csv); compute "
        "factor only (memory tied to it; links and network at the system's: no fit row exercises the network). "
        f"Held out: every other {acc} row (other submitters, Llama 3.1 8B and 405B pretraining), see "
        "docs/mlperf5_validation.md"
    )


# ---- serving stand-in: TensorRT-LLM v1.0 B200/GB200 tables ----------------------------------------------------


#: Nothing is fitted on the stand-in: a one-figure fit (``kernel_time_scale``) on each system's Llama 3.3 70B rows
#: gave 1.029 (B200) and 1.019 (GB200), its own rows' median 6.7 -> 6.6 % and 9.3 -> 8.7 %, the held-out rows
#: 26.4 -> 27.4 % and 19.5 -> 19.9 %: not kept (NOTES.md's rule: a fit stays only if it earns its place). Every
#: row is predicted with the uncalibrated ``trtllm-pytorch`` class (neither system has a table of that class) and
#: is a holdout. A dgx-b200 ``trtllm-pytorch`` table fitted on InferenceMAX's DeepSeek-R1 rows (``serving_new``)
#: made these rows worse (6.7 -> 16.4 % dense, 29.6 -> 58.0 % MoE), so ``tools/calibrate.py --inferencex`` does not
#: keep it (docs/mlperf5_validation.md).
def trtllm_data() -> pl.DataFrame:
    """The TensorRT-LLM v1.0-era offline throughput rows on B200 and GB200 (FP4), transcribed from the
    perf-overview document the serving suite's H100 rows come from (``perfmodel/data/trtllm_v1_blackwell.csv``):
    fixed prompt and output lengths, so unlike the MLPerf Inference rows they can be priced. Not MLPerf rows: a
    stand-in for issue 18's serving target, reported apart from it."""
    path = Path(__file__).resolve().parent.parent / "data" / "trtllm_v1_blackwell.csv"
    return pl.read_csv(path)


def _trtllm_case(r: dict[str, Any]) -> dict[str, Any]:
    """A row as ``perfmodel.validation.serving_trtllm.predict`` takes a case: trtllm-bench's derived batch and token
    limits and ``guaranteed_no_evict`` admission; the KV cache fp8, as the ModelOpt checkpoints of the H100 rows
    (the FP4 checkpoints' KV format is not stated in the document: the same exporter is assumed)."""
    return {
        "model_id": r["preset"], "system_id": r["hwdb_system"], "tp": int(r["tp"]), "pp": int(r["pp"]),
        "isl": int(r["isl"]), "osl": int(r["osl"]), "dtype": r["dtype"], "framework_version": "v1.0",
        "params": json.dumps({"dtype": f"{r['dtype']} (ModelOpt)"}), "batching": "inflight",
        "num_requests": int(r["num_requests"]), "batch_size": None,
    }  # fmt: skip


def trtllm_skipped() -> dict[str, str]:
    """Rows of the stand-in not predicted, with why (no model preset)."""
    presets = set(llm.presets())
    return {
        f"{r['model']} {r['gpu']} {r['isl']}/{r['osl']}": f"model '{r['preset']}' has no perfmodel.llm preset"
        for r in trtllm_data().iter_rows(named=True)
        if r["preset"] not in presets
    }


def _trtllm_rows() -> list[dict[str, Any]]:
    presets = set(llm.presets())
    return [r for r in trtllm_data().iter_rows(named=True) if r["preset"] in presets]


def trtllm_predict(r: dict[str, Any], kernel_time_scale: float = 1.0) -> float:
    """Predicted output tokens/s of one stand-in row: the uncalibrated ``trtllm-pytorch`` class (every framework
    figure at its neutral value), ``kernel_time_scale`` for a what-if."""
    from . import serving_trtllm as vt

    return vt.predict(_trtllm_case(r), {**vt.uncalibrated_figures(), "kernel_time_scale": kernel_time_scale})


def trtllm_run() -> list[dict[str, Any]]:
    """Suite rows of the stand-in (groups ``trtllm_v1_<gpu>_<model>``), all held out."""
    out = []
    for r in _trtllm_rows():
        params = {
            k: r[k] for k in ("model", "checkpoint", "gpu", "tp", "isl", "osl", "num_requests", "dtype")
        }
        out.append({
            "suite": "mlperf5", "group": f"trtllm_v1_{r['gpu'].lower()}_{r['preset']}", "system": f"{r['tp']}x {r['gpu']} ({r['hwdb_system']})",
            "operation": f"TensorRT-LLM v1.0 offline throughput {r['model']} {r['isl']}/{r['osl']}",
            "params": json.dumps(params, sort_keys=True), "metric": r["metric"], "unit": r["unit"],
            "measured": float(r["value"]), "predicted": trtllm_predict(r), "role": "holdout", "source": r["source"],
        })  # fmt: skip
    return out
