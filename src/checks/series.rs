//! Series of metric points and the rules a fresh, real series follows, as heapster's own
//! integration test has them; Kubernetes quantities; how values are shown.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::Verdict;
use crate::kubeclient::snippet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub timestamp: Timestamp,
    pub value: i64,
}

/// A heapster model API `MetricResult`: `{"metrics": [{timestamp, value}], "latestTimestamp"}`.
pub fn parse_metric_result(v: &Value) -> Result<Vec<Point>, String> {
    let metrics = v["metrics"].as_array().ok_or_else(|| {
        format!(
            "malformed metric result (no \"metrics\" array): {}",
            snippet(&v.to_string())
        )
    })?;
    metrics
        .iter()
        .map(|m| {
            let timestamp = m["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .ok_or_else(|| format!("malformed point (timestamp): {m}"))?;
            // Values are uint64; a negative rate wraps around (heapster#1193). Read them
            // as the dashboard does: as int64, negatives clamped to 0.
            let value = m["value"]
                .as_u64()
                .map(|v| (v as i64).max(0))
                .or_else(|| m["value"].as_f64().map(|f| f as i64))
                .ok_or_else(|| format!("malformed point (value): {m}"))?;
            Ok(Point { timestamp, value })
        })
        .collect()
}

/// Sanity as heapster's own integration test has it: at least one point, the latest
/// fresh, the first under an hour old; and, for usage, above zero and within capacity.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRules {
    pub now: Timestamp,
    pub max_age: Duration,
    pub must_be_positive: bool,
    pub capacity: Option<i64>,
}

/// The newest point, judged or not.
pub fn latest(points: &[Point]) -> Option<Point> {
    points.iter().max_by_key(|p| p.timestamp).copied()
}

pub fn series(metric: &str, points: &[Point], rules: &SeriesRules) -> Result<Point, Verdict> {
    let Some(latest) = latest(points) else {
        return Err(Verdict::Wait(format!("{metric}: no points yet")));
    };
    let age = age(rules.now, latest.timestamp);
    if age > rules.max_age {
        return Err(Verdict::Wait(format!(
            "{metric}: latest point is {} old (limit {})",
            crate::duration::format(age),
            crate::duration::format(rules.max_age)
        )));
    }
    let oldest = points
        .iter()
        .map(|p| p.timestamp)
        .min()
        .unwrap_or(latest.timestamp);
    if age_of(rules.now, oldest) > Duration::from_secs(3600) {
        return Err(Verdict::Wait(format!(
            "{metric}: first point is over an hour old"
        )));
    }
    if rules.must_be_positive && latest.value <= 0 {
        return Err(Verdict::Wait(format!(
            "{metric}: latest value is {} (expected above zero)",
            latest.value
        )));
    }
    if let Some(cap) = rules.capacity
        && latest.value > cap
    {
        return Err(Verdict::Fail(format!(
            "{metric}: latest value {} exceeds the node's capacity {cap}",
            latest.value
        )));
    }
    Ok(latest)
}

/// Age of a point, zero when it is (slightly) in the future.
pub fn age(now: Timestamp, t: Timestamp) -> Duration {
    age_of(now, t)
}

fn age_of(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO)
}

/// CPU in millicores, memory in MiB.
pub fn human_value(metric: &str, value: i64) -> String {
    if metric.starts_with("memory") {
        format!("{:.1} MiB", value as f64 / 1048576.0)
    } else {
        format!("{value}m")
    }
}

