//! The checks: what each one fetches (through the API server only) and which verdict
//! judges it. `plan` turns a cluster into the list of checks, one per node and pod where
//! the check is per node or pod. Nothing here writes to the cluster: GET, LIST and proxied
//! requests only (the dashboard login is a POST through the service proxy, which stores nothing).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Secret, Service};
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use serde_json::{Value, json};

use crate::kubeclient::{self, Answer, retry};
use crate::verdict::{self, SeriesRules, Verdict};

/// Where the stack lives and how it is named (the dashboard requires `kube-system/heapster`).
pub const NAMESPACE: &str = "kube-system";
pub const HEAPSTER: &str = "heapster";
pub const INFLUXDB: &str = "monitoring-influxdb";
pub const GRAFANA: &str = "monitoring-grafana";
pub const DASHBOARD: &str = "kubernetes-dashboard";
pub const DASHBOARD_PROXY: &str = "https:kubernetes-dashboard:";
pub const STACK: &[&str] = &[HEAPSTER, INFLUXDB, GRAFANA, DASHBOARD];
/// The read-only identity the checks log in to the dashboard with (manifests/60-dashboard-checks.yaml).
pub const CHECKS_TOKEN_SECRET: &str = "heapster-e2e-checks-token";
pub const METRICS: &[&str] = &["cpu/usage_rate", "memory/usage"];

#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Node count the cluster must have (from the kind config, or `--nodes`).
    pub expected_nodes: Option<usize>,
    /// Oldest acceptable latest point.
    pub max_age: Duration,
    /// How long the suite may wait for states that can still heal.
    pub timeout: Duration,
    /// How often a waiting check looks again.
    pub poll: Duration,
    pub dashboard_token_file: Option<PathBuf>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            expected_nodes: None,
            max_age: Duration::from_secs(120),
            timeout: Duration::from_secs(300),
            poll: Duration::from_secs(2),
            dashboard_token_file: None,
        }
    }
}

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub cpu_millicores: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub age: Option<Duration>,
}

impl NodeRow {
    /// CPU in millicores, memory in MiB, age of the latest point; `-` where unknown.
    pub fn cells(&self) -> [String; 3] {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        [
            or_dash(self.cpu_millicores.map(|c| c.to_string())),
            or_dash(
                self.memory_bytes
                    .map(|m| format!("{:.0}", m as f64 / 1048576.0)),
            ),
            or_dash(self.age.map(crate::duration::format)),
        ]
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub nodes: BTreeMap<String, NodeRow>,
    pub pods_running: usize,
    pub pods_with_metrics: std::collections::BTreeSet<String>,
    /// Ground truth: `what -> (target, last measured)`.
    pub ground_truth: BTreeMap<String, (String, Option<String>)>,
}

/// What every check shares: the client, the settings, the dashboard session, the
/// summary being filled in, and a short-lived snapshot of the stack's state.
pub struct Ctx {
    pub client: Client,
    pub config: CheckConfig,
    dashboard_session: tokio::sync::Mutex<Option<String>>,
    dashboard_token: Option<String>,
    pub summary: Mutex<Summary>,
    snapshot: tokio::sync::Mutex<Option<(Instant, Snapshot)>>,
    /// The last raw answer per request the checks judged (kept as evidence).
    pub responses: Mutex<BTreeMap<String, Answer>>,
    started: Instant,
    /// How long after the checks started the first node metrics passed.
    pub first_metrics: Mutex<Option<Duration>>,
    /// The calibrated load, when the run started one.
    pub load: Option<crate::load::Load>,
    /// Interrupts waiting checks.
    pub cancel: crate::cancel::Cancel,
}

#[derive(Clone, Default)]
struct Snapshot {
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    heapster_service: Option<bool>,
}

impl Snapshot {
    fn ready_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| node_ready(n))
            .map(node_name)
            .collect()
    }
}

pub type Probe = Arc<dyn Fn(Arc<Ctx>) -> BoxFuture<'static, Verdict> + Send + Sync>;

pub struct Check {
    pub name: String,
    pub probe: Probe,
    /// Not run, with the reason (a missing prerequisite).
    pub ignored: Option<String>,
}

fn check<F, Fut>(name: impl Into<String>, f: F) -> Check
where
    F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Verdict> + Send + 'static,
{
    Check {
        name: name.into(),
        probe: Arc::new(move |ctx| f(ctx).boxed()),
        ignored: None,
    }
}

/// The cluster has none of the stack: the harness cannot run (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("none of the stack's Deployments ({}) exist in {NAMESPACE}: is this the right cluster and context? Bring the stack up with `cargo xtask up`", STACK.join(", "))]
pub struct NoStack;

