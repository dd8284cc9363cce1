//! JUnit XML for CI systems: one test suite per run, named with the Kubernetes version,
//! one test case per check with its failure message and output.

use std::path::Path;

use anyhow::Context;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::checks::run::Outcome;

pub fn render(suite_name: &str, outcomes: &[Outcome]) -> anyhow::Result<String> {
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
    let mut report = Report::new("heapster-e2e");
    report.add_test_suite(suite);
    report.to_string().context("cannot render JUnit XML")
}

pub fn write(path: &Path, suite_name: &str, outcomes: &[Outcome]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, render(suite_name, outcomes)?)
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
        let xml = render("heapster-e2e (Kubernetes 1.37)", &outcomes).unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.name.as_str(), "heapster-e2e (Kubernetes 1.37)");
        assert_eq!((suite.tests, suite.failures), (3, 1));
        assert!(xml.contains("no heapster service"), "{xml}");
    }
}
