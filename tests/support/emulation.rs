//! The simulator held to upstream's rules where the checks read it. Each trial asks the
//! simulated cluster, through the client the harness uses, for an answer whose shape an
//! upstream rule fixes (the rule and its source are written beside the assertion and in
//! `sim/FIDELITY.md`), asserts that shape, and runs the harness's verdict on it.
//!
//! What this proves: the emulation follows the rules as we read them from source, and the
//! verdicts read those shapes. What it cannot prove: that upstream answers so. That rests
//! on the cited source, and, where one exists, on a real captured answer kept as a fixture
//! in `tests/samples/` (heapster's JSON is compared with one byte for byte in
//! `sim/src/apps/common.rs`; the dashboard's log lines in the verdicts' unit tests).

use std::sync::Arc;
use std::time::Duration;

use heapster_e2e::checks::series::parse_metric_result;
use heapster_e2e::checks::{DASHBOARD_PROXY, NAMESPACE};
use heapster_e2e::checks::{Verdict, dashboard, heapster};
use heapster_e2e::kubeclient::{self, Answer};
use heapster_e2e::stack::Stack;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kind_sim::Scenario;
use kube::Api;
use libtest_mimic::Trial;
use serde_json::{Value, json};

use super::{Group, Rt};
use super::{SimStack, TestResult, check_config, manifests_dir, outcome, passed, stack_images};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "emulation");
    vec![
        g.trial("dashboard_node_list_sums_three_nodes", node_list_of_three),
        g.trial("dashboard_one_item_list_keeps_metric_points", one_item_list),
        g.trial(
            "dashboard_pod_list_reads_events_as_the_user",
            events_as_the_user,
        ),
        g.trial(
            "dashboard_session_expiry_is_a_500_renewed_once",
            session_expiry,
        ),
        g.trial("v2_expired_session_is_401_and_renewed", v2_session_expiry),
        g.trial("v2_list_without_rows_keeps_both_entries", v2_partial_list),
        g.trial("dashboard_state_needs_no_login", state_without_login),
        g.trial("heapster_healthy_without_scrapes", heapster_without_scrapes),
        g.trial("api_server_proxy_errors", proxy_errors),
        g.trial("impersonation_as_upstream_filters_it", impersonation),
        g.trial("kubectl_gets_a_table", kubectl_table),
    ]
}

const LONG: Duration = Duration::from_secs(60);

/// A healthy simulated cluster with the shipped heapster stack rolled out.
fn stack(rt: &tokio::runtime::Runtime) -> Result<SimStack, libtest_mimic::Failed> {
    stack_of(rt, Stack::Heapster, Scenario::Healthy)
}

/// A simulated cluster in `scenario` with `which` stack rolled out.
fn stack_of(
    rt: &tokio::runtime::Runtime,
    which: Stack,
    scenario: Scenario,
) -> Result<SimStack, libtest_mimic::Failed> {
    let dir = which.manifests(&super::root());
    let images = heapster_e2e::manifests::images(
        &heapster_e2e::manifests::load_dir(&dir).map_err(|e| e.to_string())?,
    );
    let stack = SimStack::start(rt, "sim", scenario, images);
    stack
        .apply_and_wait(rt, &dir, LONG)
        .map_err(|e| format!("rollout: {e}"))?;
    Ok(stack)
}

async fn get(
    client: &kube::Client,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    kubeclient::raw(client, http::Method::GET, path, headers, Vec::new())
        .await
        .map_err(|e| e.to_string())
}

fn dashboard(path: &str) -> String {
    dashboard_of(Stack::Heapster, path)
}

fn dashboard_of(which: Stack, path: &str) -> String {
    kubeclient::service_proxy_path(which.ui_deployment().0, DASHBOARD_PROXY, path)
}

fn heapster(path: &str) -> String {
    kubeclient::service_proxy_path(NAMESPACE, "heapster", path)
}

/// Log in as the checks' read-only account, as the dashboard's UI does.
async fn login(client: &kube::Client) -> Result<String, String> {
    login_to(client, Stack::Heapster).await
}

