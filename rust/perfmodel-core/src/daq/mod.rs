//! Data-acquisition pipelines: detectors -> processing/trigger stages -> one storage root, joined by
//! links. Rates, data sizes, selection quality, power, technology scaling and hardware cost.
//!
//! The model follows SystemFlow (Olin-Ammentorp, Wu & Chien, arXiv:2407.00123; code
//! github.com/wilkieolin/system_flow, `systemflow/graph.py` and `systemflow/hep/*`), as written up in
//! `docs/models/daq.md`:
//! - a detector emits `R` samples/s of `D` bytes; relevant fraction `rho = 1/G`, `G` the product of the
//!   reduction ratios downstream of it (an explicit override is allowed);
//! - a stage's message is the sum of its inputs plus its own added bytes; its input statistics are the
//!   element-wise mean of its predecessors'; its classifier keeps a fraction `1/RR` of the events;
//! - compute power = energy per op x complexity(message bytes) x input rate;
//!   link power = energy per bit x 8 x bytes x output rate of the sender;
//! - power is divided by the CMOS scaling factor `S(year) = exp(0.18717361 (year - 2022))`.
//!
//! Hardware cost is not in SystemFlow; here it is `units x unit cost` per stage, where units are fixed
//! units plus, for a farm, `ceil(input rate x ops per event x seconds per op per unit / utilization)`.
mod classifier;
mod eval;
mod graph;

pub use classifier::{error_matrix, normal_cdf, solve_threshold, Classifier, ScoreTable};
pub use eval::{
    evaluate, sweep, sweep_rows, Evaluation, McOptions, Metrics, NodeResult, SweepColumns,
    METRIC_NAMES,
};
pub use graph::{Field, Link, Node, NodeKind, NodeParams, Pipeline, Settings, Target};
