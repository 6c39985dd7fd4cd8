//! Accelerator specs: peaks per dtype and unit, memory levels, power and calibrated efficiencies.
use super::dtype::Dtype;
use super::reader::Fields;
use crate::error::{Error, Result};
use std::sync::{Mutex, OnceLock};

/// Bytes in a GiB.
const GIB: f64 = 1_073_741_824.0;

/// One level of the memory hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryLevel {
    pub name: &'static str,
    pub capacity_bytes: f64,
    /// Peak bandwidth, bytes/s; `None` where no sourced figure exists (the level is then not a ceiling).
    pub bandwidth_bytes_per_s: Option<f64>,
}

/// The work model of fused (FlashAttention-2-style) attention kernels: one thread block per 128 query rows
/// (forward) or 128 key rows (backward), 128 x 128 tiles; see `roofline::AttentionContext`. Fitted per device
/// (hwdb `[efficiency]` `attention_*_ratio` / `attention_bwd_rate_fraction`); a device without measurements
/// inherits them (`inherit_from`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionSchedule {
    /// Fixed cost of one forward block (load Q, write O and its log-sum-exp), in d = 128 tile times.
    pub fwd_block_tiles: f64,
    /// Fixed cost of one backward block (write dK, dV; its share of the dO.O pre-pass and of the fp32 dQ
    /// accumulator), in d = 128 tile times.
    pub bwd_block_tiles: f64,
    /// Extra cost of the masked diagonal tile of a causal block, in tiles.
    pub diagonal_tiles: f64,
    /// Matrix rate of the backward relative to the forward.
    pub bwd_rate: f64,
    /// Non-matrix work (online softmax: scale, max, exp, row sums, rescale) per score of a tile, in multiples
    /// of the d = 128 matrix work of that score (`roofline::AttentionTiles`); 0 where absent.
    pub softmax: f64,
}

/// `[efficiency]` keys a device may leave out and take from the device it names in `inherit_from` (or, when it
/// names none, from [`DEFAULT_INHERIT_FROM`]): figures fitted on one device's measurements and assumed for
/// devices that have none.
pub const INHERITABLE_EFFICIENCY: &[&str] = &[
    "attention_fwd_block_tiles_ratio",
    "attention_bwd_block_tiles_ratio",
    "attention_diagonal_tiles_ratio",
    "attention_bwd_rate_fraction",
    "attention_softmax_ratio",
    "hbm_write_penalty_ratio",
    "overlap_exponent",
];

/// The device whose measurements the inheritable efficiency figures were fitted on, inherited by a device that
/// gives neither the figures nor `inherit_from` (a user's file written before these figures existed).
pub const DEFAULT_INHERIT_FROM: &str = "h100-sxm5-80gb";

