//! Hierarchical compositions across topology levels (e.g. GCD pair -> node -> scale-out), and in-network
//! reduction across nodes (SHARP / CollNet).
//!
//! All-reduce (docs/models/collectives.md#hierarchical, multi-level included): reduce-scatter inside each level from the innermost out,
//! an all-reduce of the remaining shard at the outermost level (ring, tree or SHARP, whichever is fastest
//! there; every rank on its own rail when that level is the network), then all-gather back inwards.
//! All-gather and reduce-scatter run level by level on the shrinking/growing shard; broadcast and reduce
//! pipeline a ring through each level in turn.
use super::formulas::{pipelined, Protocols};
use super::{Algorithm, Op};
use crate::error::{Error, Result};
use crate::topology::{Comm, LevelParams, LinkKind};

/// Bandwidth of one rank at level `l` with `k` members in a hierarchical phase: its own rail on the
/// network (`rpn` ranks of its node sharing the node's NICs), its share of the fabric otherwise (each phase's
/// ring has one rank per member; the member's other devices run their own rings at once, each on its own
/// links).
fn phase_bandwidth(l: &LevelParams, k: u32, rpn: u32) -> f64 {
    match l.kind {
        LinkKind::Network => l.rail_bandwidth(rpn),
        _ => l.ring_bandwidth(k, rpn, 1),
    }
}

/// The ring figures of one phase at level `l`, per protocol.
fn phase_ring(l: &LevelParams, k: u32, rpn: u32) -> Protocols {
    let mut p = Protocols::none();
    p.include(l, phase_bandwidth(l, k, rpn));
    p
}

/// Reduce-scatter (or all-gather) of a `total`-byte array over `k` members: a ring, `L + W` of the fastest
/// protocol.
fn scatter_phase(comm: &Comm, l: &LevelParams, k: u32, total: f64) -> f64 {
    let kf = f64::from(k);
    phase_ring(l, k, comm.ranks_per_node).time(kf - 1.0, (kf - 1.0) / kf * total)
}

/// The network phase of a communicator whose last node is partly filled: `phase(shard, rpn)` for a full node's
/// ranks (each holding `shard`) and for the last node's (`ranks_min_node` ranks, each holding the node's
/// whole share split fewer ways: `shard x ranks_per_node / ranks_min_node`, on its own rail); the slower bounds
/// the phase. A communicator of whole nodes is the full node's.
fn network_phase(comm: &Comm, shard: f64, phase: impl Fn(f64, u32) -> Result<f64>) -> Result<f64> {
    let full = phase(shard, comm.ranks_per_node)?;
    if !comm.partial_node() {
        return Ok(full);
    }
    let grow = f64::from(comm.ranks_per_node) / f64::from(comm.ranks_min_node);
    Ok(full.max(phase(shard * grow, comm.ranks_min_node)?))
}

/// All-reduce of `s` bytes at the outermost level: the fastest of ring, tree and (when `sharp`) SHARP, with
/// `rpn` ranks per node sharing its NICs.
fn top_all_reduce(l: &LevelParams, k: u32, s: f64, sharp: bool, rpn: u32) -> Result<f64> {
    let kf = f64::from(k);
    let bw = phase_bandwidth(l, k, rpn);
    if sharp {
        if l.kind != LinkKind::Network || !l.in_network_reduction {
            return Err(Error::Unsupported {
                message: "algorithm 'sharp' needs a scale-out network with in-network reduction (InfiniBand SHARP) \
                          on every node of the communicator; use 'hierarchical' or 'ring'"
                    .into(),
            });
        }
        return Ok(pipelined(2.0 * l.hop_latency_s, s / l.inr_bandwidth(rpn)));
    }
    let ring = phase_ring(l, k, rpn).time(2.0 * (kf - 1.0), 2.0 * (kf - 1.0) / kf * s);
    let tree = pipelined(2.0 * kf.log2().ceil() * l.hop_latency_s, 2.0 * s / bw);
    Ok(ring.min(tree))
}

/// Time of a hierarchical (or SHARP) `op` of `n` bytes, launch cost excluded.
pub fn time(comm: &Comm, op: Op, n: f64, algo: Algorithm) -> Result<f64> {
    let levels = &comm.levels[..comm.len];
    let members = &comm.members[..comm.len];
    let top = comm.len - 1;
    let sharp = algo == Algorithm::Sharp;
    match op {
        Op::AllReduce => {
            let mut t = 0.0;
            let mut s = n;
            for i in 0..top {
                t += 2.0 * scatter_phase(comm, &levels[i], members[i], s);
                s /= f64::from(members[i]);
            }
            let (l, k) = (&levels[top], members[top]);
            if l.kind == LinkKind::Network {
                Ok(t + network_phase(comm, s, |s, rpn| top_all_reduce(l, k, s, sharp, rpn))?)
            } else {
                Ok(t + top_all_reduce(l, k, s, sharp, comm.ranks_per_node)?)
            }
        }
        Op::AllGather | Op::ReduceScatter => {
            let mut t = 0.0;
            let mut total = n;
            for i in 0..=top {
                let (l, k) = (&levels[i], members[i]);
                t += if l.kind == LinkKind::Network {
                    let kf = f64::from(k);
                    network_phase(comm, total, |s, rpn| {
                        Ok(phase_ring(l, k, rpn).time(kf - 1.0, (kf - 1.0) / kf * s))
                    })?
                } else {
                    scatter_phase(comm, l, k, total)
                };
                total /= f64::from(k);
            }
            Ok(t)
        }
        Op::Broadcast | Op::Reduce => Ok(levels
            .iter()
            .zip(members)
            .map(|(l, &k)| {
                pipelined(
                    f64::from(k - 1) * l.hop_latency_s,
                    n / l.ring_bandwidth(k, comm.ranks_min_node, 1),
                )
            })
            .sum()),
        Op::AllToAll | Op::SendRecv => Err(Error::Unsupported {
            message: format!(
                "algorithm '{}' does not implement {}; use 'direct' or 'pxn'",
                algo.name(),
                op.name()
            ),
        }),
    }
}
