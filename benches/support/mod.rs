//! What both benchmarks share: one `e2e` run through fake kind/docker against simulated
//! clusters whose programs keep `timing`. The benchmark binary doubles as the fakes.
// Each benchmark uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::pipeline::{self, ChecksMode, Options, RunResult};
use heapster_e2e::report::Report;
use heapster_e2e::{manifests, versions};
use kind_sim::{Timing, World, WorldConfig};

/// Be the fake tool when started as one; say whether the benchmark should run at all
/// (`cargo test --benches` only lists).
pub fn should_run() -> bool {
    if let Some(tool) = kind_sim::shim::invoked_as() {
        std::process::exit(kind_sim::shim::run(tool));
    }
    !std::env::args().any(|a| a == "--list")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One healthy `e2e` run; `adjust` sets what this benchmark varies.
pub fn e2e(
    rt: &tokio::runtime::Runtime,
    name: &str,
    timing: Timing,
    adjust: impl FnOnce(&mut Options),
) -> (RunResult, Report) {
    let (result, report) = e2e_on(rt, name, timing, kind_sim::Scenario::Healthy, |o| {
        o.timeout = Duration::from_secs(120);
        o.checks.timeout = Duration::from_secs(120);
        adjust(o);
    });
    assert_eq!(
        result.exit,
        0,
        "benchmark run failed: {:?}\n{}",
        result.error,
        report.lines().join("\n")
    );
    (result, report)
}

/// One `e2e` run on clusters playing `scenario`, with the harness's default timeouts
/// unless `adjust` sets them; whatever its exit.
pub fn e2e_on(
    rt: &tokio::runtime::Runtime,
    name: &str,
    timing: Timing,
    scenario: kind_sim::Scenario,
    adjust: impl FnOnce(&mut Options),
) -> (RunResult, Report) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let world = World::new(WorldConfig {
        registry: versions::all_stack_images()
            .map(|i| i.reference())
            .chain([versions::LOAD_IMAGE.reference()])
            .map(|i| (i, None))
            .collect(),
        timing: Some(timing),
        scenario,
        ..Default::default()
    });
    let control = rt.block_on(world.serve()).expect("control");
    let dir = tempfile::tempdir().expect("tmp");
    let bin = kind_sim::shim::install(
        &dir.path().join("bin"),
        &std::env::current_exe().expect("exe"),
        kind_sim::shim::TOOLS,
    )
    .expect("fakes");
    let sh = xshell::Shell::new().expect("shell");
    sh.change_dir(root);
    sh.set_var("PATH", &bin);
    sh.set_var(kind_sim::shim::CONTROL_ENV, control.to_string());
    sh.set_var("HOME", dir.path());
    sh.set_var("KUBECONFIG", dir.path().join("kubeconfig"));
    let mut opts = Options::new(root, name, versions::DEFAULT_K8S_VERSION).expect("pinned version");
    opts.work_dir = dir.path().join("work");
    opts.artifacts = dir.path().join("artifacts");
    adjust(&mut opts);
    let report = Report::new(false);
    let result = pipeline::run(&sh, rt, &opts, ChecksMode::Collect, &Cancel::new(), &report);
    (result, report)
}

/// A healthy simulated cluster with the stack rolled out, its kubeconfig (in the returned
/// folder) and a client.
pub fn healthy_cluster(
    rt: &tokio::runtime::Runtime,
    timing: Timing,
) -> (
    kind_sim::ClusterHandle,
    tempfile::TempDir,
    std::path::PathBuf,
    kube::Client,
) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = manifests::load_dir(&root.join("manifests")).expect("manifests");
    let mut config = kind_sim::SimConfig::scenario("bench", kind_sim::Scenario::Healthy);
    config.timing = timing;
    config.preloaded_images = manifests::images(&docs);
    let handle = rt.block_on(kind_sim::start(config)).expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = dir.path().join("kubeconfig");
    handle.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let client = rt
        .block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))
        .expect("client");
    rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))
        .expect("apply");
    rt.block_on(heapster_e2e::pipeline::rollout::wait(
        &client,
        &manifests::deployments(&docs),
        Duration::from_secs(60),
        &Cancel::new(),
    ))
    .expect("rollout");
    (handle, dir, kubeconfig, client)
}

/// Each phase's start, end and duration, one line each.
pub fn print_phases(spans: &[heapster_e2e::report::Span]) {
    println!(
        "{:<18} {:>8} {:>8} {:>8}",
        "phase", "start s", "end s", "took s"
    );
    for s in spans {
        println!(
            "{:<18} {:>8.1} {:>8.1} {:>8.1}",
            s.phase,
            s.start.as_secs_f64(),
            s.end().as_secs_f64(),
            s.took.as_secs_f64()
        );
    }
}
