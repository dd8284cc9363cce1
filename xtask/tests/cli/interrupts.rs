//! Every interrupt: one line, clean-up, exit 2. A closed stdout stops the output only.

use kind_sim::Scenario;

use super::*;

#[test]
fn ctrl_c_during_the_rollout_deletes_the_cluster() {
    let rt = rt();
    // A slow first batch keeps the rollout waiting for heapster's readiness probe.
    let mut f = fakes(&rt, Scenario::SlowFirstBatch, "interrupted");
    let child = spawn(f.e2e.args(["--timeout", "2m"]));
    if !within(&rt, 120, f.world.wait_for_call("kind load docker-image")) {
        panic!(
            "the run never reached the load phase: {}",
            text(&ctrl_c(child))
        );
    }
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "interrupted runs exit 2:\n{all}"
    );
    assert!(all.contains("Interrupted: cleaning up"), "{all}");
    assert!(
        rt.block_on(f.world.calls())
            .iter()
            .any(|c| c.join(" ") == "kind delete cluster --name interrupted"),
        "teardown ran:\n{all}"
    );
    assert!(
        rt.block_on(f.world.cluster_names()).is_empty(),
        "no cluster left behind"
    );
}

#[test]
fn ctrl_c_during_check_with_load_deletes_the_load() {
    let rt = rt();
    // Skewed usage keeps the ground-truth checks waiting, so the signal lands mid-run.
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::ConsumerSkewed, true);
    let child = spawn(&mut check_cmd(
        &kubeconfig,
        &["--timeout", "2m", "--with-load"],
    ));
    // The ground truth asks heapster for the load pod's series: the load runs and the
    // checks wait on it.
    let asked = within(
        &rt,
        60,
        handle.wait_for_request(
            "GET /api/v1/namespaces/kube-system/services/heapster/proxy/api/v1/model/namespaces/heapster-e2e-load-",
        ),
    );
    assert!(asked, "the load was started and is being checked");
    let all = interrupt_the_checks(child);
    assert!(all.contains("deleted the load namespace"), "{all}");
    assert!(
        handle
            .requests()
            .iter()
            .any(|(m, u)| m == "DELETE" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-")),
        "the load namespace was deleted:\n{all}"
    );
}

/// Interrupt `child` while its checks wait: exit 2, one line, why it stopped, and the
/// waiting checks counted as interrupted, not failed. Returns what it printed.
fn interrupt_the_checks(child: std::process::Child) -> String {
    let out = ctrl_c(child);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an interrupt is not the stack's failure:\n{all}"
    );
    assert_eq!(all.matches("Interrupted: cleaning up").count(), 1, "{all}");
    assert!(
        all.contains("error: interrupted while the checks ran"),
        "{all}"
    );
    assert!(
        all.contains(" 0 failed, ") && all.contains(" interrupted\n"),
        "interrupted checks are counted as such, not as failures:\n{all}"
    );
    assert!(
        !all.contains("all checks passed"),
        "an interrupt is never 'all passed':\n{all}"
    );
    all
}

/// `cargo xtask sim` stopped by `kill` (SIGTERM) or a closed terminal (SIGHUP) removes its
/// folder (kubeconfigs, fake tools) as Ctrl-C does.
#[test]
fn sim_stopped_by_sigterm_or_sighup_removes_its_folder() {
    use std::io::BufRead;
    for signal in ["-TERM", "-HUP"] {
        let tmp = crate::scratch();
        let mut cmd = xtask();
        cmd.args(["sim"]).env("TMPDIR", tmp.path());
        let mut child = spawn(&mut cmd);
        let folder = tmp.path().join(format!("heapster-e2e-sim-{}", child.id()));
        let stdout = child.stdout.take().expect("stdout");
        let ready = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("Press Ctrl-C to stop."));
        assert!(
            ready && folder.join("kubeconfig").exists(),
            "{signal}: the simulator started"
        );
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("exits");
        assert_eq!(out.status.code(), Some(0), "{signal}: {}", text(&out));
        assert!(
            !folder.exists(),
            "{signal}: {} is left behind",
            folder.display()
        );
    }
}

/// The checks' first look at a node's metrics in heapster.
const NODE_METRICS: &str =
    "GET /api/v1/namespaces/kube-system/services/heapster/proxy/api/v1/model/nodes/";

#[test]
fn ctrl_c_during_the_checks_exits_2_reports_them_interrupted_and_deletes_the_cluster() {
    let rt = rt();
    // Zero metrics keep the metric checks waiting for a state that could still heal.
    let mut f = fakes(&rt, Scenario::ZeroMetrics, "interrupted-checks");
    let child = spawn(f.e2e.args(["--timeout", "2m"]));
    let (world, dir) = (&f.world, f.dir.path());
    let checking = within(
        &rt,
        120,
        world.wait_for_cluster_request("interrupted-checks", NODE_METRICS),
    );
    assert!(checking, "the checks never asked heapster for node metrics");
    let all = interrupt_the_checks(child);
    assert!(
        rt.block_on(world.cluster_names()).is_empty(),
        "the cluster was deleted:\n{all}"
    );
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit");
    let suite = &report.test_suites[0];
    assert_eq!(
        suite.failures, 0,
        "interrupted checks are skipped, not failed:\n{xml}"
    );
    assert!(suite.skipped > 0, "{xml}");
}

#[test]
fn ctrl_c_during_check_exits_2_with_one_line() {
    let rt = rt();
    // Zero metrics: the metric checks wait until the deadline, unless interrupted.
    let (handle, _dir, kubeconfig) = sim(&rt, Scenario::ZeroMetrics, true);
    let child = spawn(&mut check_cmd(&kubeconfig, &["--timeout", "2m"]));
    assert!(
        within(&rt, 60, handle.wait_for_request(NODE_METRICS)),
        "the checks never asked heapster"
    );
    interrupt_the_checks(child);
}

#[test]
fn a_closed_stdout_stops_the_output_not_the_teardown() {
    use std::io::BufRead as _;
    let rt = rt();
    let mut f = fakes(&rt, Scenario::Healthy, "closed-pipe");
    let world = &f.world;
    let mut child = spawn(f.e2e.args(["--timeout", "2m"]));
    // `| head -3`: read three lines, then close the pipe.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for _ in 0..3 {
        lines.next().expect("a line").expect("text");
    }
    drop(lines);
    let out = child.wait_with_output().expect("xtask exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "a panic:\n{stderr}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run itself passed:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        rt.block_on(world.calls())
            .iter()
            .any(|c| c.join(" ") == "kind delete cluster --name closed-pipe"),
        "teardown ran:\n{stderr}"
    );
    assert!(
        rt.block_on(world.cluster_names()).is_empty(),
        "no cluster left behind"
    );
}
