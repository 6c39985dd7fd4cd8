"""The ``perfmodel serve`` CLI prints the library's numbers and one-line errors; serving charts carry the
expected encodings."""

from __future__ import annotations

import math
from pathlib import Path

import altair as alt
import perfmodel as pm
import polars as pl
import pytest
from perfmodel import cli, cli_serve
from perfmodel.plots import serve as serve_plots

MODEL, SYSTEM = "llama3-70b", "dgx-h100"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(["serve", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_prefill_and_decode_print_the_api_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "prefill", MODEL, SYSTEM, "--tp", "8", "--batch", "2", "--prompt-len", "1024")
    assert rc == 0
    p = pm.serve.prefill(MODEL, SYSTEM, tp=8, batch=2, prompt_len=1024)
    assert f"{p.time_s * 1e3:.3f} ms" in out
    assert f"{p.tokens_per_s:,.1f} prompt tokens/s" in out
    assert f"{p.tp_comm_s * 1e3:.3f} ms" in out

    rc, out, _ = _run(capsys, "decode", MODEL, SYSTEM, "--tp", "8", "--batch", "32", "--context-len", "4096")
    assert rc == 0
    d = pm.serve.decode(MODEL, SYSTEM, tp=8, batch=32, context_len=4096)
    assert f"{d.time_s * 1e3:.3f} ms" in out
    assert f"{d.tokens_per_s:,.1f} output tokens/s" in out
    assert "calibration:" in out


def test_memory_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "memory", MODEL, SYSTEM, "--tp", "4")
    assert rc == 0
    m = pm.serve.memory(MODEL, SYSTEM, tp=4)
    assert m.explain() in out
    assert f"{m.kv_tokens:,.0f} tokens" in out
    assert f"{m.weights_bytes / 2**30:9.2f} GiB" in out


def test_simulate_summary_and_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv = tmp_path / "req.csv"
    rc, out, _ = _run(
        capsys, "simulate", MODEL, SYSTEM, "--tp", "4", "--replicas", "2", "--rate", "6", "--num-requests", "200",
        "--prompt-tokens", "lognormal:600:1.0:4000", "--output-tokens", "uniform:50:300", "--slo-ttft", "1",
        "--slo-tpot", "0.05", "--csv", str(csv),
    )  # fmt: skip
    assert rc == 0
    sim = pm.serve.simulate(
        MODEL, SYSTEM, tp=4, replicas=2, rate=6.0, num_requests=200, prompt_tokens=("lognormal", 600, 1.0, 4000),
        output_tokens=("uniform", 50, 300), slo_ttft_s=1.0, slo_tpot_s=0.05,
    )  # fmt: skip
    s = sim.summary
    for key in ("mean_ttft_s", "p90_ttft_s", "p99_tpot_s", "p50_e2e_s"):
        assert f"{s[key] * 1e3:.3f} ms" in out, key
    assert f"{s['output_tokens_per_s']:,.1f} output tokens/s" in out
    assert f"{s['goodput_requests_per_s']:,.3f} requests/s" in out
    assert f"SLO attainment {s['slo_attainment']:.1%}" in out
    written = pl.read_csv(csv)
    assert written.height == 200
    assert written["ttft_s"].to_list() == pytest.approx(sim.requests["ttft_s"].to_list())


def test_simulate_from_a_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trace = pm.serve.requests(4.0, 50, 300, 60, seed=3)
    path = tmp_path / "trace.csv"
    trace.write_csv(path)
    rc, out, _ = _run(capsys, "simulate", MODEL, SYSTEM, "--tp", "8", "--requests", str(path))
    assert rc == 0
    s = pm.serve.simulate(MODEL, SYSTEM, tp=8, requests=trace).summary
    assert out.startswith("50 requests")
    assert f"{s['mean_tpot_s'] * 1e3:.3f} ms" in out


def test_throughput_prints_the_api_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "throughput", "llama3-8b", SYSTEM, "--tp", "1", "--isl", "512", "--osl", "128",
                      "--num-requests", "300")  # fmt: skip
    assert rc == 0
    s = pm.serve.max_throughput("llama3-8b", SYSTEM, tp=1, isl=512, osl=128, num_requests=300).summary
    assert f"{s['output_tokens_per_s']:,.1f}" in out


@pytest.mark.parametrize(
    ("argv", "needle", "code"),
    [
        (["prefill", "no-such-model", SYSTEM, "--tp", "8"], "unknown model preset 'no-such-model'", 1),
        (["decode", MODEL, SYSTEM, "--tp", "3"], "tp (3) must divide", 1),
        (["simulate", MODEL, SYSTEM, "--tp", "1", "--rate", "1"], "does not fit", 1),
        (["simulate", MODEL, SYSTEM, "--tp", "8"], "give either --rate", 2),
        (["memory", MODEL, "no-such-system", "--tp", "8"], "no-such-system", 1),
    ],
)
def test_errors_are_one_line_with_exit_1_or_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str, code: int
) -> None:
    """Model errors exit with 1, usage errors (no --rate and no --requests) with 2; one line on stderr."""
    rc, out, err = _run(capsys, *argv)
    assert rc == code
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"perfmodel serve {argv[0]}: error: ")
    assert needle in err


