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

#[test]
fn ctrl_c_during_the_rollout_deletes_the_cluster() {
    let rt = rt();
    let registry = stack_images().into_iter().map(|i| (i, None)).collect();
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
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("xtask exits");
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
        rt.block_on(heapster_e2e::apply::apply(&client, &docs, |_| {}))
            .expect("apply");
        let wanted = heapster_e2e::manifests::deployments(&docs);
        rt.block_on(heapster_e2e::rollout::wait(
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
