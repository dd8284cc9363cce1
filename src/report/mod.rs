//! How a run is shown and kept: the terminal lines and timings (`terminal`), JUnit, GitHub
//! Actions annotations and job summary, the artifacts directory, a saved baseline, and the
//! version x check table. Every command ends through `finish`.

pub mod artifacts;
pub mod baseline;
mod finish;
pub mod github;
pub mod junit;
pub mod matrix;
pub mod terminal;

pub use finish::{Finish, clear_stale, finish};
pub use terminal::{Report, Verbosity, render_timings};
