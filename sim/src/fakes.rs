//! Fake `kind` and `docker`: one in-process world holding a docker image store, a
//! registry to pull from and the simulated clusters kind created. The executables on
//! PATH are thin shims (see `shim`) that forward their arguments here. Output and exit
//! codes follow the real CLIs for the cases the harness meets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::cluster::{SimConfig, kind_node_names};
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

    // -----------------------------------------------------------------------
    // docker
    // -----------------------------------------------------------------------

    async fn docker(&self, inv: &Invocation) -> Output {
        let args = &inv.args;
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        if words.first() == Some(&"--version") {
            return Output::ok("Docker version 28.2.2, build e6534b4\n");
        }
        if !self.config.daemon_running {
            if let ["version", ..] = words.as_slice() {
                return Output {
                    code: 1,
                    stdout: "Client:\n Version: 28.2.2\n".into(),
                    stderr: format!("{DAEMON_DOWN}\n"),
                };
            }
            return Output::err(1, format!("{DAEMON_DOWN}\n"));
        }
        let mut st = self.state.lock().await;
        match words.as_slice() {
            ["info", ..] => Output::ok(if words.contains(&"--format") {
                "28.2.2\n".to_string()
            } else {
                "Server Version: 28.2.2\nArchitecture: x86_64\n".into()
            }),
            ["version", ..] => Output::ok("28.2.2\n"),
            ["image", "inspect", rest @ ..] | ["inspect", rest @ ..] => {
                let refs: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|a| !a.starts_with("--") && !a.contains("{{"))
                    .collect();
                let mut out = Vec::new();
                for r in &refs {
                    match st.local.get(&normalize(r)) {
                        Some(id) => out.push(serde_json::json!({"Id": id, "RepoTags": [r]})),
                        None => {
                            return Output {
                                code: 1,
                                stdout: "[]\n".into(),
                                stderr: format!("Error response from daemon: No such image: {r}\n"),
                            };
                        }
                    }
                }
                if words.iter().any(|w| w.contains("{{.Id}}")) {
                    Output::ok(
                        out.iter()
                            .map(|o| format!("{}\n", o["Id"].as_str().unwrap_or_default()))
                            .collect::<String>(),
                    )
                } else {
                    Output::ok(format!("{}\n", Value::Array(out)))
                }
            }
            ["pull", reference] | ["pull", "--quiet", reference] | ["pull", "-q", reference] => {
                let wanted = normalize(reference);
                let found = self.config.registry.iter().any(|(repo_tag, digest)| {
                    let n = normalize(repo_tag);
                    n == wanted
                        || digest
                            .as_ref()
                            .is_some_and(|d| format!("{}@{d}", split_tag(&n).0) == wanted)
                });
                if !found {
                    let (repo, tag) = split_tag(reference.split('@').next().unwrap_or(reference));
                    return Output::err(
                        1,
                        format!(
                            "Error response from daemon: manifest for {repo}:{tag} not found: manifest unknown: manifest unknown\n"
                        ),
                    );
                }
                st.local.insert(wanted.clone(), image_id(&wanted));
                Output::ok(format!(
                    "{}: Pulling from {}\nStatus: Downloaded newer image for {reference}\n{wanted}\n",
                    split_tag(reference).1,
                    split_tag(reference).0
                ))
            }
            ["tag", src, dst] => match st.local.get(&normalize(src)).cloned() {
                Some(id) => {
                    st.local.insert(normalize(dst), id);
                    Output::ok("")
                }
                None => Output::err(
                    1,
                    format!("Error response from daemon: No such image: {src}\n"),
                ),
            },
            ["rmi", refs @ ..] | ["image", "rm", refs @ ..] => {
                let mut out = String::new();
                for r in refs.iter().filter(|r| !r.starts_with('-')) {
                    if st.local.remove(&normalize(r)).is_none() {
                        return Output::err(
                            1,
                            format!("Error response from daemon: No such image: {r}\n"),
                        );
                    }
                    out.push_str(&format!("Untagged: {r}\n"));
                }
                Output::ok(out)
            }
            ["save", "-o", file, refs @ ..] | ["save", "--output", file, refs @ ..] => {
                for r in refs.iter() {
                    if !st.local.contains_key(&normalize(r)) {
                        return Output::err(
                            1,
                            format!("Error response from daemon: reference does not exist: {r}\n"),
                        );
                    }
                }
                match std::fs::write(inv.path(file), refs.join("\n")) {
                    Ok(()) => Output::ok(""),
                    Err(e) => Output::err(1, format!("open {file}: {e}\n")),
                }
            }
            ["exec", node, "crictl", "images", ..] => {
                let images = st.clusters.values().find_map(|c| c.images_on(node));
                match images {
                    Some(images) => {
                        let mut out = String::from(
                            "IMAGE                                      TAG                  IMAGE ID            SIZE\n",
                        );
                        for image in images {
                            let (repo, tag) = split_tag(&image);
                            out.push_str(&format!(
                                "{repo:<42} {tag:<20} {:<19} 42.1MB\n",
                                &image_id(&image)[7..20]
                            ));
                        }
                        Output::ok(out)
                    }
                    None => Output::err(
                        1,
                        format!("Error response from daemon: No such container: {node}\n"),
                    ),
                }
            }
            _ => Output::err(
                1,
                format!(
                    "docker: '{}' is not a docker command the simulation knows.\n",
                    words.join(" ")
                ),
            ),
        }
    }

    // -----------------------------------------------------------------------
    // kind
    // -----------------------------------------------------------------------

    async fn kind(&self, inv: &Invocation) -> Output {
        let args = &inv.args;
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
                .or_else(|| {
                    let prefix = format!("{name}=");
                    args.iter()
                        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
                })
        };
        let name = flag("--name").unwrap_or_else(|| "kind".into());
        let positional: Vec<&str> = {
            let mut out = Vec::new();
            let mut skip = false;
            for a in args {
                if skip {
                    skip = false;
                    continue;
                }
                if a.starts_with("--") {
                    skip = !a.contains('=') && a != "--retain" && a != "--quiet";
                    continue;
                }
                out.push(a.as_str());
            }
            out
        };
        let docker_down = || {
            Output::err(
                1,
                format!(
                    "ERROR: failed to list clusters: command \"docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{{{.Label \"io.x-k8s.kind.cluster\"}}}}'\" failed with error: exit status 1\nCommand Output: {DAEMON_DOWN}\n"
                ),
            )
        };
        match positional.as_slice() {
            ["version"] => Output::ok(format!(
                "kind {} go1.25.4 linux/amd64\n",
                self.config.kind_version
            )),
            _ if !self.config.daemon_running => docker_down(),
            ["create", "cluster"] => {
                self.kind_create(
                    &name,
                    flag("--config").map(|c| inv.path(&c).display().to_string()),
                    flag("--image"),
                    flag("--kubeconfig").map(|c| inv.path(&c).display().to_string()),
                    &inv.env,
                )
                .await
            }
            ["delete", "cluster"] => {
                let mut st = self.state.lock().await;
                if let Some(handle) = st.clusters.remove(&name) {
                    handle.shutdown();
                }
                let path = kubeconfig_path(
                    flag("--kubeconfig").map(|c| inv.path(&c).display().to_string()),
                    &inv.env,
                );
                if let Some(cfg) = crate::kubeconfig::read(&path) {
                    let _ = crate::kubeconfig::write(&path, &crate::kubeconfig::remove(cfg, &name));
                }
                Output {
                    code: 0,
                    stdout: String::new(),
                    stderr: format!("Deleting cluster \"{name}\" ...\n"),
                }
            }
            ["get", "clusters"] => {
                let st = self.state.lock().await;
                if st.clusters.is_empty() {
                    Output {
                        code: 0,
                        stdout: String::new(),
                        stderr: "No kind clusters found.\n".into(),
                    }
                } else {
                    Output::ok(
                        st.clusters
                            .keys()
                            .map(|k| format!("{k}\n"))
                            .collect::<String>(),
                    )
                }
            }
            ["get", "nodes"] => match self.state.lock().await.clusters.get(&name) {
                Some(c) => Output::ok(
                    c.cluster
                        .config
                        .nodes
                        .iter()
                        .map(|n| format!("{}\n", n.name))
                        .collect::<String>(),
                ),
                None => Output {
                    code: 0,
                    stdout: String::new(),
                    stderr: format!("No kind nodes found for cluster \"{name}\".\n"),
                },
            },
            ["get", "kubeconfig"] => match self.state.lock().await.clusters.get(&name) {
                Some(c) => Output::ok(format!(
                    "{}\n",
                    serde_json::to_string_pretty(&c.kubeconfig()).unwrap_or_default()
                )),
                None => Output::err(
                    1,
                    format!(
                        "ERROR: could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster\n"
                    ),
                ),
            },
            ["load", "docker-image", images @ ..] => {
                let st = self.state.lock().await;
                let Some(cluster) = st.clusters.get(&name) else {
                    return Output::err(
                        1,
                        format!("ERROR: no nodes found for cluster \"{name}\"\n"),
                    );
                };
                for image in images.iter() {
                    if !st.local.contains_key(&normalize(image)) {
                        return Output::err(
                            1,
                            format!("ERROR: image: \"{image}\" not present locally\n"),
                        );
                    }
                }
                let nodes: Vec<String> = flag("--nodes")
                    .map(|n| n.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                let images: Vec<String> = images.iter().map(|s| s.to_string()).collect();
                // kind `load/docker-image/docker-image.go`: per image, the nodes still missing it.
                let mut err = String::new();
                for image in &images {
                    let mut missing = 0;
                    for node in cluster
                        .cluster
                        .config
                        .nodes
                        .iter()
                        .filter(|n| nodes.is_empty() || nodes.contains(&n.name))
                    {
                        if cluster
                            .images_on(&node.name)
                            .is_some_and(|i| i.contains(&normalize(image)))
                        {
                            continue;
                        }
                        missing += 1;
                        err.push_str(&format!("Image: \"{image}\" with ID \"{}\" not yet present on node \"{}\", loading...\n", image_id(image), node.name));
                    }
                    if missing == 0 {
                        err.push_str(&format!("Image: \"{image}\" with ID \"{}\" found to be already present on all nodes.\n", image_id(image)));
                    }
                }
                cluster.load_images(&images, &nodes);
                Output {
                    code: 0,
                    stdout: String::new(),
                    stderr: err,
                }
            }
            ["export", "logs", dir] => {
                let st = self.state.lock().await;
                let Some(cluster) = st.clusters.get(&name) else {
                    return Output::err(1, format!("ERROR: unknown cluster \"{name}\"\n"));
                };
                match export_logs(cluster, &inv.path(dir)) {
                    // The directory goes to stdout, for calling tools (kind `export/logs/logs.go`).
                    Ok(()) => Output {
                        code: 0,
                        stdout: format!("{dir}\n"),
                        stderr: format!("Exporting logs for cluster \"{name}\" to:\n"),
                    },
                    Err(e) => Output::err(1, format!("ERROR: {e}\n")),
                }
            }
            _ => Output::err(
                1,
                format!(
                    "ERROR: unknown command {:?} for \"kind\"\n",
                    positional.join(" ")
                ),
            ),
        }
    }

    async fn kind_create(
        &self,
        name: &str,
        config: Option<String>,
        image: Option<String>,
        kubeconfig: Option<String>,
        env: &HashMap<String, String>,
    ) -> Output {
        let mut st = self.state.lock().await;
        if st.clusters.contains_key(name) {
            return Output::err(
                1,
                format!(
                    "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"\n"
                ),
            );
        }
        let roles: Vec<String> = match config.as_deref().map(read_kind_config) {
            None => vec!["control-plane".into()],
            Some(Ok(roles)) => roles,
            Some(Err(e)) => {
                return Output::err(1, format!("ERROR: failed to create cluster: {e}\n"));
            }
        };
        let mut sim = SimConfig::scenario(name, self.config.scenario);
        let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
        if self.config.scenario != Scenario::ZeroNodes {
            sim.nodes = kind_node_names(name, &role_refs);
        }
        if let Some(image) = image.clone() {
            sim.node_image = image;
        }
        if let Some(timing) = self.config.timing.clone() {
            sim.timing = timing;
        }
        let node_image = sim.node_image.clone();
        let handle = match crate::server::start(sim).await {
            Ok(h) => h,
            Err(e) => return Output::err(1, format!("ERROR: failed to create cluster: {e}\n")),
        };
        let path = kubeconfig_path(kubeconfig, env);
        let merged = crate::kubeconfig::merge(crate::kubeconfig::read(&path), &handle.kubeconfig());
        if let Err(e) = crate::kubeconfig::write(&path, &merged) {
            return Output::err(
                1,
                format!("ERROR: failed to create cluster: failed to lock config file: {e}\n"),
            );
        }
        st.clusters.insert(name.to_string(), handle);
        let stderr = format!(
            "Creating cluster \"{name}\" ...\n ✓ Ensuring node image ({node_image})\n ✓ Preparing nodes\n ✓ Writing configuration\n ✓ Starting control-plane\n ✓ Installing CNI\n ✓ Installing StorageClass\n ✓ Joining worker nodes\nSet kubectl context to \"kind-{name}\"\nYou can now use your cluster with:\n\nkubectl cluster-info --context kind-{name}\n"
        );
        Output {
            code: 0,
            stdout: String::new(),
            stderr,
        }
    }
}

