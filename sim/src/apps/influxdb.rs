//! InfluxDB 1.5.2 in heapster's image (kubernetes-retired/heapster@6d59f996 `influxdb/`):
//! `/ping` and the subset of InfluxQL the checks send. What it holds is what heapster's
//! InfluxDB sink wrote (`metrics/sinks/influxdb/influxdb.go`@v1.5.4): database `k8s`,
//! created on the first write, one measurement per metric, field `value`, tags `type`,
//! `nodename`, `namespace_name`, `pod_name`; the image's config keeps `_internal`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{App, AppRequest, Http};
use super::heapster::{self, Heapster};
use crate::cluster::{Cluster, State};
use crate::store::Key;

/// The heapster whose sink writes into this InfluxDB, once it has exported a batch.
fn writer(cluster: &Cluster, st: &State, now: Timestamp) -> Option<Heapster> {
    let h = heapster::serving(cluster, st)?;
    let (ns, name) = h.sink.clone()?;
    let svc = st.store.get(&Key::new("/services", &ns, &name))?;
    let backed = crate::endpoints::ready_backends(st, svc)
        .iter()
        .any(|(_, c)| App::of_image(c["image"].as_str().unwrap_or_default()) == App::InfluxDb);
    (backed && h.has_batch(now)).then_some(h)
}

pub fn serve(cluster: &Cluster, st: &State, req: &AppRequest, now: Timestamp) -> Http {
    match req.path.trim_end_matches('/') {
        "/ping" => Http {
            status: 204,
            content_type: "text/plain",
            body: String::new(),
        },
        "/query" => {
            let q = req.query("q").unwrap_or_default().trim().to_string();
            let db = req.query("db").unwrap_or_default();
            let written = writer(cluster, st, now);
            match query(cluster, st, now, &q, db, written.as_ref()) {
                Ok(result) => Http::json(200, json!({"results": [result]})),
                // A query that does not parse is refused as a whole (httpd/handler.go).
                Err(e) => Http::json(400, json!({"error": e})),
            }
        }
        _ => Http::go_error(404, "404 page not found"),
    }
}

/// `SHOW DATABASES`, `SHOW MEASUREMENTS`, and
/// `SELECT last("value") FROM "<metric>" WHERE "type" = '<type>' [AND ...] GROUP BY "<tag>"`.
fn query(
    cluster: &Cluster,
    st: &State,
    now: Timestamp,
    q: &str,
    db: &str,
    written: Option<&Heapster>,
) -> Result<Value, String> {
    let upper = q.to_uppercase();
    if upper == "SHOW DATABASES" {
        let mut dbs = vec![json!(["_internal"])];
        if written.is_some() {
            dbs.push(json!(["k8s"]));
        }
        return Ok(
            json!({"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": dbs}]}),
        );
    }
    let parsed = if upper == "SHOW MEASUREMENTS" {
        None
    } else {
        Some(SelectLast::parse(q).ok_or_else(|| format!("error parsing query: {q}"))?)
    };
    let Some(h) = written.filter(|_| db == "k8s") else {
        return Ok(json!({"statement_id": 0, "error": format!("database not found: {db}")}));
    };
    let Some(parsed) = parsed else {
        let values: Vec<Value> = heapster::METRIC_NAMES.iter().map(|m| json!([m])).collect();
        return Ok(
            json!({"statement_id": 0, "series": [{"name": "measurements", "columns": ["name"], "values": values}]}),
        );
    };
    let mut series = Vec::new();
    let row = |tags: Value, (t, v): &(Timestamp, i64)| json!({"name": parsed.measurement, "tags": tags, "columns": ["time", "last"], "values": [[super::common::go_time_json(*t), v]]});
    match parsed.kind.as_str() {
        "node" => {
            for (node, points) in heapster::node_points(cluster, st, h, &parsed.measurement, now) {
                if let Some(p) = points.last() {
                    series.push(row(json!({"nodename": node}), p));
                }
            }
        }
        "pod" => {
            let pods = heapster::pod_points(
                cluster,
                st,
                h,
                parsed.namespace.as_deref(),
                &parsed.measurement,
                now,
            );
            for (pod, points) in pods {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                if parsed.pod.as_deref().is_some_and(|p| p != name) {
                    continue;
                }
                if let Some(p) = points.last() {
                    let tags =
                        json!({"pod_name": name, "namespace_name": pod["metadata"]["namespace"]});
                    series.push(row(tags, p));
                }
            }
        }
        _ => {}
    }
    Ok(if series.is_empty() {
        json!({"statement_id": 0})
    } else {
        json!({"statement_id": 0, "series": series})
    })
}

struct SelectLast {
    measurement: String,
    kind: String,
    namespace: Option<String>,
    pod: Option<String>,
}

impl SelectLast {
    fn parse(q: &str) -> Option<SelectLast> {
        let after_from = q.split_once(" FROM ")?.1;
        let measurement = after_from
            .trim_start()
            .strip_prefix('"')?
            .split('"')
            .next()?
            .to_string();
        let tag = |name: &str| {
            let pat = format!("\"{name}\" = '");
            q.split_once(&pat)
                .and_then(|(_, rest)| rest.split('\'').next())
                .map(str::to_string)
        };
        Some(SelectLast {
            measurement,
            kind: tag("type")?,
            namespace: tag("namespace_name"),
            pod: tag("pod_name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_last_is_parsed() {
        let q = SelectLast::parse("SELECT last(\"value\") FROM \"cpu/usage_rate\" WHERE \"type\" = 'pod' AND \"namespace_name\" = 'kube-system' GROUP BY \"pod_name\"").unwrap();
        assert_eq!(
            (
                q.measurement.as_str(),
                q.kind.as_str(),
                q.namespace.as_deref()
            ),
            ("cpu/usage_rate", "pod", Some("kube-system"))
        );
        assert!(SelectLast::parse("SELEKT 1").is_none());
    }
}
