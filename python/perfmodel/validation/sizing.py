"""Sizing validation: does the roofline engine order GEMM shapes the way measurements do?

The sizing advisor (:mod:`perfmodel.llm.advisor`) ranks shapes by predicted throughput, so what matters is the
ordering within a sweep of shapes measured on one device with one library, and the throughput error. Each group
is one such sweep; the rows are the measurements the library ships, each with its source and citation:

- this project's own H100 and H200 GEMM measurements (``perfmodel/data/measured_gpu.csv``, PyTorch ``matmul``
  on cuBLAS): square bf16 GEMMs 256..16,384 with the unaligned 4,000 and 8,191 (the alignment cliff), square
  fp16 and fp8 sweeps, and GEMMs at transformer-layer shapes (Llama-2-7B/13B/70B, GPT-3 175B under tensor
  parallelism, aligned and unaligned: 802,816 x 192 x 768, 1,024 x 2,145 x 1,024);
- the H200 bf16 forward, data-gradient and weight-gradient GEMMs of GPT-3 175B and Llama-2-70B linears
  (``tools/measure_fp8.py``);
- Azure's published cuBLASLt sweeps on ND A100 v4 (fp16) and ND H100 v5 (fp8) (Azure/AI-benchmarking-guide,
  ``published_measurements.csv``);
- the raw logs behind the GEMM figures of Anthony et al., "The Case for Co-Designing Model Architectures with
  Hardware" (arXiv:2401.14489), from the EleutherAI cookbook's history (``perfmodel/data/gemm_sweeps.csv``,
  ``tools/import_cookbook_sweeps.py``; sweeps ``cookbook_*``): fp16 ``torch.mm`` and ``torch.bmm`` on A100, V100
  and one MI250X GCD: an m sweep (m x 4096 by 4096 x m), the narrow-output alignment sweep (27,648 x 4,096 by
  4,096 x n, n = 64..510 in steps of 2), the wave-quantization sweep (2,304 x 4,096 by 4,096 x n, n =
  1,536..6,144 in steps of 64), two batched sweeps, and two vocabulary sweeps (inner or output dimension
  stepped by 1 around 51,200 and 14,336) whose file names no GPU (A100 inferred from their rates);
- attention kernels across head dims: this project's own H100/H200 PyTorch SDPA rows (FlashAttention-2 and cuDNN,
  head dim 64 and 128; groups ``h100_attention_flash`` etc., the H100 rows ``fit``) and the FlashAttention-3
  paper's H100 forward bars at head dim 64/128/256 (:func:`headdim_rows`, groups ``fa3paper_h100_*``, all held
  out; the FlashAttention-3 bars are kept in the file but not priced: the engine has no FlashAttention-3 model).

Predictions are the ones the ``measured`` and ``roofline`` suites make for the same rows (one model, one set of
conventions); the cookbook rows are priced by the same ``roofline.gemm``. ``role`` is theirs: ``fit`` where a
device's fraction was fitted on the row, else ``holdout``. ``tools/calibrate.py --sweeps`` fits six figures on
cookbook rows (:func:`cookbook_fit_key`): V100's 16-bit GEMM fraction (its wave-quantization sweep; before,
A100's value was assumed), the unaligned-GEMM fraction of A100 and V100 (half of the alignment sweep's unaligned
outputs), V100's strided-batched fraction (b >= 2 against b = 1), V100's GEMM-stream fraction (the HBM rate its
GEMM kernels stream operands at: half of the alignment sweep's n <= 128), A100's odd-size fraction (the odd outputs
of one vocabulary sweep) and MI250X's GEMM-library fraction
(every other row of its wave-quantization sweep; the engine prices MI250X's fp16 GEMMs on the kernel rocBLAS
selects for the size, hwdb ``[gemm_library]``); every other cookbook row, and
every row of the other sweeps, is held out. Nothing is fitted here.

What the cookbook timed is part of what was measured (``sizing/benchmarks/mm_flops.py`` and ``bmm_flops.py`` at
27dff48d): ``mm`` (and the vocabulary sweeps' ``linear``) run 50 warm-up calls, then 100 calls each followed by
``torch.cuda.synchronize()``, and report the mean wall time over the 100 (``time.time()`` around the loop): every
call pays the kernel plus one host round trip (launch, synchronisation, the Python loop). ``bmm`` records
``time.time()`` after each synchronised call and reports the slowest of the 199 intervals after the warm-up
(``np.amax(np.diff(times)[50:])``). The harness models both (:func:`timing_figures`), not the engine: a ``mean``
row is predicted as engine time + ``host_s`` per call, a ``slowest`` row as engine time x ``slowest_ratio`` +
``host_s``, with ``host_s`` and ``slowest_ratio`` fitted per GPU log set on the timing fit half of each sweep
(:func:`timing_fit_half`: every other row of the sweep in log order); those rows are ``fit``, the others keep
their role. The cookbook's
transformer-layer logs (per-layer GEMMs and attention of Megatron blocks) name no GPU and are not here. AMD publishes no MI300X GEMM sweep in TFLOP/s; the
sweep ``tensile_mi300x_rocblas_fp16`` is the benchmarked speed of every size in rocBLAS's gfx942 fp16 logic file
(``perfmodel/data/tensile_sweeps.csv``, ``tools/import_tensile_sweeps.py``) as Tensile's tuning flow writes it: an
efficiency, percent of the device's peak at the clock the tuning ran at, a clock the file does not state. What
Tensile's tuning flow timed is part of what was measured too (``tuning/configuration/boiler/header.yml``,
``Tensile/Common.py``, ``Tensile/Source/client/`` @ a164ed70d): one cold enqueue per size and kernel (no warm-up,
one enqueue per synchronisation, one synchronisation per benchmark, no cache flush), timed by GPU events recorded
on the stream before and after the kernel's launch. The harness models the setup, not the engine
(:func:`tensile_figures`): a row is predicted as 100 x FLOPs / (engine time + ``call_s``) over the peak at the
tuning clock ``clock_mhz``, both fitted on every other size of the file (:func:`tensile_fit_half`), the others held
out.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import roofline
from ..hwdb import Spec, get
from . import frame, measured
from . import roofline as roofline_suite

__all__ = [
    "SWEEPS",
    "run",
    "sweep_summary",
    "device_agreement",
    "method_agreement",
    "bmm_sweep_agreement",
    "noise_ceiling",
    "measured_runs",
    "misranked",
    "sweep_rows",
    "headdim_rows",
    "HEADDIM_KERNELS",
    "cookbook_fit_key",
    "batched_fit_partner",
    "predict_cookbook",
    "timing_fit_half",
    "timing_figures",
    "tensile_fit_half",
    "tensile_figures",
    "summary_extra",
    "TARGET_SPEARMAN",
    "TARGET_MEDIAN_ERROR",
]

#: The issue's targets, per sweep.
TARGET_SPEARMAN = 0.8
TARGET_MEDIAN_ERROR = 0.10

_SQUARE_BF16 = {256, 512, 1024, 2048, 3072, 4000, 4096, 5120, 6144, 8191, 8192, 10240, 12288, 16384}


def _measured_sweep(row: dict[str, Any]) -> str | None:
    """The sweep a row of ``measured_gpu.csv`` belongs to, or None."""
    g, dev = row["group"], row["device"].split("-")[0]
    p = json.loads(row["params"])
    if g == "gemm":
        if p.get("batch", 1) != 1:
            return None
        m, n, k, dt = p["m"], p["n"], p["k"], p["dtype"]
        if m == n == k:
            if dt == "bf16" and m in _SQUARE_BF16:
                return f"{dev}_square_bf16"
            if dt in ("fp16", "fp8"):
                return f"{dev}_square_{dt}"
            return None
        return f"{dev}_llm_shapes_bf16" if dt == "bf16" else None
    if g == "fp8_gemm" and p.get("dtype") == "bf16" and "square" not in row["operation"]:
        return f"{dev}_llm_linears_bf16"
    if g in ("attention_flash", "attention_cudnn"):
        return f"{dev}_{g}"
    return None


def _published_sweep(case: Any) -> str | None:
    if "cuBLASLt" not in case.operation or case.group != "gemm" or case.args.get("shape") is None:
        return None
    return {"a100-sxm4-80gb": "azure_a100_cublaslt_fp16", "h100-sxm5-80gb": "azure_h100_cublaslt_fp8"}.get(
        case.device
    )


#: Sweep -> what it is.
SWEEPS: dict[str, str] = {
    "h100_square_bf16": "H100 SXM, square bf16 GEMMs 256..16384 with unaligned 4000 and 8191 (this project)",
    "h200_square_bf16": "H200, square bf16 GEMMs 256..16384 with unaligned 4000 and 8191 (this project)",
    "h100_square_fp16": "H100 SXM, square fp16 GEMMs 1024..16384 (this project)",
    "h200_square_fp16": "H200, square fp16 GEMMs 1024..16384 (this project)",
    "h100_square_fp8": "H100 SXM, square fp8 GEMMs 1024..16384 (this project)",
    "h200_square_fp8": "H200, square fp8 GEMMs 1024..16384 (this project)",
    "h100_llm_shapes_bf16": "H100 SXM, bf16 GEMMs at transformer-layer shapes, aligned and unaligned (this project)",
    "h200_llm_shapes_bf16": "H200, bf16 GEMMs at transformer-layer shapes, aligned and unaligned (this project)",
    "h200_llm_linears_bf16": "H200, bf16 fwd/dgrad/wgrad GEMMs of GPT-3 175B and Llama-2-70B TP linears (this project)",
    "azure_a100_cublaslt_fp16": "Azure ND A100 v4, cuBLASLt fp16 sweep (Azure/AI-benchmarking-guide)",
    "azure_h100_cublaslt_fp8": "Azure ND H100 v5, cuBLASLt fp8 sweep (Azure/AI-benchmarking-guide)",
}
_GPU_NAMES = {"a100": "A100", "v100": "V100", "mi250x": "MI250X (one GCD)"}
_COOKBOOK = {
    "mm_m_sweep": "fp16 torch.mm (m x 4096) x (4096 x m), m = 32..8192",
    "mm_ksweep_low": "fp16 torch.mm (27648 x 4096) x (4096 x n), n = 64..510 step 2 (alignment)",
    "mm_ksweep_high": "fp16 torch.mm (2304 x 4096) x (4096 x n), n = 1536..6144 step 64 (wave quantization)",
    "bmm_bsweep": "fp16 torch.bmm of b = 1..64 square GEMMs 1024..8192 (slowest of 200 calls)",
    "bmm_msweep": "fp16 torch.bmm of b = 1..64 (m x 4096) x (4096 x m), m = 32..8192 (slowest of 200 calls)",
}
for _gpu, _name in _GPU_NAMES.items():
    for _sweep, _what in _COOKBOOK.items():
        SWEEPS[f"cookbook_{_gpu}_{_sweep}"] = f"{_name}, {_what} (EleutherAI cookbook, arXiv:2401.14489)"
for _gpu, _name in (("h100", "H100 SXM"), ("h200", "H200")):
    SWEEPS[f"{_gpu}_attention_flash"] = (
        f"{_name}, PyTorch SDPA FlashAttention-2 forward and forward+backward, head dim 64 and 128, causal or not, "
        "sequence 512..16384 (this project)"
    )
    SWEEPS[f"{_gpu}_attention_cudnn"] = (
        f"{_name}, PyTorch SDPA cuDNN attention, the same shapes (this project)"
    )
#: Head-dim sweeps of published attention measurements (``perfmodel/data/attention_headdim.csv``): source id and
#: kernel -> the engine's kernel, or None where the engine has no model of it (kept in the file, not priced).
HEADDIM_KERNELS: dict[str, str | None] = {"fa2": "flash", "cudnn": "cudnn", "fa3": None}
SWEEPS["fa3paper_h100_fa2_fwd"] = (
    "H100 SXM, FlashAttention-2 forward bf16, head dim 64/128/256, causal or not, sequence 512..16k "
    "(Shah et al. arXiv:2407.08608, Figure 5 bar labels)"
)
SWEEPS["fa3paper_h100_cudnn_fwd"] = (
    "H100 SXM, cuDNN attention forward bf16, head dim 64/128/256, causal or not, sequence 512..16k "
    "(Shah et al. arXiv:2407.08608, Figure 5 bar labels)"
)
SWEEPS["cookbook_a100_vocab_inner_sweep"] = (
    "A100 (inferred), fp16 linear 8192 x 14336 x k, inner k = 51136..51264 every size (EleutherAI cookbook)"
)
SWEEPS["tensile_mi300x_rocblas_fp16"] = (
    "MI300X, rocBLAS's gfx942 fp16 GEMM logic file: every size AMD benchmarked with its winning kernel's speed "
    "(ROCm/rocBLAS aquavanjaram942X, tools/import_tensile_sweeps.py; % of peak at the tuning clock, priced with the "
    "tuning clock and per-enqueue time fitted on every other size)"
)
SWEEPS["cookbook_a100_vocab_out_sweep"] = (
    "A100 (inferred), fp16 linear 8192 x n x 51200, output n = 14272..14400 every size (EleutherAI cookbook)"
)


def sweep_rows() -> pl.DataFrame:
    """The cookbook GEMM sweeps the library ships (``perfmodel/data/gemm_sweeps.csv``; ``params`` is JSON)."""
    path = Path(__file__).resolve().parent.parent / "data" / "gemm_sweeps.csv"
    return pl.read_csv(path, infer_schema=False).with_columns(pl.col("value").cast(pl.Float64))


def headdim_rows() -> pl.DataFrame:
    """Published attention throughput at several head dims (``perfmodel/data/attention_headdim.csv``), one row per
    bar label: the FlashAttention-3 paper's Figure 5 (H100 SXM5, bf16 forward, head dim 64/128/256, with and
    without the causal mask, sequence 512..16k at batch x sequence = 16k tokens and hidden 2,048), FlashAttention-2,
    cuDNN and FlashAttention-3 bars. The labels were read from a public transcription of each chart (its address
    is in ``source``); which chart of a pair is causal is told by its lower short-sequence bars (the transcription
    titles omit the mask)."""
    path = Path(__file__).resolve().parent.parent / "data" / "attention_headdim.csv"
    return pl.read_csv(path, infer_schema=False).with_columns(
        pl.col("tflops").cast(pl.Float64),
        *(pl.col(c).cast(pl.Int64) for c in ("head_dim", "seq_len", "batch", "heads")),
        pl.col("causal") == "true",
    )


def _headdim_sweep_rows() -> list[dict[str, Any]]:
    """The head-dim rows the engine has a kernel for, priced by ``roofline.attention`` (forward TFLOP/s as the
    paper counts them: ``4 b h s^2 d``, halved when causal). Every row is held out: the head-dim figures
    (hwdb ``attention_softmax_ratio``) were fitted on this project's own H100 rows."""
    rows = []
    for r in headdim_rows().iter_rows(named=True):
        kernel = HEADDIM_KERNELS[r["kernel"]]
        if kernel is None:
            continue
        b, h, s, d = r["batch"], r["heads"], r["seq_len"], r["head_dim"]
        est = roofline.attention(r["device"], b, h, s, d, causal=r["causal"], kernel=kernel, dtype=r["dtype"])
        flops = 4.0 * b * h * s * s * d * (0.5 if r["causal"] else 1.0)
        params = json.dumps(dict(batch=b, heads=h, seq=s, head_dim=d, causal=r["causal"], kernel=r["kernel"]))
        rows.append(dict(
            suite="sizing", group=f"{r['source_id'].replace('_', '')}_h100_{r['kernel']}_{r['pass']}",
            system=r["device"], operation=f"{r['kernel']} {r['pass']} d{d} s{s} {'causal' if r['causal'] else 'full'}",
            params=params, metric=f"{r['pass']}_tflops", unit="TFLOP/s", measured=r["tflops"],
            predicted=flops / float(est["time_s"][0]) / 1e12, role="holdout", source=r["source"],
        ))  # fmt: skip
    return rows


