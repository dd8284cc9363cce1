//! Running the external tools (`kind`, `docker`) with xshell, or, under `--dry-run`,
//! printing what would run.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use xshell::{Cmd, Shell};

use crate::report::Report;

/// Where `name` would be found on `path` (a PATH-style list).
pub fn find_on_path(path: &OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `cmd` as a process std can start with `posix_spawn`. std falls back to fork+exec
/// when a command carries its own PATH and names its program bare (the fakes' shells do),
/// and a fork copies the page tables of the whole, large, multi-threaded caller; finding
/// the program on that PATH first keeps the cheap path. Nothing else changes.
pub fn spawnable(cmd: impl Into<Command>) -> Command {
    let cmd: Command = cmd.into();
    let bare = !cmd.get_program().as_encoded_bytes().contains(&b'/');
    let own_path = cmd
        .get_envs()
        .find(|(k, _)| *k == "PATH")
        .and_then(|(_, v)| v);
    let found = match (bare, own_path, cmd.get_program().to_str()) {
        (true, Some(path), Some(name)) => find_on_path(path, name),
        _ => None,
    };
    let Some(program) = found else {
        return cmd;
    };
    let mut resolved = Command::new(program);
    resolved.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => resolved.env(k, v),
            None => resolved.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        resolved.current_dir(dir);
    }
    resolved
}

pub struct Exec<'a> {
    pub sh: &'a Shell,
    pub dry_run: bool,
    pub report: &'a Report,
}

impl<'a> Exec<'a> {
    pub fn new(sh: &'a Shell, dry_run: bool, report: &'a Report) -> Self {
        Exec {
            sh,
            dry_run,
            report,
        }
    }

    pub fn tool_on_path(&self, name: &str) -> Option<PathBuf> {
        find_on_path(&self.sh.var_os("PATH").unwrap_or_default(), name)
    }

    /// Run a command that changes something; its stderr goes into the error.
    pub fn run(&self, cmd: Cmd<'_>) -> anyhow::Result<()> {
        self.capture(cmd).map(|_| ())
    }

    /// Run a command and return its stdout; on failure the error carries its stderr.
    pub fn capture(&self, cmd: Cmd<'_>) -> anyhow::Result<String> {
        let shown = cmd.to_string();
        if self.dry_run {
            self.report.line(format!("  would run: {shown}"));
            return Ok(String::new());
        }
        self.report.detail(format!("  running: {shown}"));
        let output = spawnable(cmd)
            .output()
            .with_context(|| format!("could not start `{shown}`"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            anyhow::bail!("`{shown}` failed ({}): {}", output.status, stderr.trim());
        }
        Ok(stdout)
    }

    /// Like `capture`, for read-only questions: `None` when the command fails.
    pub fn ask(&self, cmd: Cmd<'_>) -> Option<String> {
        if self.dry_run {
            self.report.line(format!("  would run: {cmd}"));
            return None;
        }
        let output = spawnable(cmd).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;

    fn tool_in(dir: &std::path::Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_bare_program_is_found_on_the_commands_own_path() {
        let dir = tempfile::tempdir().unwrap();
        let kind = tool_in(dir.path(), "kind");
        let mut cmd = Command::new("kind");
        cmd.args(["get", "clusters"])
            .env("PATH", dir.path())
            .env("KIND_SIM_CONTROL", "127.0.0.1:1")
            .env_remove("HOME")
            .current_dir("/");
        let spawned = spawnable(cmd);
        assert_eq!(spawned.get_program(), kind.as_os_str());
        let args: Vec<_> = spawned.get_args().collect();
        assert_eq!(args, [OsStr::new("get"), OsStr::new("clusters")]);
        let envs: Vec<_> = spawned.get_envs().collect();
        assert!(envs.contains(&(OsStr::new("PATH"), Some(dir.path().as_os_str()))));
        assert!(envs.contains(&(
            OsStr::new("KIND_SIM_CONTROL"),
            Some(OsStr::new("127.0.0.1:1"))
        )));
        assert!(envs.contains(&(OsStr::new("HOME"), None)));
        assert_eq!(spawned.get_current_dir(), Some(std::path::Path::new("/")));
    }

    #[test]
    fn other_commands_are_left_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        tool_in(dir.path(), "kind");
        // No PATH of its own: std already spawns it cheaply.
        assert_eq!(spawnable(Command::new("kind")).get_program(), "kind");
        // A path, not a name.
        let mut pathed = Command::new("./kind");
        pathed.env("PATH", dir.path());
        assert_eq!(spawnable(pathed).get_program(), "./kind");
        // Not on its PATH: std's own error (not found) stays the answer.
        let mut missing = Command::new("docker");
        missing.env("PATH", dir.path());
        assert_eq!(spawnable(missing).get_program(), "docker");
    }
}
