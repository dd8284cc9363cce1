//! The controllers of the simulated cluster, run every tick: deployment and replica-set
//! controllers, the daemon-set controller, scheduler and kubelet (pod lifecycle), the
//! service-account token controller, and the apps' own background loops.

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::apps::{self, App};
use crate::cluster::{Cluster, PodRuntime, State, now};
use crate::format_time;
use crate::rbac::Identity;
use crate::store::Key;

const PODS: &str = "/pods";
const REPLICA_SETS: &str = "apps/replicasets";

pub fn reconcile(cluster: &Cluster) {
    let now = now();
    let mut st = cluster.lock();
    let st = &mut *st;
    nodes(cluster, st);
    if cluster.config.faults.no_heapster_service {
        for svc in st.store.list("/services", None) {
            if svc["metadata"]["name"] == "heapster" {
                st.store.delete(&key_of("/services", &svc));
            }
        }
    }
    tokens(st);
    deployments(st);
    replica_sets(st);
    daemon_sets(st);
    pods(cluster, st, now);
    workload_status(st);
    dashboards(cluster, st, now);
    heapster_log(cluster, st, now);
}

fn key_of(resource: &str, obj: &Value) -> Key {
    Key::new(
        resource,
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default(),
    )
}

/// Write only real changes, so that watchers see events for changes and nothing else.
fn put_if_changed(st: &mut State, key: Key, object: Value) {
    let unchanged = st.store.get(&key).is_some_and(|old| {
        let mut old = old.clone();
        old["metadata"]["resourceVersion"] = object["metadata"]["resourceVersion"].clone();
        old == object
    });
    if !unchanged {
        st.store.put(key, object);
    }
}

fn nodes(cluster: &Cluster, st: &mut State) {
    for node in st.store.list("/nodes", None) {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let ready = if cluster.config.faults.not_ready_node.as_deref() == Some(name) {
            json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
        } else {
            json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"})
        };
        let mut updated = node.clone();
        updated["status"]["conditions"] = json!([ready]);
        put_if_changed(st, key_of("/nodes", &node), updated);
    }
}

/// The token controller fills `kubernetes.io/service-account-token` Secrets.
fn tokens(st: &mut State) {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in st.store.list("/secrets", None) {
        if secret["type"] != "kubernetes.io/service-account-token"
            || secret["data"]["token"].is_string()
        {
            continue;
        }
        let ns = secret["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(sa) = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
            .as_str()
            .map(str::to_string)
        else {
            continue;
        };
        if st
            .store
            .get(&Key::new("/serviceaccounts", &ns, &sa))
            .is_none()
        {
            continue;
        }
        let token = crate::random_token(&format!("sa-{ns}-{sa}"));
        st.sa_tokens
            .insert(token.clone(), Identity::service_account(&ns, &sa));
        let mut filled = secret.clone();
        filled["data"] = json!({"token": b64(&token), "namespace": b64(&ns), "ca.crt": b64("simulated cluster: plain HTTP, no CA\n")});
        st.store.put(key_of("/secrets", &secret), filled);
    }
}

fn owner_ref(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

fn owned_by<'a>(objects: &'a [Value], owner: &Value) -> impl Iterator<Item = &'a Value> {
    let uid = owner["metadata"]["uid"].clone();
    objects
        .iter()
        .filter(move |o| o["metadata"]["ownerReferences"][0]["uid"] == uid)
}