/// Where kind writes the kubeconfig: `--kubeconfig`, else the first `KUBECONFIG` entry,
/// else `$HOME/.kube/config`.
fn kubeconfig_path(flag: Option<String>, env: &HashMap<String, String>) -> PathBuf {
    if let Some(p) = flag {
        return PathBuf::from(p);
    }
    if let Some(first) = env
        .get("KUBECONFIG")
        .and_then(|k| k.split(':').find(|p| !p.is_empty()))
    {
        return PathBuf::from(first);
    }
    PathBuf::from(env.get("HOME").cloned().unwrap_or_else(|| "/root".into())).join(".kube/config")
}

/// The node roles of a kind cluster config (`kind.x-k8s.io/v1alpha4`, `kind: Cluster`).
pub fn read_kind_config(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("error reading file: open {path}: {e}"))?;
    let doc: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("unable to decode config: {e}"))?;
    if doc["kind"] != "Cluster"
        || !doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("kind.x-k8s.io/"))
    {
        return Err(format!(
            "unknown apiVersion/kind in {path}: {}/{}",
            doc["apiVersion"], doc["kind"]
        ));
    }
    let roles: Vec<String> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["role"].as_str().unwrap_or("control-plane").to_string())
        .collect();
    Ok(if roles.is_empty() {
        vec!["control-plane".into()]
    } else {
        roles
    })
}

