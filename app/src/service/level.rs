//! Microphone level metering for the pre-join check: how loud a frame is, and a meter that
//! reads the chosen microphone and gives its peak about ten times a second.

use std::time::Duration;

use conclave_media::{AudioSource, FRAME_SAMPLES};

use crate::devices::{self, Microphone};

/// Root-mean-square level of a frame, 0.0 (silence) to 1.0 (full scale), for the level meter.
pub fn level(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    let sum: f64 = frame.iter().map(|s| f64::from(*s).powi(2)).sum();
    ((sum / frame.len() as f64).sqrt() / f64::from(i16::MAX)) as f32
}

/// Reads a microphone for the level meter, one peak per five frames (about 10 a second).
pub struct LevelMeter {
    source: Box<dyn AudioSource + Send>,
    frame: Vec<i16>,
    /// Paces the reads at the frame rate, across calls to [`LevelMeter::next_peak`].
    ticker: tokio::time::Interval,
}

impl LevelMeter {
    /// The meter on `microphone`; `None` when it is off or cannot be opened (logged).
    pub async fn open(microphone: Microphone) -> Option<Self> {
        Some(Self {
            source: open(microphone).await?,
            frame: vec![0i16; FRAME_SAMPLES],
            ticker: tokio::time::interval(Duration::from_millis(20)),
        })
    }

    /// The peak level over the next five frames; `None` once the microphone stops.
    pub async fn next_peak(&mut self) -> Option<f32> {
        let mut peak = 0f32;
        for _ in 0..5 {
            self.ticker.tick().await;
            match self.source.next_frame(&mut self.frame) {
                Ok(true) => peak = peak.max(level(&self.frame)),
                _ => return None,
            }
        }
        Some(peak)
    }
}

/// Opens the microphone on a blocking thread (device opening can take a while).
async fn open(microphone: Microphone) -> Option<Box<dyn AudioSource + Send>> {
    let opened = tokio::task::spawn_blocking(move || -> Option<Box<dyn AudioSource + Send>> {
        match microphone {
            Microphone::Device(name) => match devices::audio::Microphone::open(&name) {
                Ok(mic) => Some(Box::new(mic)),
                Err(error) => {
                    tracing::warn!(%error, "cannot open the microphone for the level meter");
                    None
                }
            },
            Microphone::TestTone => Some(Box::new(devices::test_tone())),
            Microphone::Off => None,
        }
    })
    .await;
    opened.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_zero_and_full_scale_is_one() {
        assert_eq!(level(&[]), 0.0);
        assert_eq!(level(&[0; 480]), 0.0);
        let full = level(&[i16::MAX; 480]);
        assert!((full - 1.0).abs() < 1e-6, "{full}");
    }
}
