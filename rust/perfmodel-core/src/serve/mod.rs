//! LLM inference and serving: one engine iteration priced on the roofline and collectives engines
//! ([`iteration`]), KV-cache and weight memory ([`memory`]), and the continuous-batching simulator ([`sim`]).
pub mod batch;
pub mod requests;
pub mod sim;

pub use batch::{Batch, PrefillChunk};
