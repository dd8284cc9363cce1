//! The `cargo xtask` binary itself, as users and CI run it: through fake `kind`/`docker`
//! (the binary doubles as them when linked under those names) and simulated clusters.
//! One file per concern: interrupts and closed pipes, `check`, bad input, and reports.

mod check;
mod input;
mod interrupts;
mod manifests;
mod reports;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kind_sim::{Scenario, SimConfig, World, WorldConfig};

/// The xtask binary, run from the workspace, with a target directory of its own: what a
/// run keeps (kubeconfigs, evidence) goes there, not into the user's `target/e2e/`, and is
/// removed with the command.
pub struct Xtask {
    cmd: Command,
    _target: tempfile::TempDir,
}

impl std::ops::Deref for Xtask {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl std::ops::DerefMut for Xtask {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

impl Xtask {
    /// The target directory this command's runs keep their files in.
    pub fn target(&self) -> &Path {
        self._target.path()
    }
}

/// The workspace's root, where `cargo xtask` runs from.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A scratch folder of the test's own, removed when dropped: in memory where the machine
/// allows (`kind_sim::scratch_root`).
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(kind_sim::scratch_root()).expect("a scratch folder")
}

pub fn xtask() -> Xtask {
    let target = scratch();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(workspace());
    cmd.env("CARGO_TARGET_DIR", target.path());
    // The run's own temporary folders beside it.
    cmd.env("TMPDIR", kind_sim::scratch_root());
    Xtask {
        cmd,
        _target: target,
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Send SIGINT, as Ctrl-C does, and collect what the process printed.
pub fn ctrl_c(child: std::process::Child) -> Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("xtask exits")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stack_images() -> Vec<String> {
    heapster_e2e::versions::STACK_IMAGES
        .iter()
        .map(|i| i.reference())
        .collect()
}

/// What the fake registry serves: both stacks and the load image.
pub fn registry() -> Vec<(String, Option<String>)> {
    heapster_e2e::versions::all_stack_images()
        .map(|i| i.reference())
        .chain([heapster_e2e::versions::LOAD_IMAGE.reference()])
        .map(|i| (i, None))
        .collect()
}

/// A simulated cluster and a kubeconfig file for it.
pub fn sim(
    rt: &tokio::runtime::Runtime,
    scenario: Scenario,
    with_stack: bool,
) -> (kind_sim::ClusterHandle, tempfile::TempDir, PathBuf) {
    let stack = if with_stack {
        Stack::Ready
    } else {
        Stack::Absent
    };
    sim_with(rt, SimConfig::scenario("sim", scenario), stack)
}

/// How far the stack is on a simulated cluster when the test starts.
#[derive(PartialEq)]
pub enum Stack {
    Absent,
    /// Applied a moment ago: pods still starting.
    Applied,
    Ready,
}

/// A simulated cluster of `config` with its images preloaded, and a kubeconfig for it.
pub fn sim_with(
    rt: &tokio::runtime::Runtime,
    mut config: SimConfig,
    stack: Stack,
) -> (kind_sim::ClusterHandle, tempfile::TempDir, PathBuf) {
    config.preloaded_images.extend(stack_images());
    config
        .preloaded_images
        .push(heapster_e2e::versions::LOAD_IMAGE.reference());
    let handle = rt.block_on(kind_sim::start(config)).expect("sim");
    let dir = crate::scratch();
    let kubeconfig = dir.path().join("kubeconfig");
    handle.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    if stack != Stack::Absent {
        let client = rt
            .block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))
            .expect("client");
        let docs = heapster_e2e::manifests::load_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests"),
        )
        .expect("manifests");
        rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))
            .expect("apply");
        if stack == Stack::Ready {
            let wanted = heapster_e2e::manifests::deployments(&docs);
            rt.block_on(heapster_e2e::pipeline::rollout::wait(
                &client,
                &wanted,
                Duration::from_secs(60),
                &heapster_e2e::cancel::Cancel::new(),
            ))
            .expect("rollout");
        }
    }
    (handle, dir, kubeconfig)
}

/// `xtask check --kubeconfig KUBECONFIG ARGS...`.
pub fn check_cmd(kubeconfig: &Path, args: &[&str]) -> Xtask {
    let mut cmd = xtask();
    cmd.arg("check")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args);
    cmd
}

/// `xtask check` with a 20 s deadline, run to its end.
pub fn check(kubeconfig: &Path, extra: &[&str]) -> Output {
    check_cmd(kubeconfig, &["--timeout", "20s"])
        .args(extra)
        .output()
        .expect("xtask runs")
}

/// Run `xtask e2e` through fake kind/docker whose clusters behave as `scenario`.
pub fn e2e_through_fakes(
    name: &str,
    scenario: Scenario,
    timeout: &str,
    envs: &[(&str, &Path)],
) -> (Output, tempfile::TempDir) {
    e2e_with(name, scenario, &["--timeout", timeout], envs)
}

/// A fake world (kind, docker, a registry) whose clusters behave as `scenario`, its
/// folder, and `xtask e2e --name NAME --artifacts DIR/artifacts --junit DIR/junit.xml`
/// set to use it. The world lives on the caller's runtime, which must outlive the child.
pub struct Fakes {
    pub world: std::sync::Arc<World>,
    pub dir: tempfile::TempDir,
    pub e2e: Xtask,
}

pub fn fakes(rt: &tokio::runtime::Runtime, scenario: Scenario, name: &str) -> Fakes {
    let world = World::new(WorldConfig {
        registry: registry(),
        scenario,
        ..Default::default()
    });
    let control = rt.block_on(world.serve()).expect("control");
    let dir = crate::scratch();
    let bin = kind_sim::shim::install(
        &dir.path().join("bin"),
        Path::new(env!("CARGO_BIN_EXE_xtask")),
        kind_sim::shim::TOOLS,
    )
    .expect("fakes");
    let mut e2e = xtask();
    e2e.args(["e2e", "--name", name, "--artifacts"])
        .arg(dir.path().join("artifacts"))
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .env("PATH", &bin)
        .env(kind_sim::shim::CONTROL_ENV, control.to_string())
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("kubeconfig"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    Fakes { world, dir, e2e }
}

/// Run `xtask e2e ... ARGS` through fakes whose clusters behave as `scenario`.
pub fn e2e_with(
    name: &str,
    scenario: Scenario,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> (Output, tempfile::TempDir) {
    let rt = rt();
    let mut f = fakes(&rt, scenario, name);
    f.e2e.args(args);
    for (k, v) in envs {
        f.e2e.env(k, v);
    }
    let out = f.e2e.output().expect("xtask runs");
    drop(rt);
    (out, f.dir)
}

/// Whether `what` happens within `secs` seconds.
pub fn within(
    rt: &tokio::runtime::Runtime,
    secs: u64,
    what: impl std::future::Future<Output = ()>,
) -> bool {
    // The timer must be made inside the runtime.
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(secs), what).await })
        .is_ok()
}

/// Start a command with its output captured, to be interrupted.
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts")
}
