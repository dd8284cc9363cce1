//! A simulated kind cluster for testing the heapster e2e harness without Docker.
//!
//! It models upstream, not the harness, and never imports it. Its floors, each importing
//! only the ones below it:
//!
//! - top: `server` (TLS listener, controller loop), `api` (the API server's HTTP face),
//!   `fakes` and `shim` (the fake `kind` and `docker`);
//! - `proxy` (the API server's service proxy), `aggregated` (the aggregation layer for
//!   `metrics.k8s.io`) and `controllers` (workload controllers, scheduler, kubelets, the
//!   APIService availability controller, and the programs' background loops);
//! - `apps` (heapster, InfluxDB, Grafana, kubernetes-dashboard v1.10.1 and v2.7.0,
//!   metrics-server, dashboard-metrics-scraper, resource-consumer, each emulated from its
//!   source: `sim/FIDELITY.md`), reaching each other only through
//!   `apps::common::ServiceProxy`, which `proxy` implements (`apps::measured`: what the
//!   kubelets measure, read by heapster and metrics-server alike);
//! - bottom: `cluster` (configuration and state), `store`, `resources`, `rbac`,
//!   `endpoints`, `usage`, `scenario`, `goflag`, `images`, `kubeconfig`, `pki`.

pub mod aggregated;
pub mod api;
pub mod apps;
pub mod cluster;
pub mod controllers;
pub mod endpoints;
pub mod fakes;
pub mod goflag;
pub mod images;
pub mod kubeconfig;
pub mod pki;
pub mod prober;
pub mod proxy;
pub mod rbac;
pub mod resources;
pub mod scenario;
pub mod server;
pub mod shim;
pub mod store;
pub mod usage;

pub use cluster::{NodeSpec, SimConfig};
pub use fakes::{World, WorldConfig};
pub use scenario::{Faults, HeapsterClock, Scenario, Timing};
pub use server::{ClusterHandle, start};

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the tests' scratch folders go (kubeconfigs, evidence, the fakes' links): memory
/// (`/dev/shm`) where the machine has it and `TMPDIR` does not say otherwise, else the
/// system's temporary directory. A suite run creates and deletes thousands of small files;
/// on a disk file system finding a free inode among the just-deleted ones cost it a
/// quarter of its kernel time. At its peak a run holds about 1 MB there. Decided once per
/// process: every scratch folder of a test run asks.
pub fn scratch_root() -> std::path::PathBuf {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let memory = std::path::Path::new("/dev/shm");
        if std::env::var_os("TMPDIR").is_none() && memory.is_dir() && can_write_in(memory).is_ok() {
            memory.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// Every file under `dir` with its size and modification time (empty if `dir` does not
/// exist): taken before and after a test run, it tells whether the run touched `dir`.
pub fn files_under(
    dir: &std::path::Path,
) -> std::collections::BTreeMap<std::path::PathBuf, (u64, Option<std::time::SystemTime>)> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), (meta.len(), meta.modified().ok()));
            }
        }
    }
    files
}

/// What differs between two [`files_under`] readings: files new or changed in `after`, then
/// files gone from it, marked `(removed)`.
pub fn changed_files(
    before: &std::collections::BTreeMap<std::path::PathBuf, (u64, Option<std::time::SystemTime>)>,
    after: &std::collections::BTreeMap<std::path::PathBuf, (u64, Option<std::time::SystemTime>)>,
) -> Vec<String> {
    after
        .iter()
        .filter(|(path, seen)| before.get(*path) != Some(seen))
        .map(|(path, _)| path.display().to_string())
        .chain(
            before
                .keys()
                .filter(|p| !after.contains_key(*p))
                .map(|p| format!("{} (removed)", p.display())),
        )
        .collect()
}

/// Can a file be made (and removed) in `dir`?
fn can_write_in(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".kind-sim-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

pub(crate) fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

/// RFC 3339 with second precision and `Z`, as the API server prints times.
pub fn format_time(t: jiff::Timestamp) -> String {
    // Whole seconds, so jiff's RFC 3339 printer adds no fraction.
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
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

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_as_the_api_server_prints_them() {
        let t: jiff::Timestamp = "2026-11-28T03:18:10.6Z".parse().unwrap();
        assert_eq!(super::format_time(t), "2026-11-28T03:18:11Z");
        let whole: jiff::Timestamp = "2026-11-28T03:18:10Z".parse().unwrap();
        assert_eq!(super::format_time(whole), "2026-11-28T03:18:10Z");
    }

    #[test]
    fn files_under_sees_a_new_file_a_changed_one_and_nested_ones() {
        let dir = tempfile::tempdir_in(super::scratch_root()).unwrap();
        assert!(super::files_under(&dir.path().join("absent")).is_empty());
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.json"), "{}").unwrap();
        let before = super::files_under(dir.path());
        assert_eq!(before.len(), 1);
        assert_eq!(before[&dir.path().join("a/b/c.json")].0, 2);
        std::fs::write(dir.path().join("a/b/c.json"), "{ }").unwrap();
        assert_ne!(super::files_under(dir.path()), before);
        std::fs::write(dir.path().join("d"), "").unwrap();
        assert_eq!(super::files_under(dir.path()).len(), 2);
    }

    #[test]
    fn changed_files_names_new_changed_and_removed_files() {
        use std::path::PathBuf;
        let at = |secs| Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let before = [
            (PathBuf::from("/e2e/kept"), (1, at(1))),
            (PathBuf::from("/e2e/rewritten"), (1, at(1))),
            (PathBuf::from("/e2e/gone"), (1, at(1))),
        ]
        .into_iter()
        .collect();
        let after = [
            (PathBuf::from("/e2e/kept"), (1, at(1))),
            (PathBuf::from("/e2e/rewritten"), (1, at(2))),
            (PathBuf::from("/e2e/new"), (1, at(2))),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            super::changed_files(&before, &after),
            ["/e2e/new", "/e2e/rewritten", "/e2e/gone (removed)"]
        );
        assert!(super::changed_files(&before, &before).is_empty());
    }
}
