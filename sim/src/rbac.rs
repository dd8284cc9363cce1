//! RBAC authorization as the real API server does it: bindings name subjects, role refs
//! name rules, a rule allows a request when group, resource(/subresource), verb and
//! (if listed) resource name all match. Only allow rules exist; there is no deny.

use serde_json::Value;

use crate::store::Store;

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The kubeconfig's user: kind's `kubernetes-admin` is in `system:masters`.
    Admin,
    ServiceAccount {
        namespace: String,
        name: String,
    },
    /// A request without credentials: kind keeps the API server's anonymous auth on, so it
    /// is `system:anonymous` in `system:unauthenticated` (AS@v0.36.3 `pkg/authentication/
    /// request/anonymous`), not a 401.
    Anonymous,
}

impl Identity {
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Identity::ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The user name the API server prints in "forbidden" messages.
    pub fn user_name(&self) -> String {
        match self {
            Identity::Admin => "kubernetes-admin".into(),
            Identity::ServiceAccount { namespace, name } => {
                format!("system:serviceaccount:{namespace}:{name}")
            }
            Identity::Anonymous => "system:anonymous".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl Request<'_> {
    /// The real API server's wording for a refused request.
    pub fn forbidden_message(&self, who: &Identity) -> String {
        let resource = match self.subresource {
            Some(sub) => format!("{}/{}", self.resource, sub),
            None => self.resource.to_string(),
        };
        // `resource.group` outside the core group (apiserver `forbiddenMessage`).
        let qualified = match self.group {
            "" => self.resource.to_string(),
            group => format!("{}.{group}", self.resource),
        };
        let object = match self.name {
            Some(name) => format!("{qualified} \"{name}\""),
            None => qualified,
        };
        let scope = match self.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        format!(
            "{object} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            who.user_name(),
            self.verb,
            self.group
        )
    }
}

pub fn allowed(store: &Store, who: &Identity, req: &Request) -> bool {
    let (sa_ns, sa_name) = match who {
        Identity::Admin => return true,
        Identity::ServiceAccount { namespace, name } => (namespace.as_str(), name.as_str()),
        Identity::Anonymous => return anonymous_allowed(store, req),
    };
    let binds_us = |binding: &Value| {
        binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| match s["kind"].as_str() {
                Some("ServiceAccount") => s["name"] == sa_name && s["namespace"] == sa_ns,
                Some("Group") => {
                    s["name"] == "system:serviceaccounts"
                        || s["name"] == format!("system:serviceaccounts:{sa_ns}").as_str()
                }
                _ => false,
            })
    };
    let role_rules = |role_ref: &Value, binding_ns: Option<&str>| -> Vec<Value> {
        let name = role_ref["name"].as_str().unwrap_or_default();
        let role = match (role_ref["kind"].as_str(), binding_ns) {
            (Some("ClusterRole"), _) => store.get(&crate::store::Key::new(CLUSTER_ROLES, "", name)),
            (Some("Role"), Some(ns)) => store.get(&crate::store::Key::new(ROLES, ns, name)),
            _ => None,
        };
        role.and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default()
    };

    let cluster_rules = store
        .iter(CLUSTER_ROLE_BINDINGS, None)
        .filter(|b| binds_us(b))
        .flat_map(|b| role_rules(&b["roleRef"], None));
    // A RoleBinding grants only within its own namespace.
    let namespaced_rules = req.namespace.into_iter().flat_map(|ns| {
        store
            .iter(ROLE_BINDINGS, Some(ns))
            .filter(|b| binds_us(b))
            .flat_map(move |b| role_rules(&b["roleRef"], Some(ns)))
            .collect::<Vec<_>>()
    });
    cluster_rules
        .chain(namespaced_rules)
        .any(|rule| rule_allows(&rule, req))
}

/// Rules bound to `system:anonymous` or `system:unauthenticated` by ClusterRoleBindings;
/// kind binds them only to non-resource URLs (`system:public-info-viewer`), so every
/// resource request is refused.
fn anonymous_allowed(store: &Store, req: &Request) -> bool {
    store
        .iter(CLUSTER_ROLE_BINDINGS, None)
        .filter(|b| {
            b["subjects"].as_array().into_iter().flatten().any(|s| {
                (s["kind"] == "User" && s["name"] == "system:anonymous")
                    || (s["kind"] == "Group" && s["name"] == "system:unauthenticated")
            })
        })
        .filter_map(|b| {
            let name = b["roleRef"]["name"].as_str()?;
            store.get(&crate::store::Key::new(CLUSTER_ROLES, "", name))
        })
        .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
        .any(|rule| rule_allows(&rule, req))
}

const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const ROLES: &str = "rbac.authorization.k8s.io/roles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";

fn rule_allows(rule: &Value, req: &Request) -> bool {
    let list = |field: &str| -> Vec<String> {
        rule[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let has = |field: &str, want: &str| list(field).iter().any(|v| v == "*" || v == want);
    let resource = match req.subresource {
        Some(sub) => format!("{}/{}", req.resource, sub),
        None => req.resource.to_string(),
    };
    let names = list("resourceNames");
    let name_ok = names.is_empty() || req.name.is_some_and(|n| names.iter().any(|x| x == n));
    has("apiGroups", req.group) && has("resources", &resource) && has("verbs", req.verb) && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use serde_json::json;

    fn store_with(role_rules: Value, binding_kind: &str, binding_ns: &str) -> Store {
        let mut store = Store::new();
        let (role_res, bind_res, role_kind) = if binding_kind == "ClusterRoleBinding" {
            (CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, "ClusterRole")
        } else {
            (ROLES, ROLE_BINDINGS, "Role")
        };
        store.put(
            Key::new(role_res, binding_ns, "r"),
            json!({"metadata": {"name": "r"}, "rules": role_rules}),
        );
        store.put(
            Key::new(bind_res, binding_ns, "b"),
            json!({"metadata": {"name": "b"}, "roleRef": {"kind": role_kind, "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "heapster", "namespace": "kube-system"}]}),
        );
        store
    }

    fn get_stats(node: &str) -> Request<'_> {
        Request {
            verb: "get",
            group: "",
            resource: "nodes",
            subresource: Some("stats"),
            namespace: None,
            name: Some(node),
        }
    }

    #[test]
    fn subresource_needs_its_own_rule() {
        let sa = Identity::service_account("kube-system", "heapster");
        let store = store_with(
            json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]),
            "ClusterRoleBinding",
            "",
        );
        assert!(!allowed(&store, &sa, &get_stats("n1")));
        let store = store_with(
            json!([{"apiGroups": [""], "resources": ["nodes/stats"], "verbs": ["get"]}]),
            "ClusterRoleBinding",
            "",
        );
        assert!(allowed(&store, &sa, &get_stats("n1")));
    }

    #[test]
    fn resource_names_limit_the_rule_and_role_bindings_stay_in_their_namespace() {
        let sa = Identity::service_account("kube-system", "heapster");
        let rules = json!([{"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": ["heapster"], "verbs": ["get"]}]);
        let store = store_with(rules, "RoleBinding", "kube-system");
        let req = |ns, name| Request {
            verb: "get",
            group: "",
            resource: "services",
            subresource: Some("proxy"),
            namespace: Some(ns),
            name: Some(name),
        };
        assert!(allowed(&store, &sa, &req("kube-system", "heapster")));
        assert!(!allowed(&store, &sa, &req("kube-system", "grafana")));
        assert!(!allowed(&store, &sa, &req("default", "heapster")));
    }

    #[test]
    fn forbidden_message_matches_upstream_wording() {
        let sa = Identity::service_account("kube-system", "kubernetes-dashboard");
        let req = Request {
            verb: "list",
            group: "",
            resource: "nodes",
            subresource: None,
            namespace: None,
            name: None,
        };
        assert_eq!(
            req.forbidden_message(&sa),
            "nodes is forbidden: User \"system:serviceaccount:kube-system:kubernetes-dashboard\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}
