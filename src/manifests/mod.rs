//! Reading the manifests: every document of every file is parsed and checked before
//! anything is applied, and applied in dependency order.

pub mod lint;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One document of one manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: PathBuf,
    /// Position of the document in its file, from 0.
    pub index: usize,
    pub object: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "cannot read manifests from {dir}: {source}; pass --manifests DIR with the stack's YAML files"
    )]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir} holds no manifest files (*.yaml, *.yml)")]
    Empty { dir: PathBuf },
    #[error("invalid manifest {file}, document {index}: {problem}; nothing was applied")]
    Invalid {
        file: PathBuf,
        index: usize,
        problem: String,
    },
}

impl Manifest {
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
    /// `Deployment kube-system/heapster`.
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }
    /// `30-heapster.yaml#0`.
    pub fn origin(&self) -> String {
        let file = self
            .file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        format!("{file}#{}", self.index)
    }
    /// Container images of a workload's pod template (or of a Pod).
    pub fn images(&self) -> Vec<String> {
        let spec = if self.kind() == "Pod" {
            &self.object["spec"]
        } else {
            &self.object["spec"]["template"]["spec"]
        };
        ["initContainers", "containers"]
            .iter()
            .flat_map(|f| spec[*f].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["image"].as_str().map(str::to_string))
            .collect()
    }
}

/// Split a YAML stream into documents at `---` lines, keeping empty ones so that the
/// index in an error is the document's real position.
fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else {
            let last = docs.last_mut().expect("never empty");
            last.push_str(line);
            last.push('\n');
        }
    }
    docs
}

fn is_blank(doc: &str) -> bool {
    doc.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// Parse and check one file's documents.
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<Manifest>, ManifestError> {
    let mut out = Vec::new();
    for (index, doc) in split_documents(text).into_iter().enumerate() {
        if is_blank(&doc) {
            continue;
        }
        let invalid = |problem: String| ManifestError::Invalid {
            file: file.to_path_buf(),
            index,
            problem,
        };
        let object: Value =
            serde_saphyr::from_str(&doc).map_err(|e| invalid(format!("not valid YAML: {e}")))?;
        if !object.is_object() {
            return Err(invalid("a Kubernetes object must be a mapping".into()));
        }
        for (field, value) in [
            ("apiVersion", &object["apiVersion"]),
            ("kind", &object["kind"]),
            ("metadata.name", &object["metadata"]["name"]),
        ] {
            if value.as_str().is_none_or(str::is_empty) {
                return Err(invalid(format!("missing {field}")));
            }
        }
        let manifest = Manifest {
            file: file.to_path_buf(),
            index,
            object,
        };
        check_workload(&manifest).map_err(invalid)?;
        out.push(manifest);
    }
    Ok(out)
}

/// Checks the API server would also make, done up front so that a bad file stops the
/// run before anything is applied.
fn check_workload(m: &Manifest) -> Result<(), String> {
    if !matches!(
        m.kind(),
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet"
    ) {
        return Ok(());
    }
    let spec = &m.object["spec"];
    let selector = spec["selector"]["matchLabels"].as_object();
    if m.api_version() == "apps/v1" && selector.is_none_or(|s| s.is_empty()) {
        return Err(format!(
            "{}: apps/v1 requires spec.selector.matchLabels",
            m.describe()
        ));
    }
    let labels = &spec["template"]["metadata"]["labels"];
    if let Some(selector) = selector
        && let Some((k, v)) = selector.iter().find(|(k, v)| &labels[k.as_str()] != *v)
    {
        return Err(format!(
            "{}: selector {k}={v} does not match the pod template's labels",
            m.describe()
        ));
    }
    let containers = spec["template"]["spec"]["containers"].as_array();
    if containers.is_none_or(|c| c.is_empty()) {
        return Err(format!(
            "{}: spec.template.spec.containers is empty",
            m.describe()
        ));
    }
    for c in containers.into_iter().flatten() {
        let image = c["image"].as_str().unwrap_or_default();
        if image.is_empty() {
            return Err(format!(
                "{}: container {} has no image",
                m.describe(),
                c["name"]
            ));
        }
        let tag = image
            .rsplit('/')
            .next()
            .and_then(|last| last.split_once(':'))
            .map(|(_, t)| t);
        if tag.is_none_or(|t| t == "latest") {
            return Err(format!(
                "{}: image {image} must be pinned by tag (not latest)",
                m.describe()
            ));
        }
    }
    Ok(())
}

/// Every document of every `*.yaml`/`*.yml` file directly in `dir`, files in name order.
/// Subdirectories (the kind cluster config) are not read.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let read_err = |source| ManifestError::Read {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ManifestError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(read_err)?;
        all.extend(parse_file(&file, &text)?);
    }
    Ok(all)
}

/// Apply rank of a kind: namespaces, identities and RBAC, config, services, workloads.
fn rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" => 1,
        "ClusterRole" | "Role" => 2,
        "ClusterRoleBinding" | "RoleBinding" => 3,
        "Secret" | "ConfigMap" => 4,
        "Service" => 5,
        "Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet" | "Pod" => 6,
        _ => 7,
    }
}

