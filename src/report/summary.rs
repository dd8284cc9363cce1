//! The end of a check run, after libtest's lines: the metrics table (what was seen, with
//! numbers), each known cause once with the checks it explains, and the counts.

use std::fmt::Write as _;

use crate::checks::Summary;
use crate::checks::diagnose::group;
use crate::checks::run::Outcome;
use crate::stack::Stack;

/// One side of an upgrade: the stack, its checks, and what they saw.
pub type Side<'a> = (Stack, &'a [Outcome], &'a Summary);

/// Before and after an upgrade, side by side: the checks passed, each node's CPU and
/// memory as each stack's source reported them, the pods with metrics.
pub fn render_upgrade(before: Side, after: Side) -> String {
    let mut out = String::new();
    let (old, new) = (before.0, after.0);
    let _ = writeln!(out, "\nUpgrade {old} -> {new}");
    let passed = |o: &[Outcome]| {
        let run = o.iter().filter(|o| !o.ignored).count();
        format!("{}/{run} passed", o.iter().filter(|o| o.passed).count())
    };
    let _ = writeln!(
        out,
        "  checks: before {} ({}), after {} ({})",
        passed(before.1),
        old.metrics_source(),
        passed(after.1),
        new.metrics_source()
    );
    let nodes: std::collections::BTreeSet<&String> =
        before.2.nodes.keys().chain(after.2.nodes.keys()).collect();
    if !nodes.is_empty() {
        let width = nodes.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>12}  {:>10}  {:>12}",
            "NODE", "CPU BEFORE", "MEM BEFORE", "CPU AFTER", "MEM AFTER"
        );
        for node in nodes {
            let cells = |s: &Summary| s.nodes.get(node).cloned().unwrap_or_default().cells();
            let ([c0, m0, _], [c1, m1, _]) = (cells(before.2), cells(after.2));
            let _ = writeln!(
                out,
                "  {node:<width$}  {:>10}  {:>12}  {:>10}  {:>12}",
                format!("{c0}m"),
                format!("{m0} MiB"),
                format!("{c1}m"),
                format!("{m1} MiB")
            );
        }
    }
    let pods = |s: &Summary| format!("{}/{}", s.pods_with_metrics.len(), s.pods_checked.len());
    let _ = writeln!(
        out,
        "  pods with metrics: before {}, after {}",
        pods(before.2),
        pods(after.2)
    );
    out
}

/// The summary table: per node checked, CPU, memory and the age of the latest point
/// seen (fresh or not); the pods checked and how many had metrics; ground truth. What
/// was not checked (filtered out) is left out rather than shown as `-`.
pub fn render(summary: &Summary, stack: Stack) -> String {
    let mut out = String::new();
    if summary.nodes.is_empty()
        && summary.pods_checked.is_empty()
        && summary.ground_truth.is_empty()
    {
        return out;
    }
    let _ = writeln!(out, "\nMetrics seen ({})", stack.metrics_source());
    if !summary.nodes.is_empty() {
        let width = summary
            .nodes
            .keys()
            .map(|n| n.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>10}  {:>12}  {:>8}",
            "NODE", "CPU (m)", "MEMORY (MiB)", "AGE"
        );
        for (node, row) in &summary.nodes {
            let [cpu, mem, age] = row.cells();
            let _ = writeln!(out, "  {node:<width$}  {cpu:>10}  {mem:>12}  {age:>8}");
        }
    }
    if !summary.pods_checked.is_empty() {
        let _ = writeln!(
            out,
            "  pods with metrics: {}/{} checked in {}",
            summary.pods_with_metrics.len(),
            summary.pods_checked.len(),
            stack.namespaces().join(", ")
        );
    }
    for (what, (target, measured)) in &summary.ground_truth {
        let _ = writeln!(
            out,
            "  ground truth {what}: target {target}, measured {}",
            measured.as_deref().unwrap_or("nothing yet")
        );
    }
    out
}

