//! The aggregation layer for `metrics.k8s.io`: the APIService's `Available` condition as
//! kube-aggregator's availability controller sets it, and requests under
//! `/apis/metrics.k8s.io/v1beta1/` answered by the running metrics-server
//! (KA@v0.36.2 `pkg/controllers/status/remote/remote_available_controller.go`,
//! `pkg/apiserver/handler_proxy.go`; metrics-server@v0.9.0 `pkg/api/`).

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::apps::common::{Http, go_time_json, status};
use crate::apps::metrics_server::{self, MetricsServer};
use crate::cluster::{Cluster, State};
use crate::rbac::{self, Identity};
use crate::store::Key;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
pub const APISERVICES: &str = "apiregistration.k8s.io/apiservices";
pub const APISERVICE: &str = "v1beta1.metrics.k8s.io";

/// The stored APIService for `metrics.k8s.io`, if one was created.
pub(crate) fn apiservice(st: &State) -> Option<&Value> {
    st.store.get(&Key::new(APISERVICES, "", APISERVICE))
}

/// Whether the aggregator serves the group: an APIService whose `Available` is True.
pub fn available(st: &State) -> bool {
    registered(st) == Some(true)
}

/// Whether the group's APIService exists, and if so whether it is Available.
pub fn registered(st: &State) -> Option<bool> {
    apiservice(st).map(|a| {
        a["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    })
}

/// `(status, reason, message)` of the `Available` condition, as the availability controller
/// decides it: the Service, then its endpoints with the port's name, then the discovery
/// request to the backend (five attempts, 5 s each).
pub fn availability(cluster: &Cluster, st: &State, apiservice: &Value) -> (bool, String, String) {
    let svc_ns = apiservice["spec"]["service"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let svc_name = apiservice["spec"]["service"]["name"]
        .as_str()
        .unwrap_or_default();
    let port = apiservice["spec"]["service"]["port"]
        .as_i64()
        .unwrap_or(443);
    let Some(svc) = st.store.get(&Key::new("/services", svc_ns, svc_name)) else {
        return (
            false,
            "ServiceNotFound".into(),
            format!("service/{svc_name} in {svc_ns:?} is not present"),
        );
    };
    let Some(svc_port) = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["port"] == port)
    else {
        return (
            false,
            "ServicePortError".into(),
            format!("service/{svc_name} in {svc_ns:?} is not listening on port {port}"),
        );
    };
    let port_name = svc_port["name"].as_str().unwrap_or_default();
    // 1.34 moved the controller to EndpointSlices and changed the wording.
    let what = if cluster.minor >= 34 {
        "endpointslices"
    } else {
        "endpoints"
    };
    if !st
        .endpoint_slices
        .contains(&(svc_ns.to_string(), svc_name.to_string()))
    {
        return (
            false,
            "EndpointsNotFound".into(),
            format!("cannot find {what} for service/{svc_name} in {svc_ns:?}"),
        );
    }
    if crate::endpoints::ready_backends(st, svc).is_empty() {
        return (
            false,
            "MissingEndpoints".into(),
            format!(
                "{what} for service/{svc_name} in {svc_ns:?} have no addresses with port name {port_name:?}"
            ),
        );
    }
    if cluster.config.faults.apiservice_unreachable {
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default();
        let url = format!("https://{ip}:{port}/apis/{GROUP}/{VERSION}");
        return (
            false,
            "FailedDiscoveryCheck".into(),
            format!(
                "failing or missing response from {url}: Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ),
        );
    }
    (true, "Passed".into(), "all checks passed".into())
}

/// The `Available` condition, keeping its transition time while its status holds.
pub fn condition(old: &Value, available: (bool, String, String), now: Timestamp) -> Value {
    let (ok, reason, message) = available;
    let status = if ok { "True" } else { "False" };
    let previous = old["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Available");
    let since = match previous {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(go_time_json(
            Timestamp::from_second(now.as_second()).unwrap_or(now)
        )),
    };
    json!({"type": "Available", "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

/// What `/apis/metrics.k8s.io/v1beta1` lists.
pub fn resource_list() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{VERSION}"), "resources": [
        {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ]})
}

/// The objects of `resource` (`nodes` or `pods`) metrics-server has, as `who` may read
/// them; an error is the HTTP answer the client gets.
pub fn list(
    cluster: &Cluster,
    st: &State,
    who: &Identity,
    resource: &str,
    namespace: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Value>, Http> {
    let ms = backend(cluster, st, who, "list", resource, namespace, None)?;
    let objects = st.store.list(&format!("/{resource}"), namespace);
    Ok(objects
        .iter()
        .filter_map(|o| metrics_of(cluster, st, &ms, resource, o, now))
        .collect())
}

/// A request under `/apis/metrics.k8s.io/VERSION/`, `rest` split on `/`.
pub fn request(
    cluster: &Cluster,
    st: &State,
    who: &Identity,
    version: &str,
    rest: &[&str],
    now: Timestamp,
) -> Http {
    if version != VERSION || apiservice(st).is_none() {
        return Http::go_error(404, "404 page not found");
    }
    let (namespace, rest): (Option<&str>, &[&str]) = match rest {
        ["namespaces", ns, tail @ ..] => (Some(*ns), tail),
        other => (None, other),
    };
    match rest {
        // `handler_proxy.go`: `proxyError(w, req, "service unavailable", 503)`. Resource
        // requests reach the proxy only once authorized (the API server's filter chain
        // authorizes first), so `backend` checks RBAC before availability.
        [] if !available(st) => Http::go_error(503, "service unavailable"),
        [] => Http::json(200, resource_list()),
        [resource @ ("nodes" | "pods")] => match list(cluster, st, who, resource, namespace, now) {
            Ok(items) => {
                let kind = if *resource == "nodes" {
                    "NodeMetricsList"
                } else {
                    "PodMetricsList"
                };
                Http::json(
                    200,
                    json!({"kind": kind, "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": items}),
                )
            }
            Err(e) => e,
        },
        [resource @ ("nodes" | "pods"), name] => {
            let ms = match backend(cluster, st, who, "get", resource, namespace, Some(name)) {
                Ok(ms) => ms,
                Err(e) => return e,
            };
            let key = Key::new(&format!("/{resource}"), namespace.unwrap_or_default(), name);
            let Some(object) = st.store.get(&key) else {
                // The informers' listers answer first (MS@v0.9.0 `pkg/api/node.go`,
                // `pod.go`): the generated node lister names `node`, the metadata lister
                // of pods the resource `pods`.
                let what = if *resource == "nodes" { "node" } else { "pods" };
                return status(404, "NotFound", &format!("{what} \"{name}\" not found"));
            };
            match metrics_of(cluster, st, &ms, resource, object, now) {
                Some(m) => Http::json(200, m),
                // `errors.NewNotFound(m.groupResource, ...)`: a pod by `NS/NAME`.
                None if *resource == "nodes" => status(
                    404,
                    "NotFound",
                    &format!("nodemetrics.{GROUP} \"{name}\" not found"),
                ),
                None => status(
                    404,
                    "NotFound",
                    &format!(
                        "podmetrics.{GROUP} \"{}/{name}\" not found",
                        namespace.unwrap_or_default()
                    ),
                ),
            }
        }
        _ => Http::go_error(404, "404 page not found"),
    }
}

/// RBAC (the API server authorizes before it proxies), then the running metrics-server.
fn backend(
    cluster: &Cluster,
    st: &State,
    who: &Identity,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<MetricsServer, Http> {
    let req = rbac::Request {
        verb,
        group: GROUP,
        resource,
        subresource: None,
        namespace,
        name,
    };
    if !rbac::allowed(&st.store, who, &req) {
        return Err(status(403, "Forbidden", &req.forbidden_message(who)));
    }
    if !available(st) {
        return Err(Http::go_error(503, "service unavailable"));
    }
    metrics_server::serving(cluster, st).ok_or_else(|| Http::go_error(503, "service unavailable"))
}

fn metrics_of(
    cluster: &Cluster,
    st: &State,
    ms: &MetricsServer,
    resource: &str,
    object: &Value,
    now: Timestamp,
) -> Option<Value> {
    if resource == "nodes" {
        ms.node_metrics(cluster, st, object, now)
    } else {
        ms.pod_metrics(cluster, st, object, now)
    }
}

/// How client-go's typed clients report a failed metrics call (`errors.FromObject` for a
/// Status body, `NewGenericServerResponse` otherwise), as the scraper logs it.
pub fn client_go_error(answer: &Http, verb: &str, resource: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(&answer.body)
        && v["kind"] == "Status"
    {
        return v["message"].as_str().unwrap_or_default().to_string();
    }
    let qualified = format!("{resource}.{GROUP}");
    let message = match answer.status {
        404 => "the server could not find the requested resource",
        503 => "the server is currently unable to handle the request",
        403 => "forbidden",
        _ => "an error on the server has prevented the request from succeeding",
    };
    format!("{message} ({verb} {qualified})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_go_wording_for_plain_answers() {
        let unavailable = Http::go_error(503, "service unavailable");
        assert_eq!(
            client_go_error(&unavailable, "get", "nodes"),
            "the server is currently unable to handle the request (get nodes.metrics.k8s.io)"
        );
        // dashboard#4372, on a cluster without metrics-server.
        let missing = Http::go_error(404, "404 page not found");
        assert_eq!(
            client_go_error(&missing, "get", "nodes"),
            "the server could not find the requested resource (get nodes.metrics.k8s.io)"
        );
    }

    #[test]
    fn the_condition_keeps_its_transition_time_while_it_holds() {
        let t0: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
        let first = condition(
            &json!({}),
            (false, "MissingEndpoints".into(), "m".into()),
            t0,
        );
        let old = json!({"status": {"conditions": [first.clone()]}});
        let later = t0 + std::time::Duration::from_secs(30);
        let same = condition(&old, (false, "MissingEndpoints".into(), "m".into()), later);
        assert_eq!(same["lastTransitionTime"], first["lastTransitionTime"]);
        let flipped = condition(
            &old,
            (true, "Passed".into(), "all checks passed".into()),
            later,
        );
        assert_ne!(flipped["lastTransitionTime"], first["lastTransitionTime"]);
    }
}
