//! `e2e` and `up`: preflight -> images -> cluster -> load -> apply -> wait -> checks ->
//! evidence -> teardown. The same code runs for users, in CI, and in `cargo test` against
//! the simulated cluster.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use libtest_mimic::Arguments;
use xshell::Shell;

use crate::cancel::{Cancel, Interrupted};
use crate::checks::{CheckConfig, Ctx};
use crate::report::{Report, render_timings};
use crate::rollout::RolloutError;
use crate::suite::Outcome;
use crate::tools::Exec;
use crate::{
    apply, artifacts, checks, cluster, exit, github, images, junit, kubeclient, manifests,
    preflight, rollout, suite,
};

#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    pub k8s_version: String,
    /// The node image kind is given (pinned tag and digest, or `--node-image`).
    pub node_image: String,
    pub keep: bool,
    pub reuse: bool,
    pub dry_run: bool,
    pub image_mirror: Option<String>,
    /// Deadline for the rollout (the checks have their own in `checks.timeout`).
    pub timeout: Duration,
    pub manifests: PathBuf,
    pub kind_config: PathBuf,
    /// Where the run keeps its private files (the kubeconfig): never uploaded.
    pub work_dir: PathBuf,
    /// This run's evidence directory.
    pub artifacts: PathBuf,
    /// Keep the full evidence on success too.
    pub keep_artifacts: bool,
    pub junit: Option<PathBuf>,
    pub checks: CheckConfig,
    /// `up`: stop once the stack is ready, and keep the cluster.
    pub up_only: bool,
    /// Add-on upgrade: apply these (older) manifests first, check, then upgrade to `manifests`.
    pub upgrade_from: Option<PathBuf>,
    /// Calibrated load for the ground-truth checks.
    pub load: Option<crate::load::LoadConfig>,
}

impl Options {
    /// The defaults of `cargo xtask e2e` for cluster `name` on Kubernetes `k8s_version`
    /// (its pinned node image), with paths under the project root `root`.
    pub fn new(root: &std::path::Path, name: &str, k8s_version: &str) -> Result<Options, String> {
        Ok(Options {
            name: name.to_string(),
            k8s_version: k8s_version.to_string(),
            node_image: crate::versions::node_image(k8s_version)?.reference(),
            keep: false,
            reuse: false,
            dry_run: false,
            image_mirror: None,
            timeout: Duration::from_secs(300),
            manifests: root.join("manifests"),
            kind_config: root.join("manifests/kind/kind-config.yaml"),
            work_dir: root.join("target/e2e"),
            artifacts: root.join("target/e2e/artifacts").join(name),
            keep_artifacts: false,
            junit: None,
            checks: CheckConfig::default(),
            up_only: false,
            upgrade_from: None,
            load: Some(crate::load::LoadConfig::default()),
        })
    }
}

/// How the checks are run and shown.
pub enum ChecksMode {
    /// As libtest trials, with these arguments (filters, `--list`, ...).
    Trials(Arguments),
    /// All at once, silently (for tests).
    Collect,
}

#[derive(Debug, Default)]
pub struct RunResult {
    pub exit: i32,
    /// Outcomes of the checks that ran.
    pub outcomes: Vec<Outcome>,
    /// With `upgrade_from`: the checks of the old manifests, before the upgrade.
    pub before: Vec<Outcome>,
    pub kubeconfig: Option<PathBuf>,
    /// Why the run stopped before or instead of the checks.
    pub error: Option<String>,
}

/// A failure of the system under test (exit 1), as opposed to one of the harness (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StackFailure(pub String);

pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<StackFailure>().is_some() {
        exit::CHECK_FAILED
    } else {
        exit::HARNESS
    }
}

struct Run<'a> {
    exec: Exec<'a>,
    rt: &'a tokio::runtime::Runtime,
    opts: &'a Options,
    cancel: &'a Cancel,
    report: &'a Report,
    /// Set once this run created the cluster: only then may it delete it.
    created: bool,
    /// Set once the cluster exists (created or reused): its logs can be exported.
    cluster_up: bool,
    client: Option<Client>,
    ctx: Option<Arc<Ctx>>,
    stuck_pod: Option<String>,
    /// The load's namespace, once created: deleted at the end whatever happens.
    load_namespace: Option<String>,
}

