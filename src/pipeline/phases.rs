//! The phases of a run, in order, each a `Run::timed` step with its own line: preflight,
//! manifests, images and cluster, apply and rollout, load generators, checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use super::load::{self, Load};
use super::rollout::RolloutError;
use super::state::Run;
use super::{ChecksMode, StackFailure, apply, cluster, images, manifests, preflight, rollout};
use crate::cancel::Interrupted;
use crate::checks::{self, Ctx, Outcome};
use crate::kubeclient;

/// What the manifests ask for, read before anything is made.
pub(super) struct Prepared {
    pub docs: Vec<manifests::Manifest>,
    /// With `--upgrade-from`: the manifests to start from.
    pub old_docs: Option<Vec<manifests::Manifest>>,
    /// The stack the old manifests deploy (this run's stack when they name none).
    pub old_stack: crate::stack::Stack,
    pub images: Vec<String>,
    pub expected_nodes: usize,
}

pub(super) fn preflight(run: &Run) -> anyhow::Result<()> {
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
    Ok(())
}

/// Every manifest (and the old set of an upgrade) is read up front: a bad file stops the
/// run before anything is made.
pub(super) fn read_manifests(run: &Run) -> anyhow::Result<Prepared> {
    let opts = run.opts;
    let docs = run.timed(
        "Manifests",
        || Ok(manifests::load_dir(&opts.manifests)?),
        |d| format!("{} objects from {}", d.len(), opts.manifests.display()),
    )?;
    // Manifests of the other stack would be applied, then checked as the wrong stack: say
    // so now, before a cluster is made.
    if let Some(found) = crate::stack::Stack::detect(&docs)
        && found != opts.checks.stack
    {
        anyhow::bail!(
            "the manifests in {} are the {found} stack's, but the run is for the {} stack: pass --stack {found}",
            opts.manifests.display(),
            opts.checks.stack
        );
    }
    let old_docs = match &opts.upgrade_from {
        Some(dir) => Some(run.timed(
            "Manifests",
            || Ok(manifests::load_dir(dir)?),
            |d| format!("{} objects to upgrade from, in {}", d.len(), dir.display()),
        )?),
        None => None,
    };
    let mut images = manifests::images(&docs);
    if opts.load.is_some() {
        images.push(crate::versions::LOAD_IMAGE.reference());
    }
    for image in old_docs.iter().flat_map(|d| manifests::images(d)) {
        if !images.contains(&image) {
            images.push(image);
        }
    }
    let expected_nodes = cluster::node_count(&opts.kind_config)?;
    let old_stack = old_docs
        .as_deref()
        .and_then(crate::stack::Stack::detect)
        .unwrap_or(opts.checks.stack);
    Ok(Prepared {
        docs,
        old_docs,
        old_stack,
        images,
        expected_nodes,
    })
}

/// Images on the host, the cluster (created, or reused with `--reuse`), its kubeconfig
/// (mode 0600), and the images loaded into every node. Returns the kubeconfig's path.
pub(super) fn cluster_with_images(run: &mut Run, prepared: &Prepared) -> anyhow::Result<PathBuf> {
    let opts = run.opts;
    let images = &prepared.images;
    let exists = preflight::cluster_exists(&run.exec, &opts.name)?;
    if exists && !opts.reuse {
        anyhow::bail!(
            "a kind cluster named {:?} already exists: pass --reuse to run against it, choose another --name, or delete it with `cargo xtask down --name {}`",
            opts.name,
            opts.name
        );
    }
    let pulled_message = |pulled: &Vec<String>| {
        if pulled.is_empty() {
            format!("all {} images present", images.len())
        } else {
            format!("pulled {} of {} images", pulled.len(), images.len())
        }
    };
    let pull =
        |exec: &super::tools::Exec| images::prepare(exec, images, opts.image_mirror.as_deref());
    if exists || opts.dry_run {
        // Nothing to overlap (a dry run prints the steps in their order).
        run.timed("Images", || pull(&run.exec), pulled_message)?;
        cluster_phase(run, exists)?;
    } else {
        // The pulls run while kind creates the cluster: both take tens of seconds on a
        // real machine, and neither needs the other.
        let (sh, report, pull) = (run.exec.sh.clone(), run.report, &pull);
        let (pulled, began) = std::thread::scope(|scope| {
            let pulls = scope.spawn(move || {
                let began = Instant::now();
                (pull(&super::tools::Exec::new(&sh, false, report)), began)
            });
            let created = cluster_phase(run, false);
            let pulled = pulls.join().expect("the image pulls panicked");
            created.map(|()| pulled)
        })?;
        let pulled = pulled.inspect_err(|_| run.report.stopped_in("Images"))?;
        run.report.span("Images", began, &pulled_message(&pulled));
    }
    run.cluster_up = !opts.dry_run;
    let kubeconfig = opts.work_dir.join(&opts.name).join("kubeconfig");
    cluster::write_kubeconfig(&run.exec, &opts.name, &kubeconfig)?;
    run.timed(
        "Load",
        || {
            images::load(&run.exec, &opts.name, images)?;
            let nodes = cluster::nodes(&run.exec, &opts.name)?;
            images::verify(&run.exec, &nodes, images)?;
            Ok(nodes.len())
        },
        |n| format!("{} images on {n} nodes", images.len()),
    )?;
    Ok(kubeconfig)
}

