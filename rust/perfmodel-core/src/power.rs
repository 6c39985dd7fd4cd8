//! Power and energy of a GPU as a function of what it is doing, on the same iteration and step quantities the
//! time model computes (no second time model: the time comes from [`crate::serve::Engine`] or the training
//! step; this module only adds the watts).
//!
//! # The law
//!
//! Board power over an interval of `t` seconds in which the GPU runs kernels for `tau <= t` seconds, does `F`
//! FLOPs and moves `B` HBM bytes:
//!
//! ```text
//! P = P_idle + [ a_busy * tau + a_compute * F / R_peak + a_memory * B / BW_peak ] / t      (capped at the limit)
//! ```
//!
//! with `R_peak` the dense matrix peak of the dtype and `BW_peak` the HBM peak, so `F / (R_peak t)` and
//! `B / (BW_peak t)` are the achieved compute and memory utilisations. This is the utilisation-linear model of
//! GPU power of Hong & Kim (ISCA 2010, "An integrated GPU power and performance model": power = idle + the sum
//! of each unit's access rate times its maximum dynamic power) at the granularity this library has (one busy
//! term, tensor units, HBM), and what the ML.ENERGY measurements show on H100 (power rises with batch size,
//! from ~430-540 W at batch 8 to the 700 W limit at batch 192+: memory-bound decode draws well below TDP,
//! compute-heavy batches reach it). `P_idle` is published (hwdb `idle_w`); `a_busy`, `a_compute`, `a_memory`
//! are fitted per device on measured power (hwdb `active_tdp_ratio`, `compute_tdp_ratio`, `memory_tdp_ratio` of
//! the TDP; `tools/calibrate.py --power`). Energy is `P t`. A device without fitted figures takes them, as
//! fractions of its own TDP, from the device its efficiency figures inherit from (`inherit_from`), as it does
//! the fitted kernel figures.
//!
//! # Power limits (capping)
//!
//! A GPU whose demand exceeds its power limit (the TDP by default, or a cap set with `nvidia-smi -pl`) lowers
//! its SM clock. At clock fraction `s` of the boost clock (memory clock unchanged):
//! - the compute-bound share `phi` of the busy time stretches as `1/s`: `tau(s) = tau ((1 - phi) + phi / s)`;
//!   `phi = F / (R_peak * gemm_fraction * tau)` (the time the matrix units need at their tuned rate, at most 1);
//! - dynamic energy per FLOP scales as `V^2 ~ s^2` and the busy (clock-tree, leakage at voltage) power as
//!   `f V^2 ~ s^3`, since voltage tracks frequency in the DVFS range (CMOS dynamic power `P = a C V^2 f`;
//!   Weste & Harris, "CMOS VLSI Design", 4th ed., §5.1); energy per HBM byte does not change.
//!
//! `s` is the largest clock whose power fits the limit (bisection; at least [`MIN_CLOCK_FRACTION`]). Decode,
//! which is memory-bound, barely slows under a cap that prefill feels fully: what Patel et al. measured on
//! A100/H100 inference servers (POLCA, arXiv:2308.12908: capping costs inference little, hence ~30% more
//! servers under the same power budget) and Ma et al. on H200 (arXiv:2605.11999: decode draws 137-300 W of
//! 700 W, so a cap rarely binds on it). The time model itself is unchanged: without a cap the reported power
//! is clamped at the TDP but iterations are not slowed (pass the TDP as a cap to model the throttle).
use crate::error::{invalid, Error, Result};
use crate::hw::device::{Device, DEFAULT_INHERIT_FROM};
use crate::hw::Dtype;
use crate::serve::iteration::check_columns;
use crate::serve::{Batch, Engine, IterationTime, PrefillChunk, WeightFormat};

/// The lowest SM clock a power limit may push the GPU to, as a fraction of the boost clock (H100 SXM5:
/// `nvidia-smi -q -d SUPPORTED_CLOCKS` lists graphics clocks from 345 MHz to 1980 MHz, about 0.17 of the
/// boost; 0.2 keeps the model within the range where voltage still tracks frequency).
pub const MIN_CLOCK_FRACTION: f64 = 0.2;

