//! Media helpers shared by the media, video and loss tests: meetings where everyone holds the
//! same epoch, starting a member's media over the meeting's signaling, and sinks that keep what
//! they get.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_core::client::MeetingClient;
use conclave_core::client::account::{CreatedMeeting, NewMeeting};
use conclave_core::client::media_session::{self, MediaSession};
use conclave_core::client::media_start::{
    MediaSignalling, MediaStartError, answer_offers, connect_media,
};
use conclave_media::pipeline::AudioPipeline;
use conclave_media::video_pipeline::VideoPipeline;
use conclave_media::{
    AudioSink, AudioSource, MediaPipelineError, VideoError, VideoFrame, VideoSink,
};
use conclave_protocol::{ClientMessage, ParticipantId, ServerMessage};
use conclave_rtc::lossy::LossRate;
use conclave_rtc::transport::{LinkOptions, MediaLink};
use conclave_server::sfu::{Sfu, Signal};

use crate::{PATIENCE, TestServer, in_meeting, wait};

/// Loopback UDP, with `loss_percent` of datagrams dropped each way if given.
pub fn udp(loss_percent: Option<f64>) -> LinkOptions {
    LinkOptions {
        simulated_loss: loss_percent.map(|p| LossRate::percent(p).unwrap()),
        ..LinkOptions::udp("127.0.0.1:0")
    }
}

/// Offers media over the meeting's signaling and starts the session (audio, plus `video` if
/// given) on the SFU's answer.
pub async fn start_media(
    client: &mut MeetingClient,
    audio: AudioPipeline,
    video: Option<VideoPipeline>,
    options: &LinkOptions,
) -> (MediaSession, Arc<MediaLink>) {
    let link = match client.start_media(options).await {
        Ok(link) => link,
        Err(e) => panic!("media did not start: {e}"),
    };
    let session =
        media_session::start_with_video(link.clone(), client.snapshot_watch(), audio, video);
    (session, link)
}

/// Connects `participant` of `meeting` straight to `sfu` (no server, no WebSocket): the SFU's
/// renegotiation offers are answered on the returned link by a task of this helper.
pub async fn connect_to_sfu(
    sfu: &Arc<Sfu>,
    participant: ParticipantId,
    meeting: &str,
) -> Arc<MediaLink> {
    let signalling = SfuSignalling {
        sfu: Arc::clone(sfu),
        participant,
        meeting: meeting.to_owned(),
        offers: None,
    };
    connect_media(&LinkOptions::udp("127.0.0.1:0"), signalling)
        .await
        .unwrap()
}

/// Media signalling straight with an in-process SFU: its renegotiation offers arrive through
/// the `Signal` callback and its answers go back by call.
struct SfuSignalling {
    sfu: Arc<Sfu>,
    participant: ParticipantId,
    meeting: String,
    offers: Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
}

impl MediaSignalling for SfuSignalling {
    async fn exchange(&mut self, offer: String) -> Result<String, MediaStartError> {
        let (offers_tx, offers) = tokio::sync::mpsc::unbounded_channel();
        self.offers = Some(offers);
        let signal: Signal = Box::new(move |message| {
            if let ServerMessage::SdpOffer { sdp } = message {
                let _ = offers_tx.send(sdp);
            }
        });
        Ok(self
            .sfu
            .answer(self.participant, &self.meeting, &offer, signal)
            .await?)
    }

    fn attach(self, link: Arc<MediaLink>) {
        let Some(offers) = self.offers else { return };
        let (sfu, participant) = (Arc::downgrade(&self.sfu), self.participant);
        answer_offers(link, offers, move |answer| {
            sfu.upgrade()
                .is_some_and(|sfu| sfu.accept_answer(participant, answer).is_ok())
        });
    }
}

/// A running meeting for media tests.
pub struct Meeting {
    pub server: TestServer,
    pub created: CreatedMeeting,
    pub host: MeetingClient,
    pub guests: Vec<MeetingClient>,
}

/// A meeting with a signed-in host ("Hana Host") and `guests`, everyone at the same epoch.
pub async fn meeting(guests: &[&str]) -> Meeting {
    let server = TestServer::start().await;
    server
        .add_user("hana", "Hana Host", "long-host-password")
        .await;
    let device = server.sign_in("hana", "long-host-password").await;
    let created = server.create_meeting(&device, NewMeeting::default()).await;
    let mut host = server.user_joins(device, &created).await;
    in_meeting(&mut host).await;
    let mut joined = Vec::new();
    for name in guests {
        let mut guest = server.guest_joins(name, &created).await;
        in_meeting(&mut guest).await;
        joined.push(guest);
    }
    if let Some(last) = joined.last() {
        let epoch = last.snapshot().epoch.unwrap();
        wait(&mut host, "all keyed", |s| s.epoch == Some(epoch)).await;
        for guest in &mut joined {
            wait(guest, "all keyed", |s| s.epoch == Some(epoch)).await;
        }
    }
    Meeting {
        server,
        created,
        host,
        guests: joined,
    }
}

/// What a recorder heard so far.
pub type Recording = Arc<Mutex<Vec<i16>>>;

/// An audio sink that keeps every sample it is given.
pub struct Recorder(Recording);

