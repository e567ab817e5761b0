//! Devices for the meeting: cpal microphones and speakers behind core's `AudioSource` /
//! `AudioSink` (48 kHz mono 20 ms frames, resampled with rubato), nokhwa cameras behind
//! `VideoSource` ([`camera`]), device lists for the pickers, and the fallbacks when a machine
//! has none: the test tone as the source, silence as the sink, the test pattern as the camera.

pub mod audio;
pub mod camera;
pub mod pattern;

use conclave_media::processing::{AudioProcessingConfig, AudioProcessor, with_processor};
use conclave_media::signal::ToneSource;
use conclave_media::{AudioSink, AudioSource};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Microphone {
    /// A cpal input device by name.
    Device(String),
    /// The 440/660/880 Hz test tone (a product feature for checking a meeting's audio).
    TestTone,
    /// Listen only.
    Off,
}

/// Where the meeting's audio goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// A cpal output device by name.
    Device(String),
    /// Nowhere (no output device).
    Silent,
}

/// What video to send when video is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Camera {
    Device(camera::CameraDevice),
    /// The colour-bar test pattern (a product feature for machines without a camera).
    TestPattern,
}

/// The user's pick in the pre-join screen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceChoice {
    pub microphone: Microphone,
    pub speaker: Speaker,
    pub camera: Camera,
}

impl Default for DeviceChoice {
    fn default() -> Self {
        Self {
            microphone: Microphone::TestTone,
            speaker: Speaker::Silent,
            camera: Camera::TestPattern,
        }
    }
}

/// What the pickers offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceLists {
    pub microphones: Vec<String>,
    pub speakers: Vec<String>,
    pub cameras: Vec<camera::CameraDevice>,
}

/// Every microphone, speaker and camera (slow: call off the UI thread).
pub fn list() -> DeviceLists {
    DeviceLists {
        cameras: camera::list(),
        ..audio::list()
    }
}

/// Preferred devices by name (from settings); `None`: the first one found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicePreference {
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub camera: Option<String>,
}

impl DeviceChoice {
    /// The devices to remember from this choice (test tone, silence and the test pattern
    /// are not devices: nothing to remember, the first device found is used next time).
    pub fn preference(&self) -> DevicePreference {
        DevicePreference {
            microphone: match &self.microphone {
                Microphone::Device(name) => Some(name.clone()),
                Microphone::TestTone | Microphone::Off => None,
            },
            speaker: match &self.speaker {
                Speaker::Device(name) => Some(name.clone()),
                Speaker::Silent => None,
            },
            camera: match &self.camera {
                Camera::Device(camera) => Some(camera.name.clone()),
                Camera::TestPattern => None,
            },
        }
    }
}

impl DeviceLists {
    /// The preferred devices where they are present, else [`Self::default_choice`]'s.
    pub fn choice_for(&self, preferred: &DevicePreference) -> DeviceChoice {
        let mut choice = self.default_choice();
        if let Some(name) = &preferred.microphone
            && self.microphones.contains(name)
        {
            choice.microphone = Microphone::Device(name.clone());
        }
        if let Some(name) = &preferred.speaker
            && self.speakers.contains(name)
        {
            choice.speaker = Speaker::Device(name.clone());
        }
        if let Some(camera) = preferred
            .camera
            .as_ref()
            .and_then(|name| self.cameras.iter().find(|c| &c.name == name))
        {
            choice.camera = Camera::Device(camera.clone());
        }
        choice
    }

    /// The default choice for these devices: the first microphone, speaker and camera, or the
    /// test tone, silence and the test pattern when there are none.
    pub fn default_choice(&self) -> DeviceChoice {
        DeviceChoice {
            camera: self
                .cameras
                .first()
                .map_or(Camera::TestPattern, |c| Camera::Device(c.clone())),
            microphone: self
                .microphones
                .first()
                .map_or(Microphone::TestTone, |m| Microphone::Device(m.clone())),
            speaker: self
                .speakers
                .first()
                .map_or(Speaker::Silent, |s| Speaker::Device(s.clone())),
        }
    }
}

/// The test tone: 440, 660 and 880 Hz, half a second each, for about an hour.
pub fn test_tone() -> ToneSource {
    ToneSource::new(
        [440.0, 660.0, 880.0]
            .iter()
            .cycle()
            .take(3 * 2_400)
            .map(|f| (*f, 25))
            .collect(),
    )
}

/// Opened audio for a meeting, and a description of what is being sent.
pub struct OpenedAudio {
    pub source: Option<Box<dyn AudioSource + Send>>,
    pub sink: Option<Box<dyn AudioSink + Send>>,
    pub description: String,
    /// Echo cancellation, noise suppression and gain control are on (a real microphone).
    pub processed: bool,
}

