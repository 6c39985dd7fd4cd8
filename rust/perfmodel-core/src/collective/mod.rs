//! Collective communication over real topologies: time, algorithm bandwidth and bus bandwidth of
//! all-reduce, all-gather, reduce-scatter, broadcast, reduce, all-to-all and send/recv.
//!
//! # Calling it from Rust (e.g. from the training model)
//!
//! ```
//! use perfmodel_core::collective::{self, Algorithm, Op};
//! use perfmodel_core::topology::{system_of, Cluster};
//!
//! let cluster = Cluster::new(system_of("dgx-h100").unwrap(), 4).unwrap();   // 4 nodes x 8 GPUs
//! let e = collective::time(&cluster, Op::AllReduce, 1u64 << 30, 32, Algorithm::Auto).unwrap();
//! assert!(e.time_s > 0.0 && e.algorithm != Algorithm::Auto);              // auto names its pick
//! let busbw = e.busbw(1u64 << 30);                                        // nccl-tests bus bandwidth, bytes/s
//! # assert!(busbw > 0.0);
//! ```
//!
//! * [`time`]`(cluster, op, bytes, nranks, algorithm) -> Result<Estimate>`: one evaluation. `bytes` counts as
//!   nccl-tests does (`S` of PERFORMANCE.md: the whole buffer for all-reduce/broadcast/reduce, the total
//!   gathered or scattered array for all-gather/reduce-scatter, the per-rank send buffer for all-to-all).
//!   The first `nranks` devices of the cluster form the communicator (innermost level first, node by node).
//! * [`time_comm`]: the same on a precomputed [`Comm`] (use it in hot loops: `cluster.comm(nranks)` once).
//! * [`columns`]: vectorized over equal-length columns of bytes, ranks and algorithm codes (rayon above a
//!   threshold) — what the Python API calls.
//!
//! # Model
//!
//! Every algorithm is a sequence of phases over the levels it spans. A phase has a latency term
//! `L = steps * alpha` and a bandwidth term `W = bytes_on_the_busiest_link / bandwidth`. Rings (all-reduce,
//! all-gather, reduce-scatter, flat and as hierarchical phases) keep every link busy from the first step and
//! cost `L + W`, priced per protocol as NCCL/RCCL's tuner does (`src/graph/tuning.cc`: latency + bytes /
//! bandwidth): Simple with the level's `latency_us` and `bandwidth_fraction`, and, where every level crossed
//! models it, LL with `ll_latency_ratio` x the latency and `ll_bandwidth_ratio` x the bandwidth; the faster
//! wins ([`formulas::Protocols`]). Chains and trees (ring broadcast/reduce, tree, direct, NVLS, SHARP) cost
//! `(sqrt L + sqrt W)^2`, the optimum of segmented pipelining ([`formulas::pipelined`]); store-and-forward
//! ones (recursive doubling/halving, Rabenseifner, Bruck) cost `L + W`. A collective also pays its launch
//! cost (the largest `launch_us` of the levels it spans).
//! Bandwidths per level: a switch gives every rank its full injection bandwidth; a full mesh spreads each
//! member's links (its devices' links) over its peers and gives a ring the links of one member pair per hop per
//! ring (as many edge-disjoint rings as the mesh holds, at most one per link of a device) and a direct algorithm
//! its share of all of them; a network gives a flat ring the node's NICs and a hierarchical phase one rail per
//! rank, with oversubscription paid by traffic that is not rail-aligned. Efficiencies and latencies are hwdb
//! `[efficiency]` figures.
//! [`Algorithm::Auto`] evaluates the algorithms NCCL/RCCL would consider for the op and topology and
//! returns the fastest, naming it in [`Estimate::algorithm`].
pub mod algorithms;
pub mod formulas;
pub mod group;
pub mod hierarchical;

use rayon::prelude::*;

use crate::error::{closest, invalid, Error, Result};
use crate::topology::{Cluster, Comm};

