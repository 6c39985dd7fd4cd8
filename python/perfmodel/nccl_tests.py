"""nccl-tests and rccl-tests logs as input: read, compare with the model, calibrate a fabric or NIC.

:func:`read` parses the text output of ``*_perf`` binaries by their header row (current format with
``#wrong``, the older ``error`` column, ``-C`` cputime, rccl-tests' in-place-only output) and nccl-tests' JSON
output (``-J``). Every data row becomes one row per placement (out-of-place, in-place); a data row that cannot
be parsed raises :class:`~perfmodel.errors.LogParseError` naming the line, it is never dropped silently.

Examples
--------
>>> import perfmodel as pm
>>> log = pm.nccl_tests.read("tests/data/nccl_tests/h100_8gpu_all_reduce.txt")  # doctest: +SKIP
>>> pm.nccl_tests.compare(log, "dgx-h100")                                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _check as check
from ._api import keyword_options
from .errors import InvalidArgumentError, LogParseError
from .hwdb import Spec, resolve

__all__ = ["read", "parse", "compare", "calibrate", "COLUMNS"]

#: Columns of :func:`read`.
COLUMNS: dict[str, Any] = {
    "op": pl.String,
    "size_bytes": pl.Int64,
    "count": pl.Int64,
    "type": pl.String,
    "redop": pl.String,
    "root": pl.Int64,
    "placement": pl.String,
    "time_us": pl.Float64,
    "algbw_gbps": pl.Float64,
    "busbw_gbps": pl.Float64,
    "wrong": pl.Float64,
    "nranks": pl.Int64,
    "line": pl.Int64,
}

_OPS = {
    "all_reduce": "all_reduce",
    "all_gather": "all_gather",
    "reduce_scatter": "reduce_scatter",
    "broadcast": "broadcast",
    "reduce": "reduce",
    "alltoall": "all_to_all",
    "sendrecv": "send_recv",
}

_TIME_NAMES = ("time", "cputime", "cpu_time")
# Per-line prefixes launchers add: Open MPI ``--tag-output`` (``[1,0]<stdout>:``) and Slurm ``srun --label``
# (``0: ``). Stripped before parsing, so a tagged log reads like an untagged one.
_TAG_PREFIX = re.compile(r"^(?:\[\d+,\d+\]<std(?:out|err)>:|\d+: )", flags=re.M)
_ERR_NAMES = ("#wrong", "error", "wrong", "res", "#err")


def _op_from_text(text: str, path: str) -> str | None:
    for key, op in _OPS.items():
        if re.search(rf"{key}_perf", text) or re.search(rf"{key}(_perf)?", Path(path).name):
            return op
    return None


def _ranks_from_text(text: str) -> int | None:
    # "#  Rank  3 Group  0 Pid ..." (or "#   Rank  3 Pid ..."); the '#' may be lost when a log was copied from a
    # rendered web page.
    ranks = re.findall(r"^#?\s*Rank\s+(\d+)\s+(?:Group|Pid)\b", text, flags=re.M)
    if ranks:
        return max(int(r) for r in ranks) + 1
    m = re.search(r"nranks\s+(\d+)", text)
    return int(m.group(1)) if m else None


def _num(tok: str, what: str, lineno: int | str, path: str) -> float:
    if tok in ("N/A", "n/a", "-"):
        return math.nan
    try:
        return float(tok)
    except ValueError:
        raise LogParseError(f"{path}:{lineno}: column `{what}` is '{tok}', expected a number") from None


def _amount(tok: Any, what: str, lineno: int | str, path: str) -> float:
    """A time (us) or bandwidth (GB/s) cell: a finite number >= 0 (a log with a negative or NaN time is corrupt)."""
    v = _num(tok, what, lineno, path) if isinstance(tok, str) else float(tok)
    if not (v >= 0.0 and math.isfinite(v)):
        raise LogParseError(f"{path}:{lineno}: column `{what}` is '{tok}', expected a finite number >= 0")
    return v


def _is_header(tokens: list[str]) -> bool:
    """The column-name row of a results table: size (or bytes), a time column, algbw and busbw."""
    return (
        ("size" in tokens or "bytes" in tokens)
        and any(t in tokens for t in _TIME_NAMES)
        and "algbw" in tokens
        and "busbw" in tokens
    )


def _parse_text(text: str, path: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    header: list[str] | None = None
    groups: list[str] = []
    rows: list[dict[str, Any]] = []
    prev_comment = ""
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        is_comment = line.startswith("#")
        body = (line[1:] if is_comment else line).split()
        if _is_header(body):
            # A header row, with its '#' or without it (GitHub renders a pasted '# ...' line as a heading, and a
            # log copied from the page loses the '#').
            header = body
            groups = re.findall(r"(out-of-place|in-place)", prev_comment)
            prev_comment = line
            continue
        if is_comment or (not line[0].isdigit() and re.search(r"\b(out-of-place|in-place)\b", line)):
            prev_comment = line
            continue
        if header is None:
            continue
        toks = line.split()
        if not toks or not re.fullmatch(r"\d+", toks[0]):
            # Library chatter (NCCL INFO, warnings) between rows is not a data row; a row that starts like a
            # number but is not a whole size (negative, fractional) is a corrupt row, never dropped silently.
            if re.match(r"^[-+.]?\d", line):
                raise LogParseError(
                    f"{path}:{lineno}: cannot parse data row '{line}': the size must be a whole number of bytes >= 0"
                )
            continue
        # The leading descriptive columns end where the first time column starts; the rest is one block of
        # (time, algbw, busbw, error) per placement named in the line above the header.
        first_time = next(i for i, h in enumerate(header) if h in _TIME_NAMES)
        lead = header[:first_time]
        block_all = header[first_time:]
        n_blocks = max(1, sum(1 for h in block_all if h in _TIME_NAMES))
        per = len(block_all) // n_blocks
        block = block_all[:per]
        expected = len(lead) + per * n_blocks
        if len(toks) != expected:
            raise LogParseError(
                f"{path}:{lineno}: data row has {len(toks)} fields, the header row has {expected} "
                f"({' '.join(header)}); the log is malformed or truncated: '{line}'"
            )
        base: dict[str, Any] = {}
        for name, tok in zip(lead, toks[: len(lead)], strict=True):
            if name in ("size", "bytes"):
                base["size_bytes"] = int(_num(tok, name, lineno, path))
            elif name in ("count", "N"):
                base["count"] = int(_num(tok, name, lineno, path))
            elif name == "type":
                base["type"] = tok
            elif name in ("redop", "op"):
                base["redop"] = tok
            elif name == "root":
                base["root"] = int(_num(tok, name, lineno, path))
        for b in range(n_blocks):
            vals = toks[len(lead) + b * per : len(lead) + (b + 1) * per]
            rec = dict(base)
            if b < len(groups):
                rec["placement"] = groups[b]
            else:
                rec["placement"] = "out-of-place" if n_blocks == 2 and b == 0 else "in-place"
            for name, tok in zip(block, vals, strict=True):
                if name in _TIME_NAMES:
                    rec["time_us"] = _amount(tok, name, lineno, path)
                elif name == "algbw":
                    rec["algbw_gbps"] = _amount(tok, name, lineno, path)
                elif name == "busbw":
                    rec["busbw_gbps"] = _amount(tok, name, lineno, path)
                else:
                    rec["wrong"] = _num(tok, name, lineno, path)
            rec["line"] = lineno
            rows.append(rec)
    if header is None:
        raise LogParseError(
            f"{path}: no nccl-tests header row (a '#' line with size, time, algbw, busbw) found"
        )
    if not rows:
        raise LogParseError(
            f"{path}: the header row is present but no data rows follow; is the log truncated?"
        )
    return rows


def _parse_json(doc: Any, path: str) -> tuple[list[dict[str, Any]], str | None, int | None]:
    if not isinstance(doc, dict):
        raise LogParseError(f"{path}: JSON top level is not an object")
    results = doc.get("results")
    if not isinstance(results, list):
        raise LogParseError(f"{path}: JSON has no 'results' list")
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(results):
        if not isinstance(r, dict) or "size" not in r:
            raise LogParseError(f"{path}: results[{i}] is not a result object with a 'size'")
        size = r["size"]
        if isinstance(size, bool) or not isinstance(size, (int, str)) or not str(size).isdigit():
            raise LogParseError(
                f"{path}: results[{i}].size is {size!r}; expected a whole number of bytes >= 0"
            )
        base = {
            "size_bytes": int(size),
            "count": int(r.get("count", 0)),
            "type": r.get("type"),
            "redop": r.get("redop"),
            "root": int(str(r.get("root", "-1")).strip() or -1),
        }
        for key, placement in (("out_of_place", "out-of-place"), ("in_place", "in-place")):
            block = r.get(key)
            if block is None:
                continue
            if not isinstance(block, dict):
                raise LogParseError(f"{path}: results[{i}].{key} is not an object")
            t = block.get("time", block.get("cpu_time"))
            try:
                rec = dict(base)
                rec.update(
                    placement=placement,
                    time_us=_amount(t, "time", f"results[{i}].{key}", path),
                    algbw_gbps=_amount(block["alg_bw"], "alg_bw", f"results[{i}].{key}", path),
                    busbw_gbps=_amount(block["bus_bw"], "bus_bw", f"results[{i}].{key}", path),
                    wrong=math.nan if block.get("nwrong") is None else float(block["nwrong"]),
                    line=i,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise LogParseError(f"{path}: results[{i}].{key}: missing or bad field ({exc})") from None
            rows.append(rec)
    args = " ".join(str(a) for a in doc.get("args", []))
    op = _op_from_text(args, path)
    nranks = None
    for key in ("ranks", "devices"):
        if isinstance(doc.get(key), list):
            nranks = len(doc[key])
    return rows, op, nranks


def parse(
    text: str, path: str = "<string>", op: str | None = None, nranks: int | None = None
) -> pl.DataFrame:
    """Parse nccl-tests/rccl-tests log text (text or JSON output), as :func:`read` does a file.

    Parameters
    ----------
    text : str
        The log: the text output of a ``*_perf`` binary (current format with ``#wrong``, the older ``error``
        column, ``-C`` cputime, rccl-tests' in-place-only output) or its JSON output (``-J``).
    path : str
        The name errors give the text (default ``"<string>"``); the op is also looked for in it.
    op : str, optional
        The collective (``all_reduce``...; default: from the binary name in the log or ``path``).
    nranks : int, optional
        Ranks (default: from the ``# Rank`` lines of the log).

    Returns
    -------
    polars.DataFrame
        One row per data row and placement (out-of-place, in-place), in log order: ``op`` (perfmodel's name,
        e.g. ``all_reduce``), ``size_bytes`` (bytes, nccl-tests' size), ``count`` (elements), ``type``,
        ``redop``, ``root``, ``placement`` (``out-of-place``/``in-place``), ``time_us`` (microseconds),
        ``algbw_gbps`` and ``busbw_gbps`` (GB/s = 10^9 bytes/s, as the log gives them), ``wrong`` (the
        error/``#wrong`` column; NaN where the log has ``N/A``), ``nranks`` and ``line`` (the line number in
        the log; the result index for JSON).

    Raises
    ------
    perfmodel.LogParseError
        No header row, no data rows, or a data row that cannot be parsed (naming the line).

    Examples
    --------
    Four rows of an rccl-tests ``all_reduce_perf`` log on 8 MI300X in one node
    (``tests/data/nccl_tests/mi300x_8gpu_all_reduce_rccl.txt``; its source is in ``SOURCES.md`` there):

    >>> import perfmodel as pm
    >>> log_text = '''
    ... #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    ... #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
    ...      1048576        262144     float     sum      -1    28.39   36.94   64.64      0    28.04   37.40   65.45      0
    ...     16777216       4194304     float     sum      -1    149.9  111.92  195.85      0    156.3  107.33  187.83      0
    ...    268435456      67108864     float     sum      -1   1540.4  174.26  304.96      0   1549.8  173.20  303.10      0
    ...   4294967296    1073741824     float     sum      -1    23841  180.15  315.26      0    23893  179.76  314.58      0
    ... '''
    >>> log = pm.nccl_tests.parse(log_text, op="all_reduce", nranks=8)
    >>> log.height, log["placement"].unique(maintain_order=True).to_list()
    (8, ['out-of-place', 'in-place'])
    >>> log["time_us"][0], log["busbw_gbps"][0]
    (28.39, 64.64)
    """
    nranks = check.optional_whole("nranks", nranks)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise LogParseError(f"{path}: malformed or truncated JSON log: {exc}") from None
        rows, found_op, found_ranks = _parse_json(doc, path)
    else:
        text = _TAG_PREFIX.sub("", text)
        rows = _parse_text(text, path)
        found_op, found_ranks = _op_from_text(text, path), _ranks_from_text(text)
    df = pl.DataFrame(
        rows, schema={k: v for k, v in COLUMNS.items() if k not in ("op", "nranks")}, strict=False
    )
    return df.with_columns(
        op=pl.lit(op or found_op, dtype=pl.String),
        nranks=pl.lit(nranks if nranks is not None else found_ranks, dtype=pl.Int64),
    ).select(list(COLUMNS))


@keyword_options()
def read(path: str | Path, op: str | None = None, nranks: int | None = None) -> pl.DataFrame:
    """Read an nccl-tests/rccl-tests log (text or JSON) into a DataFrame.

    Parameters
    ----------
    path : str or pathlib.Path
        The log file: the text output of a ``*_perf`` binary (any format :func:`parse` takes) or its ``-J``
        JSON output.
    op : str, optional
        The collective (``all_reduce``, ``all_gather``...; default: from the binary name in the log or the
        file name).
    nranks : int, optional
        Ranks (default: from the log's ``# Rank`` lines).

    Returns
    -------
    polars.DataFrame
        One row per data row and placement (out-of-place, in-place), in log order: ``op`` (perfmodel's name,
        e.g. ``all_reduce``), ``size_bytes`` (bytes, nccl-tests' size), ``count`` (elements), ``type``,
        ``redop``, ``root``, ``placement`` (``out-of-place``/``in-place``), ``time_us`` (microseconds),
        ``algbw_gbps`` and ``busbw_gbps`` (GB/s = 10^9 bytes/s, as the log gives them), ``wrong`` (the
        error/``#wrong`` column; NaN where the log has ``N/A``), ``nranks`` and ``line`` (the line number in
        the log; the result index for JSON).

    Raises
    ------
    perfmodel.LogParseError
        An unreadable file, no header row, no data rows, or a data row that cannot be parsed (naming the
        line).

    Examples
    --------
    Four rows of an rccl-tests ``all_reduce_perf`` log on 8 MI300X in one node
    (``tests/data/nccl_tests/mi300x_8gpu_all_reduce_rccl.txt``; its source is in ``SOURCES.md`` there):

    >>> import pathlib, tempfile
    >>> import perfmodel as pm
    >>> log_text = '''
    ... #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    ... #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
    ...      1048576        262144     float     sum      -1    28.39   36.94   64.64      0    28.04   37.40   65.45      0
    ...     16777216       4194304     float     sum      -1    149.9  111.92  195.85      0    156.3  107.33  187.83      0
    ...    268435456      67108864     float     sum      -1   1540.4  174.26  304.96      0   1549.8  173.20  303.10      0
    ...   4294967296    1073741824     float     sum      -1    23841  180.15  315.26      0    23893  179.76  314.58      0
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mi300x_all_reduce.txt"
    >>> _ = path.write_text(log_text)
    >>> log = pm.nccl_tests.read(path, nranks=8)  # the op from the file name
    >>> log["op"][0], log["nranks"][0], log["size_bytes"].max()
    ('all_reduce', 8, 4294967296)
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LogParseError(f"{p}: cannot read log: {exc.strerror or exc}") from exc
    return parse(text, str(p), op=op, nranks=nranks)


def _log_meta(log: pl.DataFrame, op: str | None, nranks: int | None) -> tuple[str, int]:
    op = op or (log["op"][0] if log.height and log["op"][0] is not None else None)
    nr = nranks or (log["nranks"][0] if log.height and log["nranks"][0] is not None else None)
    if op is None:
        raise InvalidArgumentError(
            "argument `op`: the log does not say which collective it measured; pass op=..."
        )
    if nr is None:
        raise InvalidArgumentError("argument `nranks`: the log does not list its ranks; pass nranks=...")
    return op, int(nr)


@keyword_options()
def compare(
    log: pl.DataFrame,
    where: Any,
    placement: str = "out-of-place",
    algorithm: str = "auto",
    op: str | None = None,
    nranks: int | None = None,
) -> pl.DataFrame:
    """Model and measurement side by side, one row per size of a log.

    Parameters
    ----------
    log : polars.DataFrame
        A log from :func:`read` or :func:`parse`.
    where : str, Spec, tuple or Cluster
        The hardware the log was measured on: a system id or spec, ``(system, nodes)`` or a
        :func:`perfmodel.cluster` (e.g. one with a fabric calibrated by :func:`calibrate`).
    placement : str
        The log's rows to compare: ``"out-of-place"`` (default) or ``"in-place"``.
    algorithm : str
        The model's algorithm: ``"auto"`` (default: the fastest NCCL/RCCL would consider) or a name of
        :data:`perfmodel.collectives.ALGORITHMS`.
    op : str, optional
        The collective, when the log does not say it (default: the log's ``op``).
    nranks : int, optional
        Ranks, when the log does not say them (default: the log's ``nranks``).

    Returns
    -------
    polars.DataFrame
        One row per size > 0: ``size_bytes`` (bytes), ``measured_time_us`` and ``predicted_time_us``
        (microseconds), ``measured_busbw_gbps`` and ``predicted_busbw_gbps`` (GB/s = 10^9 bytes/s),
        ``algorithm`` (the one the model used), ``busbw_error`` and ``time_error`` (``(predicted - measured) /
        measured``, fractions).

    Raises
    ------
    perfmodel.InvalidArgumentError
        The log has no ``placement`` rows, or does not say its op or ranks and they are not given.

    Examples
    --------
    Four rows of an rccl-tests ``all_reduce_perf`` log on 8 MI300X in one node
    (``tests/data/nccl_tests/mi300x_8gpu_all_reduce_rccl.txt``; its source is in ``SOURCES.md`` there):

    >>> import perfmodel as pm
    >>> log_text = '''
    ... #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    ... #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
    ...      1048576        262144     float     sum      -1    28.39   36.94   64.64      0    28.04   37.40   65.45      0
    ...     16777216       4194304     float     sum      -1    149.9  111.92  195.85      0    156.3  107.33  187.83      0
    ...    268435456      67108864     float     sum      -1   1540.4  174.26  304.96      0   1549.8  173.20  303.10      0
    ...   4294967296    1073741824     float     sum      -1    23841  180.15  315.26      0    23893  179.76  314.58      0
    ... '''
    >>> log = pm.nccl_tests.parse(log_text, op="all_reduce", nranks=8)
    >>> cmp = pm.nccl_tests.compare(log, "mi300x-pollara-node")
    >>> cmp["predicted_busbw_gbps"].round(0).to_list()
    [67.0, 197.0, 306.0, 318.0]
    >>> [f"{e:+.1%}" for e in cmp["busbw_error"]]
    ['+3.5%', '+0.7%', '+0.3%', '+0.7%']
    """
    from . import collectives

    op, nr = _log_meta(log, op, nranks)
    rows = log.filter((pl.col("placement") == placement) & (pl.col("size_bytes") > 0))
    if rows.height == 0:
        have = sorted(set(log["placement"].to_list()))
        raise InvalidArgumentError(
            f"argument `placement`: the log has no '{placement}' rows with size > 0; it has {have}"
        )
    pred = collectives.predict(where, op, rows["size_bytes"].to_numpy().astype(np.float64), nr, algorithm)
    return pl.DataFrame(
        {
            "size_bytes": rows["size_bytes"],
            "measured_time_us": rows["time_us"],
            "predicted_time_us": pred["time_us"],
            "measured_busbw_gbps": rows["busbw_gbps"],
            "predicted_busbw_gbps": pred["busbw_gbps"],
            "algorithm": pred["algorithm"],
        }
    ).with_columns(
        busbw_error=(pl.col("predicted_busbw_gbps") - pl.col("measured_busbw_gbps"))
        / pl.col("measured_busbw_gbps"),
        time_error=(pl.col("predicted_time_us") - pl.col("measured_time_us")) / pl.col("measured_time_us"),
    )


def _nelder_mead(f: Any, x0: np.ndarray, iters: int = 400) -> np.ndarray:
    n = x0.size
    pts = [x0] + [x0 + 0.3 * np.eye(n)[i] for i in range(n)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < 1e-12:
            break
        c = np.mean(pts[:-1], axis=0)
        xr = c + (c - pts[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = c + 2 * (c - pts[-1])
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = c + 0.5 * (pts[-1] - c)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                pts = [pts[0] + 0.5 * (p - pts[0]) for p in pts]
                vals = [f(p) for p in pts]
    best: np.ndarray = pts[int(np.argmin(vals))]
    return best


_FIT_KEYS = ("efficiency.bandwidth_fraction", "efficiency.latency_us", "efficiency.launch_us")
#: Bounds of the fitted figures (fractions and ratios of the Simple protocol; latencies in microseconds).
_BOUNDS = {
    "efficiency.bandwidth_fraction": (0.2, 0.99),
    "efficiency.nvls_bandwidth_fraction": (0.2, 0.99),
    "efficiency.latency_us": (0.01, 200.0),
    "efficiency.launch_us": (0.1, 500.0),
    "efficiency.ll_latency_ratio": (1e-4, 1.0),
    "efficiency.ll_bandwidth_ratio": (0.01, 1.0),
    "efficiency.ll128_latency_ratio": (1e-3, 1.0),
    "efficiency.ll128_bandwidth_ratio": (0.3, 1.0),
}
_DEFAULT_START = {
    "efficiency.launch_us": 5.0,
    "efficiency.ll_latency_ratio": 0.2,
    "efficiency.ll_bandwidth_ratio": 0.2,
}


def calibrate(
    logs: pl.DataFrame | Sequence[pl.DataFrame],
    system: Spec | str,
    target: str | None = None,
    placement: str = "out-of-place",
    algorithm: str = "auto",
    fitted_on: str = "",
    fit: Sequence[str] = _FIT_KEYS,
    min_bytes: int = 1024,
    starts: Sequence[dict[str, float]] = (),
    report: dict[str, Any] | None = None,
) -> Spec:
    """Fit a fabric's (or NIC's) bandwidth fraction, per-step latency and launch cost to measured logs.

    Minimizes the squared log error of the predicted time over all rows of all logs with ``size >=
    min_bytes``. With scipy installed the fit is ``scipy.optimize.least_squares`` (bounded, in log space) from
    the spec's values and from each of ``starts`` (partial overrides), best kept; without it, a Nelder-Mead
    search from the spec's values.

    Parameters
    ----------
    logs : polars.DataFrame or sequence of polars.DataFrame
        Logs from :func:`read` or :func:`parse`, each saying (or given) its op and ranks.
    system : str or Spec
        The system the logs were measured on (an id or spec).
    target : str, optional
        The hwdb id of the fabric or NIC to fit (default: the system's innermost fabric for a single-node log,
        its NIC for a multi-node one).
    placement : str
        The rows fitted: ``"out-of-place"`` (default) or ``"in-place"``.
    algorithm : str
        The model's algorithm: ``"auto"`` (default) or a name.
    fitted_on : str
        Text for ``efficiency.fitted_on`` (default: the op, ranks and sizes fitted).
    fit : sequence of str
        The figures to fit, by dotted key (default: ``efficiency.bandwidth_fraction``, a fraction;
        ``efficiency.latency_us`` and ``efficiency.launch_us``, microseconds; a NIC has no launch cost). Add
        ``efficiency.ll_latency_ratio`` and ``efficiency.ll_bandwidth_ratio`` to fit the low-latency protocol,
        the ``ll128_`` ones for LL128.
    min_bytes : int
        The smallest size fitted, bytes (default 1024).
    starts : sequence of dict
        Further starting points, each a partial ``{dotted key: value}`` override.
    report : dict, optional
        When given, receives the optimizer's outcome (``method``, ``success``, ``rms_log_error``, ``at_bound``
        and the optimizer's own fields).

    Returns
    -------
    Spec
        A new fabric or NIC spec with the fitted figures and ``efficiency.fitted_on`` set (listed in its
        ``overrides``), ready to save as TOML with :meth:`~perfmodel.hwdb.Spec.to_toml` or to pass to
        :func:`perfmodel.cluster` through ``specs={id: spec}``.

    Raises
    ------
    perfmodel.InvalidArgumentError
        No logs, or a log that does not say its op or ranks.

    Examples
    --------
    Four rows of an rccl-tests ``all_reduce_perf`` log on 8 MI300X in one node
    (``tests/data/nccl_tests/mi300x_8gpu_all_reduce_rccl.txt``; its source is in ``SOURCES.md`` there):

    >>> import perfmodel as pm
    >>> log_text = '''
    ... #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
    ... #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
    ...      1048576        262144     float     sum      -1    28.39   36.94   64.64      0    28.04   37.40   65.45      0
    ...     16777216       4194304     float     sum      -1    149.9  111.92  195.85      0    156.3  107.33  187.83      0
    ...    268435456      67108864     float     sum      -1   1540.4  174.26  304.96      0   1549.8  173.20  303.10      0
    ...   4294967296    1073741824     float     sum      -1    23841  180.15  315.26      0    23893  179.76  314.58      0
    ... '''
    >>> log = pm.nccl_tests.parse(log_text, op="all_reduce", nranks=8)
    >>> fabric = pm.nccl_tests.calibrate(log, "mi300x-pollara-node")
    >>> fabric.id, sorted(fabric.overrides)  # doctest: +NORMALIZE_WHITESPACE
    ('mi300x-xgmi-mesh', ['efficiency.bandwidth_fraction', 'efficiency.fitted_on', 'efficiency.latency_us',
     'efficiency.launch_us'])
    >>> fitted = pm.cluster("mi300x-pollara-node", 1, specs={fabric.id: fabric})
    >>> bool(abs(pm.nccl_tests.compare(log, fitted)["busbw_error"]).max() < 0.01)
    True
    """
    from . import collectives
    from .cluster import cluster

    frames = [logs] if isinstance(logs, pl.DataFrame) else list(logs)
    if not frames:
        raise InvalidArgumentError("argument `logs`: no logs given")
    sysspec = resolve(system, "system")
    dpn = int(sysspec["devices_per_node_count"])
    metas = [_log_meta(f, None, None) for f in frames]
    multi = any(nr > dpn for _, nr in metas)
    if target is None:
        target = sysspec["nic"] if multi else sysspec["levels"][0]["fabric"]
    kind = "nic" if target == sysspec["nic"] else "fabric"
    base = resolve(target, kind)
    fit = [k for k in fit if not (kind == "nic" and k == "efficiency.launch_us")]
    defaults = {
        **_DEFAULT_START,
        "efficiency.nvls_bandwidth_fraction": base.get("efficiency.bandwidth_fraction", 0.8),
    }
    lo = np.log([_BOUNDS.get(k, (1e-4, 1e4))[0] for k in fit])
    hi = np.log([_BOUNDS.get(k, (1e-4, 1e4))[1] for k in fit])

    def start(over: dict[str, float]) -> np.ndarray:
        x = np.array([math.log(float(over.get(k, base.get(k, defaults.get(k, 1.0))))) for k in fit])
        clipped: np.ndarray = np.clip(x, lo + 1e-9, hi - 1e-9)
        return clipped

    data = []
    for f, (op, nr) in zip(frames, metas, strict=True):
        rows = f.filter(
            (pl.col("placement") == placement) & (pl.col("size_bytes") >= min_bytes) & (pl.col("time_us") > 0)
        )
        if rows.height == 0:
            raise InvalidArgumentError(
                f"argument `logs`: a log has no '{placement}' rows with size >= {min_bytes}"
            )
        data.append((op, nr, rows["size_bytes"].to_numpy().astype(np.float64), rows["time_us"].to_numpy()))
    nodes = max(1, max(-(-nr // dpn) for _, nr in metas))

    def spec_of(x: np.ndarray) -> Spec:
        vals = {k: float(np.exp(v)) for k, v in zip(fit, x, strict=True)}
        for k in vals:
            if k.endswith("_fraction") or k.endswith("_ratio"):
                vals[k] = min(vals[k], 1.0)
        return base.with_overrides(vals)

    def residuals(x: np.ndarray) -> np.ndarray:
        c = cluster(sysspec, nodes, specs={target: spec_of(x)})
        out = [
            np.log(collectives.predict(c, op, size, nr, algorithm)["time_us"].to_numpy() / t)
            for op, nr, size, t in data
        ]
        return np.concatenate(out)

    def loss(x: np.ndarray) -> float:
        try:
            return float(np.sum(residuals(x) ** 2))
        except Exception:  # an out-of-domain trial point (e.g. a fraction > 1) is just a bad point
            return 1e9

    try:
        from scipy.optimize import least_squares
    except ImportError:  # scipy is optional (pip install perfmodel[calibrate])
        best = _nelder_mead(loss, start({}))
        outcome = {"method": "nelder-mead (scipy not installed)", "cost": loss(best) / 2}
    else:
        sols = [
            least_squares(residuals, start(o), bounds=(lo, hi), method="trf", x_scale="jac")
            for o in [{}, *starts]
        ]
        sol = min(sols, key=lambda r: r.cost)
        best = sol.x
        outcome = {"method": "scipy least_squares (trf, bounded, log space)", "starts": len(sols), "cost": float(sol.cost),
                   "status": int(sol.status), "message": str(sol.message), "nfev": int(sol.nfev), "success": bool(sol.success),
                   "at_bound": [k for k, a in zip(fit, sol.active_mask, strict=True) if a != 0],
                   "rms_log_error": float(np.sqrt(np.mean(sol.fun**2)))}  # fmt: skip
    if report is not None:
        report.update(outcome)
    out = spec_of(best)
    note = fitted_on or "calibrate(): " + "; ".join(
        f"{op} {nr} ranks, {len(s)} sizes" for op, nr, s, _ in data
    )
    return out.with_overrides({"efficiency.fitted_on": note})


def to_toml(spec: Spec) -> str:
    """The spec as TOML text (the format of hwdb files), to save a calibration: :meth:`Spec.to_toml`, written
    by a TOML library with every figure exact (a fitted ``latency_us = 3e-7`` stays 3e-7)."""
    return spec.to_toml()
