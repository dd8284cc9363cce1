//! metrics-server v0.9.0, emulated from its source (kubernetes-sigs/metrics-server@v0.9.0;
//! `sim/FIDELITY.md` names each file):
//!
//! - The scrape loop (`pkg/server/server.go` `runScrape`): a scrape at start, then one every
//!   `--metric-resolution` (the binary's default 60 s; the upstream manifest sets 15 s).
//! - Each scrape reads every node's kubelet at `https://<InternalIP>:10250/metrics/resource`
//!   (`pkg/scraper/client/resource/client.go`). kind's kubelet serving certificates carry no
//!   IP SANs, so without `--kubelet-insecure-tls` every scrape fails with Go's x509 error and
//!   `scraper.go:149` logs `"Failed to scrape node"` for each node.
//! - Storage (`pkg/storage/`): a node or pod has metrics once two scrapes saw it; `window`
//!   is the time between them; `/readyz`'s `metric-storage-ready` passes from the second
//!   good scrape and logs `"Failed probe" ... err="no metrics to serve"` until then.
//! - The API shapes are `metrics.k8s.io/v1beta1` `NodeMetrics` and `PodMetrics`
//!   (kubernetes/metrics `pkg/apis/metrics/v1beta1/types.go`): CPU as a nano-scaled
//!   quantity, memory as a binary-SI quantity.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{
    App, Http, bool_flag, container_args, flag, go_time_json, node_ip, parse_go_duration,
    pod_is_running, pod_started,
};
use super::heapster::glog;
use super::measured::{node_usage, pod_usage};
use crate::cluster::{Cluster, State};
use crate::usage::Usage;

/// The binary's own `--metric-resolution` default (`cmd/metrics-server/app/options/options.go`).
const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);

/// The binary's `--kubelet-request-timeout` default (`options/kubelet_client.go`).
const DEFAULT_KUBELET_TIMEOUT: Duration = Duration::from_secs(10);

/// A container younger than this at a scrape needs a second scrape (`pkg/storage/pod.go`
/// `freshContainerMinMetricsResolution`).
const FRESH_CONTAINER_MIN: Duration = Duration::from_secs(10);

/// One running metrics-server: when it started and how it scrapes.
#[derive(Debug, Clone)]
pub struct MetricsServer {
    pub started: Timestamp,
    pub resolution: Duration,
    /// `--kubelet-insecure-tls`: skip verifying the kubelets' serving certificates.
    pub insecure_tls: bool,
    /// klog's `--v`: a NotReady node's failed scrape is logged at 4.
    pub verbosity: u32,
}

/// Why metrics-server exits at start, as `runCommand` returns the first of
/// `Options.Validate`'s errors (MS@v0.9.0 `cmd/metrics-server/app/start.go`,
/// `options/options.go` `validate`): cobra prints `Error: ...`, then `main` panics with it
/// (exit status 2).
pub fn fatal_error(args: &[String]) -> Option<String> {
    let duration = |name: &str, default: Duration| {
        flag(args, name)
            .and_then(|v| parse_go_duration(&v))
            .unwrap_or(default)
    };
    let resolution = duration("metric-resolution", DEFAULT_RESOLUTION);
    let timeout = duration("kubelet-request-timeout", DEFAULT_KUBELET_TIMEOUT);
    let message = if resolution < Duration::from_secs(10) {
        format!(
            "metric-resolution should be a time duration at least 10s, but value {} provided",
            go_duration(resolution)
        )
    } else if resolution * 9 / 10 < timeout {
        format!(
            "metric-resolution should be larger than kubelet-request-timeout, but metric-resolution value {} kubelet-request-timeout value {} provided",
            go_duration(resolution),
            go_duration(timeout)
        )
    } else {
        return None;
    };
    Some(format!(
        "Error: {message}\npanic: {message}\n\ngoroutine 1 [running]:\nmain.main()\n\t/go/src/sigs.k8s.io/metrics-server/cmd/metrics-server/metrics-server.go:38 +0x"
    ))
}

