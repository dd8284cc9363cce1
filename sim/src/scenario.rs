//! Named ways a simulated cluster behaves, each one a way real clusters break.

use std::time::Duration;

/// Faults injected into one simulated cluster. The default is a healthy cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Something removes the metrics Service (`heapster`, or `metrics-server`) as soon as
    /// it appears.
    pub no_metrics_service: bool,
    /// Heapster's model never lists this node (its scrape of that kubelet fails).
    pub node_missing_from_heapster: Option<String>,
    /// Every node and pod series reads 0.
    pub zero_metrics: bool,
    /// Heapster stopped scraping 40 minutes ago: the latest point is that old.
    pub stale_metrics: bool,
    /// The dashboard's metric client never reaches heapster (connection timeout).
    pub dashboard_never_connects: bool,
    /// Heapster, or metrics-server, has node metrics but none for pods.
    pub pods_without_metrics: bool,
    /// The first two requests to each API path answer 500, then 429.
    pub transient_api_errors: bool,
    /// Containers whose image contains one of these texts exit with status 1 at start.
    pub crash_loop_images: Vec<String>,
    /// This node's kubelet stopped posting status: NotReady.
    pub not_ready_node: Option<String>,
    /// Usage reported for resource-consumer pods is this many times what they burn.
    pub consumer_skew: Option<f64>,
    /// Resource-consumer pods never get metrics.
    pub consumer_without_metrics: bool,
    /// Something strips the `services/proxy` rule from every Role in kube-system as soon
    /// as it appears: the dashboard may not proxy to heapster.
    pub dashboard_without_proxy_rights: bool,
    /// Images whose name contains one of these texts are on no node and in no registry:
    /// never loaded into kind, and a pull fails (ErrImagePull, then ImagePullBackOff).
    pub images_not_loaded: Vec<String>,
    /// The metrics-server Deployment loses `--kubelet-insecure-tls` as it is applied (as
    /// upstream's `components.yaml` has it): every kubelet scrape fails on x509.
    pub kubelet_tls_verified: bool,
    /// The aggregator cannot reach metrics-server's Service (a firewall between the
    /// control plane and the pod network): the APIService fails its discovery check.
    pub apiservice_unreachable: bool,
    /// Something strips the `metrics.k8s.io` rules from every ClusterRole bound to the
    /// dashboard's account: the scraper may not list metrics, so it holds none.
    pub scraper_without_metrics_rights: bool,
    /// Something removes the `dashboard-metrics-scraper` Service as soon as it appears.
    pub no_scraper_service: bool,
    /// Something strips every rule from the checks' read-only ClusterRole
    /// (`heapster-e2e:`, `metrics-e2e:`, `headlamp-e2e:checks-read-only`) as soon as it
    /// appears: what the UI reads as the checks' account is refused.
    pub checks_without_rights: bool,
    /// Something in front of Headlamp (an auth proxy, a mesh sidecar) drops the `Cookie`
    /// header: the token never reaches Headlamp, nor the API server behind it.
    pub headlamp_cookie_stripped: bool,
    /// Headlamp's Deployment loses `-in-cluster` as it is applied (run as for a desktop):
    /// it serves no context, and every `/clusters/<name>/` answers 404 `key not found`.
    pub headlamp_not_in_cluster: bool,
}

impl Faults {
    /// Whether `image` can be loaded onto a node (or pulled) at all.
    pub fn loads(&self, image: &str) -> bool {
        !self
            .images_not_loaded
            .iter()
            .any(|missing| image.contains(missing.as_str()))
    }
}

