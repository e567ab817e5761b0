//! The engine bridge: one iced [`Subscription`] per live meeting wraps core's
//! [`MeetingClient`]. It connects and joins off the UI thread, first hands the UI a
//! [`LinkHandle`] (the command sender), then streams [`MeetingView`]s and engine events, and
//! starts the end-to-end encrypted audio session once this client is in the MLS group.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use conclave_core::client::account::fetch_org_key;
use conclave_core::client::media_session::{self, MediaSession};
use conclave_core::client::{
    ConnectError, ConnectOptions, Event, MeetingClient, Phase, RosterView, Snapshot,
};
use conclave_core::group::GroupMember;
use conclave_core::media::pipeline::AudioPipeline;
use conclave_core::media::transport::MediaLink;
use conclave_core::protocol::{ClientMessage, LobbyEntry, MeetingState, ParticipantId, Role};
use conclave_core::verification::VerificationCode;
use iced::Subscription;
use iced::futures::SinkExt as _;
use iced::futures::channel::mpsc as ui_channel;
use tokio::sync::mpsc;

use crate::devices::{AudioChoice, MuteSwitch};
use crate::join::JoinRequest;

/// What the meeting screens show: the engine's snapshot without the key material.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingView {
    pub phase: Option<Phase>,
    /// This participant, once the server assigned an id.
    pub me: Option<ParticipantId>,
    pub role: Option<Role>,
    pub meeting: Option<MeetingState>,
    /// The padlock: media is end-to-end encrypted with the current MLS group's keys.
    pub end_to_end_encrypted: bool,
    /// The verification code with the epoch it belongs to.
    pub code: Option<VerificationCode>,
    pub roster: Vec<RosterView>,
    pub lobby: Vec<LobbyEntry>,
    pub connected: bool,
}

impl From<&Snapshot> for MeetingView {
    fn from(snapshot: &Snapshot) -> Self {
        Self {
            phase: snapshot.phase.clone(),
            me: snapshot.participant,
            role: snapshot.role,
            meeting: snapshot.meeting.clone(),
            end_to_end_encrypted: snapshot.end_to_end_encrypted,
            code: snapshot.code,
            roster: snapshot.roster.clone(),
            lobby: snapshot.lobby.clone(),
            connected: snapshot.connected,
        }
    }
}

impl MeetingView {
    /// Host or co-host: may use the host controls.
    pub fn is_moderator(&self) -> bool {
        matches!(self.role, Some(Role::Host | Role::CoHost))
    }
}

/// Requests from the UI to the live meeting.
#[derive(Debug, Clone)]
pub enum LinkCommand {
    /// A host action, leave, … (checked by the engine, the server and the committer).
    Send(ClientMessage),
    /// Mute or unmute the microphone.
    SetMuted(bool),
}

/// The UI's end of the bridge; cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkHandle(mpsc::UnboundedSender<LinkCommand>);

impl LinkHandle {
    /// Queues a command; a no-op once the meeting connection is gone.
    pub fn send(&self, command: LinkCommand) {
        let _ = self.0.send(command);
    }

    /// A handle whose commands a test reads back.
    pub fn for_test() -> (Self, mpsc::UnboundedReceiver<LinkCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

/// Why the link could not be set up or broke, in words the screens translate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// TCP/TLS/WebSocket failure (or a refused certificate).
    Connect(String),
    /// The sign-in token was refused.
    Unauthorized,
    /// The local MLS identity could not be created.
    Identity(String),
}

/// The state of this client's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioState {
    /// Audio flows through the SFU, SFrame-encrypted; `source` names what is sent.
    Connected { source: String },
    /// Audio could not start; the meeting goes on without it.
    Failed(String),
}

/// What the subscription reports.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Connected; commands go here.
    Ready(LinkHandle),
    /// The meeting as it is now (after every change).
    View(Box<MeetingView>),
    /// Something happened (knock, new keys, refusals, security warnings).
    Engine(Event),
    Audio(AudioState),
    /// Connecting failed; nothing more follows.
    Failed(LinkError),
}

/// Identifies one meeting connection (the subscription lives while the key is the same).
#[derive(Clone)]
pub struct LinkKey {
    /// Unique per join attempt, so retrying starts a fresh connection.
    pub attempt: u64,
    pub request: Arc<JoinRequest>,
    pub audio: AudioChoice,
}

impl Hash for LinkKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.attempt.hash(state);
    }
}

/// The live meeting as a subscription.
pub fn subscription(key: LinkKey) -> Subscription<LinkEvent> {
    Subscription::run_with(key, |key| stream(key.clone()))
}

/// The events of one meeting connection (what [`subscription`] runs; tests drive it directly).
pub fn stream(key: LinkKey) -> impl iced::futures::Stream<Item = LinkEvent> + Send + 'static {
    iced::stream::channel(64, async move |output| drive(key, output).await)
}

