//! The engine on a live WebSocket: one task per meeting connection. Callers get a command
//! sender, an event stream and a watchable snapshot; nothing here blocks a UI thread.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::engine::{Engine, Event, Output, Phase, RosterView};
use super::media_start::{MediaSignalling, MediaStartError, answer_offers, connect_media};
use super::server_info::{CLIENT_VERSION, VersionCheck, check_version, fetch_server_info};
use super::tls::{TlsError, TlsTrust, client_config};
use conclave_e2ee::group::GroupMember;
use conclave_protocol::ErrorCode;
use conclave_protocol::identity::OrgPublicKey;
use conclave_protocol::verification::VerificationCode;
use conclave_protocol::{
    ClientMessage, DisplayName, LobbyEntry, MAX_MESSAGE_BYTES, MeetingNumber, MeetingPassword,
    MeetingState, ParticipantId, Role, ServerMessage, decode_server, encode_client,
};
use conclave_rtc::transport::{LinkOptions, MediaLink};

/// Keep-alive period; the server closes connections idle for much longer.
const PING_EVERY: Duration = Duration::from_secs(15);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port` of the server.
    pub server: String,
    pub trust: TlsTrust,
    /// Bearer token of a signed-in user; guests pass `None`.
    pub token: Option<String>,
}

/// Errors opening the connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("could not connect to the server: {0}")]
    Connect(String),
    #[error("the sign-in token was refused; sign in again")]
    Unauthorized,
    /// The server asks for a newer client than this one (`[client_versions] minimum`).
    #[error(
        "this Conclave ({current}) is too old for this server, which needs version {minimum} \
         or newer; update it{}",
        download_hint(.download_url)
    )]
    UpdateRequired {
        current: String,
        minimum: String,
        download_url: Option<String>,
    },
}

fn download_hint(url: &Option<String>) -> String {
    url.as_ref()
        .map(|url| format!(" from {url}"))
        .unwrap_or_default()
}

/// Refuses to go on when the server requires a newer client. A server that cannot say (older
/// than `/v1/server-info`, or the request failed) is joined as before: the WebSocket reports
/// a network failure itself.
async fn check_client_version(options: &ConnectOptions) -> Result<(), ConnectError> {
    let info = match fetch_server_info(&options.server, &options.trust).await {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::debug!(error = %e, "no server info; joining without a version check");
            return Ok(());
        }
    };
    match check_version(CLIENT_VERSION, &info) {
        VersionCheck::UpdateRequired { minimum, url } => Err(ConnectError::UpdateRequired {
            current: CLIENT_VERSION.to_owned(),
            minimum,
            download_url: url,
        }),
        VersionCheck::UpToDate | VersionCheck::UpdateAvailable { .. } => Ok(()),
    }
}

/// What a user (or script) sees of the meeting at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub phase: Option<Phase>,
    pub participant: Option<ParticipantId>,
    pub role: Option<Role>,
    pub meeting: Option<MeetingState>,
    /// The padlock.
    pub end_to_end_encrypted: bool,
    pub epoch: Option<u64>,
    pub code: Option<VerificationCode>,
    pub roster: Vec<RosterView>,
    pub lobby: Vec<LobbyEntry>,
    /// Whether the connection to the server is still up.
    pub connected: bool,
    /// The MLS group's members (leaf, credential trust, signature key), straight from the tree.
    pub mls_roster: Vec<conclave_e2ee::group::RosterEntry>,
    /// This member's own leaf in the MLS tree.
    pub own_leaf: Option<u32>,
    /// This epoch's SFrame key material and this member's leaf, while E2EE is up.
    pub media_keys: Option<(conclave_e2ee::media_keys::EpochKeys, u32)>,
}

enum Command {
    Join {
        meeting: MeetingNumber,
        password: Option<MeetingPassword>,
        display_name: DisplayName,
    },
    Send(ClientMessage),
    /// Send this media offer; the SFU's answer (or the server's refusal) goes to `answer`.
    OfferMedia {
        offer: String,
        answer: oneshot::Sender<Result<String, MediaStartError>>,
    },
    AttachMedia(Arc<MediaLink>),
}

/// A live meeting connection.
pub struct MeetingClient {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    snapshot: watch::Receiver<Snapshot>,
    task: JoinHandle<()>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn snapshot_of(engine: &Engine, connected: bool) -> Snapshot {
    Snapshot {
        phase: Some(engine.phase().clone()),
        participant: engine.participant(),
        role: engine.role(),
        meeting: engine.meeting().cloned(),
        end_to_end_encrypted: engine.is_end_to_end_encrypted(),
        epoch: engine.group().epoch().ok(),
        code: engine.verification_code(),
        roster: engine.roster(),
        lobby: engine.lobby().to_vec(),
        connected,
        mls_roster: engine.mls_roster(),
        own_leaf: engine.group().own_leaf_index().ok(),
        media_keys: if engine.is_end_to_end_encrypted() {
            match (engine.group().epoch_keys(), engine.group().own_leaf_index()) {
                (Ok(keys), Ok(leaf)) => Some((keys, leaf)),
                _ => None,
            }
        } else {
            None
        },
    }
}

impl MeetingClient {
    /// Connects to `wss://server/v1/ws`; `member` carries this device's MLS keys. Refused with
    /// [`ConnectError::UpdateRequired`] when the server requires a newer client.
    pub async fn connect(
        options: ConnectOptions,
        member: GroupMember,
        org: Option<OrgPublicKey>,
    ) -> Result<Self, ConnectError> {
        check_client_version(&options).await?;
        let url = format!("wss://{}/v1/ws", options.server);
        let mut request = url
            .into_client_request()
            .map_err(|e| ConnectError::Connect(e.to_string()))?;
        if let Some(token) = &options.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ConnectError::Unauthorized)?;
            request.headers_mut().insert("authorization", value);
        }
        let connector = tokio_tungstenite::Connector::Rustls(client_config(&options.trust)?);
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE_BYTES + 1024);
        config.max_frame_size = Some(MAX_MESSAGE_BYTES + 1024);
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        )
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response)
                if response.status().as_u16() == 401 =>
            {
                ConnectError::Unauthorized
            }
            other => ConnectError::Connect(other.to_string()),
        })?;

        let engine = Engine::new(member, org);
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (snapshot_tx, snapshot_rx) = watch::channel(snapshot_of(&engine, true));
        let task = tokio::spawn(run(socket, engine, command_rx, event_tx, snapshot_tx));
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            snapshot: snapshot_rx,
            task,
        })
    }

    /// Asks to join a meeting.
    pub fn join(
        &self,
        meeting: MeetingNumber,
        password: Option<MeetingPassword>,
        display_name: DisplayName,
    ) {
        let _ = self.commands.send(Command::Join {
            meeting,
            password,
            display_name,
        });
    }

    /// Sends a request (host actions, leave, …).
    pub fn send(&self, message: ClientMessage) {
        let _ = self.commands.send(Command::Send(message));
    }

    /// The media signalling over this connection, for [`super::media_start::connect_media`]
    /// (or a wrapper around it, e.g. one that times the answer).
    pub fn media_signalling(&self) -> ConnectionSignalling {
        ConnectionSignalling {
            commands: self.commands.clone(),
        }
    }

    /// Starts this member's media link to the SFU over this connection (see
    /// [`super::media_start`]): offer, answer, connection, and from then on the SFU's
    /// renegotiation offers answered by the connection itself. The future does not borrow the
    /// client, so the meeting's events can keep flowing while it runs.
    pub fn start_media(
        &self,
        options: &LinkOptions,
    ) -> impl Future<Output = Result<Arc<MediaLink>, MediaStartError>> + Send + 'static {
        let signalling = self.media_signalling();
        let options = options.clone();
        async move { connect_media(&options, signalling).await }
    }

    /// The next event; `None` once the connection is gone and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// A live view of the snapshot (for the media session).
    pub fn snapshot_watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// Waits until the snapshot satisfies `condition` or `limit` passes.
    pub async fn wait_until(
        &mut self,
        limit: Duration,
        condition: impl Fn(&Snapshot) -> bool,
    ) -> Result<Snapshot, Snapshot> {
        let mut watcher = self.snapshot.clone();
        let wait = watcher.wait_for(|s| condition(s));
        match tokio::time::timeout(limit, wait).await {
            Ok(Ok(snapshot)) => Ok(snapshot.clone()),
            _ => Err(self.snapshot()),
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        self.task.abort();
    }
}

