//! Headlamp v0.45.0's checks: the exact requests its UI makes for node and pod metrics,
//! through its Service, with the checks' token as its auth cookie. Facts from
//! kubernetes-sigs/headlamp@v0.45.0 (`H:`):
//! - `/config` lists the in-cluster context (`backend/cmd/headlamp.go` `getConfig`,
//!   `getClusters`); without `-in-cluster` it lists none.
//! - The node list, details and overview read `GET /clusters/<ctx>/apis/metrics.k8s.io/
//!   v1beta1/nodes` every 10 s; the pod list `.../pods?limit=1000` every 5 s
//!   (`frontend/src/lib/k8s/node.ts`, `PodMetrics.ts`, `components/pod/List.tsx`).
//! - The token travels as the cookie `headlamp-auth-<sanitized ctx>.0`, `.1`, ... (chunks
//!   of 3800) and becomes `Authorization: Bearer` (`backend/pkg/auth/cookies.go`,
//!   `clusterRequestHandler`); the API server strips the caller's own `Authorization`
//!   before its service proxy, so a cookie is the only way through it.
//! - Headlamp rejects nothing itself: it passes the API server's answer through unchanged,
//!   and answers an unknown context with 404 `key not found`. Its 200 on `/` (the SPA
//!   answers every path) and its log (`Request completed successfully` for every proxied
//!   request, whatever the status) prove nothing about metrics, so neither is used.

use std::sync::Arc;

use serde_json::Value;

use super::Verdict;
use super::context::{Ctx, Needs, api_wait};
use super::metrics_api::{self, judge, sample};
use crate::kubeclient::{self, Answer, snippet};
use crate::layout::Part;

pub const HEADLAMP: &str = "headlamp";

/// Headlamp's namespace and its Service as the proxy names it, `NAME:PORT` (plain HTTP;
/// the shipped Service's one port is unnamed, `kubernetes-headlamp.yaml`: 80 -> 4466).
fn service(ctx: &Ctx) -> (String, String) {
    let place = ctx.layout.get(Part::Headlamp);
    let name = place
        .and_then(|p| p.service.clone())
        .unwrap_or_else(|| HEADLAMP.to_string());
    let port = place.and_then(|p| p.port).unwrap_or(80);
    (
        ctx.layout.namespace(Part::Headlamp),
        format!("{name}:{port}"),
    )
}

/// `DefaultInClusterContextName` (H:`backend/pkg/kubeconfig/kubeconfig.go`), the name
/// when `-in-cluster-context-name` is unset and kubeadm-config cannot be read.
pub const DEFAULT_CONTEXT: &str = "main";

/// The cookie chunk size (H:`backend/pkg/auth/cookies.go` `chunkSize`).
const CHUNK: usize = 3800;

pub const NODE_METRICS: &str = "apis/metrics.k8s.io/v1beta1/nodes";
/// `DEFAULT_LIST_LIMIT` (H:`frontend/src/lib/k8s/api/v2/KubeObjectEndpoint.ts`).
pub const POD_METRICS: &str = "apis/metrics.k8s.io/v1beta1/pods?limit=1000";

/// The in-cluster context `/config` lists: `clusters[]` whose `meta_data.source` is
/// `incluster` (H:`backend/cmd/headlamp.go` `getClusters`, `kubeconfig.go` `SourceStr`).
pub fn context_name(config: &Value) -> Result<String, String> {
    let Some(clusters) = config["clusters"].as_array() else {
        return Err(format!(
            "Headlamp's /config has no clusters list: {}",
            snippet(&config.to_string())
        ));
    };
    if let Some(c) = clusters
        .iter()
        .find(|c| c["meta_data"]["source"] == "incluster")
    {
        return Ok(c["name"].as_str().unwrap_or_default().to_string());
    }
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    Err(format!(
        "Headlamp's /config lists no in-cluster context (clusters: [{}]): it runs without -in-cluster, so every /clusters/<context>/ request answers 404 key not found; give it -in-cluster",
        names.join(", ")
    ))
}

