//! The communication breakdown of one training plan: every collective, with its group, op, algorithm and
//! the fabric levels it crosses, as the collectives engine priced it.
use std::collections::HashMap;

use perfmodel_core::llm::{self, Cluster, Model, Plan};
use perfmodel_core::topology::NodeGroup;
use pyo3::prelude::*;

use crate::errors::engine;

/// One collective: (group, what, op, algorithm, levels crossed as `name:transport(spec)` joined by `+`,
/// group size, stride, bytes per call, seconds per call, calls per step, cross-node bytes per call).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
    u32,
    u64,
    f64,
    f64,
    f64,
    f64,
);

fn pairs(map: &HashMap<String, f64>) -> Vec<(&str, f64)> {
    map.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Every collective of a plan on `nodes` nodes of a system (the heaviest stage's DP/ZeRO collectives).
#[pyfunction]
pub fn llm_collectives(
    py: Python<'_>,
    model: HashMap<String, f64>,
    system: &Bound<'_, PyAny>,
    nodes: u32,
    plan: HashMap<String, f64>,
    calib: crate::llm::CalibTuple,
) -> PyResult<Vec<Row>> {
    let sys = crate::llm::system_of(py, system)?;
    engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let p = Plan::from_pairs(&pairs(&plan))?;
        let c = Cluster::new(&sys, nodes, crate::llm::calibration(calib))?;
        llm::estimate(&m, &p, &c)?;
        let group = NodeGroup::from_system(sys.clone(), nodes)?;
        let rows = llm::step::plan_collectives(&m, &p, &c)
            .iter()
            .map(|x| {
                let levels = c
                    .machine
                    .layout(x.size, x.stride)
                    .map(|l| {
                        let names: Vec<String> = group
                            .levels
                            .iter()
                            .zip(l.members)
                            .filter(|(_, k)| *k > 1)
                            .map(|(lv, _)| format!("{}:{}({})", lv.name, lv.transport, lv.spec))
                            .collect();
                        if names.is_empty() {
                            "local".to_owned()
                        } else {
                            names.join("+")
                        }
                    })
                    .unwrap_or_default();
                (
                    x.group.name(),
                    x.what,
                    x.op().name(),
                    x.algorithm().name(),
                    levels,
                    x.size,
                    x.stride,
                    x.bytes,
                    x.time_s(),
                    x.calls_per_step,
                    x.cross_node_bytes,
                )
            })
            .collect();
        Ok(rows)
    })
}

/// Registers the function.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(llm_collectives, m)?)?;
    Ok(())
}
