//! Echo cancellation, noise suppression and automatic gain control for a real microphone,
//! done by WebRTC's audio processing module (the engine browsers use) through the
//! `webrtc-audio-processing` crate.
//!
//! The module works on 10 ms at 48 kHz, so each of our 20 ms frames is two sub-frames. The
//! echo canceller must hear what the loudspeaker plays (the far end, "render" stream) to
//! remove it from what the microphone picks up (the near end, "capture" stream):
//! [`with_audio_processing`] wraps a pipeline's source and sink so that happens without the
//! pipeline knowing. Synthetic sources (tones, WAV files) carry no room echo or noise and
//! are left unprocessed unless asked for.

use std::sync::{Arc, Mutex, MutexGuard};

use webrtc_audio_processing as apm;

use crate::{AudioSink, AudioSource, FRAME_SAMPLES, MediaPipelineError};

/// Samples in one 10 ms sub-frame, the unit the processing module works on.
const SUB_FRAME_SAMPLES: usize = apm::NUM_SAMPLES_PER_FRAME as usize;
/// i16 full scale, to map samples into the module's ±1.0 floats and back.
const FULL_SCALE: f32 = 32_768.0;
/// The level the gain control aims for, in dB below full scale: WebRTC's default, which
/// leaves headroom for Opus and the mixer.
const AGC_TARGET_DBFS: i32 = 3;
/// The most the gain control may amplify a quiet microphone, in dB (WebRTC's default).
const AGC_MAX_GAIN_DB: i32 = 9;

/// Which stages run. The default (all on) is what a real microphone needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioProcessingConfig {
    /// Remove what the loudspeaker plays from the microphone signal.
    pub echo_cancellation: bool,
    /// Remove steady background noise (fans, hum, hiss).
    pub noise_suppression: bool,
    /// Bring quiet and loud speakers to a common level.
    pub gain_control: bool,
}

impl Default for AudioProcessingConfig {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
        }
    }
}

impl AudioProcessingConfig {
    fn to_apm(self) -> apm::Config {
        apm::Config {
            echo_cancellation: self.echo_cancellation.then_some(apm::EchoCancellation {
                suppression_level: apm::EchoCancellationSuppressionLevel::Moderate,
                // The delay from playing a frame to hearing it in the microphone depends on
                // the devices and is never reported exactly: let the canceller estimate it.
                enable_extended_filter: true,
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            gain_control: self.gain_control.then_some(apm::GainControl {
                mode: apm::GainControlMode::AdaptiveDigital,
                target_level_dbfs: AGC_TARGET_DBFS,
                compression_gain_db: AGC_MAX_GAIN_DB,
                enable_limiter: true,
            }),
            noise_suppression: self.noise_suppression.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::High,
            }),
            voice_detection: None,
            enable_transient_suppressor: false,
            enable_high_pass_filter: true,
        }
    }
}

fn engine(e: apm::Error) -> MediaPipelineError {
    MediaPipelineError::Processing(e.to_string())
}

/// One microphone's processing state (mono, 48 kHz, 20 ms frames).
pub struct AudioProcessor {
    processor: apm::Processor,
    sub_frame: Vec<f32>,
}

impl AudioProcessor {
    pub fn new(config: AudioProcessingConfig) -> Result<Self, MediaPipelineError> {
        let mut processor = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..apm::InitializationConfig::default()
        })
        .map_err(engine)?;
        processor.set_config(config.to_apm());
        Ok(Self {
            processor,
            sub_frame: vec![0.0; SUB_FRAME_SAMPLES],
        })
    }

    /// Tells the echo canceller what the loudspeaker is playing (one 20 ms frame).
    pub fn process_render(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        for half in frame.chunks_exact(SUB_FRAME_SAMPLES) {
            to_float(half, &mut self.sub_frame);
            self.processor
                .process_render_frame(&mut self.sub_frame)
                .map_err(engine)?;
        }
        Ok(())
    }

    /// Cleans one 20 ms microphone frame in place.
    pub fn process_capture(&mut self, frame: &mut [i16]) -> Result<(), MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        for half in frame.chunks_exact_mut(SUB_FRAME_SAMPLES) {
            to_float(half, &mut self.sub_frame);
            self.processor
                .process_capture_frame(&mut self.sub_frame)
                .map_err(engine)?;
            from_float(&self.sub_frame, half);
        }
        Ok(())
    }

    /// Hints that the loudspeaker is muted, so the canceller and gain control adapt better.
    pub fn set_output_muted(&self, muted: bool) {
        self.processor.set_output_will_be_muted(muted);
    }
}

