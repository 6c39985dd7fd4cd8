//! One serving-engine iteration (prefill chunks and decode sequences together, as vLLM, SGLang and
//! TensorRT-LLM batch them) priced on the roofline and collectives engines.
//!
//! Per layer: the linear layers are GEMMs of all the iteration's new tokens against the weights, which are
//! read from HBM once per iteration (the roofline GEMM counts them); prefill attention is the fused
//! FlashAttention kernel of each chunk over its cached plus new keys (causal); decode attention reads every
//! decode sequence's KV cache at the device's stream rate times the framework's paged-attention fraction
//! (the paged kernel of Kwon et al., SOSP'23, is bound by those bytes); norms, activation and residual adds are
//! stream kernels; MoE layers run each active local expert's GEMMs on its share of the routed tokens. The
//! tensor-parallel all-reduces (two per layer, Shoeybi et al. 2019 §3) and the pipeline sends are priced by
//! the collectives engine on the machine's real topology ([`crate::collective::Machine`]).
//!
//! Framework costs the kernels do not show (the scheduler, sampling bookkeeping, input preparation) are
//! [`Framework`] figures fitted per system and framework class (hwdb `[serving.<framework>]`).
use super::batch::{Batch, PrefillChunk};
use super::cache::Memo;
use crate::collective::{Algorithm, Op};
use crate::error::{invalid, Error, Result};
use crate::hw::Dtype;
use crate::hw::System;
use crate::llm::{Calibration, Cluster, Model};
use crate::roofline::{AttentionContext, GemmContext, StreamContext};

/// How the linear layers' weights are stored and computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    Bf16,
    Fp16,
    /// W8A8 fp8: weights and activations in fp8 on the matrix units (needs an fp8 peak: Hopper, Ada, CDNA3).
    Fp8,
    /// 4-bit weight-only (AWQ/GPTQ-style W4A16): packed weights dequantized in the kernel, 16-bit compute.
    Int4,
    /// W4A4 NVFP4: weights and activations block-scaled FP4 (one FP8 scale per 16) on the matrix units (needs an
    /// nvfp4 peak: Blackwell). The activations' quantization is taken as fused into the kernel before the GEMM;
    /// its cost is in the device's `gemm_4bit_fraction`.
    Nvfp4,
    /// W4A4 MXFP4: the same with one E8M0 scale per 32 (OCP MX; Blackwell, CDNA4).
    Mxfp4,
    /// W6A6 MXFP6 (OCP MX; Blackwell, CDNA4).
    Fp6,
}

/// Bytes per 4-bit weight with one 16-bit scale per group of 128 (AWQ/GPTQ's default group size):
/// 0.5 + 2/128.
const INT4_BYTES: f64 = 0.5 + 2.0 / 128.0;

impl WeightFormat {
    pub const NAMES: [&'static str; 7] = ["bf16", "fp16", "fp8", "int4", "nvfp4", "mxfp4", "fp6"];

    pub fn parse(name: &str) -> Result<WeightFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Ok(WeightFormat::Bf16),
            "fp16" | "float16" | "half" => Ok(WeightFormat::Fp16),
            "fp8" | "w8a8" | "fp8-w8a8" => Ok(WeightFormat::Fp8),
            "int4" | "w4a16" | "awq" | "gptq" => Ok(WeightFormat::Int4),
            "nvfp4" | "w4a4-nvfp4" => Ok(WeightFormat::Nvfp4),
            "mxfp4" | "w4a4-mxfp4" => Ok(WeightFormat::Mxfp4),
            "fp6" | "mxfp6" => Ok(WeightFormat::Fp6),
            other => {
                let close = crate::error::closest(other, Self::NAMES.iter().copied());
                Err(invalid(
                    "dtype",
                    format!(
                        "is '{name}'; expected one of {:?}{}",
                        Self::NAMES,
                        close
                            .first()
                            .map(|c| format!(" (closest: '{c}')"))
                            .unwrap_or_default()
                    ),
                ))
            }
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Bytes per stored weight.
    pub fn bytes(self) -> f64 {
        match self {
            WeightFormat::Bf16 | WeightFormat::Fp16 => 2.0,
            WeightFormat::Fp8 => 1.0,
            WeightFormat::Int4 => INT4_BYTES,
            WeightFormat::Nvfp4 => Dtype::Nvfp4.bytes(),
            WeightFormat::Mxfp4 => Dtype::Mxfp4.bytes(),
            WeightFormat::Fp6 => Dtype::Fp6.bytes(),
        }
    }

    /// The dtype activations are computed in (16-bit, or the low-precision format for W8A8, W4A4, W6A6).
    pub fn compute_dtype(self, d16: Dtype) -> Dtype {
        match self {
            WeightFormat::Fp8 => Dtype::Fp8,
            WeightFormat::Nvfp4 => Dtype::Nvfp4,
            WeightFormat::Mxfp4 => Dtype::Mxfp4,
            WeightFormat::Fp6 => Dtype::Fp6,
            WeightFormat::Fp16 => Dtype::Fp16,
            WeightFormat::Bf16 | WeightFormat::Int4 => d16,
        }
    }
}

/// The KV cache's element format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvFormat {
    /// bf16 or fp16: 2 bytes.
    Half,
    /// fp8 (e4m3/e5m2): 1 byte; vLLM's `kv_cache_dtype="fp8"`.
    Fp8,
}

impl KvFormat {
    pub fn parse(name: &str) -> Result<KvFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "bf16" | "fp16" | "auto" | "half" => Ok(KvFormat::Half),
            "fp8" | "fp8_e4m3" | "fp8_e5m2" => Ok(KvFormat::Fp8),
            _ => Err(invalid(
                "kv_dtype",
                format!("is '{name}'; expected 'bf16', 'fp16' or 'fp8'"),
            )),
        }
    }

    pub fn bytes(self) -> f64 {
        match self {
            KvFormat::Half => 2.0,
            KvFormat::Fp8 => 1.0,
        }
    }
}

