//! JUnit XML for CI systems: one test suite per run (per Kubernetes version, all in one
//! file), one test case per check with its failure message, causes and output; a phase
//! that stopped the run is a failed case `phase::<name>`.

use std::path::Path;

use anyhow::Context;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::checks::run::Outcome;

/// One suite per `(name, outcomes)`.
pub fn render(suites: &[(String, &[Outcome])]) -> anyhow::Result<String> {
    let mut report = Report::new("heapster-e2e");
    for (name, outcomes) in suites {
        report.add_test_suite(suite(name, outcomes));
    }
    report.to_string().context("cannot render JUnit XML")
}

fn suite(suite_name: &str, outcomes: &[Outcome]) -> TestSuite {
    let mut suite = TestSuite::new(suite_name);
    for o in outcomes {
        // An interrupted check is skipped: the system under test is not at fault.
        let status = if o.passed {
            TestCaseStatus::success()
        } else if o.failed() {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(o.message.lines().next().unwrap_or_default());
            s.set_description(o.text());
            s
        } else {
            let mut s = TestCaseStatus::skipped();
            s.set_message(o.message.as_str());
            s
        };
        let mut case = TestCase::new(o.name.as_str(), status);
        case.set_time(o.duration);
        case.set_system_out(o.text());
        suite.add_test_case(case);
    }
    suite
}

pub fn write(path: &Path, suites: &[(String, &[Outcome])]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, render(suites)?)
        .with_context(|| format!("cannot write JUnit XML to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn failures_and_skips_round_trip() {
        let outcomes = vec![
            Outcome {
                duration: Duration::from_millis(5),
                ..Outcome::checked(
                    "heapster::health",
                    false,
                    "no heapster service\n  fix: create it",
                )
            },
            Outcome::checked("nodes::count", true, "3 nodes"),
            Outcome::skipped("dashboard::node_metrics", "no token"),
        ];
        let mut interrupted =
            Outcome::checked("heapster::nodes", false, "interrupted while waiting");
        interrupted.interrupted = true;
        let crashed = [Outcome::checked(
            "phase::rollout",
            false,
            "pod kube-system/heapster-1 is in CrashLoopBackOff",
        )];
        let xml = render(&[
            ("heapster-e2e (Kubernetes 1.37)".into(), &outcomes),
            ("heapster-e2e (Kubernetes 1.36)".into(), &crashed),
            (
                "heapster-e2e (Kubernetes 1.35)".into(),
                std::slice::from_ref(&interrupted),
            ),
        ])
        .unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        let [a, b, c] = &parsed.test_suites[..] else {
            panic!("three suites: {xml}")
        };
        assert_eq!(a.name.as_str(), "heapster-e2e (Kubernetes 1.37)");
        assert_eq!((a.tests, a.failures, a.skipped), (3, 1, 1));
        assert_eq!(
            (b.tests, b.failures),
            (1, 1),
            "a failed phase is a failed case"
        );
        assert_eq!(
            (c.tests, c.failures, c.skipped),
            (1, 0, 1),
            "interrupted is skipped, not failed"
        );
        assert!(xml.contains("no heapster service"), "{xml}");
    }
}
