//! Offline checks of manifests: the APIs a Kubernetes version serves, and flags the
//! stack's programs refuse at start.
//! Source of the removal table: the Kubernetes deprecated API migration guide,
//! https://kubernetes.io/docs/reference/using-api/deprecation-guide/

use std::time::Duration;

use crate::manifests::Manifest;

/// An API version of a kind that stopped being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// Deprecated from this minor version (a warning before removal).
    pub deprecated_in: u32,
    /// No longer served from this minor version.
    pub removed_in: u32,
    pub replacement: &'static str,
}

const fn removal(
    api_version: &'static str,
    kind: &'static str,
    deprecated_in: u32,
    removed_in: u32,
    replacement: &'static str,
) -> Removal {
    Removal {
        api_version,
        kind,
        deprecated_in,
        removed_in,
        replacement,
    }
}

pub const REMOVALS: &[Removal] = &[
    removal("extensions/v1beta1", "Deployment", 9, 16, "apps/v1"),
    removal("extensions/v1beta1", "DaemonSet", 9, 16, "apps/v1"),
    removal("extensions/v1beta1", "ReplicaSet", 9, 16, "apps/v1"),
    removal(
        "extensions/v1beta1",
        "PodSecurityPolicy",
        11,
        16,
        "policy/v1beta1",
    ),
    removal(
        "extensions/v1beta1",
        "NetworkPolicy",
        9,
        16,
        "networking.k8s.io/v1",
    ),
    removal(
        "extensions/v1beta1",
        "Ingress",
        14,
        22,
        "networking.k8s.io/v1",
    ),
    removal("apps/v1beta1", "Deployment", 9, 16, "apps/v1"),
    removal("apps/v1beta1", "StatefulSet", 9, 16, "apps/v1"),
    removal("apps/v1beta2", "Deployment", 9, 16, "apps/v1"),
    removal("apps/v1beta2", "DaemonSet", 9, 16, "apps/v1"),
    removal("apps/v1beta2", "ReplicaSet", 9, 16, "apps/v1"),
    removal("apps/v1beta2", "StatefulSet", 9, 16, "apps/v1"),
    removal(
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRole",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    removal(
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRoleBinding",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    removal(
        "rbac.authorization.k8s.io/v1beta1",
        "Role",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    removal(
        "rbac.authorization.k8s.io/v1beta1",
        "RoleBinding",
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    removal(
        "networking.k8s.io/v1beta1",
        "Ingress",
        19,
        22,
        "networking.k8s.io/v1",
    ),
    removal(
        "policy/v1beta1",
        "PodSecurityPolicy",
        21,
        25,
        "none (removed; use Pod Security Admission)",
    ),
    removal("policy/v1beta1", "PodDisruptionBudget", 21, 25, "policy/v1"),
    removal("batch/v1beta1", "CronJob", 21, 25, "batch/v1"),
    removal(
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        22,
        25,
        "autoscaling/v2",
    ),
    removal(
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        23,
        26,
        "autoscaling/v2",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// `"1.37"` -> 37.
pub fn minor_of(version: &str) -> Option<u32> {
    let mut parts = version.trim_start_matches('v').split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}

/// Findings for one manifest set on one Kubernetes version.
pub fn lint(manifests: &[Manifest], k8s_version: &str) -> Vec<Finding> {
    let Some(minor) = minor_of(k8s_version) else {
        return vec![Finding {
            severity: Severity::Error,
            message: format!(
                "cannot read Kubernetes version {k8s_version:?}; use MAJOR.MINOR, e.g. 1.37"
            ),
        }];
    };
    let mut findings = Vec::new();
    for m in manifests {
        let Some(r) = REMOVALS
            .iter()
            .find(|r| r.api_version == m.api_version() && r.kind == m.kind())
        else {
            continue;
        };
        let what = format!(
            "{} ({}): {} {}",
            m.origin(),
            m.file.display(),
            m.api_version(),
            m.describe()
        );
        if minor >= r.removed_in {
            findings.push(Finding {
                severity: Severity::Error,
                message: format!(
                    "{what} is not served by Kubernetes {k8s_version}: removed in 1.{}; use {}",
                    r.removed_in, r.replacement
                ),
            });
        } else if minor >= r.deprecated_in {
            findings.push(Finding {
                severity: Severity::Warning,
                message: format!(
                    "{what} is deprecated since 1.{} and removed in 1.{}; use {}",
                    r.deprecated_in, r.removed_in, r.replacement
                ),
            });
        }
    }
    findings
}

/// Flags a program of the stack refuses at start, so its pod would crash-loop: metrics-server's
/// `--metric-resolution` under 10 s or not above `--kubelet-request-timeout` (10 s) by a tenth
/// (MS@v0.9.0 `cmd/metrics-server/app/options/options.go` `validate`), heapster's
/// `--metric_resolution` under 5 s (H@v1.5.4 `metrics/heapster.go` `validateFlags`).
pub fn refused_flags(manifests: &[Manifest]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for m in manifests {
        let containers = m.object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in containers {
            let image = c["image"].as_str().unwrap_or_default();
            let flag = |name: &str| {
                crate::manifests::flag_of(&c, name).map(|v| {
                    let d = crate::duration::parse_go(&v);
                    (v, d)
                })
            };
            let what = format!("{} ({}): {}", m.origin(), m.file.display(), m.describe());
            let problem = if image.contains("metrics-server/metrics-server") {
                metrics_server_refusal(flag("metric-resolution"), flag("kubelet-request-timeout"))
            } else if image.contains("heapster-amd64") {
                flag("metric_resolution").and_then(|(text, d)| {
                    (d? < Duration::from_secs(5)).then(|| {
                        format!("--metric_resolution={text}: heapster exits at start with \"metric resolution should not be less than 5 seconds\"; use 6s or more")
                    })
                })
            } else {
                None
            };
            if let Some(problem) = problem {
                findings.push(Finding {
                    severity: Severity::Error,
                    message: format!("{what}: {problem}"),
                });
            }
        }
    }
    findings
}

/// metrics-server's own check of its flags, in its order; the first error is the one it
/// exits with.
fn metrics_server_refusal(
    resolution: Option<(String, Option<Duration>)>,
    timeout: Option<(String, Option<Duration>)>,
) -> Option<String> {
    const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    let res = resolution
        .as_ref()
        .map_or(Some(DEFAULT_RESOLUTION), |(_, d)| *d)?;
    let limit = timeout
        .as_ref()
        .map_or(Some(DEFAULT_TIMEOUT), |(_, d)| *d)?;
    let shown = |d: &Option<(String, Option<Duration>)>, default: &str| {
        d.as_ref().map_or(default.to_string(), |(t, _)| t.clone())
    };
    let why = if res < Duration::from_secs(10) {
        "metric-resolution should be a time duration at least 10s"
    } else if res * 9 / 10 < limit {
        "metric-resolution should be larger than kubelet-request-timeout"
    } else {
        return None;
    };
    Some(format!(
        "--metric-resolution={} with --kubelet-request-timeout={}: metrics-server exits at start with \"{why}\"; use 15s (the upstream manifest's) or more",
        shown(&resolution, "60s"),
        shown(&timeout, "10s"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn docs(text: &str) -> Vec<Manifest> {
        crate::manifests::parse_file(Path::new("old.yaml"), text).unwrap()
    }

    #[test]
    fn removed_api_is_an_error_naming_version_and_replacement() {
        let m = docs(
            "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: heapster, namespace: kube-system}\nspec: {template: {spec: {containers: [{name: h, image: 'x:1'}]}}}\n",
        );
        let f = lint(&m, "1.37");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message.contains("Deployment kube-system/heapster")
                && f[0].message.contains("removed in 1.16; use apps/v1"),
            "{}",
            f[0].message
        );
        assert!(
            lint(&m, "1.15")
                .iter()
                .all(|f| f.severity == Severity::Warning)
        );
    }

    #[test]
    fn rbac_v1beta1_removed_in_1_22() {
        let m = docs(
            "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: heapster}\n",
        );
        assert_eq!(lint(&m, "1.21")[0].severity, Severity::Warning);
        assert!(
            lint(&m, "1.22")[0]
                .message
                .contains("removed in 1.22; use rbac.authorization.k8s.io/v1")
        );
        assert!(lint(&m, "1.16").is_empty());
    }

    fn metrics_server_with(args: &str) -> Vec<Manifest> {
        docs(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: metrics-server, namespace: kube-system}}\nspec: {{selector: {{matchLabels: {{a: b}}}}, template: {{metadata: {{labels: {{a: b}}}}, spec: {{containers: [{{name: m, image: 'registry.k8s.io/metrics-server/metrics-server:v0.9.0', args: [{args}]}}]}}}}}}\n"
        ))
    }

    #[test]
    fn flags_the_programs_refuse_are_errors() {
        // Under 10 s, then not above the 10 s kubelet timeout by a tenth (options.go).
        let under = refused_flags(&metrics_server_with("--metric-resolution=5s"));
        assert_eq!(under.len(), 1);
        assert_eq!(under[0].severity, Severity::Error);
        assert!(under[0].message.contains("at least 10s"), "{:?}", under[0]);
        assert!(under[0].message.contains("--metric-resolution=5s"));
        let ten = refused_flags(&metrics_server_with("--metric-resolution=10s"));
        assert!(
            ten[0]
                .message
                .contains("larger than kubelet-request-timeout"),
            "{ten:?}"
        );
        let tight = "--metric-resolution=15s, --kubelet-request-timeout=14s";
        assert!(
            refused_flags(&metrics_server_with(tight))[0]
                .message
                .contains("larger than")
        );
        // The upstream manifest's 15 s, and the binary's 60 s default, start.
        assert!(refused_flags(&metrics_server_with("--metric-resolution=15s")).is_empty());
        assert!(refused_flags(&metrics_server_with("--cert-dir=/tmp")).is_empty());
        assert!(refused_flags(&metrics_server_with("--metric-resolution=12s")).is_empty());
        let heapster = docs(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: heapster, namespace: kube-system}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: h, image: 'k8s.gcr.io/heapster-amd64:v1.5.4', command: [/heapster, --metric_resolution=4s]}]}}}\n",
        );
        assert!(
            refused_flags(&heapster)[0]
                .message
                .contains("less than 5 seconds")
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(minor_of("1.37"), Some(37));
        assert_eq!(minor_of("v1.34.11"), Some(34));
        assert_eq!(minor_of("2.0"), None);
    }
}
