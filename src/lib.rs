//! End-to-end checks that kubernetes-dashboard shows heapster's node and pod metrics,
//! on a throw-away kind cluster or any cluster a kubeconfig reaches.
//!
//! One module per phase: `preflight`, `images`, `cluster`, `manifests`, `apply`,
//! `rollout`, `checks` (with the pure `verdict` functions), `suite`, `report`; `pipeline`
//! runs them in order. The xtask and the test harness both use this library.

pub mod apply;
pub mod artifacts;
pub mod baseline;
pub mod cancel;
pub mod checks;
pub mod cluster;
pub mod diagnose;
pub mod duration;
pub mod evidence;
pub mod github;
pub mod images;
pub mod junit;
pub mod kubeclient;
pub mod lint;
pub mod load;
pub mod manifests;
pub mod matrix;
pub mod pipeline;
pub mod preflight;
pub mod report;
pub mod rollout;
pub mod suite;
pub mod tools;
pub mod upgrade;
pub mod verdict;
pub mod versions;

/// Exit codes: 0 every check passed; 1 the system under test failed; 2 the harness could not run.
pub mod exit {
    pub const PASSED: i32 = 0;
    pub const CHECK_FAILED: i32 = 1;
    pub const HARNESS: i32 = 2;
}
