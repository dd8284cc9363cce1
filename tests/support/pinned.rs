//! Every pinned version lives in `src/versions.rs`; the manifests and the CI workflow are
//! checked against it here, and the manifests against every supported Kubernetes version.

use libtest_mimic::Trial;
use serde_json::Value;

use heapster_e2e::manifests::lint;
use heapster_e2e::{manifests, versions};

use heapster_e2e::stack::Stack;

use super::{TestResult, root};
use crate::ensure;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "pinned::manifest_images_match_the_version_table",
            manifest_images,
        ),
        Trial::test(
            "pinned::workflow_matrix_matches_the_version_table",
            workflow_matrix,
        ),
        Trial::test(
            "pinned::workflow_actions_pinned_by_commit",
            workflow_actions,
        ),
        Trial::test(
            "pinned::manifests_use_no_removed_api_in_any_supported_version",
            no_removed_apis,
        ),
        Trial::test(
            "pinned::kind_config_has_one_control_plane_and_two_workers",
            kind_config,
        ),
        Trial::test("pinned::dashboard_is_never_cluster_admin", dashboard_rbac),
    ]
}

/// Each stack's manifests.
fn stack_docs() -> Result<Vec<(Stack, Vec<manifests::Manifest>)>, String> {
    Stack::ALL
        .iter()
        .map(|s| {
            Ok((
                *s,
                manifests::load_dir(&s.manifests(&root())).map_err(|e| e.to_string())?,
            ))
        })
        .collect()
}

fn manifest_images() -> TestResult {
    for (stack, docs) in stack_docs()? {
        let mut used = manifests::images(&docs);
        used.sort();
        let mut pinned: Vec<String> = stack.images().iter().map(|i| i.reference()).collect();
        pinned.sort();
        ensure!(
            used == pinned,
            "{stack}: manifests use {used:?}, the version table pins {pinned:?}"
        );
        for d in docs.iter().filter(|d| d.kind() == "Deployment") {
            let amd64_only = d.images().iter().any(|i| {
                stack
                    .images()
                    .iter()
                    .any(|p| p.reference() == *i && p.amd64_only)
            });
            ensure!(
                !amd64_only
                    || d.object["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"]
                        == "amd64",
                "{} runs amd64-only images: it needs an amd64 nodeSelector",
                d.describe()
            );
            ensure!(
                d.object["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|c| c["imagePullPolicy"] != "Always"),
                "{}: imagePullPolicy Always would pull over the image kind loaded",
                d.describe()
            );
        }
    }
    Ok(())
}

fn workflow() -> Result<Value, String> {
    let path = root().join(".github/workflows/e2e.yml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn workflow_matrix() -> TestResult {
    let wf = workflow()?;
    let matrix: Vec<String> = wf["jobs"]["e2e"]["strategy"]["matrix"]["k8s"]
        .as_array()
        .ok_or("jobs.e2e.strategy.matrix.k8s is missing")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let table: Vec<String> = versions::NODE_IMAGES
        .iter()
        .map(|n| n.minor.to_string())
        .collect();
    ensure!(
        matrix == table,
        "workflow matrix {matrix:?} differs from the version table {table:?}"
    );
    ensure!(
        matrix.len() >= 3,
        "at least three Kubernetes versions in CI"
    );
    // The other stacks run on the newest pinned version at least, and each move to them,
    // passed to `--upgrade-from`.
    let includes = wf["jobs"]["e2e"]["strategy"]["matrix"]["include"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (stack, from) in [
        ("metrics-server", None),
        ("metrics-server", Some("heapster")),
        ("headlamp", None),
        ("headlamp", Some("metrics-server")),
    ] {
        ensure!(
            includes.iter().any(|i| i["stack"] == stack
                && i["k8s"] == table[0].as_str()
                && i["upgrade-from"].as_str() == from),
            "the workflow runs --stack {stack} (--upgrade-from {from:?}) on Kubernetes {}: {includes:?}",
            table[0]
        );
    }
    let action = std::fs::read_to_string(root().join("action.yml")).map_err(|e| e.to_string())?;
    ensure!(
        action.contains(&format!("sigs.k8s.io/kind@{}", versions::KIND_VERSION)),
        "the action installs kind {}",
        versions::KIND_VERSION
    );
    // The e2e jobs run the repository's own action, as other repositories would.
    let e2e_steps = workflow()?["jobs"]["e2e"]["steps"].clone();
    ensure!(
        e2e_steps
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["uses"] == "./"),
        "the e2e job uses the composite action (`uses: ./`): {e2e_steps:?}"
    );
    Ok(())
}

/// Every action the workflow and the composite action use is pinned by commit SHA, but the
/// repository's own (`./`).
fn workflow_actions() -> TestResult {
    let mut uses = Vec::new();
    for file in [".github/workflows/e2e.yml", "action.yml"] {
        let text = std::fs::read_to_string(root().join(file)).map_err(|e| e.to_string())?;
        uses.extend(
            text.lines()
                .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses:"))
                .map(|u| u.split(" #").next().unwrap_or_default().trim().to_string())
                .filter(|u| u != "./"),
        );
    }
    ensure!(!uses.is_empty(), "no actions used?");
    for u in uses {
        let sha = u
            .split('@')
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_default();
        ensure!(
            sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "action not pinned by full commit SHA: {u}"
        );
    }
    ensure!(
        workflow()?["permissions"]["contents"] == "read",
        "permissions: contents: read"
    );
    Ok(())
}

fn no_removed_apis() -> TestResult {
    for (stack, docs) in stack_docs()? {
        for n in versions::NODE_IMAGES {
            let findings = lint::lint(&docs, n.minor);
            ensure!(
                findings.is_empty(),
                "{stack}, Kubernetes {}: {findings:?}",
                n.minor
            );
        }
    }
    Ok(())
}

fn kind_config() -> TestResult {
    let n = heapster_e2e::pipeline::cluster::node_count(
        &root().join("manifests/kind/kind-config.yaml"),
    )
    .map_err(|e| e.to_string())?;
    ensure!(n == 3, "{n} nodes");
    Ok(())
}

fn dashboard_rbac() -> TestResult {
    let docs: Vec<manifests::Manifest> = stack_docs()?.into_iter().flat_map(|(_, d)| d).collect();
    for d in docs.iter().filter(|d| d.kind().ends_with("Binding")) {
        ensure!(
            d.object["roleRef"]["name"] != "cluster-admin",
            "{} binds cluster-admin",
            d.describe()
        );
    }
    for d in docs.iter().filter(|d| d.kind().ends_with("Role")) {
        for rule in d.object["rules"].as_array().into_iter().flatten() {
            let wild = ["apiGroups", "resources", "verbs"].iter().any(|f| {
                rule[*f]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == "*"))
            });
            ensure!(!wild, "{} has a wildcard rule: {rule}", d.describe());
        }
    }
    Ok(())
}