impl Run<'_> {
    fn timed<T>(
        &self,
        phase: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
        done: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<T> {
        self.cancel.check()?;
        self.report.begin(phase);
        let start = Instant::now();
        let value = f().inspect_err(|_| self.report.abandon())?;
        // Under --dry-run only reading the manifests really happens.
        let message = if self.opts.dry_run && phase != "Manifests" {
            "dry run: nothing done".to_string()
        } else {
            done(&value)
        };
        self.report.phase(phase, start.elapsed(), &message);
        self.cancel.check()?;
        Ok(value)
    }

    fn block_on_cancellable<T>(
        &self,
        f: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.rt.block_on(async {
            tokio::select! {
                r = f => r,
                _ = self.cancel.cancelled() => Err(Interrupted.into()),
            }
        })
    }
}

pub fn run(
    sh: &Shell,
    rt: &tokio::runtime::Runtime,
    opts: &Options,
    mode: ChecksMode,
    cancel: &Cancel,
    report: &Report,
) -> RunResult {
    let mut run = Run {
        exec: Exec::new(sh, opts.dry_run, report),
        rt,
        opts,
        cancel,
        report,
        created: false,
        cluster_up: false,
        client: None,
        ctx: None,
        stuck_pod: None,
        load_namespace: None,
    };
    let mut result = match stages(&mut run, mode) {
        Ok(r) => r,
        Err(e) => {
            let interrupted = e.downcast_ref::<Interrupted>().is_some();
            let message = if interrupted {
                "interrupted".to_string()
            } else {
                format!("{e:#}")
            };
            report.important(format!("error: {message}"));
            RunResult {
                exit: exit_code(&e),
                error: Some(message),
                ..Default::default()
            }
        }
    };
    if !opts.dry_run {
        keep_evidence(&run, &result);
    }
    stop_load(&run);
    teardown(&run, &mut result);
    if !opts.dry_run {
        report.line(render_timings(&report.timings(), first_metrics(&run)));
    }
    result
}

fn first_metrics(run: &Run) -> Option<Duration> {
    run.ctx
        .as_ref()
        .and_then(|c| *c.first_metrics.lock().expect("first metrics lock"))
}

