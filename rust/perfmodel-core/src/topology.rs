//! Topologies: a cluster as a stack of levels (GCD pair, package, node, scale-out), each with its fabric.
//!
//! A [`Cluster`] is one or more groups of identical nodes (a system from hwdb and a node count). The ranks of
//! a communicator fill devices innermost level first, node after node, group after group. [`Cluster::comm`]
//! turns a rank count into a [`Comm`]: the levels the communicator actually spans, how many members it
//! has at each, and the bandwidth and latency figures the algorithms need. A communicator that spans node
//! groups with different NIC transports uses the transport they share (TCP over Ethernet by default, the
//! Holmes rule, docs/models/collectives.md#heterogeneous-nics); one that stays inside a group uses that group's RDMA fabric.
use std::sync::Arc;

use crate::error::{invalid, Error, Result};
use crate::hw::fabric::CustomAllReduce;
use crate::hw::{self, Fabric, Nic, System};

/// How the members of one level are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A switch (NVSwitch): every member reaches every other at its full injection bandwidth.
    Switch,
    /// Direct links between every member pair (xGMI, Infinity Fabric): a member's links are spread over its
    /// peers, and a ring uses the links of one pair per hop.
    FullMesh,
    /// Scale-out network: NICs per node, rail-optimized or rails-only.
    Network,
}

/// The figures of one level the cost model uses (`Copy`, so the hot loop never allocates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelParams {
    pub kind: LinkKind,
    /// Members joined at this level (devices or groups of the level below; nodes for the network).
    pub size: u32,
    /// Bandwidth of one link (or one NIC) per direction, bytes/s, before efficiency.
    pub link_bandwidth: f64,
    /// Links per device into a switch or mesh; NICs per node for the network.
    pub links: u32,
    /// Fraction of `link_bandwidth` large transfers reach (calibrated).
    pub efficiency: f64,
    /// Fraction of device bandwidth an in-switch reduction reaches (NVLS, SHARP).
    pub inr_efficiency: f64,
    /// Latency of one algorithm step over this level, seconds.
    pub hop_latency_s: f64,
    /// Fixed cost of launching a collective on this level, seconds.
    pub launch_s: f64,
    /// In-network reduction (NVLS for a switch, SHARP for a network).
    pub in_network_reduction: bool,
    /// Rails-only network: NIC i of a node reaches only NIC i of other nodes.
    pub rails_only: bool,
    /// Oversubscription above the leaf (1 = non-blocking); paid by traffic that is not rail-aligned.
    pub oversubscription: f64,
    /// Devices per node (network level: the ranks that share the node's NICs).
    pub devices_per_node: u32,
    /// Devices in one member of this level (1 for the innermost; e.g. 2 GCDs per MI250X package on a
    /// Frontier node's package mesh): a mesh member has `links x devices_per_member` links to its peers.
    pub devices_per_member: u32,
    /// The low-latency protocol (NCCL/RCCL LL) as ratios of the Simple protocol's per-step latency and
    /// bandwidth; 0 where the level has none modelled (then only Simple).
    pub ll_latency_ratio: f64,
    pub ll_bandwidth_ratio: f64,
    /// The LL128 protocol (NCCL: Simple's bandwidth less its 8-byte flag per 128-byte line, at a per-step
    /// latency between LL's and Simple's), the same way; 0 where not modelled.
    pub ll128_latency_ratio: f64,
    pub ll128_bandwidth_ratio: f64,
    /// A framework's custom all-reduce over this level's fabric (hwdb `[custom_all_reduce]`), if modelled
    /// ([`crate::collective::Algorithm::CustomAllReduce`]); `None` for networks and other fabrics.
    pub custom_all_reduce: Option<CustomAllReduce>,
}

/// A level with its names, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub name: String,
    /// hwdb id of the fabric or NIC.
    pub spec: String,
    /// Transport: `nvlink`, `xgmi`, `infinity-fabric`, or the NIC transport (`infiniband`, `roce`, `tcp`...).
    pub transport: String,
    pub params: LevelParams,
}

/// One group of identical nodes.
#[derive(Debug, Clone)]
pub struct NodeGroup {
    pub system: Arc<System>,
    pub nodes: u32,
    /// In-node levels, innermost first, then the scale-out level.
    pub levels: Vec<Level>,
}