/// Fractions of peak that well-tuned kernels reach, fitted per device (hwdb `[efficiency]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Efficiency {
    /// Large-GEMM fraction of the matrix peak for 16-bit inputs (bf16/fp16).
    pub gemm_16bit: f64,
    /// Same for 8-bit inputs (fp8/int8); defaults to the 16-bit value.
    pub gemm_8bit: f64,
    /// Same for 32/64-bit inputs (tf32/fp32/fp64); defaults to the 16-bit value.
    pub gemm_32bit: f64,
    /// Same for block-scaled 4-bit inputs (nvfp4/mxfp4): below the 8-bit fraction where the scale loads, the
    /// per-block rescaling and the activation quantization keep a GEMM further from its peak. Required (measured
    /// or an explicit assumption) when the device declares a 4-bit peak; `None` otherwise.
    pub gemm_4bit: Option<f64>,
    /// Same for block-scaled 6-bit inputs (mxfp6); required when the device declares a 6-bit peak.
    pub gemm_6bit: Option<f64>,
    /// Fraction of HBM peak reached by a large read-only stream.
    pub hbm: f64,
    /// Fraction of the 16-bit GEMM rate that flash-style attention reaches (FlashAttention-2).
    pub attention: f64,
    /// Same for cuDNN's fused attention, where measured.
    pub attention_cudnn: Option<f64>,
    /// Same, fitted with cuDNN's non-matrix softmax work priced as its own resource (at `special_function_peak`
    /// and the FP32 rate; `roofline::AttentionContext`); when given (with the special-function rate), cuDNN is
    /// priced that way at this fraction instead of `attention_cudnn`.
    pub attention_cudnn_softmax: Option<f64>,
    /// Fraction of the aligned GEMM rate left when a leading dimension is not a multiple of 16 bytes (the
    /// library falls back from its aligned kernels); 1 where no measurement says otherwise.
    pub unaligned_gemm: f64,
    /// Same when a leading dimension is not even a multiple of 4 bytes (an odd number of 16-bit elements: the
    /// library's narrowest-alignment kernels, CUTLASS's `align1`); `unaligned_gemm` where no measurement says
    /// otherwise.
    pub odd_gemm: f64,
    /// Fraction of the GEMM rate a strided-batched GEMM (batch >= 2) reaches: PyTorch's `bmm`/`baddbmm` call
    /// `cublasGemmStridedBatchedEx`, whose kernels are chosen apart from the GEMM's, while a batch of one runs the
    /// GEMM kernels (PyTorch >= 2.2 calls the GEMM for it, pytorch/pytorch PR #116518; cuBLAS 11 ran a batch count
    /// of one as fast as its GEMM, issue #114911); 1 where no measurement says otherwise.
    pub batched_gemm: f64,
    /// Fraction of the HBM peak that the device's GEMM kernels reach streaming their operands, where it is below
    /// what a plain read stream reaches (`hbm`): a GEMM then takes at least its HBM bytes at this rate, joined to
    /// the rest of its time by a plain maximum (hwdb `gemm_stream_fraction`; `roofline::GemmContext`). `None`: no
    /// such floor. V100's is fitted on the cookbook's tall-skinny GEMMs (27648 x n x 4096, n <= 128).
    pub gemm_stream: Option<f64>,
    /// Fraction of the HBM stream rate (`hbm` x peak) that an FP8 cast pass reaches: scale, convert and amax of a
    /// 16-bit tensor, optionally with its transposed fp8 copy (Transformer Engine's `cast_transpose`); 1 where no
    /// measurement says otherwise. Not inheritable through `inherit_from` (a device names one parent for all its
    /// inherited figures): a device without cast measurements states the value it assumes and whose it is in
    /// `fitted_on` (H100 SXM5 takes H200's).
    pub fp8_cast: f64,
    /// Fraction of the matrix (or, for a vector kernel, vector) peak that the kernels of the device's
    /// `[gemm_library]` reach, for the GEMMs priced through it; the dtype's GEMM fraction where absent. Fitted on
    /// rows priced on the library's kernels, so it applies to those GEMMs only.
    pub gemm_library: Option<f64>,
    /// Fraction of the vector peak that the vector-unit kernels of the device's `[gemm_library]` reach (hwdb
    /// `gemm_library_vector_fraction`); `gemm_library` where absent. Fitted on rows priced on those kernels.
    pub gemm_library_vector: Option<f64>,
    /// Operand-feed penalty of a `[gemm_library]` matrix kernel by its macro tile (tm x tn): the kernel reaches
    /// `gemm_library` / (1 + (edge x (1/tm + 1/tn))^exponent) of the peak, the operand bytes per FLOP of a tile
    /// growing as 1/tm + 1/tn (hwdb `gemm_library_feed_ratio`, an edge in elements, and
    /// `gemm_library_feed_exponent`); `None`: every tile at the same rate.
    pub gemm_library_feed: Option<(f64, f64)>,
    /// Fixed cost per output tile (prologue/epilogue), seconds.
    pub tile_overhead_s: f64,
    /// Kernel launch and synchronisation overhead, seconds.
    pub launch_overhead_s: f64,
    /// The fused-attention work model's constants.
    pub attention_schedule: AttentionSchedule,
    /// Extra cost of a written byte relative to a read byte on HBM (read/write turnaround).
    pub hbm_write_penalty: f64,
    /// Exponent p of the smooth maximum (a^p + b^p)^(1/p) joining compute and memory time (>= 1).
    pub overlap_exponent: f64,
    /// The device the inheritable figures this file does not give were taken from.
    pub inherit_from: Option<String>,
    /// What the fractions were fitted on.
    pub fitted_on: String,
}

