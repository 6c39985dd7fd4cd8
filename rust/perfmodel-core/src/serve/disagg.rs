//! Disaggregated serving: a prefill pool and a decode pool of engine replicas with each request's KV cache
//! moved between them, as Splitwise (Patel et al., "Splitwise: Efficient Generative LLM Inference Using
//! Phase Splitting", ISCA 2024) and DistServe (Zhong et al., "DistServe: Disaggregating Prefill and Decoding
//! for Goodput-optimized Large Language Model Serving", OSDI 2024) run it.
//!
//! # Model
//!
//! **Prefill pool.** Requests arrive at the prefill pool and are served by the continuous-batching scheduler of
//! [`super::sim`] as prefill-only work: each request is a one-token request there (FCFS, the pool's
//! `max_num_batched_tokens`, `max_num_seqs` and KV blocks; chunked prefill as configured). The iteration that
//! ends a prompt emits the first token: **TTFT ends there** (both papers: the prompt machine returns the first
//! token, Splitwise §4; the KV transfer shows in the second token's latency, Splitwise's "second token"
//! overhead). The prompt's KV leaves the prefill pool's cache at the end of that iteration (the time the
//! transfer holds it is not modelled).
//!
//! **KV transfer.** `bytes_per_token x prompt` bytes per request (the whole model's KV, every layer, one copy:
//! [`KvSplit::bytes_per_token`]) cross the link joining the pools ([`KvLink`]: NVLink inside a node, the NIC
//! between nodes), priced by the collectives engine's send/recv (never a private formula). Shards: KV heads are
//! split over the TP ranks on both sides in contiguous head ranges (vLLM's sharding); a decode rank receives its
//! heads (with their replicas when its TP exceeds the KV heads; the MLA latent whole on every rank) from the
//! prefill ranks that hold them; pipeline stages receive the layers they keep. Every GPU of both instances
//! moves its share at once, so a transfer takes the send/recv time of one *lane*: the larger of what one
//! prefill GPU sends and what one decode GPU receives ([`KvSplit::lane_bytes_per_token`]), with every rank of a
//! node communicating (the node's NICs shared). Two schedules ([`Transfer`]):
//!
//! * `Layerwise` (Splitwise §4.4, DistServe §4): the KV of layer `l` is sent as soon as the layer is computed,
//!   overlapping the later layers. The `C` layers of the sending stage are computed evenly over the last stage's
//!   share `W = P / pp` of the iteration `[S, S + P]`, layer `l` ready at `S + P - W + l W / C`; each layer's
//!   lane message takes `x = send_recv(lane / C)` and the link sends them in order after the previous batch's
//!   transfer (free at `F`), so the last arrives at `max(F + C x, S + P - W + W / C + C x, S + P + x)` (the
//!   maximum over `l` of a linear function is at its ends). Only the part after `S + P` is exposed.
//! * `Serial`: the whole lane after the iteration: `max(F, S + P) + send_recv(lane)`.
//!
//! The requests of one prefill iteration move together (their bytes add up); consecutive iterations of an
//! instance queue on its link (FIFO). A prompt chunked over several iterations sends all its KV during its last
//! one (its earlier chunks' KV is not sent early: an upper bound on the exposed part). Contention on the receiving side (several prefill instances sending to one
//! decode instance at once) is not modelled.
//!
//! **Decode pool.** A request enters the decode pool when its KV has arrived (load balancer as in
//! [`super::sim`]); it is admitted FCFS while `running < max_num_seqs` and the free blocks hold its
//! `ceil(prompt / block_size)` blocks, otherwise it waits (its KV stays on the prefill side, DistServe's pull),
//! and decodes from the next iteration. Preemption when a decode needs a block and none is free is vLLM's
//! recompute, on the decode machine (the victim re-prefills its prompt and generated tokens there). TPOT, ITL
//! and E2E come from the decode pool; the first inter-token gap holds the exposed transfer and the wait.
//!
//! # Speed
//!
//! Two runs of the co-located event loop (the prefill run's iterations are prefill-only) plus a sort of the
//! requests by KV arrival: the `#[ignore]`d test `bench_disagg_10k` prints both.
use std::sync::Arc;

use super::iteration::Engine;
use super::requests::{self, Request};
use super::sim::{self, IterationCost, LoadBalancer, SchedulerConfig, Seq, SimOptions, SimResult};
use crate::collective::group::Machine;
use crate::collective::Op;
use crate::error::{invalid, Error, Result};
use crate::hw::System;
use crate::stop::Stop;
use crate::topology::{Cluster, NodeGroup};

