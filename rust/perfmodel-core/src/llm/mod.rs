//! LLM training: models, plans, memory, step time and plan search.
//!
//! - [`model`]: dense and MoE decoder transformers, parameter and FLOP counts;
//! - [`plan`]: DP/TP/PP/SP/CP/EP, ZeRO 0-3 and ZeRO++ plans and their validity rules;
//! - [`step`]: per-plan step time, memory, MFU/HFU; every collective of a plan is priced by
//!   [`crate::collective`] over the levels its group spans ([`crate::collective::group`]);
//! - [`search`]: parallel exhaustive search;
//! - [`hetero`]: node groups with different NICs: placement and the asymmetric pipeline partition.
pub mod hetero;
pub mod model;
pub mod plan;
pub mod search;
pub mod step;

pub use model::{Model, Recompute};
pub use plan::{Invalid, Plan};
pub use search::{search, Found, Space};
pub use step::{estimate, evaluate, Calibration, Cluster, Estimate, Memory, Times};
