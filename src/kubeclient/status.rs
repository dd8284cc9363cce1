//! Pure decisions over pod and Deployment status, as the API server reports them: is a
//! pod ready, which pod will never start and why, is a rollout done. The rollout and the
//! checks both ask them.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;

/// A pod that will not become ready by waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    pub pod: String,
    pub container: String,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for PodProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.container.is_empty() {
            write!(f, "pod {} is {}: {}", self.pod, self.reason, self.message)
        } else {
            write!(
                f,
                "pod {} container {} is in {}: {}",
                self.pod, self.container, self.reason, self.message
            )
        }
    }
}

pub const FATAL_WAITING_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
    "CreateContainerError",
];

pub fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Why a pod is certain not to start, if it is: a fatal waiting reason, or Unschedulable
/// for longer than `unschedulable_grace` (nodes may still be joining).
pub fn pod_problem(pod: &Pod, now: Timestamp, unschedulable_grace: Duration) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    for cs in status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
    {
        let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.clone().unwrap_or_default();
        if FATAL_WAITING_REASONS.contains(&reason.as_str()) {
            return Some(PodProblem {
                pod: pod_name(pod),
                container: cs.name.clone(),
                reason,
                message: waiting.message.clone().unwrap_or_default(),
            });
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    let since = unschedulable
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .or(pod.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    (age_of(now, since) >= unschedulable_grace).then(|| PodProblem {
        pod: pod_name(pod),
        container: String::new(),
        reason: "Unschedulable".into(),
        message: unschedulable.message.clone().unwrap_or_default(),
    })
}

pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn selects(deploy: &Deployment, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let ns_match = pod.metadata.namespace == deploy.metadata.namespace;
    let selector = deploy
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    ns_match && !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The pods of the `wanted` Deployments among `pods`.
pub fn pods_of<'a>(
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &'a [Pod],
) -> Vec<&'a Pod> {
    let wanted_deployments: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| {
            wanted.iter().any(|(ns, name)| {
                d.metadata.namespace.as_deref() == Some(ns)
                    && d.metadata.name.as_deref() == Some(name)
            })
        })
        .collect();
    pods.iter()
        .filter(|p| wanted_deployments.iter().any(|d| selects(d, p)))
        .collect()
}

