//! The Headlamp stack (`--stack headlamp`): green on a healthy simulated cluster with the
//! calibrated load, `--dry-run` naming its images, and red with the right cause when
//! metrics.k8s.io is unavailable behind a healthy Headlamp, when the token does not reach
//! the API server, when the checks' account lacks the metrics rights, and when Headlamp
//! serves no context by the name asked for.

use std::time::Duration;

use heapster_e2e::checks::run::Outcome;
use heapster_e2e::pipeline::{Options, RunResult};
use heapster_e2e::stack::Stack;
use kind_sim::{Scenario, WorldConfig};
use libtest_mimic::Trial;

use super::pipeline::{
    deployments_left, dry_run_of, expect_passed, healthy_with_load, red_run_of, run_on, world,
    world_playing,
};
use super::{Group, Rt, TestResult, failures, outcome, passed, root};
use crate::ensure;

/// Long enough that reaching it would mean the harness waited instead of failing fast.
const LONG: Duration = Duration::from_secs(120);
/// For a state that can heal (metrics.k8s.io unavailable): how long it is given.
const SHORT: Duration = Duration::from_secs(4);

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "headlamp");
    vec![
        g.trial("healthy_with_the_load", healthy),
        g.trial("dry_run_names_the_stack", dry_run),
        g.trial("scenario::apiservice_unavailable", apiservice_unavailable),
        g.trial("scenario::token_stripped", token_stripped),
        g.trial("scenario::insecure_tls_missing", insecure_tls_missing),
        g.trial("scenario::crash_loop", crash_loop),
        g.trial("scenario::no_metrics_service", no_metrics_service),
        g.trial("scenario::pods_without_metrics", pods_without_metrics),
        g.trial("scenario::zero_metrics", |rt| {
            let result = red_run(rt, Scenario::ZeroMetrics, SHORT)?;
            failed_on(
                &result.outcomes,
                "headlamp::node_metrics::",
                &["through Headlamp", "usage must be above zero"],
                false,
            )
        }),
        g.trial("scenario::not_ready_node", |rt| {
            let result = red_run(rt, Scenario::NotReadyNode, SHORT)?;
            failed_on(
                &result.outcomes,
                "nodes::ready::e2e-worker2",
                &["Kubelet stopped posting"],
                false,
            )
        }),
        g.trial("scenario::zero_nodes", |rt| {
            let result = red_run(rt, Scenario::ZeroNodes, LONG)?;
            let error = result.error.unwrap_or_default();
            ensure!(
                error.contains("zero nodes") && !error.contains("did not roll out within"),
                "stops on the cause: {error}"
            );
            Ok(())
        }),
        g.trial("scenario::transient_api_errors", |rt| {
            let (_fakes, result, report) =
                run_on(rt, scenario(Scenario::TransientApiErrors), on_stack);
            expect_passed(&result, &report)
        }),
        g.trial("scenario::checks_without_rights", checks_without_rights),
        g.trial("scenario::not_in_cluster", not_in_cluster),
        g.trial(
            "scenario::a_dashboard_scenario_is_refused",
            dashboard_scenario_refused,
        ),
        g.trial(
            "upgrade_from_metrics_server::keeps_node_metrics_on_screen",
            upgrade_from_metrics_server,
        ),
        g.trial("upgrade_from_metrics_server::dry_run", upgrade_dry_run),
    ]
}

fn on_stack(opts: &mut Options) {
    *opts = opts.clone().for_stack(&root(), Stack::Headlamp);
}

fn scenario(s: Scenario) -> WorldConfig {
    world_playing(s)
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = healthy_with_load(rt, Stack::Headlamp);
    expect_passed(&result, &report)?;
    let names: Vec<&str> = result.outcomes.iter().map(|o| o.name.as_str()).collect();
    for wanted in [
        "headlamp::config",
        "headlamp::node_metrics::e2e-worker",
        "headlamp::node_metrics::e2e-control-plane",
        "metrics_server::apiservice",
        "metrics_server::node_metrics::e2e-worker",
        "workloads::headlamp",
        "ground_truth::headlamp",
        "ground_truth::cpu",
    ] {
        ensure!(names.contains(&wanted), "no check {wanted}: {names:?}");
    }
    for prefix in [
        "headlamp::pod_metrics::headlamp-",
        "headlamp::pod_metrics::coredns-",
    ] {
        ensure!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no check {prefix}...: {names:?}"
        );
    }
    ensure!(
        !names
            .iter()
            .any(|n| n.starts_with("dashboard::") || n.starts_with("scraper::")),
        "no dashboard on this stack: {names:?}"
    );
    let config = outcome(&result.outcomes, "headlamp::config");
    ensure!(
        config.message.contains("\"main\""),
        "the context read from /config: {config:?}"
    );
    let node = outcome(&result.outcomes, "headlamp::node_metrics::e2e-worker");
    ensure!(
        node.message.contains("through Headlamp") && node.message.contains("cpu "),
        "{node:?}"
    );
    Ok(())
}

