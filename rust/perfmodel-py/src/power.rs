//! Power and energy bindings: a device's power law resolved once (with fitted figures overridable, for the
//! calibration), the power of serving iterations over numpy columns, and intervals of given work (training
//! steps, calibration). Simulated runs take a power law in `serve_simulate` and `serve_disaggregated`
//! (`crate::serve`), which report their energy tally with [`tally_items`]. No modelling here: the law is
//! `perfmodel_core::power`.
use std::collections::HashMap;

use numpy::{IntoPyArray, PyReadonlyArray1};
use perfmodel_core::error::invalid;
use perfmodel_core::hw::Dtype;
use perfmodel_core::power::{self, EnergyTally, PowerModel, Work};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::engine;
use crate::hwdb::PyHwSpec;
use crate::serve::{uniform_columns, PyServeEngine};

/// A device's power law for one dtype.
#[pyclass(frozen, name = "PowerModel", module = "perfmodel._core")]
pub struct PyPowerModel {
    pub(crate) inner: PowerModel,
    /// The arguments of its constructor (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyPowerModel {
    /// Pickling: `power_model` with the device spec, dtype and overrides.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "power_model", &self.args)
    }

    /// The resolved figures: watts, FLOP/s, bytes/s.
    #[getter]
    fn figures(&self) -> HashMap<&'static str, f64> {
        let p = &self.inner;
        HashMap::from([
            ("tdp_w", p.tdp_w),
            ("idle_w", p.idle_w),
            ("active_w", p.active_w),
            ("compute_w", p.compute_w),
            ("memory_w", p.memory_w),
            ("peak_flops", p.peak_flops),
            ("tuned_flops", p.tuned_flops),
            ("hbm_bytes_per_s", p.hbm_bytes_per_s),
        ])
    }

    #[getter]
    fn fitted_on(&self) -> String {
        self.inner.fitted_on.clone()
    }

    #[getter]
    fn device(&self) -> String {
        self.inner.device.clone()
    }

    /// Checks a power cap (error naming `power_cap_w`); returns it.
    fn check_cap(&self, py: Python<'_>, cap_w: f64) -> PyResult<f64> {
        let p = &self.inner;
        engine(py, move || p.check_cap(cap_w))
    }
}

/// The power law of `device` (a device spec) computing in `dtype`; `overrides` replace the fitted figures by
/// name (`active_tdp_ratio`, `compute_tdp_ratio`, `memory_tdp_ratio` of the TDP, `idle_w`).
#[pyfunction]
#[pyo3(signature = (device, dtype, overrides))]
pub fn power_model(
    py: Python<'_>,
    device: PyRef<'_, PyHwSpec>,
    dtype: String,
    overrides: HashMap<String, f64>,
) -> PyResult<PyPowerModel> {
    let args = (&device, &dtype, &overrides).into_pyobject(py)?.unbind();
    let spec = device.inner.clone();
    let inner = engine(py, move || {
        let dev = spec.device()?;
        let d = Dtype::parse(&dtype)?;
        let mut p = PowerModel::of_device(&dev, d)?;
        for (k, v) in &overrides {
            if !(v.is_finite() && *v >= 0.0) {
                return Err(invalid(k, format!("is {v}; expected a finite number >= 0")));
            }
            match k.as_str() {
                "active_tdp_ratio" => p.active_w = v * p.tdp_w,
                "compute_tdp_ratio" => p.compute_w = v * p.tdp_w,
                "memory_tdp_ratio" => p.memory_w = v * p.tdp_w,
                "idle_w" => p.idle_w = *v,
                other => {
                    return Err(invalid(
                        other,
                        "is not a power figure; expected active_tdp_ratio, compute_tdp_ratio, memory_tdp_ratio or idle_w",
                    ))
                }
            }
        }
        if !overrides.is_empty() {
            p.fitted_on = format!("overridden: {overrides:?} (else {})", p.fitted_on);
        }
        Ok(p)
    })?;
    Ok(PyPowerModel { inner, args })
}

/// Column names of `power_iteration` and `power_operate`.
const OPERATING: [&str; 7] = [
    "time_s",
    "power_w",
    "energy_j",
    "clock_fraction",
    "compute_utilization",
    "memory_utilization",
    "demand_w",
];

/// Rows of power and work as the columns of [`OPERATING`] then `flops`, `hbm_bytes`.
fn operating_columns(rows: &[(power::Operating, Work)]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(rows.len()); OPERATING.len() + 2];
    for (op, w) in rows {
        push(&mut out, op, w);
    }
    out
}

