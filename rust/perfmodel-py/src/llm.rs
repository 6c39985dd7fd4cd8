//! LLM training bindings: plain dicts of numbers in, dicts of numbers / numpy columns out; the engine runs
//! with the interpreter lock released.
use std::collections::HashMap;
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1};
use perfmodel_core::hw::{self, System};
use perfmodel_core::llm::{
    self, hetero, Calibration, Cluster, Invalid, Model, Plan, Recompute, Space,
};
use perfmodel_core::Result as CoreResult;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::engine;
use crate::hwdb::PyHwSpec;

fn pairs(map: &HashMap<String, f64>) -> Vec<(&str, f64)> {
    map.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

pub(crate) fn system_of(py: Python<'_>, system: &Bound<'_, PyAny>) -> PyResult<Arc<System>> {
    let r = if let Ok(spec) = system.cast::<PyHwSpec>() {
        spec.get().inner.system()
    } else {
        let id: String = system.extract()?;
        hw::registry()
            .and_then(|r| r.get_kind(&id, "system"))
            .and_then(|s| s.system())
    };
    r.map_err(|e| crate::errors::to_py(py, &e))
}

/// Calibration tuple from Python: (compute_time_scale, memory_time_scale, comm_bandwidth_scale,
/// network_bandwidth_scale, kernel_launch_us).
pub(crate) type CalibTuple = (f64, f64, f64, f64, f64);

pub(crate) fn calibration((compute, memory, comm, network, launch_us): CalibTuple) -> Calibration {
    Calibration {
        compute_time_scale: compute,
        memory_time_scale: memory,
        comm_bandwidth_scale: comm,
        network_bandwidth_scale: network,
        kernel_launch_s: launch_us * 1e-6,
    }
}

fn cluster(system: &System, nodes: u32, calib: CalibTuple) -> CoreResult<Cluster> {
    Cluster::new(system, nodes, calibration(calib))
}

/// Parameter and FLOP counts of a model given as a dict of numbers.
#[pyfunction]
pub fn llm_model_stats(
    py: Python<'_>,
    model: HashMap<String, f64>,
) -> PyResult<HashMap<&'static str, f64>> {
    engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        Ok(HashMap::from([
            ("params", m.params()),
            ("active_params", m.active_params()),
            ("layer_params", m.layer_dense_params() + m.expert_params()),
            ("embedding_params", m.embedding_params() + m.output_params()),
            ("model_flops_per_token", m.model_flops_per_token()),
            (
                "hardware_flops_per_token_selective",
                m.hardware_flops_per_token(Recompute::Selective),
            ),
            (
                "hardware_flops_per_token_full",
                m.hardware_flops_per_token(Recompute::Full),
            ),
        ]))
    })
}

fn estimate_map(e: &llm::Estimate) -> HashMap<&'static str, f64> {
    let t = &e.times;
    let mm = &e.memory;
    HashMap::from([
        ("forward", t.forward),
        ("backward", t.backward),
        ("recompute", t.recompute),
        ("tp_comm", t.tp_comm),
        ("cp_comm", t.cp_comm),
        ("ep_comm", t.ep_comm),
        ("pp_comm", t.pp_comm),
        ("bubble", t.bubble),
        ("dp_comm", t.dp_comm),
        ("optimizer", t.optimizer),
        ("launch", t.launch),
        ("weights", mm.weights),
        ("gradients", mm.gradients),
        ("optimizer_states", mm.optimizer),
        ("activations", mm.activations),
        ("secondary", mm.secondary),
        ("buffers", mm.buffers),
        ("host_offload_bytes", mm.host),
        ("memory_per_gpu_bytes", mm.total()),
        ("step_time_s", e.step_time_s),
        ("tokens_per_s", e.tokens_per_s),
        ("mfu", e.mfu),
        ("hfu", e.hfu),
        ("tflops_per_gpu", e.tflops_per_gpu),
        ("model_flops_per_step", e.model_flops_per_step),
        ("hardware_flops_per_step", e.hardware_flops_per_step),
        ("fits", f64::from(u8::from(e.fits))),
        ("dp_cross_node_bytes", e.dp_cross_node_bytes),
    ])
}

