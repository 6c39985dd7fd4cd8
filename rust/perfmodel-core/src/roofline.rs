//! Roofline models of kernels on one device (Williams, Waterman & Patterson, CACM 52(4), 2009;
//! hierarchical per-level ceilings after Yang, Kurth & Williams, CCPE 32(20), 2020).
//!
//! time = smoothmax(compute, memory levels) + launch, where compute is not a single knob:
//! output tiles are quantized into waves over the SMs/CUs, each tile pays a fixed prologue/epilogue
//! cost, and the device's calibrated fraction of peak applies to the steady state.
use rayon::prelude::*;

use crate::error::{check_positive, invalid, Result};
use crate::hw::{Device, Dtype};

/// What limits a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Bound {
    Compute = 0,
    Hbm = 1,
    L2 = 2,
    Launch = 3,
}

impl Bound {
    pub const NAMES: [&'static str; 4] = ["compute", "hbm", "l2", "launch"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// One kernel's predicted cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelEstimate {
    pub time_s: f64,
    pub flops: f64,
    /// Bytes moved to and from HBM.
    pub hbm_bytes: f64,
    pub bound: Bound,
}

impl KernelEstimate {
    /// Attained FLOP/s.
    pub fn flops_per_s(&self) -> f64 {
        self.flops / self.time_s
    }

    /// Attained HBM bytes/s.
    pub fn bytes_per_s(&self) -> f64 {
        self.hbm_bytes / self.time_s
    }

    /// Arithmetic intensity against HBM, FLOP/byte.
    pub fn intensity(&self) -> f64 {
        self.flops / self.hbm_bytes
    }
}

/// Output tile shapes a GEMM library chooses from, with the fraction of the largest tile's steady-state
/// rate each reaches (smaller tiles reuse each loaded operand less). CUTLASS/hipBLASLt-style tile set.
pub const GEMM_TILES: [(f64, f64, f64); 6] = [
    (256.0, 128.0, 1.0),
    (128.0, 256.0, 1.0),
    (128.0, 128.0, 0.95),
    (128.0, 64.0, 0.85),
    (64.0, 128.0, 0.85),
    (64.0, 64.0, 0.70),
];

/// Exponent p of the smooth maximum (a^p + b^p)^(1/p) joining compute and memory time: real kernels do not
/// overlap the two perfectly near the ridge point. Fitted once across devices (A100, H100, MI300X GEMM rows).
pub const OVERLAP_EXPONENT: f64 = 3.0;

/// Extra cost of a written byte relative to a read byte on HBM (read/write turnaround), fitted on
/// BabelStream Copy vs Dot on A100 (0.17) and H100 (0.19); one value for all devices.
pub const HBM_WRITE_PENALTY: f64 = 0.18;

/// `(a^p + b^p)^(1/p)` for p = `OVERLAP_EXPONENT` = 3 (cube root, no `powf` in the hot loop).
#[inline]
fn smooth_max(a: f64, b: f64) -> f64 {
    const _: () = assert!(OVERLAP_EXPONENT == 3.0);
    let hi = a.max(b);
    if hi <= 0.0 {
        return 0.0;
    }
    let (x, y) = (a / hi, b / hi);
    hi * (x * x * x + y * y * y).cbrt()
}

/// The per-device constants a GEMM evaluation needs, resolved once per call so the hot loop is pure arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct GemmContext {
    rate_per_unit: f64,
    units: f64,
    inv_units: f64,
    /// Per tile shape: (1/tm, 1/tn, seconds per unit of k for one tile = 2 tm tn / (rate x rel), tm + tn).
    tiles: [(f64, f64, f64, f64); GEMM_TILES.len()],
    tile_overhead_s: f64,
    launch_s: f64,
    hbm_bw: f64,
    l2_bw: f64,
    in_bytes: f64,
    out_bytes: f64,
}

impl GemmContext {
    /// Resolves `dtype` on `device`; fails if the device cannot compute in it.
    pub fn new(device: &Device, dtype: Dtype) -> Result<Self> {
        let peak = device.gemm_peak(dtype)?;
        let units = f64::from(device.compute_units);
        let out_bytes = match dtype {
            // fp8/int8 GEMMs write 16-bit (or wider) results in practice.
            Dtype::Fp8 | Dtype::Int8 => 2.0,
            d => d.bytes(),
        };
        let rate_per_unit = peak * device.gemm_fraction(dtype) / units;
        let tiles = GEMM_TILES.map(|(tm, tn, rel)| {
            (
                1.0 / tm,
                1.0 / tn,
                2.0 * tm * tn / (rate_per_unit * rel),
                tm + tn,
            )
        });
        Ok(GemmContext {
            rate_per_unit,
            units,
            inv_units: 1.0 / units,
            tiles,
            tile_overhead_s: device.efficiency.tile_overhead_s,
            launch_s: device.efficiency.launch_overhead_s,
            hbm_bw: device.hbm_bandwidth() * device.efficiency.hbm,
            l2_bw: device
                .l2
                .as_ref()
                .and_then(|l| l.bandwidth_bytes_per_s)
                .unwrap_or(f64::INFINITY),
            in_bytes: dtype.bytes(),
            out_bytes,
        })
    }

