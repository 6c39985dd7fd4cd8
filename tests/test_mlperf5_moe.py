"""MLPerf Inference v5.1 MoE rows (issue 18, suite ``mlperf5``): DeepSeek-R1 on B200/GB200 with NVIDIA's configs
and Mixtral-8x7B on MI325X with AMD's vLLM harness, priced uncalibrated and held out."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel.validation import mlperf5 as m

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def moe() -> pl.DataFrame:
    rows = pl.DataFrame(m.moe_run())
    return rows.with_columns(error=pl.col("predicted") / pl.col("measured") - 1)


def _tool():  # tools/import_mlperf5.py as a module
    spec = importlib.util.spec_from_file_location("import_mlperf5", ROOT / "tools" / "import_mlperf5.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _group(rows: pl.DataFrame, benchmark: str, scenario: str) -> list[float]:
    sel = rows.filter(pl.col("operation").str.ends_with(f" {benchmark} {scenario}"))
    return sel["error"].to_list()


def test_lengths_are_the_published_per_sample_extracts() -> None:
    # openshift-psap/performance-dashboard mlperf-data/summaries (tok_input_len, tok_ref_output_len): DeepSeek-R1
    # 4,388 samples, prompts mean 803.79 (max 3,140), reference outputs mean 4,043.45 (max 32,768); Mixtral 15,000
    # samples, prompts mean 427.39 (max 1,948), outputs mean 144.84 (max 1,024).
    inp, out = m.moe_lengths("deepseek-r1")
    assert len(inp) == len(out) == 4388 and inp.max() == 3140 and out.max() == 32768
    assert abs(inp.mean() - 803.79) < 0.01 and abs(out.mean() - 4043.45) < 0.01
    inp, out = m.moe_lengths("mixtral-8x7b")
    assert len(inp) == len(out) == 15000 and inp.max() == 1948 and out.max() == 1024
    assert abs(inp.mean() - 427.39) < 0.01 and abs(out.mean() - 144.84) < 0.01
    with pytest.raises(ValueError, match="argument `benchmark`: 'llama2-70b'"):
        m.moe_lengths("llama2-70b")


def test_outputs_keep_the_logs_mean_under_the_harness_cap() -> None:
    # DeepSeek-R1: the reference outputs capped at NVIDIA's max_output_len (20,000) average 3,886; a run whose log
    # says 3,736 tokens per sample gets them scaled by 3,736 / 3,886.
    out = m.moe_output_lengths("deepseek-r1", 3736)
    assert abs(out.mean() / 3736 - 1) < 0.002 and out.max() <= 20000 and out.min() >= 1
    capped = np.minimum(m.moe_lengths("deepseek-r1")[1], 20000)
    assert abs(capped.mean() - 3886.2) < 0.1
    # Mixtral: vLLM stops a sequence at max_model_len (2,048), so long prompts' outputs are cut.
    q = m.moe_queries("mixtral-8x7b", 30000, 144, True, 2048)
    assert q.height == 30000 and (q["prompt_tokens"] + q["output_tokens"]).max() <= 2048
    assert set(q["arrival_s"].to_list()) == {0.0} and abs(q["output_tokens"].mean() / 144 - 1) < 0.01


def test_rows_priced_are_the_importers_rule() -> None:
    tool, d = _tool(), m.inference_data()
    for r in d.iter_rows(named=True):
        assert tool.inference_modelled(r) == r["modelled"], (r["submitter"], r["benchmark"], r["scenario"])
    rows = m.moe_rows()
    dsr1 = [r for r in rows if r["benchmark"] == "deepseek-r1"]
    mixtral = [r for r in rows if r["benchmark"] == "mixtral-8x7b"]
    assert len(dsr1) == 12 and {r["accelerator"] for r in dsr1} == {"B200", "GB200"}
    assert len(mixtral) == 12 and {r["accelerator"] for r in mixtral} == {"MI325X"}
    assert {r["scenario"] for r in rows} == {"Offline", "Server"}
    # ASUSTeK's MI325X Llama 2 70B rows run AMD's configs (its READMEs name them): priced; Supermicro's are
    # MangoBoost's LLMBoost: not, with the reason.
    new = d.filter(pl.col("accelerator").is_in(list(m.NEW_HARDWARE)))
    asus = new.filter((pl.col("submitter") == "ASUSTeK") & pl.col("benchmark").str.starts_with("llama2-70b"))
    assert asus.height == 6 and set(asus["modelled"]) == {"yes"}
    smc = new.filter((pl.col("submitter") == "Supermicro") & (pl.col("accelerator") == "MI325X"))
    assert smc.height == 4 and set(smc["modelled"]) == {tool.LLMBOOST}
    assert new.height == 207 and new.filter(pl.col("modelled") == "yes").height == 193


def test_plans_are_the_submitters_configs() -> None:
    # closed/NVIDIA/configs/B200-SXM-180GBx8/{Offline,Server}/deepseek-r1.py @965182b0.
    off, srv = m.DSR1_PLANS["Offline"], m.DSR1_PLANS["Server"]
    assert (off["tp"], off["ep"], off["attention_dp"], off["dtype"], off["kv_dtype"]) == (
        8,
        8,
        True,
        "nvfp4",
        "fp8",
    )
    assert (off["max_num_seqs"], off["max_num_batched_tokens"], srv["max_num_batched_tokens"]) == (
        512,
        4608,
        3456,
    )
    assert (
        off["framework"] == "trtllm-pytorch"
        and off["chunked_prefill"] is False
        and off["max_model_len"] == 23140
    )
    giga = next(r for r in m.moe_rows() if r["submitter"] == "GigaComputing" and r["benchmark"] == "deepseek-r1"
                and r["scenario"] == "Server")  # fmt: skip
    assert m.moe_plan(giga)["max_num_seqs"] == 768 and m.moe_plan(giga)["chunked_prefill"] is True
    gb200 = next(r for r in m.moe_rows() if r["accelerator"] == "GB200")
    assert m._moe_instances(gb200) == 9  # 72 GPUs, 9 TP8 instances (server_target_qps 5 x 9 in the config)
    # closed/AMD/code/mixtral-8x7b/harness_llm/models/mixtral-8x7b/{offline,server}_mi325x.yaml.
    mo, ms = m.MIXTRAL_PLANS["Offline"], m.MIXTRAL_PLANS["Server"]
    assert (mo["tp"], mo["dtype"], mo["kv_dtype"], mo["max_num_seqs"], mo["max_num_batched_tokens"]) == (
        1, "fp8", "fp8", 4736, 51200)  # fmt: skip
    assert (ms["max_num_seqs"], ms["max_num_batched_tokens"], ms["cuda_graphs"]) == (2560, 32000, 0.0)
    assert m.MOE_SLO == {"deepseek-r1": (2.0, 0.08), "mixtral-8x7b": (2.0, 0.2)}


def test_server_row_is_the_highest_rate_within_the_latency_limits() -> None:
    # NVIDIA's B200 DeepSeek-R1 Server row: at the predicted rate one instance holds p99 TTFT <= 2 s and p99 TPOT
    # <= 80 ms; 3 % faster it does not (the bisection's bracket is 1 %).
    r = next(x for x in m.moe_rows() if x["submitter"] == "NVIDIA" and x["accelerator"] == "B200"
             and x["benchmark"] == "deepseek-r1" and x["scenario"] == "Server")  # fmt: skip
    mean = round(r["output_tokens_per_sample"])
    rate = m.moe_server_predict(r) / r["output_tokens_per_sample"]
    q = m.moe_queries("deepseek-r1", m.MOE_SERVER_QUERIES["deepseek-r1"], mean, False, 23140)

    a = q["arrival_s"].to_numpy()
    base = (len(a) - 1) / (a[-1] - a[0])  # the trace's own mean rate, as max_rate scales it

    def run(qps: float) -> dict[str, float]:
        trace = q.with_columns(arrival_s=pl.Series((a - a[0]) * (base / qps) + a[0]))
        sim = pm.serve.simulate("deepseek-v3", "dgx-b200", requests=trace, balancer="least_outstanding",
                                **m.moe_plan(r))  # fmt: skip
        return sim.summary

    ok, over = run(rate), run(rate * 1.03)
    assert ok["p99_ttft_s"] <= 2.0 and ok["p99_tpot_s"] <= 0.08
    assert over["p99_ttft_s"] > 2.0 or over["p99_tpot_s"] > 0.08


def test_rows_are_held_out_and_grouped(moe: pl.DataFrame) -> None:
    assert moe.height == 24 and set(moe["role"]) == {"holdout"}
    assert set(moe["group"]) == {
        "mlperf_inference_deepseek-r1_b200", "mlperf_inference_deepseek-r1_server_b200",
        "mlperf_inference_deepseek-r1_gb200", "mlperf_inference_deepseek-r1_server_gb200",
        "mlperf_inference_mixtral-8x7b_mi325x", "mlperf_inference_mixtral-8x7b_server_mi325x",
    }  # fmt: skip
    assert all("performance-dashboard@" in s for s in moe["source"].to_list())


def test_deepseek_r1_server_rows_within_fifteen_percent(moe: pl.DataFrame) -> None:
    """DeepSeek-R1 Server (p99 TTFT 2 s, TPOT 80 ms), uncalibrated trtllm-pytorch: B200 -21 to +8 % (NVIDIA's own
    run -21 %), GB200 +10 %; median 9.0 %."""
    err = _group(moe, "deepseek-r1", "Server")
    assert len(err) == 6
    assert statistics.median(abs(e) for e in err) <= m.TARGETS["serving_median"]
    assert max(abs(e) for e in err) <= 0.25


@pytest.mark.xfail(
    strict=True,
    reason="DeepSeek-R1 Offline is priced at half the measured rate: B200 -54 to -59 %, GB200 -50 %. The engine "
    "prices MLA decode attention on the vector units (4 x heads x 192 FLOPs per cached token): at NVIDIA's batch, "
    "512 sequences per attention-DP rank at ~2,700 tokens of context, it is 111 of a 152 ms iteration, where an "
    "absorbed-MLA tensor-core kernel needs ~10 ms (an engine change, rust/; not fitted here)",
)
def test_deepseek_r1_offline_rows_within_fifteen_percent(moe: pl.DataFrame) -> None:
    err = _group(moe, "deepseek-r1", "Offline")
    assert len(err) == 6 and statistics.median(abs(e) for e in err) <= m.TARGETS["serving_median"]


@pytest.mark.xfail(
    strict=True,
    reason="Mixtral-8x7B on MI325X, uncalibrated vllm class, is priced fast: Offline +16 to +19 %, Server +10 to "
    "+18 %, median 16.4 % (AMD's Llama 2 70B rows on the same engine: -9 to +12 %)",
)
def test_mixtral_rows_within_fifteen_percent(moe: pl.DataFrame) -> None:
    err = _group(moe, "mixtral-8x7b", "Offline") + _group(moe, "mixtral-8x7b", "Server")
    assert len(err) == 12 and statistics.median(abs(e) for e in err) <= m.TARGETS["serving_median"]


def test_mixtral_rows_within_twenty_percent(moe: pl.DataFrame) -> None:
    err = _group(moe, "mixtral-8x7b", "Offline") + _group(moe, "mixtral-8x7b", "Server")
    assert len(err) == 12 and max(abs(e) for e in err) <= 0.20 and min(err) > 0