impl AudioSink for Recorder {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        self.0.lock().unwrap().extend_from_slice(frame);
        Ok(())
    }
}

/// A recorder and the handle to read what it heard.
pub fn recorder() -> (Box<dyn AudioSink + Send>, Recording) {
    let recording = Recording::default();
    (Box::new(Recorder(recording.clone())), recording)
}

/// Every picture shown, with its sender.
pub type Shown = Arc<Mutex<Vec<(u32, VideoFrame)>>>;

/// A video sink that keeps every picture it is given.
pub struct Collect(pub Shown);

impl VideoSink for Collect {
    fn show(&mut self, sender: u32, frame: &VideoFrame) -> Result<(), VideoError> {
        self.0.lock().unwrap().push((sender, frame.clone()));
        Ok(())
    }
}

/// A video pipeline that only watches, and what it has shown.
pub fn watcher() -> (VideoPipeline, Shown) {
    let shown = Shown::default();
    let pipeline = VideoPipeline::new(
        None,
        Some(Box::new(Collect(shown.clone()))),
        conclave_media::h264::VideoEncoderConfig::default(),
    )
    .unwrap();
    (pipeline, shown)
}

/// The host expels `member`; returns once the member has been told and the host holds the
/// next epoch (`epoch + 1`, the member's epoch before the expel).
pub async fn expel(host: &mut MeetingClient, member: &mut MeetingClient, epoch: u64) {
    use conclave_core::client::{LeftReason, Phase};
    host.send(ClientMessage::Expel {
        participant: member.snapshot().participant.unwrap(),
    });
    wait(member, "expelled", |s| {
        matches!(s.phase, Some(Phase::Left(LeftReason::Expelled(_))))
    })
    .await;
    wait(host, "rekeyed", |s| s.epoch == Some(epoch + 1)).await;
}

/// How often [`poll_until`] looks again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Probes every [`POLL_INTERVAL`] until `done` holds for what `probe` returns, and returns
/// that; fails the test with the last value if it does not hold within [`PATIENCE`].
pub async fn poll_until<T: Debug>(
    what: &str,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = probe();
        if done(&value) {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {PATIENCE:?} waiting for {what}; last value: {value:?}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Probes every 100 ms until `done` holds and what `probe` returns has not changed over the
/// last three probes (e.g. counters that stopped growing once a sequence is over); returns
/// that. Fails the test with the last value if this does not happen within [`PATIENCE`].
pub async fn poll_until_steady<T: Debug + PartialEq>(
    what: &str,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    const STEADY_PROBES: usize = 3;
    let deadline = Instant::now() + PATIENCE;
    let mut last: Option<T> = None;
    let mut unchanged = 0;
    loop {
        let value = probe();
        unchanged = if last.as_ref() == Some(&value) {
            unchanged + 1
        } else {
            0
        };
        if unchanged >= STEADY_PROBES && done(&value) {
            return value;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {PATIENCE:?} waiting for {what} (steady over \
                 {STEADY_PROBES} probes); last value: {value:?}"
            );
        }
        last = Some(value);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every one of `subscribers`' media connections on `server`'s SFU carries the
/// track of every one of `publishers`, with no renegotiation running: from then on what the
/// publishers send reaches the subscribers.
pub async fn until_tracks(
    server: &TestServer,
    publishers: &[&MeetingClient],
    subscribers: &[&MeetingClient],
) {
    let id = |client: &MeetingClient| client.snapshot().participant.unwrap();
    let publishers: Vec<ParticipantId> = publishers.iter().map(|c| id(c)).collect();
    let subscribers: Vec<ParticipantId> = subscribers.iter().map(|c| id(c)).collect();
    let sfu = server.running.hub().sfu();
    poll_until(
        "the publishers' tracks on the subscribers' connections",
        || {
            let tracks: Vec<_> = subscribers.iter().map(|s| sfu.tracks_of(*s)).collect();
            (tracks, sfu.renegotiations_running())
        },
        |(tracks, running)| {
            *running == 0
                && tracks.iter().all(|of| {
                    publishers
                        .iter()
                        .all(|p| of.iter().any(|(publisher, _)| publisher == p))
                })
        },
    )
    .await;
}

/// An audio source that stands still while it is not heard (muted, or no keys yet), where a
/// [`ToneSource`](conclave_media::signal::ToneSource) would move on: a speaker started
/// muted sends its whole sequence from the moment it is unmuted.
pub struct HeldWhileMuted<S>(pub S);

impl<S: AudioSource> AudioSource for HeldWhileMuted<S> {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        self.0.next_frame(frame)
    }

    fn skip_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        frame.fill(0);
        Ok(true)
    }
}

/// Starts a muted speaker whose `source` waits for the unmute (see [`HeldWhileMuted`]): the
/// test waits for the listeners' tracks ([`until_tracks`]) and then unmutes, so no part of
/// the sequence goes out before anyone can receive it.
pub async fn start_held_speaker(
    client: &mut MeetingClient,
    source: impl AudioSource + Send + 'static,
    options: &LinkOptions,
) -> (MediaSession, Arc<MediaLink>) {
    let mut pipeline = AudioPipeline::new(Some(Box::new(HeldWhileMuted(source))), None).unwrap();
    pipeline.set_muted(true);
    start_media(client, pipeline, None, options).await
}
