//! What every check shares: the client, the settings, the summary being filled in, a
//! short-lived snapshot of nodes, stack pods and the heapster Service, what makes waiting
//! pointless (`blocked`), and the explanation of a failure with its known causes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::diagnose::{self, Cause};
use super::series::SeriesRules;
use super::{HEAPSTER, Verdict};
use crate::kubeclient::{self, Answer, retry};
use crate::stack::Stack;

#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Node count the cluster must have (from the kind config, or `--nodes`).
    pub expected_nodes: Option<usize>,
    /// Oldest acceptable latest point.
    pub max_age: Duration,
    /// How long the suite may wait for states that can still heal.
    pub timeout: Duration,
    /// How often a waiting check looks again.
    pub poll: Duration,
    pub dashboard_token_file: Option<PathBuf>,
    /// The kubeconfig's own bearer token: the UI login of last resort, when neither
    /// `dashboard_token_file` nor the shipped read-only account's Secret gives one.
    pub kubeconfig_token: Option<String>,
    /// Which monitoring stack the cluster runs.
    pub stack: crate::stack::Stack,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            expected_nodes: None,
            max_age: Duration::from_secs(120),
            timeout: Duration::from_secs(300),
            poll: super::run::DEFAULT_POLL,
            dashboard_token_file: None,
            kubeconfig_token: None,
            stack: Default::default(),
        }
    }
}

/// One row of the summary table: what was seen, fresh or not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeRow {
    pub cpu_millicores: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub age: Option<Duration>,
}

impl NodeRow {
    /// The latest point of `metric`; the row's age is its oldest metric's.
    pub fn record(&mut self, metric: &str, value: i64, age: Duration) {
        if metric.starts_with("cpu") {
            self.cpu_millicores = Some(value);
        } else {
            self.memory_bytes = Some(value);
        }
        self.age = Some(self.age.map_or(age, |a| a.max(age)));
    }