async fn run<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    mut engine: Engine,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    snapshot: watch::Sender<Snapshot>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut nonce = 0u64;
    let mut renegotiation = Renegotiation::new();
    let mut pending_answer: Option<oneshot::Sender<Result<String, MediaStartError>>> = None;
    loop {
        let output = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match decode_server(&text) {
                    // Media signalling stays here, beside the link; the engine sees none of it.
                    Ok(ServerMessage::SdpOffer { sdp }) => {
                        renegotiation.offer(sdp);
                        Output::default()
                    }
                    Ok(ServerMessage::SdpAnswer { sdp }) => {
                        match pending_answer.take() {
                            Some(waiting) => {
                                let _ = waiting.send(Ok(sdp));
                            }
                            None => tracing::warn!("an SDP answer nobody asked for was dropped"),
                        }
                        Output::default()
                    }
                    Ok(message) => {
                        if let ServerMessage::Error { code, .. } = &message
                            && refuses_media_offer(*code)
                            && let Some(waiting) = pending_answer.take()
                        {
                            let _ = waiting.send(Err(MediaStartError::Refused(*code)));
                        }
                        engine.handle(message, unix_now())
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable server message dropped");
                        Output::default()
                    }
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => Output::default(),
            },
            command = commands.recv() => match command {
                Some(Command::Join { meeting, password, display_name }) => {
                    match engine.join(meeting, password, display_name) {
                        Ok(message) => Output { send: vec![message], events: Vec::new() },
                        Err(e) => Output {
                            send: Vec::new(),
                            events: vec![Event::SecurityWarning(e.to_string())],
                        },
                    }
                }
                Some(Command::Send(message)) => engine.request(message),
                Some(Command::OfferMedia { offer, answer }) => {
                    // A newer offer replaces an unanswered one, whose caller sees `Closed`.
                    pending_answer = Some(answer);
                    Output { send: vec![ClientMessage::SdpOffer { sdp: offer }], events: Vec::new() }
                }
                Some(Command::AttachMedia(link)) => {
                    renegotiation.attach(link);
                    Output::default()
                }
                None => break,
            },
            Some(answer) = renegotiation.answers.recv() => {
                Output { send: vec![ClientMessage::SdpAnswer { sdp: answer }], events: Vec::new() }
            }
            _ = ping.tick() => {
                nonce += 1;
                Output { send: vec![ClientMessage::Ping { nonce }], events: Vec::new() }
            }
        };
        let mut failed = false;
        for message in output.send {
            match encode_client(&message) {
                Ok(text) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        failed = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "refused to send an invalid message"),
            }
        }
        for event in output.events {
            let _ = events.send(event);
        }
        snapshot.send_replace(snapshot_of(&engine, !failed));
        if failed {
            break;
        }
    }
    snapshot.send_replace(snapshot_of(&engine, false));
}

