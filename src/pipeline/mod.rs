//! `e2e` and `up`: preflight -> manifests -> images -> cluster -> load -> apply -> rollout
//! -> load generators -> checks -> evidence -> teardown, one file per phase; with
//! `--upgrade-from`, the old manifests' apply, rollout and checks come first (`upgrade`),
//! and across stacks the old stack is removed after the new one's rollout (`remove`). The
//! same code runs for users, in CI, and in `cargo test` against the simulated cluster.

pub mod apply;
pub mod cluster;
mod dry_run;
pub mod images;
pub mod load;
mod phases;
pub mod preflight;
mod remove;
pub mod rollout;
mod state;
mod teardown;
pub mod tools;
pub mod upgrade;

use std::path::PathBuf;
use std::time::Duration;

use libtest_mimic::Arguments;
use xshell::Shell;

use crate::cancel::{Cancel, Interrupted};
use crate::checks::{CheckConfig, Outcome};
use crate::report::{self, Finish, Report, render_timings};
use crate::{exit, manifests};
use state::Run;
use tools::Exec;

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
    pub load: Option<crate::pipeline::load::LoadConfig>,
}

/// Where runs keep their kubeconfigs and evidence: `e2e/` in cargo's target directory,
/// `CARGO_TARGET_DIR` when set (as cargo itself does), else `target/` in the workspace.
pub fn e2e_dir(root: &std::path::Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"))
        .join("e2e")
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
            work_dir: e2e_dir(root),
            artifacts: e2e_dir(root).join("artifacts").join(name),
            keep_artifacts: false,
            junit: None,
            checks: CheckConfig::default(),
            up_only: false,
            upgrade_from: None,
            load: Some(crate::pipeline::load::LoadConfig::default()),
        })
    }
}

impl Options {
    /// `heapster-e2e (Kubernetes 1.37)`: the JUnit suite and job summary title; the stack
    /// is named when it is not the default.
    pub fn title(&self) -> String {
        match self.checks.stack {
            crate::stack::Stack::Heapster => {
                format!("heapster-e2e (Kubernetes {})", self.k8s_version)
            }
            s => format!("heapster-e2e {s} (Kubernetes {})", self.k8s_version),
        }
    }

    /// Check `stack`, from its manifests under the workspace root `root`.
    pub fn for_stack(mut self, root: &std::path::Path, stack: crate::stack::Stack) -> Options {
        self.checks.stack = stack;
        self.manifests = stack.manifests(root);
        self
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

/// A failure of the system under test (exit 1), as opposed to one of the harness (exit 2),
/// in the phase that found it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StackFailure {
    pub phase: String,
    pub message: String,
}

pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<StackFailure>().is_some() {
        exit::CHECK_FAILED
    } else {
        exit::HARNESS
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
    // No panic may skip teardown: it becomes a harness error like any other.
    let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stages(&mut run, mode)))
        .unwrap_or_else(|panic| {
            Err(anyhow::anyhow!(
                "internal error (a bug in the harness): {}",
                panic_text(&panic)
            ))
        });
    let mut result = match staged {
        Ok(r) => r,
        Err(e) => failed_run(&e, opts.checks.stack, report),
    };
    if !opts.dry_run {
        keep_evidence(&run, &result);
    }
    teardown::stop_load(&run);
    teardown::teardown(&run, &mut result);
    if !opts.dry_run {
        // Again, now with Teardown's time.
        let timings = report.timings();
        let _ = report::artifacts::write_timings(&opts.artifacts, &timings, run.first_metrics());
        report.line(render_timings(&timings, run.first_metrics()));
    }
    result
}

/// A run that stopped on an error: exit 1 when the stack failed, else 2; the phase it
/// stopped in becomes a failed case `phase::<name>` (with the error's known causes), so
/// JUnit and the job summary show why, not "0 tests".
fn failed_run(e: &anyhow::Error, stack: crate::stack::Stack, report: &Report) -> RunResult {
    let interrupted = e.downcast_ref::<Interrupted>().is_some();
    let message = if interrupted {
        "interrupted".to_string()
    } else {
        crate::error::describe(e)
    };
    let causes: Vec<crate::checks::diagnose::Cause> =
        crate::checks::diagnose::hints_for(&message, stack)
            .into_iter()
            .map(crate::checks::diagnose::Cause::new)
            .collect();
    report.important(format!(
        "error: {}",
        crate::checks::diagnose::explain(&message, &causes)
    ));
    let phase = e
        .downcast_ref::<StackFailure>()
        .map(|f| f.phase.clone())
        .or_else(|| report.current_phase());
    let outcomes = match phase {
        Some(phase) if !interrupted => vec![Outcome {
            causes,
            duration: report.running_for(&phase),
            ..Outcome::checked(phase_case(&phase), false, message.clone())
        }],
        _ => Vec::new(),
    };
    RunResult {
        exit: exit_code(e),
        error: Some(message),
        outcomes,
        ..Default::default()
    }
}