/// One device's power law, resolved (figures in watts, rates for the dtype priced).
#[derive(Debug, Clone, PartialEq)]
pub struct PowerModel {
    pub device: String,
    pub tdp_w: f64,
    pub idle_w: f64,
    /// Busy power above idle at the boost clock, W.
    pub active_w: f64,
    /// Power at the full matrix peak, above busy, W.
    pub compute_w: f64,
    /// Power at the full HBM bandwidth, above busy, W.
    pub memory_w: f64,
    /// Dense matrix peak of the priced dtype, FLOP/s.
    pub peak_flops: f64,
    /// The matrix rate tuned GEMMs reach (peak x the device's GEMM fraction), FLOP/s: the compute-bound share.
    pub tuned_flops: f64,
    /// HBM peak, bytes/s.
    pub hbm_bytes_per_s: f64,
    /// What the figures come from (fitted, inherited, published idle).
    pub fitted_on: String,
}

/// Work of one interval on one GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    pub flops: f64,
    pub hbm_bytes: f64,
}

/// Power of one interval on one GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Operating {
    /// The interval's length (stretched when a power limit lowered the clock), s.
    pub time_s: f64,
    /// Average board power, W.
    pub power_w: f64,
    /// `power_w x time_s`, J.
    pub energy_j: f64,
    /// SM clock as a fraction of the boost clock (1 unless a limit bound).
    pub clock_fraction: f64,
    /// Achieved compute and memory utilisation at nominal clocks.
    pub compute_utilization: f64,
    pub memory_utilization: f64,
    /// What the GPU would draw without any limit, W.
    pub demand_w: f64,
}

impl PowerModel {
    /// The power law of `dev` computing in `dtype`: its own `[power]` figures where the file gives them, else
    /// those of the device its efficiency figures inherit from (followed until one gives them; then
    /// [`DEFAULT_INHERIT_FROM`]), scaled to its TDP; idle likewise when not published.
    pub fn of_device(dev: &Device, dtype: Dtype) -> Result<PowerModel> {
        let peak_flops = dev.matrix_peak(dtype).or_else(|| dev.vector_peak(dtype));
        let peak_flops = peak_flops.ok_or_else(|| Error::Unsupported {
            message: format!(
                "device '{}' has no {} peak to price power on",
                dev.id,
                dtype.name()
            ),
        })?;
        let tdp = dev.tdp_w;
        let mut fitted: Option<(f64, f64, f64, String, String)> = None;
        let mut idle: Option<(f64, String)> = dev.power.idle_w.map(|w| (w, dev.id.clone()));
        let mut cur = std::sync::Arc::new(dev.clone());
        for _ in 0..16 {
            let p = &cur.power;
            if fitted.is_none() {
                if let (Some(a), Some(c), Some(m)) = (p.active, p.compute, p.memory) {
                    fitted = Some((
                        a,
                        c,
                        m,
                        cur.id.clone(),
                        p.fitted_on.clone().unwrap_or_default(),
                    ));
                }
            }
            if idle.is_none() {
                if let Some(w) = p.idle_w {
                    idle = Some((w / cur.tdp_w * tdp, cur.id.clone()));
                }
            }
            if fitted.is_some() && idle.is_some() {
                break;
            }
            let next = cur
                .efficiency
                .inherit_from
                .clone()
                .unwrap_or_else(|| DEFAULT_INHERIT_FROM.to_string());
            if next == cur.id {
                break;
            }
            cur = crate::hw::registry()?.get_kind(&next, "device")?.device()?;
        }
        let (a, c, m, from, on) = fitted.ok_or_else(|| Error::Unsupported {
            message: format!(
                "device '{}' has no fitted power figures and none to inherit (hwdb [power] active_tdp_ratio, \
                 compute_tdp_ratio, memory_tdp_ratio)",
                dev.id
            ),
        })?;
        let (idle_w, idle_from) = idle.ok_or_else(|| Error::Unsupported {
            message: format!(
                "device '{}' has no idle power (hwdb [power] idle_w) to inherit",
                dev.id
            ),
        })?;
        let mut fitted_on = if from == dev.id {
            on
        } else {
            format!("inherited from {from} as fractions of the TDP ({on})")
        };
        if idle_from != dev.id {
            fitted_on =
                format!("{fitted_on}; idle scaled from {idle_from}'s published idle by TDP");
        }
        Ok(PowerModel {
            device: dev.id.clone(),
            tdp_w: tdp,
            idle_w,
            active_w: a * tdp,
            compute_w: c * tdp,
            memory_w: m * tdp,
            peak_flops,
            tuned_flops: peak_flops * dev.gemm_fraction(dtype),
            hbm_bytes_per_s: dev.hbm_bandwidth(),
            fitted_on,
        })
    }

