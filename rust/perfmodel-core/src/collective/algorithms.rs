//! Flat algorithms over a communicator (ring, tree, recursive doubling/halving, Rabenseifner, Bruck,
//! direct/pairwise, PXN, NVLS, a framework's custom all-reduce) and the tuner that picks among them. Hierarchical compositions and SHARP
//! live in [`super::hierarchical`].
//!
//! A flat algorithm treats the communicator as `p` ranks joined by its slowest active level: the bandwidth is
//! the least per-rank bandwidth over the levels it crosses, the per-step latency the largest.
use super::formulas::{pipelined, Protocols};
use super::hierarchical;
use super::{Algorithm, Op};
use crate::error::{Error, Result};
use crate::topology::{Comm, LinkKind};

/// Bottleneck ring bandwidth (bytes/s) and largest per-step latency (s) over the active levels, per
/// protocol (the low-latency one only where every active level models it). The network crossing runs one
/// ring channel per rail of the least-filled node (`ranks_min_node`: a partly filled last node has fewer).
fn ring_figures(comm: &Comm) -> Protocols {
    let mut p = Protocols::none();
    for (l, k, below) in comm.active_nested() {
        p.include(l, l.ring_bandwidth(k, comm.ranks_min_node, below));
    }
    p
}

/// Bottleneck direct (all peers at once) bandwidth and largest latency.
fn direct_figures(comm: &Comm, rail_aligned: bool) -> (f64, f64) {
    let mut bw = f64::INFINITY;
    let mut alpha: f64 = 0.0;
    for (l, k) in comm.active() {
        bw = bw.min(l.direct_bandwidth(k, comm.ranks_per_node, rail_aligned));
        alpha = alpha.max(l.hop_latency_s);
    }
    (bw, alpha)
}

fn unsupported(message: String) -> Error {
    Error::Unsupported { message }
}

fn lg(p: f64) -> f64 {
    p.log2()
}

fn clg(p: f64) -> f64 {
    p.log2().ceil()
}

fn require_power_of_two(comm: &Comm, algo: Algorithm) -> Result<()> {
    if comm.nranks.is_power_of_two() {
        Ok(())
    } else {
        Err(unsupported(format!(
            "algorithm '{}' needs a power-of-two rank count, got {} ranks; use 'ring' or 'bruck'",
            algo.name(),
            comm.nranks
        )))
    }
}

/// Hops of a tree (NCCL style): a chain inside the node, a binary tree across nodes, up and down.
fn tree_latency(comm: &Comm) -> f64 {
    let mut l = 0.0;
    for (lvl, k) in comm.active() {
        let hops = if lvl.kind == LinkKind::Network {
            clg(f64::from(k))
        } else {
            f64::from(k - 1)
        };
        l += hops * lvl.hop_latency_s;
    }
    l
}

/// Bytes each rank exchanges across each active level in an all-to-all of `n` bytes per rank, over that
/// level's direct bandwidth: the slowest level bounds the time. On the network a partly filled last node's
/// ranks have more peers on other nodes (`p - ranks_min_node`) and their own share of its NICs; the slower of
/// a full node's rank and the last node's bounds the level.
fn all_to_all_bandwidth_time(comm: &Comm, n: f64, rail_aligned: bool) -> f64 {
    let p = f64::from(comm.nranks);
    let mut below = 1.0;
    let mut w: f64 = 0.0;
    for (l, k) in comm.active() {
        let within = below * f64::from(k);
        let peers = within.min(p) - below;
        let bw = l.direct_bandwidth(k, comm.ranks_per_node, rail_aligned);
        w = w.max(n / p * peers / bw);
        if l.kind == LinkKind::Network && comm.partial_node() {
            let last = f64::from(comm.ranks_min_node);
            let bw = l.direct_bandwidth(k, comm.ranks_min_node, rail_aligned);
            w = w.max(n / p * (p - last) / bw);
        }
        below = within;
    }
    w
}