/// Framework figures fitted per system and framework class (hwdb `[[serving]]` of a system; defaults are the
/// uncalibrated engine: kernels as the roofline prices them, no overhead).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Framework {
    /// Multiplies every kernel time (the framework's kernels against the roofline's tuned ones).
    pub kernel_time_scale: f64,
    /// Multiplies every link bandwidth the collectives engine uses (the framework's achieved collective
    /// bandwidth against nccl-tests', as the training calibration's factor of the same name).
    pub comm_bandwidth_scale: f64,
    /// Host synchronisation per TP collective call per rank beyond the first, s: in eager mode each
    /// collective waits for the slowest of the TP worker processes to launch it.
    pub collective_sync_s: f64,
    /// Fixed host time of an iteration that holds prefill chunks (prompt input preparation), s.
    pub prefill_overhead_s: f64,
    /// Share of the device's stream (HBM) rate the paged decode-attention kernel reaches.
    pub decode_attention_fraction: f64,
    /// Fixed host time per iteration (scheduling, input preparation, sampling bookkeeping), s.
    pub iteration_overhead_s: f64,
    /// Host time per sequence in the iteration, s.
    pub per_sequence_overhead_s: f64,
    /// Time from a request's send to its admission into the scheduler's waiting queue, s: the server's work on
    /// a request outside the GPU iterations (HTTP, tokenisation, handing it to the scheduler process) and the
    /// streaming of its first token back. The simulator admits each request this long after its send
    /// ([`crate::serve::sim::SimOptions::request_overhead_s`]); TTFT and end-to-end latency count from the send,
    /// and a closed-loop client's slot stays taken meanwhile.
    pub request_overhead_s: f64,
    /// Host time to launch one kernel when the iteration runs eagerly (no CUDA graph), s; the iteration
    /// then takes the longer of its GPU time and its launches.
    pub kernel_launch_s: f64,
    /// Whether decode-only iterations replay a captured CUDA graph (launches cost nothing on the host).
    pub cuda_graphs: bool,
    /// Whether a W8A8 fp8 linear layer's input is quantized by kernels of its own before the GEMM, as
    /// vLLM-based engines do (vLLM v0.6.0 `apply_fp8_linear` -> `_custom_ops.scaled_fp8_quant` with a dynamic
    /// per-tensor scale: a zero fill of the scale, a max reduction and the quantization, then
    /// `cutlass_scaled_mm`); TensorRT-LLM fuses the quantization into the kernel that produces the input.
    /// Set by framework class, not fitted.
    pub separate_fp8_quant: bool,
    /// Whether that separate quantization is one per-token-group pass (read the 16-bit input once, write fp8
    /// and one fp32 scale per 128 elements, one kernel), as SGLang runs block-wise fp8 checkpoints such as
    /// DeepSeek-V3/R1 (128 x 128 weight blocks): `fp8_utils.py::deepgemm_w8a8_block_fp8_linear_with_fallback`
    /// calls `sglang_per_token_group_quant_fp8` (one sgl-kernel launch) and then DeepGEMM
    /// (sgl-project/sglang `python/sglang/srt/layers/quantization/fp8_utils.py`, v0.5.x). Otherwise the
    /// vLLM v0.6.0 per-tensor dynamic quantization (a max-reduction pass, then the cast: three kernels).
    /// Set by framework class, not fitted.
    pub fp8_quant_per_token_group: bool,
    /// Whether the tensor-parallel all-reduces of the layers run the framework's own NVLink all-reduce kernel
    /// (SGLang's custom all-reduce, on by default: `--disable-custom-all-reduce` is off; sgl-kernel's one-/two-
    /// stage kernels over CUDA IPC buffers, used when the TP group is 2, 4, 6 or 8 GPUs joined by NVLink and
    /// the message is at most 8 MiB: `python/sglang/srt/distributed/device_communicators/custom_all_reduce.py`)
    /// rather than NCCL: the collectives engine's [`Algorithm::CustomAllReduce`] with the fabric's hwdb
    /// `[custom_all_reduce]` figures, NCCL's pick where the kernel does not run (no figures for the fabric, a
    /// group beyond one switch domain or of a size it does not take, a larger message). Set by framework
    /// class (`runs_custom_all_reduce`: SGLang and TensorRT-LLM engines; vLLM's and TensorRT-LLM's PyTorch
    /// backend's are sourced but off by default), not fitted.
    pub custom_all_reduce: bool,
}

/// Whether a framework class runs its tensor-parallel all-reduces on its own kernel by default
/// ([`Framework::custom_all_reduce`]; a user switches it with the `custom_all_reduce` figure): `sglang` and
/// `trtllm`. Every class but the Splitwise prototype has such a kernel, on by default in the versions modelled:
///
/// * `sglang`: on (see [`Framework::custom_all_reduce`]).
/// * `vllm`, `vllm-v0.6`: vLLM's `CustomAllreduce` (kernel from vllm-project/vllm PR #2192, on by default since
///   PR #4040, April 2024; `vllm/distributed/device_communicators/custom_all_reduce.py` at 00d618aa:
///   `_SUPPORTED_WORLD_SIZES = [2, 4, 6, 8]`, `max_size = 8192 * 1024`, one node, fully NVLink-connected for more
///   than 2 GPUs). SGLang has run this same kernel since sgl-project/sglang PR #5079/#5080 (April 2025), so the
///   fabric's line applies. Off here: with it, the APEX vLLM v0.6.0 replays' held-out TPOT went from 8.2 % to
///   17.6 % median (refitting the class's one figure, `kernel_launch_us`, 27.0 -> 26.3, does not recover it), so
///   the NCCL-priced all-reduce stands in for a cost the vLLM decode model misses.
/// * `trtllm-pytorch`: TensorRT-LLM's PyTorch backend, `allreduce_strategy` default `AUTO`
///   (`tensorrt_llm/llmapi/llm_args.py`), which picks its one-/two-shot kernels up to about 1-4 k tokens at TP 8
///   on Hopper and Blackwell alike (`cpp/tensorrt_llm/common/customAllReduceUtils.h` at 005b299b,
///   `AllReduceBestStrategyTableSM90`/`SM100`: 4 = ONESHOT, 5 = TWOSHOT, 0 = NCCL). SGLang's line was measured on
///   SGLang's adaptation of this kernel (PR #2511/#2688/#2904). Off here: InferenceMAX B200 held-out throughput
///   20.1 -> 13.0 %, but H200 3.9 -> 16.4 % and the TensorRT-LLM v1.0 B200/GB200 tables 0.6-1.7 points worse.
/// * `trtllm`: TensorRT-LLM engines, `PluginConfig.use_custom_all_reduce = True` by default with an 8 MB
///   workspace above TP 2 (`tensorrt_llm/plugin/plugin.py` at 035b99e0, v0.9-v0.10 `trtllm-build`): on. With it
///   and the class's dgx-a100/dgx-h100 tables refitted on the same fit rows, the held-out TensorRT-LLM throughput
///   rows went 10.4 -> 8.6 % (A100) and 16.3 -> 15.3 % (H100). The static-batch v0.5/v0.6.1 rows of that suite
///   predate the default (their `--use_custom_all_reduce` was opt-in) and get it too.
fn runs_custom_all_reduce(class: &str) -> bool {
    class.starts_with("sglang") || class == "trtllm"
}

impl Default for Framework {
    fn default() -> Self {
        Framework {
            kernel_time_scale: 1.0,
            comm_bandwidth_scale: 1.0,
            collective_sync_s: 0.0,
            prefill_overhead_s: 0.0,
            decode_attention_fraction: 1.0,
            iteration_overhead_s: 0.0,
            per_sequence_overhead_s: 0.0,
            request_overhead_s: 0.0,
            kernel_launch_s: 0.0,
            cuda_graphs: true,
            separate_fp8_quant: false,
            fp8_quant_per_token_group: false,
            custom_all_reduce: false,
        }
    }
}

