//! Memory of one GPU of a serving instance: weights of its pipeline stage and TP shard, the activation
//! workspace of the largest iteration, and what is left for the paged KV cache.
//!
//! KV bytes per token per layer: `2 kv_heads head_dim` elements for MHA/GQA split over TP ranks (replicated
//! when TP exceeds the KV heads), `kv_lora_rank + qk_rope_head_dim` for MLA (DeepSeek-V2, arXiv:2405.04434
//! §2.1.2), kept whole on every rank. The cache is allocated as the framework does: vLLM reserves
//! `gpu_memory_utilization` of the GPU's memory for weights, activations and the KV cache (default 0.9);
//! TensorRT-LLM gives the KV cache `kv_cache_free_gpu_mem_fraction` of the memory left after the weights and
//! activations (default 0.9).
use super::iteration::{Engine, WeightFormat};
use crate::error::{invalid, Result};

/// How a framework sizes its KV cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvPolicy {
    /// The fraction of memory given over.
    pub fraction: f64,
    /// Whether `fraction` applies to the memory left after weights and activations (TensorRT-LLM), or to the
    /// whole GPU, from which the weights and activations are then taken (vLLM).
    pub of_free: bool,
    /// Tokens per KV block (vLLM's `block_size`, default 16).
    pub block_size: u32,
}

impl Default for KvPolicy {
    fn default() -> Self {
        KvPolicy {
            fraction: 0.9,
            of_free: false,
            block_size: 16,
        }
    }
}

/// Bytes per GPU of the heaviest stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServeMemory {
    pub weights: f64,
    /// Peak activations of an iteration of `max_batched_tokens` tokens (and its logits).
    pub activations: f64,
    /// The KV cache the framework allocates (0 when weights and activations do not fit).
    pub kv_cache: f64,
    pub kv_bytes_per_token: f64,
    /// Whole KV blocks that fit, times the block size.
    pub kv_tokens: f64,
    /// The GPU's memory.
    pub capacity: f64,
    /// Bytes the weights and activations exceed the framework's share by (0 when they fit).
    pub shortfall: f64,
}

impl ServeMemory {
    pub fn fits(&self) -> bool {
        self.shortfall <= 0.0 && self.kv_tokens > 0.0
    }
}

impl Engine {
    /// Weight bytes on one GPU of the heaviest stage: its layers' attention, dense MLP and expert weights
    /// split over TP (the MLA down-projections replicated), norms, and the embedding (first stage) or LM head
    /// (last stage), vocabulary-parallel over TP, kept in 16-bit when the linears are quantized. With attention
    /// DP every rank holds the whole attention, dense, shared-expert, router and embedding weights and
    /// `experts / ep` whole routed experts.
    pub fn weight_bytes(&self) -> f64 {
        let m = &self.model;
        let tp = self.attention_tp();
        let h = m.hidden;
        let wb = self.weights.bytes();
        let attn = if m.is_mla() {
            let rope = m.qk_rope_head_dim;
            let replicated = if m.q_lora_rank > 0.0 {
                h * m.q_lora_rank
            } else {
                0.0
            } + h * (m.kv_lora_rank + rope);
            let q_in = if m.q_lora_rank > 0.0 {
                m.q_lora_rank
            } else {
                h
            };
            let split = q_in * f64::from(m.heads) * (m.qk_nope_head_dim + rope)
                + m.kv_lora_rank * f64::from(m.heads) * (m.qk_nope_head_dim + m.v_head_dim)
                + f64::from(m.heads) * m.v_head_dim * h;
            replicated + split / tp
        } else {
            // KV projections replicate with their heads when TP exceeds them.
            let kv_rep = (tp / f64::from(m.kv_heads)).max(1.0);
            (h * m.q_width() + m.q_width() * h) / tp + h * m.kv_cache_width() * kv_rep / tp
        };
        let mats = m.mlp_mats();
        let dense = mats * h * m.ffn_hidden / tp;
        let moe = if m.is_moe() && self.plan.attention_dp {
            let routed = f64::from(m.experts) / f64::from(self.plan.ep);
            (routed + f64::from(m.shared_experts)) * mats * h * m.expert_ffn()
                + h * f64::from(m.experts)
        } else if m.is_moe() {
            f64::from(m.experts + m.shared_experts) * mats * h * m.expert_ffn() / tp
                + h * f64::from(m.experts)
        } else {
            0.0
        };
        let layer_bytes = self.stage_layer_counts();
        let linear = layer_bytes.0 * attn + layer_bytes.1 * dense + layer_bytes.2 * moe;
        let norms = layer_bytes.0 * 2.0 * h;
        let vocab = m.vocab * h / tp;
        let ends = if self.plan.pp == 1 {
            if m.tied_embeddings {
                vocab
            } else {
                2.0 * vocab
            }
        } else {
            vocab
        };
        let head_bytes = match self.weights {
            WeightFormat::Bf16 | WeightFormat::Fp16 => wb,
            WeightFormat::Fp8
            | WeightFormat::Int4
            | WeightFormat::Nvfp4
            | WeightFormat::Mxfp4
            | WeightFormat::Fp6 => 2.0,
        };
        linear * wb + norms * 2.0 + ends * head_bytes
    }

    /// Peak activation bytes of an iteration of `tokens` new tokens of which `sampled` produce logits: the
    /// residual stream, the widest intermediate (QKV or the MLP's up/gate), and the fp32 logits.
    pub fn activation_bytes(&self, tokens: f64, sampled: f64) -> f64 {
        let m = &self.model;
        let tp = self.attention_tp();
        let widest = (m.q_width() / tp + self.kv_cache_width_per_gpu())
            .max(m.mlp_mats() * m.ffn_hidden.max(m.expert_ffn()) / tp);
        tokens * (3.0 * m.hidden + 2.0 * widest) * 2.0 + sampled * m.vocab / tp * 4.0 * 2.0
    }

    /// Memory of one GPU when iterations hold up to `max_batched_tokens` tokens and `max_seqs` sequences.
    pub fn memory(
        &self,
        max_batched_tokens: f64,
        max_seqs: f64,
        policy: &KvPolicy,
    ) -> Result<ServeMemory> {
        if !(policy.fraction > 0.0 && policy.fraction <= 1.0) {
            return Err(invalid(
                "gpu_memory_utilization",
                format!("is {}; expected a fraction in (0, 1]", policy.fraction),
            ));
        }
        if policy.block_size == 0 {
            return Err(invalid("block_size", "is 0; expected at least 1 token"));
        }
        let capacity = self.cluster.capacity_bytes;
        let weights = self.weight_bytes();
        let activations =
            self.activation_bytes(max_batched_tokens, max_seqs.min(max_batched_tokens));
        let used = weights + activations;
        let (kv_cache, shortfall) = if policy.of_free {
            let free = capacity - used;
            ((free * policy.fraction).max(0.0), (-free).max(0.0))
        } else {
            let share = capacity * policy.fraction;
            ((share - used).max(0.0), (used - share).max(0.0))
        };
        let per_token = self.kv_bytes_per_token();
        let block = f64::from(policy.block_size);
        let kv_tokens = (kv_cache / (per_token * block)).floor() * block;
        Ok(ServeMemory {
            weights,
            activations,
            kv_cache,
            kv_bytes_per_token: per_token,
            kv_tokens,
            capacity,
            shortfall,
        })
    }
}
