//! `check`: read-only, filtered, saved and compared, with load.

use std::time::Duration;

use kind_sim::Scenario;

use super::*;

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
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::NoMetricsService, true);
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

/// A simulated cluster playing a scenario of the other stack is refused (exit 2) before
/// any check: it would be green for nothing.
#[test]
fn check_refuses_a_scenario_of_the_other_stack() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::InsecureTlsMissing, false);
    let out = check(&kubeconfig, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("scenario `insecure-tls-missing`")
            && all.contains("pass --stack metrics-server")
            && !all.contains("nodes::count"),
        "{all}"
    );
}

#[test]
fn a_saved_report_shows_what_changed_state_later() {
    let rt = rt();
    let dir = crate::scratch();
    let report = dir.path().join("before.json");
    let (_healthy, _d1, healthy_kc) = sim(&rt, Scenario::Healthy, true);
    let out = check(&healthy_kc, &["--report", report.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_broken, _d2, broken_kc) = sim(&rt, Scenario::NoMetricsService, true);
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
fn check_waits_for_a_stack_applied_a_moment_ago() {
    let rt = rt();
    // Pods take four seconds to start, far longer than the xtask takes to plan; that it
    // waited is read from its Stack line (a check that did not wait reports ~0 s there and
    // plans no dashboard pod).
    let mut config = kind_sim::SimConfig::scenario("sim", Scenario::Healthy);
    config.timing.pod_start = Duration::from_secs(4);
    let (_handle, _dir, kubeconfig) = sim_with(&rt, config, Stack::Applied);
    let out = check(&kubeconfig, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("Stack [") && all.contains("Deployments available"),
        "{all}"
    );
    assert!(
        all.contains("test heapster::pod_metrics::kubernetes-dashboard-"),
        "the stack's pods are planned once running:\n{all}"
    );
    let waited: f64 = all
        .lines()
        .find_map(|l| {
            l.split("Stack [")
                .nth(1)?
                .split("s]")
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .expect("a Stack line with its time");
    assert!(
        waited >= 1.0,
        "the check waited for the pods: {waited}s\n{all}"
    );
    // Said while waiting, as the checks' own waits do (every tenth of the deadline).
    assert!(
        all.lines()
            .any(|l| l.starts_with("waiting ") && l.contains("0/1 available")),
        "a waiting line during the stack's wait:\n{all}"
    );
}

#[test]
fn fewer_nodes_than_asked_for_fail_on_the_count_not_the_deadline() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    // Five minutes of patience: reaching them would mean the count was waited on.
    let out = check_cmd(
        &kubeconfig,
        &["--timeout", "5m", "--nodes", "5", "--", "nodes::count"],
    )
    .output()
    .expect("xtask runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("3 nodes (") && all.contains("expected 5"),
        "the count and the names:\n{all}"
    );
    assert!(!all.contains("still failing after"), "{all}");
}

/// `--context` picks the cluster, not the kubeconfig's current context: here the current
/// one points at a port nothing listens on.
#[test]
fn context_picks_the_cluster_over_the_current_one() {
    let rt = rt();
    let (_handle, dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let mut config =
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("the simulator's kubeconfig");
    let mut dead = config.clusters[0].clone();
    dead.name = "dead".into();
    if let Some(cluster) = dead.cluster.as_mut() {
        cluster.server = Some("https://127.0.0.1:1".into());
    }
    let mut context = config.contexts[0].clone();
    context.name = "dead".into();
    if let Some(c) = context.context.as_mut() {
        c.cluster = "dead".into();
    }
    config.clusters.push(dead);
    config.contexts.push(context);
    config.current_context = Some("dead".into());
    let two = dir.path().join("two-contexts");
    // JSON is YAML: kubeconfig readers take either.
    std::fs::write(&two, serde_json::to_string(&config).expect("json")).expect("write");
    let out = check(&two, &["--context", "kind-sim", "--", "nodes::count"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn evidence_goes_to_cargos_target_directory_not_the_workspaces() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let users_runs = heapster_e2e::pipeline::e2e_dir(&workspace());
    let before = kind_sim::files_under(&users_runs);
    let mut cmd = check_cmd(&kubeconfig, &["--timeout", "20s", "--", "nodes::count"]);
    let out = cmd.output().expect("xtask runs");
    assert_eq!(
        kind_sim::files_under(&users_runs),
        before,
        "the test's run must leave {} as it found it",
        users_runs.display()
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // CARGO_TARGET_DIR decides, as it does for cargo: these tests point it at a temp dir.
    assert!(
        cmd.target()
            .join("e2e/artifacts/check/checks.json")
            .is_file(),
        "the evidence is under CARGO_TARGET_DIR/e2e:\n{}",
        text(&out)
    );
}

#[test]
fn a_filter_that_matches_no_check_exits_2() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let out = check(&kubeconfig, &["--", "nosuchcheck"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "a typo must not pass:\n{all}");
    assert!(all.contains("no check matches \"nosuchcheck\""), "{all}");
}

#[test]
fn an_unreadable_dashboard_token_file_exits_2_naming_it() {
    let rt = rt();
    let (_handle, dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let out = check(
        &kubeconfig,
        &["--dashboard-token-file", "/nonexistent/token"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("cannot read --dashboard-token-file /nonexistent/token"),
        "{all}"
    );
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").expect("write");
    let out = check(
        &kubeconfig,
        &["--dashboard-token-file", empty.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is empty"), "{}", text(&out));
}

#[test]
fn compare_keys_pods_by_workload_across_a_redeploy() {
    use k8s_openapi::api::core::v1::Pod;
    let rt = rt();
    let dir = crate::scratch();
    let report = dir.path().join("before.json");
    let (_handle, _d, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    let out = check(&kubeconfig, &["--report", report.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Every pod of a Deployment or DaemonSet is recreated under a new name, as in a rollout.
    let client = rt
        .block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))
        .expect("client");
    let pods: kube::Api<Pod> = kube::Api::namespaced(client, "kube-system");
    let names = |pods: &kube::Api<Pod>| -> Vec<String> {
        rt.block_on(pods.list(&Default::default()))
            .expect("pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.owner_references.is_some())
            .filter_map(|p| p.metadata.name)
            .collect()
    };
    let before = names(&pods);
    for name in &before {
        rt.block_on(pods.delete(name, &Default::default()))
            .expect("delete");
    }
    let out = check(&kubeconfig, &["--compare", report.to_str().expect("utf-8")]);
    let all = text(&out);
    let after = names(&pods);
    assert!(
        after.iter().all(|n| !before.contains(n)) && after.len() >= before.len(),
        "every pod has a new name: {before:?} -> {after:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("no check changed state"),
        "recreated pods are neither new nor gone:\n{all}"
    );
}

#[test]
fn a_waiting_check_says_what_it_waits_for() {
    let rt = rt();
    // Zero metrics never heal: the metric checks wait until the deadline.
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::ZeroMetrics, true);
    let out = check_cmd(
        &kubeconfig,
        &["--timeout", "3s", "--", "heapster::node_metrics::"],
    )
    .output()
    .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.lines().any(|l| l.starts_with("waiting ")
            && l.contains(
                " of 3s: 3 checks, e.g. heapster::node_metrics::sim-control-plane: cpu/usage_rate: "
            )),
        "{all}"
    );
}

#[test]
fn check_annotates_and_summarises_under_github_actions() {
    let rt = rt();
    let (_handle, dir, kubeconfig) = sim(&rt, Scenario::NoMetricsService, true);
    let summary = dir.path().join("summary.md");
    let out = check_cmd(&kubeconfig, &["--timeout", "5s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("::error title=cause of "), "{all}");
    let md = std::fs::read_to_string(&summary).expect("a job summary");
    assert!(
        md.contains("heapster-e2e check") && md.contains("Service is missing"),
        "{md}"
    );
}

/// A simulated cluster with the Headlamp stack's images loaded and the heapster stack
/// `stack`.
fn with_headlamp_images(
    rt: &tokio::runtime::Runtime,
    stack: Stack,
) -> (
    kind_sim::ClusterHandle,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let mut config = SimConfig::scenario("sim", Scenario::Healthy);
    config.preloaded_images = heapster_e2e::versions::HEADLAMP_STACK_IMAGES
        .iter()
        .map(|i| i.reference())
        .collect();
    sim_with(rt, config, stack)
}

/// Apply the manifests in `dir` to the cluster of `kubeconfig`.
fn apply_dir(rt: &tokio::runtime::Runtime, kubeconfig: &Path, dir: &Path) {
    let client = rt
        .block_on(heapster_e2e::kubeclient::connect(Some(kubeconfig), None))
        .expect("client");
    let docs = heapster_e2e::manifests::load_dir(dir).expect("manifests");
    rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))
        .expect("apply");
}

#[test]
fn without_stack_check_judges_every_stack_it_finds() {
    let rt = rt();
    // The heapster stack, and beside it metrics-server and Headlamp.
    let (_handle, dir, kubeconfig) = with_headlamp_images(&rt, Stack::Ready);
    let headlamp = heapster_e2e::stack::Stack::Headlamp
        .manifests(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    apply_dir(&rt, &kubeconfig, &headlamp);
    let out = check(
        &kubeconfig,
        &[
            "--artifacts",
            dir.path().join("evidence").to_str().expect("utf-8"),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for wanted in [
        "this cluster runs the heapster and headlamp stacks: each is judged in turn",
        "Found the heapster stack:",
        "Found the headlamp stack:",
        "Headlamp v0.45.0: Deployment kube-system/headlamp",
        "heapster::health",
        "headlamp::config",
    ] {
        assert!(all.contains(wanted), "{wanted:?} in:\n{all}");
    }
    // Each stack's evidence in a folder of its own.
    for stack in ["heapster", "headlamp"] {
        assert!(
            dir.path().join("evidence").join(stack).is_dir(),
            "evidence of the {stack} stack"
        );
    }
}

#[test]
fn without_the_shipped_account_the_kubeconfig_user_logs_in() {
    let rt = rt();
    let (_handle, _dir, kubeconfig) = sim(&rt, Scenario::Healthy, true);
    // The read-only account's Secret is gone; its token is now the kubeconfig user's own
    // (beside kind's client certificate, which the API server authenticates first).
    let client = rt
        .block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))
        .expect("client");
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client, "kube-system");
    let secret = rt
        .block_on(secrets.get("heapster-e2e-checks-token"))
        .expect("the shipped Secret");
    let token = String::from_utf8(secret.data.expect("data")["token"].0.clone()).expect("utf-8");
    rt.block_on(secrets.delete("heapster-e2e-checks-token", &Default::default()))
        .expect("delete the Secret");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kubeconfig).expect("read")).expect("json");
    config["users"][0]["user"]["token"] = token.into();
    std::fs::write(&kubeconfig, config.to_string()).expect("write");
    let out = check(&kubeconfig, &["--", "dashboard::node_metrics", "--exact"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("dashboard::node_metrics")
            && all.contains("1 passed")
            && !all.contains("ignored,"),
        "the dashboard's list is read with the kubeconfig's token:\n{all}"
    );
}

#[test]
fn check_finds_a_relocated_ui_and_says_where() {
    let rt = rt();
    let (_handle, dir, kubeconfig) = with_headlamp_images(&rt, Stack::Absent);
    // The Headlamp stack with Headlamp and the checks' account in `ui`, as a release there.
    let shipped = heapster_e2e::stack::Stack::Headlamp
        .manifests(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let folder = dir.path().join("release");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(
        folder.join("00-namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ui}\n",
    )
    .expect("write");
    for file in [
        "10-metrics-server.yaml",
        "20-headlamp.yaml",
        "30-headlamp-checks.yaml",
    ] {
        let text = std::fs::read_to_string(shipped.join(file)).expect("read");
        let text = if file == "10-metrics-server.yaml" {
            text
        } else {
            text.replace("namespace: kube-system", "namespace: ui")
        };
        std::fs::write(folder.join(file), text).expect("write");
    }
    apply_dir(&rt, &kubeconfig, &folder);
    let out = check(&kubeconfig, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for wanted in [
        "Found the headlamp stack:",
        "Headlamp v0.45.0: Deployment ui/headlamp, Service ui/headlamp",
        "metrics-server v0.9.0: Deployment kube-system/metrics-server",
        "headlamp::node_metrics::sim-worker",
    ] {
        assert!(all.contains(wanted), "{wanted:?} in:\n{all}");
    }
    assert!(
        all.contains(", 0 ignored"),
        "the token is read beside the UI:\n{all}"
    );
}