fn stages(run: &mut Run, mode: ChecksMode) -> anyhow::Result<RunResult> {
    let opts = run.opts;
    let warnings = run.timed(
        "Preflight",
        || Ok(preflight::check(&run.exec)?),
        |w: &Vec<String>| {
            if w.is_empty() {
                "docker and kind ready".into()
            } else {
                w.join("; ")
            }
        },
    )?;
    for w in warnings {
        run.report.important(format!("warning: {w}"));
    }
    let docs = run.timed(
        "Manifests",
        || Ok(manifests::load_dir(&opts.manifests)?),
        |d| format!("{} objects from {}", d.len(), opts.manifests.display()),
    )?;
    // The old set of an upgrade is read up front too: a bad file stops the run before anything.
    let old_docs = match &opts.upgrade_from {
        Some(dir) => Some(run.timed(
            "Manifests",
            || Ok(manifests::load_dir(dir)?),
            |d| format!("{} objects to upgrade from, in {}", d.len(), dir.display()),
        )?),
        None => None,
    };
    let mut wanted_images = manifests::images(&docs);
    if opts.load.is_some() {
        wanted_images.push(crate::versions::LOAD_IMAGE.reference());
    }
    for image in old_docs.iter().flat_map(|d| manifests::images(d)) {
        if !wanted_images.contains(&image) {
            wanted_images.push(image);
        }
    }
    let expected_nodes = cluster::node_count(&opts.kind_config)?;

    let exists = preflight::cluster_exists(&run.exec, &opts.name)?;
    if exists && !opts.reuse {
        anyhow::bail!(
            "a kind cluster named {:?} already exists: pass --reuse to run against it, choose another --name, or delete it with `cargo xtask down --name {}`",
            opts.name,
            opts.name
        );
    }
    run.timed(
        "Images",
        || images::prepare(&run.exec, &wanted_images, opts.image_mirror.as_deref()),
        |pulled| {
            if pulled.is_empty() {
                format!("all {} images present", wanted_images.len())
            } else {
                format!("pulled {} of {} images", pulled.len(), wanted_images.len())
            }
        },
    )?;
    if exists {
        run.report.phase(
            "Cluster",
            Duration::ZERO,
            &format!("reusing {} (it will not be deleted)", opts.name),
        );
    } else {
        // kind may leave a half-made cluster behind when create fails: it is ours to delete.
        run.created = !opts.dry_run;
        run.timed(
            "Cluster",
            || cluster::create(&run.exec, &opts.name, &opts.kind_config, &opts.node_image),
            |_| format!("created {} ({})", opts.name, opts.node_image),
        )?;
    }
    run.cluster_up = !opts.dry_run;
    let kubeconfig = opts.work_dir.join(&opts.name).join("kubeconfig");
    cluster::write_kubeconfig(&run.exec, &opts.name, &kubeconfig)?;
    run.timed(
        "Load",
        || {
            images::load(&run.exec, &opts.name, &wanted_images)?;
            let nodes = cluster::nodes(&run.exec, &opts.name)?;
            images::verify(&run.exec, &nodes, &wanted_images)?;
            Ok(nodes.len())
        },
        |n| format!("{} images on {n} nodes", wanted_images.len()),
    )?;
    if opts.dry_run {
        print_dry_run_rest(run, &docs);
        return Ok(RunResult {
            exit: exit::PASSED,
            ..Default::default()
        });
    }

    let client = run.rt.block_on(kubeclient::connect(
        Some(&kubeconfig),
        Some(&cluster::context(&opts.name)),
    ))?;
    run.client = Some(client.clone());
    let mut before = Vec::new();
    let mut monitor = None;
    if let Some(old) = &old_docs {
        before = before_upgrade(run, &client, old, expected_nodes)?;
        // Watch one node's series from here through the upgrade's rollout and checks.
        let nodes = run.rt.block_on(checks::ready_nodes(&client))?;
        if let Some(node) = nodes.first() {
            let stop = crate::upgrade::StopOnDrop::default();
            let every = opts.checks.poll.min(Duration::from_secs(1));
            let task = run.rt.spawn(crate::upgrade::watch_series(
                client.clone(),
                node.clone(),
                every,
                stop.flag(),
            ));
            monitor = Some((stop, task));
        }
    }
    run.timed(
        "Apply",
        || run.block_on_cancellable(apply::apply(&client, &docs, |_| {})),
        |_| {
            format!(
                "{} objects, server-side, field manager {}",
                docs.len(),
                apply::FIELD_MANAGER
            )
        },
    )?;
    let wanted = manifests::deployments(&docs);
    let rollout = run.timed(
        "Rollout",
        || {
            Ok(run
                .rt
                .block_on(rollout::wait(&client, &wanted, opts.timeout, run.cancel)))
        },
        |r| match r {
            Ok(()) => format!("{} deployments available", wanted.len()),
            Err(_) => "failed".into(),
        },
    )?;
    match rollout {
        Ok(()) => {}
        Err(RolloutError::Interrupted) => return Err(Interrupted.into()),
        Err(e) => {
            if let RolloutError::Stuck { problem, .. } = &e {
                run.stuck_pod = Some(problem.pod.clone());
            }
            return Err(StackFailure(format!(
                "{e}\n  {}",
                crate::diagnose::hints(&e.to_string())
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ))
            .into());
        }
    }
    if opts.up_only {
        return Ok(RunResult {
            exit: exit::PASSED,
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        });
    }

    let load = match opts.load {
        Some(load_config) => {
            let namespace = crate::load::namespace_for_run();
            run.load_namespace = Some(namespace.clone());
            let started = run.timed(
                "Load generators",
                || {
                    run.block_on_cancellable(crate::load::start(
                        &client,
                        &namespace,
                        &load_config,
                        opts.timeout,
                        run.cancel,
                    ))
                },
                |l| {
                    format!(
                        "{}m CPU ({}), {} MiB memory ({}) in {}",
                        l.config.cpu_millicores,
                        l.cpu_pod,
                        l.config.memory_mib,
                        l.memory_pod,
                        l.namespace
                    )
                },
            )?;
            Some(started)
        }
        None => None,
    };
    let mut config = opts.checks.clone();
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    let mut ctx = Ctx::new(client, config);
    ctx.load = load;
    ctx.cancel = run.cancel.clone();
    run.report.begin("Checks");
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    let ctx = Arc::new(ctx);
    run.ctx = Some(ctx.clone());
    let outcomes = match mode {
        ChecksMode::Trials(args) => {
            run.report.abandon();
            suite::run_trials(run.rt.handle(), ctx, plan, args).1
        }
        ChecksMode::Collect => {
            run.block_on_cancellable(async { Ok(suite::run_all(ctx, plan).await) })?
        }
    };
    let mut outcomes = outcomes;
    if let Some((stop, task)) = monitor {
        drop(stop);
        let watch = run.rt.block_on(task).unwrap_or_default();
        outcomes.push(no_gap_outcome(
            &before,
            &watch,
            crate::upgrade::metric_resolution(&docs),
        ));
    }
    let failed = outcomes.iter().filter(|o| !o.passed && !o.ignored).count();
    let exit = if failed == 0 {
        exit::PASSED
    } else {
        exit::CHECK_FAILED
    };
    let verdict = if failed == 0 {
        "all checks passed".to_string()
    } else {
        format!("{failed} checks failed")
    };
    run.report.phase("Checks", start.elapsed(), &verdict);
    Ok(RunResult {
        exit,
        outcomes,
        before,
        kubeconfig: Some(kubeconfig),
        error: None,
    })
}