/// When the KV cache of a prompt is sent (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transfer {
    /// Layer by layer, overlapped with the prefill's remaining layers (Splitwise, DistServe).
    #[default]
    Layerwise,
    /// All of it after the prefill iteration ends.
    Serial,
}

/// The link that joins the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Both pools in one node: the in-node fabric (NVLink/NVSwitch, xGMI).
    InNode,
    /// Pools on different nodes: the NICs.
    Network,
    /// An infinitely fast link (transfers take no time): a bound, and a test of the decode path.
    Ideal,
}

/// The link joining the pools, priced by the collectives engine.
#[derive(Debug, Clone, Copy)]
pub struct KvLink {
    pub kind: LinkKind,
    /// The machine whose send/recv prices a lane, and the rank distance between the two ends.
    machine: Option<Machine>,
    stride: u64,
}

/// A system's levels (in-node fabrics, then its NIC) from hwdb.
fn group(system: &System, nodes: u32) -> Result<NodeGroup> {
    NodeGroup::from_system(Arc::new(system.clone()), nodes)
}

/// Per-GPU share of a node group's NIC bandwidth (bytes/s): link bandwidth x efficiency x NICs / devices.
fn nic_share(g: &NodeGroup) -> f64 {
    let p = g.levels[g.levels.len() - 1].params;
    p.link_bandwidth * p.efficiency * f64::from(p.links) / f64::from(g.system.devices_per_node)
}

impl KvLink {
    /// Both pools in one node of `system`: a send/recv between two of its GPUs (stride 1) while every GPU
    /// of the node communicates. `bandwidth_scale` multiplies link bandwidths (the framework's figure).
    pub fn in_node(system: &System, bandwidth_scale: f64) -> Result<KvLink> {
        let machine = Machine::of_group(&group(system, 1)?, bandwidth_scale)?;
        if machine.len < 2 {
            return Err(invalid(
                "link",
                format!(
                    "'nvlink': system '{}' has one GPU per node, so the pools cannot share a node; use 'nic'",
                    system.id
                ),
            ));
        }
        Ok(KvLink {
            kind: LinkKind::InNode,
            machine: Some(machine),
            stride: 1,
        })
    }

    /// The pools on different nodes (of `prefill` and `decode`, the same system or not): a send/recv between
    /// two nodes, one GPU each, while every GPU of a node communicates (each gets its share of the node's NICs).
    /// The network is the slower side's (smaller NIC bandwidth per GPU) when both NICs run the same transport
    /// (a transfer runs at its slower end), or the cluster's fallback (TCP over 100 GbE, the Holmes rule of
    /// [`crate::topology`]) when they differ.
    pub fn between_nodes(
        prefill: &System,
        decode: &System,
        bandwidth_scale: f64,
    ) -> Result<KvLink> {
        let (gp, gd) = (group(prefill, 1)?, group(decode, 1)?);
        let transport = |g: &NodeGroup| g.levels[g.levels.len() - 1].transport.clone();
        let machine = if transport(&gp) == transport(&gd) {
            let slow = if nic_share(&gd) <= nic_share(&gp) {
                decode
            } else {
                prefill
            };
            Machine::of_group(&group(slow, 2)?, bandwidth_scale)?
        } else {
            let dpn = gd.system.devices_per_node;
            let in_node: Vec<_> = gd.levels[..gd.levels.len() - 1].to_vec();
            let both = Cluster::with_groups(vec![gp, gd], Some(("eth-100g", 1)))?;
            let net = both.shared_network(0, 2)?;
            Machine::new(&in_node, &net.params, dpn, 2, bandwidth_scale)?
        };
        Ok(KvLink {
            kind: LinkKind::Network,
            stride: u64::from(machine.devices_per_node),
            machine: Some(machine),
        })
    }

    /// An infinitely fast link.
    pub fn ideal() -> KvLink {
        KvLink {
            kind: LinkKind::Ideal,
            machine: None,
            stride: 1,
        }
    }

    /// Seconds to move `bytes` over one lane: the collectives engine's send/recv (0 for no bytes or the
    /// ideal link).
    pub fn send_s(&self, bytes: f64) -> f64 {
        match self.machine {
            Some(m) if bytes > 0.0 => m.collective(Op::SendRecv, 2, self.stride, bytes).time_s,
            _ => 0.0,
        }
    }
}

