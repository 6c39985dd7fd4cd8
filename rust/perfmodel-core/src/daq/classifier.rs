//! Stage classifiers: the fraction of irrelevant (negative) and relevant (positive) events a trigger keeps.
//!
//! Error matrix, column-normalised as in SystemFlow `systemflow/classifier.py`:
//! `[[tn, fn], [fp, tp]]` (row 0 rejected, row 1 passed; column 0 negatives, column 1 positives).
//! Score classifiers pick the threshold `x` at which the mixture keeps the target fraction:
//! `(neg F_neg(x) + pos F_pos(x)) / (neg + pos) = 1 - 1/RR` (docs/models/daq.md#classifiers).
/// A tabulated pair of score CDFs on one grid (for example from trigger-efficiency curves:
/// `cdf = 1 - efficiency(threshold)`), linearly interpolated, constant outside the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    pub x: Vec<f64>,
    pub cdf_neg: Vec<f64>,
    pub cdf_pos: Vec<f64>,
}

impl ScoreTable {
    /// Checks the grid is strictly increasing and both CDFs are non-decreasing within [0, 1].
    pub fn new(
        x: Vec<f64>,
        cdf_neg: Vec<f64>,
        cdf_pos: Vec<f64>,
    ) -> std::result::Result<Self, String> {
        if x.len() < 2 || cdf_neg.len() != x.len() || cdf_pos.len() != x.len() {
            return Err(format!(
                "score table needs at least 2 points and equal lengths (x {}, cdf_neg {}, cdf_pos {})",
                x.len(),
                cdf_neg.len(),
                cdf_pos.len()
            ));
        }
        if x.iter().any(|v| !v.is_finite()) || x.windows(2).any(|w| w[1] <= w[0]) {
            return Err("score table: x must be finite and strictly increasing".into());
        }
        for (name, c) in [("cdf_neg", &cdf_neg), ("cdf_pos", &cdf_pos)] {
            if c.iter().any(|v| !(0.0..=1.0).contains(v)) || c.windows(2).any(|w| w[1] < w[0]) {
                return Err(format!(
                    "score table: {name} must be non-decreasing and within [0, 1]"
                ));
            }
        }
        Ok(ScoreTable {
            x,
            cdf_neg,
            cdf_pos,
        })
    }

    fn interp(&self, c: &[f64], x: f64) -> f64 {
        let n = self.x.len();
        // NaN is taken as the low end too: `partition_point` below could not place it.
        if x.is_nan() || x <= self.x[0] {
            return c[0];
        }
        if x >= self.x[n - 1] {
            return c[n - 1];
        }
        let i = self.x.partition_point(|&v| v <= x) - 1;
        let t = (x - self.x[i]) / (self.x[i + 1] - self.x[i]);
        c[i] + t * (c[i + 1] - c[i])
    }

    /// Inverse CDF by linear interpolation (for Monte Carlo sampling); `u` in [0, 1).
    fn quantile(&self, c: &[f64], u: f64) -> f64 {
        let n = self.x.len();
        if u <= c[0] {
            return self.x[0];
        }
        if u >= c[n - 1] {
            return self.x[n - 1];
        }
        let i = c.partition_point(|&v| v <= u).clamp(1, n - 1) - 1;
        let span = c[i + 1] - c[i];
        if span <= 0.0 {
            return self.x[i + 1];
        }
        self.x[i] + (u - c[i]) / span * (self.x[i + 1] - self.x[i])
    }
}

/// A stage's classifier with its parameters resolved for one evaluation.
#[derive(Debug, Clone, Copy)]
pub enum Classifier<'a> {
    /// Keeps everything (a pass-through stage; its reduction ratio must be 1).
    None,
    /// Given true- and false-positive rates; the output rate follows from them.
    Rates { tpr: f64, fpr: f64 },
    /// Negative scores N(0, 1), positive scores N(skill, sigma^2) (SystemFlow `GaussianClassifier`).
    Gaussian { skill: f64, sigma: f64 },
    /// Tabulated CDFs; `shift` is added to positive scores (SystemFlow's `skill_boost`).
    Empirical { table: &'a ScoreTable, shift: f64 },
}

/// `erfc(x)`: power series of erf below 2.5, continued fraction (depth 40) above; ~1e-16 absolute.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)); all terms positive.
        let x2 = 2.0 * x * x;
        let (mut t, mut s, mut n) = (x, x, 0.0);
        while t > 1e-17 * s {
            n += 1.0;
            t *= x2 / (2.0 * n + 1.0);
            s += t;
        }
        1.0 - std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp() * s
    } else {
        let mut t = x;
        for n in (1..=40).rev() {
            t = x + f64::from(n) * 0.5 / t;
        }
        (-x * x).exp() / (std::f64::consts::PI.sqrt() * t)
    }
}