impl Framework {
    /// The figures `system` gives `framework` (hwdb `[[serving]]`; SGLang takes vLLM's where it has none of
    /// its own), and whether any were found; an unknown framework name is an error naming the valid ones.
    pub fn of_system(system: &System, framework: &str) -> Result<(Framework, Option<String>)> {
        let name = framework.trim().to_ascii_lowercase();
        if !crate::hw::system::SERVING_FRAMEWORKS.contains(&name.as_str()) {
            let close =
                crate::error::closest(&name, crate::hw::system::SERVING_FRAMEWORKS.iter().copied());
            return Err(invalid(
                "framework",
                format!(
                    "is '{framework}'; expected one of {:?}{}",
                    crate::hw::system::SERVING_FRAMEWORKS,
                    close
                        .first()
                        .map(|c| format!(" (closest: '{c}')"))
                        .unwrap_or_default()
                ),
            ));
        }
        let find = |n: &str| system.serving.iter().find(|c| c.framework == n);
        // Classes without a table of their own take these classes' tables, in order.
        let fallback: &[&str] = match name.as_str() {
            "sglang" => &["vllm"],
            "sglang-v0.5.9" => &["sglang", "vllm"],
            "trtllm-pytorch" => &["trtllm"],
            _ => &[],
        };
        let found = find(&name).or_else(|| fallback.iter().find_map(|n| find(n)));
        let sglang = name.starts_with("sglang");
        let separate_fp8_quant =
            sglang || matches!(name.as_str(), "vllm" | "splitwise" | "vllm-v0.6");
        // SGLang-only mechanism (every SGLang build class): per-token-group fp8 input quantization.
        let fp8_quant_per_token_group = sglang;
        let custom_all_reduce = runs_custom_all_reduce(&name);
        let d = Framework {
            cuda_graphs: name != "splitwise",
            separate_fp8_quant,
            fp8_quant_per_token_group,
            custom_all_reduce,
            ..Framework::default()
        };
        Ok(match found {
            None => (d, None),
            Some(c) => (
                Framework {
                    kernel_time_scale: c.kernel_time_scale.unwrap_or(d.kernel_time_scale),
                    comm_bandwidth_scale: c.comm_bandwidth_scale.unwrap_or(d.comm_bandwidth_scale),
                    collective_sync_s: c.collective_sync_s.unwrap_or(0.0),
                    prefill_overhead_s: c.prefill_overhead_s.unwrap_or(0.0),
                    decode_attention_fraction: c
                        .decode_attention_fraction
                        .unwrap_or(d.decode_attention_fraction),
                    iteration_overhead_s: c.iteration_overhead_s.unwrap_or(0.0),
                    per_sequence_overhead_s: c.per_sequence_overhead_s.unwrap_or(0.0),
                    request_overhead_s: c.request_overhead_s.unwrap_or(0.0),
                    kernel_launch_s: c.kernel_launch_s.unwrap_or(0.0),
                    // The Splitwise prototype predates vLLM's CUDA graphs (v0.2.5, December 2023).
                    cuda_graphs: name != "splitwise",
                    separate_fp8_quant,
                    fp8_quant_per_token_group,
                    custom_all_reduce,
                },
                Some(c.fitted_on.clone()),
            ),
        })
    }

    fn validate(&self) -> Result<()> {
        let pos = [
            ("kernel_time_scale", self.kernel_time_scale),
            ("comm_bandwidth_scale", self.comm_bandwidth_scale),
            ("decode_attention_fraction", self.decode_attention_fraction),
        ];
        for (k, v) in pos {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(k, format!("is {v}; expected a number > 0")));
            }
        }
        let nonneg = [
            ("iteration_overhead_s", self.iteration_overhead_s),
            ("collective_sync_s", self.collective_sync_s),
            ("prefill_overhead_s", self.prefill_overhead_s),
            ("per_sequence_overhead_s", self.per_sequence_overhead_s),
            ("request_overhead_s", self.request_overhead_s),
            ("kernel_launch_s", self.kernel_launch_s),
        ];
        for (k, v) in nonneg {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(k, format!("is {v}; expected a number >= 0")));
            }
        }
        Ok(())
    }
}

/// How one serving instance is split over its GPUs: tensor parallel `tp` (experts split over `ep` of the TP
/// ranks, each expert's width over `tp / ep`), pipeline parallel `pp`.
///
/// With `attention_dp` (TensorRT-LLM's `enable_attention_dp`, SGLang's `--enable-dp-attention`; DeepSeek-V3's
/// serving layout, arXiv:2412.19437 §3.4) the `tp` GPUs are instead `tp` data-parallel attention ranks: each
/// holds the whole attention, dense-MLP, shared-expert and embedding weights, its own requests and KV cache,
/// and runs attention on its own tokens (no TP all-reduce); the MoE layers are expert-parallel over the same
/// ranks (`ep = tp`, each rank holding `experts / ep` whole experts), tokens dispatched to and combined from
/// their experts' ranks by two all-to-alls per MoE layer. `pp` must be 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServePlan {
    pub tp: u32,
    pub pp: u32,
    pub ep: u32,
    pub attention_dp: bool,
}

impl ServePlan {
    pub fn gpus(&self) -> u32 {
        self.tp * self.pp
    }
}

/// Seconds of one iteration by part (each already summed over the layers of every pipeline stage).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationTime {
    /// Linear layers of attention and dense MLPs (QKV, output projection, up/gate, down).
    pub gemm_s: f64,
    /// MoE: router and expert GEMMs.
    pub moe_s: f64,
    pub prefill_attention_s: f64,
    pub decode_attention_s: f64,
    /// Norms, activation, residual adds, rotary embedding and KV-cache writes.
    pub elementwise_s: f64,
    /// Embedding lookup, LM head and sampling.
    pub head_s: f64,
    /// The layers' collectives: tensor-parallel all-reduces (and the logits' all-gather), or with attention DP
    /// the EP dispatch and combine all-to-alls.
    pub tp_comm_s: f64,
    /// Pipeline sends between stages.
    pub pp_comm_s: f64,
    /// Host-side framework time (fixed, per sequence, eager launches beyond the GPU time).
    pub overhead_s: f64,
    /// Everything: the iteration's latency, s.
    pub time_s: f64,
    /// Kernels launched per iteration on one GPU.
    pub kernels: f64,
}

