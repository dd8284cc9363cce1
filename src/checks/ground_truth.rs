//! Ground truth: heapster and InfluxDB, or metrics.k8s.io, and the dashboard against the
//! calibrated load's targets (Kubernetes' e2e resource-consumer burning a known CPU and memory).

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::Value;

use super::context::{Ctx, api_wait};
use super::series::human_value;
use super::{Check, Verdict, check};
use crate::kubeclient::retry;
use crate::pipeline::load::{Load, LoadConfig};
use crate::stack::Stack;

/// A measurement against its calibrated target: within `tolerance` (relative) or not.
/// Still off may heal (usage settles after the load starts), so it waits.
pub fn within_tolerance(
    what: &str,
    metric: &str,
    target: i64,
    measured: i64,
    tolerance: f64,
) -> Verdict {
    let diff = (measured - target) as f64 / target.max(1) as f64;
    let text = format!(
        "{what}: {metric} measured {}, target {}, tolerance ±{:.0}% ({:+.0}%)",
        human_value(metric, measured),
        human_value(metric, target),
        tolerance * 100.0,
        diff * 100.0
    );
    if diff.abs() <= tolerance {
        Verdict::Pass(text)
    } else {
        Verdict::Wait(text)
    }
}

/// The node running the CPU load covers it: the pod's own CPU, read from the same source
/// as the node's, is the calibrated target (within tolerance), and the node reports at
/// least that much. A node below its pod, or a pod off its target, may still settle.
pub fn node_covers_pod(
    node: &str,
    node_cpu: i64,
    pod: &str,
    pod_cpu: i64,
    target: i64,
    tolerance: f64,
) -> Verdict {
    let pod_verdict = within_tolerance(pod, "cpu/usage_rate", target, pod_cpu, tolerance);
    if !pod_verdict.is_pass() {
        return Verdict::Wait(format!(
            "node {node} reports {node_cpu}m, its load pod {}",
            pod_verdict.message()
        ));
    }
    if node_cpu < pod_cpu {
        return Verdict::Wait(format!(
            "node {node} reports {node_cpu}m, less than its load pod's {pod_cpu}m (target {target}m)"
        ));
    }
    Verdict::Pass(format!(
        "node {node} {node_cpu}m >= load pod {pod_cpu}m, target {target}m within ±{:.0}%",
        tolerance * 100.0
    ))
}

/// `SELECT last("value") ...`'s one row: its time and value (heapster writes
/// `cpu/usage_rate` as an integer; a float is read too).
pub fn influx_last(v: &Value) -> Option<(String, i64)> {
    let row = &v["results"][0]["series"][0]["values"][0];
    let value = row[1]
        .as_i64()
        .or_else(|| row[1].as_f64().map(|f| f.round() as i64))?;
    Some((row[0].as_str()?.to_string(), value))
}

/// The load pods as a UI shows them, each against its target: `usage(pod, what)` is the
/// CPU pod's CPU or the memory pod's memory (`what`), as the UI reads it.
fn ui_load(
    ui: &str,
    load: &LoadConfig,
    cpu_pod: &str,
    memory_pod: &str,
    usage: impl Fn(&str, &str) -> Option<i64>,
) -> Verdict {
    let mut passed = Vec::new();
    for (pod, metric, what) in [
        (cpu_pod, "cpu/usage_rate", "cpu"),
        (memory_pod, "memory/usage", "memory"),
    ] {
        let target = load.target(what);
        let Some(measured) = usage(pod, what) else {
            return Verdict::Wait(format!(
                "{ui} shows no {what} for {pod} yet (target {})",
                human_value(metric, target)
            ));
        };
        match within_tolerance(pod, metric, target, measured, load.tolerance(what)) {
            Verdict::Pass(m) => passed.push(m),
            other => return other,
        }
    }
    Verdict::Pass(format!("{ui} shows {}", passed.join("; ")))
}

