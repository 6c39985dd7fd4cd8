//! Training across node groups with different NICs: rank placement, per-communicator transport selection and
//! the asymmetric pipeline partition (Holmes, Yang et al., ICPP'24, arXiv:2312.03549; docs/models/training.md#heterogeneous-nics).
//!
//! Ranks follow Megatron-LM's order, pipeline outermost then data, context and tensor parallel innermost
//! (docs/models/training.md#heterogeneous-nics), over the nodes in placement order. So each pipeline stage is a contiguous block of
//! `tp * cp * dp` ranks; its TP/CP/DP groups cross only that stage's nodes, and only pipeline sends cross
//! stage boundaries. Transport rule (Holmes `new_process_group`, docs/models/collectives.md#heterogeneous-nics): a communicator whose nodes
//! all use one NIC transport uses that RDMA fabric; one spanning transports uses the network joining the
//! groups (TCP over Ethernet), or is an error when there is none. The naive baseline runs the whole job
//! with one NCCL network setting, so on a mixed cluster every inter-node communicator uses that network.
use std::fmt::Write as _;

use rayon::prelude::*;

use super::model::Model;
use super::plan::{Invalid, Plan};
use super::search::Space;
use super::step::{
    check_supported, combine, kernels, p2p_time, plan_peak, stage_cost, stage_memory, Calibration,
    Cluster, Estimate, Kernels, Memory, Pipeline, StageCost, StageRole,
};
use crate::error::{invalid, Error, Result};
use crate::topology::{self, Level, LevelParams};

/// How ranks are laid over the nodes of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Nodes in launch (listed) order; one network setting for the whole job (Megatron-LM as launched).
    Naive,
    /// Nodes grouped by NIC transport (in order of first appearance), pipeline outermost, each communicator
    /// on its own transport (Holmes's cross-cluster pipeline with automatic NIC selection).
    NicAware,
    /// Nodes in the given order (indices into the listed nodes), each communicator on its own transport.
    Nodes(Vec<u32>),
}

impl Placement {
    pub const NAMES: [&'static str; 2] = ["naive", "nic-aware"];

    /// Parses `naive` or `nic-aware` (user orders come as [`Placement::Nodes`]).
    pub fn parse(name: &str) -> Result<Placement> {
        match name {
            "naive" => Ok(Placement::Naive),
            "nic-aware" | "nic_aware" => Ok(Placement::NicAware),
            _ => {
                let hint = crate::error::closest(name, Placement::NAMES.iter().copied())
                    .first()
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                Err(invalid(
                    "placement",
                    format!(
                        "is '{name}'; expected one of {:?} or a list of node indices{hint}",
                        Placement::NAMES
                    ),
                ))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Placement::Naive => "naive",
            Placement::NicAware => "nic-aware",
            Placement::Nodes(_) => "user",
        }
    }
}

/// One pipeline stage as placed: which node group(s) it sits on, the network its DP groups cross, its
/// layers and costs.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Index of the node group holding the stage's first rank.
    pub group: usize,
    /// Nodes the stage spans (indices into the listed nodes, in rank order).
    pub nodes: Vec<u32>,
    /// Transport of the stage's inter-node communicators (`nvlink` when it stays inside a node), with the
    /// NIC id, e.g. `infiniband(cx6-hdr200)`.
    pub transport: String,
    pub layers: u32,
    pub cost: StageCost,
    pub memory: Memory,
    pub capacity_bytes: f64,
    /// One pipeline send to the next stage (0 for the last), and its transport.
    pub p2p_s: f64,
    pub p2p_transport: String,
}

/// A plan evaluated on a heterogeneous cluster.
#[derive(Debug, Clone)]
pub struct HeteroEstimate {
    /// Step, throughput and breakdown; `memory` is the stage that comes closest to its capacity.
    pub estimate: Estimate,
    pub stages: Vec<Stage>,
    pub placement: &'static str,
    /// How the layers per stage were chosen and why.
    pub reason: String,
}

/// The per-stage context a partition is evaluated against (cluster and kernels fixed, layers varying).
struct StageCtx {
    cluster: Cluster,
    kernels: Kernels,
    role: StageRole,
    inflight: f64,
}

/// A cluster of node groups with a calibration per group, as the training model sees it.
pub struct HeteroCluster<'a> {
    pub net: &'a topology::Cluster,
    pub calib: Vec<Calibration>,
}

