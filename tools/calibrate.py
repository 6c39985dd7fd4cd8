"""The one calibration tool: fits every fitted figure perfmodel keeps in hwdb, on scipy.optimize, and writes
them back into the repository's hwdb TOML files with tomlkit (comments and layout kept).

What it fits (issue 12 item 3; DESIGN.md "every fitted figure lives in hwdb with what it was fitted on"):

- ``--roofline``: per device in ``FIT_DEVICES`` and per figure (16-bit and 8-bit GEMM, HBM stream, FlashAttention-2,
  cuDNN attention, unaligned GEMM fractions) one value minimising (max + median) absolute relative error over that
  device's published rows of that kind, this project's own measurements of it (``perfmodel.validation.measured
  .fit_key``) and the EleutherAI cookbook sweep rows named by ``perfmodel.validation.sizing.cookbook_fit_key``
  (``SWEEP_DEVICES``: A100's unaligned-GEMM and odd-size GEMM fractions; V100's 16-bit GEMM, unaligned, strided-
  batched and GEMM-stream (``gemm_stream_fraction``: the HBM rate its GEMM kernels stream operands at) fractions,
  its other figures inherited; MI250X's ``gemm_library_fraction``, the rate of the kernels rocBLAS
  selects, used only for the GEMMs priced through its ``[gemm_library]``). Each fraction is a bounded scalar problem: ``scipy.optimize.minimize_scalar(method="bounded")``
  from ``STARTS`` sub-intervals of the bounds (the score is piecewise smooth, so one bracket can hold a local
  minimum), best kept. Devices without rows inherit (``INHERIT``), said in their ``fitted_on``. Fractions fitted
  earlier in ``KEYS`` order apply to later ones (the 16-bit GEMM rate scales attention and unaligned GEMMs).
  What is shipped is what the tool reproduces on current main: the figures still as the retired
  ``tools/calibrate_roofline.py`` fitted them (``LEGACY_GRID_FIGURES``) are fitted on its 0.0025 grid, and a
  figure whose refit a session decided not to write is ``HELD`` (value, the refit that decision was measured
  against, and why: the shipped value is kept and written, the refit reported; later figures are fitted with the
  held value). The cuDNN attention fraction of a device that also gives ``attention_cudnn_softmax_fraction`` is
  fitted on that device without it (``fit_base``). ``--write`` sets the figures and, in their ``fitted_on``, only
  the parts it owns (each figure's ``<figure> on ...``, an ``INHERIT`` device's ``inherited from ...`` and the
  ``figure_notes``): notes appended by later sessions are kept in place, so ``--roofline --write`` on current main
  leaves every hwdb file byte-identical.
- ``--check``: the ``--roofline`` fits without the leave-one-group-out refits (about a minute); exits 1, naming each
  figure, when a fraction ``--roofline --write`` would write differs from this repository's hwdb file (to its 4
  decimals) or a ``HELD`` figure's refit is no longer what ``HELD`` records (its reason needs a fresh look). Run it
  after any change to the engine's GEMM or attention pricing or to the fit rows. ``tests/test_calibrate_tool.py``
  runs the same comparison for ``FIT_DEVICES``. ``--refit-held`` (report only) fits the ``HELD`` figures like
  the others.
- ``--roofline`` also fits the FP8 cast fraction (``fp8_cast_fraction``, the share of the HBM stream rate a
  fused cast(+transpose)+amax pass reaches) of ``CAST_DEVICES`` on their own ``fp8_fused`` rows with role ``fit``
  (GPT-3 175B shapes; the Llama-2-70B shapes are held out and reported); ``CAST_INHERIT`` devices take the value,
  said in their ``fitted_on`` (not through ``inherit_from``: H200 inherits H100's other figures).
- ``--shared``: the launch and tile overheads every device shares, a bounded 2-D problem
  (``scipy.optimize.differential_evolution``) whose score refits every device's GEMM fractions at each point
  and scores all GEMM rows. Slow (minutes per generation on 2 cores); rerun when GEMM rows are added.
- ``--llm``: each calibrated system's LLM step-model factors (``[calibration]`` of ``hwdb/systems/<id>.toml``):
  ``compute_time_scale`` (= ``memory_time_scale``, tied: see ``perfmodel.validation.llm``) and
  ``network_bandwidth_scale`` (``comm_bandwidth_scale`` fixed at 1: the engine as validated), least squares in log error over the rows with role ``fit``; a bounded 2-D problem
  (``scipy.optimize.minimize(method="Powell", bounds=...)``), see ``perfmodel.validation.llm.fit`` (dgx-a100)
  and ``perfmodel.validation.llm.fit_mlperf`` (dgx-h100, on NVIDIA's MLPerf GPT-3 175B submissions; hgx-h200
  takes it with ``same_as``).

- ``--mlperf5``: the compute factor of each system of the MLPerf Training v5.x validation (dgx-b200, gb200-nvl72,
  mi325x-node, mi355x-pollara-node) per MLPerf round, a calibration profile ``mlperf-v5.0`` / ``mlperf-v5.1``
  (``[[calibration.profiles]]``) fitted on that round's Llama 2 70B LoRA rows of ``perfmodel.validation.mlperf5.FIT``
  (bounded scalar least squares in log error, ``perfmodel.validation.mlperf5.fit``); the system's ``[calibration]``
  takes its latest round's value (network and link factors 1).

- ``--cudnn-softmax``: ``attention_cudnn_softmax_fraction`` (the cuDNN attention fraction priced with the scores'
  non-matrix work as its own resource, roofline.rs ``score_nonmatrix_s``) on the 48 own H100 cuDNN SDPA rows (the
  ``measured`` rows ``measured.fit_key`` gives ``attention_cudnn``), this tool's score; the H200 rows are reported
  as held out. ``--write`` sets it on H100 SXM5, H200 SXM and H800 (``CUDNN_SOFTMAX_DEVICES``). Not run by default.

- ``--collectives``: the collectives engine's fabric and NIC figures (``perfmodel.validation.collectives``):
  the A100 NVSwitch and MI300X xGMI fabrics on their sweeps' ``fit`` rows (sizes 4^k bytes) through
  ``perfmodel.nccl_tests.calibrate`` (scipy ``least_squares``, bounded, log space, 13 starts; bandwidth fraction,
  Simple per-step latency, launch cost, LL latency and bandwidth ratios), and Frontier (``fit_frontier``): the
  GCD-pair fraction on the 1 GiB kernel store, then the node fabric and Slingshot-11 jointly on the RCCL
  all-gather rows of 1, 2, 8 and 32 nodes (every row of 4, 16 and 64 nodes held out). Not run by default.

The fit report says for each problem whether the optimizer converged (``success``, ``message``, evaluations,
the score) and, per fit group, the leave-one-group-out error: the figure refitted without that group's rows,
then that group's rows predicted. Groups: for the roofline, the source family of the rows (e.g. ``GEMM
cuBLASLt``, ``matmul (torch) best shape - MAMF``, ``HBM STREAM``, or this project's own measurements); for the
LLM, the validation group (``megatron_table1``, ``megascale_megatron``). It goes to
``validation/calibration_report.json`` (kept in the repository) when writing.

Inherited figures that are not refitted here (the FlashAttention-2 schedule, ``hbm_write_penalty_ratio``,
``overlap_exponent``; see ``FIGURE_NOTES``) keep their values; the tool restates where each comes from in every
device's ``fitted_on``.

Run from the repository root after ``pip install .`` (``pip install .[calibrate]`` brings scipy and tomlkit):

    python tools/calibrate.py                        # roofline and LLM fits, report only
    python tools/calibrate.py --write                # ... and write hwdb/ and validation/calibration_report.json
    python tools/calibrate.py --report               # ... and write only the report (hwdb untouched)
    python tools/calibrate.py --llm --write          # one part (or --roofline)
    python tools/calibrate.py --check                # exit 1 unless --roofline reproduces what hwdb ships
    python tools/calibrate.py --shared [--write]     # the shared overheads, then rerun --roofline
    python tools/calibrate.py --fp8-cast [--write]   # only the FP8 cast fractions (the rest of hwdb untouched)
    python tools/calibrate.py --sweeps [--write]     # only the figures fitted on the cookbook sweeps
    python tools/calibrate.py --llm --llm-system dgx-h100 [--write]   # one system's LLM calibration
    python tools/calibrate.py --collectives [--write]  # fabric/NIC figures of the collectives engine
    python tools/calibrate.py --mlperf5 [--write]      # MLPerf v5.x profiles of B200/GB200/MI325X/MI355X
    python tools/calibrate.py --cudnn-softmax [--write]  # cuDNN attention fraction with the non-matrix resource

After ``--write``: ``pip install .`` again (hwdb is embedded in the wheel) and regenerate ``validation/``
(``perfmodel validate``). The tool only ever writes below this repository's ``hwdb/`` and ``validation/``,
never into an installed package.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import perfmodel as pm
import tomlkit
from perfmodel.fitting import Fit, fit_scalar
from perfmodel.validation import measured
from perfmodel.validation import sizing as vsizing
from perfmodel.validation.roofline import _MAX_GRID, FIT_DEVICES, Case, cases, predict
from scipy import optimize

ROOT = Path(__file__).resolve().parent.parent
HWDB = ROOT / "hwdb"
REPORT = ROOT / "validation" / "calibration_report.json"

KEYS = {
    "gemm16": "gemm_16bit_fraction",
    "gemm8": "gemm_8bit_fraction",
    "hbm": "hbm_fraction",
    "attention": "attention_fraction",
    "attention_cudnn": "attention_cudnn_fraction",
    "attention_cudnn_softmax": "attention_cudnn_softmax_fraction",
    "unaligned": "unaligned_gemm_fraction",
    "odd": "odd_gemm_fraction",
    "fp8_cast": "fp8_cast_fraction",
    "batched": "batched_gemm_fraction",
    "library16": "gemm_library_fraction",
    "vector16": "gemm_library_vector_fraction",
    "stream": "gemm_stream_fraction",
}
#: Bounds of each fraction (the unaligned-GEMM fraction lies far below the others: H100 about 0.2; the FP8 cast
#: pass on H200 about 0.45 of the stream rate; MI250X's rocBLAS vector kernels about 0.27 of the vector peak).
BOUNDS = {
    k: (
        (0.05, 1.0)
        if k in ("unaligned", "odd", "vector16")
        else (0.1, 1.0)
        if k in ("fp8_cast", "stream")
        else (0.3, 1.0)
    )
    for k in KEYS
}
#: Devices whose FP8 cast fraction is fitted on their own fused cast measurements (``measured.fit_key`` ==
#: "fp8_cast": the GPT-3 175B shapes; the Llama-2-70B shapes are held out), and devices that take another's.
CAST_DEVICES = ("h200-sxm-141gb",)
CAST_INHERIT = {
    "h100-sxm5-80gb": (
        "h200-sxm-141gb",
        "no H100 cast measurements; same GH100 die, SM count and clocks as H200, so "
        "the cast pass's share of the HBM stream rate is assumed equal (an assumption, not a fit)",
    ),
}
INHERIT = {
    "h200-sxm-141gb": (
        "h100-sxm5-80gb",
        "same GH100 die, SM count and clocks as H100 SXM5; HBM3e fraction assumed equal",
    ),
    "a100-sxm4-40gb": (
        "a100-sxm4-80gb",
        "same GA100 die and clocks as A100 SXM4 80GB; HBM2 fraction assumed equal",
    ),
    "v100-sxm2-32gb": (
        "a100-sxm4-80gb",
        "no published V100 HBM or attention row in the validation set; A100's fractions assumed (an assumption, "
        "not a fit; odd_gemm_fraction included: no odd V100 size was measured) but for the 16-bit GEMM, "
        "unaligned-GEMM, strided-batched GEMM and GEMM-stream fractions fitted on the cookbook sweeps "
        "(SWEEP_DEVICES)",
    ),
    "mi250x-gcd": (
        "mi300x",
        "no published MI250X GEMM/HBM row in the validation set; MI300X's fractions assumed (an assumption, not a "
        "fit) but for gemm_library_fraction (the fp16 GEMMs priced on rocBLAS's kernels, [gemm_library]) fitted on "
        "the cookbook sweeps (SWEEP_DEVICES)",
    ),
}
#: Devices with figures fitted on the EleutherAI cookbook sweeps (``perfmodel/data/gemm_sweeps.csv``, suite
#: ``sizing``; the rows ``perfmodel.validation.sizing.cookbook_fit_key`` names, the rest held out): the device whose
#: hwdb file takes the figure -> the device the rows ran on (the logs do not say which A100; priced as SXM4 40GB,
#: the same GA100 die and clocks). A device of ``INHERIT`` keeps its parent's other figures.
SWEEP_DEVICES = {
    "a100-sxm4-80gb": "a100-sxm4-40gb",
    "v100-sxm2-32gb": "v100-sxm2-32gb",
    "mi250x-gcd": "mi250x-gcd",
}
#: The grid the retired ``tools/calibrate_roofline.py`` (commits 66eb477 .. c4c6c95, removed in 3c03811) fitted
#: every fraction on: the grid point with the best score. Brent's method on the same score lands between its points.
LEGACY_GRID = np.round(np.arange(0.30, 1.0001, 0.0025), 4)
#: The shipped figures still as that tool fitted them: ``--roofline`` fits them on ``LEGACY_GRID`` (over the
#: figure's ``BOUNDS``), which reproduces each on the current engine and rows; Brent's method gives a100 16-bit
#: GEMM 0.8688 (shipped 0.87), a100 HBM 0.8704 (0.8725), h100 HBM 0.9678 (0.97: the stream-K refit kept it,
#: "a GEMM-independent rounding"), mi300x 8-bit GEMM 0.5803 (0.58) and HBM 0.9202 (0.92), mi325x 16-bit GEMM
#: 0.6060 (0.6075) and 8-bit GEMM 0.5834 (0.5825), each within 0.0022 of the grid point and its score (max +
#: median |error|) within 0.0032.
LEGACY_GRID_FIGURES = frozenset(
    {
        ("a100-sxm4-80gb", "gemm16"),
        ("a100-sxm4-80gb", "hbm"),
        ("h100-sxm5-80gb", "hbm"),
        ("mi300x", "gemm8"),
        ("mi300x", "hbm"),
        ("mi325x", "gemm16"),
        ("mi325x", "gemm8"),
    }
)


#: What writing the a100 attention and mi300x 16-bit GEMM refits together did (session 18: every suite regenerated,
#: no system refitted).
_REFITS_TRIED = (
    "Both refits written together (session 18, all 12 suites regenerated, no system refitted): held out worse in "
    "holmes (median 7.10 -> 7.19 %, A100), llm frontier_zeropp (12.89 -> 12.94 %, MI250X), mlperf5 MI300X LoRA "
    "(34.11 -> 34.15 %) and serving_new MI300X SGLang (TPOT 9.095 -> 9.097 %, throughput 15.223 -> 15.226 %); "
    "better in sizing's MI300X Tensile sweep (13.53 -> 13.50 %) and the roofline attention rows (fit, 6.59 -> "
    "6.17 %): not written"
)


@dataclass(frozen=True)
class Held:
    """A shipped fraction ``--roofline`` keeps rather than writes its refit: ``value`` (what hwdb holds), ``refit``
    (what the fit gives on the current engine and rows, its earlier figures at their shipped values: ``--check``
    fails when it moves, so the reason is looked at again) and ``why``."""

    value: float
    refit: float
    why: str


#: The decisions not to write a refit, in code (their prose is in the devices' ``fitted_on``). ``--roofline`` fits
#: these figures, reports the refit and keeps (and with ``--write`` writes) ``value``; later figures are fitted
#: with ``value`` applied. ``--refit-held`` fits them like any other figure instead (report only: see ``main``).
HELD = {
    ("h100-sxm5-80gb", "gemm16"): Held(
        0.7422,
        0.7249,
        "fitted (7e6c524, stream-K data-parallel rules) with every own GEMM row at the engine's 4 us launch; the "
        "own rows are now priced in their CUDA-graph timing mode (measured.replay_spec, 7a93060), under which the "
        "refit is not written: held-out rows of other suites get worse (hwdb fitted_on: H200 MAMF fp8 -5.8 -> "
        "-9.6 %, dgx-h100 LLM refit: Llama 2 LoRA held out 6.5 -> 7.8 %). At the 4 us launch the engine before the stream-K "
        "fixup pricing (4fe2385^1) gives 0.7422 again, the engine after it (5f39e22, and main) 0.7474: the fixup "
        "(8a1dfc5) came after the fit, the fewer-unit change (28f17b4) does not move it",
    ),
    ("h100-sxm5-80gb", "gemm8"): Held(
        0.6976,
        0.6688,
        "fitted with every own GEMM row at the engine's 4 us launch (the current engine still gives 0.6976 that "
        "way); the graph-timing refit is not written for the reasons of gemm_16bit_fraction (the 8-bit refit is "
        "driven by the torch.matmul(out=) 8192^3 fp8 row)",
    ),
    ("h100-sxm5-80gb", "attention"): Held(
        0.4649,
        0.465,
        "fitted (7e6c524) before attention ran each head dim as its kernel instantiates it (9341223, d = 128 kept "
        "exactly); the refit moves it by 0.0001 (score 0.16466 -> 0.16458), not worth moving every H100/H200 "
        "attention price and the systems fitted over them",
    ),
    ("h100-sxm5-80gb", "attention_cudnn"): Held(
        0.7392,
        0.739,
        "the cuDNN fraction without the non-matrix resource (what H20 and H200 NVL inherit; H100, H200 and H800 "
        "price cuDNN at attention_cudnn_softmax_fraction, --cudnn-softmax), fitted (7e6c524) before the head-dim "
        "model (9341223); the refit moves it by 0.0002 (score 0.29883 -> 0.29853)",
    ),
    ("a100-sxm4-80gb", "attention"): Held(
        0.78,
        0.7865,
        "fitted on LEGACY_GRID (bc20249) on its one row (the FlashAttention-2 paper's A100 row, head dim 64); "
        "attention running each head dim as its kernel instantiates it (9341223: d = 128 kept exactly, d = 64 "
        "re-priced) moved that row (0.78 now prices it 178.0 vs 179.5 TFLOP/s, -0.8 %; LEGACY_GRID gives 0.7875); a "
        "refit moves every A100, A100 40GB and V100 attention price and the systems fitted over them. "
        + _REFITS_TRIED,
    ),
    ("mi300x", "gemm16"): Held(
        0.5075,
        0.5079,
        "fitted on LEGACY_GRID (9bc4e14); its hipBLASLt fp16 row is now priced on rocBLAS's gfx942 kernel table "
        "(03e9088, hwdb [gemm_library]: that row 1.1 -> 0.8 %), so LEGACY_GRID now gives 0.51 and Brent 0.5079 "
        "(score 0.07565 -> 0.07415); a refit moves every MI300X and MI250X 16-bit GEMM price not on a kernel table "
        "and the systems fitted over them. " + _REFITS_TRIED,
    ),
}

#: (launch overhead us, tile overhead us) bounds of ``--shared``.
SHARED_BOUNDS = [(2.0, 6.0), (0.5, 1.5)]
SHARED_KEYS = ("launch_overhead_us", "tile_overhead_us")

#: What the figures this tool does not refit were fitted on, by the device that gives them in its file.
SCHEDULE_KEYS = (
    "attention_fwd_block_tiles_ratio",
    "attention_bwd_block_tiles_ratio",
    "attention_diagonal_tiles_ratio",
    "attention_bwd_rate_fraction",
    "attention_softmax_ratio",
)
FIGURE_NOTES = {
    "schedule": "FlashAttention-2 schedule (attention_fwd_block_tiles_ratio, attention_bwd_block_tiles_ratio, "
    "attention_diagonal_tiles_ratio, attention_bwd_rate_fraction) fitted on this project's 48 H100 FlashAttention-2 "
    "rows (validation/gpu_runs/h100-sxm5-2026-11-23; the H200 rows held out); attention_softmax_ratio (the forward's "
    "non-matrix work per score, in d = 128 matrix work; moves head dims other than 128 only) fitted on the same 48 "
    "rows with the schedule held (its d = 64 forward rows are the ones it moves); the FlashAttention-3 paper's H100 "
    "head-dim rows (perfmodel/data/attention_headdim.csv) held out",
    "hbm_write_penalty_ratio": "hbm_write_penalty_ratio fitted on BabelStream Copy vs Dot on A100 (0.17) and H100 (0.19), "
    "one value for both",
    "overlap_exponent": "overlap_exponent chosen once on the A100, H100 and MI300X GEMM rows, one value for all three",
    "gemm_library_feed": "gemm_library_feed_ratio and gemm_library_feed_exponent (the [gemm_library] matrix kernels' "
    "operand-feed penalty by macro tile) fitted on the library logic file's own benchmarked speeds "
    "(tools/import_tensile_logic.py --fit-feed; not on any validation row)",
}


# ---- hwdb files -------------------------------------------------------------------------------------------


def _device_path(dev: str) -> Path:
    return HWDB / "devices" / f"{dev}.toml"


def _read(path: Path) -> tomlkit.TOMLDocument:
    return tomlkit.parse(path.read_text(encoding="utf-8"))


def _write_doc(path: Path, doc: tomlkit.TOMLDocument) -> None:
    # Only this repository's hwdb/ and validation/: never an installed copy.
    assert path.resolve().is_relative_to(ROOT), path
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    print("wrote", path.relative_to(ROOT))


def figure_notes(dev: str) -> str:
    """Where the figures of ``dev`` that this tool does not refit come from: its own file, or the device its
    ``inherit_from`` names (followed until a file gives them)."""
    eff = _read(_device_path(dev))["efficiency"]
    parts = []
    groups = [
        ("schedule", SCHEDULE_KEYS),
        ("hbm_write_penalty_ratio", ("hbm_write_penalty_ratio",)),
        ("overlap_exponent", ("overlap_exponent",)),
    ]
    inherited: list[str] = []
    if "gemm_library_feed_ratio" in eff:
        parts.append(FIGURE_NOTES["gemm_library_feed"])
    for name, keys in groups:
        if all(k in eff for k in keys):
            parts.append(FIGURE_NOTES[name])
        else:
            inherited.append("the FlashAttention-2 schedule" if name == "schedule" else name)
    if inherited:
        parent = str(eff.get("inherit_from", "h100-sxm5-80gb"))  # hw::DEFAULT_INHERIT_FROM
        source = parent
        while True:  # the file that gives them
            peff = _read(_device_path(source))["efficiency"]
            if all(k in peff for k in SCHEDULE_KEYS) or "inherit_from" not in peff:
                break
            source = str(peff["inherit_from"])
        via = "" if source == parent else f"; {parent} takes what it lacks from {source}"
        parts.append(f"{', '.join(inherited)} inherited from {parent} (not measured on this device{via})")
    return " | ".join(parts)


#: The opening a device's first figure part may carry (``published_measurements.csv rows (tools/...): ``): kept.
_OPENING = re.compile(r"^(.+? rows \([^)]*\): )(?=\w+ on )")
#: A ``figure_notes`` part saying which figures a device inherits.
_INHERITED_NOTE = re.compile(r" inherited from \S+ \(not measured on this device")


def _owner(part: str) -> str | None:
    """The ``KEYS`` key whose ``fitted_on`` part ``part`` is (``<figure> on ...``; for the FP8 cast fraction also
    ``fp8_cast_fraction taken from ...``), else None."""
    body = _OPENING.sub("", part, count=1)
    for key, figure in KEYS.items():
        if body.startswith(f"{figure} on ") or (
            key == "fp8_cast" and body.startswith(f"{figure} taken from ")
        ):
            return key
    return None


def write_device(dev: str, values: dict[str, float], parts: dict[str, str], head: str | None = None) -> None:
    """Sets the fractions ``values`` of ``dev`` and the parts of its ``fitted_on`` this tool owns: each figure's
    part in ``parts`` (``<figure> on ...``, in place, the opening of the first part kept; a new figure's after the
    last figure part), ``head`` (an ``INHERIT`` device's ``inherited from <parent>: <why>``, first) and the
    ``figure_notes``. Every other part (notes a later session appended: a refit not written, another tool's
    figure) is kept, in its place; a figure of ``values`` without a part in ``parts`` keeps its part (``HELD``)."""
    path = _device_path(dev)
    doc = _read(path)
    eff = doc["efficiency"]
    for key, value in values.items():
        eff[KEYS[key]] = round(float(value), 4)
    notes = figure_notes(dev).split(" | ")
    old = [x for x in str(eff.get("fitted_on", "")).split(" | ") if x]
    out: list[str] = []
    placed = set()
    for x in old:
        key = _owner(x)
        if key is not None and key in parts:
            opening = _OPENING.match(x)
            out.append((opening.group(1) if opening else "") + parts[key])
            placed.add(key)
        elif head is not None and x.startswith("inherited from ") and "head" not in placed:
            out.append(head)
            placed.add("head")
        elif x in FIGURE_NOTES.values() or _INHERITED_NOTE.search(x):
            if "notes" not in placed:
                out.extend(notes)
                placed.add("notes")
        else:
            out.append(x)
    at = max((i + 1 for i, x in enumerate(out) if _owner(x) is not None), default=0)
    if head is not None and "head" not in placed:
        out.insert(0, head)
        at += 1
    new = [parts[k] for k in parts if k not in placed]
    out[at:at] = new
    if "notes" not in placed:
        out[at + len(new) : at + len(new)] = notes
    eff["fitted_on"] = " | ".join(x for x in out if x)
    _write_doc(path, doc)


def write_sweep_figures(dev: str, values: dict[str, float], text: str | None) -> None:
    """Sets only the figures of ``dev`` fitted on the cookbook sweeps (``--sweeps``), the rest of its file as it
    is: a fitted device's ``fitted_on`` gets ``text`` in place of its earlier parts for those figures; an
    ``INHERIT`` device's is rewritten as ``write_device`` would (``text`` None: the values are its parent's, which
    its ``inherited from`` already says)."""
    path = _device_path(dev)
    doc = _read(path)
    eff = doc["efficiency"]
    for key, value in values.items():
        eff[KEYS[key]] = round(float(value), 4)
    if text is not None:
        names = tuple(f"{KEYS[k]} on " for k in values)
        parts = [x for x in str(eff["fitted_on"]).split(" | ") if not x.startswith(names)]
        if dev in INHERIT:
            parent, why = INHERIT[dev]
            eff["fitted_on"] = f"inherited from {parent}: {why} | {text} | {figure_notes(dev)}"
        else:
            at = max((i for i, x in enumerate(parts) if "_fraction on " in x), default=-1) + 1
            eff["fitted_on"] = " | ".join([*parts[:at], *text.split(" | "), *parts[at:]])
    _write_doc(path, doc)


def calibrate_sweeps() -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, Any]]:
    """``--sweeps``: only the figures ``SWEEP_DEVICES`` fit on cookbook rows, every other figure as hwdb has it
    now: (values per device, the ``fitted_on`` part per device, report)."""
    values: dict[str, dict[str, float]] = {}
    texts: dict[str, str] = {}
    report: dict[str, Any] = {}
    for dev in SWEEP_DEVICES:
        values[dev], parts, report[dev] = {}, [], {}
        for key in KEYS:
            rows = sweep_rows(dev, key)
            if not rows:
                continue
            before = {f"efficiency.{KEYS[k]}": v for k, v in values[dev].items()}
            f = fit_fraction(dev, key, rows, before)
            values[dev][key] = f.value
            parts.append(
                f"{KEYS[key]} on {len(rows)} row(s): {len(rows)} rows of the EleutherAI cookbook "
                f"{_sweep_names(rows)} on {rows[0].device} (perfmodel/data/gemm_sweeps.csv, the "
                "rows perfmodel.validation.sizing.cookbook_fit_key names; the rest of the sweep held out)"
            )
            errs = _errors(dev, key, f.value, rows, before)
            report[dev][KEYS[key]] = {"figure": KEYS[key], **f.report(), "in_sample": _summary(errs)}
            print(
                f"{dev:16s} {KEYS[key]:26s} = {f.value:.4f}  rows={len(rows):3d}  "
                f"{'converged' if f.success else 'NOT converged'}  in-sample |err| median "
                f"{report[dev][KEYS[key]]['in_sample']['median_abs_error']:.3f} max "
                f"{report[dev][KEYS[key]]['in_sample']['max_abs_error']:.3f}",
                flush=True,
            )
        texts[dev] = " | ".join(parts)
    return values, texts, report


def write_power(dev: str, figures: dict[str, float], fitted_on: str) -> None:
    """Sets the fitted ``[power]`` figures of ``dev`` (``*_tdp_ratio``) and their ``fitted_on`` (``--power``);
    ``tdp_w``, ``idle_w`` and every other section are left as they are."""
    path = _device_path(dev)
    doc = _read(path)
    pw = doc["power"]
    for key, value in figures.items():
        pw[key] = round(float(value), 4)
    pw["fitted_on"] = fitted_on
    _write_doc(path, doc)


def write_fp8_cast(dev: str, value: float, text: str) -> None:
    """Sets only the FP8 cast fraction of ``dev`` and its part of ``fitted_on`` (``--fp8-cast``: the other
    fractions and their texts are left as they are)."""
    path = _device_path(dev)
    doc = _read(path)
    eff = doc["efficiency"]
    eff[KEYS["fp8_cast"]] = round(float(value), 4)
    parts = [x for x in str(eff["fitted_on"]).split(" | ") if "fp8_cast_fraction" not in x]
    eff["fitted_on"] = " | ".join([*parts, text])
    _write_doc(path, doc)


def write_system_calibration(
    system: str, values: dict[str, float], fitted_on: str, how: str = "--llm (perfmodel.validation.llm)"
) -> None:
    """Sets the ``[calibration]`` table of ``hwdb/systems/<system>.toml`` (created before ``[sources]``)."""
    path = HWDB / "systems" / f"{system}.toml"
    doc = _read(path)
    if "calibration" not in doc:
        table = tomlkit.table()
        sources = doc.pop("sources")
        doc.add("calibration", table)
        doc.add("sources", sources)
    cal = doc["calibration"]
    for k, v in values.items():
        cal[k] = round(float(v), 4)
    cal["fitted_on"] = fitted_on
    suite = how.split("validation.")[-1].rstrip(")")
    doc["sources"]["calibration"] = (
        f"Fitted by tools/calibrate.py {how} on the published rows named in "
        f"calibration.fitted_on (role `fit` in validation/{suite}.csv)"
    )
    _write_doc(path, doc)


# ---- roofline fractions -----------------------------------------------------------------------------------


def kind(c: Case) -> str:
    if c.group == "gemm":
        return "gemm8" if c.dtype_class == "8bit" else "gemm16"
    return c.group


def score(errors: Sequence[float]) -> float:
    a = [abs(e) for e in errors]
    return max(a) + statistics.median(a)


def own_rows(device: str, key: str) -> list[Case]:
    """This project's own measurements of ``device`` (suite ``measured``) that fit ``key``."""
    return [
        Case("attention" if key.startswith("attention") else "stream" if key == "fp8_cast" else "gemm", device,
             json.loads(r["params"]).get("dtype", "bf16"),
             {"measured_row": r},
             measured=r["value"], metric=r["metric"], unit=r["unit"], system=r["device"], operation=r["operation"],
             params=r["params"], source=r["source"])
        for r in measured.measurements().iter_rows(named=True)
        if r["device"] == device and measured.fit_key(r) == key
    ]  # fmt: skip


