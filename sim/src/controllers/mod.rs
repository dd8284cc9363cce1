//! The controllers of the simulated cluster, run every tick: the node lifecycle, the
//! service-account token controller, the workload controllers (`workloads`), the
//! scheduler and kubelets (`kubelet`), and the emulated programs' own background loops
//! (heapster's housekeeping log, the dashboard's metric-client health check).

mod kubelet;
#[cfg(test)]
mod stepped_tests;
mod workloads;

use std::sync::Arc;

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::aggregated;
use crate::apps::common::{App, pods_running};
use crate::apps::{dashboard, heapster, metrics_server, scraper};
use crate::cluster::{Cluster, State, now};
use crate::proxy::ApiServerProxy;
use crate::rbac::Identity;
use crate::store::Key;

pub(crate) const PODS: &str = "/pods";
pub(crate) const REPLICA_SETS: &str = "apps/replicasets";

pub fn reconcile(cluster: &Cluster) {
    reconcile_at(cluster, now());
}

/// One pass of every controller as of `now` (tests step a cluster through time with it).
pub fn reconcile_at(cluster: &Cluster, now: Timestamp) {
    let mut st = cluster.lock();
    let st = &mut *st;
    nodes(cluster, st);
    meddle(cluster, st);
    tokens(st);
    workloads::deployments(st);
    workloads::replica_sets(st);
    workloads::daemon_sets(st);
    kubelet::pods(cluster, st, now);
    workloads::workload_status(st);
    apiservices(cluster, st, now);
    // After the aggregator's pass: a Service applied just now has no slice yet.
    endpoint_slices(st);
    scraper::tick(cluster, st, now);
    dashboard::tick(cluster, st, &ApiServerProxy { cluster }, now);
    heapster_logs(cluster, st, now);
    metrics_server_logs(cluster, st, now);
}

/// kube-aggregator's availability controller: each APIService's `Available` condition.
fn apiservices(cluster: &Cluster, st: &mut State, now: Timestamp) {
    for api in st.store.list(aggregated::APISERVICES, None) {
        if api["spec"]["service"].is_null() {
            continue;
        }
        let condition =
            aggregated::condition(&api, aggregated::availability(cluster, st, &api), now);
        let status = json!({"conditions": [condition]});
        put_field_if_changed(
            st,
            key_of(aggregated::APISERVICES, &api),
            &api,
            "status",
            status,
        );
    }
}

/// The EndpointSlice controller: every Service with a selector gets its slice (K
/// pkg/controller/endpointslice, a placeholder slice when no pod matches).
fn endpoint_slices(st: &mut State) {
    st.endpoint_slices = st
        .store
        .iter("/services", None)
        .filter(|svc| svc["spec"]["selector"].is_object())
        .map(crate::cluster::object_key)
        .collect();
}

/// metrics-server's log: each scrape's failures and its readiness probe's refusals.
fn metrics_server_logs(cluster: &Cluster, st: &mut State, now: Timestamp) {
    for (pod, container) in pods_running(st, App::MetricsServer) {
        let Some(ms) = metrics_server::metrics_server_of(cluster, st, &pod, &container) else {
            continue;
        };
        let key = crate::cluster::object_key(&pod);
        let after = st.metrics_server_logged.get(&key).copied();
        let lines = ms.log_lines(st, after, now);
        let Some(newest) = lines.last().map(|(t, _)| *t) else {
            continue;
        };
        let cname = container["name"].as_str().unwrap_or_default().to_string();
        let log = st
            .logs
            .entry((key.0.clone(), key.1.clone(), cname))
            .or_default();
        // Bounded as heapster's: enough to read, not a growing heap.
        if log.current.len() < 2000 {
            log.current.extend(lines.into_iter().map(|(_, l)| l));
        }
        st.metrics_server_logged.insert(key, newest);
    }
}

