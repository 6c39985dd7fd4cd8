//! Step time and memory of one plan: per-layer compute from the roofline engine, TP/SP/CP/EP collectives,
//! pipeline send/recv and bubble (Narayanan et al. SC'21 §2.2), DP/ZeRO/ZeRO++ collectives with an overlap
//! model, and the optimizer step. Pure arithmetic on a resolved [`Cluster`]: no allocation per plan.
use super::model::{Model, Recompute};
use super::plan::{CudaGraphs, Plan};
use crate::collective::group::Machine;
use crate::collective::{Algorithm, Estimate as CollectiveEstimate, Op};
use crate::error::{check_positive, Result};
use crate::hw::{self, Dtype, System};
use crate::roofline::{AttentionContext, AttentionKernel, GemmContext, StreamContext};

/// Bytes of a 16-bit activation/weight element.
const B16: f64 = 2.0;
/// Adam optimizer bytes per parameter (fp32 master + momentum + variance; ZeRO paper K = 12).
const OPT_BYTES: f64 = 12.0;
/// Bytes moved per parameter by the Adam update: reads p, m, v (fp32) and the 16-bit gradient, writes p, m, v
/// and the 16-bit model copy.
const ADAM_READ: f64 = 14.0;
const ADAM_WRITE: f64 = 14.0;

/// Per-system calibration, fitted once per hardware system on named rows: a factor on the times of the
/// matrix-unit kernels (GEMMs, attention), one on the times of the memory-bound kernels of the layers and the
/// loss (norms, activations, dropout, residuals, softmax, cross-entropy), one on every level's link bandwidth,
/// and one more on the network (scale-out NIC) level's alone: what a training framework's data-parallel and
/// pipeline traffic achieves over the NICs against the nccl-tests-validated engine (strided communicators of
/// every rank of a node at once, fp32 gradient buckets, fabric congestion at scale). `kernel_launch_s` is the
/// host time per kernel of an eager step (framework dispatch included; 0: the host is never the bottleneck).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub compute_time_scale: f64,
    pub memory_time_scale: f64,
    pub comm_bandwidth_scale: f64,
    pub network_bandwidth_scale: f64,
    /// Host time to launch one kernel of an eager (not graph-captured) step, s ([`launch_kernels`]).
    pub kernel_launch_s: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            compute_time_scale: 1.0,
            memory_time_scale: 1.0,
            comm_bandwidth_scale: 1.0,
            network_bandwidth_scale: 1.0,
            kernel_launch_s: 0.0,
        }
    }
}

/// A cluster resolved for the step model: the machine its communicators are priced on (by the collectives
/// engine) plus the device's kernel contexts.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    pub machine: Machine,
    pub gemm16: GemmContext,
    pub gemm8: Option<GemmContext>,
    /// NVFP4 GEMMs (block-scaled 4-bit operands), where the device has the matrix rate.
    pub gemm4: Option<GemmContext>,
    pub attn: AttentionContext,
    /// cuDNN's fused attention, where the device has its figure.
    pub attn_cudnn: Option<AttentionContext>,
    /// cuDNN's fused attention on FP8 operands (Q, K, V and the probabilities at the device's FP8 matrix rate),
    /// where the device has both (`fp8_attention`).
    pub attn8_cudnn: Option<AttentionContext>,
    pub stream: StreamContext,
    pub peak16: f64,
    pub peak8: f64,
    pub peak4: f64,
    pub capacity_bytes: f64,
    /// Host link of one device, bytes/s per direction (0: no sourced figure, offload unsupported).
    pub host_link: f64,
    /// Host memory per device (the node's divided by its devices), bytes (infinite where not given).
    pub host_capacity_bytes: f64,
    pub calib: Calibration,
}

impl Cluster {
    /// `nodes` nodes of a hwdb system.
    pub fn new(system: &System, nodes: u32, calib: Calibration) -> Result<Cluster> {
        if nodes == 0 {
            return Err(crate::error::invalid(
                "nodes",
                "is 0; expected at least 1 node",
            ));
        }
        check_positive("compute_time_scale", calib.compute_time_scale)?;
        check_positive("memory_time_scale", calib.memory_time_scale)?;
        check_positive("comm_bandwidth_scale", calib.comm_bandwidth_scale)?;
        check_positive("network_bandwidth_scale", calib.network_bandwidth_scale)?;
        if !(calib.kernel_launch_s.is_finite() && (0.0..=1e-3).contains(&calib.kernel_launch_s)) {
            return Err(crate::error::invalid(
                "kernel_launch_us",
                format!(
                    "is {} us; expected a number from 0 to 1000 us",
                    calib.kernel_launch_s * 1e6
                ),
            ));
        }
        let dev = hw::registry()?
            .get_kind(&system.device, "device")?
            .device()?;
        let group =
            crate::topology::NodeGroup::from_system(std::sync::Arc::new(system.clone()), nodes)?;
        let machine = Machine::of_group(&group, calib.comm_bandwidth_scale)?
            .with_network_scale(calib.network_bandwidth_scale);
        // 16-bit training runs in bf16 where the device has it, else in fp16 (V100); the two peaks are equal
        // on devices that have both.
        let d16 = if dev.gemm_peak(Dtype::Bf16).is_ok() {
            Dtype::Bf16
        } else {
            Dtype::Fp16
        };
        Ok(Cluster {
            machine,
            gemm16: GemmContext::new(&dev, d16)?,
            gemm8: GemmContext::new(&dev, Dtype::Fp8).ok(),
            gemm4: GemmContext::new(&dev, Dtype::Nvfp4).ok(),
            attn: AttentionContext::new(&dev, d16)?,
            attn_cudnn: AttentionContext::with_kernel(&dev, d16, AttentionKernel::Cudnn).ok(),
            attn8_cudnn: AttentionContext::with_kernel(&dev, Dtype::Fp8, AttentionKernel::Cudnn)
                .ok(),
            stream: StreamContext::new(&dev, d16)?,
            peak16: dev.gemm_peak(d16)?,
            peak8: dev.matrix_peak(Dtype::Fp8).unwrap_or(0.0),
            peak4: dev.matrix_peak(Dtype::Nvfp4).unwrap_or(0.0),
            capacity_bytes: dev.hbm.capacity_bytes,
            host_link: system.host_link_bytes_per_s.unwrap_or(0.0),
            host_capacity_bytes: system
                .host_memory_bytes
                .map_or(f64::INFINITY, |b| b / f64::from(system.devices_per_node)),
            calib,
        })
    }

    /// `nodes` nodes of a system whose levels are given (in-node levels from a
    /// [`crate::topology::NodeGroup`], and the network its communicators cross).
    pub fn from_levels(
        system: &System,
        in_node: &[crate::topology::Level],
        network: &crate::topology::LevelParams,
        nodes: u32,
        calib: Calibration,
    ) -> Result<Cluster> {
        let mut c = Cluster::new(system, 1, calib)?;
        c.machine = Machine::new(
            in_node,
            network,
            system.devices_per_node,
            nodes,
            calib.comm_bandwidth_scale,
        )?
        .with_network_scale(calib.network_bandwidth_scale);
        Ok(c)
    }

    pub fn gpus(&self) -> u64 {
        self.machine.devices()
    }

    /// One collective of a plan's group (`size` ranks `stride` apart), priced by the collectives engine.
    #[inline]
    pub fn collective(&self, op: Op, size: u32, stride: u64, bytes: f64) -> CollectiveEstimate {
        self.machine.collective(op, size, stride, bytes)
    }

    /// [`Cluster::collective`] with a given algorithm, or why it cannot run
    /// ([`crate::collective::group::Machine::collective_with`]).
    pub fn collective_with(
        &self,
        op: Op,
        size: u32,
        stride: u64,
        bytes: f64,
        algorithm: Algorithm,
    ) -> Result<CollectiveEstimate> {
        self.machine
            .collective_with(op, size, stride, bytes, algorithm)
    }
}

/// Memory per device, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// Bytes per device kept in host memory (offloaded optimizer states and activations); not in `total`.
    pub host: f64,
    pub weights: f64,
    pub gradients: f64,
    pub optimizer: f64,
    pub activations: f64,
    pub secondary: f64,
    pub buffers: f64,
}

impl Memory {
    pub fn total(&self) -> f64 {
        self.weights
            + self.gradients
            + self.optimizer
            + self.activations
            + self.secondary
            + self.buffers
    }
}

/// Step time (s) by component; components add up to `step`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Times {
    pub forward: f64,
    pub backward: f64,
    pub recompute: f64,
    pub tp_comm: f64,
    pub cp_comm: f64,
    pub ep_comm: f64,
    pub pp_comm: f64,
    pub bubble: f64,
    pub dp_comm: f64,
    pub optimizer: f64,
    /// Host launch time beyond the GPU time of the micro-batches (eager steps, [`launch_kernels`]).
    pub launch: f64,
}

impl Times {
    pub fn step(&self) -> f64 {
        self.forward
            + self.backward
            + self.recompute
            + self.tp_comm
            + self.cp_comm
            + self.ep_comm
            + self.pp_comm
            + self.bubble
            + self.dp_comm
            + self.optimizer
            + self.launch
    }
}

/// The full evaluation of one plan.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    pub times: Times,
    pub memory: Memory,
    pub step_time_s: f64,
    pub tokens_per_s: f64,
    pub mfu: f64,
    pub hfu: f64,
    pub tflops_per_gpu: f64,
    pub model_flops_per_step: f64,
    pub hardware_flops_per_step: f64,
    pub fits: bool,
    /// Bytes per rank that cross the node boundary in DP/ZeRO collectives per step.
    pub dp_cross_node_bytes: f64,
}

/// One GEMM forward and its two backward GEMMs (data and weight gradients).
#[inline]
fn gemm_fb(g: &GemmContext, m: f64, n: f64, k: f64, batch: f64) -> (f64, f64) {
    let (f, dgrad, wgrad) = gemm_fdw(g, m, n, k, batch);
    (f, dgrad + wgrad)
}

/// A linear layer's (forward, backward): the backward without the weight-gradient GEMM when the weights are
/// `frozen`.
#[inline]
fn linear_fb(g: &GemmContext, m: f64, n: f64, k: f64, batch: f64, frozen: bool) -> (f64, f64) {
    let (f, dgrad, wgrad) = gemm_fdw(g, m, n, k, batch);
    (f, if frozen { dgrad } else { dgrad + wgrad })
}

/// One GEMM forward, its data-gradient and its weight-gradient GEMM, separately.
#[inline]
fn gemm_fdw(g: &GemmContext, m: f64, n: f64, k: f64, batch: f64) -> (f64, f64, f64) {
    (
        g.estimate(m, n, k, batch).time_s,
        g.estimate(m, k, n, batch).time_s,
        g.estimate(k, n, m, batch).time_s,
    )
}

/// Per-layer, per-micro-batch times on one device.
#[derive(Debug, Clone, Copy, Default)]
struct LayerTimes {
    fwd: f64,
    bwd: f64,
    /// Attention-core forward (what selective recompute redoes).
    attn_fwd: f64,
    /// GEMM time that TP collectives can hide behind when overlapped.
    overlappable: f64,
    /// Data- and weight-gradient GEMM times of the two column-parallel linears (QKV and the MLP
    /// up-projection): Megatron-LM's backward runs the input-gradient collective of each of them
    /// asynchronously, behind that linear's weight-gradient GEMM (and, with SP, the re-gather of its
    /// sequence-sharded input behind the data-gradient GEMM).
    col_dgrad: [f64; 2],
    col_wgrad: [f64; 2],
}

