//! Power and energy bindings: a device's power law resolved once (with fitted figures overridable, for the
//! calibration), the power of serving iterations over numpy columns, a simulated run with its energy (and a
//! power cap), and intervals of given work (training steps, calibration). No modelling here: the law is
//! `perfmodel_core::power`.
use std::collections::HashMap;

use numpy::{IntoPyArray, PyReadonlyArray1};
use perfmodel_core::error::invalid;
use perfmodel_core::hw::Dtype;
use perfmodel_core::power::{self, PowerModel, Powered, Work};
use perfmodel_core::serve::requests::{self, Request};
use perfmodel_core::serve::sim::{self, LoadBalancer, SchedulerConfig, SimOptions};
use perfmodel_core::serve::stats;
use perfmodel_core::Result as CoreResult;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::engine;
use crate::hwdb::PyHwSpec;
use crate::serve::PyServeEngine;

/// A device's power law for one dtype.
#[pyclass(frozen, name = "PowerModel", module = "perfmodel._core")]
pub struct PyPowerModel {
    inner: PowerModel,
}

#[pymethods]
impl PyPowerModel {
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
    device: &PyHwSpec,
    dtype: String,
    overrides: HashMap<String, f64>,
) -> PyResult<PyPowerModel> {
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
    Ok(PyPowerModel { inner })
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
    let cols = [
        ("prefill_seqs", prefill_seqs.as_slice()?),
        ("prompt_len", prompt.as_slice()?),
        ("cached", cached.as_slice()?),
        ("decode_seqs", decode_seqs.as_slice()?),
        ("context_len", context.as_slice()?),
    ];
    let e = &handle.inner;
    let p = &model.inner;
    let out = engine(py, move || {
        let rows = power::uniform_power_columns(e, p, cols, cap_w)?;
        let mut out = vec![Vec::with_capacity(rows.len()); OPERATING.len() + 2];
        for (op, w) in &rows {
            push(&mut out, op, w);
        }
        Ok(out)
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
    let (f, b, t, h) = (
        flops.as_slice()?,
        hbm_bytes.as_slice()?,
        time_s.as_slice()?,
        host_s.as_slice()?,
    );
    let p = &model.inner;
    let out = engine(py, move || {
        let n = f.len();
        for (name, c) in [("hbm_bytes", b), ("time_s", t), ("host_s", h)] {
            if c.len() != n {
                return Err(invalid(
                    name,
                    format!("has {} elements; expected {n}", c.len()),
                ));
            }
        }
        for (name, c) in [("flops", f), ("hbm_bytes", b), ("time_s", t), ("host_s", h)] {
            if let Some((i, x)) = c
                .iter()
                .enumerate()
                .find(|(_, x)| !(x.is_finite() && **x >= 0.0))
            {
                return Err(invalid(
                    name,
                    format!("element {i} is {x}; expected a finite number >= 0"),
                ));
            }
        }
        if let Some(c) = cap_w {
            p.check_cap(c)?;
        }
        let mut out = vec![Vec::with_capacity(n); OPERATING.len() + 2];
        for i in 0..n {
            let w = Work {
                flops: f[i],
                hbm_bytes: b[i],
            };
            let op = p.operate(&w, t[i], h[i], cap_w);
            push(&mut out, &op, &w);
        }
        Ok(out)
    })?;
    operating_dict(py, out)
}

/// The scheduler of a simulation (the same keys `serve_simulate` takes).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct Scheduler {
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    chunked_prefill: bool,
    block_size: u32,
    kv_capacity_tokens: f64,
    max_model_len: u32,
}

fn to_requests(arrival: &[f64], prompt: &[f64], output: &[f64]) -> CoreResult<Vec<Request>> {
    let n = arrival.len();
    if prompt.len() != n || output.len() != n {
        return Err(invalid(
            "requests",
            format!(
                "columns differ in length: arrival_s {n}, prompt_tokens {}, output_tokens {}",
                prompt.len(),
                output.len()
            ),
        ));
    }
    let whole = |v: f64, col: &str, i: usize| -> CoreResult<u32> {
        if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
            Ok(v as u32)
        } else {
            Err(invalid(
                "requests",
                format!("row {i}: {col} is {v}; expected a whole number >= 1"),
            ))
        }
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(Request {
            arrival_s: arrival[i],
            prompt_tokens: whole(prompt[i], "prompt_tokens", i)?,
            output_tokens: whole(output[i], "output_tokens", i)?,
        });
    }
    requests::validate(&out)?;
    Ok(out)
}

