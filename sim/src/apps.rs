//! The applications behind the service proxy, emulated from upstream behaviour: heapster
//! (health and model API), InfluxDB 1.x, the heapster Grafana image, kubernetes-dashboard
//! v1.10.1 and the e2e resource-consumer. Each answers only through a Service with ready
//! endpoints, and each derives what it says from the cluster's state.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::cluster::{Cluster, State};
use crate::format_time;
use crate::metrics::{self, Consumption, Usage};
use crate::rbac::{self, Identity};
use crate::store::Key;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Heapster,
    InfluxDb,
    Grafana,
    Dashboard,
    ResourceConsumer,
    Other,
}

impl App {
    pub fn of_image(image: &str) -> App {
        let repo = image.split(':').next().unwrap_or(image);
        if repo.ends_with("/heapster-amd64") || repo.ends_with("/heapster") {
            App::Heapster
        } else if repo.contains("heapster-influxdb") {
            App::InfluxDb
        } else if repo.contains("heapster-grafana") {
            App::Grafana
        } else if repo.contains("kubernetes-dashboard") {
            App::Dashboard
        } else if repo.contains("resource-consumer") {
            App::ResourceConsumer
        } else {
            App::Other
        }
    }

    /// The port each upstream image listens on.
    pub fn port(self) -> Option<i64> {
        match self {
            App::Heapster => Some(8082),
            App::InfluxDb => Some(8086),
            App::Grafana => Some(3000),
            App::Dashboard => Some(8443),
            App::ResourceConsumer => Some(8080),
            App::Other => None,
        }
    }
}

