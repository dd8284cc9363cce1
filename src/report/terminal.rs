//! What the run prints: one line per phase with its duration, like cargo-nextest's status
//! lines. On a terminal a spinner with the elapsed time runs while a phase works; under
//! GitHub Actions each phase is a `::group::`; elsewhere (pipes, CI logs) plain lines.
//! `-q` keeps errors and the summary only; `-v` adds every command run. Lines are also
//! kept, for tests and for the artifacts.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Progress,
    GitHub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// One phase's place in time: when it started (from the run's start) and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub phase: String,
    pub start: Duration,
    pub took: Duration,
}

impl Span {
    pub fn end(&self) -> Duration {
        self.start + self.took
    }
}

type PhaseHook = Box<dyn Fn(&str) + Send + Sync>;

pub struct Report {
    echo: bool,
    style: Style,
    verbosity: Verbosity,
    started: Instant,
    lines: Mutex<Vec<(Verbosity, String)>>,
    /// The phase begun and not yet ended: the one to blame if the run stops.
    current: Mutex<Option<String>>,
    /// When each phase began (for a phase that failed: how long it ran).
    began: Mutex<std::collections::HashMap<String, Instant>>,
    timings: Mutex<Vec<Span>>,
    on_phase: Mutex<Option<PhaseHook>>,
    spinner: Mutex<Option<indicatif::ProgressBar>>,
    /// The GitHub Actions group open now: only the phase that opened it closes it (phases
    /// that ran beside others were never a group).
    group: Mutex<Option<String>>,
}

/// Width of the phase column: the longest label (`Remove old stack`), so lines align.
const PHASE_WIDTH: usize = 16;

/// `         Cluster [  31.2s] created e2e`: a phase, how long it took, what it did.
pub fn phase_line(phase: &str, took: Duration, message: &str) -> String {
    format!(
        "{phase:>PHASE_WIDTH$} [{:>6.1}s] {message}",
        took.as_secs_f64()
    )
}

impl Report {
    /// Plain lines; `echo`: print as well as keep.
    pub fn new(echo: bool) -> Self {
        Self::with(echo, Style::Plain, Verbosity::Normal)
    }

    /// Kept, not printed, to be shown later at `verbosity` (runs that overlap).
    pub fn buffered(verbosity: Verbosity) -> Self {
        Self::with(false, Style::Plain, verbosity)
    }

    /// For people and CI: the style the environment calls for.
    pub fn for_console(verbosity: Verbosity) -> Self {
        let style = if crate::report::github::is_actions() {
            Style::GitHub
        } else if std::io::stdout().is_terminal() && std::env::var_os("CI").is_none() {
            Style::Progress
        } else {
            Style::Plain
        };
        Self::with(true, style, verbosity)
    }