/// Where one listed node sits: its group.
fn node_groups(net: &topology::Cluster) -> Vec<usize> {
    let mut out = Vec::new();
    for (g, grp) in net.groups.iter().enumerate() {
        out.extend(std::iter::repeat_n(g, grp.nodes as usize));
    }
    out
}

fn network(g: &topology::NodeGroup) -> &Level {
    &g.levels[g.levels.len() - 1]
}

fn per_device_bw(p: &LevelParams, devices_per_node: u32) -> f64 {
    p.link_bandwidth * p.efficiency * f64::from(p.links) / f64::from(devices_per_node)
}

impl HeteroCluster<'_> {
    fn transports(&self) -> usize {
        let mut t: Vec<&str> = self
            .net
            .groups
            .iter()
            .map(|g| network(g).transport.as_str())
            .collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    }

    /// Node order (listed-node indices in rank order) of a placement.
    fn order(&self, placement: &Placement) -> Result<Vec<u32>> {
        let groups = node_groups(self.net);
        let n = groups.len() as u32;
        match placement {
            Placement::Naive => Ok((0..n).collect()),
            Placement::NicAware => {
                let first_of = |t: &str| {
                    self.net
                        .groups
                        .iter()
                        .position(|g| network(g).transport == t)
                        .unwrap_or(0)
                };
                let mut order: Vec<u32> = (0..n).collect();
                order.sort_by_key(|&i| {
                    let g = groups[i as usize];
                    (first_of(&network(&self.net.groups[g]).transport), g)
                });
                Ok(order)
            }
            Placement::Nodes(order) => {
                let mut seen = vec![false; n as usize];
                for &i in order {
                    if i >= n || std::mem::replace(&mut seen[i as usize], true) {
                        return Err(invalid(
                            "node_order",
                            format!(
                                "{order:?} is not a permutation of the cluster's nodes 0..{}; each node index must appear once",
                                n - 1
                            ),
                        ));
                    }
                }
                if order.len() != n as usize {
                    return Err(invalid(
                        "node_order",
                        format!(
                            "lists {} nodes; the cluster has {n} (each index 0..{} once)",
                            order.len(),
                            n - 1
                        ),
                    ));
                }
                Ok(order.clone())
            }
        }
    }

    /// The network a communicator over the given nodes crosses, with its name: the groups' own NIC when
    /// they share a transport (the slowest of them), else the network joining groups.
    fn network_over(
        &self,
        nodes: &[u32],
        groups: &[usize],
        job_wide: bool,
    ) -> Result<(LevelParams, String)> {
        let mut gs: Vec<usize> = nodes.iter().map(|&i| groups[i as usize]).collect();
        gs.sort_unstable();
        gs.dedup();
        let t0 = &network(&self.net.groups[gs[0]]).transport;
        let same = gs
            .iter()
            .all(|&g| &network(&self.net.groups[g]).transport == t0);
        if same && !(job_wide && self.transports() > 1) {
            let dpn = self.net.groups[gs[0]].system.devices_per_node;
            let mut best = network(&self.net.groups[gs[0]]);
            for &g in &gs[1..] {
                let o = network(&self.net.groups[g]);
                if per_device_bw(&o.params, dpn) < per_device_bw(&best.params, dpn) {
                    best = o;
                }
            }
            return Ok((best.params, format!("{}({})", best.transport, best.spec)));
        }
        let (lo, hi) = (gs[0], gs[gs.len() - 1] + 1);
        let f = self.net.shared_network(lo, hi)?;
        Ok((f.params, format!("{}({})", f.transport, f.spec)))
    }

    /// Builds the stage contexts and the sends between stages for a placement.
    #[allow(clippy::type_complexity)]
    fn place(
        &self,
        m: &Model,
        p: &Plan,
        placement: &Placement,
    ) -> Result<(Vec<StageCtx>, Vec<Stage>, Vec<f64>)> {
        if p.rank_order != super::plan::RankOrder::TpCpDpPp {
            return Err(invalid(
                "rank_order",
                format!(
                    "is '{}'; a placed (stage-by-stage) estimate lays the pipeline stages outermost, in the \
                     'tp-cp-dp-pp' order only",
                    p.rank_order.name()
                ),
            ));
        }
        if self.calib.len() != self.net.groups.len() {
            return Err(invalid(
                "calib",
                format!(
                    "has {} entries for {} node groups",
                    self.calib.len(),
                    self.net.groups.len()
                ),
            ));
        }
        let groups = node_groups(self.net);
        let order = self.order(placement)?;
        let job_wide = *placement == Placement::Naive;
        // Ranks -> node positions: each node contributes its devices in order.
        let mut node_of_rank_start = Vec::with_capacity(order.len() + 1);
        let mut acc = 0u64;
        for &i in &order {
            node_of_rank_start.push(acc);
            acc += u64::from(self.net.groups[groups[i as usize]].system.devices_per_node);
        }
        let gpus = acc;
        p.check_partitioned(m, gpus)?;
        let pos_of =
            |rank: u64| -> usize { node_of_rank_start.partition_point(|&s| s <= rank) - 1 };
        let stage_ranks = u64::from(p.tp) * u64::from(p.cp) * u64::from(p.dp);
        let pp = p.pp as usize;
        let mut ctxs = Vec::with_capacity(pp);
        let mut stages = Vec::with_capacity(pp);
        let mut p2p = Vec::with_capacity(pp.saturating_sub(1));
        for s in 0..pp {
            let lo = s as u64 * stage_ranks;
            let (a, b) = (pos_of(lo), pos_of(lo + stage_ranks - 1));
            let nodes: Vec<u32> = order[a..=b].to_vec();
            let g = groups[nodes[0] as usize];
            let grp = &self.net.groups[g];
            for &i in &nodes {
                let o = &self.net.groups[groups[i as usize]];
                if o.system.device != grp.system.device
                    || o.system.devices_per_node != grp.system.devices_per_node
                {
                    return Err(Error::Unsupported {
                        message: format!(
                            "pipeline stage {s} spans nodes of '{}' and '{}', whose devices differ; place \
                             stages so that each sits on one kind of node (placement='nic-aware' or a \
                             node_order)",
                            grp.system.id, o.system.id
                        ),
                    });
                }
            }
            let in_node = &grp.levels[..grp.levels.len() - 1];
            let (net, transport) = if nodes.len() > 1 {
                self.network_over(&nodes, &groups, job_wide)?
            } else {
                let l = &in_node[in_node.len() - 1];
                (network(grp).params, format!("{}({})", l.transport, l.spec))
            };
            let cluster = Cluster::from_levels(
                &grp.system,
                in_node,
                &net,
                nodes.len() as u32,
                self.calib[g],
            )?;
            check_supported(p, &cluster, &format!("the devices of '{}'", grp.system.id))?;
            let kern = kernels(m, p, &cluster);
            // Send to the next stage: rank r to rank r + stage_ranks.
            let (mut t_p2p, mut p2p_transport) = (0.0, String::new());
            if s + 1 < pp {
                let (from, to) = (pos_of(lo), pos_of(lo + stage_ranks));
                if from == to {
                    let l = &in_node[0];
                    t_p2p = p2p_time(m, p, &cluster, 1);
                    p2p_transport = format!("{}({})", l.transport, l.spec);
                } else {
                    let (net, name) =
                        self.network_over(&[order[from], order[to]], &groups, job_wide)?;
                    let pair = Cluster::from_levels(&grp.system, in_node, &net, 2, self.calib[g])?;
                    t_p2p = p2p_time(m, p, &pair, u64::from(grp.system.devices_per_node));
                    p2p_transport = name;
                }
                p2p.push(t_p2p);
            }
            let role = StageRole::of(s, pp);
            stages.push(Stage {
                group: g,
                nodes,
                transport,
                layers: 0,
                cost: StageCost::default(),
                memory: Memory::default(),
                capacity_bytes: cluster.capacity_bytes,
                p2p_s: t_p2p,
                p2p_transport,
            });
            ctxs.push(StageCtx {
                cluster,
                kernels: kern,
                role,
                inflight: (pp - s) as f64,
            });
        }
        Ok((ctxs, stages, p2p))
    }
}

