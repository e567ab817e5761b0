//! Starting and stopping a whole server: store, organization key, TLS, the HTTPS router and
//! the auto-lock timer. `conclaved`, the tests and the desktop app's embedded mode all go
//! through [`start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use conclave_protocol::identity::OrgPublicKey;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, ServerConfig};
use crate::hub::{Hub, HubSettings};
use crate::{http, org_key, store, tls, ws};

/// How long shutdown waits for participants' connections to close after telling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest JSON body accepted by the HTTPS endpoints.
const MAX_JSON_BODY: usize = 64 * 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("organization key: {0}")]
    OrgKey(#[from] org_key::OrgKeyError),
    #[error("MLS delivery service key: {0}")]
    DeliveryService(#[from] conclave_e2ee::group::GroupError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// What [`RunningServer::ensure_local_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAccount {
    Created,
    PasswordReset,
}

/// A server that is accepting connections.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on (the real port when the configuration said 0).
    pub addr: SocketAddr,
    /// SHA-256 of the TLS certificate (DER), colon-separated upper-case hex: what a client
    /// pins when the certificate is self-signed.
    pub tls_fingerprint: String,
    /// The organization key that certifies signed-in users.
    pub org_public_key: OrgPublicKey,
    hub: Arc<Hub>,
    handle: axum_server::Handle,
    serve: JoinHandle<std::io::Result<()>>,
    ticker: JoinHandle<()>,
}

/// The routes: `/v1/ws`, `/v1/signin`, `/v1/sign-out`, `/v1/token/refresh`, `/v1/meetings`,
/// `/v1/org-key`, `/v1/server-info`, `/v1/health`.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/v1/ws", get(ws::handler))
        .route("/v1/signin", post(http::signin))
        .route("/v1/sign-out", post(http::sign_out))
        .route("/v1/token/refresh", post(http::refresh))
        .route("/v1/meetings", post(http::create_meeting))
        .route("/v1/org-key", get(http::org_key))
        .route("/v1/server-info", get(http::server_info))
        .route("/v1/health", get(http::health))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(hub)
}

/// Opens the data directory (database, organization key, certificate), binds the listener
/// and serves HTTPS until [`RunningServer::shutdown`].
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    // Owner-only: it holds the database (password and token hashes) and the org key.
    crate::private_files::create_private_dir(&config.data_dir).map_err(io(format!(
        "cannot create the data directory {}",
        config.data_dir.display()
    )))?;
    let store = store::Store::open(&config.data_dir).await?;
    let org_key = org_key::load_or_create_org_key(&config.data_dir)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls::load_cert(cert, key)?,
        _ => tls::load_or_create_dev_cert(&config.data_dir, &config.hostnames)?,
    };
    let tls_fingerprint = tls.fingerprint_sha256().to_string();

    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(io(format!("cannot listen on {}", config.listen)))?;
    listener
        .set_nonblocking(true)
        .map_err(io("cannot configure the listener"))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the listen address"))?;

    let sfu = crate::sfu::Sfu::with_tcp(&config.media_bind, &config.media_tcp_bind);
    // The MLS external-sender key is generated per process: MLS groups live only as long as
    // their meeting's room, and rooms do not survive a restart.
    let delivery = crate::room::DeliveryService::generate("conclaved delivery service")?;
    let hub = Arc::new(Hub::new(
        store,
        org_key,
        HubSettings {
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            access_token_ttl: Duration::from_secs(
                config.access_token_ttl_minutes.saturating_mul(60),
            ),
            refresh_token_ttl: Duration::from_secs(config.token_ttl_hours.saturating_mul(3600)),
            session_check: Duration::from_secs(config.session_check_secs),
            certificate_ttl: Duration::from_secs(config.certificate_ttl_hours.saturating_mul(3600)),
            send_timeout: Duration::from_secs(config.send_timeout_secs),
            password_policy: config.password_policy.clone(),
            meeting_defaults: config.meeting_defaults(),
            client_versions: config.client_versions(),
            audit_retention: Duration::from_secs(
                u64::from(config.audit_retention_days).saturating_mul(86_400),
            ),
        },
        sfu,
        delivery,
    ));
    let org_public_key = hub.org_public_key();
    let public_address = {
        // With port 0 the real port is only known now.
        let mut bound = config.clone();
        bound.listen = addr;
        bound.public_address()
    };
    let app = router(hub.clone())
        .merge(crate::schedule_http::routes(
            hub.clone(),
            crate::schedule_http::ScheduleSettings {
                password_policy: config.password_policy.clone(),
                public_address: public_address.clone(),
            },
        ))
        .merge(crate::join_page::routes(
            crate::join_page::JoinPageSettings {
                public_address,
                download_url: config.client_versions.download_url.clone(),
            },
        ));
    let handle = axum_server::Handle::new();
    // Small signaling messages must not wait for Nagle + delayed ACK (~40 ms per hop).
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(RustlsConfig::from_config(
        tls.server_config(),
    ))
    .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle.clone());
    let serve = tokio::spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    let ticker = tokio::spawn(tick(hub.clone()));
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        tls_fingerprint,
        org_public_key,
        hub,
        handle,
        serve,
        ticker,
    })
}

