//! DAQ pipeline bindings: a frozen compiled pipeline, one evaluation, vectorized sweeps (numpy columns in,
//! flat numpy arrays out). Conversions and error mapping only; the model is `perfmodel_core::daq`.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfmodel_core::daq::{
    self, Field, Link, McOptions, Node, Pipeline, ScoreTable, Settings, Target,
};
use perfmodel_core::error::invalid;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{engine, to_py};

/// A validated pipeline, ready to evaluate.
#[pyclass(frozen, name = "DaqPipeline", module = "perfmodel._core")]
pub struct PyDaqPipeline {
    inner: Arc<Pipeline>,
    /// The arguments of its constructor (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyDaqPipeline {
    /// Pickling: `daq_pipeline` with the nodes, links, tables and settings that built it.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "daq_pipeline", &self.args)
    }

    /// Node names, in definition order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Node kinds (`detector`, `processor`, `storage`), in definition order.
    #[getter]
    fn kinds(&self) -> Vec<&'static str> {
        self.inner.nodes.iter().map(|n| n.kind.name()).collect()
    }

    /// Index of each node's successor (-1 for the storage root).
    #[getter]
    fn successors(&self) -> Vec<i64> {
        self.inner
            .succ
            .iter()
            .map(|s| s.map_or(-1, |i| i64::try_from(i).unwrap_or(-1)))
            .collect()
    }
}

type NodeSpec = (String, String, String, Option<usize>, Vec<(String, f64)>);