/// A cluster: groups of nodes, and the NIC a communicator spanning groups of different transports falls back to.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub groups: Vec<NodeGroup>,
    /// The network joining groups whose NIC transports differ (TCP over Ethernet by default); `None` when
    /// there is none, so a communicator spanning such groups is an error.
    pub fallback: Option<Level>,
}

/// Most levels a communicator can span (in-node levels plus the network).
pub const MAX_LEVELS: usize = 6;

/// The part of a cluster one communicator of `nranks` spans: active levels innermost first.
#[derive(Debug, Clone, Copy)]
pub struct Comm {
    pub nranks: u32,
    /// Active levels (members > 1), innermost first.
    pub levels: [LevelParams; MAX_LEVELS],
    /// Members used at each active level.
    pub members: [u32; MAX_LEVELS],
    pub len: usize,
    /// Ranks of this communicator per node (on each full node).
    pub ranks_per_node: u32,
    /// Ranks on the least-filled node it spans: `ranks_per_node`, or fewer when the last node is only partly
    /// filled (96 ranks of two 72-GPU racks: 72 and 24). The ring's network crossing and the hierarchical
    /// network phase are bound by that node ([`Comm::partial_node`]).
    pub ranks_min_node: u32,
    /// Largest launch cost over the active levels (a single-rank communicator still pays the innermost).
    pub launch_s: f64,
    /// Index into `Cluster::transport_names` of the network level's transport, if the comm crosses nodes.
    pub crosses_groups: bool,
}

fn fabric_transport(f: &Fabric) -> &'static str {
    let id = f.id.as_str();
    if id.starts_with("nvlink") {
        "nvlink"
    } else if id.contains("xgmi") {
        "xgmi"
    } else {
        "infinity-fabric"
    }
}

/// The level of one in-node fabric whose members hold `devices_per_member` devices each.
pub fn fabric_level(name: &str, size: u32, devices_per_member: u32, f: &Fabric) -> Level {
    Level {
        name: name.to_owned(),
        spec: f.id.clone(),
        transport: fabric_transport(f).to_owned(),
        params: LevelParams {
            kind: if f.topology == "switch" {
                LinkKind::Switch
            } else {
                LinkKind::FullMesh
            },
            size,
            link_bandwidth: f.link_bandwidth_bytes_per_s,
            links: f.links_per_device,
            efficiency: f.bandwidth_fraction,
            inr_efficiency: f.nvls_bandwidth_fraction,
            hop_latency_s: f.latency_s,
            launch_s: f.launch_s,
            in_network_reduction: f.in_network_reduction,
            rails_only: false,
            oversubscription: 1.0,
            devices_per_node: 1,
            devices_per_member: devices_per_member.max(1),
            ll_latency_ratio: f.ll_latency_ratio.unwrap_or(0.0),
            ll_bandwidth_ratio: f.ll_bandwidth_ratio.unwrap_or(0.0),
            ll128_latency_ratio: f.ll128_latency_ratio.unwrap_or(0.0),
            ll128_bandwidth_ratio: f.ll128_bandwidth_ratio.unwrap_or(0.0),
            custom_all_reduce: f.custom_all_reduce,
        },
    }
}

/// The scale-out level of `nodes` nodes of `system` with `nics_per_node` NICs of type `nic`.
pub fn network_level(
    system: &System,
    nic: &Nic,
    nics_per_node: u32,
    nodes: u32,
    transport: &str,
) -> Level {
    Level {
        name: "scale-out".to_owned(),
        spec: nic.id.clone(),
        transport: transport.to_owned(),
        params: LevelParams {
            kind: LinkKind::Network,
            size: nodes,
            link_bandwidth: nic.line_rate_bits_per_s / 8.0,
            links: nics_per_node,
            efficiency: nic.bandwidth_fraction,
            inr_efficiency: nic.bandwidth_fraction,
            hop_latency_s: nic.latency_s,
            launch_s: 0.0,
            in_network_reduction: nic.in_network_reduction && transport == nic.transport,
            rails_only: system.network == "rails-only",
            oversubscription: system.oversubscription,
            devices_per_node: system.devices_per_node,
            devices_per_member: system.devices_per_node,
            ll_latency_ratio: nic.ll_latency_ratio.unwrap_or(0.0),
            ll_bandwidth_ratio: nic.ll_bandwidth_ratio.unwrap_or(0.0),
            ll128_latency_ratio: nic.ll128_latency_ratio.unwrap_or(0.0),
            ll128_bandwidth_ratio: nic.ll128_bandwidth_ratio.unwrap_or(0.0),
            custom_all_reduce: None,
        },
    }
}

