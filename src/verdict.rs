//! Pure decisions over data the checks gathered: is this log healthy, is this series
//! fresh, which pod blocks the rollout and why. No I/O here; every function is tested
//! on upstream shapes, including malformed ones.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::kubeclient::{Answer, snippet};

/// What a check concluded from one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed; the text says what was seen, with the numbers.
    Pass(String),
    /// Not yet: the state can still heal (heapster has not scraped yet); look again.
    Wait(String),
    /// Failed, and waiting will not change it (no heapster service, a crashing pod).
    Fail(String),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass(_))
    }
}

// ---------------------------------------------------------------------------
// Dashboard log
// ---------------------------------------------------------------------------

pub const SUCCESS_LINE: &str = "Successful request to heapster";
pub const FAILURE_PREFIX: &str = "Metric client health check failed:";
pub const NO_CLIENT_LINE: &str = "No metric client provided. Skipping metrics.";
pub const MISSING_SERVICE: &str =
    "the server could not find the requested resource (get services heapster)";
pub const NO_DATA_BATCH: &str = "could not get the latest data batch";

/// Why the dashboard's metric client is failing, read from its last failure line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// "Successful request to heapster" after the last failure, no "No metric client" after it.
    Connected,
    /// No heapster service at all.
    MissingService(String),
    /// Heapster answers but has not scraped its first batch.
    NoDataBatch(String),
    /// Any other failure (connection refused, timeout, forbidden...).
    Failing(String),
    /// Connected once, then requests ran without a metric client.
    Dropped(String),
    /// No health check result yet.
    NotStarted,
}

/// Read the log in order (not by timestamp: real logs and joined samples can run backwards).
pub fn dashboard_log(log: &str) -> LogState {
    let mut last_failure: Option<&str> = None;
    let mut connected = false;
    let mut no_client_after_success: Option<&str> = None;
    for line in log.lines() {
        if line.contains(SUCCESS_LINE) {
            connected = true;
            last_failure = None;
            no_client_after_success = None;
        } else if line.contains(FAILURE_PREFIX) {
            connected = false;
            last_failure = Some(line);
        } else if line.contains(NO_CLIENT_LINE) && connected {
            no_client_after_success = Some(line);
        }
    }
    match (connected, last_failure, no_client_after_success) {
        (true, _, Some(line)) => LogState::Dropped(line.to_string()),
        (true, _, None) => LogState::Connected,
        (false, Some(line), _) if line.contains(MISSING_SERVICE) => {
            LogState::MissingService(line.to_string())
        }
        (false, Some(line), _) if line.contains(NO_DATA_BATCH) => {
            LogState::NoDataBatch(line.to_string())
        }
        (false, Some(line), _) => LogState::Failing(line.to_string()),
        (false, None, _) => LogState::NotStarted,
    }
}

/// The log state as a verdict; a missing service is only certain once the API confirms it,
/// which the caller does.
pub fn dashboard_log_verdict(state: &LogState) -> Verdict {
    match state {
        LogState::Connected => Verdict::Pass(format!("\"{SUCCESS_LINE}\" after the last failure")),
        LogState::MissingService(line) => Verdict::Wait(format!(
            "the dashboard cannot find the heapster service: {line}"
        )),
        LogState::NoDataBatch(line) => {
            Verdict::Wait(format!("heapster has not scraped yet: {line}"))
        }
        LogState::Failing(line) => {
            Verdict::Wait(format!("the dashboard's metric client is failing: {line}"))
        }
        LogState::Dropped(line) => Verdict::Wait(format!(
            "the dashboard lost its metric client after connecting: {line}"
        )),
        LogState::NotStarted => Verdict::Wait(
            "the dashboard has not checked heapster yet (no health check line in its log)".into(),
        ),
    }
}

// ---------------------------------------------------------------------------
// Heapster
// ---------------------------------------------------------------------------

