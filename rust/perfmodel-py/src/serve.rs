//! LLM serving bindings: an engine handle (model, system, plan, formats, framework figures) resolved once,
//! iteration times over numpy columns, memory, and the simulators (co-located and disaggregated, with each
//! iteration's power tallied when given a power law); the engine runs with the interpreter lock released.
use std::collections::HashMap;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfmodel_core::error::invalid;
use perfmodel_core::hw::System;
use perfmodel_core::llm::Model;
use perfmodel_core::power::Powered;
use perfmodel_core::serve::disagg::{self, DisaggOptions, KvLink, KvSplit, Pool, Transfer};
use perfmodel_core::serve::requests::{self, LengthDist, Request};
use perfmodel_core::serve::sim::{self, LoadBalancer, SchedulerConfig, SimOptions};
use perfmodel_core::serve::stats;
use perfmodel_core::serve::{
    Engine, Framework, IterationTime, KvFormat, KvPolicy, ServePlan, WeightFormat,
};
use perfmodel_core::Result as CoreResult;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{engine, engine_stoppable};
use crate::llm::system_of;
use crate::power::{tally_items, PyPowerModel};

/// A serving instance resolved once.
#[pyclass(frozen, name = "ServeEngine", module = "perfmodel._core")]
pub struct PyServeEngine {
    pub(crate) inner: Engine,
    /// What the framework figures were fitted on (`None`: uncalibrated).
    fitted_on: Option<String>,
    /// The arguments of its constructor (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyServeEngine {
    /// Pickling: `serve_engine` with the arguments that built it.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "serve_engine", &self.args)
    }

    /// What the system's framework figures were fitted on, or None when uncalibrated.
    #[getter]
    fn fitted_on(&self) -> Option<String> {
        self.fitted_on.clone()
    }

    /// The framework figures in use.
    #[getter]
    fn framework(&self) -> HashMap<&'static str, f64> {
        let f = &self.inner.framework;
        HashMap::from([
            ("kernel_time_scale", f.kernel_time_scale),
            ("comm_bandwidth_scale", f.comm_bandwidth_scale),
            ("decode_attention_fraction", f.decode_attention_fraction),
            ("iteration_overhead_s", f.iteration_overhead_s),
            ("collective_sync_s", f.collective_sync_s),
            ("prefill_overhead_s", f.prefill_overhead_s),
            ("per_sequence_overhead_s", f.per_sequence_overhead_s),
            ("request_overhead_s", f.request_overhead_s),
            ("kernel_launch_s", f.kernel_launch_s),
            ("cuda_graphs", f64::from(u8::from(f.cuda_graphs))),
        ])
    }

    /// KV-cache bytes per token on one GPU.
    #[getter]
    fn kv_bytes_per_token(&self) -> f64 {
        self.inner.kv_bytes_per_token()
    }
}

/// `base` with the figures of `f` (by name) replaced.
fn framework_of(base: Framework, f: &HashMap<String, f64>) -> CoreResult<Framework> {
    const KEYS: [&str; 11] = [
        "collective_sync_s",
        "prefill_overhead_s",
        "kernel_time_scale",
        "comm_bandwidth_scale",
        "decode_attention_fraction",
        "iteration_overhead_s",
        "per_sequence_overhead_s",
        "request_overhead_s",
        "kernel_launch_s",
        "cuda_graphs",
        "custom_all_reduce",
    ];
    for k in f.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(invalid(
                k,
                format!("is not a framework figure; expected one of {KEYS:?}"),
            ));
        }
    }
    let d = base;
    let get = |k: &str, v: f64| f.get(k).copied().unwrap_or(v);
    Ok(Framework {
        kernel_time_scale: get("kernel_time_scale", d.kernel_time_scale),
        comm_bandwidth_scale: get("comm_bandwidth_scale", d.comm_bandwidth_scale),
        decode_attention_fraction: get("decode_attention_fraction", d.decode_attention_fraction),
        iteration_overhead_s: get("iteration_overhead_s", d.iteration_overhead_s),
        collective_sync_s: get("collective_sync_s", d.collective_sync_s),
        prefill_overhead_s: get("prefill_overhead_s", d.prefill_overhead_s),
        per_sequence_overhead_s: get("per_sequence_overhead_s", d.per_sequence_overhead_s),
        request_overhead_s: get("request_overhead_s", d.request_overhead_s),
        kernel_launch_s: get("kernel_launch_s", d.kernel_launch_s),
        cuda_graphs: get("cuda_graphs", f64::from(u8::from(d.cuda_graphs))) != 0.0,
        separate_fp8_quant: d.separate_fp8_quant,
        fp8_quant_per_token_group: d.fp8_quant_per_token_group,
        custom_all_reduce: get(
            "custom_all_reduce",
            f64::from(u8::from(d.custom_all_reduce)),
        ) != 0.0,
    })
}

