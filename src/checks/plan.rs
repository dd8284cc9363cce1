//! The plan: the cluster's checks for its stack, one per node and pod where the check is
//! per node or pod, in name order.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

use super::context::{Ctx, node_name, node_ready};
use super::patience::Clocks;
use super::{
    Check, NoStack, check, dashboard, grafana, ground_truth, headlamp, heapster, influxdb,
    metrics_api, nodes,
};
use crate::kubeclient::retry;
use crate::layout::{Layout, Part};
use crate::manifests::Manifest;
use crate::stack::Stack;

/// The stack's Deployments in the cluster, found by image wherever they run, and where
/// they were found; none is an error (`NoStack`): there is nothing to check.
pub async fn stack_deployments(
    client: &kube::Client,
    stack: Stack,
) -> anyhow::Result<(Vec<(String, String)>, Layout)> {
    let layout = crate::layout::discover(client, stack).await?;
    let found = layout.deployments();
    if found.is_empty() {
        return Err(NoStack { stack }.into());
    }
    Ok((found, layout))
}

/// The Deployments the layout found, as they run (their flags and probes set the checks'
/// patience).
async fn listed(client: &kube::Client, layout: &Layout) -> anyhow::Result<Vec<Deployment>> {
    let mut all = Vec::new();
    for (ns, name) in layout.deployments() {
        let api = Api::<Deployment>::namespaced(client.clone(), &ns);
        if let Some(d) = retry(|| api.get_opt(&name)).await? {
            all.push(d);
        }
    }
    Ok(all)
}

/// What the plan is made from: the nodes, the Ready ones, and the Running pods of the
/// stack's namespaces on Ready nodes (`namespace`, `name`).
struct Cluster {
    nodes: Vec<String>,
    ready: Vec<String>,
    pods: Vec<(String, String)>,
}

async fn look(ctx: &Ctx) -> anyhow::Result<Cluster> {
    let client = ctx.client.clone();
    let lp = ListParams::default();
    let node_api = Api::<Node>::all(client.clone());
    let all_nodes = retry(|| node_api.list(&lp)).await?.items;
    let nodes: Vec<String> = all_nodes.iter().map(node_name).collect();
    // A node NotReady at the start is the nodes check's to report, not the metrics'.
    let ready: Vec<String> = all_nodes
        .iter()
        .filter(|n| node_ready(n))
        .map(node_name)
        .collect();
    let mut pods = Vec::new();
    for ns in ctx.layout.namespaces() {
        let api = Api::<Pod>::namespaced(client.clone(), &ns);
        let running = retry(|| api.list(&lp))
            .await?
            .items
            .into_iter()
            .filter(|p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    && p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_some_and(|n| ready.contains(n))
            });
        pods.extend(running.filter_map(|p| Some((ns.clone(), p.metadata.name?))));
    }
    Ok(Cluster { nodes, ready, pods })
}

