//! The metrics-server stack (`--stack metrics-server`): green on a healthy simulated
//! cluster with the calibrated load, `--dry-run` naming its images and commands, and red
//! with the right cause in each of its scenarios (x509 without `--kubelet-insecure-tls`,
//! an unreachable APIService, a scraper without data behind a "connected" dashboard, a
//! dashboard without its scraper).

use std::time::Duration;

use heapster_e2e::checks::run::Outcome;
use heapster_e2e::pipeline::Options;
use heapster_e2e::stack::Stack;
use kind_sim::{Scenario, WorldConfig};
use libtest_mimic::Trial;

use heapster_e2e::pipeline::RunResult;
use heapster_e2e::report::Report;

use super::pipeline::{
    deployments_left, dry_run_of, expect_passed, healthy_with_load, red_run_of, run_on, world,
    world_playing,
};
use super::{Fakes, Group, Rt, TestResult, copy_manifests_of, failures, outcome, passed, root};
use crate::ensure;

/// The verdict on the dashboards' node metrics through an upgrade of this stack.
const SWITCH_GAP: &str = "upgrade::no_gap_in_dashboard_node_metrics";

/// For states that can heal (the faults here never do): how long they are given.
const SHORT: Duration = Duration::from_secs(4);
/// Long enough that reaching it would mean the harness waited instead of failing fast.
const LONG: Duration = Duration::from_secs(120);

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "metrics_server");
    vec![
        g.trial("healthy_with_the_load", healthy),
        g.trial("dry_run_names_the_stack", dry_run),
        g.trial("scenario::insecure_tls_missing", insecure_tls_missing),
        g.trial("scenario::apiservice_unavailable", apiservice_unavailable),
        g.trial("scenario::scraper_without_data", scraper_without_data),
        g.trial(
            "scenario::dashboard_without_scraper",
            dashboard_without_scraper,
        ),
        g.trial("scenario::crash_loop", crash_loop),
        g.trial("scenario::image_not_loaded", image_not_loaded),
        g.trial("scenario::no_metrics_service", no_metrics_service),
        g.trial("scenario::pods_without_metrics", pods_without_metrics),
        g.trial("scenario::checks_without_rights", checks_without_rights),
        g.trial("scenario::zero_metrics", |rt| red_with(rt, GENERIC[0])),
        g.trial("scenario::not_ready_node", |rt| red_with(rt, GENERIC[1])),
        g.trial("scenario::zero_nodes", |rt| red_with(rt, GENERIC[2])),
        g.trial("scenario::transient_api_errors", |rt| {
            let (_fakes, result, report) =
                run_on(rt, scenario(Scenario::TransientApiErrors), on_stack);
            expect_passed(&result, &report)
        }),
        g.trial(
            "scenario::dashboard_never_connects",
            dashboard_never_connects,
        ),
        g.trial(
            "scenario::a_heapster_scenario_is_refused",
            heapster_scenario_refused,
        ),
        g.trial(
            "upgrade_from_heapster::keeps_node_metrics_on_screen",
            upgrade_from_heapster,
        ),
        g.trial(
            "upgrade_from_heapster::to_a_scraper_without_data_is_red",
            upgrade_to_scraper_without_data,
        ),
        g.trial("upgrade_from_heapster::dry_run", upgrade_dry_run),
        g.trial(
            "upgrade_from_heapster::a_dark_stretch_longer_than_the_bound_is_red",
            upgrade_with_a_long_dark_stretch,
        ),
        g.trial(
            "upgrade_in_place::scraper_replaced_within_the_bound",
            upgrade_in_place,
        ),
    ]
}

fn on_stack(opts: &mut Options) {
    *opts = opts.clone().for_stack(&root(), Stack::MetricsServer);
}

fn scenario(s: Scenario) -> WorldConfig {
    world_playing(s)
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = healthy_with_load(rt, Stack::MetricsServer);
    expect_passed(&result, &report)?;
    let names: Vec<&str> = result.outcomes.iter().map(|o| o.name.as_str()).collect();
    for wanted in [
        "metrics_server::apiservice",
        "metrics_server::discovery",
        "metrics_server::node_metrics::e2e-worker",
        "scraper::node_series::e2e-control-plane",
        "dashboard::sidecar_state",
        "dashboard::log",
        "dashboard::node_metrics",
        "dashboard::pod_metrics",
        "ground_truth::cpu",
        "ground_truth::memory",
        "workloads::dashboard-metrics-scraper",
    ] {
        ensure!(names.contains(&wanted), "no check {wanted}: {names:?}");
    }
    ensure!(
        names
            .iter()
            .any(|n| n.starts_with("metrics_server::pod_metrics::coredns-")),
        "CoreDNS's pods are checked: {names:?}"
    );
    ensure!(
        !names
            .iter()
            .any(|n| n.starts_with("heapster::") || n.starts_with("influxdb::")),
        "no heapster checks on this stack: {names:?}"
    );
    Ok(())
}

