//! `cargo xtask e2e`'s pipeline end to end through the fake `kind` and `docker`: the
//! happy path, each preflight error, dry-run, images, apply order, fail-fast, teardown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::pipeline::{self, ChecksMode, Options, RunResult};
use heapster_e2e::report::Report;
use heapster_e2e::versions;
use kind_sim::{Scenario, WorldConfig};
use libtest_mimic::Trial;

use super::{
    Fakes, TestResult, check_config, failures, manifests_dir, outcome, root, stack_images,
};
use crate::ensure;

type Rt = Arc<tokio::runtime::Runtime>;

fn trial(rt: &Rt, name: &str, f: fn(&tokio::runtime::Runtime) -> TestResult) -> Trial {
    super::trial(rt, "pipeline", name, f)
}

pub fn trials(rt: &Rt) -> Vec<Trial> {
    vec![
        trial(rt, "healthy_run_is_green_and_deletes_its_cluster", healthy),
        trial(rt, "dry_run_prints_every_step_and_runs_nothing", dry_run),
        trial(rt, "preflight::missing_docker", missing_docker),
        trial(rt, "preflight::missing_kind", missing_kind),
        trial(rt, "preflight::docker_daemon_down", daemon_down),
        trial(rt, "preflight::kind_too_old", kind_too_old),
        trial(
            rt,
            "images::pulled_only_when_missing",
            pulled_only_when_missing,
        ),
        trial(rt, "images::mirror_pulls_retags_and_removes", mirror),
        trial(
            rt,
            "images::unpullable_image_stops_before_the_cluster",
            unpullable,
        ),
        trial(
            rt,
            "manifests::invalid_document_stops_before_anything",
            invalid_manifest,
        ),
        trial(rt, "apply::dependency_order_and_field_manager", apply_order),
        trial(rt, "fail_fast::crash_loop", crash_loop),
        trial(rt, "fail_fast::image_pull", image_pull),
        trial(rt, "teardown::on_interrupt", interrupt),
        trial(rt, "keep_leaves_the_cluster_and_says_how_to_reach_it", keep),
        trial(
            rt,
            "diagnose::heapster_on_the_read_only_port",
            read_only_port,
        ),
        trial(rt, "name_taken_needs_reuse_and_reuse_never_deletes", reuse),
        trial(rt, "versions::two_at_once_with_a_table", two_versions),
        trial(
            rt,
            "upgrade::broken_flag_to_fixed_goes_red_then_green",
            broken_to_fixed,
        ),
        trial(
            rt,
            "upgrade::fixed_to_broken_goes_red_with_the_cause",
            fixed_to_broken,
        ),
        trial(
            rt,
            "upgrade::no_gap_with_the_readiness_probe",
            no_gap_with_readiness_probe,
        ),
        trial(
            rt,
            "upgrade::gap_without_the_readiness_probe_is_caught",
            gap_without_readiness_probe,
        ),
        trial(
            rt,
            "ground_truth::green_within_tolerance",
            ground_truth_green,
        ),
        trial(
            rt,
            "ground_truth::skewed_tenfold_is_red",
            ground_truth_skewed,
        ),
        trial(
            rt,
            "ground_truth::metrics_never_appear",
            ground_truth_never_appears,
        ),
        trial(
            rt,
            "ground_truth::load_deleted_on_interrupt",
            ground_truth_interrupted,
        ),
    ]
}

fn world() -> WorldConfig {
    WorldConfig {
        registry: Fakes::registry_with_stack(),
        ..Default::default()
    }
}

pub fn options(fakes: &Fakes) -> Options {
    let mut opts =
        Options::new(&root(), "e2e", versions::DEFAULT_K8S_VERSION).expect("pinned version");
    opts.timeout = Duration::from_secs(120);
    opts.work_dir = fakes.work_dir();
    opts.artifacts = fakes.dir.path().join("artifacts");
    opts.checks = check_config(Duration::from_secs(60));
    // The calibrated load has tests of its own (ground_truth::...).
    opts.load = None;
    opts
}