    /// Time of a batched GEMM C[b] = A[b] (m x k) * B[b] (k x n); sizes must already be validated.
    #[inline]
    pub fn estimate(&self, m: f64, n: f64, k: f64, batch: f64) -> KernelEstimate {
        let mut t_compute = f64::INFINITY;
        let mut l2_bytes = 0.0;
        for &(inv_tm, inv_tn, sec_per_k, perimeter) in &self.tiles {
            let tiles = batch * (m * inv_tm).ceil() * (n * inv_tn).ceil();
            let waves = (tiles * self.inv_units).ceil();
            let t = waves * (sec_per_k * k + self.tile_overhead_s);
            if t < t_compute {
                t_compute = t;
                l2_bytes = tiles * perimeter * k * self.in_bytes;
            }
        }
        let hbm_bytes = batch * ((m * k + k * n) * self.in_bytes + m * n * self.out_bytes);
        let t_hbm = hbm_bytes / self.hbm_bw;
        let t_l2 = l2_bytes / self.l2_bw;
        let t_mem = t_hbm.max(t_l2);
        let body = smooth_max(t_compute, t_mem);
        let bound = if self.launch_s > body {
            Bound::Launch
        } else if t_compute >= t_mem {
            Bound::Compute
        } else if t_hbm >= t_l2 {
            Bound::Hbm
        } else {
            Bound::L2
        };
        KernelEstimate {
            time_s: body + self.launch_s,
            flops: 2.0 * m * n * k * batch,
            hbm_bytes,
            bound,
        }
    }
}

/// One GEMM, with argument checks.
pub fn gemm(
    device: &Device,
    m: f64,
    n: f64,
    k: f64,
    batch: f64,
    dtype: Dtype,
) -> Result<KernelEstimate> {
    let ctx = GemmContext::new(device, dtype)?;
    Ok(ctx.estimate(
        check_positive("m", m)?,
        check_positive("n", n)?,
        check_positive("k", k)?,
        check_positive("batch", batch)?,
    ))
}

/// Column-wise results of a vectorized evaluation.
#[derive(Debug, Default, Clone)]
pub struct KernelColumns {
    pub time_s: Vec<f64>,
    pub flops: Vec<f64>,
    pub hbm_bytes: Vec<f64>,
    pub bound: Vec<u8>,
}

/// Element count above which vectorized evaluation runs in parallel.
const PARALLEL_THRESHOLD: usize = 8192;

/// Evaluates `f` on index `i` for every element, in parallel for large inputs; checks inputs first.
fn evaluate_columns<F>(len: usize, f: F) -> KernelColumns
where
    F: Fn(usize) -> KernelEstimate + Sync,
{
    let mut out = KernelColumns {
        time_s: vec![0.0; len],
        flops: vec![0.0; len],
        hbm_bytes: vec![0.0; len],
        bound: vec![0; len],
    };
    let chunk = (len / (rayon::current_num_threads() * 4)).max(PARALLEL_THRESHOLD);
    let fill = |start: usize, t: &mut [f64], fl: &mut [f64], b: &mut [f64], bd: &mut [u8]| {
        for j in 0..t.len() {
            let e = f(start + j);
            t[j] = e.time_s;
            fl[j] = e.flops;
            b[j] = e.hbm_bytes;
            bd[j] = e.bound as u8;
        }
    };
    if len <= PARALLEL_THRESHOLD {
        fill(
            0,
            &mut out.time_s,
            &mut out.flops,
            &mut out.hbm_bytes,
            &mut out.bound,
        );
    } else {
        out.time_s
            .par_chunks_mut(chunk)
            .zip(out.flops.par_chunks_mut(chunk))
            .zip(out.hbm_bytes.par_chunks_mut(chunk))
            .zip(out.bound.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(ci, (((t, fl), b), bd))| fill(ci * chunk, t, fl, b, bd));
    }
    out
}

/// Checks that every value of a size column is finite and > 0, naming the first bad element.
pub fn check_column(arg: &str, values: &[f64]) -> Result<()> {
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        let what = if v.is_nan() {
            "NaN".to_owned()
        } else {
            v.to_string()
        };
        return Err(invalid(
            arg,
            format!("element {i} is {what}; expected a finite number > 0"),
        ));
    }
    Ok(())
}

