//! The one mapping from core errors (and panics) to the Python exception classes of `perfmodel.errors`.
use std::panic::{catch_unwind, AssertUnwindSafe};

use perfmodel_core::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The `perfmodel.errors` class each core error becomes.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Hwdb { .. } | Error::UnknownId { .. } => "HwdbError",
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::Unsupported { .. } => "UnsupportedError",
        Error::Model { .. } => "ModelError",
    }
}

fn make(py: Python<'_>, class: &str, message: String) -> PyErr {
    let built = py
        .import("perfmodel.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message.clone(),)));
    match built {
        Ok(obj) => PyErr::from_value(obj),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// Converts a core error into the matching Python exception.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    make(py, class_name(e), e.to_string())
}

/// Runs engine work with the interpreter lock released, on the engine's pool (`crate::threads`); core errors and panics become Python exceptions
/// (a panic is a `PerfModelError` naming an internal error, never a crash).
pub fn engine<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> perfmodel_core::Result<T> + Send,
{
    let ran = py.detach(move || crate::threads::run(move || catch_unwind(AssertUnwindSafe(f))));
    let ran = ran.map_err(|message| to_py(py, &Error::Unsupported { message }))?;
    match ran {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, &e)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(make(
                py,
                "PerfModelError",
                format!("internal error in the perfmodel engine (please report): {what}"),
            ))
        }
    }
}

/// Lets the tests check that a panic in the engine surfaces as `PerfModelError`.
#[pyfunction]
pub fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    engine(py, || -> perfmodel_core::Result<()> {
        panic!("deliberate panic for testing")
    })
}
