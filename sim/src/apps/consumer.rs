//! Kubernetes' e2e resource-consumer (kubernetes/kubernetes@cc7cea74
//! `test/images/resource-consumer/resource_consumer_handler.go`): on port 8080 it takes
//! `POST /ConsumeCPU` and `POST /ConsumeMem` with form or query fields, starts the
//! consumer in the background and echoes what it was asked for.

use serde_json::Value;

use super::common::{AppRequest, Http, key_of};
use crate::cluster::State;

pub fn serve(st: &mut State, pod: &Value, req: &AppRequest) -> Http {
    if req.method != "POST" {
        return Http::go_error(400, "Bad request. Not a POST request");
    }
    // `req.ParseForm`: query and form body both count.
    let form: Vec<(String, String)> = serde_urlencoded::from_str(req.body).unwrap_or_default();
    let field = |name: &str| {
        req.query(name)
            .map(str::to_string)
            .or_else(|| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    };
    let Some(runtime) = st.pods.get_mut(&key_of(pod)) else {
        return Http::go_error(503, "pod not running");
    };
    let (what, amount_field) = match req.path {
        "/ConsumeCPU" => ("ConsumeCPU", "millicores"),
        "/ConsumeMem" => ("ConsumeMem", "megabytes"),
        path => return Http::go_error(404, &format!("unknown function: {path}")),
    };
    let (Some(amount), Some(duration)) = (field(amount_field), field("durationSec")) else {
        return Http::go_error(400, "not given function argument");
    };
    let (Ok(amount), Ok(duration)) = (amount.parse::<i64>(), duration.parse::<i64>()) else {
        return Http::go_error(400, "incorrect function argument");
    };
    if what == "ConsumeCPU" {
        runtime.consumption.millicores += amount;
    } else {
        runtime.consumption.megabytes += amount;
    }
    Http::text(
        200,
        format!("{what}\n{amount} {amount_field}\n{duration} durationSec\n"),
    )
}
