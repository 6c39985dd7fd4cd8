//! Pickling of the binding's handles: each keeps the arguments it was built from, and `__reduce__` returns
//! the module's constructor with them (hwdb specs reduce to an id or TOML text, see `hwdb.rs`), so a handle
//! travels to another process as what rebuilds it, never as raw engine memory.
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// What `__reduce__` returns: the `perfmodel._core` function `constructor` and the arguments to call it with.
pub fn reduce<'py>(
    py: Python<'py>,
    constructor: &str,
    args: &Py<PyTuple>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
    let f = py.import("perfmodel._core")?.getattr(constructor)?;
    Ok((f, args.bind(py).clone()))
}
