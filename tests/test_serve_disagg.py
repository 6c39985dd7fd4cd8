"""Disaggregated serving (prefill and decode pools, KV transfer) against independent derivations: one request's
timeline from the iteration model and the collectives engine, KV bytes from the published shapes, the decode
path against the co-located simulator, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SYS = "dgx-h100"
# Llama-3-8B (config.json): 32 layers, 8 KV heads of 128, bf16 K and V: 2 x 8 x 128 x 2 bytes x 32 layers.
KV_8B = 2 * 8 * 128 * 2 * 32
# Llama-3-70B: 80 layers, 8 KV heads of 128.
KV_70B = 2 * 8 * 128 * 2 * 80


def one(prompt: int, output: int, arrival: float = 0.5) -> pl.DataFrame:
    return pl.DataFrame({"arrival_s": [arrival], "prompt_tokens": [prompt], "output_tokens": [output]})


def pool(tp: int = 1, replicas: int = 1, where: str = SYS, **kw: object) -> pm.serve.Pool:
    return pm.serve.Pool(where, tp=tp, replicas=replicas, **kw)  # type: ignore[arg-type]


def send(where: str, nbytes: float, stride: int) -> float:
    """The collectives engine's send/recv of `nbytes` between two GPUs `stride` apart, every GPU of the node
    communicating (8 per DGX node)."""
    return float(
        pm.collectives.predict(where, "send_recv", nbytes, 2, stride=stride, concurrent=8)["time_s"][0]
    )


def test_one_request_timeline_from_the_iteration_model_and_the_collectives_engine() -> None:
    # Alone, a request's TTFT is one prefill iteration of its prompt; its KV goes layer by layer over the NIC
    # (32 messages of prompt x 128 KiB / 32 each, the collectives engine's send/recv between nodes); only what
    # outlasts the prefill is exposed: done = max(P/32 + 32 x, P + x). Then output - 1 decode iterations of one
    # sequence at contexts prompt + 1 ... prompt + output - 1.
    prompt, output = 2000, 6
    d = pm.serve.disaggregated("llama3-8b", pool(2), pool(2), requests=one(prompt, output), link="nic")
    r = d.requests.row(0, named=True)
    p = pm.serve.iteration("llama3-8b", SYS, tp=2, prefill_seqs=1, prompt_len=prompt).time_s
    assert r["ttft_s"] == pytest.approx(p, rel=1e-12)
    lane = KV_8B * prompt / 2  # TP2 on both sides: each GPU moves half the heads
    assert d.summary["kv_lane_bytes_per_token"] == KV_8B / 2
    x = send(SYS, lane / 32, stride=8)
    done = max(p / 32 + 32 * x, p + x)
    assert r["kv_exposed_s"] == pytest.approx(done - p, rel=1e-9)
    assert r["kv_transfer_s"] == pytest.approx(32 * x, rel=1e-12)
    ctx = prompt + np.arange(1, output)
    decodes = pm.serve.iteration("llama3-8b", SYS, tp=2, decode_seqs=1, context_len=ctx).time_s
    assert r["e2e_s"] == pytest.approx(p + (done - p) + decodes.sum(), rel=1e-12)
    assert r["max_itl_s"] == pytest.approx(done - p + decodes[0], rel=1e-9)
    # Utilisation: the prefill instance was busy P, the decode instance the decodes, over the run.
    assert d.prefill_utilization == pytest.approx(p / r["e2e_s"], rel=1e-9)
    assert d.decode_utilization == pytest.approx(decodes.sum() / r["e2e_s"], rel=1e-9)


def test_transfer_bytes_are_the_models_kv_and_the_lane_follows_the_shards() -> None:
    trace = pm.serve.requests(2.0, 30, prompt_tokens=("uniform", 100, 3000), output_tokens=64, seed=3)
    d = pm.serve.disaggregated("llama3-8b", pool(1), pool(2), requests=trace)
    f = d.requests
    assert (f["kv_transfer_bytes"] == f["prompt_tokens"] * KV_8B).all()
    # TP1 -> TP2: the prefill GPU sends all of it, each decode GPU receives half.
    assert d.kv_lane_bytes_per_token == KV_8B
    # Llama-3-70B, TP4 prefill -> TP8 decode: each decode GPU keeps one KV head (1/8 of the bytes), each prefill
    # GPU sends two (1/4): the lane is the prefill side's.
    d = pm.serve.disaggregated(
        "llama3-70b", pool(4), pool(8, where="dgx-h100"), requests=one(1000, 4), link="nic"
    )
    assert d.kv_bytes_per_token == KV_70B
    assert d.kv_lane_bytes_per_token == KV_70B / 4
    assert d.requests["kv_transfer_bytes"][0] == 1000 * KV_70B


@pytest.mark.parametrize(("link", "where", "stride"), [("nvlink", SYS, 1), ("nic", SYS, 8)])
def test_serial_transfer_time_is_the_collectives_engines_send_recv(
    link: str, where: str, stride: int
) -> None:
    trace = pm.serve.requests(3.0, 20, prompt_tokens=("uniform", 64, 4000), output_tokens=8, seed=1)
    d = pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=trace, link=link, kv_transfer="serial")
    assert d.link == link
    for r in d.requests.iter_rows(named=True):
        assert r["kv_transfer_s"] == pytest.approx(send(where, KV_8B * r["prompt_tokens"], stride), rel=1e-12)
        # Serial: nothing of it hides behind the prefill; alone in the link it is exposed in full or more.
        assert r["kv_exposed_s"] >= r["kv_transfer_s"] * (1 - 1e-12)


def test_heterogeneous_pools_cross_the_slower_nic() -> None:
    # H100 prefill, A100 decode (Splitwise-HA): between nodes, at the slower end: DGX-A100's ConnectX-6 HDR
    # 200 Gb/s per GPU (DGX-H100 has ConnectX-7 NDR 400 per GPU).
    d = pm.serve.disaggregated("llama3-8b", pool(1), pool(1, where="dgx-a100"), requests=one(1500, 3),
                               kv_transfer="serial")  # fmt: skip
    assert d.link == "nic"
    want = send("dgx-a100", KV_8B * 1500, stride=8)
    assert d.requests["kv_transfer_s"][0] == pytest.approx(want, rel=1e-12)
    assert want > send(SYS, KV_8B * 1500, stride=8)
    with pytest.raises(pm.errors.InvalidArgumentError, match="different systems"):
        pm.serve.disaggregated(
            "llama3-8b", pool(1), pool(1, where="dgx-a100"), requests=one(10, 2), link="nvlink"
        )


def test_ideal_link_decodes_as_colocated() -> None:
    # With no transfer time, one request's decode span in the decode pool is the co-located engine's.
    for prompt, output in ((300, 40), (4000, 129)):
        d = pm.serve.disaggregated("llama3-8b", pool(2), pool(2), requests=one(prompt, output), link="ideal")
        c = pm.serve.simulate("llama3-8b", SYS, tp=2, requests=one(prompt, output))
        rd, rc = d.requests.row(0, named=True), c.requests.row(0, named=True)
        assert rd["ttft_s"] == pytest.approx(rc["ttft_s"], rel=1e-12)
        assert rd["e2e_s"] - rd["ttft_s"] == pytest.approx(rc["e2e_s"] - rc["ttft_s"], rel=1e-12)
        assert rd["kv_exposed_s"] == 0.0 and rd["kv_transfer_s"] == 0.0


def test_auto_link_and_utilisation_and_determinism() -> None:
    kw = dict(
        rate=6.0,
        num_requests=300,
        prompt_tokens=("lognormal", 1000, 0.6, 6000),
        output_tokens=("lognormal", 150, 0.6, 800),
    )
    a = pm.serve.disaggregated("llama3-8b", pool(2, 2), pool(4), seed=7, **kw)  # type: ignore[arg-type]
    b = pm.serve.disaggregated("llama3-8b", pool(2, 2), pool(4), seed=7, **kw)  # type: ignore[arg-type]
    c = pm.serve.disaggregated("llama3-8b", pool(2, 2), pool(4), seed=8, **kw)  # type: ignore[arg-type]
    assert a.link == "nvlink"  # 4 + 4 GPUs: one DGX node
    assert a.requests.equals(b.requests) and a.summary == b.summary
    assert not a.requests.equals(c.requests)
    # 9 GPUs do not fit one node: the NIC.
    assert pm.serve.disaggregated("llama3-8b", pool(1, 5), pool(4), seed=7, **kw).link == "nic"  # type: ignore[arg-type]
    f = a.requests
    assert (f["ttft_s"] > 0).all() and (f["kv_ready_s"] >= f["first_token_s"]).all()
    assert (f["finish_s"] >= f["kv_ready_s"]).all()
    assert set(f["prefill_replica"].unique().to_list()) == {0, 1}
    assert 0 < a.prefill_utilization < 1 and 0 < a.decode_utilization <= 1
    # The summary keys of pm.serve.simulate are all there.
    s = pm.serve.simulate("llama3-8b", SYS, tp=4, seed=7, **kw)  # type: ignore[arg-type]
    latency = {k for k in s.summary if not any(w in k for w in ("energy", "power", "throttled"))}
    assert latency <= set(a.summary)
    assert {"p50_ttft_s", "p90_tpot_s", "p99_itl_s", "goodput_requests_per_s"} <= set(a.summary)


def test_one_token_requests_never_leave_the_prefill_pool() -> None:
    d = pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(500, 1))
    r = d.requests.row(0, named=True)
    assert r["replica"] == -1 and r["kv_transfer_bytes"] == 0 and r["e2e_s"] == r["ttft_s"]


def test_bad_inputs_are_named() -> None:
    # Llama-3-70B in bf16 is 141 GB of weights: one 80 GB H100 cannot hold it.
    with pytest.raises(pm.errors.ModelError, match=r"prefill pool: .*does not fit.*by [0-9.]+ GiB"):
        pm.serve.disaggregated("llama3-70b", pool(1), pool(8), requests=one(100, 2))
    with pytest.raises(pm.errors.ModelError, match=r"decode pool: .*by [0-9.]+ GiB"):
        pm.serve.disaggregated("llama3-70b", pool(8), pool(1), requests=one(100, 2))
    with pytest.raises(pm.errors.InvalidArgumentError, match=r"`decode`: replicas is 0"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1, 0), requests=one(100, 2))
    with pytest.raises(pm.errors.ModelError, match=r"decode pool: tp \(3\) must divide"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(3), requests=one(100, 2))
    with pytest.raises(pm.HwdbError, match="did you mean 'dgx-h100'"):
        pm.serve.disaggregated("llama3-8b", pool(1, where="dgx-h10"), pool(1), requests=one(100, 2))
    for slo in (0.0, -1.0, math.nan):
        with pytest.raises(pm.errors.InvalidArgumentError, match="slo_ttft_s"):
            pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(100, 2), slo_ttft_s=slo)
    with pytest.raises(pm.errors.InvalidArgumentError, match="`rate`"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1), rate=math.nan)
    with pytest.raises(pm.errors.InvalidArgumentError, match="`link`"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(100, 2), link="infiniband")
    with pytest.raises(pm.errors.InvalidArgumentError, match="`kv_transfer`"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(100, 2), kv_transfer="pipelined")
    with pytest.raises(pm.errors.InvalidArgumentError, match="unknown field"):
        pm.serve.disaggregated("llama3-8b", {"where": SYS, "tpp": 2}, pool(1), requests=one(100, 2))
    with pytest.raises(pm.errors.InvalidArgumentError, match="`gpus`"):
        pm.serve.split_search("llama3-8b", SYS, gpus=1, rate=1.0)
    with pytest.raises(pm.errors.InvalidArgumentError, match="`rate`"):
        pm.serve.split_search("llama3-8b", SYS, gpus=8, rate=math.nan)
    with pytest.raises(pm.errors.InvalidArgumentError, match="slo_tpot_s"):
        pm.serve.split_search("llama3-8b", SYS, gpus=8, rate=1.0, slo_tpot_s=0.0)


@settings(max_examples=40, deadline=None)
@given(prompt=st.integers(1, 1500), output=st.integers(1, 1500), replicas=st.integers(-2, 3))
def test_error_boundary(prompt: int, output: int, replicas: int) -> None:
    # A request is refused exactly when prompt + output exceeds max_model_len (1024 here), naming its row; a
    # pool is refused exactly when it has no replica. Otherwise the run finishes every request.
    kw = dict(requests=one(prompt, output), max_model_len=1024)
    if replicas < 1:
        with pytest.raises(pm.errors.InvalidArgumentError, match="replicas"):
            pm.serve.disaggregated("llama3-8b", pool(1, replicas), pool(1), **kw)  # type: ignore[arg-type]
    elif prompt + output > 1024:
        with pytest.raises(pm.errors.InvalidArgumentError, match=r"row 0: .*max_model_len 1024"):
            pm.serve.disaggregated("llama3-8b", pool(1, replicas), pool(1), **kw)  # type: ignore[arg-type]
    else:
        d = pm.serve.disaggregated("llama3-8b", pool(1, replicas), pool(1), **kw)  # type: ignore[arg-type]
        r = d.requests.row(0, named=True)
        assert r["e2e_s"] >= r["ttft_s"] > 0 and math.isfinite(r["e2e_s"])


def test_split_search_uses_every_gpu_and_compares_with_the_colocated_search() -> None:
    kw = dict(rate=30.0, num_requests=400, prompt_tokens=("lognormal", 1500, 0.6, 6000),
              output_tokens=("lognormal", 200, 0.6, 800), slo_ttft_s=0.3, slo_tpot_s=0.012)  # fmt: skip
    r = pm.serve.split_search("llama3-8b", SYS, gpus=8, **kw)  # type: ignore[arg-type]
    s = r.splits.filter(pl.col("fits"))
    assert ((s["prefill_gpus"] + s["decode_gpus"]) == 8).all()
    assert ((s["prefill_tp"] * s["prefill_replicas"]) == s["prefill_gpus"]).all()
    assert set(r.compare["mode"]) == {"disaggregated", "co-located"}
    # The co-located row is pm.serve.search's best plan on the same GPUs and requests.
    trace = pm.serve.requests(30.0, 400, kw["prompt_tokens"], kw["output_tokens"], seed=0)
    best = pm.serve.search(
        "llama3-8b", (SYS, 1), requests=trace, slo_ttft_s=0.3, slo_tpot_s=0.012, max_pp=1
    ).row(0, named=True)
    colo = r.compare.filter(pl.col("mode") == "co-located").row(0, named=True)
    assert colo["goodput_requests_per_s"] == best["goodput_requests_per_s"]
    assert colo["p90_tpot_s"] == best["p90_tpot_s"]
    # The disaggregated row is the best split, and it reproduces when simulated on its own.
    top = s.row(0, named=True)
    dis = r.compare.filter(pl.col("mode") == "disaggregated").row(0, named=True)
    again = pm.serve.disaggregated("llama3-8b", pool(top["prefill_tp"], top["prefill_replicas"]),
                                   pool(top["decode_tp"], top["decode_replicas"]), requests=trace,
                                   slo_ttft_s=0.3, slo_tpot_s=0.012)  # fmt: skip
    assert (
        dis["p90_ttft_s"] == again.p90_ttft_s
        and dis["goodput_requests_per_s"] == again.goodput_requests_per_s
    )
    assert all(isinstance(w, str) and "TTFT" in w for w in r.compare["why"])
    # Ranking: no split after one that meets the SLOs meets them with a higher goodput.
    met = s.filter(pl.col("meets_slo"))
    assert met["goodput_requests_per_s"].is_sorted(descending=True)


def test_cli_disagg_and_split(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    from perfmodel import cli_serve

    out_csv = f"{tmp_path}/req.csv"
    rc = cli_serve.main(["disagg", "llama3-8b", SYS, "--prefill-tp", "2", "--decode-tp", "2", "--rate", "3",
                         "--num-requests", "50", "--slo-tpot", "0.02", "--csv", out_csv])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0 and "KV over nvlink" in text and "KV transfer" in text and "utilisation" in text
    assert "J per output token" in text
    assert pl.read_csv(out_csv).height == 50
    rc = cli_serve.main(
        ["disagg", "llama3-8b", SYS, "--rate", "3", "--num-requests", "10", "--power-cap", "20"]
    )
    assert rc == 1 and "power_cap_w" in capsys.readouterr().err
    rc = cli_serve.main(["split", "llama3-8b", SYS, "--gpus", "8", "--rate", "10", "--num-requests", "100",
                         "--slo-ttft", "0.5", "--slo-tpot", "0.02"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0 and "disaggregated" in text and "co-located" in text
    # Model errors are one line on stderr with exit code 1.
    rc = cli_serve.main(["disagg", "llama3-70b", SYS, "--rate", "1"])
    err = capsys.readouterr().err
    assert rc == 1 and "prefill pool" in err and "GiB" in err


def test_latency_chart_of_colocated_and_disaggregated(tmp_path: object) -> None:
    from perfmodel.plots import save, serve_disagg

    f = serve_disagg.disagg_sweep("llama3-8b", {"co TP2 x 2": {"where": SYS, "tp": 2, "replicas": 2}},
                                  {"P TP2 + D TP2": {"prefill": pool(2), "decode": pool(2)}}, [2.0, 8.0],
                                  num_requests=60)  # fmt: skip
    assert f.height == 4 and set(f["mode"]) == {"co-located", "disaggregated"}
    # Each row is the simulation it names.
    d = pm.serve.disaggregated("llama3-8b", pool(2), pool(2), rate=8.0, num_requests=60)
    row = f.filter((pl.col("mode") == "disaggregated") & (pl.col("rate") == 8.0)).row(0, named=True)
    assert row["p90_tpot_s"] == d.p90_tpot_s and row["gpus"] == 4
    p = save(serve_disagg.latency_vs_rate(f), f"{tmp_path}/lat.png")
    assert p.stat().st_size > 10_000


def test_pipeline_parallel_decode_pool_matches_colocated_with_an_ideal_link() -> None:
    # A PP2 decode pool runs as vLLM's two virtual engines, as pm.serve.simulate runs PP: one request's decode
    # span equals the co-located PP2 instance's.
    d = pm.serve.disaggregated(
        "llama3-8b", pool(2), pm.serve.Pool(SYS, tp=2, pp=2), requests=one(800, 30), link="ideal"
    )
    c = pm.serve.simulate("llama3-8b", SYS, tp=2, pp=2, requests=one(800, 30))
    p = pm.serve.iteration("llama3-8b", SYS, tp=2, prefill_seqs=1, prompt_len=800).time_s
    rd, rc = d.requests.row(0, named=True), c.requests.row(0, named=True)
    assert rd["ttft_s"] == pytest.approx(p, rel=1e-12)
    assert rd["e2e_s"] - rd["ttft_s"] == pytest.approx(rc["e2e_s"] - rc["ttft_s"], rel=1e-12)
    assert d.decode_gpus == 4 and rd["replica"] == 0


def test_heterogeneous_split_search_crosses_the_nic() -> None:
    r = pm.serve.split_search(
        "llama3-8b", "dgx-a100", gpus=8, prefill_where="dgx-h100", rate=6.0, num_requests=120
    )
    s = r.splits.filter(pl.col("fits"))
    assert s.height > 0 and (s["link"] == "nic").all()
    assert "on dgx-h100" in r.compare.filter(pl.col("mode") == "disaggregated")["plan"][0]
    assert "dgx-a100" in r.compare.filter(pl.col("mode") == "co-located")["plan"][0]


def test_split_search_with_pipeline_stages() -> None:
    # max_pp = 2 adds PP2 instances on either side; every split still uses all GPUs, and the pp = 1 splits are the
    # max_pp = 1 search's (same requests, same results).
    kw = dict(rate=8.0, num_requests=150, slo_ttft_s=0.5, slo_tpot_s=0.02)
    one_stage = pm.serve.split_search("llama3-8b", SYS, gpus=8, **kw)  # type: ignore[arg-type]
    two = pm.serve.split_search("llama3-8b", SYS, gpus=8, max_pp=2, **kw)  # type: ignore[arg-type]
    s = two.splits.filter(pl.col("fits"))
    gp = s["prefill_tp"] * s["prefill_pp"] * s["prefill_replicas"]
    gd = s["decode_tp"] * s["decode_pp"] * s["decode_replicas"]
    assert ((gp + gd) == 8).all() and (s["prefill_pp"] == 2).any() and (s["decode_pp"] == 2).any()
    keys = ["prefill_tp", "prefill_replicas", "decode_tp", "decode_replicas"]
    flat = two.splits.filter((pl.col("prefill_pp") == 1) & (pl.col("decode_pp") == 1)).sort(keys)
    base = one_stage.splits.sort(keys)
    assert flat.select(keys).equals(base.select(keys))
    assert flat["p90_tpot_s"].to_list() == base["p90_tpot_s"].to_list()
    with pytest.raises(pm.errors.InvalidArgumentError, match="`max_pp`"):
        pm.serve.split_search("llama3-8b", SYS, gpus=8, max_pp=0, **kw)  # type: ignore[arg-type]


# ---- energy -------------------------------------------------------------------------------------------------
# What a disaggregated run's energy counts: every GPU of both pools draws the device's idle power from t = 0 to
# the makespan, busy or not, and each iteration adds its energy above idle on every GPU of its instance; the KV
# transfer's own energy is not counted. So one request alone costs the prefill iteration's energy (pm.serve.prefill)
# plus its decode iterations' energies (pm.serve.decode, the same power law) plus idle power of each pool's GPUs
# over the part of the run in which they ran nothing.


def _one_request_energy(prompt: int, output: int, arrival: float, tp_p: int, tp_d: int,
                        prefill_energy: float, prefill_s: float) -> tuple[float, float, float]:  # fmt: skip
    """(prefill pool J, decode pool J, makespan s) of one request alone, the KV moved in no time."""
    idle = pm.power.model(SYS).idle_w
    d = pm.serve.decode("llama3-8b", SYS, tp=tp_d, batch=1, context_len=prompt + np.arange(1, output))
    makespan = arrival + prefill_s + float(np.sum(d.time_s))
    e_p = prefill_energy + idle * tp_p * (makespan - prefill_s)
    e_d = float(np.sum(d.energy_j)) + idle * tp_d * (makespan - float(np.sum(d.time_s)))
    return e_p, e_d, makespan


def test_one_request_energy_is_its_iterations_plus_idle_gpus() -> None:
    prompt, output, arrival = 1500, 9, 0.5
    d = pm.serve.disaggregated(
        "llama3-8b", pool(1), pool(2), requests=one(prompt, output, arrival), link="ideal"
    )
    p = pm.serve.prefill("llama3-8b", SYS, tp=1, batch=1, prompt_len=prompt)
    e_p, e_d, makespan = _one_request_energy(prompt, output, arrival, 1, 2, p.energy_j, p.time_s)
    s = d.summary
    assert s["makespan_s"] == pytest.approx(makespan, rel=1e-12)
    assert s["prefill_energy_j"] == pytest.approx(e_p, rel=1e-9)
    assert s["decode_energy_j"] == pytest.approx(e_d, rel=1e-9)
    assert s["energy_j"] == pytest.approx(e_p + e_d, rel=1e-9)
    assert s["energy_per_request_j"] == pytest.approx(e_p + e_d, rel=1e-9)
    assert s["energy_per_output_token_j"] == pytest.approx((e_p + e_d) / output, rel=1e-9)
    assert s["mean_power_per_gpu_w"] == pytest.approx((e_p + e_d) / (3 * makespan), rel=1e-9)
    assert s["prefill_mean_power_per_gpu_w"] == pytest.approx(e_p / makespan, rel=1e-9)
    assert s["decode_mean_power_per_gpu_w"] == pytest.approx(e_d / (2 * makespan), rel=1e-9)
    # The busiest iteration per GPU is the prefill (compute-bound); nothing was throttled.
    assert s["peak_power_per_gpu_w"] == pytest.approx(p.power_per_gpu_w, rel=1e-12)
    assert s["prefill_peak_power_per_gpu_w"] == s["peak_power_per_gpu_w"]
    assert s["throttled_iterations"] == 0


def test_pool_power_cap_slows_and_is_counted_by_the_same_law() -> None:
    # The prefill pool capped at 350 W: its iteration runs as the power law says under that cap (serve_energy's
    # capped time and energy); the decode pool, uncapped, is unchanged.
    prompt, output, arrival, cap = 2000, 5, 0.0, 350.0  # one prefill iteration (vLLM chunks at 2048 tokens)
    pre = pool(1, power_cap_w=cap)
    d = pm.serve.disaggregated("llama3-8b", pre, pool(1), requests=one(prompt, output, arrival), link="ideal")
    h = pm.serve.engine("llama3-8b", SYS)
    capped = pm.power.serve_energy(h, SYS, "bf16", {"prefill_seqs": 1, "prompt_len": prompt}, prompt, 1, cap)
    assert capped["clock_fraction"] < 1  # the cap binds
    assert d.requests["ttft_s"][0] == pytest.approx(capped["capped_time_s"], rel=1e-12)
    e_p, e_d, makespan = _one_request_energy(
        prompt, output, arrival, 1, 1, capped["energy_j"], capped["capped_time_s"]
    )
    s = d.summary
    assert s["prefill_energy_j"] == pytest.approx(e_p, rel=1e-9)
    assert s["decode_energy_j"] == pytest.approx(e_d, rel=1e-9)
    assert s["prefill_peak_power_per_gpu_w"] <= cap + 1e-6
    assert s["prefill_throttled_iterations"] == 1 and s["decode_throttled_iterations"] == 0
    # `power_cap_w` of the call applies to a pool without its own; a pool's own wins.
    both = pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(prompt, output, arrival), link="ideal",
                                  power_cap_w=cap)  # fmt: skip
    assert both.requests["ttft_s"][0] == d.requests["ttft_s"][0]
    assert both.summary["prefill_peak_power_per_gpu_w"] == s["prefill_peak_power_per_gpu_w"]
    assert both.summary["decode_peak_power_per_gpu_w"] <= cap + 1e-6
    own = pm.serve.disaggregated("llama3-8b", pool(1), pool(1, power_cap_w=700.0), requests=one(prompt, output, arrival),
                                 link="ideal", power_cap_w=cap)  # fmt: skip
    assert own.summary["decode_energy_j"] == pytest.approx(e_d, rel=1e-9)


def test_disaggregated_energy_matches_the_colocated_accounting_with_an_ideal_link() -> None:
    # With no transfer time, the decode pool does what a co-located instance does after each first token; a
    # Poisson run's energy then splits as the tally says: per pool, idle over the run plus the iterations' dynamic
    # energy; and the total per output token is the sum over pools.
    trace = pm.serve.requests(
        4.0, 40, prompt_tokens=("uniform", 100, 2000), output_tokens=("uniform", 2, 64), seed=4
    )
    d = pm.serve.disaggregated("llama3-8b", pool(1, replicas=2), pool(2), requests=trace, link="ideal")
    s = d.summary
    idle = pm.power.model(SYS).idle_w
    assert (
        s["prefill_energy_j"] > idle * 2 * s["makespan_s"]
        and s["decode_energy_j"] > idle * 2 * s["makespan_s"]
    )
    assert s["energy_j"] == pytest.approx(s["prefill_energy_j"] + s["decode_energy_j"], rel=1e-12)
    n_out = float(trace["output_tokens"].sum())
    assert s["energy_per_output_token_j"] == pytest.approx(s["energy_j"] / n_out, rel=1e-9)
    assert idle < s["mean_power_per_gpu_w"] < s["peak_power_per_gpu_w"] <= 700


@pytest.mark.parametrize("cap", [0.0, -1.0, 10_000.0, float("nan")])
def test_bad_pool_cap_names_the_pool_and_argument(cap: float) -> None:
    with pytest.raises(pm.errors.InvalidArgumentError, match=r"decode pool: .*`power_cap_w`"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1, power_cap_w=cap), requests=one(100, 4))
    with pytest.raises(pm.errors.InvalidArgumentError, match=r"prefill pool: .*`power_cap_w`"):
        pm.serve.disaggregated("llama3-8b", pool(1), pool(1), requests=one(100, 4), power_cap_w=cap)