fn run(rt: &tokio::runtime::Runtime, fakes: &Fakes, opts: &Options) -> (RunResult, Report) {
    run_with(rt, fakes, opts, &Cancel::new(), Report::new(false))
}

fn run_with(
    rt: &tokio::runtime::Runtime,
    fakes: &Fakes,
    opts: &Options,
    cancel: &Cancel,
    report: Report,
) -> (RunResult, Report) {
    let sh = fakes.shell();
    let result = pipeline::run(&sh, rt, opts, ChecksMode::Collect, cancel, &report);
    (result, report)
}

fn position(calls: &[String], prefix: &str) -> Option<usize> {
    calls.iter().position(|c| c.starts_with(prefix))
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let (result, report) = run(rt, &fakes, &options(&fakes));
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}\n{}",
        result.exit,
        result.error,
        failures(&result.outcomes).join("\n"),
        report.lines().join("\n")
    );
    ensure!(
        !result.outcomes.is_empty() && result.outcomes.iter().all(|o| o.passed),
        "all checks ran and passed"
    );
    let calls = fakes.calls(rt);
    let order = [
        "docker info",
        "kind version",
        "kind get clusters",
        "docker pull",
        "kind create cluster --name e2e",
        "kind get kubeconfig",
        "kind load docker-image",
        "docker exec e2e-worker crictl images",
        "kind delete cluster --name e2e",
    ];
    let positions: Vec<Option<usize>> = order.iter().map(|p| position(&calls, p)).collect();
    ensure!(
        positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
        "phases out of order: {calls:#?}"
    );
    let loads: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kind load"))
        .collect();
    ensure!(
        loads.len() == 1 && stack_images().iter().all(|i| loads[0].contains(i.as_str())),
        "all images load in one call: {loads:?}"
    );
    let create = &calls[positions[4].unwrap_or_default()];
    ensure!(
        create.contains("--image kindest/node:v1.37.0@sha256:"),
        "the pinned node image with its digest: {create}"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "the cluster is deleted after success"
    );
    let kubeconfig = result.kubeconfig.ok_or("no kubeconfig path")?;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kubeconfig)
            .map_err(|e| e.to_string())?
            .permissions(),
    );
    ensure!(mode & 0o777 == 0o600, "kubeconfig mode {:o}", mode & 0o777);
    let lines = report.lines().join("\n");
    for phase in [
        "Preflight",
        "Images",
        "Cluster",
        "Load",
        "Apply",
        "Rollout",
        "Checks",
        "Teardown",
    ] {
        ensure!(
            lines.contains(&format!("{phase:>12} [")),
            "no {phase} line in:\n{lines}"
        );
    }
    Ok(())
}

fn dry_run(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.dry_run = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(result.exit == 0, "exit {}: {:?}", result.exit, result.error);
    let calls = fakes.calls(rt);
    ensure!(calls.is_empty(), "dry-run ran commands: {calls:?}");
    let lines = report.lines();
    let steps = [
        "would run: docker info",
        "would run: kind version",
        "would run: kind get clusters",
        "docker pull registry.k8s.io/heapster-amd64:v1.5.4",
        "would run: kind create cluster --name e2e",
        "would run: kind load docker-image",
        "would apply",
        "would wait",
        "would run the checks",
        "kind delete cluster --name e2e",
    ];
    let mut last = 0;
    for step in steps {
        let at = lines
            .iter()
            .position(|l| l.contains(step))
            .ok_or_else(|| format!("dry-run does not print {step:?}:\n{}", lines.join("\n")))?;
        ensure!(
            at >= last,
            "{step:?} printed out of order:\n{}",
            lines.join("\n")
        );
        last = at;
    }
    let applies: Vec<&String> = lines.iter().filter(|l| l.contains("would apply")).collect();
    ensure!(
        applies
            .first()
            .is_some_and(|l| l.contains("ServiceAccount"))
            && applies.last().is_some_and(|l| l.contains("Deployment")),
        "apply order shown: {applies:#?}"
    );
    ensure!(!fakes.work_dir().exists(), "dry-run wrote files");
    let claims: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("pulled") || l.contains("created") || l.contains("images on"))
        .collect();
    ensure!(
        claims.is_empty(),
        "dry-run claims work it did not do: {claims:?}"
    );
    Ok(())
}

