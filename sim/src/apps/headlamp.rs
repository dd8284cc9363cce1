//! Headlamp v0.45.0's backend in-cluster (kubernetes-sigs/headlamp@v0.45.0, `H:`), as far
//! as a metrics check meets it:
//! - `GET /config`: the in-cluster context, or `clusters: []` without `-in-cluster`
//!   (H:`backend/cmd/headlamp.go` `getConfig`, `getClusters`; `cluster.go` `Cluster`).
//! - `/clusters/{name}/{api...}`: the context by name, else 404 `key not found`; the token
//!   from the cookie `headlamp-auth-<sanitized name>.N` chunks, else the request's own
//!   `Authorization`; then the API server's answer passed through unchanged, as the
//!   caller's token authenticates there (`clusterRequestHandler` l.1915-2017,
//!   `pkg/auth/cookies.go` `GetTokenFromCookie`, `SanitizeClusterName`). Only
//!   metrics.k8s.io is passed on here; nothing else the UI reads is emulated.
//! - Every other path: the SPA's `index.html`, 200 (`pkg/spa/spaHandler.go`).
//! - Logs (zerolog JSON, `pkg/logger/logger.go`): a few start lines, and one
//!   `Request completed successfully` per `/clusters/...` request, whatever it answered
//!   (`recordRequestCompletion`), with a `failed to get context` error line first for an
//!   unknown context (`handleError`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::common::{AppRequest, Http, append_line, container_args};
use crate::cluster::{Cluster, State};
use crate::rbac::Identity;

/// `DefaultInClusterContextName` (H:`backend/pkg/kubeconfig/kubeconfig.go`).
const DEFAULT_CONTEXT: &str = "main";

/// The in-cluster API server as `rest.InClusterConfig()` names it on kind.
const IN_CLUSTER_SERVER: &str = "https://10.96.0.1:443";

/// A Go bool flag as koanf's posflag reads it: `-name`, `--name`, `-name=true`.
fn go_bool(args: &[String], name: &str) -> bool {
    args.iter().any(|a| {
        let bare = a.trim_start_matches('-');
        bare.len() < a.len() && (bare == name || bare == format!("{name}=true"))
    })
}

/// The in-cluster context's name, if Headlamp runs in-cluster: `-in-cluster-context-name`
/// made DNS-friendly ("/" -> "--", " " -> "__": `MakeDNSFriendly`), else `main` (the
/// name derived from kube-system/kubeadm-config needs a ConfigMap kind's simulated
/// cluster does not have, and Headlamp's account no RBAC to read it).
pub fn context_of(container: &Value) -> Option<String> {
    let args = container_args(container);
    if !go_bool(&args, "in-cluster") {
        return None;
    }
    let name = crate::goflag::flag(&args, "in-cluster-context-name")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_CONTEXT.into());
    Some(name.replace('/', "--").replace(' ', "__"))
}

/// `SanitizeClusterName`: only `[a-zA-Z0-9_-]`, at most 50 characters.
fn sanitize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(50)
        .collect()
}

/// `GetTokenFromCookie`: the chunks `headlamp-auth-<name>.0`, `.1`, ... joined, up to the
/// first one missing.
pub fn token_from_cookie(cookie_header: &str, cluster: &str) -> Option<String> {
    let name = sanitize(cluster);
    if name.is_empty() {
        return None;
    }
    let cookies: Vec<(&str, &str)> = cookie_header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .collect();
    let mut token = String::new();
    for i in 0.. {
        let wanted = format!("headlamp-auth-{name}.{i}");
        match cookies.iter().find(|(k, _)| *k == wanted) {
            Some((_, v)) => token.push_str(v),
            None => break,
        }
    }
    (!token.is_empty()).then_some(token)
}

