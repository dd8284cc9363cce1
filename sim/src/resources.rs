//! The API resources the simulated API server serves, with the Kubernetes minor
//! version in which each stopped being served (from the upstream deprecation guide,
//! https://kubernetes.io/docs/reference/using-api/deprecation-guide/).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name as it appears in URLs.
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// First minor version of 1.x that no longer serves this group/version.
    pub removed_in: Option<u32>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn served_in(&self, minor: u32) -> bool {
        self.removed_in.is_none_or(|removed| minor < removed)
    }

    /// Key under which objects of this resource are stored, independent of version.
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn singular(&self) -> String {
        self.kind.to_lowercase()
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    removed_in: Option<u32>,
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        kind,
        namespaced,
        short_names,
        removed_in,
    }
}

pub const RESOURCES: &[ResourceType] = &[
    res("", "v1", "namespaces", "Namespace", false, &["ns"], None),
    res("", "v1", "nodes", "Node", false, &["no"], None),
    res("", "v1", "pods", "Pod", true, &["po"], None),
    res("", "v1", "services", "Service", true, &["svc"], None),
    res(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        None,
    ),
    res("", "v1", "configmaps", "ConfigMap", true, &["cm"], None),
    res("", "v1", "secrets", "Secret", true, &[], None),
    res("", "v1", "events", "Event", true, &["ev"], None),
    res(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        None,
    ),
    res(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        None,
    ),
    res("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], None),
    // Served only by old clusters; present so that apply to a removed API is refused
    // exactly when the real API server would refuse it.
    res(
        "extensions",
        "v1beta1",
        "deployments",
        "Deployment",
        true,
        &[],
        Some(16),
    ),
    res(
        "extensions",
        "v1beta1",
        "daemonsets",
        "DaemonSet",
        true,
        &[],
        Some(16),
    ),
    res(
        "apps",
        "v1beta2",
        "deployments",
        "Deployment",
        true,
        &[],
        Some(16),
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        None,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        None,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        None,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        None,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        Some(22),
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        Some(22),
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "roles",
        "Role",
        true,
        &[],
        Some(22),
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1beta1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        Some(22),
    ),
    res(
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        &[],
        None,
    ),
];

/// The served resource for a URL's group, version and plural, if this cluster serves it.
pub fn lookup(
    group: &str,
    version: &str,
    plural: &str,
    minor: u32,
) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| {
        r.group == group && r.version == version && r.plural == plural && r.served_in(minor)
    })
}

/// Every group/version the cluster serves, core first.
pub fn served_group_versions(minor: u32) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.served_in(minor)) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_apis_are_not_served_from_their_removal_version() {
        assert!(lookup("extensions", "v1beta1", "deployments", 15).is_some());
        assert!(lookup("extensions", "v1beta1", "deployments", 16).is_none());
        assert!(lookup("rbac.authorization.k8s.io", "v1beta1", "clusterroles", 21).is_some());
        assert!(lookup("rbac.authorization.k8s.io", "v1beta1", "clusterroles", 22).is_none());
        assert!(lookup("apps", "v1", "deployments", 37).is_some());
    }

    #[test]
    fn group_versions_are_listed_once() {
        let gvs = served_group_versions(37);
        assert_eq!(gvs.first(), Some(&("", "v1")));
        assert_eq!(gvs.iter().filter(|gv| **gv == ("apps", "v1")).count(), 1);
        assert!(!gvs.contains(&("extensions", "v1beta1")));
    }
}