/// The cluster: reused with `--reuse`, else created (and then ours to delete).
fn cluster_phase(run: &mut Run, exists: bool) -> anyhow::Result<()> {
    let opts = run.opts;
    if exists {
        run.report.phase(
            "Cluster",
            Duration::ZERO,
            &format!("reusing {} (it will not be deleted)", opts.name),
        );
        return Ok(());
    }
    // kind may leave a half-made cluster behind when create fails: it is ours to delete.
    run.created = !opts.dry_run;
    run.timed(
        "Cluster",
        || cluster::create(&run.exec, &opts.name, &opts.kind_config, &opts.node_image),
        |_| format!("created {} ({})", opts.name, opts.node_image),
    )?;
    Ok(())
}

pub(super) fn connect(run: &mut Run, kubeconfig: &std::path::Path) -> anyhow::Result<Client> {
    let client = run.rt.block_on(kubeclient::connect(
        Some(kubeconfig),
        Some(&cluster::context(&run.opts.name)),
    ))?;
    run.client = Some(client.clone());
    Ok(client)
}

/// Apply `docs` and wait for their Deployments. The outer error stops the run (harness,
/// interrupt); the inner one is the stack's rollout failure, for the caller to judge.
pub(super) fn deploy(
    run: &mut Run,
    client: &Client,
    docs: &[manifests::Manifest],
    which: &str,
) -> anyhow::Result<Result<(), RolloutError>> {
    let opts = run.opts;
    let (apply_phase, rollout_phase) = (format!("Apply{which}"), format!("Rollout{which}"));
    run.timed(
        &apply_phase,
        || run.block_on_cancellable(apply::apply(client, docs, |_| {})),
        |_| {
            format!(
                "{} objects, server-side, field manager {}",
                docs.len(),
                apply::FIELD_MANAGER
            )
        },
    )?;
    let wanted = manifests::deployments(docs);
    let rollout = run.timed(
        &rollout_phase,
        || {
            let style = crate::report::progress::Style::for_console(
                run.report.verbosity() == crate::report::Verbosity::Quiet,
                opts.timeout,
            );
            Ok(run.rt.block_on(rollout::wait_saying(
                client,
                &wanted,
                opts.timeout,
                run.cancel,
                style,
            )))
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
        Err(RolloutError::Interrupted) => Err(Interrupted.into()),
        Err(RolloutError::Stuck { problem, evidence }) => {
            run.stuck_pod = Some(problem.pod.clone());
            Ok(Err(RolloutError::Stuck { problem, evidence }))
        }
        other => Ok(other),
    }
}

/// A rollout failure of the stack under test: exit 1; its known causes are added where
/// the run ends.
pub(super) fn stack_failure(e: RolloutError) -> anyhow::Error {
    StackFailure {
        phase: "Rollout".into(),
        message: e.to_string(),
    }
    .into()
}

/// The calibrated load, starting in a namespace of its own beside the stack's rollout
/// (it needs nothing of the stack); its namespace is deleted at the end whatever happens.
pub(super) struct LoadStart {
    /// The load, and when it was ready.
    task: tokio::task::JoinHandle<(anyhow::Result<Load>, Instant)>,
    began: Instant,
}

impl Drop for LoadStart {
    /// A run that stops early stops creating the load too.
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn start_load(run: &mut Run, client: &Client) -> Option<LoadStart> {
    let opts = run.opts;
    let config = opts.load?;
    let namespace = load::namespace_for_run();
    run.load_namespace = Some(namespace.clone());
    let (client, cancel, timeout) = (client.clone(), run.cancel.clone(), opts.timeout);
    let task = run.rt.spawn(async move {
        let started = load::start(&client, &namespace, &config, timeout, &cancel).await;
        (started, Instant::now())
    });
    Some(LoadStart {
        task,
        began: Instant::now(),
    })
}

/// Wait for the load started beside the rollout; its line spans from its own start.
pub(super) fn load_generators(run: &Run, start: Option<LoadStart>) -> anyhow::Result<Option<Load>> {
    let Some(mut start) = start else {
        return Ok(None);
    };
    let (started, ready) = run.block_on_cancellable(async {
        (&mut start.task)
            .await
            .map_err(|e| anyhow::anyhow!("the load task failed: {e}"))
    })?;
    let started = started?;
    run.report.record(
        "Load generators",
        start.began,
        ready,
        &format!(
            "{}m CPU ({}), {} MiB memory ({}) in {}",
            started.config.cpu_millicores,
            started.cpu_pod,
            started.config.memory_mib,
            started.memory_pod,
            started.namespace
        ),
    );
    Ok(Some(started))
}

/// Plan and run the checks, as libtest trials or all at once.
pub(super) fn run_checks(
    run: &mut Run,
    client: Client,
    load: Option<Load>,
    expected_nodes: usize,
    mode: ChecksMode,
) -> anyhow::Result<Vec<Outcome>> {
    let mut config = run.opts.checks.clone();
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    let mut ctx = Ctx::new(client, config);
    ctx.load = load;
    ctx.cancel = run.cancel.clone();
    run.report.begin("Checks");
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    // Where each part was found (by image), before the checks' lines.
    for line in ctx.layout.describe() {
        run.report.line(format!("  found {line}"));
    }
    let ctx = Arc::new(ctx);
    run.ctx = Some(ctx.clone());
    let outcomes = match mode {
        ChecksMode::Trials(args) => {
            run.report.abandon();
            let progress = crate::report::progress::Style::for_console(
                run.report.verbosity() == crate::report::Verbosity::Quiet,
                run.opts.checks.timeout,
            );
            crate::report::libtest::run_trials(run.rt.handle(), ctx, plan, args, progress)?
        }
        ChecksMode::Collect => {
            run.block_on_cancellable(async { Ok(checks::run::run_all(ctx, plan).await) })?
        }
    };
    let verdict = checks_verdict(&outcomes);
    run.report.phase("Checks", start.elapsed(), &verdict);
    Ok(outcomes)
}

/// The Checks phase's line: what failed, what an interrupt cut short, or all passed.
fn checks_verdict(outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    let cut = outcomes.iter().filter(|o| o.interrupted).count();
    match (failed, cut) {
        (0, 0) => "all checks passed".to_string(),
        (f, 0) => format!("{f} checks failed"),
        (0, c) => format!("interrupted: {c} checks did not finish"),
        (f, c) => format!("interrupted: {f} checks failed, {c} did not finish"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_is_never_all_passed() {
        let pass = Outcome::checked("a", true, "ok");
        let fail = Outcome::checked("b", false, "no");
        let mut cut = Outcome::checked("c", false, "interrupted while waiting");
        cut.interrupted = true;
        assert_eq!(
            checks_verdict(std::slice::from_ref(&pass)),
            "all checks passed"
        );
        assert_eq!(
            checks_verdict(&[pass.clone(), fail.clone()]),
            "1 checks failed"
        );
        assert_eq!(
            checks_verdict(&[pass, cut.clone()]),
            "interrupted: 1 checks did not finish"
        );
        assert_eq!(
            checks_verdict(&[fail, cut]),
            "interrupted: 1 checks failed, 1 did not finish"
        );
    }
}
