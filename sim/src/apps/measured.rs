//! What the kubelets measure: each pod's and node's usage at a time. Heapster and
//! metrics-server read it, and every other view (InfluxDB, the dashboards, the scraper)
//! reads one of them, so they agree as they do on a real cluster.

use jiff::Timestamp;
use serde_json::Value;

use super::common::{App, key_of, pod_is_running};
use crate::cluster::{Cluster, State};
use crate::usage::{self, Usage};

/// Whether a pod runs the e2e resource-consumer.
pub fn is_consumer(pod: &Value) -> bool {
    crate::apps::common::container_of(pod, App::ResourceConsumer).is_some()
}

/// A pod's usage at one time: idle usage, or what a resource-consumer burns.
pub fn pod_usage(cluster: &Cluster, st: &State, pod: &Value, at: Timestamp) -> Usage {
    let faults = &cluster.config.faults;
    if faults.zero_metrics {
        return Usage::default();
    }
    if is_consumer(pod) {
        let from_cmd = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(usage::consumption_from_command)
            .fold(usage::Consumption::default(), |a, b| a + b);
        let from_api = st
            .pods
            .get(&key_of(pod))
            .map(|r| r.consumption)
            .unwrap_or_default();
        return usage::consumer_usage(from_cmd + from_api, at, faults.consumer_skew.unwrap_or(1.0));
    }
    usage::idle_pod_usage(pod["metadata"]["name"].as_str().unwrap_or_default())
}

/// What a node's kubelet measures: its own base usage and its running pods'.
pub fn node_usage(cluster: &Cluster, st: &State, node: &str, at: Timestamp) -> Usage {
    if cluster.config.faults.zero_metrics {
        return Usage::default();
    }
    st.store
        .iter("/pods", None)
        .filter(|p| pod_is_running(p) && p["spec"]["nodeName"] == node)
        .fold(usage::node_base_usage(node), |acc, p| {
            acc + pod_usage(cluster, st, p, at)
        })
}
