//! Transformer model definitions: dense decoders (MHA/GQA, GeLU/SwiGLU) and MoE, with parameter and FLOP
//! counts (Narayanan et al. SC'21 §5.1; Korthikanti et al. 2022 §6; Megatron `num_floating_point_operations`).
use crate::error::{invalid, Error, Result};

/// A decoder-only transformer. Sizes are f64 so the step model stays pure float arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub hidden: f64,
    pub layers: u32,
    pub heads: u32,
    pub kv_heads: u32,
    /// Dense MLP width (per expert for MoE when `moe_ffn_hidden` is 0).
    pub ffn_hidden: f64,
    /// Gated MLP (SwiGLU: three matrices) instead of GeLU (two).
    pub glu: bool,
    pub seq_len: f64,
    pub vocab: f64,
    /// Routed experts (0 or 1: dense).
    pub experts: u32,
    pub top_k: u32,
    /// Always-active shared experts (DeepSeek-style), each of width `moe_ffn_hidden`.
    pub shared_experts: u32,
    pub moe_ffn_hidden: f64,
    /// Linear and norm biases plus LayerNorm (GPT) vs none plus RMSNorm (Llama).
    pub bias: bool,
    /// Learned position embeddings (GPT) vs rotary (Llama).
    pub learned_pos: bool,
    pub tied_embeddings: bool,
    /// Width of one attention head; 0 means `hidden / heads` (Qwen3 and others set it apart from hidden).
    pub head_dim_override: f64,
    /// Multi-head latent attention (DeepSeek-V2/V3): rank of the query down-projection (0: no query
    /// compression), rank of the joint KV latent (0: not MLA), and the rotary, non-rotary and value head widths.
    pub q_lora_rank: f64,
    pub kv_lora_rank: f64,
    pub qk_rope_head_dim: f64,
    pub qk_nope_head_dim: f64,
    pub v_head_dim: f64,
    /// MoE models: leading layers that keep a dense MLP of width `ffn_hidden` (DeepSeek `first_k_dense_replace`).
    pub dense_layers: u32,
    /// MoE models: every `moe_layer_step`-th layer after the dense ones is MoE, the others dense (Llama-4
    /// Maverick `interleave_moe_layer_step` = 2); 1 = every layer.
    pub moe_layer_step: u32,
}

/// Field names a model map accepts, in the order of the defaults below.
pub const MODEL_KEYS: &[&str] = &[
    "hidden",
    "layers",
    "heads",
    "kv_heads",
    "ffn_hidden",
    "glu",
    "seq_len",
    "vocab",
    "experts",
    "top_k",
    "shared_experts",
    "moe_ffn_hidden",
    "bias",
    "learned_pos",
    "tied_embeddings",
    "head_dim",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "dense_layers",
    "moe_layer_step",
];

fn whole(arg: &str, v: f64, min: f64) -> Result<u32> {
    if !v.is_finite() || v.fract() != 0.0 || v < min || v > f64::from(u32::MAX) {
        return Err(invalid(
            arg,
            format!("is {v}; expected a whole number >= {min}"),
        ));
    }
    Ok(v as u32)
}

