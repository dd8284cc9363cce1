//! The programs behind the API server's service proxy, each emulated from its upstream
//! source at the pinned version: heapster, InfluxDB, Grafana (heapster's images),
//! kubernetes-dashboard v1.10.1, metrics-server, dashboard-metrics-scraper, dashboard
//! v2.7.0, Headlamp v0.45.0 and the e2e resource-consumer. `common` holds what they
//! share; `serve` hands a proxied request to the program a backend pod runs. They reach
//! each other only through `common::ServiceProxy`, as the real programs do.

pub mod common;
pub mod consumer;
pub mod dashboard;
pub mod grafana;
pub mod headlamp;
pub mod heapster;
pub mod influxdb;
pub mod measured;
pub mod metrics_server;
pub mod scraper;

use jiff::Timestamp;
use serde_json::Value;

use crate::cluster::{Cluster, State};
use common::{App, AppRequest, Http, ServiceProxy};

/// Answer a request that reached `container` of `pod`, a backend of some Service.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    cluster: &Cluster,
    st: &mut State,
    app: App,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    match app {
        App::Heapster => heapster::serve(cluster, st, pod, container, req, now),
        App::InfluxDb => influxdb::serve(cluster, st, req, now),
        App::Grafana => grafana::serve(
            container,
            req,
            common::pod_started(st, pod),
            cluster.config.timing.grafana_setup,
            now,
        ),
        App::Dashboard | App::DashboardV2 => {
            dashboard::serve(cluster, st, pod, container, req, net, now)
        }
        App::MetricsServer => metrics_server::serve(cluster, st, pod, container, req.path, now),
        App::Scraper => scraper::serve(st, pod, req.path, now),
        App::ResourceConsumer => consumer::serve(st, pod, req),
        App::Headlamp => headlamp::serve(cluster, st, pod, container, req, now),
        App::Other => Http::go_error(404, "404 page not found"),
    }
}
