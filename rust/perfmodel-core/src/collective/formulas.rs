//! The cost of a pipelined phase, shared by the flat and hierarchical algorithms. The textbook alpha-beta
//! formulas (Thakur, Rabenseifner & Gropp, IJHPCA 19(1), 2005; shared/specs/domain.md §6.6, §6.8) are not
//! kept as a separate copy: the algorithms implement them over real levels, and the tests reproduce the
//! worked numbers of §6.6 and §6.8 with the engine itself on synthetic levels.

/// Pipelined phase: `m` segments through `steps` stages costs `(steps + m - 1)(alpha + (n/m) beta)`; at the
/// best segment count this is `(sqrt(steps alpha) + sqrt(n beta))^2`, which this returns given the latency
/// term `l = steps alpha` and the bandwidth term `w = n beta` (e.g. Pjesivac-Grbovic et al., Cluster
/// Computing 10(2), 2007, segmented algorithms).
pub fn pipelined(l: f64, w: f64) -> f64 {
    let s = l.sqrt() + w.sqrt();
    s * s
}
