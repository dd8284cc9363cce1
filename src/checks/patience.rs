//! How long a check may wait for a state that can still heal: not one blanket deadline,
//! but a small multiple of the upstream timers its answer depends on, read from the stack's
//! Deployments (the applied manifests, or the live objects in `check`). The checks start
//! once the conditions they depend on hold (the rollout, or `check`'s settle, waited for
//! every Deployment to be available), so within two of the slowest of those periods and
//! 10 s more a state that will heal has healed; past that, the check fails with its last
//! reason. `--timeout` stays the outer bound. Pure: Deployments in, durations out.

use std::time::Duration;

use serde_json::Value;

use crate::layout::Part;
use crate::manifests::Manifest;
use crate::stack::Stack;

/// Headroom beyond two periods: requests, the poll interval, a controller's pass.
pub const SLACK: Duration = Duration::from_secs(10);

/// The upstream timers of a stack, with upstream's defaults where a flag is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clocks {
    /// heapster `--metric_resolution` (60 s: H@v1.5.4 `metrics/options/options.go`).
    pub heapster_resolution: Duration,
    /// The dashboard's `--metric-client-check-period` in seconds (30: dashboard v1.10.1
    /// and v2.7.0 `args`).
    pub dashboard_check_period: Duration,
    /// metrics-server `--metric-resolution` (60 s: MS@v0.9.0 `options.go`).
    pub metrics_server_resolution: Duration,
    /// The scraper's `--metric-resolution` (1 m: dashboard-metrics-scraper@v1.0.8).
    pub scraper_resolution: Duration,
    /// The slowest readiness probe's `initialDelaySeconds` or `periodSeconds` among the
    /// stack's containers (API defaults: 0 and 10 s).
    pub readiness: Duration,
    /// kube-controller-manager's `--node-monitor-grace-period`: 50 s since Kubernetes 1.32
    /// (kubernetes/kubernetes#121793, #127352); the pinned versions are 1.34 and later.
    pub node_monitor_grace: Duration,
}

impl Clocks {
    /// The timers of the Deployments in `deployments` (manifests, or live objects).
    pub fn of(deployments: &[Manifest]) -> Clocks {
        // Each program is found by its image, whatever its Deployment is called.
        let flag = |part: Part, name: &str| crate::layout::flag(deployments, part, name);
        let go = |part: Part, name: &str, default: u64| {
            flag(part, name)
                .and_then(|d| crate::duration::parse_go(&d))
                .unwrap_or(Duration::from_secs(default))
        };
        Clocks {
            heapster_resolution: go(Part::Heapster, "metric_resolution", 60),
            dashboard_check_period: flag(Part::Dashboard, "metric-client-check-period")
                .and_then(|s| s.parse().ok())
                .map_or(Duration::from_secs(30), Duration::from_secs),
            metrics_server_resolution: go(Part::MetricsServer, "metric-resolution", 60),
            scraper_resolution: go(Part::Scraper, "metric-resolution", 60),
            readiness: readiness(deployments),
            node_monitor_grace: Duration::from_secs(50),
        }
    }

    /// The periods a check's answer depends on, by its name, each with what it is.
    fn periods(&self, check: &str, stack: Stack) -> Vec<(Duration, &'static str)> {
        let check = check.strip_prefix("before::").unwrap_or(check);
        let heapster = (self.heapster_resolution, "heapster's --metric_resolution");
        let ms = (
            self.metrics_server_resolution,
            "metrics-server's --metric-resolution",
        );
        let scraper = (self.scraper_resolution, "the scraper's --metric-resolution");
        let dashboard = (
            self.dashboard_check_period,
            "the dashboard's --metric-client-check-period",
        );
        let readiness = (self.readiness, "the slowest readiness probe");
        // Where the stack's metric data comes from, as the dashboard reads it.
        let data = match stack {
            Stack::Heapster => vec![heapster],
            Stack::MetricsServer => vec![ms, scraper],
            // Headlamp adds no timer of its own: it passes metrics.k8s.io's answer through.
            Stack::Headlamp => vec![ms],
        };
        let component = check.split("::").next().unwrap_or_default();
        match component {
            "nodes" if check == "nodes::count" => vec![],
            "nodes" => vec![(self.node_monitor_grace, "the node monitor's grace period")],
            "workloads" => vec![readiness],
            "metrics_server" | "headlamp" => vec![ms, readiness],
            "dashboard" if check.ends_with("_state") || check == "dashboard::log" => match stack {
                Stack::Heapster => vec![dashboard, heapster],
                Stack::MetricsServer | Stack::Headlamp => vec![dashboard],
            },
            // heapster, InfluxDB, Grafana, the scraper, the dashboard's lists and the ground
            // truth: the stack's metric data (and the dashboard's client for its lists).
            _ => {
                let mut all = data;
                if component == "dashboard" {
                    all.push(dashboard);
                }
                all
            }
        }
    }

