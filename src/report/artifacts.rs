//! The evidence a run leaves behind, per run directory: always the small files
//! (`timings.json`, `metrics.json`, `checks.json`); on failure (or `--keep-artifacts`)
//! also each stack pod's log (current and previous), the events by time, the YAML of
//! every object a failing check or wait points at, and the raw responses the checks judged.
//! `kind export logs` is added by the pipeline, which owns the kind calls.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::checks::run::Outcome;
use crate::checks::{self, Summary};
use crate::kubeclient::Answer;

pub const SMALL_FILES: &[&str] = &["timings.json", "metrics.json", "checks.json"];

fn write_json(dir: &Path, name: &str, value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `timings.json`, `metrics.json`, `checks.json`.
pub fn write_small(
    dir: &Path,
    timings: &[(String, Duration)],
    first_metrics: Option<Duration>,
    summary: &Summary,
    outcomes: &[Outcome],
) -> anyhow::Result<()> {
    let phases: Vec<Value> = timings
        .iter()
        .map(|(p, d)| json!({"phase": p, "seconds": d.as_secs_f64()}))
        .collect();
    write_json(
        dir,
        "timings.json",
        &json!({"phases": phases, "first_metrics_seconds": first_metrics.map(|d| d.as_secs_f64())}),
    )?;
    let nodes: Vec<Value> = summary
        .nodes
        .iter()
        .map(|(n, r)| json!({"node": n, "cpu_millicores": r.cpu_millicores, "memory_bytes": r.memory_bytes, "age_seconds": r.age.map(|a| a.as_secs_f64())}))
        .collect();
    write_json(
        dir,
        "metrics.json",
        &json!({"nodes": nodes, "pods_running": summary.pods_running, "pods_with_metrics": summary.pods_with_metrics}),
    )?;
    let checks: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let causes: Vec<Value> = o
                .causes
                .iter()
                .map(|c| json!({"cause": c.hint.cause, "fix": c.hint.fix, "evidence": c.evidence}))
                .collect();
            json!({"name": o.name, "passed": o.passed, "ignored": o.ignored, "interrupted": o.interrupted, "seconds": o.duration.as_secs_f64(), "message": o.message, "causes": causes})
        })
        .collect();
    write_json(dir, "checks.json", &json!({"checks": checks}))
}

/// Objects a failing check points at: `(kind, namespace, name)`.
pub fn objects_for_check(check: &str) -> Vec<(&'static str, String, String)> {
    let ns = checks::NAMESPACE.to_string();
    let deploy = |name: &str| vec![("Deployment", ns.clone(), name.to_string())];
    let mut parts = check.splitn(3, "::");
    match (parts.next(), parts.next(), parts.next()) {
        (Some("nodes"), Some("ready"), Some(node))
        | (Some("heapster"), Some("node_metrics"), Some(node)) => {
            let mut out = vec![("Node", String::new(), node.to_string())];
            if check.starts_with("heapster") {
                out.extend(deploy(checks::HEAPSTER));
            }
            out
        }
        (Some("workloads"), Some(name), _) => deploy(name),
        (Some("heapster"), Some("pod_metrics"), Some(pod)) => {
            let mut out = vec![("Pod", ns.clone(), pod.to_string())];
            out.extend(deploy(checks::HEAPSTER));
            out
        }
        (Some("heapster"), ..) => deploy(checks::HEAPSTER),
        (Some("influxdb"), ..) => deploy(checks::INFLUXDB),
        (Some("grafana"), ..) => deploy(checks::GRAFANA),
        (Some("dashboard"), ..) => deploy(checks::DASHBOARD),
        _ => vec![],
    }
}

fn file_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The raw answers the checks judged, one file each.
pub fn write_responses(dir: &Path, responses: &BTreeMap<String, Answer>) -> anyhow::Result<()> {
    let dir = dir.join("responses");
    std::fs::create_dir_all(&dir)?;
    for (what, answer) in responses {
        std::fs::write(
            dir.join(format!("{}.txt", file_name(what))),
            format!("{what}\nHTTP {}\n\n{}", answer.status, answer.body),
        )?;
    }
    Ok(())
}

fn yaml_of<K: serde::Serialize>(object: &K) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(object)?;
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Ok(serde_saphyr::to_string(&v)?)
}

