//! The fake `kind`: create (simulated clusters named and validated as kind does), delete,
//! get, load and export logs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{DAEMON_DOWN, Invocation, Output, World, image_id};
use crate::cluster::{SimConfig, kind_node_names};
use crate::images::normalize;
use crate::scenario::Scenario;
use crate::server::ClusterHandle;

impl World {
    pub(super) async fn kind(&self, inv: &Invocation) -> Output {
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
        // kind v0.32's pkg/internal/apis/config/validate.go (validNameRE), checked after
        // "already exists" as kind's create.go does.
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_name && !st.clusters.contains_key(name) {
            return Output::err(
                1,
                format!(
                    "ERROR: failed to create cluster: '{name}' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`\n"
                ),
            );
        }
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