    /// How long `check` may wait after the checks start, and why: two of its slowest
    /// period and `SLACK`.
    pub fn patience(&self, check: &str, stack: Stack) -> (Duration, String) {
        let format = crate::duration::format;
        match self
            .periods(check, stack)
            .into_iter()
            .max_by_key(|(d, _)| *d)
        {
            Some((period, what)) => (
                period * 2 + SLACK,
                format!("2 × {what} ({}) + {}", format(period), format(SLACK)),
            ),
            None => (SLACK, format!("nothing to wait for but {}", format(SLACK))),
        }
    }
}

/// How long a Running pod of `deployment` may stay unready: two of the slowest of its
/// readiness probe's timer and the program's own period (heapster's first export comes one
/// `--metric_resolution` after start, metrics-server is ready after two
/// `--metric-resolution` scrapes) and `SLACK`.
pub fn readiness_patience(deployment: &Value) -> (Duration, String) {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut periods: Vec<(Duration, &str)> = Vec::new();
    for c in &containers {
        if let Some(t) = probe_timer(&c["readinessProbe"]) {
            periods.push((t, "its readiness probe"));
        }
        for (flag, what) in [
            ("metric_resolution", "heapster's --metric_resolution"),
            ("metric-resolution", "its --metric-resolution"),
        ] {
            if let Some(d) =
                crate::manifests::flag_of(c, flag).and_then(|d| crate::duration::parse_go(&d))
            {
                periods.push((d, what));
            }
        }
    }
    let format = crate::duration::format;
    match periods.into_iter().max_by_key(|(d, _)| *d) {
        Some((period, what)) => (
            period * 2 + SLACK,
            format!("2 × {what} ({}) + {}", format(period), format(SLACK)),
        ),
        None => (
            SLACK,
            format!("no probe: Ready once running, {} allowed", format(SLACK)),
        ),
    }
}

