//! The harness's own overhead per phase: `cargo bench --bench overhead`.
//!
//! Runs the whole e2e pipeline through fake kind/docker against simulated clusters with
//! no simulated delays (pods start at once, heapster's first batch is immediate), so the
//! time left is the harness's and the simulator's own. Prints mean/min/max per phase.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::pipeline::{self, ChecksMode, Options};
use heapster_e2e::report::Report;
use heapster_e2e::{manifests, versions};
use kind_sim::{Timing, World, WorldConfig};

const RUNS: usize = 5;

fn main() {
    if let Some(tool) = kind_sim::shim::invoked_as() {
        std::process::exit(kind_sim::shim::run(tool));
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; there is nothing to test here.
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let images =
        manifests::images(&manifests::load_dir(&root.join("manifests")).expect("manifests"));
    let mut samples: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for run in 0..RUNS {
        let world = World::new(WorldConfig {
            registry: images.iter().map(|i| (i.clone(), None)).collect(),
            timing: Some(Timing::instant()),
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
        let mut opts = Options::new(root, &format!("bench-{run}"), versions::DEFAULT_K8S_VERSION)
            .expect("pinned version");
        opts.timeout = Duration::from_secs(60);
        opts.work_dir = dir.path().join("work");
        opts.artifacts = dir.path().join("artifacts");
        opts.checks = CheckConfig {
            poll: Duration::from_millis(50),
            timeout: Duration::from_secs(60),
            ..CheckConfig::default()
        };
        opts.load = None;
        let report = Report::new(false);
        let result = pipeline::run(
            &sh,
            &rt,
            &opts,
            ChecksMode::Collect,
            &Cancel::new(),
            &report,
        );
        assert_eq!(result.exit, 0, "benchmark run failed: {:?}", result.error);
        for (phase, took) in report.timings() {
            if !order.contains(&phase) {
                order.push(phase.clone());
            }
            samples.entry(phase).or_default().push(took);
        }
        samples
            .entry("Total".into())
            .or_default()
            .push(report.elapsed());
    }
    order.push("Total".into());
    println!(
        "harness overhead per phase, {RUNS} runs on the simulated cluster with no simulated delays"
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9}",
        "phase", "mean ms", "min ms", "max ms"
    );
    for phase in order {
        let s = &samples[&phase];
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let mean = s.iter().map(ms).sum::<f64>() / s.len() as f64;
        let min = s.iter().map(ms).fold(f64::MAX, f64::min);
        let max = s.iter().map(ms).fold(0.0, f64::max);
        println!("{phase:<12} {mean:>9.1} {min:>9.1} {max:>9.1}");
    }
}