impl NodeGroup {
    /// Resolves a system's fabrics and NIC from the registry.
    pub fn from_system(system: Arc<System>, nodes: u32) -> Result<NodeGroup> {
        let reg = hw::registry()?;
        let mut fabrics = Vec::with_capacity(system.levels.len());
        for l in &system.levels {
            fabrics.push(reg.get_kind(&l.fabric, "fabric")?.fabric()?);
        }
        let nic = reg.get_kind(&system.nic, "nic")?.nic()?;
        NodeGroup::from_parts(system, &fabrics, &nic, nodes)
    }

    /// A group from a system and explicit specs of its level fabrics (innermost first) and NIC, so that a
    /// caller can substitute a what-if or calibrated fabric.
    pub fn from_parts(
        system: Arc<System>,
        fabrics: &[Arc<Fabric>],
        nic: &Nic,
        nodes: u32,
    ) -> Result<NodeGroup> {
        if nodes == 0 {
            return Err(invalid("nodes", "is 0; expected at least one node"));
        }
        if fabrics.len() != system.levels.len() {
            return Err(invalid(
                "fabrics",
                format!(
                    "system '{}' has {} levels but {} fabrics were given",
                    system.id,
                    system.levels.len(),
                    fabrics.len()
                ),
            ));
        }
        let mut levels = Vec::with_capacity(system.levels.len() + 1);
        let mut below = 1u32;
        for (l, f) in system.levels.iter().zip(fabrics) {
            levels.push(fabric_level(&l.name, l.size, below, f));
            below = below.saturating_mul(l.size);
        }
        levels.push(network_level(
            &system,
            nic,
            system.nics_per_node,
            nodes,
            &nic.transport,
        ));
        Ok(NodeGroup {
            system,
            nodes,
            levels,
        })
    }

    /// Devices in this group.
    pub fn devices(&self) -> u64 {
        u64::from(self.system.devices_per_node) * u64::from(self.nodes)
    }
}

impl Cluster {
    /// A cluster of identical nodes of an hwdb system.
    pub fn new(system: Arc<System>, nodes: u32) -> Result<Cluster> {
        Cluster::with_groups(
            vec![NodeGroup::from_system(system, nodes)?],
            Some(("eth-100g", 1)),
        )
    }

    /// A cluster of node groups; `fallback_nic` (with `fallback_nics_per_node`) carries communicators that span
    /// groups of different transports over TCP.
    pub fn with_groups(groups: Vec<NodeGroup>, fallback: Option<(&str, u32)>) -> Result<Cluster> {
        match fallback {
            Some((id, per_node)) => {
                let nic = hw::registry()?.get_kind(id, "nic")?.nic()?;
                Cluster::with_fallback(groups, Some((&*nic, per_node)))
            }
            None => Cluster::with_fallback(groups, None),
        }
    }

    /// Like [`Cluster::with_groups`] with an explicit fallback NIC spec.
    pub fn with_fallback(groups: Vec<NodeGroup>, fallback: Option<(&Nic, u32)>) -> Result<Cluster> {
        if groups.is_empty() {
            return Err(invalid(
                "groups",
                "is empty; expected at least one node group",
            ));
        }
        let nodes: u32 = groups.iter().map(|g| g.nodes).sum();
        let fallback = fallback.map(|(nic, per_node)| {
            network_level(&groups[0].system, nic, per_node.max(1), nodes, "tcp")
        });
        Ok(Cluster { groups, fallback })
    }

    /// All devices of the cluster.
    pub fn devices(&self) -> u64 {
        self.groups.iter().map(NodeGroup::devices).sum()
    }

    /// Checks a rank count against the cluster.
    pub fn check_nranks(&self, nranks: f64) -> Result<u32> {
        if !nranks.is_finite() || nranks.fract() != 0.0 {
            return Err(invalid(
                "nranks",
                format!("is {nranks}; expected a whole number >= 1"),
            ));
        }
        if nranks < 1.0 {
            return Err(invalid(
                "nranks",
                format!("is {nranks}; expected at least 1 rank"),
            ));
        }
        let total = self.devices();
        if nranks > total as f64 {
            return Err(invalid(
                "nranks",
                format!("is {nranks}, beyond the {total} devices of this cluster; build a larger cluster with more nodes"),
            ));
        }
        Ok(nranks as u32)
    }