/// How the vendor GEMM library schedules a GEMM's output tiles over the compute units (hwdb
/// `compute.gemm_tile_scheduler`; the GEMM model in `roofline.rs` prices each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmTileScheduler {
    /// One thread block per output tile, launched in waves of one tile per unit: the last wave runs part-empty
    /// (wave quantization). The default.
    Waves,
    /// Persistent kernels that split the K loop of the tail tiles over the units (stream-K, Osama et al.,
    /// PPoPP 2023; CUTLASS 3.x `PersistentTileSchedulerSm90StreamK`): the work quantizes per K tile, not per
    /// output tile.
    StreamK,
}

impl GemmTileScheduler {
    pub const NAMES: [&'static str; 2] = ["waves", "stream_k"];

    pub fn name(self) -> &'static str {
        match self {
            GemmTileScheduler::Waves => Self::NAMES[0],
            GemmTileScheduler::StreamK => Self::NAMES[1],
        }
    }
}

/// An accelerator (a GPU, or one GCD of a multi-die package as the scheduler sees it).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub vendor: String,
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD).
    pub compute_units: u32,
    pub unit_name: String,
    /// How the vendor GEMM library schedules output tiles over the units (hwdb `compute.gemm_tile_scheduler`).
    pub gemm_tile_scheduler: GemmTileScheduler,
    pub boost_clock_mhz: f64,
    /// Dense matrix (tensor core / matrix core) peaks, FLOP/s, indexed like `Dtype::ALL`.
    pub matrix_peak: [Option<f64>; Dtype::ALL.len()],
    /// Dense vector (CUDA core / SIMD) peaks, FLOP/s.
    pub vector_peak: [Option<f64>; Dtype::ALL.len()],
    /// Special-function (exp2, log2, reciprocal, ...) results per second of the whole device, where a source gives
    /// the per-unit rate (hwdb `compute.special_function_tflops`): the rate of a softmax's exponentials.
    pub special_function_peak: Option<f64>,
    pub hbm: MemoryLevel,
    pub l2: Option<MemoryLevel>,
    /// Last-level cache beyond L2 (AMD Infinity Cache).
    pub llc: Option<MemoryLevel>,
    /// One compute unit's share of the L2 bandwidth when every unit streams from it, bytes/s (hwdb
    /// `memory.l2_bandwidth_per_unit_gbps`): the rate at which a stream-K unit writes or reads a partial tile
    /// (`roofline::GemmContext`); `None` where no sourced figure exists (the partial-sum fixup is then not priced).
    pub l2_bandwidth_per_unit: Option<f64>,
    pub tdp_w: f64,
    /// The power model's figures (hwdb `[power]` beyond `tdp_w`); see [`crate::power`].
    pub power: PowerFigures,
    pub efficiency: Efficiency,
    /// Whether the vendor library's unbatched GEMM splits K across compute units its output tiles leave idle
    /// (hwdb `compute.gemm_split_k`; false when absent): see `roofline::GemmContext`.
    pub gemm_split_k: bool,
    /// What one GPU of this kind rents for (hwdb `[price]`), where a sourced, dated price exists.
    pub price: Option<Price>,
    /// The GEMM library's size-to-kernel selection (hwdb `[gemm_library]`), where sourced; the roofline
    /// engine prices a GEMM of its dtype on the kernel it selects.
    pub gemm_library: Option<&'static GemmLibrary>,
}

/// hwdb `[power]` figures beyond the TDP, as the file gives them (absent ones are inherited at use, see
/// [`crate::power::PowerModel::of_device`]): the published idle power, and the fitted busy, compute and memory
/// terms as fractions of the TDP (so that a sibling device without measurements scales them to its own TDP).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PowerFigures {
    /// Board power with nothing running (published or measured), W.
    pub idle_w: Option<f64>,
    /// Power above idle of a GPU running kernels at its boost clock, regardless of their work, / TDP (fitted).
    pub active: Option<f64>,
    /// Power above that at the full dense matrix peak, / TDP (fitted).
    pub compute: Option<f64>,
    /// Power above that at the full HBM bandwidth, / TDP (fitted).
    pub memory: Option<f64>,
    /// What `active`, `compute` and `memory` were fitted on.
    pub fitted_on: Option<String>,
}

/// An hourly rental price of one GPU (hwdb `[price]`): a figure with its offer and the date it was quoted.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// On-demand price of one GPU, US dollars per hour.
    pub on_demand_usd_per_h: f64,
    /// The offer quoted (provider and instance), as the source names it.
    pub offer: String,
    /// When the price was quoted (ISO date, year-month at least).
    pub date: String,
}