/// One plan: a dict of step-time components (s), memory components (bytes) and metrics.
#[pyfunction]
pub fn llm_estimate(
    py: Python<'_>,
    model: HashMap<String, f64>,
    system: &Bound<'_, PyAny>,
    nodes: u32,
    plan: HashMap<String, f64>,
    calib: CalibTuple,
) -> PyResult<HashMap<&'static str, f64>> {
    let sys = system_of(py, system)?;
    engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let p = Plan::from_pairs(&pairs(&plan))?;
        let c = cluster(&sys, nodes, calib)?;
        let e = llm::estimate(&m, &p, &c)?;
        let mut out = estimate_map(&e);
        out.insert("capacity_bytes", c.capacity_bytes);
        out.insert("gpus_in_cluster", c.gpus() as f64);
        Ok(out)
    })
}

/// The placement (a name, or a node order when given) and the per-group calibrations of a placed call.
fn placed_inputs(
    placement: &str,
    node_order: Option<Vec<u32>>,
    calibs: &[CalibTuple],
) -> CoreResult<(hetero::Placement, Vec<Calibration>)> {
    let place = match node_order {
        Some(order) => hetero::Placement::Nodes(order),
        None => hetero::Placement::parse(placement)?,
    };
    let calib = calibs.iter().copied().map(calibration).collect();
    Ok((place, calib))
}

/// One stage of a heterogeneous estimate: (node group, nodes, transport, layers, transport of the send to the
/// next stage, figures: per-micro-batch times, exposed DP time, optimizer, memory and capacity, send time).
type StageRow = (
    usize,
    Vec<u32>,
    String,
    u32,
    String,
    HashMap<&'static str, f64>,
);

/// A plan on a heterogeneous cluster: (metrics as in `llm_estimate`, one row per stage, placement, reason).
#[pyfunction]
#[pyo3(signature = (model, cluster, calibs, plan, placement, node_order=None, layers=None))]
pub fn llm_estimate_hetero(
    py: Python<'_>,
    model: HashMap<String, f64>,
    cluster: &crate::collectives::PyCluster,
    calibs: Vec<CalibTuple>,
    plan: HashMap<String, f64>,
    placement: String,
    node_order: Option<Vec<u32>>,
    layers: Option<Vec<u32>>,
) -> PyResult<(HashMap<&'static str, f64>, Vec<StageRow>, String, String)> {
    let net = cluster.inner.clone();
    engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let p = Plan::from_pairs(&pairs(&plan))?;
        let (place, calib) = placed_inputs(&placement, node_order, &calibs)?;
        let hc = hetero::HeteroCluster { net: &net, calib };
        let e = hetero::estimate(&m, &p, &hc, &place, layers.as_deref())?;
        let mut out = estimate_map(&e.estimate);
        // The estimate's memory is the stage that comes closest to its own device's capacity (the first such
        // stage, as the engine chose it); its capacity goes with it, so that `fits` and the shortfall agree.
        let mut worst = (f64::NEG_INFINITY, f64::INFINITY);
        for s in &e.stages {
            let use_frac = s.memory.total() / s.capacity_bytes;
            if use_frac > worst.0 {
                worst = (use_frac, s.capacity_bytes);
            }
        }
        out.insert("capacity_bytes", worst.1);
        out.insert("gpus_in_cluster", net.devices() as f64);
        let rows = e
            .stages
            .iter()
            .map(|s| {
                (
                    s.group,
                    s.nodes.clone(),
                    s.transport.clone(),
                    s.layers,
                    s.p2p_transport.clone(),
                    HashMap::from([
                        ("micro_batch_s", s.cost.per_micro_batch()),
                        ("forward_s", s.cost.forward),
                        ("backward_s", s.cost.backward),
                        ("recompute_s", s.cost.recompute),
                        ("tp_comm_s", s.cost.tp_comm),
                        ("dp_comm_s", s.cost.dp_comm),
                        ("optimizer_s", s.cost.optimizer),
                        ("memory_bytes", s.memory.total()),
                        ("capacity_bytes", s.capacity_bytes),
                        ("p2p_s", s.p2p_s),
                    ]),
                )
            })
            .collect();
        Ok((out, rows, e.placement.to_owned(), e.reason))
    })
}

