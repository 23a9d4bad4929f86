//! A hold point at every batch boundary of every running job. Open unless
//! closed; tests close it to catch a job mid-run (and know it is there from
//! the arrival count) instead of racing a clock.

use std::sync::{Condvar, Mutex};

use tokio::sync::watch;

pub struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    arrivals: watch::Sender<u64>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            closed: Mutex::new(false),
            opened: Condvar::new(),
            arrivals: watch::channel(0).0,
        }
    }
}

impl Gate {
    /// Jobs reaching a batch boundary wait until [`Gate::open`].
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    pub fn open(&self) {
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.opened.notify_all();
    }

    /// Called by a job (on its blocking thread) at each batch boundary.
    pub(crate) fn pass(&self) {
        self.arrivals.send_modify(|n| *n += 1);
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        while *closed {
            closed = self.opened.wait(closed).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until `n` batch boundaries have been reached since start.
    pub async fn arrivals(&self, n: u64) {
        let mut rx = self.arrivals.subscribe();
        let _ = rx.wait_for(|seen| *seen >= n).await;
    }
}