/// One kernel of a GEMM library's selection table (hwdb `[gemm_library]`, Tensile's "solution").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmSolution {
    /// Output macro tile (rows x columns of the column-major C the library computes).
    pub tile_m: f64,
    pub tile_n: f64,
    /// Global split-U: workgroups per output tile, each running `k / split_k` of the inner loop.
    pub split_k: f64,
    /// Whether the kernel runs on the matrix cores (MFMA); false: on the vector units.
    pub matrix: bool,
    /// M, N and K must be multiples of these (Tensile's `AssertFree0ElementMultiple`,
    /// `AssertFree1ElementMultiple`, `AssertSummationElementMultiple`).
    pub multiples: [f64; 3],
    /// M, N and K must be below these (`AssertSizeLessThan`); infinite where unbounded.
    pub below: [f64; 3],
    /// K and the batch count must be above these (`AssertSizeGreaterThan`); 0 where unbounded.
    pub above_k: f64,
    pub above_batch: f64,
}

impl GemmSolution {
    /// Whether the kernel can run `batch` M x N x K problems (its size predicates hold).
    pub fn can_solve(&self, key: [f64; 3], batch: f64) -> bool {
        key.iter().zip(self.multiples).all(|(x, q)| x % q == 0.0)
            && key.iter().zip(self.below).all(|(x, b)| *x < b)
            && key[2] > self.above_k
            && batch > self.above_batch
    }
}

/// A benchmarked size of a GEMM library's selection table: (M, N, K), the kernel the library runs there and
/// the speed it measured (GFLOP/s, which breaks ties between equally distant sizes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LibrarySize {
    pub key: [f64; 3],
    pub solution: usize,
    pub speed: f64,
}

/// A GEMM library's size-to-kernel selection for one dtype on one device (hwdb `[gemm_library]`): the kernels
/// and the sizes they were benchmarked fastest at. A problem runs the kernel of the nearest benchmarked size
/// (Euclidean distance over M, N, K) whose predicates hold, as Tensile's matching library selects
/// ([`GemmLibrary::select`]). M and N are the library's column-major dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct GemmLibrary {
    /// The input dtype the table is for; other dtypes take the engine's generic tile set.
    pub dtype: Dtype,
    pub solutions: Vec<GemmSolution>,
    /// Sorted by key (lexicographically).
    pub sizes: Vec<LibrarySize>,
    /// Where the table comes from.
    pub source: String,
}

impl GemmLibrary {
    /// The kernel Tensile's `DistanceMatchingTable::findBestKeyMatch_BinSearch` picks for `key` (M, N, K) with the
    /// Euclidean distance: from the first size not below `key`, scan right then left, stopping where the M
    /// distance alone reaches the best distance; a size is taken when strictly nearer, or as near and
    /// benchmarked faster, and its kernel's predicates hold for `batch` problems (ROCm/Tensile
    /// `Tensile/Source/lib/include/Tensile/PropertyMatching.hpp` and `Distance.hpp` @ a164ed70d). `None` when
    /// no kernel can run the problem.
    pub fn select(&self, key: [f64; 3], batch: f64) -> Option<&GemmSolution> {
        let start = self.sizes.partition_point(|s| lex_less(s.key, key));
        let mut best: Option<(f64, f64, usize)> = None;
        let mut visit = |s: &LibrarySize| -> bool {
            let d0 = key[0] - s.key[0];
            if let Some((bd, _, _)) = best {
                if !(d0 * d0 < bd || s.key == key) {
                    return false;
                }
            }
            let d: f64 = key.iter().zip(s.key).map(|(a, b)| (a - b) * (a - b)).sum();
            let better = match best {
                None => true,
                Some((bd, bs, _)) => d < bd || (d == bd && s.speed > bs),
            };
            if better && self.solutions[s.solution].can_solve(key, batch) {
                best = Some((d, s.speed, s.solution));
            }
            true
        };
        for s in &self.sizes[start..] {
            if !visit(s) {
                break;
            }
        }
        for s in self.sizes[..start].iter().rev() {
            if !visit(s) {
                break;
            }
        }
        best.map(|(_, _, i)| &self.solutions[i])
    }