    /// Checks a power limit: finite, above idle, at most the TDP (the argument is named `power_cap_w`).
    pub fn check_cap(&self, cap_w: f64) -> Result<f64> {
        if !cap_w.is_finite() || cap_w <= self.idle_w || cap_w > self.tdp_w {
            return Err(invalid(
                "power_cap_w",
                format!(
                    "is {cap_w}; expected a limit above {}'s idle power ({:.0} W) and at most its TDP ({:.0} W)",
                    self.device, self.idle_w, self.tdp_w
                ),
            ));
        }
        Ok(cap_w)
    }

    /// Power of an interval whose kernels, doing `w`, ran `nominal_busy_s` at the boost clock (`phi` of that
    /// compute-bound) and whose host part is `host_s`, when run at clock fraction `s`: `(average power over the
    /// stretched interval, dynamic energy)`.
    fn at_clock(&self, w: &Work, nominal_busy_s: f64, phi: f64, host_s: f64, s: f64) -> (f64, f64) {
        let busy = nominal_busy_s * ((1.0 - phi) + phi / s);
        let t = busy + host_s;
        let dynamic = self.active_w * busy * s * s * s
            + self.compute_w * w.flops / self.peak_flops * s * s
            + self.memory_w * w.hbm_bytes / self.hbm_bytes_per_s;
        if t <= 0.0 {
            return (self.idle_w, 0.0);
        }
        (self.idle_w + dynamic / t, dynamic)
    }

    /// Average power over an interval without a cap (the TDP clamps it; see [`PowerModel::operate`]), W: the
    /// simulator's per-iteration path, without the cap's bookkeeping.
    #[inline]
    pub fn uncapped_w(&self, w: &Work, time_s: f64, host_s: f64) -> f64 {
        if time_s <= 0.0 {
            return self.idle_w;
        }
        let busy = (time_s - host_s).max(0.0);
        let dynamic = self.active_w * busy
            + self.compute_w * w.flops / self.peak_flops
            + self.memory_w * w.hbm_bytes / self.hbm_bytes_per_s;
        (self.idle_w + dynamic / time_s).min(self.tdp_w)
    }

