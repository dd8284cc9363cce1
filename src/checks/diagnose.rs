//! Known symptoms mapped to their cause and fix. Pure: text in (a failure message, a
//! heapster log), causes out; one cause explains many failing checks, so reports show
//! each cause once, with the checks it explains, the most telling first.

use crate::stack::Stack;

/// One known symptom, with what it means and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub symptom: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cause: {}\n  fix: {}", self.cause, self.fix)
    }
}

struct Rule {
    matches: fn(&str) -> bool,
    hint: Hint,
    /// The stacks whose programs the cause is about; empty: any.
    stacks: &'static [Stack],
}

/// The stacks that run metrics-server: causes in it concern both.
const METRICS_SERVER_RUNS: &[Stack] = &[Stack::MetricsServer, Stack::Headlamp];

/// Known symptoms, the most telling first: a root cause (a missing Service, an image that
/// cannot be pulled, a closed port) before what follows from it (no data).
const RULES: &[Rule] = &[
    Rule {
        matches: |t| {
            t.contains("the server could not find the requested resource (get services heapster)")
                || t.contains("no heapster service")
                || t.contains("endpoints \"heapster\" not found")
        },
        hint: Hint {
            symptom: "(get services heapster): the server could not find the requested resource",
            cause: "the heapster Service is missing, or is in another namespace than kube-system",
            fix: "create Service `heapster` in kube-system (port 80 -> 8082): the dashboard looks for exactly that name",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| t.contains("no metrics-server service") || t.contains("ServiceNotFound"),
        hint: Hint {
            symptom: "no metrics-server service",
            cause: "the metrics-server Service is missing, or is in another namespace than kube-system: APIService v1beta1.metrics.k8s.io names it, and the aggregator reaches metrics-server only through it",
            fix: "create Service `metrics-server` in kube-system (port 443 -> https), as manifests/metrics-server/10-metrics-server.yaml declares it",
        },
        stacks: METRICS_SERVER_RUNS,
    },
    Rule {
        matches: |t| t.contains("could not pull") && t.contains("image(s)"),
        hint: Hint {
            symptom: "could not pull the stack's images",
            cause: "docker on this machine cannot pull an image the manifests name: its registry does not serve that tag (retired, or mistyped), or the registry cannot be reached",
            fix: "pull from a mirror that has it with --image-mirror PREFIX, or pre-pull it with docker (the message lists the images)",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| t.contains("ImagePullBackOff") || t.contains("ErrImagePull"),
        hint: Hint {
            symptom: "ImagePullBackOff / ErrImagePull",
            cause: "the node cannot pull the image: the registry is unreachable, or the image was not loaded into kind (or imagePullPolicy: Always forces a pull)",
            fix: "pull from a mirror with --image-mirror PREFIX, or pre-pull the images with docker; keep imagePullPolicy: IfNotPresent",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| t.contains("CrashLoopBackOff"),
        hint: Hint {
            symptom: "CrashLoopBackOff",
            cause: "a container of the stack exits soon after it starts, and the kubelet backs off restarting it",
            fix: "read the container's previous log (kept in the evidence as *.previous.log, or kubectl -n NAMESPACE logs POD --previous): its last lines say why it exits",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| {
            t.contains(":10255") && (t.contains("connection refused") || t.contains("getsockopt"))
        },
        hint: Hint {
            symptom: "dial tcp ...:10255: connect: connection refused",
            cause: "the kubelet read-only port 10255 is closed on current clusters, so heapster's default source cannot scrape",
            fix: "use the summary API source on the authenticated port: --source=kubernetes.summary_api:https://kubernetes.default?useServiceAccount=true&kubeletHttps=true&kubeletPort=10250&insecure=true",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| {
            t.contains("doesn't contain any IP SANs")
                && (t.contains("/metrics/resource") || t.contains("Failed to scrape node"))
        },
        hint: Hint {
            symptom: "metrics-server: x509: cannot validate certificate ... doesn't contain any IP SANs",
            cause: "kind's kubelet serving certificates are self-signed and carry no IP SANs, so metrics-server cannot verify them, never gets two scrapes and never becomes ready",
            fix: "add --kubelet-insecure-tls to metrics-server's args (manifests/metrics-server/10-metrics-server.yaml), or enable serverTLSBootstrap for the kubelets and approve their CSRs",
        },
        stacks: METRICS_SERVER_RUNS,
    },
    Rule {
        matches: |t| t.contains("x509") && !t.contains("/metrics/resource"),
        hint: Hint {
            symptom: "x509 certificate errors",
            cause: "the kubelet serving certificates are self-signed (as on kind), so heapster cannot verify them",
            fix: "add insecure=true to heapster's --source (kubeletHttps=true&kubeletPort=10250&insecure=true)",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| {
            t.contains("subresource=stats")
                || (t.contains("nodes/stats") && t.contains("forbidden"))
        },
        hint: Hint {
            symptom: "403 Forbidden on nodes/stats",
            cause: "heapster's service account may not read kubelet stats",
            fix: "grant `get` on `nodes/stats` in heapster's ClusterRole (manifests/10-heapster-rbac.yaml)",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| {
            t.contains("unknown (get services heapster)")
                || (t.contains("refuses the dashboard's account")
                    && t.contains("cannot get resource \"services/proxy\""))
        },
        hint: Hint {
            symptom: "Metric client health check failed: unknown (get services heapster)",
            cause: "the API server refused the dashboard's request with a JSON error, which client-go prints as \"unknown\"; for the health check that is a 403: the dashboard's service account may not proxy to heapster",
            fix: "give the dashboard's Role `get` on `services/proxy` with resourceNames heapster, http:heapster: and https:heapster: (manifests/50-dashboard.yaml)",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        // Go's net/http error as text, or as the JSON the dashboard's state API returns.
        matches: |t| {
            (t.contains("dial tcp 10.96.0.1:443") && t.contains("i/o timeout"))
                || (t.contains("Get https://10.96.0.1:443/") && t.contains("\"Op\":\"dial\""))
        },
        hint: Hint {
            symptom: "dial tcp 10.96.0.1:443: i/o timeout",
            cause: "the dashboard's pod cannot reach the API server's Service IP: the network of its node (kube-proxy or the CNI) is broken",
            fix: "check kube-proxy and the CNI pods on the dashboard's node: kubectl -n kube-system get pods -o wide",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| {
            t.contains(
                "the server is currently unable to handle the request (get services heapster)",
            ) || t.contains("no endpoints available for service \"heapster\"")
        },
        hint: Hint {
            symptom: "503 from the API server for the heapster service",
            cause: "the heapster Service has no ready pod: heapster is not running, or its readiness probe (/healthz) fails",
            fix: "look at the heapster pod: kubectl -n kube-system get pods -l k8s-app=heapster; its /healthz answer is in the rollout evidence",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| {
            t.contains("FailedDiscoveryCheck") || t.contains("failing or missing response from")
        },
        hint: Hint {
            symptom: "APIService v1beta1.metrics.k8s.io: FailedDiscoveryCheck",
            cause: "the API server's aggregator cannot reach metrics-server through its Service (a firewall or CNI problem between the control plane and the pod network), or metrics-server answers its discovery request with an error",
            fix: "kubectl get apiservice v1beta1.metrics.k8s.io -o yaml shows the failing URL; check kube-proxy and the CNI on the control-plane node, or run metrics-server with hostNetwork: true",
        },
        stacks: METRICS_SERVER_RUNS,
    },
    Rule {
        matches: |t| t.contains("Metrics API not available"),
        hint: Hint {
            symptom: "error: Metrics API not available",
            cause: "discovery does not list metrics.k8s.io: its APIService is missing, or not Available, so the aggregator marks the group stale and clients drop it",
            fix: "kubectl get apiservice v1beta1.metrics.k8s.io: apply manifests/metrics-server/, and read the Available condition's reason",
        },
        stacks: METRICS_SERVER_RUNS,
    },
    Rule {
        matches: |t| t.contains("Error scraping node metrics") && t.contains("is forbidden"),
        hint: Hint {
            symptom: "dashboard-metrics-scraper: Error scraping node metrics: ... is forbidden",
            cause: "the scraper runs as the dashboard's account, which may not list metrics.k8s.io: the ClusterRole kubernetes-dashboard lacks its metrics.k8s.io rule, or is not bound",
            fix: "apply the ClusterRole and ClusterRoleBinding kubernetes-dashboard of manifests/metrics-server/20-dashboard.yaml (get/list/watch on metrics.k8s.io pods and nodes)",
        },
        stacks: &[Stack::MetricsServer],
    },
    Rule {
        matches: |t| t.contains("MissingEndpoints"),
        hint: Hint {
            symptom: "APIService v1beta1.metrics.k8s.io: MissingEndpoints",
            cause: "metrics-server has no ready pod behind its Service: it is ready only after two good scrapes of the kubelets",
            fix: "read metrics-server's last log lines (below) for the scrape error: kubectl -n kube-system logs deploy/metrics-server",
        },
        stacks: METRICS_SERVER_RUNS,
    },
    Rule {
        matches: |t| t.contains("the scraper holds no samples"),
        hint: Hint {
            symptom: "the scraper holds no samples although the dashboard says connected",
            cause: "dashboard v2's health check asks the scraper for /healthz, which a catch-all route answers 200 whatever the scraper holds; the scraper itself has no rows: it cannot list metrics.k8s.io, or has not run one --metric-resolution yet",
            fix: "read the scraper's last log lines (below): kubectl -n kubernetes-dashboard logs deploy/dashboard-metrics-scraper",
        },
        stacks: &[Stack::MetricsServer],
    },
    Rule {
        matches: |t| t.contains("the cluster has zero nodes"),
        hint: Hint {
            symptom: "the cluster has zero nodes",
            cause: "the cluster has no nodes, so no pod of the stack can run and nothing can be measured",
            fix: "kubectl get nodes: recreate the cluster (cargo xtask e2e makes its own), or point --kubeconfig/--context at the cluster you meant",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| {
            t.contains("it answered 200 but the API server refused it")
                && (t.contains("heapster-e2e-checks") || t.contains("metrics-e2e-checks"))
        },
        hint: Hint {
            symptom: "the dashboard's lists refuse the checks' account",
            cause: "the checks log in to the dashboard with their read-only service account, and the API server refuses it the lists the dashboard reads as the logged-in user (a 403): its ClusterRole lost its rules, or is not bound",
            fix: "apply the checks' account as shipped: manifests/60-dashboard-checks.yaml (heapster stack) or manifests/metrics-server/30-dashboard-checks.yaml (get/list on nodes, pods, namespaces, events), or pass --dashboard-token-file with a token that may read them",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| t.contains("no dashboard-metrics-scraper service"),
        hint: Hint {
            symptom: "no dashboard-metrics-scraper service",
            cause: "the scraper's Service is missing: dashboard v2 reaches its scraper only through the Service `dashboard-metrics-scraper` in its own namespace (its --sidecar-host default)",
            fix: "create Service `dashboard-metrics-scraper` in kubernetes-dashboard (port 8000), as manifests/metrics-server/20-dashboard.yaml declares it",
        },
        stacks: &[Stack::MetricsServer],
    },
    Rule {
        matches: |t| t.contains("Kubelet stopped posting node status"),
        hint: Hint {
            symptom: "Ready=Unknown: Kubelet stopped posting node status",
            cause: "the node's kubelet stopped reporting to the API server for longer than the node monitor's grace period: the kubelet, or the node's container, is down or cut off",
            fix: "kubectl describe node NODE; on kind, docker exec NODE systemctl status kubelet (and journalctl -u kubelet)",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| {
            t.contains("latest value is 0 (expected above zero)")
                || t.contains("usage must be above zero")
                || t.contains(": memory is zero")
                || measured_zero(t)
        },
        hint: Hint {
            symptom: "latest value is 0",
            cause: "the metrics report zero usage where pods are running: the numbers come from the kubelets (heapster reads /stats/summary, metrics-server /metrics/resource), so the kubelets' own statistics say 0, or the pipeline drops them",
            fix: "ask a kubelet directly: kubectl get --raw /api/v1/nodes/NODE/proxy/stats/summary (or .../proxy/metrics/resource); if it says 0 too, the node's cgroup statistics are at fault, not the stack",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| {
            t.contains(" measured ")
                && t.contains(", target ")
                && t.contains("tolerance")
                && !measured_zero(t)
        },
        hint: Hint {
            symptom: "the load's usage is off its calibrated target",
            cause: "the metrics report the calibrated load's pods at a usage other than what they burn (the message gives target and measured): the pipeline's numbers are wrong, not missing",
            fix: "compare with the kubelet's own numbers for the load pod (kubectl get --raw /api/v1/nodes/NODE/proxy/stats/summary); if those match the target, the metrics pipeline scales or mixes them up",
        },
        stacks: &[],
    },
    Rule {
        matches: |t| t.contains("No current data batch available"),
        hint: Hint {
            symptom: "heapster: No current data batch available",
            cause: "heapster's housekeeping stopped: its latest batch is older than 3 minutes, so /healthz fails and its readiness probe takes it out of the Service",
            fix: "read heapster's log (below) for why housekeeping stalls, then restart the pod",
        },
        stacks: &[Stack::Heapster],
    },
    Rule {
        matches: |t| {
            t.contains("could not get the latest data batch")
                || t.contains("heapster has not scraped yet")
                || t.contains("heapster lists no nodes")
                || t.contains("missing from heapster")
                || t.contains("no cpu/usage_rate series")
                || t.contains("the dashboard shows no")
                || (t.contains("cpu/usage_rate") && t.contains("no points yet"))
                || (t.contains("memory/usage") && t.contains("no points yet"))
        },
        hint: Hint {
            symptom: HEAPSTER_CANNOT_SCRAPE,
            cause: "heapster runs but cannot scrape the kubelets (it still exports empty batches, so its /healthz passes)",
            fix: "read heapster's last log lines (below) for the scrape error",
        },
        stacks: &[Stack::Heapster],
    },
];

/// A ground-truth leg that measured nothing at all: zero usage, not a skew.
fn measured_zero(t: &str) -> bool {
    t.contains("measured 0m,") || t.contains("measured 0.0 MiB,")
}

/// Hints for every known symptom in `text`, most specific first, each once.
pub fn hints(text: &str) -> Vec<Hint> {
    RULES
        .iter()
        .filter(|r| (r.matches)(text))
        .map(|r| r.hint.clone())
        .collect()
}

/// `hints`, keeping only the causes that can hold for `stack`: heapster's are never
/// offered for a cluster running metrics-server, nor the other way round.
pub fn hints_for(text: &str, stack: Stack) -> Vec<Hint> {
    RULES
        .iter()
        .filter(|r| (r.stacks.is_empty() || r.stacks.contains(&stack)) && (r.matches)(text))
        .map(|r| r.hint.clone())
        .collect()
}

/// Whose log the hints ask for to find the underlying error: the program scraping the
/// kubelets (heapster, or metrics-server), or the dashboard's scraper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WantedLog {
    KubeletScraper,
    DashboardScraper,
}

pub fn wanted_log(hints: &[Hint]) -> Option<WantedLog> {
    let wants = |symptoms: &[&str]| hints.iter().any(|h| symptoms.contains(&h.symptom));
    if wants(&[
        HEAPSTER_CANNOT_SCRAPE,
        "heapster: No current data batch available",
        "APIService v1beta1.metrics.k8s.io: MissingEndpoints",
    ]) {
        Some(WantedLog::KubeletScraper)
    } else if wants(&["the scraper holds no samples although the dashboard says connected"]) {
        Some(WantedLog::DashboardScraper)
    } else {
        None
    }
}

/// The symptom whose cause is a claim about heapster's log ("cannot scrape the kubelets"):
/// offered only when that log shows an error.
const HEAPSTER_CANNOT_SCRAPE: &str = "no node metrics from heapster past the deadline";

/// Whether `hint` claims something only the component's log can show.
pub fn claims_log_error(hint: &Hint) -> bool {
    hint.symptom == HEAPSTER_CANNOT_SCRAPE
}

/// The log's error lines: klog/glog lines at level E or F (`E1125 10:12:05...`), and Go
/// log lines saying an error (`Error`, `Failed`, `error:`, `failed:`).
pub fn error_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let mut chars = l.chars();
            let klog = matches!(chars.next(), Some('E' | 'F'))
                && chars.take(4).all(|c| c.is_ascii_digit());
            klog || ["Error", "Failed", "error:", "failed:"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

/// Whether the hints ask for a component's own log.
pub fn wants_log(hints: &[Hint]) -> bool {
    wanted_log(hints).is_some()
}

/// Whether an unready pod's log makes readiness impossible, not just late: metrics-server
/// becomes ready only after two good scrapes (MS@v0.9.0 `pkg/server/server.go`), and a
/// kubelet certificate without IP SANs fails every scrape of that node for good. When every
/// node's latest scrape in `log` failed so, the line for the last one is returned.
pub fn never_ready(log: &str, nodes: &[String]) -> Option<String> {
    if nodes.is_empty() {
        return None;
    }
    let mut last_line = None;
    for node in nodes {
        let tag = format!("node=\"{node}\"");
        let latest = log
            .lines()
            .rev()
            .find(|l| l.contains("Failed to scrape node") && l.contains(&tag))?;
        if !latest.contains("doesn't contain any IP SANs") {
            return None;
        }
        last_line = Some(latest.trim().to_string());
    }
    last_line
}

/// A known cause of a failure: the hint, and the evidence it was read from (heapster's
/// last log lines) when it was not in the failure message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub hint: Hint,
    pub evidence: Vec<String>,
}

impl Cause {
    pub fn new(hint: Hint) -> Self {
        Cause {
            hint,
            evidence: Vec::new(),
        }
    }

    /// Lower is more telling: the position of its rule.
    pub fn rank(&self) -> usize {
        RULES
            .iter()
            .position(|r| r.hint.symptom == self.hint.symptom)
            .unwrap_or(RULES.len())
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.hint)?;
        if !self.evidence.is_empty() {
            write!(f, "\n  seen in the component's last log lines:")?;
            for line in &self.evidence {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

/// The failure message with its causes below it (for one check on its own).
pub fn explain(message: &str, causes: &[Cause]) -> String {
    let mut out = message.to_string();
    for c in causes {
        out.push_str(&format!("\n  {c}"));
    }
    out
}

/// Each cause once, the most telling first, with the failing checks it explains; then the
/// failing checks no known cause explains.
pub fn group<'a>(
    failures: impl IntoIterator<Item = (&'a str, &'a [Cause])>,
) -> Vec<(Cause, Vec<String>)> {
    let mut groups: Vec<(Cause, Vec<String>)> = Vec::new();
    for (check, causes) in failures {
        for cause in causes {
            match groups.iter_mut().find(|(c, _)| c.hint == cause.hint) {
                Some((c, checks)) => {
                    if c.evidence.is_empty() {
                        c.evidence = cause.evidence.clone();
                    }
                    checks.push(check.to_string());
                }
                None => groups.push((cause.clone(), vec![check.to_string()])),
            }
        }
    }
    groups.sort_by_key(|(c, _)| c.rank());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_states_have_their_cause() {
        for (text, cause) in [
            ("nodes::count: the cluster has zero nodes", "no nodes"),
            (
                "the dashboard's nodes list reports errors (it answered 200 but the API server refused it): nodes is forbidden: User \"system:serviceaccount:kube-system:heapster-e2e-checks\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                "refuses it the lists",
            ),
            (
                "NodeMetrics w: usage must be above zero: cpu 0m, memory 0.0 MiB",
                "zero usage",
            ),
            ("PodMetrics kube-system/p: memory is zero", "zero usage"),
            (
                "the dashboard's nodes list has no cumulativeMetrics; the API server refuses the dashboard's account system:serviceaccount:kube-system:kubernetes-dashboard its metric client's request (403): services \"heapster\" is forbidden: User \"system:serviceaccount:kube-system:kubernetes-dashboard\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"kube-system\"",
                "may not proxy to heapster",
            ),
            (
                "ground_truth::cpu: cpu/usage_rate measured 0m, target 100m, tolerance ±20% (-100%)",
                "zero usage",
            ),
            (
                "heapster not connected: Get https://10.96.0.1:443/api/v1/namespaces/kube-system/services/heapster/proxy/healthz: {\"Op\":\"dial\",\"Net\":\"tcp\"}",
                "cannot reach the API server",
            ),
            (
                "could not pull 1 image(s):\n  kubernetesui/metrics-scraper:v1.0.8: manifest unknown",
                "cannot pull an image",
            ),
            (
                "no dashboard-metrics-scraper service: Service kubernetes-dashboard/dashboard-metrics-scraper does not exist",
                "scraper's Service is missing",
            ),
            (
                "node w2 is NotReady: Ready=Unknown (NodeStatusUnknown: Kubelet stopped posting node status.)",
                "kubelet stopped reporting",
            ),
            (
                "still failing after 22s: cpu/usage_rate: latest value is 0 (expected above zero)",
                "zero usage",
            ),
            (
                "ground_truth::cpu: cpu/usage_rate measured 1031m, target 100m, tolerance ±20% (+931%)",
                "other than what they burn",
            ),
        ] {
            let h = hints(text);
            assert!(h.iter().any(|h| h.cause.contains(cause)), "{text}: {h:?}");
        }
        // Not a skew: a node covering its pod names no target and tolerance together.
        assert!(hints("node n reports 5m, less than its load pod's 100m (target 100m)").is_empty());
        // Zero measured is zero usage only, not also a skew.
        assert_eq!(
            hints("cpu/usage_rate measured 0m, target 100m, tolerance ±20% (-100%)").len(),
            1
        );
    }

    #[test]
    fn error_lines_are_klog_errors_and_go_errors_only() {
        let log = "I1201 10:00:00.000000       1 heapster.go:78] /heapster --source=kubernetes.summary_api:''\n\
E1201 10:00:05.000000       1 manager.go:101] Error in scraping containers from kubelet_summary:172.18.0.3:10250: timeout\n\
I1201 10:00:05.000000       1 heapster.go:113] Starting heapster on port 8082\n\
2018/04/29 01:56:38 Metric client health check failed: boom";
        let errors = error_lines(log);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("E1201"));
        assert!(error_lines("I1201 10:00:00 heapster.go:78] started\nEvery line fine").is_empty());
        assert!(claims_log_error(&only("heapster lists no nodes yet")));
        assert!(!claims_log_error(&only(NO_SERVICE)));
    }

    #[test]
    fn causes_are_offered_only_for_their_stack() {
        // metrics-server's log on kind without --kubelet-insecure-tls (metrics-server#1282).
        let x509 = "E1201 scraper.go:149] \"Failed to scrape node\" err=\"Get \\\"https://172.18.0.2:10250/metrics/resource\\\": tls: failed to verify certificate: x509: cannot validate certificate for 172.18.0.2 because it doesn't contain any IP SANs\" node=\"kind-worker\"";
        let ms = hints_for(x509, Stack::MetricsServer);
        assert_eq!(ms.len(), 1, "{ms:?}");
        assert!(ms[0].symptom.starts_with("metrics-server: x509"));
        // Headlamp's stack runs the same metrics-server: the same cause.
        assert_eq!(hints_for(x509, Stack::Headlamp), ms);
        // The dashboard's scraper is not part of it.
        let scraper = "no dashboard-metrics-scraper service";
        assert!(!hints_for(scraper, Stack::MetricsServer).is_empty());
        assert!(hints_for(scraper, Stack::Headlamp).is_empty());
        assert!(
            hints_for(x509, Stack::Heapster)
                .iter()
                .all(|h| !h.symptom.starts_with("metrics-server"))
        );
        // A heapster symptom is no cause on the metrics-server stack.
        let empty = "heapster::nodes: heapster lists no nodes yet";
        assert!(!hints_for(empty, Stack::Heapster).is_empty());
        assert!(hints_for(empty, Stack::MetricsServer).is_empty());
        // Causes of either stack stay.
        assert_eq!(
            hints_for("Back-off: CrashLoopBackOff", Stack::MetricsServer).len(),
            1
        );
    }

    // Recorded lines: heapster v1.5 against a current kubelet, and dashboard v1.10.1.
    const READ_ONLY_PORT: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet:172.18.0.3:10255: failed to get all container stats from Kubelet URL \"http://172.18.0.3:10255/stats/container/\": Post http://172.18.0.3:10255/stats/container/: dial tcp 172.18.0.3:10255: getsockopt: connection refused";
    const X509: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet_summary:172.18.0.3:10250: Get https://172.18.0.3:10250/stats/summary/: x509: cannot validate certificate for 172.18.0.3 because it doesn't contain any IP SANs";
    const STATS_FORBIDDEN: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet_summary:172.18.0.3:10250: request failed - \"403 Forbidden\", response: \"Forbidden (user=system:serviceaccount:kube-system:heapster, verb=get, resource=nodes, subresource=stats)\"";
    const NO_SERVICE: &str = "2018/04/29 01:56:38 Metric client health check failed: the server could not find the requested resource (get services heapster). Retrying in 30 seconds.";
    const PULL: &str = "pod kube-system/monitoring-grafana-1 container grafana is in ImagePullBackOff: Back-off pulling image \"registry.k8s.io/heapster-grafana-amd64:v5.0.4\"";
    const NO_BATCH: &str = "2018/09/21 03:01:46 Metric client health check failed: an error on the server (\"[-]healthz failed: could not get the latest data batch\\nhealthz check failed\") has prevented the request from succeeding (get services heapster). Retrying in 30 seconds.";
    // client-go's DoRaw on the API server's JSON 403 (vendored rest/request.go of v1.10.1).
    const PROXY_FORBIDDEN: &str = "2026/11/28 04:20:54 Metric client health check failed: unknown (get services heapster). Retrying in 30 seconds.";
    const API_UNREACHABLE: &str = "2026/11/28 04:20:50 Metric client health check failed: Get https://10.96.0.1:443/api/v1/namespaces/kube-system/services/heapster/proxy/healthz: dial tcp 10.96.0.1:443: i/o timeout. Retrying in 30 seconds.";

    fn only(text: &str) -> Hint {
        let h = hints(text);
        assert_eq!(h.len(), 1, "{text}: {h:?}");
        h[0].clone()
    }

    #[test]
    fn read_only_port_means_use_the_summary_api() {
        assert!(only(READ_ONLY_PORT).fix.contains("kubeletPort=10250"));
    }

    #[test]
    fn x509_means_insecure() {
        assert!(only(X509).fix.contains("insecure=true"));
    }

    #[test]
    fn stats_forbidden_means_rbac() {
        assert!(only(STATS_FORBIDDEN).fix.contains("nodes/stats"));
    }

    #[test]
    fn missing_service_is_named_by_its_exact_symptom() {
        assert!(only(NO_SERVICE).cause.contains("Service is missing"));
        // The suffix alone says nothing: every dashboard failure line ends with it.
        assert!(hints("Metric client health check failed: an error on the server (\"boom\") has prevented the request from succeeding (get services heapster).").is_empty());
        assert!(only("Metric client health check failed: the server is currently unable to handle the request (get services heapster).").cause.contains("no ready pod"));
    }

    #[test]
    fn a_crash_loop_points_at_the_previous_log() {
        assert!(only("heapster cannot serve: pod kube-system/heapster-1 container heapster is in CrashLoopBackOff: back-off 10s").fix.contains("--previous"));
    }

    #[test]
    fn image_pull_points_at_the_mirror() {
        assert!(only(PULL).fix.contains("--image-mirror"));
    }

    #[test]
    fn a_refused_proxy_points_at_the_dashboards_role() {
        assert!(only(PROXY_FORBIDDEN).fix.contains("services/proxy"));
    }

    #[test]
    fn an_unreachable_api_server_points_at_the_node_network() {
        assert!(only(API_UNREACHABLE).fix.contains("kube-proxy"));
    }

    #[test]
    fn heapster_without_nodes_asks_for_its_log() {
        let h = hints("heapster::nodes: still failing after 10s: heapster lists no nodes yet");
        assert!(wants_log(&h), "{h:?}");
    }

    #[test]
    fn causes_are_grouped_once_the_most_telling_first() {
        let missing = Cause::new(only(NO_SERVICE));
        let no_data = Cause::new(only("heapster lists no nodes yet"));
        let groups = group([
            ("heapster::nodes", std::slice::from_ref(&no_data)),
            ("heapster::health", std::slice::from_ref(&missing)),
            ("dashboard::log", std::slice::from_ref(&missing)),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0.hint, missing.hint, "the root cause first");
        assert_eq!(groups[0].1, ["heapster::health", "dashboard::log"]);
        assert_eq!(groups[1].1, ["heapster::nodes"]);
    }

    #[test]
    fn no_data_batch_asks_for_heapster_log() {
        let h = hints(NO_BATCH);
        assert!(wants_log(&h), "{h:?}");
        let causes: Vec<Cause> = h.into_iter().map(Cause::new).collect();
        let explained = explain("dashboard::log failed", &causes);
        assert!(
            explained.contains("cause: heapster runs but cannot scrape"),
            "{explained}"
        );
    }

    #[test]
    fn a_metrics_server_failing_every_node_on_x509_never_gets_ready() {
        let line = |node: &str, err: &str| {
            format!(
                "E1128 10:00:00.000000       1 scraper.go:149] \"Failed to scrape node\" err=\"{err}\" node=\"{node}\""
            )
        };
        let x509 = "Get \\\"https://172.18.0.3:10250/metrics/resource\\\": tls: failed to verify certificate: x509: cannot validate certificate for 172.18.0.3 because it doesn't contain any IP SANs";
        let nodes = vec!["a".to_string(), "b".to_string()];
        let all = [line("a", x509), line("b", x509)].join("\n");
        assert!(never_ready(&all, &nodes).is_some_and(|l| l.contains("node=\"b\"")));
        // One node not yet scraped, or one that scrapes fine: readiness may still come.
        assert_eq!(never_ready(&line("a", x509), &nodes), None);
        let healed = [line("a", x509), line("b", x509), line("a", "timeout")].join("\n");
        assert_eq!(never_ready(&healed, &nodes), None);
        assert_eq!(never_ready(&all, &[]), None);
    }
}