/// `Load generators` -> `phase::load_generators`.
pub fn phase_case(phase: &str) -> String {
    format!("phase::{}", phase.to_lowercase().replace(' ', "_"))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The phases, in order.
fn stages(run: &mut Run, mode: ChecksMode) -> anyhow::Result<RunResult> {
    phases::preflight(run)?;
    let prepared = phases::read_manifests(run)?;
    let kubeconfig = phases::cluster_with_images(run, &prepared)?;
    if run.opts.dry_run {
        dry_run::print_rest(run, &prepared);
        return Ok(RunResult::default());
    }
    let client = phases::connect(run, &kubeconfig)?;
    let in_play: Vec<_> = std::iter::once(run.opts.checks.stack)
        .chain(prepared.old_docs.is_some().then_some(prepared.old_stack))
        .collect();
    run.rt
        .block_on(crate::simulated::refuse_foreign_scenario(&client, &in_play))?;
    let mut before = upgrade::Before::default();
    let mut monitor = None;
    if let Some(old) = &prepared.old_docs {
        before = upgrade::before(
            run,
            &client,
            old,
            prepared.old_stack,
            prepared.expected_nodes,
        )?;
        monitor =
            upgrade::Monitor::start(run, &client, prepared.old_stack, prepared.expected_nodes)?;
    }
    let load = phases::start_load(run, &client);
    phases::deploy(run, &client, &prepared.docs, "")?.map_err(phases::stack_failure)?;
    let removed = match &prepared.old_docs {
        Some(old) if prepared.old_stack != run.opts.checks.stack => Some(upgrade::remove_old(
            run,
            &client,
            old,
            &prepared.docs,
            prepared.old_stack,
        )?),
        _ => None,
    };
    if run.opts.up_only {
        return Ok(RunResult {
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        });
    }
    let load = phases::load_generators(run, load)?;
    let mut outcomes = phases::run_checks(run, client, load, prepared.expected_nodes, mode)?;
    if run.cancel.is_cancelled() {
        // Interrupted checks blame no one: exit 2, with what had been seen kept.
        run.report
            .important("error: interrupted while the checks ran");
        return Ok(RunResult {
            exit: exit::HARNESS,
            outcomes,
            before: before.outcomes,
            kubeconfig: Some(kubeconfig),
            error: Some("interrupted".into()),
        });
    }
    if let Some(monitor) = monitor {
        let gap = monitor.finish(run, &before.outcomes, &prepared.docs, removed);
        let line = report::terminal::outcome_line(&gap);
        if gap.failed() {
            run.report.important(line);
        } else {
            run.report.line(line);
        }
        let gap_name = gap.name.clone();
        outcomes.push(gap);
        // libtest counted the trials only; the move's verdict is judged after them.
        run.report.line(format!(
            "{gap_name} is judged after the trials: {} checks in all, {} passed",
            outcomes.len(),
            outcomes.iter().filter(|o| o.passed).count()
        ));
        run.report.line(report::summary::render_upgrade(
            (prepared.old_stack, &before.outcomes, &before.summary),
            (run.opts.checks.stack, &outcomes, &run.summary()),
        ));
    }
    let failed = outcomes.iter().any(Outcome::failed);
    Ok(RunResult {
        exit: if failed {
            exit::CHECK_FAILED
        } else {
            exit::PASSED
        },
        outcomes,
        before: before.outcomes,
        kubeconfig: Some(kubeconfig),
        error: None,
    })
}

/// The run's evidence, before teardown, through the one `report::finish`.
fn keep_evidence(run: &Run, result: &RunResult) {
    let opts = run.opts;
    report::clear_stale(&opts.artifacts);
    let summary = run.summary();
    let responses = run
        .ctx
        .as_ref()
        .map(|c| c.responses.lock().expect("responses lock").clone());
    let finish = Finish {
        title: opts.title(),
        exit: result.exit,
        error: result.error.as_deref(),
        outcomes: &result.outcomes,
        before: &result.before,
        summary: &summary,
        timings: &run.report.timings(),
        first_metrics: run.first_metrics(),
        artifacts: &opts.artifacts,
        keep_all: opts.keep_artifacts,
        client: run.client.as_ref(),
        responses: responses.as_ref(),
        stuck_pod: run.stuck_pod.as_deref(),
        junit: opts.junit.as_deref(),
        stack: opts.checks.stack,
    };
    if finish.keeps_evidence() {
        let mut problems = Vec::new();
        teardown::export_kind_logs(run, &mut problems);
        for p in problems {
            run.report
                .important(format!("warning: could not keep all evidence: {p}"));
        }
    }
    run.rt.block_on(report::finish(&finish, run.report));
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

/// The version x check table of several runs, one per option set.
pub fn render_runs(runs: &[Options], results: &[(RunResult, Report)]) -> String {
    let rows: Vec<_> = results
        .iter()
        .zip(runs)
        .map(|((r, _), o)| {
            (
                o.k8s_version.clone(),
                r.exit,
                r.error.clone(),
                r.outcomes.clone(),
            )
        })
        .collect();
    report::matrix::render(&rows)
}
