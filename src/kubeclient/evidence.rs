//! Evidence for a failure message: a pod's last log lines (current and previous
//! container), what its failing readiness probe answers, and its recent events.

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

/// The answer of each HTTP readiness probe of a container that is running but not ready,
/// fetched through the pod proxy (it reaches pods outside their Service): the kubelet's
/// event only says "statuscode: 500", the body says why.
async fn probe_answers(client: &Client, pod: &Pod) -> String {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let mut out = String::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let Some(get) = c.readiness_probe.as_ref().and_then(|p| p.http_get.as_ref()) else {
            continue;
        };
        let running_unready = statuses.iter().any(|s| {
            s.name == c.name && !s.ready && s.state.as_ref().is_some_and(|st| st.running.is_some())
        });
        let port = match &get.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => p.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p) => p.clone(),
        };
        if !running_unready {
            continue;
        }
        let path = get.path.as_deref().unwrap_or("/");
        let scheme = if get.scheme.as_deref() == Some("HTTPS") {
            "https:"
        } else {
            ""
        };
        let url = format!(
            "/api/v1/namespaces/{ns}/pods/{scheme}{name}:{port}/proxy/{}",
            path.trim_start_matches('/')
        );
        if let Ok(answer) =
            crate::kubeclient::raw(client, http::Method::GET, &url, &[], Vec::new()).await
        {
            out.push_str(&format!(
                "\n  readiness probe of {} (GET {path}) answers {}: {}",
                c.name,
                answer.status,
                crate::kubeclient::snippet(&answer.body).replace('\n', " | ")
            ));
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
        out.push_str(&probe_answers(client, &p).await);
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
