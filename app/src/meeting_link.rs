//! The engine bridge: one iced [`Subscription`] per live meeting wraps core's
//! [`MeetingClient`]. It connects and joins off the UI thread, first hands the UI a
//! [`LinkHandle`] (the command sender), then streams [`MeetingView`]s and engine events, and
//! starts the end-to-end encrypted audio session once this client is in the MLS group.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use conclave_core::client::media_session;
use conclave_core::client::media_start::MediaStartError;
use conclave_core::client::{Event, MeetingClient, Phase, RosterView, Snapshot};
use conclave_media::VideoSource;
use conclave_media::h264::VideoEncoderConfig;
use conclave_media::pattern::TestPattern;
use conclave_media::pipeline::AudioPipeline;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_protocol::verification::VerificationCode;
use conclave_protocol::{ClientMessage, LobbyEntry, MeetingState, ParticipantId, Role};
use conclave_rtc::transport::{LinkOptions, MediaLink};
use iced::Subscription;
use iced::futures::SinkExt as _;
use iced::futures::channel::mpsc as ui_channel;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::devices::camera::{CameraCapture, CameraControl, CameraSource, CameraStatus};
use crate::devices::{Camera, DeviceChoice};
use crate::service::join::{self, JoinRequest};
// Defined with the join logic; the screens name it from here.
pub use crate::service::join::LinkError;
use crate::service::network_notice::NetworkNotice;
use crate::video::FrameBoard;

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

    /// Members of the MLS group the server did not announce (see `Presence::Unannounced`).
    pub fn unannounced(&self) -> usize {
        self.roster.iter().filter(|r| r.is_unannounced()).count()
    }
}

/// Requests from the UI to the live meeting.
#[derive(Debug, Clone)]
pub enum LinkCommand {
    /// A host action, leave, … (checked by the engine, the server and the committer).
    Send(ClientMessage),
    /// Mute or unmute the microphone.
    SetMuted(bool),
    /// Turn the camera on (`true`) or off.
    SetCamera(bool),
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
    /// Everyone's current video picture, by media sender (MLS leaf); sent when it changes, at
    /// most once per display frame.
    Video(crate::video::Pictures),
    /// Who is speaking now (media sender), from the level each sender encrypts into its audio.
    Speaker(Option<u32>),
    /// The chosen camera cannot be used (the detail is the driver's); the test pattern is sent
    /// instead while video is on.
    CameraFailed(String),
    /// What this member's own connection is doing to what others get (sent when it changes).
    Network(NetworkNotice),
    /// Connecting failed; nothing more follows.
    Failed(LinkError),
}