/// How fast simulated time-dependent things happen. `None` fields run as upstream does
/// (from the programs' own flags); tests accelerate them.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// From scheduling to Running (image present).
    pub pod_start: Duration,
    /// Heapster's housekeeping: `None` as upstream (`--metric_resolution` windows, each
    /// exported 5 s after it ends).
    pub heapster: Option<HeapsterClock>,
    /// The dashboard's metric-client check period: `None` honours its
    /// `--metric-client-check-period` (30 s by default).
    pub dashboard_check_period: Option<Duration>,
    /// From Grafana's start until `setup_grafana` has registered the data source.
    pub grafana_setup: Duration,
    /// Between metrics-server's scrapes: `None` honours its `--metric-resolution`.
    pub metrics_server: Option<Duration>,
    /// Between the dashboard-metrics-scraper's updates: `None` honours its
    /// `--metric-resolution` (1 m by default; its first update comes one period after start).
    /// Never under a second ([`SCRAPER_QUICKEST`]).
    pub scraper: Option<Duration>,
    /// Back-off between restarts of a crashing container.
    pub crash_backoff: Duration,
    /// How long one second of a probe's spec (`initialDelaySeconds`, `periodSeconds`) lasts:
    /// a second as upstream, less in tests. The kubelet's prober grid follows it.
    pub probe_second: Duration,
}

/// The scraper's quickest period, also in tests: it stamps rows with sqlite's
/// `datetime('now')`, whole seconds, and sums the rows of one name and second
/// (S@v1.0.8 pkg/database/database.go `UpdateDatabase`, pkg/api/dashboard/dashboard.go
/// `getRows`), so updates less than a second apart multiply the values it serves: five a
/// second made the load pod's 100m read 500m, a state a real scraper never reaches.
pub const SCRAPER_QUICKEST: Duration = Duration::from_secs(1);

/// An accelerated heapster clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeapsterClock {
    /// From the container's start to the first export.
    pub first_export: Duration,
    /// Between exports; `None` as upstream for the pod's `--metric_resolution`.
    pub spacing: Option<Duration>,
}

impl Timing {
    /// For tests: everything within a fraction of a second.
    pub fn fast() -> Self {
        Timing {
            pod_start: Duration::from_millis(100),
            heapster: Some(HeapsterClock {
                first_export: Duration::from_millis(150),
                spacing: Some(Duration::from_millis(150)),
            }),
            dashboard_check_period: Some(Duration::from_millis(200)),
            grafana_setup: Duration::ZERO,
            metrics_server: Some(Duration::from_millis(150)),
            scraper: Some(SCRAPER_QUICKEST),
            crash_backoff: Duration::from_millis(200),
            probe_second: Duration::from_millis(10),
        }
    }

    /// As short as the simulation allows: pods start at once and heapster's first batch is
    /// immediate; the programs' clocks still tick every 50 ms (the controllers every 100 ms).
    pub fn instant() -> Self {
        Timing {
            pod_start: Duration::ZERO,
            heapster: Some(HeapsterClock {
                first_export: Duration::ZERO,
                spacing: Some(Duration::from_millis(50)),
            }),
            dashboard_check_period: Some(Duration::from_millis(50)),
            grafana_setup: Duration::ZERO,
            metrics_server: Some(Duration::from_millis(50)),
            scraper: Some(SCRAPER_QUICKEST),
            crash_backoff: Duration::from_millis(50),
            probe_second: Duration::from_millis(1),
        }
    }