    /// CPU in millicores, memory in MiB, age of the latest point; `-` where unknown.
    pub fn cells(&self) -> [String; 3] {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        [
            or_dash(self.cpu_millicores.map(|c| c.to_string())),
            or_dash(
                self.memory_bytes
                    .map(|m| format!("{:.0}", m as f64 / 1048576.0)),
            ),
            or_dash(self.age.map(crate::duration::format)),
        ]
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Nodes whose metrics were fetched, with what was seen.
    pub nodes: BTreeMap<String, NodeRow>,
    /// Pods whose metrics a check looked for, and those that had them.
    pub pods_checked: std::collections::BTreeSet<String>,
    pub pods_with_metrics: std::collections::BTreeSet<String>,
    /// Ground truth: `what -> (target, last measured)`.
    pub ground_truth: BTreeMap<String, (String, Option<String>)>,
}

/// What every check shares: the client, the settings, the dashboard session, the
/// summary being filled in, and a short-lived snapshot of the stack's state.
pub struct Ctx {
    pub client: Client,
    pub config: CheckConfig,
    /// Where the stack's parts run: the shipped names until the plan finds them by image.
    pub layout: crate::layout::Layout,
    pub(super) dashboard_session: tokio::sync::Mutex<Option<String>>,
    pub(super) dashboard_token: Option<String>,
    pub summary: Mutex<Summary>,
    snapshot: tokio::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
    /// The last raw answer per request the checks judged (kept as evidence).
    pub responses: Mutex<BTreeMap<String, Answer>>,
    pub(super) started: Instant,
    /// How long after the checks started the first node metrics passed.
    pub first_metrics: Mutex<Option<Duration>>,
    /// The calibrated load, when the run started one.
    pub load: Option<crate::pipeline::load::Load>,
    /// Interrupts waiting checks.
    pub cancel: crate::cancel::Cancel,
    /// What each waiting check waits for.
    waiting: Mutex<BTreeMap<String, String>>,
    /// When the plan was made: the conditions the checks depend on held (the stack was
    /// available), so each check's patience counts from here.
    pub(super) planned: Option<Instant>,
}

/// A dashboard where it runs: its namespace and Service, and the Service its metric client
/// reads.
#[derive(Debug, Clone)]
pub(super) struct DashboardAt {
    pub(super) namespace: String,
    pub(super) service: String,
    pub(super) integration: &'static str,
    pub(super) metric_service: String,
    pub(super) metric_namespace: String,
    /// Its metric client reaches heapster directly (`--heapster-host`), not through the
    /// API server's service proxy as its own account.
    pub(super) remote: bool,
}

impl DashboardAt {
    /// `https:SERVICE:`: the dashboard serves HTTPS on its Service's one port.
    pub(super) fn proxy(&self) -> String {
        format!("https:{}:", self.service)
    }
}

/// The Services a check's answer travels through, besides its components' pods.
#[derive(Debug, Clone, Copy)]
pub(super) struct Needs {
    /// The dashboard's metric Service (heapster, or the scraper).
    pub(super) metric_service: bool,
    /// metrics.k8s.io's provider (the metrics-server Service, on its stack).
    pub(super) metrics_api: bool,
    /// heapster's own Service, where the layout found it (the checks read heapster
    /// through it; the dashboard v1.10.1 in-cluster always through `kube-system/heapster`).
    pub(super) heapster: bool,
}

impl Needs {
    pub(super) const PODS: Needs = Needs {
        metric_service: false,
        metrics_api: false,
        heapster: false,
    };
    pub(super) const METRIC_SERVICE: Needs = Needs {
        metric_service: true,
        metrics_api: false,
        heapster: false,
    };
    pub(super) const METRICS_API: Needs = Needs {
        metric_service: false,
        metrics_api: true,
        heapster: false,
    };
    /// heapster's model API through heapster's own Service.
    pub(super) const HEAPSTER: Needs = Needs {
        metric_service: false,
        metrics_api: false,
        heapster: true,
    };
    /// Metric data through the dashboard's metric Service, whose data on the
    /// metrics-server stack comes from metrics.k8s.io.
    pub(super) const METRIC_DATA: Needs = Needs {
        metric_service: true,
        metrics_api: true,
        heapster: false,
    };
}

#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) nodes: Vec<Node>,
    pub(super) pods: Vec<Pod>,
    /// Whether the Service the dashboard's metric client proxies to exists (heapster, or
    /// the scraper); `None` when it could not be read.
    pub(super) metric_service: Option<bool>,
    /// On the metrics-server stack: whether the Service the aggregator reaches
    /// metrics-server through exists (`None`: not read, or another stack).
    pub(super) metrics_api_service: Option<bool>,
    /// On the heapster stack: whether heapster's own Service exists.
    pub(super) heapster_service: Option<bool>,
}

impl Snapshot {
    pub(super) fn ready_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| node_ready(n))
            .map(node_name)
            .collect()
    }
}

impl Ctx {
    pub fn new(client: Client, config: CheckConfig) -> Self {
        Ctx {
            client,
            layout: crate::layout::Layout::shipped(config.stack),
            config,
            dashboard_session: Default::default(),
            dashboard_token: None,
            summary: Default::default(),
            snapshot: Default::default(),
            responses: Default::default(),
            started: Instant::now(),
            first_metrics: Default::default(),
            load: None,
            cancel: Default::default(),
            waiting: Default::default(),
            planned: None,
        }
    }

    pub(super) fn record(&self, what: &str, answer: &Answer) {
        self.responses
            .lock()
            .expect("responses lock")
            .insert(what.to_string(), answer.clone());
    }

