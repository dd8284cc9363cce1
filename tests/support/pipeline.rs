//! `cargo xtask e2e`'s pipeline end to end through the fake `kind` and `docker`: the
//! happy path, dry-run, apply order, fail-fast, teardown, `--keep`, `--reuse`, several
//! versions. Preflight and images are in `setup`, upgrades in `upgrade`, the calibrated
//! load in `ground_truth`.

use std::path::PathBuf;
use std::time::Duration;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::pipeline::{self, ChecksMode, Options, RunResult};
use heapster_e2e::report::Report;
use heapster_e2e::versions;
use kind_sim::{Scenario, WorldConfig};
use libtest_mimic::Trial;

use super::{
    Fakes, TestResult, check_config, copy_manifests, failures, outcome, root, stack_images,
};
use super::{Group, Rt};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "pipeline");
    vec![
        g.trial("healthy_run_is_green_and_deletes_its_cluster", healthy),
        g.trial("dry_run_prints_every_step_and_runs_nothing", dry_run),
        g.trial("apply::dependency_order_and_field_manager", apply_order),
        g.trial("fail_fast::crash_loop", crash_loop),
        g.trial("fail_fast::image_pull", image_pull),
        g.trial("teardown::on_interrupt", interrupt),
        g.trial("keep_leaves_the_cluster_and_says_how_to_reach_it", keep),
        g.trial("diagnose::heapster_on_the_read_only_port", read_only_port),
        g.trial("name_taken_needs_reuse_and_reuse_never_deletes", reuse),
        g.trial("versions::two_at_once_with_a_table", two_versions),
    ]
}

pub fn world() -> WorldConfig {
    WorldConfig {
        registry: Fakes::registry_with_stack(),
        ..Default::default()
    }
}

/// The fake world with every stack's images, its clusters playing `s`.
pub fn world_playing(s: kind_sim::Scenario) -> WorldConfig {
    WorldConfig {
        scenario: s,
        ..world()
    }
}

/// `--dry-run` of `stack`: exit 0, every `shown` text in its lines and no `absent` one,
/// and no cluster created.
pub fn dry_run_of(
    rt: &tokio::runtime::Runtime,
    stack: heapster_e2e::stack::Stack,
    shown: &[&str],
    absent: &str,
) -> TestResult {
    let (fakes, result, report) = run_on(rt, world(), |o| {
        *o = o.clone().for_stack(&root(), stack);
        o.dry_run = true;
    });
    crate::ensure!(
        result.exit == 0,
        "dry run exit {}: {:?}",
        result.exit,
        result.error
    );
    let text = report.lines().join("\n");
    for wanted in shown {
        crate::ensure!(
            text.contains(wanted),
            "dry run should show {wanted:?}:\n{text}"
        );
    }
    crate::ensure!(
        !text.contains(absent),
        "no {absent} on the {stack} stack:\n{text}"
    );
    crate::ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind create")),
        "a dry run creates nothing"
    );
    Ok(())
}

/// Run `stack` on a healthy cluster with the calibrated load.
pub fn healthy_with_load(
    rt: &tokio::runtime::Runtime,
    stack: heapster_e2e::stack::Stack,
) -> (Fakes, RunResult, Report) {
    let mut with_load = world();
    with_load
        .registry
        .push((heapster_e2e::versions::LOAD_IMAGE.reference(), None));
    run_on(rt, with_load, |o| {
        *o = o.clone().for_stack(&root(), stack);
        o.load = Some(Default::default());
    })
}

/// Run `stack` on a cluster playing `s`, the checks given `timeout`: red (exit 1).
pub fn red_run_of(
    rt: &tokio::runtime::Runtime,
    stack: heapster_e2e::stack::Stack,
    s: kind_sim::Scenario,
    timeout: Duration,
) -> Result<RunResult, libtest_mimic::Failed> {
    let (_fakes, result, _report) = run_on(rt, world_playing(s), |o| {
        *o = o.clone().for_stack(&root(), stack);
        o.checks.timeout = timeout;
    });
    crate::ensure!(
        result.exit == 1,
        "{s:?}: exit {} ({:?}); failures: {:?}",
        result.exit,
        result.error,
        super::failures(&result.outcomes)
    );
    Ok(result)
}

