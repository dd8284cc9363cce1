//! Grafana 5.0.4 in heapster's image (kubernetes-retired/heapster@6c02a7f9, first in
//! v1.6.0-beta.1: `grafana/run.sh`, `grafana/setup_grafana.go`). `run.sh` starts
//! `setup_grafana`, which waits for Grafana and then registers the InfluxDB data source
//! from its environment (`INFLUXDB_HOST`, `INFLUXDB_PORT` or `INFLUXDB_SERVICE_URL`,
//! database `k8s`); anonymous access is on unless `GF_AUTH_ANONYMOUS_ENABLED=false`.
//! The shapes of `/api/health` and `/api/datasources` follow Grafana 5's HTTP API.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{AppRequest, Http, env_var};

pub fn serve(
    container: &Value,
    req: &AppRequest,
    started: Option<Timestamp>,
    setup_delay: std::time::Duration,
    now: Timestamp,
) -> Http {
    let version = container["image"]
        .as_str()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_start_matches('v')
        .to_string();
    let anonymous = env_var(container, "GF_AUTH_ANONYMOUS_ENABLED").is_none_or(|v| v != "false");
    let role = env_var(container, "GF_AUTH_ANONYMOUS_ORG_ROLE").unwrap_or_else(|| "Viewer".into());
    match req.path.trim_end_matches('/') {
        // Unauthenticated in Grafana.
        "/api/health" => Http::json(
            200,
            json!({"commit": "unknown-dev", "database": "ok", "version": version}),
        ),
        "/api/datasources" if !anonymous => Http::json(401, json!({"message": "Unauthorized"})),
        "/api/datasources" if role != "Admin" => {
            Http::json(403, json!({"message": "Permission denied"}))
        }
        "/api/datasources" => {
            let registered = started.is_some_and(|s| now >= s + setup_delay);
            Http::json(
                200,
                json!(if registered {
                    vec![datasource(container)]
                } else {
                    vec![]
                }),
            )
        }
        _ => Http::json(404, json!({"message": "Not found"})),
    }
}

/// What `setup_grafana` posts, as Grafana lists it back.
fn datasource(container: &Value) -> Value {
    let env = |k: &str, default: &str| env_var(container, k).unwrap_or_else(|| default.into());
    let url = env_var(container, "INFLUXDB_SERVICE_URL").unwrap_or_else(|| {
        format!(
            "http://{}:{}",
            env("INFLUXDB_HOST", "monitoring-influxdb"),
            env("INFLUXDB_PORT", "8086")
        )
    });
    json!({
        "id": 1, "orgId": 1, "name": "influxdb-datasource", "type": "influxdb",
        "typeLogoUrl": "public/app/plugins/datasource/influxdb/img/influxdb_logo.svg",
        "access": env("BACKEND_ACCESS_MODE", "proxy"), "url": url,
        "password": env("INFLUXDB_PASSWORD", "root"), "user": env("INFLUXDB_USER", "root"),
        "database": env("INFLUXDB_DATABASE", "k8s"), "basicAuth": false, "isDefault": true,
        "jsonData": {}, "readOnly": false,
    })
}
