"""``perfmodel collectives``: modelled collective times in nccl-tests style, and comparison with a real log.

perfmodel collectives [--system dgx-h100] [--nodes 2] [--op all_reduce] [--sizes 1K..8G] [--factor 2]
                      [--nranks 16] [--algorithm auto] [--plot busbw.png] [--map algorithms.png] [--csv out.csv]
perfmodel collectives --log all_reduce_perf.log [--system dgx-h100] [--placement out-of-place] [--plot cmp.png]

Sizes read as nccl-tests reads ``-b``/``-e``: ``K``, ``M``, ``G``, ``T`` are powers of 1024; ``A..B`` steps by
``--factor`` (default 2), ``1M,4M,1G`` is a list. Without ``--log`` the communicator spans every device of the
cluster unless ``--nranks`` says otherwise; with ``--log`` the op, rank count and sizes come from the log and the
node count from its rank count.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import collectives, hwdb, nccl_tests
from .cli_common import UsageError, add_command, domain_main, emit, note
from .cluster import Cluster, cluster
from .errors import ModelError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
_MULT = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZES_HELP = "expected sizes like 1K..8G (from..to, stepping by --factor), 1M,4M,1G or 1048576 (K, M, G, T = 1024^1..4)"


def parse_size(text: str) -> int:
    """One size as nccl-tests' ``-b``/``-e`` read it: ``8``, ``1K``, ``256M``, ``8G`` (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"argument `--sizes`: cannot read '{text}'; {_SIZES_HELP}")
    value = float(m.group(1)) * _MULT[m.group(2).lower()]
    if value < 1 or value != int(value):
        raise UsageError(f"argument `--sizes`: '{text}' is not a whole number of bytes >= 1; {_SIZES_HELP}")
    return int(value)


#: The most message sizes one command evaluates (a table longer than this is not for reading).
MAX_SIZES = 100_000


def parse_sizes(text: str, factor: float = 2.0) -> np.ndarray:
    """``1K..8G`` (geometric steps of ``factor``), ``1M,4M,1G`` or a single size, as float64 bytes."""
    if not (factor > 1 and math.isfinite(factor)):
        raise UsageError(f"argument `--factor`: is {factor}; expected a finite step factor > 1")
    out: list[float] = []
    for part in text.split(","):
        if ".." in part:
            lo_t, _, hi_t = part.partition("..")
            lo, hi = parse_size(lo_t), parse_size(hi_t)
            if hi < lo:
                raise UsageError(f"argument `--sizes`: range '{part}' ends below its start; {_SIZES_HELP}")
            n = int(math.floor(math.log(hi / lo, factor) + 1e-9)) + 1
            if len(out) + n > MAX_SIZES:
                raise UsageError(
                    f"argument `--sizes`: '{part}' with --factor {factor} is {n:,} sizes; at most {MAX_SIZES:,} "
                    "(raise --factor)"
                )
            out.extend(float(round(lo * factor**i)) for i in range(n))
        elif part.strip():
            out.append(float(parse_size(part)))
    if not out:
        raise UsageError(f"argument `--sizes`: is empty; {_SIZES_HELP}")
    return np.asarray(out, dtype=np.float64)


def _ints(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, got '{text}'"
        ) from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one rank count")
    return vals


def add_parser(sub: Any) -> None:
    """Registers ``perfmodel collectives``."""
    p = add_command(
        sub,
        "collectives",
        "modelled collective time, algbw and busbw in nccl-tests style; compare with a real log",
        run,
        description=__doc__.split("\n", 2)[2].replace("``", "") if __doc__ else None,
    )
    p.add_argument(
        "--system",
        default=None,
        help="hwdb system id (default dgx-h100, or with --log the system of the log's GPU); "
        "`perfmodel hwdb list system`",
    )
    p.add_argument(
        "--nodes", type=int, default=None, help="nodes of the system (default: enough for the ranks)"
    )
    p.add_argument(
        "--op",
        default=None,
        help="all_reduce (default), all_gather, reduce_scatter, broadcast, reduce, all_to_all, send_recv",
    )
    p.add_argument(
        "--sizes", default=None, help="message sizes, e.g. 1K..8G, 8..128M or 1M,1G (default 8..8G)"
    )
    p.add_argument("--factor", type=float, default=2.0, help="step factor of a size range (default 2)")
    p.add_argument(
        "--nranks", type=_ints, default=None, help="rank count(s), comma-separated (default: every device)"
    )
    p.add_argument(
        "--algorithm", default="auto", help="auto (default) or an algorithm name, e.g. ring, tree, nvls"
    )
    p.add_argument("--log", default=None, help="an nccl-tests/rccl-tests log to compare with the model")
    p.add_argument(
        "--ignore-log-gpu",
        action="store_true",
        help="compare with --system even when the log says it ran on another GPU",
    )
    p.add_argument(
        "--placement", default="out-of-place", help="log rows to compare: out-of-place (default) or in-place"
    )
    p.add_argument("--plot", default=None, metavar="FILE", help="write busbw vs size (.png, .svg or .html)")
    p.add_argument(
        "--map", default=None, metavar="FILE", help="write the which-algorithm-wins map (.png, .svg or .html)"
    )
    p.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV to FILE")


