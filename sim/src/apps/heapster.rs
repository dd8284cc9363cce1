//! heapster v1.5.4, emulated from its source (kubernetes-retired/heapster@v1.5.4; see
//! `sim/FIDELITY.md` for each behaviour's file):
//!
//! - Flags decide whether it runs at all (`heapster.go` `validateFlags`,
//!   `createSourceManagerOrDie`): a bad configuration exits at start (CrashLoopBackOff).
//! - Housekeeping (`manager/manager.go`): windows of `--metric_resolution` aligned to the
//!   wall clock, each exported 5 s (`DefaultScrapeOffset`) after it ends; the batch carries
//!   the window's end as its timestamp. Every export holds at least the cluster metric set
//!   (`processors/cluster_aggregator.go`), so `/healthz` passes after the first export even
//!   when every kubelet scrape failed.
//! - `cpu/usage_rate` comes from the rate calculator (`processors/rate_calculator.go`): it
//!   needs the previous batch, so it first appears in the second batch that holds the node
//!   or pod. `memory/usage` appears in the first.
//! - The model API (`api/v1/model_handlers.go`) answers from the metric sink
//!   (`sinks/metric/metric_sink.go`): `cpu/usage_rate` and `memory/usage` for 15 minutes,
//!   other metrics for 140 s; unknown nodes and pods get an empty result, not an error.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{
    App, AppRequest, GO_ZERO_TIME, Http, container_args, flag, flag_values, go_time_json,
    go_time_string, key_of, node_ip, node_is_ready, parse_go_duration, pod_is_running, pod_started,
    pods_running, service_account_of,
};
use crate::cluster::{Cluster, State};
use crate::rbac::{self, Identity};
use crate::usage::{self, Usage};

/// `manager.DefaultScrapeOffset`: how long after a window ends its batch is exported.
pub const SCRAPE_OFFSET: Duration = Duration::from_secs(5);
/// `--metric_resolution`'s default.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);
/// `healthzChecker`'s `maxMetricsDelay`.
pub const MAX_METRICS_DELAY: Duration = Duration::from_secs(180);
/// The metric sink's stores (`sinks/factory.go`).
const LONG_STORE: Duration = Duration::from_secs(15 * 60);
const SHORT_STORE: Duration = Duration::from_secs(140);
const LONG_STORE_METRICS: &[&str] = &["cpu/usage_rate", "memory/usage"];
/// The most batches the emulation looks back over (bounds its cost in fast timing).
const MAX_BATCHES: i128 = 100;

/// Metrics every node and pod metric set carries in the emulation (a subset of the
/// summary source's; see `core/metrics.go`).
pub const METRIC_NAMES: &[&str] = &[
    "cpu/usage",
    "cpu/usage_rate",
    "memory/usage",
    "memory/working_set",
    "network/rx_rate",
    "network/tx_rate",
    "uptime",
];

/// When batches are exported and which timestamps they carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Timestamp of the first batch (the end of its window).
    pub first: Timestamp,
    /// Between consecutive batches.
    pub spacing: Duration,
    /// From a batch's timestamp to its export.
    pub export_delay: Duration,
}

impl Clock {
    /// Upstream's `Housekeep` loop for a heapster started at `started`: the first window
    /// is `[truncate(started), +resolution)`; after each export at `end + offset` the next
    /// window starts at `truncate(end + offset)`, so a resolution at or below the 5 s
    /// offset skips windows (5 s gives a batch every 10 s).
    pub fn upstream(started: Timestamp, resolution: Duration) -> Clock {
        let res = resolution.as_nanos().max(1) as i128;
        let start = started.as_nanosecond();
        let first_end = start.div_euclid(res) * res + res;
        let offset = SCRAPE_OFFSET.as_nanos() as i128;
        let spacing = (offset / res + 1) * res;
        Clock {
            first: Timestamp::from_nanosecond(first_end).unwrap_or(started),
            spacing: Duration::from_nanos(spacing as u64),
            export_delay: SCRAPE_OFFSET,
        }
    }

