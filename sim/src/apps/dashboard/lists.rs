//! The node and pod lists: read as the logged-in user, with their non-critical errors and
//! the metrics the heapster client downloads and aggregates (D@v1.10.1 `resource/node/list.go`,
//! `resource/pod/list.go`, `resource/pod/metrics.go`, `integration/metric/`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use std::sync::Arc;

use serde_json::{Value, json};

use super::client::{METRICS, Provider, append_log, metric_get, unreachable};
use crate::apps::common::{Http, ServiceProxy};
use crate::cluster::{Cluster, State};
use crate::rbac::{self, Identity};

pub(super) struct Lists<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) pod: &'a Value,
    pub(super) container: &'a Value,
    pub(super) user: &'a Identity,
    pub(super) net: &'a dyn ServiceProxy,
    pub(super) now: Timestamp,
    /// Whether the metric manager has an active client.
    pub(super) metrics: bool,
}

/// One item's series of one metric, as the clients convert it. The default is the zero
/// `Metric` a v2.7.0 list aggregates for an item whose download failed or came back empty:
/// no data points, `metricPoints` a nil slice (JSON `null`).
#[derive(Debug, Clone, Default)]
struct ItemMetric {
    data_points: Vec<(i64, i64)>,
    metric_points: Option<Vec<Value>>,
}

