//! Running the checks: each polls until it passes, fails for certain, or the shared
//! deadline passes (then it fails with its last reason). Run as libtest-mimic trials for
//! people and CI, or all at once for programs (tests, the pipeline).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Completion, Failed, Trial};
use tokio::time::Instant;

use super::diagnose::{Cause, explain};
use super::{Check, Ctx, Probe, Verdict};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    /// Not run, with the reason in `message`.
    pub ignored: bool,
    /// Stopped by Ctrl-C before it had an answer.
    pub interrupted: bool,
    /// What was seen (pass) or why it failed.
    pub message: String,
    /// Known causes of the failure, with their fixes (shown once per cause in reports).
    pub causes: Vec<Cause>,
    pub duration: Duration,
}

impl Outcome {
    /// A check that ran: passed or failed, with what was seen.
    pub fn checked(name: impl Into<String>, passed: bool, message: impl Into<String>) -> Self {
        Outcome {
            name: name.into(),
            passed,
            ignored: false,
            interrupted: false,
            message: message.into(),
            causes: Vec::new(),
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

    /// A check that ran and failed: the system under test is at fault.
    pub fn failed(&self) -> bool {
        !self.passed && !self.ignored && !self.interrupted
    }

    /// The message's first line, cut short, with a pointer to its most telling cause
    /// (shown once, with its fix, in the Known causes block).
    pub fn one_line(&self) -> String {
        const MAX: usize = 200;
        let first = self.message.lines().next().unwrap_or_default();
        let mut line: String = first.chars().take(MAX).collect();
        if first.chars().count() > MAX || self.message.lines().nth(1).is_some() {
            line.push_str(" …");
        }
        match self.causes.iter().min_by_key(|c| c.rank()) {
            Some(c) => format!("{line} [known cause below: {}]", c.hint.symptom),
            None => line,
        }
    }

    /// The message with the known causes below it.
    pub fn text(&self) -> String {
        explain(&self.message, &self.causes)
    }
}

/// Why polling stopped without a pass.
enum Stop {
    Failed(String),
    Interrupted(String),
}

/// When a check stops waiting: the run's deadline, or sooner its own patience.
#[derive(Debug, Clone)]
pub struct Until {
    pub deadline: Instant,
    /// What the failure message says it waited: `--timeout`, or the patience and why.
    pub waited: String,
}

impl Until {
    /// The sooner of the run's `deadline` (which `timeout` after the checks' start is) and
    /// `patience` from `now`.
    pub fn of(
        now: Instant,
        deadline: Instant,
        timeout: Duration,
        patience: Option<&(Duration, String)>,
    ) -> Until {
        let fmt = crate::duration::format;
        match patience {
            Some((wait, why)) if now + *wait < deadline => Until {
                deadline: now + *wait,
                waited: format!("{} ({why})", fmt(*wait)),
            },
            _ => Until {
                deadline,
                waited: fmt(timeout),
            },
        }
    }
}

/// Look again until a definite answer or the deadline. The last reason for waiting is
/// kept in the context, for the "still waiting" line, with when the check gives up.
async fn poll(ctx: &Arc<Ctx>, name: &str, probe: Probe, until: &Until) -> Result<String, Stop> {
    let deadline = until.deadline;
    let result = loop {
        match probe(ctx.clone()).await {
            Verdict::Pass(m) => break Ok(m),
            Verdict::Fail(m) => break Err(Stop::Failed(m)),
            Verdict::Wait(reason) if Instant::now() >= deadline => {
                break Err(Stop::Failed(format!(
                    "still failing after {}: {reason}",
                    until.waited
                )));
            }
            Verdict::Wait(reason) => {
                let left = deadline.saturating_duration_since(Instant::now());
                ctx.waiting(
                    name,
                    Some(&format!(
                        "{reason} (gives up in {})",
                        crate::duration::format(Duration::from_secs(left.as_secs()))
                    )),
                );
                let next = (Instant::now() + ctx.config.poll).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = ctx.cancel.cancelled() => break Err(Stop::Interrupted(format!("interrupted while waiting: {reason}"))),
                }
            }
        }
    };
    ctx.waiting(name, None);
    result
}

/// Run one check to its outcome, waiting at most its patience within `deadline`; a
/// failure comes with its known causes.
pub async fn run_check(
    ctx: Arc<Ctx>,
    name: String,
    probe: Probe,
    deadline: Instant,
    patience: Option<(Duration, String)>,
) -> Outcome {
    let start = Instant::now();
    // Patience counts from the plan (all checks begin together), not from when a trial
    // got its thread.
    let began = ctx.planned.map_or(start, Instant::from_std);
    let until = Until::of(began, deadline, ctx.config.timeout, patience.as_ref());
    let mut outcome = match poll(&ctx, &name, probe, &until).await {
        Ok(m) => Outcome::checked(name, true, m),
        Err(Stop::Failed(m)) => {
            let causes = ctx.explain(&m).await;
            Outcome {
                causes,
                ..Outcome::checked(name, false, m)
            }
        }
        Err(Stop::Interrupted(m)) => Outcome {
            interrupted: true,
            ..Outcome::checked(name, false, m)
        },
    };
    outcome.duration = start.elapsed();
    outcome
}

fn ignored(c: &Check) -> Option<Outcome> {
    c.ignored
        .as_ref()
        .map(|reason| Outcome::skipped(c.name.clone(), reason.clone()))
}

/// Run every check concurrently, until the context's deadline; outcomes in check order.
pub async fn run_all(ctx: Arc<Ctx>, checks: Vec<Check>) -> Vec<Outcome> {
    let deadline = ctx.deadline();
    let runs = checks.into_iter().map(|c| {
        let ctx = ctx.clone();
        async move {
            match ignored(&c) {
                Some(o) => o,
                None => run_check(ctx, c.name, c.probe, deadline, c.patience).await,
            }
        }
    });
    futures::future::join_all(runs).await
}

/// The checks as libtest trials named `{prefix}{check}`, sharing the context's deadline.
/// Each outcome is also recorded in `record`, for reports. An interrupted check is
/// ignored at runtime ("interrupted"), not failed: the system under test is not at fault.
pub fn trials(
    rt: &tokio::runtime::Handle,
    ctx: Arc<Ctx>,
    checks: Vec<Check>,
    prefix: &str,
    record: Arc<Mutex<Vec<Outcome>>>,
) -> Vec<Trial> {
    let deadline = ctx.deadline();
    checks
        .into_iter()
        .map(|c| {
            if let Some(o) = ignored(&c) {
                record.lock().expect("outcomes lock").push(o);
            }
            let is_ignored = c.ignored.is_some();
            let (rt, ctx, probe, record, name, patience) = (
                rt.clone(),
                ctx.clone(),
                c.probe.clone(),
                record.clone(),
                c.name.clone(),
                c.patience.clone(),
            );
            Trial::ignorable_test(format!("{prefix}{}", c.name), move || {
                let outcome = rt.block_on(run_check(ctx, name, probe, deadline, patience));
                let result = if outcome.passed {
                    Ok(Completion::Completed)
                } else if outcome.interrupted {
                    Ok(Completion::ignored_with("interrupted"))
                } else {
                    // One line each; causes are shown once each after all trials.
                    Err(Failed::from(outcome.one_line()))
                };
                record.lock().expect("outcomes lock").push(outcome);
                result
            })
            .with_ignored_flag(is_ignored)
        })
        .collect()
}

/// The outcomes' exit code: 0 all passed, 1 a check failed. (libtest's own `exit()` uses
/// 101 for failures.) An interrupted run is the caller's to map to 2.
pub fn exit_code(outcomes: &[Outcome]) -> i32 {
    if outcomes.iter().any(Outcome::failed) {
        crate::exit::CHECK_FAILED
    } else {
        crate::exit::PASSED
    }
}

/// How often a waiting check looks again: heapster's data appears at its batch times, so
/// a second's delay at most; one request per waiting check per second is no load for an
/// API server.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_gives_up_at_its_patience_or_the_deadline_whichever_is_sooner() {
        let now = Instant::now();
        let timeout = Duration::from_secs(300);
        let deadline = now + timeout;
        let patience = (Duration::from_secs(22), "2 × x (6s) + 10s".to_string());
        let soon = Until::of(now, deadline, timeout, Some(&patience));
        assert_eq!(soon.deadline, now + Duration::from_secs(22));
        assert_eq!(soon.waited, "22s (2 × x (6s) + 10s)");
        // Patience beyond the deadline: the deadline, named by --timeout.
        let late = Until::of(now, now + Duration::from_secs(5), timeout, Some(&patience));
        assert_eq!(late.deadline, now + Duration::from_secs(5));
        assert_eq!(late.waited, "5m");
        let equal = Until::of(now, now + Duration::from_secs(22), timeout, Some(&patience));
        assert_eq!(equal.waited, "5m");
        let none = Until::of(now, deadline, timeout, None);
        assert_eq!(none.deadline, deadline);
    }

    #[test]
    fn a_failure_is_one_line_pointing_at_its_cause() {
        let mut o = Outcome::checked("x", false, "a\nb");
        assert_eq!(o.one_line(), "a …");
        o.message = "y".repeat(300);
        assert_eq!(o.one_line().chars().count(), 202);
        o.message = "y".repeat(200);
        assert_eq!(o.one_line(), o.message, "200 characters fit whole");
        o.message = "short".into();
        assert_eq!(o.one_line(), "short");
        let hint = |symptom| super::super::diagnose::Hint {
            symptom,
            cause: "c",
            fix: "f",
        };
        o.causes = vec![
            Cause::new(hint("no node metrics from heapster past the deadline")),
            Cause::new(hint("CrashLoopBackOff")),
        ];
        assert_eq!(
            o.one_line(),
            "short [known cause below: CrashLoopBackOff]",
            "the most telling cause"
        );
    }
}
