//! Sending video at what the path allows: a ladder of (resolution, bitrate) rungs and a
//! loss-based controller that climbs it, sans I/O.
//!
//! Signals, both from RTCP the sender already receives:
//! - the SFU's receiver reports on our uplink (`fraction lost`, RFC 3550 §6.4.1), and
//! - keyframe requests (PLI/FIR) relayed from the watchers: a downstream path that keeps losing
//!   pictures keeps asking, and the SFU cannot tell us more (it sees ciphertext only).
//!
//! On a congested path, sending less is what lowers the loss. (Under purely random loss it buys
//! little: measured in docs/performance.md.) Stepping down is quick (one rung per [`STEP_DOWN_HOLD`]), climbing back is
//! slow (one rung after [`STEP_UP_AFTER`] without trouble), so the stream does not oscillate.
//! Each change starts with a keyframe (the encoder is rebuilt at the new size).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::VideoFrame;

/// One step of the ladder: the share of the configured size and bitrate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    /// Width and height are scaled by `scale_numerator / scale_denominator`.
    pub scale_numerator: usize,
    pub scale_denominator: usize,
    /// Share of the configured bitrate.
    pub bitrate_share: f32,
}

/// From the configured quality down to a quarter of the pixels at an eighth of the bits.
pub const LADDER: [Rung; 5] = [
    Rung {
        scale_numerator: 1,
        scale_denominator: 1,
        bitrate_share: 1.0,
    },
    Rung {
        scale_numerator: 1,
        scale_denominator: 1,
        bitrate_share: 0.6,
    },
    Rung {
        scale_numerator: 3,
        scale_denominator: 4,
        bitrate_share: 0.4,
    },
    Rung {
        scale_numerator: 1,
        scale_denominator: 2,
        bitrate_share: 0.25,
    },
    Rung {
        scale_numerator: 1,
        scale_denominator: 2,
        bitrate_share: 0.125,
    },
];

/// Uplink loss above this share is congestion; below [`LOSS_CLEAN`] the path is clean, in
/// between the rate holds (the loss-based thresholds of Google Congestion Control,
/// draft-ietf-rmcat-gcc-02 §6).
pub const LOSS_CONGESTED: f32 = 0.10;
/// Uplink loss below this share is a clean path.
pub const LOSS_CLEAN: f32 = 0.02;
/// Keyframe requests in [`REQUEST_WINDOW`] that mean the watchers keep losing pictures.
pub const REQUESTS_CONGESTED: usize = 4;
pub const REQUEST_WINDOW: Duration = Duration::from_secs(3);
/// At most one step down per this interval, so one loss burst costs one rung.
pub const STEP_DOWN_HOLD: Duration = Duration::from_secs(2);
/// Uplink loss at or above this share is a link far too narrow for the rung: the sender goes
/// straight to the highest rung whose bitrate fits what got through (the rung's bitrate ×
/// (1 − loss)), so the stream fits within a few seconds, before the loss has silenced the audio
/// sharing the link for long (docs/performance.md).
pub const LOSS_SEVERE: f32 = 0.25;
/// One step up after this long without congestion.
pub const STEP_UP_AFTER: Duration = Duration::from_secs(10);

impl Rung {
    /// The picture size on this rung for a configured size: even (H.264 4:2:0), at least 16.
    pub fn size(&self, width: usize, height: usize) -> (usize, usize) {
        let scale = |side: usize| {
            ((side * self.scale_numerator / self.scale_denominator) & !1)
                .max(16)
                .min(side)
        };
        (scale(width), scale(height))
    }

    pub fn bitrate(&self, configured_bps: u32) -> u32 {
        ((configured_bps as f32 * self.bitrate_share) as u32).max(32_000)
    }
}

/// Decides the rung to send on.
#[derive(Debug, Clone)]
pub struct VideoRateController {
    rung: usize,
    /// When trouble was last seen (or the stream started): climbing waits [`STEP_UP_AFTER`].
    last_trouble: Option<Instant>,
    last_step_down: Option<Instant>,
    last_step: Option<Instant>,
    requests: VecDeque<Instant>,
    steps_down: u64,
    steps_up: u64,
}

impl Default for VideoRateController {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoRateController {
    pub fn new() -> Self {
        Self {
            rung: 0,
            last_trouble: None,
            last_step_down: None,
            last_step: None,
            requests: VecDeque::new(),
            steps_down: 0,
            steps_up: 0,
        }
    }

    /// The rung index into [`LADDER`] (0 is the configured quality).
    pub fn rung(&self) -> usize {
        self.rung
    }

    pub fn steps_down(&self) -> u64 {
        self.steps_down
    }

    pub fn steps_up(&self) -> u64 {
        self.steps_up
    }

