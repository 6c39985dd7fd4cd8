"""Issue 12 items 3 and 4: fitted figures live in hwdb (per-device attention schedule, HBM write penalty and
overlap exponent with a documented inheritance; the LLM calibration per system), capacities in the datasheet's
unit, and a heterogeneous estimate whose `fits` and shortfall agree."""

from __future__ import annotations

from pathlib import Path

import perfmodel as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
INHERITABLE = (
    "attention_fwd_block_tiles_ratio",
    "attention_bwd_block_tiles_ratio",
    "attention_diagonal_tiles_ratio",
    "attention_bwd_rate_fraction",
    "attention_softmax_ratio",
    "hbm_write_penalty_ratio",
    "overlap_exponent",
)

TOY = """
kind = "device"
id = "toy"
name = "Toy"
vendor = "other"
[compute]
units_count = 10
boost_clock_mhz = 1000
matrix_bf16_tflops = 100
[memory]
hbm_capacity_gib = 10
hbm_bandwidth_gbps = 1000
[power]
tdp_w = 100
[efficiency]
gemm_16bit_fraction = 0.8
hbm_fraction = 0.9
attention_fraction = 0.5
tile_overhead_us = 1
launch_overhead_us = 5
fitted_on = "nothing"
[sources]
"*" = "made up for a test"
"""


def test_every_embedded_device_gives_or_names_where_its_inherited_figures_come_from() -> None:
    for dev in pm.hwdb.ids("device"):
        eff = pm.hwdb.get(dev)["efficiency"]
        missing = [k for k in INHERITABLE if k not in eff]
        if dev == "h100-sxm5-80gb":
            assert not missing  # the device the schedule was fitted on gives every figure
        elif missing:
            # Said in the file: which device, and the fitted_on names it.
            assert eff["inherit_from"] in pm.hwdb.ids("device"), dev
            assert f"inherited from {eff['inherit_from']}" in eff["fitted_on"], dev


def test_amd_devices_inherit_the_attention_schedule_and_say_so() -> None:
    for dev in ("mi300x", "mi325x", "mi250x-gcd"):
        eff = pm.hwdb.get(dev)["efficiency"]
        assert "attention_fwd_block_tiles_ratio" not in eff
        assert "inherit_from" in eff and "not measured on this device" in eff["fitted_on"]


def test_inherited_schedule_prices_like_the_parent_and_a_device_can_override_it() -> None:
    # mi250x-gcd -> mi300x -> h100: the schedule figures are H100's; overriding one moves the attention time.
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    gcd = pm.hwdb.get("mi250x-gcd")
    kw = dict(batch=4, heads=32, seq_len=2048, head_dim=128, causal=True, backward=True)
    base = pm.roofline.attention(gcd, **kw)["time_s"][0]
    same = pm.roofline.attention(
        gcd.with_overrides({"efficiency.attention_bwd_block_tiles_ratio": 5.0}), **kw
    )["time_s"][0]
    more = pm.roofline.attention(
        gcd.with_overrides({"efficiency.attention_bwd_block_tiles_ratio": 10.0}), **kw
    )["time_s"][0]
    assert same == base  # H100's value, inherited
    assert more > base
    assert h100["efficiency.attention_bwd_block_tiles_ratio"] == 5.0


def test_write_penalty_and_overlap_exponent_are_device_figures() -> None:
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    t = lambda spec: pm.roofline.gemm(spec, 4096, 4096, 512)["time_s"][0]  # noqa: E731  (near the ridge)
    p3, p2, p8 = (
        t(h100),
        t(h100.with_overrides({"efficiency.overlap_exponent": 2})),
        t(h100.with_overrides({"efficiency.overlap_exponent": 8})),
    )
    assert p2 > p3 > p8  # p = 2 overlaps less than 3, 8 almost perfectly
    with pytest.raises(pm.HwdbError, match="overlap_exponent.*>= 1"):
        h100.with_overrides({"efficiency.overlap_exponent": 0.5})