/// The metrics-server a pod's container runs, once it has started.
pub fn metrics_server_of(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
) -> Option<MetricsServer> {
    let started = pod_started(st, pod)?;
    let args = container_args(container);
    if fatal_error(&args).is_some() {
        return None;
    }
    let from_flag = flag(&args, "metric-resolution")
        .and_then(|v| parse_go_duration(&v))
        .unwrap_or(DEFAULT_RESOLUTION);
    Some(MetricsServer {
        started,
        resolution: cluster.config.timing.metrics_server.unwrap_or(from_flag),
        insecure_tls: bool_flag(&args, "kubelet-insecure-tls"),
        verbosity: flag(&args, "v").and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

/// The metrics-server behind the APIService's Service, if one is running.
pub fn serving(cluster: &Cluster, st: &State) -> Option<MetricsServer> {
    super::common::pods_running(st, App::MetricsServer)
        .iter()
        .find_map(|(pod, c)| metrics_server_of(cluster, st, pod, c))
}

impl MetricsServer {
    fn step(&self) -> Duration {
        self.resolution.max(Duration::from_millis(10))
    }

    /// How many scrapes ran up to `now`: one at start, then one every resolution.
    fn count(&self, now: Timestamp) -> u64 {
        let since = now.duration_since(self.started);
        if since.is_negative() {
            return 0;
        }
        (since.as_secs_f64() / self.step().as_secs_f64()).floor() as u64 + 1
    }

    /// When scrape `i` (from 0) ran.
    fn scrape_at(&self, i: u64) -> Timestamp {
        self.started + self.step() * i as u32
    }

    /// The scrapes after `after` up to `now`, with their index.
    pub fn scrapes_after(
        &self,
        after: Option<Timestamp>,
        now: Timestamp,
    ) -> impl Iterator<Item = (u64, Timestamp)> + '_ {
        let first = after.map_or(0, |a| self.count(a));
        (first..self.count(now))
            .take(100_000)
            .map(|i| (i, self.scrape_at(i)))
    }

    /// Why scraping `node` fails, as `scraper.go` logs it; `None` when it works. A NotReady
    /// node's failure is an info line at verbosity 4, checked before the timeout case
    /// (`scraper.go` `Scrape`: `case !nodeIsReady(node)` first).
    pub fn scrape_error(&self, st: &State, node: &Value) -> Option<ScrapeError> {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if !super::common::node_is_ready(node) {
            let ip = node_ip(st, name);
            return Some(ScrapeError {
                level: 'I',
                verbosity: 4,
                text: format!(
                    "scraper.go:145] \"Failed to scrape node, node is not ready\" node=\"{name}\" err=\"Get \\\"https://{ip}:10250/metrics/resource\\\": context deadline exceeded\""
                ),
            });
        }
        if self.insecure_tls {
            return None;
        }
        let ip = node_ip(st, name);
        Some(ScrapeError {
            level: 'E',
            verbosity: 0,
            text: format!(
                "scraper.go:149] \"Failed to scrape node\" err=\"Get \\\"https://{ip}:10250/metrics/resource\\\": tls: failed to verify certificate: x509: cannot validate certificate for {ip} because it doesn't contain any IP SANs\" node=\"{name}\""
            ),
        })
    }

    /// The last two scrapes, when they read at least one kubelet: storage needs two.
    fn last_two(&self, st: &State, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let any_node_works = st
            .store
            .iter("/nodes", None)
            .any(|n| self.scrape_error(st, n).is_none());
        let n = self.count(now);
        (any_node_works && n >= 2).then(|| (self.scrape_at(n - 2), self.scrape_at(n - 1)))
    }

    /// `metric-storage-ready`: two good scrapes.
    pub fn ready(&self, st: &State, now: Timestamp) -> bool {
        self.last_two(st, now).is_some()
    }

    /// `NodeMetrics` of a node both last scrapes read.
    pub fn node_metrics(
        &self,
        cluster: &Cluster,
        st: &State,
        node: &Value,
        now: Timestamp,
    ) -> Option<Value> {
        let (prev, last) = self.last_two(st, now)?;
        if self.scrape_error(st, node).is_some() {
            return None;
        }
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let usage = node_usage(cluster, st, name, last);
        Some(json!({
            "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": name, "labels": node["metadata"]["labels"], "creationTimestamp": go_time_json(now)},
            "timestamp": go_time_json(last),
            "window": go_duration(last.duration_since(prev).unsigned_abs()),
            "usage": usage_quantities(usage),
        }))
    }

    /// `PodMetrics` of a running pod whose node both last scrapes read, started before the
    /// first of them (a pod needs two samples), or fresh: 10 s to one resolution old at the
    /// last scrape, when its start stands in for the first sample (`pkg/storage/pod.go`,
    /// `freshContainerMinMetricsResolution`), so its window runs from its start.
    pub fn pod_metrics(
        &self,
        cluster: &Cluster,
        st: &State,
        pod: &Value,
        now: Timestamp,
    ) -> Option<Value> {
        let (prev, last) = self.last_two(st, now)?;
        // The faults: the kubelets' /metrics/resource lacks these pods' containers, so
        // storage has nothing for them (as for a pod it never saw).
        let faults = &cluster.config.faults;
        if faults.pods_without_metrics
            || (faults.consumer_without_metrics && crate::apps::measured::is_consumer(pod))
        {
            return None;
        }
        let started = pod_started(st, pod)?;
        if !pod_is_running(pod) {
            return None;
        }
        let age = last.duration_since(started);
        let fresh = !age.is_negative()
            && age.unsigned_abs() >= FRESH_CONTAINER_MIN
            && age.unsigned_abs() < self.resolution;
        let first = if started <= prev {
            prev
        } else if fresh {
            started
        } else {
            return None;
        };
        let node_name = pod["spec"]["nodeName"].as_str()?;
        let node = st
            .store
            .get(&crate::store::Key::new("/nodes", "", node_name))?;
        if self.scrape_error(st, node).is_some() {
            return None;
        }
        let usage = pod_usage(cluster, st, pod, last);
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| {
                // The pod's usage on its first container, the others idle at a page.
                let u = if i == 0 {
                    usage
                } else {
                    Usage {
                        cpu_millicores: 0,
                        memory_bytes: 4096,
                    }
                };
                json!({"name": c["name"], "usage": usage_quantities(u)})
            })
            .collect();
        Some(json!({
            "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                         "labels": pod["metadata"]["labels"], "creationTimestamp": go_time_json(now)},
            "timestamp": go_time_json(last),
            "window": go_duration(last.duration_since(first).unsigned_abs()),
            "containers": containers,
        }))
    }

    /// Every line the scrapes up to `now` logged after `after`: each node's failure at
    /// the verbosity it is logged at. The nodes are as they are now, so each scrape logs the
    /// same failures.
    pub fn log_lines(
        &self,
        st: &State,
        after: Option<Timestamp>,
        now: Timestamp,
    ) -> Vec<(Timestamp, String)> {
        let errors: Vec<ScrapeError> = st
            .store
            .iter("/nodes", None)
            .filter_map(|n| self.scrape_error(st, n))
            .filter(|e| e.verbosity <= self.verbosity)
            .collect();
        let mut lines = Vec::new();
        for (_, t) in self.scrapes_after(after, now) {
            for e in &errors {
                lines.push((t, glog(e.level, t, &e.text)));
            }
        }
        lines
    }
}