# -- the GPU a log ran on -----------------------------------------------------------------------------------
#: A rank line of nccl-tests/rccl-tests: "#  Rank  0 Group  0 Pid 6899 on host device  0 [0000:04:00] NAME".
_RANK_LINE = re.compile(
    r"Rank\s+\d+\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+\S+\s+device\s+\d+\s+\[[^\]]*\]\s*(.*?)\s*$"
)
#: A GPU model in a device name: H100, A10G, L40S, GB200, MI300X ...
_FAMILY = re.compile(r"^(GB\d{3}|[ABHV]\d{2,3}[A-Z]?|L\d{1,2}S?|MI\d{3}[A-Z]?)$")


def log_gpus(path: str) -> list[str]:
    """The GPU names an nccl-tests/rccl-tests log lists (its ``# Rank ... device N [bus] NAME`` lines, or the
    ``devices[].device_info`` of a JSON log), without repeats; empty when the log does not say."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []  # nccl_tests.read says why
    names: list[str] = []
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return []
        devices = doc.get("devices") if isinstance(doc, dict) else None
        for d in devices if isinstance(devices, list) else []:
            if isinstance(d, dict) and isinstance(d.get("device_info"), str):
                names.append(d["device_info"].strip())
    else:
        for line in text.splitlines():
            m = _RANK_LINE.search(line)
            if m and m.group(1):
                names.append(m.group(1))
    return list(dict.fromkeys(n for n in names if n))


def gpu_family(name: str) -> str | None:
    """The GPU model a device name or id names (``'NVIDIA H100 80GB HBM3'`` and ``'h100-sxm5-80gb'`` ->
    ``'H100'``, ``'AMD Instinct MI300X'`` -> ``'MI300X'``), or None."""
    for tok in re.split(r"[^A-Z0-9]+", name.upper()):
        if _FAMILY.match(tok):
            return tok
    return None


def _device_of(system: str) -> hwdb.Spec:
    return hwdb.get(str(hwdb.resolve(system, "system")["device"]), "device")


def _system_for_log(args: argparse.Namespace) -> tuple[str, list[str], str]:
    """The system to compare a log with (``--system``, or the one whose GPU the log names), the log's GPU
    names, and a remark on how the system was chosen; refuses a --system whose GPU the log contradicts."""
    names = log_gpus(args.log)
    families = {n: gpu_family(n) for n in names}
    if not names:
        if args.system:
            return args.system, names, f"--system {args.system} (the log does not name its GPUs)"
        return "dgx-h100", names, "dgx-h100 by default: the log does not name its GPUs (--system to choose)"
    shown = ", ".join(repr(n) for n in names)
    if args.system:
        dev = _device_of(args.system)
        want = gpu_family(dev.id) or gpu_family(dev.name)
        wrong = [n for n, f in families.items() if f is not None and f != want]
        if wrong and not args.ignore_log_gpu:
            fam = families[wrong[0]]
            match = [s for s in hwdb.ids("system") if gpu_family(_device_of(s).id) == fam]
            hint = f"pass --system {match[0]} (a system with that GPU)" if match else "no hwdb system has it"
            raise UsageError(
                f"the log {args.log} ran on {shown} but --system {args.system} has {dev.name} ({dev.id}); "
                f"{hint}, or --ignore-log-gpu to compare anyway"
            )
        if wrong:
            return (
                args.system,
                names,
                f"--system {args.system}, against the log's GPU {shown} (--ignore-log-gpu)",
            )
        if any(f is None for f in families.values()):
            return (
                args.system,
                names,
                f"--system {args.system} (the log's GPU {shown} is not in hwdb; not checked)",
            )
        return args.system, names, f"--system {args.system}, the log's GPU {shown}"
    known = set(families.values()) - {None}
    if len(known) != 1 or None in families.values():
        raise UsageError(
            f"the log {args.log} ran on {shown}; hwdb cannot tell which one system that is: pass --system"
        )
    fam = known.pop()
    match = [s for s in hwdb.ids("system") if gpu_family(_device_of(s).id) == fam]
    if not match:
        raise ModelError(
            f"the log {args.log} ran on {shown}, and no hwdb system has that GPU "
            f"(`perfmodel hwdb list system`); pass --system and --ignore-log-gpu to compare with another one"
        )
    mem = {m.lower() for n in names for m in re.findall(r"(\d+)\s*GB", n, flags=re.I)}

    def rank(s: str) -> tuple[bool, bool, str]:
        d = _device_of(s).id
        return (not any(f"{g}gb" in d for g in mem), not s.startswith(("dgx-", "hgx-")), s)

    match.sort(key=rank)
    also = f"; also {', '.join(match[1:])}" if len(match) > 1 else ""
    return match[0], names, f"{match[0]}, the system of the log's GPU {shown}{also} (--system to choose)"


def _cluster_for(system: str, nodes: int | None, nranks: int) -> Cluster:
    spec = hwdb.resolve(system, "system")
    dpn = int(spec["devices_per_node_count"])
    need = max(1, -(-nranks // dpn))
    if nodes is None:
        nodes = need
    elif nodes < 1:
        raise UsageError(f"argument `--nodes`: is {nodes}; expected a whole number of nodes >= 1")
    elif nodes * dpn < nranks:
        raise UsageError(
            f"argument `--nodes`: {nodes} node(s) of '{spec.id}' hold {nodes * dpn} devices but the log or --nranks "
            f"asks for {nranks} ranks; use --nodes {need} or more"
        )
    return cluster(spec, nodes)


def _fmt_time(us: float) -> str:
    return f"{us:8.2f}" if us < 1e4 else f"{us:8.0f}"


def _predict_table(c: Cluster, op: str, sizes: np.ndarray, ranks: list[int], algorithm: str) -> pl.DataFrame:
    frames = []
    for r in ranks:
        df = collectives.predict(c, op, sizes, r, algorithm)
        frames.append(df.with_columns(transports=pl.lit(c.transports(r))))
    return pl.concat(frames).select(
        "nbytes",
        "nranks",
        "op",
        "time_us",
        "algbw_gbps",
        "busbw_gbps",
        pl.col("algorithm").cast(pl.String),
        "transports",
    )


def _predictions_text(df: pl.DataFrame, c: Cluster, op: str) -> str:
    out = [f"# perfmodel collectives: {op} on {c!r} (modelled, nccl-tests conventions)"]
    for r in df["nranks"].unique(maintain_order=True).to_list():
        rows = df.filter(pl.col("nranks") == r)
        out.append("#")
        out.append(f"# {r} ranks; transports: {c.transports(r)}")
        out.append(f"#{'size':>13s} {'time':>9s} {'algbw':>8s} {'busbw':>8s}  {'algorithm':<14s} transports")
        out.append(f"#{'(B)':>13s} {'(us)':>9s} {'(GB/s)':>8s} {'(GB/s)':>8s}")
        for row in rows.iter_rows(named=True):
            out.append(
                f" {int(row['nbytes']):13d} {_fmt_time(row['time_us']):>9s} {row['algbw_gbps']:8.2f} {row['busbw_gbps']:8.2f}  "
                f"{row['algorithm']:<14s} {row['transports']}"
            )
    return "\n".join(out)


def _error_summary(cmp: pl.DataFrame) -> dict[str, dict[str, float | int]]:
    """Median and max |busbw error| (%) over all sizes and over sizes >= 1 MiB."""
    ok = cmp.filter(pl.col("busbw_error").is_finite())
    out: dict[str, dict[str, float | int]] = {}
    for name, part in (("all_sizes", ok), ("from_1_mib", ok.filter(pl.col("size_bytes") >= 2**20))):
        if part.height:
            e = part["busbw_error"].abs().to_numpy()
            out[name] = {"median_abs_busbw_error_pct": 100 * float(np.median(e)),
                         "max_abs_busbw_error_pct": 100 * float(np.max(e)), "sizes": part.height}  # fmt: skip
    return out


def _comparison_text(cmp: pl.DataFrame, c: Cluster, op: str, nranks: int, path: str, chosen: str) -> str:
    out = [
        f"# perfmodel collectives: {op}, {nranks} ranks: log {path} vs model on {c!r}",
        f"# system: {chosen}",
    ]
    out.append(f"# transports: {c.transports(nranks)}")
    out.append(
        f"#{'size':>13s} {'time':>9s} {'model':>9s} {'busbw':>8s} {'model':>8s} {'error':>8s}  algorithm"
    )
    out.append(f"#{'(B)':>13s} {'(us)':>9s} {'(us)':>9s} {'(GB/s)':>8s} {'(GB/s)':>8s} {'(busbw)':>8s}")
    for row in cmp.iter_rows(named=True):
        err = row["busbw_error"]
        err_s = f"{100 * err:+7.1f}%" if err is not None and math.isfinite(err) else f"{'n/a':>8s}"
        out.append(
            f" {int(row['size_bytes']):13d} {_fmt_time(row['measured_time_us']):>9s} {_fmt_time(row['predicted_time_us']):>9s} "
            f"{row['measured_busbw_gbps']:8.2f} {row['predicted_busbw_gbps']:8.2f} {err_s}  {row['algorithm']}"
        )
    for name, label in (("all_sizes", "all sizes"), ("from_1_mib", ">= 1 MiB")):
        s = _error_summary(cmp).get(name)
        if s:
            out.append(f"# busbw error, {label}: median {s['median_abs_busbw_error_pct']:.1f}%, max "
                       f"{s['max_abs_busbw_error_pct']:.1f}% over {s['sizes']} sizes")  # fmt: skip
    skipped = cmp.height - cmp.filter(pl.col("busbw_error").is_finite()).height
    if skipped:
        out.append(f"# {skipped} sizes with measured busbw 0 (rounded in the log) have no relative error")
    return "\n".join(out)


def _compare_log(args: argparse.Namespace) -> int:
    system, gpus, chosen = _system_for_log(args)
    log = nccl_tests.read(args.log)
    op = args.op or (log["op"][0] if log.height else None)
    nranks = args.nranks[0] if args.nranks else (log["nranks"][0] if log.height else None)
    if op is None:
        raise UsageError(
            f"argument `--op`: the log {args.log} does not say which collective it measured; pass --op"
        )
    if nranks is None:
        raise UsageError(f"argument `--nranks`: the log {args.log} does not list its ranks; pass --nranks")
    c = _cluster_for(system, args.nodes, int(nranks))
    cmp = nccl_tests.compare(
        log, c, placement=args.placement, algorithm=args.algorithm, op=op, nranks=int(nranks)
    )
    data = {"log": args.log, "log_gpus": gpus, "system": hwdb.resolve(system, "system").id, "system_choice": chosen,
            "nodes": c.groups[0]["nodes"], "op": op, "nranks": int(nranks), "placement": args.placement,
            "transports": c.transports(int(nranks)), "summary": _error_summary(cmp), "rows": cmp}  # fmt: skip
    emit(args, data, lambda: _comparison_text(cmp, c, op, int(nranks), args.log, chosen), cmp)
    if args.csv:
        cmp.write_csv(args.csv)
    if args.plot:
        from .plots import collectives as cplots
        from .plots import save

        out = save(
            cplots.busbw_vs_size(c, op, int(nranks), measured=log, placement=args.placement), args.plot
        )
        note(args, f"# wrote {out}")
    if args.map:
        _write_map(c, op, args)
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs ``perfmodel collectives`` (errors propagate as :class:`perfmodel.PerfModelError`)."""
    if args.log:
        return _compare_log(args)
    if args.ignore_log_gpu:
        raise UsageError("argument `--ignore-log-gpu`: only with --log")
    system = args.system or "dgx-h100"
    op = args.op or "all_reduce"
    sizes = parse_sizes(args.sizes or "8..8G", args.factor)
    if args.nranks:
        c = _cluster_for(system, args.nodes, max(args.nranks))
        ranks = args.nranks
    else:
        c = _cluster_for(system, args.nodes or 1, 1)
        ranks = [c.devices]
    table = _predict_table(c, op, sizes, ranks, args.algorithm)
    data = {"system": hwdb.resolve(system, "system").id, "nodes": c.groups[0]["nodes"], "op": table["op"][0],
            "algorithm": args.algorithm, "rows": table}  # fmt: skip
    emit(args, data, lambda: _predictions_text(table, c, table["op"][0]), table)
    if args.csv:
        table.write_csv(args.csv)
    if args.plot:
        from .plots import collectives as cplots
        from .plots import save

        out = save(cplots.busbw_vs_size(c, op, ranks[-1], sizes=sizes), args.plot)
        note(args, f"# wrote {out}")
    if args.map:
        _write_map(c, op, args)
    return 0


def _write_map(c: Cluster, op: str, args: argparse.Namespace) -> None:
    from .plots import collectives as cplots
    from .plots import save

    sizes = parse_sizes(args.sizes, args.factor) if args.sizes else None
    out = save(cplots.algorithm_map(c, op, sizes=sizes), args.map)
    note(args, f"# wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """``perfmodel collectives ARGV...``."""
    return domain_main("collectives", argv)
