//! While checks wait for a state that can still heal, say so now and then: how long, how
//! many checks and what one of them waits for. Without it a slow heapster looks like a
//! hung harness until the deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::checks::Ctx;

/// How often to print the waiting line, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Off,
    Every(Duration),
}

impl Style {
    /// A tenth of the deadline, between 1 s and 15 s: often enough to show life, rare
    /// enough not to bury libtest's lines.
    pub fn for_console(quiet: bool, deadline: Duration) -> Self {
        if quiet {
            Style::Off
        } else {
            Style::Every((deadline / 10).clamp(Duration::from_secs(1), Duration::from_secs(15)))
        }
    }
}

/// Stops the waiting line when dropped.
pub struct Progress(Option<tokio::task::AbortHandle>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Print the waiting line every period of `style` until the returned guard is dropped.
pub fn spawn(rt: &tokio::runtime::Handle, ctx: Arc<Ctx>, style: Style) -> Progress {
    let Style::Every(every) = style else {
        return Progress(None);
    };
    let task = rt.spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticks.tick().await;
            let (elapsed, waiting) = ctx.still_waiting();
            if let Some(text) = line(elapsed, ctx.config.timeout, &waiting) {
                crate::report::say(&text);
            }
        }
    });
    Progress(Some(task.abort_handle()))
}

/// `waiting 12s of 5m: what` (the rollout's and the stack's waits).
pub fn waiting(elapsed: Duration, timeout: Duration, what: &str) -> String {
    let fmt = crate::duration::format;
    format!(
        "waiting {} of {}: {what}",
        fmt(Duration::from_secs(elapsed.as_secs())),
        fmt(timeout)
    )
}

/// `waiting 30s of 5m: 2 checks, e.g. heapster::nodes: heapster lists no nodes yet`;
/// nothing when no check waits.
pub fn line(
    elapsed: Duration,
    timeout: Duration,
    waiting: &BTreeMap<String, String>,
) -> Option<String> {
    let (check, reason) = waiting.iter().next()?;
    let count = match waiting.len() {
        1 => "1 check".to_string(),
        n => format!("{n} checks, e.g."),
    };
    Some(self::waiting(
        elapsed,
        timeout,
        &format!("{count} {check}: {reason}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_follows_the_deadline() {
        let every = |secs| Style::for_console(false, Duration::from_secs(secs));
        assert_eq!(every(300), Style::Every(Duration::from_secs(15)));
        assert_eq!(every(60), Style::Every(Duration::from_secs(6)));
        assert_eq!(every(3), Style::Every(Duration::from_secs(1)));
        assert_eq!(
            Style::for_console(true, Duration::from_secs(60)),
            Style::Off
        );
    }

    #[test]
    fn the_line_names_a_waiting_check_and_its_reason() {
        let mut waiting = BTreeMap::new();
        assert_eq!(
            line(Duration::from_secs(3), Duration::from_secs(60), &waiting),
            None
        );
        waiting.insert(
            "heapster::nodes".to_string(),
            "heapster lists no nodes yet".to_string(),
        );
        assert_eq!(
            line(
                Duration::from_millis(30_400),
                Duration::from_secs(300),
                &waiting
            )
            .as_deref(),
            Some("waiting 30s of 5m: 1 check heapster::nodes: heapster lists no nodes yet")
        );
        waiting.insert(
            "dashboard::log".to_string(),
            "no health check line yet".to_string(),
        );
        let two = line(Duration::from_secs(30), Duration::from_secs(300), &waiting).unwrap();
        assert!(
            two.contains("2 checks, e.g. dashboard::log: no health check line yet"),
            "{two}"
        );
    }
}