/// Elementwise passes per layer priced as stream kernels: input norm, rotary, KV write, post-attention norm,
/// activation (SwiGLU/GeLU), two residual adds.
const ELEMENTWISE_KERNELS: f64 = 7.0;
/// Kernels that quantize one fp8 linear layer's input when the framework runs them apart from the GEMM
/// ([`Framework::separate_fp8_quant`]): vLLM v0.6.0's `scaled_fp8_quant` with a dynamic scale launches a
/// zero fill of the scale, a max reduction and the quantization (`vllm/_custom_ops.py`,
/// `csrc/quantization/fp8/common.cu`).
const FP8_QUANT_KERNELS: f64 = 3.0;
/// Kernels of SGLang's per-token-group quantization of one linear layer's input
/// ([`Framework::fp8_quant_per_token_group`]): `sglang_per_token_group_quant_fp8`, one launch.
const FP8_GROUP_QUANT_KERNELS: f64 = 1.0;
/// Elements per fp32 scale of the per-token-group quantization (DeepSeek-V3's 128-wide activation groups,
/// the checkpoint's `weight_block_size` [128, 128]).
const FP8_QUANT_GROUP: f64 = 128.0;
/// Linear layers per transformer layer whose input is quantized: QKV, attention output, MLP up (with gate),
/// MLP down.
const QUANTIZED_LINEARS: f64 = 4.0;
/// Activations and the all-reduce run in 16-bit.
const B16: f64 = 2.0;
/// Logits are sampled in fp32.
const LOGIT_BYTES: f64 = 4.0;

/// A serving instance of `model` on a cluster with a plan, formats and framework figures; prices iterations.
#[derive(Debug, Clone)]
pub struct Engine {
    pub model: Model,
    pub plan: ServePlan,
    pub weights: WeightFormat,
    pub kv: KvFormat,
    pub framework: Framework,
    pub cluster: Cluster,
    linear: GemmContext,
    head: GemmContext,
    attn: AttentionContext,
    stream: StreamContext,
    /// Layers of the heaviest stage, and its dense and MoE layers (whole layers).
    stage_layers: f64,
    stage_dense: f64,
    stage_moe: f64,
    /// The TP degree of attention, dense MLPs, shared experts and the LM head: `tp`, or 1 with attention DP.
    attn_tp: f64,
    /// Per-GPU widths.
    q_heads: f64,
    kv_cache_width: f64,
    /// The engine's own per-token and per-sequence terms, remembered ([`TokenTerms`], [`SampleTerms`]).
    memo: EngineMemo,
}

impl Engine {
    /// Checks the plan against the model and the cluster (TP divides the attention heads, and the KV heads or
    /// they divide it; PP at most the layers; EP divides TP and the experts; the device computes in the
    /// weights' format) and resolves the kernel contexts.
    pub fn new(
        model: Model,
        system: &System,
        nodes: u32,
        plan: ServePlan,
        weights: WeightFormat,
        kv: KvFormat,
        framework: Framework,
    ) -> Result<Engine> {
        framework.validate()?;
        // The collectives engine as validated, at the framework's share of its bandwidth.
        let calib = Calibration {
            comm_bandwidth_scale: framework.comm_bandwidth_scale,
            ..Calibration::default()
        };
        let cluster = Cluster::new(system, nodes, calib)?;
        let ServePlan {
            tp,
            pp,
            ep,
            attention_dp,
        } = plan;
        for (k, v) in [("tp", tp), ("pp", pp), ("ep", ep)] {
            if v == 0 {
                return Err(invalid(k, "is 0; expected at least 1"));
            }
        }
        if attention_dp {
            check_attention_dp(&model, plan)?;
        }
        // Attention's TP degree: with attention DP every rank runs whole attention heads.
        let atp = if attention_dp { 1 } else { tp };
        if model.heads % atp != 0 {
            return Err(Error::Model {
                message: format!(
                    "tp ({tp}) must divide the attention heads ({}); valid tp: {:?}",
                    model.heads,
                    divisors(model.heads)
                ),
            });
        }
        if !model.is_mla() && model.kv_heads % atp != 0 && atp % model.kv_heads != 0 {
            return Err(Error::Model {
                message: format!(
                    "tp ({tp}) and the KV heads ({}) must divide one another (KV heads are split over TP \
                     ranks, or replicated when TP exceeds them)",
                    model.kv_heads
                ),
            });
        }
        if pp > model.layers {
            return Err(invalid(
                "pp",
                format!("is {pp}; the model has only {} layers", model.layers),
            ));
        }
        if ep > 1 && (!model.is_moe() || tp % ep != 0 || model.experts % ep != 0) {
            return Err(invalid(
                "ep",
                format!(
                    "is {ep}; expert parallelism needs an MoE model and ep dividing both tp ({tp}) and the \
                     experts ({})",
                    model.experts
                ),
            ));
        }
        let gpus = u64::from(plan.gpus());
        if gpus > cluster.gpus() {
            return Err(invalid(
                "tp",
                format!(
                    "tp x pp = {gpus} GPUs, more than the {} of the cluster",
                    cluster.gpus()
                ),
            ));
        }
        let dev = crate::hw::registry()?
            .get_kind(&system.device, "device")?
            .device()?;
        let d16 = if dev.gemm_peak(Dtype::Bf16).is_ok() && weights != WeightFormat::Fp16 {
            Dtype::Bf16
        } else {
            Dtype::Fp16
        };
        if weights == WeightFormat::Int4 && dev.matrix_peak(Dtype::Bf16).is_none() {
            return Err(Error::Unsupported {
                message: format!(
                    "device '{}' has no 4-bit weight-only GEMM path (W4A16 kernels need bf16 matrix units: \
                     Ampere, Ada, Hopper, CDNA3); use dtype 'fp16'",
                    dev.id
                ),
            });
        }
        let linear =
            GemmContext::new(&dev, weights.compute_dtype(d16))?.with_weight_bytes(weights.bytes());
        let head = GemmContext::new(&dev, d16)?;
        let attn = AttentionContext::new(&dev, d16)?;
        let stream = StreamContext::new(&dev, d16)?;
        let ppf = f64::from(pp);
        let stage_layers = (f64::from(model.layers) / ppf).ceil();
        let moe = f64::from(model.moe_layer_count());
        let stage_moe = (moe / ppf).ceil().min(stage_layers);
        let tpf = f64::from(atp);
        let kv_cache_width = if model.is_mla() {
            // The latent is not split over TP ranks: each keeps all of it (DeepSeek-V3 in vLLM/SGLang).
            model.kv_cache_width()
        } else {
            model.kv_cache_width() / f64::from(model.kv_heads)
                * (f64::from(model.kv_heads) / tpf).max(1.0)
        };
        Ok(Engine {
            model,
            plan,
            weights,
            kv,
            framework,
            cluster,
            linear,
            head,
            attn,
            stream,
            stage_layers,
            stage_dense: stage_layers - stage_moe,
            stage_moe,
            attn_tp: tpf,
            q_heads: f64::from(model.heads) / tpf,
            kv_cache_width,
            memo: EngineMemo::default(),
        })
    }

