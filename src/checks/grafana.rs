//! Grafana in heapster's image: healthy, with the InfluxDB data source `setup_grafana`
//! registers.

use std::sync::Arc;

use serde_json::Value;

use super::Verdict;
use super::context::{Ctx, Needs, answer_json, api_wait};
use crate::kubeclient::{self, snippet};
use crate::layout::Part;

pub fn health(v: &Value) -> Verdict {
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

pub fn datasource(v: &Value) -> Verdict {
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

async fn get(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    let grafana = ctx.layout.deployment(Part::Grafana);
    if let Some(cause) = ctx.blocked(&[&grafana], Needs::PODS).await {
        return Err(Verdict::Fail(cause));
    }
    let (ns, svc) = ctx.layout.service(Part::Grafana);
    let answer = kubeclient::proxy_get(&ctx.client, &ns, &svc, path)
        .await
        .map_err(api_wait)?;
    ctx.record(&format!("grafana {path}"), &answer);
    answer_json(&answer, "Grafana", path)
}

pub(super) async fn check_health(ctx: Arc<Ctx>) -> Verdict {
    get(&ctx, "/api/health")
        .await
        .map_or_else(|v| v, |v| health(&v))
}

pub(super) async fn check_datasource(ctx: Arc<Ctx>) -> Verdict {
    get(&ctx, "/api/datasources")
        .await
        .map_or_else(|v| v, |v| datasource(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_data_source_must_be_influxdb_on_the_k8s_database() {
        let source = |kind: &str, db: &str| json!([{"name": "influxdb-datasource", "type": kind, "database": db, "url": "http://monitoring-influxdb:8086"}]);
        assert!(
            matches!(datasource(&source("influxdb", "k8s")), Verdict::Pass(m) if m.contains("influxdb-datasource"))
        );
        assert!(
            matches!(datasource(&source("influxdb", "other")), Verdict::Wait(m) if m.contains("database k8s"))
        );
        assert!(matches!(
            datasource(&source("prometheus", "k8s")),
            Verdict::Wait(_)
        ));
        assert!(matches!(datasource(&json!([])), Verdict::Wait(m) if m.contains("among 0")));
        assert!(matches!(datasource(&json!({})), Verdict::Fail(m) if m.contains("malformed")));
    }
}
