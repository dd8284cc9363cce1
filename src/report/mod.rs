//! How a run is shown and kept: the terminal lines and timings (`terminal`), JUnit, GitHub
//! Actions annotations and job summary, the artifacts directory, a saved baseline, and the
//! version x check table. Every command ends through `finish`.

pub mod artifacts;
pub mod baseline;
mod finish;
pub mod github;
pub mod junit;
pub mod libtest;
pub mod matrix;
pub mod progress;
pub mod summary;
pub mod terminal;

pub use finish::{Finish, clear_stale, finish};
pub use terminal::{Report, Span, Verbosity, phase_line, render_timings};

/// Print a line (or lines) to stdout; nothing for empty text. A closed stdout (`| head`)
/// is ignored rather than a panic: the run, and the cluster's clean-up, go on.
pub fn say(text: &str) {
    use std::io::Write as _;
    if text.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = if text.ends_with('\n') {
        out.write_all(text.as_bytes())
    } else {
        writeln!(out, "{text}")
    };
}

/// Print a line to stderr, ignoring a closed stderr, as `say` does for stdout.
pub fn tell(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
