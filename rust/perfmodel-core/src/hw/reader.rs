//! Strict reading of one hwdb TOML table: every key must be known, every figure must carry a unit
//! suffix from one vocabulary, be finite and > 0, and be covered by a source.
use std::cell::RefCell;

use crate::error::{closest, Error, Result};

/// Unit suffixes of numeric keys (hwdb/README.md documents each).
pub const UNIT_SUFFIXES: &[(&str, &str)] = &[
    ("_tflops", "10^12 floating-point operations per second"),
    ("_tops", "10^12 integer operations per second"),
    ("_gbps", "10^9 bytes per second"),
    ("_gbit_per_s", "10^9 bits per second (line rate)"),
    ("_gb", "10^9 bytes (vendor GB)"),
    ("_gib", "2^30 bytes"),
    ("_mib", "2^20 bytes"),
    ("_us", "microseconds"),
    ("_mhz", "megahertz"),
    ("_w", "watts"),
    ("_usd_per_h", "US dollars per hour"),
    ("_count", "a whole number of things"),
    ("_fraction", "a number in (0, 1]"),
    ("_ratio", "a dimensionless ratio > 0"),
    ("_bytes", "bytes"),
    (
        "_scale",
        "a dimensionless multiplier > 0 (calibration factor)",
    ),
    ("_exponent", "a dimensionless exponent > 0"),
];

/// The physical range a figure of each unit must lie in (inclusive): wide enough for any real part, narrow
/// enough that products of figures stay finite and that a typo (1e300 NICs, a 5e-324 line rate) is an error.
pub fn range_of(key: &str) -> (f64, f64) {
    const RANGES: &[(&str, f64, f64)] = &[
        ("_tflops", 1e-6, 1e6),
        ("_tops", 1e-6, 1e6),
        ("_gbps", 1e-6, 1e7),
        ("_gbit_per_s", 1e-3, 1e7),
        ("_gb", 1e-6, 1e9),
        ("_gib", 1e-6, 1e9),
        ("_mib", 1e-6, 1e9),
        ("_us", 1e-12, 1e9),
        ("_mhz", 1.0, 1e5),
        ("_w", 1e-6, 1e9),
        ("_usd_per_h", 1e-6, 1e7),
        ("_count", 1.0, 16_777_216.0),
        ("_fraction", f64::MIN_POSITIVE, 1.0),
        ("_ratio", 1e-9, 1e9),
        ("_bytes", 1.0, 1e18),
        ("_scale", 0.01, 100.0),
        ("_exponent", 1e-3, 1e3),
    ];
    RANGES
        .iter()
        .find(|(s, _, _)| key.ends_with(s))
        .map_or((f64::MIN_POSITIVE, f64::MAX), |&(_, lo, hi)| (lo, hi))
}

/// `x` as a reader writes it: plain between 0.001 and 10^8, in exponent form otherwise.
fn compact(x: f64) -> String {
    if (1e-3..1e8).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Describes the expected unit of a key from its suffix.
pub fn unit_of(key: &str) -> Option<&'static str> {
    UNIT_SUFFIXES
        .iter()
        .find(|(s, _)| key.ends_with(s))
        .map(|(_, d)| *d)
}

/// A reader over one table of a hwdb file that remembers which keys it was asked for.
pub struct Fields<'a> {
    file: &'a str,
    section: String,
    table: &'a toml::Table,
    known: RefCell<Vec<&'static str>>,
    figures: &'a RefCell<Vec<String>>,
}

impl<'a> Fields<'a> {
    /// Starts reading the root table of `file`.
    pub fn root(file: &'a str, table: &'a toml::Table, figures: &'a RefCell<Vec<String>>) -> Self {
        Fields {
            file,
            section: String::new(),
            table,
            known: RefCell::new(Vec::new()),
            figures,
        }
    }

