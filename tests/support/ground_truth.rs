//! The calibrated load through the pipeline: green within tolerance, red when skewed or
//! absent, deleted on interrupt.

use std::time::Duration;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::pipeline::RunResult;
use heapster_e2e::report::Report;
use heapster_e2e::stack::Stack;
use heapster_e2e::versions;
use kind_sim::{Scenario, WorldConfig};
use libtest_mimic::Trial;

use super::pipeline::{options, run_with};
use super::{Fakes, TestResult, check_config, failures, outcome};
use super::{Group, Rt};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "pipeline");
    vec![
        g.trial("ground_truth::green_within_tolerance", ground_truth_green),
        g.trial("ground_truth::skewed_tenfold_is_red", ground_truth_skewed),
        g.trial(
            "ground_truth::skewed_tenfold_is_red_on_metrics_server",
            ground_truth_skewed_metrics_server,
        ),
        g.trial("ground_truth::metrics_never_appear", |rt| {
            ground_truth_never_appears(rt, Stack::Heapster)
        }),
        g.trial(
            "ground_truth::metrics_never_appear_on_metrics_server",
            |rt| ground_truth_never_appears(rt, Stack::MetricsServer),
        ),
        g.trial("ground_truth::skewed_tenfold_is_red_on_headlamp", |rt| {
            skewed_is_red(
                rt,
                Stack::Headlamp,
                &["cpu", "memory", "node_covers_pod", "headlamp"],
            )
        }),
        g.trial("ground_truth::metrics_never_appear_on_headlamp", |rt| {
            ground_truth_never_appears(rt, Stack::Headlamp)
        }),
        g.trial(
            "ground_truth::load_deleted_on_interrupt",
            ground_truth_interrupted,
        ),
    ]
}

fn load_world(scenario: Scenario) -> WorldConfig {
    let mut registry = Fakes::registry_with_stack();
    registry.push((versions::LOAD_IMAGE.reference(), None));
    WorldConfig {
        registry,
        scenario,
        ..Default::default()
    }
}

/// Run with the calibrated load; the cluster is kept so its requests can be read.
fn with_load(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    cancel_after: Option<&'static str>,
) -> (RunResult, Vec<(String, String)>) {
    with_load_on(rt, Stack::Heapster, scenario, cancel_after)
}

fn with_load_on(
    rt: &tokio::runtime::Runtime,
    stack: Stack,
    scenario: Scenario,
    cancel_after: Option<&'static str>,
) -> (RunResult, Vec<(String, String)>) {
    let fakes = Fakes::new(rt, load_world(scenario));
    let mut opts = options(&fakes).for_stack(&super::root(), stack);
    opts.load = Some(heapster_e2e::pipeline::load::LoadConfig::default());
    opts.keep = true;
    opts.checks = CheckConfig {
        stack,
        ..check_config(Duration::from_secs(4))
    };
    let cancel = Cancel::new();
    let report = Report::new(false);
    if let Some(phase) = cancel_after {
        let c = cancel.clone();
        report.on_phase(move |p| {
            if p == phase {
                c.cancel();
            }
        });
    }
    let (result, _) = run_with(rt, &fakes, &opts, &cancel, report);
    let requests = rt
        .block_on(fakes.world.with_cluster("e2e", |h| h.requests()))
        .unwrap_or_default();
    (result, requests)
}

fn load_deleted(requests: &[(String, String)]) -> bool {
    requests
        .iter()
        .any(|(m, u)| m == "DELETE" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-"))
}

pub fn ground_truth_green(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::Healthy, None);
    ensure!(
        result.exit == 0,
        "exit {} {:?} {:?}",
        result.exit,
        result.error,
        failures(&result.outcomes)
    );
    let truth: Vec<&heapster_e2e::checks::run::Outcome> = result
        .outcomes
        .iter()
        .filter(|o| o.name.starts_with("ground_truth::"))
        .collect();
    ensure!(
        truth.len() == 5 && truth.iter().all(|o| o.passed),
        "{truth:#?}"
    );
    let cpu = outcome(&result.outcomes, "ground_truth::cpu")
        .message
        .clone();
    ensure!(
        cpu.contains("target 100m") && cpu.contains("tolerance ±20%"),
        "{cpu}"
    );
    // As tight as metrics-server's e2e: the memory load is `stress` alone, no server.
    let memory = &outcome(&result.outcomes, "ground_truth::memory").message;
    ensure!(memory.contains("tolerance ±10%"), "{memory}");
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after a pass"
    );
    Ok(())
}

pub fn ground_truth_skewed(rt: &tokio::runtime::Runtime) -> TestResult {
    skewed_is_red(
        rt,
        Stack::Heapster,
        &["cpu", "memory", "node_covers_pod", "influxdb", "dashboard"],
    )
}

pub fn ground_truth_skewed_metrics_server(rt: &tokio::runtime::Runtime) -> TestResult {
    skewed_is_red(
        rt,
        Stack::MetricsServer,
        &["cpu", "memory", "node_covers_pod", "dashboard"],
    )
}

/// A load reported ten times over turns every leg red, each with its target and what it
/// measured.
fn skewed_is_red(rt: &tokio::runtime::Runtime, stack: Stack, legs: &[&str]) -> TestResult {
    let (result, requests) = with_load_on(rt, stack, Scenario::ConsumerSkewed, None);
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let cpu = outcome(&result.outcomes, "ground_truth::cpu");
    ensure!(
        !cpu.passed && cpu.message.contains("target 100m, tolerance ±20%"),
        "{cpu:?}"
    );
    let deviation: i64 = cpu
        .message
        .rsplit("(+")
        .next()
        .and_then(|d| d.split('%').next())
        .and_then(|d| d.parse().ok())
        .ok_or("no deviation in the message")?;
    ensure!(deviation > 500, "about ten times the target: {cpu:?}");
    for leg in legs {
        let o = outcome(&result.outcomes, &format!("ground_truth::{leg}"));
        ensure!(
            !o.passed && o.message.contains("measured") && o.message.contains("target"),
            "{stack}: {leg} red with target and measured: {o:?}"
        );
    }
    let memory = outcome(&result.outcomes, "ground_truth::memory");
    ensure!(memory.message.contains("target 64.0 MiB"), "{memory:?}");
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after a failure"
    );
    Ok(())
}

/// The load's pods never get metrics (their containers missing from what the kubelets
/// report): the ground truth is red, the metrics pipeline itself green.
pub fn ground_truth_never_appears(rt: &tokio::runtime::Runtime, stack: Stack) -> TestResult {
    let (result, requests) = with_load_on(rt, stack, Scenario::ConsumerWithoutMetrics, None);
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let cpu = outcome(&result.outcomes, "ground_truth::cpu");
    ensure!(!cpu.passed, "{stack}: {cpu:?}");
    let (healthy, no_data) = match stack {
        Stack::Heapster => ("heapster::health", "no points"),
        Stack::MetricsServer | Stack::Headlamp => ("metrics_server::apiservice", "not found"),
    };
    ensure!(cpu.message.contains(no_data), "{stack}: {cpu:?}");
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == healthy && o.passed),
        "{stack}: the metrics pipeline itself is fine: {:?}",
        failures(&result.outcomes)
    );
    ensure!(load_deleted(&requests), "the load namespace is deleted");
    Ok(())
}

pub fn ground_truth_interrupted(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::Healthy, Some("Load generators"));
    ensure!(
        result.exit == 2 && result.error.as_deref() == Some("interrupted"),
        "exit {} {:?}",
        result.exit,
        result.error
    );
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after an interrupt"
    );
    Ok(())
}