/// `SanitizeClusterName`: only `[a-zA-Z0-9_-]`, at most 50 characters.
pub fn sanitize(context: &str) -> String {
    context
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(50)
        .collect()
}

/// The `Cookie` header Headlamp reads the token from: `headlamp-auth-<ctx>.N` chunks.
pub fn cookie(context: &str, token: &str) -> String {
    let name = sanitize(context);
    token
        .as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            format!(
                "headlamp-auth-{name}.{i}={}",
                String::from_utf8_lossy(chunk)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an answer through Headlamp says, by its status: JSON on 2xx; a certain cause for
/// an unknown context (Headlamp's own 404), a token that did not arrive (the API server's
/// 403 for `system:anonymous`), an account without the rights (its 403), a token the API
/// server rejects (401); a state that may heal otherwise (503 while metrics.k8s.io is
/// unavailable, 502 while Headlamp cannot reach the API server).
pub fn answer(answer: &Answer, context: &str, path: &str) -> Result<Value, Verdict> {
    let what = format!("Headlamp /clusters/{context}/{path}");
    let status = answer.api_status();
    let message = status
        .as_ref()
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| snippet(&answer.body));
    match answer.status {
        200..=299 => answer
            .json()
            .map_err(|e| Verdict::Fail(format!("{what}: {e}"))),
        404 if status.is_none() && answer.body.trim() == "key not found" => {
            Err(Verdict::Fail(format!(
                "{what}: 404 key not found: Headlamp has no context {context:?}; read its name from Headlamp's /config (or set -in-cluster-context-name)"
            )))
        }
        401 => Err(Verdict::Fail(format!(
            "{what}: 401 {message}: the API server rejects the checks' token; give a valid one (the token Secret of manifests/headlamp/30-headlamp-checks.yaml, or --dashboard-token-file)"
        ))),
        403 if message.contains("User \"system:anonymous\"") => Err(Verdict::Fail(format!(
            "{what}: 403 {message}: the token did not reach the API server, so Headlamp forwarded the request without credentials; Headlamp takes it only from the cookie headlamp-auth-{}.0 (the API server strips Authorization before its service proxy): let the Cookie header through to Headlamp",
            sanitize(context)
        ))),
        403 => Err(Verdict::Fail(format!(
            "{what}: 403 {message}: the checks' account may not read metrics; grant it list on nodes and pods in metrics.k8s.io (manifests/headlamp/30-headlamp-checks.yaml)"
        ))),
        503 if status.is_none() => Err(Verdict::Wait(format!(
            "{what}: 503 {message} (metrics.k8s.io unavailable, passed through by Headlamp)"
        ))),
        502 => Err(Verdict::Wait(format!(
            "{what}: 502 (Headlamp could not reach the API server)"
        ))),
        code => Err(Verdict::Wait(format!("{what}: {code} {message}"))),
    }
}

/// The item of a `NodeMetricsList` or `PodMetricsList` named `name` (in `namespace`).
pub fn item<'a>(list: &'a Value, namespace: Option<&str>, name: &str) -> Option<&'a Value> {
    list["items"].as_array()?.iter().find(|i| {
        i["metadata"]["name"] == name && namespace.is_none_or(|ns| i["metadata"]["namespace"] == ns)
    })
}

/// One object's metrics in Headlamp's list, judged as metrics.k8s.io's are; absent may heal
/// (metrics-server lists an object once it has two samples of it).
pub fn list_verdict(
    list: &Value,
    namespace: Option<&str>,
    name: &str,
    rules: &super::series::SeriesRules,
    capacity: Option<(i64, i64)>,
) -> Verdict {
    let kind = if namespace.is_some() {
        "PodMetrics"
    } else {
        "NodeMetrics"
    };
    let what = match namespace {
        Some(ns) => format!("{kind} {ns}/{name} through Headlamp"),
        None => format!("{kind} {name} through Headlamp"),
    };
    let Some(item) = item(list, namespace, name) else {
        let count = list["items"].as_array().map_or(0, Vec::len);
        return Verdict::Wait(format!("{what}: not in the list ({count} items)"));
    };
    match sample(item) {
        Ok(s) => judge(&what, &s, rules, capacity),
        Err(e) => Verdict::Fail(format!("{what}: {e}")),
    }
}

