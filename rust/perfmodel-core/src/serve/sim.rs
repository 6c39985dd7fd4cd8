//! Discrete-event simulator of continuous batching (iteration-level scheduling, Yu et al., "Orca", OSDI
//! 2022) over one or more engine replicas, with a paged KV cache (Kwon et al., "Efficient Memory
//! Management for LLM Serving with PagedAttention", SOSP 2023) and the vLLM scheduler's policies as its
//! documentation describes them (docs.vllm.ai: "Optimization and Tuning" — preemption, chunked prefill;
//! engine arguments `max_num_seqs`, `max_num_batched_tokens`, `block_size`, `max_model_len`,
//! `enable_chunked_prefill`). SGLang documents the same knobs (`max_running_requests`,
//! `chunked_prefill_size`) and the same recompute-on-retraction behaviour.
//!
//! # Model
//!
//! Each replica owns an FCFS waiting queue, a running list (in admission order) and
//! `floor(kv_capacity_tokens / block_size)` KV blocks. A sequence that holds `L` tokens in its cache
//! holds `ceil(L / block_size)` blocks. One engine iteration is built as follows, priced by
//! [`IterationCost::iteration_s`], and all its tokens appear at the end of the iteration:
//!
//! **Chunked prefill on** (vLLM V1 and v0 with `enable_chunked_prefill`): decode-first. The running
//! list is walked in admission order: a decoding sequence takes one token (its context is its cached
//! tokens plus the token fed); a sequence whose prompt is partly prefilled takes `min(remaining prompt, remaining
//! token budget)` tokens (it is the last admitted, so it comes after the decodes and before any new
//! admission). Then waiting requests are admitted FCFS while `running < max_num_seqs`, budget remains
//! and the free blocks cover the request's whole prompt; the first chunk is `min(prompt, budget)`.
//!
//! **Chunked prefill off** (vLLM v0 default scheduler): prefill-prioritised. If the head of the waiting
//! queue can be admitted (`running < max_num_seqs`, the whole prompt fits the remaining token budget and
//! the free blocks), the iteration admits whole prompts FCFS and holds *only* prefills; running decodes
//! wait. Otherwise the iteration is a decode iteration over all running sequences.
//!
//! **KV blocks and preemption.** Admission allocates the blocks of the whole prompt (vLLM's
//! `can_allocate` check, TensorRT-LLM's `max_utilization` policy; no watermark is modelled), or with
//! [`SchedulerConfig::reserve_output`] the blocks of the whole request, prompt plus every output token still to
//! come (TensorRT-LLM's `guaranteed_no_evict`, its default): such a sequence never needs another block, so
//! nothing is ever preempted. A decode that crosses a block boundary needs one
//! more block; when none is free, the most recently admitted running sequence (the tail of the running
//! list, possibly the sequence itself) is preempted by *recompute*, vLLM's default: its blocks are
//! freed and it goes back to the *front* of the waiting queue; when readmitted it prefills its prompt
//! plus the `g` tokens it had generated, and the iteration that ends that prefill emits token `g + 1`
//! (the time since token `g` counts as one inter-token gap). Several victims of one iteration keep their
//! relative order at the front of the queue.
//!
//! **Tokens.** The iteration that ends a prompt's prefill emits the first output token (TTFT = end of
//! that iteration − arrival); each decode iteration emits one more; a request finishes with its
//! `output_tokens`-th token (so `output_tokens = 1` finishes at its first token and never decodes), and
//! its blocks are freed at the end of that iteration.
//!
//! **Arrivals and load balancing.** A request arriving at `t` can join an iteration that starts at
//! `t` or later, never one already running. A load balancer assigns each arrival to a replica:
//! round-robin in trace order, or least outstanding requests (assigned and not finished by `t`; ties to
//! the lowest replica index). An idle replica waits for its next request.
//!
//! **Arrivals with their KV** (the decode pool of [`super::disagg`]): a request whose prompt was prefilled in
//! another pool arrives with its prompt's KV and its first token. At the start of each iteration such requests
//! at the head of the waiting queue are moved to the running list FCFS while `running < max_num_seqs` and the
//! free blocks hold `ceil(prompt / block_size)` blocks, and decode in that iteration; the rest wait. Co-located
//! runs never have such requests, and their schedules are unchanged.
//!
//! **Closed-loop clients** ([`SimOptions::max_concurrency`] = `C`; `vllm bench serve --max-concurrency`, SGLang
//! `bench_serving --max-concurrency`, genai-perf/aiperf concurrency mode, InferenceMAX): requests are sent in
//! trace order with at most `C` in flight. Request `k` is sent at `max(its trace arrival, the send of request
//! k − 1, the (k − C + 1)-th earliest finish of the run)` (the first `C` need no free slot): a client whose
//! request finished sends the next one at that instant, and it can join the iteration starting then. Its
//! `arrival_s` in the result is that send time, and TTFT, TPOT and end-to-end latency count from it, as those
//! clients time a request from when they send it (after the concurrency semaphore is acquired), not from a
//! schedule. With every trace arrival at 0 the run is the benchmark's saturated loop: `C` requests always in
//! flight until the trace runs out, so throughput is `C / mean E2E` (Little's law) over the busy part.
//!
//! # Rejected inputs (errors name the 0-based trace row)
//!
//! * `prompt_tokens + output_tokens > max_model_len` (vLLM rejects such requests);
//! * a request whose largest cache, `prompt + output − 1` tokens (the KV written by its last decode;
//!   `prompt + output` with `reserve_output`), needs more blocks than a replica has: it could never finish even alone (vLLM would preempt it
//!   forever);
//! * chunked prefill off and `prompt_tokens > max_num_batched_tokens`: vLLM refuses such a configuration
//!   (without chunking it requires `max_num_batched_tokens >= max_model_len`). A *recomputed* prefill
//!   (prompt + generated tokens, after a preemption) longer than the budget is admitted when it is the
//!   first prefill of its iteration, so it can always make progress.
//!
//! # Outputs
//!
//! Per-request times, ITL as per-request TPOT (the mean gap) and maximum gap, and every inter-token gap
//! of the run in one `Vec<f32>` (exactly `sum(output_tokens − 1)` entries, 4 bytes each; 10,000 requests
//! × 200 tokens is 8 MB), from which [`SimResult::itl_quantile_s`] gives p50/p99 ITL. Set
//! [`SimOptions::record_itl_gaps`] to false to skip that vector on very large runs.
//!
//! # Speed
//!
//! The loop allocates nothing per iteration (the [`Batch`] and the schedule list are reused) and does
//! O(running sequences) work per iteration. The `#[ignore]`d test `bench_10k_requests` times 10,000
//! Poisson requests (prompt ~500, output ~200) with a linear cost:
//! `cargo test --release -p perfmodel-core bench_10k -- --ignored --nocapture`.
//! Measured: 22–34 ms on one core of a shared 2-core container (33,349 iterations, 1.99 M gaps), about
//! 3 ms less without gap recording.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::batch::{Batch, PrefillChunk};
use super::requests::{self, Request};
use crate::error::{invalid, Error, Result};
use crate::stop::Stop;

/// The time of one engine iteration. The iteration model implements it; tests use simple closed forms.
/// Any `Fn(&Batch) -> f64` closure is one too.
pub trait IterationCost {
    /// Seconds for the engine to run `batch` (one forward pass and sampling); must be finite and >= 0.
    fn iteration_s(&self, batch: &Batch) -> f64;
}

impl<F: Fn(&Batch) -> f64> IterationCost for F {
    fn iteration_s(&self, batch: &Batch) -> f64 {
        self(batch)
    }
}

/// The time of one lockstep iteration of data-parallel attention ranks (attention DP with expert-parallel MoE
/// layers): `batches[r]` is rank `r`'s batch (empty when it has nothing to run); every rank waits for the
/// slowest. The iteration model implements it ([`crate::serve::Engine::group_iteration`]).
pub trait GroupCost {
    /// Seconds of the lockstep iteration; must be finite and >= 0.
    fn group_iteration_s(&self, batches: &[Batch]) -> f64;
}

impl<F: Fn(&[Batch]) -> f64> GroupCost for F {
    fn group_iteration_s(&self, batches: &[Batch]) -> f64 {
        self(batches)
    }
}

/// One replica's scheduler limits (vLLM engine arguments of the same names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerConfig {
    /// Most sequences in the running list (decoding or prefilling) at once.
    pub max_num_seqs: u32,
    /// Most new tokens per iteration (prefill tokens + one per decode); must be >= `max_num_seqs`.
    pub max_num_batched_tokens: u32,
    /// Split prompts across iterations and mix them with decodes (see the module notes).
    pub chunked_prefill: bool,
    /// Tokens per KV block.
    pub block_size: u32,
    /// KV-cache capacity of one replica in tokens; the replica holds `floor(cap / block_size)` blocks.
    pub kv_capacity_tokens: f64,
    /// Largest prompt + output of a request.
    pub max_model_len: u32,
    /// Admission reserves the blocks of the whole request (prompt + remaining output), TensorRT-LLM's
    /// `guaranteed_no_evict`; false: the prompt's blocks only, growing per decode with recompute preemption
    /// (vLLM, TensorRT-LLM's `max_utilization`).
    pub reserve_output: bool,
}

impl SchedulerConfig {
    /// Checks the limits and returns the number of KV blocks per replica.
    pub fn check(&self) -> Result<u64> {
        if self.max_num_seqs == 0 {
            return Err(invalid("max_num_seqs", "is 0; expected >= 1"));
        }
        if self.max_num_batched_tokens < self.max_num_seqs {
            return Err(invalid(
                "max_num_batched_tokens",
                format!(
                    "is {}; expected >= max_num_seqs ({}) so that every running sequence can decode",
                    self.max_num_batched_tokens, self.max_num_seqs
                ),
            ));
        }
        if self.block_size == 0 {
            return Err(invalid("block_size", "is 0; expected >= 1"));
        }
        if self.max_model_len == 0 {
            return Err(invalid("max_model_len", "is 0; expected >= 1"));
        }
        let cap = self.kv_capacity_tokens;
        if !cap.is_finite() || cap < f64::from(self.block_size) {
            return Err(invalid(
                "kv_capacity_tokens",
                format!(
                    "is {cap}; expected a finite number >= block_size ({})",
                    self.block_size
                ),
            ));
        }
        Ok((cap / f64::from(self.block_size)).floor() as u64)
    }
}