/// An HTTP answer from an emulated app or from the API server's proxy.
#[derive(Debug, Clone)]
pub struct Http {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Http {
    pub fn json(status: u16, body: Value) -> Http {
        Http {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Http {
        Http {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// A request as it reaches an app behind the proxy.
pub struct AppRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a str,
}

impl AppRequest<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------
// Pods and containers as the apps see them
// ---------------------------------------------------------------------------

pub fn pod_is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

pub fn pod_is_running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
}

pub fn container_args(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    args.iter().rev().find_map(|a| a.strip_prefix(&prefix))
}

fn env_var(container: &Value, name: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// Go's `time.ParseDuration` for the simple forms manifests use (`10s`, `1m`, `1m30s`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    number.is_empty().then_some(Duration::from_secs(total))
}

fn pod_started(st: &State, pod: &Value) -> Option<Timestamp> {
    st.pods.get(&crate::cluster::object_key(pod))?.started
}

fn service_account_of(pod: &Value) -> Identity {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let sa = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    Identity::service_account(ns, sa)
}

pub fn node_ip(st: &State, node: &str) -> String {
    st.store
        .get(&Key::new("/nodes", "", node))
        .and_then(|n| {
            n["status"]["addresses"][0]["address"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub fn node_is_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

// ---------------------------------------------------------------------------
// Heapster
// ---------------------------------------------------------------------------

/// What heapster has scraped, derived from its flags, its RBAC and the nodes.
#[derive(Debug, Clone)]
pub struct Heapster {
    pub namespace: String,
    pub started: Timestamp,
    pub resolution: Duration,
    /// Why scraping fails, as heapster logs it (for one kubelet), if it does.
    pub scrape_error: Option<String>,
    pub first_batch: Option<Timestamp>,
    /// The InfluxDB service its sink writes to: `(namespace, name)`.
    pub sink: Option<(String, String)>,
    pub nodes: Vec<String>,
}

impl Heapster {
    pub fn has_batch(&self, now: Timestamp) -> bool {
        self.first_batch.is_some_and(|t| t <= now)
    }
}

/// Running heapster pods, each with its heapster container.
pub fn heapster_pods(st: &State) -> Vec<(Value, Value)> {
    st.store
        .iter("/pods", None)
        .filter(|p| pod_is_running(p))
        .filter_map(|pod| {
            let c = pod["spec"]["containers"]
                .as_array()?
                .iter()
                .find(|c| App::of_image(c["image"].as_str().unwrap_or_default()) == App::Heapster)?
                .clone();
            Some((pod.clone(), c))
        })
        .collect()
}

/// The heapster that serves: a ready one if there is one (the Service routes only to
/// ready pods), else the first running one.
pub fn heapster(cluster: &Cluster, st: &State, _now: Timestamp) -> Option<Heapster> {
    let pods = heapster_pods(st);
    let (pod, container) = pods
        .iter()
        .find(|(p, _)| pod_is_ready(p))
        .or(pods.first())?;
    heapster_of(cluster, st, pod, container)
}

/// What one heapster pod has scraped, from its own flags, its RBAC and the nodes.
pub fn heapster_of(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
) -> Option<Heapster> {
    let (pod, container) = (pod.clone(), container.clone());
    let started = pod_started(st, &pod)?;
    let args = container_args(&container);
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("kube-system")
        .to_string();
    let resolution = flag(&args, "metric_resolution")
        .and_then(parse_go_duration)
        .unwrap_or(Duration::from_secs(60));
    let ready_nodes: Vec<String> = st
        .store
        .list("/nodes", None)
        .iter()
        .filter(|n| node_is_ready(n))
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let first_ip = ready_nodes
        .first()
        .map(|n| node_ip(st, n))
        .unwrap_or_else(|| "172.18.0.2".into());
    let scrape_error = scrape_error(cluster, st, &pod, &args, &first_ip);
    let faults = &cluster.config.faults;
    let nodes = ready_nodes
        .into_iter()
        .filter(|n| Some(n) != faults.node_missing_from_heapster.as_ref())
        .collect();
    let first_batch = match scrape_error {
        None => Some(started + cluster.config.timing.first_batch),
        Some(_) => None,
    };
    let sink = flag(&args, "sink").and_then(|s| influx_service_of_sink(s, &namespace));
    Some(Heapster {
        namespace,
        started,
        resolution,
        scrape_error,
        first_batch,
        sink,
        nodes,
    })
}

/// Why heapster cannot scrape kubelets on a current kind cluster, in heapster's words.
fn scrape_error(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    args: &[String],
    ip: &str,
) -> Option<String> {
    let Some(source) = flag(args, "source") else {
        return Some("Wrong number of sources specified".into());
    };
    let options: Vec<(String, String)> = source
        .split_once('?')
        .map(|(_, q)| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let opt = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let port = opt("kubeletPort").unwrap_or("10255");
    let https = opt("kubeletHttps") == Some("true");
    let insecure = opt("insecure") == Some("true");
    let kind = if source.starts_with("kubernetes.summary_api") {
        "kubelet_summary"
    } else {
        "kubelet"
    };
    let url = format!(
        "{}://{ip}:{port}/stats/summary/",
        if https { "https" } else { "http" }
    );
    let who = service_account_of(pod);
    for resource in ["nodes", "pods", "namespaces"] {
        let req = rbac::Request {
            verb: "list",
            group: "",
            resource,
            subresource: None,
            namespace: None,
            name: None,
        };
        if !rbac::allowed(&st.store, &who, &req) {
            let kind_name = match resource {
                "nodes" => "Node",
                "pods" => "Pod",
                _ => "Namespace",
            };
            return Some(format!(
                "Failed to list *v1.{kind_name}: {}",
                req.forbidden_message(&who)
            ));
        }
    }
    // The kubelet read-only port is closed on current clusters (kind included).
    let failure = if port != "10250" {
        format!("Get {url}: dial tcp {ip}:{port}: connect: connection refused")
    } else if !https {
        "request failed - \"400 Bad Request\", response: \"Client sent an HTTP request to an HTTPS server.\\n\"".to_string()
    } else if !insecure {
        format!("Get {url}: x509: certificate signed by unknown authority")
    } else {
        let stats = rbac::Request {
            verb: "get",
            group: "",
            resource: "nodes",
            subresource: Some("stats"),
            namespace: None,
            name: None,
        };
        if rbac::allowed(&st.store, &who, &stats) {
            return None;
        }
        let (ns, name) = match &who {
            Identity::ServiceAccount { namespace, name } => (namespace.clone(), name.clone()),
            Identity::Admin => unreachable!("pods run as service accounts"),
        };
        format!(
            "request failed - \"403 Forbidden\", response: \"Forbidden (user=system:serviceaccount:{ns}:{name}, verb=get, resource=nodes, subresource=stats)\""
        )
    };
    let _ = cluster;
    Some(format!(
        "Error in scraping containers from {kind}:{ip}:{port}: {failure}"
    ))
}

/// `influxdb:http://monitoring-influxdb.kube-system.svc:8086` -> `(kube-system, monitoring-influxdb)`.
fn influx_service_of_sink(sink: &str, default_ns: &str) -> Option<(String, String)> {
    let url = sink.strip_prefix("influxdb:")?;
    let host = url.split("://").nth(1)?.split(['/', ':', '?']).next()?;
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let ns = labels.next().unwrap_or(default_ns).to_string();
    Some((ns, name))
}

/// Every pod heapster reports on: running pods on the nodes it scrapes.
fn scraped_pods(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    namespace: Option<&str>,
) -> Vec<Value> {
    if cluster.config.faults.pods_without_metrics {
        return Vec::new();
    }
    st.store
        .list("/pods", namespace)
        .into_iter()
        .filter(pod_is_running)
        .filter(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| h.nodes.iter().any(|x| x == n))
        })
        .filter(|p| !(cluster.config.faults.consumer_without_metrics && is_consumer(p)))
        .collect()
}

fn is_consumer(pod: &Value) -> bool {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| App::of_image(c["image"].as_str().unwrap_or_default()) == App::ResourceConsumer)
}

/// A pod's usage at one time: idle usage, or what a resource-consumer was told to burn.
pub fn pod_usage(cluster: &Cluster, st: &State, pod: &Value, at: Timestamp) -> Usage {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let faults = &cluster.config.faults;
    if faults.zero_metrics {
        return Usage::default();
    }
    if is_consumer(pod) {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let from_cmd = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(metrics::consumption_from_command)
            .fold(Consumption::default(), |a, b| Consumption {
                millicores: a.millicores + b.millicores,
                megabytes: a.megabytes + b.megabytes,
            });
        let from_api = st
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .map(|r| r.consumption)
            .unwrap_or_default();
        let total = Consumption {
            millicores: from_cmd.millicores + from_api.millicores,
            megabytes: from_cmd.megabytes + from_api.megabytes,
        };
        return metrics::consumer_usage(total, at, faults.consumer_skew.unwrap_or(1.0));
    }
    metrics::idle_pod_usage(name)
}

pub fn node_usage(cluster: &Cluster, st: &State, node: &str, at: Timestamp) -> Usage {
    if cluster.config.faults.zero_metrics {
        return Usage::default();
    }
    st.store
        .iter("/pods", None)
        .filter(|p| pod_is_running(p) && p["spec"]["nodeName"] == node)
        .fold(metrics::node_base_usage(node), |acc, p| {
            acc + pod_usage(cluster, st, p, at)
        })
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

pub const METRIC_NAMES: &[&str] = &[
    "cpu/usage",
    "cpu/usage_rate",
    "memory/usage",
    "memory/working_set",
    "network/rx_rate",
    "network/tx_rate",
    "uptime",
];

/// Points for one series as heapster's model holds them.
pub fn series(
    cluster: &Cluster,
    h: &Heapster,
    now: Timestamp,
    usage_at: impl Fn(Timestamp) -> Usage,
    metric: &str,
) -> Vec<(Timestamp, i64)> {
    let Some(first) = h.first_batch else {
        return Vec::new();
    };
    let offset = if cluster.config.faults.stale_metrics {
        Duration::from_secs(40 * 60)
    } else {
        Duration::ZERO
    };
    metrics::scrape_times(first, now, h.resolution, offset)
        .into_iter()
        .filter_map(|t| {
            let uptime = (t.as_millisecond() - h.started.as_millisecond()).max(0);
            metric_value(usage_at(t), metric, uptime).map(|v| (t, v))
        })
        .collect()
}

fn metric_result(points: &[(Timestamp, i64)]) -> Value {
    let latest = points
        .last()
        .map(|(t, _)| format_time(*t))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    json!({
        "metrics": points.iter().map(|(t, v)| json!({"timestamp": format_time(*t), "value": v})).collect::<Vec<_>>(),
        "latestTimestamp": latest,
    })
}

fn heapster_http(
    cluster: &Cluster,
    st: &State,
    req: &AppRequest,
    now: Timestamp,
    pod: &Value,
    container: &Value,
) -> Http {
    let Some(h) = heapster_of(cluster, st, pod, container) else {
        return Http::text(503, "heapster is not running");
    };
    let has_batch = h.has_batch(now);
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["healthz"] if has_batch => Http::text(200, "ok"),
        // The healthz body heapster's health checker writes (quoted by the dashboard's log).
        ["healthz"] => Http::text(
            500,
            "[-]healthz failed: could not get the latest data batch\nhealthz check failed",
        ),
        ["api", "v1", "model", "nodes"] => {
            Http::json(200, json!(if has_batch { h.nodes.clone() } else { vec![] }))
        }
        ["api", "v1", "model", "nodes", node, "metrics"] => {
            let known = has_batch && h.nodes.iter().any(|n| n == node);
            Http::json(
                200,
                json!(if known { METRIC_NAMES.to_vec() } else { vec![] }),
            )
        }
        ["api", "v1", "model", "nodes", node, "metrics", m1, m2] => {
            let metric = format!("{m1}/{m2}");
            let points = if has_batch && h.nodes.iter().any(|n| n == node) {
                series(
                    cluster,
                    &h,
                    now,
                    |t| node_usage(cluster, st, node, t),
                    &metric,
                )
            } else {
                Vec::new() // upstream answers an empty result for an unknown node
            };
            Http::json(200, metric_result(&points))
        }
        ["api", "v1", "model", "namespaces", ns, "pods"] => {
            let names: Vec<Value> = if has_batch {
                scraped_pods(cluster, st, &h, Some(ns))
                    .iter()
                    .map(|p| p["metadata"]["name"].clone())
                    .collect()
            } else {
                vec![]
            };
            Http::json(200, json!(names))
        }
        [
            "api",
            "v1",
            "model",
            "namespaces",
            ns,
            "pods",
            pod,
            "metrics",
            m1,
            m2,
        ]
        | [
            "api",
            "v1",
            "model",
            "namespaces",
            ns,
            "pods",
            pod,
            "containers",
            _,
            "metrics",
            m1,
            m2,
        ] => Http::json(
            200,
            pod_metric(cluster, st, &h, now, ns, pod, &format!("{m1}/{m2}")),
        ),
        [
            "api",
            "v1",
            "model",
            "namespaces",
            ns,
            "pod-list",
            list,
            "metrics",
            m1,
            m2,
        ] => {
            let metric = format!("{m1}/{m2}");
            let items: Vec<Value> = list
                .split(',')
                .map(|pod| pod_metric(cluster, st, &h, now, ns, pod, &metric))
                .collect();
            Http::json(200, json!({"items": items}))
        }
        _ => Http::text(404, "404 page not found\n"),
    }
}

fn pod_metric(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    now: Timestamp,
    ns: &str,
    pod: &str,
    metric: &str,
) -> Value {
    if !h.has_batch(now) {
        return metric_result(&[]);
    }
    let pods = scraped_pods(cluster, st, h, Some(ns));
    let points = match pods.iter().find(|p| p["metadata"]["name"] == pod) {
        Some(p) => series(cluster, h, now, |t| pod_usage(cluster, st, p, t), metric),
        None => Vec::new(),
    };
    metric_result(&points)
}

// ---------------------------------------------------------------------------
// InfluxDB 1.x
// ---------------------------------------------------------------------------

/// Whether heapster's sink has written database `k8s` to this InfluxDB.
fn influx_has_k8s(cluster: &Cluster, st: &State, now: Timestamp) -> Option<Heapster> {
    let h = heapster(cluster, st, now)?;
    let (ns, name) = h.sink.clone()?;
    let svc = st.store.get(&Key::new("/services", &ns, &name))?;
    let backed = ready_backends(st, svc)
        .iter()
        .any(|(_, c)| App::of_image(c["image"].as_str().unwrap_or_default()) == App::InfluxDb);
    (backed && h.has_batch(now)).then_some(h)
}

fn influx_http(
    cluster: &Cluster,
    st: &State,
    req: &AppRequest,
    now: Timestamp,
    version: &str,
) -> Http {
    match req.path.trim_end_matches('/') {
        "/ping" => Http {
            status: 204,
            content_type: "text/plain",
            body: String::new(),
        },
        "/query" => {
            let q = req.query("q").unwrap_or_default().trim().to_string();
            let db = req.query("db").unwrap_or_default();
            let written = influx_has_k8s(cluster, st, now);
            let result = influx_query(cluster, st, now, &q, db, written.as_ref());
            Http::json(200, json!({"results": [result]}))
        }
        _ => Http::text(404, format!("404 page not found (InfluxDB {version})\n")),
    }
}

/// The subset of InfluxQL the checks send: `SHOW DATABASES`, `SHOW MEASUREMENTS`, and
/// `SELECT last("value") FROM "<metric>" WHERE "type" = '<type>' [AND ...] GROUP BY "<tag>"`.
fn influx_query(
    cluster: &Cluster,
    st: &State,
    now: Timestamp,
    q: &str,
    db: &str,
    written: Option<&Heapster>,
) -> Value {
    let upper = q.to_uppercase();
    if upper == "SHOW DATABASES" {
        let mut dbs = vec![json!(["_internal"])];
        if written.is_some() {
            dbs.push(json!(["k8s"]));
        }
        return json!({"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": dbs}]});
    }
    if db != "k8s" || written.is_none() {
        return json!({"statement_id": 0, "error": format!("database not found: {db}")});
    }
    let h = written.expect("checked above");
    if upper == "SHOW MEASUREMENTS" {
        let values: Vec<Value> = METRIC_NAMES.iter().map(|m| json!([m])).collect();
        return json!({"statement_id": 0, "series": [{"name": "measurements", "columns": ["name"], "values": values}]});
    }
    let Some(parsed) = SelectLast::parse(q) else {
        return json!({"statement_id": 0, "error": format!("error parsing query: {q}")});
    };
    let mut series_out = Vec::new();
    match parsed.kind.as_str() {
        "node" => {
            for node in &h.nodes {
                let points = series(
                    cluster,
                    h,
                    now,
                    |t| node_usage(cluster, st, node, t),
                    &parsed.measurement,
                );
                if let Some((t, v)) = points.last() {
                    series_out.push(json!({"name": parsed.measurement, "tags": {"nodename": node}, "columns": ["time", "last"], "values": [[format_time(*t), v]]}));
                }
            }
        }
        "pod" => {
            for pod in scraped_pods(cluster, st, h, parsed.namespace.as_deref()) {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                if parsed.pod.as_deref().is_some_and(|p| p != name) {
                    continue;
                }
                let points = series(
                    cluster,
                    h,
                    now,
                    |t| pod_usage(cluster, st, &pod, t),
                    &parsed.measurement,
                );
                if let Some((t, v)) = points.last() {
                    let tags =
                        json!({"pod_name": name, "namespace_name": pod["metadata"]["namespace"]});
                    series_out.push(json!({"name": parsed.measurement, "tags": tags, "columns": ["time", "last"], "values": [[format_time(*t), v]]}));
                }
            }
        }
        _ => {}
    }
    if series_out.is_empty() {
        json!({"statement_id": 0})
    } else {
        json!({"statement_id": 0, "series": series_out})
    }
}

struct SelectLast {
    measurement: String,
    kind: String,
    namespace: Option<String>,
    pod: Option<String>,
}

impl SelectLast {
    fn parse(q: &str) -> Option<SelectLast> {
        let after_from = q.split_once(" FROM ")?.1;
        let measurement = after_from
            .trim_start()
            .strip_prefix('"')?
            .split('"')
            .next()?
            .to_string();
        let tag = |name: &str| {
            let pat = format!("\"{name}\" = '");
            q.split_once(&pat)
                .and_then(|(_, rest)| rest.split('\'').next())
                .map(str::to_string)
        };
        Some(SelectLast {
            measurement,
            kind: tag("type")?,
            namespace: tag("namespace_name"),
            pod: tag("pod_name"),
        })
    }
}

// ---------------------------------------------------------------------------
// Grafana (heapster-grafana image)
// ---------------------------------------------------------------------------

fn grafana_http(container: &Value, req: &AppRequest, version: &str) -> Http {
    match req.path.trim_end_matches('/') {
        "/api/health" => Http::json(
            200,
            json!({"commit": "unknown", "database": "ok", "version": version}),
        ),
        "/api/datasources" => {
            // The image's start script registers InfluxDB from these variables (defaults
            // as in heapster's grafana/run.sh, recalled, not re-verified here).
            let url = env_var(container, "INFLUXDB_SERVICE_URL").unwrap_or_else(|| {
                let host = env_var(container, "INFLUXDB_HOST")
                    .unwrap_or_else(|| "monitoring-influxdb".into());
                let port = env_var(container, "INFLUXDB_PORT").unwrap_or_else(|| "8086".into());
                format!("http://{host}:{port}")
            });
            Http::json(
                200,
                json!([{"id": 1, "orgId": 1, "name": "influxdb-datasource", "type": "influxdb", "access": "proxy",
                        "url": url, "database": "k8s", "user": "root", "basicAuth": false, "isDefault": true}]),
            )
        }
        _ => Http::text(404, "Not found\n"),
    }
}

// ---------------------------------------------------------------------------
// kubernetes-dashboard v1.10.1
// ---------------------------------------------------------------------------

const DASHBOARD_NS_HEAPSTER: &str = "kube-system";

/// The dashboard's heapster health check, done with its own service account through the
/// API server's service proxy, as client-go renders the error (`(get services heapster)`).
pub fn dashboard_health_check(
    cluster: &Cluster,
    st: &State,
    dashboard_pod: &Value,
    now: Timestamp,
) -> Result<(), String> {
    if cluster.config.faults.dashboard_never_connects {
        return Err("an error on the server (\"Error: 'dial tcp 10.96.0.99:8082: getsockopt: connection timed out'\\nTrying to reach: 'http://10.96.0.99:8082/healthz'\") has prevented the request from succeeding (get services heapster)".into());
    }
    let who = service_account_of(dashboard_pod);
    let req = AppRequest {
        method: "GET",
        path: "/healthz",
        query: &[],
        headers: &[],
        body: "",
    };
    let answer = service_proxy(
        cluster,
        st,
        &who,
        DASHBOARD_NS_HEAPSTER,
        "heapster",
        &req,
        now,
    );
    if answer.status == 200 {
        return Ok(());
    }
    // client-go's DoRaw drops the body of most errors and names the status generically.
    let reason = match answer.status {
        404 => "the server could not find the requested resource".to_string(),
        403 => "the server does not allow access to the requested resource".to_string(),
        503 => "the server is currently unable to handle the request".to_string(),
        _ => format!(
            "an error on the server (\"{}\") has prevented the request from succeeding",
            answer.body.replace('\n', "\\n")
        ),
    };
    Err(format!("{reason} (get services heapster)"))
}

fn dashboard_http(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    let args = container_args(container);
    let skip_login = args
        .iter()
        .any(|a| a == "--enable-skip-login" || a == "--enable-skip-login=true");
    let path = req.path.trim_end_matches('/');
    match (req.method, path) {
        ("GET", "/api/v1/csrftoken/login") => {
            return Http::json(200, json!({"token": crate::random_token("csrf")}));
        }
        ("POST", "/api/v1/login") => {
            if !req
                .header("X-CSRF-TOKEN")
                .is_some_and(|t| t.starts_with("csrf-"))
            {
                return Http::text(401, "MSG_CSRF_VALIDATION_FAILED_ERROR\n");
            }
            let token = serde_json::from_str::<Value>(req.body)
                .ok()
                .and_then(|b| b["token"].as_str().map(str::to_string));
            return match token.and_then(|t| st.sa_tokens.get(&t).cloned()) {
                Some(who) => {
                    let jwe = crate::random_token("jwe");
                    st.dashboard_sessions.insert(jwe.clone(), who);
                    Http::json(200, json!({"jweToken": jwe, "errors": []}))
                }
                None => Http::json(
                    200,
                    json!({"jweToken": "", "errors": [{"ErrStatus": {"status": "Failure", "message": "MSG_LOGIN_UNAUTHORIZED_ERROR", "reason": "Unauthorized", "code": 401}}]}),
                ),
            };
        }
        _ => {}
    }
    // After the CVE-2018-18264 fix: no login and no skip-login -> 401 over HTTPS.
    let who = match req
        .header("jweToken")
        .and_then(|t| st.dashboard_sessions.get(t).cloned())
    {
        Some(who) => who,
        None if skip_login => service_account_of(pod),
        None => return Http::text(401, "MSG_LOGIN_UNAUTHORIZED_ERROR\n"),
    };
    let key = crate::cluster::object_key(pod);
    let runtime = st.dashboards.get(&key).cloned().unwrap_or_default();
    let connected = runtime.connected;
    if path == "/api/v1/integration/heapster/state" {
        let error = runtime
            .last_error
            .as_ref()
            .map(|e| json!({"ErrStatus": {"message": e, "code": 500}}));
        return Http::json(
            200,
            json!({"connected": connected, "lastChecked": runtime.last_checked.map(format_time), "error": error}),
        );
    }
    let (resource, ns) = match path.strip_prefix("/api/v1/") {
        Some("node") => ("nodes", None),
        Some(rest) if rest.starts_with("pod/") => ("pods", rest.strip_prefix("pod/")),
        Some("pod") => ("pods", None),
        _ => return Http::text(404, "404 page not found\n"),
    };
    let list_req = rbac::Request {
        verb: "list",
        group: "",
        resource,
        subresource: None,
        namespace: ns,
        name: None,
    };
    // The dashboard answers 200 and reports the refusal in `errors` (non-critical 401/403).
    if !rbac::allowed(&st.store, &who, &list_req) {
        let err = json!({"ErrStatus": {"metadata": {}, "status": "Failure", "message": list_req.forbidden_message(&who), "reason": "Forbidden", "details": {"kind": resource}, "code": 403}});
        let list_field = if resource == "nodes" { "nodes" } else { "pods" };
        return Http::json(
            200,
            json!({"listMeta": {"totalItems": 0}, list_field: [], "cumulativeMetrics": [], "errors": [err]}),
        );
    }
    let mut heapster_view = connected.then(|| heapster(cluster, st, now)).flatten();
    if heapster_view.as_ref().is_some_and(|h| !h.has_batch(now)) {
        heapster_view = None;
    }
    if heapster_view.is_none() {
        append_log(
            st,
            &key.0,
            &key.1,
            container,
            "No metric client provided. Skipping metrics.",
        );
    }
    let objects = st.store.list(
        if resource == "nodes" {
            "/nodes"
        } else {
            "/pods"
        },
        ns,
    );
    let cumulative = |name_usage: &dyn Fn(&Value, Timestamp) -> Usage| -> Vec<Value> {
        let Some(h) = heapster_view.as_ref() else {
            return vec![];
        };
        ["cpu/usage_rate", "memory/usage"]
            .iter()
            .map(|metric| {
                let times = metrics::scrape_times(h.first_batch.unwrap_or(now), now, h.resolution, stale_offset(cluster));
                let points: Vec<(Timestamp, i64)> = times
                    .into_iter()
                    .map(|t| {
                        let total = objects.iter().fold(Usage::default(), |acc, o| acc + name_usage(o, t));
                        (t, metric_value(total, metric, 0).unwrap_or(0))
                    })
                    .collect();
                json!({
                    "dataPoints": points.iter().map(|(t, v)| json!({"x": t.as_second(), "y": v})).collect::<Vec<_>>(),
                    "metricPoints": points.iter().map(|(t, v)| json!({"timestamp": format_time(*t), "value": v})).collect::<Vec<_>>(),
                    "metricName": metric,
                    "aggregation": "sum",
                })
            })
            .collect()
    };
    if resource == "nodes" {
        let nodes_on = |o: &Value, t| match heapster_view.as_ref() {
            Some(h) if h.nodes.iter().any(|n| o["metadata"]["name"] == n.as_str()) => node_usage(
                cluster,
                st,
                o["metadata"]["name"].as_str().unwrap_or_default(),
                t,
            ),
            _ => Usage::default(),
        };
        let items: Vec<Value> = objects
            .iter()
            .map(|n| json!({"objectMeta": {"name": n["metadata"]["name"]}, "typeMeta": {"kind": "node"}, "ready": if node_is_ready(n) { "True" } else { "False" }}))
            .collect();
        Http::json(
            200,
            json!({"listMeta": {"totalItems": items.len()}, "nodes": items, "cumulativeMetrics": cumulative(&nodes_on), "errors": []}),
        )
    } else {
        let pods_on = |o: &Value, t| {
            if cluster.config.faults.pods_without_metrics || !pod_is_running(o) {
                Usage::default()
            } else {
                pod_usage(cluster, st, o, t)
            }
        };
        let items: Vec<Value> = objects
            .iter()
            .map(|p| json!({"objectMeta": {"name": p["metadata"]["name"], "namespace": p["metadata"]["namespace"]}, "typeMeta": {"kind": "pod"}, "podStatus": {"status": p["status"]["phase"]}}))
            .collect();
        Http::json(
            200,
            json!({"listMeta": {"totalItems": items.len()}, "pods": items, "cumulativeMetrics": cumulative(&pods_on), "errors": []}),
        )
    }
}

fn stale_offset(cluster: &Cluster) -> Duration {
    if cluster.config.faults.stale_metrics {
        Duration::from_secs(40 * 60)
    } else {
        Duration::ZERO
    }
}

/// Append a line to a container's log with Go's `log` prefix.
pub fn append_log(st: &mut State, ns: &str, pod: &str, container: &Value, line: &str) {
    let name = container["name"].as_str().unwrap_or_default().to_string();
    let stamp = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%Y/%m/%d %H:%M:%S")
        .to_string();
    st.logs
        .entry((ns.to_string(), pod.to_string(), name))
        .or_default()
        .current
        .push(format!("{stamp} {line}"));
}

// ---------------------------------------------------------------------------
// resource-consumer
// ---------------------------------------------------------------------------

fn consumer_http(st: &mut State, pod: &Value, req: &AppRequest) -> Http {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(req.body).unwrap_or_default();
    let field = |name: &str| {
        req.query(name)
            .map(str::to_string)
            .or_else(|| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    };
    let key = crate::cluster::object_key(pod);
    let Some(runtime) = st.pods.get_mut(&key) else {
        return Http::text(503, "pod not running");
    };
    match (req.method, req.path) {
        ("POST", "/ConsumeCPU") => match field("millicores").and_then(|v| v.parse::<i64>().ok()) {
            Some(m) => {
                runtime.consumption.millicores += m;
                Http::text(200, "ConsumeCPU\n")
            }
            None => Http::text(400, "Incorrect parameters\n"),
        },
        ("POST", "/ConsumeMem") => match field("megabytes").and_then(|v| v.parse::<i64>().ok()) {
            Some(m) => {
                runtime.consumption.megabytes += m;
                Http::text(200, "ConsumeMem\n")
            }
            None => Http::text(400, "Incorrect parameters\n"),
        },
        _ => Http::text(404, "404 page not found\n"),
    }
}

// ---------------------------------------------------------------------------
// The API server's service proxy
// ---------------------------------------------------------------------------

/// Ready pods selected by a Service, with the container that serves its target port.
pub fn ready_backends(st: &State, svc: &Value) -> Vec<(Value, Value)> {
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
        .filter(pod_is_ready)
        .filter_map(|p| {
            let c = p["spec"]["containers"].as_array()?.first()?.clone();
            Some((p, c))
        })
        .collect()
}

/// `[scheme:]name[:port]` as the proxy path names a service.
pub fn parse_service_ref(reference: &str) -> (Option<&str>, &str, Option<&str>) {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.as_slice() {
        [name] => (None, name, None),
        [scheme @ ("http" | "https"), name] => (Some(scheme), name, None),
        [scheme @ ("http" | "https"), name, port] => {
            (Some(scheme), name, (!port.is_empty()).then_some(*port))
        }
        [name, port] => (None, name, Some(port)),
        _ => (None, reference, None),
    }
}

pub fn service_proxy(
    cluster: &Cluster,
    st: &State,
    who: &Identity,
    ns: &str,
    reference: &str,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    service_proxy_mut(
        cluster,
        &mut StateRef::Shared(st),
        who,
        ns,
        reference,
        req,
        now,
    )
}

/// Either a shared or an exclusive borrow of the state: apps that change state (logins,
/// consumption) need the latter.
pub enum StateRef<'a> {
    Shared(&'a State),
    Exclusive(&'a mut State),
}

impl StateRef<'_> {
    fn get(&self) -> &State {
        match self {
            StateRef::Shared(s) => s,
            StateRef::Exclusive(s) => s,
        }
    }
}

pub fn service_proxy_mut(
    cluster: &Cluster,
    st: &mut StateRef,
    who: &Identity,
    ns: &str,
    reference: &str,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    let (scheme, name, port) = parse_service_ref(reference);
    let verb = if req.method == "GET" { "get" } else { "create" };
    let access = rbac::Request {
        verb,
        group: "",
        resource: "services",
        subresource: Some("proxy"),
        namespace: Some(ns),
        name: Some(reference),
    };
    let by_name = rbac::Request {
        name: Some(name),
        ..access.clone()
    };
    if !rbac::allowed(&st.get().store, who, &access)
        && !rbac::allowed(&st.get().store, who, &by_name)
    {
        return status(403, "Forbidden", &by_name.forbidden_message(who));
    }
    let Some(svc) = st
        .get()
        .store
        .get(&Key::new("/services", ns, name))
        .cloned()
    else {
        return status(404, "NotFound", &format!("services \"{name}\" not found"));
    };
    let backends = ready_backends(st.get(), &svc);
    let Some((pod, container)) = backends.first().cloned() else {
        return status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{name}\""),
        );
    };
    let app = App::of_image(container["image"].as_str().unwrap_or_default());
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let svc_port = match port {
        None => ports.first().cloned(),
        Some(p) => ports
            .iter()
            .find(|sp| sp["name"] == p || sp["port"].as_i64().is_some_and(|n| n.to_string() == p))
            .cloned(),
    };
    let Some(svc_port) = svc_port else {
        return status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{reference}\""),
        );
    };
    let target = svc_port["targetPort"]
        .as_i64()
        .or_else(|| svc_port["port"].as_i64());
    let pod_ip = st
        .get()
        .pods
        .get(&(
            ns.to_string(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
        .map(|r| r.ip.clone())
        .unwrap_or_default();
    if target.is_none() || target != app.port() {
        let t = target.map(|t| t.to_string()).unwrap_or_default();
        return status(
            503,
            "ServiceUnavailable",
            &format!(
                "error trying to reach service: dial tcp {pod_ip}:{t}: connect: connection refused"
            ),
        );
    }
    // The dashboard serves HTTPS only (--auto-generate-certificates).
    let tls_app = app == App::Dashboard;
    if tls_app && scheme != Some("https") {
        return Http::text(400, "Client sent an HTTP request to an HTTPS server.\n");
    }
    let version = container["image"]
        .as_str()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_string();
    match app {
        App::Heapster => heapster_http(cluster, st.get(), req, now, &pod, &container),
        App::InfluxDb => influx_http(cluster, st.get(), req, now, &version),
        App::Grafana => grafana_http(&container, req, &version),
        App::Dashboard | App::ResourceConsumer => match st {
            StateRef::Exclusive(state) if app == App::Dashboard => {
                dashboard_http(cluster, state, &pod, &container, req, now)
            }
            StateRef::Exclusive(state) => consumer_http(state, &pod, req),
            StateRef::Shared(_) => Http::text(503, "not reachable from here"),
        },
        App::Other => status(
            503,
            "ServiceUnavailable",
            &format!(
                "error trying to reach service: dial tcp {pod_ip}:{}: connect: connection refused",
                target.unwrap_or(0)
            ),
        ),
    }
}

/// A `Status` object as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str) -> Http {
    Http::json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_are_recognised_by_image() {
        assert_eq!(
            App::of_image("registry.k8s.io/heapster-amd64:v1.5.4"),
            App::Heapster
        );
        assert_eq!(
            App::of_image("registry.k8s.io/heapster-influxdb-amd64:v1.5.2"),
            App::InfluxDb
        );
        assert_eq!(
            App::of_image("registry.k8s.io/heapster-grafana-amd64:v5.0.4"),
            App::Grafana
        );
        assert_eq!(
            App::of_image("registry.k8s.io/kubernetes-dashboard-amd64:v1.10.1"),
            App::Dashboard
        );
        assert_eq!(
            App::of_image("registry.k8s.io/coredns/coredns:v1.12.1"),
            App::Other
        );
    }

    #[test]
    fn service_refs_parse_like_the_proxy() {
        assert_eq!(parse_service_ref("heapster"), (None, "heapster", None));
        assert_eq!(
            parse_service_ref("http:heapster:"),
            (Some("http"), "heapster", None)
        );
        assert_eq!(
            parse_service_ref("https:kubernetes-dashboard:"),
            (Some("https"), "kubernetes-dashboard", None)
        );
        assert_eq!(
            parse_service_ref("heapster:80"),
            (None, "heapster", Some("80"))
        );
    }

    #[test]
    fn sink_names_the_influx_service() {
        assert_eq!(
            influx_service_of_sink(
                "influxdb:http://monitoring-influxdb.kube-system.svc:8086",
                "x"
            ),
            Some(("kube-system".into(), "monitoring-influxdb".into()))
        );
        assert_eq!(
            influx_service_of_sink("influxdb:http://monitoring-influxdb:8086", "kube-system"),
            Some(("kube-system".into(), "monitoring-influxdb".into()))
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("10"), None);
    }

    #[test]
    fn select_last_is_parsed() {
        let q = SelectLast::parse("SELECT last(\"value\") FROM \"cpu/usage_rate\" WHERE \"type\" = 'pod' AND \"namespace_name\" = 'kube-system' GROUP BY \"pod_name\"").unwrap();
        assert_eq!(
            (
                q.measurement.as_str(),
                q.kind.as_str(),
                q.namespace.as_deref()
            ),
            ("cpu/usage_rate", "pod", Some("kube-system"))
        );
    }
}
