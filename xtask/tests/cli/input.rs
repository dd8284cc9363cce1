//! Bad input: exit 2 before anything runs, with a message that names the problem and the fix.

use std::path::Path;

use kind_sim::Scenario;

use super::*;

#[test]
fn check_rejects_bad_input_with_exit_2_and_a_reason() {
    let rt = rt();
    let dir = crate::scratch();
    let missing = check(&dir.path().join("nope"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("cannot read kubeconfig"),
        "{}",
        text(&missing)
    );

    let malformed = dir.path().join("malformed");
    std::fs::write(&malformed, "clusters: [unclosed").expect("write");
    let out = check(&malformed, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot read kubeconfig"),
        "{}",
        text(&out)
    );

    let (handle, _sim_dir, kubeconfig) = sim(&rt, Scenario::Healthy, false);
    let out = check(&kubeconfig, &["--context", "kind-elsewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .contains("context \"kind-elsewhere\" is not in the kubeconfig (it has: kind-sim)"),
        "{}",
        text(&out)
    );

    let out = check(&kubeconfig, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a cluster without the stack cannot be checked"
    );
    assert!(
        text(&out).contains("none of the heapster stack's Deployments"),
        "{}",
        text(&out)
    );

    let unreachable = dir.path().join("unreachable");
    let config = std::fs::read_to_string(&kubeconfig)
        .expect("read")
        .replace(&handle.addr.to_string(), "127.0.0.1:1");
    std::fs::write(&unreachable, config).expect("write");
    let out = check(&unreachable, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot reach the API server at https://127.0.0.1:1"),
        "{}",
        text(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = xtask()
        .args(["e2e", "--timeout", "90"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("use a number with a unit"),
        "{}",
        text(&out)
    );
    let out = xtask()
        .args(["e2e", "--k8s-version", "1.20", "--dry-run"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("1.37, 1.36, 1.35, 1.34"),
        "{}",
        text(&out)
    );
}

/// Run the xtask with `args` and expect exit 2 with `message` in its output.
fn refused(args: &[&str], message: &str) {
    let out = xtask()
        .args(args)
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}:\n{all}");
    assert!(
        all.contains(message),
        "{args:?} should say {message:?}:\n{all}"
    );
}

#[test]
fn bad_values_are_refused_before_anything_runs() {
    // Nothing may reach docker or kind: PATH holds neither.
    refused(
        &["e2e", "--name", "Bad_Name", "--dry-run"],
        "'Bad_Name' is not a valid cluster name",
    );
    refused(&["e2e", "--name", "", "--dry-run"], "^[a-z0-9.-]+$");
    refused(
        &["up", "--name", "..", "--dry-run"],
        "must not start with '.'",
    );
    refused(
        &["down", "--name", "Bad_Name"],
        "is not a valid cluster name",
    );
    refused(&["e2e", "--timeout", "0s", "--dry-run"], "above zero");
    refused(
        &[
            "e2e",
            "--k8s-version",
            "1.37,1.36,1.37",
            "--parallel",
            "2",
            "--dry-run",
        ],
        "--k8s-version lists 1.37 twice",
    );
    refused(
        &["e2e", "--junit", "/nonexistent/dir/junit.xml", "--dry-run"],
        "cannot write --junit /nonexistent/dir/junit.xml",
    );
    refused(
        &[
            "e2e",
            "--stack",
            "heapster",
            "--manifests",
            "manifests/metrics-server",
            "--dry-run",
        ],
        "are the metrics-server stack's, but the run is for the heapster stack: pass --stack metrics-server",
    );
    refused(&["check", "--timeout", "0s"], "above zero");
    refused(&["e2e", "--parallel", "0", "--dry-run"], "give 1 or more");
    refused(
        &["e2e", "--load-memory-tolerance", "100", "--dry-run"],
        "below 100",
    );
    refused(
        &["lint", "--k8s-version", "9.9"],
        "unknown Kubernetes version \"9.9\"",
    );
    refused(
        &["sim", "--scenario", "nope"],
        "dashboard-without-proxy-rights",
    );
    // A scenario whose faults act on the other stack's programs would change nothing.
    refused(
        &[
            "sim",
            "--stack",
            "metrics-server",
            "--scenario",
            "stale-metrics",
        ],
        "acts only on the heapster stack, not on metrics-server: it would change nothing; pass --stack heapster",
    );
}

#[test]
fn up_offers_only_what_it_honours() {
    let help = xtask().args(["up", "--help"]).output().expect("runs");
    let help = text(&help);
    for flag in [
        "--junit",
        "--keep ",
        "--load-cpu",
        "--no-load",
        "--upgrade-from",
        "--max-age",
    ] {
        assert!(!help.contains(flag), "up --help offers {flag}:\n{help}");
    }
    refused(
        &["up", "--junit", "x.xml", "--dry-run"],
        "unexpected argument '--junit'",
    );
    let e2e = text(&xtask().args(["e2e", "--help"]).output().expect("runs"));
    assert!(e2e.contains("--junit") && e2e.contains("--keep"), "{e2e}");
    let down = text(&xtask().args(["down", "--help"]).output().expect("runs"));
    assert!(down.contains("kind cluster to delete"), "{down}");
    let lint = text(&xtask().args(["lint", "--help"]).output().expect("runs"));
    assert!(
        lint.contains("Directory of the manifests to lint"),
        "{lint}"
    );
}

#[test]
fn the_simulators_scenarios_are_one_list() {
    let help = text(&xtask().args(["sim", "--help"]).output().expect("runs"));
    for s in Scenario::ALL {
        assert!(
            help.contains(s.name()),
            "sim --help misses {}:\n{help}",
            s.name()
        );
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README");
    for s in Scenario::ALL {
        assert!(
            readme.contains(&format!("`{}`", s.name())),
            "the README misses `{}`",
            s.name()
        );
    }
}

#[test]
fn defaults_resolve_against_the_workspace_from_any_directory() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let out = xtask()
        .current_dir(&src)
        .args([
            "lint",
            "--k8s-version",
            heapster_e2e::versions::DEFAULT_K8S_VERSION,
        ])
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Every stack by default, one with --stack.
    let all = text(&out);
    assert!(
        all.contains("objects in")
            && all.contains("manifests/metrics-server,")
            && all.contains("manifests/headlamp,"),
        "every stack is linted: {all}"
    );
    assert_eq!(all.matches("ok: Kubernetes").count(), 3, "{all}");
    let out = xtask()
        .current_dir(&src)
        .args(["lint", "--stack", "metrics-server", "--k8s-version", "1.34"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    let one = text(&out);
    assert_eq!(out.status.code(), Some(0), "{one}");
    assert_eq!(one.matches("ok: Kubernetes 1.34").count(), 1, "{one}");
    assert!(one.contains("manifests/metrics-server,"), "{one}");
    // A path the user gives is taken from where they are.
    let out = xtask()
        .current_dir(&src)
        .args(["lint", "--manifests", "../manifests"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn each_cause_of_an_error_is_said_once() {
    let out = xtask()
        .args(["check", "--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(all.matches("No such file or directory").count(), 1, "{all}");
    let out = xtask()
        .args(["lint", "--manifests", "/nonexistent"])
        .output()
        .expect("runs");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(all.matches("No such file or directory").count(), 1, "{all}");
}

/// A revision that cannot be unpacked stops the run (exit 2) and leaves no folder behind.
#[test]
fn a_failed_upgrade_from_leaves_no_temporary_folder() {
    let tmp = crate::scratch();
    let mut cmd = xtask();
    cmd.args(["e2e", "--upgrade-from", "no-such-revision-xyz", "--dry-run"])
        .env("TMPDIR", tmp.path());
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
