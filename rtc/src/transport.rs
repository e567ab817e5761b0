//! The media hop to the SFU over WebRTC (webrtc-rs 0.21): DTLS-SRTP on ICE, UDP first.
//!
//! Each participant has one peer connection to the SFU. The client offers its upstream audio
//! and video m-lines; downstream, each other member arrives on tracks of its own, which the SFU
//! adds and removes by renegotiating ([`MediaLink::accept_offer`]; see `docs/protocol.md`).
//! Every audio payload is an SFrame frame whose authenticated KID names the sending member's
//! leaf and whose clear metadata carries the sender's frame sequence, so the receiver
//! demultiplexes and orders by what SFrame proves, not by what the SFU's RTP headers say.
//!
//! Signaling is not trickled: each side gathers its candidates before its description is
//! sent, which on loopback and LANs takes milliseconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::rtp_transceiver::rtp_sender::RTCPFeedback;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{Mutex, mpsc, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
    Registry, SettingEngineBuilder, StatsSelector,
};

use crate::bottleneck::Bottleneck;
pub use crate::error::TransportError;
use crate::error::webrtc_error;
use crate::lossy::{LossRate, LossyRuntime};
use crate::pacing::PacedVideoSender;
use crate::video_frame::{KeyframeWanted, OutgoingVideoFrame};
use crate::video_link::{
    Feedback, IncomingVideoPacket, h264_track, picture_loss_indication, watch_feedback,
    with_keyframe_requests,
};

/// RTP payload type for Opus (dynamic, as browsers use).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// RTP clock ticks per 20 ms Opus frame.
pub const OPUS_TICKS_PER_FRAME: u32 = 960;
/// How long gathering and connecting may take before giving up.
const PATIENCE: Duration = Duration::from_secs(15);
/// Downstream payloads buffered before the oldest are dropped (2 s of 5 speakers).
const INCOMING_QUEUE: usize = 500;
/// Downstream video packets buffered (about two keyframes of 4 publishers at 320×240).
const INCOMING_VIDEO_QUEUE: usize = 2_000;

/// An audio track description for Opus.
pub fn opus_track(id: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("conclave-{id}"),
        format!("audio-{id}"),
        format!("audio-{id}"),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: "audio/opus".to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    )))
}

/// One remote audio payload (an SFrame frame) and when it came off the network. The jitter
/// buffer needs the real arrival time: the media loop takes payloads only at its 20 ms tick,
/// and stamping them then would hide the tick's phase and round every jitter estimate to
/// 20 ms (docs/performance.md, mouth-to-ear).
#[derive(Debug, Clone)]
pub struct IncomingAudio {
    pub payload: Vec<u8>,
    pub arrived: std::time::Instant,
}

/// Events a peer connection reports, shared by the client and the SFU.
pub struct LinkEvents {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    /// Where RTP payloads of remote audio tracks go.
    incoming: mpsc::Sender<IncomingAudio>,
    /// Where packets of the remote video track go (none: video is ignored).
    video: Option<mpsc::Sender<IncomingVideoPacket>>,
    /// The latest remote video track, to send it keyframe requests (the SFU's one upstream).
    video_track: watch::Sender<Option<Arc<dyn TrackRemote>>>,
    /// Every remote video track by the SSRC its packets carry (a client's downstream: one per
    /// publisher).
    video_tracks: Arc<std::sync::Mutex<RemoteVideoTracks>>,
}

type RemoteVideoTracks = HashMap<u32, Arc<dyn TrackRemote>>;

fn track_video(
    tracks: &std::sync::Mutex<RemoteVideoTracks>,
    ssrc: u32,
    track: Option<&Arc<dyn TrackRemote>>,
) {
    let mut tracks = tracks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match track {
        Some(track) => {
            tracks.insert(ssrc, Arc::clone(track));
        }
        None => {
            tracks.remove(&ssrc);
        }
    }
}

impl LinkEvents {
    pub fn new(incoming: mpsc::Sender<IncomingAudio>) -> Arc<Self> {
        Self::build(incoming, None)
    }

    /// Audio payloads to `incoming`, video packets to `video`.
    pub fn with_video(
        incoming: mpsc::Sender<IncomingAudio>,
        video: mpsc::Sender<IncomingVideoPacket>,
    ) -> Arc<Self> {
        Self::build(incoming, Some(video))
    }

