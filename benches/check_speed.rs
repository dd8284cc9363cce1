//! `check` against a kubectl script: `cargo bench --bench check_speed`.
//!
//! On a healthy simulated cluster, times the checks as `cargo xtask check` runs them
//! (plan, then every check at once), then replays every GET the checks made with one
//! `kubectl get --raw` each, one after the other, as a shell script would. Prints both and
//! their ratio (the goal is 0.1 or less). Needs `kubectl` on PATH.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use heapster_e2e::checks::{self, CheckConfig, Ctx};
use kind_sim::Timing;

const RUNS: usize = 3;

fn main() {
    if !support::should_run() {
        return;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(kubectl) = heapster_e2e::pipeline::tools::find_on_path(&path, "kubectl") else {
        println!("kubectl is not on PATH: nothing to compare with");
        return;
    };
    let rt = support::runtime();
    let (handle, _dir, kubeconfig, client) = support::healthy_cluster(&rt, Timing::instant());
    // Heapster has two batches (CPU rates need them) before the clock starts.
    let warm = CheckConfig {
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(100),
        ..CheckConfig::default()
    };
    run_checks(&rt, &client, warm);
    let mut best = Duration::MAX;
    let mut gets = Vec::new();
    for _ in 0..RUNS {
        let before = handle.requests().len();
        let started = Instant::now();
        let outcomes = run_checks(&rt, &client, CheckConfig::default());
        best = best.min(started.elapsed());
        assert!(
            outcomes.iter().all(|o| o.passed || o.ignored),
            "a check failed on the healthy cluster"
        );
        gets = handle.requests()[before..]
            .iter()
            .filter(|(m, _)| m == "GET")
            .map(|(_, u)| u.clone())
            .collect();
    }
    let started = Instant::now();
    for url in &gets {
        // Some answers are refusals by design (the dashboard before login): time them too.
        std::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "--raw", url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("kubectl runs");
    }
    let script = started.elapsed();
    println!(
        "checks (plan + all at once), best of {RUNS}: {:.2}s",
        best.as_secs_f64()
    );
    println!(
        "kubectl get --raw, the same {} GETs one by one: {:.2}s",
        gets.len(),
        script.as_secs_f64()
    );
    println!(
        "ratio: {:.3} (goal 0.1 or less)",
        best.as_secs_f64() / script.as_secs_f64()
    );
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