/// The old manifests: apply, wait, check. Their failures are recorded, not fatal: an
/// upgrade may well be what fixes them.
fn before_upgrade(
    run: &Run,
    client: &Client,
    old: &[manifests::Manifest],
    expected_nodes: usize,
) -> anyhow::Result<Vec<Outcome>> {
    let opts = run.opts;
    let from = opts.upgrade_from.clone().unwrap_or_default();
    run.timed(
        "Apply (old)",
        || run.block_on_cancellable(apply::apply(client, old, |_| {})),
        |_| format!("{} objects from {}", old.len(), from.display()),
    )?;
    let wanted = manifests::deployments(old);
    let mut outcomes = Vec::new();
    let rollout = run.timed(
        "Rollout (old)",
        || {
            Ok(run
                .rt
                .block_on(rollout::wait(client, &wanted, opts.timeout, run.cancel)))
        },
        |r| match r {
            Ok(()) => format!("{} deployments available", wanted.len()),
            Err(e) => format!(
                "failed: {}",
                e.to_string().lines().next().unwrap_or_default()
            ),
        },
    )?;
    match rollout {
        Err(RolloutError::Interrupted) => return Err(Interrupted.into()),
        Err(e) => outcomes.push(Outcome::checked("before::rollout", false, e.to_string())),
        Ok(()) => {}
    }
    let mut config = opts.checks.clone();
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    let mut ctx = Ctx::new(client.clone(), config);
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    let checked =
        run.block_on_cancellable(async { Ok(suite::run_all(Arc::new(ctx), plan).await) })?;
    outcomes.extend(checked.into_iter().map(|o| Outcome {
        name: format!("before::{}", o.name),
        ..o
    }));
    let failed = outcomes.iter().filter(|o| !o.passed && !o.ignored).count();
    run.report.phase(
        "Checks (old)",
        start.elapsed(),
        &format!("{failed} of {} failed before the upgrade", outcomes.len()),
    );
    for o in outcomes.iter().filter(|o| !o.passed && !o.ignored) {
        run.report.line(format!(
            "  before upgrade: {} failed: {}",
            o.name,
            o.message.lines().next().unwrap_or_default()
        ));
    }
    Ok(outcomes)
}