/// Seconds between purges of expired tokens and sessions.
const PURGE_EVERY_SECS: u64 = 3600;
/// Seconds between purges of audit entries older than the retention.
const AUDIT_PURGE_EVERY_SECS: u64 = 86_400;

/// Calls every room's `tick` once a second (auto-lock), purges expired tokens and sessions
/// (with their spent refresh tokens) once an hour, and audit entries older than the
/// retention at start and once a day.
async fn tick(hub: Arc<Hub>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seconds: u64 = 0;
    loop {
        interval.tick().await;
        hub.tick(std::time::Instant::now());
        if seconds.is_multiple_of(PURGE_EVERY_SECS) {
            match hub.store().purge_expired_tokens().await {
                Ok(purged) => tracing::debug!(purged, "expired tokens purged"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired tokens"),
            }
        }
        if seconds.is_multiple_of(AUDIT_PURGE_EVERY_SECS) {
            purge_audit(&hub).await;
        }
        seconds = seconds.wrapping_add(1);
    }
}

/// Deletes the audit entries older than `audit_retention_days`.
async fn purge_audit(hub: &Hub) {
    let retention = i64::try_from(hub.settings().audit_retention.as_secs()).unwrap_or(i64::MAX);
    let cutoff = store::unix_now().saturating_sub(retention);
    match hub.store().purge_audit_before(cutoff).await {
        Ok(purged) => tracing::info!(purged, "audit entries past their retention purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge the audit trail"),
    }
}

impl RunningServer {
    /// The shared state (store, rooms), e.g. for an embedding app or a test.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Whether a local account `username` exists (an embedding app asks before it looks up
    /// the account's password in its own keychain).
    pub async fn has_local_account(&self, username: &str) -> Result<bool, store::StoreError> {
        Ok(self.hub.store().user_by_username(username).await?.is_some())
    }

    /// Makes account `username` sign in with `password`: creates it as `display_name`, or,
    /// when it exists, resets its password (its scheduled meetings stay; its tokens are
    /// revoked). For an app that owns this server's database, e.g. the desktop app's host.
    pub async fn ensure_local_account(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<LocalAccount, store::StoreError> {
        let store = self.hub.store();
        if store.user_by_username(username).await?.is_some() {
            store.set_user_password(username, password).await?;
            Ok(LocalAccount::PasswordReset)
        } else {
            store.add_user(username, display_name, password).await?;
            Ok(LocalAccount::Created)
        }
    }

    /// Whether the HTTPS server stopped on its own (e.g. the listener failed).
    pub fn is_finished(&self) -> bool {
        self.serve.is_finished()
    }

    /// Graceful shutdown: every connected participant gets `meeting_ended{server_shutdown}`
    /// and is disconnected, then the listener and the database close.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.hub.begin_shutdown();
        self.hub.wait_for_connections(SHUTDOWN_GRACE).await;
        self.ticker.abort();
        self.handle.graceful_shutdown(Some(Duration::from_secs(2)));
        match tokio::time::timeout(SHUTDOWN_GRACE, self.serve).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("server did not stop in time"),
        }
        // Everything queued for the audit trail is written before the database closes.
        self.hub.flush_audit().await;
        let dropped = self.hub.audit_trail().dropped();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "audit entries were dropped while the queue was full"
            );
        }
        self.hub.store().close().await;
        tracing::info!("stopped");
    }
}