/// A collective operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    AllReduce = 0,
    AllGather = 1,
    ReduceScatter = 2,
    Broadcast = 3,
    Reduce = 4,
    AllToAll = 5,
    SendRecv = 6,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::AllReduce,
        Op::AllGather,
        Op::ReduceScatter,
        Op::Broadcast,
        Op::Reduce,
        Op::AllToAll,
        Op::SendRecv,
    ];
    pub const NAMES: [&'static str; 7] = [
        "all_reduce",
        "all_gather",
        "reduce_scatter",
        "broadcast",
        "reduce",
        "all_to_all",
        "send_recv",
    ];

    pub fn name(self) -> &'static str {
        Op::NAMES[self as usize]
    }

    /// Parses an op name (`alltoall`, `allreduce` and `sendrecv`, as nccl-tests spells them, are accepted).
    pub fn parse(name: &str) -> Result<Op> {
        let norm = name.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match norm.as_str() {
            "allreduce" => "all_reduce",
            "allgather" => "all_gather",
            "reducescatter" => "reduce_scatter",
            "alltoall" => "all_to_all",
            "sendrecv" => "send_recv",
            other => other,
        };
        Op::NAMES
            .iter()
            .position(|n| *n == alias)
            .map(|i| Op::ALL[i])
            .ok_or_else(|| {
                let close = closest(name, Op::NAMES.iter().copied());
                let hint = close
                    .first()
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                invalid(
                    "op",
                    format!(
                        "unknown collective '{name}'; expected one of {:?}{hint}",
                        Op::NAMES
                    ),
                )
            })
    }

    /// nccl-tests bus-bandwidth factor for `n` ranks (doc/PERFORMANCE.md; docs/models/collectives.md#bus-bandwidth).
    pub fn busbw_factor(self, n: u32) -> f64 {
        let n = f64::from(n.max(1));
        match self {
            Op::AllReduce => 2.0 * (n - 1.0) / n,
            Op::AllGather | Op::ReduceScatter | Op::AllToAll => (n - 1.0) / n,
            Op::Broadcast | Op::Reduce | Op::SendRecv => 1.0,
        }
    }
}

/// A collective algorithm. `Auto` asks the tuner to pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Algorithm {
    Auto = 0,
    Ring = 1,
    Tree = 2,
    RecursiveDoubling = 3,
    Rabenseifner = 4,
    Bruck = 5,
    Direct = 6,
    Nvls = 7,
    Sharp = 8,
    Hierarchical = 9,
    Pxn = 10,
    /// A framework's own all-reduce kernel inside one switch domain (SGLang's, vLLM's, TensorRT-LLM's one-/
    /// two-shot kernels over peer-mapped buffers), priced by the fabric's hwdb `[custom_all_reduce]` figures;
    /// never picked by `Auto` (NCCL's tuner does not run it).
    CustomAllReduce = 11,
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
        Algorithm::Auto,
        Algorithm::Ring,
        Algorithm::Tree,
        Algorithm::RecursiveDoubling,
        Algorithm::Rabenseifner,
        Algorithm::Bruck,
        Algorithm::Direct,
        Algorithm::Nvls,
        Algorithm::Sharp,
        Algorithm::Hierarchical,
        Algorithm::Pxn,
        Algorithm::CustomAllReduce,
    ];
    pub const NAMES: [&'static str; 12] = [
        "auto",
        "ring",
        "tree",
        "recursive_doubling",
        "rabenseifner",
        "bruck",
        "direct",
        "nvls",
        "sharp",
        "hierarchical",
        "pxn",
        "custom_all_reduce",
    ];

    pub fn name(self) -> &'static str {
        Algorithm::NAMES[self as usize]
    }

    /// The algorithm of a code (`as u8`), for columns.
    pub fn from_code(code: u8) -> Result<Algorithm> {
        Algorithm::ALL.get(code as usize).copied().ok_or_else(|| {
            invalid(
                "algorithm",
                format!(
                    "code {code} is not an algorithm code (0..{})",
                    Algorithm::ALL.len() - 1
                ),
            )
        })
    }

    /// Parses a name; `recursive_halving` (reduce-scatter), `pairwise`, `double_binary_tree`, `collnet`,
    /// `nvlink_sharp` and `custom` (`custom_all_reduce`) are accepted as aliases.
    pub fn parse(name: &str) -> Result<Algorithm> {
        let norm = name.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match norm.as_str() {
            "recursive_halving" | "halving_doubling" => "recursive_doubling",
            "pairwise" | "pairwise_exchange" => "direct",
            "double_binary_tree" => "tree",
            "collnet" | "in_network" => "sharp",
            "nvlink_sharp" | "nvlink_sharp_nvls" => "nvls",
            "rail_aligned" => "pxn",
            "custom" | "custom_allreduce" | "custom_ar" => "custom_all_reduce",
            other => other,
        };
        Algorithm::NAMES
            .iter()
            .position(|n| *n == alias)
            .map(|i| Algorithm::ALL[i])
            .ok_or_else(|| {
                let close = closest(name, Algorithm::NAMES.iter().copied());
                let hint = close
                    .first()
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                invalid(
                    "algorithm",
                    format!(
                        "unknown algorithm '{name}'; expected one of {:?}{hint}",
                        Algorithm::NAMES
                    ),
                )
            })
    }

    /// The ops this algorithm implements.
    pub fn ops(self) -> &'static [Op] {
        use Op::{AllGather, AllReduce, AllToAll, Broadcast, Reduce, ReduceScatter, SendRecv};
        match self {
            Algorithm::Auto => &Op::ALL,
            Algorithm::Ring | Algorithm::Hierarchical => {
                &[AllReduce, AllGather, ReduceScatter, Broadcast, Reduce]
            }
            Algorithm::Tree => &[AllReduce, Broadcast, Reduce],
            Algorithm::RecursiveDoubling => &[AllReduce, AllGather, ReduceScatter],
            Algorithm::Rabenseifner => &[AllReduce, Reduce],
            Algorithm::Bruck => &[AllGather, AllToAll],
            Algorithm::Direct => &[AllReduce, AllGather, ReduceScatter, AllToAll, SendRecv],
            Algorithm::Nvls | Algorithm::Sharp | Algorithm::CustomAllReduce => &[AllReduce],
            Algorithm::Pxn => &[AllToAll, SendRecv],
        }
    }
}

