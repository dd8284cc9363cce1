//! Wall time of a healthy `e2e` of each stack on upstream's clocks:
//! `cargo bench --bench timeline`.
//!
//! The simulated cluster keeps `Timing::realistic()`: pods running 2 s after they are
//! admitted, every program on its own timers from the manifests (heapster's housekeeping
//! windows and 5 s export offset, metrics-server's and the scraper's `--metric-resolution`,
//! the dashboards' `--metric-client-check-period`) and the kubelet's readiness probes as
//! shipped (initial delay, period, thresholds). kind and docker themselves answer at once
//! here (on a real machine cluster creation adds tens of seconds), so what is measured is
//! how the harness orders the waits the stack makes. Prints each phase's start and end,
//! and the critical path: the chain of phases that decided the total.

mod support;

use std::time::Duration;

use heapster_e2e::report::Span;
use heapster_e2e::stack::Stack;
use kind_sim::Timing;

const RUNS: usize = 2;

fn main() {
    if !support::should_run() {
        return;
    }
    let rt = support::runtime();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut summary = Vec::new();
    for stack in Stack::ALL.iter().copied() {
        let mut totals = Vec::new();
        for run in 0..RUNS {
            let name = format!("timeline-{}-{run}", stack.name());
            let (result, report) = support::e2e(&rt, &name, Timing::realistic(), |o| {
                *o = o.clone().for_stack(root, stack);
            });
            let spans = report.timings();
            let total = report.elapsed();
            totals.push(total);
            println!(
                "\nrun {run}: healthy e2e of the {stack} stack with the calibrated load, on upstream's clocks"
            );
            support::print_phases(&spans);
            let passed = result.outcomes.iter().filter(|o| o.passed).count();
            println!(
                "critical path: {}",
                critical_path(&spans)
                    .iter()
                    .map(|s| format!("{} {:.1}s", s.phase, s.took.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            );
            println!("total {:.1}s, {passed} checks passed", total.as_secs_f64());
        }
        let best = totals.iter().min().copied().unwrap_or_default();
        summary.push(format!(
            "{stack}: best of {RUNS} {:.1}s",
            best.as_secs_f64()
        ));
    }
    println!("\nhealthy e2e on upstream's clocks (simulated cluster):");
    for line in summary {
        println!("  {line}");
    }
}

/// From the phase that ended last, back through the phase that ended last before each
/// one started: what the total waited on. Spans are in the order they ended.
fn critical_path(spans: &[Span]) -> Vec<Span> {
    let slack = Duration::from_millis(50);
    let mut path = Vec::new();
    let mut current = spans.iter().enumerate().max_by_key(|(_, s)| s.end());
    while let Some((at, s)) = current {
        path.push(s.clone());
        current = spans[..at]
            .iter()
            .enumerate()
            .filter(|(_, p)| p.end() <= s.start + slack)
            .max_by_key(|(_, p)| p.end());
    }
    path.reverse();
    path
}
