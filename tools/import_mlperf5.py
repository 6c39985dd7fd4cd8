"""Reads MLPerf Training v5.x submissions (LLM benchmarks) from the mlcommons results repositories and writes the
rows ``perfmodel.validation.mlperf5`` predicts: ``python/perfmodel/data/mlperf_v5.csv``.

Each row is one submission (submitter, system directory, benchmark) with its measured training rate and the plan
its own configuration gives. What is read, per submission:

- ``<submitter>/systems/<system>.json``: accelerator, nodes, accelerators per node, system name;
- ``<submitter>/results/<system>/<benchmark>/result_*.txt`` (MLLOG): ``global_batch_size``,
  ``gradient_accumulation_steps``, ``max_sequence_length``, and the training rate of every block. Rate per
  file: the median of the logged per-step training times (``tracked_stats`` ``train_step_time``: NVIDIA's
  ``mlperf_common`` callbacks, evaluation excluded) converted to samples/s with the logged global batch, or,
  where a log has none, the median of its logged ``throughput`` (samples/s; AMD's and MangoBoost's callbacks,
  evaluation excluded), or else samples per block over the block's wall time (``block_start`` to
  ``block_stop``; blocks end before evaluation). Value: the median over result files.
- ``<submitter>/benchmarks/<benchmark>/implementations/*/config_*.sh``: every config file is sourced in bash
  (with the other files of its directory, as the run scripts do) and its exported variables read: nodes x GPUs
  per node, TP, PP, CP, interleaving, micro-batch, per-replica batch (``MINIBS``; ``GBS`` in AMD's Llama 3.1 8B
  scripts), FP8/FP4, SP, TP communication overlap, the rank order (``TP_PP_DP_MAPPING``). The config of a result is the one whose GPU count and implied
  global batch (``MINIBS`` x DP) match the system and the log; configs named for another accelerator are
  skipped, and configs named for the result's system directory, then those in a directory named for it, are
  preferred. FP8: ``FP8`` or ``FP8_PARAMS`` (AMD's Llama 3.1 8B ``src/train.py`` sets ``fp8 = "hybrid"``
  unconditionally; its config only says ``FP8_PARAMS=1``). Where several configs match and differ in the plan, the row is kept with
  ``plan_status = "ambiguous"`` and not modelled.

Plans the step model cannot price are kept with a reason in ``modelled`` (accelerators without an hwdb system in
``HWDB_SYSTEM``). FP4 (NVFP4) runs are priced on the step model's NVFP4 path and always held out. The fit/holdout split is decided here (:func:`role`) and documented in
``docs/mlperf5_validation.md``.

``--inference`` reads MLPerf Inference v5.x (closed division, LLM benchmarks) into
``python/perfmodel/data/mlperf_v5_inference.csv``: samples/s and output tokens/s of every scenario's
``performance/run_1/mlperf_log_summary.txt``, the system's accelerator and count, the weight data types of its
measurements json. Llama 2 70B rows (Offline, Server, Interactive) of NVIDIA's TensorRT harness on B200/GB200 and
of AMD's vLLM harness on MI325X, Llama 3.1 8B and 405B rows of NVIDIA's TensorRT harness on B200/GB200, and
DeepSeek-R1 (B200/GB200) and Mixtral-8x7B (MI325X) Offline and Server rows are priced (``modelled = yes``,
:func:`inference_modelled`); the others are recorded, not predicted (``NOT_MODELLED``).

Run from the repository root, with the repositories fetched as git directories (no work tree needed):

    python tools/import_mlperf5.py --training v5.0=/path/training_results_v5.0.git \\
        --training v5.1=/path/training_results_v5.1.git [--out python/perfmodel/data/mlperf_v5.csv] \\
        [--inference v5.1=/path/inference_results_v5.1.git]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# Fit rows per (hwdb system, MLPerf round) and the benchmark they are on: the validation suite's one table
# (docs/mlperf5_validation.md gives the reasoning); every other row is held out.
from perfmodel.validation.mlperf5 import FIT, FIT_BENCHMARK, LLAMA31_BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "python" / "perfmodel" / "data" / "mlperf_v5.csv"

#: The LLM benchmarks read, and the model each trains (the step model's shapes: Llama 2 70B and Llama 3.1
#: 8B/405B config.json; ``frozen`` for LoRA fine-tuning).
BENCHMARKS = ("llama2_70b_lora", "llama31_405b", "llama31_8b")

COLUMNS = (
    "version", "submitter", "system_dir", "system_name", "accelerator", "gpus", "nodes", "gpus_per_node",
    "benchmark", "metric", "unit", "value", "n_results", "per_file", "rate_source", "plan", "plan_status",
    "config", "hwdb_system", "modelled", "role", "source",
)  # fmt: skip

#: Accelerator name (system json ``accelerator_model_name``) -> short name, first match wins.
ACCELERATORS = (
    ("GB300", "GB300"), ("B300", "B300"), ("GB200", "GB200"), ("B200", "B200"), ("MI355X", "MI355X"),
    ("MI350X", "MI350X"), ("MI325X", "MI325X"), ("MI300X", "MI300X"), ("H200-NVL", "H200-NVL"),
    ("H200", "H200"), ("H100", "H100"),
)  # fmt: skip
#: Short name -> hwdb system the step model prices it on (absent: no hwdb device, not modelled).
HWDB_SYSTEM = {
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

_MLLOG = re.compile(r":::MLLOG (\{.*\})\s*$")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, errors="replace"
    ).stdout


def commit_of(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def files(repo: Path) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines()


def show(repo: Path, path: str) -> str:
    return git(repo, "show", f"HEAD:{path}")


# ---- MLLOG --------------------------------------------------------------------------------------------------


def mllog(text: str) -> list[dict[str, Any]]:
    """The MLLOG records of a result file, each once (multi-rank logs repeat lines)."""
    out, seen = [], set()
    for line in text.splitlines():
        m = _MLLOG.search(line)
        if not m:
            continue
        try:
            rec = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        key = (rec.get("time_ms"), rec.get("key"), json.dumps(rec.get("value"), sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def first(recs: list[dict[str, Any]], key: str) -> Any:
    return next((r["value"] for r in recs if r.get("key") == key), None)


def file_rate(recs: list[dict[str, Any]], gbs: float) -> tuple[float, str] | None:
    """Training samples/s of one result file and how it was obtained (module docstring)."""
    stats = [r["value"] for r in recs if r.get("key") == "tracked_stats" and isinstance(r.get("value"), dict)]
    steps = [float(v["train_step_time"]) for v in stats if "train_step_time" in v]
    if steps:
        return gbs / statistics.median(steps), "train_step_time"
    thr = [float(v["throughput"]) for v in stats if "throughput" in v]
    if thr:
        return statistics.median(thr), "throughput"
    rates, start = [], None
    for r in recs:
        md = r.get("metadata") or {}
        if r.get("key") == "block_start":
            start = (r["time_ms"], md.get("samples_count"))
        elif r.get("key") == "block_stop" and start is not None:
            n0, n1 = start[1], md.get("samples_count")
            dt = (r["time_ms"] - start[0]) / 1e3
            if n0 is not None and n1 is not None and n1 > n0 and dt > 0:
                rates.append((n1 - n0) / dt)
            start = None
    if rates:
        return statistics.median(rates[1:] if len(rates) > 2 else rates), "block_time"
    return None


# ---- configs ------------------------------------------------------------------------------------------------

_VARS = (
    "DGXNNODES", "NNODES", "DGXNGPU", "GPUS_PER_NODE", "TP", "TENSOR_MODEL_PARALLEL", "PP", "PIPELINE_MODEL_PARALLEL",
    "CP", "CONTEXT_PARALLEL", "INTERLEAVED_PIPELINE", "MBS", "MICRO_BATCH_SIZE", "MINIBS", "GBS", "SP",
    "SEQ_PARALLEL", "FP8", "FP4", "FP8_PARAMS", "FP8_PARAM_GATHER", "TP_COMM_OVERLAP", "MC_TP_OVERLAP_AG",
    "LAYER_CUDA_GRAPH", "MCORE_CUDA_GRAPH", "USE_DIST_OPTIMIZER", "ACT_CKPT_GRANULARITY", "FP8_DPA",
    "OVERLAP_GRAD_REDUCE", "OVERLAP_P2P_COMM", "TP_PP_DP_MAPPING",
)  # fmt: skip


def source_config(repo: Path, path: str, siblings: list[str]) -> dict[str, str]:
    """The exported variables of ``path`` after sourcing it in bash next to its directory's other files."""
    with tempfile.TemporaryDirectory() as tmp:
        for s in siblings:
            (Path(tmp) / Path(s).name).write_text(show(repo, s))
        target = Path(tmp) / Path(path).name
        script = f"source {target} >/dev/null 2>&1; " + "; ".join(
            f'echo "{v}=${{{v}-__unset__}}"' for v in _VARS
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp).stdout
    vals = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        if v != "__unset__":
            vals[k] = v.strip()
    return vals


