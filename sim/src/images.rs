//! Image references as container runtimes print them.

/// Fully qualify a reference the way containerd lists it: `nginx:1` ->
/// `docker.io/library/nginx:1`; a missing tag means `latest`.
pub fn normalize(reference: &str) -> String {
    let (name, suffix) = match reference.split_once('@') {
        Some((name, digest)) => (name.to_string(), format!("@{digest}")),
        None => {
            let last = reference.rsplit('/').next().unwrap_or(reference);
            if last.contains(':') {
                (reference.to_string(), String::new())
            } else {
                (reference.to_string(), ":latest".to_string())
            }
        }
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = if has_registry {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{name}{suffix}")
}

/// `(repository, tag)` of a normalized reference without digest.
pub fn split_tag(reference: &str) -> (String, String) {
    let normalized = normalize(reference);
    match normalized.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (normalized, "latest".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_containerd() {
        assert_eq!(normalize("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize("alleyj/heapster-amd64:v1.4.0"),
            "docker.io/alleyj/heapster-amd64:v1.4.0"
        );
        assert_eq!(
            normalize("registry.k8s.io/heapster-amd64:v1.5.4"),
            "registry.k8s.io/heapster-amd64:v1.5.4"
        );
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(
            split_tag("registry.k8s.io/heapster-amd64:v1.5.4"),
            ("registry.k8s.io/heapster-amd64".into(), "v1.5.4".into())
        );
    }
}
