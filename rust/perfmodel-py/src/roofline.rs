//! Roofline bindings: numpy columns in, numpy columns out, the lock released while the engine runs.
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use perfmodel_core::hw::Dtype;
use perfmodel_core::roofline::{self, KernelColumns};
use pyo3::prelude::*;

use crate::errors::engine;
use crate::hwdb::PyHwSpec;

type Columns<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u8>>,
);

fn to_numpy(py: Python<'_>, c: KernelColumns) -> Columns<'_> {
    (
        c.time_s.into_pyarray(py),
        c.flops.into_pyarray(py),
        c.hbm_bytes.into_pyarray(py),
        c.bound.into_pyarray(py),
    )
}

/// Names of the `bound` codes, in code order.
#[pyfunction]
pub fn bound_names() -> Vec<&'static str> {
    roofline::Bound::NAMES.to_vec()
}

/// Vectorized GEMM: (time_s, flops, hbm_bytes, bound code).
#[pyfunction]
pub fn roofline_gemm<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    m: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
    k: PyReadonlyArray1<'py, f64>,
    batch: PyReadonlyArray1<'py, f64>,
) -> PyResult<Columns<'py>> {
    let (m, n, k, batch) = (
        m.as_slice()?,
        n.as_slice()?,
        k.as_slice()?,
        batch.as_slice()?,
    );
    let spec = spec.inner.clone();
    let cols = engine(py, move || {
        roofline::gemm_columns(&*spec.device()?, Dtype::parse(&dtype)?, m, n, k, batch)
    })?;
    Ok(to_numpy(py, cols))
}

/// One GEMM without numpy: (time_s, flops, hbm_bytes, bound code). The cheap path for scalar calls.
#[pyfunction]
pub fn roofline_gemm_scalar(
    py: Python<'_>,
    spec: &PyHwSpec,
    dtype: &str,
    m: f64,
    n: f64,
    k: f64,
    batch: f64,
) -> PyResult<(f64, f64, f64, u8)> {
    let d = spec
        .inner
        .device()
        .and_then(|dev| Ok((dev, Dtype::parse(dtype)?)));
    let (dev, dt) = d.map_err(|e| crate::errors::to_py(py, &e))?;
    let e = roofline::gemm(&dev, m, n, k, batch, dt).map_err(|e| crate::errors::to_py(py, &e))?;
    Ok((e.time_s, e.flops, e.hbm_bytes, e.bound as u8))
}

/// Vectorized flash-style attention.
#[pyfunction]
pub fn roofline_attention<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    batch: PyReadonlyArray1<'py, f64>,
    heads: PyReadonlyArray1<'py, f64>,
    seq_q: PyReadonlyArray1<'py, f64>,
    seq_kv: PyReadonlyArray1<'py, f64>,
    head_dim: PyReadonlyArray1<'py, f64>,
    causal: bool,
    backward: bool,
) -> PyResult<Columns<'py>> {
    let (b, h, sq, skv, d) = (
        batch.as_slice()?,
        heads.as_slice()?,
        seq_q.as_slice()?,
        seq_kv.as_slice()?,
        head_dim.as_slice()?,
    );
    let spec = spec.inner.clone();
    let cols = engine(py, move || {
        roofline::attention_columns(
            &*spec.device()?,
            Dtype::parse(&dtype)?,
            b,
            h,
            sq,
            skv,
            d,
            causal,
            backward,
        )
    })?;
    Ok(to_numpy(py, cols))
}

/// Vectorized memory-bound kernel.
#[pyfunction]
pub fn roofline_stream<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    bytes_read: PyReadonlyArray1<'py, f64>,
    bytes_written: PyReadonlyArray1<'py, f64>,
    flops: PyReadonlyArray1<'py, f64>,
) -> PyResult<Columns<'py>> {
    let (r, w, f) = (
        bytes_read.as_slice()?,
        bytes_written.as_slice()?,
        flops.as_slice()?,
    );
    let spec = spec.inner.clone();
    let cols = engine(py, move || {
        roofline::stream_columns(&*spec.device()?, Dtype::parse(&dtype)?, r, w, f)
    })?;
    Ok(to_numpy(py, cols))
}
