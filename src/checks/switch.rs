//! The moves across stacks (heapster + dashboard v1.10.1 -> metrics-server + dashboard
//! v2.7.0 -> Headlamp): do the UIs keep node metrics on screen? A monitor reads both UIs'
//! node metrics (a dashboard's node list `/api/v1/node`, judged as
//! `dashboard::node_metrics` judges it; Headlamp's NodeMetrics list, every Ready node
//! judged as `headlamp::node_metrics` judges it) from the end of the old stack's checks
//! until the new stack's are done; the verdict bounds the stretch when neither showed them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{Ctx, Verdict, dashboard};
use crate::duration::format;

/// One look at both dashboards: whether each showed recent non-zero node metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// Since the monitor started.
    pub at: Duration,
    pub old: bool,
    pub new: bool,
}

/// What the monitor saw, and the names it reports them by.
#[derive(Debug, Clone, Default)]
pub struct SwitchWatch {
    pub old_name: String,
    pub new_name: String,
    pub looks: Vec<Sighting>,
    /// When the old stack was removed, since the monitor started.
    pub removed: Option<Duration>,
}

impl SwitchWatch {
    fn last_old(&self) -> Option<Duration> {
        self.looks.iter().rev().find(|l| l.old).map(|l| l.at)
    }

    fn first_new(&self) -> Option<Duration> {
        self.looks.iter().find(|l| l.new).map(|l| l.at)
    }

    fn last_new(&self) -> Option<Duration> {
        self.looks.iter().rev().find(|l| l.new).map(|l| l.at)
    }
}

/// The longest stretch with no dashboard showing node metrics, from its first dark look to
/// the next lit one, and whether the last stretch was still dark at the end.
fn darkest(looks: &[Sighting]) -> (Duration, Option<Duration>) {
    let mut longest = Duration::ZERO;
    let mut since: Option<Duration> = None;
    for l in looks {
        match (l.old || l.new, since) {
            (false, None) => since = Some(l.at),
            (true, Some(start)) => {
                longest = longest.max(l.at - start);
                since = None;
            }
            _ => {}
        }
    }
    (longest, since)
}

/// Pass when the new dashboard showed node metrics and no stretch without them (on either
/// dashboard) was longer than `bound`; a stretch still open at the end fails whatever its
/// length, since nothing says it would close.
pub fn switch_verdict(watch: &SwitchWatch, bound: Duration, why: &str) -> Verdict {
    let Some(last) = watch.looks.last() else {
        return Verdict::Fail("the dashboards were not watched during the switch".into());
    };
    let removed = watch
        .removed
        .map(|r| format!(", the old stack was removed at +{}", format(r)))
        .unwrap_or_default();
    let (longest, open) = darkest(&watch.looks);
    let (Some(first_new), Some(last_new)) = (watch.first_new(), watch.last_new()) else {
        return Verdict::Fail(format!(
            "{} never showed node metrics in {} looks over {}{removed}",
            watch.new_name,
            watch.looks.len(),
            format(last.at)
        ));
    };
    if let Some(since) = open {
        return Verdict::Fail(format!(
            "no dashboard has shown node metrics since +{} ({} until the end of the watch){removed}; {} last showed them at +{}",
            format(since),
            format(last.at - since),
            watch.new_name,
            format(last_new)
        ));
    }
    let shown = format!(
        "{} showed node metrics until +{}, {} from +{}{removed}",
        watch.old_name,
        watch.last_old().map_or("-".into(), format),
        watch.new_name,
        format(first_new)
    );
    if longest > bound {
        return Verdict::Fail(format!(
            "no dashboard showed node metrics for {} during the switch (bound {}: {why}); {shown}",
            format(longest),
            format(bound)
        ));
    }
    // What the looks could not see: a hole shorter than their spacing.
    let spacing = watch
        .looks
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .max()
        .unwrap_or_default();
    Verdict::Pass(format!(
        "{shown}; without node metrics for at most {} in {} looks at most {} apart (bound {}: {why})",
        format(longest),
        watch.looks.len(),
        format(spacing),
        format(bound)
    ))
}

