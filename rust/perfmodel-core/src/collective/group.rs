//! Communicators of a parallel plan: `size` ranks spaced `stride` apart in the plan's rank order (Megatron-LM's
//! default: TP innermost, then CP, DP/EP, PP outermost; or TP, CP, PP, DP), laid over the levels of one kind of
//! node, while every
//! rank of a node communicates at the same time (a plan's sibling groups run their collectives together and
//! share the node's NICs).
//!
//! [`Machine`] is the `Copy` description of `nodes` nodes (in-node levels innermost first, then the network)
//! that the training and serving models hold; [`Machine::comm`] turns a group layout into the
//! [`Comm`] the collective algorithms run on, so every collective of a plan is priced by the same engine
//! (and tuner) that `pm.collectives.predict` and the nccl-tests validation use.
use super::{algorithms, Algorithm, Estimate, Op};
use crate::error::{invalid, Result};
use crate::topology::{Comm, Level, LevelParams, LinkKind, NodeGroup, MAX_LEVELS};

/// `nodes` nodes of one kind: their in-node levels, innermost first, and the network joining them last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Machine {
    /// In-node levels then the network level (`size` = nodes).
    pub levels: [LevelParams; MAX_LEVELS],
    /// Number of levels, the network included.
    pub len: usize,
    pub devices_per_node: u32,
    pub nodes: u32,
}

/// Where a group of `size` ranks spaced `stride` apart sits: members per level (innermost first; the last
/// entry is the number of nodes it spans) and ranks per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub members: [u32; MAX_LEVELS],
    pub ranks_per_node: u32,
}

impl Machine {
    /// The machine of `nodes` nodes with the given in-node levels (innermost first) and `network`.
    /// `bandwidth_scale` multiplies every level's link bandwidth (a per-system calibration of achieved
    /// framework bandwidth; 1 for the validated engine as is).
    pub fn new(
        in_node: &[Level],
        network: &LevelParams,
        devices_per_node: u32,
        nodes: u32,
        bandwidth_scale: f64,
    ) -> Result<Machine> {
        if nodes == 0 {
            return Err(invalid("nodes", "is 0; expected at least one node"));
        }
        if in_node.len() + 1 > MAX_LEVELS {
            return Err(invalid(
                "levels",
                format!(
                    "a node has {} levels; at most {} are modelled",
                    in_node.len(),
                    MAX_LEVELS - 1
                ),
            ));
        }
        let mut levels = [*network; MAX_LEVELS];
        for (slot, l) in levels.iter_mut().zip(in_node) {
            *slot = l.params;
        }
        let len = in_node.len() + 1;
        let mut net = *network;
        net.size = nodes;
        net.devices_per_node = devices_per_node;
        levels[len - 1] = net;
        for l in &mut levels[..len] {
            l.link_bandwidth *= bandwidth_scale;
            if let Some(c) = &mut l.custom_all_reduce {
                c.bytes_per_s *= bandwidth_scale;
            }
        }
        Ok(Machine {
            levels,
            len,
            devices_per_node,
            nodes,
        })
    }

    /// The machine of a node group (its own NIC as the network).
    pub fn of_group(g: &NodeGroup, bandwidth_scale: f64) -> Result<Machine> {
        let (in_node, net) = g.levels.split_at(g.levels.len() - 1);
        Machine::new(
            in_node,
            &net[0].params,
            g.system.devices_per_node,
            g.nodes,
            bandwidth_scale,
        )
    }

    /// The same machine with the network level's link bandwidth multiplied by `scale` (the step model's
    /// `network_bandwidth_scale`; in-node levels unchanged).
    #[must_use]
    pub fn with_network_scale(mut self, scale: f64) -> Machine {
        let net = self.network_level();
        self.levels[net].link_bandwidth *= scale;
        self
    }

    pub fn devices(&self) -> u64 {
        u64::from(self.devices_per_node) * u64::from(self.nodes)
    }

    /// Index of the network level.
    pub fn network_level(&self) -> usize {
        self.len - 1
    }

    /// Where a group of `size` ranks `stride` apart sits, or why it cannot be placed: in a block of level
    /// k (`B_k` devices) the group holds `min(size, ceil(B_k / stride))` members, which needs the block and
    /// the stride to nest (one divides the other) and the group to fill whole blocks once it outgrows one.
    pub fn layout(&self, size: u32, stride: u64) -> Result<Layout> {
        if size == 0 || stride == 0 {
            return Err(invalid(
                "group",
                format!("size {size}, stride {stride}: expected both >= 1"),
            ));
        }
        let span = u64::from(size - 1) * stride + 1;
        if span > self.devices() {
            return Err(invalid(
                "group",
                format!(
                    "{size} ranks {stride} apart span {span} devices, beyond the {} devices of {} nodes",
                    self.devices(),
                    self.nodes
                ),
            ));
        }
        let mut members = [1u32; MAX_LEVELS];
        let mut block = 1u64;
        let mut below = 1u64;
        for (k, m) in members.iter_mut().enumerate().take(self.len - 1) {
            block *= u64::from(self.levels[k].size);
            let cum = u64::from(size).min(block.div_ceil(stride));
            if size > 1 && cum > 1 && block % stride != 0 && stride % block != 0 {
                return Err(invalid(
                    "group",
                    format!(
                        "{size} ranks {stride} apart do not nest in level {k} ({block} devices per block): \
                         the stride and the block size must divide one another"
                    ),
                ));
            }
            if u64::from(size) % cum != 0 || cum % below != 0 {
                return Err(invalid(
                    "group",
                    format!(
                        "{size} ranks {stride} apart hold {cum} members per block of level {k} ({block} \
                         devices), which does not divide the group evenly"
                    ),
                ));
            }
            *m = (cum / below) as u32;
            below = cum;
        }
        members[self.len - 1] = (u64::from(size) / below) as u32;
        Ok(Layout {
            members,
            ranks_per_node: below as u32,
        })
    }

