"""Validation against this project's own GPU measurements (``perfmodel/data/measured_gpu.csv``).

The rows were measured with ``tools/measure_gpu.py`` on a device lent to a development session and imported
with ``tools/import_gpu_measurements.py``; each row's ``source`` names the GPU, date, driver, software versions
and method, and ``params`` the number of runs and their spread. H100 rows that its fractions were fitted on are
``fit`` rows (:func:`fit_key`: attention, cuDNN attention, unaligned GEMMs, and aligned 16-bit and 8-bit GEMMs
of every dimension >= 2048, next to the published rows), and so are H200's fused FP8 cast rows at GPT-3 175B
shapes (its ``fp8_cast_fraction``; the Llama-2-70B shapes are held out); every other row, H200's included, is a
``holdout`` of the device's fitted fractions (hwdb ``fitted_on``).

Predictions use the same conventions as the measurement:
- GEMM: TFLOP/s = 2 m n k batch / time;
- stream and row-wise kernels: TB/s = (bytes read + bytes written) / time, with the bytes the script counts;
- attention (PyTorch SDPA, FlashAttention-2 or cuDNN backend): the FlashAttention-2 paper's FLOP count, forward
  4 b h s^2 d (half with a causal mask), backward 2.5x the forward, divided by the model's time;
- launch: the GPU time per back-to-back call of a one-element kernel and of a 64^3 GEMM, in microseconds;
- the fixed cost per kernel is the one of the measurement's timing mode (:func:`replay_spec`): the rows were
  timed as CUDA-graph replays of back-to-back calls on the same buffers, so an aligned GEMM whose operands and
  output fit in the device's L2 (50 MiB on H100 and H200) finds them there on every replay and pays the device's
  measured graph floor (its one-element kernel under graph replay, 0.99 us on H100, 0.84 us on H200) in place of
  the engine's per-kernel launch figure (4 us, which training and serving keep); a larger GEMM pays the engine's
  figure, which stands for a cold kernel's fixed cost: under graph replay its first wave's operand tiles come
  from HBM and its last wave's output tiles go back to it, for a full wave of 128 x 256 bf16 tiles on H100
  (132 x (384 x 128 + 128 x 256 x 2) bytes at the stream rate) about 4.7 us. Unaligned GEMMs, which run other
  kernels, keep the engine's figure. The graph ``launch`` rows (an empty kernel and a 64^3 GEMM) are priced at
  the graph floor, so the 64^3 GEMM checks the engine's per-wave tile overhead; the other graph-timed groups
  (streams of 1 GiB, row-wise kernels, the fused FP8 casts) and the eagerly timed attention backward keep the
  engine's figure;
- training step (``tools/measure_train_step.py``, a plain-PyTorch GPT on one GPU): step time and peak memory
  against ``perfmodel.llm.estimate`` on one node of the device's system with tp = pp = dp = 1, no
  recomputation, flash attention and no LLM calibration (the uncalibrated roofline: the systems' calibrations
  describe Megatron/NeMo software at scale, fitted on other rows, not this plain-PyTorch single-GPU loop).
- FP8 (``tools/measure_fp8.py``, H200): fp8 and bf16 GEMMs at GPT-3 175B / Llama-2-70B TP shapes against the
  roofline GEMM; the fused (torch.compile) cast+amax and cast+transpose+amax passes against the FP8 cast pass
  the training model prices for Transformer Engine's casts (``memory_bound(..., dtype="fp8")``: the stream at
  the device's ``fp8_cast_fraction``).
PyTorch's eager dispatch time per call is a host-side cost the model does not describe; it and the unfused FP8
kernels are listed by :func:`skipped`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import polars as pl

from .. import llm, roofline
from ..hwdb import Spec, get
from . import frame
from .roofline import FIT_DEVICES

__all__ = [
    "GRAPH_FLOOR_OPERATION",
    "GRAPH_REPLAY_GROUPS",
    "fit_key",
    "gemm_footprint_bytes",
    "graph_launch_us",
    "group",
    "measurements",
    "predict",
    "replay_spec",
    "role",
    "run",
    "skipped",
]


def measurements() -> pl.DataFrame:
    """The measured rows the library ships (``params`` is a JSON string)."""
    path = Path(__file__).resolve().parent.parent / "data" / "measured_gpu.csv"
    return pl.read_csv(path, infer_schema=False).with_columns(pl.col("value").cast(pl.Float64))


#: The row whose value is a device's kernel-to-kernel floor under CUDA-graph replay (``tools/measure_gpu.py
#: launch``: ``x.add_(1.0)`` on one element, captured ``inner`` times into a graph and replayed back to back).
GRAPH_FLOOR_OPERATION = "add_ one element (graph)"


@functools.cache
def graph_launch_us(device: str) -> float | None:
    """The device's measured fixed cost per kernel under CUDA-graph replay, us: the median of its
    :data:`GRAPH_FLOOR_OPERATION` rows (an empty kernel replayed back to back: the launch and kernel-to-kernel gap
    alone), or None where the device has no such row.

    Examples
    --------
    >>> from perfmodel.validation import measured
    >>> measured.graph_launch_us("h100-sxm5-80gb"), measured.graph_launch_us("h200-sxm-141gb")
    (0.9947, 0.8391)
    >>> measured.graph_launch_us("a100-sxm4-80gb") is None
    True
    """
    df = measurements().filter(
        (pl.col("device") == device)
        & (pl.col("group") == "launch")
        & (pl.col("operation") == GRAPH_FLOOR_OPERATION)
    )
    return float(df["value"].median()) if df.height else None  # type: ignore[arg-type]


#: Groups of GEMM rows timed by CUDA-graph replay of back-to-back calls on the same buffers (:func:`replay_spec`).
GRAPH_REPLAY_GROUPS = ("gemm", "gemm_layout", "fp8_gemm")

#: Bytes per element of the dtypes the GEMM rows use (an fp8 GEMM writes a 16-bit output, as the engine prices it).
_DTYPE_BYTES = {"fp8": 1, "int8": 1, "bf16": 2, "fp16": 2, "tf32": 4, "fp32": 4, "fp64": 8}


def gemm_footprint_bytes(params: dict[str, Any]) -> float:
    """Bytes of a measured GEMM's operands and output (A m x k, B k x n, C m x n, times the batch), as the rows'
    ``params`` give them; an fp8 GEMM's output is 16-bit.

    Examples
    --------
    >>> from perfmodel.validation import measured
    >>> measured.gemm_footprint_bytes({"m": 2048, "n": 2048, "k": 2048, "dtype": "bf16"}) / 2**20
    24.0
    """
    b = _DTYPE_BYTES[params["dtype"]]
    m, n, k = params["m"], params["n"], params["k"]
    out = 2 if b == 1 else b
    return float(params.get("batch", 1) * ((m * k + k * n) * b + m * n * out))


def replay_spec(row: dict[str, Any], device: Spec) -> Spec:
    """``device`` as the row's timing saw it: a graph ``launch`` row, or an aligned GEMM row
    (:data:`GRAPH_REPLAY_GROUPS`, not :func:`group` ``gemm_unaligned``) whose operands and output fit in the device's
    L2 (:func:`gemm_footprint_bytes` <= ``memory.l2_capacity_mib``), pays the device's measured graph floor
    (:func:`graph_launch_us`) as its per-kernel launch figure, on top of any overrides ``device`` carries. Any other
    row, or a device without a floor row, gets ``device`` unchanged; the engine's own launch figure
    (``launch_overhead_us``, what training and serving pay per kernel) is not changed.

    Unaligned GEMMs keep the engine's figure: they run the pre-Hopper kernels (no TMA: roofline.rs ``k_iters``),
    for which no graph-replay fixed cost was measured (the 64^3 GEMM row is aligned), and the unaligned fraction
    was fitted on its two H100 rows with the 4 us figure. At the floor, H200's 1024 x 2145 x 1024 (held out) went
    +12.2 -> +18.0 %; refitting the fraction under it (0.2186 -> 0.2133) leaves the two H100 rows at -2.7 / +2.8 %
    (were 0.3 %) and H200's at +15 %.

    Examples
    --------
    >>> from perfmodel.hwdb import get
    >>> from perfmodel.validation import measured
    >>> h100 = get("h100-sxm5-80gb")
    >>> shape = '{"m": 2048, "n": 2048, "k": 2048, "dtype": "bf16"}'
    >>> row = {"device": "h100-sxm5-80gb", "group": "gemm", "params": shape}
    >>> measured.replay_spec(row, h100).overrides
    {'efficiency.launch_overhead_us': 0.9947}
    >>> big = {**row, "params": '{"m": 3072, "n": 3072, "k": 3072, "dtype": "bf16"}'}
    >>> measured.replay_spec(big, h100).overrides
    {}
    """
    p = json.loads(row["params"])
    if row["group"] == "launch":
        graph = p.get("mode") == "graph"
    elif row["group"] in GRAPH_REPLAY_GROUPS and not group(row).endswith("/gemm_unaligned"):
        l2 = device["memory.l2_capacity_mib"]
        graph = l2 is not None and gemm_footprint_bytes(p) <= float(l2) * 2**20
    else:
        graph = False
    us = graph_launch_us(row["device"]) if graph else None
    return device if us is None else device.with_overrides({"efficiency.launch_overhead_us": us})


def _attention_flops(p: dict[str, Any]) -> float:
    return 4.0 * p["batch"] * p["heads"] * p["seq"] ** 2 * p["head_dim"] / (2.0 if p["causal"] else 1.0)


def predict(row: dict[str, Any], device: Spec | None = None) -> float | None:
    """The model's value for one measured row, in the row's unit (on ``device`` when given, e.g. a spec with
    overridden fractions); None where the model has no counterpart."""
    dev = replay_spec(row, device or get(row["device"]))
    p = json.loads(row["params"])
    group = row["group"]
    if group in ("gemm", "gemm_layout"):
        df = roofline.gemm(dev, p["m"], p["n"], p["k"], dtype=p["dtype"], batch=p.get("batch", 1))
        return float(df["tflops"][0])
    if group == "stream":
        b = p["array_bytes"]
        return (
            float(roofline.memory_bound(dev, p["reads"] * b, p["writes"] * b, dtype="fp32")["gbps"][0])
            / 1000.0
        )
    if group == "rowwise":
        return float(roofline.memory_bound(dev, p["read_bytes"], p["write_bytes"])["gbps"][0]) / 1000.0
    if group.startswith("attention"):
        args = (dev, p["batch"], p["heads"], p["seq"], p["head_dim"])
        kernel = "cudnn" if p.get("backend") == "cudnn" else "flash"
        fwd = float(roofline.attention(*args, causal=p["causal"], kernel=kernel)["time_s"][0])
        ff = _attention_flops(p)
        if row["metric"] == "fwd_tflops":
            return ff / fwd / 1e12
        bwd = float(roofline.attention(*args, causal=p["causal"], backward=True, kernel=kernel)["time_s"][0])
        return 3.5 * ff / (fwd + bwd) / 1e12
    if group == "train_step":
        e = _train_step(row["device"], p)
        return e.step_time_s * 1e3 if row["metric"] == "step_time_ms" else e.memory_per_gpu_bytes / 1e9
    if group == "fp8_gemm":
        df = roofline.gemm(dev, p["m"], p["n"], p["k"], dtype=p["dtype"])
        return float(df["tflops"][0])
    if group == "fp8_fused":
        # One fused pass (cast, amax, and for cast+transpose a second fp8 copy): the FP8 cast pass the training
        # model prices for Transformer Engine's cast_transpose (llm/step.rs fp8_cast_times, at the device's
        # fp8_cast_fraction of the stream rate).
        return (
            float(roofline.memory_bound(dev, p["read_bytes"], p["write_bytes"], dtype="fp8")["gbps"][0])
            / 1000.0
        )
    if group == "launch" and p.get("mode") == "graph":
        if p["op"].startswith("matmul"):
            return roofline.gemm_time(dev, 64, 64, 64, dtype="bf16") * 1e6
        return float(roofline.memory_bound(dev, 4.0, 4.0, dtype="fp32")["time_s"][0]) * 1e6
    return None


#: The model whose shapes' fused FP8 cast rows the FP8 cast fraction is fitted on (the others are held out).
CAST_FIT_MODEL = "gpt3-175b"


#: The training-step rows are priced without an LLM calibration: plain PyTorch on one GPU, not the software the
#: systems' calibrations were fitted on (dgx-h100: NeMo MLPerf runs), its host time per eager kernel included.
UNCALIBRATED = {
    "compute_time_scale": 1.0,
    "memory_time_scale": 1.0,
    "comm_bandwidth_scale": 1.0,
    "kernel_launch_us": 0.0,
}

#: One-node hwdb system of each measured device, for the training-step rows.
SYSTEM_OF = {"h100-sxm5-80gb": "dgx-h100", "h200-sxm-141gb": "hgx-h200"}


def _train_step(device: str, p: dict[str, Any]) -> Any:
    """The library's estimate of one single-GPU step as tools/measure_train_step.py runs it: no parallelism,
    one micro-batch per step, no recomputation, flash attention, the vocabulary unpadded (plain PyTorch's
    ``nn.Linear`` over the tokenizer's size); uncalibrated (:data:`UNCALIBRATED`)."""
    m = llm.model(
        {
            "hidden": p["hidden"],
            "heads": p["heads"],
            "layers": p["layers"],
            "seq_len": p["seq"],
            "vocab": p["vocab"],
        }
    )
    return llm.estimate(
        m, (SYSTEM_OF[device], 1), tp=1, pp=1, dp=1, micro_batch=p["batch"], global_batch=p["batch"],
        recompute="none", flash_attention=True, calib=UNCALIBRATED, vocab_multiple=1,
    )  # fmt: skip


#: Why measured groups have no prediction.
_SKIP_REASONS = {
    "fp8_cast": "eager cast as separate PyTorch kernels; the model prices the fused cast (fp8_fused rows)",
    "fp8_amax": "eager amax as a separate kernel; the model prices the fused cast with its amax (fp8_fused rows)",
    "fp8_transpose": "eager fp8 transpose; the model prices the fused cast+transpose (fp8_fused rows)",
    "fp8_scale_update": "amax-history update: a few small kernels per step, not priced (llm/step.rs fp8_cast_times)",
    "fp8_linear": "a whole linear layer with unfused casts, reported as context for the FP8 overhead (NOTES)",
}


def skipped() -> list[tuple[str, str]]:
    """(operation, reason) of measured rows without a prediction."""
    default = "PyTorch eager dispatch per call: host-side framework cost, not a kernel the model describes"
    return [
        (r["operation"], _SKIP_REASONS.get(r["group"], default))
        for r in measurements().iter_rows(named=True)
        if predict(r) is None
    ]


def fit_key(row: dict[str, Any]) -> str | None:
    """The fraction tools/calibrate.py --roofline fits on this row (its ``KEYS``), or None: FlashAttention-2 and
    cuDNN rows fit the two attention fractions (the engine's attention work-model constants were fitted on the
    H100 FlashAttention-2 rows), unaligned GEMMs the unaligned fraction, and aligned single GEMMs with every
    dimension >= 2048 the 16-bit or 8-bit GEMM fraction (smaller ones are set by the fixed per-kernel cost, which
    depends on how kernels are issued; see NOTES). The fused FP8 cast(+transpose)+amax passes at GPT-3 175B
    shapes fit the device's FP8 cast fraction (:data:`CAST_FIT_MODEL`); those at Llama-2-70B shapes are held out."""
    g = group(row).split("/")[1]
    if g == "fp8_fused":
        uses = json.loads(row["params"]).get("uses", [])
        return "fp8_cast" if uses and all(u.startswith(CAST_FIT_MODEL) for u in uses) else None
    if g in ("attention_flash", "attention_cudnn"):
        return "attention" if g == "attention_flash" else "attention_cudnn"
    if g == "gemm_unaligned":
        return "unaligned"
    if g == "gemm":
        p = json.loads(row["params"])
        if p.get("batch", 1) == 1 and min(p["m"], p["n"], p["k"]) >= 2048:
            return {"bf16": "gemm16", "fp16": "gemm16", "fp8": "gemm8"}.get(p["dtype"])
    return None


def role(row: dict[str, Any]) -> str:
    """``fit`` for the rows a device's fractions are fitted on (:func:`fit_key`) where the device is fitted on its
    own rows (``FIT_DEVICES``; for the FP8 cast fraction, the measured device itself) and for a device's graph
    floor row (the launch figure of the graph ``launch`` rows, :func:`graph_launch_us`), ``holdout`` for every
    other (the 64^3 GEMM under graph replay among them)."""
    if row["group"] == "launch" and row["operation"] == GRAPH_FLOOR_OPERATION:
        return "fit"
    key = fit_key(row)
    return "fit" if key == "fp8_cast" or (key is not None and row["device"] in FIT_DEVICES) else "holdout"


def group(row: dict[str, Any]) -> str:
    """The row's group, prefixed with its device; GEMMs whose row-major operands have a leading dimension (k for
    A, n for B and C) that is not a multiple of 8 elements form their own group: cuBLAS cannot use its aligned
    (TMA) kernels for them, which the model does not describe."""
    g = row["group"]
    if g == "gemm":
        p = json.loads(row["params"])
        if p["n"] % 8 or p["k"] % 8:
            g = "gemm_unaligned"
    return f"{row['device']}/{g}"


def run() -> pl.DataFrame:
    rows = []
    for r in measurements().iter_rows(named=True):
        pred = predict(r)
        if pred is None:
            continue
        rows.append(dict(
            suite="measured", group=group(r), system=r["device"], operation=r["operation"], params=r["params"],
            metric=r["metric"], unit=r["unit"], measured=r["value"], predicted=pred, role=role(r), source=r["source"],
        ))  # fmt: skip
    return frame(rows)