    /// Reads `[gemm_library]`: `dtype`, `solutions` (rows of macro tile M, macro tile N, global split-U, matrix
    /// cores 1 or vector units 0, M multiple, N multiple, K multiple, M below, N below, K below, with 0 for
    /// unbounded, K above, batch above, with 0 for unbounded) and
    /// `sizes` (rows of M, N, K, solution index, benchmarked GFLOP/s).
    fn read(g: &Fields<'_>) -> Result<GemmLibrary> {
        let dtype =
            Dtype::parse(&g.req_string("dtype")?).map_err(|e| g.error("dtype", e.to_string()))?;
        let solutions: Vec<GemmSolution> = g
            .rows("solutions", 12)?
            .ok_or_else(|| g.error("solutions", "is missing; expected rows of 12 numbers"))?
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if r[0] < 1.0
                    || r[1] < 1.0
                    || r[2] < 1.0
                    || r[4] < 1.0
                    || r[5] < 1.0
                    || r[6] < 1.0
                    || r[3] > 1.0
                    || r[7..].iter().any(|x| *x < 0.0)
                {
                    return Err(g.error(
                        "solutions",
                        format!("row {i}: expected tiles, split and multiples >= 1, matrix 0 or 1 and bounds >= 0, found {r:?}"),
                    ));
                }
                let below = |x: f64| if x == 0.0 { f64::INFINITY } else { x };
                Ok(GemmSolution {
                    tile_m: r[0],
                    tile_n: r[1],
                    split_k: r[2],
                    matrix: r[3] == 1.0,
                    multiples: [r[4], r[5], r[6]],
                    below: [below(r[7]), below(r[8]), below(r[9])],
                    above_k: r[10],
                    above_batch: r[11],
                })
            })
            .collect::<Result<_>>()?;
        let mut sizes: Vec<LibrarySize> = g
            .rows("sizes", 5)?
            .ok_or_else(|| g.error("sizes", "is missing; expected rows of 5 numbers"))?
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let solution = r[3] as usize;
                if solution >= solutions.len() || r[3].fract() != 0.0 {
                    return Err(g.error(
                        "sizes",
                        format!(
                            "row {i}: solution {} is not one of the {} solutions",
                            r[3],
                            solutions.len()
                        ),
                    ));
                }
                Ok(LibrarySize {
                    key: [r[0], r[1], r[2]],
                    solution,
                    speed: r[4],
                })
            })
            .collect::<Result<_>>()?;
        sizes.sort_by(|a, b| {
            a.key
                .partial_cmp(&b.key)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let source = g.req_string("source")?;
        Ok(GemmLibrary {
            dtype,
            solutions,
            sizes,
            source,
        })
    }
}

/// One shared copy per distinct table for the life of the process (a device is re-read on every override and
/// registration; its table is not), so the GEMM engine's per-call context stays `Copy`.
fn intern(lib: GemmLibrary) -> &'static GemmLibrary {
    static TABLES: OnceLock<Mutex<Vec<&'static GemmLibrary>>> = OnceLock::new();
    let mut tables = TABLES
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(t) = tables.iter().find(|t| ***t == lib) {
        return t;
    }
    let t: &'static GemmLibrary = Box::leak(Box::new(lib));
    tables.push(t);
    t
}

fn lex_less(a: [f64; 3], b: [f64; 3]) -> bool {
    a.partial_cmp(&b) == Some(std::cmp::Ordering::Less)
}

fn idx(d: Dtype) -> usize {
    Dtype::ALL.iter().position(|x| *x == d).unwrap()
}

impl Device {
    /// Dense peak on the matrix units for `dtype`, FLOP/s.
    pub fn matrix_peak(&self, d: Dtype) -> Option<f64> {
        self.matrix_peak[idx(d)]
    }

    /// Dense peak on the vector units for `dtype`, FLOP/s.
    pub fn vector_peak(&self, d: Dtype) -> Option<f64> {
        self.vector_peak[idx(d)]
    }

    /// The peak a GEMM in `dtype` runs at: matrix units when present, else vector units.
    pub fn gemm_peak(&self, d: Dtype) -> Result<f64> {
        self.matrix_peak(d)
            .or_else(|| self.vector_peak(d))
            .ok_or_else(|| {
                let have: Vec<&str> = Dtype::ALL
                    .iter()
                    .filter(|x| self.matrix_peak(**x).is_some() || self.vector_peak(**x).is_some())
                    .map(|x| x.name())
                    .collect();
                Error::Unsupported {
                    message: format!(
                        "device '{}' has no {} support; it computes in {}",
                        self.id,
                        d.name(),
                        have.join(", ")
                    ),
                }
            })
    }

