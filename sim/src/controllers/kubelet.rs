//! The scheduler and the kubelets: place pods, pull (or fail to pull) images, start
//! containers, restart the ones that exit, judge readiness probes, write container logs
//! and record what happened as Events, as a kubelet reports it.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{PODS, key_of, put_field_if_changed};
use crate::apps::common::{App, node_ip, node_is_ready};
use crate::apps::heapster;
use crate::cluster::{Cluster, PodRuntime, State};
use crate::format_time;

fn schedule(st: &State, pod: &Value) -> Result<String, String> {
    let nodes: Vec<&Value> = st.store.iter("/nodes", None).collect();
    let all_pods: Vec<&Value> = st.store.iter(PODS, None).collect();
    let fits = |n: &&Value| {
        let tainted = n["spec"]["taints"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
        node_is_ready(n) && (!tainted || super::workloads::tolerates_control_plane(&pod["spec"]))
    };
    let candidates: Vec<&Value> = nodes.iter().copied().filter(fits).collect();
    candidates
        .iter()
        .min_by_key(|n| all_pods.iter().filter(|p| p["spec"]["nodeName"] == n["metadata"]["name"]).count())
        .and_then(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .ok_or_else(|| {
            let untolerated = nodes.iter().filter(|n| n["spec"]["taints"].as_array().is_some_and(|t| !t.is_empty())).count();
            let not_ready = nodes.iter().filter(|n| !node_is_ready(n)).count();
            let mut reasons = Vec::new();
            if untolerated > 0 {
                reasons.push(format!("{untolerated} node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}"));
            }
            if not_ready > 0 {
                reasons.push(format!("{not_ready} node(s) had untolerated taint {{node.kubernetes.io/unreachable: }}"));
            }
            let detail = if reasons.is_empty() { String::new() } else { format!(" {}.", reasons.join(", ")) };
            format!("0/{} nodes are available:{detail} preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.", nodes.len(), nodes.len(), nodes.len())
        })
}

fn condition(kind: &str, ok: bool, now: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now})
}

