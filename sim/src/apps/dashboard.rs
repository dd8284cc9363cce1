//! kubernetes-dashboard v1.10.1, emulated from its source (kubernetes/dashboard@v1.10.1,
//! `src/app/backend/`; `sim/FIDELITY.md` names each file):
//!
//! - Start-up lines and the metric client's health loop (`dashboard.go`,
//!   `integration/metric/manager.go`): a check at start, then every
//!   `--metric-client-check-period` seconds; "Successful request to heapster" only when
//!   the client goes from unusable to usable.
//! - The health check and the metric downloads use the dashboard's own service account
//!   through the API server's service proxy (`integration/metric/heapster/restclient.go`);
//!   client-go's `DoRaw` turns a refusal into a generic message (`rest/request.go`,
//!   `apimachinery/pkg/api/errors`): a JSON 403 reads "unknown (get services heapster)".
//! - Login (`auth/`, `client/manager.go`): CSRF token, `POST /api/v1/login` checks the
//!   token against the API server, JWE sessions live `--token-ttl` seconds (900) and an
//!   expired one is a 500 `MSG_TOKEN_EXPIRED_ERROR`, not a 401.
//! - Lists (`resource/node/list.go`, `resource/pod/list.go`): read as the logged-in user;
//!   the pod list also lists events, the node list one pod list per node; 401/403 are
//!   non-critical (`errors/handler.go`). `cumulativeMetrics` sum every item's points by
//!   time in `dataPoints`; `metricPoints` only when the list holds exactly one item
//!   (`integration/metric/common/aggregation.go`).
//! - `GET /api/v1/integration/heapster/state` needs no login and runs a health check on
//!   every call (`integration/manager.go`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{
    App, AppRequest, Http, ServiceProxy, bool_flag, container_args, flag, go_time_json, key_of,
    pods_running, service_account_of,
};
use crate::cluster::{Cluster, Session, State};
use crate::rbac::{self, Identity};

/// Where the in-cluster heapster client looks (`restclient.go`).
const HEAPSTER_NAMESPACE: &str = "kube-system";
const HEAPSTER_SERVICE: &str = "heapster";
/// The API server as a pod reaches it (the `kubernetes` Service).
const API_SERVER: &str = "https://10.96.0.1:443";
/// `--metric-client-check-period` and `--token-ttl` defaults (`dashboard.go`).
const DEFAULT_CHECK_PERIOD: u64 = 30;
const DEFAULT_TOKEN_TTL: u64 = 900;
const METRICS: [&str; 2] = ["cpu/usage_rate", "memory/usage"];

/// The dashboard's flags that change what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub skip_login: bool,
    /// As the flag says, in seconds: also what its log line prints.
    pub check_period_secs: u64,
    pub token_ttl: Option<Duration>,
}