def test_user_device_without_the_figures_inherits_the_documented_default(tmp_path: Path) -> None:
    p = tmp_path / "toy.toml"
    p.write_text(TOY)
    toy = pm.hwdb.load(p)
    assert "attention_fwd_block_tiles_ratio" not in toy["efficiency"]  # the file as written
    pm.roofline.attention(toy, batch=1, heads=8, seq_len=1024, head_dim=128)
    bad = TOY.replace('fitted_on = "nothing"', 'inherit_from = "h100-sxm5"\nfitted_on = "nothing"')
    with pytest.raises(
        pm.HwdbError, match=r"efficiency\.inherit_from.*'h100-sxm5' is not an embedded device"
    ):
        pm.hwdb.parse(bad, "toy.toml")


def test_capacity_in_the_datasheets_unit() -> None:
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    assert h100["memory.hbm_capacity_gib"] == 80
    assert h100.hbm_capacity_bytes == 80 * 2**30
    assert h100.hbm_capacity_gb == pytest.approx(85.899, abs=1e-3)
    e = pm.llm.estimate("megatron-1.7b", ("dgx-h100", 1), tp=1, dp=8, global_batch=8)
    assert e.capacity_bytes == 80 * 2**30
    # Every embedded device says GiB; a file may still say vendor GB (10^9 bytes), never both.
    assert all("hbm_capacity_gib" in pm.hwdb.get(d)["memory"] for d in pm.hwdb.ids("device"))
    gb = pm.hwdb.parse(TOY.replace("hbm_capacity_gib = 10", "hbm_capacity_gb = 10"), "toy.toml")
    assert gb.hbm_capacity_bytes == 10e9
    with pytest.raises(pm.HwdbError, match="hbm_capacity_gb.*together with `hbm_capacity_gib`"):
        pm.hwdb.parse(
            TOY.replace("hbm_capacity_gib = 10", "hbm_capacity_gib = 10\nhbm_capacity_gb = 10"), "toy.toml"
        )
    with pytest.raises(pm.HwdbError, match="hbm_capacity.*no unit suffix"):
        pm.hwdb.parse(TOY.replace("hbm_capacity_gib = 10", "hbm_capacity = 10"), "toy.toml")


def test_placed_estimate_fits_and_shortfall_agree_per_stage() -> None:
    # Two node groups with different capacities (80 GiB and 40 GiB A100s): the stage with more layers sits on
    # the larger GPUs and fits there. Before, the binding compared that stage's memory with the smallest
    # capacity: fits=True with a 21.9 GiB shortfall.
    roce40 = pm.hwdb.get("holmes-a100-roce").with_overrides({"device": "a100-sxm4-40gb"})
    c = pm.cluster([("holmes-a100-ib", 2), (roce40, 2)])
    for lps in ([32, 16], [30, 18], [24, 24]):
        e = pm.llm.estimate(
            "megatron-39b", c, tp=8, pp=2, micro_batch=1, global_batch=256, layers_per_stage=lps
        )
        stages = e.stages.select("memory_bytes", "capacity_bytes").rows()
        assert e.fits == all(m <= cap for m, cap in stages)
        assert (e.shortfall_bytes == 0) == e.fits
        # The reported memory and capacity are one stage's: the one closest to (or furthest over) its own capacity.
        worst = max(stages, key=lambda r: r[0] / r[1])
        assert (e.memory_per_gpu_bytes, e.capacity_bytes) == worst
    e = pm.llm.estimate(
        "megatron-39b", c, tp=8, pp=2, micro_batch=1, global_batch=256, layers_per_stage=[32, 16]
    )
    assert e.fits and e.capacity_bytes == 80 * 2**30