/// Scheduler and kubelet: place pods, pull (or fail to pull) images, start containers,
/// restart the ones that exit, and judge readiness.
pub fn pods(cluster: &Cluster, st: &mut State, now: Timestamp) {
    let timing = &cluster.config.timing;
    let stamp = format_time(now);
    for pod in st.store.list(PODS, None) {
        let key = crate::cluster::object_key(&pod);
        let (ns, name) = key.clone();
        if !st.pods.contains_key(&key) {
            let ip = format!("10.244.{}.{}", st.next_ip / 250, st.next_ip % 250 + 2);
            st.next_ip += 1;
            st.pods.insert(
                key.clone(),
                PodRuntime {
                    node: None,
                    created: now,
                    admitted: None,
                    probes: Default::default(),
                    started: None,
                    restarts: 0,
                    last_crash: None,
                    ip,
                    consumption: Default::default(),
                },
            );
        }
        let node = match pod["spec"]["nodeName"].as_str() {
            Some(n) => n.to_string(),
            None => match schedule(st, &pod) {
                Ok(n) => n,
                Err(message) => {
                    let status = json!({"phase": "Pending", "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastTransitionTime": stamp}]});
                    put_field_if_changed(st, key_of(PODS, &pod), &pod, "status", status);
                    continue;
                }
            },
        };
        let runtime = st.pods.get(&key).cloned().expect("inserted above");
        let containers: &[Value] = pod["spec"]["containers"]
            .as_array()
            .map_or(&[], Vec::as_slice);
        // Per container, in order; read before the state changes below (and without
        // copying the node's image list on every pass).
        let pulled_each: Vec<bool> = {
            let images = st.node_images.get(&node);
            containers
                .iter()
                .map(|c| {
                    let image = c["image"].as_str().unwrap_or_default();
                    let always = c["imagePullPolicy"] == "Always"
                        || (c["imagePullPolicy"].is_null()
                            && crate::images::split_tag(image).1 == "latest");
                    // A kind node has no registry access here: only loaded images can run.
                    !always && images.is_some_and(|i| i.contains(&crate::images::normalize(image)))
                })
                .collect()
        };
        let age = now.duration_since(runtime.created).unsigned_abs();
        let all_pulled = pulled_each.iter().all(|p| *p);
        let mut started = runtime.started;
        if all_pulled && started.is_none() && age >= timing.pod_start {
            started = Some(now);
            start_logs(st, &pod, containers, now);
        }
        let exits = |c: &Value| exit_of(cluster, c, now);
        let mut restarts = runtime.restarts;
        let mut last_crash = runtime.last_crash;
        if started.is_some()
            && containers.iter().any(|c| exits(c).is_some())
            && last_crash
                .is_none_or(|t| now.duration_since(t).unsigned_abs() >= timing.crash_backoff)
        {
            restarts += 1;
            last_crash = Some(now);
            for c in containers {
                let Some((_, line)) = exits(c) else { continue };
                let cname = c["name"].as_str().unwrap_or_default().to_string();
                let log = st
                    .logs
                    .entry((ns.clone(), name.clone(), cname.clone()))
                    .or_default();
                let mut lines = std::mem::take(&mut log.current);
                lines.push(line);
                log.previous = Some(lines);
                if restarts > 1 {
                    event(
                        st,
                        &pod,
                        &cname,
                        &node,
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {cname} in pod {name}_{ns}({})",
                            pod["metadata"]["uid"].as_str().unwrap_or_default()
                        ),
                        now,
                    );
                }
            }
        }
        if let Some(r) = st.pods.get_mut(&key) {
            r.node = Some(node.clone());
            r.admitted.get_or_insert(now);
            r.started = started;
            if r.restarts != restarts {
                // A new container: its worker starts over (`worker.go`, new container ID).
                r.probes.clear();
            }
            r.restarts = restarts;
            r.last_crash = last_crash;
        }
        let mut statuses = Vec::new();
        let mut all_ready = true;
        for (c, pulled) in containers.iter().zip(&pulled_each) {
            let cname = c["name"].as_str().unwrap_or_default();
            let image = c["image"].as_str().unwrap_or_default();
            let (state, ready, last_state, count) = if !pulled {
                let normalized = crate::images::normalize(image);
                let (reason, message) = if age < timing.pod_start * 3 {
                    let why = format!(
                        "failed to pull and unpack image \"{normalized}\": failed to resolve reference \"{normalized}\": not found"
                    );
                    event(
                        st,
                        &pod,
                        cname,
                        &node,
                        "Failed",
                        &format!("Failed to pull image \"{image}\": {why}"),
                        now,
                    );
                    ("ErrImagePull", why)
                } else {
                    let why = format!("Back-off pulling image \"{image}\"");
                    event(st, &pod, cname, &node, "BackOff", &why, now);
                    ("ImagePullBackOff", why)
                };
                (
                    json!({"waiting": {"reason": reason, "message": message}}),
                    false,
                    json!({}),
                    0,
                )
            } else if started.is_none() {
                (
                    json!({"waiting": {"reason": "ContainerCreating"}}),
                    false,
                    json!({}),
                    0,
                )
            } else if let Some((code, _)) = exits(c) {
                let message = format!(
                    "back-off 10s restarting failed container={cname} pod={name}_{ns}({})",
                    pod["metadata"]["uid"].as_str().unwrap_or_default()
                );
                let last = json!({"terminated": {"exitCode": code, "reason": "Error", "finishedAt": last_crash.map(format_time)}});
                (
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}}),
                    false,
                    last,
                    restarts,
                )
            } else {
                let ready = probe_readiness(cluster, st, &key, &pod, c, &node, now);
                (
                    json!({"running": {"startedAt": started.map(format_time)}}),
                    ready,
                    json!({}),
                    0,
                )
            };
            all_ready &= ready;
            statuses.push(json!({"name": cname, "image": image, "imageID": "", "ready": ready, "started": started.is_some(), "restartCount": count, "state": state, "lastState": last_state}));
        }
        let phase = if started.is_some() {
            "Running"
        } else {
            "Pending"
        };
        let mut status = json!({
            "phase": phase,
            "hostIP": node_ip(st, &node),
            "podIP": if started.is_some() { json!(runtime.ip) } else { Value::Null },
            "startTime": format_time(runtime.created),
            "conditions": [
                condition("PodScheduled", true, &stamp),
                condition("Initialized", true, &stamp),
                condition("ContainersReady", all_ready && started.is_some(), &stamp),
                condition("Ready", all_ready && started.is_some(), &stamp),
            ],
            "containerStatuses": statuses,
        });
        // Transition times stay as first written so unchanged pods produce no events.
        if let Some(old) = pod["status"]["conditions"].as_array() {
            for (i, c) in old.iter().enumerate() {
                if status["conditions"][i]["status"] == c["status"] {
                    status["conditions"][i]["lastTransitionTime"] = c["lastTransitionTime"].clone();
                }
            }
        }
        // The pod is copied only when the kubelet (or the scheduler) changed something.
        if pod["spec"]["nodeName"] != node.as_str() || pod["status"] != status {
            let mut updated = (*pod).clone();
            updated["spec"]["nodeName"] = json!(node);
            updated["status"] = status;
            st.store.put(key_of(PODS, &pod), updated);
        }
    }
}

