//! The lobby knock while the window is in the background: an OS notification (notify-rust)
//! and the knock sound (`assets/knock.wav`, see `assets/README.md`) on the chosen speaker.

use conclave_media::{AudioSink, FRAME_SAMPLES};

use crate::devices::Speaker;
use crate::fl;

/// 48 kHz mono 16-bit PCM WAV, generated with sox (see assets/README.md).
const KNOCK_WAV: &[u8] = include_bytes!("../../../../assets/knock.wav");

/// The PCM samples of a canonical WAV (`data` chunk located by scanning the chunks).
fn knock_samples() -> Vec<i16> {
    let mut at = 12;
    while at + 8 <= KNOCK_WAV.len() {
        let id = &KNOCK_WAV[at..at + 4];
        let size = u32::from_le_bytes([
            KNOCK_WAV[at + 4],
            KNOCK_WAV[at + 5],
            KNOCK_WAV[at + 6],
            KNOCK_WAV[at + 7],
        ]) as usize;
        let body = at + 8;
        if id == b"data" {
            let end = (body + size).min(KNOCK_WAV.len());
            return KNOCK_WAV[body..end]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        at = body + size + (size % 2);
    }
    Vec::new()
}

/// Notifies and plays the knock, off the UI thread; failures are logged, never shown as errors
/// (the in-window banner is there anyway).
pub async fn alert(name: String, speaker: Speaker) {
    let result = tokio::task::spawn_blocking(move || {
        let summary = fl!("meeting-knock", name = name.as_str());
        if let Err(error) = notify_rust::Notification::new()
            .appname("Conclave")
            .summary(&summary)
            .body(&fl!("meeting-knock-body"))
            .show()
        {
            tracing::info!(%error, "no desktop notification service");
        }
        if let Speaker::Device(device) = speaker {
            match crate::devices::audio::Speakers::open(&device) {
                Ok(mut sink) => {
                    for frame in knock_samples().chunks(FRAME_SAMPLES) {
                        let mut padded = frame.to_vec();
                        padded.resize(FRAME_SAMPLES, 0);
                        if sink.play(&padded).is_err() {
                            break;
                        }
                    }
                    // Let the device drain what was queued before the stream is dropped.
                    std::thread::sleep(std::time::Duration::from_millis(600));
                }
                Err(error) => tracing::info!(%error, "no speaker for the knock sound"),
            }
        }
    })
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, "knock alert failed");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_knock_sound_is_a_short_audible_clip() {
        let samples = super::knock_samples();
        // Between 0.1 and 2 s at 48 kHz, and not silent.
        assert!(
            samples.len() > 4_800 && samples.len() < 96_000,
            "{}",
            samples.len()
        );
        assert!(samples.iter().any(|s| s.unsigned_abs() > 3_000));
    }
}