/// One evaluated collective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub time_s: f64,
    /// The algorithm used (never `Auto`).
    pub algorithm: Algorithm,
    pub op: Op,
    pub nranks: u32,
}

impl Estimate {
    /// nccl-tests algorithm bandwidth `S / t`, bytes/s.
    pub fn algbw(&self, bytes: u64) -> f64 {
        bytes as f64 / self.time_s
    }

    /// nccl-tests bus bandwidth `algbw * factor(op, nranks)`, bytes/s.
    pub fn busbw(&self, bytes: u64) -> f64 {
        self.algbw(bytes) * self.op.busbw_factor(self.nranks)
    }
}

/// Time of one collective of `bytes` over the first `nranks` devices of `cluster`.
pub fn time(
    cluster: &Cluster,
    op: Op,
    bytes: u64,
    nranks: u32,
    algorithm: Algorithm,
) -> Result<Estimate> {
    let comm = cluster.comm(nranks)?;
    time_comm(&comm, op, bytes as f64, algorithm)
}

/// Time of one collective on a precomputed communicator.
pub fn time_comm(comm: &Comm, op: Op, bytes: f64, algorithm: Algorithm) -> Result<Estimate> {
    if !(0.0..=crate::error::MAX_BYTES).contains(&bytes) {
        return Err(invalid(
            "nbytes",
            format!("is {bytes}; expected a number of bytes >= 0 and <= 1e18"),
        ));
    }
    let (time_s, algorithm) = algorithms::evaluate(comm, op, bytes, algorithm)?;
    Ok(Estimate {
        time_s,
        algorithm,
        op,
        nranks: comm.nranks,
    })
}

/// How a communicator's ranks sit in the rank order: `stride` apart (1: consecutive devices, innermost
/// level first), while `concurrent` ranks of each node communicate at once (`None`: only this
/// communicator's own ranks, as nccl-tests runs it; a plan's groups run with all their sibling groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub stride: u64,
    pub concurrent: Option<u32>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            stride: 1,
            concurrent: None,
        }
    }
}

impl Placement {
    fn is_default(&self) -> bool {
        *self == Placement::default()
    }
}

/// The communicator of `nranks` ranks of `cluster` placed as `placement` says. Strided or concurrent groups
/// are modelled on clusters of one node group.
pub fn placed_comm(cluster: &Cluster, nranks: u32, placement: Placement) -> Result<Comm> {
    if placement.is_default() {
        return cluster.comm(nranks);
    }
    if cluster.groups.len() != 1 {
        return Err(Error::Unsupported {
            message: "a strided or concurrent communicator is modelled on a cluster of one node group;                       this cluster has several"
                .into(),
        });
    }
    let machine = group::Machine::of_group(&cluster.groups[0], 1.0)?;
    let layout = machine.layout(nranks, placement.stride)?;
    let sharers = match placement.concurrent {
        Some(0) => {
            return Err(invalid(
                "concurrent",
                "is 0; expected the number of ranks per node communicating at once (>= 1)",
            ))
        }
        Some(c) if c > machine.devices_per_node => {
            return Err(invalid(
                "concurrent",
                format!(
                    "is {c}, more than the {} devices of a node",
                    machine.devices_per_node
                ),
            ))
        }
        Some(c) => c,
        None => layout.ranks_per_node,
    };
    Ok(machine.comm_of(&layout, sharers))
}