impl Ctx {
    pub fn new(client: Client, config: CheckConfig) -> Self {
        Ctx {
            client,
            config,
            dashboard_session: Default::default(),
            dashboard_token: None,
            summary: Default::default(),
            snapshot: Default::default(),
            responses: Default::default(),
            started: Instant::now(),
            first_metrics: Default::default(),
            load: None,
            cancel: Default::default(),
        }
    }

    fn record(&self, what: &str, answer: &Answer) {
        self.responses
            .lock()
            .expect("responses lock")
            .insert(what.to_string(), answer.clone());
    }

    /// A failure message with the known causes and fixes of its symptoms; when the
    /// symptom is heapster failing to scrape, heapster's own last log lines and their hints.
    pub async fn explain(&self, message: &str) -> String {
        let hints = crate::diagnose::hints(message);
        let mut out = crate::diagnose::explain(message, &hints);
        if crate::diagnose::wants_heapster_log(&hints)
            && let Some(log) = self.heapster_log_tail(15).await
        {
            out.push_str("\n  heapster's last log lines:");
            for line in log.lines() {
                out.push_str(&format!("\n    {line}"));
            }
            let from_log: Vec<_> = crate::diagnose::hints(&log)
                .into_iter()
                .filter(|h| !hints.contains(h))
                .collect();
            for h in from_log {
                out.push_str(&format!("\n  {h}"));
            }
        }
        out
    }

    async fn heapster_log_tail(&self, lines: i64) -> Option<String> {
        let snap = self.snapshot().await.ok()?;
        let pod = snap
            .pods
            .iter()
            .find(|p| pod_belongs_to(p, HEAPSTER))?
            .metadata
            .name
            .clone()?;
        let params = LogParams {
            tail_lines: Some(lines),
            ..Default::default()
        };
        Api::<Pod>::namespaced(self.client.clone(), NAMESPACE)
            .logs(&pod, &params)
            .await
            .ok()
    }

    fn rules(&self, must_be_positive: bool, capacity: Option<i64>) -> SeriesRules {
        SeriesRules {
            now: Timestamp::now(),
            max_age: self.config.max_age,
            must_be_positive,
            capacity,
        }
    }

    /// Nodes, stack pods and the heapster Service, fetched at most once per poll interval.
    async fn snapshot(&self) -> Result<Snapshot, Verdict> {
        let mut cached = self.snapshot.lock().await;
        if let Some((at, snap)) = cached.as_ref()
            && at.elapsed() < self.config.poll / 2
        {
            return Ok(snap.clone());
        }
        let lp = ListParams::default();
        let (node_api, pod_api) = (
            Api::<Node>::all(self.client.clone()),
            Api::<Pod>::namespaced(self.client.clone(), NAMESPACE),
        );
        let service_api = Api::<Service>::namespaced(self.client.clone(), NAMESPACE);
        let nodes = retry(|| node_api.list(&lp)).await.map_err(api_wait)?.items;
        let pods = retry(|| pod_api.list(&lp)).await.map_err(api_wait)?.items;
        let heapster_service = match retry(|| service_api.get_opt(HEAPSTER)).await {
            Ok(s) => Some(s.is_some()),
            Err(_) => None,
        };
        let snap = Snapshot {
            nodes,
            pods,
            heapster_service,
        };
        *cached = Some((Instant::now(), snap.clone()));
        Ok(snap)
    }

    /// A cause that makes waiting pointless for a check that needs the pods of
    /// `components` (and, with `needs_heapster`, a reachable heapster): no nodes, no
    /// heapster Service, or a pod that cannot start.
    async fn blocked(&self, components: &[&str], needs_heapster: bool) -> Option<String> {
        let snap = self.snapshot().await.ok()?;
        if snap.nodes.is_empty() {
            return Some("the cluster has zero nodes".into());
        }
        if needs_heapster && snap.heapster_service == Some(false) {
            return Some(format!(
                "no heapster service: Service {NAMESPACE}/{HEAPSTER} does not exist (the dashboard and these checks reach heapster through it)"
            ));
        }
        let heapster = needs_heapster.then_some(HEAPSTER);
        let components: Vec<&str> = components.iter().copied().chain(heapster).collect();
        let now = Timestamp::now();
        for component in components {
            for pod in snap.pods.iter().filter(|p| pod_belongs_to(p, component)) {
                if let Some(problem) =
                    verdict::pod_problem(pod, now, crate::rollout::UNSCHEDULABLE_GRACE)
                {
                    return Some(format!("{component} cannot serve: {problem}"));
                }
            }
        }
        None
    }
}

/// Stack pods are named after their Deployment (`heapster-<hash>-<id>`).
fn pod_belongs_to(pod: &Pod, deployment: &str) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .next()
        .map(|o| o.name.as_str())
        .unwrap_or_default();
    owner
        .strip_prefix(deployment)
        .is_some_and(|rest| rest.starts_with('-') && !rest[1..].contains('-'))
        || name == deployment
}