    /// The TP degree of attention, dense MLPs, shared experts and the LM head: `tp`, or 1 with attention DP.
    pub fn attention_tp(&self) -> f64 {
        self.attn_tp
    }

    /// Layers of the heaviest stage: all, dense-MLP and MoE.
    pub fn stage_layer_counts(&self) -> (f64, f64, f64) {
        (self.stage_layers, self.stage_dense, self.stage_moe)
    }

    /// KV-cache elements per token per layer on one GPU.
    pub fn kv_cache_width_per_gpu(&self) -> f64 {
        self.kv_cache_width
    }

    /// KV-cache bytes per token on one GPU (the heaviest pipeline stage).
    pub fn kv_bytes_per_token(&self) -> f64 {
        self.stage_layers * self.kv_cache_width * self.kv.bytes()
    }

    /// Time of one iteration holding `b` (with attention DP: every rank holding `b`).
    pub fn iteration(&self, b: &Batch) -> IterationTime {
        let chunks = &b.prefill;
        let runs = RunsOfEqual { chunks, at: 0 };
        let route = self.replicated_route(runs.clone(), b.decode_seqs);
        self.price(runs, b.decode_seqs, b.decode_context_sum, route)
    }

    /// With attention DP, the routed tokens when every one of the `tp` ranks holds the same batch: `(all
    /// ranks' tokens, the largest rank's)`; `None` without attention DP.
    fn replicated_route(
        &self,
        runs: impl Iterator<Item = (f64, PrefillChunk)>,
        decode_seqs: f64,
    ) -> Option<(f64, f64)> {
        self.plan.attention_dp.then(|| {
            let t = runs.map(|(n, c)| n * c.tokens).sum::<f64>() + decode_seqs;
            (f64::from(self.plan.tp) * t, t)
        })
    }

    /// With attention DP: one lockstep iteration of the `tp` ranks, rank `r` holding `batches[r]` (missing
    /// ranks hold nothing). Each rank runs attention and dense layers on its own tokens and its local experts
    /// on the tokens routed to them from every rank (uniform routing); the all-to-alls carry the largest rank's
    /// tokens (the collective ends when its largest sender has sent). Returns the slowest rank's iteration,
    /// which every rank waits for. Without attention DP: the iteration of `batches[0]`.
    pub fn group_iteration(&self, batches: &[Batch]) -> IterationTime {
        if !self.plan.attention_dp {
            return batches
                .first()
                .map(|b| self.iteration(b))
                .unwrap_or_default();
        }
        let tokens = |b: &Batch| b.prefill.iter().map(|c| c.tokens).sum::<f64>() + b.decode_seqs;
        let all: f64 = batches.iter().map(tokens).sum();
        let max = batches.iter().map(tokens).fold(0.0, f64::max);
        let mut worst = IterationTime::default();
        let idle = batches.len() < self.plan.tp as usize;
        let empty = Batch::default();
        let ranks = batches.iter().chain(idle.then_some(&empty));
        for b in ranks {
            let runs = RunsOfEqual {
                chunks: &b.prefill,
                at: 0,
            };
            let it = self.price(runs, b.decode_seqs, b.decode_context_sum, Some((all, max)));
            if it.time_s > worst.time_s {
                worst = it;
            }
        }
        worst
    }

    /// Time of one iteration of `prefill_seqs` equal prompt chunks of `prompt` new tokens after `cached`
    /// cached ones (each ending its prompt) and `decode_seqs` decode sequences attending to `context` tokens.
    pub fn uniform(
        &self,
        prefill_seqs: f64,
        prompt: f64,
        cached: f64,
        decode_seqs: f64,
        context: f64,
    ) -> IterationTime {
        let run = super::batch::uniform_prefill(prefill_seqs, prompt, cached);
        let route = self.replicated_route(run.into_iter(), decode_seqs);
        self.price(run.into_iter(), decode_seqs, decode_seqs * context, route)
    }