    /// One interval of `time_s` seconds of which `host_s` are host time (the GPU idle), doing `w`, under the
    /// power limit `cap_w` (None: the TDP, without slowing the interval; see the module notes).
    pub fn operate(&self, w: &Work, time_s: f64, host_s: f64, cap_w: Option<f64>) -> Operating {
        let host = host_s.clamp(0.0, time_s);
        let busy = time_s - host;
        let (cu, mu) = if time_s > 0.0 {
            (
                w.flops / (self.peak_flops * time_s),
                w.hbm_bytes / (self.hbm_bytes_per_s * time_s),
            )
        } else {
            (0.0, 0.0)
        };
        let phi = if busy > 0.0 {
            (w.flops / (self.tuned_flops * busy)).min(1.0)
        } else {
            0.0
        };
        let (demand, _) = self.at_clock(w, busy, phi, host, 1.0);
        let mut out = Operating {
            time_s,
            power_w: demand,
            energy_j: demand * time_s,
            clock_fraction: 1.0,
            compute_utilization: cu,
            memory_utilization: mu,
            demand_w: demand,
        };
        match cap_w {
            None => {
                if demand > self.tdp_w {
                    out.power_w = self.tdp_w;
                    out.energy_j = self.tdp_w * time_s;
                }
            }
            Some(cap) if demand > cap => {
                // The largest clock whose power fits the cap: power falls monotonically with the clock.
                let (mut lo, mut hi) = (MIN_CLOCK_FRACTION, 1.0);
                if self.at_clock(w, busy, phi, host, lo).0 <= cap {
                    for _ in 0..40 {
                        let mid = 0.5 * (lo + hi);
                        if self.at_clock(w, busy, phi, host, mid).0 <= cap {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                }
                let s = lo;
                let stretched = busy * ((1.0 - phi) + phi / s) + host;
                let (p, _) = self.at_clock(w, busy, phi, host, s);
                out.time_s = stretched;
                // At the lowest clock a cap just above idle may still be exceeded: the power is then reported
                // as the model gives it, above the cap.
                out.power_w = p;
                out.energy_j = out.power_w * stretched;
                out.clock_fraction = s;
            }
            Some(_) => {}
        }
        out
    }
}

/// The dtype whose matrix peak an engine's linear layers run at (the compute-utilisation denominator).
pub fn engine_dtype(e: &Engine, dev: &Device) -> Dtype {
    match e.weights {
        WeightFormat::Fp8 => Dtype::Fp8,
        WeightFormat::Nvfp4 => Dtype::Nvfp4,
        WeightFormat::Mxfp4 => Dtype::Mxfp4,
        WeightFormat::Fp6 => Dtype::Fp6,
        WeightFormat::Fp16 => Dtype::Fp16,
        WeightFormat::Bf16 | WeightFormat::Int4 => {
            if dev.matrix_peak(Dtype::Bf16).is_some() {
                Dtype::Bf16
            } else {
                Dtype::Fp16
            }
        }
    }
}

/// Bytes of one activation element (iterations run in 16-bit).
const ACT_BYTES: f64 = 2.0;
/// Logits are sampled in fp32.
const LOGIT_BYTES: f64 = 4.0;
/// Activation bytes moved per token per layer, in units of `hidden` 16-bit elements, by the iteration's
/// stream kernels (the engine's elementwise passes: two norms read+write, two residual adds read 2 write 1,
/// rotary read+write of the queries, the embedding and output projections' inputs): 2 + 2 + 3 + 3 + 2 + 2.
const ACT_ROWS_PER_LAYER: f64 = 14.0;

/// FLOPs and HBM bytes of one iteration on one GPU of the heaviest pipeline stage, counted on the same shapes
/// the engine prices (`Engine::iteration`): every new token through the stage's linear layers (2 FLOPs per
/// weight, MoE: top-k routed and shared experts, `Model::layer_gemm_flops_fwd`) over TP; causal flash
/// attention of each prefill chunk over its cached and new keys and decode attention over every context
/// (`4 q_width` FLOPs per query-key pair over TP); the LM head and sampling for every sampled sequence. Bytes:
/// the stage's weights read once (less the embedding table, which is gathered), the KV cache read by decode and
/// chunked-prefill attention and written for every new token, the stream kernels' activations, the logits.
/// The per-token and per-sequence coefficients are resolved once per engine ([`WorkModel::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkModel {
    /// FLOPs per new token (linear layers of the stage).
    token_flops: f64,
    /// FLOPs per query-key pair (all layers of the stage).
    pair_flops: f64,
    /// FLOPs per sampled sequence (LM head).
    sample_flops: f64,
    /// Weight bytes read once per iteration.
    weight_bytes: f64,
    /// KV bytes per token of context read or written (all layers of the stage).
    kv_bytes: f64,
    /// Activation bytes per new token.
    token_bytes: f64,
    /// Logit bytes per sampled sequence.
    sample_bytes: f64,
}

impl WorkModel {
    pub fn new(e: &Engine) -> WorkModel {
        let m = &e.model;
        // With attention DP each rank runs whole layers on its own tokens (under uniform routing its local
        // experts see as many routed rows as its own tokens would give them).
        let tp = e.attention_tp();
        let (layers, _, _) = e.stage_layer_counts();
        // The embedding table is gathered (t rows), not streamed; the first stage holds it (pp = 1: this stage).
        let embedding = if e.plan.pp == 1 {
            m.embedding_params() * ACT_BYTES / tp
        } else {
            0.0
        };
        let ffn = m.ffn_hidden.max(m.expert_ffn()) / tp;
        WorkModel {
            token_flops: layers * m.layer_gemm_flops_fwd() / tp,
            pair_flops: layers * 4.0 * m.q_width() / tp,
            sample_flops: 2.0 * m.hidden * m.vocab / tp,
            weight_bytes: (e.weight_bytes() - embedding).max(0.0),
            kv_bytes: layers * e.kv_cache_width_per_gpu() * e.kv.bytes(),
            token_bytes: layers * (ACT_ROWS_PER_LAYER * m.hidden + 3.0 * ffn) * ACT_BYTES
                + m.hidden * ACT_BYTES,
            sample_bytes: m.vocab * LOGIT_BYTES * (1.0 / tp + 1.0),
        }
    }