fn expect_harness_error(result: &RunResult, needles: &[&str]) -> TestResult {
    ensure!(
        result.exit == 2,
        "expected exit 2, got {}: {:?}",
        result.exit,
        result.error
    );
    let error = result.error.clone().unwrap_or_default();
    for n in needles {
        ensure!(error.contains(n), "the error should mention {n:?}: {error}");
    }
    Ok(())
}

fn missing_docker(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::with_tools(rt, world(), &["kind"]);
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &["`docker` was not found on PATH", "install Docker"],
    )?;
    ensure!(
        fakes.calls(rt).is_empty(),
        "nothing may run after a failed preflight"
    );
    Ok(())
}

fn missing_kind(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::with_tools(rt, world(), &["docker"]);
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &[
            "`kind` was not found on PATH",
            "go install sigs.k8s.io/kind@v0.33.0",
        ],
    )?;
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind")),
        "no kind call"
    );
    Ok(())
}

fn daemon_down(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            daemon_running: false,
            ..world()
        },
    );
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &[
            "Docker daemon is not answering",
            "Cannot connect to the Docker daemon",
        ],
    )?;
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind create")),
        "no cluster after a failed preflight"
    );
    Ok(())
}

fn kind_too_old(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            kind_version: "v0.20.0".into(),
            ..world()
        },
    );
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(&result, &["kind v0.20.0 is older than the pinned v0.33.0"])
}

fn pulled_only_when_missing(rt: &tokio::runtime::Runtime) -> TestResult {
    let present: Vec<String> = stack_images().into_iter().take(2).collect();
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            local_images: present.clone(),
            ..world()
        },
    );
    let mut opts = options(&fakes);
    opts.up_only = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}",
        result.exit,
        result.error,
        report.lines().join("\n")
    );
    let pulls: Vec<String> = fakes
        .calls(rt)
        .into_iter()
        .filter(|c| c.starts_with("docker pull"))
        .collect();
    ensure!(pulls.len() == 2, "pulled {pulls:?}");
    ensure!(
        pulls
            .iter()
            .all(|p| present.iter().all(|i| !p.ends_with(i.as_str()))),
        "present images were pulled again: {pulls:?}"
    );
    Ok(())
}

fn mirror(rt: &tokio::runtime::Runtime) -> TestResult {
    let registry = stack_images()
        .iter()
        .map(|i| {
            (
                heapster_e2e::images::mirror_reference("mirror.local/k8s", i),
                None,
            )
        })
        .collect();
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            registry,
            ..world()
        },
    );
    let mut opts = options(&fakes);
    opts.image_mirror = Some("mirror.local/k8s".into());
    opts.up_only = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}",
        result.exit,
        result.error,
        report.lines().join("\n")
    );
    let calls = fakes.calls(rt);
    for image in stack_images() {
        let from = heapster_e2e::images::mirror_reference("mirror.local/k8s", &image);
        let steps = [
            format!("docker pull {from}"),
            format!("docker tag {from} {image}"),
            format!("docker rmi {from}"),
        ];
        let at: Vec<Option<usize>> = steps
            .iter()
            .map(|s| calls.iter().position(|c| c == s))
            .collect();
        ensure!(
            at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]),
            "pull, tag, rmi in order for {image}: {calls:#?}"
        );
    }
    let local = rt.block_on(fakes.world.local_images());
    ensure!(
        local.iter().all(|i| !i.contains("mirror.local")),
        "mirror tags removed: {local:?}"
    );
    ensure!(
        stack_images().iter().all(|i| local.contains(i)),
        "retagged to the manifests' names: {local:?}"
    );
    Ok(())
}

