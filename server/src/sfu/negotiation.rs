//! Renegotiation: keeping each subscriber's connection at one audio track per other
//! forwarding publisher of its meeting (plus a video track for each who has sent video).
//!
//! The SFU is the offerer here (the client offered only once, to connect). One renegotiation
//! runs per subscriber at a time: its changes are applied, the offer goes out as `sdp_offer`
//! over the subscriber's WebSocket, and the next one starts only after the `sdp_answer` (or
//! [`ANSWER_PATIENCE`]; a late answer is then refused, not applied to a later offer). Changes
//! that happen meanwhile are picked up by one more round; a failed round is tried again
//! ([`ATTEMPTS`] in a row), and until an answer is applied the next round offers even with
//! nothing new. A participant who offers again gets a new connection (a new generation) and
//! the old connection's renegotiation stops touching it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conclave_protocol::{ParticipantId, ServerMessage};
use conclave_rtc::transport::{
    LinkEvents, TransportError, answer_from_text, opus_track, set_local_and_gather,
};
use conclave_rtc::video_link::{Feedback, h264_track, watch_feedback};
use tokio::sync::oneshot;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::{Downstream, Peer, PublisherTracks, Sfu, VideoTrack, lock};

/// How the SFU reaches a participant's signaling (its WebSocket): the offers it sends when
/// the participant's downstream tracks change.
pub type Signal = Box<dyn Fn(ServerMessage) + Send + Sync>;

/// Adds an audio track named `name` to a subscriber's connection and opens its writer for
/// `key` (a publisher, or the overflow).
async fn add_audio_track(
    connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
    downstream: &tokio::sync::mpsc::Sender<Downstream<bytes::Bytes>>,
    key: ParticipantId,
    name: &str,
) -> Result<Arc<dyn webrtc::rtp_transceiver::RtpSender>, TransportError> {
    let ssrc = rand::random();
    let track = opus_track(name, ssrc);
    let sender = connection
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(webrtc_error)?;
    let _ = downstream.send(Downstream::Open(key, track, ssrc)).await;
    Ok(sender)
}

/// The downstream tracks one subscriber should have.
#[derive(Default)]
struct WantedTracks {
    /// Publishers with tracks of their own → with a video track.
    own: HashMap<ParticipantId, bool>,
    /// Whether more publishers share the overflow audio track.
    overflow: bool,
}

/// How long the SFU waits for a subscriber's answer before giving up on that offer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(10);
/// Rounds tried in a row before a failing renegotiation waits for the next change.
const ATTEMPTS: u32 = 3;
/// Pause before trying a failed round again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// `subscriber`'s peer, if it is still the connection of `generation` (a participant who
/// offers again gets a new one, with its own renegotiation).
fn peer_of(
    peers: &mut HashMap<ParticipantId, Peer>,
    subscriber: ParticipantId,
    generation: u64,
) -> Option<&mut Peer> {
    peers
        .get_mut(&subscriber)
        .filter(|peer| peer.arrival == generation)
}

fn webrtc_error(e: impl std::fmt::Display) -> TransportError {
    TransportError::WebRtc(e.to_string())
}

impl Sfu {
    /// The subscriber's answer to the SFU's offer.
    pub fn accept_answer(
        &self,
        subscriber: ParticipantId,
        answer: String,
    ) -> Result<(), TransportError> {
        let waiting = lock(&self.peers)
            .get_mut(&subscriber)
            .and_then(|peer| peer.negotiation.answer.take());
        match waiting {
            Some(waiting) => waiting.send(answer).map_err(|_| TransportError::Closed),
            None => Err(TransportError::BadDescription(
                "no offer of the SFU is waiting for an answer".into(),
            )),
        }
    }

    /// Brings every connection of `meeting` to the tracks it should have.
    pub(super) fn renegotiate_meeting(self: &Arc<Self>, meeting: &str) {
        let subscribers: Vec<ParticipantId> = lock(&self.peers)
            .iter()
            .filter(|(_, peer)| peer.meeting == meeting)
            .map(|(id, _)| *id)
            .collect();
        for subscriber in subscribers {
            self.renegotiate(subscriber);
        }
    }