/// Standard normal CDF `Phi(x) = erfc(-x / sqrt 2) / 2`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Threshold `x` with `w_neg F_neg(x) + w_pos F_pos(x) = r` by bracketed bisection then Newton steps
/// (kept inside the bracket); `cdf` returns `(F_neg, F_pos, density)` at `x`. Converges to 1e-12.
fn solve_mixture<F: Fn(f64) -> (f64, f64, f64)>(
    cdf: F,
    w_neg: f64,
    r: f64,
    mut lo: f64,
    mut hi: f64,
) -> f64 {
    let w_pos = 1.0 - w_neg;
    let mut x = 0.5 * (lo + hi);
    for _ in 0..200 {
        let (fneg, fpos, dens) = cdf(x);
        let g = w_neg * fneg + w_pos * fpos - r;
        if g > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        if g == 0.0 || hi - lo < 1e-12 {
            break;
        }
        let newton = if dens > 0.0 { x - g / dens } else { f64::NAN };
        let next = if hi - lo < 1.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() < 1e-13 {
            x = next;
            break;
        }
        x = next;
    }
    x
}

/// Threshold a score classifier sets to keep `1 - r` of `[neg, pos]` events (`r = 1 - 1/RR`);
/// NaN for classifiers without a score (None, Rates).
pub fn solve_threshold(c: &Classifier<'_>, neg: f64, pos: f64, r: f64) -> f64 {
    // With no events in (integer counts truncated to zero at a low rate) the threshold is the one that rejects
    // `r` of the negatives, as the Monte Carlo mode takes it; any error matrix times zero events is zero.
    let n = neg + pos;
    let w_neg = if n > 0.0 { neg / n } else { 1.0 };
    match *c {
        Classifier::None | Classifier::Rates { .. } => f64::NAN,
        Classifier::Gaussian { skill, sigma } => {
            let span = 40.0 * sigma.max(1.0);
            let cdf = |x: f64| {
                let z = (x - skill) / sigma;
                let d = w_neg * normal_pdf(x) + (1.0 - w_neg) * normal_pdf(z) / sigma;
                (normal_cdf(x), normal_cdf(z), d)
            };
            solve_mixture(cdf, w_neg, r, skill.min(0.0) - span, skill.max(0.0) + span)
        }
        Classifier::Empirical { table, shift } => {
            let cdf = |x: f64| {
                (
                    table.interp(&table.cdf_neg, x),
                    table.interp(&table.cdf_pos, x - shift),
                    f64::NAN,
                )
            };
            let lo = table.x[0].min(table.x[0] + shift) - 1.0;
            let hi = table.x[table.x.len() - 1].max(table.x[table.x.len() - 1] + shift) + 1.0;
            solve_mixture(cdf, w_neg, r, lo, hi)
        }
    }
}

