//! The SFU: one WebRTC peer connection per participant (the client offers, the SFU answers).
//! Every RTP packet a participant publishes is forwarded to every other participant of the
//! same meeting whose forwarding is on; the payload is SFrame ciphertext and is never opened
//! here (the SFU holds no media key). Downstream, all speakers share the subscriber's one
//! audio track (see `conclave_core::media::transport`), so the SFU rewrites SSRC, sequence
//! number and timestamp per subscriber and renegotiates nothing when people come and go.
//!
//! Forwarding is on only for admitted MLS members: lobby, expelled and departed participants
//! get nothing and send nothing onward.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use conclave_core::media::transport::{
    LinkEvents, LinkOptions, RtpWriter, TransportError, description_to_text, nacks_received,
    offer_from_text, opus_track, peer_connection_with,
};
use conclave_core::protocol::ParticipantId;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;

/// Packets queued per subscriber before the oldest are dropped.
const SUBSCRIBER_QUEUE: usize = 256;

struct Peer {
    meeting: String,
    connection: Arc<dyn PeerConnection>,
    /// Downstream packets for this subscriber, written by its own task.
    downstream: mpsc::Sender<Vec<u8>>,
    forwarding: bool,
}

/// What the SFU forwarded, for tests and diagnostics (a "tap").
pub type Tap = mpsc::UnboundedSender<(ParticipantId, Vec<u8>)>;

/// All media connections of a server.
pub struct Sfu {
    sockets: LinkOptions,
    peers: Mutex<HashMap<ParticipantId, Peer>>,
    tap: Mutex<Option<Tap>>,
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
        })
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
        let events = LinkEvents::new(upstream_tx);
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
        let (down_tx, mut down_rx) = mpsc::channel::<Vec<u8>>(SUBSCRIBER_QUEUE);
        tokio::spawn(async move {
            let mut writer = RtpWriter::new(track, ssrc);
            while let Some(payload) = down_rx.recv().await {
                if writer.send(&payload).await.is_err() {
                    break;
                }
            }
        });
        // Upstream: everything this participant publishes goes to the others.
        let sfu = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(payload) = upstream_rx.recv().await {
                let Some(sfu) = sfu.upgrade() else { break };
                sfu.forward(participant, payload);
            }
        });
        if let Some(old) = lock(&self.peers).insert(
            participant,
            Peer {
                meeting: meeting.to_owned(),
                connection,
                downstream: down_tx,
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
        for (id, peer) in lock(&self.peers).iter_mut() {
            if peer.meeting == meeting {
                peer.forwarding = members.contains(id);
            }
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

    fn forward(&self, publisher: ParticipantId, payload: Vec<u8>) {
        let peers = lock(&self.peers);
        let Some(source) = peers.get(&publisher) else {
            return;
        };
        if !source.forwarding {
            return;
        }
        if let Some(tap) = lock(&self.tap).as_ref() {
            let _ = tap.send((publisher, payload.clone()));
        }
        for (id, peer) in peers.iter() {
            if *id != publisher && peer.forwarding && peer.meeting == source.meeting {
                // A slow subscriber loses its own packets, nobody else's.
                let _ = peer.downstream.try_send(payload.clone());
            }
        }
    }
}