def test_length_argument_parsing() -> None:
    assert cli_serve._length("512") == 512
    assert cli_serve._length("uniform:10:20") == ("uniform", 10.0, 20.0)
    assert cli_serve._length("lognormal:600:1:4000") == ("lognormal", 600.0, 1.0, 4000.0)
    assert cli_serve._rate("inf") == math.inf
    with pytest.raises(SystemExit):
        cli_serve.main(["simulate", MODEL, SYSTEM, "--rate", "1", "--prompt-tokens", "gamma:1:2"])


def _encodings(chart: alt.TopLevelMixin) -> list[dict[str, dict]]:
    spec = chart.to_dict()
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "encoding" in node:
                found.append(node["encoding"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    return found


def _sweep() -> pl.DataFrame:
    return serve_plots.latency_sweep(
        "llama3-8b", SYSTEM, {"TP1 x 2": {"tp": 1, "replicas": 2}, "TP2 x 1": {"tp": 2}}, [2.0, 6.0],
        num_requests=80, prompt_tokens=400, output_tokens=60,
    )  # fmt: skip


def test_latency_sweep_and_chart() -> None:
    f = _sweep()
    assert f.height == 4 and set(f["plan"]) == {"TP1 x 2", "TP2 x 1"}
    assert f.filter(pl.col("plan") == "TP1 x 2")["gpus"].to_list() == [2, 2]
    one = pm.serve.simulate(
        "llama3-8b", SYSTEM, tp=2, rate=6.0, num_requests=80, prompt_tokens=400, output_tokens=60
    )
    row = f.filter((pl.col("plan") == "TP2 x 1") & (pl.col("rate") == 6.0)).row(0, named=True)
    assert row["p90_tpot_s"] == pytest.approx(one.p90_tpot_s)
    chart = serve_plots.latency_vs_rate(f, slo_ttft_s=1.0, slo_tpot_s=0.05)
    assert isinstance(chart, alt.HConcatChart)
    enc = [e for e in _encodings(chart) if "color" in e]
    assert [e["y"]["field"] for e in enc] == ["ttft_ms", "tpot_ms"]
    assert all(e["x"]["field"] == "rate" and e["color"]["field"] == "plan" for e in enc)
    assert "ms" in enc[0]["y"]["title"] and "requests/s" in enc[0]["x"]["title"]
    with pytest.raises(pm.PerfModelError, match="missing column"):
        serve_plots.latency_vs_rate(f.drop("p90_ttft_s"))


def test_pareto_chart_and_front() -> None:
    f = pl.DataFrame({"plan": ["a", "b", "c", "d"], "output_tokens_per_s": [800.0, 400.0, 300.0, 900.0],
                      "gpus": [2, 2, 2, 2], "mean_tpot_s": [0.05, 0.02, 0.04, 0.1]})  # fmt: skip
    # tokens/s/user 20, 50, 25, 10; per GPU 400, 200, 150, 450: c is dominated by a
    front = serve_plots.pareto_front(
        f.with_columns(x=1 / pl.col("mean_tpot_s"), y=pl.col("output_tokens_per_s") / 2), "x", "y"
    )
    assert front.to_list() == [True, True, False, True]
    chart = serve_plots.pareto(f)
    assert isinstance(chart, alt.LayerChart)
    enc = _encodings(chart)
    pts = next(e for e in enc if "shape" in e)
    assert pts["x"]["field"] == "tokens_per_s_per_user" and pts["y"]["field"] == "output_tokens_per_s_per_gpu"
    assert pts["shape"]["field"] == "pareto" and pts["color"]["field"] == "plan"
    assert "per GPU" in pts["y"]["title"]


def test_memory_breakdown_chart(tmp_path: Path) -> None:
    reports = {f"TP{tp}": pm.serve.memory(MODEL, SYSTEM, tp=tp) for tp in (4, 8)}
    chart = serve_plots.memory_breakdown(reports)
    assert isinstance(chart, alt.LayerChart)
    bars = next(e for e in _encodings(chart) if "color" in e)
    assert (
        bars["x"]["field"] == "GiB" and bars["y"]["field"] == "plan" and bars["color"]["field"] == "component"
    )
    values = chart.to_dict()["layer"][0]["data"]["values"]
    tp8 = {r["component"]: r["GiB"] for r in values if r["plan"] == "TP8"}
    assert set(tp8) == {"weights", "KV cache", "activations", "free"}
    assert tp8["weights"] == pytest.approx(reports["TP8"].weights_bytes / 2**30)
    assert sum(tp8.values()) == pytest.approx(reports["TP8"].capacity_bytes / 2**30)
    single = serve_plots.memory_breakdown(reports["TP8"])
    assert isinstance(single, alt.LayerChart)
    from perfmodel.plots import save

    assert save(single, tmp_path / "m.svg").read_text().startswith("<svg")