/// Why a container exits at start, if it does: its exit code and last log lines. A
/// fault's crashing image (status 1), heapster refusing its flags (glog `Fatal`: 255), or
/// metrics-server refusing its flags (a panic: 2).
fn exit_of(cluster: &Cluster, container: &Value, now: Timestamp) -> Option<(i64, String)> {
    let image = container["image"].as_str().unwrap_or_default();
    if cluster
        .config
        .faults
        .crash_loop_images
        .iter()
        .any(|x| image.contains(x.as_str()))
    {
        return Some((
            1,
            heapster::glog(
                'F',
                now,
                "main.go:42] failed to start: exiting with status 1",
            ),
        ));
    }
    let args = crate::apps::common::container_args(container);
    match App::of_image(image) {
        App::Heapster => heapster::fatal_error(&args).map(|f| (255, heapster::glog('F', now, &f))),
        // A Go panic exits with status 2.
        App::MetricsServer => crate::apps::metrics_server::fatal_error(&args).map(|f| (2, f)),
        _ => None,
    }
}

/// The container's readiness as its kubelet worker reports it (`prober`): no probe is
/// ready; a probe runs on the worker's grid, each failure an `Unhealthy` Event (K
/// pkg/kubelet/prober/prober.go `recordContainerEvent`).
fn probe_readiness(
    cluster: &Cluster,
    st: &mut State,
    key: &(String, String),
    pod: &Value,
    container: &Value,
    node: &str,
    now: Timestamp,
) -> bool {
    let Some(spec) = crate::prober::ProbeSpec::readiness(container) else {
        return true;
    };
    let cname = container["name"].as_str().unwrap_or_default();
    let Some(runtime) = st.pods.get(key) else {
        return false;
    };
    let (Some(admitted), Some(started)) = (runtime.admitted, runtime.started) else {
        return false;
    };
    let mut state = runtime.probes.get(cname).cloned().unwrap_or_default();
    let second = cluster.config.timing.probe_second;
    if state.run(spec, second, admitted, started, now) == crate::prober::Run::Probe {
        let result = readiness(cluster, st, pod, container, now);
        if let Err(why) = &result {
            let message = format!("Readiness probe failed: {why}");
            event(st, pod, cname, node, "Unhealthy", &message, now);
            if App::of_image(container["image"].as_str().unwrap_or_default()) == App::MetricsServer
            {
                let line = crate::apps::metrics_server::failed_probe_line(now);
                let (ns, name) = key.clone();
                let log = st.logs.entry((ns, name, cname.to_string())).or_default();
                log.current.push(line);
            }
        }
        state.record(spec, result.is_ok());
    }
    let ready = state.ready;
    if let Some(r) = st.pods.get_mut(key) {
        r.probes.insert(cname.to_string(), state);
    }
    ready
}