fn operating_dict(py: Python<'_>, cols: Vec<Vec<f64>>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let names = OPERATING.iter().chain(["flops", "hbm_bytes"].iter());
    for (name, col) in names.zip(cols) {
        d.set_item(*name, col.into_pyarray(py))?;
    }
    Ok(d)
}

fn push(cols: &mut [Vec<f64>], op: &power::Operating, w: &Work) {
    let v = [
        op.time_s,
        op.power_w,
        op.energy_j,
        op.clock_fraction,
        op.compute_utilization,
        op.memory_utilization,
        op.demand_w,
        w.flops,
        w.hbm_bytes,
    ];
    for (c, x) in cols.iter_mut().zip(v) {
        c.push(x);
    }
}

/// Power of uniform iterations (as `serve_iteration`'s columns) on one GPU of the heaviest stage, under the
/// optional cap: columns time_s, power_w, energy_j, clock_fraction, compute/memory utilisation, demand_w,
/// flops, hbm_bytes.
#[pyfunction]
#[pyo3(signature = (handle, model, prefill_seqs, prompt, cached, decode_seqs, context, cap_w=None))]
#[allow(clippy::too_many_arguments)]
pub fn power_iteration<'py>(
    py: Python<'py>,
    handle: &PyServeEngine,
    model: &PyPowerModel,
    prefill_seqs: PyReadonlyArray1<'py, f64>,
    prompt: PyReadonlyArray1<'py, f64>,
    cached: PyReadonlyArray1<'py, f64>,
    decode_seqs: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
    cap_w: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = uniform_columns([&prefill_seqs, &prompt, &cached, &decode_seqs, &context])?;
    let (e, p) = (&handle.inner, &model.inner);
    let out = engine(py, move || {
        power::uniform_power_columns(e, p, cols, cap_w).map(|rows| operating_columns(&rows))
    })?;
    operating_dict(py, out)
}

/// Intervals of given work on one GPU: `flops`, `hbm_bytes`, `time_s`, `host_s` (idle part) columns.
#[pyfunction]
#[pyo3(signature = (model, flops, hbm_bytes, time_s, host_s, cap_w=None))]
pub fn power_operate<'py>(
    py: Python<'py>,
    model: &PyPowerModel,
    flops: PyReadonlyArray1<'py, f64>,
    hbm_bytes: PyReadonlyArray1<'py, f64>,
    time_s: PyReadonlyArray1<'py, f64>,
    host_s: PyReadonlyArray1<'py, f64>,
    cap_w: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = [
        ("flops", flops.as_slice()?),
        ("hbm_bytes", hbm_bytes.as_slice()?),
        ("time_s", time_s.as_slice()?),
        ("host_s", host_s.as_slice()?),
    ];
    let p = &model.inner;
    let out = engine(py, move || {
        power::operate_columns(p, cols, cap_w).map(|rows| operating_columns(&rows))
    })?;
    operating_dict(py, out)
}

/// A simulated run's energy tally into `d`, each key after `prefix` (`""` for a co-located run, `"prefill_"`
/// and `"decode_"` for the pools of a disaggregated one): `dynamic_j` (energy above idle of one GPU of an
/// instance, summed over the iterations, J), `powered_busy_s` (iteration time as run, s),
/// `throttled_iterations`, `peak_power_w` (the busiest iteration's power per GPU, W) and the law's `idle_w`.
pub(crate) fn tally_items(
    d: &Bound<'_, PyDict>,
    prefix: &str,
    tally: &EnergyTally,
    model: &PowerModel,
) -> PyResult<()> {
    d.set_item(format!("{prefix}dynamic_j"), tally.dynamic_j)?;
    d.set_item(format!("{prefix}powered_busy_s"), tally.busy_s)?;
    d.set_item(format!("{prefix}throttled_iterations"), tally.throttled)?;
    d.set_item(format!("{prefix}peak_power_w"), tally.peak_w)?;
    d.set_item(format!("{prefix}idle_w"), model.idle_w)?;
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPowerModel>()?;
    m.add_function(wrap_pyfunction!(power_model, m)?)?;
    m.add_function(wrap_pyfunction!(power_iteration, m)?)?;
    m.add_function(wrap_pyfunction!(power_operate, m)?)?;
    Ok(())
}