def _int(v: str | None, default: int) -> int:
    try:
        return int(float(v)) if v not in (None, "") else default
    except ValueError:
        return default


def _flag(v: str | None, default: bool = False) -> bool:
    if v in (None, ""):
        return default
    return v.strip().lower() in ("1", "true", "yes", "on")


def plan_of(env: dict[str, str], nodes_default: int = 0, gpn_default: int = 0) -> dict[str, Any] | None:
    """The plan a config's variables give; nodes and GPUs per node the config leaves to its launcher (NVIDIA's
    Llama 3.1 405B H100 scripts set no ``DGXNGPU``) are the system description's."""
    nodes = _int(env.get("DGXNNODES") or env.get("NNODES"), nodes_default)
    gpn = _int(env.get("DGXNGPU") or env.get("GPUS_PER_NODE"), gpn_default)
    if not nodes or not gpn:
        return None
    tp = _int(env.get("TP") or env.get("TENSOR_MODEL_PARALLEL"), 1)
    pp = _int(env.get("PP") or env.get("PIPELINE_MODEL_PARALLEL"), 1)
    cp = _int(env.get("CP") or env.get("CONTEXT_PARALLEL"), 1)
    gpus = nodes * gpn
    if gpus % (tp * pp * cp):
        return None
    dp = gpus // (tp * pp * cp)
    gbs = _int(env.get("GBS"), 0) or _int(env.get("MINIBS"), 0) * dp
    sp_var = env.get("SP", env.get("SEQ_PARALLEL"))
    return {
        "gpus": gpus, "nodes": nodes, "gpus_per_node": gpn, "tp": tp, "pp": pp, "cp": cp, "dp": dp,
        "vp": _int(env.get("INTERLEAVED_PIPELINE"), 1) if pp > 1 else 1,
        "micro_batch": _int(env.get("MBS") or env.get("MICRO_BATCH_SIZE"), 1), "global_batch": gbs,
        "sp": _flag(sp_var, default=tp > 1) if tp > 1 else False,
        "fp8": _flag(env.get("FP8")) or _flag(env.get("FP8_PARAMS")), "fp4": _flag(env.get("FP4")),
        # Transformer Engine's FP8 dot-product attention (NeMo's ``fp8_dot_product_attention``; its backward in FP8
        # too unless ``NVTE_FP8_DPA_BWD=0``, which no row with ``FP8_DPA`` set gives).
        "fp8_dpa": _flag(env.get("FP8_DPA")),
        "tp_comm_overlap": tp > 1 and _flag(env.get("TP_COMM_OVERLAP") or env.get("MC_TP_OVERLAP_AG")),
        "recompute": env.get("ACT_CKPT_GRANULARITY") or "none",
        "distributed_optimizer": _flag(env.get("USE_DIST_OPTIMIZER"), default=True),
        "cuda_graphs": _flag(env.get("LAYER_CUDA_GRAPH")) or _flag(env.get("MCORE_CUDA_GRAPH")),
        "config_common_from": env.get("_COMMON_FROM", ""),
        # NeMo's TP_PP_DP_MAPPING (Megatron-core use_tp_pp_dp_mapping): ranks in tp-cp-pp-dp order, else Megatron's
        # default tp-cp-dp-pp; the same layout when pp = 1.
        "rank_order": "tp-cp-pp-dp" if _flag(env.get("TP_PP_DP_MAPPING")) and pp > 1 else "tp-cp-dp-pp",
    }  # fmt: skip


