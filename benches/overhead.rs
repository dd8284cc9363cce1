//! The harness's own overhead per phase: `cargo bench --bench overhead`.
//!
//! Runs the whole e2e pipeline through fake kind/docker against simulated clusters on
//! `Timing::instant()`: pods start at once and heapster's first batch is immediate, but the
//! clocks that cannot be zero still run: heapster exports, metrics-server scrapes, the
//! scraper updates and the dashboard checks every 50 ms, a probe second lasts 1 ms, and the
//! controllers tick every 100 ms. What is left is the harness's and the simulator's own time
//! plus those short clocks. Prints mean/min/max per phase.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use heapster_e2e::checks::CheckConfig;
use kind_sim::Timing;

const RUNS: usize = 5;

fn main() {
    if !support::should_run() {
        return;
    }
    let rt = support::runtime();
    let mut samples: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for run in 0..RUNS {
        let (_, report) = support::e2e(&rt, &format!("bench-{run}"), Timing::instant(), |opts| {
            opts.timeout = Duration::from_secs(60);
            opts.checks = CheckConfig {
                poll: Duration::from_millis(50),
                timeout: Duration::from_secs(60),
                ..CheckConfig::default()
            };
            opts.load = None;
        });
        for span in report.timings() {
            let (phase, took) = (span.phase, span.took);
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
        "harness overhead per phase, {RUNS} runs on the simulated cluster (pods at once, 50 ms program clocks)"
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
