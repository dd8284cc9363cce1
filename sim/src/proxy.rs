//! The API server's service proxy, `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/...`,
//! as a current kube-apiserver answers it (kubernetes `pkg/registry/core/service/storage`
//! `ResourceLocation`; apimachinery `pkg/util/proxy/transport.go`): RBAC on
//! `services/proxy` with the reference exactly as written, then the Service's Endpoints,
//! then the backend program, or the Status the API server writes instead.

use jiff::Timestamp;
use serde_json::Value;

use crate::apps::common::{App, AppRequest, Http, ServiceProxy, status};
use crate::cluster::{Cluster, State};
use crate::rbac::{self, Identity};
use crate::store::Key;

/// The proxy as programs inside the cluster reach it (the `ServiceProxy` seam).
pub struct ApiServerProxy<'a> {
    pub cluster: &'a Cluster,
}

impl ServiceProxy for ApiServerProxy<'_> {
    fn proxy(
        &self,
        st: &mut State,
        who: &Identity,
        namespace: &str,
        service: &str,
        req: &AppRequest,
        now: Timestamp,
    ) -> Http {
        service_proxy(self.cluster, st, who, namespace, service, req, now)
    }

    fn direct(
        &self,
        st: &mut State,
        namespace: &str,
        service: &str,
        port: Option<i64>,
        req: &AppRequest,
        now: Timestamp,
    ) -> Http {
        direct(self.cluster, st, namespace, service, port, req, now)
    }
}

/// `http://SERVICE.NAMESPACE[:PORT]` from inside the cluster: cluster DNS names the Service
/// (no Service: Go's resolver error), kube-proxy picks a ready backend (none: refused), and
/// the request reaches the program on the port's target. Errors are Go's net/http wording
/// with status 0 (no HTTP answer at all).
pub fn direct(
    cluster: &Cluster,
    st: &mut State,
    ns: &str,
    name: &str,
    port: Option<i64>,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    let Some(svc) = st.store.get(&Key::new("/services", ns, name)).cloned() else {
        return Http::text(
            0,
            format!("dial tcp: lookup {name}.{ns} on 10.96.0.10:53: no such host"),
        );
    };
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let wanted = port.unwrap_or(80);
    let Some(svc_port) = ports.iter().find(|p| p["port"] == wanted) else {
        return Http::text(
            0,
            format!("dial tcp {name}.{ns}:{wanted}: connect: connection refused"),
        );
    };
    let backends = crate::endpoints::ready_backends(st, &svc);
    let Some((pod, container)) = backends.first().cloned() else {
        return Http::text(
            0,
            format!("dial tcp {name}.{ns}:{wanted}: connect: connection refused"),
        );
    };
    let app = App::of_image(container["image"].as_str().unwrap_or_default());
    let target = svc_port["targetPort"]
        .as_i64()
        .or_else(|| svc_port["port"].as_i64());
    if target.is_none() || target != app.port() || app.tls_only() {
        return Http::text(
            0,
            format!("dial tcp {name}.{ns}:{wanted}: connect: connection refused"),
        );
    }
    let net = ApiServerProxy { cluster };
    crate::apps::serve(cluster, st, app, &pod, &container, req, &net, now)
}

/// `[scheme:]name[:port]` as the proxy path names a service.
pub fn parse_service_ref(reference: &str) -> (Option<&str>, &str, Option<&str>) {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.as_slice() {
        [name] => (None, name, None),
        [scheme @ ("http" | "https"), name] => (Some(scheme), name, None),
        [scheme @ ("http" | "https"), name, port] => {
            (Some(scheme), name, (!port.is_empty()).then_some(*port))
        }
        [name, port] => (None, name, Some(port)),
        _ => (None, reference, None),
    }
}

fn verb_of(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "get",
    }
}

/// The 403 for `resource/proxy` on `reference`, unless `who` may. The authorizer sees the
/// name exactly as the URL has it, which is why Roles list `heapster`, `http:heapster:` and
/// `https:heapster:` separately.
fn refuse_proxy(
    st: &State,
    who: &Identity,
    resource: &str,
    ns: &str,
    reference: &str,
    req: &AppRequest,
) -> Option<Http> {
    let access = rbac::Request {
        verb: verb_of(req.method),
        group: "",
        resource,
        subresource: Some("proxy"),
        namespace: Some(ns),
        name: Some(reference),
    };
    (!rbac::allowed(&st.store, who, &access))
        .then(|| status(403, "Forbidden", &access.forbidden_message(who)))
}