/// The cluster's checks, in name order. An empty list would be a bug, so the caller
/// treats it as one.
pub async fn plan(ctx: &mut Ctx) -> anyhow::Result<Vec<Check>> {
    // Found once, by image: where the stack runs, and its timers for the checks' patience.
    let (_, layout) = stack_deployments(&ctx.client, ctx.config.stack).await?;
    ctx.layout = layout;
    let deployments = listed(&ctx.client, &ctx.layout).await?;
    let cluster = look(ctx).await?;
    ctx.dashboard_token = dashboard::token(ctx).await?;
    let stack = ctx.config.stack;
    let mut checks = vec![check("nodes::count", nodes::check_count)];
    for node in &cluster.nodes {
        let n = node.clone();
        checks.push(check(format!("nodes::ready::{node}"), move |ctx| {
            nodes::check_ready(ctx, n.clone())
        }));
    }
    for part in crate::layout::parts(stack) {
        let d = ctx.layout.deployment(*part);
        let check = match ctx.layout.get(*part) {
            Some(place) => {
                let ns = place.namespace.clone();
                let name = d.clone();
                check(format!("workloads::{d}"), move |ctx| {
                    nodes::check_workload(ctx, ns.clone(), name.clone())
                })
            }
            // Not found: say where it was looked for.
            None => {
                let missing = format!(
                    "{}: not found: no Deployment in any namespace runs {}",
                    part.label(),
                    crate::layout::image(stack, *part)
                );
                check(format!("workloads::{d}"), move |_| {
                    let m = missing.clone();
                    async move { super::Verdict::Fail(m) }
                })
            }
        };
        checks.push(check);
    }
    let headlamp_name = ctx.layout.deployment(Part::Headlamp);
    let headlamp_context = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(headlamp_name.as_str()))
        .and_then(|d| serde_json::to_value(d).ok())
        .map_or_else(
            || headlamp::DEFAULT_CONTEXT.to_string(),
            |d| headlamp::expected_context(&d),
        );
    match stack {
        Stack::Heapster => {
            let heapster_ns = ctx.layout.namespace(Part::Heapster);
            checks.extend(heapster_checks(&cluster, &heapster_ns));
        }
        Stack::MetricsServer => {
            checks.extend(metrics_server_checks(&cluster, true));
        }
        Stack::Headlamp => {
            checks.extend(metrics_server_checks(&cluster, false));
            checks.extend(headlamp_checks(ctx, &cluster, &headlamp_context));
        }
    }
    checks.extend(dashboard_checks(ctx));
    if let Some(load) = ctx.load.clone() {
        checks.extend(ground_truth::checks(&load, stack, headlamp_context));
    }
    let clocks = Clocks::of(&as_manifests(&deployments)?);
    for c in &mut checks {
        c.patience = Some(clocks.patience(&c.name, stack));
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    ctx.planned = Some(std::time::Instant::now());
    Ok(checks)
}

/// The Deployments as they run (their flags and probes set the checks' patience), in the
/// shape the manifests are read in.
fn as_manifests(deployments: &[Deployment]) -> anyhow::Result<Vec<Manifest>> {
    deployments
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let mut object = serde_json::to_value(d)?;
            object["kind"] = "Deployment".into();
            Ok(Manifest {
                file: "live Deployment".into(),
                index,
                object,
            })
        })
        .collect()
}

/// heapster's model API for every Ready node and the stack's pods (its pod list for those
/// in heapster's own namespace), InfluxDB's and Grafana's.
fn heapster_checks(cluster: &Cluster, heapster_ns: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for node in &cluster.ready {
        let n = node.clone();
        checks.push(check(
            format!("heapster::node_metrics::{node}"),
            move |ctx| heapster::check_node_metrics(ctx, n.clone()),
        ));
    }
    checks.push(check("heapster::health", heapster::check_health));
    checks.push(check("heapster::nodes", heapster::check_nodes));
    for (ns, pod) in &cluster.pods {
        let (n, p) = (ns.clone(), pod.clone());
        checks.push(check(format!("heapster::pod_metrics::{pod}"), move |ctx| {
            heapster::check_pod_metrics(ctx, n.clone(), p.clone())
        }));
    }
    let ns = heapster_ns.to_string();
    let pods: Vec<String> = cluster
        .pods
        .iter()
        .filter(|(n, _)| *n == ns)
        .map(|(_, p)| p.clone())
        .collect();
    checks.push(check("heapster::pod_list_metrics", move |ctx| {
        heapster::check_pod_list_metrics(ctx, ns.clone(), pods.clone())
    }));
    checks.push(check("influxdb::database", influxdb::check_database));
    checks.push(check("influxdb::node_series", influxdb::check_node_series));
    checks.push(check("grafana::health", grafana::check_health));
    checks.push(check("grafana::datasource", grafana::check_datasource));
    checks
}