fn layer_times(m: &Model, p: &Plan, c: &Cluster) -> LayerTimes {
    let g = if p.fp4 {
        c.gemm4.as_ref().unwrap_or(&c.gemm16)
    } else if p.fp8 {
        c.gemm8.as_ref().unwrap_or(&c.gemm16)
    } else {
        &c.gemm16
    };
    let t = f64::from(p.tp);
    let h = m.hidden;
    let b = f64::from(p.micro_batch);
    let s = m.seq_len / f64::from(p.cp);
    let tok = b * s;
    // Query width: heads x head_dim, which differs from the hidden size where head_dim is given (Qwen3,
    // Gemma) or the queries are MLA's (DeepSeek-V3).
    let q = m.q_width();
    let fz = p.frozen_weights;
    let (qkv_f, qkv_d, mut qkv_w) = gemm_fdw(g, tok, (q + m.kv_width()) / t, h, 1.0);
    if fz {
        qkv_w = 0.0;
    }
    let qkv_b = qkv_d + qkv_w;
    // Column-parallel up-projection of the MLP: (data-gradient, weight-gradient) time.
    let up_dw;
    let (proj_f, proj_b) = linear_fb(g, tok, h, q / t, 1.0, fz);
    let (mut mlp_f, mut mlp_b) = (0.0, 0.0);
    let mats = m.mlp_mats();
    let mut mlp_width = m.ffn_hidden;
    if m.is_moe() {
        let ep = f64::from(p.ep);
        let e = f64::from(m.experts);
        let f = m.expert_ffn();
        let per_expert = (tok * f64::from(m.top_k) * ep / e).max(1.0);
        let (uf, ud, uw) = gemm_fdw(g, per_expert, (mats - 1.0) * f / t, h, e / ep);
        let uw = if fz { 0.0 } else { uw };
        let ub = ud + uw;
        up_dw = (ud, uw);
        let (df, db) = linear_fb(g, per_expert, h, f / t, e / ep, fz);
        let (rf, rb) = linear_fb(&c.gemm16, tok, m.experts.into(), h, 1.0, fz);
        mlp_f += uf + df + rf;
        mlp_b += ub + db + rb;
        if m.shared_experts > 0 {
            let fs = f * f64::from(m.shared_experts);
            let (uf, ub) = linear_fb(g, tok, (mats - 1.0) * fs / t, h, 1.0, fz);
            let (df, db) = linear_fb(g, tok, h, fs / t, 1.0, fz);
            mlp_f += uf + df;
            mlp_b += ub + db;
        }
        mlp_width = f * f64::from(m.top_k + m.shared_experts);
    } else {
        let f = m.ffn_hidden;
        let (uf, ud, uw) = gemm_fdw(g, tok, (mats - 1.0) * f / t, h, 1.0);
        let uw = if fz { 0.0 } else { uw };
        let ub = ud + uw;
        up_dw = (ud, uw);
        let (df, db) = linear_fb(g, tok, h, f / t, 1.0, fz);
        mlp_f = uf + df;
        mlp_b = ub + db;
    }
    let heads = f64::from(m.heads) / t;
    let d = m.head_dim();
    // Attention core: (matrix-unit forward, backward), (memory-bound forward, backward).
    let ((attn_f, attn_b), (soft_f, soft_b)) = if p.flash_attention {
        // FP8 attention: cuDNN's kernel model on FP8 operands (`check_supported` has checked the device has it),
        // plus Transformer Engine's casts around it.
        let attn = match (p.fp8_attention, p.cudnn_attention, c.attn8_cudnn.as_ref()) {
            (true, true, Some(a8)) => a8,
            (_, true, _) => c.attn_cudnn.as_ref().unwrap_or(&c.attn),
            _ => &c.attn,
        };
        let fwd = attn.estimate(b, heads, s, m.seq_len, d, true, false);
        let bwd = attn.estimate(b, heads, s, m.seq_len, d, true, true);
        let casts = if p.fp8_attention {
            fp8_attention_cast_times(m, p, c, tok)
        } else {
            (0.0, 0.0)
        };
        ((fwd.time_s, bwd.time_s), casts)
    } else {
        // Megatron-LM 2021: batched QK^T and AV GEMMs over the full score matrix, plus a fused
        // scale-mask-softmax and dropout over b (a/t) s^2 scores (read + write, 1-byte dropout mask).
        let bh = b * heads;
        let (sf, sb) = gemm_fb(&c.gemm16, s, m.seq_len, d, bh);
        let (af, ab) = gemm_fb(&c.gemm16, s, d, m.seq_len, bh);
        let scores = bh * s * m.seq_len;
        let soft_f = c
            .stream
            .estimate(scores * B16, scores * (2.0 * B16 + 1.0), 0.0)
            .time_s;
        let soft_b = c
            .stream
            .estimate(scores * (2.0 * B16 + 1.0), scores * B16, 0.0)
            .time_s;
        ((sf + af, sb + ab), (soft_f, soft_b))
    };
    // Elementwise: two norms, two dropout+residual adds (on tok/t tokens with SP), activation on the MLP.
    let tok_e = if p.sp { tok / t } else { tok };
    let read = B16 * (tok_e * (2.0 * h + 4.0 * h) + tok * mlp_width * (mats - 1.0) / t);
    let write = B16 * (tok_e * (2.0 * h + 2.0 * h) + tok * mlp_width / t) + tok_e * 2.0 * h;
    let elem_f = c.stream.estimate(read, write, 0.0).time_s;
    let elem_b = c.stream.estimate(read + write, read, 0.0).time_s;
    let (cast_f, cast_b) = if p.fp4 && c.gemm4.is_some() {
        fp4_cast_times(m, p, c, tok)
    } else if p.fp8 && c.gemm8.is_some() {
        fp8_cast_times(m, p, c, tok)
    } else {
        (0.0, 0.0)
    };
    let ((lora_gf, lora_gb), (lora_mf, lora_mb)) = lora_times(m, p, c, tok);
    let k = c.calib.compute_time_scale;
    let km = c.calib.memory_time_scale;
    LayerTimes {
        fwd: k * (qkv_f + proj_f + mlp_f + attn_f + lora_gf)
            + km * (soft_f + elem_f + cast_f + lora_mf),
        bwd: k * (qkv_b + proj_b + mlp_b + attn_b + lora_gb)
            + km * (soft_b + elem_b + cast_b + lora_mb),
        attn_fwd: k * attn_f + km * soft_f,
        overlappable: k * (qkv_f + mlp_f),
        col_dgrad: [k * qkv_d, k * up_dw.0],
        col_wgrad: [k * qkv_w, k * up_dw.1],
    }
}

/// The LoRA adapters of one layer for one micro-batch of `tok` tokens on one TP rank, as NeMo's
/// `ParallelLinearAdapter` runs them (NVIDIA/NeMo @ 4068955b5add5a52a493c10be12437de3f4ca361, tag
/// 24.09-alpha.rc0, `nemo/collections/nlp/modules/common/megatron/adapters/parallel_adapters.py`, with
/// `peft_config.py` `_create_lora_config`: identity activation, `gather_output=False`; `mcore_mixins.py`: the
/// QKV adapter reads the layer norm's output, gathered over the sequence-parallel ranks, and its result is added
/// to the QKV GEMM's; the output-projection adapter reads the attention output and its result is added to the
/// projection's): `((GEMM forward, GEMM backward), (memory-bound forward, memory-bound backward))` seconds.
/// Each adapter is a 16-bit rank-`r` pair of linears (`linear_in` h -> r, column-parallel with its output
/// gathered, for QKV; row-parallel for the projection; `linear_out` r -> out, column-parallel), an optional
/// dropout on its input (`dropout_position: pre`: the dropout output and a 1-byte mask written, read again
/// backward), the `alpha / r` scaling pass and the add into the frozen linear's output; backward the scaling,
/// the data- and weight-gradient GEMMs of both linears and the add of the input gradient into the frozen
/// path's. GEMMs at the device's 16-bit rate (the adapters are plain Megatron linears, not FP8), the passes
/// on the stream engine; their collectives are [`lora_collectives`]. With sequence parallelism the
/// projection adapter's output leaves by an all-to-all (NeMo's `a2a_experimental`) and is scaled and added
/// on `tok / tp` tokens.
fn lora_times(m: &Model, p: &Plan, c: &Cluster, tok: f64) -> ((f64, f64), (f64, f64)) {
    if p.lora_rank == 0 {
        return ((0.0, 0.0), (0.0, 0.0));
    }
    let g = &c.gemm16;
    let gemm = |m_: f64, n: f64, k: f64| g.estimate(m_, n, k, 1.0).time_s;
    let pass = |read: f64, write: f64| c.stream.estimate(read, write, 0.0).time_s;
    let t = f64::from(p.tp);
    let r = f64::from(p.lora_rank);
    let h = m.hidden;
    let q_in = m.q_width() / t;
    let qkv_out = (m.q_width() + m.kv_width()) / t;
    // Dropout over `n` values: forward writes the output and a 1-byte mask, backward reads the gradient and
    // the mask and writes the input's gradient.
    let dropout = |n: f64| {
        if p.lora_dropout {
            (
                pass(B16 * n, (B16 + 1.0) * n),
                pass((B16 + 1.0) * n, B16 * n),
            )
        } else {
            (0.0, 0.0)
        }
    };
    // Scaling of the adapter's output (`x * alpha / r`) and its add into the frozen linear's output: forward
    // one pass each; backward the scaling's (the add's gradient passes through).
    let scale_add = |n: f64| {
        (
            pass(B16 * n, B16 * n) + pass(2.0 * B16 * n, B16 * n),
            pass(B16 * n, B16 * n),
        )
    };
    // QKV adapter: input [tok, h], linear_in h -> r/t (gathered to r), linear_out r -> qkv_out.
    let (qd_f, qd_b) = dropout(tok * h);
    let (qs_f, qs_b) = scale_add(tok * qkv_out);
    let q_gf = gemm(tok, r / t, h) + gemm(tok, qkv_out, r);
    let q_gb =
        gemm(tok, r, qkv_out) + gemm(r, qkv_out, tok) + gemm(tok, h, r / t) + gemm(r / t, h, tok);
    // The input gradient added into the layer norm output's.
    let q_acc = pass(2.0 * B16 * tok * h, B16 * tok * h);
    // Projection adapter: input [tok, q/t], linear_in q/t -> r (row-parallel), linear_out r -> h/t.
    // Its output: [tok / t, h] after the all-to-all with SP, [tok, h] (gathered where tp > 1) without.
    let out_tok = if p.sp { tok / t } else { tok };
    let (pd_f, pd_b) = dropout(tok * q_in);
    let (ps_f, ps_b) = scale_add(out_tok * h);
    let p_gf = gemm(tok, r, q_in) + gemm(tok, h / t, r);
    let p_gb = gemm(tok, r, h / t) + gemm(r, h / t, tok) + gemm(tok, q_in, r) + gemm(r, q_in, tok);
    let p_acc = pass(2.0 * B16 * tok * q_in, B16 * tok * q_in);
    (
        (q_gf + p_gf, q_gb + p_gb),
        (
            qd_f + qs_f + pd_f + ps_f,
            qd_b + qs_b + q_acc + pd_b + ps_b + p_acc,
        ),
    )
}

