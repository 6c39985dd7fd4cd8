//! Request traces for the serving simulator ([`super::sim`]): the [`Request`] row, its validation, a seeded
//! PRNG and Poisson / offline workload generators with fixed, uniform or log-normal lengths.
//!
//! The generator reproduces what serving benchmarks do (vLLM `benchmarks/benchmark_serving.py
//! --request-rate`: exponential inter-arrival gaps, i.e. a Poisson process; `--request-rate inf`: every
//! request at once, the "offline" case). The PRNG is xoshiro256** seeded through SplitMix64 (Blackman &
//! Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS 2021; reference C code at
//! <https://prng.di.unimi.it/>), written here so that a seed gives the same trace on every platform.
use crate::error::{invalid, Result};

/// One request of a trace: when it arrives (seconds from the start of the run), its prompt length and
/// how many tokens it generates (the first one by the prefill, the others by decode iterations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    pub arrival_s: f64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
}

/// Checks a trace: every row has `prompt_tokens >= 1`, `output_tokens >= 1`, a finite `arrival_s >= 0`,
/// and arrivals are in non-decreasing order. Errors name argument `requests` and the 0-based row
/// ("row 12: ...").
pub fn validate(requests: &[Request]) -> Result<()> {
    let mut previous = 0.0_f64;
    for (i, r) in requests.iter().enumerate() {
        if !r.arrival_s.is_finite() || r.arrival_s < 0.0 {
            return Err(invalid(
                "requests",
                format!(
                    "row {i}: arrival_s is {}; expected a finite time >= 0 s",
                    r.arrival_s
                ),
            ));
        }
        if r.arrival_s < previous {
            return Err(invalid(
                "requests",
                format!(
                    "row {i}: arrival_s {} is before the previous row's {previous}; rows must be sorted by arrival",
                    r.arrival_s
                ),
            ));
        }
        previous = r.arrival_s;
        if r.prompt_tokens == 0 {
            return Err(invalid(
                "requests",
                format!("row {i}: prompt_tokens is 0; expected >= 1"),
            ));
        }
        if r.output_tokens == 0 {
            return Err(invalid(
                "requests",
                format!("row {i}: output_tokens is 0; expected >= 1"),
            ));
        }
    }
    Ok(())
}

/// A distribution of token counts (prompt or output lengths).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthDist {
    /// Always `n` tokens (`n >= 1`).
    Fixed(u32),
    /// Uniform over the integers `lo..=hi` (`1 <= lo <= hi`).
    Uniform { lo: u32, hi: u32 },
    /// Log-normal: `round(exp(mu + sigma * Z))` with `Z ~ N(0, 1)` and `mu = ln(mean) - sigma^2 / 2`, so
    /// that `mean` is the mean of the unclipped, unrounded distribution in tokens; `sigma` (>= 0) is the
    /// standard deviation of ln(length) (0.5 gives a coefficient of variation of about 0.53). Samples are
    /// clipped to `[1, max]`, so the realised mean is a little below `mean` when `max` cuts the tail.
    LogNormal { mean: f64, sigma: f64, max: u32 },
}

impl LengthDist {
    /// Checks the parameters; `arg` names the argument in errors (`prompt`, `output`).
    pub fn check(&self, arg: &str) -> Result<()> {
        match *self {
            LengthDist::Fixed(n) => {
                if n == 0 {
                    return Err(invalid(arg, "Fixed(0): expected a length >= 1"));
                }
            }
            LengthDist::Uniform { lo, hi } => {
                if lo == 0 || lo > hi {
                    return Err(invalid(
                        arg,
                        format!("Uniform {{ lo: {lo}, hi: {hi} }}: expected 1 <= lo <= hi"),
                    ));
                }
            }
            LengthDist::LogNormal { mean, sigma, max } => {
                if !(mean.is_finite() && mean > 0.0) {
                    return Err(invalid(
                        arg,
                        format!("LogNormal mean is {mean}; expected a finite number > 0"),
                    ));
                }
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(invalid(
                        arg,
                        format!("LogNormal sigma is {sigma}; expected a finite number >= 0"),
                    ));
                }
                if max == 0 {
                    return Err(invalid(arg, "LogNormal max is 0; expected >= 1"));
                }
            }
        }
        Ok(())
    }

    /// One length from the distribution (parameters must have passed [`LengthDist::check`]).
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        match *self {
            LengthDist::Fixed(n) => n,
            LengthDist::Uniform { lo, hi } => lo + rng.below(u64::from(hi - lo) + 1) as u32,
            LengthDist::LogNormal { mean, sigma, max } => {
                let mu = mean.ln() - 0.5 * sigma * sigma;
                let x = (mu + sigma * rng.normal()).exp().round();
                // `as` saturates for huge values; the clip keeps it in [1, max].
                (x.min(f64::from(max)) as u32).clamp(1, max)
            }
        }
    }
}

