//! Replies as the API server writes them: JSON bodies, `Status` objects, and the helpers
//! every handler shares to read a request.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Response;
use serde_json::{Value, json};

use crate::apps::common::{Http, status};
use crate::resources::ResourceType;

pub(super) type Reply = Response<Body>;

pub(super) fn reply(http: Http) -> Reply {
    Response::builder()
        .status(http.status)
        .header("content-type", http.content_type)
        .body(Body::from(http.body))
        .expect("valid response")
}

pub(super) fn status_reply(code: u16, reason: &str, message: &str) -> Reply {
    reply(status(code, reason, message))
}

pub(super) fn json_reply(value: Value) -> Reply {
    reply(Http::json(200, value))
}

pub(super) fn not_found_path() -> Reply {
    // What the real server says for a path it does not serve (e.g. a removed API).
    status_reply(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// The plural with its group, as the API server names a resource in messages (`deployments.apps`).
pub(super) fn qualified(r: &ResourceType) -> String {
    if r.group.is_empty() {
        r.plural.to_string()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

pub(super) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Objects are stored without version; the reply carries the version asked for.
/// A stored object as the API answers it (the store's shared copy is copied only here).
pub(super) fn with_type(obj: impl Into<Arc<Value>>, rt: &ResourceType) -> Value {
    let mut obj = Arc::unwrap_or_clone(obj.into());
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj
}
