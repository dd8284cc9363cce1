//! Test support: the fake `kind`/`docker` world with its executables on PATH, and a
//! simulated cluster with the stack applied by the harness's own code.

pub mod emulation;
pub mod ground_truth;
pub mod headlamp;
pub mod layout;
pub mod metrics_server;
pub mod pinned;
pub mod pipeline;
pub mod relocated;
pub mod scenarios;
pub mod setup;
pub mod sim;
pub mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use heapster_e2e::checks::run::{self as suite, Outcome};
use heapster_e2e::checks::{self, CheckConfig, Ctx};
use heapster_e2e::pipeline::apply;
use heapster_e2e::pipeline::rollout::{self, RolloutError};
use heapster_e2e::{kubeclient, manifests};
use kind_sim::{ClusterHandle, Scenario, SimConfig, World, WorldConfig};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn manifests_dir() -> PathBuf {
    root().join("manifests")
}

pub fn stack_images() -> Vec<String> {
    manifests::images(&manifests::load_dir(&manifests_dir()).expect("shipped manifests load"))
}

/// Check settings for tests: quick polling; the timeout says how long a state that can
/// heal is given.
pub fn check_config(timeout: Duration) -> CheckConfig {
    CheckConfig {
        expected_nodes: None,
        max_age: Duration::from_secs(120),
        timeout,
        poll: Duration::from_millis(300),
        dashboard_token_file: None,
        kubeconfig_token: None,
        stack: Default::default(),
    }
}

/// A fake docker/kind world, its control server, and a PATH holding only the fakes.
pub struct Fakes {
    pub world: Arc<World>,
    pub dir: tempfile::TempDir,
    pub control: String,
}

impl Fakes {
    /// A world whose registry serves the stack's images.
    pub fn new(rt: &tokio::runtime::Runtime, config: WorldConfig) -> Fakes {
        Self::with_tools(rt, config, kind_sim::shim::TOOLS)
    }