/// Seeded PRNG: xoshiro256** (Blackman & Vigna 2021) with the state filled by SplitMix64 from a `u64`
/// seed, as the authors recommend. Not cryptographic; the same seed gives the same stream everywhere.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// One SplitMix64 step (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded from `seed` through four SplitMix64 outputs (never the all-zero state).
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// The next 64 random bits (xoshiro256**).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n >= 1`), unbiased (Lemire, "Fast random integer generation in an
    /// interval", ACM TOMACS 2019: multiply-shift with rejection of the short range).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n >= 1);
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Exponential with rate `rate` (mean `1/rate`) by inversion: `-ln(1 - U) / rate`.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.uniform()).ln() / rate
    }

    /// Standard normal by the Box-Muller transform (one of the pair; no cached state, so the stream
    /// position depends only on the number of calls).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `n` requests arriving as a Poisson process of `rate_per_s` requests per second: arrival `i` is the sum
/// of `i + 1` independent exponential gaps of mean `1/rate_per_s` (so the first request arrives after
/// one gap, not at 0). For each request the generator draws, in this order, the gap, the prompt length
/// and the output length, so a seed fixes the whole trace.
pub fn poisson(
    rate_per_s: f64,
    n: usize,
    prompt: LengthDist,
    output: LengthDist,
    seed: u64,
) -> Result<Vec<Request>> {
    if rate_per_s.is_nan() || rate_per_s <= 0.0 || rate_per_s.is_infinite() {
        return Err(invalid(
            "rate",
            format!(
                "is {rate_per_s}; expected a finite arrival rate > 0 requests/s (use `offline` for all requests at t = 0)"
            ),
        ));
    }
    prompt.check("prompt")?;
    output.check("output")?;
    let mut rng = Rng::new(seed);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        t += rng.exponential(rate_per_s);
        let prompt_tokens = prompt.sample(&mut rng);
        let output_tokens = output.sample(&mut rng);
        out.push(Request {
            arrival_s: t,
            prompt_tokens,
            output_tokens,
        });
    }
    Ok(out)
}

