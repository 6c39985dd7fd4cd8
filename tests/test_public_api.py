"""The public calling convention (issue 16.1): one hardware argument accepted everywhere, options by keyword."""

import inspect
import warnings

import perfmodel as pm
import pytest

SYSTEM, DEVICE = "dgx-h100", "h100-sxm5-80gb"


def _hardware_forms():
    return {
        "system id": SYSTEM,
        "system spec": pm.hwdb.get(SYSTEM),
        "(system, nodes)": (SYSTEM, 2),
        "cluster": pm.cluster(SYSTEM, 2),
    }


@pytest.mark.parametrize("form", list(_hardware_forms()))
def test_device_functions_take_every_hardware_form(form):
    """A kernel, a power model and the sizing advisor run on the device the system's nodes hold: the same
    numbers as naming the device itself."""
    hw = _hardware_forms()[form]
    assert (
        pm.roofline.gemm(hw, 4096, 4096, 4096)["time_s"][0]
        == pm.roofline.gemm(DEVICE, 4096, 4096, 4096)["time_s"][0]
    )
    assert pm.power.model(hw).tdp_w == pm.power.model(DEVICE).tdp_w
    assert pm.llm.sizing("llama3.1-8b", hw).layer_time_s == pm.llm.sizing("llama3.1-8b", DEVICE).layer_time_s


@pytest.mark.parametrize("form", list(_hardware_forms()))
def test_system_functions_take_every_hardware_form(form):
    hw = _hardware_forms()[form]
    ref = pm.collectives.predict(pm.cluster(SYSTEM, 2), "all_reduce", 1 << 20, 8)["time_s"][0]
    assert pm.collectives.predict(hw, "all_reduce", 1 << 20, 8)["time_s"][0] == ref
    assert pm.serve.decode("llama3.1-8b", hw, batch=8, context_len=1024).time_s > 0
    assert pm.llm.estimate("megatron-1.7b", hw, tp=8, global_batch=16).step_time_s > 0


def test_a_device_where_a_system_is_needed_lists_the_systems_that_hold_it():
    for call in (
        lambda: pm.collectives.predict(DEVICE, "all_reduce", 1 << 20, 8),
        lambda: pm.serve.decode("llama3.1-8b", DEVICE, batch=8, context_len=1024),
        lambda: pm.llm.estimate("megatron-1.7b", DEVICE, tp=8, global_batch=16),
    ):
        with pytest.raises(
            pm.HwdbError, match=r"argument `(where|cluster)`: 'h100-sxm5-80gb' is a device.*dgx-h100"
        ):
            call()


def test_a_mixed_cluster_has_no_single_device():
    c = pm.cluster([("holmes-a100-ib", 1), ("dgx-h100", 1)])
    with pytest.raises(pm.HwdbError, match="different devices"):
        pm.roofline.gemm(c, 1024, 1024, 1024)


def test_an_unknown_id_names_the_argument_and_the_closest_ids():
    with pytest.raises(pm.HwdbError, match=r"argument `device`: .*'h100-sxm5-80gb'"):
        pm.power.model("h100-sxm")


@pytest.mark.parametrize(
    "fn, first",
    [
        (pm.llm.estimate, ("model", "cluster")),
        (pm.serve.decode, ("model", "where")),
        (pm.serve.simulate, ("model", "where")),
        (pm.roofline.attention, ("device", "batch", "heads", "seq_len", "head_dim")),
        (pm.collectives.predict, ("where", "op", "nbytes", "nranks", "algorithm")),
    ],
)
def test_published_signatures_take_options_by_keyword(fn, first):
    params = list(inspect.signature(fn).parameters.values())
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert tuple(positional) == first
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[len(first) :])


def test_an_option_by_position_still_works_and_warns_naming_it():
    with pytest.warns(DeprecationWarning, match=r"pm\.llm\.estimate\(\): .*write tp=8, pp=1"):
        old = pm.llm.estimate("megatron-1.7b", SYSTEM, 8, 1, global_batch=16)
    new = pm.llm.estimate("megatron-1.7b", SYSTEM, tp=8, pp=1, global_batch=16)
    assert old.step_time_s == new.step_time_s
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm.llm.estimate("megatron-1.7b", SYSTEM, tp=8, global_batch=16)
