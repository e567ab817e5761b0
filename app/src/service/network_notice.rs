//! The policy behind the network notice in a meeting: what a member is told about their own
//! uplink, from the statistics of what they send.

use conclave_media::pipeline::PipelineStats;
use conclave_media::video_pipeline::VideoStats;

/// What a member should know about their own uplink, from the SFU's receiver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkNotice {
    #[default]
    Fine,
    /// The SFU keeps reporting heavy loss on our audio: others may hear us break up.
    AudioLossy,
    /// Our video is sent below the chosen quality until the path recovers.
    VideoReduced,
}

/// Opus FEC planned for this much loss or more means the SFU keeps reporting heavy loss (the
/// plan falls two points a report once the path is clean, so the notice lasts a few seconds
/// beyond the trouble).
const AUDIO_LOSSY_PERCENT: i32 = 20;

impl NetworkNotice {
    /// From the session's statistics; broken audio matters more than smaller video.
    pub fn of(audio: &PipelineStats, video: &VideoStats, sending_video: bool) -> Self {
        if audio.expected_loss_percent >= AUDIO_LOSSY_PERCENT {
            Self::AudioLossy
        } else if sending_video && video.send_rung > 0 {
            Self::VideoReduced
        } else {
            Self::Fine
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_notice_follows_the_senders_statistics() {
        let clean = PipelineStats {
            expected_loss_percent: 5,
            ..PipelineStats::default()
        };
        let lossy = PipelineStats {
            expected_loss_percent: 40,
            ..clean
        };
        let full = VideoStats::default();
        let reduced = VideoStats {
            send_rung: 2,
            ..VideoStats::default()
        };
        assert_eq!(NetworkNotice::of(&clean, &full, true), NetworkNotice::Fine);
        assert_eq!(
            NetworkNotice::of(&clean, &reduced, true),
            NetworkNotice::VideoReduced
        );
        assert_eq!(
            NetworkNotice::of(&clean, &reduced, false),
            NetworkNotice::Fine,
            "a camera that is off sends nothing to reduce"
        );
        assert_eq!(
            NetworkNotice::of(&lossy, &reduced, true),
            NetworkNotice::AudioLossy,
            "breaking audio matters more"
        );
    }
}