    /// The known causes of a failure message; when its symptom is heapster failing to
    /// scrape, heapster's own last log lines are read, and what they show is the cause.
    pub async fn explain(&self, message: &str) -> Vec<Cause> {
        let hints = diagnose::hints_for(message, self.config.stack);
        let mut causes: Vec<Cause> = hints.iter().cloned().map(Cause::new).collect();
        let wanted = diagnose::wanted_log(&hints);
        let deployment = match wanted {
            Some(diagnose::WantedLog::DashboardScraper) => {
                Some(self.layout.deployment(crate::layout::Part::Scraper))
            }
            Some(diagnose::WantedLog::KubeletScraper) => Some(
                self.layout
                    .deployment(crate::layout::parts(self.config.stack)[0]),
            ),
            None => None,
        };
        if let Some(deployment) = deployment
            && let Some(log) = self.log_tail(&deployment, 15).await
        {
            let evidence: Vec<String> = log.lines().map(str::to_string).collect();
            let from_log: Vec<Cause> = diagnose::hints_for(&log, self.config.stack)
                .into_iter()
                .filter(|h| !hints.contains(h))
                .map(|hint| Cause {
                    hint,
                    evidence: evidence.clone(),
                })
                .collect();
            if from_log.is_empty() {
                // The log names no known cause: it goes with the symptom's own hint, and a
                // hint that claims a logged error needs one there.
                let shows_errors = !diagnose::error_lines(&log).is_empty();
                causes.retain(|c| shows_errors || !diagnose::claims_log_error(&c.hint));
                for c in causes
                    .iter_mut()
                    .filter(|c| diagnose::wants_log(std::slice::from_ref(&c.hint)))
                {
                    c.evidence = evidence.clone();
                }
            }
            causes.extend(from_log);
        } else {
            // No log to read: nothing shows the claimed error.
            causes.retain(|c| !diagnose::claims_log_error(&c.hint));
        }
        causes
    }