def sweep_rows(device: str, key: str) -> list[Case]:
    """The cookbook sweep rows that fit ``key`` of ``device`` (``SWEEP_DEVICES``; suite ``sizing``, role fit)."""
    ran_on = SWEEP_DEVICES.get(device)
    if ran_on is None:
        return []

    def args(r: dict[str, Any]) -> dict[str, Any]:
        # A batched row is priced against its b = 1 partner (sizing.batched_fit_partner).
        partner = (
            vsizing.batched_fit_partner(r["sweep"], json.loads(r["params"])) if key == "batched" else None
        )
        return {"sweep_row": r} if partner is None else {"sweep_row": r, "batch_one_row": partner}

    return [
        Case("gemm", ran_on, "fp16", args(r), measured=r["value"], metric=r["metric"], unit=r["unit"],
             system=r["device"], operation=r["operation"], params=r["params"], source=r["source"])
        for r in vsizing.sweep_rows().iter_rows(named=True)
        if r["device"] == ran_on and vsizing.cookbook_fit_key(r["sweep"], json.loads(r["params"])) == key
    ]  # fmt: skip


def _sweep_names(rows: list[Case]) -> str:
    """'sweep X' or 'sweeps X and Y' for the cookbook rows ``rows`` (a batched row: 'each priced against its
    b = 1 row of the same shape')."""
    names = sorted({c.args["sweep_row"]["sweep"] for c in rows})
    text = f"sweep {names[0]}" if len(names) == 1 else f"sweeps {' and '.join(names)}"
    if any("batch_one_row" in c.args for c in rows):
        text += " (b >= 2, each priced against the b = 1 row of the same shape in its log)"
    return text


