"""Every chart of perfmodel, rendered on a small real input at the size it is saved: the PNG is the size of the
chart (times the scale), fits a page, and no two text marks overprint, none runs off the canvas and none is cut
short (perfmodel.plots.check, vl-convert's scenegraph and text metrics; tolerance 1 px, documented there).
Log axes stop at the data (no ``nice`` rounding out to the next power of ten) and HTML embeds Vega inline."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("altair")
pytest.importorskip("vl_convert")

import perfmodel as pm  # noqa: E402
import polars as pl  # noqa: E402
from perfmodel.daq import plots as daq_plots  # noqa: E402
from perfmodel.plots import check, cost, llm, power, roofline, save, serve, serve_disagg, sizing  # noqa: E402
from perfmodel.plots import collectives as cp  # noqa: E402

LOG = Path(__file__).parent / "data" / "nccl_tests" / "mi300x_8gpu_all_reduce_rccl.txt"
SCALE = 2.0
#: A chart must fit a page or a README column at scale 1 (pixels), and not be a postage stamp.
MAX_W, MAX_H = 1100, 760
MIN_W, MIN_H = 300, 100


@functools.cache
def _estimates() -> dict[str, pm.llm.Estimate]:
    return {
        "tp8 pp2 full recompute": pm.llm.estimate(
            "megatron-39b", ("dgx-a100", 8), tp=8, pp=2, global_batch=64, recompute="full"
        ),
        "tp8 pp4 SP selective": pm.llm.estimate(
            "megatron-39b", ("dgx-a100", 8), tp=8, pp=4, global_batch=64, sp=True, recompute="selective"
        ),
    }


@functools.cache
def _kernels() -> pl.DataFrame:
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    g = pm.roofline.gemm
    parts = [
        g(h100, 8192, 10240, 8192).with_columns(label=pl.lit("QKV proj")),
        g(h100, 8192, 57344, 8192).with_columns(label=pl.lit("MLP up (SwiGLU)")),
        g(h100, 8192, 8192, 8192, dtype="fp8").with_columns(label=pl.lit("fp8 GEMM")),
        g(h100, 8, 8192, 8192).with_columns(label=pl.lit("decode GEMV-like")),
        pm.roofline.attention(h100, 1, 64, 8192, 128).with_columns(label=pl.lit("flash attention fwd")),
        pm.roofline.memory_bound(h100, 2**27, 2**27, flops=5 * 2**26).with_columns(label=pl.lit("RMSNorm")),
    ]
    return pl.concat([p.select("intensity", "tflops", "bound", "label") for p in parts])


@functools.cache
def _serve_sweep() -> pl.DataFrame:
    kw = dict(num_requests=60, prompt_tokens=400, output_tokens=60, seed=1)
    plans = {"8x H100 TP2 x 4": {"tp": 2, "replicas": 4}, "8x H100 TP8 x 1": {"tp": 8}}
    return serve.latency_sweep("llama3-8b", "dgx-h100", plans, [4.0, 16.0, 32.0], **kw)


@functools.cache
def _daq() -> pl.DataFrame:
    return pm.daq.lever_sweep("cms-run5")


def _placements() -> tuple[pl.DataFrame, pl.DataFrame]:
    m = pm.llm.model("megatron-7.5b")
    plan: dict[str, Any] = dict(
        tp=4, pp=2, micro_batch=4, global_batch=128, sp=True, recompute="selective", zero=1, dtype="fp16"
    )
    rows = pl.concat(
        [
            pm.llm.compare_placements(m, pm.cluster(groups), **plan).with_columns(nic_mix=pl.lit(name))
            for name, groups in {
                "8 IB": [("holmes-a100-ib", 8)],
                "4 RoCE + 4 IB": [("holmes-a100-roce", 4), ("holmes-a100-ib", 4)],
                "8 Eth": [("holmes-a100-eth", 8)],
            }.items()
        ]
    )
    published = pl.DataFrame(
        {
            "nic_mix": ["4 RoCE + 4 IB"] * 2,
            "placement": ["naive", "nic-aware"],
            "tflops_per_gpu": [145.0, 195.0],
        }
    )
    return rows, published


def _power_batch() -> Any:
    f = power.power_vs_batch("llama3.1-8b", "dgx-h100", [1, 4, 16, 64, 256], context_len=1024)
    return power.power_energy_chart(f, title="Llama-3.1-8B decode on one H100 (vLLM)", tdp_w=700)


def _energy_pareto() -> Any:
    plans = pm.serve.search("llama3-8b", pm.cluster("dgx-h100", 1), num_requests=64, prompt_tokens=256,
                            output_tokens=64, max_num_seqs=(16, 64), max_pp=1)  # fmt: skip
    return power.energy_latency_pareto(plans)


def _cost() -> Any:
    w = pm.serve.mix.workload(pm.serve.mix.trace_requests("lmsys_05"))
    f = cost.cost_sweep("llama2-7b", ["g6-l4", "g5-a10g"], w, [2.0, 8.0], tpot_slo_s=0.12, dtype="fp16")
    return cost.cost_vs_rate(f, "Llama-2-7B, LMSYS-Chat requests, TPOT <= 120 ms")


def _disagg() -> Any:
    kw = dict(num_requests=40, prompt_tokens=512, output_tokens=64, seed=3)
    co = {"co-located TP1 x 2": {"where": "dgx-h100", "tp": 1, "replicas": 2}}
    split = {"1 P + 1 D": {"prefill": pm.serve.Pool("dgx-h100"), "decode": pm.serve.Pool("dgx-h100")}}
    f = serve_disagg.disagg_sweep("llama3-8b", co, split, [2.0, 6.0], **kw)
    return serve_disagg.latency_vs_rate(f, slo_ttft_s=1.0, slo_tpot_s=0.05)


def _sizing_sweep() -> pl.DataFrame:
    return pm.llm.sizing_sweep(
        ["h100-sxm5-80gb", "mi300x"], hidden=list(range(2048, 4096 + 1, 256)), head_dim=128
    )


def _heads_hidden() -> Any:
    grid = pm.llm.sizing_sweep(["mi300x"], hidden=list(range(2048, 4096 + 1, 256)), heads=[16, 24, 32, 64])
    return sizing.heads_hidden_heatmap(grid.filter(pl.col("head_dim").is_between(32, 256)), "mi300x")


CHARTS: dict[str, Callable[[], Any]] = {
    "roofline.roofline_chart": lambda: roofline.roofline_chart("h100-sxm5-80gb", _kernels()),
    "roofline.roofline_chart[mi300x, no kernels]": lambda: roofline.roofline_chart("mi300x"),
    "roofline.gemm_efficiency_chart": lambda: roofline.gemm_efficiency_chart(
        ["a100-sxm4-80gb", "h100-sxm5-80gb", "mi300x"]
    ),
    "collectives.busbw_chart": lambda: cp.busbw_chart(
        cp.compare_curves({"8x H100 (DGX H100)": ("dgx-h100", 8), "8x MI300X": ("mi300x-pollara-node", 8)}),
        cp.measured_points(pm.nccl_tests.read(LOG), label="8x MI300X rccl-tests"),
        title="all_reduce busbw: model lines, rccl-tests points",
    ),
    "collectives.busbw_vs_size": lambda: cp.busbw_vs_size("dgx-h100", "all_reduce", 8, algorithms="all"),
    "collectives.busbw_vs_size[log]": lambda: cp.busbw_vs_size(
        "mi300x-pollara-node", measured=pm.nccl_tests.read(LOG), log_y=True
    ),
    "collectives.algorithm_map": lambda: cp.algorithm_map(pm.cluster("dgx-h100", 8), "all_reduce"),
    "llm.step_breakdown": lambda: llm.step_breakdown(_estimates()),
    "llm.memory_breakdown": lambda: llm.memory_breakdown(_estimates()),
    "llm.mfu_vs_gpus": lambda: llm.mfu_vs_gpus(
        "megatron-39b", "dgx-a100", [64, 128, 256], 256, {64: 0.5, 128: 0.48}, tp=8, pp=2, recompute="full"
    ),
    "llm.tp_pp_heatmap": lambda: llm.tp_pp_heatmap(
        pm.llm.search("megatron-39b", ("dgx-a100", 8), global_batch=64, micro_batch=[1])
    ),
    "llm.placement_bars": lambda: llm.placement_bars(*_placements()),
    "power.power_energy_chart": _power_batch,
    "power.energy_latency_pareto": _energy_pareto,
    "cost.cost_vs_rate": _cost,
    "sizing.sawtooth_chart": lambda: sizing.sawtooth_chart(_sizing_sweep()),
    "sizing.heads_hidden_heatmap": _heads_hidden,
    "serve.latency_vs_rate": lambda: serve.latency_vs_rate(_serve_sweep(), slo_ttft_s=1.0, slo_tpot_s=0.05),
    "serve.pareto": lambda: serve.pareto(_serve_sweep()),
    "serve.memory_breakdown": lambda: serve.memory_breakdown(
        {f"8x H100 TP{tp}": pm.serve.memory("llama3-70b", "dgx-h100", tp=tp) for tp in (2, 4, 8)}
    ),
    "serve_disagg.latency_vs_rate": _disagg,
    "daq.power_pareto": lambda: daq_plots.power_pareto(_daq()),
    "daq.power_by_stage": lambda: daq_plots.power_by_stage(
        pm.daq.lever_sweep("cms-run5", optical_links=False)
    ),
    "daq.relevant_per_kj": lambda: daq_plots.relevant_per_kj(
        pm.daq.lever_sweep("cms-run5", optical_links=False)
    ),
}


def _chart_functions() -> set[str]:
    """Every public function of the plots modules that returns a chart (its return annotation names altair)."""
    found = set()
    for prefix, mod in {
        "roofline": roofline, "collectives": cp, "llm": llm, "power": power, "cost": cost, "sizing": sizing,
        "serve": serve, "serve_disagg": serve_disagg, "daq": daq_plots,
    }.items():  # fmt: skip
        for name in getattr(mod, "__all__", []):
            fn = getattr(mod, name)
            if (
                inspect.isfunction(fn)
                and fn.__module__ == mod.__name__
                and "alt." in str(fn.__annotations__.get("return"))
            ):
                found.add(f"{prefix}.{name}")
    return found


def test_every_chart_function_is_checked() -> None:
    covered = {k.split("[")[0] for k in CHARTS}
    missing = _chart_functions() - covered
    assert not missing, f"chart functions without a layout check in CHARTS: {sorted(missing)}"


@functools.cache
def _built(name: str) -> Any:
    return CHARTS[name]()


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_layout(name: str, tmp_path: Path) -> None:
    chart = _built(name)
    w, h = check.canvas_size(chart)
    png = save(chart, tmp_path / "chart.png", scale=SCALE).read_bytes()
    pw, ph = check.png_size(png)
    assert abs(pw - SCALE * w) <= 1 and abs(ph - SCALE * h) <= 1, (pw, ph, w, h)
    assert MIN_W <= w <= MAX_W and MIN_H <= h <= MAX_H, f"{name}: {w} x {h} px at scale 1"
    problems = check.problems(chart)
    assert not problems, f"{name} ({w} x {h} px):\n" + "\n".join(map(str, problems))


def _log_scales(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        sc = node.get("scale")
        if isinstance(sc, dict) and sc.get("type") == "log":
            out.append((path, sc))
        for k, v in node.items():
            out += _log_scales(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _log_scales(v, f"{path}/{i}")
    return out


@pytest.mark.parametrize("name", list(CHARTS))
def test_log_axes_stop_at_the_data(name: str) -> None:
    """A log scale with Vega-Lite's default ``nice`` runs to the next power of ten (a GEMM sweep to 32k drawn to
    100,000): every log scale sets ``nice: false`` or its own domain."""
    for path, sc in _log_scales(_built(name).to_dict()):
        assert sc.get("nice") is False or "domain" in sc, f"{name}: log scale at {path} is niced: {sc}"


def test_html_embeds_vega_inline(tmp_path: Path) -> None:
    for chart in (_built("llm.step_breakdown"), _built("daq.relevant_per_kj")):
        html = save(chart, tmp_path / "c.html").read_text()
        assert "vega" in html and len(html) > 500_000
        assert not re.search(r"<script[^>]+src=", html), "a script loaded from outside the page"
        assert "cdn.jsdelivr" not in html
    page = daq_plots.save(_built("daq.relevant_per_kj"), tmp_path / "d.html").read_text()
    assert not re.search(r"<script[^>]+src=", page) and "cdn.jsdelivr" not in page


def test_check_finds_overprinted_text() -> None:
    import altair as alt

    rows = [{"x": 1.0, "y": 1.0, "t": "first label"}, {"x": 1.02, "y": 1.0, "t": "second label"}]
    c = alt.Chart(alt.Data(values=rows)).mark_text().encode(x="x:Q", y="y:Q", text="t:N")
    kinds = [p.kind for p in check.problems(c.properties(width=300, height=200))]
    assert kinds == ["overlap"]
    apart = [{"x": 1.0, "y": 1.0, "t": "first label"}, {"x": 2.0, "y": 2.0, "t": "second label"}]
    c = alt.Chart(alt.Data(values=apart)).mark_text().encode(x="x:Q", y="y:Q", text="t:N")
    assert check.problems(c.properties(width=300, height=200)) == []


def _make_figures() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("make_figures", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_figures_come_from_the_figure_script(tmp_path: Path) -> None:
    """Every image the README shows from docs/ is one scripts/make_figures.py writes, and the script builds them
    all with a clean layout (it refuses to write a figure whose text overprints)."""
    root = Path(__file__).resolve().parent.parent
    shown = set(re.findall(r"\]\((docs/[^)]+\.png)\)", (root / "README.md").read_text()))
    mf = _make_figures()
    assert shown and {f"docs/{n}" for n in mf.figures()} >= shown, shown
    written = mf.build(tmp_path)
    assert sorted(p.name for p in written) == sorted(mf.figures())
    for p in written:
        w, h = check.png_size(p.read_bytes())
        assert MIN_W * SCALE <= w <= MAX_W * SCALE and MIN_H * SCALE <= h <= MAX_H * SCALE, (p.name, w, h)
