//! Preparing the images on the host (pull what is missing, in parallel, optionally
//! from a mirror as the seed did by hand), loading them into every kind node, and
//! checking that every node has them.

use std::process::Command;

use xshell::cmd;

use crate::pipeline::tools::{self, Exec};
use crate::versions::all_stack_images;

/// Mirror reference for an image: `PREFIX/<last path segment>:<tag>`.
pub fn mirror_reference(prefix: &str, image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    format!("{}/{last}", prefix.trim_end_matches('/'))
}

/// What to pull for an image the manifests use: by digest where the version table knows it.
pub fn pull_reference(image: &str) -> String {
    all_stack_images()
        .find(|s| s.reference() == image)
        .map(|s| s.pull_reference())
        .unwrap_or_else(|| image.to_string())
}

/// The commands that bring one missing image into the local docker store.
pub fn pull_commands(image: &str, mirror: Option<&str>) -> Vec<Vec<String>> {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match mirror {
        Some(prefix) => {
            let from = mirror_reference(prefix, image);
            vec![
                args(&["docker", "pull", &from]),
                args(&["docker", "tag", &from, image]),
                args(&["docker", "rmi", &from]),
            ]
        }
        None => {
            let from = pull_reference(image);
            let mut cmds = vec![args(&["docker", "pull", &from])];
            if from != image {
                cmds.push(args(&["docker", "tag", &from, image]));
            }
            cmds
        }
    }
}

/// Pull the images that are not present. Returns the ones pulled.
pub fn prepare(
    exec: &Exec,
    images: &[String],
    mirror: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let sh = exec.sh;
    let missing: Vec<String> = images
        .iter()
        .filter(|i| {
            exec.ask(
                cmd!(sh, "docker image inspect --format")
                    .arg("{{.Id}}")
                    .arg(i),
            )
            .is_none()
        })
        .cloned()
        .collect();
    if exec.dry_run {
        for image in &missing {
            for c in pull_commands(image, mirror) {
                exec.report.line(format!(
                    "  would run (if {image} is not present): {}",
                    c.join(" ")
                ));
            }
        }
        return Ok(missing);
    }
    // Each image's commands run in order; images in parallel.
    let jobs: Vec<(String, Vec<(String, Command)>)> = missing
        .iter()
        .map(|image| {
            let commands = pull_commands(image, mirror)
                .into_iter()
                .map(|c| (c.join(" "), tools::spawnable(sh.cmd(&c[0]).args(&c[1..]))))
                .collect();
            (image.clone(), commands)
        })
        .collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(image, commands)| {
                scope.spawn(move || {
                    for (shown, mut c) in commands {
                        match c.output() {
                            Ok(o) if o.status.success() => {}
                            Ok(o) => {
                                return Some(format!(
                                    "{image}: `{shown}` failed: {}",
                                    String::from_utf8_lossy(&o.stderr).trim()
                                ));
                            }
                            Err(e) => return Some(format!("{image}: cannot run `{shown}`: {e}")),
                        }
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Some("a pull thread panicked".into()))
            })
            .collect()
    });
    if !failures.is_empty() {
        anyhow::bail!("{}", pull_failure_message(&failures, &missing, mirror));
    }
    Ok(missing)
}

/// Why the pull failed and the way around it: the mirror route, with the exact names it
/// would pull.
pub fn pull_failure_message(
    failures: &[String],
    images: &[String],
    mirror: Option<&str>,
) -> String {
    // Only the heapster stack's images are retired; the metrics-server stack's are current.
    let stack_failed = failures.iter().any(|f| {
        crate::versions::STACK_IMAGES
            .iter()
            .any(|s| f.starts_with(&s.reference()))
    });
    let mut out = format!(
        "could not pull {} image(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    if let Some(prefix) = mirror {
        out.push_str(&format!(
            "\nThe mirror {prefix} does not have them (it is asked for PREFIX/<name>:<tag>); pick a mirror that does, or pre-pull the images with docker"
        ));
        return out;
    }
    if stack_failed {
        out.push_str("\nThe heapster stack's 2018 images are retired; that registry.k8s.io still serves every tag is not confirmed (heapster issues #2056, #2059 and #2063 report \"manifest not found\" for grafana v5.0.4 and influxdb v1.5.2).");
    }
    let example = images
        .first()
        .map(|i| format!(" (e.g. PREFIX/{})", i.rsplit('/').next().unwrap_or(i)))
        .unwrap_or_default();
    out.push_str(&format!(
        "\nPull from a mirror that has them: --image-mirror PREFIX pulls PREFIX/<name>:<tag>{example}, retags it to the name the manifests use and removes the mirror tag. Or pre-pull the images with docker and run again."
    ));
    out
}