    /// Timestamps of the batches exported by `now`, oldest first: at most the last
    /// `MAX_BATCHES` (the emulation's bound; upstream keeps 15 minutes of them).
    pub fn batches(&self, now: Timestamp) -> Vec<Timestamp> {
        let exported = now.as_nanosecond() - (self.first + self.export_delay).as_nanosecond();
        if exported < 0 {
            return Vec::new();
        }
        let spacing = self.spacing.as_nanos().max(1) as i128;
        let last = exported / spacing;
        let from = (last - MAX_BATCHES + 1).max(0);
        (from..=last)
            .filter_map(|k| {
                Timestamp::from_nanosecond(self.first.as_nanosecond() + k * spacing).ok()
            })
            .collect()
    }
}

/// One kubelet heapster scrapes, and why the scrape fails if it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub node: String,
    pub ip: String,
    pub error: Option<String>,
}

/// One heapster pod as it runs: what its flags, its RBAC and the cluster make of it.
#[derive(Debug, Clone)]
pub struct Heapster {
    pub namespace: String,
    pub pod: String,
    pub started: Timestamp,
    pub clock: Clock,
    /// The InfluxDB Service its sink writes to: `(namespace, name)`.
    pub sink: Option<(String, String)>,
    /// The Ready nodes its node lister sees; empty when it may not list nodes.
    pub sources: Vec<Source>,
    /// Fault: housekeeping stalled; every batch is this much older than its clock says.
    pub stalled_for: Option<Duration>,
}

/// Why a heapster with these flags exits at start, in its own fatal log line (glog `F`).
pub fn fatal_error(args: &[String]) -> Option<String> {
    if let Some(res) = flag(args, "metric_resolution").and_then(|r| parse_go_duration(&r))
        && res < Duration::from_secs(5)
    {
        // `validateFlags` formats the time.Duration with %d: nanoseconds.
        return Some(format!(
            "heapster.go:81] metric resolution should not be less than 5 seconds - {}",
            res.as_nanos()
        ));
    }
    let sources = flag_values(args, "source");
    if !sources
        .iter()
        .any(|s| s.split(['.', ':']).next() == Some("kubernetes"))
    {
        return Some(
            "heapster.go:86] Failed to get kubernetes address: No kubernetes source found.".into(),
        );
    }
    if sources.len() != 1 {
        return Some("heapster.go:178] Wrong number of sources specified".into());
    }
    None
}

impl Heapster {
    /// Whether at least one batch has been exported.
    pub fn has_batch(&self, now: Timestamp) -> bool {
        !self.batches(now).is_empty()
    }

    /// Timestamps of the batches the metric sink holds, oldest first.
    pub fn batches(&self, now: Timestamp) -> Vec<Timestamp> {
        let shift = self.stalled_for.unwrap_or_default();
        self.clock
            .batches(now)
            .into_iter()
            .map(|t| t - shift)
            .collect()
    }

    /// The nodes a batch at `t` holds: those whose scrape succeeds.
    pub fn scraped_nodes(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.error.is_none())
            .map(|s| s.node.as_str())
            .collect()
    }

    pub fn knows_node(&self, node: &str) -> bool {
        self.scraped_nodes().contains(&node)
    }

    /// `/healthz`, as `healthzChecker` decides it.
    pub fn health(&self, now: Timestamp) -> Result<(), String> {
        let Some(latest) = self.batches(now).last().copied() else {
            return Err("could not get the latest data batch".into());
        };
        if now.duration_since(latest).unsigned_abs() > MAX_METRICS_DELAY {
            return Err(format!(
                "No current data batch available (latest: {}).",
                go_time_string(latest)
            ));
        }
        Ok(())
    }
}

