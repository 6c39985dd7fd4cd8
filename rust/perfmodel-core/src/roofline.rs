//! Roofline models of kernels on one device (Williams, Waterman & Patterson, CACM 52(4), 2009;
//! hierarchical per-level ceilings after Yang, Kurth & Williams, CCPE 32(20), 2020).
//!
//! time = smoothmax(compute, memory levels) + launch, where compute is not a single knob:
//! output tiles are quantized into waves over the SMs/CUs, each tile pays a fixed prologue/epilogue
//! cost, and the device's calibrated fraction of peak applies to the steady state.
//!
//! The vectorized GEMM runs in blocks compiled twice, for any CPU and for AVX2 + FMA (chosen at run time);
//! both give the same bits. Code must be inlined into the AVX2 copy to use its instructions, hence the
//! `#[inline(always)]` on the hot helpers.
#![allow(clippy::inline_always)]

use crate::error::{check_positive, invalid, Result};
use crate::hw::device::GemmLibrary;
use crate::hw::{Device, Dtype, GemmTileScheduler};

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

// Per-device figures (hwdb `[efficiency]`, `hw::Efficiency`): the exponent p of the smooth maximum
// (a^p + b^p)^(1/p) joining compute and memory time (real kernels do not overlap the two perfectly near the ridge
// point; `overlap_exponent`), the extra cost of a written HBM byte (`hbm_write_penalty_ratio`) and the fused
// attention schedule (`attention_*`). p = 3 has an exact fast path (`smooth_max`); any other p takes `powf`.

/// The instruction-set specific operations of the hot loops. Every implementation gives the same bits (both
/// operations are exact), so results never depend on the CPU.
trait Arith {
    /// `x.ceil()`.
    fn ceil(x: f64) -> f64;
    /// `a * b` as `p + e` exactly.
    fn two_prod(a: f64, b: f64) -> (f64, f64);
}

/// Any CPU. On baseline x86-64 (no SSE4.1, no FMA) `f64::ceil` and `f64::mul_add` are library calls, so
/// `ceil` adds and removes 2^52 (which rounds |x| < 2^52 to the nearest integer; every larger f64 is an
/// integer) and `two_prod` is Dekker's product.
struct Portable;

impl Arith for Portable {
    #[inline(always)]
    fn ceil(x: f64) -> f64 {
        if cfg!(any(target_arch = "aarch64", target_feature = "sse4.1")) {
            return x.ceil();
        }
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let a = x.abs();
        let r = (a + TWO_52) - TWO_52;
        let c = if x.is_sign_negative() {
            -(r - if r > a { 1.0 } else { 0.0 })
        } else {
            r + if r < a { 1.0 } else { 0.0 }
        };
        if a < TWO_52 {
            c
        } else {
            x
        }
    }

    #[inline(always)]
    fn two_prod(a: f64, b: f64) -> (f64, f64) {
        let p = a * b;
        if cfg!(any(target_arch = "aarch64", target_feature = "fma")) {
            return (p, a.mul_add(b, -p));
        }
        // Veltkamp's split into 26-bit halves, whose products are exact.
        let split = |v: f64| {
            let c = 134_217_729.0 * v; // 2^27 + 1
            let hi = c - (c - v);
            (hi, v - hi)
        };
        let (ah, al) = split(a);
        let (bh, bl) = split(b);
        (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
    }
}

/// x86-64 with AVX2 and FMA, detected at run time: `roundsd`/`roundpd` and `vfmadd`, only inside functions
/// compiled for those features (`fill_block_avx2`).
#[cfg(target_arch = "x86_64")]
struct Avx2Fma;

#[cfg(target_arch = "x86_64")]
impl Arith for Avx2Fma {
    #[inline(always)]
    fn ceil(x: f64) -> f64 {
        x.ceil()
    }

    #[inline(always)]
    fn two_prod(a: f64, b: f64) -> (f64, f64) {
        let p = a * b;
        (p, a.mul_add(b, -p))
    }
}

/// `(a^p + b^p)^(1/p)` for p = 3 (cube root, no `powf` in the hot loop).
///
/// Computed as `hi * cbrt(x^3 + y^3)` with `x = a / hi`, `y = b / hi`. For finite inputs the larger of the two
/// ratios is exactly 1, so only the smaller one needs a division, the cube root's argument lies in [1, 2]
/// (`cbrt_1_2`), and when the small cube vanishes next to 1 the cube root of 1 is skipped: all give the same
/// bits as the plain formula.
#[inline(always)]
fn smooth_max<A: Arith>(a: f64, b: f64) -> f64 {
    match smooth_max_lanes::<A>(a, b) {
        (v, true) => v,
        _ => smooth_max_plain(a, b),
    }
}

/// The plain formula (p = 3), for what `smooth_max_lanes` leaves.
#[inline(never)]
fn smooth_max_plain(a: f64, b: f64) -> f64 {
    let hi = a.max(b);
    if hi <= 0.0 {
        return 0.0;
    }
    let (x, y) = (a / hi, b / hi);
    hi * (x * x * x + y * y * y).cbrt()
}

/// `(a^p + b^p)^(1/p)` for any exponent p >= 1 (a device whose `overlap_exponent` is not 3).
#[inline(never)]
fn smooth_max_pow(a: f64, b: f64, p: f64) -> f64 {
    let hi = a.max(b);
    if hi <= 0.0 || hi == f64::INFINITY {
        return hi.max(0.0);
    }
    let (x, y) = (a / hi, b / hi);
    hi * (x.powf(p) + y.powf(p)).powf(1.0 / p)
}

/// The smooth maximum with exponent `p`: the exact p = 3 path, else `smooth_max_pow`.
#[inline(always)]
fn smooth_max_p<A: Arith>(a: f64, b: f64, p: f64) -> f64 {
    if p == 3.0 {
        smooth_max::<A>(a, b)
    } else {
        smooth_max_pow(a, b, p)
    }
}

/// `smooth_max` without branches (so a loop of it vectorizes): the value, and whether it is settled. It is
/// not for a negative, NaN or infinite input, a zero maximum, or a cube root `cbrt_1_2_lanes` leaves.
#[inline(always)]
fn smooth_max_lanes<A: Arith>(a: f64, b: f64) -> (f64, bool) {
    let hi = a.max(b);
    let r = a.min(b) / hi;
    let s = 1.0 + r * r * r;
    let (c, sure) = cbrt_1_2_lanes::<A>(s);
    let one = s == 1.0;
    let value = if one { hi } else { hi * c };
    let settled = a >= 0.0 && b >= 0.0 && hi > 0.0 && hi < f64::INFINITY && (sure || one);
    (value, settled)
}

/// The cube root of `s` in [1, 2], correctly rounded like `f64::cbrt` (Rust's libm cbrt is the correctly
/// rounded CORE-MATH one) at a fraction of its cost, and without branches: a polynomial for s^(-1/3), two Newton steps, then one
/// correction of y = cbrt(s) from the residual s - y^3 taken in double-double. Rounding y + correction gives
/// the correctly rounded result unless that sum lies within 2^-30 ulp of a rounding boundary; the flag says
/// it does not (all but about one argument in 10^9; all of the 2 x 10^8 of the unit test).
#[inline(always)]
fn cbrt_1_2_lanes<A: Arith>(s: f64) -> (f64, bool) {
    // Least-squares fit of s^(-1/3) on [1, 2] in u = s - 1.5; relative error 4.4e-5.
    const C: [f64; 5] = [
        0.873_581_669_177_884_2,
        -0.193_812_519_811_907_72,
        0.086_052_703_412_238_6,
        -0.049_672_691_517_503_33,
        0.027_941_972_984_737_25,
    ];
    const HALF_ULP: f64 = 1.110_223_024_625_156_5e-16; // 2^-53: half an ulp in [1, 2)
    const SLACK: f64 = HALF_ULP * 9.313_225_746_154_785e-10; // 2^-30 of it
    let u = s - 1.5;
    let mut z = C[0] + u * (C[1] + u * (C[2] + u * (C[3] + u * C[4])));
    // z <- z + z (1 - s z^3) / 3: relative error 4.4e-5 -> 4e-9 -> a few ulps.
    z += z * (1.0 - s * z * z * z) * (1.0 / 3.0);
    z += z * (1.0 - s * z * z * z) * (1.0 / 3.0);
    let y = s * z * z;
    let (p, pe) = A::two_prod(y, y);
    let (c, ce) = A::two_prod(y, p);
    let residual = (s - c) - (ce + y * pe);
    let d = residual * (z * z * (1.0 / 3.0));
    let r = y + d;
    // What rounding y + d to r dropped; within SLACK of half an ulp the rounding is not certain.
    let dropped = d - (r - y);
    let sure = (dropped.abs() - HALF_ULP).abs() > SLACK && (1.0..2.0).contains(&r);
    (r, sure)
}

/// Depth of one K tile of a stream-K GEMM, bytes of each operand row: 128 (the 128-byte TMA swizzle span): 32
/// fp32, 64 16-bit or 128 8-bit elements. CUTLASS's sm90 warp-specialized fp32 GEMM uses a 128 x 128 x 32 tile
/// (NVIDIA/cutlass examples/48_hopper_warp_specialized_gemm/48_hopper_warp_specialized_gemm.cu @ 18422531).
/// Stream-K splits the K loop in units of this tile (`k_tile_count`, `k_tile_per_output_tile`:
/// include/cutlass/gemm/kernel/sm90_tile_scheduler_stream_k.hpp @ 019c5c97).
const STREAM_K_TILE_BYTES: f64 = 128.0;

/// The fewest K tiles one stream-K unit takes (CUTLASS `min_iters_per_sk_unit_`, include/cutlass/gemm/kernel/
/// tile_scheduler_params.h @ 019c5c97).
const STREAM_K_MIN_ITERS: f64 = 8.0;

/// Bytes per element of a stream-K partial tile: the fp32 accumulators (`ElementAccumulator`) that a unit stores
/// to the reduction workspace (`BlockStripedReduce::store`) and a peer loads back (`load_add`), NVIDIA/cutlass
/// include/cutlass/gemm/kernel/sm90_tile_scheduler_stream_k.hpp @ 7107b055 `fixup_helper`.
const STREAM_K_PARTIAL_BYTES: f64 = 4.0;

/// The distinct edge lengths of the `GEMM_TILES` shapes; the tiles per row (column) of a GEMM are needed
/// once per edge length, not once per shape.
const TILE_EDGES: [f64; 3] = [64.0, 128.0, 256.0];

const fn edge_index(edge: f64) -> usize {
    let mut i = 0;
    while i < TILE_EDGES.len() {
        if TILE_EDGES[i] == edge {
            return i;
        }
        i += 1;
    }
    panic!("a GEMM_TILES edge is missing from TILE_EDGES");
}

/// Per `GEMM_TILES` shape: the index of its tm and tn in `TILE_EDGES` (checked at compile time).
const TILE_EDGE_INDEX: [(usize, usize); GEMM_TILES.len()] = {
    let mut out = [(0, 0); GEMM_TILES.len()];
    let mut i = 0;
    while i < GEMM_TILES.len() {
        out[i] = (edge_index(GEMM_TILES[i].0), edge_index(GEMM_TILES[i].1));
        i += 1;
    }
    out
};

/// How a GEMM's operands are laid out, which decides the dimensions that must be aligned (multiples of 16
/// bytes) for the library's aligned kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row-major A (m x k), B (k x n) or its transpose stored as (n x k), C (m x n), as PyTorch and
    /// `nn.Linear` hold them: the leading dimensions are k and n.
    Row,
    /// cuBLAS column-major "TN" (A^T B with A stored k x m, B stored k x n, C stored m x n column-major), as
    /// cuBLASLt benchmarks call it: the leading dimensions are k and m.
    Tn,
}

impl Layout {
    pub fn parse(name: &str) -> Result<Layout> {
        match name {
            "row" => Ok(Layout::Row),
            "tn" => Ok(Layout::Tn),
            _ => Err(crate::error::invalid(
                "layout",
                format!("is '{name}'; expected 'row' (row-major, PyTorch) or 'tn' (cuBLAS column-major TN)"),
            )),
        }
    }
}

/// How the GEMM engine schedules one GEMM (`GemmContext::schedule`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmSchedule {
    /// Output tile (rows x columns) of the fastest `GEMM_TILES` shape, or of the library kernel it runs.
    pub tile_m: f64,
    pub tile_n: f64,
    /// Output tiles: `batch * ceil(m / tile_m) * ceil(n / tile_n)`.
    pub tiles: f64,
    /// `ceil(tiles / units)` under a waves scheduler; under stream-K `ceil(tiles x q / units) / q` with q K tiles
    /// per output tile (fractional).
    pub waves: f64,
    /// Compute units (SMs or CUs) a wave fills.
    pub units: f64,
    /// K slices of each output tile: 1, or more where the device's unbatched GEMM splits K
    /// (`GemmContext::split_k_choice`); `waves` then counts the `tiles x k_slices` thread blocks.
    pub k_slices: f64,
    /// Whether the leading dimensions are multiples of 16 bytes.
    pub aligned: bool,
    /// Compute time, the alignment penalty included, seconds.
    pub compute_s: f64,
    /// Memory time (the slower of HBM and L2, and of the device's GEMM-kernel stream floor where it gives one,
    /// hwdb `gemm_stream_fraction`), seconds.
    pub memory_s: f64,
}

/// A GEMM's tile choice: (compute time before the alignment penalty, L2 bytes, the output tile (rows, columns),
/// its tile count, whether the device's GEMM library priced it).
type TileChoice = (f64, f64, (f64, f64), f64, bool);

