"""Collective charts (busbw vs size, algorithm map) and the ``perfmodel collectives`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import perfmodel as pm
import polars as pl
import pytest
from perfmodel import cli, cli_collectives
from perfmodel.errors import InvalidArgumentError
from perfmodel.plots import collectives as cp
from perfmodel.plots import save

DATA = Path(__file__).resolve().parent / "data" / "nccl_tests"
MI300X_LOG = DATA / "mi300x_8gpu_all_reduce_rccl.txt"
H100_LOG = DATA / "h100_2node_16rank_all_reduce.txt"


def test_sizes_and_byte_labels():
    # all_reduce_perf -b 8 -e 8G -f 2 printed 31 rows in the real A3 Mega log; size_range steps the same way.
    real = pm.nccl_tests.read(H100_LOG).filter(pl.col("placement") == "in-place")["size_bytes"].to_list()
    assert cp.size_range(8, 8 * 2**30, 2).tolist() == real
    assert [cp.format_bytes(x) for x in (8, 1024, 1536, 2**20, 8 * 2**30, 2**40)] == [
        "8 B",
        "1 KiB",
        "1.5 KiB",
        "1 MiB",
        "8 GiB",
        "1 TiB",
    ]
    ticks = cp._size_ticks(np.asarray(real, dtype=float))
    assert len(ticks) <= 10 and all(8 <= t <= 8 * 2**30 and np.log2(t) % 1 == 0 for t in ticks)
    with pytest.raises(InvalidArgumentError, match="`lo`, `hi`, `factor`"):
        cp.size_range(8, 4)


def test_model_curves_name_the_algorithms_each_topology_runs():
    h100 = cp.model_curves("dgx-h100", "all_reduce", 8, algorithms="all", sizes=[2**30])
    a100 = cp.model_curves("dgx-a100", "all_reduce", 8, algorithms="all", sizes=[2**30])
    assert "nvls" in set(h100["requested"])  # NVSwitch gen3 reduces in the switch (NVLink SHARP)
    assert "nvls" not in set(a100["requested"])  # NVSwitch gen2 does not
    # auto is the envelope: never slower than any algorithm drawn next to it.
    auto = h100.filter(pl.col("requested") == "auto")["time_us"][0]
    assert auto == pytest.approx(h100["time_us"].min())
    six = cp.model_curves("dgx-h100", "all_reduce", 6, algorithms="all", sizes=[2**20])
    assert "recursive_doubling" not in set(six["requested"])  # needs a power-of-two rank count
    with pytest.raises(InvalidArgumentError, match="`algorithms`"):
        cp.model_curves("dgx-h100", "all_reduce", 8, algorithms=[])


def test_measured_points_from_logs_and_validation_rows():
    log = pm.nccl_tests.read(MI300X_LOG)
    pts = cp.measured_points(log, label="rccl")
    assert (
        pts.height == 31
        and set(pts["kind"]) == {"out-of-place"}
        and set(pts["series"]) == {"rccl (measured)"}
    )
    only_inplace = log.filter(pl.col("placement") == "in-place")
    assert set(cp.measured_points(only_inplace)["kind"]) == {"in-place"}  # rccl-tests' in-place-only output
    rows = pm.validation.run("collectives")
    vpts = cp.measured_points(rows)
    assert set(vpts["kind"]) == {"fit", "holdout"}
    assert "dgx-h100 all_reduce" in set(vpts["label"])  # one series per system, size classes merged
    with pytest.raises(InvalidArgumentError, match="argument `measured`"):
        cp.measured_points(pl.DataFrame({"x": [1]}))


def test_charts_render_without_a_browser(tmp_path: Path):
    log = pm.nccl_tests.read(MI300X_LOG)
    curves = cp.compare_curves(
        {"8x H100": ("dgx-h100", 8), "8x MI300X": ("mi300x-pollara-node", 8)},
        sizes=cp.size_range(2**10, 2**30, 4),
    )
    charts = {
        "busbw.svg": cp.busbw_vs_size("mi300x-pollara-node", measured=log),
        "compare.svg": cp.busbw_chart(curves, cp.measured_points(log), log_y=True),
        "map.svg": cp.algorithm_map("dgx-h100", nodes=2, sizes=cp.size_range(2**10, 2**30, 16)),
    }
    for name, chart in charts.items():
        assert save(chart, tmp_path / name).read_text().startswith("<svg")
    png = save(charts["map.svg"], tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The log's sizes are among the model's x values, so every measured point has a model value to sit on.
    spec = charts["busbw.svg"].to_dict()
    assert spec["title"] == "all_reduce: mi300x-pollara-node, 8 ranks"
    with pytest.raises(InvalidArgumentError, match="`curves`"):
        cp.busbw_chart(log)


def test_algorithm_map_frame_follows_the_topology():
    c = pm.cluster("dgx-h100", 2)
    grid = cp.algorithm_map_frame(c, "all_reduce", sizes=[2**12, 2**30])
    assert sorted(set(grid["nranks"])) == [2, 4, 8, 16] and grid.height == 2 * 4
    at = {(r["nranks"], r["nbytes"]): r for r in grid.iter_rows(named=True)}
    assert at[(8, 2**30)]["algorithm"] == "nvls"  # one NVSwitch domain: in-switch reduction wins at 1 GiB
    assert at[(16, 2**30)]["algorithm"] != "nvls"  # NVLS is modelled inside one node only
    assert at[(16, 2**30)]["transports"] == "node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)"
    # busbw in the grid is the same number predict() gives for that cell.
    direct = pm.collectives.predict(c, "all_reduce", 2**30, 16)["busbw_gbps"][0]
    assert at[(16, 2**30)]["busbw_gbps"] == pytest.approx(direct)


def test_parse_sizes_as_nccl_tests_reads_them():
    assert cli_collectives.parse_sizes("1K..8G").tolist() == [2.0**k for k in range(10, 34)]
    assert cli_collectives.parse_sizes("1M,4M,1G").tolist() == [2.0**20, 2.0**22, 2.0**30]
    assert cli_collectives.parse_sizes("1K..1M", factor=4).tolist() == [2.0**k for k in range(10, 21, 2)]
    assert cli_collectives.parse_size("1.5K") == 1536 and cli_collectives.parse_size("8GiB") == 2**33
    for bad, text in (
        ("1Q", "cannot read '1Q'"),
        ("8G..1K", "ends below"),
        ("0.5", "whole number"),
        (",", "empty"),
    ):
        with pytest.raises(InvalidArgumentError, match=text):
            cli_collectives.parse_sizes(bad)


def test_cli_prints_an_nccl_tests_style_table(capsys: pytest.CaptureFixture[str]):
    assert (
        cli.main(
            ["collectives", "--system", "dgx-h100", "--nodes", "2", "--op", "all_reduce", "--sizes", "1K..8G"]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line and not line.startswith("#")]
    assert len(rows) == 24  # 1 KiB .. 8 GiB by factors of 2
    assert "transports: node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)" in out
    one_gib = next(r for r in rows if r[0] == str(2**30))
    want = pm.collectives.predict(pm.cluster("dgx-h100", 2), "all_reduce", 2**30, 16)
    assert float(one_gib[3]) == pytest.approx(want["busbw_gbps"][0], abs=0.006)  # busbw column, 2 decimals
    assert one_gib[4] == want["algorithm"][0]


def test_cli_compares_a_log_and_writes_charts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plot, amap, csv = tmp_path / "cmp.png", tmp_path / "map.svg", tmp_path / "cmp.csv"
    rc = cli_collectives.main(
        [
            "--log",
            str(MI300X_LOG),
            "--system",
            "mi300x-pollara-node",
            "--plot",
            str(plot),
            "--map",
            str(amap),
            "--csv",
            str(csv),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "busbw error, >= 1 MiB: median" in out and f"wrote {plot}" in out
    assert plot.read_bytes()[:4] == b"\x89PNG" and amap.read_text().startswith("<svg")
    table = pl.read_csv(csv)
    assert table.height == 31 and table["measured_busbw_gbps"][-1] == 315.69


@pytest.mark.parametrize(
    ("argv", "text", "code"),
    [
        (["--sizes", "1Q"], "argument `--sizes`: cannot read '1Q'", 2),
        (["--system", "dgx-h10"], "did you mean 'dgx-h100'", 1),
        (["--op", "allreduse"], "did you mean 'all_reduce'", 1),
        (["--algorithm", "rign"], "did you mean 'ring'", 1),
        (["--nranks", "9", "--nodes", "1"], "use --nodes 2 or more", 2),
        (["--system", "dgx-a100", "--algorithm", "nvls"], "NVSwitch", 1),
        (["--log", "/nonexistent/all_reduce.log"], "cannot read log", 1),
    ],
)
def test_cli_bad_input_is_a_clear_error(
    argv: list[str], text: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Usage errors (an unreadable or contradictory command line) exit with 2, model errors with 1."""
    assert cli.main(["collectives", *argv]) == code
    err = capsys.readouterr().err
    assert text in err and err.startswith("perfmodel collectives: error: ") and "Traceback" not in err
