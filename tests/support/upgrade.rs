//! Add-on upgrades through the pipeline (`--upgrade-from`): broken to fixed and back, and
//! the gap check with and without heapster's readiness probe.

use std::time::Duration;

use heapster_e2e::pipeline::RunResult;
use heapster_e2e::report::Report;
use kind_sim::WorldConfig;
use libtest_mimic::Trial;

use super::pipeline::{expect_passed, options, run, world};
use super::{Fakes, TestResult, check_config, copy_manifests, failures, manifests_dir, outcome};
use super::{Group, Rt};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "pipeline");
    vec![
        g.trial(
            "upgrade::broken_flag_to_fixed_goes_red_then_green",
            broken_to_fixed,
        ),
        g.trial(
            "upgrade::fixed_to_broken_goes_red_with_the_cause",
            fixed_to_broken,
        ),
        g.trial(
            "upgrade::no_gap_with_the_readiness_probe",
            no_gap_with_readiness_probe,
        ),
        g.trial(
            "upgrade::gap_without_the_readiness_probe_is_caught",
            gap_without_readiness_probe,
        ),
    ]
}

/// Heapster's 2018 default source, which reads the kubelet's closed read-only port.
fn with_legacy_source(name: &str, text: String) -> String {
    if name != "30-heapster.yaml" {
        return text;
    }
    text.lines()
        .map(|l| {
            if l.contains("--source=") {
                "            - --source=kubernetes:https://kubernetes.default".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A deadline for states that fail for sure (a broken heapster's empty node list).
const SHORT: Duration = Duration::from_secs(3);
/// Deadlines for states that heal: the rollout, and the checks of a working heapster.
const LONG: Duration = Duration::from_secs(60);
const CHECKS: Duration = Duration::from_secs(10);

fn upgrade(
    rt: &tokio::runtime::Runtime,
    from: &std::path::Path,
    to: &std::path::Path,
    rollout_timeout: Duration,
    checks_timeout: Duration,
) -> (RunResult, Report) {
    // A new heapster's first export comes well after its pod starts (5 to 15 s upstream),
    // so a gap is many looks long, never one the monitor can fall between.
    let mut timing = kind_sim::Timing::fast();
    timing.heapster = Some(kind_sim::HeapsterClock {
        first_export: Duration::from_millis(800),
        spacing: Some(Duration::from_millis(150)),
    });
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            timing: Some(timing),
            ..world()
        },
    );
    let mut opts = options(&fakes);
    opts.upgrade_from = Some(from.to_path_buf());
    opts.manifests = to.to_path_buf();
    opts.timeout = rollout_timeout;
    opts.checks = check_config(checks_timeout);
    run(rt, &fakes, &opts)
}

pub fn broken_to_fixed(rt: &tokio::runtime::Runtime) -> TestResult {
    let broken = copy_manifests(with_legacy_source)?;
    let (result, report) = upgrade(rt, broken.path(), &manifests_dir(), SHORT, SHORT);
    expect_passed(&result, &report)?;
    let red: Vec<&str> = result
        .before
        .iter()
        .filter(|o| !o.passed && !o.ignored)
        .map(|o| o.name.as_str())
        .collect();
    ensure!(
        red.contains(&"before::heapster::nodes"),
        "red before: {red:?}"
    );
    let nodes = outcome(&result.before, "before::heapster::nodes").text();
    ensure!(
        nodes.contains(":10255: getsockopt: connection refused"),
        "{nodes}"
    );
    ensure!(
        result.outcomes.iter().all(|o| o.passed || o.ignored),
        "green after: {:?}",
        failures(&result.outcomes)
    );
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "dashboard::log" && o.passed),
        "the dashboard reconnects"
    );
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "upgrade::no_gap_in_node_metrics" && o.ignored),
        "no series to keep before"
    );
    Ok(())
}

pub fn fixed_to_broken(rt: &tokio::runtime::Runtime) -> TestResult {
    let broken = copy_manifests(with_legacy_source)?;
    let (result, _) = upgrade(rt, &manifests_dir(), broken.path(), SHORT, SHORT);
    ensure!(
        result.before.iter().all(|o| o.passed || o.ignored),
        "green before: {:?}",
        failures(&result.before)
    );
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    // The broken heapster gets Ready on its first (empty) batch and replaces the good one.
    let nodes = outcome(&result.outcomes, "heapster::nodes");
    ensure!(
        !nodes.passed && nodes.text().contains("read-only port 10255 is closed"),
        "the cause is named: {}",
        nodes.text()
    );
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(!gap.passed && !gap.ignored, "the series broke off: {gap:?}");
    Ok(())
}

fn annotate_heapster(name: &str, text: String) -> String {
    if name != "30-heapster.yaml" {
        return text;
    }
    text.replace("    metadata:\n      labels:\n        k8s-app: heapster\n", "    metadata:\n      annotations:\n        heapster-e2e/revision: \"2\"\n      labels:\n        k8s-app: heapster\n")
}

pub fn no_gap_with_readiness_probe(rt: &tokio::runtime::Runtime) -> TestResult {
    let next = copy_manifests(annotate_heapster)?;
    let (result, report) = upgrade(rt, &manifests_dir(), next.path(), LONG, CHECKS);
    expect_passed(&result, &report)?;
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(
        gap.passed
            && gap.message.contains("memory/usage always fresh")
            && gap.message.contains("limit 12s"),
        "{gap:?}"
    );
    Ok(())
}

/// The shipped manifests without heapster's readiness probe.
pub fn without_heapster_readiness_probe(name: &str, text: String) -> String {
    if name == "30-heapster.yaml" {
        text.replace("          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: 8082\n            # Ready (in the Service) soon after the first batch.\n            periodSeconds: 2\n", "")
    } else {
        text
    }
}

pub fn gap_without_readiness_probe(rt: &tokio::runtime::Runtime) -> TestResult {
    let next = copy_manifests(|name, text| {
        without_heapster_readiness_probe(name, annotate_heapster(name, text))
    })?;
    ensure!(
        !std::fs::read_to_string(next.path().join("30-heapster.yaml"))
            .map_err(|e| e.to_string())?
            .contains("readinessProbe"),
        "probe removed"
    );
    let (result, _) = upgrade(rt, &manifests_dir(), next.path(), LONG, CHECKS);
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(
        !gap.passed && !gap.ignored && gap.message.contains("memory/usage had no heapster data"),
        "{gap:?}"
    );
    Ok(())
}