    fn build(
        incoming: mpsc::Sender<IncomingAudio>,
        video: Option<mpsc::Sender<IncomingVideoPacket>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            gathered: watch::channel(false).0,
            state: watch::channel(RTCPeerConnectionState::New).0,
            incoming,
            video,
            video_track: watch::channel(None).0,
            video_tracks: Arc::default(),
        })
    }

    /// The remote video tracks by SSRC.
    pub fn video_tracks(&self) -> Vec<(u32, Arc<dyn TrackRemote>)> {
        self.video_tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(ssrc, track)| (*ssrc, Arc::clone(track)))
            .collect()
    }

    /// The latest remote video track, once one has arrived.
    pub fn video_track(&self) -> Option<Arc<dyn TrackRemote>> {
        self.video_track.borrow().clone()
    }

    /// Waits until candidate gathering has finished.
    pub async fn gathered(&self) -> Result<(), TransportError> {
        let mut watch = self.gathered.subscribe();
        tokio::time::timeout(PATIENCE, watch.wait_for(|done| *done))
            .await
            .map_err(|_| TransportError::Timeout("gathering candidates"))?
            .map_err(|_| TransportError::Closed)?;
        Ok(())
    }

    /// Waits until the connection is up (ICE + DTLS).
    pub async fn connected(&self) -> Result<(), TransportError> {
        let mut watch = self.state.subscribe();
        let reached = tokio::time::timeout(
            PATIENCE,
            watch.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await
        .map_err(|_| TransportError::Timeout("connecting"))?
        .map_err(|_| TransportError::Closed)?;
        if *reached == RTCPeerConnectionState::Connected {
            Ok(())
        } else {
            Err(TransportError::Closed)
        }
    }

    /// The current connection state.
    pub fn state(&self) -> RTCPeerConnectionState {
        *self.state.borrow()
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for LinkEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if track.kind().await == RtpCodecKind::Video {
            let Some(video) = self.video.clone() else {
                // Nobody wants video here; drain it so the track's queue never backs up
                // into the connection's driver.
                tokio::spawn(async move { while track.poll().await.is_some() {} });
                return;
            };
            self.video_track.send_replace(Some(Arc::clone(&track)));
            let tracks = Arc::clone(&self.video_tracks);
            tokio::spawn(async move {
                let mut ssrc = None;
                while let Some(event) = track.poll().await {
                    match event {
                        TrackRemoteEvent::OnRtpPacket(packet) => {
                            if ssrc != Some(packet.header.ssrc) {
                                // A reused transceiver now carries another stream.
                                if let Some(previous) = ssrc {
                                    track_video(&tracks, previous, None);
                                }
                                ssrc = Some(packet.header.ssrc);
                                track_video(&tracks, packet.header.ssrc, Some(&track));
                            }
                            let _ = video.try_send(IncomingVideoPacket {
                                ssrc: packet.header.ssrc,
                                payload: packet.payload.to_vec(),
                                sequence: packet.header.sequence_number,
                                marker: packet.header.marker,
                            });
                        }
                        TrackRemoteEvent::OnEnded => break,
                        _ => {}
                    }
                }
                if let Some(ssrc) = ssrc {
                    track_video(&tracks, ssrc, None);
                }
            });
            return;
        }
        let incoming = self.incoming.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        // A full queue means the consumer stalled: drop, never block the
                        // connection's driver.
                        let _ = incoming.try_send(IncomingAudio {
                            payload: packet.payload.to_vec(),
                            arrived: std::time::Instant::now(),
                        });
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// How a peer connection reaches the network.
#[derive(Debug, Clone, Default)]
pub struct LinkOptions {
    /// UDP addresses to bind (e.g. `127.0.0.1:0`, or `0.0.0.0:0` for every interface).
    pub udp: Vec<String>,
    /// TCP addresses to listen on for ICE-TCP (RFC 6544): the SFU's passive candidates, and
    /// the address a client's active candidate names.
    pub tcp: Vec<String>,
    /// Diagnostic: drop this fraction of UDP datagrams at random, both ways.
    pub simulated_loss: Option<LossRate>,
    /// Diagnostic: send through a narrow uplink (a rate and a bounded queue; what overflows is
    /// dropped), to show quality adapting to congestion.
    pub simulated_uplink: Option<Bottleneck>,
}

impl LinkOptions {
    /// UDP only, on `bind`.
    pub fn udp(bind: &str) -> Self {
        Self {
            udp: vec![bind.to_owned()],
            ..Self::default()
        }
    }
}

/// A new peer connection bound to `bind` (e.g. `127.0.0.1:0` or `0.0.0.0:0`).
pub async fn peer_connection(
    bind: &str,
    events: Arc<LinkEvents>,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    peer_connection_with(&LinkOptions::udp(bind), events).await
}

/// ICE connectivity checks every 25 ms while connecting. webrtc-rs's default, 200 ms, alone cost
/// about 200 ms of every join: checks go out on that timer (docs/performance.md).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(25);
/// Checks per candidate pair before it counts as failed: 56 × 25 ms keeps the default budget of
/// 7 × 200 ms = 1.4 s, so paths with long round trips still connect.
const ICE_MAX_BINDING_REQUESTS: u16 = 56;

/// A new peer connection on the sockets `options` names. NACK (RFC 4585) is negotiated for
/// audio too, so a lost packet is retransmitted hop by hop (client ⇄ SFU) when it can still
/// arrive in time; what NACK cannot recover, Opus FEC and concealment cover.
pub async fn peer_connection_with(
    options: &LinkOptions,
    events: Arc<LinkEvents>,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().map_err(webrtc_error)?;
    // NACK and RTCP reports only (webrtc-rs's defaults add TWCC feedback and the simulcast
    // header extensions): quality adapts to receiver reports' loss, nothing reads TWCC, and
    // every stream's SSRC is in the SDP, so neither is worth its per-packet work.
    let registry = configure_rtcp_reports(with_bounded_nack(Registry::new(), &mut media));
    let registry = with_keyframe_requests(registry);
    let mut runtime = webrtc::runtime::default_runtime()
        .ok_or_else(|| TransportError::WebRtc("no async runtime".into()))?;
    if options.simulated_loss.is_some() || options.simulated_uplink.is_some() {
        let rate = options.simulated_loss.unwrap_or_else(LossRate::none);
        tracing::warn!(
            loss = rate.fraction(),
            uplink_bps = options.simulated_uplink.map(|u| u.rate_bps()),
            "simulating an impaired network on the media link"
        );
        // Loss starts once the connection is up: media over a lossy link is what this
        // simulates. (Set-up under loss is another matter: at 10 % webrtc-rs 0.21's DTLS
        // handshake did not always finish within 15 s.)
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut state = events.state.subscribe();
        let arm = Arc::clone(&armed);
        tokio::spawn(async move {
            if state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected)
                .await
                .is_ok()
            {
                arm.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let mut impaired = LossyRuntime::new(runtime, rate).armed_by(armed);
        if let Some(uplink) = options.simulated_uplink {
            impaired = impaired.with_uplink(uplink);
        }
        runtime = Arc::new(impaired);
    }
    let settings = SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .build();
    let connection = PeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(events)
        .with_runtime(runtime)
        .with_udp_addrs(options.udp.clone())
        .with_tcp_addrs(options.tcp.clone())
        .build()
        .await
        .map_err(webrtc_error)?;
    Ok(Arc::new(connection))
}

/// How often a lost packet is asked for again. Receivers wait at most 200 ms for a repair
/// (`reorder::REORDER_WAIT`) and NACKs go out every 100 ms, so a third request could not arrive
/// in time. The bound matters on a congested link: webrtc-rs's default asks for every missing
/// packet every 100 ms for as long as it remembers it, and the retransmissions then fill the
/// very queue that dropped them (measured with a narrow uplink: over 30,000 dropped
/// retransmissions in 20 s for a 40 kbit/s stream, docs/performance.md).
const NACKS_PER_PACKET: u16 = 2;

/// NACK (RFC 4585) for audio and video, and PLI for video: webrtc-rs's `configure_nack`,
/// except that audio gets NACK too and each packet is asked for at most [`NACKS_PER_PACKET`]
/// times.
fn with_bounded_nack(registry: Registry, media: &mut MediaEngine) -> Registry {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    media.register_feedback(feedback("nack", ""), RtpCodecKind::Video);
    media.register_feedback(feedback("nack", "pli"), RtpCodecKind::Video);
    media.register_feedback(feedback("nack", ""), RtpCodecKind::Audio);
    registry
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
        )
}

/// RTCP NACKs `connection` has received about the streams it sends.
pub async fn nacks_received(connection: &dyn PeerConnection) -> u64 {
    connection
        .get_stats(std::time::Instant::now(), StatsSelector::None)
        .await
        .outbound_rtp_streams()
        .map(|stream| u64::from(stream.nack_count))
        .sum()
}

/// The passive TCP candidates in `sdp` (RFC 6544 `tcptype passive`). webrtc-rs 0.21 dials
/// passive candidates only when they arrive through `add_ice_candidate`, not from a
/// description, so the client hands them over again after applying the answer.
pub fn passive_tcp_candidates(sdp: &str) -> Vec<RTCIceCandidateInit> {
    sdp.lines()
        .filter_map(|line| line.trim().strip_prefix("a="))
        .filter(|attribute| attribute.starts_with("candidate:"))
        .filter(|candidate| {
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            fields.get(2).is_some_and(|p| p.eq_ignore_ascii_case("tcp"))
                && fields.windows(2).any(|w| w == ["tcptype", "passive"])
        })
        .map(|candidate| RTCIceCandidateInit {
            candidate: candidate.to_owned(),
            ..Default::default()
        })
        .collect()
}

/// Makes `description` (an offer or answer just created) the local one, waits until
/// candidate gathering has finished, and returns the SDP text to send, candidates included.
pub async fn set_local_and_gather(
    connection: &dyn PeerConnection,
    events: &LinkEvents,
    description: RTCSessionDescription,
) -> Result<String, TransportError> {
    connection
        .set_local_description(description)
        .await
        .map_err(webrtc_error)?;
    events.gathered().await?;
    let local = connection
        .local_description()
        .await
        .ok_or(TransportError::Closed)?;
    description_to_text(&local)
}

/// The SDP text of a description, as `sdp_offer` / `sdp_answer` carry it.
pub fn description_to_text(description: &RTCSessionDescription) -> Result<String, TransportError> {
    Ok(description.sdp.clone())
}

/// An offer received over signaling.
pub fn offer_from_text(sdp: &str) -> Result<RTCSessionDescription, TransportError> {
    RTCSessionDescription::offer(sdp.to_owned())
        .map_err(|e| TransportError::BadDescription(e.to_string()))
}

/// An answer received over signaling.
pub fn answer_from_text(sdp: &str) -> Result<RTCSessionDescription, TransportError> {
    RTCSessionDescription::answer(sdp.to_owned())
        .map_err(|e| TransportError::BadDescription(e.to_string()))
}

/// Writes one payload as the next RTP packet of `track`.
pub struct RtpWriter {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
}

impl RtpWriter {
    pub fn new(track: Arc<TrackLocalStaticRTP>, ssrc: u32) -> Self {
        Self {
            track,
            ssrc,
            sequence: rand::random(),
            timestamp: rand::random(),
        }
    }

    /// Sends `payload` (an SFrame frame) as one RTP packet, 20 ms after the previous one.
    pub async fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        self.send_bytes(bytes::Bytes::copy_from_slice(payload))
            .await
    }

    /// [`RtpWriter::send`] for a payload already in shared memory (the SFU hands one payload
    /// to every subscriber without copying it).
    pub async fn send_bytes(&mut self, payload: bytes::Bytes) -> Result<(), TransportError> {
        let packet = rtc::rtp::packet::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: OPUS_PAYLOAD_TYPE,
                sequence_number: self.sequence,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(OPUS_TICKS_PER_FRAME);
        self.track.write_rtp(packet).await.map_err(webrtc_error)
    }
}

/// A client's media connection to the SFU: it offers, the SFU answers.
pub struct MediaLink {
    connection: Arc<dyn PeerConnection>,
    events: Arc<LinkEvents>,
    writer: Mutex<RtpWriter>,
    incoming: Mutex<mpsc::Receiver<IncomingAudio>>,
    /// Whether to dial the SFU's passive TCP candidates (ICE-TCP on).
    dial_tcp: bool,
    video_track: Arc<TrackLocalStaticRTP>,
    video_writer: Mutex<PacedVideoSender>,
    incoming_video: Mutex<mpsc::Receiver<IncomingVideoPacket>>,
    /// Keyframe requests (PLI/FIR) the SFU relayed, not yet taken.
    keyframe_requests: Arc<AtomicU64>,
    video_ssrc: u32,
    /// The SFU's latest loss figure on our video, not yet taken: `NEW_LOSS_REPORT | fraction`.
    video_loss: Arc<AtomicU32>,
    audio_track: Arc<TrackLocalStaticRTP>,
    audio_ssrc: u32,
    /// The same for our audio.
    audio_loss: Arc<AtomicU32>,
}

/// Marks a loss figure in [`MediaLink::video_loss`] as not yet taken.
const NEW_LOSS_REPORT: u32 = 1 << 8;

fn take_loss_report(slot: &AtomicU32) -> Option<u8> {
    let taken = slot.swap(0, Ordering::Relaxed);
    (taken & NEW_LOSS_REPORT != 0).then_some((taken & 0xff) as u8)
}

impl MediaLink {
    /// Creates the peer connection and its offer (candidates included), to send as
    /// `sdp_offer`.
    pub async fn offer(bind: &str) -> Result<(Self, String), TransportError> {
        Self::offer_with(&LinkOptions::udp(bind)).await
    }

    /// Like [`MediaLink::offer`], on the sockets `options` names (ICE-TCP, simulated loss).
    pub async fn offer_with(options: &LinkOptions) -> Result<(Self, String), TransportError> {
        let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
        let (video_tx, video_rx) = mpsc::channel(INCOMING_VIDEO_QUEUE);
        let events = LinkEvents::with_video(tx, video_tx);
        let connection = peer_connection_with(options, events.clone()).await?;
        let ssrc = rand::random();
        let track = opus_track("upstream", ssrc);
        connection
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(webrtc_error)?;
        // Every member can watch, so the video m-line is always offered; it carries
        // upstream video only when the member has a camera or pattern on.
        let video_ssrc = rand::random();
        let video_track = h264_track("upstream", video_ssrc);
        connection
            .add_track(Arc::clone(&video_track) as Arc<dyn TrackLocal>)
            .await
            .map_err(webrtc_error)?;
        let offer = connection.create_offer(None).await.map_err(webrtc_error)?;
        let text = set_local_and_gather(connection.as_ref(), &events, offer).await?;
        Ok((
            Self {
                connection,
                events,
                writer: Mutex::new(RtpWriter::new(Arc::clone(&track), ssrc)),
                audio_track: track,
                audio_ssrc: ssrc,
                audio_loss: Arc::new(AtomicU32::new(0)),
                incoming: Mutex::new(rx),
                dial_tcp: !options.tcp.is_empty(),
                video_writer: Mutex::new(PacedVideoSender::new(
                    Arc::clone(&video_track),
                    video_ssrc,
                )),
                video_track,
                incoming_video: Mutex::new(video_rx),
                keyframe_requests: Arc::new(AtomicU64::new(0)),
                video_ssrc,
                video_loss: Arc::new(AtomicU32::new(0)),
            },
            text,
        ))
    }

    /// Applies the SFU's answer and waits until media can flow.
    pub async fn accept_answer(&self, answer: &str) -> Result<(), TransportError> {
        self.connection
            .set_remote_description(answer_from_text(answer)?)
            .await
            .map_err(webrtc_error)?;
        if self.dial_tcp {
            for candidate in passive_tcp_candidates(answer) {
                if let Err(e) = self.connection.add_ice_candidate(candidate).await {
                    tracing::debug!(error = %e, "cannot use a TCP candidate of the SFU");
                }
            }
        }
        self.events.connected().await?;
        // A receiver report may reach either track's feedback; each figure goes by its SSRC.
        let requests = Arc::clone(&self.keyframe_requests);
        let reports = [
            (self.video_ssrc, Arc::clone(&self.video_loss)),
            (self.audio_ssrc, Arc::clone(&self.audio_loss)),
        ];
        let on_feedback = move |feedback| match feedback {
            Feedback::KeyframeRequest => {
                requests.fetch_add(1, Ordering::Relaxed);
            }
            Feedback::Loss {
                ssrc,
                fraction_lost,
            } => {
                if let Some((_, loss)) = reports.iter().find(|(ours, _)| *ours == ssrc) {
                    loss.store(
                        NEW_LOSS_REPORT | u32::from(fraction_lost),
                        Ordering::Relaxed,
                    );
                }
            }
        };
        for track in [&self.video_track, &self.audio_track] {
            let events = Arc::clone(&self.events);
            let alive = move || {
                !matches!(
                    events.state(),
                    RTCPeerConnectionState::Closed | RTCPeerConnectionState::Failed
                )
            };
            tokio::spawn(watch_feedback(
                Arc::clone(track),
                alive,
                on_feedback.clone(),
            ));
        }
        Ok(())
    }

    /// Sends one encoded, SFrame-protected picture, paced (see [`super::pacing`]).
    pub async fn send_video(&self, frame: &OutgoingVideoFrame) -> Result<(), TransportError> {
        self.video_writer.lock().await.send_frame(frame)
    }

    /// Takes a downstream video packet if one is waiting.
    pub async fn try_next_video(&self) -> Option<IncomingVideoPacket> {
        self.incoming_video.lock().await.try_recv().ok()
    }

    /// Asks the publishers of the `wanted` downstream streams (through the SFU) for a
    /// keyframe with an RTCP PLI on each stream's track; `Closed` if none of them has a track
    /// yet.
    pub async fn request_keyframes(&self, wanted: &KeyframeWanted) -> Result<(), TransportError> {
        let mut sent = false;
        for (ssrc, track) in self.events.video_tracks() {
            if wanted.wants(ssrc) {
                track
                    .write_rtcp(vec![picture_loss_indication(ssrc)])
                    .await
                    .map_err(webrtc_error)?;
                sent = true;
            }
        }
        if sent {
            Ok(())
        } else {
            Err(TransportError::Closed)
        }
    }

    /// The SSRCs of the downstream video streams that have delivered packets and not ended:
    /// one per publisher the SFU forwards video of.
    pub fn video_streams(&self) -> Vec<u32> {
        let mut streams: Vec<u32> = self
            .events
            .video_tracks()
            .into_iter()
            .map(|(ssrc, _)| ssrc)
            .collect();
        streams.sort_unstable();
        streams
    }

    /// Applies an offer of the SFU (renegotiation: a publisher's tracks were added or
    /// removed) and returns the answer to send back as `sdp_answer`.
    pub async fn accept_offer(&self, offer: &str) -> Result<String, TransportError> {
        self.connection
            .set_remote_description(offer_from_text(offer)?)
            .await
            .map_err(webrtc_error)?;
        let answer = self
            .connection
            .create_answer(None)
            .await
            .map_err(webrtc_error)?;
        set_local_and_gather(self.connection.as_ref(), &self.events, answer).await
    }

    /// How many keyframe requests arrived since the last call.
    pub fn take_keyframe_requests(&self) -> u64 {
        self.keyframe_requests.swap(0, Ordering::Relaxed)
    }

    /// The SFU's newest loss figure on our video (`fraction_lost` of 256), once per report.
    pub fn take_video_loss_report(&self) -> Option<u8> {
        take_loss_report(&self.video_loss)
    }

    /// The SFU's newest loss figure on our audio, once per report.
    pub fn take_audio_loss_report(&self) -> Option<u8> {
        take_loss_report(&self.audio_loss)
    }

    /// Sends one SFrame-protected audio frame.
    pub async fn send_audio(&self, frame: &[u8]) -> Result<(), TransportError> {
        self.writer.lock().await.send(frame).await
    }

    /// The next downstream payload (an SFrame frame from some other member); `None` once the
    /// connection is gone.
    pub async fn next_audio(&self) -> Option<IncomingAudio> {
        self.incoming.lock().await.recv().await
    }

    /// Takes a downstream payload if one is waiting.
    pub async fn try_next_audio(&self) -> Option<IncomingAudio> {
        self.incoming.lock().await.try_recv().ok()
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.connection.close().await;
    }

    /// RTCP NACKs the SFU has sent about this link's upstream (each asks for retransmission).
    pub async fn nacks_received(&self) -> u64 {
        nacks_received(self.connection.as_ref()).await
    }
}