/// The slowest readiness timer of any container: its probe's first run
/// (`initialDelaySeconds`) or its period, with the API defaults (K `SetDefaults_Probe`).
fn readiness(deployments: &[Manifest]) -> Duration {
    deployments
        .iter()
        .filter(|m| m.kind() == "Deployment")
        .flat_map(|m| {
            m.object["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| probe_timer(&c["readinessProbe"]))
        .max()
        .unwrap_or_default()
}

pub fn probe_timer(probe: &Value) -> Option<Duration> {
    if !probe.is_object() {
        return None;
    }
    let initial = probe["initialDelaySeconds"].as_u64().unwrap_or(0);
    let period = probe["periodSeconds"].as_u64().unwrap_or(10);
    Some(Duration::from_secs(initial.max(period)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(dir: &str) -> Vec<Manifest> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::manifests::load_dir(&root.join(dir)).expect("manifests")
    }

    #[test]
    fn the_shipped_manifests_set_the_clocks() {
        let heapster = Clocks::of(&docs("manifests"));
        assert_eq!(heapster.heapster_resolution, Duration::from_secs(6));
        assert_eq!(heapster.dashboard_check_period, Duration::from_secs(5));
        assert_eq!(heapster.readiness, Duration::from_secs(2));
        let ms = Clocks::of(&docs("manifests/metrics-server"));
        assert_eq!(ms.metrics_server_resolution, Duration::from_secs(15));
        assert_eq!(ms.scraper_resolution, Duration::from_secs(15));
        // metrics-server's probe: first run at 20 s, then every 10 s.
        assert_eq!(ms.readiness, Duration::from_secs(20));
        // Headlamp's probe waits 30 s: its checks may wait two of that.
        let hl = Clocks::of(&docs("manifests/headlamp"));
        assert_eq!(hl.readiness, Duration::from_secs(30));
        let (wait, why) = hl.patience("headlamp::node_metrics::n1", Stack::Headlamp);
        assert_eq!(wait, Duration::from_secs(70), "{why}");
        assert_eq!(why, "2 × the slowest readiness probe (30s) + 10s");
        // Its ground truth follows metrics-server's resolution, not a scraper's.
        let (wait, _) = hl.patience("ground_truth::headlamp", Stack::Headlamp);
        assert_eq!(wait, Duration::from_secs(40));
    }

    #[test]
    fn unset_flags_take_upstreams_defaults() {
        let c = Clocks::of(&[]);
        assert_eq!(c.heapster_resolution, Duration::from_secs(60));
        assert_eq!(c.dashboard_check_period, Duration::from_secs(30));
        assert_eq!(c.metrics_server_resolution, Duration::from_secs(60));
        assert_eq!(c.scraper_resolution, Duration::from_secs(60));
        assert_eq!(c.readiness, Duration::ZERO);
        let defaults = probe_timer(&serde_json::json!({"httpGet": {"path": "/"}}));
        assert_eq!(defaults, Some(Duration::from_secs(10)));
        assert_eq!(probe_timer(&Value::Null), None);
    }

    #[test]
    fn a_pod_may_stay_unready_two_of_its_slowest_periods() {
        let patience = |dir: &str, name: &str| {
            let docs = docs(dir);
            let d = docs
                .iter()
                .find(|m| m.kind() == "Deployment" && m.name() == name)
                .expect("deployment");
            readiness_patience(&d.object)
        };
        // heapster: probe every 2 s, first export after its 6 s resolution.
        let (wait, why) = patience("manifests", "heapster");
        assert_eq!(wait, Duration::from_secs(22), "{why}");
        assert_eq!(why, "2 × heapster's --metric_resolution (6s) + 10s");
        // metrics-server: the probe's 20 s initial delay is the slowest.
        assert_eq!(
            patience("manifests/metrics-server", "metrics-server").0,
            Duration::from_secs(50)
        );
        assert_eq!(
            readiness_patience(&serde_json::json!({})).0,
            SLACK,
            "no probe, no flags"
        );
    }

    #[test]
    fn each_check_waits_two_of_its_slowest_periods_and_the_slack() {
        let c = Clocks {
            heapster_resolution: Duration::from_secs(6),
            dashboard_check_period: Duration::from_secs(5),
            metrics_server_resolution: Duration::from_secs(15),
            scraper_resolution: Duration::from_secs(20),
            readiness: Duration::from_secs(25),
            node_monitor_grace: Duration::from_secs(50),
        };
        let secs = |check: &str, stack| c.patience(check, stack).0.as_secs();
        use Stack::{Heapster as H, MetricsServer as M};
        assert_eq!(secs("heapster::node_metrics::n", H), 22);
        assert_eq!(secs("influxdb::node_series", H), 22);
        assert_eq!(secs("before::heapster::nodes", H), 22);
        assert_eq!(secs("nodes::ready::n", H), 110);
        assert_eq!(secs("nodes::count", H), 10);
        assert_eq!(secs("workloads::heapster", H), 60);
        assert_eq!(secs("metrics_server::apiservice", M), 60);
        assert_eq!(secs("metrics_server::pod_metrics::p", M), 60);
        assert_eq!(secs("scraper::node_series::n", M), 50);
        // The dashboard's own client: its check period, and heapster behind it.
        assert_eq!(secs("dashboard::log", H), 22);
        assert_eq!(secs("dashboard::sidecar_state", M), 20);
        // Its metric lists: the data's periods too.
        assert_eq!(secs("dashboard::node_metrics", M), 50);
        assert_eq!(secs("dashboard::pod_metrics", H), 22);
        assert_eq!(secs("ground_truth::cpu", M), 50);
        assert_eq!(secs("ground_truth::influxdb", H), 22);
        // The dashboard's own period counts for its lists only, not for the ground truth.
        let slow_ui = Clocks {
            dashboard_check_period: Duration::from_secs(30),
            ..c.clone()
        };
        assert_eq!(
            slow_ui.patience("dashboard::node_metrics", M).0.as_secs(),
            70
        );
        assert_eq!(slow_ui.patience("ground_truth::cpu", M).0.as_secs(), 50);
        let (_, why) = c.patience("scraper::node_series::n", M);
        assert_eq!(why, "2 × the scraper's --metric-resolution (20s) + 10s");
    }
}
