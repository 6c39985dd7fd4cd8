//! Communication costs of the parallel groups of a plan, behind one small interface.
//!
//! Implemented with the alpha-beta formulas of Thakur, Rabenseifner & Gropp (IJHPCA 19(1), 2005) composed
//! hierarchically over the topology levels a group actually spans (domain.md §6.6, §6.8, §3.5): a collective
//! runs level by level, innermost (fastest) first for reduce-scatter, outermost first for all-gather, with
//! the data shrinking by each level's group size.
//! NOTE (collectives engine): `crate::collective` is public now, but `topology::Cluster::comm(nranks)` describes
//! the first `nranks` contiguous devices only. A plan's groups are strided (a DP group with tp = 8 has one rank
//! per node) and run concurrently with their sibling groups (8 DP groups share a node's NICs), which that API
//! cannot express yet. Routing through it needs a `Comm` built from (size, stride, concurrent groups per
//! node); until the collectives owner adds one, these functions use the hwdb fabric/NIC figures directly with
//! the same alpha-beta formulas (domain.md §6.6), and this file is the single place to switch.
use crate::error::Result;
use crate::hw::System;

/// Most levels a topology has (in-node levels + the scale-out network).
pub const MAX_LEVELS: usize = 4;

/// One level of the machine: how many children it joins, per-device bandwidth (bytes/s, per direction,
/// after efficiency) and per-step latency (s).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkLevel {
    pub size: u32,
    pub bandwidth: f64,
    pub latency: f64,
    /// Product of the sizes of this level and all inner levels (devices in one block of this level).
    pub block: u64,
}

/// The levels of a cluster, innermost first; the last one is the scale-out network over all nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Topology {
    pub levels: [LinkLevel; MAX_LEVELS],
    pub n_levels: usize,
    pub devices_per_node: u32,
    pub nodes: u32,
}

impl Topology {
    /// Resolves a hwdb system's fabrics and NIC into levels; `nodes` nodes of it.
    pub fn from_system(system: &System, nodes: u32, comm_scale: f64) -> Result<Topology> {
        let g =
            crate::topology::NodeGroup::from_system(std::sync::Arc::new(system.clone()), nodes)?;
        let (in_node, net) = g.levels.split_at(g.levels.len() - 1);
        Ok(Topology::from_levels(
            in_node,
            &net[0].params,
            system.devices_per_node,
            nodes,
            comm_scale,
        ))
    }

    /// The same levels from a [`crate::topology::NodeGroup`]'s in-node levels and a network level (the
    /// group's own NIC, or the network joining groups), `nodes` nodes.
    pub fn from_levels(
        in_node: &[crate::topology::Level],
        network: &crate::topology::LevelParams,
        devices_per_node: u32,
        nodes: u32,
        comm_scale: f64,
    ) -> Topology {
        let mut levels = [LinkLevel::default(); MAX_LEVELS];
        let mut n = 0;
        let mut block = 1u64;
        for l in in_node.iter().take(MAX_LEVELS - 1) {
            let q = &l.params;
            block *= u64::from(q.size);
            levels[n] = LinkLevel {
                size: q.size,
                bandwidth: q.link_bandwidth * f64::from(q.links) * q.efficiency * comm_scale,
                latency: q.hop_latency_s,
                block,
            };
            n += 1;
        }
        let per_device = network.link_bandwidth * network.efficiency * f64::from(network.links)
            / f64::from(devices_per_node)
            / network.oversubscription.max(1.0);
        levels[n] = LinkLevel {
            size: nodes,
            bandwidth: per_device * comm_scale,
            latency: network.hop_latency_s,
            block: block * u64::from(nodes),
        };
        Topology {
            levels,
            n_levels: n + 1,
            devices_per_node,
            nodes,
        }
    }

    pub fn total_devices(&self) -> u64 {
        u64::from(self.devices_per_node) * u64::from(self.nodes)
    }

    /// Index of the scale-out (inter-node) level.
    pub fn network_level(&self) -> usize {
        self.n_levels - 1
    }
}

