//! `--dry-run`: after the commands printed so far, what the rest of the run would do.

use super::state::Run;
use super::{apply, manifests};

pub(super) fn print_rest(run: &Run, docs: &[manifests::Manifest]) {
    let opts = run.opts;
    for m in manifests::apply_order(docs) {
        run.report.line(format!(
            "  would apply (server-side, field manager {}): {} ({})",
            apply::FIELD_MANAGER,
            m.describe(),
            m.origin()
        ));
    }
    let deployments: Vec<String> = manifests::deployments(docs)
        .iter()
        .map(|(n, d)| format!("{n}/{d}"))
        .collect();
    run.report.line(format!(
        "  would wait up to {} for: {}",
        crate::duration::format(opts.timeout),
        deployments.join(", ")
    ));
    if let Some(load) = &opts.load
        && !opts.up_only
    {
        run.report.line(format!("  would start the calibrated load ({}m CPU, {} MiB) in a namespace of its own, and delete it at the end", load.cpu_millicores, load.memory_mib));
    }
    if !opts.up_only {
        run.report
            .line("  would run the checks against the cluster".to_string());
    }
    run.report.line(format!(
        "  would keep evidence in {}",
        opts.artifacts.display()
    ));
    run.report.line(format!(
        "  would run: kind delete cluster --name {} (unless --keep)",
        opts.name
    ));
}
