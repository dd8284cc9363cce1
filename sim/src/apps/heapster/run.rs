//! heapster as it runs: what its flags, its RBAC and the cluster make of one heapster
//! pod (H@v1.5.4 `metrics/heapster.go`, `metrics/manager/manager.go`,
//! `metrics/sources/`), and when it exports its batches.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::apps::common::{
    App, container_args, flag, flag_values, go_time_string, key_of, node_ip, node_is_ready,
    parse_go_duration, pod_started, pods_running, service_account_of,
};
use crate::cluster::{Cluster, State};
use crate::rbac::{self, Identity};

/// `manager.DefaultScrapeOffset`: how long after a window ends its batch is exported.
pub const SCRAPE_OFFSET: Duration = Duration::from_secs(5);
/// `--metric_resolution`'s default.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);
/// `healthzChecker`'s `maxMetricsDelay`.
pub const MAX_METRICS_DELAY: Duration = Duration::from_secs(180);
/// The metric sink's stores (`sinks/factory.go`).
pub(super) const LONG_STORE: Duration = Duration::from_secs(15 * 60);
pub(super) const SHORT_STORE: Duration = Duration::from_secs(140);
pub(super) const LONG_STORE_METRICS: &[&str] = &["cpu/usage_rate", "memory/usage"];
/// The most batches the emulation looks back over (bounds its cost in fast timing).
pub(super) const MAX_BATCHES: i128 = 100;

/// Metrics every node and pod metric set carries in the emulation (a subset of the
/// summary source's; see `core/metrics.go`).
pub const METRIC_NAMES: &[&str] = &[
    "cpu/usage",
    "cpu/usage_rate",
    "memory/usage",
    "memory/working_set",
    "network/rx_rate",
    "network/tx_rate",
    "uptime",
];

/// When batches are exported and which timestamps they carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Timestamp of the first batch (the end of its window).
    pub first: Timestamp,
    /// Between consecutive batches.
    pub spacing: Duration,
    /// From a batch's timestamp to its export.
    pub export_delay: Duration,
}

impl Clock {
    /// Upstream's `Housekeep` loop for a heapster started at `started`: the first window
    /// is `[truncate(started), +resolution)`; after each export at `end + offset` the next
    /// window starts at `truncate(end + offset)`, so a resolution at or below the 5 s
    /// offset skips windows (5 s gives a batch every 10 s).
    pub fn upstream(started: Timestamp, resolution: Duration) -> Clock {
        let res = resolution.as_nanos().max(1) as i128;
        let start = started.as_nanosecond();
        let first_end = start.div_euclid(res) * res + res;
        let offset = SCRAPE_OFFSET.as_nanos() as i128;
        let spacing = (offset / res + 1) * res;
        Clock {
            first: Timestamp::from_nanosecond(first_end).unwrap_or(started),
            spacing: Duration::from_nanos(spacing as u64),
            export_delay: SCRAPE_OFFSET,
        }
    }

    /// Timestamps of the batches exported by `now`, oldest first: at most the last
    /// `MAX_BATCHES` (the emulation's bound; upstream keeps 15 minutes of them).
    pub fn batches(&self, now: Timestamp) -> Vec<Timestamp> {
        let exported = now.as_nanosecond() - (self.first + self.export_delay).as_nanosecond();
        if exported < 0 {
            return Vec::new();
        }
        let spacing = self.spacing.as_nanos().max(1) as i128;
        let last = exported / spacing;
        let from = (last - MAX_BATCHES + 1).max(0);
        (from..=last)
            .filter_map(|k| {
                Timestamp::from_nanosecond(self.first.as_nanosecond() + k * spacing).ok()
            })
            .collect()
    }
}

/// One kubelet heapster scrapes, and why the scrape fails if it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub node: String,
    pub ip: String,
    pub error: Option<String>,
}

/// One heapster pod as it runs: what its flags, its RBAC and the cluster make of it.
#[derive(Debug, Clone)]
pub struct Heapster {
    pub namespace: String,
    pub pod: String,
    pub started: Timestamp,
    pub clock: Clock,
    /// The InfluxDB Service its sink writes to: `(namespace, name)`.
    pub sink: Option<(String, String)>,
    /// The Ready nodes its node lister sees; empty when it may not list nodes.
    pub sources: Vec<Source>,
    /// Fault: housekeeping stalled; every batch is this much older than its clock says.
    pub stalled_for: Option<Duration>,
}

/// Why a heapster with these flags exits at start, in its own fatal log line (glog `F`).
pub fn fatal_error(args: &[String]) -> Option<String> {
    if let Some(res) = flag(args, "metric_resolution").and_then(|r| parse_go_duration(&r))
        && res < Duration::from_secs(5)
    {
        // `validateFlags` formats the time.Duration with %d: nanoseconds.
        return Some(format!(
            "heapster.go:81] metric resolution should not be less than 5 seconds - {}",
            res.as_nanos()
        ));
    }
    let sources = flag_values(args, "source");
    if !sources
        .iter()
        .any(|s| s.split(['.', ':']).next() == Some("kubernetes"))
    {
        return Some(
            "heapster.go:86] Failed to get kubernetes address: No kubernetes source found.".into(),
        );
    }
    if sources.len() != 1 {
        return Some("heapster.go:178] Wrong number of sources specified".into());
    }
    None
}