pub fn service_proxy(
    cluster: &Cluster,
    st: &mut State,
    who: &Identity,
    ns: &str,
    reference: &str,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    if let Some(refused) = refuse_proxy(st, who, "services", ns, reference, req) {
        return refused;
    }
    let (scheme, name, port) = parse_service_ref(reference);
    let Some(svc) = st.store.get(&Key::new("/services", ns, name)).cloned() else {
        // With a port number ResourceLocation reads the Service first. Without one it read
        // the Endpoints, which the missing Service never got; from 1.37 it lists the
        // Service's EndpointSlices instead and finds none (kubernetes/kubernetes#134860).
        return match port.and_then(|p| p.parse::<i64>().ok()) {
            Some(_) => status(404, "NotFound", &format!("services \"{name}\" not found")),
            None if cluster.minor >= 37 => status(
                503,
                "ServiceUnavailable",
                &format!("no endpoints available for service \"{name}\""),
            ),
            None => status(404, "NotFound", &format!("endpoints \"{name}\" not found")),
        };
    };
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let svc_port: Option<&Value> = match port {
        None => ports
            .iter()
            .find(|p| p["name"].as_str().unwrap_or_default().is_empty()),
        Some(p) => match p.parse::<i64>() {
            Ok(number) => match ports.iter().find(|sp| sp["port"] == number) {
                Some(sp) => Some(sp),
                None => {
                    return status(
                        503,
                        "ServiceUnavailable",
                        &format!("no service port {number} found for service \"{name}\""),
                    );
                }
            },
            Err(_) => ports.iter().find(|sp| sp["name"] == p),
        },
    };
    let backends = crate::endpoints::ready_backends(st, &svc);
    if backends.is_empty() {
        return status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{name}\""),
        );
    }
    let Some(svc_port) = svc_port else {
        return status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{reference}\""),
        );
    };
    let (pod, container) = backends[0].clone();
    let app = App::of_image(container["image"].as_str().unwrap_or_default());
    let target = svc_port["targetPort"]
        .as_i64()
        .or_else(|| svc_port["port"].as_i64());
    let pod_ip = st
        .pods
        .get(&crate::cluster::object_key(&pod))
        .map(|r| r.ip.clone())
        .unwrap_or_default();
    let unreachable = |why: String| {
        status(
            503,
            "ServiceUnavailable",
            &format!("error trying to reach service: {why}"),
        )
    };
    if target.is_none() || target != app.port() {
        let t = target.map(|t| t.to_string()).unwrap_or_default();
        return unreachable(format!(
            "dial tcp {pod_ip}:{t}: connect: connection refused"
        ));
    }
    match (app.tls_only(), scheme) {
        // Go's HTTP server answering plain HTTP on a TLS port.
        (true, Some("http") | None) => {
            return Http::text(400, "Client sent an HTTP request to an HTTPS server.\n");
        }
        (false, Some("https")) => {
            return unreachable("tls: first record does not look like a TLS handshake".into());
        }
        _ => {}
    }
    let net = ApiServerProxy { cluster };
    crate::apps::serve(cluster, st, app, &pod, &container, req, &net, now)
}

/// `/api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/...`: straight to one pod, Ready or not
/// (how a probe's answer can be read while the pod is out of its Service).
pub fn pod_proxy(
    cluster: &Cluster,
    st: &mut State,
    who: &Identity,
    ns: &str,
    reference: &str,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    if let Some(refused) = refuse_proxy(st, who, "pods", ns, reference, req) {
        return refused;
    }
    let (scheme, name, port) = parse_service_ref(reference);
    let Some(pod) = st.store.get(&Key::new("/pods", ns, name)).cloned() else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    let started = st
        .pods
        .get(&crate::cluster::object_key(&pod))
        .filter(|r| r.started.is_some())
        .map(|r| r.ip.clone());
    let Some(ip) = started else {
        return status(400, "BadRequest", "address not allowed");
    };
    let wanted: Option<i64> = port.and_then(|p| p.parse().ok());
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found = containers.iter().find_map(|c| {
        let app = App::of_image(c["image"].as_str().unwrap_or_default());
        (wanted.is_none() || app.port() == wanted).then(|| (app, c.clone()))
    });
    match found {
        Some((app, container)) if app.port().is_some() => {
            if app.tls_only() && scheme != Some("https") {
                return Http::text(400, "Client sent an HTTP request to an HTTPS server.\n");
            }
            let net = ApiServerProxy { cluster };
            crate::apps::serve(cluster, st, app, &pod, &container, req, &net, now)
        }
        _ => status(
            503,
            "ServiceUnavailable",
            &format!(
                "error trying to reach service: dial tcp {ip}:{}: connect: connection refused",
                wanted.unwrap_or(80)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_parse_like_the_proxy() {
        assert_eq!(parse_service_ref("heapster"), (None, "heapster", None));
        assert_eq!(
            parse_service_ref("http:heapster:"),
            (Some("http"), "heapster", None)
        );
        assert_eq!(
            parse_service_ref("https:kubernetes-dashboard:"),
            (Some("https"), "kubernetes-dashboard", None)
        );
        assert_eq!(
            parse_service_ref("heapster:80"),
            (None, "heapster", Some("80"))
        );
    }
}
