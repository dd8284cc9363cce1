//! One simulated kind cluster: its configuration and its state (the API objects, and
//! the runtime facts the objects do not carry). `server` serves it; everything else
//! reads and writes it under its one lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::rbac::Identity;
use crate::scenario::{Faults, Scenario, Timing};
use crate::store::{Key, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub control_plane: bool,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub name: String,
    /// `kindest/node:vX.Y.Z[@sha256:...]`; its tag is the version `/version` answers.
    pub node_image: String,
    pub nodes: Vec<NodeSpec>,
    pub timing: Timing,
    pub faults: Faults,
    /// Images already on every node, as if `kind load docker-image` had put them there.
    pub preloaded_images: Vec<String>,
    /// The named scenario the faults come from, published in the ConfigMap
    /// `kube-system/kind-sim` so the harness can refuse one that does not act on its stack.
    pub scenario: Scenario,
}

/// The ConfigMap in kube-system naming the scenario and the stacks it acts on.
pub const SCENARIO_CONFIGMAP: &str = "kind-sim";

pub const DEFAULT_NODE_IMAGE: &str = "kindest/node:v1.37.0";

impl SimConfig {
    /// kind's default topology for `name`: one control plane and two workers.
    pub fn new(name: &str) -> Self {
        SimConfig {
            name: name.into(),
            node_image: DEFAULT_NODE_IMAGE.into(),
            nodes: kind_node_names(name, &["control-plane", "worker", "worker"]),
            timing: Timing::fast(),
            faults: Faults::default(),
            preloaded_images: Vec::new(),
            scenario: Scenario::Healthy,
        }
    }

    pub fn scenario(name: &str, scenario: Scenario) -> Self {
        let mut config = SimConfig::new(name);
        config.faults = scenario.faults(name);
        config.timing = scenario.timing();
        config.scenario = scenario;
        if scenario == Scenario::ZeroNodes {
            config.nodes.clear();
        }
        config
    }

    /// `(major, minor, git version)` from the node image tag, e.g. `v1.37.0`.
    pub fn version(&self) -> (u32, u32, String) {
        let tag = self.node_image.split('@').next().unwrap_or_default();
        let tag = tag.rsplit(':').next().unwrap_or("v1.37.0");
        let mut parts = tag
            .trim_start_matches('v')
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(1);
        let minor = parts.next().unwrap_or(37);
        (major, minor, tag.to_string())
    }
}

/// Node names as kind gives them: `NAME-control-plane`, `NAME-worker`, `NAME-worker2`, ...
pub fn kind_node_names(cluster: &str, roles: &[&str]) -> Vec<NodeSpec> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    roles
        .iter()
        .map(|role| {
            let n = counts.entry(role).or_default();
            *n += 1;
            let suffix = if *n == 1 {
                String::new()
            } else {
                n.to_string()
            };
            NodeSpec {
                name: format!("{cluster}-{role}{suffix}"),
                control_plane: *role == "control-plane",
            }
        })
        .collect()
}

/// Runtime facts the API objects do not carry: where a pod runs and how its containers fare.
#[derive(Debug, Clone)]
pub struct PodRuntime {
    pub node: Option<String>,
    pub created: Timestamp,
    /// When the kubelet admitted the pod (its probe workers' tickers start then).
    pub admitted: Option<Timestamp>,
    /// Each container's readiness worker, by container name.
    pub probes: std::collections::BTreeMap<String, crate::prober::ProbeState>,
    pub started: Option<Timestamp>,
    pub restarts: u32,
    pub last_crash: Option<Timestamp>,
    pub ip: String,
    /// Load a resource-consumer pod was asked for over HTTP.
    pub consumption: crate::usage::Consumption,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerLog {
    pub current: Vec<String>,
    pub previous: Option<Vec<String>>,
}

/// A request as a client sent it: what a replay needs to send it again. The client's own
/// credentials and transport headers are left out (a replaying client brings its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The dashboard's metric manager, per dashboard pod: whether it has an active client.
#[derive(Debug, Clone, Default)]
pub struct DashboardRuntime {
    pub next_check: Option<Timestamp>,
    pub connected: bool,
    pub ever_checked: bool,
}

/// One dashboard-metrics-scraper sample: a node's or a pod's (containers summed at query time).
#[derive(Debug, Clone, PartialEq)]
pub struct ScraperRow {
    pub namespace: String,
    pub name: String,
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
    pub time: Timestamp,
}

/// One scraper pod's sqlite database and how far its ticker has run.
#[derive(Debug, Clone, Default)]
pub struct ScraperDb {
    pub nodes: Vec<ScraperRow>,
    pub pods: Vec<ScraperRow>,
    pub ticks: u64,
}

/// A dashboard login: who, and when its JWE token was issued.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Identity,
    pub issued: Timestamp,
    /// Expired on request (`ClusterHandle::expire_dashboard_sessions`).
    pub expired: bool,
}

