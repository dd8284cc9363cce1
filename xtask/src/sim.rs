//! `cargo xtask sim`: a simulated cluster to explore the checks without Docker, plus
//! fake `kind` and `docker` for trying `cargo xtask e2e` end to end.

use heapster_e2e::report::say;
use heapster_e2e::{manifests, versions};
use kind_sim::{SimConfig, World, WorldConfig};

use crate::cli::SimArgs;

pub fn run(rt: &tokio::runtime::Runtime, args: SimArgs) -> anyhow::Result<i32> {
    let scenario = args.scenario;
    let stack = args.stack.get();
    if !scenario.applies_to(stack.name()) {
        anyhow::bail!(
            "scenario `{}` acts only on the {} stack, not on {stack}: it would change nothing; pass --stack {}",
            scenario.name(),
            scenario.stacks().join(" and "),
            scenario.stacks().join(" or --stack ")
        );
    }
    let docs = manifests::load_dir(&stack.manifests(&crate::cli::workspace_root()))?;
    let images = manifests::images(&docs);
    let dir = std::env::temp_dir().join(format!("heapster-e2e-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let mut config = SimConfig::scenario("sim", scenario);
    config.timing = kind_sim::Timing::realistic();
    // As `kind load` would have put them there: the stack's images and the load's.
    config.preloaded_images = images
        .iter()
        .cloned()
        .chain([versions::LOAD_IMAGE.reference()])
        .collect();
    let handle = rt.block_on(kind_sim::start(config))?;
    let kubeconfig = dir.join("kubeconfig");
    handle.write_kubeconfig(&kubeconfig)?;
    let client = rt.block_on(heapster_e2e::kubeclient::connect(Some(&kubeconfig), None))?;
    rt.block_on(heapster_e2e::pipeline::apply::apply(&client, &docs, |_| {}))?;

    let registry = versions::all_stack_images()
        .chain([&versions::LOAD_IMAGE])
        .map(|i| (i.reference(), None))
        .collect();
    let world = World::new(WorldConfig {
        registry,
        scenario,
        ..Default::default()
    });
    let control = rt.block_on(world.serve())?;
    let bin = kind_sim::shim::install(
        &dir.join("bin"),
        &std::env::current_exe()?,
        kind_sim::shim::TOOLS,
    )?;

    // Listening before saying "Press Ctrl-C": a signal sent on reading that line must
    // find its handler, not the default action (which would leave the folder behind).
    let stop = {
        let _runtime = rt.enter();
        stop_signals()?
    };
    say(&format!(
        "Simulated cluster ({}) running; its kubeconfig:",
        scenario.name()
    ));
    say(&kubeconfig.display().to_string());
    say("\nThe stack is applied and starting; look at it and check it (simulated, no Docker):");
    say(&format!(
        "  kubectl --kubeconfig {} get nodes,pods -A",
        kubeconfig.display()
    ));
    say(&format!(
        "  cargo xtask check --kubeconfig {} --timeout 2m --stack {stack}",
        kubeconfig.display()
    ));
    say("\nOr run the whole pipeline against fake kind and docker, in another shell:");
    say(&format!(
        "  export PATH={}:$PATH {}={control} KUBECONFIG={}",
        bin.display(),
        kind_sim::shim::CONTROL_ENV,
        dir.join("kube-config").display()
    ));
    say(&format!("  cargo xtask e2e --stack {stack}"));
    say("\nPress Ctrl-C to stop.");
    rt.block_on(stop);
    drop(handle);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// Ctrl-C, or the SIGTERM of `kill` or the SIGHUP of a closed terminal: each stops the
/// simulator the same way, removing its folder. The handlers are installed when this is
/// called; the future ends at the first of the three.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    })
}