def predict_any(c: Case, spec: Any) -> float:
    """``predict`` for published rows, ``measured.predict`` for this project's own, ``sizing.predict_cookbook``
    for the cookbook sweeps (on the device the row ran on, with the fitted device's overrides); a batched row
    with its b = 1 partner (``batch_one_row``) is priced relative to it: the model's batched-over-unbatched ratio
    of the same shape times the partner's measurement, so the cookbook's timing (slowest call, host time) and the
    unbatched rate cancel."""
    if "sweep_row" in c.args:
        dev = pm.hwdb.get(c.device).with_overrides(spec.overrides)
        pred = vsizing.predict_cookbook(c.args["sweep_row"], dev)
        one = c.args.get("batch_one_row")
        if one is not None:
            pred *= float(one["value"]) / vsizing.predict_cookbook(one, dev)
        return pred
    if "measured_row" in c.args:
        value = measured.predict(c.args["measured_row"], spec)
        assert value is not None
        return value
    return predict(c, spec)


def row_group(c: Case) -> str:
    """The source family of a row, the unit of leave-one-group-out."""
    if "measured_row" in c.args:
        return f"own measurements ({measured.group(c.args['measured_row'])})"
    if "sweep_row" in c.args:
        return f"EleutherAI cookbook sweep {c.args['sweep_row']['sweep']}"
    return c.operation.split(" (")[0] if c.operation.startswith("GEMM") else c.operation