fn dry_run(rt: &tokio::runtime::Runtime) -> TestResult {
    dry_run_of(
        rt,
        Stack::MetricsServer,
        &[
            "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
            "kubernetesui/dashboard:v2.7.0",
            "kubernetesui/metrics-scraper:v1.0.8",
            "kind load docker-image",
            "APIService v1beta1.metrics.k8s.io",
        ],
        "heapster-amd64",
    )
}

/// Generic faults on this stack: the scenario, the check that fails, what it names.
type Red = (Scenario, &'static str, &'static [&'static str]);
const GENERIC: [Red; 3] = [
    (
        Scenario::ZeroMetrics,
        "metrics_server::node_metrics::",
        &["usage must be above zero", "zero usage"],
    ),
    (
        Scenario::NotReadyNode,
        "nodes::ready::e2e-worker2",
        &["Kubelet stopped posting", "kubelet stopped reporting"],
    ),
    (
        Scenario::ZeroNodes,
        "phase::rollout",
        &["zero nodes", "no pod of the stack can run"],
    ),
];

fn red_with(rt: &tokio::runtime::Runtime, (s, check, needles): Red) -> TestResult {
    red(rt, s, check, needles).map(drop)
}

fn red_run(
    rt: &tokio::runtime::Runtime,
    s: Scenario,
    timeout: Duration,
) -> Result<RunResult, libtest_mimic::Failed> {
    red_run_of(rt, Stack::MetricsServer, s, timeout)
}

/// Run the stack on a broken cluster: red (exit 1), and `check` failed naming `needles`.
fn red(
    rt: &tokio::runtime::Runtime,
    s: Scenario,
    check: &str,
    needles: &[&str],
) -> Result<Vec<Outcome>, libtest_mimic::Failed> {
    let result = red_run(rt, s, SHORT)?;
    let o: &Outcome = result
        .outcomes
        .iter()
        .find(|o| o.name.starts_with(check))
        .ok_or_else(|| format!("{s:?}: no check {check}: {:?}", failures(&result.outcomes)))?;
    ensure!(!o.passed, "{s:?}: {check} should fail: {}", o.message);
    let text = format!(
        "{}\n{}",
        o.message,
        o.causes
            .iter()
            .map(|c| format!("{} {}", c.hint.cause, c.hint.fix))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for n in needles {
        ensure!(
            text.contains(n),
            "{s:?}: {check} should name {n:?}: {text} {:?}",
            o.causes
        );
    }
    Ok(result.outcomes)
}

/// metrics-server can never become ready: once its log shows every node's scrape failing on
/// the certificate, the rollout stops (not at its deadline), with the cause read from it.
fn insecure_tls_missing(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = run_on(rt, scenario(Scenario::InsecureTlsMissing), |o| {
        on_stack(o);
        o.timeout = Duration::from_secs(120);
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let error = result.error.clone().unwrap_or_default();
    ensure!(
        error.contains("metrics-server")
            && error.contains("is never Ready")
            && error.contains("doesn't contain any IP SANs")
            && !error.contains("did not roll out within"),
        "the rollout stops on the certain cause, with metrics-server's scrape error: {error}"
    );
    let text = report.lines().join("\n");
    ensure!(
        text.contains("add --kubelet-insecure-tls"),
        "the fix is named:\n{text}"
    );
    Ok(())
}

fn apiservice_unavailable(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = red(
        rt,
        Scenario::ApiServiceUnavailable,
        "metrics_server::apiservice",
        &["FailedDiscoveryCheck", "failing or missing response"],
    )?;
    // What kubectl top says on such a cluster, with its cause.
    let discovery = outcome(&outcomes, "metrics_server::discovery");
    let causes: Vec<&str> = discovery.causes.iter().map(|c| c.hint.cause).collect();
    ensure!(
        !discovery.passed
            && discovery.message.contains("Metrics API not available")
            && discovery.message.contains("Stale")
            && causes.iter().any(|c| c.contains("marks the group stale")),
        "{discovery:?}"
    );
    Ok(())
}

fn scraper_without_data(rt: &tokio::runtime::Runtime) -> TestResult {
    red(
        rt,
        Scenario::ScraperWithoutData,
        "scraper::node_series::",
        &["no samples", "catch-all", "may not list metrics.k8s.io"],
    )?;
    // The dashboard says "connected" all the same: its check of the scraper is a catch-all.
    // The scraper's log quotes the API server's 403 for its latest update: certain at once.
    let (_fakes, result, _report) = run_on(rt, scenario(Scenario::ScraperWithoutData), |o| {
        on_stack(o);
        o.checks.timeout = LONG;
    });
    for name in [
        "scraper::node_series::e2e-worker",
        "dashboard::node_metrics",
    ] {
        let o = outcome(&result.outcomes, name);
        ensure!(
            !o.passed
                && o.message.contains("its latest update was refused")
                && !o.message.starts_with("still failing after"),
            "{name} fails on the refusal, not at the deadline: {o:?}"
        );
    }
    let state = result
        .outcomes
        .iter()
        .find(|o| o.name == "dashboard::sidecar_state")
        .ok_or("no sidecar state check")?;
    ensure!(
        state.passed,
        "the dashboard reports connected: {}",
        state.message
    );
    Ok(())
}

fn dashboard_without_scraper(rt: &tokio::runtime::Runtime) -> TestResult {
    red(
        rt,
        Scenario::DashboardWithoutScraper,
        "dashboard::log",
        &["dashboard-metrics-scraper"],
    )
    .map(drop)
}

/// metrics-server exits at start: the rollout stops on the crash loop with its log, long
/// before its deadline.
fn crash_loop(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _report) = run_on(rt, scenario(Scenario::CrashLoop), |o| {
        on_stack(o);
        o.timeout = LONG;
    });
    let error = result.error.clone().unwrap_or_default();
    ensure!(
        result.exit == 1
            && error.contains("CrashLoopBackOff")
            && error.contains("metrics-server")
            && error.contains("exiting with status 1"),
        "exit {}: {error}",
        result.exit
    );
    Ok(())
}

/// The scraper's image is in no registry: `e2e` cannot prepare it (exit 2), naming it.
fn image_not_loaded(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _report) = run_on(rt, scenario(Scenario::ImageNotLoaded), on_stack);
    super::pipeline::expect_harness_error(&result, &["kubernetesui/metrics-scraper:v1.0.8"])
}

/// Without the metrics-server Service the APIService can never become Available: its
/// checks fail at once on the Service read, not at the deadline.
fn no_metrics_service(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::NoMetricsService, LONG)?;
    // Every failure is certain: none waits for the deadline.
    let waited: Vec<&str> = result
        .outcomes
        .iter()
        .filter(|o| o.message.starts_with("still failing after"))
        .map(|o| o.name.as_str())
        .collect();
    ensure!(waited.is_empty(), "waited for the deadline: {waited:?}");
    // The Deployment and the dashboard's own client (the scraper) are fine.
    for name in ["workloads::metrics-server", "dashboard::log"] {
        let o = outcome(&result.outcomes, name);
        ensure!(o.passed, "{name}: {o:?}");
    }
    for name in [
        "metrics_server::apiservice",
        "metrics_server::node_metrics::e2e-worker",
    ] {
        let o = outcome(&result.outcomes, name);
        ensure!(
            !o.passed
                && o.message.contains("no metrics-server service")
                && !o.message.starts_with("still failing after"),
            "{name}: {o:?}"
        );
        ensure!(
            o.causes
                .iter()
                .any(|c| c.hint.fix.contains("Service `metrics-server`")),
            "{name}: the cause and fix are named: {:?}",
            o.causes
        );
    }
    Ok(())
}

fn pods_without_metrics(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::PodsWithoutMetrics, SHORT)?;
    let pods: Vec<&Outcome> = result
        .outcomes
        .iter()
        .filter(|o| o.name.starts_with("metrics_server::pod_metrics::"))
        .collect();
    ensure!(!pods.is_empty(), "pods are checked");
    for o in pods {
        ensure!(!o.passed && o.message.contains("not found"), "{o:?}");
    }
    passed(
        &result.outcomes,
        "metrics_server::node_metrics::e2e-worker",
        "node metrics are fine",
    )
}

fn dashboard_never_connects(rt: &tokio::runtime::Runtime) -> TestResult {
    let outcomes = red(
        rt,
        Scenario::DashboardNeverConnects,
        "dashboard::log",
        &["dial tcp 10.96.0.1:443: i/o timeout", "kube-proxy"],
    )?;
    passed(
        &outcomes,
        "metrics_server::apiservice",
        "metrics-server itself is fine",
    )
}

/// The checks' account refused its lists: red at once, the account's manifest named.
fn checks_without_rights(rt: &tokio::runtime::Runtime) -> TestResult {
    let result = red_run(rt, Scenario::ChecksWithoutRights, LONG)?;
    let o = outcome(&result.outcomes, "dashboard::node_metrics");
    ensure!(
        !o.passed
            && o.message.contains("cannot list resource")
            && !o.message.starts_with("still failing after")
            && o.causes
                .iter()
                .any(|c| c.hint.fix.contains("30-dashboard-checks.yaml")),
        "{o:?}"
    );
    passed(
        &result.outcomes,
        "metrics_server::apiservice",
        "metrics-server itself is fine",
    )
}

/// A fault that only acts on heapster's programs would leave this stack green for
/// nothing: refused before any check, naming the stack it applies to.
fn heapster_scenario_refused(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _report) = run_on(rt, scenario(Scenario::StaleMetrics), on_stack);
    super::pipeline::expect_harness_error(
        &result,
        &[
            "`stale-metrics`",
            "only on the heapster stack",
            "--stack heapster",
        ],
    )?;
    ensure!(
        result.outcomes.is_empty(),
        "no check ran: {:?}",
        result.outcomes
    );
    Ok(())
}

