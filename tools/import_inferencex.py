"""Reads InferenceMAX / InferenceX (SemiAnalysis) fixed-length serving results and writes the rows
``perfmodel.validation.serving_new`` predicts: ``python/perfmodel/data/inferencex_dsr1.csv``.

Source: the InferenceX dashboard's API snapshot that its front end commits as an end-to-end test fixture,
``packages/app/cypress/fixtures/api/benchmarks.json`` of ``SemiAnalysisAI/InferenceX-app`` (read from the fork
``vngcloud/InferenceX-app``, whose stored snapshot has it; commit ``528c414`` "refresh Cypress fixtures", June
2026). Each entry is the latest nightly result of one configuration (hardware, framework, precision, TP, EP,
DP-attention, ISL/OSL, concurrency), with the GitHub Actions run that produced it (``run_url``, in
``SemiAnalysisAI/InferenceX``) and its container image (the framework version; empty for older entries).

How those numbers were measured (``SemiAnalysisAI/InferenceX`` at ``843c625``): ``benchmarks/benchmark_lib.sh``
``run_benchmark_serving`` runs ``utils/bench_serving/benchmark_serving.py`` with ``--dataset-name random
--random-range-ratio 0.8`` (``.github/workflows/benchmark-tmpl.yml``: ``RANDOM_RANGE_RATIO: 0.8``),
``--request-rate inf --ignore-eos --max-concurrency CONC --num-prompts 10*CONC`` and ``2*CONC`` warm-up
requests; ``sample_random_requests`` draws every prompt and output length uniformly from the integers
``[int(0.8 * L), L]``. Throughputs are per GPU of the ``tp`` GPUs of the server (``tput_per_gpu`` total tokens,
``output_tput_per_gpu`` output tokens; the ``num_decode_gpu`` field of single-node entries is ``tp x ep`` and is
not used); latencies in seconds, TPOT per request (``(latency - ttft) / (output_len - 1)``) with its median over
requests.

``--history`` (default on) also reads the same snapshot's ``benchmarks-history.json`` (every earlier nightly result
of each configuration, December 2025 to June 2026) into ``inferencex_dsr1_history.csv``, less the entries already
in ``benchmarks.json``: other dates and framework versions of the same configurations, all held out.

Rows the serving model cannot represent are kept with the reason in ``excluded`` (and not predicted):
speculative decoding (``spec_method`` MTP), disaggregated prefill/decode (Dynamo, MoRI; multi-node), frameworks
with no framework class here (AMD ATOM), hardware without an hwdb system.

Run from the repository root, with the app repository fetched as a git directory (no work tree needed):

    python tools/import_inferencex.py --repo /path/InferenceX-app.git [--commit 528c414...] [--out CSV]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "python" / "perfmodel" / "data" / "inferencex_dsr1.csv"
REPO = "vngcloud/InferenceX-app"
PATH = "packages/app/cypress/fixtures/api/benchmarks.json"
HISTORY_PATH = "packages/app/cypress/fixtures/api/benchmarks-history.json"
HISTORY_OUT = OUT.with_name("inferencex_dsr1_history.csv")
COMMIT = "528c4146b8f502fcbce8df7870a935a970cbae25"
#: ``--random-range-ratio`` of every fixed-length run (benchmark-tmpl.yml).
RANGE_RATIO = 0.8

#: InferenceX hardware key -> hwdb system (one node of the GPUs the runs use).
SYSTEM = {
    "b200": "dgx-b200",
    "b300": "dgx-b300",
    "h100": "dgx-h100",
    "h200": "hgx-h200",
    "mi300x": "mi300x-pollara-node",
    "mi325x": "mi325x-node",
    "mi355x": "mi355x-pollara-node",
}
#: InferenceX framework -> perfmodel framework class (``trt``: TensorRT-LLM 1.x, PyTorch backend).
FRAMEWORK = {"sglang": "sglang", "trt": "trtllm-pytorch"}
#: InferenceX model key -> perfmodel preset (DeepSeek-R1 has the DeepSeek-V3 architecture, config.json of
#: deepseek-ai/DeepSeek-R1: same dimensions, 256 routed experts, MLA).
MODEL = {"dsr1": "deepseek-v3"}
#: Weight dtype by precision and vendor (NVFP4 checkpoints on NVIDIA, MXFP4 on AMD).
FP4 = {"nvidia": "nvfp4", "amd": "mxfp4"}

COLUMNS = (
    "source_repo", "source_path", "source_commit", "run_url", "date", "image", "hardware", "system", "framework",
    "framework_class", "model", "preset", "precision", "dtype", "kv_dtype", "tp", "ep", "dp_attention", "isl", "osl",
    "range_ratio", "conc", "num_prompts", "output_tput_per_gpu", "tput_per_gpu", "median_tpot_s", "mean_tpot_s",
    "median_ttft_s", "mean_ttft_s", "median_e2el_s", "excluded",
)  # fmt: skip


def kv_dtype(hw: str, framework: str) -> str:
    """The KV-cache dtype of the run scripts (``benchmarks/single_node/fixed_seq_len/dsr1_*``): SGLang runs pass
    ``--kv-cache-dtype fp8_e4m3`` except on H200 (16-bit), TensorRT-LLM runs ``kv_cache_config: dtype: fp8``."""
    return "bf16" if (hw == "h200" and framework == "sglang") else "fp8"


def excluded(r: dict[str, Any]) -> str:
    """Why a row is not modelled ('' when it is)."""
    if r["spec_method"] != "none":
        return f"speculative decoding ({r['spec_method']})"
    if r["disagg"] or r["is_multinode"]:
        return f"disaggregated prefill/decode ({r['framework']})"
    if r["framework"] not in FRAMEWORK:
        return f"framework '{r['framework']}' has no framework class"
    if r["hardware"] not in SYSTEM:
        return f"hardware '{r['hardware']}' has no hwdb system"
    if r["model"] not in MODEL:
        return f"model '{r['model']}' has no preset"
    return ""


def key(r: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one published result: the configuration, the date and the run."""
    return (r["hardware"], r["framework"], r["model"], r["precision"], r["spec_method"], r["disagg"], r["decode_tp"],
            r["decode_ep"], r["decode_dp_attention"], r["isl"], r["osl"], r["conc"], r["date"], r.get("run_url"))  # fmt: skip


