//! Add-on upgrades: do node metrics keep flowing while heapster is replaced? A monitor
//! polls one node's heapster series through the rollout; the verdict is that the freshest
//! point was never older than two metric resolutions.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;

use crate::checks::{HEAPSTER, NAMESPACE};
use crate::kubeclient;
use crate::manifests::Manifest;
use crate::verdict::{self, Verdict};

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

/// What the monitor saw: at each poll, how old the freshest point was (None: no data).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub node: String,
    pub staleness: Vec<Option<Duration>>,
}

/// No gap: every poll found a point younger than two resolutions.
pub fn gap_verdict(watch: &Watch, resolution: Duration) -> Verdict {
    let limit = resolution * 2;
    if watch.staleness.is_empty() {
        return Verdict::Fail("the series was not watched during the rollout".into());
    }
    let worst = watch
        .staleness
        .iter()
        .map(|s| s.unwrap_or(Duration::MAX))
        .max()
        .unwrap_or_default();
    let missing = watch.staleness.iter().filter(|s| s.is_none()).count();
    if worst <= limit {
        Verdict::Pass(format!(
            "{}: {} looks during the rollout, freshest point at most {} old (limit {})",
            watch.node,
            watch.staleness.len(),
            crate::duration::format(worst),
            crate::duration::format(limit)
        ))
    } else if missing > 0 {
        Verdict::Fail(format!(
            "{}: no heapster data in {missing} of {} looks during the rollout (limit {} without a fresh point)",
            watch.node,
            watch.staleness.len(),
            crate::duration::format(limit)
        ))
    } else {
        Verdict::Fail(format!(
            "{}: gap in the series: the freshest point was {} old during the rollout (limit {})",
            watch.node,
            crate::duration::format(worst),
            crate::duration::format(limit)
        ))
    }
}

/// Stops the monitor when dropped, so every way out of the pipeline ends it.
#[derive(Default)]
pub struct StopOnDrop(Arc<AtomicBool>);

impl StopOnDrop {
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Poll `node`'s `cpu/usage_rate` every `every` until `stop` is set.
pub async fn watch_series(
    client: Client,
    node: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Watch {
    let path = format!("/api/v1/model/nodes/{node}/metrics/cpu/usage_rate");
    let mut watch = Watch {
        node,
        staleness: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let latest = match kubeclient::proxy_get(&client, NAMESPACE, HEAPSTER, &path).await {
            Ok(a) if a.is_ok() => a
                .json()
                .ok()
                .and_then(|v| verdict::parse_metric_result(&v).ok())
                .and_then(|p| p.iter().map(|p| p.timestamp).max()),
            _ => None,
        };
        watch
            .staleness
            .push(latest.map(|t| verdict::age(Timestamp::now(), t)));
        tokio::time::sleep(every).await;
    }
    watch
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
    fn gaps_longer_than_two_resolutions_fail() {
        let res = Duration::from_secs(10);
        let w = |s: Vec<Option<u64>>| Watch {
            node: "n".into(),
            staleness: s.into_iter().map(|x| x.map(Duration::from_secs)).collect(),
        };
        assert!(gap_verdict(&w(vec![Some(3), Some(12), Some(19)]), res).is_pass());
        assert!(
            matches!(gap_verdict(&w(vec![Some(3), Some(25)]), res), Verdict::Fail(m) if m.contains("gap in the series"))
        );
        assert!(
            matches!(gap_verdict(&w(vec![Some(3), None]), res), Verdict::Fail(m) if m.contains("no heapster data in 1 of 2"))
        );
        assert!(matches!(gap_verdict(&w(vec![]), res), Verdict::Fail(_)));
    }

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
        assert_eq!(metric_resolution(&docs), Duration::from_secs(10));
        assert_eq!(metric_resolution(&[]), Duration::from_secs(60));
    }
}