pub struct State {
    pub store: Store,
    pub node_images: BTreeMap<String, BTreeSet<String>>,
    pub pods: HashMap<(String, String), PodRuntime>,
    pub logs: HashMap<(String, String, String), ContainerLog>,
    pub dashboards: HashMap<(String, String), DashboardRuntime>,
    /// Bearer tokens of service accounts (filled in by the token controller).
    pub sa_tokens: HashMap<String, Identity>,
    /// Dashboard login sessions by jweToken.
    pub dashboard_sessions: HashMap<String, Session>,
    /// Per heapster pod: the last batch whose housekeeping errors it logged, and how many.
    pub heapster_logged: HashMap<(String, String), (Timestamp, usize)>,
    /// Per metrics-server pod: the last scrape whose lines it logged.
    pub metrics_server_logged: HashMap<(String, String), Timestamp>,
    /// Services the EndpointSlice controller has synced (it makes a slice, empty or not,
    /// for every Service with a selector).
    pub endpoint_slices: BTreeSet<(String, String)>,
    /// Per dashboard-metrics-scraper pod: its database.
    pub scrapers: HashMap<(String, String), ScraperDb>,
    /// Requests seen per `METHOD path`, for transient faults and for tests of read-only-ness.
    pub requests: Vec<(String, String)>,
    /// How many requests each `METHOD path` (no query) has had: the transient faults'
    /// count, kept as it goes rather than recounted from `requests` on every request.
    pub request_counts: HashMap<String, usize>,
    /// The same requests whole (headers the client chose, body), to replay them.
    pub recorded: Vec<RecordedRequest>,
    pub next_ip: u32,
}

pub struct Cluster {
    pub config: SimConfig,
    pub minor: u32,
    pub git_version: String,
    /// A bearer token with the admin's rights, for clients that cannot present certificates.
    pub admin_token: String,
    pub pki: crate::pki::Pki,
    /// Woken on every request, for tests that wait for one.
    pub requested: tokio::sync::Notify,
    pub started: Timestamp,
    pub(crate) state: Mutex<State>,
}

impl Cluster {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn identity_for_token(&self, token: &str) -> Option<Identity> {
        if token == self.admin_token {
            return Some(Identity::Admin);
        }
        self.lock().sa_tokens.get(token).cloned()
    }
}

/// `(namespace, name)` of an object, the key of the runtime tables.
pub fn object_key(obj: &Value) -> (String, String) {
    let field = |f: &str| obj["metadata"][f].as_str().unwrap_or_default().to_string();
    (field("namespace"), field("name"))
}

pub fn now() -> Timestamp {
    Timestamp::now()
}

