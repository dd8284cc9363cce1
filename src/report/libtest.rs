//! The checks as libtest trials, with libtest's output and flags (`--list`, filters,
//! `--format`), then what libtest cannot show: the metrics table, each known cause once,
//! the counts, and a waiting line while checks wait.

use std::sync::{Arc, Mutex};

use libtest_mimic::Arguments;

use super::{progress, say, summary};
use crate::checks::run::{self, Outcome};
use crate::checks::{Check, Ctx};

/// No planned check matched the name filters: a typo must not pass as an empty run.
#[derive(Debug, thiserror::Error)]
#[error("no check matches {0}: list them with `-- --list`")]
pub struct NoCheckMatches(pub String);

/// Run the checks as trials with libtest's output and flags; then the metrics table, the
/// known causes (each once, with the checks it explains) and the counts. Ignored checks
/// are announced with their reason first. A closed stdout stops the output, not the
/// checks. Returns each check's outcome, in name order.
pub fn run_trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    mut args: Arguments,
    progress: progress::Style,
) -> Result<Vec<Outcome>, NoCheckMatches> {
    // Checks wait on the network, not the CPU.
    args.test_threads.get_or_insert(16);
    let list_only = args.list;
    let record = Arc::new(Mutex::new(Vec::new()));
    let notes: Vec<String> = checks
        .iter()
        .filter(|c| c.ignored.is_some())
        .map(|c| {
            format!(
                "note: {} is ignored: {}",
                c.name,
                c.ignored.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let kept = checks.clone();
    let trials = run::trials(rt, ctx.clone(), checks, "", record.clone());
    let selected: std::collections::BTreeSet<String> = trials
        .iter()
        .filter(|t| !args.is_filtered_out(t))
        .map(|t| t.name().to_string())
        .collect();
    if !list_only && trials.iter().all(|t| args.is_filtered_out(t)) {
        let filter = args
            .filter
            .clone()
            .map(|f| format!("{f:?}"))
            .unwrap_or_else(|| format!("the filters (skipping {:?})", args.skip));
        return Err(NoCheckMatches(filter));
    }
    for note in notes {
        say(&note);
    }
    let reporter = (!list_only).then(|| progress::spawn(rt, ctx.clone(), progress));
    // libtest-mimic unwraps its writes: a closed stdout panics its printer. The trials
    // still run to the end (the scope joins them), so their outcomes are kept.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        libtest_mimic::run(&args, trials)
    }));
    drop(reporter);
    let mut outcomes: Vec<Outcome> = std::mem::take(&mut *record.lock().expect("outcomes lock"))
        .into_iter()
        .filter(|o| selected.contains(&o.name))
        .collect();
    if !list_only {
        // If the printer died before it started them, the selected checks still run,
        // silently: a closed stdout must not turn into a pass.
        let missing: Vec<Check> = kept
            .into_iter()
            .filter(|c| selected.contains(&c.name) && !outcomes.iter().any(|o| o.name == c.name))
            .collect();
        if !missing.is_empty() {
            outcomes.extend(rt.block_on(run::run_all(ctx.clone(), missing)));
        }
    }
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    if !list_only {
        say(&summary::render(
            &ctx.summary.lock().expect("summary lock"),
            ctx.config.stack,
        ));
        say(&summary::render_causes(&outcomes));
        say(&summary::counts(&outcomes));
    }
    Ok(outcomes)
}
