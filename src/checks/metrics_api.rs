//! The metrics-server stack's own checks: the APIService `v1beta1.metrics.k8s.io`
//! (kube-aggregator's `Available` condition), `NodeMetrics` and `PodMetrics` from the
//! aggregated API (kubernetes/metrics `pkg/apis/metrics/v1beta1/types.go`), and the
//! dashboard-metrics-scraper's own API through the service proxy (its `/healthz` is a
//! catch-all 200, so only its data proves it; `pkg/api/dashboard/dashboard.go@v1.0.8`).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::Verdict;
use super::context::{Ctx, Needs, answer_json, api_wait};
use super::series::{Point, SeriesRules, age, human_value, parse_quantity, series};
use crate::kubeclient::{self, Answer, snippet};
use crate::layout::Part;

pub const APISERVICE: &str = "v1beta1.metrics.k8s.io";
pub use super::{METRICS_SERVER, SCRAPER};
/// A window longer than this is no sample pair metrics-server would keep.
const MAX_WINDOW: Duration = Duration::from_secs(300);

/// The APIService's `Available` condition. False may heal (metrics-server becomes ready
/// after two scrapes), so it waits with the aggregator's reason and message.
pub fn apiservice(v: &Value) -> Verdict {
    let condition = v["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Available");
    let Some(c) = condition else {
        return Verdict::Wait(format!(
            "APIService {APISERVICE} has no Available condition yet"
        ));
    };
    let (reason, message) = (
        c["reason"].as_str().unwrap_or_default(),
        c["message"].as_str().unwrap_or_default(),
    );
    if c["status"] == "True" {
        Verdict::Pass(format!(
            "APIService {APISERVICE} Available ({reason}: {message})"
        ))
    } else {
        Verdict::Wait(format!(
            "APIService {APISERVICE} not Available: {reason}: {message}"
        ))
    }
}

/// What `kubectl top` (and every client-go client) concludes from discovery: the
/// aggregated `/apis` document (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) lists
/// `metrics.k8s.io/v1beta1` and not `Stale` (client-go drops stale versions; kubectl
/// `top` then fails with "Metrics API not available"). A server answering the legacy
/// `APIGroupList` marks no staleness: the group's presence is all it says
/// (KA@v0.36.2 `handler_discovery.go`, `handler_apis.go`).
pub fn discovery(v: &Value) -> Verdict {
    let gv = "metrics.k8s.io/v1beta1";
    let unavailable = "Metrics API not available";
    match v["kind"].as_str() {
        Some("APIGroupDiscoveryList") => {
            let version = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["metadata"]["name"] == "metrics.k8s.io")
                .flat_map(|i| i["versions"].as_array().cloned().unwrap_or_default())
                .find(|ver| ver["version"] == "v1beta1");
            match version {
                None => Verdict::Wait(format!(
                    "{unavailable}: discovery does not list {gv} (its APIService is missing)"
                )),
                Some(ver) if ver["freshness"] == "Stale" => Verdict::Wait(format!(
                    "{unavailable}: discovery lists {gv} as Stale (the aggregator cannot reach metrics-server), and clients such as kubectl top drop it"
                )),
                Some(ver) => Verdict::Pass(format!(
                    "discovery lists {gv} as current, with {} resources: kubectl top and autoscalers can find it",
                    ver["resources"].as_array().map_or(0, Vec::len)
                )),
            }
        }
        Some("APIGroupList") => {
            let listed = v["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| g["name"] == "metrics.k8s.io")
                .flat_map(|g| g["versions"].as_array().cloned().unwrap_or_default())
                .any(|ver| ver["groupVersion"] == gv);
            if listed {
                Verdict::Pass(format!(
                    "legacy discovery lists {gv} (this server does not say whether it is stale)"
                ))
            } else {
                Verdict::Wait(format!("{unavailable}: discovery does not list {gv}"))
            }
        }
        _ => Verdict::Fail(format!(
            "malformed discovery answer from /apis: {}",
            kubeclient::snippet(&v.to_string())
        )),
    }
}

