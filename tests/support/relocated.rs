//! Stacks installed under other names and namespaces, as a platform team's Helm releases
//! would put them: metrics-server in `monitoring` under a release's name, the dashboard and
//! its scraper (or Headlamp) in `ui`. The checks find each part by its image and report
//! where; a cluster without a part is red, naming what is missing and where it was looked for.

use heapster_e2e::manifests;
use heapster_e2e::stack::Stack;
use libtest_mimic::Trial;
use serde_json::{Value, json};

use super::pipeline::{expect_passed, run_on, world};
use super::{Group, Rt, TestResult, failures, root};
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
