//! Where each part of a stack runs: found by what it is, not by this repository's names.
//! A part is the Deployment whose containers run its image (any registry, any name, any
//! namespace) and the Service that selects its pods; metrics.k8s.io's provider is the
//! Service the `v1beta1.metrics.k8s.io` APIService names. The shipped layout is the
//! manifests' own names, the default until a cluster is looked at. Pure matching over
//! objects here, with one I/O function that lists them.

use std::fmt::Write as _;

use serde_json::Value;

use crate::manifests::{Manifest, flag_of, runs, tag_of};
use crate::stack::Stack;

/// A program of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    MetricsServer,
    Heapster,
    InfluxDb,
    Grafana,
    Scraper,
    Dashboard,
    Headlamp,
}

impl Part {
    /// What the report calls it.
    pub fn label(self) -> &'static str {
        match self {
            Part::MetricsServer => "metrics-server",
            Part::Heapster => "heapster",
            Part::InfluxDb => "InfluxDB",
            Part::Grafana => "Grafana",
            Part::Scraper => "dashboard-metrics-scraper",
            Part::Dashboard => "dashboard",
            Part::Headlamp => "Headlamp",
        }
    }
}

/// The parts of a stack, in the order they serve each other (the UI last).
pub fn parts(stack: Stack) -> &'static [Part] {
    match stack {
        Stack::Heapster => &[
            Part::Heapster,
            Part::InfluxDb,
            Part::Grafana,
            Part::Dashboard,
        ],
        Stack::MetricsServer => &[Part::MetricsServer, Part::Scraper, Part::Dashboard],
        Stack::Headlamp => &[Part::MetricsServer, Part::Headlamp],
    }
}

/// The image a part runs on a stack, without its registry (`Stack::ui_image` for the UI).
pub fn image(stack: Stack, part: Part) -> &'static str {
    match part {
        Part::MetricsServer => "metrics-server/metrics-server",
        Part::Heapster => "heapster-amd64",
        Part::InfluxDb => "heapster-influxdb-amd64",
        Part::Grafana => "heapster-grafana-amd64",
        Part::Scraper => "kubernetesui/metrics-scraper",
        Part::Dashboard | Part::Headlamp => stack.ui_image(),
    }
}

/// Where one part runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub namespace: String,
    pub deployment: String,
    /// The Service that reaches it, if one selects its pods.
    pub service: Option<String>,
    /// The Service's first port (the service proxy's `NAME:PORT`).
    pub port: Option<i64>,
    /// The image's tag: its version.
    pub tag: String,
    /// The container's command line (`command` then `args`).
    pub args: Vec<String>,
}

/// Where a stack's parts run; a part not found is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub stack: Stack,
    places: Vec<(Part, Place)>,
}

impl Layout {
    /// The names this repository's manifests give each part.
    pub fn shipped(stack: Stack) -> Layout {
        let places = parts(stack)
            .iter()
            .zip(stack.deployments())
            .map(|(part, (ns, name))| {
                let image = stack
                    .images()
                    .iter()
                    .find(|i| i.repository.ends_with(image(stack, *part)));
                (
                    *part,
                    Place {
                        namespace: ns.to_string(),
                        deployment: name.to_string(),
                        service: Some(name.to_string()),
                        port: None,
                        tag: image.map_or("", |i| i.tag).to_string(),
                        args: Vec::new(),
                    },
                )
            })
            .collect();
        Layout { stack, places }
    }

