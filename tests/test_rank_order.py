"""Issue 18: the plan's rank order. Megatron-core numbers ranks tp-cp-(ep)-dp-pp by default; with
``use_tp_pp_dp_mapping`` (NeMo's ``TP_PP_DP_MAPPING``, set by NVIDIA's MLPerf Llama 3.1 405B configs) tp-cp-pp-dp,
so a pipeline's stages are neighbours and the data-parallel replicas outermost. The groups' strides, and so their
placement over nodes or NVL72 domains, follow the order; every collective is still the collectives engine's."""

from __future__ import annotations

import json
from typing import Any

import perfmodel as pm
import pytest
from perfmodel.validation import mlperf5

CALIB = {
    "compute_time_scale": 1.0,
    "memory_time_scale": 1.0,
    "comm_bandwidth_scale": 1.0,
    "network_bandwidth_scale": 1.0,
}
#: IBM+CoreWeave+NVIDIA's 2,496-GPU GB200 Llama 3.1 405B run (MLPerf Training v5.0): TP 4 x CP 2 x PP 8 (VP 8) x
#: DP 39 over 39 NVLink domains of 64 GPUs, TP_PP_DP_MAPPING=True (its config_GB200_624x4x32xtp4pp8cp2.sh).
RUN_2496 = dict(tp=4, pp=8, vp=8, cp=2, dp=39, micro_batch=1, global_batch=1248, sp=True, dtype="fp8", zero=1,
                dp_overlap=True, tp_overlap=True, pp_overlap=True)  # fmt: skip


def _model_405b() -> pm.llm.Model:
    # 126 layers priced as 128 over PP 8 x VP 8 (mlperf5.layers_priced: NeMo's asymmetric split)
    f = {**pm.llm.model("llama3.1-405b").fields, "seq_len": 8192, "layers": 128}
    return pm.llm.model({k: int(v) if float(v).is_integer() else v for k, v in f.items()})


def _check_engine(e: pm.llm.Estimate, cluster: Any, dpn: int) -> None:
    for r in e.collectives.iter_rows(named=True):
        want = pm.collectives.predict(
            cluster, r["op"], r["bytes"], r["ranks"], stride=r["stride"], concurrent=dpn
        ).row(0, named=True)
        assert r["time_s"] == want["time_s"], r
        assert r["algorithm"] == want["algorithm"], r


def test_2496_gpu_gb200_run_is_priced_in_nemos_order_and_refused_in_megatrons() -> None:
    spec, nodes = mlperf5.where("gb200-nvl72", 2496)
    assert nodes == 39
    m = _model_405b()
    # Megatron's order: DP ranks 8 apart, 8 of them per 64-GPU domain, 39 not a multiple: the error names the
    # group and the level.
    with pytest.raises(pm.PerfModelError, match=r"`dp`: the dp group cannot be placed.*level 0"):
        pm.llm.estimate(m, (spec, nodes), calib=CALIB, **RUN_2496)
    e = pm.llm.estimate(m, (spec, nodes), calib=CALIB, rank_order="tp-cp-pp-dp", **RUN_2496)
    assert e.step_time_s > 0
    groups = {(r["group"], r["op"]): r for r in e.collectives.iter_rows(named=True)}
    # tp-cp-pp-dp: pipeline neighbours tp x cp = 8 apart (inside the domain), DP ranks tp x cp x pp = 64 apart: one
    # per domain, 39 domains over the NICs.
    assert groups[("pp", "send_recv")]["stride"] == 8
    assert "scale-out" not in groups[("pp", "send_recv")]["levels"]
    dp = groups[("dp", "reduce_scatter")]
    assert (dp["ranks"], dp["stride"]) == (39, 64)
    assert "scale-out" in dp["levels"]
    _check_engine(e, pm.cluster(spec, nodes), 64)


