//! GitHub Actions: an `::error` annotation per failing check, and a Markdown job summary
//! with the metrics table and the timings.

use std::fmt::Write as _;
use std::time::Duration;

use crate::checks::Summary;
use crate::checks::run::Outcome;

pub fn is_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Workflow-command escaping of a message.
pub fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error title=CHECK::MESSAGE` for each failing check.
pub fn annotations(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .filter(|o| !o.passed && !o.ignored)
        .map(|o| {
            format!(
                "::error title={}::{}\n",
                escape_property(&o.name),
                escape(&o.message)
            )
        })
        .collect()
}

/// The job summary: result, failing checks, metrics table, timings.
pub fn step_summary(
    title: &str,
    exit: i32,
    outcomes: &[Outcome],
    summary: &Summary,
    timings: &[(String, Duration)],
) -> String {
    let mut md = String::new();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.passed && !o.ignored)
        .collect();
    let verdict = match exit {
        0 => "passed",
        1 => "failed",
        _ => "could not run",
    };
    let _ = writeln!(
        md,
        "## {title}: {verdict}\n\n{passed} passed, {} failed, {} ignored\n",
        failed.len(),
        outcomes.iter().filter(|o| o.ignored).count()
    );
    if !failed.is_empty() {
        let _ = writeln!(md, "### Failing checks\n");
        for o in failed {
            let _ = writeln!(
                md,
                "- `{}`: {}",
                o.name,
                o.message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .replace('|', "\\|")
            );
        }
        md.push('\n');
    }
    if !summary.nodes.is_empty() {
        let _ = writeln!(
            md,
            "### Metrics (heapster model API)\n\n| node | CPU (m) | memory (MiB) | age of latest point |\n| --- | ---: | ---: | ---: |"
        );
        for (node, row) in &summary.nodes {
            let [cpu, mem, age] = row.cells();
            let _ = writeln!(md, "| {node} | {cpu} | {mem} | {age} |");
        }
        let _ = writeln!(
            md,
            "\nPods with metrics: {}/{} running in kube-system\n",
            summary.pods_with_metrics.len(),
            summary.pods_running
        );
    }
    if !timings.is_empty() {
        let _ = writeln!(md, "### Timings\n\n| phase | seconds |\n| --- | ---: |");
        for (phase, took) in timings {
            let _ = writeln!(md, "| {phase} | {:.1} |", took.as_secs_f64());
        }
    }
    md
}

/// Append to `$GITHUB_STEP_SUMMARY` when it is set.
pub fn write_step_summary(markdown: &str) -> std::io::Result<()> {
    use std::io::Write;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(markdown.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::NodeRow;

    fn outcome(name: &str, passed: bool, message: &str) -> Outcome {
        Outcome::checked(name, passed, message)
    }

    #[test]
    fn one_annotation_per_failing_check_with_escaped_message() {
        let a = annotations(&[
            outcome(
                "heapster::health",
                false,
                "no heapster service\n  fix: 100% sure",
            ),
            outcome("nodes::count", true, "3"),
        ]);
        assert_eq!(
            a,
            "::error title=heapster%3A%3Ahealth::no heapster service%0A  fix: 100%25 sure\n"
        );
    }

    #[test]
    fn summary_renders_the_metrics_and_timings_tables() {
        let mut s = Summary {
            pods_running: 4,
            ..Default::default()
        };
        s.nodes.insert(
            "kind-worker".into(),
            NodeRow {
                cpu_millicores: Some(250),
                memory_bytes: Some(512 * 1048576),
                age: Some(Duration::from_secs(8)),
            },
        );
        let md = step_summary(
            "e2e (Kubernetes 1.37)",
            1,
            &[outcome("dashboard::log", false, "still failing")],
            &s,
            &[("Rollout".into(), Duration::from_millis(31_200))],
        );
        assert!(md.contains("## e2e (Kubernetes 1.37): failed"), "{md}");
        assert!(md.contains("| kind-worker | 250 | 512 | 8s |"), "{md}");
        assert!(md.contains("| Rollout | 31.2 |"), "{md}");
        assert!(md.contains("- `dashboard::log`: still failing"), "{md}");
    }
}