    /// When the checks' time began.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When waiting ends: `timeout` after the context was made. Waiting for the stack to
    /// settle before the plan counts against it too.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.started + self.config.timeout)
    }

    /// Note what a check is waiting for (`None`: it is done), for the progress line.
    pub fn waiting(&self, check: &str, reason: Option<&str>) {
        let mut waiting = self.waiting.lock().expect("waiting lock");
        match reason {
            Some(r) => {
                waiting.insert(check.to_string(), r.to_string());
            }
            None => {
                waiting.remove(check);
            }
        }
    }

    /// The checks still waiting and their last reasons, and how long the checks have run.
    pub fn still_waiting(&self) -> (Duration, BTreeMap<String, String>) {
        (
            self.started.elapsed(),
            self.waiting.lock().expect("waiting lock").clone(),
        )
    }

    /// The last lines of a stack Deployment's pod.
    pub(super) async fn log_tail(&self, deployment: &str, lines: i64) -> Option<String> {
        let ns = self
            .layout
            .deployments()
            .into_iter()
            .find(|(_, d)| d == deployment)?
            .0;
        let snap = self.snapshot().await.ok()?;
        let pod = snap
            .pods
            .iter()
            .find(|p| pod_belongs_to(p, deployment))?
            .metadata
            .name
            .clone()?;
        let params = LogParams {
            tail_lines: Some(lines),
            ..Default::default()
        };
        Api::<Pod>::namespaced(self.client.clone(), &ns)
            .logs(&pod, &params)
            .await
            .ok()
    }

    /// The stack's dashboard where the layout found it, and the Service its metric client
    /// reads (`Stack::dashboard`), or the one `--heapster-host` names.
    pub(super) fn dashboard(&self) -> Option<DashboardAt> {
        use crate::layout::Part;
        let shipped = self.config.stack.dashboard()?;
        let (namespace, service) = self.layout.service(Part::Dashboard);
        let remote = self
            .layout
            .get(Part::Dashboard)
            .and_then(|p| crate::layout::heapster_host(&p.args, &namespace))
            .filter(|_| self.config.stack == Stack::Heapster);
        let (metric_namespace, metric_service) = match &remote {
            Some((ns, svc)) => (ns.clone(), svc.clone()),
            None => (
                shipped
                    .metric_namespace
                    .map_or_else(|| namespace.clone(), str::to_string),
                shipped.metric_service.to_string(),
            ),
        };
        Some(DashboardAt {
            namespace,
            service,
            integration: shipped.integration,
            metric_service,
            metric_namespace,
            remote: remote.is_some(),
        })
    }

    /// The Service metrics.k8s.io reaches metrics-server through, on its stacks.
    pub(super) fn metrics_api_service(&self) -> Option<(String, String)> {
        use crate::layout::Part;
        if self.config.stack == Stack::Heapster {
            return None;
        }
        Some(self.layout.service(Part::MetricsServer))
    }

    /// The namespace of the stack's UI: where the checks' token Secret is too.
    pub(super) fn ui_namespace(&self) -> String {
        let ui = *crate::layout::parts(self.config.stack)
            .last()
            .expect("every stack has a UI");
        self.layout.namespace(ui)
    }

    pub(super) fn rules(&self, must_be_positive: bool, capacity: Option<i64>) -> SeriesRules {
        SeriesRules {
            now: Timestamp::now(),
            max_age: self.config.max_age,
            must_be_positive,
            capacity,
        }
    }

    /// Nodes, stack pods and the metric Service, fetched at most once per poll interval.
    /// Shared, not copied: every check polling at once reads the same one.
    pub(super) async fn snapshot(&self) -> Result<Arc<Snapshot>, Verdict> {
        let mut cached = self.snapshot.lock().await;
        if let Some((at, snap)) = cached.as_ref()
            && at.elapsed() < self.config.poll / 2
        {
            return Ok(Arc::clone(snap));
        }
        let lp = ListParams::default();
        let node_api = Api::<Node>::all(self.client.clone());
        let nodes = retry(|| node_api.list(&lp)).await.map_err(api_wait)?.items;
        let mut pods = Vec::new();
        for ns in self.layout.namespaces() {
            let pod_api = Api::<Pod>::namespaced(self.client.clone(), &ns);
            pods.extend(retry(|| pod_api.list(&lp)).await.map_err(api_wait)?.items);
        }
        let exists = |ns: String, name: String| {
            let api = Api::<Service>::namespaced(self.client.clone(), &ns);
            async move { retry(|| api.get_opt(&name)).await.ok().map(|s| s.is_some()) }
        };
        let metric_service_at = self
            .dashboard()
            .map(|d| (d.metric_namespace, d.metric_service));
        let metric_service = match metric_service_at.clone() {
            Some((ns, svc)) => exists(ns, svc).await,
            None => None,
        };
        let metrics_api_service = match self.metrics_api_service() {
            Some((ns, svc)) => exists(ns, svc).await,
            None => None,
        };
        // heapster's own Service: read once when the dashboard's metric client reads the
        // same one (the shipped layout, or a dashboard told where heapster runs).
        let heapster_service = match self.config.stack {
            Stack::Heapster => {
                let at = self.layout.service(crate::layout::Part::Heapster);
                if metric_service_at.as_ref() == Some(&at) {
                    metric_service
                } else {
                    exists(at.0, at.1).await
                }
            }
            _ => None,
        };
        let snap = Arc::new(Snapshot {
            nodes,
            pods,
            metric_service,
            metrics_api_service,
            heapster_service,
        });
        *cached = Some((Instant::now(), Arc::clone(&snap)));
        Ok(snap)
    }

    /// A cause that makes waiting pointless for a check that needs the pods of
    /// `components` and the Services in `needs`: no nodes, no such Service, or a pod that
    /// cannot start.
    pub(super) async fn blocked(&self, components: &[&str], needs: Needs) -> Option<String> {
        let needs_metrics = needs.metric_service;
        let snap = self.snapshot().await.ok()?;
        if snap.nodes.is_empty() {
            return Some("the cluster has zero nodes".into());
        }
        let dashboard = self.dashboard();
        if needs_metrics
            && snap.metric_service == Some(false)
            && let Some(d) = &dashboard
        {
            let (ns, svc) = (&d.metric_namespace, &d.metric_service);
            return Some(if svc == HEAPSTER {
                format!(
                    "no heapster service: Service {ns}/{svc} does not exist (the dashboard and these checks reach heapster through it)"
                )
            } else {
                format!(
                    "no {svc} service: Service {ns}/{svc} does not exist (the dashboard reaches the scraper through it)"
                )
            });
        }
        if needs.heapster && snap.heapster_service == Some(false) {
            let (ns, svc) = self.layout.service(crate::layout::Part::Heapster);
            return Some(format!(
                "no heapster service: Service {ns}/{svc} does not exist (these checks reach heapster through it)"
            ));
        }
        if needs.metrics_api
            && snap.metrics_api_service == Some(false)
            && let Some((ns, svc)) = self.metrics_api_service()
        {
            return Some(format!(
                "no metrics-server service: Service {ns}/{svc} does not exist (APIService v1beta1.metrics.k8s.io reaches metrics-server through it)"
            ));
        }
        // The metric Service's pods are named after its Deployment, the same name here.
        let metric_service = dashboard
            .filter(|_| needs_metrics)
            .map(|d| d.metric_service);
        // Reading heapster needs its pods too.
        let heapster = needs
            .heapster
            .then(|| self.layout.deployment(crate::layout::Part::Heapster));
        let components: Vec<&str> = components
            .iter()
            .copied()
            .chain(metric_service.as_deref())
            .chain(heapster.as_deref())
            .collect();
        let now = Timestamp::now();
        for component in components {
            for pod in snap.pods.iter().filter(|p| pod_belongs_to(p, component)) {
                if let Some(problem) = crate::kubeclient::status::pod_problem(
                    pod,
                    now,
                    crate::pipeline::rollout::UNSCHEDULABLE_GRACE,
                ) {
                    return Some(format!("{component} cannot serve: {problem}"));
                }
            }
        }
        None
    }
}