    /// [`Engine::uniform`] over equal-length columns (prefill seqs, prompt, cached, decode seqs, context), in
    /// parallel; every element must be finite and >= 0 (the error names the column and element).
    pub fn uniform_columns(&self, cols: [(&str, &[f64]); 5]) -> Result<Vec<IterationTime>> {
        use rayon::prelude::*;
        let n = check_columns_within(&cols, crate::error::MAX_DIM)?;
        let [ps, pl, ca, ds, cx] = cols.map(|(_, c)| c);
        Ok((0..n)
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| self.uniform(ps[i], pl[i], ca[i], ds[i], cx[i]))
            .collect())
    }

    /// Prices runs of equal prefill chunks `(count, chunk)` and the decode sequences; with attention DP,
    /// `route` is (all ranks' tokens, the largest rank's) for the routed experts and the all-to-alls.
    fn price(
        &self,
        runs: impl Iterator<Item = (f64, PrefillChunk)> + Clone,
        decode_seqs: f64,
        decode_context_sum: f64,
        route: Option<(f64, f64)>,
    ) -> IterationTime {
        let m = &self.model;
        let tp = self.attn_tp;
        let pp = f64::from(self.plan.pp);
        let mut prefill_tokens = 0.0;
        let mut prefill_seqs = 0.0;
        let mut finishing = 0.0;
        for (n, c) in runs.clone() {
            prefill_tokens += n * c.tokens;
            prefill_seqs += n;
            if c.last {
                finishing += n;
            }
        }
        let t = prefill_tokens + decode_seqs;
        let mut out = IterationTime::default();
        if t <= 0.0 && route.is_none_or(|(all, _)| all <= 0.0) {
            return out;
        }
        // Linear layers, MoE, elementwise passes, all-reduces, embedding and pipeline sends: functions of the
        // new tokens alone, remembered per token count.
        let TokenTerms {
            attn_linear,
            dense,
            mut moe,
            elementwise,
            tp_ar,
            embed,
            pp_comm,
        } = if t > 0.0 {
            self.memo.tokens.get(t, || self.token_terms(t))
        } else {
            TokenTerms::default()
        };
        // Attention DP: the local experts over every rank's routed tokens, and the dispatch and combine
        // all-to-alls of the largest rank's tokens.
        let mut a2a = 0.0;
        if let Some((all, max)) = route {
            if self.stage_moe > 0.0 {
                let (up, down) = self.memo.experts.get(all, || self.routed_experts(all));
                moe += up + down;
                a2a = self.memo.a2a.get(max, || self.dispatch_combine(max));
            }
        }
        let mut kernels = if m.is_mla() { 5.0 } else { 2.0 };
        // Prefill attention: runs of equal chunks share one kernel call.
        let qk_dim = if m.is_mla() {
            m.qk_nope_head_dim + m.qk_rope_head_dim
        } else {
            m.head_dim()
        };
        let mut prefill_attn = 0.0;
        for (n, c) in runs {
            if c.tokens > 0.0 {
                prefill_attn += self
                    .attn
                    .estimate(
                        n,
                        self.q_heads,
                        c.tokens,
                        c.tokens + c.cached,
                        qk_dim,
                        true,
                        false,
                    )
                    .time_s;
                kernels += 1.0;
            }
        }
        // Decode attention: every sequence's cached K and V read once; QK^T and AV on the vector units.
        let decode_attn = if decode_seqs > 0.0 {
            kernels += 1.0;
            let bytes = decode_context_sum * self.kv_cache_width * self.kv.bytes();
            let flops = 4.0 * self.q_heads * qk_dim * decode_context_sum;
            let est = self.stream.estimate(bytes, 0.0, flops);
            est.time_s / self.framework.decode_attention_fraction
        } else {
            0.0
        };
        kernels += ELEMENTWISE_KERNELS;
        if self.separate_fp8_quant() {
            kernels += QUANTIZED_LINEARS
                * if self.framework.fp8_quant_per_token_group {
                    FP8_GROUP_QUANT_KERNELS
                } else {
                    FP8_QUANT_KERNELS
                };
        }
        let layers = self.stage_layers * pp;
        let dense_layers = self.stage_dense * pp;
        let moe_layers = self.stage_moe * pp;
        // Kernels per stage: each layer's attention, elementwise and all-reduce kernels counted above, two
        // MLP GEMMs per dense layer, router + two grouped expert GEMMs + the shared experts' two per MoE layer.
        if self.attn_tp > 1.0 {
            kernels += 2.0;
        }
        let moe_kernels = 3.0
            + if m.shared_experts > 0 { 2.0 } else { 0.0 }
            + if route.is_some() { 2.0 } else { 0.0 };
        kernels =
            kernels * self.stage_layers + 2.0 * self.stage_dense + moe_kernels * self.stage_moe;
        // Head: embedding gather, LM head over the sampled rows, logits gathered over TP, sampling.
        let s = finishing + decode_seqs;
        let SampleTerms { lm, gather, sample } = if s > 0.0 {
            self.memo.samples.get(s, || self.sample_terms(s))
        } else {
            SampleTerms::default()
        };
        kernels += 4.0;
        let k = self.framework.kernel_time_scale;
        out.gemm_s = k * (layers * attn_linear + dense_layers * dense);
        out.moe_s = k * moe_layers * moe;
        out.prefill_attention_s = k * layers * prefill_attn;
        out.decode_attention_s = k * layers * decode_attn;
        out.elementwise_s = k * layers * elementwise;
        out.head_s = k * (embed + lm + sample);
        // Eager launch skew: every TP collective call waits on the slowest of the other tp - 1 ranks; a
        // replayed CUDA graph launches them all at once.
        let graphed = self.framework.cuda_graphs && prefill_seqs == 0.0;
        let tp_calls = if self.attn_tp > 1.0 && !graphed {
            2.0 * layers + if s > 0.0 { 1.0 } else { 0.0 }
        } else {
            0.0
        };
        let sync = self.framework.collective_sync_s * (tp - 1.0) * tp_calls;
        out.tp_comm_s = layers * tp_ar + gather + sync;
        if route.is_some() {
            out.tp_comm_s += moe_layers * a2a;
        }
        out.pp_comm_s = pp_comm;
        let gpu = out.gemm_s
            + out.moe_s
            + out.prefill_attention_s
            + out.decode_attention_s
            + out.elementwise_s
            + out.head_s
            + out.tp_comm_s
            + out.pp_comm_s;
        let launched = if graphed { 0.0 } else { kernels * pp };
        let prefill_overhead = if prefill_seqs > 0.0 {
            self.framework.prefill_overhead_s
        } else {
            0.0
        };
        out.overhead_s = self.framework.iteration_overhead_s
            + prefill_overhead
            + self.framework.per_sequence_overhead_s * (prefill_seqs + decode_seqs)
            + crate::roofline::eager_launch_excess(launched, self.framework.kernel_launch_s, gpu);
        out.time_s = gpu + out.overhead_s;
        out.kernels = kernels;
        out
    }
}

impl IterationTime {
    /// The parts' names, in the order of [`IterationTime::values`].
    pub const NAMES: [&'static str; 11] = [
        "time_s",
        "gemm_s",
        "moe_s",
        "prefill_attention_s",
        "decode_attention_s",
        "elementwise_s",
        "head_s",
        "tp_comm_s",
        "pp_comm_s",
        "overhead_s",
        "kernels",
    ];

    /// The parts in the order of [`IterationTime::NAMES`].
    pub fn values(&self) -> [f64; 11] {
        [
            self.time_s,
            self.gemm_s,
            self.moe_s,
            self.prefill_attention_s,
            self.decode_attention_s,
            self.elementwise_s,
            self.head_s,
            self.tp_comm_s,
            self.pp_comm_s,
            self.overhead_s,
            self.kernels,
        ]
    }
}

/// [`check_columns_within`] with no bound but finiteness.
pub fn check_columns(cols: &[(&str, &[f64])]) -> Result<usize> {
    check_columns_within(cols, f64::MAX)
}

/// The common length of named input columns whose every element is finite, >= 0 and <= `max` (the error
/// names the column and element).
pub fn check_columns_within(cols: &[(&str, &[f64])], max: f64) -> Result<usize> {
    let n = cols.first().map_or(0, |(_, c)| c.len());
    for &(name, c) in cols {
        if c.len() != n {
            return Err(invalid(
                name,
                format!("has {} elements; expected {n}", c.len()),
            ));
        }
        if let Some((i, x)) = c
            .iter()
            .enumerate()
            .find(|(_, x)| !(x.is_finite() && **x >= 0.0 && **x <= max))
        {
            let bound = if max < f64::MAX {
                format!(" and <= {max:e}")
            } else {
                String::new()
            };
            return Err(invalid(
                name,
                format!("element {i} is {x}; expected a finite number >= 0{bound}"),
            ));
        }
    }
    Ok(n)
}

/// Elements per parallel task of [`Engine::uniform_columns_into`].
const COLUMN_CHUNK: usize = 4096;

