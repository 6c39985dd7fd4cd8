//! LLM inference and serving: one engine iteration priced on the roofline and collectives engines
//! ([`iteration`]), KV-cache and weight memory ([`memory`]), and the continuous-batching simulator ([`sim`]).
pub mod batch;
mod cache;
pub mod disagg;
pub mod iteration;
pub mod memory;
pub mod requests;
pub mod sim;
pub mod stats;

pub use batch::{Batch, PrefillChunk};
pub use iteration::{Engine, Framework, IterationTime, KvFormat, ServePlan, WeightFormat};
pub use memory::{KvPolicy, ServeMemory};
