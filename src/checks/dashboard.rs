//! kubernetes-dashboard v1.10.1 (heapster client) and v2.7.0 (sidecar client, reading
//! dashboard-metrics-scraper): its log, its integration state, and its node and pod lists
//! with their metrics, read as its UI reads them (login, then the `jweToken`). Both
//! versions share these shapes and log lines but for the client's name
//! (`integration/metric/`, `resource/`, `auth/` at v1.10.1 and v2.7.0; `sim/FIDELITY.md`).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, LogParams};
use serde_json::{Value, json};

use super::Verdict;
use super::context::DashboardAt;
use super::context::{Ctx, Needs, answer_json, api_wait, pod_belongs_to};
use super::heapster::NO_DATA_BATCH;
use super::series::{Point, SeriesRules, age, human_value, series};
use crate::kubeclient::{self, Answer, retry, snippet};

/// "Successful request to heapster" (v1.10.1) or "... to sidecar" (v2.7.0), logged when the
/// client goes from unusable to usable (`integration/metric/manager.go`).
pub const SUCCESS_LINE: &str = "Successful request to ";

pub const FAILURE_PREFIX: &str = "Metric client health check failed:";

pub const NO_CLIENT_LINE: &str = "No metric client provided. Skipping metrics.";

/// client-go's wording for a 404 from the service proxy: the metric Service is missing.
pub const MISSING_SERVICE: &str = "the server could not find the requested resource (get services ";

/// Why the dashboard's metric client is failing, read from its last failure line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// "Successful request to ..." after the last failure, no "No metric client" after it.
    Connected,
    /// No metric service (heapster, or the scraper) at all.
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
pub fn log_state(log: &str) -> LogState {
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
pub fn log_verdict(state: &LogState) -> Verdict {
    match state {
        LogState::Connected => {
            Verdict::Pass(format!("\"{SUCCESS_LINE}...\" after the last failure"))
        }
        LogState::MissingService(line) => Verdict::Wait(format!(
            "the dashboard cannot find its metric service: {line}"
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
            "the dashboard has not checked its metric client yet (no health check line in its log)"
                .into(),
        ),
    }
}

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
pub fn list(v: &Value, list_field: &str, now: Timestamp, max_age: Duration) -> Verdict {
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

/// `/api/v1/integration/{heapster,sidecar}/state`.
/// It runs a health check on every call (`integration/manager.go`); `error` is a Go
/// `error` marshalled as JSON: a `*StatusError` has `ErrStatus.message`, a `*url.Error`
/// has `Op` and `URL`, other error types marshal to `{}`.
pub fn integration_state(v: &Value, integration: &str) -> Verdict {
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
            Verdict::Wait(format!("{integration} not connected: {why}"))
        }
        None => Verdict::Fail(format!(
            "malformed integration state (no \"connected\"): {}",
            snippet(&v.to_string())
        )),
    }
}

/// The dashboard login token: from `--dashboard-token-file` when given (a file that cannot
/// be read, or is empty, is the user's mistake: an error, not a skipped check), else from
/// the checks' service-account token Secret, if it exists.
/// The stack's dashboard where it runs: its checks are planned only for a stack that has one.
fn of(ctx: &Ctx) -> DashboardAt {
    ctx.dashboard()
        .expect("dashboard checks run only on a stack with a dashboard")
}

/// The dashboard's Deployment, by the name the layout found.
fn deployment(ctx: &Ctx) -> String {
    ctx.layout.deployment(crate::layout::Part::Dashboard)
}

pub(super) async fn token(ctx: &Ctx) -> anyhow::Result<Option<String>> {
    if let Some(file) = &ctx.config.dashboard_token_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            anyhow::anyhow!(
                "cannot read --dashboard-token-file {}: {e}; give a file holding the dashboard bearer token",
                file.display()
            )
        })?;
        let token = text.trim();
        anyhow::ensure!(
            !token.is_empty(),
            "--dashboard-token-file {} is empty; give a file holding the dashboard bearer token",
            file.display()
        );
        return Ok(Some(token.to_string()));
    }
    // The shipped account lives beside the UI, wherever that runs.
    let id = ctx.config.stack.checks_identity();
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &ctx.ui_namespace());
    let shipped = match retry(|| api.get_opt(id.token_secret)).await {
        Ok(Some(secret)) => secret
            .data
            .and_then(|d| d.get("token").map(|t| t.0.clone()))
            .and_then(|t| String::from_utf8(t).ok()),
        _ => None,
    };
    // Least privilege first: the read-only account, else the kubeconfig's own user.
    Ok(shipped.or_else(|| ctx.config.kubeconfig_token.clone()))
}

