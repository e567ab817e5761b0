//! A member's live audio and video: the [`AudioPipeline`] driven every 20 ms over the
//! [`MediaLink`] to the SFU, and optionally a [`VideoPipeline`] at its frame rate on the same
//! link, with keys following the meeting's MLS epochs.
//!
//! Set-up: once in the meeting, start the link with
//! [`super::MeetingClient::start_media`] (or [`super::media_start::connect_media`]), then
//! [`start`] the session on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::Snapshot;
use conclave_media::pipeline::{AudioPipeline, PipelineStats};
use conclave_media::video_pipeline::{VideoPipeline, VideoStats};
use conclave_rtc::transport::MediaLink;

/// One audio frame.
const TICK: Duration = Duration::from_millis(conclave_media::FRAME_MS as u64);
/// How far behind its 20 ms pace the media loop may fall and still catch up every tick.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);

/// A running audio session.
pub struct MediaSession {
    stop: watch::Sender<bool>,
    muted: watch::Sender<bool>,
    camera_off: watch::Sender<bool>,
    stats: watch::Receiver<PipelineStats>,
    video_stats: watch::Receiver<VideoStats>,
    task: JoinHandle<(AudioPipeline, Option<VideoPipeline>)>,
}

/// Starts sending and playing audio over `link`, keyed by the epochs in `snapshot`.
pub fn start(
    link: Arc<MediaLink>,
    snapshot: watch::Receiver<Snapshot>,
    pipeline: AudioPipeline,
) -> MediaSession {
    start_with_video(link, snapshot, pipeline, None)
}

/// Like [`start`], with video too: pictures go out at the pipeline's frame rate, incoming
/// pictures go to its sink, and keyframe requests travel as RTCP PLI both ways.
pub fn start_with_video(
    link: Arc<MediaLink>,
    snapshot: watch::Receiver<Snapshot>,
    mut pipeline: AudioPipeline,
    mut video: Option<VideoPipeline>,
) -> MediaSession {
    let (stop, mut stopped) = watch::channel(false);
    let (muted, mute_rx) = watch::channel(pipeline.is_muted());
    let (camera_off, camera_off_rx) =
        watch::channel(video.as_ref().is_none_or(VideoPipeline::is_muted));
    let (stats_tx, stats) = watch::channel(PipelineStats::default());
    let (video_stats_tx, video_stats) = watch::channel(VideoStats::default());
    let task = tokio::spawn(async move {
        if let Some(video) = video.as_mut() {
            // Starting to watch: ask for a keyframe rather than wait for the periodic one.
            video.request_keyframe();
        }
        let mut next_picture = Instant::now();
        let mut ticker = tokio::time::interval(TICK);
        // A late tick (a slow picture encode on this loop, a busy machine) is caught up, not
        // skipped: every 20 ms of audio is still sent, a little late, which the receivers'
        // jitter buffers absorb. Skipping lost the frames outright (a camera-on
        // sender in a debug build sent 20–35 of 50 audio frames a second; docs/performance.md).
        // A machine that cannot keep up for long would fall further and further behind, so
        // beyond MAX_CATCH_UP the backlog is dropped and the pace starts again from now.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            let due = tokio::select! {
                due = ticker.tick() => due,
                _ = stopped.changed() => break,
            };
            let now = Instant::now();
            let behind = now.saturating_duration_since(due.into_std());
            if behind > MAX_CATCH_UP {
                tracing::debug!("media loop fell behind; skipping ahead");
                ticker.reset();
            }
            // Catching up is for what we send. Playout keeps to real time: taking several frames
            // out of the jitter buffers at once would run ahead of what has arrived.
            let on_time = behind < TICK;
            // Clone the keys only when the epoch moved (rarely), not every 20 ms.
            let keys = {
                let current = snapshot.borrow();
                match &current.media_keys {
                    Some((keys, _)) if Some(keys.epoch) == pipeline.epoch() => None,
                    other => other.clone(),
                }
            };
            if let Some((keys, leaf)) = keys {
                if let Err(e) = pipeline.update_keys(&keys, leaf, now) {
                    tracing::warn!(error = %e, "cannot install media keys");
                }
                if let Some(video) = video.as_mut()
                    && let Err(e) = video.update_keys(&keys, leaf, now)
                {
                    tracing::warn!(error = %e, "cannot install video keys");
                }
            }
            pipeline.set_muted(*mute_rx.borrow());
            if let Some(fraction_lost) = link.take_audio_loss_report()
                && let Err(e) = pipeline.on_loss_report(fraction_lost)
            {
                tracing::warn!(error = %e, "cannot tune the audio encoder to the loss");
            }
            match pipeline.next_outgoing() {
                Ok(Some(frame)) => {
                    if link.send_audio(&frame).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "audio source failed"),
            }
            while let Some(audio) = link.try_next_audio().await {
                pipeline.incoming(&audio.payload, audio.arrived);
            }
            if on_time && let Err(e) = pipeline.tick(now) {
                tracing::warn!(error = %e, "audio output failed");
            }
            stats_tx.send_replace(pipeline.stats());
            if let Some(video) = video.as_mut() {
                video.set_muted(*camera_off_rx.borrow());
                if !drive_video(&link, video, &mut next_picture, now).await {
                    break;
                }
                video_stats_tx.send_replace(video.stats());
            }
        }
        link.close().await;
        (pipeline, video)
    });
    MediaSession {
        stop,
        muted,
        camera_off,
        stats,
        video_stats,
        task,
    }
}

