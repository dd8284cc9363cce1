//! Before anything is created: the tools are there and working, and the host can run
//! the stack.

use xshell::cmd;

use crate::pipeline::tools::Exec;
use crate::versions::{KIND_MIN_VERSION, KIND_VERSION};

/// Where to go without Docker or kind: the simulated cluster this repository tests on.
const WITHOUT_DOCKER: &str = "; to try the harness without Docker or kind, run `cargo xtask sim` (a simulated cluster with fake kind and docker; it prints the commands to run against it)";

/// The harness cannot run here; the message names what is missing and how to get it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(pub String);

/// Check docker, its daemon, kind and its version; returns warnings (e.g. a non-amd64 host).
pub fn check(exec: &Exec) -> Result<Vec<String>, PreflightError> {
    let mut warnings = Vec::new();
    if !exec.dry_run && exec.tool_on_path("docker").is_none() {
        return Err(PreflightError(format!(
            "`docker` was not found on PATH: install Docker Engine (https://docs.docker.com/engine/install/) and make sure the `docker` CLI is on PATH{WITHOUT_DOCKER}"
        )));
    }
    let sh = exec.sh;
    if let Err(e) = exec.capture(cmd!(sh, "docker info --format").arg("{{.ServerVersion}}")) {
        return Err(PreflightError(format!(
            "the Docker daemon is not answering ({e}); start it (e.g. `sudo systemctl start docker`) and check that your user may use it (`docker info`){WITHOUT_DOCKER}"
        )));
    }
    if !exec.dry_run && exec.tool_on_path("kind").is_none() {
        return Err(PreflightError(format!(
            "`kind` was not found on PATH: install kind {KIND_VERSION} (`go install sigs.k8s.io/kind@{KIND_VERSION}`, or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation){WITHOUT_DOCKER}"
        )));
    }
    let version = exec
        .capture(cmd!(sh, "kind version"))
        .map_err(|e| PreflightError(format!("`kind version` failed: {e}")))?;
    if !exec.dry_run {
        match parse_kind_version(&version) {
            Some(v) if v >= KIND_MIN_VERSION => {}
            Some((a, b, c)) => {
                return Err(PreflightError(format!(
                    "kind v{a}.{b}.{c} is older than the pinned v{}.{}.{}: its node images are built for {KIND_VERSION}; install it with `go install sigs.k8s.io/kind@{KIND_VERSION}`",
                    KIND_MIN_VERSION.0, KIND_MIN_VERSION.1, KIND_MIN_VERSION.2
                )));
            }
            None => {
                return Err(PreflightError(format!(
                    "cannot read the kind version from {:?}; install kind {KIND_VERSION}",
                    version.trim()
                )));
            }
        }
    }
    if let Some(w) = arch_warning(std::env::consts::ARCH) {
        warnings.push(w);
    }
    Ok(warnings)
}

/// `kind v0.33.0 go1.25.4 linux/amd64` -> (0, 33, 0).
pub fn parse_kind_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with('v') && w.contains('.'))?;
    let core = word.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

pub fn arch_warning(arch: &str) -> Option<String> {
    (arch != "x86_64").then(|| format!("this host is {arch}: the heapster stack's images are amd64 only and will not start on this host's kind nodes; run on an amd64 host (as CI does)"))
}

/// Whether kind already has a cluster of this name.
pub fn cluster_exists(exec: &Exec, name: &str) -> anyhow::Result<bool> {
    let sh = exec.sh;
    let out = exec.capture(cmd!(sh, "kind get clusters"))?;
    Ok(out.lines().any(|l| l.trim() == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_versions() {
        assert_eq!(
            parse_kind_version("kind v0.33.0 go1.25.4 linux/amd64"),
            Some((0, 33, 0))
        );
        assert_eq!(
            parse_kind_version("kind v0.34.0-alpha+abc go1.25 linux/amd64"),
            Some((0, 34, 0))
        );
        assert_eq!(parse_kind_version("nonsense"), None);
        assert!((0, 27, 0) < KIND_MIN_VERSION);
    }

    #[test]
    fn non_amd64_hosts_get_a_warning() {
        assert!(arch_warning("x86_64").is_none());
        assert!(arch_warning("aarch64").unwrap().contains("amd64 only"));
    }
}
