//! dashboard-metrics-scraper v1.0.8, emulated from its source
//! (kubernetes-sigs/dashboard-metrics-scraper@v1.0.8; `sim/FIDELITY.md` names each file):
//!
//! - `server.go`: no update at start; a `time.NewTicker(--metric-resolution)` (1 m by
//!   default) lists `NodeMetrics` (unless scoped to namespaces by `POD_NAMESPACE`) and
//!   `PodMetrics` through the API server as the pod's service account; a failed list logs
//!   `Error scraping node metrics: ...` and stores nothing; a good one logs
//!   `Database updated: N nodes, M pods`. logrus JSON lines on stderr.
//! - `pkg/database/database.go`: rows of CPU millicores (`MilliValue()`) and memory bytes
//!   (`MilliValue()/1000`) stamped with sqlite's `datetime('now')` (whole seconds), culled
//!   after `--metric-duration` (15 m).
//! - `pkg/api/api.go`, `pkg/api/dashboard/dashboard.go`: the two routes under
//!   `/api/v1/dashboard/`; `MetricName` is the path segment before the next `/` (`cpu` of
//!   `cpu/usage_rate`); anything else under `/api/v1/dashboard/` answers the sub-router's
//!   catch-all, 200 `<time.Now()> - URL: <path>`, and anything else at all, `/healthz`
//!   included, the top router's, 200 `URL: <path>`.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{
    App, Http, container_args, env_var, flag, go_time_json, key_of, parse_go_duration, pod_started,
    pods_running, service_account_of,
};
use crate::cluster::{Cluster, ScraperDb, ScraperRow as Row, State};

const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);
const DEFAULT_DURATION: Duration = Duration::from_secs(15 * 60);

fn resolution(cluster: &Cluster, container: &Value) -> Duration {
    let args = container_args(container);
    let from_flag = flag(&args, "metric-resolution")
        .and_then(|v| parse_go_duration(&v))
        .unwrap_or(DEFAULT_RESOLUTION);
    cluster.config.timing.scraper.unwrap_or(from_flag)
}

/// Run every scraper's ticker up to `now`.
pub fn tick(cluster: &Cluster, st: &mut State, now: Timestamp) {
    for (pod, container) in pods_running(st, App::Scraper) {
        let Some(started) = pod_started(st, &pod) else {
            continue;
        };
        let every = resolution(cluster, &container).max(Duration::from_millis(10));
        let key = key_of(&pod);
        let mut db = st.scrapers.remove(&key).unwrap_or_default();
        let due = ((now.duration_since(started).as_secs_f64() / every.as_secs_f64()).floor()
            as u64)
            .min(db.ticks + 100);
        while db.ticks < due {
            db.ticks += 1;
            let at = started + every * db.ticks as u32;
            let line = update(cluster, st, &pod, &container, &mut db, at);
            append_json_log(st, &pod, &container, line.0, &line.1, at);
        }
        st.scrapers.insert(key, db);
    }
}

/// `update`: list, insert, cull; the log line it ends with.
fn update(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
    db: &mut ScraperDb,
    at: Timestamp,
) -> (&'static str, String) {
    let who = service_account_of(pod);
    // `--namespace` defaults to $POD_NAMESPACE; set, it skips node metrics.
    let scoped = env_var(container, "POD_NAMESPACE").filter(|n| !n.is_empty());
    let nodes = if scoped.is_none() {
        match crate::aggregated::list(cluster, st, &who, "nodes", None, at) {
            Ok(n) => n,
            Err(e) => {
                let msg = crate::aggregated::client_go_error(&e, "get", "nodes");
                return ("error", format!("Error scraping node metrics: {msg}"));
            }
        }
    } else {
        vec![]
    };
    let ns = scoped.as_deref().unwrap_or_default();
    let pods = match crate::aggregated::list(cluster, st, &who, "pods", scoped.as_deref(), at) {
        Ok(p) => p,
        Err(e) => {
            let msg = crate::aggregated::client_go_error(&e, "get", "pods");
            return (
                "error",
                format!("Error scraping '{ns}' for pod metrics: {msg}"),
            );
        }
    };
    let stamp = Timestamp::from_second(at.as_second()).unwrap_or(at);
    for n in &nodes {
        db.nodes.push(row(n, &n["usage"], stamp));
    }
    for p in &pods {
        for c in p["containers"].as_array().into_iter().flatten() {
            db.pods.push(row(p, &c["usage"], stamp));
        }
    }
    let keep_from = at - DEFAULT_DURATION;
    db.nodes.retain(|r| r.time > keep_from);
    db.pods.retain(|r| r.time > keep_from);
    (
        "info",
        format!(
            "Database updated: {} nodes, {} pods",
            nodes.len(),
            pods.len()
        ),
    )
}