/// `GET /healthz` through the service proxy.
pub fn heapster_health(answer: &Answer) -> Verdict {
    if answer.status == 200 {
        return Verdict::Pass(format!("/healthz: {}", snippet(&answer.body)));
    }
    if answer.body.contains(NO_DATA_BATCH) {
        return Verdict::Wait(format!(
            "heapster has not scraped yet: /healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        ));
    }
    if answer.body.contains("No current data batch available") {
        return Verdict::Wait(format!(
            "heapster's latest data batch is stale (its housekeeping stopped): /healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        ));
    }
    match answer.api_status() {
        // Through the proxy a missing Service reads `endpoints "heapster" not found`
        // (ResourceLocation reads the Endpoints), or `services ...` with a port number.
        Some((reason, message))
            if reason == "NotFound"
                && (message.contains("endpoints") || message.contains("services")) =>
        {
            Verdict::Fail(format!(
                "no heapster service: {message}; the dashboard looks for Service kube-system/heapster"
            ))
        }
        Some((reason, message)) if reason == "Forbidden" => Verdict::Fail(format!(
            "not allowed to reach heapster through the API server: {message}"
        )),
        Some((_, message)) => Verdict::Wait(format!("heapster is not reachable yet: {message}")),
        None => Verdict::Wait(format!(
            "/healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        )),
    }
}

/// Heapster's node list must equal the set of Ready nodes.
pub fn heapster_nodes(heapster: &[String], ready: &[String]) -> Verdict {
    let missing: Vec<&String> = ready.iter().filter(|n| !heapster.contains(n)).collect();
    let extra: Vec<&String> = heapster.iter().filter(|n| !ready.contains(n)).collect();
    match (missing.is_empty(), extra.is_empty()) {
        (true, true) if !ready.is_empty() => {
            Verdict::Pass(format!("heapster knows all {} Ready nodes", ready.len()))
        }
        (true, true) => Verdict::Wait("no Ready nodes to compare with".into()),
        (false, _) if heapster.is_empty() => Verdict::Wait(
            "heapster lists no nodes yet (no batch, or every kubelet scrape fails)".into(),
        ),
        _ => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing from heapster: {}", join(&missing)));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "heapster lists nodes that are not Ready: {}",
                    join(&extra)
                ));
            }
            Verdict::Wait(parts.join("; "))
        }
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub timestamp: Timestamp,
    pub value: i64,
}

/// A heapster model API `MetricResult`: `{"metrics": [{timestamp, value}], "latestTimestamp"}`.
pub fn parse_metric_result(v: &Value) -> Result<Vec<Point>, String> {
    let metrics = v["metrics"].as_array().ok_or_else(|| {
        format!(
            "malformed metric result (no \"metrics\" array): {}",
            snippet(&v.to_string())
        )
    })?;
    metrics
        .iter()
        .map(|m| {
            let timestamp = m["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .ok_or_else(|| format!("malformed point (timestamp): {m}"))?;
            // Values are uint64; a negative rate wraps around (heapster#1193). Read them
            // as the dashboard does: as int64, negatives clamped to 0.
            let value = m["value"]
                .as_u64()
                .map(|v| (v as i64).max(0))
                .or_else(|| m["value"].as_f64().map(|f| f as i64))
                .ok_or_else(|| format!("malformed point (value): {m}"))?;
            Ok(Point { timestamp, value })
        })
        .collect()
}

/// Sanity as heapster's own integration test has it: at least one point, the latest
/// fresh, the first under an hour old; and, for usage, above zero and within capacity.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRules {
    pub now: Timestamp,
    pub max_age: Duration,
    pub must_be_positive: bool,
    pub capacity: Option<i64>,
}

pub fn series(metric: &str, points: &[Point], rules: &SeriesRules) -> Result<Point, Verdict> {
    let Some(latest) = points.iter().max_by_key(|p| p.timestamp).copied() else {
        return Err(Verdict::Wait(format!("{metric}: no points yet")));
    };
    let age = age(rules.now, latest.timestamp);
    if age > rules.max_age {
        return Err(Verdict::Wait(format!(
            "{metric}: latest point is {} old (limit {})",
            crate::duration::format(age),
            crate::duration::format(rules.max_age)
        )));
    }
    let oldest = points
        .iter()
        .map(|p| p.timestamp)
        .min()
        .unwrap_or(latest.timestamp);
    if age_of(rules.now, oldest) > Duration::from_secs(3600) {
        return Err(Verdict::Wait(format!(
            "{metric}: first point is over an hour old"
        )));
    }
    if rules.must_be_positive && latest.value <= 0 {
        return Err(Verdict::Wait(format!(
            "{metric}: latest value is {} (expected above zero)",
            latest.value
        )));
    }
    if let Some(cap) = rules.capacity
        && latest.value > cap
    {
        return Err(Verdict::Fail(format!(
            "{metric}: latest value {} exceeds the node's capacity {cap}",
            latest.value
        )));
    }
    Ok(latest)
}

/// Age of a point, zero when it is (slightly) in the future.
pub fn age(now: Timestamp, t: Timestamp) -> Duration {
    age_of(now, t)
}

fn age_of(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO)
}

/// A measurement against its calibrated target: within `tolerance` (relative) or not.
/// Still off may heal (usage settles after the load starts), so it waits.
pub fn ground_truth(
    what: &str,
    metric: &str,
    target: i64,
    measured: i64,
    tolerance: f64,
) -> Verdict {
    let diff = (measured - target) as f64 / target.max(1) as f64;
    let text = format!(
        "{what}: {metric} measured {}, target {}, tolerance ±{:.0}% ({:+.0}%)",
        human_value(metric, measured),
        human_value(metric, target),
        tolerance * 100.0,
        diff * 100.0
    );
    if diff.abs() <= tolerance {
        Verdict::Pass(text)
    } else {
        Verdict::Wait(text)
    }
}

// ---------------------------------------------------------------------------
// Pods and rollout
// ---------------------------------------------------------------------------

/// A pod that will not become ready by waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    pub pod: String,
    pub container: String,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for PodProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.container.is_empty() {
            write!(f, "pod {} is {}: {}", self.pod, self.reason, self.message)
        } else {
            write!(
                f,
                "pod {} container {} is in {}: {}",
                self.pod, self.container, self.reason, self.message
            )
        }
    }
}