/// A failed kubelet scrape as `scraper.go` logs it: klog level, the `--v` it needs, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeError {
    pub level: char,
    pub verbosity: u32,
    pub text: String,
}

/// What a refused `/readyz` logs, once per request (the kubelet's probes):
/// MS@v0.9.0 `pkg/server/server.go:192` `probeMetricStorageReady`.
pub fn failed_probe_line(at: Timestamp) -> String {
    glog(
        'I',
        at,
        "server.go:192] \"Failed probe\" probe=\"metric-storage-ready\" err=\"no metrics to serve\"",
    )
}

/// The lines metrics-server prints at start (`cmd/metrics-server/app/start.go`, the
/// generic API server's serving lines).
pub fn start_lines(at: Timestamp) -> Vec<String> {
    vec![
        glog(
            'I',
            at,
            "serving.go:374] Generated self-signed cert (/tmp/apiserver.crt, /tmp/apiserver.key)",
        ),
        glog(
            'I',
            at,
            "secure_serving.go:213] Serving securely on [::]:10250",
        ),
    ]
}

/// `/readyz` and `/livez` on its port (the kubelet's probes), and the discovery document
/// the aggregator checks.
pub fn serve(
    cluster: &Cluster,
    st: &State,
    pod: &Value,
    container: &Value,
    path: &str,
    now: Timestamp,
) -> Http {
    let Some(ms) = metrics_server_of(cluster, st, pod, container) else {
        return Http::go_error(503, "not started");
    };
    match path {
        "/readyz" if ms.ready(st, now) => Http::text(200, "ok"),
        // The generic API server's handler lists every check, the failing one without
        // its reason, then `http.Error`'s newline (AS@v0.36.3 `pkg/server/healthz/healthz.go`;
        // the check names as MS@v0.9.0 `test/e2e_test.go` expects them).
        "/readyz" => Http::go_error(
            500,
            "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n[+]poststarthook/storage-object-count-tracker-hook ok\n[-]metric-storage-ready failed: reason withheld\n[+]metric-informer-sync ok\n[+]metadata-informer-sync ok\n[+]shutdown ok\nreadyz check failed",
        ),
        "/livez" | "/healthz" => Http::text(200, "ok"),
        _ => Http::go_error(404, "404 page not found"),
    }
}

