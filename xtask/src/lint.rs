//! `cargo xtask lint`: offline manifest checks for each Kubernetes version: no API the
//! version no longer serves (our table), and `kubernetes-validate --strict` against the
//! version's schemas when it is installed (it only warns on removed APIs, hence both).

use std::path::Path;

use heapster_e2e::manifests::lint::{self, Severity};
use heapster_e2e::pipeline::tools::find_on_path;
use heapster_e2e::report::say;
use heapster_e2e::stack::Stack;
use heapster_e2e::{exit, manifests, versions};
use xshell::{Shell, cmd};

use crate::cli::{LintArgs, workspace_root};

/// Each stack's manifests (or the one directory given), against each version.
pub fn run(sh: &Shell, args: LintArgs) -> anyhow::Result<i32> {
    let root = workspace_root();
    let dirs: Vec<std::path::PathBuf> = match (&args.manifests, args.stack) {
        (Some(dir), _) => vec![dir.clone()],
        (None, Some(stack)) => vec![stack.manifests(&root)],
        (None, None) => Stack::ALL.iter().map(|s| s.manifests(&root)).collect(),
    };
    let targets: Vec<String> = match &args.k8s_version {
        Some(v) => vec![v.clone()],
        None => versions::NODE_IMAGES
            .iter()
            .map(|n| n.minor.to_string())
            .collect(),
    };
    let validator = find_on_path(
        &sh.var_os("PATH").unwrap_or_default(),
        "kubernetes-validate",
    );
    if validator.is_none() {
        say(
            "note: kubernetes-validate is not installed (`pip install kubernetes-validate`): schema validation skipped",
        );
    }
    let mut errors = 0;
    for dir in &dirs {
        errors += lint_dir(sh, dir, &targets, validator.as_deref())?;
    }
    Ok(if errors == 0 {
        exit::PASSED
    } else {
        exit::CHECK_FAILED
    })
}

/// The errors found in one directory's manifests.
fn lint_dir(
    sh: &Shell,
    dir: &Path,
    targets: &[String],
    validator: Option<&Path>,
) -> anyhow::Result<usize> {
    let docs = manifests::load_dir(dir)?;
    let label = dir.display();
    let files: Vec<String> = docs
        .iter()
        .map(|d| d.file.display().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Flags a program refuses at start: the same on every version, so said once.
    let refused = lint::refused_flags(&docs);
    for f in &refused {
        say(&format!("error: {}", f.message));
    }
    let mut errors = refused.len();
    for version in targets {
        let findings = lint::lint(&docs, version);
        for f in &findings {
            let level = if f.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            say(&format!("{level}: Kubernetes {version}: {}", f.message));
        }
        errors += findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        let schema_ok = match validator {
            Some(tool) => validate(sh, tool, version, &files),
            None => true,
        };
        if !schema_ok {
            errors += 1;
        }
        if findings.is_empty() && schema_ok {
            let schema = if validator.is_some() {
                ", valid against its schemas (--strict)"
            } else {
                ""
            };
            say(&format!(
                "ok: Kubernetes {version}: {} objects in {label}, no removed or deprecated APIs{schema}",
                docs.len()
            ));
        }
    }
    Ok(errors)
}

fn validate(sh: &Shell, tool: &Path, version: &str, files: &[String]) -> bool {
    let out = cmd!(sh, "{tool} --strict --quiet -k {version} {files...}")
        .quiet()
        .ignore_status()
        .output();
    match out {
        Ok(o) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                say(&format!(
                    "kubernetes-validate: Kubernetes {version}: {line}"
                ));
            }
            o.status.success()
        }
        Err(e) => {
            say(&format!("error: cannot run kubernetes-validate: {e}"));
            false
        }
    }
}
