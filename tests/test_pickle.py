"""Every public object pickles as what rebuilds it (an hwdb id, TOML text, the arguments of its engine handle)
and behaves the same after the round trip, in this process and in a spawned one; specs written as TOML keep
every float exact."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from dataclasses import replace

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel import _core


def _round_trip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def test_embedded_spec_pickles_as_its_id():
    spec = pm.hwdb.get("h100-sxm5-80gb")
    data = pickle.dumps(spec)
    # An id, not the spec's table: far smaller than its TOML text.
    assert len(data) < len(spec.to_toml()) / 4
    back = pickle.loads(data)
    assert back == spec and back.id == spec.id and back.file == spec.file
    assert back.peak_tflops("bf16") == spec.peak_tflops("bf16")


def test_overridden_and_user_specs_pickle_as_toml_text(tmp_path):
    fast = pm.hwdb.get("h100-sxm5-80gb").with_overrides({"memory.hbm_bandwidth_gbps": 5000})
    back = _round_trip(fast)
    assert back.hbm_bandwidth_gbps == 5000.0 and back.file == fast.file and back == fast
    a = pm.roofline.gemm(fast, [1024, 8192], 8192, 8192)
    b = pm.roofline.gemm(back, [1024, 8192], 8192, 8192)
    assert a.equals(b)
    # A user's file (not in the embedded database) travels as its text too.
    path = tmp_path / "my-nic.toml"
    path.write_text(
        pm.hwdb.get("cx7-ndr400").with_overrides({"id": "my-nic", "line_rate_gbit_per_s": 800}).to_toml()
    )
    mine = pm.hwdb.load(path)
    back = _round_trip(mine)
    assert back.id == "my-nic" and back["line_rate_gbit_per_s"] == 800 and back.file == str(path)


def test_core_handles_reduce_to_their_constructors():
    """Each engine handle pickles as a call of the `_core` function that built it."""
    spec = pm.hwdb.get("dgx-h100", "system")._handle
    assert spec.__reduce__()[0] is _core.hwdb_get
    assert (
        pm.hwdb.get("cx7-ndr400").with_overrides({"line_rate_gbit_per_s": 800})._handle.__reduce__()[0]
        is _core.hwdb_parse
    )
    assert pm.cluster("dgx-h100", 2)._handle.__reduce__()[0] is _core.collectives_cluster
    handle = _core.llm_model_handle(pm.llm.model("llama3-8b").fields)
    assert handle.__reduce__()[0] is _core.llm_model_handle
    llm_cluster = _core.llm_cluster_handle(spec, 2, (1.0, 1.0, 1.0, 1.0, 0.0))
    ctor, args = llm_cluster.__reduce__()
    assert ctor is _core.llm_cluster_handle and args[1:] == (2, (1.0, 1.0, 1.0, 1.0, 0.0))
    assert pm.power.model("h100-sxm5-80gb").handle.__reduce__()[0] is _core.power_model
    assert pm.serve.engine("llama3-8b", "dgx-h100").__reduce__()[0] is _core.serve_engine
    assert pm.daq.preset("cms-run3").compile().__reduce__()[0] is _core.daq_pipeline


def test_cluster_round_trip_predicts_the_same():
    het = pm.cluster([("dgx-a100", 2), ("mi300x-pollara-node", 2)])
    back = _round_trip(het)
    assert repr(back) == repr(het) and back.devices == het.devices
    assert back.transports(32) == het.transports(32)
    sizes = np.logspace(3, 9, 50)
    a = pm.collectives.predict(het, "all_reduce", sizes, 32)
    b = pm.collectives.predict(back, "all_reduce", sizes, 32)
    assert a.equals(b)
    # A cluster with a substituted (what-if) NIC keeps it.
    slow = pm.hwdb.get("cx7-ndr400").with_overrides({"line_rate_gbit_per_s": 100})
    c = pm.cluster("dgx-h100", 4, specs={"nic": slow})
    c_back = _round_trip(c)
    fast = pm.collectives.predict(pm.cluster("dgx-h100", 4), "all_reduce", 2**30, 32)["time_s"][0]
    t0 = pm.collectives.predict(c, "all_reduce", 2**30, 32)["time_s"][0]
    t1 = pm.collectives.predict(c_back, "all_reduce", 2**30, 32)["time_s"][0]
    assert t1 == t0 and t0 > fast


def test_llm_objects_round_trip():
    m = pm.llm.model("gpt3-175b")
    plan = dict(tp=8, pp=16, global_batch=1536, micro_batch=1, recompute="full")
    e = pm.llm.estimate(m, ("dgx-a100", 128), **plan)
    m2, e2 = _round_trip(m), _round_trip(e)
    assert m2 == m and m2.params == m.params
    assert e2.step_time_s == e.step_time_s and e2.raw == e.raw and e2.plan == e.plan
    # The estimate's context (engine handles) came along: it still lists its collectives.
    assert e2.collectives.equals(e.collectives)
    assert pm.llm.estimate(m2, ("dgx-a100", 128), **plan).step_time_s == e.step_time_s
    # A model that has used its engine handle pickles it too, and the handle works after the trip.
    handle = _round_trip(_core.llm_model_handle(m.fields))
    cl = _round_trip(_core.llm_cluster_handle("dgx-a100", 128, (1.0, 1.0, 1.0, 1.0, 0.0)))
    numbers = {"tp": 8, "pp": 16, "dp": 1, "vp": 1, "cp": 1, "ep": 1, "micro_batch": 1, "global_batch": 1536,
               "recompute": 2, "hpz": 1, "weights_group": 1, "grads_group": 1, "flash_attention": 1,
               "vocab_multiple": 128}  # fmt: skip
    values = [float(numbers.get(k, 0)) for k in _core.llm_value_keys()[0]]
    assert _core.llm_estimate_values(handle, cl, values) == _core.llm_estimate_values(
        _core.llm_model_handle(m.fields),
        _core.llm_cluster_handle("dgx-a100", 128, (1.0, 1.0, 1.0, 1.0, 0.0)),
        values,
    )
    res = pm.llm.search_full("megatron-1.7b", ("dgx-a100", 1), 8, top=5)
    back = _round_trip(res)
    assert back.plans.equals(res.plans) and back.skipped == res.skipped


def test_serving_and_power_handles_round_trip():
    h = pm.serve.engine("llama3-8b", "dgx-h100", tp=2, framework="vllm", kernel_time_scale=1.3)
    h2 = _round_trip(h)
    assert h2.framework == h.framework and h2.kv_bytes_per_token == h.kv_bytes_per_token
    cols = [
        np.ascontiguousarray(np.asarray(x, dtype=np.float64))
        for x in ([1, 0], [512, 0], [0, 0], [0, 64], [0, 1024])
    ]
    a, b = _core.serve_iteration(h, *cols), _core.serve_iteration(h2, *cols)
    assert {k: list(v) for k, v in a.items()} == {k: list(v) for k, v in b.items()}
    p = pm.power.model("h100-sxm5-80gb", idle_w=90.0)
    p2 = _round_trip(p)
    assert replace(p2, handle=None) == replace(p, handle=None) and p2.idle_w == 90.0
    assert p2.handle.figures == p.handle.figures and p2.handle.fitted_on == p.handle.fitted_on
    sim = pm.serve.simulate("llama3-8b", "dgx-h100", rate=4.0, num_requests=50, seed=1)
    sim2 = _round_trip(sim)
    assert sim2.summary == sim.summary


def test_daq_pipeline_round_trip():
    p = pm.daq.preset("cms-run5")
    compiled = _round_trip(p.compile())
    assert compiled.names == p.compile().names and compiled.successors == p.compile().successors
    a = _core.daq_evaluate(p.compile())[0]
    assert _core.daq_evaluate(compiled)[0] == a
    p2 = _round_trip(p)
    sweep = {"L1T.skill": np.linspace(1, 4, 7)}
    assert p2.sweep(sweep).equals(p.sweep(sweep))
    assert p2.evaluate().to_dict() == p.evaluate().to_dict()


def _predict_in_child(payload: bytes) -> bytes:
    """Runs in a spawned process: the objects' predictions there."""
    spec, cluster, model, pipeline = pickle.loads(payload)
    out = {
        "gemm": pm.roofline.gemm(spec, [1024, 4096], 4096, 4096)["time_s"].to_list(),
        "allreduce": pm.collectives.predict(cluster, "all_reduce", [2**20, 2**30], 16)["time_s"].to_list(),
        "step": pm.llm.estimate(model, ("dgx-h100", 2), tp=8, global_batch=64, micro_batch=1).step_time_s,
        "f1": pipeline.evaluate().to_dict(),
    }
    return pickle.dumps(out)