/// Each known cause once, the most telling first, with the failing checks it explains;
/// then the failing checks no known cause explains. Empty when nothing failed.
pub fn render_causes(outcomes: &[Outcome]) -> String {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failed()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let groups = group(
        failed
            .iter()
            .map(|o| (o.name.as_str(), o.causes.as_slice())),
    );
    let mut out = String::new();
    if !groups.is_empty() {
        let _ = writeln!(out, "\nKnown causes");
        for (cause, checks) in &groups {
            let _ = writeln!(out, "  {}", cause.to_string().replace('\n', "\n  "));
            let _ = writeln!(out, "    explains: {}", abbreviate(checks).join(", "));
        }
    }
    let unexplained: Vec<String> = failed
        .iter()
        .filter(|o| o.causes.is_empty())
        .map(|o| o.name.clone())
        .collect();
    if !unexplained.is_empty() {
        let _ = writeln!(
            out,
            "\nFailed without a known cause: {}",
            abbreviate(&unexplained).join(", ")
        );
    }
    out
}

/// Check names with per-object checks of one kind folded: three or more
/// `heapster::pod_metrics::<pod>` become `heapster::pod_metrics::* (16)`.
pub fn abbreviate(checks: &[String]) -> Vec<String> {
    // `heapster::pod_metrics` of `heapster::pod_metrics::<pod>`; none for `heapster::health`.
    fn family(check: &str) -> Option<&str> {
        let (family, _) = check.rsplit_once("::")?;
        family.contains("::").then_some(family)
    }
    let mut out: Vec<String> = Vec::new();
    for check in checks {
        match family(check) {
            Some(f) => {
                let members = checks.iter().filter(|c| family(c) == Some(f)).count();
                let folded = format!("{f}::* ({members})");
                if members < 3 {
                    out.push(check.clone());
                } else if !out.contains(&folded) {
                    out.push(folded);
                }
            }
            None => out.push(check.clone()),
        }
    }
    out
}