/// What one heapster pod does, from its own flags, its RBAC and the nodes; `None` when
/// its container has not started or exits at start.
pub fn heapster_of(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
) -> Option<Heapster> {
    let started = pod_started(st, pod)?;
    let args = container_args(container);
    if fatal_error(&args).is_some() {
        return None;
    }
    let (namespace, name) = key_of(pod);
    let resolution = flag(&args, "metric_resolution")
        .and_then(|r| parse_go_duration(&r))
        .unwrap_or(DEFAULT_RESOLUTION);
    let clock = match &cluster.config.timing.heapster {
        None => Clock::upstream(started, resolution),
        Some(fast) => Clock {
            first: started + fast.first_export,
            spacing: fast
                .spacing
                .unwrap_or(Clock::upstream(started, resolution).spacing),
            export_delay: Duration::ZERO,
        },
    };
    let who = service_account_of(pod);
    let source = flag_values(&args, "source")
        .into_iter()
        .next()
        .unwrap_or_default();
    let sources = if may(st, &who, "list", "nodes", None) {
        node_sources(cluster, st, &who, &source)
    } else {
        Vec::new()
    };
    let sink = flag(&args, "sink").and_then(|s| influx_service_of_sink(&s, &namespace));
    Some(Heapster {
        namespace,
        pod: name,
        started,
        clock,
        sink,
        sources,
        stalled_for: cluster
            .config
            .faults
            .stale_metrics
            .then_some(Duration::from_secs(40 * 60)),
    })
}

fn may(st: &State, who: &Identity, verb: &str, resource: &str, sub: Option<&str>) -> bool {
    rbac::allowed(
        &st.store,
        who,
        &rbac::Request {
            verb,
            group: "",
            resource,
            subresource: sub,
            namespace: None,
            name: None,
        },
    )
}

/// The Ready nodes (`kubelet.go` `getNodeInfo` skips the others), each with the outcome
/// of scraping its kubelet with this source's options (`sources/kubelet/configs.go`).
fn node_sources(cluster: &Cluster, st: &State, who: &Identity, source: &str) -> Vec<Source> {
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
    let port = opt("kubeletPort").unwrap_or("10255").to_string();
    let https = opt("kubeletHttps") == Some("true");
    let insecure = opt("insecure") == Some("true");
    let summary = source.starts_with("kubernetes.summary_api");
    let kind = if summary {
        "kubelet_summary"
    } else {
        "kubelet"
    };
    let stats_allowed = may(st, who, "get", "nodes", Some("stats"));
    let faults = &cluster.config.faults;
    st.store
        .iter("/nodes", None)
        .filter(|n| node_is_ready(n))
        .map(|n| {
            let node = n["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let ip = node_ip(st, &node);
            let scheme = if https { "https" } else { "http" };
            let url = if summary {
                format!("{scheme}://{ip}:{port}/stats/summary/")
            } else {
                format!("{scheme}://{ip}:{port}/stats/container/")
            };
            // heapster v1.5.4 is built with Go 1.8 (its Makefile): Go 1.8's error texts.
            let failure = if faults.node_missing_from_heapster.as_deref() == Some(node.as_str()) {
                Some(format!("Get {url}: dial tcp {ip}:{port}: i/o timeout"))
            } else if port != "10250" {
                // The read-only port is closed on current clusters (kind included).
                Some(format!(
                    "Get {url}: dial tcp {ip}:{port}: getsockopt: connection refused"
                ))
            } else if !https {
                Some(
                    "request failed - \"400 Bad Request\", response: \"Client sent an HTTP request to an HTTPS server.\\n\""
                        .into(),
                )
            } else if !insecure {
                // kind's kubelets serve a self-signed certificate without IP SANs, and Go
                // checks the host name before the chain.
                Some(format!(
                    "Get {url}: x509: cannot validate certificate for {ip} because it doesn't contain any IP SANs"
                ))
            } else if !stats_allowed {
                Some(format!(
                    "request failed - \"403 Forbidden\", response: \"Forbidden (user={}, verb=get, resource=nodes, subresource=stats)\\n\"",
                    who.user_name()
                ))
            } else {
                None
            };
            Source {
                node,
                error: failure.map(|f| format!("Error in scraping containers from {kind}:{ip}:{port}: {f}")),
                ip,
            }
        })
        .collect()
}

/// `influxdb:http://monitoring-influxdb.kube-system.svc:8086` -> `(kube-system, monitoring-influxdb)`.
pub fn influx_service_of_sink(sink: &str, default_ns: &str) -> Option<(String, String)> {
    let url = sink.strip_prefix("influxdb:")?;
    let host = url.split("://").nth(1)?.split(['/', ':', '?']).next()?;
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let ns = labels.next().unwrap_or(default_ns).to_string();
    Some((ns, name))
}

/// The heapster that serves through a Service: a ready pod if there is one, else the
/// first running one.
pub fn serving(cluster: &Cluster, st: &State) -> Option<Heapster> {
    let pods = pods_running(st, App::Heapster);
    let (pod, container) = pods
        .iter()
        .find(|(p, _)| super::common::pod_is_ready(p))
        .or(pods.first())?;
    heapster_of(cluster, st, pod, container)
}

// ---------------------------------------------------------------------------
// Series: what the metric sink holds for a node or a pod
// ---------------------------------------------------------------------------

/// Pods the kubelets report: running pods on the nodes heapster scrapes.
pub fn scraped_pods(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    namespace: Option<&str>,
) -> Vec<Value> {
    let faults = &cluster.config.faults;
    if faults.pods_without_metrics {
        return Vec::new();
    }
    let nodes = h.scraped_nodes();
    st.store
        .list("/pods", namespace)
        .into_iter()
        .filter(pod_is_running)
        .filter(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| nodes.contains(&n))
        })
        .filter(|p| !(faults.consumer_without_metrics && is_consumer(p)))
        .collect()
}

