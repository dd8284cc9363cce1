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

pub(super) fn gvk_of(m: &Manifest) -> GroupVersionKind {
    let (group, version) = m
        .api_version()
        .rsplit_once('/')
        .unwrap_or(("", m.api_version()));
    GroupVersionKind::gvk(group, version, m.kind())
}

/// The cluster's API for each kind the manifests use, resolved before anything is
/// written, so that an API the cluster does not serve stops the run first.
pub(super) struct Apis(HashMap<String, (ApiResource, ApiCapabilities)>);

fn kind_key(m: &Manifest) -> String {
    format!("{}/{}", m.api_version(), m.kind())
}

impl Apis {
    pub async fn resolve(client: &Client, manifests: &[&Manifest]) -> anyhow::Result<Apis> {
        let mut resolved = HashMap::new();
        for m in manifests {
            if resolved.contains_key(&kind_key(m)) {
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
            resolved.insert(kind_key(m), found);
        }
        Ok(Apis(resolved))
    }

    /// The API of one resolved document's object, in its namespace when namespaced.
    pub fn of(&self, client: &Client, m: &Manifest) -> Api<DynamicObject> {
        let (resource, caps) = &self.0[&kind_key(m)];
        match caps.scope {
            Scope::Namespaced => {
                Api::namespaced_with(client.clone(), m.namespace().unwrap_or("default"), resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), resource),
        }
    }
}

/// Resolve every document's API, then apply each in order. `on_applied` hears of each
/// object as it lands.
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    mut on_applied: impl FnMut(&Manifest),
) -> anyhow::Result<()> {
    let ordered = apply_order(manifests);
    let apis = Apis::resolve(client, &ordered).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for m in ordered {
        let api = apis.of(client, m);
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