impl Engine {
    /// [`Engine::uniform_columns`] written into one output column per part (`out[j]` receives
    /// [`IterationTime::NAMES`]`[j]`, each as long as the inputs), in parallel, without the rows in between.
    pub fn uniform_columns_into(
        &self,
        cols: [(&str, &[f64]); 5],
        out: [&mut [f64]; 11],
    ) -> Result<()> {
        use rayon::prelude::*;
        let n = check_columns_within(&cols, crate::error::MAX_DIM)?;
        for (name, o) in IterationTime::NAMES.iter().zip(&out) {
            if o.len() != n {
                return Err(invalid(
                    name,
                    format!("output has {} elements; expected {n}", o.len()),
                ));
            }
        }
        let [ps, pl, ca, ds, cx] = cols.map(|(_, c)| c);
        // Every output column cut in chunks, gathered by chunk: tasks[j][p] is part p's chunk j.
        let mut parts = out.map(|c| c.chunks_mut(COLUMN_CHUNK));
        let mut tasks: Vec<[&mut [f64]; 11]> = Vec::with_capacity(n.div_ceil(COLUMN_CHUNK));
        loop {
            let next = parts.each_mut().map(Iterator::next);
            if next.iter().any(Option::is_none) {
                break;
            }
            tasks.push(next.map(Option::unwrap_or_default));
        }
        tasks
            .into_par_iter()
            .enumerate()
            .for_each(|(j, mut chunk)| {
                let start = j * COLUMN_CHUNK;
                for i in 0..chunk[0].len() {
                    let k = start + i;
                    let v = self.uniform(ps[k], pl[k], ca[k], ds[k], cx[k]).values();
                    for (c, x) in chunk.iter_mut().zip(v) {
                        c[i] = x;
                    }
                }
            });
        Ok(())
    }
}

/// The parts of an iteration's price that depend on its new tokens `t` alone, per layer of the heaviest stage
/// (`embed` and `pp_comm` once per iteration).
#[derive(Debug, Clone, Copy, Default)]
struct TokenTerms {
    attn_linear: f64,
    dense: f64,
    moe: f64,
    elementwise: f64,
    tp_ar: f64,
    embed: f64,
    pp_comm: f64,
}

/// The parts of an iteration's price that depend on the sequences sampled `s` alone: the LM head, the logits'
/// all-gather over TP, sampling.
#[derive(Debug, Clone, Copy, Default)]
struct SampleTerms {
    lm: f64,
    gather: f64,
    sample: f64,
}

/// [`TokenTerms`] and [`SampleTerms`] remembered per whole token (sequence) count: serving batches repeat the
/// same counts, and the collectives tuner and the GEMM tile search behind these terms cost most of a price.
/// The terms are the engine's own results for each count (computed by [`Engine::token_terms`] and
/// [`Engine::sample_terms`] the first time), so a remembered one is the same to the bit.
#[derive(Debug, Clone, Default)]
struct EngineMemo {
    tokens: Memo<TokenTerms>,
    samples: Memo<SampleTerms>,
    /// Attention DP: routed-expert GEMMs per routed token count, all-to-alls per largest rank's tokens.
    experts: Memo<(f64, f64)>,
    a2a: Memo<f64>,
}

impl Engine {
    /// The linear layers, MoE, elementwise passes, tensor-parallel all-reduces, embedding and pipeline sends of
    /// an iteration of `t` new tokens.
    /// Whether the linear layers' inputs are quantized to fp8 by kernels of their own.
    fn separate_fp8_quant(&self) -> bool {
        self.weights == WeightFormat::Fp8 && self.framework.separate_fp8_quant
    }

    /// Seconds of the separate fp8 quantization of the linear inputs of one layer (16-bit bytes of each
    /// input over the iteration's tokens): a max reduction reading the input (a stream pass), then the
    /// quantization reading it and writing one byte per element, priced as the roofline engine's FP8 cast pass
    /// (`StreamContext::estimate_fp8_cast`, the training engine's cast model); zero when the framework fuses it
    /// ([`Framework::separate_fp8_quant`]). The per-token-group quantization
    /// ([`Framework::fp8_quant_per_token_group`]) is the cast pass alone: the 16-bit input read once, one
    /// byte per element and a 4-byte scale per 128 elements written (the group's max is taken in registers).
    /// One tensor-parallel all-reduce of `bytes` over the TP group: the framework's custom kernel where it
    /// runs ([`Framework::custom_all_reduce`]; the collectives engine says where it does not), else NCCL's pick.
    fn tp_all_reduce(&self, bytes: f64) -> f64 {
        let tp = self.plan.tp;
        if self.framework.custom_all_reduce {
            if let Ok(e) = self.cluster.collective_with(
                Op::AllReduce,
                tp,
                1,
                bytes,
                Algorithm::CustomAllReduce,
            ) {
                return e.time_s;
            }
        }
        self.cluster.collective(Op::AllReduce, tp, 1, bytes).time_s
    }

    fn fp8_quant_time(&self, inputs: [f64; 4]) -> f64 {
        if !self.separate_fp8_quant() {
            return 0.0;
        }
        if self.framework.fp8_quant_per_token_group {
            return inputs
                .iter()
                .map(|&x| {
                    let elements = x / B16;
                    let written = elements + 4.0 * elements / FP8_QUANT_GROUP;
                    self.stream.estimate_fp8_cast(x, written).time_s
                })
                .sum();
        }
        inputs
            .iter()
            .map(|&x| {
                self.stream.estimate(x, 0.0, 0.0).time_s
                    + self.stream.estimate_fp8_cast(x, x / B16).time_s
            })
            .sum()
    }

    fn token_terms(&self, t: f64) -> TokenTerms {
        let m = &self.model;
        let tp = self.attn_tp;
        let pp = f64::from(self.plan.pp);
        let h = m.hidden;
        let g = &self.linear;
        // Attention linears.
        let attn_linear = if m.is_mla() {
            let rope = m.qk_rope_head_dim;
            let qk = m.qk_nope_head_dim + rope;
            let q = if m.q_lora_rank > 0.0 {
                g.estimate(t, m.q_lora_rank, h, 1.0).time_s
                    + g.estimate(t, self.q_heads * qk, m.q_lora_rank, 1.0).time_s
            } else {
                g.estimate(t, self.q_heads * qk, h, 1.0).time_s
            };
            q + g.estimate(t, m.kv_lora_rank + rope, h, 1.0).time_s
                + g.estimate(
                    t,
                    self.q_heads * (m.qk_nope_head_dim + m.v_head_dim),
                    m.kv_lora_rank,
                    1.0,
                )
                .time_s
                + g.estimate(t, h, self.q_heads * m.v_head_dim, 1.0).time_s
        } else {
            let qkv = m.q_width() / tp + self.kv_cache_width;
            g.estimate(t, qkv, h, 1.0).time_s + g.estimate(t, h, m.q_width() / tp, 1.0).time_s
        };
        // Dense MLP linears.
        let mats = m.mlp_mats();
        let dense_mlp = |width: f64| {
            let f = width / tp;
            g.estimate(t, (mats - 1.0) * f, h, 1.0).time_s + g.estimate(t, h, f, 1.0).time_s
        };
        let dense = if self.stage_dense > 0.0 {
            dense_mlp(m.ffn_hidden)
        } else {
            0.0
        };
        // MoE: router, shared experts, routed experts (with attention DP the routed experts take every rank's
        // tokens: priced in `price`).
        let moe = if self.stage_moe > 0.0 {
            let e = f64::from(m.experts);
            let shared = if m.shared_experts > 0 {
                dense_mlp(m.expert_ffn() * f64::from(m.shared_experts))
            } else {
                0.0
            };
            let local = g.estimate(t, e, h, 1.0).time_s + shared;
            if self.plan.attention_dp {
                local
            } else {
                let (up, down) = self.routed_experts(t);
                local + up + down
            }
        } else {
            0.0
        };
        // Elementwise passes over the new tokens' activations (and the KV write).
        let row = t * h * B16;
        let ffn_row = t * m.ffn_hidden.max(m.expert_ffn()) / tp * B16;
        let elementwise = self.stream.estimate(2.0 * row, 2.0 * row, 0.0).time_s
            + self.stream.estimate(row, row, 0.0).time_s
            + self
                .stream
                .estimate(0.0, t * self.kv_cache_width * self.kv.bytes(), 0.0)
                .time_s
            + self.stream.estimate(2.0 * row, row, 0.0).time_s * 2.0
            + self.stream.estimate(2.0 * ffn_row, ffn_row, 0.0).time_s
            + self
                .stream
                .estimate(t * m.q_width() / tp * B16, t * m.q_width() / tp * B16, 0.0)
                .time_s
            + self.fp8_quant_time([row, t * m.q_width() / tp * B16, row, ffn_row]);
        // Tensor-parallel all-reduces: after attention and after the MLP.
        let tp_ar = if self.attn_tp > 1.0 {
            2.0 * self.tp_all_reduce(row)
        } else {
            0.0
        };
        let embed = self.stream.estimate(row, row, 0.0).time_s;
        let pp_comm = if self.plan.pp > 1 {
            (pp - 1.0)
                * self
                    .cluster
                    .collective(Op::SendRecv, 2, u64::from(self.plan.tp), row / tp)
                    .time_s
        } else {
            0.0
        };
        TokenTerms {
            attn_linear,
            dense,
            moe,
            elementwise,
            tp_ar,
            embed,
            pp_comm,
        }
    }

