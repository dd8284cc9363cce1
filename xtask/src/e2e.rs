//! `cargo xtask e2e` and `cargo xtask up`, for one Kubernetes version or several.

use anyhow::Context;
use std::path::Path;

use heapster_e2e::cancel::Cancel;
use heapster_e2e::checks::CheckConfig;
use heapster_e2e::checks::run as suite;
use heapster_e2e::pipeline::{self, ChecksMode, Options};
use heapster_e2e::report::{self, Report, junit, matrix};
use heapster_e2e::stack::Stack;
use heapster_e2e::versions;

use crate::cli::{ClusterArgs, E2eArgs, libtest_args, workspace_root};

/// One version's options: `e2e` when `e2e` is given, else `up` (the cluster is kept).
fn options(
    cluster: &ClusterArgs,
    stack: Stack,
    e2e: Option<&E2eArgs>,
    version: &str,
    name: String,
) -> anyhow::Result<Options> {
    // A given --node-image stands for any version; otherwise the version must be pinned.
    let pinned = if cluster.node_image.is_some() {
        versions::DEFAULT_K8S_VERSION
    } else {
        version
    };
    let root = workspace_root();
    let mut opts = Options::new(&root, &name, pinned)
        .map_err(anyhow::Error::msg)?
        .for_stack(&root, stack);
    opts.k8s_version = version.to_string();
    if let Some(image) = &cluster.node_image {
        opts.node_image = image.clone();
    }
    let several = cluster.k8s_version.len() > 1;
    if let Some(dir) = &cluster.artifacts {
        opts.artifacts = if several {
            dir.join(&name)
        } else {
            dir.clone()
        };
    }
    opts.reuse = cluster.reuse;
    opts.dry_run = cluster.dry_run;
    opts.image_mirror = cluster.image_mirror.clone();
    opts.timeout = cluster.timeout;
    opts.manifests = cluster.manifests.clone().unwrap_or(opts.manifests);
    opts.kind_config = cluster.kind_config.clone().unwrap_or(opts.kind_config);
    opts.keep_artifacts = cluster.keep_artifacts;
    match e2e {
        Some(e2e) => {
            // With several versions the one JUnit file is written at the end.
            opts.junit = e2e.junit.clone().filter(|_| !several);
            opts.keep = e2e.keep;
            opts.checks = CheckConfig {
                max_age: e2e.max_age,
                timeout: cluster.timeout,
                poll: suite::DEFAULT_POLL,
                stack,
                ..CheckConfig::default()
            };
            opts.load = (!e2e.no_load).then(|| e2e.load.config());
        }
        None => {
            opts.up_only = true;
            opts.load = None;
        }
    }
    Ok(opts)
}

/// `--stack`; without it, the stack the `--manifests` folder deploys (a folder that holds
/// none is refused, naming what was looked for); else heapster.
fn stack_of(cluster: &ClusterArgs) -> anyhow::Result<Stack> {
    if let Some(stack) = cluster.stack.stack {
        return Ok(stack);
    }
    let Some(dir) = &cluster.manifests else {
        return Ok(Stack::default());
    };
    let docs = heapster_e2e::manifests::load_dir(dir)?;
    Stack::detect(&docs).ok_or_else(|| {
        anyhow::anyhow!(
            "the manifests in {} hold no stack this harness knows: it looked for {}; give a folder with one of them, or name the stack with --stack",
            dir.display(),
            Stack::detect_looks_for()
        )
    })
}

pub fn run_e2e(
    sh: &xshell::Shell,
    rt: &tokio::runtime::Runtime,
    args: E2eArgs,
) -> anyhow::Result<i32> {
    run(sh, rt, &args.cluster, Some(&args))
}

pub fn run_up(
    sh: &xshell::Shell,
    rt: &tokio::runtime::Runtime,
    args: ClusterArgs,
) -> anyhow::Result<i32> {
    run(sh, rt, &args, None)
}

