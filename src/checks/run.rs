//! Running the checks: each polls until it passes, fails for certain, or the shared
//! deadline passes (then it fails with its last reason). Run as libtest-mimic trials for
//! people and CI, or all at once for programs (tests, the pipeline).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Arguments, Conclusion, Failed, Trial};
use tokio::time::Instant;

use super::{Check, Ctx, Probe, Summary, Verdict};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub ignored: bool,
    /// What was seen (pass) or why it failed, with known causes and fixes below it.
    pub message: String,
    pub duration: Duration,
}

impl Outcome {
    /// A check that ran: passed or failed, with what was seen.
    pub fn checked(name: impl Into<String>, passed: bool, message: impl Into<String>) -> Self {
        Outcome {
            name: name.into(),
            passed,
            ignored: false,
            message: message.into(),
            duration: Duration::ZERO,
        }
    }

    /// A check that was not run, with the reason.
    pub fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Outcome {
            ignored: true,
            ..Outcome::checked(name, false, reason)
        }
    }
}

/// Look again until a definite answer or the deadline.
pub async fn poll(ctx: Arc<Ctx>, probe: Probe, deadline: Instant) -> Result<String, String> {
    loop {
        match probe(ctx.clone()).await {
            Verdict::Pass(m) => return Ok(m),
            Verdict::Fail(m) => return Err(m),
            Verdict::Wait(reason) if Instant::now() >= deadline => {
                return Err(format!(
                    "still failing after {}: {reason}",
                    crate::duration::format(ctx.config.timeout)
                ));
            }
            Verdict::Wait(reason) => {
                let next = (Instant::now() + ctx.config.poll).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = ctx.cancel.cancelled() => return Err(format!("interrupted while waiting: {reason}")),
                }
            }
        }
    }
}

/// Run one check to its outcome; a failure comes with its known causes and fixes.
pub async fn run_check(ctx: Arc<Ctx>, name: String, probe: Probe, deadline: Instant) -> Outcome {
    let start = Instant::now();
    let result = poll(ctx.clone(), probe, deadline).await;
    let (passed, message) = match result {
        Ok(m) => (true, m),
        Err(m) => (false, ctx.explain(&m).await),
    };
    Outcome {
        name,
        passed,
        ignored: false,
        message,
        duration: start.elapsed(),
    }
}

fn ignored(c: &Check) -> Option<Outcome> {
    c.ignored
        .as_ref()
        .map(|reason| Outcome::skipped(c.name.clone(), reason.clone()))
}

/// Run every check concurrently; outcomes in check order.
pub async fn run_all(ctx: Arc<Ctx>, checks: Vec<Check>) -> Vec<Outcome> {
    let deadline = Instant::now() + ctx.config.timeout;
    let runs = checks.into_iter().map(|c| {
        let ctx = ctx.clone();
        async move {
            match ignored(&c) {
                Some(o) => o,
                None => run_check(ctx, c.name, c.probe, deadline).await,
            }
        }
    });
    futures::future::join_all(runs).await
}

/// The checks as libtest trials named `{prefix}{check}`, sharing one deadline from now.
/// Each outcome is also recorded in `record`, for reports.
pub fn trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    prefix: &str,
    record: Arc<Mutex<Vec<Outcome>>>,
) -> Vec<Trial> {
    let deadline = Instant::now() + ctx.config.timeout;
    checks
        .into_iter()
        .map(|c| {
            if let Some(o) = ignored(&c) {
                record.lock().expect("outcomes lock").push(o);
            }
            let is_ignored = c.ignored.is_some();
            let (rt, ctx, probe, record, name) = (
                rt.clone(),
                ctx.clone(),
                c.probe.clone(),
                record.clone(),
                c.name.clone(),
            );
            Trial::test(format!("{prefix}{}", c.name), move || {
                let outcome = rt.block_on(run_check(ctx, name, probe, deadline));
                let result = if outcome.passed {
                    Ok(())
                } else {
                    Err(Failed::from(outcome.message.clone()))
                };
                record.lock().expect("outcomes lock").push(outcome);
                result
            })
            .with_ignored_flag(is_ignored)
        })
        .collect()
}

/// libtest-mimic's conclusion as the harness's exit code: 0 all passed, 1 a check failed.
/// (libtest's own `exit()` uses 101 for failures.)
pub fn exit_code(conclusion: &Conclusion) -> i32 {
    if conclusion.has_failed() {
        crate::exit::CHECK_FAILED
    } else {
        crate::exit::PASSED
    }
}

/// Run the checks as trials with libtest's output and flags, then print the summary.
/// Ignored checks are announced with their reason first. Returns libtest's conclusion
/// and each check's outcome, in name order.
pub fn run_trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    mut args: Arguments,
) -> (Conclusion, Vec<Outcome>) {
    for c in checks.iter().filter(|c| c.ignored.is_some()) {
        println!(
            "note: {} is ignored: {}",
            c.name,
            c.ignored.as_deref().unwrap_or_default()
        );
    }
    // Checks wait on the network, not the CPU.
    args.test_threads.get_or_insert(16);
    let list_only = args.list;
    let record = Arc::new(Mutex::new(Vec::new()));
    let conclusion = libtest_mimic::run(&args, trials(rt, ctx.clone(), checks, "", record.clone()));
    if !list_only {
        print!(
            "{}",
            render_summary(&ctx.summary.lock().expect("summary lock"))
        );
        println!(
            "{} passed, {} failed, {} ignored",
            conclusion.num_passed, conclusion.num_failed, conclusion.num_ignored
        );
    }
    let mut outcomes = std::mem::take(&mut *record.lock().expect("outcomes lock"));
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    (conclusion, outcomes)
}

/// The summary table: per node CPU, memory and age of the latest point; pods with metrics.
pub fn render_summary(summary: &Summary) -> String {
    let mut out = String::new();
    if summary.nodes.is_empty() && summary.pods_running == 0 {
        return out;
    }
    let width = summary
        .nodes
        .keys()
        .map(|n| n.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "\nMetrics seen (heapster model API)");
    let _ = writeln!(
        out,
        "  {:<width$}  {:>10}  {:>12}  {:>8}",
        "NODE", "CPU (m)", "MEMORY (MiB)", "AGE"
    );
    for (node, row) in &summary.nodes {
        let [cpu, mem, age] = row.cells();
        let _ = writeln!(out, "  {node:<width$}  {cpu:>10}  {mem:>12}  {age:>8}");
    }
    let _ = writeln!(
        out,
        "  pods with metrics: {}/{} running in kube-system",
        summary.pods_with_metrics.len(),
        summary.pods_running
    );
    for (what, (target, measured)) in &summary.ground_truth {
        let _ = writeln!(
            out,
            "  ground truth {what}: target {target}, measured {}",
            measured.as_deref().unwrap_or("-")
        );
    }
    out
}

pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::super::NodeRow;
    use super::*;

    #[test]
    fn summary_table_has_numbers_per_node() {
        let mut s = Summary {
            pods_running: 3,
            ..Default::default()
        };
        s.nodes.insert(
            "kind-worker".into(),
            NodeRow {
                cpu_millicores: Some(250),
                memory_bytes: Some(1024 * 1048576),
                age: Some(Duration::from_secs(7)),
            },
        );
        s.pods_with_metrics.insert("heapster-1".into());
        let t = render_summary(&s);
        assert!(
            t.contains("kind-worker")
                && t.contains("250")
                && t.contains("1024")
                && t.contains("7s"),
            "{t}"
        );
        assert!(t.contains("pods with metrics: 1/3"), "{t}");
    }
}