/// One zerolog line as Headlamp's logger writes it.
pub fn log_line(
    level: &str,
    fields: &[(&str, &str)],
    line: u32,
    error: Option<&str>,
    message: &str,
    now: Timestamp,
) -> String {
    let mut v = serde_json::Map::new();
    v.insert("level".into(), json!(level));
    for (k, val) in fields {
        v.insert((*k).into(), json!(val));
    }
    v.insert("source".into(), json!("/headlamp/backend/cmd/headlamp.go"));
    v.insert("line".into(), json!(line));
    if let Some(e) = error {
        v.insert("error".into(), json!(e));
    }
    v.insert(
        "time".into(),
        json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    v.insert("message".into(), json!(message));
    Value::Object(v).to_string()
}

/// What Headlamp prints as it starts (`createHeadlampHandler` l.667-685, l.737-738).
pub fn start_lines(container: &Value, now: Timestamp) -> Vec<String> {
    let in_cluster = context_of(container).is_some();
    [
        (667, "Creating Headlamp handler".to_string()),
        (668, "Listen address: :4466".to_string()),
        (684, format!("Use In Cluster: {in_cluster}")),
        (737, "*** Headlamp Server ***".to_string()),
        (738, "  API Routers:".to_string()),
    ]
    .into_iter()
    .map(|(line, m)| log_line("info", &[], line, None, &m, now))
    .collect()
}

pub fn serve(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    now: Timestamp,
) -> Http {
    let context = context_of(container);
    if req.path == "/config" && req.method == "GET" {
        let clusters: Vec<Value> = context
            .iter()
            .map(|name| {
                json!({"name": name, "server": IN_CLUSTER_SERVER, "auth_type": "",
                       "meta_data": {"clusterID": "", "extensions": null, "namespace": "",
                                     "origin": {"kubeconfig": ""}, "originalName": name, "source": "incluster"}})
            })
            .collect();
        let mut answer = Http::json(
            200,
            json!({"clusters": clusters, "isDynamicClusterEnabled": false, "allowKubeconfigChanges": false,
                   "defaultPodDebugImage": "", "defaultNodeShellImage": "", "defaultNodeShellNamespace": ""}),
        );
        // `json.NewEncoder(w).Encode` ends with a newline.
        answer.body.push('\n');
        return answer;
    }
    let Some(rest) = req.path.strip_prefix("/clusters/") else {
        return spa();
    };
    let (name, api) = rest.split_once('/').unwrap_or((rest, ""));
    let answer = if context.as_deref() != Some(name) {
        append_line(
            st,
            pod,
            container,
            log_line(
                "error",
                &[],
                1909,
                Some("key not found"),
                "failed to get context",
                now,
            ),
        );
        Http::go_error(404, "key not found")
    } else {
        let cookie = req.header("cookie").unwrap_or_default();
        // Something in front of Headlamp drops the Cookie header (the scenario's fault).
        let cookie = if cluster.config.faults.headlamp_cookie_stripped {
            ""
        } else {
            cookie
        };
        let token = token_from_cookie(cookie, name).or_else(|| {
            req.header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string)
        });
        to_api_server(cluster, st, token.as_deref(), api, now)
    };
    append_line(
        st,
        pod,
        container,
        log_line(
            "info",
            &[("duration_ms", "0.42")],
            2039,
            None,
            "Request completed successfully",
            now,
        ),
    );
    answer
}

/// The request as the API server answers it for `token`: no token is `system:anonymous`,
/// an unknown one 401.
fn to_api_server(
    cluster: &Cluster,
    st: &State,
    token: Option<&str>,
    api: &str,
    now: Timestamp,
) -> Http {
    let who = match token {
        None => Identity::Anonymous,
        Some(t) if t == cluster.admin_token => Identity::Admin,
        Some(t) => match st.sa_tokens.get(t) {
            Some(who) => who.clone(),
            None => return super::common::status(401, "Unauthorized", "Unauthorized"),
        },
    };
    let segments: Vec<&str> = api.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["apis", "metrics.k8s.io", version, rest @ ..] => {
            crate::aggregated::request(cluster, st, &who, version, rest, now)
        }
        _ => super::common::status(
            404,
            "NotFound",
            "the simulated Headlamp passes only metrics.k8s.io requests to the API server",
        ),
    }
}

/// The SPA's `index.html` for any other path, `/healthz` included.
fn spa() -> Http {
    Http {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: "<!doctype html><html lang=\"en\"><head><title>Headlamp</title></head><body><div id=\"root\"></div></body></html>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(args: &[&str]) -> Value {
        json!({"name": "headlamp", "image": "ghcr.io/headlamp-k8s/headlamp:v0.45.0", "args": args})
    }

    #[test]
    fn the_context_name_follows_the_flags() {
        assert_eq!(
            context_of(&container(&[
                "-in-cluster",
                "-in-cluster-context-name=main"
            ])),
            Some("main".into())
        );
        assert_eq!(
            context_of(&container(&["-in-cluster"])),
            Some("main".into())
        );
        assert_eq!(
            context_of(&container(&[
                "--in-cluster",
                "-in-cluster-context-name=a/b c"
            ])),
            Some("a--b__c".into())
        );
        assert_eq!(
            context_of(&container(&["-plugins-dir=/headlamp/plugins"])),
            None
        );
    }

    #[test]
    fn the_token_is_the_cookie_chunks_joined() {
        assert_eq!(
            token_from_cookie(
                "x=1; headlamp-auth-main.0=ab; headlamp-auth-main.1=cd",
                "main"
            ),
            Some("abcd".into())
        );
        // A gap ends the token; another context's cookie is not ours.
        assert_eq!(
            token_from_cookie("headlamp-auth-main.0=ab; headlamp-auth-main.2=cd", "main"),
            Some("ab".into())
        );
        assert_eq!(token_from_cookie("headlamp-auth-kind.0=ab", "main"), None);
        // Hyphens and underscores stay in the name.
        assert_eq!(
            token_from_cookie("headlamp-auth-kind-e2e_1.0=ab", "kind-e2e_1"),
            Some("ab".into())
        );
        // The name in the cookie is sanitized: dots are dropped.
        assert_eq!(
            token_from_cookie("headlamp-auth-kindlocal.0=ab", "kind.local"),
            Some("ab".into())
        );
    }
}