/// Stack pods are named after their Deployment (`heapster-<hash>-<id>`).
pub(super) fn pod_belongs_to(pod: &Pod, deployment: &str) -> bool {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .next()
        .map(|o| o.name.as_str())
        .unwrap_or_default();
    owner
        .strip_prefix(deployment)
        .is_some_and(|rest| rest.starts_with('-') && !rest[1..].contains('-'))
        || name == deployment
}

pub(super) fn api_wait(e: kube::Error) -> Verdict {
    Verdict::Wait(format!("API error: {e}"))
}

pub(super) fn node_name(n: &Node) -> String {
    n.metadata.name.clone().unwrap_or_default()
}

pub(super) fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub(super) fn answer_json(answer: &Answer, who: &str, path: &str) -> Result<Value, Verdict> {
    if !answer.is_ok() {
        return Err(match answer.api_status() {
            Some((reason, message)) if reason == "Forbidden" => {
                Verdict::Fail(format!("{who} {path}: {message}"))
            }
            Some((_, message)) => Verdict::Wait(format!("{who} {path}: {message}")),
            None => Verdict::Wait(format!(
                "{who} {path} answered {}: {}",
                answer.status,
                kubeclient::snippet(&answer.body)
            )),
        });
    }
    answer
        .json()
        .map_err(|e| Verdict::Fail(format!("{who} {path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::{GRAFANA, HEAPSTER};
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_belong_to_their_deployment_by_owner() {
        let pod = |owner: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": "1"}]}})).unwrap()
        };
        assert!(pod_belongs_to(&pod("heapster-5d9f8c7b6"), HEAPSTER));
        assert!(!pod_belongs_to(
            &pod("monitoring-grafana-5d9f8c7b6"),
            HEAPSTER
        ));
        assert!(pod_belongs_to(
            &pod("monitoring-grafana-5d9f8c7b6"),
            GRAFANA
        ));
    }
}
