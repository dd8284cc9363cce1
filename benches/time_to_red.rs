//! How soon each scenario turns red, per stack, with the default `--timeout` (5 m) on
//! upstream's clocks: `cargo bench --bench time_to_red`.
//!
//! Every scenario the simulator has runs once per stack it acts on, through `e2e` with
//! fake kind and docker against a simulated cluster keeping `Timing::realistic()` (the
//! programs' own flags and probes from the manifests). Per run it prints the exit, the
//! seconds to the verdict (the whole run, and the checks alone), the bound the checks must
//! keep (the largest patience of the failing checks: two of the slowest upstream period
//! they depend on and 10 s; "certain" when the run stopped before the checks), and the
//! causes named (or how many failures have none). Runs go in parallel; each waits on
//! upstream's timers, not on the CPU. `TTR_ONLY=heapster/zero-metrics,...` runs only
//! those; `TTR_DETAIL=1` also prints each failure no known cause explains.

mod support;

use std::time::Duration;

use heapster_e2e::checks::diagnose;
use heapster_e2e::checks::patience::Clocks;
use heapster_e2e::pipeline::RunResult;
use heapster_e2e::report::Report;
use heapster_e2e::stack::Stack;
use kind_sim::{Scenario, Timing};

struct Row {
    stack: Stack,
    scenario: Scenario,
    exit: i32,
    total: Duration,
    checks: Option<Duration>,
    /// The failing checks' largest patience, or what stands for it.
    bound: String,
    causes: String,
}

fn main() {
    if !support::should_run() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let only = std::env::var("TTR_ONLY").ok();
    let runs: Vec<(Stack, Scenario)> = Stack::ALL
        .iter()
        .flat_map(|stack| {
            Scenario::ALL
                .iter()
                .filter(|s| s.applies_to(stack.name()))
                .map(move |s| (*stack, *s))
        })
        .filter(|(stack, s)| {
            only.as_deref().is_none_or(|o| {
                o.split(',')
                    .any(|x| x == format!("{}/{}", stack.name(), s.name()))
            })
        })
        .collect();
    let threads: Vec<_> = runs
        .into_iter()
        .enumerate()
        .map(|(i, (stack, scenario))| {
            std::thread::spawn(move || {
                let rt = support::runtime();
                let name = format!("red{i}");
                let (result, report) =
                    support::e2e_on(&rt, &name, Timing::realistic(), scenario, |o| {
                        *o = o.clone().for_stack(root, stack);
                    });
                row(stack, scenario, &result, &report, root)
            })
        })
        .collect();
    let rows: Vec<Row> = threads
        .into_iter()
        .map(|t| t.join().expect("run"))
        .collect();
    println!(
        "time to verdict per scenario, default --timeout 5m, simulated cluster on upstream's clocks"
    );
    for stack in Stack::ALL {
        println!("\n{stack} stack");
        println!(
            "  {:<32} {:>4} {:>8} {:>8} {:>8}  causes",
            "scenario", "exit", "total s", "checks s", "bound s"
        );
        for r in rows.iter().filter(|r| r.stack == *stack) {
            let secs =
                |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64()));
            println!(
                "  {:<32} {:>4} {:>8.1} {:>8} {:>8}  {}",
                r.scenario.name(),
                r.exit,
                r.total.as_secs_f64(),
                secs(r.checks),
                r.bound,
                r.causes
            );
        }
    }
}

fn row(
    stack: Stack,
    scenario: Scenario,
    result: &RunResult,
    report: &Report,
    root: &std::path::Path,
) -> Row {
    let docs = heapster_e2e::manifests::load_dir(&stack.manifests(root)).expect("manifests");
    let clocks = Clocks::of(&docs);
    let failed: Vec<_> = result.outcomes.iter().filter(|o| o.failed()).collect();
    // A run stopped in a phase (`phase::rollout`) ended on a certain cause, not a wait.
    let bound = failed
        .iter()
        .filter(|o| !o.name.starts_with("phase::"))
        .map(|o| clocks.patience(&o.name, stack).0)
        .max();
    let checks = report
        .timings()
        .iter()
        .find(|s| s.phase == "Checks")
        .map(|s| s.took);
    let groups = diagnose::group(
        failed
            .iter()
            .map(|o| (o.name.as_str(), o.causes.as_slice())),
    );
    let unexplained = failed.iter().filter(|o| o.causes.is_empty()).count();
    if std::env::var_os("TTR_DETAIL").is_some() {
        for o in failed.iter().filter(|o| o.causes.is_empty()) {
            println!(
                "{stack}/{}: no known cause: {}: {}",
                scenario.name(),
                o.name,
                o.one_line()
            );
        }
    }
    let mut causes: Vec<String> = groups
        .iter()
        .map(|(c, checks)| format!("{} ({})", c.hint.symptom, checks.len()))
        .collect();
    if let Some(e) = &result.error {
        let first = e.lines().next().unwrap_or_default();
        let hints = diagnose::hints_for(e, stack);
        causes.insert(
            0,
            match hints.first() {
                Some(h) => format!("stopped: {}", h.symptom),
                None => format!("stopped: {}", first.chars().take(90).collect::<String>()),
            },
        );
    }
    if unexplained > 0 {
        causes.push(format!("WITHOUT A KNOWN CAUSE: {unexplained}"));
    }
    if causes.is_empty() {
        causes.push("green".into());
    }
    Row {
        stack,
        scenario,
        exit: result.exit,
        total: report.elapsed(),
        checks,
        bound: match (bound, &result.error) {
            (Some(b), _) => format!("{:.0}", b.as_secs_f64()),
            (None, Some(_)) => "certain".into(),
            (None, None) => "-".into(),
        },
        causes: causes.join("; "),
    }
}
