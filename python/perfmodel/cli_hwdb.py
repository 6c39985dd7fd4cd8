"""``perfmodel hwdb``: list and show the hardware database, add your own GPU (docs/add_your_own_gpu.md).

perfmodel hwdb list [KIND]
perfmodel hwdb show ID
perfmodel hwdb new DEVICE_ID [--from TEMPLATE] [--name NAME] [--out FILE]
perfmodel hwdb calibrate FILE [--gemm CSV] [--stream CSV] [--nccl LOG --system SYSTEM] [--write] [--report JSON]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from . import add_gpu, hwdb
from .cli_common import add_command, domain_main, emit, note

__all__ = ["add_parser", "main"]


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel hwdb`` and its subcommands."""
    h = sub.add_parser("hwdb", help="the hardware database: list, show, add your own GPU (new, calibrate)",
                       description="Devices, NICs, fabrics and systems of the hardware database.")  # fmt: skip
    hs = h.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = add_command(hs, "list", "ids of one kind (or of every kind)", _list)
    ls.add_argument("target", nargs="?", choices=hwdb.KINDS, metavar="KIND",
                    help=f"one of {', '.join(hwdb.KINDS)} (default: every kind)")  # fmt: skip
    sh = add_command(hs, "show", "every field of one spec", _show)
    sh.add_argument("target", metavar="ID", help="hwdb id (device, nic, fabric or system), e.g. dgx-h100")
    n = add_command(hs, "new", "write a commented device file started from a sibling device", _new)
    n.add_argument("device_id", help="lowercase slug, the file's id (e.g. my-gpu-96gb)")
    n.add_argument("--from", dest="template", default="h100-sxm5-80gb",
                   help="embedded device to start from (default h100-sxm5-80gb)")  # fmt: skip
    n.add_argument("--name", help="display name")
    n.add_argument("--out", help="file to write (default: print)")
    c = add_command(hs, "calibrate", "fit a device file's fractions to measurements", _calibrate)
    c.add_argument("file", help="the device TOML file (from `perfmodel hwdb new`)")
    c.add_argument(
        "--gemm", help=f"GEMM sweep CSV: columns {', '.join(add_gpu.GEMM_COLUMNS)} and time_s or tflops"
    )
    c.add_argument(
        "--stream", help=f"STREAM-like CSV: columns {', '.join(add_gpu.STREAM_COLUMNS)} and time_s or gbps"
    )
    c.add_argument("--nccl", help="nccl-tests / rccl-tests log (all_reduce_perf output)")
    c.add_argument(
        "--system", help="system id or file the nccl-tests log ran on (its fabric, or NIC, is fitted)"
    )
    c.add_argument(
        "--write",
        action="store_true",
        help="rewrite FILE (and write the fabric next to it) instead of printing",
    )
    c.add_argument("--report", help="also write the fit report as JSON here")


def _list(args: argparse.Namespace) -> int:
    kinds = [args.target] if args.target else list(hwdb.KINDS)
    ids = {k: hwdb.ids(k) for k in kinds}
    frame = pl.DataFrame(
        [{"kind": k, "id": i} for k, v in ids.items() for i in v], schema={"kind": pl.String, "id": pl.String}
    )
    return emit(args, ids, "\n".join(f"{k}: " + ", ".join(v) for k, v in ids.items()), frame)


def _items(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _items(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [kv for i, v in enumerate(value) for kv in _items(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


def _show(args: argparse.Namespace) -> int:
    d = hwdb.get(args.target).to_dict()
    items = _items(d)
    frame = pl.DataFrame(
        {
            "key": [k for k, _ in items],
            "value": [v if isinstance(v, str) else json.dumps(v) for _, v in items],
        }
    )
    width = max(len(k) for k, _ in items)
    return emit(args, d, "\n".join(f"{k:{width}s}  {v}" for k, v in items), frame)


def _new(args: argparse.Namespace) -> int:
    text = add_gpu.template(args.device_id, args.template, args.name)
    data = {"device_id": args.device_id, "template": args.template, "path": args.out, "toml": text}
    if args.out:
        Path(args.out).write_text(text)
        hwdb.load(args.out)
        table = (f"wrote {args.out} (from {args.template}); next: replace the datasheet figures and sources, then "
                 f"perfmodel hwdb calibrate {args.out} --gemm ... --stream ...")  # fmt: skip
    else:
        table = text.rstrip("\n")
    return emit(args, data, table)


def _calibrate(args: argparse.Namespace) -> int:
    text, report = add_gpu.calibrate(
        args.file, gemm=args.gemm, stream=args.stream, nccl=args.nccl, system=args.system
    )
    lines = [
        f"skipped {n} {d} GEMM rows: device '{report['device']}' has no {d} rate in its file"
        for d, n in report.get("skipped_gemm_rows", {}).items()
    ]
    for f in report["fits"]:
        lines.append(f"{f['figure']:34s} = {f['value']:.4f}  rows={f['rows']:3d}  |err| median {f['median_abs_error']:.3f} "
                     f"max {f['max_abs_error']:.3f}  (before: {f['median_abs_error_before']:.3f} / "
                     f"{f['max_abs_error_before']:.3f})" + ("  AT A BOUND" if f["at_bound"] else ""))  # fmt: skip
    if "fabric" in report:
        fab = report["fabric"]
        lines.append(f"fabric {fab['id']}: bandwidth_fraction {fab['efficiency.bandwidth_fraction']:.4f}, latency_us "
                     f"{fab['efficiency.latency_us']:.3f}, rms log error {fab.get('rms_log_error', float('nan')):.3f}"
                     + (f"  AT A BOUND: {', '.join(fab['at_bound'])}" if fab.get("at_bound") else ""))  # fmt: skip
    plain = {k: v for k, v in report.items() if k != "fabric_toml"}
    if args.report:
        Path(args.report).write_text(json.dumps(plain, indent=2))
    written = []
    if args.write:
        if report["fits"]:  # an nccl-tests log alone changes the fabric's file, not the device's
            Path(args.file).write_text(text)
            hwdb.load(args.file)
            written.append(str(args.file))
        if "fabric_toml" in report:
            out = Path(args.file).with_name(f"{report['fabric']['id']}.toml")
            out.write_text(report["fabric_toml"])
            written.append(str(out))
    elif not args.report:
        lines.append(text.rstrip("\n"))
    data = {**plain, "written": written, "toml": None if args.write else text}
    emit(args, data, "\n".join(lines), pl.DataFrame(report["fits"]))
    for w in written:
        note(args, f"wrote {w}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel hwdb ARGV...``."""
    return domain_main("hwdb", argv)
