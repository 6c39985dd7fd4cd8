//! A parallelization plan and its validity rules (Megatron-LM rank order tp-cp-dp-pp by default, or
//! tp-cp-pp-dp; DeepSpeed ZeRO/ZeRO++).
use super::model::{Model, Recompute};
use crate::error::{invalid, Error, Result};

/// How a plan's ranks are numbered, innermost group first: which groups are contiguous decides which share a
/// node. Megatron-core's `initialize_model_parallel(order=...)` (megatron/core/parallel_state.py): the default
/// `tp-cp-ep-dp-pp`, or `tp-cp-ep-pp-dp` with `use_tp_pp_dp_mapping` (NeMo's `TP_PP_DP_MAPPING`, which the
/// MLPerf NVIDIA GB200 405B configs set), where a pipeline's stages are neighbours and the data-parallel
/// replicas are outermost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RankOrder {
    /// tp, cp, (ep within) dp, pp: pipeline stages outermost.
    #[default]
    TpCpDpPp,
    /// tp, cp, pp, dp: data-parallel replicas outermost (expert parallelism not modelled in this order).
    TpCpPpDp,
}

impl RankOrder {
    pub const NAMES: [&'static str; 2] = ["tp-cp-dp-pp", "tp-cp-pp-dp"];

    /// From a plan map's number: 0 tp-cp-dp-pp, 1 tp-cp-pp-dp.
    pub fn from_code(v: f64) -> Result<RankOrder> {
        if v == 0.0 {
            Ok(RankOrder::TpCpDpPp)
        } else if v == 1.0 {
            Ok(RankOrder::TpCpPpDp)
        } else {
            Err(invalid(
                "rank_order",
                format!("is {v}; expected 0 ('tp-cp-dp-pp') or 1 ('tp-cp-pp-dp')"),
            ))
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Which of a step's kernels replay from captured CUDA graphs (the host then launches a graph, not its kernels).
/// Megatron-LM's `--enable-cuda-graph` and NeMo's `enable_cuda_graph` default to off (eager), as do the MLPerf
/// configs that leave `LAYER_CUDA_GRAPH` unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CudaGraphs {
    /// Eager: the host launches every kernel.
    #[default]
    None,
    /// Each transformer layer's forward and backward captured (Transformer Engine `make_graphed_callables`, the
    /// MLPerf configs' `LAYER_CUDA_GRAPH=True`); the output layer, loss and optimizer stay eager.
    Layer,
    /// The whole step captured: no per-kernel host cost.
    Full,
}

impl CudaGraphs {
    pub const NAMES: [&'static str; 3] = ["none", "layer", "full"];

    /// From a plan map's number: 0 none, 1 layer, 2 full.
    pub fn from_code(v: f64) -> Result<CudaGraphs> {
        match v {
            0.0 => Ok(CudaGraphs::None),
            1.0 => Ok(CudaGraphs::Layer),
            2.0 => Ok(CudaGraphs::Full),
            _ => Err(invalid(
                "cuda_graphs",
                format!("is {v}; expected 0 ('none'), 1 ('layer') or 2 ('full')"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Everything about how one training step runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub tp: u32,
    pub pp: u32,
    pub dp: u32,
    /// Virtual pipeline stages per device (interleaved 1F1B when > 1).
    pub vp: u32,
    pub cp: u32,
    /// Expert parallelism, carved out of the data-parallel group.
    pub ep: u32,
    pub micro_batch: u32,
    pub global_batch: u32,
    pub sp: bool,
    pub recompute: Recompute,
    pub zero: u8,
    /// ZeRO++ quantized weight all-gather (int8).
    pub qwz: bool,
    /// ZeRO++ quantized gradient all-to-all reduction (int4).
    pub qgz: bool,
    /// ZeRO++ hierarchical partition size of the secondary weight copy (1 = off).
    pub hpz: u32,
    /// Hierarchical ZeRO-3 partitioning (Xu et al. 2025's 3-level scheme, MiCS-style): the 16-bit weights are
    /// sharded over groups of this many data-parallel ranks (both gathers stay inside the group), 0 = over all
    /// of dp (plain ZeRO-3).
    pub weights_group: u32,
    /// Gradients are reduce-scattered over groups of this many ranks every micro-batch and reduced across the
    /// groups once per step; 0 = over all of dp.
    pub grads_group: u32,
    /// Optimizer states (fp32 master, momentum, variance) kept in host memory and streamed over the host link
    /// for the update (ZeRO-Offload, Ren et al. ATC'21; Calculon's optimizer offload).
    pub offload_optimizer: bool,
    /// Each layer's stored activations sent to host memory after its forward and fetched back before its
    /// backward, overlapped with the neighbouring layers' compute (Calculon's activation offload).
    pub offload_activations: bool,
    pub fp8: bool,
    /// NVFP4 GEMMs (Transformer Engine's `NVFP4BlockScaling` recipe: the forward, data- and weight-gradient GEMMs
    /// of every linear inside the transformer layers on block-scaled E2M1 operands; attention, the LM head and
    /// the embedding stay 16-bit). Excludes `fp8`.
    pub fp4: bool,
    /// Flash-style fused attention (false: explicit QK^T/softmax/AV as in Megatron-LM 2021).
    pub flash_attention: bool,
    /// The fused attention is cuDNN's (Transformer Engine's default on Hopper) instead of FlashAttention-2.
    pub cudnn_attention: bool,
    /// Overlap of data-parallel collectives with backward/forward compute.
    pub dp_overlap: bool,
    /// TP/SP collectives overlapped with the neighbouring GEMMs (MegaScale §3.2).
    pub tp_overlap: bool,
    /// Pipeline send/recv overlapped with compute outside warm-up and cool-down (MegaScale §3.2).
    pub pp_overlap: bool,
    /// Gradients reduced in fp32 (Megatron-LM with bf16: `accumulate_allreduce_grads_in_fp32`).
    pub grad_fp32: bool,
    /// The model's weights are frozen (LoRA and other adapter fine-tuning): no weight-gradient GEMMs, gradient
    /// reduction, optimizer step, gradients or optimizer states for them; ZeRO-3 still gathers them. The
    /// adapters themselves are priced with `lora_rank` (their optimizer step and DP reduction, well under 1% of
    /// the parameters at the usual ranks, are not).
    pub frozen_weights: bool,
    /// LoRA adapters of this rank on the attention's QKV and output projections (NeMo's `target_modules:
    /// ['attention']`), trained on frozen weights (`step::lora_times`, `step::lora_collectives`); 0 = none.
    pub lora_rank: u32,
    /// Dropout on each adapter's input (NeMo's `adapter_dropout` > 0 with `dropout_position: pre`).
    pub lora_dropout: bool,
    /// FP8 dot-product attention (Transformer Engine's `fp8_dpa`, NeMo/MLPerf `FP8_DPA=1` with the default
    /// `NVTE_FP8_DPA_BWD=1`): cuDNN's fused attention forward and backward on FP8 operands at the device's FP8
    /// matrix rate, with TE's casts of Q, K, V, O and their gradients (`step::fp8_attention_cast_times`); needs
    /// `fp8` and `cudnn_attention`.
    pub fp8_attention: bool,
    /// The rank order the groups are laid out in ([`RankOrder`]).
    pub rank_order: RankOrder,
    /// Which kernels replay from CUDA graphs ([`CudaGraphs`]); eager kernels cost the host
    /// `Calibration::kernel_launch_s` each.
    pub cuda_graphs: CudaGraphs,
    /// The output layer's rows are the vocabulary padded up to a multiple of `vocab_multiple x tp` (Megatron-LM
    /// `--make-vocab-size-divisible-by`, default 128; 1 for a framework that does not pad, as plain PyTorch).
    pub vocab_multiple: u32,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            tp: 1,
            pp: 1,
            dp: 1,
            vp: 1,
            cp: 1,
            ep: 1,
            micro_batch: 1,
            global_batch: 1,
            sp: false,
            recompute: Recompute::None,
            zero: 0,
            qwz: false,
            qgz: false,
            hpz: 1,
            weights_group: 0,
            grads_group: 0,
            offload_optimizer: false,
            offload_activations: false,
            fp8: false,
            fp4: false,
            flash_attention: true,
            cudnn_attention: false,
            dp_overlap: false,
            tp_overlap: false,
            pp_overlap: false,
            grad_fp32: false,
            frozen_weights: false,
            lora_rank: 0,
            lora_dropout: false,
            fp8_attention: false,
            rank_order: RankOrder::TpCpDpPp,
            cuda_graphs: CudaGraphs::None,
            vocab_multiple: 128,
        }
    }
}

/// Why a candidate plan is not valid; codes count skipped plans in a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Invalid {
    HeadsTp = 0,
    KvHeadsTp = 1,
    LayersPp = 2,
    BatchDp = 3,
    TooManyGpus = 4,
    EpDense = 5,
    EpDivides = 6,
    SeqCp = 7,
    Interleave = 8,
    ZeroPp = 9,
    ZeroPlusPlus = 10,
    SpWithoutTp = 11,
    BadValue = 12,
    GpusDivide = 13,
    Placement = 14,
    RedundantOverlap = 15,
    Partition = 16,
    NoHostLink = 17,
    FrozenRedundant = 18,
    RankOrderEp = 19,
}

impl Invalid {
    pub const COUNT: usize = 20;
    pub const NAMES: [&'static str; Invalid::COUNT] = [
        "heads not divisible by tp",
        "kv_heads and tp not divisible either way",
        "layers not divisible by pp x vp",
        "global batch not divisible by dp x micro_batch",
        "more GPUs than the cluster",
        "expert parallelism on a dense model",
        "ep must divide dp and the number of experts",
        "sequence length not divisible by cp",
        "interleaving needs pp > 1 and micro-batches divisible by pp",
        "ZeRO-2/3 with pipeline parallelism",
        "ZeRO++ options need ZeRO-3 and hpz dividing dp",
        "sequence parallelism needs tp > 1",
        "a size is zero",
        "cluster GPUs not divisible by tp x pp x cp",
        "a parallel group does not nest in the node's levels",
        "overlap flag without the communication it hides",
        "hierarchical partition groups need ZeRO-3, weights_group | grads_group | dp and no hpz",
        "offload without the system's host link figure",
        "an option with no effect on frozen weights (ZeRO-1/2, optimizer offload, DP overlap)",
        "expert parallelism in the tp-cp-pp-dp rank order",
    ];
}

impl Plan {
    pub fn gpus(&self) -> u64 {
        u64::from(self.tp) * u64::from(self.pp) * u64::from(self.dp) * u64::from(self.cp)
    }

    /// Rank distance between the members of a data-parallel group: `tp cp` (tp-cp-dp-pp) or `tp cp pp`
    /// (tp-cp-pp-dp).
    pub fn dp_stride(&self) -> u64 {
        let tc = u64::from(self.tp) * u64::from(self.cp);
        match self.rank_order {
            RankOrder::TpCpDpPp => tc,
            RankOrder::TpCpPpDp => tc * u64::from(self.pp),
        }
    }

    /// Rank distance between pipeline neighbours: `tp cp dp` (tp-cp-dp-pp: pp outermost) or `tp cp`
    /// (tp-cp-pp-dp).
    pub fn pp_stride(&self) -> u64 {
        let tc = u64::from(self.tp) * u64::from(self.cp);
        match self.rank_order {
            RankOrder::TpCpDpPp => tc * u64::from(self.dp),
            RankOrder::TpCpPpDp => tc,
        }
    }

    /// Micro-batches per pipeline per step: `global_batch / (dp micro_batch)`.
    pub fn micro_batches(&self) -> u32 {
        (u64::from(self.global_batch) / (u64::from(self.dp) * u64::from(self.micro_batch))) as u32
    }

    /// The first rule the plan breaks, allocation-free (search hot path).
    #[inline]
    pub fn check_code(&self, m: &Model, cluster_gpus: u64) -> Option<Invalid> {
        if self.tp == 0
            || self.pp == 0
            || self.dp == 0
            || self.vp == 0
            || self.cp == 0
            || self.ep == 0
            || self.micro_batch == 0
            || self.global_batch == 0
            || self.hpz == 0
        {
            return Some(Invalid::BadValue);
        }
        if m.heads % self.tp != 0 {
            return Some(Invalid::HeadsTp);
        }
        if m.kv_heads % self.tp != 0 && self.tp % m.kv_heads != 0 {
            return Some(Invalid::KvHeadsTp);
        }
        if u64::from(m.layers) % (u64::from(self.pp) * u64::from(self.vp)) != 0 {
            return Some(Invalid::LayersPp);
        }
        if u64::from(self.global_batch) % (u64::from(self.dp) * u64::from(self.micro_batch)) != 0 {
            return Some(Invalid::BatchDp);
        }
        if self.gpus() > cluster_gpus {
            return Some(Invalid::TooManyGpus);
        }
        if self.ep > 1 && !m.is_moe() {
            return Some(Invalid::EpDense);
        }
        if self.ep > 1 && (self.dp % self.ep != 0 || m.experts % self.ep != 0) {
            return Some(Invalid::EpDivides);
        }
        if (m.seq_len as u64) % u64::from(self.cp) != 0 {
            return Some(Invalid::SeqCp);
        }
        if self.vp > 1 && (self.pp == 1 || self.micro_batches() % self.pp != 0) {
            return Some(Invalid::Interleave);
        }
        if self.zero >= 2 && self.pp > 1 {
            return Some(Invalid::ZeroPp);
        }
        if (self.qwz || self.qgz || self.hpz > 1) && (self.zero != 3 || self.dp % self.hpz != 0) {
            return Some(Invalid::ZeroPlusPlus);
        }
        if self.hierarchical_partition() {
            let (w, g) = (self.weights_of(), self.grads_of());
            if self.zero != 3 || self.hpz > 1 || g % w != 0 || self.dp % g != 0 {
                return Some(Invalid::Partition);
            }
        }
        if self.sp && self.tp == 1 {
            return Some(Invalid::SpWithoutTp);
        }
        if self.ep > 1 && self.rank_order != RankOrder::TpCpDpPp {
            return Some(Invalid::RankOrderEp);
        }
        None
    }

    /// [`Plan::check`] for a plan whose layers are split unevenly by an explicit partition: every rule but
    /// `layers divisible by pp x vp` (the partition is checked on its own).
    pub fn check_partitioned(&self, m: &Model, cluster_gpus: u64) -> Result<()> {
        let mut even = *m;
        even.layers = self.pp.max(1) * self.vp.max(1);
        self.check(&even, cluster_gpus)?;
        if m.layers < even.layers {
            return Err(invalid(
                "pp",
                format!(
                    "the model's {} layers cannot fill pp x vp = {} stages",
                    m.layers, even.layers
                ),
            ));
        }
        Ok(())
    }

    /// Whether ZeRO-3 states are partitioned over groups smaller than dp (`weights_group`/`grads_group`).
    pub fn hierarchical_partition(&self) -> bool {
        (self.weights_group > 0 && self.weights_group < self.dp)
            || (self.grads_group > 0 && self.grads_group < self.dp)
    }

    /// Ranks sharing one copy of the 16-bit weights (dp when not set).
    pub fn weights_of(&self) -> u32 {
        if self.weights_group == 0 {
            self.dp
        } else {
            self.weights_group.min(self.dp)
        }
    }

    /// Ranks the gradients are reduce-scattered over per micro-batch (dp when not set).
    pub fn grads_of(&self) -> u32 {
        if self.grads_group == 0 {
            self.dp
        } else {
            self.grads_group.min(self.dp)
        }
    }

    /// Whether an overlap flag is set where there is nothing to hide (dp, tp or pp of 1): the plan is then the same
    /// as the one without the flag, so a search skips it.
    /// With frozen weights, options that change nothing: ZeRO-1/2 (no gradients or optimizer states to
    /// shard), optimizer offload (no states), DP overlap below ZeRO-3 (no DP collectives). A search skips them
    /// where the space also holds the plan without them.
    pub fn redundant_frozen(&self) -> bool {
        self.frozen_weights
            && (matches!(self.zero, 1 | 2)
                || self.offload_optimizer
                || (self.dp_overlap && self.zero != 3))
    }

    pub fn redundant_overlap(&self) -> bool {
        (self.dp_overlap && self.dp == 1)
            || (self.tp_overlap && self.tp == 1)
            || (self.pp_overlap && self.pp == 1)
    }

    /// Full check with an error naming the constraint and the numbers.
    pub fn check(&self, m: &Model, cluster_gpus: u64) -> Result<()> {
        if self.zero > 3 {
            return Err(invalid(
                "zero",
                format!("is {}; expected 0, 1, 2 or 3", self.zero),
            ));
        }
        if self.lora_rank > 0 && !self.frozen_weights {
            return Err(invalid(
                "lora_rank",
                format!(
                    "is {}; LoRA adapters train on frozen weights: set frozen_weights=True",
                    self.lora_rank
                ),
            ));
        }
        if self.lora_dropout && self.lora_rank == 0 {
            return Err(invalid(
                "lora_dropout",
                "is True with lora_rank = 0: the dropout is on the adapters' inputs; give lora_rank",
            ));
        }
        let Some(code) = self.check_code(m, cluster_gpus) else {
            return Ok(());
        };
        let p = self;
        Err(match code {
            Invalid::BadValue => invalid("plan", "tp, pp, dp, vp, cp, ep, micro_batch, global_batch and hpz must all be >= 1"),
            Invalid::HeadsTp => invalid("tp", format!("heads ({}) must be divisible by tp ({})", m.heads, p.tp)),
            Invalid::KvHeadsTp => invalid("tp", format!("kv_heads ({}) and tp ({}) must divide one another", m.kv_heads, p.tp)),
            Invalid::LayersPp => invalid(
                "pp",
                format!("layers ({}) must be divisible by pp x vp = {} x {} = {}", m.layers, p.pp, p.vp, u64::from(p.pp) * u64::from(p.vp)),
            ),
            Invalid::BatchDp => invalid(
                "global_batch",
                format!(
                    "global batch ({}) must be divisible by dp x micro_batch = {} x {} = {}",
                    p.global_batch,
                    p.dp,
                    p.micro_batch,
                    u64::from(p.dp) * u64::from(p.micro_batch)
                ),
            ),
            Invalid::TooManyGpus => invalid(
                "dp",
                format!(
                    "the plan uses tp x pp x dp x cp = {} GPUs, more than the cluster's {cluster_gpus}",
                    p.gpus()
                ),
            ),
            Invalid::EpDense => Error::Unsupported {
                message: format!("ep = {} needs a mixture-of-experts model; this model is dense (experts = {})", p.ep, m.experts),
            },
            Invalid::EpDivides => invalid("ep", format!("ep ({}) must divide dp ({}) and experts ({})", p.ep, p.dp, m.experts)),
            Invalid::SeqCp => invalid("cp", format!("seq_len ({}) must be divisible by cp ({})", m.seq_len, p.cp)),
            Invalid::Interleave => invalid(
                "vp",
                format!(
                    "interleaving (vp = {}) needs pp > 1 and micro-batches ({}) divisible by pp ({})",
                    p.vp,
                    p.micro_batches(),
                    p.pp
                ),
            ),
            Invalid::ZeroPp => Error::Unsupported {
                message: format!("ZeRO-{} cannot be combined with pipeline parallelism (pp = {}); use zero <= 1", p.zero, p.pp),
            },
            Invalid::ZeroPlusPlus => invalid(
                "zeropp",
                format!("qwz, qgz and hpz need zero = 3 (got {}) and hpz ({}) dividing dp ({})", p.zero, p.hpz, p.dp),
            ),
            Invalid::SpWithoutTp => invalid("sp", "sequence parallelism needs tp > 1"),
            Invalid::GpusDivide => invalid("dp", "the cluster's GPU count must be divisible by tp x pp x cp"),
            // Found against a cluster (step::check_placement names the group and the level).
            Invalid::Placement => invalid("plan", Invalid::NAMES[Invalid::Placement as usize]),
            // Search only (a duplicate of the plan without the flag).
            Invalid::RedundantOverlap => invalid("plan", Invalid::NAMES[Invalid::RedundantOverlap as usize]),
            Invalid::NoHostLink => invalid("offload", Invalid::NAMES[Invalid::NoHostLink as usize]),
            Invalid::RankOrderEp => invalid(
                "rank_order",
                format!(
                    "is '{}' with ep = {}: expert parallelism is modelled in the 'tp-cp-dp-pp' order only (its \
                     expert groups are carved out of contiguous data-parallel ranks)",
                    p.rank_order.name(),
                    p.ep
                ),
            ),
            Invalid::FrozenRedundant => {
                invalid("frozen_weights", Invalid::NAMES[Invalid::FrozenRedundant as usize])
            }
            Invalid::Partition => invalid(
                "weights_group",
                format!(
                    "hierarchical partitioning needs zero = 3 (got {}), no hpz (got {}), and weights_group ({}) dividing \
                     grads_group ({}) dividing dp ({})",
                    p.zero, p.hpz, p.weights_of(), p.grads_of(), p.dp
                ),
            ),
        })
    }
}

/// Field names a plan map accepts (booleans as 0/1, `recompute` as 0 none / 1 selective / 2 full, `cuda_graphs`
/// as 0 none / 1 layer / 2 full).
pub const PLAN_KEYS: &[&str] = &[
    "tp",
    "pp",
    "dp",
    "vp",
    "cp",
    "ep",
    "micro_batch",
    "global_batch",
    "sp",
    "recompute",
    "zero",
    "qwz",
    "qgz",
    "hpz",
    "weights_group",
    "grads_group",
    "offload_optimizer",
    "offload_activations",
    "fp8",
    "flash_attention",
    "cudnn_attention",
    "dp_overlap",
    "tp_overlap",
    "pp_overlap",
    "grad_fp32",
    "frozen_weights",
    "fp4",
    "rank_order",
    "cuda_graphs",
    "vocab_multiple",
    "lora_rank",
    "lora_dropout",
    "fp8_attention",
];

/// The largest count a plan option takes (GPUs, ranks, batch): 2^24, as the Python boundary's `MAX_COUNT`.
pub const MAX_PLAN_COUNT: f64 = 16_777_216.0;

fn count(arg: &str, v: f64) -> Result<u32> {
    if !v.is_finite() || v.fract() != 0.0 || !(1.0..=MAX_PLAN_COUNT).contains(&v) {
        return Err(invalid(
            arg,
            format!("is {v}; expected a whole number from 1 to 16,777,216"),
        ));
    }
    Ok(v as u32)
}

/// An on/off option: exactly 0 or 1 (a bool from Python).
fn flag(arg: &str, v: f64) -> Result<bool> {
    if v == 0.0 || v == 1.0 {
        Ok(v == 1.0)
    } else {
        Err(invalid(arg, format!("is {v}; expected True or False")))
    }
}

/// A whole number >= 0 (0 meaning "not set").
fn whole(arg: &str, v: f64) -> Result<u32> {
    if !v.is_finite() || v.fract() != 0.0 || !(0.0..=MAX_PLAN_COUNT).contains(&v) {
        return Err(invalid(
            arg,
            format!(
                "is {v}; expected a whole number from 0 to 16,777,216 (0: all data-parallel ranks)"
            ),
        ));
    }
    Ok(v as u32)
}

impl Plan {
    /// Builds a plan from named numbers over [`Plan::default`]; unknown names are errors.
    pub fn from_pairs(pairs: &[(&str, f64)]) -> Result<Plan> {
        let mut p = Plan::default();
        for &(k, v) in pairs {
            match k {
                "tp" => p.tp = count(k, v)?,
                "pp" => p.pp = count(k, v)?,
                "dp" => p.dp = count(k, v)?,
                "vp" => p.vp = count(k, v)?,
                "cp" => p.cp = count(k, v)?,
                "ep" => p.ep = count(k, v)?,
                "micro_batch" => p.micro_batch = count(k, v)?,
                "global_batch" => p.global_batch = count(k, v)?,
                "hpz" => p.hpz = count(k, v)?,
                "weights_group" => p.weights_group = whole(k, v)?,
                "grads_group" => p.grads_group = whole(k, v)?,
                "offload_optimizer" => p.offload_optimizer = flag(k, v)?,
                "offload_activations" => p.offload_activations = flag(k, v)?,
                "sp" => p.sp = flag(k, v)?,
                "recompute" => p.recompute = Recompute::from_code(v)?,
                "zero" => {
                    if !(v == 0.0 || v == 1.0 || v == 2.0 || v == 3.0) {
                        return Err(invalid("zero", format!("is {v}; expected 0, 1, 2 or 3")));
                    }
                    p.zero = v as u8;
                }
                "qwz" => p.qwz = flag(k, v)?,
                "qgz" => p.qgz = flag(k, v)?,
                "fp8" => p.fp8 = flag(k, v)?,
                "fp4" => p.fp4 = flag(k, v)?,
                "rank_order" => p.rank_order = RankOrder::from_code(v)?,
                "cuda_graphs" => p.cuda_graphs = CudaGraphs::from_code(v)?,
                "vocab_multiple" => p.vocab_multiple = count(k, v)?,
                "flash_attention" => p.flash_attention = flag(k, v)?,
                "cudnn_attention" => p.cudnn_attention = flag(k, v)?,
                "dp_overlap" => p.dp_overlap = flag(k, v)?,
                "tp_overlap" => p.tp_overlap = flag(k, v)?,
                "pp_overlap" => p.pp_overlap = flag(k, v)?,
                "grad_fp32" => p.grad_fp32 = flag(k, v)?,
                "frozen_weights" => p.frozen_weights = flag(k, v)?,
                "lora_rank" => {
                    if !v.is_finite() || v.fract() != 0.0 || !(0.0..=MAX_PLAN_COUNT).contains(&v) {
                        return Err(invalid(
                            k,
                            format!("is {v}; expected a whole number from 0 (no adapters) to 16,777,216"),
                        ));
                    }
                    p.lora_rank = v as u32;
                }
                "lora_dropout" => p.lora_dropout = flag(k, v)?,
                "fp8_attention" => p.fp8_attention = flag(k, v)?,
                _ => {
                    let close = crate::error::closest(k, PLAN_KEYS.iter().copied());
                    let hint = if close.is_empty() {
                        String::new()
                    } else {
                        format!("; did you mean {}?", crate::error::quoted_list(&close))
                    };
                    return Err(invalid(k, format!("is not a plan option{hint}")));
                }
            }
        }
        Ok(p)
    }
}
