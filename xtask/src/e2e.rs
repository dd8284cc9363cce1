//! `cargo xtask e2e` and `cargo xtask up`.

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::pipeline::{self, ChecksMode, Options};
use heapster_e2e::report::Report;
use heapster_e2e::{suite, versions};

use crate::cli::{ClusterArgs, libtest_args};

pub fn run(
    sh: &xshell::Shell,
    rt: &tokio::runtime::Runtime,
    args: ClusterArgs,
    up_only: bool,
) -> anyhow::Result<i32> {
    let node_image = match &args.node_image {
        Some(image) => image.clone(),
        None => versions::node_image(&args.k8s_version)
            .map_err(anyhow::Error::msg)?
            .reference(),
    };
    let opts = Options {
        name: args.name.clone(),
        k8s_version: args.k8s_version.clone(),
        node_image,
        keep: args.keep,
        reuse: args.reuse,
        dry_run: args.dry_run,
        image_mirror: args.image_mirror.clone(),
        timeout: args.timeout,
        manifests: args.manifests.clone(),
        kind_config: args.kind_config.clone(),
        work_dir: "target/e2e".into(),
        artifacts: args
            .artifacts
            .clone()
            .unwrap_or_else(|| format!("target/e2e/artifacts/{}", args.name).into()),
        keep_artifacts: args.keep_artifacts,
        junit: args.junit.clone(),
        checks: CheckConfig {
            expected_nodes: None,
            max_age: args.max_age,
            timeout: args.timeout,
            poll: suite::DEFAULT_POLL,
            dashboard_token_file: None,
        },
        up_only,
    };
    let cancel = Cancel::new();
    cancel.on_ctrl_c(rt.handle());
    let report = Report::for_console(args.output.verbosity());
    let mode = ChecksMode::Trials(libtest_args(&args.check_args, args.output));
    let result = pipeline::run(sh, rt, &opts, mode, &cancel, &report);
    let outcome = match result.exit {
        0 => "passed",
        1 => "FAILED (the system under test)",
        _ => "could not run (harness)",
    };
    report.important(format!(
        "{:>12} [{:>6.1}s] {outcome}",
        "Summary",
        report.elapsed().as_secs_f64()
    ));
    Ok(result.exit)
}