fn is_consumer(pod: &Value) -> bool {
    super::common::container_of(pod, App::ResourceConsumer).is_some()
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

fn node_series(
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

fn pod_series(
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

/// Every pod series of `metric` in `namespace` (all when `None`), as the sink wrote them.
pub fn pod_points(
    cluster: &Cluster,
    st: &State,
    h: &Heapster,
    namespace: Option<&str>,
    metric: &str,
    now: Timestamp,
) -> Vec<(Value, Vec<(Timestamp, i64)>)> {
    scraped_pods(cluster, st, h, namespace)
        .into_iter()
        .map(|p| {
            let since = pod_started(st, &p).unwrap_or(now);
            let points = series(h, now, since, metric, |t| pod_usage(cluster, st, &p, t));
            (p, points)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// HTTP: /healthz and the model API
// ---------------------------------------------------------------------------

/// heapster's port 8082, served by the pod `pod`.
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

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

/// A glog line: `Lmmdd hh:mm:ss.uuuuuu    PID file:line] message`.
pub fn glog(level: char, at: Timestamp, location_and_message: &str) -> String {
    let stamp = at
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%m%d %H:%M:%S%.6f")
        .to_string();
    format!("{level}{stamp}       1 {location_and_message}")
}

/// What heapster prints when it starts (`heapster.go`, `configs.go`, `influxdb.go`).
pub fn start_lines(container: &Value, at: Timestamp) -> Vec<String> {
    let args = container_args(container);
    if let Some(fatal) = fatal_error(&args) {
        return vec![glog('F', at, &fatal)];
    }
    let image = container["image"].as_str().unwrap_or_default();
    let mut lines = vec![
        format!("heapster.go:78] {}", args.join(" ")),
        format!(
            "heapster.go:79] Heapster version {}",
            image.rsplit(':').next().unwrap_or_default()
        ),
        "configs.go:61] Using Kubernetes client with master \"https://kubernetes.default\" and version &{Group: Version:v1}".into(),
        format!(
            "configs.go:62] Using kubelet port {}",
            flag_values(&args, "source")
                .first()
                .and_then(|s| s.split("kubeletPort=").nth(1))
                .and_then(|p| p.split('&').next())
                .unwrap_or("10255")
        ),
    ];
    if flag(&args, "sink").is_some_and(|s| s.starts_with("influxdb:")) {
        lines.push("influxdb.go:312] created influxdb sink with options: host:monitoring-influxdb.kube-system.svc:8086 user:root db:k8s".into());
        lines.push("heapster.go:202] Starting with InfluxDB Sink".into());
    }
    lines.push("heapster.go:202] Starting with Metric Sink".into());
    lines.push("heapster.go:112] Starting heapster on port 8082".into());
    lines.into_iter().map(|l| glog('I', at, &l)).collect()
}

/// Errors heapster logs at each housekeeping: one line per kubelet it cannot scrape
/// (`sources/manager.go:101`), and the reflector's refusals for what it may not list.
pub fn housekeeping_errors(st: &State, h: &Heapster, pod: &Value) -> Vec<String> {
    let who = service_account_of(pod);
    let mut out: Vec<String> = Vec::new();
    for (resource, kind, lister) in [
        ("nodes", "Node", "k8s.io/heapster/metrics/util/util.go:30"),
        ("pods", "Pod", "k8s.io/heapster/metrics/heapster.go:328"),
        (
            "namespaces",
            "Namespace",
            "k8s.io/heapster/metrics/processors/namespace_based_enricher.go:84",
        ),
    ] {
        let req = rbac::Request {
            verb: "list",
            group: "",
            resource,
            subresource: None,
            namespace: None,
            name: None,
        };
        if !rbac::allowed(&st.store, &who, &req) {
            out.push(format!(
                "reflector.go:190] {lister}: Failed to list *v1.{kind}: {}",
                req.forbidden_message(&who)
            ));
        }
    }
    out.extend(
        h.sources
            .iter()
            .filter_map(|s| s.error.as_ref())
            .map(|e| format!("manager.go:101] {e}")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn housekeeping_windows_follow_manager_go() {
        // 10 s resolution: windows end on the 10 s, exported 5 s later, one per 10 s.
        let c = Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(10));
        assert_eq!(c.first, t("2026-11-28T10:00:10Z"));
        assert_eq!(c.spacing, Duration::from_secs(10));
        assert!(c.batches(t("2026-11-28T10:00:14Z")).is_empty());
        assert_eq!(
            c.batches(t("2026-11-28T10:00:26Z")),
            vec![t("2026-11-28T10:00:10Z"), t("2026-11-28T10:00:20Z")]
        );
        // 5 s resolution: the export at end+5s falls on the next boundary, which skips a
        // window: a batch every 10 s.
        assert_eq!(
            Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(5)).spacing,
            Duration::from_secs(10)
        );
        assert_eq!(
            Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(6)).spacing,
            Duration::from_secs(6)
        );
    }

    #[test]
    fn bad_flags_are_fatal_as_in_heapster_go() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            fatal_error(&args(&["/heapster"]))
                .unwrap()
                .contains("No kubernetes source found")
        );
        assert!(
            fatal_error(&args(&[
                "/heapster",
                "--source=kubernetes:''",
                "--metric_resolution=2s"
            ]))
            .unwrap()
            .contains("less than 5 seconds - 2000000000")
        );
        assert!(
            fatal_error(&args(&[
                "/heapster",
                "--source=kubernetes:''",
                "--source=kubernetes:x"
            ]))
            .unwrap()
            .contains("Wrong number of sources")
        );
        assert_eq!(
            fatal_error(&args(&["/heapster", "--source=kubernetes.summary_api:''"])),
            None
        );
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
    fn health_follows_the_healthz_checker() {
        let mut h = Heapster {
            namespace: "kube-system".into(),
            pod: "heapster-1".into(),
            started: t("2026-11-28T10:00:00Z"),
            clock: Clock::upstream(t("2026-11-28T10:00:00Z"), Duration::from_secs(10)),
            sink: None,
            sources: vec![],
            stalled_for: None,
        };
        assert_eq!(
            h.health(t("2026-11-28T10:00:05Z")),
            Err("could not get the latest data batch".into())
        );
        // No kubelet scraped, yet the batch has the cluster metric set: healthy.
        assert_eq!(h.health(t("2026-11-28T10:00:16Z")), Ok(()));
        h.stalled_for = Some(Duration::from_secs(2400));
        assert!(
            h.health(t("2026-11-28T10:00:16Z"))
                .unwrap_err()
                .starts_with(
                    "No current data batch available (latest: 2026-11-28 09:20:10 +0000 UTC)"
                )
        );
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
}