/// Node metrics kept flowing through the upgrade: meaningful only if heapster had data before.
fn no_gap_outcome(
    before: &[Outcome],
    watch: &crate::upgrade::Watch,
    resolution: Duration,
) -> Outcome {
    let name = "upgrade::no_gap_in_node_metrics".to_string();
    let had_data = before
        .iter()
        .any(|o| o.name.starts_with("before::heapster::node_metrics::") && o.passed);
    if !had_data {
        return Outcome::skipped(
            name,
            "heapster had no node metrics before the upgrade: there was no series to keep",
        );
    }
    match crate::upgrade::gap_verdict(watch, resolution) {
        crate::verdict::Verdict::Pass(m) => Outcome::checked(name, true, m),
        crate::verdict::Verdict::Fail(m) | crate::verdict::Verdict::Wait(m) => {
            Outcome::checked(name, false, m)
        }
    }
}

fn print_dry_run_rest(run: &Run, docs: &[manifests::Manifest]) {
    let opts = run.opts;
    for m in manifests::apply_order(docs) {
        run.report.line(format!(
            "  would apply (server-side, field manager {}): {} ({})",
            apply::FIELD_MANAGER,
            m.describe(),
            m.origin()
        ));
    }
    let deployments: Vec<String> = manifests::deployments(docs)
        .iter()
        .map(|(n, d)| format!("{n}/{d}"))
        .collect();
    run.report.line(format!(
        "  would wait up to {} for: {}",
        crate::duration::format(opts.timeout),
        deployments.join(", ")
    ));
    if let Some(load) = &opts.load
        && !opts.up_only
    {
        run.report.line(format!("  would start the calibrated load ({}m CPU, {} MiB) in a namespace of its own, and delete it at the end", load.cpu_millicores, load.memory_mib));
    }
    if !opts.up_only {
        run.report
            .line("  would run the checks against the cluster".to_string());
    }
    run.report.line(format!(
        "  would keep evidence in {}",
        opts.artifacts.display()
    ));
    run.report.line(format!(
        "  would run: kind delete cluster --name {} (unless --keep)",
        opts.name
    ));
}

/// The run's evidence, before teardown: the small files always; on failure (or with
/// `--keep-artifacts`) the cluster's logs, events, objects and the raw responses. Then
/// JUnit and the GitHub Actions annotations and job summary.
fn keep_evidence(run: &Run, result: &RunResult) {
    let opts = run.opts;
    let dir = &opts.artifacts;
    for stale in ["responses", "pods", "objects", "kind-logs", "events.txt"] {
        let _ = std::fs::remove_dir_all(dir.join(stale))
            .or_else(|_| std::fs::remove_file(dir.join(stale)));
    }
    let summary = run
        .ctx
        .as_ref()
        .map(|c| c.summary.lock().expect("summary lock").clone())
        .unwrap_or_default();
    let mut problems = Vec::new();
    if let Err(e) = artifacts::write_small(
        dir,
        &run.report.timings(),
        first_metrics(run),
        &summary,
        &result.outcomes,
    ) {
        problems.push(format!("{e:#}"));
    }
    if result.exit != exit::PASSED || opts.keep_artifacts {
        if run.cluster_up
            && let Err(e) = cluster::export_logs(&run.exec, &opts.name, &dir.join("kind-logs"))
        {
            problems.push(format!("kind export logs: {e:#}"));
        }
        if let Some(client) = &run.client {
            let failing: Vec<String> = result
                .outcomes
                .iter()
                .filter(|o| !o.passed && !o.ignored)
                .map(|o| o.name.clone())
                .collect();
            if let Err(e) = run.rt.block_on(artifacts::write_cluster_evidence(
                client,
                dir,
                &failing,
                run.stuck_pod.as_deref(),
            )) {
                problems.push(format!("cluster evidence: {e:#}"));
            }
        }
        if let Some(ctx) = &run.ctx
            && let Err(e) =
                artifacts::write_responses(dir, &ctx.responses.lock().expect("responses lock"))
        {
            problems.push(format!("responses: {e:#}"));
        }
        run.report
            .important(format!("evidence kept in {}", dir.display()));
    }
    let title = format!("heapster-e2e (Kubernetes {})", opts.k8s_version);
    if let Some(path) = &opts.junit
        && let Err(e) = junit::write(path, &title, &result.outcomes)
    {
        problems.push(format!("{e:#}"));
    }
    if github::is_actions() {
        print!("{}", github::annotations(&result.outcomes));
        if let Some(error) = &result.error {
            println!(
                "::error title=heapster-e2e::{}",
                error.replace('%', "%25").replace('\n', "%0A")
            );
        }
        let md = github::step_summary(
            &title,
            result.exit,
            &result.outcomes,
            &summary,
            &run.report.timings(),
        );
        if let Err(e) = github::write_step_summary(&md) {
            problems.push(format!("job summary: {e}"));
        }
    }
    for p in problems {
        run.report
            .important(format!("warning: could not keep all evidence: {p}"));
    }
}

