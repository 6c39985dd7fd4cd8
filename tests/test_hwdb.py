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


def _own(embedded: str, new_id: str, **replace: str) -> str:
    """An embedded spec's TOML under another id, with `key = "value"` lines replaced."""
    text = pm.hwdb.get(embedded).to_toml().replace(f'id = "{embedded}"', f'id = "{new_id}"')
    for key, value in replace.items():
        old = f'{key} = "{pm.hwdb.get(embedded)[key]}"'
        assert old in text
        text = text.replace(old, f'{key} = "{value}"')
    return text


def test_a_device_and_system_of_your_own_work_in_every_model(tmp_path: Path):
    """docs/add_your_own_gpu.md: a device file and a system file naming it, loaded, work by id everywhere: the
    same numbers as the embedded pair they copy, and the device's own figures change them."""
    dev = tmp_path / "test-own-l40.toml"
    dev.write_text(_own("l40s", "test-own-l40"))
    node = tmp_path / "test-own-node.toml"
    node.write_text(_own("g6e-l40s", "test-own-node", device="test-own-l40"))
    pm.hwdb.load(dev)
    assert pm.hwdb.load(node)["device"] == "test-own-l40"
    assert "test-own-l40" in pm.hwdb.ids("device", registered=True)
    assert "test-own-l40" not in pm.hwdb.ids("device")  # the embedded ids stay the embedded ones
    assert pm.hwdb.resolve("test-own-node", "device").id == "test-own-l40"
    for system in ("test-own-node", pm.hwdb.get("test-own-node")):
        own = pm.serve.decode("llama3.1-8b", system, batch=8, context_len=1024).time_s
        assert own == pm.serve.decode("llama3.1-8b", "g6e-l40s", batch=8, context_len=1024).time_s
        step = pm.llm.estimate("megatron-1.7b", (system, 1), tp=1, global_batch=64, micro_batch=1).step_time_s
        assert (
            step
            == pm.llm.estimate(
                "megatron-1.7b", ("g6e-l40s", 1), tp=1, global_batch=64, micro_batch=1
            ).step_time_s
        )
    # Half the HBM bandwidth, registered again under the same id: small-batch decode is HBM-bound, so it takes
    # longer, by at most 2x (the launch and sampling parts do not scale).
    half = pm.hwdb.get("l40s")["memory.hbm_bandwidth_gbps"] / 2
    slow = pm.hwdb.get("test-own-l40").with_overrides({"memory.hbm_bandwidth_gbps": half})
    pm.hwdb.register(slow)
    t = pm.serve.decode("llama3.1-8b", "test-own-node", batch=8, context_len=1024).time_s
    base = pm.serve.decode("llama3.1-8b", "g6e-l40s", batch=8, context_len=1024).time_s
    assert 1.5 * base < t <= 2.0 * base


def test_a_system_file_naming_an_unknown_device_warns_and_says_what_to_load_first(tmp_path: Path):
    path = tmp_path / "my-node.toml"
    path.write_text(_own("g6e-l40s", "test-orphan-node", device="test-missing-gpu"))
    with pytest.warns(
        UserWarning, match=r"'test-missing-gpu' is not a device id.*load the files it names first"
    ):
        node = pm.hwdb.load(path)
    assert pm.cluster(node, 1).devices == 8  # the spec itself still works where a spec goes
    with pytest.raises(pm.HwdbError, match="neither embedded .* nor registered: load your device file first"):
        pm.hwdb.resolve(node, "device")
    with pytest.raises(pm.HwdbError, match="register your own files first"):
        pm.hwdb.register(node)
    ok = tmp_path / "l40s-node.toml"
    ok.write_text(pm.hwdb.get("g6e-l40s").to_toml())
    pm.hwdb.load(ok)  # an embedded id: a what-if copy, not registered, no warning (warnings are errors here)


def test_an_embedded_id_cannot_be_registered_over():
    with pytest.raises(pm.HwdbError, match="is the id of the embedded device"):
        pm.hwdb.register(pm.hwdb.get("h100-sxm5-80gb").with_overrides({"memory.hbm_bandwidth_gbps": 1.0}))
    assert pm.hwdb.get("h100-sxm5-80gb")["memory.hbm_bandwidth_gbps"] > 1.0


def test_a_registered_spec_registers_again_where_it_is_unpickled(tmp_path: Path):
    import subprocess
    import sys

    spec = pm.hwdb.register(pm.hwdb.parse(_own("l40s", "test-pickled-l40")))
    blob = tmp_path / "spec.pickle"
    blob.write_bytes(__import__("pickle").dumps(spec))
    code = (
        "import pickle, sys, perfmodel as pm; s = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print(s.id in pm.hwdb.ids('device', registered=True), pm.hwdb.get('test-pickled-l40') == s)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_a_file_name_given_as_an_id_points_to_load():
    with pytest.raises(
        pm.HwdbError, match=r"is a file name, not an id: load a file of your own with pm\.hwdb\.load"
    ):
        pm.hwdb.get("my-gpu.toml", "device")