/// What `kind create cluster` leaves behind: nodes, system namespaces, and the
/// kube-system workloads every kind cluster runs (their images ship in the node image).
pub(crate) fn bootstrap(st: &mut State, config: &SimConfig, git_version: &str) {
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "local-path-storage",
    ] {
        st.store.put(
            Key::new("/namespaces", "", ns),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
    }
    // Not a kind object: the simulator's own note of what it plays.
    st.store.put(
        Key::new("/configmaps", "kube-system", SCENARIO_CONFIGMAP),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": SCENARIO_CONFIGMAP, "namespace": "kube-system"},
               "data": {"scenario": config.scenario.name(), "stacks": config.scenario.stacks().join(",")}}),
    );
    // Image versions of the system pods are illustrative: the node image ships whatever its
    // Kubernetes release pins. They are present on every node without being loaded.
    let coredns = "registry.k8s.io/coredns/coredns:v1.12.1";
    let kube_proxy = format!("registry.k8s.io/kube-proxy:{git_version}");
    let kindnet = "docker.io/kindest/kindnetd:v20251019-a6f4b8e6";
    let mut system_images: BTreeSet<String> =
        [coredns.to_string(), kube_proxy.clone(), kindnet.to_string()].into();
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        system_images.insert(static_pod_image(component, git_version));
    }
    for (i, node) in config.nodes.iter().enumerate() {
        let mut images = system_images.clone();
        images.extend(
            config
                .preloaded_images
                .iter()
                .filter(|i| config.faults.loads(i))
                .map(|i| crate::images::normalize(i)),
        );
        st.node_images.insert(node.name.clone(), images);
        let mut labels = json!({"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"});
        let mut taints = json!([]);
        if node.control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            taints =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        st.store.put(
            Key::new("/nodes", "", &node.name),
            json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node.name, "labels": labels},
                "spec": {"podCIDR": format!("10.244.{i}.0/24"), "taints": taints},
                "status": {
                    "capacity": {"cpu": "4", "memory": "24653492Ki", "pods": "110"},
                    "allocatable": {"cpu": "4", "memory": "24653492Ki", "pods": "110"},
                    "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}, {"type": "Hostname", "address": node.name}],
                    "nodeInfo": {"kubeletVersion": git_version, "architecture": "amd64", "operatingSystem": "linux", "containerRuntimeVersion": "containerd://2.1.4"},
                    "conditions": [],
                }
            }),
        );
        if node.control_plane {
            for component in [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ] {
                let name = format!("{component}-{}", node.name);
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "kube-system", "labels": {"component": component, "tier": "control-plane"}},
                    "spec": {"nodeName": node.name, "containers": [{"name": component, "image": static_pod_image(component, git_version)}]},
                });
                st.store.put(Key::new("/pods", "kube-system", &name), pod);
            }
        }
    }
    let control_plane_toleration =
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    st.store.put(
        Key::new("apps/deployments", "kube-system", "coredns"),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                                  "spec": {"tolerations": control_plane_toleration, "containers": [{"name": "coredns", "image": coredns}]}}},
        }),
    );
    for (name, image) in [("kube-proxy", kube_proxy.as_str()), ("kindnet", kindnet)] {
        st.store.put(
            Key::new("apps/daemonsets", "kube-system", name),
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": name}},
                "spec": {"selector": {"matchLabels": {"k8s-app": name}},
                         "template": {"metadata": {"labels": {"k8s-app": name}},
                                      "spec": {"tolerations": [{"operator": "Exists"}], "containers": [{"name": name, "image": image}]}}},
            }),
        );
    }
    // Built-in roles a fresh cluster has; the stack must not depend on `system:heapster`.
    st.store.put(
        Key::new("rbac.authorization.k8s.io/clusterroles", "", "cluster-admin"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cluster-admin"},
               "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    );
    st.store.put(
        Key::new("/serviceaccounts", "kube-system", "coredns"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}}),
    );
}

fn static_pod_image(component: &str, git_version: &str) -> String {
    if component == "etcd" {
        "registry.k8s.io/etcd:3.6.4-0".into()
    } else {
        format!("registry.k8s.io/{component}:{git_version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_follow_kind() {
        let names: Vec<_> = kind_node_names("e2e", &["control-plane", "worker", "worker"])
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["e2e-control-plane", "e2e-worker", "e2e-worker2"]);
    }

    #[test]
    fn version_comes_from_the_node_image_tag() {
        let mut c = SimConfig::new("x");
        c.node_image = "kindest/node:v1.34.11@sha256:44e2".into();
        assert_eq!(c.version(), (1, 34, "v1.34.11".into()));
    }
}
