//! Each way the simulated cluster can break: the suite goes red, the right check fails,
//! and its message names the cause. Certain failures are asserted to end on their cause
//! under a long timeout (not on "still failing after ..."); states that can heal are
//! given a short timeout and must report their last reason.

use std::time::Duration;

use heapster_e2e::checks::run::Outcome;
use heapster_e2e::pipeline::rollout::RolloutError;
use kind_sim::Scenario;
use libtest_mimic::Trial;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::pipeline::{self, ChecksMode};
use heapster_e2e::report::Report;
use kind_sim::WorldConfig;

use super::copy_manifests;
use super::pipeline::options as pipeline_options;
use super::upgrade::without_heapster_readiness_probe;
use super::{
    Fakes, SimStack, TestResult, check_config, failures, manifests_dir, outcome, passed,
    stack_images,
};
use super::{Group, Rt};
use crate::ensure;

/// Long enough that reaching it would mean the harness waited instead of failing fast.
const LONG: Duration = Duration::from_secs(120);
/// For states that can heal: how long they are given in these tests.
const SHORT: Duration = Duration::from_secs(3);

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "scenario");
    vec![
        g.trial("healthy", healthy),
        g.trial("no_heapster_service", no_heapster_service),
        g.trial("slow_first_batch_is_waited_for", slow_first_batch),
        g.trial("node_missing_from_heapster", node_missing_from_heapster),
        g.trial("zero_metrics", zero_metrics),
        g.trial("stale_metrics", stale_metrics),
        g.trial("dashboard_never_connects", dashboard_never_connects),
        g.trial("pods_without_metrics", pods_without_metrics),
        g.trial("transient_api_errors", transient_api_errors),
        g.trial("crash_loop", crash_loop),
        g.trial("image_not_loaded", image_not_loaded),
        g.trial("not_ready_node", not_ready_node),
        g.trial("zero_nodes", zero_nodes),
        g.trial(
            "dashboard_without_proxy_rights",
            dashboard_without_proxy_rights,
        ),
        g.trial("checks_without_rights", checks_without_rights),
    ]
}

/// Bring the shipped stack up on a simulated cluster of `scenario`, then run the checks.
/// `cargo xtask e2e`'s pipeline, through fake kind and docker whose clusters behave as
/// `scenario`; the checks get `timeout`. Returns the checks' outcomes; the exit code must
/// agree with them.
fn run(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    timeout: Duration,
) -> Result<Vec<Outcome>, libtest_mimic::Failed> {
    run_pipeline(rt, scenario, timeout, &manifests_dir()).map(|(outcomes, _)| outcomes)
}

fn run_pipeline(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    timeout: Duration,
    manifests: &std::path::Path,
) -> Result<(Vec<Outcome>, Fakes), libtest_mimic::Failed> {
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            registry: Fakes::registry_with_stack(),
            scenario,
            ..Default::default()
        },
    );
    let mut opts = pipeline_options(&fakes);
    opts.manifests = manifests.to_path_buf();
    opts.checks = check_config(timeout);
    opts.keep = true;
    let report = Report::new(false);
    let result = pipeline::run(
        &fakes.shell(),
        rt,
        &opts,
        ChecksMode::Collect,
        &Cancel::new(),
        &report,
    );
    let want = if failures(&result.outcomes).is_empty() {
        0
    } else {
        1
    };
    ensure!(
        result.error.is_none() && result.exit == want,
        "exit {} ({:?}) for failures {:?}\n{}",
        result.exit,
        result.error,
        failures(&result.outcomes),
        report.lines().join("\n")
    );
    Ok((result.outcomes, fakes))
}

fn expect_fail(outcomes: &[Outcome], name: &str, cause: &str) -> TestResult {
    let o = outcome(outcomes, name);
    ensure!(
        !o.passed,
        "{name} passed, expected it to fail with {cause:?}: {}",
        o.message
    );
    ensure!(
        o.text().contains(cause),
        "{name} failed for another reason than {cause:?}: {}",
        o.text()
    );
    Ok(())
}