/// Resolves a serving instance: `model` as a dict of numbers, `system` an id or spec, a plan, the weight and
/// KV formats by name, the framework class whose figures the system gives, and figures replacing them.
#[pyfunction]
#[pyo3(signature = (model, system, nodes, tp, pp, ep, dtype, kv_dtype, framework, overrides, attention_dp=false))]
#[allow(clippy::too_many_arguments)]
pub fn serve_engine(
    py: Python<'_>,
    model: HashMap<String, f64>,
    system: &Bound<'_, PyAny>,
    nodes: u32,
    tp: u32,
    pp: u32,
    ep: u32,
    dtype: String,
    kv_dtype: String,
    framework: String,
    overrides: HashMap<String, f64>,
    attention_dp: bool,
) -> PyResult<PyServeEngine> {
    let args = (
        &model,
        system,
        nodes,
        tp,
        pp,
        ep,
        &dtype,
        &kv_dtype,
        &framework,
        &overrides,
        attention_dp,
    )
        .into_pyobject(py)?
        .unbind();
    let sys = system_of(py, system)?;
    let (inner, fitted_on) = engine(py, move || {
        let pairs: Vec<(&str, f64)> = model.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let m = Model::from_pairs(&pairs)?;
        let (base, fitted_on) = Framework::of_system(&sys, &framework)?;
        let e = Engine::new(
            m,
            &sys,
            nodes,
            ServePlan {
                tp,
                pp,
                ep,
                attention_dp,
            },
            WeightFormat::parse(&dtype)?,
            KvFormat::parse(&kv_dtype)?,
            framework_of(base, &overrides)?,
        )?;
        Ok((e, fitted_on))
    })?;
    Ok(PyServeEngine {
        inner,
        fitted_on,
        args,
    })
}

/// The breakdown names of an iteration, in the order `serve_iteration` returns its columns.
pub const ITERATION_COLUMNS: [&str; 11] = IterationTime::NAMES;

/// The columns of a uniform iteration (`prefill_seqs`, `prompt`, `cached`, `decode_seqs`, `context`, in that
/// order) as the engine takes them, each with its name for errors.
pub(crate) fn uniform_columns<'a>(
    arrays: [&'a PyReadonlyArray1<'_, f64>; 5],
) -> PyResult<[(&'static str, &'a [f64]); 5]> {
    let [prefill_seqs, prompt, cached, decode_seqs, context] = arrays;
    Ok([
        ("prefill_seqs", prefill_seqs.as_slice()?),
        ("prompt_len", prompt.as_slice()?),
        ("cached", cached.as_slice()?),
        ("decode_seqs", decode_seqs.as_slice()?),
        ("context_len", context.as_slice()?),
    ])
}

/// Iteration times of equal-length columns: `prefill_seqs` prompts of `prompt` new tokens after `cached`
/// cached tokens, with `decode_seqs` decode sequences at `context` tokens. Returns a dict of numpy columns
/// named as `ITERATION_COLUMNS`.
#[pyfunction]
pub fn serve_iteration<'py>(
    py: Python<'py>,
    handle: &PyServeEngine,
    prefill_seqs: PyReadonlyArray1<'py, f64>,
    prompt: PyReadonlyArray1<'py, f64>,
    cached: PyReadonlyArray1<'py, f64>,
    decode_seqs: PyReadonlyArray1<'py, f64>,
    context: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = uniform_columns([&prefill_seqs, &prompt, &cached, &decode_seqs, &context])?;
    let e = &handle.inner;
    // The engine writes each part straight into its own column (no rows in between).
    let n = cols[0].1.len();
    let mut out: [Vec<f64>; 11] = std::array::from_fn(|_| vec![0.0; n]);
    let parts = out.each_mut().map(Vec::as_mut_slice);
    engine(py, move || e.uniform_columns_into(cols, parts))?;
    let d = PyDict::new(py);
    for (name, col) in ITERATION_COLUMNS.iter().zip(out) {
        let arr: Bound<'py, PyArray1<f64>> = col.into_pyarray(py);
        d.set_item(*name, arr)?;
    }
    Ok(d)
}