async fn login_to(client: &kube::Client, which: Stack) -> Result<String, String> {
    let dashboard = |path: &str| dashboard_of(which, path);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), which.ui_deployment().0);
    let secret = secrets
        .get(which.checks_identity().token_secret)
        .await
        .map_err(|e| e.to_string())?;
    let token = secret
        .data
        .and_then(|d| {
            d.get("token")
                .map(|t| String::from_utf8_lossy(&t.0).to_string())
        })
        .ok_or("no token in the checks' Secret")?;
    let csrf = get(client, &dashboard("/api/v1/csrftoken/login"), &[])
        .await?
        .json()?;
    let csrf = csrf["token"].as_str().unwrap_or_default().to_string();
    let answer = kubeclient::raw(
        client,
        http::Method::POST,
        &dashboard("/api/v1/login"),
        &[
            ("X-CSRF-TOKEN", &csrf),
            ("content-type", "application/json"),
        ],
        json!({"token": token}).to_string().into_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let v = answer.json()?;
    v["jweToken"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("login refused: {}", answer.body))
}

/// Poll `f` until it returns `Some`, for at most `LONG`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{what}: not within {LONG:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A dashboard list whose CPU series has at least two points.
async fn list_with_points(client: &kube::Client, jwe: &str, path: &str) -> Result<Value, String> {
    eventually(path, || async {
        let v = get(client, &dashboard(path), &[("jweToken", jwe)])
            .await?
            .json()?;
        let has_points = v["cumulativeMetrics"][0]["dataPoints"]
            .as_array()
            .is_some_and(|p| p.len() >= 2);
        Ok(has_points.then_some(v))
    })
    .await
}

/// dashboard v1.10.1 `common/aggregation.go`: for three nodes `metricPoints` is empty and
/// `dataPoints` holds, at each time, the sum of the nodes' heapster values.
fn node_list_of_three(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack(rt)?;
    let client = stack.client.clone();
    rt.block_on(async {
        let jwe = login(&client).await?;
        let list = list_with_points(&client, &jwe, "/api/v1/node").await?;
        let nodes = list["nodes"].as_array().cloned().unwrap_or_default();
        ensure!(nodes.len() == 3, "three nodes listed: {list}");
        for m in list["cumulativeMetrics"].as_array().into_iter().flatten() {
            ensure!(
                m["metricPoints"] == json!([]),
                "metricPoints only for one item: {m}"
            );
        }
        let memory = &list["cumulativeMetrics"][1];
        ensure!(memory["metricName"] == "memory/usage", "{memory}");
        // A second that is over (the newest may still be gaining batches).
        let data = memory["dataPoints"].as_array().cloned().unwrap_or_default();
        let last = data.iter().rev().nth(1).cloned().unwrap_or_default();
        let x = last["x"].as_i64().ok_or("a data point")?;
        let mut sum = 0;
        for n in &nodes {
            let name = n["objectMeta"]["name"].as_str().unwrap_or_default();
            let series = get(
                &client,
                &heapster(&format!("/api/v1/model/nodes/{name}/metrics/memory/usage")),
                &[],
            )
            .await?
            .json()?;
            // Every point in that second counts: the accelerated clock can put two
            // batches in one second, and `AggregatingMapFromDataList` sums them all.
            let points = parse_metric_result(&series)?;
            sum += points
                .iter()
                .filter(|p| p.timestamp.as_second() == x)
                .map(|p| p.value)
                .sum::<i64>();
        }
        ensure!(
            last["y"] == sum,
            "dataPoints sum the nodes: {last} vs {sum}"
        );
        let verdict = dashboard::list(&list, "nodes", Timestamp::now(), Duration::from_secs(120));
        ensure!(verdict.is_pass(), "{verdict:?}");
        Ok(())
    })
}