/// Failed on its cause, not by running into the deadline.
fn expect_fast_fail(outcomes: &[Outcome], name: &str, cause: &str) -> TestResult {
    expect_fail(outcomes, name, cause)?;
    let o = outcome(outcomes, name);
    ensure!(
        !o.message.starts_with("still failing after"),
        "{name} waited for the deadline instead of failing on its cause: {}",
        o.message
    );
    Ok(())
}

fn expect_all_pass(outcomes: &[Outcome]) -> TestResult {
    let failed = failures(outcomes);
    ensure!(
        failed.is_empty(),
        "checks failed on a healthy cluster:\n{}",
        failed.join("\n")
    );
    ensure!(
        outcomes.iter().all(|o| !o.ignored),
        "checks were ignored: {:?}",
        outcomes.iter().filter(|o| o.ignored).collect::<Vec<_>>()
    );
    Ok(())
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::Healthy, LONG)?;
    expect_all_pass(&outcomes)?;
    for node in ["e2e-control-plane", "e2e-worker", "e2e-worker2"] {
        let o = outcome(&outcomes, &format!("heapster::node_metrics::{node}"));
        ensure!(
            o.message.contains("cpu/usage_rate") && o.message.contains("MiB"),
            "node metrics should carry the numbers: {}",
            o.message
        );
        outcome(&outcomes, &format!("nodes::ready::{node}"));
    }
    ensure!(
        outcomes
            .iter()
            .any(|o| o.name.starts_with("heapster::pod_metrics::coredns-")),
        "CoreDNS pods must be checked"
    );
    ensure!(
        outcomes
            .iter()
            .any(|o| o.name.starts_with("heapster::pod_metrics::heapster-")),
        "the stack's own pods must be checked"
    );
    Ok(())
}

fn no_heapster_service(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::NoMetricsService, LONG)?;
    expect_fast_fail(&outcomes, "heapster::health", "no heapster service")?;
    expect_fast_fail(&outcomes, "dashboard::log", "no heapster service")?;
    expect_fast_fail(&outcomes, "heapster::nodes", "no heapster service")?;
    passed(
        &outcomes,
        "workloads::heapster",
        "the heapster Deployment itself is fine",
    )
}

/// Heapster's first batch comes 3 s after it starts. Without its readiness probe the
/// rollout does not absorb that, so the checks start before the batch: with too little
/// patience they are red on heapster's own answer (proof they saw the early state), with
/// enough they wait for it and pass.
fn slow_first_batch(rt: &tokio::runtime::Runtime) -> TestResult {
    let manifests = copy_manifests(without_heapster_readiness_probe)?;
    let (impatient, _) = run_pipeline(
        rt,
        Scenario::SlowFirstBatch,
        Duration::from_millis(500),
        manifests.path(),
    )?;
    expect_fail(
        &impatient,
        "heapster::health",
        "heapster has not scraped yet",
    )?;
    let (patient, _) = run_pipeline(rt, Scenario::SlowFirstBatch, LONG, manifests.path())?;
    expect_all_pass(&patient)
}

fn node_missing_from_heapster(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::NodeMissingFromHeapster, SHORT)?;
    expect_fail(
        &outcomes,
        "heapster::nodes",
        "missing from heapster: e2e-worker2",
    )?;
    expect_fail(
        &outcomes,
        "heapster::node_metrics::e2e-worker2",
        "no points",
    )?;
    passed(
        &outcomes,
        "heapster::node_metrics::e2e-worker",
        "other nodes are fine",
    )
}

fn zero_metrics(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::ZeroMetrics, SHORT)?;
    expect_fail(
        &outcomes,
        "heapster::node_metrics::e2e-worker",
        "latest value is 0 (expected above zero)",
    )?;
    expect_fail(&outcomes, "dashboard::node_metrics", "above zero")
}

