"""Results in notebooks (issue 16.1/16.3): every result has to_dict, to_frame and an HTML table whose units
a reader cannot misread; a spec with overrides says so."""

import numpy as np
import perfmodel as pm
import pytest
from perfmodel._display import human


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("memory_per_gpu_bytes", 80 * 2**30, "80.00 GiB"),
        ("kv_bytes_per_token", 131072, "128.00 KiB"),
        ("step_time_s", 12.5, "12.500 s"),
        ("mean_tpot_s", 0.0123, "12.300 ms"),
        ("tp_comm_s", 4.2e-6, "4.20 us"),
        ("mfu", 0.412, "41.20 %"),
        ("slo_attainment", 1.0, "100.00 %"),
        ("busbw_gbps", 370.0, "370.0 GB/s"),
        ("tflops_per_gpu", 402.25, "402.2 TFLOP/s"),
        ("cluster_power_w", 10200.0, "10.20 kW"),
        ("output_tokens_per_s", 123456.0, "123,456 /s"),
        ("cost_usd_per_h", 98.32, "$98.32/h"),
        ("fits", True, "yes"),
        ("energy_per_relevant_j", None, "—"),
    ],
)
def test_units_by_name(name, value, shown):
    assert human(name, value) == shown


def _results():
    return {
        "estimate": pm.llm.estimate("megatron-1.7b", "dgx-h100", tp=8, global_batch=16),
        "phase": pm.serve.decode("llama3.1-8b", "dgx-h100", batch=8, context_len=1024),
        "memory": pm.serve.memory("llama3.1-8b", "dgx-h100"),
        "simulation": pm.serve.simulate("llama3.1-8b", "dgx-h100", rate=2.0, num_requests=30),
        "sizing": pm.llm.sizing("llama3.1-8b", "h100-sxm5-80gb"),
        "power": pm.power.model("mi300x"),
        "daq": pm.daq.preset("cms-run3").evaluate(),
    }


@pytest.mark.parametrize("kind", list(_results()))
def test_every_result_has_a_dict_a_frame_and_html(kind):
    r = _results()[kind]
    d = r.to_dict()
    f = r.to_frame()
    assert f.height == 1 and set(d) <= set(f.columns)
    for k, v in d.items():
        if isinstance(v, float) and np.isfinite(v):
            assert f[k][0] == pytest.approx(v)
    html = r._repr_html_()
    assert html.startswith("<div>") and type(r).__name__ in html


def test_figures_equal_the_attributes():
    e = _results()["estimate"]
    d = e.to_dict()
    assert (d["step_time_s"], d["mfu"], d["tp"], d["fits"]) == (e.step_time_s, e.mfu, 8, e.fits)
    assert "GiB" in e._repr_html_() and "%" in e._repr_html_()


def test_array_results_give_one_row_per_element():
    it = pm.serve.decode("llama3.1-8b", "dgx-h100", batch=[1, 8, 64], context_len=1024)
    f = it.to_frame()
    assert f.height == 3 and f["decode_seqs"].to_list() == [1, 8, 64]


def test_a_spec_with_overrides_says_so():
    h = pm.hwdb.get("h100-sxm5-80gb")
    fast = h.with_overrides({"memory.hbm_bandwidth_gbps": 5000})
    assert "overridden" not in repr(h)
    assert "overridden: memory.hbm_bandwidth_gbps=5000" in repr(fast)
    assert "(overridden)" in fast._repr_html_()