    /// The groups a communicator of `nranks` touches (ranks fill groups in order), and the ranks in the last.
    fn groups_spanned(&self, nranks: u32) -> usize {
        let mut left = u64::from(nranks);
        for (i, g) in self.groups.iter().enumerate() {
            if left <= g.devices() {
                return i + 1;
            }
            left -= g.devices();
        }
        self.groups.len()
    }

    /// The communicator of the first `nranks` devices. Beyond one node the last node may be partly filled
    /// (96 GPUs of two 72-GPU NVL72 racks: 72 + 24): its ranks are counted as they are
    /// (`Comm::ranks_min_node`), so its NICs carry what its own ranks send (the ring's network crossing has as
    /// many rails as the least-filled node has ranks; a hierarchical network phase moves that node's larger
    /// shards) instead of being priced as a full node.
    pub fn comm(&self, nranks: u32) -> Result<Comm> {
        self.check_nranks(f64::from(nranks))?;
        let spanned = self.groups_spanned(nranks);
        let first = &self.groups[0];
        let dpn = first.system.devices_per_node;
        let last = if nranks > dpn && nranks % dpn != 0 {
            nranks % dpn
        } else {
            nranks.min(dpn)
        };
        let mut comm = Comm {
            nranks,
            levels: [first.levels[0].params; MAX_LEVELS],
            members: [1; MAX_LEVELS],
            len: 0,
            ranks_per_node: nranks.min(dpn),
            ranks_min_node: last,
            launch_s: first.levels[0].params.launch_s,
            crosses_groups: false,
        };
        let mut below = 1u32;
        let in_node = first.levels.len() - 1;
        for i in 0..in_node {
            let mut p = first.levels[i].params;
            // Spanning groups: each in-node level is as slow as its slowest group.
            for g in &self.groups[1..spanned] {
                if let Some(o) = g
                    .levels
                    .get(i)
                    .filter(|_| g.levels.len() == first.levels.len())
                {
                    let o = o.params;
                    if o.link_bandwidth * o.efficiency * f64::from(o.links)
                        < p.link_bandwidth * p.efficiency * f64::from(p.links)
                    {
                        p = o;
                    }
                    p.hop_latency_s = p.hop_latency_s.max(o.hop_latency_s);
                    p.launch_s = p.launch_s.max(o.launch_s);
                }
            }
            let members = nranks.div_ceil(below).min(p.size);
            below = below.saturating_mul(p.size);
            if members > 1 {
                comm.push(p, members);
            }
        }
        let nodes = nranks.div_ceil(dpn);
        if nodes > 1 {
            let mut net = if spanned > 1 && !self.same_transport(spanned) {
                comm.crosses_groups = true;
                self.shared_network(0, spanned)?.params
            } else {
                let mut p = first.levels[in_node].params;
                for g in &self.groups[1..spanned] {
                    let o = g.levels[g.levels.len() - 1].params;
                    if o.link_bandwidth * o.efficiency * f64::from(o.links)
                        < p.link_bandwidth * p.efficiency * f64::from(p.links)
                    {
                        p = o;
                    }
                }
                p
            };
            net.size = nodes;
            net.devices_per_node = dpn;
            comm.push(net, nodes);
        }
        Ok(comm)
    }

    /// The network joining groups `first..end` (whose NIC transports differ), or an error naming them.
    pub fn shared_network(&self, first: usize, end: usize) -> Result<&Level> {
        self.fallback.as_ref().ok_or_else(|| {
            let mut names: Vec<String> = self.groups[first..end]
                .iter()
                .filter_map(|g| g.levels.last())
                .map(|l| format!("{} ({})", l.transport, l.spec))
                .collect();
            names.dedup();
            Error::Unsupported {
                message: format!(
                    "a communicator spans node groups with NIC transports {} that share no transport, and \
                     the cluster has no network joining them; give the cluster a fallback NIC (e.g. \
                     fallback_nic='eth-100g') or keep every group inside one NIC type",
                    names.join(" and ")
                ),
            }
        })
    }