pub const FATAL_WAITING_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
    "CreateContainerError",
];

pub fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Why a pod is certain not to start, if it is: a fatal waiting reason, or Unschedulable
/// for longer than `unschedulable_grace` (nodes may still be joining).
pub fn pod_problem(pod: &Pod, now: Timestamp, unschedulable_grace: Duration) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    for cs in status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
    {
        let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.clone().unwrap_or_default();
        if FATAL_WAITING_REASONS.contains(&reason.as_str()) {
            return Some(PodProblem {
                pod: pod_name(pod),
                container: cs.name.clone(),
                reason,
                message: waiting.message.clone().unwrap_or_default(),
            });
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    let since = unschedulable
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .or(pod.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    (age_of(now, since) >= unschedulable_grace).then(|| PodProblem {
        pod: pod_name(pod),
        container: String::new(),
        reason: "Unschedulable".into(),
        message: unschedulable.message.clone().unwrap_or_default(),
    })
}

pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn selects(deploy: &Deployment, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let ns_match = pod.metadata.namespace == deploy.metadata.namespace;
    let selector = deploy
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    ns_match && !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The pods of the `wanted` Deployments among `pods`.
pub fn pods_of<'a>(
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &'a [Pod],
) -> Vec<&'a Pod> {
    let wanted_deployments: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| {
            wanted.iter().any(|(ns, name)| {
                d.metadata.namespace.as_deref() == Some(ns)
                    && d.metadata.name.as_deref() == Some(name)
            })
        })
        .collect();
    pods.iter()
        .filter(|p| wanted_deployments.iter().any(|d| selects(d, p)))
        .collect()
}

/// Whether a Deployment has rolled out: observed, updated and available.
pub fn deployment_available(d: &Deployment) -> Result<(), String> {
    let name = format!(
        "{}/{}",
        d.metadata.namespace.as_deref().unwrap_or_default(),
        d.metadata.name.as_deref().unwrap_or_default()
    );
    let want = d.spec.replicas.unwrap_or(1);
    let Some(status) = d.status.as_ref() else {
        return Err(format!("deployment {name} has no status yet"));
    };
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Err(format!(
            "deployment {name}: the controller has not seen the latest spec yet"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < want || available < want || total > updated {
        return Err(format!(
            "deployment {name}: {available}/{want} available, {updated}/{want} updated"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Done,
    Waiting(String),
    Failed(PodProblem),
}

/// The state of a rollout of `wanted` Deployments (`namespace/name`), from what a watch saw.
pub fn rollout(
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &[Pod],
    now: Timestamp,
    unschedulable_grace: Duration,
) -> Rollout {
    let mut waiting = Vec::new();
    for (ns, name) in wanted {
        let Some(d) = deployments.iter().find(|d| {
            d.metadata.namespace.as_deref() == Some(ns) && d.metadata.name.as_deref() == Some(name)
        }) else {
            waiting.push(format!("deployment {ns}/{name} does not exist yet"));
            continue;
        };
        if let Some(problem) = pods
            .iter()
            .filter(|p| selects(d, p))
            .find_map(|p| pod_problem(p, now, unschedulable_grace))
        {
            return Rollout::Failed(problem);
        }
        if let Err(why) = deployment_available(d) {
            waiting.push(why);
        }
    }
    if waiting.is_empty() {
        Rollout::Done
    } else {
        Rollout::Waiting(waiting.join("; "))
    }
}

// ---------------------------------------------------------------------------
// Dashboard API
// ---------------------------------------------------------------------------

/// One entry of a dashboard list's `errors`: a marshalled Go `*StatusError` (or, for
/// other error types, whatever its exported fields are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    /// The resource the refused call was about (`details.kind`, else the message's
    /// `resource "X"`), when it says.
    pub resource: Option<String>,
    pub message: String,
}

/// Read a dashboard list's `errors` (`errors/handler.go`: 401 and 403 are non-critical, so
/// the answer is 200 with the refusals listed).
pub fn list_errors(v: &Value) -> Vec<ListError> {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let status = &e["ErrStatus"];
            let message = status["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            let from_message = message
                .split_once("resource \"")
                .and_then(|(_, rest)| rest.split('"').next())
                .map(|r| r.split('/').next().unwrap_or(r).to_string());
            let resource = status["details"]["kind"]
                .as_str()
                .map(str::to_string)
                .or(from_message);
            ListError { resource, message }
        })
        .collect()
}

/// `dataPoints` of one `cumulativeMetrics` entry: `{x: unix seconds, y: value}`, the sum
/// over every item of the list (`integration/metric/common/aggregation.go`). Its
/// `metricPoints` are filled only for a list of exactly one item, so they are not read.
pub fn data_points(metric: &Value) -> Vec<Point> {
    metric["dataPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Point {
                timestamp: Timestamp::from_second(p["x"].as_i64()?).ok()?,
                value: p["y"].as_i64()?,
            })
        })
        .collect()
}