fn dry_run(rt: &tokio::runtime::Runtime) -> TestResult {
    dry_run_of(
        rt,
        Stack::Headlamp,
        &[
            "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
            "ghcr.io/headlamp-k8s/headlamp:v0.45.0",
            "kind load docker-image",
        ],
        "kubernetesui/dashboard",
    )
}

fn red_run(
    rt: &tokio::runtime::Runtime,
    s: Scenario,
    timeout: Duration,
) -> Result<RunResult, libtest_mimic::Failed> {
    red_run_of(rt, Stack::Headlamp, s, timeout)
}

/// `name` failed, its message naming every one of `needles`, and (`fast`) on its cause,
/// not at the deadline, with no cause of the dashboard's stack.
fn failed_on(outcomes: &[Outcome], name: &str, needles: &[&str], fast: bool) -> TestResult {
    let o = outcomes
        .iter()
        .find(|o| o.name.starts_with(name))
        .ok_or_else(|| format!("no check {name}: {:?}", failures(outcomes)))?;
    ensure!(!o.passed, "{name} should fail: {o:?}");
    for n in needles {
        ensure!(
            o.message.contains(n),
            "{name} should name {n:?}: {}",
            o.message
        );
    }
    ensure!(
        !fast || !o.message.starts_with("still failing after"),
        "{name} fails on its cause, not at the deadline: {}",
        o.message
    );
    // No cause of the dashboard's stack (its scraper, its metric client) on this one.
    let causes: Vec<String> = o
        .causes
        .iter()
        .map(|c| format!("{} {}", c.hint.cause, c.hint.fix))
        .collect();
    ensure!(
        causes
            .iter()
            .all(|c| !c.contains("scraper") && !c.contains("dashboard")),
        "{name} names a cause of another stack: {causes:?}"
    );
    Ok(())
}

/// Headlamp is healthy and serves its context; metrics.k8s.io answers 503 through it, and
/// the APIService's condition says why.
fn apiservice_unavailable(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::ApiServiceUnavailable, SHORT)?;
    failed_on(
        &result.outcomes,
        "headlamp::node_metrics::",
        &["503", "metrics.k8s.io unavailable", "FailedDiscoveryCheck"],
        false,
    )?;
    passed(
        &result.outcomes,
        "headlamp::config",
        "Headlamp itself is healthy",
    )
}

/// metrics-server, the same as on its own stack, can never become ready: the rollout stops
/// on its log's x509 errors, with the fix.
fn insecure_tls_missing(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = run_on(rt, scenario(Scenario::InsecureTlsMissing), |o| {
        on_stack(o);
        o.timeout = LONG;
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let error = result.error.clone().unwrap_or_default();
    ensure!(
        error.contains("metrics-server")
            && error.contains("doesn't contain any IP SANs")
            && !error.contains("did not roll out within"),
        "the rollout stops on the certain cause: {error}"
    );
    let text = report.lines().join("\n");
    ensure!(
        text.contains("add --kubelet-insecure-tls"),
        "the fix is named:\n{text}"
    );
    Ok(())
}

/// metrics-server exits at start: the rollout stops on CrashLoopBackOff with its last line.
fn crash_loop(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::CrashLoop, LONG)?;
    let error = result.error.clone().unwrap_or_default();
    ensure!(
        error.contains("CrashLoopBackOff")
            && error.contains("metrics-server")
            && error.contains("exiting with status 1"),
        "{error}"
    );
    Ok(())
}

/// Without the metrics-server Service metrics.k8s.io can never serve: Headlamp's metric
/// checks fail at once on the Service read; Headlamp itself is fine.
fn no_metrics_service(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::NoMetricsService, LONG)?;
    for name in ["headlamp::node_metrics::", "headlamp::pod_metrics::"] {
        failed_on(
            &result.outcomes,
            name,
            &["no metrics-server service: Service kube-system/metrics-server does not exist"],
            true,
        )?;
    }
    passed(
        &result.outcomes,
        "headlamp::config",
        "Headlamp itself is healthy",
    )
}

