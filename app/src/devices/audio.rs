//! cpal microphones and speakers as core's `AudioSource` / `AudioSink`. The device runs at its
//! own rate and channel count; audio is mixed down to mono and resampled to 48 kHz with rubato
//! (and back for playback). Between the device thread and the 20 ms pipeline sits a bounded
//! queue: overflow drops the oldest audio, underflow plays silence, so neither side blocks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use conclave_media::{AudioSink, AudioSource, FRAME_SAMPLES, MediaPipelineError, SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rubato::{FftFixedIn, Resampler};

/// At most this much audio waits between the device and the pipeline (200 ms).
const MAX_QUEUED: usize = FRAME_SAMPLES * 10;

/// Why a device could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no audio device named {0}")]
    NotFound(String),
    #[error("the audio device refused: {0}")]
    Device(String),
}

fn device_name(device: &cpal::Device) -> Option<String> {
    let description = device.description().ok()?;
    // ALSA's "null" PCM discards what it is given and records zeros: offering it as a
    // microphone or speaker would hide the test tone / silence fallbacks behind a dead device.
    if description.driver() == Some("null") {
        return None;
    }
    Some(description.name().to_owned())
}

/// Names of the input and output devices (may block briefly: call off the UI thread).
pub fn list() -> super::DeviceLists {
    let host = cpal::default_host();
    super::DeviceLists {
        microphones: host
            .input_devices()
            .map(|devices| devices.filter_map(|d| device_name(&d)).collect())
            .unwrap_or_default(),
        speakers: host
            .output_devices()
            .map(|devices| devices.filter_map(|d| device_name(&d)).collect())
            .unwrap_or_default(),
        cameras: Vec::new(),
    }
}

fn find(name: &str, input: bool) -> Result<cpal::Device, DeviceError> {
    let host = cpal::default_host();
    let devices = if input {
        host.input_devices()
            .map_err(|e| DeviceError::Device(e.to_string()))?
            .collect::<Vec<_>>()
    } else {
        host.output_devices()
            .map_err(|e| DeviceError::Device(e.to_string()))?
            .collect::<Vec<_>>()
    };
    devices
        .into_iter()
        .find(|d| device_name(d).as_deref() == Some(name))
        .ok_or_else(|| DeviceError::NotFound(name.to_owned()))
}

/// Mono f32 audio from one rate to another in rubato's fixed input chunks.
struct RateConverter {
    resampler: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
}

impl RateConverter {
    fn new(from: u32, to: u32) -> Result<Self, DeviceError> {
        let resampler = if from == to {
            None
        } else {
            let chunk = (from as usize / 100).max(1);
            Some(
                FftFixedIn::new(from as usize, to as usize, chunk, 2, 1)
                    .map_err(|e| DeviceError::Device(e.to_string()))?,
            )
        };
        Ok(Self {
            resampler,
            pending: Vec::new(),
        })
    }

    fn push(&mut self, samples: &[f32], out: &mut impl Extend<f32>) {
        let Some(resampler) = self.resampler.as_mut() else {
            out.extend(samples.iter().copied());
            return;
        };
        self.pending.extend_from_slice(samples);
        loop {
            let needed = resampler.input_frames_next();
            if self.pending.len() < needed {
                break;
            }
            let chunk: Vec<f32> = self.pending.drain(..needed).collect();
            match resampler.process(&[chunk], None) {
                Ok(mut channels) => {
                    if let Some(mono) = channels.pop() {
                        out.extend(mono);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "resampling failed; audio dropped");
                    break;
                }
            }
        }
    }
}

fn push_bounded(queue: &Mutex<VecDeque<f32>>, samples: impl IntoIterator<Item = f32>) {
    if let Ok(mut queue) = queue.lock() {
        queue.extend(samples);
        let excess = queue.len().saturating_sub(MAX_QUEUED);
        queue.drain(..excess);
    }
}

/// A microphone, mixed to mono at 48 kHz.
pub struct Microphone {
    queue: Arc<Mutex<VecDeque<f32>>>,
    // Dropping the stream stops the device.
    _stream: cpal::Stream,
}

