//! Discovery as the API server serves it: the legacy documents (`/apis` as an
//! `APIGroupList`, `/apis/GROUP/VERSION` as an `APIResourceList`) and the aggregated one
//! (`/apis` as an `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`, which clients such as
//! `kubectl top` ask for first). An aggregated group version the aggregator cannot reach is
//! listed `Stale` without resources, and client-go drops stale versions: that is why
//! `kubectl top` says "Metrics API not available" while the APIService is not Available.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::apps::common::Http;
use crate::resources;

/// The aggregated document's media type (k8s.io/api `apidiscovery/v2`).
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client accepts the aggregated v2 document (client-go sends it first in
/// `Accept`, then v2beta1, then plain JSON).
pub(super) fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t: String = t.split_whitespace().collect();
            t.contains("g=apidiscovery.k8s.io")
                && t.contains("v=v2;")
                && t.contains("as=APIGroupDiscoveryList")
        })
}

/// `/apis` aggregated: every served group with its resources, and `metrics.k8s.io` when its
/// APIService exists (`Some(available)`): `Current` with its resources when Available,
/// else `Stale` with none (KA@v0.36.2 `handler_discovery.go` `syncAPIService`: an entry
/// whose discovery fetch failed and has no cache; simplified: the sim takes the Available
/// condition for the aggregator's own fetch).
pub(super) fn aggregated(minor: u32, metrics: Option<bool>) -> Http {
    let mut items: Vec<Value> = Vec::new();
    for (group, version) in resources::served_group_versions(minor)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
    {
        let entry = version_entry(version, &resource_list(group, version, minor), "Current");
        match items.iter_mut().find(|i| i["metadata"]["name"] == group) {
            Some(i) => i["versions"].as_array_mut().expect("array").push(entry),
            None => items.push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": [entry]})),
        }
    }
    if let Some(available) = metrics {
        let entry = if available {
            version_entry("v1beta1", &crate::aggregated::resource_list(), "Current")
        } else {
            json!({"version": "v1beta1", "freshness": "Stale"})
        };
        items.push(json!({"metadata": {"name": crate::aggregated::GROUP, "creationTimestamp": null}, "versions": [entry]}));
    }
    Http {
        status: 200,
        content_type: AGGREGATED,
        body: json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}).to_string(),
    }
}

/// One version of the aggregated document from its legacy resource list: subresources
/// (`pods/log`) folded under their resource.
fn version_entry(version: &str, list: &Value, freshness: &str) -> Value {
    let (group, _) = list["groupVersion"]
        .as_str()
        .unwrap_or_default()
        .rsplit_once('/')
        .unwrap_or(("", ""));
    let mut resources: Vec<Value> = Vec::new();
    for r in list["resources"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default();
        let kind = json!({"group": group, "version": version, "kind": r["kind"]});
        match name.split_once('/') {
            None => resources.push(json!({
                "resource": name, "responseKind": kind,
                "scope": if r["namespaced"] == true { "Namespaced" } else { "Cluster" },
                "singularResource": r["singularName"], "verbs": r["verbs"],
                "shortNames": r["shortNames"].as_array().cloned().unwrap_or_default(),
                "subresources": [],
            })),
            Some((parent, sub)) => {
                if let Some(p) = resources.iter_mut().find(|p| p["resource"] == parent) {
                    p["subresources"].as_array_mut().expect("array").push(
                        json!({"subresource": sub, "responseKind": kind, "verbs": r["verbs"]}),
                    );
                }
            }
        }
    }
    json!({"version": version, "resources": resources, "freshness": freshness})
}

/// The legacy `/apis` document (`APIGroupList`): every served group, and `metrics.k8s.io`
/// whenever its APIService exists, Available or not (KA@v0.36.2 `handler_apis.go` lists
/// every APIService's group).
pub(super) fn api_groups(minor: u32, metrics_registered: bool) -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for (group, version) in resources::served_group_versions(minor)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
    {
        let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
        match groups.iter_mut().find(|g| g["name"] == group) {
            Some(g) => g["versions"].as_array_mut().expect("array").push(gv),
            None => groups
                .push(json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})),
        }
    }
    if metrics_registered {
        let gv = json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"});
        groups.push(
            json!({"name": "metrics.k8s.io", "versions": [gv.clone()], "preferredVersion": gv}),
        );
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The legacy `/api/v1`, `/apis/GROUP/VERSION` document (`APIResourceList`).
pub(super) fn resource_list(group: &str, version: &str, minor: u32) -> Value {
    let all_verbs = json!([
        "create", "delete", "get", "list", "patch", "update", "watch"
    ]);
    let mut out = Vec::new();
    for r in resources::RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && r.served_in(minor))
    {
        out.push(json!({"name": r.plural, "singularName": r.singular(), "namespaced": r.namespaced, "kind": r.kind, "verbs": all_verbs, "shortNames": r.short_names}));
        let subresources: &[(&str, &[&str])] = match r.plural {
            "pods" => &[
                ("log", &["get"]),
                ("status", &["get", "patch", "update"]),
                ("proxy", &["create", "delete", "get", "patch", "update"]),
            ],
            "services" => &[("proxy", &["create", "delete", "get", "patch", "update"])],
            "deployments" | "daemonsets" | "replicasets" => {
                &[("status", &["get", "patch", "update"])]
            }
            _ => &[],
        };
        for (sub, verbs) in subresources {
            out.push(json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics_version(doc: &Value) -> Option<Value> {
        doc["items"]
            .as_array()?
            .iter()
            .find(|i| i["metadata"]["name"] == "metrics.k8s.io")
            .map(|i| i["versions"][0].clone())
    }

    #[test]
    fn an_unavailable_metrics_api_is_stale_in_aggregated_and_listed_in_legacy() {
        let body = |h: Http| serde_json::from_str::<Value>(&h.body).unwrap();
        let stale = metrics_version(&body(aggregated(37, Some(false)))).unwrap();
        assert_eq!(stale, json!({"version": "v1beta1", "freshness": "Stale"}));
        let current = metrics_version(&body(aggregated(37, Some(true)))).unwrap();
        assert_eq!(current["freshness"], "Current");
        assert_eq!(
            current["resources"][0]["responseKind"]["kind"],
            "NodeMetrics"
        );
        assert!(metrics_version(&body(aggregated(37, None))).is_none());
        let legacy = api_groups(37, true);
        assert!(
            legacy["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "metrics.k8s.io")
        );
    }

    #[test]
    fn subresources_fold_under_their_resource() {
        let doc: Value = serde_json::from_str(&aggregated(37, None).body).unwrap();
        let apps = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "apps")
            .unwrap();
        let deployments = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deployments["scope"], "Namespaced");
        assert_eq!(deployments["subresources"][0]["subresource"], "status");
    }

    #[test]
    fn client_go_accept_header_asks_for_v2() {
        let mut h = HeaderMap::new();
        h.insert("accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json".parse().unwrap());
        assert!(wants_aggregated(&h));
        h.insert("accept", "application/json, */*".parse().unwrap());
        assert!(!wants_aggregated(&h));
    }
}
