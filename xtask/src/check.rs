//! `cargo xtask check`: the checks only, read-only, against any cluster; optionally saved
//! as a baseline report, or compared with one.

use std::sync::Arc;

use heapster_e2e::checks::{self, CheckConfig, Ctx};
use heapster_e2e::{baseline, junit, kubeclient, suite};

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
        dashboard_token_file: args.dashboard_token_file,
    };
    let mut ctx = Ctx::new(client, config);
    let plan = rt.block_on(checks::plan(&mut ctx))?;
    if plan.is_empty() {
        anyhow::bail!("no checks were planned: this is a bug in the harness");
    }
    let (conclusion, outcomes) = suite::run_trials(
        rt.handle(),
        Arc::new(ctx),
        plan,
        libtest_args(&args.check_args, args.output),
    );
    if let Some(path) = &args.junit {
        junit::write(
            path,
            &format!("heapster-e2e check (Kubernetes {version})"),
            &outcomes,
        )?;
    }
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
    Ok(suite::exit_code(&conclusion))
}
