"""The ``perfmodel`` command line.

perfmodel report [DEVICE] [--set KEY=VALUE ...]   what-if report of one device (default h100-sxm5-80gb)
perfmodel roofline gemm DEVICE M N K [--dtype bf16]
perfmodel hwdb list [KIND] | perfmodel hwdb show ID
perfmodel hwdb new DEVICE_ID --from TEMPLATE | perfmodel hwdb calibrate FILE --gemm CSV --stream CSV --nccl LOG
perfmodel validate [SUITE|all] [--write DIR]
perfmodel llm ... | collectives ... | daq ... | serve ... | mix ... | power ...   domain subcommands (when installed)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from . import hwdb, roofline, validation
from .errors import PerfModelError

DEFAULT_DEVICE = "h100-sxm5-80gb"
# Subcommands implemented by domain modules exposing ``main(argv) -> int``.
DOMAIN_COMMANDS = {
    "llm": "perfmodel.cli_llm",
    "collectives": "perfmodel.cli_collectives",
    "daq": "perfmodel.cli_daq",
    "serve": "perfmodel.cli_serve",
    "mix": "perfmodel.cli_mix",
    "power": "perfmodel.cli_power",
}


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def report(device_id: str, overrides: Sequence[str] = ()) -> str:
    """A plain-text what-if report: peaks, ridge points, modelled GEMM efficiency and HBM streaming."""
    dev = hwdb.get(device_id, "device")
    if overrides:
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise PerfModelError(f"--set expects KEY=VALUE, got '{item}'")
            k, v = item.split("=", 1)
            pairs[k.strip()] = _value(v.strip())
        dev = dev.with_overrides(pairs)
    lines = [f"perfmodel {__import__('perfmodel').__version__} — what-if report for {dev.name} ({dev.id})"]
    if overrides:
        lines.append("overrides: " + ", ".join(overrides))
    hbm = dev.hbm_bandwidth_gbps
    lines.append(
        f"HBM {dev.hbm_capacity_gb:g} GB at {hbm:g} GB/s; {dev['compute.units_count']} {dev.get('compute.unit_name', 'units')}; TDP {dev['power.tdp_w']} W"
    )
    lines.append("")
    lines.append(
        f"{'dtype':6s} {'peak TFLOP/s':>13s} {'ridge FLOP/B':>13s} {'GEMM 1k':>9s} {'GEMM 4k':>9s} {'GEMM 16k':>9s}  (modelled TFLOP/s, square M=N=K)"
    )
    sizes = np.array([1024.0, 4096.0, 16384.0])
    for dt in ("fp64", "tf32", "bf16", "fp16", "fp8", "int8"):
        peak = dev.peak_tflops(dt)
        if not peak:
            continue
        g = roofline.gemm(dev, sizes, sizes, sizes, dtype=dt)["tflops"].to_list()
        lines.append(f"{dt:6s} {peak:13.1f} {peak * 1000 / hbm:13.0f} {g[0]:9.1f} {g[1]:9.1f} {g[2]:9.1f}")
    s = roofline.memory_bound(dev, [1e6, 1e8, 1e10], [1e6, 1e8, 1e10])
    lines.append("")
    lines.append(
        "HBM copy (read + write), modelled: "
        + ", ".join(
            f"{int(r):.0e} B -> {gb:.0f} GB/s"
            for r, gb in zip(s["bytes_read"].to_list(), s["gbps"].to_list(), strict=True)
        )
    )
    lines.append(f"calibration: {dev['efficiency.fitted_on'][:160]}")
    return "\n".join(lines)


def _cmd_hwdb(args: argparse.Namespace) -> int:
    if args.action == "list":
        kinds = [args.target] if args.target else list(hwdb.KINDS)
        for k in kinds:
            print(f"{k}: " + ", ".join(hwdb.ids(k)))
    else:
        if not args.target:
            raise PerfModelError("hwdb show needs an id")
        print(json.dumps(hwdb.get(args.target).to_dict(), indent=2))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    if args.write:
        suites = list(validation.SUITES) if args.suite == "all" else [args.suite]
        for s in suites:
            try:
                validation.write(s, args.write)
                print(f"wrote {args.write}/{s}.csv and {s}_summary.json")
            except PerfModelError as e:
                print(f"{s}: {e}")
    rows = validation.run(args.suite)
    with pl.Config(tbl_rows=100, tbl_width_chars=160):
        print(validation.summarize(rows, ("suite", "group", "role")))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hwdb"] and argv[1:2] in (["new"], ["calibrate"]):
        from . import cli_hwdb

        try:
            return cli_hwdb.main(argv[1:])
        except PerfModelError as e:
            print(f"perfmodel hwdb: error: {e}", file=sys.stderr)
            return 2
    if argv and argv[0] in DOMAIN_COMMANDS:
        try:
            module = importlib.import_module(DOMAIN_COMMANDS[argv[0]])
        except ModuleNotFoundError:
            print(f"perfmodel: the '{argv[0]}' command is not available in this build", file=sys.stderr)
            return 2
        try:
            return int(module.main(argv[1:]) or 0)
        except PerfModelError as e:
            print(f"perfmodel {argv[0]}: error: {e}", file=sys.stderr)
            return 2
    p = argparse.ArgumentParser(
        prog="perfmodel", description="Analytical what-if models of AI clusters and DAQ systems."
    )
    p.add_argument("--version", action="version", version=f"perfmodel {__import__('perfmodel').__version__}")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("report", help="what-if report of one device")
    r.add_argument("device", nargs="?", default=DEFAULT_DEVICE)
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hwdb field, e.g. memory.hbm_bandwidth_gbps=5000",
    )
    g = sub.add_parser("roofline", help="roofline of one kernel")
    g.add_argument("kernel", choices=["gemm"])
    g.add_argument("device")
    g.add_argument("m", type=float)
    g.add_argument("n", type=float)
    g.add_argument("k", type=float)
    g.add_argument("--dtype", default="bf16")
    g.add_argument("--batch", type=float, default=1)
    h = sub.add_parser("hwdb", help="list or show hardware specs (also: hwdb new, hwdb calibrate)")
    h.add_argument("action", choices=["list", "show"])
    h.add_argument("target", nargs="?")
    v = sub.add_parser("validate", help="model error against published measurements")
    v.add_argument("suite", nargs="?", default="all")
    v.add_argument("--write", metavar="DIR", help="also write <suite>.csv and <suite>_summary.json into DIR")
    for name in DOMAIN_COMMANDS:
        sub.add_parser(name, help=f"{name} subcommands (see `perfmodel {name} --help`)")
    args = p.parse_args(argv or ["report"])
    try:
        if args.command == "report":
            print(report(args.device, args.set))
        elif args.command == "roofline":
            with pl.Config(tbl_cols=20, tbl_width_chars=200):
                print(roofline.gemm(args.device, args.m, args.n, args.k, dtype=args.dtype, batch=args.batch))
        elif args.command == "hwdb":
            return _cmd_hwdb(args)
        elif args.command == "validate":
            return _cmd_validate(args)
        return 0
    except PerfModelError as e:
        print(f"perfmodel: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