def row(r: dict[str, Any], commit: str, path: str = PATH) -> dict[str, Any]:
    m = r["metrics"]
    hw, fw = r["hardware"], r["framework"]
    vendor = "amd" if hw.startswith("mi") else "nvidia"
    out = {
        "source_repo": REPO, "source_path": path, "source_commit": commit, "run_url": r.get("run_url") or "",
        "date": r.get("date") or "", "image": r.get("image") or "", "hardware": hw, "system": SYSTEM.get(hw, ""),
        "framework": fw, "framework_class": FRAMEWORK.get(fw, ""), "model": r["model"],
        "preset": MODEL.get(r["model"], ""), "precision": r["precision"],
        "dtype": FP4[vendor] if r["precision"] == "fp4" else r["precision"], "kv_dtype": kv_dtype(hw, fw),
        "tp": r["decode_tp"], "ep": r["decode_ep"], "dp_attention": int(bool(r["decode_dp_attention"])),
        "isl": r["isl"], "osl": r["osl"], "range_ratio": RANGE_RATIO, "conc": r["conc"], "num_prompts": 10 * r["conc"],
        "output_tput_per_gpu": m.get("output_tput_per_gpu", ""), "tput_per_gpu": m.get("tput_per_gpu", ""),
        "median_tpot_s": m.get("median_tpot", ""), "mean_tpot_s": m.get("mean_tpot", ""),
        "median_ttft_s": m.get("median_ttft", ""), "mean_ttft_s": m.get("mean_ttft", ""),
        "median_e2el_s": m.get("median_e2el", ""), "excluded": excluded(r),
    }  # fmt: skip
    missing = [k for k in ("tput_per_gpu", "median_tpot", "median_ttft") if k not in m]
    if not out["excluded"] and missing:
        out["excluded"] = f"metrics missing ({', '.join(missing)})"
    return out


def _read(repo: str, commit: str, path: str) -> list[dict[str, Any]]:
    text = subprocess.run(["git", "--git-dir", repo, "show", f"{commit}:{path}"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    out: list[dict[str, Any]] = json.loads(text)
    return out


def _write(rows: list[dict[str, Any]], out: Path) -> None:
    rows.sort(key=lambda x: (x["excluded"] != "", x["hardware"], x["framework"], x["precision"], x["isl"], x["osl"],
                             x["conc"], x["tp"], x["date"], x["run_url"]))  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    kept = sum(1 for x in rows if not x["excluded"])
    reasons: dict[str, int] = {}
    for x in rows:
        if x["excluded"]:
            reasons[x["excluded"]] = reasons.get(x["excluded"], 0) + 1
    print(f"wrote {len(rows)} rows to {out}: {kept} modelled")
    for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  excluded {v}: {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="git directory of InferenceX-app (a clone or bare mirror)")
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-history", action="store_true", help="skip benchmarks-history.json")
    a = ap.parse_args()
    latest = _read(a.repo, a.commit, PATH)
    _write([row(r, a.commit) for r in latest], a.out)
    if not a.no_history:
        seen = {key(r) for r in latest}
        earlier = [r for r in _read(a.repo, a.commit, HISTORY_PATH) if key(r) not in seen]
        _write([row(r, a.commit, HISTORY_PATH) for r in earlier], a.out.with_name(HISTORY_OUT.name))


if __name__ == "__main__":
    main()