/// Values a low-precision recipe quantizes per TP rank for one micro-batch of `tok` tokens: the inputs (forward)
/// and the output gradients (backward) of the four linears (QKV, projection, MLP up, MLP down).
fn linear_operand_values(m: &Model, p: &Plan, tok: f64) -> (f64, f64) {
    let t = f64::from(p.tp);
    let h = m.hidden;
    let f = if m.is_moe() {
        m.expert_ffn() * f64::from(m.top_k + m.shared_experts)
    } else {
        m.ffn_hidden
    };
    let q = m.q_width();
    let inputs = tok * (h + q / t + h + f / t);
    let outputs = tok * ((q + m.kv_width()) / t + h + (m.mlp_mats() - 1.0) * f / t + h);
    (inputs, outputs)
}

/// FP8 (Transformer Engine) casts of one layer's four linears per micro-batch, (forward, backward) seconds:
/// before each fp8 GEMM the 16-bit operand is scaled, cast and transposed in one pass (TE's `cast_transpose`,
/// which also takes the amax): the forward reads each linear's input once (2 bytes per value) and writes its
/// fp8 copy and fp8 transpose (the transpose serves the weight-gradient GEMM); the backward does the same for
/// each output gradient (e5m2). Priced as FP8 cast passes on the roofline engine (`StreamContext::
/// estimate_fp8_cast`: the stream rate times the device's hwdb `fp8_cast_fraction`, fitted on this project's
/// fused cast(+transpose)+amax measurements on H200, about half the plain stream rate). Not priced: the weight
/// casts (once per step, cached across micro-batches as TE does) and the amax-history/scale update (a few
/// small batched kernels per step). Measured on H200 (validation/gpu_runs/fp8_h200_2026-12-04, PyTorch
/// `_scaled_mm`, casts, amax and transposes as separate kernels, fp8 weights cached): one fp8 linear layer
/// (forward, data and weight gradients) runs 0.49-1.44x (median 1.13x) as fast as bf16 at GPT-3 175B and
/// Llama-2-70B TP 4/8 shapes, far from the 2x of the matrix peaks.
fn fp8_cast_times(m: &Model, p: &Plan, c: &Cluster, tok: f64) -> (f64, f64) {
    let (inputs, outputs) = linear_operand_values(m, p, tok);
    let pass = |values: f64| {
        c.stream
            .estimate_fp8_cast(B16 * values, 2.0 * values)
            .time_s
    };
    (pass(inputs), pass(outputs))
}

/// Transformer Engine's casts around FP8 dot-product attention for one layer and micro-batch of `tok` tokens on one
/// TP rank, (forward, backward) seconds. TE's `FusedAttnFunc` (the copy vendored in
/// mlcommons/training_results_v4.1 @ b87b9e396f771345d4ef122ba33456304f15228d, `GigaComputing/benchmark/
/// llama2_70b_lora/implementations/pytorch/TransformerEngine/transformer_engine/pytorch/attention.py`), without
/// `fp8_mha`: forward `cast_to_fp8` of Q, K and V, cuDNN's FP8 forward, `cast_from_fp8` of O back to 16 bits;
/// backward (`NVTE_FP8_DPA_BWD=1`, TE's default) `cast_to_fp8` of dO, cuDNN's FP8 backward, `cast_from_fp8` of
/// dQ, dK and dV. Each a pass at the device's cast rate (`StreamContext::estimate_fp8_cast`).
fn fp8_attention_cast_times(m: &Model, p: &Plan, c: &Cluster, tok: f64) -> (f64, f64) {
    let t = f64::from(p.tp);
    let q = tok * m.q_width() / t;
    let kv = tok * m.kv_width() / t;
    let to8 = |values: f64| c.stream.estimate_fp8_cast(B16 * values, values).time_s;
    let from8 = |values: f64| c.stream.estimate_fp8_cast(values, B16 * values).time_s;
    // Q, K, V (K and V together are `kv_width` wide) in; O out.
    let fwd = to8(q) + to8(kv) + from8(q);
    // dO in; dQ, dK, dV out.
    let bwd = to8(q) + from8(q) + from8(kv);
    (fwd, bwd)
}

/// NVFP4 (Transformer Engine `NVFP4BlockScaling`) quantization of one layer's four linears per micro-batch,
/// (forward, backward) seconds. TE's `NVFP4Quantizer::quantize_impl` (NVIDIA/TransformerEngine
/// `transformer_engine/pytorch/csrc/quantizer.cpp`, TE 2.8+) runs two kernels per operand: the tensor's amax
/// (`nvte_compute_amax_with_config`, one read of the 16-bit values: the per-tensor FP32 scale must be known before
/// any 16-element block is scaled), then the cast (`nvte_quantize_v2`: a second read, writing the row-wise copy
/// for this GEMM and the column-wise copy for the weight-gradient GEMM, each 4 bits per value plus one E4M3
/// scale per 16 values, [`Dtype::Nvfp4`]'s bytes). The forward quantizes each linear's input, the backward each
/// output gradient, as the FP8 path ([`fp8_cast_times`]) counts them. The MLPerf v5.1 submissions run the
/// recipe without its random Hadamard transform, stochastic rounding and 2D weight blocks
/// (`NVTE_NVFP4_DISABLE_RHT=1`, `..._STOCHASTIC_ROUNDING=1`, `..._2D_QUANTIZATION=1` in their
/// `config_common_fp4.sh`): none of those is priced. Both passes at the device's cast rate
/// (`StreamContext::estimate_fp8_cast`; no FP4 cast measurement exists: the FP8 fused-cast fraction, or the
/// stream rate where the device has none, is assumed). Not priced, as for FP8: the weights' quantization
/// (once per step, the 16-bit weights cached in NVFP4 across micro-batches) and the amax reductions.
fn fp4_cast_times(m: &Model, p: &Plan, c: &Cluster, tok: f64) -> (f64, f64) {
    let (inputs, outputs) = linear_operand_values(m, p, tok);
    let fp4 = Dtype::Nvfp4.bytes();
    let pass = |values: f64| {
        let amax = c.stream.estimate_fp8_cast(B16 * values, 0.0).time_s;
        let cast = c
            .stream
            .estimate_fp8_cast(B16 * values, 2.0 * fp4 * values)
            .time_s;
        amax + cast
    };
    (pass(inputs), pass(outputs))
}

/// Korthikanti et al. 2022 Table 2 activation bytes of one layer for one micro-batch, generalized to FFN width
/// F as Megatron's `theoretical_memory_usage.py` does (`18 + 4F/h` in place of 34) and to GQA/MoE widths. With
/// flash attention the `5as/h` score term is absent (Dao et al. 2022 §3.1: only the output and the softmax
/// statistics are kept), so no recomputation and selective recomputation store the same.
pub fn layer_activation_bytes(m: &Model, p: &Plan) -> f64 {
    let s = m.seq_len / f64::from(p.cp);
    let sbh = s * f64::from(p.micro_batch) * m.hidden;
    let t = f64::from(p.tp);
    let mlp_width = if m.is_moe() {
        m.expert_ffn() * f64::from(m.top_k + m.shared_experts)
    } else {
        m.ffn_hidden
    };
    // 24 = 8 (QKV input, attention output...) + 4F/h for F = 4h; 10 = norms, dropout masks, residuals.
    let tp_part = 8.0 + 4.0 * mlp_width / m.hidden;
    // Softmax output, dropout mask and dropout output over the a s^2 scores; a flash-style kernel stores none
    // of them (it keeps the output and a per-row log-sum-exp, and recomputes the scores in the backward).
    let scores = if p.flash_attention {
        0.0
    } else {
        5.0 * f64::from(m.heads) * s / m.hidden
    };
    // LoRA adapters ([`lora_times`]): the QKV adapter's 16-bit input (the gathered layer-norm output, or its
    // dropout's output) kept for its weight gradient, and with dropout the 1-byte masks and the projection
    // adapter's dropped input (`b s q / t`).
    let lora = if p.lora_rank == 0 || p.recompute == Recompute::Full {
        0.0
    } else if p.lora_dropout {
        let q_t = m.q_width() / m.hidden / t;
        sbh * (B16 + 1.0 + (B16 + 1.0) * q_t)
    } else {
        sbh * B16
    };
    lora + match (p.recompute, p.sp) {
        (Recompute::Full, true) => 2.0 * sbh / t,
        (Recompute::Full, false) => 2.0 * sbh,
        (Recompute::Selective, false) => sbh * (10.0 + tp_part / t),
        (Recompute::Selective, true) => sbh * (10.0 + tp_part) / t,
        (Recompute::None, false) => sbh * (10.0 + tp_part / t + scores / t),
        (Recompute::None, true) => sbh * ((10.0 + tp_part) / t + scores / t),
    }
}

/// Which part of the model a pipeline stage holds besides its transformer layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageRole {
    /// The only stage (pp = 1): embedding, output layer and loss.
    Only,
    /// First of several: the embedding.
    First,
    /// Neither end: layers only.
    Middle,
    /// Last of several: output layer, final norm and loss.
    Last,
    /// Every stage priced as the heaviest one (the even-partition model): the larger of the first and last
    /// stages' extra parameters, and the logits and loss on the critical path.
    Uniform,
}

impl StageRole {
    /// The role of stage `i` of `pp` in an explicit (possibly uneven) partition.
    pub fn of(i: usize, pp: usize) -> StageRole {
        match (i, pp) {
            (_, 1) => StageRole::Only,
            (0, _) => StageRole::First,
            (i, pp) if i + 1 == pp => StageRole::Last,
            _ => StageRole::Middle,
        }
    }

    /// The role of every stage of an even partition.
    pub fn even(pp: u32) -> StageRole {
        if pp == 1 {
            StageRole::Only
        } else {
            StageRole::Uniform
        }
    }

    /// Parameters besides the transformer layers (embedding, output layer, final norm).
    fn extra_params(self, m: &Model) -> f64 {
        let out = m.output_params() + m.final_norm_params();
        match self {
            StageRole::Only => m.embedding_params() + out,
            StageRole::First => m.embedding_params(),
            StageRole::Middle => 0.0,
            StageRole::Last => out,
            StageRole::Uniform => m.embedding_params().max(out),
        }
    }

    /// Whether the stage runs the output layer and loss.
    fn logits(self) -> bool {
        matches!(self, StageRole::Only | StageRole::Last | StageRole::Uniform)
    }

    /// Whether the stage holds the embedding activations (the first stage; the uniform model prices it).
    fn embedding(self) -> bool {
        matches!(
            self,
            StageRole::Only | StageRole::First | StageRole::Uniform
        )
    }
}

/// Parameters held by one device of a stage with `layers` layers, before ZeRO sharding: (dense, expert).
pub fn stage_params(m: &Model, p: &Plan, layers: f64, role: StageRole) -> (f64, f64) {
    let t = f64::from(p.tp);
    let dense = layers * m.layer_dense_params() / t + role.extra_params(m) / t;
    let expert = layers * m.expert_params() / (t * f64::from(p.ep));
    (dense, expert)
}

/// Parameters held by one device of the heaviest stage of an even partition: (dense, expert).
pub fn device_params(m: &Model, p: &Plan) -> (f64, f64) {
    stage_params(m, p, f64::from(m.layers / p.pp), StageRole::even(p.pp))
}

