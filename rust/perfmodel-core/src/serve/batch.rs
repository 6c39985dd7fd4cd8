//! What one engine iteration holds: prefill chunks (new prompt tokens with the context already cached) and
//! decode sequences with their context lengths. The simulator fills it; the iteration model prices it.

/// Part of one prompt processed in an iteration: `tokens` new tokens after `cached` tokens already in the
/// KV cache (0 for a whole prompt or a first chunk). The chunk attends to `cached + tokens` keys, causally.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrefillChunk {
    pub tokens: f64,
    pub cached: f64,
    /// Whether this chunk ends the prompt, so the iteration samples this sequence's first output token.
    pub last: bool,
}

/// The prefill part of a uniform iteration (`Engine::uniform`, `WorkModel::uniform`): `prefill_seqs` equal
/// chunks of `prompt` new tokens after `cached` cached ones, each ending its prompt; `None` when there is none.
pub fn uniform_prefill(prefill_seqs: f64, prompt: f64, cached: f64) -> Option<(f64, PrefillChunk)> {
    (prefill_seqs > 0.0 && prompt > 0.0).then_some((
        prefill_seqs,
        PrefillChunk {
            tokens: prompt,
            cached,
            last: true,
        },
    ))
}

/// One iteration's work. `decode_context_sum` is the sum over decode sequences of the tokens each attends
/// to (its KV-cache length including the token being generated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub prefill: Vec<PrefillChunk>,
    pub decode_seqs: f64,
    pub decode_context_sum: f64,
}

impl Batch {
    /// A batch of `seqs` decode sequences, each attending to `context` tokens.
    pub fn decode(seqs: f64, context: f64) -> Batch {
        Batch {
            prefill: Vec::new(),
            decode_seqs: seqs,
            decode_context_sum: seqs * context,
        }
    }

    /// `seqs` whole prompts of `prompt` tokens each.
    pub fn prefill(seqs: usize, prompt: f64) -> Batch {
        Batch {
            prefill: vec![
                PrefillChunk {
                    tokens: prompt,
                    cached: 0.0,
                    last: true,
                };
                seqs
            ],
            decode_seqs: 0.0,
            decode_context_sum: 0.0,
        }
    }

    /// New tokens through the model's linear layers this iteration (prefill tokens + one per decode sequence).
    pub fn tokens(&self) -> f64 {
        self.prefill.iter().map(|c| c.tokens).sum::<f64>() + self.decode_seqs
    }

    /// Sequences that sample a token this iteration (decode sequences and prompts that finish).
    pub fn sampled(&self) -> f64 {
        self.prefill.iter().filter(|c| c.last).count() as f64 + self.decode_seqs
    }

    pub fn clear(&mut self) {
        self.prefill.clear();
        self.decode_seqs = 0.0;
        self.decode_context_sum = 0.0;
    }
}
