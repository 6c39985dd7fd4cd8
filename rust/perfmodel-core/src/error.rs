//! The one error type of the core. The binding maps each variant to a Python exception class
//! in a single place (`perfmodel-py/src/errors.rs`).
use std::fmt;

/// Every failure the engine reports on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A hardware-database file or key is wrong: names the file, the key and what was expected.
    Hwdb {
        file: String,
        key: String,
        message: String,
    },
    /// An id that is not in the database, with the closest valid ids.
    UnknownId {
        kind: String,
        id: String,
        close: Vec<String>,
    },
    /// A caller's argument is out of its domain (negative size, NaN, unknown name...).
    InvalidArgument { arg: String, message: String },
    /// The request is valid but the hardware or topology cannot do it (fp8 on A100, NVLS without NVSwitch).
    Unsupported { message: String },
    /// A model input (a pipeline, a plan, a log) is inconsistent.
    Model { message: String },
    /// The call was stopped before it finished (a [`crate::Stop`] was requested: Ctrl-C in Python).
    Interrupted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Hwdb { file, key, message } => {
                if key.is_empty() {
                    write!(f, "{file}: {message}")
                } else {
                    write!(f, "{file}: key `{key}`: {message}")
                }
            }
            Error::UnknownId { kind, id, close } => {
                write!(f, "unknown {kind} id '{id}'")?;
                if close.is_empty() {
                    Ok(())
                } else {
                    write!(f, "; did you mean {}?", quoted_list(close))
                }
            }
            Error::InvalidArgument { arg, message } => write!(f, "argument `{arg}`: {message}"),
            Error::Unsupported { message } | Error::Model { message } => f.write_str(message),
            Error::Interrupted => f.write_str("interrupted before it finished"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of the core.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an `InvalidArgument` error.
pub fn invalid(arg: &str, message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        arg: arg.to_owned(),
        message: message.into(),
    }
}

/// `'a', 'b' or 'c'`.
pub fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

/// The candidates closest to `name` (Jaro-Winkler >= 0.75 or a shared prefix), best first, at most 3.
pub fn closest<'a, I: IntoIterator<Item = &'a str>>(name: &str, candidates: I) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| {
            let mut s = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
            if c.starts_with(&lower) || lower.starts_with(c) {
                s = s.max(0.9);
            }
            (s, c)
        })
        .filter(|(s, _)| *s >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_owned())
        .collect()
}

/// The largest tensor dimension the engine accepts (GEMM m, n, k, batch, heads, sequence length): 2^40.
/// Past it products of dimensions leave the range where FLOP counts are exact and meaningful.
pub const MAX_DIM: f64 = 1_099_511_627_776.0;
/// The largest size in bytes the engine accepts: 1e18 (one exabyte, beyond any machine's memory).
pub const MAX_BYTES: f64 = 1e18;

/// Checks that a size-like argument is finite and strictly positive.
pub fn check_positive(arg: &str, value: f64) -> Result<f64> {
    if value.is_nan() {
        Err(invalid(arg, "is NaN; expected a finite number > 0"))
    } else if !value.is_finite() {
        Err(invalid(
            arg,
            format!("is {value}; expected a finite number > 0"),
        ))
    } else if value <= 0.0 {
        Err(invalid(arg, format!("is {value}; expected a number > 0")))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typo() {
        let c = closest(
            "h100-sxm-80gb",
            ["h100-sxm5-80gb", "a100-sxm4-80gb", "mi300x"],
        );
        assert_eq!(c[0], "h100-sxm5-80gb");
    }

    #[test]
    fn positive_check_rejects_nan_zero_negative() {
        assert!(check_positive("m", f64::NAN)
            .unwrap_err()
            .to_string()
            .contains("NaN"));
        assert!(check_positive("m", 0.0).is_err());
        assert!(check_positive("m", -1.0).is_err());
        assert_eq!(check_positive("m", 2.0).unwrap(), 2.0);
    }
}