/// Memory per device (heaviest stage: the first, which holds `min(p, m)` micro-batches in flight under 1F1B).
pub fn memory(m: &Model, p: &Plan, c: &Cluster) -> Memory {
    let _ = c;
    stage_memory(
        m,
        p,
        f64::from(m.layers / p.pp),
        f64::from(p.pp),
        StageRole::even(p.pp),
    )
}

/// Memory per device of a stage with `layers` layers and `inflight_stages` stages from it to the end of the
/// pipeline (stage i of p holds `min(p - i, m)` micro-batches in flight under 1F1B, Narayanan et al. §2.2).
pub fn stage_memory(
    m: &Model,
    p: &Plan,
    layers: f64,
    inflight_stages: f64,
    role: StageRole,
) -> Memory {
    let (dense, expert) = stage_params(m, p, layers, role);
    let params = dense + expert;
    let dp = f64::from(p.dp);
    let shard = |on: bool| if on { dp } else { 1.0 };
    let pp = f64::from(p.pp);
    let inflight = inflight_stages.min(f64::from(p.micro_batches()));
    let interleave = if p.vp > 1 {
        1.0 + (pp - 1.0) / (pp * f64::from(p.vp))
    } else {
        1.0
    };
    let lps = layers;
    let t = f64::from(p.tp);
    let s = m.seq_len / f64::from(p.cp);
    let sbh = s * f64::from(p.micro_batch) * m.hidden;
    let layer_act = layer_activation_bytes(m, p);
    // With activation offload each layer's stash leaves for the host after its forward: the device holds the
    // layer being computed and the one in flight over the host link.
    let mut act = if p.offload_activations {
        2.0 * layer_act
    } else {
        layer_act * lps * inflight * interleave
    };
    let host_act = if p.offload_activations {
        layer_act * lps * inflight * interleave
    } else {
        0.0
    };
    // Embedding output and dropout mask on the first stage (Megatron theoretical_memory_usage.py).
    if role.embedding() {
        act +=
            inflight * (8.0 * s * f64::from(p.micro_batch) + sbh) / t * if p.sp { 1.0 } else { t };
    }
    if matches!(role, StageRole::Only | StageRole::Last) {
        act += 4.0 * sbh * (1.0 + padded_vocab(m, p) / m.hidden) / t;
    }
    let layer_full = (m.layer_dense_params() + m.expert_params() / f64::from(p.ep)) / t;
    let buffers = if p.zero == 3 {
        2.0 * B16 * layer_full
    } else {
        0.0
    } + 2.0 * B16 * sbh;
    let (wshard, gshard) = if p.zero == 3 && p.hierarchical_partition() {
        (f64::from(p.weights_of()), f64::from(p.grads_of()))
    } else {
        (shard(p.zero >= 3), shard(p.zero >= 2))
    };
    // Frozen weights keep no gradients and no optimizer states (fp32 master copy, Adam moments).
    let trained = if p.frozen_weights { 0.0 } else { params };
    let optimizer = OPT_BYTES * trained / shard(p.zero >= 1);
    Memory {
        weights: B16 * params / wshard,
        gradients: B16 * trained / gshard,
        optimizer: if p.offload_optimizer { 0.0 } else { optimizer },
        activations: act,
        host: host_act + if p.offload_optimizer { optimizer } else { 0.0 },
        secondary: if p.hpz > 1 {
            B16 * params / f64::from(p.hpz)
        } else {
            0.0
        },
        buffers,
    }
}

/// Which parallel group of a plan a collective runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GroupKind {
    Tp = 0,
    Cp = 1,
    Ep = 2,
    Dp = 3,
    /// The data-parallel group of the expert parameters (`dp / ep` ranks).
    ExpertDp = 4,
    /// ZeRO++ hpZ: the ranks sharing one secondary copy of the weights.
    Hpz = 5,
    /// ZeRO++ qgZ's first hop: the data-parallel ranks inside one node.
    DpInNode = 6,
    /// ZeRO++ qgZ's second hop: one data-parallel rank per node.
    DpAcrossNodes = 7,
    /// Pipeline neighbours.
    Pp = 8,
    /// Hierarchical partitioning: the ranks sharing one copy of the weights.
    Weights = 9,
    /// Hierarchical partitioning: the ranks the gradients are reduce-scattered over every micro-batch.
    Grads = 10,
    /// One rank per weights group (the per-step re-gather of updated weights).
    AcrossWeights = 11,
    /// One rank per grads group (the per-step reduction of gradient shards).
    AcrossGrads = 12,
}

impl GroupKind {
    pub const NAMES: [&'static str; 13] = [
        "tp",
        "cp",
        "ep",
        "dp",
        "expert_dp",
        "hpz",
        "dp_in_node",
        "dp_across_nodes",
        "pp",
        "weights",
        "grads",
        "across_weights",
        "across_grads",
    ];

    pub fn name(self) -> &'static str {
        GroupKind::NAMES[self as usize]
    }
}

/// The pass a collective can hide behind when overlapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Forward,
    Backward,
    /// Once per step after the last backward (hierarchical partitioning's cross-group reduction and
    /// re-gather): exposed.
    Step,
}

/// One collective of a plan: its group (`size` ranks `stride` apart), bytes (as nccl-tests counts them) and
/// the collectives engine's estimate of one call (time and the algorithm the tuner picked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collective {
    /// What it moves, e.g. `"gradients"`, `"activations (forward)"`.
    pub what: &'static str,
    pub group: GroupKind,
    pub size: u32,
    pub stride: u64,
    pub bytes: f64,
    pub estimate: CollectiveEstimate,
    /// Calls per step on one device (the heaviest stage, for an even pipeline).
    pub calls_per_step: f64,
    /// Calls per round of its pass (one micro-batch for ZeRO-3, the step otherwise): 1, or the stage's
    /// parameter modules where ZeRO-3 gathers and reduces one module at a time.
    pub calls_per_round: f64,
    /// Bytes per rank per call that cross the node boundary.
    pub cross_node_bytes: f64,
}

impl Collective {
    pub fn time_s(&self) -> f64 {
        self.estimate.time_s
    }
    pub fn op(&self) -> Op {
        self.estimate.op
    }
    pub fn algorithm(&self) -> Algorithm {
        self.estimate.algorithm
    }
}

impl Cluster {
    /// One collective of a group of the plan, priced by the engine.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn coll(
        &self,
        what: &'static str,
        group: GroupKind,
        op: Op,
        size: u32,
        stride: u64,
        bytes: f64,
        calls_per_step: f64,
    ) -> Collective {
        Collective {
            what,
            group,
            size,
            stride,
            bytes,
            estimate: self.collective(op, size, stride, bytes),
            calls_per_step,
            calls_per_round: 1.0,
            cross_node_bytes: self.machine.cross_node_bytes(op, size, stride, bytes),
        }
    }

    /// `x` issued as `k` equal calls per round instead of one: each call moves `1/k` of its bytes and pays the
    /// engine's whole latency (ZeRO-3 gathers and reduces one module's parameters at a time).
    fn per_module(&self, mut x: Collective, k: f64) -> Collective {
        if k <= 1.0 {
            return x;
        }
        let (op, b) = (x.op(), x.bytes / k);
        x.estimate = self.collective(op, x.size, x.stride, b);
        x.cross_node_bytes = self.machine.cross_node_bytes(op, x.size, x.stride, b);
        x.bytes = b;
        x.calls_per_step *= k;
        x.calls_per_round = k;
        x
    }
}

/// Parameter modules of one transformer layer that ZeRO-3 gathers (and whose gradients it reduces) as one
/// call each: the QKV, attention-output, MLP-input (gate and up fused) and MLP-output linears. DeepSpeed's
/// stage 3 fetches parameters per submodule as the forward and backward reach it
/// (`PartitionedParameterCoordinator.fetch_sub_module`), never the whole model at once (that would hold every
/// parameter in memory, which ZeRO-3 exists to avoid); norms and biases are small and ride along.
pub const ZERO3_MODULES_PER_LAYER: f64 = 4.0;

/// Most collectives of one data-parallel/ZeRO schedule.
const MAX_DP: usize = 8;

/// The data-parallel/ZeRO collectives of a stage, each with the pass it may hide behind. With ZeRO-3 every
/// call repeats per micro-batch (`calls_per_step` = micro-batches); otherwise once per step.
#[derive(Debug, Clone, Copy)]
pub struct DpSchedule {
    pub items: [(Collective, Pass); MAX_DP],
    pub len: usize,
}

impl DpSchedule {
    fn push(&mut self, c: Collective, pass: Pass) {
        self.items[self.len] = (c, pass);
        self.len += 1;
    }

    /// Frozen weights: only ZeRO-3's per-micro-batch weight gathers remain (no gradients to reduce, no updated
    /// weights to re-gather).
    fn keep_frozen(&mut self, p: &Plan) {
        if !p.frozen_weights {
            return;
        }
        let keep = |(x, pass): &(Collective, Pass)| {
            p.zero == 3 && x.op() == Op::AllGather && *pass != Pass::Step
        };
        let kept: Vec<(Collective, Pass)> = self.items[..self.len]
            .iter()
            .copied()
            .filter(keep)
            .collect();
        self.len = kept.len();
        self.items[..kept.len()].copy_from_slice(&kept);
    }

    /// ZeRO-3: each per-micro-batch collective as one call per parameter module of the stage's `layers`.
    fn per_module(&mut self, c: &Cluster, layers: f64) {
        let k = (ZERO3_MODULES_PER_LAYER * layers).max(1.0);
        for (x, pass) in &mut self.items[..self.len] {
            if *pass != Pass::Step {
                *x = c.per_module(*x, k);
            }
        }
    }

    pub fn collectives(&self) -> impl Iterator<Item = &Collective> {
        self.items[..self.len].iter().map(|(c, _)| c)
    }

    /// Time of one round of the collectives of `pass` (one micro-batch for ZeRO-3, the step otherwise).
    fn round(&self, pass: Pass) -> f64 {
        self.items[..self.len]
            .iter()
            .filter(|(_, p)| *p == pass)
            .map(|(c, _)| c.time_s() * c.calls_per_round)
            .sum()
    }
}

