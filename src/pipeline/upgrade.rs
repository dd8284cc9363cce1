//! Add-on upgrades (`--upgrade-from STACK|DIR|GIT_REF`): the old manifests applied,
//! rolled out and checked first (their failures are recorded, not fatal: the upgrade may
//! be the fix), a monitor from there through the upgrade, and its verdict. Within one
//! stack the monitor polls heapster's node series; across stacks (heapster ->
//! metrics-server -> Headlamp) it reads both UIs' node metrics, and what only the old
//! stack declares is removed once the new one has rolled out.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use super::state::Run;
use super::{manifests, phases, remove};
use crate::checks::switch::{SwitchWatch, switch_verdict, watch_dashboards};
use crate::checks::upgrade::{StopOnDrop, Watch, gap_verdict, watch_series};
use crate::checks::{self, CheckConfig, Ctx, Outcome, Summary, Verdict};
use crate::layout::Part;
use crate::manifests::Manifest;
use crate::stack::Stack;

/// The old manifests' checks, and the numbers they saw.
#[derive(Debug, Default)]
pub struct Before {
    pub outcomes: Vec<Outcome>,
    pub summary: Summary,
}

/// The checks' settings for `stack`, with the node count the kind config asks for.
fn config_for(run: &Run, stack: Stack, expected_nodes: usize) -> CheckConfig {
    let mut config = run.opts.checks.clone();
    config.stack = stack;
    config.expected_nodes = config.expected_nodes.or(Some(expected_nodes));
    config
}

/// The old manifests (of `stack`): apply, wait, check.
pub(super) fn before(
    run: &mut Run,
    client: &Client,
    old: &[manifests::Manifest],
    stack: Stack,
    expected_nodes: usize,
) -> anyhow::Result<Before> {
    let mut outcomes = Vec::new();
    if let Err(e) = phases::deploy(run, client, old, " (old)")? {
        outcomes.push(Outcome::checked("before::rollout", false, e.to_string()));
    }
    let mut ctx = Ctx::new(client.clone(), config_for(run, stack, expected_nodes));
    let start = Instant::now();
    let plan = run.rt.block_on(checks::plan(&mut ctx))?;
    let ctx = Arc::new(ctx);
    let checked =
        run.block_on_cancellable(async { Ok(checks::run::run_all(ctx.clone(), plan).await) })?;
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
    let summary = ctx.summary.lock().expect("summary lock").clone();
    Ok(Before { outcomes, summary })
}

/// After a move across stacks has rolled out: delete what only the old stack declares.
pub(super) fn remove_old(
    run: &Run,
    client: &Client,
    old: &[Manifest],
    new: &[Manifest],
    old_stack: Stack,
) -> anyhow::Result<Instant> {
    let doomed = remove::leftovers(old, new);
    run.timed(
        "Remove old stack",
        || run.block_on_cancellable(remove::remove(client, &doomed, run.opts.timeout)),
        |n| format!("{n} objects of the {old_stack} stack deleted, its pods gone"),
    )?;
    Ok(Instant::now())
}

/// What the monitor watches: heapster's series within one stack, both dashboards across.
enum Watching {
    Series(tokio::task::JoinHandle<Watch>),
    Dashboards(tokio::task::JoinHandle<SwitchWatch>),
}

/// heapster's series within the heapster stack; the dashboards wherever the
/// metrics-server stack is involved (it keeps no series of its own to follow).
pub fn watches_series(old: Stack, new: Stack) -> bool {
    old == Stack::Heapster && new == Stack::Heapster
}

/// Watches the metrics in the background from the old stack's checks until stopped.
pub(super) struct Monitor {
    stop: StopOnDrop,
    started: Instant,
    watching: Watching,
}

impl Monitor {
    /// Within the heapster stack, the first Ready node's heapster series; else the old
    /// and the new stack's dashboards' node lists.
    pub fn start(
        run: &Run,
        client: &Client,
        old: Stack,
        expected_nodes: usize,
    ) -> anyhow::Result<Option<Monitor>> {
        let stop = StopOnDrop::default();
        let started = Instant::now();
        let every = run.opts.checks.poll.min(Duration::from_secs(1));
        let new = run.opts.checks.stack;
        let watching = if watches_series(old, new) {
            let nodes = run.rt.block_on(checks::ready_nodes(client))?;
            let Some(node) = nodes.first() else {
                return Ok(None);
            };
            Watching::Series(run.rt.spawn(watch_series(
                client.clone(),
                node.clone(),
                every,
                stop.flag(),
            )))
        } else {
            let ctx = |stack| Ctx::new(client.clone(), config_for(run, stack, expected_nodes));
            Watching::Dashboards(run.rt.spawn(watch_dashboards(
                ctx(old),
                ctx(new),
                every,
                stop.flag(),
                started,
            )))
        };
        Ok(Some(Monitor {
            stop,
            started,
            watching,
        }))
    }

    /// Stop watching and judge what was seen, against the new manifests' settings. A
    /// verdict is meaningful only if the old stack showed the metrics before.
    pub fn finish(
        self,
        run: &Run,
        before: &[Outcome],
        new: &[Manifest],
        removed: Option<Instant>,
    ) -> Outcome {
        drop(self.stop);
        match self.watching {
            Watching::Series(task) => {
                let watch = run.rt.block_on(task).unwrap_or_default();
                no_gap_outcome(before, &watch, metric_resolution(new))
            }
            Watching::Dashboards(task) => {
                let mut watch = run.rt.block_on(task).unwrap_or_default();
                watch.removed = removed.map(|r| r.duration_since(self.started));
                switch_outcome(before, &watch, new)
            }
        }
    }
}