    pub fn get(&self, part: Part) -> Option<&Place> {
        self.places
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, pl)| pl)
    }

    /// A field of the part's place as found, else as this repository's manifests have it
    /// (so that what looks for an absent part's pods finds none, and a request to it
    /// answers as the API server does for it).
    fn found_or_shipped(&self, part: Part, field: impl Fn(&Place) -> Option<String>) -> String {
        self.get(part)
            .and_then(&field)
            .or_else(|| Layout::shipped(self.stack).get(part).and_then(&field))
            .unwrap_or_default()
    }

    /// The part's Deployment name, or the shipped one.
    pub fn deployment(&self, part: Part) -> String {
        self.found_or_shipped(part, |p| Some(p.deployment.clone()))
    }

    /// The part's namespace, or the shipped one.
    pub fn namespace(&self, part: Part) -> String {
        self.found_or_shipped(part, |p| Some(p.namespace.clone()))
    }

    /// `(namespace, Service)` that reaches the part: the one found, else the shipped name.
    pub fn service(&self, part: Part) -> (String, String) {
        (
            self.namespace(part),
            self.found_or_shipped(part, |p| p.service.clone()),
        )
    }

    /// `(namespace, deployment)` of every part found, in serving order.
    pub fn deployments(&self) -> Vec<(String, String)> {
        self.places
            .iter()
            .map(|(_, p)| (p.namespace.clone(), p.deployment.clone()))
            .collect()
    }

    /// The namespaces the parts run in, each once.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, p) in &self.places {
            if !out.contains(&p.namespace) {
                out.push(p.namespace.clone());
            }
        }
        out
    }

    /// The parts of the stack not found.
    pub fn missing(&self) -> Vec<Part> {
        parts(self.stack)
            .iter()
            .copied()
            .filter(|p| self.get(*p).is_none())
            .collect()
    }

    /// What was found, one line per part, and where it was looked for when absent.
    pub fn describe(&self) -> Vec<String> {
        parts(self.stack)
            .iter()
            .map(|part| match self.get(*part) {
                Some(p) => {
                    let mut line = format!(
                        "{} {}: Deployment {}/{}",
                        part.label(),
                        p.tag,
                        p.namespace,
                        p.deployment
                    );
                    match &p.service {
                        Some(s) => {
                            let _ = write!(line, ", Service {}/{s}", p.namespace);
                        }
                        None => line.push_str(", no Service selects its pods"),
                    }
                    line
                }
                None => format!(
                    "{}: not found (looked for a Deployment running {} in every namespace)",
                    part.label(),
                    image(self.stack, *part)
                ),
            })
            .collect()
    }

    /// Find the stack's parts among a cluster's (or a folder's) Deployments and Services:
    /// each part's Deployment by image (the first in name order, so the answer does not
    /// depend on listing order), metrics-server's Service by the APIService when there is
    /// one, else the Service that selects the pods.
    pub fn find(
        stack: Stack,
        deployments: &[Value],
        services: &[Value],
        apiservice: Option<&Value>,
    ) -> Layout {
        let mut sorted: Vec<&Value> = deployments.iter().collect();
        sorted.sort_by_key(|d| key(d));
        let places = parts(stack)
            .iter()
            .filter_map(|part| {
                let (d, tag, args) = sorted.iter().find_map(|d| {
                    let (tag, args) = containers(d).find_map(|c| {
                        let i = c["image"].as_str()?;
                        runs(i, image(stack, *part))
                            .then(|| (tag_of(i).to_string(), command_line(c)))
                    })?;
                    Some((*d, tag, args))
                })?;
                let (namespace, deployment) = key(d);
                let by_apiservice = apiservice
                    .filter(|_| *part == Part::MetricsServer)
                    .and_then(|a| {
                        let svc = &a["spec"]["service"];
                        (svc["namespace"] == namespace.as_str())
                            .then(|| svc["name"].as_str())
                            .flatten()
                    })
                    .and_then(|name| {
                        services
                            .iter()
                            .find(|s| key(s) == (namespace.clone(), name.to_string()))
                    });
                let service = by_apiservice.or_else(|| {
                    let mut selecting: Vec<&Value> = services
                        .iter()
                        .filter(|s| key(s).0 == namespace && selects(s, d))
                        .collect();
                    selecting.sort_by_key(|s| key(s));
                    selecting.into_iter().next()
                });
                Some((
                    *part,
                    Place {
                        namespace,
                        deployment,
                        service: service.map(|s| key(s).1),
                        port: service.and_then(|s| s["spec"]["ports"][0]["port"].as_i64()),
                        tag,
                        args,
                    },
                ))
            })
            .collect();
        Layout { stack, places }
    }
}