/// Kubernetes quantities: CPU in millicores (`4`, `3500m`), memory in bytes (`24653492Ki`, `16Gi`).
pub fn parse_quantity(q: &str, cpu: bool) -> Option<i64> {
    let (num, unit) = q
        .find(|c: char| c.is_alphabetic())
        .map(|i| q.split_at(i))
        .unwrap_or((q, ""));
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match (cpu, unit) {
        (true, "") => 1000.0,
        (true, "m") => 1.0,
        (true, "u") => 1e-3,
        (true, "n") => 1e-6,
        (false, "") => 1.0,
        (false, "Ki") => 1024.0,
        (false, "Mi") => 1024f64.powi(2),
        (false, "Gi") => 1024f64.powi(3),
        (false, "Ti") => 1024f64.powi(4),
        (false, "k") => 1e3,
        (false, "M") => 1e6,
        (false, "G") => 1e9,
        _ => return None,
    };
    Some((n * factor) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");

    fn sample(name: &str) -> String {
        std::fs::read_to_string(format!("{SAMPLES}/{name}")).unwrap()
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn metric_results_parse_and_reject_malformed_shapes() {
        let ok = json!({"metrics": [{"timestamp": "2026-11-25T10:00:00Z", "value": 250}], "latestTimestamp": "2026-11-25T10:00:00Z"});
        assert_eq!(parse_metric_result(&ok).unwrap()[0].value, 250);
        assert!(parse_metric_result(&json!({"items": []})).is_err());
        assert!(
            parse_metric_result(&json!({"metrics": [{"timestamp": "yesterday", "value": 1}]}))
                .is_err()
        );
        assert!(
            parse_metric_result(&json!({"metrics": [{"timestamp": "2026-11-25T10:00:00Z"}]}))
                .is_err()
        );
    }

    #[test]
    fn real_heapster_answers_parse() {
        // heapster#1168: a complete answer, pretty-printed as heapster writes it.
        let v: Value =
            serde_json::from_str(&sample("heapster-1168-container-cpu-usage.json")).unwrap();
        let points = parse_metric_result(&v).unwrap();
        assert_eq!(points.len(), 5);
        let rules = SeriesRules {
            now: "2016-05-17T18:49:30Z".parse().unwrap(),
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: None,
        };
        assert_eq!(series("cpu/usage", &points, &rules).unwrap().value, 268925);
        // heapster#1193: cut by its reporter; a wrapped negative rate reads as 0, as the
        // dashboard reads it, and the latest point still decides.
        let text = format!(
            "{}  ],\n  \"latestTimestamp\": \"2016-06-16T09:56:00Z\"\n }}",
            sample("heapster-1193-pod-cpu-usage-rate.txt")
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        let points = parse_metric_result(&v).unwrap();
        assert_eq!(
            points.iter().map(|p| p.value).collect::<Vec<_>>(),
            [0, 2051, 999, 0, 4809]
        );
        let rules = SeriesRules {
            now: "2016-06-16T09:56:30Z".parse().unwrap(),
            ..rules
        };
        assert_eq!(
            series("cpu/usage_rate", &points, &rules).unwrap().value,
            4809
        );
        let wrapped_last = json!({"metrics": [{"timestamp": "2016-06-16T09:56:00Z", "value": 18446744073709548330u64}]});
        let points = parse_metric_result(&wrapped_last).unwrap();
        assert!(
            matches!(series("cpu/usage_rate", &points, &rules), Err(Verdict::Wait(r)) if r.contains("latest value is 0"))
        );
    }

    #[test]
    fn series_rules() {
        let rules = SeriesRules {
            now: t(10_000),
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: Some(4000),
        };
        let p = |s, v| Point {
            timestamp: t(s),
            value: v,
        };
        assert_eq!(
            series("cpu", &[p(9_950, 300), p(9_990, 320)], &rules)
                .unwrap()
                .value,
            320
        );
        assert!(
            matches!(series("cpu", &[], &rules), Err(Verdict::Wait(r)) if r.contains("no points"))
        );
        assert!(
            matches!(series("cpu", &[p(10_000 - 2400, 300)], &rules), Err(Verdict::Wait(r)) if r.contains("40m old"))
        );
        assert!(
            matches!(series("cpu", &[p(9_990, 0)], &rules), Err(Verdict::Wait(r)) if r.contains("above zero"))
        );
        assert!(
            matches!(series("cpu", &[p(9_990, 5000)], &rules), Err(Verdict::Fail(r)) if r.contains("capacity 4000"))
        );
        assert!(
            matches!(series("cpu", &[p(5_000, 1), p(9_990, 1)], &rules), Err(Verdict::Wait(r)) if r.contains("over an hour"))
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("4", true), Some(4000));
        assert_eq!(parse_quantity("3500m", true), Some(3500));
        assert_eq!(parse_quantity("64628397n", true), Some(64));
        assert_eq!(parse_quantity("24653492Ki", false), Some(24653492 * 1024));
        assert_eq!(parse_quantity("16Gi", false), Some(16 * 1024 * 1024 * 1024));
        assert_eq!(parse_quantity("lots", false), None);
        // Every suffix a quantity may carry (k8s.io/apimachinery resource.Quantity).
        assert_eq!(parse_quantity("250000u", true), Some(250));
        assert_eq!(parse_quantity("1048576", false), Some(1 << 20));
        assert_eq!(parse_quantity("512Mi", false), Some(512 << 20));
        assert_eq!(parse_quantity("1Ti", false), Some(1 << 40));
        assert_eq!(parse_quantity("64k", false), Some(64_000));
        assert_eq!(parse_quantity("64M", false), Some(64_000_000));
        assert_eq!(parse_quantity("2G", false), Some(2_000_000_000));
        assert_eq!(parse_quantity("1Ki", true), None, "not a CPU unit");
    }

    #[test]
    fn series_at_its_edges() {
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let point = |secs_before: u64, value| Point {
            timestamp: t0 - Duration::from_secs(secs_before),
            value,
        };
        let rules = SeriesRules {
            now: t0,
            max_age: Duration::from_secs(120),
            must_be_positive: true,
            capacity: Some(4000),
        };
        // The latest point exactly at the age limit is fresh; a second older is not.
        assert!(series("cpu/usage_rate", &[point(120, 5)], &rules).is_ok());
        assert!(
            matches!(series("cpu/usage_rate", &[point(121, 5)], &rules), Err(Verdict::Wait(m)) if m.contains("old"))
        );
        // The first point exactly an hour old is fine; older is not.
        assert!(series("cpu/usage_rate", &[point(3600, 5), point(10, 5)], &rules).is_ok());
        assert!(
            matches!(series("cpu/usage_rate", &[point(3601, 5), point(10, 5)], &rules), Err(Verdict::Wait(m)) if m.contains("over an hour"))
        );
        // Exactly at capacity passes; above fails.
        assert!(series("cpu/usage_rate", &[point(1, 4000)], &rules).is_ok());
        assert!(
            matches!(series("cpu/usage_rate", &[point(1, 4001)], &rules), Err(Verdict::Fail(m)) if m.contains("capacity"))
        );
    }
}