/// `serve_simulate` with power: the same result dict (keep the two in step), plus the run's energy tally
/// (`dynamic_j`: energy above idle of one GPU of an instance summed over iterations; `powered_busy_s`,
/// `throttled_iterations`, `peak_power_w`). Under `cap_w` iterations slow as the power law says.
#[pyfunction]
#[pyo3(signature = (handle, model, arrival, prompt, output, replicas, scheduler, balancer, record_itl, cap_w=None))]
#[allow(clippy::too_many_arguments)]
pub fn power_simulate<'py>(
    py: Python<'py>,
    handle: &PyServeEngine,
    model: &PyPowerModel,
    arrival: PyReadonlyArray1<'py, f64>,
    prompt: PyReadonlyArray1<'py, f64>,
    output: PyReadonlyArray1<'py, f64>,
    replicas: u32,
    scheduler: Scheduler,
    balancer: String,
    record_itl: bool,
    cap_w: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (a, p, o) = (arrival.as_slice()?, prompt.as_slice()?, output.as_slice()?);
    let e = &handle.inner;
    let pm = &model.inner;
    let (r, itl, tally) = engine(py, move || {
        let reqs = to_requests(a, p, o)?;
        let cfg = SchedulerConfig {
            max_num_seqs: scheduler.max_num_seqs,
            max_num_batched_tokens: scheduler.max_num_batched_tokens,
            chunked_prefill: scheduler.chunked_prefill,
            block_size: scheduler.block_size,
            kv_capacity_tokens: scheduler.kv_capacity_tokens,
            max_model_len: scheduler.max_model_len,
        };
        let balancer = match balancer.as_str() {
            "round_robin" => LoadBalancer::RoundRobin,
            "least_outstanding" => LoadBalancer::LeastOutstanding,
            other => {
                return Err(invalid(
                    "balancer",
                    format!("is '{other}'; expected 'round_robin' or 'least_outstanding'"),
                ))
            }
        };
        let cost = Powered::new(e, pm, cap_w)?;
        let opts = SimOptions {
            balancer,
            record_itl_gaps: record_itl,
        };
        let r = sim::simulate_with(&cost, &cfg, replicas, &reqs, &opts)?;
        let itl = stats::mean_and_quantiles(&r.itl_gaps_s, &[0.5, 0.9, 0.99])
            .unwrap_or((0.0, vec![0.0; 3]));
        Ok((r, itl, cost.tally()))
    })?;
    let d = PyDict::new(py);
    d.set_item("itl_mean_s", itl.0)?;
    for (name, v) in ["itl_p50_s", "itl_p90_s", "itl_p99_s"].iter().zip(itl.1) {
        d.set_item(*name, v)?;
    }
    d.set_item("arrival_s", r.arrival_s.into_pyarray(py))?;
    d.set_item("first_token_s", r.first_token_s.into_pyarray(py))?;
    d.set_item("finish_s", r.finish_s.into_pyarray(py))?;
    d.set_item("ttft_s", r.ttft_s.into_pyarray(py))?;
    d.set_item("tpot_s", r.tpot_s.into_pyarray(py))?;
    d.set_item("e2e_s", r.e2e_s.into_pyarray(py))?;
    d.set_item("max_itl_s", r.max_itl_s.into_pyarray(py))?;
    let pre: Vec<f64> = r.preemptions.iter().map(|&x| f64::from(x)).collect();
    d.set_item("preemptions", pre.into_pyarray(py))?;
    let rep: Vec<f64> = r.replica.iter().map(|&x| f64::from(x)).collect();
    d.set_item("replica", rep.into_pyarray(py))?;
    d.set_item("itl_gaps_s", r.itl_gaps_s.into_pyarray(py))?;
    d.set_item("iterations", r.iterations)?;
    d.set_item("makespan_s", r.makespan_s)?;
    d.set_item("busy_s", r.busy_s.into_pyarray(py))?;
    d.set_item("dynamic_j", tally.dynamic_j)?;
    d.set_item("powered_busy_s", tally.busy_s)?;
    d.set_item("throttled_iterations", tally.throttled)?;
    d.set_item("peak_power_w", tally.peak_w)?;
    d.set_item("idle_w", pm.idle_w)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPowerModel>()?;
    m.add_function(wrap_pyfunction!(power_model, m)?)?;
    m.add_function(wrap_pyfunction!(power_iteration, m)?)?;
    m.add_function(wrap_pyfunction!(power_operate, m)?)?;
    m.add_function(wrap_pyfunction!(power_simulate, m)?)?;
    Ok(())
}
