//! Talking to a cluster: a client from the kubeconfig (`--kubeconfig`, else `KUBECONFIG`,
//! else `~/.kube/config`), requests through the API server's service proxy, and retries
//! of transient API errors.

pub mod evidence;
pub mod status;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use http_body_util::BodyExt;
pub use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Build a client and prove it reaches the API server.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => Kubeconfig::read_from(path).with_context(|| {
            format!(
                "cannot read kubeconfig {}: pass a readable file with --kubeconfig",
                path.display()
            )
        })?,
        None => Kubeconfig::read().context(
            "cannot read the kubeconfig from KUBECONFIG or ~/.kube/config: pass --kubeconfig PATH",
        )?,
    };
    let known: Vec<String> = config.contexts.iter().map(|c| c.name.clone()).collect();
    if let Some(ctx) = context
        && !known.iter().any(|k| k == ctx)
    {
        anyhow::bail!(
            "context {ctx:?} is not in the kubeconfig (it has: {}); pass one of them with --context",
            known.join(", ")
        );
    }
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(config, &options)
        .await
        .context("the kubeconfig does not describe a usable cluster")?;
    // kube's own retry layer re-sends 503s up to 15 times; through the service proxy a 503
    // is an answer ("no endpoints available"), so retries stay here, bounded (`retry`).
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).context("cannot build a Kubernetes client from the kubeconfig")?;
    let version = tokio::time::timeout(Duration::from_secs(15), retry(|| client.apiserver_version()))
        .await
        .map_err(|_| anyhow::anyhow!("the API server at {server} did not answer within 15s"))?
        .with_context(|| format!("cannot reach the API server at {server}: is the cluster running and the kubeconfig current?"))?;
    let _ = version;
    Ok(client)
}

/// The bearer token the kubeconfig's user logs in with, if it has one (kind's admin logs in
/// with a client certificate and has none).
pub async fn bearer_token(kubeconfig: Option<&Path>, context: Option<&str>) -> Option<String> {
    use secrecy::ExposeSecret;
    let file = match kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .ok()?;
    let token = config.auth_info.token?;
    Some(token.expose_secret().to_string()).filter(|t| !t.is_empty())
}

/// Whether an API error is worth retrying: overload, server errors, broken connections.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => {
            status.code == 429 || (status.code >= 500 && status.reason != "ServiceUnavailable")
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// Retry a request on transient errors, with backoff: 6 tries over about 1.5 seconds.
pub async fn retry<T, F, Fut>(f: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    retry_while(f, |r| matches!(r, Err(e) if is_transient(e))).await
}

/// Try again, with backoff, while `transient` says the result may change: 6 tries at most.
async fn retry_while<T, F, Fut>(
    mut f: F,
    transient: impl Fn(&Result<T, kube::Error>) -> bool,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(50);
    for _ in 1..6 {
        let result = f().await;
        if !transient(&result) {
            return result;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    f().await
}

/// A raw HTTP answer from behind the API server's proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The API server's own refusal (a `Status` object), as opposed to the app's answer.
    pub fn api_status(&self) -> Option<(String, String)> {
        // Only the three fields read: a large answer is skimmed, not built into a tree.
        #[derive(serde::Deserialize)]
        struct Head {
            kind: Option<String>,
            reason: Option<String>,
            message: Option<String>,
        }
        let head: Head = serde_json::from_str(&self.body).ok()?;
        (head.kind.as_deref() == Some("Status")).then(|| {
            (
                head.reason.unwrap_or_default(),
                head.message.unwrap_or_default(),
            )
        })
    }

    /// Transient answers of the API server itself: overload (429) and its internal errors
    /// (`InternalError` is a 500, `Timeout` a 504: `NewInternalError` and `NewTimeoutError`
    /// in apimachinery@v0.36.3 pkg/api/errors/errors.go), so a success is never read for them.
    pub fn is_transient(&self) -> bool {
        self.status == 429
            || (self.status >= 500
                && self
                    .api_status()
                    .is_some_and(|(reason, _)| reason == "InternalError" || reason == "Timeout"))
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("malformed JSON ({e}): {}", snippet(&self.body)))
    }
}

pub fn snippet(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &t[..cut]),
        None => t.to_string(),
    }
}