/// Whether a Deployment has rolled out: observed, updated and available.
pub fn deployment_available(d: &Deployment) -> Result<(), String> {
    let name = format!(
        "{}/{}",
        d.metadata.namespace.as_deref().unwrap_or_default(),
        d.metadata.name.as_deref().unwrap_or_default()
    );
    let want = d.spec.replicas.unwrap_or(1);
    let Some(status) = d.status.as_ref() else {
        return Err(format!("deployment {name} has no status yet"));
    };
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Err(format!(
            "deployment {name}: the controller has not seen the latest spec yet"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < want || available < want || total > updated {
        return Err(format!(
            "deployment {name}: {available}/{want} available, {updated}/{want} updated"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Done,
    Waiting(String),
    Failed(PodProblem),
}

/// The state of a rollout of `wanted` Deployments (`namespace/name`), from what a watch saw.
pub fn rollout(
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &[Pod],
    now: Timestamp,
    unschedulable_grace: Duration,
) -> Rollout {
    let mut waiting = Vec::new();
    for (ns, name) in wanted {
        let Some(d) = deployments.iter().find(|d| {
            d.metadata.namespace.as_deref() == Some(ns) && d.metadata.name.as_deref() == Some(name)
        }) else {
            waiting.push(format!("deployment {ns}/{name} does not exist yet"));
            continue;
        };
        if let Some(problem) = pods
            .iter()
            .filter(|p| selects(d, p))
            .find_map(|p| pod_problem(p, now, unschedulable_grace))
        {
            return Rollout::Failed(problem);
        }
        if let Err(why) = deployment_available(d) {
            waiting.push(why);
        }
    }
    if waiting.is_empty() {
        Rollout::Done
    } else {
        Rollout::Waiting(waiting.join("; "))
    }
}

/// A Running pod of a `wanted` Deployment whose containers all started more than its
/// Deployment's `patience` ago and that is still not Ready: its readiness should have
/// passed by then (the caller derives the patience, with why, from the Deployment's probes
/// and the program's own period), so waiting on is pointless.
pub fn overdue_unready(
    wanted: &[(String, String)],
    deployments: &[Deployment],
    pods: &[Pod],
    now: Timestamp,
    patience: impl Fn(&Deployment) -> (Duration, String),
) -> Option<PodProblem> {
    for d in deployments.iter().filter(|d| {
        wanted.iter().any(|(ns, name)| {
            d.metadata.namespace.as_deref() == Some(ns) && d.metadata.name.as_deref() == Some(name)
        })
    }) {
        // Derived only for a Deployment with a pod to judge (the rollout asks every second).
        let mut patience_of_d = None;
        for pod in pods.iter().filter(|p| selects(d, p)) {
            let Some(status) = pod.status.as_ref() else {
                continue;
            };
            if status.phase.as_deref() != Some("Running") || pod_is_ready(pod) {
                continue;
            }
            // The latest container start: a restart begins its readiness anew.
            let statuses: Vec<_> = status.container_statuses.iter().flatten().collect();
            let started: Option<Vec<Timestamp>> = statuses
                .iter()
                .map(|cs| {
                    cs.state
                        .as_ref()
                        .and_then(|s| s.running.as_ref())
                        .and_then(|r| r.started_at.as_ref())
                        .map(|t| t.0)
                })
                .collect();
            let Some(last_start) = started.and_then(|s| s.into_iter().max()) else {
                continue;
            };
            let running = age_of(now, last_start);
            let (wait, why) = patience_of_d.get_or_insert_with(|| patience(d));
            let wait = *wait;
            if running > wait {
                let unready = statuses
                    .iter()
                    .find(|cs| !cs.ready)
                    .map(|cs| cs.name.clone())
                    .unwrap_or_default();
                return Some(PodProblem {
                    pod: pod_name(pod),
                    container: String::new(),
                    reason: "not Ready in time".into(),
                    message: format!(
                        "container {unready} running for {} and still not Ready; when it can, its readiness passes within {} ({why})",
                        crate::duration::format(Duration::from_secs(running.as_secs())),
                        crate::duration::format(wait)
                    ),
                });
            }
        }
    }
    None
}

fn age_of(now: Timestamp, t: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn pod(json: Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn pod_problems_name_pod_container_reason_and_message() {
        let crashing = pod(
            json!({"metadata": {"name": "heapster-1", "namespace": "kube-system"}, "status": {"containerStatuses": [
            {"name": "heapster", "image": "h", "imageID": "", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}}]}}),
        );
        let p = pod_problem(&crashing, t(0), Duration::from_secs(30)).unwrap();
        assert_eq!(
            (p.pod.as_str(), p.container.as_str(), p.reason.as_str()),
            ("kube-system/heapster-1", "heapster", "CrashLoopBackOff")
        );
        assert!(p.to_string().contains("back-off 10s"));

        let creating = pod(
            json!({"metadata": {"name": "x", "namespace": "n"}, "status": {"containerStatuses": [
            {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}}),
        );
        assert_eq!(pod_problem(&creating, t(0), Duration::from_secs(30)), None);

        let unschedulable = pod(
            json!({"metadata": {"name": "x", "namespace": "n"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/0 nodes are available", "lastTransitionTime": "1970-01-01T00:00:00Z"}]}}),
        );
        assert_eq!(
            pod_problem(&unschedulable, t(10), Duration::from_secs(30)),
            None
        );
        assert_eq!(
            pod_problem(&unschedulable, t(40), Duration::from_secs(30))
                .unwrap()
                .reason,
            "Unschedulable"
        );
    }

    #[test]
    fn a_pod_unready_past_its_patience_is_overdue() {
        let wanted = vec![("kube-system".to_string(), "heapster".to_string())];
        let d: Deployment = serde_json::from_value(
            json!({"metadata": {"name": "heapster", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"k8s-app": "heapster"}}, "template": {}}}),
        )
        .unwrap();
        let running = |ready: bool| {
            pod(
                json!({"metadata": {"name": "heapster-1", "namespace": "kube-system", "labels": {"k8s-app": "heapster"}},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
                "containerStatuses": [{"name": "heapster", "image": "h", "imageID": "", "ready": ready, "restartCount": 0,
                    "state": {"running": {"startedAt": "1970-01-01T00:01:40Z"}}}]}}),
            )
        };
        let patience = |_: &Deployment| (Duration::from_secs(22), "2 × x + 10s".to_string());
        let judge = |p: &Pod, at: i64| {
            overdue_unready(
                &wanted,
                std::slice::from_ref(&d),
                std::slice::from_ref(p),
                t(at),
                patience,
            )
        };
        // Started at 100 s: within its 22 s it may still become Ready.
        assert_eq!(judge(&running(false), 122), None);
        let late = judge(&running(false), 123).expect("overdue");
        assert_eq!(late.reason, "not Ready in time");
        assert!(
            late.message.contains("container heapster running for 23s")
                && late.message.contains("within 22s (2 × x + 10s)"),
            "{late}"
        );
        assert_eq!(judge(&running(true), 500), None, "a Ready pod is fine");
        // A pod without status yet hides no overdue one beside it.
        let mut fresh = running(false);
        fresh.status = None;
        let both = [fresh, running(false)];
        assert!(
            overdue_unready(&wanted, std::slice::from_ref(&d), &both, t(123), patience).is_some()
        );
        let mut pending = running(false);
        pending.status.as_mut().unwrap().phase = Some("Pending".into());
        assert_eq!(
            judge(&pending, 500),
            None,
            "not running yet: the rollout's other rules"
        );
        // Only the wanted Deployments, by namespace and name both: the same name elsewhere,
        // or another name here, is not it.
        for (ns, name) in [
            ("default", "x"),
            ("monitoring", "heapster"),
            ("kube-system", "grafana"),
        ] {
            let elsewhere = [(ns.to_string(), name.to_string())];
            assert_eq!(
                overdue_unready(
                    &elsewhere,
                    std::slice::from_ref(&d),
                    &[running(false)],
                    t(500),
                    patience
                ),
                None,
                "{ns}/{name} is not kube-system/heapster"
            );
        }
    }

    #[test]
    fn rollout_waits_for_availability_and_fails_on_a_stuck_pod() {
        let wanted = vec![("kube-system".to_string(), "heapster".to_string())];
        let deploy = |available: i64| -> Deployment {
            serde_json::from_value(json!({"metadata": {"name": "heapster", "namespace": "kube-system", "generation": 1},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"k8s-app": "heapster"}}, "template": {}},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": available}})).unwrap()
        };
        assert!(
            matches!(rollout(&wanted, &[], &[], t(0), Duration::ZERO), Rollout::Waiting(r) if r.contains("does not exist"))
        );
        assert!(
            matches!(rollout(&wanted, &[deploy(0)], &[], t(0), Duration::ZERO), Rollout::Waiting(r) if r.contains("0/1 available"))
        );
        assert_eq!(
            rollout(&wanted, &[deploy(1)], &[], t(0), Duration::ZERO),
            Rollout::Done
        );
        let pulling = pod(
            json!({"metadata": {"name": "heapster-1", "namespace": "kube-system", "labels": {"k8s-app": "heapster"}}, "status": {"containerStatuses": [
            {"name": "heapster", "image": "h", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"h\""}}}]}}),
        );
        assert!(
            matches!(rollout(&wanted, &[deploy(0)], std::slice::from_ref(&pulling), t(0), Duration::ZERO), Rollout::Failed(p) if p.reason == "ImagePullBackOff")
        );
        let elsewhere = pod(
            json!({"metadata": {"name": "other", "namespace": "default", "labels": {"k8s-app": "heapster"}}, "status": pulling.status}),
        );
        assert!(matches!(
            rollout(&wanted, &[deploy(1)], &[elsewhere], t(0), Duration::ZERO),
            Rollout::Done
        ));
    }
}
