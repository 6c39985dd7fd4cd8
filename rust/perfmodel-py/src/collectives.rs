//! Collective-communication bindings: clusters built from hwdb specs, vectorized predictions.
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfmodel_core::collective::{self, Algorithm, Op};
use perfmodel_core::topology::{Cluster, NodeGroup};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{engine, to_py};
use crate::hwdb::PyHwSpec;

/// A cluster: groups of identical nodes with their fabrics and NICs resolved.
#[pyclass(frozen, name = "Cluster", module = "perfmodel._core")]
pub struct PyCluster {
    pub(crate) inner: Arc<Cluster>,
    /// The arguments of `collectives_cluster` that built it (pickling).
    args: Py<PyTuple>,
}

#[pymethods]
impl PyCluster {
    /// Pickling: `collectives_cluster` with the specs and node counts that built it.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        crate::pickling::reduce(py, "collectives_cluster", &self.args)
    }

    /// Devices in the cluster.
    fn devices(&self) -> u64 {
        self.inner.devices()
    }

    /// Transport of each level a communicator of `nranks` spans, e.g. `node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)`.
    fn transports(&self, py: Python<'_>, nranks: u32) -> PyResult<String> {
        let c = self.inner.clone();
        engine(py, move || c.transports(nranks))
    }

    /// (group index, system id, nodes, devices per node, [(level name, fabric or NIC id, transport, members)]).
    fn describe(&self) -> Vec<(usize, String, u32, u32, Vec<(String, String, String, u32)>)> {
        self.inner
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let levels = g
                    .levels
                    .iter()
                    .map(|l| {
                        (
                            l.name.clone(),
                            l.spec.clone(),
                            l.transport.clone(),
                            l.params.size,
                        )
                    })
                    .collect();
                (
                    i,
                    g.system.id.clone(),
                    g.nodes,
                    g.system.devices_per_node,
                    levels,
                )
            })
            .collect()
    }
}

type Group<'py> = (
    PyRef<'py, PyHwSpec>,
    Vec<PyRef<'py, PyHwSpec>>,
    PyRef<'py, PyHwSpec>,
    u32,
);

/// Builds a cluster from `(system, [fabric per level], nic, nodes)` groups and a fallback NIC.
#[pyfunction]
pub fn collectives_cluster(
    py: Python<'_>,
    groups: Vec<Group<'_>>,
    fallback_nic: Option<PyRef<'_, PyHwSpec>>,
    fallback_nics_per_node: u32,
) -> PyResult<PyCluster> {
    let args = (&groups, &fallback_nic, fallback_nics_per_node)
        .into_pyobject(py)?
        .unbind();
    let mut parts = Vec::with_capacity(groups.len());
    for (system, fabrics, nic, nodes) in &groups {
        let fabrics: Vec<Arc<perfmodel_core::hw::HwSpec>> =
            fabrics.iter().map(|f| f.inner.clone()).collect();
        parts.push((system.inner.clone(), fabrics, nic.inner.clone(), *nodes));
    }
    let fallback = fallback_nic.map(|f| f.inner.clone());
    let cluster = engine(py, move || {
        let mut built = Vec::with_capacity(parts.len());
        for (system, fabrics, nic, nodes) in parts {
            let fabrics = fabrics
                .iter()
                .map(|f| f.fabric())
                .collect::<perfmodel_core::Result<Vec<_>>>()?;
            built.push(NodeGroup::from_parts(
                system.system()?,
                &fabrics,
                &*nic.nic()?,
                nodes,
            )?);
        }
        match fallback {
            Some(f) => Cluster::with_fallback(built, Some((&*f.nic()?, fallback_nics_per_node))),
            None => Cluster::with_fallback(built, None),
        }
    })?;
    Ok(PyCluster {
        inner: Arc::new(cluster),
        args,
    })
}

/// (op names, algorithm names) in code order.
#[pyfunction]
pub fn collectives_names() -> (Vec<&'static str>, Vec<&'static str>) {
    (Op::NAMES.to_vec(), Algorithm::NAMES.to_vec())
}

/// Canonical op name (aliases such as `allreduce` accepted); an unknown name names the closest.
#[pyfunction]
pub fn collectives_op(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    Op::parse(name).map(Op::name).map_err(|e| to_py(py, &e))
}

/// Algorithm code of a name; an unknown name names the closest.
#[pyfunction]
pub fn collectives_algorithm(py: Python<'_>, name: &str) -> PyResult<u8> {
    Algorithm::parse(name)
        .map(|a| a as u8)
        .map_err(|e| to_py(py, &e))
}

type Out<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<f64>>,
);

/// Vectorized prediction: (time_s, algorithm code used, busbw factor) per element; communicators of ranks
/// `stride` apart with `concurrent` ranks per node communicating at once (None: only their own).
#[pyfunction]
#[pyo3(signature = (cluster, op, nbytes, nranks, algorithm, stride=1, concurrent=None))]
#[allow(clippy::too_many_arguments)]
pub fn collectives_predict<'py>(
    py: Python<'py>,
    cluster: &PyCluster,
    op: &str,
    nbytes: PyReadonlyArray1<'py, f64>,
    nranks: PyReadonlyArray1<'py, f64>,
    algorithm: PyReadonlyArray1<'py, u8>,
    stride: u64,
    concurrent: Option<u32>,
) -> PyResult<Out<'py>> {
    let op = Op::parse(op).map_err(|e| to_py(py, &e))?;
    let (b, r, a) = (
        nbytes.as_slice()?,
        nranks.as_slice()?,
        algorithm.as_slice()?,
    );
    let c = cluster.inner.clone();
    let placement = collective::Placement { stride, concurrent };
    let cols = engine(py, move || {
        collective::columns_placed(&c, op, b, r, a, placement)
    })?;
    Ok((
        cols.time_s.into_pyarray(py),
        cols.algorithm.into_pyarray(py),
        cols.busbw_factor.into_pyarray(py),
    ))
}

/// Registers the collectives functions and classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCluster>()?;
    m.add_function(wrap_pyfunction!(collectives_cluster, m)?)?;
    m.add_function(wrap_pyfunction!(collectives_names, m)?)?;
    m.add_function(wrap_pyfunction!(collectives_op, m)?)?;
    m.add_function(wrap_pyfunction!(collectives_algorithm, m)?)?;
    m.add_function(wrap_pyfunction!(collectives_predict, m)?)?;
    Ok(())
}