/// The per-device constants a GEMM evaluation needs, resolved once per call so the hot loop is pure arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct GemmContext {
    rate_per_unit: f64,
    units: f64,
    inv_units: f64,
    /// 1 / the K-tile depth in elements under a stream-K scheduler (`GemmTileScheduler::StreamK`), 0 under waves:
    /// see `tile_choice`.
    inv_k_tile: f64,
    /// Per tile shape: (seconds per unit of k for one tile = 2 tm tn / (rate x rel), tm + tn).
    tiles: [(f64, f64); GEMM_TILES.len()],
    /// 1 / `TILE_EDGES`.
    inv_edges: [f64; TILE_EDGES.len()],
    /// Per tile shape: seconds one unit takes to write (or read) one fp32 partial tile to (from) L2 in the
    /// stream-K fixup, tm x tn x 4 bytes / the device's per-unit L2 bandwidth; 0 under waves or where the device
    /// has no per-unit L2 figure (the fixup is then not priced). See `stream_k`.
    fixup_s: [f64; GEMM_TILES.len()],
    tile_overhead_s: f64,
    launch_s: f64,
    hbm_bw: f64,
    /// 1 / the rate at which the device's GEMM kernels stream their HBM bytes (hwdb `gemm_stream_fraction` x the
    /// HBM peak), or 0 where the device gives no such figure: a GEMM takes at least its HBM bytes at that rate,
    /// joined to the smooth maximum of compute and memory time by a plain maximum (see `join`).
    inv_stream_bw: f64,
    l2_bw: f64,
    in_bytes: f64,
    /// Bytes per element of the second operand B (k x n, the weights of a linear layer): `in_bytes` unless a
    /// weight-only quantized GEMM reads packed weights (4-bit: 0.5 plus its scales).
    weight_bytes: f64,
    out_bytes: f64,
    /// Elements per 16 bytes and its inverse (a power of two, so the alignment test is exact).
    align: f64,
    inv_align: f64,
    /// Elements per 4 bytes and its inverse: a leading dimension below this alignment (an odd number of 16-bit
    /// elements) takes the narrowest kernels.
    word: f64,
    inv_word: f64,
    /// Whether m (`Layout::Tn`) or n (`Layout::Row`) is the other leading dimension besides k.
    align_m: bool,
    /// Compute-time factor of an unaligned GEMM (1 / the device's unaligned fraction).
    unaligned_slowdown: f64,
    /// Same when a leading dimension is not a multiple of 4 bytes (1 / the device's odd fraction).
    odd_slowdown: f64,
    /// Compute-time factor of a strided-batched GEMM, batch >= 2 (1 / the device's batched fraction).
    batched_slowdown: f64,
    /// Whether an unbatched GEMM whose output tiles leave compute units idle splits K (hwdb
    /// `compute.gemm_split_k`).
    split_k: bool,
    /// Elements per 128 bytes: a K slice is a multiple of it (CUTLASS's cache-line alignment of split-K).
    k_slice_align: f64,
    /// The device's smooth-maximum exponent.
    overlap_exponent: f64,
    /// The device's GEMM library selection for this dtype (hwdb `[gemm_library]`), if sourced: the GEMM is then
    /// priced on the kernel the library selects instead of the best of `GEMM_TILES`.
    library: Option<&'static GemmLibrary>,
    /// The library's matrix kernels' operand-feed penalty (edge in elements, exponent; hwdb
    /// `gemm_library_feed_*`): a kernel of macro tile tm x tn runs at the rate per unit / (1 + (edge x (1/tm +
    /// 1/tn))^exponent). Edge 0: every tile at the rate per unit.
    library_feed: (f64, f64),
    /// Rate per unit of a library kernel that runs on the vector units (the dtype's vector peak, else fp32's,
    /// times the library's vector fraction, hwdb `gemm_library_vector_fraction`, else the GEMM fraction), FLOP/s.
    vector_rate_per_unit: f64,
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
        let library = device.gemm_library.filter(|l| l.dtype == dtype);
        // GEMMs priced on the library's kernels take the fraction fitted on them, where the device gives one.
        let fraction = match (library, device.efficiency.gemm_library) {
            (Some(_), Some(f)) => f,
            _ => device.gemm_fraction(dtype),
        };
        let rate_per_unit = peak * fraction / units;
        let tiles =
            GEMM_TILES.map(|(tm, tn, rel)| (2.0 * tm * tn / (rate_per_unit * rel), tm + tn));
        Ok(GemmContext {
            rate_per_unit,
            units,
            inv_units: 1.0 / units,
            inv_k_tile: match device.gemm_tile_scheduler {
                GemmTileScheduler::Waves => 0.0,
                GemmTileScheduler::StreamK => dtype.bytes() / STREAM_K_TILE_BYTES,
            },
            tiles,
            inv_edges: TILE_EDGES.map(|e| 1.0 / e),
            fixup_s: match (device.gemm_tile_scheduler, device.l2_bandwidth_per_unit) {
                (GemmTileScheduler::StreamK, Some(bw)) => {
                    GEMM_TILES.map(|(tm, tn, _)| tm * tn * STREAM_K_PARTIAL_BYTES / bw)
                }
                _ => [0.0; GEMM_TILES.len()],
            },
            tile_overhead_s: device.efficiency.tile_overhead_s,
            launch_s: device.efficiency.launch_overhead_s,
            hbm_bw: device.hbm_bandwidth() * device.efficiency.hbm,
            inv_stream_bw: device
                .efficiency
                .gemm_stream
                .map_or(0.0, |f| 1.0 / (device.hbm_bandwidth() * f)),
            l2_bw: device
                .l2
                .as_ref()
                .and_then(|l| l.bandwidth_bytes_per_s)
                .unwrap_or(f64::INFINITY),
            in_bytes: dtype.bytes(),
            weight_bytes: dtype.bytes(),
            out_bytes,
            align: 16.0 / dtype.bytes(),
            inv_align: dtype.bytes() / 16.0,
            word: 4.0 / dtype.bytes(),
            inv_word: dtype.bytes() / 4.0,
            align_m: false,
            unaligned_slowdown: 1.0 / device.efficiency.unaligned_gemm,
            odd_slowdown: 1.0 / device.efficiency.odd_gemm,
            batched_slowdown: 1.0 / device.efficiency.batched_gemm,
            split_k: device.gemm_split_k,
            k_slice_align: 128.0 / dtype.bytes(),
            overlap_exponent: device.efficiency.overlap_exponent,
            library,
            library_feed: device.efficiency.gemm_library_feed.unwrap_or((0.0, 1.0)),
            vector_rate_per_unit: device
                .vector_peak(dtype)
                .or_else(|| device.vector_peak(Dtype::Fp32))
                .unwrap_or(peak)
                * match (library, device.efficiency.gemm_library_vector) {
                    (Some(_), Some(f)) => f,
                    _ => fraction,
                }
                / units,
        })
    }

    /// The same context for operands in `layout` (`Layout::Row` unless told).
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.align_m = layout == Layout::Tn;
        self
    }

    /// The same context reading B (the weights) at `bytes` per element: a weight-only quantized GEMM
    /// (W4A16: 4-bit weights dequantized in the kernel, computed at this context's rate).
    #[must_use]
    pub fn with_weight_bytes(mut self, bytes: f64) -> Self {
        self.weight_bytes = bytes;
        self
    }

    /// Time of a batched GEMM C[b] = A[b] (m x k) * B[b] (k x n); sizes must already be validated.
    #[inline]
    pub fn estimate(&self, m: f64, n: f64, k: f64, batch: f64) -> KernelEstimate {
        self.estimate_inline(m, n, k, batch)
    }

    /// Everything of `estimate` but the smooth maximum: (compute time, memory time, HBM bytes, the bound
    /// unless launch-bound).
    ///
    /// For each tile shape: tiles = batch * ceil(m / tm) * ceil(n / tn), waves = ceil(tiles / units) (or its
    /// stream-K form, see `tile_choice`), time = waves * (k * seconds per k + tile overhead); the fastest shape
    /// wins (the first on ties). An unaligned leading dimension (see [`Layout`]) multiplies it by the device's
    /// unaligned slowdown, a batch above one by its strided-batched slowdown (1 on most devices, so exactly the
    /// unbatched time there).
    #[inline(always)]
    fn terms<A: Arith>(&self, m: f64, n: f64, k: f64, batch: f64) -> (f64, f64, f64, Bound) {
        let aligned = self.aligned::<A>(m, n, k);
        let (t_compute, l2_bytes, _, _, by_library, _) =
            self.split_k_choice::<A>(m, n, k, batch, self.k_iters::<A>(k, aligned));
        // A batch above one runs the library's strided-batched kernels (PyTorch's bmm calls
        // cublasGemmStridedBatchedEx), which reach their own rate; a batch of one runs the GEMM kernels.
        let t_compute = t_compute
            * if batch > 1.0 {
                self.batched_slowdown
            } else {
                1.0
            };
        // A leading dimension that is not a multiple of 16 bytes slows the whole GEMM down, one that is not even
        // a multiple of 4 bytes more so (unless the library's own kernel choice priced it).
        let t_compute = if by_library || aligned {
            t_compute
        } else if self.word_aligned::<A>(m, n, k) {
            t_compute * self.unaligned_slowdown
        } else {
            t_compute * self.odd_slowdown
        };
        let operands = if self.weight_bytes == self.in_bytes {
            (m * k + k * n) * self.in_bytes
        } else {
            m * k * self.in_bytes + k * n * self.weight_bytes
        };
        let hbm_bytes = batch * (operands + m * n * self.out_bytes);
        let t_hbm = hbm_bytes / self.hbm_bw;
        let t_l2 = l2_bytes / self.l2_bw;
        let t_mem = t_hbm.max(t_l2);
        let bound = if t_compute >= t_mem {
            Bound::Compute
        } else if t_hbm >= t_l2 {
            Bound::Hbm
        } else {
            Bound::L2
        };
        (t_compute, t_mem, hbm_bytes, bound)
    }

    /// The fastest tile shape of `GEMM_TILES` (the first on ties), or the kernel the device's GEMM library selects
    /// ([`Self::library_choice`]): (compute time before the alignment penalty, L2 bytes, the output tile (rows,
    /// columns), its tile count, whether the library priced it).
    ///
    /// The waves of each shape come from `waves` (whole waves, or the stream-K schedule with `k_iters` K tiles
    /// per output tile).
    #[inline(always)]
    fn tile_choice<A: Arith>(
        &self,
        m: f64,
        n: f64,
        k: f64,
        batch: f64,
        k_iters: f64,
    ) -> TileChoice {
        if let Some(lib) = self.library {
            if let Some(c) = self.library_choice::<A>(lib, m, n, k, batch) {
                return c;
            }
        }
        let row_tiles = self.inv_edges.map(|inv| A::ceil(m * inv));
        let col_tiles = self.inv_edges.map(|inv| A::ceil(n * inv));
        let mut t_compute = f64::INFINITY;
        let mut l2_bytes = 0.0;
        let mut best = 0;
        let mut best_tiles = 0.0;
        for (i, (&(sec_per_k, perimeter), &(mi, ni))) in
            self.tiles.iter().zip(&TILE_EDGE_INDEX).enumerate()
        {
            let tiles = batch * row_tiles[mi] * col_tiles[ni];
            let (t, _) = self.tile_time::<A>(
                tiles,
                k_iters,
                sec_per_k * k + self.tile_overhead_s,
                self.fixup_s[i],
            );
            let better = t < t_compute;
            t_compute = if better { t } else { t_compute };
            l2_bytes = if better {
                tiles * perimeter * k * self.in_bytes
            } else {
                l2_bytes
            };
            best = if better { i } else { best };
            best_tiles = if better { tiles } else { best_tiles };
        }
        (
            t_compute,
            l2_bytes,
            (GEMM_TILES[best].0, GEMM_TILES[best].1),
            best_tiles,
            false,
        )
    }

    /// The kernel the device's GEMM library selects ([`GemmLibrary::select`]) for this GEMM, in the library's
    /// column-major terms (`Layout::Row`: PyTorch's row-major C = A B is the library's C^T = B^T A^T, so its M is
    /// n and its N is m; `Layout::Tn`: M = m, N = n): tiles = batch x ceil(M / tile M) x ceil(N / tile N) x
    /// split-U, waves = ceil(tiles / units), time = waves x (2 tile M tile N (k / split-U) / rate per unit + tile
    /// overhead), the rate per unit of the matrix cores (divided by the operand-feed penalty 1 + (edge x (1/tile M +
    /// 1/tile N))^exponent where the device gives one) or, for a vector kernel, of the vector units. The
    /// library's predicates choose the kernels an unaligned size can run, so no alignment penalty is added. `None`
    /// when no kernel of the table can run the problem.
    #[inline(always)]
    fn library_choice<A: Arith>(
        &self,
        lib: &GemmLibrary,
        m: f64,
        n: f64,
        k: f64,
        batch: f64,
    ) -> Option<TileChoice> {
        let (big_m, big_n) = if self.align_m { (m, n) } else { (n, m) };
        let s = lib.select([big_m, big_n, k], batch)?;
        let tiles = batch * A::ceil(big_m / s.tile_m) * A::ceil(big_n / s.tile_n) * s.split_k;
        let waves = A::ceil(tiles * self.inv_units);
        let rate = if s.matrix {
            let (edge, exponent) = self.library_feed;
            if edge > 0.0 {
                self.rate_per_unit
                    / (1.0 + (edge * (1.0 / s.tile_m + 1.0 / s.tile_n)).powf(exponent))
            } else {
                self.rate_per_unit
            }
        } else {
            self.vector_rate_per_unit
        };
        let k_split = k / s.split_k;
        let t = waves * (2.0 * s.tile_m * s.tile_n * k_split / rate + self.tile_overhead_s);
        let l2_bytes = tiles * (s.tile_m + s.tile_n) * k_split * self.in_bytes;
        let tile = if self.align_m {
            (s.tile_m, s.tile_n)
        } else {
            (s.tile_n, s.tile_m)
        };
        Some((t, l2_bytes, tile, tiles, true))
    }

    /// `tile_choice`, or on a device whose unbatched GEMM splits K (`split_k`) the fastest of it and, for a
    /// batch of one, each tile shape whose tiles leave units idle run as parallel split-K: every tile's K loop cut
    /// into s slices (s x tiles <= units, each slice a multiple of 128 bytes of K), the slices' fp32 partials
    /// written and summed by a second kernel: time = k / s x seconds per k + tile overhead + launch + (8 s m n +
    /// m n x output bytes) / HBM rate, s the best integer next to its optimum sqrt(k x seconds per k x HBM rate /
    /// (8 m n)). A batched GEMM cannot split K: CUTLASS's universal GEMM (`GemmUniversalMode`, NVIDIA/cutlass
    /// `include/cutlass/gemm/kernel/gemm_universal.h` @ 7107b055) spends the grid's third dimension on the K
    /// slices in `kGemm`/`kGemmSplitKParallel` mode and on the batch index in `kBatched` mode. Returns
    /// `tile_choice`'s tuple and the slices.
    #[inline(always)]
    fn split_k_choice<A: Arith>(
        &self,
        m: f64,
        n: f64,
        k: f64,
        batch: f64,
        k_iters: f64,
    ) -> (f64, f64, (f64, f64), f64, bool, f64) {
        let (t, l2, tile, tiles, by_library) = self.tile_choice::<A>(m, n, k, batch, k_iters);
        if !self.split_k || batch != 1.0 || by_library {
            return (t, l2, tile, tiles, by_library, 1.0);
        }
        let mut out = (t, l2, tile, tiles, false, 1.0);
        let max_by_k = (k / self.k_slice_align).floor();
        let partial_bytes_per_slice = 8.0 * m * n;
        let output_s = m * n * self.out_bytes / self.hbm_bw;
        for (i, (&(sec_per_k, perimeter), &(mi, ni))) in
            self.tiles.iter().zip(&TILE_EDGE_INDEX).enumerate()
        {
            let tiles_i = A::ceil(m * self.inv_edges[mi]) * A::ceil(n * self.inv_edges[ni]);
            let max_slices = (self.units / tiles_i).floor().min(max_by_k);
            if max_slices < 2.0 {
                continue;
            }
            let optimum = (k * sec_per_k * self.hbm_bw / partial_bytes_per_slice).sqrt();
            let lo = optimum.floor().clamp(2.0, max_slices);
            let hi = (lo + 1.0).min(max_slices);
            for s in [lo, hi] {
                let t_s = k / s * sec_per_k
                    + self.tile_overhead_s
                    + self.launch_s
                    + output_s
                    + s * partial_bytes_per_slice / self.hbm_bw;
                if t_s < out.0 {
                    let tile = (GEMM_TILES[i].0, GEMM_TILES[i].1);
                    out = (
                        t_s,
                        tiles_i * perimeter * k * self.in_bytes,
                        tile,
                        tiles_i,
                        false,
                        s,
                    );
                }
            }
        }
        out
    }

    /// Time of `tiles` output tiles of `q` K tiles each (`k_iters`), one tile taking `tile_s` seconds (its K loop
    /// and fixed cost) and one fp32 partial tile `fixup_s` seconds to write or read (`fixup_s`): the fastest of the
    /// schedules an sm90 library offers for them (the library runs the one that minimises time):
    /// - the stream-K heuristic of [`Self::stream_k`] with its fixup, w x `tile_s` + transfers x `fixup_s`;
    /// - whole waves (data-parallel), dp x `tile_s`;
    /// - stream-K over fewer units ([`Self::stream_k_on_fewer_units`]).
    ///
    /// Returns (time, waves in units of one tile's time).
    #[inline(always)]
    fn tile_time<A: Arith>(&self, tiles: f64, q: f64, tile_s: f64, fixup_s: f64) -> (f64, f64) {
        let (w, transfers, dp) = self.stream_k::<A>(tiles, q);
        let t_sk = w * tile_s + transfers * fixup_s;
        let t_dp = dp * tile_s;
        let best = if t_sk < t_dp { (t_sk, w) } else { (t_dp, dp) };
        // The fewest K tiles a unit may take: CUTLASS's minimum, and all the tiles' K tiles over the units.
        let u_min = A::ceil((tiles * q) / self.units).max(STREAM_K_MIN_ITERS);
        if u_min < q {
            let fewer = Self::stream_k_on_fewer_units::<A>(q, u_min, tile_s, fixup_s);
            if fewer.0 < best.0 {
                return fewer;
            }
        }
        best
    }

    /// The fastest stream-K schedule of output tiles of `q` K tiles each that gives every unit u K tiles, u from
    /// `u_min` (at least CUTLASS's 8, and enough that the units needed, ceil(tiles x q / u), fit on the device) to
    /// q - 1: each tile shared by p = ceil(q / u) units, whose deterministic fixup chain (see [`Self::stream_k`])
    /// moves 2 (p - 1) partial tiles: time(u) = u / q x `tile_s` + 2 (ceil(q / u) - 1) x `fixup_s`. Returns (time,
    /// waves = u / q) of the best u.
    ///
    /// CUTLASS's heuristic spreads a few tiles' K tiles over min(SMs, K tiles / 8) units, so a handful of tiles
    /// with a long K loop get chains of many units whose serial fixup outweighs the work; a library can run the
    /// same kernel on fewer units: the sm90 stream-K scheduler sizes its persistent grid and its stream-K units by
    /// `KernelHardwareInfo::sm_count`, an argument (`get_num_sk_units`, `get_grid_shape`; `DecompositionMode::
    /// StreamK` skips the data-parallel tail rule; its `splits` argument with `DecompositionMode::SplitK` gives
    /// p units per tile exactly), and CUTLASS 2.x's stream-K kernel takes `avail_sms`, "the number of SMs that
    /// StreamK dispatch heuristics will attempt to load-balance across" (NVIDIA/cutlass include/cutlass/gemm/
    /// kernel/tile_scheduler_params.h, sm90_tile_scheduler_stream_k.hpp, gemm_universal_streamk.h @ 7107b055);
    /// cuBLASLt's algorithms carry a split count and reduction scheme (`CUBLASLT_ALGO_CONFIG_SPLITK_NUM`,
    /// `CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME`) that its heuristic chooses among. The heuristic's own choice is
    /// one of these schedules (its u is at least both bounds), so this minimum is at most the heuristic's time,
    /// and it can only grow with the tiles: a larger GEMM of the same k never gets a faster schedule.
    ///
    /// Exact, without trying every u: for a chain of p units the fewest K tiles per unit is ceil(q / p), so the
    /// candidates are u = `u_min` and u = ceil(q / p) for each p with ceil(q / p) >= `u_min` (2 <= p <= ceil(q /
    /// (`u_min` - 1)) - 1), time(p) = ceil(q / p) / q x `tile_s` + 2 (p - 1) x `fixup_s` >= bound(p) = `tile_s` /
    /// p + 2 (p - 1) `fixup_s`, a convex bound whose minimum is at p* = sqrt(`tile_s` / (2 `fixup_s`)); the search
    /// starts next to p* and walks each way while the bound stays below the best time found, so every p it skips
    /// is slower.
    #[inline(always)]
    fn stream_k_on_fewer_units<A: Arith>(
        q: f64,
        u_min: f64,
        tile_s: f64,
        fixup_s: f64,
    ) -> (f64, f64) {
        let inv_q = 1.0 / q;
        let mut best = (
            (u_min * inv_q) * tile_s + (2.0 * (A::ceil(q / u_min) - 1.0)) * fixup_s,
            u_min,
        );
        let max_p = A::ceil(q / (u_min - 1.0)) - 1.0;
        if max_p >= 2.0 {
            let time = |p: f64| (A::ceil(q / p) * inv_q) * tile_s + (2.0 * (p - 1.0)) * fixup_s;
            let bound = |p: f64| ((q / p) * inv_q) * tile_s + (2.0 * (p - 1.0)) * fixup_s;
            let start = A::ceil((tile_s / (2.0 * fixup_s)).sqrt()).clamp(2.0, max_p);
            let consider = |p: f64, best: &mut (f64, f64)| {
                let t = time(p);
                if t < best.0 || (t == best.0 && A::ceil(q / p) < best.1) {
                    *best = (t, A::ceil(q / p));
                }
            };
            consider(start, &mut best);
            let mut p = start + 1.0;
            while p <= max_p && bound(p) <= best.0 {
                consider(p, &mut best);
                p += 1.0;
            }
            let mut p = start - 1.0;
            while p >= 2.0 && bound(p) <= best.0 {
                consider(p, &mut best);
                p -= 1.0;
            }
        }
        (best.0, best.1 * inv_q)
    }

    /// The stream-K schedule of `tiles` output tiles of `q` K tiles each (`k_iters`): (waves in units of one
    /// tile's time, partial-tile transfers on the slowest unit's path, whole waves ceil(tiles / units)).
    ///
    /// q = 1 (a waves scheduler, an unaligned GEMM or a single K tile): ceil(tiles / units) whole waves, the last
    /// one part-empty, no transfers. Otherwise CUTLASS's sm90 stream-K heuristic (`PersistentTileSchedulerSm90StreamKParams::
    /// get_num_sk_tiles` and `get_num_sk_units`, include/cutlass/gemm/kernel/tile_scheduler_params.h; NVIDIA/cutlass
    /// @ 019c5c97 and @ 7107b055, decomposition mode `Heuristic`, clusters of one CTA):
    /// - every tile runs data-parallel, in whole waves, when the last wave is full, when a tile has at most 8 K
    ///   tiles (q <= `min_iters_per_sk_unit_`: "no work to be split"), or when the last wave is at least half full
    ///   (2 x tail tiles >= units: "prefer data-parallel decomposition ... if the tail wave is more than half
    ///   full"; the source applies it below one wave too);
    /// - else up to two waves of tiles all go to stream-K, beyond that the last partial wave plus one full wave do
    ///   and the other full waves run data-parallel; the stream-K tiles' K iterations are shared evenly by
    ///   min(units, floor(iterations / 8)) units, u = ceil(iterations / units) K tiles each.
    ///
    /// The partial-sum fixup (`fixup_helper`, include/cutlass/gemm/kernel/sm90_tile_scheduler_stream_k.hpp @
    /// 7107b055; its separate-reduction mode is disabled there, `should_perform_separate_reduction` returns false):
    /// the unit holding a tile's first K tiles stores its fp32 partial tile to the workspace, each later peer waits
    /// for its predecessor (`ReductionMode::Deterministic`, the default), adds its partial into the workspace (a
    /// read and a write) and signals, and the unit holding the last K tiles waits, loads the sum (`load_add`) and
    /// runs the epilogue. Units walk their tiles backwards (`update_output_tile_id_and_work_tile_k`), so a unit
    /// first computes the start of a tile (and stores it) and last the end of another (whose start its neighbour
    /// stored first). Transfers on the slowest unit's path:
    /// - u < q (a tile shared by p = ceil(q / u) units, all computing at once): the chain store, p - 2 read-and-
    ///   writes, load: 2 (p - 1);
    /// - u >= q, u not a multiple of q (tiles split at most in two): the store of the unit's first piece and the
    ///   load of its last: 2;
    /// - u a multiple of q: every unit holds whole tiles: 0.
    ///
    /// Units start together, so a waiting unit's wait is its predecessor's transfers; the skew of tile boundaries
    /// across units (CUTLASS moves pieces under 8 K tiles to a neighbour) and the flag's latency are not priced.
    #[inline(always)]
    fn stream_k<A: Arith>(&self, tiles: f64, q: f64) -> (f64, f64, f64) {
        let dp = A::ceil(tiles * self.inv_units);
        if q <= STREAM_K_MIN_ITERS {
            return (dp, 0.0, dp);
        }
        let full = -A::ceil(-(tiles * self.inv_units));
        let tail = tiles - full * self.units;
        if full == dp || 2.0 * tail >= self.units {
            return (dp, 0.0, dp);
        }
        let dp_waves = if full > 1.0 { full - 1.0 } else { 0.0 };
        let sk_iters = (tiles - dp_waves * self.units) * q;
        let sk_units = self
            .units
            .min(-A::ceil(-(sk_iters * (1.0 / STREAM_K_MIN_ITERS))));
        let per_unit = A::ceil(sk_iters / sk_units);
        let transfers = if per_unit < q {
            2.0 * (A::ceil(q / per_unit) - 1.0)
        } else if A::ceil(per_unit / q) * q == per_unit {
            0.0
        } else {
            2.0
        };
        (dp_waves + per_unit * (1.0 / q), transfers, dp)
    }

    /// The K tiles q per output tile that `tile_choice` spreads over the units: ceil(k / K tile) under a stream-K
    /// scheduler when the GEMM is aligned, else 1 (whole tiles in waves). The sm90 persistent kernels load their
    /// operands with TMA, whose global strides must be multiples of 16 bytes (CUDA Driver API,
    /// `cuTensorMapEncodeTiled`), so a GEMM with an unaligned leading dimension runs the older kernels, in waves.
    #[inline(always)]
    fn k_iters<A: Arith>(&self, k: f64, aligned: bool) -> f64 {
        if self.inv_k_tile > 0.0 && aligned {
            A::ceil(k * self.inv_k_tile)
        } else {
            1.0
        }
    }

    /// Whether k and the other leading dimension (see [`Layout`]) are multiples of 16 bytes.
    #[inline(always)]
    fn aligned<A: Arith>(&self, m: f64, n: f64, k: f64) -> bool {
        let other = if self.align_m { m } else { n };
        A::ceil(k * self.inv_align) * self.align == k
            && A::ceil(other * self.inv_align) * self.align == other
    }

    /// Whether k and the other leading dimension are multiples of 4 bytes.
    #[inline(always)]
    fn word_aligned<A: Arith>(&self, m: f64, n: f64, k: f64) -> bool {
        let other = if self.align_m { m } else { n };
        A::ceil(k * self.inv_word) * self.word == k
            && A::ceil(other * self.inv_word) * self.word == other
    }

    /// How the engine schedules one GEMM (the same choice `estimate` prices): the output tile it picks, the
    /// tiles and waves over the compute units, whether the leading dimensions are aligned, and the compute
    /// (alignment penalty included) and memory times before their smooth maximum. Sizes must already be
    /// validated.
    pub fn schedule(&self, m: f64, n: f64, k: f64, batch: f64) -> GemmSchedule {
        let aligned = self.aligned::<Portable>(m, n, k);
        let k_iters = self.k_iters::<Portable>(k, aligned);
        let (_, _, (tile_m, tile_n), tiles, by_library, k_slices) =
            self.split_k_choice::<Portable>(m, n, k, batch, k_iters);
        let (compute_s, memory_s, hbm_bytes, _) = self.terms::<Portable>(m, n, k, batch);
        // The GEMM-kernel stream floor (`join`) is memory time too.
        let memory_s = memory_s.max(hbm_bytes * self.inv_stream_bw);
        // The chosen tile shape's time and fixup (a library kernel or split-K: whole waves, no fixup).
        let shape = GEMM_TILES
            .iter()
            .position(|&(tm, tn, _)| tm == tile_m && tn == tile_n)
            .filter(|_| k_slices == 1.0 && !by_library);
        let (tile_s, fixup_s) = shape.map_or((1.0, 0.0), |i| {
            (self.tiles[i].0 * k + self.tile_overhead_s, self.fixup_s[i])
        });
        GemmSchedule {
            tile_m,
            tile_n,
            tiles,
            waves: self
                .tile_time::<Portable>(tiles * k_slices, k_iters, tile_s, fixup_s)
                .1,
            units: self.units,
            k_slices,
            aligned,
            compute_s,
            memory_s,
        }
    }

    /// The body of a GEMM's time (before the launch overhead) and its bound, from the smooth maximum of its compute
    /// and memory time (`joined`), its HBM bytes and the bound `terms` gave: the device's GEMM-kernel stream floor,
    /// HBM bytes / (`gemm_stream_fraction` x HBM peak), where it is the longer (then HBM-bound). A software-
    /// pipelined K loop issues each K tile's loads while the previous tile's math runs, so where the loads are the
    /// slower they set the time alone: a plain maximum, not the smooth one. Devices without the figure: `joined`
    /// and `bound` unchanged, bit for bit (the floor is 0).
    #[inline(always)]
    fn join(&self, joined: f64, hbm_bytes: f64, bound: Bound) -> (f64, Bound) {
        let t_stream = hbm_bytes * self.inv_stream_bw;
        if t_stream > joined {
            (t_stream, Bound::Hbm)
        } else {
            (joined, bound)
        }
    }

    /// `estimate`, inlined.
    #[inline]
    fn estimate_inline(&self, m: f64, n: f64, k: f64, batch: f64) -> KernelEstimate {
        let (t_compute, t_mem, hbm_bytes, bound) = self.terms::<Portable>(m, n, k, batch);
        let (body, bound) = self.join(
            smooth_max_p::<Portable>(t_compute, t_mem, self.overlap_exponent),
            hbm_bytes,
            bound,
        );
        KernelEstimate {
            time_s: body + self.launch_s,
            flops: 2.0 * m * n * k * batch,
            hbm_bytes,
            bound: if self.launch_s > body {
                Bound::Launch
            } else {
                bound
            },
        }
    }

    /// All columns of one block of at most `BLOCK` elements, in passes with no dependence between elements
    /// (which the compiler vectorizes where it can), so the CPU works on many elements at once instead of
    /// waiting on one element's long chain (tiles, then the smooth maximum's division and cube root).
    /// Returns whether every input was valid.
    #[inline(always)]
    fn fill_block<A: Arith>(
        &self,
        m: &[f64],
        n: &[f64],
        k: &[f64],
        batch: &[f64],
        out: &mut KernelColumnsMut<'_>,
        inv_peak: f64,
    ) -> bool {
        let len = out.len();
        let (m, n, k, batch) = (&m[..len], &n[..len], &k[..len], &batch[..len]);
        let (time_s, flops, hbm_bytes, bound) = (
            &mut out.time_s[..len],
            &mut out.flops[..len],
            &mut out.hbm_bytes[..len],
            &mut out.bound[..len],
        );
        let mut t_mem = [0.0; BLOCK];
        let t_mem = &mut t_mem[..len];
        let mut valid = true;
        // Pass 1: the compute time goes to time_s for now.
        for i in 0..len {
            let (mi, ni, ki, bi) = (m[i], n[i], k[i], batch[i]);
            valid &= is_size(mi) && is_size(ni) && is_size(ki) && is_size(bi);
            let (tc, tm, hbm, bd) = self.terms::<A>(mi, ni, ki, bi);
            time_s[i] = tc;
            t_mem[i] = tm;
            hbm_bytes[i] = hbm;
            flops[i] = 2.0 * mi * ni * ki * bi;
            bound[i] = bd as u8;
        }
        // Pass 2: the smooth maximum, without branches; the few elements it leaves (see `smooth_max_lanes`)
        // are flagged and done one by one. An exponent other than 3 takes the general formula.
        if self.overlap_exponent == 3.0 {
            let mut unsettled = [false; BLOCK];
            let unsettled = &mut unsettled[..len];
            let mut any_unsettled = false;
            for ((t, &tm), u) in time_s.iter_mut().zip(&*t_mem).zip(unsettled.iter_mut()) {
                let (body, settled) = smooth_max_lanes::<A>(*t, tm);
                *t = if settled { body } else { *t };
                *u = !settled;
                any_unsettled |= !settled;
            }
            if any_unsettled {
                for ((t, &tm), &u) in time_s.iter_mut().zip(&*t_mem).zip(&*unsettled) {
                    if u {
                        *t = smooth_max::<A>(*t, tm);
                    }
                }
            }
        } else {
            for (t, &tm) in time_s.iter_mut().zip(&*t_mem) {
                *t = smooth_max_pow(*t, tm, self.overlap_exponent);
            }
        }
        // Pass 2b: the GEMM-kernel stream floor (`join`), on devices that give one.
        if self.inv_stream_bw > 0.0 {
            for ((t, &hbm), bd) in time_s.iter_mut().zip(&*hbm_bytes).zip(bound.iter_mut()) {
                let t_stream = hbm * self.inv_stream_bw;
                if t_stream > *t {
                    *t = t_stream;
                    *bd = Bound::Hbm as u8;
                }
            }
        }
        // Pass 3: the launch overhead.
        for (t, bd) in time_s.iter_mut().zip(bound.iter_mut()) {
            let body = *t;
            *bd = if self.launch_s > body {
                Bound::Launch as u8
            } else {
                *bd
            };
            *t = body + self.launch_s;
        }
        fill_rates(out, inv_peak);
        valid
    }
}

