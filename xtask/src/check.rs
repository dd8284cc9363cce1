//! `cargo xtask check`: the checks only, read-only, against any cluster; optionally saved
//! as a baseline report, or compared with one. `--with-load` is the one mode that writes:
//! it creates the calibrated load and deletes it at the end, on failure and on Ctrl-C.
//! The run ends like every other, through `report::finish`.

use std::sync::Arc;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::run as suite;
use heapster_e2e::checks::{self, CheckConfig, Ctx, Outcome};
use heapster_e2e::kubeclient;
use heapster_e2e::pipeline::load;
use heapster_e2e::report::{self, Finish, Report, baseline};

use crate::cli::{CheckArgs, libtest_args};

pub fn run(rt: &tokio::runtime::Runtime, args: CheckArgs) -> anyhow::Result<i32> {
    // Read the baseline first: a bad file should stop the run before it starts.
    let before = args.compare.as_deref().map(baseline::load).transpose()?;
    let client = rt.block_on(kubeclient::connect(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
    ))?;
    let version = rt
        .block_on(client.apiserver_version())
        .map(|v| v.git_version)
        .unwrap_or_else(|_| "unknown".into());
    let config = CheckConfig {
        expected_nodes: args.nodes,
        max_age: args.max_age,
        timeout: args.timeout,
        poll: suite::DEFAULT_POLL,
        dashboard_token_file: args.dashboard_token_file.clone(),
    };
    let mut ctx = Ctx::new(client.clone(), config);
    let cancel = Cancel::new();
    ctx.cancel = cancel.clone();
    let namespace = args.with_load.then(load::namespace_for_run);
    if let Some(ns) = &namespace {
        // Ctrl-C: delete the load before leaving.
        let (client, ns, cancel) = (client.clone(), ns.clone(), cancel.clone());
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nInterrupted: deleting the load namespace {ns}");
                cancel.cancel();
                let _ = load::stop(&client, &ns).await;
                std::process::exit(heapster_e2e::exit::HARNESS);
            }
        });
    }
    let result = checks_with_load(rt, &args, ctx, namespace.as_deref(), &cancel);
    if let Some(ns) = &namespace {
        match rt.block_on(load::stop(&client, ns)) {
            Ok(()) => println!("deleted the load namespace {ns}"),
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    let (exit, outcomes, ctx) = result?;
    let report = Report::new(true);
    let summary = ctx.summary.lock().expect("summary lock").clone();
    let responses = ctx.responses.lock().expect("responses lock").clone();
    let artifacts = args
        .artifacts
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("target/e2e/artifacts/check"));
    report::clear_stale(&artifacts);
    rt.block_on(report::finish(
        &Finish {
            title: format!("heapster-e2e check (Kubernetes {version})"),
            exit,
            error: None,
            outcomes: &outcomes,
            summary: &summary,
            timings: &[],
            first_metrics: *ctx.first_metrics.lock().expect("first metrics lock"),
            artifacts: &artifacts,
            keep_all: args.keep_artifacts,
            client: Some(&client),
            responses: Some(&responses),
            stuck_pod: None,
            junit: args.junit.as_deref(),
        },
        &report,
    ));
    if let Some(path) = &args.report {
        baseline::save(path, &outcomes, &version)?;
        println!(
            "report saved to {} (compare a later run with --compare)",
            path.display()
        );
    }
    if let Some((before_version, states)) = before {
        print!(
            "{}",
            baseline::render(&before_version, &baseline::compare(&states, &outcomes))
        );
    }
    Ok(exit)
}

fn checks_with_load(
    rt: &tokio::runtime::Runtime,
    args: &CheckArgs,
    mut ctx: Ctx,
    namespace: Option<&str>,
    cancel: &Cancel,
) -> anyhow::Result<(i32, Vec<Outcome>, Arc<Ctx>)> {
    if let Some(ns) = namespace {
        let started = rt.block_on(load::start(
            &ctx.client,
            ns,
            &args.load.config(),
            args.timeout,
            cancel,
        ))?;
        println!(
            "load: {}m CPU ({}), {} MiB memory ({}) in {ns}",
            started.config.cpu_millicores,
            started.cpu_pod,
            started.config.memory_mib,
            started.memory_pod
        );
        ctx.load = Some(started);
    }
    let plan = rt.block_on(checks::plan(&mut ctx))?;
    if plan.is_empty() {
        anyhow::bail!("no checks were planned: this is a bug in the harness");
    }
    let ctx = Arc::new(ctx);
    let outcomes = report::libtest::run_trials(
        rt.handle(),
        ctx.clone(),
        plan,
        libtest_args(&args.check_args, args.output),
        report::progress::Style::for_console(false),
    )?;
    Ok((suite::exit_code(&outcomes), outcomes, ctx))
}
