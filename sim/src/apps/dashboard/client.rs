//! How the dashboard reaches heapster and the API server: its flags, its log, and the
//! errors its vendored client-go turns refusals into (D@v1.10.1 `dashboard.go`,
//! `integration/metric/heapster/restclient.go`, `vendor/k8s.io/client-go/rest/request.go`).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::apps::common::{
    AppRequest, Http, ServiceProxy, bool_flag, container_args, flag, service_account_of,
};
use crate::cluster::{Cluster, State};

/// Where the in-cluster heapster client looks (`restclient.go`).
const HEAPSTER_NAMESPACE: &str = "kube-system";
const HEAPSTER_SERVICE: &str = "heapster";
/// Where v2.7.0's in-cluster sidecar client looks: this service in the dashboard's
/// `--namespace` (D@v2.7.0 `integration/metric/sidecar/restclient.go`).
const SIDECAR_SERVICE: &str = "dashboard-metrics-scraper";

/// The metric client a dashboard version creates: heapster (v1.10.1) or the
/// dashboard-metrics-scraper sidecar (v2.7.0, `--metrics-provider=sidecar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Heapster,
    Sidecar,
}

impl Provider {
    pub fn of(container: &Value) -> Provider {
        match crate::apps::common::App::of_image(container["image"].as_str().unwrap_or_default()) {
            crate::apps::common::App::DashboardV2 => Provider::Sidecar,
            _ => Provider::Heapster,
        }
    }

    /// The integration id (`integration/api/types.go`): also what its log lines name.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Heapster => "heapster",
            Provider::Sidecar => "sidecar",
        }
    }

    /// `(namespace, service)` the client proxies to.
    pub fn service(self, container: &Value) -> (String, &'static str) {
        match self {
            Provider::Heapster => (HEAPSTER_NAMESPACE.into(), HEAPSTER_SERVICE),
            Provider::Sidecar => (dashboard_namespace(container), SIDECAR_SERVICE),
        }
    }

    /// The prefix of its data paths: heapster's model API, the scraper's dashboard API.
    pub fn data_prefix(self) -> &'static str {
        match self {
            Provider::Heapster => "/api/v1/model",
            Provider::Sidecar => "/api/v1/dashboard",
        }
    }
}

/// `--namespace`, by default `$POD_NAMESPACE`, else `kube-system` (D@v2.7.0 `dashboard.go`).
pub fn dashboard_namespace(container: &Value) -> String {
    flag(&container_args(container), "namespace")
        .or_else(|| crate::apps::common::env_var(container, "POD_NAMESPACE"))
        .unwrap_or_else(|| "kube-system".into())
}
/// The API server as a pod reaches it (the `kubernetes` Service).
pub(super) const API_SERVER: &str = "https://10.96.0.1:443";
/// `--metric-client-check-period` and `--token-ttl` defaults (`dashboard.go`).
const DEFAULT_CHECK_PERIOD: u64 = 30;
const DEFAULT_TOKEN_TTL: u64 = 900;
pub(super) const METRICS: [&str; 2] = ["cpu/usage_rate", "memory/usage"];
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
    let stamp = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%Y/%m/%d %H:%M:%S")
        .to_string();
    crate::apps::common::append_line(st, pod, container, format!("{stamp} {line}"));
}

/// A failed call as the dashboard's Go code holds it: the text it logs and the JSON an
/// `error` field marshals to.
#[derive(Debug, Clone, PartialEq)]
pub struct GoError {
    pub text: String,
    pub json: Value,
}