/// Memory of one GPU: weights, activations, KV cache, KV bytes per token, KV tokens, capacity, shortfall.
#[pyfunction]
#[pyo3(signature = (handle, max_batched_tokens, max_seqs, fraction, of_free, block_size))]
pub fn serve_memory(
    py: Python<'_>,
    handle: &PyServeEngine,
    max_batched_tokens: f64,
    max_seqs: f64,
    fraction: f64,
    of_free: bool,
    block_size: u32,
) -> PyResult<HashMap<&'static str, f64>> {
    let e = &handle.inner;
    let m = engine(py, move || {
        e.memory(
            max_batched_tokens,
            max_seqs,
            &KvPolicy {
                fraction,
                of_free,
                block_size,
            },
        )
    })?;
    Ok(HashMap::from([
        ("weights_bytes", m.weights),
        ("activations_bytes", m.activations),
        ("kv_cache_bytes", m.kv_cache),
        ("kv_bytes_per_token", m.kv_bytes_per_token),
        ("kv_tokens", m.kv_tokens),
        ("capacity_bytes", m.capacity),
        ("shortfall_bytes", m.shortfall),
    ]))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServeEngine>()?;
    m.add_function(wrap_pyfunction!(serve_engine, m)?)?;
    m.add_function(wrap_pyfunction!(serve_iteration, m)?)?;
    m.add_function(wrap_pyfunction!(serve_memory, m)?)?;
    m.add_function(wrap_pyfunction!(serve_requests, m)?)?;
    m.add_function(wrap_pyfunction!(serve_simulate, m)?)?;
    m.add_function(wrap_pyfunction!(serve_disaggregated, m)?)?;
    Ok(())
}

/// A length distribution from Python: ("fixed", n), ("uniform", lo, hi) or ("lognormal", mean, sigma, max).
fn length_dist(arg: &str, d: &(String, f64, f64, f64)) -> CoreResult<LengthDist> {
    let whole = |v: f64, what: &str| -> CoreResult<u32> {
        if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
            Ok(v as u32)
        } else {
            Err(invalid(
                arg,
                format!("{what} is {v}; expected a whole number >= 1"),
            ))
        }
    };
    let dist = match d.0.as_str() {
        "fixed" => LengthDist::Fixed(whole(d.1, "the length")?),
        "uniform" => LengthDist::Uniform {
            lo: whole(d.1, "lo")?,
            hi: whole(d.2, "hi")?,
        },
        "lognormal" => LengthDist::LogNormal {
            mean: d.1,
            sigma: d.2,
            max: whole(d.3, "max")?,
        },
        other => {
            return Err(invalid(
                arg,
                format!("is a '{other}' distribution; expected 'fixed', 'uniform' or 'lognormal'"),
            ))
        }
    };
    dist.check(arg)?;
    Ok(dist)
}

/// Requests with Poisson arrivals at `rate` per second (`rate` = inf: all at time 0) and lengths drawn from
/// the two distributions: (arrival_s, prompt_tokens, output_tokens) columns.
#[pyfunction]
pub fn serve_requests(
    py: Python<'_>,
    rate: f64,
    n: usize,
    prompt: (String, f64, f64, f64),
    output: (String, f64, f64, f64),
    seed: u64,
) -> PyResult<(
    Bound<'_, PyArray1<f64>>,
    Bound<'_, PyArray1<f64>>,
    Bound<'_, PyArray1<f64>>,
)> {
    let reqs = engine(py, move || {
        let p = length_dist("prompt_tokens", &prompt)?;
        let o = length_dist("output_tokens", &output)?;
        if rate == f64::INFINITY {
            requests::offline(n, p, o, seed)
        } else {
            requests::poisson(rate, n, p, o, seed)
        }
    })?;
    let a: Vec<f64> = reqs.iter().map(|r| r.arrival_s).collect();
    let p: Vec<f64> = reqs.iter().map(|r| f64::from(r.prompt_tokens)).collect();
    let o: Vec<f64> = reqs.iter().map(|r| f64::from(r.output_tokens)).collect();
    Ok((a.into_pyarray(py), p.into_pyarray(py), o.into_pyarray(py)))
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
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let len = |v: f64, col: &str| -> CoreResult<u32> {
            if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
                Ok(v as u32)
            } else {
                Err(invalid(
                    "requests",
                    format!("row {i}: {col} is {v}; expected a whole number >= 1"),
                ))
            }
        };
        out.push(Request {
            arrival_s: arrival[i],
            prompt_tokens: len(prompt[i], "prompt_tokens")?,
            output_tokens: len(output[i], "output_tokens")?,
        });
    }
    requests::validate(&out)?;
    Ok(out)
}

