"""pm.nccl_tests: reading real logs by their header row, compare and calibrate."""

import json
from pathlib import Path

import pytest

import perfmodel as pm
from perfmodel.errors import LogParseError

DATA = Path(__file__).resolve().parent / "data" / "nccl_tests"
H100 = DATA / "h100_2node_16rank_all_reduce.txt"


def test_reads_every_row_of_the_current_format():
    df = pm.nccl_tests.read(H100)
    assert df.height == 31 * 2  # 31 sizes x (out-of-place, in-place): no row dropped
    assert df["op"][0] == "all_reduce" and df["nranks"][0] == 16
    last = df.filter((df["size_bytes"] == 8589934592) & (df["placement"] == "in-place"))
    assert last["time_us"][0] == 47743 and last["busbw_gbps"][0] == 337.35


def test_reads_the_oldest_res_column_format():
    df = pm.nccl_tests.read(DATA / "nccl1_all_gather_res_column.txt")
    assert df.height == 10 and df["op"][0] == "all_gather"
    assert df["algbw_gbps"].to_list()[:2] == [157.38, 2083.77]


def _variant(tmp_path, old, new, name="all_reduce_perf.txt"):
    p = tmp_path / name
    p.write_text(H100.read_text().replace(old, new))
    return p


def test_cputime_and_error_column_headers(tmp_path):
    p = _variant(tmp_path, "    time   algbw   busbw #wrong     time", " cputime   algbw   busbw  error  cputime")
    df = pm.nccl_tests.read(p)
    assert df.height == 62 and df["time_us"][0] == 135.8


def test_rccl_in_place_only(tmp_path):
    lines = []
    for line in H100.read_text().splitlines():
        if line.startswith("#") and "out-of-place" in line:
            line = "#                                                    in-place"
        elif line.startswith("#") and "#wrong" in line:
            line = "#       size         count      type   redop    root     time   algbw   busbw #wrong"
        elif line and line[0] == " " and line.split()[0].isdigit():
            toks = line.split()
            line = " ".join(toks[:5] + toks[9:])
        lines.append(line)
    p = tmp_path / "all_reduce_perf.log"
    p.write_text("\n".join(lines))
    df = pm.nccl_tests.read(p)
    assert df.height == 31 and set(df["placement"]) == {"in-place"}


def test_json_output(tmp_path):
    doc = {
        "version": 2,
        "args": ["./build/all_reduce_perf", "-b", "8", "-J", "out.json"],
        "results": [
            {"size": 1024, "count": 256, "type": "float", "redop": "sum", "root": "    -1",
             "out_of_place": {"time": 10.5, "alg_bw": 0.1, "bus_bw": 0.17, "nwrong": 0},
             "in_place": {"cpu_time": 10.1, "alg_bw": 0.1, "bus_bw": 0.18, "nwrong": None}},
        ],
    }
    p = tmp_path / "out.json"
    p.write_text(json.dumps(doc))
    df = pm.nccl_tests.read(p)
    assert df.height == 2 and df["op"][0] == "all_reduce" and df["time_us"].to_list() == [10.5, 10.1]


def test_truncated_and_malformed_logs_raise(tmp_path):
    text = H100.read_text()
    cut = text[: text.index("   134217728") + 40]
    p = tmp_path / "cut.txt"
    p.write_text(cut)
    with pytest.raises(LogParseError, match="truncated"):
        pm.nccl_tests.read(p)
    p.write_text("hello\n")
    with pytest.raises(LogParseError, match="header"):
        pm.nccl_tests.read(p)
    p.write_text('{"results": [')
    with pytest.raises(LogParseError, match="JSON"):
        pm.nccl_tests.read(p)


def test_compare_and_calibrate_on_a_real_log():
    log = pm.nccl_tests.read(H100)
    cmp = pm.nccl_tests.compare(log, "dgx-h100")
    assert {"busbw_error", "predicted_busbw_gbps", "algorithm"} <= set(cmp.columns)
    big = cmp.filter(cmp["size_bytes"] >= 2**30)
    assert big["busbw_error"].abs().max() < 0.10
    fitted = pm.nccl_tests.calibrate(log, "dgx-h100", fitted_on="A3 Mega fixture")
    assert fitted.id == "cx7-ndr400" and fitted["efficiency.fitted_on"] == "A3 Mega fixture"
    after = pm.nccl_tests.compare(log, pm.cluster("dgx-h100", 2, specs={"nic": fitted}))
    assert after["busbw_error"].abs().median() < cmp["busbw_error"].abs().median()
    text = pm.nccl_tests.to_toml(fitted)
    assert pm.hwdb.parse(text)["efficiency.bandwidth_fraction"] == pytest.approx(fitted["efficiency.bandwidth_fraction"], rel=1e-5)
