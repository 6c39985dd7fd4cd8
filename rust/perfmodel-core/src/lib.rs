//! perfmodel-core: analytical models of kernels, collectives, training steps and data-acquisition
//! pipelines over a hardware database. Pure Rust, no Python; the `perfmodel-py` crate binds it.
pub mod collective;
pub mod daq;
pub mod error;
pub mod hw;
pub mod llm;
pub mod power;
pub mod roofline;
pub mod serve;
pub mod stop;
pub mod topology;

pub use error::{Error, Result};
pub use stop::Stop;