/// Heapster's housekeeping stalled 40 minutes ago. Its `/healthz` then fails ("No current
/// data batch available"), so with the shipped readiness probe it never becomes Ready and
/// the rollout names why; without the probe its stale series are served and judged.
fn stale_metrics(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = SimStack::start(rt, "sim", Scenario::StaleMetrics, stack_images());
    match stack.apply_and_wait(rt, &manifests_dir(), SHORT) {
        Err(RolloutError::Timeout { evidence, .. }) => ensure!(
            evidence.contains("readiness probe of heapster (GET /healthz) answers 500")
                && evidence.contains("No current data batch available"),
            "the probe's own answer is the evidence: {evidence}"
        ),
        other => return Err(format!("expected heapster to stay unready, got {other:?}").into()),
    }
    let dir = copy_manifests(without_heapster_readiness_probe)?;
    let stack = SimStack::start(rt, "sim", Scenario::StaleMetrics, stack_images());
    stack
        .apply_and_wait(rt, dir.path(), LONG)
        .map_err(|e| format!("without a readiness probe heapster is served: {e}"))?;
    let outcomes = stack.run_checks(rt, check_config(SHORT));
    expect_fail(
        &outcomes,
        "heapster::node_metrics::sim-worker",
        "old (limit 2m)",
    )?;
    let message = &outcome(&outcomes, "heapster::node_metrics::sim-worker").message;
    ensure!(
        message.contains("latest point is 39m") || message.contains("latest point is 40m"),
        "the age is named: {message}"
    );
    expect_fail(&outcomes, "heapster::health", "latest data batch is stale")?;
    expect_fail(&outcomes, "influxdb::node_series", "old")
}

/// The dashboard's node lost its route to the API server after the dashboard started:
/// its health checks and its logins time out, while heapster itself is fine.
fn dashboard_never_connects(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::DashboardNeverConnects, SHORT)?;
    expect_fail(
        &outcomes,
        "dashboard::log",
        "dial tcp 10.96.0.1:443: i/o timeout",
    )?;
    expect_fail(&outcomes, "dashboard::log", "kube-proxy")?;
    expect_fail(&outcomes, "dashboard::heapster_state", "not connected")?;
    expect_fail(&outcomes, "dashboard::node_metrics", "i/o timeout")?;
    passed(&outcomes, "heapster::health", "heapster itself is healthy")
}

fn pods_without_metrics(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::PodsWithoutMetrics, SHORT)?;
    let pod_checks: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.name.starts_with("heapster::pod_metrics::"))
        .collect();
    ensure!(!pod_checks.is_empty(), "pods must be checked");
    for o in pod_checks {
        expect_fail(&outcomes, &o.name, "no points")?;
    }
    passed(
        &outcomes,
        "heapster::node_metrics::e2e-worker",
        "node metrics are fine",
    )
}

fn transient_api_errors(rt: &tokio::runtime::Runtime) -> TestResult {
    let (outcomes, fakes) = run_pipeline(rt, Scenario::TransientApiErrors, LONG, &manifests_dir())?;
    expect_all_pass(&outcomes)?;
    let requests = rt
        .block_on(fakes.world.with_cluster("e2e", |h| h.requests()))
        .ok_or("the cluster is kept")?;
    let healthz = requests
        .iter()
        .filter(|(_, u)| u.ends_with("/services/heapster/proxy/healthz"))
        .count();
    ensure!(
        healthz >= 3,
        "the fault was not exercised: {healthz} healthz requests"
    );
    Ok(())
}

fn crash_loop(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = SimStack::start(rt, "sim", Scenario::CrashLoop, stack_images());
    match stack.apply_and_wait(rt, &manifests_dir(), LONG) {
        Err(RolloutError::Stuck { problem, evidence }) => {
            ensure!(
                problem.reason == "CrashLoopBackOff" && problem.container == "heapster",
                "wrong cause: {problem}"
            );
            ensure!(
                problem.pod.starts_with("kube-system/heapster-"),
                "wrong pod: {problem}"
            );
            ensure!(
                evidence.contains("previous container")
                    && evidence.contains("exiting with status 1"),
                "the crash log is the evidence: {evidence}"
            );
        }
        other => {
            return Err(
                format!("expected the rollout to stop on CrashLoopBackOff, got {other:?}").into(),
            );
        }
    }
    let outcomes = stack.run_checks(rt, check_config(LONG));
    expect_fast_fail(&outcomes, "workloads::heapster", "CrashLoopBackOff")?;
    expect_fast_fail(&outcomes, "heapster::health", "CrashLoopBackOff")
}

