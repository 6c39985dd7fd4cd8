//! The engine's worker threads, and fork safety.
//!
//! By default the engine runs on rayon's global pool (`RAYON_NUM_THREADS` threads, else one per CPU) at no
//! cost per call. A process forked from one whose pool had started has the pool's state but none of its
//! threads, so a parallel call there would wait forever (huggingface/tokenizers meets the same problem with
//! an at-fork handler). The binding registers a `pthread_atfork` child handler that switches the child to a
//! pool of its own, built on its first parallel call; `set_num_threads` switches to such a pool too. Each
//! own pool is kept with the id of the process that built it, so a pool inherited across a fork is never
//! used.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use perfmodel_core::error::invalid;
use pyo3::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::errors::to_py;

/// Whether calls run on an own pool (after a fork or `set_num_threads`) instead of rayon's global one.
static USE_OWN: AtomicBool = AtomicBool::new(false);
/// Threads an own pool gets (0: rayon's default, `RAYON_NUM_THREADS` or one per CPU).
static THREADS: AtomicUsize = AtomicUsize::new(0);
/// The own pool and the id of the process that built it.
static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);
static AT_FORK: Once = Once::new();

#[cfg(unix)]
mod fork {
    use std::os::raw::c_int;

    type Handler = Option<unsafe extern "C" fn()>;
    extern "C" {
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> c_int;
    }

    /// In the child of a fork: only flags (async-signal-safe); the child's own pool is built on first use.
    unsafe extern "C" fn in_child() {
        super::USE_OWN.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn register() {
        // SAFETY: registers a handler that only stores to an atomic; pthread_atfork has no other effect.
        unsafe {
            pthread_atfork(None, None, Some(in_child));
        }
    }
}

/// Registers the at-fork handler (once; called when the module loads).
pub fn register_at_fork() {
    AT_FORK.call_once(|| {
        #[cfg(unix)]
        fork::register();
    });
}

/// Empties the pool slot; a pool inherited across a fork (its threads do not exist here) is forgotten, not
/// dropped, so that nothing waits on them.
fn clear(slot: &mut Option<(u32, Arc<ThreadPool>)>, pid: u32) {
    if let Some((owner, pool)) = slot.take() {
        if owner != pid {
            std::mem::forget(pool);
        }
    }
}

/// This process's own pool, built on first use (and again in a forked child, or after `set_num_threads`).
fn own_pool() -> Result<Arc<ThreadPool>, String> {
    let pid = std::process::id();
    let mut slot = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, pool)) = slot.as_ref() {
        if *owner == pid {
            return Ok(pool.clone());
        }
    }
    clear(&mut slot, pid);
    let pool = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(THREADS.load(Ordering::SeqCst))
            .thread_name(|i| format!("perfmodel-{i}"))
            .build()
            .map_err(|e| format!("cannot start the engine's threads: {e}"))?,
    );
    *slot = Some((pid, pool.clone()));
    Ok(pool)
}

/// Runs `f` on the engine's pool: rayon's global one, or this process's own (see the module doc).
pub fn run<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    if !USE_OWN.load(Ordering::Relaxed) {
        return Ok(f());
    }
    Ok(own_pool()?.install(f))
}

/// Sets the threads the engine's parallel calls use (its own pool from now on); `n >= 1`.
#[pyfunction]
pub fn set_num_threads(py: Python<'_>, n: i64) -> PyResult<()> {
    let Some(n) = usize::try_from(n).ok().filter(|n| (1..=4096).contains(n)) else {
        return Err(to_py(
            py,
            &invalid(
                "n",
                format!("is {n}; expected a whole number of threads from 1 to 4096"),
            ),
        ));
    };
    let mut slot = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    THREADS.store(n, Ordering::SeqCst);
    // The next call builds a pool of `n` threads; the old one ends when its last call returns.
    clear(&mut slot, std::process::id());
    USE_OWN.store(true, Ordering::SeqCst);
    Ok(())
}

/// The threads the engine's parallel calls use.
#[pyfunction]
pub fn get_num_threads(py: Python<'_>) -> PyResult<usize> {
    if !USE_OWN.load(Ordering::SeqCst) {
        return Ok(rayon::current_num_threads());
    }
    py.detach(own_pool)
        .map(|p| p.current_num_threads())
        .map_err(|m| to_py(py, &perfmodel_core::Error::Unsupported { message: m }))
}
