//! `cargo xtask down`: delete the kind cluster.

use heapster_e2e::pipeline::tools::Exec;
use heapster_e2e::pipeline::{cluster, preflight};
use heapster_e2e::report::Report;

use crate::cli::DownArgs;

pub fn run(sh: &xshell::Shell, args: DownArgs) -> anyhow::Result<i32> {
    let report = Report::new(true);
    let exec = Exec::new(sh, false, &report);
    if !preflight::cluster_exists(&exec, &args.name)? {
        report.line(format!(
            "no kind cluster named {:?}: nothing to delete",
            args.name
        ));
        return Ok(heapster_e2e::exit::PASSED);
    }
    cluster::delete(&exec, &args.name)?;
    report.line(format!("deleted kind cluster {:?}", args.name));
    Ok(heapster_e2e::exit::PASSED)
}