impl Model {
    /// Builds a model from named numbers (booleans as 0/1); missing optional keys take GPT defaults
    /// (kv_heads = heads, ffn_hidden = 4 hidden, GeLU, biases, learned positions, tied embeddings).
    pub fn from_pairs(pairs: &[(&str, f64)]) -> Result<Model> {
        for (k, _) in pairs {
            if !MODEL_KEYS.contains(k) {
                let close = crate::error::closest(k, MODEL_KEYS.iter().copied());
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", crate::error::quoted_list(&close))
                };
                return Err(invalid(k, format!("is not a model field{hint}")));
            }
        }
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let req = |k: &str| {
            get(k).ok_or_else(|| {
                invalid(
                    k,
                    "is required for a model (hidden, layers, heads, seq_len, vocab)",
                )
            })
        };
        let hidden = f64::from(whole("hidden", req("hidden")?, 1.0)?);
        let heads = whole("heads", req("heads")?, 1.0)?;
        let m = Model {
            hidden,
            layers: whole("layers", req("layers")?, 1.0)?,
            heads,
            kv_heads: whole("kv_heads", get("kv_heads").unwrap_or(f64::from(heads)), 1.0)?,
            ffn_hidden: f64::from(whole(
                "ffn_hidden",
                get("ffn_hidden").unwrap_or(4.0 * hidden),
                1.0,
            )?),
            glu: get("glu").unwrap_or(0.0) != 0.0,
            seq_len: f64::from(whole("seq_len", req("seq_len")?, 1.0)?),
            vocab: f64::from(whole("vocab", req("vocab")?, 1.0)?),
            experts: whole("experts", get("experts").unwrap_or(0.0), 0.0)?,
            top_k: whole("top_k", get("top_k").unwrap_or(0.0), 0.0)?,
            shared_experts: whole("shared_experts", get("shared_experts").unwrap_or(0.0), 0.0)?,
            moe_ffn_hidden: get("moe_ffn_hidden").unwrap_or(0.0),
            bias: get("bias").unwrap_or(1.0) != 0.0,
            learned_pos: get("learned_pos").unwrap_or(1.0) != 0.0,
            tied_embeddings: get("tied_embeddings").unwrap_or(1.0) != 0.0,
            head_dim_override: f64::from(whole("head_dim", get("head_dim").unwrap_or(0.0), 0.0)?),
            q_lora_rank: f64::from(whole("q_lora_rank", get("q_lora_rank").unwrap_or(0.0), 0.0)?),
            kv_lora_rank: f64::from(whole("kv_lora_rank", get("kv_lora_rank").unwrap_or(0.0), 0.0)?),
            qk_rope_head_dim: f64::from(whole(
                "qk_rope_head_dim",
                get("qk_rope_head_dim").unwrap_or(0.0),
                0.0,
            )?),
            qk_nope_head_dim: f64::from(whole(
                "qk_nope_head_dim",
                get("qk_nope_head_dim").unwrap_or(0.0),
                0.0,
            )?),
            v_head_dim: f64::from(whole("v_head_dim", get("v_head_dim").unwrap_or(0.0), 0.0)?),
            dense_layers: whole("dense_layers", get("dense_layers").unwrap_or(0.0), 0.0)?,
            moe_layer_step: whole("moe_layer_step", get("moe_layer_step").unwrap_or(1.0), 1.0)?,
        };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        if self.heads % self.kv_heads != 0 {
            return Err(Error::Model {
                message: format!(
                    "heads ({}) must be a multiple of kv_heads ({})",
                    self.heads, self.kv_heads
                ),
            });
        }
        if self.head_dim_override == 0.0 && (self.hidden as u64) % u64::from(self.heads) != 0 {
            return Err(Error::Model {
                message: format!(
                    "hidden ({}) must be divisible by heads ({})",
                    self.hidden, self.heads
                ),
            });
        }
        if self.is_moe() && (self.top_k == 0 || self.top_k > self.experts) {
            return Err(Error::Model {
                message: format!(
                    "top_k ({}) must be between 1 and experts ({})",
                    self.top_k, self.experts
                ),
            });
        }
        Ok(())
    }

    pub fn is_moe(&self) -> bool {
        self.experts > 1
    }

    pub fn head_dim(&self) -> f64 {
        if self.head_dim_override > 0.0 {
            self.head_dim_override
        } else {
            self.hidden / f64::from(self.heads)
        }
    }

    /// Width of the K and V projections together: 2 kv_heads head_dim.
    pub fn kv_width(&self) -> f64 {
        2.0 * f64::from(self.kv_heads) * self.head_dim()
    }

    /// Matrices per MLP: 3 for gated (SwiGLU), 2 otherwise.
    pub fn mlp_mats(&self) -> f64 {
        if self.glu {
            3.0
        } else {
            2.0
        }
    }

    /// Width of one expert's MLP.
    pub fn expert_ffn(&self) -> f64 {
        if self.moe_ffn_hidden > 0.0 {
            self.moe_ffn_hidden
        } else {
            self.ffn_hidden
        }
    }

    /// Attention parameters of one layer: QKV + output projection (+ biases).
    pub fn attention_params(&self) -> f64 {
        let h = self.hidden;
        let w = h * (h + self.kv_width()) + h * h;
        if self.bias {
            w + (h + self.kv_width()) + h
        } else {
            w
        }
    }

    /// Parameters of one dense MLP of width f (+ biases).
    fn mlp_params(&self, f: f64) -> f64 {
        let h = self.hidden;
        let w = self.mlp_mats() * h * f;
        if self.bias {
            w + (self.mlp_mats() - 1.0) * f + h
        } else {
            w
        }
    }

    /// Parameters of the MLP block that every token uses (dense MLP, or shared experts + router for MoE).
    pub fn dense_mlp_params(&self) -> f64 {
        if self.is_moe() {
            f64::from(self.shared_experts) * self.mlp_params(self.expert_ffn())
                + self.hidden * f64::from(self.experts)
        } else {
            self.mlp_params(self.ffn_hidden)
        }
    }

    /// Parameters of the routed experts of one layer (0 for dense).
    pub fn expert_params(&self) -> f64 {
        if self.is_moe() {
            f64::from(self.experts) * self.mlp_params(self.expert_ffn())
        } else {
            0.0
        }
    }

    /// Norm parameters of one layer: two LayerNorms (2h each) or RMSNorms (h each).
    pub fn norm_params(&self) -> f64 {
        if self.bias {
            4.0 * self.hidden
        } else {
            2.0 * self.hidden
        }
    }

    /// Non-expert parameters of one layer.
    pub fn layer_dense_params(&self) -> f64 {
        self.attention_params() + self.dense_mlp_params() + self.norm_params()
    }

    /// Embedding (+ learned positions) parameters; the output layer adds V h when untied.
    pub fn embedding_params(&self) -> f64 {
        let pos = if self.learned_pos {
            self.seq_len * self.hidden
        } else {
            0.0
        };
        self.vocab * self.hidden + pos
    }

    pub fn output_params(&self) -> f64 {
        if self.tied_embeddings {
            0.0
        } else {
            self.vocab * self.hidden
        }
    }

    /// Final norm: counted for RMSNorm models (Llama's published sizes include it); the GPT formula of
    /// Narayanan et al. (`12 l h^2 (1 + 13/(12h) + (V + s)/(12 l h))`) leaves the final LayerNorm out.
    pub fn final_norm_params(&self) -> f64 {
        if self.bias {
            0.0
        } else {
            self.hidden
        }
    }

    /// Total parameters. GPT (bias, tied, learned positions, F = 4h): exactly `12 l h^2 (1 + 13/(12h) + (V+s)/(12lh))`.
    pub fn params(&self) -> f64 {
        let l = f64::from(self.layers);
        l * (self.layer_dense_params() + self.expert_params())
            + self.embedding_params()
            + self.output_params()
            + self.final_norm_params()
    }

    /// Parameters a token touches (MoE: top-k of the routed experts).
    pub fn active_params(&self) -> f64 {
        let l = f64::from(self.layers);
        let routed = if self.is_moe() {
            f64::from(self.top_k) * self.mlp_params(self.expert_ffn())
        } else {
            0.0
        };
        l * (self.layer_dense_params() + routed)
            + self.embedding_params()
            + self.output_params()
            + self.final_norm_params()
    }

    /// Forward matmul FLOPs per token of one layer's weights (QKV, projection, MLP incl. top-k experts, router).
    pub fn layer_gemm_flops_fwd(&self) -> f64 {
        let h = self.hidden;
        let attn = 2.0 * h * (h + self.kv_width()) + 2.0 * h * h;
        let mlp = if self.is_moe() {
            2.0 * self.mlp_mats()
                * h
                * self.expert_ffn()
                * f64::from(self.top_k + self.shared_experts)
                + 2.0 * h * f64::from(self.experts)
        } else {
            2.0 * self.mlp_mats() * h * self.ffn_hidden
        };
        attn + mlp
    }

    /// Forward attention-core FLOPs per token of one layer, counted over the full s x s score matrix as
    /// Megatron's formulas do: QK^T and AV, `4 s h`.
    pub fn layer_attention_flops_fwd(&self) -> f64 {
        4.0 * self.seq_len * self.hidden
    }

    /// Forward logit FLOPs per token: `2 h V`.
    pub fn logit_flops_fwd(&self) -> f64 {
        2.0 * self.hidden * self.vocab
    }

    /// Model FLOPs per token (forward + backward = 3x forward, no recompute). For GPT this is the
    /// 72-formula of Korthikanti et al.: `72 l h^2 (1 + s/(6h) + V/(12 l h))`.
    pub fn model_flops_per_token(&self) -> f64 {
        let l = f64::from(self.layers);
        3.0 * (l * (self.layer_gemm_flops_fwd() + self.layer_attention_flops_fwd())
            + self.logit_flops_fwd())
    }

    /// Hardware FLOPs per token including recomputation, as the papers count them: full recompute adds one
    /// forward of every layer (Narayanan et al. 96-formula); selective adds `12 s h` per layer (Korthikanti
    /// et al. §6: `72 l h^2 (1 + s/(3h) + V/(12 l h))`).
    pub fn hardware_flops_per_token(&self, recompute: Recompute) -> f64 {
        let l = f64::from(self.layers);
        let extra = match recompute {
            Recompute::None => 0.0,
            Recompute::Selective => l * 3.0 * self.layer_attention_flops_fwd(),
            Recompute::Full => l * (self.layer_gemm_flops_fwd() + self.layer_attention_flops_fwd()),
        };
        self.model_flops_per_token() + extra
    }
}

/// Activation recomputation (Korthikanti et al. 2022).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Recompute {
    None = 0,
    Selective = 1,
    Full = 2,
}

impl Recompute {
    pub const NAMES: [&'static str; 3] = ["none", "selective", "full"];
    pub const ALL: [Recompute; 3] = [Recompute::None, Recompute::Selective, Recompute::Full];

    pub fn parse(name: &str) -> Result<Recompute> {
        match name {
            "none" => Ok(Recompute::None),
            "selective" => Ok(Recompute::Selective),
            "full" => Ok(Recompute::Full),
            _ => Err(invalid(
                "recompute",
                format!("is '{name}'; expected 'none', 'selective' or 'full'"),
            )),
        }
    }

    pub fn from_code(code: f64) -> Result<Recompute> {
        match code as i64 {
            0 if code == 0.0 => Ok(Recompute::None),
            1 if code == 1.0 => Ok(Recompute::Selective),
            2 if code == 2.0 => Ok(Recompute::Full),
            _ => Err(invalid(
                "recompute",
                format!("code {code}; expected 0 (none), 1 (selective) or 2 (full)"),
            )),
        }
    }
}
