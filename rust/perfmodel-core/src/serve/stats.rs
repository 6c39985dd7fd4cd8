//! The mean and quantiles of a large sample of `f32` (a simulation's millions of inter-token gaps) as numpy
//! gives them for the sample widened to `f64` (`v.mean()`, `np.quantile(v, q)` with its default `linear`
//! method), without sorting or copying it: the quantiles by a two-pass radix selection on the values'
//! order-preserving bit patterns (a count per upper 16 bits, then per lower 16 bits inside the few buckets
//! that hold the wanted order statistics), the mean by numpy's pairwise summation.

/// Buckets per pass (16 bits of the key each).
const BUCKETS: usize = 1 << 16;

/// A key whose unsigned order is the numeric order of `x` (negative values flipped, -0 just below +0).
#[inline]
fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The value of a [`key`].
#[inline]
fn value(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

/// numpy's `pairwise_sum` of `a` widened to `f64` (blocks of 128 summed in eight lanes, halves recursively).
fn pairwise_sum(a: &[f32]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut s = 0.0;
        for &x in a {
            s += f64::from(x);
        }
        s
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        for (r, &x) in r.iter_mut().zip(a) {
            *r = f64::from(x);
        }
        let whole = n - n % 8;
        for block in a[8..whole].chunks_exact(8) {
            for (r, &x) in r.iter_mut().zip(block) {
                *r += f64::from(x);
            }
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[whole..] {
            s += f64::from(x);
        }
        s
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// numpy's mean of `a` widened to `f64`: the first element plus the pairwise sum of the rest (as `add.reduce`
/// starts from the first element), over the count.
fn mean(a: &[f32]) -> f64 {
    (f64::from(a[0]) + pairwise_sum(&a[1..])) / a.len() as f64
}

/// numpy's `_lerp`: `a + (b - a) t`, from the upper end when `t >= 0.5`.
#[inline]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The mean and the quantiles `qs` (each in [0, 1]) of `values` widened to `f64`, as numpy's `mean` and
/// `quantile` (method `linear`) give them; `None` for an empty sample, NaN throughout when a value is NaN.
pub fn mean_and_quantiles(values: &[f32], qs: &[f64]) -> Option<(f64, Vec<f64>)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    if values.iter().any(|v| v.is_nan()) {
        return Some((f64::NAN, vec![f64::NAN; qs.len()]));
    }
    // The order statistics each quantile interpolates between, and the weight (numpy's virtual index,
    // floor and gamma; an index at or beyond the last takes the last value).
    let last = (n - 1) as f64;
    let picks: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let h = last * q;
            if h >= last {
                (n - 1, n - 1, 0.0)
            } else {
                let lo = h.floor();
                (lo as usize, lo as usize + 1, h - lo)
            }
        })
        .collect();
    let mut ranks: Vec<usize> = picks.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    // Pass 1: counts per upper 16 bits of the key, then the bucket of each wanted rank.
    // Equal neighbours are common (the decodes of one iteration share a gap): counted as runs, so the
    // increments of one bucket do not queue behind each other.
    let mut upper = vec![0usize; BUCKETS];
    let (mut run_key, mut run) = (key(values[0]) >> 16, 0usize);
    for &v in values {
        let k = key(v) >> 16;
        if k != run_key {
            upper[run_key as usize] += run;
            (run_key, run) = (k, 0);
        }
        run += 1;
    }
    upper[run_key as usize] += run;
    let mut below = vec![0usize; BUCKETS + 1];
    for (i, c) in upper.iter().enumerate() {
        below[i + 1] = below[i] + c;
    }
    // (rank, bucket, rank inside the bucket)
    let located: Vec<(usize, usize, usize)> = ranks
        .iter()
        .map(|&r| {
            let b = below.partition_point(|&c| c <= r) - 1;
            (r, b, r - below[b])
        })
        .collect();
    // Pass 2: counts per lower 16 bits inside the wanted buckets.
    let mut slot_of = vec![u16::MAX; BUCKETS];
    let mut buckets: Vec<usize> = located.iter().map(|&(_, b, _)| b).collect();
    buckets.dedup();
    for (s, &b) in buckets.iter().enumerate() {
        slot_of[b] = u16::try_from(s).expect("fewer than 2^15 quantiles");
    }
    let mut lower = vec![0usize; BUCKETS * buckets.len()];
    let mut count = |k: u32, run: usize| {
        let s = slot_of[(k >> 16) as usize];
        if s != u16::MAX {
            lower[usize::from(s) * BUCKETS + (k & 0xFFFF) as usize] += run;
        }
    };
    let (mut run_key, mut run) = (key(values[0]), 0usize);
    for &v in values {
        let k = key(v);
        if k != run_key {
            count(run_key, run);
            (run_key, run) = (k, 0);
        }
        run += 1;
    }
    count(run_key, run);
    let order_statistic = |r: usize| -> f64 {
        let &(_, b, mut within) = located
            .iter()
            .find(|&&(rr, _, _)| rr == r)
            .expect("a wanted rank");
        let s = buckets
            .iter()
            .position(|&x| x == b)
            .expect("a wanted bucket");
        for (lo, &c) in lower[s * BUCKETS..(s + 1) * BUCKETS].iter().enumerate() {
            if within < c {
                return f64::from(value(((b as u32) << 16) | lo as u32));
            }
            within -= c;
        }
        unreachable!("rank {r} lies in bucket {b}")
    };
    let quantiles = picks
        .iter()
        .map(|&(a, b, t)| lerp(order_statistic(a), order_statistic(b), t))
        .collect();
    Some((mean(values), quantiles))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantile by sorting, numpy's `linear` method.
    fn sorted_quantile(v: &[f32], q: f64) -> f64 {
        let mut s: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
        s.sort_by(f64::total_cmp);
        let last = (s.len() - 1) as f64;
        let h = last * q;
        if h >= last {
            return s[s.len() - 1];
        }
        let lo = h.floor();
        lerp(s[lo as usize], s[lo as usize + 1], h - lo)
    }

    #[test]
    fn keys_order_like_values() {
        let xs = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            1e-30,
            0.5,
            3.5,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(value(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn matches_sorting() {
        let qs = [0.0, 0.5, 0.9, 0.99, 1.0, 0.123_456];
        let mut s = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for n in [1usize, 2, 3, 7, 8, 9, 100, 129, 1000, 100_003] {
            // Few distinct values (ties across buckets) and many (spread over buckets).
            for distinct in [3u64, 1 << 40] {
                let v: Vec<f32> = (0..n)
                    .map(|_| (rnd() % distinct) as f32 * 1e-3 - 1e-3)
                    .collect();
                let (m, got) = mean_and_quantiles(&v, &qs).unwrap();
                for (q, g) in qs.iter().zip(&got) {
                    assert_eq!(
                        g.to_bits(),
                        sorted_quantile(&v, *q).to_bits(),
                        "n {n}, q {q}"
                    );
                }
                let exact: f64 = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
                assert!(
                    (m - exact).abs() <= 1e-12 * exact.abs().max(1e-3),
                    "{m} vs {exact}"
                );
            }
        }
        assert!(mean_and_quantiles(&[], &qs).is_none());
        let (m, q) = mean_and_quantiles(&[1.0, f32::NAN], &[0.5]).unwrap();
        assert!(m.is_nan() && q[0].is_nan());
    }
}
