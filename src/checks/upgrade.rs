//! Add-on upgrades: do node metrics keep flowing while heapster is replaced? A monitor
//! polls one node's heapster series through the rollout. A new heapster serves
//! `memory/usage` from its first batch, which is also when its `/healthz` readiness probe
//! passes, but `cpu/usage_rate` only from its second: the rate calculator needs the
//! previous batch (heapster@v1.5.4 `processors/rate_calculator.go`). So the verdict is
//! strict on memory and bounds the CPU hole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;

use super::Verdict;
use super::series;
use super::{HEAPSTER, NAMESPACE};
use crate::kubeclient;

/// One look at the series: when, and how old each metric's freshest point was (None: no data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub at: Duration,
    pub memory: Option<Duration>,
    pub cpu: Option<Duration>,
}

/// What the monitor saw, in order.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub node: String,
    pub looks: Vec<Look>,
}

/// No gap: at every look `memory/usage` had a point younger than two resolutions, and
/// `cpu/usage_rate` was never without one for longer than two resolutions.
pub fn gap_verdict(watch: &Watch, resolution: Duration) -> Verdict {
    let limit = resolution * 2;
    if watch.looks.is_empty() {
        return Verdict::Fail("the series was not watched during the rollout".into());
    }
    let fresh = |age: Option<Duration>| age.is_some_and(|a| a <= limit);
    let stale_memory = watch.looks.iter().filter(|l| !fresh(l.memory)).count();
    if stale_memory > 0 {
        let worst = watch.looks.iter().filter_map(|l| l.memory).max();
        let what = match (watch.looks.iter().any(|l| l.memory.is_none()), worst) {
            (true, _) => "no heapster data".to_string(),
            (false, Some(w)) => format!("a point {} old", crate::duration::format(w)),
            (false, None) => "no data".to_string(),
        };
        return Verdict::Fail(format!(
            "{}: memory/usage had {what} in {stale_memory} of {} looks during the rollout (limit {} without a fresh point)",
            watch.node,
            watch.looks.len(),
            crate::duration::format(limit)
        ));
    }
    // The longest stretch of looks without a fresh CPU point, in wall time.
    let mut longest = Duration::ZERO;
    let mut since: Option<Duration> = None;
    for l in &watch.looks {
        match (fresh(l.cpu), since) {
            (false, None) => since = Some(l.at),
            (false, Some(start)) => longest = longest.max(l.at - start),
            (true, Some(start)) => {
                longest = longest.max(l.at - start);
                since = None;
            }
            (true, None) => {}
        }
    }
    let oldest = watch
        .looks
        .iter()
        .filter_map(|l| l.memory)
        .max()
        .unwrap_or_default();
    if longest > limit {
        return Verdict::Fail(format!(
            "{}: gap in cpu/usage_rate: no fresh point for {} during the rollout (limit {})",
            watch.node,
            crate::duration::format(longest),
            crate::duration::format(limit)
        ));
    }
    Verdict::Pass(format!(
        "{}: {} looks during the rollout; memory/usage always fresh (at most {} old), cpu/usage_rate without a fresh point for at most {} (limit {}: a new heapster computes the rate from its second batch)",
        watch.node,
        watch.looks.len(),
        crate::duration::format(oldest),
        crate::duration::format(longest),
        crate::duration::format(limit)
    ))
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

/// Poll `node`'s `memory/usage` and `cpu/usage_rate` every `every` until `stop` is set.
pub async fn watch_series(
    client: Client,
    node: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Watch {
    let started = std::time::Instant::now();
    let mut watch = Watch {
        node,
        looks: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let at = started.elapsed();
        let memory = freshest(&client, &watch.node, "memory/usage").await;
        let cpu = freshest(&client, &watch.node, "cpu/usage_rate").await;
        watch.looks.push(Look { at, memory, cpu });
        tokio::time::sleep(every).await;
    }
    watch
}

/// Age of the freshest point of one node series, if heapster has any.
async fn freshest(client: &Client, node: &str, metric: &str) -> Option<Duration> {
    let path = format!("/api/v1/model/nodes/{node}/metrics/{metric}");
    let answer = kubeclient::proxy_get(client, NAMESPACE, HEAPSTER, &path)
        .await
        .ok()?;
    if !answer.is_ok() {
        return None;
    }
    let points = series::parse_metric_result(&answer.json().ok()?).ok()?;
    let latest = points.iter().map(|p| p.timestamp).max()?;
    Some(series::age(Timestamp::now(), latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(at: u64, memory: Option<u64>, cpu: Option<u64>) -> Look {
        Look {
            at: Duration::from_secs(at),
            memory: memory.map(Duration::from_secs),
            cpu: cpu.map(Duration::from_secs),
        }
    }

    #[test]
    fn memory_must_stay_fresh_and_the_cpu_hole_is_bounded() {
        let res = Duration::from_secs(10);
        let w = |looks: Vec<Look>| Watch {
            node: "n".into(),
            looks,
        };
        // heapster replaced at 10 s: the new one has no rate until its second batch.
        let replaced = w(vec![
            look(0, Some(3), Some(3)),
            look(5, Some(8), Some(8)),
            look(10, Some(2), None),
            look(15, Some(7), None),
            look(20, Some(2), Some(2)),
        ]);
        assert!(
            matches!(gap_verdict(&replaced, res), Verdict::Pass(m) if m.contains("for at most 10s (limit 20s")),
            "{:?}",
            gap_verdict(&replaced, res)
        );
        let long_hole = w(vec![
            look(0, Some(3), Some(3)),
            look(10, Some(2), None),
            look(35, Some(2), Some(2)),
        ]);
        assert!(
            matches!(gap_verdict(&long_hole, res), Verdict::Fail(m) if m.contains("gap in cpu/usage_rate: no fresh point for 25s"))
        );
        let no_data = w(vec![look(0, Some(3), Some(3)), look(5, None, None)]);
        assert!(
            matches!(gap_verdict(&no_data, res), Verdict::Fail(m) if m.contains("memory/usage had no heapster data in 1 of 2"))
        );
        let old = w(vec![look(0, Some(3), Some(3)), look(5, Some(25), Some(25))]);
        assert!(
            matches!(gap_verdict(&old, res), Verdict::Fail(m) if m.contains("a point 25s old"))
        );
        assert!(matches!(gap_verdict(&w(vec![]), res), Verdict::Fail(_)));
        // A hole exactly the limit (two resolutions, 20 s) passes; a point exactly the
        // limit old is still fresh.
        let edge = w(vec![
            look(0, Some(3), Some(3)),
            look(10, Some(20), None),
            look(30, Some(2), Some(2)),
        ]);
        assert!(
            gap_verdict(&edge, res).is_pass(),
            "{:?}",
            gap_verdict(&edge, res)
        );
    }
}