/// Opens the chosen devices; a device that fails to open falls back (microphone → test tone,
/// speaker → silence) with a warning in the log, so a meeting never fails for want of audio.
/// A real microphone is cleaned (see [`microphone_chain`]); the test tone carries no room echo
/// or noise and is sent as it is.
pub fn open_audio(choice: &DeviceChoice) -> OpenedAudio {
    let sink = open_sink(&choice.speaker);
    let (source, description): (Box<dyn AudioSource + Send>, String) = match &choice.microphone {
        Microphone::Device(name) => match audio::Microphone::open(name) {
            Ok(mic) => {
                let (source, sink, processed) = microphone_chain(Box::new(mic), sink);
                return OpenedAudio {
                    source: Some(source),
                    sink,
                    description: name.clone(),
                    processed,
                };
            }
            Err(error) => {
                tracing::warn!(%error, "microphone unavailable; sending the test tone");
                (Box::new(test_tone()), crate::fl!("prejoin-mic-test-tone"))
            }
        },
        Microphone::TestTone => (Box::new(test_tone()), crate::fl!("prejoin-mic-test-tone")),
        Microphone::Off => {
            return OpenedAudio {
                source: None,
                sink,
                description: String::new(),
                processed: false,
            };
        }
    };
    OpenedAudio {
        source: Some(source),
        sink,
        description,
        processed: false,
    }
}

/// A real microphone's way out: WebRTC's echo cancellation, noise suppression and gain
/// control, with what the speakers play as the echo canceller's reference. Mute is the
/// pipeline's (nothing is sent), which keeps reading this chain, so the canceller keeps
/// learning the room while muted. A
/// processing module that cannot start leaves the microphone as it is, with a warning.
#[allow(clippy::type_complexity)]
fn microphone_chain(
    microphone: Box<dyn AudioSource + Send>,
    speakers: Option<Box<dyn AudioSink + Send>>,
) -> (
    Box<dyn AudioSource + Send>,
    Option<Box<dyn AudioSink + Send>>,
    bool,
) {
    let (source, sink, processed) = match AudioProcessor::new(AudioProcessingConfig::default()) {
        Ok(processor) => {
            let (source, sink) = with_processor(microphone, speakers, processor);
            (source, sink, true)
        }
        Err(error) => {
            tracing::warn!(%error, "audio processing unavailable; the microphone is sent as it is");
            (microphone, speakers, false)
        }
    };
    (source, sink, processed)
}

