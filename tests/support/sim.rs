//! The simulated cluster behaves as upstream where the harness depends on it: real
//! clients work against it unchanged, it reports its node image's version, and it
//! refuses APIs that version no longer serves.

use kind_sim::{Scenario, SimConfig};
use libtest_mimic::Trial;

use super::{Group, Rt};
use super::{SimStack, TestResult, stack_images};
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
    let logs = xshell::cmd!(
        sh,
        "kubectl --kubeconfig {kubeconfig} -n kube-system logs etcd-sim-control-plane"
    )
    .read();
    ensure!(logs.is_ok(), "kubectl logs: {logs:?}");
    Ok(())
}

fn version(rt: &tokio::runtime::Runtime) -> TestResult {
    let mut config = SimConfig::scenario("sim", Scenario::Healthy);
    config.node_image = heapster_e2e::versions::node_image("1.34")
        .map_err(|e| e.to_string())?
        .reference();
    let stack = SimStack::start_with(rt, config);
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