    fn same_transport(&self, spanned: usize) -> bool {
        let t = &self.groups[0]
            .levels
            .last()
            .map(|l| l.transport.clone())
            .unwrap_or_default();
        self.groups[..spanned]
            .iter()
            .all(|g| g.levels.last().is_some_and(|l| &l.transport == t))
    }

    /// The transport each active level of the communicator of `nranks` uses, innermost first, as
    /// `level:transport(spec)` joined by `+` (e.g. `node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)`).
    pub fn transports(&self, nranks: u32) -> Result<String> {
        let comm = self.comm(nranks)?;
        let spanned = self.groups_spanned(nranks);
        let first = &self.groups[0];
        let mut parts = Vec::new();
        let mut below = 1u32;
        for l in &first.levels[..first.levels.len() - 1] {
            if nranks.div_ceil(below).min(l.params.size) > 1 {
                parts.push(format!("{}:{}({})", l.name, l.transport, l.spec));
            }
            below = below.saturating_mul(l.params.size);
        }
        if nranks.div_ceil(first.system.devices_per_node) > 1 {
            if comm.crosses_groups {
                parts.push(format!(
                    "scale-out:tcp({})",
                    self.shared_network(0, spanned)?.spec
                ));
            } else {
                let mut specs: Vec<&str> = self.groups[..spanned]
                    .iter()
                    .map(|g| g.levels[g.levels.len() - 1].spec.as_str())
                    .collect();
                specs.dedup();
                let l = &first.levels[first.levels.len() - 1];
                parts.push(format!("scale-out:{}({})", l.transport, specs.join(",")));
            }
        }
        if parts.is_empty() {
            parts.push("local".to_owned());
        }
        Ok(parts.join("+"))
    }
}

impl Comm {
    /// Whether the last node it spans holds fewer ranks than the others.
    pub fn partial_node(&self) -> bool {
        self.ranks_min_node < self.ranks_per_node
    }

    fn push(&mut self, p: LevelParams, members: u32) {
        if self.len < MAX_LEVELS {
            self.levels[self.len] = p;
            self.members[self.len] = members;
            self.launch_s = self.launch_s.max(p.launch_s);
            self.len += 1;
        }
    }

    /// The active levels with their member counts.
    pub fn active(&self) -> impl Iterator<Item = (&LevelParams, u32)> {
        self.levels[..self.len]
            .iter()
            .zip(self.members[..self.len].iter().copied())
    }

    /// The active levels with their member counts and the communicator's ranks in one member of each
    /// (the product of the members of the active levels inside it).
    pub fn active_nested(&self) -> impl Iterator<Item = (&LevelParams, u32, u32)> {
        let mut below = 1u32;
        self.active().map(move |(l, k)| {
            let b = below;
            below = below.saturating_mul(k);
            (l, k, b)
        })
    }
}

/// Edge-disjoint directed Hamiltonian rings of a complete digraph on `k` vertices: `k - 1`, except for
/// `k = 4` and `k = 6`, which have none of size `k - 1` (Tillson, J. Combin. Theory B 29, 1980); we use `k - 2`.
pub fn disjoint_rings(k: u32) -> u32 {
    match k {
        0 | 1 => 1,
        4 | 6 => k - 2,
        _ => k - 1,
    }
}

impl LevelParams {
    /// Achievable bandwidth of one link (or NIC) per direction, bytes/s.
    pub fn link(&self) -> f64 {
        self.link_bandwidth * self.efficiency
    }

    /// Links of one member of a full mesh to its peers: every device of the member brings its links (the
    /// two GCDs of an MI250X package bring 2 x 3 links to the other packages of a Frontier node).
    /// `ranks_per_member` of the member's devices are in the communicator (the others' links are idle).
    pub fn member_links(&self, ranks_per_member: u32) -> u32 {
        self.links
            .saturating_mul(self.devices_per_member.min(ranks_per_member).max(1))
    }

    /// Links joining one member pair of a full mesh: the member's links spread over its `size - 1`
    /// peers (at least one). The two GCDs of an MI250X (size 2, 4 links) are joined by 4; an MI300X
    /// (size 8, 7 links) by 1; two MI250X packages of a Frontier node (size 4, 6 links per package) by 2.
    pub fn links_per_pair(&self) -> u32 {
        (self.member_links(self.devices_per_member) / self.size.saturating_sub(1).max(1)).max(1)
    }