/// `--stack metrics-server --upgrade-from heapster`, the cluster kept so that what was
/// removed can be read back.
fn upgrade_from(
    rt: &tokio::runtime::Runtime,
    config: WorldConfig,
    adjust: impl FnOnce(&mut Options),
) -> (Fakes, RunResult, Report) {
    run_on(rt, config, |o| {
        on_stack(o);
        o.upgrade_from = Some(Stack::Heapster.manifests(&root()));
        o.keep = true;
        adjust(o);
    })
}

fn upgrade_from_heapster(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, report) = upgrade_from(rt, world(), |_| {});
    expect_passed(&result, &report)?;
    for wanted in [
        "before::heapster::node_metrics::e2e-worker",
        "before::dashboard::node_metrics",
    ] {
        ensure!(
            result.before.iter().any(|o| o.name == wanted && o.passed),
            "the heapster stack was checked first: {wanted} {:?}",
            failures(&result.before)
        );
    }
    let gap = outcome(&result.outcomes, SWITCH_GAP);
    ensure!(
        gap.passed
            && gap
                .message
                .contains("dashboard v1.10.1 showed node metrics until")
            && gap.message.contains("dashboard v2.7.0 from")
            && gap.message.contains("the old stack was removed at")
            && gap
                .message
                .contains("(bound 35s: two scraper periods of 15s"),
        "{gap:?}"
    );
    ensure!(
        result
            .outcomes
            .iter()
            .all(|o| !o.name.starts_with("heapster::")),
        "after the move only the new stack is checked"
    );
    let text = report.lines().join("\n");
    for wanted in [
        "objects of the heapster stack deleted, its pods gone",
        "Upgrade heapster -> metrics-server",
        "(heapster model API), after",
        "MEM BEFORE",
    ] {
        ensure!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    // What is left: the new stack's Deployments only; nothing of heapster's.
    let deployments = deployments_left(rt, &result)?;
    for gone in ["heapster", "monitoring-influxdb", "monitoring-grafana"] {
        ensure!(
            !deployments.iter().any(|d| d == gone),
            "{gone} removed: {deployments:?}"
        );
    }
    ensure!(
        deployments.iter().any(|d| d == "metrics-server"),
        "{deployments:?}"
    );
    drop(fakes);
    Ok(())
}

