//! Before the cluster: each preflight error, images pulled only when missing and from a
//! mirror, an unpullable image, an invalid manifest; each stops with exit 2 and a message
//! that names the problem and the fix.

use kind_sim::WorldConfig;
use libtest_mimic::Trial;

use super::pipeline::{expect_harness_error, expect_passed, options, run, run_on, world};
use super::{Fakes, TestResult, copy_manifests, stack_images};
use super::{Group, Rt};
use crate::ensure;

pub fn trials(rt: &Rt) -> Vec<Trial> {
    let g = Group::new(rt, "pipeline");
    vec![
        g.trial("preflight::missing_docker", missing_docker),
        g.trial("preflight::missing_kind", missing_kind),
        g.trial("preflight::docker_daemon_down", daemon_down),
        g.trial("preflight::kind_too_old", kind_too_old),
        g.trial("images::pulled_only_when_missing", pulled_only_when_missing),
        g.trial("images::mirror_pulls_retags_and_removes", mirror),
        g.trial("images::unpullable_image_stops_before_the_load", unpullable),
        g.trial(
            "manifests::invalid_document_stops_before_anything",
            invalid_manifest,
        ),
    ]
}

fn missing_docker(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::with_tools(rt, world(), &["kind"]);
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &[
            "`docker` was not found on PATH",
            "install Docker",
            "run `cargo xtask sim`",
        ],
    )?;
    ensure!(
        fakes.calls(rt).is_empty(),
        "nothing may run after a failed preflight"
    );
    Ok(())
}

fn missing_kind(rt: &tokio::runtime::Runtime) -> TestResult {
    let fakes = Fakes::with_tools(rt, world(), &["docker"]);
    let (result, _) = run(rt, &fakes, &options(&fakes));
    expect_harness_error(
        &result,
        &[
            "`kind` was not found on PATH",
            "go install sigs.k8s.io/kind@v0.33.0",
            "run `cargo xtask sim`",
        ],
    )?;
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind")),
        "no kind call"
    );
    Ok(())
}

fn daemon_down(rt: &tokio::runtime::Runtime) -> TestResult {
    let (fakes, result, _) = run_on(
        rt,
        WorldConfig {
            daemon_running: false,
            ..world()
        },
        |_| {},
    );
    expect_harness_error(
        &result,
        &[
            "Docker daemon is not answering",
            "Cannot connect to the Docker daemon",
            "run `cargo xtask sim`",
        ],
    )?;
    ensure!(
        !fakes.calls(rt).iter().any(|c| c.starts_with("kind create")),
        "no cluster after a failed preflight"
    );
    Ok(())
}

fn kind_too_old(rt: &tokio::runtime::Runtime) -> TestResult {
    let (_fakes, result, _) = run_on(
        rt,
        WorldConfig {
            kind_version: "v0.20.0".into(),
            ..world()
        },
        |_| {},
    );
    expect_harness_error(&result, &["kind v0.20.0 is older than the pinned v0.33.0"])
}

fn pulled_only_when_missing(rt: &tokio::runtime::Runtime) -> TestResult {
    let present: Vec<String> = stack_images().into_iter().take(2).collect();
    let (fakes, result, report) = run_on(
        rt,
        WorldConfig {
            local_images: present.clone(),
            ..world()
        },
        |opts| {
            opts.up_only = true;
        },
    );
    expect_passed(&result, &report)?;
    let pulls: Vec<String> = fakes
        .calls(rt)
        .into_iter()
        .filter(|c| c.starts_with("docker pull"))
        .collect();
    ensure!(pulls.len() == 2, "pulled {pulls:?}");
    ensure!(
        pulls
            .iter()
            .all(|p| present.iter().all(|i| !p.ends_with(i.as_str()))),
        "present images were pulled again: {pulls:?}"
    );
    Ok(())
}

fn mirror(rt: &tokio::runtime::Runtime) -> TestResult {
    let registry = stack_images()
        .iter()
        .map(|i| {
            (
                heapster_e2e::pipeline::images::mirror_reference("mirror.local/k8s", i),
                None,
            )
        })
        .collect();
    let (fakes, result, report) = run_on(
        rt,
        WorldConfig {
            registry,
            ..world()
        },
        |opts| {
            opts.image_mirror = Some("mirror.local/k8s".into());
            opts.up_only = true;
        },
    );
    expect_passed(&result, &report)?;
    let calls = fakes.calls(rt);
    for image in stack_images() {
        let from = heapster_e2e::pipeline::images::mirror_reference("mirror.local/k8s", &image);
        let steps = [
            format!("docker pull {from}"),
            format!("docker tag {from} {image}"),
            format!("docker rmi {from}"),
        ];
        let at: Vec<Option<usize>> = steps
            .iter()
            .map(|s| calls.iter().position(|c| c == s))
            .collect();
        ensure!(
            at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]),
            "pull, tag, rmi in order for {image}: {calls:#?}"
        );
    }
    let local = rt.block_on(fakes.world.local_images());
    ensure!(
        local.iter().all(|i| !i.contains("mirror.local")),
        "mirror tags removed: {local:?}"
    );
    ensure!(
        stack_images().iter().all(|i| local.contains(i)),
        "retagged to the manifests' names: {local:?}"
    );
    Ok(())
}

fn unpullable(rt: &tokio::runtime::Runtime) -> TestResult {
    let registry = Fakes::registry_with_stack()
        .into_iter()
        .filter(|(i, _)| !i.contains("grafana"))
        .collect();
    let (fakes, result, _) = run_on(
        rt,
        WorldConfig {
            registry,
            ..world()
        },
        |_| {},
    );
    expect_harness_error(
        &result,
        &[
            "could not pull 1 image",
            "heapster-grafana-amd64:v5.0.4",
            "manifest unknown",
            "--image-mirror",
        ],
    )?;
    // The pulls ran beside the cluster's creation: that cluster is deleted, and nothing
    // is loaded into it.
    let calls = fakes.calls(rt);
    ensure!(
        !calls.iter().any(|c| c.starts_with("kind load")),
        "nothing loaded: {calls:#?}"
    );
    ensure!(
        rt.block_on(fakes.world.cluster_names()).is_empty(),
        "no cluster left behind: {calls:#?}"
    );
    Ok(())
}

fn invalid_manifest(rt: &tokio::runtime::Runtime) -> TestResult {
    let dir = copy_manifests(|name, text| {
        if name == "40-grafana.yaml" {
            text.replace(
                "  selector:\n    matchLabels:\n      k8s-app: grafana\n",
                "",
            )
        } else {
            text
        }
    })?;
    let (fakes, result, _) = run_on(rt, world(), |opts| {
        opts.manifests = dir.path().to_path_buf();
    });
    expect_harness_error(
        &result,
        &[
            "40-grafana.yaml, document 0",
            "requires spec.selector",
            "nothing was applied",
        ],
    )?;
    ensure!(
        !fakes
            .calls(rt)
            .iter()
            .any(|c| c.starts_with("kind create") || c.starts_with("docker pull")),
        "nothing may happen before every manifest is valid"
    );
    Ok(())
}
