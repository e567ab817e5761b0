//! A synthetic camera: color bars with a moving marker, and a recognizer that tells whether a
//! decoded picture is that pattern. Used by the CLI (`--send-video test-pattern`) and by the
//! end-to-end tests to prove that pictures crossed the meeting intact.
//!
//! Layout: the top three quarters hold eight vertical bars (white, yellow, cyan, green,
//! magenta, red, blue, black); the bottom quarter is black with a white square that moves one
//! step right per frame, so consecutive frames differ (the encoder has motion to code).
//! [`TestPattern::with_noise`] fills the rest of the bottom quarter with noise that changes every
//! frame, so the encoder spends its whole bitrate, as on a real camera (the nearly static
//! pattern needs a few dozen bytes per picture, which no narrow link would notice).

use crate::{VideoError, VideoFrame, VideoSource};

/// The bars, left to right.
pub const BAR_COLORS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];

/// How far (per channel, 0–255) a bar's average color may drift through H.264 coding and the
/// YUV round trip and still count as that bar. Lossy coding at meeting bitrates moves flat
/// areas by a few units; a wrong bar differs by 255 in at least one channel.
pub const DEFAULT_TOLERANCE: u8 = 40;

/// Side of the moving marker, in pixels.
const MARKER_SIDE: usize = 16;

/// Generates the pattern, frame after frame, forever (or for `limit` frames).
pub struct TestPattern {
    width: usize,
    height: usize,
    index: u64,
    limit: Option<u64>,
    noise: bool,
}

impl TestPattern {
    /// A pattern of `width`×`height` (at least 64×64 so every bar is measurable).
    pub fn new(width: usize, height: usize) -> Result<Self, VideoError> {
        if width < 64 || height < 64 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(VideoError::Resolution { width, height });
        }
        Ok(Self {
            width,
            height,
            index: 0,
            limit: None,
            noise: false,
        })
    }

    /// Ends the source after `frames` frames.
    pub fn with_limit(mut self, frames: u64) -> Self {
        self.limit = Some(frames);
        self
    }

    /// Fills the bottom quarter around the marker with noise that changes every frame.
    pub fn with_noise(mut self) -> Self {
        self.noise = true;
        self
    }

    /// The picture number `index` (deterministic).
    pub fn frame(&self, index: u64) -> VideoFrame {
        let (width, height) = (self.width, self.height);
        let mut frame = VideoFrame::black(width, height);
        let bars_end = height * 3 / 4;
        let bar_width = width / BAR_COLORS.len();
        for y in 0..bars_end {
            for x in 0..width {
                let bar = (x / bar_width).min(BAR_COLORS.len() - 1);
                let at = (y * width + x) * 3;
                frame.rgb[at..at + 3].copy_from_slice(&BAR_COLORS[bar]);
            }
        }
        if self.noise {
            // xorshift64: deterministic per picture, cheap, and incompressible enough.
            let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for pixel in frame.rgb[bars_end * width * 3..].chunks_exact_mut(3) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                pixel.fill((state >> 56) as u8);
            }
        }
        let travel = (width - MARKER_SIDE) / 4;
        let left = (index as usize % travel.max(1)) * 4;
        let top = bars_end + (height - bars_end - MARKER_SIDE.min(height - bars_end)) / 2;
        for y in top..(top + MARKER_SIDE).min(height) {
            for x in left..(left + MARKER_SIDE).min(width) {
                let at = (y * width + x) * 3;
                frame.rgb[at..at + 3].copy_from_slice(&[255, 255, 255]);
            }
        }
        frame
    }
}

impl VideoSource for TestPattern {
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        if self.limit.is_some_and(|limit| self.index >= limit) {
            return Ok(None);
        }
        let frame = self.frame(self.index);
        self.index += 1;
        Ok(Some(frame))
    }
}

