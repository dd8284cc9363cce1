//! The HTTP face of the simulated API server. URL shapes, status objects and watch
//! streams follow the real kube-apiserver closely enough for client-go (kubectl) and
//! kube-rs to work unchanged: authentication and discovery here, reads in `reads`, writes
//! in `writes`, service and pod proxy requests to `crate::proxy`.

mod discovery;
mod reads;
mod reply;
mod selectors;
mod tables;
mod writes;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};

use crate::apps::common::{AppRequest, Http};
use crate::cluster::{Cluster, now};
use crate::rbac::{self, Identity};
use crate::resources;
use crate::store::Key;
use reads::{is_watch, list, pod_log, watch};
use reply::{Reply, json_reply, not_found_path, qualified, reply, status_reply, with_type};
use writes::{create, delete, patch, update};

pub use selectors::{matches_fields, matches_labels};

/// Whether the request's connection presented the admin's client certificate (the TLS
/// listener in `server` attaches it to every request).
#[derive(Debug, Clone, Copy)]
pub struct AdminCertificate(pub bool);

pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new().fallback(handle).with_state(cluster)
}

async fn handle(
    AxumState(cluster): AxumState<Arc<Cluster>>,
    admin_cert: Option<axum::Extension<AdminCertificate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let path = uri.path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let request_line = format!("{method} {path}");
    let seen = {
        let mut st = cluster.lock();
        st.requests.push((method.to_string(), uri.to_string()));
        const TRANSPORT: &[&str] = &[
            "authorization",
            "host",
            "user-agent",
            "accept-encoding",
            "content-length",
        ];
        st.recorded.push(crate::cluster::RecordedRequest {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers
                .iter()
                .filter(|(k, _)| !TRANSPORT.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: body.to_vec(),
        });
        cluster.requested.notify_waiters();
        let seen = st.request_counts.entry(request_line).or_default();
        *seen += 1;
        *seen
    };
    if cluster.config.faults.transient_api_errors && seen <= 2 {
        return if seen == 1 {
            status_reply(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out",
            )
        } else {
            let mut r = status_reply(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            );
            r.headers_mut()
                .insert("retry-after", "1".parse().expect("valid header"));
            r
        };
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let by_cert = admin_cert
        .is_some_and(|axum::Extension(c)| c.0)
        .then_some(Identity::Admin);
    let Some(who) = by_cert.or_else(|| cluster.identity_for_token(token)) else {
        return status_reply(401, "Unauthorized", "Unauthorized");
    };
    let who = match impersonated(&cluster, &headers, who) {
        Ok(who) => who,
        Err(forbidden) => return status_reply(403, "Forbidden", &forbidden),
    };
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["version"] => json_reply(version(&cluster)),
        ["healthz"] | ["readyz"] | ["livez"] => reply(Http::text(200, "ok")),
        ["api"] => json_reply(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}),
        ),
        ["apis"] => {
            let metrics = crate::aggregated::registered(&cluster.lock());
            if discovery::wants_aggregated(&headers) {
                reply(discovery::aggregated(cluster.minor, metrics))
            } else {
                json_reply(discovery::api_groups(cluster.minor, metrics.is_some()))
            }
        }
        ["apis", "metrics.k8s.io", version, rest @ ..] => {
            let st = cluster.lock();
            reply(crate::aggregated::request(
                &cluster,
                &st,
                &who,
                version,
                rest,
                now(),
            ))
        }
        ["api", "v1"] => json_reply(discovery::resource_list("", "v1", cluster.minor)),
        ["apis", group] => {
            let metrics = crate::aggregated::registered(&cluster.lock()).is_some();
            match discovery::api_groups(cluster.minor, metrics)["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["name"] == *group))
            {
                Some(g) => json_reply(
                    json!({"kind": "APIGroup", "apiVersion": "v1", "name": g["name"], "versions": g["versions"], "preferredVersion": g["preferredVersion"]}),
                ),
                None => not_found_path(),
            }
        }
        ["apis", group, version]
            if resources::served_group_versions(cluster.minor).contains(&(*group, *version)) =>
        {
            json_reply(discovery::resource_list(group, version, cluster.minor))
        }
        ["api", "v1", rest @ ..] => {
            resource_request(
                &cluster, &who, "", "v1", rest, &method, &query, &headers, &body,
            )
            .await
        }
        ["apis", group, version, rest @ ..] => {
            resource_request(
                &cluster, &who, group, version, rest, &method, &query, &headers, &body,
            )
            .await
        }
        _ => not_found_path(),
    }
}

/// `Impersonate-User: system:serviceaccount:NS:NAME`: act as that service account when the
/// caller may `impersonate` it (AS@v0.36.3 `pkg/endpoints/filters/impersonation/
/// impersonation.go`: a service account's name is checked as the resource `serviceaccounts`
/// in its namespace; refused with `responsewriters.Forbidden`). kind's admin is in
/// `system:masters`, which may do anything. Only service accounts are emulated. `Err` is
/// the 403's message.
fn impersonated(cluster: &Cluster, headers: &HeaderMap, who: Identity) -> Result<Identity, String> {
    let Some(requested) = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(who);
    };
    let Some((ns, name)) = requested
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    else {
        return Err(format!(
            "users {requested:?} is forbidden: the simulated API server impersonates service accounts only"
        ));
    };
    let req = rbac::Request {
        verb: "impersonate",
        group: "",
        resource: "serviceaccounts",
        subresource: None,
        namespace: Some(ns),
        name: Some(name),
    };
    let allowed = who == Identity::Admin || rbac::allowed(&cluster.lock().store, &who, &req);
    if allowed {
        Ok(Identity::service_account(ns, name))
    } else {
        Err(req.forbidden_message(&who))
    }
}

