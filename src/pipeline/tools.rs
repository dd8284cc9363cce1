//! Running the external tools (`kind`, `docker`) with xshell, or, under `--dry-run`,
//! printing what would run.

use std::ffi::OsStr;
use std::path::PathBuf;

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
        let output = cmd
            .quiet()
            .ignore_status()
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
        let output = cmd.quiet().ignore_status().output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).to_string())
    }
}