/// Pod logs, events and the YAML of implicated objects, from the cluster.
pub async fn write_cluster_evidence(
    client: &Client,
    dir: &Path,
    failing_checks: &[String],
    stuck_pod: Option<&str>,
) -> anyhow::Result<()> {
    let pods_dir = dir.join("pods");
    std::fs::create_dir_all(&pods_dir)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), checks::NAMESPACE);
    let pod_list = pods.list(&ListParams::default()).await?.items;
    for pod in &pod_list {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for (container, previous, log) in
            crate::kubeclient::evidence::container_logs(&pods, pod, None).await
        {
            let suffix = if previous { ".previous" } else { "" };
            std::fs::write(
                pods_dir.join(format!(
                    "{}_{name}_{container}{suffix}.log",
                    checks::NAMESPACE
                )),
                log,
            )?;
        }
    }
    let mut events = Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    };
    events.sort_by_key(when);
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            let obj = &e.involved_object;
            format!(
                "{} {} {}/{} {}: {}",
                when(e).map(|t| t.to_string()).unwrap_or_default(),
                e.type_.as_deref().unwrap_or(""),
                obj.kind.as_deref().unwrap_or(""),
                obj.name.as_deref().unwrap_or(""),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    std::fs::write(dir.join("events.txt"), lines.join("\n"))?;

    let objects_dir = dir.join("objects");
    std::fs::create_dir_all(&objects_dir)?;
    let mut wanted: Vec<(&str, String, String)> = failing_checks
        .iter()
        .flat_map(|c| objects_for_check(c))
        .collect();
    if let Some(pod) = stuck_pod {
        let (ns, name) = pod.split_once('/').unwrap_or((checks::NAMESPACE, pod));
        wanted.push(("Pod", ns.to_string(), name.to_string()));
    }
    wanted.sort();
    wanted.dedup();
    for (kind, ns, name) in wanted {
        let text = match kind {
            "Node" => Api::<Node>::all(client.clone())
                .get_opt(&name)
                .await?
                .map(|o| yaml_of(&o)),
            "Pod" => Api::<Pod>::namespaced(client.clone(), &ns)
                .get_opt(&name)
                .await?
                .map(|o| yaml_of(&o)),
            _ => {
                // A Deployment, with its pods.
                let d = Api::<Deployment>::namespaced(client.clone(), &ns)
                    .get_opt(&name)
                    .await?;
                for p in pod_list.iter().filter(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&format!("{name}-")))
                }) {
                    let pod_name = p.metadata.name.clone().unwrap_or_default();
                    std::fs::write(
                        objects_dir.join(format!("Pod_{ns}_{pod_name}.yaml")),
                        yaml_of(p)?,
                    )?;
                }
                d.map(|o| yaml_of(&o))
            }
        };
        if let Some(text) = text {
            std::fs::write(
                objects_dir.join(format!(
                    "{kind}_{}{}.yaml",
                    if ns.is_empty() {
                        String::new()
                    } else {
                        format!("{ns}_")
                    },
                    file_name(&name)
                )),
                text?,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_checks_point_at_their_objects() {
        assert_eq!(
            objects_for_check("nodes::ready::kind-worker"),
            vec![("Node", String::new(), "kind-worker".into())]
        );
        assert_eq!(
            objects_for_check("workloads::heapster"),
            vec![("Deployment", "kube-system".into(), "heapster".into())]
        );
        assert_eq!(
            objects_for_check("dashboard::log")[0].2,
            "kubernetes-dashboard"
        );
        assert!(
            objects_for_check("heapster::pod_metrics::coredns-1").contains(&(
                "Pod",
                "kube-system".into(),
                "coredns-1".into()
            ))
        );
    }

    #[test]
    fn small_files_are_json() {
        let dir = tempfile::tempdir().unwrap();
        let o = vec![Outcome {
            duration: Duration::from_millis(3),
            ..Outcome::checked("a", true, "ok")
        }];
        write_small(
            dir.path(),
            &[("Rollout".into(), Duration::from_secs(2))],
            Some(Duration::from_secs(1)),
            &Summary::default(),
            &o,
        )
        .unwrap();
        for f in SMALL_FILES {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.path().join(f)).unwrap())
                    .unwrap();
            assert!(v.is_object(), "{f}");
        }
    }
}