/// Look at both dashboards every `every` until `stop` is set, and once more then; each
/// look is timed from `started`, the monitor's clock. Each context reads its own stack's
/// dashboard; the new one's login token appears only once its stack is applied.
pub async fn watch_dashboards(
    mut old: Ctx,
    mut new: Ctx,
    every: Duration,
    stop: Arc<AtomicBool>,
    started: Instant,
) -> SwitchWatch {
    let (old_stack, new_stack) = (old.config.stack, new.config.stack);
    let mut watch = SwitchWatch {
        old_name: old_stack.ui_release(),
        new_name: new_stack.ui_release(),
        ..Default::default()
    };
    if old_stack == new_stack {
        // One dashboard, upgraded in place.
        watch.old_name.push_str(" (old)");
        watch.new_name.push_str(" (new)");
    }
    // The last look is taken after the stop: the watch ends with the state at the end.
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let at = started.elapsed();
        let (old_shows, new_shows) =
            tokio::join!(shows_node_metrics(&mut old), shows_node_metrics(&mut new));
        watch.looks.push(Sighting {
            at,
            old: old_shows,
            new: new_shows,
        });
        if stopping {
            return watch;
        }
        tokio::time::sleep(every).await;
    }
}

/// Whether a UI's node view has recent non-zero CPU and memory now.
async fn shows_node_metrics(ctx: &mut Ctx) -> bool {
    if ctx.dashboard_token.is_none() {
        ctx.dashboard_token = dashboard::token(ctx).await.ok().flatten();
    }
    if ctx.dashboard_token.is_none() {
        return false;
    }
    if ctx.config.stack == crate::stack::Stack::Headlamp {
        return super::headlamp::shows_node_metrics(ctx, super::headlamp::DEFAULT_CONTEXT).await;
    }
    match dashboard::get(ctx, "/api/v1/node").await {
        Ok(v) => dashboard::list(&v, "nodes", Timestamp::now(), ctx.config.max_age).is_pass(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(looks: &[(u64, bool, bool)]) -> SwitchWatch {
        SwitchWatch {
            old_name: "dashboard v1.10.1".into(),
            new_name: "dashboard v2.7.0".into(),
            looks: looks
                .iter()
                .map(|&(at, old, new)| Sighting {
                    at: Duration::from_secs(at),
                    old,
                    new,
                })
                .collect(),
            removed: Some(Duration::from_secs(20)),
        }
    }

    const BOUND: Duration = Duration::from_secs(35);

    #[test]
    fn a_short_hole_passes_with_the_numbers() {
        let w = watch(&[
            (0, true, false),
            (10, true, true),
            (20, false, false),
            (30, false, true),
        ]);
        match switch_verdict(&w, BOUND, "two scrapes") {
            Verdict::Pass(m) => assert!(
                m.contains("dashboard v1.10.1 showed node metrics until +10s")
                    && m.contains("dashboard v2.7.0 from +10s")
                    && m.contains("removed at +20s")
                    && m.contains(
                        "for at most 10s in 4 looks at most 10s apart (bound 35s: two scrapes)"
                    ),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hole_longer_than_the_bound_fails() {
        let w = watch(&[(0, true, false), (20, false, false), (60, false, true)]);
        assert!(
            matches!(switch_verdict(&w, BOUND, "x"), Verdict::Fail(m) if m.starts_with("no dashboard showed node metrics for 40s during the switch (bound 35s"))
        );
    }

    #[test]
    fn a_hole_exactly_the_bound_passes() {
        let w = watch(&[(0, true, false), (20, false, false), (55, false, true)]);
        assert!(
            switch_verdict(&w, BOUND, "x").is_pass(),
            "{:?}",
            switch_verdict(&w, BOUND, "x")
        );
    }

    #[test]
    fn an_open_hole_names_when_the_new_dashboard_last_showed_them() {
        let w = watch(&[
            (0, true, false),
            (10, true, true),
            (20, false, false),
            (22, false, false),
        ]);
        assert!(
            matches!(switch_verdict(&w, BOUND, "x"), Verdict::Fail(m) if m.ends_with("dashboard v2.7.0 last showed them at +10s")),
            "{:?}",
            switch_verdict(&w, BOUND, "x")
        );
    }

    #[test]
    fn a_hole_still_open_at_the_end_fails_however_short() {
        let w = watch(&[(0, true, true), (20, false, false), (22, false, false)]);
        assert!(
            matches!(switch_verdict(&w, BOUND, "x"), Verdict::Fail(m) if m.contains("since +20s (2s until the end")),
            "{:?}",
            switch_verdict(&w, BOUND, "x")
        );
    }

    #[test]
    fn the_new_dashboard_must_show_them_at_least_once() {
        let w = watch(&[(0, true, false), (5, true, false)]);
        assert!(
            matches!(switch_verdict(&w, BOUND, "x"), Verdict::Fail(m) if m.starts_with("dashboard v2.7.0 never showed node metrics in 2 looks"))
        );
        assert!(matches!(
            switch_verdict(&watch(&[]), BOUND, "x"),
            Verdict::Fail(_)
        ));
    }
}
