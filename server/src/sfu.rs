//! The SFU: one WebRTC peer connection per participant (the client offers, the SFU answers).
//! Every RTP packet a participant publishes is forwarded to every other participant of the
//! same meeting whose forwarding is on; the payload is SFrame ciphertext and is never opened
//! here (the SFU holds no media key). Downstream, all speakers share the subscriber's one
//! audio track (see `conclave_core::media::transport`), so the SFU rewrites SSRC, sequence
//! number and timestamp per subscriber and renegotiates nothing when people come and go.
//!
//! Forwarding is on only for admitted MLS members: lobby, expelled and departed participants
//! get nothing and send nothing onward.
//!
//! Video goes the same way on a second track, one whole access unit at a time: the SFU
//! collects a publisher's packets up to the marker bit and writes them to each subscriber
//! back to back, so access units of different publishers never interleave on the shared
//! downstream track (the depacketizer needs a unit's fragments in a row). An access unit with
//! a sequence gap is dropped here and the publisher asked for a keyframe. Keyframe requests
//! (PLI/FIR) from a subscriber go to every video publisher of the meeting — the subscriber
//! cannot name one, its downstream track mixes them — and a newly admitted member triggers
//! one too, so it gets a picture without waiting for the next periodic keyframe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_core::media::reorder::ReorderBuffer;
use conclave_core::media::transport::{
    LinkEvents, LinkOptions, RtpWriter, TransportError, description_to_text, nacks_received,
    offer_from_text, opus_track, peer_connection_with,
};
use conclave_core::media::video::starts_keyframe;
use conclave_core::media::video_link::{
    Feedback, IncomingVideoPacket, VideoRtpWriter, h264_track, send_keyframe_request,
    watch_feedback,
};
use conclave_core::protocol::ParticipantId;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;

/// Packets queued per subscriber before the oldest are dropped.
const SUBSCRIBER_QUEUE: usize = 256;
/// Video access units queued per subscriber (about 2 s of 4 publishers at 15 fps).
const VIDEO_SUBSCRIBER_QUEUE: usize = 120;
/// Upstream video packets queued per publisher.
const VIDEO_UPSTREAM_QUEUE: usize = 2_000;
/// An access unit with more packets than this is refused (a 4K keyframe needs far fewer).
const MAX_ACCESS_UNIT_PACKETS: usize = 4_000;
/// Keyframe requests to one publisher are sent at most this often; its encoder limits
/// keyframes too, this only spares the uplink a PLI storm.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(200);

/// One publisher's access unit: its RTP payloads in order.
pub type AccessUnit = Arc<Vec<Vec<u8>>>;

