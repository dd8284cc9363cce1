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
use crate::stack::Stack;

pub const SMALL_FILES: &[&str] = &["timings.json", "metrics.json", "checks.json"];

fn write_json(dir: &Path, name: &str, value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `timings.json`, `metrics.json`, `checks.json` (with the `before` checks of an upgrade).
pub fn write_small(
    dir: &Path,
    timings: &[super::Span],
    first_metrics: Option<Duration>,
    summary: &Summary,
    outcomes: &[Outcome],
    before: &[Outcome],
) -> anyhow::Result<()> {
    write_timings(dir, timings, first_metrics)?;
    let nodes: Vec<Value> = summary
        .nodes
        .iter()
        .map(|(n, r)| json!({"node": n, "cpu_millicores": r.cpu_millicores, "memory_bytes": r.memory_bytes, "age_seconds": r.age.map(|a| a.as_secs_f64())}))
        .collect();
    write_json(
        dir,
        "metrics.json",
        &json!({"nodes": nodes, "pods_checked": summary.pods_checked, "pods_with_metrics": summary.pods_with_metrics}),
    )?;
    let as_json =
        |outcomes: &[Outcome]| -> Vec<Value> { outcomes.iter().map(outcome_json).collect() };
    write_json(
        dir,
        "checks.json",
        &json!({"checks": as_json(outcomes), "before": as_json(before)}),
    )
}

/// `timings.json`: each phase, and when the first metrics appeared. Written again after
/// teardown, so it has every phase.
pub fn write_timings(
    dir: &Path,
    timings: &[super::Span],
    first_metrics: Option<Duration>,
) -> anyhow::Result<()> {
    let phases: Vec<Value> = timings
        .iter()
        .map(|s| json!({"phase": s.phase, "start": s.start.as_secs_f64(), "end": s.end().as_secs_f64(), "seconds": s.took.as_secs_f64()}))
        .collect();
    write_json(
        dir,
        "timings.json",
        &json!({"phases": phases, "first_metrics_seconds": first_metrics.map(|d| d.as_secs_f64())}),
    )
}

fn outcome_json(o: &Outcome) -> Value {
    let causes: Vec<Value> = o
        .causes
        .iter()
        .map(|c| json!({"cause": c.hint.cause, "fix": c.hint.fix, "evidence": c.evidence}))
        .collect();
    json!({"name": o.name, "passed": o.passed, "ignored": o.ignored, "interrupted": o.interrupted, "seconds": o.duration.as_secs_f64(), "message": o.message, "causes": causes})
}

/// Objects a failing check of `stack` points at: `(kind, namespace, name)`.
pub fn objects_for_check(check: &str, stack: Stack) -> Vec<(&'static str, String, String)> {
    let namespace_of = |name: &str| {
        stack
            .deployments()
            .iter()
            .find(|(_, d)| *d == name)
            .map_or("kube-system", |(ns, _)| ns)
            .to_string()
    };
    let ns = namespace_of(checks::HEAPSTER);
    let deploy = |name: &str| vec![("Deployment", namespace_of(name), name.to_string())];
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
        (Some("metrics_server"), Some("apiservice"), _) => {
            let mut out = vec![(
                "APIService",
                String::new(),
                checks::metrics_api::APISERVICE.to_string(),
            )];
            out.extend(deploy(checks::metrics_api::METRICS_SERVER));
            out
        }
        (Some("metrics_server"), Some("node_metrics"), Some(node)) => {
            let mut out = vec![("Node", String::new(), node.to_string())];
            out.extend(deploy(checks::metrics_api::METRICS_SERVER));
            out
        }
        (Some("metrics_server"), ..) => deploy(checks::metrics_api::METRICS_SERVER),
        (Some("scraper"), ..) => deploy(checks::metrics_api::SCRAPER),
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

/// Evidence problems, kept while the writing goes on: one lost file must not lose the rest.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn keep<T>(&mut self, what: &str, result: anyhow::Result<T>) -> Option<T> {
        result
            .map_err(|e| {
                self.0
                    .push(format!("{what}: {}", crate::error::describe(&e)))
            })
            .ok()
    }

    fn into_result(self) -> anyhow::Result<()> {
        match self.0.as_slice() {
            [] => Ok(()),
            all => anyhow::bail!("{}", all.join("; ")),
        }
    }
}