/// `/api/v1/namespaces/NS/services/SERVICE/proxy/PATH`.
pub fn service_proxy_path(namespace: &str, service: &str, path: &str) -> String {
    format!(
        "/api/v1/namespaces/{namespace}/services/{service}/proxy/{}",
        path.trim_start_matches('/')
    )
}

/// Send a request and return its status and body, whatever the status; transient
/// refusals of the API server are retried.
pub async fn raw(
    client: &Client,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, kube::Error> {
    let transient = |r: &Result<Answer, kube::Error>| match r {
        Ok(a) => a.is_transient(),
        Err(e) => is_transient(e),
    };
    retry_while(
        || async {
            let mut builder = http::Request::builder().method(method.clone()).uri(path);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            let request = builder
                .body(kube::client::Body::from(body.clone()))
                .map_err(kube::Error::HttpError)?;
            let response = client.send(request).await?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))?
                .to_bytes();
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(&bytes).to_string(),
            })
        },
        transient,
    )
    .await
}

pub async fn proxy_get(
    client: &Client,
    namespace: &str,
    service: &str,
    path: &str,
) -> Result<Answer, kube::Error> {
    raw(
        client,
        http::Method::GET,
        &service_proxy_path(namespace, service, path),
        &[],
        Vec::new(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_refusals_are_told_from_app_answers() {
        let refusal = Answer {
            status: 500,
            body: r#"{"kind":"Status","reason":"InternalError","message":"etcd"}"#.into(),
        };
        assert!(refusal.is_transient());
        let healthz = Answer {
            status: 500,
            body: "[-]healthz failed: could not get the latest data batch".into(),
        };
        assert!(!healthz.is_transient());
        let no_endpoints = Answer { status: 503, body: r#"{"kind":"Status","reason":"ServiceUnavailable","message":"no endpoints available for service \"heapster\""}"#.into() };
        assert!(!no_endpoints.is_transient());
        assert_eq!(no_endpoints.api_status().unwrap().0, "ServiceUnavailable");
        let timeout = Answer {
            status: 504,
            body: r#"{"kind":"Status","reason":"Timeout","message":"the server was unable to return a response in the time allotted"}"#.into(),
        };
        assert!(timeout.is_transient());
        let overload = Answer {
            status: 429,
            body: String::new(),
        };
        assert!(overload.is_transient());
        // An app's own JSON: a `kind` that is not a string, or no `kind`, is not a Status.
        let app = Answer {
            status: 500,
            body: r#"{"kind":3,"reason":"InternalError"}"#.into(),
        };
        assert_eq!(app.api_status(), None);
        assert!(!app.is_transient());
    }

    /// The API server's own refusals, as kube reads them from its `Status`.
    fn api_error(code: u16, reason: &str) -> kube::Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": reason,
        }))
        .expect("a Status");
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn overload_server_errors_and_broken_connections_are_retried_refusals_are_not() {
        assert!(is_transient(&api_error(429, "TooManyRequests")));
        assert!(is_transient(&api_error(500, "InternalError")));
        assert!(is_transient(&api_error(504, "Timeout")));
        // A Service without endpoints is the stack's state, not the API server's hiccup.
        assert!(!is_transient(&api_error(503, "ServiceUnavailable")));
        assert!(!is_transient(&api_error(499, "")));
        assert!(!is_transient(&api_error(403, "Forbidden")));
        assert!(!is_transient(&api_error(404, "NotFound")));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&kube::Error::ReadEvents(reset)));
        assert!(is_transient(&kube::Error::Service(
            "connection refused".into()
        )));
        assert!(!is_transient(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }

    #[tokio::test]
    async fn the_token_is_the_named_contexts_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            r#"apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: admin
  context: {cluster: c, user: admin}
- name: reader
  context: {cluster: c, user: reader}
users:
- name: admin
  user: {token: admin-token}
- name: reader
  user: {token: ""}
"#,
        )
        .unwrap();
        assert_eq!(
            bearer_token(Some(&path), None).await.as_deref(),
            Some("admin-token")
        );
        // The named context's user, not the current one; an empty token is none.
        assert_eq!(bearer_token(Some(&path), Some("reader")).await, None);
        assert_eq!(
            bearer_token(Some(&dir.path().join("absent")), None).await,
            None
        );
    }

    #[test]
    fn proxy_paths() {
        assert_eq!(
            service_proxy_path("kube-system", "heapster", "/healthz"),
            "/api/v1/namespaces/kube-system/services/heapster/proxy/healthz"
        );
    }
}
