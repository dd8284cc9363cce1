//! `check` against the same requests made one at a time: `cargo bench --bench check_speed`.
//!
//! On a healthy simulated cluster, times the checks as `cargo xtask check` runs them (plan,
//! then every check at once) and records every request they made, whole: method, path,
//! the headers they chose (the dashboard's `X-CSRF-TOKEN` and `jweToken`) and the body
//! (the dashboard login). Then replays exactly those requests one after the other:
//!
//! - in-process, through the same client, so the difference is only concurrency;
//! - as a shell script would, one `kubectl` per request (`get --raw`, or `create --raw -f`
//!   for a POST). kubectl cannot send custom headers, so the dashboard's login flow and
//!   its lists cannot be scripted with it: those requests are left out of its script and
//!   counted, and the in-process replay of the same subset is timed beside it.
//!
//! Every side gets one unmeasured warm-up run, then the best of `RUNS`. Needs `kubectl` on
//! PATH for the last comparison.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use heapster_e2e::checks::{self, CheckConfig, Ctx};
use heapster_e2e::kubeclient;
use kind_sim::Timing;
use kind_sim::cluster::RecordedRequest;

const RUNS: usize = 3;

fn main() {
    if !support::should_run() {
        return;
    }
    let rt = support::runtime();
    let (handle, dir, kubeconfig, client) = support::healthy_cluster(&rt, Timing::instant());
    // Heapster has two batches (CPU rates need them) before the clock starts.
    let warm = CheckConfig {
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(100),
        ..CheckConfig::default()
    };
    run_checks(&rt, &client, warm);
    let mut requests = Vec::new();
    let checks = best_of(|| {
        let before = handle.recorded().len();
        let started = Instant::now();
        let outcomes = run_checks(&rt, &client, CheckConfig::default());
        let took = started.elapsed();
        assert!(
            outcomes.iter().all(|o| o.passed || o.ignored),
            "a check failed on the healthy cluster"
        );
        requests = handle.recorded()[before..].to_vec();
        took
    });
    let in_process = best_of(|| replay_in_process(&rt, &client, &requests));
    let (scriptable, unscriptable): (Vec<RecordedRequest>, Vec<RecordedRequest>) = requests
        .iter()
        .cloned()
        .partition(|r| custom_headers(r).is_empty());
    let posts = requests.iter().filter(|r| r.method == "POST").count();
    println!(
        "checks (plan + all at once), best of {RUNS}: {:.3}s, {} requests ({posts} POST)",
        checks.as_secs_f64(),
        requests.len()
    );
    println!(
        "the same {} requests one by one, in-process (login and headers included): {:.3}s; ratio {:.2}",
        requests.len(),
        in_process.as_secs_f64(),
        checks.as_secs_f64() / in_process.as_secs_f64()
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(kubectl) = heapster_e2e::pipeline::tools::find_on_path(&path, "kubectl") else {
        println!("kubectl is not on PATH: no script to compare with");
        return;
    };
    let subset_in_process = best_of(|| replay_in_process(&rt, &client, &scriptable));
    let script = best_of(|| replay_kubectl(&kubectl, &kubeconfig, dir.path(), &scriptable));
    println!(
        "kubectl, one process per request: {:.3}s for the {} requests it can send ({} need headers kubectl cannot send: {}); in-process one by one, the same {}: {:.3}s",
        script.as_secs_f64(),
        scriptable.len(),
        unscriptable.len(),
        header_names(&unscriptable),
        scriptable.len(),
        subset_in_process.as_secs_f64()
    );
    println!(
        "kubectl's cost is its start-up: {:.1} ms a request against {:.2} ms in-process",
        per_request(script, scriptable.len()),
        per_request(subset_in_process, scriptable.len())
    );
}

/// One unmeasured warm-up, then the best of `RUNS`.
fn best_of(mut run: impl FnMut() -> Duration) -> Duration {
    run();
    (0..RUNS).map(|_| run()).min().unwrap_or_default()
}

fn per_request(total: Duration, n: usize) -> f64 {
    total.as_secs_f64() * 1000.0 / n.max(1) as f64
}

/// Headers the checks chose themselves (beyond content negotiation).
fn custom_headers(r: &RecordedRequest) -> Vec<&str> {
    r.headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !matches!(*k, "accept" | "content-type"))
        .collect()
}

fn header_names(requests: &[RecordedRequest]) -> String {
    let mut names: Vec<&str> = requests.iter().flat_map(custom_headers).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

fn replay_in_process(
    rt: &tokio::runtime::Runtime,
    client: &kube::Client,
    requests: &[RecordedRequest],
) -> Duration {
    let started = Instant::now();
    for r in requests {
        let method = http::Method::from_bytes(r.method.as_bytes()).expect("a method");
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        rt.block_on(kubeclient::raw(
            client,
            method,
            &r.uri,
            &headers,
            r.body.clone(),
        ))
        .expect("the request is answered");
    }
    started.elapsed()
}

fn replay_kubectl(
    kubectl: &std::path::Path,
    kubeconfig: &std::path::Path,
    dir: &std::path::Path,
    requests: &[RecordedRequest],
) -> Duration {
    let body = dir.join("body");
    let started = Instant::now();
    for r in requests {
        let mut cmd = std::process::Command::new(kubectl);
        cmd.arg("--kubeconfig").arg(kubeconfig);
        if r.method == "GET" {
            cmd.args(["get", "--raw", &r.uri]);
        } else {
            std::fs::write(&body, &r.body).expect("body written");
            cmd.args(["create", "--raw", &r.uri, "-f"]).arg(&body);
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("kubectl runs");
    }
    started.elapsed()
}

fn run_checks(
    rt: &tokio::runtime::Runtime,
    client: &kube::Client,
    config: CheckConfig,
) -> Vec<checks::Outcome> {
    let mut ctx = Ctx::new(client.clone(), config);
    let plan = rt.block_on(checks::plan(&mut ctx)).expect("plan");
    rt.block_on(checks::run::run_all(Arc::new(ctx), plan))
}