#: Plan keys that change a prediction (configs that differ only elsewhere are the same plan).
PLAN_KEYS = (
    "tp",
    "pp",
    "cp",
    "vp",
    "micro_batch",
    "global_batch",
    "sp",
    "fp8",
    "fp4",
    "rank_order",
    "tp_comm_overlap",
    "recompute",
)


def configs_for(repo: Path, tree: list[str], submitter: str, bench: str) -> list[tuple[str, dict[str, str]]]:
    """Every config file of a submitter's benchmark with its sourced variables. A config that sources a
    ``config_common*.sh`` its own directory lacks gets the one of a sibling implementation directory (University
    of Florida ships its own B200 configs next to a copy of NVIDIA's, whose ``config_common.sh`` they source);
    the variable ``_COMMON_FROM`` names it."""
    root = f"{submitter}/benchmarks/{bench}/"
    prefix = f"{root}implementations/"
    out = []
    by_dir: dict[str, list[str]] = {}
    for f in tree:
        rest = f[len(prefix) :] if f.startswith(prefix) else ""
        # The benchmark's own directory too: GigaComputing's MI325X LoRA config sits there (v5.0), next to the
        # implementation directory of their B200 system.
        at_root = f.startswith(root) and "/" not in f[len(root) :] and Path(f).name.startswith("config_")
        if (rest.count("/") == 1 or at_root) and f.endswith(".sh"):
            by_dir.setdefault(str(Path(f).parent), []).append(f)
    commons: dict[str, str] = {}
    for d in sorted(by_dir):
        for f in by_dir[d]:
            if Path(f).name.startswith("config_common"):
                commons.setdefault(Path(f).name, f)
    for fs in by_dir.values():
        have = {Path(f).name for f in fs}
        borrowed = [c for n, c in sorted(commons.items()) if n not in have]
        for f in fs:
            name = Path(f).name
            if not name.startswith("config_") or "common" in name or "mounts" in name:
                continue
            env = source_config(repo, f, fs + borrowed)
            text = show(repo, f)
            used = [c for c in borrowed if Path(c).name in text]
            if used:
                env["_COMMON_FROM"] = ",".join(used)
            out.append((f, env))
    return out