/// Dependency order; within a rank, file order, so the heapster stack (earlier files)
/// comes before the dashboard and the dashboard's first health check finds heapster.
pub fn apply_order(manifests: &[Manifest]) -> Vec<&Manifest> {
    let mut ordered: Vec<&Manifest> = manifests.iter().collect();
    ordered.sort_by_key(|m| rank(m.kind()));
    ordered
}

/// Every container image the manifests use, once each, in order of appearance.
pub fn images(manifests: &[Manifest]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for image in manifests.iter().flat_map(Manifest::images) {
        if !out.contains(&image) {
            out.push(image);
        }
    }
    out
}

/// The value of a command-line flag (`--name=value`, `-name=value`) given to a container
/// of the Deployment `deployment`, in `command` or `args`.
pub fn container_flag(manifests: &[Manifest], deployment: &str, flag: &str) -> Option<String> {
    manifests
        .iter()
        .filter(|m| m.kind() == "Deployment" && m.name() == deployment)
        .flat_map(|m| {
            m.object["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find_map(|c| flag_of(&c, flag))
}

/// The value of a command-line flag (`--name=value`, `-name=value`) in one container's
/// `command` or `args`.
pub fn flag_of(container: &Value, flag: &str) -> Option<String> {
    ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().into_iter().flatten())
        .find_map(|arg| {
            let arg = arg.as_str()?.trim_start_matches('-');
            Some(arg.strip_prefix(flag)?.strip_prefix('=')?.to_string())
        })
}

/// Whether `image` is `name` from some registry (`k8s.gcr.io/`, `docker.io/`, a mirror).
pub fn runs(image: &str, name: &str) -> bool {
    let repo = repository(image);
    repo == name
        || repo
            .strip_suffix(name)
            .is_some_and(|prefix| prefix.ends_with('/'))
}

/// An image reference without its tag or digest (`host:port/name:tag@sha256:...` ->
/// `host:port/name`).
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

pub fn tag_of(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => "",
    }
}

/// `(namespace, name)` of every Deployment in the manifests.
pub fn deployments(manifests: &[Manifest]) -> Vec<(String, String)> {
    manifests
        .iter()
        .filter(|m| m.kind() == "Deployment")
        .map(|m| {
            (
                m.namespace().unwrap_or("default").to_string(),
                m.name().to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Manifest>, ManifestError> {
        parse_file(Path::new("x.yaml"), text)
    }

    #[test]
    fn documents_keep_their_index() {
        let docs = parse("# lead comment\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n").unwrap();
        let got: Vec<(usize, &str)> = docs.iter().map(|d| (d.index, d.kind())).collect();
        assert_eq!(got, vec![(1, "ServiceAccount"), (3, "Service")]);
    }

    #[test]
    fn invalid_documents_name_file_index_and_problem() {
        let err = parse("apiVersion: v1\nkind: Service\nmetadata: {name: ok}\n---\nkind: Service\nmetadata: {name: b}\n").unwrap_err().to_string();
        assert!(
            err.contains("x.yaml, document 1: missing apiVersion"),
            "{err}"
        );
        let err = parse("apiVersion: v1\nkind: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("document 0: not valid YAML"), "{err}");
    }

    #[test]
    fn workloads_need_selectors_and_pinned_images() {
        let deploy = |selector: &str, image: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  {selector}\n  template:\n    metadata: {{labels: {{app: d}}}}\n    spec: {{containers: [{{name: c, image: \"{image}\"}}]}}\n"
            )
        };
        assert!(parse(&deploy("selector: {matchLabels: {app: d}}", "x/y:v1")).is_ok());
        let err = parse(&deploy("replicas: 1", "x/y:v1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("requires spec.selector"), "{err}");
        let err = parse(&deploy("selector: {matchLabels: {app: other}}", "x/y:v1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
        let err = parse(&deploy("selector: {matchLabels: {app: d}}", "x/y"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pinned by tag"), "{err}");
        let err = parse(&deploy(
            "selector: {matchLabels: {app: d}}",
            "localhost:5000/y",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("pinned by tag"), "{err}");
    }

    #[test]
    fn apply_order_puts_dependencies_first_and_keeps_file_order() {
        let docs = parse("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: heapster}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: 'i:1'}]}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: heapster}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dashboard}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: 'i:1'}]}}}\n").unwrap();
        let order: Vec<String> = apply_order(&docs).iter().map(|m| m.describe()).collect();
        assert_eq!(
            order,
            [
                "ServiceAccount sa",
                "Service heapster",
                "Deployment heapster",
                "Deployment dashboard"
            ]
        );
    }

    #[test]
    fn an_image_is_known_by_its_name_from_any_registry() {
        assert!(runs(
            "k8s.gcr.io/kubernetes-dashboard-amd64:v1.10.1",
            "kubernetes-dashboard-amd64"
        ));
        assert!(runs(
            "kubernetesui/dashboard:v2.7.0",
            "kubernetesui/dashboard"
        ));
        assert!(!runs(
            "example.com/notkubernetesui/dashboard:v2",
            "kubernetesui/dashboard"
        ));
        assert_eq!(
            repository("localhost:5000/x/y:v1@sha256:ab"),
            "localhost:5000/x/y"
        );
        assert_eq!(repository("localhost:5000/x/y"), "localhost:5000/x/y");
        assert_eq!(tag_of("localhost:5000/x/y:v1@sha256:ab"), "v1");
        assert_eq!(tag_of("localhost:5000/x/y"), "");
    }
}
