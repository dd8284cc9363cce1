//! Evidence for a failure message: a pod's last log lines (current and previous
//! container) and its recent events.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Client;
use kube::api::{Api, ListParams, LogParams};

/// Log tail and events of `namespace/name`, formatted to follow a failure message.
pub async fn pod(client: &Client, pod: &str) -> String {
    let (ns, name) = pod.split_once('/').unwrap_or(("default", pod));
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut out = String::new();
    let containers: Vec<String> = match pods.get(name).await {
        Ok(p) => p
            .spec
            .map(|s| s.containers.into_iter().map(|c| c.name).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for container in containers {
        for previous in [false, true] {
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(10),
                ..Default::default()
            };
            if let Ok(log) = pods.logs(name, &params).await
                && !log.trim().is_empty()
            {
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
