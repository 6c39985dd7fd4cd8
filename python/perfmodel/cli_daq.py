"""``perfmodel daq``: HEP data-acquisition pipelines (:mod:`perfmodel.daq`) from the command line.

perfmodel daq presets
perfmodel daq evaluate PIPELINE [--lever gpu_hlt,smart_pixels] [--year 2032] [--set STAGE.PARAM=VALUE ...]
    [--per-stage] [--mc-seed N --mc-samples N]
perfmodel daq sweep PIPELINE --vary STAGE.PARAM=SPEC [--vary ...] [--lever ...] [--set ...] [--per-stage]
perfmodel daq levers PRESET [--fix LEVER=on|off ...] [--chart FILE]

PIPELINE is a preset (``cms-run3``, ``cms-run5``) or a pipeline TOML file (the presets' format). A ``--vary``
SPEC is ``a,b,c`` (values), ``LO:HI:N`` (N values evenly spaced) or ``log:LO:HI:N`` (N values evenly spaced in
log); several ``--vary`` make a grid (every combination). Keys are ``STAGE.PARAMETER`` (``L1T.skill``,
``HLT.unit_time_s``, ``Inner Tracker.data_bytes``), ``year`` or ``relevant_fraction``. Powers are W at the
pipeline's technology year; ``relevant_per_kj`` is relevant samples per kJ.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import daq
from .cli_common import UsageError, add_command, domain_main, emit, frame_text, note

__all__ = ["add_parser", "main", "MAX_SWEEP_ROWS"]

#: The most rows one ``perfmodel daq sweep`` evaluates (its grid's size).
MAX_SWEEP_ROWS = 10_000_000

#: Metric columns the sweep and lever tables show (--format json/csv give every metric).
_SHOWN = ("power_w", "precision", "recall", "f1", "output_rate_hz", "relevant_per_kj", "cost")


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel daq`` and its subcommands."""
    p = sub.add_parser("daq", help="HEP DAQ pipelines: evaluate, sweep parameters, compare technology levers",
                       description=__doc__.split("\n", 2)[2].replace("``", "") if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ds = p.add_subparsers(dest="cmd", required=True, metavar="ACTION")
    add_command(ds, "presets", "the pipeline presets and their technology levers", _presets)
    e = add_command(
        ds, "evaluate", "power, selection quality (precision, recall, F1), rates and cost", _evaluate
    )
    s = add_command(
        ds, "sweep", "the metrics over a grid of parameter values (one vectorized engine call)", _sweep
    )
    for q in (e, s):
        q.add_argument("pipeline", help=f"a preset ({', '.join(daq.PRESETS)}) or a pipeline TOML file")
        q.add_argument("--lever", action="append", default=[], metavar="NAME[,NAME]",
                       help=f"switch technology levers on (presets only): {', '.join(daq.LEVERS)} (repeatable)")  # fmt: skip
        q.add_argument("--year", type=float, default=None, help="CMOS technology year of the powers")
        q.add_argument("--set", action="append", default=[], metavar="STAGE.PARAM=VALUE",
                       help="change one parameter, e.g. L1T.reduction_ratio=50 (repeatable)")  # fmt: skip
        q.add_argument("--per-stage", action="store_true", help="add power_w:<stage> columns (csv, sweep)")
        q.add_argument(
            "--mc-seed", type=int, default=None, help="seeded Monte Carlo classifiers (default: exact)"
        )
        q.add_argument(
            "--mc-samples", type=int, default=50_000, help="Monte Carlo scores per class (default 50000)"
        )
    s.add_argument("--vary", action="append", default=[], required=True, metavar="KEY=SPEC",
                   help="a parameter and its values: a,b,c or LO:HI:N or log:LO:HI:N (repeatable: a grid)")  # fmt: skip
    s.add_argument("--top", type=int, default=50, help="rows the table shows (default 50; json/csv: all)")
    lv = add_command(ds, "levers", "every combination of a preset's technology levers", _levers)
    lv.add_argument("pipeline", metavar="PRESET", help=f"a preset: {', '.join(daq.PRESETS)}")
    lv.add_argument("--fix", action="append", default=[], metavar="LEVER=on|off",
                    help="hold a lever on or off instead of trying both (repeatable)")  # fmt: skip
    lv.add_argument("--chart", default=None, metavar="FILE", help="write power vs F1 (.png, .svg or .html)")


# -- inputs -------------------------------------------------------------------------------------------------
def _names(items: Sequence[str]) -> list[str]:
    return [n for item in items for n in (x.strip() for x in item.split(",")) if n]


def _number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"argument `{key}`: '{text}' is not a number") from None


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"argument `{flag}`: expects KEY=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def _pipeline(args: argparse.Namespace) -> tuple[daq.Pipeline, dict[str, bool]]:
    """The pipeline with its levers, year and --set values applied, and the levers' state."""
    levers = _names(args.lever)
    if args.pipeline in daq.PRESETS:
        p = daq.preset(args.pipeline, year=args.year, **dict.fromkeys(levers, True))
        state = dict(p.meta.get("levers", {}))
    elif Path(args.pipeline).suffix == ".toml" or Path(args.pipeline).exists():
        if levers:
            raise UsageError(f"argument `--lever`: levers belong to the presets ({', '.join(daq.PRESETS)}), "
                             f"not to the file {args.pipeline}")  # fmt: skip
        p = daq.load(args.pipeline)
        if args.year is not None:
            p = p.with_values({"year": args.year})
        state = {}
    else:
        daq.preset(args.pipeline)  # the unknown-preset error, with its did-you-mean
        raise AssertionError("unreachable")
    values = {k: _number(f"--set {k}", v) for k, v in _pairs(args.set, "--set").items()}
    return (p.with_values(values) if values else p), state


