//! `e2e` and `up`: preflight -> images -> cluster -> load -> apply -> wait -> checks ->
//! teardown. The same code runs for users, in CI, and in `cargo test` against the
//! simulated cluster.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::Arguments;
use xshell::Shell;

use crate::cancel::Cancel;
use crate::checks::{CheckConfig, Ctx};
use crate::report::Report;
use crate::rollout::RolloutError;
use crate::suite::Outcome;
use crate::tools::Exec;
use crate::{
    apply, checks, cluster, exit, images, kubeclient, manifests, preflight, rollout, suite,
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
    /// Deadline for the rollout, and again for the checks.
    pub timeout: Duration,
    pub manifests: PathBuf,
    pub kind_config: PathBuf,
    /// Where the run writes its files (the kubeconfig).
    pub work_dir: PathBuf,
    pub checks: CheckConfig,
    /// `up`: stop once the stack is ready, and keep the cluster.
    pub up_only: bool,
}

/// How the checks are run and shown.
pub enum ChecksMode {
    /// As libtest trials, with these arguments (filters, `--list`, ...).
    Trials(Arguments),
    /// All at once, outcomes returned (for tests).
    Collect,
}

#[derive(Debug, Default)]
pub struct RunResult {
    pub exit: i32,
    /// Outcomes of the checks, in `Collect` mode.
    pub outcomes: Vec<Outcome>,
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
}

impl Run<'_> {
    fn timed<T>(
        &self,
        phase: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
        done: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<T> {
        self.cancel.check()?;
        let start = Instant::now();
        let value = f()?;
        self.report.phase(phase, start.elapsed(), &done(&value));
        self.cancel.check()?;
        Ok(value)
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
    };
    let result = stages(&mut run, mode);
    let mut result = match result {
        Ok(r) => r,
        Err(e) => {
            let interrupted = e.downcast_ref::<crate::cancel::Interrupted>().is_some();
            let message = if interrupted {
                "interrupted".to_string()
            } else {
                format!("{e:#}")
            };
            report.line(format!("error: {message}"));
            RunResult {
                exit: exit_code(&e),
                error: Some(message),
                ..Default::default()
            }
        }
    };
    teardown(&run, &mut result);
    result
}

fn stages(run: &mut Run, mode: ChecksMode) -> anyhow::Result<RunResult> {
    let opts = run.opts;
    let sh = run.exec.sh;
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
        run.report.line(format!("warning: {w}"));
    }
    let docs = run.timed(
        "Manifests",
        || Ok(manifests::load_dir(&opts.manifests)?),
        |d| format!("{} objects from {}", d.len(), opts.manifests.display()),
    )?;
    let wanted_images = manifests::images(&docs);
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
        run.timed(
            "Cluster",
            || cluster::create(&run.exec, &opts.name, &opts.kind_config, &opts.node_image),
            |_| format!("created {} ({})", opts.name, opts.node_image),
        )
        .inspect_err(|_| {
            // kind may leave half-made nodes behind; the name is ours to clean up.
        })?;
        run.created = !opts.dry_run;
    }
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
        for m in manifests::apply_order(&docs) {
            run.report.line(format!(
                "  would apply (server-side, field manager {}): {} ({})",
                apply::FIELD_MANAGER,
                m.describe(),
                m.origin()
            ));
        }
        run.report.line(format!(
            "  would wait up to {} for: {}",
            crate::duration::format(opts.timeout),
            manifests::deployments(&docs)
                .iter()
                .map(|(n, d)| format!("{n}/{d}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if !opts.up_only {
            run.report
                .line("  would run the checks against the cluster".to_string());
        }
        run.report.line(format!(
            "  would run: kind delete cluster --name {} (unless --keep)",
            opts.name
        ));
        let _ = sh;
        return Ok(RunResult {
            exit: exit::PASSED,
            ..Default::default()
        });
    }

    let client = run.rt.block_on(kubeclient::connect(
        Some(&kubeconfig),
        Some(&cluster::context(&opts.name)),
    ))?;
    run.timed(
        "Apply",
        || {
            run.rt.block_on(async {
                tokio::select! {
                    r = apply::apply(&client, &docs, |_| {}) => r,
                    _ = run.cancel.cancelled() => Err(crate::cancel::Interrupted.into()),
                }
            })
        },
        |_| {
            format!(
                "{} objects, server-side, field manager {}",
                docs.len(),
                apply::FIELD_MANAGER
            )
        },
    )?;
    let wanted = manifests::deployments(&docs);
    run.timed(
        "Rollout",
        || {
            run.rt
                .block_on(rollout::wait(&client, &wanted, opts.timeout, run.cancel))
                .map_err(|e| match e {
                    RolloutError::Interrupted => anyhow::Error::from(crate::cancel::Interrupted),
                    other => StackFailure(other.to_string()).into(),
                })
        },
        |_| format!("{} deployments available", wanted.len()),
    )?;
    if opts.up_only {
        return Ok(RunResult {
            exit: exit::PASSED,
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        });
    }

    let mut config = opts.checks.clone();
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    let mut ctx = Ctx::new(client, config);
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    let ctx = Arc::new(ctx);
    let (exit, outcomes) = match mode {
        ChecksMode::Trials(args) => {
            let conclusion = suite::run_trials(run.rt.handle(), ctx, plan, args);
            (suite::exit_code(&conclusion), Vec::new())
        }
        ChecksMode::Collect => {
            let outcomes = run.rt.block_on(async {
                tokio::select! {
                    o = suite::run_all(ctx, plan) => Ok(o),
                    _ = run.cancel.cancelled() => Err(crate::cancel::Interrupted),
                }
            })?;
            let failed = outcomes.iter().filter(|o| !o.passed && !o.ignored).count();
            (
                if failed == 0 {
                    exit::PASSED
                } else {
                    exit::CHECK_FAILED
                },
                outcomes,
            )
        }
    };
    let verdict = if exit == exit::PASSED {
        "all checks passed"
    } else {
        "some checks failed"
    };
    run.report.phase("Checks", start.elapsed(), verdict);
    Ok(RunResult {
        exit,
        outcomes,
        kubeconfig: Some(kubeconfig),
        error: None,
    })
}

/// Delete the cluster if this run created it, unless asked to keep it.
fn teardown(run: &Run, result: &mut RunResult) {
    let name = &run.opts.name;
    if !run.created {
        return;
    }
    if run.opts.keep || run.opts.up_only {
        run.report.line(format!(
            "kept cluster {name}: kubectl --context {} get pods -n kube-system",
            cluster::context(name)
        ));
        return;
    }
    let start = Instant::now();
    match cluster::delete(&run.exec, name) {
        Ok(()) => run
            .report
            .phase("Teardown", start.elapsed(), &format!("deleted {name}")),
        Err(e) => {
            run.report.line(format!("error: could not delete cluster {name}: {e:#}; delete it with `kind delete cluster --name {name}`"));
            if result.exit == exit::PASSED {
                result.exit = exit::HARNESS;
            }
        }
    }
}
