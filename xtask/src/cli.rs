//! Flags of every subcommand. Durations take units (`90s`, `2m`) as kind's and kubectl's do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use heapster_e2e::{validate, versions};

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
    E2e(E2eArgs),
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

/// A path the user gave, made absolute against the directory they are in: the xtask
/// runs its commands from the workspace root, wherever it was started.
pub fn user_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("an empty path names nothing: give a file or directory".into());
    }
    std::path::absolute(text).map_err(|e| format!("cannot resolve {text:?}: {e}"))
}

/// The workspace root: defaults (`manifests/`, `target/e2e/`) live there, whatever the
/// current directory. Cargo sets CARGO_MANIFEST_DIR when it runs the xtask.
pub fn workspace_root() -> PathBuf {
    let xtask_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("../Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    xtask_dir
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub const DEFAULT_NAME: &str = "heapster-e2e";

/// `--stack`: which monitoring stack to bring up, lint or check.
#[derive(Args, Clone, Copy)]
pub struct StackArg {
    /// heapster (heapster + InfluxDB + Grafana + dashboard v1.10.1), metrics-server
    /// (metrics-server v0.9.0 + dashboard v2.7.0 + metrics-scraper v1.0.8) or headlamp
    /// (metrics-server v0.9.0 + Headlamp v0.45.0).
    /// [default: `check` judges every stack the cluster runs, `e2e` and `up` the one the
    /// --manifests folder deploys; else heapster]
    #[arg(long, value_parser = heapster_e2e::stack::Stack::parse)]
    pub stack: Option<heapster_e2e::stack::Stack>,
}

impl StackArg {
    /// `--stack`, or heapster.
    pub fn get(&self) -> heapster_e2e::stack::Stack {
        self.stack.unwrap_or_default()
    }
}

/// What `up` needs, and `e2e` too: a cluster and the stack on it.
#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// kind cluster name (kind's rule: ^[a-z0-9.-]+$); its kubectl context is kind-NAME.
    #[arg(long, default_value = DEFAULT_NAME, value_parser = validate::cluster_name)]
    pub name: String,
    /// Kubernetes version MAJOR.MINOR, or several separated by commas (a cluster each,
    /// named NAME-X-Y; `e2e` ends with a version x check table); picks the pinned node image.
    #[arg(long = "k8s-version", default_value = versions::DEFAULT_K8S_VERSION, value_delimiter = ',')]
    pub k8s_version: Vec<String>,
    /// With several versions: how many clusters at a time.
    #[arg(long, default_value = "1", value_parser = validate::at_least_one)]
    pub parallel: usize,
    /// Use this node image instead of the pinned one (e.g. kindest/node:v1.37.0@sha256:...).
    #[arg(long = "node-image")]
    pub node_image: Option<String>,
    /// Use an existing cluster of this name instead of failing; it is never deleted.
    #[arg(long)]
    pub reuse: bool,
    /// Print every step and command, in order, and run nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Pull each image as PREFIX/<name>:<tag>, retag it to the manifests' name, remove the mirror tag.
    #[arg(long = "image-mirror", value_name = "PREFIX")]
    pub image_mirror: Option<String>,
    /// Deadline for the rollout (and, for e2e, again for the checks), e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_parser = validate::deadline)]
    pub timeout: Duration,
    #[command(flatten)]
    pub stack: StackArg,
    /// Directory of the stack's manifests [default: manifests/ for heapster,
    /// manifests/metrics-server/ for metrics-server, manifests/headlamp/ for headlamp, in
    /// the workspace].
    #[arg(long, value_parser = user_path)]
    pub manifests: Option<PathBuf>,
    /// kind cluster configuration, never applied [default: manifests/kind/kind-config.yaml in the workspace].
    #[arg(long = "kind-config", value_parser = user_path)]
    pub kind_config: Option<PathBuf>,
    /// This run's evidence directory [default: target/e2e/artifacts/NAME in the workspace].
    #[arg(long, value_parser = user_path)]
    pub artifacts: Option<PathBuf>,
    /// Keep the full evidence (logs, events, objects, responses) on success too.
    #[arg(long = "keep-artifacts")]
    pub keep_artifacts: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `e2e`: a cluster, the stack, the checks, and teardown.
#[derive(Args, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Add-on upgrade: apply the manifests of STACK (heapster, metrics-server or headlamp, from this
    /// checkout), DIR, or the git revision GIT_REF (this --stack's, or the heapster stack's
    /// if the revision has no other) first, check, then
    /// upgrade to --manifests and check again, watching the metrics throughout. From
    /// another stack (`--stack metrics-server --upgrade-from heapster`, `--stack headlamp
    /// --upgrade-from metrics-server`), what only the old stack declares is removed once the
    /// new one is up, and the UIs' node metrics must not be gone for longer than the new
    /// stack needs to show them.
    #[arg(long = "upgrade-from", value_name = "STACK|DIR|GIT_REF")]
    pub upgrade_from: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Skip the calibrated load and its ground-truth checks.
    #[arg(long = "no-load")]
    pub no_load: bool,
    /// Leave the cluster running at the end, whatever the outcome.
    #[arg(long)]
    pub keep: bool,
    /// Oldest acceptable latest metric point.
    #[arg(long = "max-age", default_value = "120s", value_parser = validate::deadline)]
    pub max_age: Duration,
    /// Write a JUnit XML report here: a test case per check (and per failed phase), a
    /// suite per Kubernetes version.
    #[arg(long, value_parser = user_path)]
    pub junit: Option<PathBuf>,
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
    /// Accepted difference between the CPU target and measurement, in percent (above 0,
    /// below 100); the default is metrics-server's e2e (50m within 10m).
    #[arg(long = "load-cpu-tolerance", default_value = "20", value_parser = validate::tolerance_percent)]
    pub cpu_tolerance_percent: f64,
    /// The same for memory; the default is metrics-server's e2e (50 MiB within 5 MiB).
    #[arg(long = "load-memory-tolerance", default_value = "10", value_parser = validate::tolerance_percent)]
    pub memory_tolerance_percent: f64,
}

impl LoadArgs {
    pub fn config(self) -> heapster_e2e::pipeline::load::LoadConfig {
        heapster_e2e::pipeline::load::LoadConfig {
            cpu_millicores: self.cpu_millicores,
            memory_mib: self.memory_mib,
            cpu_tolerance: self.cpu_tolerance_percent / 100.0,
            memory_tolerance: self.memory_tolerance_percent / 100.0,
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
    #[arg(long, value_parser = user_path)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig; else its current context.
    #[arg(long)]
    pub context: Option<String>,
    /// Number of nodes the cluster must have.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// How long to wait for the stack to settle and for states that can still heal (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = validate::deadline)]
    pub timeout: Duration,
    /// Oldest acceptable latest metric point.
    #[arg(long = "max-age", default_value = "120s", value_parser = validate::deadline)]
    pub max_age: Duration,
    /// File holding a bearer token to log in to the dashboard with, for clusters without
    /// the checks' service account token Secret.
    #[arg(long = "dashboard-token-file", value_parser = user_path)]
    pub dashboard_token_file: Option<PathBuf>,
    /// Write a JUnit XML report of the checks here.
    #[arg(long, value_parser = user_path)]
    pub junit: Option<PathBuf>,
    /// This run's evidence directory [default: target/e2e/artifacts/check in the workspace].
    #[arg(long, value_parser = user_path)]
    pub artifacts: Option<PathBuf>,
    /// Keep the full evidence (logs, events, objects, responses) on success too.
    #[arg(long = "keep-artifacts")]
    pub keep_artifacts: bool,
    /// Save this run's results (a baseline, e.g. before an upgrade).
    #[arg(long, value_parser = user_path)]
    pub report: Option<PathBuf>,
    /// Show which checks changed state since a saved report.
    #[arg(long, value_parser = user_path)]
    pub compare: Option<PathBuf>,
    /// Start the calibrated load pods (the only mode of `check` that creates anything; they
    /// are deleted at the end, on failure and on Ctrl-C) and add the ground-truth checks.
    #[arg(long = "with-load")]
    pub with_load: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub stack: StackArg,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Arguments for the check harness after `--`: name filters, --exact, --skip, --list, --nocapture.
    #[arg(last = true)]
    pub check_args: Vec<String>,
}

#[derive(Args)]
pub struct DownArgs {
    /// kind cluster to delete (as given to `e2e --name` or `up --name`).
    #[arg(long, default_value = DEFAULT_NAME, value_parser = validate::cluster_name)]
    pub name: String,
}

#[derive(Args)]
pub struct LintArgs {
    /// Kubernetes version MAJOR.MINOR (one this harness pins); default every supported version.
    #[arg(long = "k8s-version", value_parser = validate::k8s_version)]
    pub k8s_version: Option<String>,
    /// Directory of the manifests to lint [default: every stack's manifests in the workspace].
    #[arg(long, value_parser = user_path)]
    pub manifests: Option<PathBuf>,
    /// Lint only this stack's manifests (heapster, metrics-server or headlamp) [default: all].
    #[arg(long, value_parser = heapster_e2e::stack::Stack::parse)]
    pub stack: Option<heapster_e2e::stack::Stack>,
}

#[derive(Args)]
pub struct SimArgs {
    /// What the simulated cluster does: `healthy`, or one fault.
    #[arg(long, default_value = "healthy", value_parser = scenario())]
    pub scenario: kind_sim::Scenario,
    #[command(flatten)]
    pub stack: StackArg,
}

/// A scenario by name; the possible values (in `--help` and in errors) are the
/// simulator's own list, so they cannot drift.
fn scenario() -> impl clap::builder::TypedValueParser<Value = kind_sim::Scenario> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(kind_sim::Scenario::ALL.iter().map(|s| s.name()))
        .map(|name| kind_sim::Scenario::from_name(&name).expect("a listed scenario"))
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