/// This device's MLS member: the certified credential when signed in, a guest's otherwise.
fn member_for(request: &JoinRequest) -> Result<GroupMember, LinkError> {
    let member = match &request.identity {
        Some(identity) => identity.member(),
        None => GroupMember::guest(request.display_name.as_str()),
    };
    member.map_err(|e| LinkError::Identity(e.to_string()))
}

/// Connects, joins and relays until the meeting is over for this client.
async fn drive(key: LinkKey, mut output: ui_channel::Sender<LinkEvent>) {
    let request = &key.request;
    let member = match member_for(request) {
        Ok(member) => member,
        Err(e) => {
            let _ = output.send(LinkEvent::Failed(e)).await;
            return;
        }
    };
    // Guests verify signed-in members with the organization key; without it everyone shows
    // as not verifiable, which is safe (never wrongly "verified").
    let org = match &request.identity {
        Some(identity) => Some(identity.org),
        None => match fetch_org_key(&request.server, &request.trust).await {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the organization key");
                None
            }
        },
    };
    let options = ConnectOptions {
        server: request.server.clone(),
        trust: request.trust.clone(),
        token: request.identity.as_ref().map(|i| i.token.clone()),
    };
    let mut client = match MeetingClient::connect(options, member, org).await {
        Ok(client) => client,
        Err(e) => {
            let error = match e {
                ConnectError::Unauthorized => LinkError::Unauthorized,
                other => LinkError::Connect(other.to_string()),
            };
            let _ = output.send(LinkEvent::Failed(error)).await;
            return;
        }
    };
    client.join(
        request.meeting.clone(),
        request.password.clone(),
        request.display_name.clone(),
    );
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    if output
        .send(LinkEvent::Ready(LinkHandle(commands_tx)))
        .await
        .is_err()
    {
        client.close();
        return;
    }
    let mut snapshots = client.snapshot_watch();
    let mut media = Media::new(key.audio.clone());
    let mut events_open = true;
    loop {
        tokio::select! {
            event = client.next_event(), if events_open => match event {
                Some(event) => {
                    if let Some(state) = media.on_event(&event, &client).await {
                        let _ = output.send(LinkEvent::Audio(state)).await;
                    }
                    if output.send(LinkEvent::Engine(event)).await.is_err() {
                        break;
                    }
                }
                None => events_open = false,
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let view = MeetingView::from(&*snapshots.borrow_and_update());
                let over = matches!(view.phase, Some(Phase::Left(_))) || !view.connected;
                if output.send(LinkEvent::View(Box::new(view))).await.is_err() || over {
                    break;
                }
            },
            command = commands.recv() => match command {
                Some(LinkCommand::Send(message)) => client.send(message),
                Some(LinkCommand::SetMuted(muted)) => media.mute.set(muted),
                // The screen is gone: leave politely.
                None => {
                    client.send(ClientMessage::Leave);
                    break;
                }
            },
        }
    }
    media.stop().await;
    // Let a final `leave` reach the server before the socket closes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    client.close();
}

/// The audio part: offer once in the meeting, start on the SFU's answer.
struct Media {
    choice: AudioChoice,
    mute: MuteSwitch,
    pending: Option<MediaLink>,
    session: Option<MediaSession>,
    offered: bool,
}

impl Media {
    fn new(choice: AudioChoice) -> Self {
        Self {
            choice,
            mute: MuteSwitch(Arc::new(AtomicBool::new(false))),
            pending: None,
            session: None,
            offered: false,
        }
    }

    async fn on_event(&mut self, event: &Event, client: &MeetingClient) -> Option<AudioState> {
        match event {
            Event::Phase(Phase::InMeeting) if !self.offered => {
                self.offered = true;
                match MediaLink::offer("0.0.0.0:0").await {
                    Ok((link, offer)) => {
                        client.send(ClientMessage::SdpOffer { sdp: offer });
                        self.pending = Some(link);
                        None
                    }
                    Err(e) => Some(AudioState::Failed(e.to_string())),
                }
            }
            Event::MediaAnswer(answer) => {
                let link = self.pending.take()?;
                if let Err(e) = link.accept_answer(answer).await {
                    return Some(AudioState::Failed(e.to_string()));
                }
                let devices = crate::devices::open_audio(&self.choice, self.mute.clone());
                match AudioPipeline::new(devices.source, devices.sink) {
                    Ok(pipeline) => {
                        self.session = Some(media_session::start(
                            Arc::new(link),
                            client.snapshot_watch(),
                            pipeline,
                        ));
                        Some(AudioState::Connected {
                            source: devices.description,
                        })
                    }
                    Err(e) => Some(AudioState::Failed(e.to_string())),
                }
            }
            _ => None,
        }
    }

    async fn stop(self) {
        if let Some(session) = self.session {
            drop(session.stop().await);
        }
        if let Some(link) = self.pending {
            link.close().await;
        }
    }
}

impl MuteSwitch {
    fn set(&self, muted: bool) {
        self.0.store(muted, Ordering::Relaxed);
    }
}
