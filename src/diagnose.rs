//! Known symptoms mapped to their cause and fix, printed under a failing check. Pure:
//! text in (a failure message, a heapster log), hints out.

/// One known symptom, with what it means and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub symptom: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cause: {}\n  fix: {}", self.cause, self.fix)
    }
}

struct Rule {
    matches: fn(&str) -> bool,
    hint: Hint,
}

const RULES: &[Rule] = &[
    Rule {
        matches: |t| {
            t.contains(":10255") && (t.contains("connection refused") || t.contains("getsockopt"))
        },
        hint: Hint {
            symptom: "dial tcp ...:10255: connect: connection refused",
            cause: "the kubelet read-only port 10255 is closed on current clusters, so heapster's default source cannot scrape",
            fix: "use the summary API source on the authenticated port: --source=kubernetes.summary_api:https://kubernetes.default?useServiceAccount=true&kubeletHttps=true&kubeletPort=10250&insecure=true",
        },
    },
    Rule {
        matches: |t| t.contains("x509"),
        hint: Hint {
            symptom: "x509 certificate errors",
            cause: "the kubelet serving certificates are self-signed (as on kind), so heapster cannot verify them",
            fix: "add insecure=true to heapster's --source (kubeletHttps=true&kubeletPort=10250&insecure=true)",
        },
    },
    Rule {
        matches: |t| {
            t.contains("subresource=stats")
                || (t.contains("nodes/stats") && t.contains("forbidden"))
        },
        hint: Hint {
            symptom: "403 Forbidden on nodes/stats",
            cause: "heapster's service account may not read kubelet stats",
            fix: "grant `get` on `nodes/stats` in heapster's ClusterRole (manifests/10-heapster-rbac.yaml)",
        },
    },
    Rule {
        matches: |t| {
            t.contains("the server could not find the requested resource (get services heapster)")
                || t.contains("no heapster service")
        },
        hint: Hint {
            symptom: "(get services heapster): the server could not find the requested resource",
            cause: "the heapster Service is missing, or is in another namespace than kube-system",
            fix: "create Service `heapster` in kube-system (port 80 -> 8082): the dashboard looks for exactly that name",
        },
    },
    Rule {
        matches: |t| t.contains("ImagePullBackOff") || t.contains("ErrImagePull"),
        hint: Hint {
            symptom: "ImagePullBackOff / ErrImagePull",
            cause: "the node cannot pull the image: the registry is unreachable, or the image was not loaded into kind (or imagePullPolicy: Always forces a pull)",
            fix: "pull from a mirror with --image-mirror PREFIX, or pre-pull the images with docker; keep imagePullPolicy: IfNotPresent",
        },
    },
    Rule {
        matches: |t| {
            t.contains("could not get the latest data batch")
                || t.contains("heapster has not scraped yet")
        },
        hint: Hint {
            symptom: "no data batch past the deadline",
            cause: "heapster runs but cannot scrape the kubelets",
            fix: "read heapster's last log lines (below) for the scrape error",
        },
    },
];

/// Hints for every known symptom in `text`, most specific first, each once.
pub fn hints(text: &str) -> Vec<Hint> {
    RULES
        .iter()
        .filter(|r| (r.matches)(text))
        .map(|r| r.hint.clone())
        .collect()
}

/// Whether the hints ask for heapster's own log to find the scrape error.
pub fn wants_heapster_log(hints: &[Hint]) -> bool {
    hints
        .iter()
        .any(|h| h.symptom == "no data batch past the deadline")
}

/// The failure message with its hints below it.
pub fn explain(message: &str, hints: &[Hint]) -> String {
    let mut out = message.to_string();
    for h in hints {
        out.push_str(&format!("\n  {h}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded lines: heapster v1.5 against a current kubelet, and dashboard v1.10.1.
    const READ_ONLY_PORT: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet:172.18.0.3:10255: failed to get all container stats from Kubelet URL \"http://172.18.0.3:10255/stats/container/\": Post http://172.18.0.3:10255/stats/container/: dial tcp 172.18.0.3:10255: getsockopt: connection refused";
    const X509: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet_summary:172.18.0.3:10250: Get https://172.18.0.3:10250/stats/summary/: x509: cannot validate certificate for 172.18.0.3 because it doesn't contain any IP SANs";
    const STATS_FORBIDDEN: &str = "E1125 10:12:05.000000       1 manager.go:101] Error in scraping containers from kubelet_summary:172.18.0.3:10250: request failed - \"403 Forbidden\", response: \"Forbidden (user=system:serviceaccount:kube-system:heapster, verb=get, resource=nodes, subresource=stats)\"";
    const NO_SERVICE: &str = "2018/04/29 01:56:38 Metric client health check failed: the server could not find the requested resource (get services heapster). Retrying in 30 seconds.";
    const PULL: &str = "pod kube-system/monitoring-grafana-1 container grafana is in ImagePullBackOff: Back-off pulling image \"registry.k8s.io/heapster-grafana-amd64:v5.0.4\"";
    const NO_BATCH: &str = "2018/09/21 03:01:46 Metric client health check failed: an error on the server (\"[-]healthz failed: could not get the latest data batch\\nhealthz check failed\") has prevented the request from succeeding (get services heapster). Retrying in 30 seconds.";

    fn only(text: &str) -> Hint {
        let h = hints(text);
        assert_eq!(h.len(), 1, "{text}: {h:?}");
        h[0].clone()
    }

    #[test]
    fn read_only_port_means_use_the_summary_api() {
        assert!(only(READ_ONLY_PORT).fix.contains("kubeletPort=10250"));
    }

    #[test]
    fn x509_means_insecure() {
        assert!(only(X509).fix.contains("insecure=true"));
    }

    #[test]
    fn stats_forbidden_means_rbac() {
        assert!(only(STATS_FORBIDDEN).fix.contains("nodes/stats"));
    }

    #[test]
    fn missing_service_is_named_by_its_exact_symptom() {
        assert!(only(NO_SERVICE).cause.contains("Service is missing"));
        // The suffix alone says nothing: every dashboard failure line ends with it.
        assert!(hints("Metric client health check failed: the server is currently unable to handle the request (get services heapster).").is_empty());
    }

    #[test]
    fn image_pull_points_at_the_mirror() {
        assert!(only(PULL).fix.contains("--image-mirror"));
    }

    #[test]
    fn no_data_batch_asks_for_heapster_log() {
        let h = hints(NO_BATCH);
        assert!(wants_heapster_log(&h), "{h:?}");
        let explained = explain("dashboard::log failed", &h);
        assert!(
            explained.contains("cause: heapster runs but cannot scrape"),
            "{explained}"
        );
    }
}