def fit_fraction(
    device: str,
    key: str,
    rows: list[Case],
    shared: dict[str, float] | None = None,
    predictor: Callable[[Case, Any], float] = predict_any,
) -> Fit:
    """The fraction of ``key`` on ``device`` with the best score on ``rows``, under the ``shared`` overrides: Brent's
    method (``fit_scalar``), or the best point of ``LEGACY_GRID`` for ``LEGACY_GRID_FIGURES``."""
    base = fit_base(device, key)

    def objective(f: float) -> float:
        spec = base.with_overrides({**(shared or {}), f"efficiency.{KEYS[key]}": float(f)})
        return score([(predictor(c, spec) - c.measured) / c.measured for c in rows])

    if (device, key) in LEGACY_GRID_FIGURES:
        lo, hi = BOUNDS[key]
        grid = [float(g) for g in LEGACY_GRID if lo <= g <= hi]
        scores = [objective(g) for g in grid]
        i = int(np.argmin(scores))
        return Fit(value=grid[i], score=scores[i], success=True,
                   message=f"best of LEGACY_GRID ({len(grid)} points, step 0.0025)", evaluations=len(grid))  # fmt: skip
    return fit_scalar(objective, BOUNDS[key])


def fit_base(device: str, key: str) -> Any:
    """The spec ``key`` of ``device`` is fitted on: the device as hwdb has it, but for the cuDNN attention fraction of
    a device that also gives ``attention_cudnn_softmax_fraction`` (which replaces it wherever cuDNN is priced there,
    roofline.rs ``AttentionContext::with_kernel``): that device without it, so the fraction its inheritors without
    the softmax figure (H20, H200 NVL) price cuDNN at is what is fitted (else the score is flat in it)."""
    path = _device_path(device)
    softmax = KEYS["attention_cudnn_softmax"]
    if key == "attention_cudnn" and path.exists():
        doc = _read(path)
        if softmax in doc["efficiency"]:
            del doc["efficiency"][softmax]
            return pm.hwdb.parse(tomlkit.dumps(doc), file=str(path))
    return pm.hwdb.get(device)


def _errors(device: str, key: str, value: float, rows: list[Case], before: dict[str, float]) -> list[float]:
    spec = fit_base(device, key).with_overrides({**before, f"efficiency.{KEYS[key]}": value})
    return [(predict_any(c, spec) - c.measured) / c.measured for c in rows]


def _summary(errors: Sequence[float]) -> dict[str, Any]:
    a = [abs(e) for e in errors]
    return (
        {"rows": len(a), "median_abs_error": statistics.median(a), "max_abs_error": max(a)}
        if a
        else {"rows": 0}
    )


#: The devices that state the cuDNN softmax-resource fraction (``--cudnn-softmax``): the fit device first.
CUDNN_SOFTMAX_DEVICES = ("h100-sxm5-80gb", "h200-sxm-141gb", "h800-sxm5-80gb")
#: Brent starts of that fit (see ``calibrate_cudnn_softmax``).
CUDNN_SOFTMAX_STARTS = 56


def calibrate_cudnn_softmax() -> dict[str, Any]:
    """``attention_cudnn_softmax_fraction`` on the fit device's own cuDNN rows (the H200 rows held out)."""
    fit_dev, check_dev = CUDNN_SOFTMAX_DEVICES[0], "h200-sxm-141gb"
    rows = own_rows(fit_dev, "attention_cudnn")
    base = pm.hwdb.get(fit_dev)

    def objective(v: float) -> float:
        spec = base.with_overrides({f"efficiency.{KEYS['attention_cudnn_softmax']}": float(v)})
        return score([(predict_any(c, spec) - c.measured) / c.measured for c in rows])

    # The score (max + median over 48 rows) is flat and rugged near its minimum (0.865-0.91 within 0.007 of it):
    # CUDNN_SOFTMAX_STARTS sub-intervals, not fitting.STARTS, so Brent's method finds the lowest one (one fit,
    # ~1 s per start).
    f = fit_scalar(objective, BOUNDS["attention_cudnn_softmax"], starts=CUDNN_SOFTMAX_STARTS)
    held = own_rows(check_dev, "attention_cudnn")
    return {
        "figure": KEYS["attention_cudnn_softmax"],
        "device": fit_dev,
        **f.report(),
        "in_sample": _summary(_errors(fit_dev, "attention_cudnn_softmax", f.value, rows, {})),
        "held_out": {"device": check_dev,
                     **_summary(_errors(check_dev, "attention_cudnn_softmax", f.value, held, {}))},
    }  # fmt: skip


def write_cudnn_softmax(value: float) -> None:
    """Sets ``attention_cudnn_softmax_fraction`` on ``CUDNN_SOFTMAX_DEVICES`` (their ``fitted_on`` text as is)."""
    for dev in CUDNN_SOFTMAX_DEVICES:
        path = _device_path(dev)
        doc = _read(path)
        doc["efficiency"][KEYS["attention_cudnn_softmax"]] = round(float(value), 4)
        _write_doc(path, doc)