    pub fn with_tools(rt: &tokio::runtime::Runtime, config: WorldConfig, tools: &[&str]) -> Fakes {
        let world = World::new(config);
        let addr = rt.block_on(world.serve()).expect("control server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = std::env::current_exe().expect("current exe");
        kind_sim::shim::install(&dir.path().join("bin"), &exe, tools)
            .expect("fake tools installed");
        Fakes {
            world,
            dir,
            control: addr.to_string(),
        }
    }

    /// A registry holding every stack's images.
    pub fn registry_with_stack() -> Vec<(String, Option<String>)> {
        use heapster_e2e::stack::Stack;
        let mut images = Vec::new();
        for stack in Stack::ALL {
            let docs =
                manifests::load_dir(&stack.manifests(&root())).expect("shipped manifests load");
            for i in manifests::images(&docs) {
                if !images.contains(&i) {
                    images.push(i);
                }
            }
        }
        images.into_iter().map(|i| (i, None)).collect()
    }

    /// A shell whose PATH has only the fakes, and whose HOME and KUBECONFIG are private.
    pub fn shell(&self) -> xshell::Shell {
        let sh = xshell::Shell::new().expect("shell");
        sh.change_dir(root());
        sh.set_var("PATH", self.dir.path().join("bin"));
        sh.set_var(kind_sim::shim::CONTROL_ENV, &self.control);
        sh.set_var("HOME", self.dir.path());
        sh.set_var("KUBECONFIG", self.dir.path().join("kube/config"));
        sh
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn calls(&self, rt: &tokio::runtime::Runtime) -> Vec<String> {
        rt.block_on(self.world.calls())
            .into_iter()
            .map(|c| c.join(" "))
            .collect()
    }
}

/// A simulated cluster with the shipped stack's images on its nodes, and a client for it.
pub struct SimStack {
    pub handle: ClusterHandle,
    pub client: kube::Client,
    /// Its admin kubeconfig, for other clients (kubectl).
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl SimStack {
    pub fn start(
        rt: &tokio::runtime::Runtime,
        name: &str,
        scenario: Scenario,
        images: Vec<String>,
    ) -> SimStack {
        let mut config = SimConfig::scenario(name, scenario);
        config.preloaded_images = images;
        Self::start_with(rt, config)
    }

    /// A healthy cluster on the pinned node image of Kubernetes `version` (`1.36`).
    pub fn on_version(rt: &tokio::runtime::Runtime, version: &str) -> SimStack {
        let mut config = SimConfig::scenario("sim", Scenario::Healthy);
        config.node_image = heapster_e2e::versions::node_image(version)
            .expect("a pinned version")
            .reference();
        Self::start_with(rt, config)
    }

    pub fn start_with(rt: &tokio::runtime::Runtime, config: SimConfig) -> SimStack {
        let handle = rt
            .block_on(kind_sim::start(config))
            .expect("simulated cluster starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        handle
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let client = rt
            .block_on(kubeclient::connect(Some(&kubeconfig), None))
            .expect("client connects to the simulated cluster");
        SimStack {
            handle,
            client,
            kubeconfig,
            _dir: dir,
        }
    }

    /// Apply a manifest directory with the harness's apply and wait for its Deployments.
    pub fn apply_and_wait(
        &self,
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        timeout: Duration,
    ) -> Result<(), RolloutError> {
        let docs = manifests::load_dir(dir).expect("manifests load");
        rt.block_on(apply::apply(&self.client, &docs, |_| {}))
            .expect("apply succeeds");
        let wanted = manifests::deployments(&docs);
        rt.block_on(rollout::wait(
            &self.client,
            &wanted,
            timeout,
            &heapster_e2e::cancel::Cancel::new(),
        ))
    }

    pub fn run_checks(&self, rt: &tokio::runtime::Runtime, config: CheckConfig) -> Vec<Outcome> {
        let mut ctx = Ctx::new(self.client.clone(), config);
        let plan = rt.block_on(checks::plan(&mut ctx)).expect("plan");
        assert!(!plan.is_empty(), "an empty check plan is a bug");
        rt.block_on(suite::run_all(Arc::new(ctx), plan))
    }
}

/// A copy of the shipped manifests with `edit` applied to each file's text.
pub fn copy_manifests(edit: impl Fn(&str, String) -> String) -> Result<tempfile::TempDir, String> {
    copy_manifests_of(&manifests_dir(), edit)
}

/// The manifest files of `from` (not its folders), each through `edit(file name, text)`.
pub fn copy_manifests_of(
    from: &std::path::Path,
    edit: impl Fn(&str, String) -> String,
) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            std::fs::write(dir.path().join(&name), edit(&name, text)).map_err(|e| e.to_string())?;
        }
    }
    Ok(dir)
}

/// Failing outcomes, for assertion messages.
pub fn failures(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.passed && !o.ignored)
        .map(|o| format!("{}: {}", o.name, o.message))
        .collect()
}

pub fn outcome<'a>(outcomes: &'a [Outcome], name: &str) -> &'a Outcome {
    outcomes.iter().find(|o| o.name == name).unwrap_or_else(|| {
        panic!(
            "no check named {name}; have: {:?}",
            outcomes.iter().map(|o| &o.name).collect::<Vec<_>>()
        )
    })
}

/// Assert, returning a test failure rather than panicking with a backtrace.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+).into());
        }
    };
}

pub type TestResult = Result<(), libtest_mimic::Failed>;

/// The check `name` passed: what the scenario leaves alone (`why`) stays green. On failure
/// it says the check's own message and every failure of the run.
pub fn passed(outcomes: &[Outcome], name: &str, why: &str) -> TestResult {
    let o = outcome(outcomes, name);
    ensure!(
        o.passed,
        "{why}: {name} failed: {}; the run's failures: {:?}",
        o.message,
        failures(outcomes)
    );
    Ok(())
}

/// A trial named `{group}::{name}` that runs `f` on the shared runtime.
/// The tests share one runtime.
pub type Rt = Arc<tokio::runtime::Runtime>;

/// The trials of one group, named `group::name`, sharing one runtime.
pub struct Group {
    rt: Rt,
    name: &'static str,
}

impl Group {
    pub fn new(rt: &Rt, name: &'static str) -> Self {
        Group {
            rt: rt.clone(),
            name,
        }
    }

    pub fn trial(
        &self,
        name: &str,
        f: fn(&tokio::runtime::Runtime) -> TestResult,
    ) -> libtest_mimic::Trial {
        let rt = self.rt.clone();
        libtest_mimic::Trial::test(format!("{}::{name}", self.name), move || f(&rt))
    }
}