impl Lists<'_> {
    fn log(&self, st: &mut State, line: &str) {
        append_log(st, self.pod, self.container, line);
    }

    /// A list call as the logged-in user; a refusal is the Status the API server sends,
    /// marshalled as a Go `*StatusError`.
    fn list(
        &self,
        st: &State,
        resource: &str,
        namespace: Option<&str>,
        filter: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, Value> {
        let req = rbac::Request {
            verb: "list",
            group: "",
            resource,
            subresource: None,
            namespace,
            name: None,
        };
        if !rbac::allowed(&st.store, self.user, &req) {
            return Err(json!({"ErrStatus": {"metadata": {}, "status": "Failure",
                "message": req.forbidden_message(self.user), "reason": "Forbidden",
                "details": {"kind": resource}, "code": 403}}));
        }
        Ok(st
            .store
            .list(&format!("/{resource}"), namespace)
            .into_iter()
            .filter(|o| filter(o))
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    /// `GET /api/v1/node`.
    pub(super) fn nodes(&self, st: &mut State) -> Http {
        if self.cluster.config.faults.dashboard_never_connects {
            return Http::go_error(500, &unreachable("/api/v1/nodes").text);
        }
        let (nodes, errors) = match self.list(st, "nodes", None, |_| true) {
            Ok(n) => (n, vec![]),
            Err(e) => (vec![], vec![e]),
        };
        let mut items = Vec::new();
        for node in &nodes {
            let name = node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // `getNodePods`: an error is only logged.
            let pods = match self.list(st, "pods", None, |p| {
                p["spec"]["nodeName"] == name.as_str()
                    && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            }) {
                Ok(p) => p,
                Err(e) => {
                    let line = format!(
                        "Couldn't get pods of {name} node: {}",
                        e["ErrStatus"]["message"].as_str().unwrap_or_default()
                    );
                    self.log(st, &line);
                    vec![]
                }
            };
            items.push(node_item(node, &pods));
        }
        let cumulative = self.cumulative(st, &nodes, |list, st, metric| {
            list.iter()
                .map(|n| {
                    let name = n["metadata"]["name"].as_str().unwrap_or_default();
                    let path = format!(
                        "{}/nodes/{name}/metrics/{metric}",
                        self.provider().data_prefix()
                    );
                    let one = self.download_one(st, &path);
                    match self.provider() {
                        // v2.7.0's `GetMetrics` skips a failed download (dashboard#4506).
                        Provider::Sidecar => Ok(one.unwrap_or_default()),
                        Provider::Heapster => one,
                    }
                })
                .collect()
        });
        Http::restful_json(
            200,
            &json!({"listMeta": {"totalItems": items.len()}, "nodes": items, "cumulativeMetrics": cumulative, "errors": errors}),
        )
    }

    /// `GET /api/v1/pod[/NS]`.
    pub(super) fn pods(&self, st: &mut State, namespace: Option<&str>) -> Http {
        if self.cluster.config.faults.dashboard_never_connects {
            return Http::go_error(500, &unreachable("/api/v1/pods").text);
        }
        self.log(st, "Getting list of all pods in the cluster");
        let mut errors = Vec::new();
        let pods = self
            .list(st, "pods", namespace, |_| true)
            .unwrap_or_else(|e| {
                errors.push(e);
                vec![]
            });
        let events = self
            .list(st, "events", namespace, |_| true)
            .unwrap_or_else(|e| {
                errors.push(e);
                vec![]
            });
        let cumulative = self.cumulative(st, &pods, |list, st, metric| {
            self.download_pods(st, list, metric)
        });
        self.log(st, "Getting pod metrics");
        let per_pod: BTreeMap<String, Value> = if self.metrics {
            let cpu = self.download_pods(st, &pods, METRICS[0]);
            let memory = self.download_pods(st, &pods, METRICS[1]);
            pods.iter()
                .enumerate()
                .map(|(i, p)| {
                    let name = p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    (
                        name,
                        pod_metrics(
                            cpu.as_ref().ok().and_then(|c| c.get(i)),
                            memory.as_ref().ok().and_then(|m| m.get(i)),
                        ),
                    )
                })
                .collect()
        } else {
            self.log(st, self.no_client());
            BTreeMap::new()
        };
        let items: Vec<Value> = pods
            .iter()
            .map(|p| {
                let name = p["metadata"]["name"].as_str().unwrap_or_default();
                pod_item(
                    p,
                    &events,
                    per_pod.get(name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        let count = |phase: &str| {
            pods.iter()
                .filter(|p| p["status"]["phase"] == phase)
                .count()
        };
        Http::restful_json(
            200,
            &json!({"listMeta": {"totalItems": items.len()}, "cumulativeMetrics": cumulative,
                    "status": {"running": count("Running"), "pending": count("Pending"), "failed": count("Failed"), "succeeded": count("Succeeded")},
                    "pods": items, "errors": errors}),
        )
    }

    /// `GetCumulativeMetrics` then `GetMetrics`: per metric, every item's series summed by
    /// time. On v1.10.1 any failed download empties the whole list's metrics; v2.7.0's
    /// downloads never fail as a whole (D@v2.7.0 `integration/metric/api/types.go`
    /// `GetMetrics`: "Do not fail when cannot resolve one of the metrics promises"), so its
    /// lists always carry both entries with whatever downloaded.
    fn cumulative(
        &self,
        st: &mut State,
        items: &[Value],
        download: impl Fn(&[Value], &mut State, &str) -> Result<Vec<ItemMetric>, String>,
    ) -> Vec<Value> {
        if !self.metrics {
            self.log(st, self.no_client());
            return vec![];
        }
        let mut out = Vec::new();
        for metric in METRICS {
            let Ok(per_item) = download(items, st, metric) else {
                return vec![];
            };
            out.push(aggregate(&per_item, metric));
        }
        out
    }

    fn provider(&self) -> Provider {
        Provider::of(self.container)
    }

    /// What the lists log without an active metric client (v2.7.0 wraps it as an
    /// internal error, dashboard#4658).
    fn no_client(&self) -> &'static str {
        match self.provider() {
            Provider::Heapster => "No metric client provided. Skipping metrics.",
            Provider::Sidecar => {
                "Internal error occurred: No metric client provided. Skipping metrics."
            }
        }
    }

    /// One node's series (`ithResourceDownload`): heapster's `metrics`, or the first of
    /// the sidecar's `items` (none: the zero `Metric`).
    fn download_one(&self, st: &mut State, path: &str) -> Result<ItemMetric, String> {
        let body =
            metric_get(self.cluster, st, self.pod, self.net, path, self.now).map_err(|e| e.text)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(match self.provider() {
            Provider::Heapster => item_metric(&v),
            Provider::Sidecar if v["items"].as_array().is_none_or(|i| i.is_empty()) => {
                ItemMetric::default()
            }
            Provider::Sidecar => sidecar_metric(&v["items"][0]),
        })
    }

    /// Pods' series, one `pod-list` request per namespace (`allInOneDownload`).
    fn download_pods(
        &self,
        st: &mut State,
        pods: &[Value],
        metric: &str,
    ) -> Result<Vec<ItemMetric>, String> {
        let mut by_ns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in pods.iter().enumerate() {
            let ns = p["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            by_ns.entry(ns).or_default().push(i);
        }
        let mut out = vec![ItemMetric::default(); pods.len()];
        for (ns, indexes) in by_ns {
            let names: Vec<&str> = indexes
                .iter()
                .map(|i| pods[*i]["metadata"]["name"].as_str().unwrap_or_default())
                .collect();
            let path = format!(
                "{}/namespaces/{ns}/pod-list/{}/metrics/{metric}",
                self.provider().data_prefix(),
                names.join(",")
            );
            let answer = metric_get(self.cluster, st, self.pod, self.net, &path, self.now)
                .map_err(|e| e.text)
                .and_then(|body| serde_json::from_str::<Value>(&body).map_err(|e| e.to_string()));
            let v = match (answer, self.provider()) {
                (Ok(v), _) => v,
                // v2.7.0: the namespace's pods keep the zero `Metric` (`GetMetrics` skips).
                (Err(_), Provider::Sidecar) => continue,
                (Err(e), Provider::Heapster) => return Err(e),
            };
            let results = v["items"].as_array().cloned().unwrap_or_default();
            if self.provider() == Provider::Sidecar {
                // `allInOneDownload`: items in any order, matched by `uids[0]`; a pod
                // without one has no metrics.
                if results.len() != indexes.len() {
                    let line = format!(
                        "received {} resources from sidecar instead of {}",
                        results.len(),
                        indexes.len()
                    );
                    self.log(st, &line);
                }
                for (i, name) in indexes.iter().zip(&names) {
                    if let Some(r) = results.iter().find(|r| r["uids"][0] == *name) {
                        out[*i] = sidecar_metric(r);
                    }
                }
                continue;
            }
            if results.len() != indexes.len() {
                return Err(format!(
                    "Received invalid number of resources from heapster. Expected {} received {}",
                    indexes.len(),
                    results.len()
                ));
            }
            for (i, r) in indexes.iter().zip(results) {
                out[*i] = item_metric(&r);
            }
        }
        Ok(out)
    }
}

/// `DataPointsFromMetricJSONFormat` and `toMetricPoints`: heapster's uint64 values become
/// int64 `y`s (negative ones clamped to 0), timestamps Unix seconds.
fn item_metric(result: &Value) -> ItemMetric {
    let points = result["metrics"].as_array().cloned().unwrap_or_default();
    let data_points = points
        .iter()
        .filter_map(|p| {
            let t: Timestamp = p["timestamp"].as_str()?.parse().ok()?;
            let y = p["value"].as_u64().map(|v| v as i64).unwrap_or(0).max(0);
            Some((t.as_second(), y))
        })
        .collect();
    ItemMetric {
        data_points,
        metric_points: Some(points),
    }
}

/// The sidecar's `SidecarMetric`: `metricPoints` of `{timestamp, value}` become data
/// points the same way (D@v2.7.0 `integration/metric/sidecar/client.go`).
fn sidecar_metric(result: &Value) -> ItemMetric {
    item_metric(&json!({"metrics": result["metricPoints"].as_array().cloned().unwrap_or_default()}))
}

/// `AggregateData` with `sum`: dataPoints summed per x; metricPoints only for one item.
fn aggregate(items: &[ItemMetric], metric: &str) -> Value {
    let mut sums: BTreeMap<i64, i64> = BTreeMap::new();
    for item in items {
        for (x, y) in &item.data_points {
            *sums.entry(*x).or_default() += y;
        }
    }
    let metric_points = match items {
        [one] => json!(one.metric_points),
        _ => json!([]),
    };
    json!({
        "dataPoints": sums.iter().map(|(x, y)| json!({"x": x, "y": y})).collect::<Vec<_>>(),
        "metricPoints": metric_points,
        "metricName": metric,
        "aggregation": "sum",
    })
}

/// `PodMetrics` of one pod: its latest value and history, or null without points.
fn pod_metrics(cpu: Option<&ItemMetric>, memory: Option<&ItemMetric>) -> Value {
    let points = |m: Option<&ItemMetric>| {
        m.and_then(|m| m.metric_points.clone())
            .filter(|p| !p.is_empty())
    };
    let latest =
        |m: Option<&ItemMetric>| points(m).and_then(|p| p.last().map(|p| p["value"].clone()));
    let history = |m: Option<&ItemMetric>| json!(points(m));
    json!({
        "cpuUsage": latest(cpu),
        "memoryUsage": latest(memory),
        "cpuUsageHistory": history(cpu),
        "memoryUsageHistory": history(memory),
    })
}

fn object_meta(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let mut out =
        json!({"name": m["name"], "creationTimestamp": m["creationTimestamp"], "uid": m["uid"]});
    if !m["namespace"].is_null() {
        out["namespace"] = m["namespace"].clone();
    }
    if m["labels"].is_object() {
        out["labels"] = m["labels"].clone();
    }
    out
}

fn node_item(node: &Value, pods: &[Value]) -> Value {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"].clone())
        .unwrap_or(json!("Unknown"));
    let capacity = node["status"]["capacity"]["pods"]
        .as_str()
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(110.0);
    json!({
        "objectMeta": object_meta(node),
        "typeMeta": {"kind": "node"},
        "ready": ready,
        "allocatedResources": {"allocatedPods": pods.len(), "podCapacity": capacity as i64,
                               "podFraction": pods.len() as f64 / capacity * 100.0},
    })
}

fn pod_item(pod: &Value, events: &[Value], metrics: Value) -> Value {
    let uid = &pod["metadata"]["uid"];
    let warnings: Vec<Value> = events
        .iter()
        .filter(|e| e["type"] == "Warning" && &e["involvedObject"]["uid"] == uid)
        .map(|e| json!({"objectMeta": object_meta(e), "reason": e["reason"], "message": e["message"], "type": "Warning"}))
        .collect();
    let restarts: i64 = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    json!({
        "objectMeta": object_meta(pod),
        "typeMeta": {"kind": "pod"},
        "podStatus": {"status": pod["status"]["phase"], "podPhase": pod["status"]["phase"],
                      "containerStates": pod["status"]["containerStatuses"].as_array().into_iter().flatten().map(|c| c["state"].clone()).collect::<Vec<_>>()},
        "restartCount": restarts,
        "metrics": metrics,
        "warnings": warnings,
        "nodeName": pod["spec"]["nodeName"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::common::AppRequest;

    /// A service proxy that refuses every request, as one whose backend went away.
    struct Refusing;

    impl ServiceProxy for Refusing {
        fn proxy(
            &self,
            _: &mut State,
            _: &Identity,
            _: &str,
            _: &str,
            _: &AppRequest,
            _: Timestamp,
        ) -> Http {
            Http::go_error(503, "no endpoints available")
        }
    }

    #[test]
    fn a_failed_download_empties_v1_lists_and_keeps_v2_lists_whole() {
        let cluster = crate::server::build(crate::cluster::SimConfig::new("l")).unwrap();
        let mut st = cluster.lock();
        for (image, entries) in [
            ("k8s.gcr.io/kubernetes-dashboard-amd64:v1.10.1", 0),
            ("kubernetesui/dashboard:v2.7.0", 2),
        ] {
            let container = json!({"name": "d", "image": image});
            let pod = json!({"metadata": {"name": "d", "namespace": "ui"},
                             "spec": {"containers": [container], "serviceAccountName": "d"}});
            let lists = Lists {
                cluster: &cluster,
                pod: &pod,
                container: &container,
                user: &Identity::Admin,
                net: &Refusing,
                now: Timestamp::now(),
                metrics: true,
            };
            for answer in [lists.nodes(&mut st), lists.pods(&mut st, None)] {
                let v: Value = serde_json::from_str(&answer.body).unwrap();
                let metrics = v["cumulativeMetrics"].as_array().unwrap();
                assert_eq!(metrics.len(), entries, "{image}: {v}");
                assert!(metrics.iter().all(|m| m["dataPoints"] == json!([])), "{v}");
            }
        }
    }

    fn item(points: &[(i64, u64)]) -> ItemMetric {
        item_metric(&json!({"metrics": points.iter().map(|(s, v)| json!({
            "timestamp": Timestamp::from_second(*s).unwrap().to_string(), "value": v})).collect::<Vec<_>>()}))
    }

    #[test]
    fn aggregation_sums_by_time_and_keeps_metric_points_for_one_item_only() {
        let a = item(&[(100, 10), (110, 20)]);
        let b = item(&[(110, 5)]);
        let two = aggregate(&[a.clone(), b], "cpu/usage_rate");
        assert_eq!(
            two["dataPoints"],
            json!([{"x": 100, "y": 10}, {"x": 110, "y": 25}])
        );
        assert_eq!(two["metricPoints"], json!([]));
        let one = aggregate(&[a], "cpu/usage_rate");
        assert_eq!(one["metricPoints"].as_array().unwrap().len(), 2);
        assert_eq!(one["aggregation"], "sum");
    }

    #[test]
    fn a_v2_item_without_data_aggregates_to_null_metric_points() {
        // D@v2.7.0 `common/aggregation.go`: one item, its nil `MetricPoints`; none, `[]`.
        let one = aggregate(&[ItemMetric::default()], "cpu/usage_rate");
        assert_eq!(one["metricPoints"], Value::Null);
        assert_eq!(one["dataPoints"], json!([]));
        assert_eq!(aggregate(&[], "memory/usage")["metricPoints"], json!([]));
        // A partial sum: the item that downloaded counts, the other adds nothing.
        let partial = aggregate(
            &[item(&[(100, 7)]), ItemMetric::default()],
            "cpu/usage_rate",
        );
        assert_eq!(partial["dataPoints"], json!([{"x": 100, "y": 7}]));
    }

    #[test]
    fn wrapped_heapster_values_are_clamped_like_the_dashboard() {
        // heapster#1193: a negative rate wrapped to a huge uint64.
        let m = item(&[(100, 18446744073709548330)]);
        assert_eq!(m.data_points, vec![(100, 0)]);
    }
}
