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
    quiet_on_closed_stdout();
    let cli = cli::Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            heapster_e2e::report::tell(&format!("error: {}", heapster_e2e::error::describe(&e)));
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

/// A closed stdout (`cargo xtask e2e | head`) makes the test printer panic; the run goes
/// on and cleans up, so that panic is not news. Every other panic is reported as usual.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if !text.contains("Broken pipe") {
            default(info);
        }
    }));
}