def calibrate_roofline(
    shared: dict[str, float] | None = None,
    refit_held: bool = False,
    logo: bool = True,
    devices: Sequence[str] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]], dict[str, Any]]:
    """Fits every device's fractions: (values per device, the ``fitted_on`` part of each fitted figure per device,
    report). A ``HELD`` figure keeps its shipped value (its refit reported as ``refit``; ``refit_held``: fitted like
    the others); ``logo`` False skips the leave-one-group-out refits (``--check``); ``devices``: only these (of
    ``FIT_DEVICES`` and ``SWEEP_DEVICES``, an ``INHERIT`` device after its parent)."""
    all_cases = cases()
    fitted: dict[str, dict[str, float]] = {}
    described: dict[str, dict[str, str]] = {}
    report: dict[str, Any] = {}
    # FIT_DEVICES, then the INHERIT devices with cookbook rows (their other figures: the parent's, fitted above).
    for dev in [*FIT_DEVICES, *(d for d in SWEEP_DEVICES if d not in FIT_DEVICES)]:
        if devices is not None and dev not in devices:
            continue
        fitted[dev], described[dev], report[dev] = {}, {}, {}
        parent = INHERIT[dev][0] if dev not in FIT_DEVICES else None
        inherited = {f"efficiency.{KEYS[k]}": v for k, v in fitted[parent].items()} if parent else {}
        for key in KEYS:
            rows = (
                [c for c in all_cases if c.device == dev and kind(c) == key]
                + own_rows(dev, key)
                + sweep_rows(dev, key)
            )
            if not rows:
                continue
            t0 = time.perf_counter()
            before = {
                **(shared or {}),
                **inherited,
                **{f"efficiency.{KEYS[k]}": v for k, v in fitted[dev].items()},
            }
            f = fit_fraction(dev, key, rows, before)
            held = None if refit_held else HELD.get((dev, key))
            value = f.value if held is None else held.value
            fitted[dev][key] = value
            own = [c for c in rows if "measured_row" in c.args]
            swept = [c for c in rows if "sweep_row" in c.args]
            names = "; ".join(
                [
                    f"{c.operation} {c.args.get('shape') or c.args.get('kernel') or ''} {c.dtype}".strip()
                    for c in rows
                    if c not in own and c not in swept
                ]
                + (
                    [
                        f"{len(own)} own measurements (perfmodel/data/measured_gpu.csv, group {measured.group(own[0].args['measured_row'])})"
                    ]
                    if own
                    else []
                )
                + (
                    [
                        f"{len(swept)} rows of the EleutherAI cookbook {_sweep_names(swept)} "
                        f"on {swept[0].device} (perfmodel/data/gemm_sweeps.csv, the rows "
                        "perfmodel.validation.sizing.cookbook_fit_key names; the rest of the sweep held out)"
                    ]
                    if swept
                    else []
                )
            )
            if held is None:  # a held figure's fitted_on part stays as it is
                described[dev][key] = f"{KEYS[key]} on {len(rows)} row(s): {names}"
            groups = sorted({row_group(c) for c in rows})
            out_of_group: dict[str, Any] = {}
            if len(groups) > 1 and logo:
                for g in groups:
                    rest = [c for c in rows if row_group(c) != g]
                    out = [c for c in rows if row_group(c) == g]
                    refit = fit_fraction(dev, key, rest, before)
                    out_of_group[g] = {
                        "refitted_value": refit.value,
                        "converged": refit.success,
                        **_summary(_errors(dev, key, refit.value, out, before)),
                    }
            entry = {
                "figure": KEYS[key],
                **f.report(),
                **({} if held is None else {"value": held.value, "refit": f.value, "held": held.why}),
                "in_sample": _summary(_errors(dev, key, value, rows, before)),
                "groups": groups,
                "leave_one_group_out": out_of_group
                or ("not run" if not logo else "one group only: no out-of-group check"),
                "seconds": time.perf_counter() - t0,
            }
            report[dev][KEYS[key]] = entry
            worst = max((v["max_abs_error"] for v in out_of_group.values() if v.get("rows")), default=None)
            print(
                f"{dev:16s} {KEYS[key]:26s} = {value:.4f}"
                + ("" if held is None else f" (HELD; refit {f.value:.4f})")
                + f"  rows={len(rows):3d} groups={len(groups)}  "
                f"{'converged' if f.success else 'NOT converged'} ({f.evaluations} evals)  in-sample |err| median "
                f"{entry['in_sample']['median_abs_error']:.3f} max {entry['in_sample']['max_abs_error']:.3f}  "
                + (
                    f"leave-one-group-out max {worst:.3f}"
                    if worst is not None
                    else "leave-one-group-out not run"
                    if not logo
                    else "one group: no out-of-group check"
                ),
                flush=True,
            )
    return fitted, described, report


def calibrate_fp8_cast() -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """Fits the FP8 cast fraction of each of ``CAST_DEVICES`` on its own fused cast(+transpose)+amax rows with
    role ``fit``; reports the held-out rows (role ``holdout``) at the fitted value. Returns (value, fitted_on text,
    report) per device."""
    values: dict[str, float] = {}
    texts: dict[str, str] = {}
    report: dict[str, Any] = {}
    for dev in CAST_DEVICES:
        t0 = time.perf_counter()
        rows = own_rows(dev, "fp8_cast")
        held = [
            Case("stream", dev, "bf16", {"measured_row": r}, measured=r["value"], metric=r["metric"], unit=r["unit"],
                 system=r["device"], operation=r["operation"], params=r["params"], source=r["source"])
            for r in measured.measurements().iter_rows(named=True)
            if r["device"] == dev and r["group"] == "fp8_fused" and measured.fit_key(r) is None
        ]  # fmt: skip
        f = fit_fraction(dev, "fp8_cast", rows)
        values[dev] = f.value
        texts[dev] = (
            f"fp8_cast_fraction on {len(rows)} own measurements (perfmodel/data/measured_gpu.csv, group {dev}/fp8_fused: "
            f"torch.compile cast+amax and cast+transpose+amax at the {measured.CAST_FIT_MODEL} TP 4 shapes; the "
            f"{len(held)} rows at Llama-2-70B TP 4/8 shapes held out)"
        )
        holdout = _summary(_errors(dev, "fp8_cast", f.value, held, {}))
        report[dev] = {
            "fp8_cast_fraction": {
                "figure": KEYS["fp8_cast"],
                **f.report(),
                "in_sample": _summary(_errors(dev, "fp8_cast", f.value, rows, {})),
                "holdout": holdout,
                "leave_one_group_out": "one group only: the held-out rows (other model's shapes) are the check",
                "seconds": time.perf_counter() - t0,
            }
        }
        print(
            f"{dev:16s} {KEYS['fp8_cast']:26s} = {f.value:.4f}  rows={len(rows):3d}  "
            f"{'converged' if f.success else 'NOT converged'} ({f.evaluations} evals)  in-sample |err| median "
            f"{report[dev]['fp8_cast_fraction']['in_sample']['median_abs_error']:.3f} max "
            f"{report[dev]['fp8_cast_fraction']['in_sample']['max_abs_error']:.3f}  holdout ({holdout['rows']} rows) "
            f"median {holdout['median_abs_error']:.3f} max {holdout['max_abs_error']:.3f}",
            flush=True,
        )
    return values, texts, report


def _sweep(c: Case) -> tuple[np.ndarray, ...] | None:
    """The M, N, K arrays a best-of-grid row is evaluated over (None for a single-shape row)."""
    if c.args["shape"] is None:
        g = _MAX_GRID
    elif "sweep_max" in c.args:
        g = np.arange(256, c.args["sweep_max"] + 1, 256, dtype=float)
    else:
        return None
    return tuple(x.ravel() for x in np.meshgrid(g, g, g, indexing="ij"))


def calibrate_shared() -> tuple[tuple[float, float], dict[str, Any]]:
    """The shared (launch, tile) overheads: a bounded 2-D global search; each point refits every device's GEMM
    fractions and is scored by (max + median) absolute error over all GEMM rows."""
    gemm = [c for c in cases() if c.group == "gemm"]

    def objective(x: np.ndarray) -> float:
        shared = {"efficiency.launch_overhead_us": float(x[0]), "efficiency.tile_overhead_us": float(x[1])}
        fractions = {}
        for dev in FIT_DEVICES:
            for key in ("gemm16", "gemm8"):
                rows = [c for c in gemm if c.device == dev and kind(c) == key]
                if rows:
                    fractions[(dev, key)] = fit_fraction(dev, key, rows, shared, predict).value
        errors = []
        for c in gemm:
            parent = c.device if c.device in FIT_DEVICES else INHERIT[c.device][0]
            spec = pm.hwdb.get(c.device).with_overrides(
                {**shared, f"efficiency.{KEYS[kind(c)]}": fractions[(parent, kind(c))]}
            )
            errors.append((predict(c, spec) - c.measured) / c.measured)
        s = score(errors)
        print(f"launch {x[0]:.2f} us, tile {x[1]:.2f} us: score {s:.4f}", flush=True)
        return s

    res = optimize.differential_evolution(
        objective, SHARED_BOUNDS, popsize=5, maxiter=6, tol=1e-3, seed=0, polish=False
    )
    value = (round(float(res.x[0]), 2), round(float(res.x[1]), 2))
    rep = {"launch_overhead_us": value[0], "tile_overhead_us": value[1], "score": float(res.fun),
           "success": bool(res.success), "message": str(res.message), "evaluations": int(res.nfev)}  # fmt: skip
    print(f"chosen: launch {value[0]} us, tile {value[1]} us ({rep['message']})")
    return value, rep


def roofline_files(
    values: dict[str, dict[str, float]],
    texts: dict[str, dict[str, str]],
    cast: dict[str, float],
    cast_texts: dict[str, str],
) -> dict[str, tuple[dict[str, float], dict[str, str], str | None]]:
    """What ``--roofline --write`` writes per device file: (fractions, their ``fitted_on`` parts, the ``INHERIT``
    head or None), for ``FIT_DEVICES`` and every ``INHERIT`` device (its parent's fractions, its own cookbook and
    FP8 cast figures)."""
    out: dict[str, tuple[dict[str, float], dict[str, str], str | None]] = {}
    for dev in FIT_DEVICES:
        v, parts = dict(values[dev]), dict(texts[dev])
        if dev in CAST_INHERIT:
            parent, why = CAST_INHERIT[dev]
            v["fp8_cast"] = cast[parent]
            parts["fp8_cast"] = f"fp8_cast_fraction taken from {parent} ({why}; {cast_texts[parent]})"
        out[dev] = (v, parts, None)
    for dev, (parent, why) in INHERIT.items():
        v = {k: x for k, x in out[parent][0].items() if k != "fp8_cast"}
        parts = {}
        if dev in SWEEP_DEVICES and dev not in FIT_DEVICES:
            v.update(values[dev])
            parts.update(texts[dev])
        if dev in cast:
            v["fp8_cast"] = cast[dev]
            parts["fp8_cast"] = cast_texts[dev]
        out[dev] = (v, parts, f"inherited from {parent}: {why}")
    return out


