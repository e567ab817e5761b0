//! "Host on this computer": the real meeting server (`conclave_server`) runs inside the app, with
//! its SQLite database, organization key and self-signed certificate in the app's data
//! directory. The app pins that certificate, creates the local host account on first run (its
//! random password goes to the OS keychain) and signs in over HTTPS like any client would.
//!
//! It listens on loopback unless the user opted in to hosting for the local network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use conclave_core::client::TlsTrust;
use conclave_core::client::account::{AccountError, sign_in};
use conclave_e2ee::group::{generate_signature_keys, signature_keys_to_bytes};
use conclave_server::config::ServerConfig;
use conclave_server::server::{LocalAccount, RunningServer, ServerError, start};
use conclave_server::store::StoreError;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use tokio::sync::Mutex;

use crate::join::SignedInIdentity;
use crate::secrets::{self, SecretsError};

/// The port tried first, so invitations stay valid across restarts; any free port otherwise.
pub const PREFERRED_PORT: u16 = 8443;
const HOST_USERNAME: &str = "host";

/// Why hosting on this computer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbeddedError {
    #[error("the meeting server could not start: {0}")]
    Server(String),
    #[error("the host account could not be created: {0}")]
    Account(String),
    #[error("signing in to the local server failed: {0}")]
    SignIn(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl From<ServerError> for EmbeddedError {
    fn from(e: ServerError) -> Self {
        EmbeddedError::Server(e.to_string())
    }
}

impl From<StoreError> for EmbeddedError {
    fn from(e: StoreError) -> Self {
        EmbeddedError::Account(e.to_string())
    }
}

impl From<AccountError> for EmbeddedError {
    fn from(e: AccountError) -> Self {
        EmbeddedError::SignIn(e.to_string())
    }
}

/// Where and how to host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub data_dir: PathBuf,
    /// Reachable from the local network (off: loopback only).
    pub lan: bool,
    /// Port to try first (0: any free port).
    pub port: u16,
    /// The host account created on an earlier run, if any.
    pub username: Option<String>,
    /// The host's name as others see it.
    pub display_name: String,
}

/// A running embedded server plus the host's signed-in identity on it.
#[derive(Clone)]
pub struct Hosted {
    server: Arc<Mutex<Option<RunningServer>>>,
    /// `host:port` clients (and invitations) use.
    pub address: String,
    /// The pinned certificate fingerprint.
    pub pin: String,
    pub username: String,
    pub display_name: String,
    pub identity: SignedInIdentity,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted")
            .field("address", &self.address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Hosted {
    pub fn trust(&self) -> TlsTrust {
        TlsTrust::PinnedSha256(self.pin.clone())
    }

    /// Stops the server: participants are told the meeting ended, the database closes.
    pub async fn shutdown(&self) {
        if let Some(running) = self.server.lock().await.take() {
            running.shutdown().await;
        }
    }
}

fn server_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("server")
}

/// The address other computers reach this one at (the interface of the default route).
fn lan_address() -> Option<IpAddr> {
    // Connecting a UDP socket sends nothing; it only asks the OS which interface it would use.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

fn config(options: &HostOptions, port: u16) -> ServerConfig {
    let (listen_ip, media_bind, public_ip) = if options.lan {
        let public = lan_address().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), "0.0.0.0:0", public)
    } else {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        (loopback, "127.0.0.1:0", loopback)
    };
    ServerConfig {
        listen: SocketAddr::new(listen_ip, port),
        data_dir: server_dir(&options.data_dir),
        hostnames: vec![public_ip.to_string()],
        media_bind: media_bind.to_owned(),
        ..ServerConfig::default()
    }
}

fn random_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