/// With exactly one item the aggregate keeps that item's `metricPoints`.
fn one_item_list(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack(rt)?;
    let solo = "apiVersion: v1\nkind: Namespace\nmetadata: {name: solo}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: solo, namespace: solo}\nspec:\n  selector: {matchLabels: {app: solo}}\n  template:\n    metadata: {labels: {app: solo}}\n    spec: {containers: [{name: grafana, image: 'registry.k8s.io/heapster-grafana-amd64:v5.0.4'}]}\n";
    let docs = heapster_e2e::manifests::parse_file(std::path::Path::new("solo.yaml"), solo)
        .map_err(|e| e.to_string())?;
    let client = stack.client.clone();
    rt.block_on(async {
        heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {})
            .await
            .map_err(|e| e.to_string())?;
        let jwe = login(&client).await?;
        let list = eventually("solo's memory points", || async {
            let v = get(
                &client,
                &dashboard("/api/v1/pod/solo"),
                &[("jweToken", &jwe)],
            )
            .await?
            .json()?;
            let points = v["cumulativeMetrics"][1]["metricPoints"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
            Ok(points.then_some(v))
        })
        .await?;
        ensure!(list["pods"].as_array().map(Vec::len) == Some(1), "{list}");
        let memory = &list["cumulativeMetrics"][1];
        // One item: the same points both ways (dataPoints per Unix second, summed when the
        // accelerated clock puts two batches in one second).
        let metric = memory["metricPoints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in memory["dataPoints"].as_array().into_iter().flatten() {
            let x = d["x"].as_i64().unwrap_or_default();
            let second = |p: &Value| {
                p["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .map(|t| t.as_second())
            };
            let sum: u64 = metric
                .iter()
                .filter(|p| second(p) == Some(x))
                .map(|p| p["value"].as_u64().unwrap_or_default())
                .sum();
            ensure!(
                d["y"] == sum,
                "one item: the same points both ways: {memory}"
            );
        }
        ensure!(
            !list["pods"][0]["metrics"]["memoryUsageHistory"].is_null(),
            "per-pod metrics: {list}"
        );
        Ok(())
    })
}

/// `resource/pod/list.go` lists events with the user's credentials; a 403 on them is
/// non-critical (200, the items, the refusal in `errors`). The verdict reports it and
/// still judges the metrics; a refusal of the pods themselves fails.
fn events_as_the_user(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack(rt)?;
    let client = stack.client.clone();
    let role = |resources: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: 'heapster-e2e:checks-read-only'}}\nrules:\n  - apiGroups: ['']\n    resources: [{resources}]\n    verbs: [get, list]\n"
        )
    };
    rt.block_on(async {
        let jwe = login(&client).await?;
        let path = format!("/api/v1/pod/{NAMESPACE}");
        let allowed = list_with_points(&client, &jwe, &path).await?;
        ensure!(
            allowed["errors"] == json!([]),
            "events allowed: {}",
            allowed["errors"]
        );
        for (resources, refused) in [
            ("nodes, pods, namespaces", "events"),
            ("nodes, namespaces", "pods"),
        ] {
            let docs = heapster_e2e::manifests::parse_file(
                std::path::Path::new("role.yaml"),
                &role(resources),
            )
            .map_err(|e| e.to_string())?;
            heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {})
                .await
                .map_err(|e| e.to_string())?;
            let answer = get(&client, &dashboard(&path), &[("jweToken", &jwe)]).await?;
            ensure!(answer.status == 200, "non-critical: {}", answer.status);
            let v = answer.json()?;
            let errors = dashboard::list_errors(&v);
            ensure!(
                errors.iter().any(|e| e.resource.as_deref() == Some(refused)
                    && e.message.contains("is forbidden")),
                "{refused} refused: {errors:?}"
            );
            let judged = dashboard::list(&v, "pods", Timestamp::now(), Duration::from_secs(120));
            match (refused, judged) {
                ("events", Verdict::Pass(m)) => ensure!(m.contains("could not read events"), "{m}"),
                ("pods", Verdict::Fail(m)) => ensure!(m.contains("pods is forbidden"), "{m}"),
                (_, other) => return Err(format!("{refused} refused judged {other:?}").into()),
            }
        }
        Ok(())
    })
}

/// D@v1.10.1 `auth/jwe/manager.go`: an expired token is a plain error, answered 500
/// `MSG_TOKEN_EXPIRED_ERROR`; the checks log in again once and carry on.
fn session_expiry(rt: &tokio::runtime::Runtime) -> TestResult {
    expiry_renewed(rt, Stack::Heapster, 500)
}

/// D@v2.7.0 `auth/jwe/manager.go`: `NewTokenExpired`, a 401 that keeps its code; the checks
/// log in again once and carry on.
fn v2_session_expiry(rt: &tokio::runtime::Runtime) -> TestResult {
    expiry_renewed(rt, Stack::MetricsServer, 401)
}

