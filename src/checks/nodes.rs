//! Nodes and workloads: how many nodes, each Ready, each stack Deployment available.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams};

use super::Verdict;
use super::context::{Ctx, Needs, api_wait, node_name, node_ready};
use super::series::parse_quantity;
use crate::kubeclient::{retry, status};

pub(super) fn capacity(n: &Node, metric: &str) -> Option<i64> {
    let cap = n.status.as_ref()?.capacity.as_ref()?;
    let (key, cpu) = if metric.starts_with("cpu") {
        ("cpu", true)
    } else {
        ("memory", false)
    };
    parse_quantity(&cap.get(key)?.0, cpu)
}

/// Names of the nodes that are Ready now.
pub async fn ready_nodes(client: &Client) -> Result<Vec<String>, kube::Error> {
    let api = Api::<Node>::all(client.clone());
    let lp = ListParams::default();
    Ok(retry(|| api.list(&lp))
        .await?
        .items
        .iter()
        .filter(|n| node_ready(n))
        .map(node_name)
        .collect())
}

/// The node count against `--nodes`. Certain either way: `kind create cluster` returns
/// once every node it made has joined (registered its Node object), and the checks run
/// after it; a node that never joined is not coming.
pub fn count(names: &[String], expected: Option<usize>) -> Verdict {
    match (names.len(), expected) {
        (0, _) => Verdict::Fail("the cluster has zero nodes".into()),
        (n, Some(want)) if n != want => Verdict::Fail(format!(
            "{n} nodes ({}), expected {want}: the cluster was made with another topology (see manifests/kind/kind-config.yaml), or a node never joined (kind logs: `kind export logs`)",
            names.join(", ")
        )),
        (n, _) => Verdict::Pass(format!("{n} nodes")),
    }
}

pub(super) async fn check_count(ctx: Arc<Ctx>) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let names: Vec<String> = snap.nodes.iter().map(node_name).collect();
    count(&names, ctx.config.expected_nodes)
}

pub(super) async fn check_ready(ctx: Arc<Ctx>, node: String) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    match snap.nodes.iter().find(|n| node_name(n) == node) {
        None => Verdict::Fail(format!("node {node} is gone")),
        Some(n) if node_ready(n) => Verdict::Pass("Ready".into()),
        Some(n) => {
            let cond = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .cloned();
            let why = cond
                .map(|c| {
                    format!(
                        "Ready={} ({}: {})",
                        c.status,
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no Ready condition".into());
            Verdict::Wait(format!("node {node} is NotReady: {why}"))
        }
    }
}

/// A node's CPU (millicores) and memory (bytes) capacity, if the snapshot has it.
pub(super) async fn node_capacity(ctx: &Ctx, node: &str) -> Option<(i64, i64)> {
    let snap = ctx.snapshot().await.ok()?;
    let n = snap
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))?;
    Some((capacity(n, "cpu")?, capacity(n, "memory")?))
}

pub(super) async fn check_workload(ctx: Arc<Ctx>, namespace: String, name: String) -> Verdict {
    if let Some(cause) = ctx.blocked(&[&name], Needs::PODS).await {
        return Verdict::Fail(cause);
    }
    let api = Api::<Deployment>::namespaced(ctx.client.clone(), &namespace);
    match retry(|| api.get_opt(&name)).await {
        Err(e) => api_wait(e),
        Ok(None) => Verdict::Fail(format!("Deployment {namespace}/{name} does not exist")),
        Ok(Some(d)) => match status::deployment_available(&d) {
            Ok(()) => Verdict::Pass("available".into()),
            Err(why) => Verdict::Wait(why),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_reads_cpu_in_millicores_and_memory_in_bytes() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "status": {"capacity": {"cpu": "4", "memory": "24653492Ki"}}}))
        .unwrap();
        assert_eq!(capacity(&node, "cpu/usage_rate"), Some(4000));
        assert_eq!(capacity(&node, "memory/usage"), Some(24653492 * 1024));
        let bare: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        assert_eq!(capacity(&bare, "cpu/usage_rate"), None);
    }

    #[test]
    fn a_node_count_off_the_expected_one_fails_at_once() {
        let names = |n: usize| (0..n).map(|i| format!("n{i}")).collect::<Vec<_>>();
        assert!(matches!(count(&names(0), None), Verdict::Fail(m) if m.contains("zero nodes")));
        assert!(matches!(count(&names(0), Some(3)), Verdict::Fail(m) if m.contains("zero nodes")));
        assert!(
            matches!(count(&names(3), Some(5)), Verdict::Fail(m) if m.contains("3 nodes (n0, n1, n2), expected 5"))
        );
        assert!(matches!(count(&names(4), Some(3)), Verdict::Fail(m) if m.contains("expected 3")));
        assert!(matches!(count(&names(3), Some(3)), Verdict::Pass(m) if m == "3 nodes"));
        assert!(count(&names(1), None).is_pass());
    }
}