/// Average color of the rectangle [x0, x1) × [y0, y1).
fn average(frame: &VideoFrame, x0: usize, x1: usize, y0: usize, y1: usize) -> Option<[u8; 3]> {
    let mut sum = [0u64; 3];
    let mut count = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let pixel = frame.pixel(x, y)?;
            for (s, p) in sum.iter_mut().zip(pixel) {
                *s += u64::from(p);
            }
            count += 1;
        }
    }
    if count == 0 {
        return None;
    }
    Some(sum.map(|s| u8::try_from(s / count).unwrap_or(u8::MAX)))
}

/// Whether `frame` shows the test pattern: the center of every bar (away from the edges that
/// chroma subsampling blurs) averages within `tolerance` per channel of the bar's color.
pub fn is_test_pattern(frame: &VideoFrame, tolerance: u8) -> bool {
    if frame.width < 64 || frame.height < 64 || frame.rgb.len() != frame.width * frame.height * 3 {
        return false;
    }
    let bar_width = frame.width / BAR_COLORS.len();
    let bars_end = frame.height * 3 / 4;
    let (y0, y1) = (bars_end / 5, bars_end * 4 / 5);
    BAR_COLORS.iter().enumerate().all(|(bar, expected)| {
        let x0 = bar * bar_width + bar_width / 4;
        let x1 = bar * bar_width + bar_width * 3 / 4;
        average(frame, x0, x1, y0, y1).is_some_and(|got| {
            got.iter()
                .zip(expected)
                .all(|(g, e)| g.abs_diff(*e) <= tolerance)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore as _;

    #[test]
    fn generated_frames_are_recognized_and_the_marker_moves() {
        let mut pattern = TestPattern::new(320, 240).expect("size").with_limit(3);
        let first = pattern.next_frame().expect("frame").expect("some");
        let second = pattern.next_frame().expect("frame").expect("some");
        assert!(is_test_pattern(&first, 0));
        assert!(is_test_pattern(&second, 0));
        assert_ne!(first, second, "the marker moves between frames");
        assert!(pattern.next_frame().expect("frame").is_some());
        assert!(
            pattern.next_frame().expect("frame").is_none(),
            "limit reached"
        );
    }

    #[test]
    fn the_noisy_pattern_is_still_recognized_and_its_noise_changes_every_frame() {
        let pattern = TestPattern::new(320, 240).expect("size").with_noise();
        let (first, second) = (pattern.frame(0), pattern.frame(1));
        assert!(is_test_pattern(&first, 0) && is_test_pattern(&second, 0));
        let bottom = 180 * 320 * 3;
        let changed = first.rgb[bottom..]
            .chunks_exact(3)
            .zip(second.rgb[bottom..].chunks_exact(3))
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 320 * 60 * 9 / 10, "only {changed} pixels changed");
        assert_eq!(pattern.frame(5), pattern.frame(5), "deterministic");
    }

    #[test]
    fn black_random_and_wrong_frames_are_not_recognized() {
        assert!(!is_test_pattern(
            &VideoFrame::black(320, 240),
            DEFAULT_TOLERANCE
        ));
        let mut noise = VideoFrame::black(320, 240);
        rand::thread_rng().fill_bytes(&mut noise.rgb);
        assert!(!is_test_pattern(&noise, DEFAULT_TOLERANCE));
        // Mirrored bars: every color present, in the wrong places.
        let pattern = TestPattern::new(320, 240).expect("size").frame(0);
        let mut mirrored = pattern.clone();
        for y in 0..240 {
            for x in 0..320 {
                let from = (y * 320 + (319 - x)) * 3;
                let to = (y * 320 + x) * 3;
                mirrored.rgb[to..to + 3].copy_from_slice(&pattern.rgb[from..from + 3]);
            }
        }
        assert!(!is_test_pattern(&mirrored, DEFAULT_TOLERANCE));
        // A truncated buffer is refused, not read out of bounds.
        let mut short = pattern;
        short.rgb.truncate(100);
        assert!(!is_test_pattern(&short, DEFAULT_TOLERANCE));
    }

    #[test]
    fn tiny_or_odd_sizes_are_refused() {
        assert!(TestPattern::new(32, 240).is_err());
        assert!(TestPattern::new(321, 240).is_err());
    }
}
