//! `kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints
//! the server's columns. Without a Table it falls back to NAME and AGE. The columns and
//! cells are those of kubernetes' pkg/printers/internalversion/printers.go
//! (podColumnDefinitions, nodeColumnDefinitions, deploymentColumnDefinitions,
//! replicaSetColumnDefinitions, daemonSetColumnDefinitions, serviceColumnDefinitions),
//! default columns (priority 0) only; other kinds get the default convertor's Name and
//! Created At. Ages are apimachinery's duration.HumanDuration (v0.34.0).

use std::time::Duration;

use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Whether the client asked for a Table answer.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table") && a.contains("g=meta.k8s.io"))
}

/// A meta.k8s.io/v1 Table of `objects`, each row with its object's metadata.
pub(super) fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: &str,
    now: Timestamp,
) -> Value {
    let columns = columns(rt.kind);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": cells(rt.kind, o, now),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
            })
        })
        .collect();
    let definitions: Vec<Value> = columns
        .iter()
        .map(|(name, ty)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": ty, "format": format, "description": "", "priority": 0})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn columns(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "Pod" => &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
            ("Age", "string"),
        ],
        "Node" => &[
            ("Name", "string"),
            ("Status", "string"),
            ("Roles", "string"),
            ("Age", "string"),
            ("Version", "string"),
        ],
        "Deployment" => &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Up-to-date", "string"),
            ("Available", "string"),
            ("Age", "string"),
        ],
        "ReplicaSet" => &[
            ("Name", "string"),
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
            ("Age", "string"),
        ],
        "DaemonSet" => &[
            ("Name", "string"),
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
            ("Node Selector", "string"),
            ("Age", "string"),
        ],
        "Service" => &[
            ("Name", "string"),
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("External-IP", "string"),
            ("Port(s)", "string"),
            ("Age", "string"),
        ],
        _ => &[("Name", "string"), ("Created At", "date")],
    }
}

fn cells(kind: &str, o: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let created = o["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    let age = json!(created.map_or("<unknown>".to_string(), |t| human_duration(
        now.duration_since(t).unsigned_abs()
    )));
    let int = |v: &Value| json!(v.as_i64().unwrap_or(0));
    let status = &o["status"];
    match kind {
        "Pod" => {
            let statuses = status["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                age,
            ]
        }
        "Node" => {
            let ready = status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .is_some_and(|c| c["status"] == "True");
            let mut state = if ready { "Ready" } else { "NotReady" }.to_string();
            if o["spec"]["unschedulable"] == true {
                state.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = o["metadata"]["labels"]
                .as_object()
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            let roles = if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            };
            vec![
                name,
                json!(state),
                json!(roles),
                age,
                json!(status["nodeInfo"]["kubeletVersion"]),
            ]
        }
        "Deployment" => {
            let desired = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = status["readyReplicas"].as_i64().unwrap_or(0);
            vec![
                name,
                json!(format!("{ready}/{desired}")),
                int(&status["updatedReplicas"]),
                int(&status["availableReplicas"]),
                age,
            ]
        }
        "ReplicaSet" => vec![
            name,
            int(&o["spec"]["replicas"]),
            int(&status["replicas"]),
            int(&status["readyReplicas"]),
            age,
        ],
        "DaemonSet" => {
            let selector = o["spec"]["template"]["spec"]["nodeSelector"]
                .as_object()
                .map(|s| {
                    s.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                int(&status["desiredNumberScheduled"]),
                int(&status["currentNumberScheduled"]),
                int(&status["numberReady"]),
                int(&status["updatedNumberScheduled"]),
                int(&status["numberAvailable"]),
                json!(selector),
                age,
            ]
        }
        "Service" => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ports = if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            };
            vec![
                name,
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP")),
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
                json!("<none>"),
                json!(ports),
                age,
            ]
        }
        _ => vec![name, json!(o["metadata"]["creationTimestamp"])],
    }
}

/// printPod's status: a waiting or terminated container's reason wins over the phase.
fn pod_status(pod: &Value) -> String {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = c["state"][state]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                return reason.to_string();
            }
        }
    }
    pod["status"]["phase"]
        .as_str()
        .unwrap_or("Unknown")
        .to_string()
}

/// apimachinery's duration.HumanDuration: two or three significant figures.
pub(super) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    let (d_, y) = (h / 24, h / 24 / 365);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s.is_multiple_of(60) => format!("{m}m"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m.is_multiple_of(60) => format!("{h}h"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 && h.is_multiple_of(24) => format!("{d_}d"),
        _ if h < 24 * 8 => format!("{d_}d{}h", h % 24),
        _ if h < 24 * 365 * 2 => format!("{d_}d"),
        _ if h < 24 * 365 * 8 && d_.is_multiple_of(365) => format!("{y}y"),
        _ if h < 24 * 365 * 8 => format!("{y}y{}d", d_ % 365),
        _ => format!("{y}y"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let cases = [
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (9 * 3600, "9h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn a_crash_looping_pod_shows_its_reason_and_restarts() {
        let pod = json!({
            "metadata": {"name": "heapster-1", "creationTimestamp": "2026-11-28T10:00:00Z"},
            "spec": {"containers": [{"name": "heapster"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        let now: Timestamp = "2026-11-28T10:05:00Z".parse().unwrap();
        assert_eq!(
            cells("Pod", &pod, now),
            vec![
                json!("heapster-1"),
                json!("0/1"),
                json!("CrashLoopBackOff"),
                json!("3"),
                json!("5m")
            ]
        );
    }
}