/// The dashboard's pod list of the load's namespace: each load pod's own latest usage
/// (`metrics.cpuUsage` of the CPU pod, `metrics.memoryUsage` of the memory pod, as its
/// charts show them: D@v1.10.1/v2.7.0 `resource/pod/metrics.go`) against its target.
pub fn dashboard_load(v: &Value, load: &LoadConfig, cpu_pod: &str, memory_pod: &str) -> Verdict {
    ui_load("the dashboard", load, cpu_pod, memory_pod, |pod, what| {
        let field = if what == "cpu" {
            "cpuUsage"
        } else {
            "memoryUsage"
        };
        v["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["objectMeta"]["name"] == pod)
            .and_then(|p| p["metrics"][field].as_i64())
    })
}

/// Headlamp's pod list (a `PodMetricsList`, as its pod list reads it): each load pod's
/// usage, summed over its containers, against its target.
pub fn headlamp_load(
    list: &Value,
    load: &LoadConfig,
    namespace: &str,
    cpu_pod: &str,
    memory_pod: &str,
) -> Verdict {
    ui_load("Headlamp", load, cpu_pod, memory_pod, |pod, what| {
        let s = super::headlamp::item(list, Some(namespace), pod)
            .and_then(|i| super::metrics_api::sample(i).ok())?;
        Some(if what == "cpu" {
            s.cpu_millicores
        } else {
            s.memory_bytes
        })
    })
}

pub(super) async fn check_headlamp(ctx: Arc<Ctx>, expected: String, load: Load) -> Verdict {
    match super::headlamp::get(&ctx, &expected, super::headlamp::POD_METRICS).await {
        Ok(list) => headlamp_load(
            &list,
            &load.config,
            &load.namespace,
            &load.cpu_pod,
            &load.memory_pod,
        ),
        Err(v) => v,
    }
}

/// The ground-truth checks of a calibrated load: heapster's model API (and InfluxDB), or
/// metrics.k8s.io, and the stack's UI (the dashboard, or Headlamp through the context
/// `headlamp_context` its Deployment asks for), against the load's targets.
pub(super) fn checks(load: &Load, stack: Stack, headlamp_context: String) -> Vec<Check> {
    let (a, b, c, d, e) = (
        load.clone(),
        load.clone(),
        load.clone(),
        load.clone(),
        load.clone(),
    );
    if stack != Stack::Heapster {
        let ui = match stack {
            Stack::Headlamp => check("ground_truth::headlamp", move |ctx| {
                check_headlamp(ctx, headlamp_context.clone(), e.clone())
            }),
            _ => check("ground_truth::dashboard", move |ctx| {
                check_dashboard(ctx, e.clone())
            }),
        };
        return vec![
            check("ground_truth::cpu", move |ctx| {
                check_pod_metrics(ctx, a.clone(), "cpu")
            }),
            check("ground_truth::memory", move |ctx| {
                check_pod_metrics(ctx, b.clone(), "memory")
            }),
            check("ground_truth::node_covers_pod", move |ctx| {
                check_node_covers_pod(ctx, c.clone(), Stack::MetricsServer)
            }),
            ui,
        ];
    }
    vec![
        check("ground_truth::cpu", move |ctx| {
            check_pod(ctx, a.clone(), "cpu", "cpu/usage_rate")
        }),
        check("ground_truth::memory", move |ctx| {
            check_pod(ctx, b.clone(), "memory", "memory/usage")
        }),
        check("ground_truth::node_covers_pod", move |ctx| {
            check_node_covers_pod(ctx, c.clone(), Stack::Heapster)
        }),
        check("ground_truth::influxdb", move |ctx| {
            check_influxdb(ctx, d.clone())
        }),
        check("ground_truth::dashboard", move |ctx| {
            check_dashboard(ctx, e.clone())
        }),
    ]
}

fn pod_series_path(ns: &str, pod: &str, metric: &str) -> String {
    format!("/api/v1/model/namespaces/{ns}/pods/{pod}/metrics/{metric}")
}

async fn check_pod(ctx: Arc<Ctx>, load: Load, what: &'static str, metric: &'static str) -> Verdict {
    let (pod, target) = (load.pod(what), load.config.target(what));
    let points =
        super::heapster::get_points(&ctx, &pod_series_path(&load.namespace, pod, metric)).await;
    // The table shows the latest value seen, fresh or not, beside the target.
    let seen = points
        .as_ref()
        .ok()
        .and_then(|p| super::series::latest(p))
        .map(|p| super::series::human_value(metric, p.value));
    ctx.summary
        .lock()
        .expect("summary lock")
        .ground_truth
        .insert(
            what.to_string(),
            (super::series::human_value(metric, target), seen),
        );
    let point =
        match points.and_then(|p| super::series::series(metric, &p, &ctx.rules(false, None))) {
            Ok(p) => p,
            Err(v) => return v,
        };
    within_tolerance(
        pod,
        metric,
        target,
        point.value,
        load.config.tolerance(what),
    )
}

/// A load pod's `PodMetrics` against its target (metrics-server's own e2e does the same
/// with its consumers, `test/e2e_test.go@v0.9.0`).
async fn check_pod_metrics(ctx: Arc<Ctx>, load: Load, what: &'static str) -> Verdict {
    let (pod, target) = (load.pod(what), load.config.target(what));
    let metric = if what == "cpu" {
        "cpu/usage_rate"
    } else {
        "memory/usage"
    };
    let path = format!(
        "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{pod}",
        load.namespace
    );
    let sample = metrics_sample(&ctx, &path).await;
    let seen = sample.as_ref().ok().map(|s| {
        let v = if what == "cpu" {
            s.cpu_millicores
        } else {
            s.memory_bytes
        };
        human_value(metric, v)
    });
    ctx.summary
        .lock()
        .expect("summary lock")
        .ground_truth
        .insert(what.to_string(), (human_value(metric, target), seen));
    let s = match sample {
        Ok(s) => s,
        Err(v) => return v,
    };
    let verdict = super::metrics_api::judge(pod, &s, &ctx.rules(false, None), None);
    if !verdict.is_pass() {
        return verdict;
    }
    let measured = if what == "cpu" {
        s.cpu_millicores
    } else {
        s.memory_bytes
    };
    within_tolerance(pod, metric, target, measured, load.config.tolerance(what))
}

/// A PodMetrics or NodeMetrics sample, read as the metrics-server checks read theirs (a
/// missing metrics-server Service fails at once; a 503 quotes the APIService).
async fn metrics_sample(ctx: &Ctx, path: &str) -> Result<super::metrics_api::Sample, Verdict> {
    let v = super::metrics_api::get(ctx, path).await?;
    super::metrics_api::sample(&v).map_err(|e| Verdict::Fail(format!("{path}: {e}")))
}

/// The latest CPU in millicores of the object at `model` (heapster's model API, without
/// the `/metrics/...` suffix) or `metrics` (its `PodMetrics`/`NodeMetrics`), per stack.
async fn latest_cpu(ctx: &Ctx, stack: Stack, model: &str, metrics: &str) -> Result<i64, Verdict> {
    let metric = "cpu/usage_rate";
    match stack {
        Stack::Heapster => super::heapster::get_series(
            ctx,
            &format!("{model}/metrics/{metric}"),
            metric,
            ctx.rules(true, None),
        )
        .await
        .map(|p| p.value),
        Stack::MetricsServer | Stack::Headlamp => {
            metrics_sample(ctx, metrics).await.map(|s| s.cpu_millicores)
        }
    }
}

/// The CPU load pod's node reports at least the pod's own CPU.
async fn check_node_covers_pod(ctx: Arc<Ctx>, load: Load, stack: Stack) -> Verdict {
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &load.namespace);
    let pod = match retry(|| pods.get(&load.cpu_pod)).await {
        Ok(p) => p,
        Err(e) => return api_wait(e),
    };
    let Some(node) = pod.spec.and_then(|s| s.node_name) else {
        return Verdict::Wait("the CPU load pod is not scheduled".into());
    };
    let (ns, pod) = (&load.namespace, &load.cpu_pod);
    let pod_cpu = match latest_cpu(
        &ctx,
        stack,
        &format!("/api/v1/model/namespaces/{ns}/pods/{pod}"),
        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{pod}"),
    )
    .await
    {
        Ok(v) => v,
        Err(v) => return v,
    };
    let node_cpu = latest_cpu(
        &ctx,
        stack,
        &format!("/api/v1/model/nodes/{node}"),
        &format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}"),
    )
    .await;
    match node_cpu {
        Ok(n) => node_covers_pod(
            &node,
            n,
            pod,
            pod_cpu,
            load.config.cpu_millicores,
            load.config.tolerance("cpu"),
        ),
        Err(v) => v,
    }
}

