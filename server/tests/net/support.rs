//! Helpers: a server on a free loopback port, pinned HTTPS and WebSocket clients, and
//! message readers.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use conclave_core::client::tls::{TlsTrust, client_config, owned_client_config};
use conclave_e2ee::group::{GroupMember, generate_signature_keys};
use conclave_protocol::identity::{CredentialPayload, MemberCertificate};
use conclave_protocol::{
    ClientMessage, DisplayName, ErrorCode, MeetingNumber, MeetingPassword, MlsBlob, ServerMessage,
    decode_server, encode_client,
};
use conclave_server::config::ServerConfig;
use conclave_server::server::{RunningServer, start};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const WAIT: Duration = Duration::from_secs(20);

/// A server on a free loopback port with its own data directory.
pub struct TestServer {
    pub server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let server = start(config).await.expect("server starts");
        Self {
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub fn trust(&self) -> TlsTrust {
        TlsTrust::PinnedSha256(self.running().tls_fingerprint.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.running().addr)
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(owned_client_config(&self.trust()).unwrap())
            .build()
            .unwrap()
    }

    pub async fn add_user(&self, username: &str, display_name: &str, password: &str) {
        self.running()
            .hub()
            .store()
            .add_user(username, display_name, password)
            .await
            .unwrap();
    }

    /// Signs in with a fresh device key; returns the token and a member with a certified
    /// credential.
    pub async fn sign_in(&self, username: &str, password: &str) -> (String, GroupMember) {
        let signer = generate_signature_keys().unwrap();
        let response = self
            .http()
            .post(self.url("/v1/signin"))
            .json(&json!({
                "username": username,
                "password": password,
                "device_signature_key": BASE64.encode(signer.public()),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        let certificate = certificate_of(&body);
        let member = GroupMember::new(signer, &CredentialPayload::user(certificate)).unwrap();
        (body["token"].as_str().unwrap().to_string(), member)
    }

    pub async fn create_meeting(
        &self,
        token: &str,
        options: serde_json::Value,
    ) -> (String, String) {
        let response = self
            .http()
            .post(self.url("/v1/meetings"))
            .bearer_auth(token)
            .json(&options)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        (
            body["number"].as_str().unwrap().to_string(),
            body["password"].as_str().unwrap().to_string(),
        )
    }

    pub async fn connect(&self, token: Option<&str>) -> Result<Socket, String> {
        let mut request = format!("wss://{}/v1/ws", self.running().addr)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        let connector = tokio_tungstenite::Connector::Rustls(client_config(&self.trust()).unwrap());
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector))
            .await
            .map(|(socket, _)| socket)
            .map_err(|e| e.to_string())
    }

    /// Connects and reads `hello`.
    pub async fn connect_ok(&self, token: Option<&str>) -> Socket {
        let mut socket = self.connect(token).await.expect("connects");
        match recv(&mut socket).await {
            ServerMessage::Hello {
                org_key_fingerprint,
                ..
            } => assert_eq!(
                org_key_fingerprint,
                Some(self.running().org_public_key.fingerprint())
            ),
            other => panic!("expected hello, got {other:?}"),
        }
        socket
    }
}

pub fn certificate_of(body: &serde_json::Value) -> MemberCertificate {
    let bytes = BASE64
        .decode(body["certificate"].as_str().unwrap())
        .unwrap();
    MemberCertificate::from_bytes(&bytes).unwrap()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn send(socket: &mut Socket, message: &ClientMessage) {
    let text = encode_client(message).unwrap();
    socket.send(Message::Text(text.into())).await.unwrap();
}

/// The next server message (pings and pongs skipped); panics on close or timeout.
pub async fn recv(socket: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a readable frame");
        match frame {
            Message::Text(text) => return decode_server(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads until a message with this `type`, returning it.
pub async fn recv_kind(socket: &mut Socket, kind: &str) -> ServerMessage {
    loop {
        let message = recv(socket).await;
        if message.type_name() == kind {
            return message;
        }
    }
}

/// Reads until the server closes the connection.
pub async fn expect_closed(socket: &mut Socket) {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Err(_) => panic!("the connection was not closed"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub fn error_code(message: &ServerMessage) -> (ErrorCode, Option<u32>) {
    match message {
        ServerMessage::Error {
            code,
            retry_after_secs,
            ..
        } => (*code, *retry_after_secs),
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn join(
    number: &str,
    password: Option<&str>,
    name: &str,
    member: &GroupMember,
) -> ClientMessage {
    ClientMessage::Join {
        meeting: MeetingNumber::parse(number).unwrap(),
        password: password.map(|p| MeetingPassword::new(p).unwrap()),
        display_name: DisplayName::new(name).unwrap(),
        key_package: MlsBlob::new(member.key_package().unwrap()),
    }
}

pub async fn ping(socket: &mut Socket, nonce: u64) {
    send(socket, &ClientMessage::Ping { nonce }).await;
    assert_eq!(recv(socket).await, ServerMessage::Pong { nonce });
}

/// A server with one host account ("hana") and a meeting she created with these options.
pub async fn server_with_meeting(
    options: serde_json::Value,
) -> (TestServer, String, GroupMember, String, String) {
    let server = TestServer::start().await;
    server
        .add_user("hana", "Hana Host", "host password 1")
        .await;
    let (token, member) = server.sign_in("hana", "host password 1").await;
    let (number, password) = server.create_meeting(&token, options).await;
    (server, token, member, number, password)
}
