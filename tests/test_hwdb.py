"""Hardware database: ids, lookups, user files, overrides and strict errors."""

from pathlib import Path

import perfmodel as pm
import pytest

DEVICES = [
    "v100-sxm2-32gb",
    "a100-sxm4-40gb",
    "a100-sxm4-80gb",
    "h100-sxm5-80gb",
    "h200-sxm-141gb",
    "mi250x-gcd",
    "mi300x",
    "mi325x",
]
NICS = ["pollara-400", "cx7-ndr400", "cx7-roce400", "cx6-hdr200", "eth-100g", "slingshot-11"]
SYSTEMS = ["dgx-v100", "dgx-a100", "dgx-h100", "hgx-h200", "mi300x-pollara-node", "frontier-node"]

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
hbm_capacity_gb = 10
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


def test_required_ids_exist():
    assert set(DEVICES) <= set(pm.hwdb.ids("device"))
    assert set(NICS) <= set(pm.hwdb.ids("nic"))
    assert set(SYSTEMS) <= set(pm.hwdb.ids("system"))
    assert pm.hwdb.ids("device") == sorted(pm.hwdb.ids("device"))


@pytest.mark.parametrize(
    "device,dtype,tflops",
    # NVIDIA Ampere/Hopper whitepapers and AMD ROCm spec tables (dense, no sparsity).
    [
        ("a100-sxm4-80gb", "bf16", 312),
        ("h100-sxm5-80gb", "bf16", 989.4),
        ("h100-sxm5-80gb", "fp8", 1978.9),
        ("mi300x", "bf16", 1307.4),
        ("mi250x-gcd", "bf16", 191.5),
        ("v100-sxm2-32gb", "fp16", 125),
    ],
)
def test_datasheet_peaks(device, dtype, tflops):
    assert pm.hwdb.get(device).peak_tflops(dtype) == tflops


def test_every_figure_has_a_source():
    for kind in pm.hwdb.KINDS:
        for id_ in pm.hwdb.ids(kind):
            d = pm.hwdb.get(id_).to_dict()
            assert d["sources"], id_


def test_unknown_id_names_close_match():
    with pytest.raises(pm.HwdbError) as e:
        pm.hwdb.get("h100-sxm-80gb")
    assert isinstance(e.value, KeyError)
    assert "h100-sxm5-80gb" in str(e.value)


def test_unknown_kind():
    with pytest.raises(pm.InvalidArgumentError, match="devic"):
        pm.hwdb.ids("devices")


def test_user_file_and_errors_name_file_and_key(tmp_path: Path):
    good = tmp_path / "toy.toml"
    good.write_text(TOY)
    assert pm.hwdb.load(good).peak_tflops("bf16") == 100

    bad = tmp_path / "typo.toml"
    bad.write_text(TOY.replace("hbm_bandwidth_gbps", "hbm_bandwdith_gbps"))
    with pytest.raises(pm.HwdbError) as e:
        pm.hwdb.load(bad)
    msg = str(e.value)
    assert "typo.toml" in msg and "memory.hbm_bandwdith_gbps" in msg and "memory.hbm_bandwidth_gbps" in msg


@pytest.mark.parametrize(
    "old,new,expect",
    [
        ("hbm_bandwidth_gbps = 1000", "hbm_bandwidth = 1000", "no unit suffix"),
        ("hbm_bandwidth_gbps = 1000", "hbm_bandwidth_gbps = 0", "> 0"),
        ("hbm_bandwidth_gbps = 1000", "hbm_bandwidth_gbps = -3", "> 0"),
        ("hbm_bandwidth_gbps = 1000", "hbm_bandwidth_gbps = nan", "> 0"),
        ('vendor = "other"', 'vendor = "nvidai"', "closest: 'nvidia'"),
        ('[sources]\n"*" = "made up for a test"', "", "source"),
        ("units_count = 10", "units_count = 10\nfrobnicate_w = 3", "unknown key"),
    ],
)
def test_strict_loading(tmp_path: Path, old, new, expect):
    p = tmp_path / "bad.toml"
    p.write_text(TOY.replace(old, new))
    with pytest.raises(pm.HwdbError, match="bad.toml") as e:
        pm.hwdb.load(p)
    assert expect in str(e.value)


def test_broken_toml(tmp_path: Path):
    p = tmp_path / "broken.toml"
    p.write_text('kind = "device"\nid = \n')
    with pytest.raises(pm.HwdbError, match="broken.toml.*not valid TOML"):
        pm.hwdb.load(p)


def test_missing_file(tmp_path: Path):
    with pytest.raises(pm.HwdbError, match="cannot read"):
        pm.hwdb.load(tmp_path / "nope.toml")


def test_override_is_a_new_validated_spec():
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    fast = h100.with_overrides({"memory.hbm_bandwidth_gbps": 5000})
    assert fast.hbm_bandwidth_gbps == 5000 and h100.hbm_bandwidth_gbps == 3352
    assert fast.peak_tflops("bf16") == h100.peak_tflops("bf16")
    with pytest.raises(pm.HwdbError, match="closest valid key"):
        h100.with_overrides({"memory.hbm_bandwith_gbps": 5000})
    with pytest.raises(pm.HwdbError, match="> 0"):
        h100.with_overrides({"memory.hbm_bandwidth_gbps": 0})


def test_what_if_changes_memory_bound_time_only():
    h100 = pm.hwdb.get("h100-sxm5-80gb")
    fast = h100.with_overrides(memory__hbm_bandwidth_gbps=2 * 3352)
    slow_t = pm.roofline.memory_bound(h100, 1e9, 1e9)["time_s"][0]
    fast_t = pm.roofline.memory_bound(fast, 1e9, 1e9)["time_s"][0]
    launch = h100["efficiency.launch_overhead_us"] * 1e-6
    assert (slow_t - launch) / (fast_t - launch) == pytest.approx(2.0, rel=1e-9)
    big = pm.roofline.gemm_time(h100, 16384, 16384, 16384)
    assert pm.roofline.gemm_time(fast, 16384, 16384, 16384) == pytest.approx(big, rel=0.01)


def test_a_system_file_naming_a_device_file_warns_and_says_why(tmp_path: Path):
    """A system names its device by embedded id: a system file naming your own device loads with a warning, works
    with pm.cluster, and asking it for its device says why that cannot work yet (not "unknown id")."""
    text = pm.hwdb.get("g6e-l40s").to_toml().replace('device = "l40s"', 'device = "my-gpu"')
    assert 'device = "my-gpu"' in text
    path = tmp_path / "my-node.toml"
    path.write_text(text)
    with pytest.warns(UserWarning, match="names device 'my-gpu', which is not an embedded device"):
        node = pm.hwdb.load(path)
    assert pm.cluster(node, 1).devices == 8
    with pytest.raises(pm.HwdbError, match="cannot use a device file of your own yet"):
        pm.hwdb.resolve(node, "device")
    ok = tmp_path / "l40s-node.toml"
    ok.write_text(pm.hwdb.get("g6e-l40s").to_toml())
    pm.hwdb.load(ok)  # an embedded device: no warning (pytest turns warnings into errors)


def test_a_file_name_given_as_an_id_points_to_load():
    with pytest.raises(
        pm.HwdbError, match=r"is a file name, not an id: load a file of your own with pm\.hwdb\.load"
    ):
        pm.hwdb.get("my-gpu.toml", "device")