/// `GemmContext::fill_block` compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_block_avx2(
    ctx: &GemmContext,
    m: &[f64],
    n: &[f64],
    k: &[f64],
    batch: &[f64],
    out: &mut KernelColumnsMut<'_>,
    inv_peak: f64,
) -> bool {
    ctx.fill_block::<Avx2Fma>(m, n, k, batch, out, inv_peak)
}

/// GEMM input columns, evaluated a block at a time by `GemmContext::fill_block`.
struct GemmBlocks<'a> {
    ctx: &'a GemmContext,
    m: &'a [f64],
    n: &'a [f64],
    k: &'a [f64],
    batch: &'a [f64],
    /// Whether the CPU has AVX2 and FMA.
    avx2_fma: bool,
}

impl<'a> GemmBlocks<'a> {
    fn new(
        ctx: &'a GemmContext,
        m: &'a [f64],
        n: &'a [f64],
        k: &'a [f64],
        batch: &'a [f64],
    ) -> Self {
        GemmBlocks {
            ctx,
            m,
            n,
            k,
            batch,
            avx2_fma: avx2_fma(),
        }
    }
}

/// Whether `fill_block_avx2` may run on this CPU.
fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

impl BlockFill for GemmBlocks<'_> {
    fn fill(&self, start: usize, out: &mut KernelColumnsMut<'_>, inv_peak: f64) -> bool {
        let end = start + out.len();
        let (m, n, k, batch) = (
            &self.m[start..end],
            &self.n[start..end],
            &self.k[start..end],
            &self.batch[start..end],
        );
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: the CPU has AVX2 and FMA (checked in `new`).
            return unsafe { fill_block_avx2(self.ctx, m, n, k, batch, out, inv_peak) };
        }
        self.ctx
            .fill_block::<Portable>(m, n, k, batch, out, inv_peak)
    }
}

/// Host time that `kernels` eager launches at `per_kernel_s` each expose beyond `gpu_s` of GPU work, s: the host
/// queues kernels asynchronously and runs ahead of the GPU (PyTorch's CUDA launch queue), so a stretch of work
/// between synchronisations takes `max(gpu_s, kernels x per_kernel_s)`. The one eager-launch model of the training
/// step (`llm::step`, per micro-batch) and the serving iteration (`serve::iteration`, per iteration).
#[inline]
pub fn eager_launch_excess(kernels: f64, per_kernel_s: f64, gpu_s: f64) -> f64 {
    (kernels * per_kernel_s - gpu_s).max(0.0)
}

/// One GEMM, with argument checks.
pub fn gemm(
    device: &Device,
    m: f64,
    n: f64,
    k: f64,
    batch: f64,
    dtype: Dtype,
    layout: Layout,
) -> Result<KernelEstimate> {
    let ctx = GemmContext::new(device, dtype)?.with_layout(layout);
    Ok(ctx.estimate(
        check_positive("m", m)?,
        check_positive("n", n)?,
        check_positive("k", k)?,
        check_positive("batch", batch)?,
    ))
}

/// `GemmContext::schedule` over equal-length columns (the caller broadcasts): the tile, tiles, waves and
/// alignment behind each GEMM's time, for diagnostics (the model sizing advisor).
pub fn gemm_schedules(
    device: &Device,
    dtype: Dtype,
    layout: Layout,
    m: &[f64],
    n: &[f64],
    k: &[f64],
    batch: &[f64],
) -> Result<Vec<GemmSchedule>> {
    check_lengths(&[
        ("m", m.len()),
        ("n", n.len()),
        ("k", k.len()),
        ("batch", batch.len()),
    ])?;
    for (name, col) in [("m", m), ("n", n), ("k", k), ("batch", batch)] {
        check_column(name, col)?;
    }
    let ctx = GemmContext::new(device, dtype)?.with_layout(layout);
    Ok(m.iter()
        .zip(n)
        .zip(k)
        .zip(batch)
        .map(|(((&m, &n), &k), &b)| ctx.schedule(m, n, k, b))
        .collect())
}

/// Column-wise results of a vectorized evaluation, with the attained rates derived from them in the same pass.
#[derive(Debug, Default, Clone)]
pub struct KernelColumns {
    pub time_s: Vec<f64>,
    pub flops: Vec<f64>,
    pub hbm_bytes: Vec<f64>,
    /// Attained TFLOP/s: `flops / time_s * 1e-12`.
    pub tflops: Vec<f64>,
    /// Attained HBM GB/s: `hbm_bytes / time_s * 1e-9`.
    pub gbps: Vec<f64>,
    /// Arithmetic intensity against HBM: `flops / hbm_bytes`.
    pub intensity: Vec<f64>,
    /// `tflops * (1 / peak_tflops)` (NaN where the caller has no peak).
    pub fraction_of_peak: Vec<f64>,
    /// `Bound` codes.
    pub bound: Vec<u8>,
}

impl KernelColumns {
    fn zeroed(len: usize) -> Self {
        // Zeroed allocations of this size come straight from the OS (no memset).
        KernelColumns {
            time_s: vec![0.0; len],
            flops: vec![0.0; len],
            hbm_bytes: vec![0.0; len],
            tflops: vec![0.0; len],
            gbps: vec![0.0; len],
            intensity: vec![0.0; len],
            fraction_of_peak: vec![0.0; len],
            bound: vec![0; len],
        }
    }

    /// The columns as output windows.
    pub fn as_mut(&mut self) -> KernelColumnsMut<'_> {
        KernelColumnsMut {
            time_s: &mut self.time_s,
            flops: &mut self.flops,
            hbm_bytes: &mut self.hbm_bytes,
            tflops: &mut self.tflops,
            gbps: &mut self.gbps,
            intensity: &mut self.intensity,
            fraction_of_peak: &mut self.fraction_of_peak,
            bound: &mut self.bound,
        }
    }
}

/// Output windows a vectorized evaluation writes into, one element per input element, with the meaning of the
/// `KernelColumns` fields (e.g. numpy arrays allocated by the binding, so results are not copied).
#[derive(Debug)]
pub struct KernelColumnsMut<'a> {
    pub time_s: &'a mut [f64],
    pub flops: &'a mut [f64],
    pub hbm_bytes: &'a mut [f64],
    pub tflops: &'a mut [f64],
    pub gbps: &'a mut [f64],
    pub intensity: &'a mut [f64],
    pub fraction_of_peak: &'a mut [f64],
    pub bound: &'a mut [u8],
}

