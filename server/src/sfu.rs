//! The SFU: one WebRTC peer connection per participant (the client offers, the SFU answers).
//! Every RTP packet a participant publishes is forwarded to every other participant of the
//! same meeting whose forwarding is on; the payload is SFrame ciphertext and is never opened
//! here (the SFU holds no media key).
//!
//! Downstream, each publisher has its own tracks towards each subscriber: an audio track, and
//! a video track once the publisher has sent video. When publishers come and go (admitted,
//! left, expelled, started video), the SFU adds or removes their tracks on each subscriber's
//! connection and renegotiates: it sends its offer as `sdp_offer` over the subscriber's
//! WebSocket and applies the `sdp_answer` (see [`negotiation`]). The SFU still writes its own
//! SSRC, sequence numbers and timestamps on every downstream track (the hop is its own RTP
//! session: NACK is answered hop by hop from its send buffer).
//!
//! Forwarding is on only for admitted MLS members: lobby, expelled and departed participants
//! get no tracks and nothing they send goes onward.
//!
//! Video is forwarded one whole access unit at a time: the SFU collects a publisher's packets
//! up to the marker bit, so an access unit with a sequence gap is dropped here and the
//! publisher asked for a keyframe. A subscriber's keyframe request (PLI/FIR) on a publisher's
//! track goes to that publisher only, and a newly admitted member triggers requests too, so it
//! gets a picture without waiting for the next periodic keyframe.

pub mod limits;
mod negotiation;
mod queue;

pub use negotiation::Signal;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_protocol::ParticipantId;
use conclave_rtc::nal::starts_keyframe;
use conclave_rtc::reorder::ReorderBuffer;
use conclave_rtc::transport::{
    IncomingAudio, LinkEvents, LinkOptions, RtpWriter, TransportError, nacks_received,
    offer_from_text, set_local_and_gather,
};
use conclave_rtc::video_link::{IncomingVideoPacket, VideoRtpWriter, send_keyframe_request};
use limits::{PublisherCap, TrackKind};
use queue::{Charge, Outbox, VideoQueued};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

/// Upstream audio packets queued per publisher.
const AUDIO_UPSTREAM_QUEUE: usize = 256;
/// Upstream video packets queued per publisher.
const VIDEO_UPSTREAM_QUEUE: usize = 2_000;
/// An access unit with more packets than this is refused (a 4K keyframe needs far fewer).
const MAX_ACCESS_UNIT_PACKETS: usize = 4_000;
/// An access unit with more bytes than this is refused: the video cap's whole burst
/// ([`limits::VIDEO_BURST_BYTES`]), some 15 times a keyframe of the client's.
const MAX_ACCESS_UNIT_BYTES: usize = limits::VIDEO_BURST_BYTES as usize;
/// Keyframe requests to one publisher are sent at most this often; its encoder limits
/// keyframes too, this only spares the uplink a PLI storm.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(200);

/// Publishers with tracks of their own on one subscriber's connection. Each costs about
/// 1.8 KB of SDP (audio and video m-lines) and a transceiver; beyond this many, the others'
/// audio shares one overflow track (the receiver tells speakers apart by the SFrame KID) and
/// their video is not forwarded to that subscriber, so offers stay under `MAX_SDP_BYTES`.
pub const DEFAULT_PUBLISHER_TRACKS: usize = 24;

/// One publisher's access unit: its RTP payloads in order.
pub type AccessUnit = Arc<Vec<Vec<u8>>>;

/// What a subscriber's downstream writer task is told: media of a publisher (with the bytes
/// it holds in the subscriber's queue), or that a publisher's track opened or closed.
pub enum Downstream<T> {
    Media(ParticipantId, T, Charge),
    Open(ParticipantId, Arc<TrackLocalStaticRTP>, u32),
    Close(ParticipantId),
}

/// A publisher's tracks on one subscriber's connection.
struct PublisherTracks {
    audio: Arc<dyn RtpSender>,
    video: Option<VideoTrack>,
}