/// What one `NodeMetrics` or `PodMetrics` says: its sample time, window, and usage summed
/// over containers (CPU in millicores, memory in bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub timestamp: Timestamp,
    pub window: Duration,
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
}

pub fn sample(v: &Value) -> Result<Sample, String> {
    let timestamp: Timestamp = v["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("no valid timestamp in {}", snippet(&v.to_string())))?;
    let window = v["window"]
        .as_str()
        .and_then(crate::duration::parse_go)
        .ok_or_else(|| format!("no valid window in {}", snippet(&v.to_string())))?;
    let usages: Vec<&Value> = match v["containers"].as_array() {
        Some(cs) => cs.iter().map(|c| &c["usage"]).collect(),
        None => vec![&v["usage"]],
    };
    let (mut cpu, mut memory) = (0, 0);
    for u in usages {
        cpu += parse_quantity(u["cpu"].as_str().unwrap_or("?"), true)
            .ok_or_else(|| format!("unreadable cpu {}", u["cpu"]))?;
        memory += parse_quantity(u["memory"].as_str().unwrap_or("?"), false)
            .ok_or_else(|| format!("unreadable memory {}", u["memory"]))?;
    }
    Ok(Sample {
        timestamp,
        window,
        cpu_millicores: cpu,
        memory_bytes: memory,
    })
}

/// A fresh sample with a plausible window; CPU and memory above zero (`must_be_positive`,
/// nodes) and within the node's capacity when known.
pub fn judge(what: &str, s: &Sample, rules: &SeriesRules, capacity: Option<(i64, i64)>) -> Verdict {
    let old = age(rules.now, s.timestamp);
    if old > rules.max_age {
        return Verdict::Wait(format!(
            "{what}: the sample is {} old (more than {})",
            crate::duration::format(old),
            crate::duration::format(rules.max_age)
        ));
    }
    if s.window.is_zero() || s.window > MAX_WINDOW {
        return Verdict::Fail(format!(
            "{what}: implausible window {:?} (a rate over two kubelet samples, seconds apart)",
            s.window
        ));
    }
    if rules.must_be_positive && (s.cpu_millicores <= 0 || s.memory_bytes <= 0) {
        return Verdict::Wait(format!(
            "{what}: usage must be above zero: cpu {}, memory {}",
            human_value("cpu", s.cpu_millicores),
            human_value("memory", s.memory_bytes)
        ));
    }
    if !rules.must_be_positive && s.memory_bytes <= 0 {
        return Verdict::Wait(format!("{what}: memory is zero"));
    }
    if let Some((cpu_cap, mem_cap)) = capacity
        && (s.cpu_millicores > cpu_cap || s.memory_bytes > mem_cap)
    {
        return Verdict::Fail(format!(
            "{what}: usage above capacity: cpu {} of {}, memory {} of {}",
            human_value("cpu", s.cpu_millicores),
            human_value("cpu", cpu_cap),
            human_value("memory", s.memory_bytes),
            human_value("memory", mem_cap)
        ));
    }
    Verdict::Pass(format!(
        "{what}: cpu {}, memory {}, {} ago over {:?}",
        human_value("cpu", s.cpu_millicores),
        human_value("memory", s.memory_bytes),
        crate::duration::format(old),
        s.window
    ))
}

/// An answer of the aggregated API: JSON, or why not (503 while the APIService is not
/// Available, 404 NotFound while metrics-server has no two samples of the object).
fn aggregated_json(answer: &Answer, path: &str) -> Result<Value, Verdict> {
    match answer.status {
        503 => Err(Verdict::Wait(format!(
            "{path}: 503 {} (the aggregator cannot serve metrics.k8s.io)",
            snippet(&answer.body)
        ))),
        404 => Err(Verdict::Wait(format!(
            "{path}: not found: {} (metrics-server has no two samples of it yet, or metrics.k8s.io is not registered)",
            answer
                .api_status()
                .map(|s| s.1)
                .unwrap_or_else(|| snippet(&answer.body))
        ))),
        // 2xx JSON, and the API server's own refusals (403 fails at once).
        _ => answer_json(answer, "API server", path),
    }
}

/// metrics-server's Deployment, by the name the layout found.
fn metrics_server(ctx: &Ctx) -> String {
    ctx.layout.deployment(Part::MetricsServer)
}

/// The scraper's own Service, where the layout found it (the checks read its API, not the
/// dashboard's view of it); `None` on a stack without one.
fn scraper_service(ctx: &Ctx) -> Option<(String, String)> {
    ctx.dashboard()?;
    Some(ctx.layout.service(Part::Scraper))
}

pub(super) async fn get(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx
        .blocked(&[&metrics_server(ctx)], Needs::METRICS_API)
        .await
    {
        return Err(Verdict::Fail(cause));
    }
    let answer = kubeclient::raw(&ctx.client, http::Method::GET, path, &[], vec![])
        .await
        .map_err(api_wait)?;
    ctx.record(path, &answer);
    match aggregated_json(&answer, path) {
        // Why the aggregator cannot serve: the APIService's own condition says.
        Err(Verdict::Wait(m)) if answer.status == 503 => {
            Err(Verdict::Wait(match apiservice_state(ctx).await {
                Some(state) => format!("{m}; {state}"),
                None => m,
            }))
        }
        judged => judged,
    }
}

/// What the APIService's `Available` condition says now, if it can be read.
pub(super) async fn apiservice_state(ctx: &Ctx) -> Option<String> {
    let a = apiservice_answer(ctx).await.ok()?;
    Some(match answer_json(&a, "API server", APISERVICE) {
        Ok(v) => apiservice(&v).message().to_string(),
        Err(v) => v.message().to_string(),
    })
}

fn apiservice_path() -> String {
    format!("/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
}

async fn apiservice_answer(ctx: &Ctx) -> Result<Answer, kube::Error> {
    let path = apiservice_path();
    let answer = kubeclient::raw(&ctx.client, http::Method::GET, &path, &[], vec![]).await?;
    ctx.record(&path, &answer);
    Ok(answer)
}

pub(super) async fn check_apiservice(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx
        .blocked(&[&metrics_server(&ctx)], Needs::METRICS_API)
        .await
    {
        return Verdict::Fail(cause);
    }
    let answer = match apiservice_answer(&ctx).await {
        Ok(a) => a,
        Err(e) => return api_wait(e),
    };
    let path = apiservice_path();
    if answer.status == 404 {
        return Verdict::Fail(format!(
            "no APIService {APISERVICE}: metrics.k8s.io is not registered with the aggregator; apply manifests/metrics-server/"
        ));
    }
    match answer_json(&answer, "API server", &path) {
        Ok(v) => apiservice(&v),
        Err(v) => v,
    }
}

/// Media types client-go asks `/apis` for: the aggregated document first, then legacy.
const DISCOVERY_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

pub(super) async fn check_discovery(ctx: Arc<Ctx>) -> Verdict {
    // The group is Stale in discovery for as long as its APIService cannot be Available.
    if let Some(cause) = ctx
        .blocked(&[&metrics_server(&ctx)], Needs::METRICS_API)
        .await
    {
        return Verdict::Fail(cause);
    }
    let answer = match kubeclient::raw(
        &ctx.client,
        http::Method::GET,
        "/apis",
        &[("accept", DISCOVERY_ACCEPT)],
        vec![],
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return api_wait(e),
    };
    ctx.record("/apis", &answer);
    match answer_json(&answer, "API server", "/apis") {
        Ok(v) => discovery(&v),
        Err(v) => v,
    }
}

pub(super) async fn check_node_metrics(ctx: Arc<Ctx>, node: String) -> Verdict {
    let path = format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}");
    let v = match get(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let s = match sample(&v) {
        Ok(s) => s,
        Err(e) => return Verdict::Fail(format!("NodeMetrics {node}: {e}")),
    };
    let age = age(Timestamp::now(), s.timestamp);
    {
        let mut summary = ctx.summary.lock().expect("summary lock");
        let row = summary.nodes.entry(node.clone()).or_default();
        row.record("cpu", s.cpu_millicores, age);
        row.record("memory", s.memory_bytes, age);
    }
    let cap = super::nodes::node_capacity(&ctx, &node).await;
    let verdict = judge(
        &format!("NodeMetrics {node}"),
        &s,
        &ctx.rules(true, None),
        cap,
    );
    if verdict.is_pass() {
        let mut first = ctx.first_metrics.lock().expect("first metrics lock");
        first.get_or_insert(ctx.started().elapsed());
    }
    verdict
}

pub(super) async fn check_pod_metrics(ctx: Arc<Ctx>, namespace: String, pod: String) -> Verdict {
    let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{pod}");
    ctx.summary
        .lock()
        .expect("summary lock")
        .pods_checked
        .insert(pod.clone());
    let v = match get(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    match sample(&v) {
        Ok(s) => {
            let verdict = judge(
                &format!("PodMetrics {namespace}/{pod}"),
                &s,
                &ctx.rules(false, None),
                None,
            );
            if verdict.is_pass() {
                ctx.summary
                    .lock()
                    .expect("summary lock")
                    .pods_with_metrics
                    .insert(pod);
            }
            verdict
        }
        Err(e) => Verdict::Fail(format!("PodMetrics {namespace}/{pod}: {e}")),
    }
}

/// The scraper's answer for one node and metric: `items[0].metricPoints`, `{"items":null}`
/// while it has no rows for it.
pub fn scraper_points(v: &Value) -> Result<Vec<Point>, Verdict> {
    let Some(items) = v["items"].as_array() else {
        return Err(Verdict::Wait(
            "the scraper holds no samples yet ({\"items\":null}; its first comes one --metric-resolution after it starts)".into(),
        ));
    };
    let Some(item) = items.first() else {
        return Err(Verdict::Wait(
            "the scraper answered an empty item list".into(),
        ));
    };
    item["metricPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            Ok(Point {
                timestamp: p["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| Verdict::Fail(format!("malformed scraper point {p}")))?,
                value: p["value"]
                    .as_i64()
                    .ok_or_else(|| Verdict::Fail(format!("malformed scraper point {p}")))?,
            })
        })
        .collect()
}

/// Why the scraper gives the dashboard no points for `node`, if it holds none (its own
/// answer's reason), and whether that is certain (its log's latest update was refused by
/// the API server); `None` when it has some, or could not be asked.
pub(super) async fn scraper_holds_none(ctx: &Ctx, node: &str) -> Option<(String, bool)> {
    let (ns, service) = scraper_service(ctx)?;
    let path = format!(
        "/api/v1/dashboard/nodes/{node}/metrics/{}",
        super::METRICS[0]
    );
    let answer = kubeclient::proxy_get(&ctx.client, &ns, &service, &path)
        .await
        .ok()?;
    let v = answer_json(&answer, "scraper", &path).ok()?;
    let why = scraper_points(&v).err()?.message().to_string();
    match refused_update(ctx).await {
        Some(line) => Some((refused_rows(&why, &line), true)),
        None => Some((why, false)),
    }
}

/// The scraper's log line for its latest update, if the API server refused it.
async fn refused_update(ctx: &Ctx) -> Option<String> {
    let scraper = ctx.layout.deployment(Part::Scraper);
    scraper_refused(&ctx.log_tail(&scraper, 20).await?)
}

/// No rows (`why`), and the refusal that makes it certain.
fn refused_rows(why: &str, line: &str) -> String {
    format!("{why}; its latest update was refused: {line}")
}

/// The scraper's latest update, when the API server refused it (a 403 for its account
/// on metrics.k8s.io): the `Error scraping ... is forbidden` line, if no `Database
/// updated` came after it (dashboard-metrics-scraper@v1.0.8 `server.go` logs one or the
/// other every `--metric-resolution`).
pub fn scraper_refused(log: &str) -> Option<String> {
    let latest = log
        .lines()
        .rev()
        .find(|l| l.contains("Error scraping") || l.contains("Database updated"))?;
    (latest.contains("Error scraping") && latest.contains("is forbidden"))
        .then(|| latest.trim().to_string())
}

/// The scraper's series of a node, for CPU and memory, through the service proxy as the
/// dashboard asks for them (`/api/v1/dashboard/nodes/N/metrics/cpu/usage_rate`).
pub(super) async fn check_scraper_node(ctx: Arc<Ctx>, node: String) -> Verdict {
    let scraper = ctx.layout.deployment(Part::Scraper);
    if let Some(cause) = ctx.blocked(&[&scraper], Needs::METRIC_DATA).await {
        return Verdict::Fail(cause);
    }
    let Some((ns, service)) = scraper_service(&ctx) else {
        return Verdict::Fail("the scraper is checked only on the metrics-server stack".into());
    };
    let mut seen = Vec::new();
    for metric in super::METRICS {
        let path = format!("/api/v1/dashboard/nodes/{node}/metrics/{metric}");
        let answer = match kubeclient::proxy_get(&ctx.client, &ns, &service, &path).await {
            Ok(a) => a,
            Err(e) => return api_wait(e),
        };
        ctx.record(&format!("scraper {path}"), &answer);
        let v = match answer_json(&answer, "scraper", &path) {
            Ok(v) => v,
            Err(v) => return v,
        };
        let points = match scraper_points(&v) {
            Ok(p) => p,
            // No rows: certain if its account is refused the metrics it lists.
            Err(v) => {
                return match refused_update(&ctx).await {
                    Some(line) => Verdict::Fail(refused_rows(v.message(), &line)),
                    None => v,
                };
            }
        };
        match series(metric, &points, &ctx.rules(true, None)) {
            Ok(p) => seen.push(format!(
                "{metric} {} ({} points)",
                human_value(metric, p.value),
                points.len()
            )),
            Err(v) => return v,
        }
    }
    Verdict::Pass(format!(
        "the scraper holds {node}'s series: {}",
        seen.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scraper_refused_on_its_latest_update_is_certain() {
        let refused = r#"{"level":"error","msg":"Error scraping node metrics: nodes.metrics.k8s.io is forbidden: User \"system:serviceaccount:kubernetes-dashboard:kubernetes-dashboard\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope","time":"2026-12-02T01:00:15Z"}"#;
        let updated = r#"{"level":"info","msg":"Database updated: 3 nodes, 14 pods","time":"2026-12-02T01:00:30Z"}"#;
        let other = r#"{"level":"error","msg":"Error scraping node metrics: the server is currently unable to handle the request (get nodes.metrics.k8s.io)","time":"2026-12-02T01:00:45Z"}"#;
        assert!(scraper_refused(refused).is_some_and(|l| l.contains("is forbidden")));
        assert_eq!(
            scraper_refused(&format!("{refused}\n{updated}")),
            None,
            "healed since"
        );
        assert_eq!(scraper_refused(other), None, "a 503 may heal");
        assert_eq!(scraper_refused(""), None);
    }

    fn rules(now: &str) -> SeriesRules {
        SeriesRules {
            now: now.parse().unwrap(),
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: None,
        }
    }

    #[test]
    fn a_real_kind_node_metrics_answer_passes() {
        // Kuadrant/kuadrant-operator#516: NodeMetrics of a kind node, as captured.
        let v = json!({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": "kuadrant-local-control-plane", "creationTimestamp": "2024-03-12T10:00:12Z"},
            "timestamp": "2024-03-12T10:00:01Z", "window": "10.043s",
            "usage": {"cpu": "64628397n", "memory": "1425132Ki"}});
        let s = sample(&v).unwrap();
        assert_eq!(s.cpu_millicores, 64);
        assert_eq!(s.memory_bytes, 1425132 * 1024);
        assert_eq!(s.window, Duration::from_millis(10_043));
        let cap = Some((4000, 24653492 * 1024));
        assert!(judge("n", &s, &rules("2024-03-12T10:00:30Z"), cap).is_pass());
        assert!(
            matches!(judge("n", &s, &rules("2024-03-12T10:30:00Z"), cap), Verdict::Wait(m) if m.contains("old"))
        );
        assert!(
            matches!(judge("n", &s, &rules("2024-03-12T10:00:30Z"), Some((10, 1 << 40))), Verdict::Fail(m) if m.contains("above capacity"))
        );
    }

    #[test]
    fn pod_usage_is_summed_over_containers_and_windows_must_be_plausible() {
        let v = json!({"timestamp": "2024-03-12T10:00:01Z", "window": "15s", "containers": [
            {"name": "a", "usage": {"cpu": "2m", "memory": "10Mi"}},
            {"name": "b", "usage": {"cpu": "0", "memory": "4Ki"}}]});
        let s = sample(&v).unwrap();
        assert_eq!((s.cpu_millicores, s.memory_bytes), (2, 10 * 1048576 + 4096));
        let long = Sample {
            window: Duration::from_secs(3600),
            ..s
        };
        assert!(
            matches!(judge("p", &long, &rules("2024-03-12T10:00:30Z"), None), Verdict::Fail(m) if m.contains("window"))
        );
    }

    #[test]
    fn aggregated_answers_by_status() {
        let answer = |status: u16, body: &str| Answer {
            status,
            body: body.into(),
        };
        let path = "/apis/metrics.k8s.io/v1beta1/nodes";
        assert_eq!(
            aggregated_json(&answer(200, r#"{"items": []}"#), path).unwrap(),
            json!({"items": []})
        );
        assert!(matches!(
            aggregated_json(&answer(200, "not json"), path),
            Err(Verdict::Fail(_))
        ));
        // KA@v0.36.2 handler_proxy.go: a text 503 while the APIService is not Available.
        assert!(
            matches!(aggregated_json(&answer(503, "service unavailable\n"), path),
            Err(Verdict::Wait(m)) if m.contains("503 service unavailable") && m.contains("cannot serve metrics.k8s.io"))
        );
        // MS@v0.9.0 pkg/api/pod.go: NotFound until two samples.
        let not_found = json!({"kind": "Status", "reason": "NotFound", "code": 404,
            "message": "podmetrics.metrics.k8s.io \"ns/p\" not found"})
        .to_string();
        assert!(matches!(aggregated_json(&answer(404, &not_found), path),
            Err(Verdict::Wait(m)) if m.contains("not found: podmetrics.metrics.k8s.io \"ns/p\" not found")));
        let forbidden = json!({"kind": "Status", "reason": "Forbidden", "code": 403,
            "message": "nodes.metrics.k8s.io is forbidden"})
        .to_string();
        assert!(!matches!(
            aggregated_json(&answer(403, &forbidden), path),
            Ok(_) | Err(Verdict::Pass(_))
        ));
    }

    #[test]
    fn judge_at_its_edges() {
        let t0: jiff::Timestamp = "2024-03-12T10:00:00Z".parse().unwrap();
        let s = Sample {
            timestamp: t0,
            window: Duration::from_secs(15),
            cpu_millicores: 100,
            memory_bytes: 1 << 30,
        };
        let at = |secs: u64, positive: bool| SeriesRules {
            now: t0 + Duration::from_secs(secs),
            max_age: Duration::from_secs(120),
            must_be_positive: positive,
            capacity: None,
        };
        // Age: exactly the limit passes, a second more waits.
        assert!(judge("n", &s, &at(120, true), None).is_pass());
        assert!(
            matches!(judge("n", &s, &at(121, true), None), Verdict::Wait(m) if m.contains("old"))
        );
        // Window: zero and above 5 m are implausible; 5 m itself is not.
        let window = |w: Duration| Sample { window: w, ..s };
        assert!(matches!(
            judge("n", &window(Duration::ZERO), &at(1, true), None),
            Verdict::Fail(_)
        ));
        assert!(judge("n", &window(MAX_WINDOW), &at(1, true), None).is_pass());
        // Nodes need both above zero; pods (an idle pod uses no CPU) need memory only.
        let usage = |cpu, memory| Sample {
            cpu_millicores: cpu,
            memory_bytes: memory,
            ..s
        };
        assert!(
            matches!(judge("n", &usage(0, 1 << 30), &at(1, true), None), Verdict::Wait(m) if m.contains("above zero"))
        );
        assert!(
            matches!(judge("n", &usage(100, 0), &at(1, true), None), Verdict::Wait(m) if m.contains("above zero"))
        );
        assert!(judge("p", &usage(0, 1 << 20), &at(1, false), None).is_pass());
        assert!(
            matches!(judge("p", &usage(5, 0), &at(1, false), None), Verdict::Wait(m) if m.contains("memory is zero"))
        );
        // Capacity: either resource above it fails; exactly at it passes.
        let cap = Some((100, 1 << 30));
        assert!(judge("n", &s, &at(1, true), cap).is_pass());
        assert!(
            matches!(judge("n", &usage(101, 1 << 20), &at(1, true), cap), Verdict::Fail(m) if m.contains("above capacity"))
        );
        assert!(
            matches!(judge("n", &usage(1, (1 << 30) + 1), &at(1, true), cap), Verdict::Fail(m) if m.contains("above capacity"))
        );
    }

    #[test]
    fn apiservice_conditions() {
        let missing = json!({"status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints",
            "message": "endpointslices for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}]}});
        assert!(
            matches!(apiservice(&missing), Verdict::Wait(m) if m.contains("MissingEndpoints") && m.contains("port name"))
        );
        let ok = json!({"status": {"conditions": [{"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}]}});
        assert!(apiservice(&ok).is_pass());
        // Only "True" is Available: the controller writes Unknown on access errors
        // (KA@v0.36.2 remote_available_controller.go `ServiceAccessError`).
        let unknown = json!({"status": {"conditions": [{"type": "Available", "status": "Unknown", "reason": "ServiceAccessError", "message": "cannot be checked"}]}});
        assert!(
            matches!(apiservice(&unknown), Verdict::Wait(m) if m.contains("ServiceAccessError"))
        );
        let other = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(
            matches!(apiservice(&other), Verdict::Wait(m) if m.contains("no Available condition"))
        );
    }

    #[test]
    fn scraper_answers() {
        assert!(
            matches!(scraper_points(&json!({"items": null})), Err(Verdict::Wait(m)) if m.contains("no samples"))
        );
        let v = json!({"items": [{"dataPoints": [], "metricPoints": [{"timestamp": "2026-11-28T09:00:00Z", "value": 230}], "metricName": "cpu", "uids": ["n"]}]});
        assert_eq!(scraper_points(&v).unwrap()[0].value, 230);
    }

    #[test]
    fn discovery_as_kubectl_top_reads_it() {
        let aggregated = |versions: Value| {
            json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": [
                {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [], "freshness": "Current"}]},
                {"metadata": {"name": "metrics.k8s.io"}, "versions": versions}]})
        };
        let current = aggregated(json!([{"version": "v1beta1", "freshness": "Current",
            "resources": [{"resource": "nodes"}, {"resource": "pods"}]}]));
        assert!(matches!(discovery(&current), Verdict::Pass(m) if m.contains("with 2 resources")));
        let stale = aggregated(json!([{"version": "v1beta1", "freshness": "Stale"}]));
        assert!(
            matches!(discovery(&stale), Verdict::Wait(m) if m.starts_with("Metrics API not available") && m.contains("Stale"))
        );
        let none = json!({"kind": "APIGroupDiscoveryList", "items": []});
        assert!(matches!(discovery(&none), Verdict::Wait(m) if m.contains("does not list")));
        let legacy = json!({"kind": "APIGroupList", "groups": [{"name": "metrics.k8s.io",
            "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}]}]});
        assert!(matches!(discovery(&legacy), Verdict::Pass(m) if m.contains("legacy")));
        assert!(matches!(discovery(&json!({})), Verdict::Fail(_)));
    }
}