fn expiry_renewed(rt: &tokio::runtime::Runtime, which: Stack, status: u16) -> TestResult {
    let stack = stack_of(rt, which, Scenario::Healthy)?;
    let client = stack.client.clone();
    rt.block_on(async {
        let jwe = login_to(&client, which).await?;
        let path = dashboard_of(which, "/api/v1/node");
        let fresh = get(&client, &path, &[("jweToken", &jwe)]).await?;
        ensure!(fresh.status == 200, "a fresh session works: {fresh:?}");
        stack.handle.expire_dashboard_sessions();
        let expired = get(&client, &path, &[("jweToken", &jwe)]).await?;
        ensure!(
            expired.status == status && expired.body.trim() == "MSG_TOKEN_EXPIRED_ERROR",
            "expiry is a {status}: {} {}",
            expired.status,
            expired.body
        );
        ensure!(
            heapster_e2e::checks::dashboard::session_refused(&expired),
            "the checks see it as refused"
        );
        Ok::<(), libtest_mimic::Failed>(())
    })?;
    // The checks' own session: used, expired, renewed once.
    let logins = || {
        stack
            .handle
            .requests()
            .iter()
            .filter(|(m, u)| m == "POST" && u.ends_with("/proxy/api/v1/login"))
            .count()
    };
    let before = logins();
    let mut config = check_config(LONG);
    config.stack = which;
    let mut ctx = heapster_e2e::checks::Ctx::new(client.clone(), config);
    let plan = rt
        .block_on(heapster_e2e::checks::plan(&mut ctx))
        .map_err(|e| e.to_string())?;
    let ctx = Arc::new(ctx);
    let node_metrics = plan
        .into_iter()
        .find(|c| c.name == "dashboard::node_metrics")
        .ok_or("planned")?;
    let run = |ctx: Arc<heapster_e2e::checks::Ctx>| {
        let probe = node_metrics.probe.clone();
        rt.block_on(heapster_e2e::checks::run::run_all(
            ctx,
            vec![heapster_e2e::checks::Check {
                name: "dashboard::node_metrics".into(),
                probe,
                ignored: None,
                patience: None,
            }],
        ))
    };
    let first = run(ctx.clone());
    passed(
        &first,
        "dashboard::node_metrics",
        "before the session expires",
    )?;
    stack.handle.expire_dashboard_sessions();
    let second = run(ctx);
    passed(&second, "dashboard::node_metrics", "renewed")?;
    ensure!(
        logins() - before == 2,
        "one login, one renewal: {}",
        logins() - before
    );
    Ok(())
}