fn open_sink(speaker: &Speaker) -> Option<Box<dyn AudioSink + Send>> {
    match speaker {
        Speaker::Device(name) => match audio::Speakers::open(name) {
            Ok(sink) => Some(Box::new(sink)),
            Err(error) => {
                tracing::warn!(%error, "speaker unavailable; meeting audio is not played");
                None
            }
        },
        Speaker::Silent => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::level::level;
    use conclave_media::{FRAME_SAMPLES, MediaPipelineError};
    use std::sync::Arc;

    #[test]
    fn preferred_devices_are_chosen_when_present_and_remembered_by_name() {
        let lists = DeviceLists {
            microphones: vec!["Built-in".into(), "USB headset".into()],
            speakers: vec!["Speakers".into(), "USB headset".into()],
            cameras: vec![
                camera::CameraDevice {
                    index: 0,
                    name: "Integrated".into(),
                },
                camera::CameraDevice {
                    index: 2,
                    name: "Desk camera".into(),
                },
            ],
        };
        let preferred = DevicePreference {
            microphone: Some("USB headset".into()),
            speaker: Some("Unplugged dock".into()),
            camera: Some("Desk camera".into()),
        };
        let choice = lists.choice_for(&preferred);
        assert_eq!(choice.microphone, Microphone::Device("USB headset".into()));
        // Not plugged in: the first speaker, as with no preference.
        assert_eq!(choice.speaker, Speaker::Device("Speakers".into()));
        assert_eq!(choice.camera, Camera::Device(lists.cameras[1].clone()));
        assert_eq!(
            choice.preference(),
            DevicePreference {
                microphone: Some("USB headset".into()),
                speaker: Some("Speakers".into()),
                camera: Some("Desk camera".into()),
            }
        );
        // Synthetic sources are not devices to remember.
        assert_eq!(
            DeviceLists::default().default_choice().preference(),
            DevicePreference::default()
        );
    }

    #[test]
    fn without_devices_the_defaults_are_the_tone_and_silence() {
        let choice = DeviceLists::default().default_choice();
        assert_eq!(choice.microphone, Microphone::TestTone);
        assert_eq!(choice.speaker, Speaker::Silent);
        assert_eq!(choice.camera, Camera::TestPattern);
        let opened = open_audio(&choice);
        assert!(opened.source.is_some());
        assert!(opened.sink.is_none());
    }

    /// How long the speakers' sound takes to come back into the microphone: the app's
    /// playback queue and both devices' buffers.
    const ECHO_DELAY_SAMPLES: usize = 3 * FRAME_SAMPLES;

    /// A laptop without a headset: the microphone hears what the speakers played
    /// [`ECHO_DELAY_SAMPLES`] ago, half as loud.
    #[derive(Clone, Default)]
    struct Room(Arc<std::sync::Mutex<Vec<i16>>>);

    struct RoomSpeakers(Room);

    impl AudioSink for RoomSpeakers {
        fn play(&mut self, frame: &[i16]) -> Result<(), MediaPipelineError> {
            self.0.0.lock().expect("room").extend_from_slice(frame);
            Ok(())
        }
    }

    struct RoomMicrophone {
        room: Room,
        captured: usize,
    }

    impl AudioSource for RoomMicrophone {
        fn next_frame(&mut self, frame: &mut [i16]) -> Result<bool, MediaPipelineError> {
            let played = self.room.0.lock().expect("room");
            for (index, heard) in frame.iter_mut().enumerate() {
                *heard = (self.captured + index)
                    .checked_sub(ECHO_DELAY_SAMPLES)
                    .and_then(|at| played.get(at))
                    .map_or(0, |sample| sample / 2);
            }
            self.captured += frame.len();
            Ok(true)
        }
    }

    /// Plays the far end (the test tone) for 5 s through `speakers` in a room whose echo
    /// `microphone` sends; how far the echo was brought down in the last second, in dB.
    fn echo_drop_db(
        microphone: &mut dyn AudioSource,
        speakers: &mut dyn AudioSink,
        room: &Room,
    ) -> f64 {
        let mut far_end = test_tone();
        let (mut played, mut sent) = (vec![0i16; FRAME_SAMPLES], vec![0i16; FRAME_SAMPLES]);
        let (mut echo_level, mut sent_level) = (0.0f64, 0.0f64);
        for frame in 0..250 {
            assert!(far_end.next_frame(&mut played).expect("far end"));
            speakers.play(&played).expect("play");
            assert!(microphone.next_frame(&mut sent).expect("capture"));
            if frame >= 200 {
                let heard = &room.0.lock().expect("room")
                    [(frame * FRAME_SAMPLES).saturating_sub(ECHO_DELAY_SAMPLES)..][..FRAME_SAMPLES];
                echo_level += f64::from(level(heard)) / 2.0;
                sent_level += f64::from(level(&sent));
            }
        }
        20.0 * (echo_level / sent_level.max(1e-9)).log10()
    }

    #[test]
    fn a_real_microphone_loses_the_speakers_echo() {
        let room = Room::default();
        let microphone = RoomMicrophone {
            room: room.clone(),
            captured: 0,
        };
        let (mut source, sink, processed) = microphone_chain(
            Box::new(microphone),
            Some(Box::new(RoomSpeakers(room.clone()))),
        );
        assert!(processed, "the processing module started");
        let mut speakers = sink.expect("the speakers are kept");
        let cancelled = echo_drop_db(source.as_mut(), speakers.as_mut(), &room);

        // The same room, processed without the speakers' frames as the reference: noise
        // suppression alone may take some of a steady tone, not the echo.
        let control_room = Room::default();
        let processor = AudioProcessor::new(AudioProcessingConfig::default()).expect("module");
        let (mut unreferenced, _) = with_processor(
            Box::new(RoomMicrophone {
                room: control_room.clone(),
                captured: 0,
            }),
            None,
            processor,
        );
        let mut control_speakers = RoomSpeakers(control_room.clone());
        let without_reference =
            echo_drop_db(unreferenced.as_mut(), &mut control_speakers, &control_room);
        assert!(
            cancelled >= 15.0 && cancelled >= without_reference + 10.0,
            "the echo dropped {cancelled:.1} dB, {without_reference:.1} dB without the reference"
        );
    }

    #[test]
    fn the_test_tone_is_sent_unprocessed() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let choice = DeviceChoice {
            microphone: Microphone::TestTone,
            speaker: Speaker::Silent,
            camera: Camera::TestPattern,
        };
        let opened = open_audio(&choice);
        assert!(!opened.processed);
        let mut frame = vec![0i16; FRAME_SAMPLES];
        let mut tone = test_tone();
        let mut expected = vec![0i16; FRAME_SAMPLES];
        let mut source = opened.source.expect("a source");
        for _ in 0..10 {
            assert!(source.next_frame(&mut frame).expect("frame"));
            assert!(tone.next_frame(&mut expected).expect("frame"));
            assert_eq!(frame, expected, "the tone goes out sample for sample");
        }
    }

    #[test]
    fn a_missing_device_falls_back_to_the_tone() {
        let _language = crate::test_language(crate::i18n::Language::English);
        let choice = DeviceChoice {
            microphone: Microphone::Device("no such microphone".into()),
            speaker: Speaker::Device("no such speaker".into()),
            camera: Camera::TestPattern,
        };
        let opened = open_audio(&choice);
        assert_eq!(opened.description, crate::fl!("prejoin-mic-test-tone"));
        let mut source = opened.source.expect("a source");
        let mut frame = vec![0i16; FRAME_SAMPLES];
        assert!(source.next_frame(&mut frame).expect("frame"));
        assert!(level(&frame) > 0.1, "the tone is audible");
    }
}
