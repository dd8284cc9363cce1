//! `cargo xtask check`: the checks only, read-only, against any cluster; optionally saved
//! as a baseline report, or compared with one. It first waits (within `--timeout`) for the
//! stack to settle, so a cluster fresh from an apply is planned with its pods. `--with-load`
//! is the one mode that writes: it creates the calibrated load and deletes it at the end,
//! on failure and on Ctrl-C. The run ends like every other, through `report::finish`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::run as suite;
use heapster_e2e::checks::{self, CheckConfig, Ctx, Outcome};
use heapster_e2e::kubeclient;
use heapster_e2e::pipeline::load;
use heapster_e2e::pipeline::rollout::{self, Settled};
use heapster_e2e::report::{self, Finish, Report, baseline, libtest, progress};
use heapster_e2e::stack::Stack;

use crate::cli::{CheckArgs, libtest_args, workspace_root};

pub fn run(rt: &tokio::runtime::Runtime, args: CheckArgs) -> anyhow::Result<i32> {
    // Read the baseline first: a bad file should stop the run before it starts.
    let before = args.compare.as_deref().map(baseline::load).transpose()?;
    let client = rt.block_on(kubeclient::connect(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
    ))?;
    let stacks = stacks_to_judge(rt, &client, &args)?;
    if stacks.len() > 1 && (args.report.is_some() || before.is_some()) {
        anyhow::bail!(
            "this cluster runs the {} stacks: a baseline (--report, --compare) is of one stack; pass --stack",
            names(&stacks)
        );
    }
    let mut exit = heapster_e2e::exit::PASSED;
    for stack in &stacks {
        // Several stacks: each its own evidence folder.
        let artifacts = match (&args.artifacts, stacks.len()) {
            (Some(dir), 1) => dir.clone(),
            (dir, 1) => dir.clone().unwrap_or_else(default_artifacts),
            (dir, _) => dir
                .clone()
                .unwrap_or_else(default_artifacts)
                .join(stack.name()),
        };
        exit = exit.max(run_stack(
            rt,
            &args,
            &client,
            *stack,
            &artifacts,
            before.clone(),
        )?);
    }
    Ok(exit)
}

fn default_artifacts() -> std::path::PathBuf {
    heapster_e2e::pipeline::e2e_dir(&workspace_root()).join("artifacts/check")
}