impl Microphone {
    pub fn open(name: &str) -> Result<Self, DeviceError> {
        let device = find(name, true)?;
        let config = device
            .default_input_config()
            .map_err(|e| DeviceError::Device(e.to_string()))?
            .config();
        let channels = usize::from(config.channels.max(1));
        let mut converter = RateConverter::new(config.sample_rate, SAMPLE_RATE)?;
        let queue = Arc::new(Mutex::new(VecDeque::with_capacity(MAX_QUEUED)));
        let writer = queue.clone();
        let mut mono = Vec::new();
        let mut converted = Vec::new();
        let stream = device
            .build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _| {
                    mono.clear();
                    mono.extend(
                        data.chunks(channels)
                            .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32),
                    );
                    converted.clear();
                    converter.push(&mono, &mut converted);
                    push_bounded(&writer, converted.iter().copied());
                },
                |error| tracing::warn!(%error, "microphone error"),
                None,
            )
            .map_err(|e| DeviceError::Device(e.to_string()))?;
        stream
            .play()
            .map_err(|e| DeviceError::Device(e.to_string()))?;
        Ok(Self {
            queue,
            _stream: stream,
        })
    }
}

impl AudioSource for Microphone {
    fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| MediaPipelineError::Codec("microphone queue poisoned".into()))?;
        for sample in frame.iter_mut() {
            let value = queue.pop_front().unwrap_or(0.0);
            *sample = (value.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
        }
        Ok(true)
    }
}

/// Speakers: the meeting's 48 kHz mono mix, resampled and copied to every channel.
pub struct Speakers {
    queue: Arc<Mutex<VecDeque<f32>>>,
    converter: RateConverter,
    converted: Vec<f32>,
    _stream: cpal::Stream,
}

impl Speakers {
    pub fn open(name: &str) -> Result<Self, DeviceError> {
        let device = find(name, false)?;
        let config = device
            .default_output_config()
            .map_err(|e| DeviceError::Device(e.to_string()))?
            .config();
        let channels = usize::from(config.channels.max(1));
        let converter = RateConverter::new(SAMPLE_RATE, config.sample_rate)?;
        let queue: Arc<Mutex<VecDeque<f32>>> =
            Arc::new(Mutex::new(VecDeque::with_capacity(MAX_QUEUED)));
        let reader = queue.clone();
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                move |data: &mut [f32], _| {
                    let Ok(mut queue) = reader.lock() else {
                        data.fill(0.0);
                        return;
                    };
                    for frame in data.chunks_mut(channels) {
                        frame.fill(queue.pop_front().unwrap_or(0.0));
                    }
                },
                |error| tracing::warn!(%error, "speaker error"),
                None,
            )
            .map_err(|e| DeviceError::Device(e.to_string()))?;
        stream
            .play()
            .map_err(|e| DeviceError::Device(e.to_string()))?;
        Ok(Self {
            queue,
            converter,
            converted: Vec::new(),
            _stream: stream,
        })
    }
}

impl AudioSink for Speakers {
    fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaPipelineError::FrameSize(frame.len()));
        }
        let samples: Vec<f32> = frame
            .iter()
            .map(|s| f32::from(*s) / f32::from(i16::MAX))
            .collect();
        self.converted.clear();
        self.converter.push(&samples, &mut self.converted);
        push_bounded(&self.queue, self.converted.iter().copied());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_44_1_to_48_khz_keeps_the_duration() {
        let mut converter = RateConverter::new(44_100, 48_000).expect("resampler");
        let input = vec![0.25f32; 44_100];
        let mut out = Vec::new();
        converter.push(&input, &mut out);
        // One second in, about one second out (minus what is still buffered in the chunker).
        assert!(out.len() > 47_000 && out.len() <= 48_000, "{}", out.len());
    }

    #[test]
    fn missing_devices_are_reported_not_panicked() {
        assert!(Microphone::open("no such microphone").is_err());
        assert!(Speakers::open("no such speaker").is_err());
    }
}
