"""The hardware people buy now (issue 18): Blackwell, MI355X, H800/H20, L40S, rack-scale NVLink, block-scaled FP4/FP6."""

from pathlib import Path

import perfmodel as pm
import polars as pl
import pytest

HWDB = Path(__file__).resolve().parents[1] / "hwdb"

NEW = {
    "device": ["b200-sxm-180gb", "gb200-186gb", "mi355x", "h800-sxm5-80gb", "h20-96gb", "l40s"],
    "fabric": ["nvlink5-nvswitch", "nvlink4-nvswitch-h800"],
    "nic": ["cx8-xdr800", "spectrum-x-400"],
    "system": ["dgx-b200", "gb200-nvl72", "mi355x-pollara-node", "hgx-h800", "hgx-h20", "g6e-l40s"],
}

# A dense Llama-3-70B-shaped model at 8k context (the preset llama3.1-70b trains at 128k).
LLAMA70_8K = {
    "hidden": 8192,
    "layers": 80,
    "heads": 64,
    "kv_heads": 8,
    "ffn_hidden": 28672,
    "seq_len": 8192,
    "vocab": 128256,
}


@pytest.mark.parametrize("kind,id_", [(k, i) for k, ids in NEW.items() for i in ids])
def test_new_files_load_strictly_with_sources(kind, id_):
    """Each new file is embedded, loads through the strict reader from its own path too, and names its sources."""
    assert id_ in pm.hwdb.ids(kind)
    spec = pm.hwdb.load(HWDB / f"{kind}s" / f"{id_}.toml")
    assert spec.to_dict()["sources"]


@pytest.mark.parametrize(
    "device,dtype,tflops",
    # Dense datasheet peaks: HGX/DGX B200 (8-GPU sums with sparsity / 2 / 8), GB200 NVL72 (/ 2 / 72),
    # MI355X (256 CUs x 8192 FP8 FLOPs/clock x 2.4 GHz), L40S datasheet (sparse / 2), H800 FP64.
    [
        ("b200-sxm-180gb", "bf16", 2250),
        ("b200-sxm-180gb", "fp8", 4500),
        ("b200-sxm-180gb", "nvfp4", 9000),
        ("b200-sxm-180gb", "mxfp4", 9000),
        ("b200-sxm-180gb", "fp6", 4500),
        ("gb200-186gb", "nvfp4", 10000),
        ("mi355x", "fp8", 5033.2),
        ("mi355x", "mxfp4", 10066.3),
        ("l40s", "fp8", 733),
        ("h800-sxm5-80gb", "fp64", 1),
    ],
)
def test_new_datasheet_peaks(device, dtype, tflops):
    assert pm.hwdb.get(device).peak_tflops(dtype) == tflops


def test_block_scaled_gemm_is_below_its_peak_and_above_fp8():
    """An NVFP4 GEMM on B200 runs faster than FP8 but, with the block-scaling overhead, below twice its rate."""
    t = {
        d: float(pm.roofline.gemm("b200-sxm-180gb", 8192, 8192, 8192, dtype=d)["time_s"][0])
        for d in ("fp8", "nvfp4", "mxfp4")
    }
    assert t["nvfp4"] < t["fp8"]
    assert t["fp8"] / t["nvfp4"] < 2.0
    tflops = float(pm.roofline.gemm("b200-sxm-180gb", 8192, 8192, 8192, dtype="nvfp4")["tflops"][0])
    assert tflops < 0.7 * 9000


