//! What a run leaves: evidence, JUnit, annotations, job summary, timings.

use std::path::Path;

use kind_sim::Scenario;

use super::*;

#[test]
fn a_failing_run_keeps_the_evidence_junit_annotations_and_job_summary() {
    let summary_dir = crate::scratch();
    let summary = summary_dir.path().join("summary.md");
    let (out, dir) = e2e_through_fakes(
        "reported-failing",
        Scenario::DashboardWithoutProxyRights,
        "5s",
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &summary),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let artifacts = dir.path().join("artifacts");
    for file in [
        "timings.json",
        "metrics.json",
        "checks.json",
        "events.txt",
        "kind-logs",
        "pods",
        "objects",
        "responses",
    ] {
        assert!(
            artifacts.join(file).exists(),
            "{file} missing in {}:\n{all}",
            artifacts.display()
        );
    }
    let pod_logs: Vec<_> = std::fs::read_dir(artifacts.join("pods"))
        .expect("pods")
        .collect();
    assert!(pod_logs.len() >= 4, "stack pod logs kept");
    assert!(
        std::fs::read_dir(artifacts.join("objects"))
            .expect("objects")
            .any(|e| e
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("Deployment_kube-system_kubernetes-dashboard")),
        "YAML of the object behind the failing checks"
    );

    let checks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(artifacts.join("checks.json")).expect("checks.json"),
    )
    .expect("json");
    let mut failed: Vec<String> = checks["checks"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["passed"] == false && c["ignored"] == false)
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    failed.sort();
    assert!(failed.iter().any(|f| f == "dashboard::log"), "{failed:?}");

    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let suite = &report.test_suites[0];
    assert!(
        suite.name.as_str().contains("Kubernetes 1.37"),
        "{}",
        suite.name.as_str()
    );
    let mut junit_failed: Vec<String> = suite
        .test_cases
        .iter()
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
        .map(|c| c.name.as_str().to_string())
        .collect();
    junit_failed.sort();
    assert_eq!(
        junit_failed, failed,
        "JUnit failures match the failing trials"
    );

    assert!(
        all.contains("::group::Preflight") && all.contains("::endgroup::"),
        "a group per phase:\n{all}"
    );
    // Every group closed once, none closed that was not opened (phases that ran beside
    // others, such as Images and Load generators, are lines, not groups).
    let (mut open, mut unbalanced) = (0i32, false);
    for line in all.lines() {
        if line.starts_with("::group::") {
            unbalanced |= open != 0;
            open += 1;
        } else if line == "::endgroup::" {
            open -= 1;
            unbalanced |= open != 0;
        }
    }
    assert!(!unbalanced && open == 0, "groups balanced:\n{all}");
    // The phase column fits the longest label.
    let phase_lines: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("s] ") && l.contains(" ["))
        .collect();
    let columns: std::collections::BTreeSet<usize> =
        phase_lines.iter().filter_map(|l| l.find(" [")).collect();
    assert_eq!(
        columns.len(),
        1,
        "phase lines align:\n{}",
        phase_lines.join("\n")
    );
    // One annotation per known cause, then per failing check without one; ten at most.
    let failing: Vec<&serde_json::Value> = checks["checks"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["passed"] == false && c["ignored"] == false)
        .collect();
    let mut causes: Vec<&str> = failing
        .iter()
        .flat_map(|c| c["causes"].as_array().expect("causes"))
        .map(|c| c["cause"].as_str().expect("cause"))
        .collect();
    causes.sort();
    causes.dedup();
    assert!(!causes.is_empty(), "a known cause: {failing:?}");
    let unexplained = failing
        .iter()
        .filter(|c| c["causes"].as_array().is_some_and(|a| a.is_empty()))
        .count();
    assert_eq!(
        all.matches("::error title=").count(),
        (causes.len() + unexplained).min(10),
        "one annotation per cause, then per unexplained failure:\n{all}"
    );
    for cause in causes {
        assert_eq!(
            all.matches(&format!("cause: {cause}")).count(),
            2,
            "once on the terminal, once annotated: {cause}\n{all}"
        );
    }
    let md = std::fs::read_to_string(&summary).expect("job summary written");
    assert!(
        md.contains("| node | CPU (m) | memory (MiB) |") && md.contains("### Timings"),
        "{md}"
    );
    assert!(all.contains("Timings"), "timing table:\n{all}");
}

#[test]
fn a_passing_run_keeps_only_the_small_files() {
    let (out, dir) = e2e_through_fakes("reported-passing", Scenario::Healthy, "60s", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut kept: Vec<String> = std::fs::read_dir(dir.path().join("artifacts"))
        .expect("artifacts")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, ["checks.json", "metrics.json", "timings.json"]);
    let timings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("artifacts/timings.json")).expect("timings"),
    )
    .expect("json");
    let phases: Vec<&str> = timings["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "Preflight",
            "Manifests",
            // The pulls ran beside the cluster's creation and are joined after it.
            "Cluster",
            "Images",
            "Load",
            "Apply",
            "Rollout",
            "Load generators",
            "Checks",
            "Teardown"
        ],
        "timings.json is written again after teardown"
    );
    for p in timings["phases"].as_array().expect("phases") {
        let (start, end) = (
            p["start"].as_f64().expect("start"),
            p["end"].as_f64().expect("end"),
        );
        assert!(start <= end, "{p}");
    }
    assert!(timings["first_metrics_seconds"].is_number(), "{timings}");
    assert!(
        text(&out).contains("First metrics"),
        "timing table:\n{}",
        text(&out)
    );
}

