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

/// The largest model dimension accepted (hidden, FFN width, vocabulary, sequence length, layers): 2^30.
const MAX_MODEL_DIM: f64 = 1_073_741_824.0;

fn whole(arg: &str, v: f64, min: f64) -> Result<u32> {
    if !v.is_finite() || v.fract() != 0.0 || v < min || v > MAX_MODEL_DIM {
        return Err(invalid(
            arg,
            format!("is {v}; expected a whole number from {min} to 2^30"),
        ));
    }
    Ok(v as u32)
}

/// An on/off model option: exactly 0 or 1 (a bool from Python).
fn flag(arg: &str, v: Option<f64>, default: bool) -> Result<bool> {
    match v {
        None => Ok(default),
        Some(x) if x == 0.0 || x == 1.0 => Ok(x == 1.0),
        Some(x) => Err(invalid(arg, format!("is {x}; expected True or False"))),
    }
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
            glu: flag("glu", get("glu"), false)?,
            seq_len: f64::from(whole("seq_len", req("seq_len")?, 1.0)?),
            vocab: f64::from(whole("vocab", req("vocab")?, 1.0)?),
            experts: whole("experts", get("experts").unwrap_or(0.0), 0.0)?,
            top_k: whole("top_k", get("top_k").unwrap_or(0.0), 0.0)?,
            shared_experts: whole("shared_experts", get("shared_experts").unwrap_or(0.0), 0.0)?,
            moe_ffn_hidden: f64::from(whole(
                "moe_ffn_hidden",
                get("moe_ffn_hidden").unwrap_or(0.0),
                0.0,
            )?),
            bias: flag("bias", get("bias"), true)?,
            learned_pos: flag("learned_pos", get("learned_pos"), true)?,
            tied_embeddings: flag("tied_embeddings", get("tied_embeddings"), true)?,
            head_dim_override: f64::from(whole("head_dim", get("head_dim").unwrap_or(0.0), 0.0)?),
            q_lora_rank: f64::from(whole(
                "q_lora_rank",
                get("q_lora_rank").unwrap_or(0.0),
                0.0,
            )?),
            kv_lora_rank: f64::from(whole(
                "kv_lora_rank",
                get("kv_lora_rank").unwrap_or(0.0),
                0.0,
            )?),
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
        if self.is_mla() && self.qk_nope_head_dim + self.qk_rope_head_dim == 0.0 {
            return Err(Error::Model {
                message: format!(
                    "kv_lora_rank ({}) makes this an MLA model; it needs qk_nope_head_dim or qk_rope_head_dim > 0",
                    self.kv_lora_rank
                ),
            });
        }
        if self.is_mla() && self.v_head_dim == 0.0 {
            return Err(Error::Model {
                message: format!(
                    "kv_lora_rank ({}) makes this an MLA model; it needs v_head_dim > 0",
                    self.kv_lora_rank
                ),
            });
        }
        if self.is_moe() && self.dense_layers >= self.layers {
            return Err(Error::Model {
                message: format!(
                    "dense_layers ({}) must be below layers ({}) in an MoE model",
                    self.dense_layers, self.layers
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

    /// Multi-head latent attention (DeepSeek-V2/V3): a joint KV latent of rank `kv_lora_rank` > 0.
    pub fn is_mla(&self) -> bool {
        self.kv_lora_rank > 0.0
    }

    /// Layers whose MLP is MoE: those after the `dense_layers` leading dense ones, every `moe_layer_step`-th
    /// (HF Llama-4: layers `step-1, 2 step-1, ...`; DeepSeek: all after `first_k_dense_replace`); 0 for dense.
    pub fn moe_layer_count(&self) -> u32 {
        if self.is_moe() {
            (self.layers - self.dense_layers.min(self.layers)) / self.moe_layer_step
        } else {
            0
        }
    }

    /// Layers with a dense MLP of width `ffn_hidden`: every layer of a dense model, the others of an MoE one.
    pub fn dense_layer_count(&self) -> u32 {
        self.layers - self.moe_layer_count()
    }

    /// Width of the query projection output: `heads head_dim`; MLA: `heads (qk_nope + qk_rope)`.
    pub fn q_width(&self) -> f64 {
        if self.is_mla() {
            f64::from(self.heads) * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        } else if self.head_dim_override > 0.0 {
            f64::from(self.heads) * self.head_dim_override
        } else {
            self.hidden
        }
    }

    /// Width of the attention output before the output projection: `heads head_dim`; MLA: `heads v_head_dim`.
    pub fn attn_out_width(&self) -> f64 {
        if self.is_mla() {
            f64::from(self.heads) * self.v_head_dim
        } else {
            self.q_width()
        }
    }

    /// Elements cached per token per layer: K and V, `2 kv_heads head_dim`; MLA caches the latent and the
    /// shared rotary key, `kv_lora_rank + qk_rope_head_dim` (DeepSeek-V2, arXiv:2405.04434, §2.1.2).
    pub fn kv_cache_width(&self) -> f64 {
        if self.is_mla() {
            self.kv_lora_rank + self.qk_rope_head_dim
        } else {
            self.kv_width()
        }
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

    /// Weight-matrix parameters of one layer's attention: `h (q + kv) + q h` with q = heads head_dim; MLA
    /// (DeepSeek-V3 `modeling_deepseek.py`): query down/up projections (or one `h q` matrix without
    /// `q_lora_rank`), KV down-projection `h (kv_lora_rank + rope)`, KV up-projection
    /// `kv_lora_rank heads (nope + v)` and output `heads v h`.
    fn attention_matrix_params(&self) -> f64 {
        let h = self.hidden;
        if self.is_mla() {
            let heads = f64::from(self.heads);
            let q = if self.q_lora_rank > 0.0 {
                h * self.q_lora_rank + self.q_lora_rank * self.q_width()
            } else {
                h * self.q_width()
            };
            let kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim);
            let kv_b = self.kv_lora_rank * heads * (self.qk_nope_head_dim + self.v_head_dim);
            q + kv_a + kv_b + self.attn_out_width() * h
        } else {
            let q = self.q_width();
            h * (q + self.kv_width()) + q * h
        }
    }

    /// Attention parameters of one layer: projections (+ biases; MLA: + the RMSNorms of the query and KV latents).
    pub fn attention_params(&self) -> f64 {
        let w = self.attention_matrix_params();
        if self.is_mla() {
            w + self.q_lora_rank + self.kv_lora_rank
        } else if self.bias {
            w + (self.q_width() + self.kv_width()) + self.hidden
        } else {
            w
        }
    }

    /// Parameters of one dense MLP of width f (+ biases).
    pub fn mlp_params(&self, f: f64) -> f64 {
        let h = self.hidden;
        let w = self.mlp_mats() * h * f;
        if self.bias {
            w + (self.mlp_mats() - 1.0) * f + h
        } else {
            w
        }
    }

    /// `x` per MoE layer (and `dense` per dense-MLP layer) as a mean over all layers, so that `layers` times it
    /// is the model's total; exactly `x` when every layer is MoE.
    fn per_layer_mean(&self, moe: f64, dense: f64) -> f64 {
        let (n_moe, n_dense) = (self.moe_layer_count(), self.dense_layer_count());
        if n_dense == 0 {
            moe
        } else if n_moe == 0 {
            dense
        } else {
            (f64::from(n_moe) * moe + f64::from(n_dense) * dense) / f64::from(self.layers)
        }
    }

    /// Parameters of the shared experts and router of one MoE layer (what every token of it uses).
    pub fn moe_shared_params(&self) -> f64 {
        f64::from(self.shared_experts) * self.mlp_params(self.expert_ffn())
            + self.hidden * f64::from(self.experts)
    }

    /// Parameters of the MLP block that every token uses, per layer (mean over layers): the dense MLP, or
    /// shared experts + router on MoE layers and the dense MLP (`ffn_hidden`) on an MoE model's dense layers.
    pub fn dense_mlp_params(&self) -> f64 {
        if self.is_moe() {
            self.per_layer_mean(self.moe_shared_params(), self.mlp_params(self.ffn_hidden))
        } else {
            self.mlp_params(self.ffn_hidden)
        }
    }

    /// Parameters of the routed experts per layer (mean over layers: MoE layers only hold experts; 0 for dense).
    pub fn expert_params(&self) -> f64 {
        if self.is_moe() {
            self.per_layer_mean(
                f64::from(self.experts) * self.mlp_params(self.expert_ffn()),
                0.0,
            )
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

    /// Non-expert parameters of one layer (mean over layers where dense and MoE layers differ).
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
            self.per_layer_mean(
                f64::from(self.top_k) * self.mlp_params(self.expert_ffn()),
                0.0,
            )
        } else {
            0.0
        };
        l * (self.layer_dense_params() + routed)
            + self.embedding_params()
            + self.output_params()
            + self.final_norm_params()
    }

    /// Forward matmul FLOPs per token of one layer's attention projections: 2 per weight, `2 h (q + kv) + 2 q h`
    /// (MLA: 2 x its projection weights, without absorbing the KV up-projection).
    pub fn attention_gemm_flops_fwd(&self) -> f64 {
        if self.is_mla() {
            2.0 * self.attention_matrix_params()
        } else {
            let (h, q) = (self.hidden, self.q_width());
            2.0 * h * (q + self.kv_width()) + 2.0 * q * h
        }
    }

    /// Forward matmul FLOPs per token of one MoE layer's MLP: top-k routed and shared experts, router.
    pub fn moe_mlp_gemm_flops_fwd(&self) -> f64 {
        let h = self.hidden;
        2.0 * self.mlp_mats() * h * self.expert_ffn() * f64::from(self.top_k + self.shared_experts)
            + 2.0 * h * f64::from(self.experts)
    }

    /// Forward matmul FLOPs per token of one dense MLP of width `ffn_hidden`.
    pub fn dense_mlp_gemm_flops_fwd(&self) -> f64 {
        2.0 * self.mlp_mats() * self.hidden * self.ffn_hidden
    }

    /// Forward matmul FLOPs per token of one layer's weights (QKV, projection, MLP incl. top-k experts,
    /// router), a mean over layers where an MoE model also has dense-MLP layers.
    pub fn layer_gemm_flops_fwd(&self) -> f64 {
        let mlp = if self.is_moe() {
            self.per_layer_mean(
                self.moe_mlp_gemm_flops_fwd(),
                self.dense_mlp_gemm_flops_fwd(),
            )
        } else {
            self.dense_mlp_gemm_flops_fwd()
        };
        self.attention_gemm_flops_fwd() + mlp
    }

    /// Forward attention-core FLOPs per token of one layer, counted over the full s x s score matrix as
    /// Megatron's formulas do: QK^T and AV, `4 s h` for q = h; `2 s q + 2 s heads v_head_dim` in general.
    pub fn layer_attention_flops_fwd(&self) -> f64 {
        if self.is_mla() {
            2.0 * self.seq_len * self.q_width() + 2.0 * self.seq_len * self.attn_out_width()
        } else {
            4.0 * self.seq_len * self.q_width()
        }
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

    /// Model FLOPs per token with the weights frozen (adapter fine-tuning): the linears' and the logits'
    /// backward computes only the input gradient (2x forward in all), attention's both operands' (3x).
    pub fn frozen_model_flops_per_token(&self) -> f64 {
        let l = f64::from(self.layers);
        2.0 * (l * self.layer_gemm_flops_fwd() + self.logit_flops_fwd())
            + 3.0 * l * self.layer_attention_flops_fwd()
    }

    /// Hardware FLOPs per token including recomputation, as the papers count them: full recompute adds one
    /// forward of every layer (Narayanan et al. 96-formula); selective adds `12 s h` per layer (Korthikanti
    /// et al. §6: `72 l h^2 (1 + s/(3h) + V/(12 l h))`).
    pub fn hardware_flops_per_token(&self, recompute: Recompute) -> f64 {
        self.model_flops_per_token() + self.recompute_flops_per_token(recompute)
    }

    /// The FLOPs per token recomputation adds.
    pub fn recompute_flops_per_token(&self, recompute: Recompute) -> f64 {
        let l = f64::from(self.layers);
        match recompute {
            Recompute::None => 0.0,
            Recompute::Selective => l * 3.0 * self.layer_attention_flops_fwd(),
            Recompute::Full => l * (self.layer_gemm_flops_fwd() + self.layer_attention_flops_fwd()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deepseek_v3() -> Model {
        // DeepSeek-V3 config.json (deepseek-ai/DeepSeek-V3).
        Model::from_pairs(&[
            ("hidden", 7168.0),
            ("layers", 61.0),
            ("heads", 128.0),
            ("ffn_hidden", 18432.0),
            ("moe_ffn_hidden", 2048.0),
            ("experts", 256.0),
            ("top_k", 8.0),
            ("shared_experts", 1.0),
            ("dense_layers", 3.0),
            ("q_lora_rank", 1536.0),
            ("kv_lora_rank", 512.0),
            ("qk_rope_head_dim", 64.0),
            ("qk_nope_head_dim", 128.0),
            ("v_head_dim", 128.0),
            ("seq_len", 163_840.0),
            ("vocab", 129_280.0),
            ("glu", 1.0),
            ("bias", 0.0),
            ("learned_pos", 0.0),
            ("tied_embeddings", 0.0),
        ])
        .unwrap()
    }

    #[test]
    fn mla_widths_and_layer_split() {
        let m = deepseek_v3();
        assert!(m.is_mla());
        assert_eq!(m.q_width(), 128.0 * 192.0);
        // DeepSeek-V2 §2.1.2: the cache holds the latent and the shared rotary key, (d_c + d_h^R) per token.
        assert_eq!(m.kv_cache_width(), 576.0);
        assert_eq!((m.moe_layer_count(), m.dense_layer_count()), (58, 3));
        // Technical report (arXiv:2412.19437): 671B total, 37B activated.
        assert!((m.params() / 671e9 - 1.0).abs() < 0.005);
        assert!((m.active_params() / 37e9 - 1.0).abs() < 0.03);
    }

    #[test]
    fn interleaved_moe_layers_and_explicit_head_width() {
        let pairs = |step: f64| {
            vec![
                ("hidden", 5120.0),
                ("layers", 48.0),
                ("heads", 40.0),
                ("kv_heads", 8.0),
                ("head_dim", 128.0),
                ("experts", 128.0),
                ("top_k", 1.0),
                ("moe_layer_step", step),
                ("seq_len", 8192.0),
                ("vocab", 202_048.0),
            ]
        };
        let m = Model::from_pairs(&pairs(2.0)).unwrap();
        assert_eq!((m.moe_layer_count(), m.dense_layer_count()), (24, 24));
        assert_eq!(m.kv_cache_width(), 2.0 * 8.0 * 128.0);
        assert!(!m.is_mla());
        let every = Model::from_pairs(&pairs(1.0)).unwrap();
        assert_eq!(every.moe_layer_count(), 48);
        let dense = Model::from_pairs(&[
            ("hidden", 4096.0),
            ("layers", 4.0),
            ("heads", 32.0),
            ("head_dim", 128.0),
            ("seq_len", 8.0),
            ("vocab", 8.0),
        ])
        .unwrap();
        assert_eq!((dense.moe_layer_count(), dense.dense_layer_count()), (0, 4));
        assert_eq!(dense.q_width(), 4096.0);
    }
}
