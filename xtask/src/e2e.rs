//! `cargo xtask e2e` and `cargo xtask up`, for one Kubernetes version or several.

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::pipeline::{self, ChecksMode, Options};
use heapster_e2e::report::Report;
use heapster_e2e::{matrix, suite, versions};

use crate::cli::{ClusterArgs, libtest_args};

fn options(
    args: &ClusterArgs,
    version: &str,
    name: String,
    up_only: bool,
) -> anyhow::Result<Options> {
    let node_image = match &args.node_image {
        Some(image) => image.clone(),
        None => versions::node_image(version)
            .map_err(anyhow::Error::msg)?
            .reference(),
    };
    Ok(Options {
        artifacts: args
            .artifacts
            .clone()
            .map(|a| {
                if args.k8s_version.len() > 1 {
                    a.join(&name)
                } else {
                    a
                }
            })
            .unwrap_or_else(|| format!("target/e2e/artifacts/{name}").into()),
        name,
        k8s_version: version.to_string(),
        node_image,
        keep: args.keep,
        reuse: args.reuse,
        dry_run: args.dry_run,
        image_mirror: args.image_mirror.clone(),
        timeout: args.timeout,
        manifests: args.manifests.clone(),
        kind_config: args.kind_config.clone(),
        work_dir: "target/e2e".into(),
        keep_artifacts: args.keep_artifacts,
        junit: args.junit.clone().map(|j| {
            if args.k8s_version.len() > 1 {
                j.with_file_name(format!(
                    "{version}-{}",
                    j.file_name().unwrap_or_default().to_string_lossy()
                ))
            } else {
                j
            }
        }),
        checks: CheckConfig {
            expected_nodes: None,
            max_age: args.max_age,
            timeout: args.timeout,
            poll: suite::DEFAULT_POLL,
            dashboard_token_file: None,
        },
        up_only,
        upgrade_from: None,
        load: (!args.no_load).then(|| args.load.config()),
    })
}

pub fn run(
    sh: &xshell::Shell,
    rt: &tokio::runtime::Runtime,
    args: ClusterArgs,
    up_only: bool,
) -> anyhow::Result<i32> {
    let several = args.k8s_version.len() > 1;
    if several && args.node_image.is_some() {
        anyhow::bail!("--node-image names one image: use it with a single --k8s-version");
    }
    // A git revision's manifests are unpacked once, for every version's run.
    let unpacked = tempfile_dir()?;
    let upgrade_from = match &args.upgrade_from {
        Some(from) if std::path::Path::new(from).is_dir() => Some(std::path::PathBuf::from(from)),
        Some(rev) => Some(heapster_e2e::upgrade::manifests_at_revision(
            sh, rev, &unpacked,
        )?),
        None => None,
    };
    let runs: Vec<Options> = args
        .k8s_version
        .iter()
        .map(|v| {
            options(
                &args,
                v,
                if several {
                    matrix::cluster_name(&args.name, v)
                } else {
                    args.name.clone()
                },
                up_only,
            )
        })
        .map(|o| {
            o.map(|o| Options {
                upgrade_from: upgrade_from.clone(),
                ..o
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let cancel = Cancel::new();
    cancel.on_ctrl_c(rt.handle());
    let verbosity = args.output.verbosity();
    let overlap = args.parallel > 1 && several;
    let root = sh.current_dir();
    let make_shell = || -> anyhow::Result<xshell::Shell> {
        let sh = xshell::Shell::new()?;
        sh.change_dir(&root);
        Ok(sh)
    };
    // Overlapping runs print their own lines only at the end, so they do not interleave.
    let make_report = |opts: &Options| {
        if overlap {
            Report::new(false)
        } else {
            if several {
                println!("\n=== Kubernetes {} ({})", opts.k8s_version, opts.name);
            }
            Report::for_console(verbosity)
        }
    };
    let make_mode = || {
        if overlap {
            ChecksMode::Collect
        } else {
            ChecksMode::Trials(libtest_args(&args.check_args, args.output))
        }
    };
    let started = std::time::Instant::now();
    let results = pipeline::run_many(
        &runs,
        args.parallel,
        rt,
        &make_shell,
        &make_mode,
        &make_report,
        &cancel,
    );
    if overlap {
        for ((_, report), opts) in results.iter().zip(&runs) {
            println!("\n=== Kubernetes {} ({})", opts.k8s_version, opts.name);
            for line in report.lines() {
                println!("{line}");
            }
        }
    }
    let exits: Vec<i32> = results.iter().map(|(r, _)| r.exit).collect();
    if several {
        print!("{}", matrix::render_runs(&runs, &results));
    }
    let exit = matrix::combined_exit(&exits);
    let outcome = match exit {
        0 => "passed",
        1 => "FAILED (the system under test)",
        _ => "could not run (harness)",
    };
    println!(
        "{:>12} [{:>6.1}s] {outcome}",
        "Summary",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&unpacked);
    Ok(exit)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("heapster-e2e-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