/// Node metrics but none for pods: every pod is missing from Headlamp's pod list, nodes fine.
fn pods_without_metrics(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::PodsWithoutMetrics, SHORT)?;
    failed_on(
        &result.outcomes,
        "headlamp::pod_metrics::",
        &["through Headlamp: not in the list"],
        false,
    )?;
    passed(
        &result.outcomes,
        "headlamp::node_metrics::e2e-worker",
        "node metrics are fine",
    )
}

fn token_stripped(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::HeadlampTokenStripped, LONG)?;
    for name in ["headlamp::node_metrics::", "headlamp::pod_metrics::"] {
        failed_on(
            &result.outcomes,
            name,
            &[
                "403",
                "system:anonymous",
                "the token did not reach the API server",
                "headlamp-auth-main.0",
            ],
            true,
        )?;
    }
    passed(
        &result.outcomes,
        "metrics_server::node_metrics::e2e-worker",
        "metrics.k8s.io itself serves",
    )
}

fn checks_without_rights(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::ChecksWithoutRights, LONG)?;
    failed_on(
        &result.outcomes,
        "headlamp::node_metrics::",
        &[
            "403",
            "system:serviceaccount:kube-system:headlamp-e2e-checks",
            "may not read metrics",
        ],
        true,
    )
}

fn not_in_cluster(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::HeadlampNotInCluster, LONG)?;
    failed_on(
        &result.outcomes,
        "headlamp::config",
        &["no in-cluster context", "-in-cluster"],
        true,
    )?;
    failed_on(
        &result.outcomes,
        "headlamp::node_metrics::",
        &["404 key not found", "no context \"main\""],
        true,
    )
}

/// A scenario whose faults act on the dashboard only would change nothing here.
fn dashboard_scenario_refused(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _report) =
        run_on(rt, scenario(Scenario::DashboardNeverConnects), on_stack);
    super::pipeline::expect_harness_error(&result, &["`dashboard-never-connects`", "--stack"])?;
    ensure!(
        result.outcomes.is_empty(),
        "no check ran: {:?}",
        result.outcomes
    );
    Ok(())
}

/// `--stack headlamp --upgrade-from metrics-server`, the cluster kept so that what was
/// removed can be read back.
fn upgrade_from_metrics_server(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, report) = run_on(rt, world(), |o| {
        on_stack(o);
        o.upgrade_from = Some(Stack::MetricsServer.manifests(&root()));
        o.keep = true;
    });
    expect_passed(&result, &report)?;
    ensure!(
        result
            .before
            .iter()
            .any(|o| o.name == "before::dashboard::node_metrics" && o.passed),
        "dashboard v2.7.0 was checked first: {:?}",
        failures(&result.before)
    );
    let gap = outcome(
        &result.outcomes,
        "upgrade::no_gap_in_dashboard_node_metrics",
    );
    ensure!(
        gap.passed
            && gap
                .message
                .contains("dashboard v2.7.0 showed node metrics until")
            && gap.message.contains("headlamp v0.45.0 from")
            && gap.message.contains("the old stack was removed at")
            && gap.message.contains(
                "(bound 40s: Headlamp's readiness probe (30s) and its UI's metrics poll (10s))"
            ),
        "{gap:?}"
    );
    let text = report.lines().join("\n");
    for wanted in [
        "objects of the metrics-server stack deleted, its pods gone",
        "Upgrade metrics-server -> headlamp",
    ] {
        ensure!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    // What is left: metrics-server (both stacks run it) and Headlamp; no dashboard.
    let deployments = deployments_left(rt, &result)?;
    let mut left = deployments.clone();
    left.retain(|d| d == "metrics-server" || d == "headlamp" || d.contains("dashboard"));
    left.sort();
    ensure!(left == ["headlamp", "metrics-server"], "{deployments:?}");
    drop(fakes);
    Ok(())
}

fn upgrade_dry_run(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = run_on(rt, world(), |o| {
        on_stack(o);
        o.upgrade_from = Some(Stack::MetricsServer.manifests(&root()));
        o.dry_run = true;
    });
    ensure!(result.exit == 0, "exit {}: {:?}", result.exit, result.error);
    let text = report.lines().join("\n");
    for wanted in [
        "dashboard v2.7.0",
        "headlamp v0.45.0",
        "ghcr.io/headlamp-k8s/headlamp:v0.45.0",
    ] {
        ensure!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    Ok(())
}