/// Identifies one meeting connection (the subscription lives while the key is the same).
#[derive(Clone)]
pub struct LinkKey {
    /// Unique per join attempt, so retrying starts a fresh connection.
    pub attempt: u64,
    pub request: Arc<JoinRequest>,
    pub devices: DeviceChoice,
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

/// Connects, joins and relays until the meeting is over for this client.
async fn drive(key: LinkKey, mut output: ui_channel::Sender<LinkEvent>) {
    let mut client = match join::connect_and_join(&key.request).await {
        Ok(client) => client,
        Err(e) => {
            let _ = output.send(LinkEvent::Failed(e)).await;
            return;
        }
    };
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
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let mut media = Media::new(key.devices.clone(), notes_tx);
    let mut events_open = true;
    let mut display = tokio::time::interval(crate::video::DISPLAY_INTERVAL);
    display.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = display.tick() => {
                if let Some(pictures) = media.board.take_changed(std::time::Instant::now())
                    && output.send(LinkEvent::Video(pictures)).await.is_err()
                {
                    break;
                }
            },
            event = client.next_event(), if events_open => match event {
                Some(event) => {
                    media.on_event(&event, &client);
                    if let Event::Phase(phase) = &event {
                        tracing::info!(?phase, "meeting phase");
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
            Some(note) = notes.recv() => {
                if output.send(relay_note(note)).await.is_err() {
                    break;
                }
            },
            command = commands.recv() => match command {
                Some(LinkCommand::Send(message)) => client.send(message),
                Some(LinkCommand::SetMuted(muted)) => {
                    media.mute.send_replace(muted);
                }
                Some(LinkCommand::SetCamera(on)) => {
                    media.camera.send_replace(on);
                }
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
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.close();
}

/// Acts on a note from the media task: what goes to the server or the connection, or `Some`
/// event for the screen.
fn relay_note(note: MediaNote) -> LinkEvent {
    match note {
        MediaNote::State(state) => LinkEvent::Audio(state),
        MediaNote::Speaker(speaker) => LinkEvent::Speaker(speaker),
        MediaNote::CameraFailed(detail) => LinkEvent::CameraFailed(detail),
        MediaNote::Network(notice) => LinkEvent::Network(notice),
    }
}

/// How often the speaking indicator follows the audio (it changes on speech, not per frame).
const SPEAKER_POLL: Duration = Duration::from_millis(200);

/// Where this client binds its media socket (any interface; the SFU's answer picks the path).
const MEDIA_BIND: &str = "0.0.0.0:0";

/// From the media task to the meeting loop.
enum MediaNote {
    State(AudioState),
    Speaker(Option<u32>),
    CameraFailed(String),
    Network(NetworkNotice),
}

/// The audio part: set up in its own task (ICE gathering and connecting take time, and the
/// meeting's events must keep flowing meanwhile): offer once in the meeting, start on the
/// SFU's answer, stop when the meeting ends.
struct Media {
    choice: DeviceChoice,
    /// Muted: nothing is sent (the pipeline's mute, the same as the CLI's).
    mute: watch::Sender<bool>,
    /// Camera on; starts off.
    camera: watch::Sender<bool>,
    board: FrameBoard,
    notes: mpsc::UnboundedSender<MediaNote>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Media {
    fn new(choice: DeviceChoice, notes: mpsc::UnboundedSender<MediaNote>) -> Self {
        Self {
            choice,
            mute: watch::channel(false).0,
            camera: watch::channel(false).0,
            board: FrameBoard::default(),
            notes,
            stop: watch::channel(false).0,
            task: None,
        }
    }

    fn on_event(&mut self, event: &Event, client: &MeetingClient) {
        match event {
            Event::Phase(Phase::InMeeting) if self.task.is_none() => {
                let link = client.start_media(&LinkOptions::udp(MEDIA_BIND));
                self.task = Some(tokio::spawn(run_media(
                    MediaParts {
                        choice: self.choice.clone(),
                        mute: self.mute.subscribe(),
                        camera: self.camera.subscribe(),
                        board: self.board.clone(),
                    },
                    client.snapshot_watch(),
                    self.notes.clone(),
                    link,
                    self.stop.subscribe(),
                )));
            }
            _ => {}
        }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task
            && tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
        {
            tracing::warn!("the audio session did not stop in time");
        }
    }
}

/// What the media task plays, captures and shows.
struct MediaParts {
    choice: DeviceChoice,
    mute: watch::Receiver<bool>,
    camera: watch::Receiver<bool>,
    board: FrameBoard,
}

/// The outgoing video: the chosen camera (opened only while video is on), or the colour-bar
/// test pattern; both also feed the self-view.
fn video_pipeline(
    board: &FrameBoard,
    camera_on: bool,
    camera: &Camera,
) -> Result<(VideoPipeline, Option<CameraControl>), String> {
    let config = VideoEncoderConfig::default();
    let (source, control): (Box<dyn VideoSource + Send>, _) = match camera {
        Camera::Device(device) => {
            let capture = CameraCapture::start(device.index, camera_on);
            let control = capture.control().clone();
            let source = CameraSource::new(capture, config.width, config.height)
                .map_err(|e| e.to_string())?;
            (Box::new(source), Some(control))
        }
        Camera::TestPattern => (
            Box::new(TestPattern::new(config.width, config.height).map_err(|e| e.to_string())?),
            None,
        ),
    };
    let mut video = VideoPipeline::new(Some(board.self_view(source)), Some(board.sink()), config)
        .map_err(|e| e.to_string())?;
    video.set_muted(!camera_on);
    Ok((video, control))
}

async fn run_media(
    parts: MediaParts,
    snapshot: watch::Receiver<Snapshot>,
    notes: mpsc::UnboundedSender<MediaNote>,
    link: impl Future<Output = Result<Arc<MediaLink>, MediaStartError>>,
    mut stop: watch::Receiver<bool>,
) {
    let failed = |detail: String| {
        let _ = notes.send(MediaNote::State(AudioState::Failed(detail)));
    };
    let link = tokio::select! {
        result = link => match result {
            Ok(link) => link,
            Err(MediaStartError::NoAnswer | MediaStartError::Closed) => {
                return failed(crate::fl!("meeting-media-no-answer"));
            }
            Err(e) => return failed(e.to_string()),
        },
        // Leaving before media is up: the half-made link is dropped with the start.
        _ = stop.changed() => return,
    };
    let MediaParts {
        choice,
        mut mute,
        mut camera,
        board,
    } = parts;
    let choice_camera = choice.camera.clone();
    // Opening devices may block for a moment (driver start-up).
    let opened = tokio::task::spawn_blocking(move || {
        let devices = crate::devices::open_audio(&choice);
        tracing::info!(
            echo_cancellation = devices.processed,
            "audio devices opened"
        );
        let description = devices.description.clone();
        AudioPipeline::new(devices.source, devices.sink).map(|p| (p, description))
    })
    .await;
    let (pipeline, source) = match opened {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            link.close().await;
            return failed(e.to_string());
        }
        Err(e) => {
            link.close().await;
            return failed(e.to_string());
        }
    };
    let (video, camera_control) = match video_pipeline(&board, *camera.borrow(), &choice_camera) {
        Ok((video, control)) => (Some(video), control),
        Err(detail) => {
            tracing::warn!(%detail, "no video");
            (None, None)
        }
    };
    let mut camera_failure_told = false;
    let mut pipeline = pipeline;
    pipeline.set_muted(*mute.borrow_and_update());
    let session = media_session::start_with_video(link, snapshot, pipeline, video);
    let _ = notes.send(MediaNote::State(AudioState::Connected { source }));
    let mut speaker = None;
    let mut network = NetworkNotice::Fine;
    let mut every = tokio::time::interval(SPEAKER_POLL);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            changed = mute.changed() => {
                if changed.is_err() {
                    break;
                }
                session.set_muted(*mute.borrow_and_update());
            }
            changed = camera.changed() => {
                if changed.is_err() {
                    break;
                }
                let on = *camera.borrow_and_update();
                if let Some(control) = &camera_control {
                    control.set_wanted(on);
                }
                session.set_camera_off(!on);
            }
            _ = every.tick() => {
                if let Some(CameraStatus::Failed(detail)) =
                    camera_control.as_ref().map(CameraControl::status)
                    && !camera_failure_told
                {
                    camera_failure_told = true;
                    let _ = notes.send(MediaNote::CameraFailed(detail));
                }
                let stats = session.stats();
                if stats.active_speaker != speaker {
                    speaker = stats.active_speaker;
                    let _ = notes.send(MediaNote::Speaker(speaker));
                }
                let notice =
                    NetworkNotice::of(&stats, &session.video_stats(), *camera.borrow());
                if notice != network {
                    network = notice;
                    let _ = notes.send(MediaNote::Network(notice));
                }
            }
        }
    }
    drop(session.stop().await);
}