/// Faults that act like someone editing the cluster behind the stack's back: the heapster
/// or scraper Service deleted, the dashboard Role's `services/proxy` rule or its
/// ClusterRole's `metrics.k8s.io` rule removed, metrics-server's `--kubelet-insecure-tls`
/// or Headlamp's `-in-cluster` dropped, each as soon as it appears.
fn meddle(cluster: &Cluster, st: &mut State) {
    let faults = &cluster.config.faults;
    for (deleting, service) in [
        (faults.no_metrics_service, "heapster"),
        (faults.no_metrics_service, "metrics-server"),
        (faults.no_scraper_service, "dashboard-metrics-scraper"),
    ] {
        if !deleting {
            continue;
        }
        for svc in st.store.list("/services", None) {
            if svc["metadata"]["name"] == service {
                st.store.delete(&key_of("/services", &svc));
            }
        }
    }
    for (dropping, arg) in [
        (faults.kubelet_tls_verified, "--kubelet-insecure-tls"),
        (faults.headlamp_not_in_cluster, "-in-cluster"),
    ] {
        if dropping {
            drop_arg(st, arg);
        }
    }
    if faults.scraper_without_metrics_rights {
        let metrics = |r: &Value| {
            r["apiGroups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|x| x == "metrics.k8s.io"))
        };
        strip_rules(
            st,
            "rbac.authorization.k8s.io/clusterroles",
            None,
            Some("kubernetes-dashboard"),
            metrics,
        );
    }
    if faults.checks_without_rights {
        for role in [
            "heapster-e2e:checks-read-only",
            "metrics-e2e:checks-read-only",
            "headlamp-e2e:checks-read-only",
        ] {
            strip_rules(
                st,
                "rbac.authorization.k8s.io/clusterroles",
                None,
                Some(role),
                |_| true,
            );
        }
    }
    if faults.dashboard_without_proxy_rights {
        let grants_proxy = |r: &Value| {
            r["resources"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|x| x == "services/proxy"))
        };
        strip_rules(
            st,
            "rbac.authorization.k8s.io/roles",
            Some("kube-system"),
            None,
            grants_proxy,
        );
    }
}

/// Remove the argument `arg` from every Deployment's containers, as an edit would.
fn drop_arg(st: &mut State, arg: &str) {
    const DEPLOYMENTS: &str = "apps/deployments";
    for d in st.store.list(DEPLOYMENTS, None) {
        let mut d = Arc::unwrap_or_clone(d);
        let Some(containers) = d["spec"]["template"]["spec"]["containers"].as_array_mut() else {
            continue;
        };
        let mut changed = false;
        for c in containers.iter_mut() {
            if let Some(args) = c["args"].as_array_mut() {
                let before = args.len();
                args.retain(|a| a != arg);
                changed |= args.len() != before;
            }
        }
        if changed {
            put_if_changed(st, key_of(DEPLOYMENTS, &d), d);
        }
    }
}

/// Remove the rules `matching` from the RBAC roles of `resource` (in `namespace`, named
/// `name` when given), as someone editing them by hand would.
fn strip_rules(
    st: &mut State,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    matching: impl Fn(&Value) -> bool,
) {
    for role in st.store.list(resource, namespace) {
        if name.is_some_and(|n| role["metadata"]["name"] != n) {
            continue;
        }
        let mut role = Arc::unwrap_or_clone(role);
        let Some(rules) = role["rules"].as_array() else {
            continue;
        };
        if rules.iter().any(&matching) {
            let kept: Vec<Value> = rules.iter().filter(|r| !matching(r)).cloned().collect();
            role["rules"] = Value::Array(kept);
            put_if_changed(st, key_of(resource, &role), role);
        }
    }
}

pub(crate) fn key_of(resource: &str, obj: &Value) -> Key {
    Key::new(
        resource,
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default(),
    )
}

/// Write only real changes, so that watchers see events for changes and nothing else.
pub(crate) fn put_if_changed(st: &mut State, key: Key, object: Value) {
    let unchanged = st
        .store
        .get(&key)
        .is_some_and(|old| same_but_resource_version(old, &object));
    if !unchanged {
        st.store.put(key, object);
    }
}

/// Replace one top-level `field` (`spec`, `status`) only when it differs: the object is
/// copied only for a real change.
pub(crate) fn put_field_if_changed(
    st: &mut State,
    key: Key,
    object: &Value,
    field: &str,
    value: Value,
) {
    if object[field] != value {
        let mut updated = object.clone();
        updated[field] = value;
        st.store.put(key, updated);
    }
}

