//! The kubelet's readiness prober, one worker per container with a readiness probe, as
//! K pkg/kubelet/prober/worker.go (v1.3x) runs it:
//!
//! - the worker starts when the pod is admitted to its node, and its ticker ticks every
//!   `periodSeconds` from then (not from the container's start);
//! - besides the ticker, a pod sync while the container is not ready triggers one run at
//!   once (`prober_manager.go` `UpdatePodStatus`, `manualTriggerCh`); the sync that follows
//!   the container's start is the one that matters here;
//! - a run probes only once `int32(time.Since(startedAt).Seconds()) >= initialDelaySeconds`;
//! - readiness starts as Failure; it changes only after `successThreshold` successes or
//!   `failureThreshold` failures in a row;
//! - a ticker drops the ticks it could not deliver: one run per pass, however late.
//!
//! Absent fields take the API defaults (K pkg/apis/core/v1/defaults.go `SetDefaults_Probe`):
//! period 10, success 1, failure 3, initial delay 0.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

/// A readiness probe's timing, in seconds of its spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    pub initial_delay: u64,
    pub period: u64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ProbeSpec {
    /// The container's `readinessProbe` with the API's defaults; `None` without one.
    pub fn readiness(container: &Value) -> Option<ProbeSpec> {
        let p = container.get("readinessProbe").filter(|p| p.is_object())?;
        let field = |name: &str, default: u64| p[name].as_u64().unwrap_or(default);
        Some(ProbeSpec {
            initial_delay: field("initialDelaySeconds", 0),
            period: field("periodSeconds", 10).max(1),
            success_threshold: field("successThreshold", 1).max(1) as u32,
            failure_threshold: field("failureThreshold", 3).max(1) as u32,
        })
    }
}

/// One worker's state: which ticks it has run, the current streak, and the result the
/// kubelet reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeState {
    ran_at_start: bool,
    last_tick: Option<u64>,
    last_result: Option<bool>,
    run: u32,
    pub ready: bool,
}

/// What a pass of the worker does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// No tick and no trigger since the last run.
    Idle,
    /// A run inside the initial delay: no probe.
    Delayed,
    /// A probe now.
    Probe,
}

impl ProbeState {
    /// Whether a run is due at `now` (the trigger after the container's start, or a tick of
    /// the ticker started at `admitted`), and whether it probes. `second` is how long one
    /// second of the spec lasts.
    pub fn run(
        &mut self,
        spec: ProbeSpec,
        second: Duration,
        admitted: Timestamp,
        started: Timestamp,
        now: Timestamp,
    ) -> Run {
        let second = second.max(Duration::from_nanos(1));
        let elapsed = |since: Timestamp| now.duration_since(since).unsigned_abs();
        let tick = (elapsed(admitted).as_nanos() / (second * spec.period as u32).as_nanos()) as u64;
        let triggered = !self.ran_at_start;
        let ticked = self.last_tick.is_none_or(|last| tick > last);
        if !triggered && !ticked {
            return Run::Idle;
        }
        self.ran_at_start = true;
        self.last_tick = Some(tick);
        // `int32(time.Since(...).Seconds())`: whole seconds of the spec.
        let since_start = (elapsed(started).as_nanos() / second.as_nanos()) as u64;
        if since_start < spec.initial_delay {
            Run::Delayed
        } else {
            Run::Probe
        }
    }

    /// Count a probe's result and change readiness once its streak reaches the threshold.
    pub fn record(&mut self, spec: ProbeSpec, ok: bool) {
        if self.last_result == Some(ok) {
            self.run += 1;
        } else {
            self.last_result = Some(ok);
            self.run = 1;
        }
        let threshold = if ok {
            spec.success_threshold
        } else {
            spec.failure_threshold
        };
        if self.run >= threshold {
            self.ready = ok;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: u64) -> Timestamp {
        "2026-12-01T00:00:00Z".parse::<Timestamp>().unwrap() + Duration::from_secs(s)
    }

    /// metrics-server's shipped probe (MS@v0.9.0 manifests/base/deployment.yaml).
    fn metrics_server() -> ProbeSpec {
        ProbeSpec::readiness(&json!({"readinessProbe": {"httpGet": {"path": "/readyz"},
            "periodSeconds": 10, "failureThreshold": 3, "initialDelaySeconds": 20}}))
        .unwrap()
    }

    /// Runs from `from` to `to` seconds, one pass a second: when each probe ran.
    fn probes(spec: ProbeSpec, admitted: u64, started: u64, to: u64) -> Vec<u64> {
        let mut state = ProbeState::default();
        (started..=to)
            .filter(|s| {
                state.run(spec, Duration::from_secs(1), t(admitted), t(started), t(*s))
                    == Run::Probe
            })
            .collect()
    }

    #[test]
    fn absent_fields_take_the_api_defaults() {
        let spec = ProbeSpec::readiness(&json!({"readinessProbe": {"httpGet": {}}})).unwrap();
        assert_eq!(
            spec,
            ProbeSpec {
                initial_delay: 0,
                period: 10,
                success_threshold: 1,
                failure_threshold: 3
            }
        );
        assert_eq!(ProbeSpec::readiness(&json!({"name": "x"})), None);
    }

    #[test]
    fn probes_follow_the_ticker_from_admission_after_the_initial_delay() {
        // Started 2 s after admission: the 20 s tick is 18 s into the container, so the
        // first probe is the 30 s tick.
        assert_eq!(probes(metrics_server(), 0, 2, 55), vec![30, 40, 50]);
        // Started with the worker: the 20 s tick probes.
        assert_eq!(probes(metrics_server(), 0, 0, 35), vec![20, 30]);
        // No initial delay: the trigger after the start probes at once.
        let heapster = ProbeSpec {
            initial_delay: 0,
            period: 2,
            success_threshold: 1,
            failure_threshold: 3,
        };
        assert_eq!(probes(heapster, 0, 1, 5), vec![1, 2, 4]);
    }

    #[test]
    fn a_late_pass_runs_once_for_the_ticks_it_missed() {
        let spec = metrics_server();
        let mut state = ProbeState::default();
        let run =
            |state: &mut ProbeState, s| state.run(spec, Duration::from_secs(1), t(0), t(0), t(s));
        assert_eq!(run(&mut state, 0), Run::Delayed);
        assert_eq!(run(&mut state, 45), Run::Probe);
        assert_eq!(run(&mut state, 46), Run::Idle);
        assert_eq!(run(&mut state, 50), Run::Probe);
    }

    #[test]
    fn readiness_changes_only_at_the_thresholds() {
        let spec = ProbeSpec {
            success_threshold: 2,
            ..metrics_server()
        };
        let mut state = ProbeState::default();
        state.record(spec, true);
        assert!(!state.ready, "one success of two needed");
        state.record(spec, true);
        assert!(state.ready);
        state.record(spec, false);
        state.record(spec, false);
        assert!(state.ready, "two failures of three needed");
        state.record(spec, true);
        state.record(spec, false);
        state.record(spec, false);
        state.record(spec, false);
        assert!(!state.ready);
    }
}
