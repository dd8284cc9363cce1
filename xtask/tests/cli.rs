//! The `cargo xtask` binary itself: a real Ctrl-C tears the cluster down, `check` maps
//! bad input to exit 2 with a message that names the problem, and `check` only reads.
//! The binary doubles as the fake `kind`/`docker` when linked under those names.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kind_sim::{Scenario, SimConfig, World, WorldConfig};

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.current_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace"),
    );
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Send SIGINT, as Ctrl-C does, and collect what the process printed.
fn ctrl_c(child: std::process::Child) -> Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("xtask exits")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stack_images() -> Vec<String> {
    heapster_e2e::versions::STACK_IMAGES
        .iter()
        .map(|i| i.reference())
        .collect()
}

/// What the fake registry serves: the stack and the load image.
fn registry() -> Vec<(String, Option<String>)> {
    stack_images()
        .into_iter()
        .chain([heapster_e2e::versions::LOAD_IMAGE.reference()])
        .map(|i| (i, None))
        .collect()
}

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

/// A simulated cluster and a kubeconfig file for it.
fn sim(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    with_stack: bool,
) -> (kind_sim::ClusterHandle, tempfile::TempDir, PathBuf) {
    let mut config = SimConfig::scenario("sim", scenario);
    config.preloaded_images = stack_images();
    config
        .preloaded_images
        .push(heapster_e2e::versions::LOAD_IMAGE.reference());
    let handle = rt.block_on(kind_sim::start(config)).expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = dir.path().join("kubeconfig");
    handle.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    if with_stack {
        let client = rt
            .block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))
            .expect("client");
        let docs = heapster_e2e::manifests::load_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests"),
        )
        .expect("manifests");
        rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))
            .expect("apply");
        let wanted = heapster_e2e::manifests::deployments(&docs);
        rt.block_on(heapster_e2e::pipeline::rollout::wait(
            &client,
            &wanted,
            Duration::from_secs(60),
            &heapster_e2e::cancel::Cancel::new(),
        ))
        .expect("rollout");
    }
    (handle, dir, kubeconfig)
}

fn check(kubeconfig: &Path, extra: &[&str]) -> Output {
    xtask()
        .arg("check")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--timeout", "20s"])
        .args(extra)
        .output()
        .expect("xtask runs")
}

#[test]
fn check_is_read_only_and_passes_on_a_healthy_cluster() {
    let rt = rt();
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let before = handle.requests().len();
    let out = check(&kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("CPU (m)") && report.contains("pods with metrics"),
        "summary table:\n{report}"
    );
    let writes: Vec<(String, String)> = handle.requests()[before..]
        .iter()
        .filter(|(method, url)| {
            method != "GET"
                && !(method == "POST"
                    && url.ends_with("/services/https:kubernetes-dashboard:/proxy/api/v1/login"))
        })
        .cloned()
        .collect();
    assert!(writes.is_empty(), "check wrote to the cluster: {writes:?}");
}

#[test]
fn check_filters_and_exit_codes_follow_the_failing_checks() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::NoHeapsterService, true);
    let out = check(&kubeconfig, &["--", "heapster::health", "--exact"]);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing check exits 1:\n{all}"
    );
    assert!(
        all.contains("1 failed") && all.contains("no heapster service"),
        "{all}"
    );
    assert!(
        !all.contains("workloads::"),
        "the filter selects one trial:\n{all}"
    );
    let listed = check(&kubeconfig, &["--", "--list"]);
    assert!(
        text(&listed).contains("dashboard::log: test"),
        "{}",
        text(&listed)
    );
}