impl KernelColumnsMut<'_> {
    fn len(&self) -> usize {
        self.time_s.len()
    }

    /// Checks that every window holds `len` elements.
    fn check_len(&self, len: usize) -> Result<()> {
        let lens = [
            self.time_s.len(),
            self.flops.len(),
            self.hbm_bytes.len(),
            self.tflops.len(),
            self.gbps.len(),
            self.intensity.len(),
            self.fraction_of_peak.len(),
            self.bound.len(),
        ];
        match lens.iter().find(|&&l| l != len) {
            Some(l) => Err(invalid(
                "out",
                format!("an output column has {l} elements, expected {len} like the inputs"),
            )),
            None => Ok(()),
        }
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (t0, t1) = self.time_s.split_at_mut(mid);
        let (f0, f1) = self.flops.split_at_mut(mid);
        let (h0, h1) = self.hbm_bytes.split_at_mut(mid);
        let (tf0, tf1) = self.tflops.split_at_mut(mid);
        let (g0, g1) = self.gbps.split_at_mut(mid);
        let (i0, i1) = self.intensity.split_at_mut(mid);
        let (p0, p1) = self.fraction_of_peak.split_at_mut(mid);
        let (b0, b1) = self.bound.split_at_mut(mid);
        (
            KernelColumnsMut {
                time_s: t0,
                flops: f0,
                hbm_bytes: h0,
                tflops: tf0,
                gbps: g0,
                intensity: i0,
                fraction_of_peak: p0,
                bound: b0,
            },
            KernelColumnsMut {
                time_s: t1,
                flops: f1,
                hbm_bytes: h1,
                tflops: tf1,
                gbps: g1,
                intensity: i1,
                fraction_of_peak: p1,
                bound: b1,
            },
        )
    }
}

/// Elements per cache-resident block: a block's estimates are written, then its rates derived from them.
const BLOCK: usize = 512;
/// Smallest and largest number of elements one parallel task evaluates.
const MIN_TASK: usize = 8192;
const MAX_TASK: usize = 65_536;

/// Fills a window of at most `BLOCK` elements whose first element has index `start` (rates from
/// `fill_rates`); returns whether every element's input was valid.
trait BlockFill: Sync {
    fn fill(&self, start: usize, out: &mut KernelColumnsMut<'_>, inv_peak: f64) -> bool;
}

/// A `BlockFill` from a per-element function giving the estimate and whether the input was valid.
struct PerElement<F>(F);

impl<F> BlockFill for PerElement<F>
where
    F: Fn(usize) -> (KernelEstimate, bool) + Sync,
{
    fn fill(&self, start: usize, out: &mut KernelColumnsMut<'_>, inv_peak: f64) -> bool {
        let mut valid = true;
        for ((((t, fl), b), bd), i) in out
            .time_s
            .iter_mut()
            .zip(out.flops.iter_mut())
            .zip(out.hbm_bytes.iter_mut())
            .zip(out.bound.iter_mut())
            .zip(start..)
        {
            let (e, ok) = (self.0)(i);
            *t = e.time_s;
            *fl = e.flops;
            *b = e.hbm_bytes;
            *bd = e.bound as u8;
            valid &= ok;
        }
        fill_rates(out, inv_peak);
        valid
    }
}

/// Derives the rate columns of `out` from its estimate columns.
///
/// Bit-identical to the polars expressions this replaces: polars divides by a literal as a product with its
/// reciprocal.
#[inline(always)]
fn fill_rates(out: &mut KernelColumnsMut<'_>, inv_peak: f64) {
    for ((((((tf, gb), it), fr), &t), &fl), &b) in out
        .tflops
        .iter_mut()
        .zip(out.gbps.iter_mut())
        .zip(out.intensity.iter_mut())
        .zip(out.fraction_of_peak.iter_mut())
        .zip(&*out.time_s)
        .zip(&*out.flops)
        .zip(&*out.hbm_bytes)
    {
        let tflops = (fl / t) * (1.0 / 1e12);
        *tf = tflops;
        *gb = (b / t) * (1.0 / 1e9);
        *it = fl / b;
        *fr = tflops * inv_peak;
    }
}

/// Fills `out` block by block on the current thread.
fn fill_task<G: BlockFill>(start: usize, out: KernelColumnsMut<'_>, inv_peak: f64, g: &G) -> bool {
    let mut valid = true;
    let mut rest = out;
    let mut at = start;
    while rest.len() > 0 {
        let take = rest.len().min(BLOCK);
        let (mut block, tail) = rest.split_at(take);
        valid &= g.fill(at, &mut block, inv_peak);
        rest = tail;
        at += take;
    }
    valid
}

/// Splits `out` in halves down to `task` elements and fills them in parallel.
fn fill_parallel<G: BlockFill>(
    start: usize,
    out: KernelColumnsMut<'_>,
    task: usize,
    inv_peak: f64,
    g: &G,
) -> bool {
    if out.len() <= task {
        return fill_task(start, out, inv_peak, g);
    }
    let mid = out.len() / 2;
    let (a, b) = out.split_at(mid);
    let (va, vb) = rayon::join(
        || fill_parallel(start, a, task, inv_peak, g),
        || fill_parallel(start + mid, b, task, inv_peak, g),
    );
    va & vb
}

/// Evaluates every element of `out`, in parallel for large inputs, and derives the rates. Returns false if
/// any element's input was invalid (the caller then finds and reports the first bad element, so valid inputs
/// are read only once).
fn evaluate_columns<G: BlockFill>(out: KernelColumnsMut<'_>, peak_tflops: f64, g: &G) -> bool {
    let task = (out.len() / (rayon::current_num_threads() * 4)).clamp(MIN_TASK, MAX_TASK);
    fill_parallel(0, out, task, 1.0 / peak_tflops, g)
}

/// Whether a size is in [1, 2^40] (`check_column` names the bad one).
#[inline(always)]
fn is_size(v: f64) -> bool {
    (1.0..=crate::error::MAX_DIM).contains(&v)
}

/// Checks that every value of a size column is at least 1 (one element) and at most
/// [`crate::error::MAX_DIM`], naming the first bad element.
pub fn check_column(arg: &str, values: &[f64]) -> Result<()> {
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !is_size(**v)) {
        let what = if v.is_nan() {
            "NaN".to_owned()
        } else {
            v.to_string()
        };
        return Err(invalid(
            arg,
            format!("element {i} is {what}; expected a number >= 1 and <= 2^40"),
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

/// Vectorized GEMM over equal-length columns (the caller broadcasts); `peak_tflops` only scales
/// `fraction_of_peak`.
pub fn gemm_columns(
    device: &Device,
    dtype: Dtype,
    layout: Layout,
    m: &[f64],
    n: &[f64],
    k: &[f64],
    batch: &[f64],
    peak_tflops: f64,
) -> Result<KernelColumns> {
    let mut out = KernelColumns::zeroed(m.len());
    gemm_columns_into(
        device,
        dtype,
        layout,
        m,
        n,
        k,
        batch,
        peak_tflops,
        out.as_mut(),
    )?;
    Ok(out)
}

/// `gemm_columns`, writing into `out`.
pub fn gemm_columns_into(
    device: &Device,
    dtype: Dtype,
    layout: Layout,
    m: &[f64],
    n: &[f64],
    k: &[f64],
    batch: &[f64],
    peak_tflops: f64,
    out: KernelColumnsMut<'_>,
) -> Result<()> {
    let len = check_lengths(&[
        ("m", m.len()),
        ("n", n.len()),
        ("k", k.len()),
        ("batch", batch.len()),
    ])?;
    out.check_len(len)?;
    let cols = [("m", m), ("n", n), ("k", k), ("batch", batch)];
    let check = || {
        cols.iter()
            .try_for_each(|(name, col)| check_column(name, col))
    };
    let ctx = match GemmContext::new(device, dtype) {
        Ok(ctx) => ctx.with_layout(layout),
        // Bad sizes are reported before an unsupported dtype.
        Err(e) => return check().and(Err(e)),
    };
    let valid = evaluate_columns(out, peak_tflops, &GemmBlocks::new(&ctx, m, n, k, batch));
    if !valid {
        check()?;
    }
    Ok(())
}

/// Rows of a query block and of a key/value tile of the reference schedule (FlashAttention-2 at head dim 128):
/// the block the fixed per-block costs and the fitted fractions are stated in.
const ATTN_BLOCK: f64 = 128.0;
/// Head dimension of the tile the fixed per-block costs are counted in.
const ATTN_REFERENCE_HEAD_DIM: f64 = 128.0;
/// Query rows each warp of the reference forward block holds (FlashAttention-2 at head dim 128 on sm80/sm90:
/// 128 x 64 blocks of 4 warps; CK's 128 x 128 blocks of 4 warps on gfx942).
const ATTN_REFERENCE_ROWS_PER_WARP: f64 = 32.0;
/// Shared-memory (NVIDIA) / LDS (AMD) bytes a compute unit delivers per clock: 32 banks of 4 bytes (CUDA C++
/// Programming Guide, "Shared Memory", compute capability 5.x and later); CDNA3's LDS likewise serves 128 bytes
/// per clock per CU (AMD CDNA 3 instruction set architecture guide, "Local Data Share").
const SMEM_BYTES_PER_CLOCK: f64 = 128.0;

/// One head-dim instantiation of a fused-attention kernel: the head dim it is compiled for (a smaller head dim
/// runs padded up to it), the query rows of a forward block, the query rows each warp of that block holds (each
/// warp reads the whole K and V tile from shared memory for them), the key rows of a backward block, and the head
/// dim the backward runs at (the forward's, unless the library compiles no backward for it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionTile {
    pub head_dim: f64,
    pub fwd_rows: f64,
    pub rows_per_warp: f64,
    pub bwd_rows: f64,
    pub bwd_head_dim: f64,
}

const fn tile(head_dim: f64, fwd_rows: f64, warps: f64, bwd_rows: f64) -> AttentionTile {
    AttentionTile {
        head_dim,
        fwd_rows,
        rows_per_warp: fwd_rows / warps,
        bwd_rows,
        bwd_head_dim: head_dim,
    }
}

/// A forward-only instantiation: its backward runs `bwd`'s (the next backward head dim the library compiles).
const fn fwd_tile(head_dim: f64, fwd_rows: f64, warps: f64, bwd: AttentionTile) -> AttentionTile {
    AttentionTile {
        head_dim,
        fwd_rows,
        rows_per_warp: fwd_rows / warps,
        bwd_rows: bwd.bwd_rows,
        bwd_head_dim: bwd.bwd_head_dim,
    }
}

/// FlashAttention-2's instantiations (Dao-AILab/flash-attention @ 0251105a2fb19d2957484b7f023cd8c115286ced:
/// `csrc/flash_attn/src/static_switch.h` `HEADDIM_SWITCH` rounds a head dim up to 32, 64, 96, 128, 192 or 256
/// (160 and 224 were dropped in ce212720 and 36dddb89); `flash_fwd_launch_template.h` `run_mha_fwd_hdim*`, the
/// sm80/sm90 forward `Flash_fwd_kernel_traits<d, kBlockM, kBlockN, warps>`: 32 and 64 -> 128 x 128, 4 warps; 96 and
/// 128 -> 128 x 64, 4 warps; 192 -> 128 x 64, 8 warps; 256 -> 64 x 64, 4 warps where a unit has at least 192 KiB of
/// shared memory (H100: two blocks per SM; A100 runs 128 x 64 with 8 warps, the same 16 rows per warp);
/// `flash_bwd_launch_template.h`: backward `kBlockN` 128 up to head dim 128, 64 at 192 and 256).
const FA2_TILES: [AttentionTile; 6] = [
    tile(32.0, 128.0, 4.0, 128.0),
    tile(64.0, 128.0, 4.0, 128.0),
    tile(96.0, 128.0, 4.0, 128.0),
    tile(128.0, 128.0, 4.0, 128.0),
    tile(192.0, 128.0, 8.0, 64.0),
    tile(256.0, 64.0, 4.0, 64.0),
];

/// Composable Kernel's FMHA instantiations for fp16/bf16 (ROCm/composable_kernel @
/// 8e22e1ae31bbf7086f69d8724e027676791d351a, `example/ck_tile/01_fmha/codegen/ops/fmha_fwd.py`
/// `get_fmha_fwd_tile_dict_from_dtype`: head dims 32, 64, 128, 256 (others run padded), forward `bm0` 128 with
/// `rm` 2 / 4 / 4 / 4 warps along the query rows; `fmha_bwd.py` `get_fmha_bwd_dq_dk_dv_tile_ppl_dict_from_dtype`:
/// backward `bn0` 128, 128, 128, 64). Head dim 256 runs CK's synchronous `qr` pipeline, the others `qr_async`: a
/// difference this table does not price (no measurement of it). Head dim 192 is CK's later forward tile for
/// DeepSeek-V3's query/key head dim (ROCm/composable_kernel PR #1961 "support hdim=192/128 pair for deepseekv3",
/// merged 2025-03-11, reapplied in #1971 on 2025-03-12; @ 00514bed4727d9eff3fe516d7168b7a22e2f967c `fmha_fwd.py`
/// `KernelComponentFactoryGfx9.get_hdim_tile_size_dict`: fp16/bf16 (192, 128) and (192, 192) at `bm0` 128, `rm0`
/// 4 warps, `qr_async`); CK's gfx9 backward compiles no 192 tile (ROCm/rocm-libraries @
/// 1d30ef2966ebbd67d8356869596ce40d9e3caadb `projects/composablekernel/example/ck_tile/01_fmha/codegen/ops/
/// fmha_bwd.py` `KernelComponentFactoryGfx9.get_dq_dk_dv_tiles`: 32, 64, 96, 128, 256, dispatched by
/// `hdim_q <= hdim && hdim_v <= hdim`), so its backward runs the 256 tile. The later CK's 80 and 96 forward
/// tiles (and 96 backward) are not in this table.
const CK_TILES: [AttentionTile; 5] = [
    tile(32.0, 128.0, 2.0, 128.0),
    tile(64.0, 128.0, 4.0, 128.0),
    tile(128.0, 128.0, 4.0, 128.0),
    fwd_tile(192.0, 128.0, 4.0, CK_TILE_256),
    CK_TILE_256,
];
const CK_TILE_256: AttentionTile = tile(256.0, 128.0, 4.0, 64.0);

/// Non-matrix work of one score of the forward pass, from the online softmax of FlashAttention-2 (Dao 2023,
/// arXiv:2307.08691, Algorithm 1 lines 8-10): on the special-function pipe, its exponential (`exp2`) and the
/// conversion of the probability to 16 bits for the `P V` product (the CUDA C++ Programming Guide's throughput
/// table, "Arithmetic Instructions": 16 results per clock per SM for `exp2f` and for "all other type conversions"
/// on compute capability 7.x-9.0; the two summed, as one pipe); on the FP32 pipe the running maximum, the scaled
/// subtraction (one FMA) and the row sum. Independent of the head dim, while the matrix work is `4 d` FLOPs.
const SCORE_SPECIAL_FWD: f64 = 2.0;
const SCORE_FP32_FWD: f64 = 3.0;
/// The same for one score of the backward pass (FlashAttention-2 Algorithm 2 lines 11-16): the recomputed
/// exponential and the conversions of `P` and `dS` to 16 bits; the scaled subtraction, `dP - D` and its product
/// with `P` on the FP32 pipe.
const SCORE_SPECIAL_BWD: f64 = 3.0;
const SCORE_FP32_BWD: f64 = 3.0;

/// Seconds one unit spends on the non-matrix work of a score: the slower of its two pipes, `special`
/// special-function results at the device's special-function rate or `fp32` FP32 operations at its FP32 rate (the
/// vector FP32 peak counts an FMA as two FLOPs); 0 where the device gives no special-function rate. The two are
/// separate functional units that run concurrently (NVIDIA H100 Tensor Core GPU Architecture whitepaper, "H100 SM
/// Architecture": each of an SM's four partitions has its own FP32 units and special function unit; the CUDA C++
/// Programming Guide's throughput table rates each instruction class on its own: 128 FP32 and 16 special-function
/// results per clock per SM on compute capability 9.0). A partition issues one warp instruction per clock, so while
/// a special-function instruction spends 8 clocks on its 32 threads the scheduler issues FP32 instructions beside
/// it: per 32 scores the forward's 2 special-function instructions take 16 clocks, its 3 FP32 instructions 3.
fn score_nonmatrix_s(device: &Device, special: f64, fp32: f64) -> f64 {
    let units = f64::from(device.compute_units.max(1));
    let fp32_ops = device.vector_peak(Dtype::Fp32).map(|p| p / 2.0);
    match (device.special_function_peak, fp32_ops) {
        (Some(sfu), Some(fp)) => units * (special / sfu).max(fp32 / fp),
        (Some(sfu), None) => units * special / sfu,
        _ => 0.0,
    }
}

/// Share of the matrix peak a fused attention kernel reaches on FP8 operands, relative to its share on 16-bit
/// operands: FlashAttention-3 on H100 SXM5 reaches up to 740 TFLOP/s in FP16 (75 % of 989) and close to 1.2 PFLOP/s
/// in FP8 (of 1,979) (Shah et al. 2024, arXiv:2407.08608, abstract): (1200 / 1979) / (740 / 989) =
/// 0.81. The only published FP8/16-bit pair of one kernel; applied to cuDNN's kernel (the one Transformer Engine
/// runs FP8 attention in) and to its backward pass (no FP8 backward rate is published) as an assumption.
const FP8_ATTENTION_EFFICIENCY: f64 = 0.81;

/// The reference tile: every head dim runs unpadded in 128-row blocks (cuDNN's kernels, whose tiles are not
/// published, and devices of other vendors).
const PLAIN_TILE: AttentionTile = tile(ATTN_REFERENCE_HEAD_DIM, ATTN_BLOCK, 4.0, ATTN_BLOCK);

/// The tile table of the flash kernel on `vendor`'s devices (FlashAttention-2 on NVIDIA, CK on AMD).
fn attention_tiles(vendor: &str, kernel: AttentionKernel) -> &'static [AttentionTile] {
    match (kernel, vendor) {
        (AttentionKernel::Flash, "nvidia") => &FA2_TILES,
        (AttentionKernel::Flash, "amd") => &CK_TILES,
        _ => &[],
    }
}

/// The instantiation that runs head dim `d`: the smallest compiled head dim at least `d`; beyond the largest, the
/// largest tile at `d` itself (the kernels refuse such head dims; the engine prices them unpadded). With no table,
/// the reference tile at `d`.
pub fn attention_tile_for(tiles: &[AttentionTile], d: f64) -> AttentionTile {
    match tiles.iter().find(|t| t.head_dim >= d) {
        Some(t) => *t,
        None => AttentionTile {
            head_dim: d,
            bwd_head_dim: d,
            ..tiles.last().copied().unwrap_or(PLAIN_TILE)
        },
    }
}

/// Flash-style attention (Dao 2023, FlashAttention-2). Reported FLOPs follow the paper: forward
/// `4 b h d` per query-key pair scored (`s_q s_kv`, half of it when causal and square), backward 2.5x forward. Time follows the kernel's schedule: one
/// thread block per 128 query rows (forward) or 128 key rows (backward) of one (batch, head), each running
/// its 128 x 128 tiles at the device's attention rate plus a fixed per-block cost; a causal block runs only the
/// tiles at or below the diagonal (`n(n+1)/2` of `n^2`, not half) plus a masked diagonal tile, and the blocks,
/// of unequal length, share the compute units. Q, K, V, O (and dO, dQ, dK, dV backward) stream through HBM
/// once. The schedule's four figures (`hw::AttentionSchedule`: fixed forward and backward block costs, the
/// diagonal tile, the backward rate) are the device's hwdb figures; H100's were fitted on this project's H100
/// measurements of PyTorch's FlashAttention-2 kernels (validation/gpu_runs/h100-sxm5-2026-11-23, 48 rows:
/// forward and forward+backward, causal or not, d 64 and 128, sequence 512-16384; the H200 runs are their
/// check), and devices without measurements inherit them (hwdb `inherit_from`). The head dim runs as the kernel
/// compiled it ([`AttentionTile`]: FlashAttention-2 on NVIDIA, CK on AMD): padded up to the instantiated head dim,
/// in square steps of the instantiation's block rows, a forward step paying the non-matrix softmax work per score
/// (`attention_softmax_ratio`) and, joined by the smooth maximum, its warps' shared-memory reads of K and V; the
/// d = 128 tile keeps its cost exactly (the fractions were fitted there). cuDNN's kernels run the plain tile; where
/// the device gives `attention_cudnn_softmax_fraction` (H100, H200, H800), with the scores' non-matrix work (exponential,
/// conversion, FP32 softmax operations) as its own resource at the device's special-function and FP32 rates,
/// overlapped with the matrix work ([`score_nonmatrix_s`]).
#[derive(Debug, Clone, Copy)]
pub struct AttentionContext {
    gemm: GemmContext,
    attention_fraction: f64,
    schedule: crate::hw::AttentionSchedule,
    /// 1 + the device's HBM write penalty.
    write_cost: f64,
    /// The kernel's per-head-dim instantiations (empty: the reference tile at every head dim).
    tiles: &'static [AttentionTile],
    /// Non-matrix work per score relative to the d = 128 matrix work (0 for a kernel without a tile table).
    softmax: f64,
    /// Shared-memory bytes per second of one unit (infinite where the device gives no clock).
    smem_bw: f64,
    /// Scales a forward step so the reference tile costs exactly its matrix time (the fitted fractions keep their
    /// meaning at head dim 128).
    fwd_norm: f64,
    /// Seconds one unit spends on the non-matrix work of a forward / backward score (special-function and FP32
    /// pipes), for a kernel that runs it alongside the matrix work (cuDNN's warp-specialized Hopper kernels); 0
    /// where not priced this way.
    score_fwd_s: f64,
    score_bwd_s: f64,
}

/// Which fused attention kernel runs: FlashAttention-2, or cuDNN's (faster on Hopper; its own fraction, the
/// same work model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKernel {
    Flash,
    Cudnn,
}

impl AttentionKernel {
    pub fn parse(name: &str) -> Result<AttentionKernel> {
        match name {
            "flash" => Ok(AttentionKernel::Flash),
            "cudnn" => Ok(AttentionKernel::Cudnn),
            _ => Err(crate::error::invalid(
                "kernel",
                format!("is '{name}'; expected 'flash' (FlashAttention-2) or 'cudnn'"),
            )),
        }
    }
}

impl AttentionContext {
    /// FlashAttention-2 on `device`.
    pub fn new(device: &Device, dtype: Dtype) -> Result<Self> {
        Self::with_kernel(device, dtype, AttentionKernel::Flash)
    }

