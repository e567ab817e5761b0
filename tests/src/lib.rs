//! Shared helpers for Conclave's end-to-end tests (the tests live in `tests/tests/`): a real
//! `conclaved` on loopback with its own data directory, and headless clients on the real
//! client engine.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod media;

use std::path::PathBuf;
use std::time::Duration;

use conclave_core::client::account::{CreatedMeeting, NewMeeting, SignIn, create_meeting, sign_in};
use conclave_core::client::{ConnectOptions, MeetingClient, Phase, Snapshot, TlsTrust};
use conclave_e2ee::group::{GroupMember, generate_signature_keys};
use conclave_protocol::identity::CredentialPayload;
use conclave_protocol::{DisplayName, MeetingNumber, MeetingPassword};
use conclave_server::config::ServerConfig;
use conclave_server::server::{RunningServer, start};

/// How long a test waits for something that should take milliseconds on loopback.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A server on 127.0.0.1 with a temporary data directory.
pub struct TestServer {
    pub running: RunningServer,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// A signed-in user's device: the MLS member with its certified credential, plus the token.
pub struct Device {
    pub member: GroupMember,
    pub token: String,
    pub sign_in: SignIn,
}

impl TestServer {
    /// Starts a fresh server.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_in(data_dir).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a fresh server with its configuration adjusted.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_configured(dir.path().to_path_buf(), adjust).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on an existing data directory (restart tests).
    pub async fn start_in(data_dir: PathBuf) -> Self {
        Self::start_configured(data_dir, |_| {}).await
    }

    async fn start_configured(data_dir: PathBuf, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            media_bind: "127.0.0.1:0".to_owned(),
            media_tcp_bind: "127.0.0.1:0".to_owned(),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let running = start(config).await.unwrap();
        Self {
            running,
            data_dir,
            _dir: None,
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        self.running.addr.to_string()
    }

    /// Trust exactly this server's self-signed certificate.
    pub fn trust(&self) -> TlsTrust {
        TlsTrust::PinnedSha256(self.running.tls_fingerprint.clone())
    }

    /// Creates an account directly in the server's store.
    pub async fn add_user(&self, username: &str, display_name: &str, password: &str) {
        self.running
            .hub()
            .store()
            .add_user(username, display_name, password)
            .await
            .unwrap();
    }

    /// Signs in over HTTPS with a fresh device key.
    pub async fn sign_in(&self, username: &str, password: &str) -> Device {
        let signer = generate_signature_keys().unwrap();
        let result = sign_in(
            &self.address(),
            &self.trust(),
            username,
            password,
            signer.public(),
        )
        .await
        .unwrap();
        let member =
            GroupMember::new(signer, &CredentialPayload::user(result.certificate.clone())).unwrap();
        Device {
            member,
            token: result.token.clone(),
            sign_in: result,
        }
    }

    /// Creates a meeting as the signed-in `host`.
    pub async fn create_meeting(&self, host: &Device, options: NewMeeting) -> CreatedMeeting {
        create_meeting(&self.address(), &self.trust(), &host.token, &options)
            .await
            .unwrap()
    }

    async fn connect(&self, member: GroupMember, token: Option<String>) -> MeetingClient {
        let options = ConnectOptions {
            server: self.address(),
            trust: self.trust(),
            token,
        };
        MeetingClient::connect(options, member, Some(self.running.org_public_key))
            .await
            .unwrap()
    }

    /// A guest asking to join.
    pub async fn guest_joins(&self, name: &str, meeting: &CreatedMeeting) -> MeetingClient {
        self.guest_joins_with(name, &meeting.number, Some(&meeting.password))
            .await
    }

    /// A guest asking to join with a given password.
    pub async fn guest_joins_with(
        &self,
        name: &str,
        number: &str,
        password: Option<&str>,
    ) -> MeetingClient {
        let client = self.connect(GroupMember::guest(name).unwrap(), None).await;
        client.join(
            MeetingNumber::parse(number).unwrap(),
            password.map(|p| MeetingPassword::new(p).unwrap()),
            DisplayName::new(name).unwrap(),
        );
        client
    }

    /// A guest with a given device key (serialized signature key pair) asking to join.
    pub async fn guest_with_key_joins(
        &self,
        name: &str,
        device_key: &[u8],
        meeting: &CreatedMeeting,
    ) -> MeetingClient {
        let keys = conclave_e2ee::group::signature_keys_from_bytes(device_key).unwrap();
        let member = GroupMember::new(keys, &CredentialPayload::guest(name).unwrap()).unwrap();
        let client = self.connect(member, None).await;
        client.join(
            MeetingNumber::parse(&meeting.number).unwrap(),
            Some(MeetingPassword::new(&meeting.password).unwrap()),
            DisplayName::new(name).unwrap(),
        );
        client
    }

    /// A signed-in user asking to join.
    pub async fn user_joins(&self, device: Device, meeting: &CreatedMeeting) -> MeetingClient {
        let name = DisplayName::new(&device.sign_in.display_name).unwrap();
        let client = self.connect(device.member, Some(device.token)).await;
        client.join(
            MeetingNumber::parse(&meeting.number).unwrap(),
            Some(MeetingPassword::new(&meeting.password).unwrap()),
            name,
        );
        client
    }
}

/// Waits until `client` is in the meeting with group keys (the padlock is shown).
pub async fn in_meeting(client: &mut MeetingClient) -> Snapshot {
    wait(client, "in the meeting", |s| {
        s.phase == Some(Phase::InMeeting) && s.end_to_end_encrypted
    })
    .await
}

/// Waits for a condition, failing the test with the last snapshot if it never holds.
pub async fn wait(
    client: &mut MeetingClient,
    what: &str,
    condition: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    match client.wait_until(PATIENCE, condition).await {
        Ok(snapshot) => snapshot,
        Err(last) => panic!("timed out waiting for {what}; last state: {last:?}"),
    }
}

/// Waits until every client is at `epoch` and returns their verification codes.
pub async fn codes_at(clients: &mut [&mut MeetingClient], epoch: u64) -> Vec<String> {
    let mut codes = Vec::new();
    for client in clients.iter_mut() {
        let s = wait(client, &format!("epoch {epoch}"), |s| {
            s.epoch == Some(epoch)
        })
        .await;
        codes.push(s.code.map(|c| c.to_string()).unwrap_or_default());
    }
    codes
}

/// For the load bots (`tests/examples/`): the client's and the server's warnings on stderr,
/// at the level `RUST_LOG` names (warnings by default), so a bot's trouble is not silent.
pub fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