    /// How often the controllers look at the clock: often enough for the quickest timed
    /// step, at most once a second (an idle cluster then costs next to nothing), at least
    /// every 100 ms.
    pub fn tick(&self) -> Duration {
        let mut steps = vec![self.pod_start, self.crash_backoff, self.grafana_setup];
        steps.extend(self.dashboard_check_period);
        steps.extend(self.metrics_server);
        steps.extend(self.scraper);
        if let Some(h) = self.heapster {
            steps.push(h.first_export);
            steps.extend(h.spacing);
        }
        let quickest = steps
            .into_iter()
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(Duration::from_secs(1));
        (quickest / 2).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// As upstream runs, for exploring by hand (`cargo xtask sim`).
    pub fn realistic() -> Self {
        Timing {
            pod_start: Duration::from_secs(2),
            heapster: None,
            dashboard_check_period: None,
            grafana_setup: Duration::from_secs(5),
            metrics_server: None,
            scraper: None,
            crash_backoff: Duration::from_secs(10),
            probe_second: Duration::from_secs(1),
        }
    }
}

const HEAPSTER: &str = "heapster";
const METRICS_SERVER: &str = "metrics-server";
const HEADLAMP: &str = "headlamp";

fn texts(all: &[&str]) -> Vec<String> {
    all.iter().map(|t| t.to_string()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy,
    NoMetricsService,
    SlowFirstBatch,
    NodeMissingFromHeapster,
    ZeroMetrics,
    StaleMetrics,
    DashboardNeverConnects,
    DashboardWithoutProxyRights,
    PodsWithoutMetrics,
    TransientApiErrors,
    CrashLoop,
    ImageNotLoaded,
    NotReadyNode,
    ZeroNodes,
    ConsumerSkewed,
    ConsumerWithoutMetrics,
    InsecureTlsMissing,
    ApiServiceUnavailable,
    ScraperWithoutData,
    DashboardWithoutScraper,
    ChecksWithoutRights,
    HeadlampTokenStripped,
    HeadlampNotInCluster,
}

impl Scenario {
    pub const ALL: &[Scenario] = &[
        Scenario::Healthy,
        Scenario::NoMetricsService,
        Scenario::SlowFirstBatch,
        Scenario::NodeMissingFromHeapster,
        Scenario::ZeroMetrics,
        Scenario::StaleMetrics,
        Scenario::DashboardNeverConnects,
        Scenario::DashboardWithoutProxyRights,
        Scenario::PodsWithoutMetrics,
        Scenario::TransientApiErrors,
        Scenario::CrashLoop,
        Scenario::ImageNotLoaded,
        Scenario::NotReadyNode,
        Scenario::ZeroNodes,
        Scenario::ConsumerSkewed,
        Scenario::ConsumerWithoutMetrics,
        Scenario::InsecureTlsMissing,
        Scenario::ApiServiceUnavailable,
        Scenario::ScraperWithoutData,
        Scenario::DashboardWithoutScraper,
        Scenario::ChecksWithoutRights,
        Scenario::HeadlampTokenStripped,
        Scenario::HeadlampNotInCluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::NoMetricsService => "no-metrics-service",
            Scenario::SlowFirstBatch => "slow-first-batch",
            Scenario::NodeMissingFromHeapster => "node-missing-from-heapster",
            Scenario::ZeroMetrics => "zero-metrics",
            Scenario::StaleMetrics => "stale-metrics",
            Scenario::DashboardNeverConnects => "dashboard-never-connects",
            Scenario::DashboardWithoutProxyRights => "dashboard-without-proxy-rights",
            Scenario::PodsWithoutMetrics => "pods-without-metrics",
            Scenario::TransientApiErrors => "transient-api-errors",
            Scenario::CrashLoop => "crash-loop",
            Scenario::ImageNotLoaded => "image-not-loaded",
            Scenario::NotReadyNode => "not-ready-node",
            Scenario::ZeroNodes => "zero-nodes",
            Scenario::ConsumerSkewed => "consumer-skewed",
            Scenario::ConsumerWithoutMetrics => "consumer-without-metrics",
            Scenario::InsecureTlsMissing => "insecure-tls-missing",
            Scenario::ApiServiceUnavailable => "apiservice-unavailable",
            Scenario::ScraperWithoutData => "scraper-without-data",
            Scenario::DashboardWithoutScraper => "dashboard-without-scraper",
            Scenario::ChecksWithoutRights => "checks-without-rights",
            Scenario::HeadlampTokenStripped => "headlamp-token-stripped",
            Scenario::HeadlampNotInCluster => "headlamp-not-in-cluster",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The faults of this scenario on a cluster called `cluster`; worker names follow kind's.
    pub fn faults(self, cluster: &str) -> Faults {
        let worker2 = format!("{cluster}-worker2");
        let mut f = Faults::default();
        match self {
            Scenario::Healthy | Scenario::SlowFirstBatch | Scenario::ZeroNodes => {}
            // A component beside the metrics pipeline: Grafana, or the dashboard's scraper.
            Scenario::ImageNotLoaded => {
                f.images_not_loaded = texts(&["heapster-grafana-amd64", "metrics-scraper"])
            }
            Scenario::NoMetricsService => f.no_metrics_service = true,
            Scenario::NodeMissingFromHeapster => f.node_missing_from_heapster = Some(worker2),
            Scenario::ZeroMetrics => f.zero_metrics = true,
            Scenario::StaleMetrics => f.stale_metrics = true,
            Scenario::DashboardNeverConnects => f.dashboard_never_connects = true,
            Scenario::DashboardWithoutProxyRights => f.dashboard_without_proxy_rights = true,
            Scenario::PodsWithoutMetrics => f.pods_without_metrics = true,
            Scenario::TransientApiErrors => f.transient_api_errors = true,
            // The program that scrapes the kubelets.
            Scenario::CrashLoop => {
                f.crash_loop_images = texts(&["heapster-amd64", "metrics-server/metrics-server"])
            }
            Scenario::NotReadyNode => f.not_ready_node = Some(worker2),
            Scenario::ConsumerSkewed => f.consumer_skew = Some(10.0),
            Scenario::ConsumerWithoutMetrics => f.consumer_without_metrics = true,
            Scenario::InsecureTlsMissing => f.kubelet_tls_verified = true,
            Scenario::ApiServiceUnavailable => f.apiservice_unreachable = true,
            Scenario::ScraperWithoutData => f.scraper_without_metrics_rights = true,
            Scenario::DashboardWithoutScraper => f.no_scraper_service = true,
            Scenario::ChecksWithoutRights => f.checks_without_rights = true,
            Scenario::HeadlampTokenStripped => f.headlamp_cookie_stripped = true,
            Scenario::HeadlampNotInCluster => f.headlamp_not_in_cluster = true,
        }
        f
    }

    /// The stacks (by `--stack` name) whose programs this scenario's faults act on; on any
    /// other stack it would change nothing, so the harness refuses the pair.
    pub fn stacks(self) -> &'static [&'static str] {
        const ALL: &[&str] = &[HEAPSTER, METRICS_SERVER, HEADLAMP];
        match self {
            Scenario::SlowFirstBatch
            | Scenario::NodeMissingFromHeapster
            | Scenario::StaleMetrics
            | Scenario::DashboardWithoutProxyRights => &[HEAPSTER],
            Scenario::InsecureTlsMissing | Scenario::ApiServiceUnavailable => {
                &[METRICS_SERVER, HEADLAMP]
            }
            Scenario::ScraperWithoutData | Scenario::DashboardWithoutScraper => &[METRICS_SERVER],
            // Grafana and the scraper, the dashboard's metric client: not in Headlamp's stack.
            Scenario::ImageNotLoaded | Scenario::DashboardNeverConnects => {
                &[HEAPSTER, METRICS_SERVER]
            }
            Scenario::HeadlampTokenStripped | Scenario::HeadlampNotInCluster => &[HEADLAMP],
            _ => ALL,
        }
    }

    /// Whether this scenario acts on the stack called `stack` (`--stack`'s name).
    pub fn applies_to(self, stack: &str) -> bool {
        self.stacks().contains(&stack)
    }

    pub fn timing(self) -> Timing {
        let mut t = Timing::fast();
        if self == Scenario::SlowFirstBatch {
            t.heapster = Some(HeapsterClock {
                first_export: Duration::from_secs(3),
                spacing: Some(Duration::from_millis(150)),
            });
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(*s));
        }
        assert_eq!(Scenario::from_name("nope"), None);
    }
}