/// A dashboard list (`/api/v1/node`, `/api/v1/pod/NS`): the list's own resource was not
/// refused, and `cumulativeMetrics` has recent non-zero CPU and memory, the sums its
/// charts draw. A refusal about another resource the list reads as the user (the pod
/// list's events) is reported with the result, not mistaken for missing metrics.
pub fn dashboard_list(v: &Value, list_field: &str, now: Timestamp, max_age: Duration) -> Verdict {
    let resource = if list_field == "nodes" {
        "nodes"
    } else {
        "pods"
    };
    let errors = list_errors(v);
    let (own, side): (Vec<&ListError>, Vec<&ListError>) = errors
        .iter()
        .partition(|e| e.resource.as_deref().is_none_or(|r| r == resource));
    if !own.is_empty() {
        let messages: Vec<&str> = own.iter().map(|e| e.message.as_str()).collect();
        return Verdict::Fail(format!(
            "the dashboard's {list_field} list reports errors (it answered 200 but the API server refused it): {}",
            messages.join("; ")
        ));
    }
    let Some(items) = v[list_field].as_array() else {
        return Verdict::Fail(format!(
            "malformed dashboard answer: no \"{list_field}\" list: {}",
            snippet(&v.to_string())
        ));
    };
    if items.is_empty() {
        return Verdict::Wait(format!("the dashboard lists no {list_field}"));
    }
    let Some(metrics) = v["cumulativeMetrics"].as_array().filter(|m| !m.is_empty()) else {
        return Verdict::Wait(format!(
            "the dashboard's {list_field} list has no cumulativeMetrics (no metric client yet, or a metric download failed)"
        ));
    };
    let mut seen = Vec::new();
    for name in ["cpu/usage_rate", "memory/usage"] {
        let Some(m) = metrics.iter().find(|m| m["metricName"] == name) else {
            return Verdict::Wait(format!("cumulativeMetrics has no {name}"));
        };
        let rules = SeriesRules {
            now,
            max_age,
            must_be_positive: true,
            capacity: None,
        };
        match series(name, &data_points(m), &rules) {
            Ok(p) => seen.push(format!(
                "{name} {} ({} ago)",
                human_value(name, p.value),
                crate::duration::format(age(now, p.timestamp))
            )),
            Err(v) => return v,
        }
    }
    let mut message = format!("{} {list_field}; {}", items.len(), seen.join(", "));
    for e in side {
        message.push_str(&format!(
            "; note: the dashboard could not read {} as this user: {}",
            e.resource.as_deref().unwrap_or("a side resource"),
            e.message
        ));
    }
    Verdict::Pass(message)
}

/// `/api/v1/integration/heapster/state`.
/// It runs a health check on every call (`integration/manager.go`); `error` is a Go
/// `error` marshalled as JSON: a `*StatusError` has `ErrStatus.message`, a `*url.Error`
/// has `Op` and `URL`, other error types marshal to `{}`.
pub fn integration_state(v: &Value) -> Verdict {
    match v["connected"].as_bool() {
        Some(true) => Verdict::Pass(format!(
            "connected, last checked {}",
            v["lastChecked"].as_str().unwrap_or("?")
        )),
        Some(false) => {
            let e = &v["error"];
            let why = if let Some(m) = e["ErrStatus"]["message"].as_str() {
                m.to_string()
            } else if let (Some(op), Some(url)) = (e["Op"].as_str(), e["URL"].as_str()) {
                format!("{op} {url}: {}", e["Err"])
            } else {
                e.to_string()
            };
            Verdict::Wait(format!("heapster not connected: {why}"))
        }
        None => Verdict::Fail(format!(
            "malformed integration state (no \"connected\"): {}",
            snippet(&v.to_string())
        )),
    }
}

/// CPU in millicores, memory in MiB.
pub fn human_value(metric: &str, value: i64) -> String {
    if metric.starts_with("memory") {
        format!("{:.1} MiB", value as f64 / 1048576.0)
    } else {
        format!("{value}m")
    }
}

// ---------------------------------------------------------------------------
// InfluxDB and Grafana
// ---------------------------------------------------------------------------

