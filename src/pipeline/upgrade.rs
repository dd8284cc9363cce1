//! Add-on upgrades (`--upgrade-from DIR|GIT_REF`): the old manifests applied, rolled out
//! and checked first (their failures are recorded, not fatal: the upgrade may be the fix),
//! a monitor polling heapster's node series from there through the upgrade, and the gap
//! verdict on what it saw.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use super::state::Run;
use super::{manifests, phases};
use crate::checks::upgrade::{StopOnDrop, Watch, gap_verdict, watch_series};
use crate::checks::{self, Ctx, HEAPSTER, Outcome, Verdict};
use crate::manifests::Manifest;

/// The old manifests: apply, wait, check.
pub(super) fn before(
    run: &mut Run,
    client: &Client,
    old: &[manifests::Manifest],
    expected_nodes: usize,
) -> anyhow::Result<Vec<Outcome>> {
    let opts = run.opts;
    let mut outcomes = Vec::new();
    if let Err(e) = phases::deploy(run, client, old, " (old)")? {
        outcomes.push(Outcome::checked("before::rollout", false, e.to_string()));
    }
    let mut config = opts.checks.clone();
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    let mut ctx = Ctx::new(client.clone(), config);
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    let checked =
        run.block_on_cancellable(async { Ok(checks::run::run_all(Arc::new(ctx), plan).await) })?;
    outcomes.extend(checked.into_iter().map(|o| Outcome {
        name: format!("before::{}", o.name),
        ..o
    }));
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    for o in &outcomes {
        run.report.line(crate::report::terminal::outcome_line(o));
    }
    run.report.phase(
        "Checks (old)",
        start.elapsed(),
        &format!("{failed} of {} failed before the upgrade", outcomes.len()),
    );
    Ok(outcomes)
}

/// Polls one node's series in the background until stopped.
pub(super) struct Monitor {
    stop: StopOnDrop,
    task: tokio::task::JoinHandle<Watch>,
}

impl Monitor {
    /// Watch the first Ready node's series from now on.
    pub fn start(run: &Run, client: &Client) -> anyhow::Result<Option<Monitor>> {
        let nodes = run.rt.block_on(checks::ready_nodes(client))?;
        let Some(node) = nodes.first() else {
            return Ok(None);
        };
        let stop = StopOnDrop::default();
        let every = run.opts.checks.poll.min(Duration::from_secs(1));
        let task = run.rt.spawn(watch_series(
            client.clone(),
            node.clone(),
            every,
            stop.flag(),
        ));
        Ok(Some(Monitor { stop, task }))
    }

    /// Stop watching and judge the series: meaningful only if heapster had data before.
    pub fn finish(self, run: &Run, before: &[Outcome], docs: &[Manifest]) -> Outcome {
        drop(self.stop);
        let watch = run.rt.block_on(self.task).unwrap_or_default();
        no_gap_outcome(before, &watch, metric_resolution(docs))
    }
}

fn no_gap_outcome(before: &[Outcome], watch: &Watch, resolution: Duration) -> Outcome {
    let name = "upgrade::no_gap_in_node_metrics".to_string();
    let had_data = before
        .iter()
        .any(|o| o.name.starts_with("before::heapster::node_metrics::") && o.passed);
    if !had_data {
        return Outcome::skipped(
            name,
            "heapster had no node metrics before the upgrade: there was no series to keep",
        );
    }
    match gap_verdict(watch, resolution) {
        Verdict::Pass(m) => Outcome::checked(name, true, m),
        Verdict::Fail(m) | Verdict::Wait(m) => Outcome::checked(name, false, m),
    }
}

/// Heapster's `--metric_resolution` in the manifests (60 s when unset, as upstream).
pub fn metric_resolution(manifests: &[Manifest]) -> Duration {
    manifests
        .iter()
        .filter(|m| m.kind() == "Deployment" && m.name() == HEAPSTER)
        .flat_map(|m| {
            let containers = m.object["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            containers.into_iter().flat_map(|c| {
                ["command", "args"]
                    .map(|f| c[f].as_array().cloned().unwrap_or_default())
                    .concat()
            })
        })
        .filter_map(|arg| {
            arg.as_str()
                .and_then(|a| a.strip_prefix("--metric_resolution="))
                .map(str::to_string)
        })
        .find_map(|d| crate::duration::parse(&d).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// The manifests of a git revision (`git archive REV manifests`), unpacked into `into`.
pub fn manifests_at_revision(
    sh: &xshell::Shell,
    revision: &str,
    into: &Path,
) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let tar = into.join("manifests.tar");
    xshell::cmd!(
        sh,
        "git archive --format=tar --output {tar} {revision} manifests"
    )
    .quiet()
    .run()
    .with_context(|| {
        format!(
            "{revision:?} is neither a directory nor a git revision with a manifests/ directory"
        )
    })?;
    xshell::cmd!(sh, "tar -xf {tar} -C {into}")
        .quiet()
        .run()
        .context("cannot unpack the old manifests")?;
    Ok(into.join("manifests"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_revision_yields_its_manifests() {
        let sh = xshell::Shell::new().unwrap();
        sh.change_dir(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let manifests = manifests_at_revision(&sh, "HEAD", dir.path()).unwrap();
        assert!(manifests.join("30-heapster.yaml").is_file());
        let err = manifests_at_revision(&sh, "no-such-revision", dir.path()).unwrap_err();
        assert!(
            format!("{err:#}").contains("neither a directory nor a git revision"),
            "{err:#}"
        );
    }

    #[test]
    fn resolution_comes_from_the_heapster_flag() {
        let docs =
            crate::manifests::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"))
                .unwrap();
        assert_eq!(metric_resolution(&docs), Duration::from_secs(6));
        assert_eq!(metric_resolution(&[]), Duration::from_secs(60));
    }
}
