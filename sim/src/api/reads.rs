//! Reads: list, watch (from any resourceVersion the history still holds, else 410), and
//! pod logs.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::Response;
use futures::StreamExt;
use serde_json::{Value, json};

use super::reply::{Reply, json_reply, param, reply, status_reply, with_type};
use super::selectors::selected;
use crate::apps::common::Http;
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::store::Key;

pub(super) fn is_watch(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
}

pub(super) fn list(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &[(String, String)],
    as_table: bool,
) -> Reply {
    let st = cluster.lock();
    let items: Vec<Value> = st
        .store
        .list(&rt.store_key(), namespace)
        .into_iter()
        .filter(|o| selected(o, query))
        .map(|o| with_type(o, rt))
        .collect();
    let resource_version = st.store.resource_version().to_string();
    if as_table {
        return json_reply(super::tables::table(
            rt,
            &items,
            &resource_version,
            crate::cluster::now(),
        ));
    }
    json_reply(
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": st.store.resource_version().to_string()}, "items": items}),
    )
}

pub(super) fn watch(
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

pub(super) fn tokio_stream_from(
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

pub(super) fn async_stream<T, F, Fut>(f: F) -> impl futures::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub(super) fn pod_log(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    query: &[(String, String)],
) -> Reply {
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