fn row(object: &Value, usage: &Value, time: Timestamp) -> Row {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Row {
        namespace: text(&object["metadata"]["namespace"]),
        name: text(&object["metadata"]["name"]),
        cpu_millicores: milli_value(usage["cpu"].as_str().unwrap_or("0")),
        memory_bytes: milli_value(usage["memory"].as_str().unwrap_or("0")) / 1000,
        time,
    }
}

/// `Quantity.MilliValue()`: the value in thousandths, rounded up.
pub fn milli_value(q: &str) -> u64 {
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().unwrap_or(0.0);
    let scale = match suffix {
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1048576.0,
        "Gi" => 1073741824.0,
        _ => 1.0,
    };
    (n * scale * 1000.0).ceil() as u64
}

/// logrus's JSON formatter: keys in order, RFC 3339 time.
fn append_json_log(
    st: &mut State,
    pod: &Value,
    container: &Value,
    level: &str,
    msg: &str,
    at: Timestamp,
) {
    let (ns, name) = key_of(pod);
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    let time = go_time_json(Timestamp::from_second(at.as_second()).unwrap_or(at));
    let line = json!({"level": level, "msg": msg, "time": time}).to_string();
    st.logs
        .entry((ns, name, cname))
        .or_default()
        .current
        .push(line);
}

/// The lines it prints at start (`server.go`).
pub fn start_lines(container: &Value, at: Timestamp) -> Vec<String> {
    let ns = env_var(container, "POD_NAMESPACE").unwrap_or_default();
    let stamp = go_time_json(Timestamp::from_second(at.as_second()).unwrap_or(at));
    [
        "Kubernetes host: https://10.96.0.1:443".to_string(),
        format!("Namespace(s): [{ns}]"),
    ]
    .into_iter()
    .map(|msg| json!({"level": "info", "msg": msg, "time": stamp}).to_string())
    .collect()
}

/// Port 8000.
pub fn serve(st: &State, pod: &Value, path: &str, now: Timestamp) -> Http {
    let db = st.scrapers.get(&key_of(pod)).cloned().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let answer = match parts.as_slice() {
        [
            "api",
            "v1",
            "dashboard",
            "nodes",
            name,
            "metrics",
            metric,
            _whatever,
        ] => Some(results(&db.nodes, None, name, metric)),
        [
            "api",
            "v1",
            "dashboard",
            "namespaces",
            ns,
            "pod-list",
            names,
            "metrics",
            metric,
            _whatever,
        ] => Some(results(&db.pods, Some(ns), names, metric)),
        _ => None,
    };
    match answer {
        // Go's `json.Marshal` of `SidecarMetricResultList`, no newline.
        Some(body) => Http {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        },
        // gorilla/mux: the sub-router under `PathPrefix("/api/v1/dashboard")` has its own
        // `PathPrefix("/")`, so it takes `/api/v1/dashboard/...`; the top router the rest.
        None if path.starts_with("/api/v1/dashboard/") => Http::text(
            200,
            format!(
                "{} - URL: {path}",
                go_time_string(now, pod_started(st, pod).unwrap_or(now))
            ),
        ),
        None => Http::text(200, format!("URL: {path}")),
    }
}

