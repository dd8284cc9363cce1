//! The metric client's health loop and the start-up lines (D@v1.10.1 `dashboard.go`,
//! `integration/metric/manager.go` `EnableWithRetry`).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::client::{Provider, append_log, dashboard_namespace, health_check, settings};
use crate::apps::common::{App, ServiceProxy, key_of, pods_running};
use crate::cluster::{Cluster, State};

/// Run every dashboard's loop up to `now`: its start-up lines once, then a health check
/// whenever one is due.
pub fn tick(cluster: &Cluster, st: &mut State, net: &dyn ServiceProxy, now: Timestamp) {
    let mut dashboards = pods_running(st, App::Dashboard);
    dashboards.extend(pods_running(st, App::DashboardV2));
    for (pod, container) in dashboards {
        let provider = Provider::of(&container);
        let key = key_of(&pod);
        let mut rt = st.dashboards.get(&key).cloned().unwrap_or_default();
        if rt.next_check.is_some_and(|t| now < t) {
            continue;
        }
        let settings = settings(&container);
        if !rt.ever_checked {
            for line in start_lines(cluster, st, &pod, &container) {
                append_log(st, &pod, &container, &line);
            }
        }
        match health_check(cluster, st, &pod, net, now) {
            Ok(()) => {
                if !rt.connected {
                    let line = format!("Successful request to {}", provider.id());
                    append_log(st, &pod, &container, &line);
                }
                rt.connected = true;
            }
            Err(e) => {
                append_log(
                    st,
                    &pod,
                    &container,
                    &format!(
                        "Metric client health check failed: {}. Retrying in {} seconds.",
                        e.text, settings.check_period_secs
                    ),
                );
                rt.connected = false;
            }
        }
        if !rt.ever_checked {
            for line in [
                "Auto-generating certificates",
                "Successfully created certificates",
                "Serving securely on HTTPS port: 8443",
            ] {
                append_log(st, &pod, &container, line);
            }
        }
        let period = cluster
            .config
            .timing
            .dashboard_check_period
            .unwrap_or(Duration::from_secs(settings.check_period_secs));
        rt.ever_checked = true;
        rt.next_check = Some(now + period);
        st.dashboards.insert(key, rt);
    }
}

/// v1.10.1 (`dashboard.go`, `client/manager.go`, `auth/jwe/`); v2.7.0 logs its namespace
/// first, signs CSRF tokens with its own Secret, and creates a sidecar client.
fn start_lines(cluster: &Cluster, st: &State, pod: &Value, container: &Value) -> Vec<String> {
    let provider = Provider::of(container);
    let ns = match provider {
        Provider::Heapster => pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Provider::Sidecar => dashboard_namespace(container),
    };
    // The key holder Secret survives restarts; a second dashboard reads it back.
    let key_exists = st.dashboards.keys().any(|(n, _)| *n == ns);
    let mut lines = vec!["Starting overwatch".to_string()];
    if provider == Provider::Sidecar {
        lines.push(format!("Using namespace: {ns}"));
    }
    lines.push("Using in-cluster config to connect to apiserver".into());
    if provider == Provider::Heapster {
        lines.push("Using service account token for csrf signing".into());
    }
    lines.push(format!(
        "Successful initial request to the apiserver, version: {}",
        cluster.git_version
    ));
    if !key_exists {
        lines.push("Generating JWE encryption key".into());
    }
    lines.push(format!(
        "New synchronizer has been registered: kubernetes-dashboard-key-holder-{ns}. Starting"
    ));
    lines.push(format!(
        "Starting secret synchronizer for kubernetes-dashboard-key-holder in namespace {ns}"
    ));
    lines.push(if key_exists {
        "Initializing JWE encryption key from synchronized object".into()
    } else {
        "Storing encryption key in a secret".into()
    });
    lines.push(match (provider, super::client::heapster_host(container)) {
        (Provider::Heapster, Some(host)) => format!("Creating remote Heapster client for {host}"),
        (Provider::Heapster, None) => "Creating in-cluster Heapster client".into(),
        (Provider::Sidecar, _) => "Creating in-cluster Sidecar client".into(),
    });
    lines
}