    /// `kernel` on `device`; cuDNN needs the device's `attention_cudnn_fraction`.
    pub fn with_kernel(device: &Device, dtype: Dtype, kernel: AttentionKernel) -> Result<Self> {
        // cuDNN with its non-matrix work as a resource: where the device gives the special-function rate and the
        // cuDNN fraction fitted that way.
        let cudnn_softmax = match (
            kernel,
            device.special_function_peak,
            device.efficiency.attention_cudnn_softmax,
        ) {
            (AttentionKernel::Cudnn, Some(_), Some(f)) => Some(f),
            _ => None,
        };
        let attention_fraction = match kernel {
            AttentionKernel::Flash => device.efficiency.attention,
            AttentionKernel::Cudnn => cudnn_softmax.or(device.efficiency.attention_cudnn).ok_or_else(|| {
                crate::error::Error::Unsupported {
                    message: format!(
                        "no cuDNN attention figure for '{}' (hwdb efficiency.attention_cudnn_fraction; \
                         measured on H100 and H200 only); use the flash kernel",
                        device.id
                    ),
                }
            })?,
        };
        // On FP8 operands cuDNN's kernel reaches a smaller share of the (doubled) matrix peak than on 16-bit ones.
        // FlashAttention-2 has no FP8 kernel: its `fp8` figures (the advisor's FP8 plans) stay as they were.
        let attention_fraction = if dtype == Dtype::Fp8 && kernel == AttentionKernel::Cudnn {
            attention_fraction * FP8_ATTENTION_EFFICIENCY
        } else {
            attention_fraction
        };
        let tiles = attention_tiles(&device.vendor, kernel);
        let clock_hz = device.boost_clock_mhz * 1e6;
        let mut ctx = AttentionContext {
            gemm: GemmContext::new(device, dtype)?,
            attention_fraction,
            schedule: device.efficiency.attention_schedule,
            write_cost: 1.0 + device.efficiency.hbm_write_penalty,
            tiles,
            softmax: if tiles.is_empty() {
                0.0
            } else {
                device.efficiency.attention_schedule.softmax
            },
            smem_bw: if clock_hz > 0.0 && !tiles.is_empty() {
                SMEM_BYTES_PER_CLOCK * clock_hz
            } else {
                f64::INFINITY
            },
            fwd_norm: 1.0,
            score_fwd_s: 0.0,
            score_bwd_s: 0.0,
        };
        if cudnn_softmax.is_some() {
            ctx.score_fwd_s = score_nonmatrix_s(device, SCORE_SPECIAL_FWD, SCORE_FP32_FWD);
            ctx.score_bwd_s = score_nonmatrix_s(device, SCORE_SPECIAL_BWD, SCORE_FP32_BWD);
        }
        let reference = ctx.fwd_step(
            ATTN_BLOCK,
            ATTN_REFERENCE_ROWS_PER_WARP,
            ATTN_REFERENCE_HEAD_DIM,
        );
        // A kernel priced with its non-matrix resource keeps it at every head dim (its fraction is fitted with it).
        if ctx.score_fwd_s == 0.0 {
            ctx.fwd_norm = ctx.matrix_time(ATTN_BLOCK, ATTN_REFERENCE_HEAD_DIM, 0.0) / reference;
        }
        Ok(ctx)
    }

    /// Matrix and softmax time of a `rows x rows` step of scores at (padded) head dim `dp` with `softmax` non-matrix
    /// work per score: `4 rows^2 (dp + softmax 128) / (rate (1 + softmax))`, the reference step's matrix time at
    /// dp = 128 whatever `softmax` is.
    #[inline]
    fn matrix_time(&self, rows: f64, dp: f64, softmax: f64) -> f64 {
        let rate = self.gemm.rate_per_unit * self.attention_fraction;
        4.0 * rows * rows * (dp + softmax * ATTN_REFERENCE_HEAD_DIM) / (rate * (1.0 + softmax))
    }

    /// One forward step (a block's `rows` queries against `rows` keys): its matrix time joined (the device's
    /// smooth maximum) with the shared-memory reads of its operands, each of the block's `rows / rows_per_warp`
    /// warps reading the K and V tile (`2 rows dp` elements), times `fwd_norm`.
    #[inline]
    fn fwd_step(&self, rows: f64, rows_per_warp: f64, dp: f64) -> f64 {
        let operands = rows / rows_per_warp * 2.0 * rows * dp * self.gemm.in_bytes / self.smem_bw;
        let math = self.matrix_time(rows, dp, self.softmax);
        let step = smooth_max_p::<Portable>(math, operands, self.gemm.overlap_exponent);
        self.with_nonmatrix(step, rows, self.score_fwd_s) * self.fwd_norm
    }

    /// A step of `rows x rows` scores whose matrix (and operand) time is `step`, joined by the smooth maximum with
    /// the scores' non-matrix time `rows^2 score_s`: the kernel runs the softmax of one tile while the tensor
    /// cores multiply another (warp specialization and ping-pong scheduling on Hopper, FlashAttention-3 paper
    /// arXiv:2407.08608 Sec. 3.1), so the two resources overlap as compute and memory do.
    #[inline]
    fn with_nonmatrix(&self, step: f64, rows: f64, score_s: f64) -> f64 {
        if score_s > 0.0 {
            smooth_max_p::<Portable>(step, rows * rows * score_s, self.gemm.overlap_exponent)
        } else {
            step
        }
    }

