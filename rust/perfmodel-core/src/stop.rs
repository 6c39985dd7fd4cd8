//! A request to stop a long engine call early. The long loops of the engine (the serving simulator's event
//! loop) check it between steps and return [`Error::Interrupted`]; whoever holds the flag (the Python binding,
//! on Ctrl-C) sets it from another thread. Pure Rust: an atomic flag, nothing else. A run that is not stopped
//! is unchanged to the bit: the check reads the flag and computes nothing.
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A stop request: none (the default), or a shared flag that stops the run once set.
#[derive(Clone, Default)]
pub struct Stop(Option<Arc<AtomicBool>>);

impl Stop {
    /// A stop that is never requested.
    pub const fn never() -> Stop {
        Stop(None)
    }

    /// A stop requested once `flag` is set (from any thread).
    pub fn on(flag: Arc<AtomicBool>) -> Stop {
        Stop(Some(flag))
    }

    /// Whether a stop has been requested.
    #[inline]
    pub fn requested(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// [`Error::Interrupted`] once a stop has been requested.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.requested() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Stop(never)"),
            Some(flag) => write!(f, "Stop(requested: {})", flag.load(Ordering::Relaxed)),
        }
    }
}

/// Two stops are equal when both are `never` or both watch the same flag.
impl PartialEq for Stop {
    fn eq(&self, other: &Stop) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Stop {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_requested_once_its_flag_is_set() {
        assert!(!Stop::never().requested());
        assert!(Stop::never().check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        let stop = Stop::on(flag.clone());
        assert!(!stop.requested() && stop.check().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert!(stop.requested());
        assert_eq!(stop.check(), Err(Error::Interrupted));
        assert_eq!(stop.clone(), stop);
        assert_ne!(stop, Stop::never());
    }
}