fn key(obj: &Value) -> (String, String) {
    let field = |f: &str| obj["metadata"][f].as_str().unwrap_or_default().to_string();
    (field("namespace"), field("name"))
}

fn command_line(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|f| container[*f].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// The Service a dashboard v1.10.1 given `--heapster-host=http://NAME.NS[.svc[...]][:PORT]`
/// reaches directly, by cluster DNS, instead of `kube-system/heapster` through the API
/// server's service proxy (D@v1.10.1 `integration/metric/heapster/client.go`
/// `CreateHeapsterClient`: a remote client when the host is set). A bare `NAME` is in the
/// dashboard's own namespace (`dashboard_ns`).
pub fn heapster_host(args: &[String], dashboard_ns: &str) -> Option<(String, String)> {
    let host = args.iter().find_map(|a| {
        a.trim_start_matches('-')
            .strip_prefix("heapster-host=")
            .map(str::to_string)
    })?;
    let host = host.split("://").nth(1).unwrap_or(&host);
    let host = host.split(['/', ':']).next().unwrap_or_default();
    let mut labels = host.split('.');
    let name = labels.next().filter(|n| !n.is_empty())?;
    let ns = labels.next().unwrap_or(dashboard_ns);
    Some((ns.to_string(), name.to_string()))
}

fn containers(d: &Value) -> impl Iterator<Item = &Value> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
}

/// Whether a Service's selector picks the Deployment's pods (every selector label is on the
/// pod template; an empty selector picks none).
fn selects(service: &Value, deployment: &Value) -> bool {
    let Some(selector) = service["spec"]["selector"].as_object() else {
        return false;
    };
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    !selector.is_empty() && selector.iter().all(|(k, v)| labels[k] == *v)
}

/// The images a part runs, on any stack (the dashboard has one per stack).
fn images_of(part: Part) -> Vec<&'static str> {
    match part {
        Part::Dashboard => vec![Stack::Heapster.ui_image(), Stack::MetricsServer.ui_image()],
        other => vec![image(Stack::Headlamp, other)],
    }
}

/// A command-line flag of the container running `part` in the Deployments of `docs`
/// (manifests, or live objects), found by image whatever the Deployment is called.
pub fn flag(docs: &[Manifest], part: Part, name: &str) -> Option<String> {
    let wanted = images_of(part);
    docs.iter()
        .filter(|m| m.kind() == "Deployment")
        .flat_map(|m| containers(&m.object).cloned().collect::<Vec<_>>())
        .filter(|c| {
            c["image"]
                .as_str()
                .is_some_and(|i| wanted.iter().any(|w| runs(i, w)))
        })
        .find_map(|c| flag_of(&c, name))
}

/// The container spec of `part` in the Deployments of `docs`.
pub fn container(docs: &[Manifest], part: Part) -> Option<Value> {
    let wanted = images_of(part);
    docs.iter()
        .filter(|m| m.kind() == "Deployment")
        .flat_map(|m| containers(&m.object).cloned().collect::<Vec<_>>())
        .find(|c| {
            c["image"]
                .as_str()
                .is_some_and(|i| wanted.iter().any(|w| runs(i, w)))
        })
}

/// The stacks that run, from each stack's layout on one cluster: those whose UI runs; when
/// no UI runs, those whose first part (the metrics source) runs, once per program (the
/// metrics-server and Headlamp stacks share metrics-server: the first is named).
pub fn running(layouts: &[Layout]) -> Vec<Stack> {
    let with_ui: Vec<Stack> = layouts
        .iter()
        .filter(|l| {
            let ui = *parts(l.stack).last().expect("every stack has a UI");
            l.get(ui).is_some()
        })
        .map(|l| l.stack)
        .collect();
    if !with_ui.is_empty() {
        return with_ui;
    }
    let mut sources: Vec<Part> = Vec::new();
    let mut out = Vec::new();
    for l in layouts {
        let source = parts(l.stack)[0];
        if l.get(source).is_some() && !sources.contains(&source) {
            sources.push(source);
            out.push(l.stack);
        }
    }
    out
}