/// The data-parallel/ZeRO collectives of a stage holding `params` (dense, expert) per device before sharding:
/// ZeRO-0 all-reduces the gradients; ZeRO-1/2 reduce-scatter them and all-gather the updated parameters;
/// ZeRO-3 gathers the parameters for the forward and again for the backward and reduce-scatters the
/// gradients every micro-batch (Rajbhandari et al. SC'20 §7: 3 Psi per step vs 2 Psi), with ZeRO++'s
/// substitutions (Wang et al. 2023): qwZ gathers int8 weights for the forward, hpZ gathers the backward's
/// 16-bit secondary copy inside `hpz` ranks, qgZ reduces int4 gradients by an all-to-all inside the node and
/// then across nodes on the in-node reduced shard. ZeRO-3's per-micro-batch collectives run per parameter module
/// of the stage's `layers` ([`ZERO3_MODULES_PER_LAYER`]); the once-per-step ones (ZeRO-0/1/2, hierarchical
/// partitioning's cross-group ones) as one call each.
pub fn dp_schedule(p: &Plan, c: &Cluster, params: (f64, f64), layers: f64) -> DpSchedule {
    let none = c.coll("", GroupKind::Dp, Op::AllReduce, 1, 1, 0.0, 0.0);
    let mut out = DpSchedule {
        items: [(none, Pass::Backward); MAX_DP],
        len: 0,
    };
    if p.dp == 1 {
        return out;
    }
    let stride = p.dp_stride();
    let (dense, expert) = params;
    let edp = p.dp / p.ep;
    let estride = stride * u64::from(p.ep);
    let (gd, ge) = (B16 * dense, B16 * expert);
    let gr = if p.grad_fp32 { 2.0 } else { 1.0 };
    let mb = f64::from(p.micro_batches());
    // Dense parameters over the DP group and expert parameters over the expert-DP group.
    let both = |out: &mut DpSchedule, what, op, scale: f64, pass, calls| {
        out.push(
            c.coll(what, GroupKind::Dp, op, p.dp, stride, scale * gd, calls),
            pass,
        );
        if edp > 1 && ge > 0.0 {
            out.push(
                c.coll(
                    what,
                    GroupKind::ExpertDp,
                    op,
                    edp,
                    estride,
                    scale * ge,
                    calls,
                ),
                pass,
            );
        }
    };
    if p.zero == 3 && p.hierarchical_partition() {
        hierarchical_schedule(&mut out, p, c, stride, gd + ge, gr);
        out.per_module(c, layers);
        out.keep_frozen(p);
        return out;
    }
    match p.zero {
        0 => both(
            &mut out,
            "gradients",
            Op::AllReduce,
            gr,
            Pass::Backward,
            1.0,
        ),
        1 | 2 => {
            both(
                &mut out,
                "gradients",
                Op::ReduceScatter,
                gr,
                Pass::Backward,
                1.0,
            );
            both(
                &mut out,
                "parameters",
                Op::AllGather,
                1.0,
                Pass::Forward,
                1.0,
            );
        }
        _ => {
            let w_f = if p.qwz { 0.5 } else { 1.0 };
            both(
                &mut out,
                if p.qwz {
                    "int8 weights (forward)"
                } else {
                    "weights (forward)"
                },
                Op::AllGather,
                w_f,
                Pass::Forward,
                mb,
            );
            if p.hpz > 1 {
                out.push(
                    c.coll(
                        "secondary weights (backward)",
                        GroupKind::Hpz,
                        Op::AllGather,
                        p.hpz,
                        stride,
                        gd + ge,
                        mb,
                    ),
                    Pass::Backward,
                );
            } else {
                both(
                    &mut out,
                    "weights (backward)",
                    Op::AllGather,
                    1.0,
                    Pass::Backward,
                    mb,
                );
            }
            if p.qgz {
                let q = 0.25 * (gd + ge);
                let lay = c.machine.layout(p.dp, stride);
                let in_node = lay.map_or(1, |l| l.ranks_per_node);
                let across = p.dp / in_node.max(1);
                if in_node > 1 {
                    out.push(
                        c.coll(
                            "int4 gradients (in node)",
                            GroupKind::DpInNode,
                            Op::AllToAll,
                            in_node,
                            stride,
                            q,
                            mb,
                        ),
                        Pass::Backward,
                    );
                }
                if across > 1 {
                    out.push(
                        c.coll(
                            "int4 gradients (across nodes)",
                            GroupKind::DpAcrossNodes,
                            Op::AllToAll,
                            across,
                            stride * u64::from(in_node),
                            q / f64::from(in_node),
                            mb,
                        ),
                        Pass::Backward,
                    );
                }
            } else {
                both(
                    &mut out,
                    "gradients",
                    Op::ReduceScatter,
                    gr,
                    Pass::Backward,
                    mb,
                );
            }
        }
    }
    if p.zero == 3 {
        out.per_module(c, layers);
    }
    out.keep_frozen(p);
    out
}

/// Hierarchical partitioning (Xu et al. 2025's 3-level scheme on Frontier; MiCS): every micro-batch the weights
/// are gathered (forward, int8 with qwZ; backward, 16-bit) inside `weights_group` ranks and the gradients
/// reduce-scattered (an int4 all-to-all with qgZ) inside `grads_group` ranks; once per step the gradient shards
/// are reduce-scattered across the grads groups (one rank per group), the optimizer runs on 1/dp of the states,
/// and the updated weights are all-gathered across the weights groups. ZeRO++'s quantization applies to these
/// per-step collectives as to the per-micro-batch ones (Wang et al. 2023: qwZ quantizes the weight all-gather
/// from the primary partition, qgZ the gradient reduction, at every level they cross): with qgZ the cross-group
/// reduction is an int4 all-to-all of the group's shard, with qwZ the updated weights are gathered in int8.
fn hierarchical_schedule(
    out: &mut DpSchedule,
    p: &Plan,
    c: &Cluster,
    stride: u64,
    all: f64,
    gr: f64,
) {
    let (w, g) = (p.weights_of(), p.grads_of());
    let mb = f64::from(p.micro_batches());
    let (w_f, fwd) = if p.qwz {
        (0.5, "int8 weights (forward)")
    } else {
        (1.0, "weights (forward)")
    };
    if w > 1 {
        let f = c.coll(
            fwd,
            GroupKind::Weights,
            Op::AllGather,
            w,
            stride,
            w_f * all,
            mb,
        );
        out.push(f, Pass::Forward);
        let b = c.coll(
            "weights (backward)",
            GroupKind::Weights,
            Op::AllGather,
            w,
            stride,
            all,
            mb,
        );
        out.push(b, Pass::Backward);
    }
    if g > 1 {
        let red = if p.qgz {
            c.coll(
                "int4 gradients",
                GroupKind::Grads,
                Op::AllToAll,
                g,
                stride,
                0.25 * all,
                mb,
            )
        } else {
            c.coll(
                "gradients",
                GroupKind::Grads,
                Op::ReduceScatter,
                g,
                stride,
                gr * all,
                mb,
            )
        };
        out.push(red, Pass::Backward);
    }
    let (ng, nw) = (p.dp / g, p.dp / w);
    if ng > 1 {
        let s = stride * u64::from(g);
        let r = if p.qgz {
            c.coll(
                "int4 gradient shards (per step)",
                GroupKind::AcrossGrads,
                Op::AllToAll,
                ng,
                s,
                0.25 * all / f64::from(g),
                1.0,
            )
        } else {
            c.coll(
                "gradient shards (per step)",
                GroupKind::AcrossGrads,
                Op::ReduceScatter,
                ng,
                s,
                gr * all / f64::from(g),
                1.0,
            )
        };
        out.push(r, Pass::Step);
    }
    if nw > 1 {
        let s = stride * u64::from(w);
        let (w_f, what) = if p.qwz {
            (0.5, "int8 updated weights (per step)")
        } else {
            (1.0, "updated weights (per step)")
        };
        let a = c.coll(
            what,
            GroupKind::AcrossWeights,
            Op::AllGather,
            nw,
            s,
            w_f * all / f64::from(w),
            1.0,
        );
        out.push(a, Pass::Step);
    }
}

/// Data-parallel/ZeRO communication per step: (total time if nothing overlapped, exposed time, cross-node bytes).
/// What the step needs of a stage's DP/ZeRO schedule: one round of its forward-pass and backward-pass
/// collectives, the per-step ones, and the bytes crossing the node boundary per step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DpFigures {
    pub forward: f64,
    pub backward: f64,
    pub per_step: f64,
    pub cross_node_bytes: f64,
}

/// The plan fields (with the stage's parameters) [`DpFigures`] depend on: a search reuses them across plans
/// that differ only in recompute, interleaving, SP or overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpKey {
    groups: [u32; 9],
    zero: u8,
    flags: u8,
    params: [u64; 3],
}

pub fn dp_key(p: &Plan, params: (f64, f64), layers: f64) -> DpKey {
    DpKey {
        groups: [
            p.tp,
            // pp moves the DP groups' stride in the tp-cp-pp-dp order
            if p.rank_order == crate::llm::plan::RankOrder::TpCpPpDp {
                p.pp
            } else {
                0
            },
            p.cp,
            p.ep,
            p.dp,
            p.micro_batches(),
            p.hpz,
            p.weights_group,
            p.grads_group,
        ],
        zero: p.zero,
        flags: u8::from(p.qwz)
            | u8::from(p.qgz) << 1
            | u8::from(p.grad_fp32) << 2
            | u8::from(p.frozen_weights) << 3
            | (p.rank_order as u8) << 4,
        params: [params.0.to_bits(), params.1.to_bits(), layers.to_bits()],
    }
}

/// The DP/ZeRO figures of a stage holding `params` (dense, expert) per device in `layers` layers.
pub fn dp_figures(p: &Plan, c: &Cluster, params: (f64, f64), layers: f64) -> DpFigures {
    if p.dp == 1 {
        return DpFigures::default();
    }
    let sched = dp_schedule(p, c, params, layers);
    DpFigures {
        forward: sched.round(Pass::Forward),
        backward: sched.round(Pass::Backward),
        per_step: sched.round(Pass::Step),
        cross_node_bytes: sched
            .collectives()
            .map(|c| c.calls_per_step * c.cross_node_bytes)
            .sum(),
    }
}

/// Data-parallel/ZeRO communication per step from the stage's figures: (total time if nothing overlapped,
/// exposed time, cross-node bytes).
fn dp_comm(p: &Plan, f: &DpFigures, t_f: f64, t_b: f64) -> (f64, f64, f64) {
    if p.dp == 1 {
        return (0.0, 0.0, 0.0);
    }
    let (fwd, bwd, per_step, xn) = (f.forward, f.backward, f.per_step, f.cross_node_bytes);
    // Overlap (ZeRO-0/1/2): gradients are final only in the last micro-batch's backward and parameters are
    // needed from the first micro-batch's forward. Without interleaving the collectives run per gradient
    // bucket behind that one backward (forward) pass. With v > 1 model chunks they run per chunk (MegaScale,
    // Jiang et al. NSDI'24 §3.2: the all-gather before a chunk's forward, the reduce-scatter after its
    // backward; "the first all-gather operation and the last reduce-scatter operation cannot be hidden"):
    // the other chunks' collectives hide behind the warm-up (cool-down) phase of interleaved 1F1B, which on
    // the first stage is `2 (p - 1) + (v - 1) p` chunk passes (Megatron-LM `schedules.py`,
    // num_warmup_microbatches), i.e. that many / v micro-batch passes of the stage.
    let v = f64::from(p.vp);
    let pp = f64::from(p.pp);
    let phase = if p.vp > 1 {
        (2.0 * (pp - 1.0) + (v - 1.0) * pp) / v
    } else {
        1.0
    };
    let hide = |x: f64, window: f64| {
        if !p.dp_overlap {
            x
        } else if p.vp > 1 {
            x / v + (x * (v - 1.0) / v - window).max(0.0)
        } else {
            (x - window).max(0.0)
        }
    };
    if p.zero <= 2 {
        let exposed = hide(bwd, phase * t_b) + hide(fwd, phase * t_f);
        (fwd + bwd, exposed, xn)
    } else {
        let mb = f64::from(p.micro_batches());
        let total = mb * (fwd + bwd) + per_step;
        // Prefetching hides each micro-batch's gathers behind its compute when overlap is on; the per-step
        // collectives of hierarchical partitioning run after the last backward.
        let exposed = if p.dp_overlap {
            mb * ((fwd - t_f).max(0.0) + (bwd - t_b).max(0.0)) + per_step
        } else {
            total
        };
        (total, exposed, xn)
    }
}

