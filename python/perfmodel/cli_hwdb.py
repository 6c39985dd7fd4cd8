"""``perfmodel hwdb new`` and ``perfmodel hwdb calibrate``: add your own GPU (docs/add_your_own_gpu.md).

perfmodel hwdb new DEVICE_ID [--from TEMPLATE] [--name NAME] [--out FILE]
perfmodel hwdb calibrate FILE [--gemm CSV] [--stream CSV] [--nccl LOG --system SYSTEM] [--write] [--report JSON]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from . import add_gpu, hwdb


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="perfmodel hwdb", description="Add your own GPU to the hardware database."
    )
    sub = p.add_subparsers(dest="action", required=True)
    n = sub.add_parser("new", help="write a commented device file started from a sibling device")
    n.add_argument("device_id", help="lowercase slug, the file's id (e.g. my-gpu-96gb)")
    n.add_argument("--from", dest="template", default="h100-sxm5-80gb", help="embedded device to start from")
    n.add_argument("--name", help="display name")
    n.add_argument("--out", help="file to write (default: print)")
    c = sub.add_parser("calibrate", help="fit a device file's fractions to measurements")
    c.add_argument("file")
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
    args = p.parse_args(list(argv))
    if args.action == "new":
        text = add_gpu.template(args.device_id, args.template, args.name)
        if args.out:
            Path(args.out).write_text(text)
            hwdb.load(args.out)
            print(f"wrote {args.out} (from {args.template}); next: replace the datasheet figures and sources, then "
                  f"perfmodel hwdb calibrate {args.out} --gemm ... --stream ...")  # fmt: skip
        else:
            print(text, end="")
        return 0
    text, report = add_gpu.calibrate(
        args.file, gemm=args.gemm, stream=args.stream, nccl=args.nccl, system=args.system
    )
    for f in report["fits"]:
        print(f"{f['figure']:34s} = {f['value']:.4f}  rows={f['rows']:3d}  |err| median {f['median_abs_error']:.3f} "
              f"max {f['max_abs_error']:.3f}  (before: {f['median_abs_error_before']:.3f} / {f['max_abs_error_before']:.3f})"
              + ("  AT A BOUND" if f["at_bound"] else ""))  # fmt: skip
    if "fabric" in report:
        fab = report["fabric"]
        print(f"fabric {fab['id']}: bandwidth_fraction {fab['efficiency.bandwidth_fraction']:.4f}, latency_us "
              f"{fab['efficiency.latency_us']:.3f}, rms log error {fab.get('rms_log_error', float('nan')):.3f}"
              + (f"  AT A BOUND: {', '.join(fab['at_bound'])}" if fab.get("at_bound") else ""))  # fmt: skip
    if args.report:
        Path(args.report).write_text(
            json.dumps({k: v for k, v in report.items() if k != "fabric_toml"}, indent=2)
        )
    if args.write:
        Path(args.file).write_text(text)
        hwdb.load(args.file)
        print(f"wrote {args.file}")
        if "fabric_toml" in report:
            out = Path(args.file).with_name(f"{report['fabric']['id']}.toml")
            out.write_text(report["fabric_toml"])
            print(f"wrote {out}")
    elif not args.report:
        print(text, end="")
    return 0