    /// Rings a full mesh of `k` members carries at once: the edge-disjoint Hamiltonian rings of the complete
    /// digraph, each once per parallel link of a member pair (NCCL/RCCL open a channel per link), at most
    /// one per link of the member's devices in the communicator and one per link of a device (a channel
    /// runs through every rank). A Frontier node's ring of 8 GCDs over 4 packages gets 3 links per rank.
    pub fn mesh_rings(&self, k: u32, ranks_per_member: u32) -> u32 {
        disjoint_rings(k)
            .saturating_mul(self.links_per_pair())
            .min(self.member_links(ranks_per_member))
            .min(self.links)
    }

    /// Links a rank of a full mesh drives when it sends to all `k - 1` peers at once: its own share of the
    /// parallel links to each peer member (a member pair's links spread over the member's devices, at
    /// least one), at most the device's links. A single GCD of a Frontier package reaches a GCD of another
    /// package over one link.
    pub fn mesh_direct_links(&self, k: u32) -> u32 {
        let own = (self.links_per_pair() / self.devices_per_member.max(1)).max(1);
        k.saturating_sub(1)
            .max(1)
            .saturating_mul(own)
            .min(self.links)
    }

    /// Whether the low-latency protocol is modelled on this level.
    pub fn has_ll(&self) -> bool {
        self.ll_latency_ratio > 0.0 && self.ll_bandwidth_ratio > 0.0
    }

    /// Whether the LL128 protocol is modelled on this level.
    pub fn has_ll128(&self) -> bool {
        self.ll128_latency_ratio > 0.0 && self.ll128_bandwidth_ratio > 0.0
    }

    /// Bandwidth a ring (or tree) edge of one rank gets at this level with `k` members, bytes/s.
    /// Switch: all links; mesh: as many edge-disjoint rings as the mesh holds, times the parallel links
    /// of a pair ([`LevelParams::mesh_rings`]); network: the node's NICs, one ring channel per rank on its
    /// own rail.
    /// `ranks_per_member`: ranks of the communicator in each member of this level (a mesh member's devices
    /// outside the communicator lend it no links).
    pub fn ring_bandwidth(&self, k: u32, ranks_per_node: u32, ranks_per_member: u32) -> f64 {
        match self.kind {
            LinkKind::Switch => self.link() * f64::from(self.links),
            LinkKind::FullMesh => self.link() * f64::from(self.mesh_rings(k, ranks_per_member)),
            LinkKind::Network => self.link() * f64::from(self.links.min(ranks_per_node.max(1))),
        }
    }

    /// Bandwidth of one rank sending to all `k - 1` peers at once: a mesh uses every link it has to them
    /// (all parallel links of each pair, [`LevelParams::mesh_direct_links`]).
    /// Network: the rank's share of the node's NICs; non-rail-aligned traffic pays the oversubscription.
    pub fn direct_bandwidth(&self, k: u32, ranks_per_node: u32, rail_aligned: bool) -> f64 {
        match self.kind {
            LinkKind::Switch => self.link() * f64::from(self.links),
            LinkKind::FullMesh => self.link() * f64::from(self.mesh_direct_links(k)),
            LinkKind::Network => {
                let rpn = ranks_per_node.max(1);
                let share = self.link() * f64::from(self.links.min(rpn)) / f64::from(rpn);
                if rail_aligned {
                    share
                } else {
                    share / self.oversubscription
                }
            }
        }
    }

    /// Bandwidth of one rank on its own rail (hierarchical algorithms, after the in-node phase).
    pub fn rail_bandwidth(&self, ranks_per_node: u32) -> f64 {
        self.direct_bandwidth(2, ranks_per_node, true)
    }

    /// Bandwidth of an in-network-reduction all-reduce per rank (NVLS on a switch, SHARP on a network).
    pub fn inr_bandwidth(&self, ranks_per_node: u32) -> f64 {
        match self.kind {
            LinkKind::Network => {
                self.rail_bandwidth(ranks_per_node) / self.efficiency * self.inr_efficiency
            }
            _ => self.link_bandwidth * f64::from(self.links) * self.inr_efficiency,
        }
    }
}

/// An error for a system id that does not resolve.
pub fn system_of(id: &str) -> Result<Arc<System>> {
    hw::registry()?
        .get_kind(id, "system")?
        .system()
        .map_err(|e: Error| e)
}