def _own(config: str, system_dir: str) -> bool:
    """Whether a config's implementation directory is named for the result's system directory."""
    d = Path(config).parent.name
    return system_dir == d or system_dir.startswith(d + ".") or system_dir.startswith(d + "_")


def _named(config: str, system_dir: str) -> bool:
    """Whether a config file is named for the result's system directory (Dell's ``config_<system dir>.sh``)."""
    return system_dir.lower() in Path(config).stem.lower()


def config_accelerator(config: str) -> str | None:
    """The accelerator a config file's name is for (``config_GB200_18x4x1...``, ``config_MI325X_1x8x1``,
    ``config_DGXB200_1x8x1...``: NVIDIA's system prefix glued to the name), if any."""
    stem = Path(config).stem.upper()
    for token in ("GB300", "GB200", "B300", "B200", "MI355X", "MI350X", "MI325X", "MI300X", "H200", "H100"):
        if re.search(rf"(?:(?<![A-Z])|(?<=DGX)){token}", stem):
            return token
    return None


def match_config(
    candidates: list[tuple[str, dict[str, str]]], nodes: int, gpn: int, gbs: int, system_dir: str, acc: str
) -> tuple[str, dict[str, Any], str] | None:
    """The config of a result: GPU count and implied global batch must match; a config named for another
    accelerator is skipped unless it is all the system's own directory has (Supermicro ran its B300 system with
    files named ``config_DGXB200_*``), and configs for the system's node shape are preferred; then configs named for the system directory, then those in a directory named
    for it, then those named for the accelerator are preferred. ``exact`` when every remaining config gives the
    same plan (``PLAN_KEYS``)."""
    plans = [(f, plan_of(env, nodes, gpn)) for f, env in candidates]
    fits = [
        (f, p) for f, p in plans if p is not None and p["gpus"] == nodes * gpn and p["global_batch"] == gbs
    ]  # fmt: skip
    # Configs for the system's node shape first (a 1 x 8 system did not run a 2 x 4 GB300 file of its directory).
    fits = [x for x in fits if (x[1]["nodes"], x[1]["gpus_per_node"]) == (nodes, gpn)] or fits
    short = acc.split("-")[0]
    ok = [x for x in fits if config_accelerator(x[0]) in (None, short)]
    pool = (
        [x for x in ok if _named(x[0], system_dir)]
        or [x for x in ok if _own(x[0], system_dir)]
        or [x for x in fits if _own(x[0], system_dir)]
        or [x for x in ok if config_accelerator(x[0]) == short]
        or ok
    )
    if not pool:
        return None
    distinct = {json.dumps({k: p[k] for k in PLAN_KEYS}, sort_keys=True) for _, p in pool}
    f, p = sorted(pool)[0]
    return f, p, ("exact" if len(distinct) == 1 else "ambiguous")


