//! Fake `kind` and `docker`: one in-process world holding a docker image store, a
//! registry to pull from and the simulated clusters kind created. The executables on
//! PATH are thin shims (see `shim`) that forward their arguments here. Output and exit
//! codes follow the real CLIs for the cases the harness meets.

mod docker;
mod kind;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::images::{normalize, split_tag};
use crate::scenario::Scenario;
use crate::server::ClusterHandle;

pub const DAEMON_DOWN: &str = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";

#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub daemon_running: bool,
    /// Images a `docker pull` can fetch: `repo:tag`, each with its digest if known.
    pub registry: Vec<(String, Option<String>)>,
    /// Images already in the local docker image store.
    pub local_images: Vec<String>,
    pub kind_version: String,
    /// Scenario of every cluster `kind create cluster` starts.
    pub scenario: Scenario,
    /// Overrides the scenario's timing (benchmarks use zero delays).
    pub timing: Option<crate::scenario::Timing>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            daemon_running: true,
            registry: Vec::new(),
            local_images: Vec::new(),
            kind_version: "v0.33.0".into(),
            scenario: Scenario::Healthy,
            timing: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    pub tool: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: HashMap<String, String>,
    /// The caller's working directory: relative paths in arguments are relative to it.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

impl Invocation {
    fn path(&self, p: &str) -> PathBuf {
        match &self.cwd {
            Some(cwd) => cwd.join(p),
            None => PathBuf::from(p),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn ok(stdout: impl Into<String>) -> Output {
        Output {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }
    fn err(code: i32, stderr: impl Into<String>) -> Output {
        Output {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }
}

struct WorldState {
    /// Local image store: reference -> image id.
    local: BTreeMap<String, String>,
    clusters: BTreeMap<String, ClusterHandle>,
    calls: Vec<Vec<String>>,
}

pub struct World {
    config: WorldConfig,
    state: Mutex<WorldState>,
    called: tokio::sync::Notify,
}

fn image_id(reference: &str) -> String {
    let (repo, _) = split_tag(reference.split('@').next().unwrap_or(reference));
    format!("sha256:{:016x}{:048x}", crate::name_hash(&repo), 0)
}

impl World {
    pub fn new(config: WorldConfig) -> Arc<World> {
        let local = config
            .local_images
            .iter()
            .map(|i| (normalize(i), image_id(i)))
            .collect();
        Arc::new(World {
            config,
            state: Mutex::new(WorldState {
                local,
                clusters: BTreeMap::new(),
                calls: Vec::new(),
            }),
            called: tokio::sync::Notify::new(),
        })
    }

    /// Every invocation so far, tool name first.
    pub async fn calls(&self) -> Vec<Vec<String>> {
        self.state.lock().await.calls.clone()
    }

    /// Wait until an invocation starting with `prefix` (e.g. `kind load`) has been made.
    pub async fn wait_for_call(&self, prefix: &str) {
        loop {
            let notified = self.called.notified();
            if self
                .state
                .lock()
                .await
                .calls
                .iter()
                .any(|c| c.join(" ").starts_with(prefix))
            {
                return;
            }
            notified.await;
        }
    }

    /// Wait until kind has created cluster `name` and it has answered a request starting
    /// with `prefix` (e.g. the checks' first look at heapster).
    pub async fn wait_for_cluster_request(&self, name: &str, prefix: &str) {
        let cluster = loop {
            let called = self.called.notified();
            if let Some(c) = self
                .state
                .lock()
                .await
                .clusters
                .get(name)
                .map(|h| h.cluster.clone())
            {
                break c;
            }
            called.await;
        };
        crate::server::wait_for_request(&cluster, prefix).await
    }

    pub async fn cluster_names(&self) -> Vec<String> {
        self.state.lock().await.clusters.keys().cloned().collect()
    }

    pub async fn local_images(&self) -> BTreeSet<String> {
        self.state.lock().await.local.keys().cloned().collect()
    }

    /// Run `f` on a cluster the world holds.
    pub async fn with_cluster<R>(
        &self,
        name: &str,
        f: impl FnOnce(&ClusterHandle) -> R,
    ) -> Option<R> {
        self.state.lock().await.clusters.get(name).map(f)
    }

    /// Serve shim requests on 127.0.0.1; the address goes into `KIND_SIM_CONTROL`.
    pub async fn serve(self: &Arc<Self>) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let world = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Some(world) = world.upgrade() else { break };
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    if BufReader::new(read).read_line(&mut line).await.is_err() {
                        return;
                    }
                    let output = match serde_json::from_str::<Invocation>(&line) {
                        Ok(inv) => world.run(inv).await,
                        Err(e) => Output::err(2, format!("fake tool: bad request: {e}\n")),
                    };
                    let mut text = serde_json::to_string(&output).unwrap_or_default();
                    text.push('\n');
                    let _ = write.write_all(text.as_bytes()).await;
                });
            }
        });
        Ok(addr)
    }

    pub async fn run(&self, inv: Invocation) -> Output {
        let mut record = vec![inv.tool.clone()];
        record.extend(inv.args.iter().cloned());
        self.state.lock().await.calls.push(record);
        self.called.notify_waiters();
        match inv.tool.as_str() {
            "kind" => self.kind(&inv).await,
            "docker" => self.docker(&inv).await,
            other => Output::err(127, format!("{other}: not a simulated tool\n")),
        }
    }
}
