//! Every interrupt: one line, clean-up, exit 2. A closed stdout stops the output only.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kind_sim::{Scenario, World, WorldConfig};

use super::*;

#[test]
fn ctrl_c_during_the_rollout_deletes_the_cluster() {
    let rt = rt();
    let registry = self::registry();
    // A slow first batch keeps the rollout waiting for heapster's readiness probe.
    let world = World::new(WorldConfig {
        registry,
        scenario: Scenario::SlowFirstBatch,
        ..Default::default()
    });
    let control = rt.block_on(world.serve()).expect("control");
    let dir = tempfile::tempdir().expect("tmp");
    let bin = kind_sim::shim::install(
        &dir.path().join("bin"),
        Path::new(env!("CARGO_BIN_EXE_xtask")),
        kind_sim::shim::TOOLS,
    )
    .expect("fakes");
    let mut child = xtask()
        .args(["e2e", "--name", "interrupted", "--timeout", "2m"])
        .env("PATH", &bin)
        .env(kind_sim::shim::CONTROL_ENV, control.to_string())
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("kubeconfig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let reached = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(120),
            world.wait_for_call("kind load docker-image"),
        )
        .await
    });
    if reached.is_err() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!(
            "the run never reached the load phase; calls {:?}\n{}",
            rt.block_on(world.calls()),
            text(&out)
        );
    }
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "interrupted runs exit 2:\n{all}"
    );
    assert!(all.contains("Interrupted: cleaning up"), "{all}");
    assert!(
        rt.block_on(world.calls())
            .iter()
            .any(|c| c.join(" ") == "kind delete cluster --name interrupted"),
        "teardown ran:\n{all}"
    );
    assert!(
        rt.block_on(world.cluster_names()).is_empty(),
        "no cluster left behind"
    );
}

#[test]
fn ctrl_c_during_check_with_load_deletes_the_load() {
    let rt = rt();
    // Skewed usage keeps the ground-truth checks waiting, so the signal lands mid-run.
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::ConsumerSkewed, true);
    let child = xtask()
        .arg("check")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--timeout", "2m", "--with-load"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let posted = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            handle.wait_for_request("POST /api/v1/namespaces/heapster-e2e-load-"),
        )
        .await
    });
    assert!(posted.is_ok(), "the load was started");
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "interrupted runs exit 2:\n{all}"
    );
    assert!(
        all.contains("Interrupted: cleaning up")
            && all.contains("error: interrupted while the checks ran")
            && all.contains("deleted the load namespace"),
        "one line, clean-up, and why it stopped:\n{all}"
    );
    assert!(
        all.contains(" 0 failed, ") && all.contains(" interrupted\n"),
        "interrupted checks are counted as such, not as failures:\n{all}"
    );
    assert!(
        handle
            .requests()
            .iter()
            .any(|(m, u)| m == "DELETE" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-")),
        "the load namespace was deleted:\n{all}"
    );
}

/// Start `xtask e2e` on fake kind/docker whose clusters behave as `scenario`; the world
/// must outlive the child, so it is returned with it.
fn spawn_e2e(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    name: &str,
    dir: &Path,
) -> (std::sync::Arc<World>, std::process::Child) {
    let world = World::new(WorldConfig {
        registry: registry(),
        scenario,
        ..Default::default()
    });
    let control = rt.block_on(world.serve()).expect("control");
    let bin = kind_sim::shim::install(
        &dir.join("bin"),
        Path::new(env!("CARGO_BIN_EXE_xtask")),
        kind_sim::shim::TOOLS,
    )
    .expect("fakes");
    let child = xtask()
        .args(["e2e", "--name", name, "--timeout", "2m", "--artifacts"])
        .arg(dir.join("artifacts"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .env("PATH", &bin)
        .env(kind_sim::shim::CONTROL_ENV, control.to_string())
        .env("HOME", dir)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    (world, child)
}

#[test]
fn ctrl_c_during_the_checks_exits_2_reports_them_interrupted_and_deletes_the_cluster() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tmp");
    // Zero metrics keep the metric checks waiting for a state that could still heal.
    let (world, child) = spawn_e2e(&rt, Scenario::ZeroMetrics, "interrupted-checks", dir.path());
    let checking = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(120),
            world.wait_for_cluster_request(
                "interrupted-checks",
                "GET /api/v1/namespaces/kube-system/services/heapster/proxy/api/v1/model/nodes/",
            ),
        )
        .await
    });
    assert!(
        checking.is_ok(),
        "the checks never asked heapster for node metrics"
    );
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an interrupt is not the stack's failure:\n{all}"
    );
    assert!(
        all.contains("Interrupted: cleaning up")
            && all.contains("error: interrupted while the checks ran"),
        "{all}"
    );
    assert!(
        all.contains(" 0 failed, ") && all.contains(" interrupted"),
        "{all}"
    );
    assert!(
        rt.block_on(world.cluster_names()).is_empty(),
        "the cluster was deleted:\n{all}"
    );
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit");
    let suite = &report.test_suites[0];
    assert_eq!(
        suite.failures, 0,
        "interrupted checks are skipped, not failed:\n{xml}"
    );
    assert!(suite.skipped > 0, "{xml}");
}

#[test]
fn ctrl_c_during_check_exits_2_with_one_line() {
    let rt = rt();
    // Zero metrics: the metric checks wait until the deadline, unless interrupted.
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::ZeroMetrics, true);
    let child = xtask()
        .arg("check")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--timeout", "2m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let asked = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            handle.wait_for_request(
                "GET /api/v1/namespaces/kube-system/services/heapster/proxy/api/v1/model/nodes/",
            ),
        )
        .await
    });
    assert!(asked.is_ok(), "the checks never asked heapster");
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(all.matches("Interrupted: cleaning up").count(), 1, "{all}");
    assert!(
        all.contains("error: interrupted while the checks ran"),
        "{all}"
    );
}

#[test]
fn a_closed_stdout_stops_the_output_not_the_teardown() {
    use std::io::BufRead as _;
    let rt = rt();
    let dir = tempfile::tempdir().expect("tmp");
    let (world, mut child) = spawn_e2e(&rt, Scenario::Healthy, "closed-pipe", dir.path());
    // `| head -3`: read three lines, then close the pipe.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for _ in 0..3 {
        lines.next().expect("a line").expect("text");
    }
    drop(lines);
    let out = child.wait_with_output().expect("xtask exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "a panic:\n{stderr}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run itself passed:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        rt.block_on(world.calls())
            .iter()
            .any(|c| c.join(" ") == "kind delete cluster --name closed-pipe"),
        "teardown ran:\n{stderr}"
    );
    assert!(
        rt.block_on(world.cluster_names()).is_empty(),
        "no cluster left behind"
    );
}