/// metrics.k8s.io for every Ready node and the stack's pods (CoreDNS's among them, in
/// kube-system), and, with the dashboard's `scraper`, its series of every Ready node.
fn metrics_server_checks(cluster: &Cluster, scraper: bool) -> Vec<Check> {
    let mut checks = vec![
        check("metrics_server::apiservice", metrics_api::check_apiservice),
        check("metrics_server::discovery", metrics_api::check_discovery),
    ];
    for node in &cluster.ready {
        let n = node.clone();
        checks.push(check(
            format!("metrics_server::node_metrics::{node}"),
            move |ctx| metrics_api::check_node_metrics(ctx, n.clone()),
        ));
        let n = node.clone();
        if scraper {
            checks.push(check(format!("scraper::node_series::{node}"), move |ctx| {
                metrics_api::check_scraper_node(ctx, n.clone())
            }));
        }
    }
    for (ns, pod) in &cluster.pods {
        let (n, p) = (ns.clone(), pod.clone());
        checks.push(check(
            format!("metrics_server::pod_metrics::{pod}"),
            move |ctx| metrics_api::check_pod_metrics(ctx, n.clone(), p.clone()),
        ));
    }
    checks
}

/// Headlamp's `/config`, and the metrics its node and pod lists show, as the checks'
/// account sees them through it (ignored, with the reason, without that account's token).
fn headlamp_checks(ctx: &Ctx, cluster: &Cluster, context: &str) -> Vec<Check> {
    let mut checks = vec![check("headlamp::config", headlamp::check_config)];
    let mut metric_checks = Vec::new();
    for node in &cluster.ready {
        let (c, n) = (context.to_string(), node.clone());
        metric_checks.push(check(
            format!("headlamp::node_metrics::{node}"),
            move |ctx| headlamp::check_node_metrics(ctx, c.clone(), n.clone()),
        ));
    }
    for (ns, pod) in &cluster.pods {
        let (c, n, p) = (context.to_string(), ns.clone(), pod.clone());
        metric_checks.push(check(format!("headlamp::pod_metrics::{pod}"), move |ctx| {
            headlamp::check_pod_metrics(ctx, c.clone(), n.clone(), p.clone())
        }));
    }
    if ctx.dashboard_token.is_none() {
        let why = format!("no token for the checks' account: {}", no_token(ctx));
        for c in &mut metric_checks {
            c.ignored = Some(why.clone());
        }
    }
    checks.extend(metric_checks);
    checks
}

/// Why the UI checks have no token: the shipped account's Secret is missing beside the UI.
fn no_token(ctx: &Ctx) -> String {
    let id = ctx.config.stack.checks_identity();
    format!(
        "Secret {}/{} is missing; apply {} (in the UI's namespace), or pass --dashboard-token-file FILE",
        ctx.ui_namespace(),
        id.token_secret,
        id.manifest
    )
}

fn dashboard_checks(ctx: &Ctx) -> Vec<Check> {
    let Some(d) = ctx.config.stack.dashboard() else {
        return vec![];
    };
    let mut checks = vec![
        check("dashboard::log", dashboard::check_log),
        check(
            format!("dashboard::{}_state", d.integration),
            dashboard::check_state,
        ),
    ];
    let no_token = ctx
        .dashboard_token
        .is_none()
        .then(|| format!("no dashboard login token: {}", no_token(ctx)));
    let mut api_checks = vec![
        check("dashboard::node_metrics", |ctx| {
            dashboard::check_list(ctx, "/api/v1/node".into(), "nodes")
        }),
        check("dashboard::pod_metrics", |ctx| {
            // The namespace of the program the dashboard's metrics come from.
            let ns = ctx
                .layout
                .namespace(crate::layout::parts(ctx.config.stack)[0]);
            dashboard::check_list(ctx, format!("/api/v1/pod/{ns}"), "pods")
        }),
    ];
    for c in &mut api_checks {
        c.ignored = no_token.clone();
    }
    checks.extend(api_checks);
    checks
}