/// `resource.Quantity` as metrics-server builds them: CPU nano-scaled, memory binary SI.
fn usage_quantities(u: Usage) -> Value {
    json!({"cpu": decimal_nanos(u.cpu_millicores.max(0) * 1_000_000), "memory": binary_bytes(u.memory_bytes.max(0))})
}

/// A nano-scaled quantity in canonical form: the largest of n, u, m or none that keeps
/// the number whole (`"64628397n"`, `"100m"`).
pub fn decimal_nanos(nanos: i64) -> String {
    if nanos == 0 {
        return "0".into();
    }
    for (div, suffix) in [(1_000_000_000, ""), (1_000_000, "m"), (1_000, "u")] {
        if nanos % div == 0 {
            return format!("{}{suffix}", nanos / div);
        }
    }
    format!("{nanos}n")
}

/// A binary-SI quantity in canonical form: the largest of Ei..Ki that keeps the number
/// whole, else plain bytes (`"24653492Ki"`).
pub fn binary_bytes(bytes: i64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for (shift, suffix) in [(40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")] {
        if bytes % (1i64 << shift) == 0 {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Go's `metav1.Duration` JSON: `time.Duration.String()` (`"15s"`, `"10.043s"`, `"1m0s"`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    if secs >= 60 {
        format!("{}m{}{frac}s", secs / 60, secs % 60)
    } else if secs == 0 && nanos > 0 && nanos < 1_000_000 {
        format!("{}µs", nanos / 1000)
    } else if secs == 0 && nanos > 0 {
        let ms = nanos as f64 / 1e6;
        format!("{}ms", format!("{ms}").trim_end_matches(".0"))
    } else {
        format!("{secs}{frac}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(decimal_nanos(64_628_397), "64628397n");
        assert_eq!(decimal_nanos(100_000_000), "100m");
        assert_eq!(decimal_nanos(2_000_000_000), "2");
        assert_eq!(binary_bytes(24_653_492 * 1024), "24653492Ki");
        assert_eq!(binary_bytes(70 * 1024 * 1024), "70Mi");
        assert_eq!(binary_bytes(1000), "1000");
    }

    #[test]
    fn windows_print_as_go_durations() {
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_millis(10_043)), "10.043s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_millis(150)), "150ms");
    }

    #[test]
    fn scrapes_start_at_once_then_every_resolution() {
        let t0: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
        let ms = MetricsServer {
            started: t0,
            resolution: Duration::from_secs(15),
            insecure_tls: true,
            verbosity: 0,
        };
        let got: Vec<Timestamp> = ms
            .scrapes_after(None, t0 + Duration::from_secs(31))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            got,
            vec![
                t0,
                t0 + Duration::from_secs(15),
                t0 + Duration::from_secs(30)
            ]
        );
        // After a time: the scrapes later than it, by index.
        let later: Vec<u64> = ms
            .scrapes_after(
                Some(t0 + Duration::from_secs(15)),
                t0 + Duration::from_secs(46),
            )
            .map(|(i, _)| i)
            .collect();
        assert_eq!(later, vec![2, 3]);
    }
}
