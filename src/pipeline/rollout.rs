//! Waiting for the stack to roll out, with watches: Deployments available and their
//! pods Ready, or red at once when a pod cannot start.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};

use crate::cancel::Cancel;
use crate::kubeclient::status::{self, PodProblem, Rollout};
use crate::report::progress::{Style, waiting};

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// A pod will not start; `evidence` holds its log tail and events.
    #[error("{problem}{evidence}")]
    Stuck {
        problem: PodProblem,
        evidence: String,
    },
    /// Still waiting at the deadline; `evidence` holds the unready pods' log tails.
    #[error("the stack did not roll out within {}: {last}{evidence}", crate::duration::format(*timeout))]
    Timeout {
        timeout: Duration,
        last: String,
        evidence: String,
    },
    /// The cluster has no node: no pod can ever be scheduled.
    #[error(
        "the cluster has zero nodes, so no pod of the stack can be scheduled (`kubectl get nodes` lists none; `kind create cluster` makes its nodes before it returns, so they are not coming)"
    )]
    NoNodes,
    #[error("interrupted")]
    Interrupted,
}

/// Pods may be Unschedulable for a moment while nodes join; longer than this is certain.
pub const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(20);

pub async fn wait(
    client: &Client,
    wanted: &[(String, String)],
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(), RolloutError> {
    wait_saying(client, wanted, timeout, cancel, Style::Off).await
}

/// `wait`, printing what it waits for every period of `style` (also without a terminal:
/// CI logs show the rollout is alive and why it is not done).
pub async fn wait_saying(
    client: &Client,
    wanted: &[(String, String)],
    timeout: Duration,
    cancel: &Cancel,
    style: Style,
) -> Result<(), RolloutError> {
    let started = tokio::time::Instant::now();
    let mut said = started;
    // Nodes are registered before the stack is applied (kind waits for them): none now is
    // certain, and waiting for pods to schedule would only run into the deadline.
    let nodes = Api::<Node>::all(client.clone());
    if let Ok(list) = nodes.list(&ListParams::default().limit(1)).await
        && list.items.is_empty()
    {
        return Err(RolloutError::NoNodes);
    }
    let (deployments, deploy_writer) = reflector::store::<Deployment>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let deploy_events = reflector(
        deploy_writer,
        watcher(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff(),
    )
    .boxed();
    let pod_events = reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()).default_backoff(),
    )
    .boxed();
    let mut events = futures::stream::select(deploy_events.map(|_| ()), pod_events.map(|_| ()));
    // Unschedulable becomes certain with time alone, so also look once a second.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = "waiting for the first watch events".to_string();
    let mut logs_read: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = events.next() => {}
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(deadline) => {
                let unready: Vec<Pod> = pods.state().iter().map(|p| (**p).clone()).filter(|p| !status::pod_is_ready(p)).collect();
                let mut evidence = String::new();
                for pod in status::pods_of(wanted, &deployments.state().iter().map(|d| (**d).clone()).collect::<Vec<_>>(), &unready).iter().take(2) {
                    evidence.push_str(&crate::kubeclient::evidence::pod(client, &status::pod_name(pod)).await);
                }
                return Err(RolloutError::Timeout { timeout, last, evidence });
            }
            _ = cancel.cancelled() => return Err(RolloutError::Interrupted),
        }
        let ds: Vec<Deployment> = deployments.state().iter().map(|d| (**d).clone()).collect();
        let ps: Vec<Pod> = pods.state().iter().map(|p| (**p).clone()).collect();
        match status::rollout(
            wanted,
            &ds,
            &ps,
            jiff::Timestamp::now(),
            UNSCHEDULABLE_GRACE,
        ) {
            Rollout::Done => return Ok(()),
            Rollout::Waiting(why) => {
                last = why;
                let overdue =
                    status::overdue_unready(wanted, &ds, &ps, jiff::Timestamp::now(), |d| {
                        crate::checks::patience::readiness_patience(
                            &serde_json::to_value(d).unwrap_or_default(),
                        )
                    });
                if let Some(problem) = overdue {
                    let evidence = crate::kubeclient::evidence::pod(client, &problem.pod).await;
                    return Err(RolloutError::Stuck { problem, evidence });
                }
                if let Style::Every(every) = style
                    && said.elapsed() >= every
                {
                    said = tokio::time::Instant::now();
                    crate::report::say(&waiting(started.elapsed(), timeout, &last));
                }
                if logs_read.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    logs_read = Some(tokio::time::Instant::now());
                    if let Some(problem) = never_ready(client, wanted, &ds, &ps).await {
                        let evidence = crate::kubeclient::evidence::pod(client, &problem.pod).await;
                        return Err(RolloutError::Stuck { problem, evidence });
                    }
                }
            }
            Rollout::Failed(problem) => {
                let evidence = crate::kubeclient::evidence::pod(client, &problem.pod).await;
                return Err(RolloutError::Stuck { problem, evidence });
            }
        }
    }
}

/// How often the logs of Running but unready pods are read for a certain cause.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// A Running pod of `wanted` that is not Ready and whose log says it never will be
/// (`diagnose::never_ready`: every node's scrape fails on its certificate).
async fn never_ready(
    client: &Client,
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &[Pod],
) -> Option<PodProblem> {
    let unready: Vec<&Pod> = status::pods_of(wanted, deployments, pods)
        .into_iter()
        .filter(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && !status::pod_is_ready(p)
        })
        .collect();
    if unready.is_empty() {
        return None;
    }
    let nodes: Vec<String> = crate::checks::ready_nodes(client).await.ok()?;
    for pod in unready {
        let name = status::pod_name(pod);
        let (ns, pod_name) = name.split_once('/')?;
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let params = kube::api::LogParams {
            tail_lines: Some(50),
            ..Default::default()
        };
        let Ok(log) = api.logs(pod_name, &params).await else {
            continue;
        };
        if let Some(line) = crate::checks::diagnose::never_ready(&log, &nodes) {
            return Some(PodProblem {
                pod: name,
                container: String::new(),
                reason: "never Ready".into(),
                message: format!(
                    "every node's scrape fails, and readiness needs two good ones: {line}"
                ),
            });
        }
    }
    None
}

/// Where the stack stands after waiting for it to settle (for `check`, which may start
/// right after an apply): ready, certainly failing, or still starting at the deadline.
/// Either way the checks run then, and say what they see.
#[derive(Debug)]
pub enum Settled {
    Ready,
    Stuck(PodProblem),
    /// The cluster has no node (the checks then fail on it at once).
    NoNodes,
    StillWaiting(String),
}

/// Wait until the stack's Deployments are available, a pod certainly fails, or `timeout`.
pub async fn settle(
    client: &Client,
    wanted: &[(String, String)],
    timeout: Duration,
    cancel: &Cancel,
    style: Style,
) -> Result<Settled, crate::cancel::Interrupted> {
    match wait_saying(client, wanted, timeout, cancel, style).await {
        Ok(()) => Ok(Settled::Ready),
        Err(RolloutError::Stuck { problem, .. }) => Ok(Settled::Stuck(problem)),
        Err(RolloutError::Timeout { last, .. }) => Ok(Settled::StillWaiting(last)),
        Err(RolloutError::NoNodes) => Ok(Settled::NoNodes),
        Err(RolloutError::Interrupted) => Err(crate::cancel::Interrupted),
    }
}