/// How arriving requests are spread over replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadBalancer {
    /// Request `i` goes to replica `i mod replicas`.
    #[default]
    RoundRobin,
    /// The replica with the fewest requests assigned and not yet finished at the arrival time; ties go
    /// to the lowest index.
    LeastOutstanding,
}

/// Options beyond the per-replica scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    pub balancer: LoadBalancer,
    /// Keep every inter-token gap in [`SimResult::itl_gaps_s`] (4 bytes per generated token after the
    /// first). Default true.
    pub record_itl_gaps: bool,
    /// Checked before every iteration: once requested the run ends with [`crate::Error::Interrupted`].
    /// Default: never.
    pub stop: Stop,
    /// Closed-loop clients: at most this many requests in flight, sent in trace order (see the module notes);
    /// `None` (default): every request is sent at its trace arrival. Must be >= 1.
    pub max_concurrency: Option<u32>,
    /// Seconds from a request's send (its arrival, or a closed-loop client's send) to its admission into a
    /// replica's waiting queue: the framework's per-request work outside the GPU iterations
    /// ([`crate::serve::Framework::request_overhead_s`]). The request is timed from its send, so the delay
    /// adds to its TTFT and end-to-end latency, and a closed-loop slot stays taken meanwhile. Default 0;
    /// must be finite and >= 0.
    pub request_overhead_s: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            balancer: LoadBalancer::RoundRobin,
            record_itl_gaps: true,
            stop: Stop::never(),
            max_concurrency: None,
            request_overhead_s: 0.0,
        }
    }
}

/// Checks [`SimOptions::max_concurrency`]: `Some(0)` is an error.
pub(crate) fn check_concurrency(c: Option<u32>) -> Result<()> {
    if c == Some(0) {
        return Err(invalid(
            "max_concurrency",
            "is 0; expected a whole number >= 1 (requests in flight)",
        ));
    }
    Ok(())
}

/// Checks [`SimOptions::request_overhead_s`]: finite and >= 0.
fn check_request_overhead(d: f64) -> Result<()> {
    if !(d.is_finite() && d >= 0.0) {
        return Err(invalid(
            "request_overhead_s",
            format!("is {d}; expected a number of seconds >= 0"),
        ));
    }
    Ok(())
}

/// The closed-loop client of [`SimOptions::max_concurrency`]: the finish times of the run, consumed in time
/// order as freed slots. Finish times are finite and >= 0, so their IEEE bits order as the numbers do.
struct Gate {
    cap: usize,
    /// Finish times not yet consumed by a send (bits of non-negative f64, min-heap).
    free: BinaryHeap<Reverse<u64>>,
    /// Send time of the previous request (requests are sent in order).
    last_send: f64,
}

impl Gate {
    fn new(cap: Option<u32>) -> Option<Gate> {
        cap.map(|c| Gate {
            cap: c as usize,
            free: BinaryHeap::new(),
            last_send: 0.0,
        })
    }

    /// Moves the finish times the engine recorded into the heap.
    fn collect<C>(&mut self, eng: &mut Engine<'_, C>) {
        for f in eng.finishes.drain(..) {
            self.free.push(Reverse(f.to_bits()));
        }
    }

    /// The earliest unconsumed finish (infinity when none).
    fn earliest(&self) -> f64 {
        self.free
            .peek()
            .map_or(f64::INFINITY, |Reverse(b)| f64::from_bits(*b))
    }

    /// The send time of request number `k` (0-based, in trace order) arriving at `arrival`: once `k >= cap`,
    /// `step_earliest(m)` is called until every unit with work has reached `m`, the earliest unconsumed finish
    /// (it steps the unit with work whose clock is smallest and below `m`, returning false when there is none);
    /// that finish is then the slot this request takes.
    fn send_time<'a, C>(
        &mut self,
        k: usize,
        arrival: f64,
        eng: &mut Engine<'a, C>,
        mut step_earliest: impl FnMut(&mut Engine<'a, C>, f64) -> Result<bool>,
    ) -> Result<f64> {
        let mut t = arrival.max(self.last_send);
        if k >= self.cap {
            loop {
                self.collect(eng);
                if !step_earliest(eng, self.earliest())? {
                    break;
                }
            }
            let Some(Reverse(b)) = self.free.pop() else {
                return Err(Error::Model {
                    message: format!(
                        "serve simulator: request {k} waits for a free slot but nothing is in flight (internal error)"
                    ),
                });
            };
            t = t.max(f64::from_bits(b));
        }
        self.last_send = t;
        Ok(t)
    }
}

/// What a simulation produced. Per-request vectors are in trace order; times are seconds from t = 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimResult {
    pub arrival_s: Vec<f64>,
    pub first_token_s: Vec<f64>,
    pub finish_s: Vec<f64>,
    /// `first_token_s − arrival_s`.
    pub ttft_s: Vec<f64>,
    /// `(finish_s − first_token_s) / (output_tokens − 1)`, the mean inter-token gap; 0 when one token.
    pub tpot_s: Vec<f64>,
    /// `finish_s − arrival_s`.
    pub e2e_s: Vec<f64>,
    /// Longest gap between two consecutive tokens of the request (0 when one token).
    pub max_itl_s: Vec<f64>,
    /// Times the request was preempted (recomputed).
    pub preemptions: Vec<u32>,
    /// Replica that served the request.
    pub replica: Vec<u32>,
    /// Every inter-token gap of every request (order: as emitted), empty unless
    /// [`SimOptions::record_itl_gaps`].
    pub itl_gaps_s: Vec<f32>,
    /// Engine iterations over all replicas.
    pub iterations: u64,
    pub iterations_per_replica: Vec<u64>,
    /// Latest finish time (0 for an empty trace).
    pub makespan_s: f64,
    /// Sum of iteration times per replica.
    pub busy_s: Vec<f64>,
    /// Duration of the iteration that emitted each request's first token (its last prefill iteration), s;
    /// the disaggregated simulator overlaps the KV transfer with it ([`super::disagg`]). 0 for a request whose
    /// first token came from another pool.
    pub first_token_iteration_s: Vec<f64>,
}

impl SimResult {
    /// TTFT, end-to-end latency, TPOT (0 for a one-token request) and the makespan from each request's arrival,
    /// first-token and finish times.
    pub(crate) fn set_latencies(&mut self, requests: &[Request]) {
        let since_arrival =
            |t: &[f64]| -> Vec<f64> { t.iter().zip(&self.arrival_s).map(|(t, a)| t - a).collect() };
        self.ttft_s = since_arrival(&self.first_token_s);
        self.e2e_s = since_arrival(&self.finish_s);
        self.tpot_s = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if r.output_tokens > 1 {
                    (self.finish_s[i] - self.first_token_s[i]) / f64::from(r.output_tokens - 1)
                } else {
                    0.0
                }
            })
            .collect();
        self.makespan_s = self.finish_s.iter().fold(0.0, |m: f64, &f| m.max(f));
    }

    /// Quantile `q` in [0, 1] of all inter-token gaps (linear interpolation between order statistics,
    /// numpy's default). Errors when no gaps were recorded.
    pub fn itl_quantile_s(&self, q: f64) -> Result<f64> {
        let v: Vec<f64> = self.itl_gaps_s.iter().map(|&g| f64::from(g)).collect();
        quantile(&v, q)
    }
}

/// Quantile `q` in [0, 1] of `values` with linear interpolation between order statistics (numpy's
/// default `linear` method). Errors on an empty slice, NaN values or `q` outside [0, 1].
pub fn quantile(values: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&q) {
        return Err(invalid("q", format!("is {q}; expected 0 <= q <= 1")));
    }
    if values.is_empty() {
        return Err(invalid("values", "is empty"));
    }
    if values.iter().any(|v| v.is_nan()) {
        return Err(invalid("values", "contains NaN"));
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = q * (v.len() - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    Ok(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

/// Per-request state during the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seq {
    prompt: u32,
    output: u32,
    /// Tokens to prefill at (re)admission: the prompt, plus the generated tokens after a preemption.
    prefill_len: u32,
    /// Tokens whose KV is in the cache (for a waiting sequence: > 0 only when its KV arrived from a prefill
    /// pool, see [`Seq::arrived`]).
    kv: u32,
    generated: u32,
    blocks: u32,
    last_token_s: f64,
}

impl Seq {
    /// A request before its prefill.
    pub(crate) fn new(r: &Request) -> Seq {
        Seq {
            prompt: r.prompt_tokens,
            output: r.output_tokens,
            prefill_len: r.prompt_tokens,
            kv: 0,
            generated: 0,
            blocks: 0,
            last_token_s: 0.0,
        }
    }

    /// A request whose prompt was prefilled elsewhere (a prefill pool) and whose first token was emitted at
    /// `first_token_s`: its prompt's KV arrives with it, and its next step is a decode.
    pub(crate) fn arrived(r: &Request, first_token_s: f64) -> Seq {
        Seq {
            kv: r.prompt_tokens,
            generated: 1,
            last_token_s: first_token_s,
            ..Seq::new(r)
        }
    }
}

/// One entry of an iteration's schedule: `tokens` new tokens for `seq`; `decode` for a decode step.
#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u32,
    tokens: u32,
    decode: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Replica {
    now: f64,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    free_blocks: u64,
    busy_s: f64,
    iterations: u64,
    assigned: u64,
    finished: u64,
    /// Requests finished by the iteration that ended at `now`.
    finished_last: u64,
}

impl Replica {
    fn has_work(&self) -> bool {
        !self.running.is_empty() || !self.waiting.is_empty()
    }

    /// Requests assigned and not finished by time `t`, once no iteration starts in [`t`, `now`): only
    /// the last iteration can end after `t`, and its finishes are then still in the future.
    fn outstanding_at(&self, t: f64) -> u64 {
        let pending = if self.now > t { self.finished_last } else { 0 };
        self.assigned - self.finished + pending
    }
}

/// State shared by the replicas while stepping (one replica steps at a time).
struct Engine<'a, C> {
    cost: &'a C,
    cfg: &'a SchedulerConfig,
    seqs: Vec<Seq>,
    batch: Batch,
    slots: Vec<Slot>,
    res: SimResult,
    record_gaps: bool,
    /// Some waiting sequences bring their prompt's KV (a decode pool, [`super::disagg`]).
    arrivals_with_kv: bool,
    /// Checked before every iteration.
    stop: Stop,
    /// Record each finish time in `finishes` (closed-loop runs).
    track_finishes: bool,
    /// Finish times since the closed-loop client last collected them.
    finishes: Vec<f64>,
}

impl<'a, C> Engine<'a, C> {
    /// An engine over `seqs` (one per request, in order) with its per-request result vectors sized, and room
    /// for every inter-token gap still to come when `record_gaps`.
    fn new(
        cost: &'a C,
        cfg: &'a SchedulerConfig,
        requests: &[Request],
        seqs: Vec<Seq>,
        opts: &SimOptions,
        arrivals_with_kv: bool,
    ) -> Self {
        let record_gaps = opts.record_itl_gaps;
        let n = requests.len();
        let gaps: usize = if record_gaps {
            seqs.iter()
                .map(|s| (s.output - s.generated.max(1)) as usize)
                .sum()
        } else {
            0
        };
        Engine {
            cost,
            cfg,
            seqs,
            batch: Batch::default(),
            slots: Vec::with_capacity(cfg.max_num_seqs as usize + 1),
            res: SimResult {
                arrival_s: requests.iter().map(|r| r.arrival_s).collect(),
                first_token_s: vec![0.0; n],
                finish_s: vec![0.0; n],
                max_itl_s: vec![0.0; n],
                preemptions: vec![0; n],
                replica: vec![0; n],
                itl_gaps_s: Vec::with_capacity(gaps),
                first_token_iteration_s: vec![0.0; n],
                ..SimResult::default()
            },
            record_gaps,
            arrivals_with_kv,
            stop: opts.stop.clone(),
            track_finishes: opts.max_concurrency.is_some(),
            finishes: Vec::new(),
        }
    }
}

/// `count` idle replicas (or attention ranks), each with `blocks` free KV blocks.
fn new_replicas(count: u32, blocks: u64) -> Vec<Replica> {
    (0..count)
        .map(|_| Replica {
            free_blocks: blocks,
            ..Replica::default()
        })
        .collect()
}

/// What [`run`] returns: the result (per-request vectors filled for the requests it served) and the replicas.
pub(crate) struct Run {
    pub res: SimResult,
    pub replicas: Vec<Replica>,
}

impl Replica {
    pub(crate) fn busy_s(&self) -> f64 {
        self.busy_s
    }

    pub(crate) fn iterations(&self) -> u64 {
        self.iterations
    }
}

impl<C: IterationCost> Engine<'_, C> {
    /// Runs iterations of `rep` while it has work and the next iteration starts before `t`.
    fn advance(&mut self, rep: &mut Replica, r: usize, t: f64) -> Result<()> {
        while rep.has_work() && rep.now < t {
            self.step(rep, r)?;
        }
        Ok(())
    }

    /// One iteration of replica `r`.
    fn step(&mut self, rep: &mut Replica, r: usize) -> Result<()> {
        self.stop.check()?;
        self.schedule(rep, r)?;
        let dt = self.cost.iteration_s(&self.batch);
        self.check_dt(dt)?;
        self.commit(rep, dt);
        Ok(())
    }
}

