//! A saved check report (`check --report FILE`) and the comparison of a later run with it
//! (`check --compare FILE`): which checks changed state, e.g. across an upgrade. Per-pod
//! checks are keyed by their workload, since an upgrade recreates every pod under a new
//! name: `heapster::pod_metrics::coredns-7c9f8d5b46-x2k4q` is `heapster::pod_metrics::coredns`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::checks::run::Outcome;

pub fn to_json(outcomes: &[Outcome], server_version: &str) -> Value {
    let checks: BTreeMap<String, Value> = by_workload(outcomes)
        .into_iter()
        .map(|(key, (state, message))| (key, json!({"state": state, "message": message})))
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

/// Characters of a `pod-template-hash`: controller.ComputeHash writes a uint32 in decimal
/// through `rand.SafeEncodeString`, which maps the digits '0'..'9' (bytes 48..57, modulo
/// 27) onto these ten letters of apimachinery's alphabet.
const TEMPLATE_HASH: &str = "456789bcdf";
/// Characters of a generated pod-name suffix (`rand.String(5)`).
const NAME_SUFFIX: &str = "bcdfghjklmnpqrstvwxz2456789";

/// The workload of a pod name: `<deployment>-<template hash>-<5>` -> the Deployment,
/// `<daemonset>-<5>` -> the DaemonSet; a static pod (`etcd-<node>`) keeps its name.
pub fn workload_of(pod: &str) -> &str {
    let made_of = |s: &str, set: &str| !s.is_empty() && s.chars().all(|c| set.contains(c));
    let Some((rest, suffix)) = pod.rsplit_once('-') else {
        return pod;
    };
    if suffix.len() != 5 || !made_of(suffix, NAME_SUFFIX) {
        return pod;
    }
    match rest.rsplit_once('-') {
        Some((deployment, hash)) if hash.len() <= 10 && made_of(hash, TEMPLATE_HASH) => deployment,
        _ => rest,
    }
}

/// The key a check is compared by: per-pod checks by their workload.
pub fn key(check: &str) -> String {
    match check.rsplit_once("::") {
        Some((family, pod)) if family.ends_with("pod_metrics") => {
            format!("{family}::{}", workload_of(pod))
        }
        _ => check.to_string(),
    }
}

/// State and message per key; the pods of one workload merge: failing if one fails
/// (with its message), passing if one passes and none fails.
fn by_workload(outcomes: &[Outcome]) -> BTreeMap<String, (&'static str, String)> {
    let rank = |s: &str| match s {
        "fail" => 3,
        "pass" => 2,
        "interrupted" => 1,
        _ => 0,
    };
    let mut merged: BTreeMap<String, (&'static str, String)> = BTreeMap::new();
    for o in outcomes {
        let now = (
            state(o),
            o.message.lines().next().unwrap_or_default().to_string(),
        );
        merged
            .entry(key(&o.name))
            .and_modify(|kept| {
                if rank(now.0) > rank(kept.0) {
                    *kept = now.clone();
                }
            })
            .or_insert(now);
    }
    merged
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
    let now = by_workload(now);
    let mut changes = Vec::new();
    for (check, (s, message)) in &now {
        let check = check.clone();
        match before.get(&check).map(String::as_str) {
            None => changes.push(Change::New {
                check,
                state: s.to_string(),
            }),
            Some("pass") if *s == "fail" => changes.push(Change::Broke {
                check,
                message: message.clone(),
            }),
            Some("fail") if *s == "pass" => changes.push(Change::Fixed { check }),
            _ => {}
        }
    }
    for (check, s) in before {
        if !now.contains_key(check) {
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
                o("heapster::pod_metrics::coredns-7c9f8d5b46-x2k4q", true),
                o("heapster::pod_metrics::coredns-7c9f8d5b46-b8zl9", true),
                o("heapster::pod_metrics::kube-proxy-4zqv4", true),
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
            // Recreated by the upgrade: new names, same workloads.
            o("heapster::pod_metrics::coredns-6b7d9c4f45-qq5rt", true),
            o("heapster::pod_metrics::coredns-6b7d9c4f45-m2n4x", false),
            o("heapster::pod_metrics::kube-proxy-9wxbz", true),
        ];
        let changes = compare(&before, &now);
        assert!(
            changes.contains(&Change::Broke {
                check: "heapster::pod_metrics::coredns".into(),
                message: "heapster::pod_metrics::coredns-6b7d9c4f45-m2n4x message".into()
            }),
            "{changes:?}"
        );
        assert!(
            !changes
                .iter()
                .any(|c| format!("{c:?}").contains("kube-proxy")),
            "a recreated DaemonSet pod is neither new nor gone: {changes:?}"
        );
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
    fn pods_are_keyed_by_their_workload() {
        assert_eq!(workload_of("coredns-7c9f8d5b46-x2k4q"), "coredns");
        assert_eq!(
            workload_of("monitoring-influxdb-5b9c8d4f6-tz7kw"),
            "monitoring-influxdb"
        );
        assert_eq!(workload_of("kube-proxy-4zqv4"), "kube-proxy");
        assert_eq!(workload_of("kindnet-k4m82"), "kindnet");
        assert_eq!(
            workload_of("etcd-kind-control-plane"),
            "etcd-kind-control-plane"
        );
        assert_eq!(
            key("heapster::pod_metrics::kindnet-k4m82"),
            "heapster::pod_metrics::kindnet"
        );
        assert_eq!(
            key("heapster::node_metrics::kind-worker"),
            "heapster::node_metrics::kind-worker"
        );
    }

    #[test]
    fn a_file_that_is_not_a_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{}").unwrap();
        assert!(format!("{:#}", load(&path).unwrap_err()).contains("not a heapster-e2e report"));
    }
}
