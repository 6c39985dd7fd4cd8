//! Exhaustive plan search: every combination of the given choices on all GPUs of the cluster, evaluated in
//! parallel with rayon; invalid candidates are counted by reason.
use rayon::prelude::*;

use super::model::{Model, Recompute};
use super::plan::{Invalid, Plan};
use super::step::{
    check_supported, evaluate_cached, kernel_key, kernels, placement_ok, Cluster, DpFigures, DpKey,
    Estimate, KernelKey, Kernels,
};
use crate::error::{invalid, Result};

/// The choices a search enumerates, and the plan options it holds fixed.
#[derive(Debug, Clone, Default)]
pub struct Space {
    pub global_batch: u32,
    pub tp: Vec<u32>,
    pub pp: Vec<u32>,
    pub vp: Vec<u32>,
    pub cp: Vec<u32>,
    pub ep: Vec<u32>,
    pub micro_batch: Vec<u32>,
    pub recompute: Vec<Recompute>,
    pub zero: Vec<u8>,
    pub sp: Vec<bool>,
    /// Overlap choices as bit sets: 1 = DP gradient/parameter collectives behind compute, 2 = TP
    /// collectives behind GEMMs, 4 = pipeline sends behind compute (Megatron-LM's
    /// `--overlap-grad-reduce`/`--overlap-param-gather`, `--tp-comm-overlap`, `--overlap-p2p-communication`).
    /// Empty: the base plan's flags.
    pub overlap: Vec<u8>,
    /// Offload choices as bit sets: 1 = optimizer states, 2 = activations, to host memory over the host link.
    /// Empty: the base plan's flags.
    pub offload: Vec<u8>,
    /// Options copied into every candidate (batch sizes and the enumerated fields are overwritten).
    pub base: Plan,
}

/// Valid plans with their estimates, plus skipped counts per [`Invalid`] reason.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub plans: Vec<Plan>,
    pub estimates: Vec<Estimate>,
    pub skipped: [u64; Invalid::COUNT],
    pub candidates: usize,
}

impl Space {
    pub fn check(&self) -> Result<()> {
        if let Some(o) = self.offload.iter().find(|o| **o > 3) {
            return Err(invalid(
                "offload",
                format!("choice {o}; expected a bit set 0..3 (1 optimizer, 2 activations)"),
            ));
        }
        if let Some(o) = self.overlap.iter().find(|o| **o > 7) {
            return Err(invalid(
                "overlap",
                format!("choice {o}; expected a bit set 0..7 (1 dp, 2 tp, 4 pp)"),
            ));
        }
        let lists: [(&str, usize); 10] = [
            ("tp", self.tp.len()),
            ("pp", self.pp.len()),
            ("vp", self.vp.len()),
            ("cp", self.cp.len()),
            ("ep", self.ep.len()),
            ("micro_batch", self.micro_batch.len()),
            ("recompute", self.recompute.len()),
            ("zero", self.zero.len()),
            ("sp", self.sp.len()),
            ("global_batch", usize::from(self.global_batch > 0)),
        ];
        for (name, n) in lists {
            if n == 0 {
                return Err(invalid(
                    name,
                    "needs at least one choice (global_batch must be >= 1)",
                ));
            }
        }
        if let Some(z) = self.zero.iter().find(|z| **z > 3) {
            return Err(invalid(
                "zero",
                format!("choice {z}; expected 0, 1, 2 or 3"),
            ));
        }
        Ok(())
    }

    /// Number of candidates (the product of the choice counts).
    pub fn size(&self) -> usize {
        self.tp.len()
            * self.pp.len()
            * self.vp.len()
            * self.cp.len()
            * self.ep.len()
            * self.micro_batch.len()
            * self.recompute.len()
            * self.zero.len()
            * self.sp.len()
            * self.overlap.len().max(1)
            * self.offload.len().max(1)
    }

