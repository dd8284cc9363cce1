//! Named ways a simulated cluster behaves, each one a way real clusters break.

use std::time::Duration;

/// Faults injected into one simulated cluster. The default is a healthy cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Something removes the `heapster` Service as soon as it appears.
    pub no_heapster_service: bool,
    /// Heapster's model never lists this node (its scrape of that kubelet fails).
    pub node_missing_from_heapster: Option<String>,
    /// Every node and pod series reads 0.
    pub zero_metrics: bool,
    /// Heapster stopped scraping 40 minutes ago: the latest point is that old.
    pub stale_metrics: bool,
    /// The dashboard's metric client never reaches heapster (connection timeout).
    pub dashboard_never_connects: bool,
    /// Heapster has node series but none for pods.
    pub pods_without_metrics: bool,
    /// The first two requests to each API path answer 500, then 429.
    pub transient_api_errors: bool,
    /// Containers whose image contains this text exit with status 1 at start.
    pub crash_loop_image: Option<String>,
    /// This node's kubelet stopped posting status: NotReady.
    pub not_ready_node: Option<String>,
    /// Usage reported for resource-consumer pods is this many times what they burn.
    pub consumer_skew: Option<f64>,
    /// Resource-consumer pods never get metrics.
    pub consumer_without_metrics: bool,
}

/// How fast simulated time-dependent things happen. Real clusters take tens of seconds;
/// tests want well under one.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// From scheduling to Running (image present).
    pub pod_start: Duration,
    /// From heapster Running to its first data batch.
    pub first_batch: Duration,
    /// The dashboard's metric client health-check period (`--metric-client-check-period`, 30 s upstream).
    pub dashboard_check_period: Duration,
    /// Back-off between restarts of a crashing container.
    pub crash_backoff: Duration,
}

impl Timing {
    pub fn fast() -> Self {
        Timing {
            pod_start: Duration::from_millis(150),
            first_batch: Duration::from_millis(600),
            dashboard_check_period: Duration::from_millis(300),
            crash_backoff: Duration::from_millis(200),
        }
    }

    /// No simulated delays: what remains is the harness's (and the simulator's) own time.
    pub fn instant() -> Self {
        Timing {
            pod_start: Duration::ZERO,
            first_batch: Duration::ZERO,
            dashboard_check_period: Duration::from_millis(50),
            crash_backoff: Duration::from_millis(50),
        }
    }

    /// Closer to a real kind cluster, for exploring by hand.
    pub fn realistic() -> Self {
        Timing {
            pod_start: Duration::from_secs(2),
            first_batch: Duration::from_secs(10),
            dashboard_check_period: Duration::from_secs(5),
            crash_backoff: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy,
    NoHeapsterService,
    SlowFirstBatch,
    NodeMissingFromHeapster,
    ZeroMetrics,
    StaleMetrics,
    DashboardNeverConnects,
    PodsWithoutMetrics,
    TransientApiErrors,
    CrashLoop,
    ImageNotLoaded,
    NotReadyNode,
    ZeroNodes,
    ConsumerSkewed,
    ConsumerWithoutMetrics,
}

impl Scenario {
    pub const ALL: &[Scenario] = &[
        Scenario::Healthy,
        Scenario::NoHeapsterService,
        Scenario::SlowFirstBatch,
        Scenario::NodeMissingFromHeapster,
        Scenario::ZeroMetrics,
        Scenario::StaleMetrics,
        Scenario::DashboardNeverConnects,
        Scenario::PodsWithoutMetrics,
        Scenario::TransientApiErrors,
        Scenario::CrashLoop,
        Scenario::ImageNotLoaded,
        Scenario::NotReadyNode,
        Scenario::ZeroNodes,
        Scenario::ConsumerSkewed,
        Scenario::ConsumerWithoutMetrics,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::NoHeapsterService => "no-heapster-service",
            Scenario::SlowFirstBatch => "slow-first-batch",
            Scenario::NodeMissingFromHeapster => "node-missing-from-heapster",
            Scenario::ZeroMetrics => "zero-metrics",
            Scenario::StaleMetrics => "stale-metrics",
            Scenario::DashboardNeverConnects => "dashboard-never-connects",
            Scenario::PodsWithoutMetrics => "pods-without-metrics",
            Scenario::TransientApiErrors => "transient-api-errors",
            Scenario::CrashLoop => "crash-loop",
            Scenario::ImageNotLoaded => "image-not-loaded",
            Scenario::NotReadyNode => "not-ready-node",
            Scenario::ZeroNodes => "zero-nodes",
            Scenario::ConsumerSkewed => "consumer-skewed",
            Scenario::ConsumerWithoutMetrics => "consumer-without-metrics",
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
            Scenario::Healthy
            | Scenario::SlowFirstBatch
            | Scenario::ImageNotLoaded
            | Scenario::ZeroNodes => {}
            Scenario::NoHeapsterService => f.no_heapster_service = true,
            Scenario::NodeMissingFromHeapster => f.node_missing_from_heapster = Some(worker2),
            Scenario::ZeroMetrics => f.zero_metrics = true,
            Scenario::StaleMetrics => f.stale_metrics = true,
            Scenario::DashboardNeverConnects => f.dashboard_never_connects = true,
            Scenario::PodsWithoutMetrics => f.pods_without_metrics = true,
            Scenario::TransientApiErrors => f.transient_api_errors = true,
            Scenario::CrashLoop => f.crash_loop_image = Some("heapster-amd64".into()),
            Scenario::NotReadyNode => f.not_ready_node = Some(worker2),
            Scenario::ConsumerSkewed => f.consumer_skew = Some(10.0),
            Scenario::ConsumerWithoutMetrics => f.consumer_without_metrics = true,
        }
        f
    }

    pub fn timing(self) -> Timing {
        let mut t = Timing::fast();
        if self == Scenario::SlowFirstBatch {
            t.first_batch = Duration::from_secs(3);
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
