//! Numeric formats a device computes in.
use crate::error::{closest, invalid, Result};

/// A numeric format. `Tf32` is fp32 storage computed on tensor/matrix units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Fp64,
    Fp32,
    Tf32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
}

impl Dtype {
    pub const ALL: [Dtype; 7] = [
        Dtype::Fp64,
        Dtype::Fp32,
        Dtype::Tf32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
    ];

    /// The lowercase name used in the API and in hwdb keys.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp64 => "fp64",
            Dtype::Fp32 => "fp32",
            Dtype::Tf32 => "tf32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
        }
    }

    /// Bytes per element in memory.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp64 => 8.0,
            Dtype::Fp32 | Dtype::Tf32 => 4.0,
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp8 | Dtype::Int8 => 1.0,
        }
    }

    /// Parses a dtype name (a few common aliases accepted).
    pub fn parse(name: &str) -> Result<Dtype> {
        let n = name.trim().to_ascii_lowercase();
        let d = match n.as_str() {
            "fp64" | "float64" | "f64" | "double" => Dtype::Fp64,
            "fp32" | "float32" | "f32" | "float" => Dtype::Fp32,
            "tf32" => Dtype::Tf32,
            "bf16" | "bfloat16" => Dtype::Bf16,
            "fp16" | "float16" | "f16" | "half" => Dtype::Fp16,
            "fp8" | "e4m3" | "e5m2" | "float8" => Dtype::Fp8,
            "int8" | "i8" => Dtype::Int8,
            _ => {
                let names: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
                let close = closest(&n, names.iter().copied());
                let hint = close
                    .first()
                    .map(|c| format!(" (closest: '{c}')"))
                    .unwrap_or_default();
                return Err(invalid(
                    "dtype",
                    format!("'{name}' is not a dtype; expected one of {names:?}{hint}"),
                ));
            }
        };
        Ok(d)
    }
}
