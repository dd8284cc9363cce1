//! What heapster's metric sink holds for a node or a pod: which batches have a point
//! (rates need the previous batch), how long each store keeps them, and the usage the
//! kubelets would report (H@v1.5.4 `processors/rate_calculator.go`,
//! `sinks/metric/metric_sink.go`, `api/v1/model_handlers.go`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::run::{Heapster, LONG_STORE, LONG_STORE_METRICS, SHORT_STORE};
use std::sync::Arc;

use crate::apps::common::{GO_ZERO_TIME, go_time_json, pod_is_running, pod_started};
pub use crate::apps::measured::{is_consumer, node_usage, pod_usage};
use crate::cluster::{Cluster, State};
use crate::usage::Usage;

pub fn scraped_pods(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    namespace: Option<&str>,
) -> Vec<Arc<Value>> {
    let faults = &cluster.config.faults;
    if faults.pods_without_metrics {
        return Vec::new();
    }
    let nodes = h.scraped_nodes();
    st.store
        .list("/pods", namespace)
        .into_iter()
        .filter(|p| pod_is_running(p))
        .filter(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| nodes.contains(&n))
        })
        .filter(|p| !(faults.consumer_without_metrics && is_consumer(p)))
        .collect()
}

fn metric_value(usage: Usage, metric: &str, uptime_ms: i64) -> Option<i64> {
    Some(match metric {
        "cpu/usage_rate" => usage.cpu_millicores,
        "memory/usage" => usage.memory_bytes,
        "memory/working_set" => usage.memory_bytes * 4 / 5,
        "cpu/usage" => usage.cpu_millicores * 1_000_000 * (uptime_ms / 1000),
        "uptime" => uptime_ms,
        "network/rx_rate" | "network/tx_rate" => usage.cpu_millicores * 37,
        _ => return None,
    })
}

/// Points of one series: the batches the sink still holds for `metric` in which the
/// entity was present (`since`: when it appeared); rates need it in the batch before too.
pub fn series(
    h: &Heapster,
    now: Timestamp,
    since: Timestamp,
    metric: &str,
    usage_at: impl Fn(Timestamp) -> Usage,
) -> Vec<(Timestamp, i64)> {
    let batches = h.batches(now);
    let Some(latest) = batches.last().copied() else {
        return Vec::new();
    };
    let keep = if LONG_STORE_METRICS.contains(&metric) {
        LONG_STORE
    } else {
        SHORT_STORE
    };
    let is_rate = metric.ends_with("_rate");
    let stall = h.stalled_for.unwrap_or_default();
    let mut out = Vec::new();
    for (i, t) in batches.iter().enumerate() {
        // The sink prunes on export: what is older than the store's span at the last export.
        if latest.duration_since(*t).unsigned_abs() >= keep {
            continue;
        }
        // Presence is judged on the clock the kubelets saw (before any stall shift).
        let seen = |b: Timestamp| b + stall >= since;
        let present = seen(*t) && (!is_rate || (i > 0 && seen(batches[i - 1])));
        if !present {
            continue;
        }
        let uptime = (t.as_millisecond() - h.started.as_millisecond()).max(0);
        if let Some(v) = metric_value(usage_at(*t + stall), metric, uptime) {
            out.push((*t, v));
        }
    }
    out
}

pub(super) fn node_series(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    node: &str,
    metric: &str,
    now: Timestamp,
) -> Vec<(Timestamp, i64)> {
    if !h.knows_node(node) {
        return Vec::new();
    }
    // A Ready node is scraped from heapster's first batch on.
    series(h, now, h.started, metric, |t| {
        node_usage(cluster, st, node, t)
    })
}

pub(super) fn pod_series(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    ns: &str,
    pod: &str,
    metric: &str,
    now: Timestamp,
) -> Vec<(Timestamp, i64)> {
    let pods = scraped_pods(cluster, st, h, Some(ns));
    let Some(p) = pods.iter().find(|p| p["metadata"]["name"] == pod) else {
        return Vec::new();
    };
    let since = pod_started(st, p).unwrap_or(now);
    series(h, now, since, metric, |t| pod_usage(cluster, st, p, t))
}

/// `exportTimestampedMetricValue`: `{"metrics": [...], "latestTimestamp": ...}`.
pub fn metric_result(points: &[(Timestamp, i64)]) -> Value {
    let latest = points
        .iter()
        .map(|(t, _)| *t)
        .max()
        .map(go_time_json)
        .unwrap_or_else(|| GO_ZERO_TIME.into());
    json!({
        // Values are uint64 upstream; a negative rate would wrap, as heapster#1193 shows.
        "metrics": points.iter().map(|(t, v)| json!({"timestamp": go_time_json(*t), "value": *v as u64})).collect::<Vec<_>>(),
        "latestTimestamp": latest,
    })
}

/// The latest point of every node series, as the InfluxDB sink wrote them (the same batches).
pub fn node_points(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    metric: &str,
    now: Timestamp,
) -> Vec<(String, Vec<(Timestamp, i64)>)> {
    h.scraped_nodes()
        .into_iter()
        .map(|n| (n.to_string(), node_series(cluster, st, h, n, metric, now)))
        .collect()
}

/// A series' points: when, and the value.
pub type Points = Vec<(Timestamp, i64)>;

/// Every pod series of `metric` in `namespace` (all when `None`), as the sink wrote them.
pub fn pod_points(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    namespace: Option<&str>,
    metric: &str,
    now: Timestamp,
) -> Vec<(Arc<Value>, Points)> {
    scraped_pods(cluster, st, h, namespace)
        .into_iter()
        .map(|p| {
            let since = pod_started(st, &p).unwrap_or(now);
            let points = series(h, now, since, metric, |t| pod_usage(cluster, st, &p, t));
            (p, points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::run::Clock;
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn rates_need_the_previous_batch() {
        let h = Heapster {
            namespace: "kube-system".into(),
            pod: "heapster-1".into(),
            started: t("2026-11-28T10:00:00Z"),
            clock: Clock {
                first: t("2026-11-28T10:00:10Z"),
                spacing: Duration::from_secs(10),
                export_delay: Duration::from_secs(5),
            },
            sink: None,
            sources: vec![],
            stalled_for: None,
        };
        let usage = |_| Usage {
            cpu_millicores: 7,
            memory_bytes: 9,
        };
        let now = t("2026-11-28T10:00:16Z");
        assert_eq!(series(&h, now, h.started, "memory/usage", usage).len(), 1);
        assert!(series(&h, now, h.started, "cpu/usage_rate", usage).is_empty());
        let later = t("2026-11-28T10:00:26Z");
        assert_eq!(
            series(&h, later, h.started, "cpu/usage_rate", usage),
            vec![(t("2026-11-28T10:00:20Z"), 7)]
        );
        // A pod that appeared after the first batch gets its first rate one batch later.
        let appeared = t("2026-11-28T10:00:12Z");
        assert!(series(&h, later, appeared, "cpu/usage_rate", usage).is_empty());
        assert_eq!(series(&h, later, appeared, "memory/usage", usage).len(), 1);
    }

    #[test]
    fn results_have_the_model_api_shape() {
        let empty = metric_result(&[]);
        assert_eq!(
            empty,
            json!({"metrics": [], "latestTimestamp": GO_ZERO_TIME})
        );
        let one = metric_result(&[(t("2026-11-28T10:00:10Z"), 250)]);
        assert_eq!(one["metrics"][0]["timestamp"], "2026-11-28T10:00:10Z");
        assert_eq!(one["latestTimestamp"], "2026-11-28T10:00:10Z");
    }
}