def _spec(key: str, text: str) -> np.ndarray:
    parts = text.split(":")
    try:
        if len(parts) == 1:
            vals = np.array([float(x) for x in text.split(",") if x.strip()])
        elif len(parts) == 3:
            vals = np.linspace(float(parts[0]), float(parts[1]), int(parts[2]))
        elif len(parts) == 4 and parts[0] == "log" and float(parts[1]) > 0 and float(parts[2]) > 0:
            vals = np.geomspace(float(parts[1]), float(parts[2]), int(parts[3]))
        else:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"argument `--vary {key}`: cannot read '{text}'; expected a,b,c or LO:HI:N or log:LO:HI:N (LO, HI > 0)"
        ) from None
    if vals.size == 0 or not np.isfinite(vals).all():
        raise UsageError(f"argument `--vary {key}`: '{text}' gives no finite values")
    return vals


# -- output -------------------------------------------------------------------------------------------------
def _watts(w: float | None) -> str:
    if w is None or not math.isfinite(w):
        return "n/a"
    for unit, scale in (("GW", 1e9), ("MW", 1e6), ("kW", 1e3)):
        if abs(w) >= scale:
            return f"{w / scale:,.2f} {unit}"
    return f"{w:,.2f} W"


def _opt(v: float | None, fmt: str) -> str:
    return "n/a (nothing relevant reaches storage)" if v is None else format(v, fmt)


def _title(p: daq.Pipeline, name: str, levers: dict[str, bool]) -> str:
    on = [k for k, v in levers.items() if v]
    desc = p.meta.get("pipeline", {}).get("description", "")
    return (f"{name}{': ' + desc if desc else ''}; technology year {p.year:g}"
            + (f"; levers: {', '.join(on) if on else 'none (baseline)'}" if levers else ""))  # fmt: skip


def _presets(args: argparse.Namespace) -> int:
    data = {}
    for name in daq.PRESETS:
        p = daq.preset(name)
        data[name] = {"description": p.meta.get("pipeline", {}).get("description", ""), "year": p.year,
                      "levers": {k: v.get("description", "") for k, v in daq.levers(name).items()}}  # fmt: skip
    rows = [{"preset": n, "description": d["description"], "year": d["year"], "lever": k, "lever_description": v}
            for n, d in data.items() for k, v in d["levers"].items()]  # fmt: skip
    text = []
    for n, d in data.items():
        text.append(f"{n}: {d['description']} (technology year {d['year']:g})")
        text += [f"  --lever {k:14s} {v}" for k, v in d["levers"].items()]
    return emit(args, data, "\n".join(text), pl.DataFrame(rows))