# ---- rows ---------------------------------------------------------------------------------------------------


def accelerator(name: str) -> str:
    """The short accelerator name of a system description's; ``A+B`` for a system mixing two (MangoBoost's
    MI300X + MI325X inference clusters)."""
    found: list[str] = []
    rest = name
    for key, short in ACCELERATORS:
        if key in rest:
            found.append(short)
            rest = rest.replace(key, "")
    return "+".join(sorted(found)) if found else name


def modelled(acc: str, plan: dict[str, Any] | None, status: str) -> str:
    if acc not in HWDB_SYSTEM:
        return f"no: no hwdb device for {acc}"
    if plan is None:
        return "no: no config file reproduces the logged GPU count and global batch"
    if status != "exact":
        return "no: several config files match with different plans"
    return "yes"


def role(row: dict[str, Any]) -> str:
    if row["modelled"] != "yes":
        return "excluded"
    fit = FIT.get((row["hwdb_system"], row["version"]))
    # FP4 (NVFP4) rows are held out: a profile is the compute factor of the round's bf16/fp8 runs, and the FP4
    # GEMM and cast figures they would be fitted through are assumptions (hwdb gemm_4bit_fraction) they test.
    fp4 = bool(json.loads(row["plan"]).get("fp4")) if row.get("plan") else False
    if fit == row["submitter"] and row["benchmark"] == FIT_BENCHMARK and not fp4:
        return "fit"
    return "holdout"


def training_rows(version: str, repo: Path) -> list[dict[str, Any]]:
    commit = commit_of(repo)
    tree = files(repo)
    results: dict[tuple[str, str, str], list[str]] = {}
    pat = re.compile(r"^([^/]+)/results/([^/]+)/([^/]+)/(result_[^/]+\.txt)$")
    for f in tree:
        m = pat.match(f)
        if m and m.group(3) in BENCHMARKS:
            results.setdefault((m.group(1), m.group(2), m.group(3)), []).append(f)
    cfg_cache: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {}
    rows = []
    for (submitter, sysdir, bench), fs in sorted(results.items()):
        try:
            sysjson = json.loads(show(repo, f"{submitter}/systems/{sysdir}.json"))
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            sysjson = {}
        acc = accelerator(str(sysjson.get("accelerator_model_name", "")))
        nodes = _int(str(sysjson.get("number_of_nodes", "")), 0)
        gpn = _int(str(sysjson.get("accelerators_per_node", "")), 0)
        per_file, how, gbs, seq, ga = {}, set(), None, None, None
        missing = []
        for f in sorted(fs):
            try:
                recs = mllog(show(repo, f))
            except subprocess.CalledProcessError:  # a blob the snapshot lacks (large files may be absent)
                missing.append(Path(f).name)
                continue
            g = first(recs, "global_batch_size")
            if g is None:
                continue
            gbs, seq = int(g), first(recs, "max_sequence_length") or seq
            ga = first(recs, "gradient_accumulation_steps") or ga
            r = file_rate(recs, float(g))
            if r is not None:
                per_file[Path(f).name] = round(r[0], 6)
                how.add(r[1])
        if not per_file or gbs is None:
            continue
        key = (submitter, bench)
        if key not in cfg_cache:
            cfg_cache[key] = configs_for(repo, tree, submitter, bench)
        gpus = nodes * gpn
        m = match_config(cfg_cache[key], nodes, gpn, gbs, sysdir, acc)
        cfg, plan, status = m if m else ("", None, "none")
        if plan is not None:
            plan = {
                **plan,
                "grad_accum": ga,
                "seq_len": seq or (8192 if bench == "llama2_70b_lora" else None),
            }
        res_dir = f"{submitter}/results/{sysdir}/{bench}"
        row = {
            "version": version, "submitter": submitter, "system_dir": sysdir,
            "system_name": sysjson.get("system_name", ""), "accelerator": acc, "gpus": gpus, "nodes": nodes,
            "gpus_per_node": gpn, "benchmark": bench, "metric": "train_throughput", "unit": "samples/s",
            "value": round(statistics.median(per_file.values()), 6), "n_results": len(per_file),
            "per_file": json.dumps(per_file, sort_keys=True), "rate_source": "+".join(sorted(how)),
            "plan": json.dumps(plan, sort_keys=True) if plan else "", "plan_status": status, "config": cfg,
            "hwdb_system": HWDB_SYSTEM.get(acc, ""),
            "source": f"mlcommons/training_results_{version}@{commit}:{res_dir}/result_*.txt; "
            f"{submitter}/systems/{sysdir}.json" + (f"; {cfg}" if cfg else ""),
        }  # fmt: skip
        row["modelled"] = modelled(acc, plan, status)
        row["role"] = role(row)
        rows.append(row)
    return rows