fn check_lengths(cols: &[(&str, usize)]) -> Result<usize> {
    let n = cols[0].1;
    for (name, len) in cols {
        if *len != n {
            return Err(invalid(
                name,
                format!("has {len} elements, expected {n} like `{}`", cols[0].0),
            ));
        }
    }
    Ok(n)
}

/// Vectorized GEMM over equal-length columns (the caller broadcasts).
pub fn gemm_columns(
    device: &Device,
    dtype: Dtype,
    m: &[f64],
    n: &[f64],
    k: &[f64],
    batch: &[f64],
) -> Result<KernelColumns> {
    let len = check_lengths(&[
        ("m", m.len()),
        ("n", n.len()),
        ("k", k.len()),
        ("batch", batch.len()),
    ])?;
    for (name, col) in [("m", m), ("n", n), ("k", k), ("batch", batch)] {
        check_column(name, col)?;
    }
    let ctx = GemmContext::new(device, dtype)?;
    Ok(evaluate_columns(len, |i| {
        ctx.estimate(m[i], n[i], k[i], batch[i])
    }))
}

/// Flash-style attention (Dao 2023, FlashAttention-2): forward FLOPs `4 b h s_q s_kv d` (halved when causal),
/// backward 2.5x forward; Q, K, V, O (and dO, dQ, dK, dV backward) stream through HBM once.
#[derive(Debug, Clone, Copy)]
pub struct AttentionContext {
    gemm: GemmContext,
    attention_fraction: f64,
}

impl AttentionContext {
    pub fn new(device: &Device, dtype: Dtype) -> Result<Self> {
        Ok(AttentionContext {
            gemm: GemmContext::new(device, dtype)?,
            attention_fraction: device.efficiency.attention,
        })
    }

    #[inline]
    pub fn estimate(
        &self,
        batch: f64,
        heads: f64,
        seq_q: f64,
        seq_kv: f64,
        head_dim: f64,
        causal: bool,
        backward: bool,
    ) -> KernelEstimate {
        let g = &self.gemm;
        let causal_factor = if causal { 0.5 } else { 1.0 };
        let fwd_flops = 4.0 * batch * heads * seq_q * seq_kv * head_dim * causal_factor;
        let flops = if backward { 2.5 * fwd_flops } else { fwd_flops };
        // One thread block per 128 query rows of one (batch, head); waves over the compute units.
        let blocks = batch * heads * (seq_q / 128.0).ceil();
        let waves = (blocks / g.units).ceil();
        let per_block = flops / blocks;
        let t_compute =
            waves * (per_block / (g.rate_per_unit * self.attention_fraction) + g.tile_overhead_s);
        let tensor = batch * heads * head_dim * g.in_bytes;
        let hbm_bytes = if backward {
            tensor * (seq_q * 3.0 + seq_kv * 2.0)
                + tensor * (seq_q + seq_kv * 2.0) * (1.0 + HBM_WRITE_PENALTY)
        } else {
            tensor * (seq_q + 2.0 * seq_kv) + tensor * seq_q * (1.0 + HBM_WRITE_PENALTY)
        };
        let t_hbm = hbm_bytes / g.hbm_bw;
        let body = smooth_max(t_compute, t_hbm);
        let bound = if g.launch_s > body {
            Bound::Launch
        } else if t_compute >= t_hbm {
            Bound::Compute
        } else {
            Bound::Hbm
        };
        KernelEstimate {
            time_s: body + g.launch_s,
            flops,
            hbm_bytes,
            bound,
        }
    }
}

