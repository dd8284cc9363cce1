//! The simulated cluster behaves as upstream where the harness depends on it: real
//! clients work against it unchanged, it reports its node image's version, and it
//! refuses APIs that version no longer serves.

use std::time::Duration;

use heapster_e2e::stack::Stack;
use kind_sim::{Scenario, SimConfig};
use libtest_mimic::Trial;

use super::{Group, Rt};
use super::{SimStack, TestResult, root, stack_images};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let kubectl = heapster_e2e::pipeline::tools::find_on_path(
        &std::env::var_os("PATH").unwrap_or_default(),
        "kubectl",
    );
    let g = Group::new(rt, "sim");
    vec![
        g.trial("kubectl_gets_nodes_pods_and_logs", kubectl_works)
            .with_ignored_flag(kubectl.is_none()),
        g.trial("kubectl_top_follows_the_apiservice", kubectl_top)
            .with_ignored_flag(kubectl.is_none()),
        g.trial("version_is_the_node_images", version),
        g.trial("removed_api_is_refused", removed_api),
    ]
}

fn kubectl_works(rt: &tokio::runtime::Runtime) -> TestResult {
    let handle = rt
        .block_on(kind_sim::start(SimConfig::scenario(
            "sim",
            Scenario::Healthy,
        )))
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kubeconfig = dir.path().join("kubeconfig");
    handle
        .write_kubeconfig(&kubeconfig)
        .map_err(|e| e.to_string())?;
    let sh = xshell::Shell::new().map_err(|e| e.to_string())?;
    let all = xshell::cmd!(sh, "kubectl --kubeconfig {kubeconfig} get nodes,pods -A")
        .read()
        .map_err(|e| e.to_string())?;
    ensure!(
        all.contains("node/sim-worker2") && all.contains("pod/etcd-sim-control-plane"),
        "{all}"
    );
    // The pods start a moment after the cluster: a log exists once the container runs.
    let running_phase = "--for=jsonpath={.status.phase}=Running";
    let running = xshell::cmd!(
        sh,
        "kubectl --kubeconfig {kubeconfig} -n kube-system wait {running_phase} pod/etcd-sim-control-plane --timeout=30s"
    )
    .read();
    ensure!(running.is_ok(), "kubectl wait: {running:?}");
    let logs = xshell::cmd!(
        sh,
        "kubectl --kubeconfig {kubeconfig} -n kube-system logs etcd-sim-control-plane"
    )
    .read();
    ensure!(logs.is_ok(), "kubectl logs: {logs:?}");
    Ok(())
}

fn version(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = SimStack::on_version(rt, "1.34");
    let info = rt
        .block_on(stack.client.apiserver_version())
        .map_err(|e| e.to_string())?;
    ensure!(
        info.git_version == "v1.34.11" && info.minor == "34",
        "{info:?}"
    );
    Ok(())
}

fn removed_api(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = SimStack::start(rt, "sim", Scenario::Healthy, stack_images());
    let old = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: heapster, namespace: kube-system}\nspec:\n  template:\n    metadata: {labels: {k8s-app: heapster}}\n    spec: {containers: [{name: heapster, image: 'registry.k8s.io/heapster-amd64:v1.4.0'}]}\n";
    let docs = heapster_e2e::manifests::parse_file(std::path::Path::new("heapster.yaml"), old)
        .map_err(|e| e.to_string())?;
    let err = rt
        .block_on(heapster_e2e::pipeline::apply::apply(
            &stack.client,
            &docs,
            |_| {},
        ))
        .err()
        .ok_or("a removed API was applied")?;
    let message = format!("{err:#}");
    ensure!(
        message.contains("does not serve extensions/v1beta1 Deployment")
            && message.contains("cargo xtask lint"),
        "{message}"
    );
    Ok(())
}

/// kubectl's own client (aggregated discovery, stale versions dropped) against the
/// metrics-server stack: `kubectl top node` lists every node while the APIService is
/// Available, and says "Metrics API not available" when the aggregator cannot reach it,
/// although the legacy `/apis` still lists the group.
fn kubectl_top(rt: &tokio::runtime::Runtime) -> TestResult {
    let images: Vec<String> = Stack::MetricsServer
        .images()
        .iter()
        .map(|i| i.reference())
        .collect();
    for (scenario, reason) in [
        (Scenario::Healthy, "Passed"),
        (Scenario::ApiServiceUnavailable, "FailedDiscoveryCheck"),
    ] {
        let stack = SimStack::start(rt, "sim", scenario, images.clone());
        stack
            .apply_and_wait(
                rt,
                &Stack::MetricsServer.manifests(&root()),
                Duration::from_secs(30),
            )
            .map_err(|e| e.to_string())?;
        rt.block_on(apiservice_reason(&stack.client, reason))?;
        let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (kubeconfig, cache) = (&stack.kubeconfig, cache.path());
        let sh = xshell::Shell::new().map_err(|e| e.to_string())?;
        let top = xshell::cmd!(
            sh,
            "kubectl --kubeconfig {kubeconfig} --cache-dir {cache} top node"
        )
        .ignore_status()
        .output()
        .map_err(|e| e.to_string())?;
        let (out, err) = (
            String::from_utf8_lossy(&top.stdout),
            String::from_utf8_lossy(&top.stderr),
        );
        if scenario == Scenario::Healthy {
            ensure!(
                top.status.success() && out.contains("sim-worker2") && out.contains("CPU(cores)"),
                "{out}{err}"
            );
        } else {
            ensure!(
                !top.status.success() && err.contains("error: Metrics API not available"),
                "{out}{err}"
            );
            let legacy = xshell::cmd!(
                sh,
                "kubectl --kubeconfig {kubeconfig} --cache-dir {cache} get --raw /apis"
            )
            .read()
            .map_err(|e| e.to_string())?;
            ensure!(legacy.contains(r#""name":"metrics.k8s.io""#), "{legacy}");
        }
    }
    Ok(())
}

/// Wait (polling, with a deadline) until the metrics APIService's `Available` has `reason`.
async fn apiservice_reason(client: &kube::Client, reason: &str) -> TestResult {
    let path = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let answer = heapster_e2e::kubeclient::raw(client, http::Method::GET, path, &[], vec![])
            .await
            .map_err(|e| e.to_string())?;
        last = answer.body.clone();
        if answer.json().ok().is_some_and(|v: serde_json::Value| {
            v["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Available" && c["reason"] == reason)
        }) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the APIService never had reason {reason}: {last}").into())
}