/// Headlamp's `/config`, kept as evidence; an answer other than 200 may heal.
async fn config(ctx: &Ctx) -> Result<Value, Verdict> {
    let (ns, svc) = service(ctx);
    let answer = kubeclient::proxy_get(&ctx.client, &ns, &svc, "/config")
        .await
        .map_err(api_wait)?;
    ctx.record("headlamp /config", &answer);
    if !answer.is_ok() {
        return Err(Verdict::Wait(format!(
            "Headlamp /config answered {}: {}",
            answer.status,
            snippet(&answer.body)
        )));
    }
    answer
        .json()
        .map_err(|e| Verdict::Fail(format!("Headlamp /config: {e}")))
}

/// The context the checks use: `/config`'s in-cluster one; when it lists none, the name
/// Headlamp's Deployment asks for (`expected`), so the request shows what Headlamp says.
async fn context(ctx: &Ctx, expected: &str) -> Result<String, Verdict> {
    let config = config(ctx).await?;
    Ok(context_name(&config).unwrap_or_else(|_| expected.to_string()))
}

pub(super) async fn check_config(ctx: Arc<Ctx>) -> Verdict {
    let headlamp = ctx.layout.deployment(Part::Headlamp);
    if let Some(cause) = ctx.blocked(&[&headlamp], Needs::PODS).await {
        return Verdict::Fail(cause);
    }
    let config = match config(&ctx).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    match context_name(&config) {
        Ok(name) => {
            let server = config["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == name.as_str())
                .and_then(|c| c["server"].as_str())
                .unwrap_or("?");
            Verdict::Pass(format!(
                "Headlamp serves the in-cluster context {name:?} (API server {server})"
            ))
        }
        Err(why) => Verdict::Fail(why),
    }
}

/// GET one of the UI's metrics requests through Headlamp as the checks' account.
pub(super) async fn get(ctx: &Ctx, expected: &str, path: &str) -> Result<Value, Verdict> {
    if let Some(cause) = ctx
        .blocked(
            &[
                &ctx.layout.deployment(Part::Headlamp),
                &ctx.layout.deployment(Part::MetricsServer),
            ],
            Needs::METRICS_API,
        )
        .await
    {
        return Err(Verdict::Fail(cause));
    }
    let Some(token) = ctx.dashboard_token.clone() else {
        return Err(Verdict::Fail("no token for the checks' account".into()));
    };
    let name = context(ctx, expected).await?;
    let full = {
        let (ns, svc) = service(ctx);
        kubeclient::service_proxy_path(&ns, &svc, &format!("/clusters/{name}/{path}"))
    };
    let cookie = cookie(&name, &token);
    let reply = kubeclient::raw(
        &ctx.client,
        http::Method::GET,
        &full,
        &[("cookie", &cookie)],
        vec![],
    )
    .await
    .map_err(api_wait)?;
    ctx.record(&format!("headlamp /clusters/{name}/{path}"), &reply);
    match answer(&reply, &name, path) {
        // Why metrics.k8s.io is unavailable: the APIService's own condition says.
        Err(Verdict::Wait(m)) if reply.status == 503 => Err(Verdict::Wait(
            match metrics_api::apiservice_state(ctx).await {
                Some(state) => format!("{m}; {state}"),
                None => m,
            },
        )),
        judged => judged,
    }
}

pub(super) async fn check_node_metrics(ctx: Arc<Ctx>, expected: String, node: String) -> Verdict {
    let list = match get(&ctx, &expected, NODE_METRICS).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    let cap = super::nodes::node_capacity(&ctx, &node).await;
    list_verdict(&list, None, &node, &ctx.rules(true, None), cap)
}

pub(super) async fn check_pod_metrics(
    ctx: Arc<Ctx>,
    expected: String,
    namespace: String,
    pod: String,
) -> Verdict {
    let list = match get(&ctx, &expected, POD_METRICS).await {
        Ok(v) => v,
        Err(v) => return v,
    };
    list_verdict(&list, Some(&namespace), &pod, &ctx.rules(false, None), None)
}

/// Whether Headlamp's node list shows recent non-zero metrics for every Ready node now
/// (the move's monitor).
pub(super) async fn shows_node_metrics(ctx: &Ctx, expected: &str) -> bool {
    let Ok(list) = get(ctx, expected, NODE_METRICS).await else {
        return false;
    };
    let Ok(snap) = ctx.snapshot().await else {
        return false;
    };
    let ready = snap.ready_nodes();
    !ready.is_empty()
        && ready
            .iter()
            .all(|n| list_verdict(&list, None, n, &ctx.rules(true, None), None).is_pass())
}

/// The context name Headlamp's Deployment asks for: `-in-cluster-context-name`, else
/// upstream's default (the checks read the real one from `/config`).
pub fn expected_context(deployment: &Value) -> String {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| crate::manifests::flag_of(c, "in-cluster-context-name"))
        .unwrap_or_else(|| DEFAULT_CONTEXT.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.into(),
        }
    }

    fn status(code: u16, reason: &str, message: &str) -> String {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}).to_string()
    }

    #[test]
    fn the_context_is_the_in_cluster_one_from_config() {
        // H@v0.45.0 `getConfig` in-cluster (headlamp-facts.md (d)).
        let config = json!({"clusters":[{"name":"main","server":"https://10.96.0.1:443","auth_type":"","meta_data":{"clusterID":"","extensions":null,"namespace":"","origin":{"kubeconfig":""},"originalName":"main","source":"incluster"}}],"isDynamicClusterEnabled":false});
        assert_eq!(context_name(&config), Ok("main".into()));
        let other = json!({"clusters":[{"name":"dev","meta_data":{"source":"kubeconfig"}}]});
        let err = context_name(&other).unwrap_err();
        assert!(
            err.contains("clusters: [dev]") && err.contains("-in-cluster"),
            "{err}"
        );
        let none = context_name(&json!({"clusters": []})).unwrap_err();
        assert!(
            none.contains("no in-cluster context (clusters: [])"),
            "{none}"
        );
        assert!(context_name(&json!({})).is_err());
    }

    #[test]
    fn the_cookie_is_named_after_the_sanitized_context_and_chunked() {
        assert_eq!(cookie("main", "abc"), "headlamp-auth-main.0=abc");
        assert_eq!(cookie("kind.local/x", "t"), "headlamp-auth-kindlocalx.0=t");
        assert_eq!(sanitize(&"a".repeat(60)).len(), 50);
        assert_eq!(sanitize("kind-e2e_1"), "kind-e2e_1");
        let long = "x".repeat(CHUNK + 5);
        let c = cookie("main", &long);
        assert!(
            c.starts_with(&format!("headlamp-auth-main.0={}; ", "x".repeat(CHUNK)))
                && c.ends_with("headlamp-auth-main.1=xxxxx"),
            "{}",
            &c[c.len() - 40..]
        );
    }

    #[test]
    fn each_status_names_its_cause() {
        let path = NODE_METRICS;
        let fail = |a: Answer| match answer(&a, "main", path) {
            Err(Verdict::Fail(m)) => m,
            other => panic!("{other:?}"),
        };
        let wait = |a: Answer| match answer(&a, "main", path) {
            Err(Verdict::Wait(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(fail(reply(404, "key not found\n")).contains("no context \"main\""));
        // The aggregator's own 404 (metrics.k8s.io not registered) is text too.
        assert!(wait(reply(404, "404 page not found\n")).contains("404 page not found"));
        // The API server's own 404 (no APIService) is not Headlamp's unknown context.
        assert!(
            wait(reply(
                404,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource"
                )
            ))
            .contains("could not find")
        );
        let anonymous = status(
            403,
            "Forbidden",
            "nodes.metrics.k8s.io is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope",
        );
        let m = fail(reply(403, &anonymous));
        assert!(
            m.contains("the token did not reach") && m.contains("headlamp-auth-main.0"),
            "{m}"
        );
        let rbac = status(
            403,
            "Forbidden",
            "nodes.metrics.k8s.io is forbidden: User \"system:serviceaccount:kube-system:headlamp-e2e-checks\" cannot list resource \"nodes\"",
        );
        let m = fail(reply(403, &rbac));
        assert!(
            m.contains("may not read metrics") && m.contains("headlamp-e2e-checks"),
            "{m}"
        );
        assert!(
            fail(reply(401, &status(401, "Unauthorized", "Unauthorized")))
                .contains("rejects the checks' token")
        );
        // The aggregator's text/plain 503 passes through Headlamp; it may heal.
        assert!(wait(reply(503, "service unavailable\n")).contains("metrics.k8s.io unavailable"));
        // The API server's service proxy cannot reach Headlamp: a Status, not metrics.k8s.io.
        let m = wait(reply(
            503,
            &status(
                503,
                "ServiceUnavailable",
                "no endpoints available for service \"headlamp\"",
            ),
        ));
        assert!(
            !m.contains("metrics.k8s.io unavailable") && m.contains("no endpoints"),
            "{m}"
        );
        assert!(wait(reply(502, "")).contains("could not reach the API server"));
        assert!(
            matches!(answer(&reply(200, "{\"items\":[]}"), "main", path), Ok(v) if v["items"].is_array())
        );
        assert!(matches!(
            answer(&reply(200, "<html>"), "main", path),
            Err(Verdict::Fail(_))
        ));
    }

    fn rules() -> crate::checks::series::SeriesRules {
        crate::checks::series::SeriesRules {
            now: "2026-12-02T10:00:30Z".parse().unwrap(),
            max_age: std::time::Duration::from_secs(120),
            must_be_positive: true,
            capacity: None,
        }
    }

    fn list() -> Value {
        json!({"kind": "NodeMetricsList", "items": [
            {"metadata": {"name": "n1"}, "timestamp": "2026-12-02T10:00:00Z", "window": "10.5s", "usage": {"cpu": "120m", "memory": "512Mi"}},
            {"metadata": {"name": "n2"}, "timestamp": "2026-12-02T10:00:00Z", "window": "10.5s", "usage": {"cpu": "0", "memory": "512Mi"}},
            {"metadata": {"name": "p", "namespace": "kube-system"}, "timestamp": "2026-12-02T10:00:00Z", "window": "10.5s",
             "containers": [{"name": "c", "usage": {"cpu": "5m", "memory": "10Mi"}}]},
        ]})
    }

    #[test]
    fn a_listed_object_is_judged_as_metrics_k8s_io_is() {
        let l = list();
        let pass = list_verdict(&l, None, "n1", &rules(), Some((1000, 1 << 33)));
        assert!(
            matches!(&pass, Verdict::Pass(m) if m.contains("NodeMetrics n1 through Headlamp: cpu 120m")),
            "{pass:?}"
        );
        assert!(
            matches!(list_verdict(&l, None, "n2", &rules(), None), Verdict::Wait(m) if m.contains("above zero"))
        );
        assert!(
            matches!(list_verdict(&l, None, "n3", &rules(), None), Verdict::Wait(m) if m.contains("not in the list (3 items)"))
        );
        assert!(
            matches!(list_verdict(&l, None, "n1", &rules(), Some((100, 1 << 33))), Verdict::Fail(m) if m.contains("above capacity"))
        );
        let mut pod_rules = rules();
        pod_rules.must_be_positive = false;
        assert!(list_verdict(&l, Some("kube-system"), "p", &pod_rules, None).is_pass());
        assert!(matches!(
            list_verdict(&l, Some("default"), "p", &pod_rules, None),
            Verdict::Wait(_)
        ));
    }

    #[test]
    fn the_expected_context_comes_from_the_flag() {
        let d =
            |args: Value| json!({"spec": {"template": {"spec": {"containers": [{"args": args}]}}}});
        assert_eq!(
            expected_context(&d(json!(["-in-cluster", "-in-cluster-context-name=ops"]))),
            "ops"
        );
        assert_eq!(expected_context(&d(json!(["-in-cluster"]))), "main");
    }
}
