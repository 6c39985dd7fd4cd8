"""What every ``perfmodel`` command shares: ``--format table|json|csv`` output, the error handling and exit
codes, and the argument types of the command line.

Exit codes: 0 success; 1 a model error (:class:`perfmodel.PerfModelError`: an unknown id, a plan that does not
fit, an unsupported dtype...); 2 a usage error (argparse's, or :class:`UsageError`: arguments that cannot go
together or cannot be read). Errors are one line on stderr, ``<command>: error: <message>``, no traceback.

JSON is ``json.dumps`` of plain dicts and lists with stable keys that carry their units (``step_time_s``,
``memory_per_gpu_bytes``, ``busbw_gbps``); numbers that are not finite (NaN, inf) are ``null``. CSV is the
command's polars frame (``DataFrame.write_csv``), nested columns as JSON text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .errors import InvalidArgumentError, PerfModelError

__all__ = [
    "FORMATS",
    "UsageError",
    "add_command",
    "add_format",
    "emit",
    "frame_text",
    "jsonable",
    "csv_text",
    "note",
    "run_parsed",
    "domain_main",
    "ints",
    "floats",
]

#: Output formats of every command that prints results.
FORMATS = ("table", "json", "csv")


class UsageError(InvalidArgumentError):
    """A command line that cannot run as given (arguments that exclude each other, an unreadable value): exit
    code 2, like argparse's own usage errors."""


# -- argument types ---------------------------------------------------------------------------------------
def ints(text: str) -> list[int]:
    """``8`` or ``1,2,4``: whole numbers separated by commas (argparse type)."""
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers separated by commas") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least one whole number")
    return vals


def floats(text: str) -> list[float]:
    """``0.5`` or ``1,2.5,4``: numbers separated by commas (argparse type)."""
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least one number")
    return vals


# -- the tree ---------------------------------------------------------------------------------------------
def add_format(p: argparse.ArgumentParser) -> None:
    """Adds ``--format table|json|csv``."""
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output: table (for reading, default), json (machine-readable, units in the key names) or csv "
        "(the result frame)",
    )


def add_command(
    sub: Any,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int | None],
    *,
    formats: bool = True,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A leaf command under ``sub`` that runs ``func(args)``, with ``--format`` unless ``formats=False``."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.set_defaults(func=func, command_prog=p.prog)
    if formats:
        add_format(p)
    return p


# -- output -----------------------------------------------------------------------------------------------
def jsonable(x: Any) -> Any:
    """``x`` as JSON-ready values: frames as lists of row dicts, numpy as Python numbers, NaN and inf as None."""
    if x is None or isinstance(x, (bool, str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, pl.DataFrame):
        return [jsonable(r) for r in _plain(x).to_dicts()]
    if isinstance(x, pl.Series):
        return jsonable(x.to_list())
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable({f.name: getattr(x, f.name) for f in dataclasses.fields(x) if f.repr})
    return str(x)


def _plain(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` without Object columns (Python objects have no JSON or CSV form)."""
    return df.drop([c for c, t in df.schema.items() if t == pl.Object])


def csv_text(df: pl.DataFrame) -> str:
    """``df`` as CSV text; list and struct columns as JSON text, Object columns left out."""
    df = _plain(df)
    nested = [c for c, t in df.schema.items() if isinstance(t, (pl.List, pl.Array, pl.Struct))]
    if nested:
        df = df.with_columns(
            pl.Series(c, [json.dumps(jsonable(v)) for v in df[c].to_list()], dtype=pl.String) for c in nested
        )
    return df.write_csv()


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        elif isinstance(v, (pl.DataFrame, list, tuple)):
            continue
        else:
            out[key] = jsonable(v)
    return out


def frame_text(df: pl.DataFrame, rows: int = 200, width: int = 220, **config: Any) -> str:
    """``df`` printed with every column shown, shape and dtype rows hidden."""
    config.setdefault("fmt_str_lengths", 80)
    config.setdefault("tbl_hide_column_data_types", True)
    with pl.Config(
        tbl_rows=rows, tbl_cols=-1, tbl_width_chars=width, tbl_hide_dataframe_shape=True, **config
    ):
        return str(df)


def emit(
    args: argparse.Namespace,
    data: Any,
    table: str | Callable[[], str],
    frame: pl.DataFrame | None = None,
) -> int:
    """Prints a result in ``args.format``: ``table`` (the text, or what the callable returns), ``json`` (``data``)
    or ``csv`` (``frame``, by default the scalars of ``data`` as one row). Returns 0."""
    fmt = getattr(args, "format", "table")
    if fmt == "json":
        print(json.dumps(jsonable(data), indent=2, allow_nan=False))
    elif fmt == "csv":
        if frame is None:
            frame = pl.DataFrame([_flatten(data)]) if isinstance(data, Mapping) else pl.DataFrame(data)
        sys.stdout.write(csv_text(frame))
    else:
        print(table() if callable(table) else table)
    return 0


def note(args: argparse.Namespace, text: str) -> None:
    """A side remark (``wrote FILE``): on stdout with ``--format table``, on stderr otherwise (so that JSON and
    CSV output stays parseable)."""
    print(text, file=sys.stdout if getattr(args, "format", "table") == "table" else sys.stderr)


# -- running ----------------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def run_parsed(args: argparse.Namespace) -> int:
    """Runs a parsed command: 0 on success, 1 on a model error, 2 on a usage error; errors as one line on
    stderr."""
    prog = getattr(args, "command_prog", "perfmodel")
    try:
        for path in getattr(args, "hwdb", None) or []:
            from . import hwdb

            hwdb.register(path)
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except PerfModelError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file to read or write (--requests, --csv, --out ...)
        if isinstance(exc, BrokenPipeError):  # `perfmodel ... | head` closed the pipe: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def domain_main(command: str, argv: Sequence[str] | None) -> int:
    """``perfmodel COMMAND ARGV...``: what each command module's ``main(argv)`` runs."""
    from .cli import main

    return main([command, *(sys.argv[1:] if argv is None else argv)])