/// Korthikanti et al. activation bytes of one layer for one micro-batch under a plan (tp, sp, cp, recompute).
#[pyfunction]
pub fn llm_layer_activation_bytes(
    py: Python<'_>,
    model: HashMap<String, f64>,
    plan: HashMap<String, f64>,
) -> PyResult<f64> {
    engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let p = Plan::from_pairs(&pairs(&plan))?;
        Ok(llm::step::layer_activation_bytes(&m, &p))
    })
}

/// Names of the reasons a search skips a candidate, in code order.
#[pyfunction]
pub fn llm_invalid_reasons() -> Vec<&'static str> {
    Invalid::NAMES.to_vec()
}

fn u32s(space: &HashMap<String, Vec<f64>>, key: &str) -> CoreResult<Vec<u32>> {
    let v = space
        .get(key)
        .ok_or_else(|| perfmodel_core::error::invalid(key, "is missing from the search space"))?;
    v.iter()
        .map(|x| {
            if x.is_finite() && x.fract() == 0.0 && *x >= 0.0 && *x <= f64::from(u32::MAX) {
                Ok(*x as u32)
            } else {
                Err(perfmodel_core::error::invalid(
                    key,
                    format!("choice {x}; expected whole numbers"),
                ))
            }
        })
        .collect()
}

/// Optional bit-set choices of a search space (empty when the key is absent: the base plan's flags).
fn bit_sets(space: &HashMap<String, Vec<f64>>, key: &str) -> CoreResult<Vec<u8>> {
    if !space.contains_key(key) {
        return Ok(Vec::new());
    }
    Ok(u32s(space, key)?
        .into_iter()
        .map(|o| o.min(255) as u8)
        .collect())
}

fn space_of(space: &HashMap<String, Vec<f64>>, base: &HashMap<String, f64>) -> CoreResult<Space> {
    let recompute = u32s(space, "recompute")?
        .into_iter()
        .map(|r| Recompute::from_code(f64::from(r)))
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(Space {
        global_batch: *u32s(space, "global_batch")?.first().unwrap_or(&0),
        tp: u32s(space, "tp")?,
        pp: u32s(space, "pp")?,
        vp: u32s(space, "vp")?,
        cp: u32s(space, "cp")?,
        ep: u32s(space, "ep")?,
        micro_batch: u32s(space, "micro_batch")?,
        recompute,
        zero: u32s(space, "zero")?
            .into_iter()
            .map(|z| z.min(255) as u8)
            .collect(),
        sp: u32s(space, "sp")?.into_iter().map(|b| b != 0).collect(),
        offload: bit_sets(space, "offload")?,
        overlap: bit_sets(space, "overlap")?,
        base: Plan::from_pairs(&pairs(base))?,
    })
}