/// D@v2.7.0 `integration/metric/api/types.go` `GetMetrics` skips a failed download: with
/// the scraper holding no rows (it may not list metrics) the connected dashboard's lists
/// still carry both `cumulativeMetrics` entries, with no points; v1.10.1 would drop them.
fn v2_partial_list(rt: &tokio::runtime::Runtime) -> TestResult {
    let which = Stack::MetricsServer;
    let stack = stack_of(rt, which, Scenario::ScraperWithoutData)?;
    let client = stack.client.clone();
    rt.block_on(async {
        let jwe = login_to(&client, which).await?;
        let list = eventually("a connected dashboard's node list", || async {
            let v = get(&client, &dashboard_of(which, "/api/v1/node"), &[("jweToken", &jwe)])
                .await?
                .json()?;
            Ok(v["cumulativeMetrics"].as_array().is_some_and(|m| !m.is_empty()).then_some(v))
        })
        .await?;
        let metrics = list["cumulativeMetrics"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = metrics.iter().filter_map(|m| m["metricName"].as_str()).collect();
        ensure!(names == ["cpu/usage_rate", "memory/usage"], "both entries: {list}");
        ensure!(
            metrics.iter().all(|m| m["dataPoints"] == json!([]) && m["metricPoints"] == json!([])),
            "no points, three nodes: {list}"
        );
        // What the checks make of it: a series without points, not a list without metrics.
        let judged = dashboard::list(&list, "nodes", Timestamp::now(), Duration::from_secs(120));
        ensure!(
            matches!(&judged, Verdict::Wait(m) | Verdict::Fail(m) if m.contains("cpu/usage_rate") && !m.contains("no cumulativeMetrics")),
            "{judged:?}"
        );
        Ok::<(), libtest_mimic::Failed>(())
    })?;
    Ok(())
}

/// `integration/handler.go`: the state needs no login, and each call checks heapster now.
fn state_without_login(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack(rt)?;
    let client = stack.client.clone();
    rt.block_on(async {
        let path = dashboard("/api/v1/integration/heapster/state");
        eventually("connected", || async {
            let v = get(&client, &path, &[]).await?.json()?;
            Ok((v["connected"] == true).then_some(v))
        })
        .await?;
        // Checked during this call: `lastChecked` falls between just before and just after
        // it (to the second the answer carries), not at some earlier check.
        let before =
            Timestamp::from_second(Timestamp::now().as_second()).map_err(|e| e.to_string())?;
        let state = get(&client, &path, &[]).await?.json()?;
        let after = Timestamp::now();
        let checked: Timestamp = state["lastChecked"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("{e}"))?;
        ensure!(
            before <= checked && checked <= after,
            "checked during the call ({before} .. {after}): {state}"
        );
        ensure!(state["error"].is_null(), "{state}");
        let unknown = get(&client, &dashboard("/api/v1/integration/nope/state"), &[]).await?;
        ensure!(
            unknown.status == 500 && unknown.body.contains("does not exist"),
            "{unknown:?}"
        );
        Ok(())
    })
}

/// heapster v1.5.4: every export holds the cluster metric set, so `/healthz` passes even
/// when every kubelet scrape fails; the node list stays empty and the log says why.
fn heapster_without_scrapes(rt: &tokio::runtime::Runtime) -> TestResult {
    let dir = super::copy_manifests(|name, text| {
        if name == "30-heapster.yaml" {
            text.replace("kubeletPort=10250", "kubeletPort=10255")
        } else {
            text
        }
    })?;
    let stack = SimStack::start(rt, "sim", Scenario::Healthy, stack_images());
    stack
        .apply_and_wait(rt, dir.path(), LONG)
        .map_err(|e| format!("heapster gets Ready on empty batches: {e}"))?;
    let client = stack.client.clone();
    rt.block_on(async {
        let health = get(&client, &heapster("/healthz"), &[]).await?;
        ensure!(health.status == 200 && health.body == "ok", "{health:?}");
        let nodes = get(&client, &heapster("/api/v1/model/nodes"), &[])
            .await?
            .json()?;
        ensure!(nodes == json!([]), "{nodes}");
        let unknown = get(
            &client,
            &heapster("/api/v1/model/nodes/sim-worker/metrics/cpu/usage_rate"),
            &[],
        )
        .await?;
        ensure!(
            unknown.json()? == json!({"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}),
            "an unknown node is an empty result: {}",
            unknown.body
        );
        let missing = get(&client, &heapster("/api/v1/model/nope"), &[]).await?;
        ensure!(
            missing.status == 404 && missing.body == "404: Page Not Found",
            "{missing:?}"
        );
        Ok::<(), libtest_mimic::Failed>(())
    })?;
    let outcomes = stack.run_checks(rt, check_config(Duration::from_secs(2)));
    let nodes = outcome(&outcomes, "heapster::nodes");
    ensure!(
        !nodes.passed
            && nodes
                .text()
                .contains("172.18.0.3:10255: getsockopt: connection refused"),
        "{}",
        nodes.text()
    );
    passed(&outcomes, "heapster::health", "healthz passes")
}

/// A current kube-apiserver's service proxy: RBAC on the reference as written, a missing
/// Service read through its Endpoints up to 1.36 and its EndpointSlices from 1.37
/// (kubernetes/kubernetes#134860), and no ready endpoints a 503.
fn proxy_errors(rt: &tokio::runtime::Runtime) -> TestResult {
    let old = SimStack::on_version(rt, "1.36");
    rt.block_on(async {
        let missing = get(
            &old.client,
            &kubeclient::service_proxy_path(NAMESPACE, "heapster", "/healthz"),
            &[],
        )
        .await?;
        ensure!(
            missing.status == 404
                && missing.api_status()
                    == Some(("NotFound".into(), "endpoints \"heapster\" not found".into())),
            "1.36: {missing:?}"
        );
        Ok::<(), libtest_mimic::Failed>(())
    })?;
    let stack = SimStack::start(rt, "sim", Scenario::Healthy, stack_images());
    let client = stack.client.clone();
    rt.block_on(async {
        let missing = get(&client, &kubeclient::service_proxy_path(NAMESPACE, "heapster", "/healthz"), &[]).await?;
        ensure!(
            missing.status == 503 && missing.api_status() == Some(("ServiceUnavailable".into(), "no endpoints available for service \"heapster\"".into())),
            "1.37: {missing:?}"
        );
        // The answer is the same as for a Service whose pods are not ready yet, so the
        // verdict over it alone waits; the Service's absence is read with a GET.
        ensure!(
            matches!(heapster::health(&missing), Verdict::Wait(_)),
            "a 503 alone can still heal"
        );
        let numbered = get(&client, &kubeclient::service_proxy_path(NAMESPACE, "heapster:80", "/healthz"), &[]).await?;
        ensure!(
            numbered.api_status() == Some(("NotFound".into(), "services \"heapster\" not found".into())),
            "{numbered:?}"
        );
        ensure!(
            matches!(heapster::health(&numbered), Verdict::Fail(m) if m.contains("no heapster service")),
            "the verdict reads the numbered form"
        );
        Ok::<(), libtest_mimic::Failed>(())
    })?;
    let docs = heapster_e2e::manifests::load_dir(&manifests_dir()).map_err(|e| e.to_string())?;
    rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        // Before any heapster pod is Ready: no endpoints.
        let early = get(&client, &heapster("/healthz"), &[]).await?;
        ensure!(
            early.status == 200
                || early.api_status()
                    == Some((
                        "ServiceUnavailable".into(),
                        "no endpoints available for service \"heapster\"".into()
                    )),
            "{early:?}"
        );
        let bad_port = get(
            &client,
            &kubeclient::service_proxy_path(NAMESPACE, "heapster:81", "/healthz"),
            &[],
        )
        .await?;
        ensure!(
            bad_port.api_status()
                == Some((
                    "ServiceUnavailable".into(),
                    "no service port 81 found for service \"heapster\"".into()
                )),
            "{bad_port:?}"
        );
        Ok(())
    })
}

/// `kubectl get` asks for a meta.k8s.io/v1 Table and prints its columns; the columns are
/// those of kubernetes' pkg/printers/internalversion/printers.go.
fn kubectl_table(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack(rt)?;
    let client = stack.client.clone();
    let accept = (
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    rt.block_on(async {
        let pods = get(&client, "/api/v1/namespaces/kube-system/pods", &[accept])
            .await?
            .json()?;
        ensure!(pods["kind"] == "Table", "{pods}");
        let columns: Vec<&str> = pods["columnDefinitions"]
            .as_array()
            .map(|c| c.iter().filter_map(|d| d["name"].as_str()).collect())
            .unwrap_or_default();
        ensure!(
            columns == ["Name", "Ready", "Status", "Restarts", "Age"],
            "{columns:?}"
        );
        let heapster = pods["rows"]
            .as_array()
            .and_then(|rows| {
                rows.iter().find(|r| {
                    r["cells"][0]
                        .as_str()
                        .is_some_and(|n| n.starts_with("heapster-"))
                })
            })
            .ok_or("no heapster row")?;
        ensure!(
            heapster["cells"][1] == "1/1" && heapster["cells"][2] == "Running",
            "{heapster}"
        );
        ensure!(
            heapster["object"]["metadata"]["namespace"] == "kube-system",
            "{heapster}"
        );
        let node = get(&client, "/api/v1/nodes/sim-worker", &[accept])
            .await?
            .json()?;
        ensure!(node["rows"][0]["cells"][1] == "Ready", "{node}");
        let plain = get(&client, "/api/v1/nodes/sim-worker", &[])
            .await?
            .json()?;
        ensure!(
            plain["kind"] == "Node",
            "without the Accept header, the object: {plain}"
        );
        Ok(())
    })
}

/// `Impersonate-User` as upstream's filter handles it (AS@v0.36.3 `pkg/endpoints/filters/
/// impersonation/impersonation.go`): the admin acts as the dashboard's account, under its RBAC.
fn impersonation(rt: &tokio::runtime::Runtime) -> TestResult {
    let stack = stack_of(rt, Stack::Heapster, Scenario::DashboardWithoutProxyRights)?;
    rt.block_on(async move {
        let as_admin = get(&stack.client, &heapster("/healthz"), &[]).await?;
        ensure!(as_admin.status == 200, "the admin may proxy: {as_admin:?}");
        let as_dashboard = get(&stack.client, &heapster("/healthz"), &[("Impersonate-User", "system:serviceaccount:kube-system:kubernetes-dashboard")]).await?;
        ensure!(
            as_dashboard.status == 403
                && as_dashboard.api_status().is_some_and(|(reason, m)| reason == "Forbidden"
                    && m == "services \"heapster\" is forbidden: User \"system:serviceaccount:kube-system:kubernetes-dashboard\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"kube-system\""),
            "{as_dashboard:?}"
        );
        Ok(())
    })
}
