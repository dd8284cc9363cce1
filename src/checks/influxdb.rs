//! InfluxDB, heapster's sink: the `k8s` database and recent node series, queried through
//! the service proxy.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::context::{Ctx, Needs, answer_json, api_wait};
use super::series::age;
use super::{METRICS, Verdict};
use crate::kubeclient::{self, snippet};
use crate::layout::Part;

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
    let influxdb = ctx.layout.deployment(Part::InfluxDb);
    if let Some(cause) = ctx.blocked(&[&influxdb], Needs::HEAPSTER).await {
        return Err(Verdict::Fail(cause));
    }
    let encoded: String = form_encode(&[("db", "k8s"), ("q", query)]);
    // InfluxDB's HTTP API port (heapster's manifests name no port).
    let (ns, svc) = ctx.layout.service(Part::InfluxDb);
    let answer = kubeclient::proxy_get(
        &ctx.client,
        &ns,
        &format!("{svc}:8086"),
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

    /// `GROUP BY "nodename"`: one series per node, its tag and its one `last` row.
    fn per_node(rows: &[(&str, &str)]) -> Value {
        json!({"results": [{"statement_id": 0, "series": rows.iter().map(|(node, t)| json!({
            "name": "cpu/usage_rate", "tags": {"nodename": node}, "columns": ["time", "last"],
            "values": [[t, 120]]})).collect::<Vec<_>>()}]})
    }

    #[test]
    fn every_node_needs_a_recent_point() {
        let now: Timestamp = "2026-12-01T10:01:00Z".parse().unwrap();
        let nodes = vec!["a".to_string(), "b".to_string()];
        let judge =
            |v: &Value| node_series(v, "cpu/usage_rate", &nodes, now, Duration::from_secs(120));
        let fresh = per_node(&[("a", "2026-12-01T10:00:30Z"), ("b", "2026-12-01T10:00:30Z")]);
        assert!(matches!(judge(&fresh), Verdict::Pass(m) if m.contains("2 nodes")));
        // Exactly at the limit still counts; one second past does not.
        let edge = per_node(&[("a", "2026-12-01T09:59:00Z"), ("b", "2026-12-01T09:58:59Z")]);
        assert!(
            matches!(judge(&edge), Verdict::Wait(m) if m.starts_with("b: latest cpu/usage_rate point") && !m.contains("a: ")),
            "{:?}",
            judge(&edge)
        );
        let missing = per_node(&[("a", "2026-12-01T10:00:30Z"), ("c", "2026-12-01T10:00:30Z")]);
        assert!(matches!(judge(&missing), Verdict::Wait(m) if m == "b: no cpu/usage_rate series"));
        let malformed = per_node(&[("a", "2026-12-01T10:00:30Z"), ("b", "yesterday")]);
        assert!(matches!(judge(&malformed), Verdict::Wait(m) if m.contains("b: malformed row")));
        let error = json!({"results": [{"statement_id": 0, "error": "database not found: k8s"}]});
        assert!(matches!(judge(&error), Verdict::Wait(m) if m.contains("database not found")));
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