/// Evaluates one plan; the plan must already be valid (`Plan::check`).
/// Kernel and TP/CP/EP collective times of one micro-batch that depend only on (tp, cp, ep, micro_batch, sp,
/// fp8, flash): a search reuses them across the plans that differ in pp, vp, dp, recompute and ZeRO.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kernels {
    lt: LayerTimes,
    logit_f: f64,
    logit_b: f64,
    /// One TP collective per kind: [all-reduce, all-reduce] without SP, [all-gather, reduce-scatter] with SP.
    tp: [f64; 2],
    /// CP's K/V all-gather and EP's all-to-all of one layer.
    cp: f64,
    ep: f64,
    /// The LoRA adapters' TP collectives of one layer and micro-batch ([`lora_collectives`]), exposed.
    lora_tp: f64,
}

/// The plan fields [`Kernels`] depend on.
/// What [`kernels`] depends on in a plan.
pub type KernelKey = (
    u32,
    u32,
    u32,
    u32,
    bool,
    bool,
    bool,
    bool,
    bool,
    bool,
    (u32, bool, bool),
);

pub fn kernel_key(p: &Plan) -> KernelKey {
    (
        p.tp,
        p.cp,
        p.ep,
        p.micro_batch,
        p.sp,
        p.fp8,
        p.flash_attention,
        p.cudnn_attention,
        p.frozen_weights,
        p.fp4,
        (p.lora_rank, p.lora_dropout, p.fp8_attention),
    )
}

/// Whether the cluster's device has the kernels the plan asks for (fp8 matrix units, cuDNN attention).
pub fn check_supported(p: &Plan, c: &Cluster, what: &str) -> Result<()> {
    if p.fp8 && c.gemm8.is_none() {
        return Err(crate::error::Error::Unsupported {
            message: format!(
                "fp8 needs a device with fp8 matrix units (e.g. H100, MI300X); {what} has none"
            ),
        });
    }
    if p.fp4 && p.fp8 {
        return Err(crate::error::invalid(
            "dtype",
            "asks for both fp8 and nvfp4 GEMMs; choose one",
        ));
    }
    if p.fp4 && c.gemm4.is_none() {
        return Err(crate::error::Error::Unsupported {
            message: format!(
                "nvfp4 needs a device with block-scaled FP4 matrix units (e.g. B200, GB200); {what} has none"
            ),
        });
    }
    if (p.offload_optimizer || p.offload_activations) && c.host_link <= 0.0 {
        return Err(crate::error::Error::Unsupported {
            message: format!(
                "offload needs the system's host link (hwdb host_link_bandwidth_per_direction_gbps); {what} \
                 has none"
            ),
        });
    }
    if p.fp8_attention && !p.fp8 {
        return Err(crate::error::invalid(
            "fp8_attention",
            "is True without fp8 GEMMs: Transformer Engine runs FP8 attention inside its FP8 recipe; use \
             dtype=\"fp8\"",
        ));
    }
    // Transformer Engine runs FP8 attention only in its FusedAttention (cuDNN) backend: `FusedAttnFunc` is the
    // one with the FP8 casts and `fused_attn_fwd`/`fused_attn_bwd` on FP8 operands (TE vendored in
    // mlcommons/training_results_v4.1 @ b87b9e3, `GigaComputing/benchmark/llama2_70b_lora/implementations/pytorch/
    // TransformerEngine/transformer_engine/pytorch/attention.py`); its `FlashAttention` has no FP8 path.
    if p.fp8_attention && !(p.flash_attention && p.cudnn_attention) {
        return Err(crate::error::invalid(
            "fp8_attention",
            "runs cuDNN's fused attention on FP8 operands (Transformer Engine's FusedAttention backend); it needs \
             flash_attention=True and cudnn_attention=True",
        ));
    }
    if p.fp8_attention && c.attn8_cudnn.is_none() {
        return Err(crate::error::Error::Unsupported {
            message: format!(
                "fp8_attention needs the device's cuDNN attention figure and fp8 matrix units (H100, H200); {what} \
                 has not both"
            ),
        });
    }
    if p.cudnn_attention && !p.flash_attention {
        return Err(crate::error::invalid(
            "cudnn_attention",
            "is a fused (flash-style) attention kernel; it needs flash_attention=True",
        ));
    }
    if p.cudnn_attention && c.attn_cudnn.is_none() {
        return Err(crate::error::Error::Unsupported {
            message: format!(
                "cudnn_attention needs the device's measured cuDNN attention figure (hwdb \
                 efficiency.attention_cudnn_fraction: H100, H200); {what} has none"
            ),
        });
    }
    Ok(())
}

/// Rows of the output layer as the framework allocates them: the vocabulary padded up to a multiple of
/// `vocab_multiple x tp` (Megatron-LM `_vocab_size_with_padding`, `--make-vocab-size-divisible-by`, default 128),
/// so every TP rank holds an equal, aligned shard (GPT-3's 50,257 tokens become 51,200 at TP 8).
pub fn padded_vocab(m: &Model, p: &Plan) -> f64 {
    let multiple = f64::from(p.vocab_multiple) * f64::from(p.tp);
    (m.vocab / multiple).ceil() * multiple
}

/// Per-layer and logit kernel times of one micro-batch (roofline engine).
pub fn kernels(m: &Model, p: &Plan, c: &Cluster) -> Kernels {
    let t = f64::from(p.tp);
    let tok = f64::from(p.micro_batch) * m.seq_len / f64::from(p.cp);
    // Logits + loss on the last stage (the heaviest under 1F1B), over this rank's shard of the padded vocabulary.
    let v = padded_vocab(m, p) / t;
    let (lo_f, lo_b) = linear_fb(&c.gemm16, tok, v, m.hidden, 1.0, p.frozen_weights);
    let ce = c.stream.estimate(B16 * tok * v, B16 * tok * v, 0.0).time_s;
    let (k, km) = (c.calib.compute_time_scale, c.calib.memory_time_scale);
    Kernels {
        lt: layer_times(m, p, c),
        logit_f: k * lo_f + km * ce,
        logit_b: k * lo_b + km * ce,
        tp: tp_collectives(m, p, c).map_or([0.0; 2], |t| [t[0].time_s(), t[1].time_s()]),
        cp: cp_collective(m, p, c).map_or(0.0, |x| x.time_s()),
        ep: ep_collective(m, p, c).map_or(0.0, |x| x.time_s()),
        lora_tp: {
            let per = f64::from(m.layers / p.pp) * f64::from(p.micro_batches());
            lora_collectives(m, p, c)
                .iter()
                .map(|x| x.time_s() * x.calls_per_step / per)
                .sum()
        },
    }
}

/// Evaluates one plan; the plan must already be valid (`Plan::check`).
pub fn evaluate(m: &Model, p: &Plan, c: &Cluster) -> Estimate {
    evaluate_with(m, p, c, &kernels(m, p, c))
}

/// What one pipeline stage costs: per-micro-batch compute and in-stage communication, and per-step exposed
/// DP/ZeRO communication and optimizer time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageCost {
    pub forward: f64,
    pub backward: f64,
    pub recompute: f64,
    pub tp_comm: f64,
    pub cp_comm: f64,
    pub ep_comm: f64,
    /// Exposed DP/ZeRO communication per step.
    pub dp_comm: f64,
    /// Bytes per rank crossing the node boundary in DP/ZeRO collectives per step.
    pub dp_cross_node_bytes: f64,
    pub optimizer: f64,
    /// Host launch time per micro-batch beyond its GPU time (eager kernels, [`launch_kernels`]).
    pub launch: f64,
}

impl StageCost {
    /// Time of one micro-batch (forward, backward, recompute, in-stage collectives and the host launch time
    /// the GPU work does not cover) on this stage.
    pub fn per_micro_batch(&self) -> f64 {
        self.forward
            + self.backward
            + self.recompute
            + self.tp_comm
            + self.cp_comm
            + self.ep_comm
            + self.launch
    }
}

/// Kernels the host launches per micro-batch on a stage of `layers` transformer layers (`logits`: with the
/// output layer and loss), counted as Megatron-core's Transformer Engine layer runs them eagerly. Per layer
/// forward: 2 norms, the 4 linears' GEMMs (MoE: router, 2 grouped expert GEMMs, token permute and unpermute,
/// 2 shared-expert GEMMs), RoPE on queries and keys (2), the attention (flash/cuDNN 1; explicit: QK^T, softmax,
/// dropout, AV), the MLP activation, 2 bias-dropout-adds; FP8/NVFP4: 2 per linear (the input's quantization
/// and its amax/scale bookkeeping); TP: 2 all-reduces, or with SP 2 all-gathers and 2 reduce-scatters;
/// CP (Transformer Engine's p2p ring, `AttnFuncWithCPAndKVP2P`): per ring step one attention kernel, one
/// batched K/V send/recv and 2 output/LSE corrections. Backward: 2 norm backwards and their 2 weight-gradient
/// reductions, the data-gradient GEMMs (and the weight-gradient ones unless frozen), 2 per linear for the
/// gradients' quantization, RoPE 2, the attention backward, the activation's, 2 dropout backwards, 2
/// residual-gradient adds, TP 2 all-reduces (SP: 2 all-gathers, 2 reduce-scatters, 2 re-gathers), CP per ring
/// step an attention backward, a send/recv and 2 dQ/dKV accumulations. Recomputation repeats the forward
/// (full) or the attention (selective). Output layer and loss: GEMM and 3 cross-entropy kernels each way.
/// With layer graphs only the output layer's are counted; with a full-step graph none.
pub fn launch_kernels(m: &Model, p: &Plan, layers: f64, logits: bool) -> f64 {
    let head = if logits { 8.0 } else { 0.0 };
    match p.cuda_graphs {
        CudaGraphs::Full => return 0.0,
        CudaGraphs::Layer => return head,
        CudaGraphs::None => {}
    }
    let mlp_gemms = if m.is_moe() {
        5.0 + if m.shared_experts > 0 { 2.0 } else { 0.0 }
    } else {
        2.0
    };
    let linears = 2.0 + mlp_gemms;
    let quant = if p.fp8 || p.fp4 { 2.0 * 4.0 } else { 0.0 };
    let attn = if p.flash_attention { 1.0 } else { 4.0 };
    let ring = if p.cp > 1 {
        f64::from(p.cp) * 4.0 - attn
    } else {
        0.0
    };
    let (tp_f, tp_b) = match (p.tp > 1, p.sp) {
        (false, _) => (0.0, 0.0),
        (true, false) => (2.0, 2.0),
        (true, true) => (4.0, 6.0),
    };
    let fwd = 2.0 + linears + quant + 2.0 + attn + 1.0 + 2.0 + tp_f + ring;
    let wgrad = if p.frozen_weights { 0.0 } else { linears };
    let bwd = 4.0 + linears + wgrad + quant + 2.0 + attn + 1.0 + 2.0 + 2.0 + tp_b + ring;
    let rec = match p.recompute {
        Recompute::None => 0.0,
        Recompute::Selective => attn + ring,
        Recompute::Full => fwd,
    };
    layers * (fwd + bwd + rec) + head
}

/// Costs of a stage holding `layers` transformer layers in `role` on cluster `c` (whose network level is
/// the one the stage's data-parallel groups cross), with precomputed [`kernels`].
pub fn stage_cost(
    m: &Model,
    p: &Plan,
    c: &Cluster,
    kern: &Kernels,
    layers: f64,
    role: StageRole,
) -> StageCost {
    let params = stage_params(m, p, layers, role);
    stage_cost_with(
        m,
        p,
        c,
        kern,
        layers,
        role,
        &dp_figures(p, c, params, layers),
    )
}

