//! Roofline bindings: numpy columns in, numpy columns out, the lock released while the engine runs.
//!
//! The output columns are numpy arrays allocated here and filled in place by the engine: numpy backs large
//! arrays with transparent huge pages, so the first touch of tens of megabytes of results costs a few page
//! faults instead of one per 4 KiB, and nothing is copied afterwards.
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use perfmodel_core::hw::Dtype;
use perfmodel_core::roofline::{self, AttentionKernel, KernelColumnsMut, Layout};
use pyo3::prelude::*;

use crate::errors::engine;
use crate::hwdb::PyHwSpec;

type F64Array<'py> = Bound<'py, PyArray1<f64>>;

/// time_s, flops, hbm_bytes, tflops, gbps, intensity, fraction_of_peak, bound code.
type Columns<'py> = (
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    Bound<'py, PyArray1<u8>>,
);

/// Allocates the output columns (zeroed: fresh pages from the OS, no memset), lets `fill` write them with the
/// interpreter lock released, and returns them.
fn with_columns<'py, F>(py: Python<'py>, len: usize, fill: F) -> PyResult<Columns<'py>>
where
    F: for<'a> FnOnce(KernelColumnsMut<'a>) -> perfmodel_core::Result<()> + Send,
{
    let f64s: [F64Array<'py>; 7] = std::array::from_fn(|_| PyArray1::zeros(py, len, false));
    let bound = PyArray1::<u8>::zeros(py, len, false);
    {
        let mut w = f64s.each_ref().map(PyArrayMethods::readwrite);
        let mut wb = bound.readwrite();
        let [t, fl, hb, tf, gb, it, fr] = &mut w;
        let out = KernelColumnsMut {
            time_s: t.as_slice_mut()?,
            flops: fl.as_slice_mut()?,
            hbm_bytes: hb.as_slice_mut()?,
            tflops: tf.as_slice_mut()?,
            gbps: gb.as_slice_mut()?,
            intensity: it.as_slice_mut()?,
            fraction_of_peak: fr.as_slice_mut()?,
            bound: wb.as_slice_mut()?,
        };
        engine(py, move || fill(out))?;
    }
    let [t, fl, hb, tf, gb, it, fr] = f64s;
    Ok((t, fl, hb, tf, gb, it, fr, bound))
}

/// Names of the `bound` codes, in code order.
#[pyfunction]
pub fn bound_names() -> Vec<&'static str> {
    roofline::Bound::NAMES.to_vec()
}

/// The canonical name of a dtype name or alias, the error naming `arg` (Python's one dtype vocabulary).
#[pyfunction]
pub fn dtype_name(py: Python<'_>, arg: &str, value: &str) -> PyResult<&'static str> {
    match Dtype::parse(value) {
        Ok(d) => Ok(d.name()),
        Err(perfmodel_core::Error::InvalidArgument { message, .. }) => Err(crate::errors::to_py(
            py,
            &perfmodel_core::error::invalid(arg, message),
        )),
        Err(e) => Err(crate::errors::to_py(py, &e)),
    }
}

/// Vectorized GEMM: see `Columns`; `peak_tflops` (NaN if none) only scales `fraction_of_peak`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn roofline_gemm<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    layout: String,
    m: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
    k: PyReadonlyArray1<'py, f64>,
    batch: PyReadonlyArray1<'py, f64>,
    peak_tflops: f64,
) -> PyResult<Columns<'py>> {
    let (m, n, k, batch) = (
        m.as_slice()?,
        n.as_slice()?,
        k.as_slice()?,
        batch.as_slice()?,
    );
    let spec = spec.inner.clone();
    with_columns(py, m.len(), move |out| {
        roofline::gemm_columns_into(
            &*spec.device()?,
            Dtype::parse(&dtype)?,
            Layout::parse(&layout)?,
            m,
            n,
            k,
            batch,
            peak_tflops,
            out,
        )
    })
}

/// tile_m, tile_n, tiles, waves, units, aligned (0/1), compute_s, memory_s.
type ScheduleColumns<'py> = (
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    F64Array<'py>,
    Bound<'py, PyArray1<u8>>,
    F64Array<'py>,
    F64Array<'py>,
);