# ---- inference ----------------------------------------------------------------------------------------------

INFERENCE_OUT = ROOT / "python" / "perfmodel" / "data" / "mlperf_v5_inference.csv"
#: The LLM benchmarks of MLPerf Inference v5.x (closed division); both accuracy targets of Llama 2 70B.
INFERENCE_BENCHMARKS = (
    "llama2-70b-99", "llama2-70b-99.9", "llama2-70b-interactive-99", "llama2-70b-interactive-99.9",
    "llama3.1-405b", "llama3_1-405b", "llama3.1-8b", "llama3_1-8b", "mixtral-8x7b", "deepseek-r1",
)  # fmt: skip
INFERENCE_COLUMNS = (
    "version", "submitter", "system_dir", "system_name", "accelerator", "gpus", "benchmark", "scenario",
    "samples_per_s", "tokens_per_s", "output_tokens_per_sample", "valid", "weight_data_types", "hwdb_system",
    "modelled", "source",
)  # fmt: skip
#: Why most inference rows are not predicted (docs/mlperf5_validation.md): an offline or server run's throughput
#: depends on every request's prompt length and on the submission's plan. The prompt lengths of the Llama 2 70B
#: (OpenOrca) set are read from a published per-sample extract (``perfmodel.validation.mlperf5.OPENORCA_SOURCE``)
#: and NVIDIA's Llama 2 70B plans from its Offline, Server and Interactive configs (``NVIDIA_LLAMA2_PLANS``), so
#: those rows are priced (:func:`inference_modelled`); the other benchmarks and harnesses are not.
NOT_MODELLED = (
    "no: only Llama 2 70B (Offline, Server, Interactive) on B200/GB200 with NVIDIA's TensorRT harness and on "
    "MI325X with AMD's vLLM harness, Llama 3.1 8B/405B on B200/GB200 with NVIDIA's TensorRT harness, DeepSeek-R1 "
    "(Offline, Server) on B200/GB200 with NVIDIA's configs and Mixtral-8x7B (Offline, Server) on MI325X with AMD's "
    "harness are priced (lengths and plan known); this benchmark/harness is not"
)
#: Systems outside the ``*_TRT`` naming that run NVIDIA's TensorRT harness with its Llama 3.1 configs: Azure's
#: ``closed/Azure/configs/ND_GB200_v6/{Offline,Server}/llama3_1-405b.py`` (@965182b0, NVIDIA's config format and
#: engine settings; ``perfmodel.validation.mlperf5.LLAMA31_OVERRIDES``).
LLAMA31_NVIDIA_HARNESS_SYSTEMS = ("ND_GB200_v6",)
#: The MI325X submitters whose code ships AMD's vLLM harness with AMD's Llama 2 70B plans
#: (``closed/<submitter>/code/llama2-70b-99/harness_llm/models/llama2-70b/{offline,server,interactive}_mi325x.yaml``
#: in inference_results_v5.1 @965182b0, engine settings as AMD's: only the custom scheduler's decode-batch targets
#: differ). ASUSTeK and Supermicro ship no harness config; MangoBoost runs its own LLMBoost stack.
AMD_HARNESS_SUBMITTERS = ("AMD", "GigaComputing", "MiTAC", "Quanta_Cloud_Technology", "Vultr")
#: MI325X submitters that ship no harness config but whose measurement READMEs run AMD's by name, from AMD's image:
#: ASUSTeK (``closed/ASUSTeK/measurements/ESC_A8A_MI325X_256GBx8/<benchmark>/<scenario>/README.md``: ``--config-name
#: {offline,server,interactive}_MI325X`` of ``code/<benchmark>/harness_llm/models/...``,
#: ``rocm/mlperf-inference:submission_5.1-llama2_70b`` / ``-mixtral_8x7b``; system json framework vLLM
#: 0.6.5.dev964+mlperf50, as the other AMD-harness MI325X submitters'). Supermicro's MI325X runs are MangoBoost's
#: LLMBoost (system json ``framework``), not priced (:data:`LLMBOOST`).
AMD_HARNESS_BY_README = ("ASUSTeK",)
#: Why Supermicro's MI325X rows stay unpriced.
LLMBOOST = (
    "no: MangoBoost's LLMBoost stack (system json framework 'Mango LLMBoost'; code/llama2-70b-99.9/vllm_args.json), "
    "not AMD's vLLM harness; LLMBoost's serving is not modelled (as MangoBoost's own rows)"
)
#: The DeepSeek-R1 submitters whose B200/GB200 configs are NVIDIA's (``closed/<submitter>/configs/*/{Offline,Server}/
#: deepseek-r1.py`` @965182b0; departures in ``perfmodel.validation.mlperf5.MOE_SUBMITTER_PLANS``).
DSR1_SUBMITTERS = ("NVIDIA", "Dell", "GigaComputing", "Google")
#: The scenarios priced.
PRICED_SCENARIOS = ("Offline", "Server", "Interactive")