/// [`stage_cost`] with the stage's DP/ZeRO figures given (a search caches them by [`dp_key`]).
#[allow(clippy::too_many_arguments)]
pub fn stage_cost_with(
    m: &Model,
    p: &Plan,
    c: &Cluster,
    kern: &Kernels,
    layers: f64,
    role: StageRole,
    dp: &DpFigures,
) -> StageCost {
    let lt = kern.lt;
    let (logit_f, logit_b) = if role.logits() {
        (kern.logit_f, kern.logit_b)
    } else {
        (0.0, 0.0)
    };

    // TP/SP per layer, each collective over b s h 16-bit values (Shoeybi et al. 2019; Korthikanti et al.
    // 2022 §4.2). Forward: 2 all-reduces (SP: 2 all-gather + reduce-scatter pairs), exposed, and again in a
    // full-recompute forward. Backward, as Megatron-LM's `LinearWithGradAccumulationAndAsyncCommunication`
    // runs it (Korthikanti et al. §6.2: "we overlap all-reduce communication with the linear weight's
    // gradient computation", which is why full recompute costs 39 % there instead of the expected 33 %):
    // - without SP, the input-gradient all-reduce of each column-parallel linear (QKV, MLP up) runs behind
    //   that linear's weight-gradient GEMM; the row-parallel linears need none;
    // - with SP, the conjugate all-gathers of the two row-parallel outputs are exposed, the input-gradient
    //   reduce-scatter of each column-parallel linear runs behind its weight-gradient GEMM and the re-gather
    //   of its sequence-sharded input behind its data-gradient GEMM.
    let (mut tp_fwd, mut tp_bwd) = (0.0, 0.0);
    if p.tp > 1 {
        let (ag, rs) = (kern.tp[0], kern.tp[1]);
        if p.sp {
            tp_fwd = 2.0 * (ag + rs);
            tp_bwd = 2.0 * ag;
            for i in 0..2 {
                tp_bwd += (rs - lt.col_wgrad[i]).max(0.0) + (ag - lt.col_dgrad[i]).max(0.0);
            }
        } else {
            // tc[0] is the all-reduce.
            tp_fwd = 2.0 * ag;
            tp_bwd = (0..2).map(|i| (ag - lt.col_wgrad[i]).max(0.0)).sum();
        }
    }
    // MegaScale §3.2 fuses the remaining exposed collectives into the neighbouring GEMMs.
    let hide = |c: f64| {
        if p.tp_overlap {
            (c - lt.overlappable).max(0.0)
        } else {
            c
        }
    };
    let tp_layer = hide(tp_fwd)
        * if p.recompute == Recompute::Full {
            2.0
        } else {
            1.0
        }
        + hide(tp_bwd)
        + kern.lora_tp;

    // CP: ring exchange of K and V (forward) and of their gradients (backward), partly hidden by attention.
    let mut cp_layer = 0.0;
    if p.cp > 1 {
        let ag = kern.cp;
        cp_layer = (ag - lt.attn_fwd).max(0.0) + (ag - 2.0 * lt.attn_fwd).max(0.0);
    }
    // EP: dispatch and combine all-to-alls in forward and backward.
    let ep_layer = 4.0 * kern.ep;

    let recompute_layer = match p.recompute {
        Recompute::None => 0.0,
        Recompute::Selective => lt.attn_fwd,
        Recompute::Full => lt.fwd,
    };
    // Activation offload: each layer's stash crosses the host link once each way, behind the next layer's
    // forward (the previous layer's backward); what the compute does not cover is exposed.
    let (off_f, off_b) = if p.offload_activations && c.host_link > 0.0 {
        let x = layer_activation_bytes(m, p) / c.host_link;
        ((x - lt.fwd).max(0.0), (x - lt.bwd).max(0.0))
    } else {
        (0.0, 0.0)
    };
    let t_f = layers * (lt.fwd + off_f) + logit_f;
    let t_b = layers * (lt.bwd + off_b) + logit_b;
    let t_r = layers * recompute_layer;
    let params = stage_params(m, p, layers, role);
    let (_, dp_exposed, dp_xn) = dp_comm(p, dp, t_f, t_b + t_r);

    // Optimizer: Adam over the parameters this device owns.
    let owned = if p.frozen_weights {
        0.0
    } else {
        (params.0 + params.1) / if p.zero >= 1 { f64::from(p.dp) } else { 1.0 }
    };
    // Nothing to update with frozen weights (not even a kernel launch).
    let mut optimizer = if owned > 0.0 {
        c.stream
            .estimate(ADAM_READ * owned, ADAM_WRITE * owned, 10.0 * owned)
            .time_s
    } else {
        0.0
    };
    if p.offload_optimizer && c.host_link > 0.0 {
        // The 12 bytes of states per owned parameter stream in and back out, the two directions at once.
        optimizer = optimizer.max(OPT_BYTES * owned / c.host_link);
    }
    // Eager launches: PyTorch queues kernels asynchronously, so the host runs ahead of the GPU and a
    // micro-batch takes the longer of its GPU work and its launches (the standard reading of an async launch
    // queue between stream synchronisations; here per micro-batch, which equals the step's for equal
    // micro-batches).
    let tp_comm = layers * tp_layer;
    let cp_comm = layers * cp_layer;
    let ep_comm = layers * ep_layer;
    let launch = if c.calib.kernel_launch_s > 0.0 {
        crate::roofline::eager_launch_excess(
            launch_kernels(m, p, layers, role.logits()),
            c.calib.kernel_launch_s,
            t_f + t_b + t_r + tp_comm + cp_comm + ep_comm,
        )
    } else {
        0.0
    };
    StageCost {
        forward: t_f,
        backward: t_b,
        recompute: t_r,
        tp_comm,
        cp_comm,
        ep_comm,
        dp_comm: dp_exposed,
        dp_cross_node_bytes: dp_xn,
        optimizer,
        launch,
    }
}

/// The TP/SP collectives of one layer's forward (per micro-batch), each over `b s h` 16-bit values (Shoeybi
/// et al. 2019; Korthikanti et al. 2022 §4.2): without SP `[all-reduce, all-reduce]` (one entry priced twice
/// per layer), with SP `[all-gather, reduce-scatter]`. `None` when tp = 1.
pub fn tp_collectives(m: &Model, p: &Plan, c: &Cluster) -> Option<[Collective; 2]> {
    if p.tp == 1 {
        return None;
    }
    let tok = f64::from(p.micro_batch) * m.seq_len / f64::from(p.cp);
    let bytes = B16 * tok * m.hidden;
    let layers = f64::from(m.layers / p.pp);
    let mbs = f64::from(p.micro_batches());
    // Calls per layer and micro-batch. Without SP: 2 all-reduces forward, 2 backward, 2 more in a full
    // recompute. With SP: forward 2 all-gathers + 2 reduce-scatters; backward 2 conjugate all-gathers, 2
    // re-gathers of the sharded inputs and 2 input-gradient reduce-scatters; a full recompute repeats the
    // forward's.
    let full = if p.recompute == Recompute::Full {
        2.0
    } else {
        0.0
    };
    let per = layers * mbs;
    Some(if p.sp {
        [
            c.coll(
                "activations",
                GroupKind::Tp,
                Op::AllGather,
                p.tp,
                1,
                bytes,
                per * (6.0 + full),
            ),
            c.coll(
                "activations",
                GroupKind::Tp,
                Op::ReduceScatter,
                p.tp,
                1,
                bytes,
                per * (4.0 + full),
            ),
        ]
    } else {
        let ar = c.coll(
            "activations",
            GroupKind::Tp,
            Op::AllReduce,
            p.tp,
            1,
            bytes,
            per * (4.0 + full),
        );
        [ar, ar]
    })
}

/// The TP collectives of one layer's LoRA adapters ([`lora_times`]) per micro-batch, with calls per step, as
/// NeMo's adapter linears run them (the adapters' own Megatron linears, sequence parallelism off inside them):
/// forward the gather of the QKV adapter's rank-`r` activations (`gather_output`) and the all-reduce of the
/// projection adapter's row-parallel `linear_in`; backward the all-reduces of both `linear_out` input gradients
/// (their input is replicated over the TP ranks). With SP the projection adapter's output goes to the
/// sequence-parallel layout by an all-to-all each way (`a2a_experimental`, `all2all_hp2sp`: `b s h / tp`
/// 16-bit values per rank); without SP its column-parallel output is gathered forward and the QKV adapter's
/// input gradient all-reduced backward. Exposed: no TP overlap covers them. Empty when tp = 1 or no adapters.
pub fn lora_collectives(m: &Model, p: &Plan, c: &Cluster) -> Vec<Collective> {
    if p.tp == 1 || p.lora_rank == 0 {
        return Vec::new();
    }
    let tok = f64::from(p.micro_batch) * m.seq_len / f64::from(p.cp);
    let rank = B16 * tok * f64::from(p.lora_rank);
    let per = f64::from(m.layers / p.pp) * f64::from(p.micro_batches());
    let fwd = if p.recompute == Recompute::Full {
        2.0
    } else {
        1.0
    };
    let what = "LoRA adapter activations";
    let mut out = vec![
        c.coll(what, GroupKind::Tp, Op::AllGather, p.tp, 1, rank, per * fwd),
        c.coll(
            what,
            GroupKind::Tp,
            Op::AllReduce,
            p.tp,
            1,
            rank,
            per * (fwd + 2.0),
        ),
    ];
    if p.sp {
        let bytes = B16 * tok * m.hidden / f64::from(p.tp);
        out.push(c.coll(
            what,
            GroupKind::Tp,
            Op::AllToAll,
            p.tp,
            1,
            bytes,
            per * (fwd + 1.0),
        ));
    } else {
        let bytes = B16 * tok * m.hidden;
        out.push(c.coll(
            what,
            GroupKind::Tp,
            Op::AllGather,
            p.tp,
            1,
            bytes,
            per * fwd,
        ));
        out.push(c.coll(what, GroupKind::Tp, Op::AllReduce, p.tp, 1, bytes, per));
    }
    out
}

/// CP's all-gather of one layer's K and V (`2 b s kv_width / tp` 16-bit values over the cp ranks).
pub fn cp_collective(m: &Model, p: &Plan, c: &Cluster) -> Option<Collective> {
    if p.cp == 1 {
        return None;
    }
    let kv = B16 * f64::from(p.micro_batch) * m.seq_len * m.kv_width() / f64::from(p.tp);
    let calls = f64::from(m.layers / p.pp) * f64::from(p.micro_batches()) * 2.0;
    Some(c.coll(
        "keys and values",
        GroupKind::Cp,
        Op::AllGather,
        p.cp,
        u64::from(p.tp),
        kv,
        calls,
    ))
}

/// EP's dispatch (or combine) all-to-all of one layer: `top_k b s h / tp` 16-bit values per rank.
pub fn ep_collective(m: &Model, p: &Plan, c: &Cluster) -> Option<Collective> {
    if p.ep == 1 {
        return None;
    }
    let tok = f64::from(p.micro_batch) * m.seq_len / f64::from(p.cp);
    let bytes = B16 * tok * f64::from(m.top_k) * m.hidden / f64::from(p.tp);
    let calls = f64::from(m.layers / p.pp) * f64::from(p.micro_batches()) * 4.0;
    let stride = u64::from(p.tp) * u64::from(p.cp);
    Some(c.coll(
        "routed tokens",
        GroupKind::Ep,
        Op::AllToAll,
        p.ep,
        stride,
        bytes,
        calls,
    ))
}