/// The names of the Deployments left on a kept cluster of a run.
pub fn deployments_left(
    rt: &tokio::runtime::Runtime,
    result: &RunResult,
) -> Result<Vec<String>, String> {
    rt.block_on(async {
        let kubeconfig = result.kubeconfig.clone().ok_or("no kubeconfig")?;
        let client = heapster_e2e::kubeclient::connect(Some(&kubeconfig), Some("kind-e2e"))
            .await
            .map_err(|e| e.to_string())?;
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::all(client);
        let list = api
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect())
    })
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

pub fn run(rt: &tokio::runtime::Runtime, fakes: &Fakes, opts: &Options) -> (RunResult, Report) {
    run_with(rt, fakes, opts, &Cancel::new(), Report::new(false))
}

pub fn run_with(
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

/// Run the pipeline on fakes of `config`, with the options `adjust` makes.
pub fn run_on(
    rt: &tokio::runtime::Runtime,
    config: WorldConfig,
    adjust: impl FnOnce(&mut Options),
) -> (Fakes, RunResult, Report) {
    let fakes = Fakes::new(rt, config);
    let mut opts = options(&fakes);
    adjust(&mut opts);
    let (result, report) = run(rt, &fakes, &opts);
    (fakes, result, report)
}

/// The run passed (exit 0); else its error, failing checks and lines.
pub fn expect_passed(result: &RunResult, report: &Report) -> TestResult {
    ensure!(
        result.exit == 0,
        "exit {}: {:?}\n{}\n{}",
        result.exit,
        result.error,
        failures(&result.outcomes).join("\n"),
        report.lines().join("\n")
    );
    Ok(())
}

pub fn expect_harness_error(result: &RunResult, needles: &[&str]) -> TestResult {
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

pub fn position(calls: &[String], prefix: &str) -> Option<usize> {
    calls.iter().position(|c| c.starts_with(prefix))
}

fn healthy(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, report) = run_on(rt, world(), |_| {});
    expect_passed(&result, &report)?;
    ensure!(
        !result.outcomes.is_empty() && result.outcomes.iter().all(|o| o.passed),
        "all checks ran and passed"
    );
    let calls = fakes.calls(rt);
    // The pulls run beside the cluster's creation; both come before the load.
    let order = [
        "docker info",
        "kind version",
        "kind get clusters",
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
    let pulls_before_load = calls
        .iter()
        .rposition(|c| c.starts_with("docker pull"))
        .zip(position(&calls, "kind load docker-image"))
        .is_some_and(|(pull, load)| pull < load);
    ensure!(
        pulls_before_load
            && position(&calls, "kind get clusters") < position(&calls, "docker pull"),
        "every pull after the preflight and before the load: {calls:#?}"
    );
    let loads: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("kind load"))
        .collect();
    ensure!(
        loads.len() == 1 && stack_images().iter().all(|i| loads[0].contains(i.as_str())),
        "all images load in one call: {loads:?}"
    );
    let create = &calls[position(&calls, "kind create cluster").unwrap_or_default()];
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
    let (fakes, result, report) = run_on(rt, world(), |opts| {
        opts.dry_run = true;
    });
    expect_passed(&result, &report)?;
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

fn apply_order(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, report) = run_on(rt, world(), |opts| {
        opts.up_only = true;
    });
    expect_passed(&result, &report)?;
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
    let (fakes, result, _) = run_on(
        rt,
        WorldConfig {
            scenario: Scenario::CrashLoop,
            ..world()
        },
        |_| {},
    );
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
    let (fakes, result, _) = run_on(rt, world(), |opts| {
        opts.manifests = dir.path().to_path_buf();
    });
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
    let (fakes, result, report) = run_on(rt, world(), |opts| {
        opts.keep = true;
    });
    expect_passed(&result, &report)?;
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
    expect_passed(&result, &report)?;
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
    let (_fakes, result, _) = run_on(rt, world(), |opts| {
        opts.manifests = dir.path().to_path_buf();
        opts.checks = check_config(Duration::from_secs(3));
    });
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
    let text = nodes.text();
    ensure!(
        text.contains(":10255: getsockopt: connection refused"),
        "heapster's log is the evidence: {text}"
    );
    ensure!(
        text.contains("read-only port 10255 is closed") && text.contains("kubeletPort=10250"),
        "cause and fix named: {text}"
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
            o.name = heapster_e2e::report::matrix::cluster_name("e2e", v);
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
    let rendered = heapster_e2e::pipeline::render_runs(&runs, &results);
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