#[test]
fn check_rejects_bad_input_with_exit_2_and_a_reason() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tmp");
    let missing = check(&dir.path().join("nope"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("cannot read kubeconfig"),
        "{}",
        text(&missing)
    );

    let malformed = dir.path().join("malformed");
    std::fs::write(&malformed, "clusters: [unclosed").expect("write");
    let out = check(&malformed, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot read kubeconfig"),
        "{}",
        text(&out)
    );

    let (handle, _sim_dir, kubeconfig) = sim(&rt, Scenario::Healthy, false);
    let out = check(&kubeconfig, &["--context", "kind-elsewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .contains("context \"kind-elsewhere\" is not in the kubeconfig (it has: kind-sim)"),
        "{}",
        text(&out)
    );

    let out = check(&kubeconfig, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a cluster without the stack cannot be checked"
    );
    assert!(
        text(&out).contains("none of the stack's Deployments"),
        "{}",
        text(&out)
    );

    let unreachable = dir.path().join("unreachable");
    let config = std::fs::read_to_string(&kubeconfig)
        .expect("read")
        .replace(&handle.addr.to_string(), "127.0.0.1:1");
    std::fs::write(&unreachable, config).expect("write");
    let out = check(&unreachable, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot reach the API server at https://127.0.0.1:1"),
        "{}",
        text(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = xtask()
        .args(["e2e", "--timeout", "90"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("use a number with a unit"),
        "{}",
        text(&out)
    );
    let out = xtask()
        .args(["e2e", "--k8s-version", "1.20", "--dry-run"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("1.37, 1.36, 1.35, 1.34"),
        "{}",
        text(&out)
    );
}

/// Run `xtask e2e` through fake kind/docker whose clusters behave as `scenario`.
fn e2e_through_fakes(
    name: &str,
    scenario: Scenario,
    timeout: &str,
    envs: &[(&str, &Path)],
) -> (Output, tempfile::TempDir) {
    let rt = rt();
    let registry = self::registry();
    let world = World::new(WorldConfig {
        registry,
        scenario,
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
    let mut cmd = xtask();
    cmd.args(["e2e", "--name", name, "--timeout", timeout, "--artifacts"])
        .arg(dir.path().join("artifacts"))
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .env("PATH", &bin)
        .env(kind_sim::shim::CONTROL_ENV, control.to_string())
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("kubeconfig"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // The world (and its clusters) live on `rt`, which must outlive the child.
    let out = cmd.output().expect("xtask runs");
    drop(rt);
    (out, dir)
}

#[test]
fn a_failing_run_keeps_the_evidence_junit_annotations_and_job_summary() {
    let summary_dir = tempfile::tempdir().expect("tmp");
    let summary = summary_dir.path().join("summary.md");
    let (out, dir) = e2e_through_fakes(
        "reported-failing",
        Scenario::DashboardWithoutProxyRights,
        "5s",
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &summary),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let artifacts = dir.path().join("artifacts");
    for file in [
        "timings.json",
        "metrics.json",
        "checks.json",
        "events.txt",
        "kind-logs",
        "pods",
        "objects",
        "responses",
    ] {
        assert!(
            artifacts.join(file).exists(),
            "{file} missing in {}:\n{all}",
            artifacts.display()
        );
    }
    let pod_logs: Vec<_> = std::fs::read_dir(artifacts.join("pods"))
        .expect("pods")
        .collect();
    assert!(pod_logs.len() >= 4, "stack pod logs kept");
    assert!(
        std::fs::read_dir(artifacts.join("objects"))
            .expect("objects")
            .any(|e| e
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("Deployment_kube-system_kubernetes-dashboard")),
        "YAML of the object behind the failing checks"
    );

    let checks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(artifacts.join("checks.json")).expect("checks.json"),
    )
    .expect("json");
    let mut failed: Vec<String> = checks["checks"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["passed"] == false && c["ignored"] == false)
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    failed.sort();
    assert!(failed.iter().any(|f| f == "dashboard::log"), "{failed:?}");

    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let suite = &report.test_suites[0];
    assert!(
        suite.name.as_str().contains("Kubernetes 1.37"),
        "{}",
        suite.name.as_str()
    );
    let mut junit_failed: Vec<String> = suite
        .test_cases
        .iter()
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
        .map(|c| c.name.as_str().to_string())
        .collect();
    junit_failed.sort();
    assert_eq!(
        junit_failed, failed,
        "JUnit failures match the failing trials"
    );

    assert!(
        all.contains("::group::Preflight") && all.contains("::endgroup::"),
        "a group per phase:\n{all}"
    );
    // One annotation per known cause, then per failing check without one; ten at most.
    let failing: Vec<&serde_json::Value> = checks["checks"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["passed"] == false && c["ignored"] == false)
        .collect();
    let mut causes: Vec<&str> = failing
        .iter()
        .flat_map(|c| c["causes"].as_array().expect("causes"))
        .map(|c| c["cause"].as_str().expect("cause"))
        .collect();
    causes.sort();
    causes.dedup();
    assert!(!causes.is_empty(), "a known cause: {failing:?}");
    let unexplained = failing
        .iter()
        .filter(|c| c["causes"].as_array().is_some_and(|a| a.is_empty()))
        .count();
    assert_eq!(
        all.matches("::error title=").count(),
        (causes.len() + unexplained).min(10),
        "one annotation per cause, then per unexplained failure:\n{all}"
    );
    for cause in causes {
        assert_eq!(
            all.matches(&format!("cause: {cause}")).count(),
            2,
            "once on the terminal, once annotated: {cause}\n{all}"
        );
    }
    let md = std::fs::read_to_string(&summary).expect("job summary written");
    assert!(
        md.contains("| node | CPU (m) | memory (MiB) |") && md.contains("### Timings"),
        "{md}"
    );
    assert!(all.contains("Timings"), "timing table:\n{all}");
}

#[test]
fn a_passing_run_keeps_only_the_small_files() {
    let (out, dir) = e2e_through_fakes("reported-passing", Scenario::Healthy, "60s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut kept: Vec<String> = std::fs::read_dir(dir.path().join("artifacts"))
        .expect("artifacts")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, ["checks.json", "metrics.json", "timings.json"]);
    let timings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("artifacts/timings.json")).expect("timings"),
    )
    .expect("json");
    let phases: Vec<&str> = timings["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "Preflight",
            "Manifests",
            "Images",
            "Cluster",
            "Load",
            "Apply",
            "Rollout",
            "Load generators",
            "Checks",
            "Teardown"
        ],
        "timings.json is written again after teardown"
    );
    assert!(timings["first_metrics_seconds"].is_number(), "{timings}");
    assert!(
        text(&out).contains("First metrics"),
        "timing table:\n{}",
        text(&out)
    );
}

#[test]
fn a_saved_report_shows_what_changed_state_later() {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("before.json");
    let (_healthy, _d1, healthy_kc) = sim(&rt, Scenario::Healthy, true);
    let out = check(&healthy_kc, &["--report", report.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_broken, _d2, broken_kc) = sim(&rt, Scenario::NoHeapsterService, true);
    let out = check(&broken_kc, &["--compare", report.to_str().expect("utf-8")]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("Compared with the report from v1.37.0")
            && all.contains("BROKE  heapster::health: no heapster service"),
        "{all}"
    );
    let bad = check(&broken_kc, &["--compare", "/nonexistent.json"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn check_with_load_creates_the_load_and_deletes_it() {
    let rt = rt();
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let before = handle.requests().len();
    let out = check(&kubeconfig, &["--with-load"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("ground_truth::cpu") && all.contains("ground truth cpu: target 100m"),
        "{all}"
    );
    let requests = &handle.requests()[before..];
    assert!(
        requests
            .iter()
            .any(|(m, u)| m == "PATCH" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-")),
        "the load was created"
    );
    assert!(
        requests
            .iter()
            .any(|(m, u)| m == "DELETE" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-")),
        "and deleted"
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