/// Write one evidence file, making its folder first: another run clearing the same
/// artifacts folder meanwhile must not lose this run's evidence.
fn write(path: &Path, text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A short file name: an index (stable order), then the start of `what` made safe.
/// (URLs such as heapster's pod-list run past the 255-byte limit of file names.)
pub fn response_file(index: usize, what: &str) -> String {
    let safe: String = file_name(what).chars().take(60).collect();
    format!("{index:02}-{safe}.txt")
}

/// The raw answers the checks judged, one file each, and `index.txt` saying which file
/// holds which request in full.
pub fn write_responses(dir: &Path, responses: &BTreeMap<String, Answer>) -> anyhow::Result<()> {
    let dir = dir.join("responses");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut problems = Problems::default();
    let mut index = String::new();
    for (i, (what, answer)) in responses.iter().enumerate() {
        let file = response_file(i + 1, what);
        index.push_str(&format!("{file}\t{what}\n"));
        let text = format!("{what}\nHTTP {}\n\n{}", answer.status, answer.body);
        problems.keep(what, write(&dir.join(&file), text));
    }
    problems.keep("index", write(&dir.join("index.txt"), index));
    problems.into_result()
}

fn yaml_of<K: serde::Serialize>(object: &K) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(object)?;
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Ok(serde_saphyr::to_string(&v)?)
}

/// Pod logs, events and the YAML of implicated objects, from the cluster. Every part is
/// tried; the problems are reported together at the end.
pub async fn write_cluster_evidence(
    client: &Client,
    dir: &Path,
    failing_checks: &[String],
    stuck_pod: Option<&str>,
    stack: Stack,
) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    let mut pod_list = Vec::new();
    for ns in stack.namespaces() {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let listed = problems
            .keep(
                "pods",
                pods.list(&ListParams::default()).await.map_err(Into::into),
            )
            .map(|l| l.items)
            .unwrap_or_default();
        write_pod_logs(&pods, ns, &listed, &dir.join("pods"), &mut problems).await;
        pod_list.extend(listed);
    }
    let events = write_events(client, &dir.join("events.txt")).await;
    problems.keep("events", events);
    let mut wanted: Vec<(&str, String, String)> = failing_checks
        .iter()
        .flat_map(|c| objects_for_check(c, stack))
        .collect();
    if let Some(pod) = stuck_pod {
        let (ns, name) = pod.split_once('/').unwrap_or(("kube-system", pod));
        wanted.push(("Pod", ns.to_string(), name.to_string()));
    }
    wanted.sort();
    wanted.dedup();
    write_objects(
        client,
        &wanted,
        &pod_list,
        &dir.join("objects"),
        &mut problems,
    )
    .await;
    problems.into_result()
}

async fn write_pod_logs(
    pods: &Api<Pod>,
    namespace: &str,
    pod_list: &[Pod],
    dir: &Path,
    problems: &mut Problems,
) {
    if problems
        .keep("pods", std::fs::create_dir_all(dir).map_err(Into::into))
        .is_none()
    {
        return;
    }
    for pod in pod_list {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for (container, previous, log) in
            crate::kubeclient::evidence::container_logs(pods, pod, None).await
        {
            let suffix = if previous { ".previous" } else { "" };
            let file = format!("{namespace}_{name}_{container}{suffix}.log");
            problems.keep(&name, write(&dir.join(file), log));
        }
    }
}

async fn write_events(client: &Client, path: &Path) -> anyhow::Result<()> {
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
    write(path, lines.join("\n"))
}