fn suffix(seed: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = crate::name_hash(seed);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Deployment controller: one ReplicaSet per pod template; old ones are scaled down only
/// once the new one's pods are all ready (surge first, like `maxUnavailable: 0`).
fn deployments(st: &mut State) {
    let all_rs = st.store.list(REPLICA_SETS, None);
    for deploy in st.store.list("apps/deployments", None) {
        let ns = deploy["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let template = &deploy["spec"]["template"];
        let hash = format!(
            "{:x}",
            crate::name_hash(&template.to_string()) % 0xff_ffff_ffff
        );
        let name = format!(
            "{}-{hash}",
            deploy["metadata"]["name"].as_str().unwrap_or_default()
        );
        let desired = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
        let mut labels = template["metadata"]["labels"].clone();
        labels["pod-template-hash"] = json!(hash);
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"] = labels.clone();
        let existing = st.store.get(&Key::new(REPLICA_SETS, &ns, &name)).cloned();
        let mut rs = existing.clone().unwrap_or_else(|| {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": owner_ref(&deploy, "Deployment", "apps/v1")},
                   "spec": {}})
        });
        rs["spec"] = json!({"replicas": desired, "selector": deploy["spec"]["selector"], "template": rs_template});
        put_if_changed(st, Key::new(REPLICA_SETS, &ns, &name), rs.clone());
        let new_ready = existing
            .as_ref()
            .and_then(|r| r["status"]["readyReplicas"].as_i64())
            .unwrap_or(0);
        for old in owned_by(&all_rs, &deploy).filter(|r| r["metadata"]["name"] != name.as_str()) {
            if new_ready >= desired && old["spec"]["replicas"] != 0 {
                let mut scaled = old.clone();
                scaled["spec"]["replicas"] = json!(0);
                st.store.put(key_of(REPLICA_SETS, old), scaled);
            }
        }
    }
}

fn replica_sets(st: &mut State) {
    let pods = st.store.list(PODS, None);
    for rs in st.store.list(REPLICA_SETS, None) {
        let ns = rs["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rs_name = rs["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
        let owned: Vec<Value> = owned_by(&pods, &rs).cloned().collect();
        for i in owned.len()..desired {
            let name = format!(
                "{rs_name}-{}",
                suffix(&format!("{rs_name}/{i}/{}", st.store.resource_version()))
            );
            let pod = pod_from_template(
                &rs["spec"]["template"],
                &name,
                &ns,
                owner_ref(&rs, "ReplicaSet", "apps/v1"),
                None,
            );
            st.store.put(Key::new(PODS, &ns, &name), pod);
        }
        for extra in owned.iter().skip(desired) {
            delete_pod(st, extra);
        }
    }
}

fn tolerates_control_plane(pod_spec: &Value) -> bool {
    pod_spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            t["operator"] == "Exists" && t["key"].is_null()
                || t["key"] == "node-role.kubernetes.io/control-plane"
        })
}

fn daemon_sets(st: &mut State) {
    let pods = st.store.list(PODS, None);
    let nodes = st.store.list("/nodes", None);
    for ds in st.store.list("apps/daemonsets", None) {
        let ns = ds["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ds_name = ds["metadata"]["name"].as_str().unwrap_or_default();
        let owned: Vec<&Value> = owned_by(&pods, &ds).collect();
        for node in &nodes {
            let node_name = node["metadata"]["name"].as_str().unwrap_or_default();
            let tainted = node["spec"]["taints"]
                .as_array()
                .is_some_and(|t| !t.is_empty());
            if tainted && !tolerates_control_plane(&ds["spec"]["template"]["spec"]) {
                continue;
            }
            if owned.iter().any(|p| p["spec"]["nodeName"] == node_name) {
                continue;
            }
            let name = format!("{ds_name}-{}", suffix(&format!("{ds_name}/{node_name}")));
            let pod = pod_from_template(
                &ds["spec"]["template"],
                &name,
                &ns,
                owner_ref(&ds, "DaemonSet", "apps/v1"),
                Some(node_name),
            );
            st.store.put(Key::new(PODS, &ns, &name), pod);
        }
    }
}

fn pod_from_template(
    template: &Value,
    name: &str,
    ns: &str,
    owners: Value,
    node: Option<&str>,
) -> Value {
    let mut spec = template["spec"].clone();
    if spec["serviceAccountName"].is_null() {
        spec["serviceAccountName"] = json!("default");
    }
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": template["metadata"]["labels"], "ownerReferences": owners},
        "spec": spec,
        "status": {"phase": "Pending"},
    })
}

fn delete_pod(st: &mut State, pod: &Value) {
    let key = key_of(PODS, pod);
    st.pods.remove(&(key.namespace.clone(), key.name.clone()));
    st.store.delete(&key);
}