impl<C: GroupCost> Engine<'_, C> {
    /// Runs lockstep iterations of the ranks `group` (global rank of the first: `first`) while any has work and
    /// the next iteration starts before `t`.
    fn advance_group(
        &mut self,
        group: &mut [Replica],
        first: usize,
        scratch: &mut Lockstep,
        t: f64,
    ) -> Result<()> {
        while group.iter().any(Replica::has_work) && group[0].now < t {
            self.step_group(group, first, scratch)?;
        }
        Ok(())
    }

    /// One lockstep iteration: each rank with work schedules its batch as a replica would, the group's cost
    /// prices all the batches together, and every rank (idle ones too: they join the MoE collectives) ends at
    /// the same time.
    fn step_group(
        &mut self,
        group: &mut [Replica],
        first: usize,
        scratch: &mut Lockstep,
    ) -> Result<()> {
        self.stop.check()?;
        for (i, rep) in group.iter_mut().enumerate() {
            if rep.has_work() {
                self.schedule(rep, first + i)?;
            } else {
                self.batch.clear();
                self.slots.clear();
            }
            std::mem::swap(&mut self.batch, &mut scratch.batches[i]);
            std::mem::swap(&mut self.slots, &mut scratch.slots[i]);
        }
        let dt = self.cost.group_iteration_s(&scratch.batches);
        self.check_dt(dt)?;
        for (i, rep) in group.iter_mut().enumerate() {
            std::mem::swap(&mut self.batch, &mut scratch.batches[i]);
            std::mem::swap(&mut self.slots, &mut scratch.slots[i]);
            self.commit(rep, dt);
        }
        Ok(())
    }
}

/// Per-rank batches and schedules of a lockstep group, reused across iterations.
struct Lockstep {
    batches: Vec<Batch>,
    slots: Vec<Vec<Slot>>,
}

impl<C> Engine<'_, C> {
    /// Recompute-preempts the tail of the running list; returns the victim.
    fn preempt_tail(&mut self, rep: &mut Replica) -> Option<u32> {
        let v = rep.running.pop()?;
        let s = &mut self.seqs[v as usize];
        rep.free_blocks += u64::from(s.blocks);
        s.blocks = 0;
        s.kv = 0;
        s.prefill_len = s.prompt + s.generated;
        self.res.preemptions[v as usize] += 1;
        rep.waiting.push_front(v);
        Some(v)
    }

    /// Schedules the running list in order (decodes take one token, with preemption when a new block is
    /// needed and none is free; a partial prefill takes what the budget leaves). Returns the budget left.
    fn schedule_running(&mut self, rep: &mut Replica, mut budget: u32) -> u32 {
        let bs = self.cfg.block_size;
        let mut i = 0;
        while i < rep.running.len() {
            let id = rep.running[i];
            let s = self.seqs[id as usize];
            if s.kv >= s.prefill_len {
                if budget == 0 {
                    // Unreachable with the partial prefill at the tail; a decode would wait.
                    i += 1;
                    continue;
                }
                // Decode: writes the KV of the token fed, so the cache grows to kv + 1, which needs a new
                // block when ceil((kv + 1) / bs) > blocks, i.e. kv + 1 > blocks x bs (no division per step).
                if u64::from(s.kv) + 1 > u64::from(s.blocks) * u64::from(bs) {
                    let mut got = false;
                    loop {
                        if rep.free_blocks > 0 {
                            rep.free_blocks -= 1;
                            self.seqs[id as usize].blocks += 1;
                            got = true;
                            break;
                        }
                        match self.preempt_tail(rep) {
                            Some(v) if v != id => {}
                            _ => break,
                        }
                    }
                    if !got {
                        // Preempted itself: it was the tail, so the walk is over.
                        break;
                    }
                }
                self.batch.decode_seqs += 1.0;
                self.batch.decode_context_sum += f64::from(s.kv + 1);
                self.slots.push(Slot {
                    seq: id,
                    tokens: 1,
                    decode: true,
                });
                budget -= 1;
            } else if budget > 0 {
                let tokens = (s.prefill_len - s.kv).min(budget);
                self.push_prefill(id, s, tokens);
                budget -= tokens;
            }
            i += 1;
        }
        budget
    }

    fn push_prefill(&mut self, id: u32, s: Seq, tokens: u32) {
        self.batch.prefill.push(PrefillChunk {
            tokens: f64::from(tokens),
            cached: f64::from(s.kv),
            last: s.kv + tokens == s.prefill_len,
        });
        self.slots.push(Slot {
            seq: id,
            tokens,
            decode: false,
        });
    }

    /// Admits waiting requests FCFS (see the module notes); returns the budget left.
    fn admit(&mut self, rep: &mut Replica, mut budget: u32) -> u32 {
        while let Some(&id) = rep.waiting.front() {
            if rep.running.len() >= self.cfg.max_num_seqs as usize || budget == 0 {
                break;
            }
            let s = self.seqs[id as usize];
            if s.kv > 0 {
                // Its KV arrived from a prefill pool: admitted by `admit_arrived` at the next iteration.
                break;
            }
            let need = self.blocks_at_admission(&s, s.prefill_len);
            if u64::from(need) > rep.free_blocks {
                break;
            }
            let tokens = if self.cfg.chunked_prefill {
                s.prefill_len.min(budget)
            } else if s.prefill_len <= budget || self.batch.prefill.is_empty() {
                s.prefill_len
            } else {
                break;
            };
            rep.waiting.pop_front();
            rep.running.push(id);
            rep.free_blocks -= u64::from(need);
            let seq = &mut self.seqs[id as usize];
            seq.blocks = need;
            seq.kv = 0;
            let copy = *seq;
            self.push_prefill(id, copy, tokens);
            budget = budget.saturating_sub(tokens);
        }
        budget
    }

    /// Moves waiting sequences whose prompt KV arrived from a prefill pool to the running list, FCFS, while
    /// `running < max_num_seqs` and the free blocks hold their cache (`ceil(prompt / block_size)` blocks):
    /// they decode in this iteration. Stops at the first that does not fit, or at a recomputed sequence.
    fn admit_arrived(&mut self, rep: &mut Replica) {
        while let Some(&id) = rep.waiting.front() {
            let s = self.seqs[id as usize];
            if s.kv == 0 || rep.running.len() >= self.cfg.max_num_seqs as usize {
                break;
            }
            let need = self.blocks_at_admission(&s, s.kv);
            if u64::from(need) > rep.free_blocks {
                break;
            }
            rep.waiting.pop_front();
            rep.running.push(id);
            rep.free_blocks -= u64::from(need);
            self.seqs[id as usize].blocks = need;
        }
    }

    /// Blocks a sequence takes when admitted with `cached` tokens of KV to hold: those, or with
    /// `reserve_output` those plus every output token it has still to generate.
    fn blocks_at_admission(&self, s: &Seq, cached: u32) -> u32 {
        let tokens = if self.cfg.reserve_output {
            cached + (s.output - s.generated)
        } else {
            cached
        };
        tokens.div_ceil(self.cfg.block_size)
    }

    /// Builds replica `r`'s next iteration in `self.batch` and `self.slots` (see the module notes).
    fn schedule(&mut self, rep: &mut Replica, r: usize) -> Result<()> {
        self.batch.clear();
        self.slots.clear();
        if self.arrivals_with_kv {
            self.admit_arrived(rep);
        }
        let budget = self.cfg.max_num_batched_tokens;
        if self.cfg.chunked_prefill {
            let left = self.schedule_running(rep, budget);
            self.admit(rep, left);
        } else {
            self.admit(rep, budget);
            if self.slots.is_empty() {
                self.schedule_running(rep, budget);
            }
        }
        if self.slots.is_empty() {
            return Err(Error::Model {
                message: format!(
                    "serve simulator: replica {r} has work but scheduled nothing at t = {} s (internal error)",
                    rep.now
                ),
            });
        }
        Ok(())
    }

    /// Checks an iteration's cost.
    fn check_dt(&self, dt: f64) -> Result<()> {
        if !dt.is_finite() || dt < 0.0 {
            return Err(Error::Model {
                message: format!(
                    "iteration cost returned {dt} s for a batch of {} prefill chunks and {} decodes; expected a finite time >= 0",
                    self.batch.prefill.len(),
                    self.batch.decode_seqs
                ),
            });
        }
        Ok(())
    }

    /// Ends the iteration held in `self.slots` on `rep` after `dt` seconds: tokens emitted, finished requests
    /// freed.
    fn commit(&mut self, rep: &mut Replica, dt: f64) {
        let end = rep.now + dt;
        rep.now = end;
        rep.busy_s += dt;
        rep.iterations += 1;
        rep.finished_last = 0;
        for k in 0..self.slots.len() {
            let slot = self.slots[k];
            let i = slot.seq as usize;
            let s = &mut self.seqs[i];
            s.kv += slot.tokens;
            if !slot.decode && s.kv < s.prefill_len {
                continue; // a chunk that does not end the prompt samples nothing
            }
            s.generated += 1;
            if s.generated == 1 {
                self.res.first_token_s[i] = end;
                self.res.first_token_iteration_s[i] = dt;
            } else {
                let gap = end - s.last_token_s;
                if gap > self.res.max_itl_s[i] {
                    self.res.max_itl_s[i] = gap;
                }
                if self.record_gaps {
                    self.res.itl_gaps_s.push(gap as f32);
                }
            }
            s.last_token_s = end;
            if s.generated == s.output {
                self.res.finish_s[i] = end;
                if self.track_finishes {
                    self.finishes.push(end);
                }
                rep.free_blocks += u64::from(s.blocks);
                s.blocks = 0;
                rep.finished_last += 1;
            }
        }
        if rep.finished_last > 0 {
            rep.finished += rep.finished_last;
            let seqs = &self.seqs;
            rep.running
                .retain(|&id| seqs[id as usize].generated < seqs[id as usize].output);
        }
    }
}

