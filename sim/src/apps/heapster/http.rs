//! heapster's port 8082: `/healthz` and the model API (H@v1.5.4 `metrics/heapster.go`,
//! `api/v1/model_handlers.go`), answered as go-restful writes them.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::run::{Heapster, METRIC_NAMES, heapster_of};
use super::series::{metric_result, node_series, pod_series, scraped_pods};
use crate::apps::common::{AppRequest, Http};
use crate::cluster::{Cluster, State};

pub fn serve(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    let Some(h) = heapster_of(cluster, st, pod, container) else {
        return Http::go_error(503, "heapster is not running");
    };
    let parts: Vec<&str> = req.path.split('/').filter(|p| !p.is_empty()).collect();
    let batch = h.has_batch(now);
    match parts.as_slice() {
        // `healthz.InstallHandler` (k8s.io/apiserver): `[-]NAME failed: REASON`.
        ["healthz"] => match h.health(now) {
            Ok(()) => Http::text(200, "ok"),
            Err(reason) => Http::go_error(
                500,
                &format!("[-]healthz failed: {reason}\nhealthz check failed"),
            ),
        },
        ["api", "v1", "model", rest @ ..] => model(cluster, st, &h, rest, batch, now),
        _ => Http::restful_not_found(),
    }
}

fn model(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    parts: &[&str],
    batch: bool,
    now: Timestamp,
) -> Http {
    let names = |known: bool| {
        // `GetMetricNames`: the names in the batches of the last 140 s (Go map order).
        Http::restful_json(
            200,
            &json!(if known { METRIC_NAMES.to_vec() } else { vec![] }),
        )
    };
    match parts {
        // `getAllNames` over the latest batch (Go map order, here sorted).
        ["nodes"] => {
            Http::restful_json(200, &json!(if batch { h.scraped_nodes() } else { vec![] }))
        }
        ["nodes", node, "metrics"] => names(batch && h.knows_node(node)),
        ["nodes", node, "metrics", metric @ ..] if !metric.is_empty() => Http::restful_json(
            200,
            &metric_result(&node_series(cluster, st, h, node, &metric.join("/"), now)),
        ),
        ["namespaces", ns, "pods"] => {
            let names: Vec<Value> = if batch {
                scraped_pods(cluster, st, h, Some(ns))
                    .iter()
                    .map(|p| p["metadata"]["name"].clone())
                    .collect()
            } else {
                vec![]
            };
            Http::restful_json(200, &json!(names))
        }
        ["namespaces", ns, "pods", pod, "metrics"] => names(
            batch
                && scraped_pods(cluster, st, h, Some(ns))
                    .iter()
                    .any(|p| p["metadata"]["name"] == *pod),
        ),
        ["namespaces", ns, "pods", pod, "metrics", metric @ ..]
        | [
            "namespaces",
            ns,
            "pods",
            pod,
            "containers",
            _,
            "metrics",
            metric @ ..,
        ] if !metric.is_empty() => Http::restful_json(
            200,
            &metric_result(&pod_series(cluster, st, h, ns, pod, &metric.join("/"), now)),
        ),
        // `podListMetrics` turns pretty printing off and answers one item per name.
        ["namespaces", ns, "pod-list", list, "metrics", metric @ ..] if !metric.is_empty() => {
            let metric = metric.join("/");
            let items: Vec<Value> = list
                .split(',')
                .map(|pod| metric_result(&pod_series(cluster, st, h, ns, pod, &metric, now)))
                .collect();
            Http::json(200, json!({"items": items}))
        }
        _ => Http::restful_not_found(),
    }
}