def inference_modelled(row: dict[str, Any]) -> str:
    """``yes`` for the rows ``perfmodel.validation.mlperf5`` prices: Llama 2 70B (99 and 99.9) Offline, Server and
    Interactive, valid, on B200 or GB200 run with NVIDIA's TensorRT harness (system directory ending ``_TRT``) on
    FP4 weights, or on MI325X with AMD's vLLM harness (:data:`AMD_HARNESS_SUBMITTERS`, :data:`AMD_HARNESS_BY_README`);
    DeepSeek-R1 Offline and Server on B200/GB200 with NVIDIA's configs (:data:`DSR1_SUBMITTERS`, FP4); Mixtral-8x7B
    Offline and Server on MI325X with AMD's harness."""
    llama2 = row["benchmark"] in ("llama2-70b-99", "llama2-70b-99.9") and row["scenario"] in PRICED_SCENARIOS
    nvidia = (
        row["accelerator"] in ("B200", "GB200") and str(row["system_dir"]).endswith("_TRT")
        and row["weight_data_types"] == "fp4"
    )  # fmt: skip
    amd = (
        row["accelerator"] == "MI325X" and row["submitter"] in AMD_HARNESS_SUBMITTERS + AMD_HARNESS_BY_README
    )
    # Llama 3.1 8B and 405B on NVIDIA's harness (plans: perfmodel.validation.mlperf5.NVIDIA_LLAMA31_PLANS; GB200
    # 8B has no row, GB200 Interactive only the 72-GPU config).
    llama31 = (
        row["benchmark"] in LLAMA31_BENCHMARKS and row["scenario"] in PRICED_SCENARIOS
        and row["accelerator"] in ("B200", "GB200") and row["weight_data_types"] == "fp4"
        and (str(row["system_dir"]).endswith("_TRT") or row["system_dir"] in LLAMA31_NVIDIA_HARNESS_SYSTEMS)
    )  # fmt: skip
    moe = row["scenario"] in ("Offline", "Server") and (
        (row["benchmark"] == "deepseek-r1" and nvidia and row["submitter"] in DSR1_SUBMITTERS)
        or (row["benchmark"] == "mixtral-8x7b" and amd)
    )
    if row["accelerator"] == "MI325X" and row["submitter"] == "Supermicro":
        return LLMBOOST
    priced = ((llama2 and (nvidia or amd)) or llama31 or moe) and row["valid"] == "VALID"
    return "yes" if priced else NOT_MODELLED


