//! The plan: the cluster's checks, one per node and pod where the check is per node or
//! pod, in name order.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

use super::context::{Ctx, node_name, node_ready};
use super::{
    CHECKS_TOKEN_SECRET, Check, NAMESPACE, NoStack, STACK, check, dashboard, grafana, ground_truth,
    heapster, influxdb, nodes,
};
use crate::kubeclient::retry;

/// The stack's Deployments present in the cluster (`namespace`, `name`); none is an error
/// (`NoStack`): there is nothing to check.
pub async fn stack_deployments(client: &kube::Client) -> anyhow::Result<Vec<(String, String)>> {
    let api = Api::<Deployment>::namespaced(client.clone(), NAMESPACE);
    let lp = ListParams::default();
    let present: Vec<(String, String)> = retry(|| api.list(&lp))
        .await?
        .items
        .into_iter()
        .filter_map(|d| d.metadata.name)
        .filter(|n| STACK.contains(&n.as_str()))
        .map(|n| (NAMESPACE.to_string(), n))
        .collect();
    if present.is_empty() {
        return Err(NoStack.into());
    }
    Ok(present)
}

/// The cluster's checks, in name order. An empty list would be a bug, so the caller
/// treats it as one.
pub async fn plan(ctx: &mut Ctx) -> anyhow::Result<Vec<Check>> {
    let client = ctx.client.clone();
    let lp = ListParams::default();
    let (node_api, pod_api) = (
        Api::<Node>::all(client.clone()),
        Api::<Pod>::namespaced(client.clone(), NAMESPACE),
    );
    let all_nodes = retry(|| node_api.list(&lp)).await?.items;
    let nodes: Vec<String> = all_nodes.iter().map(node_name).collect();
    // A node NotReady at the start is the nodes check's to report, not heapster's.
    let ready: Vec<String> = all_nodes
        .iter()
        .filter(|n| node_ready(n))
        .map(node_name)
        .collect();
    stack_deployments(&client).await?;
    let pods: Vec<String> = retry(|| pod_api.list(&lp))
        .await?
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some_and(|n| ready.contains(n))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    ctx.dashboard_token = dashboard::token(ctx).await?;

    let mut checks = vec![check("nodes::count", nodes::check_count)];
    for node in &nodes {
        let n = node.clone();
        checks.push(check(format!("nodes::ready::{node}"), move |ctx| {
            nodes::check_ready(ctx, n.clone())
        }));
    }
    for node in &ready {
        let n = node.clone();
        checks.push(check(
            format!("heapster::node_metrics::{node}"),
            move |ctx| heapster::check_node_metrics(ctx, n.clone()),
        ));
    }
    for d in STACK {
        checks.push(check(format!("workloads::{d}"), move |ctx| {
            nodes::check_workload(ctx, d)
        }));
    }
    checks.push(check("heapster::health", heapster::check_health));
    checks.push(check("heapster::nodes", heapster::check_nodes));
    for pod in &pods {
        let p = pod.clone();
        checks.push(check(format!("heapster::pod_metrics::{pod}"), move |ctx| {
            heapster::check_pod_metrics(ctx, p.clone())
        }));
    }
    let all_pods = pods.clone();
    checks.push(check("heapster::pod_list_metrics", move |ctx| {
        heapster::check_pod_list_metrics(ctx, all_pods.clone())
    }));
    checks.push(check("influxdb::database", influxdb::check_database));
    checks.push(check("influxdb::node_series", influxdb::check_node_series));
    checks.push(check("grafana::health", grafana::check_health));
    checks.push(check("grafana::datasource", grafana::check_datasource));
    checks.push(check("dashboard::log", dashboard::check_log));
    let no_token = ctx.dashboard_token.is_none().then(|| {
        format!("no dashboard login token: Secret {NAMESPACE}/{CHECKS_TOKEN_SECRET} is missing; apply manifests/60-dashboard-checks.yaml, or pass --dashboard-token-file FILE")
    });
    checks.push(check("dashboard::heapster_state", dashboard::check_state));
    let mut api_checks = vec![
        check("dashboard::node_metrics", |ctx| {
            dashboard::check_list(ctx, "/api/v1/node".into(), "nodes")
        }),
        check("dashboard::pod_metrics", |ctx| {
            dashboard::check_list(ctx, format!("/api/v1/pod/{NAMESPACE}"), "pods")
        }),
    ];
    for c in &mut api_checks {
        c.ignored = no_token.clone();
    }
    checks.extend(api_checks);
    if let Some(load) = ctx.load.clone() {
        checks.extend(ground_truth::checks(&load));
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checks)
}