fn junit(dir: &Path) -> quick_junit::Report {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit");
    quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML")
}

fn failed_cases(suite: &quick_junit::TestSuite) -> Vec<String> {
    suite
        .test_cases
        .iter()
        .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
        .map(|c| c.name.as_str().to_string())
        .collect()
}

#[test]
fn a_failed_rollout_is_a_failed_case_with_its_cause() {
    let summary_dir = crate::scratch();
    let summary = summary_dir.path().join("summary.md");
    let (out, dir) = e2e_through_fakes(
        "crashing",
        Scenario::CrashLoop,
        "60s",
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &summary),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let report = junit(dir.path());
    assert_eq!(
        failed_cases(&report.test_suites[0]),
        ["phase::rollout"],
        "{all}"
    );
    let rollout = &report.test_suites[0].test_cases[0];
    assert!(
        rollout.time.is_some_and(|t| t > std::time::Duration::ZERO),
        "the failed phase has the time it ran: {:?}",
        rollout.time
    );
    let md = std::fs::read_to_string(&summary).expect("job summary");
    assert!(
        md.contains("`phase::rollout`")
            && md.contains("CrashLoopBackOff")
            && md.contains("--previous"),
        "the job summary names the phase and the cause:\n{md}"
    );
    assert!(
        all.contains("::error title=cause of phase%3A%3Arollout::"),
        "{all}"
    );
}

#[test]
fn an_image_no_registry_serves_stops_at_images_with_the_mirror_route() {
    let (out, dir) = e2e_through_fakes("unpullable", Scenario::ImageNotLoaded, "60s", &[]);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the harness could not run:\n{all}"
    );
    assert!(
        all.contains("heapster-grafana-amd64") && all.contains("--image-mirror"),
        "{all}"
    );
    assert_eq!(
        failed_cases(&junit(dir.path()).test_suites[0]),
        ["phase::images"]
    );
    assert!(
        !all.contains("evidence kept"),
        "no cluster, no evidence to point at:\n{all}"
    );
}

#[test]
fn several_versions_write_one_junit_file_with_a_suite_each() {
    let (out, dir) = e2e_with(
        "matrix",
        Scenario::Healthy,
        &[
            "--timeout",
            "60s",
            "--k8s-version",
            "1.37,1.36",
            "--no-load",
        ],
        &[],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let report = junit(dir.path());
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "heapster-e2e (Kubernetes 1.37)",
            "heapster-e2e (Kubernetes 1.36)"
        ],
        "{all}"
    );
    assert!(report.test_suites.iter().all(|s| s.tests > 10));
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".xml") && n != "junit.xml")
        .collect();
    assert!(stray.is_empty(), "no other JUnit files: {stray:?}");
}

#[test]
fn quiet_prints_less_with_several_versions_too() {
    let args = |quiet: bool| {
        let mut a = vec![
            "--timeout",
            "60s",
            "--k8s-version",
            "1.37,1.36",
            "--parallel",
            "2",
            "--no-load",
        ];
        if quiet {
            a.push("-q");
        }
        a
    };
    let (loud, _d1) = e2e_with("loud", Scenario::Healthy, &args(false), &[]);
    let (quiet, _d2) = e2e_with("quiet", Scenario::Healthy, &args(true), &[]);
    assert_eq!(loud.status.code(), Some(0), "{}", text(&loud));
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet));
    let (loud, quiet) = (text(&loud), text(&quiet));
    assert!(
        quiet.lines().count() < loud.lines().count() / 2,
        "-q prints far less:\n{quiet}\n---\n{loud}"
    );
    assert!(
        !quiet.contains("Rollout ["),
        "no phase lines under -q:\n{quiet}"
    );
    assert!(
        quiet.contains("Versions") && quiet.contains("Summary"),
        "{quiet}"
    );
}

#[test]
fn an_add_on_upgrade_shows_the_before_checks_and_the_gap() {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let (out, dir) = e2e_with(
        "upgraded",
        Scenario::Healthy,
        &[
            "--timeout",
            "60s",
            "--no-load",
            "--upgrade-from",
            manifests.to_str().expect("utf-8"),
        ],
        &[],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("test before::heapster::health ... ok"),
        "{all}"
    );
    assert!(
        all.contains("test upgrade::no_gap_in_node_metrics ... ok"),
        "{all}"
    );
    let checks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("artifacts/checks.json")).expect("checks.json"),
    )
    .expect("json");
    let before = checks["before"].as_array().expect("before");
    assert!(
        before
            .iter()
            .any(|c| c["name"] == "before::heapster::health" && c["passed"] == true),
        "{checks}"
    );
}

#[test]
fn a_dry_run_does_not_say_passed() {
    let out = xtask()
        .args(["e2e", "--dry-run", "--no-load"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("dry run: nothing was run") && !all.contains("] passed"),
        "{all}"
    );
}

#[test]
fn an_upgrade_across_stacks_names_both_sides() {
    let (out, dir) = e2e_with(
        "across",
        Scenario::Healthy,
        &[
            "--stack",
            "metrics-server",
            "--upgrade-from",
            "heapster",
            "--timeout",
            "60s",
        ],
        &[],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for wanted in [
        "objects to upgrade from, in",
        "Remove old stack",
        "upgrade::no_gap_in_dashboard_node_metrics",
        "Upgrade heapster -> metrics-server",
    ] {
        assert!(all.contains(wanted), "{wanted:?} in:\n{all}");
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(
        junit.contains("upgrade::no_gap_in_dashboard_node_metrics"),
        "{junit}"
    );
}