/// `5 passed, 1 failed, 2 ignored` (and how many were interrupted, if any).
pub fn counts(outcomes: &[Outcome]) -> String {
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    let ignored = outcomes.iter().filter(|o| o.ignored).count();
    let interrupted = outcomes.iter().filter(|o| o.interrupted).count();
    let mut out = format!("{passed} passed, {failed} failed, {ignored} ignored");
    if interrupted > 0 {
        out.push_str(&format!(", {interrupted} interrupted"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::NodeRow;
    use crate::checks::diagnose::{Cause, hints};

    #[test]
    fn summary_table_has_numbers_per_node() {
        let mut s = Summary::default();
        assert_eq!(render(&s, Stack::Heapster), "", "nothing checked, no table");
        let mut stale = NodeRow::default();
        stale.record("cpu/usage_rate", 250, Duration::from_secs(7));
        stale.record("memory/usage", 1024 * 1048576, Duration::from_secs(2400));
        s.nodes.insert("kind-worker".into(), stale);
        s.pods_checked.extend([
            "heapster-1".to_string(),
            "dashboard-1".into(),
            "grafana-1".into(),
        ]);
        s.pods_with_metrics.insert("heapster-1".into());
        let t = render(&s, Stack::Heapster);
        assert!(
            t.contains("Metrics seen (heapster model API)")
                && t.contains("kind-worker")
                && t.contains("250")
                && t.contains("1024")
                && t.contains("40m"),
            "the oldest metric's age, as seen: {t}"
        );
        assert!(
            t.contains("pods with metrics: 1/3 checked in kube-system"),
            "{t}"
        );
        let t = render(&s, Stack::MetricsServer);
        assert!(
            t.contains("Metrics seen (metrics.k8s.io)")
                && t.contains("checked in kube-system, kubernetes-dashboard"),
            "{t}"
        );
        s.pods_checked.clear();
        s.ground_truth
            .insert("cpu".into(), ("100m".into(), Some("0m".into())));
        let t = render(&s, Stack::Heapster);
        assert!(
            !t.contains("pods with metrics"),
            "unchecked pods are left out: {t}"
        );
        assert!(
            t.contains("ground truth cpu: target 100m, measured 0m"),
            "{t}"
        );
    }

    #[test]
    fn an_upgrade_shows_both_sides_per_node() {
        let row = |cpu, mib: i64| {
            let mut r = NodeRow::default();
            r.record("cpu/usage_rate", cpu, Duration::from_secs(5));
            r.record("memory/usage", mib << 20, Duration::from_secs(5));
            r
        };
        let mut old = Summary::default();
        old.nodes.insert("n1".into(), row(120, 800));
        let mut new = Summary::default();
        new.nodes.insert("n1".into(), row(135, 812));
        new.nodes.insert("n2".into(), row(40, 300));
        new.pods_checked.insert("p".into());
        let before = [
            Outcome::checked("before::a", true, ""),
            Outcome::checked("before::b", false, ""),
        ];
        let after = [
            Outcome::checked("a", true, ""),
            Outcome::skipped("b", "no token"),
        ];
        let t = render_upgrade(
            (Stack::Heapster, &before, &old),
            (Stack::MetricsServer, &after, &new),
        );
        assert!(t.contains("Upgrade heapster -> metrics-server"), "{t}");
        assert!(
            t.contains("before 1/2 passed (heapster model API), after 1/1 passed (metrics.k8s.io)"),
            "{t}"
        );
        let n1 = t
            .lines()
            .find(|l| l.trim_start().starts_with("n1"))
            .unwrap();
        assert!(
            n1.contains("120m")
                && n1.contains("800 MiB")
                && n1.contains("135m")
                && n1.contains("812 MiB"),
            "{n1}"
        );
        let n2 = t
            .lines()
            .find(|l| l.trim_start().starts_with("n2"))
            .unwrap();
        assert!(n2.contains("-m") && n2.contains("40m"), "{n2}");
        assert!(
            t.contains("pods with metrics: before 0/0, after 0/1"),
            "{t}"
        );
    }

    fn failed(name: &str, symptom: &str) -> Outcome {
        Outcome {
            causes: hints(symptom).into_iter().map(Cause::new).collect(),
            ..Outcome::checked(name, false, symptom)
        }
    }

    #[test]
    fn a_cause_is_shown_once_with_every_check_it_explains() {
        let missing = "the server could not find the requested resource (get services heapster)";
        let outcomes = [
            failed("dashboard::log", missing),
            failed("heapster::health", missing),
            failed("grafana::datasource", "grafana answered 502"),
            Outcome::checked("nodes::ready", true, "2 nodes"),
        ];
        let text = render_causes(&outcomes);
        assert_eq!(
            text.matches("cause: the heapster Service is missing")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("explains: dashboard::log, heapster::health"),
            "{text}"
        );
        assert!(
            text.contains("without a known cause: grafana::datasource"),
            "{text}"
        );
        assert!(!text.contains("nodes::ready"), "{text}");
        assert_eq!(render_causes(&outcomes[3..]), "");
    }

    #[test]
    fn per_object_checks_are_folded_from_three_on() {
        let names: Vec<String> = [
            "heapster::health",
            "heapster::pod_metrics::a",
            "heapster::node_metrics::n1",
            "heapster::pod_metrics::b",
            "heapster::pod_metrics::c",
            "heapster::node_metrics::n2",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            abbreviate(&names),
            [
                "heapster::health",
                "heapster::pod_metrics::* (3)",
                "heapster::node_metrics::n1",
                "heapster::node_metrics::n2"
            ]
        );
    }

    #[test]
    fn counts_name_interrupted_checks_only_when_there_are_some() {
        let mut stopped = Outcome::checked("heapster::nodes", false, "interrupted");
        stopped.interrupted = true;
        let all = [
            Outcome::checked("a", true, ""),
            stopped,
            Outcome::skipped("b", "no load"),
        ];
        assert_eq!(counts(&all), "1 passed, 0 failed, 1 ignored, 1 interrupted");
        assert_eq!(counts(&all[..1]), "1 passed, 0 failed, 0 ignored");
    }
}
