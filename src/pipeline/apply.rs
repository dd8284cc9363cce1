//! Server-side apply of the manifests, in dependency order, with one field manager.

use std::collections::HashMap;

use anyhow::Context;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};

use crate::kubeclient::retry;
use crate::manifests::{Manifest, apply_order};

pub const FIELD_MANAGER: &str = "heapster-e2e";

fn gvk_of(m: &Manifest) -> GroupVersionKind {
    let (group, version) = m
        .api_version()
        .rsplit_once('/')
        .unwrap_or(("", m.api_version()));
    GroupVersionKind::gvk(group, version, m.kind())
}

/// Resolve every document's API first, so that an API the cluster does not serve stops
/// the run before anything is applied; then apply each in order. `on_applied` hears of
/// each object as it lands.
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    mut on_applied: impl FnMut(&Manifest),
) -> anyhow::Result<()> {
    let mut resolved: HashMap<String, (ApiResource, ApiCapabilities)> = HashMap::new();
    let ordered = apply_order(manifests);
    for m in &ordered {
        let key = format!("{}/{}", m.api_version(), m.kind());
        if resolved.contains_key(&key) {
            continue;
        }
        let gvk = gvk_of(m);
        let found = retry(|| kube::discovery::pinned_kind(client, &gvk)).await.map_err(|e| {
            anyhow::anyhow!(
                "{} ({}): the cluster does not serve {} {} ({e}); it may have been removed in this Kubernetes version: run `cargo xtask lint`",
                m.describe(),
                m.origin(),
                m.api_version(),
                m.kind()
            )
        })?;
        resolved.insert(key, found);
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for m in ordered {
        let (resource, caps) = &resolved[&format!("{}/{}", m.api_version(), m.kind())];
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                Api::namespaced_with(client.clone(), m.namespace().unwrap_or("default"), resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), resource),
        };
        let object: DynamicObject =
            serde_json::from_value(m.object.clone()).with_context(|| {
                format!(
                    "{} ({}) is not a Kubernetes object",
                    m.describe(),
                    m.origin()
                )
            })?;
        let patch = Patch::Apply(&object);
        retry(|| api.patch(m.name(), &params, &patch))
            .await
            .with_context(|| {
                format!(
                    "server-side apply of {} ({}) failed",
                    m.describe(),
                    m.origin()
                )
            })?;
        on_applied(m);
    }
    Ok(())
}
