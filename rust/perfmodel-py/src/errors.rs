//! The one mapping from core errors (and panics) to the Python exception classes of `perfmodel.errors`.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use perfmodel_core::{Error, Stop};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

/// The `perfmodel.errors` class each core error becomes.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Hwdb { .. } | Error::UnknownId { .. } => "HwdbError",
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::Unsupported { .. } => "UnsupportedError",
        Error::Model { .. } => "ModelError",
        // Raised as KeyboardInterrupt by `to_py`; the class is never looked up.
        Error::Interrupted => "PerfModelError",
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
    if *e == Error::Interrupted {
        return PyKeyboardInterrupt::new_err(e.to_string());
    }
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
    finish(py, ran)
}

/// What an engine call ran to (the pool's error, a panic's payload, or the core's result) as Python's result.
fn finish<T>(
    py: Python<'_>,
    ran: Result<std::thread::Result<perfmodel_core::Result<T>>, String>,
) -> PyResult<T> {
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

/// How often a thread waiting for a stoppable call checks Python's signals.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// [`engine`] for a call that can run long and checks a [`Stop`] (the serving simulator): the work runs on a
/// helper thread while this one waits without the interpreter lock and checks Python's signals every
/// [`SIGNAL_POLL`]. When a signal handler raises (KeyboardInterrupt on Ctrl-C), the stop is requested, the
/// work ends at its next check, and the handler's exception is raised. Signals reach only the main thread:
/// called from another thread, the call runs to its end. Not stopped, the work's result is [`engine`]'s.
pub fn engine_stoppable<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(Stop) -> perfmodel_core::Result<T> + Send,
{
    let flag = Arc::new(AtomicBool::new(false));
    let stop = Stop::on(flag.clone());
    let mut raised: Option<PyErr> = None;
    let ran = std::thread::scope(|s| {
        let (done, mut waiting) = channel::<()>();
        let work = s.spawn(move || {
            let ran = crate::threads::run(move || catch_unwind(AssertUnwindSafe(move || f(stop))));
            let _ = done.send(());
            ran
        });
        loop {
            // The receiver moves into the lock-free wait and back (it is not shareable across threads).
            let (got, back) = py.detach(move || (waiting.recv_timeout(SIGNAL_POLL), waiting));
            waiting = back;
            if !matches!(got, Err(RecvTimeoutError::Timeout)) {
                break;
            }
            if raised.is_none() {
                if let Err(e) = py.check_signals() {
                    flag.store(true, Ordering::Relaxed);
                    raised = Some(e);
                }
            }
        }
        work.join()
    });
    if let Some(e) = raised {
        return Err(e);
    }
    match ran {
        Ok(ran) => finish(py, ran),
        Err(_) => finish(
            py,
            Err("the engine's helper thread ended abnormally".to_owned()),
        ),
    }
}

/// Lets the tests check that a panic in the engine surfaces as `PerfModelError`.
#[pyfunction]
pub fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    engine(py, || -> perfmodel_core::Result<()> {
        panic!("deliberate panic for testing")
    })
}
