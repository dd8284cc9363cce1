//! Serving one simulated cluster: the TLS listener (the admin authenticates with kind's
//! client certificate), the HTTP router (`api`), and the controller loop, until the
//! handle is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use crate::cluster::{Cluster, SimConfig, State, bootstrap, now};
use crate::store::Store;

/// A running simulated cluster; dropping it (or `shutdown`) stops its server and controllers.
pub struct ClusterHandle {
    pub cluster: Arc<Cluster>,
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl ClusterHandle {
    pub fn server_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig for this cluster as kind writes it: context `kind-NAME`, the cluster
    /// CA, and the admin's client certificate.
    pub fn kubeconfig(&self) -> Value {
        let pki = &self.cluster.pki;
        let creds = crate::kubeconfig::Credentials {
            ca_pem: &pki.ca_pem,
            client_cert_pem: &pki.client_cert_pem,
            client_key_pem: &pki.client_key_pem,
        };
        crate::kubeconfig::for_cluster(&self.cluster.config.name, &self.server_url(), &creds)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        crate::kubeconfig::write(path, &self.kubeconfig())
    }

    /// Mark images present on the given nodes (all nodes when `nodes` is empty).
    pub fn load_images(&self, images: &[String], nodes: &[String]) {
        let faults = &self.cluster.config.faults;
        let mut st = self.cluster.lock();
        for (node, present) in st.node_images.iter_mut() {
            if nodes.is_empty() || nodes.contains(node) {
                present.extend(
                    images
                        .iter()
                        .filter(|i| faults.loads(i))
                        .map(|i| crate::images::normalize(i)),
                );
            }
        }
    }

    pub fn images_on(&self, node: &str) -> Option<BTreeSet<String>> {
        self.cluster.lock().node_images.get(node).cloned()
    }

    /// Wait until a request `METHOD url` starting with `prefix` has been answered.
    pub async fn wait_for_request(&self, prefix: &str) {
        wait_for_request(&self.cluster, prefix).await
    }

    /// Every `METHOD path?query` the API server answered so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.cluster.lock().requests.clone()
    }

    /// The same requests whole, to replay them.
    pub fn recorded(&self) -> Vec<crate::cluster::RecordedRequest> {
        self.cluster.lock().recorded.clone()
    }

    /// Expire every dashboard login, as 900 s (`--token-ttl`) of waiting would.
    pub fn expire_dashboard_sessions(&self) {
        crate::apps::dashboard::expire_sessions(&mut self.cluster.lock());
    }

    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A simulated cluster's state and identity, without a server or a clock: `start` serves
/// it; tests can also drive it by hand (`controllers::reconcile_at`).
pub fn build(config: SimConfig) -> std::io::Result<Cluster> {
    let (_, minor, git_version) = config.version();
    let mut state = State {
        store: Store::new(),
        node_images: BTreeMap::new(),
        pods: HashMap::new(),
        logs: HashMap::new(),
        dashboards: HashMap::new(),
        sa_tokens: HashMap::new(),
        dashboard_sessions: HashMap::new(),
        heapster_logged: HashMap::new(),
        metrics_server_logged: HashMap::new(),
        endpoint_slices: Default::default(),
        scrapers: HashMap::new(),
        requests: Vec::new(),
        request_counts: HashMap::new(),
        recorded: Vec::new(),
        next_ip: 2,
    };
    bootstrap(&mut state, &config, &git_version);
    Ok(Cluster {
        admin_token: crate::random_token("admin"),
        pki: crate::pki::generate()?,
        requested: tokio::sync::Notify::new(),
        minor,
        git_version,
        started: now(),
        config,
        state: Mutex::new(state),
    })
}

/// Start a simulated cluster on 127.0.0.1 with a random port, inside the current tokio runtime.
pub async fn start(config: SimConfig) -> std::io::Result<ClusterHandle> {
    let cluster = Arc::new(build(config)?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(serve_tls(listener, cluster.clone(), stop.subscribe()));
    let controller_cluster = cluster.clone();
    tokio::spawn(async move {
        // Reconcile at once on every change from outside (an apply, a delete), and on a
        // tick for what time alone changes (a pod starting, a heapster export). The tick
        // follows the timing, so an idle realistic cluster wakes once a second.
        let mut changes = controller_cluster.lock().store.subscribe();
        let mut tick = tokio::time::interval(controller_cluster.config.timing.tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = changes.recv() => {
                    if matches!(changed, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        break;
                    }
                }
                _ = stopped.wait_for(|s| *s) => break,
            }
            crate::controllers::reconcile(&controller_cluster);
            // The pass's own writes are not news: drop them, or it would wake itself.
            while !matches!(
                changes.try_recv(),
                Err(tokio::sync::broadcast::error::TryRecvError::Empty
                    | tokio::sync::broadcast::error::TryRecvError::Closed)
            ) {}
        }
    });
    Ok(ClusterHandle {
        cluster,
        addr,
        stop,
    })
}

/// Wait until `cluster` has answered a request `METHOD url` starting with `prefix`.
pub(crate) async fn wait_for_request(cluster: &Cluster, prefix: &str) {
    loop {
        let notified = cluster.requested.notified();
        if cluster
            .lock()
            .requests
            .iter()
            .any(|(m, u)| format!("{m} {u}").starts_with(prefix))
        {
            return;
        }
        notified.await;
    }
}

/// Accept TLS connections until stopped; each request carries whether its connection
/// authenticated with the admin certificate.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    cluster: Arc<Cluster>,
    mut stop: watch::Receiver<bool>,
) {
    use tower::ServiceExt;
    let acceptor = tokio_rustls::TlsAcceptor::from(cluster.pki.server_config.clone());
    let app = crate::api::router(cluster.clone());
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let admin_der = cluster.pki.client_cert_der.clone();
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let is_admin = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .is_some_and(|c| c.as_ref() == admin_der.as_slice());
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(crate::api::AdminCertificate(is_admin));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let conn =
                builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
            tokio::select! {
                _ = conn => {}
                _ = conn_stop.wait_for(|s| *s) => {}
            }
        });
    }
}
