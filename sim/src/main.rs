//! `kind-sim`: start one simulated cluster by hand, or act as the fake `kind`/`docker`
//! when invoked under those names.

use kind_sim::{Scenario, SimConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if let Some(tool) = kind_sim::shim::invoked_as() {
        std::process::exit(kind_sim::shim::run(tool));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario_name = args
        .iter()
        .position(|a| a == "--scenario")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or("healthy");
    let Some(scenario) = Scenario::from_name(scenario_name) else {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        eprintln!(
            "unknown scenario {scenario_name:?}; known: {}",
            names.join(", ")
        );
        std::process::exit(2);
    };
    let handle = kind_sim::start(SimConfig::scenario("sim", scenario)).await?;
    let path = std::env::temp_dir().join(format!("kind-sim-{}.kubeconfig", std::process::id()));
    handle.write_kubeconfig(&path)?;
    println!("{}", path.display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