impl Heapster {
    /// Whether at least one batch has been exported.
    pub fn has_batch(&self, now: Timestamp) -> bool {
        !self.batches(now).is_empty()
    }

    /// Timestamps of the batches the metric sink holds, oldest first.
    pub fn batches(&self, now: Timestamp) -> Vec<Timestamp> {
        let shift = self.stalled_for.unwrap_or_default();
        self.clock
            .batches(now)
            .into_iter()
            .map(|t| t - shift)
            .collect()
    }

    /// The nodes a batch at `t` holds: those whose scrape succeeds.
    pub fn scraped_nodes(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.error.is_none())
            .map(|s| s.node.as_str())
            .collect()
    }

    pub fn knows_node(&self, node: &str) -> bool {
        self.scraped_nodes().contains(&node)
    }

    /// `/healthz`, as `healthzChecker` decides it.
    pub fn health(&self, now: Timestamp) -> Result<(), String> {
        let Some(latest) = self.batches(now).last().copied() else {
            return Err("could not get the latest data batch".into());
        };
        if now.duration_since(latest).unsigned_abs() > MAX_METRICS_DELAY {
            return Err(format!(
                "No current data batch available (latest: {}).",
                go_time_string(latest)
            ));
        }
        Ok(())
    }
}

/// What one heapster pod does, from its own flags, its RBAC and the nodes; `None` when
/// its container has not started or exits at start.
pub fn heapster_of(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
) -> Option<Heapster> {
    let started = pod_started(st, pod)?;
    let args = container_args(container);
    if fatal_error(&args).is_some() {
        return None;
    }
    let (namespace, name) = key_of(pod);
    let resolution = flag(&args, "metric_resolution")
        .and_then(|r| parse_go_duration(&r))
        .unwrap_or(DEFAULT_RESOLUTION);
    let clock = match &cluster.config.timing.heapster {
        None => Clock::upstream(started, resolution),
        Some(fast) => Clock {
            first: started + fast.first_export,
            spacing: fast
                .spacing
                .unwrap_or(Clock::upstream(started, resolution).spacing),
            export_delay: Duration::ZERO,
        },
    };
    let who = service_account_of(pod);
    let source = flag_values(&args, "source")
        .into_iter()
        .next()
        .unwrap_or_default();
    let sources = if may(st, &who, "list", "nodes", None) {
        node_sources(cluster, st, &who, &source)
    } else {
        Vec::new()
    };
    let sink = flag(&args, "sink").and_then(|s| influx_service_of_sink(&s, &namespace));
    Some(Heapster {
        namespace,
        pod: name,
        started,
        clock,
        sink,
        sources,
        stalled_for: cluster
            .config
            .faults
            .stale_metrics
            .then_some(Duration::from_secs(40 * 60)),
    })
}

fn may(st: &State, who: &Identity, verb: &str, resource: &str, sub: Option<&str>) -> bool {
    rbac::allowed(
        &st.store,
        who,
        &rbac::Request {
            verb,
            group: "",
            resource,
            subresource: sub,
            namespace: None,
            name: None,
        },
    )
}

