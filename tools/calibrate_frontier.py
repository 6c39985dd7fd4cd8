"""Calibrate Frontier's fabrics and NIC on published Frontier measurements; optionally write them into hwdb.

Method
------
Bounded nonlinear least squares (``scipy.optimize.least_squares``, trust-region reflective) on the log of
predicted / measured time; the model is ``pm.collectives`` itself (the figures enter as what-if specs of the
cluster, so the fit prices exactly what users get). Two stages, one figure set per fabric or NIC, never per row:

1. ``mi250x-gcd-pair-if`` ``bandwidth_fraction``: on the 1 GiB GPU-kernel store from GCD0 into GCD1 (152.09 GB/s
   over the package's 4 Infinity Fabric links; Pearson, frontier-gpu-bandwidth @ f63e1bf), predicted as a
   ``send_recv`` between the two GCDs. The 16 MiB and 256 MiB stores of the same pair are held out.
2. ``frontier-node-if`` and ``slingshot-11`` ``bandwidth_fraction`` jointly, on the RCCL all-gather rows
   (``torch.distributed.all_gather_into_tensor`` via aws-ofi-rccl, 8 GCDs per node, bf16; PCCL paper raw logs,
   axonn-ai/sc2025-pccl-reproducer @ 5a6353f ``data/all_gather_3``) of 1, 2, 8 and 32 nodes at output sizes
   256 MiB, 512 MiB and 1 GiB (12 rows), where the time is bandwidth-bound. Each row is predicted as the
   benchmark times it: the all-gather plus the ``torch.cat`` of the per-rank blocks that the timed region holds
   (a device-local copy of the whole output, priced by the roofline: ``pm.roofline.memory_bound`` on
   ``mi250x-gcd``); see ``perfmodel.validation.collectives.frontier_predict_time``. Latencies and launch costs
   are not fitted: fitting them jointly on every size (``--all-sizes``) drives both fractions to their bound
   (0.95), the NIC latency to ~77 us and the node launch cost to ~134 us, and still misses the holdout by a
   median 32 %: the engine's pipelined ring cost ``(sqrt L + sqrt W)^2`` cannot follow rows whose time is
   ``max``-like in latency and bandwidth (docs/frontier_calibration.md).

Holdout
-------
Every other RCCL row of 1 to 64 nodes at >= 1 MiB: all sizes of 4, 16 and 64 nodes (alternate node counts)
and the sizes below 256 MiB of 1, 2, 8 and 32 nodes; they are the ``holdout`` rows of the ``collectives``
validation suite (group ``frontier-node rccl all_gather >=1MiB``; issue 12 target median |error| <= 15 %).
128 nodes (outside the target range, with rows 10x off their neighbours), Cray-MPICH MPI_Allgather and the
1 MiB rows that open each multi-node job (they time RCCL's lazy connection set-up: at 16 to 128 nodes 5x to
20x slower than the 2 MiB row after them) are ``reported`` only. The kernel stores of 16 MiB and 256 MiB into
the peer GCD and the single-link stores GCD0 -> GCD2 (a check of the node fabric's per-link figure) are
holdout.

Usage::

    python tools/calibrate_frontier.py            # fit and print the report
    python tools/calibrate_frontier.py --write    # also write the figures into hwdb/*.toml (tomlkit keeps comments)

Run it from the repository root (``frontier_measurements.csv`` is found in the package data or ``../shared/data``).
The installed package must be built from this working tree (``pip install .``); the TOML files written are
the repository's, never the installed copy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import perfmodel as pm
from perfmodel.validation import collectives as vc
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parent.parent
PAIR, NODE, NIC = "mi250x-gcd-pair-if", "frontier-node-if", "slingshot-11"

#: (spec id, dotted key, lower bound, upper bound, start)
PARAMS: list[tuple[str, str, float, float, float]] = [
    (NODE, "efficiency.bandwidth_fraction", 0.3, 0.95, 0.75),
    (NIC, "efficiency.bandwidth_fraction", 0.3, 0.95, 0.85),
]


#: The diagnostic fit of ``--all-sizes``: latencies and the node launch cost too, on every size.
ALL_SIZE_PARAMS: list[tuple[str, str, float, float, float]] = [
    (NODE, "efficiency.bandwidth_fraction", 0.3, 0.95, 0.75),
    (NODE, "efficiency.latency_us", 0.2, 50.0, 1.0),
    (NODE, "efficiency.launch_us", 1.0, 300.0, 10.0),
    (NIC, "efficiency.bandwidth_fraction", 0.3, 0.95, 0.85),
    (NIC, "efficiency.latency_us", 0.5, 100.0, 2.5),
]


def specs_for(values: dict[tuple[str, str], float]) -> dict[str, pm.hwdb.Spec]:
    by: dict[str, dict[str, float]] = {}
    for (sid, key), v in values.items():
        by.setdefault(sid, {})[key] = float(v)
    return {sid: pm.hwdb.get(sid).with_overrides(kv) for sid, kv in by.items()}


def rccl_rows() -> dict[int, list[dict]]:
    by: dict[int, list[dict]] = {}
    for r in vc.frontier_rows("rccl"):
        by.setdefault(r["_nodes"], []).append(r)
    for rs in by.values():
        rs.sort(key=lambda r: r["_bytes"])
    return by


def measured_time(r: dict) -> float:
    """Seconds of the timed region, from the printed busbw (``(P-1) * input / time``; more digits than time)."""
    p = r["_p"]["ranks"]
    return (p - 1) / p * r["_bytes"] / (r["value"] * 1e9)


def selected(by: dict[int, list[dict]], role: str) -> dict[int, list[dict]]:
    out = {}
    for nodes, rs in by.items():
        first = rs[0]["_bytes"]
        keep = [r for r in rs if vc.frontier_role(nodes, r["_bytes"], first_size=r["_bytes"] == first) == role]
        if keep:
            out[nodes] = keep
    return out


def log_residuals(values: dict[tuple[str, str], float], rows: dict[int, list[dict]]) -> np.ndarray:
    specs = specs_for(values)
    res = []
    for nodes, rs in sorted(rows.items()):
        sizes = np.array([r["_bytes"] for r in rs])
        t, _ = vc.frontier_predict_time(nodes, sizes, specs)
        res.extend(np.log(t / np.array([measured_time(r) for r in rs])))
    return np.asarray(res)


def fit_pair() -> tuple[float, object]:
    rows = [r for r in vc.frontier_rows("store") if tuple(r["_p"]["gcd_pair"]) == (0, 1) and r["_bytes"] == 2**30]
    assert len(rows) == 1, rows

    def resid(x: np.ndarray) -> np.ndarray:
        spec = {PAIR: pm.hwdb.get(PAIR).with_overrides({"efficiency.bandwidth_fraction": float(x[0])})}
        return np.log(vc.frontier_store_predict(rows, spec) / np.array([r["value"] for r in rows]))

    sol = least_squares(resid, x0=[0.75], bounds=([0.3], [1.0]), method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12)
    return float(sol.x[0]), sol


def fit_fabric_nic(pair_fraction: float) -> tuple[dict[tuple[str, str], float], object]:
    fit_rows = selected(rccl_rows(), "fit")
    base = {(PAIR, "efficiency.bandwidth_fraction"): pair_fraction}
    lo = np.array([p[2] for p in PARAMS])
    hi = np.array([p[3] for p in PARAMS])
    # Latencies span decades: fit them in log space so the trust region treats every figure alike.
    logs = np.array(["latency" in p[1] or "launch" in p[1] for p in PARAMS])

    def unpack(x: np.ndarray) -> dict[tuple[str, str], float]:
        v = np.where(logs, np.exp(x), x)
        return {**base, **{(p[0], p[1]): float(val) for p, val in zip(PARAMS, v, strict=True)}}

    x0 = np.array([math.log(p[4]) if lg else p[4] for p, lg in zip(PARAMS, logs, strict=True)])
    bl = np.where(logs, np.log(lo), lo)
    bh = np.where(logs, np.log(hi), hi)
    sol = least_squares(lambda x: log_residuals(unpack(x), fit_rows), x0=x0, bounds=(bl, bh), method="trf", x_scale="jac", diff_step=1e-4)
    return unpack(sol.x), sol


def report_rows(values: dict[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """Median / max |busbw error| per role of the RCCL rows under ``values``, and per node count."""
    specs = specs_for(values)
    out: dict[str, dict[str, float]] = {}
    per_role: dict[str, list[float]] = {}
    for nodes, rs in sorted(rccl_rows().items()):
        sizes = np.array([r["_bytes"] for r in rs])
        t, coll = vc.frontier_predict_time(nodes, sizes, specs)
        bus = vc.frontier_busbw(nodes, sizes, t)
        for r, b in zip(rs, bus, strict=True):
            role = vc.frontier_role(nodes, r["_bytes"], first_size=r["_bytes"] == rs[0]["_bytes"])
            per_role.setdefault(role, []).append(abs(b / r["value"] - 1))
            per_role.setdefault(f"{role} {nodes:3d} nodes", []).append(abs(b / r["value"] - 1))
    for k, errs in sorted(per_role.items()):
        out[k] = {"rows": len(errs), "median": float(np.median(errs)), "max": float(np.max(errs))}
    return out


def explain(values: dict[tuple[str, str], float]) -> list[str]:
    """Which algorithm the tuner picks and which level binds, at 1 GiB, per node count."""
    specs = specs_for(values)
    lines = []
    for nodes in (1, 2, 8, 32, 64):
        c = vc.frontier_cluster(nodes, specs)
        p = nodes * vc.FRONTIER_GCDS
        auto = pm.collectives.predict(c, "all_gather", 2**30, p)
        each = pm.collectives.predict(c, "all_gather", 2**30, p, ["ring", "hierarchical"])
        lines.append(
            f"  {nodes:3d} nodes: auto={auto['algorithm'][0]} busbw {auto['busbw_gbps'][0]:.1f} GB/s "
            f"(ring {each['busbw_gbps'][0]:.1f}, hierarchical {each['busbw_gbps'][1]:.1f}); "
            f"+cat -> {vc.frontier_busbw(nodes, 2**30, vc.frontier_predict_time(nodes, 2**30, specs)[0])[0]:.1f} GB/s"
        )
    return lines


def write(values: dict[tuple[str, str], float], fitted_on: dict[str, str]) -> None:
    import tomlkit

    for sid in (PAIR, NODE, NIC):
        sub = "nics" if sid == NIC else "fabrics"
        path = ROOT / "hwdb" / sub / f"{sid}.toml"
        doc = tomlkit.parse(path.read_text())
        eff = doc["efficiency"]
        for (s, key), v in values.items():
            if s != sid:
                continue
            name = key.split(".", 1)[1]
            eff[name] = round(v, 4)
        eff["fitted_on"] = fitted_on[sid]
        src = doc.get("sources")
        if src is not None and "efficiency" in src:
            src["efficiency"] = (
                "Fitted by tools/calibrate_frontier.py (see efficiency.fitted_on) on shared/data/frontier_measurements.csv: "
                "Pearson, frontier-gpu-bandwidth @ f63e1bf (arXiv:2302.14827); Singh et al., PCCL raw logs, "
                "axonn-ai/sc2025-pccl-reproducer @ 5a6353f (arXiv:2504.18658)"
            )
        path.write_text(tomlkit.dumps(doc))
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the fitted figures into hwdb/*.toml")
    ap.add_argument("--all-sizes", action="store_true",
                    help="diagnostic: also fit latency_us / launch_us on every size of the fit node counts (not written)")
    ap.add_argument("--json", type=Path, help="also write the fit report as JSON to this path")
    args = ap.parse_args()
    if vc.frontier_csv() is None:
        print("frontier_measurements.csv not found (package data, $PERFMODEL_FRONTIER_DATA or ../shared/data)", file=sys.stderr)
        return 2

    if args.all_sizes:
        if args.write:
            print("--all-sizes is a diagnostic; it does not write", file=sys.stderr)
            return 2
        PARAMS[:] = ALL_SIZE_PARAMS
        vc.FRONTIER_FIT_MIN_BYTES = vc.FRONTIER_MIN_BYTES
    e_pair, sol1 = fit_pair()
    print(f"stage 1 ({PAIR}): bandwidth_fraction = {e_pair:.4f}; status {sol1.status} ({sol1.message}); nfev {sol1.nfev}; "
          f"residual {sol1.fun[0]:+.2e}")
    values, sol2 = fit_fabric_nic(e_pair)
    n_fit = sum(len(v) for v in selected(rccl_rows(), "fit").values())
    rms = float(np.sqrt(np.mean(sol2.fun**2)))
    print(f"stage 2 ({NODE} + {NIC}) on {n_fit} rows: status {sol2.status} ({sol2.message}); nfev {sol2.nfev}; "
          f"cost {sol2.cost:.4f}; rms log error {rms:.4f}; first-order optimality {sol2.optimality:.2e}")
    at_bound = [f"{p[0]}.{p[1]}" for p, a in zip(PARAMS, sol2.active_mask, strict=True) if a != 0]
    print(f"  parameters at a bound: {at_bound or 'none'}")
    for (sid, key), v in values.items():
        print(f"  {sid:22s} {key:32s} {v:.4f}")
    print("algorithm and binding level at 1 GiB:")
    print("\n".join(explain(values)))
    rep = report_rows(values)
    print("RCCL all-gather |busbw error| (median / max):")
    for k, s in rep.items():
        print(f"  {k:22s} rows {s['rows']:3d}  median {s['median']:.3f}  max {s['max']:.3f}")

    fit_desc = (
        "RCCL all_gather_into_tensor busbw (aws-ofi-rccl, 8 GCDs/node, bf16) on 1, 2, 8 and 32 Frontier nodes at "
        "output 256 MiB, 512 MiB and 1 GiB; timed region priced as the all-gather plus the torch.cat copy "
        "(roofline); PCCL raw logs axonn-ai/sc2025-pccl-reproducer @ 5a6353f data/all_gather_3 via "
        f"shared/data/frontier_measurements.csv; scipy least_squares on log time, {n_fit} rows, rms log error "
        f"{rms:.3f}; holdout: 4, 16, 64 nodes and sizes < 256 MiB; latency_us and launch_us not fitted (kept)"
    )
    fitted_on = {
        PAIR: (
            "tools/calibrate_frontier.py: the 1 GiB GPU-kernel store GCD0 -> GCD1 (152.09 GB/s over the 4 links; "
            "Pearson, cwpearson/frontier-gpu-bandwidth @ f63e1bf, implicit_mapped_GPUWrGPU) predicted as send_recv "
            "between the two GCDs; scipy least_squares; 16 MiB and 256 MiB stores held out; latency_us not fitted "
            "(no row isolates it)"
        ),
        NODE: f"tools/calibrate_frontier.py, jointly with slingshot-11: {fit_desc}",
        NIC: f"tools/calibrate_frontier.py, jointly with frontier-node-if: {fit_desc}",
    }
    if args.json:
        args.json.write_text(json.dumps({
            "pair": {"bandwidth_fraction": e_pair, "status": int(sol1.status), "nfev": int(sol1.nfev)},
            "joint": {"values": {f"{s}.{k}": v for (s, k), v in values.items()}, "status": int(sol2.status),
                      "message": sol2.message, "nfev": int(sol2.nfev), "cost": float(sol2.cost), "rms_log_error": rms,
                      "optimality": float(sol2.optimality), "at_bound": at_bound, "fit_rows": n_fit},
            "errors": rep,
        }, indent=2, sort_keys=True) + "\n")
    if args.write:
        write(values, fitted_on)
    return 0 if sol1.success and sol2.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
