//! A simulated kind cluster for testing the heapster e2e harness without Docker.
//!
//! It models upstream, not the harness: a Kubernetes API server (discovery, get, list,
//! watch, server-side apply, logs, service proxy, RBAC), controllers that turn
//! Deployments and DaemonSets into pods, emulations of heapster, InfluxDB, Grafana and
//! kubernetes-dashboard v1.10.1 behind the service proxy, and fake `kind` and `docker`
//! command-line tools. It never imports the harness.

pub mod api;
pub mod apps;
pub mod cluster;
pub mod controller;
pub mod fakes;
pub mod images;
pub mod kubeconfig;
pub mod metrics;
pub mod pki;
pub mod rbac;
pub mod resources;
pub mod scenario;
pub mod shim;
pub mod store;

pub use cluster::{ClusterHandle, NodeSpec, SimConfig, start};
pub use fakes::{World, WorldConfig};
pub use scenario::{Faults, Scenario, Timing};

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

/// RFC 3339 with second precision and `Z`, as the API server prints times.
pub fn format_time(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A unique, unguessable-enough token for a simulated credential.
pub fn random_token(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{prefix}-{:016x}", h.finish())
}

/// A stable small number from a name, so simulated usage differs per node and pod
/// but is the same in heapster, InfluxDB and the dashboard.
pub(crate) fn name_hash(name: &str) -> u64 {
    // FNV-1a: stable across runs, unlike RandomState.
    name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}