struct VideoTrack {
    sender: Arc<dyn RtpSender>,
    /// Set when the track is removed: ends the watch for the subscriber's keyframe requests.
    closed: Arc<AtomicBool>,
}

/// Where a subscriber's renegotiation stands.
#[derive(Default)]
struct Negotiation {
    running: bool,
    /// Something changed while an offer was out: offer again after the answer.
    again: bool,
    /// Where the subscriber's answer to the SFU's offer goes.
    answer: Option<oneshot::Sender<String>>,
    /// The tracks changed since the last answer applied.
    unanswered: bool,
}

struct Peer {
    meeting: String,
    connection: Arc<dyn PeerConnection>,
    /// The connection's events: its upstream video track receives our keyframe requests.
    events: Arc<LinkEvents>,
    /// The participant's signaling (its WebSocket), for the SFU's offers.
    signal: Arc<Signal>,
    /// Downstream audio and video for this subscriber, each written by its own task.
    outbox: Outbox,
    /// Whether the participant's offer can receive video.
    receives_video: bool,
    /// Whether the participant has published video (the others get a video track of it).
    publishes_video: bool,
    /// The tracks of the other publishers on this subscriber's connection.
    tracks: HashMap<ParticipantId, PublisherTracks>,
    /// The shared audio track of the publishers beyond the limit, if there are any.
    overflow: Option<Arc<dyn RtpSender>>,
    /// When the connection was answered: earlier publishers keep their own tracks.
    arrival: u64,
    negotiation: Negotiation,
    last_keyframe_request: Option<Instant>,
    forwarding: bool,
}

/// What the SFU forwarded, for tests and diagnostics (a "tap").
pub type Tap = mpsc::UnboundedSender<(ParticipantId, Vec<u8>)>;
/// The video access units (RTP payloads) the SFU forwarded, with their publisher.
pub type VideoTap = mpsc::UnboundedSender<(ParticipantId, AccessUnit)>;

