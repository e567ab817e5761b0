//! Synthetic and file media for headless clients and tests: tone sequences, WAV files in and
//! out, and a Goertzel detector to check what a recording contains.

use std::f64::consts::TAU;
use std::path::Path;

use crate::{AudioSink, AudioSource, FRAME_SAMPLES, MediaPipelineError, SAMPLE_RATE};

/// A sequence of sine tones, each for a number of 20 ms frames (a product feature:
/// `conclave-cli --tone`, and the known signal of the audio tests).
pub struct ToneSource {
    steps: Vec<(f64, u32)>,
    step: usize,
    frames_in_step: u32,
    phase: f64,
    amplitude: f64,
}

impl ToneSource {
    /// `steps`: (frequency in Hz, duration in frames); repeats when `looped`.
    pub fn new(steps: Vec<(f64, u32)>) -> Self {
        Self {
            steps,
            step: 0,
            frames_in_step: 0,
            phase: 0.0,
            amplitude: 0.4 * f64::from(i16::MAX),
        }
    }
}

impl ToneSource {
    /// The phase step per sample of the current tone, moving to the next tone when this one
    /// has had its frames; `None` once the sequence is over.
    fn advance(&mut self) -> Option<f64> {
        while let Some((_, frames)) = self.steps.get(self.step) {
            if self.frames_in_step < *frames {
                break;
            }
            self.step += 1;
            self.frames_in_step = 0;
        }
        let (frequency, _) = self.steps.get(self.step)?;
        self.frames_in_step += 1;
        Some(TAU * frequency / f64::from(SAMPLE_RATE))
    }
}

impl AudioSource for ToneSource {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let Some(increment) = self.advance() else {
            return Ok(false);
        };
        for sample in frame.iter_mut() {
            *sample = (self.amplitude * self.phase.sin()) as i16;
            // A subtraction, not `%`: fmod per sample cost more than the sine itself.
            self.phase += increment;
            if self.phase >= TAU {
                self.phase -= TAU;
            }
        }
        Ok(true)
    }

    fn skip_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let Some(increment) = self.advance() else {
            return Ok(false);
        };
        // Same phase as if the samples had been computed, so unmuting continues the tone.
        self.phase = (self.phase + increment * FRAME_SAMPLES as f64) % TAU;
        Ok(true)
    }
}

/// Reads a 48 kHz mono 16-bit WAV file (`conclave-cli --send-audio`).
pub struct WavSource {
    samples: std::vec::IntoIter<i16>,
}

impl WavSource {
    pub fn open(path: &Path) -> Result<Self, MediaPipelineError> {
        let reader = hound::WavReader::open(path)
            .map_err(|e| MediaPipelineError::File(format!("{}: {e}", path.display())))?;
        let spec = reader.spec();
        if spec.sample_rate != SAMPLE_RATE
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(MediaPipelineError::Unsupported(format!(
                "{} is {} Hz, {} channel(s), {}-bit; Conclave needs 48000 Hz mono 16-bit \
                 (convert with `sox in.wav -r 48000 -c 1 -b 16 out.wav`)",
                path.display(),
                spec.sample_rate,
                spec.channels,
                spec.bits_per_sample
            )));
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| MediaPipelineError::File(format!("{}: {e}", path.display())))?;
        Ok(Self {
            samples: samples.into_iter(),
        })
    }
}

impl AudioSource for WavSource {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let mut filled = 0;
        for (slot, sample) in frame.iter_mut().zip(self.samples.by_ref()) {
            *slot = sample;
            filled += 1;
        }
        frame[filled..].fill(0);
        Ok(filled > 0)
    }
}

/// Writes what is played to a 48 kHz mono 16-bit WAV file (`--record-audio`).
pub struct WavRecorder {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
}

