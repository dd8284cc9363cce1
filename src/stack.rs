//! The three monitoring stacks the harness proves: heapster + dashboard v1.10.1 (the
//! default, `manifests/`), metrics-server + dashboard v2.7.0 with its metrics scraper
//! (`manifests/metrics-server/`), the path off heapster, and metrics-server + Headlamp
//! v0.45.0 (`manifests/headlamp/`), the UI after the dashboard's archival. Everything that
//! differs between them by name is here; what differs by behaviour is in the checks.

use std::path::{Path, PathBuf};

use crate::versions::{
    HEADLAMP_STACK_IMAGES, METRICS_SERVER_STACK_IMAGES, STACK_IMAGES, StackImage,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stack {
    #[default]
    Heapster,
    MetricsServer,
    Headlamp,
}

/// The dashboard of a stack: where it runs and where its metric client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dashboard {
    /// Its integration id (`/api/v1/integration/ID/state`), also the name its log uses
    /// (`Successful request to ID`).
    pub integration: &'static str,
    /// The Service its in-cluster metric client proxies to, in `metric_namespace`, or in
    /// the dashboard's own namespace when that is `None`.
    pub metric_service: &'static str,
    pub metric_namespace: Option<&'static str>,
}

/// The read-only account the checks log in to the stack's UI with: its token Secret (beside
/// the UI, wherever that runs), and the manifest that ships both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksIdentity {
    pub token_secret: &'static str,
    pub manifest: &'static str,
}

impl Stack {
    pub const ALL: &[Stack] = &[Stack::Heapster, Stack::MetricsServer, Stack::Headlamp];

    pub fn name(self) -> &'static str {
        match self {
            Stack::Heapster => "heapster",
            Stack::MetricsServer => "metrics-server",
            Stack::Headlamp => "headlamp",
        }
    }

    pub fn parse(text: &str) -> Result<Stack, String> {
        Stack::ALL
            .iter()
            .copied()
            .find(|s| s.name() == text)
            .ok_or_else(|| {
                format!("unknown stack {text:?}: give `heapster` (heapster + dashboard v1.10.1), `metrics-server` (metrics-server + dashboard v2.7.0) or `headlamp` (metrics-server + Headlamp v0.45.0)")
            })
    }

    /// The stack's manifests under the workspace root.
    pub fn manifests(self, root: &Path) -> PathBuf {
        match self {
            Stack::Heapster => root.join("manifests"),
            Stack::MetricsServer => root.join("manifests/metrics-server"),
            Stack::Headlamp => root.join("manifests/headlamp"),
        }
    }

    pub fn images(self) -> &'static [StackImage] {
        match self {
            Stack::Heapster => STACK_IMAGES,
            Stack::MetricsServer => METRICS_SERVER_STACK_IMAGES,
            Stack::Headlamp => HEADLAMP_STACK_IMAGES,
        }
    }

    /// The stack a set of manifests deploys: the one whose UI runs in one of their
    /// Deployments, known by its image whatever the Deployment is called (two stacks share
    /// metrics-server, so the UI tells them apart).
    pub fn detect(docs: &[crate::manifests::Manifest]) -> Option<Stack> {
        let images: Vec<String> = docs
            .iter()
            .filter(|m| m.kind() == "Deployment")
            .flat_map(|m| m.images())
            .collect();
        Stack::ALL.iter().copied().find(|s| {
            images
                .iter()
                .any(|i| crate::manifests::runs(i, s.ui_image()))
        })
    }

    /// The image the stack's UI runs, without its registry (any registry or mirror
    /// serving it counts: `k8s.gcr.io/`, `docker.io/`, a mirror's prefix).
    pub fn ui_image(self) -> &'static str {
        match self {
            Stack::Heapster => "kubernetes-dashboard-amd64",
            Stack::MetricsServer => "kubernetesui/dashboard",
            Stack::Headlamp => "headlamp-k8s/headlamp",
        }
    }

    /// What `detect` looks for, for a message about a folder it finds nothing in.
    pub fn detect_looks_for() -> String {
        let each: Vec<String> = Stack::ALL
            .iter()
            .map(|s| format!("{} ({} stack)", s.ui_image(), s))
            .collect();
        format!("a Deployment running one of {}", each.join(", "))
    }

    /// The Deployment of the UI that shows the metrics.
    pub fn ui_deployment(self) -> (&'static str, &'static str) {
        *self.deployments().last().expect("every stack has a UI")
    }

    /// `dashboard v1.10.1`, `headlamp v0.45.0`: the stack's UI by its pinned tag.
    pub fn ui_release(self) -> String {
        let (name, repository) = match self {
            Stack::Headlamp => ("headlamp", "headlamp"),
            _ => ("dashboard", "dashboard"),
        };
        let tag = self
            .images()
            .iter()
            .find(|i| i.repository.contains(repository))
            .map_or("?", |i| i.tag);
        format!("{name} {tag}")
    }

    /// Where the stack's node and pod metrics are read.
    pub fn metrics_source(self) -> &'static str {
        match self {
            Stack::Heapster => "heapster model API",
            Stack::MetricsServer | Stack::Headlamp => "metrics.k8s.io",
        }
    }

    /// The stack's Deployments, `(namespace, name)`, in the order they serve each other.
    pub fn deployments(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Stack::Heapster => &[
                ("kube-system", "heapster"),
                ("kube-system", "monitoring-influxdb"),
                ("kube-system", "monitoring-grafana"),
                ("kube-system", "kubernetes-dashboard"),
            ],
            Stack::MetricsServer => &[
                ("kube-system", "metrics-server"),
                ("kubernetes-dashboard", "dashboard-metrics-scraper"),
                ("kubernetes-dashboard", "kubernetes-dashboard"),
            ],
            Stack::Headlamp => &[
                ("kube-system", "metrics-server"),
                ("kube-system", "headlamp"),
            ],
        }
    }

    /// The namespaces the stack's pods run in.
    pub fn namespaces(self) -> Vec<&'static str> {
        let mut out: Vec<&str> = Vec::new();
        for (ns, _) in self.deployments() {
            if !out.contains(ns) {
                out.push(ns);
            }
        }
        out
    }

    /// The stack's dashboard; the Headlamp stack has none.
    pub fn dashboard(self) -> Option<Dashboard> {
        match self {
            // D@v1.10.1 `integration/metric/heapster/client.go`, in-cluster.
            Stack::Heapster => Some(Dashboard {
                integration: "heapster",
                metric_service: "heapster",
                metric_namespace: Some("kube-system"),
            }),
            // D@v2.7.0 `integration/metric/sidecar/client.go`, without `--sidecar-host`.
            Stack::MetricsServer => Some(Dashboard {
                integration: "sidecar",
                metric_service: "dashboard-metrics-scraper",
                metric_namespace: None,
            }),
            Stack::Headlamp => None,
        }
    }

    /// The account the checks log in to the UI with.
    pub fn checks_identity(self) -> ChecksIdentity {
        match self {
            Stack::Heapster => ChecksIdentity {
                token_secret: "heapster-e2e-checks-token",
                manifest: "manifests/60-dashboard-checks.yaml",
            },
            Stack::MetricsServer => ChecksIdentity {
                token_secret: "metrics-e2e-checks-token",
                manifest: "manifests/metrics-server/30-dashboard-checks.yaml",
            },
            Stack::Headlamp => ChecksIdentity {
                token_secret: "headlamp-e2e-checks-token",
                manifest: "manifests/headlamp/30-headlamp-checks.yaml",
            },
        }
    }
}