/// The scheduler of a simulation, from Python's numbers.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct SchedulerArgs {
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    chunked_prefill: bool,
    block_size: u32,
    kv_capacity_tokens: f64,
    max_model_len: u32,
    /// TensorRT-LLM's `guaranteed_no_evict` admission; absent: false (vLLM's).
    #[pyo3(default)]
    reserve_output: bool,
}

/// The inter-token-gap quantiles `serve_simulate` returns (`itl_p50_s`, `itl_p90_s`, `itl_p99_s`).
const ITL_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// Simulates the requests (columns) on `replicas` copies of the engine: per-request columns and run figures,
/// with the mean and p50/p90/p99 of every inter-token gap (`itl_mean_s`, `itl_p50_s`, ...; 0 without gaps).
/// With `power` (a device's power law) each iteration's power is tallied ([`tally_items`]'s keys added; the
/// times stay the engine's to the bit) and under `cap_w` iterations slow as the law says.
#[pyfunction]
#[pyo3(signature = (handle, arrival, prompt, output, replicas, scheduler, balancer, record_itl, power=None, cap_w=None, max_concurrency=None))]
#[allow(clippy::too_many_arguments)]
pub fn serve_simulate<'py>(
    py: Python<'py>,
    handle: &PyServeEngine,
    arrival: PyReadonlyArray1<'py, f64>,
    prompt: PyReadonlyArray1<'py, f64>,
    output: PyReadonlyArray1<'py, f64>,
    replicas: u32,
    scheduler: SchedulerArgs,
    balancer: String,
    record_itl: bool,
    power: Option<PyRef<'py, PyPowerModel>>,
    cap_w: Option<f64>,
    max_concurrency: Option<u32>,
) -> PyResult<Bound<'py, PyDict>> {
    let (a, p, o) = (arrival.as_slice()?, prompt.as_slice()?, output.as_slice()?);
    let e = &handle.inner;
    let law = power.as_deref().map(|m| &m.inner);
    // Ctrl-C stops a long simulation between iterations (KeyboardInterrupt).
    let (r, tally) = engine_stoppable(py, move |stop| {
        let reqs = to_requests(a, p, o)?;
        let cfg = scheduler.config();
        let opts = SimOptions {
            balancer: balancer_of(&balancer)?,
            record_itl_gaps: record_itl,
            stop,
            max_concurrency,
            request_overhead_s: e.framework.request_overhead_s,
        };
        if replicas == 0 {
            return Err(invalid("replicas", "is 0; expected at least 1"));
        }
        let (r, tally) = match law {
            // Attention DP: the `tp` ranks of each of the `replicas` groups step in lockstep. The power tally
            // prices one batch per iteration, so it is not kept for lockstep groups (times are unaffected).
            _ if e.plan.attention_dp => {
                if cap_w.is_some() {
                    return Err(invalid(
                        "power_cap_w",
                        "is not modelled with attention_dp (the power tally prices one batch per iteration)",
                    ));
                }
                let r = sim::simulate_lockstep(e, &cfg, replicas, e.plan.tp, &reqs, &opts)?;
                (r, None)
            }
            Some(m) => {
                let cost = Powered::new(e, m, cap_w)?;
                let r = sim::simulate_with(&cost, &cfg, replicas, &reqs, &opts)?;
                (r, Some(cost.tally()))
            }
            None if cap_w.is_some() => {
                return Err(invalid(
                    "cap_w",
                    "needs a power law (`power`) to slow the iterations by",
                ))
            }
            None => (sim::simulate_with(e, &cfg, replicas, &reqs, &opts)?, None),
        };
        let itl = itl_stats(&r.itl_gaps_s);
        Ok(((r, itl), tally))
    })?;
    let d = sim_dict(py, r)?;
    if let (Some(t), Some(m)) = (tally, law) {
        tally_items(&d, "", &t, m)?;
    }
    Ok(d)
}

