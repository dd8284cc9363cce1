//! Writes: create, server-side apply and merge patches, update, delete with garbage
//! collection, each checked as the API server checks them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::reply::{Reply, json_reply, param, qualified, reply, status_reply, with_type};
use crate::apps::common::Http;
use crate::cluster::Cluster;
use crate::resources::{self, ResourceType};
use crate::store::Key;

pub(super) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, String> {
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

pub(super) fn check_identity(
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

pub(super) fn namespace_exists(
    st: &crate::cluster::State,
    ns: Option<&str>,
) -> Result<(), Box<Reply>> {
    match ns {
        Some(ns) if st.store.get(&Key::new("/namespaces", "", ns)).is_none() => Err(Box::new(
            status_reply(404, "NotFound", &format!("namespaces \"{ns}\" not found")),
        )),
        _ => Ok(()),
    }
}

pub(super) fn store_object(mut obj: Value, namespace: Option<&str>) -> Value {
    if let Some(ns) = namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj
}

pub(super) fn create(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    body: &Bytes,
) -> Reply {
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
pub(super) fn prepare(st: &mut crate::cluster::State, rt: &ResourceType, mut obj: Value) -> Value {
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
pub(super) fn merge(base: &mut Value, patch: &Value) {
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

pub(super) fn patch(
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

pub(super) fn update(
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

pub(super) fn delete(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Reply {
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
    let mut doomed: Vec<(Key, Arc<Value>)> = Vec::new();
    let all: Vec<(Key, Arc<Value>)> = resources::RESOURCES
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

#[cfg(test)]
mod tests {
    use super::*;

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