async fn check_influxdb(ctx: Arc<Ctx>, load: Load) -> Verdict {
    let q = format!(
        "SELECT last(\"value\") FROM \"cpu/usage_rate\" WHERE \"type\" = 'pod' AND \"namespace_name\" = '{}' AND \"pod_name\" = '{}' GROUP BY \"pod_name\"",
        load.namespace, load.cpu_pod
    );
    let v = match super::influxdb::query(&ctx, &q).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    match influx_last(&v) {
        Some((t, value)) => match within_tolerance(
            &load.cpu_pod,
            "cpu/usage_rate",
            load.config.cpu_millicores,
            value,
            load.config.tolerance("cpu"),
        ) {
            Verdict::Pass(m) => Verdict::Pass(format!("InfluxDB at {t}: {m}")),
            other => other,
        },
        None => Verdict::Wait(format!(
            "InfluxDB has no cpu/usage_rate series for {}/{} yet",
            load.namespace, load.cpu_pod
        )),
    }
}

async fn check_dashboard(ctx: Arc<Ctx>, load: Load) -> Verdict {
    let path = format!("/api/v1/pod/{}", load.namespace);
    let v = match super::dashboard::get(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let listed = v["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["objectMeta"]["name"] == load.cpu_pod.as_str());
    if !listed {
        return Verdict::Wait(format!(
            "the dashboard's pod list of {} does not show {}",
            load.namespace, load.cpu_pod
        ));
    }
    match super::dashboard::list(&v, "pods", Timestamp::now(), ctx.config.max_age) {
        Verdict::Pass(_) => dashboard_load(&v, &load.config, &load.cpu_pod, &load.memory_pod),
        Verdict::Wait(why) => super::dashboard::with_upstream(&ctx, why).await,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_covers_pod_judges_the_pod_against_its_target_and_the_node_against_the_pod() {
        let judge = |node, pod| node_covers_pod("w", node, "load-cpu", pod, 100, 0.2);
        assert!(
            matches!(judge(450, 104), Verdict::Pass(m) if m.contains("450m >= load pod 104m") && m.contains("target 100m"))
        );
        // A 10x skewed load: the node covers it, but it is not the calibrated load.
        assert!(
            matches!(judge(1400, 1021), Verdict::Wait(m) if m.contains("measured 1021m")),
            "{:?}",
            judge(1400, 1021)
        );
        assert!(matches!(judge(1400, 1021), Verdict::Wait(m) if m.contains("target 100m")));
        // A node below its own pod.
        assert!(
            matches!(judge(90, 100), Verdict::Wait(m) if m.contains("less than its load pod's 100m"))
        );
        // Exactly at the edges.
        assert!(judge(100, 100).is_pass());
        assert!(judge(120, 120).is_pass());
        assert!(!judge(121, 121).is_pass());
        assert!(!judge(99, 100).is_pass());
    }

    #[test]
    fn pod_series_use_heapsters_model_route() {
        // H@v1.5.4 metrics/api/v1/model_handlers.go.
        assert_eq!(
            pod_series_path("load", "load-cpu", "cpu/usage_rate"),
            "/api/v1/model/namespaces/load/pods/load-cpu/metrics/cpu/usage_rate"
        );
    }

    #[test]
    fn influx_last_reads_time_and_value() {
        let row = |value: Value| {
            json!({"results": [{"statement_id": 0, "series": [{"name": "cpu/usage_rate",
            "columns": ["time", "last"], "values": [["2026-12-01T10:00:00Z", value]]}]}]})
        };
        assert_eq!(
            influx_last(&row(json!(102))),
            Some(("2026-12-01T10:00:00Z".into(), 102))
        );
        assert_eq!(
            influx_last(&row(json!(101.6))),
            Some(("2026-12-01T10:00:00Z".into(), 102))
        );
        assert_eq!(
            influx_last(&json!({"results": [{"statement_id": 0}]})),
            None
        );
    }

    fn pod_list(cpu: Option<i64>, memory: Option<i64>) -> Value {
        json!({"pods": [
            {"objectMeta": {"name": "load-cpu"}, "metrics": {"cpuUsage": cpu, "memoryUsage": 5 << 20}},
            {"objectMeta": {"name": "load-memory"}, "metrics": {"cpuUsage": 0, "memoryUsage": memory}},
        ]})
    }

    #[test]
    fn the_dashboard_leg_judges_each_load_pod_against_its_target() {
        let load = LoadConfig::default();
        let judge = |v: &Value| dashboard_load(v, &load, "load-cpu", "load-memory");
        let good = judge(&pod_list(Some(103), Some(65 << 20)));
        assert!(
            matches!(&good, Verdict::Pass(m) if m.contains("load-cpu") && m.contains("load-memory")),
            "{good:?}"
        );
        let skewed = judge(&pod_list(Some(1021), Some(65 << 20)));
        assert!(
            matches!(&skewed, Verdict::Wait(m) if m.contains("target 100m")),
            "{skewed:?}"
        );
        let memory = judge(&pod_list(Some(100), Some(640 << 20)));
        assert!(
            matches!(&memory, Verdict::Wait(m) if m.contains("load-memory") && m.contains("target 64")),
            "{memory:?}"
        );
        let missing = judge(&pod_list(None, Some(64 << 20)));
        assert!(
            matches!(&missing, Verdict::Wait(m) if m.contains("the dashboard shows no cpu for load-cpu")),
            "{missing:?}"
        );
        // The memory pod's CPU and the CPU pod's memory are not judged.
        assert!(judge(&pod_list(Some(100), Some(64 << 20))).is_pass());
    }

    #[test]
    fn the_headlamp_leg_reads_the_pod_metrics_list() {
        let load = LoadConfig::default();
        let item = |name: &str, cpu: &str, memory: &str| {
            json!({"metadata": {"name": name, "namespace": "load"}, "timestamp": "2026-12-02T10:00:00Z", "window": "10s",
                   "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": memory}}]})
        };
        let list = |cpu: &str, memory: &str| json!({"items": [item("load-cpu", cpu, "5Mi"), item("load-memory", "1m", memory)]});
        let judge = |v: &Value, ns: &str| headlamp_load(v, &load, ns, "load-cpu", "load-memory");
        let good = judge(&list("103m", "65Mi"), "load");
        assert!(
            matches!(&good, Verdict::Pass(m) if m.starts_with("Headlamp shows load-cpu")),
            "{good:?}"
        );
        assert!(
            matches!(judge(&list("1021m", "65Mi"), "load"), Verdict::Wait(m) if m.contains("target 100m"))
        );
        assert!(
            matches!(judge(&list("100m", "640Mi"), "load"), Verdict::Wait(m) if m.contains("load-memory"))
        );
        // Another namespace's pods of the same name are not the load's.
        assert!(
            matches!(judge(&list("100m", "64Mi"), "other"), Verdict::Wait(m) if m.contains("Headlamp shows no cpu for load-cpu"))
        );
    }

    #[test]
    fn ground_truth_within_and_outside_tolerance() {
        assert!(
            matches!(within_tolerance("load-cpu", "cpu/usage_rate", 100, 112, 0.3), Verdict::Pass(m) if m.contains("measured 112m, target 100m, tolerance ±30% (+12%)"))
        );
        assert!(
            matches!(within_tolerance("load-cpu", "cpu/usage_rate", 100, 1001, 0.3), Verdict::Wait(m) if m.contains("measured 1001m, target 100m") && m.contains("+901%"))
        );
        assert!(
            matches!(within_tolerance("load-memory", "memory/usage", 64 << 20, 30 << 20, 0.3), Verdict::Wait(m) if m.contains("-53%"))
        );
    }
}