fn api_wait(e: kube::Error) -> Verdict {
    Verdict::Wait(format!("API error: {e}"))
}

fn node_name(n: &Node) -> String {
    n.metadata.name.clone().unwrap_or_default()
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Kubernetes quantities: CPU in millicores (`4`, `3500m`), memory in bytes (`24653492Ki`, `16Gi`).
pub fn parse_quantity(q: &str, cpu: bool) -> Option<i64> {
    let (num, unit) = q
        .find(|c: char| c.is_alphabetic())
        .map(|i| q.split_at(i))
        .unwrap_or((q, ""));
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match (cpu, unit) {
        (true, "") => 1000.0,
        (true, "m") => 1.0,
        (false, "") => 1.0,
        (false, "Ki") => 1024.0,
        (false, "Mi") => 1024f64.powi(2),
        (false, "Gi") => 1024f64.powi(3),
        (false, "Ti") => 1024f64.powi(4),
        (false, "k") => 1e3,
        (false, "M") => 1e6,
        (false, "G") => 1e9,
        _ => return None,
    };
    Some((n * factor) as i64)
}

fn capacity(n: &Node, metric: &str) -> Option<i64> {
    let cap = n.status.as_ref()?.capacity.as_ref()?;
    let (key, cpu) = if metric.starts_with("cpu") {
        ("cpu", true)
    } else {
        ("memory", false)
    };
    parse_quantity(&cap.get(key)?.0, cpu)
}

/// GET from heapster's model API; a missing service or a stuck pod fails at once.
async fn heapster_json(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[], true).await {
        return Err(Verdict::Fail(cause));
    }
    let answer = kubeclient::proxy_get(&ctx.client, NAMESPACE, HEAPSTER, path)
        .await
        .map_err(api_wait)?;
    ctx.record(&format!("heapster {path}"), &answer);
    answer_json(&answer, "heapster", path)
}

fn answer_json(answer: &Answer, who: &str, path: &str) -> Result<Value, Verdict> {
    if !answer.is_ok() {
        return Err(match answer.api_status() {
            Some((reason, message)) if reason == "Forbidden" => {
                Verdict::Fail(format!("{who} {path}: {message}"))
            }
            Some((_, message)) => Verdict::Wait(format!("{who} {path}: {message}")),
            None => Verdict::Wait(format!(
                "{who} {path} answered {}: {}",
                answer.status,
                kubeclient::snippet(&answer.body)
            )),
        });
    }
    answer
        .json()
        .map_err(|e| Verdict::Fail(format!("{who} {path}: {e}")))
}

async fn heapster_series(
    ctx: &Ctx,
    path: &str,
    metric: &str,
    rules: SeriesRules,
) -> Result<verdict::Point, Verdict> {
    let v = heapster_json(ctx, path).await?;
    let points = verdict::parse_metric_result(&v).map_err(Verdict::Fail)?;
    verdict::series(metric, &points, &rules)
}

/// Names of the nodes that are Ready now.
pub async fn ready_nodes(client: &Client) -> Result<Vec<String>, kube::Error> {
    let api = Api::<Node>::all(client.clone());
    let lp = ListParams::default();
    Ok(retry(|| api.list(&lp))
        .await?
        .items
        .iter()
        .filter(|n| node_ready(n))
        .map(node_name)
        .collect())
}

