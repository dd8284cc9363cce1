//! The checks: each fetches through the API server only (GET, LIST and proxied requests;
//! the dashboard login is a POST through the service proxy, which stores nothing) and
//! judges the answer with a pure verdict beside it. `plan` turns a cluster into the list
//! of checks; `run` polls them to their outcomes.
//!
//! One file per component: `nodes`, `heapster`, `influxdb`, `grafana`, `dashboard` (v1
//! and v2), `metrics_api` (metrics-server and its scraper), `headlamp`, `ground_truth`, `upgrade` (a
//! rollout within the heapster stack) and `switch` (the dashboards through a move across
//! stacks); shared: `context` (what every check reads), `series` (the rules of a fresh
//! series), `diagnose` (known causes of failures), `patience` (how long each may wait).

pub mod context;
pub mod dashboard;
pub mod diagnose;
pub mod grafana;
pub mod ground_truth;
pub mod headlamp;
pub mod heapster;
pub mod influxdb;
pub mod metrics_api;
pub mod nodes;
pub mod patience;
mod plan;
pub mod run;
pub mod series;
pub mod switch;
pub mod upgrade;

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

pub use context::{CheckConfig, Ctx, NodeRow, Summary};
pub use nodes::ready_nodes;
pub use plan::{plan, stack_deployments};
pub use run::Outcome;

/// Where the stack lives and how it is named (the dashboard requires `kube-system/heapster`).
pub const NAMESPACE: &str = "kube-system";

pub const HEAPSTER: &str = "heapster";

pub const METRICS_SERVER: &str = "metrics-server";

pub const SCRAPER: &str = "dashboard-metrics-scraper";

pub const INFLUXDB: &str = "monitoring-influxdb";

pub const GRAFANA: &str = "monitoring-grafana";

pub const DASHBOARD: &str = "kubernetes-dashboard";

pub const DASHBOARD_PROXY: &str = "https:kubernetes-dashboard:";

pub const METRICS: &[&str] = &["cpu/usage_rate", "memory/usage"];

/// What a check concluded from one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed; the text says what was seen, with the numbers.
    Pass(String),
    /// Not yet: the state can still heal (heapster has not scraped yet); look again.
    Wait(String),
    /// Failed, and waiting will not change it (no heapster service, a crashing pod).
    Fail(String),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass(_))
    }

    /// What was seen, whatever the verdict.
    pub fn message(&self) -> &str {
        match self {
            Verdict::Pass(m) | Verdict::Wait(m) | Verdict::Fail(m) => m,
        }
    }
}

pub type Probe = Arc<dyn Fn(Arc<Ctx>) -> BoxFuture<'static, Verdict> + Send + Sync>;

#[derive(Clone)]
pub struct Check {
    pub name: String,
    pub probe: Probe,
    /// Not run, with the reason (a missing prerequisite).
    pub ignored: Option<String>,
    /// How long it may wait for a state that can heal, and why (`patience`); `None`:
    /// until the run's deadline.
    pub patience: Option<(std::time::Duration, String)>,
}

fn check<F, Fut>(name: impl Into<String>, f: F) -> Check
where
    F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Verdict> + Send + 'static,
{
    Check {
        name: name.into(),
        probe: Arc::new(move |ctx| f(ctx).boxed()),
        ignored: None,
        patience: None,
    }
}

/// The cluster has none of the stack: the harness cannot run (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("none of the {stack} stack's Deployments exist: no Deployment in any namespace runs {}; is this the right cluster and context, and the right --stack? Bring the stack up with `cargo xtask up --stack {stack}`", crate::layout::parts(*.stack).iter().map(|p| crate::layout::image(*.stack, *p)).collect::<Vec<_>>().join(", "))]
pub struct NoStack {
    pub stack: crate::stack::Stack,
}