fn schedule(cluster: &Cluster, st: &State, pod: &Value) -> Result<String, String> {
    let nodes = st.store.list("/nodes", None);
    let all_pods = st.store.list(PODS, None);
    let fits = |n: &&Value| {
        let tainted = n["spec"]["taints"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
        apps::node_is_ready(n) && (!tainted || tolerates_control_plane(&pod["spec"]))
    };
    let candidates: Vec<&Value> = nodes.iter().filter(fits).collect();
    let _ = cluster;
    candidates
        .iter()
        .min_by_key(|n| all_pods.iter().filter(|p| p["spec"]["nodeName"] == n["metadata"]["name"]).count())
        .and_then(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .ok_or_else(|| {
            let untolerated = nodes.iter().filter(|n| n["spec"]["taints"].as_array().is_some_and(|t| !t.is_empty())).count();
            let not_ready = nodes.iter().filter(|n| !apps::node_is_ready(n)).count();
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
/// crash them when a fault says so, and judge readiness.
fn pods(cluster: &Cluster, st: &mut State, now: Timestamp) {
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
                    started: None,
                    restarts: 0,
                    last_crash: None,
                    ip,
                    consumption: Default::default(),
                },
            );
        }
        let mut updated = pod.clone();
        let node = match pod["spec"]["nodeName"].as_str() {
            Some(n) => n.to_string(),
            None => match schedule(cluster, st, &pod) {
                Ok(n) => {
                    updated["spec"]["nodeName"] = json!(n);
                    n
                }
                Err(message) => {
                    updated["status"] = json!({"phase": "Pending", "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastTransitionTime": stamp}]});
                    put_if_changed(st, key_of(PODS, &pod), updated);
                    continue;
                }
            },
        };
        let runtime = st.pods.get(&key).cloned().expect("inserted above");
        let images = st.node_images.get(&node).cloned().unwrap_or_default();
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pulled = |c: &Value| {
            let image = c["image"].as_str().unwrap_or_default();
            let always = c["imagePullPolicy"] == "Always"
                || (c["imagePullPolicy"].is_null()
                    && crate::images::split_tag(image).1 == "latest");
            // A kind node has no registry access here: only loaded images can run.
            !always && images.contains(&crate::images::normalize(image))
        };
        let age = now.duration_since(runtime.created).unsigned_abs();
        let all_pulled = containers.iter().all(pulled);
        let mut started = runtime.started;
        if all_pulled && started.is_none() && age >= timing.pod_start {
            started = Some(now);
            start_logs(cluster, st, &pod, &containers);
        }
        let crashing_image = cluster.config.faults.crash_loop_image.as_deref();
        let crashes = |c: &Value| {
            crashing_image.is_some_and(|x| c["image"].as_str().unwrap_or_default().contains(x))
        };
        let mut restarts = runtime.restarts;
        let mut last_crash = runtime.last_crash;
        if started.is_some()
            && containers.iter().any(crashes)
            && last_crash
                .is_none_or(|t| now.duration_since(t).unsigned_abs() >= timing.crash_backoff)
        {
            restarts += 1;
            last_crash = Some(now);
            for c in containers.iter().filter(|c| crashes(c)) {
                let log = st
                    .logs
                    .entry((
                        ns.clone(),
                        name.clone(),
                        c["name"].as_str().unwrap_or_default().to_string(),
                    ))
                    .or_default();
                let mut lines = std::mem::take(&mut log.current);
                lines.push(format!(
                    "F{} 1 main.go:42] failed to start: exiting with status 1",
                    now.strftime("%m%d %H:%M:%S%.6f")
                ));
                log.previous = Some(lines);
            }
        }
        if let Some(r) = st.pods.get_mut(&key) {
            r.node = Some(node.clone());
            r.started = started;
            r.restarts = restarts;
            r.last_crash = last_crash;
        }
        let mut statuses = Vec::new();
        let mut all_ready = true;
        for c in &containers {
            let cname = c["name"].as_str().unwrap_or_default();
            let image = c["image"].as_str().unwrap_or_default();
            let (state, ready, last_state, count) = if !pulled(c) {
                let (reason, message) = if age < timing.pod_start * 3 {
                    (
                        "ErrImagePull",
                        format!(
                            "failed to pull and unpack image \"{}\": failed to resolve reference \"{}\": not found",
                            crate::images::normalize(image),
                            crate::images::normalize(image)
                        ),
                    )
                } else {
                    (
                        "ImagePullBackOff",
                        format!("Back-off pulling image \"{image}\""),
                    )
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
            } else if crashes(c) {
                let message = format!(
                    "back-off 10s restarting failed container={cname} pod={name}_{ns}({})",
                    pod["metadata"]["uid"].as_str().unwrap_or_default()
                );
                let last = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_crash.map(format_time)}});
                (
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}}),
                    false,
                    last,
                    restarts,
                )
            } else {
                let probe_ok = match (
                    App::of_image(image),
                    c["readinessProbe"]["httpGet"]["path"].as_str(),
                ) {
                    // This pod's own heapster answers its probe.
                    (App::Heapster, Some("/healthz")) => {
                        apps::heapster_of(cluster, st, &pod, c).is_some_and(|h| h.has_batch(now))
                    }
                    _ => true,
                };
                (
                    json!({"running": {"startedAt": started.map(format_time)}}),
                    probe_ok,
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
        updated["status"] = json!({
            "phase": phase,
            "hostIP": apps::node_ip(st, &node),
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
                if updated["status"]["conditions"][i]["status"] == c["status"] {
                    updated["status"]["conditions"][i]["lastTransitionTime"] =
                        c["lastTransitionTime"].clone();
                }
            }
        }
        put_if_changed(st, key_of(PODS, &pod), updated);
    }
}

