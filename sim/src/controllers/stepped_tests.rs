//! The simulator stepped through time by hand (`reconcile_at`), on upstream's own clocks
//! (`Timing::realistic`): what a kubelet, metrics-server and the aggregator do at each
//! second, checked against the upstream rules `sim/FIDELITY.md` cites.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::reconcile_at;
use crate::cluster::{Cluster, SimConfig};
use crate::rbac::Identity;
use crate::scenario::Timing;
use crate::store::Key;

const MS_IMAGE: &str = "registry.k8s.io/metrics-server/metrics-server:v0.9.0";
const NS: &str = "kube-system";

/// A cluster on upstream's clocks with metrics-server's image on every node.
fn cluster(node_image: &str) -> (Cluster, Timestamp) {
    let mut config = SimConfig::new("fid");
    config.timing = Timing::realistic();
    config.node_image = node_image.into();
    config.preloaded_images = vec![MS_IMAGE.into(), "registry.k8s.io/pause:3.10".into()];
    let cluster = crate::server::build(config).expect("a cluster");
    let t0 = Timestamp::now();
    reconcile_at(&cluster, t0);
    (cluster, t0)
}

fn at(cluster: &Cluster, t0: Timestamp, millis: u64) {
    reconcile_at(cluster, t0 + Duration::from_millis(millis));
}

/// One controller pass a second, at each of `seconds`.
fn each_second(cluster: &Cluster, t0: Timestamp, seconds: impl IntoIterator<Item = u64>) {
    for s in seconds {
        at(cluster, t0, s * 1000);
    }
}

/// A cluster on upstream's clocks with pod `ms` running our manifest's metrics-server
/// container (`args`, when given, replace its arguments).
fn with_metrics_server(args: &[&str]) -> (Cluster, Timestamp) {
    let (c, t0) = cluster("kindest/node:v1.37.0");
    put_pod(
        &c,
        "ms",
        json!({"k8s-app": "metrics-server"}),
        metrics_server_container(args),
    );
    (c, t0)
}

/// The metrics-server container of our manifests (the upstream probe: 20 s, every 10 s).
fn metrics_server_container(args: &[&str]) -> Value {
    let yaml = include_str!("../../../manifests/metrics-server/10-metrics-server.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).expect("the manifest parses");
    let deployment = docs
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let mut c = deployment["spec"]["template"]["spec"]["containers"][0].clone();
    if !args.is_empty() {
        c["args"] = json!(args);
    }
    c
}

fn put_pod(cluster: &Cluster, name: &str, labels: Value, container: Value) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"containers": [container], "serviceAccountName": "metrics-server"}});
    cluster.lock().store.put(Key::new("/pods", NS, name), pod);
}

fn pod(cluster: &Cluster, name: &str) -> Value {
    cluster
        .lock()
        .store
        .get(&Key::new("/pods", NS, name))
        .cloned()
        .expect("the pod")
}