fn image_not_loaded(rt: &tokio::runtime::Runtime) -> TestResult {
    // Every image is offered; the scenario's fault keeps grafana's off the nodes.
    let stack = SimStack::start(rt, "sim", Scenario::ImageNotLoaded, stack_images());
    match stack.apply_and_wait(rt, &manifests_dir(), LONG) {
        Err(RolloutError::Stuck { problem, .. }) => {
            ensure!(
                problem.reason == "ErrImagePull" || problem.reason == "ImagePullBackOff",
                "wrong cause: {problem}"
            );
            ensure!(
                problem.pod.contains("monitoring-grafana")
                    && problem.message.contains("heapster-grafana-amd64"),
                "the message names pod and image: {problem}"
            );
            Ok(())
        }
        other => Err(format!(
            "expected the rollout to stop on an image pull failure, got {other:?}"
        )
        .into()),
    }
}

fn not_ready_node(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::NotReadyNode, SHORT)?;
    expect_fail(&outcomes, "nodes::ready::e2e-worker2", "NotReady")?;
    // The NotReady node is the nodes check's to report, not heapster's.
    passed(
        &outcomes,
        "heapster::nodes",
        "heapster lists every Ready node",
    )?;
    ensure!(
        !outcomes
            .iter()
            .any(|o| o.name == "heapster::node_metrics::e2e-worker2"),
        "no metrics check for a node that was NotReady at the start"
    );
    Ok(())
}

fn zero_nodes(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = SimStack::start(rt, "sim", Scenario::ZeroNodes, stack_images());
    // The rollout stops on the cause, not at its deadline ("0/1 available").
    match stack.apply_and_wait(rt, &manifests_dir(), LONG) {
        Err(RolloutError::NoNodes) => {}
        other => {
            return Err(
                format!("expected the rollout to stop on zero nodes, got {other:?}").into(),
            );
        }
    }
    let docs = heapster_e2e::manifests::load_dir(&manifests_dir()).expect("manifests");
    rt.block_on(heapster_e2e::pipeline::apply::apply(
        &stack.client,
        &docs,
        |_| {},
    ))
    .map_err(|e| format!("apply: {e}"))?;
    let outcomes = stack.run_checks(rt, check_config(LONG));
    expect_fast_fail(&outcomes, "nodes::count", "zero nodes")?;
    expect_fast_fail(&outcomes, "heapster::health", "zero nodes")
}

/// The checks' read-only account loses its rules: the dashboard's lists, read as that
/// account, are refused. A 403 for the checks' identity is certain: red at once, with the
/// account's manifest as the fix, while heapster and the dashboard themselves are fine.
fn checks_without_rights(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = run(rt, Scenario::ChecksWithoutRights, LONG)?;
    for name in ["dashboard::node_metrics", "dashboard::pod_metrics"] {
        expect_fast_fail(&outcomes, name, "cannot list resource")?;
        expect_fail(&outcomes, name, "manifests/60-dashboard-checks.yaml")?;
    }
    for name in ["heapster::health", "dashboard::log"] {
        passed(&outcomes, name, "fine")?;
    }
    Ok(())
}

/// The dashboard's Role is what lets it reach heapster: without the `services/proxy`
/// rule the simulated API server refuses it, as a real one would.
fn dashboard_without_proxy_rights(rt: &tokio::runtime::Runtime) -> TestResult {
    let (outcomes, _) = run_pipeline(
        rt,
        Scenario::DashboardWithoutProxyRights,
        LONG,
        &manifests_dir(),
    )?;
    // client-go's DoRaw shows a JSON 403 as "unknown"; asked as the dashboard's account
    // (impersonated), the API server's 403 makes it certain at once; the hint names the Role.
    expect_fast_fail(
        &outcomes,
        "dashboard::log",
        "unknown (get services heapster)",
    )?;
    expect_fast_fail(
        &outcomes,
        "dashboard::log",
        "cannot get resource \"services/proxy\"",
    )?;
    expect_fail(
        &outcomes,
        "dashboard::log",
        "give the dashboard's Role `get` on `services/proxy`",
    )?;
    passed(
        &outcomes,
        "heapster::health",
        "heapster itself is reachable with the harness's credentials",
    )
}