/// Every stack's layout on a cluster, from one listing.
pub async fn discover_all(client: &kube::Client) -> anyhow::Result<Vec<Layout>> {
    let (deployments, services, apiservice) = objects(client).await?;
    Ok(Stack::ALL
        .iter()
        .map(|s| Layout::find(*s, &deployments, &services, apiservice.as_ref()))
        .collect())
}

/// The stack's parts on a cluster: every Deployment and Service the credentials may list,
/// and the metrics APIService.
pub async fn discover(client: &kube::Client, stack: Stack) -> anyhow::Result<Layout> {
    let (deployments, services, apiservice) = objects(client).await?;
    Ok(Layout::find(
        stack,
        &deployments,
        &services,
        apiservice.as_ref(),
    ))
}

/// Every Deployment and Service the credentials may list, and the metrics APIService.
async fn objects(client: &kube::Client) -> anyhow::Result<(Vec<Value>, Vec<Value>, Option<Value>)> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, ListParams};
    let lp = ListParams::default();
    let (d_api, s_api) = (
        Api::<Deployment>::all(client.clone()),
        Api::<Service>::all(client.clone()),
    );
    let deployments = crate::kubeclient::retry(|| d_api.list(&lp)).await?.items;
    let services = crate::kubeclient::retry(|| s_api.list(&lp)).await?.items;
    let path = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
    let apiservice = crate::kubeclient::raw(client, http::Method::GET, path, &[], vec![])
        .await
        .ok()
        .filter(|a| a.is_ok())
        .and_then(|a| a.json().ok());
    Ok((values(deployments)?, values(services)?, apiservice))
}