    /// A receiver report on our stream: `fraction_lost` as RTCP carries it (lost/256).
    pub fn on_loss_report(&mut self, fraction_lost: u8, now: Instant) {
        let loss = f32::from(fraction_lost) / 256.0;
        if loss >= LOSS_SEVERE {
            let delivered = LADDER[self.rung].bitrate_share * (1.0 - loss);
            let fitting = LADDER
                .iter()
                .position(|rung| rung.bitrate_share <= delivered)
                .unwrap_or(LADDER.len() - 1);
            self.step_down_to(fitting, now);
        } else if loss >= LOSS_CONGESTED {
            self.trouble(now);
        } else if loss >= LOSS_CLEAN {
            // Neither clean nor congested: hold the rung, postpone climbing.
            self.last_trouble = Some(now);
        }
    }

    /// A watcher asked for a keyframe (relayed by the SFU).
    pub fn on_keyframe_request(&mut self, now: Instant) {
        self.requests.push_back(now);
        while self
            .requests
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > REQUEST_WINDOW)
        {
            self.requests.pop_front();
        }
        if self.requests.len() >= REQUESTS_CONGESTED {
            self.requests.clear();
            self.trouble(now);
        }
    }

    fn trouble(&mut self, now: Instant) {
        self.step_down_to(self.rung + 1, now);
    }

    /// Trouble: step down to `rung` (at least one rung, at most the bottom) unless the last
    /// step down was less than [`STEP_DOWN_HOLD`] ago.
    fn step_down_to(&mut self, rung: usize, now: Instant) {
        self.last_trouble = Some(now);
        let held = self
            .last_step_down
            .is_some_and(|at| now.saturating_duration_since(at) < STEP_DOWN_HOLD);
        let target = rung.max(self.rung + 1).min(LADDER.len() - 1);
        if !held && target > self.rung {
            self.rung = target;
            self.steps_down += 1;
            self.last_step_down = Some(now);
            self.last_step = Some(now);
        }
    }

    /// Climbs one rung after a quiet [`STEP_UP_AFTER`]; call once per picture.
    pub fn tick(&mut self, now: Instant) {
        let quiet_since = *self.last_trouble.get_or_insert(now);
        let since_step = self
            .last_step
            .map_or(Duration::MAX, |at| now.saturating_duration_since(at));
        if self.rung > 0
            && now.saturating_duration_since(quiet_since) >= STEP_UP_AFTER
            && since_step >= STEP_UP_AFTER
        {
            self.rung -= 1;
            self.steps_up += 1;
            self.last_step = Some(now);
        }
    }
}

/// Shrinks an RGB picture by averaging the source pixels under each output pixel (a box
/// filter: cheap, and without the aliasing of dropping pixels). Hand-written: it is a dozen
/// lines, and the image crates would bring a much larger dependency for it.
pub fn downscale(frame: &VideoFrame, width: usize, height: usize) -> VideoFrame {
    if (width, height) == (frame.width, frame.height) || width == 0 || height == 0 {
        return frame.clone();
    }
    let mut out = VideoFrame::black(width, height);
    for y in 0..height {
        let (y0, y1) = span(y, height, frame.height);
        for x in 0..width {
            let (x0, x1) = span(x, width, frame.width);
            let mut sum = [0u32; 3];
            let mut count = 0u32;
            for sy in y0..y1 {
                for sx in x0..x1 {
                    if let Some(pixel) = frame.pixel(sx, sy) {
                        for (total, value) in sum.iter_mut().zip(pixel) {
                            *total += u32::from(value);
                        }
                        count += 1;
                    }
                }
            }
            let at = (y * width + x) * 3;
            for (channel, total) in sum.iter().enumerate() {
                out.rgb[at + channel] = (total / count.max(1)) as u8;
            }
        }
    }
    out
}