/// The cluster's checks, in name order. An empty list would be a bug, so the caller
/// treats it as one.
pub async fn plan(ctx: &mut Ctx) -> anyhow::Result<Vec<Check>> {
    let client = ctx.client.clone();
    let lp = ListParams::default();
    let (node_api, deploy_api, pod_api) = (
        Api::<Node>::all(client.clone()),
        Api::<Deployment>::namespaced(client.clone(), NAMESPACE),
        Api::<Pod>::namespaced(client.clone(), NAMESPACE),
    );
    let all_nodes = retry(|| node_api.list(&lp)).await?.items;
    let nodes: Vec<String> = all_nodes.iter().map(node_name).collect();
    // A node NotReady at the start is the nodes check's to report, not heapster's.
    let ready: Vec<String> = all_nodes
        .iter()
        .filter(|n| node_ready(n))
        .map(node_name)
        .collect();
    let deployments = retry(|| deploy_api.list(&lp)).await?.items;
    let present: Vec<String> = deployments
        .iter()
        .filter_map(|d| d.metadata.name.clone())
        .filter(|n| STACK.contains(&n.as_str()))
        .collect();
    if present.is_empty() {
        return Err(NoStack.into());
    }
    let pods: Vec<String> = retry(|| pod_api.list(&lp))
        .await?
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some_and(|n| ready.contains(n))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    {
        // Every node gets a row, so the table shows the failing ones too.
        let mut summary = ctx.summary.lock().expect("summary lock");
        summary.pods_running = pods.len();
        for node in &ready {
            summary.nodes.insert(
                node.clone(),
                NodeRow {
                    cpu_millicores: None,
                    memory_bytes: None,
                    age: None,
                },
            );
        }
    }
    ctx.dashboard_token = dashboard_token(ctx).await;

    let mut checks = vec![check("nodes::count", nodes_count)];
    for node in &nodes {
        let n = node.clone();
        checks.push(check(format!("nodes::ready::{node}"), move |ctx| {
            node_ready_check(ctx, n.clone())
        }));
    }
    for node in &ready {
        let n = node.clone();
        checks.push(check(
            format!("heapster::node_metrics::{node}"),
            move |ctx| node_metrics(ctx, n.clone()),
        ));
    }
    for d in STACK {
        checks.push(check(format!("workloads::{d}"), move |ctx| {
            workload(ctx, d)
        }));
    }
    checks.push(check("heapster::health", heapster_health));
    checks.push(check("heapster::nodes", heapster_nodes));
    for pod in &pods {
        let p = pod.clone();
        checks.push(check(format!("heapster::pod_metrics::{pod}"), move |ctx| {
            pod_metrics(ctx, p.clone())
        }));
    }
    let all_pods = pods.clone();
    checks.push(check("heapster::pod_list_metrics", move |ctx| {
        pod_list_metrics(ctx, all_pods.clone())
    }));
    checks.push(check("influxdb::database", influx_database));
    checks.push(check("influxdb::node_series", influx_node_series));
    checks.push(check("grafana::health", grafana_health));
    checks.push(check("grafana::datasource", grafana_datasource));
    checks.push(check("dashboard::log", dashboard_log));
    let no_token = ctx.dashboard_token.is_none().then(|| {
        format!("no dashboard login token: Secret {NAMESPACE}/{CHECKS_TOKEN_SECRET} is missing (apply manifests/60-dashboard-checks.yaml) and no --dashboard-token-file was given")
    });
    checks.push(check("dashboard::heapster_state", dashboard_state));
    let mut api_checks = vec![
        check("dashboard::node_metrics", |ctx| {
            dashboard_list(ctx, "/api/v1/node".into(), "nodes")
        }),
        check("dashboard::pod_metrics", |ctx| {
            dashboard_list(ctx, format!("/api/v1/pod/{NAMESPACE}"), "pods")
        }),
    ];
    for c in &mut api_checks {
        c.ignored = no_token.clone();
    }
    checks.extend(api_checks);
    if let Some(load) = ctx.load.clone() {
        checks.extend(ground_truth_checks(&load));
        let mut summary = ctx.summary.lock().expect("summary lock");
        let targets = [
            ("cpu", "cpu/usage_rate", load.config.cpu_millicores),
            ("memory", "memory/usage", load.config.memory_mib << 20),
        ];
        for (what, metric, target) in targets {
            summary.ground_truth.insert(
                what.to_string(),
                (crate::verdict::human_value(metric, target), None),
            );
        }
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checks)
}

/// The ground-truth checks of a calibrated load.
fn ground_truth_checks(load: &crate::load::Load) -> Vec<Check> {
    let (a, b, c, d, e) = (
        load.clone(),
        load.clone(),
        load.clone(),
        load.clone(),
        load.clone(),
    );
    vec![
        check("ground_truth::cpu", move |ctx| {
            ground_truth_pod(ctx, a.clone(), "cpu", "cpu/usage_rate")
        }),
        check("ground_truth::memory", move |ctx| {
            ground_truth_pod(ctx, b.clone(), "memory", "memory/usage")
        }),
        check("ground_truth::node_covers_pod", move |ctx| {
            ground_truth_node(ctx, c.clone())
        }),
        check("ground_truth::influxdb", move |ctx| {
            ground_truth_influx(ctx, d.clone())
        }),
        check("ground_truth::dashboard", move |ctx| {
            ground_truth_dashboard(ctx, e.clone())
        }),
    ]
}

fn pod_series_path(ns: &str, pod: &str, metric: &str) -> String {
    format!("/api/v1/model/namespaces/{ns}/pods/{pod}/metrics/{metric}")
}

async fn ground_truth_pod(
    ctx: Arc<Ctx>,
    load: crate::load::Load,
    what: &'static str,
    metric: &'static str,
) -> Verdict {
    let (pod, target) = if what == "cpu" {
        (&load.cpu_pod, load.config.cpu_millicores)
    } else {
        (&load.memory_pod, load.config.memory_mib << 20)
    };
    let point = match heapster_series(
        &ctx,
        &pod_series_path(&load.namespace, pod, metric),
        metric,
        ctx.rules(false, None),
    )
    .await
    {
        Ok(p) => p,
        Err(v) => return v,
    };
    if let Some(row) = ctx
        .summary
        .lock()
        .expect("summary lock")
        .ground_truth
        .get_mut(what)
    {
        row.1 = Some(crate::verdict::human_value(metric, point.value));
    }
    crate::verdict::ground_truth(pod, metric, target, point.value, load.config.tolerance)
}

