//! The move off heapster on upstream's clocks: `cargo bench --bench switch`.
//!
//! `e2e --stack metrics-server --upgrade-from heapster` against a simulated cluster that
//! keeps `Timing::realistic()`: pods running 2 s after they are admitted, heapster on its
//! own housekeeping clock, metrics-server and the scraper at their manifests'
//! `--metric-resolution` (15 s), metrics-server's readiness probe as shipped (20 s initial
//! delay, every 10 s), the dashboards re-checking their metric client every
//! `--metric-client-check-period`.
//! Prints each phase and the verdict on the dashboards' node metrics through the switch:
//! how long no dashboard showed them, against the bound the manifests give.

mod support;

use heapster_e2e::stack::Stack;
use kind_sim::Timing;

fn main() {
    if !support::should_run() {
        return;
    }
    let rt = support::runtime();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (result, report) = support::e2e(&rt, "switch", Timing::realistic(), |o| {
        *o = o.clone().for_stack(root, Stack::MetricsServer);
        o.upgrade_from = Some(Stack::Heapster.manifests(root));
    });
    println!("\nheapster -> metrics-server on upstream's clocks (simulated cluster)");
    support::print_phases(&report.timings());
    let gap = result
        .outcomes
        .iter()
        .find(|o| o.name == "upgrade::no_gap_in_dashboard_node_metrics")
        .expect("the switch was judged");
    println!("{}: {}", gap.name, gap.message);
    println!(
        "total {:.1}s, {} checks before, {} after",
        report.elapsed().as_secs_f64(),
        result.before.len(),
        result.outcomes.len()
    );
}
