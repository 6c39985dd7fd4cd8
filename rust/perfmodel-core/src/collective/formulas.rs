//! The cost forms shared by the flat and hierarchical algorithms. The textbook alpha-beta formulas (Thakur,
//! Rabenseifner & Gropp, IJHPCA 19(1), 2005; docs/models/collectives.md#textbook-formulas) are not kept as a
//! separate copy: the algorithms implement them over real levels, and the tests reproduce the worked numbers
//! (docs/models/collectives.md#worked-numbers) with the engine itself on synthetic levels.
use crate::topology::LevelParams;

/// Pipelined phase: `m` segments through `steps` stages costs `(steps + m - 1)(alpha + (n/m) beta)`; at the
/// best segment count this is `(sqrt(steps alpha) + sqrt(n beta))^2`, which this returns given the latency
/// term `l = steps alpha` and the bandwidth term `w = n beta` (e.g. Pjesivac-Grbovic et al., Cluster
/// Computing 10(2), 2007, segmented algorithms). It describes chains and trees (broadcast, reduce, tree
/// all-reduce), whose stages wait for the segment before them; a ring all-reduce, all-gather or
/// reduce-scatter keeps every link busy from its first step and costs `L + W` ([`Protocols::time`]).
pub fn pipelined(l: f64, w: f64) -> f64 {
    let s = l.sqrt() + w.sqrt();
    s * s
}

/// Per-step latency and bandwidth of a ring over some levels, for NCCL/RCCL's three protocols: Simple and,
/// where every level models them, LL (a flag with every 8 bytes: small latency, a fraction of the bandwidth)
/// and LL128 (a flag per 128-byte line: nearly Simple's bandwidth, NCCL's tuner takes 0.92 of it, at a
/// latency between LL's and Simple's). NCCL's tuner (`src/graph/tuning.cc`) prices each protocol as
/// `latency + bytes / bandwidth` and runs the fastest; [`Protocols::time`] does the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocols {
    /// Simple: bottleneck bandwidth (bytes/s) and largest per-step latency (s).
    pub bandwidth: f64,
    pub latency: f64,
    /// LL: the same figures, `ll_bandwidth = 0` where a level does not model LL.
    pub ll_bandwidth: f64,
    pub ll_latency: f64,
    /// LL128: the same figures, `ll128_bandwidth = 0` where a level does not model LL128.
    pub ll128_bandwidth: f64,
    pub ll128_latency: f64,
}

impl Protocols {
    /// No level yet: infinite bandwidth, no latency, LL and LL128 available until a level lacks them.
    pub fn none() -> Protocols {
        Protocols {
            bandwidth: f64::INFINITY,
            latency: 0.0,
            ll_bandwidth: f64::INFINITY,
            ll_latency: 0.0,
            ll128_bandwidth: f64::INFINITY,
            ll128_latency: 0.0,
        }
    }

    /// Takes a level with per-rank bandwidth `bw` into the bottleneck.
    pub fn include(&mut self, l: &LevelParams, bw: f64) {
        self.bandwidth = self.bandwidth.min(bw);
        self.latency = self.latency.max(l.hop_latency_s);
        if l.has_ll() {
            self.ll_bandwidth = self.ll_bandwidth.min(bw * l.ll_bandwidth_ratio);
            self.ll_latency = self.ll_latency.max(l.hop_latency_s * l.ll_latency_ratio);
        } else {
            self.ll_bandwidth = 0.0;
        }
        if l.has_ll128() {
            self.ll128_bandwidth = self.ll128_bandwidth.min(bw * l.ll128_bandwidth_ratio);
            self.ll128_latency = self
                .ll128_latency
                .max(l.hop_latency_s * l.ll128_latency_ratio);
        } else {
            self.ll128_bandwidth = 0.0;
        }
    }

    /// Time of `steps` ring steps moving `bytes` over each rank's busiest link: `L + W` of the fastest protocol.
    pub fn time(&self, steps: f64, bytes: f64) -> f64 {
        let mut t = steps * self.latency + bytes / self.bandwidth;
        for (bw, lat) in [
            (self.ll_bandwidth, self.ll_latency),
            (self.ll128_bandwidth, self.ll128_latency),
        ] {
            if bw > 0.0 && bw.is_finite() {
                t = t.min(steps * lat + bytes / bw);
            }
        }
        t
    }
}
