//! Flags of every subcommand. Durations take units (`90s`, `2m`) as kind's and kubectl's do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use heapster_e2e::versions;

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Prove on a throw-away kind cluster that kubernetes-dashboard shows heapster's node and pod metrics", long_about = None)]
#[command(
    after_help = "Exit codes: 0 every check passed; 1 a check (or the stack's rollout) failed; 2 the harness could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Everything: preflight, images, cluster, load, apply, wait, checks, teardown.
    E2e(ClusterArgs),
    /// Everything up to a ready stack; the cluster is kept.
    Up(ClusterArgs),
    /// The checks only, read-only, on any cluster the kubeconfig reaches.
    Check(CheckArgs),
    /// Delete the kind cluster.
    Down(DownArgs),
    /// Offline: check the manifests against the APIs each Kubernetes version serves.
    Lint(LintArgs),
    /// Start a simulated cluster (no Docker needed) and fake `kind`/`docker` to try the harness with.
    Sim(SimArgs),
}

pub fn duration(text: &str) -> Result<Duration, String> {
    heapster_e2e::duration::parse(text)
}

pub const DEFAULT_NAME: &str = "heapster-e2e";

#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// kind cluster name; its kubectl context is kind-NAME.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Kubernetes version MAJOR.MINOR, or several separated by commas (a cluster each,
    /// named NAME-X-Y, and a version x check table at the end); picks the pinned node image.
    #[arg(long = "k8s-version", default_value = versions::DEFAULT_K8S_VERSION, value_delimiter = ',')]
    pub k8s_version: Vec<String>,
    /// Add-on upgrade: apply the manifests of DIR (or of the git revision GIT_REF) first,
    /// check, then upgrade to --manifests, check again and measure gaps in the series.
    #[arg(long = "upgrade-from", value_name = "DIR|GIT_REF")]
    pub upgrade_from: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Skip the calibrated load and its ground-truth checks.
    #[arg(long = "no-load")]
    pub no_load: bool,
    /// With several versions: how many clusters at a time.
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Use this node image instead of the pinned one (e.g. kindest/node:v1.37.0@sha256:...).
    #[arg(long = "node-image")]
    pub node_image: Option<String>,
    /// Leave the cluster running at the end, whatever the outcome.
    #[arg(long)]
    pub keep: bool,
    /// Use an existing cluster of this name instead of failing; it is never deleted.
    #[arg(long)]
    pub reuse: bool,
    /// Print every step and command, in order, and run nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Pull each image as PREFIX/<name>:<tag>, retag it to the manifests' name, remove the mirror tag.
    #[arg(long = "image-mirror", value_name = "PREFIX")]
    pub image_mirror: Option<String>,
    /// Deadline for the rollout, and again for the checks (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub timeout: Duration,
    /// Oldest acceptable latest metric point.
    #[arg(long = "max-age", default_value = "120s", value_parser = duration)]
    pub max_age: Duration,
    /// Directory of the stack's manifests.
    #[arg(long, default_value = "manifests")]
    pub manifests: PathBuf,
    /// This run's evidence directory [default: target/e2e/artifacts/NAME].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Keep the full evidence (logs, events, objects, responses) on success too.
    #[arg(long = "keep-artifacts")]
    pub keep_artifacts: bool,
    /// Write a JUnit XML report of the checks here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// kind cluster configuration (not a Kubernetes object; never applied).
    #[arg(
        long = "kind-config",
        default_value = "manifests/kind/kind-config.yaml"
    )]
    pub kind_config: PathBuf,
    /// Arguments for the check harness after `--`: name filters, --exact, --skip, --list, --nocapture.
    #[arg(last = true)]
    pub check_args: Vec<String>,
}

/// The calibrated load of the ground-truth checks (Kubernetes' e2e resource-consumer).
#[derive(Args, Clone, Copy)]
pub struct LoadArgs {
    /// CPU the load pod burns, in millicores.
    #[arg(long = "load-cpu", default_value_t = 100)]
    pub cpu_millicores: i64,
    /// Memory the load pod holds, in MiB.
    #[arg(long = "load-memory", default_value_t = 64)]
    pub memory_mib: i64,
    /// Accepted difference between target and measurement, in percent.
    #[arg(long = "load-tolerance", default_value_t = 30.0)]
    pub tolerance_percent: f64,
}

impl LoadArgs {
    pub fn config(self) -> heapster_e2e::pipeline::load::LoadConfig {
        heapster_e2e::pipeline::load::LoadConfig {
            cpu_millicores: self.cpu_millicores,
            memory_mib: self.memory_mib,
            tolerance: self.tolerance_percent / 100.0,
            ..Default::default()
        }
    }
}

#[derive(Args, Clone, Copy)]
pub struct OutputArgs {
    /// Errors and the summary only.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also every command run.
    #[arg(short, long)]
    pub verbose: bool,
}

impl OutputArgs {
    pub fn verbosity(self) -> heapster_e2e::report::Verbosity {
        use heapster_e2e::report::Verbosity;
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

#[derive(Args)]
pub struct CheckArgs {
    /// Kubeconfig to use; else KUBECONFIG; else ~/.kube/config.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig; else its current context.
    #[arg(long)]
    pub context: Option<String>,
    /// Number of nodes the cluster must have.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// How long to wait for states that can still heal (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub timeout: Duration,
    /// Oldest acceptable latest metric point.
    #[arg(long = "max-age", default_value = "120s", value_parser = duration)]
    pub max_age: Duration,
    /// File holding a bearer token to log in to the dashboard with, for clusters without
    /// the checks' service account token Secret.
    #[arg(long = "dashboard-token-file")]
    pub dashboard_token_file: Option<PathBuf>,
    /// Write a JUnit XML report of the checks here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// This run's evidence directory [default: target/e2e/artifacts/check].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Keep the full evidence (logs, events, objects, responses) on success too.
    #[arg(long = "keep-artifacts")]
    pub keep_artifacts: bool,
    /// Save this run's results (a baseline, e.g. before an upgrade).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Show which checks changed state since a saved report.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Start the calibrated load pods (the only mode of `check` that creates anything; they
    /// are deleted at the end, on failure and on Ctrl-C) and add the ground-truth checks.
    #[arg(long = "with-load")]
    pub with_load: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Arguments for the check harness after `--`: name filters, --exact, --skip, --list, --nocapture.
    #[arg(last = true)]
    pub check_args: Vec<String>,
}

#[derive(Args)]
pub struct DownArgs {
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
}

#[derive(Args)]
pub struct LintArgs {
    /// Kubernetes version MAJOR.MINOR; default every supported version.
    #[arg(long = "k8s-version")]
    pub k8s_version: Option<String>,
    #[arg(long, default_value = "manifests")]
    pub manifests: PathBuf,
}

#[derive(Args)]
pub struct SimArgs {
    /// One of: healthy, no-heapster-service, slow-first-batch, node-missing-from-heapster,
    /// zero-metrics, stale-metrics, dashboard-never-connects, pods-without-metrics,
    /// transient-api-errors, crash-loop, image-not-loaded, not-ready-node, zero-nodes.
    #[arg(long, default_value = "healthy")]
    pub scenario: String,
}

/// libtest arguments from what followed `--` (terse with `-q`).
pub fn libtest_args(extra: &[String], output: OutputArgs) -> libtest_mimic::Arguments {
    use clap::Parser as _;
    let quiet = output.quiet.then(|| "--quiet".to_string());
    let argv = std::iter::once("checks".to_string())
        .chain(quiet)
        .chain(extra.iter().cloned());
    libtest_mimic::Arguments::parse_from(argv)
}