_SUMMARY = {
    "samples_per_s": re.compile(r"^(?:Completed )?[Ss]amples per second\s*:\s*([0-9.eE+]+)", re.M),
    "tokens_per_s": re.compile(r"^(?:Completed )?[Tt]okens per second\s*:\s*([0-9.eE+]+)", re.M),
    "valid": re.compile(r"^Result is\s*:\s*(\w+)", re.M),
}


def inference_rows(version: str, repo: Path) -> list[dict[str, Any]]:
    """One row per closed-division result (submitter, system, benchmark, scenario) of an LLM benchmark:
    ``mlperf_log_summary.txt`` of ``performance/run_1`` (samples/s, tokens/s: output tokens, validity), the
    system description (accelerator and count) and the measurements json (weight data types)."""
    commit = commit_of(repo)
    pat = re.compile(
        r"^closed/([^/]+)/results/([^/]+)/([^/]+)/([^/]+)/performance/run_1/mlperf_log_summary\.txt$"
    )
    rows = []
    for f in files(repo):
        m = pat.match(f)
        if not m or m.group(3) not in INFERENCE_BENCHMARKS:
            continue
        submitter, sysdir, bench, scenario = m.groups()
        try:
            text = show(repo, f)
            sysjson = json.loads(show(repo, f"closed/{submitter}/systems/{sysdir}.json"))
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            continue
        got = {k: (rx.search(text).group(1) if rx.search(text) else None) for k, rx in _SUMMARY.items()}
        meas = f"closed/{submitter}/measurements/{sysdir}/{bench}/{scenario}/{sysdir}_{scenario}.json"
        try:
            wdt = json.loads(show(repo, meas)).get("weight_data_types", "")
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            wdt = ""
        acc = accelerator(str(sysjson.get("accelerator_model_name", "")))
        gpus = _int(str(sysjson.get("number_of_nodes", "")), 1) * _int(
            str(sysjson.get("accelerators_per_node", "")), 0
        )
        sps = float(got["samples_per_s"]) if got["samples_per_s"] else None
        tps = float(got["tokens_per_s"]) if got["tokens_per_s"] else None
        rows.append({
            "version": version, "submitter": submitter, "system_dir": sysdir,
            "system_name": sysjson.get("system_name", ""), "accelerator": acc, "gpus": gpus, "benchmark": bench,
            "scenario": scenario, "samples_per_s": sps, "tokens_per_s": tps,
            "output_tokens_per_sample": round(tps / sps, 2) if sps and tps else None, "valid": got["valid"] or "",
            "weight_data_types": wdt, "hwdb_system": HWDB_SYSTEM.get(acc, ""), "modelled": NOT_MODELLED,
            "source": f"mlcommons/inference_results_{version}@{commit}:{f}; closed/{submitter}/systems/{sysdir}.json",
        })  # fmt: skip
        rows[-1]["modelled"] = inference_modelled(rows[-1])
    return rows


def _write(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in columns})
    print(f"wrote {len(rows)} rows to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--training", action="append", default=[], help="VERSION=GIT_DIR (repeatable)")
    ap.add_argument("--inference", action="append", default=[], help="VERSION=GIT_DIR (repeatable)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--inference-out", type=Path, default=INFERENCE_OUT)
    a = ap.parse_args()
    if a.training:
        rows: list[dict[str, Any]] = []
        for spec in a.training:
            version, _, path = spec.partition("=")
            rows += training_rows(version, Path(path))
        _write(a.out, rows, COLUMNS)
    if a.inference:
        irows: list[dict[str, Any]] = []
        for spec in a.inference:
            version, _, path = spec.partition("=")
            irows += inference_rows(version, Path(path))
        _write(a.inference_out, irows, INFERENCE_COLUMNS)


if __name__ == "__main__":
    main()