def check_roofline(
    written: dict[str, tuple[dict[str, float], dict[str, str], str | None]], report: dict[str, Any]
) -> list[str]:
    """``--check``: what differs between the roofline fractions ``--roofline --write`` would write and this
    repository's hwdb files (to the files' 4 decimals), and each ``HELD`` figure whose stored value or refit moved
    (its recorded reason then needs a fresh look)."""
    bad = []
    for dev, (v, _parts, _head) in written.items():
        eff = _read(_device_path(dev))["efficiency"]
        for key, value in v.items():
            shipped = eff.get(KEYS[key])
            if shipped is None or round(float(value), 4) != round(float(shipped), 4):
                bad.append(f"{dev} {KEYS[key]}: hwdb {shipped}, the tool gives {round(float(value), 4)}")
    for (dev, key), held in HELD.items():
        refit = report[dev][KEYS[key]].get("refit")
        if refit is None or round(float(refit), 4) != round(held.refit, 4):
            bad.append(f"{dev} {KEYS[key]} (HELD): the refit gives {refit}, HELD records {held.refit}")
    return bad


# ---- LLM calibration --------------------------------------------------------------------------------------


def _print_groups(res: dict[str, Any]) -> None:
    """Prints an LLM fit's leave-one-group-out refits and its held-out groups' errors."""
    for g, v in res["leave_one_group_out"].items():
        print(
            f"  leave out {g:20s}: refit ({v['compute_time_scale']:.4f}, {v['network_bandwidth_scale']:.4f}), its rows |err| median {v['median_abs_error']:.3f} max {v['max_abs_error']:.3f}"
        )
    for g, v in res["holdout"].items():
        print(
            f"  holdout {g:22s}: rows {v['rows']}, |err| median {v['median_abs_error']:.3f} max {v['max_abs_error']:.3f}"
        )


def calibrate_llm() -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, Any]]:
    """Fits each calibrated system (``perfmodel.validation.llm``): values, fitted_on and report per system."""
    from perfmodel.validation import llm as vllm

    out: dict[str, Any] = {}
    for system, fit in ((vllm.SYSTEM, vllm.fit), (vllm.MLPERF_SYSTEM, vllm.fit_mlperf)):
        t0 = time.perf_counter()
        res = fit(report=True)
        print(
            f"{system}: compute_time_scale = memory_time_scale = {res['compute_time_scale']:.4f}, "
            f"network_bandwidth_scale = {res['network_bandwidth_scale']:.4f}, kernel_launch_us = "
            f"{res.get('kernel_launch_us', 0.0):.2f} (comm_bandwidth_scale "
            f"{res['comm_bandwidth_scale']:.4f}, fixed)  {'converged' if res['success'] else 'NOT converged'} "
            f"({res['evaluations']} evals, {res['message']}); in-sample |err| median "
            f"{res['in_sample']['median_abs_error']:.3f} max {res['in_sample']['max_abs_error']:.3f}"
        )
        _print_groups(res)
        res["seconds"] = time.perf_counter() - t0
        out[system] = res
    keys = ("compute_time_scale", "memory_time_scale", "comm_bandwidth_scale", "network_bandwidth_scale",
            "kernel_launch_us")  # fmt: skip
    return (
        {s: {k: r[k] for k in keys if k in r} for s, r in out.items()},
        {vllm.SYSTEM: vllm.fit_description(), vllm.MLPERF_SYSTEM: vllm.mlperf_fit_description()},
        out,
    )


def calibrate_profiles(system_calib: dict[str, float] | None = None) -> dict[str, Any]:
    """Fits the software-stack profiles of the calibrated systems (``perfmodel.validation.llm.fit_profile``: the
    Megatron-LM 2022 profile of dgx-a100 on Korthikanti Table 4, the system's communication factor)."""
    from perfmodel.validation import llm as vllm

    res = vllm.fit_profile(system_calib)
    h = res["holdout"]["korthikanti_table5"]
    print(
        f"{vllm.SYSTEM} profile {res['profile']}: compute_time_scale = memory_time_scale = {res['compute_time_scale']:.4f} "
        f"(comm {res['comm_bandwidth_scale']:.4f}, network {res['network_bandwidth_scale']:.4f}, the system's)  {'converged' if res['success'] else 'NOT converged'} "
        f"({res['evaluations']} evals); Table 4 in sample |err| max {res['in_sample']['max_abs_error']:.3f}; "
        f"Table 5 holdout mean {h['mean_abs_error']:.3f} max {h['max_abs_error']:.3f}"
    )
    return res


def write_profile(system: str, name: str, values: dict[str, float], fitted_on: str) -> None:
    """Sets (or adds) the ``[[calibration.profiles]]`` entry ``name`` of ``hwdb/systems/<system>.toml``; the
    communication factor is left to the system's."""
    path = HWDB / "systems" / f"{system}.toml"
    doc = _read(path)
    cal = doc["calibration"]
    if "profiles" not in cal:
        cal["profiles"] = tomlkit.aot()
    entry = next((t for t in cal["profiles"] if t.get("name") == name), None)
    if entry is None:
        entry = tomlkit.table()
        entry["name"] = name
        cal["profiles"].append(entry)
    for k in ("compute_time_scale", "memory_time_scale"):
        entry[k] = round(float(values[k]), 4)
    entry["fitted_on"] = fitted_on
    _write_doc(path, doc)


# ---- serving -----------------------------------------------------------------------------------------------

#: hwdb keys of the serving figures and their factor from the fitted value (seconds are written in us).
SERVING_KEYS = {
    "kernel_time_scale": ("kernel_time_scale", 1.0),
    "per_sequence_overhead_s": ("per_sequence_overhead_us", 1e6),
    "request_overhead_s": ("request_overhead_us", 1e6),
    "comm_bandwidth_scale": ("comm_bandwidth_scale", 1.0),
    "iteration_overhead_s": ("iteration_overhead_us", 1e6),
    "collective_sync_s": ("collective_sync_us", 1e6),
    "prefill_overhead_s": ("prefill_overhead_us", 1e6),
    "kernel_launch_s": ("kernel_launch_us", 1e6),
}


def calibrate_serving() -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The ``splitwise`` serving figures of each Splitwise system, fitted on its Splitwise ``fit`` rows
    (``perfmodel.validation.serving.fit_splitwise``)."""
    from perfmodel.validation import serving as vs

    values: dict[str, dict[str, float]] = {}
    report: dict[str, Any] = {}
    for system in vs.SPLITWISE_SYSTEMS:
        figures, rep = vs.fit_splitwise(system)
        values[system], report[system] = figures, rep
        print(
            f"{system} splitwise: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in figures.items())
            + f"; fit rows {rep['rows']}: median |err| {rep['median_abs_error']:.3f}, max {rep['max_abs_error']:.3f}"
        )
    return values, report


def calibrate_trtllm() -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The ``trtllm`` serving figures of each system with TensorRT-LLM fit rows
    (``perfmodel.validation.serving_trtllm.fit``; minutes per system)."""
    from perfmodel.validation import serving_trtllm as vt

    values: dict[str, dict[str, float]] = {}
    report: dict[str, Any] = {}
    for system, framework in vt.FITS:
        figures, rep = vt.fit(system, framework)
        values[f"{system}/{framework}"], report[f"{system}/{framework}"] = figures, rep
        print(
            f"{system} {framework}: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in figures.items())
            + f"; fit rows {rep['rows']}: median |err| {rep['median_abs_error']:.3f}, max {rep['max_abs_error']:.3f}"
            + f" (uncalibrated {rep['uncalibrated_median_abs_error']:.3f} / {rep['uncalibrated_max_abs_error']:.3f}; {rep['seconds']:.0f} s)"
        )
    return values, report


def _other_holdout_medians(
    system: str, framework: str, figures: dict[str, float]
) -> tuple[float, float] | None:
    """Median |error| of the other suites' held-out rows of ``system`` and ``framework`` (the TensorRT-LLM v1.0
    B200/GB200 tables of ``perfmodel.validation.mlperf5``, run on ``trtllm-pytorch``) uncalibrated and with
    ``figures``: a table fitted on one model must not make the same system and class worse on others. None where
    no such rows exist."""
    import numpy as np
    from perfmodel.validation import mlperf5 as m5
    from perfmodel.validation import serving_trtllm as vt

    rows = (
        [r for r in m5._trtllm_rows() if r["hwdb_system"] == system] if framework == "trtllm-pytorch" else []
    )
    if not rows:
        return None
    base = vt.uncalibrated_figures()

    def median(figs: dict[str, float]) -> float:
        err = [abs(vt.predict(m5._trtllm_case(r), figs) / float(r["value"]) - 1.0) for r in rows]
        return float(np.median(err))

    return median(base), median({**base, **figures})


def _overhead_alone_kept(system: str, framework: str, rep: dict[str, Any]) -> bool:
    """Whether a table holding only the request overhead (the other figures uncalibrated) is kept for a group whose
    full fit is not: it must lower the fit rows' median TTFT |error|, not raise their throughput/TPOT median, and
    not raise the other suites' held-out rows of the class; and the class must have no other system table to fall
    back to (an overhead-only table would replace it)."""
    from perfmodel import hwdb

    fallback = {"sglang": ["vllm"], "sglang-v0.5.9": ["vllm"], "trtllm-pytorch": ["trtllm"]}.get(
        framework, []
    )
    tables = {t["framework"] for t in hwdb.get(system).to_dict().get("serving", [])}
    if any(f in tables for f in fallback):
        return False
    if not (
        rep["ttft_median_abs_error_overhead_alone"] < rep["ttft_uncalibrated_median_abs_error"]
        and rep["median_abs_error_overhead_alone"] <= rep["uncalibrated_median_abs_error"]
    ):
        return False
    other = _other_holdout_medians(system, framework, {"request_overhead_s": rep["request_overhead_alone_s"]})
    if other is not None:
        rep["other_holdout_median_abs_error_overhead_alone"] = {
            "uncalibrated": other[0],
            "with_fit": other[1],
        }
        return other[1] <= other[0]
    return True


