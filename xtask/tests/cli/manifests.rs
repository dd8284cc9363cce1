//! `e2e --manifests DIR`: a folder of the user's own manifests drives the run, its stack
//! derived from what it deploys; a folder that holds no stack is refused before anything
//! runs.

use kind_sim::Scenario;

use super::*;

/// A copy of a shipped stack's manifests, as a user's own folder elsewhere.
fn users_copy_of(stack: &str) -> tempfile::TempDir {
    let dir = crate::scratch();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests")
        .join(stack);
    for entry in std::fs::read_dir(&shipped).expect("shipped manifests") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

#[test]
fn a_users_folder_drives_the_run_and_names_its_stack() {
    let users = users_copy_of("headlamp");
    let folder = users.path().to_str().expect("utf-8 path");
    let (out, _dir) = e2e_with(
        "users-manifests",
        Scenario::Healthy,
        &["--manifests", folder, "--no-load", "--timeout", "60s"],
        &[],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for wanted in [
        "headlamp::node_metrics::users-manifests-worker",
        "metrics_server::apiservice",
        folder,
    ] {
        assert!(all.contains(wanted), "{wanted:?} in:\n{all}");
    }
}

#[test]
fn a_folder_without_a_known_stack_is_refused_before_anything_runs() {
    let dir = crate::scratch();
    std::fs::write(
        dir.path().join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'nginx:1.29'}]}\n",
    )
    .expect("write");
    let out = xtask()
        .args(["e2e", "--manifests"])
        .arg(dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for wanted in [
        "hold no stack this harness knows",
        "kubernetes-dashboard-amd64 (heapster stack)",
        "kubernetesui/dashboard (metrics-server stack)",
        "headlamp-k8s/headlamp (headlamp stack)",
        "--stack",
    ] {
        assert!(all.contains(wanted), "{wanted:?} in:\n{all}");
    }
    // Refused before the preflight: no tool was looked for.
    assert!(!all.contains("kind"), "nothing ran:\n{all}");
}