fn unpullable(rt: &tokio::runtime::Runtime) -> TestResult {
    let registry = Fakes::registry_with_stack()
        .into_iter()
        .filter(|(i, _)| !i.contains("grafana"))
        .collect();
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            registry,
            ..world()
        },
    );
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &[
            "could not pull 1 image",
            "heapster-grafana-amd64:v5.0.4",
            "manifest unknown",
            "--image-mirror",
        ],
    )?;
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind create")),
        "no cluster for a run whose images cannot be had"
    );
    Ok(())
}

pub fn copy_manifests(edit: impl Fn(&str, String) -> String) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(manifests_dir()).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            std::fs::write(dir.path().join(&name), edit(&name, text)).map_err(|e| e.to_string())?;
        }
    }
    Ok(dir)
}

fn invalid_manifest(rt: &tokio::runtime::Runtime) -> TestResult {
    let dir = copy_manifests(|name, text| {
        if name == "40-grafana.yaml" {
            text.replace(
                "  selector:\n    matchLabels:\n      k8s-app: grafana\n",
                "",
            )
        } else {
            text
        }
    })?;
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.manifests = dir.path().to_path_buf();
    let (result, _) = run(rt, &fakes, &opts);
    expect_harness_error(
        &result,
        &[
            "40-grafana.yaml, document 0",
            "requires spec.selector",
            "nothing was applied",
        ],
    )?;
    ensure!(
        !fakes
            .calls(rt)
            .iter()
            .any(|c| c.starts_with("kind create") || c.starts_with("docker pull")),
        "nothing may happen before every manifest is valid"
    );
    Ok(())
}

fn apply_order(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.up_only = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}",
        result.exit,
        result.error,
        report.lines().join("\n")
    );
    let requests = rt
        .block_on(fakes.world.with_cluster("e2e", |h| h.requests()))
        .ok_or("cluster kept by up")?;
    let patches: Vec<String> = requests
        .into_iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, u)| u)
        .collect();
    ensure!(
        patches
            .iter()
            .all(|u| u.contains("fieldManager=heapster-e2e") && u.contains("force=true")),
        "server-side apply with one field manager: {patches:#?}"
    );
    let at = |needle: &str| {
        patches
            .iter()
            .position(|u| u.contains(needle))
            .ok_or_else(|| format!("{needle} was not applied: {patches:#?}"))
    };
    ensure!(
        at("/serviceaccounts/heapster?")? < at("/clusterroles/")?,
        "service accounts before RBAC"
    );
    ensure!(
        at("/clusterrolebindings/")? < at("/services/heapster?")?,
        "RBAC before services"
    );
    ensure!(
        at("/services/kubernetes-dashboard?")? < at("/deployments/heapster?")?,
        "services before workloads"
    );
    ensure!(
        at("/deployments/heapster?")? < at("/deployments/kubernetes-dashboard?")?,
        "heapster before the dashboard"
    );
    Ok(())
}

fn crash_loop(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            scenario: Scenario::CrashLoop,
            ..world()
        },
    );
    let (result, _) = run(rt, &fakes, &options(&fakes));
    ensure!(
        result.exit == 1,
        "a crashing stack pod is a failure of the system under test (exit 1), got {}: {:?}",
        result.exit,
        result.error
    );
    let error = result.error.unwrap_or_default();
    ensure!(
        error.contains("CrashLoopBackOff")
            && error.contains("container heapster")
            && error.contains("kube-system/heapster-"),
        "names pod, container and reason: {error}"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "the cluster is deleted after a failure"
    );
    Ok(())
}

fn image_pull(rt: &tokio::runtime::Runtime) -> TestResult {
    // With `imagePullPolicy: Always` a kind node ignores the loaded image and pulls; with no
    // registry reachable that fails, as it does on real kind clusters.
    let dir = copy_manifests(|name, text| {
        if name == "40-grafana.yaml" {
            text.replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: Always")
        } else {
            text
        }
    })?;
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.manifests = dir.path().to_path_buf();
    let (result, _) = run(rt, &fakes, &opts);
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    let error = result.error.unwrap_or_default();
    ensure!(
        (error.contains("ErrImagePull") || error.contains("ImagePullBackOff"))
            && error.contains("monitoring-grafana")
            && error.contains("heapster-grafana-amd64"),
        "names pod, reason and image: {error}"
    );
    ensure!(
        !error.contains("did not roll out within"),
        "failed on the cause, not the deadline: {error}"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "the cluster is deleted after a failure"
    );
    Ok(())
}