/// One pipeline send (activations or their gradients, scattered over the TP ranks, Narayanan §4.1) between
/// ranks `stride` apart on `c`: the engine's send/recv between the two.
pub fn p2p_collective(m: &Model, p: &Plan, c: &Cluster, stride: u64) -> Collective {
    let tok = f64::from(p.micro_batch) * m.seq_len / f64::from(p.cp);
    let bytes = B16 * tok * m.hidden / f64::from(p.tp);
    let calls = 2.0 * f64::from(p.micro_batches()) * f64::from(p.vp);
    c.coll(
        "activations and their gradients",
        GroupKind::Pp,
        Op::SendRecv,
        2,
        stride,
        bytes,
        calls,
    )
}

/// Time of one pipeline send between ranks `stride` apart on `c`.
pub fn p2p_time(m: &Model, p: &Plan, c: &Cluster, stride: u64) -> f64 {
    p2p_collective(m, p, c, stride).time_s()
}

/// Every collective of a plan on an even pipeline (the heaviest stage's DP/ZeRO collectives), with calls per
/// step: what the breakdown of an estimate lists.
pub fn plan_collectives(m: &Model, p: &Plan, c: &Cluster) -> Vec<Collective> {
    let mut out = Vec::new();
    if let Some(tc) = tp_collectives(m, p, c) {
        out.push(tc[0]);
        if p.sp {
            out.push(tc[1]);
        }
    }
    out.extend(lora_collectives(m, p, c));
    out.extend(cp_collective(m, p, c));
    out.extend(ep_collective(m, p, c));
    if p.pp > 1 {
        out.push(p2p_collective(m, p, c, pp_stride(p)));
    }
    out.extend(
        dp_schedule(p, c, device_params(m, p), f64::from(m.layers / p.pp))
            .collectives()
            .copied(),
    );
    out
}

/// Rank distance between pipeline neighbours ([`Plan::pp_stride`]: `tp cp dp` in Megatron's default order,
/// `tp cp` in tp-cp-pp-dp).
pub fn pp_stride(p: &Plan) -> u64 {
    p.pp_stride()
}

/// The groups of a plan as (kind, size, stride) in its rank order (tp, cp, ep within dp, pp by default; tp,
/// cp, pp, dp with [`crate::llm::plan::RankOrder::TpCpPpDp`], where ep is 1).
fn plan_groups(p: &Plan) -> [(GroupKind, u32, u64); 9] {
    let tc = u64::from(p.tp) * u64::from(p.cp);
    let ds = p.dp_stride();
    [
        (GroupKind::Tp, p.tp, 1),
        (GroupKind::Cp, p.cp, u64::from(p.tp)),
        (GroupKind::Ep, p.ep, tc),
        (GroupKind::Dp, p.dp, ds),
        (
            GroupKind::ExpertDp,
            p.dp / p.ep.max(1),
            ds * u64::from(p.ep),
        ),
        (GroupKind::Hpz, p.hpz, ds),
        (GroupKind::Pp, if p.pp > 1 { 2 } else { 1 }, pp_stride(p)),
        (GroupKind::Weights, p.weights_of(), ds),
        (GroupKind::Grads, p.grads_of(), ds),
    ]
}

/// Checks that every group of the plan can be placed on the cluster's levels; the error names the group and
/// the level.
pub fn check_placement(p: &Plan, c: &Cluster) -> Result<()> {
    for (kind, size, stride) in plan_groups(p) {
        if size > 1 {
            c.machine.layout(size, stride).map_err(|e| {
                let detail = match e {
                    crate::error::Error::InvalidArgument { message, .. } => message,
                    other => other.to_string(),
                };
                crate::error::invalid(
                    kind.name(),
                    format!(
                        "the {} group cannot be placed on this cluster: {detail}",
                        kind.name()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether every group of the plan can be placed (search hot path).
pub fn placement_ok(p: &Plan, c: &Cluster) -> bool {
    plan_groups(p)
        .iter()
        .all(|&(_, size, stride)| size <= 1 || c.machine.layout(size, stride).is_ok())
}

/// What a step depends on from a pipeline's stages: the slowest stage, the sum of per-micro-batch stage
/// times, the slowest and summed stage-to-stage sends, and the largest exposed DP and optimizer times.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pipeline {
    pub slowest: StageCost,
    pub sum_per_micro_batch: f64,
    pub p2p_max: f64,
    pub p2p_sum: f64,
    pub dp_comm: f64,
    pub optimizer: f64,
    pub dp_cross_node_bytes: f64,
}

impl Pipeline {
    /// `pp` stages of equal layer counts joined by identical sends: the slowest `st` (the one with the output
    /// layer and loss) and `pp - 1` others whose per-micro-batch time is `others_per_micro_batch`.
    pub fn even(st: &StageCost, others_per_micro_batch: f64, pp: u32, p2p: f64) -> Pipeline {
        let links = f64::from(pp.saturating_sub(1));
        Pipeline {
            slowest: *st,
            sum_per_micro_batch: st.per_micro_batch() + links * others_per_micro_batch,
            p2p_max: if pp > 1 { p2p } else { 0.0 },
            p2p_sum: links * p2p,
            dp_comm: st.dp_comm,
            optimizer: st.optimizer,
            dp_cross_node_bytes: st.dp_cross_node_bytes,
        }
    }

    /// Stages in pipeline order; `p2p[i]` is one send between stage i and i+1.
    pub fn of(stages: &[StageCost], p2p: &[f64]) -> Pipeline {
        let mut out = Pipeline::default();
        let mut max_mb = -1.0_f64;
        for st in stages {
            let t = st.per_micro_batch();
            if t > max_mb {
                max_mb = t;
                out.slowest = *st;
            }
            out.sum_per_micro_batch += t;
            out.dp_comm = out.dp_comm.max(st.dp_comm);
            out.optimizer = out.optimizer.max(st.optimizer);
            out.dp_cross_node_bytes = out.dp_cross_node_bytes.max(st.dp_cross_node_bytes);
        }
        for &x in p2p {
            out.p2p_max = out.p2p_max.max(x);
            out.p2p_sum += x;
        }
        out
    }
}

/// The step of a 1F1B pipeline (memory left empty). The steady state runs at the slowest stage once per
/// micro-batch; filling and draining costs every other stage once, divided by the interleaving factor
/// (Narayanan et al. SC'21 §2.2: `(p - 1)/v` micro-batch slots when stages are equal). Each micro-batch
/// sends v times each way at the slowest link unless sends are overlapped (Narayanan §4.1). DP
/// communication and the optimizer run after the last backward, so the slowest stage's set the step.
pub fn combine(m: &Model, p: &Plan, peak: f64, pl: &Pipeline) -> Estimate {
    let mbs = f64::from(p.micro_batches());
    let v = f64::from(p.vp);
    let st = &pl.slowest;
    let pp_comm = if p.pp_overlap {
        2.0 * pl.p2p_sum
    } else {
        2.0 * (mbs * v * pl.p2p_max + pl.p2p_sum)
    };
    let times = Times {
        forward: mbs * st.forward,
        backward: mbs * st.backward,
        recompute: mbs * st.recompute,
        tp_comm: mbs * st.tp_comm,
        cp_comm: mbs * st.cp_comm,
        ep_comm: mbs * st.ep_comm,
        launch: mbs * st.launch,
        pp_comm,
        bubble: (pl.sum_per_micro_batch - st.per_micro_batch()) / v,
        dp_comm: pl.dp_comm,
        optimizer: pl.optimizer,
    };
    let step = times.step();
    let gpus = p.gpus() as f64;
    let tokens = f64::from(p.global_batch) * m.seq_len;
    let per_token = if p.frozen_weights {
        m.frozen_model_flops_per_token()
    } else {
        m.model_flops_per_token()
    };
    let model_flops = per_token * tokens;
    let hw_flops = (per_token + m.recompute_flops_per_token(p.recompute)) * tokens;
    Estimate {
        times,
        memory: Memory::default(),
        step_time_s: step,
        tokens_per_s: tokens / step,
        mfu: model_flops / (step * gpus * peak),
        hfu: hw_flops / (step * gpus * peak),
        tflops_per_gpu: hw_flops / (step * gpus) / 1e12,
        model_flops_per_step: model_flops,
        hardware_flops_per_step: hw_flops,
        fits: true,
        dp_cross_node_bytes: pl.dp_cross_node_bytes,
    }
}

/// The peak FLOP/s MFU is measured against for a plan on `c`.
pub fn plan_peak(p: &Plan, c: &Cluster) -> f64 {
    if p.fp4 && c.peak4 > 0.0 {
        c.peak4
    } else if p.fp8 && c.peak8 > 0.0 {
        c.peak8
    } else {
        c.peak16
    }
}

/// Evaluates one plan with precomputed [`kernels`] (which must match `kernel_key(p)`): `pp` stages of
/// `layers / pp` layers. The steady state, DP communication and optimizer are priced on the heaviest stage
/// (the last one's output layer and loss, the first one's embedding parameters); filling and draining the
/// pipeline runs the other `pp - 1` stages, which have no output layer or loss (the embedding lookup costs
/// no modelled kernel time), as the placed model prices them stage by stage.
pub fn evaluate_with(m: &Model, p: &Plan, c: &Cluster, kern: &Kernels) -> Estimate {
    evaluate_cached(m, p, c, kern, &mut None)
}

/// [`evaluate_with`] reusing the DP/ZeRO figures of the previous plan when its [`dp_key`] matches (a search's
/// consecutive candidates mostly differ in recompute, interleaving, SP and overlap, which do not move them).
pub fn evaluate_cached(
    m: &Model,
    p: &Plan,
    c: &Cluster,
    kern: &Kernels,
    cache: &mut Option<(DpKey, DpFigures)>,
) -> Estimate {
    let layers = f64::from(m.layers / p.pp);
    let role = StageRole::even(p.pp);
    let params = stage_params(m, p, layers, role);
    let key = dp_key(p, params, layers);
    let figs = match cache {
        Some((k, f)) if *k == key => *f,
        _ => {
            let f = dp_figures(p, c, params, layers);
            *cache = Some((key, f));
            f
        }
    };
    let st = stage_cost_with(m, p, c, kern, layers, role, &figs);
    let p2p = if p.pp > 1 {
        p2p_time(m, p, c, pp_stride(p))
    } else {
        0.0
    };
    let others = st.per_micro_batch() - (kern.logit_f + kern.logit_b);
    let pipe = Pipeline::even(&st, others, p.pp, p2p);
    let mut e = combine(m, p, plan_peak(p, c), &pipe);
    e.memory = memory(m, p, c);
    e.fits = e.memory.total() <= c.capacity_bytes && e.memory.host <= c.host_capacity_bytes;
    e
}

/// Checks the plan against the model and cluster, then evaluates it.
pub fn estimate(m: &Model, p: &Plan, c: &Cluster) -> Result<Estimate> {
    p.check(m, c.gpus())?;
    check_supported(p, c, "this device")?;
    check_placement(p, c)?;
    Ok(evaluate(m, p, c))
}