    fn renegotiate(self: &Arc<Self>, subscriber: ParticipantId) {
        let generation = {
            let mut peers = lock(&self.peers);
            let Some(peer) = peers.get_mut(&subscriber) else {
                return;
            };
            if peer.negotiation.running {
                peer.negotiation.again = true;
                return;
            }
            peer.negotiation.running = true;
            peer.arrival
        };
        let sfu = Arc::clone(self);
        tokio::spawn(async move {
            let mut failures = 0;
            loop {
                let failed = match sfu.renegotiate_once(subscriber, generation).await {
                    Ok(()) => {
                        failures = 0;
                        false
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::info!(participant = %subscriber, error = %e, failures, "media renegotiation failed");
                        true
                    }
                };
                let retry = failed && failures < ATTEMPTS;
                if retry {
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                let mut peers = lock(&sfu.peers);
                // Gone, or replaced by a new connection with its own renegotiation.
                let Some(peer) = peer_of(&mut peers, subscriber, generation) else {
                    return;
                };
                let again = std::mem::take(&mut peer.negotiation.again);
                if !retry && !again {
                    peer.negotiation.running = false;
                    return;
                }
            }
        });
    }

    /// The tracks `subscriber` should have: publisher → with video, for the earliest
    /// publishers up to the limit, and whether the others need the overflow track.
    fn wanted_tracks(&self, subscriber: ParticipantId, generation: u64) -> Option<WantedTracks> {
        let peers = lock(&self.peers);
        let peer = peers
            .get(&subscriber)
            .filter(|peer| peer.arrival == generation)?;
        if !peer.forwarding {
            return Some(WantedTracks::default());
        }
        let mut publishers: Vec<_> = peers
            .iter()
            .filter(|(id, other)| {
                **id != subscriber && other.forwarding && other.meeting == peer.meeting
            })
            .map(|(id, other)| (other.arrival, *id, other.publishes_video))
            .collect();
        publishers.sort_unstable();
        let limit = self.publisher_tracks.load(Ordering::Relaxed);
        Some(WantedTracks {
            overflow: publishers.len() > limit,
            own: publishers
                .into_iter()
                .take(limit)
                .map(|(_, id, video)| (id, video && peer.receives_video))
                .collect(),
        })
    }

    /// One round: add and remove tracks, then offer and apply the answer if anything changed.
    async fn renegotiate_once(
        self: &Arc<Self>,
        subscriber: ParticipantId,
        generation: u64,
    ) -> Result<(), TransportError> {
        let (connection, events, downstream, video_downstream, signal) = {
            let mut peers = lock(&self.peers);
            let Some(peer) = peer_of(&mut peers, subscriber, generation) else {
                return Ok(());
            };
            (
                Arc::clone(&peer.connection),
                Arc::clone(&peer.events),
                peer.outbox.audio.clone(),
                peer.outbox.video.clone(),
                Arc::clone(&peer.signal),
            )
        };
        // The first offer waits for the connection the client's own offer set up.
        events.connected().await?;
        let Some(WantedTracks {
            own: wanted,
            overflow,
        }) = self.wanted_tracks(subscriber, generation)
        else {
            return Ok(());
        };
        let (current, has_overflow, unanswered) = {
            let mut peers = lock(&self.peers);
            let Some(peer) = peer_of(&mut peers, subscriber, generation) else {
                return Ok(());
            };
            let current: HashMap<ParticipantId, bool> = peer
                .tracks
                .iter()
                .map(|(id, tracks)| (*id, tracks.video.is_some()))
                .collect();
            (
                current,
                peer.overflow.is_some(),
                peer.negotiation.unanswered,
            )
        };
        let stale: Vec<ParticipantId> = current
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        let missing = wanted.iter().any(|(publisher, with_video)| {
            current
                .get(publisher)
                .is_none_or(|has_video| *with_video && !has_video)
        });
        if stale.is_empty() && !missing && overflow == has_overflow && !unanswered {
            return Ok(());
        }
        // From here until an answer is applied, the connection differs from what the
        // subscriber agreed to: a failed round must offer again even with nothing new.
        self.with_peer(subscriber, generation, |peer| {
            peer.negotiation.unanswered = true;
        });
        if overflow != has_overflow {
            self.change_overflow(subscriber, generation, overflow, &connection, &downstream)
                .await?;
        }
        for publisher in stale {
            self.remove_tracks(
                subscriber,
                generation,
                publisher,
                &connection,
                &downstream,
                &video_downstream,
            )
            .await;
        }
        let mut new_video = Vec::new();
        for (publisher, with_video) in &wanted {
            if !current.contains_key(publisher) {
                let sender =
                    add_audio_track(&connection, &downstream, *publisher, &publisher.to_string())
                        .await?;
                self.with_peer(subscriber, generation, |peer| {
                    peer.tracks.insert(
                        *publisher,
                        PublisherTracks {
                            audio: sender,
                            video: None,
                        },
                    );
                });
            }
            if *with_video && !current.get(publisher).copied().unwrap_or(false) {
                let video = self
                    .add_video_track(
                        subscriber,
                        *publisher,
                        &connection,
                        &video_downstream,
                        &events,
                    )
                    .await?;
                self.with_peer(subscriber, generation, |peer| {
                    if let Some(tracks) = peer.tracks.get_mut(publisher) {
                        tracks.video = Some(video);
                    }
                });
                new_video.push(*publisher);
            }
        }
        self.offer_and_apply(subscriber, generation, &connection, &events, &signal)
            .await?;
        self.renegotiations.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(participant = %subscriber, tracks = wanted.len(), "media renegotiated");
        // The new video tracks need a picture to start from.
        for publisher in new_video {
            self.request_keyframe_from(publisher);
        }
        Ok(())
    }

    /// Sends the connection's new offer over the subscriber's signaling and applies the
    /// answer; a failed or timed-out round leaves `unanswered` set so the next one offers.
    async fn offer_and_apply(
        &self,
        subscriber: ParticipantId,
        generation: u64,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        events: &Arc<LinkEvents>,
        signal: &Signal,
    ) -> Result<(), TransportError> {
        let offer = connection.create_offer(None).await.map_err(webrtc_error)?;
        let offer = set_local_and_gather(connection.as_ref(), events, offer).await?;
        let (answer_tx, answer_rx) = oneshot::channel();
        self.with_peer(subscriber, generation, |peer| {
            peer.negotiation.answer = Some(answer_tx);
        });
        signal(ServerMessage::SdpOffer { sdp: offer });
        let answer = match tokio::time::timeout(ANSWER_PATIENCE, answer_rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(TransportError::Closed),
            Err(_) => {
                // A late answer to this offer is refused rather than applied to the next.
                self.with_peer(subscriber, generation, |peer| {
                    peer.negotiation.answer = None;
                });
                return Err(TransportError::Timeout(
                    "waiting for the answer to a renegotiation",
                ));
            }
        };
        connection
            .set_remote_description(answer_from_text(&answer)?)
            .await
            .map_err(webrtc_error)?;
        self.with_peer(subscriber, generation, |peer| {
            peer.negotiation.unanswered = false;
        });
        Ok(())
    }

    /// Runs `change` on `subscriber`'s peer if it is still the connection of `generation`.
    fn with_peer(
        &self,
        subscriber: ParticipantId,
        generation: u64,
        change: impl FnOnce(&mut Peer),
    ) {
        if let Some(peer) = peer_of(&mut lock(&self.peers), subscriber, generation) {
            change(peer);
        }
    }

    /// Takes `publisher`'s tracks off `subscriber`'s connection. A track webrtc-rs refuses to
    /// remove is left to the connection (it carries nothing more: its writer is closed).
    async fn remove_tracks(
        &self,
        subscriber: ParticipantId,
        generation: u64,
        publisher: ParticipantId,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        downstream: &tokio::sync::mpsc::Sender<Downstream<bytes::Bytes>>,
        video_downstream: &tokio::sync::mpsc::Sender<Downstream<super::AccessUnit>>,
    ) {
        let mut removed = None;
        self.with_peer(subscriber, generation, |peer| {
            removed = peer.tracks.remove(&publisher);
        });
        let Some(removed) = removed else { return };
        let _ = downstream.send(Downstream::Close(publisher)).await;
        let _ = video_downstream.send(Downstream::Close(publisher)).await;
        let mut senders = vec![removed.audio];
        if let Some(video) = removed.video {
            video.closed.store(true, Ordering::Relaxed);
            senders.push(video.sender);
        }
        for sender in senders {
            if let Err(e) = connection.remove_track(&sender).await {
                tracing::debug!(error = %e, "cannot remove a downstream track");
            }
        }
    }

    /// Adds or removes the shared audio track of the publishers beyond the limit.
    async fn change_overflow(
        &self,
        subscriber: ParticipantId,
        generation: u64,
        wanted: bool,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        downstream: &tokio::sync::mpsc::Sender<Downstream<bytes::Bytes>>,
    ) -> Result<(), TransportError> {
        if wanted {
            let sender = add_audio_track(connection, downstream, super::OVERFLOW, "others").await?;
            self.with_peer(subscriber, generation, |peer| peer.overflow = Some(sender));
        } else {
            let mut removed = None;
            self.with_peer(subscriber, generation, |peer| {
                removed = peer.overflow.take()
            });
            let _ = downstream.send(Downstream::Close(super::OVERFLOW)).await;
            if let Some(sender) = removed
                && let Err(e) = connection.remove_track(&sender).await
            {
                tracing::debug!(error = %e, "cannot remove the overflow track");
            }
        }
        Ok(())
    }

    /// Adds `publisher`'s video track to `subscriber`'s connection; the subscriber's keyframe
    /// requests on it go to that publisher.
    async fn add_video_track(
        self: &Arc<Self>,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        video_downstream: &tokio::sync::mpsc::Sender<Downstream<super::AccessUnit>>,
        events: &Arc<conclave_rtc::transport::LinkEvents>,
    ) -> Result<VideoTrack, TransportError> {
        let ssrc = rand::random();
        let track = h264_track(&format!("{publisher}"), ssrc);
        let sender = connection
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(webrtc_error)?;
        let _ = video_downstream
            .send(Downstream::Open(publisher, Arc::clone(&track), ssrc))
            .await;
        let closed = Arc::new(AtomicBool::new(false));
        let (sfu, watched, removed) = (
            Arc::downgrade(self),
            Arc::clone(events),
            Arc::clone(&closed),
        );
        tokio::spawn(async move {
            let alive = move || {
                !removed.load(Ordering::Relaxed)
                    && !matches!(
                        watched.state(),
                        RTCPeerConnectionState::Closed | RTCPeerConnectionState::Failed
                    )
            };
            watch_feedback(track, alive, |feedback| {
                if feedback == Feedback::KeyframeRequest
                    && let Some(sfu) = sfu.upgrade()
                    && lock(&sfu.peers)
                        .get(&subscriber)
                        .is_some_and(|peer| peer.forwarding)
                {
                    sfu.request_keyframe_from(publisher);
                }
            })
            .await;
        });
        Ok(VideoTrack { sender, closed })
    }
}