def calibrate_inferencex() -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The serving figures of each (system, framework class) of the InferenceMAX rows, fitted on its 1k/1k rows
    (``perfmodel.validation.serving_new.fit``). A fit is kept only when it lowers the median |error| of its own
    rows (the rule the APEX vLLM fit followed) and does not raise that of the other suites' held-out rows of the
    same system and class (:func:`_other_holdout_medians`); the others are reported with ``kept = False``."""
    from perfmodel.validation import serving_new as vn

    values: dict[str, dict[str, float]] = {}
    report: dict[str, Any] = {}
    for system, framework in vn.groups():
        figures, rep = vn.fit(system, framework)
        rep["kept"] = rep["median_abs_error"] < rep["uncalibrated_median_abs_error"]
        other = _other_holdout_medians(system, framework, figures)
        if other is not None:
            rep["other_holdout_median_abs_error"] = {"uncalibrated": other[0], "with_fit": other[1]}
            rep["kept"] = rep["kept"] and other[1] <= other[0]
        rep["figures"] = figures
        report[f"{system}/{framework}"] = rep
        if rep["kept"]:
            values[f"{system}/{framework}"] = figures
        elif _overhead_alone_kept(system, framework, rep):
            # The TTFT figure is fitted on TTFT alone: kept over the uncalibrated engine when it lowers the fit
            # rows' TTFT, leaves their throughput/TPOT no worse than uncalibrated and the other suites' held-out
            # rows of the class no worse.
            values[f"{system}/{framework}"] = {"request_overhead_s": rep["request_overhead_alone_s"]}
            rep["kept_request_overhead_alone"] = True
        print(
            f"{system} {framework}: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in figures.items())
            + f"; fit rows {rep['rows']}: median |err| {rep['median_abs_error']:.3f}, max {rep['max_abs_error']:.3f}"
            + f" (uncalibrated {rep['uncalibrated_median_abs_error']:.3f} / {rep['uncalibrated_max_abs_error']:.3f})"
            + (
                ""
                if rep["kept"]
                else ": NOT kept (its own rows' median, or another suite's held-out rows of the "
                "same system and class, got worse)"
            )
        )
    return values, report


def remove_serving(system: str, framework: str, fitted_on_prefix: str) -> None:
    """Drops the ``[[serving]]`` entry of ``framework`` in ``hwdb/systems/<system>.toml`` when its ``fitted_on``
    starts with ``fitted_on_prefix`` (a table this tool wrote and a refit no longer keeps)."""
    path = HWDB / "systems" / f"{system}.toml"
    doc = _read(path)
    tables = doc.get("serving")
    if tables is None:
        return
    keep = [t for t in tables if not (t.get("framework") == framework
                                      and str(t.get("fitted_on", "")).startswith(fitted_on_prefix))]  # fmt: skip
    if len(keep) == len(tables):
        return
    if keep:
        aot = tomlkit.aot()
        for t in keep:
            aot.append(t)
        doc["serving"] = aot
    else:
        del doc["serving"]
        if "sources" in doc and "serving" in doc["sources"]:
            del doc["sources"]["serving"]
    _write_doc(path, doc)


def write_serving(system: str, framework: str, figures: dict[str, float], fitted_on: str) -> None:
    """Sets (or adds) the ``[[serving]]`` entry of ``framework`` in ``hwdb/systems/<system>.toml``; figures at
    zero are left out (hwdb figures are > 0; absent means none)."""
    path = HWDB / "systems" / f"{system}.toml"
    doc = _read(path)
    if "serving" not in doc:
        doc["serving"] = tomlkit.aot()
    entry = next((t for t in doc["serving"] if t.get("framework") == framework), None)
    if entry is None:
        entry = tomlkit.table()
        entry["framework"] = framework
        doc["serving"].append(entry)
    for name, (key, factor) in SERVING_KEYS.items():
        v = round(float(figures.get(name, 0.0)) * factor, 4)
        if v > 0:
            entry[key] = v
        elif key in entry:
            del entry[key]
    entry["fitted_on"] = fitted_on
    sources = doc.setdefault("sources", tomlkit.table())
    sources["serving"] = (
        "Fitted by tools/calibrate.py --serving (perfmodel.validation.serving) on the rows named in serving.fitted_on"
    )
    _write_doc(path, doc)


# ---- MLPerf v5.x -------------------------------------------------------------------------------------------


def calibrate_mlperf5(write: bool) -> dict[str, Any]:
    """Fits every (system, round) profile of ``perfmodel.validation.mlperf5.FIT``; with ``write``, the profiles
    and each system's ``[calibration]`` (its latest round's value) go into hwdb."""
    from perfmodel.validation import mlperf5 as vm

    report: dict[str, Any] = {}
    by_system: dict[str, list[str]] = {}
    for system, version in vm.FIT:
        by_system.setdefault(system, []).append(version)
    for system, versions in sorted(by_system.items()):
        for version in sorted(versions):
            res = vm.fit(system, version)
            report[f"{system}/{res['profile']}"] = res
            print(
                f"{system} {res['profile']}: compute_time_scale = {res['compute_time_scale']:.4f} "
                f"({'converged' if res['success'] else 'NOT converged'}, {res['evaluations']} evals); fit rows "
                f"{res['in_sample']['rows']} median |err| {res['in_sample']['median_abs_error']:.3f} (uncalibrated "
                f"{res['uncalibrated']['fit']['median_abs_error']:.3f}); holdout {res['holdout'].get('rows', 0)} median "
                f"{res['holdout'].get('median_abs_error', float('nan')):.3f} max {res['holdout'].get('max_abs_error', float('nan')):.3f}"
            )
        if write:
            latest = report[f"{system}/{vm.profile(max(versions))}"]
            values = {"compute_time_scale": latest["compute_time_scale"], "memory_time_scale": latest["memory_time_scale"],
                      "comm_bandwidth_scale": 1.0, "network_bandwidth_scale": 1.0}  # fmt: skip
            text = f"the MLPerf {max(versions)} profile's value: {vm.fitted_on(system, max(versions))}"
            write_system_calibration(system, values, text, "--mlperf5 (perfmodel.validation.mlperf5)")
            for version in sorted(versions):
                res = report[f"{system}/{vm.profile(version)}"]
                write_profile(system, res["profile"], res, vm.fitted_on(system, version))
    return report


# ---- collectives -------------------------------------------------------------------------------------------


def calibrate_collectives() -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The collectives engine's fabric and NIC figures (``perfmodel.validation.collectives``): the single-node
    nccl-tests/rccl-tests sweeps (``fit_sweeps``, via ``perfmodel.nccl_tests.calibrate``) and Frontier
    (``fit_frontier``: GCD pair on a kernel store, node fabric and Slingshot-11 jointly on RCCL all-gather)."""
    from perfmodel.validation import collectives as vc

    t0 = time.perf_counter()
    specs, texts, report = vc.fit_sweeps()
    for fid, rep in report.items():
        vals = ", ".join(f"{k.split('.')[1]} {v:.4g}" for k, v in rep["values"].items())
        print(f"{fid:18s} {vals}  {'converged' if rep.get('success', True) else 'NOT converged'} "
              f"({rep.get('nfev', '?')} evals, best of {rep.get('starts', 1)} starts, rms log error {rep.get('rms_log_error', float('nan')):.3f})")  # fmt: skip
    if vc.frontier_csv() is None:
        print("frontier_measurements.csv not found: Frontier not fitted", file=sys.stderr)
    else:
        fspecs, ftexts, freport = vc.fit_frontier()
        specs.update(fspecs)
        texts.update(ftexts)
        report["frontier"] = freport
        j = freport["joint"]
        print(f"frontier pair bandwidth_fraction {freport['pair']['bandwidth_fraction']:.4f}; joint fit on {j['fit_rows']} rows: "
              f"{'converged' if j['success'] else 'NOT converged'} ({j['message']}, {j['nfev']} evals), rms log error "
              f"{j['rms_log_error']:.3f}, at a bound: {j['at_bound'] or 'none'}")  # fmt: skip
        for k, v in j["values"].items():
            print(f"  {k:45s} {v:.4g}")
        for k, e in freport["errors"].items():
            print(
                f"  RCCL |busbw error| {k:22s} rows {e['rows']:3d} median {e['median']:.3f} max {e['max']:.3f}"
            )
    report["seconds"] = time.perf_counter() - t0
    return specs, texts, report


#: The ``[efficiency]`` figures the collectives fits set (those a spec holds; NICs have no launch cost).
COLLECTIVE_KEYS = (
    "bandwidth_fraction",
    "latency_us",
    "launch_us",
    "ll_latency_ratio",
    "ll_bandwidth_ratio",
    "ll128_latency_ratio",
    "ll128_bandwidth_ratio",
)


def write_efficiency(spec_id: str, spec: Any, fitted_on: str) -> None:
    """Sets the fitted ``[efficiency]`` figures of an hwdb fabric or NIC from ``spec`` and its ``fitted_on``."""
    path = next(
        p for p in (HWDB / "fabrics" / f"{spec_id}.toml", HWDB / "nics" / f"{spec_id}.toml") if p.exists()
    )
    doc = _read(path)
    eff = doc["efficiency"]
    eff.pop("fitted_on", None)  # re-added last
    for key in COLLECTIVE_KEYS:
        v = spec.get(f"efficiency.{key}")
        if v is not None and not (key == "launch_us" and path.parent.name == "nics"):
            eff[key] = round(float(v), 4)
    eff["fitted_on"] = fitted_on
    src = doc.get("sources")
    if src is not None:
        src["efficiency"] = "Fitted by tools/calibrate.py --collectives (see efficiency.fitted_on)"
    _write_doc(path, doc)