    /// The work of the iteration holding `b`.
    pub fn iteration(&self, b: &Batch) -> Work {
        let mut pairs = 0.0;
        let mut cached = 0.0;
        let mut tokens = 0.0;
        let mut finishing = 0.0;
        for c in &b.prefill {
            tokens += c.tokens;
            pairs += c.tokens * (c.cached + 0.5 * (c.tokens + 1.0));
            cached += c.cached;
            if c.last {
                finishing += 1.0;
            }
        }
        self.work(
            tokens,
            pairs,
            cached,
            finishing,
            b.decode_seqs,
            b.decode_context_sum,
        )
    }

    /// The work of the engine's uniform iteration ([`Engine::uniform`]): `prefill` equal chunks (as
    /// [`crate::serve::batch::uniform_prefill`] gives them) and `decode_seqs` sequences attending to `context`
    /// tokens.
    pub fn uniform(
        &self,
        prefill: Option<(f64, PrefillChunk)>,
        decode_seqs: f64,
        context: f64,
    ) -> Work {
        let (n, p, cached) = prefill.map_or((0.0, 0.0, 0.0), |(n, c)| (n, c.tokens, c.cached));
        self.work(
            n * p,
            n * p * (cached + 0.5 * (p + 1.0)),
            n * cached,
            n,
            decode_seqs,
            decode_seqs * context,
        )
    }

    fn work(
        &self,
        prefill_tokens: f64,
        pairs: f64,
        cached: f64,
        finishing: f64,
        decode_seqs: f64,
        decode_context_sum: f64,
    ) -> Work {
        let t = prefill_tokens + decode_seqs;
        if t <= 0.0 {
            return Work::default();
        }
        let sampled = finishing + decode_seqs;
        Work {
            flops: self.token_flops * t
                + self.pair_flops * (pairs + decode_context_sum)
                + self.sample_flops * sampled,
            hbm_bytes: self.weight_bytes
                + self.kv_bytes * (decode_context_sum + cached + t)
                + self.token_bytes * t
                + self.sample_bytes * sampled,
        }
    }
}

/// Power of one serving iteration on one GPU: the engine's time (with its host overhead as GPU idle time) and
/// its work ([`WorkModel`]); under a cap the iteration stretches (see the module notes). The host overhead and the
/// TP/PP collectives are GPU time without compute kernels; with pipeline parallelism one GPU runs its stage's
/// share, `1/pp` of the kernel time.
pub fn iteration_power(
    p: &PowerModel,
    e: &Engine,
    it: &IterationTime,
    w: &Work,
    cap_w: Option<f64>,
) -> Operating {
    p.operate(w, it.time_s, iteration_host_s(e, it), cap_w)
}

/// The part of an iteration one GPU spends without compute kernels at work, s.
#[inline]
fn iteration_host_s(e: &Engine, it: &IterationTime) -> f64 {
    let pp = f64::from(e.plan.pp);
    // Host time and collectives count as GPU time without kernels at work: an NCCL all-reduce runs on a few
    // SMs' channels while the rest wait (the communication phases of a training iteration draw far less than
    // its compute phases: Choukse et al., "Power stabilization for AI training datacenters", arXiv:2508.14318).
    let kernels = (it.time_s - it.overhead_s - it.tp_comm_s - it.pp_comm_s).max(0.0);
    it.time_s - kernels / pp
}

/// [`iteration_power`] of the engine's uniform iterations over equal-length columns (prefill seqs, prompt,
/// cached, decode seqs, context; as [`Engine::uniform_columns`], which checks them), in parallel: each
/// iteration's power and its work, in input order. A cap is checked first (the error names `power_cap_w`).
pub fn uniform_power_columns(
    e: &Engine,
    p: &PowerModel,
    cols: [(&str, &[f64]); 5],
    cap_w: Option<f64>,
) -> Result<Vec<(Operating, Work)>> {
    use rayon::prelude::*;
    if let Some(c) = cap_w {
        p.check_cap(c)?;
    }
    let times = e.uniform_columns(cols)?;
    let wm = WorkModel::new(e);
    let [ps, pl, ca, ds, cx] = cols.map(|(_, c)| c);
    Ok(times
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .map(|(i, it)| {
            let prefill = crate::serve::batch::uniform_prefill(ps[i], pl[i], ca[i]);
            let w = wm.uniform(prefill, ds[i], cx[i]);
            (iteration_power(p, e, it, &w, cap_w), w)
        })
        .collect())
}

/// Energy tallied over a simulated run (see [`Powered`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyTally {
    /// Sum over iterations of the energy above idle of one GPU of the stage, J.
    pub dynamic_j: f64,
    /// Sum of iteration times (as run, stretched under a cap), s.
    pub busy_s: f64,
    pub iterations: u64,
    /// Iterations a power limit slowed.
    pub throttled: u64,
    /// Highest per-GPU power of an iteration, W.
    pub peak_w: f64,
}