/// Answers the SFU's renegotiation offers on the attached media link, one at a time and in
/// order; the latest offer that arrived before the link was attached waits for it (each offer
/// describes every track, so a later one replaces an earlier one).
struct Renegotiation {
    offers: Option<mpsc::UnboundedSender<String>>,
    early: Option<String>,
    answers_out: mpsc::UnboundedSender<String>,
    answers: mpsc::UnboundedReceiver<String>,
}

impl Renegotiation {
    fn new() -> Self {
        let (answers_out, answers) = mpsc::unbounded_channel();
        Self {
            offers: None,
            early: None,
            answers_out,
            answers,
        }
    }

    fn offer(&mut self, sdp: String) {
        match &self.offers {
            Some(offers) => {
                let _ = offers.send(sdp);
            }
            None => self.early = Some(sdp),
        }
    }

    fn attach(&mut self, link: Arc<MediaLink>) {
        let (offers, pending) = mpsc::unbounded_channel::<String>();
        let answers = self.answers_out.clone();
        answer_offers(link, pending, move |answer| answers.send(answer).is_ok());
        if let Some(sdp) = self.early.take() {
            let _ = offers.send(sdp);
        }
        self.offers = Some(offers);
    }
}

/// The refusals the server gives a media offer (`docs/protocol.md`): not a member yet (the
/// lobby), too many offers, or an offer it cannot parse. While an offer waits for its answer,
/// such an error is taken as the answer: the client sends one offer at a time, and a wrongly
/// matched refusal costs only this attempt, where waiting would cost the whole patience.
fn refuses_media_offer(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotAllowed | ErrorCode::Throttled | ErrorCode::BadRequest
    )
}

/// Media signalling over the meeting connection: the offer and its answer travel through the
/// connection task, which also answers renegotiation offers once the link is attached.
pub struct ConnectionSignalling {
    commands: mpsc::UnboundedSender<Command>,
}

impl MediaSignalling for ConnectionSignalling {
    async fn exchange(&mut self, offer: String) -> Result<String, MediaStartError> {
        let (answer, answered) = oneshot::channel();
        self.commands
            .send(Command::OfferMedia { offer, answer })
            .map_err(|_| MediaStartError::Closed)?;
        answered.await.map_err(|_| MediaStartError::Closed)?
    }

    fn attach(self, link: Arc<MediaLink>) {
        let _ = self.commands.send(Command::AttachMedia(link));
    }
}
