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
import math
import re
import sys
from collections.abc import Sequence

import numpy as np
import polars as pl

from . import collectives, hwdb, nccl_tests
from .cluster import Cluster, cluster
from .errors import InvalidArgumentError, PerfModelError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
_MULT = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZES_HELP = "expected sizes like 1K..8G (from..to, stepping by --factor), 1M,4M,1G or 1048576 (K, M, G, T = 1024^1..4)"


def parse_size(text: str) -> int:
    """One size as nccl-tests' ``-b``/``-e`` read it: ``8``, ``1K``, ``256M``, ``8G`` (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise InvalidArgumentError(f"argument `--sizes`: cannot read '{text}'; {_SIZES_HELP}")
    value = float(m.group(1)) * _MULT[m.group(2).lower()]
    if value < 1 or value != int(value):
        raise InvalidArgumentError(
            f"argument `--sizes`: '{text}' is not a whole number of bytes >= 1; {_SIZES_HELP}"
        )
    return int(value)


#: The most message sizes one command evaluates (a table longer than this is not for reading).
MAX_SIZES = 100_000


def parse_sizes(text: str, factor: float = 2.0) -> np.ndarray:
    """``1K..8G`` (geometric steps of ``factor``), ``1M,4M,1G`` or a single size, as float64 bytes."""
    if not (factor > 1 and math.isfinite(factor)):
        raise InvalidArgumentError(f"argument `--factor`: is {factor}; expected a finite step factor > 1")
    out: list[float] = []
    for part in text.split(","):
        if ".." in part:
            lo_t, _, hi_t = part.partition("..")
            lo, hi = parse_size(lo_t), parse_size(hi_t)
            if hi < lo:
                raise InvalidArgumentError(
                    f"argument `--sizes`: range '{part}' ends below its start; {_SIZES_HELP}"
                )
            n = int(math.floor(math.log(hi / lo, factor) + 1e-9)) + 1
            if len(out) + n > MAX_SIZES:
                raise InvalidArgumentError(
                    f"argument `--sizes`: '{part}' with --factor {factor} is {n:,} sizes; at most {MAX_SIZES:,} "
                    "(raise --factor)"
                )
            out.extend(float(round(lo * factor**i)) for i in range(n))
        elif part.strip():
            out.append(float(parse_size(part)))
    if not out:
        raise InvalidArgumentError(f"argument `--sizes`: is empty; {_SIZES_HELP}")
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perfmodel collectives",
        description="Modelled collective time, algbw and busbw in nccl-tests style; compare with a real log.",
    )
    p.add_argument(
        "--system", default=None, help="hwdb system id (default dgx-h100); `perfmodel hwdb list system`"
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
        "--placement", default="out-of-place", help="log rows to compare: out-of-place (default) or in-place"
    )
    p.add_argument("--plot", default=None, metavar="FILE", help="write busbw vs size (.png, .svg or .html)")
    p.add_argument(
        "--map", default=None, metavar="FILE", help="write the which-algorithm-wins map (.png, .svg or .html)"
    )
    p.add_argument("--csv", default=None, metavar="FILE", help="write the table as CSV")
    return p


def _cluster_for(system: str, nodes: int | None, nranks: int) -> Cluster:
    spec = hwdb.resolve(system, "system")
    dpn = int(spec["devices_per_node_count"])
    need = max(1, -(-nranks // dpn))
    if nodes is None:
        nodes = need
    elif nodes < 1:
        raise InvalidArgumentError(f"argument `--nodes`: is {nodes}; expected a whole number of nodes >= 1")
    elif nodes * dpn < nranks:
        raise InvalidArgumentError(
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


def _print_predictions(df: pl.DataFrame, c: Cluster, op: str) -> None:
    print(f"# perfmodel collectives: {op} on {c!r} (modelled, nccl-tests conventions)")
    for r in df["nranks"].unique(maintain_order=True).to_list():
        rows = df.filter(pl.col("nranks") == r)
        print("#")
        print(f"# {r} ranks; transports: {c.transports(r)}")
        print(f"#{'size':>13s} {'time':>9s} {'algbw':>8s} {'busbw':>8s}  {'algorithm':<14s} transports")
        print(f"#{'(B)':>13s} {'(us)':>9s} {'(GB/s)':>8s} {'(GB/s)':>8s}")
        for row in rows.iter_rows(named=True):
            print(
                f" {int(row['nbytes']):13d} {_fmt_time(row['time_us']):>9s} {row['algbw_gbps']:8.2f} {row['busbw_gbps']:8.2f}  "
                f"{row['algorithm']:<14s} {row['transports']}"
            )


def _print_comparison(cmp: pl.DataFrame, c: Cluster, op: str, nranks: int, path: str) -> None:
    print(f"# perfmodel collectives: {op}, {nranks} ranks: log {path} vs model on {c!r}")
    print(f"# transports: {c.transports(nranks)}")
    print(f"#{'size':>13s} {'time':>9s} {'model':>9s} {'busbw':>8s} {'model':>8s} {'error':>8s}  algorithm")
    print(f"#{'(B)':>13s} {'(us)':>9s} {'(us)':>9s} {'(GB/s)':>8s} {'(GB/s)':>8s} {'(busbw)':>8s}")
    for row in cmp.iter_rows(named=True):
        err = row["busbw_error"]
        err_s = f"{100 * err:+7.1f}%" if err is not None and math.isfinite(err) else f"{'n/a':>8s}"
        print(
            f" {int(row['size_bytes']):13d} {_fmt_time(row['measured_time_us']):>9s} {_fmt_time(row['predicted_time_us']):>9s} "
            f"{row['measured_busbw_gbps']:8.2f} {row['predicted_busbw_gbps']:8.2f} {err_s}  {row['algorithm']}"
        )
    ok = cmp.filter(pl.col("busbw_error").is_finite())
    for name, part in (("all sizes", ok), (">= 1 MiB", ok.filter(pl.col("size_bytes") >= 2**20))):
        if part.height:
            e = part["busbw_error"].abs().to_numpy()
            print(
                f"# busbw error, {name}: median {100 * np.median(e):.1f}%, max {100 * np.max(e):.1f}% over {part.height} sizes"
            )
    skipped = cmp.height - ok.height
    if skipped:
        print(f"# {skipped} sizes with measured busbw 0 (rounded in the log) have no relative error")


def run(args: argparse.Namespace) -> int:
    system = args.system or "dgx-h100"
    if args.log:
        log = nccl_tests.read(args.log)
        op = args.op or (log["op"][0] if log.height else None)
        nranks = args.nranks[0] if args.nranks else (log["nranks"][0] if log.height else None)
        if op is None:
            raise InvalidArgumentError(
                f"argument `--op`: the log {args.log} does not say which collective it measured; pass --op"
            )
        if nranks is None:
            raise InvalidArgumentError(
                f"argument `--nranks`: the log {args.log} does not list its ranks; pass --nranks"
            )
        c = _cluster_for(system, args.nodes, int(nranks))
        cmp = nccl_tests.compare(
            log, c, placement=args.placement, algorithm=args.algorithm, op=op, nranks=int(nranks)
        )
        _print_comparison(cmp, c, op, int(nranks), args.log)
        if args.csv:
            cmp.write_csv(args.csv)
        if args.plot:
            from .plots import collectives as cplots
            from .plots import save

            out = save(
                cplots.busbw_vs_size(c, op, int(nranks), measured=log, placement=args.placement), args.plot
            )
            print(f"# wrote {out}")
        if args.map:
            _write_map(c, op, args)
        return 0

    op = args.op or "all_reduce"
    sizes = parse_sizes(args.sizes or "8..8G", args.factor)
    if args.nranks:
        c = _cluster_for(system, args.nodes, max(args.nranks))
        ranks = args.nranks
    else:
        c = _cluster_for(system, args.nodes or 1, 1)
        ranks = [c.devices]
    table = _predict_table(c, op, sizes, ranks, args.algorithm)
    _print_predictions(table, c, table["op"][0])
    if args.csv:
        table.write_csv(args.csv)
    if args.plot:
        from .plots import collectives as cplots
        from .plots import save

        out = save(cplots.busbw_vs_size(c, op, ranks[-1], sizes=sizes), args.plot)
        print(f"# wrote {out}")
    if args.map:
        _write_map(c, op, args)
    return 0


def _write_map(c: Cluster, op: str, args: argparse.Namespace) -> None:
    from .plots import collectives as cplots
    from .plots import save

    sizes = parse_sizes(args.sizes, args.factor) if args.sizes else None
    out = save(cplots.algorithm_map(c, op, sizes=sizes), args.map)
    print(f"# wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return run(args)
    except PerfModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
