//! A member's live audio: the [`AudioPipeline`] driven every 20 ms over the [`MediaLink`] to
//! the SFU, with keys following the meeting's MLS epochs.
//!
//! Setup, by whoever owns the meeting's event stream: once in the meeting, create the link
//! with [`MediaLink::offer`] and send its offer as `sdp_offer`; when `Event::MediaAnswer`
//! arrives, [`MediaLink::accept_answer`] it and [`start`] the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::Snapshot;
use crate::media::pipeline::{AudioPipeline, PipelineStats};
use crate::media::transport::MediaLink;

/// A running audio session.
pub struct MediaSession {
    stop: watch::Sender<bool>,
    muted: watch::Sender<bool>,
    stats: watch::Receiver<PipelineStats>,
    task: JoinHandle<AudioPipeline>,
}

/// Starts sending and playing audio over `link`, keyed by the epochs in `snapshot`.
pub fn start(
    link: Arc<MediaLink>,
    snapshot: watch::Receiver<Snapshot>,
    mut pipeline: AudioPipeline,
) -> MediaSession {
    let (stop, mut stopped) = watch::channel(false);
    let (muted, mute_rx) = watch::channel(pipeline.is_muted());
    let (stats_tx, stats) = watch::channel(PipelineStats::default());
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.changed() => break,
            }
            let now = Instant::now();
            // Clone the keys only when the epoch moved (rarely), not every 20 ms.
            let keys = {
                let current = snapshot.borrow();
                match &current.media_keys {
                    Some((keys, _)) if Some(keys.epoch) == pipeline.epoch() => None,
                    other => other.clone(),
                }
            };
            if let Some((keys, leaf)) = keys
                && let Err(e) = pipeline.update_keys(&keys, leaf, now)
            {
                tracing::warn!(error = %e, "cannot install media keys");
            }
            pipeline.set_muted(*mute_rx.borrow());
            match pipeline.next_outgoing() {
                Ok(Some(frame)) => {
                    if link.send_audio(&frame).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "audio source failed"),
            }
            while let Some(payload) = link.try_next_audio().await {
                pipeline.incoming(&payload, now);
            }
            if let Err(e) = pipeline.tick(now) {
                tracing::warn!(error = %e, "audio output failed");
            }
            stats_tx.send_replace(pipeline.stats());
        }
        link.close().await;
        pipeline
    });
    MediaSession {
        stop,
        muted,
        stats,
        task,
    }
}

impl MediaSession {
    pub fn stats(&self) -> PipelineStats {
        *self.stats.borrow()
    }

    /// Mutes (nothing is sent from the next 20 ms frame on) or unmutes this member's audio.
    pub fn set_muted(&self, muted: bool) {
        self.muted.send_replace(muted);
    }

    pub fn is_muted(&self) -> bool {
        *self.muted.borrow()
    }

    /// Stops the session and hands back the pipeline (dropping it finishes a WAV recording).
    pub async fn stop(self) -> Option<AudioPipeline> {
        self.stop.send_replace(true);
        self.task.await.ok()
    }
}