def cookbook_fit_key(sweep: str, params: dict[str, Any]) -> str | None:
    """The hwdb figure ``tools/calibrate.py`` fits on a cookbook row (its role ``fit``), or None (``holdout``).

    - ``gemm16`` (V100's ``gemm_16bit_fraction``, otherwise A100's assumed): the V100 wave-quantization sweep,
      the sweep furthest from the host-synchronisation floor (0.4-1.4 ms per call);
    - ``unaligned`` (``unaligned_gemm_fraction`` of A100 and V100): the alignment sweep's n = 130..510 with
      n = 2 (mod 4), half of its unaligned outputs; n = 4 (mod 8), every n <= 128 and every aligned n are held
      out, and so is every other sweep of both GPUs;
    - ``odd`` (A100's ``odd_gemm_fraction``, a leading dimension not a multiple of 4 bytes): the odd outputs of
      the vocabulary sweep on n (8192 x n x 51200); its even sizes and the whole sweep on the inner k held out;
    - ``batched`` (V100's ``batched_gemm_fraction``): the rows of both V100 ``bmm`` sweeps with b >= 2 and
      m >= 2048 (calls of 0.5-560 ms, where the host round trip is below 2 %) whose b = 1 row of the same shape
      (:func:`batched_fit_partner`) is, like themselves, in the timing fit half (:func:`timing_fit_half`): each is
      priced relative to that b = 1 row (the same log, the same slowest-call timing), so the figure is the rate
      of cuBLAS's strided-batched kernels over its GEMM kernels on the same shape, whatever the timing figures.
      11 rows; every other row of both sweeps is held out of it.
    - ``stream`` (V100's ``gemm_stream_fraction``, the HBM rate its GEMM kernels stream their operands at, a
      floor on a GEMM's time): the alignment sweep's n <= 128 with n = 0 (mod 4) (64, 68, ..., 128: 17 rows, where
      one 128-column tile covers the output and the 27,648 x 4,096 operand's stream sets the time); n = 2 (mod 4)
      of the same range (16 rows) held out;
    - ``library16`` (MI250X's ``gemm_library_fraction``, the rate of the kernels rocBLAS selects, used for the fp16
      GEMMs priced through hwdb ``[gemm_library]``; before, MI300X's 16-bit fraction was assumed): every other row
      of its wave-quantization sweep (n = 1536, 1664, ..., 6144: n a multiple of 128); n = 1600, 1728, ... and
      every other MI250X sweep held out.
    - ``vector16`` (MI250X's ``gemm_library_vector_fraction``, the rate of the vector-unit kernels rocBLAS selects,
      as a fraction of the vector peak; before, the matrix kernels' ``gemm_library_fraction`` was assumed): the rows
      of the ``bmm`` m sweep in its timing fit half (:func:`timing_fit_half`) with m <= 256 (where rocBLAS's gfx90a
      table selects its 4 x 16 vector kernel, solution 242, for every batch) and at least 1 GFLOP per call (0.3-2.4
      ms, where the host round trip of ~30 us is below 10 %), measured below the device's vector peak (the one that
      is not, m = 256 at b = 32 at 62 TFLOP/s, cannot have run on the vector units: rocBLAS ran another kernel
      there); 5 rows, every other row held out of it.
    """
    if params.get("batch", 1) >= 2 and batched_fit_partner(sweep, params) is not None:
        return "batched"
    if sweep == "v100_mm_ksweep_high":
        return "gemm16"
    if sweep == "mi250x_mm_ksweep_high" and params["n"] % 128 == 0:
        return "library16"
    if sweep == "mi250x_bmm_msweep" and params["m"] <= 256:
        row = _timing_fit_shapes().get((sweep, params["m"], params["n"], params["k"], params["batch"]))
        flops = 2.0 * params["m"] * params["n"] * params["k"] * params["batch"]
        if row is not None and flops >= 1e9 and float(row["value"]) < _vector_peak_tflops(row["device"]):
            return "vector16"
    if sweep in ("a100_mm_ksweep_low", "v100_mm_ksweep_low") and params["n"] >= 130 and params["n"] % 4 == 2:
        return "unaligned"
    if sweep == "v100_mm_ksweep_low" and params["n"] <= 128 and params["n"] % 4 == 0:
        return "stream"
    if sweep == "a100_vocab_out_sweep" and params["n"] % 2 == 1:
        return "odd"
    return None


