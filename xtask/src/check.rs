//! `cargo xtask check`: the checks only, read-only, against any cluster.

use std::sync::Arc;

use heapster_e2e::checks::{self, CheckConfig, Ctx};
use heapster_e2e::{junit, kubeclient, suite};

use crate::cli::{CheckArgs, libtest_args};

pub fn run(rt: &tokio::runtime::Runtime, args: CheckArgs) -> anyhow::Result<i32> {
    let client = rt.block_on(kubeclient::connect(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
    ))?;
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
        let version = rt.block_on(async {
            Ok::<_, anyhow::Error>(
                kubeclient::connect(args.kubeconfig.as_deref(), args.context.as_deref())
                    .await?
                    .apiserver_version()
                    .await?,
            )
        });
        let version = version
            .map(|v| v.git_version)
            .unwrap_or_else(|_| "unknown".into());
        junit::write(
            path,
            &format!("heapster-e2e check (Kubernetes {version})"),
            &outcomes,
        )?;
    }
    Ok(suite::exit_code(&conclusion))
}