fn version(cluster: &Cluster) -> Value {
    let (major, minor, git) = cluster.config.version();
    json!({"major": major.to_string(), "minor": minor.to_string(), "gitVersion": git, "gitCommit": "simulated", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"})
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    cluster: &Arc<Cluster>,
    who: &Identity,
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Reply {
    // [namespaces, NS, plural, name?, subresource?, ...] or [plural, name?, subresource?]
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] => (Some(*ns), [&[*plural][..], tail].concat()),
        other => (None, other.to_vec()),
    };
    let Some(plural) = rest.first().copied() else {
        return not_found_path();
    };
    let Some(rt) = resources::lookup(group, version, plural, cluster.minor) else {
        return not_found_path();
    };
    if rt.namespaced != namespace.is_some()
        && !(rt.namespaced && rest.len() == 1 && *method == Method::GET)
    {
        return not_found_path();
    }
    let name = rest.get(1).copied();
    let subresource = rest.get(2).copied();
    let verb = match (method.as_str(), name, subresource) {
        ("GET", None, _) if is_watch(query) => "watch",
        ("GET", None, _) => "list",
        ("GET", Some(_), _) => "get",
        ("POST", None, _) => "create",
        ("POST", Some(_), Some("proxy")) => "create",
        ("PATCH", ..) => "patch",
        ("PUT", ..) => "update",
        ("DELETE", ..) => "delete",
        _ => {
            return status_reply(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            );
        }
    };
    if subresource != Some("proxy") {
        let req = rbac::Request {
            verb,
            group,
            resource: plural,
            subresource,
            namespace,
            name,
        };
        let allowed = rbac::allowed(&cluster.lock().store, who, &req);
        if !allowed {
            return status_reply(403, "Forbidden", &req.forbidden_message(who));
        }
    }
    match (verb, subresource) {
        ("watch", _) => watch(cluster, rt, namespace, query),
        ("list", _) => list(cluster, rt, namespace, query, tables::wanted(headers)),
        ("get", Some("log")) => pod_log(
            cluster,
            namespace.unwrap_or_default(),
            name.unwrap_or_default(),
            query,
        ),
        (_, Some("proxy")) if plural == "pods" => {
            let tail = rest.get(3..).map(|t| t.join("/")).unwrap_or_default();
            let mut st = cluster.lock();
            let path = format!("/{tail}");
            let req = AppRequest {
                method: method.as_str(),
                path: &path,
                query,
                headers: &[],
                body: "",
            };
            reply(crate::proxy::pod_proxy(
                cluster,
                &mut st,
                who,
                namespace.unwrap_or_default(),
                name.unwrap_or_default(),
                &req,
                now(),
            ))
        }
        (_, Some("proxy")) if plural == "services" => {
            let tail = rest.get(3..).map(|t| t.join("/")).unwrap_or_default();
            proxy(
                cluster,
                who,
                namespace.unwrap_or_default(),
                name.unwrap_or_default(),
                &tail,
                method,
                query,
                headers,
                body,
            )
        }
        ("get", None) => {
            let (found, rv) = {
                let st = cluster.lock();
                let key = Key::new(
                    &rt.store_key(),
                    namespace.unwrap_or_default(),
                    name.unwrap_or_default(),
                );
                (
                    st.store.get(&key).cloned(),
                    st.store.resource_version().to_string(),
                )
            };
            match found {
                Some(obj) if tables::wanted(headers) => {
                    json_reply(tables::table(rt, &[with_type(obj, rt)], &rv, now()))
                }
                Some(obj) => json_reply(with_type(obj, rt)),
                None => status_reply(
                    404,
                    "NotFound",
                    &format!(
                        "{} \"{}\" not found",
                        qualified(rt),
                        name.unwrap_or_default()
                    ),
                ),
            }
        }
        ("create", None) => create(cluster, rt, namespace, body),
        ("patch", None) => patch(
            cluster,
            rt,
            namespace,
            name.unwrap_or_default(),
            query,
            headers,
            body,
        ),
        ("update", None) => update(cluster, rt, namespace, name.unwrap_or_default(), body),
        ("delete", None) => delete(cluster, rt, namespace, name.unwrap_or_default()),
        _ => not_found_path(),
    }
}

#[allow(clippy::too_many_arguments)]
fn proxy(
    cluster: &Cluster,
    who: &Identity,
    ns: &str,
    reference: &str,
    tail: &str,
    method: &Method,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Reply {
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .filter(|(k, _)| k != "authorization")
        .collect();
    let body_text = String::from_utf8_lossy(body).to_string();
    let path = format!("/{tail}");
    let req = AppRequest {
        method: method.as_str(),
        path: &path,
        query,
        headers: &header_list,
        body: &body_text,
    };
    let mut st = cluster.lock();
    let answer = crate::proxy::service_proxy(cluster, &mut st, who, ns, reference, &req, now());
    let mut response = reply(answer);
    if response.status() == StatusCode::NO_CONTENT {
        *response.body_mut() = Body::empty();
    }
    response
}
