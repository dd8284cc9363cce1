//! Evidence for a failure message: a pod's last log lines (current and previous
//! container) and its recent events.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Client;
use kube::api::{Api, ListParams, LogParams};

/// Each container's log, current and previous (`tail` lines, or all), as
/// `(container, previous, text)`; logs that cannot be read are left out.
pub async fn container_logs(
    pods: &Api<Pod>,
    pod: &Pod,
    tail: Option<i64>,
) -> Vec<(String, bool, String)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let containers: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
        .collect();
    let mut out = Vec::new();
    for container in containers {
        for previous in [false, true] {
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: tail,
                ..Default::default()
            };
            if let Ok(log) = pods.logs(&name, &params).await {
                out.push((container.clone(), previous, log));
            }
        }
    }
    out
}

/// Log tail and events of `namespace/name`, formatted to follow a failure message.
pub async fn pod(client: &Client, pod: &str) -> String {
    let (ns, name) = pod.split_once('/').unwrap_or(("default", pod));
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut out = String::new();
    if let Ok(p) = pods.get(name).await {
        for (container, previous, log) in container_logs(&pods, &p, Some(10)).await {
            if log.trim().is_empty() {
                continue;
            }
            let which = if previous {
                "previous container"
            } else {
                "log"
            };
            out.push_str(&format!("\n  last lines of {container} ({which}):\n"));
            for line in log.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    if let Ok(list) = events.list(&params).await {
        let mut items = list.items;
        items.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
        for e in items.iter().rev().take(5).rev() {
            out.push_str(&format!(
                "\n  event {}: {}",
                e.reason.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or("")
            ));
        }
    }
    out
}