fn cost_of(m: &Model, p: &Plan, ctx: &StageCtx, layers: u32) -> StageCost {
    stage_cost(
        m,
        p,
        &ctx.cluster,
        &ctx.kernels,
        f64::from(layers),
        ctx.role,
    )
}

fn step_of(m: &Model, p: &Plan, peak: f64, costs: &[StageCost], p2p: &[f64]) -> f64 {
    combine(m, p, peak, &Pipeline::of(costs, p2p)).step_time_s
}

/// Layers per stage minimizing the predicted step: layers are dealt one chunk (vp layers) at a time to the
/// stage where it raises the step least, then single chunks move between stages while that helps.
fn solve(m: &Model, p: &Plan, ctxs: &[StageCtx], p2p: &[f64], peak: f64) -> Vec<u32> {
    let unit = p.vp;
    let n = ctxs.len();
    let mut layers = vec![unit; n];
    let mut costs: Vec<StageCost> = ctxs.iter().map(|c| cost_of(m, p, c, unit)).collect();
    let mut left = m.layers - unit * n as u32;
    while left > 0 {
        let mut best = (f64::INFINITY, 0);
        for i in 0..n {
            let keep = costs[i];
            costs[i] = cost_of(m, p, &ctxs[i], layers[i] + unit);
            let t = step_of(m, p, peak, &costs, p2p);
            costs[i] = keep;
            if t < best.0 {
                best = (t, i);
            }
        }
        let i = best.1;
        layers[i] += unit;
        costs[i] = cost_of(m, p, &ctxs[i], layers[i]);
        left -= unit;
    }
    let mut current = step_of(m, p, peak, &costs, p2p);
    loop {
        let mut improved = false;
        for from in 0..n {
            for to in 0..n {
                if from == to || layers[from] <= unit {
                    continue;
                }
                let (kf, kt) = (costs[from], costs[to]);
                costs[from] = cost_of(m, p, &ctxs[from], layers[from] - unit);
                costs[to] = cost_of(m, p, &ctxs[to], layers[to] + unit);
                let t = step_of(m, p, peak, &costs, p2p);
                if t < current * (1.0 - 1e-12) {
                    current = t;
                    layers[from] -= unit;
                    layers[to] += unit;
                    improved = true;
                } else {
                    costs[from] = kf;
                    costs[to] = kt;
                }
            }
        }
        if !improved {
            return layers;
        }
    }
}

