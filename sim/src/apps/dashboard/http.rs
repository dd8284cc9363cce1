//! The dashboard's HTTP API: request logging, CSRF and login, sessions and their expiry,
//! the integration state, and routing to the lists (D@v1.10.1 `handler/`, `auth/`,
//! `client/manager.go`, `integration/handler.go`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::client::{Provider, append_log, health_check, settings, unreachable};
use super::lists::Lists;
use crate::apps::common::{
    App, AppRequest, Http, ServiceProxy, go_time_json, key_of, service_account_of,
};
use crate::cluster::{Cluster, Session, State};

/// The dashboard's port 8443 (the proxy has already refused plain HTTP).
pub fn serve(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    req: &AppRequest,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    let path = req.path.trim_end_matches('/');
    // `requestAndResponseLogger` (handler/filter.go): every API call, both ways.
    let sensitive = ["/api/v1/login", "/api/v1/csrftoken/login"].contains(&path);
    let content = if sensitive {
        "{ contents hidden }"
    } else {
        "{}"
    };
    let remote = "172.18.0.2:41234";
    append_log(
        st,
        pod,
        container,
        &format!(
            "[{}] Incoming HTTP/1.1 {} {} request from {remote}: {content}",
            go_time_json(now),
            req.method,
            req.path
        ),
    );
    let answer = route(cluster, st, pod, container, path, req, net, now);
    append_log(
        st,
        pod,
        container,
        &format!(
            "[{}] Outcoming response to {remote} with {} status code",
            go_time_json(now),
            answer.status
        ),
    );
    answer
}

#[allow(clippy::too_many_arguments)]
fn route(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    path: &str,
    req: &AppRequest,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    match (req.method, path) {
        ("GET", "/api/v1/csrftoken/login") => {
            return Http::restful_json(200, &json!({"token": csrf_token(cluster, now)}));
        }
        ("POST", "/api/v1/login") => return login(cluster, st, req, now),
        ("GET", p) if p.starts_with("/api/v1/integration/") => {
            return integration_state(cluster, st, pod, container, p, net, now);
        }
        _ => {}
    }
    let settings = settings(container);
    // `clientManager.Client`: over TLS, a request without credentials is refused unless
    // skipping login is enabled, in which case the dashboard's own account is used.
    let user = match req.header("jweToken").filter(|t| !t.is_empty()) {
        Some(jwe) => match st.dashboard_sessions.get(jwe) {
            None => return Http::go_error(500, "square/go-jose: error in cryptographic primitive"),
            Some(session)
                if settings
                    .token_ttl
                    .is_some_and(|ttl| now >= session.issued + ttl)
                    || session.expired =>
            {
                // v1.10.1 returns a plain error, which `HandleInternalError` makes a 500;
                // v2.7.0 a `NewTokenExpired` StatusError with code 401, which it keeps
                // (D@v2.7.0 `auth/jwe/manager.go`, `errors/errors.go`, `errors/handler.go`).
                let code = if App::of_image(container["image"].as_str().unwrap_or_default())
                    == App::DashboardV2
                {
                    401
                } else {
                    500
                };
                return Http::go_error(code, "MSG_TOKEN_EXPIRED_ERROR");
            }
            Some(session) => session.who.clone(),
        },
        None if settings.skip_login => service_account_of(pod),
        None => return Http::go_error(401, "MSG_LOGIN_UNAUTHORIZED_ERROR"),
    };
    let connected = st.dashboards.get(&key_of(pod)).is_some_and(|r| r.connected);
    let lists = Lists {
        cluster,
        pod,
        container,
        user: &user,
        net,
        now,
        metrics: connected,
    };
    match (req.method, path.strip_prefix("/api/v1/")) {
        ("GET", Some("node")) => lists.nodes(st),
        ("GET", Some("pod")) => lists.pods(st, None),
        ("GET", Some(rest)) if rest.starts_with("pod/") && !rest[4..].contains('/') => {
            lists.pods(st, Some(&rest[4..]))
        }
        _ => Http::restful_not_found(),
    }
}

/// An xsrftoken bound to this cluster (the dashboard signs with its service account token).
fn csrf_token(cluster: &Cluster, now: Timestamp) -> String {
    format!("csrf-{}-{}", cluster.config.name, now.as_second())
}

fn login(cluster: &Cluster, st: &mut State, req: &AppRequest, now: Timestamp) -> Http {
    let prefix = format!("csrf-{}-", cluster.config.name);
    if !req
        .header("X-CSRF-TOKEN")
        .is_some_and(|t| t.starts_with(&prefix))
    {
        return Http::go_error(401, "CSRF validation failed");
    }
    let token = serde_json::from_str::<Value>(req.body)
        .ok()
        .and_then(|b| b["token"].as_str().map(str::to_string))
        .unwrap_or_default();
    if token.is_empty() {
        return Http::go_error(500, "Not enough data to create authenticator.");
    }
    if cluster.config.faults.dashboard_never_connects {
        return Http::go_error(500, &unreachable("/version").text);
    }
    // `HasAccess`: /version with the token; a 401 is non-critical, localized.
    match st.sa_tokens.get(&token).cloned() {
        Some(who) => {
            let jwe = crate::random_token("jwe");
            st.dashboard_sessions.insert(
                jwe.clone(),
                Session {
                    who,
                    issued: now,
                    expired: false,
                },
            );
            Http::restful_json(200, &json!({"jweToken": jwe, "errors": []}))
        }
        None => Http::restful_json(
            200,
            &json!({"jweToken": "", "errors": [{"ErrStatus": {"metadata": {}, "status": "Failure", "message": "MSG_LOGIN_UNAUTHORIZED_ERROR", "reason": "Unauthorized", "code": 401}}]}),
        ),
    }
}

/// `GET /api/v1/integration/{name}/state`: a live health check, no login needed.
fn integration_state(
    cluster: &Cluster,
    st: &mut State,
    pod: &Value,
    container: &Value,
    path: &str,
    net: &dyn ServiceProxy,
    now: Timestamp,
) -> Http {
    let name = path
        .trim_start_matches("/api/v1/integration/")
        .trim_end_matches("/state");
    if name != Provider::of(container).id() {
        return Http::go_error(
            500,
            &format!("Integration with given id {name} does not exist"),
        );
    }
    let error = health_check(cluster, st, pod, net, now).err();
    Http::restful_json(
        200,
        &json!({"connected": error.is_none(), "lastChecked": go_time_json(now), "error": error.map(|e| e.json)}),
    )
}

/// Expire every login session now (what 900 s of waiting would do).
pub fn expire_sessions(st: &mut State) {
    for s in st.dashboard_sessions.values_mut() {
        s.expired = true;
    }
}
