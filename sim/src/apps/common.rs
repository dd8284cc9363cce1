//! What every emulated program shares: its HTTP answers, the request it is given, the
//! seam through which it reaches other programs (the API server's service proxy, as the
//! real programs do), and reading a pod's spec the way the program reads its own flags.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::cluster::State;
pub use crate::goflag::{bool_flag, flag, flag_values, parse_go_duration};
use crate::rbac::Identity;

/// Which upstream program an image runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Heapster,
    InfluxDb,
    Grafana,
    Dashboard,
    /// kubernetes-dashboard v2.7.0 (`kubernetesui/dashboard`), reading the scraper.
    DashboardV2,
    MetricsServer,
    /// dashboard-metrics-scraper v1.0.8 (`kubernetesui/metrics-scraper`).
    Scraper,
    ResourceConsumer,
    /// Headlamp v0.45.0 (`ghcr.io/headlamp-k8s/headlamp`).
    Headlamp,
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
        } else if repo.ends_with("kubernetesui/dashboard") {
            App::DashboardV2
        } else if repo.ends_with("metrics-server/metrics-server") {
            App::MetricsServer
        } else if repo.ends_with("kubernetesui/metrics-scraper") {
            App::Scraper
        } else if repo.contains("resource-consumer") {
            App::ResourceConsumer
        } else if repo.ends_with("headlamp-k8s/headlamp") {
            App::Headlamp
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
            App::Dashboard | App::DashboardV2 => Some(8443),
            // The manifest's `--secure-port=10250`, the port named `https`.
            App::MetricsServer => Some(10250),
            App::Scraper => Some(8000),
            App::ResourceConsumer => Some(8080),
            // `-port` defaults to 4466, plain HTTP without `-tls-cert-path`.
            App::Headlamp => Some(4466),
            App::Other => None,
        }
    }

    /// Serves HTTPS only (the dashboard with `--auto-generate-certificates`).
    pub fn tls_only(self) -> bool {
        matches!(self, App::Dashboard | App::DashboardV2 | App::MetricsServer)
    }
}