async fn ground_truth_node(ctx: Arc<Ctx>, load: crate::load::Load) -> Verdict {
    let metric = "cpu/usage_rate";
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &load.namespace);
    let pod = match retry(|| pods.get(&load.cpu_pod)).await {
        Ok(p) => p,
        Err(e) => return api_wait(e),
    };
    let Some(node) = pod.spec.and_then(|s| s.node_name) else {
        return Verdict::Wait("the CPU load pod is not scheduled".into());
    };
    let pod_cpu = match heapster_series(
        &ctx,
        &pod_series_path(&load.namespace, &load.cpu_pod, metric),
        metric,
        ctx.rules(true, None),
    )
    .await
    {
        Ok(p) => p.value,
        Err(v) => return v,
    };
    match heapster_series(
        &ctx,
        &format!("/api/v1/model/nodes/{node}/metrics/{metric}"),
        metric,
        ctx.rules(true, None),
    )
    .await
    {
        Ok(p) if p.value >= pod_cpu => {
            Verdict::Pass(format!("node {node} {}m >= load pod {pod_cpu}m", p.value))
        }
        Ok(p) => Verdict::Wait(format!(
            "node {node} reports {}m, less than its load pod's {pod_cpu}m",
            p.value
        )),
        Err(v) => v,
    }
}

async fn ground_truth_influx(ctx: Arc<Ctx>, load: crate::load::Load) -> Verdict {
    let q = format!(
        "SELECT last(\"value\") FROM \"cpu/usage_rate\" WHERE \"type\" = 'pod' AND \"namespace_name\" = '{}' AND \"pod_name\" = '{}' GROUP BY \"pod_name\"",
        load.namespace, load.cpu_pod
    );
    let v = match influx_query(&ctx, &q).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let row = &v["results"][0]["series"][0]["values"][0];
    match (row[0].as_str(), row[1].as_i64()) {
        (Some(t), Some(value)) => Verdict::Pass(format!(
            "InfluxDB holds {}'s series: {value}m at {t}",
            load.cpu_pod
        )),
        _ => Verdict::Wait(format!(
            "InfluxDB has no cpu/usage_rate series for {}/{} yet",
            load.namespace, load.cpu_pod
        )),
    }
}

