//! Running the checks: each polls until it passes, fails for certain, or the shared
//! deadline passes (then it fails with its last reason). Run as libtest-mimic trials for
//! people and CI, or all at once for programs (tests, the pipeline).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Arguments, Conclusion, Failed, Trial};
use tokio::time::Instant;

use crate::checks::{Check, Ctx, Probe, Summary};
use crate::verdict::Verdict;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    pub ignored: bool,
    pub message: String,
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
            Verdict::Wait(_) => {
                let next = (Instant::now() + ctx.config.poll).min(deadline);
                tokio::time::sleep_until(next).await;
            }
        }
    }
}

/// Run every check concurrently; outcomes in check order.
pub async fn run_all(ctx: Arc<Ctx>, checks: Vec<Check>) -> Vec<Outcome> {
    let deadline = Instant::now() + ctx.config.timeout;
    let runs = checks.into_iter().map(|c| {
        let ctx = ctx.clone();
        async move {
            if let Some(reason) = c.ignored {
                return Outcome {
                    name: c.name,
                    passed: false,
                    ignored: true,
                    message: reason,
                };
            }
            let result = poll(ctx, c.probe, deadline).await;
            Outcome {
                name: c.name,
                passed: result.is_ok(),
                ignored: false,
                message: result.unwrap_or_else(|e| e),
            }
        }
    });
    futures::future::join_all(runs).await
}

/// The checks as libtest trials named `{prefix}{check}`, sharing one deadline from now.
pub fn trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    prefix: &str,
) -> Vec<Trial> {
    let deadline = Instant::now() + ctx.config.timeout;
    checks
        .into_iter()
        .map(|c| {
            let ignored = c.ignored.is_some();
            let (rt, ctx, probe) = (rt.clone(), ctx.clone(), c.probe.clone());
            Trial::test(format!("{prefix}{}", c.name), move || {
                rt.block_on(poll(ctx, probe, deadline))
                    .map(|_| ())
                    .map_err(Failed::from)
            })
            .with_ignored_flag(ignored)
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
/// Ignored checks are announced with their reason first.
pub fn run_trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    mut args: Arguments,
) -> Conclusion {
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
    let conclusion = libtest_mimic::run(&args, trials(rt, ctx.clone(), checks, ""));
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
    conclusion
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
        let cpu = row
            .cpu_millicores
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        let mem = row
            .memory_bytes
            .map(|m| format!("{:.0}", m as f64 / 1048576.0))
            .unwrap_or_else(|| "-".into());
        let age = row
            .age
            .map(crate::duration::format)
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  {node:<width$}  {cpu:>10}  {mem:>12}  {age:>8}");
    }
    let _ = writeln!(
        out,
        "  pods with metrics: {}/{} running in kube-system",
        summary.pods_with_metrics.len(),
        summary.pods_running
    );
    out
}

/// Failures repeated at the end, one block each, like cargo-nextest.
pub fn render_failures(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes.iter().filter(|o| !o.passed && !o.ignored) {
        let _ = writeln!(
            out,
            "  FAIL {}\n       {}",
            o.name,
            o.message.replace('\n', "\n       ")
        );
    }
    out
}

pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::NodeRow;

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

    #[test]
    fn failures_are_repeated_with_their_message() {
        let o = vec![
            Outcome {
                name: "a".into(),
                passed: true,
                ignored: false,
                message: "ok".into(),
            },
            Outcome {
                name: "b".into(),
                passed: false,
                ignored: false,
                message: "no heapster service".into(),
            },
        ];
        let r = render_failures(&o);
        assert!(
            r.contains("FAIL b") && r.contains("no heapster service") && !r.contains("FAIL a"),
            "{r}"
        );
    }
}
