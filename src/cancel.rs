//! Interruption: Ctrl-C (or a test) cancels the run, and every wait notices at once so
//! that teardown can run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_cancelled() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Cancel on Ctrl-C, for the lifetime of the runtime: one line, then the run cleans
    /// up and exits 2. A second Ctrl-C leaves at once (exit 2), skipping clean-up, and
    /// says what may be left behind (`left_behind`, with the real names).
    pub fn on_ctrl_c(&self, rt: &tokio::runtime::Handle, left_behind: String) {
        let me = self.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                crate::report::tell("\nInterrupted: cleaning up (press Ctrl-C again to force)");
                me.cancel();
                let _ = tokio::signal::ctrl_c().await;
                crate::report::tell(&format!("Forced: clean-up skipped; {left_behind}"));
                std::process::exit(crate::exit::HARNESS);
            }
        });
    }
}