/// `SHOW DATABASES` must list `k8s` (heapster's sink creates it on first write).
pub fn influx_databases(v: &Value) -> Verdict {
    let names: Vec<&str> = v["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row[0].as_str())
        .collect();
    if v["results"].as_array().is_none() {
        return Verdict::Fail(format!(
            "malformed InfluxDB answer: {}",
            snippet(&v.to_string())
        ));
    }
    if names.contains(&"k8s") {
        Verdict::Pass(format!("databases: {}", names.join(", ")))
    } else {
        Verdict::Wait(format!(
            "no k8s database yet (heapster has not written); databases: {}",
            names.join(", ")
        ))
    }
}

/// `SELECT last("value") FROM "<metric>" WHERE "type" = 'node' GROUP BY "nodename"`:
/// a recent point for every node.
pub fn influx_node_series(
    v: &Value,
    metric: &str,
    nodes: &[String],
    now: Timestamp,
    max_age: Duration,
) -> Verdict {
    if let Some(err) = v["results"][0]["error"].as_str() {
        return Verdict::Wait(format!("InfluxDB: {err}"));
    }
    let series = v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    for node in nodes {
        let row = series
            .iter()
            .find(|s| s["tags"]["nodename"] == node.as_str())
            .and_then(|s| s["values"][0].as_array().cloned());
        match row {
            None => problems.push(format!("{node}: no {metric} series")),
            Some(row) => {
                let t = row
                    .first()
                    .and_then(|t| t.as_str())
                    .and_then(|t| t.parse::<Timestamp>().ok());
                match t {
                    Some(t) if age(now, t) <= max_age => {}
                    Some(t) => problems.push(format!(
                        "{node}: latest {metric} point {} old",
                        crate::duration::format(age(now, t))
                    )),
                    None => problems.push(format!("{node}: malformed row {}", Value::Array(row))),
                }
            }
        }
    }
    if problems.is_empty() {
        Verdict::Pass(format!("recent {metric} points for {} nodes", nodes.len()))
    } else {
        Verdict::Wait(problems.join("; "))
    }
}

pub fn grafana_health(v: &Value) -> Verdict {
    match v["database"].as_str() {
        Some("ok") => Verdict::Pass(format!(
            "database ok, version {}",
            v["version"].as_str().unwrap_or("?")
        )),
        Some(other) => Verdict::Wait(format!("Grafana database is {other:?}")),
        None => Verdict::Fail(format!(
            "malformed Grafana health answer: {}",
            snippet(&v.to_string())
        )),
    }
}

pub fn grafana_datasource(v: &Value) -> Verdict {
    let Some(sources) = v.as_array() else {
        return Verdict::Fail(format!(
            "malformed Grafana data source list: {}",
            snippet(&v.to_string())
        ));
    };
    match sources
        .iter()
        .find(|s| s["type"] == "influxdb" && s["database"] == "k8s")
    {
        Some(s) => Verdict::Pass(format!(
            "data source {} -> {} (database k8s)",
            s["name"].as_str().unwrap_or("?"),
            s["url"].as_str().unwrap_or("?")
        )),
        None => Verdict::Wait(format!(
            "no InfluxDB data source for database k8s among {} data sources",
            sources.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");

    fn sample(name: &str) -> String {
        std::fs::read_to_string(format!("{SAMPLES}/{name}")).unwrap()
    }

    #[test]
    fn log_verdicts_on_real_dashboard_logs() {
        assert_eq!(
            dashboard_log(&sample("dashboard-connected.log")),
            LogState::Connected
        );
        assert_eq!(
            dashboard_log(&sample("dashboard-recovered.log")),
            LogState::Connected
        );
        match dashboard_log(&sample("dashboard-no-heapster.log")) {
            LogState::MissingService(line) => {
                assert!(line.starts_with("2018/04/29 01:56:38"), "{line}")
            }
            other => panic!("{other:?}"),
        }
        match dashboard_log(&sample("dashboard-no-data-batch.log")) {
            LogState::NoDataBatch(line) => assert!(line.contains("healthz failed")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn log_order_not_timestamps_decides() {
        // The sample runs backwards in time; the last line read is what counts.
        let log = "2018/11/23 03:48:56 Successful request to heapster\n2018/04/29 01:56:38 Metric client health check failed: x (get services heapster). Retrying in 30 seconds.\n";
        assert!(matches!(dashboard_log(log), LogState::Failing(_)));
    }

    #[test]
    fn no_metric_client_after_success_is_not_healthy() {
        let log =
            "a Successful request to heapster\nb No metric client provided. Skipping metrics.\n";
        assert!(matches!(dashboard_log(log), LogState::Dropped(_)));
        let before =
            "b No metric client provided. Skipping metrics.\na Successful request to heapster\n";
        assert_eq!(dashboard_log(before), LogState::Connected);
        assert_eq!(dashboard_log(""), LogState::NotStarted);
    }

    #[test]
    fn healthz_answers() {
        assert!(
            heapster_health(&Answer {
                status: 200,
                body: "ok".into()
            })
            .is_pass()
        );
        let batch = Answer {
            status: 500,
            body: "[-]healthz failed: could not get the latest data batch\nhealthz check failed"
                .into(),
        };
        assert!(
            matches!(heapster_health(&batch), Verdict::Wait(r) if r.contains("not scraped yet"))
        );
        let missing = Answer { status: 404, body: json!({"kind": "Status", "reason": "NotFound", "message": "services \"heapster\" not found"}).to_string() };
        assert!(
            matches!(heapster_health(&missing), Verdict::Fail(r) if r.contains("no heapster service"))
        );
        let no_ep = Answer { status: 503, body: json!({"kind": "Status", "reason": "ServiceUnavailable", "message": "no endpoints available for service \"heapster\""}).to_string() };
        assert!(matches!(heapster_health(&no_ep), Verdict::Wait(_)));
    }

    #[test]
    fn node_sets_name_the_missing_node() {
        let ready = vec!["a".to_string(), "b".to_string()];
        assert!(heapster_nodes(&ready, &ready).is_pass());
        assert!(
            matches!(heapster_nodes(&["a".into()], &ready), Verdict::Wait(r) if r.contains("missing from heapster: b"))
        );
        assert!(
            matches!(heapster_nodes(&[], &ready), Verdict::Wait(r) if r.contains("no nodes yet"))
        );
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn metric_results_parse_and_reject_malformed_shapes() {
        let ok = json!({"metrics": [{"timestamp": "2026-11-25T10:00:00Z", "value": 250}], "latestTimestamp": "2026-11-25T10:00:00Z"});
        assert_eq!(parse_metric_result(&ok).unwrap()[0].value, 250);
        assert!(parse_metric_result(&json!({"items": []})).is_err());
        assert!(
            parse_metric_result(&json!({"metrics": [{"timestamp": "yesterday", "value": 1}]}))
                .is_err()
        );
        assert!(
            parse_metric_result(&json!({"metrics": [{"timestamp": "2026-11-25T10:00:00Z"}]}))
                .is_err()
        );
    }

    #[test]
    fn real_heapster_answers_parse() {
        // heapster#1168: a complete answer, pretty-printed as heapster writes it.
        let v: Value =
            serde_json::from_str(&sample("heapster-1168-container-cpu-usage.json")).unwrap();
        let points = parse_metric_result(&v).unwrap();
        assert_eq!(points.len(), 5);
        let rules = SeriesRules {
            now: "2016-05-17T18:49:30Z".parse().unwrap(),
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: None,
        };
        assert_eq!(series("cpu/usage", &points, &rules).unwrap().value, 268925);
        // heapster#1193: cut by its reporter; a wrapped negative rate reads as 0, as the
        // dashboard reads it, and the latest point still decides.
        let text = format!(
            "{}  ],\n  \"latestTimestamp\": \"2016-06-16T09:56:00Z\"\n }}",
            sample("heapster-1193-pod-cpu-usage-rate.txt")
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        let points = parse_metric_result(&v).unwrap();
        assert_eq!(
            points.iter().map(|p| p.value).collect::<Vec<_>>(),
            [0, 2051, 999, 0, 4809]
        );
        let rules = SeriesRules {
            now: "2016-06-16T09:56:30Z".parse().unwrap(),
            ..rules
        };
        assert_eq!(
            series("cpu/usage_rate", &points, &rules).unwrap().value,
            4809
        );
        let wrapped_last = json!({"metrics": [{"timestamp": "2016-06-16T09:56:00Z", "value": 18446744073709548330u64}]});
        let points = parse_metric_result(&wrapped_last).unwrap();
        assert!(
            matches!(series("cpu/usage_rate", &points, &rules), Err(Verdict::Wait(r)) if r.contains("latest value is 0"))
        );
    }

    #[test]
    fn series_rules() {
        let rules = SeriesRules {
            now: t(10_000),
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: Some(4000),
        };
        let p = |s, v| Point {
            timestamp: t(s),
            value: v,
        };
        assert_eq!(
            series("cpu", &[p(9_950, 300), p(9_990, 320)], &rules)
                .unwrap()
                .value,
            320
        );
        assert!(
            matches!(series("cpu", &[], &rules), Err(Verdict::Wait(r)) if r.contains("no points"))
        );
        assert!(
            matches!(series("cpu", &[p(10_000 - 2400, 300)], &rules), Err(Verdict::Wait(r)) if r.contains("40m old"))
        );
        assert!(
            matches!(series("cpu", &[p(9_990, 0)], &rules), Err(Verdict::Wait(r)) if r.contains("above zero"))
        );
        assert!(
            matches!(series("cpu", &[p(9_990, 5000)], &rules), Err(Verdict::Fail(r)) if r.contains("capacity 4000"))
        );
        assert!(
            matches!(series("cpu", &[p(5_000, 1), p(9_990, 1)], &rules), Err(Verdict::Wait(r)) if r.contains("over an hour"))
        );
    }

    fn pod(json: Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn pod_problems_name_pod_container_reason_and_message() {
        let crashing = pod(
            json!({"metadata": {"name": "heapster-1", "namespace": "kube-system"}, "status": {"containerStatuses": [
            {"name": "heapster", "image": "h", "imageID": "", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}}]}}),
        );
        let p = pod_problem(&crashing, t(0), Duration::from_secs(30)).unwrap();
        assert_eq!(
            (p.pod.as_str(), p.container.as_str(), p.reason.as_str()),
            ("kube-system/heapster-1", "heapster", "CrashLoopBackOff")
        );
        assert!(p.to_string().contains("back-off 10s"));

        let creating = pod(
            json!({"metadata": {"name": "x", "namespace": "n"}, "status": {"containerStatuses": [
            {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}}),
        );
        assert_eq!(pod_problem(&creating, t(0), Duration::from_secs(30)), None);

        let unschedulable = pod(
            json!({"metadata": {"name": "x", "namespace": "n"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/0 nodes are available", "lastTransitionTime": "1970-01-01T00:00:00Z"}]}}),
        );
        assert_eq!(
            pod_problem(&unschedulable, t(10), Duration::from_secs(30)),
            None
        );
        assert_eq!(
            pod_problem(&unschedulable, t(40), Duration::from_secs(30))
                .unwrap()
                .reason,
            "Unschedulable"
        );
    }

    #[test]
    fn rollout_waits_for_availability_and_fails_on_a_stuck_pod() {
        let wanted = vec![("kube-system".to_string(), "heapster".to_string())];
        let deploy = |available: i64| -> Deployment {
            serde_json::from_value(json!({"metadata": {"name": "heapster", "namespace": "kube-system", "generation": 1},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"k8s-app": "heapster"}}, "template": {}},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": available}})).unwrap()
        };
        assert!(
            matches!(rollout(&wanted, &[], &[], t(0), Duration::ZERO), Rollout::Waiting(r) if r.contains("does not exist"))
        );
        assert!(
            matches!(rollout(&wanted, &[deploy(0)], &[], t(0), Duration::ZERO), Rollout::Waiting(r) if r.contains("0/1 available"))
        );
        assert_eq!(
            rollout(&wanted, &[deploy(1)], &[], t(0), Duration::ZERO),
            Rollout::Done
        );
        let pulling = pod(
            json!({"metadata": {"name": "heapster-1", "namespace": "kube-system", "labels": {"k8s-app": "heapster"}}, "status": {"containerStatuses": [
            {"name": "heapster", "image": "h", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"h\""}}}]}}),
        );
        assert!(
            matches!(rollout(&wanted, &[deploy(0)], std::slice::from_ref(&pulling), t(0), Duration::ZERO), Rollout::Failed(p) if p.reason == "ImagePullBackOff")
        );
        let elsewhere = pod(
            json!({"metadata": {"name": "other", "namespace": "default", "labels": {"k8s-app": "heapster"}}, "status": pulling.status}),
        );
        assert!(matches!(
            rollout(&wanted, &[deploy(1)], &[elsewhere], t(0), Duration::ZERO),
            Rollout::Done
        ));
    }

    /// `cumulativeMetrics` as v1.10.1 builds them for `n` items: the sums in `dataPoints`,
    /// `metricPoints` only when `n == 1` (`common/aggregation.go`).
    fn cumulative(n: usize, at: i64, cpu: i64, memory: i64) -> Value {
        let metric = |name: &str, y: i64| {
            let points = if n == 1 {
                json!([{"timestamp": Timestamp::from_second(at).unwrap().to_string(), "value": y}])
            } else {
                json!([])
            };
            json!({"dataPoints": [{"x": at - 10, "y": y / 2}, {"x": at, "y": y}], "metricPoints": points, "metricName": name, "aggregation": "sum"})
        };
        json!([
            metric("cpu/usage_rate", cpu),
            metric("memory/usage", memory)
        ])
    }

    const MAX_AGE: Duration = Duration::from_secs(120);

    #[test]
    fn a_node_list_of_three_is_judged_by_its_data_points() {
        let now = Timestamp::from_second(1_000_030).unwrap();
        let node = |n: &str| json!({"objectMeta": {"name": n}, "typeMeta": {"kind": "node"}, "ready": "True"});
        let list = json!({"listMeta": {"totalItems": 3}, "nodes": [node("a"), node("b"), node("c")],
            "cumulativeMetrics": cumulative(3, 1_000_020, 900, 3 << 30), "errors": []});
        let verdict = dashboard_list(&list, "nodes", now, MAX_AGE);
        assert!(
            matches!(&verdict, Verdict::Pass(r) if r.contains("3 nodes") && r.contains("900m") && r.contains("3072.0 MiB") && r.contains("10s ago")),
            "{verdict:?}"
        );
        // The old reading (metricPoints) would have waited forever on this answer.
        assert!(
            list["cumulativeMetrics"][0]["metricPoints"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let one = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(1, 1_000_020, 300, 1 << 30), "errors": []});
        assert!(dashboard_list(&one, "nodes", now, MAX_AGE).is_pass());
        let stale = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(3, 1_000_030 - 600, 300, 1 << 30), "errors": []});
        assert!(
            matches!(dashboard_list(&stale, "nodes", now, MAX_AGE), Verdict::Wait(r) if r.contains("old"))
        );
        let idle = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(3, 1_000_020, 0, 1 << 30), "errors": []});
        assert!(
            matches!(dashboard_list(&idle, "nodes", now, MAX_AGE), Verdict::Wait(r) if r.contains("above zero"))
        );
    }

    fn forbidden(resource: &str) -> Value {
        json!({"ErrStatus": {"metadata": {}, "status": "Failure",
            "message": format!("{resource} is forbidden: User \"system:serviceaccount:kube-system:heapster-e2e-checks\" cannot list resource \"{resource}\" in API group \"\" in the namespace \"kube-system\""),
            "reason": "Forbidden", "details": {"kind": resource}, "code": 403}})
    }

    #[test]
    fn a_pod_list_tells_refused_events_from_refused_pods() {
        let now = Timestamp::from_second(1_000_030).unwrap();
        let pod = |n: &str| json!({"objectMeta": {"name": n, "namespace": "kube-system"}, "typeMeta": {"kind": "pod"}, "metrics": null});
        let with_errors = |errors: Value| {
            json!({"listMeta": {"totalItems": 2}, "pods": [pod("a"), pod("b")],
            "cumulativeMetrics": cumulative(2, 1_000_020, 40, 200 << 20), "status": {"running": 2}, "errors": errors})
        };
        assert!(dashboard_list(&with_errors(json!([])), "pods", now, MAX_AGE).is_pass());
        match dashboard_list(
            &with_errors(json!([forbidden("events")])),
            "pods",
            now,
            MAX_AGE,
        ) {
            Verdict::Pass(m) => assert!(
                m.contains("40m") && m.contains("could not read events"),
                "{m}"
            ),
            other => panic!("events refused is not missing metrics: {other:?}"),
        }
        let refused = json!({"pods": [], "cumulativeMetrics": [], "errors": [forbidden("pods"), forbidden("events")]});
        assert!(
            matches!(dashboard_list(&refused, "pods", now, MAX_AGE), Verdict::Fail(r) if r.contains("pods is forbidden") && !r.contains("events is forbidden"))
        );
        // An error that names no resource counts against the list.
        let unknown = with_errors(
            json!([{"ErrStatus": {"message": "MSG_LOGIN_UNAUTHORIZED_ERROR", "code": 401}}]),
        );
        assert!(matches!(
            dashboard_list(&unknown, "pods", now, MAX_AGE),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn list_errors_name_their_resource() {
        let errors = list_errors(&json!({"errors": [forbidden("events"),
            {"ErrStatus": {"message": "nodes is forbidden: User \"x\" cannot list resource \"nodes\" in API group \"\" at the cluster scope", "code": 403}}]}));
        assert_eq!(errors[0].resource.as_deref(), Some("events"));
        assert_eq!(errors[1].resource.as_deref(), Some("nodes"));
        let empty = json!({"nodes": [{}], "errors": [], "cumulativeMetrics": []});
        assert!(matches!(
            dashboard_list(&empty, "nodes", Timestamp::from_second(0).unwrap(), MAX_AGE),
            Verdict::Wait(_)
        ));
        assert!(
            matches!(dashboard_list(&json!({"errors": []}), "nodes", Timestamp::from_second(0).unwrap(), MAX_AGE), Verdict::Fail(r) if r.contains("malformed"))
        );
    }

    #[test]
    fn ground_truth_within_and_outside_tolerance() {
        assert!(
            matches!(ground_truth("load-cpu", "cpu/usage_rate", 100, 112, 0.3), Verdict::Pass(m) if m.contains("measured 112m, target 100m, tolerance ±30% (+12%)"))
        );
        assert!(
            matches!(ground_truth("load-cpu", "cpu/usage_rate", 100, 1001, 0.3), Verdict::Wait(m) if m.contains("measured 1001m, target 100m") && m.contains("+901%"))
        );
        assert!(
            matches!(ground_truth("load-memory", "memory/usage", 64 << 20, 30 << 20, 0.3), Verdict::Wait(m) if m.contains("-53%"))
        );
    }

    #[test]
    fn integration_state_shapes() {
        assert!(
            integration_state(
                &json!({"connected": true, "lastChecked": "2026-11-25T10:00:00Z", "error": null})
            )
            .is_pass()
        );
        assert!(matches!(
            integration_state(&json!({"connected": false, "error": {"x": 1}})),
            Verdict::Wait(_)
        ));
        let status_error = json!({"connected": false, "lastChecked": "2026-11-25T10:00:00Z", "error": {"ErrStatus": {
            "metadata": {}, "status": "Failure", "message": "unknown (get services heapster)", "reason": "Forbidden", "code": 403}}});
        assert!(
            matches!(integration_state(&status_error), Verdict::Wait(r) if r.ends_with("unknown (get services heapster)"))
        );
        assert!(matches!(
            integration_state(&json!({"state": "?"})),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn influx_and_grafana() {
        let dbs = json!({"results": [{"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": [["_internal"], ["k8s"]]}]}]});
        assert!(influx_databases(&dbs).is_pass());
        let no_k8s = json!({"results": [{"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": [["_internal"]]}]}]});
        assert!(matches!(influx_databases(&no_k8s), Verdict::Wait(_)));
        let now: Timestamp = "2026-11-25T10:00:30Z".parse().unwrap();
        let series = json!({"results": [{"statement_id": 0, "series": [{"name": "cpu/usage_rate", "tags": {"nodename": "a"}, "columns": ["time", "last"], "values": [["2026-11-25T10:00:20Z", 300]]}]}]});
        assert!(
            influx_node_series(
                &series,
                "cpu/usage_rate",
                &["a".into()],
                now,
                Duration::from_secs(120)
            )
            .is_pass()
        );
        assert!(
            matches!(influx_node_series(&series, "cpu/usage_rate", &["a".into(), "b".into()], now, Duration::from_secs(120)), Verdict::Wait(r) if r.contains("b: no cpu/usage_rate series"))
        );
        assert!(grafana_health(&json!({"database": "ok", "version": "5.0.4"})).is_pass());
        assert!(grafana_datasource(&json!([{"name": "influxdb-datasource", "type": "influxdb", "database": "k8s", "url": "http://monitoring-influxdb:8086"}])).is_pass());
        assert!(matches!(
            grafana_datasource(&json!([{"type": "prometheus"}])),
            Verdict::Wait(_)
        ));
    }
}