impl WavRecorder {
    pub fn create(path: &Path) -> Result<Self, MediaPipelineError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec)
            .map_err(|e| MediaPipelineError::File(format!("{}: {e}", path.display())))?;
        Ok(Self { writer })
    }

    /// Finishes the file header; without it the recording is unreadable.
    pub fn finish(self) -> Result<(), MediaPipelineError> {
        self.writer
            .finalize()
            .map_err(|e| MediaPipelineError::File(e.to_string()))
    }
}

impl AudioSink for WavRecorder {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        for sample in frame {
            self.writer
                .write_sample(*sample)
                .map_err(|e| MediaPipelineError::File(e.to_string()))?;
        }
        Ok(())
    }
}

/// Power of `frequency` in `samples` (Goertzel), normalised by length.
pub fn tone_power(samples: &[i16], frequency: f64) -> f64 {
    let coefficient = 2.0 * (TAU * frequency / f64::from(SAMPLE_RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for sample in samples {
        let s0 = f64::from(*sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    power / (samples.len().max(1) as f64).powi(2)
}

/// Which of `candidates` is strongest in `samples`, and how many times stronger it is than
/// the runner-up.
pub fn dominant_tone(samples: &[i16], candidates: &[f64]) -> Option<(f64, f64)> {
    let mut powers: Vec<(f64, f64)> = candidates
        .iter()
        .map(|f| (*f, tone_power(samples, *f)))
        .collect();
    powers.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, best_power) = *powers.first()?;
    let runner_up = powers.get(1).map_or(0.0, |p| p.1);
    Some((best, best_power / runner_up.max(f64::MIN_POSITIVE)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_frame_keeps_the_tone_in_step_and_counts_toward_its_length() {
        let mut heard = ToneSource::new(vec![(440.0, 3), (880.0, 2)]);
        let mut skipping = ToneSource::new(vec![(440.0, 3), (880.0, 2)]);
        let mut expected = vec![0i16; FRAME_SAMPLES];
        let mut got = vec![0i16; FRAME_SAMPLES];
        for frame in 0..5 {
            assert!(heard.next_frame(&mut expected).expect("frame"));
            if frame % 2 == 0 {
                assert!(skipping.skip_frame(&mut got).expect("frame"));
            } else {
                assert!(skipping.next_frame(&mut got).expect("frame"));
                let worst = expected
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                    .max();
                assert!(worst <= Some(1), "frame {frame} differs by {worst:?}");
            }
        }
        assert!(
            !skipping.skip_frame(&mut got).expect("end"),
            "5 frames in all"
        );
        assert!(matches!(
            skipping.skip_frame(&mut [0i16; 10]),
            Err(MediaPipelineError::FrameSize(10))
        ));
    }

    #[test]
    fn tones_are_what_the_detector_finds_and_wav_round_trips() {
        let mut source = ToneSource::new(vec![(440.0, 2), (880.0, 1)]);
        let mut frames = Vec::new();
        let mut frame = vec![0i16; FRAME_SAMPLES];
        while source.next_frame(&mut frame).unwrap() {
            frames.push(frame.clone());
        }
        assert_eq!(frames.len(), 3);
        let candidates = [440.0, 660.0, 880.0];
        assert_eq!(dominant_tone(&frames[0], &candidates).unwrap().0, 440.0);
        assert_eq!(dominant_tone(&frames[2], &candidates).unwrap().0, 880.0);

        let dir = tempfile_dir();
        let path = dir.join("tone.wav");
        let mut recorder = WavRecorder::create(&path).unwrap();
        for frame in &frames {
            recorder.play(frame).unwrap();
        }
        recorder.finish().unwrap();
        let mut back = WavSource::open(&path).unwrap();
        let mut read = vec![0i16; FRAME_SAMPLES];
        assert!(back.next_frame(&mut read).unwrap());
        assert_eq!(read, frames[0]);
        assert!(matches!(
            WavSource::open(&dir.join("missing.wav")),
            Err(MediaPipelineError::File(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("conclave-signal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
