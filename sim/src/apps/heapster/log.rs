//! What heapster logs: its start-up lines and, at every export, one line per kubelet it
//! cannot scrape and per list its reflectors are refused (glog format).

use jiff::Timestamp;
use serde_json::Value;

use super::run::{Heapster, fatal_error};
use crate::apps::common::{container_args, flag, flag_values, service_account_of};
use crate::cluster::State;
use crate::rbac;

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