def test_missing_dtype_is_a_clear_error():
    with pytest.raises(pm.PerfModelError, match="no nvfp4 support"):
        pm.roofline.gemm("h100-sxm5-80gb", 4096, 4096, 4096, dtype="nvfp4")
    # CDNA4 has the OCP MX formats, not NVIDIA's NVFP4.
    with pytest.raises(pm.PerfModelError, match="no nvfp4 support"):
        pm.roofline.gemm("mi355x", 4096, 4096, 4096, dtype="nvfp4")
    pm.roofline.gemm("mi355x", 4096, 4096, 4096, dtype="mxfp4")
    with pytest.raises(pm.PerfModelError, match="ambiguous"):
        pm.roofline.gemm("b200-sxm-180gb", 4096, 4096, 4096, dtype="fp4")
    with pytest.raises(pm.PerfModelError, match="no nvfp4 support"):
        pm.serve.decode("llama3-8b", "dgx-h100", batch=8, context_len=1024, dtype="nvfp4")


def test_a_4bit_peak_needs_its_block_scaled_fraction(tmp_path: Path):
    text = (HWDB / "devices" / "b200-sxm-180gb.toml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("gemm_4bit_fraction")]
    bad = tmp_path / "b200-no-fp4-fraction.toml"
    bad.write_text("\n".join(lines).replace('id = "b200-sxm-180gb"', 'id = "b200-no-fp4-fraction"'))
    with pytest.raises(pm.HwdbError, match="gemm_4bit_fraction"):
        pm.hwdb.load(bad)


def test_b200_fp4_serving_is_faster_than_fp8_because_of_weight_bytes():
    """Decode of the same batch reads the weights once per step: NVFP4 (0.5625 B per weight with its FP8 scale per 16)
    beats FP8 (1 B), and the step is not faster than the weight bytes allow."""
    kw = dict(tp=1, batch=16, context_len=2048)
    fp8 = pm.serve.decode("llama3.1-70b", "dgx-b200", dtype="fp8", **kw).time_s
    fp4 = pm.serve.decode("llama3.1-70b", "dgx-b200", dtype="nvfp4", **kw).time_s
    mx4 = pm.serve.decode("llama3.1-70b", "dgx-b200", dtype="mxfp4", **kw).time_s
    assert fp4 < 0.8 * fp8
    assert mx4 <= fp4  # 0.53125 B per weight (one E8M0 scale per 32) against 0.5625
    weights = 70.6e9 * (0.5 + 1 / 16)
    assert fp4 > weights / 8000e9
    offline = pm.serve.max_throughput("llama3.1-70b", "dgx-b200", tp=1, isl=1024, osl=1024, dtype="nvfp4")
    offline8 = pm.serve.max_throughput("llama3.1-70b", "dgx-b200", tp=1, isl=1024, osl=1024, dtype="fp8")
    assert offline.output_tokens_per_s > offline8.output_tokens_per_s


def test_nvl72_tp16_all_reduce_stays_on_nvlink():
    """16 ranks on one GB200 NVL72 rack all-reduce over the NVLink switch (NVLS), at the 8-GPU DGX B200's speed;
    on DGX B200 the same 16 ranks cross the 400G NICs and take twice as long or more."""
    nbytes = 1 << 30
    nvl = pm.collectives.predict("gb200-nvl72", "all_reduce", nbytes, 16)
    dgx8 = pm.collectives.predict("dgx-b200", "all_reduce", nbytes, 8)
    dgx16 = pm.collectives.predict("dgx-b200", "all_reduce", nbytes, 16)
    assert nvl["algorithm"][0] == "nvls"
    assert float(nvl["time_s"][0]) == pytest.approx(float(dgx8["time_s"][0]), rel=1e-9)
    assert float(dgx16["time_s"][0]) > 2.0 * float(nvl["time_s"][0])


def test_gb200_nvl72_plan_search():
    """A training plan search on one NVL72 rack: every plan's TP and DP traffic stays on NVLink, so a 72-GPU DP
    all-reduce costs far less than on nine DGX B200 nodes (same GPUs per node group, NICs between them)."""
    rack = pm.cluster("gb200-nvl72", 1)
    df = pm.llm.search(LLAMA70_8K, rack, global_batch=144)
    assert df.height > 0
    best = df.row(0, named=True)
    assert best["fits"] and best["tp"] * best["pp"] * best["dp"] * best["cp"] == 72
    plan = dict(tp=8, pp=1, micro_batch=1, global_batch=144, recompute="selective", zero=1)
    nvl = pm.llm.estimate(LLAMA70_8K, rack, **plan)
    dgx = pm.llm.estimate(LLAMA70_8K, pm.cluster("dgx-b200", 9), **plan)
    comp = {
        e: dict(zip(x.breakdown["component"], x.breakdown["time_s"], strict=True))
        for e, x in (("nvl", nvl), ("dgx", dgx))
    }
    assert comp["nvl"]["dp_comm"] < 0.25 * comp["dgx"]["dp_comm"]
    # TP=8 groups are NVLink 5 on both; the GB200 GPU's higher clocks make its compute shorter.
    assert comp["nvl"]["forward"] < comp["dgx"]["forward"]


ADD_GPU = Path(__file__).resolve().parents[1] / "examples" / "data" / "add_gpu"


def test_add_your_own_gpu_walkthrough(tmp_path: Path):
    """docs/add_your_own_gpu.md: a template that loads, then a calibration that recovers the fractions the synthetic
    files were made with (0.70, 0.62, 0.90, 2% noise) and reports its error; the nccl log fits the node's fabric."""
    pytest.importorskip("scipy")
    pytest.importorskip("tomlkit")
    from perfmodel import add_gpu, cli

    out = tmp_path / "my-gpu.toml"
    assert cli.main(["hwdb", "new", "my-gpu", "--from", "h100-sxm5-80gb", "--out", str(out)]) == 0
    spec = pm.hwdb.load(out)
    assert spec["id"] == "my-gpu" and "TEMPLATE" in str(spec.to_dict()["sources"])
    text, report = add_gpu.calibrate(out, gemm=ADD_GPU / "gemm_sweep.csv", stream=ADD_GPU / "stream_copy.csv")
    fits = {f["figure"]: f for f in report["fits"]}
    assert fits["efficiency.gemm_16bit_fraction"]["value"] == pytest.approx(0.70, abs=0.01)
    assert fits["efficiency.gemm_8bit_fraction"]["value"] == pytest.approx(0.62, abs=0.01)
    assert fits["efficiency.hbm_fraction"]["value"] == pytest.approx(0.90, abs=0.01)
    assert all(f["median_abs_error"] < 0.05 and not f["at_bound"] for f in fits.values())
    assert cli.main(["hwdb", "calibrate", str(out), "--gemm", str(ADD_GPU / "gemm_sweep.csv"), "--stream",
                     str(ADD_GPU / "stream_copy.csv"), "--nccl", str(ADD_GPU / "all_reduce_8gpu.log"), "--system",
                     "mi300x-pollara-node", "--write"]) == 0  # fmt: skip
    calibrated = pm.hwdb.load(out)
    assert calibrated["efficiency.gemm_16bit_fraction"] == pytest.approx(0.70, abs=0.01)
    assert "perfmodel hwdb calibrate" in calibrated["efficiency.fitted_on"]
    fabric = pm.hwdb.load(tmp_path / "mi300x-xgmi-mesh.toml")
    assert 0.3 < fabric["efficiency.bandwidth_fraction"] <= 1.0
    assert calibrated["sources.efficiency"].startswith("The fractions efficiency.fitted_on names")
    assert "the template's (h100-sxm5-80gb)" in calibrated["sources.efficiency"]
    with pytest.raises(pm.PerfModelError, match="time_s"):
        bad = tmp_path / "bad.csv"
        bad.write_text("m,n,k\n1,2,3\n")
        add_gpu.calibrate(out, gemm=bad)


def test_calibrate_keeps_a_sources_entry_the_user_wrote(tmp_path: Path):
    """The docs tell the user to say in [sources] what was kept from the template: a rerun must not overwrite it."""
    pytest.importorskip("scipy")
    tomlkit = pytest.importorskip("tomlkit")
    from perfmodel import add_gpu, cli

    out = tmp_path / "my-gpu.toml"
    assert cli.main(["hwdb", "new", "my-gpu", "--from", "h100-sxm5-80gb", "--out", str(out)]) == 0
    doc = tomlkit.parse(out.read_text())
    doc["sources"]["efficiency"] = "Mine: attention and overheads kept from h100-sxm5-80gb"
    out.write_text(tomlkit.dumps(doc))
    text, _ = add_gpu.calibrate(out, stream=ADD_GPU / "stream_copy.csv")
    assert (
        pm.hwdb.parse(text)["sources.efficiency"] == "Mine: attention and overheads kept from h100-sxm5-80gb"
    )


def test_a_communicator_that_partly_fills_a_second_rack_is_priced_by_its_own_ranks() -> None:
    # 96 GPUs of two NVL72 racks are 72 + 24: the second rack's 24 NICs carry the inter-rack traffic. The engine
    # once priced it exactly as 144 GPUs (72 + 72), then refused it; it now prices the last rack's ranks as they
    # are (tests/test_partial_node.py derives the slopes by hand).
    t = pm.collectives.predict("gb200-nvl72", "all_reduce", 2**30, [72, 96, 144])["time_s"]
    assert t[1] != t[2] and t[2] > t[0]
    assert pm.collectives.predict("dgx-b200", "all_reduce", 2**30, 12)["time_s"][0] > 0
    # Inside one node any count is a communicator of its own.
    assert pm.collectives.predict("gb200-nvl72", "all_reduce", 2**30, 40)["time_s"][0] > 0


# Blackwell Ultra, MI350X and H200 NVL (issue 18, second batch).
NEW2 = {
    "device": ["b300-sxm-270gb", "gb300-279gb", "mi350x", "h200-nvl-141gb"],
    "fabric": ["mi350-xgmi-mesh", "h200-nvl-bridge4", "pcie5-x16-host"],
    "system": ["dgx-b300", "gb300-nvl72", "mi350x-node", "h200-nvl-node"],
}


@pytest.mark.parametrize("kind,id_", [(k, i) for k, ids in NEW2.items() for i in ids])
def test_second_batch_loads_strictly_with_a_source_per_figure(kind, id_):
    assert id_ in pm.hwdb.ids(kind)
    spec = pm.hwdb.load(HWDB / f"{kind}s" / f"{id_}.toml")
    assert spec.to_dict()["sources"]


@pytest.mark.parametrize(
    "device,dtype,tflops",
    [
        ("b300-sxm-270gb", "bf16", 2250),
        ("b300-sxm-270gb", "nvfp4", 13500),
        ("gb300-279gb", "nvfp4", 15000),
        ("gb300-279gb", "fp8", 5000),
        ("mi350x", "fp8", 4613.7),
        ("mi350x", "mxfp4", 9227.5),
        ("h200-nvl-141gb", "bf16", 835.5),
    ],
)
def test_second_batch_datasheet_peaks(device, dtype, tflops):
    assert pm.hwdb.get(device).peak_tflops(dtype) == tflops


def test_blackwell_ultra_has_no_int8_peak():
    """The published Blackwell Ultra INT8 figures disagree; the files leave the dtype out rather than guess."""
    with pytest.raises(pm.PerfModelError, match="no int8 support"):
        pm.roofline.gemm("b300-sxm-270gb", 4096, 4096, 4096, dtype="int8")


@pytest.mark.parametrize("system", NEW2["system"])
def test_second_batch_systems_run_training_and_serving(system):
    gpus = int(pm.hwdb.get(system)["devices_per_node_count"])
    est = pm.llm.estimate("llama3.1-8b", (system, 1), tp=1, pp=1, micro_batch=1, global_batch=gpus)
    assert est.step_time_s > 0
    dtype = "mxfp4" if system == "mi350x-node" else "fp8"
    assert pm.serve.decode("llama3.1-8b", system, tp=1, batch=8, context_len=2048, dtype=dtype).time_s > 0
    # Held out in the MLPerf suite: the calibration is the sibling's (same_as), not fitted on these rows.
    assert pm.llm.calibration(system)["same_as"]


def test_b300_fp4_serving_beats_b200():
    """Same HBM bandwidth, 1.5x the NVFP4 peak: B300's FP4 decode is no slower than B200's, and its prefill-heavy
    offline throughput is higher."""
    kw = dict(tp=1, batch=64, context_len=2048, dtype="nvfp4")
    b300 = pm.serve.decode("llama3.1-70b", "dgx-b300", **kw).time_s
    b200 = pm.serve.decode("llama3.1-70b", "dgx-b200", **kw).time_s
    assert b300 <= b200
    off = {
        s: pm.serve.max_throughput(
            "llama3.1-70b", s, tp=1, isl=4096, osl=256, dtype="nvfp4"
        ).output_tokens_per_s
        for s in ("dgx-b300", "dgx-b200")
    }
    assert off["dgx-b300"] > off["dgx-b200"]


def test_gb300_nvl72_plan_search():
    """A small plan search on one GB300 NVL72 rack: every plan stays on the rack's NVLink domain."""
    df = pm.llm.search("llama3.1-8b", pm.cluster("gb300-nvl72", 1), global_batch=72)
    assert df.height > 0
    best = df.row(0, named=True)
    assert best["fits"] and best["tp"] * best["pp"] * best["dp"] * best["cp"] == 72


def test_h200_nvl_bridge_groups_are_faster_than_pcie():
    """4 ranks inside one NVLink bridge group all-reduce faster than 8 ranks that cross PCIe 5.0 between groups."""
    nbytes = 1 << 28
    four = float(pm.collectives.predict("h200-nvl-node", "all_reduce", nbytes, 4)["time_s"][0])
    eight = float(pm.collectives.predict("h200-nvl-node", "all_reduce", nbytes, 8)["time_s"][0])
    assert four < eight


def test_calibrate_sets_aside_gemm_rows_in_a_dtype_the_device_lacks(tmp_path: Path, capsys):
    """A shared sweep's fp8 rows on an Ampere card (no fp8 rate): reported and skipped, the 16-bit rows still fitted
    to the same value as a sweep without them; an nccl-tests log alone leaves the device file as it was."""
    pytest.importorskip("scipy")
    pytest.importorskip("tomlkit")
    from perfmodel import add_gpu, cli

    out = tmp_path / "my-ampere.toml"
    assert cli.main(["hwdb", "new", "my-ampere", "--from", "a10g", "--out", str(out)]) == 0
    sweep = pl.read_csv(ADD_GPU / "gemm_sweep.csv")
    n_fp8 = sweep.filter(pl.col("dtype") == "fp8").height
    assert n_fp8 > 0
    _, report = add_gpu.calibrate(out, gemm=ADD_GPU / "gemm_sweep.csv")
    assert report["skipped_gemm_rows"] == {"fp8": n_fp8}
    no_fp8 = tmp_path / "no_fp8.csv"
    sweep.filter(pl.col("dtype") != "fp8").write_csv(no_fp8)
    _, plain = add_gpu.calibrate(out, gemm=no_fp8)
    assert [f["value"] for f in report["fits"]] == [f["value"] for f in plain["fits"]]
    assert cli.main(["hwdb", "calibrate", str(out), "--gemm", str(ADD_GPU / "gemm_sweep.csv")]) == 0
    assert f"skipped {n_fp8} fp8 GEMM rows: device 'my-ampere' has no fp8 rate" in capsys.readouterr().out
    before = out.read_text()
    assert cli.main(["hwdb", "calibrate", str(out), "--nccl", str(ADD_GPU / "all_reduce_8gpu.log"), "--system",
                     "g6e-l40s", "--write"]) == 0  # fmt: skip
    assert out.read_text() == before
    assert f"wrote {out}\n" not in capsys.readouterr().err