def _vector_peak_tflops(device: str) -> float:
    """The vector peak the engine prices a library's vector kernels at (fp32's: no device gives a vector fp16)."""
    peak = get(device).get("compute.vector_fp32_tflops")
    return float(peak) if peak is not None else float("inf")


#: The sweeps ``batched_gemm_fraction`` is fitted on (:func:`cookbook_fit_key`): V100 only. On A100 the same
#: ratio is 0.96-1.01 at 2048-4096 (b <= 16) and falls only for 8192^2 outputs and 4096^2 at b >= 32 (0.79-0.87):
#: a shape-dependent kernel choice, not one rate, so A100 keeps no figure.
_BATCHED_FIT_SWEEPS = ("v100_bmm_bsweep", "v100_bmm_msweep")


@functools.lru_cache(maxsize=1)
def _timing_fit_shapes() -> dict[tuple[str, int, int, int, int], dict[str, Any]]:
    """(sweep, m, n, k, batch) -> row, for the rows in the timing fit half of their sweep."""
    out: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for r in sweep_rows().iter_rows(named=True):
        i = seen.get(r["sweep"], 0)
        seen[r["sweep"]] = i + 1
        p = json.loads(r["params"])
        if timing_fit_half(i):
            out[(r["sweep"], p["m"], p["n"], p["k"], p["batch"])] = r
    return out