async fn start_server(options: &HostOptions) -> Result<RunningServer, EmbeddedError> {
    match start(config(options, options.port)).await {
        Ok(running) => Ok(running),
        Err(ServerError::Io { .. }) if options.port != 0 => {
            tracing::warn!(
                port = options.port,
                "preferred port busy; hosting on a free port"
            );
            // The server puts the real port into invitations' address itself.
            Ok(start(config(options, 0)).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The host account and its password: created on first run, else read from the keychain.
async fn host_account(
    running: &RunningServer,
    options: &HostOptions,
) -> Result<(String, String), EmbeddedError> {
    let username = options
        .username
        .clone()
        .unwrap_or_else(|| HOST_USERNAME.to_owned());
    let exists = running.has_local_account(&username).await?;
    let account = secrets::host_password_account(&username);
    let known = secrets::blocking(move || secrets::get(&account)).await?;
    if let (true, Some(password)) = (exists, &known) {
        return Ok((username, password.clone()));
    }
    let password = random_password();
    // Keychain first: if it is missing, no account is created that nobody could sign in to.
    let account = secrets::host_password_account(&username);
    let secret = password.clone();
    secrets::blocking(move || secrets::set(&account, &secret)).await?;
    // When it exists, the keychain lost the password (e.g. a new login session's keyring).
    // This app owns the embedded server's database, so it resets the password — the account
    // keeps its scheduled meetings — and the old tokens are revoked.
    match running
        .ensure_local_account(&username, &options.display_name, &password)
        .await?
    {
        LocalAccount::PasswordReset => {
            tracing::info!(%username, "reset the local host account's password");
        }
        LocalAccount::Created => tracing::info!(%username, "created the local host account"),
    }
    Ok((username, password))
}

/// Starts the embedded server and signs the local host in.
pub async fn host_on_this_computer(options: HostOptions) -> Result<Hosted, EmbeddedError> {
    let running = start_server(&options).await?;
    let address = if options.lan {
        let ip = lan_address().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        SocketAddr::new(ip, running.addr.port()).to_string()
    } else {
        running.addr.to_string()
    };
    let pin = running.tls_fingerprint.clone();
    let result = async {
        let (username, password) = host_account(&running, &options).await?;
        let signer = generate_signature_keys().map_err(|e| EmbeddedError::SignIn(e.to_string()))?;
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), running.addr.port());
        let signed_in = sign_in(
            &loopback.to_string(),
            &TlsTrust::PinnedSha256(pin.clone()),
            &username,
            &password,
            signer.public(),
        )
        .await?;
        let signature_keys =
            signature_keys_to_bytes(&signer).map_err(|e| EmbeddedError::SignIn(e.to_string()))?;
        let identity = SignedInIdentity::from_sign_in(&signed_in, signature_keys);
        Ok::<_, EmbeddedError>((username, signed_in.display_name, identity))
    }
    .await;
    match result {
        Ok((username, display_name, identity)) => Ok(Hosted {
            server: Arc::new(Mutex::new(Some(running))),
            address,
            pin,
            username,
            display_name,
            identity,
        }),
        Err(e) => {
            running.shutdown().await;
            Err(e)
        }
    }
}

/// The name the local host is shown with: the OS account's name, else "Host" (translated).
pub fn default_display_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| crate::fl!("embedded-default-host-name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, username: Option<String>) -> HostOptions {
        HostOptions {
            data_dir: dir.to_path_buf(),
            lan: false,
            port: 0,
            username,
            display_name: "Hana".into(),
        }
    }

    #[tokio::test]
    async fn hosting_creates_the_host_account_and_signs_in_on_loopback() {
        // Unit tests use keyring's mock store: it keeps nothing between entries, which is
        // exactly a keychain that lost the host password.
        crate::service::secrets::use_mock_store();
        let dir = tempfile::tempdir().expect("temp dir");
        let hosted = host_on_this_computer(options(dir.path(), None))
            .await
            .expect("hosting starts without any manual step");
        assert_eq!(hosted.username, HOST_USERNAME);
        assert_eq!(hosted.display_name, "Hana");
        assert!(hosted.address.starts_with("127.0.0.1:"));
        assert!(!hosted.identity.token.is_empty());
        assert!(hosted.identity.member().is_ok());
        // The host can schedule on it over HTTPS with the pinned certificate.
        let scheduler = conclave_core::client::schedule_api::Scheduler::new(
            &hosted.address,
            &hosted.trust(),
            &hosted.identity.token,
        )
        .expect("client");
        assert!(scheduler.list().await.expect("list").is_empty());
        hosted.shutdown().await;
        assert!(dir.path().join("server").join("conclave.db").exists());

        // Restart with the password gone from the keychain: the same account (and its
        // meetings), a new password, the old token revoked.
        let again = host_on_this_computer(options(dir.path(), Some(HOST_USERNAME.into())))
            .await
            .expect("hosting restarts");
        assert_eq!(again.username, HOST_USERNAME);
        assert_ne!(again.identity.token, hosted.identity.token);
        let old = conclave_core::client::schedule_api::Scheduler::new(
            &again.address,
            &again.trust(),
            &hosted.identity.token,
        )
        .expect("client");
        assert!(old.list().await.is_err(), "the old token must be revoked");
        again.shutdown().await;
    }

    #[tokio::test]
    async fn the_network_reaches_the_host_only_when_it_opts_in() {
        crate::service::secrets::use_mock_store();
        let network_ip = lan_address().filter(|ip| !ip.is_loopback());
        let dir = tempfile::tempdir().expect("temp dir");
        let mut for_the_network = options(dir.path(), None);
        for_the_network.lan = true;
        let hosted = host_on_this_computer(for_the_network)
            .await
            .expect("hosting for the network starts");
        let address: SocketAddr = hosted.address.parse().expect("host:port");
        if let Some(ip) = network_ip {
            assert_eq!(address.ip(), ip, "others are told the network address");
        }
        // Another computer uses exactly what home shows: the address and the pin.
        let scheduler = conclave_core::client::schedule_api::Scheduler::new(
            &hosted.address,
            &hosted.trust(),
            &hosted.identity.token,
        )
        .expect("client");
        assert!(scheduler.list().await.is_ok(), "reachable at {address}");
        hosted.shutdown().await;

        // Not opted in: the same machine's network address does not answer.
        let other_dir = tempfile::tempdir().expect("temp dir");
        let local = host_on_this_computer(options(other_dir.path(), None))
            .await
            .expect("hosting starts");
        let port = local
            .address
            .parse::<SocketAddr>()
            .expect("host:port")
            .port();
        if let Some(ip) = network_ip {
            let reached = std::net::TcpStream::connect_timeout(
                &SocketAddr::new(ip, port),
                std::time::Duration::from_secs(2),
            );
            assert!(reached.is_err(), "loopback only unless the host opts in");
        }
        local.shutdown().await;
    }
}