/// All media connections of a server.
pub struct Sfu {
    sockets: LinkOptions,
    peers: Mutex<HashMap<ParticipantId, Peer>>,
    tap: Mutex<Option<Tap>>,
    video_tap: Mutex<Option<VideoTap>>,
    keyframe_requests_sent: AtomicU64,
    /// Packets dropped for publishers over their bitrate cap.
    over_cap_drops: AtomicU64,
    /// Packets and access units dropped for subscribers whose queue was full.
    queue_drops: AtomicU64,
    renegotiations: AtomicU64,
    arrivals: AtomicU64,
    publisher_tracks: std::sync::atomic::AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sfu {
    /// An SFU whose peer connections bind UDP on `bind` (e.g. `0.0.0.0:0`).
    pub fn new(bind: &str) -> Arc<Self> {
        Self::with_tcp(bind, "")
    }

    /// An SFU whose peer connections bind UDP on `bind` and also listen for ICE-TCP on
    /// `tcp_bind` (empty: no ICE-TCP), for clients whose UDP is blocked.
    pub fn with_tcp(bind: &str, tcp_bind: &str) -> Arc<Self> {
        let tcp = if tcp_bind.is_empty() {
            Vec::new()
        } else {
            vec![tcp_bind.to_owned()]
        };
        Arc::new(Self {
            sockets: LinkOptions {
                udp: vec![bind.to_owned()],
                tcp,
                ..LinkOptions::default()
            },
            peers: Mutex::new(HashMap::new()),
            tap: Mutex::new(None),
            video_tap: Mutex::new(None),
            keyframe_requests_sent: AtomicU64::new(0),
            over_cap_drops: AtomicU64::new(0),
            queue_drops: AtomicU64::new(0),
            renegotiations: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            publisher_tracks: DEFAULT_PUBLISHER_TRACKS.into(),
        })
    }

    /// How many publishers get tracks of their own on each subscriber's connection (at
    /// least 1); the rest share the overflow audio track.
    pub fn set_publisher_track_limit(&self, limit: usize) {
        self.publisher_tracks.store(limit.max(1), Ordering::Relaxed);
    }

    /// Whether `participant` has a media connection here.
    pub fn is_connected(&self, participant: ParticipantId) -> bool {
        lock(&self.peers).contains_key(&participant)
    }

    /// Whether `subscriber`'s connection has the shared overflow track.
    pub fn has_overflow_track(&self, subscriber: ParticipantId) -> bool {
        lock(&self.peers)
            .get(&subscriber)
            .is_some_and(|peer| peer.overflow.is_some())
    }

    /// Sends a copy of every forwarded video access unit (with its publisher) to `tap`.
    pub fn set_video_tap(&self, tap: VideoTap) {
        *lock(&self.video_tap) = Some(tap);
    }

    /// How many keyframe requests (PLI) the SFU has sent to publishers.
    pub fn keyframe_requests_sent(&self) -> u64 {
        self.keyframe_requests_sent.load(Ordering::Relaxed)
    }

    /// How many packets the SFU dropped because their publisher was over its bitrate cap
    /// ([`limits`]).
    pub fn over_cap_drops(&self) -> u64 {
        self.over_cap_drops.load(Ordering::Relaxed)
    }

    /// How many audio packets and video access units the SFU dropped because a subscriber's
    /// queue was full ([`queue`]).
    pub fn queue_drops(&self) -> u64 {
        self.queue_drops.load(Ordering::Relaxed)
    }

    /// How many connections are being renegotiated right now.
    pub fn renegotiations_running(&self) -> usize {
        lock(&self.peers)
            .values()
            .filter(|peer| peer.negotiation.running)
            .count()
    }

    /// How many renegotiations (offer and answer) have completed.
    pub fn renegotiations(&self) -> u64 {
        self.renegotiations.load(Ordering::Relaxed)
    }

    /// The publishers whose tracks `subscriber`'s connection has, and whether each has video.
    pub fn tracks_of(&self, subscriber: ParticipantId) -> Vec<(ParticipantId, bool)> {
        let mut tracks: Vec<_> = lock(&self.peers)
            .get(&subscriber)
            .map(|peer| {
                peer.tracks
                    .iter()
                    .map(|(id, tracks)| (*id, tracks.video.is_some()))
                    .collect()
            })
            .unwrap_or_default();
        tracks.sort();
        tracks
    }

    /// RTCP NACKs subscribers have sent the SFU about its downstream tracks (retransmission
    /// requests answered from the SFU's own send buffer, hop by hop).
    pub async fn nacks_received(&self) -> u64 {
        let connections: Vec<_> = lock(&self.peers)
            .values()
            .map(|peer| Arc::clone(&peer.connection))
            .collect();
        let mut total = 0;
        for connection in connections {
            total += nacks_received(connection.as_ref()).await;
        }
        total
    }

    /// Sends a copy of every forwarded payload (with its publisher) to `tap`.
    pub fn set_tap(&self, tap: Tap) {
        *lock(&self.tap) = Some(tap);
    }

    /// Answers `participant`'s offer for `meeting`; returns the answer to send back. Later
    /// offers of the SFU (renegotiation) go out through `signal`.
    pub async fn answer(
        self: &Arc<Self>,
        participant: ParticipantId,
        meeting: &str,
        offer: &str,
        signal: Signal,
    ) -> Result<String, TransportError> {
        let offer = offer_from_text(offer)?;
        let (upstream_tx, mut upstream_rx) = mpsc::channel::<IncomingAudio>(AUDIO_UPSTREAM_QUEUE);
        let (video_up_tx, video_up_rx) = mpsc::channel::<IncomingVideoPacket>(VIDEO_UPSTREAM_QUEUE);
        let receives_video = offer.sdp.contains("m=video");
        let events = LinkEvents::with_video(upstream_tx, video_up_tx);
        let connection =
            conclave_rtc::transport::peer_connection_with(&self.sockets, events.clone()).await?;
        connection
            .set_remote_description(offer)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        // No tracks of ours yet: the others' tracks come by renegotiation.
        let answer = connection
            .create_answer(None)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        let answer = set_local_and_gather(connection.as_ref(), &events, answer).await?;

        let (outbox, down_rx, video_down_rx) = Outbox::new();
        tokio::spawn(write_audio_downstream(down_rx));
        tokio::spawn(write_video_downstream(video_down_rx));
        self.receive_video(participant, video_up_rx);
        // Upstream: everything this participant publishes goes to the others, up to its cap.
        let sfu = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut cap = PublisherCap::new(participant, TrackKind::Audio, Instant::now());
            while let Some(audio) = upstream_rx.recv().await {
                let Some(sfu) = sfu.upgrade() else { break };
                if !cap.admit(audio.payload.len(), Instant::now()) {
                    sfu.over_cap_drops.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // One allocation per published packet, shared by every subscriber.
                sfu.forward(participant, Bytes::from(audio.payload));
            }
        });
        let replaced = lock(&self.peers).insert(
            participant,
            Peer {
                meeting: meeting.to_owned(),
                connection,
                events,
                signal: Arc::new(signal),
                outbox,
                receives_video,
                publishes_video: false,
                tracks: HashMap::new(),
                overflow: None,
                arrival: self.arrivals.fetch_add(1, Ordering::Relaxed),
                negotiation: Negotiation::default(),
                last_keyframe_request: None,
                forwarding: false,
            },
        );
        if let Some(old) = replaced {
            tokio::spawn(async move {
                let _ = old.connection.close().await;
            });
        }
        tracing::info!(participant = %participant, "media connection answered");
        Ok(answer)
    }