def batched_fit_partner(sweep: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The b = 1 row of the same shape in the same log for a row that fits V100's ``batched_gemm_fraction``
    (:func:`cookbook_fit_key`), or None for any other row: the row itself must be in its sweep's timing fit half
    with b >= 2 and m >= 2048, its b = 1 partner too.

    Examples
    --------
    >>> from perfmodel.validation import sizing
    >>> sizing.batched_fit_partner("v100_bmm_bsweep", {"m": 4096, "n": 4096, "k": 4096, "batch": 8})["value"]
    84.18
    >>> sizing.batched_fit_partner("v100_bmm_bsweep", {"m": 8192, "n": 8192, "k": 8192, "batch": 8}) is None
    True
    """
    if sweep not in _BATCHED_FIT_SWEEPS or params.get("batch", 1) < 2 or params["m"] < 2048:
        return None
    fit = _timing_fit_shapes()
    if (sweep, params["m"], params["n"], params["k"], params["batch"]) not in fit:
        return None
    return fit.get((sweep, params["m"], params["n"], params["k"], 1))


def predict_cookbook(row: dict[str, Any], device: Spec | None = None) -> float:
    """The model's TFLOP/s for one cookbook row (``roofline.gemm`` on the row's device, or on ``device``)."""
    p = json.loads(row["params"])
    dev = device or get(row["device"])
    return float(roofline.gemm(dev, p["m"], p["n"], p["k"], dtype=p["dtype"], batch=p["batch"])["tflops"][0])


def timing_fit_half(index: int) -> bool:
    """Whether the row at ``index`` (0-based, in log order within its sweep) is in the timing fit half of its
    sweep (:func:`timing_figures`): every other row, starting with the first."""
    return index % 2 == 0


def _timing_method(sweep: str) -> str:
    """``slowest`` (``bmm_flops.py``: the slowest of 199 synchronised calls) or ``mean`` (``mm_flops.py``'s mm and
    linear: the mean of 100 synchronised calls)."""
    return "slowest" if "_bmm_" in sweep else "mean"


#: Grids of the timing figures: host time per call 0..100 us in 0.25 us steps; slowest-call ratio 1..1.5.
_HOST_GRID_S = [i * 0.25e-6 for i in range(401)]
_SLOWEST_GRID = [1.0 + i * 0.005 for i in range(101)]
#: The sweeps each timing figure is fitted on (their fit half): the m sweep is the one whose calls run from ~25 us
#: to ms, so the per-call host time is identified there (the k sweeps' 0.4-2 ms calls would instead fit the rate);
#: the slowest-call figures on both bmm sweeps.
_TIMING_FIT_SWEEPS = {"mean": ("mm_m_sweep",), "slowest": ("bmm_msweep", "bmm_bsweep")}


def _engine_times(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int, float, float]]:
    """(row, index in its sweep, engine kernel time s, measured time per call s) of every cookbook row."""
    out: list[tuple[dict[str, Any], int, float, float]] = []
    seen: dict[str, int] = {}
    for r in rows:
        p = json.loads(r["params"])
        flops = 2.0 * p["m"] * p["n"] * p["k"] * p["batch"]
        i = seen.get(r["sweep"], 0)
        seen[r["sweep"]] = i + 1
        out.append((r, i, flops / (predict_cookbook(r) * 1e12), flops / (r["value"] * 1e12)))
    return out


def timing_figures() -> dict[tuple[str, str], dict[str, Any]]:
    """Per cookbook GPU log set and timing method (``mean`` or ``slowest``), the figures that turn the engine's
    kernel time into what the cookbook timed: ``host_s`` (host round trip per synchronised call, s) and
    ``slowest_ratio`` (the slowest call over the typical kernel time; 1 for ``mean``), each fitted by grid search
    minimising the median |relative time error| on the timing fit half (:func:`timing_fit_half`) of the sweeps in
    ``_TIMING_FIT_SWEEPS``, with ``fitted_on`` naming them and ``rows`` counting them. Nothing of the engine or
    hwdb is fitted here.

    Examples
    --------
    >>> from perfmodel.validation import sizing
    >>> f = sizing.timing_figures()[("a100", "mean")]
    >>> f["slowest_ratio"], f["rows"], 0.0 <= f["host_s"] <= 1e-4
    (1.0, 5, True)
    """
    data = _engine_times(list(sweep_rows().iter_rows(named=True)))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for gpu in _GPU_NAMES:
        for method, sweeps in _TIMING_FIT_SWEEPS.items():
            names = {f"{gpu}_{sw}" for sw in sweeps}
            fit = [(t, m) for r, i, t, m in data if r["sweep"] in names and timing_fit_half(i)]
            ratios = _SLOWEST_GRID if method == "slowest" else [1.0]
            best = min(
                (
                    sorted(abs((t * q + h) / m - 1.0) for t, m in fit)[len(fit) // 2],
                    h,
                    q,
                )
                for h in _HOST_GRID_S
                for q in ratios
            )
            out[(gpu, method)] = dict(
                host_s=best[1], slowest_ratio=best[2], rows=len(fit), median_abs_error=best[0],
                fitted_on=f"every other row (from the first) of cookbook_{' and cookbook_'.join(sorted(names))} "
                f"(perfmodel/data/gemm_sweeps.csv); the other rows held out",
            )  # fmt: skip
    return out


def _cookbook_rows() -> list[dict[str, Any]]:
    figures = timing_figures()
    rows = []
    for r, i, t_kernel, _ in _engine_times(list(sweep_rows().iter_rows(named=True))):
        method = _timing_method(r["sweep"])
        f = figures[(r["sweep"].split("_")[0], method)]
        p = json.loads(r["params"])
        t = t_kernel * f["slowest_ratio"] + f["host_s"]
        names = {f"{r['sweep'].split('_')[0]}_{sw}" for sw in _TIMING_FIT_SWEEPS[method]}
        fit = cookbook_fit_key(r["sweep"], p) is not None or (r["sweep"] in names and timing_fit_half(i))
        rows.append(dict(
            suite="sizing", group=f"cookbook_{r['sweep']}", system=r["device"], operation=r["operation"],
            params=r["params"], metric=r["metric"], unit=r["unit"], measured=r["value"],
            predicted=2.0 * p["m"] * p["n"] * p["k"] * p["batch"] / t / 1e12, role="fit" if fit else "holdout",
            source=r["source"],
        ))  # fmt: skip
    return rows


def tensile_rows() -> pl.DataFrame:
    """The benchmarked sizes of rocBLAS logic files the library ships (``perfmodel/data/tensile_sweeps.csv``,
    ``tools/import_tensile_sweeps.py``; ``params`` is JSON)."""
    path = Path(__file__).resolve().parent.parent / "data" / "tensile_sweeps.csv"
    return pl.read_csv(path, infer_schema=False).with_columns(pl.col("value").cast(pl.Float64))


def tensile_fit_half(index: int) -> bool:
    """Whether the size at ``index`` (0-based, in the logic file's order within its sweep) is in the fit half of the
    measurement-setup figures (:func:`tensile_figures`): every other size, starting with the first."""
    return index % 2 == 0


#: Grids of the Tensile measurement-setup figures: the tuning clock 800..2,100 MHz in 5 MHz steps (2,100 is MI300X's
#: boost clock, the upper bound) and the time per timed enqueue beyond the engine's kernel time, 0..60 us in 0.25 us
#: steps.
_TENSILE_CLOCK_GRID_MHZ = [800.0 + 5.0 * i for i in range(261)]
_TENSILE_CALL_GRID_S = [0.25e-6 * i for i in range(241)]


def _tensile_engine(sweep_rows: pl.DataFrame) -> list[tuple[dict[str, Any], float, float, float, float]]:
    """(row, FLOPs, engine kernel time s, device peak TFLOP/s at its boost clock, boost clock MHz) per row."""
    out = []
    for r in sweep_rows.iter_rows(named=True):
        dev = get(r["device"])
        p = json.loads(r["params"])
        peak, boost = dev.peak_tflops(p["dtype"]), dev.get("compute.boost_clock_mhz")
        if peak is None or boost is None:
            raise ValueError(
                f"{r['device']}: no {p['dtype']} peak or boost clock to price a tuning efficiency"
            )
        flops = 2.0 * p["m"] * p["n"] * p["k"] * p["batch"]
        out.append((r, flops, flops / (predict_cookbook(r, dev) * 1e12), float(peak), float(boost)))
    return out


def _tensile_efficiency(
    flops: float, t_kernel: float, peak: float, boost: float, clock: float, call: float
) -> float:
    """The efficiency the tuning flow would write for a kernel of ``t_kernel`` s: 100 x FLOP/s over the peak at the
    tuning clock, the timed interval being the kernel plus ``call`` s."""
    return 100.0 * flops / (t_kernel + call) / (peak * 1e12 * clock / boost)


@functools.lru_cache(maxsize=1)
def tensile_figures() -> dict[str, dict[str, Any]]:
    """Per ``tensile_*`` sweep, the two figures of its *measurement setup* (not of the device) that turn the
    engine's kernel time into the efficiency the tuning flow wrote: ``clock_mhz``, the tuning clock sclk that
    ROCm/Tensile ``tuning/automation/ConvertToEfficiency.py`` @ a164ed70d divides by (a command-line argument the
    logic file does not state), and ``call_s``, the time per timed enqueue beyond the engine's kernel time. Tensile's
    tuning configuration (``tuning/configuration/boiler/header.yml`` and ``tuning/automation/TuningConfiguration.py``
    @ a164ed70d: ``KernelTime: True``, ``EnqueuesPerSync: 1``, ``SyncsPerBenchmark: 1``, ``NumWarmups`` left at
    ``Tensile/Common.py``'s 0, ``FlushCount`` 1) times one enqueue per size and kernel, cold, between two
    ``hipEventRecord`` calls on the stream around ``hipExtModuleLaunchKernel`` (``Tensile/Source/lib/source/hip/
    HipSolutionAdapter.cpp``, ``client/source/BenchmarkTimer.cpp`` at the same commit): the interval holds the
    dispatch of the kernel and of the stop marker, not only the kernel. Both are fitted together by grid search
    (:data:`_TENSILE_CLOCK_GRID_MHZ`, :data:`_TENSILE_CALL_GRID_S`) minimising the median |relative error| of the
    efficiency on the fit half (:func:`tensile_fit_half`: every other size in the file's order); ``fitted_on`` names
    them, ``rows`` counts them, ``median_abs_error`` is the fit's. The other half is held out. Nothing of the engine
    or hwdb is fitted here.

    Examples
    --------
    >>> from perfmodel.validation import sizing
    >>> f = sizing.tensile_figures()["tensile_mi300x_rocblas_fp16"]
    >>> f["rows"], 800 <= f["clock_mhz"] <= 2100, 0.0 <= f["call_s"] <= 60e-6
    (91, True, True)
    """
    clocks = np.array(_TENSILE_CLOCK_GRID_MHZ)
    calls = np.array(_TENSILE_CALL_GRID_S)
    out: dict[str, dict[str, Any]] = {}
    for (sweep,), group in tensile_rows().group_by("sweep", maintain_order=True):
        data = [d for i, d in enumerate(_tensile_engine(group)) if tensile_fit_half(i)]
        flops = np.array([d[1] for d in data])
        t = np.array([d[2] for d in data])
        peak = np.array([d[3] for d in data])
        boost = np.array([d[4] for d in data])
        measured = np.array([float(d[0]["value"]) for d in data])
        # efficiency[clock, call, row]
        eff = 100.0 * flops / (t + calls[None, :, None]) / (peak * 1e12 * clocks[:, None, None] / boost)
        med = np.sort(np.abs(eff / measured - 1.0), axis=2)[:, :, len(data) // 2]
        i, j = np.unravel_index(int(np.argmin(med)), med.shape)
        out[str(sweep)] = dict(
            clock_mhz=float(clocks[i]), call_s=float(calls[j]), rows=len(data), median_abs_error=float(med[i, j]),
            fitted_on=f"every other size (from the first, in the logic file's order) of {sweep} "
            "(perfmodel/data/tensile_sweeps.csv); the other sizes held out",
        )  # fmt: skip
    return out


def _tensile_rows(clock_mhz: float | None = None, call_s: float | None = None) -> list[dict[str, Any]]:
    """Rows of the ``tensile_*`` sweeps: the efficiency the tuning flow would write for the engine's kernel time
    (``roofline.gemm``), i.e. 100 x FLOPs / (kernel time + ``call_s``) over the device's peak at ``clock_mhz`` (the
    unit of the files' figures: ROCm/Tensile ``tuning/automation/ConvertToEfficiency.py`` divides GFLOP/s by sclk x
    FLOP/cycle/CU x CUs at the clock the tuning ran at, which the files do not state). Either left None takes the
    sweep's fitted figure (:func:`tensile_figures`); with both fitted, the fit half's rows are ``fit`` and the others
    ``holdout``, otherwise every row is ``holdout``."""
    figures = tensile_figures()
    out = []
    for (sweep,), group in tensile_rows().group_by("sweep", maintain_order=True):
        f = figures[str(sweep)]
        clock = float(clock_mhz) if clock_mhz is not None else f["clock_mhz"]
        call = float(call_s) if call_s is not None else f["call_s"]
        fitted = clock_mhz is None and call_s is None
        for i, (r, flops, t, peak, boost) in enumerate(_tensile_engine(group)):
            out.append(dict(
                suite="sizing", group=r["sweep"], system=r["device"], operation=r["operation"],
                params=r["params"], metric=r["metric"], unit=r["unit"], measured=r["value"],
                predicted=_tensile_efficiency(flops, t, peak, boost, clock, call),
                role="fit" if fitted and tensile_fit_half(i) else "holdout", source=r["source"],
            ))  # fmt: skip
    return out


def run() -> pl.DataFrame:
    """One row per measured GEMM of a sweep: measured and predicted TFLOP/s, grouped by sweep."""
    rows = []
    for r in measured.measurements().iter_rows(named=True):
        sweep = _measured_sweep(r)
        if sweep is None:
            continue
        pred = measured.predict(r)
        if pred is None:
            continue
        rows.append(dict(
            suite="sizing", group=sweep, system=r["device"], operation=r["operation"], params=r["params"],
            metric=r["metric"], unit=r["unit"], measured=r["value"], predicted=pred, role=measured.role(r),
            source=r["source"],
        ))  # fmt: skip
    for c in roofline_suite.cases():
        sweep = _published_sweep(c)
        if sweep is None:
            continue
        rows.append(dict(
            suite="sizing", group=sweep, system=f"{c.system} [{c.device}]", operation=c.operation, params=c.params,
            metric=c.metric, unit=c.unit, measured=c.measured, predicted=roofline_suite.predict(c),
            role=roofline_suite.role(c), source=c.source,
        ))  # fmt: skip
    rows.extend(_cookbook_rows())
    rows.extend(_headdim_sweep_rows())
    rows.extend(_tensile_rows())
    return frame(rows)


def sweep_summary(rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per sweep: rows, Spearman rank correlation of predicted vs measured throughput (ties averaged), median
    and max |error|, the roles present, the same Spearman and median over the sweep's ``holdout`` rows alone,
    whether each target is met on the whole sweep (Spearman >= 0.8, median <= 10%), and the measurement's own
    repeatability next to the model's Spearman (:func:`noise_ceiling`; null for published sweeps)."""
    df = run() if rows is None else rows
    out = (
        df.group_by("group")
        .agg(
            rows=pl.len(),
            spearman=pl.corr("predicted", "measured", method="spearman"),
            median_abs_error=pl.col("error").abs().median(),
            max_abs_error=pl.col("error").abs().max(),
            roles=pl.col("role").unique().sort().str.join("+"),
            holdout_rows=(pl.col("role") == "holdout").sum(),
            holdout_spearman=pl.corr(
                pl.col("predicted").filter(pl.col("role") == "holdout"),
                pl.col("measured").filter(pl.col("role") == "holdout"),
                method="spearman",
            ),
            holdout_median_abs_error=pl.col("error").abs().filter(pl.col("role") == "holdout").median(),
        )
        .with_columns(
            pl.col("holdout_spearman").fill_nan(None),
            spearman_met=pl.col("spearman") >= TARGET_SPEARMAN,
            median_met=pl.col("median_abs_error") <= TARGET_MEDIAN_ERROR,
        )
        .join(noise_ceiling(df), on="group", how="left")
        .sort("group")
    )
    return out


def measured_runs() -> pl.DataFrame:
    """The per-run throughputs behind the GEMM rows of ``measured_gpu.csv`` (``perfmodel/data/measured_gpu_runs.csv``,
    written by ``tools/export_gemm_runs.py`` from ``validation/gpu_runs/``): device, group, operation, metric, run
    (1, 2, ...) and value."""
    path = Path(__file__).resolve().parent.parent / "data" / "measured_gpu_runs.csv"
    return pl.read_csv(path)


def noise_ceiling(rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per sweep of this project's own measurements: how well two independent measurements of the sweep agree on
    its ordering. Each run of ``tools/measure_gpu.py`` / ``measure_fp8.py`` timed every shape once (the rows keep
    the median over the runs); for every pair of runs, the Spearman rank correlation of one run's throughputs
    against the other's over the sweep's shapes (:func:`measured_runs`). ``noise_ceiling_spearman`` is the mean
    over the pairs, ``noise_ceiling_min`` the lowest; ``noise_runs`` the runs (H100: 4, H200: 2). The runs were
    taken on one GPU on one day, so this is the repeatability of the measurement, an upper bound for what a model
    of the median can reach (another GPU of the same kind agrees less: :func:`device_agreement`). Sweeps of
    published rows (one number per shape) have no ceiling here."""
    df = run() if rows is None else rows
    runs = measured_runs().filter(pl.col("metric") == "tflops")
    mine = df.filter(
        pl.col("group").str.starts_with("h100_") | pl.col("group").str.starts_with("h200_")
    ).select("group", device="system", operation="operation")
    joined = mine.join(runs.select("device", "operation", "run", "value"), on=["device", "operation"])
    out = []
    for (group,), g in joined.group_by("group", maintain_order=True):
        wide = g.pivot(on="run", index="operation", values="value", sort_columns=True)
        cols = [c for c in wide.columns if c != "operation"]
        rhos = [
            wide.select(pl.corr(a, b, method="spearman")).item()
            for i, a in enumerate(cols)
            for b in cols[i + 1 :]
        ]
        out.append(
            {
                "group": group,
                "noise_runs": len(cols),
                "noise_ceiling_spearman": sum(rhos) / len(rhos) if rhos else None,
                "noise_ceiling_min": min(rhos) if rhos else None,
            }
        )
    schema = {
        "group": pl.String,
        "noise_runs": pl.Int64,
        "noise_ceiling_spearman": pl.Float64,
        "noise_ceiling_min": pl.Float64,
    }
    return pl.DataFrame(out, schema=schema).sort("group")


def device_agreement(rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Spearman rank correlation of the H100 measurements against the H200 measurements of the same shapes, per
    sweep kind: H200 has H100's GH100 die and clocks (hwdb), so this is how well two measurements of the same
    ordering agree, a ceiling for any model's rank correlation on these sweeps."""
    df = run() if rows is None else rows
    mine = df.filter(
        pl.col("group").str.starts_with("h100_") | pl.col("group").str.starts_with("h200_")
    ).with_columns(kind=pl.col("group").str.slice(5), gpu=pl.col("group").str.slice(0, 4))
    h100 = mine.filter(pl.col("gpu") == "h100").select("kind", "operation", h100="measured")
    h200 = mine.filter(pl.col("gpu") == "h200").select("kind", "operation", h200="measured")
    both = h100.join(h200, on=["kind", "operation"])
    return (
        both.group_by("kind")
        .agg(rows=pl.len(), spearman_h100_vs_h200=pl.corr("h100", "h200", method="spearman"))
        .sort("kind")
    )


def method_agreement(rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per cookbook GPU: Spearman rank correlation and median |difference| of the ``mm`` m sweep (mean of 100
    synchronised calls) against the ``bmm`` m sweep at b = 1 (slowest of 200), the same nine shapes measured
    twice on one GPU: how well two measurements of that ordering agree."""
    df = run() if rows is None else rows
    cb = df.filter(pl.col("group").str.starts_with("cookbook_")).with_columns(
        gpu=pl.col("group").str.split("_").list.get(1),
        shape=pl.col("params").str.json_path_match("$.m")
        + "x"
        + pl.col("params").str.json_path_match("$.n")
        + "x"
        + pl.col("params").str.json_path_match("$.k"),
        batch=pl.col("params").str.json_path_match("$.batch"),
    )
    mm = cb.filter(pl.col("group").str.ends_with("_mm_m_sweep")).select("gpu", "shape", mm="measured")
    bmm = cb.filter(pl.col("group").str.ends_with("_bmm_msweep") & (pl.col("batch") == "1")).select(
        "gpu", "shape", bmm="measured"
    )
    return (
        mm.join(bmm, on=["gpu", "shape"])
        .group_by("gpu")
        .agg(
            rows=pl.len(),
            spearman_mm_vs_bmm=pl.corr("mm", "bmm", method="spearman"),
            median_abs_difference=((pl.col("bmm") - pl.col("mm")) / pl.col("mm")).abs().median(),
        )
        .sort("gpu")
    )


def bmm_sweep_agreement(rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per cookbook GPU: the shapes both ``bmm`` sweeps timed (4096 x 4096 x 4096 at every batch, the b sweep's
    4096^3 and the m sweep's m = 4096, each the slowest of 199 calls in its own run): rows, Spearman rank
    correlation of one sweep's measurements against the other's, and their median and max |difference|. How well
    two runs of the same ordering agree, a ceiling for any model's rank correlation among shapes that close.

    Examples
    --------
    >>> from perfmodel.validation import sizing
    >>> a = {r["gpu"]: r for r in sizing.bmm_sweep_agreement().iter_rows(named=True)}
    >>> a["a100"]["rows"], round(a["a100"]["max_abs_difference"], 3)
    (7, 0.03)
    """
    df = run() if rows is None else rows
    cb = df.filter(
        pl.col("group").str.starts_with("cookbook_") & pl.col("group").str.contains("_bmm_")
    ).with_columns(
        gpu=pl.col("group").str.split("_").list.get(1),
        sweep=pl.col("group").str.split("_").list.get(3),
        m=pl.col("params").str.json_path_match("$.m").cast(pl.Int64),
        n=pl.col("params").str.json_path_match("$.n").cast(pl.Int64),
        k=pl.col("params").str.json_path_match("$.k").cast(pl.Int64),
        batch=pl.col("params").str.json_path_match("$.batch").cast(pl.Int64),
    )
    key = ["gpu", "m", "n", "k", "batch"]
    b = cb.filter(pl.col("sweep") == "bsweep").select(*key, bsweep="measured")
    m = cb.filter(pl.col("sweep") == "msweep").select(*key, msweep="measured")
    diff = ((pl.col("msweep") - pl.col("bsweep")) / pl.col("bsweep")).abs()
    return (
        b.join(m, on=key)
        .group_by("gpu")
        .agg(
            rows=pl.len(),
            spearman_bsweep_vs_msweep=pl.corr("bsweep", "msweep", method="spearman"),
            median_abs_difference=diff.median(),
            max_abs_difference=diff.max(),
        )
        .sort("gpu")
    )


def misranked(rows: pl.DataFrame | None = None, top: int = 3) -> pl.DataFrame:
    """Per sweep whose Spearman is below the target, the ``top`` shapes the model ranks furthest from where they
    measure: rank (1 = fastest, ties averaged) by measured and by predicted throughput, and both throughputs."""
    df = run() if rows is None else rows
    low = sweep_summary(df).filter(pl.col("spearman") < TARGET_SPEARMAN)["group"]
    return (
        df.filter(pl.col("group").is_in(low.implode()))
        .with_columns(
            measured_rank=pl.col("measured").rank("average", descending=True).over("group"),
            predicted_rank=pl.col("predicted").rank("average", descending=True).over("group"),
        )
        .with_columns(displacement=(pl.col("predicted_rank") - pl.col("measured_rank")).abs())
        .sort(["group", "displacement"], descending=[False, True])
        .group_by("group", maintain_order=True)
        .head(top)
        .select("group", "operation", "measured", "predicted", "measured_rank", "predicted_rank")
    )


def summary_extra(rows: pl.DataFrame) -> dict[str, Any]:
    """What ``perfmodel validate sizing --write`` adds to the summary: per-sweep Spearman and targets, the
    H100-vs-H200 agreement of the measurements themselves, the cookbook's two timings of the same shapes, its two
    ``bmm`` runs of the same shapes, the fitted measurement-setup figures of the Tensile sweeps
    (:func:`tensile_figures`), and the shapes ranked furthest from their measured place in each sweep below the
    Spearman target."""
    return {
        "sweeps": sweep_summary(rows).to_dicts(),
        "h100_vs_h200_measured": device_agreement(rows).to_dicts(),
        "cookbook_mm_vs_bmm_measured": method_agreement(rows).to_dicts(),
        "cookbook_bsweep_vs_msweep_measured": bmm_sweep_agreement(rows).to_dicts(),
        "tensile_measurement_setup": tensile_figures(),
        "most_misranked": misranked(rows).to_dicts(),
    }