pub(super) async fn check_log(ctx: Arc<Ctx>) -> Verdict {
    let dashboard = deployment(&ctx);
    if let Some(cause) = ctx.blocked(&[&dashboard], Needs::METRIC_SERVICE).await {
        return Verdict::Fail(cause);
    }
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let Some(pod) = snap.pods.iter().find(|p| {
        pod_belongs_to(p, &dashboard)
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    }) else {
        return Verdict::Wait("no running dashboard pod yet".into());
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = of(&ctx).namespace;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
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
    let state = log_state(&log);
    // A missing service is certain once the API confirms it; until then it may heal. The
    // failure line is evidence, not the test: since 1.37 the service proxy answers a missing
    // Service with 503 "no endpoints available" (kubernetes/kubernetes#134860), which the
    // dashboard logs as "the server is currently unable to handle the request".
    if let LogState::MissingService(line) | LogState::Failing(line) = &state
        && snap.metric_service == Some(false)
    {
        let svc = of(&ctx).metric_service;
        return Verdict::Fail(format!("no {svc} service; the dashboard says: {line}"));
    }
    // A failure line is evidence, not proof of a refusal: ask the API server the
    // dashboard's own question as the dashboard's account. A 403 for it is certain.
    if let LogState::Failing(line) = &state
        && let Some(refusal) = refused_as(&ctx, pod).await
    {
        return Verdict::Fail(format!("{refusal}; the dashboard says: {line}"));
    }
    log_verdict(&state)
}

/// Log in to the dashboard like its UI does (CSRF token, then the service account token),
/// once; the `jweToken` then goes with each request (custom headers pass the proxy).
async fn session(ctx: &Ctx) -> Result<String, Verdict> {
    let mut session = ctx.dashboard_session.lock().await;
    if let Some(jwe) = session.as_ref() {
        return Ok(jwe.clone());
    }
    let Some(token) = ctx.dashboard_token.clone() else {
        return Err(Verdict::Fail("no dashboard login token".into()));
    };
    let d = of(ctx);
    let (ns, proxy) = (d.namespace.as_str(), d.proxy());
    let csrf_path = kubeclient::service_proxy_path(ns, &proxy, "/api/v1/csrftoken/login");
    let csrf = kubeclient::raw(&ctx.client, http::Method::GET, &csrf_path, &[], vec![])
        .await
        .map_err(api_wait)?;
    let csrf = answer_json(&csrf, "dashboard", "/api/v1/csrftoken/login")?;
    let csrf = csrf["token"].as_str().unwrap_or_default().to_string();
    let login_path = kubeclient::service_proxy_path(ns, &proxy, "/api/v1/login");
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

/// Whether the dashboard refused the session: a 401 without one, and
/// `MSG_TOKEN_EXPIRED_ERROR` once its JWE token outlived `--token-ttl` (900 s): a 500 from
/// v1.10.1 (`HandleInternalError` of a plain error), a 401 from v2.7.0 (`NewTokenExpired`)
/// (`auth/jwe/manager.go`, `errors/handler.go` at each tag).
pub fn session_refused(answer: &Answer) -> bool {
    answer.status == 401
        || (answer.status == 500 && answer.body.trim() == "MSG_TOKEN_EXPIRED_ERROR")
}

/// GET a dashboard API path with the session, logging in again once if the session is
/// refused (expired after 15 minutes, or a restarted dashboard).
pub(super) async fn get(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[&deployment(ctx)], Needs::METRIC_DATA).await {
        return Err(Verdict::Fail(cause));
    }
    let d = of(ctx);
    let full = kubeclient::service_proxy_path(&d.namespace, &d.proxy(), path);
    let mut renewed = false;
    loop {
        let jwe = session(ctx).await?;
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
pub(super) async fn check_state(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx
        .blocked(&[&deployment(&ctx)], Needs::METRIC_SERVICE)
        .await
    {
        return Verdict::Fail(cause);
    }
    let d = of(&ctx);
    let path = format!("/api/v1/integration/{}/state", d.integration);
    let full = kubeclient::service_proxy_path(&d.namespace, &d.proxy(), &path);
    let answer = match kubeclient::raw(&ctx.client, http::Method::GET, &full, &[], vec![]).await {
        Ok(a) => a,
        Err(e) => return api_wait(e),
    };
    ctx.record(&format!("dashboard {path}"), &answer);
    match answer_json(&answer, "dashboard", &path)
        .map_or_else(|v| v, |v| integration_state(&v, d.integration))
    {
        Verdict::Wait(why) => with_upstream(&ctx, why).await,
        judged => judged,
    }
}

pub(super) async fn check_list(ctx: Arc<Ctx>, path: String, field: &'static str) -> Verdict {
    match get(&ctx, &path).await {
        Ok(v) => match list(&v, field, Timestamp::now(), ctx.config.max_age) {
            Verdict::Wait(why) => with_upstream(&ctx, why).await,
            judged => judged,
        },
        Err(v) => v,
    }
}

/// A dashboard list's reason to wait, with what its metrics come through says; certain
/// (a failure) when the API server refuses the dashboard's metric client.
pub(super) async fn with_upstream(ctx: &Ctx, why: String) -> Verdict {
    match upstream_of_no_metrics(ctx).await {
        Some((upstream, true)) => Verdict::Fail(format!("{why}; {upstream}")),
        Some((upstream, false)) => Verdict::Wait(format!("{why}; {upstream}")),
        None => Verdict::Wait(why),
    }
}

/// What the dashboard's metrics come through says, when a list lacks them, and whether
/// it is certain: dashboard v1.10.1's metric client's last failure in its log (certain when
/// the API server refuses the dashboard's account), or, for v2.7.0 (whose client is
/// "connected" to the scraper's catch-all whatever it holds), the scraper's own answer.
async fn upstream_of_no_metrics(ctx: &Ctx) -> Option<(String, bool)> {
    let snap = ctx.snapshot().await.ok()?;
    match ctx.config.stack {
        crate::stack::Stack::Heapster => {
            let dashboard = deployment(ctx);
            let log = ctx.log_tail(&dashboard, 50).await?;
            match log_state(&log) {
                LogState::Failing(line) => {
                    let pod = snap.pods.iter().find(|p| pod_belongs_to(p, &dashboard))?;
                    Some(match refused_as(ctx, pod).await {
                        Some(refusal) => (refusal, true),
                        None => (format!("the dashboard's log: {}", line.trim()), false),
                    })
                }
                LogState::MissingService(line) | LogState::NoDataBatch(line) => {
                    Some((format!("the dashboard's log: {}", line.trim()), false))
                }
                _ => None,
            }
        }
        crate::stack::Stack::MetricsServer => {
            let node = snap.ready_nodes().into_iter().next()?;
            super::metrics_api::scraper_holds_none(ctx, &node).await
        }
        crate::stack::Stack::Headlamp => None,
    }
}

/// The API server's 403 for the dashboard's metric client request, asked as the
/// dashboard's service account (`Impersonate-User`); `None` when it is allowed, or when
/// these credentials may not impersonate (no evidence either way). A remote client
/// (`--heapster-host`) does not use the proxy: nothing to ask.
async fn refused_as(ctx: &Ctx, pod: &Pod) -> Option<String> {
    let d = of(ctx);
    if d.remote {
        return None;
    }
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let user = format!("system:serviceaccount:{}:{account}", d.namespace);
    let path = kubeclient::service_proxy_path(&d.metric_namespace, &d.metric_service, "/healthz");
    let answer = kubeclient::raw(
        &ctx.client,
        http::Method::GET,
        &path,
        &[("Impersonate-User", &user)],
        vec![],
    )
    .await
    .ok()?;
    refusal(&answer, &user)
}

/// A 403 that refuses `user` the request itself, not our impersonation of it.
pub fn refusal(answer: &Answer, user: &str) -> Option<String> {
    if answer.status != 403 {
        return None;
    }
    let message = answer
        .api_status()
        .map(|s| s.1)
        .unwrap_or_else(|| snippet(&answer.body));
    (!message.contains("cannot impersonate")).then(|| {
        format!("the API server refuses the dashboard's account {user} its metric client's request (403): {message}")
    })
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
    fn only_a_refusal_of_the_account_itself_is_certain() {
        let user = "system:serviceaccount:kube-system:kubernetes-dashboard";
        let answer = |status, message: &str| {
            Answer {
            status,
            body: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": "Forbidden", "code": status}).to_string(),
        }
        };
        let proxy = "services \"heapster\" is forbidden: User \"system:serviceaccount:kube-system:kubernetes-dashboard\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"kube-system\"";
        let why = refusal(&answer(403, proxy), user).expect("certain");
        assert!(
            why.contains("services/proxy") && why.contains(user),
            "{why}"
        );
        // Our credentials may not impersonate: no evidence about the dashboard.
        let ours = "serviceaccounts \"kubernetes-dashboard\" is forbidden: User \"me\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"kube-system\"";
        assert_eq!(refusal(&answer(403, ours), user), None);
        assert_eq!(refusal(&answer(200, "ok"), user), None);
        assert_eq!(refusal(&answer(503, "no endpoints"), user), None);
    }

    #[test]
    fn log_verdicts_on_real_dashboard_logs() {
        assert_eq!(
            log_state(&sample("dashboard-connected.log")),
            LogState::Connected
        );
        assert_eq!(
            log_state(&sample("dashboard-recovered.log")),
            LogState::Connected
        );
        match log_state(&sample("dashboard-no-heapster.log")) {
            LogState::MissingService(line) => {
                assert!(line.starts_with("2018/04/29 01:56:38"), "{line}")
            }
            other => panic!("{other:?}"),
        }
        match log_state(&sample("dashboard-no-data-batch.log")) {
            LogState::NoDataBatch(line) => assert!(line.contains("healthz failed")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn log_order_not_timestamps_decides() {
        // The sample runs backwards in time; the last line read is what counts.
        let log = "2018/11/23 03:48:56 Successful request to heapster\n2018/04/29 01:56:38 Metric client health check failed: x (get services heapster). Retrying in 30 seconds.\n";
        assert!(matches!(log_state(log), LogState::Failing(_)));
    }

    #[test]
    fn no_metric_client_after_success_is_not_healthy() {
        let log =
            "a Successful request to heapster\nb No metric client provided. Skipping metrics.\n";
        assert!(matches!(log_state(log), LogState::Dropped(_)));
        let before =
            "b No metric client provided. Skipping metrics.\na Successful request to heapster\n";
        assert_eq!(log_state(before), LogState::Connected);
        assert_eq!(log_state(""), LogState::NotStarted);
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
        let three = json!({"listMeta": {"totalItems": 3}, "nodes": [node("a"), node("b"), node("c")],
            "cumulativeMetrics": cumulative(3, 1_000_020, 900, 3 << 30), "errors": []});
        let verdict = list(&three, "nodes", now, MAX_AGE);
        assert!(
            matches!(&verdict, Verdict::Pass(r) if r.contains("3 nodes") && r.contains("900m") && r.contains("3072.0 MiB") && r.contains("10s ago")),
            "{verdict:?}"
        );
        // The old reading (metricPoints) would have waited forever on this answer.
        assert!(
            three["cumulativeMetrics"][0]["metricPoints"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let one = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(1, 1_000_020, 300, 1 << 30), "errors": []});
        assert!(list(&one, "nodes", now, MAX_AGE).is_pass());
        let stale = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(3, 1_000_030 - 600, 300, 1 << 30), "errors": []});
        assert!(
            matches!(list(&stale, "nodes", now, MAX_AGE), Verdict::Wait(r) if r.contains("old"))
        );
        let idle = json!({"nodes": [node("a")], "cumulativeMetrics": cumulative(3, 1_000_020, 0, 1 << 30), "errors": []});
        assert!(
            matches!(list(&idle, "nodes", now, MAX_AGE), Verdict::Wait(r) if r.contains("above zero"))
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
        assert!(list(&with_errors(json!([])), "pods", now, MAX_AGE).is_pass());
        match list(
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
            matches!(list(&refused, "pods", now, MAX_AGE), Verdict::Fail(r) if r.contains("pods is forbidden") && !r.contains("events is forbidden"))
        );
        // An error that names no resource counts against the list.
        let unknown = with_errors(
            json!([{"ErrStatus": {"message": "MSG_LOGIN_UNAUTHORIZED_ERROR", "code": 401}}]),
        );
        assert!(matches!(
            list(&unknown, "pods", now, MAX_AGE),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn a_node_list_refused_its_nodes_fails_and_a_refused_pods_call_is_a_note() {
        let now = Timestamp::from_second(1_000_030).unwrap();
        let node = |n: &str| json!({"objectMeta": {"name": n}, "typeMeta": {"kind": "node"}, "ready": true});
        let with_errors = |errors: Value| {
            json!({"listMeta": {"totalItems": 1}, "nodes": [node("a")],
            "cumulativeMetrics": cumulative(1, 1_000_020, 300, 1 << 30), "errors": errors})
        };
        assert!(
            matches!(list(&with_errors(json!([forbidden("nodes")])), "nodes", now, MAX_AGE), Verdict::Fail(r) if r.contains("nodes is forbidden"))
        );
        // The node list's per-node pod lists run as the user too (`getNodePods`).
        assert!(
            matches!(list(&with_errors(json!([forbidden("pods")])), "nodes", now, MAX_AGE), Verdict::Pass(m) if m.contains("could not read pods"))
        );
    }

    #[test]
    fn a_session_is_refused_by_401_or_by_an_expired_token() {
        let answer = |status: u16, body: &str| Answer {
            status,
            body: body.into(),
        };
        // No or a bad session: 401, on both versions.
        assert!(session_refused(&answer(
            401,
            "MSG_LOGIN_UNAUTHORIZED_ERROR\n"
        )));
        // Expired: v1.10.1 500, v2.7.0 401.
        assert!(session_refused(&answer(500, "MSG_TOKEN_EXPIRED_ERROR\n")));
        assert!(session_refused(&answer(401, "MSG_TOKEN_EXPIRED_ERROR\n")));
        // Another 500 is the dashboard failing, not the session.
        assert!(!session_refused(&answer(500, "an error on the server")));
        assert!(!session_refused(&answer(200, "MSG_TOKEN_EXPIRED_ERROR")));
        assert!(!session_refused(&answer(403, "MSG_TOKEN_EXPIRED_ERROR")));
    }

    #[test]
    fn list_errors_name_their_resource() {
        let errors = list_errors(&json!({"errors": [forbidden("events"),
            {"ErrStatus": {"message": "nodes is forbidden: User \"x\" cannot list resource \"nodes\" in API group \"\" at the cluster scope", "code": 403}}]}));
        assert_eq!(errors[0].resource.as_deref(), Some("events"));
        assert_eq!(errors[1].resource.as_deref(), Some("nodes"));
        let empty = json!({"nodes": [{}], "errors": [], "cumulativeMetrics": []});
        assert!(matches!(
            list(&empty, "nodes", Timestamp::from_second(0).unwrap(), MAX_AGE),
            Verdict::Wait(_)
        ));
        assert!(
            matches!(list(&json!({"errors": []}), "nodes", Timestamp::from_second(0).unwrap(), MAX_AGE), Verdict::Fail(r) if r.contains("malformed"))
        );
    }

    #[test]
    fn integration_state_shapes() {
        assert!(
            integration_state(
                &json!({"connected": true, "lastChecked": "2026-11-25T10:00:00Z", "error": null}),
                "heapster"
            )
            .is_pass()
        );
        assert!(matches!(
            integration_state(&json!({"connected": false, "error": {"x": 1}}), "heapster"),
            Verdict::Wait(_)
        ));
        let status_error = json!({"connected": false, "lastChecked": "2026-11-25T10:00:00Z", "error": {"ErrStatus": {
            "metadata": {}, "status": "Failure", "message": "unknown (get services heapster)", "reason": "Forbidden", "code": 403}}});
        assert!(
            matches!(integration_state(&status_error, "heapster"), Verdict::Wait(r) if r.ends_with("unknown (get services heapster)"))
        );
        assert!(matches!(
            integration_state(&json!({"state": "?"}), "heapster"),
            Verdict::Fail(_)
        ));
    }
}