fn ready(cluster: &Cluster, name: &str) -> bool {
    pod(cluster, name)["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn log(cluster: &Cluster, name: &str) -> Vec<String> {
    let st = cluster.lock();
    st.logs
        .iter()
        .filter(|((ns, pod, _), _)| ns == NS && pod == name)
        .flat_map(|(_, l)| l.current.clone())
        .collect()
}

#[test]
fn metrics_server_is_ready_on_the_kubelet_grid_not_at_two_scrapes() {
    let (c, t0) = with_metrics_server(&[]);
    // Admitted at 0 s, started 2 s later (`pod_start`); /readyz passes after the scrape at
    // 17 s, but the ticks at 10 s and 20 s fall inside the 20 s initial delay.
    for s in 0..30 {
        at(&c, t0, s * 1000);
        assert!(!ready(&c, "ms"), "Ready at {s} s, before the 30 s tick");
    }
    at(&c, t0, 30_000);
    assert!(
        ready(&c, "ms"),
        "not Ready at the first tick after the delay: {}",
        pod(&c, "ms")["status"]
    );
    // No probe ran while /readyz refused: nothing logged "Failed probe".
    assert!(!log(&c, "ms").iter().any(|l| l.contains("Failed probe")));
}

#[test]
fn failed_probes_log_once_each_on_the_grid() {
    // Without --kubelet-insecure-tls no scrape works: /readyz refuses every probe.
    let (c, t0) = with_metrics_server(&[
        "--cert-dir=/tmp",
        "--secure-port=10250",
        "--metric-resolution=15s",
    ]);
    each_second(&c, t0, 0..=55);
    let probes: Vec<String> = log(&c, "ms")
        .into_iter()
        .filter(|l| l.contains("server.go:192] \"Failed probe\" probe=\"metric-storage-ready\""))
        .collect();
    // Ticks at 30, 40 and 50 s.
    assert_eq!(probes.len(), 3, "{probes:#?}");
    assert!(!ready(&c, "ms"));
}

#[test]
fn a_fresh_pod_has_metrics_after_one_scrape() {
    let (c, t0) = with_metrics_server(&[]);
    at(&c, t0, 0);
    at(&c, t0, 2000);
    // Scrapes at 2, 17, 32 s. A pod started at 5 s is 12 s old at the 17 s scrape: within
    // [10 s, 15 s), so its start stands in for the first sample. One started at 10 s is
    // 7 s old then: it waits for the 32 s scrape.
    let pause = |name: &str| json!({"name": name, "image": "registry.k8s.io/pause:3.10"});
    put_pod(&c, "app", json!({"app": "x"}), pause("app"));
    at(&c, t0, 3000);
    at(&c, t0, 5000);
    at(&c, t0, 8000);
    put_pod(&c, "young", json!({"app": "y"}), pause("young"));
    at(&c, t0, 8000);
    at(&c, t0, 10_000);
    at(&c, t0, 16_000);
    let ms_pod = pod(&c, "ms");
    let (app, young) = (pod(&c, "app"), pod(&c, "young"));
    let st = c.lock();
    let ms = crate::apps::metrics_server::metrics_server_of(
        &c,
        &st,
        &ms_pod,
        &ms_pod["spec"]["containers"][0],
    )
    .expect("running");
    let metrics =
        |p: &Value, millis| ms.pod_metrics(&c, &st, p, t0 + Duration::from_millis(millis));
    assert_eq!(metrics(&app, 16_000), None, "one scrape before 17 s");
    let fresh = metrics(&app, 17_500).expect("metrics after the 17 s scrape");
    assert_eq!(fresh["window"], "12s", "{fresh}");
    assert_eq!(metrics(&young, 17_500), None);
    let later = metrics(&young, 32_500).expect("metrics after two scrapes");
    assert_eq!(later["window"], "15s");
}

#[test]
fn a_not_ready_node_is_logged_only_at_verbosity_four() {
    let mut config = SimConfig::new("fid");
    config.timing = Timing::realistic();
    config.preloaded_images = vec![MS_IMAGE.into()];
    config.faults.not_ready_node = Some("fid-worker2".into());
    let c = crate::server::build(config).unwrap();
    let t0 = Timestamp::now();
    let mut quiet = metrics_server_container(&[]);
    quiet["name"] = json!("quiet");
    put_pod(&c, "ms", json!({"k8s-app": "metrics-server"}), quiet);
    let mut loud = metrics_server_container(&[]);
    let mut args = loud["args"].as_array().cloned().unwrap();
    args.push(json!("--v=4"));
    loud["args"] = json!(args);
    put_pod(&c, "ms4", json!({"k8s-app": "metrics-server-4"}), loud);
    each_second(&c, t0, 0..=20);
    let mentions = |name| {
        log(&c, name)
            .into_iter()
            .filter(|l| l.contains("fid-worker2"))
            .collect::<Vec<_>>()
    };
    assert_eq!(mentions("ms"), Vec::<String>::new());
    let loud = mentions("ms4");
    assert!(!loud.is_empty());
    assert!(
        loud.iter().all(|l| l.starts_with('I') && l.contains("scraper.go:145] \"Failed to scrape node, node is not ready\" node=\"fid-worker2\"")),
        "{loud:#?}"
    );
}

#[test]
fn a_refused_resolution_crash_loops_with_upstreams_error() {
    let (c, t0) = with_metrics_server(&["--kubelet-insecure-tls", "--metric-resolution=5s"]);
    each_second(&c, t0, 0..=30);
    let p = pod(&c, "ms");
    let status = &p["status"]["containerStatuses"][0];
    assert_eq!(
        status["state"]["waiting"]["reason"], "CrashLoopBackOff",
        "{status}"
    );
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 2);
    let st = c.lock();
    let previous = st
        .logs
        .values()
        .find_map(|l| l.previous.clone())
        .unwrap_or_default()
        .join("\n");
    assert!(
        previous.contains(
            "Error: metric-resolution should be a time duration at least 10s, but value 5s provided"
        ),
        "{previous}"
    );
}