/// `n` requests all arriving at t = 0 (offline / batch inference, vLLM's `--request-rate inf`), lengths
/// drawn as in [`poisson`] (prompt, then output, per request).
pub fn offline(
    n: usize,
    prompt: LengthDist,
    output: LengthDist,
    seed: u64,
) -> Result<Vec<Request>> {
    prompt.check("prompt")?;
    output.check("output")?;
    let mut rng = Rng::new(seed);
    Ok((0..n)
        .map(|_| {
            let prompt_tokens = prompt.sample(&mut rng);
            let output_tokens = output.sample(&mut rng);
            Request {
                arrival_s: 0.0,
                prompt_tokens,
                output_tokens,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_stream() {
        // First outputs of the reference splitmix64.c for seed 1234567.
        let mut s = 1_234_567_u64;
        let got: Vec<u64> = (0..3).map(|_| splitmix64(&mut s)).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn xoshiro_first_outputs_by_hand() {
        // State (1, 2, 3, 4). Output 1: rotl(2 * 5, 7) * 9 = 1280 * 9 = 11520.
        // Then s2 = 3^1 = 2, s3 = 4^2 = 6, s1 = 2^2 = 0, s0 = 1^6 = 7, s2 ^= 2 << 17, s3 = rotl(6, 45):
        // output 2 uses s1 = 0, so it is 0.
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11_520);
        assert_eq!(r.next_u64(), 0);
        // After step 2, s0 = 7 ^ s3 with s3 = rotl(6, 45) ^ s1 and s1 = 0.
        assert_eq!(r.s[0], 7 ^ 6_u64.rotate_left(45));
    }

    #[test]
    fn uniform_range_and_below_bounds() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(3) < 3);
        }
        assert_eq!(r.below(1), 0);
        // Mean of U(0,1) over 100k draws: 0.5 within 5 standard errors (0.289/sqrt(1e5) = 0.0009).
        let m: f64 = (0..100_000).map(|_| r.uniform()).sum::<f64>() / 1e5;
        assert!((m - 0.5).abs() < 0.0046, "{m}");
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::new(11);
        let n = 200_000_u32;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / f64::from(n);
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(n);
        // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032.
        assert!(mean.abs() < 0.011, "{mean}");
        assert!((var - 1.0).abs() < 0.016, "{var}");
    }

    #[test]
    fn poisson_gaps_have_mean_one_over_rate_and_are_sorted() {
        let reqs = poisson(4.0, 20_000, LengthDist::Fixed(10), LengthDist::Fixed(5), 3).unwrap();
        validate(&reqs).unwrap();
        // Mean gap = last arrival / n; exponential gaps have sd = mean, so se = 0.25 / sqrt(2e4) = 0.0018.
        let mean_gap = reqs.last().unwrap().arrival_s / 20_000.0;
        assert!((mean_gap - 0.25).abs() < 0.009, "{mean_gap}");
        assert!(reqs
            .iter()
            .all(|r| r.prompt_tokens == 10 && r.output_tokens == 5));
    }

    #[test]
    fn seed_determines_the_trace() {
        let p = LengthDist::Uniform { lo: 5, hi: 50 };
        let o = LengthDist::LogNormal {
            mean: 100.0,
            sigma: 0.8,
            max: 400,
        };
        let a = poisson(2.0, 500, p, o, 42).unwrap();
        let b = poisson(2.0, 500, p, o, 42).unwrap();
        let c = poisson(2.0, 500, p, o, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|r| (5..=50).contains(&r.prompt_tokens)));
        assert!(a.iter().all(|r| (1..=400).contains(&r.output_tokens)));
    }

    #[test]
    fn uniform_lengths_cover_both_ends() {
        let reqs = offline(
            2000,
            LengthDist::Uniform { lo: 1, hi: 3 },
            LengthDist::Fixed(1),
            9,
        )
        .unwrap();
        for v in 1..=3 {
            let count = reqs.iter().filter(|r| r.prompt_tokens == v).count();
            // Expected 667 each; binomial sd = 21.
            assert!(count.abs_diff(667) < 100, "{v}: {count}");
        }
        assert!(reqs.iter().all(|r| r.arrival_s == 0.0));
    }

    #[test]
    fn lognormal_mean_matches_parameter() {
        // sigma = 0.5: E = mean; sd = mean * sqrt(exp(0.25) - 1) = 0.533 * mean; se over 50k = 0.0024 mean.
        let d = LengthDist::LogNormal {
            mean: 500.0,
            sigma: 0.5,
            max: 1_000_000,
        };
        let mut r = Rng::new(5);
        let m = (0..50_000)
            .map(|_| f64::from(d.sample(&mut r)))
            .sum::<f64>()
            / 50_000.0;
        assert!((m / 500.0 - 1.0).abs() < 0.012, "{m}");
        // Clip: max = 10 and a huge mean give 10 every time; a tiny mean gives 1.
        let hi = LengthDist::LogNormal {
            mean: 1e9,
            sigma: 0.1,
            max: 10,
        };
        let lo = LengthDist::LogNormal {
            mean: 1e-9,
            sigma: 0.1,
            max: 10,
        };
        assert_eq!(hi.sample(&mut r), 10);
        assert_eq!(lo.sample(&mut r), 1);
    }

    #[test]
    fn rate_errors_name_rate() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = poisson(rate, 10, LengthDist::Fixed(1), LengthDist::Fixed(1), 0)
                .unwrap_err()
                .to_string();
            assert!(e.contains("`rate`"), "{e}");
        }
    }

    #[test]
    fn bad_length_distributions_are_rejected() {
        let ok = LengthDist::Fixed(1);
        let bad = [
            LengthDist::Fixed(0),
            LengthDist::Uniform { lo: 0, hi: 3 },
            LengthDist::Uniform { lo: 5, hi: 3 },
            LengthDist::LogNormal {
                mean: f64::NAN,
                sigma: 1.0,
                max: 10,
            },
            LengthDist::LogNormal {
                mean: 10.0,
                sigma: -1.0,
                max: 10,
            },
            LengthDist::LogNormal {
                mean: 10.0,
                sigma: 1.0,
                max: 0,
            },
        ];
        for d in bad {
            let e = poisson(1.0, 3, d, ok, 0).unwrap_err().to_string();
            assert!(e.contains("`prompt`"), "{e}");
            let e = offline(3, ok, d, 0).unwrap_err().to_string();
            assert!(e.contains("`output`"), "{e}");
        }
    }

    #[test]
    fn validate_names_the_row() {
        let good = Request {
            arrival_s: 1.0,
            prompt_tokens: 10,
            output_tokens: 3,
        };
        let mut rows = vec![good; 15];
        assert!(validate(&rows).is_ok());
        assert!(validate(&[]).is_ok());
        let cases: [(usize, Request, &str); 5] = [
            (
                12,
                Request {
                    prompt_tokens: 0,
                    ..good
                },
                "prompt_tokens",
            ),
            (
                3,
                Request {
                    output_tokens: 0,
                    ..good
                },
                "output_tokens",
            ),
            (
                7,
                Request {
                    arrival_s: f64::NAN,
                    ..good
                },
                "arrival_s",
            ),
            (
                0,
                Request {
                    arrival_s: -0.5,
                    ..good
                },
                "arrival_s",
            ),
            (
                9,
                Request {
                    arrival_s: 0.5,
                    ..good
                },
                "sorted",
            ),
        ];
        for (row, bad, word) in cases {
            rows[row] = bad;
            let e = validate(&rows).unwrap_err().to_string();
            assert!(e.contains(&format!("row {row}:")), "{e}");
            assert!(e.contains(word), "{e}");
            assert!(e.contains("`requests`"), "{e}");
            rows[row] = good;
        }
    }
}
