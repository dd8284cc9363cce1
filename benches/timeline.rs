//! Wall time of a healthy `e2e` on a realistic timeline: `cargo bench --bench timeline`.
//!
//! The simulated cluster keeps `Timing::timeline()`: pods ready 2 s after they start,
//! heapster's first batch 5 s after it starts and then at its `--metric_resolution`, the
//! dashboard re-checking heapster every `--metric-client-check-period` of the manifests.
//! kind and docker themselves answer at once here (on a real machine cluster creation adds
//! tens of seconds), so what is measured is how the harness orders the waits the stack
//! makes. Prints each phase's start and end, and the critical path: the chain of phases
//! that decided the total.

mod support;

use std::time::Duration;

use heapster_e2e::report::Span;
use kind_sim::Timing;

const RUNS: usize = 2;

fn main() {
    if !support::should_run() {
        return;
    }
    let rt = support::runtime();
    let mut totals = Vec::new();
    for run in 0..RUNS {
        let (result, report) =
            support::e2e(&rt, &format!("timeline-{run}"), Timing::timeline(), |_| {});
        let spans = report.timings();
        let total = report.elapsed();
        totals.push(total);
        println!("\nrun {run}: healthy e2e with the calibrated load, on the simulated timeline");
        support::print_phases(&spans);
        let first = result.outcomes.iter().filter(|o| o.passed).count();
        println!(
            "critical path: {}",
            critical_path(&spans)
                .iter()
                .map(|s| format!("{} {:.1}s", s.phase, s.took.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" -> ")
        );
        println!("total {:.1}s, {first} checks passed", total.as_secs_f64());
    }
    let best = totals.iter().min().copied().unwrap_or_default();
    println!(
        "\nhealthy e2e on the simulated timeline: best of {RUNS} {:.1}s (goal 15s)",
        best.as_secs_f64()
    );
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