def test_objects_behave_the_same_in_a_spawned_process():
    spec = pm.hwdb.get("h100-sxm5-80gb").with_overrides({"memory.hbm_bandwidth_gbps": 4000})
    cluster = pm.cluster("dgx-h100", 2)
    model = pm.llm.model("llama3-8b")
    pipeline = pm.daq.preset("cms-run3")
    payload = pickle.dumps((spec, cluster, model, pipeline))
    local = pickle.loads(_predict_in_child(payload))
    with mp.get_context("spawn").Pool(1) as pool:
        remote = pickle.loads(pool.apply(_predict_in_child, (payload,), {}))
    assert remote == local


@pytest.mark.parametrize(
    ("key", "value"),
    [("efficiency.latency_us", 3e-7), ("efficiency.bandwidth_fraction", 1e-300),
     ("efficiency.latency_us", 1.0000000000000002), ("efficiency.latency_us", 123456789.123456789)],
)  # fmt: skip
def test_toml_export_keeps_floats_exact(key, value):
    nic = pm.hwdb.get("cx7-ndr400").with_overrides({key: value})
    text = pm.nccl_tests.to_toml(nic)
    assert text == nic.to_toml()
    back = pm.hwdb.parse(text, "exported.toml")
    assert back[key] == value
    assert back.to_dict() == nic.to_dict()
    assert _round_trip(nic)[key] == value


def test_search_result_frames_pickle():
    df = pm.llm.search("megatron-1.7b", ("dgx-a100", 1), 8, top=3)
    assert isinstance(df, pl.DataFrame) and _round_trip(df).equals(df)