pub fn settings(container: &Value) -> Settings {
    let args = container_args(container);
    let number = |name: &str, default: u64| {
        flag(&args, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let ttl = number("token-ttl", DEFAULT_TOKEN_TTL);
    Settings {
        skip_login: bool_flag(&args, "enable-skip-login"),
        check_period_secs: number("metric-client-check-period", DEFAULT_CHECK_PERIOD),
        token_ttl: (ttl > 0).then(|| Duration::from_secs(ttl)),
    }
}

/// Append a line to a container's log with Go's `log` prefix (`2006/01/02 15:04:05`).
pub fn append_log(st: &mut State, pod: &Value, container: &Value, line: &str) {
    let (ns, name) = key_of(pod);
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    let stamp = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%Y/%m/%d %H:%M:%S")
        .to_string();
    st.logs
        .entry((ns, name, cname))
        .or_default()
        .current
        .push(format!("{stamp} {line}"));
}

// ---------------------------------------------------------------------------
// Reaching the API server as the dashboard's service account
// ---------------------------------------------------------------------------

/// A failed call as the dashboard's Go code holds it: the text it logs and the JSON an
/// `error` field marshals to.
#[derive(Debug, Clone, PartialEq)]
pub struct GoError {
    pub text: String,
    pub json: Value,
}

/// The fault `dashboard_never_connects`: the dashboard's node lost its route to the API
/// server after start-up, so every call times out as Go's net/http reports it.
fn unreachable(path: &str) -> GoError {
    let url = format!("{API_SERVER}{path}");
    GoError {
        text: format!("Get {url}: dial tcp 10.96.0.1:443: i/o timeout"),
        json: json!({"Op": "Get", "URL": url, "Err": {"Op": "dial", "Net": "tcp", "Source": null,
                     "Addr": {"IP": "10.96.0.1", "Port": 443, "Zone": ""}, "Err": {}}}),
    }
}

/// client-go's `DoRaw` on a non-2xx answer: `NewGenericServerResponse` with the body as
/// the server message only when it is text (a JSON Status reads "unknown").
pub fn raw_error(answer: &Http, resource: &str, name: &str) -> GoError {
    let server_message = if answer.content_type.starts_with("text/") {
        answer.body.trim().to_string()
    } else {
        "unknown".to_string()
    };
    let code = answer.status;
    let (reason, message) = match code {
        404 => ("NotFound", "the server could not find the requested resource".to_string()),
        400 => ("BadRequest", "the server rejected our request for an unknown reason".to_string()),
        401 => ("Unauthorized", "the server has asked for the client to provide credentials".to_string()),
        403 => ("Forbidden", server_message.clone()),
        429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".to_string()),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request".to_string()),
        504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request".to_string()),
        c if c >= 500 => (
            "InternalError",
            format!("an error on the server ({server_message:?}) has prevented the request from succeeding"),
        ),
        c => ("", format!("the server responded with the status code {c} but did not return more information")),
    };
    let text = format!("{message} (get {resource} {name})");
    GoError {
        json: json!({"ErrStatus": {"metadata": {}, "status": "Failure", "message": text, "reason": reason,
            "details": {"name": name, "kind": resource, "causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]},
            "code": code}}),
        text,
    }
}

/// A GET to heapster through the service proxy, as the dashboard pod's service account.
fn heapster_get(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    net: &dyn ServiceProxy,
    path: &str,
    now: Timestamp,
) -> Result<String, GoError> {
    let proxy_path =
        format!("/api/v1/namespaces/{HEAPSTER_NAMESPACE}/services/{HEAPSTER_SERVICE}/proxy{path}");
    if cluster.config.faults.dashboard_never_connects {
        return Err(unreachable(&proxy_path));
    }
    let who = service_account_of(pod);
    let answer = net.proxy(
        st,
        &who,
        HEAPSTER_NAMESPACE,
        HEAPSTER_SERVICE,
        &AppRequest::get(path),
        now,
    );
    if answer.is_ok() {
        Ok(answer.body)
    } else {
        Err(raw_error(&answer, "services", HEAPSTER_SERVICE))
    }
}

/// `inClusterHeapsterClient.HealthCheck`.
pub fn health_check(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Result<(), GoError> {
    heapster_get(cluster, st, pod, net, "/healthz", now).map(|_| ())
}

// ---------------------------------------------------------------------------
// The metric client's health loop and the start-up lines
// ---------------------------------------------------------------------------

/// Run every dashboard's loop up to `now`: its start-up lines once, then a health check
/// whenever one is due.
pub fn tick(cluster: &Cluster, st: &mut State, net: &dyn ServiceProxy, now: Timestamp) {
    for (pod, container) in pods_running(st, App::Dashboard) {
        let key = key_of(&pod);
        let mut rt = st.dashboards.get(&key).cloned().unwrap_or_default();
        if rt.next_check.is_some_and(|t| now < t) {
            continue;
        }
        let settings = settings(&container);
        if !rt.ever_checked {
            for line in start_lines(cluster, st, &pod) {
                append_log(st, &pod, &container, &line);
            }
        }
        match health_check(cluster, st, &pod, net, now) {
            Ok(()) => {
                if !rt.connected {
                    append_log(st, &pod, &container, "Successful request to heapster");
                }
                rt.connected = true;
            }
            Err(e) => {
                append_log(
                    st,
                    &pod,
                    &container,
                    &format!(
                        "Metric client health check failed: {}. Retrying in {} seconds.",
                        e.text, settings.check_period_secs
                    ),
                );
                rt.connected = false;
            }
        }
        if !rt.ever_checked {
            for line in [
                "Auto-generating certificates",
                "Successfully created certificates",
                "Serving securely on HTTPS port: 8443",
            ] {
                append_log(st, &pod, &container, line);
            }
        }
        let period = cluster
            .config
            .timing
            .dashboard_check_period
            .unwrap_or(Duration::from_secs(settings.check_period_secs));
        rt.ever_checked = true;
        rt.next_check = Some(now + period);
        st.dashboards.insert(key, rt);
    }
}

fn start_lines(cluster: &Cluster, st: &State, pod: &Value) -> Vec<String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    // The key holder Secret survives restarts; a second dashboard reads it back.
    let key_exists = st.dashboards.keys().any(|(n, _)| n == ns);
    let mut lines = vec![
        "Starting overwatch".to_string(),
        "Using in-cluster config to connect to apiserver".into(),
        "Using service account token for csrf signing".into(),
        format!(
            "Successful initial request to the apiserver, version: {}",
            cluster.git_version
        ),
    ];
    if !key_exists {
        lines.push("Generating JWE encryption key".into());
    }
    lines.push(format!(
        "New synchronizer has been registered: kubernetes-dashboard-key-holder-{ns}. Starting"
    ));
    lines.push(format!(
        "Starting secret synchronizer for kubernetes-dashboard-key-holder in namespace {ns}"
    ));
    lines.push(if key_exists {
        "Initializing JWE encryption key from synchronized object".into()
    } else {
        "Storing encryption key in a secret".into()
    });
    lines.push("Creating in-cluster Heapster client".into());
    lines
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// The dashboard's port 8443 (the proxy has already refused plain HTTP).
pub fn serve(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    let path = req.path.trim_end_matches('/');
    // `requestAndResponseLogger` (handler/filter.go): every API call, both ways.
    let sensitive = ["/api/v1/login", "/api/v1/csrftoken/login"].contains(&path);
    let content = if sensitive {
        "{ contents hidden }"
    } else {
        "{}"
    };
    let remote = "172.18.0.2:41234";
    append_log(
        st,
        pod,
        container,
        &format!(
            "[{}] Incoming HTTP/1.1 {} {} request from {remote}: {content}",
            go_time_json(now),
            req.method,
            req.path
        ),
    );
    let answer = route(cluster, st, pod, container, path, req, net, now);
    append_log(
        st,
        pod,
        container,
        &format!(
            "[{}] Outcoming response to {remote} with {} status code",
            go_time_json(now),
            answer.status
        ),
    );
    answer
}

#[allow(clippy::too_many_arguments)]
fn route(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    path: &str,
    req: &AppRequest,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    match (req.method, path) {
        ("GET", "/api/v1/csrftoken/login") => {
            return Http::restful_json(200, &json!({"token": csrf_token(cluster, now)}));
        }
        ("POST", "/api/v1/login") => return login(cluster, st, req, now),
        ("GET", p) if p.starts_with("/api/v1/integration/") => {
            return integration_state(cluster, st, pod, p, net, now);
        }
        _ => {}
    }
    let settings = settings(container);
    // `clientManager.Client`: over TLS, a request without credentials is refused unless
    // skipping login is enabled, in which case the dashboard's own account is used.
    let user = match req.header("jweToken").filter(|t| !t.is_empty()) {
        Some(jwe) => match st.dashboard_sessions.get(jwe) {
            None => return Http::go_error(500, "square/go-jose: error in cryptographic primitive"),
            Some(session)
                if settings
                    .token_ttl
                    .is_some_and(|ttl| now >= session.issued + ttl)
                    || session.expired =>
            {
                return Http::go_error(500, "MSG_TOKEN_EXPIRED_ERROR");
            }
            Some(session) => session.who.clone(),
        },
        None if settings.skip_login => service_account_of(pod),
        None => return Http::go_error(401, "MSG_LOGIN_UNAUTHORIZED_ERROR"),
    };
    let connected = st.dashboards.get(&key_of(pod)).is_some_and(|r| r.connected);
    let lists = Lists {
        cluster,
        pod,
        container,
        user: &user,
        net,
        now,
        metrics: connected,
    };
    match (req.method, path.strip_prefix("/api/v1/")) {
        ("GET", Some("node")) => lists.nodes(st),
        ("GET", Some("pod")) => lists.pods(st, None),
        ("GET", Some(rest)) if rest.starts_with("pod/") && !rest[4..].contains('/') => {
            lists.pods(st, Some(&rest[4..]))
        }
        _ => Http::restful_not_found(),
    }
}

/// An xsrftoken bound to this cluster (the dashboard signs with its service account token).
fn csrf_token(cluster: &Cluster, now: Timestamp) -> String {
    format!("csrf-{}-{}", cluster.config.name, now.as_second())
}

fn login(cluster: &Cluster, st: &mut State, req: &AppRequest, now: Timestamp) -> Http {
    let prefix = format!("csrf-{}-", cluster.config.name);
    if !req
        .header("X-CSRF-TOKEN")
        .is_some_and(|t| t.starts_with(&prefix))
    {
        return Http::go_error(401, "CSRF validation failed");
    }
    let token = serde_json::from_str::<Value>(req.body)
        .ok()
        .and_then(|b| b["token"].as_str().map(str::to_string))
        .unwrap_or_default();
    if token.is_empty() {
        return Http::go_error(500, "Not enough data to create authenticator.");
    }
    if cluster.config.faults.dashboard_never_connects {
        return Http::go_error(500, &unreachable("/version").text);
    }
    // `HasAccess`: /version with the token; a 401 is non-critical, localized.
    match st.sa_tokens.get(&token).cloned() {
        Some(who) => {
            let jwe = crate::random_token("jwe");
            st.dashboard_sessions.insert(
                jwe.clone(),
                Session {
                    who,
                    issued: now,
                    expired: false,
                },
            );
            Http::restful_json(200, &json!({"jweToken": jwe, "errors": []}))
        }
        None => Http::restful_json(
            200,
            &json!({"jweToken": "", "errors": [{"ErrStatus": {"metadata": {}, "status": "Failure", "message": "MSG_LOGIN_UNAUTHORIZED_ERROR", "reason": "Unauthorized", "code": 401}}]}),
        ),
    }
}

/// `GET /api/v1/integration/{name}/state`: a live health check, no login needed.
fn integration_state(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    path: &str,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    let name = path
        .trim_start_matches("/api/v1/integration/")
        .trim_end_matches("/state");
    if name != "heapster" {
        return Http::go_error(
            500,
            &format!("Integration with given id {name} does not exist"),
        );
    }
    let error = health_check(cluster, st, pod, net, now).err();
    Http::restful_json(
        200,
        &json!({"connected": error.is_none(), "lastChecked": go_time_json(now), "error": error.map(|e| e.json)}),
    )
}

// ---------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------

struct Lists<'a> {
    cluster: &'a Cluster,
    pod: &'a Value,
    container: &'a Value,
    user: &'a Identity,
    net: &'a dyn ServiceProxy,
    now: Timestamp,
    /// Whether the metric manager has an active client.
    metrics: bool,
}

/// One item's series of one metric, as the heapster client converts it.
#[derive(Debug, Clone, Default)]
struct ItemMetric {
    data_points: Vec<(i64, i64)>,
    metric_points: Vec<Value>,
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
            .collect())
    }

    /// `GET /api/v1/node`.
    fn nodes(&self, st: &mut State) -> Http {
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
                    let path = format!("/api/v1/model/nodes/{name}/metrics/{metric}");
                    self.download_one(st, &path)
                })
                .collect()
        });
        Http::restful_json(
            200,
            &json!({"listMeta": {"totalItems": items.len()}, "nodes": items, "cumulativeMetrics": cumulative, "errors": errors}),
        )
    }

    /// `GET /api/v1/pod[/NS]`.
    fn pods(&self, st: &mut State, namespace: Option<&str>) -> Http {
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
            self.log(st, "No metric client provided. Skipping metrics.");
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
    /// time; any failed download empties the whole list's metrics.
    fn cumulative(
        &self,
        st: &mut State,
        items: &[Value],
        download: impl Fn(&[Value], &mut State, &str) -> Result<Vec<ItemMetric>, String>,
    ) -> Vec<Value> {
        if !self.metrics {
            self.log(st, "No metric client provided. Skipping metrics.");
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

    /// One node's series (`ithResourceDownload`).
    fn download_one(&self, st: &mut State, path: &str) -> Result<ItemMetric, String> {
        let body = heapster_get(self.cluster, st, self.pod, self.net, path, self.now)
            .map_err(|e| e.text)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(item_metric(&v))
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
                "/api/v1/model/namespaces/{ns}/pod-list/{}/metrics/{metric}",
                names.join(",")
            );
            let body = heapster_get(self.cluster, st, self.pod, self.net, &path, self.now)
                .map_err(|e| e.text)?;
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let results = v["items"].as_array().cloned().unwrap_or_default();
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
        metric_points: points,
    }
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
        [one] => one.metric_points.clone(),
        _ => vec![],
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
    let latest = |m: Option<&ItemMetric>| {
        m.and_then(|m| m.metric_points.last())
            .map(|p| p["value"].clone())
    };
    let history = |m: Option<&ItemMetric>| {
        json!(m.map(|m| m.metric_points.clone()).filter(|p| !p.is_empty()))
    };
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

/// Expire every login session now (what 900 s of waiting would do).
pub fn expire_sessions(st: &mut State) {
    for s in st.dashboard_sessions.values_mut() {
        s.expired = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn wrapped_heapster_values_are_clamped_like_the_dashboard() {
        // heapster#1193: a negative rate wrapped to a huge uint64.
        let m = item(&[(100, 18446744073709548330)]);
        assert_eq!(m.data_points, vec![(100, 0)]);
    }

    #[test]
    fn do_raw_errors_read_as_client_go_writes_them() {
        let missing =
            super::super::common::status(404, "NotFound", "services \"heapster\" not found");
        assert_eq!(
            raw_error(&missing, "services", "heapster").text,
            "the server could not find the requested resource (get services heapster)"
        );
        let forbidden =
            super::super::common::status(403, "Forbidden", "services \"heapster\" is forbidden");
        assert_eq!(
            raw_error(&forbidden, "services", "heapster").text,
            "unknown (get services heapster)"
        );
        let no_batch = Http::go_error(
            500,
            "[-]healthz failed: could not get the latest data batch\nhealthz check failed",
        );
        assert_eq!(
            raw_error(&no_batch, "services", "heapster").text,
            "an error on the server (\"[-]healthz failed: could not get the latest data batch\\nhealthz check failed\") has prevented the request from succeeding (get services heapster)"
        );
        let unavailable = super::super::common::status(
            503,
            "ServiceUnavailable",
            "no endpoints available for service \"heapster\"",
        );
        assert_eq!(
            raw_error(&unavailable, "services", "heapster").text,
            "the server is currently unable to handle the request (get services heapster)"
        );
    }

    #[test]
    fn settings_come_from_the_flags() {
        let c = json!({"args": ["--auto-generate-certificates", "--metric-client-check-period=5", "--token-ttl=0"]});
        assert_eq!(
            settings(&c),
            Settings {
                skip_login: false,
                check_period_secs: 5,
                token_ttl: None
            }
        );
        let d = settings(&json!({"args": ["--enable-skip-login"]}));
        assert!(
            d.skip_login
                && d.check_period_secs == 30
                && d.token_ttl == Some(Duration::from_secs(900))
        );
    }
}
