//! GitHub Actions: an `::error` annotation per failing check, and a Markdown job summary
//! with the metrics table and the timings.

use std::fmt::Write as _;

use super::Span;
use crate::checks::Summary;
use crate::checks::diagnose::group;
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

/// GitHub shows at most 10 error annotations per step; the rest are lost.
const MAX_ANNOTATIONS: usize = 10;

/// One `::error` per known cause, the most telling first, naming the checks it explains;
/// then one per failing check no known cause explains; at most ten in all, the last
/// saying how many more failures the job summary lists.
pub fn annotations(outcomes: &[Outcome]) -> String {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
    let mut lines: Vec<String> = group(
        failed
            .iter()
            .map(|o| (o.name.as_str(), o.causes.as_slice())),
    )
    .into_iter()
    .map(|(cause, checks)| {
        format!(
            "::error title={}::{}\n",
            escape_property(&format!("cause of {}", checks.join(" "))),
            escape(&cause.to_string())
        )
    })
    .collect();
    lines.extend(failed.iter().filter(|o| o.causes.is_empty()).map(|o| {
        format!(
            "::error title={}::{}\n",
            escape_property(&o.name),
            escape(&o.message)
        )
    }));
    if lines.len() > MAX_ANNOTATIONS {
        let more = lines.len() - (MAX_ANNOTATIONS - 1);
        lines.truncate(MAX_ANNOTATIONS - 1);
        lines.push(format!(
            "::error title=heapster-e2e::{more} more failures: see the job summary\n"
        ));
    }
    lines.concat()
}

/// The job summary: result, failing checks, metrics table, timings.
pub fn step_summary(
    title: &str,
    exit: i32,
    outcomes: &[Outcome],
    summary: &Summary,
    timings: &[Span],
) -> String {
    let mut md = String::new();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
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
        for o in &failed {
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
        let causes = group(
            failed
                .iter()
                .map(|o| (o.name.as_str(), o.causes.as_slice())),
        );
        if !causes.is_empty() {
            let _ = writeln!(md, "### Known causes\n");
            for (cause, checks) in causes {
                let _ = writeln!(
                    md,
                    "- **{}**: {} (explains {})",
                    cause.hint.cause,
                    cause.hint.fix,
                    checks.join(", ")
                );
            }
            md.push('\n');
        }
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
            "\nPods with metrics: {}/{} checked in kube-system\n",
            summary.pods_with_metrics.len(),
            summary.pods_checked.len()
        );
    }
    if !timings.is_empty() {
        let _ = writeln!(md, "### Timings\n\n| phase | seconds |\n| --- | ---: |");
        for s in timings {
            let _ = writeln!(md, "| {} | {:.1} |", s.phase, s.took.as_secs_f64());
        }
        md.push_str(&gantt(timings));
    }
    md
}

/// The phases as a Mermaid Gantt chart (GitHub renders it), in milliseconds from the start,
/// so phases that ran side by side show as such.
pub fn gantt(timings: &[Span]) -> String {
    let mut out = String::from(
        "\n```mermaid\ngantt\n    title Where the time went\n    dateFormat x\n    axisFormat %M:%S\n",
    );
    for s in timings {
        // Mermaid task names end at a colon; a phase name has none.
        let _ = writeln!(
            out,
            "    {} ({:.1}s) : {}, {}",
            s.phase.replace(':', " "),
            s.took.as_secs_f64(),
            s.start.as_millis(),
            s.end().as_millis().max(s.start.as_millis() + 1)
        );
    }
    out.push_str("```\n");
    out
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
    use std::time::Duration;

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
    fn one_annotation_per_cause_first_and_never_more_than_ten() {
        use crate::checks::diagnose::{Cause, hints};
        let missing = "the server could not find the requested resource (get services heapster)";
        let caused = |name: &str| Outcome {
            causes: hints(missing).into_iter().map(Cause::new).collect(),
            ..outcome(name, false, missing)
        };
        let mut all = vec![caused("dashboard::log"), caused("heapster::health")];
        all.extend(
            (0..12).map(|i| outcome(&format!("heapster::pod_metrics::p{i}"), false, "no points")),
        );
        let a = annotations(&all);
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines.len(), 10, "{a}");
        assert!(
            lines[0].starts_with("::error title=cause of dashboard%3A%3Alog heapster%3A%3Ahealth::cause: the heapster Service is missing"),
            "{}",
            lines[0]
        );
        assert_eq!(a.matches("Service is missing").count(), 1, "{a}");
        assert!(lines[9].contains("4 more failures"), "{}", lines[9]);
    }

    #[test]
    fn summary_renders_the_metrics_and_timings_tables() {
        let mut s = Summary {
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
            &[
                Span {
                    phase: "Cluster".into(),
                    start: Duration::ZERO,
                    took: Duration::from_secs(20),
                },
                Span {
                    phase: "Rollout".into(),
                    start: Duration::from_secs(20),
                    took: Duration::from_millis(31_200),
                },
            ],
        );
        assert!(md.contains("## e2e (Kubernetes 1.37): failed"), "{md}");
        assert!(md.contains("| kind-worker | 250 | 512 | 8s |"), "{md}");
        assert!(md.contains("| Rollout | 31.2 |"), "{md}");
        assert!(
            md.contains("```mermaid\ngantt") && md.contains("    Rollout (31.2s) : 20000, 51200\n"),
            "{md}"
        );
        assert!(md.contains("- `dashboard::log`: still failing"), "{md}");
    }
}
