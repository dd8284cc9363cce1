//! kubernetes-dashboard v1.10.1, emulated from its source (kubernetes/dashboard@v1.10.1,
//! `src/app/backend/`; `sim/FIDELITY.md` names each file):
//!
//! - Start-up lines and the metric client's health loop (`dashboard.go`,
//!   `integration/metric/manager.go`): a check at start, then every
//!   `--metric-client-check-period` seconds; "Successful request to heapster" only when
//!   the client goes from unusable to usable.
//! - The health check and the metric downloads use the dashboard's own service account
//!   through the API server's service proxy (`integration/metric/heapster/restclient.go`);
//!   client-go's `DoRaw` turns a refusal into a generic message (`rest/request.go`,
//!   `apimachinery/pkg/api/errors`): a JSON 403 reads "unknown (get services heapster)".
//! - Login (`auth/`, `client/manager.go`): CSRF token, `POST /api/v1/login` checks the
//!   token against the API server, JWE sessions live `--token-ttl` seconds (900) and an
//!   expired one is a 500 `MSG_TOKEN_EXPIRED_ERROR` on v1.10.1, a 401 on v2.7.0.
//! - Lists (`resource/node/list.go`, `resource/pod/list.go`): read as the logged-in user;
//!   the pod list also lists events, the node list one pod list per node; 401/403 are
//!   non-critical (`errors/handler.go`). `cumulativeMetrics` sum every item's points by
//!   time in `dataPoints`; `metricPoints` only when the list holds exactly one item
//!   (`integration/metric/common/aggregation.go`).
//! - `GET /api/v1/integration/heapster/state` needs no login and runs a health check on
//!   every call (`integration/manager.go`).

mod client;
mod health;
mod http;
mod lists;

pub use client::{GoError, Settings, append_log, health_check, raw_error, settings};
pub use health::tick;
pub use http::{expire_sessions, serve};
