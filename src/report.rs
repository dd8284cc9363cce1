//! What the run prints: one line per phase with its duration, like cargo-nextest's
//! status lines, plus notes. Lines are also kept, for tests and for the artifacts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

type PhaseHook = Box<dyn Fn(&str) + Send + Sync>;

pub struct Report {
    echo: bool,
    started: Instant,
    lines: Mutex<Vec<String>>,
    timings: Mutex<Vec<(String, Duration)>>,
    on_phase: Mutex<Option<PhaseHook>>,
}

impl Report {
    /// `echo`: print as well as keep.
    pub fn new(echo: bool) -> Self {
        Report {
            echo,
            started: Instant::now(),
            lines: Mutex::default(),
            timings: Mutex::default(),
            on_phase: Mutex::default(),
        }
    }

    pub fn line(&self, text: impl Into<String>) {
        let text = text.into();
        if self.echo {
            println!("{text}");
        }
        self.lines.lock().expect("report lock").push(text);
    }

    /// `   Cluster [  31.2s] created e2e`.
    pub fn phase(&self, phase: &str, took: Duration, message: &str) {
        self.timings
            .lock()
            .expect("report lock")
            .push((phase.to_string(), took));
        self.line(format!(
            "{phase:>12} [{:>6.1}s] {message}",
            took.as_secs_f64()
        ));
        if let Some(hook) = self.on_phase.lock().expect("report lock").as_ref() {
            hook(phase);
        }
    }

    /// Be told of each finished phase (tests use it to interrupt a run at a known point).
    pub fn on_phase(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        *self.on_phase.lock().expect("report lock") = Some(Box::new(hook));
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("report lock").clone()
    }

    pub fn timings(&self) -> Vec<(String, Duration)> {
        self.timings.lock().expect("report lock").clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