@pytest.mark.parametrize("order", ["tp-cp-dp-pp", "tp-cp-pp-dp"])
def test_each_collective_is_the_engines_in_either_order(order: str) -> None:
    plan = dict(tp=8, pp=4, global_batch=64, sp=True, zero=1, recompute="selective")
    e = pm.llm.estimate("gpt3-175b", ("dgx-h100", 16), calib=CALIB, rank_order=order, **plan)
    _check_engine(e, pm.cluster("dgx-h100", 16), 8)
    strides = {r["group"]: r["stride"] for r in e.collectives.iter_rows(named=True)}
    # dp = 128 / (8 x 4) = 4
    assert strides["pp"] == (8 * 4 if order == "tp-cp-dp-pp" else 8)
    assert strides["dp"] == (8 if order == "tp-cp-dp-pp" else 8 * 4)


def test_orders_agree_without_pipeline_parallelism() -> None:
    plan = dict(tp=8, global_batch=64, sp=True, zero=1)
    a = pm.llm.estimate("gpt3-175b", ("dgx-h100", 8), rank_order="tp-cp-dp-pp", **plan)
    b = pm.llm.estimate("gpt3-175b", ("dgx-h100", 8), rank_order="tp-cp-pp-dp", **plan)
    assert a.step_time_s == b.step_time_s


def test_rank_order_errors_name_the_argument() -> None:
    with pytest.raises(pm.InvalidArgumentError, match=r"`rank_order`: is 'pp-dp'; expected 'tp-cp-dp-pp'"):
        pm.llm.estimate("gpt3-175b", ("dgx-h100", 8), tp=8, rank_order="pp-dp")
    moe = pm.llm.model("mixtral-8x22b")
    with pytest.raises(pm.PerfModelError, match=r"`rank_order`: is 'tp-cp-pp-dp' with ep = 8"):
        pm.llm.estimate(moe, ("dgx-h100", 8), tp=1, pp=2, ep=8, global_batch=64, rank_order="tp-cp-pp-dp")
    with pytest.raises(pm.PerfModelError, match=r"`rank_order`: is 'tp-cp-pp-dp'; a placed"):
        pm.llm.estimate(
            "gpt3-175b", pm.cluster("dgx-h100", 8), tp=8, pp=2, global_batch=64, rank_order="tp-cp-pp-dp"
        )


def test_mlperf_rows_carry_their_configs_rank_order() -> None:
    # Every NVIDIA-recipe 405B config with TP_PP_DP_MAPPING=True is priced in tp-cp-pp-dp; with pp = 1 the importer
    # writes the default (the same layout).
    rows = [r for r in mlperf5.data().iter_rows(named=True) if r["plan"]]
    orders = {json.loads(r["plan"])["rank_order"] for r in rows}
    assert orders == {"tp-cp-dp-pp", "tp-cp-pp-dp"}
    for r in rows:
        p = json.loads(r["plan"])
        if p["rank_order"] == "tp-cp-pp-dp":
            assert p["pp"] > 1 and r["benchmark"] == "llama31_405b", r["system_dir"]
    assert "v5.0 IBM+CoreWeave+NVIDIA carina_ngpu2496_ngc25.04_nemo llama31_405b" not in mlperf5.skipped()


def test_cli_takes_the_rank_order(capsys: pytest.CaptureFixture[str]) -> None:
    from perfmodel.cli import main

    times = []
    for order in ("tp-cp-dp-pp", "tp-cp-pp-dp"):
        argv = ["llm", "estimate", "gpt3-175b", "dgx-h100", "16", "--global-batch", "64", "--tp", "4", "--pp", "2",
                "--recompute", "full", "--zero", "1", "--rank-order", order, "--format", "json"]  # fmt: skip
        assert main(argv) == 0
        times.append(json.loads(capsys.readouterr().out)["step_time_s"])
    want = [
        pm.llm.estimate("gpt3-175b", ("dgx-h100", 16), tp=4, pp=2, recompute="full", zero=1, global_batch=64,
                        rank_order=o).step_time_s
        for o in ("tp-cp-dp-pp", "tp-cp-pp-dp")
    ]  # fmt: skip
    assert times == pytest.approx(want, rel=1e-12) and times[0] != times[1]
    assert main(["llm", "search", "gpt3-175b", "dgx-h100", "16", "--global-batch", "64", "--tp", "4", "--pp", "2",
                 "--rank-order", "tp-cp-pp-dp", "--format", "json", "--top", "1"]) == 0  # fmt: skip