/// Error matrix `[tn, fn, fp, tp]` (column-normalised) keeping `1 - r` of `[neg, pos]`, and the threshold.
pub fn error_matrix(c: &Classifier<'_>, neg: f64, pos: f64, r: f64) -> ([f64; 4], f64) {
    match *c {
        Classifier::None => ([0.0, 0.0, 1.0, 1.0], f64::NAN),
        Classifier::Rates { tpr, fpr } => ([1.0 - fpr, 1.0 - tpr, fpr, tpr], f64::NAN),
        _ if r <= 0.0 => ([0.0, 0.0, 1.0, 1.0], f64::NEG_INFINITY),
        Classifier::Gaussian { skill, sigma } => {
            let x = solve_threshold(c, neg, pos, r);
            let (tn, fnr) = (normal_cdf(x), normal_cdf((x - skill) / sigma));
            ([tn, fnr, 1.0 - tn, 1.0 - fnr], x)
        }
        Classifier::Empirical { table, shift } => {
            let x = solve_threshold(c, neg, pos, r);
            let (tn, fnr) = (
                table.interp(&table.cdf_neg, x),
                table.interp(&table.cdf_pos, x - shift),
            );
            ([tn, fnr, 1.0 - tn, 1.0 - fnr], x)
        }
    }
}

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): a small seeded generator for the Monte Carlo mode.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Monte Carlo error matrix: `samples` scores per class drawn from the classifier's distributions, the
/// threshold solved on the empirical CDFs (as SystemFlow's L1T/HLT classifiers do with 50 000 events each).
pub fn error_matrix_mc(
    c: &Classifier<'_>,
    neg: f64,
    pos: f64,
    r: f64,
    samples: usize,
    rng: &mut Rng,
) -> ([f64; 4], f64) {
    let (mut sn, mut sp): (Vec<f64>, Vec<f64>) = match *c {
        Classifier::None | Classifier::Rates { .. } => return error_matrix(c, neg, pos, r),
        _ if r <= 0.0 => return error_matrix(c, neg, pos, r),
        Classifier::Gaussian { skill, sigma } => (
            (0..samples).map(|_| rng.normal()).collect(),
            (0..samples).map(|_| skill + sigma * rng.normal()).collect(),
        ),
        Classifier::Empirical { table, shift } => (
            (0..samples)
                .map(|_| table.quantile(&table.cdf_neg, rng.uniform()))
                .collect(),
            (0..samples)
                .map(|_| shift + table.quantile(&table.cdf_pos, rng.uniform()))
                .collect(),
        ),
    };
    sn.sort_by(f64::total_cmp);
    sp.sort_by(f64::total_cmp);
    let m = samples as f64;
    let ecdf = |s: &[f64], x: f64| s.partition_point(|&v| v <= x) as f64 / m;
    let n = neg + pos;
    let w_neg = if n > 0.0 { neg / n } else { 1.0 };
    let (mut lo, mut hi) = (
        sn[0].min(sp[0]) - 1.0,
        sn[samples - 1].max(sp[samples - 1]) + 1.0,
    );
    for _ in 0..200 {
        let x = 0.5 * (lo + hi);
        if w_neg * ecdf(&sn, x) + (1.0 - w_neg) * ecdf(&sp, x) > r {
            hi = x;
        } else {
            lo = x;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    let x = hi;
    let (tn, fnr) = (ecdf(&sn, x), ecdf(&sp, x));
    ([tn, fnr, 1.0 - tn, 1.0 - fnr], x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        // Abramowitz & Stegun Table 26.1.
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-14);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-15);
        assert!((normal_cdf(3.5) - 0.999_767_370_920_964).abs() < 1e-14);
    }

    #[test]
    fn gaussian_threshold_keeps_target_fraction() {
        let c = Classifier::Gaussian {
            skill: 3.0,
            sigma: 1.0,
        };
        let (neg, pos) = (39_992_495.0, 7_504.0);
        let r = 1.0 - 1.0 / 53.3;
        let (e, x) = error_matrix(&c, neg, pos, r);
        let kept = (neg * e[2] + pos * e[3]) / (neg + pos);
        assert!((kept - 1.0 / 53.3).abs() < 1e-12);
        // docs/models/daq.md#numbers-to-reproduce (Gaussian oracle): threshold 2.083314, tp 0.820346.
        assert!((x - 2.083_314).abs() < 1e-6, "{x}");
        assert!((e[3] - 0.820_346).abs() < 1e-6);
    }

    #[test]
    fn empirical_threshold_of_uniform_scores() {
        // Negatives uniform on [0, 1], positives uniform on [1, 2]; equal counts; keep half -> x = 1.
        let t = ScoreTable::new(
            vec![0.0, 1.0, 2.0],
            vec![0.0, 1.0, 1.0],
            vec![0.0, 0.0, 1.0],
        )
        .unwrap();
        let c = Classifier::Empirical {
            table: &t,
            shift: 0.0,
        };
        let (e, x) = error_matrix(&c, 100.0, 100.0, 0.5);
        assert!((x - 1.0).abs() < 1e-9);
        assert!((e[0] - 1.0).abs() < 1e-9 && e[3] > 1.0 - 1e-9);
    }

    #[test]
    fn monte_carlo_is_seeded_and_close_to_deterministic() {
        let c = Classifier::Gaussian {
            skill: 3.0,
            sigma: 1.0,
        };
        let (det, _) = error_matrix(&c, 1e6, 1e4, 0.9);
        let a = error_matrix_mc(&c, 1e6, 1e4, 0.9, 50_000, &mut Rng::new(7));
        let b = error_matrix_mc(&c, 1e6, 1e4, 0.9, 50_000, &mut Rng::new(7));
        assert_eq!(a.0, b.0);
        assert!((a.0[3] - det[3]).abs() < 0.01, "{:?} vs {:?}", a.0, det);
    }

    #[test]
    fn score_table_rejects_bad_input() {
        assert!(ScoreTable::new(vec![0.0, 0.0], vec![0.0, 1.0], vec![0.0, 1.0]).is_err());
        assert!(ScoreTable::new(vec![0.0, 1.0], vec![1.0, 0.5], vec![0.0, 1.0]).is_err());
    }
}