/// `kind load docker-image` every image into every node, in one call.
pub fn load(exec: &Exec, cluster: &str, images: &[String]) -> anyhow::Result<()> {
    let sh = exec.sh;
    exec.run(cmd!(
        sh,
        "kind load docker-image {images...} --name {cluster}"
    ))
}

/// Images `crictl images` lists on a node, as `repository:tag`.
pub fn parse_crictl_images(output: &str) -> Vec<String> {
    output
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            Some(format!("{}:{}", cols.next()?, cols.next()?))
        })
        .collect()
}

/// `docker.io/library/x:1` and `x:1` name the same image.
pub fn same_image(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.trim_start_matches("docker.io/")
            .trim_start_matches("library/")
            .to_string()
    };
    strip(a) == strip(b)
}

/// Every node must list every image (the kind node is a container: `docker exec NODE crictl images`).
pub fn verify(exec: &Exec, nodes: &[String], images: &[String]) -> anyhow::Result<()> {
    let sh = exec.sh;
    let mut missing = Vec::new();
    for node in nodes {
        let listed =
            parse_crictl_images(&exec.capture(cmd!(sh, "docker exec {node} crictl images"))?);
        for image in images {
            if !exec.dry_run && !listed.iter().any(|l| same_image(l, image)) {
                missing.push(format!("{image} on {node}"));
            }
        }
    }
    if !missing.is_empty() {
        anyhow::bail!("images missing after `kind load`: {}", missing.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_takes_the_last_segment_and_tag() {
        assert_eq!(
            mirror_reference("alleyj", "registry.k8s.io/heapster-amd64:v1.5.4"),
            "alleyj/heapster-amd64:v1.5.4"
        );
        assert_eq!(
            mirror_reference(
                "mirror.example/ns/",
                "registry.k8s.io/heapster-amd64:v1.5.4"
            ),
            "mirror.example/ns/heapster-amd64:v1.5.4"
        );
        let cmds = pull_commands("registry.k8s.io/heapster-amd64:v1.5.4", Some("alleyj"));
        assert_eq!(cmds[0], ["docker", "pull", "alleyj/heapster-amd64:v1.5.4"]);
        assert_eq!(
            cmds[1],
            [
                "docker",
                "tag",
                "alleyj/heapster-amd64:v1.5.4",
                "registry.k8s.io/heapster-amd64:v1.5.4"
            ]
        );
        assert_eq!(cmds[2], ["docker", "rmi", "alleyj/heapster-amd64:v1.5.4"]);
    }

    #[test]
    fn a_failed_pull_names_the_mirror_route() {
        let image = "registry.k8s.io/heapster-grafana-amd64:v5.0.4".to_string();
        let failure = format!("{image}: `docker pull {image}` failed: manifest unknown");
        let m = pull_failure_message(
            std::slice::from_ref(&failure),
            std::slice::from_ref(&image),
            None,
        );
        assert!(m.contains("--image-mirror PREFIX pulls PREFIX/<name>:<tag> (e.g. PREFIX/heapster-grafana-amd64:v5.0.4)"), "{m}");
        assert!(m.contains("not confirmed") && m.contains("#2056"), "{m}");
        let with_mirror = pull_failure_message(&[failure], &[image], Some("docker.io/someone"));
        assert!(
            with_mirror.contains("The mirror docker.io/someone does not have them"),
            "{with_mirror}"
        );
        // The metrics-server stack's images are current: no word of retirement.
        let current = "kubernetesui/dashboard:v2.7.0".to_string();
        let m = pull_failure_message(
            &[format!(
                "{current}: `docker pull {current}` failed: timeout"
            )],
            &[current],
            None,
        );
        assert!(
            !m.contains("retired") && m.contains("--image-mirror"),
            "{m}"
        );
    }

    #[test]
    fn crictl_output_is_parsed() {
        let out = "IMAGE                                TAG      IMAGE ID        SIZE\nregistry.k8s.io/heapster-amd64       v1.5.4   abc             75MB\ndocker.io/library/nginx   1.27  def 1MB\n";
        let images = parse_crictl_images(out);
        assert_eq!(
            images,
            [
                "registry.k8s.io/heapster-amd64:v1.5.4",
                "docker.io/library/nginx:1.27"
            ]
        );
        assert!(same_image(&images[1], "nginx:1.27"));
    }
}