/// An engine whose iterations also tally their energy (and run slower under a power cap): the simulator's
/// [`crate::serve::sim::IterationCost`] with power. Uncapped, its times are the engine's to the bit.
pub struct Powered<'a> {
    pub engine: &'a Engine,
    pub power: &'a PowerModel,
    pub cap_w: Option<f64>,
    work: WorkModel,
    tally: std::cell::Cell<EnergyTally>,
}

impl<'a> Powered<'a> {
    pub fn new(engine: &'a Engine, power: &'a PowerModel, cap_w: Option<f64>) -> Result<Self> {
        if let Some(c) = cap_w {
            power.check_cap(c)?;
        }
        Ok(Powered {
            engine,
            power,
            cap_w,
            work: WorkModel::new(engine),
            tally: std::cell::Cell::new(EnergyTally::default()),
        })
    }

    pub fn tally(&self) -> EnergyTally {
        self.tally.get()
    }
}

impl crate::serve::sim::IterationCost for Powered<'_> {
    fn iteration_s(&self, batch: &Batch) -> f64 {
        let it = self.engine.iteration(batch);
        let w = self.work.iteration(batch);
        let (time_s, power_w, throttled) = if self.cap_w.is_none() {
            let host = iteration_host_s(self.engine, &it);
            (it.time_s, self.power.uncapped_w(&w, it.time_s, host), false)
        } else {
            let op = iteration_power(self.power, self.engine, &it, &w, self.cap_w);
            (op.time_s, op.power_w, op.clock_fraction < 1.0)
        };
        let mut t = self.tally.get();
        t.dynamic_j += (power_w - self.power.idle_w) * time_s;
        t.busy_s += time_s;
        t.iterations += 1;
        t.throttled += u64::from(throttled);
        t.peak_w = t.peak_w.max(power_w);
        self.tally.set(t);
        time_s
    }
}

/// [`PowerModel::operate`] over equal-length columns of work (`flops`, `hbm_bytes`, `time_s`, `host_s`; every
/// element finite and >= 0, the error naming the column and element) under the optional limit `cap_w` (checked
/// first, the error naming `power_cap_w`): each interval's power and its work, in input order.
pub fn operate_columns(
    p: &PowerModel,
    cols: [(&str, &[f64]); 4],
    cap_w: Option<f64>,
) -> Result<Vec<(Operating, Work)>> {
    let n = check_columns(&cols)?;
    if let Some(c) = cap_w {
        p.check_cap(c)?;
    }
    let [f, b, t, h] = cols.map(|(_, c)| c);
    // Work the device cannot do in its interval at peak (a typo, or the wrong unit) is an error, not a power
    // past the TDP: 1e-6 of slack for rounding.
    for i in 0..n {
        let busy = (t[i] - h[i]).max(0.0) * (1.0 + 1e-6);
        let (tf, tb) = (f[i] / p.peak_flops, b[i] / p.hbm_bytes_per_s);
        if tf > busy || tb > busy {
            let (arg, need) = if tf > busy {
                ("flops", tf)
            } else {
                ("hbm_bytes", tb)
            };
            return Err(crate::error::invalid(
                arg,
                format!(
                    "element {i} needs {need:e} s at the device's peak, more than its busy time \
                     (time_s - host_s = {:e} s)",
                    (t[i] - h[i]).max(0.0)
                ),
            ));
        }
    }
    Ok((0..n)
        .map(|i| {
            let w = Work {
                flops: f[i],
                hbm_bytes: b[i],
            };
            (p.operate(&w, t[i], h[i], cap_w), w)
        })
        .collect())
}

