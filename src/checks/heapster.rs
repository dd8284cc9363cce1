//! Heapster's health and model API (heapster v1.5.4 `metrics/heapster.go`,
//! `metrics/api/v1/model_handlers.go`): what the checks fetch through the service proxy,
//! and the pure verdicts on the answers.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;

use super::context::{Ctx, Needs, NodeRow, answer_json, api_wait, node_name, node_ready};
use super::nodes::capacity;
use super::series::{self, Point, SeriesRules};
use super::{METRICS, Verdict};
use crate::kubeclient::{self, Answer, snippet};
use crate::layout::Part;

/// What heapster's `/healthz` says before its first export (`metrics/heapster.go`).
pub const NO_DATA_BATCH: &str = "could not get the latest data batch";

/// `GET /healthz` through the service proxy.
pub fn health(answer: &Answer) -> Verdict {
    if answer.status == 200 {
        return Verdict::Pass(format!("/healthz: {}", snippet(&answer.body)));
    }
    if answer.body.contains(NO_DATA_BATCH) {
        return Verdict::Wait(format!(
            "heapster has not scraped yet: /healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        ));
    }
    if answer.body.contains("No current data batch available") {
        return Verdict::Wait(format!(
            "heapster's latest data batch is stale (its housekeeping stopped): /healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        ));
    }
    match answer.api_status() {
        // Through the proxy a missing Service reads `endpoints "heapster" not found`
        // (ResourceLocation reads the Endpoints), or `services ...` with a port number.
        Some((reason, message))
            if reason == "NotFound"
                && (message.contains("endpoints") || message.contains("services")) =>
        {
            Verdict::Fail(format!(
                "no heapster service: {message}; the dashboard looks for Service kube-system/heapster"
            ))
        }
        Some((reason, message)) if reason == "Forbidden" => Verdict::Fail(format!(
            "not allowed to reach heapster through the API server: {message}"
        )),
        Some((_, message)) => Verdict::Wait(format!("heapster is not reachable yet: {message}")),
        None => Verdict::Wait(format!(
            "/healthz answered {}: {}",
            answer.status,
            snippet(&answer.body)
        )),
    }
}

/// Heapster's node list must equal the set of Ready nodes.
pub fn nodes(heapster: &[String], ready: &[String]) -> Verdict {
    let missing: Vec<&String> = ready.iter().filter(|n| !heapster.contains(n)).collect();
    let extra: Vec<&String> = heapster.iter().filter(|n| !ready.contains(n)).collect();
    match (missing.is_empty(), extra.is_empty()) {
        (true, true) if !ready.is_empty() => {
            Verdict::Pass(format!("heapster knows all {} Ready nodes", ready.len()))
        }
        (true, true) => Verdict::Wait("no Ready nodes to compare with".into()),
        (false, _) if heapster.is_empty() => Verdict::Wait(
            "heapster lists no nodes yet (no batch, or every kubelet scrape fails)".into(),
        ),
        _ => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing from heapster: {}", join(&missing)));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "heapster lists nodes that are not Ready: {}",
                    join(&extra)
                ));
            }
            Verdict::Wait(parts.join("; "))
        }
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// GET from heapster's model API; a missing service or a stuck pod fails at once.
pub(super) async fn get_json(ctx: &Ctx, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx.blocked(&[], Needs::HEAPSTER).await {
        return Err(Verdict::Fail(cause));
    }
    let (ns, svc) = ctx.layout.service(Part::Heapster);
    let answer = kubeclient::proxy_get(&ctx.client, &ns, &svc, path)
        .await
        .map_err(api_wait)?;
    ctx.record(&format!("heapster {path}"), &answer);
    answer_json(&answer, "heapster", path)
}

/// Every point of a heapster series.
pub(super) async fn get_points(ctx: &Ctx, path: &str) -> Result<Vec<Point>, Verdict> {
    let v = get_json(ctx, path).await?;
    series::parse_metric_result(&v).map_err(Verdict::Fail)
}

/// The latest point of a series, judged by `rules`.
pub(super) async fn get_series(
    ctx: &Ctx,
    path: &str,
    metric: &str,
    rules: SeriesRules,
) -> Result<Point, Verdict> {
    series::series(metric, &get_points(ctx, path).await?, &rules)
}

pub(super) async fn check_health(ctx: Arc<Ctx>) -> Verdict {
    if let Some(cause) = ctx.blocked(&[], Needs::HEAPSTER).await {
        return Verdict::Fail(cause);
    }
    let (ns, svc) = ctx.layout.service(Part::Heapster);
    match kubeclient::proxy_get(&ctx.client, &ns, &svc, "/healthz").await {
        Ok(answer) => {
            ctx.record("heapster /healthz", &answer);
            health(&answer)
        }
        Err(e) => api_wait(e),
    }
}

pub(super) async fn check_nodes(ctx: Arc<Ctx>) -> Verdict {
    let listed: Vec<String> = match get_json(&ctx, "/api/v1/model/nodes").await {
        Ok(v) => match serde_json::from_value(v) {
            Ok(l) => l,
            Err(e) => return Verdict::Fail(format!("malformed heapster node list: {e}")),
        },
        Err(v) => return v,
    };
    let ready = match ctx.snapshot().await {
        Ok(s) => s.ready_nodes(),
        Err(v) => return v,
    };
    nodes(&listed, &ready)
}

pub(super) async fn check_node_metrics(ctx: Arc<Ctx>, node: String) -> Verdict {
    let snap = match ctx.snapshot().await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let Some(n) = snap.nodes.iter().find(|n| node_name(n) == node) else {
        return Verdict::Fail(format!("node {node} is gone"));
    };
    if !node_ready(n) {
        // The nodes check reports a NotReady node; heapster cannot scrape it.
        return Verdict::Wait(format!(
            "node {node} is NotReady, so heapster cannot scrape it"
        ));
    }
    // What was seen goes in the table even when it fails the rules (a stale or zero
    // point is shown with its age); the first failing metric is the verdict.
    let mut row = NodeRow::default();
    let mut seen = Vec::new();
    let mut failed = None;
    for metric in METRICS {
        let path = format!("/api/v1/model/nodes/{node}/metrics/{metric}");
        let points = match get_points(&ctx, &path).await {
            Ok(p) => p,
            Err(v) => {
                failed.get_or_insert(v);
                continue;
            }
        };
        if let Some(latest) = series::latest(&points) {
            row.record(
                metric,
                latest.value,
                series::age(Timestamp::now(), latest.timestamp),
            );
        }
        match series::series(metric, &points, &ctx.rules(true, capacity(n, metric))) {
            Ok(p) => seen.push(format!("{metric} {}", series::human_value(metric, p.value))),
            Err(v) => {
                failed.get_or_insert(v);
            }
        }
    }
    if row != NodeRow::default() {
        ctx.summary
            .lock()
            .expect("summary lock")
            .nodes
            .insert(node, row.clone());
    }
    if let Some(v) = failed {
        return v;
    }
    ctx.first_metrics
        .lock()
        .expect("first metrics lock")
        .get_or_insert(ctx.started.elapsed());
    Verdict::Pass(format!(
        "{}, latest point {} old",
        seen.join(", "),
        crate::duration::format(row.age.unwrap_or_default())
    ))
}

pub(super) async fn check_pod_metrics(ctx: Arc<Ctx>, namespace: String, pod: String) -> Verdict {
    ctx.summary
        .lock()
        .expect("summary lock")
        .pods_checked
        .insert(pod.clone());
    let mut seen = Vec::new();
    for metric in METRICS {
        let path = format!("/api/v1/model/namespaces/{namespace}/pods/{pod}/metrics/{metric}");
        // Idle pods may use no CPU; memory of a running pod is never zero.
        let rules = ctx.rules(metric.starts_with("memory"), None);
        match get_series(&ctx, &path, metric, rules).await {
            Ok(p) => seen.push(format!("{metric} {}", series::human_value(metric, p.value))),
            Err(v) => return v,
        }
    }
    ctx.summary
        .lock()
        .expect("summary lock")
        .pods_with_metrics
        .insert(pod);
    Verdict::Pass(seen.join(", "))
}

pub(super) async fn check_pod_list_metrics(
    ctx: Arc<Ctx>,
    namespace: String,
    pods: Vec<String>,
) -> Verdict {
    if pods.is_empty() {
        return Verdict::Fail(format!("no running pods in {namespace}"));
    }
    let path = format!(
        "/api/v1/model/namespaces/{namespace}/pod-list/{}/metrics/memory/usage",
        pods.join(",")
    );
    let v = match get_json(&ctx, &path).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let Some(items) = v["items"].as_array() else {
        return Verdict::Fail(format!(
            "malformed pod-list answer: {}",
            kubeclient::snippet(&v.to_string())
        ));
    };
    if items.len() != pods.len() {
        return Verdict::Fail(format!(
            "pod-list answered {} items for {} pods",
            items.len(),
            pods.len()
        ));
    }
    let mut missing = Vec::new();
    // Why the first of them is not fresh: the series' own reason.
    let mut first_reason = None;
    for (pod, item) in pods.iter().zip(items) {
        let points = match series::parse_metric_result(item) {
            Ok(points) => points,
            Err(e) => return Verdict::Fail(e),
        };
        if let Err(v) = series::series("memory/usage", &points, &ctx.rules(true, None)) {
            missing.push(pod.as_str());
            first_reason.get_or_insert_with(|| format!("{pod}: {}", v.message()));
        }
    }
    if missing.is_empty() {
        Verdict::Pass(format!(
            "memory/usage for all {} pods in one request",
            pods.len()
        ))
    } else {
        Verdict::Wait(format!(
            "no fresh memory/usage in the batch answer for: {} ({})",
            missing.join(", "),
            first_reason.unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn healthz_answers() {
        assert!(
            health(&Answer {
                status: 200,
                body: "ok".into()
            })
            .is_pass()
        );
        let batch = Answer {
            status: 500,
            body: "[-]healthz failed: could not get the latest data batch\nhealthz check failed"
                .into(),
        };
        assert!(matches!(health(&batch), Verdict::Wait(r) if r.contains("not scraped yet")));
        let missing = Answer { status: 404, body: json!({"kind": "Status", "reason": "NotFound", "message": "services \"heapster\" not found"}).to_string() };
        assert!(matches!(health(&missing), Verdict::Fail(r) if r.contains("no heapster service")));
        let no_ep = Answer { status: 503, body: json!({"kind": "Status", "reason": "ServiceUnavailable", "message": "no endpoints available for service \"heapster\""}).to_string() };
        assert!(matches!(health(&no_ep), Verdict::Wait(_)));
    }

    #[test]
    fn a_refused_proxy_is_certain() {
        let forbidden = Answer {
            status: 403,
            body: json!({"kind": "Status", "reason": "Forbidden",
                "message": "services \"heapster\" is forbidden: User \"x\" cannot get resource \"services/proxy\""}).to_string(),
        };
        assert!(
            matches!(health(&forbidden), Verdict::Fail(m) if m.contains("not allowed to reach heapster") && m.contains("is forbidden"))
        );
    }

    #[test]
    fn node_sets_name_the_missing_node() {
        let ready = vec!["a".to_string(), "b".to_string()];
        assert!(nodes(&ready, &ready).is_pass());
        assert!(
            matches!(nodes(&["a".into()], &ready), Verdict::Wait(r) if r.contains("missing from heapster: b"))
        );
        assert!(matches!(nodes(&[], &ready), Verdict::Wait(r) if r.contains("no nodes yet")));
        // A node heapster lists that is not Ready (decisions.md: the nodes check reports it).
        let listed = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert!(
            matches!(nodes(&listed, &ready), Verdict::Wait(r) if r.contains("not Ready: c") && !r.contains("missing"))
        );
        assert!(matches!(nodes(&[], &[]), Verdict::Wait(r) if r.contains("no Ready nodes")));
    }
}
