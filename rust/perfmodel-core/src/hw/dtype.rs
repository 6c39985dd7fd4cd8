//! Numeric formats a device computes in.
use crate::error::{closest, invalid, Result};

/// Elements sharing one scale in an OCP Microscaling (MX) block: MXFP4 and MXFP6 carry one 8-bit E8M0 scale per
/// 32 elements (OCP Microscaling Formats (MX) Specification v1.0, section 5, Table 1: "k = 32", scale "E8M0").
pub const MX_BLOCK: f64 = 32.0;
/// Elements sharing one scale in an NVFP4 block: one FP8 E4M3 scale per 16 FP4 (E2M1) elements (NVIDIA Technical
/// Blog 'Introducing NVFP4 for Efficient and Accurate Low-Precision Inference', 2025: "a two-level scaling
/// strategy ... an FP8 (E4M3) scale factor for every 16-value micro-block", plus one FP32 scale per tensor).
pub const NVFP4_BLOCK: f64 = 16.0;

/// A numeric format. `Tf32` is fp32 storage computed on tensor/matrix units. The block-scaled formats (`Fp6`,
/// `Nvfp4`, `Mxfp4`) are stored with their per-block scales, which [`Dtype::bytes`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Fp64,
    Fp32,
    Tf32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    /// MXFP6 (E2M3 or E3M2 elements, one E8M0 scale per 32).
    Fp6,
    /// NVFP4 (E2M1 elements, one E4M3 scale per 16).
    Nvfp4,
    /// MXFP4 (E2M1 elements, one E8M0 scale per 32).
    Mxfp4,
}

impl Dtype {
    pub const ALL: [Dtype; 10] = [
        Dtype::Fp64,
        Dtype::Fp32,
        Dtype::Tf32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Fp6,
        Dtype::Nvfp4,
        Dtype::Mxfp4,
    ];

    /// Whether the format carries per-block scales (MX or NVFP4).
    pub fn is_block_scaled(self) -> bool {
        matches!(self, Dtype::Fp6 | Dtype::Nvfp4 | Dtype::Mxfp4)
    }

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
            Dtype::Fp6 => "fp6",
            Dtype::Nvfp4 => "nvfp4",
            Dtype::Mxfp4 => "mxfp4",
        }
    }

    /// Bytes per element in memory, block scales included: MXFP6 6 bits + 8/32 = 0.78125 B, NVFP4 4 bits +
    /// 8/16 = 0.5625 B, MXFP4 4 bits + 8/32 = 0.53125 B.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp64 => 8.0,
            Dtype::Fp32 | Dtype::Tf32 => 4.0,
            Dtype::Bf16 | Dtype::Fp16 => 2.0,
            Dtype::Fp8 | Dtype::Int8 => 1.0,
            Dtype::Fp6 => 0.75 + 1.0 / MX_BLOCK,
            Dtype::Nvfp4 => 0.5 + 1.0 / NVFP4_BLOCK,
            Dtype::Mxfp4 => 0.5 + 1.0 / MX_BLOCK,
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
            "fp6" | "mxfp6" | "e2m3" | "e3m2" => Dtype::Fp6,
            "nvfp4" => Dtype::Nvfp4,
            "mxfp4" => Dtype::Mxfp4,
            "fp4" | "e2m1" | "float4" => {
                return Err(invalid(
                    "dtype",
                    format!(
                        "'{name}' is ambiguous: FP4 is stored block-scaled, as 'nvfp4' (one FP8 scale per 16 \
                         elements, NVIDIA Blackwell) or 'mxfp4' (one E8M0 scale per 32, OCP MX: Blackwell, CDNA4)"
                    ),
                ))
            }
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