/// How a prompt's KV cache is split between the two pools' GPUs (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvSplit {
    /// The whole model's KV per prompt token (every layer, one copy), bytes.
    pub bytes_per_token: f64,
    /// Per prompt token, the larger of what one prefill GPU sends and what one decode GPU receives, bytes.
    pub lane_bytes_per_token: f64,
    /// Layers of the sending stage (the messages of a layer-wise transfer).
    pub layers: u32,
    /// Share of a prefill iteration in which the sending stage computes its layers (`1 / pp`).
    pub window: f64,
}

impl KvSplit {
    /// The split between a prefill engine and a decode engine of the same model and KV format.
    pub fn new(prefill: &Engine, decode: &Engine) -> Result<KvSplit> {
        let (mp, md) = (&prefill.model, &decode.model);
        if mp.layers != md.layers || mp.kv_cache_width() != md.kv_cache_width() {
            return Err(invalid(
                "decode",
                "serves another model than the prefill pool (layers or KV width differ); both pools run one model",
            ));
        }
        if prefill.kv != decode.kv {
            return Err(invalid(
                "kv_dtype",
                "differs between the pools; both pools keep the KV cache in one format",
            ));
        }
        let kvb = decode.kv.bytes();
        let layers = f64::from(md.layers);
        let bytes_per_token = layers * md.kv_cache_width() * kvb;
        // Every decode GPU receives its heads (replicas included) of its stage's layers.
        let received_per_gpu = decode.kv_bytes_per_token();
        let wire = f64::from(decode.plan.tp) * layers * decode.kv_cache_width_per_gpu() * kvb;
        let sent_per_gpu = wire / f64::from(prefill.plan.gpus());
        Ok(KvSplit {
            bytes_per_token,
            lane_bytes_per_token: received_per_gpu.max(sent_per_gpu),
            layers: prefill.stage_layer_counts().0 as u32,
            window: 1.0 / f64::from(prefill.plan.pp),
        })
    }

    fn check(&self) -> Result<()> {
        for (k, v) in [
            ("bytes_per_token", self.bytes_per_token),
            ("lane_bytes_per_token", self.lane_bytes_per_token),
            ("window", self.window),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(k, format!("is {v}; expected a finite number >= 0")));
            }
        }
        if self.layers == 0 || self.window <= 0.0 || self.window > 1.0 {
            return Err(invalid(
                "kv",
                format!(
                    "layers {} and window {}: expected >= 1 layer and a window in (0, 1]",
                    self.layers, self.window
                ),
            ));
        }
        Ok(())
    }

    /// Seconds for `lane` bytes over `send` (one lane's send/recv), layer by layer or at once.
    fn alone_s(&self, lane: f64, mode: Transfer, send: &impl Fn(f64) -> f64) -> f64 {
        match mode {
            Transfer::Layerwise => f64::from(self.layers) * send(lane / f64::from(self.layers)),
            Transfer::Serial => send(lane),
        }
    }
}

/// One pool: its scheduler, its engines and how many engines share an instance's GPUs (and link).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    pub sched: SchedulerConfig,
    /// Engines of the pool (instances x engines per instance).
    pub engines: u32,
    /// Engines per instance: `pp` with pipeline parallelism (vLLM's virtual engines), else 1.
    pub engines_per_instance: u32,
}

impl Pool {
    fn check(&self, name: &str) -> Result<u64> {
        if self.engines == 0 {
            return Err(invalid(
                "replicas",
                format!("is 0 in the {name} pool; expected at least 1"),
            ));
        }
        if self.engines_per_instance == 0 || self.engines % self.engines_per_instance != 0 {
            return Err(invalid(
                "pp",
                format!(
                    "in the {name} pool: {} engines per instance does not divide the pool's {} engines",
                    self.engines_per_instance, self.engines
                ),
            ));
        }
        in_pool(name, self.sched.check())
    }
}

/// Names the pool (`"prefill"` or `"decode"`) in an error.
pub fn in_pool<T>(name: &str, r: Result<T>) -> Result<T> {
    r.map_err(|e| match e {
        Error::InvalidArgument { arg, message } => Error::InvalidArgument {
            arg,
            message: format!("in the {name} pool: {message}"),
        },
        other => Error::Model {
            message: format!("{name} pool: {other}"),
        },
    })
}

/// Options of a disaggregated run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisaggOptions {
    pub transfer: Transfer,
    /// Load balancer of each pool.
    pub balancer: LoadBalancer,
    pub record_itl_gaps: bool,
    /// Checked before every iteration of either pool (see [`SimOptions::stop`]). Default: never.
    pub stop: Stop,
}