fn start_logs(cluster: &Cluster, st: &mut State, pod: &Value, containers: &[Value]) {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    for c in containers {
        let image = c["image"].as_str().unwrap_or_default();
        let lines: Vec<String> = match App::of_image(image) {
            App::Heapster => vec![
                format!("heapster.go:78] {}", apps::container_args(c).join(" ")),
                format!("heapster.go:79] Heapster version {}", image.rsplit(':').next().unwrap_or_default()),
                "configs.go:61] Using Kubernetes client with master \"https://10.96.0.1:443\" and version v1".into(),
                "heapster.go:202] Starting with Metric Sink".into(),
                "heapster.go:112] Starting heapster on port 8082".into(),
            ],
            App::InfluxDb => vec!["[I] InfluxDB starting, version 1.5.2".into(), "[httpd] Listening on HTTP: [::]:8086".into()],
            App::Grafana => vec!["t=ok lvl=info msg=\"Starting Grafana\" logger=main".into()],
            // The dashboard's own lines come from its loop, below.
            _ => vec![],
        };
        let stamp = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
        let log = st
            .logs
            .entry((
                ns.to_string(),
                name.to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            ))
            .or_default();
        for line in lines {
            if App::of_image(image) == App::Heapster {
                log.current.push(format!(
                    "I{}       1 {line}",
                    stamp.strftime("%m%d %H:%M:%S%.6f")
                ));
            } else {
                log.current.push(line);
            }
        }
    }
    let _ = cluster;
}

/// Each heapster logs its scrape failure every resolution while it cannot scrape.
fn heapster_log(cluster: &Cluster, st: &mut State, now: Timestamp) {
    for (pod, container) in apps::heapster_pods(st) {
        let Some(h) = apps::heapster_of(cluster, st, &pod, &container) else {
            continue;
        };
        let Some(error) = h.scrape_error else {
            continue;
        };
        let (ns, name) = crate::cluster::object_key(&pod);
        let key = (
            ns,
            name,
            container["name"].as_str().unwrap_or_default().to_string(),
        );
        let period = cluster.config.timing.first_batch;
        let log = st.logs.entry(key).or_default();
        let errors_so_far = log.current.iter().filter(|l| l.starts_with('E')).count() as u32;
        let due = h.started + period * (errors_so_far + 1);
        if now >= due && errors_so_far < 200 {
            log.current.push(format!(
                "E{}       1 manager.go:101] {error}",
                now.strftime("%m%d %H:%M:%S%.6f")
            ));
        }
    }
}

