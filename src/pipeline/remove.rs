//! Removing the old stack after a move across stacks: every object of the old manifests
//! that the new ones do not declare too, in reverse apply order (workloads before the
//! identities they run as), then waiting until the old Deployments' pods are gone. The
//! cluster's own namespaces are never deleted, whatever a manifest declares.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};

use super::apply::{Apis, gvk_of};
use crate::kubeclient::retry;
use crate::manifests::{Manifest, apply_order};

const CLUSTER_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Group (without version), kind, namespace and name: one object across API versions.
fn identity(m: &Manifest) -> (String, String, Option<String>, String) {
    (
        gvk_of(m).group,
        m.kind().to_string(),
        m.namespace().map(str::to_string),
        m.name().to_string(),
    )
}

/// The old objects to delete, in the order to delete them.
pub fn leftovers<'a>(old: &'a [Manifest], new: &[Manifest]) -> Vec<&'a Manifest> {
    let kept: Vec<_> = new.iter().map(identity).collect();
    let mut out: Vec<&Manifest> = apply_order(old)
        .into_iter()
        .filter(|m| !kept.contains(&identity(m)))
        .filter(|m| !(m.kind() == "Namespace" && CLUSTER_NAMESPACES.contains(&m.name())))
        .collect();
    out.reverse();
    out
}

/// Delete `doomed` (already gone is fine), then wait up to `timeout` for the pods of its
/// Deployments to go. Returns how many objects were deleted.
pub async fn remove(
    client: &Client,
    doomed: &[&Manifest],
    timeout: Duration,
) -> anyhow::Result<usize> {
    let apis = Apis::resolve(client, doomed).await?;
    let mut deleted = 0;
    let params = DeleteParams::background();
    for m in doomed {
        let api = apis.of(client, m);
        match retry(|| api.delete(m.name(), &params)).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot delete {} ({})",
                    m.describe(),
                    m.origin()
                )));
            }
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for m in doomed.iter().filter(|m| m.kind() == "Deployment") {
        let selector = match_labels(m);
        let pods: Api<Pod> = Api::namespaced(client.clone(), m.namespace().unwrap_or("default"));
        let lp = ListParams::default().labels(&selector);
        loop {
            let left = retry(|| pods.list(&lp)).await?.items.len();
            if left == 0 {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{left} pods of the old {} are still there after {}",
                m.describe(),
                crate::duration::format(timeout)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(deleted)
}

/// `k=v,k2=v2` from a Deployment's `spec.selector.matchLabels`.
fn match_labels(m: &Manifest) -> String {
    m.object["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn doc(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Manifest {
        let mut object = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            object["metadata"]["namespace"] = ns.into();
        }
        Manifest {
            file: "x.yaml".into(),
            index: 0,
            object,
        }
    }

    #[test]
    fn what_the_new_set_keeps_and_the_cluster_namespaces_stay() {
        let old = vec![
            doc("v1", "ServiceAccount", Some("kube-system"), "heapster"),
            doc("apps/v1", "Deployment", Some("kube-system"), "heapster"),
            doc("v1", "Namespace", None, "kube-system"),
            doc("v1", "Namespace", None, "monitoring"),
            doc(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                None,
                "shared",
            ),
        ];
        let new = vec![doc(
            "rbac.authorization.k8s.io/v1beta1",
            "ClusterRole",
            None,
            "shared",
        )];
        let names: Vec<String> = leftovers(&old, &new).iter().map(|m| m.describe()).collect();
        assert_eq!(
            names,
            [
                "Deployment kube-system/heapster",
                "ServiceAccount kube-system/heapster",
                "Namespace monitoring",
            ]
        );
    }

    #[test]
    fn the_heapster_stack_leaves_nothing_the_new_one_needs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let load = |s: crate::stack::Stack| crate::manifests::load_dir(&s.manifests(root)).unwrap();
        let (old, new) = (
            load(crate::stack::Stack::Heapster),
            load(crate::stack::Stack::MetricsServer),
        );
        let doomed = leftovers(&old, &new);
        assert_eq!(doomed.len(), old.len(), "the stacks share no object");
        assert_eq!(doomed[0].kind(), "Deployment");
        assert!(doomed.iter().all(|m| m.kind() != "Namespace"));
    }
}