impl Default for DisaggOptions {
    fn default() -> Self {
        DisaggOptions {
            transfer: Transfer::Layerwise,
            balancer: LoadBalancer::RoundRobin,
            record_itl_gaps: true,
            stop: Stop::never(),
        }
    }
}

/// What a disaggregated run produced. `requests` holds the per-request times as [`SimResult`] does (TTFT from
/// the prefill pool, the rest from the decode pool; `replica` is the decode instance, `u32::MAX` for a
/// one-token request, which never leaves the prefill pool; `busy_s` and `iterations_per_replica` are the
/// decode pool's); the other vectors are per request (trace order) or per instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DisaggResult {
    pub requests: SimResult,
    /// Prefill instance of each request.
    pub prefill_replica: Vec<u32>,
    /// KV bytes moved per request (0 for a one-token request).
    pub kv_bytes: Vec<f64>,
    /// Seconds the request's KV takes over the link alone (no queueing, no overlap).
    pub kv_transfer_s: Vec<f64>,
    /// When the KV has arrived at the decode pool (the first token's time for a one-token request).
    pub kv_ready_s: Vec<f64>,
    /// Busy seconds per prefill instance and per decode instance (sum of their engines' iterations).
    pub prefill_busy_s: Vec<f64>,
    pub decode_busy_s: Vec<f64>,
    /// Seconds each prefill instance's link spent sending.
    pub link_busy_s: Vec<f64>,
    pub prefill_iterations: u64,
    pub decode_iterations: u64,
}

fn per_instance(busy: impl Iterator<Item = f64>, per: u32) -> Vec<f64> {
    let v: Vec<f64> = busy.collect();
    v.chunks(per as usize)
        .map(|c| c.iter().sum::<f64>() / f64::from(per))
        .collect()
}

