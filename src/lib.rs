//! End-to-end checks that kubernetes-dashboard shows heapster's node and pod metrics,
//! on a throw-away kind cluster or any cluster a kubeconfig reaches. The xtask and the
//! test harness both use this library. Its rooms:
//!
//! - `pipeline`: the phases of `e2e` and `up` (preflight, images, cluster, apply,
//!   rollout, load, checks, teardown), one file each, run in order by `pipeline::run`;
//! - `checks`: one file per component, each with what it fetches and its pure verdicts;
//!   `checks::plan` lists them, `checks::run` polls them;
//! - `report`: how a run is shown and kept (terminal, JUnit, GitHub, artifacts, baseline,
//!   the version table), ended by one `report::finish` for every command;
//! - `kubeclient`: talking to a cluster (client, retries, proxy) and pure decisions over pod
//!   and Deployment status; `manifests`: reading and linting the stack's manifests;
//! - `stack`: the three monitoring stacks (heapster, metrics-server, Headlamp) by name;
//!   `layout`: where a stack's parts run, found by image; `simulated`: what a simulated
//!   cluster says about its scenario;
//! - `versions`, `duration`, `cancel`, `validate`: pins, durations with units, Ctrl-C,
//!   input refused before anything runs.

pub mod cancel;
pub mod checks;
pub mod duration;
pub mod error;
pub mod kubeclient;
pub mod layout;
pub mod manifests;
pub mod pipeline;
pub mod report;
pub mod simulated;
pub mod stack;
pub mod validate;
pub mod versions;

/// Exit codes: 0 every check passed; 1 the system under test failed; 2 the harness could not run.
pub mod exit {
    pub const PASSED: i32 = 0;
    pub const CHECK_FAILED: i32 = 1;
    pub const HARNESS: i32 = 2;
}