/// Delete the load's namespace: after a pass, a failure or an interrupt, kept cluster or not.
fn stop_load(run: &Run) {
    let (Some(client), Some(namespace)) = (&run.client, &run.load_namespace) else {
        return;
    };
    match run.rt.block_on(crate::load::stop(client, namespace)) {
        Ok(()) => run
            .report
            .line(format!("deleted the load namespace {namespace}")),
        Err(e) => run.report.important(format!("error: {e:#}")),
    }
}

/// Delete the cluster if this run created it, unless asked to keep it.
fn teardown(run: &Run, result: &mut RunResult) {
    let name = &run.opts.name;
    if !run.created {
        return;
    }
    if run.opts.keep || run.opts.up_only {
        run.report.important(format!(
            "kept cluster {name}: kubectl --context {} get pods -n kube-system",
            cluster::context(name)
        ));
        return;
    }
    run.report.begin("Teardown");
    let start = Instant::now();
    match cluster::delete(&run.exec, name) {
        Ok(()) => run
            .report
            .phase("Teardown", start.elapsed(), &format!("deleted {name}")),
        Err(e) => {
            run.report.abandon();
            run.report.important(format!("error: could not delete cluster {name}: {e:#}; delete it with `kind delete cluster --name {name}`"));
            if result.exit == exit::PASSED {
                result.exit = exit::HARNESS;
            }
        }
    }
}

/// Run the pipeline once per option set (one per Kubernetes version), `parallel` at a
/// time. Each run gets its own shell (from `make_shell`) and report (from `make_report`).
pub fn run_many(
    runs: &[Options],
    parallel: usize,
    rt: &tokio::runtime::Runtime,
    make_shell: &(dyn Fn() -> anyhow::Result<Shell> + Sync),
    make_mode: &(dyn Fn() -> ChecksMode + Sync),
    make_report: &(dyn Fn(&Options) -> Report + Sync),
    cancel: &Cancel,
) -> Vec<(RunResult, Report)> {
    let one = |opts: &Options| {
        let report = make_report(opts);
        let result = match make_shell() {
            Ok(sh) => run(&sh, rt, opts, make_mode(), cancel, &report),
            Err(e) => RunResult {
                exit: exit::HARNESS,
                error: Some(format!("cannot start a shell: {e}")),
                ..Default::default()
            },
        };
        (result, report)
    };
    let mut results: Vec<Option<(RunResult, Report)>> = runs.iter().map(|_| None).collect();
    for chunk in runs
        .iter()
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(parallel.max(1))
    {
        let done: Vec<(usize, (RunResult, Report))> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(i, opts)| (*i, scope.spawn(|| one(opts))))
                .collect();
            handles
                .into_iter()
                .map(|(i, h)| (i, h.join().expect("a run panicked")))
                .collect()
        });
        for (i, r) in done {
            results[i] = Some(r);
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    results.into_iter().flatten().collect()
}