/// The new stack's scraper never gets data: once the old stack is gone no dashboard
/// shows node metrics, and the gap stays open to the end.
fn upgrade_to_scraper_without_data(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _report) = upgrade_from(rt, scenario(Scenario::ScraperWithoutData), |o| {
        o.checks.timeout = SHORT;
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    ensure!(
        result
            .before
            .iter()
            .any(|o| o.name == "before::dashboard::node_metrics" && o.passed),
        "the old dashboard showed them: {:?}",
        failures(&result.before)
    );
    let gap = outcome(&result.outcomes, SWITCH_GAP);
    ensure!(
        !gap.passed
            && !gap.ignored
            && gap
                .message
                .contains("dashboard v2.7.0 never showed node metrics"),
        "{gap:?}"
    );
    Ok(())
}

/// The scraper stores its first rows 6 s after it starts while its manifest says it samples
/// every second: after the old stack is removed, no dashboard shows node metrics for about
/// 6 s, past the 3 s bound those manifests give (two 1 s periods and a 1 s dashboard check
/// period). The stretch closes before the checks end, so it is its length that fails.
fn upgrade_with_a_long_dark_stretch(rt: &tokio::runtime::Runtime) -> TestResult {
    let next = copy_manifests_of(&Stack::MetricsServer.manifests(&root()), |name, text| {
        if name != "20-dashboard.yaml" {
            return text;
        }
        text.replace("--metric-resolution=15s", "--metric-resolution=1s")
            .replace(
                "--metric-client-check-period=5",
                "--metric-client-check-period=1",
            )
    })?;
    let mut timing = kind_sim::Timing::fast();
    timing.scraper = Some(Duration::from_secs(6));
    let config = WorldConfig {
        timing: Some(timing),
        ..world()
    };
    let (_fakes, result, _report) = upgrade_from(rt, config, |o| {
        o.manifests = next.path().to_path_buf();
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let gap = outcome(&result.outcomes, SWITCH_GAP);
    ensure!(
        !gap.passed
            && gap
                .message
                .starts_with("no dashboard showed node metrics for")
            && gap.message.contains("(bound 3s: two scraper periods of 1s"),
        "{gap:?}"
    );
    ensure!(
        !gap.message.contains("still"),
        "the stretch closed, its length fails: {gap:?}"
    );
    passed(
        &result.outcomes,
        "dashboard::node_metrics",
        "the new dashboard shows them in the end",
    )
}

fn upgrade_dry_run(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, report) = upgrade_from(rt, world(), |o| o.dry_run = true);
    ensure!(result.exit == 0, "exit {}: {:?}", result.exit, result.error);
    let text = report.lines().join("\n");
    for wanted in [
        "objects to upgrade from (heapster stack)",
        "registry.k8s.io/heapster-amd64:v1.5.4",
        "kubernetesui/dashboard:v2.7.0",
        "would watch the node metrics of dashboard v1.10.1 and dashboard v2.7.0",
        "would delete (the heapster stack): Deployment kube-system/heapster",
        "longer than 35s",
    ] {
        ensure!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind create")),
        "a dry run creates nothing"
    );
    Ok(())
}

/// The scraper replaced in place (a new pod template): its database starts empty, so the
/// dashboard has no node metrics until the new pod's first sample; judged against the
/// same bound, and nothing is removed.
fn upgrade_in_place(rt: &tokio::runtime::Runtime) -> TestResult {
    let from = Stack::MetricsServer.manifests(&root());
    let next = copy_manifests_of(&from, |name, text| {
        if name != "20-dashboard.yaml" {
            return text;
        }
        text.replace(
            "  template:\n    metadata:\n      labels:\n        k8s-app: dashboard-metrics-scraper\n",
            "  template:\n    metadata:\n      annotations:\n        heapster-e2e/revision: \"2\"\n      labels:\n        k8s-app: dashboard-metrics-scraper\n",
        )
    })?;
    ensure!(
        std::fs::read_to_string(next.path().join("20-dashboard.yaml"))
            .map_err(|e| e.to_string())?
            .contains("heapster-e2e/revision"),
        "the scraper's template changed"
    );
    let (_fakes, result, report) = run_on(rt, world(), |o| {
        on_stack(o);
        o.upgrade_from = Some(from.clone());
        o.manifests = next.path().to_path_buf();
    });
    expect_passed(&result, &report)?;
    let gap = outcome(&result.outcomes, SWITCH_GAP);
    ensure!(
        gap.passed
            && gap
                .message
                .contains("dashboard v2.7.0 (old) showed node metrics until")
            && !gap.message.contains("removed"),
        "{gap:?}"
    );
    ensure!(
        !report.lines().join("\n").contains("Remove old stack"),
        "nothing is removed within one stack"
    );
    Ok(())
}
