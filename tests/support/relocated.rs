//! Stacks installed under other names and namespaces, as a platform team's Helm releases
//! would put them: metrics-server in `monitoring` under a release's name, the dashboard and
//! its scraper (or Headlamp) in `ui`. The checks find each part by its image and report
//! where; a cluster without a part is red, naming what is missing and where it was looked for.

use heapster_e2e::manifests;
use heapster_e2e::stack::Stack;
use libtest_mimic::Trial;
use serde_json::{Value, json};

use super::pipeline::{expect_passed, run_on, world};
use super::{Group, Rt, TestResult, failures, passed, root};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "relocated");
    vec![
        g.trial("metrics_server_stack_is_found_where_it_runs", |rt| {
            found_where_it_runs(rt, Stack::MetricsServer)
        }),
        g.trial("headlamp_stack_is_found_where_it_runs", |rt| {
            found_where_it_runs(rt, Stack::Headlamp)
        }),
        g.trial(
            "heapster_stack_is_found_where_it_runs",
            heapster_found_where_it_runs,
        ),
        g.trial(
            "heapster_moved_without_telling_the_dashboard_is_red",
            heapster_moved_untold,
        ),
        g.trial(
            "a_missing_dashboard_is_red_naming_where_it_was_looked_for",
            missing_dashboard,
        ),
    ]
}

const METRICS_SERVER_NS: &str = "monitoring";
const RELEASE_NAME: &str = "ms-metrics-server";
const UI_NS: &str = "ui";

/// The shipped manifests of `stack`, moved: metrics-server's objects into `monitoring`
/// (its Service and Deployment under a Helm release's name, its bindings and APIService
/// following), the UI's namespace `kubernetes-dashboard` (or Headlamp's objects in
/// kube-system) into `ui`.
fn relocate(stack: Stack) -> Result<Vec<Value>, String> {
    let docs = manifests::load_dir(&stack.manifests(&root())).map_err(|e| e.to_string())?;
    let ui_objects = [
        "headlamp",
        "headlamp-e2e-checks",
        "headlamp-e2e-checks-token",
    ];
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": METRICS_SERVER_NS}}),
    ];
    if stack == Stack::Headlamp {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": UI_NS}}));
    }
    for doc in docs {
        let mut o = doc.object;
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        let (ns, name) = (
            o["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if ns == "kube-system" && name == "metrics-server" {
            o["metadata"]["namespace"] = METRICS_SERVER_NS.into();
            if kind != "ServiceAccount" {
                o["metadata"]["name"] = RELEASE_NAME.into();
            }
        } else if ns == "kubernetes-dashboard"
            || (ns == "kube-system" && ui_objects.contains(&name.as_str()))
        {
            o["metadata"]["namespace"] = UI_NS.into();
        }
        if kind == "Namespace" && name == "kubernetes-dashboard" {
            o["metadata"]["name"] = UI_NS.into();
        }
        if kind == "APIService" {
            o["spec"]["service"] = json!({"namespace": METRICS_SERVER_NS, "name": RELEASE_NAME});
        }
        for s in o["subjects"].as_array_mut().into_iter().flatten() {
            match (s["name"].as_str(), s["namespace"].as_str()) {
                (Some("metrics-server"), _) => s["namespace"] = METRICS_SERVER_NS.into(),
                (_, Some("kubernetes-dashboard")) => s["namespace"] = UI_NS.into(),
                (Some(n), _) if ui_objects.contains(&n) => s["namespace"] = UI_NS.into(),
                _ => {}
            }
        }
        for c in o["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            for a in c["args"].as_array_mut().into_iter().flatten() {
                if a == "--namespace=kubernetes-dashboard" {
                    *a = format!("--namespace={UI_NS}").into();
                }
            }
        }
        out.push(o);
    }
    Ok(out)
}

/// The heapster stack's manifests with heapster, InfluxDB and Grafana in `monitoring` (the
/// sink's address following) and the dashboard, left in kube-system, given
/// `--heapster-host` (its in-cluster client only ever reads `kube-system/heapster`).
fn relocate_heapster(tell_the_dashboard: bool) -> Result<Vec<Value>, String> {
    let docs =
        manifests::load_dir(&Stack::Heapster.manifests(&root())).map_err(|e| e.to_string())?;
    let moved = ["heapster", "monitoring-influxdb", "monitoring-grafana"];
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": METRICS_SERVER_NS}}),
    ];
    for doc in docs {
        let mut o = doc.object;
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if o["metadata"]["namespace"] == "kube-system" && moved.contains(&name.as_str()) {
            o["metadata"]["namespace"] = METRICS_SERVER_NS.into();
        }
        for s in o["subjects"].as_array_mut().into_iter().flatten() {
            if s["name"] == "heapster" {
                s["namespace"] = METRICS_SERVER_NS.into();
            }
        }
        for c in o["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let dashboard = c["image"]
                .as_str()
                .is_some_and(|i| i.contains("kubernetes-dashboard"));
            for field in ["command", "args"] {
                for a in c[field].as_array_mut().into_iter().flatten() {
                    if let Some(text) = a.as_str() {
                        *a = text
                            .replace(".kube-system.svc", &format!(".{METRICS_SERVER_NS}.svc"))
                            .into();
                    }
                }
            }
            if dashboard && tell_the_dashboard {
                let args = c["args"].as_array_mut().ok_or("the dashboard has args")?;
                args.push(
                    format!("--heapster-host=http://heapster.{METRICS_SERVER_NS}.svc").into(),
                );
            }
        }
        out.push(o);
    }
    Ok(out)
}

