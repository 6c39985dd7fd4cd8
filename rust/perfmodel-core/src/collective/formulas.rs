//! Textbook alpha-beta-gamma costs of collective algorithms on `p` ranks of a uniform network
//! (Thakur, Rabenseifner, Gropp, IJHPCA 19(1):49-66, 2005; shared/specs/domain.md §6.6, §6.8).
//!
//! `n` is bytes (total result for all-gather, total input per rank for reduce-scatter and all-reduce),
//! `alpha` seconds per message, `beta` seconds per byte, `gamma` seconds per byte reduced. These are the
//! reference formulas the topology-aware engine ([`super::algorithms`]) specialises; tests reproduce the
//! worked numbers of §6.6 and §6.8 with them.

fn lg(p: f64) -> f64 {
    p.log2()
}

fn clg(p: f64) -> f64 {
    p.log2().ceil()
}

/// Ring all-gather: `(p-1) alpha + ((p-1)/p) n beta`.
pub fn ring_all_gather(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    (p - 1.0) * alpha + (p - 1.0) / p * n * beta
}

/// Recursive-doubling all-gather (p a power of two): `lg p alpha + ((p-1)/p) n beta`.
pub fn recursive_doubling_all_gather(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    lg(p) * alpha + (p - 1.0) / p * n * beta
}

/// Bruck all-gather: `ceil(lg p) alpha + ((p-1)/p) n beta`.
pub fn bruck_all_gather(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    clg(p) * alpha + (p - 1.0) / p * n * beta
}

/// Binomial-tree broadcast: `ceil(lg p) (alpha + n beta)`.
pub fn binomial_broadcast(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    clg(p) * (alpha + n * beta)
}

/// Scatter + all-gather broadcast (van de Geijn): `(lg p + p - 1) alpha + 2 ((p-1)/p) n beta`.
pub fn scatter_all_gather_broadcast(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    (lg(p) + p - 1.0) * alpha + 2.0 * (p - 1.0) / p * n * beta
}

/// Recursive-halving reduce-scatter: `lg p alpha + ((p-1)/p) n (beta + gamma)`.
pub fn recursive_halving_reduce_scatter(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    lg(p) * alpha + (p - 1.0) / p * n * (beta + gamma)
}

/// Pairwise-exchange reduce-scatter: `(p-1) alpha + ((p-1)/p) n (beta + gamma)`.
pub fn pairwise_reduce_scatter(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    (p - 1.0) * alpha + (p - 1.0) / p * n * (beta + gamma)
}

/// Recursive-doubling all-reduce: `lg p (alpha + n beta + n gamma)`.
pub fn recursive_doubling_all_reduce(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    lg(p) * (alpha + n * beta + n * gamma)
}

/// Rabenseifner all-reduce: `2 lg p alpha + 2 ((p-1)/p) n beta + ((p-1)/p) n gamma`.
pub fn rabenseifner_all_reduce(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    2.0 * lg(p) * alpha + 2.0 * (p - 1.0) / p * n * beta + (p - 1.0) / p * n * gamma
}

/// Ring all-reduce: `2 (p-1) alpha + 2 ((p-1)/p) n beta + ((p-1)/p) n gamma` (Patarasuk & Yuan, JPDC 2009).
pub fn ring_all_reduce(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    2.0 * (p - 1.0) * alpha + 2.0 * (p - 1.0) / p * n * beta + (p - 1.0) / p * n * gamma
}

/// Binomial reduce: `ceil(lg p) (alpha + n beta + n gamma)`.
pub fn binomial_reduce(p: f64, n: f64, alpha: f64, beta: f64, gamma: f64) -> f64 {
    clg(p) * (alpha + n * beta + n * gamma)
}

/// Bruck all-to-all (short messages): `lg p alpha + (n/2) lg p beta`.
pub fn bruck_all_to_all(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    lg(p) * alpha + n / 2.0 * lg(p) * beta
}

/// Pairwise-exchange all-to-all (long messages): `(p-1) alpha + n beta`.
pub fn pairwise_all_to_all(p: f64, n: f64, alpha: f64, beta: f64) -> f64 {
    (p - 1.0) * alpha + n * beta
}

/// Two-level all-reduce, bandwidth terms only (§6.8): intra-node reduce-scatter, inter-node all-reduce of
/// `n/g` on `g` parallel rails, intra-node all-gather. Returns `(rs, ar, ag)` seconds.
pub fn hierarchical_all_reduce(
    g: f64,
    nodes: f64,
    n: f64,
    b_intra: f64,
    b_nic: f64,
) -> (f64, f64, f64) {
    let rs = (g - 1.0) / g * n / b_intra;
    let ar = 2.0 * (nodes - 1.0) / nodes * (n / g) / b_nic;
    (rs, ar, rs)
}

/// Pipelined phase: `m` segments through `steps` stages costs `(steps + m - 1)(alpha + (n/m) beta)`; at the
/// best segment count this is `(sqrt(steps alpha) + sqrt(n beta))^2`, which this returns given the latency
/// term `l = steps alpha` and the bandwidth term `w = n beta` (e.g. Pjesivac-Grbovic et al., Cluster
/// Computing 10(2), 2007, segmented algorithms).
pub fn pipelined(l: f64, w: f64) -> f64 {
    let s = l.sqrt() + w.sqrt();
    s * s
}