/// The Ready nodes (`kubelet.go` `getNodeInfo` skips the others), each with the outcome
/// of scraping its kubelet with this source's options (`sources/kubelet/configs.go`).
fn node_sources(cluster: &Cluster, st: &State, who: &Identity, source: &str) -> Vec<Source> {
    let options: Vec<(String, String)> = source
        .split_once('?')
        .map(|(_, q)| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let opt = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let port = opt("kubeletPort").unwrap_or("10255").to_string();
    let https = opt("kubeletHttps") == Some("true");
    let insecure = opt("insecure") == Some("true");
    let summary = source.starts_with("kubernetes.summary_api");
    let kind = if summary {
        "kubelet_summary"
    } else {
        "kubelet"
    };
    let stats_allowed = may(st, who, "get", "nodes", Some("stats"));
    let faults = &cluster.config.faults;
    st.store
        .iter("/nodes", None)
        .filter(|n| node_is_ready(n))
        .map(|n| {
            let node = n["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let ip = node_ip(st, &node);
            let scheme = if https { "https" } else { "http" };
            let url = if summary {
                format!("{scheme}://{ip}:{port}/stats/summary/")
            } else {
                format!("{scheme}://{ip}:{port}/stats/container/")
            };
            // heapster v1.5.4 is built with Go 1.8 (its Makefile): Go 1.8's error texts.
            let failure = if faults.node_missing_from_heapster.as_deref() == Some(node.as_str()) {
                Some(format!("Get {url}: dial tcp {ip}:{port}: i/o timeout"))
            } else if port != "10250" {
                // The read-only port is closed on current clusters (kind included).
                Some(format!(
                    "Get {url}: dial tcp {ip}:{port}: getsockopt: connection refused"
                ))
            } else if !https {
                Some(
                    "request failed - \"400 Bad Request\", response: \"Client sent an HTTP request to an HTTPS server.\\n\""
                        .into(),
                )
            } else if !insecure {
                // kind's kubelets serve a self-signed certificate without IP SANs, and Go
                // checks the host name before the chain.
                Some(format!(
                    "Get {url}: x509: cannot validate certificate for {ip} because it doesn't contain any IP SANs"
                ))
            } else if !stats_allowed {
                Some(format!(
                    "request failed - \"403 Forbidden\", response: \"Forbidden (user={}, verb=get, resource=nodes, subresource=stats)\\n\"",
                    who.user_name()
                ))
            } else {
                None
            };
            Source {
                node,
                error: failure.map(|f| format!("Error in scraping containers from {kind}:{ip}:{port}: {f}")),
                ip,
            }
        })
        .collect()
}

/// `influxdb:http://monitoring-influxdb.kube-system.svc:8086` -> `(kube-system, monitoring-influxdb)`.
pub fn influx_service_of_sink(sink: &str, default_ns: &str) -> Option<(String, String)> {
    let url = sink.strip_prefix("influxdb:")?;
    let host = url.split("://").nth(1)?.split(['/', ':', '?']).next()?;
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let ns = labels.next().unwrap_or(default_ns).to_string();
    Some((ns, name))
}

/// The heapster that serves through a Service: a ready pod if there is one, else the
/// first running one.
pub fn serving(cluster: &Cluster, st: &State) -> Option<Heapster> {
    let pods = pods_running(st, App::Heapster);
    let (pod, container) = pods
        .iter()
        .find(|(p, _)| crate::apps::common::pod_is_ready(p))
        .or(pods.first())?;
    heapster_of(cluster, st, pod, container)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn housekeeping_windows_follow_manager_go() {
        // 10 s resolution: windows end on the 10 s, exported 5 s later, one per 10 s.
        let c = Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(10));
        assert_eq!(c.first, t("2026-11-28T10:00:10Z"));
        assert_eq!(c.spacing, Duration::from_secs(10));
        assert!(c.batches(t("2026-11-28T10:00:14Z")).is_empty());
        assert_eq!(
            c.batches(t("2026-11-28T10:00:26Z")),
            vec![t("2026-11-28T10:00:10Z"), t("2026-11-28T10:00:20Z")]
        );
        // 5 s resolution: the export at end+5s falls on the next boundary, which skips a
        // window: a batch every 10 s.
        assert_eq!(
            Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(5)).spacing,
            Duration::from_secs(10)
        );
        assert_eq!(
            Clock::upstream(t("2026-11-28T10:00:03Z"), Duration::from_secs(6)).spacing,
            Duration::from_secs(6)
        );
    }

    #[test]
    fn bad_flags_are_fatal_as_in_heapster_go() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            fatal_error(&args(&["/heapster"]))
                .unwrap()
                .contains("No kubernetes source found")
        );
        assert!(
            fatal_error(&args(&[
                "/heapster",
                "--source=kubernetes:''",
                "--metric_resolution=2s"
            ]))
            .unwrap()
            .contains("less than 5 seconds - 2000000000")
        );
        assert!(
            fatal_error(&args(&[
                "/heapster",
                "--source=kubernetes:''",
                "--source=kubernetes:x"
            ]))
            .unwrap()
            .contains("Wrong number of sources")
        );
        assert_eq!(
            fatal_error(&args(&["/heapster", "--source=kubernetes.summary_api:''"])),
            None
        );
    }

    #[test]
    fn health_follows_the_healthz_checker() {
        let mut h = Heapster {
            namespace: "kube-system".into(),
            pod: "heapster-1".into(),
            started: t("2026-11-28T10:00:00Z"),
            clock: Clock::upstream(t("2026-11-28T10:00:00Z"), Duration::from_secs(10)),
            sink: None,
            sources: vec![],
            stalled_for: None,
        };
        assert_eq!(
            h.health(t("2026-11-28T10:00:05Z")),
            Err("could not get the latest data batch".into())
        );
        // No kubelet scraped, yet the batch has the cluster metric set: healthy.
        assert_eq!(h.health(t("2026-11-28T10:00:16Z")), Ok(()));
        h.stalled_for = Some(Duration::from_secs(2400));
        assert!(
            h.health(t("2026-11-28T10:00:16Z"))
                .unwrap_err()
                .starts_with(
                    "No current data batch available (latest: 2026-11-28 09:20:10 +0000 UTC)"
                )
        );
    }

    #[test]
    fn sink_names_the_influx_service() {
        assert_eq!(
            influx_service_of_sink(
                "influxdb:http://monitoring-influxdb.kube-system.svc:8086",
                "x"
            ),
            Some(("kube-system".into(), "monitoring-influxdb".into()))
        );
        assert_eq!(
            influx_service_of_sink("influxdb:http://monitoring-influxdb:8086", "kube-system"),
            Some(("kube-system".into(), "monitoring-influxdb".into()))
        );
    }
}
