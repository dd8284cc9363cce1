//! Offline checks of manifests against the APIs a Kubernetes version serves.
//! Source of the removal table: the Kubernetes deprecated API migration guide,
//! https://kubernetes.io/docs/reference/using-api/deprecation-guide/

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

    #[test]
    fn versions_parse() {
        assert_eq!(minor_of("1.37"), Some(37));
        assert_eq!(minor_of("v1.34.11"), Some(34));
        assert_eq!(minor_of("2.0"), None);
    }
}