fn check_layers(m: &Model, p: &Plan, layers: &[u32]) -> Result<()> {
    if layers.len() != p.pp as usize {
        return Err(invalid(
            "layers_per_stage",
            format!("lists {} stages; the plan has pp = {}", layers.len(), p.pp),
        ));
    }
    let sum: u32 = layers.iter().sum();
    if sum != m.layers {
        return Err(invalid(
            "layers_per_stage",
            format!(
                "{layers:?} sums to {sum}; the model has {} layers",
                m.layers
            ),
        ));
    }
    if let Some(l) = layers.iter().find(|&&l| l == 0 || l % p.vp != 0) {
        return Err(invalid(
            "layers_per_stage",
            format!(
                "has a stage with {l} layers; each stage needs at least one layer and a multiple of vp = {}",
                p.vp
            ),
        ));
    }
    Ok(())
}

/// Why the partition came out as it did: each stage's time per layer, fixed extra work and exposed DP time.
fn explain(
    m: &Model,
    p: &Plan,
    ctxs: &[StageCtx],
    stages: &[Stage],
    chosen: f64,
    even: Option<(Vec<u32>, f64)>,
) -> String {
    let mut parts = Vec::new();
    for (i, (c, st)) in ctxs.iter().zip(stages).enumerate() {
        let one = cost_of(m, p, c, 1).per_micro_batch();
        let two = cost_of(m, p, c, 2).per_micro_batch();
        let per_layer = two - one;
        let extra = one - per_layer;
        parts.push(format!(
            "stage {i} on {} ({} layers): {:.2} ms per layer per micro-batch, {:.2} ms fixed (embedding/output), \
             DP comm exposed {:.3} s",
            st.transport,
            st.layers,
            per_layer * 1e3,
            extra * 1e3,
            st.cost.dp_comm
        ));
    }
    let mut s = parts.join("; ");
    // The best single move of one chunk of layers, and what it trades: pipeline time against exposed DP time.
    let peak = ctxs
        .iter()
        .map(|c| plan_peak(p, &c.cluster))
        .fold(f64::INFINITY, f64::min);
    let p2p: Vec<f64> = stages[..stages.len().saturating_sub(1)]
        .iter()
        .map(|st| st.p2p_s)
        .collect();
    let mut costs: Vec<StageCost> = stages.iter().map(|st| st.cost).collect();
    let here = combine(m, p, peak, &Pipeline::of(&costs, &p2p));
    let mut best: Option<(f64, usize, usize, f64)> = None;
    for from in 0..stages.len() {
        for to in 0..stages.len() {
            if from == to || stages[from].layers <= p.vp {
                continue;
            }
            let (kf, kt) = (costs[from], costs[to]);
            costs[from] = cost_of(m, p, &ctxs[from], stages[from].layers - p.vp);
            costs[to] = cost_of(m, p, &ctxs[to], stages[to].layers + p.vp);
            let e = combine(m, p, peak, &Pipeline::of(&costs, &p2p));
            costs[from] = kf;
            costs[to] = kt;
            let delta = e.step_time_s - here.step_time_s;
            if best.is_none_or(|b| delta < b.0) {
                best = Some((delta, from, to, e.times.dp_comm - here.times.dp_comm));
            }
        }
    }
    if let Some((delta, from, to, dp)) = best {
        let _ = write!(
            s,
            ". The best move of {} layer(s), stage {from} -> stage {to}, would change the step by {delta:+.3} s: \
             {:+.3} s of pipeline time against {dp:+.3} s of exposed DP communication",
            p.vp,
            delta - dp
        );
    }
    if let Some((layers, t)) = even {
        let _ = write!(
            s,
            ". An even split {layers:?} predicts {t:.4} s vs {chosen:.4} s for this partition ({:+.2}%)",
            (t / chosen - 1.0) * 100.0
        );
    }
    s
}

