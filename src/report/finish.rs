//! The one way every run ends (`e2e`, `up`, `check`): the small artifact files always;
//! on failure (or `--keep-artifacts`) the cluster's evidence and the raw answers the
//! checks judged; JUnit when asked; under GitHub Actions the annotations and the job
//! summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kube::Client;

use super::{Report, artifacts, github, junit};
use crate::checks::{Outcome, Summary};
use crate::kubeclient::Answer;

/// Everything a run leaves to be reported.
pub struct Finish<'a> {
    /// `heapster-e2e (Kubernetes 1.37)`: the JUnit suite and job summary title.
    pub title: String,
    pub exit: i32,
    /// Why the run stopped before or instead of the checks.
    pub error: Option<&'a str>,
    pub outcomes: &'a [Outcome],
    /// With an add-on upgrade: the checks of the old manifests (kept, never fatal).
    pub before: &'a [Outcome],
    pub summary: &'a Summary,
    pub timings: &'a [super::Span],
    pub first_metrics: Option<Duration>,
    /// This run's evidence directory.
    pub artifacts: &'a Path,
    /// Keep the full evidence on success too.
    pub keep_all: bool,
    /// The cluster, when one was reached: its logs, events and objects are evidence.
    pub client: Option<&'a Client>,
    pub responses: Option<&'a BTreeMap<String, Answer>>,
    /// A pod the rollout found stuck (`namespace/name`).
    pub stuck_pod: Option<&'a str>,
    pub junit: Option<&'a Path>,
    /// The stack checked: where its pods and objects are.
    pub stack: crate::stack::Stack,
}

impl Finish<'_> {
    /// Whether the full evidence is kept: on failure, or when asked.
    pub fn keeps_evidence(&self) -> bool {
        self.exit != crate::exit::PASSED || self.keep_all
    }
}

/// Write what the run leaves behind; problems are reported as warnings, never fatal.
pub async fn finish(f: &Finish<'_>, report: &Report) {
    let dir = f.artifacts;
    let mut problems = Vec::new();
    if let Err(e) = artifacts::write_small(
        dir,
        f.timings,
        f.first_metrics,
        f.summary,
        f.outcomes,
        f.before,
    ) {
        problems.push(crate::error::describe(&e));
    }
    if f.keeps_evidence() {
        if let Some(client) = f.client {
            let failing: Vec<String> = f
                .outcomes
                .iter()
                .filter(|o| o.failed())
                .map(|o| o.name.clone())
                .collect();
            if let Err(e) =
                artifacts::write_cluster_evidence(client, dir, &failing, f.stuck_pod, f.stack).await
            {
                problems.push(format!("cluster evidence: {}", crate::error::describe(&e)));
            }
        }
        if let Some(responses) = f.responses
            && let Err(e) = artifacts::write_responses(dir, responses)
        {
            problems.push(format!("responses: {}", crate::error::describe(&e)));
        }
        // Before a cluster was reached there is nothing but the small files to point at.
        if f.client.is_some() || f.responses.is_some_and(|r| !r.is_empty()) {
            report.important(format!("evidence kept in {}", dir.display()));
        }
    }
    if let Some(path) = f.junit
        && let Err(e) = junit::write(path, &[(f.title.clone(), f.outcomes)])
    {
        problems.push(crate::error::describe(&e));
    }
    if github::is_actions() {
        super::say(&github::annotations(f.outcomes));
        if let Some(error) = f.error {
            super::say(&format!(
                "::error title=heapster-e2e::{}",
                github::escape(error)
            ));
        }
        let md = github::step_summary(&f.title, f.exit, f.outcomes, f.summary, f.timings);
        if let Err(e) = github::write_step_summary(&md) {
            problems.push(format!("job summary: {e}"));
        }
    }
    for p in problems {
        report.important(format!("warning: could not keep all evidence: {p}"));
    }
}

/// Remove evidence a previous run left in `dir`, so what is there is this run's.
pub fn clear_stale(dir: &Path) {
    for stale in ["responses", "pods", "objects", "kind-logs", "events.txt"] {
        let _ = std::fs::remove_dir_all(dir.join(stale))
            .or_else(|_| std::fs::remove_file(dir.join(stale)));
    }
}