    /// Candidate number `i` in a fixed mixed-radix order.
    #[inline]
    pub fn candidate(&self, mut i: usize, gpus: u64) -> Plan {
        let mut pick = |n: usize| {
            let r = i % n;
            i /= n;
            r
        };
        let mut p = self.base;
        if !self.offload.is_empty() {
            let o = self.offload[pick(self.offload.len())];
            p.offload_optimizer = o & 1 != 0;
            p.offload_activations = o & 2 != 0;
        }
        if !self.overlap.is_empty() {
            let o = self.overlap[pick(self.overlap.len())];
            p.dp_overlap = o & 1 != 0;
            p.tp_overlap = o & 2 != 0;
            p.pp_overlap = o & 4 != 0;
        }
        p.zero = self.zero[pick(self.zero.len())];
        p.recompute = self.recompute[pick(self.recompute.len())];
        p.vp = self.vp[pick(self.vp.len())];
        p.pp = self.pp[pick(self.pp.len())];
        p.sp = self.sp[pick(self.sp.len())];
        p.micro_batch = self.micro_batch[pick(self.micro_batch.len())];
        p.ep = self.ep[pick(self.ep.len())];
        p.cp = self.cp[pick(self.cp.len())];
        p.tp = self.tp[pick(self.tp.len())];
        p.global_batch = self.global_batch;
        let mp = u64::from(p.tp) * u64::from(p.pp) * u64::from(p.cp);
        p.dp = if mp > 0 && gpus % mp == 0 {
            (gpus / mp) as u32
        } else {
            0
        };
        p
    }
}

/// Evaluates candidates `start..end` (all when `end` is `None`) of the space on every GPU of the cluster.
pub fn search(
    m: &Model,
    c: &Cluster,
    space: &Space,
    start: usize,
    end: Option<usize>,
) -> Result<Found> {
    space.check()?;
    let gpus = c.gpus();
    let total = space.size();
    let end = end.unwrap_or(total).min(total);
    let start = start.min(end);
    check_supported(&space.base, c, "this device")?;
    let searched_overlap = !space.overlap.is_empty();
    // The space holds each frozen-weights plan without its no-op options only when it enumerates them.
    let searched_frozen = space.base.frozen_weights
        && space.zero.contains(&0)
        && !space.overlap.is_empty()
        && (space.offload.is_empty() || space.offload.iter().any(|o| o & 1 == 0));
    type Key = KernelKey;
    type Acc = (
        Vec<(Plan, Estimate)>,
        [u64; Invalid::COUNT],
        Option<(Key, Kernels)>,
        Option<(DpKey, DpFigures)>,
    );
    let (found, skipped) = (start..end)
        .into_par_iter()
        .fold(
            || -> Acc { (Vec::new(), [0; Invalid::COUNT], None, None) },
            |mut acc, i| {
                let p = space.candidate(i, gpus);
                let code = if p.dp == 0 {
                    Some(Invalid::GpusDivide)
                } else {
                    p.check_code(m, gpus)
                        .or_else(|| {
                            (searched_overlap && p.redundant_overlap())
                                .then_some(Invalid::RedundantOverlap)
                        })
                        .or_else(|| {
                            (searched_frozen && p.redundant_frozen())
                                .then_some(Invalid::FrozenRedundant)
                        })
                        .or_else(|| {
                            ((p.offload_optimizer || p.offload_activations) && c.host_link <= 0.0)
                                .then_some(Invalid::NoHostLink)
                        })
                        .or_else(|| (!placement_ok(&p, c)).then_some(Invalid::Placement))
                };
                match code {
                    Some(code) => acc.1[code as usize] += 1,
                    None => {
                        // Candidates are ordered so that consecutive ones mostly share their kernel times.
                        let key = kernel_key(&p);
                        let kern = match acc.2 {
                            Some((k, kern)) if k == key => kern,
                            _ => {
                                let kern = kernels(m, &p, c);
                                acc.2 = Some((key, kern));
                                kern
                            }
                        };
                        let e = evaluate_cached(m, &p, c, &kern, &mut acc.3);
                        acc.0.push((p, e));
                    }
                }
                acc
            },
        )
        .map(|(found, skipped, _, _)| (found, skipped))
        .reduce(
            || (Vec::new(), [0; Invalid::COUNT]),
            |mut a, b| {
                a.0.extend(b.0);
                for (x, y) in a.1.iter_mut().zip(b.1) {
                    *x += y;
                }
                a
            },
        );
    let (plans, estimates) = found.into_iter().unzip();
    Ok(Found {
        plans,
        estimates,
        skipped,
        candidates: end - start,
    })
}