/// The APIService of our manifests' shape, for metrics-server's Service.
fn put_apiservice(c: &Cluster) {
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": NS},
        "spec": {"selector": {"k8s-app": "metrics-server"}, "clusterIP": "10.96.0.50",
                 "ports": [{"name": "https", "port": 443, "targetPort": "https"}]}});
    let api = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"service": {"name": "metrics-server", "namespace": NS, "port": 443},
                 "group": "metrics.k8s.io", "version": "v1beta1"}});
    let mut st = c.lock();
    st.store
        .put(Key::new("/services", NS, "metrics-server"), svc);
    st.store.put(
        Key::new(crate::aggregated::APISERVICES, "", "v1beta1.metrics.k8s.io"),
        api,
    );
}

fn available(c: &Cluster) -> (String, String) {
    let st = c.lock();
    let api = crate::aggregated::apiservice(&st).expect("the APIService");
    let cond = &api["status"]["conditions"][0];
    (
        cond["reason"].as_str().unwrap_or_default().into(),
        cond["message"].as_str().unwrap_or_default().into(),
    )
}

#[test]
fn an_apiservice_has_no_endpointslices_until_their_controller_ran() {
    let (c, t0) = cluster("kindest/node:v1.37.0");
    put_apiservice(&c);
    at(&c, t0, 100);
    assert_eq!(
        available(&c),
        (
            "EndpointsNotFound".into(),
            "cannot find endpointslices for service/metrics-server in \"kube-system\"".into()
        )
    );
    at(&c, t0, 200);
    assert_eq!(available(&c).0, "MissingEndpoints");
}

#[test]
fn missing_pod_metrics_are_named_by_namespace_and_name() {
    let (c, t0) = with_metrics_server(&[]);
    put_apiservice(&c);
    each_second(&c, t0, 0..=31);
    let get = |rest: &[&str]| {
        let st = c.lock();
        crate::aggregated::request(
            &c,
            &st,
            &Identity::Admin,
            "v1beta1",
            rest,
            t0 + Duration::from_secs(31),
        )
    };
    // The pod exists but started after the last two scrapes began: no samples.
    put_pod(
        &c,
        "late",
        json!({"app": "late"}),
        json!({"name": "l", "image": "registry.k8s.io/pause:3.10"}),
    );
    let answer = get(&["namespaces", NS, "pods", "late"]);
    assert_eq!(answer.status, 404);
    assert!(
        answer
            .body
            .contains("podmetrics.metrics.k8s.io \\\"kube-system/late\\\" not found"),
        "{}",
        answer.body
    );
    let absent = get(&["namespaces", NS, "pods", "nope"]);
    assert!(
        absent.body.contains("pods \\\"nope\\\" not found"),
        "{}",
        absent.body
    );
    let node = get(&["nodes", "fid-worker"]);
    assert_eq!(node.status, 200, "{}", node.body);
}
