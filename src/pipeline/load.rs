//! Ground truth: pods that burn a known amount of CPU and memory (Kubernetes' e2e
//! resource-consumer image, run as metrics-server's own e2e runs it: `consume-cpu` and
//! `stress` as the container's command, MS@v0.9.0 `test/e2e_test.go`), so the checks can
//! compare what the stack reports with what was asked for. They live in a namespace of
//! their own, unique per run, deleted at the end.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use crate::cancel::Cancel;
use crate::kubeclient::retry;
use crate::manifests::Manifest;
use crate::versions::LOAD_IMAGE;

pub const CPU: &str = "load-cpu";
pub const MEMORY: &str = "load-memory";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadConfig {
    pub cpu_millicores: i64,
    pub memory_mib: i64,
    /// Accepted relative difference between target and measurement (0.2 = ±20 %), for
    /// CPU and for memory.
    pub cpu_tolerance: f64,
    pub memory_tolerance: f64,
    /// How long the load runs (it outlives the checks; the namespace is deleted anyway).
    pub duration: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            cpu_millicores: 100,
            memory_mib: 64,
            // As tight as metrics-server's e2e: 50m within 10m, 50 MiB within 5 MiB.
            cpu_tolerance: 0.2,
            memory_tolerance: 0.1,
            duration: Duration::from_secs(1800),
        }
    }
}

impl LoadConfig {
    /// The target for `cpu` (millicores) or `memory` (bytes).
    pub fn target(&self, what: &str) -> i64 {
        if what == "cpu" {
            self.cpu_millicores
        } else {
            self.memory_mib << 20
        }
    }

    /// The tolerance for `cpu` or `memory`.
    pub fn tolerance(&self, what: &str) -> f64 {
        if what == "cpu" {
            self.cpu_tolerance
        } else {
            self.memory_tolerance
        }
    }
}

/// The load pods found and started: what the ground-truth checks compare with.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub namespace: String,
    pub cpu_pod: String,
    pub memory_pod: String,
    pub config: LoadConfig,
}

impl Load {
    /// The pod that carries the `cpu` or the `memory` load.
    pub fn pod(&self, what: &str) -> &str {
        if what == "cpu" {
            &self.cpu_pod
        } else {
            &self.memory_pod
        }
    }
}

/// A namespace name unique to this run.
pub fn namespace_for_run() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "heapster-e2e-load-{:x}{:04x}",
        std::process::id(),
        nanos & 0xffff
    )
}

/// The objects: a namespace, a CPU burner (`consume-cpu`) and a memory holder (`stress`
/// with one worker), each the container's command as in metrics-server's e2e: no HTTP
/// server whose own memory would blur the reading.
pub fn objects(namespace: &str, config: &LoadConfig) -> Vec<Manifest> {
    let image = LOAD_IMAGE.reference();
    let deployment = |name: &str, container: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"automountServiceAccountToken": false, "containers": [container]}}},
        })
    };
    let seconds = config.duration.as_secs().to_string();
    let cpu = deployment(
        CPU,
        json!({"name": "consumer", "image": image, "imagePullPolicy": "IfNotPresent",
               "command": ["/consume-cpu/consume-cpu", format!("--millicores={}", config.cpu_millicores), format!("--duration-sec={seconds}")]}),
    );
    // stress reads `M` as MiB (powers of 1024).
    let memory = deployment(
        MEMORY,
        json!({"name": "consumer", "image": image, "imagePullPolicy": "IfNotPresent",
               "command": ["stress"],
               "args": ["-m", "1", "--vm-bytes", format!("{}M", config.memory_mib), "--vm-hang", "0", "-t", seconds]}),
    );
    let docs = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "heapster-e2e"}}}),
        cpu,
        memory,
    ];
    docs.into_iter()
        .enumerate()
        .map(|(index, object)| Manifest {
            file: "load".into(),
            index,
            object,
        })
        .collect()
}

/// Create the load and wait for its pods; the caller must `stop` it, whatever happens.
pub async fn start(
    client: &Client,
    namespace: &str,
    config: &LoadConfig,
    timeout: Duration,
    cancel: &Cancel,
) -> anyhow::Result<Load> {
    let docs = objects(namespace, config);
    crate::pipeline::apply::apply(client, &docs, |_| {})
        .await
        .context("cannot create the load pods")?;
    let wanted = vec![
        (namespace.to_string(), CPU.to_string()),
        (namespace.to_string(), MEMORY.to_string()),
    ];
    crate::pipeline::rollout::wait(client, &wanted, timeout, cancel)
        .await
        .map_err(|e| anyhow::anyhow!("the load pods did not start: {e}"))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default();
    let list = retry(|| pods.list(&lp)).await?.items;
    let named = |app: &str| {
        list.iter()
            .find(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .is_some_and(|a| a == app)
            })
            .and_then(|p| p.metadata.name.clone())
            .with_context(|| format!("no {app} pod in {namespace}"))
    };
    let (cpu_pod, memory_pod) = (named(CPU)?, named(MEMORY)?);
    Ok(Load {
        namespace: namespace.to_string(),
        cpu_pod,
        memory_pod,
        config: *config,
    })
}

/// Delete the load's namespace (and with it everything in it).
pub async fn stop(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let params = DeleteParams::default();
    match retry(|| api.delete(namespace, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete the load namespace {namespace}: delete it with `kubectl delete namespace {namespace}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_objects_are_valid_and_pinned() {
        let docs = objects("heapster-e2e-load-1", &LoadConfig::default());
        let kinds: Vec<&str> = docs.iter().map(|d| d.kind()).collect();
        assert_eq!(kinds, ["Namespace", "Deployment", "Deployment"]);
        let cpu = &docs[1].object["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            cpu["image"],
            "registry.k8s.io/e2e-test-images/resource-consumer:1.9"
        );
        assert!(
            cpu["command"].to_string().contains("--millicores=100"),
            "{cpu}"
        );
        let memory = &docs[2].object["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(memory["command"], json!(["stress"]));
        assert!(
            memory["args"].to_string().contains(r#""--vm-bytes","64M""#),
            "{memory}"
        );
        for d in &docs {
            let text = serde_json::to_string(&d.object).unwrap();
            assert!(
                crate::manifests::parse_file(std::path::Path::new("load.yaml"), &text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn namespaces_differ_per_run() {
        assert!(namespace_for_run().starts_with("heapster-e2e-load-"));
    }
}