struct Peer {
    meeting: String,
    connection: Arc<dyn PeerConnection>,
    /// Downstream packets for this subscriber, written by its own task.
    downstream: mpsc::Sender<Bytes>,
    /// Downstream video access units for this subscriber.
    video_downstream: mpsc::Sender<AccessUnit>,
    /// The connection's events: its upstream video track receives our keyframe requests.
    events: Arc<LinkEvents>,
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
                simulated_loss: None,
            },
            peers: Mutex::new(HashMap::new()),
            tap: Mutex::new(None),
            video_tap: Mutex::new(None),
            keyframe_requests_sent: AtomicU64::new(0),
        })
    }

    /// Sends a copy of every forwarded video access unit (with its publisher) to `tap`.
    pub fn set_video_tap(&self, tap: VideoTap) {
        *lock(&self.video_tap) = Some(tap);
    }

    /// How many keyframe requests (PLI) the SFU has sent to publishers.
    pub fn keyframe_requests_sent(&self) -> u64 {
        self.keyframe_requests_sent.load(Ordering::Relaxed)
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

    /// Answers `participant`'s offer for `meeting`; returns the answer to send back.
    pub async fn answer(
        self: &Arc<Self>,
        participant: ParticipantId,
        meeting: &str,
        offer: &str,
    ) -> Result<String, TransportError> {
        let offer = offer_from_text(offer)?;
        let (upstream_tx, mut upstream_rx) = mpsc::channel::<Vec<u8>>(SUBSCRIBER_QUEUE);
        let (video_up_tx, video_up_rx) = mpsc::channel::<IncomingVideoPacket>(VIDEO_UPSTREAM_QUEUE);
        let offers_video = offer.sdp.contains("m=video");
        let events = LinkEvents::with_video(upstream_tx, video_up_tx);
        let connection = peer_connection_with(&self.sockets, events.clone()).await?;
        connection
            .set_remote_description(offer)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        let ssrc = rand::random();
        let track = opus_track(&format!("sfu-{}", participant.0), ssrc);
        connection
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        let video_ssrc = rand::random();
        let video_track = h264_track(&format!("sfu-{}", participant.0), video_ssrc);
        if offers_video {
            connection
                .add_track(Arc::clone(&video_track) as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        }
        let answer = connection
            .create_answer(None)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        connection
            .set_local_description(answer)
            .await
            .map_err(|e| TransportError::WebRtc(e.to_string()))?;
        events.gathered().await?;
        let local = connection
            .local_description()
            .await
            .ok_or(TransportError::Closed)?;

        // Downstream: this subscriber's writer task.
        let (down_tx, mut down_rx) = mpsc::channel::<Bytes>(SUBSCRIBER_QUEUE);
        tokio::spawn(async move {
            let mut writer = RtpWriter::new(track, ssrc);
            while let Some(payload) = down_rx.recv().await {
                if writer.send_bytes(payload).await.is_err() {
                    break;
                }
            }
        });
        let (video_down_tx, video_down_rx) = mpsc::channel::<AccessUnit>(VIDEO_SUBSCRIBER_QUEUE);
        if offers_video {
            self.start_video(
                participant,
                video_track,
                video_ssrc,
                video_down_rx,
                video_up_rx,
                &events,
            );
        }
        // Upstream: everything this participant publishes goes to the others.
        let sfu = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(payload) = upstream_rx.recv().await {
                let Some(sfu) = sfu.upgrade() else { break };
                // One allocation per published packet, shared by every subscriber.
                sfu.forward(participant, Bytes::from(payload));
            }
        });
        if let Some(old) = lock(&self.peers).insert(
            participant,
            Peer {
                meeting: meeting.to_owned(),
                connection,
                downstream: down_tx,
                video_downstream: video_down_tx,
                events,
                last_keyframe_request: None,
                forwarding: false,
            },
        ) {
            let connection = old.connection;
            tokio::spawn(async move {
                let _ = connection.close().await;
            });
        }
        tracing::info!(participant = %participant, "media connection answered");
        description_to_text(&local)
    }

    /// Turns forwarding to and from `participant` on (an admitted member) or off.
    pub fn set_forwarding(&self, participant: ParticipantId, on: bool) {
        if let Some(peer) = lock(&self.peers).get_mut(&participant) {
            peer.forwarding = on;
        }
    }

    /// Forwarding on for exactly `members` of `meeting` (the MLS members), off for its other
    /// participants (lobby, joining).
    pub fn set_meeting_members(&self, meeting: &str, members: &[ParticipantId]) {
        let mut newcomer = false;
        for (id, peer) in lock(&self.peers).iter_mut() {
            if peer.meeting == meeting {
                let on = members.contains(id);
                newcomer |= on && !peer.forwarding;
                peer.forwarding = on;
            }
        }
        // A new subscriber needs a keyframe to start from.
        if newcomer {
            self.request_keyframes(meeting, None);
        }
    }

    /// Drops `participant`'s media connection (left, expelled, disconnected).
    pub fn remove(&self, participant: ParticipantId) {
        if let Some(peer) = lock(&self.peers).remove(&participant) {
            tokio::spawn(async move {
                let _ = peer.connection.close().await;
            });
        }
    }

    /// Video of one participant: downstream writer, upstream access-unit assembly, and the
    /// keyframe requests its client sends about the downstream track.
    fn start_video(
        self: &Arc<Self>,
        participant: ParticipantId,
        track: Arc<webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP>,
        ssrc: u32,
        mut downstream: mpsc::Receiver<AccessUnit>,
        mut upstream: mpsc::Receiver<IncomingVideoPacket>,
        events: &Arc<LinkEvents>,
    ) {
        let writer_track = Arc::clone(&track);
        tokio::spawn(async move {
            let mut writer = VideoRtpWriter::new(writer_track, ssrc);
            while let Some(unit) = downstream.recv().await {
                if writer.forward_access_unit(&unit).await.is_err() {
                    break;
                }
            }
        });
        let sfu = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut unit: Vec<Vec<u8>> = Vec::new();
            // Packets in order, waiting briefly for NACK repairs of the publisher's uplink.
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
                    unit.push(packet.payload);
                    if unit.len() > MAX_ACCESS_UNIT_PACKETS {
                        damaged = true;
                        unit.clear();
                    }
                    if packet.marker {
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
        let (sfu, watched) = (Arc::downgrade(self), Arc::clone(events));
        tokio::spawn(async move {
            let alive = move || {
                !matches!(
                    watched.state(),
                    webrtc::peer_connection::RTCPeerConnectionState::Closed
                        | webrtc::peer_connection::RTCPeerConnectionState::Failed
                )
            };
            watch_feedback(track, alive, |feedback| {
                if feedback == Feedback::KeyframeRequest
                    && let Some(sfu) = sfu.upgrade()
                {
                    sfu.relay_keyframe_request(participant);
                }
            })
            .await;
        });
    }

    /// A subscriber asked for a keyframe: ask the publishers it receives from.
    fn relay_keyframe_request(&self, subscriber: ParticipantId) {
        let meeting = match lock(&self.peers).get(&subscriber) {
            Some(peer) if peer.forwarding => peer.meeting.clone(),
            _ => return,
        };
        self.request_keyframes(&meeting, Some(subscriber));
    }

    /// Sends a PLI to every forwarding publisher of `meeting` except `except`.
    fn request_keyframes(&self, meeting: &str, except: Option<ParticipantId>) {
        let publishers: Vec<ParticipantId> = lock(&self.peers)
            .iter()
            .filter(|(id, p)| Some(**id) != except && p.forwarding && p.meeting == meeting)
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

    fn forward_video(&self, publisher: ParticipantId, unit: AccessUnit) {
        let peers = lock(&self.peers);
        let Some(source) = peers.get(&publisher) else {
            return;
        };
        if !source.forwarding {
            return;
        }
        if let Some(tap) = lock(&self.video_tap).as_ref() {
            let _ = tap.send((publisher, Arc::clone(&unit)));
        }
        let mut dropped = false;
        for (id, peer) in peers.iter() {
            if *id != publisher && peer.forwarding && peer.meeting == source.meeting {
                // A slow subscriber loses whole access units; the next keyframe repairs its
                // picture, so ask for one.
                dropped |= matches!(
                    peer.video_downstream.try_send(Arc::clone(&unit)),
                    Err(mpsc::error::TrySendError::Full(_))
                );
            }
        }
        drop(peers);
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
            if *id != publisher && peer.forwarding && peer.meeting == source.meeting {
                // A slow subscriber loses its own packets, nobody else's.
                let _ = peer.downstream.try_send(payload.clone());
            }
        }
    }
}