fn interrupt(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let cancel = Cancel::new();
    let report = Report::new(false);
    let on_apply = cancel.clone();
    report.on_phase(move |phase| {
        if phase == "Apply" {
            on_apply.cancel();
        }
    });
    let (result, report) = run_with(rt, &fakes, &options(&fakes), &cancel, report);
    ensure!(
        result.exit == 2 && result.error.as_deref() == Some("interrupted"),
        "exit {}: {:?}",
        result.exit,
        result.error
    );
    let calls = fakes.calls(rt);
    ensure!(
        calls.iter().any(|c| c == "kind delete cluster --name e2e"),
        "teardown after interrupt: {calls:#?}"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "no cluster left behind"
    );
    ensure!(
        report.lines().iter().any(|l| l.contains("Teardown")),
        "teardown reported"
    );
    Ok(())
}

fn keep(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.keep = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(result.exit == 0, "exit {}: {:?}", result.exit, result.error);
    ensure!(
        rt.block_on(fakes.world.cluster_names()) == ["e2e"],
        "--keep leaves the cluster"
    );
    ensure!(
        report
            .lines()
            .iter()
            .any(|l| l.contains("kubectl --context kind-e2e")),
        "says how to reach it: {:?}",
        report.lines()
    );
    let kubeconfig: PathBuf = fakes.dir.path().join("kube/config");
    let text = std::fs::read_to_string(&kubeconfig)
        .map_err(|e| format!("kind merges its context into KUBECONFIG: {e}"))?;
    ensure!(
        text.contains("kind-e2e"),
        "context kind-e2e in {}",
        kubeconfig.display()
    );
    Ok(())
}

fn reuse(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let sh = fakes.shell();
    let config = root().join("manifests/kind/kind-config.yaml");
    xshell::cmd!(sh, "kind create cluster --name e2e --config {config}")
        .quiet()
        .ignore_stderr()
        .run()
        .map_err(|e| e.to_string())?;
    let (taken, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &taken,
        &["already exists", "--reuse", "cargo xtask down --name e2e"],
    )?;
    let mut opts = options(&fakes);
    opts.reuse = true;
    let (result, report) = run(rt, &fakes, &opts);
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}",
        result.exit,
        result.error,
        report.lines().join("\n")
    );
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind delete")),
        "--reuse never deletes a cluster the run did not create"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()) == ["e2e"],
        "the reused cluster stays"
    );
    Ok(())
}