/// Judge a verdict only if a `before::` check named `had_data` passed.
fn judged(
    name: &str,
    before: &[Outcome],
    had_data: impl Fn(&str) -> bool,
    nothing_to_keep: &str,
    verdict: impl FnOnce() -> Verdict,
) -> Outcome {
    if !before.iter().any(|o| o.passed && had_data(&o.name)) {
        return Outcome::skipped(name, nothing_to_keep);
    }
    match verdict() {
        Verdict::Pass(m) => Outcome::checked(name, true, m),
        Verdict::Fail(m) | Verdict::Wait(m) => Outcome::checked(name, false, m),
    }
}

fn no_gap_outcome(before: &[Outcome], watch: &Watch, resolution: Duration) -> Outcome {
    judged(
        "upgrade::no_gap_in_node_metrics",
        before,
        |n| n.starts_with("before::heapster::node_metrics::"),
        "heapster had no node metrics before the upgrade: there was no series to keep",
        || gap_verdict(watch, resolution),
    )
}

fn switch_outcome(before: &[Outcome], watch: &SwitchWatch, new: &[Manifest]) -> Outcome {
    let (bound, why) = switch_bound(new);
    judged(
        "upgrade::no_gap_in_dashboard_node_metrics",
        before,
        |n| n == "before::dashboard::node_metrics",
        "the old dashboard showed no node metrics before the upgrade: there were none to keep",
        || switch_verdict(watch, bound, &why),
    )
}

/// How long the new stack's dashboard may take to show node metrics once the old one is
/// gone: two of the scraper's `--metric-resolution` periods (its ticker first fires one
/// period after start, dashboard-metrics-scraper@v1.0.8 `server.go`, and that first scrape
/// may find metrics-server not yet serving) and one of the dashboard's
/// `--metric-client-check-period` (its client is active only after a health check passed,
/// dashboard@v2.7.0 `integration/metric/manager.go` `EnableWithRetry`). Upstream defaults where a flag is unset.
pub fn switch_bound(new: &[Manifest]) -> (Duration, String) {
    if crate::stack::Stack::detect(new) == Some(crate::stack::Stack::Headlamp) {
        return headlamp_bound(new);
    }
    let resolution = crate::layout::flag(new, Part::Scraper, "metric-resolution")
        .and_then(|d| crate::duration::parse_go(&d))
        .unwrap_or(Duration::from_secs(60));
    let check_period = crate::layout::flag(new, Part::Dashboard, "metric-client-check-period")
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs);
    let format = crate::duration::format;
    (
        resolution * 2 + check_period,
        format!(
            "two scraper periods of {} and a dashboard check period of {}",
            format(resolution),
            format(check_period)
        ),
    )
}

/// How long Headlamp may take to show node metrics once the old dashboard is gone: its
/// readiness probe's first run (`initialDelaySeconds`, or its period if longer: the pod
/// serves no one before it passes) and one of its UI's 10 s metrics polls
/// (headlamp@v0.45.0 `frontend/src/lib/k8s/api/v1/metricsApi.ts`, `setInterval(..., 10000)`).
/// metrics-server, unchanged by the move, keeps serving throughout.
fn headlamp_bound(new: &[Manifest]) -> (Duration, String) {
    const POLL: Duration = Duration::from_secs(10);
    let probe = &crate::layout::container(new, Part::Headlamp)
        .map(|c| c["readinessProbe"].clone())
        .unwrap_or_default();
    let readiness = checks::patience::probe_timer(probe).unwrap_or_default();
    let format = crate::duration::format;
    (
        readiness + POLL,
        format!(
            "Headlamp's readiness probe ({}) and its UI's metrics poll ({})",
            format(readiness),
            format(POLL)
        ),
    )
}

/// Heapster's `--metric_resolution` in the manifests (60 s when unset, as upstream).
pub fn metric_resolution(manifests: &[Manifest]) -> Duration {
    crate::layout::flag(manifests, Part::Heapster, "metric_resolution")
        .and_then(|d| crate::duration::parse(&d).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// `stack`'s manifests in an unpacked revision `root`, or the heapster stack's when the
/// revision has no folder for `stack` (it predates it: the move from an older checkout).
pub fn stack_folder(root: &Path, stack: Stack) -> std::path::PathBuf {
    Some(stack.manifests(root))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| Stack::Heapster.manifests(root))
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
    fn a_revision_without_the_new_stack_gives_the_heapster_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        let heapster = dir.path().join("manifests");
        assert_eq!(stack_folder(dir.path(), Stack::MetricsServer), heapster);
        std::fs::create_dir_all(dir.path().join("manifests/metrics-server")).unwrap();
        assert_eq!(
            stack_folder(dir.path(), Stack::MetricsServer),
            heapster.join("metrics-server")
        );
        assert_eq!(stack_folder(dir.path(), Stack::Heapster), heapster);
    }

    #[test]
    fn the_switch_bound_comes_from_the_new_stack_flags() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = crate::manifests::load_dir(&Stack::MetricsServer.manifests(root)).unwrap();
        let (bound, why) = switch_bound(&docs);
        assert_eq!(bound, Duration::from_secs(35), "{why}");
        assert_eq!(switch_bound(&[]).0, Duration::from_secs(150));
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