    /// Large-GEMM fraction of peak for `dtype` (a block-scaled format without its fraction, which the reader
    /// rejects for a declared peak, falls back to the 8-bit one).
    pub fn gemm_fraction(&self, d: Dtype) -> f64 {
        match d {
            Dtype::Bf16 | Dtype::Fp16 => self.efficiency.gemm_16bit,
            Dtype::Fp8 | Dtype::Int8 => self.efficiency.gemm_8bit,
            Dtype::Tf32 | Dtype::Fp32 | Dtype::Fp64 => self.efficiency.gemm_32bit,
            Dtype::Nvfp4 | Dtype::Mxfp4 => self
                .efficiency
                .gemm_4bit
                .unwrap_or(self.efficiency.gemm_8bit),
            Dtype::Fp6 => self
                .efficiency
                .gemm_6bit
                .unwrap_or(self.efficiency.gemm_8bit),
        }
    }

    /// HBM peak bandwidth, bytes/s.
    pub fn hbm_bandwidth(&self) -> f64 {
        self.hbm.bandwidth_bytes_per_s.unwrap_or(f64::INFINITY)
    }

    /// Memory levels from the device outward: L2, LLC, HBM (those present).
    pub fn memory_levels(&self) -> Vec<&MemoryLevel> {
        self.l2
            .iter()
            .chain(self.llc.iter())
            .chain(std::iter::once(&self.hbm))
            .collect()
    }