/// Checks each row against the scheduler limits (see the module notes). `prefills` is false for a decode
/// pool, whose prompts were prefilled elsewhere (a recomputed prefill is admitted alone when over budget).
pub(crate) fn check_rows(
    cfg: &SchedulerConfig,
    blocks: u64,
    requests: &[Request],
    prefills: bool,
) -> Result<()> {
    for (i, r) in requests.iter().enumerate() {
        let total = u64::from(r.prompt_tokens) + u64::from(r.output_tokens);
        if total > u64::from(cfg.max_model_len) {
            return Err(invalid(
                "requests",
                format!(
                    "row {i}: prompt_tokens + output_tokens = {total} exceeds max_model_len {}",
                    cfg.max_model_len
                ),
            ));
        }
        // Reserving admission holds the whole request's blocks from the start.
        let peak = if cfg.reserve_output { total } else { total - 1 };
        let need = peak.div_ceil(u64::from(cfg.block_size));
        if need > blocks {
            return Err(invalid(
                "requests",
                format!(
                    "row {i}: its KV cache reaches {peak} tokens ({need} blocks of {}) but a replica holds {blocks} blocks ({} tokens)",
                    cfg.block_size, cfg.kv_capacity_tokens
                ),
            ));
        }
        if prefills && !cfg.chunked_prefill && r.prompt_tokens > cfg.max_num_batched_tokens {
            return Err(invalid(
                "requests",
                format!(
                    "row {i}: prompt_tokens {} exceeds max_num_batched_tokens {} and chunked prefill is off (vLLM requires max_num_batched_tokens >= max_model_len without chunking)",
                    r.prompt_tokens, cfg.max_num_batched_tokens
                ),
            ));
        }
    }
    Ok(())
}

/// Simulates `requests` on `replicas` identical replicas with round-robin load balancing and every
/// inter-token gap recorded. See [`simulate_with`].
pub fn simulate(
    cost: &impl IterationCost,
    cfg: &SchedulerConfig,
    replicas: u32,
    requests: &[Request],
) -> Result<SimResult> {
    simulate_with(cost, cfg, replicas, requests, &SimOptions::default())
}

/// Checks the replica count and the trace length.
pub(crate) fn check_replicas_and_rows(replicas: u32, requests: &[Request]) -> Result<()> {
    if replicas == 0 {
        return Err(invalid("replicas", "is 0; expected >= 1"));
    }
    if u32::try_from(requests.len()).is_err() {
        return Err(invalid(
            "requests",
            format!(
                "has {} rows; at most {} supported",
                requests.len(),
                u32::MAX
            ),
        ));
    }
    Ok(())
}

/// Simulates `requests` (sorted by arrival, validated by [`requests::validate`]) on `replicas` identical
/// replicas, each scheduling as described in the module notes and pricing its iterations with `cost`.
/// Deterministic: the same inputs give the same result bit for bit.
pub fn simulate_with(
    cost: &impl IterationCost,
    cfg: &SchedulerConfig,
    replicas: u32,
    requests: &[Request],
    opts: &SimOptions,
) -> Result<SimResult> {
    let blocks = cfg.check()?;
    check_replicas_and_rows(replicas, requests)?;
    requests::validate(requests)?;
    check_rows(cfg, blocks, requests, true)?;
    let seqs = requests.iter().map(Seq::new).collect();
    let arrivals = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.arrival_s, i as u32));
    let run = run(
        cost, cfg, blocks, replicas, requests, seqs, arrivals, opts, false,
    )?;
    Ok(run.res)
}

/// The event loop: `arrivals` (time, request index), in non-decreasing time, enter the waiting queue of the
/// replica the balancer picks (round-robin counts arrivals); the replicas step until every request is done.
/// `seqs` holds each request's initial state (index = request row); rows that never arrive keep zeros in the
/// per-request outputs. `arrivals_with_kv`: arriving sequences bring their prompt's KV (a decode pool).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    cost: &impl IterationCost,
    cfg: &SchedulerConfig,
    blocks: u64,
    replicas: u32,
    requests: &[Request],
    seqs: Vec<Seq>,
    arrivals: impl Iterator<Item = (f64, u32)>,
    opts: &SimOptions,
    arrivals_with_kv: bool,
) -> Result<Run> {
    check_concurrency(opts.max_concurrency)?;
    check_request_overhead(opts.request_overhead_s)?;
    let mut eng = Engine::new(cost, cfg, requests, seqs, opts, arrivals_with_kv);
    let mut reps = new_replicas(replicas, blocks);
    let mut gate = Gate::new(opts.max_concurrency);

    for (k, (t, id)) in arrivals.enumerate() {
        let sent = match gate.as_mut() {
            None => t,
            Some(g) => {
                let t = g.send_time(k, t, &mut eng, |eng, m| {
                    match earliest_below(reps.iter().map(|r| (r.has_work(), r.now)), m) {
                        Some(j) => eng.step(&mut reps[j], j).map(|()| true),
                        None => Ok(false),
                    }
                })?;
                eng.res.arrival_s[id as usize] = t;
                t
            }
        };
        // Admitted into the waiting queue once the server has handled the request (non-decreasing, as sends).
        let t = sent + opts.request_overhead_s;
        let r = match opts.balancer {
            LoadBalancer::RoundRobin => k % replicas as usize,
            LoadBalancer::LeastOutstanding => {
                for (k, rep) in reps.iter_mut().enumerate() {
                    eng.advance(rep, k, t)?;
                }
                let mut best = 0;
                let mut best_n = u64::MAX;
                for (k, rep) in reps.iter().enumerate() {
                    let o = rep.outstanding_at(t);
                    if o < best_n {
                        best = k;
                        best_n = o;
                    }
                }
                best
            }
        };
        let rep = &mut reps[r];
        eng.advance(rep, r, t)?;
        if !rep.has_work() && rep.now < t {
            rep.now = t; // idle until this arrival
        }
        rep.waiting.push_back(id);
        rep.assigned += 1;
        eng.res.replica[id as usize] = r as u32;
    }
    for (k, rep) in reps.iter_mut().enumerate() {
        eng.advance(rep, k, f64::INFINITY)?;
    }

    let mut res = eng.res;
    res.set_latencies(requests);
    res.iterations_per_replica = reps.iter().map(|r| r.iterations).collect();
    res.iterations = res.iterations_per_replica.iter().sum();
    res.busy_s = reps.iter().map(|r| r.busy_s).collect();
    Ok(Run {
        res,
        replicas: reps,
    })
}

/// The unit (replica or lockstep group) with work whose clock is smallest and below `m`: `units` gives each
/// unit's (has work, clock) in index order; ties go to the lowest index.
fn earliest_below(units: impl Iterator<Item = (bool, f64)>, m: f64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (j, (work, now)) in units.enumerate() {
        if work && now < m && best.is_none_or(|(_, b)| now < b) {
            best = Some((j, now));
        }
    }
    best.map(|(j, _)| j)
}