/// Evaluates a plan on a heterogeneous cluster under a placement, with layers per stage given or (`None`)
/// chosen to minimize the predicted step.
pub fn estimate(
    m: &Model,
    p: &Plan,
    cluster: &HeteroCluster<'_>,
    placement: &Placement,
    layers: Option<&[u32]>,
) -> Result<HeteroEstimate> {
    let (ctxs, mut stages, p2p) = cluster.place(m, p, placement)?;
    let peak = ctxs
        .iter()
        .map(|c| plan_peak(p, &c.cluster))
        .fold(f64::INFINITY, f64::min);
    let (chosen, how) = match layers {
        Some(l) => {
            check_layers(m, p, l)?;
            (l.to_vec(), "given".to_owned())
        }
        None if m.layers % p.vp != 0 => {
            return Err(invalid(
                "vp",
                format!(
                    "the model's {} layers cannot be dealt in chunks of vp = {} (each stage holds a multiple of vp)",
                    m.layers, p.vp
                ),
            ))
        }
        None => (
            solve(m, p, &ctxs, &p2p, peak),
            "chosen to minimize the predicted step (greedy by layer, then single-layer moves)"
                .to_owned(),
        ),
    };
    let costs: Vec<StageCost> = ctxs
        .iter()
        .zip(&chosen)
        .map(|(c, &l)| cost_of(m, p, c, l))
        .collect();
    let mut est = combine(m, p, peak, &Pipeline::of(&costs, &p2p));
    let mut worst = f64::NEG_INFINITY;
    for ((st, c), (cost, &l)) in stages.iter_mut().zip(&ctxs).zip(costs.iter().zip(&chosen)) {
        st.layers = l;
        st.cost = *cost;
        st.memory = stage_memory(m, p, f64::from(l), c.inflight, c.role);
        let use_frac = st.memory.total() / st.capacity_bytes;
        est.fits &= use_frac <= 1.0;
        if use_frac > worst {
            worst = use_frac;
            est.memory = st.memory;
        }
    }
    let even = (m.layers % (p.pp * p.vp) == 0).then(|| {
        let l = vec![m.layers / p.pp; p.pp as usize];
        let c: Vec<StageCost> = ctxs.iter().map(|x| cost_of(m, p, x, l[0])).collect();
        let t = step_of(m, p, peak, &c, &p2p);
        (l, t)
    });
    let reason = format!(
        "layers per stage {chosen:?} {how}; the pipeline runs at its slowest stage once per micro-batch ({} \
         micro-batches), and each stage's DP groups reduce over their own network. {}",
        p.micro_batches(),
        explain(m, p, &ctxs, &stages, est.step_time_s, even)
    );
    Ok(HeteroEstimate {
        estimate: est,
        stages,
        placement: placement.name(),
        reason,
    })
}