    /// Reads a `kind = "device"` file.
    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<Device> {
        let vendor = root.choice("vendor", &["nvidia", "amd", "intel", "other"])?;
        let c = root.req_section("compute")?;
        let compute_units = c.req_figure("units_count")? as u32;
        let unit_name = c.string("unit_name")?.unwrap_or_else(|| "unit".into());
        let gemm_tile_scheduler =
            match c.sourced_choice("gemm_tile_scheduler", &GemmTileScheduler::NAMES)? {
                Some(s) if s == "stream_k" => GemmTileScheduler::StreamK,
                _ => GemmTileScheduler::Waves,
            };
        let boost_clock_mhz = c.req_figure("boost_clock_mhz")?;
        let gemm_split_k = c.boolean("gemm_split_k")?.unwrap_or(false);
        let t = 1e12;
        let m = |k| -> Result<Option<f64>> { Ok(c.figure(k)?.map(|x| x * t)) };
        let matrix_peak = [
            m("matrix_fp64_tflops")?,
            m("matrix_fp32_tflops")?,
            m("matrix_tf32_tflops")?,
            m("matrix_bf16_tflops")?,
            m("matrix_fp16_tflops")?,
            m("matrix_fp8_tflops")?,
            m("matrix_int8_tops")?,
            m("matrix_fp6_tflops")?,
            m("matrix_nvfp4_tflops")?,
            m("matrix_mxfp4_tflops")?,
        ];
        let vector_peak = [
            m("vector_fp64_tflops")?,
            m("vector_fp32_tflops")?,
            None,
            m("vector_bf16_tflops")?,
            m("vector_fp16_tflops")?,
            None,
            None,
            None,
            None,
            None,
        ];
        let special_function_peak = m("special_function_tflops")?;
        c.finish()?;
        if matrix_peak
            .iter()
            .chain(vector_peak.iter())
            .all(Option::is_none)
        {
            return Err(root.error(
                "compute",
                "declares no peak; expected at least one `matrix_*_tflops` or `vector_*_tflops`",
            ));
        }

        let mem = root.req_section("memory")?;
        // Capacity in the datasheet's unit: GiB (HBM stacks are binary; an "80 GB" H100 holds 80 GiB) or vendor
        // GB where a datasheet really means 10^9 bytes.
        let capacity_bytes = match (
            mem.figure("hbm_capacity_gib")?,
            mem.figure("hbm_capacity_gb")?,
        ) {
            (Some(gib), None) => gib * GIB,
            (None, Some(gb)) => gb * 1e9,
            (Some(_), Some(_)) => {
                return Err(mem.error(
                    "hbm_capacity_gb",
                    "is given together with `hbm_capacity_gib`; expected one of them (the datasheet's unit)",
                ))
            }
            // The reader's own message: a key without its unit, a misspelling, or the missing key.
            (None, None) => return Err(mem.req_figure("hbm_capacity_gib").unwrap_err()),
        };
        let hbm = MemoryLevel {
            name: "hbm",
            capacity_bytes,
            bandwidth_bytes_per_s: Some(mem.req_figure("hbm_bandwidth_gbps")? * 1e9),
        };
        let l2 = read_level(
            &mem,
            "l2",
            mem.figure("l2_capacity_mib")?,
            mem.figure("l2_bandwidth_gbps")?,
        )?;
        let llc = read_level(
            &mem,
            "llc",
            mem.figure("llc_capacity_mib")?,
            mem.figure("llc_bandwidth_gbps")?,
        )?;
        let l2_bandwidth_per_unit = mem.figure("l2_bandwidth_per_unit_gbps")?.map(|b| b * 1e9);
        mem.finish()?;

        let p = root.req_section("power")?;
        let tdp_w = p.req_figure("tdp_w")?;
        let power = read_power(&p, tdp_w)?;
        p.finish()?;

        let e = root.req_section("efficiency")?;
        let gemm_16bit = e.req_figure("gemm_16bit_fraction")?;
        let unaligned_gemm = e.figure("unaligned_gemm_fraction")?.unwrap_or(1.0);
        let efficiency = Efficiency {
            gemm_16bit,
            gemm_8bit: e.figure("gemm_8bit_fraction")?.unwrap_or(gemm_16bit),
            gemm_32bit: e.figure("gemm_32bit_fraction")?.unwrap_or(gemm_16bit),
            gemm_4bit: e.figure("gemm_4bit_fraction")?,
            gemm_6bit: e.figure("gemm_6bit_fraction")?,
            hbm: e.req_figure("hbm_fraction")?,
            attention: e.req_figure("attention_fraction")?,
            attention_cudnn: e.figure("attention_cudnn_fraction")?,
            attention_cudnn_softmax: e.figure("attention_cudnn_softmax_fraction")?,
            unaligned_gemm,
            odd_gemm: e.figure("odd_gemm_fraction")?.unwrap_or(unaligned_gemm),
            batched_gemm: e.figure("batched_gemm_fraction")?.unwrap_or(1.0),
            gemm_stream: e.figure("gemm_stream_fraction")?,
            fp8_cast: e.figure("fp8_cast_fraction")?.unwrap_or(1.0),
            gemm_library: e.figure("gemm_library_fraction")?,
            gemm_library_vector: e.figure("gemm_library_vector_fraction")?,
            gemm_library_feed: match (
                e.figure("gemm_library_feed_ratio")?,
                e.figure("gemm_library_feed_exponent")?,
            ) {
                (Some(edge), Some(exponent)) => Some((edge, exponent)),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(e.error(
                        "gemm_library_feed_exponent",
                        "is missing; gemm_library_feed_ratio needs it",
                    ))
                }
                (None, Some(_)) => {
                    return Err(e.error(
                        "gemm_library_feed_ratio",
                        "is missing; gemm_library_feed_exponent needs it",
                    ))
                }
            },
            tile_overhead_s: e.req_figure("tile_overhead_us")? * 1e-6,
            launch_overhead_s: e.req_figure("launch_overhead_us")? * 1e-6,
            // Present after `inherit_from` was resolved (hw::resolve_references).
            attention_schedule: AttentionSchedule {
                fwd_block_tiles: e.req_figure("attention_fwd_block_tiles_ratio")?,
                bwd_block_tiles: e.req_figure("attention_bwd_block_tiles_ratio")?,
                diagonal_tiles: e.req_figure("attention_diagonal_tiles_ratio")?,
                bwd_rate: e.req_figure("attention_bwd_rate_fraction")?,
                softmax: e.figure("attention_softmax_ratio")?.unwrap_or(0.0),
            },
            hbm_write_penalty: e.req_figure("hbm_write_penalty_ratio")?,
            overlap_exponent: e.req_figure("overlap_exponent")?,
            inherit_from: e.string("inherit_from")?,
            fitted_on: e.req_string("fitted_on")?,
        };
        let declares = |d: Dtype| matrix_peak[idx(d)].is_some();
        for (fraction, key, dtypes) in [
            (
                efficiency.gemm_4bit,
                "gemm_4bit_fraction",
                &[Dtype::Nvfp4, Dtype::Mxfp4][..],
            ),
            (
                efficiency.gemm_6bit,
                "gemm_6bit_fraction",
                &[Dtype::Fp6][..],
            ),
        ] {
            if let Some(d) = dtypes.iter().find(|d| declares(**d)) {
                if fraction.is_none() {
                    return Err(e.error(
                        key,
                        format!(
                            "is missing; `compute.matrix_{}_tflops` is declared, and a block-scaled GEMM does not \
                             reach the 8-bit fraction (scale loads, per-block rescaling, activation quantization): \
                             give a measured fraction or an explicit assumption with its source",
                            d.name()
                        ),
                    ));
                }
            }
        }
        if efficiency.overlap_exponent < 1.0 {
            return Err(e.error(
                "overlap_exponent",
                format!(
                    "is {}; expected an exponent >= 1 (1: compute and memory add up; large: they overlap fully)",
                    efficiency.overlap_exponent
                ),
            ));
        }
        e.finish()?;

