"""pm.nccl_tests: reading real logs by their header row, compare and calibrate."""

import json
from pathlib import Path

import perfmodel as pm
import polars as pl
import pytest
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
    p = _variant(
        tmp_path, "    time   algbw   busbw #wrong     time", " cputime   algbw   busbw  error  cputime"
    )
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
            {
                "size": 1024,
                "count": 256,
                "type": "float",
                "redop": "sum",
                "root": "    -1",
                "out_of_place": {"time": 10.5, "alg_bw": 0.1, "bus_bw": 0.17, "nwrong": 0},
                "in_place": {"cpu_time": 10.1, "alg_bw": 0.1, "bus_bw": 0.18, "nwrong": None},
            },
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
    assert pm.hwdb.parse(text)["efficiency.bandwidth_fraction"] == pytest.approx(
        fitted["efficiency.bandwidth_fraction"], rel=1e-5
    )


# Real logs added for issue 3 (sources in tests/data/nccl_tests/SOURCES.md). Expected row counts come from the
# command lines the logs were produced with (-b/-e/-f: sizes lo, 2 lo, ... hi), not from the parser, and the
# spot values are copied from the published tables.
REAL_LOGS = {
    # file: (op, nranks, read() kwargs, (lo, hi) of the size range, spot checks (size, placement, time_us, busbw))
    "mi300x_8gpu_all_reduce_rccl.txt": (
        "all_reduce",
        8,
        {},
        (8, 8 * 2**30),
        [
            (8, "out-of-place", 19.28, 0.00),
            (8589934592, "out-of-place", 47617, 315.69),
            (8589934592, "in-place", 47584, 315.91),
        ],
    ),
    "mi300x_2node_16rank_all_reduce_rccl.txt": (
        "all_reduce",
        16,
        {},
        (8, 16 * 2**30),
        [
            (1048576, "out-of-place", 414.8, 4.74),
            (17179869184, "out-of-place", 90115, 357.46),
            (17179869184, "in-place", 90127, 357.41),
        ],
    ),
    "a100_p4d_2node_16rank_all_reduce_error_column_tagged.txt": (
        "all_reduce",
        16,
        {},
        (8, 2**30),
        [
            (512, "out-of-place", 374.7, 0.00),
            (512, "in-place", 170.1, 0.01),
            (1073741824, "in-place", 61303, 32.84),
        ],
    ),
    "a100_8gpu_sendrecv_na_column.txt": (
        "send_recv",
        8,
        {"nranks": 8},
        (128 * 2**20, 2**30),
        [(134217728, "out-of-place", 1211.2, 110.81), (1073741824, "in-place", 5490.5, 195.56)],
    ),
    "mi250x_16rank_all_reduce_error_column_excerpt.txt": (
        "all_reduce",
        16,
        {"nranks": 16},
        (8, 1024),
        [(8, "out-of-place", 25.06, 0.00), (1024, "in-place", 16.80, 0.11)],
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_LOGS))
def test_reads_every_row_of_real_logs(name):
    op, nranks, kwargs, (lo, hi), spots = REAL_LOGS[name]
    df = pm.nccl_tests.read(DATA / name, **kwargs)
    sizes = [lo * 2**k for k in range(hi.bit_length() - lo.bit_length() + 1)]
    assert sizes[-1] == hi
    assert df.height == 2 * len(sizes), "every data row, both placements"
    for placement in ("out-of-place", "in-place"):
        assert df.filter(pl.col("placement") == placement)["size_bytes"].to_list() == sizes
    assert set(df["op"]) == {op} and set(df["nranks"]) == {nranks}
    assert df["time_us"].is_finite().all() and df["busbw_gbps"].is_finite().all()
    for size, placement, time_us, busbw in spots:
        row = df.filter((pl.col("size_bytes") == size) & (pl.col("placement") == placement))
        assert row.height == 1
        assert row["time_us"][0] == pytest.approx(time_us) and row["busbw_gbps"][0] == pytest.approx(busbw)


def test_old_error_column_values_and_na():
    p4d = pm.nccl_tests.read(DATA / "a100_p4d_2node_16rank_all_reduce_error_column_tagged.txt")
    assert p4d["wrong"][0] == pytest.approx(
        2e-07
    )  # the `error` column is the max relative error, not a count
    sr = pm.nccl_tests.read(DATA / "a100_8gpu_sendrecv_na_column.txt", nranks=8)
    inplace = sr.filter(pl.col("placement") == "in-place")["wrong"]
    assert inplace.is_nan().all()  # `N/A` reads as NaN, the row is kept


