//! The kind cluster: create, read back its kubeconfig, list nodes, export logs, delete.

use std::path::{Path, PathBuf};

use anyhow::Context;
use xshell::cmd;

use crate::pipeline::tools::Exec;

/// `kubectl --context kind-NAME`: the context kind merges into the user's kubeconfig.
pub fn context(name: &str) -> String {
    format!("kind-{name}")
}

pub fn create(exec: &Exec, name: &str, config: &Path, node_image: &str) -> anyhow::Result<()> {
    let sh = exec.sh;
    let config = sh.current_dir().join(config);
    exec.run(cmd!(
        sh,
        "kind create cluster --name {name} --config {config} --image {node_image} --wait 120s"
    ))
    .context("kind could not create the cluster")
}

pub fn delete(exec: &Exec, name: &str) -> anyhow::Result<()> {
    let sh = exec.sh;
    exec.run(cmd!(sh, "kind delete cluster --name {name}"))
}

pub fn nodes(exec: &Exec, name: &str) -> anyhow::Result<Vec<String>> {
    let sh = exec.sh;
    Ok(exec
        .capture(cmd!(sh, "kind get nodes --name {name}"))?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Write the cluster's kubeconfig (from `kind get kubeconfig`) to `path`, mode 0600.
pub fn write_kubeconfig(exec: &Exec, name: &str, path: &Path) -> anyhow::Result<PathBuf> {
    let sh = exec.sh;
    let text = exec.capture(cmd!(sh, "kind get kubeconfig --name {name}"))?;
    if !exec.dry_run {
        write_private(path, &text)?;
    }
    Ok(path.to_path_buf())
}

/// Write a file only its owner can read (kubeconfigs carry credentials).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

pub fn export_logs(exec: &Exec, name: &str, dir: &Path) -> anyhow::Result<()> {
    let sh = exec.sh;
    let dir = sh.current_dir().join(dir);
    exec.run(cmd!(sh, "kind export logs {dir} --name {name}"))
}

/// Node count of a kind cluster config (`nodes:` entries; one when absent).
pub fn node_count(config: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read the kind config {}", config.display()))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text)
        .with_context(|| format!("{} is not valid YAML", config.display()))?;
    if doc["kind"] != "Cluster" {
        anyhow::bail!(
            "{} is not a kind cluster config (kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4)",
            config.display()
        );
    }
    Ok(doc["nodes"].as_array().map_or(1, |n| n.len().max(1)))
}