/// Vectorized results: one entry per input element.
#[derive(Debug, Clone, Default)]
pub struct CollectiveColumns {
    pub time_s: Vec<f64>,
    /// `Algorithm as u8` of the algorithm used.
    pub algorithm: Vec<u8>,
    pub busbw_factor: Vec<f64>,
}

const PARALLEL_THRESHOLD: usize = 16_384;

/// Evaluates equal-length columns of bytes, rank counts and algorithm codes for one op; a rank count or
/// algorithm that cannot run fails the whole call with the first bad element named.
pub fn columns(
    cluster: &Cluster,
    op: Op,
    bytes: &[f64],
    nranks: &[f64],
    algorithm: &[u8],
) -> Result<CollectiveColumns> {
    columns_placed(cluster, op, bytes, nranks, algorithm, Placement::default())
}

/// [`columns`] for communicators placed as `placement` says (strided, with concurrent sibling groups).
pub fn columns_placed(
    cluster: &Cluster,
    op: Op,
    bytes: &[f64],
    nranks: &[f64],
    algorithm: &[u8],
    placement: Placement,
) -> Result<CollectiveColumns> {
    let len = bytes.len();
    if nranks.len() != len || algorithm.len() != len {
        return Err(invalid(
            "nranks",
            format!(
                "columns differ in length: nbytes {len}, nranks {}, algorithm {}",
                nranks.len(),
                algorithm.len()
            ),
        ));
    }
    // One communicator per distinct rank count (few in practice).
    let mut comms: Vec<(u32, Comm)> = Vec::new();
    let mut comm_index = vec![0u32; len];
    let mut last: Option<(f64, u32)> = None;
    for (i, &r) in nranks.iter().enumerate() {
        if let Some((lr, li)) = last {
            if lr == r {
                comm_index[i] = li;
                continue;
            }
        }
        let p = cluster.check_nranks(r).map_err(|e| element_error(e, i))?;
        let idx = match comms.iter().position(|(q, _)| *q == p) {
            Some(j) => j,
            None => {
                comms.push((
                    p,
                    placed_comm(cluster, p, placement).map_err(|e| element_error(e, i))?,
                ));
                comms.len() - 1
            }
        };
        comm_index[i] = idx as u32;
        last = Some((r, idx as u32));
    }
    let mut out = CollectiveColumns {
        time_s: vec![0.0; len],
        algorithm: vec![0; len],
        busbw_factor: vec![0.0; len],
    };
    let fill = |start: usize, t: &mut [f64], a: &mut [u8], f: &mut [f64]| -> Result<()> {
        for j in 0..t.len() {
            let i = start + j;
            let comm = &comms[comm_index[i] as usize].1;
            let algo = Algorithm::from_code(algorithm[i])?;
            let b = bytes[i];
            if !(0.0..=crate::error::MAX_BYTES).contains(&b) {
                return Err(invalid(
                    "nbytes",
                    format!("element {i} is {b}; expected a number of bytes >= 0 and <= 1e18"),
                ));
            }
            let (ts, used) =
                algorithms::evaluate(comm, op, b, algo).map_err(|e| element_error(e, i))?;
            t[j] = ts;
            a[j] = used as u8;
            f[j] = op.busbw_factor(comm.nranks);
        }
        Ok(())
    };
    if len <= PARALLEL_THRESHOLD {
        fill(
            0,
            &mut out.time_s,
            &mut out.algorithm,
            &mut out.busbw_factor,
        )?;
    } else {
        let chunk = (len / (rayon::current_num_threads() * 4)).max(PARALLEL_THRESHOLD);
        out.time_s
            .par_chunks_mut(chunk)
            .zip(out.algorithm.par_chunks_mut(chunk))
            .zip(out.busbw_factor.par_chunks_mut(chunk))
            .enumerate()
            .try_for_each(|(ci, ((t, a), f))| fill(ci * chunk, t, a, f))?;
    }
    Ok(out)
}

fn element_error(e: Error, i: usize) -> Error {
    match e {
        Error::InvalidArgument { arg, message } => Error::InvalidArgument {
            arg,
            message: format!("element {i}: {message}"),
        },
        other => other,
    }
}