/// `fmt.Sprintf("%v", time.Now())` in a UTC container: `time.Time.String()`, fraction with
/// trailing zeros dropped, then the monotonic reading since the process started (`m=+S.N`).
fn go_time_string(now: Timestamp, process_start: Timestamp) -> String {
    let wall = now.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = now.subsec_nanosecond();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let mono = now.duration_since(process_start).unsigned_abs();
    format!(
        "{wall}{frac} +0000 UTC m=+{}.{:09}",
        mono.as_secs(),
        mono.subsec_nanos()
    )
}

/// `getRows` then `getNodeMetrics`/`getPodMetrics`: the named resources' rows summed per
/// name and time, one item per name (`uids` holds the name); `{"items":null}` for none.
fn results(rows: &[Row], namespace: Option<&str>, names: &str, metric: &str) -> Value {
    let wanted: Vec<&str> = names.split(',').collect();
    // Pod rows are picked by namespace too; node rows (no namespace) by name only. (Both
    // routes give pods a namespace, so `getRows`' "default" fallback is never reached.)
    let ns = namespace.unwrap_or("");
    let mut sums: BTreeMap<(String, Timestamp), u64> = BTreeMap::new();
    for r in rows {
        if !wanted.contains(&r.name.as_str()) || (namespace.is_some() && r.namespace != ns) {
            continue;
        }
        let v = if metric == "cpu" {
            r.cpu_millicores
        } else {
            r.memory_bytes
        };
        *sums.entry((r.name.clone(), r.time)).or_default() += v;
    }
    let mut items: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((name, t), v) in sums {
        items
            .entry(name)
            .or_default()
            .push(json!({"timestamp": go_time_json(t), "value": v}));
    }
    if items.is_empty() {
        return json!({"items": null});
    }
    let list: Vec<Value> = items
        .into_iter()
        .map(|(name, points)| {
            json!({"dataPoints": [], "metricPoints": points, "metricName": metric, "uids": [name]})
        })
        .collect();
    json!({"items": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_strings_carry_the_monotonic_reading() {
        let start: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let now = start + Duration::from_millis(12_345);
        assert_eq!(
            go_time_string(now, start),
            "2026-12-01 10:00:12.345 +0000 UTC m=+12.345000000"
        );
        assert_eq!(
            go_time_string(start, start),
            "2026-12-01 10:00:00 +0000 UTC m=+0.000000000"
        );
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn r(ns: &str, name: &str, cpu: u64, t: i64) -> Row {
        Row {
            namespace: ns.into(),
            name: name.into(),
            cpu_millicores: cpu,
            memory_bytes: cpu * 1000,
            time: at(t),
        }
    }

    #[test]
    fn milli_values_round_up_like_quantity() {
        assert_eq!(milli_value("64628397n"), 65);
        assert_eq!(milli_value("100m"), 100);
        assert_eq!(milli_value("70Mi") / 1000, 70 * 1048576);
        assert_eq!(milli_value("24653492Ki") / 1000, 24653492 * 1024);
    }

    #[test]
    fn pod_rows_are_summed_per_name_and_time() {
        let rows = vec![
            r("kube-system", "a", 5, 100),
            r("kube-system", "a", 7, 100),
            r("kube-system", "a", 3, 160),
            r("other", "a", 50, 100),
            r("kube-system", "b", 1, 100),
        ];
        let v = results(&rows, Some("kube-system"), "a", "cpu");
        assert_eq!(v["items"][0]["uids"], json!(["a"]));
        assert_eq!(v["items"][0]["metricPoints"][0]["value"], 12);
        assert_eq!(v["items"][0]["metricPoints"][1]["value"], 3);
        assert_eq!(v["items"][0]["dataPoints"], json!([]));
        assert_eq!(
            results(&rows, Some("kube-system"), "zz", "cpu"),
            json!({"items": null})
        );
    }
}