def test_llm_calibration_lives_in_the_system_spec() -> None:
    assert not (ROOT / "python/perfmodel/llm/calibration.toml").exists()
    a100 = pm.llm.calibration("dgx-a100")
    assert a100["compute_time_scale"] == pm.hwdb.get("dgx-a100")["calibration.compute_time_scale"]
    assert a100["fitted_on"].startswith("Megatron-LM Table 1")
    holmes = pm.llm.calibration("holmes-a100-roce")
    assert holmes["same_as"] == "dgx-a100"
    assert {k: holmes[k] for k in ("compute_time_scale", "memory_time_scale", "comm_bandwidth_scale")} == {
        k: a100[k] for k in ("compute_time_scale", "memory_time_scale", "comm_bandwidth_scale")
    }
    assert holmes["fitted_on"].startswith("same as dgx-a100: same A100 SXM4 device")
    assert pm.llm.calibration("dgx-v100")["fitted_on"] == "uncalibrated"
    # A what-if system takes its own [calibration]; an estimate uses it, and calib= still overrides it.
    slow = pm.hwdb.get("dgx-a100").with_overrides(
        {"calibration.compute_time_scale": 2.0, "calibration.memory_time_scale": 2.0}
    )
    kw: dict[str, object] = dict(tp=8, dp=1, global_batch=8)
    base = pm.llm.estimate("megatron-1.7b", ("dgx-a100", 1), **kw)
    what_if = pm.llm.estimate("megatron-1.7b", (slow, 1), **kw)
    assert what_if.raw["forward"] == pytest.approx(
        base.raw["forward"] * 2.0 / a100["compute_time_scale"], rel=1e-9
    )
    again = pm.llm.estimate(
        "megatron-1.7b",
        (slow, 1),
        calib={
            "compute_time_scale": a100["compute_time_scale"],
            "memory_time_scale": a100["memory_time_scale"],
        },
        **kw,
    )
    assert again.raw["forward"] == pytest.approx(base.raw["forward"], rel=1e-12)


def test_calibration_table_is_strict() -> None:
    a100 = pm.hwdb.get("dgx-a100")
    with pytest.raises(pm.HwdbError, match="calibration.compute_time_scle.*closest valid key"):
        a100.with_overrides({"calibration.compute_time_scle": 1.0})
    with pytest.raises(pm.HwdbError, match="calibration.compute_time_scale.*> 0"):
        a100.with_overrides({"calibration.compute_time_scale": -1.0})
    holmes = pm.hwdb.get("holmes-a100-ib")
    with pytest.raises(pm.HwdbError, match="calibration.same_as.*'dgx-a10' is not an embedded system"):
        holmes.with_overrides({"calibration.same_as": "dgx-a10"})


def test_estimate_results_are_the_same_through_the_lean_path() -> None:
    # pm.llm.estimate passes resolved handles and the plan as numbers; the figures equal the dict-based binding's.
    from perfmodel import _core
    from perfmodel.llm import _calib_tuple, _cluster, _plan_numbers

    m = pm.llm.model("gpt3-175b")
    for system, kw in [
        ("dgx-a100", dict(tp=8, pp=16, global_batch=1536, recompute="full")),
        (
            "dgx-h100",
            dict(
                tp=4,
                pp=4,
                zero=1,
                sp=True,
                dtype="fp8",
                global_batch=512,
                micro_batch=2,
                recompute="selective",
                dp_overlap=True,
            ),
        ),
        (
            "dgx-h100",
            dict(tp=8, zero=3, sp=True, global_batch=512, qwz=True, hpz=8, calib={"compute_time_scale": 1.5}),
        ),
    ]:
        e = pm.llm.estimate(m, (system, 32), **kw)
        h, sid, n = _cluster((system, 32))
        ref = _core.llm_estimate(m.fields, h, n, _plan_numbers(e.plan), _calib_tuple(sid, kw.get("calib")))  # type: ignore[arg-type]
        assert ref == e.raw
    # Bad values still get the checked path's messages.
    with pytest.raises(pm.InvalidArgumentError, match="recompute"):
        pm.llm.estimate(m, ("dgx-a100", 32), tp=8, global_batch=64, recompute="some")
    with pytest.raises(pm.InvalidArgumentError, match="argument `sp`: is 'yes'; expected True or False"):
        pm.llm.estimate(m, ("dgx-a100", 32), tp=8, global_batch=64, sp="yes")