fn run(
    sh: &xshell::Shell,
    rt: &tokio::runtime::Runtime,
    cluster: &ClusterArgs,
    e2e: Option<&E2eArgs>,
) -> anyhow::Result<i32> {
    let several = cluster.k8s_version.len() > 1;
    let stack = stack_of(cluster)?;
    if let Some(twice) = cluster
        .k8s_version
        .iter()
        .enumerate()
        .find_map(|(i, v)| cluster.k8s_version[..i].contains(v).then_some(v))
    {
        anyhow::bail!(
            "--k8s-version lists {twice} twice: give each version once (each gets a cluster named after it)"
        );
    }
    // A report that cannot be written must not turn a run green: refuse it before anything
    // runs (the file is made now and filled at the end).
    if let Some(path) = e2e.and_then(|e| e.junit.as_deref()) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| {
                format!(
                    "cannot write --junit {}: give a file in a directory you can write to",
                    path.display()
                )
            })?;
    }
    if several && cluster.node_image.is_some() {
        anyhow::bail!("--node-image names one image: use it with a single --k8s-version");
    }
    // A git revision's manifests are unpacked once, for every version's run, into a folder
    // removed however the run ends (a failed unpack or run included).
    let unpacked = tempfile::Builder::new()
        .prefix("heapster-e2e-upgrade-")
        .tempdir()?;
    let upgrade_from = match e2e.and_then(|e| e.upgrade_from.as_deref()) {
        None => None,
        Some(from) => Some(match Stack::parse(from) {
            // A stack's name: its manifests in this checkout (the move across stacks).
            Ok(stack) => stack.manifests(&workspace_root()),
            Err(_) if Path::new(from).is_dir() => std::path::absolute(from)?,
            // A revision: this run's stack's manifests as they were then.
            Err(_) => {
                pipeline::upgrade::manifests_at_revision(sh, from, unpacked.path())?;
                pipeline::upgrade::stack_folder(unpacked.path(), stack)
            }
        }),
    };
    let runs: Vec<Options> = cluster
        .k8s_version
        .iter()
        .map(|v| {
            let name = if several {
                matrix::cluster_name(&cluster.name, v)
            } else {
                cluster.name.clone()
            };
            options(cluster, stack, e2e, v, name).map(|o| Options {
                upgrade_from: upgrade_from.clone(),
                ..o
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let cancel = Cancel::new();
    let downs: Vec<String> = runs
        .iter()
        .map(|o| format!("`cargo xtask down --name {}`", o.name))
        .collect();
    cancel.on_ctrl_c(
        rt.handle(),
        format!("delete a cluster left behind with {}", downs.join(" and ")),
    );
    let verbosity = cluster.output.verbosity();
    let overlap = cluster.parallel > 1 && several;
    let root = sh.current_dir();
    let make_shell = || -> anyhow::Result<xshell::Shell> {
        let sh = xshell::Shell::new()?;
        sh.change_dir(&root);
        Ok(sh)
    };
    // Overlapping runs print their own lines only at the end, so they do not interleave.
    let make_report = |opts: &Options| {
        if overlap {
            Report::buffered(verbosity)
        } else {
            if several {
                report::say(&heading(opts));
            }
            Report::for_console(verbosity)
        }
    };
    let make_mode = || match e2e {
        Some(e2e) if !overlap => ChecksMode::Trials(libtest_args(&e2e.check_args, cluster.output)),
        _ => ChecksMode::Collect,
    };
    let started = std::time::Instant::now();
    let results = pipeline::run_many(
        &runs,
        cluster.parallel,
        rt,
        &make_shell,
        &make_mode,
        &make_report,
        &cancel,
    );
    if overlap {
        for ((_, report), opts) in results.iter().zip(&runs) {
            report::say(&heading(opts));
            for line in report.shown_lines() {
                report::say(&line);
            }
        }
    }
    let mut exit = matrix::combined_exit(&results.iter().map(|(r, _)| r.exit).collect::<Vec<_>>());
    if several {
        report::say(&pipeline::render_runs(&runs, &results));
        if let Some(path) = e2e.and_then(|e| e.junit.as_deref()) {
            let suites: Vec<(String, &[heapster_e2e::checks::Outcome])> = results
                .iter()
                .zip(&runs)
                .map(|((r, _), o)| (o.title(), r.outcomes.as_slice()))
                .collect();
            if let Err(e) = junit::write(path, &suites) {
                heapster_e2e::report::tell(&format!(
                    "error: {}",
                    heapster_e2e::error::describe(&e)
                ));
                exit = exit.max(heapster_e2e::exit::HARNESS);
            }
        }
    }
    let outcome = if cluster.dry_run && exit == 0 {
        "dry run: nothing was run"
    } else {
        match exit {
            0 => "passed",
            1 => "FAILED (the system under test)",
            _ => "could not run (harness)",
        }
    };
    report::say(&report::phase_line("Summary", started.elapsed(), outcome));
    Ok(exit)
}

fn heading(opts: &Options) -> String {
    format!("\n=== Kubernetes {} ({})", opts.k8s_version, opts.name)
}
