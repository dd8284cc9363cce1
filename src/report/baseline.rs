//! A saved check report (`check --report FILE`) and the comparison of a later run with it
//! (`check --compare FILE`): which checks changed state, e.g. across an upgrade.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::checks::run::Outcome;

pub fn to_json(outcomes: &[Outcome], server_version: &str) -> Value {
    let checks: BTreeMap<&str, Value> = outcomes
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                json!({"state": state(o), "message": o.message}),
            )
        })
        .collect();
    json!({"tool": "heapster-e2e", "server_version": server_version, "taken_at": jiff::Timestamp::now().to_string(), "checks": checks})
}

fn state(o: &Outcome) -> &'static str {
    if o.passed {
        "pass"
    } else if o.failed() {
        "fail"
    } else if o.interrupted {
        "interrupted"
    } else {
        "ignored"
    }
}

pub fn save(path: &Path, outcomes: &[Outcome], server_version: &str) -> anyhow::Result<()> {
    std::fs::write(
        path,
        serde_json::to_string_pretty(&to_json(outcomes, server_version))?,
    )
    .with_context(|| format!("cannot write the report {}", path.display()))
}

/// `check name -> state` of a saved report.
pub fn load(path: &Path) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the report {}: save one with `cargo xtask check --report FILE`",
            path.display()
        )
    })?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a heapster-e2e report", path.display()))?;
    let checks = v["checks"].as_object().with_context(|| {
        format!(
            "{} has no \"checks\": not a heapster-e2e report",
            path.display()
        )
    })?;
    let states = checks
        .iter()
        .map(|(k, c)| {
            (
                k.clone(),
                c["state"].as_str().unwrap_or("unknown").to_string(),
            )
        })
        .collect();
    Ok((
        v["server_version"].as_str().unwrap_or("?").to_string(),
        states,
    ))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Was passing, now failing: what an upgrade broke.
    Broke {
        check: String,
        message: String,
    },
    /// Was failing, now passing.
    Fixed {
        check: String,
    },
    New {
        check: String,
        state: String,
    },
    Gone {
        check: String,
        state: String,
    },
}

pub fn compare(before: &BTreeMap<String, String>, now: &[Outcome]) -> Vec<Change> {
    let mut changes = Vec::new();
    for o in now {
        let s = state(o);
        match before.get(&o.name).map(String::as_str) {
            None => changes.push(Change::New {
                check: o.name.clone(),
                state: s.into(),
            }),
            Some("pass") if s == "fail" => changes.push(Change::Broke {
                check: o.name.clone(),
                message: o.message.lines().next().unwrap_or_default().into(),
            }),
            Some("fail") if s == "pass" => changes.push(Change::Fixed {
                check: o.name.clone(),
            }),
            _ => {}
        }
    }
    for (check, s) in before {
        if !now.iter().any(|o| &o.name == check) {
            changes.push(Change::Gone {
                check: check.clone(),
                state: s.clone(),
            });
        }
    }
    changes
}

pub fn render(before_version: &str, changes: &[Change]) -> String {
    let mut out = format!("\nCompared with the report from {before_version}:\n");
    if changes.is_empty() {
        out.push_str("  no check changed state\n");
    }
    for c in changes {
        let _ = match c {
            Change::Broke { check, message } => writeln!(out, "  BROKE  {check}: {message}"),
            Change::Fixed { check } => writeln!(out, "  fixed  {check}"),
            Change::New { check, state } => writeln!(out, "  new    {check} ({state})"),
            Change::Gone { check, state } => writeln!(out, "  gone   {check} (was {state})"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(name: &str, passed: bool) -> Outcome {
        Outcome::checked(name, passed, format!("{name} message"))
    }

    #[test]
    fn changes_between_two_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("before.json");
        save(
            &path,
            &[
                o("dashboard::log", true),
                o("heapster::health", false),
                o("heapster::pod_metrics::old-pod", true),
            ],
            "v1.36.4",
        )
        .unwrap();
        let (version, before) = load(&path).unwrap();
        assert_eq!(version, "v1.36.4");
        let now = [
            o("dashboard::log", false),
            o("heapster::health", true),
            o("heapster::pod_metrics::new-pod", true),
        ];
        let changes = compare(&before, &now);
        assert!(changes.contains(&Change::Broke {
            check: "dashboard::log".into(),
            message: "dashboard::log message".into()
        }));
        assert!(changes.contains(&Change::Fixed {
            check: "heapster::health".into()
        }));
        assert!(changes.contains(&Change::New {
            check: "heapster::pod_metrics::new-pod".into(),
            state: "pass".into()
        }));
        assert!(changes.contains(&Change::Gone {
            check: "heapster::pod_metrics::old-pod".into(),
            state: "pass".into()
        }));
        assert!(render("v1.36.4", &changes).contains("BROKE  dashboard::log"));
    }

    #[test]
    fn a_file_that_is_not_a_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{}").unwrap();
        assert!(format!("{:#}", load(&path).unwrap_err()).contains("not a heapster-e2e report"));
    }
}