    /// The file name this reader reports in errors.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// The dotted path of `key` inside the file.
    pub fn path(&self, key: &str) -> String {
        if self.section.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.section)
        }
    }

    /// An error about `key` in this table.
    pub fn error(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Hwdb {
            file: self.file.to_owned(),
            key: self.path(key),
            message: message.into(),
        }
    }

    fn get(&self, key: &'static str) -> Option<&'a toml::Value> {
        self.known.borrow_mut().push(key);
        self.table.get(key)
    }

    /// An optional positive, finite figure (integers accepted); the key must carry a unit suffix.
    pub fn figure(&self, key: &'static str) -> Result<Option<f64>> {
        debug_assert!(
            unit_of(key).is_some(),
            "schema key {key} lacks a unit suffix"
        );
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let x = match v {
            toml::Value::Float(x) => *x,
            toml::Value::Integer(i) => *i as f64,
            other => {
                return Err(self.error(
                    key,
                    format!(
                        "expected a number in {}, found {}",
                        unit_of(key).unwrap_or("?"),
                        other.type_str()
                    ),
                ))
            }
        };
        if !x.is_finite() || x <= 0.0 {
            return Err(self.error(
                key,
                format!(
                    "is {x}; expected a finite number > 0 in {}",
                    unit_of(key).unwrap_or("?")
                ),
            ));
        }
        if key.ends_with("_fraction") && x > 1.0 {
            return Err(self.error(key, format!("is {x}; expected a fraction in (0, 1]")));
        }
        let (lo, hi) = range_of(key);
        if !(lo..=hi).contains(&x) {
            return Err(self.error(
                key,
                format!(
                    "is {}; expected {} to {} ({}); outside any real part, a typo?",
                    compact(x),
                    compact(lo),
                    compact(hi),
                    unit_of(key).unwrap_or("")
                ),
            ));
        }
        if key.ends_with("_count") && x.fract() != 0.0 {
            return Err(self.error(key, format!("is {x}; expected a whole number")));
        }
        self.figures.borrow_mut().push(self.path(key));
        Ok(Some(x))
    }

    /// A required positive, finite figure.
    pub fn req_figure(&self, key: &'static str) -> Result<f64> {
        self.figure(key)?.ok_or_else(|| {
            self.missing(
                key,
                &format!("expected a number in {}", unit_of(key).unwrap_or("?")),
            )
        })
    }

    /// The error for a required key that is absent: a present key without its unit suffix, or a misspelling
    /// of it, is named as such.
    fn missing(&self, key: &str, expected: &str) -> Error {
        if let Some(suffix) = UNIT_SUFFIXES
            .iter()
            .map(|(s, _)| *s)
            .find(|s| key.ends_with(s))
        {
            let bare = &key[..key.len() - suffix.len()];
            if self.table.contains_key(bare) {
                return self.error(
                    bare,
                    format!(
                        "has no unit suffix; expected `{}` ({})",
                        self.path(key),
                        unit_of(key).unwrap_or("?")
                    ),
                );
            }
        }
        let strays: Vec<&str> = self
            .table
            .keys()
            .map(String::as_str)
            .filter(|k| !self.known.borrow().contains(k))
            .collect();
        if let Some(typo) = closest(key, strays.iter().copied()).first() {
            return self.error(
                typo,
                format!("unknown key; closest valid key: `{}`", self.path(key)),
            );
        }
        self.error(key, format!("is missing; {expected}"))
    }

    /// An optional string.
    pub fn string(&self, key: &'static str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(o) => Err(self.error(key, format!("expected a string, found {}", o.type_str()))),
        }
    }

    /// A required string.
    pub fn req_string(&self, key: &'static str) -> Result<String> {
        self.string(key)?
            .ok_or_else(|| self.missing(key, "expected a string"))
    }

    /// A required string from a fixed set of choices.
    pub fn choice(&self, key: &'static str, choices: &[&str]) -> Result<String> {
        let s = self.req_string(key)?;
        self.check_choice(key, s, choices)
    }

    /// An optional string from a fixed set of choices that selects a model, so like a figure it needs a source.
    pub fn sourced_choice(&self, key: &'static str, choices: &[&str]) -> Result<Option<String>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => {
                let s = self.check_choice(key, s, choices)?;
                self.figures.borrow_mut().push(self.path(key));
                Ok(Some(s))
            }
        }
    }

    fn check_choice(&self, key: &'static str, s: String, choices: &[&str]) -> Result<String> {
        if choices.contains(&s.as_str()) {
            Ok(s)
        } else {
            let close = closest(&s, choices.iter().copied());
            let hint = close
                .first()
                .map(|c| format!(" (closest: '{c}')"))
                .unwrap_or_default();
            Err(self.error(key, format!("is '{s}'; expected one of {choices:?}{hint}")))
        }
    }

    /// An optional boolean.
    pub fn boolean(&self, key: &'static str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(o) => Err(self.error(
                key,
                format!("expected true or false, found {}", o.type_str()),
            )),
        }
    }

    /// An optional sub-table, read strictly as well.
    pub fn section(&self, key: &'static str) -> Result<Option<Fields<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(self.child(self.path(key), t))),
            Some(o) => Err(self.error(
                key,
                format!(
                    "expected a table [{}], found {}",
                    self.path(key),
                    o.type_str()
                ),
            )),
        }
    }

    /// A required sub-table.
    pub fn req_section(&self, key: &'static str) -> Result<Fields<'a>> {
        self.section(key)?.ok_or_else(|| {
            self.error(
                key,
                format!("is missing; expected a table [{}]", self.path(key)),
            )
        })
    }

    /// An optional array of rows of `width` non-negative finite numbers each (`key = [[1, 2], [3, 4]]`): a table
    /// of counts or sizes, not of figures with units.
    pub fn rows(&self, key: &'static str, width: usize) -> Result<Option<Vec<Vec<f64>>>> {
        let items = match self.get(key) {
            None => return Ok(None),
            Some(toml::Value::Array(items)) => items,
            Some(o) => {
                return Err(self.error(
                    key,
                    format!("expected an array of rows, found {}", o.type_str()),
                ))
            }
        };
        let number = |v: &toml::Value| match v {
            #[allow(clippy::cast_precision_loss)]
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        };
        items
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let values: Option<Vec<f64>> = match row {
                    toml::Value::Array(r) if r.len() == width => r.iter().map(number).collect(),
                    _ => None,
                };
                match values {
                    Some(v) if v.iter().all(|x| x.is_finite() && *x >= 0.0) => Ok(v),
                    _ => Err(self.error(
                        key,
                        format!("row {i}: expected {width} non-negative numbers, found {row}"),
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An optional array of tables (`[[key]]`).
    pub fn tables(&self, key: &'static str) -> Result<Vec<Fields<'a>>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    toml::Value::Table(t) => Ok(self.child(format!("{}[{i}]", self.path(key)), t)),
                    o => Err(self.error(
                        key,
                        format!("item {i}: expected a table, found {}", o.type_str()),
                    )),
                })
                .collect(),
            Some(o) => Err(self.error(
                key,
                format!(
                    "expected an array of tables [[{key}]], found {}",
                    o.type_str()
                ),
            )),
        }
    }

    /// The raw table of a free-form section (used for `[sources]`).
    pub fn raw_table(&self, key: &'static str) -> Result<Option<&'a toml::Table>> {
        match self.get(key) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(o) => Err(self.error(key, format!("expected a table, found {}", o.type_str()))),
        }
    }

    fn child(&self, section: String, table: &'a toml::Table) -> Fields<'a> {
        Fields {
            file: self.file,
            section,
            table,
            known: RefCell::new(Vec::new()),
            figures: self.figures,
        }
    }

    /// Fails on the first key nobody asked for, naming the closest valid key and a missing unit.
    pub fn finish(self) -> Result<()> {
        let known = self.known.borrow();
        let mut keys: Vec<&String> = self.table.keys().collect();
        keys.sort();
        for key in keys {
            if known.iter().any(|k| k == key) {
                continue;
            }
            if let Some(with_unit) = known.iter().find(|k| {
                k.starts_with(key.as_str())
                    && unit_of(&k[key.len()..]).is_some()
                    && k[key.len()..].starts_with('_')
                    && UNIT_SUFFIXES.iter().any(|(s, _)| *s == &k[key.len()..])
            }) {
                return Err(self.error(
                    key,
                    format!(
                        "has no unit suffix; expected `{}` ({})",
                        self.path(with_unit),
                        unit_of(with_unit).unwrap_or("?")
                    ),
                ));
            }
            let close = closest(key, known.iter().copied());
            let hint = match close.first() {
                Some(c) => format!("; closest valid key: `{}`", self.path(c)),
                None => {
                    let mut all: Vec<&str> = known.clone();
                    all.sort_unstable();
                    all.dedup();
                    format!("; valid keys here: {}", all.join(", "))
                }
            };
            return Err(self.error(key, format!("unknown key{hint}")));
        }
        Ok(())
    }
}
