//! The fake `docker`: images (pull, tag, inspect, rmi, save) against the world's store
//! and registry, and `info` for the daemon check.

use serde_json::Value;

use super::{DAEMON_DOWN, Invocation, Output, World, image_id};
use crate::images::{normalize, split_tag};

impl World {
    pub(super) async fn docker(&self, inv: &Invocation) -> Output {
        let args = &inv.args;
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        if words.first() == Some(&"--version") {
            return Output::ok("Docker version 28.2.2, build e6534b4\n");
        }
        if !self.config.daemon_running {
            if let ["version", ..] = words.as_slice() {
                return Output {
                    code: 1,
                    stdout: "Client:\n Version: 28.2.2\n".into(),
                    stderr: format!("{DAEMON_DOWN}\n"),
                };
            }
            return Output::err(1, format!("{DAEMON_DOWN}\n"));
        }
        let mut st = self.state.lock().await;
        match words.as_slice() {
            ["info", ..] => Output::ok(if words.contains(&"--format") {
                "28.2.2\n".to_string()
            } else {
                "Server Version: 28.2.2\nArchitecture: x86_64\n".into()
            }),
            ["version", ..] => Output::ok("28.2.2\n"),
            ["image", "inspect", rest @ ..] | ["inspect", rest @ ..] => {
                let refs: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|a| !a.starts_with("--") && !a.contains("{{"))
                    .collect();
                let mut out = Vec::new();
                for r in &refs {
                    match st.local.get(&normalize(r)) {
                        Some(id) => out.push(serde_json::json!({"Id": id, "RepoTags": [r]})),
                        None => {
                            return Output {
                                code: 1,
                                stdout: "[]\n".into(),
                                stderr: format!("Error response from daemon: No such image: {r}\n"),
                            };
                        }
                    }
                }
                if words.iter().any(|w| w.contains("{{.Id}}")) {
                    Output::ok(
                        out.iter()
                            .map(|o| format!("{}\n", o["Id"].as_str().unwrap_or_default()))
                            .collect::<String>(),
                    )
                } else {
                    Output::ok(format!("{}\n", Value::Array(out)))
                }
            }
            ["pull", reference] | ["pull", "--quiet", reference] | ["pull", "-q", reference] => {
                let wanted = normalize(reference);
                // The scenario's missing image is served by no registry.
                let servable = self.config.scenario.faults("").loads(reference);
                let found = servable
                    && self.config.registry.iter().any(|(repo_tag, digest)| {
                        let n = normalize(repo_tag);
                        n == wanted
                            || digest
                                .as_ref()
                                .is_some_and(|d| format!("{}@{d}", split_tag(&n).0) == wanted)
                    });
                if !found {
                    let (repo, tag) = split_tag(reference.split('@').next().unwrap_or(reference));
                    return Output::err(
                        1,
                        format!(
                            "Error response from daemon: manifest for {repo}:{tag} not found: manifest unknown: manifest unknown\n"
                        ),
                    );
                }
                st.local.insert(wanted.clone(), image_id(&wanted));
                Output::ok(format!(
                    "{}: Pulling from {}\nStatus: Downloaded newer image for {reference}\n{wanted}\n",
                    split_tag(reference).1,
                    split_tag(reference).0
                ))
            }
            ["tag", src, dst] => match st.local.get(&normalize(src)).cloned() {
                Some(id) => {
                    st.local.insert(normalize(dst), id);
                    Output::ok("")
                }
                None => Output::err(
                    1,
                    format!("Error response from daemon: No such image: {src}\n"),
                ),
            },
            ["rmi", refs @ ..] | ["image", "rm", refs @ ..] => {
                let mut out = String::new();
                for r in refs.iter().filter(|r| !r.starts_with('-')) {
                    if st.local.remove(&normalize(r)).is_none() {
                        return Output::err(
                            1,
                            format!("Error response from daemon: No such image: {r}\n"),
                        );
                    }
                    out.push_str(&format!("Untagged: {r}\n"));
                }
                Output::ok(out)
            }
            ["save", "-o", file, refs @ ..] | ["save", "--output", file, refs @ ..] => {
                for r in refs.iter() {
                    if !st.local.contains_key(&normalize(r)) {
                        return Output::err(
                            1,
                            format!("Error response from daemon: reference does not exist: {r}\n"),
                        );
                    }
                }
                match std::fs::write(inv.path(file), refs.join("\n")) {
                    Ok(()) => Output::ok(""),
                    Err(e) => Output::err(1, format!("open {file}: {e}\n")),
                }
            }
            ["exec", node, "crictl", "images", ..] => {
                let images = st.clusters.values().find_map(|c| c.images_on(node));
                match images {
                    Some(images) => {
                        let mut out = String::from(
                            "IMAGE                                      TAG                  IMAGE ID            SIZE\n",
                        );
                        for image in images {
                            let (repo, tag) = split_tag(&image);
                            out.push_str(&format!(
                                "{repo:<42} {tag:<20} {:<19} 42.1MB\n",
                                &image_id(&image)[7..20]
                            ));
                        }
                        Output::ok(out)
                    }
                    None => Output::err(
                        1,
                        format!("Error response from daemon: No such container: {node}\n"),
                    ),
                }
            }
            _ => Output::err(
                1,
                format!(
                    "docker: '{}' is not a docker command the simulation knows.\n",
                    words.join(" ")
                ),
            ),
        }
    }
}