/// How the GEMM engine schedules each GEMM (`roofline::gemm_schedules`): see `ScheduleColumns`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn roofline_gemm_schedule<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    layout: String,
    m: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
    k: PyReadonlyArray1<'py, f64>,
    batch: PyReadonlyArray1<'py, f64>,
) -> PyResult<ScheduleColumns<'py>> {
    let (m, n, k, batch) = (
        m.as_slice()?,
        n.as_slice()?,
        k.as_slice()?,
        batch.as_slice()?,
    );
    let spec = spec.inner.clone();
    let s = engine(py, move || {
        roofline::gemm_schedules(
            &*spec.device()?,
            Dtype::parse(&dtype)?,
            Layout::parse(&layout)?,
            m,
            n,
            k,
            batch,
        )
    })?;
    let col = |f: fn(&roofline::GemmSchedule) -> f64| {
        s.iter().map(f).collect::<Vec<f64>>().into_pyarray(py)
    };
    Ok((
        col(|x| x.tile_m),
        col(|x| x.tile_n),
        col(|x| x.tiles),
        col(|x| x.waves),
        col(|x| x.units),
        s.iter()
            .map(|x| u8::from(x.aligned))
            .collect::<Vec<u8>>()
            .into_pyarray(py),
        col(|x| x.compute_s),
        col(|x| x.memory_s),
    ))
}

/// One GEMM without numpy: (time_s, flops, hbm_bytes, bound code). The cheap path for scalar calls.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn roofline_gemm_scalar(
    py: Python<'_>,
    spec: &PyHwSpec,
    dtype: &str,
    layout: &str,
    m: f64,
    n: f64,
    k: f64,
    batch: f64,
) -> PyResult<(f64, f64, f64, u8)> {
    let d = spec
        .inner
        .device()
        .and_then(|dev| Ok((dev, Dtype::parse(dtype)?, Layout::parse(layout)?)));
    let (dev, dt, lay) = d.map_err(|e| crate::errors::to_py(py, &e))?;
    let e =
        roofline::gemm(&dev, m, n, k, batch, dt, lay).map_err(|e| crate::errors::to_py(py, &e))?;
    Ok((e.time_s, e.flops, e.hbm_bytes, e.bound as u8))
}

/// Vectorized flash-style attention: see `Columns`.
#[pyfunction]
pub fn roofline_attention<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    kernel: String,
    batch: PyReadonlyArray1<'py, f64>,
    heads: PyReadonlyArray1<'py, f64>,
    seq_q: PyReadonlyArray1<'py, f64>,
    seq_kv: PyReadonlyArray1<'py, f64>,
    head_dim: PyReadonlyArray1<'py, f64>,
    causal: bool,
    backward: bool,
    peak_tflops: f64,
) -> PyResult<Columns<'py>> {
    let (b, h, sq, skv, d) = (
        batch.as_slice()?,
        heads.as_slice()?,
        seq_q.as_slice()?,
        seq_kv.as_slice()?,
        head_dim.as_slice()?,
    );
    let spec = spec.inner.clone();
    with_columns(py, b.len(), move |out| {
        roofline::attention_columns_into(
            &*spec.device()?,
            Dtype::parse(&dtype)?,
            AttentionKernel::parse(&kernel)?,
            b,
            h,
            sq,
            skv,
            d,
            causal,
            backward,
            peak_tflops,
            out,
        )
    })
}

/// Vectorized memory-bound kernel: see `Columns`.
#[pyfunction]
pub fn roofline_stream<'py>(
    py: Python<'py>,
    spec: &PyHwSpec,
    dtype: String,
    bytes_read: PyReadonlyArray1<'py, f64>,
    bytes_written: PyReadonlyArray1<'py, f64>,
    flops: PyReadonlyArray1<'py, f64>,
    peak_tflops: f64,
) -> PyResult<Columns<'py>> {
    let (r, w, f) = (
        bytes_read.as_slice()?,
        bytes_written.as_slice()?,
        flops.as_slice()?,
    );
    let spec = spec.inner.clone();
    with_columns(py, r.len(), move |out| {
        roofline::stream_columns_into(
            &*spec.device()?,
            Dtype::parse(&dtype)?,
            r,
            w,
            f,
            peak_tflops,
            out,
        )
    })
}