        let price = match root.section("price")? {
            Some(p) => {
                let price = Price {
                    on_demand_usd_per_h: p.req_figure("on_demand_usd_per_h")?,
                    offer: p.req_string("offer")?,
                    date: p.req_string("date")?,
                };
                p.finish()?;
                Some(price)
            }
            None => None,
        };
        let gemm_library = match root.section("gemm_library")? {
            Some(g) => {
                let lib = GemmLibrary::read(&g)?;
                g.finish()?;
                Some(intern(lib))
            }
            None => None,
        };
        Ok(Device {
            id,
            name,
            vendor,
            compute_units,
            unit_name,
            gemm_tile_scheduler,
            boost_clock_mhz,
            matrix_peak,
            vector_peak,
            special_function_peak,
            hbm,
            l2,
            llc,
            l2_bandwidth_per_unit,
            tdp_w,
            power,
            efficiency,
            gemm_split_k,
            price,
            gemm_library,
        })
    }
}

/// Reads the power model's optional `[power]` figures: `idle_w` (below the TDP), the fitted
/// `active_tdp_ratio`, `compute_tdp_ratio`, `memory_tdp_ratio` (of the TDP; all three or none, with `fitted_on`).
fn read_power(p: &Fields<'_>, tdp_w: f64) -> Result<PowerFigures> {
    let idle_w = p.figure("idle_w")?;
    if let Some(idle) = idle_w {
        if idle >= tdp_w {
            return Err(p.error(
                "idle_w",
                format!("is {idle}; expected less than tdp_w ({tdp_w})"),
            ));
        }
    }
    let active = p.figure("active_tdp_ratio")?;
    let compute = p.figure("compute_tdp_ratio")?;
    let memory = p.figure("memory_tdp_ratio")?;
    let fitted_on = p.string("fitted_on")?;
    let given = [active, compute, memory]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if given != 0 && given != 3 {
        return Err(p.error(
            "active_tdp_ratio",
            "expected all of `active_tdp_ratio`, `compute_tdp_ratio` and `memory_tdp_ratio` or none of them",
        ));
    }
    if given == 3 && fitted_on.is_none() {
        return Err(p.error(
            "fitted_on",
            "is missing; fitted power figures must say what they were fitted on",
        ));
    }
    Ok(PowerFigures {
        idle_w,
        active,
        compute,
        memory,
        fitted_on,
    })
}

fn read_level(
    mem: &Fields<'_>,
    name: &'static str,
    capacity_mib: Option<f64>,
    bandwidth_gbps: Option<f64>,
) -> Result<Option<MemoryLevel>> {
    match (capacity_mib, bandwidth_gbps) {
        (Some(c), b) => Ok(Some(MemoryLevel {
            name,
            capacity_bytes: c * 1024.0 * 1024.0,
            bandwidth_bytes_per_s: b.map(|b| b * 1e9),
        })),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(mem.error(
            &format!("{name}_capacity_mib"),
            format!("is missing; `{name}_bandwidth_gbps` is given, so its capacity is needed too"),
        )),
    }
}
