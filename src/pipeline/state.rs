//! One run of the pipeline while it goes: its settings and helpers, and what it has made
//! so far (the cluster, the client, the checks' context, the load's namespace), so that
//! teardown and evidence can act on exactly that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use super::Options;
use super::tools::Exec;
use crate::cancel::{Cancel, Interrupted};
use crate::checks::Ctx;
use crate::report::Report;

pub(super) struct Run<'a> {
    pub exec: Exec<'a>,
    pub rt: &'a tokio::runtime::Runtime,
    pub opts: &'a Options,
    pub cancel: &'a Cancel,
    pub report: &'a Report,
    /// Set once this run created the cluster: only then may it delete it.
    pub created: bool,
    /// Set once the cluster exists (created or reused): its logs can be exported.
    pub cluster_up: bool,
    pub client: Option<Client>,
    pub ctx: Option<Arc<Ctx>>,
    pub stuck_pod: Option<String>,
    /// The load's namespace, once created: deleted at the end whatever happens.
    pub load_namespace: Option<String>,
}

impl Run<'_> {
    /// Run one phase: a spinner or group while it works, then its line and duration.
    pub fn timed<T>(
        &self,
        phase: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
        done: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<T> {
        self.cancel.check()?;
        self.report.begin(phase);
        let start = Instant::now();
        let value = f().inspect_err(|_| self.report.abandon())?;
        // Under --dry-run only reading the manifests really happens.
        let message = if self.opts.dry_run && phase != "Manifests" {
            "dry run: nothing done".to_string()
        } else {
            done(&value)
        };
        self.report.phase(phase, start.elapsed(), &message);
        self.cancel.check()?;
        Ok(value)
    }

    /// Wait for `f`, or stop at once on Ctrl-C.
    pub fn block_on_cancellable<T>(
        &self,
        f: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.rt.block_on(async {
            tokio::select! {
                r = f => r,
                _ = self.cancel.cancelled() => Err(Interrupted.into()),
            }
        })
    }

    /// What the checks saw so far (empty before they ran).
    pub fn summary(&self) -> crate::checks::Summary {
        self.ctx
            .as_ref()
            .map(|c| c.summary.lock().expect("summary lock").clone())
            .unwrap_or_default()
    }

    /// How long after the checks started the first node metrics passed.
    pub fn first_metrics(&self) -> Option<Duration> {
        self.ctx
            .as_ref()
            .and_then(|c| *c.first_metrics.lock().expect("first metrics lock"))
    }
}