# ---- main -------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--roofline", action="store_true", help="fit the devices' roofline fractions")
    ap.add_argument(
        "--check",
        action="store_true",
        help="fit the roofline fractions (no leave-one-group-out) and exit 1 unless they are what hwdb holds "
        "and every HELD figure's refit is what HELD records",
    )
    ap.add_argument(
        "--refit-held",
        action="store_true",
        help="with --roofline: fit the HELD figures like the others (report only; refused with --write)",
    )
    ap.add_argument("--llm", action="store_true", help="fit the systems' LLM calibration")
    ap.add_argument("--shared", action="store_true", help="fit the shared launch/tile overheads (slow)")
    ap.add_argument(
        "--llm-system", default=None, help="with --llm: report and write only this system (e.g. dgx-h100)"
    )
    ap.add_argument(
        "--fp8-cast", action="store_true", help="fit (and with --write, write) only the FP8 cast fractions"
    )
    ap.add_argument(
        "--collectives", action="store_true", help="fit the collectives engine's fabric and NIC figures"
    )
    ap.add_argument(
        "--sweeps",
        action="store_true",
        help="fit (and with --write, write) only the figures fitted on the EleutherAI cookbook sweeps",
    )
    ap.add_argument(
        "--serving",
        action="store_true",
        help="fit the systems' serving-framework figures (Splitwise prototype)",
    )
    ap.add_argument(
        "--trtllm", action="store_true", help="fit the systems' TensorRT-LLM figures (slow: minutes)"
    )
    ap.add_argument(
        "--vllm",
        action="store_true",
        help="fit dgx-h100's vLLM v0.6.0 (vllm-v0.6) launch figure on the APEX Llama replays (seconds)",
    )
    ap.add_argument(
        "--inferencex",
        action="store_true",
        help="fit the B200/B300/H200/MI3xx serving figures on the InferenceMAX 1k/1k rows",
    )
    ap.add_argument(
        "--power",
        action="store_true",
        help="fit the H100 power figures on the ML.ENERGY rows (fit models only)",
    )
    ap.add_argument(
        "--mlperf5",
        action="store_true",
        help="fit the MLPerf v5.x profiles of B200/GB200/MI325X/MI355X systems",
    )
    ap.add_argument(
        "--cudnn-softmax",
        action="store_true",
        help="fit attention_cudnn_softmax_fraction on the own H100 cuDNN rows (H200 held out)",
    )
    ap.add_argument("--write", action="store_true", help="write hwdb/ and validation/calibration_report.json")
    ap.add_argument(
        "--report", action="store_true", help="write validation/calibration_report.json only (hwdb untouched)"
    )
    a = ap.parse_args(argv)
    if a.refit_held and (a.write or a.check):
        ap.error(
            "--refit-held is for reports: with --write or --check it would overwrite or disown HELD figures"
        )
    both = not (
        a.roofline
        or a.llm
        or a.shared
        or a.fp8_cast
        or a.collectives
        or a.sweeps
        or a.serving
        or a.trtllm
        or a.vllm
        or a.power
        or a.mlperf5
        or a.inferencex
        or a.cudnn_softmax
        or a.check
    )
    report: dict[str, Any] = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report["engine"] = {"perfmodel": pm.__version__, "python": sys.version.split()[0]}
    if a.power:
        from perfmodel.validation import energy as ve

        fit = ve.fit()
        report["power"] = fit
        print(f"{fit['device']} power: " + ", ".join(f"{k} = {v:.4g}" for k, v in fit["figures"].items())
              + f"; fit rows median |error| {fit['fit_median_error']:.3f}")  # fmt: skip
        if a.write:
            write_power(fit["device"], fit["figures"], fit["fitted_on"])
            print(
                "wrote the power figures; pip install . and run `perfmodel validate energy --write validation`"
            )
    if a.cudnn_softmax:
        fit = report["cudnn_softmax"] = calibrate_cudnn_softmax()
        print(f"{fit['device']} {fit['figure']} = {fit['value']:.4f}; in sample median |error| "
              f"{fit['in_sample']['median_abs_error']:.4f} max {fit['in_sample']['max_abs_error']:.4f}; "
              f"{fit['held_out']['device']} held out {fit['held_out']['median_abs_error']:.4f} "
              f"max {fit['held_out']['max_abs_error']:.4f}")  # fmt: skip
        if a.write:
            write_cudnn_softmax(fit["value"])
            print(
                "wrote the cuDNN softmax fraction; pip install . and run `perfmodel validate measured sizing ...`"
            )
    if a.mlperf5:
        report["mlperf5"] = calibrate_mlperf5(a.write)
        if a.write:
            print(
                "wrote the MLPerf v5.x profiles; pip install . and run `perfmodel validate mlperf5 --write validation`"
            )
    if a.serving:
        from perfmodel.validation import serving as vs

        values_s, report["serving"] = calibrate_serving()
        if a.write:
            for system, figures in values_s.items():
                write_serving(system, "splitwise", figures, vs.splitwise_fitted_on(system))
            print(
                "wrote the serving figures; pip install . and run `perfmodel validate serving --write validation`"
            )
    if a.inferencex:
        from perfmodel.validation import serving_new as vn

        values_x, report["inferencex"] = calibrate_inferencex()
        if a.write:
            for key, figures in values_x.items():
                system, framework = key.split("/")
                only = set(figures) == {"request_overhead_s"}
                write_serving(system, framework, figures, vn.fitted_on(system, framework, overhead_only=only))
            for key in report["inferencex"]:
                if key not in values_x:  # a table an earlier run of this fit wrote goes
                    remove_serving(*key.split("/"), fitted_on_prefix="InferenceMAX")
            print(
                "wrote the InferenceMAX serving figures; pip install . and run "
                "`perfmodel validate serving_new --write validation`"
            )
    if a.vllm:
        from perfmodel.validation import serving_apex as va

        figures_v, report["vllm"] = va.fit_launch(va.SYSTEM)
        print(
            f"{va.SYSTEM} {va.FRAMEWORK_CLASS}: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in figures_v.items())
            + f"; {report['vllm']}"
        )
        if a.write:
            write_serving(va.SYSTEM, va.FRAMEWORK_CLASS, figures_v, va.launch_fitted_on(va.SYSTEM))
    if a.trtllm:
        from perfmodel.validation import serving_trtllm as vt

        values_t, report["trtllm"] = calibrate_trtllm()
        if a.write:
            for key, figures in values_t.items():
                system, framework = key.split("/")
                write_serving(system, framework, figures, vt.fitted_on(system, framework))
            print(
                "wrote the trtllm figures; pip install . and run `perfmodel validate serving --write validation`"
            )
    if a.collectives:
        specs, texts, report["collectives"] = calibrate_collectives()
        if a.write:
            for sid, spec in specs.items():
                write_efficiency(sid, spec, texts[sid])
            print(
                "wrote the collectives figures; pip install . and run `perfmodel validate collectives --write validation`"
            )
    if a.shared:
        (launch, tile), report["shared_overheads"] = calibrate_shared()
        if a.write:
            for path in sorted((HWDB / "devices").glob("*.toml")):
                doc = _read(path)
                doc["efficiency"]["launch_overhead_us"] = launch
                doc["efficiency"]["tile_overhead_us"] = tile
                _write_doc(path, doc)
            print("wrote the shared overheads; pip install . and run --roofline to refit the fractions")
    if a.roofline or both or a.check:
        values, texts, report["roofline"] = calibrate_roofline(refit_held=a.refit_held, logo=not a.check)
        cast, cast_texts, cast_report = calibrate_fp8_cast()
        for dev, rep in cast_report.items():
            report["roofline"].setdefault(dev, {}).update(rep)
        written = roofline_files(values, texts, cast, cast_texts)
        if a.check:
            bad = check_roofline(written, report["roofline"])
            print("--check: every shipped roofline fraction reproduced" if not bad else "--check: MISMATCH")
            for line in bad:
                print("  " + line)
            if bad:
                sys.exit(1)
        if a.write:
            for dev, (v, parts, head) in written.items():
                write_device(dev, v, parts, head)
    if a.fp8_cast and not (a.roofline or both):
        cast, cast_texts, cast_report = calibrate_fp8_cast()
        for dev, rep in cast_report.items():
            report.setdefault("roofline", {}).setdefault(dev, {}).update(rep)
        if a.write:
            for dev in CAST_DEVICES:
                write_fp8_cast(dev, cast[dev], cast_texts[dev])
            for dev, (parent, why) in CAST_INHERIT.items():
                write_fp8_cast(
                    dev, cast[parent], f"fp8_cast_fraction taken from {parent} ({why}; {cast_texts[parent]})"
                )
    if a.sweeps and not (a.roofline or both):
        sweep_values, sweep_texts, sweep_report = calibrate_sweeps()
        for dev, rep in sweep_report.items():
            report.setdefault("roofline", {}).setdefault(dev, {}).update(rep)
        if a.write:
            for dev, v in sweep_values.items():
                write_sweep_figures(dev, v, sweep_texts[dev])
            for dev, (parent, _why) in INHERIT.items():
                # The parent's sweep figures the device does not fit itself (INHERIT: assumed equal).
                inherited = {
                    k: v
                    for k, v in sweep_values.get(parent, {}).items()
                    if k not in sweep_values.get(dev, {})
                }
                if inherited:
                    write_sweep_figures(dev, inherited, None)
    if a.llm or both:
        values, texts, llm_report = calibrate_llm()
        report.setdefault("llm", {})
        for system, v in values.items():
            if a.llm_system in (None, system):
                report["llm"][system] = llm_report[system]
                if a.write:
                    write_system_calibration(system, v, texts[system])
        from perfmodel.validation import llm as vllm

        if a.llm_system in (None, vllm.SYSTEM):
            prof = calibrate_profiles(values[vllm.SYSTEM])
            report["llm_profiles"] = {f"{vllm.SYSTEM}/{prof['profile']}": prof}
            if a.write:
                write_profile(vllm.SYSTEM, prof["profile"], prof, vllm.profile_description())
    if a.write or a.report:
        REPORT.write_text(
            json.dumps(report, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8"
        )
        print("wrote", REPORT.relative_to(ROOT))


if __name__ == "__main__":
    main()
