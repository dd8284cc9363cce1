//! `cargo xtask`: the heapster e2e harness's command line. A thin layer: parse flags,
//! build one shell at the project root, dispatch; the work lives in the `heapster-e2e`
//! library that the tests share.

mod check;
mod cli;
mod down;
mod e2e;
mod lint;
mod sim;

use clap::Parser;

fn main() {
    // Started as `kind` or `docker` (a link made by `cargo xtask sim`): be the fake tool.
    if let Some(tool) = kind_sim::shim::invoked_as() {
        std::process::exit(kind_sim::shim::run(tool));
    }
    let cli = cli::Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", heapster_e2e::error::describe(&e));
            heapster_e2e::exit::HARNESS
        }
    };
    std::process::exit(code);
}

fn run(cli: cli::Cli) -> anyhow::Result<i32> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(cli::workspace_root());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        cli::Command::E2e(args) => e2e::run_e2e(&sh, &rt, args),
        cli::Command::Up(args) => e2e::run_up(&sh, &rt, args),
        cli::Command::Check(args) => check::run(&rt, args),
        cli::Command::Down(args) => down::run(&sh, args),
        cli::Command::Lint(args) => lint::run(&sh, args),
        cli::Command::Sim(args) => sim::run(&rt, args),
    }
}
