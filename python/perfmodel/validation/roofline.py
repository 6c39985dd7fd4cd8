"""Roofline validation: published GEMM, attention and HBM-bandwidth measurements vs the model.

Rows come from ``perfmodel/data/published_measurements.csv`` (categories ``compute_gemm`` and ``memory_bw``).
Each row is predicted with the device's one efficiency model from hwdb; ``role`` says whether the row was
used to fit that device's fractions (``fit``, see ``tools/calibrate.py --roofline``) or not (``holdout``).
Rows are skipped, with the reason in :func:`skipped`, when the device is not in hwdb (B200, GH200, A100
PCIe, MI355X), when the row is a secondary quote without a shape, or when it is a vendor spec, not a
measurement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import roofline
from ..hwdb import Spec, get
from . import frame, published

__all__ = ["Case", "cases", "skipped", "predict", "run", "FIT_DEVICES"]

#: Published system names -> hwdb device id.
SYSTEM_TO_DEVICE = {
    "Azure ND H100 v5 (H100 SXM 80GB)": "h100-sxm5-80gb",
    "Azure ND H100 v5": "h100-sxm5-80gb",
    "NVIDIA H100 SXM": "h100-sxm5-80gb",
    "NVIDIA H100": "h100-sxm5-80gb",
    "Azure ND A100 v4 (A100 SXM4 80GB)": "a100-sxm4-80gb",
    "Azure ND A100 v4": "a100-sxm4-80gb",
    "NVIDIA A100 SXM": "a100-sxm4-80gb",
    "NVIDIA H200 SXM": "h200-sxm-141gb",
    "AMD MI300X": "mi300x",
    "AMD Instinct MI300X": "mi300x",
    "AMD MI325X": "mi325x",
    "AMD Instinct MI325X": "mi325x",
}

#: Devices whose fractions are fitted on their own rows; others inherit (see each hwdb ``fitted_on``).
#: H200 inherits H100's fractions (same GH100 die and clocks), so its rows are genuine holdouts.
FIT_DEVICES = ("a100-sxm4-80gb", "h100-sxm5-80gb", "mi300x", "mi325x")

# BabelStream kernels: (arrays read, arrays written) per element (BabelStream's own byte accounting).
_STREAM_KERNELS = {"copy": (1, 1), "mul": (1, 1), "add": (2, 1), "triad": (2, 1), "dot": (2, 0)}
_BABELSTREAM_ARRAY_BYTES = 2**25 * 8  # BabelStream default: 2^25 float64 elements per array


@dataclass
class Case:
    """One published row as the model sees it."""

    group: str  # gemm, attention, hbm
    device: str
    dtype: str
    args: dict[str, Any]
    measured: float
    metric: str
    unit: str
    system: str
    operation: str
    params: str
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def dtype_class(self) -> str:
        return {"fp8": "8bit", "int8": "8bit", "bf16": "16bit", "fp16": "16bit"}.get(self.dtype, "32bit")


_SKIPPED: list[tuple[str, str, str]] = []


def _dtype(text: str) -> str:
    t = text.lower()
    if "fp8" in t or "e4m3" in t or "f8" in t:
        return "fp8"
    if "bf16" in t:
        return "bf16"
    if "fp16" in t:
        return "fp16"
    return t


def _shape(params: dict[str, Any]) -> tuple[int, int, int] | None:
    if all(k in params for k in ("m", "n", "k")):
        return int(params["m"]), int(params["n"]), int(params["k"])
    for key in ("MxNxK", "best_shape_MxNxK"):
        if key in params:
            m, n, k = (int(x) for x in str(params[key]).split("x"))
            return m, n, k
    return None


def cases() -> list[Case]:
    """The published rows this suite predicts (skipped rows are listed by :func:`skipped`)."""
    _SKIPPED.clear()
    out: list[Case] = []
    df = published().filter(published()["category"].is_in(["compute_gemm", "memory_bw"]))
    for row in df.iter_rows(named=True):
        params = json.loads(row["params"]) if row["params"] else {}
        system = row["system"].strip()
        device = SYSTEM_TO_DEVICE.get(system)
        common = dict(
            measured=float(row["value"]),
            metric=row["metric"],
            unit=row["unit"],
            system=system,
            operation=row["operation"],
            params=row["params"],
            source=row["source"],
        )
        if device is None:
            _SKIPPED.append((system, row["operation"], "device not in hwdb"))
            continue
        quality = params.get("quality", "")
        # A vendor spec is not a measurement; a secondary GEMM quote has no shape to predict. Secondary HBM
        # saturation quotes are kept (a bandwidth needs no shape), marked in ``notes``.
        if quality == "vendor_spec" or (quality == "secondary" and row["category"] != "memory_bw"):
            _SKIPPED.append((system, row["operation"], f"{quality} quote, not a reproducible measurement"))
            continue
        op = row["operation"]
        if row["category"] == "memory_bw":
            kernel = op.split()[-1].lower() if "STREAM" in op else "copy"
            reads, writes = _STREAM_KERNELS.get(kernel, (1, 1))
            case = Case("hbm", device, "fp64", {"kernel": kernel, "reads": reads, "writes": writes}, **common)
            if "STREAM" not in op:
                case.notes.append("kernel not stated; modelled as a copy (1 read + 1 write per element)")
            if quality == "secondary":
                case.notes.append("secondary quote of a published figure")
            out.append(case)
        elif op.startswith("attention"):
            if "Flash" not in op:
                _SKIPPED.append((system, op, "unfused PyTorch attention is not a flash-style kernel"))
                continue
            hd = int(params["head_dim"])
            out.append(
                Case(
                    "attention",
                    device,
                    "bf16",
                    {
                        "batch": int(params["batch"]),
                        "seq_len": int(params["seq_len"]),
                        "head_dim": hd,
                        "heads": 2048 // hd,
                    },
                    **common,
                )
            )
        else:
            dtype = _dtype(str(params.get("dtype", "")))
            shape = _shape(params)
            args: dict[str, Any] = {"shape": shape}
            if "MAMF" in op and shape is not None:
                # The measurement is the best of a brute-force shape sweep, so the comparable prediction is the
                # model's best over the same sweep, not the model at the shape where the measurement peaked.
                hi = max(_MAMF_SWEEP.get(device, 5376), *(256 * -(-d // 256) for d in shape))
                args["sweep_max"] = hi
                case_notes = [f"best of the model over M, N, K in 256..{hi} step 256 (the MAMF sweep)"]
            else:
                case_notes = []
            out.append(Case("gemm", device, dtype, args, notes=case_notes, **common))
    return out


def skipped() -> list[tuple[str, str, str]]:
    """(system, operation, reason) of published rows the suite does not predict."""
    if not _SKIPPED:
        cases()
    return list(_SKIPPED)


#: Upper end of the MAMF finder's documented sweep per device (stas00/ml-engineering,
#: compute/accelerator/benchmarks README, architecture notes: A100 and MI300X ``--m_range 0 5376 256`` on
#: M, N and K; H100 ``0 20480 256``); H200 as H100, MI325X as MI300X. A row whose published best shape lies
#: beyond it was evidently swept further, so the sweep is extended to cover that shape.
_MAMF_SWEEP = {
    "a100-sxm4-80gb": 5376,
    "mi300x": 5376,
    "mi325x": 5376,
    "h100-sxm5-80gb": 20480,
    "h200-sxm-141gb": 20480,
}

# Grid over which "maximum achievable" rows without a shape take the model's best result.
_MAX_GRID = np.array([4096, 6144, 8192, 12288, 16384, 24576, 32768], dtype=float)


def _layout(case: Case) -> str:
    """cuBLASLt benchmarks (Azure AI-benchmarking-guide) call the column-major TN GEMM, whose leading
    dimensions are k and m; the PyTorch rows (MAMF) are row-major (k and n)."""
    return "tn" if "cuBLASLt" in case.operation else "row"


def predict(case: Case, device: Spec | None = None) -> float:
    """The model's value for one case, in the case's unit (TFLOP/s or TB/s)."""
    dev = device or get(case.device)
    if case.group == "gemm":
        if case.args["shape"] is None:
            m, n, k = np.meshgrid(_MAX_GRID, _MAX_GRID, _MAX_GRID, indexing="ij")
            return float(
                roofline.gemm(dev, m.ravel(), n.ravel(), k.ravel(), dtype=case.dtype)["tflops"]
                .to_numpy()
                .max()
            )
        if "sweep_max" in case.args:
            g = np.arange(256, case.args["sweep_max"] + 1, 256, dtype=float)
            m, n, k = (x.ravel() for x in np.meshgrid(g, g, g, indexing="ij"))
            return float(roofline.gemm(dev, m, n, k, dtype=case.dtype)["tflops"].to_numpy().max())
        m, n, k = case.args["shape"]
        flops = 2.0 * m * n * k
        return flops / roofline.gemm_time(dev, m, n, k, dtype=case.dtype, layout=_layout(case)) / 1e12
    if case.group == "attention":
        a = case.args
        # Forward + backward, non-causal (the FlashAttention-2 benchmark's reported pass).
        fwd = roofline.attention(dev, a["batch"], a["heads"], a["seq_len"], a["head_dim"], causal=False)
        bwd = roofline.attention(
            dev, a["batch"], a["heads"], a["seq_len"], a["head_dim"], causal=False, backward=True
        )
        return float((fwd["flops"][0] + bwd["flops"][0]) / (fwd["time_s"][0] + bwd["time_s"][0]) / 1e12)
    a = case.args
    df = roofline.memory_bound(
        dev, a["reads"] * _BABELSTREAM_ARRAY_BYTES, a["writes"] * _BABELSTREAM_ARRAY_BYTES, dtype="fp64"
    )
    return float(df["gbps"][0]) / 1000.0


def role(case: Case) -> str:
    return "fit" if case.device in FIT_DEVICES else "holdout"


def run() -> Any:
    rows = []
    for c in cases():
        rows.append(
            dict(
                suite="roofline",
                group=c.group,
                system=f"{c.system} [{c.device}]",
                operation=c.operation,
                params=c.params,
                metric=c.metric,
                unit=c.unit,
                measured=c.measured,
                predicted=predict(c),
                role=role(c),
                source=c.source,
            )
        )
    return frame(rows)
