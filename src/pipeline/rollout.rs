//! Waiting for the stack to roll out, with watches: Deployments available and their
//! pods Ready, or red at once when a pod cannot start.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};

use crate::cancel::Cancel;
use crate::kubeclient::status::{self, PodProblem, Rollout};

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
            Rollout::Waiting(why) => last = why,
            Rollout::Failed(problem) => {
                let evidence = crate::kubeclient::evidence::pod(client, &problem.pod).await;
                return Err(RolloutError::Stuck { problem, evidence });
            }
        }
    }
}

/// Where the stack stands after waiting for it to settle (for `check`, which may start
/// right after an apply): ready, certainly failing, or still starting at the deadline.
/// Either way the checks run then, and say what they see.
#[derive(Debug)]
pub enum Settled {
    Ready,
    Stuck(PodProblem),
    StillWaiting(String),
}

/// Wait until the stack's Deployments are available, a pod certainly fails, or `timeout`.
pub async fn settle(
    client: &Client,
    wanted: &[(String, String)],
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Settled, crate::cancel::Interrupted> {
    match wait(client, wanted, timeout, cancel).await {
        Ok(()) => Ok(Settled::Ready),
        Err(RolloutError::Stuck { problem, .. }) => Ok(Settled::Stuck(problem)),
        Err(RolloutError::Timeout { last, .. }) => Ok(Settled::StillWaiting(last)),
        Err(RolloutError::Interrupted) => Err(crate::cancel::Interrupted),
    }
}
