//! `--dry-run`: after the commands printed so far, what the rest of the run would do.

use super::phases::Prepared;
use super::state::Run;
use super::{apply, manifests, remove, upgrade};

pub(super) fn print_rest(run: &Run, prepared: &Prepared) {
    let opts = run.opts;
    let docs = &prepared.docs;
    let (old_stack, new_stack) = (prepared.old_stack, opts.checks.stack);
    if let Some(old) = &prepared.old_docs {
        run.report.line(format!(
            "  would apply the {} objects to upgrade from ({old_stack} stack), wait for them and run its checks",
            old.len()
        ));
        let watched = if upgrade::watches_series(old_stack, new_stack) {
            "heapster's node series".to_string()
        } else {
            format!(
                "the node metrics of {} and {}",
                old_stack.ui_release(),
                new_stack.ui_release()
            )
        };
        run.report.line(format!(
            "  would watch {watched} from then until the checks end"
        ));
    }
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
    if let Some(old) = &prepared.old_docs
        && old_stack != new_stack
    {
        for m in remove::leftovers(old, docs) {
            run.report.line(format!(
                "  would delete (the {old_stack} stack): {} ({})",
                m.describe(),
                m.origin()
            ));
        }
        let (bound, why) = upgrade::switch_bound(docs);
        run.report.line(format!(
            "  would fail if no dashboard showed node metrics for longer than {} ({why})",
            crate::duration::format(bound)
        ));
    }
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