/// An HTTP answer from an emulated program or from the API server.
#[derive(Debug, Clone, PartialEq)]
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

    /// Go's `http.Error`: `text/plain; charset=utf-8`, the message and a newline.
    pub fn go_error(status: u16, message: &str) -> Http {
        Http::text(status, format!("{message}\n"))
    }

    pub fn text(status: u16, body: impl Into<String>) -> Http {
        Http {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// go-restful's entity writer with pretty printing on (its default):
    /// `json.MarshalIndent(v, " ", " ")` (go-restful `entity_accessors.go`).
    pub fn restful_json(status: u16, body: &Value) -> Http {
        Http {
            status,
            content_type: "application/json",
            body: go_marshal_indent(body, " ", " "),
        }
    }

    /// go-restful's answer when no route matches (`container.go`).
    pub fn restful_not_found() -> Http {
        Http::text(404, "404: Page Not Found")
    }

    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Go's `json.MarshalIndent`: the first line unprefixed, every further line `prefix` then
/// one `indent` per level.
pub fn go_marshal_indent(v: &Value, prefix: &str, indent: &str) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialize");
    let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `Status` object as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str) -> Http {
    Http::json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

/// A request as it reaches a program behind the proxy.
#[derive(Debug, Clone, Copy)]
pub struct AppRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a str,
}

impl<'a> AppRequest<'a> {
    pub fn get(path: &'a str) -> AppRequest<'a> {
        AppRequest {
            method: "GET",
            path,
            query: &[],
            headers: &[],
            body: "",
        }
    }

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

/// How a program reaches another through the API server, as the identity it runs as.
/// The simulated API server implements it (`proxy.rs`); programs never call each other
/// directly, so RBAC, Services and endpoints decide, as on a real cluster.
pub trait ServiceProxy {
    /// `GET/POST /api/v1/namespaces/NS/services/SERVICE/proxy/PATH`.
    fn proxy(
        &self,
        st: &mut State,
        who: &Identity,
        namespace: &str,
        service: &str,
        req: &AppRequest,
        now: Timestamp,
    ) -> Http;

    /// A request straight to a Service's cluster address, as a pod reaches
    /// `http://NAME.NS:PORT` by cluster DNS: no API server, no RBAC. A status of 0 is a
    /// connection that never happened, its reason in the body.
    fn direct(
        &self,
        _st: &mut State,
        _namespace: &str,
        _service: &str,
        _port: Option<i64>,
        _req: &AppRequest,
        _now: Timestamp,
    ) -> Http {
        Http::text(0, "connect: network is unreachable")
    }
}

// ---------------------------------------------------------------------------
// Pods and containers as a program sees itself
// ---------------------------------------------------------------------------

pub fn pod_is_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

pub fn pod_is_running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
}

pub fn node_is_ready(node: &Value) -> bool {
    condition_true(node, "Ready")
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// `(namespace, name)` of an object.
pub fn key_of(obj: &Value) -> (String, String) {
    crate::cluster::object_key(obj)
}

/// The command line a container runs: `command` then `args`.
pub fn container_args(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub fn env_var(container: &Value, name: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// The identity a pod's programs use against the API server.
pub fn service_account_of(pod: &Value) -> Identity {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let sa = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    Identity::service_account(ns, sa)
}

/// Append a line, as the program writes it, to its container's current log.
pub fn append_line(st: &mut State, pod: &Value, container: &Value, line: String) {
    let (ns, name) = key_of(pod);
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    st.logs
        .entry((ns, name, cname))
        .or_default()
        .current
        .push(line);
}

/// When a pod's containers started, if they have.
pub fn pod_started(st: &State, pod: &Value) -> Option<Timestamp> {
    st.pods.get(&key_of(pod))?.started
}

/// The first container running `app`.
pub fn container_of(pod: &Value, app: App) -> Option<Value> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| App::of_image(c["image"].as_str().unwrap_or_default()) == app)
        .cloned()
}

/// Running pods with a container of `app`, and that container.
pub fn pods_running(st: &State, app: App) -> Vec<(Value, Value)> {
    st.store
        .iter("/pods", None)
        .filter(|p| pod_is_running(p))
        // The container first: most running pods are not `app`'s, and need no copy.
        .filter_map(|p| {
            let container = container_of(p, app)?;
            Some((p.clone(), container))
        })
        .collect()
}

pub fn node_ip(st: &State, node: &str) -> String {
    st.store
        .get(&crate::store::Key::new("/nodes", "", node))
        .and_then(|n| {
            n["status"]["addresses"][0]["address"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`, here in UTC.
pub fn go_time_string(t: Timestamp) -> String {
    let zoned = t.to_zoned(jiff::tz::TimeZone::UTC);
    let frac = match zoned.subsec_nanosecond() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    format!("{}{frac} +0000 UTC", zoned.strftime("%Y-%m-%d %H:%M:%S"))
}

/// Go's `time.Time` JSON encoding (RFC 3339 with nanoseconds, trailing zeros dropped).
/// jiff's own RFC 3339 printer does exactly that (no fraction when zero, else the fewest
/// digits), without the time-zone conversion and formatting a strftime pattern costs: the
/// simulator stamps every series point and pod status with it.
pub fn go_time_json(t: Timestamp) -> String {
    t.to_string()
}

/// The year-zero time Go marshals for an unset `time.Time`.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_are_recognised_by_image() {
        for (image, app) in [
            ("registry.k8s.io/heapster-amd64:v1.5.4", App::Heapster),
            (
                "registry.k8s.io/heapster-influxdb-amd64:v1.5.2",
                App::InfluxDb,
            ),
            (
                "registry.k8s.io/heapster-grafana-amd64:v5.0.4",
                App::Grafana,
            ),
            (
                "registry.k8s.io/kubernetes-dashboard-amd64:v1.10.1",
                App::Dashboard,
            ),
            ("kubernetesui/dashboard:v2.7.0", App::DashboardV2),
            (
                "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
                App::MetricsServer,
            ),
            ("kubernetesui/metrics-scraper:v1.0.8", App::Scraper),
            ("ghcr.io/headlamp-k8s/headlamp:v0.45.0", App::Headlamp),
            ("registry.k8s.io/coredns/coredns:v1.12.1", App::Other),
        ] {
            assert_eq!(App::of_image(image), app, "{image}");
        }
    }

    #[test]
    fn go_time_formats() {
        let t: Timestamp = "2026-11-28T03:18:10Z".parse().unwrap();
        assert_eq!(go_time_string(t), "2026-11-28 03:18:10 +0000 UTC");
        assert_eq!(go_time_json(t), "2026-11-28T03:18:10Z");
        let frac: Timestamp = "2026-11-28T03:18:10.25Z".parse().unwrap();
        assert_eq!(go_time_json(frac), "2026-11-28T03:18:10.25Z");
        let nano: Timestamp = "2026-11-28T03:18:10.000000001Z".parse().unwrap();
        assert_eq!(go_time_json(nano), "2026-11-28T03:18:10.000000001Z");
        let micro: Timestamp = "2026-11-28T03:18:10.12345Z".parse().unwrap();
        assert_eq!(go_time_json(micro), "2026-11-28T03:18:10.12345Z");
        let zero: Timestamp = GO_ZERO_TIME.parse().unwrap();
        assert_eq!(go_time_json(zero), GO_ZERO_TIME);
    }

    #[test]
    fn restful_pretty_print_matches_a_real_heapster_answer() {
        // kubernetes-retired/heapster#1168, as its reporter captured it.
        let real = include_str!("../../../tests/samples/heapster-1168-container-cpu-usage.json");
        let v: Value = serde_json::from_str(real).unwrap();
        assert_eq!(go_marshal_indent(&v, " ", " "), real.trim_end());
    }

    #[test]
    fn restful_pretty_print_matches_go() {
        // heapster#1882 shows this layout: two spaces before a top-level key.
        let out = go_marshal_indent(&json!({"metrics": [{"value": 1}]}), " ", " ");
        assert_eq!(
            out,
            "{\n  \"metrics\": [\n   {\n    \"value\": 1\n   }\n  ]\n }"
        );
    }
}