/// One 20 ms step of video: answer keyframe requests, send a picture when one is due, take
/// what arrived, ask for a keyframe if needed. `false` once the link is gone.
async fn drive_video(
    link: &MediaLink,
    video: &mut VideoPipeline,
    next_picture: &mut Instant,
    now: Instant,
) -> bool {
    if link.take_keyframe_requests() > 0 {
        video.on_keyframe_request(now);
    }
    if let Some(fraction_lost) = link.take_video_loss_report() {
        video.on_loss_report(fraction_lost, now);
    }
    if video.is_sending() && now >= *next_picture {
        *next_picture += video.frame_interval();
        // After a stall, resume the pace from now rather than sending a burst.
        if *next_picture < now {
            *next_picture = now + video.frame_interval();
        }
        match video.next_outgoing(now) {
            Ok(Some(frame)) => {
                if link.send_video(&frame).await.is_err() {
                    return false;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "video source or encoder failed"),
        }
    }
    while let Some(packet) = link.try_next_video().await {
        if let Err(e) = video.incoming(
            packet.ssrc,
            &packet.payload,
            packet.sequence,
            packet.marker,
            now,
        ) {
            tracing::warn!(error = %e, "video output failed");
        }
    }
    if let Err(e) = video.poll(now) {
        tracing::warn!(error = %e, "video output failed");
    }
    if let Some(wanted) = video.keyframe_request(now)
        && let Err(e) = link.request_keyframes(&wanted).await
    {
        // No video has arrived yet (no remote track): ask again later, but only of streams
        // that still have a track.
        tracing::debug!(error = %e, "keyframe request not sent yet");
        let mut wanted = wanted;
        let streams = link.video_streams();
        wanted.streams.retain(|ssrc| streams.contains(ssrc));
        if !wanted.is_empty() {
            video.request_keyframe_again(wanted);
        }
    }
    true
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

    /// Turns the camera (the video source) off or on again; on again starts with a keyframe.
    pub fn set_camera_off(&self, off: bool) {
        self.camera_off.send_replace(off);
    }

    /// Video counters (all zero without video).
    pub fn video_stats(&self) -> VideoStats {
        *self.video_stats.borrow()
    }

    /// Stops the session and hands back the pipeline (dropping it finishes a WAV recording).
    pub async fn stop(self) -> Option<AudioPipeline> {
        self.stop_all().await.map(|(audio, _)| audio)
    }

    /// Stops the session and hands back both pipelines.
    pub async fn stop_all(self) -> Option<(AudioPipeline, Option<VideoPipeline>)> {
        self.stop.send_replace(true);
        self.task.await.ok()
    }
}