def _evaluate(args: argparse.Namespace) -> int:
    p, levers = _pipeline(args)
    ev = p.evaluate(mc_seed=args.mc_seed, mc_samples=args.mc_samples)
    m = ev.metrics
    data = {"pipeline": args.pipeline, "year": p.year, "levers": levers, "set": _pairs(args.set, "--set"),
            "metrics": m, "stages": ev.stages}  # fmt: skip
    row: dict[str, Any] = {"pipeline": args.pipeline, "year": p.year, **levers, **m}
    if args.per_stage:
        row.update({f"power_w:{r['stage']}": r["power_w"] for r in ev.stages.iter_rows(named=True)})

    def table() -> str:
        stages = ev.stages.select("stage", "kind", "input_rate_hz", "output_rate_hz", "message_bytes",
                                  (pl.col("compute_power_w") / 1e3).alias("compute_kw"),
                                  (pl.col("link_power_w") / 1e3).alias("link_kw"), "units", "cost")  # fmt: skip
        return "\n".join([
            _title(p, args.pipeline, levers),
            f"  power             {_watts(m['power_w'])} (compute {_watts(m['compute_power_w'])}, links "
            f"{_watts(m['link_power_w'])})",
            f"  selection         F1 {m['f1']:.4f}, precision {m['precision']:.4f}, recall {m['recall']:.4f}",
            f"  output rate       {m['output_rate_hz']:,.1f} Hz ({m['relevant_per_s']:,.1f} relevant/s)",
            f"  relevant per kJ   {_opt(m['relevant_per_kj'], '.4f')}",
            f"  energy per relevant sample {_opt(m['energy_per_relevant_j'], ',.1f')} J",
            f"  cost              {m['cost']:,.0f} ({m['units']:,.0f} units)",
            frame_text(stages),
        ])  # fmt: skip

    return emit(args, data, table, pl.DataFrame([row]))


def _sweep(args: argparse.Namespace) -> int:
    p, levers = _pipeline(args)
    vary = {k: _spec(k, v) for k, v in _pairs(args.vary, "--vary").items()}
    rows = math.prod(v.size for v in vary.values())
    if rows > MAX_SWEEP_ROWS:
        raise UsageError(f"argument `--vary`: the grid has {rows:,} points; at most {MAX_SWEEP_ROWS:,}")
    grids = np.meshgrid(*vary.values(), indexing="ij")
    columns = dict(zip(vary, (g.ravel() for g in grids), strict=True))
    df = p.sweep(columns, per_stage=args.per_stage, mc_seed=args.mc_seed, mc_samples=args.mc_samples)
    data = {"pipeline": args.pipeline, "year": p.year, "levers": levers, "set": _pairs(args.set, "--set"),
            "vary": {k: v.tolist() for k, v in vary.items()}, "rows": df}  # fmt: skip

    def table() -> str:
        shown = df.head(args.top).select(*vary, (pl.col("power_w") / 1e6).round(3).alias("power_mw"),
                                         *(c for c in _SHOWN if c != "power_w"))  # fmt: skip
        more = f"\n({df.height - args.top:,} more rows: --format csv or json)" if df.height > args.top else ""
        return _title(p, args.pipeline, levers) + "\n" + frame_text(shown) + more

    return emit(args, data, table, df)


def _levers(args: argparse.Namespace) -> int:
    if args.pipeline not in daq.PRESETS:
        daq.preset(args.pipeline)  # the unknown-preset error
    fixed = {}
    for k, v in _pairs(args.fix, "--fix").items():
        if v.lower() not in ("on", "off", "true", "false"):
            raise UsageError(f"argument `--fix {k}`: is '{v}'; expected on or off")
        fixed[k] = v.lower() in ("on", "true")
    df = daq.lever_sweep(args.pipeline, **fixed)
    data = {"pipeline": args.pipeline, "fixed": fixed, "rows": df}

    def table() -> str:
        shown = df.select("configuration", (pl.col("power_w") / 1e6).round(2).alias("power_mw"),
                          *(pl.col(c).round(4) for c in ("precision", "recall", "f1", "relevant_per_kj")),
                          (pl.col("cost") / 1e6).round(0).alias("cost_millions")).sort("power_mw", descending=True)  # fmt: skip
        return frame_text(shown, fmt_str_lengths=60)

    emit(args, data, table, df)
    if args.chart:
        from .daq import plots

        note(args, f"wrote {plots.save(plots.power_pareto(df), args.chart)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel daq ARGV...``."""
    return domain_main("daq", argv)
