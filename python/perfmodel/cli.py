"""The ``perfmodel`` command line: one argparse tree (``perfmodel --help``, ``perfmodel COMMAND --help``).

perfmodel report [DEVICE] [--set KEY=VALUE ...]      what-if report of one device (default h100-sxm5-80gb)
perfmodel roofline gemm DEVICE M N K [--dtype bf16]  modelled GEMM time, TFLOP/s and bound
perfmodel hwdb list|show|new|calibrate ...           the hardware database (``cli_hwdb``)
perfmodel validate [SUITE|all] [--write DIR]         model error against published measurements
perfmodel llm presets|search|estimate|sizing|sizing-rules ...   LLM training (``cli_llm``, ``cli_sizing``)
perfmodel collectives [...] | --log FILE             collective times, nccl-tests style (``cli_collectives``)
perfmodel serve prefill|decode|memory|simulate|throughput|max-rate|disagg|split ...   serving (``cli_serve``)
perfmodel mix MODEL --gpus ... --tpot-slo S          cheapest GPU mix for a workload (``cli_mix``)
perfmodel power model|batch|simulate|pareto|oversubscribe ...   power and energy (``cli_power``)
perfmodel daq presets|evaluate|sweep|levers ...      HEP DAQ pipelines (``cli_daq``)

Every command that prints results takes ``--format table|json|csv``; exit codes are 0, 1 (a model error) and
2 (a usage error); see :mod:`perfmodel.cli_common`. ``python -m perfmodel`` is the same command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import (
    cli_collectives,
    cli_daq,
    cli_hwdb,
    cli_llm,
    cli_mix,
    cli_power,
    cli_serve,
    hwdb,
    roofline,
    validation,
)
from .cli_common import UsageError, add_command, emit, frame_text, note, run_parsed
from .errors import PerfModelError

DEFAULT_DEVICE = "h100-sxm5-80gb"

#: The report's dtypes and square GEMM sizes.
_REPORT_DTYPES = ("fp64", "tf32", "bf16", "fp16", "fp8", "int8")
_REPORT_SIZES = (1024, 4096, 16384)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _device(arg: str) -> hwdb.Spec:
    """An embedded device id, or a device TOML file of your own (`perfmodel hwdb new`)."""
    if arg.endswith(".toml") or Path(arg).is_file():
        spec = hwdb.load(arg)
        if spec.kind != "device":
            raise UsageError(f"argument `device`: {arg} is a {spec.kind} file, expected a device file")
        return spec
    return hwdb.get(arg, "device")


def _overridden(device_id: str, overrides: Sequence[str]) -> hwdb.Spec:
    dev = _device(device_id)
    if overrides:
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise UsageError(f"argument `--set`: expects KEY=VALUE, got '{item}'")
            k, v = item.split("=", 1)
            pairs[k.strip()] = _value(v.strip())
        dev = dev.with_overrides(pairs)
    return dev


def report_data(device_id: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The what-if report as a dict: peaks (TFLOP/s), ridge points (FLOP/byte), modelled square GEMMs and HBM
    copies."""
    dev = _overridden(device_id, overrides)
    hbm = float(dev.hbm_bandwidth_gbps)
    sizes = np.array(_REPORT_SIZES, dtype=float)
    dtypes = []
    for dt in _REPORT_DTYPES:
        peak = dev.peak_tflops(dt)
        if not peak:
            continue
        g = roofline.gemm(dev, sizes, sizes, sizes, dtype=dt)["tflops"].to_list()
        row = {"dtype": dt, "peak_tflops": peak, "ridge_flop_per_byte": peak * 1000 / hbm}
        row.update({f"gemm_{n}_tflops": v for n, v in zip(_REPORT_SIZES, g, strict=True)})
        dtypes.append(row)
    s = roofline.memory_bound(dev, [1e6, 1e8, 1e10], [1e6, 1e8, 1e10])
    return {
        "perfmodel_version": __import__("perfmodel").__version__,
        "device": dev.id,
        "name": dev.name,
        "overrides": list(overrides),
        "hbm_capacity_gb": dev.hbm_capacity_gb,
        "hbm_bandwidth_gbps": hbm,
        "compute_units": dev["compute.units_count"],
        "compute_unit_name": dev.get("compute.unit_name", "units"),
        "tdp_w": dev["power.tdp_w"],
        "dtypes": dtypes,
        "hbm_copy": [
            {"bytes_read": r, "bytes_written": r, "gbps": gb}
            for r, gb in zip(s["bytes_read"].to_list(), s["gbps"].to_list(), strict=True)
        ],
        "calibration": dev["efficiency.fitted_on"],
    }


def _report_text(d: dict[str, Any]) -> str:
    lines = [f"perfmodel {d['perfmodel_version']} — what-if report for {d['name']} ({d['device']})"]
    if d["overrides"]:
        lines.append("overrides: " + ", ".join(d["overrides"]))
    lines.append(
        f"HBM {d['hbm_capacity_gb']:g} GB at {d['hbm_bandwidth_gbps']:g} GB/s; {d['compute_units']} "
        f"{d['compute_unit_name']}; TDP {d['tdp_w']} W"
    )
    lines.append("")
    lines.append(f"{'dtype':6s} {'peak TFLOP/s':>13s} {'ridge FLOP/B':>13s} {'GEMM 1k':>9s} {'GEMM 4k':>9s} "
                 f"{'GEMM 16k':>9s}  (modelled TFLOP/s, square M=N=K)")  # fmt: skip
    for r in d["dtypes"]:
        g = [r[f"gemm_{n}_tflops"] for n in _REPORT_SIZES]
        lines.append(f"{r['dtype']:6s} {r['peak_tflops']:13.1f} {r['ridge_flop_per_byte']:13.0f} "
                     f"{g[0]:9.1f} {g[1]:9.1f} {g[2]:9.1f}")  # fmt: skip
    lines.append("")
    lines.append(
        "HBM copy (read + write), modelled: "
        + ", ".join(f"{int(c['bytes_read']):.0e} B -> {c['gbps']:.0f} GB/s" for c in d["hbm_copy"])
    )
    lines.append(f"calibration: {d['calibration'][:160]}")
    return "\n".join(lines)