/// The fault `dashboard_never_connects`: the dashboard's node lost its route to the API
/// server after start-up, so every call times out as Go's net/http reports it.
pub(super) fn unreachable(path: &str) -> GoError {
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

/// A GET to the metric service (heapster or the scraper) through the service proxy, as
/// the dashboard pod's service account.
pub(super) fn metric_get(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    net: &dyn ServiceProxy,
    path: &str,
    now: Timestamp,
) -> Result<String, GoError> {
    let container = dashboard_container(pod);
    let provider = Provider::of(&container);
    if let Some(host) = heapster_host(&container).filter(|_| provider == Provider::Heapster) {
        return remote_get(st, pod, net, &host, path, now);
    }
    let (ns, service) = provider.service(&container);
    let proxy_path = format!("/api/v1/namespaces/{ns}/services/{service}/proxy{path}");
    if cluster.config.faults.dashboard_never_connects {
        return Err(unreachable(&proxy_path));
    }
    let who = service_account_of(pod);
    let answer = net.proxy(st, &who, &ns, service, &AppRequest::get(path), now);
    if answer.is_ok() {
        Ok(answer.body)
    } else {
        Err(raw_error(&answer, "services", service))
    }
}

/// `--heapster-host`: v1.10.1 then creates a remote heapster client that calls that
/// address itself (D@v1.10.1 `integration/metric/heapster/client.go` `CreateHeapsterClient`).
pub fn heapster_host(container: &Value) -> Option<String> {
    flag(&container_args(container), "heapster-host").filter(|h| !h.is_empty())
}

/// `(namespace, service, port)` of `http://NAME.NS[.svc[...]][:PORT]`; a bare name is in
/// `own_ns`, the port 80 unless given.
fn service_of_host(host: &str, own_ns: &str) -> Option<(String, String, Option<i64>)> {
    let rest = host.split("://").nth(1).unwrap_or(host);
    let authority = rest.split('/').next().unwrap_or_default();
    let (hostname, port) = match authority.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (authority, None),
    };
    let mut labels = hostname.split('.');
    let name = labels.next().filter(|n| !n.is_empty())?;
    let ns = labels.next().unwrap_or(own_ns);
    Some((ns.to_string(), name.to_string(), port))
}

/// The remote heapster client's GET: straight to the host by cluster DNS. A connection that
/// never happened is net/http's `*url.Error` (`Get URL: ...`); an HTTP error answer is
/// client-go's, as in-cluster (the wording for a remote request is inferred).
fn remote_get(
    st: &mut State,
    pod: &Value,
    net: &dyn ServiceProxy,
    host: &str,
    path: &str,
    now: Timestamp,
) -> Result<String, GoError> {
    let own_ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let url = format!("{}{path}", host.trim_end_matches('/'));
    let Some((ns, name, port)) = service_of_host(host, own_ns) else {
        return Err(GoError {
            text: format!("Get {url}: unsupported protocol scheme"),
            json: json!({"Op": "Get", "URL": url, "Err": {}}),
        });
    };
    let answer = net.direct(st, &ns, &name, port, &AppRequest::get(path), now);
    match answer.status {
        0 => Err(GoError {
            text: format!("Get {url}: {}", answer.body),
            json: json!({"Op": "Get", "URL": url, "Err": {}}),
        }),
        _ if answer.is_ok() => Ok(answer.body),
        _ => Err(raw_error(&answer, "services", &name)),
    }
}

/// The pod's dashboard container (either version).
pub(super) fn dashboard_container(pod: &Value) -> Value {
    use crate::apps::common::{App, container_of};
    container_of(pod, App::Dashboard)
        .or_else(|| container_of(pod, App::DashboardV2))
        .unwrap_or_default()
}

/// `inClusterHeapsterClient.HealthCheck` / `inClusterSidecarClient.HealthCheck`: a GET of
/// `/healthz` through the proxy (the scraper answers any path with 200).
pub fn health_check(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Result<(), GoError> {
    metric_get(cluster, st, pod, net, "/healthz", now).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_raw_errors_read_as_client_go_writes_them() {
        let missing =
            crate::apps::common::status(404, "NotFound", "services \"heapster\" not found");
        assert_eq!(
            raw_error(&missing, "services", "heapster").text,
            "the server could not find the requested resource (get services heapster)"
        );
        let forbidden =
            crate::apps::common::status(403, "Forbidden", "services \"heapster\" is forbidden");
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
        let unavailable = crate::apps::common::status(
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
