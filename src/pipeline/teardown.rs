//! The end of a run, whatever happened: kind's logs for the evidence, the load's
//! namespace deleted, and the cluster deleted if this run created it (unless kept).

use std::time::Instant;

use super::RunResult;
use super::cluster;
use super::state::Run;
use crate::exit;

/// `kind export logs` into the evidence, when the evidence is kept.
pub(super) fn export_kind_logs(run: &Run, problems: &mut Vec<String>) {
    if !run.cluster_up {
        return;
    }
    let dir = run.opts.artifacts.join("kind-logs");
    if let Err(e) = cluster::export_logs(&run.exec, &run.opts.name, &dir) {
        problems.push(format!("kind export logs: {}", crate::error::describe(&e)));
    }
}

/// Delete the load's namespace: after a pass, a failure or an interrupt, kept cluster or not.
pub(super) fn stop_load(run: &Run) {
    let (Some(client), Some(namespace)) = (&run.client, &run.load_namespace) else {
        return;
    };
    match run.rt.block_on(super::load::stop(client, namespace)) {
        Ok(()) => run
            .report
            .line(format!("deleted the load namespace {namespace}")),
        Err(e) => run
            .report
            .important(format!("error: {}", crate::error::describe(&e))),
    }
}

/// Delete the cluster if this run created it, unless asked to keep it.
pub(super) fn teardown(run: &Run, result: &mut RunResult) {
    let name = &run.opts.name;
    if !run.created {
        return;
    }
    if run.opts.keep || run.opts.up_only {
        run.report.important(format!(
            "kept cluster {name}: kubectl --context {} get pods -n kube-system",
            cluster::context(name)
        ));
        return;
    }
    run.report.begin("Teardown");
    let start = Instant::now();
    match cluster::delete(&run.exec, name) {
        Ok(()) => run
            .report
            .phase("Teardown", start.elapsed(), &format!("deleted {name}")),
        Err(e) => {
            run.report.abandon();
            run.report.important(format!("error: could not delete cluster {name}: {}; delete it with `kind delete cluster --name {name}`", crate::error::describe(&e)));
            if result.exit == exit::PASSED {
                result.exit = exit::HARNESS;
            }
        }
    }
}
