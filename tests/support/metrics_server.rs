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

use super::pipeline::{expect_passed, run_on, world};
use super::{Group, Rt, TestResult, failures, root};
use crate::ensure;

/// For states that can heal (the faults here never do): how long they are given.
const SHORT: Duration = Duration::from_secs(4);

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
    ]
}

fn on_stack(opts: &mut Options) {
    *opts = opts.clone().for_stack(&root(), Stack::MetricsServer);
}

fn scenario(s: Scenario) -> WorldConfig {
    WorldConfig {
        scenario: s,
        ..world()
    }
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let mut with_load = world();
    with_load
        .registry
        .push((heapster_e2e::versions::LOAD_IMAGE.reference(), None));
    let (_fakes, result, report) = run_on(rt, with_load, |o| {
        on_stack(o);
        o.load = Some(Default::default());
    });
    expect_passed(&result, &report)?;
    let names: Vec<&str> = result.outcomes.iter().map(|o| o.name.as_str()).collect();
    for wanted in [
        "metrics_server::apiservice",
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
    let (fakes, result, report) = run_on(rt, world(), |o| {
        on_stack(o);
        o.dry_run = true;
    });
    ensure!(
        result.exit == 0,
        "dry run exit {}: {:?}",
        result.exit,
        result.error
    );
    let text = report.lines().join("\n");
    for wanted in [
        "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
        "kubernetesui/dashboard:v2.7.0",
        "kubernetesui/metrics-scraper:v1.0.8",
        "kind load docker-image",
        "APIService v1beta1.metrics.k8s.io",
    ] {
        ensure!(
            text.contains(wanted),
            "dry run should show {wanted:?}:\n{text}"
        );
    }
    ensure!(
        !text.contains("heapster-amd64"),
        "no heapster image on this stack:\n{text}"
    );
    let created = fakes.calls(rt).iter().any(|c| c.starts_with("kind create"));
    ensure!(!created, "a dry run creates nothing");
    Ok(())
}

/// Run the stack on a broken cluster: red (exit 1), and `check` failed naming `needles`.
fn red(rt: &tokio::runtime::Runtime, s: Scenario, check: &str, needles: &[&str]) -> TestResult {
    let (_fakes, result, _report) = run_on(rt, scenario(s), |o| {
        on_stack(o);
        o.checks.timeout = SHORT;
    });
    ensure!(
        result.exit == 1,
        "{s:?}: exit {} ({:?}); failures: {:?}",
        result.exit,
        result.error,
        failures(&result.outcomes)
    );
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
    Ok(())
}

/// metrics-server never becomes ready, so the rollout stops at its deadline with the pod's
/// log as evidence, and the cause is read from it.
fn insecure_tls_missing(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, report) = run_on(rt, scenario(Scenario::InsecureTlsMissing), |o| {
        on_stack(o);
        o.timeout = SHORT;
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let error = result.error.clone().unwrap_or_default();
    ensure!(
        error.contains("metrics-server") && error.contains("doesn't contain any IP SANs"),
        "the rollout error shows metrics-server's scrape error: {error}"
    );
    let text = report.lines().join("\n");
    ensure!(
        text.contains("add --kubelet-insecure-tls"),
        "the fix is named:\n{text}"
    );
    Ok(())
}

fn apiservice_unavailable(rt: &tokio::runtime::Runtime) -> TestResult {
    red(
        rt,
        Scenario::ApiServiceUnavailable,
        "metrics_server::apiservice",
        &["FailedDiscoveryCheck", "failing or missing response"],
    )
}

fn scraper_without_data(rt: &tokio::runtime::Runtime) -> TestResult {
    red(
        rt,
        Scenario::ScraperWithoutData,
        "scraper::node_series::",
        &["no samples", "catch-all", "may not list metrics.k8s.io"],
    )?;
    // The dashboard says "connected" all the same: its check of the scraper is a catch-all.
    let (_fakes, result, _report) = run_on(rt, scenario(Scenario::ScraperWithoutData), |o| {
        on_stack(o);
        o.checks.timeout = SHORT;
    });
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
}