/// NCCL's multi-node ring all-reduce factor on the Simple protocol's per-step latency (`src/enqueue.cc`,
/// `ncclTopoGetAlgoTime`: `lat *= minCompCap < 80 ? 1.9 : 1.4`, "plateau effect of ring"); a tuner constant,
/// not fitted.
pub const RING_PLATEAU: f64 = 1.4;

/// Time of `algo` (not `Auto`) for `op` on `comm`, without the launch cost.
pub fn flat_time(comm: &Comm, op: Op, n: f64, algo: Algorithm) -> Result<f64> {
    let p = f64::from(comm.nranks);
    let ring = ring_figures(comm);
    let (rb, ra) = (ring.bandwidth, ring.latency);
    let t = match (algo, op) {
        // Every rank's link is busy from the first step: the textbook L + W (Thakur et al. 2005), per protocol,
        // the fastest protocol as NCCL/RCCL's tuner picks it.
        (Algorithm::Ring, Op::AllReduce) => {
            // NCCL's tuner (`ncclTopoGetAlgoTime`, "plateau effect of ring"): a ring all-reduce across nodes
            // pays its Simple per-step latency x 1.4 (GPUs of compute capability 8.0 and up).
            let mut r = ring;
            if comm.active().any(|(l, _)| l.kind == LinkKind::Network) {
                r.latency *= RING_PLATEAU;
            }
            r.time(2.0 * (p - 1.0), 2.0 * (p - 1.0) / p * n)
        }
        (Algorithm::Ring, Op::AllGather | Op::ReduceScatter) => {
            ring.time(p - 1.0, (p - 1.0) / p * n)
        }
        (Algorithm::Ring, Op::Broadcast | Op::Reduce) => pipelined((p - 1.0) * ra, n / rb),
        (Algorithm::Tree, Op::AllReduce) => pipelined(2.0 * tree_latency(comm), 2.0 * n / rb),
        (Algorithm::Tree, Op::Broadcast | Op::Reduce) => pipelined(tree_latency(comm), n / rb),
        (Algorithm::RecursiveDoubling, Op::AllReduce) => {
            require_power_of_two(comm, algo)?;
            lg(p) * (ra + n / rb)
        }
        (Algorithm::RecursiveDoubling, Op::AllGather | Op::ReduceScatter) => {
            require_power_of_two(comm, algo)?;
            lg(p) * ra + (p - 1.0) / p * n / rb
        }
        (Algorithm::Rabenseifner, Op::AllReduce | Op::Reduce) => {
            2.0 * clg(p) * ra + 2.0 * (p - 1.0) / p * n / rb
        }
        (Algorithm::Bruck, Op::AllGather) => clg(p) * ra + (p - 1.0) / p * n / rb,
        (Algorithm::Bruck, Op::AllToAll) => {
            let (db, da) = direct_figures(comm, true);
            clg(p) * da + n / 2.0 * clg(p) / db
        }
        (Algorithm::Direct | Algorithm::Pxn, Op::AllToAll) => {
            let pxn = algo == Algorithm::Pxn;
            check_rails(comm, algo)?;
            let (_, da) = direct_figures(comm, pxn);
            // PXN forwards cross-rail data over the in-node fabric first: one more hop of latency.
            let extra = if pxn {
                comm.levels[0].hop_latency_s
            } else {
                0.0
            };
            pipelined(
                (p - 1.0) * da + extra,
                all_to_all_bandwidth_time(comm, n, pxn),
            )
        }
        (Algorithm::Direct | Algorithm::Pxn, Op::SendRecv) => {
            let pxn = algo == Algorithm::Pxn;
            check_rails(comm, algo)?;
            // nccl-tests sendrecv: every rank sends n bytes to the next rank and receives from the previous.
            // One hop: nothing to pipeline (the segmented cost (s - 1 + m)(alpha + W/m) is alpha + W at s = 1).
            let (db, da) = send_recv_figures(comm, pxn);
            da + n / db
        }
        (Algorithm::Direct, Op::AllReduce) => {
            let (db, da) = direct_figures(comm, false);
            pipelined(2.0 * da, 2.0 * (p - 1.0) / p * n / db)
        }
        (Algorithm::Direct, Op::AllGather | Op::ReduceScatter) => {
            let (db, da) = direct_figures(comm, false);
            pipelined(da, (p - 1.0) / p * n / db)
        }
        (Algorithm::Nvls, Op::AllReduce) => {
            let l = &comm.levels[0];
            if comm.len != 1 || l.kind != LinkKind::Switch || !l.in_network_reduction {
                return Err(nvls_unsupported(comm));
            }
            // Each rank pushes n bytes into the switch, which reduces and multicasts n bytes back.
            pipelined(
                2.0 * l.hop_latency_s,
                n / l.inr_bandwidth(comm.ranks_per_node),
            )
        }
        (Algorithm::CustomAllReduce, Op::AllReduce) => custom_all_reduce_time(comm, n)?,
        (Algorithm::Sharp | Algorithm::Hierarchical, _) => hierarchical::time(comm, op, n, algo)?,
        _ => {
            return Err(unsupported(format!(
                "algorithm '{}' does not implement {}; it implements {}",
                algo.name(),
                op.name(),
                algo.ops()
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    Ok(t)
}

/// A framework's custom all-reduce of `n` bytes (SGLang's, vLLM's, TensorRT-LLM's one-/two-shot kernel over
/// peer-mapped buffers): `latency + n / rate` with the fabric's hwdb `[custom_all_reduce]` figures (the
/// latency is the whole call's, its launch included: [`evaluate`] adds no NCCL launch cost to it). The
/// kernel runs inside one switch domain, on the group sizes and messages the figures allow; anything else
/// is an error that says why (a framework sends those to NCCL).
pub fn custom_all_reduce_time(comm: &Comm, n: f64) -> Result<f64> {
    let l = &comm.levels[0];
    if comm.len != 1 || l.kind == LinkKind::Network {
        return Err(unsupported(format!(
            "algorithm 'custom_all_reduce' runs inside one switch domain; these {} ranks span {} levels \
             (nodes or fabrics), use 'auto' or 'hierarchical'",
            comm.nranks, comm.len
        )));
    }
    let Some(c) = l.custom_all_reduce else {
        return Err(unsupported(
            "algorithm 'custom_all_reduce' is modelled on fabrics with hwdb [custom_all_reduce] figures \
             (NVLink switch nodes); this communicator's fabric has none, use 'auto' or 'ring'"
                .into(),
        ));
    };
    if !c.takes_ranks(comm.nranks) {
        return Err(unsupported(format!(
            "algorithm 'custom_all_reduce' takes {}2 to {} ranks on this fabric, got {} ranks; use 'auto' or 'ring'",
            if c.even_ranks_only { "an even number of " } else { "" },
            c.max_ranks,
            comm.nranks
        )));
    }
    if n > c.max_bytes {
        return Err(unsupported(format!(
            "algorithm 'custom_all_reduce' takes messages up to {} bytes ({} MiB) on this fabric, got {n} bytes; \
             larger ones go to NCCL, use 'auto'",
            c.max_bytes,
            c.max_bytes / 1_048_576.0
        )));
    }
    Ok(c.latency_s + n / c.bytes_per_s)
}

fn nvls_unsupported(comm: &Comm) -> Error {
    if comm.levels[..comm.len]
        .iter()
        .any(|l| l.kind == LinkKind::Switch && l.in_network_reduction)
    {
        unsupported("algorithm 'nvls' is modelled inside one NVSwitch domain; this communicator spans nodes, use 'hierarchical' or 'sharp'".into())
    } else {
        unsupported("algorithm 'nvls' needs an NVSwitch with in-switch reduction (NVLink SHARP); this topology has none, use 'ring' or 'tree'".into())
    }
}

fn check_rails(comm: &Comm, algo: Algorithm) -> Result<()> {
    let rails_only = comm
        .active()
        .any(|(l, _)| l.kind == LinkKind::Network && l.rails_only);
    if algo == Algorithm::Direct && rails_only && comm.ranks_per_node > 1 {
        return Err(unsupported(
            "algorithm 'direct' sends across rails, which a rails-only network cannot carry; use 'pxn' (rail-aligned forwarding)".into(),
        ));
    }
    Ok(())
}

/// Point-to-point bandwidth and latency of the neighbour exchange: the busiest level a rank's send crosses.
fn send_recv_figures(comm: &Comm, rail_aligned: bool) -> (f64, f64) {
    let mut bw = f64::INFINITY;
    let mut alpha: f64 = 0.0;
    for (l, _) in comm.active() {
        bw = bw.min(match l.kind {
            LinkKind::Network => l.direct_bandwidth(2, comm.ranks_per_node, rail_aligned),
            _ => l.direct_bandwidth(2, 1, true),
        });
        alpha = alpha.max(l.hop_latency_s);
    }
    (bw, alpha)
}

/// The algorithms NCCL/RCCL's tuners consider for `op` on this communicator.
pub fn candidates(comm: &Comm, op: Op) -> &'static [Algorithm] {
    let multi = comm.len > 1;
    let nvls = comm.len == 1
        && comm.levels[0].kind == LinkKind::Switch
        && comm.levels[0].in_network_reduction;
    let sharp = multi
        && comm
            .active()
            .any(|(l, _)| l.kind == LinkKind::Network && l.in_network_reduction);
    let rails_only = comm
        .active()
        .any(|(l, _)| l.kind == LinkKind::Network && l.rails_only);
    match op {
        Op::AllReduce => match (nvls, multi, sharp) {
            (true, _, _) => &[Algorithm::Ring, Algorithm::Tree, Algorithm::Nvls],
            (false, true, true) => &[
                Algorithm::Ring,
                Algorithm::Tree,
                Algorithm::Hierarchical,
                Algorithm::Sharp,
            ],
            (false, true, false) => &[Algorithm::Ring, Algorithm::Tree, Algorithm::Hierarchical],
            _ => &[Algorithm::Ring, Algorithm::Tree],
        },
        // NCCL/RCCL run all-gather and reduce-scatter as rings (NVLS/CollNet/PAT variants of newer NCCL are
        // not modelled); `hierarchical` stays selectable by name.
        Op::AllGather | Op::ReduceScatter | Op::Broadcast | Op::Reduce => &[Algorithm::Ring],
        Op::AllToAll | Op::SendRecv => {
            if rails_only && multi {
                &[Algorithm::Pxn]
            } else {
                &[Algorithm::Direct, Algorithm::Pxn]
            }
        }
    }
}

/// Time (launch included) and the algorithm used; `Auto` picks the fastest candidate.
pub fn evaluate(comm: &Comm, op: Op, n: f64, algo: Algorithm) -> Result<(f64, Algorithm)> {
    if algo != Algorithm::Auto && !algo.ops().contains(&op) {
        return Err(unsupported(format!(
            "algorithm '{}' does not implement {}; it implements {}",
            algo.name(),
            op.name(),
            algo.ops()
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if comm.len == 0 {
        // One rank (or ranks that share nothing): the library still launches a kernel.
        let used = if algo == Algorithm::Auto {
            candidates(comm, op)[0]
        } else {
            algo
        };
        return Ok((comm.launch_s, used));
    }
    if algo == Algorithm::CustomAllReduce {
        // The fitted latency is the kernel's whole call: no NCCL launch on top.
        return Ok((custom_all_reduce_time(comm, n)?, algo));
    }
    if algo != Algorithm::Auto {
        return Ok((comm.launch_s + flat_time(comm, op, n, algo)?, algo));
    }
    let mut best = (f64::INFINITY, Algorithm::Ring);
    for &c in candidates(comm, op) {
        if let Ok(t) = flat_time(comm, op, n, c) {
            if t < best.0 {
                best = (t, c);
            }
        }
    }
    Ok((comm.launch_s + best.0, best.1))
}