async fn ground_truth_dashboard(ctx: Arc<Ctx>, load: crate::load::Load) -> Verdict {
    let path = format!("/api/v1/pod/{}", load.namespace);
    let v = match dashboard_get(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let listed = v["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["objectMeta"]["name"] == load.cpu_pod.as_str());
    if !listed {
        return Verdict::Wait(format!(
            "the dashboard's pod list of {} does not show {}",
            load.namespace, load.cpu_pod
        ));
    }
    match crate::verdict::dashboard_list(&v, "pods", Timestamp::now(), ctx.config.max_age) {
        Verdict::Pass(m) => Verdict::Pass(format!("{} listed; {m}", load.cpu_pod)),
        other => other,
    }
}

async fn dashboard_token(ctx: &Ctx) -> Option<String> {
    if let Some(file) = &ctx.config.dashboard_token_file {
        return std::fs::read_to_string(file)
            .ok()
            .map(|t| t.trim().to_string());
    }
    let api = Api::<Secret>::namespaced(ctx.client.clone(), NAMESPACE);
    let secret = retry(|| api.get_opt(CHECKS_TOKEN_SECRET)).await.ok()??;
    let token = secret.data?.get("token")?.0.clone();
    String::from_utf8(token).ok()
}

async fn nodes_count(ctx: Arc<Ctx>) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    match (snap.nodes.len(), ctx.config.expected_nodes) {
        (0, _) => Verdict::Fail("the cluster has zero nodes".into()),
        (n, Some(want)) if n != want => Verdict::Wait(format!("{n} nodes, expected {want}")),
        (n, _) => Verdict::Pass(format!("{n} nodes")),
    }
}

async fn node_ready_check(ctx: Arc<Ctx>, node: String) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    match snap.nodes.iter().find(|n| node_name(n) == node) {
        None => Verdict::Fail(format!("node {node} is gone")),
        Some(n) if node_ready(n) => Verdict::Pass("Ready".into()),
        Some(n) => {
            let cond = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .cloned();
            let why = cond
                .map(|c| {
                    format!(
                        "Ready={} ({}: {})",
                        c.status,
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no Ready condition".into());
            Verdict::Wait(format!("node {node} is NotReady: {why}"))
        }
    }
}

async fn workload(ctx: Arc<Ctx>, name: &'static str) -> Verdict {
    if let Some(cause) = ctx.blocked(&[name], false).await {
        return Verdict::Fail(cause);
    }
    let api = Api::<Deployment>::namespaced(ctx.client.clone(), NAMESPACE);
    match retry(|| api.get_opt(name)).await {
        Err(e) => api_wait(e),
        Ok(None) => Verdict::Fail(format!("Deployment {NAMESPACE}/{name} does not exist")),
        Ok(Some(d)) => match verdict::deployment_available(&d) {
            Ok(()) => Verdict::Pass("available".into()),
            Err(why) => Verdict::Wait(why),
        },
    }
}

async fn heapster_health(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx.blocked(&[], true).await {
        return Verdict::Fail(cause);
    }
    match kubeclient::proxy_get(&ctx.client, NAMESPACE, HEAPSTER, "/healthz").await {
        Ok(answer) => {
            ctx.record("heapster /healthz", &answer);
            verdict::heapster_health(&answer)
        }
        Err(e) => api_wait(e),
    }
}

async fn heapster_nodes(ctx: Arc<Ctx>) -> Verdict {
    let listed: Vec<String> = match heapster_json(&ctx, "/api/v1/model/nodes").await {
        Ok(v) => match serde_json::from_value(v) {
            Ok(l) => l,
            Err(e) => return Verdict::Fail(format!("malformed heapster node list: {e}")),
        },
        Err(v) => return v,
    };
    let ready = match ctx.snapshot().await {
        Ok(s) => s.ready_nodes(),
        Err(v) => return v,
    };
    verdict::heapster_nodes(&listed, &ready)
}

async fn node_metrics(ctx: Arc<Ctx>, node: String) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let Some(n) = snap.nodes.iter().find(|n| node_name(n) == node) else {
        return Verdict::Fail(format!("node {node} is gone"));
    };
    if !node_ready(n) {
        // The nodes check reports a NotReady node; heapster cannot scrape it.
        return Verdict::Wait(format!(
            "node {node} is NotReady, so heapster cannot scrape it"
        ));
    }
    let mut row = NodeRow {
        cpu_millicores: None,
        memory_bytes: None,
        age: None,
    };
    let mut seen = Vec::new();
    for metric in METRICS {
        let path = format!("/api/v1/model/nodes/{node}/metrics/{metric}");
        match heapster_series(&ctx, &path, metric, ctx.rules(true, capacity(n, metric))).await {
            Ok(p) => {
                let age = verdict::age(Timestamp::now(), p.timestamp);
                if metric.starts_with("cpu") {
                    row.cpu_millicores = Some(p.value)
                } else {
                    row.memory_bytes = Some(p.value)
                }
                row.age = Some(row.age.map_or(age, |a| a.max(age)));
                seen.push(format!(
                    "{metric} {}",
                    verdict::human_value(metric, p.value)
                ));
            }
            Err(v) => return v,
        }
    }
    let age = row.age.unwrap_or_default();
    ctx.first_metrics
        .lock()
        .expect("first metrics lock")
        .get_or_insert(ctx.started.elapsed());
    ctx.summary
        .lock()
        .expect("summary lock")
        .nodes
        .insert(node, row);
    Verdict::Pass(format!(
        "{}, latest point {} old",
        seen.join(", "),
        crate::duration::format(age)
    ))
}

async fn pod_metrics(ctx: Arc<Ctx>, pod: String) -> Verdict {
    let mut seen = Vec::new();
    for metric in METRICS {
        let path = format!("/api/v1/model/namespaces/{NAMESPACE}/pods/{pod}/metrics/{metric}");
        // Idle pods may use no CPU; memory of a running pod is never zero.
        let rules = ctx.rules(metric.starts_with("memory"), None);
        match heapster_series(&ctx, &path, metric, rules).await {
            Ok(p) => seen.push(format!(
                "{metric} {}",
                verdict::human_value(metric, p.value)
            )),
            Err(v) => return v,
        }
    }
    ctx.summary
        .lock()
        .expect("summary lock")
        .pods_with_metrics
        .insert(pod);
    Verdict::Pass(seen.join(", "))
}

async fn pod_list_metrics(ctx: Arc<Ctx>, pods: Vec<String>) -> Verdict {
    if pods.is_empty() {
        return Verdict::Fail(format!("no running pods in {NAMESPACE}"));
    }
    let path = format!(
        "/api/v1/model/namespaces/{NAMESPACE}/pod-list/{}/metrics/memory/usage",
        pods.join(",")
    );
    let v = match heapster_json(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let Some(items) = v["items"].as_array() else {
        return Verdict::Fail(format!(
            "malformed pod-list answer: {}",
            kubeclient::snippet(&v.to_string())
        ));
    };
    if items.len() != pods.len() {
        return Verdict::Fail(format!(
            "pod-list answered {} items for {} pods",
            items.len(),
            pods.len()
        ));
    }
    let mut missing = Vec::new();
    for (pod, item) in pods.iter().zip(items) {
        let ok = verdict::parse_metric_result(item)
            .map(|points| verdict::series("memory/usage", &points, &ctx.rules(true, None)).is_ok());
        match ok {
            Ok(true) => {}
            Ok(false) => missing.push(pod.as_str()),
            Err(e) => return Verdict::Fail(e),
        }
    }
    if missing.is_empty() {
        Verdict::Pass(format!(
            "memory/usage for all {} pods in one request",
            pods.len()
        ))
    } else {
        Verdict::Wait(format!(
            "no fresh memory/usage in the batch answer for: {}",
            missing.join(", ")
        ))
    }
}

async fn influx_query(ctx: &Ctx, query: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[INFLUXDB], true).await {
        return Err(Verdict::Fail(cause));
    }
    let encoded: String = form_encode(&[("db", "k8s"), ("q", query)]);
    let answer = kubeclient::proxy_get(
        &ctx.client,
        NAMESPACE,
        &format!("{INFLUXDB}:8086"),
        &format!("/query?{encoded}"),
    )
    .await
    .map_err(api_wait)?;
    ctx.record(&format!("influxdb {query}"), &answer);
    answer_json(&answer, "InfluxDB", "/query")
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn influx_database(ctx: Arc<Ctx>) -> Verdict {
    match influx_query(&ctx, "SHOW DATABASES").await {
        Ok(v) => verdict::influx_databases(&v),
        Err(v) => v,
    }
}

async fn influx_node_series(ctx: Arc<Ctx>) -> Verdict {
    let ready = match ctx.snapshot().await {
        Ok(s) => s.ready_nodes(),
        Err(v) => return v,
    };
    let mut seen = Vec::new();
    for metric in METRICS {
        let q = format!(
            "SELECT last(\"value\") FROM \"{metric}\" WHERE \"type\" = 'node' AND time > now() - 10m GROUP BY \"nodename\""
        );
        match influx_query(&ctx, &q).await {
            Ok(v) => match verdict::influx_node_series(
                &v,
                metric,
                &ready,
                Timestamp::now(),
                ctx.config.max_age,
            ) {
                Verdict::Pass(m) => seen.push(m),
                other => return other,
            },
            Err(v) => return v,
        }
    }
    Verdict::Pass(seen.join("; "))
}

async fn grafana_get(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[GRAFANA], false).await {
        return Err(Verdict::Fail(cause));
    }
    let answer = kubeclient::proxy_get(&ctx.client, NAMESPACE, GRAFANA, path)
        .await
        .map_err(api_wait)?;
    ctx.record(&format!("grafana {path}"), &answer);
    answer_json(&answer, "Grafana", path)
}

async fn grafana_health(ctx: Arc<Ctx>) -> Verdict {
    grafana_get(&ctx, "/api/health")
        .await
        .map_or_else(|v| v, |v| verdict::grafana_health(&v))
}

async fn grafana_datasource(ctx: Arc<Ctx>) -> Verdict {
    grafana_get(&ctx, "/api/datasources")
        .await
        .map_or_else(|v| v, |v| verdict::grafana_datasource(&v))
}

async fn dashboard_log(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx.blocked(&[DASHBOARD], true).await {
        return Verdict::Fail(cause);
    }
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let Some(pod) = snap.pods.iter().find(|p| {
        pod_belongs_to(p, DASHBOARD)
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    }) else {
        return Verdict::Wait("no running dashboard pod yet".into());
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    let params = LogParams::default();
    let log = match retry(|| pods.logs(&name, &params)).await {
        Ok(l) => l,
        Err(e) => return api_wait(e),
    };
    ctx.record(
        "dashboard log",
        &Answer {
            status: 200,
            body: log.clone(),
        },
    );
    let state = verdict::dashboard_log(&log);
    // A missing service is certain once the API confirms it; until then it may heal.
    if let verdict::LogState::MissingService(line) = &state
        && snap.heapster_service == Some(false)
    {
        return Verdict::Fail(format!("no heapster service; the dashboard says: {line}"));
    }
    verdict::dashboard_log_verdict(&state)
}

/// Log in to the dashboard like its UI does (CSRF token, then the service account token),
/// once; the `jweToken` then goes with each request (custom headers pass the proxy).
async fn dashboard_session(ctx: &Ctx) -> Result<String, Verdict> {
    let mut session = ctx.dashboard_session.lock().await;
    if let Some(jwe) = session.as_ref() {
        return Ok(jwe.clone());
    }
    let Some(token) = ctx.dashboard_token.clone() else {
        return Err(Verdict::Fail("no dashboard login token".into()));
    };
    let csrf_path =
        kubeclient::service_proxy_path(NAMESPACE, DASHBOARD_PROXY, "/api/v1/csrftoken/login");
    let csrf = kubeclient::raw(&ctx.client, http::Method::GET, &csrf_path, &[], vec![])
        .await
        .map_err(api_wait)?;
    let csrf = answer_json(&csrf, "dashboard", "/api/v1/csrftoken/login")?;
    let csrf = csrf["token"].as_str().unwrap_or_default().to_string();
    let login_path = kubeclient::service_proxy_path(NAMESPACE, DASHBOARD_PROXY, "/api/v1/login");
    let body = json!({"token": token}).to_string().into_bytes();
    let answer = kubeclient::raw(
        &ctx.client,
        http::Method::POST,
        &login_path,
        &[
            ("X-CSRF-TOKEN", &csrf),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
    .map_err(api_wait)?;
    let v = answer_json(&answer, "dashboard", "/api/v1/login")?;
    match v["jweToken"].as_str().filter(|t| !t.is_empty()) {
        Some(jwe) => {
            *session = Some(jwe.to_string());
            Ok(jwe.to_string())
        }
        None => Err(Verdict::Fail(format!(
            "the dashboard refused the checks' login: {}",
            v["errors"]
        ))),
    }
}

/// Whether the dashboard refused the session: a 401 without one, and a 500
/// `MSG_TOKEN_EXPIRED_ERROR` once its JWE token outlived `--token-ttl` (900 s): v1.10.1
/// answers expiry with `HandleInternalError` (`auth/jwe/manager.go`, `errors/handler.go`).
pub fn session_refused(answer: &Answer) -> bool {
    answer.status == 401
        || (answer.status == 500 && answer.body.trim() == "MSG_TOKEN_EXPIRED_ERROR")
}

/// GET a dashboard API path with the session, logging in again once if the session is
/// refused (expired after 15 minutes, or a restarted dashboard).
async fn dashboard_get(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[DASHBOARD], true).await {
        return Err(Verdict::Fail(cause));
    }
    let full = kubeclient::service_proxy_path(NAMESPACE, DASHBOARD_PROXY, path);
    let mut renewed = false;
    loop {
        let jwe = dashboard_session(ctx).await?;
        let answer = kubeclient::raw(
            &ctx.client,
            http::Method::GET,
            &full,
            &[("jweToken", &jwe)],
            vec![],
        )
        .await
        .map_err(api_wait)?;
        if session_refused(&answer) {
            *ctx.dashboard_session.lock().await = None;
            if !renewed {
                renewed = true;
                continue;
            }
            return Err(Verdict::Wait(format!(
                "dashboard {path}: refused a fresh session: {} {}",
                answer.status,
                kubeclient::snippet(&answer.body)
            )));
        }
        ctx.record(&format!("dashboard {path}"), &answer);
        return answer_json(&answer, "dashboard", path);
    }
}

/// `integration/{name}/state` needs no login (`integration/handler.go`), so it is read
/// without a session: it works on clusters without the checks' token too.
async fn dashboard_state(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx.blocked(&[DASHBOARD], true).await {
        return Verdict::Fail(cause);
    }
    let path = "/api/v1/integration/heapster/state";
    let full = kubeclient::service_proxy_path(NAMESPACE, DASHBOARD_PROXY, path);
    let answer = match kubeclient::raw(&ctx.client, http::Method::GET, &full, &[], vec![]).await {
        Ok(a) => a,
        Err(e) => return api_wait(e),
    };
    ctx.record(&format!("dashboard {path}"), &answer);
    answer_json(&answer, "dashboard", path).map_or_else(|v| v, |v| verdict::integration_state(&v))
}

async fn dashboard_list(ctx: Arc<Ctx>, path: String, field: &'static str) -> Verdict {
    match dashboard_get(&ctx, &path).await {
        Ok(v) => verdict::dashboard_list(&v, field, Timestamp::now(), ctx.config.max_age),
        Err(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("4", true), Some(4000));
        assert_eq!(parse_quantity("3500m", true), Some(3500));
        assert_eq!(parse_quantity("24653492Ki", false), Some(24653492 * 1024));
        assert_eq!(parse_quantity("16Gi", false), Some(16 * 1024 * 1024 * 1024));
        assert_eq!(parse_quantity("lots", false), None);
    }

    #[test]
    fn influx_queries_are_url_encoded() {
        assert_eq!(
            form_encode(&[("db", "k8s"), ("q", "SHOW DATABASES")]),
            "db=k8s&q=SHOW%20DATABASES"
        );
    }

    #[test]
    fn pods_belong_to_their_deployment_by_owner() {
        let pod = |owner: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": "1"}]}})).unwrap()
        };
        assert!(pod_belongs_to(&pod("heapster-5d9f8c7b6"), HEAPSTER));
        assert!(!pod_belongs_to(
            &pod("monitoring-grafana-5d9f8c7b6"),
            HEAPSTER
        ));
        assert!(pod_belongs_to(
            &pod("monitoring-grafana-5d9f8c7b6"),
            GRAFANA
        ));
    }
}
