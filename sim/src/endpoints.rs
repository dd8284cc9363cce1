//! Endpoints, as the endpoints controller derives them: the ready pods a Service's
//! selector picks. The service proxy and the programs that find each other through
//! Services read them here.

use std::sync::Arc;

use serde_json::Value;

use crate::cluster::State;

/// Ready pods selected by a Service, each with the container that serves it (the first).
pub fn ready_backends(st: &State, svc: &Value) -> Vec<(Arc<Value>, Value)> {
    let Some(selector) = svc["spec"]["selector"].as_object() else {
        return vec![];
    };
    let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
    st.store
        .list("/pods", Some(ns))
        .into_iter()
        .filter(|p| {
            selector
                .iter()
                .all(|(k, v)| &p["metadata"]["labels"][k] == v)
        })
        .filter(|p| is_ready(p))
        .filter_map(|p| {
            let c = p["spec"]["containers"].as_array()?.first()?.clone();
            Some((p, c))
        })
        .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}