/// Builds and validates a pipeline: nodes (name, kind, classifier, score-table index, values), links
/// (from, to, energy per bit), score tables (x, cdf_neg, cdf_pos) and settings.
#[pyfunction]
#[pyo3(signature = (nodes, links, tables, year, relevant_fraction, integer_counts, reference_year=2022.0, scaling_rate=0.187_173_61))]
pub fn daq_pipeline(
    py: Python<'_>,
    nodes: Vec<NodeSpec>,
    links: Vec<(usize, usize, f64)>,
    tables: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)>,
    year: f64,
    relevant_fraction: f64,
    integer_counts: bool,
    reference_year: f64,
    scaling_rate: f64,
) -> PyResult<PyDaqPipeline> {
    let args = (
        &nodes,
        &links,
        &tables,
        year,
        relevant_fraction,
        integer_counts,
        reference_year,
        scaling_rate,
    )
        .into_pyobject(py)?
        .unbind();
    let p = engine(py, move || {
        let nodes = nodes
            .iter()
            .map(|(name, kind, cls, table, values)| Node::new(name, kind, cls, *table, values))
            .collect::<Result<Vec<_>, _>>()?;
        let tables = tables
            .into_iter()
            .enumerate()
            .map(|(i, (x, n, p))| {
                ScoreTable::new(x, n, p).map_err(|m| invalid(&format!("score table {i}"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let links: Vec<Link> = links
            .into_iter()
            .map(|(from, to, energy_per_bit_j)| Link {
                from,
                to,
                energy_per_bit_j,
            })
            .collect();
        let settings = Settings {
            year,
            reference_year,
            scaling_rate,
            relevant_fraction,
            integer_counts,
        };
        Pipeline::new(nodes, &links, tables, settings)
    })?;
    Ok(PyDaqPipeline {
        inner: Arc::new(p),
        args,
    })
}

fn mc_options(seed: Option<u64>, samples: usize) -> Option<McOptions> {
    seed.map(|seed| McOptions { seed, samples })
}

/// Names of the metric columns of `daq_sweep`, in order.
#[pyfunction]
pub fn daq_metric_names() -> Vec<&'static str> {
    daq::METRIC_NAMES.to_vec()
}

type NodeColumns = Vec<(&'static str, Vec<f64>)>;

/// One evaluation: (metrics by name, per-node columns by name).
#[pyfunction]
#[pyo3(signature = (pipeline, mc_seed=None, mc_samples=50_000))]
pub fn daq_evaluate(
    py: Python<'_>,
    pipeline: &PyDaqPipeline,
    mc_seed: Option<u64>,
    mc_samples: usize,
) -> PyResult<(HashMap<&'static str, f64>, NodeColumns)> {
    let p = pipeline.inner.clone();
    let e = engine(py, move || {
        daq::evaluate(&p, mc_options(mc_seed, mc_samples))
    })?;
    let metrics = daq::METRIC_NAMES
        .iter()
        .copied()
        .zip(e.metrics.values())
        .collect();
    let col = |f: fn(&daq::NodeResult) -> f64| e.nodes.iter().map(f).collect::<Vec<f64>>();
    let nodes = vec![
        ("message_bytes", col(|r| r.message_bytes)),
        ("output_bytes", col(|r| r.output_bytes)),
        ("input_rate_hz", col(|r| r.input_rate_hz)),
        ("output_rate_hz", col(|r| r.output_rate_hz)),
        ("ops_per_event", col(|r| r.ops_per_event)),
        ("energy_per_event_j", col(|r| r.energy_per_event_j)),
        ("compute_power_w", col(|r| r.compute_power_w)),
        ("link_power_w", col(|r| r.link_power_w)),
        (
            "link_throughput_bytes_per_s",
            col(|r| r.link_throughput_bytes_per_s),
        ),
        (
            "link_throughput_bits_per_s",
            col(|r| 8.0 * r.link_throughput_bytes_per_s),
        ),
        ("global_ratio", col(|r| r.global_ratio)),
        ("threshold", col(|r| r.threshold)),
        ("tn_rate", col(|r| r.error_matrix[0])),
        ("fn_rate", col(|r| r.error_matrix[1])),
        ("fpr", col(|r| r.error_matrix[2])),
        ("tpr", col(|r| r.error_matrix[3])),
        ("rejected_negatives_per_s", col(|r| r.contingency[0])),
        ("rejected_positives_per_s", col(|r| r.contingency[1])),
        ("passed_negatives_per_s", col(|r| r.contingency[2])),
        ("passed_positives_per_s", col(|r| r.contingency[3])),
        ("units", col(|r| r.units)),
        ("cost", col(|r| r.cost)),
    ];
    Ok((metrics, nodes))
}

/// Rows of a sweep's first part, and the seconds each later part aims at (Ctrl-C is checked between parts).
const FIRST_PART_ROWS: usize = 64;
const PART_SECONDS: f64 = 0.1;

type SweepOut<'py> = (usize, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// Vectorized sweep. `targets`: (node index, field), node index -1 for `year` or `relevant_fraction`;
/// one column per target; `first_row`: the number of the columns' first row in a larger sweep (a part of it
/// run elsewhere). Returns (rows, metrics flat row-major rows x 19, stage power flat rows x nodes). The rows
/// run in parts of about a tenth of a second, with a check for Ctrl-C between parts.
#[pyfunction]
// PyO3 extracts owned Python sequences.
#[allow(clippy::needless_pass_by_value)]
#[pyo3(signature = (pipeline, targets, columns, per_stage=false, mc_seed=None, mc_samples=50_000, first_row=0))]
pub fn daq_sweep<'py>(
    py: Python<'py>,
    pipeline: &PyDaqPipeline,
    targets: Vec<(i64, String)>,
    columns: Vec<PyReadonlyArray1<'py, f64>>,
    per_stage: bool,
    mc_seed: Option<u64>,
    mc_samples: usize,
    first_row: u64,
) -> PyResult<SweepOut<'py>> {
    if targets.len() != columns.len() {
        return Err(to_py(
            py,
            &invalid(
                "columns",
                format!("{} targets but {} columns", targets.len(), columns.len()),
            ),
        ));
    }
    let p = pipeline.inner.clone();
    let mut resolved = Vec::with_capacity(targets.len());
    for (node, field) in &targets {
        let t = match (*node, field.as_str()) {
            (-1, "year") => Target::Year,
            (-1, "relevant_fraction") => Target::RelevantFraction,
            (i, f) if i >= 0 && (i as usize) < p.nodes.len() => Target::Node(
                i as usize,
                Field::parse(&p.nodes[i as usize].name, f).map_err(|e| to_py(py, &e))?,
            ),
            (i, f) => {
                return Err(to_py(
                    py,
                    &invalid(
                        "targets",
                        format!(
                            "({i}, '{f}') is not a node parameter, 'year' or 'relevant_fraction'"
                        ),
                    ),
                ))
            }
        };
        resolved.push(t);
    }
    let slices = columns
        .iter()
        .map(PyReadonlyArray1::as_slice)
        .collect::<Result<Vec<_>, _>>()?;
    let rows = slices.first().map_or(1, |c| c.len());
    let mc = mc_options(mc_seed, mc_samples);
    let mut out = daq::SweepColumns::default();
    let (mut lo, mut part) = (0, FIRST_PART_ROWS);
    loop {
        let hi = (lo + part).min(rows);
        let cols: Vec<(Target, &[f64])> = resolved
            .iter()
            .zip(&slices)
            .map(|(t, c)| (*t, &c[lo..hi]))
            .collect();
        let started = Instant::now();
        let done = engine(py, || {
            daq::sweep_rows(&p, &cols, per_stage, mc, first_row + lo as u64)
        })?;
        out.rows += done.rows;
        out.metrics.extend_from_slice(&done.metrics);
        out.stage_power_w.extend_from_slice(&done.stage_power_w);
        lo = hi;
        if lo >= rows {
            break;
        }
        py.check_signals()?;
        // The next part: about PART_SECONDS at the rate of this one, at most 4x larger or 2x smaller.
        let rate = part as f64 / started.elapsed().as_secs_f64().max(1e-6);
        part = ((rate * PART_SECONDS) as usize).clamp((part / 2).max(FIRST_PART_ROWS), part * 4);
    }
    Ok((
        out.rows,
        out.metrics.into_pyarray(py),
        out.stage_power_w.into_pyarray(py),
    ))
}

/// Registers the DAQ bindings on `perfmodel._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDaqPipeline>()?;
    m.add_function(wrap_pyfunction!(daq_pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(daq_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(daq_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(daq_metric_names, m)?)?;
    Ok(())
}
