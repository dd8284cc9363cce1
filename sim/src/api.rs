//! The HTTP face of the simulated API server. URL shapes, status objects and watch
//! streams follow the real kube-apiserver closely enough for client-go (kubectl) and
//! kube-rs to work unchanged. Service proxy requests go to `proxy`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::apps::common::{AppRequest, Http, status};
use crate::cluster::{Cluster, now};
use crate::rbac::{self, Identity};
use crate::resources::{self, ResourceType};
use crate::store::Key;

pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new().fallback(handle).with_state(cluster)
}

type Reply = Response<Body>;

fn reply(http: Http) -> Reply {
    Response::builder()
        .status(http.status)
        .header("content-type", http.content_type)
        .body(Body::from(http.body))
        .expect("valid response")
}

fn status_reply(code: u16, reason: &str, message: &str) -> Reply {
    reply(status(code, reason, message))
}

fn json_reply(value: Value) -> Reply {
    reply(Http::json(200, value))
}

async fn handle(
    AxumState(cluster): AxumState<Arc<Cluster>>,
    admin_cert: Option<axum::Extension<crate::server::AdminCertificate>>,
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
        cluster.requested.notify_waiters();
        st.requests
            .iter()
            .filter(|(m, u)| {
                format!("{m} {}", u.split('?').next().unwrap_or_default()) == request_line
            })
            .count()
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
        ["apis"] => json_reply(api_groups(cluster.minor)),
        ["api", "v1"] => json_reply(resource_list("", "v1", cluster.minor)),
        ["apis", group] => match api_groups(cluster.minor)["groups"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["name"] == *group))
        {
            Some(g) => json_reply(
                json!({"kind": "APIGroup", "apiVersion": "v1", "name": g["name"], "versions": g["versions"], "preferredVersion": g["preferredVersion"]}),
            ),
            None => not_found_path(),
        },
        ["apis", group, version]
            if resources::served_group_versions(cluster.minor).contains(&(*group, *version)) =>
        {
            json_reply(resource_list(group, version, cluster.minor))
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

fn not_found_path() -> Reply {
    // What the real server says for a path it does not serve (e.g. a removed API).
    status_reply(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn version(cluster: &Cluster) -> Value {
    let (major, minor, git) = cluster.config.version();
    json!({"major": major.to_string(), "minor": minor.to_string(), "gitVersion": git, "gitCommit": "simulated", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"})
}

fn api_groups(minor: u32) -> Value {
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
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(group: &str, version: &str, minor: u32) -> Value {
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

/// The plural with its group, as the API server names a resource in messages (`deployments.apps`).
fn qualified(r: &ResourceType) -> String {
    if r.group.is_empty() {
        r.plural.to_string()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
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
        ("list", _) => list(cluster, rt, namespace, query),
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
        ("get", None) => match cluster.lock().store.get(&Key::new(
            &rt.store_key(),
            namespace.unwrap_or_default(),
            name.unwrap_or_default(),
        )) {
            Some(obj) => json_reply(with_type(obj.clone(), rt)),
            None => status_reply(
                404,
                "NotFound",
                &format!(
                    "{} \"{}\" not found",
                    qualified(rt),
                    name.unwrap_or_default()
                ),
            ),
        },
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

fn is_watch(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Objects are stored without version; the reply carries the version asked for.
fn with_type(mut obj: Value, rt: &ResourceType) -> Value {
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj
}

/// Label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`.
pub fn matches_labels(selector: &str, labels: &Value) -> bool {
    split_selector(selector).iter().all(|term| {
        let term = term.trim();
        let label = |k: &str| labels[k].as_str().map(str::to_string);
        if let Some((k, set)) = term.split_once(" in ") {
            let set = set.trim().trim_start_matches('(').trim_end_matches(')');
            return label(k.trim()).is_some_and(|v| set.split(',').any(|x| x.trim() == v));
        }
        if let Some((k, set)) = term.split_once(" notin ") {
            let set = set.trim().trim_start_matches('(').trim_end_matches(')');
            return !label(k.trim()).is_some_and(|v| set.split(',').any(|x| x.trim() == v));
        }
        if let Some((k, v)) = term.split_once("!=") {
            return label(k.trim()).as_deref() != Some(v.trim());
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return label(k.trim()).as_deref() == Some(v.trim());
        }
        if let Some(k) = term.strip_prefix('!') {
            return label(k).is_none();
        }
        term.is_empty() || label(term).is_some()
    })
}

fn split_selector(selector: &str) -> Vec<String> {
    // Commas inside `in (...)` sets do not separate terms.
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for ch in selector.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    terms.push(current);
    terms
}

/// Field selectors over dotted paths: `metadata.name=x`, `spec.nodeName=y`, `status.phase!=Running`.
pub fn matches_fields(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (path, want, negate) = match term.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return true,
            },
        };
        let got = path.split('.').fold(obj, |v, seg| &v[seg]);
        let got = got.as_str().map(str::to_string).unwrap_or_else(|| {
            if got.is_null() {
                String::new()
            } else {
                got.to_string()
            }
        });
        (got == want) != negate
    })
}

fn selected(obj: &Value, query: &[(String, String)]) -> bool {
    param(query, "labelSelector").is_none_or(|s| matches_labels(s, &obj["metadata"]["labels"]))
        && param(query, "fieldSelector").is_none_or(|s| matches_fields(s, obj))
}

fn list(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &[(String, String)],
) -> Reply {
    let st = cluster.lock();
    let items: Vec<Value> = st
        .store
        .list(&rt.store_key(), namespace)
        .into_iter()
        .filter(|o| selected(o, query))
        .map(|o| with_type(o, rt))
        .collect();
    json_reply(
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": st.store.resource_version().to_string()}, "items": items}),
    )
}

fn watch(
    cluster: &Arc<Cluster>,
    rt: &'static ResourceType,
    namespace: Option<&str>,
    query: &[(String, String)],
) -> Reply {
    let (receiver, backlog) = {
        let st = cluster.lock();
        let from: u64 = param(query, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .unwrap_or(st.store.resource_version());
        let receiver = st.store.subscribe();
        match st.store.history_since(from) {
            Some(backlog) => (receiver, backlog),
            None => {
                return status_reply(410, "Expired", &format!("too old resource version: {from}"));
            }
        }
    };
    let key = rt.store_key();
    let namespace = namespace.map(str::to_string);
    let query = query.to_vec();
    let timeout = param(&query, "timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800u64);
    let last_sent = backlog.last().map(|e| e.rv).unwrap_or(0);
    let relevant = move |e: &crate::store::Event| {
        e.key.resource == key
            && namespace.as_deref().is_none_or(|ns| e.key.namespace == ns)
            && selected(&e.object, &query)
    };
    let relevant_live = relevant.clone();
    let line = move |e: &crate::store::Event| {
        Bytes::from(format!(
            "{}\n",
            json!({"type": e.kind.as_str(), "object": with_type(e.object.clone(), rt)})
        ))
    };
    let line_live = line;
    let backlog_stream = futures::stream::iter(
        backlog
            .into_iter()
            .filter(move |e| relevant(e))
            .map(move |e| Ok::<_, std::io::Error>(line(&e))),
    );
    let live = tokio_stream_from(receiver)
        .filter(move |e| futures::future::ready(e.rv > last_sent && relevant_live(e)))
        .map(move |e| Ok(line_live(&e)));
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(timeout));
    let stream = backlog_stream.chain(live).take_until(deadline);
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

fn tokio_stream_from(
    mut rx: tokio::sync::broadcast::Receiver<Arc<crate::store::Event>>,
) -> impl futures::Stream<Item = Arc<crate::store::Event>> {
    async_stream(move |tx| async move {
        // A watcher that fell behind is cut off; the client re-lists, as with a real server.
        while let Ok(e) = rx.recv().await {
            if tx.send(e).await.is_err() {
                break;
            }
        }
    })
}

fn async_stream<T, F, Fut>(f: F) -> impl futures::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.contains("yaml") {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

fn check_identity(
    rt: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
    obj: &Value,
) -> Result<(), Box<Reply>> {
    if obj["apiVersion"] != rt.api_version().as_str() || obj["kind"] != rt.kind {
        return Err(Box::new(status_reply(
            400,
            "BadRequest",
            &format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                obj["apiVersion"].as_str().unwrap_or_default(),
                rt.api_version()
            ),
        )));
    }
    let obj_name = obj["metadata"]["name"].as_str();
    if obj_name.is_none_or(str::is_empty) {
        return Err(Box::new(status_reply(
            422,
            "Invalid",
            &format!(
                "{} \"\" is invalid: metadata.name: Required value: name is required",
                rt.kind
            ),
        )));
    }
    if name.is_some_and(|n| Some(n) != obj_name) {
        return Err(Box::new(status_reply(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        )));
    }
    if let (Some(ns), Some(obj_ns)) = (namespace, obj["metadata"]["namespace"].as_str())
        && ns != obj_ns
    {
        return Err(Box::new(status_reply(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )));
    }
    Ok(())
}

fn namespace_exists(st: &crate::cluster::State, ns: Option<&str>) -> Result<(), Box<Reply>> {
    match ns {
        Some(ns) if st.store.get(&Key::new("/namespaces", "", ns)).is_none() => Err(Box::new(
            status_reply(404, "NotFound", &format!("namespaces \"{ns}\" not found")),
        )),
        _ => Ok(()),
    }
}

fn store_object(mut obj: Value, namespace: Option<&str>) -> Value {
    if let Some(ns) = namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj
}

fn create(cluster: &Cluster, rt: &ResourceType, namespace: Option<&str>, body: &Bytes) -> Reply {
    let obj = match parse_body(&HeaderMap::new(), body) {
        Ok(v) => v,
        Err(e) => return status_reply(400, "BadRequest", &e),
    };
    if let Err(r) = check_identity(rt, namespace, None, &obj) {
        return *r;
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = Key::new(&rt.store_key(), namespace.unwrap_or_default(), &name);
    let mut st = cluster.lock();
    if let Err(r) = namespace_exists(&st, namespace) {
        return *r;
    }
    if st.store.get(&key).is_some() {
        return status_reply(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", qualified(rt)),
        );
    }
    let obj = prepare(&mut st, rt, store_object(obj, namespace));
    let stored = st.store.put(key, obj);
    reply(Http::json(201, with_type(stored, rt)))
}

/// Defaults the API server fills in on create (cluster IPs for Services).
fn prepare(st: &mut crate::cluster::State, rt: &ResourceType, mut obj: Value) -> Value {
    if rt.kind == "Service" && obj["spec"]["clusterIP"].is_null() {
        st.next_ip += 1;
        obj["spec"]["clusterIP"] = json!(format!(
            "10.96.{}.{}",
            st.next_ip / 250,
            st.next_ip % 250 + 1
        ));
    }
    obj
}

/// Server-side apply is modelled as a merge of the applied configuration over the live
/// object (maps merged, lists replaced); field ownership is not tracked.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn patch(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Reply {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let is_apply = content_type.starts_with("application/apply-patch");
    if !is_apply && !content_type.contains("merge-patch") {
        return status_reply(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type})"
            ),
        );
    }
    if is_apply && param(query, "fieldManager").is_none_or(str::is_empty) {
        return status_reply(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        );
    }
    let patch = match parse_body(headers, body) {
        Ok(v) => v,
        Err(e) => return status_reply(400, "BadRequest", &format!("error decoding YAML: {e}")),
    };
    if is_apply && let Err(r) = check_identity(rt, namespace, Some(name), &patch) {
        return *r;
    }
    let key = Key::new(&rt.store_key(), namespace.unwrap_or_default(), name);
    let mut st = cluster.lock();
    if let Err(r) = namespace_exists(&st, namespace) {
        return *r;
    }
    let (mut obj, created) = match st.store.get(&key).cloned() {
        Some(existing) => (existing, false),
        None if is_apply => (json!({}), true),
        None => {
            return status_reply(
                404,
                "NotFound",
                &format!("{} \"{name}\" not found", qualified(rt)),
            );
        }
    };
    merge(&mut obj, &patch);
    let mut obj = store_object(obj, namespace);
    if is_apply {
        let manager = param(query, "fieldManager").unwrap_or_default();
        obj["metadata"]["managedFields"] = json!([{"manager": manager, "operation": "Apply", "apiVersion": rt.api_version(), "time": crate::now_rfc3339(), "fieldsType": "FieldsV1"}]);
    }
    if created {
        obj = prepare(&mut st, rt, obj);
    }
    let stored = st.store.put(key, obj);
    reply(Http::json(
        if created { 201 } else { 200 },
        with_type(stored, rt),
    ))
}

fn update(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: &Bytes,
) -> Reply {
    let obj = match parse_body(&HeaderMap::new(), body) {
        Ok(v) => v,
        Err(e) => return status_reply(400, "BadRequest", &e),
    };
    if let Err(r) = check_identity(rt, namespace, Some(name), &obj) {
        return *r;
    }
    let key = Key::new(&rt.store_key(), namespace.unwrap_or_default(), name);
    let mut st = cluster.lock();
    if st.store.get(&key).is_none() {
        return status_reply(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", qualified(rt)),
        );
    }
    let stored = st.store.put(key, store_object(obj, namespace));
    json_reply(with_type(stored, rt))
}

fn delete(cluster: &Cluster, rt: &ResourceType, namespace: Option<&str>, name: &str) -> Reply {
    let key = Key::new(&rt.store_key(), namespace.unwrap_or_default(), name);
    let mut st = cluster.lock();
    let Some(obj) = st.store.delete(&key) else {
        return status_reply(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", qualified(rt)),
        );
    };
    // Garbage collection, done at once: a namespace takes its objects, an owner its dependents.
    let mut doomed: Vec<(Key, Value)> = Vec::new();
    let all: Vec<(Key, Value)> = resources::RESOURCES
        .iter()
        .map(|r| r.store_key())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .flat_map(|res| {
            st.store.list(&res, None).into_iter().map(move |o| {
                (
                    Key::new(
                        &res,
                        o["metadata"]["namespace"].as_str().unwrap_or_default(),
                        o["metadata"]["name"].as_str().unwrap_or_default(),
                    ),
                    o,
                )
            })
        })
        .collect();
    let mut frontier = vec![obj.clone()];
    while let Some(owner) = frontier.pop() {
        for (k, o) in &all {
            let in_ns = rt.kind == "Namespace" && owner == obj && k.namespace == name;
            let owned = o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == owner["metadata"]["uid"]);
            if (in_ns || owned) && !doomed.iter().any(|(d, _)| d == k) {
                doomed.push((k.clone(), o.clone()));
                frontier.push(o.clone());
            }
        }
    }
    for (k, _) in doomed {
        if k.resource == "/pods" {
            st.pods.remove(&(k.namespace.clone(), k.name.clone()));
        }
        st.store.delete(&k);
    }
    json_reply(with_type(obj, rt))
}

fn pod_log(cluster: &Cluster, ns: &str, name: &str, query: &[(String, String)]) -> Reply {
    let st = cluster.lock();
    let Some(pod) = st.store.get(&Key::new("/pods", ns, name)) else {
        return status_reply(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match param(query, "container") {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return status_reply(
                400,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                ),
            );
        }
    };
    if !containers.contains(&container) {
        return status_reply(
            400,
            "BadRequest",
            &format!("container {container} is not valid for pod {name}"),
        );
    }
    let log = st
        .logs
        .get(&(ns.to_string(), name.to_string(), container.clone()))
        .cloned()
        .unwrap_or_default();
    let previous = param(query, "previous") == Some("true");
    let lines = if previous {
        match log.previous {
            Some(lines) => lines,
            None => {
                return status_reply(
                    400,
                    "BadRequest",
                    &format!(
                        "previous terminated container \"{container}\" in pod \"{name}\" not found"
                    ),
                );
            }
        }
    } else {
        if pod["status"]["phase"] == "Pending" {
            return status_reply(
                400,
                "BadRequest",
                &format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                ),
            );
        }
        log.current
    };
    let tail: usize = param(query, "tailLines")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let start = lines.len().saturating_sub(tail);
    let mut text = lines[start..].join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    reply(Http::text(200, text))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "heapster", "tier": "monitoring"});
        assert!(matches_labels("app=heapster", &labels));
        assert!(matches_labels("app==heapster,tier", &labels));
        assert!(!matches_labels("app!=heapster", &labels));
        assert!(matches_labels("app in (heapster, grafana)", &labels));
        assert!(!matches_labels("!tier", &labels));
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(matches_fields(
            "spec.nodeName=n1,status.phase=Running",
            &pod
        ));
        assert!(!matches_fields("status.phase!=Running", &pod));
    }

    #[test]
    fn merge_replaces_lists_and_merges_maps() {
        let mut base = json!({"spec": {"replicas": 1, "ports": [1, 2]}, "status": {"x": 1}});
        merge(&mut base, &json!({"spec": {"ports": [3]}}));
        assert_eq!(
            base,
            json!({"spec": {"replicas": 1, "ports": [3]}, "status": {"x": 1}})
        );
    }
}