/// Plan and estimate columns of a search result.
fn columns<'py>(
    py: Python<'py>,
    plans: &[Plan],
    est: &[llm::Estimate],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col_u = |f: &dyn Fn(&Plan) -> u32| -> Bound<'py, PyArray1<u32>> {
        plans.iter().map(f).collect::<Vec<u32>>().into_pyarray(py)
    };
    d.set_item("tp", col_u(&|p| p.tp))?;
    d.set_item("pp", col_u(&|p| p.pp))?;
    d.set_item("dp", col_u(&|p| p.dp))?;
    d.set_item("vp", col_u(&|p| p.vp))?;
    d.set_item("cp", col_u(&|p| p.cp))?;
    d.set_item("ep", col_u(&|p| p.ep))?;
    d.set_item("micro_batch", col_u(&|p| p.micro_batch))?;
    d.set_item(
        "sp",
        plans
            .iter()
            .map(|p| p.sp)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    d.set_item("recompute", col_u(&|p| p.recompute as u32))?;
    d.set_item("zero", col_u(&|p| u32::from(p.zero)))?;
    d.set_item(
        "dp_overlap",
        plans
            .iter()
            .map(|p| p.dp_overlap)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    d.set_item(
        "tp_overlap",
        plans
            .iter()
            .map(|p| p.tp_overlap)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    d.set_item(
        "pp_overlap",
        plans
            .iter()
            .map(|p| p.pp_overlap)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    d.set_item(
        "offload_optimizer",
        plans
            .iter()
            .map(|p| p.offload_optimizer)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    d.set_item(
        "offload_activations",
        plans
            .iter()
            .map(|p| p.offload_activations)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    let col_f = |f: &dyn Fn(&llm::Estimate) -> f64| -> Bound<'py, PyArray1<f64>> {
        est.iter().map(f).collect::<Vec<f64>>().into_pyarray(py)
    };
    d.set_item("step_time_s", col_f(&|e| e.step_time_s))?;
    d.set_item("tokens_per_s", col_f(&|e| e.tokens_per_s))?;
    d.set_item("mfu", col_f(&|e| e.mfu))?;
    d.set_item("hfu", col_f(&|e| e.hfu))?;
    d.set_item("tflops_per_gpu", col_f(&|e| e.tflops_per_gpu))?;
    d.set_item("memory_per_gpu_bytes", col_f(&|e| e.memory.total()))?;
    d.set_item("bubble_s", col_f(&|e| e.times.bubble))?;
    d.set_item("dp_comm_s", col_f(&|e| e.times.dp_comm))?;
    d.set_item("tp_comm_s", col_f(&|e| e.times.tp_comm))?;
    d.set_item(
        "fits",
        est.iter()
            .map(|e| e.fits)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    Ok(d)
}

/// Exhaustive search over candidates `start..end`: (columns, skipped counts per reason, candidates seen).
#[pyfunction]
#[pyo3(signature = (model, system, nodes, calib, space, base, start=0, end=None))]
pub fn llm_search<'py>(
    py: Python<'py>,
    model: HashMap<String, f64>,
    system: &Bound<'py, PyAny>,
    nodes: u32,
    calib: CalibTuple,
    space: HashMap<String, Vec<f64>>,
    base: HashMap<String, f64>,
    start: usize,
    end: Option<usize>,
) -> PyResult<(Bound<'py, PyDict>, Vec<u64>, usize)> {
    let sys = system_of(py, system)?;
    let found = engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let c = cluster(&sys, nodes, calib)?;
        llm::search(&m, &c, &space_of(&space, &base)?, start, end)
    })?;
    let d = columns(py, &found.plans, &found.estimates)?;
    Ok((d, found.skipped.to_vec(), found.candidates))
}

/// Search on a cluster of node groups under a placement, each plan with its automatic partition:
/// (columns with `layers_per_stage`, skipped per reason, candidates, rejected by the placement, first reason).
#[pyfunction]
#[pyo3(signature = (model, cluster, calibs, space, base, placement, node_order=None, start=0, end=None))]
pub fn llm_search_hetero<'py>(
    py: Python<'py>,
    model: HashMap<String, f64>,
    cluster: &crate::collectives::PyCluster,
    calibs: Vec<CalibTuple>,
    space: HashMap<String, Vec<f64>>,
    base: HashMap<String, f64>,
    placement: String,
    node_order: Option<Vec<u32>>,
    start: usize,
    end: Option<usize>,
) -> PyResult<(Bound<'py, PyDict>, Vec<u64>, usize, u64, String)> {
    let net = cluster.inner.clone();
    let found = engine(py, move || {
        let m = Model::from_pairs(&pairs(&model))?;
        let (place, calib) = placed_inputs(&placement, node_order, &calibs)?;
        let hc = hetero::HeteroCluster { net: &net, calib };
        hetero::search(&m, &hc, &space_of(&space, &base)?, &place, start, end)
    })?;
    let d = columns(py, &found.plans, &found.estimates)?;
    d.set_item("layers_per_stage", found.layers.clone())?;
    Ok((
        d,
        found.skipped.to_vec(),
        found.candidates,
        found.placement_rejected,
        found.placement_reason,
    ))
}

/// A model resolved once (the Python `Model` keeps it), so that an estimate does not convert its fields again.
#[pyclass(frozen, name = "LlmModel", module = "perfmodel._core")]
pub struct PyLlmModel {
    inner: Model,
    /// The arguments of its constructor (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyLlmModel {
    /// Pickling: `llm_model_handle` with the model's fields.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "llm_model_handle", &self.args)
    }
}

/// A model's handle for `llm_estimate_values`.
#[pyfunction]
pub fn llm_model_handle(py: Python<'_>, model: HashMap<String, f64>) -> PyResult<PyLlmModel> {
    let args = (&model,).into_pyobject(py)?.unbind();
    let inner = engine(py, move || Model::from_pairs(&pairs(&model)))?;
    Ok(PyLlmModel { inner, args })
}

