"""The one command tree: every command listed and documented, ``--format json`` and ``csv`` on every command
that prints results, exit codes 1 (model error) and 2 (usage error) without a traceback, ``perfmodel daq``,
the ``llm`` plan flags, and ``collectives --log`` reading the GPU the log ran on."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import perfmodel as pm
import polars as pl
import pytest
from perfmodel import cli, cli_collectives

DATA = Path(__file__).resolve().parent / "data" / "nccl_tests"
MI300X_LOG = DATA / "mi300x_8gpu_all_reduce_rccl.txt"
H100_LOG = DATA / "h100_2node_16rank_all_reduce.txt"
ADD_GPU = Path(__file__).resolve().parents[1] / "examples" / "data" / "add_gpu"

COMMANDS = ("report", "roofline", "hwdb", "validate", "llm", "collectives", "serve", "mix", "power", "daq")

#: One quick call of every leaf command that prints results (``hwdb calibrate``: its own test below).
CALLS: dict[str, list[str]] = {
    "report": ["report", "mi300x"],
    "roofline": ["roofline", "gemm", "h100-sxm5-80gb", "1024", "1024", "1024"],
    "hwdb list": ["hwdb", "list", "system"],
    "hwdb show": ["hwdb", "show", "dgx-h100"],
    "hwdb new": ["hwdb", "new", "my-gpu"],
    "validate": ["validate", "roofline"],
    "llm presets": ["llm", "presets"],
    "llm search": ["llm", "search", "megatron-1.7b", "dgx-a100", "1", "--global-batch", "16", "--top", "3"],
    "llm estimate": ["llm", "estimate", "megatron-1.7b", "dgx-a100", "1", "--global-batch", "16", "--tp", "2",
                     "--zero", "3", "--qwz", "--qgz", "--hpz", "2", "--dp-overlap", "--seq-len", "4096"],
    "llm sizing": ["llm", "sizing", "llama2-7b", "mi300x"],
    "llm sizing-rules": ["llm", "sizing-rules", "--devices", "mi300x"],
    "collectives": ["collectives", "--sizes", "1K..1M"],
    "serve prefill": ["serve", "prefill", "llama3-8b", "dgx-h100"],
    "serve decode": ["serve", "decode", "llama3-8b", "dgx-h100", "--batch", "8"],
    "serve memory": ["serve", "memory", "llama3-8b", "dgx-h100"],
    "serve simulate": ["serve", "simulate", "llama3-8b", "dgx-h100", "--rate", "2", "--num-requests", "20"],
    "serve throughput": ["serve", "throughput", "llama3-8b", "dgx-h100", "--isl", "128", "--osl", "32",
                         "--num-requests", "50"],
    "serve max-rate": ["serve", "max-rate", "llama3-8b", "dgx-h100", "--slo-tpot", "0.05", "--num-requests", "50"],
    "serve disagg": ["serve", "disagg", "llama3-8b", "dgx-h100", "--rate", "2", "--num-requests", "20"],
    "serve split": ["serve", "split", "llama3-8b", "dgx-h100", "--gpus", "4", "--rate", "2", "--num-requests", "20"],
    "mix": ["mix", "llama2-7b", "--gpus", "g6-l4,g5-a10g", "--rate", "4", "--tpot-slo", "0.12", "--dtype", "fp16"],
    "power model": ["power", "model", "dgx-h100"],
    "power batch": ["power", "batch", "llama3.1-8b", "dgx-h100", "--batches", "8,64"],
    "power simulate": ["power", "simulate", "llama3.1-8b", "dgx-h100", "--num-requests", "20"],
    "power pareto": ["power", "pareto", "llama3.1-8b", "dgx-h100", "--num-requests", "32", "--max-num-seqs", "16"],
    "power oversubscribe": ["power", "oversubscribe", "llama3.1-8b", "dgx-h100", "--facility-w", "1000000",
                            "--server-cap-w", "8000", "--num-requests", "32", "--tp", "1"],
    "daq presets": ["daq", "presets"],
    "daq evaluate": ["daq", "evaluate", "cms-run5", "--lever", "gpu_hlt"],
    "daq sweep": ["daq", "sweep", "cms-run5", "--vary", "L1T.skill=1:4:4"],
    "daq levers": ["daq", "levers", "cms-run3"],
}  # fmt: skip


def _strict(text: str) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""

    def refuse(c: str) -> None:
        raise ValueError(f"non-standard JSON constant {c}")

    return json.loads(text, parse_constant=refuse)


def _leaves(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                out.update(_leaves(sp, (*path, name)))
    if not out and path:
        out[" ".join(path)] = p
    return out


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    got = capsys.readouterr()
    return rc, got.out, got.err


# -- the tree -----------------------------------------------------------------------------------------------
def test_help_lists_every_command_and_none_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "perfmodel", "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0
    listed = {
        line.split()[0] for line in r.stdout.split("commands:")[1].splitlines()[2:] if line.startswith("    ")
    }
    assert set(COMMANDS) <= listed, listed
    assert "not available" not in r.stdout
    for leaf in _leaves(cli.build_parser()):  # every subcommand's help runs and none says "not available"
        with pytest.raises(SystemExit) as e:
            cli.main([*leaf.split(), "--help"])
        out = capsys.readouterr().out
        assert e.value.code == 0 and f"usage: perfmodel {leaf}" in out and "not available" not in out


def test_every_argument_and_positional_has_help() -> None:
    missing = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                helped = {c.dest for c in a._choices_actions if c.help}
                for name, sp in a.choices.items():
                    if name not in helped:
                        missing.append(f"{path} {name}")
                    walk(sp, f"{path} {name}")
            elif not isinstance(a, (argparse._HelpAction, argparse._VersionAction)) and not a.help:
                missing.append(f"{path} {'/'.join(a.option_strings) or a.dest}")

    walk(cli.build_parser(), "perfmodel")
    assert not missing, missing


def test_version() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "perfmodel", "--version"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and r.stdout.strip() == f"perfmodel {pm.__version__}"


def test_the_calls_below_cover_every_leaf_command() -> None:
    leaves = set(_leaves(cli.build_parser()))
    assert leaves - set(CALLS) == {"hwdb calibrate"}, leaves - set(CALLS)
    for leaf, parser in _leaves(cli.build_parser()).items():
        assert any(a.dest == "format" for a in parser._actions), f"{leaf} has no --format"


# -- formats ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CALLS))
def test_every_command_prints_json_and_csv(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, [*CALLS[name], "--format", "json"])
    assert rc == 0, err
    doc = _strict(out)
    assert isinstance(doc, (dict, list)) and doc
    rc, out, err = _run(capsys, [*CALLS[name], "--format", "csv"])
    assert rc == 0, err
    frame = pl.read_csv(io.StringIO(out))
    assert frame.height >= 1 and frame.width >= 1


def test_json_keys_carry_units_and_match_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, [*CALLS["llm estimate"], "--format", "json"])
    d = _strict(out)
    e = pm.llm.estimate(pm.llm.model("megatron-1.7b", seq_len=4096), ("dgx-a100", 1), tp=2, global_batch=16,
                        zero=3, qwz=True, qgz=True, hpz=2, dp_overlap=True)  # fmt: skip
    assert (
        d["step_time_s"] == pytest.approx(e.step_time_s)
        and d["memory_per_gpu_bytes"] == e.memory_per_gpu_bytes
    )
    assert d["plan"]["qwz"] and d["plan"]["qgz"] and d["plan"]["hpz"] == 2 and d["plan"]["dp_overlap"]
    assert {"component", "time_s", "fraction"} <= set(d["breakdown"][0])
    assert {"ranks", "bytes", "time_s"} <= set(d["collectives"][0])
    rc, out, _ = _run(capsys, [*CALLS["collectives"], "--format", "json"])
    assert {"nbytes", "time_us", "algbw_gbps", "busbw_gbps"} <= set(_strict(out)["rows"][0])


def test_side_notes_go_to_stderr_with_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv = tmp_path / "req.csv"
    rc, out, err = _run(capsys, [*CALLS["serve simulate"], "--csv", str(csv), "--format", "json"])
    assert rc == 0 and _strict(out)["summary"]["num_requests"] == 20 and f"wrote 20 requests to {csv}" in err
    assert pl.read_csv(csv).height == 20


def test_hwdb_calibrate_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("tomlkit")
    f = tmp_path / "my-gpu.toml"
    assert cli.main(["hwdb", "new", "my-gpu", "--out", str(f), "--format", "json"]) == 0
    assert _strict(capsys.readouterr().out)["path"] == str(f)
    rc, out, _ = _run(
        capsys, ["hwdb", "calibrate", str(f), "--gemm", str(ADD_GPU / "gemm_sweep.csv"), "--format", "json"]
    )
    d = _strict(out)
    assert rc == 0 and d["fits"][0]["figure"].startswith("efficiency.") and d["toml"].startswith("#")


# -- exit codes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["llm", "estimate", "megatron-1.7b", "dgx-a100"], 2, "the following arguments are required"),
        (["report", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["roofline", "gemm", "h100-sxm5-80gb", "1", "2", "x"], 2, "invalid float value"),
        (["report", "--format", "xml"], 2, "invalid choice: 'xml'"),
        (["daq"], 2, "the following arguments are required"),
        (["collectives", "--sizes", "1Q"], 2, "cannot read '1Q'"),
        (["serve", "simulate", "llama3-8b", "dgx-h100"], 2, "give either --rate"),
        (["report", "h100-sxm-80gb"], 1, "did you mean 'h100-sxm5-80gb'"),
        (
            ["llm", "estimate", "gpt3-175b", "dgx-a100", "8", "--global-batch", "8", "--tp", "5"],
            1,
            "tp=5 = 5 GPUs per data-parallel replica",
        ),
        (["daq", "evaluate", "cms-run9"], 1, "unknown DAQ preset 'cms-run9'"),
    ],
)
def test_exit_codes_and_one_line_errors_without_traceback(argv: list[str], code: int, text: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "perfmodel", *argv], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == code, r.stderr
    assert text in r.stderr and "Traceback" not in r.stderr and r.stdout == ""
    if code == 1:  # a model error: one line, named by the command
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"perfmodel {argv[0]}")


def test_in_process_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:  # argparse's own usage errors exit
        cli.main(["llm", "search"])
    assert e.value.code == 2
    assert cli.main(["mix", "llama2-7b", "--gpus", "g6-l4", "--tpot-slo", "0.1"]) == 2
    assert "give --rate or --rates" in capsys.readouterr().err
    assert cli.main(["power", "model", "no-such-gpu"]) == 1
    assert "no-such-gpu" in capsys.readouterr().err


# -- llm --------------------------------------------------------------------------------------------------
def test_llm_search_shows_cp_and_ep_and_takes_their_choices(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["llm", "search", "mixtral-8x7b", "dgx-h100", "4", "--global-batch", "64", "--tp", "2", "--ep", "4,8",
            "--cp", "1,2", "--zero", "1", "--top", "20"]  # fmt: skip
    rc, out, _ = _run(capsys, argv)
    header = next(line for line in out.splitlines() if "step_time_s" in line)
    assert rc == 0 and " cp " in header and " ep " in header and "memory_per_gpu_gib" in header
    rc, out, _ = _run(capsys, [*argv, "--format", "json"])
    plans = _strict(out)["plans"]
    assert (
        {p["ep"] for p in plans} <= {4, 8}
        and {p["cp"] for p in plans} <= {1, 2}
        and {p["zero"] for p in plans} == {1}
    )
    rc, out, _ = _run(capsys, [*argv, "--dp-overlap", "--format", "json"])  # fixes the overlaps: tp, pp off
    plans = _strict(out)["plans"]
    assert all(p["dp_overlap"] and not p["tp_overlap"] and not p["pp_overlap"] for p in plans)


def test_llm_estimate_flags_map_onto_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["llm", "estimate", "mixtral-8x7b", "dgx-h100", "4", "--global-batch", "64", "--tp", "2", "--ep", "4",
            "--cp", "2", "--zero", "1", "--tp-overlap", "--pp-overlap", "--seq-len", "8192", "--format", "json"]  # fmt: skip
    rc, out, _ = _run(capsys, argv)
    d = _strict(out)
    e = pm.llm.estimate(pm.llm.model("mixtral-8x7b", seq_len=8192), ("dgx-h100", 4), tp=2, ep=4, cp=2, zero=1,
                        global_batch=64, tp_overlap=True, pp_overlap=True)  # fmt: skip
    assert rc == 0 and d["step_time_s"] == pytest.approx(e.step_time_s)
    assert (
        d["plan"]["ep"] == 4
        and d["plan"]["cp"] == 2
        and d["plan"]["tp_overlap"]
        and not d["plan"]["dp_overlap"]
    )
    rc, out, _ = _run(capsys, argv[:-2])
    assert "cp=2, ep=4" in out and "tp_overlap, pp_overlap" in out


def test_llm_estimate_lora_flags_map_onto_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    # --lora-rank / --lora-dropout are the API's lora_rank / lora_dropout (adapters on frozen weights).
    argv = ["llm", "estimate", "llama2-70b", "dgx-h100", "2", "--global-batch", "16", "--tp", "4", "--frozen-weights",
            "--lora-rank", "16", "--lora-dropout", "--format", "json"]  # fmt: skip
    rc, out, _ = _run(capsys, argv)
    e = pm.llm.estimate(pm.llm.model("llama2-70b"), ("dgx-h100", 2), tp=4, global_batch=16, frozen_weights=True,
                        lora_rank=16, lora_dropout=True)  # fmt: skip
    bare = pm.llm.estimate(
        pm.llm.model("llama2-70b"), ("dgx-h100", 2), tp=4, global_batch=16, frozen_weights=True
    )
    assert rc == 0 and _strict(out)["step_time_s"] == pytest.approx(e.step_time_s)
    assert e.step_time_s > bare.step_time_s  # the adapters cost something
    rc, out, _ = _run(capsys, argv[:-2])
    assert "lora_rank=16" in out and "lora_dropout" in out
    # Adapters without frozen weights: the library's error, naming the argument.
    rc, _, err = _run(capsys, [a for a in argv if a != "--frozen-weights"])
    assert rc != 0 and "lora_rank" in err


# -- daq ----------------------------------------------------------------------------------------------------
def test_daq_commands_are_the_library(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, _ = _run(
        capsys, ["daq", "evaluate", "cms-run5", "--lever", "gpu_hlt,smart_pixels", "--format", "json"]
    )
    d = _strict(out)
    assert rc == 0 and d["metrics"]["power_w"] == pytest.approx(
        pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True).evaluate().power_w
    )
    assert d["levers"]["gpu_hlt"] and not d["levers"]["l1_tracking"] and len(d["stages"]) > 10
    rc, out, _ = _run(
        capsys, ["daq", "evaluate", "cms-run5", "--set", "L1T.reduction_ratio=100", "--format", "csv"]
    )
    row = pl.read_csv(io.StringIO(out))
    want = pm.daq.preset("cms-run5").with_values({"L1T.reduction_ratio": 100}).evaluate()
    assert row["output_rate_hz"][0] == pytest.approx(want.output_rate_hz)
    rc, out, _ = _run(capsys, ["daq", "sweep", "cms-run5", "--vary", "L1T.skill=1,2,3", "--vary", "year=log:2030:2032:2",
                               "--per-stage", "--format", "csv"])  # fmt: skip
    grid = pl.read_csv(io.StringIO(out))
    assert (
        rc == 0
        and grid.height == 6
        and "power_w:HLT" in grid.columns
        and sorted(set(grid["L1T.skill"])) == [1, 2, 3]
    )
    rc, out, _ = _run(capsys, ["daq", "levers", "cms-run5", "--fix", "optical_links=off", "--format", "json"])
    assert rc == 0 and len(_strict(out)["rows"]) == 8
    rc, out, _ = _run(capsys, ["daq", "evaluate", "cms-run5"])
    assert rc == 0 and "51.60 MW" in out and "F1" in out
    toml = tmp_path / "p.toml"
    toml.write_text((Path(pm.daq.__file__).parent / "presets" / "cms-run3.toml").read_text())
    assert cli.main(["daq", "evaluate", str(toml), "--format", "json"]) == 0
    assert _strict(capsys.readouterr().out)["metrics"]["power_w"] > 0
    assert cli.main(["daq", "evaluate", str(toml), "--lever", "gpu_hlt"]) == 2
    assert "levers belong to the presets" in capsys.readouterr().err
    assert cli.main(["daq", "sweep", "cms-run5", "--vary", "L1T.skill=1:x:3"]) == 2
    assert "cannot read '1:x:3'" in capsys.readouterr().err


# -- collectives --log: the log's GPU ---------------------------------------------------------------------
def test_log_gpu_is_read_from_the_log() -> None:
    assert cli_collectives.log_gpus(str(MI300X_LOG)) == ["AMD Instinct MI300X"]
    assert cli_collectives.log_gpus(str(H100_LOG)) == ["NVIDIA H100 80GB HBM3"]
    assert cli_collectives.log_gpus(
        str(DATA / "a100_p4d_2node_16rank_all_reduce_error_column_tagged.txt")
    ) == ["A100-SXM4-40GB"]
    assert cli_collectives.gpu_family("h100-sxm5-80gb") == cli_collectives.gpu_family("NVIDIA H100 80GB HBM3")
    assert (
        cli_collectives.gpu_family("AMD Instinct MI300X") == "MI300X" != cli_collectives.gpu_family("mi325x")
    )


def test_log_gpu_contradicting_system_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, ["collectives", "--log", str(MI300X_LOG), "--system", "dgx-h100"])
    assert rc == 2 and out == ""
    assert (
        "ran on 'AMD Instinct MI300X'" in err and "dgx-h100" in err and "--system mi300x-pollara-node" in err
    )
    rc, out, err = _run(capsys, ["collectives", "--log", str(MI300X_LOG), "--system", "dgx-h100", "--ignore-log-gpu",
                                 "--format", "json"])  # fmt: skip
    d = _strict(out)
    assert rc == 0 and d["system"] == "dgx-h100" and d["log_gpus"] == ["AMD Instinct MI300X"]


def test_log_gpu_picks_the_system(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, ["collectives", "--log", str(MI300X_LOG), "--format", "json"])
    d = _strict(out)
    assert rc == 0 and d["system"] == "mi300x-pollara-node" and d["nranks"] == 8
    assert d["summary"]["from_1_mib"]["median_abs_busbw_error_pct"] >= 0 and len(d["rows"]) == 31
    rc, out, _ = _run(capsys, ["collectives", "--log", str(H100_LOG)])
    assert rc == 0 and "# system: dgx-h100, the system of the log's GPU 'NVIDIA H100 80GB HBM3'" in out
    assert "Cluster(2x dgx-h100" in out


def test_log_without_gpu_names_and_json_logs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bare = tmp_path / "all_reduce_perf.log"
    bare.write_text("\n".join(line for line in H100_LOG.read_text().splitlines() if "device" not in line))
    rc, out, _ = _run(capsys, ["collectives", "--log", str(bare), "--nranks", "16"])
    assert rc == 0 and "dgx-h100 by default: the log does not name its GPUs" in out
    doc = {"devices": [{"rank": i, "device_info": "AMD Instinct MI300X"} for i in range(8)], "results": []}
    js = tmp_path / "all_reduce.json"
    js.write_text(json.dumps(doc))
    assert cli_collectives.log_gpus(str(js)) == ["AMD Instinct MI300X"]
    unknown = tmp_path / "all_reduce_other.log"
    unknown.write_text(MI300X_LOG.read_text().replace("AMD Instinct MI300X", "Acme Tensor 9000"))
    rc, _, err = _run(capsys, ["collectives", "--log", str(unknown)])
    assert rc == 2 and "'Acme Tensor 9000'" in err and "pass --system" in err
    rc, out, _ = _run(capsys, ["collectives", "--log", str(unknown), "--system", "mi300x-pollara-node"])
    assert rc == 0 and "not in hwdb; not checked" in out
