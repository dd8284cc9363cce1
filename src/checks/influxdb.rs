//! InfluxDB, heapster's sink: the `k8s` database and recent node series, queried through
//! the service proxy.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::context::{Ctx, answer_json, api_wait};
use super::series::age;
use super::{INFLUXDB, METRICS, NAMESPACE, Verdict};
use crate::kubeclient::{self, snippet};

/// `SHOW DATABASES` must list `k8s` (heapster's sink creates it on first write).
pub fn databases(v: &Value) -> Verdict {
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
pub fn node_series(
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

pub(super) async fn query(ctx: &Ctx, query: &str) -> Result<Value, Verdict> {
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

pub(super) async fn check_database(ctx: Arc<Ctx>) -> Verdict {
    match query(&ctx, "SHOW DATABASES").await {
        Ok(v) => databases(&v),
        Err(v) => v,
    }
}

pub(super) async fn check_node_series(ctx: Arc<Ctx>) -> Verdict {
    let ready = match ctx.snapshot().await {
        Ok(s) => s.ready_nodes(),
        Err(v) => return v,
    };
    let mut seen = Vec::new();
    for metric in METRICS {
        let q = format!(
            "SELECT last(\"value\") FROM \"{metric}\" WHERE \"type\" = 'node' AND time > now() - 10m GROUP BY \"nodename\""
        );
        match query(&ctx, &q).await {
            Ok(v) => match node_series(&v, metric, &ready, Timestamp::now(), ctx.config.max_age) {
                Verdict::Pass(m) => seen.push(m),
                other => return other,
            },
            Err(v) => return v,
        }
    }
    Verdict::Pass(seen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show_databases(names: &[&str]) -> Value {
        json!({"results": [{"statement_id": 0, "series": [{"name": "databases", "columns": ["name"],
            "values": names.iter().map(|n| json!([n])).collect::<Vec<_>>()}]}]})
    }

    #[test]
    fn the_k8s_database_is_required() {
        assert!(
            matches!(databases(&show_databases(&["_internal", "k8s"])), Verdict::Pass(m) if m.contains("_internal, k8s"))
        );
        assert!(
            matches!(databases(&show_databases(&["_internal"])), Verdict::Wait(m) if m.contains("no k8s database"))
        );
        assert!(matches!(
            databases(&show_databases(&["k8s2"])),
            Verdict::Wait(_)
        ));
        assert!(
            matches!(databases(&json!({"error": "x"})), Verdict::Fail(m) if m.contains("malformed"))
        );
    }

    #[test]
    fn influx_queries_are_url_encoded() {
        assert_eq!(
            form_encode(&[("db", "k8s"), ("q", "SHOW DATABASES")]),
            "db=k8s&q=SHOW%20DATABASES"
        );
    }
}
