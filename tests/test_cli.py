"""The command line: the README's default report, errors as messages with exit code 1 (model) or 2 (usage)."""

import json
import subprocess
import sys

from perfmodel.cli import main


def test_default_report(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "H100" in out and "bf16" in out and "989.4" in out


def test_report_with_override(capsys):
    assert main(["report", "mi300x", "--set", "memory.hbm_bandwidth_gbps=8000"]) == 0
    assert "8000 GB/s" in capsys.readouterr().out


def test_bad_input_is_a_message_not_a_traceback(capsys):
    assert main(["roofline", "gemm", "a100-sxm4-80gb", "1024", "1024", "1024", "--dtype", "fp8"]) == 1
    assert "no fp8 support" in capsys.readouterr().err
    assert main(["report", "h100-sxm-80gb"]) == 1
    assert "h100-sxm5-80gb" in capsys.readouterr().err


def test_console_script_runs_from_elsewhere(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "perfmodel.cli", "hwdb", "list", "system"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "frontier-node" in r.stdout


def test_version_and_module_entry_point() -> None:
    import subprocess
    import sys

    import perfmodel as pm

    out = subprocess.run(
        [sys.executable, "-m", "perfmodel", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == f"perfmodel {pm.__version__}"


def test_report_and_roofline_take_a_device_file(tmp_path, capsys):
    """docs/add_your_own_gpu.md: the device file of `perfmodel hwdb new` goes where a device id goes."""
    import perfmodel as pm

    dev = tmp_path / "my-gpu.toml"
    dev.write_text(pm.hwdb.get("l40s").to_toml())
    assert main(["roofline", "gemm", str(dev), "8192", "8192", "8192"]) == 0
    assert "compute" in capsys.readouterr().out
    assert main(["report", str(dev)]) == 0
    assert "L40S" in capsys.readouterr().out
    node = tmp_path / "node.toml"
    node.write_text(pm.hwdb.get("g6e-l40s").to_toml())
    assert main(["report", str(node)]) == 2
    assert "is a system file, expected a device file" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read hwdb file" in capsys.readouterr().err


def test_a_file_name_where_an_id_goes_says_how_to_use_a_file(capsys):
    assert main(["serve", "decode", "llama3.1-8b", "my-node.toml"]) == 1
    err = capsys.readouterr().err
    assert "unknown system id 'my-node.toml'" in err and "pm.hwdb.load(path)" in err


def test_hwdb_option_registers_files_before_the_command(tmp_path, capsys):
    """`perfmodel --hwdb my-gpu.toml --hwdb my-node.toml serve ...`: the ids of your own files work in any command."""
    import perfmodel as pm

    dev = tmp_path / "cli-own-gpu.toml"
    dev.write_text(pm.hwdb.get("l40s").to_toml().replace('id = "l40s"', 'id = "cli-own-gpu"'))
    node = tmp_path / "cli-own-node.toml"
    node.write_text(
        pm.hwdb.get("g6e-l40s").to_toml().replace('id = "g6e-l40s"', 'id = "cli-own-node"')
        .replace('device = "l40s"', 'device = "cli-own-gpu"')
    )  # fmt: skip
    argv = ["serve", "decode", "llama3.1-8b", "{}", "--batch", "8", "--format", "json"]
    assert main(["--hwdb", str(dev), "--hwdb", str(node), *[a.format("cli-own-node") for a in argv]]) == 0
    own = json.loads(capsys.readouterr().out)
    assert main([a.format("g6e-l40s") for a in argv]) == 0
    assert own["time_s"] == json.loads(capsys.readouterr().out)["time_s"]
    # An embedded id in a file of your own is refused with the reason (exit 1, one line).
    copy = tmp_path / "copy.toml"
    copy.write_text(pm.hwdb.get("l40s").to_toml())
    assert main(["--hwdb", str(copy), "report"]) == 1
    assert "is the id of the embedded device" in capsys.readouterr().err