    /// Turns forwarding to and from `participant` on (an admitted member) or off.
    pub fn set_forwarding(self: &Arc<Self>, participant: ParticipantId, on: bool) {
        let meeting = {
            let mut peers = lock(&self.peers);
            let Some(peer) = peers.get_mut(&participant) else {
                return;
            };
            if peer.forwarding == on {
                return;
            }
            peer.forwarding = on;
            peer.meeting.clone()
        };
        self.renegotiate_meeting(&meeting);
    }

    /// Forwarding on for exactly `members` of `meeting` (the MLS members), off for its other
    /// participants (lobby, joining). Renegotiates every connection of the meeting whose
    /// tracks this changes.
    pub fn set_meeting_members(self: &Arc<Self>, meeting: &str, members: &[ParticipantId]) {
        let (mut newcomer, mut changed) = (false, false);
        for (id, peer) in lock(&self.peers).iter_mut() {
            if peer.meeting == meeting {
                let on = members.contains(id);
                newcomer |= on && !peer.forwarding;
                changed |= on != peer.forwarding;
                peer.forwarding = on;
            }
        }
        if changed {
            self.renegotiate_meeting(meeting);
        }
        // A new subscriber needs a keyframe to start from.
        if newcomer {
            self.request_keyframes(meeting);
        }
    }

    /// Drops `participant`'s media connection (left, expelled, disconnected); the others'
    /// connections lose its tracks.
    pub fn remove(self: &Arc<Self>, participant: ParticipantId) {
        let removed = lock(&self.peers).remove(&participant);
        if let Some(peer) = removed {
            self.renegotiate_meeting(&peer.meeting);
            tokio::spawn(async move {
                let _ = peer.connection.close().await;
            });
        }
    }