fn names(stacks: &[Stack]) -> String {
    stacks
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `--stack`; without it, every stack the cluster runs (by its UI's image, else by its
/// metrics source's), each judged in turn; none found: the default, which then says what
/// it looked for.
fn stacks_to_judge(
    rt: &tokio::runtime::Runtime,
    client: &kubeclient::Client,
    args: &CheckArgs,
) -> anyhow::Result<Vec<Stack>> {
    if let Some(stack) = args.stack.stack {
        return Ok(vec![stack]);
    }
    let layouts = rt.block_on(heapster_e2e::layout::discover_all(client))?;
    let found = heapster_e2e::layout::running(&layouts);
    if found.is_empty() {
        return Ok(vec![Stack::default()]);
    }
    if found.len() > 1 {
        report::say(&format!(
            "this cluster runs the {} stacks: each is judged in turn",
            names(&found)
        ));
    }
    Ok(found)
}

/// One stack's checks, from settling to the report.
fn run_stack(
    rt: &tokio::runtime::Runtime,
    args: &CheckArgs,
    client: &kubeclient::Client,
    stack: Stack,
    artifacts: &std::path::Path,
    before: Option<(String, std::collections::BTreeMap<String, String>)>,
) -> anyhow::Result<i32> {
    let report = Report::for_console(args.output.verbosity());
    let version = rt
        .block_on(client.apiserver_version())
        .map(|v| v.git_version)
        .unwrap_or_else(|_| "unknown".into());
    rt.block_on(heapster_e2e::simulated::refuse_foreign_scenario(
        client,
        &[stack],
    ))?;
    let config = CheckConfig {
        expected_nodes: args.nodes,
        max_age: args.max_age,
        timeout: args.timeout,
        poll: suite::DEFAULT_POLL,
        dashboard_token_file: args.dashboard_token_file.clone(),
        kubeconfig_token: rt.block_on(kubeclient::bearer_token(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
        )),
        stack,
    };
    let mut ctx = Ctx::new(client.clone(), config);
    let cancel = Cancel::new();
    cancel.on_ctrl_c(
        rt.handle(),
        "the checks change nothing but the calibrated load's namespace (heapster-e2e-load-*, with --with-load): delete it with `kubectl delete namespace NAME` if it is left".into(),
    );
    ctx.cancel = cancel.clone();
    settle(rt, &ctx, &report)?;
    let namespace = args.with_load.then(load::namespace_for_run);
    let result = checks_with_load(rt, args, ctx, namespace.as_deref(), &cancel);
    if let Some(ns) = &namespace {
        match rt.block_on(load::stop(client, ns)) {
            Ok(()) => report.line(format!("deleted the load namespace {ns}")),
            Err(e) => report.important(format!("error: {}", heapster_e2e::error::describe(&e))),
        }
    }
    let (outcomes, ctx) = result?;
    let exit = if cancel.is_cancelled() {
        report.important("error: interrupted while the checks ran");
        heapster_e2e::exit::HARNESS
    } else {
        suite::exit_code(&outcomes)
    };
    let summary = ctx.summary.lock().expect("summary lock").clone();
    let responses = ctx.responses.lock().expect("responses lock").clone();
    report::clear_stale(artifacts);
    rt.block_on(report::finish(
        &Finish {
            title: format!("heapster-e2e check (Kubernetes {version})"),
            exit,
            error: cancel.is_cancelled().then_some("interrupted"),
            outcomes: &outcomes,
            before: &[],
            summary: &summary,
            timings: &report.timings(),
            first_metrics: *ctx.first_metrics.lock().expect("first metrics lock"),
            artifacts,
            keep_all: args.keep_artifacts,
            client: Some(client),
            responses: Some(&responses),
            stuck_pod: None,
            junit: args.junit.as_deref(),
            stack,
        },
        &report,
    ));
    if let Some(path) = &args.report {
        baseline::save(path, &outcomes, &version)?;
        report.line(format!(
            "report saved to {} (compare a later run with --compare)",
            path.display()
        ));
    }
    if let Some((before_version, states)) = before {
        report.important(baseline::render(
            &before_version,
            &baseline::compare(&states, &outcomes),
        ));
    }
    Ok(exit)
}

/// Wait, within the checks' deadline, for the stack's Deployments to be available (or a
/// pod to fail for certain), so the plan sees the pods that will run.
fn settle(rt: &tokio::runtime::Runtime, ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    let (wanted, layout) = rt.block_on(checks::stack_deployments(&ctx.client, ctx.config.stack))?;
    // What was found where, before the checks: each part by its image, and where an absent
    // one was looked for.
    report.line(format!("Found the {} stack:", ctx.config.stack));
    for line in layout.describe() {
        report.line(format!("  {line}"));
    }
    report.begin("Stack");
    let start = Instant::now();
    let left = ctx
        .config
        .timeout
        .saturating_sub(start.duration_since(ctx.started()));
    let settled = rt
        .block_on(rollout::settle(
            &ctx.client,
            &wanted,
            left,
            &ctx.cancel,
            heapster_e2e::report::progress::Style::for_console(
                report.verbosity() == heapster_e2e::report::Verbosity::Quiet,
                left,
            ),
        ))
        .context("interrupted while waiting for the stack")?;
    let message = match settled {
        Settled::Ready => format!("{} Deployments available", wanted.len()),
        Settled::Stuck(problem) => format!("not settling: {problem}"),
        Settled::NoNodes => "not settling: the cluster has zero nodes".into(),
        Settled::StillWaiting(last) => format!("still starting at the deadline: {last}"),
    };
    report.phase("Stack", start.elapsed(), &message);
    Ok(())
}

fn checks_with_load(
    rt: &tokio::runtime::Runtime,
    args: &CheckArgs,
    mut ctx: Ctx,
    namespace: Option<&str>,
    cancel: &Cancel,
) -> anyhow::Result<(Vec<Outcome>, Arc<Ctx>)> {
    if let Some(ns) = namespace {
        let started = rt.block_on(load::start(
            &ctx.client,
            ns,
            &args.load.config(),
            args.timeout,
            cancel,
        ))?;
        report::say(&format!(
            "load: {}m CPU ({}), {} MiB memory ({}) in {ns}",
            started.config.cpu_millicores,
            started.cpu_pod,
            started.config.memory_mib,
            started.memory_pod
        ));
        ctx.load = Some(started);
    }
    let plan = rt.block_on(checks::plan(&mut ctx))?;
    if plan.is_empty() {
        anyhow::bail!("no checks were planned: this is a bug in the harness");
    }
    let ctx = Arc::new(ctx);
    let outcomes = libtest::run_trials(
        rt.handle(),
        ctx.clone(),
        plan,
        libtest_args(&args.check_args, args.output),
        progress::Style::for_console(args.output.quiet, args.timeout),
    )?;
    Ok((outcomes, ctx))
}
