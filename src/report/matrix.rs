//! Several Kubernetes versions in one run: cluster names derived per version, and the
//! version x check table at the end. Pure functions over the runs' outcomes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checks::run::Outcome;

/// `heapster-e2e` + `1.37` -> `heapster-e2e-1-37` (a cluster per version, so runs can overlap).
pub fn cluster_name(base: &str, version: &str) -> String {
    format!("{base}-{}", version.replace('.', "-"))
}

/// A check's family: per-node and per-pod checks are folded (`heapster::node_metrics`).
pub fn family(check: &str) -> String {
    check.splitn(3, "::").take(2).collect::<Vec<_>>().join("::")
}

/// Cell of the table: `ok`, `FAIL`, or `ok 3/3` / `FAIL 2/3` for folded families.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Cell {
    passed: usize,
    total: usize,
}

/// One row per check family, one column per version, then each version's exit and error.
pub fn render(runs: &[(String, i32, Option<String>, Vec<Outcome>)]) -> String {
    let mut rows: BTreeMap<String, BTreeMap<&str, Cell>> = BTreeMap::new();
    for (version, _, _, outcomes) in runs {
        for o in outcomes.iter().filter(|o| !o.ignored) {
            let cell = rows
                .entry(family(&o.name))
                .or_default()
                .entry(version.as_str())
                .or_default();
            cell.total += 1;
            cell.passed += usize::from(o.passed);
        }
    }
    let width = rows.keys().map(|k| k.len()).max().unwrap_or(5).max(5);
    let mut out = String::from("\nVersions\n");
    let _ = write!(out, "  {:<width$}", "check");
    for (version, ..) in runs {
        let _ = write!(out, "  {version:>10}");
    }
    out.push('\n');
    for (family, cells) in &rows {
        let _ = write!(out, "  {family:<width$}");
        for (version, ..) in runs {
            let text = match cells.get(version.as_str()) {
                None => "-".to_string(),
                Some(c) if c.total == 1 => (if c.passed == 1 { "ok" } else { "FAIL" }).to_string(),
                Some(c) => format!(
                    "{} {}/{}",
                    if c.passed == c.total { "ok" } else { "FAIL" },
                    c.passed,
                    c.total
                ),
            };
            let _ = write!(out, "  {text:>10}");
        }
        out.push('\n');
    }
    let _ = write!(out, "  {:<width$}", "exit");
    for (_, exit, ..) in runs {
        let _ = write!(out, "  {exit:>10}");
    }
    out.push('\n');
    for (version, _, error, _) in runs {
        if let Some(e) = error {
            let _ = writeln!(out, "  {version}: {}", e.lines().next().unwrap_or_default());
        }
    }
    out
}

/// The worst exit of several runs: any harness failure (2) over any check failure (1).
pub fn combined_exit(exits: &[i32]) -> i32 {
    exits.iter().copied().max().unwrap_or(crate::exit::HARNESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(name: &str, passed: bool) -> Outcome {
        Outcome::checked(name, passed, "")
    }

    #[test]
    fn names_and_families() {
        assert_eq!(cluster_name("heapster-e2e", "1.37"), "heapster-e2e-1-37");
        assert_eq!(
            family("heapster::node_metrics::kind-worker"),
            "heapster::node_metrics"
        );
        assert_eq!(family("dashboard::log"), "dashboard::log");
    }

    #[test]
    fn table_has_a_column_per_version_and_folds_per_node_checks() {
        let runs = vec![
            (
                "1.37".to_string(),
                0,
                None,
                vec![
                    o("dashboard::log", true),
                    o("heapster::node_metrics::a", true),
                    o("heapster::node_metrics::b", true),
                ],
            ),
            (
                "1.36".to_string(),
                1,
                Some("x".to_string()),
                vec![
                    o("dashboard::log", false),
                    o("heapster::node_metrics::a", true),
                    o("heapster::node_metrics::b", false),
                ],
            ),
        ];
        let t = render(&runs);
        let row = |name: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            row("dashboard::log").contains("ok") && row("dashboard::log").contains("FAIL"),
            "{t}"
        );
        assert!(
            row("heapster::node_metrics").contains("ok 2/2")
                && row("heapster::node_metrics").contains("FAIL 1/2"),
            "{t}"
        );
        assert!(row("exit").ends_with('1'), "{t}");
        assert!(t.contains("1.36: x"), "{t}");
        assert_eq!(combined_exit(&[0, 1, 0]), 1);
        assert_eq!(combined_exit(&[1, 2]), 2);
    }
}
