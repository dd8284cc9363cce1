//! The check suite as a libtest-mimic harness.
//!
//! - With `HEAPSTER_E2E_KUBECONFIG` set (and optionally `HEAPSTER_E2E_CONTEXT`): the
//!   checks, one trial each, against that cluster.
//! - Otherwise (`cargo test`): the same checks against a healthy simulated cluster
//!   (`checks::...`), every fault scenario (`scenario::...`), the e2e pipeline through
//!   fake kind and docker (`pipeline::...`), and the version pins (`pinned::...`).
//!
//! When started as `kind` or `docker` (a symlink to this binary) it is the fake tool.

mod support;

use std::sync::Arc;
use std::time::Duration;

use heapster_e2e::checks::run as suite;
use heapster_e2e::checks::{self, CheckConfig, Ctx};
use heapster_e2e::kubeclient;
use kind_sim::Scenario;
use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Some(tool) = kind_sim::shim::invoked_as() {
        std::process::exit(kind_sim::shim::run(tool));
    }
    let args = Arguments::from_args();
    // Every trial's scratch folder (tempfile's, and the fakes' children's) in memory where
    // possible. Set before any thread starts, so no other thread reads the environment.
    let scratch = kind_sim::scratch_root();
    // SAFETY: single-threaded here: the runtime and the trials start below.
    unsafe { std::env::set_var("TMPDIR", &scratch) };
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime"),
    );
    if let Ok(kubeconfig) = std::env::var("HEAPSTER_E2E_KUBECONFIG") {
        std::process::exit(against_cluster(&rt, &kubeconfig, args));
    }
    let mut trials = Vec::new();
    trials.extend(support::upgrade::trials(&rt));
    trials.extend(support::scenarios::trials(&rt));
    trials.extend(support::metrics_server::trials(&rt));
    trials.extend(support::headlamp::trials(&rt));
    trials.extend(support::relocated::trials(&rt));
    trials.extend(support::ground_truth::trials(&rt));
    trials.extend(support::emulation::trials(&rt));
    trials.extend(support::pipeline::trials(&rt));
    trials.extend(support::setup::trials(&rt));
    trials.extend(support::sim::trials(&rt));
    // Keep the simulated cluster alive for the duration of its trials.
    let (_stack, check_trials) = simulated_checks(&rt);
    trials.extend(check_trials);
    trials.extend(support::pinned::trials());
    trials.extend(support::layout::trials());
    // The trials that wait longest start first, so the run ends with the short ones.
    trials.sort_by_key(|t| std::cmp::Reverse(expected_wait(t.name())));
    let mut args = args;
    // Most trials wait on (simulated) clusters, not on the CPU: a trial spends about a
    // quarter of its time on it, so 16 at once keep 2 cores busy without queueing for them.
    args.test_threads.get_or_insert(16);
    // The user's own runs keep their kubeconfigs and evidence in target/e2e/: the suite
    // writes only under its scratch folders, and fails if that folder changed.
    let users_runs = heapster_e2e::pipeline::e2e_dir(&support::root());
    let before = kind_sim::files_under(&users_runs);
    let conclusion = libtest_mimic::run(&args, trials);
    let changed = kind_sim::changed_files(&before, &kind_sim::files_under(&users_runs));
    if !changed.is_empty() {
        eprintln!(
            "error: the suite changed {}, which holds the user's own runs:\n  {}",
            users_runs.display(),
            changed.join("\n  ")
        );
        std::process::exit(101);
    }
    conclusion.exit();
}

/// How long a trial waits, roughly, by what its name says it does: a scheduling hint (a
/// wrong one costs time, never a result). Longest: the API server's transient errors (each
/// request's 429 carries `Retry-After: 1`, and a run makes many in a row) and an upgrade
/// whose dark stretch must outlast its bound. Then states that may heal (the checks wait
/// out their timeout), ground truth and upgrades.
fn expected_wait(name: &str) -> u8 {
    const LONGEST: &[&str] = &["transient_api_errors", "a_dark_stretch_longer"];
    const LONG: &[&str] = &["scenario::", "ground_truth::", "upgrade", "diagnose::"];
    if LONGEST.iter().any(|p| name.contains(p)) {
        2
    } else if LONG.iter().any(|p| name.contains(p)) {
        1
    } else {
        0
    }
}

/// The checks, one trial each, against a healthy simulated cluster brought up with the
/// harness's own apply and rollout.
fn simulated_checks(rt: &Arc<tokio::runtime::Runtime>) -> (support::SimStack, Vec<Trial>) {
    let stack = support::SimStack::start(rt, "sim", Scenario::Healthy, support::stack_images());
    stack
        .apply_and_wait(rt, &support::manifests_dir(), Duration::from_secs(120))
        .expect("the shipped stack rolls out on a healthy simulated cluster");
    let mut ctx = Ctx::new(
        stack.client.clone(),
        support::check_config(Duration::from_secs(60)),
    );
    let plan = rt.block_on(checks::plan(&mut ctx)).expect("plan");
    assert!(!plan.is_empty(), "an empty check plan is a bug");
    let record = Arc::new(std::sync::Mutex::new(Vec::new()));
    (
        stack,
        suite::trials(rt.handle(), Arc::new(ctx), plan, "checks::", record),
    )
}

fn against_cluster(rt: &tokio::runtime::Runtime, kubeconfig: &str, args: Arguments) -> i32 {
    let context = std::env::var("HEAPSTER_E2E_CONTEXT").ok();
    let client = match rt.block_on(kubeclient::connect(
        Some(std::path::Path::new(kubeconfig)),
        context.as_deref(),
    )) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return heapster_e2e::exit::HARNESS;
        }
    };
    let mut ctx = Ctx::new(client, CheckConfig::default());
    match rt.block_on(checks::plan(&mut ctx)) {
        Ok(plan) => {
            let progress = heapster_e2e::report::progress::Style::for_console(
                false,
                CheckConfig::default().timeout,
            );
            match heapster_e2e::report::libtest::run_trials(
                rt.handle(),
                Arc::new(ctx),
                plan,
                args,
                progress,
            ) {
                Ok(outcomes) => suite::exit_code(&outcomes),
                Err(e) => {
                    eprintln!("error: {e}");
                    heapster_e2e::exit::HARNESS
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            heapster_e2e::exit::HARNESS
        }
    }
}