fn values<T: serde::Serialize>(items: Vec<T>) -> anyhow::Result<Vec<Value>> {
    items
        .into_iter()
        .map(|i| Ok(serde_json::to_value(i)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(ns: &str, name: &str, image: &str, app: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name},
               "spec": {"template": {"metadata": {"labels": {"app": app}},
                                     "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    fn service(ns: &str, name: &str, app: &str, port: i64) -> Value {
        json!({"metadata": {"namespace": ns, "name": name},
               "spec": {"selector": {"app": app}, "ports": [{"port": port}]}})
    }

    #[test]
    fn parts_are_found_by_image_and_the_services_that_select_them() {
        let deployments = [
            deployment(
                "monitoring",
                "ms-metrics-server",
                "registry.k8s.io/metrics-server/metrics-server:v0.8.1",
                "ms",
            ),
            deployment(
                "ui",
                "headlamp",
                "ghcr.io/headlamp-k8s/headlamp:v0.45.0",
                "hl",
            ),
            deployment("default", "web", "nginx:1.29", "web"),
        ];
        let services = [
            service("monitoring", "ms-metrics-server", "ms", 443),
            service("monitoring", "other", "x", 1),
            service("ui", "headlamp", "hl", 80),
            // Another namespace's Service with the same selector does not reach it.
            service("default", "headlamp", "hl", 80),
        ];
        let apiservice =
            json!({"spec": {"service": {"namespace": "monitoring", "name": "ms-metrics-server"}}});
        let l = Layout::find(Stack::Headlamp, &deployments, &services, Some(&apiservice));
        assert_eq!(
            l.get(Part::MetricsServer),
            Some(&Place {
                namespace: "monitoring".into(),
                deployment: "ms-metrics-server".into(),
                service: Some("ms-metrics-server".into()),
                port: Some(443),
                tag: "v0.8.1".into(),
                args: vec![],
            })
        );
        let hl = l.get(Part::Headlamp).unwrap();
        assert_eq!(
            (hl.namespace.as_str(), hl.service.as_deref(), hl.port),
            ("ui", Some("headlamp"), Some(80))
        );
        assert_eq!(l.service(Part::Headlamp), ("ui".into(), "headlamp".into()));
        assert!(l.missing().is_empty());
        assert_eq!(l.namespaces(), ["monitoring", "ui"]);
        assert_eq!(
            l.deployments(),
            [
                ("monitoring".to_string(), "ms-metrics-server".to_string()),
                ("ui".to_string(), "headlamp".to_string())
            ]
        );
        // Of two Services selecting metrics-server, the APIService's is the one; an
        // APIService naming another namespace's Service names none of these.
        let mut two = services.to_vec();
        two.push(service("monitoring", "aaa-also-selects", "ms", 8443));
        let found = |a: &Value| {
            Layout::find(Stack::Headlamp, &deployments, &two, Some(a))
                .get(Part::MetricsServer)
                .and_then(|p| p.service.clone())
        };
        assert_eq!(found(&apiservice).as_deref(), Some("ms-metrics-server"));
        let elsewhere =
            json!({"spec": {"service": {"namespace": "kube-system", "name": "ms-metrics-server"}}});
        assert_eq!(found(&elsewhere).as_deref(), Some("aaa-also-selects"));
        assert_eq!(
            l.describe()[0],
            "metrics-server v0.8.1: Deployment monitoring/ms-metrics-server, Service monitoring/ms-metrics-server"
        );
    }

    #[test]
    fn a_missing_part_says_where_it_was_looked_for() {
        let deployments = [deployment(
            "monitoring",
            "m",
            "metrics-server/metrics-server:v0.9.0",
            "m",
        )];
        let l = Layout::find(Stack::MetricsServer, &deployments, &[], None);
        assert_eq!(l.missing(), [Part::Scraper, Part::Dashboard]);
        let text = l.describe().join("\n");
        assert!(
            text.contains(
                "metrics-server v0.9.0: Deployment monitoring/m, no Service selects its pods"
            ),
            "{text}"
        );
        assert!(
            text.contains("dashboard: not found (looked for a Deployment running kubernetesui/dashboard in every namespace)"),
            "{text}"
        );
        // Absent parts keep the shipped names, so what looks for their pods finds none.
        assert_eq!(l.deployment(Part::Dashboard), "kubernetes-dashboard");
        assert_eq!(
            l.service(Part::Scraper),
            (
                "kubernetes-dashboard".into(),
                "dashboard-metrics-scraper".into()
            )
        );
        assert_eq!(l.namespace(Part::Dashboard), "kubernetes-dashboard");
    }

    #[test]
    fn the_first_by_name_wins_and_an_empty_selector_picks_nothing() {
        let deployments = [
            deployment("b", "hl", "headlamp-k8s/headlamp:v1", "hl"),
            deployment("a", "hl", "headlamp-k8s/headlamp:v2", "hl"),
        ];
        let empty =
            json!({"metadata": {"namespace": "a", "name": "all"}, "spec": {"selector": {}}});
        let l = Layout::find(Stack::Headlamp, &deployments, &[empty], None);
        let hl = l.get(Part::Headlamp).unwrap();
        assert_eq!(
            (hl.namespace.as_str(), hl.tag.as_str(), hl.service.clone()),
            ("a", "v2", None)
        );
    }

    #[test]
    fn the_stacks_that_run_are_known_by_their_ui_else_their_metrics_source() {
        let ms = deployment("m", "ms", "metrics-server/metrics-server:v0.9.0", "ms");
        let hl = deployment("u", "hl", "headlamp-k8s/headlamp:v0.45.0", "hl");
        let d2 = deployment("u", "d", "kubernetesui/dashboard:v2.7.0", "d");
        let heapster = deployment("k", "h", "heapster-amd64:v1.5.4", "h");
        let on = |ds: &[Value]| -> Vec<Stack> {
            let layouts: Vec<Layout> = Stack::ALL
                .iter()
                .map(|s| Layout::find(*s, ds, &[], None))
                .collect();
            running(&layouts)
        };
        assert_eq!(on(&[ms.clone(), hl.clone()]), [Stack::Headlamp]);
        assert_eq!(
            on(&[ms.clone(), hl, d2]),
            [Stack::MetricsServer, Stack::Headlamp]
        );
        // No UI: the metrics source names the stack, metrics-server's once.
        assert_eq!(on(std::slice::from_ref(&ms)), [Stack::MetricsServer]);
        assert_eq!(on(&[ms, heapster]), [Stack::Heapster, Stack::MetricsServer]);
        assert_eq!(on(&[]), []);
    }

    #[test]
    fn a_part_keeps_its_command_line() {
        let mut d = deployment("k", "d", "kubernetes-dashboard-amd64:v1.10.1", "d");
        d["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["/dashboard"]);
        d["spec"]["template"]["spec"]["containers"][0]["args"] =
            json!(["--heapster-host=http://h.m"]);
        let l = Layout::find(Stack::Heapster, &[d], &[], None);
        let args = &l.get(Part::Dashboard).unwrap().args;
        assert_eq!(args, &["/dashboard", "--heapster-host=http://h.m"]);
        assert_eq!(heapster_host(args, "k"), Some(("m".into(), "h".into())));
    }

    #[test]
    fn a_remote_heapster_is_the_service_its_host_names() {
        let args = |a: &str| vec!["--auto-generate-certificates".to_string(), a.to_string()];
        assert_eq!(
            heapster_host(
                &args("--heapster-host=http://heapster.monitoring.svc:80"),
                "kube-system"
            ),
            Some(("monitoring".into(), "heapster".into()))
        );
        assert_eq!(
            heapster_host(
                &args("--heapster-host=http://heapster.monitoring.svc.cluster.local"),
                "x"
            ),
            Some(("monitoring".into(), "heapster".into()))
        );
        assert_eq!(
            heapster_host(&args("--heapster-host=http://metrics:8082"), "kube-system"),
            Some(("kube-system".into(), "metrics".into()))
        );
        assert_eq!(
            heapster_host(&args("--enable-skip-login"), "kube-system"),
            None
        );
    }

    #[test]
    fn the_shipped_layout_is_the_manifests_names() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for stack in Stack::ALL {
            let docs = crate::manifests::load_dir(&stack.manifests(root)).unwrap();
            let objects = |kind: &str| -> Vec<Value> {
                docs.iter()
                    .filter(|m| m.kind() == kind)
                    .map(|m| m.object.clone())
                    .collect()
            };
            let apiservice = docs
                .iter()
                .find(|m| m.kind() == "APIService")
                .map(|m| m.object.clone());
            let found = Layout::find(
                *stack,
                &objects("Deployment"),
                &objects("Service"),
                apiservice.as_ref(),
            );
            let shipped = Layout::shipped(*stack);
            assert_eq!(found.deployments(), shipped.deployments(), "{stack}");
            for part in parts(*stack) {
                let (f, s) = (found.get(*part).unwrap(), shipped.get(*part).unwrap());
                assert_eq!(
                    (&f.service, &f.tag),
                    (&s.service, &s.tag),
                    "{stack} {part:?}"
                );
            }
        }
        // Flags are read by image, whatever the Deployment is called.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut docs = crate::manifests::load_dir(&Stack::MetricsServer.manifests(root)).unwrap();
        for d in &mut docs {
            d.object["metadata"]["name"] = "renamed".into();
        }
        assert_eq!(
            flag(&docs, Part::Scraper, "metric-resolution").as_deref(),
            Some("15s")
        );
        assert_eq!(
            flag(&docs, Part::Dashboard, "metric-client-check-period").as_deref(),
            Some("5")
        );
        assert_eq!(flag(&docs, Part::Heapster, "metric_resolution"), None);
    }
}