/// Simulates `requests` on `groups` independent groups of `ranks` data-parallel attention ranks stepping in
/// lockstep (attention DP with expert-parallel MoE layers, TensorRT-LLM's `enable_attention_dp`): each rank
/// has its own scheduler, waiting queue, running list and `cfg`'s KV blocks, as a replica does; each group
/// iteration builds every rank's batch, is priced by `cost` over all of them (every rank waits for the slowest)
/// and ends on all ranks at once; a rank with nothing to run still joins its group's iteration. The balancer
/// spreads arrivals over all `groups x ranks` ranks as over replicas (round-robin by rank index, or least
/// outstanding). `SimResult::replica` is the global rank; `iterations_per_replica` and `busy_s` are per rank.
/// Deterministic.
pub fn simulate_lockstep(
    cost: &impl GroupCost,
    cfg: &SchedulerConfig,
    groups: u32,
    ranks: u32,
    requests: &[Request],
    opts: &SimOptions,
) -> Result<SimResult> {
    let blocks = cfg.check()?;
    check_replicas_and_rows(groups, requests)?;
    if ranks == 0 {
        return Err(invalid("ranks", "is 0; expected >= 1"));
    }
    let total = groups.checked_mul(ranks).ok_or_else(|| {
        invalid(
            "ranks",
            format!("{groups} groups x {ranks} ranks overflows"),
        )
    })?;
    requests::validate(requests)?;
    check_rows(cfg, blocks, requests, true)?;
    check_concurrency(opts.max_concurrency)?;
    check_request_overhead(opts.request_overhead_s)?;
    let seqs: Vec<Seq> = requests.iter().map(Seq::new).collect();
    let mut eng = Engine::new(cost, cfg, requests, seqs, opts, false);
    let mut reps = new_replicas(total, blocks);
    let ranks = ranks as usize;
    let mut scratch = Lockstep {
        batches: vec![Batch::default(); ranks],
        slots: (0..ranks)
            .map(|_| Vec::with_capacity(cfg.max_num_seqs as usize + 1))
            .collect(),
    };
    let mut gate = Gate::new(opts.max_concurrency);
    for (k, r) in requests.iter().enumerate() {
        let sent = match gate.as_mut() {
            None => r.arrival_s,
            Some(g) => {
                let t = g.send_time(k, r.arrival_s, &mut eng, |eng, m| {
                    let groups = reps
                        .chunks(ranks)
                        .map(|g| (g.iter().any(Replica::has_work), g[0].now));
                    match earliest_below(groups, m) {
                        Some(j) => {
                            let group = &mut reps[j * ranks..(j + 1) * ranks];
                            eng.step_group(group, j * ranks, &mut scratch)
                                .map(|()| true)
                        }
                        None => Ok(false),
                    }
                })?;
                eng.res.arrival_s[k] = t;
                t
            }
        };
        let t = sent + opts.request_overhead_s;
        let target = match opts.balancer {
            LoadBalancer::RoundRobin => k % total as usize,
            LoadBalancer::LeastOutstanding => {
                for (g, group) in reps.chunks_mut(ranks).enumerate() {
                    eng.advance_group(group, g * ranks, &mut scratch, t)?;
                }
                let mut best = 0;
                let mut best_n = u64::MAX;
                for (i, rep) in reps.iter().enumerate() {
                    let o = rep.outstanding_at(t);
                    if o < best_n {
                        best = i;
                        best_n = o;
                    }
                }
                best
            }
        };
        let g = target / ranks;
        let group = &mut reps[g * ranks..(g + 1) * ranks];
        eng.advance_group(group, g * ranks, &mut scratch, t)?;
        if !group.iter().any(Replica::has_work) && group[0].now < t {
            for rep in group.iter_mut() {
                rep.now = t; // the group idles until this arrival
            }
        }
        let rep = &mut reps[target];
        rep.waiting.push_back(k as u32);
        rep.assigned += 1;
        eng.res.replica[k] = target as u32;
    }
    for (g, group) in reps.chunks_mut(ranks).enumerate() {
        eng.advance_group(group, g * ranks, &mut scratch, f64::INFINITY)?;
    }
    let mut res = eng.res;
    res.set_latencies(requests);
    res.iterations_per_replica = reps.iter().map(|r| r.iterations).collect();
    res.iterations = res.iterations_per_replica.iter().sum();
    res.busy_s = reps.iter().map(|r| r.busy_s).collect();
    Ok(res)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::serve::requests::{offline, poisson, LengthDist};
    use std::cell::RefCell;

    const T: f64 = 0.01;

    /// A scheduler of 16-token blocks and a long `max_model_len` (shared with the disaggregated tests).
    pub(crate) fn cfg(max_num_seqs: u32, budget: u32, chunked: bool, cap: f64) -> SchedulerConfig {
        SchedulerConfig {
            max_num_seqs,
            max_num_batched_tokens: budget,
            chunked_prefill: chunked,
            block_size: 16,
            kv_capacity_tokens: cap,
            max_model_len: 1 << 20,
            reserve_output: false,
        }
    }

    fn req(arrival_s: f64, prompt_tokens: u32, output_tokens: u32) -> Request {
        Request {
            arrival_s,
            prompt_tokens,
            output_tokens,
        }
    }

    fn constant(_: &Batch) -> f64 {
        T
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, *w), "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn one_request_constant_cost() {
        for chunked in [false, true] {
            let r = simulate(
                &constant,
                &cfg(8, 2048, chunked, 1e5),
                1,
                &[req(1.0, 100, 5)],
            )
            .unwrap();
            // Prefill [1, 1 + T] gives token 1; four decodes give tokens 2..5.
            assert_close(&r.ttft_s, &[T]);
            assert_close(&r.first_token_s, &[1.0 + T]);
            assert_close(&r.e2e_s, &[5.0 * T]);
            assert_close(&r.tpot_s, &[T]);
            assert_close(&r.max_itl_s, &[T]);
            assert_eq!(r.iterations, 5);
            assert_close(&r.busy_s, &[5.0 * T]);
            assert!(close(r.makespan_s, 1.0 + 5.0 * T));
            assert_eq!(r.itl_gaps_s.len(), 4);
            assert!((r.itl_quantile_s(0.99).unwrap() - T).abs() < 1e-9);
        }
        // One output token: finishes at the first token, TPOT 0, no gaps.
        let r = simulate(&constant, &cfg(8, 2048, true, 1e5), 1, &[req(0.0, 7, 1)]).unwrap();
        assert_close(&r.e2e_s, &[T]);
        assert_close(&r.tpot_s, &[0.0]);
        assert_eq!(r.iterations, 1);
        assert!(r.itl_gaps_s.is_empty());
    }

    #[test]
    fn max_num_seqs_one_queues_the_second_request() {
        for chunked in [false, true] {
            let trace = [req(0.0, 10, 3), req(0.0, 10, 3)];
            let r = simulate(&constant, &cfg(1, 2048, chunked, 1e5), 1, &trace).unwrap();
            // A: prefill [0, T], decodes to 3T. B is admitted at 3T: first token 4T, done 6T.
            assert_close(&r.ttft_s, &[T, 4.0 * T]);
            assert_close(&r.e2e_s, &[3.0 * T, 6.0 * T]);
            assert_eq!(r.iterations, 6);
        }
    }

    #[test]
    fn chunked_prefill_splits_a_long_prompt() {
        let seen = RefCell::new(Vec::new());
        let rec = |b: &Batch| {
            seen.borrow_mut().push(b.clone());
            T
        };
        let r = simulate(&rec, &cfg(8, 2048, true, 1e5), 1, &[req(0.0, 3000, 3)]).unwrap();
        let seen = seen.into_inner();
        let chunk = |tokens, cached, last| PrefillChunk {
            tokens,
            cached,
            last,
        };
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].prefill, [chunk(2048.0, 0.0, false)]);
        assert_eq!(seen[1].prefill, [chunk(952.0, 2048.0, true)]);
        // Decodes feed token 1 (context 3001) then token 2 (context 3002).
        assert_eq!(seen[2], Batch::decode(1.0, 3001.0));
        assert_eq!(seen[3], Batch::decode(1.0, 3002.0));
        assert_close(&r.ttft_s, &[2.0 * T]);
        assert_close(&r.e2e_s, &[4.0 * T]);

        // Without chunking the same prompt is rejected, naming its row.
        let trace = [req(0.0, 10, 2), req(0.0, 3000, 3)];
        let e = simulate(&constant, &cfg(8, 2048, false, 1e5), 1, &trace)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 1:") && e.contains("max_num_batched_tokens"),
            "{e}"
        );
    }

    #[test]
    fn chunked_mixes_prefill_and_decode_with_a_linear_cost() {
        let (a, b) = (0.01, 0.001);
        let lin = |x: &Batch| a + b * x.tokens();
        let trace = [req(0.0, 10, 3), req(0.0, 10, 2)];
        let r = simulate(&lin, &cfg(2, 2048, true, 1e5), 1, &trace).unwrap();
        // Iteration 1: both prompts (20 tokens); 2: two decodes; 3: one decode.
        let (t1, t2, t3) = (a + 20.0 * b, a + 2.0 * b, a + b);
        assert_close(&r.ttft_s, &[t1, t1]);
        assert_close(&r.finish_s, &[t1 + t2 + t3, t1 + t2]);
        assert_close(&r.tpot_s, &[f64::midpoint(t2, t3), t2]);
        assert_close(&r.max_itl_s, &[t2, t2]);
    }

    #[test]
    fn prefill_priority_without_chunking_delays_decodes() {
        let trace = [req(0.0, 10, 4), req(1.5 * T, 10, 2)];
        // Off: iteration 3 (from 2T) is B's prefill alone; A's third token waits to 4T.
        let r = simulate(&constant, &cfg(8, 2048, false, 1e5), 1, &trace).unwrap();
        assert_close(&r.first_token_s, &[T, 3.0 * T]);
        assert_close(&r.finish_s, &[5.0 * T, 4.0 * T]);
        assert_close(&r.max_itl_s, &[2.0 * T, T]);
        assert_close(&r.ttft_s, &[T, 1.5 * T]);
        // On: iteration 3 holds A's decode and B's prompt.
        let r = simulate(&constant, &cfg(8, 2048, true, 1e5), 1, &trace).unwrap();
        assert_close(&r.first_token_s, &[T, 3.0 * T]);
        assert_close(&r.finish_s, &[4.0 * T, 4.0 * T]);
        assert_close(&r.max_itl_s, &[T, T]);
    }

    #[test]
    fn preemption_recomputes_and_still_finishes() {
        // 4 blocks of 16. A and B (prompt 16, output 20) take 1 block each at prefill, a second at their
        // first decode (cache 17). Iteration 18 feeds cache 33: A needs a third block, none is free, so
        // B (admitted last, 17 tokens generated) is preempted. B needs ceil(33/16) = 3 blocks to come
        // back, only 1 is free until A finishes at 20T. Iteration 21 re-prefills B's 33 tokens and emits
        // its token 18 (gap 21T - 17T = 4T); tokens 19 and 20 follow at 22T and 23T.
        for chunked in [false, true] {
            let seen = RefCell::new(Vec::new());
            let rec = |b: &Batch| {
                seen.borrow_mut().push(b.clone());
                T
            };
            let trace = [req(0.0, 16, 20), req(0.0, 16, 20)];
            let r = simulate(&rec, &cfg(2, 2048, chunked, 64.0), 1, &trace).unwrap();
            assert_eq!(r.preemptions, [0, 1]);
            assert_close(&r.first_token_s, &[T, T]);
            assert_close(&r.finish_s, &[20.0 * T, 23.0 * T]);
            assert_close(&r.max_itl_s, &[T, 4.0 * T]);
            assert_eq!(r.itl_gaps_s.len(), 38);
            let seen = seen.into_inner();
            assert_eq!(seen.len(), 23);
            // Iteration k >= 2 feeds a cache of 16 + (k - 2) tokens, context k + 15.
            assert_eq!(seen[16], Batch::decode(2.0, 32.0)); // iteration 17: both
            assert_eq!(seen[17], Batch::decode(1.0, 33.0)); // iteration 18: A only, B preempted
            assert_eq!(seen[20], Batch::prefill(1, 33.0)); // iteration 21: B recomputed
            assert_eq!(seen[21], Batch::decode(1.0, 34.0));
        }
    }

    #[test]
    fn reserving_admission_never_preempts_and_serialises_what_does_not_fit() {
        // The same two requests and 4 blocks of 16 as above, with TensorRT-LLM's guaranteed_no_evict: each
        // request reserves ceil((16 + 20) / 16) = 3 blocks at admission, so only A runs; B waits until A's
        // blocks are freed at the end of iteration 20 (A: prefill at T, tokens 2..20 at 2T..20T), then
        // prefills in iteration 21 (first token 21T) and decodes to its 20th token at 40T. No preemption.
        for chunked in [false, true] {
            let c = SchedulerConfig {
                reserve_output: true,
                ..cfg(2, 2048, chunked, 64.0)
            };
            let trace = [req(0.0, 16, 20), req(0.0, 16, 20)];
            let r = simulate(&constant, &c, 1, &trace).unwrap();
            assert_eq!(r.preemptions, [0, 0]);
            assert_close(&r.first_token_s, &[T, 21.0 * T]);
            assert_close(&r.finish_s, &[20.0 * T, 40.0 * T]);
            assert_close(&r.max_itl_s, &[T, T]);
            // With room for both (6 blocks) they run together, as without reservation.
            let roomy = SchedulerConfig {
                kv_capacity_tokens: 96.0,
                ..c
            };
            let r = simulate(&constant, &roomy, 1, &trace).unwrap();
            assert_close(&r.finish_s, &[20.0 * T, 20.0 * T]);
            // A request whose whole reservation exceeds the cache is refused up front (36 tokens, 3 blocks).
            let small = SchedulerConfig {
                kv_capacity_tokens: 32.0,
                ..c
            };
            assert!(simulate(&constant, &small, 1, &trace[..1]).is_err());
        }
    }

    #[test]
    fn round_robin_over_two_replicas_shortens_the_queue() {
        let trace = [req(0.0, 10, 2); 4];
        let c = cfg(1, 2048, true, 1e5);
        let one = simulate(&constant, &c, 1, &trace).unwrap();
        let two = simulate(&constant, &c, 2, &trace).unwrap();
        // One replica serves them in turn: TTFT T, 3T, 5T, 7T (mean wait before prefill 3T).
        assert_close(&one.ttft_s, &[T, 3.0 * T, 5.0 * T, 7.0 * T]);
        // Two replicas take two each: T, T, 3T, 3T (mean wait T).
        assert_close(&two.ttft_s, &[T, T, 3.0 * T, 3.0 * T]);
        assert_eq!(two.replica, [0, 1, 0, 1]);
        assert_eq!(two.iterations_per_replica, [4, 4]);
        assert_close(&two.busy_s, &[4.0 * T, 4.0 * T]);
        assert!(close(two.makespan_s, 4.0 * T));
    }

    #[test]
    fn least_outstanding_avoids_the_busy_replica() {
        // R0 (10 tokens) occupies replica 0 until 10T; R1 (1 token) leaves replica 1 at T. At 5T, R2
        // goes to the empty replica 1, then R3 sees one outstanding on each and takes replica 0.
        let trace = [
            req(0.0, 10, 10),
            req(0.0, 10, 1),
            req(5.0 * T, 10, 2),
            req(5.0 * T, 10, 2),
        ];
        let c = cfg(4, 2048, true, 1e5);
        let opts = SimOptions {
            balancer: LoadBalancer::LeastOutstanding,
            ..SimOptions::default()
        };
        let lor = simulate_with(&constant, &c, 2, &trace, &opts).unwrap();
        assert_eq!(lor.replica, [0, 1, 1, 0]);
        let rr = simulate(&constant, &c, 2, &trace).unwrap();
        assert_eq!(rr.replica, [0, 1, 0, 1]);
        // A finish exactly at the arrival counts as done: R1 ends at T, R2 arrives at T.
        let trace = [req(0.0, 10, 5), req(0.0, 10, 1), req(T, 10, 1)];
        let lor = simulate_with(&constant, &c, 2, &trace, &opts).unwrap();
        assert_eq!(lor.replica, [0, 1, 1]);
    }

    #[test]
    fn offline_batch_fills_max_num_seqs_then_waits() {
        let trace = offline(8, LengthDist::Fixed(10), LengthDist::Fixed(3), 0).unwrap();
        for chunked in [false, true] {
            let r = simulate(&constant, &cfg(4, 2048, chunked, 1e5), 1, &trace).unwrap();
            let mut ttft = vec![T; 4];
            ttft.extend([4.0 * T; 4]);
            let mut fin = vec![3.0 * T; 4];
            fin.extend([6.0 * T; 4]);
            assert_close(&r.ttft_s, &ttft);
            assert_close(&r.finish_s, &fin);
            assert_eq!(r.iterations, 6);
        }
    }

    #[test]
    fn lockstep_of_one_rank_is_the_replica_simulator() {
        // One rank per group: each group is a replica, so the lockstep simulator must give the replica
        // simulator's results to the bit, for both balancers and with preemption (a small KV cache).
        let (p, o) = lengths();
        let trace = poisson(40.0, 600, p, o, 3).unwrap();
        let c = cfg(64, 2048, true, 3e4);
        let one = |bs: &[Batch]| linear(&bs[0]);
        for balancer in [LoadBalancer::RoundRobin, LoadBalancer::LeastOutstanding] {
            let opts = SimOptions {
                balancer,
                ..SimOptions::default()
            };
            for groups in [1, 3] {
                let want = simulate_with(&linear, &c, groups, &trace, &opts).unwrap();
                let got = simulate_lockstep(&one, &c, groups, 1, &trace, &opts).unwrap();
                assert!(want.preemptions.iter().any(|&x| x > 0) || groups > 1);
                assert_eq!(got.ttft_s, want.ttft_s);
                assert_eq!(got.finish_s, want.finish_s);
                assert_eq!(got.itl_gaps_s, want.itl_gaps_s);
                assert_eq!(got.preemptions, want.preemptions);
                assert_eq!(got.replica, want.replica);
                assert_eq!(got.iterations_per_replica, want.iterations_per_replica);
            }
        }
    }

    #[test]
    fn lockstep_ranks_wait_for_the_slowest() {
        // Cost: T per token of the largest rank's batch. R0 (100-token prompt) on rank 0, R1 (10) on rank 1,
        // 3 output tokens each. Iteration 1 prefills both: 100 T; then two decode iterations of T each.
        // Independent replicas would give R1 its first token at 10 T.
        let slowest = |bs: &[Batch]| bs.iter().map(Batch::tokens).fold(0.0, f64::max) * T;
        let trace = [req(0.0, 100, 3), req(0.0, 10, 3)];
        let c = cfg(8, 2048, true, 1e5);
        let r = simulate_lockstep(&slowest, &c, 1, 2, &trace, &SimOptions::default()).unwrap();
        assert_eq!(r.replica, [0, 1]);
        assert_close(&r.ttft_s, &[100.0 * T, 100.0 * T]);
        assert_close(&r.finish_s, &[102.0 * T, 102.0 * T]);
        assert_eq!(r.iterations_per_replica, [3, 3]);
        let apart = simulate(&|b: &Batch| b.tokens() * T, &c, 2, &trace).unwrap();
        assert_close(&apart.ttft_s, &[100.0 * T, 10.0 * T]);
        // An idle rank joins every iteration of its group (it runs its share of the MoE layers): one request
        // on two ranks is three iterations on each; a later arrival waits for the group's iteration to end.
        let trace = [req(0.0, 100, 3), req(50.0 * T, 10, 1)];
        let r = simulate_lockstep(&slowest, &c, 1, 2, &trace, &SimOptions::default()).unwrap();
        // R1 arrives mid-prefill (ends at 100 T), joins the first decode iteration: max(1, 10) = 10 T.
        assert_close(&r.ttft_s, &[100.0 * T, 60.0 * T]);
        assert_close(&r.finish_s, &[111.0 * T, 110.0 * T]);
        assert_eq!(r.iterations_per_replica, [3, 3]);
        let e = simulate_lockstep(&slowest, &c, 1, 0, &trace, &SimOptions::default());
        assert!(e.unwrap_err().to_string().contains("ranks"));
    }

    /// A cost linear in the tokens and the decode context (shared with the disaggregated tests).
    pub(crate) fn linear(b: &Batch) -> f64 {
        5e-3 + 1e-5 * b.tokens() + 1e-8 * b.decode_context_sum
    }

    /// ShareGPT-like prompt (~500) and output (~200) lengths (shared with the disaggregated tests).
    pub(crate) fn lengths() -> (LengthDist, LengthDist) {
        (
            LengthDist::LogNormal {
                mean: 500.0,
                sigma: 0.5,
                max: 4000,
            },
            LengthDist::LogNormal {
                mean: 200.0,
                sigma: 0.5,
                max: 1000,
            },
        )
    }

    #[test]
    fn poisson_run_obeys_littles_law() {
        let rate = 10.0;
        let (p, o) = lengths();
        let trace = poisson(rate, 2000, p, o, 1).unwrap();
        let c = SchedulerConfig {
            max_num_seqs: 256,
            max_num_batched_tokens: 8192,
            chunked_prefill: true,
            block_size: 16,
            kv_capacity_tokens: 1e6,
            max_model_len: 8192,
            reserve_output: false,
        };
        let r = simulate(&linear, &c, 1, &trace).unwrap();
        // Time-average number in system over [0, T_last_arrival], integrating N(t) exactly.
        let t_end = trace.last().unwrap().arrival_s;
        let area: f64 = r
            .arrival_s
            .iter()
            .zip(&r.finish_s)
            .map(|(a, f)| (f.min(t_end) - a).max(0.0))
            .sum();
        let l = area / t_end;
        let w = r.e2e_s.iter().sum::<f64>() / r.e2e_s.len() as f64;
        println!("Little: L = {l:.3}, rate * W = {:.3}", rate * w);
        assert!((l / (rate * w) - 1.0).abs() < 0.05, "{l} vs {}", rate * w);
        // Every request got all its tokens after its arrival, in order.
        for i in 0..trace.len() {
            assert!(r.first_token_s[i] > r.arrival_s[i]);
            assert!(r.finish_s[i] >= r.first_token_s[i]);
        }
        // The gaps add up to the decode spans (f32 storage: relative 1e-5).
        let gaps: f64 = r.itl_gaps_s.iter().map(|&g| f64::from(g)).sum();
        let spans: f64 = (0..trace.len())
            .map(|i| r.finish_s[i] - r.first_token_s[i])
            .sum();
        assert!((gaps / spans - 1.0).abs() < 1e-5);
        let n_gaps: u32 = trace.iter().map(|q| q.output_tokens - 1).sum();
        assert_eq!(r.itl_gaps_s.len(), n_gaps as usize);
        assert!(r.busy_s[0] <= r.makespan_s);
        // Deterministic.
        assert_eq!(r, simulate(&linear, &c, 1, &trace).unwrap());
    }

    fn closed(c: u32) -> SimOptions {
        SimOptions {
            max_concurrency: Some(c),
            ..SimOptions::default()
        }
    }

    #[test]
    fn one_client_sends_strictly_serially() {
        // C = 1, constant cost: each request is one prefill iteration (its first token) and output - 1 decode
        // iterations, alone, so E2E = output x T, TTFT = T, the next request is sent when it finishes and the
        // E2E times add up to the makespan.
        let outs = [3u32, 1, 5, 2];
        let trace: Vec<Request> = outs.iter().map(|&o| req(0.0, 100, o)).collect();
        for chunked in [false, true] {
            let r = simulate_with(
                &constant,
                &cfg(8, 2048, chunked, 1e5),
                1,
                &trace,
                &closed(1),
            )
            .unwrap();
            let e2e: Vec<f64> = outs.iter().map(|&o| f64::from(o) * T).collect();
            assert_close(&r.e2e_s, &e2e);
            assert_close(&r.ttft_s, &[T; 4]);
            assert_close(&r.arrival_s, &[0.0, 3.0 * T, 4.0 * T, 9.0 * T]);
            assert!(close(r.makespan_s, e2e.iter().sum()));
            assert_eq!(r.iterations, u64::from(outs.iter().sum::<u32>()));
        }
    }

    #[test]
    fn a_request_overhead_delays_admission_and_counts_in_ttft() {
        // C = 1 as above with a request overhead D: each request is admitted D after its send, so TTFT = D + T,
        // E2E = D + output x T, and the next request is sent at the previous finish (the slot stays taken
        // during D): sends at 0, D + 3T, 2D + 4T, 3D + 9T.
        const D: f64 = 0.037;
        let outs = [3u32, 1, 5, 2];
        let trace: Vec<Request> = outs.iter().map(|&o| req(0.0, 100, o)).collect();
        let opts = SimOptions {
            request_overhead_s: D,
            ..closed(1)
        };
        let r = simulate_with(&constant, &cfg(8, 2048, true, 1e5), 1, &trace, &opts).unwrap();
        assert_close(&r.ttft_s, &[D + T; 4]);
        let e2e: Vec<f64> = outs.iter().map(|&o| D + f64::from(o) * T).collect();
        assert_close(&r.e2e_s, &e2e);
        assert_close(
            &r.arrival_s,
            &[0.0, D + 3.0 * T, 2.0 * D + 4.0 * T, 3.0 * D + 9.0 * T],
        );
        assert!(close(r.makespan_s, e2e.iter().sum()));
        // Open loop: every arrival is shifted by D, the schedule is otherwise the same; lockstep groups alike.
        let open = simulate(&constant, &cfg(8, 2048, false, 1e5), 1, &trace).unwrap();
        let opts = SimOptions {
            request_overhead_s: D,
            ..SimOptions::default()
        };
        for late in [
            simulate_with(&constant, &cfg(8, 2048, false, 1e5), 1, &trace, &opts).unwrap(),
            simulate_lockstep(
                &|b: &[Batch]| constant(&b[0]),
                &cfg(8, 2048, false, 1e5),
                1,
                1,
                &trace,
                &opts,
            )
            .unwrap(),
        ] {
            let shifted: Vec<f64> = open.ttft_s.iter().map(|t| t + D).collect();
            assert_close(&late.ttft_s, &shifted);
            assert_close(&late.arrival_s, &open.arrival_s);
        }
        // A negative or non-finite overhead is an error naming it.
        for bad in [-1e-3, f64::NAN] {
            let opts = SimOptions {
                request_overhead_s: bad,
                ..SimOptions::default()
            };
            let e =
                simulate_with(&constant, &cfg(8, 2048, true, 1e5), 1, &trace, &opts).unwrap_err();
            assert!(e.to_string().contains("request_overhead_s"), "{e}");
        }
    }

    #[test]
    fn two_clients_by_hand() {
        // Chunked prefill off (prefill-prioritised), C = 2, constant cost T, all at t = 0: A (3 tokens),
        // B (1), C (2). Iteration 1 prefills A and B (first tokens at T; B finishes); C is sent at T and
        // prefills alone in iteration 2 (its first token at 2T) while A waits; iteration 3 decodes A and C
        // (C finishes at 3T); iteration 4 gives A its third token at 4T.
        let trace = [req(0.0, 64, 3), req(0.0, 64, 1), req(0.0, 64, 2)];
        let r = simulate_with(&constant, &cfg(8, 2048, false, 1e5), 1, &trace, &closed(2)).unwrap();
        assert_close(&r.arrival_s, &[0.0, 0.0, T]);
        assert_close(&r.first_token_s, &[T, T, 2.0 * T]);
        assert_close(&r.finish_s, &[4.0 * T, T, 3.0 * T]);
        assert_close(&r.ttft_s, &[T, T, T]);
        assert_close(&r.e2e_s, &[4.0 * T, T, 2.0 * T]);
        // Open loop, the same trace: C is prefilled with A and B and finishes at 2T.
        let open = simulate(&constant, &cfg(8, 2048, false, 1e5), 1, &trace).unwrap();
        assert_close(&open.finish_s, &[3.0 * T, T, 2.0 * T]);
    }

    #[test]
    fn a_late_trace_arrival_waits_for_itself_and_a_large_cap_changes_nothing() {
        let trace = [req(0.0, 64, 2), req(1.0, 64, 2)];
        let r = simulate_with(&constant, &cfg(8, 2048, true, 1e5), 1, &trace, &closed(1)).unwrap();
        assert_close(&r.arrival_s, &[0.0, 1.0]); // the slot freed at 2T, the request arrives at 1 s
        let (p, o) = lengths();
        let trace = poisson(20.0, 300, p, o, 3).unwrap();
        let c = cfg(64, 4096, true, 2e5);
        let open = simulate(&linear, &c, 2, &trace).unwrap();
        assert_eq!(
            simulate_with(&linear, &c, 2, &trace, &closed(300)).unwrap(),
            open
        );
    }

    /// Sends and finishes as events: the most requests in flight at once.
    fn peak_in_flight(r: &SimResult) -> usize {
        let mut ev: Vec<(f64, i32)> = r.arrival_s.iter().map(|&a| (a, 1)).collect();
        ev.extend(r.finish_s.iter().map(|&f| (f, -1)));
        ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))); // finishes before sends at a tie
        let (mut n, mut peak) = (0i32, 0i32);
        for (_, d) in ev {
            n += d;
            peak = peak.max(n);
        }
        peak as usize
    }

    #[test]
    fn saturated_clients_obey_littles_law() {
        // Every trace arrival at 0 (vllm bench serve --request-rate inf --max-concurrency C): C requests in
        // flight until the trace runs out, so requests per second over the makespan is C / mean E2E, less the
        // drain at the end (the last C requests, ~C/n of the run).
        let (p, o) = lengths();
        let n = 3000;
        let trace = offline(n, p, o, 5).unwrap();
        let c = SchedulerConfig {
            max_num_seqs: 256,
            max_num_batched_tokens: 8192,
            chunked_prefill: true,
            block_size: 16,
            kv_capacity_tokens: 1e6,
            max_model_len: 8192,
            reserve_output: false,
        };
        for (replicas, cap) in [(1, 16u32), (1, 64), (2, 48)] {
            let r = simulate_with(&linear, &c, replicas, &trace, &closed(cap)).unwrap();
            assert_eq!(peak_in_flight(&r), cap as usize);
            let w = r.e2e_s.iter().sum::<f64>() / n as f64;
            let x = n as f64 / r.makespan_s;
            let little = f64::from(cap) / w;
            assert!(
                (x / little - 1.0).abs() < 0.02,
                "{replicas} x cap {cap}: {x} vs {little}"
            );
            assert!(x <= little * (1.0 + 1e-9)); // fewer than C in flight only while draining
                                                 // Sends are in trace order and never before the previous send.
            assert!(r.arrival_s.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(
                r,
                simulate_with(&linear, &c, replicas, &trace, &closed(cap)).unwrap()
            );
        }
    }

    #[test]
    fn closed_loop_lockstep_of_one_rank_is_the_replica_simulator() {
        let (p, o) = lengths();
        let trace = offline(400, p, o, 2).unwrap();
        let c = cfg(32, 4096, true, 1e5);
        let a = simulate_with(&linear, &c, 1, &trace, &closed(8)).unwrap();
        let group = |b: &[Batch]| linear(&b[0]);
        let b = simulate_lockstep(&group, &c, 1, 1, &trace, &closed(8)).unwrap();
        assert_eq!(a.finish_s, b.finish_s);
        assert_eq!(a.arrival_s, b.arrival_s);
        // Two lockstep ranks under C = 4: never more than 4 in flight, Little's law as above.
        let b2 = simulate_lockstep(
            &|b: &[Batch]| b.iter().map(linear).fold(0.0, f64::max),
            &c,
            1,
            2,
            &trace,
            &closed(4),
        )
        .unwrap();
        assert_eq!(peak_in_flight(&b2), 4);
        let err = simulate_lockstep(&group, &c, 1, 1, &trace, &closed(0)).unwrap_err();
        assert!(err.to_string().contains("max_concurrency"), "{err}");
    }

    #[test]
    fn closed_loop_with_least_outstanding_and_poisson_arrivals() {
        // Arrivals on a schedule and a cap: a request goes out at the later of its arrival and a free slot, never
        // more than C in flight, in trace order; the balancer sees the sends.
        let (p, o) = lengths();
        let trace = poisson(40.0, 800, p, o, 9).unwrap();
        let c = cfg(64, 4096, true, 2e5);
        let opts = SimOptions {
            balancer: LoadBalancer::LeastOutstanding,
            max_concurrency: Some(12),
            ..SimOptions::default()
        };
        let r = simulate_with(&linear, &c, 3, &trace, &opts).unwrap();
        assert!(peak_in_flight(&r) <= 12);
        for (i, q) in trace.iter().enumerate() {
            assert!(r.arrival_s[i] >= q.arrival_s);
            assert!(r.first_token_s[i] > r.arrival_s[i]);
        }
        assert!(r.arrival_s.windows(2).all(|w| w[0] <= w[1]));
        assert!(r.replica.contains(&2));
        assert_eq!(r, simulate_with(&linear, &c, 3, &trace, &opts).unwrap());
    }

    #[test]
    fn zero_concurrency_is_named() {
        let trace = [req(0.0, 64, 2)];
        let e =
            simulate_with(&constant, &cfg(8, 2048, true, 1e5), 1, &trace, &closed(0)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("max_concurrency") && msg.contains(">= 1"),
            "{msg}"
        );
    }

    #[test]
    fn heavy_preemption_keeps_every_token() {
        // A small cache forces many recompute preemptions; recomputed prefills (prompt + generated) can
        // exceed the unchunked token budget and are then admitted alone. Every request must still get
        // exactly its tokens: output - 1 gaps each, adding up to its decode span.
        let trace = poisson(
            50.0,
            400,
            LengthDist::Uniform { lo: 50, hi: 1000 },
            LengthDist::Uniform { lo: 1, hi: 300 },
            3,
        )
        .unwrap();
        for (chunked, balancer) in [
            (false, LoadBalancer::RoundRobin),
            (true, LoadBalancer::RoundRobin),
            (false, LoadBalancer::LeastOutstanding),
            (true, LoadBalancer::LeastOutstanding),
        ] {
            let c = SchedulerConfig {
                max_model_len: 1300,
                ..cfg(64, 1000, chunked, 4096.0)
            };
            let opts = SimOptions {
                balancer,
                ..SimOptions::default()
            };
            let over_budget = RefCell::new(0);
            let cost = |b: &Batch| {
                if b.prefill.iter().any(|p| p.tokens > 1000.0) {
                    assert_eq!(b.prefill.len(), 1);
                    *over_budget.borrow_mut() += 1;
                }
                linear(b)
            };
            let r = simulate_with(&cost, &c, 2, &trace, &opts).unwrap();
            let pre: u32 = r.preemptions.iter().sum();
            assert!(pre > 10, "{pre}");
            assert_eq!(*over_budget.borrow() > 0, !chunked);
            let n_gaps: u32 = trace.iter().map(|q| q.output_tokens - 1).sum();
            assert_eq!(r.itl_gaps_s.len(), n_gaps as usize);
            let gaps: f64 = r.itl_gaps_s.iter().map(|&g| f64::from(g)).sum();
            let spans: f64 = (0..trace.len())
                .map(|i| r.finish_s[i] - r.first_token_s[i])
                .sum();
            assert!((gaps / spans - 1.0).abs() < 1e-5);
            for i in 0..trace.len() {
                assert!(r.first_token_s[i] > r.arrival_s[i]);
                assert!(r.finish_s[i] >= r.first_token_s[i]);
                assert!(r.max_itl_s[i] <= r.finish_s[i] - r.first_token_s[i] + 1e-12);
            }
            assert_eq!(r.iterations_per_replica.iter().sum::<u64>(), r.iterations);
        }
    }

    #[test]
    fn bad_rows_and_configs_are_named() {
        let c = SchedulerConfig {
            max_model_len: 100,
            ..cfg(4, 2048, true, 64.0)
        };
        let good = req(0.0, 10, 5);
        let e = |trace: &[Request], c: &SchedulerConfig, replicas: u32| {
            simulate(&constant, c, replicas, trace)
                .unwrap_err()
                .to_string()
        };
        let m = e(&[good, good, good, req(0.0, 0, 5)], &c, 1);
        assert!(m.contains("row 3:") && m.contains("prompt_tokens"), "{m}");
        let m = e(&[good, req(1.0, 10, 5), req(0.5, 10, 5)], &c, 1);
        assert!(m.contains("row 2:"), "{m}");
        let m = e(&[good, req(0.0, 60, 41)], &c, 1);
        assert!(m.contains("row 1:") && m.contains("max_model_len"), "{m}");
        // 64 tokens of cache: prompt 60 + output 6 writes 65 tokens of KV at most (5 blocks > 4).
        let m = e(&[good, good, req(0.0, 60, 6)], &c, 1);
        assert!(m.contains("row 2:") && m.contains("blocks"), "{m}");
        assert!(simulate(&constant, &c, 1, &[req(0.0, 60, 5)]).is_ok());
        let m = e(&[good], &c, 0);
        assert!(m.contains("`replicas`"), "{m}");
        let bad = [
            (
                SchedulerConfig {
                    max_num_seqs: 0,
                    ..c
                },
                "`max_num_seqs`",
            ),
            (
                SchedulerConfig {
                    max_num_batched_tokens: 2,
                    ..c
                },
                "`max_num_batched_tokens`",
            ),
            (SchedulerConfig { block_size: 0, ..c }, "`block_size`"),
            (
                SchedulerConfig {
                    kv_capacity_tokens: f64::NAN,
                    ..c
                },
                "`kv_capacity_tokens`",
            ),
            (
                SchedulerConfig {
                    kv_capacity_tokens: 8.0,
                    ..c
                },
                "`kv_capacity_tokens`",
            ),
        ];
        for (bc, word) in bad {
            let m = e(&[good], &bc, 1);
            assert!(m.contains(word), "{m}");
        }
        // A broken cost model is reported, not propagated as NaN times.
        let nan = |_: &Batch| f64::NAN;
        assert!(simulate(&nan, &c, 1, &[good]).is_err());
        // An empty trace is fine.
        let r = simulate(&constant, &c, 3, &[]).unwrap();
        assert_eq!(r.iterations, 0);
        assert_eq!(r.makespan_s, 0.0);
        assert!(r.itl_quantile_s(0.5).is_err());
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5).unwrap(), 2.5);
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 1.0).unwrap(), 4.0);
        assert_eq!(quantile(&[5.0], 0.99).unwrap(), 5.0);
        assert!(quantile(&[1.0], 1.5).is_err());
        assert!(quantile(&[f64::NAN], 0.5).is_err());
    }

    /// The scheduler of the 10,000-request timing runs (vLLM-like, one replica near saturation).
    /// A stop requested mid-run (here by the cost model at its 100th iteration, as another thread would)
    /// ends the run with `Interrupted`, in the replica and the lockstep loops; a stop that is never requested
    /// leaves the result unchanged to the bit.
    #[test]
    fn a_requested_stop_ends_the_run_and_an_unrequested_one_changes_nothing() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let (p, o) = lengths();
        let trace = poisson(20.0, 500, p, o, 3).unwrap();
        let c = bench_config();
        let flag = Arc::new(AtomicBool::new(false));
        let opts = SimOptions {
            stop: Stop::on(flag.clone()),
            ..SimOptions::default()
        };
        let plain = simulate(&linear, &c, 2, &trace).unwrap();
        let watched = simulate_with(&linear, &c, 2, &trace, &opts).unwrap();
        assert!(plain.iterations > 1000);
        assert_eq!(format!("{plain:?}"), format!("{watched:?}"));
        let calls = AtomicU64::new(0);
        let stopping = |b: &Batch| {
            if calls.fetch_add(1, Ordering::Relaxed) == 100 {
                flag.store(true, Ordering::Relaxed);
            }
            linear(b)
        };
        let r = simulate_with(&stopping, &c, 2, &trace, &opts);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        // Not one iteration more.
        assert_eq!(calls.load(Ordering::Relaxed), 101);
        // Lockstep groups check before each group iteration.
        let group = |bs: &[Batch]| bs.iter().map(linear).fold(0.0, f64::max);
        let r = simulate_lockstep(&group, &c, 1, 2, &trace, &opts);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        flag.store(false, Ordering::Relaxed);
        assert!(simulate_lockstep(&group, &c, 1, 2, &trace, &opts).is_ok());
    }

    pub(crate) fn bench_config() -> SchedulerConfig {
        SchedulerConfig {
            max_model_len: 8192,
            ..cfg(256, 8192, true, 2e5)
        }
    }

    /// Speed check (no assertion on time): 10,000 Poisson requests, prompt ~500, output ~200, one
    /// replica near saturation. Run with
    /// `cargo test --release -p perfmodel-core bench_10k -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing run; see the doc comment"]
    fn bench_10k_requests() {
        let (p, o) = lengths();
        let trace = poisson(40.0, 10_000, p, o, 7).unwrap();
        let c = bench_config();
        for record_itl_gaps in [true, true, true, false] {
            let opts = SimOptions {
                record_itl_gaps,
                ..SimOptions::default()
            };
            let start = std::time::Instant::now();
            let r = simulate_with(&linear, &c, 1, &trace, &opts).unwrap();
            let dt = start.elapsed();
            let pre: u32 = r.preemptions.iter().sum();
            println!(
                "10k requests: {:.1} ms, {} iterations, {} gaps, {pre} preemptions, makespan {:.1} s, max ITL {:.4} s",
                dt.as_secs_f64() * 1e3,
                r.iterations,
                r.itl_gaps_s.len(),
                r.makespan_s,
                r.max_itl_s.iter().fold(0.0, |m: f64, &x| m.max(x))
            );
        }
    }
}