/// Simulates `requests` (sorted by arrival) on a prefill pool priced by `prefill_cost` and a decode pool priced
/// by `decode_cost`, the KV split `kv` moving over a link whose one-lane send/recv of `bytes` takes
/// `send(bytes)` seconds. Deterministic.
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    prefill_cost: &impl IterationCost,
    decode_cost: &impl IterationCost,
    prefill: &Pool,
    decode: &Pool,
    kv: &KvSplit,
    send: &impl Fn(f64) -> f64,
    requests: &[Request],
    opts: &DisaggOptions,
) -> Result<DisaggResult> {
    let blocks_p = prefill.check("prefill")?;
    let blocks_d = decode.check("decode")?;
    kv.check()?;
    sim::check_replicas_and_rows(1, requests)?;
    requests::validate(requests)?;
    // The prefill pool sees one-token requests; the decode pool the whole rows.
    let ptrace: Vec<Request> = requests
        .iter()
        .map(|r| Request {
            output_tokens: 1,
            ..*r
        })
        .collect();
    in_pool(
        "prefill",
        sim::check_rows(&prefill.sched, blocks_p, &ptrace, true),
    )?;
    in_pool(
        "decode",
        sim::check_rows(&decode.sched, blocks_d, requests, false),
    )?;
    let n = requests.len();

    // 1. Prefill pool. The framework's per-request overhead (`Framework::request_overhead_s`) is not applied to
    // disaggregated runs: no table fits it on a disaggregated deployment (their router adds its own hop).
    let popts = SimOptions {
        balancer: opts.balancer,
        record_itl_gaps: false,
        stop: opts.stop.clone(),
        max_concurrency: None,
        request_overhead_s: 0.0,
    };
    let arrivals = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.arrival_s, i as u32));
    let pre = sim::run(
        prefill_cost,
        &prefill.sched,
        blocks_p,
        prefill.engines,
        &ptrace,
        ptrace.iter().map(Seq::new).collect(),
        arrivals,
        &popts,
        false,
    )?;
    let p = &pre.res;

    // 2. KV transfers, batch by batch on each instance's link.
    let per = prefill.engines_per_instance;
    let instances = (prefill.engines / per) as usize;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (p.replica[a] / per)
            .cmp(&(p.replica[b] / per))
            .then(p.first_token_s[a].total_cmp(&p.first_token_s[b]))
            .then(p.replica[a].cmp(&p.replica[b]))
            .then(a.cmp(&b))
    });
    let mut kv_bytes = vec![0.0; n];
    let mut kv_transfer_s = vec![0.0; n];
    let mut kv_ready_s = p.first_token_s.clone();
    let mut link_free = vec![0.0_f64; instances];
    let mut link_busy = vec![0.0_f64; instances];
    let layers = f64::from(kv.layers);
    let mut at = 0;
    while at < n {
        let first = order[at] as usize;
        let (eng, end) = (p.replica[first], p.first_token_s[first]);
        let mut stop = at + 1;
        while stop < n {
            let j = order[stop] as usize;
            if p.replica[j] != eng || p.first_token_s[j] != end {
                break;
            }
            stop += 1;
        }
        let batch = &order[at..stop];
        at = stop;
        let tokens: f64 = batch
            .iter()
            .map(|&i| &requests[i as usize])
            .filter(|r| r.output_tokens > 1)
            .map(|r| f64::from(r.prompt_tokens))
            .sum();
        if tokens == 0.0 {
            continue;
        }
        let lane = kv.lane_bytes_per_token * tokens;
        let link = (eng / per) as usize;
        let free = link_free[link];
        let (done, busy) = match opts.transfer {
            Transfer::Layerwise => {
                let x = send(lane / layers);
                let w = p.first_token_iteration_s[first] * kv.window;
                let done = (free + layers * x)
                    .max(end - w + w / layers + layers * x)
                    .max(end + x);
                (done, layers * x)
            }
            Transfer::Serial => {
                let x = send(lane);
                (free.max(end) + x, x)
            }
        };
        if !done.is_finite() {
            return Err(Error::Model {
                message: format!(
                    "KV transfer of {lane} bytes per GPU priced at {done} s; expected a finite time (the link cannot carry it)"
                ),
            });
        }
        link_free[link] = done;
        link_busy[link] += busy;
        for &i in batch {
            let (i, r) = (i as usize, &requests[i as usize]);
            if r.output_tokens > 1 {
                let prompt = f64::from(r.prompt_tokens);
                kv_bytes[i] = kv.bytes_per_token * prompt;
                kv_transfer_s[i] =
                    kv.alone_s(kv.lane_bytes_per_token * prompt, opts.transfer, send);
                kv_ready_s[i] = done;
            }
        }
    }

    // 3. Decode pool: arrivals when the KV is there.
    let mut arrive: Vec<u32> = (0..n as u32)
        .filter(|&i| requests[i as usize].output_tokens > 1)
        .collect();
    arrive.sort_by(|&a, &b| {
        kv_ready_s[a as usize]
            .total_cmp(&kv_ready_s[b as usize])
            .then(a.cmp(&b))
    });
    let seqs = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.output_tokens > 1 {
                Seq::arrived(r, p.first_token_s[i])
            } else {
                Seq::new(r)
            }
        })
        .collect();
    let dopts = SimOptions {
        balancer: opts.balancer,
        record_itl_gaps: opts.record_itl_gaps,
        stop: opts.stop.clone(),
        max_concurrency: None,
        request_overhead_s: 0.0,
    };
    let dec = sim::run(
        decode_cost,
        &decode.sched,
        blocks_d,
        decode.engines,
        requests,
        seqs,
        arrive.iter().map(|&i| (kv_ready_s[i as usize], i)),
        &dopts,
        true,
    )?;

    // 4. Per request: TTFT from the prefill pool, the rest from the decode pool.
    let mut res = dec.res;
    let dper = decode.engines_per_instance;
    for (i, r) in requests.iter().enumerate() {
        res.first_token_s[i] = p.first_token_s[i];
        res.first_token_iteration_s[i] = p.first_token_iteration_s[i];
        res.preemptions[i] += p.preemptions[i];
        if r.output_tokens == 1 {
            res.finish_s[i] = p.first_token_s[i];
            res.replica[i] = u32::MAX;
        } else {
            res.replica[i] /= dper;
        }
    }
    res.set_latencies(requests);
    Ok(DisaggResult {
        prefill_replica: p.replica.iter().map(|&r| r / per).collect(),
        kv_bytes,
        kv_transfer_s,
        kv_ready_s,
        prefill_busy_s: per_instance(pre.replicas.iter().map(sim::Replica::busy_s), per),
        decode_busy_s: per_instance(dec.replicas.iter().map(sim::Replica::busy_s), dper),
        link_busy_s: link_busy,
        prefill_iterations: pre.replicas.iter().map(sim::Replica::iterations).sum(),
        decode_iterations: dec.replicas.iter().map(sim::Replica::iterations).sum(),
        requests: res,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::requests::poisson;
    use crate::serve::sim::tests::{bench_config, cfg, lengths, linear};
    use crate::serve::Batch;

    const P: f64 = 0.05; // a prefill iteration
    const D: f64 = 0.01; // a decode iteration

    fn pool(engines: u32) -> Pool {
        Pool {
            sched: cfg(64, 4096, false, 1e6),
            engines,
            engines_per_instance: 1,
        }
    }

    fn req(arrival_s: f64, prompt_tokens: u32, output_tokens: u32) -> Request {
        Request {
            arrival_s,
            prompt_tokens,
            output_tokens,
        }
    }

    /// Prefill iterations cost P, decode iterations D (a mixed one P).
    fn phase_cost(b: &Batch) -> f64 {
        if b.prefill.is_empty() {
            D
        } else {
            P
        }
    }

    const KV: KvSplit = KvSplit {
        bytes_per_token: 1000.0,
        lane_bytes_per_token: 250.0,
        layers: 10,
        window: 1.0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
    }

    /// One prefill and one decode instance priced by [`phase_cost`].
    fn phase_run(
        kv: &KvSplit,
        send: &impl Fn(f64) -> f64,
        r: &[Request],
        opts: &DisaggOptions,
    ) -> DisaggResult {
        simulate(
            &phase_cost,
            &phase_cost,
            &pool(1),
            &pool(1),
            kv,
            send,
            r,
            opts,
        )
        .unwrap()
    }

    /// A link of latency `alpha` and `beta` seconds per byte.
    fn link(alpha: f64, beta: f64) -> impl Fn(f64) -> f64 {
        move |b: f64| alpha + beta * b
    }

    #[test]
    fn one_request_exposes_only_the_last_layer_when_the_link_keeps_up() {
        let r = [req(1.0, 400, 5)];
        let lane = 250.0 * 400.0;
        for (alpha, beta) in [(1e-4, 1e-9), (2e-3, 1e-7), (0.0, 0.0)] {
            let send = link(alpha, beta);
            let x = alpha + beta * lane / 10.0;
            let opts = DisaggOptions::default();
            let out = phase_run(&KV, &send, &r, &opts);
            // Layer l ready at 1 + l P/10; the link sends each in x: done = max(1 + P/10 + 10x, 1 + P + x).
            let done = (1.0 + P / 10.0 + 10.0 * x).max(1.0 + P + x);
            let q = &out.requests;
            assert!(close(q.ttft_s[0], P), "{:?}", q.ttft_s);
            assert!(close(out.kv_ready_s[0], done));
            assert!(close(out.kv_transfer_s[0], 10.0 * x));
            assert_eq!(out.kv_bytes[0], 400_000.0);
            // Four decodes after the KV arrives; the exposed transfer lands in the first gap.
            assert!(close(q.finish_s[0], done + 4.0 * D));
            assert!(close(q.max_itl_s[0], done - (1.0 + P) + D));
            assert!(close(q.tpot_s[0], (done + 4.0 * D - 1.0 - P) / 4.0));
            assert_eq!(q.itl_gaps_s.len(), 4);
            // Serial: the whole lane after the prefill.
            let opts = DisaggOptions {
                transfer: Transfer::Serial,
                ..opts
            };
            let out = phase_run(&KV, &send, &r, &opts);
            let xs = alpha + beta * lane;
            assert!(close(out.kv_ready_s[0], 1.0 + P + xs));
            assert!(close(out.kv_transfer_s[0], xs));
            assert!(close(out.requests.e2e_s[0], P + xs + 4.0 * D));
        }
    }

    #[test]
    fn pipeline_window_and_link_queue() {
        // pp = 2: the sending stage computes its 10 layers in the last half of the iteration.
        let kv = KvSplit { window: 0.5, ..KV };
        let send = link(0.0, 4e-7); // x = 250 * 400 / 10 * 4e-7 = 4 ms per layer, slower than P / 20
        let r = [req(0.0, 400, 3)];
        let out = phase_run(&kv, &send, &r, &DisaggOptions::default());
        let x = 4e-3;
        let done = (P - P / 2.0 + P / 20.0 + 10.0 * x).max(P + x);
        assert!(
            close(out.kv_ready_s[0], done),
            "{} vs {done}",
            out.kv_ready_s[0]
        );
        // Two requests prefilled in one iteration send together; the next iteration's queue behind them.
        let r = [req(0.0, 400, 3), req(0.0, 400, 3), req(0.01, 400, 3)];
        let out = phase_run(&KV, &send, &r, &DisaggOptions::default());
        let x2 = 2.0 * x; // 800 tokens per layer message
        let first = (P / 10.0 + 10.0 * x2).max(P + x2);
        assert!(close(out.kv_ready_s[0], first) && close(out.kv_ready_s[1], first));
        // The third request's prefill runs [P, 2P]; its link starts after the first batch's transfer.
        let third = (first + 10.0 * x)
            .max(P + P / 10.0 + 10.0 * x)
            .max(2.0 * P + x);
        assert!(
            close(out.kv_ready_s[2], third),
            "{} vs {third}",
            out.kv_ready_s[2]
        );
        assert!(close(out.link_busy_s[0], 10.0 * x2 + 10.0 * x));
        assert!(close(out.requests.ttft_s[2], 2.0 * P - 0.01));
    }

    #[test]
    fn ideal_link_decodes_as_colocated() {
        // The co-located engine with the same cost: its decode span (first token to last) equals the
        // disaggregated one when the KV moves in no time.
        let cost = |b: &Batch| 3e-3 + 2e-5 * b.tokens() + 1e-8 * b.decode_context_sum;
        for (prompt, output) in [(100, 2), (700, 50), (3000, 129)] {
            let r = [req(0.5, prompt, output)];
            let co = sim::simulate(&cost, &cfg(64, 4096, false, 1e6), 1, &r).unwrap();
            let dis = simulate(
                &cost,
                &cost,
                &pool(1),
                &pool(1),
                &KV,
                &|_: f64| 0.0,
                &r,
                &DisaggOptions::default(),
            )
            .unwrap();
            let q = &dis.requests;
            assert_eq!(q.ttft_s, co.ttft_s);
            assert!(close(
                q.finish_s[0] - q.first_token_s[0],
                co.finish_s[0] - co.first_token_s[0]
            ));
            assert_eq!(q.itl_gaps_s, co.itl_gaps_s);
            assert_eq!(dis.decode_iterations, co.iterations - 1);
        }
    }

    #[test]
    fn poisson_run_keeps_every_token_and_is_deterministic() {
        let (p, o) = lengths();
        let trace = poisson(20.0, 1500, p, o, 5).unwrap();
        let pre = Pool {
            sched: cfg(64, 8192, true, 1e5),
            engines: 2,
            engines_per_instance: 1,
        };
        // A small decode cache: preemptions (recomputed on the decode machine) happen.
        let dec = Pool {
            sched: SchedulerConfig {
                max_model_len: 8192,
                ..cfg(256, 8192, true, 12_000.0)
            },
            engines: 2,
            engines_per_instance: 1,
        };
        let send = link(2e-5, 1e-10);
        for balancer in [LoadBalancer::RoundRobin, LoadBalancer::LeastOutstanding] {
            let opts = DisaggOptions {
                balancer,
                ..DisaggOptions::default()
            };
            let r = simulate(&linear, &linear, &pre, &dec, &KV, &send, &trace, &opts).unwrap();
            let q = &r.requests;
            let n_gaps: u32 = trace.iter().map(|x| x.output_tokens - 1).sum();
            assert_eq!(q.itl_gaps_s.len(), n_gaps as usize);
            assert!(q.preemptions.iter().sum::<u32>() > 0);
            for i in 0..trace.len() {
                assert!(q.first_token_s[i] > q.arrival_s[i]);
                assert!(r.kv_ready_s[i] >= q.first_token_s[i]);
                assert!(q.finish_s[i] >= r.kv_ready_s[i]);
                assert!(r.kv_transfer_s[i] > 0.0);
            }
            let gaps: f64 = q.itl_gaps_s.iter().map(|&g| f64::from(g)).sum();
            let spans: f64 = (0..trace.len())
                .map(|i| q.finish_s[i] - q.first_token_s[i])
                .sum();
            assert!((gaps / spans - 1.0).abs() < 1e-5);
            assert!(r
                .prefill_busy_s
                .iter()
                .all(|&b| b > 0.0 && b <= q.makespan_s));
            assert_eq!(
                r,
                simulate(&linear, &linear, &pre, &dec, &KV, &send, &trace, &opts).unwrap()
            );
        }
    }

    /// A stop stops either pool's loop (requested before the run: the prefill pool's first iteration; by the
    /// decode cost: the decode pool); unrequested, the result is the plain run's.
    #[test]
    fn a_requested_stop_ends_a_disaggregated_run() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let (p, o) = lengths();
        let trace = poisson(20.0, 300, p, o, 5).unwrap();
        let pool = |cap: f64| Pool {
            sched: SchedulerConfig {
                max_model_len: 8192,
                ..cfg(64, 8192, true, cap)
            },
            engines: 1,
            engines_per_instance: 1,
        };
        let (pre, dec) = (pool(1e5), pool(1e5));
        let send = link(2e-5, 1e-10);
        let flag = Arc::new(AtomicBool::new(false));
        let opts = DisaggOptions {
            stop: Stop::on(flag.clone()),
            ..DisaggOptions::default()
        };
        let plain_opts = DisaggOptions::default();
        let plain = simulate(
            &linear,
            &linear,
            &pre,
            &dec,
            &KV,
            &send,
            &trace,
            &plain_opts,
        );
        let watched = simulate(&linear, &linear, &pre, &dec, &KV, &send, &trace, &opts);
        assert_eq!(plain.unwrap(), watched.unwrap());
        let stopping = |b: &Batch| {
            flag.store(true, Ordering::Relaxed);
            linear(b)
        };
        let r = simulate(&linear, &stopping, &pre, &dec, &KV, &send, &trace, &opts);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        let r = simulate(&linear, &linear, &pre, &dec, &KV, &send, &trace, &opts);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
    }

    #[test]
    fn bad_pools_are_named() {
        let r = [req(0.0, 100, 5)];
        let send = link(0.0, 0.0);
        let o = DisaggOptions::default();
        let e = |pre: &Pool, dec: &Pool, kv: &KvSplit, r: &[Request]| {
            simulate(&linear, &linear, pre, dec, kv, &send, r, &o)
                .unwrap_err()
                .to_string()
        };
        let m = e(&pool(0), &pool(1), &KV, &r);
        assert!(m.contains("`replicas`") && m.contains("prefill"), "{m}");
        let m = e(&pool(1), &pool(0), &KV, &r);
        assert!(m.contains("`replicas`") && m.contains("decode"), "{m}");
        let small = Pool {
            sched: cfg(8, 4096, false, 64.0),
            ..pool(1)
        };
        let m = e(&pool(1), &small, &KV, &r);
        assert!(
            m.contains("row 0") && m.contains("decode pool") && m.contains("blocks"),
            "{m}"
        );
        let m = e(&small, &pool(1), &KV, &r);
        assert!(m.contains("prefill pool") && m.contains("blocks"), "{m}");
        let nan = KvSplit {
            lane_bytes_per_token: f64::NAN,
            ..KV
        };
        assert!(e(&pool(1), &pool(1), &nan, &r).contains("lane_bytes_per_token"));
        // An infinite send time (a link that cannot carry it) is an error, not an infinite latency.
        let inf = |_: f64| f64::INFINITY;
        assert!(simulate(&linear, &linear, &pool(1), &pool(1), &KV, &inf, &r, &o).is_err());
        // One-token requests never leave the prefill pool.
        let out = simulate(
            &linear,
            &linear,
            &pool(1),
            &pool(1),
            &KV,
            &send,
            &[req(0.0, 10, 1)],
            &o,
        )
        .unwrap();
        assert_eq!(out.requests.replica, [u32::MAX]);
        assert_eq!(out.kv_bytes, [0.0]);
        assert_eq!(out.requests.e2e_s, out.requests.ttft_s);
    }

    /// Speed check: 10,000 Poisson requests, co-located vs disaggregated with the same linear cost.
    /// `cargo test --release -p perfmodel-core bench_disagg_10k -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing run; see the doc comment"]
    fn bench_disagg_10k() {
        let (p, o) = lengths();
        let trace = poisson(40.0, 10_000, p, o, 7).unwrap();
        let c = bench_config();
        let pl = Pool {
            sched: c,
            engines: 1,
            engines_per_instance: 1,
        };
        let send = link(2e-5, 1e-10);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            sim::simulate(&linear, &c, 1, &trace).unwrap();
            let co = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            simulate(
                &linear,
                &linear,
                &pl,
                &pl,
                &KV,
                &send,
                &trace,
                &DisaggOptions::default(),
            )
            .unwrap();
            let dis = t.elapsed().as_secs_f64();
            println!(
                "10k requests: co-located {:.1} ms, disaggregated {:.1} ms ({:.2}x)",
                co * 1e3,
                dis * 1e3,
                dis / co
            );
        }
    }
}