/// Heapster's 2018 default source reads the kubelet's read-only port, closed on current
/// clusters. Heapster still exports (empty) batches, so it gets Ready; it lists no nodes,
/// and the failure reads its log and says why and what to change.
pub fn read_only_port(rt: &tokio::runtime::Runtime) -> TestResult {
    let legacy = "--source=kubernetes:https://kubernetes.default";
    let dir = copy_manifests(|name, text| {
        if name == "30-heapster.yaml" {
            text.lines()
                .map(|l| {
                    if l.contains("--source=") {
                        format!("            - {legacy}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            text
        }
    })?;
    let fakes = Fakes::new(rt, world());
    let mut opts = options(&fakes);
    opts.manifests = dir.path().to_path_buf();
    opts.checks = check_config(Duration::from_secs(3));
    let (result, _) = run(rt, &fakes, &opts);
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    ensure!(
        result.error.is_none(),
        "the stack rolls out: {:?}",
        result.error
    );
    let nodes = outcome(&result.outcomes, "heapster::nodes");
    ensure!(
        !nodes.passed && nodes.message.contains("heapster lists no nodes"),
        "{nodes:?}"
    );
    ensure!(
        nodes
            .message
            .contains(":10255: getsockopt: connection refused"),
        "heapster's log is the evidence: {}",
        nodes.message
    );
    ensure!(
        nodes.message.contains("read-only port 10255 is closed")
            && nodes.message.contains("kubeletPort=10250"),
        "cause and fix named: {}",
        nodes.message
    );
    Ok(())
}

/// Two Kubernetes versions in one run, overlapping: a cluster each, with its pinned node
/// image, and the version x check table.
pub fn two_versions(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::new(rt, world());
    let runs: Vec<Options> = ["1.37", "1.36"]
        .iter()
        .map(|v| {
            let mut o = options(&fakes);
            o.name = heapster_e2e::matrix::cluster_name("e2e", v);
            o.k8s_version = v.to_string();
            o.node_image = versions::node_image(v).expect("pinned").reference();
            o.artifacts = fakes.dir.path().join("artifacts").join(&o.name);
            o
        })
        .collect();
    let make_shell = || Ok(fakes.shell());
    let make_mode = || ChecksMode::Collect;
    let make_report = |_: &Options| Report::new(false);
    let results = pipeline::run_many(
        &runs,
        2,
        rt,
        &make_shell,
        &make_mode,
        &make_report,
        &Cancel::new(),
    );
    ensure!(
        results.len() == 2 && results.iter().all(|(r, _)| r.exit == 0),
        "{:?}",
        results
            .iter()
            .map(|(r, _)| (&r.exit, &r.error))
            .collect::<Vec<_>>()
    );
    let calls = fakes.calls(rt);
    ensure!(
        calls
            .iter()
            .any(|c| c.starts_with("kind create cluster --name e2e-1-37")
                && c.contains("kindest/node:v1.37.0@")),
        "{calls:#?}"
    );
    ensure!(
        calls
            .iter()
            .any(|c| c.starts_with("kind create cluster --name e2e-1-36")
                && c.contains("kindest/node:v1.36.4@")),
        "{calls:#?}"
    );
    let rendered = heapster_e2e::matrix::render_runs(&runs, &results);
    let header = rendered
        .lines()
        .find(|l| l.trim_start().starts_with("check"))
        .unwrap_or_default();
    ensure!(
        header.contains("1.37") && header.contains("1.36"),
        "{rendered}"
    );
    let row = rendered
        .lines()
        .find(|l| l.trim_start().starts_with("heapster::node_metrics"))
        .unwrap_or_default();
    ensure!(row.matches("ok 3/3").count() == 2, "{rendered}");
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "both clusters deleted"
    );
    Ok(())
}

/// Heapster's 2018 default source, which reads the kubelet's closed read-only port.
fn with_legacy_source(name: &str, text: String) -> String {
    if name != "30-heapster.yaml" {
        return text;
    }
    text.lines()
        .map(|l| {
            if l.contains("--source=") {
                "            - --source=kubernetes:https://kubernetes.default".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn upgrade(
    rt: &tokio::runtime::Runtime,
    from: &std::path::Path,
    to: &std::path::Path,
    rollout_timeout: Duration,
) -> (RunResult, Report) {
    // A new heapster's first export comes well after its pod starts (5 to 15 s upstream),
    // so a gap is many looks long, never one the monitor can fall between.
    let mut timing = kind_sim::Timing::fast();
    timing.heapster = Some(kind_sim::HeapsterClock {
        first_export: Duration::from_millis(800),
        spacing: Some(Duration::from_millis(150)),
    });
    let fakes = Fakes::new(
        rt,
        WorldConfig {
            timing: Some(timing),
            ..world()
        },
    );
    let mut opts = options(&fakes);
    opts.upgrade_from = Some(from.to_path_buf());
    opts.manifests = to.to_path_buf();
    opts.timeout = rollout_timeout;
    opts.checks = check_config(Duration::from_secs(10));
    run(rt, &fakes, &opts)
}

pub fn broken_to_fixed(rt: &tokio::runtime::Runtime) -> TestResult {
    let broken = copy_manifests(with_legacy_source)?;
    let (result, report) = upgrade(rt, broken.path(), &manifests_dir(), Duration::from_secs(3));
    ensure!(
        result.exit == 0,
        "the upgrade fixes it: exit {} {:?}\n{}\n{}",
        result.exit,
        result.error,
        failures(&result.outcomes).join("\n"),
        report.lines().join("\n")
    );
    let red: Vec<&str> = result
        .before
        .iter()
        .filter(|o| !o.passed && !o.ignored)
        .map(|o| o.name.as_str())
        .collect();
    ensure!(
        red.contains(&"before::heapster::nodes"),
        "red before: {red:?}"
    );
    let nodes = outcome(&result.before, "before::heapster::nodes")
        .message
        .clone();
    ensure!(
        nodes.contains(":10255: getsockopt: connection refused"),
        "{nodes}"
    );
    ensure!(
        result.outcomes.iter().all(|o| o.passed || o.ignored),
        "green after: {:?}",
        failures(&result.outcomes)
    );
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "dashboard::log" && o.passed),
        "the dashboard reconnects"
    );
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "upgrade::no_gap_in_node_metrics" && o.ignored),
        "no series to keep before"
    );
    Ok(())
}

pub fn fixed_to_broken(rt: &tokio::runtime::Runtime) -> TestResult {
    let broken = copy_manifests(with_legacy_source)?;
    let (result, _) = upgrade(rt, &manifests_dir(), broken.path(), Duration::from_secs(3));
    ensure!(
        result.before.iter().all(|o| o.passed || o.ignored),
        "green before: {:?}",
        failures(&result.before)
    );
    ensure!(result.exit == 1, "exit {}: {:?}", result.exit, result.error);
    // The broken heapster gets Ready on its first (empty) batch and replaces the good one.
    let nodes = outcome(&result.outcomes, "heapster::nodes");
    ensure!(
        !nodes.passed && nodes.message.contains("read-only port 10255 is closed"),
        "the cause is named: {}",
        nodes.message
    );
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(!gap.passed && !gap.ignored, "the series broke off: {gap:?}");
    Ok(())
}

fn annotate_heapster(name: &str, text: String) -> String {
    if name != "30-heapster.yaml" {
        return text;
    }
    text.replace("    metadata:\n      labels:\n        k8s-app: heapster\n", "    metadata:\n      annotations:\n        heapster-e2e/revision: \"2\"\n      labels:\n        k8s-app: heapster\n")
}

pub fn no_gap_with_readiness_probe(rt: &tokio::runtime::Runtime) -> TestResult {
    let next = copy_manifests(annotate_heapster)?;
    let (result, report) = upgrade(rt, &manifests_dir(), next.path(), Duration::from_secs(60));
    ensure!(
        result.exit == 0,
        "exit {} {:?}\n{:?}\n{}",
        result.exit,
        result.error,
        failures(&result.outcomes),
        report.lines().join("\n")
    );
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(
        gap.passed
            && gap.message.contains("memory/usage always fresh")
            && gap.message.contains("limit 20s"),
        "{gap:?}"
    );
    Ok(())
}

/// The shipped manifests without heapster's readiness probe.
pub fn without_heapster_readiness_probe(name: &str, text: String) -> String {
    if name == "30-heapster.yaml" {
        text.replace("          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: 8082\n            periodSeconds: 5\n", "")
    } else {
        text
    }
}

pub fn gap_without_readiness_probe(rt: &tokio::runtime::Runtime) -> TestResult {
    let next = copy_manifests(|name, text| {
        without_heapster_readiness_probe(name, annotate_heapster(name, text))
    })?;
    ensure!(
        !std::fs::read_to_string(next.path().join("30-heapster.yaml"))
            .map_err(|e| e.to_string())?
            .contains("readinessProbe"),
        "probe removed"
    );
    let (result, _) = upgrade(rt, &manifests_dir(), next.path(), Duration::from_secs(60));
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let gap = outcome(&result.outcomes, "upgrade::no_gap_in_node_metrics");
    ensure!(
        !gap.passed && !gap.ignored && gap.message.contains("memory/usage had no heapster data"),
        "{gap:?}"
    );
    Ok(())
}

fn load_world(scenario: Scenario) -> WorldConfig {
    let mut registry = Fakes::registry_with_stack();
    registry.push((versions::LOAD_IMAGE.reference(), None));
    WorldConfig {
        registry,
        scenario,
        ..Default::default()
    }
}

/// Run with the calibrated load; the cluster is kept so its requests can be read.
fn with_load(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    cancel_after: Option<&'static str>,
) -> (RunResult, Vec<(String, String)>) {
    let fakes = Fakes::new(rt, load_world(scenario));
    let mut opts = options(&fakes);
    opts.load = Some(heapster_e2e::load::LoadConfig::default());
    opts.keep = true;
    opts.checks = check_config(Duration::from_secs(4));
    let cancel = Cancel::new();
    let report = Report::new(false);
    if let Some(phase) = cancel_after {
        let c = cancel.clone();
        report.on_phase(move |p| {
            if p == phase {
                c.cancel();
            }
        });
    }
    let (result, _) = run_with(rt, &fakes, &opts, &cancel, report);
    let requests = rt
        .block_on(fakes.world.with_cluster("e2e", |h| h.requests()))
        .unwrap_or_default();
    (result, requests)
}

fn load_deleted(requests: &[(String, String)]) -> bool {
    requests
        .iter()
        .any(|(m, u)| m == "DELETE" && u.starts_with("/api/v1/namespaces/heapster-e2e-load-"))
}

pub fn ground_truth_green(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::Healthy, None);
    ensure!(
        result.exit == 0,
        "exit {} {:?} {:?}",
        result.exit,
        result.error,
        failures(&result.outcomes)
    );
    let truth: Vec<&heapster_e2e::suite::Outcome> = result
        .outcomes
        .iter()
        .filter(|o| o.name.starts_with("ground_truth::"))
        .collect();
    ensure!(
        truth.len() == 5 && truth.iter().all(|o| o.passed),
        "{truth:#?}"
    );
    let cpu = outcome(&result.outcomes, "ground_truth::cpu")
        .message
        .clone();
    ensure!(
        cpu.contains("target 100m") && cpu.contains("tolerance ±30%"),
        "{cpu}"
    );
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after a pass"
    );
    Ok(())
}

pub fn ground_truth_skewed(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::ConsumerSkewed, None);
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let cpu = outcome(&result.outcomes, "ground_truth::cpu");
    ensure!(
        !cpu.passed && cpu.message.contains("target 100m, tolerance ±30%"),
        "{cpu:?}"
    );
    let deviation: i64 = cpu
        .message
        .rsplit("(+")
        .next()
        .and_then(|d| d.split('%').next())
        .and_then(|d| d.parse().ok())
        .ok_or("no deviation in the message")?;
    ensure!(deviation > 500, "about ten times the target: {cpu:?}");
    let memory = outcome(&result.outcomes, "ground_truth::memory");
    ensure!(
        !memory.passed && memory.message.contains("target 64.0 MiB"),
        "{memory:?}"
    );
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after a failure"
    );
    Ok(())
}

pub fn ground_truth_never_appears(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::ConsumerWithoutMetrics, None);
    ensure!(result.exit == 1, "exit {} {:?}", result.exit, result.error);
    let cpu = outcome(&result.outcomes, "ground_truth::cpu");
    ensure!(!cpu.passed && cpu.message.contains("no points"), "{cpu:?}");
    ensure!(
        result
            .outcomes
            .iter()
            .any(|o| o.name == "heapster::health" && o.passed),
        "heapster itself is fine"
    );
    ensure!(load_deleted(&requests), "the load namespace is deleted");
    Ok(())
}

pub fn ground_truth_interrupted(rt: &tokio::runtime::Runtime) -> TestResult {
    let (result, requests) = with_load(rt, Scenario::Healthy, Some("Load generators"));
    ensure!(
        result.exit == 2 && result.error.as_deref() == Some("interrupted"),
        "exit {} {:?}",
        result.exit,
        result.error
    );
    ensure!(
        load_deleted(&requests),
        "the load namespace is deleted after an interrupt"
    );
    Ok(())
}