/// Power of a training step on one GPU: `step_s` long, `flops` hardware FLOPs on the GPU, `hbm_bytes` moved,
/// `idle_s` of it waiting (pipeline bubble and exposed communication, the GPU's kernels idle or only moving
/// bytes over links).
pub fn step_power(
    p: &PowerModel,
    flops: f64,
    hbm_bytes: f64,
    step_s: f64,
    idle_s: f64,
    cap_w: Option<f64>,
) -> Operating {
    p.operate(&Work { flops, hbm_bytes }, step_s, idle_s, cap_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> PowerModel {
        let dev = crate::hw::registry()
            .unwrap()
            .get_kind("h100-sxm5-80gb", "device")
            .unwrap()
            .device()
            .unwrap();
        PowerModel::of_device(&dev, Dtype::Bf16).unwrap()
    }

    #[test]
    fn idle_interval_draws_idle_power() {
        let p = h100();
        let op = p.operate(&Work::default(), 1.0, 1.0, None);
        assert_eq!(op.power_w, p.idle_w);
        assert_eq!(op.energy_j, p.idle_w);
    }

    #[test]
    fn linear_law_by_hand() {
        let p = h100();
        // Full busy second at half the HBM peak and a tenth of the matrix peak.
        let w = Work {
            flops: 0.1 * p.peak_flops,
            hbm_bytes: 0.5 * p.hbm_bytes_per_s,
        };
        let op = p.operate(&w, 1.0, 0.0, None);
        let by_hand = p.idle_w + p.active_w + 0.1 * p.compute_w + 0.5 * p.memory_w;
        assert!((op.power_w - by_hand.min(p.tdp_w)).abs() < 1e-9 * by_hand);
        assert!((op.demand_w - by_hand).abs() < 1e-9 * by_hand);
        assert_eq!(op.clock_fraction, 1.0);
        assert_eq!(op.time_s, 1.0);
    }

    #[test]
    fn cap_slows_compute_bound_work_more_than_memory_bound() {
        let p = h100();
        let compute = Work {
            flops: 0.7 * p.peak_flops,
            hbm_bytes: 0.05 * p.hbm_bytes_per_s,
        };
        let memory = Work {
            flops: 0.02 * p.peak_flops,
            hbm_bytes: 0.9 * p.hbm_bytes_per_s,
        };
        let cap = 0.5 * p.tdp_w;
        let c = p.operate(&compute, 1.0, 0.0, Some(cap));
        let m = p.operate(&memory, 1.0, 0.0, Some(cap));
        assert!(c.power_w <= cap + 1e-6 && m.power_w <= cap + 1e-6);
        assert!(c.time_s / 1.0 > m.time_s / 1.0, "{c:?} {m:?}");
        // Energy of the same work never grows when the clock drops (dynamic energy per FLOP ~ s^2), apart from
        // idle power over the longer time.
        assert!(c.energy_j - p.idle_w * c.time_s <= (c.demand_w - p.idle_w) * 1.0 + 1e-9);
    }

    #[test]
    fn fast_path_equals_operate() {
        let p = h100();
        for (f, b, t, h) in [
            (1e12, 1e9, 0.01, 0.001),
            (5e14, 3e12, 1.0, 0.0),
            (0.0, 0.0, 0.5, 0.5),
        ] {
            let w = Work {
                flops: f,
                hbm_bytes: b,
            };
            let op = p.operate(&w, t, h, None);
            assert!((p.uncapped_w(&w, t, h) - op.power_w).abs() <= 1e-9 * op.power_w);
        }
    }

    #[test]
    fn cap_below_idle_is_an_error_naming_the_argument() {
        let p = h100();
        for bad in [0.0, -5.0, f64::NAN, p.idle_w, p.tdp_w + 1.0] {
            let e = p.check_cap(bad).unwrap_err().to_string();
            assert!(e.contains("power_cap_w"), "{e}");
        }
        assert!(p.check_cap(p.tdp_w).is_ok());
    }

    #[test]
    fn inherited_figures_scale_with_tdp() {
        let h = h100();
        let dev = crate::hw::registry()
            .unwrap()
            .get_kind("a100-sxm4-80gb", "device")
            .unwrap()
            .device()
            .unwrap();
        let a = PowerModel::of_device(&dev, Dtype::Bf16).unwrap();
        assert!((a.active_w / a.tdp_w - h.active_w / h.tdp_w).abs() < 1e-12);
        assert!(
            a.fitted_on.contains("inherited from h100-sxm5-80gb"),
            "{}",
            a.fitted_on
        );
    }
}