/// A communicator: `size` ranks spaced `stride` apart in the rank order (placement), so that it spans
/// `factors[k]` members per block of level k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub size: u32,
    pub factors: [f64; MAX_LEVELS],
}

impl Group {
    /// Members of a group of `size` ranks with `stride` per level: in a block of B devices it holds
    /// min(size, ceil(B / stride)) members; the per-level factor is the ratio to the inner level.
    pub fn new(topo: &Topology, size: u32, stride: u64) -> Group {
        let mut factors = [1.0; MAX_LEVELS];
        let mut inner = 1u64;
        for (k, f) in factors.iter_mut().enumerate().take(topo.n_levels) {
            let b = topo.levels[k].block;
            let members = u64::from(size).min(b.div_ceil(stride)).max(1);
            *f = (members / inner.max(1)) as f64;
            inner = members;
        }
        Group { size, factors }
    }

    /// Fraction of the group's members outside one node (0 when it stays inside a node).
    pub fn crosses_nodes(&self, topo: &Topology) -> bool {
        self.factors[topo.network_level()] > 1.0
    }
}

/// Reduce-scatter (or all-gather) of `bytes` (the full per-rank buffer) over the group, level by level:
/// `sum_k (g_k - 1) alpha_k + ((g_k - 1)/g_k) S_k / B_k`, `S_{k+1} = S_k / g_k` (domain.md §3.5).
#[inline]
pub fn reduce_scatter(topo: &Topology, g: &Group, bytes: f64) -> f64 {
    let mut s = bytes;
    let mut t = 0.0;
    for k in 0..topo.n_levels {
        let gk = g.factors[k];
        if gk > 1.0 {
            let l = &topo.levels[k];
            t += (gk - 1.0) * l.latency + (gk - 1.0) / gk * s / l.bandwidth;
            s /= gk;
        }
    }
    t
}

/// All-gather producing `bytes` per rank: the mirror image of [`reduce_scatter`], same cost.
#[inline]
pub fn all_gather(topo: &Topology, g: &Group, bytes: f64) -> f64 {
    reduce_scatter(topo, g, bytes)
}

/// All-reduce = reduce-scatter + all-gather (ring/hierarchical; Patarasuk & Yuan 2009, domain.md §6.8).
#[inline]
pub fn all_reduce(topo: &Topology, g: &Group, bytes: f64) -> f64 {
    2.0 * reduce_scatter(topo, g, bytes)
}

/// Pairwise all-to-all of `bytes` per rank: at level k the fraction of data leaving a block of that level,
/// `1 - 1/prod_{j<=k} g_j`, crosses its links; `(g_k - 1) alpha_k` steps.
#[inline]
pub fn all_to_all(topo: &Topology, g: &Group, bytes: f64) -> f64 {
    let mut inside = 1.0;
    let mut t = 0.0;
    for k in 0..topo.n_levels {
        let gk = g.factors[k];
        if gk > 1.0 {
            inside *= gk;
            let l = &topo.levels[k];
            t += (gk - 1.0) * l.latency + (1.0 - 1.0 / inside) * bytes / l.bandwidth;
        }
    }
    t
}

/// Point-to-point send of `bytes` between ranks `stride` apart: over the innermost level holding both.
#[inline]
pub fn send_recv(topo: &Topology, stride: u64, bytes: f64) -> f64 {
    for k in 0..topo.n_levels {
        let l = &topo.levels[k];
        if stride < l.block {
            return l.latency + bytes / l.bandwidth;
        }
    }
    let l = &topo.levels[topo.network_level()];
    l.latency + bytes / l.bandwidth
}

/// Bytes per rank of a [`reduce_scatter`]/[`all_gather`] of `bytes` that cross the node boundary.
pub fn cross_node_bytes_rs(topo: &Topology, g: &Group, bytes: f64) -> f64 {
    let mut s = bytes;
    for k in 0..topo.network_level() {
        s /= g.factors[k];
    }
    let gn = g.factors[topo.network_level()];
    (gn - 1.0) / gn * s
}