/// Equal as objects, `metadata.resourceVersion` aside (the store stamps it on every write).
fn same_but_resource_version(old: &Value, new: &Value) -> bool {
    /// Equal maps but for one key; anything but two maps compares whole.
    fn equal_but(a: &Value, b: &Value, skip: &str, inner: impl Fn(&Value, &Value) -> bool) -> bool {
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return a == b;
        };
        let others = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != skip).count();
        others(a) == others(b)
            && a.iter().all(|(k, v)| k == skip || b.get(k) == Some(v))
            && inner(
                a.get(skip).unwrap_or(&Value::Null),
                b.get(skip).unwrap_or(&Value::Null),
            )
    }
    equal_but(old, new, "metadata", |a, b| {
        equal_but(a, b, "resourceVersion", |_, _| true)
    })
}

fn nodes(cluster: &Cluster, st: &mut State) {
    for node in st.store.list("/nodes", None) {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let ready = if cluster.config.faults.not_ready_node.as_deref() == Some(name) {
            json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
        } else {
            json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"})
        };
        let conditions = json!([ready]);
        if node["status"]["conditions"] != conditions {
            let mut updated = (*node).clone();
            updated["status"]["conditions"] = conditions;
            st.store.put(key_of("/nodes", &node), updated);
        }
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
        let mut filled = (*secret).clone();
        filled["data"] = json!({"token": b64(&token), "namespace": b64(&ns), "ca.crt": b64("simulated cluster: plain HTTP, no CA\n")});
        st.store.put(key_of("/secrets", &secret), filled);
    }
}

pub(crate) fn owner_ref(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

pub(crate) fn owned_by<'a>(
    objects: &'a [Arc<Value>],
    owner: &Value,
) -> impl Iterator<Item = &'a Value> {
    let uid = owner["metadata"]["uid"].clone();
    objects
        .iter()
        .map(|o| &**o)
        .filter(move |o| o["metadata"]["ownerReferences"][0]["uid"] == uid)
}

pub(crate) fn suffix(seed: &str) -> String {
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

/// Heapster's housekeeping errors: each heapster pod logs its scrape failures (and its
/// reflectors' refusals) at every export, up to a bound that keeps the log readable.
fn heapster_logs(cluster: &Cluster, st: &mut State, now: Timestamp) {
    for (pod, container) in pods_running(st, App::Heapster) {
        let Some(h) = heapster::heapster_of(cluster, st, &pod, &container) else {
            continue;
        };
        let errors = heapster::housekeeping_errors(st, &h, &pod);
        let key = crate::cluster::object_key(&pod);
        let (last, rounds) = st
            .heapster_logged
            .get(&key)
            .copied()
            .unwrap_or((h.started, 0));
        let due: Vec<_> = h
            .batches(now)
            .into_iter()
            .filter(|t| *t > last)
            .take(200usize.saturating_sub(rounds))
            .collect();
        let Some(newest) = due.last().copied() else {
            continue;
        };
        let log_key = (
            key.0.clone(),
            key.1.clone(),
            container["name"].as_str().unwrap_or_default().to_string(),
        );
        let log = st.logs.entry(log_key).or_default();
        for t in &due {
            for e in &errors {
                log.current
                    .push(heapster::glog('E', *t + heapster::SCRAPE_OFFSET, e));
            }
        }
        st.heapster_logged.insert(key, (newest, rounds + due.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_resource_version_may_differ_in_an_unchanged_object() {
        let old = json!({"metadata": {"name": "p", "resourceVersion": "7"}, "status": {"phase": "Running"}});
        let same = |new: Value| same_but_resource_version(&old, &new);
        assert!(same(
            json!({"metadata": {"name": "p", "resourceVersion": "9"}, "status": {"phase": "Running"}})
        ));
        assert!(
            same(json!({"status": {"phase": "Running"}, "metadata": {"name": "p"}})),
            "key order and a missing resourceVersion are no change"
        );
        assert!(!same(
            json!({"metadata": {"name": "p", "resourceVersion": "7"}, "status": {"phase": "Pending"}})
        ));
        assert!(!same(
            json!({"metadata": {"name": "q", "resourceVersion": "7"}, "status": {"phase": "Running"}})
        ));
        assert!(
            !same(
                json!({"metadata": {"name": "p", "resourceVersion": "7", "labels": {}}, "status": {"phase": "Running"}})
            ),
            "an added metadata field"
        );
        assert!(
            !same(
                json!({"metadata": {"name": "p", "resourceVersion": "7"}, "status": {"phase": "Running"}, "spec": {}})
            ),
            "an added field"
        );
        assert!(
            !same(json!({"metadata": {"name": "p", "resourceVersion": "7"}})),
            "a removed field"
        );
    }
}
