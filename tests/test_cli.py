"""The command line: the README's default report, errors as messages with exit code 1 (model) or 2 (usage)."""

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