    /// This rank's routed-expert GEMMs (up/gate, down) when `t` tokens are routed, each to `top_k` of the
    /// experts uniformly: the rank's `experts / ep` local experts, each `expert_ffn / (tp / ep)` wide; an expert
    /// is active when at least one token picks it (probability `1 - (1 - k/e)^t`) and the active ones share
    /// the `t k local / e` routed rows equally.
    fn routed_experts(&self, t: f64) -> (f64, f64) {
        let m = &self.model;
        let g = &self.linear;
        let h = m.hidden;
        let mats = m.mlp_mats();
        let e = f64::from(m.experts);
        let k = f64::from(m.top_k);
        let ep = f64::from(self.plan.ep);
        let local = e / ep;
        let width = m.expert_ffn() / (f64::from(self.plan.tp) / ep);
        // Experts of this rank that receive at least one of the t tokens (each token picks k of e).
        let active = local * (1.0 - (1.0 - k / e).powf(t));
        let per_expert = (t * k / e * local / active.max(1e-9)).max(1.0);
        (
            g.estimate(per_expert, (mats - 1.0) * width, h, active)
                .time_s,
            g.estimate(per_expert, h, width, active).time_s,
        )
    }

    /// Attention DP: one MoE layer's dispatch and combine all-to-alls over the `ep` ranks when the largest
    /// rank sends `t` tokens, each to `top_k` experts, as 16-bit hidden vectors: `2 x all_to_all(t top_k
    /// hidden 2 bytes)` on the collectives engine (nccl-tests' byte count, per rank; the same convention as the
    /// training model's EP all-to-all, `llm::step::ep_collective`).
    fn dispatch_combine(&self, t: f64) -> f64 {
        let m = &self.model;
        let bytes = t * f64::from(m.top_k) * m.hidden * B16;
        2.0 * self
            .cluster
            .collective(Op::AllToAll, self.plan.ep, 1, bytes)
            .time_s
    }

    /// The LM head over `s` sampled rows, the logits' all-gather over TP and sampling.
    fn sample_terms(&self, s: f64) -> SampleTerms {
        let m = &self.model;
        let tp = self.attn_tp;
        let h = m.hidden;
        let logits = s * m.vocab * LOGIT_BYTES;
        SampleTerms {
            lm: self.head.estimate(s, m.vocab / tp, h, 1.0).time_s,
            gather: if self.attn_tp > 1.0 {
                self.cluster
                    .collective(Op::AllGather, self.plan.tp, 1, logits)
                    .time_s
            } else {
                0.0
            },
            sample: self.stream.estimate(logits, 0.0, 5.0 * s * m.vocab).time_s,
        }
    }
}

/// Checks an attention-DP plan: an MoE model, `ep = tp` (the experts spread over every attention rank), the
/// experts divisible by `ep`, `pp = 1`; each error names the argument.
fn check_attention_dp(model: &Model, plan: ServePlan) -> Result<()> {
    if !model.is_moe() {
        return Err(invalid(
            "attention_dp",
            "needs an MoE model (data-parallel attention pairs with expert-parallel MoE layers); this model is \
             dense: use tp and replicas instead",
        ));
    }
    if plan.ep != plan.tp {
        return Err(invalid(
            "ep",
            format!(
                "is {}; with attention_dp the experts are spread over all {} attention ranks: ep must equal tp \
                 ({})",
                plan.ep, plan.tp, plan.tp
            ),
        ));
    }
    if model.experts % plan.ep != 0 {
        return Err(invalid(
            "ep",
            format!(
                "is {}; it must divide the experts ({}); valid ep: {:?}",
                plan.ep,
                model.experts,
                divisors(model.experts)
            ),
        ));
    }
    if plan.pp != 1 {
        return Err(invalid(
            "pp",
            format!("is {}; attention_dp is modelled with pp = 1 only", plan.pp),
        ));
    }
    Ok(())
}

fn divisors(n: u32) -> Vec<u32> {
    (1..=n).filter(|d| n % d == 0).collect()
}

/// Consecutive equal chunks of a batch as `(count, chunk)`: a batch of equal prompts is one attention call.
#[derive(Clone)]
struct RunsOfEqual<'a> {
    chunks: &'a [PrefillChunk],
    at: usize,
}

impl Iterator for RunsOfEqual<'_> {
    type Item = (f64, PrefillChunk);

    fn next(&mut self) -> Option<Self::Item> {
        let first = *self.chunks.get(self.at)?;
        let mut end = self.at + 1;
        while end < self.chunks.len() && self.chunks[end] == first {
            end += 1;
        }
        let n = (end - self.at) as f64;
        self.at = end;
        Some((n, first))
    }
}

impl super::sim::GroupCost for Engine {
    fn group_iteration_s(&self, batches: &[Batch]) -> f64 {
        self.group_iteration(batches).time_s
    }
}

impl super::sim::IterationCost for Engine {
    fn iteration_s(&self, batch: &Batch) -> f64 {
        self.iteration(batch).time_s
    }
}
