//! Renegotiation: keeping each subscriber's connection at one audio track per other
//! forwarding publisher of its meeting (plus a video track for each who has sent video).
//!
//! The SFU is the offerer here (the client offered only once, to connect). One renegotiation
//! runs per subscriber at a time: its changes are applied, the offer goes out as `sdp_offer`
//! over the subscriber's WebSocket, and the next one starts only after the `sdp_answer` (or
//! [`ANSWER_PATIENCE`]), so offers never cross. Changes that happen meanwhile are picked up by
//! one more round.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conclave_core::media::transport::{
    TransportError, answer_from_text, description_to_text, opus_track,
};
use conclave_core::media::video_link::{Feedback, h264_track, watch_feedback};
use conclave_core::protocol::{ParticipantId, ServerMessage};
use tokio::sync::oneshot;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::{Downstream, PublisherTracks, Sfu, VideoTrack, lock};

/// How the SFU reaches a participant's signaling (its WebSocket): the offers it sends when
/// the participant's downstream tracks change.
pub type Signal = Box<dyn Fn(ServerMessage) + Send + Sync>;

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
        {
            let mut peers = lock(&self.peers);
            let Some(peer) = peers.get_mut(&subscriber) else {
                return;
            };
            if peer.negotiation.running {
                peer.negotiation.again = true;
                return;
            }
            peer.negotiation.running = true;
        }
        let sfu = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(e) = sfu.renegotiate_once(subscriber).await {
                    tracing::info!(participant = %subscriber, error = %e, "media renegotiation failed");
                }
                let mut peers = lock(&sfu.peers);
                let Some(peer) = peers.get_mut(&subscriber) else {
                    return;
                };
                if !std::mem::take(&mut peer.negotiation.again) {
                    peer.negotiation.running = false;
                    return;
                }
            }
        });
    }

    /// The tracks `subscriber` should have: publisher → with video, for the earliest
    /// publishers up to the limit, and whether the others need the overflow track.
    fn wanted_tracks(&self, subscriber: ParticipantId) -> Option<WantedTracks> {
        let peers = lock(&self.peers);
        let peer = peers.get(&subscriber)?;
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
    ) -> Result<(), TransportError> {
        let (connection, events, downstream, video_downstream, signal) = {
            let peers = lock(&self.peers);
            let Some(peer) = peers.get(&subscriber) else {
                return Ok(());
            };
            (
                Arc::clone(&peer.connection),
                Arc::clone(&peer.events),
                peer.downstream.clone(),
                peer.video_downstream.clone(),
                Arc::clone(&peer.signal),
            )
        };
        // The first offer waits for the connection the client's own offer set up.
        events.connected().await?;
        let Some(WantedTracks {
            own: wanted,
            overflow,
        }) = self.wanted_tracks(subscriber)
        else {
            return Ok(());
        };
        let (current, has_overflow): (HashMap<ParticipantId, bool>, bool) = lock(&self.peers)
            .get(&subscriber)
            .map(|peer| {
                (
                    peer.tracks
                        .iter()
                        .map(|(id, tracks)| (*id, tracks.video.is_some()))
                        .collect(),
                    peer.overflow.is_some(),
                )
            })
            .unwrap_or_default();
        let mut changed = self
            .change_overflow(subscriber, overflow, has_overflow, &connection, &downstream)
            .await?;
        for publisher in current.keys().filter(|p| !wanted.contains_key(p)) {
            let removed = lock(&self.peers)
                .get_mut(&subscriber)
                .and_then(|peer| peer.tracks.remove(publisher));
            let Some(removed) = removed else { continue };
            let _ = downstream.send(Downstream::Close(*publisher)).await;
            let _ = video_downstream.send(Downstream::Close(*publisher)).await;
            connection
                .remove_track(&removed.audio)
                .await
                .map_err(webrtc_error)?;
            if let Some(video) = removed.video {
                video.closed.store(true, Ordering::Relaxed);
                connection
                    .remove_track(&video.sender)
                    .await
                    .map_err(webrtc_error)?;
            }
            changed = true;
        }
        let mut new_video = Vec::new();
        for (publisher, with_video) in &wanted {
            if !current.contains_key(publisher) {
                let ssrc = rand::random();
                let track = opus_track(&format!("{publisher}"), ssrc);
                let sender = connection
                    .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                    .await
                    .map_err(webrtc_error)?;
                let _ = downstream
                    .send(Downstream::Open(*publisher, track, ssrc))
                    .await;
                if let Some(peer) = lock(&self.peers).get_mut(&subscriber) {
                    peer.tracks.insert(
                        *publisher,
                        PublisherTracks {
                            audio: sender,
                            video: None,
                        },
                    );
                }
                changed = true;
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
                if let Some(tracks) = lock(&self.peers)
                    .get_mut(&subscriber)
                    .and_then(|peer| peer.tracks.get_mut(publisher))
                {
                    tracks.video = Some(video);
                }
                new_video.push(*publisher);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let offer = connection.create_offer(None).await.map_err(webrtc_error)?;
        connection
            .set_local_description(offer)
            .await
            .map_err(webrtc_error)?;
        events.gathered().await?;
        let local = connection
            .local_description()
            .await
            .ok_or(TransportError::Closed)?;
        let (answer_tx, answer_rx) = oneshot::channel();
        if let Some(peer) = lock(&self.peers).get_mut(&subscriber) {
            peer.negotiation.answer = Some(answer_tx);
        }
        signal(ServerMessage::SdpOffer {
            sdp: description_to_text(&local)?,
        });
        let answer = tokio::time::timeout(ANSWER_PATIENCE, answer_rx)
            .await
            .map_err(|_| TransportError::Timeout("waiting for the answer to a renegotiation"))?
            .map_err(|_| TransportError::Closed)?;
        connection
            .set_remote_description(answer_from_text(&answer)?)
            .await
            .map_err(webrtc_error)?;
        self.renegotiations.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(participant = %subscriber, tracks = wanted.len(), "media renegotiated");
        // The new video tracks need a picture to start from.
        for publisher in new_video {
            self.request_keyframe_from(publisher);
        }
        Ok(())
    }

    /// Adds or removes the shared audio track of the publishers beyond the limit; `true` if
    /// it changed.
    async fn change_overflow(
        &self,
        subscriber: ParticipantId,
        wanted: bool,
        present: bool,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        downstream: &tokio::sync::mpsc::Sender<Downstream<bytes::Bytes>>,
    ) -> Result<bool, TransportError> {
        if wanted == present {
            return Ok(false);
        }
        if wanted {
            let ssrc = rand::random();
            let track = opus_track("others", ssrc);
            let sender = connection
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .map_err(webrtc_error)?;
            let _ = downstream
                .send(Downstream::Open(super::OVERFLOW, track, ssrc))
                .await;
            if let Some(peer) = lock(&self.peers).get_mut(&subscriber) {
                peer.overflow = Some(sender);
            }
        } else {
            let removed = lock(&self.peers)
                .get_mut(&subscriber)
                .and_then(|peer| peer.overflow.take());
            let _ = downstream.send(Downstream::Close(super::OVERFLOW)).await;
            if let Some(sender) = removed {
                connection
                    .remove_track(&sender)
                    .await
                    .map_err(webrtc_error)?;
            }
        }
        Ok(true)
    }

    /// Adds `publisher`'s video track to `subscriber`'s connection; the subscriber's keyframe
    /// requests on it go to that publisher.
    async fn add_video_track(
        self: &Arc<Self>,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        connection: &Arc<dyn webrtc::peer_connection::PeerConnection>,
        video_downstream: &tokio::sync::mpsc::Sender<Downstream<super::AccessUnit>>,
        events: &Arc<conclave_core::media::transport::LinkEvents>,
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