fn heapster_found_where_it_runs(rt: &tokio::runtime::Runtime) -> TestResult {
    let dir = folder(&relocate_heapster(true)?)?;
    let (_fakes, result, report) = run_on(rt, world(), |o| {
        o.manifests = dir.path().to_path_buf();
    });
    expect_passed(&result, &report)?;
    let text = report.lines().join("\n");
    for wanted in [
        "found heapster v1.5.4: Deployment monitoring/heapster, Service monitoring/heapster",
        "found InfluxDB v1.5.2: Deployment monitoring/monitoring-influxdb",
        "found dashboard v1.10.1: Deployment kube-system/kubernetes-dashboard",
    ] {
        ensure!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    for name in [
        "dashboard::node_metrics",
        "heapster::health",
        "influxdb::node_series",
        "grafana::datasource",
    ] {
        let o = super::outcome(&result.outcomes, name);
        ensure!(o.passed && !o.ignored, "{o:?}");
    }
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name.starts_with("heapster::pod_metrics::heapster-") && o.passed),
        "heapster's own pod, in monitoring, has metrics: {:?}",
        failures(&result.outcomes)
    );
    Ok(())
}

/// Dashboard v1.10.1 without `--heapster-host` reads `kube-system/heapster` only: heapster
/// itself is green where it runs, the dashboard red on the missing Service, at once.
fn heapster_moved_untold(rt: &tokio::runtime::Runtime) -> TestResult {
    let dir = folder(&relocate_heapster(false)?)?;
    let (_fakes, result, _report) = run_on(rt, world(), |o| {
        o.manifests = dir.path().to_path_buf();
        o.checks.timeout = std::time::Duration::from_secs(120);
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let log = super::outcome(&result.outcomes, "dashboard::log");
    ensure!(
        !log.passed
            && log
                .message
                .contains("Service kube-system/heapster does not exist")
            && !log.message.starts_with("still failing after"),
        "{log:?}"
    );
    passed(
        &result.outcomes,
        "heapster::health",
        "heapster itself serves where it runs",
    )
}

/// Objects as a manifest folder (JSON is YAML), one document each.
fn folder(objects: &[Value]) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let text = objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).expect("JSON"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::write(dir.path().join("release.yaml"), text).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn found_where_it_runs(rt: &tokio::runtime::Runtime, stack: Stack) -> TestResult {
    let dir = folder(&relocate(stack)?)?;
    let (_fakes, result, report) = run_on(rt, world(), |o| {
        *o = o.clone().for_stack(&root(), stack);
        o.manifests = dir.path().to_path_buf();
    });
    expect_passed(&result, &report)?;
    let text = report.lines().join("\n");
    ensure!(
        text.contains(&format!(
            "found metrics-server v0.9.0: Deployment {METRICS_SERVER_NS}/{RELEASE_NAME}, Service {METRICS_SERVER_NS}/{RELEASE_NAME}"
        )),
        "metrics-server found where it runs:\n{text}"
    );
    let ui = match stack {
        Stack::Headlamp => {
            format!("found Headlamp v0.45.0: Deployment {UI_NS}/headlamp, Service {UI_NS}/headlamp")
        }
        _ => format!(
            "found dashboard v2.7.0: Deployment {UI_NS}/kubernetes-dashboard, Service {UI_NS}/kubernetes-dashboard"
        ),
    };
    ensure!(
        text.contains(&ui),
        "the UI found where it runs ({ui}):\n{text}"
    );
    // The UI read as the checks' account, its token read beside the UI in `ui`.
    let through_ui = match stack {
        Stack::Headlamp => "headlamp::node_metrics::e2e-worker",
        _ => "dashboard::node_metrics",
    };
    let o = super::outcome(&result.outcomes, through_ui);
    ensure!(o.passed && !o.ignored, "{o:?}");
    let names: Vec<&str> = result.outcomes.iter().map(|o| o.name.as_str()).collect();
    ensure!(
        names.contains(&format!("workloads::{RELEASE_NAME}").as_str())
            && names
                .iter()
                .any(|n| n.starts_with("metrics_server::pod_metrics::ms-metrics-server-")),
        "the relocated metrics-server is checked, its own pod too: {names:?}"
    );
    Ok(())
}

/// metrics.k8s.io serves, but no dashboard runs anywhere: red, saying what was looked for.
fn missing_dashboard(rt: &tokio::runtime::Runtime) -> TestResult {
    let objects: Vec<Value> = relocate(Stack::MetricsServer)?
        .into_iter()
        .filter(|o| !(o["kind"] == "Deployment" && o["metadata"]["name"] == "kubernetes-dashboard"))
        .collect();
    let dir = folder(&objects)?;
    let (_fakes, result, report) = run_on(rt, world(), |o| {
        *o = o.clone().for_stack(&root(), Stack::MetricsServer);
        o.manifests = dir.path().to_path_buf();
    });
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let text = report.lines().join("\n");
    ensure!(
        text.contains("dashboard: not found (looked for a Deployment running kubernetesui/dashboard in every namespace)"),
        "the report says where it looked:\n{text}"
    );
    let workload = result
        .outcomes
        .iter()
        .find(|o| o.name == "workloads::kubernetes-dashboard")
        .ok_or_else(|| {
            format!(
                "no workload check for the dashboard: {:?}",
                failures(&result.outcomes)
            )
        })?;
    ensure!(
        !workload.passed
            && workload
                .message
                .contains("no Deployment in any namespace runs kubernetesui/dashboard"),
        "{workload:?}"
    );
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "metrics_server::apiservice" && o.passed),
        "metrics.k8s.io itself is fine: {:?}",
        failures(&result.outcomes)
    );
    Ok(())
}