/// Valid plans of a search on a heterogeneous cluster, each with its partition and estimate, plus skipped
/// candidates per [`Invalid`] reason and those the placement rejects (with the first such reason).
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub plans: Vec<Plan>,
    pub layers: Vec<Vec<u32>>,
    pub estimates: Vec<Estimate>,
    pub skipped: [u64; Invalid::COUNT],
    pub placement_rejected: u64,
    pub placement_reason: String,
    pub candidates: usize,
}

/// Every candidate of `space` (`start..end`) on all GPUs of the cluster under `placement`, layers per
/// stage chosen automatically for each; in parallel.
pub fn search(
    m: &Model,
    cluster: &HeteroCluster<'_>,
    space: &Space,
    placement: &Placement,
    start: usize,
    end: Option<usize>,
) -> Result<Found> {
    space.check()?;
    let gpus = cluster.net.devices();
    let total = space.size();
    let end = end.unwrap_or(total).min(total);
    let start = start.min(end);
    let base_model = *m;
    type Acc = (
        Vec<(Plan, Vec<u32>, Estimate)>,
        [u64; Invalid::COUNT],
        u64,
        String,
    );
    let (found, skipped, rejected, reason) = (start..end)
        .into_par_iter()
        .fold(
            || -> Acc { (Vec::new(), [0; Invalid::COUNT], 0, String::new()) },
            |mut acc, i| {
                let p = space.candidate(i, gpus);
                let mut even = base_model;
                even.layers = p.pp.max(1) * p.vp.max(1);
                let code = if p.dp == 0 {
                    Some(Invalid::GpusDivide)
                } else if m.layers < even.layers || m.layers % p.vp != 0 {
                    Some(Invalid::LayersPp)
                } else if !space.overlap.is_empty() && p.redundant_overlap() {
                    Some(Invalid::RedundantOverlap)
                } else if (p.offload_optimizer || p.offload_activations)
                    && cluster
                        .net
                        .groups
                        .iter()
                        .any(|g| g.system.host_link_bytes_per_s.is_none())
                {
                    Some(Invalid::NoHostLink)
                } else {
                    p.check_code(&even, gpus)
                };
                if let Some(code) = code {
                    acc.1[code as usize] += 1;
                    return acc;
                }
                match estimate(m, &p, cluster, placement, None) {
                    Ok(e) => {
                        let layers = e.stages.iter().map(|s| s.layers).collect();
                        acc.0.push((p, layers, e.estimate));
                    }
                    Err(err) => {
                        acc.2 += 1;
                        if acc.3.is_empty() {
                            acc.3 = err.to_string();
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || (Vec::new(), [0; Invalid::COUNT], 0, String::new()),
            |mut a, b| {
                a.0.extend(b.0);
                for (x, y) in a.1.iter_mut().zip(b.1) {
                    *x += y;
                }
                a.2 += b.2;
                if a.3.is_empty() {
                    a.3 = b.3;
                }
                a
            },
        );
    let mut out = Found {
        skipped,
        placement_rejected: rejected,
        placement_reason: reason,
        candidates: end - start,
        ..Found::default()
    };
    for (p, l, e) in found {
        out.plans.push(p);
        out.layers.push(l);
        out.estimates.push(e);
    }
    Ok(out)
}