/// kubernetes-dashboard v1.10.1's startup lines and its metric client health loop.
fn dashboards(cluster: &Cluster, st: &mut State, now: Timestamp) {
    let period = cluster.config.timing.dashboard_check_period;
    for pod in st
        .store
        .list(PODS, None)
        .into_iter()
        .filter(apps::pod_is_running)
    {
        let Some(container) = pod["spec"]["containers"]
            .as_array()
            .and_then(|cs| {
                cs.iter().find(|c| {
                    App::of_image(c["image"].as_str().unwrap_or_default()) == App::Dashboard
                })
            })
            .cloned()
        else {
            continue;
        };
        let key = crate::cluster::object_key(&pod);
        let (ns, name) = key.clone();
        let mut rt = st.dashboards.get(&key).cloned().unwrap_or_default();
        if rt.next_check.is_some_and(|t| now < t) {
            continue;
        }
        if !rt.ever_checked {
            let version = cluster.git_version.clone();
            for line in [
                "Starting overwatch".to_string(),
                "Using in-cluster config to connect to apiserver".into(),
                "Using service account token for csrf signing".into(),
                format!("Successful initial request to the apiserver, version: {version}"),
                "Generating JWE encryption key".into(),
                format!(
                    "New synchronizer has been registered: kubernetes-dashboard-key-holder-{ns}. Starting"
                ),
                format!(
                    "Starting secret synchronizer for kubernetes-dashboard-key-holder in namespace {ns}"
                ),
                "Storing encryption key in a secret".into(),
                "Creating in-cluster Heapster client".into(),
            ] {
                apps::append_log(st, &ns, &name, &container, &line);
            }
        }
        match apps::dashboard_health_check(cluster, st, &pod, now) {
            Ok(()) => {
                if !rt.connected {
                    apps::append_log(st, &ns, &name, &container, "Successful request to heapster");
                }
                rt.connected = true;
                rt.last_error = None;
            }
            Err(e) => {
                apps::append_log(
                    st,
                    &ns,
                    &name,
                    &container,
                    &format!("Metric client health check failed: {e}. Retrying in 30 seconds."),
                );
                rt.connected = false;
                rt.last_error = Some(e);
            }
        }
        if !rt.ever_checked {
            for line in [
                "Auto-generating certificates",
                "Successfully created certificates",
                "Serving securely on HTTPS port: 8443",
            ] {
                apps::append_log(st, &ns, &name, &container, line);
            }
        }
        rt.ever_checked = true;
        rt.last_checked = Some(now);
        rt.next_check = Some(now + period);
        st.dashboards.insert(key, rt);
    }
}

/// `status` of Deployments, ReplicaSets and DaemonSets from their pods.
fn workload_status(st: &mut State) {
    let pods = st.store.list(PODS, None);
    let count = |owner: &Value| {
        let owned: Vec<&Value> = owned_by(&pods, owner).collect();
        (
            owned.len() as i64,
            owned.iter().filter(|p| apps::pod_is_ready(p)).count() as i64,
        )
    };
    for rs in st.store.list(REPLICA_SETS, None) {
        let (total, ready) = count(&rs);
        let mut updated = rs.clone();
        updated["status"] = json!({"replicas": total, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]});
        put_if_changed(st, key_of(REPLICA_SETS, &rs), updated);
    }
    let all_rs = st.store.list(REPLICA_SETS, None);
    for deploy in st.store.list("apps/deployments", None) {
        let desired = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
        let owned: Vec<&Value> = owned_by(&all_rs, &deploy).collect();
        let sum = |f: &str| {
            owned
                .iter()
                .map(|r| r["status"][f].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let current = owned.iter().find(|r| {
            r["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
                == r["metadata"]["labels"]["pod-template-hash"]
                && r["spec"]["replicas"] != 0
        });
        let updated_replicas = current
            .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0))
            .unwrap_or(0);
        let available = sum("availableReplicas");
        let ok = available >= desired;
        let mut updated = deploy.clone();
        updated["status"] = json!({
            "observedGeneration": deploy["metadata"]["generation"],
            "replicas": sum("replicas"), "updatedReplicas": updated_replicas, "readyReplicas": sum("readyReplicas"), "availableReplicas": available,
            "conditions": [{"type": "Available", "status": if ok { "True" } else { "False" },
                            "reason": if ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                            "message": if ok { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }}],
        });
        put_if_changed(st, key_of("apps/deployments", &deploy), updated);
    }
    for ds in st.store.list("apps/daemonsets", None) {
        let (total, ready) = count(&ds);
        let mut updated = ds.clone();
        updated["status"] = json!({"desiredNumberScheduled": total, "currentNumberScheduled": total, "numberReady": ready, "numberAvailable": ready, "observedGeneration": ds["metadata"]["generation"]});
        put_if_changed(st, key_of("apps/daemonsets", &ds), updated);
    }
}
