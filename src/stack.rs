//! The two monitoring stacks the harness proves: heapster + dashboard v1.10.1 (the default,
//! `manifests/`), and metrics-server + dashboard v2.7.0 with its metrics scraper
//! (`manifests/metrics-server/`), the path off heapster. Everything that differs between
//! them by name is here; what differs by behaviour is in the checks.

use std::path::{Path, PathBuf};

use crate::versions::{METRICS_SERVER_STACK_IMAGES, STACK_IMAGES, StackImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stack {
    #[default]
    Heapster,
    MetricsServer,
}

/// The dashboard of a stack: where it runs and where its metric client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dashboard {
    pub namespace: &'static str,
    /// Its integration id (`/api/v1/integration/ID/state`), also the name its log uses
    /// (`Successful request to ID`).
    pub integration: &'static str,
    /// The Service its metric client proxies to, in `metric_namespace`.
    pub metric_service: &'static str,
    pub metric_namespace: &'static str,
    /// The read-only identity the checks log in with.
    pub checks_token_secret: &'static str,
    pub checks_manifest: &'static str,
}

impl Stack {
    pub const ALL: &[Stack] = &[Stack::Heapster, Stack::MetricsServer];

    pub fn name(self) -> &'static str {
        match self {
            Stack::Heapster => "heapster",
            Stack::MetricsServer => "metrics-server",
        }
    }

    pub fn parse(text: &str) -> Result<Stack, String> {
        Stack::ALL
            .iter()
            .copied()
            .find(|s| s.name() == text)
            .ok_or_else(|| {
                format!("unknown stack {text:?}: give `heapster` (heapster + dashboard v1.10.1) or `metrics-server` (metrics-server + dashboard v2.7.0)")
            })
    }

    /// The stack's manifests under the workspace root.
    pub fn manifests(self, root: &Path) -> PathBuf {
        match self {
            Stack::Heapster => root.join("manifests"),
            Stack::MetricsServer => root.join("manifests/metrics-server"),
        }
    }

    pub fn images(self) -> &'static [StackImage] {
        match self {
            Stack::Heapster => STACK_IMAGES,
            Stack::MetricsServer => METRICS_SERVER_STACK_IMAGES,
        }
    }

    /// The stack a set of manifests deploys: the one whose metrics source (its first
    /// Deployment) is among them.
    pub fn detect(docs: &[crate::manifests::Manifest]) -> Option<Stack> {
        let deployments = crate::manifests::deployments(docs);
        Stack::ALL.iter().copied().find(|s| {
            let (ns, name) = s.deployments()[0];
            deployments.iter().any(|(n, d)| n == ns && d == name)
        })
    }

    /// `dashboard v1.10.1`: the stack's dashboard by its pinned tag.
    pub fn dashboard_release(self) -> String {
        let tag = self
            .images()
            .iter()
            .find(|i| i.repository.contains("dashboard"))
            .map_or("?", |i| i.tag);
        format!("dashboard {tag}")
    }

    /// Where the stack's node and pod metrics are read.
    pub fn metrics_source(self) -> &'static str {
        match self {
            Stack::Heapster => "heapster model API",
            Stack::MetricsServer => "metrics.k8s.io",
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

    pub fn dashboard(self) -> Dashboard {
        match self {
            Stack::Heapster => Dashboard {
                namespace: "kube-system",
                integration: "heapster",
                metric_service: "heapster",
                metric_namespace: "kube-system",
                checks_token_secret: "heapster-e2e-checks-token",
                checks_manifest: "manifests/60-dashboard-checks.yaml",
            },
            Stack::MetricsServer => Dashboard {
                namespace: "kubernetes-dashboard",
                integration: "sidecar",
                metric_service: "dashboard-metrics-scraper",
                metric_namespace: "kubernetes-dashboard",
                checks_token_secret: "metrics-e2e-checks-token",
                checks_manifest: "manifests/metrics-server/30-dashboard-checks.yaml",
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
            err.contains("`heapster`") && err.contains("`metrics-server`"),
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
        assert_eq!(Stack::Heapster.dashboard_release(), "dashboard v1.10.1");
        assert_eq!(Stack::MetricsServer.dashboard_release(), "dashboard v2.7.0");
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
