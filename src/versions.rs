//! Every pinned version in one place. The manifests, the xtask and the CI workflow are
//! checked against this table by tests (`tests/checks.rs`, `pinned::*`).

/// kind release, and the oldest one the harness accepts: node images are built per kind
/// release, so an older kind may not run them.
pub const KIND_VERSION: &str = "v0.33.0";
pub const KIND_MIN_VERSION: (u32, u32, u32) = (0, 33, 0);

/// A kind node image for one Kubernetes minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeImage {
    /// `MAJOR.MINOR`, as given to `--k8s-version`.
    pub minor: &'static str,
    pub image: &'static str,
    pub digest: &'static str,
}

impl NodeImage {
    /// The pinned reference kind is given: tag and digest.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.image, self.digest)
    }
}

/// The images kind v0.33.0's release notes list as built for it.
pub const NODE_IMAGES: &[NodeImage] = &[
    NodeImage {
        minor: "1.37",
        image: "kindest/node:v1.37.0",
        digest: "sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
    },
    NodeImage {
        minor: "1.36",
        image: "kindest/node:v1.36.4",
        digest: "sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
    },
    NodeImage {
        minor: "1.35",
        image: "kindest/node:v1.35.8",
        digest: "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
    },
    NodeImage {
        minor: "1.34",
        image: "kindest/node:v1.34.11",
        digest: "sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
    },
];

/// kind v0.33.0's default.
pub const DEFAULT_K8S_VERSION: &str = "1.37";

/// The node image for `minor`, or an error that lists the known versions.
pub fn node_image(minor: &str) -> Result<&'static NodeImage, String> {
    NODE_IMAGES.iter().find(|n| n.minor == minor).ok_or_else(|| {
        let known: Vec<&str> = NODE_IMAGES.iter().map(|n| n.minor).collect();
        format!("unknown Kubernetes version {minor:?}: this harness pins node images for {} (kind {KIND_VERSION}); pass one of them, or --node-image IMAGE", known.join(", "))
    })
}

/// An image of the monitoring stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackImage {
    pub repository: &'static str,
    pub tag: &'static str,
    /// Repo digest where it is known; no digest is known from here for these retired
    /// images, so they are pinned by tag only.
    pub digest: Option<&'static str>,
    /// Built for linux/amd64 only.
    pub amd64_only: bool,
}

impl StackImage {
    /// The name the manifests use (tag only: images loaded with `kind load` carry no repo digest).
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// What `docker pull` is given: by digest where known, else by tag.
    pub fn pull_reference(&self) -> String {
        match self.digest {
            Some(d) => format!("{}@{d}", self.repository),
            None => self.reference(),
        }
    }
}

/// The heapster stack (the last releases of each) and the dashboard that reads it.
pub const STACK_IMAGES: &[StackImage] = &[
    StackImage {
        repository: "registry.k8s.io/heapster-amd64",
        tag: "v1.5.4",
        digest: None,
        amd64_only: true,
    },
    StackImage {
        repository: "registry.k8s.io/heapster-influxdb-amd64",
        tag: "v1.5.2",
        digest: None,
        amd64_only: true,
    },
    StackImage {
        repository: "registry.k8s.io/heapster-grafana-amd64",
        tag: "v5.0.4",
        digest: None,
        amd64_only: true,
    },
    StackImage {
        repository: "registry.k8s.io/kubernetes-dashboard-amd64",
        tag: "v1.10.1",
        digest: None,
        amd64_only: true,
    },
];

/// The metrics-server stack: metrics-server v0.9.0 (needs Kubernetes 1.34+; v0.8.x for
/// older), the last dashboard with a plain manifest and its scraper. Multi-arch; no digest
/// could be verified from here, so pinned by tag.
pub const METRICS_SERVER_STACK_IMAGES: &[StackImage] = &[
    StackImage {
        repository: "registry.k8s.io/metrics-server/metrics-server",
        tag: "v0.9.0",
        digest: None,
        amd64_only: false,
    },
    StackImage {
        repository: "kubernetesui/dashboard",
        tag: "v2.7.0",
        digest: None,
        amd64_only: false,
    },
    StackImage {
        repository: "kubernetesui/metrics-scraper",
        tag: "v1.0.8",
        digest: None,
        amd64_only: false,
    },
];

/// The Headlamp stack: the metrics-server stack's metrics-server and Headlamp v0.45.0
/// (upstream's plain manifest says `:latest`; v0.45.0 is the tag its Helm chart 0.45.0
/// runs). Multi-arch; no digest could be verified from here, so pinned by tag.
pub const HEADLAMP_STACK_IMAGES: &[StackImage] = &[
    METRICS_SERVER_STACK_IMAGES[0],
    StackImage {
        repository: "ghcr.io/headlamp-k8s/headlamp",
        tag: "v0.45.0",
        digest: None,
        amd64_only: false,
    },
];

/// Every stack image the harness pins, all stacks.
pub fn all_stack_images() -> impl Iterator<Item = &'static StackImage> {
    STACK_IMAGES
        .iter()
        .chain(METRICS_SERVER_STACK_IMAGES)
        .chain(&HEADLAMP_STACK_IMAGES[1..])
}

/// The calibrated load of the ground-truth checks: Kubernetes' own e2e resource-consumer at
/// the tag metrics-server's e2e runs with the same two commands (`./consume-cpu/consume-cpu`
/// and `stress`; MS@v0.9.0 `test/e2e_test.go`), so both are known to be in the image.
pub const LOAD_IMAGE: StackImage = StackImage {
    repository: "registry.k8s.io/e2e-test-images/resource-consumer",
    tag: "1.9",
    digest: None,
    amd64_only: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_version_lists_the_known_ones() {
        let err = node_image("1.20").unwrap_err();
        assert!(err.contains("1.37, 1.36, 1.35, 1.34"), "{err}");
        assert_eq!(node_image("1.35").unwrap().image, "kindest/node:v1.35.8");
    }

    #[test]
    fn node_images_are_pinned_by_tag_and_digest() {
        for n in NODE_IMAGES {
            assert!(
                n.image.starts_with(&format!("kindest/node:v{}.", n.minor)),
                "{n:?}"
            );
            assert!(
                n.digest.starts_with("sha256:") && n.digest.len() == 71,
                "{n:?}"
            );
        }
        assert!(NODE_IMAGES.iter().any(|n| n.minor == DEFAULT_K8S_VERSION));
    }

    #[test]
    fn stack_images_have_no_floating_tags() {
        for i in all_stack_images() {
            assert!(i.tag != "latest" && !i.tag.is_empty(), "{i:?}");
        }
    }
}
