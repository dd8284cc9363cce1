//! `cargo xtask e2e` and `cargo xtask up`, for one Kubernetes version or several.

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::checks::run as suite;
use heapster_e2e::pipeline::{self, ChecksMode, Options};
use heapster_e2e::report::Report;
use heapster_e2e::report::matrix;
use heapster_e2e::versions;

use crate::cli::{ClusterArgs, libtest_args};

fn options(
    args: &ClusterArgs,
    version: &str,
    name: String,
    up_only: bool,
) -> anyhow::Result<Options> {
    // A given --node-image stands for any version; otherwise the version must be pinned.
    let pinned = if args.node_image.is_some() {
        versions::DEFAULT_K8S_VERSION
    } else {
        version
    };
    let mut opts =
        Options::new(std::path::Path::new(""), &name, pinned).map_err(anyhow::Error::msg)?;
    opts.k8s_version = version.to_string();
    if let Some(image) = &args.node_image {
        opts.node_image = image.clone();
    }
    let several = args.k8s_version.len() > 1;
    if let Some(dir) = &args.artifacts {
        opts.artifacts = if several {
            dir.join(&name)
        } else {
            dir.clone()
        };
    }
    opts.junit = args.junit.clone().map(|j| {
        if several {
            j.with_file_name(format!(
                "{version}-{}",
                j.file_name().unwrap_or_default().to_string_lossy()
            ))
        } else {
            j
        }
    });
    opts.keep = args.keep;
    opts.reuse = args.reuse;
    opts.dry_run = args.dry_run;
    opts.image_mirror = args.image_mirror.clone();
    opts.timeout = args.timeout;
    opts.manifests = args.manifests.clone();
    opts.kind_config = args.kind_config.clone();
    opts.keep_artifacts = args.keep_artifacts;
    opts.checks = CheckConfig {
        max_age: args.max_age,
        timeout: args.timeout,
        poll: suite::DEFAULT_POLL,
        ..CheckConfig::default()
    };
    opts.up_only = up_only;
    opts.load = (!args.no_load).then(|| args.load.config());
    Ok(opts)
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
        Some(rev) => Some(heapster_e2e::pipeline::upgrade::manifests_at_revision(
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
        print!("{}", pipeline::render_runs(&runs, &results));
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