    /// The instantiation of this kernel that runs head dim `head_dim`.
    pub fn tile(&self, head_dim: f64) -> AttentionTile {
        if self.tiles.is_empty() {
            AttentionTile {
                head_dim,
                bwd_head_dim: head_dim,
                ..PLAIN_TILE
            }
        } else {
            attention_tile_for(self.tiles, head_dim)
        }
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
        let sch = &self.schedule;
        // Query-key pairs scored: all of them, or under the causal mask (queries aligned to the last keys)
        // `s_q s_kv - s_q^2 / 2` while the keys run ahead (a decode step sees every cached key; half of a
        // square, as FlashAttention-2 counts it), `s_kv^2 / 2` when there are more queries than keys.
        let pairs = if !causal {
            seq_q * seq_kv
        } else if seq_kv >= seq_q {
            seq_q * seq_kv - 0.5 * seq_q * seq_q
        } else {
            0.5 * seq_kv * seq_kv
        };
        let fwd_flops = 4.0 * batch * heads * pairs * head_dim;
        let flops = if backward { 2.5 * fwd_flops } else { fwd_flops };
        let rate = g.rate_per_unit * self.attention_fraction;
        let reference_tile = 4.0 * ATTN_BLOCK * ATTN_BLOCK * ATTN_REFERENCE_HEAD_DIM / rate;
        // The kernel's instantiation for this head dim: padded head dim, square steps of its block rows.
        let it = self.tile(head_dim);
        let (rows, tile, fixed) = if backward {
            (
                it.bwd_rows,
                // The backward keeps the head-dim dependence it was fitted with (its block costs were fitted on
                // d 64 and 128 rows): padding and block rows, no softmax term.
                self.with_nonmatrix(
                    2.5 * self.matrix_time(it.bwd_rows, it.bwd_head_dim, 0.0) / sch.bwd_rate,
                    it.bwd_rows,
                    self.score_bwd_s,
                ),
                sch.bwd_block_tiles * reference_tile,
            )
        } else {
            (
                it.fwd_rows,
                self.fwd_step(it.fwd_rows, it.rows_per_warp, it.head_dim),
                sch.fwd_block_tiles * reference_tile,
            )
        };
        let n_q = Portable::ceil(seq_q / rows);
        let n_kv = Portable::ceil(seq_kv / rows);
        let bh = batch * heads;
        let t_compute = if causal {
            // Query block i sees the key tiles up to the diagonal, offset when the keys run ahead of the
            // queries (s_kv > s_q); the backward pairs the same tiles by key block.
            let offset = (n_kv - n_q).max(0.0);
            let pairs = (n_q * offset + 0.5 * n_q * (n_q + 1.0)).min(n_q * n_kv);
            let longest = (offset + n_q).min(n_kv);
            let per_block = fixed + sch.diagonal_tiles * tile;
            let total = bh * (pairs * tile + n_q * per_block);
            (total / g.units).max(longest * tile + per_block)
        } else {
            let (blocks, tiles) = if backward { (n_kv, n_q) } else { (n_q, n_kv) };
            let waves = Portable::ceil(bh * blocks / g.units);
            waves * (tiles * tile + fixed)
        };
        let tensor = batch * heads * head_dim * g.in_bytes;
        let hbm_bytes = if backward {
            tensor * (seq_q * 3.0 + seq_kv * 2.0)
                + tensor * (seq_q + seq_kv * 2.0) * self.write_cost
        } else {
            tensor * (seq_q + 2.0 * seq_kv) + tensor * seq_q * self.write_cost
        };
        let t_hbm = hbm_bytes / g.hbm_bw;
        let body = smooth_max_p::<Portable>(t_compute, t_hbm, g.overlap_exponent);
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

/// Vectorized attention; `peak_tflops` only scales `fraction_of_peak`.
pub fn attention_columns(
    device: &Device,
    dtype: Dtype,
    kernel: AttentionKernel,
    batch: &[f64],
    heads: &[f64],
    seq_q: &[f64],
    seq_kv: &[f64],
    head_dim: &[f64],
    causal: bool,
    backward: bool,
    peak_tflops: f64,
) -> Result<KernelColumns> {
    let mut out = KernelColumns::zeroed(batch.len());
    attention_columns_into(
        device,
        dtype,
        kernel,
        batch,
        heads,
        seq_q,
        seq_kv,
        head_dim,
        causal,
        backward,
        peak_tflops,
        out.as_mut(),
    )?;
    Ok(out)
}

/// `attention_columns`, writing into `out`.
pub fn attention_columns_into(
    device: &Device,
    dtype: Dtype,
    kernel: AttentionKernel,
    batch: &[f64],
    heads: &[f64],
    seq_q: &[f64],
    seq_kv: &[f64],
    head_dim: &[f64],
    causal: bool,
    backward: bool,
    peak_tflops: f64,
    out: KernelColumnsMut<'_>,
) -> Result<()> {
    let cols = [
        ("batch", batch),
        ("heads", heads),
        ("seq_len", seq_q), // the Python argument's name
        ("seq_kv", seq_kv),
        ("head_dim", head_dim),
    ];
    let len = check_lengths(&cols.map(|(n, c)| (n, c.len())))?;
    out.check_len(len)?;
    let check = || {
        cols.iter()
            .try_for_each(|(name, col)| check_column(name, col))
    };
    let ctx = match AttentionContext::with_kernel(device, dtype, kernel) {
        Ok(ctx) => ctx,
        // Bad sizes are reported before an unsupported dtype.
        Err(e) => return check().and(Err(e)),
    };
    let valid = evaluate_columns(
        out,
        peak_tflops,
        &PerElement(|i| {
            let (b, h, sq, skv, d) = (batch[i], heads[i], seq_q[i], seq_kv[i], head_dim[i]);
            let ok = is_size(b) && is_size(h) && is_size(sq) && is_size(skv) && is_size(d);
            (ctx.estimate(b, h, sq, skv, d, causal, backward), ok)
        }),
    );
    if !valid {
        check()?;
    }
    Ok(())
}

/// A memory-bound kernel (elementwise, normalization, softmax, reduction) given its bytes read and written
/// and its FLOPs on the vector units.
#[derive(Debug, Clone, Copy)]
pub struct StreamContext {
    hbm_bw: f64,
    /// HBM rate of an FP8 cast pass: the stream rate times the device's `fp8_cast_fraction`.
    cast_bw: f64,
    vector_rate: f64,
    launch_s: f64,
    /// 1 + the device's HBM write penalty.
    write_cost: f64,
    overlap_exponent: f64,
}

impl StreamContext {
    pub fn new(device: &Device, dtype: Dtype) -> Result<Self> {
        let vector = device
            .vector_peak(dtype)
            .or_else(|| device.vector_peak(Dtype::Fp32))
            .or_else(|| device.gemm_peak(dtype).ok())
            .unwrap_or(f64::INFINITY);
        let hbm_bw = device.hbm_bandwidth() * device.efficiency.hbm;
        Ok(StreamContext {
            hbm_bw,
            cast_bw: hbm_bw * device.efficiency.fp8_cast,
            vector_rate: vector,
            launch_s: device.efficiency.launch_overhead_s,
            write_cost: 1.0 + device.efficiency.hbm_write_penalty,
            overlap_exponent: device.efficiency.overlap_exponent,
        })
    }

    /// time = launch + smoothmax((R + (1 + write penalty) W) / (HBM bw x fraction), FLOPs / vector peak).
    #[inline]
    pub fn estimate(&self, bytes_read: f64, bytes_written: f64, flops: f64) -> KernelEstimate {
        self.estimate_at(self.hbm_bw, bytes_read, bytes_written, flops)
    }

    /// An FP8 cast pass (Transformer Engine's `cast_transpose`, or a cast alone: scale, saturate, convert, and
    /// the amax of the input in the same pass): [`StreamContext::estimate`] at the device's `fp8_cast_fraction`
    /// of the stream rate (hwdb `[efficiency]`; 1 where not measured). `bytes_written` counts every fp8 copy
    /// (two with the transpose).
    #[inline]
    pub fn estimate_fp8_cast(&self, bytes_read: f64, bytes_written: f64) -> KernelEstimate {
        self.estimate_at(self.cast_bw, bytes_read, bytes_written, 0.0)
    }

    #[inline]
    fn estimate_at(
        &self,
        hbm_bw: f64,
        bytes_read: f64,
        bytes_written: f64,
        flops: f64,
    ) -> KernelEstimate {
        let t_hbm = (bytes_read + bytes_written * self.write_cost) / hbm_bw;
        let t_compute = flops / self.vector_rate;
        let body = smooth_max_p::<Portable>(t_hbm, t_compute, self.overlap_exponent);
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

/// Vectorized memory-bound kernel; `flops` may be zero; `peak_tflops` only scales `fraction_of_peak`. With
/// `dtype` fp8 the kernel is an FP8 cast pass (`StreamContext::estimate_fp8_cast`: there is no fp8 arithmetic on
/// the vector units, so a memory-bound kernel that writes fp8 is a cast; `flops` is then ignored).
pub fn stream_columns(
    device: &Device,
    dtype: Dtype,
    bytes_read: &[f64],
    bytes_written: &[f64],
    flops: &[f64],
    peak_tflops: f64,
) -> Result<KernelColumns> {
    let mut out = KernelColumns::zeroed(bytes_read.len());
    stream_columns_into(
        device,
        dtype,
        bytes_read,
        bytes_written,
        flops,
        peak_tflops,
        out.as_mut(),
    )?;
    Ok(out)
}

/// `stream_columns`, writing into `out`.
pub fn stream_columns_into(
    device: &Device,
    dtype: Dtype,
    bytes_read: &[f64],
    bytes_written: &[f64],
    flops: &[f64],
    peak_tflops: f64,
    out: KernelColumnsMut<'_>,
) -> Result<()> {
    let len = check_lengths(&[
        ("bytes_read", bytes_read.len()),
        ("bytes_written", bytes_written.len()),
        ("flops", flops.len()),
    ])?;
    out.check_len(len)?;
    let check = || -> Result<()> {
        for (name, col) in [
            ("bytes_read", bytes_read),
            ("bytes_written", bytes_written),
            ("flops", flops),
        ] {
            if let Some((i, v)) = col
                .iter()
                .enumerate()
                .find(|(_, v)| !(**v >= 0.0 && **v <= crate::error::MAX_BYTES))
            {
                let what = if v.is_nan() {
                    "NaN".to_owned()
                } else {
                    v.to_string()
                };
                return Err(invalid(
                    name,
                    format!("element {i} is {what}; expected a finite number >= 0 and <= 1e18"),
                ));
            }
        }
        if let Some(i) = (0..len).find(|&i| bytes_read[i] + bytes_written[i] < 1.0) {
            return Err(invalid(
                "bytes_read",
                format!(
                    "element {i}: a memory-bound kernel must move at least one byte (read + written >= 1)"
                ),
            ));
        }
        Ok(())
    };
    let ctx = match StreamContext::new(device, dtype) {
        Ok(ctx) => ctx,
        Err(e) => return check().and(Err(e)),
    };
    let cast = dtype == Dtype::Fp8;
    let valid = evaluate_columns(
        out,
        peak_tflops,
        &PerElement(|i| {
            let (r, w, f) = (bytes_read[i], bytes_written[i], flops[i]);
            let amount = |v: f64| (0.0..=crate::error::MAX_BYTES).contains(&v);
            let ok = amount(r) && amount(w) && amount(f) && r + w >= 1.0;
            let est = if cast {
                ctx.estimate_fp8_cast(r, w)
            } else {
                ctx.estimate(r, w, f)
            };
            (est, ok)
        }),
    );
    if !valid {
        check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw;

    /// A device of the built-in hardware database, by name.
    fn registry_device(name: &str) -> std::sync::Arc<hw::Device> {
        hw::registry().unwrap().get(name).unwrap().device().unwrap()
    }

    /// The engine's unbatched GEMM time equals the reference's, bit for bit, on each shape.
    fn assert_matches_reference(ctx: &GemmContext, shapes: &[(f64, f64, f64)]) {
        for &(m, n, k) in shapes {
            assert!(
                same_bits(
                    ctx.estimate(m, n, k, 1.0).time_s,
                    reference_gemm(ctx, m, n, k, 1.0).time_s
                ),
                "{m} x {n} x {k}"
            );
        }
    }

    /// The GEMM model as first written (per tile shape, `f64::ceil`, `f64::cbrt`): the vectorized paths must
    /// give exactly its bits.
    fn reference_gemm(ctx: &GemmContext, m: f64, n: f64, k: f64, batch: f64) -> KernelEstimate {
        let mut t_compute = f64::INFINITY;
        let mut l2_bytes = 0.0;
        for (i, (tm, tn, rel)) in GEMM_TILES.into_iter().enumerate() {
            let sec_per_k = 2.0 * tm * tn / (ctx.rate_per_unit * rel);
            let tiles = batch * (m * (1.0 / tm)).ceil() * (n * (1.0 / tn)).ceil();
            let aligned =
                k % ctx.align == 0.0 && (if ctx.align_m { m } else { n }) % ctx.align == 0.0;
            let q = if ctx.inv_k_tile > 0.0 && aligned {
                (k * ctx.inv_k_tile).ceil()
            } else {
                1.0
            };
            let dp = (tiles * ctx.inv_units).ceil();
            let full = (tiles * ctx.inv_units).floor();
            let tile_s = sec_per_k * k + ctx.tile_overhead_s;
            let t = if q <= 8.0 || full == dp || 2.0 * (tiles - full * ctx.units) >= ctx.units {
                dp * tile_s
            } else {
                let dp_waves = if full > 1.0 { full - 1.0 } else { 0.0 };
                let sk_iters = (tiles - dp_waves * ctx.units) * q;
                let sk_units = ctx.units.min((sk_iters * (1.0 / 8.0)).floor());
                let u = (sk_iters / sk_units).ceil();
                // Partial tiles moved on the slowest unit's path: the chain of the p units sharing a tile, or a
                // unit's first and last pieces.
                let transfers = if u < q {
                    2.0 * ((q / u).ceil() - 1.0)
                } else if u % q == 0.0 {
                    0.0
                } else {
                    2.0
                };
                (((dp_waves + u * (1.0 / q)) * tile_s) + transfers * ctx.fixup_s[i])
                    .min(dp * tile_s)
            };
            // Stream-K over fewer units: the fewest K tiles per unit u_min (at least 8, and the units needed at
            // most the SMs), and for every chain of p >= 2 units per tile its fewest K tiles per unit ceil(q / p)
            // where that is at least u_min; 2 (p - 1) transfers.
            let mut t = t;
            let u_min = ((tiles * q) / ctx.units).ceil().max(8.0);
            if u_min < q {
                let f = ctx.fixup_s[i];
                t = t.min((u_min * (1.0 / q)) * tile_s + (2.0 * ((q / u_min).ceil() - 1.0)) * f);
                let mut p = 2.0;
                while (q / p).ceil() >= u_min {
                    t = t.min(((q / p).ceil() * (1.0 / q)) * tile_s + (2.0 * (p - 1.0)) * f);
                    p += 1.0;
                }
            }
            if t < t_compute {
                t_compute = t;
                l2_bytes = tiles * (tm + tn) * k * ctx.in_bytes;
            }
        }
        // A device's GEMM library: the kernel it selects, no alignment penalty.
        let (big_m, big_n) = if ctx.align_m { (m, n) } else { (n, m) };
        let chosen = ctx
            .library
            .and_then(|lib| lib.select([big_m, big_n, k], batch));
        if let Some(s) = chosen {
            let rate = if s.matrix && ctx.library_feed.0 > 0.0 {
                let feed = ctx.library_feed.0 * (1.0 / s.tile_m + 1.0 / s.tile_n);
                ctx.rate_per_unit / (1.0 + feed.powf(ctx.library_feed.1))
            } else if s.matrix {
                ctx.rate_per_unit
            } else {
                ctx.vector_rate_per_unit
            };
            let tiles = batch * (big_m / s.tile_m).ceil() * (big_n / s.tile_n).ceil() * s.split_k;
            let waves = (tiles * ctx.inv_units).ceil();
            let k_split = k / s.split_k;
            t_compute = waves * (2.0 * s.tile_m * s.tile_n * k_split / rate + ctx.tile_overhead_s);
            l2_bytes = tiles * (s.tile_m + s.tile_n) * k_split * ctx.in_bytes;
        }
        // Parallel split-K of an unbatched GEMM, every slice count that keeps one wave.
        if ctx.split_k && batch == 1.0 && chosen.is_none() {
            for (tm, tn, rel) in GEMM_TILES {
                let sec_per_k = 2.0 * tm * tn / (ctx.rate_per_unit * rel);
                let tiles = (m * (1.0 / tm)).ceil() * (n * (1.0 / tn)).ceil();
                let max_slices = (ctx.units / tiles)
                    .floor()
                    .min((k / ctx.k_slice_align).floor());
                let optimum = (k * sec_per_k * ctx.hbm_bw / (8.0 * m * n)).sqrt();
                let mut s = 2.0;
                while s <= max_slices {
                    // Only the integers next to the optimum are candidates, as in the engine.
                    let lo = optimum.floor().clamp(2.0, max_slices);
                    if s == lo || s == (lo + 1.0).min(max_slices) {
                        let t = k / s * sec_per_k
                            + ctx.tile_overhead_s
                            + ctx.launch_s
                            + m * n * ctx.out_bytes / ctx.hbm_bw
                            + s * (8.0 * m * n) / ctx.hbm_bw;
                        if t < t_compute {
                            t_compute = t;
                            l2_bytes = tiles * (tm + tn) * k * ctx.in_bytes;
                        }
                    }
                    s += 1.0;
                }
            }
        }
        if batch > 1.0 {
            t_compute *= ctx.batched_slowdown;
        }
        let other = if ctx.align_m { m } else { n };
        if chosen.is_none() {
            if k % ctx.word != 0.0 || other % ctx.word != 0.0 {
                t_compute *= ctx.odd_slowdown;
            } else if k % ctx.align != 0.0 || other % ctx.align != 0.0 {
                t_compute *= ctx.unaligned_slowdown;
            }
        }
        let hbm_bytes = batch * ((m * k + k * n) * ctx.in_bytes + m * n * ctx.out_bytes);
        let t_hbm = hbm_bytes / ctx.hbm_bw;
        let t_l2 = l2_bytes / ctx.l2_bw;
        let t_mem = t_hbm.max(t_l2);
        let hi = t_compute.max(t_mem);
        let body = if hi <= 0.0 {
            0.0
        } else {
            let (x, y) = (t_compute / hi, t_mem / hi);
            hi * (x * x * x + y * y * y).cbrt()
        };
        // The device's GEMM-kernel stream floor (0 where it has none).
        let t_stream = hbm_bytes * ctx.inv_stream_bw;
        let floored = t_stream > body;
        let body = body.max(t_stream);
        let bound = if ctx.launch_s > body {
            Bound::Launch
        } else if floored {
            Bound::Hbm
        } else if t_compute >= t_mem {
            Bound::Compute
        } else if t_hbm >= t_l2 {
            Bound::Hbm
        } else {
            Bound::L2
        };
        KernelEstimate {
            time_s: body + ctx.launch_s,
            flops: 2.0 * m * n * k * batch,
            hbm_bytes,
            bound,
        }
    }

    /// xorshift64: reproducible inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// GEMM-like sizes: integers over many scales, tile and wave edges, fractions, extremes.
        fn size(&mut self) -> f64 {
            const EDGES: [f64; 16] = [
                1.0,
                63.0,
                64.0,
                65.0,
                128.0,
                255.0,
                256.0,
                257.0,
                16_896.0,
                16_897.0,
                1.5,
                2.5,
                1.0 + f64::EPSILON,
                // The largest sizes the engine accepts (`MAX_DIM` = 2^40) and a half just below it.
                1_099_511_627_776.0,
                1_099_511_627_775.5,
                1e12,
            ];
            match self.next() % 8 {
                0 => EDGES[(self.next() % 16) as usize],
                1 => (self.unit() * 1e9f64.ln()).exp(),
                _ => (self.unit() * 1e6f64.ln()).exp().round().max(1.0),
            }
        }
    }

    /// Elements `r` of `cols`.
    fn window(cols: &mut KernelColumns, r: std::ops::Range<usize>) -> KernelColumnsMut<'_> {
        let (head, _) = cols.as_mut().split_at(r.end);
        head.split_at(r.start).1
    }

    fn same_bits(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn portable_ceil_is_exact() {
        let mut rng = Rng(7);
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.5,
            2.5,
            -2.5,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            -4_503_599_627_370_495.5,
            9_007_199_254_740_993.0,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for _ in 0..200_000 {
            values.push(f64::from_bits(rng.next()));
            values.push((rng.unit() - 0.5) * 1e6);
            values.push(rng.size() / 128.0);
        }
        for x in values {
            assert!(same_bits(Portable::ceil(x), x.ceil()), "ceil({x:e})");
            #[cfg(target_arch = "x86_64")]
            assert!(same_bits(Avx2Fma::ceil(x), x.ceil()), "ceil({x:e})");
        }
    }

    fn cbrt_1_2<A: Arith>(s: f64) -> f64 {
        match cbrt_1_2_lanes::<A>(s) {
            (r, true) => r,
            _ => s.cbrt(),
        }
    }

    #[test]
    fn cbrt_1_2_is_correctly_rounded() {
        let mut rng = Rng(11);
        let check = |s: f64| {
            assert!(same_bits(cbrt_1_2::<Portable>(s), s.cbrt()), "cbrt({s:e})");
            #[cfg(target_arch = "x86_64")]
            if avx2_fma() {
                assert!(same_bits(cbrt_1_2::<Avx2Fma>(s), s.cbrt()), "cbrt({s:e})");
            }
        };
        for i in 1..20_000u64 {
            check(f64::from_bits(1.0f64.to_bits() + i));
            check(f64::from_bits(2.0f64.to_bits() - i));
        }
        check(2.0);
        for _ in 0..1_000_000 {
            check(1.0 + rng.unit().max(1e-300));
            let r = rng.unit();
            let s = 1.0 + r * r * r;
            if s > 1.0 {
                check(s);
            }
            // Cubes of doubles: the cube root lies next to a representable number.
            let y = f64::from_bits(1.0f64.to_bits() + rng.next() % (1u64 << 50));
            let s = y * y * y;
            if s > 1.0 && s <= 2.0 {
                check(s);
            }
        }
    }

    #[test]
    fn smooth_max_matches_the_plain_formula() {
        let plain = |a: f64, b: f64| {
            let hi = a.max(b);
            if hi <= 0.0 {
                return 0.0;
            }
            let (x, y) = (a / hi, b / hi);
            hi * (x * x * x + y * y * y).cbrt()
        };
        let mut rng = Rng(3);
        let special = [
            0.0,
            -0.0,
            1e-300,
            1.0,
            3.0,
            -2.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ];
        for &a in &special {
            for &b in &special {
                assert!(
                    same_bits(smooth_max::<Portable>(a, b), plain(a, b)),
                    "{a} {b}"
                );
            }
        }
        for _ in 0..200_000 {
            let a = rng.size() * 1e-6;
            let b = if rng.next() % 4 == 0 {
                a
            } else {
                rng.size() * 1e-6
            };
            assert!(
                same_bits(smooth_max::<Portable>(a, b), plain(a, b)),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn odd_leading_dimensions_take_their_own_fraction() {
        // Three alignment classes of a 16-bit GEMM: 16 bytes (n = 4096), 4 bytes (4098) and 2 bytes (4097).
        let a100 = registry_device("a100-sxm4-80gb");
        let mut ctx = GemmContext::new(&a100, Dtype::Fp16).unwrap();
        ctx.unaligned_slowdown = 2.0;
        ctx.odd_slowdown = 4.0;
        let (aligned, _, _, _) = ctx.terms::<Portable>(4096.0, 4096.0, 4096.0, 1.0);
        let (even, _, _, _) = ctx.terms::<Portable>(4096.0, 4098.0, 4096.0, 1.0);
        let (odd, _, _, _) = ctx.terms::<Portable>(4096.0, 4097.0, 4096.0, 1.0);
        // 4096..4098 need the same tiles and waves, so the compute time differs only by the factor.
        assert!(same_bits(even, 2.0 * aligned) && same_bits(odd, 4.0 * aligned));
        // k odd, n aligned; and the reference gives the same bits.
        let (odd_k, _, _, _) = ctx.terms::<Portable>(4096.0, 4096.0, 4095.0, 1.0);
        assert!(odd_k > 3.9 * aligned);
        assert_matches_reference(
            &ctx,
            &[
                (4096.0, 4097.0, 4096.0),
                (4096.0, 4098.0, 4096.0),
                (100.0, 4096.0, 4095.0),
            ],
        );
        // A 4-byte dtype is always word-aligned: only the 16-byte test applies.
        let mut ctx32 = GemmContext::new(&a100, Dtype::Fp32).unwrap();
        ctx32.unaligned_slowdown = 2.0;
        ctx32.odd_slowdown = 4.0;
        let (a, _, _, _) = ctx32.terms::<Portable>(4096.0, 4096.0, 4096.0, 1.0);
        let (u, _, _, _) = ctx32.terms::<Portable>(4096.0, 4097.0, 4096.0, 1.0);
        assert!(same_bits(u, 2.0 * a));
    }

    #[test]
    fn a_gemm_takes_at_least_its_hbm_bytes_at_the_devices_gemm_stream_rate() {
        let a100 = registry_device("a100-sxm4-80gb");
        // No figure: no floor.
        let plain = GemmContext::new(&a100, Dtype::Fp16).unwrap();
        assert!(same_bits(plain.inv_stream_bw, 0.0));
        // A figure of 0.25 of the HBM peak: a tall-skinny GEMM (27648 x 64 x 4096: 226.5 MB of operands, 14.5 GFLOP)
        // takes its HBM bytes at 0.25 x 2039 GB/s, HBM-bound, plus the launch; a large square GEMM is untouched.
        let mut ctx = plain;
        ctx.inv_stream_bw = 1.0 / (0.25 * a100.hbm_bandwidth());
        let (m, n, k) = (27648.0, 64.0, 4096.0);
        let e = ctx.estimate(m, n, k, 1.0);
        let bytes = (m * k + k * n + m * n) * 2.0;
        assert!(same_bits(e.hbm_bytes, bytes));
        assert!(same_bits(
            e.time_s,
            bytes * ctx.inv_stream_bw + ctx.launch_s
        ));
        let expected = bytes / (0.25 * 2039e9) + ctx.launch_s;
        assert!(
            (e.time_s / expected - 1.0).abs() < 1e-12,
            "{} vs {expected}",
            e.time_s
        );
        assert_eq!(e.bound, Bound::Hbm);
        assert!(e.time_s > 2.0 * plain.estimate(m, n, k, 1.0).time_s);
        let big = ctx.estimate(8192.0, 8192.0, 8192.0, 1.0);
        assert!(same_bits(
            big.time_s,
            plain.estimate(8192.0, 8192.0, 8192.0, 1.0).time_s
        ));
        assert_eq!(big.bound, Bound::Compute);
        // The schedule reports the floor as memory time; the reference and the columns give the same bits.
        let s = ctx.schedule(m, n, k, 1.0);
        assert!(same_bits(s.memory_s, bytes * ctx.inv_stream_bw));
        assert_matches_reference(&ctx, &[(m, n, k), (m, 130.0, k), (8192.0, 8192.0, 8192.0)]);
        let (ms, ns, ks, bs) = ([m, 8192.0], [n, 8192.0], [k, 8192.0], [1.0, 1.0]);
        let mut cols = KernelColumns::zeroed(2);
        {
            let mut w = window(&mut cols, 0..2);
            assert!(ctx.fill_block::<Portable>(&ms, &ns, &ks, &bs, &mut w, 1.0));
        }
        assert!(same_bits(cols.time_s[0], e.time_s) && same_bits(cols.time_s[1], big.time_s));
        assert_eq!(cols.bound[0], Bound::Hbm as u8);
    }

    #[test]
    fn strided_batched_gemms_take_their_own_fraction() {
        let a100 = registry_device("a100-sxm4-80gb");
        // No figure: batch 2 is exactly twice the tiles of batch 1, nothing else.
        let plain = GemmContext::new(&a100, Dtype::Fp16).unwrap();
        assert!(same_bits(plain.batched_slowdown, 1.0));
        let mut ctx = plain;
        ctx.batched_slowdown = 1.5;
        // The factor multiplies the compute time of every batch above one and never a batch of one.
        let (one_plain, ..) = plain.terms::<Portable>(4096.0, 4096.0, 4096.0, 1.0);
        let (one, ..) = ctx.terms::<Portable>(4096.0, 4096.0, 4096.0, 1.0);
        assert!(same_bits(one, one_plain));
        for b in [2.0, 3.0, 64.0] {
            let (t_plain, ..) = plain.terms::<Portable>(4096.0, 4096.0, 4096.0, b);
            let (t, ..) = ctx.terms::<Portable>(4096.0, 4096.0, 4096.0, b);
            assert!(same_bits(t, 1.5 * t_plain));
            assert!(same_bits(
                ctx.estimate(4096.0, 4097.0, 4096.0, b).time_s,
                reference_gemm(&ctx, 4096.0, 4097.0, 4096.0, b).time_s
            ));
        }
        // The vectorized columns give the reference's bits too.
        let (m, n, k, batch) = (
            vec![64.0, 4096.0, 100.0],
            vec![64.0, 4096.0, 4097.0],
            vec![4096.0; 3],
            vec![1.0, 8.0, 2.0],
        );
        let mut cols = KernelColumns::zeroed(3);
        assert!(evaluate_columns(
            cols.as_mut(),
            1.0,
            &GemmBlocks::new(&ctx, &m, &n, &k, &batch)
        ));
        for i in 0..3 {
            let r = reference_gemm(&ctx, m[i], n[i], k[i], batch[i]);
            assert!(same_bits(cols.time_s[i], r.time_s));
        }
    }

    #[test]
    fn an_unbatched_gemm_that_leaves_units_idle_splits_k_where_the_device_does() {
        let reg = hw::registry().unwrap();
        let a100 = reg.get("a100-sxm4-80gb").unwrap().device().unwrap();
        let mut ctx = GemmContext::new(&a100, Dtype::Fp16).unwrap();
        assert!(!ctx.split_k);
        // Off: exactly the whole-K tile choice.
        let (m, n, k) = (32.0, 32.0, 4096.0);
        let (t_off, ..) = ctx.tile_choice::<Portable>(m, n, k, 1.0, 1.0);
        assert!(same_bits(
            ctx.split_k_choice::<Portable>(m, n, k, 1.0, 1.0).0,
            t_off
        ));
        ctx.split_k = true;
        // By hand: one 64 x 64 tile (the tile set's last shape) over the whole K, or s slices of it on s of the 108
        // SMs plus the reduction kernel (its launch, s fp32 partials written and read, the output written).
        let (sec_per_k, _) = ctx.tiles[5];
        let slice = |s: f64| {
            k / s * sec_per_k
                + ctx.tile_overhead_s
                + ctx.launch_s
                + m * n * 2.0 / ctx.hbm_bw
                + s * (8.0 * m * n) / ctx.hbm_bw
        };
        // The optimum sqrt(k sec_per_k bw / 8 m n) lies far above 64 slices (4096 / 64 elements per 128 bytes).
        let (t, _, best, tiles, by_library, slices) =
            ctx.split_k_choice::<Portable>(m, n, k, 1.0, 1.0);
        let tile_5 = (GEMM_TILES[5].0, GEMM_TILES[5].1);
        assert_eq!(
            (best, tiles, by_library, slices),
            (tile_5, 1.0, false, 64.0)
        );
        assert!(same_bits(t, slice(64.0)));
        assert!(t < t_off / 2.0, "{t} vs {t_off}");
        // A batch of two runs both tiles whole (the batch takes the grid's third dimension).
        let (t2, .., s2) = ctx.split_k_choice::<Portable>(m, n, k, 2.0, 1.0);
        assert_eq!(s2, 1.0);
        assert!(same_bits(
            t2,
            ctx.tile_choice::<Portable>(m, n, k, 2.0, 1.0).0
        ));
        // A GEMM whose tiles fill the units is not split; the schedule reports the slices and their single wave.
        let (.., s_big) = ctx.split_k_choice::<Portable>(4096.0, 4096.0, 4096.0, 1.0, 1.0);
        assert_eq!(s_big, 1.0);
        let sched = ctx.schedule(m, n, k, 1.0);
        assert_eq!((sched.k_slices, sched.waves, sched.tiles), (64.0, 1.0, 1.0));
        // The reference gives the same bits, for shapes on both sides of the optimum.
        assert_matches_reference(
            &ctx,
            &[
                (32.0, 32.0, 4096.0),
                (256.0, 256.0, 4096.0),
                (512.0, 1000.0, 8192.0),
                (8.0, 4096.0, 4096.0),
            ],
        );
    }

    /// The stream-K fixup by hand on H100 bf16 (132 SMs, K tiles of 64 elements): for each shape, every tile
    /// shape's time written out from `GemmContext::stream_k`'s rules (tiles, K tiles q, units, K tiles per unit u,
    /// units per tile p = ceil(q / u), partial tiles moved 2 (p - 1)); the engine prices the fastest.
    #[test]
    fn stream_k_units_sharing_a_tile_pay_the_partial_write_and_read() {
        let h100 = hw::registry()
            .unwrap()
            .get("h100-sxm5-80gb")
            .unwrap()
            .device()
            .unwrap();
        // The sourced per-SM L2 figure (hwdb memory.l2_bandwidth_per_unit_gbps: gpu-benches' H200 L2 plateau,
        // 9,914 GB/s over 132 SMs).
        assert_eq!(h100.l2_bandwidth_per_unit, Some(75.1e9));
        let ctx = GemmContext::new(&h100, Dtype::Bf16).unwrap();
        let rate = 989.4e12 * h100.efficiency.gemm_16bit / 132.0;
        let overhead = h100.efficiency.tile_overhead_s;
        // One tile's K loop and fixed cost; one fp32 partial tile moved between an SM and L2.
        let tile = |tm: f64, tn: f64, rel: f64, k: f64| 2.0 * tm * tn * k / (rate * rel) + overhead;
        let partial = |tm: f64, tn: f64| tm * tn * 4.0 / 75.1e9;
        let check = |m: f64, n: f64, k: f64, candidates: &[f64], tile_mn: (f64, f64)| {
            let s = ctx.schedule(m, n, k, 1.0);
            let best = candidates.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                (s.compute_s - best).abs() <= 1e-12 * best,
                "{m} x {n} x {k}: engine {} s, by hand {best} s",
                s.compute_s
            );
            assert_eq!((s.tile_m, s.tile_n), tile_mn, "{m} x {n} x {k}");
        };
        let k = 1024.0;
        // 1024^3, q = 16: 32 tiles of 256 x 128 or 128 x 256 (512 K tiles over 64 SMs, u = 8, p = 2) and 64 of
        // 128 x 128 (1024 over 128 SMs, u = 8, p = 2): half a tile plus a store and a load; 128 tiles of
        // 128 x 64 or 64 x 128 fill most of a wave (2 x 128 >= 132: data-parallel), 256 of 64 x 64 two waves.
        check(
            k,
            k,
            k,
            &[
                0.5 * tile(256.0, 128.0, 1.0, k) + 2.0 * partial(256.0, 128.0),
                0.5 * tile(128.0, 128.0, 0.95, k) + 2.0 * partial(128.0, 128.0),
                tile(128.0, 64.0, 0.85, k),
                2.0 * tile(64.0, 64.0, 0.7, k),
            ],
            (128.0, 64.0),
        );
        // Without the fixup the 128 x 128 stream-K schedule would win (and did before it was priced).
        assert!(
            0.5 * tile(128.0, 128.0, 0.95, k) < tile(128.0, 64.0, 0.85, k),
            "the fixup decides 1024^3"
        );
        // 512^3: q = 8, never split (CUTLASS's 8 K tiles per unit at least): one whole wave of any shape.
        let k = 512.0;
        check(
            k,
            k,
            k,
            &[
                tile(256.0, 128.0, 1.0, k),
                tile(128.0, 128.0, 0.95, k),
                tile(128.0, 64.0, 0.85, k),
                tile(64.0, 64.0, 0.7, k),
            ],
            (64.0, 64.0),
        );
        // 2048^3: 128 tiles of 256 x 128 (a wave at least half full: data-parallel), 256 of 128 x 128 (2 waves),
        // 512 of 128 x 64 (4), 1024 of 64 x 64 (8): no fixup anywhere.
        let k = 2048.0;
        check(
            k,
            k,
            k,
            &[
                tile(256.0, 128.0, 1.0, k),
                2.0 * tile(128.0, 128.0, 0.95, k),
                4.0 * tile(128.0, 64.0, 0.85, k),
                8.0 * tile(64.0, 64.0, 0.7, k),
            ],
            (256.0, 128.0),
        );
        // Decode, 16 x 4096 x 4096 (q = 64): 32 tiles of 256 x 128, 128 x 128 or 64 x 128 (2048 K tiles over
        // 132 SMs, u = 16, p = 4: a store, two read-and-writes, a load), 16 of 128 x 256 (1024 over 128 SMs,
        // u = 8, p = 8: 14 transfers), 64 of 128 x 64 or 64 x 64 (4096 over 132, u = 32, p = 2).
        let k = 4096.0;
        check(
            16.0,
            4096.0,
            k,
            &[
                16.0 / 64.0 * tile(256.0, 128.0, 1.0, k) + 6.0 * partial(256.0, 128.0),
                8.0 / 64.0 * tile(128.0, 256.0, 1.0, k) + 14.0 * partial(128.0, 256.0),
                16.0 / 64.0 * tile(128.0, 128.0, 0.95, k) + 6.0 * partial(128.0, 128.0),
                16.0 / 64.0 * tile(64.0, 128.0, 0.85, k) + 6.0 * partial(64.0, 128.0),
                32.0 / 64.0 * tile(128.0, 64.0, 0.85, k) + 2.0 * partial(128.0, 64.0),
                32.0 / 64.0 * tile(64.0, 64.0, 0.7, k) + 2.0 * partial(64.0, 64.0),
            ],
            (64.0, 64.0),
        );
        // Decode, 1 x 16384 x 16384 (q = 256): 128 tiles of 256 x 128, 128 x 128 or 64 x 128 (the heuristic runs
        // them data-parallel, one wave; over all 132 SMs, u = 249 K tiles each, every tile shared by 2 units: 2
        // transfers), 64 of 128 x 256 (16384 K tiles over 132 SMs, u = 125, p = 3: 4 transfers; or 128 SMs of
        // u = 128, p = 2: 2), 256 of 128 x 64 or 64 x 64 (two waves, the second at least half full). The 64 x 128
        // tiles over 132 SMs win: 2.7 % of a tile's K loop saved for two partial tiles moved.
        let k = 16384.0;
        check(
            1.0,
            16384.0,
            k,
            &[
                tile(256.0, 128.0, 1.0, k),
                249.0 / 256.0 * tile(256.0, 128.0, 1.0, k) + 2.0 * partial(256.0, 128.0),
                125.0 / 256.0 * tile(128.0, 256.0, 1.0, k) + 4.0 * partial(128.0, 256.0),
                128.0 / 256.0 * tile(128.0, 256.0, 1.0, k) + 2.0 * partial(128.0, 256.0),
                tile(128.0, 128.0, 0.95, k),
                249.0 / 256.0 * tile(128.0, 128.0, 0.95, k) + 2.0 * partial(128.0, 128.0),
                tile(64.0, 128.0, 0.85, k),
                249.0 / 256.0 * tile(64.0, 128.0, 0.85, k) + 2.0 * partial(64.0, 128.0),
                2.0 * tile(128.0, 64.0, 0.85, k),
                2.0 * tile(64.0, 64.0, 0.7, k),
            ],
            (64.0, 128.0),
        );
        let s = ctx.schedule(1.0, 16384.0, k, 1.0);
        assert_eq!(s.waves, 249.0 / 256.0);
        // Decode, 256 x 4096 x 8192 (q = 128): 32 tiles of 256 x 128 or 128 x 256 (4096 K tiles over 132 SMs,
        // u = 32, p = 4: 6 transfers; over fewer, u = 43, p = 3 or u = 64, p = 2), 64 of 128 x 128 (8192 over 132,
        // u = 63, p = 3: 4 transfers; over 128, u = 64, p = 2: 2), 128 of 128 x 64 (one wave, or 132 SMs of
        // u = 125, p = 2), 256 of 64 x 64 (two waves). The 128 x 128 tiles on 128 SMs win: one more K tile per unit
        // for two fewer transfers.
        let k = 8192.0;
        check(
            256.0,
            4096.0,
            k,
            &[
                32.0 / 128.0 * tile(256.0, 128.0, 1.0, k) + 6.0 * partial(256.0, 128.0),
                43.0 / 128.0 * tile(256.0, 128.0, 1.0, k) + 4.0 * partial(256.0, 128.0),
                64.0 / 128.0 * tile(256.0, 128.0, 1.0, k) + 2.0 * partial(256.0, 128.0),
                63.0 / 128.0 * tile(128.0, 128.0, 0.95, k) + 4.0 * partial(128.0, 128.0),
                64.0 / 128.0 * tile(128.0, 128.0, 0.95, k) + 2.0 * partial(128.0, 128.0),
                tile(128.0, 64.0, 0.85, k),
                125.0 / 128.0 * tile(128.0, 64.0, 0.85, k) + 2.0 * partial(128.0, 64.0),
                2.0 * tile(64.0, 64.0, 0.7, k),
            ],
            (128.0, 128.0),
        );
        assert_eq!(ctx.schedule(256.0, 4096.0, k, 1.0).waves, 0.5);
        // A device without the per-unit figure leaves the fixup unpriced: 1024^3 back to half a 128 x 128 tile.
        let mut bare = (*h100).clone();
        bare.l2_bandwidth_per_unit = None;
        let s = GemmContext::new(&bare, Dtype::Bf16)
            .unwrap()
            .schedule(1024.0, 1024.0, 1024.0, 1.0);
        assert_eq!((s.tile_m, s.tile_n, s.waves), (128.0, 128.0, 0.5));
    }

    #[test]
    fn stream_k_on_fewer_units_is_the_best_of_every_unit_count() {
        // 132 units (an H100), random tile counts, K loops and times. Every u from u_min to q - 1 priced by its own chain: the search over chain lengths must find the same
        // minimum (bit for bit) and name a u that gives it.
        let mut rng = Rng(0x5eed_0017);
        for _ in 0..4000 {
            let tiles = (1.0 + (rng.unit() * 132.0).floor()).min(131.0);
            let q = 9.0 + (rng.unit() * 3000.0).floor();
            let tile_s = q * (0.02 + rng.unit()) * 1e-7;
            let fixup_s = (0.01 + rng.unit()) * 1e-6;
            let u_min = ((tiles * q) / 132.0).ceil().max(8.0);
            if u_min >= q {
                continue;
            }
            let mut brute = f64::INFINITY;
            let mut u = u_min;
            while u < q {
                brute =
                    brute.min((u * (1.0 / q)) * tile_s + (2.0 * ((q / u).ceil() - 1.0)) * fixup_s);
                u += 1.0;
            }
            let (t, waves) =
                GemmContext::stream_k_on_fewer_units::<Portable>(q, u_min, tile_s, fixup_s);
            assert!(same_bits(t, brute), "tiles {tiles} q {q}: {t} vs {brute}");
            let u = (waves * q).round();
            assert!(u >= u_min && u < q, "tiles {tiles} q {q}: u {u}");
            let again = (u * (1.0 / q)) * tile_s + (2.0 * ((q / u).ceil() - 1.0)) * fixup_s;
            assert!((again - t).abs() <= 1e-12 * t, "tiles {tiles} q {q}: u {u}");
        }
    }

    /// The session-16 fuzz finding (16 x 168 x 24,584 priced slower than 80 x 168 x 24,584 under CUTLASS's
    /// heuristic alone): the heuristic spreads the smaller GEMM's 3 tiles of 64 x 64 (q = 385, 1,155 K tiles) over
    /// min(132, 1,155 / 8) = 132 units of 9 K tiles, chains of 43 units (84 transfers), the larger GEMM's 6 over 132
    /// units of 18 (chains of 22, 42 transfers). With the unit count that minimises time, a larger GEMM of the same
    /// n and k can only choose among fewer schedules, so it is never faster (random shapes, m <= 256 and 2-8x it).
    #[test]
    fn a_larger_gemm_of_the_same_k_is_never_scheduled_faster_on_hopper() {
        let reg = hw::registry().unwrap();
        for id in ["h100-sxm5-80gb", "h200-sxm-141gb"] {
            let dev = reg.get(id).unwrap().device().unwrap();
            let ctx = GemmContext::new(&dev, Dtype::Bf16).unwrap();
            let mut rng = Rng(0x1d17_5eed);
            for _ in 0..3000 {
                let n = 8.0 * (1.0 + (rng.unit() * 512.0).floor());
                let k = 8.0 * (1.0 + (rng.unit() * 4096.0).floor());
                let m = 8.0 * (1.0 + (rng.unit() * 32.0).floor());
                let small = ctx.estimate(m, n, k, 1.0).time_s;
                for scale in [2.0, 3.0, 5.0, 8.0] {
                    let large = ctx.estimate(m * scale, n, k, 1.0).time_s;
                    assert!(
                        large >= small,
                        "{id} {m} x {n} x {k} vs x{scale}: {small} > {large}"
                    );
                }
            }
            let t = |m: f64| ctx.estimate(m, 168.0, 24584.0, 1.0).time_s;
            assert!(t(80.0) >= t(16.0), "{id}");
        }
    }

    #[test]
    fn schedule_names_the_tile_and_waves_the_estimate_prices() {
        let h100 = hw::registry()
            .unwrap()
            .get("h100-sxm5-80gb")
            .unwrap()
            .device()
            .unwrap();
        let ctx = GemmContext::new(&h100, Dtype::Bf16).unwrap();
        // 8192^3 on 132 SMs: a 256 x 128 tile gives 32 x 64 = 2048 tiles, 15 full waves and 68 tiles. H100 runs
        // stream-K (hwdb compute.gemm_tile_scheduler), but CUTLASS's heuristic keeps a last wave at least half full
        // (2 x 68 >= 132) data-parallel: 16 whole waves.
        let s = ctx.schedule(8192.0, 8192.0, 8192.0, 1.0);
        assert_eq!(
            (s.tile_m, s.tile_n, s.tiles, s.waves, s.units),
            (256.0, 128.0, 2048.0, 16.0, 132.0)
        );
        assert!(s.aligned);
        // 3072^3: 12 x 24 = 288 tiles of 256 x 128, 2 full waves and 24 tiles (less than half a wave): one wave
        // data-parallel, the other 156 tiles of 3072 / 64 = 48 K tiles each shared by the 132 SMs:
        // ceil(7488 / 132) = 57 K tiles, 57 / 48 of a tile's time.
        let mid = ctx.schedule(3072.0, 3072.0, 3072.0, 1.0);
        assert_eq!(
            (mid.tile_m, mid.tiles, mid.waves),
            (256.0, 288.0, 1.0 + 57.0 / 48.0)
        );
        // 1024^3: 64 tiles of 128 x 128 with 16 K tiles each (less than half a wave) would share 1024 K tiles over
        // min(132, 1024 / 8) = 128 SMs, 8 K tiles each, half a tile's time, but two SMs share each tile and pay
        // its partial-sum fixup; one whole wave of 128 tiles of 128 x 64 is faster (see
        // `stream_k_units_sharing_a_tile_pay_the_partial_write_and_read`).
        let small = ctx.schedule(1024.0, 1024.0, 1024.0, 1.0);
        assert_eq!(
            (small.tile_m, small.tile_n, small.tiles, small.waves),
            (128.0, 64.0, 128.0, 1.0)
        );
        // 1024 x 2145 x 1024 fp8 (Azure's cuBLASLt row): 1024 / 128 = 8 K tiles per output tile, not more than
        // CUTLASS's 8 per stream-K unit, so nothing is split: one whole wave of 4 x 17 = 68 tiles of 256 x 128
        // (split, 136 tiles of 128 x 128 would share 1088 K tiles over 132 SMs: 9 / 8 of a smaller tile's time).
        let fp8 = GemmContext::new(&h100, Dtype::Fp8)
            .unwrap()
            .schedule(1024.0, 2145.0, 1024.0, 1.0);
        assert_eq!(
            (fp8.tile_m, fp8.tile_n, fp8.tiles, fp8.waves),
            (256.0, 128.0, 68.0, 1.0)
        );
        // Unaligned (TMA needs 16-byte strides): whole waves, where 128 x 128 tiles win: ceil(576 / 132) = 5.
        let odd = ctx.schedule(3072.0, 3071.0, 3072.0, 1.0);
        assert_eq!((odd.tile_m, odd.tiles, odd.waves), (128.0, 576.0, 5.0));
        // A100 schedules whole waves: 2048 tiles over 108 SMs, ceil(18.96) = 19.
        let a100 = registry_device("a100-sxm4-80gb");
        let a = GemmContext::new(&a100, Dtype::Bf16)
            .unwrap()
            .schedule(8192.0, 8192.0, 8192.0, 1.0);
        assert_eq!((a.tiles, a.waves), (2048.0, 19.0));
        // n = 8191 is not a multiple of 8 bf16 elements (16 bytes): the compute time pays the penalty (both
        // GEMMs run 16 whole waves of 256 x 128 tiles).
        let u = ctx.schedule(8192.0, 8191.0, 8192.0, 1.0);
        assert!(!u.aligned);
        assert!(
            (u.compute_s * h100.efficiency.unaligned_gemm - s.compute_s).abs()
                <= 1e-12 * s.compute_s
        );
        // The times are the ones `estimate` joins.
        for (m, n, k) in [
            (4096.0, 12288.0, 4096.0),
            (1000.0, 3000.0, 77.0),
            (64.0, 64.0, 64.0),
        ] {
            let sc = ctx.schedule(m, n, k, 1.0);
            let (tc, tm, _, _) = ctx.terms::<Portable>(m, n, k, 1.0);
            assert!(same_bits(sc.compute_s, tc) && same_bits(sc.memory_s, tm));
        }
        let cols = gemm_schedules(
            &h100,
            Dtype::Bf16,
            Layout::Row,
            &[8192.0],
            &[8192.0],
            &[8192.0],
            &[1.0],
        )
        .unwrap();
        assert_eq!(cols[0], s);
        assert!(gemm_schedules(
            &h100,
            Dtype::Bf16,
            Layout::Row,
            &[0.0],
            &[1.0],
            &[1.0],
            &[1.0]
        )
        .is_err());
    }

    /// Every device and dtype, through the parallel, dispatched path and through each block path directly.
    #[test]
    fn overlap_exponent_is_a_device_figure() {
        // hwdb `efficiency.overlap_exponent`: 3 takes the exact cube-root path; another exponent the general
        // formula, in the scalar and the vectorized evaluation alike.
        let h100 = hw::registry().unwrap().get("h100-sxm5-80gb").unwrap();
        let with_p = |p: f64| {
            h100.with_overrides(&[("efficiency.overlap_exponent".into(), toml::Value::Float(p))])
                .unwrap()
                .device()
                .unwrap()
        };
        let (base, p3, p2) = (h100.device().unwrap(), with_p(3.0), with_p(2.0));
        assert_eq!(p2.efficiency.overlap_exponent, 2.0);
        let (m, n, k) = (
            vec![4096.0, 8192.0, 1000.0, 64.0],
            vec![4096.0, 1024.0, 3000.0, 64.0],
            vec![512.0, 256.0, 77.0, 64.0],
        );
        let b = vec![1.0; 4];
        let cols =
            |d: &Device| gemm_columns(d, Dtype::Bf16, Layout::Row, &m, &n, &k, &b, 989.4).unwrap();
        let (c_base, c3, c2) = (cols(&base), cols(&p3), cols(&p2));
        let ctx2 = GemmContext::new(&p2, Dtype::Bf16).unwrap();
        for i in 0..m.len() {
            assert!(same_bits(c_base.time_s[i], c3.time_s[i]));
            let e = ctx2.estimate(m[i], n[i], k[i], b[i]);
            assert!(same_bits(e.time_s, c2.time_s[i]), "{i}");
            let (tc, tm, _, _) = ctx2.terms::<Portable>(m[i], n[i], k[i], b[i]);
            let p2_body = (tc * tc + tm * tm).sqrt();
            assert!(
                (e.time_s - ctx2.launch_s - p2_body).abs() <= 1e-12 * p2_body,
                "{i}"
            );
            // p = 2 overlaps compute and memory less than p = 3.
            assert!(c2.time_s[i] >= c_base.time_s[i]);
        }
    }

    #[test]
    fn mi250x_fp16_runs_the_kernel_rocblas_selects() {
        let reg = hw::registry().unwrap();
        let mi250x = reg.get("mi250x-gcd").unwrap().device().unwrap();
        let lib = mi250x
            .gemm_library
            .expect("mi250x-gcd has rocBLAS's gfx90a fp16 table");
        let ctx = GemmContext::new(&mi250x, Dtype::Fp16).unwrap();
        // PyTorch's 2304 x n x 4096 is rocBLAS's M = n, N = 2304. The nearest benchmarked size of n = 1792 and
        // 1856 is [2048, 2048, 3840] (aldebaran_Cijk_Ailk_Bljk_HHS_BH.yaml @ dd5b39d05), solution 31: a 256 x 160
        // macro tile. n = 1792: 7 x 15 = 105 tiles, one wave of 110 CUs; n = 1856: 8 x 15 = 120, two waves.
        let a = ctx.schedule(2304.0, 1792.0, 4096.0, 1.0);
        let b = ctx.schedule(2304.0, 1856.0, 4096.0, 1.0);
        assert_eq!(
            (a.tile_m, a.tile_n, a.tiles, a.waves),
            (160.0, 256.0, 105.0, 1.0)
        );
        assert_eq!(
            (b.tile_m, b.tile_n, b.tiles, b.waves),
            (160.0, 256.0, 120.0, 2.0)
        );
        assert!((b.compute_s / a.compute_s - 2.0).abs() < 1e-12);
        // n = 3264 is as near [2944, 2368, 3328] (solution 29, 128 x 128, benchmarked 80.726 GFLOP/s) as
        // [3584, 2368, 3328] (solution 31, 80.075): the faster benchmark wins.
        let t = lib.select([3264.0, 2304.0, 4096.0], 1.0).unwrap();
        assert_eq!((t.tile_m, t.tile_n), (128.0, 128.0));
        // m <= 256 runs a 4 x 16 vector kernel with global split-U 8 (solution 242).
        let v = lib.select([256.0, 256.0, 4096.0], 1.0).unwrap();
        assert_eq!(
            (v.tile_m, v.tile_n, v.split_k, v.matrix),
            (4.0, 16.0, 8.0, false)
        );
        // gfx942 kernels also bound K (AssertSizeLessThan {3: 65}) and K and the batch from below
        // (AssertSizeGreaterThan {3: 16}, {2: 151}); both bounds strict, as Tensile's predicates.
        let bounded = crate::hw::device::GemmSolution {
            tile_m: 256.0,
            tile_n: 128.0,
            split_k: 1.0,
            matrix: true,
            multiples: [1.0; 3],
            below: [f64::INFINITY, f64::INFINITY, 65.0],
            above_k: 16.0,
            above_batch: 151.0,
        };
        assert!(bounded.can_solve([512.0, 512.0, 64.0], 152.0));
        assert!(!bounded.can_solve([512.0, 512.0, 65.0], 152.0));
        assert!(!bounded.can_solve([512.0, 512.0, 16.0], 152.0));
        assert!(!bounded.can_solve([512.0, 512.0, 64.0], 151.0));
        // bf16 has no table: the generic tile set, with the alignment penalty.
        let bf = GemmContext::new(&mi250x, Dtype::Bf16).unwrap();
        assert!(bf.library.is_none());
        assert_eq!(bf.schedule(8192.0, 8192.0, 8192.0, 1.0).tile_m, 256.0);
        // Every NVIDIA device prices on the generic tiles.
        for id in reg.ids("device") {
            let dev = reg.get(&id).unwrap().device().unwrap();
            if dev.vendor == "nvidia" {
                assert!(dev.gemm_library.is_none(), "{id}");
            }
        }
    }

    #[test]
    fn gemm_columns_match_the_reference_bit_for_bit() {
        let reg = hw::registry().unwrap();
        let mut rng = Rng(42);
        let len = 3 * MIN_TASK + 77;
        for id in reg.ids("device") {
            let dev = reg.get(&id).unwrap().device().unwrap();
            for (dtype, layout) in Dtype::ALL
                .into_iter()
                .flat_map(|d| [(d, Layout::Row), (d, Layout::Tn)])
            {
                let Ok(ctx) = GemmContext::new(&dev, dtype) else {
                    continue;
                };
                let ctx = ctx.with_layout(layout);
                let cols: Vec<Vec<f64>> = (0..4)
                    .map(|c| {
                        (0..len)
                            .map(|_| {
                                if c == 3 && rng.next() % 2 == 0 {
                                    1.0
                                } else {
                                    rng.size()
                                }
                            })
                            .collect()
                    })
                    .collect();
                let (m, n, k, b) = (&cols[0], &cols[1], &cols[2], &cols[3]);
                let peak = 989.4;
                let out = gemm_columns(&dev, dtype, layout, m, n, k, b, peak).unwrap();
                let has_avx2_fma = cfg!(target_arch = "x86_64") && avx2_fma();
                let mut portable = KernelColumns::zeroed(len);
                let mut avx2 = KernelColumns::zeroed(len);
                for start in (0..len).step_by(BLOCK) {
                    let r = start..(start + BLOCK).min(len);
                    let args = (&m[r.clone()], &n[r.clone()], &k[r.clone()], &b[r.clone()]);
                    let mut p = window(&mut portable, r.clone());
                    ctx.fill_block::<Portable>(args.0, args.1, args.2, args.3, &mut p, 1.0 / peak);
                    #[cfg(target_arch = "x86_64")]
                    if has_avx2_fma {
                        let mut a = window(&mut avx2, r);
                        // SAFETY: the CPU has AVX2 and FMA (checked above).
                        unsafe {
                            fill_block_avx2(
                                &ctx,
                                args.0,
                                args.1,
                                args.2,
                                args.3,
                                &mut a,
                                1.0 / peak,
                            )
                        };
                    }
                }
                for i in 0..len {
                    let e = reference_gemm(&ctx, m[i], n[i], k[i], b[i]);
                    let what = || {
                        format!(
                            "{id} {dtype:?} m={} n={} k={} batch={}",
                            m[i], n[i], k[i], b[i]
                        )
                    };
                    for c in [&out, &portable] {
                        assert!(same_bits(c.time_s[i], e.time_s), "time {}", what());
                        assert!(same_bits(c.flops[i], e.flops), "flops {}", what());
                        assert!(same_bits(c.hbm_bytes[i], e.hbm_bytes), "bytes {}", what());
                        assert_eq!(c.bound[i], e.bound as u8, "bound {}", what());
                        let tflops = e.flops / e.time_s * 1e-12;
                        assert!(same_bits(c.tflops[i], tflops), "tflops {}", what());
                        assert!(
                            same_bits(c.gbps[i], e.hbm_bytes / e.time_s * 1e-9),
                            "gbps {}",
                            what()
                        );
                        assert!(
                            same_bits(c.intensity[i], e.flops / e.hbm_bytes),
                            "intensity {}",
                            what()
                        );
                        assert!(
                            same_bits(c.fraction_of_peak[i], tflops * (1.0 / peak)),
                            "fraction {}",
                            what()
                        );
                    }
                    if has_avx2_fma {
                        assert!(same_bits(avx2.time_s[i], e.time_s), "avx2 time {}", what());
                        assert_eq!(avx2.bound[i], e.bound as u8, "avx2 bound {}", what());
                        assert!(
                            same_bits(avx2.fraction_of_peak[i], out.fraction_of_peak[i]),
                            "avx2 {}",
                            what()
                        );
                    }
                    let scalar = ctx.estimate(m[i], n[i], k[i], b[i]);
                    assert!(same_bits(scalar.time_s, e.time_s), "estimate {}", what());
                    assert_eq!(scalar.bound, e.bound, "estimate bound {}", what());
                }
            }
        }
    }

    #[test]
    fn vectorized_errors_name_the_first_bad_element_and_come_before_dtype_errors() {
        let reg = hw::registry().unwrap();
        let h100 = reg.get("h100-sxm5-80gb").unwrap().device().unwrap();
        let a100 = reg.get("a100-sxm4-80gb").unwrap().device().unwrap();
        let mut m = vec![1024.0; 50_000];
        let ones = vec![1.0; 50_000];
        m[40_000] = f64::NAN;
        m[45_000] = -1.0;
        let err = gemm_columns(
            &h100,
            Dtype::Bf16,
            Layout::Row,
            &m,
            &ones,
            &ones,
            &ones,
            1.0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`m`") && err.contains("element 40000 is NaN"),
            "{err}"
        );
        // Bad sizes are reported before a dtype the device lacks.
        let err = gemm_columns(&a100, Dtype::Fp8, Layout::Row, &m, &ones, &ones, &ones, 1.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("element 40000"), "{err}");
        assert!(gemm_columns(
            &a100,
            Dtype::Fp8,
            Layout::Row,
            &ones,
            &ones,
            &ones,
            &ones,
            1.0
        )
        .is_err());
        // Output windows must match the inputs.
        let mut out = KernelColumns::zeroed(3);
        let err = gemm_columns_into(
            &h100,
            Dtype::Bf16,
            Layout::Row,
            &ones,
            &ones,
            &ones,
            &ones,
            1.0,
            out.as_mut(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("out"), "{err}");
        let err = stream_columns(
            &h100,
            Dtype::Bf16,
            &[1.0, 0.0],
            &[1.0, 0.0],
            &[0.0, 0.0],
            1.0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("element 1") && err.contains("read + written"),
            "{err}"
        );
    }
}