/// Vectorized attention.
pub fn attention_columns(
    device: &Device,
    dtype: Dtype,
    batch: &[f64],
    heads: &[f64],
    seq_q: &[f64],
    seq_kv: &[f64],
    head_dim: &[f64],
    causal: bool,
    backward: bool,
) -> Result<KernelColumns> {
    let cols = [
        ("batch", batch),
        ("heads", heads),
        ("seq_q", seq_q),
        ("seq_kv", seq_kv),
        ("head_dim", head_dim),
    ];
    let len = check_lengths(&cols.map(|(n, c)| (n, c.len())))?;
    for (name, col) in cols {
        check_column(name, col)?;
    }
    let ctx = AttentionContext::new(device, dtype)?;
    Ok(evaluate_columns(len, |i| {
        ctx.estimate(
            batch[i],
            heads[i],
            seq_q[i],
            seq_kv[i],
            head_dim[i],
            causal,
            backward,
        )
    }))
}

/// A memory-bound kernel (elementwise, normalization, softmax, reduction) given its bytes read and written
/// and its FLOPs on the vector units.
#[derive(Debug, Clone, Copy)]
pub struct StreamContext {
    hbm_bw: f64,
    vector_rate: f64,
    launch_s: f64,
}

impl StreamContext {
    pub fn new(device: &Device, dtype: Dtype) -> Result<Self> {
        let vector = device
            .vector_peak(dtype)
            .or_else(|| device.vector_peak(Dtype::Fp32))
            .or_else(|| device.gemm_peak(dtype).ok())
            .unwrap_or(f64::INFINITY);
        Ok(StreamContext {
            hbm_bw: device.hbm_bandwidth() * device.efficiency.hbm,
            vector_rate: vector,
            launch_s: device.efficiency.launch_overhead_s,
        })
    }

    /// time = launch + smoothmax((R + (1 + write penalty) W) / (HBM bw x fraction), FLOPs / vector peak).
    #[inline]
    pub fn estimate(&self, bytes_read: f64, bytes_written: f64, flops: f64) -> KernelEstimate {
        let t_hbm = (bytes_read + bytes_written * (1.0 + HBM_WRITE_PENALTY)) / self.hbm_bw;
        let t_compute = flops / self.vector_rate;
        let body = smooth_max(t_hbm, t_compute);
        let bound = if self.launch_s > body {
            Bound::Launch
        } else if t_compute > t_hbm {
            Bound::Compute
        } else {
            Bound::Hbm
        };
        KernelEstimate {
            time_s: body + self.launch_s,
            flops,
            hbm_bytes: bytes_read + bytes_written,
            bound,
        }
    }
}

/// Vectorized memory-bound kernel; `flops` may be zero.
pub fn stream_columns(
    device: &Device,
    dtype: Dtype,
    bytes_read: &[f64],
    bytes_written: &[f64],
    flops: &[f64],
) -> Result<KernelColumns> {
    let len = check_lengths(&[
        ("bytes_read", bytes_read.len()),
        ("bytes_written", bytes_written.len()),
        ("flops", flops.len()),
    ])?;
    for (name, col) in [
        ("bytes_read", bytes_read),
        ("bytes_written", bytes_written),
        ("flops", flops),
    ] {
        if let Some((i, v)) = col
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            let what = if v.is_nan() {
                "NaN".to_owned()
            } else {
                v.to_string()
            };
            return Err(invalid(
                name,
                format!("element {i} is {what}; expected a finite number >= 0"),
            ));
        }
    }
    if let Some(i) = (0..len).find(|&i| bytes_read[i] + bytes_written[i] <= 0.0) {
        return Err(invalid(
            "bytes_read",
            format!("element {i}: a memory-bound kernel must move some bytes (read + written > 0)"),
        ));
    }
    let ctx = StreamContext::new(device, dtype)?;
    Ok(evaluate_columns(len, |i| {
        ctx.estimate(bytes_read[i], bytes_written[i], flops[i])
    }))
}
