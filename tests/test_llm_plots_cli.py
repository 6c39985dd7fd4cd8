"""LLM charts render without a browser, and the ``llm`` CLI prints plans and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import perfmodel as pm
import pytest
from perfmodel import cli_llm
from perfmodel.plots import llm as llm_plots
from perfmodel.plots import save


def test_charts_render(tmp_path: Path) -> None:
    e = {"a": pm.llm.estimate("megatron-39b", ("dgx-a100", 8), tp=8, pp=2, global_batch=64, recompute="full")}
    r = pm.llm.search("megatron-39b", ("dgx-a100", 8), global_batch=64, micro_batch=[1])
    charts: dict[str, Any] = {
        "step": llm_plots.step_breakdown(e),
        "mem": llm_plots.memory_breakdown(e),
        "heat": llm_plots.tp_pp_heatmap(r),
        "mfu": llm_plots.mfu_vs_gpus(
            "megatron-39b", "dgx-a100", [64, 128], 128, tp=8, pp=2, recompute="full"
        ),
    }
    for name, chart in charts.items():
        out = save(chart, tmp_path / f"{name}.svg")
        assert out.read_text().startswith("<svg")


def test_cli_search_and_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_llm.main(["search", "megatron-39b", "dgx-a100", "8", "--global-batch", "64", "--top", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "step_time_s" in out and "candidates" in out
    assert (
        cli_llm.main(
            ["estimate", "gpt3-175b", "dgx-a100", "8", "--global-batch", "8", "--tp", "5", "--pp", "1"]
        )
        == 1
    )
    assert "tp=5 = 5 GPUs per data-parallel replica" in capsys.readouterr().err


def test_cli_estimate_lists_collectives_and_calibration(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["estimate", "gpt3-175b", "dgx-h100", "32", "--global-batch", "256", "--tp", "8", "--pp", "8", "--sp",
            "--recompute", "selective", "--zero", "1"]  # fmt: skip
    assert cli_llm.main(argv) == 0
    out = capsys.readouterr().out
    # Every communication term with its algorithm and the levels it crosses, and the factors applied.
    assert "node:nvlink(nvlink4-nvswitch)" in out and "scale-out:infiniband(cx7-ndr400)" in out
    assert "reduce_scatter" in out and "ring" in out
    n = pm.llm.calibration("dgx-h100")["network_bandwidth_scale"]
    assert "calibration of dgx-h100" in out and f"network x{n:.4g}" in out
