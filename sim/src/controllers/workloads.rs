//! Workload controllers: Deployment -> ReplicaSet -> Pod (surge first, old ReplicaSets
//! scaled down once the new one is ready, as with `maxUnavailable: 0`), DaemonSets on
//! every node they tolerate, and each workload's `status` from its pods.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{PODS, REPLICA_SETS, key_of, owned_by, owner_ref, put_field_if_changed, suffix};
use crate::apps::common::pod_is_ready;
use crate::cluster::State;
use crate::store::Key;

/// `pod-template-hash` as upstream spells it: controller.ComputeHash writes a 32-bit hash
/// in decimal through `rand.SafeEncodeString` (apimachinery pkg/util/rand/rand.go), so
/// each decimal digit becomes a letter of the no-vowel alphabet, e.g. `7c9f8d5b46`.
/// (The hash itself is FNV over the template here, not upstream's over the Go struct.)
fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let decimal = (crate::name_hash(&template.to_string()) as u32).to_string();
    decimal
        .bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

/// Deployment controller: one ReplicaSet per pod template; old ones are scaled down only
/// once the new one's pods are all ready (surge first, like `maxUnavailable: 0`).
pub fn deployments(st: &mut State) {
    let all_rs = st.store.list(REPLICA_SETS, None);
    for deploy in st.store.list("apps/deployments", None) {
        let ns = deploy["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let template = &deploy["spec"]["template"];
        let hash = template_hash(template);
        let name = format!(
            "{}-{hash}",
            deploy["metadata"]["name"].as_str().unwrap_or_default()
        );
        let desired = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
        let mut labels = template["metadata"]["labels"].clone();
        labels["pod-template-hash"] = json!(hash);
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"] = labels.clone();
        let key = Key::new(REPLICA_SETS, &ns, &name);
        let rs = st.store.get_shared(&key).unwrap_or_else(|| {
            Arc::new(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": owner_ref(&deploy, "Deployment", "apps/v1")},
                   "spec": {}}))
        });
        let new_ready = rs["status"]["readyReplicas"].as_i64().unwrap_or(0);
        let spec = json!({"replicas": desired, "selector": deploy["spec"]["selector"], "template": rs_template});
        put_field_if_changed(st, key, &rs, "spec", spec);
        for old in owned_by(&all_rs, &deploy).filter(|r| r["metadata"]["name"] != name.as_str()) {
            if new_ready >= desired && old["spec"]["replicas"] != 0 {
                let mut scaled = old.clone();
                scaled["spec"]["replicas"] = json!(0);
                st.store.put(key_of(REPLICA_SETS, old), scaled);
            }
        }
    }
}

pub fn replica_sets(st: &mut State) {
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

pub fn tolerates_control_plane(pod_spec: &Value) -> bool {
    pod_spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            t["operator"] == "Exists" && t["key"].is_null()
                || t["key"] == "node-role.kubernetes.io/control-plane"
        })
}

pub fn daemon_sets(st: &mut State) {
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
            // A new random-looking name each time, as GenerateName gives upstream.
            let name = format!(
                "{ds_name}-{}",
                suffix(&format!(
                    "{ds_name}/{node_name}/{}",
                    st.store.resource_version()
                ))
            );
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

/// `status` of Deployments, ReplicaSets and DaemonSets from their pods.
pub fn workload_status(st: &mut State) {
    let pods = st.store.list(PODS, None);
    let count = |owner: &Value| {
        let owned: Vec<&Value> = owned_by(&pods, owner).collect();
        (
            owned.len() as i64,
            owned.iter().filter(|p| pod_is_ready(p)).count() as i64,
        )
    };
    for rs in st.store.list(REPLICA_SETS, None) {
        let (total, ready) = count(&rs);
        let status = json!({"replicas": total, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]});
        put_field_if_changed(st, key_of(REPLICA_SETS, &rs), &rs, "status", status);
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
        let status = json!({
            "observedGeneration": deploy["metadata"]["generation"],
            "replicas": sum("replicas"), "updatedReplicas": updated_replicas, "readyReplicas": sum("readyReplicas"), "availableReplicas": available,
            "conditions": [{"type": "Available", "status": if ok { "True" } else { "False" },
                            "reason": if ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                            "message": if ok { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }}],
        });
        put_field_if_changed(
            st,
            key_of("apps/deployments", &deploy),
            &deploy,
            "status",
            status,
        );
    }
    for ds in st.store.list("apps/daemonsets", None) {
        let (total, ready) = count(&ds);
        let status = json!({"desiredNumberScheduled": total, "currentNumberScheduled": total, "numberReady": ready, "numberAvailable": ready, "observedGeneration": ds["metadata"]["generation"]});
        put_field_if_changed(st, key_of("apps/daemonsets", &ds), &ds, "status", status);
    }
}