def report(device_id: str, overrides: Sequence[str] = ()) -> str:
    """A plain-text what-if report: peaks, ridge points, modelled GEMM efficiency and HBM streaming."""
    return _report_text(report_data(device_id, overrides))


def _cmd_report(args: argparse.Namespace) -> int:
    d = report_data(args.device, args.set)
    return emit(args, d, lambda: _report_text(d), pl.DataFrame(d["dtypes"]))


def _cmd_roofline(args: argparse.Namespace) -> int:
    df = roofline.gemm(_device(args.device), args.m, args.n, args.k, dtype=args.dtype, batch=args.batch)
    return emit(args, df, lambda: frame_text(df), df)


def _cmd_validate(args: argparse.Namespace) -> int:
    if args.write:
        suites = list(validation.SUITES) if args.suite == "all" else [args.suite]
        for s in suites:
            try:
                validation.write(s, args.write)
                note(args, f"wrote {args.write}/{s}.csv and {s}_summary.json")
            except PerfModelError as e:  # a suite that cannot run here (its data or extra is missing)
                note(args, f"{s}: {e}")
    rows = validation.run(args.suite)
    df = rows if args.rows else validation.summarize(rows, ("suite", "group", "role"))
    # The table shows errors in % (|predicted / measured - 1| x 100); json and csv keep the fractions.
    errors = [c for c in df.columns if "error" in c and df[c].dtype.is_numeric()]
    shown = df.with_columns(
        *((pl.col(c) * 100).round(2).alias(c.replace("error", "error_pct")) for c in errors)
    ).drop(errors)
    return emit(args, df, lambda: frame_text(shown, rows=1000, width=160), df)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    p = argparse.ArgumentParser(
        prog="perfmodel",
        description="Analytical what-if models of AI clusters and HEP data-acquisition systems. "
        "`perfmodel COMMAND --help` for each command; without a command: `perfmodel report`.",
        epilog="Exit codes: 0 ok, 1 a model error (unknown id, plan that does not fit...), 2 a usage error.",
    )
    p.add_argument("--version", action="version", version=f"perfmodel {__import__('perfmodel').__version__}")
    p.add_argument("--hwdb", action="append", default=[], metavar="FILE",
                   help="a hwdb TOML file of your own (device, NIC, fabric, system), registered by its id before "
                        "the command runs, so its id works wherever an embedded id does; repeatable, devices "
                        "before the systems naming them (`perfmodel --hwdb my-gpu.toml --hwdb my-node.toml "
                        "serve ...`)")  # fmt: skip
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    r = add_command(
        sub, "report", "what-if report of one device: peaks, ridge points, GEMM and HBM", _cmd_report
    )
    r.add_argument("device", nargs="?", default=DEFAULT_DEVICE,
                   help=f"hwdb device id (default {DEFAULT_DEVICE}; `perfmodel hwdb list device`) or your own "
                        "device file (`perfmodel hwdb new`)")  # fmt: skip
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hwdb field, e.g. memory.hbm_bandwidth_gbps=5000 (repeatable)")  # fmt: skip
    g = add_command(sub, "roofline", "roofline of one kernel: time, TFLOP/s, GB/s, bound", _cmd_roofline)
    g.add_argument("kernel", choices=["gemm"], help="the kernel: gemm (C[M,N] = A[M,K] B[K,N])")
    g.add_argument(
        "device", help="hwdb device id, e.g. h100-sxm5-80gb, or your own device file (my-gpu.toml)"
    )
    g.add_argument("m", type=float, help="rows of A and C")
    g.add_argument("n", type=float, help="columns of B and C")
    g.add_argument("k", type=float, help="the reduction dimension")
    g.add_argument("--dtype", default="bf16", help="bf16 (default), fp16, fp8, tf32, fp64, int8, ...")
    g.add_argument("--batch", type=float, default=1, help="batched GEMMs of this shape (default 1)")
    cli_hwdb.add_parser(sub)
    v = add_command(sub, "validate", "model error against published measurements", _cmd_validate)
    v.add_argument("suite", nargs="?", default="all",
                   help=f"a suite ({', '.join(validation.SUITES)}) or all (default)")  # fmt: skip
    v.add_argument("--write", metavar="DIR", help="also write <suite>.csv and <suite>_summary.json into DIR")
    v.add_argument(
        "--rows", action="store_true", help="every row (predicted, measured, error), not the summary"
    )
    cli_llm.add_parser(sub)
    cli_collectives.add_parser(sub)
    cli_serve.add_parser(sub)
    cli_mix.add_parser(sub)
    cli_power.add_parser(sub)
    cli_daq.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (argparse's usage errors exit with 2 by themselves)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv) or ["report"])
    if getattr(args, "func", None) is None:  # `perfmodel` and `perfmodel --format` style calls
        args = build_parser().parse_args(["report"])
    return run_parsed(args)


if __name__ == "__main__":
    raise SystemExit(main())