impl SchedulerArgs {
    fn config(&self) -> SchedulerConfig {
        SchedulerConfig {
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            chunked_prefill: self.chunked_prefill,
            block_size: self.block_size,
            kv_capacity_tokens: self.kv_capacity_tokens,
            max_model_len: self.max_model_len,
            reserve_output: self.reserve_output,
        }
    }
}

/// Mean and p50/p90/p99 of the inter-token gaps as numpy gives them, without sorting millions of gaps in
/// Python (zeros without gaps).
fn itl_stats(gaps: &[f32]) -> (f64, Vec<f64>) {
    stats::mean_and_quantiles(gaps, &ITL_QUANTILES).unwrap_or((0.0, vec![0.0; ITL_QUANTILES.len()]))
}

fn balancer_of(name: &str) -> CoreResult<LoadBalancer> {
    match name {
        "round_robin" => Ok(LoadBalancer::RoundRobin),
        "least_outstanding" => Ok(LoadBalancer::LeastOutstanding),
        other => Err(invalid(
            "balancer",
            format!("is '{other}'; expected 'round_robin' or 'least_outstanding'"),
        )),
    }
}

/// A simulation's result and its gap statistics as a dict of numpy columns and numbers.
fn sim_dict(
    py: Python<'_>,
    (r, (itl_mean, itl_quantiles)): (sim::SimResult, (f64, Vec<f64>)),
) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("itl_mean_s", itl_mean)?;
    for (name, v) in ["itl_p50_s", "itl_p90_s", "itl_p99_s"]
        .iter()
        .zip(itl_quantiles)
    {
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
    // A request that never reached a replica of this pool (u32::MAX) is -1.
    let rep: Vec<f64> = r
        .replica
        .iter()
        .map(|&x| if x == u32::MAX { -1.0 } else { f64::from(x) })
        .collect();
    d.set_item("replica", rep.into_pyarray(py))?;
    d.set_item("itl_gaps_s", r.itl_gaps_s.into_pyarray(py))?;
    d.set_item("iterations", r.iterations)?;
    d.set_item("makespan_s", r.makespan_s)?;
    d.set_item("busy_s", r.busy_s.into_pyarray(py))?;
    Ok(d)
}

/// The link joining the pools by name: `nvlink` (both in one node of the prefill system), `nic` (between nodes
/// of the two systems) or `ideal` (no transfer time).
fn link_of(name: &str, prefill: &System, decode: &System, scale: f64) -> CoreResult<KvLink> {
    match name {
        "nvlink" => {
            if prefill.id != decode.id {
                return Err(invalid(
                    "link",
                    format!(
                        "is 'nvlink' but the pools run on different systems ('{}', '{}'); they can only be joined by 'nic'",
                        prefill.id, decode.id
                    ),
                ));
            }
            KvLink::in_node(prefill, scale)
        }
        "nic" => KvLink::between_nodes(prefill, decode, scale),
        "ideal" => Ok(KvLink::ideal()),
        other => Err(invalid(
            "link",
            format!("is '{other}'; expected 'auto', 'nvlink', 'nic' or 'ideal'"),
        )),
    }
}

/// One disaggregated pool from Python's numbers.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PoolArgs {
    /// Engines: instances x pp (vLLM's virtual engines).
    engines: u32,
    pp: u32,
    scheduler: SchedulerArgs,
}

impl PoolArgs {
    fn pool(&self) -> Pool {
        Pool {
            sched: self.scheduler.config(),
            engines: self.engines,
            engines_per_instance: self.pp,
        }
    }
}