/// `Kind_namespace_name.yaml` of each wanted object; a Deployment comes with its pods.
async fn write_objects(
    client: &Client,
    wanted: &[(&str, String, String)],
    pod_list: &[Pod],
    dir: &Path,
    problems: &mut Problems,
) {
    if problems
        .keep("objects", std::fs::create_dir_all(dir).map_err(Into::into))
        .is_none()
    {
        return;
    }
    let object_file = |kind: &str, ns: &str, name: &str| {
        let ns = if ns.is_empty() {
            String::new()
        } else {
            format!("{ns}_")
        };
        dir.join(format!("{kind}_{ns}{}.yaml", file_name(name)))
    };
    for (kind, ns, name) in wanted {
        let yaml = match *kind {
            "Node" => Api::<Node>::all(client.clone())
                .get_opt(name)
                .await
                .map(|o| o.map(|o| yaml_of(&o))),
            "Pod" => Api::<Pod>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map(|o| o.map(|o| yaml_of(&o))),
            "APIService" => {
                let gvk =
                    kube::api::GroupVersionKind::gvk("apiregistration.k8s.io", "v1", "APIService");
                let ar = kube::api::ApiResource::from_gvk(&gvk);
                Api::<kube::api::DynamicObject>::all_with(client.clone(), &ar)
                    .get_opt(name)
                    .await
                    .map(|o| o.map(|o| yaml_of(&o)))
            }
            _ => {
                let prefix = format!("{name}-");
                for p in pod_list.iter().filter(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&prefix))
                }) {
                    let pod_name = p.metadata.name.clone().unwrap_or_default();
                    let written =
                        yaml_of(p).and_then(|y| write(&object_file("Pod", ns, &pod_name), y));
                    problems.keep(&pod_name, written);
                }
                Api::<Deployment>::namespaced(client.clone(), ns)
                    .get_opt(name)
                    .await
                    .map(|o| o.map(|o| yaml_of(&o)))
            }
        };
        let written = match yaml {
            Ok(Some(text)) => text.and_then(|t| write(&object_file(kind, ns, name), t)),
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        problems.keep(&format!("{kind} {name}"), written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_checks_point_at_their_objects() {
        assert_eq!(
            objects_for_check("nodes::ready::kind-worker", Stack::Heapster),
            vec![("Node", String::new(), "kind-worker".into())]
        );
        assert_eq!(
            objects_for_check("workloads::heapster", Stack::Heapster),
            vec![("Deployment", "kube-system".into(), "heapster".into())]
        );
        assert_eq!(
            objects_for_check("dashboard::log", Stack::Heapster)[0].2,
            "kubernetes-dashboard"
        );
        assert!(
            objects_for_check("heapster::pod_metrics::coredns-1", Stack::Heapster).contains(&(
                "Pod",
                "kube-system".into(),
                "coredns-1".into()
            ))
        );
    }

    #[test]
    fn every_response_is_written_under_a_short_name_even_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let pods: Vec<String> = (0..40).map(|i| format!("kube-proxy-{i:05}")).collect();
        let long = format!(
            "GET /api/v1/model/namespaces/kube-system/pod-list/{}/metrics/memory/usage",
            pods.join(",")
        );
        let mut responses = BTreeMap::new();
        for what in [long.as_str(), "dashboard log", "heapster /healthz"] {
            responses.insert(
                what.to_string(),
                Answer {
                    status: 200,
                    body: "{}".into(),
                },
            );
        }
        // A directory where the first file should go: that write fails, the rest do not.
        let first = dir.path().join("responses").join(response_file(1, &long));
        std::fs::create_dir_all(&first).unwrap();
        let err = write_responses(dir.path(), &responses).unwrap_err();
        assert!(format!("{err:#}").contains("pod-list"), "{err:#}");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("responses"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| n.len() <= 70), "{names:?}");
        assert_eq!(names.len(), 4, "three answers and the index: {names:?}");
        let index = std::fs::read_to_string(dir.path().join("responses/index.txt")).unwrap();
        assert!(index.contains(&long), "the index keeps the full request");
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
            &[crate::report::Span {
                phase: "Rollout".into(),
                start: Duration::from_secs(1),
                took: Duration::from_secs(2),
            }],
            Some(Duration::from_secs(1)),
            &Summary::default(),
            &o,
            &[],
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