    fn with(echo: bool, style: Style, verbosity: Verbosity) -> Self {
        Report {
            echo,
            style,
            verbosity,
            started: Instant::now(),
            lines: Mutex::default(),
            current: Mutex::default(),
            began: Mutex::default(),
            timings: Mutex::default(),
            on_phase: Mutex::default(),
            spinner: Mutex::default(),
            group: Mutex::default(),
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    fn print(&self, text: &str, level: Verbosity) {
        self.lines
            .lock()
            .expect("report lock")
            .push((level, text.to_string()));
        if !self.echo || level > self.verbosity {
            return;
        }
        match self.spinner.lock().expect("report lock").as_ref() {
            Some(s) => s.println(text),
            None => crate::report::say(text),
        }
    }

    /// A note at normal verbosity.
    pub fn line(&self, text: impl Into<String>) {
        self.print(&text.into(), Verbosity::Normal);
    }

    /// Errors and the final summary: shown even with `-q`.
    pub fn important(&self, text: impl Into<String>) {
        self.print(&text.into(), Verbosity::Quiet);
    }

    /// Detail shown with `-v` only (the commands run).
    pub fn detail(&self, text: impl Into<String>) {
        self.print(&text.into(), Verbosity::Verbose);
    }

    /// A phase starts: a spinner on a terminal, a group under GitHub Actions.
    pub fn begin(&self, phase: &str) {
        *self.current.lock().expect("report lock") = Some(phase.to_string());
        self.began
            .lock()
            .expect("report lock")
            .insert(phase.to_string(), Instant::now());
        if !self.echo || self.verbosity == Verbosity::Quiet {
            return;
        }
        match self.style {
            Style::GitHub => {
                let mut group = self.group.lock().expect("report lock");
                if group.is_none() {
                    *group = Some(phase.to_string());
                    crate::report::say(&format!("::group::{phase}"));
                }
            }
            Style::Progress => {
                let spinner = indicatif::ProgressBar::new_spinner();
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{spinner} {msg:>12} [{elapsed:>5}]")
                {
                    spinner.set_style(style);
                }
                spinner.set_message(phase.to_string());
                spinner.enable_steady_tick(Duration::from_millis(100));
                *self.spinner.lock().expect("report lock") = Some(spinner);
            }
            Style::Plain => {}
        }
    }

    /// `   Cluster [  31.2s] created e2e`, ending the phase, which ran for `took` until now.
    pub fn phase(&self, phase: &str, took: Duration, message: &str) {
        self.span(
            phase,
            Instant::now().checked_sub(took).unwrap_or(self.started),
            message,
        );
    }

    /// End a phase that began at `began` (it may have run beside others).
    pub fn span(&self, phase: &str, began: Instant, message: &str) {
        self.record(phase, began, Instant::now(), message);
    }

    /// A phase that ran from `began` to `ended`, beside others (its line comes when it is
    /// joined).
    pub fn record(&self, phase: &str, began: Instant, ended: Instant, message: &str) {
        let took = ended.saturating_duration_since(began);
        self.current.lock().expect("report lock").take();
        if let Some(s) = self.spinner.lock().expect("report lock").take() {
            s.finish_and_clear();
        }
        self.timings.lock().expect("report lock").push(Span {
            phase: phase.to_string(),
            start: began.saturating_duration_since(self.started),
            took,
        });
        self.line(phase_line(phase, took, message));
        let mut group = self.group.lock().expect("report lock");
        if group.as_deref() == Some(phase) {
            group.take();
            crate::report::say("::endgroup::");
        }
        if let Some(hook) = self.on_phase.lock().expect("report lock").as_ref() {
            hook(phase);
        }
    }

    /// End a phase that failed: no timing line, but the spinner or group is closed.
    pub fn abandon(&self) {
        if let Some(s) = self.spinner.lock().expect("report lock").take() {
            s.finish_and_clear();
        }
        if self.group.lock().expect("report lock").take().is_some() {
            crate::report::say("::endgroup::");
        }
    }

    /// Be told of each finished phase (tests use it to interrupt a run at a known point).
    pub fn on_phase(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        *self.on_phase.lock().expect("report lock") = Some(Box::new(hook));
    }

    /// Every line kept, whatever the verbosity (for tests and the artifacts).
    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().expect("report lock");
        lines.iter().map(|(_, l)| l.clone()).collect()
    }

    /// The lines this report's verbosity shows.
    pub fn shown_lines(&self) -> Vec<String> {
        let lines = self.lines.lock().expect("report lock");
        lines
            .iter()
            .filter(|(level, _)| *level <= self.verbosity)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Blame `phase` if the run stops now (a phase that ran beside another and failed).
    pub fn stopped_in(&self, phase: &str) {
        *self.current.lock().expect("report lock") = Some(phase.to_string());
    }

    /// The phase that began and has not ended: where a run that stops stopped.
    pub fn current_phase(&self) -> Option<String> {
        self.current.lock().expect("report lock").clone()
    }

    /// How long `phase` has run since it began (zero if it never began).
    pub fn running_for(&self, phase: &str) -> Duration {
        self.began
            .lock()
            .expect("report lock")
            .get(phase)
            .map_or(Duration::ZERO, |b| b.elapsed())
    }

    pub fn timings(&self) -> Vec<Span> {
        self.timings.lock().expect("report lock").clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A check's line for checks libtest did not run (before an upgrade, the upgrade's gap):
/// `test before::heapster::nodes ... FAILED: heapster lists no nodes yet`.
pub fn outcome_line(o: &crate::checks::Outcome) -> String {
    let state = if o.passed {
        "ok"
    } else if o.failed() {
        "FAILED"
    } else if o.interrupted {
        "interrupted"
    } else {
        "ignored"
    };
    let first = o.message.lines().next().unwrap_or_default();
    format!("test {} ... {state}: {first}", o.name)
}

/// The timing table printed at the end: each phase, and when the first metrics appeared.
pub fn render_timings(timings: &[Span], first_metrics: Option<Duration>) -> String {
    let mut rows: Vec<(String, Duration)> =
        timings.iter().map(|s| (s.phase.clone(), s.took)).collect();
    if let Some(first) = first_metrics {
        let at = rows
            .iter()
            .position(|(p, _)| p == "Checks")
            .unwrap_or(rows.len());
        rows.insert(at, ("First metrics".into(), first));
    }
    let mut out = String::from("\nTimings\n");
    for (phase, took) in rows {
        out.push_str(&format!("  {phase:<16} {:>7.1}s\n", took.as_secs_f64()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_table_puts_first_metrics_before_the_checks() {
        let span = |phase: &str, took| Span {
            phase: phase.into(),
            start: Duration::ZERO,
            took: Duration::from_secs(took),
        };
        let t = vec![span("Rollout", 30), span("Checks", 12)];
        let table = render_timings(&t, Some(Duration::from_secs(4)));
        let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].contains("First metrics") && lines[1].contains("4.0s"),
            "{table}"
        );
        assert!(lines[2].contains("Checks"));
        let long = render_timings(&[span("Load generators", 0), span("Checks", 12)], None);
        let ends: Vec<usize> = long
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(str::len)
            .collect();
        assert!(
            ends.windows(2).all(|w| w[0] == w[1]),
            "columns line up:\n{long}"
        );
    }

    #[test]
    fn quiet_keeps_lines_but_only_important_ones_would_print() {
        let r = Report::with(false, Style::Plain, Verbosity::Quiet);
        r.line("note");
        r.important("error: x");
        r.detail("kind get clusters");
        assert_eq!(r.lines(), ["note", "error: x", "kind get clusters"]);
        assert_eq!(r.shown_lines(), ["error: x"]);
        let normal = Report::buffered(Verbosity::Normal);
        normal.line("note");
        normal.detail("kind get clusters");
        assert_eq!(normal.shown_lines(), ["note"]);
    }
}
