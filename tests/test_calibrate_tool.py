"""tools/calibrate.py --roofline: what it writes keeps what it does not own, and what it fits is what hwdb ships.

``write_device`` is run on temporary copies of the hwdb device files (never the repository's); the fit test runs
the tool's fits of ``FIT_DEVICES`` on the installed engine and compares them with the repository's hwdb files
(``tools/calibrate.py --check`` does the same for every device it writes, the cookbook devices included).
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import calibrate as cal  # noqa: E402

H100 = "h100-sxm5-80gb"
H200 = "h200-sxm-141gb"
NOTE = "a note a later session appended by hand (kept by every write)"


@pytest.fixture
def hwdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of hwdb/devices the tool reads and writes instead of the repository's."""
    shutil.copytree(ROOT / "hwdb" / "devices", tmp_path / "hwdb" / "devices")
    monkeypatch.setattr(cal, "ROOT", tmp_path)
    monkeypatch.setattr(cal, "HWDB", tmp_path / "hwdb")
    return tmp_path / "hwdb" / "devices"


def _eff(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))["efficiency"]


def _parts(path: Path) -> list[str]:
    return str(_eff(path)["fitted_on"]).split(" | ")


def _owned(path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """The fractions of a file and the fitted_on parts the tool owns, as the file has them (opening removed)."""
    eff = _eff(path)
    parts = {}
    for x in _parts(path):
        key = cal._owner(x)
        if key is not None:
            parts[key] = cal._OPENING.sub("", x, count=1)
    return {k: eff[cal.KEYS[k]] for k in parts}, parts


@pytest.mark.parametrize("dev", [*cal.FIT_DEVICES, *cal.INHERIT])
def test_rewriting_what_a_file_says_leaves_it_byte_identical(hwdb: Path, dev: str) -> None:
    path = hwdb / f"{dev}.toml"
    before = path.read_text(encoding="utf-8")
    values, parts = _owned(path)
    assert parts or dev in cal.INHERIT, dev  # a fitted device's file has figure parts
    head = f"inherited from {cal.INHERIT[dev][0]}: {cal.INHERIT[dev][1]}" if dev in cal.INHERIT else None
    cal.write_device(dev, values, parts, head)
    assert path.read_text(encoding="utf-8") == before


def test_a_refit_keeps_the_notes_it_does_not_own(hwdb: Path) -> None:
    path = hwdb / f"{H100}.toml"
    doc = cal._read(path)
    doc["efficiency"]["fitted_on"] = f"{doc['efficiency']['fitted_on']} | {NOTE}"
    path.write_text(cal.tomlkit.dumps(doc), encoding="utf-8")
    old = _parts(path)
    old_eff = _eff(path)
    graph_note = next(x for x in old if "graph floor" in x)  # session 16's "not written" note
    softmax_note = next(x for x in old if x.startswith("attention_cudnn_softmax_fraction fitted"))
    new_text = "gemm_16bit_fraction on 2 row(s): a test's rows"
    cal.write_device(H100, {"gemm16": 0.75}, {"gemm16": new_text})
    new = _parts(path)
    eff = _eff(path)
    assert eff["gemm_16bit_fraction"] == 0.75
    assert {k: v for k, v in eff.items() if k not in ("gemm_16bit_fraction", "fitted_on")} == {
        k: v for k, v in old_eff.items() if k not in ("gemm_16bit_fraction", "fitted_on")
    }
    # The figure's part replaced in place, the opening of the first part kept; every other part as it was.
    i = next(i for i, x in enumerate(old) if cal._owner(x) == "gemm16")
    assert new[i] == cal._OPENING.match(old[i]).group(1) + new_text  # type: ignore[union-attr]
    assert new[:i] + new[i + 1 :] == old[:i] + old[i + 1 :]
    assert new[-1] == NOTE and graph_note in new and softmax_note in new


def test_a_new_figure_goes_after_the_figure_parts_and_the_notes_stay_once(hwdb: Path) -> None:
    path = hwdb / f"{H100}.toml"
    old = _parts(path)
    cal.write_device(H100, {"odd": 0.3}, {"odd": "odd_gemm_fraction on 1 row(s): a test's row"})
    new = _parts(path)
    last_figure = max(i for i, x in enumerate(old) if cal._owner(x) is not None)
    assert new == [
        *old[: last_figure + 1],
        "odd_gemm_fraction on 1 row(s): a test's row",
        *old[last_figure + 1 :],
    ]
    notes = cal.figure_notes(H100).split(" | ")
    assert all(new.count(n) == 1 for n in notes)


def test_an_inheriting_device_keeps_its_own_notes(hwdb: Path) -> None:
    path = hwdb / f"{H200}.toml"
    old = _parts(path)
    kept = [
        x
        for x in old
        if x.startswith(("the GEMM and attention fractions", "attention_cudnn_softmax_fraction:"))
    ]
    assert len(kept) == 2  # hand-written notes of sessions 13 and 17
    cast = next(x for x in old if cal._owner(x) == "fp8_cast")
    cal.write_device(
        H200,
        {"gemm16": 0.7, "fp8_cast": 0.45},
        {"fp8_cast": cast.replace("14 own", "14 own (refit)")},
        head=f"inherited from {H100}: a new reason",
    )
    new = _parts(path)
    assert new[0] == f"inherited from {H100}: a new reason"
    assert all(x in new for x in kept) and new[-2:] == kept
    assert _eff(path)["gemm_16bit_fraction"] == 0.7 and _eff(path)["fp8_cast_fraction"] == 0.45
    assert len(new) == len(old)


def test_check_finds_a_figure_the_tool_would_change(hwdb: Path) -> None:
    shipped = _eff(hwdb / f"{H100}.toml")["gemm_16bit_fraction"]
    report: dict[str, dict[str, Any]] = {}
    for (d, k), h in cal.HELD.items():
        report.setdefault(d, {})[cal.KEYS[k]] = {"refit": h.refit}
    assert cal.check_roofline({H100: ({"gemm16": shipped}, {}, None)}, report) == []
    bad = cal.check_roofline({H100: ({"gemm16": shipped + 0.0001}, {}, None)}, report)
    assert bad == [f"{H100} gemm_16bit_fraction: hwdb {shipped}, the tool gives {round(shipped + 0.0001, 4)}"]
    key = next(iter(cal.HELD))
    moved = {**report, key[0]: {**report[key[0]], cal.KEYS[key[1]]: {"refit": cal.HELD[key].refit + 0.001}}}
    assert len(cal.check_roofline({}, moved)) == 1


def test_the_fit_reproduces_every_shipped_fraction() -> None:
    # The fits of FIT_DEVICES on the installed engine (~35 s on 2 cores): each figure fitted under the setup its
    # shipped value was fitted under (LEGACY_GRID_FIGURES), or HELD with the refit HELD records.
    values, _texts, report = cal.calibrate_roofline(logo=False, devices=cal.FIT_DEVICES)
    assert cal.check_roofline({d: (values[d], {}, None) for d in cal.FIT_DEVICES}, report) == []
    # Not vacuous: every fitted figure of the devices was compared.
    assert sum(len(v) for v in values.values()) == 16
