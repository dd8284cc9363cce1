//! heapster v1.5.4, emulated from its source (kubernetes-retired/heapster@v1.5.4; see
//! `sim/FIDELITY.md` for each behaviour's file):
//!
//! - Flags decide whether it runs at all (`heapster.go` `validateFlags`,
//!   `createSourceManagerOrDie`): a bad configuration exits at start (CrashLoopBackOff).
//! - Housekeeping (`manager/manager.go`): windows of `--metric_resolution` aligned to the
//!   wall clock, each exported 5 s (`DefaultScrapeOffset`) after it ends; the batch carries
//!   the window's end as its timestamp. Every export holds at least the cluster metric set
//!   (`processors/cluster_aggregator.go`), so `/healthz` passes after the first export even
//!   when every kubelet scrape failed.
//! - `cpu/usage_rate` comes from the rate calculator (`processors/rate_calculator.go`): it
//!   needs the previous batch, so it first appears in the second batch that holds the node
//!   or pod. `memory/usage` appears in the first.
//! - The model API (`api/v1/model_handlers.go`) answers from the metric sink
//!   (`sinks/metric/metric_sink.go`): `cpu/usage_rate` and `memory/usage` for 15 minutes,
//!   other metrics for 140 s; unknown nodes and pods get an empty result, not an error.

mod http;
mod log;
mod run;
mod series;

pub use http::serve;
pub use log::{glog, housekeeping_errors, start_lines};
pub use run::{
    Clock, DEFAULT_RESOLUTION, Heapster, MAX_METRICS_DELAY, METRIC_NAMES, SCRAPE_OFFSET, Source,
    fatal_error, heapster_of, influx_service_of_sink, serving,
};
pub use series::{
    metric_result, node_points, node_usage, pod_points, pod_usage, scraped_pods, series,
};