/// The source range `[start, end)` that output index `index` of `out_len` covers.
fn span(index: usize, out_len: usize, in_len: usize) -> (usize, usize) {
    let start = index * in_len / out_len;
    let end = ((index + 1) * in_len / out_len).max(start + 1);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSSY: u8 = 26; // 10 %
    const CLEAN: u8 = 0;

    #[test]
    fn loss_steps_down_one_rung_per_hold_and_stops_at_the_bottom() {
        let start = Instant::now();
        let mut rate = VideoRateController::new();
        rate.on_loss_report(LOSSY, start);
        assert_eq!(rate.rung(), 1);
        rate.on_loss_report(LOSSY, start + Duration::from_millis(500));
        assert_eq!(rate.rung(), 1, "one burst costs one rung");
        for second in 2..30 {
            rate.on_loss_report(LOSSY, start + Duration::from_secs(second));
        }
        assert_eq!(rate.rung(), LADDER.len() - 1);
        assert_eq!(rate.steps_down(), (LADDER.len() - 1) as u64);
    }

    #[test]
    fn severe_loss_goes_straight_to_the_rung_that_fits_what_got_through() {
        let start = Instant::now();
        let mut rate = VideoRateController::new();
        // Half lost at the full rate: 0.5 of the bits got through, so the 0.4 rung.
        rate.on_loss_report(128, start);
        assert_eq!(rate.rung(), 2);
        assert_eq!(rate.steps_down(), 1, "one step, two rungs");
        rate.on_loss_report(128, start + Duration::from_secs(1));
        assert_eq!(rate.rung(), 2, "held while the queue drains");
        // 30 % lost on the 0.4 rung: 0.28 got through, so the 0.25 rung.
        rate.on_loss_report(77, start + STEP_DOWN_HOLD);
        assert_eq!(rate.rung(), 3);
        // 26 % lost just above the bottom: at least one rung down, never below the bottom.
        rate.on_loss_report(67, start + STEP_DOWN_HOLD * 2);
        assert_eq!(rate.rung(), LADDER.len() - 1);
        rate.on_loss_report(255, start + STEP_DOWN_HOLD * 3);
        assert_eq!(rate.rung(), LADDER.len() - 1);
        // Barely severe at the top still costs at least one rung.
        let mut light = VideoRateController::new();
        light.on_loss_report(65, start); // 25.4 %: 0.75 got through
        assert_eq!(light.rung(), 1);
    }

    #[test]
    fn a_clean_path_climbs_back_slowly() {
        let start = Instant::now();
        let mut rate = VideoRateController::new();
        rate.on_loss_report(LOSSY, start);
        rate.on_loss_report(LOSSY, start + STEP_DOWN_HOLD);
        assert_eq!(rate.rung(), 2);
        let mut now = start + STEP_DOWN_HOLD;
        for _ in 0..90 {
            now += Duration::from_millis(100);
            rate.on_loss_report(CLEAN, now);
            rate.tick(now);
        }
        assert_eq!(rate.rung(), 2, "nine quiet seconds are not enough");
        for _ in 0..20 {
            now += Duration::from_millis(100);
            rate.tick(now);
        }
        assert_eq!(rate.rung(), 1, "ten quiet seconds climb one rung");
        for _ in 0..50 {
            now += Duration::from_millis(100);
            rate.tick(now);
        }
        assert_eq!(rate.rung(), 1, "the next rung waits another ten seconds");
        now += STEP_UP_AFTER;
        rate.tick(now);
        assert_eq!(rate.rung(), 0);
        rate.tick(now + STEP_UP_AFTER * 3);
        assert_eq!(rate.rung(), 0, "never above the configured quality");
        assert_eq!(rate.steps_up(), 2);
    }

    #[test]
    fn moderate_loss_holds_the_rung_and_light_loss_is_clean() {
        let start = Instant::now();
        let mut rate = VideoRateController::new();
        rate.on_loss_report(LOSSY, start);
        let mut now = start;
        for _ in 0..30 {
            now += Duration::from_secs(1);
            rate.on_loss_report(8, now); // 3 %: hold
            rate.tick(now);
        }
        assert_eq!(rate.rung(), 1);
        for _ in 0..11 {
            now += Duration::from_secs(1);
            rate.on_loss_report(2, now); // under 1 %: clean
            rate.tick(now);
        }
        assert_eq!(rate.rung(), 0);
    }

    #[test]
    fn watchers_asking_again_and_again_step_down_but_a_newcomer_does_not() {
        let start = Instant::now();
        let mut rate = VideoRateController::new();
        rate.on_keyframe_request(start);
        rate.on_keyframe_request(start + Duration::from_secs(5));
        rate.on_keyframe_request(start + Duration::from_secs(10));
        assert_eq!(rate.rung(), 0, "occasional requests (newcomers) are normal");
        let later = start + Duration::from_secs(20);
        for i in 0..REQUESTS_CONGESTED as u64 {
            rate.on_keyframe_request(later + Duration::from_millis(500 * i));
        }
        assert_eq!(rate.rung(), 1);
    }

    #[test]
    fn rung_sizes_are_even_and_bitrates_have_a_floor() {
        assert_eq!(LADDER[0].size(320, 240), (320, 240));
        assert_eq!(LADDER[2].size(320, 240), (240, 180));
        assert_eq!(LADDER[3].size(640, 360), (320, 180));
        assert_eq!(LADDER[2].size(98, 50), (72, 36));
        assert_eq!(LADDER[4].size(20, 20), (16, 16));
        assert_eq!(LADDER[4].bitrate(300_000), 37_500);
        assert_eq!(LADDER[4].bitrate(100_000), 32_000);
    }

    #[test]
    fn downscaling_averages_and_keeps_colours_where_they_were() {
        let mut frame = VideoFrame::black(4, 2);
        // Left half red, right half blue.
        for y in 0..2 {
            for x in 0..4 {
                let at = (y * 4 + x) * 3;
                frame.rgb[at..at + 3].copy_from_slice(if x < 2 {
                    &[200, 0, 0]
                } else {
                    &[0, 0, 100]
                });
            }
        }
        let small = downscale(&frame, 2, 1);
        assert_eq!(small.pixel(0, 0), Some([200, 0, 0]));
        assert_eq!(small.pixel(1, 0), Some([0, 0, 100]));
        let odd = downscale(&frame, 3, 2);
        assert_eq!(odd.rgb.len(), 3 * 2 * 3);
        assert_eq!(odd.pixel(0, 1), Some([200, 0, 0]));
        assert_eq!(odd.pixel(2, 1), Some([0, 0, 100]));
        assert_eq!(downscale(&frame, 4, 2), frame);
    }
}