fn to_float(samples: &[i16], out: &mut [f32]) {
    for (o, s) in out.iter_mut().zip(samples) {
        *o = f32::from(*s) / FULL_SCALE;
    }
}

fn from_float(samples: &[f32], out: &mut [i16]) {
    for (o, s) in out.iter_mut().zip(samples) {
        // The `as` cast saturates; clamping first keeps +1.0 from wrapping.
        *o = (s * FULL_SCALE)
            .round()
            .clamp(-FULL_SCALE, FULL_SCALE - 1.0) as i16;
    }
}

type SharedProcessor = Arc<Mutex<AudioProcessor>>;

fn lock(processor: &SharedProcessor) -> Result<MutexGuard<'_, AudioProcessor>, MediaPipelineError> {
    processor
        .lock()
        .map_err(|_| MediaPipelineError::Processing("the audio processor was poisoned".into()))
}

/// A microphone whose frames pass through the processor before they are encoded.
struct ProcessedSource {
    source: Box<dyn AudioSource + Send>,
    processor: SharedProcessor,
}

impl AudioSource for ProcessedSource {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if !self.source.next_frame(frame)? {
            return Ok(false);
        }
        lock(&self.processor)?.process_capture(frame)?;
        Ok(true)
    }
}

/// A loudspeaker that also hands every frame it plays to the echo canceller.
struct EchoReferenceSink {
    sink: Box<dyn AudioSink + Send>,
    processor: SharedProcessor,
}

impl AudioSink for EchoReferenceSink {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        lock(&self.processor)?.process_render(frame)?;
        self.sink.play(frame)
    }
}

/// A pipeline's source and sink with processing in front: the source's frames are cleaned,
/// and whatever the sink plays becomes the echo canceller's reference. Without a source
/// there is nothing to clean and both come back unchanged; without a sink nothing is played,
/// so there is no echo to learn from.
#[allow(clippy::type_complexity)]
pub fn with_audio_processing(
    source: Option<Box<dyn AudioSource + Send>>,
    sink: Option<Box<dyn AudioSink + Send>>,
    config: AudioProcessingConfig,
) -> Result<
    (
        Option<Box<dyn AudioSource + Send>>,
        Option<Box<dyn AudioSink + Send>>,
    ),
    MediaPipelineError,
> {
    let Some(source) = source else {
        return Ok((None, sink));
    };
    let (source, sink) = with_processor(source, sink, AudioProcessor::new(config)?);
    Ok((Some(source), sink))
}

/// Like [`with_audio_processing`] with a processor already started, so a caller whose
/// processor failed to start still holds its devices and can go on without processing.
#[allow(clippy::type_complexity)]
pub fn with_processor(
    source: Box<dyn AudioSource + Send>,
    sink: Option<Box<dyn AudioSink + Send>>,
    processor: AudioProcessor,
) -> (
    Box<dyn AudioSource + Send>,
    Option<Box<dyn AudioSink + Send>>,
) {
    let processor = Arc::new(Mutex::new(processor));
    let sink = sink.map(|sink| {
        Box::new(EchoReferenceSink {
            sink,
            processor: Arc::clone(&processor),
        }) as Box<dyn AudioSink + Send>
    });
    let source = Box::new(ProcessedSource { source, processor }) as Box<dyn AudioSource + Send>;
    (source, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_survive_the_float_round_trip() {
        let samples = [i16::MIN, -1, 0, 1, 12_345, i16::MAX];
        let mut floats = [0.0; 6];
        let mut back = [0i16; 6];
        to_float(&samples, &mut floats);
        from_float(&floats, &mut back);
        assert_eq!(back, samples);
    }

    #[test]
    fn out_of_range_floats_clip_instead_of_wrapping() {
        let mut out = [0i16; 2];
        from_float(&[1.5, -1.5], &mut out);
        assert_eq!(out, [i16::MAX, i16::MIN]);
    }
}