def test_launcher_prefixes_are_stripped(tmp_path):
    # Open MPI --tag-output is covered by the p4d fixture; srun --label ("0: ") is a self-made variant of H100.
    p = tmp_path / "all_reduce_perf.labelled.txt"
    p.write_text("".join("0: " + line for line in H100.read_text().splitlines(keepends=True)))
    assert pm.nccl_tests.read(p).equals(pm.nccl_tests.read(H100))


def test_compare_on_real_rccl_logs():
    # 8x MI300X, an independent log (not among the validation rows the xGMI fabric was fitted on): the issue's
    # target for >= 1 MiB is a median busbw error <= 8 %.
    one = pm.nccl_tests.compare(
        pm.nccl_tests.read(DATA / "mi300x_8gpu_all_reduce_rccl.txt"), "mi300x-pollara-node"
    )
    big = one.filter(pl.col("size_bytes") >= 2**20)["busbw_error"].abs()
    assert big.len() == 14 and big.median() <= 0.08 and big.max() <= 0.15
    assert set(one.filter(pl.col("size_bytes") >= 2**20)["algorithm"]) == {
        "ring"
    }  # RCCL's choice on one node
    # 2 nodes x 8 MI300X over RoCE: the log beats one node (357 vs 316 GB/s at the top); the model, bound by the
    # xGMI ring, stays 14-17 % below from 1 GiB up. Reported, and held there so that it cannot get worse silently.
    two = pm.nccl_tests.compare(
        pm.nccl_tests.read(DATA / "mi300x_2node_16rank_all_reduce_rccl.txt"), "mi300x-pollara-node"
    )
    top = two.filter(pl.col("size_bytes") >= 2**30)["busbw_error"]
    assert top.len() == 5 and (top.abs() <= 0.20).all()


def test_compare_on_real_old_format_logs():
    # p4d.24xlarge: 4 x 100 Gb/s EFA per node against the DGX A100 spec's 8 x 200 Gb/s HDR: a node injects 4x less,
    # so the DGX model must over-predict the bandwidth-bound end by about that factor (3x-6x).
    p4d = pm.nccl_tests.compare(
        pm.nccl_tests.read(DATA / "a100_p4d_2node_16rank_all_reduce_error_column_tagged.txt"), "dgx-a100"
    )
    assert p4d.height == 28
    ratio = (
        p4d.filter(pl.col("size_bytes") >= 2**28)
        .select(pl.col("predicted_busbw_gbps") / pl.col("measured_busbw_gbps"))
        .to_series()
    )
    assert ((ratio > 3) & (ratio < 6)).all()
    # sendrecv between NVLink3 neighbours (300 GB/s per direction): published 195 GB/s at 1 GiB, a holdout row.
    sr = pm.nccl_tests.compare(
        pm.nccl_tests.read(DATA / "a100_8gpu_sendrecv_na_column.txt", nranks=8), "dgx-a100"
    )
    assert sr["algorithm"][0] == "direct"
    assert sr.filter(pl.col("size_bytes") == 2**30)["busbw_error"][0] == pytest.approx(0.0, abs=0.20)
    # MI250X excerpt (8 B - 1 KiB): latency-bound rows, compared on Frontier nodes (16 GCDs = 2 nodes).
    mi250 = pm.nccl_tests.compare(
        pm.nccl_tests.read(DATA / "mi250x_16rank_all_reduce_error_column_excerpt.txt", nranks=16),
        "frontier-node",
    )
    assert mi250.height == 8 and mi250["predicted_time_us"].is_finite().all()
    assert mi250["measured_time_us"].to_list()[0] == 25.06


def test_log_copied_from_a_rendered_page_without_hashes(tmp_path):
    # Self-made: the H100 fixture with every leading '#' removed, as a log looks when copied from a GitHub page
    # that rendered the pasted '# ...' lines as headings (seen in NVIDIA/nccl-tests#249, NVIDIA/nccl#583).
    p = tmp_path / "all_reduce_perf.txt"
    p.write_text(
        "\n".join(line[1:] if line.startswith("#") else line for line in H100.read_text().splitlines())
    )
    df = pm.nccl_tests.read(p)
    assert df.height == 62 and df["nranks"][0] == 16
    assert df.drop("line").equals(pm.nccl_tests.read(H100).drop("line"))
