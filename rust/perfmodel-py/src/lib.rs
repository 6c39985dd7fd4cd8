//! `perfmodel._core`: the Python binding of perfmodel-core. It converts, maps errors and releases the
//! interpreter lock; no modelling logic lives here.
// PyO3 extracts #[pyfunction] arguments by value (arrays, PyRef), and tuples of columns are the binding's
// return convention; these two pedantic lints flag exactly that.
#![allow(clippy::needless_pass_by_value, clippy::type_complexity)]
mod collectives;
mod daq;
mod errors;
mod hwdb;
mod llm;
mod llm_comm;
mod pickling;
mod power;
mod roofline;
mod serve;
mod threads;

use pyo3::prelude::*;

/// The binding's allocator (every Rust allocation of the engine, and the buffers of the numpy arrays it
/// returns, which it also frees). glibc's malloc, tuned as a Dask worker's nanny tunes it
/// (`MALLOC_TRIM_THRESHOLD_=65536`, which also pins the mmap threshold at 128 KiB), maps fresh pages for every
/// large result buffer and gives them back on free: the llm search ran 16% slower per candidate there. mimalloc
/// keeps and reuses its pages whatever the process's malloc settings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<hwdb::PyHwSpec>()?;
    m.add_function(wrap_pyfunction!(hwdb::hwdb_ids, m)?)?;
    m.add_function(wrap_pyfunction!(hwdb::hwdb_get, m)?)?;
    m.add_function(wrap_pyfunction!(hwdb::hwdb_parse, m)?)?;
    m.add_function(wrap_pyfunction!(hwdb::hwdb_register, m)?)?;
    m.add_function(wrap_pyfunction!(hwdb::hwdb_is_embedded, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::bound_names, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::dtype_name, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::roofline_gemm, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::roofline_gemm_scalar, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::roofline_gemm_schedule, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::roofline_attention, m)?)?;
    m.add_function(wrap_pyfunction!(roofline::roofline_stream, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_debug_panic, m)?)?;
    threads::register_at_fork();
    m.add_function(wrap_pyfunction!(threads::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads::get_num_threads, m)?)?;
    // Each domain registers its own functions (one line each, so parallel work does not collide).
    collectives::register(m)?;
    llm::register(m)?;
    llm_comm::register(m)?;
    daq::register(m)?;
    serve::register(m)?;
    power::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