/// `nodes` nodes of a system with a calibration, resolved once for the step model (Python caches it per
/// system, nodes and calibration).
#[pyclass(frozen, name = "LlmCluster", module = "perfmodel._core")]
pub struct PyLlmCluster {
    inner: Cluster,
    /// The arguments of its constructor (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyLlmCluster {
    /// Pickling: `llm_cluster_handle` with the system, nodes and calibration.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "llm_cluster_handle", &self.args)
    }
}

/// A cluster's handle for `llm_estimate_values`.
#[pyfunction]
pub fn llm_cluster_handle(
    py: Python<'_>,
    system: &Bound<'_, PyAny>,
    nodes: u32,
    calib: CalibTuple,
) -> PyResult<PyLlmCluster> {
    let args = (system, nodes, calib).into_pyobject(py)?.unbind();
    let sys = system_of(py, system)?;
    let inner = engine(py, move || cluster(&sys, nodes, calib))?;
    Ok(PyLlmCluster { inner, args })
}

/// The plan options `llm_estimate_values` takes, in order: every name `Plan::from_pairs` accepts.
const VALUE_PLAN_KEYS: &[&str] = perfmodel_core::llm::plan::PLAN_KEYS;

/// The names of `llm_estimate_values`'s plan values (input) and result values (output), in order.
#[pyfunction]
pub fn llm_value_keys() -> (Vec<&'static str>, Vec<&'static str>) {
    let out = estimate_values(&llm::Estimate::default(), 0.0, 0.0)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    (VALUE_PLAN_KEYS.to_vec(), out)
}

/// The figures of `llm_estimate`, in a fixed order, with the cluster's capacity and GPUs.
fn estimate_values(e: &llm::Estimate, capacity_bytes: f64, gpus: f64) -> Vec<(&'static str, f64)> {
    let mut out: Vec<(&'static str, f64)> = estimate_map(e).into_iter().collect();
    out.sort_unstable_by_key(|(k, _)| *k);
    out.push(("capacity_bytes", capacity_bytes));
    out.push(("gpus_in_cluster", gpus));
    out
}

/// One plan on resolved handles, the lean path of `pm.llm.estimate`: the plan as numbers in the order of
/// `llm_value_keys()[0]`, the result as numbers in the order of `llm_value_keys()[1]` (the figures of
/// `llm_estimate`).
#[pyfunction]
pub fn llm_estimate_values(
    py: Python<'_>,
    model: &PyLlmModel,
    cluster: &PyLlmCluster,
    plan: Vec<f64>,
) -> PyResult<Vec<f64>> {
    let (m, c) = (&model.inner, &cluster.inner);
    engine(py, move || {
        if plan.len() != VALUE_PLAN_KEYS.len() {
            return Err(perfmodel_core::error::invalid(
                "plan",
                format!(
                    "has {} values; expected {} ({})",
                    plan.len(),
                    VALUE_PLAN_KEYS.len(),
                    VALUE_PLAN_KEYS.join(", ")
                ),
            ));
        }
        let pairs: Vec<(&str, f64)> = VALUE_PLAN_KEYS.iter().copied().zip(plan).collect();
        let p = Plan::from_pairs(&pairs)?;
        let e = llm::estimate(m, &p, c)?;
        Ok(estimate_values(&e, c.capacity_bytes, c.gpus() as f64)
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    })
}

/// Registers the LLM functions on `perfmodel._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLlmModel>()?;
    m.add_class::<PyLlmCluster>()?;
    m.add_function(wrap_pyfunction!(llm_model_handle, m)?)?;
    m.add_function(wrap_pyfunction!(llm_cluster_handle, m)?)?;
    m.add_function(wrap_pyfunction!(llm_value_keys, m)?)?;
    m.add_function(wrap_pyfunction!(llm_estimate_values, m)?)?;
    m.add_function(wrap_pyfunction!(llm_model_stats, m)?)?;
    m.add_function(wrap_pyfunction!(llm_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(llm_estimate_hetero, m)?)?;
    m.add_function(wrap_pyfunction!(llm_search, m)?)?;
    m.add_function(wrap_pyfunction!(llm_search_hetero, m)?)?;
    m.add_function(wrap_pyfunction!(llm_invalid_reasons, m)?)?;
    m.add_function(wrap_pyfunction!(llm_layer_activation_bytes, m)?)?;
    Ok(())
}