    /// Upstream video of `participant`: access units assembled from its packets, in order,
    /// waiting briefly for NACK repairs; a damaged unit is dropped and a keyframe requested.
    fn receive_video(
        self: &Arc<Self>,
        participant: ParticipantId,
        mut upstream: mpsc::Receiver<IncomingVideoPacket>,
    ) {
        let sfu = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut unit: Vec<Vec<u8>> = Vec::new();
            let mut unit_bytes = 0;
            let mut cap = PublisherCap::new(participant, TrackKind::Video, Instant::now());
            let mut reorder = ReorderBuffer::<IncomingVideoPacket>::default();
            let mut damaged = false;
            loop {
                let received = match reorder.deadline() {
                    Some(deadline) => tokio::time::timeout_at(
                        tokio::time::Instant::from_std(deadline),
                        upstream.recv(),
                    )
                    .await
                    .ok(),
                    None => Some(upstream.recv().await),
                };
                match received {
                    Some(None) => break,
                    Some(Some(packet)) if !cap.admit(packet.payload.len(), Instant::now()) => {
                        // Over the cap: dropped before it costs anything more (the gap it
                        // leaves spoils the unit; a keyframe is asked for at most every
                        // `KEYFRAME_REQUEST_INTERVAL`).
                        if let Some(sfu) = sfu.upgrade() {
                            sfu.over_cap_drops.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Some(packet)) => {
                        let restarts = starts_keyframe(&packet.payload);
                        reorder.push(packet.sequence, packet, restarts, Instant::now());
                    }
                    // The wait for a missing packet is over.
                    None => {}
                }
                let Some(sfu) = sfu.upgrade() else { break };
                while let Some(released) = reorder.pop(Instant::now()) {
                    let packet = released.packet;
                    // After a gap given up on, only a keyframe that starts with nothing
                    // collected is still whole (`Arrival`).
                    if released
                        .arrival
                        .spoils_unit(unit.is_empty(), &packet.payload)
                    {
                        damaged = true;
                    }
                    unit_bytes += packet.payload.len();
                    unit.push(packet.payload);
                    if unit.len() > MAX_ACCESS_UNIT_PACKETS || unit_bytes > MAX_ACCESS_UNIT_BYTES {
                        damaged = true;
                        unit.clear();
                        unit_bytes = 0;
                    }
                    if packet.marker {
                        unit_bytes = 0;
                        let complete = Arc::new(std::mem::take(&mut unit));
                        if std::mem::take(&mut damaged) {
                            // Forwarding a broken unit would only make every decoder fail.
                            sfu.request_keyframe_from(participant);
                        } else {
                            sfu.forward_video(participant, complete);
                        }
                    }
                }
            }
        });
    }

    /// Sends a PLI to every forwarding publisher of `meeting`.
    fn request_keyframes(&self, meeting: &str) {
        let publishers: Vec<ParticipantId> = lock(&self.peers)
            .iter()
            .filter(|(_, p)| p.forwarding && p.meeting == meeting)
            .map(|(id, _)| *id)
            .collect();
        for publisher in publishers {
            self.request_keyframe_from(publisher);
        }
    }

    fn request_keyframe_from(&self, publisher: ParticipantId) {
        let now = Instant::now();
        let track = {
            let mut peers = lock(&self.peers);
            let Some(peer) = peers.get_mut(&publisher) else {
                return;
            };
            if peer
                .last_keyframe_request
                .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL)
            {
                return;
            }
            // No video track yet: the publisher sends no video, nothing to ask.
            let Some(track) = peer.events.video_track() else {
                return;
            };
            peer.last_keyframe_request = Some(now);
            track
        };
        self.keyframe_requests_sent.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = send_keyframe_request(&track).await {
                tracing::debug!(error = %e, "cannot ask a publisher for a keyframe");
            }
        });
    }

    fn forward_video(self: &Arc<Self>, publisher: ParticipantId, unit: AccessUnit) {
        let mut peers = lock(&self.peers);
        let Some(source) = peers.get_mut(&publisher) else {
            return;
        };
        if !source.forwarding {
            return;
        }
        if !source.publishes_video {
            // The others need a video track of this publisher first.
            source.publishes_video = true;
            let meeting = source.meeting.clone();
            drop(peers);
            self.renegotiate_meeting(&meeting);
            return;
        }
        let meeting = source.meeting.clone();
        if let Some(tap) = lock(&self.video_tap).as_ref() {
            let _ = tap.send((publisher, Arc::clone(&unit)));
        }
        let (mut dropped, mut not_queued) = (false, 0);
        for (id, peer) in peers.iter_mut() {
            if *id != publisher
                && peer.forwarding
                && peer.meeting == meeting
                && peer
                    .tracks
                    .get(&publisher)
                    .is_some_and(|t| t.video.is_some())
            {
                // A slow subscriber loses whole access units; the next keyframe repairs its
                // picture, so ask for one.
                match peer.outbox.push_video(publisher, &unit) {
                    VideoQueued::Queued => {}
                    VideoQueued::Dropped => {
                        dropped = true;
                        not_queued += 1;
                    }
                    VideoQueued::Skipped => not_queued += 1,
                }
            }
        }
        drop(peers);
        self.queue_drops.fetch_add(not_queued, Ordering::Relaxed);
        if dropped {
            self.request_keyframe_from(publisher);
        }
    }

    fn forward(&self, publisher: ParticipantId, payload: Bytes) {
        let peers = lock(&self.peers);
        let Some(source) = peers.get(&publisher) else {
            return;
        };
        if !source.forwarding {
            return;
        }
        if let Some(tap) = lock(&self.tap).as_ref() {
            let _ = tap.send((publisher, payload.to_vec()));
        }
        for (id, peer) in peers.iter() {
            // Same meeting on both paths: a participant who left for another meeting may
            // still have tracks here until the renegotiation removing them has run.
            let carried = peer.tracks.contains_key(&publisher) || peer.overflow.is_some();
            // A slow subscriber loses its own packets, nobody else's.
            if *id != publisher
                && peer.forwarding
                && peer.meeting == source.meeting
                && carried
                && !peer.outbox.push_audio(publisher, payload.clone())
            {
                self.queue_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer key of the overflow track (no participant has this id: ids count from 1).
const OVERFLOW: ParticipantId = ParticipantId(0);

/// A subscriber's audio: each publisher's packets on that publisher's track, or on the
/// overflow track for publishers beyond the limit. Writes before
/// the track is negotiated fail and are dropped (a few milliseconds of a newcomer's audio).
async fn write_audio_downstream(mut downstream: mpsc::Receiver<Downstream<Bytes>>) {
    let mut writers: HashMap<ParticipantId, RtpWriter> = HashMap::new();
    while let Some(item) = downstream.recv().await {
        match item {
            Downstream::Media(publisher, payload, charge) => {
                let writer = match writers.contains_key(&publisher) {
                    true => writers.get_mut(&publisher),
                    false => writers.get_mut(&OVERFLOW),
                };
                if let Some(writer) = writer
                    && let Err(e) = writer.send_bytes(payload).await
                {
                    tracing::trace!(error = %e, "downstream audio packet dropped");
                }
                // Out of the queue only now: a writer that is stuck keeps its bytes counted.
                drop(charge);
            }
            Downstream::Open(publisher, track, ssrc) => {
                writers.insert(publisher, RtpWriter::new(track, ssrc));
            }
            Downstream::Close(publisher) => {
                writers.remove(&publisher);
            }
        }
    }
}

/// A subscriber's video: each publisher's access units on that publisher's track.
async fn write_video_downstream(mut downstream: mpsc::Receiver<Downstream<AccessUnit>>) {
    let mut writers: HashMap<ParticipantId, VideoRtpWriter> = HashMap::new();
    while let Some(item) = downstream.recv().await {
        match item {
            Downstream::Media(publisher, unit, charge) => {
                if let Some(writer) = writers.get_mut(&publisher)
                    && let Err(e) = writer.forward_access_unit(&unit).await
                {
                    tracing::trace!(error = %e, "downstream access unit dropped");
                }
                drop(charge);
            }
            Downstream::Open(publisher, track, ssrc) => {
                writers.insert(publisher, VideoRtpWriter::new(track, ssrc));
            }
            Downstream::Close(publisher) => {
                writers.remove(&publisher);
            }
        }
    }
}