fn export_logs(cluster: &ClusterHandle, dir: &Path) -> std::io::Result<()> {
    let st = cluster.cluster.lock();
    for node in &cluster.cluster.config.nodes {
        let node_dir = dir.join(&node.name);
        std::fs::create_dir_all(node_dir.join("containers"))?;
        let images = st.node_images.get(&node.name).cloned().unwrap_or_default();
        std::fs::write(
            node_dir.join("images.log"),
            images.into_iter().collect::<Vec<_>>().join("\n"),
        )?;
        let mut kubelet = String::new();
        for pod in st
            .store
            .list("/pods", None)
            .iter()
            .filter(|p| p["spec"]["nodeName"] == node.name.as_str())
        {
            kubelet.push_str(&format!(
                "pod {}/{} phase={}\n",
                pod["metadata"]["namespace"].as_str().unwrap_or_default(),
                pod["metadata"]["name"].as_str().unwrap_or_default(),
                pod["status"]["phase"].as_str().unwrap_or_default()
            ));
        }
        std::fs::write(node_dir.join("kubelet.log"), kubelet)?;
    }
    for ((ns, pod, container), log) in &st.logs {
        std::fs::write(
            dir.join(format!("{ns}_{pod}_{container}.log")),
            log.current.join("\n"),
        )?;
    }
    Ok(())
}