/// An HTTP readiness probe as the kubelet runs it against the container's own program:
/// heapster's `/healthz` and metrics-server's `/readyz` are the ones the stacks use; other
/// probes pass.
fn readiness(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
    now: Timestamp,
) -> Result<(), String> {
    let image = container["image"].as_str().unwrap_or_default();
    match (
        App::of_image(image),
        container["readinessProbe"]["httpGet"]["path"].as_str(),
    ) {
        (App::Heapster, Some("/healthz")) => {
            match heapster::heapster_of(cluster, st, pod, container).map(|h| h.health(now)) {
                Some(Ok(())) => Ok(()),
                // The kubelet reports the status code, not the body (prober/http.go).
                _ => Err("HTTP probe failed with statuscode: 500".into()),
            }
        }
        (App::MetricsServer, Some("/readyz")) => {
            let ready = crate::apps::metrics_server::metrics_server_of(cluster, st, pod, container)
                .is_some_and(|ms| ms.ready(st, now));
            if ready {
                Ok(())
            } else {
                Err("HTTP probe failed with statuscode: 500".into())
            }
        }
        _ => Ok(()),
    }
}

/// Record (or count again) a kubelet Event about a pod's container.
fn event(
    st: &mut State,
    pod: &Value,
    container: &str,
    node: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let (ns, pod_name) = crate::cluster::object_key(pod);
    let name = format!(
        "{pod_name}.{:016x}",
        crate::name_hash(&format!("{container}/{reason}/{message}"))
    );
    let key = crate::store::Key::new("/events", &ns, &name);
    let stamp = format_time(now);
    let mut ev = st.store.get(&key).cloned().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": name, "namespace": ns},
               "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod_name, "uid": pod["metadata"]["uid"],
                                  "apiVersion": "v1", "fieldPath": format!("spec.containers{{{container}}}")},
               "reason": reason, "message": message, "type": if reason == "Pulled" { "Normal" } else { "Warning" },
               "source": {"component": "kubelet", "host": node},
               "firstTimestamp": stamp, "count": 0})
    });
    // The kubelet's event recorder aggregates repeats; count at most once a second.
    if ev["lastTimestamp"] == stamp.as_str() {
        return;
    }
    ev["count"] = json!(ev["count"].as_i64().unwrap_or(0) + 1);
    ev["lastTimestamp"] = json!(stamp);
    st.store.put(key, ev);
}

/// What each program prints when its container starts; the dashboard prints its own
/// from its loop (`apps::dashboard::tick`).
fn start_logs(st: &mut State, pod: &Value, containers: &[Value], now: Timestamp) {
    let (ns, name) = crate::cluster::object_key(pod);
    for c in containers {
        let image = c["image"].as_str().unwrap_or_default();
        let lines: Vec<String> = match App::of_image(image) {
            App::Heapster => heapster::start_lines(c, now),
            App::InfluxDb => vec![
                "ts=2026-01-01T00:00:00.000000Z lvl=info msg=\"InfluxDB starting\" log_id=0 version=1.5.2".into(),
                "ts=2026-01-01T00:00:00.000000Z lvl=info msg=\"Listening on HTTP\" log_id=0 service=httpd addr=[::]:8086 https=false".into(),
            ],
            App::Grafana => vec![
                "Starting a utility program that will configure Grafana".into(),
                "Starting Grafana in foreground mode".into(),
            ],
            App::MetricsServer => crate::apps::metrics_server::start_lines(now),
            App::Scraper => crate::apps::scraper::start_lines(c, now),
            App::Headlamp => crate::apps::headlamp::start_lines(c, now),
            _ => vec![],
        };
        let log = st
            .logs
            .entry((
                ns.clone(),
                name.clone(),
                c["name"].as_str().unwrap_or_default().to_string(),
            ))
            .or_default();
        log.current.extend(lines);
    }
}