/// Simulates the requests (columns) on a prefill pool and a decode pool (engine handles, their systems, the
/// pools' engines and schedulers) joined by `link`, the KV moved `layerwise` or `serial`: the columns and
/// figures of `serve_simulate` plus the per-request transfer and each pool's busy time. Each pool's iterations
/// have their power tallied on its power law (`prefill_power`, `decode_power`; under the pool's `cap_w`
/// they slow as the law says): [`tally_items`]'s keys prefixed `prefill_` and `decode_`.
#[pyfunction]
#[pyo3(signature = (prefill, decode, prefill_system, decode_system, link, transfer, arrival, prompt, output, prefill_pool, decode_pool, balancer, record_itl, prefill_power, decode_power, prefill_cap_w=None, decode_cap_w=None))]
pub fn serve_disaggregated<'py>(
    py: Python<'py>,
    prefill: &PyServeEngine,
    decode: &PyServeEngine,
    prefill_system: &Bound<'py, PyAny>,
    decode_system: &Bound<'py, PyAny>,
    link: String,
    transfer: String,
    arrival: PyReadonlyArray1<'py, f64>,
    prompt: PyReadonlyArray1<'py, f64>,
    output: PyReadonlyArray1<'py, f64>,
    prefill_pool: PoolArgs,
    decode_pool: PoolArgs,
    balancer: String,
    record_itl: bool,
    prefill_power: PyRef<'py, PyPowerModel>,
    decode_power: PyRef<'py, PyPowerModel>,
    prefill_cap_w: Option<f64>,
    decode_cap_w: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (ps, ds) = (
        system_of(py, prefill_system)?,
        system_of(py, decode_system)?,
    );
    let (a, p, o) = (arrival.as_slice()?, prompt.as_slice()?, output.as_slice()?);
    let (pe, de) = (&prefill.inner, &decode.inner);
    let (pm, dm) = (&prefill_power.inner, &decode_power.inner);
    let ((r, itl), split, kind, tallies) = engine_stoppable(py, move |stop| {
        let reqs = to_requests(a, p, o)?;
        let split = KvSplit::new(pe, de)?;
        let kv_link = link_of(&link, &ps, &ds, pe.framework.comm_bandwidth_scale)?;
        let transfer = match transfer.as_str() {
            "layerwise" => Transfer::Layerwise,
            "serial" => Transfer::Serial,
            other => {
                return Err(invalid(
                    "kv_transfer",
                    format!("is '{other}'; expected 'layerwise' or 'serial'"),
                ))
            }
        };
        let opts = DisaggOptions {
            transfer,
            balancer: balancer_of(&balancer)?,
            record_itl_gaps: record_itl,
            stop,
        };
        let send = |b: f64| kv_link.send_s(b);
        let pc = disagg::in_pool("prefill", Powered::new(pe, pm, prefill_cap_w))?;
        let dc = disagg::in_pool("decode", Powered::new(de, dm, decode_cap_w))?;
        let r = disagg::simulate(
            &pc,
            &dc,
            &prefill_pool.pool(),
            &decode_pool.pool(),
            &split,
            &send,
            &reqs,
            &opts,
        )?;
        let itl = itl_stats(&r.requests.itl_gaps_s);
        Ok(((r, itl), split, kv_link.kind, (pc.tally(), dc.tally())))
    })?;
    let d = sim_dict(py, (r.requests, itl))?;
    tally_items(&d, "prefill_", &tallies.0, pm)?;
    tally_items(&d, "decode_", &tallies.1, dm)?;
    let pre: Vec<f64> = r.prefill_replica.iter().map(|&x| f64::from(x)).collect();
    d.set_item("prefill_replica", pre.into_pyarray(py))?;
    d.set_item("kv_transfer_bytes", r.kv_bytes.into_pyarray(py))?;
    d.set_item("kv_transfer_s", r.kv_transfer_s.into_pyarray(py))?;
    d.set_item("kv_ready_s", r.kv_ready_s.into_pyarray(py))?;
    d.set_item("prefill_busy_s", r.prefill_busy_s.into_pyarray(py))?;
    d.set_item("decode_busy_s", r.decode_busy_s.into_pyarray(py))?;
    d.set_item("link_busy_s", r.link_busy_s.into_pyarray(py))?;
    d.set_item("prefill_iterations", r.prefill_iterations)?;
    d.set_item("decode_iterations", r.decode_iterations)?;
    d.set_item("kv_bytes_per_token", split.bytes_per_token)?;
    d.set_item("kv_lane_bytes_per_token", split.lane_bytes_per_token)?;
    d.set_item("kv_layers", split.layers)?;
    let kind = match kind {
        disagg::LinkKind::InNode => "nvlink",
        disagg::LinkKind::Network => "nic",
        disagg::LinkKind::Ideal => "ideal",
    };
    d.set_item("link", kind)?;
    Ok(d)
}