    /// The communicator of a placed group; `sharers` ranks of each node use the node's NICs at the same
    /// time (`devices_per_node` in a plan, where every rank communicates; the group's own ranks per node for
    /// one communicator alone, as nccl-tests runs it). The network level keeps `links x rpn / sharers` of the
    /// node's NICs for this group (never more than one per rank).
    pub fn comm_of(&self, layout: &Layout, sharers: u32) -> Comm {
        let mut comm = Comm {
            nranks: 1,
            levels: self.levels,
            members: [1; MAX_LEVELS],
            len: 0,
            ranks_per_node: layout.ranks_per_node,
            ranks_min_node: layout.ranks_per_node,
            launch_s: self.levels[0].launch_s,
            crosses_groups: false,
        };
        let mut nranks = 1u32;
        for k in 0..self.len {
            let g = layout.members[k];
            if g <= 1 {
                continue;
            }
            nranks *= g;
            let mut p = self.levels[k];
            if p.kind == LinkKind::Network {
                p.size = g;
                let rpn = f64::from(layout.ranks_per_node.max(1));
                let links = f64::from(p.links);
                let sharers = f64::from(sharers.max(layout.ranks_per_node).max(1));
                let usable = (links * rpn / sharers).min(rpn);
                p.link_bandwidth *= usable / links.min(rpn);
            }
            comm.levels[comm.len] = p;
            comm.members[comm.len] = g;
            comm.launch_s = comm.launch_s.max(p.launch_s);
            comm.len += 1;
        }
        comm.nranks = nranks;
        comm
    }

    /// The communicator of `size` ranks `stride` apart while `sharers` ranks per node communicate.
    pub fn comm(&self, size: u32, stride: u64, sharers: u32) -> Result<Comm> {
        Ok(self.comm_of(&self.layout(size, stride)?, sharers))
    }

    /// One collective of `bytes` (as nccl-tests counts them) over `size` ranks `stride` apart while every
    /// rank of a node communicates, with the algorithm the tuner picks. A group that cannot be placed
    /// costs infinity here; callers check placement first ([`Machine::layout`]).
    #[inline]
    pub fn collective(&self, op: Op, size: u32, stride: u64, bytes: f64) -> Estimate {
        self.collective_with(op, size, stride, bytes, Algorithm::Auto)
            .unwrap_or(Estimate {
                time_s: f64::INFINITY,
                algorithm: Algorithm::Auto,
                op,
                nranks: size,
            })
    }

    /// [`Machine::collective`] with a given algorithm (`Auto`: the tuner's pick), or why it cannot run: a
    /// group that cannot be placed, or an algorithm that does not run this op, group or size (a framework
    /// falls back to NCCL there, e.g. from [`Algorithm::CustomAllReduce`] above its size limit).
    pub fn collective_with(
        &self,
        op: Op,
        size: u32,
        stride: u64,
        bytes: f64,
        algorithm: Algorithm,
    ) -> Result<Estimate> {
        let comm = self.comm(size, stride, self.devices_per_node)?;
        let (time_s, algorithm) = algorithms::evaluate(&comm, op, bytes, algorithm)?;
        Ok(Estimate {
            time_s,
            algorithm,
            op,
            nranks: comm.nranks,
        })
    }

    /// The outermost level a group of `size` ranks `stride` apart crosses (`None` inside one device).
    pub fn outer_level(&self, size: u32, stride: u64) -> Option<usize> {
        let l = self.layout(size, stride).ok()?;
        (0..self.len).rev().find(|&k| l.members[k] > 1)
    }

    /// Bytes per rank of one `op` of `bytes` over the group that cross the node boundary: for reduce-scatter
    /// and all-gather the network phase of a level-by-level schedule (the shard left after the in-node
    /// levels), twice that for all-reduce, and the share of an all-to-all's send buffer bound for other nodes.
    pub fn cross_node_bytes(&self, op: Op, size: u32, stride: u64, bytes: f64) -> f64 {
        let Ok(l) = self.layout(size, stride) else {
            return 0.0;
        };
        let n = f64::from(l.members[self.len - 1]);
        let rpn = f64::from(l.ranks_per_node.max(1));
        let shard = bytes / rpn * (n - 1.0) / n;
        match op {
            Op::AllGather | Op::ReduceScatter => shard,
            Op::AllReduce => 2.0 * shard,
            Op::AllToAll => bytes * (n - 1.0) / n,
            Op::SendRecv | Op::Broadcast | Op::Reduce => {
                if n > 1.0 {
                    bytes
                } else {
                    0.0
                }
            }
        }
    }
}