impl std::fmt::Display for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_name_the_choices() {
        for s in Stack::ALL {
            assert_eq!(Stack::parse(s.name()), Ok(*s));
        }
        let err = Stack::parse("prometheus").unwrap_err();
        assert!(
            err.contains("`heapster`")
                && err.contains("`metrics-server`")
                && err.contains("`headlamp`"),
            "{err}"
        );
    }

    #[test]
    fn each_shipped_stack_is_detected_from_its_manifests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for s in Stack::ALL {
            let docs = crate::manifests::load_dir(&s.manifests(root)).unwrap();
            assert_eq!(Stack::detect(&docs), Some(*s));
        }
        assert_eq!(Stack::detect(&[]), None);
        assert!(
            Stack::detect_looks_for().contains("headlamp-k8s/headlamp (headlamp stack)"),
            "{}",
            Stack::detect_looks_for()
        );
        assert_eq!(Stack::Heapster.ui_release(), "dashboard v1.10.1");
        assert_eq!(Stack::MetricsServer.ui_release(), "dashboard v2.7.0");
        assert_eq!(Stack::Headlamp.ui_release(), "headlamp v0.45.0");
    }

    #[test]
    fn the_headlamp_stack_runs_the_metrics_server_stacks_metrics_server() {
        // The same file, so a move between the two leaves metrics-server as it runs.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |s: Stack| std::fs::read(s.manifests(root).join("10-metrics-server.yaml"));
        assert_eq!(
            read(Stack::Headlamp).unwrap(),
            read(Stack::MetricsServer).unwrap()
        );
        assert_eq!(Stack::Headlamp.dashboard(), None);
        assert_eq!(Stack::Headlamp.namespaces(), ["kube-system"]);
    }

    #[test]
    fn a_stack_is_detected_by_its_uis_image_whatever_its_names() {
        // A Helm-style render: other names, another namespace, an image by tag.
        let doc = |image: &str| crate::manifests::Manifest {
            file: "rendered.yaml".into(),
            index: 0,
            object: serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "ui-release-headlamp", "namespace": "ui"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}),
        };
        assert_eq!(
            Stack::detect(&[doc("ghcr.io/headlamp-k8s/headlamp:v0.44.0")]),
            Some(Stack::Headlamp)
        );
        assert_eq!(
            Stack::detect(&[doc("kubernetesui/dashboard:v2.7.0")]),
            Some(Stack::MetricsServer)
        );
        // metrics-server alone is no stack: its UI tells which.
        assert_eq!(
            Stack::detect(&[doc("registry.k8s.io/metrics-server/metrics-server:v0.9.0")]),
            None
        );
        // From a mirror, or the old registry, it is still the dashboard.
        assert_eq!(
            Stack::detect(&[doc("mirror.example/kubernetesui/dashboard:v2.7.0")]),
            Some(Stack::MetricsServer)
        );
        assert_eq!(
            Stack::detect(&[doc("k8s.gcr.io/kubernetes-dashboard-amd64:v1.10.1")]),
            Some(Stack::Heapster)
        );
        assert_eq!(
            Stack::detect(&[doc("example.com/notkubernetesui/dashboard:v2")]),
            None
        );
    }

    #[test]
    fn the_new_stack_spans_two_namespaces() {
        assert_eq!(Stack::Heapster.namespaces(), ["kube-system"]);
        assert_eq!(
            Stack::MetricsServer.namespaces(),
            ["kube-system", "kubernetes-dashboard"]
        );
    }
}
