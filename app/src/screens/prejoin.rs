//! Pre-join: check how you will look and sound before entering. Camera picker with a live
//! preview (nokhwa; the moving test pattern where there is no camera), microphone picker with a
//! live level meter, speaker picker with a test sound, the name others will see, Join / Cancel.

use std::time::Duration;

use crate::controls::{button, pick_list};
use conclave_protocol::DisplayName;
use iced::widget::{column, image, progress_bar, row, text, text_input};
use iced::{Element, Subscription, Task};

use crate::devices::camera::{CameraCapture, CameraStatus};
use crate::devices::{
    self, Camera, DeviceChoice, DeviceLists, DevicePreference, Microphone, Speaker, pattern,
};
use crate::fl;
use crate::screens::page;
use crate::service::join::JoinRequest;
use crate::service::level::LevelMeter;

pub const NAME_INPUT: &str = "prejoin-name";
/// Preview frame rate: enough to see it move, cheap to render.
const PREVIEW_FPS: u64 = 15;

/// A picker entry: the choice and the words shown for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labeled<T> {
    pub value: T,
    label: String,
}

impl<T> std::fmt::Display for Labeled<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

fn microphone_label(microphone: &Microphone) -> Labeled<Microphone> {
    let label = match microphone {
        Microphone::Device(name) => name.clone(),
        Microphone::TestTone => fl!("prejoin-mic-test-tone"),
        Microphone::Off => fl!("prejoin-mic-off"),
    };
    Labeled {
        value: microphone.clone(),
        label,
    }
}

fn camera_label(camera: &Camera) -> Labeled<Camera> {
    let label = match camera {
        Camera::Device(device) => device.name.clone(),
        Camera::TestPattern => fl!("prejoin-camera-test-pattern"),
    };
    Labeled {
        value: camera.clone(),
        label,
    }
}

fn speaker_label(speaker: &Speaker) -> Labeled<Speaker> {
    let label = match speaker {
        Speaker::Device(name) => name.clone(),
        Speaker::Silent => fl!("prejoin-speaker-none"),
    };
    Labeled {
        value: speaker.clone(),
        label,
    }
}

pub struct State {
    request: JoinRequest,
    name: String,
    preferred: DevicePreference,
    devices: DeviceLists,
    choice: DeviceChoice,
    /// The chosen camera, running while this screen shows (its light is on).
    camera: Option<CameraCapture>,
    /// The picture the preview shows: the camera's latest, else the test pattern.
    preview: Option<image::Handle>,
    frame: u64,
    level: f32,
    speaker_test: Option<Result<(), String>>,
    error: Option<String>,
}

/// One picture of the moving test pattern.
fn pattern_picture(frame: u64) -> image::Handle {
    image::Handle::from_rgba(pattern::WIDTH, pattern::HEIGHT, pattern::frame(frame))
}

#[derive(Debug, Clone)]
pub enum Message {
    DevicesListed(DeviceLists),
    NameChanged(String),
    MicrophonePicked(Labeled<Microphone>),
    SpeakerPicked(Labeled<Speaker>),
    CameraPicked(Labeled<Camera>),
    PreviewTick,
    Level(f32),
    TestSpeaker,
    SpeakerTested(Result<(), String>),
    Join,
    Cancel,
}

pub enum Action {
    None,
    Run(Task<Message>),
    /// Go in with these devices.
    Join(Box<JoinRequest>, DeviceChoice),
    Cancel,
}

impl State {
    /// The screen and the task that lists audio devices (off the UI thread).
    /// `preferred`: the devices from settings, chosen where they are present.
    pub fn new(request: JoinRequest, preferred: DevicePreference) -> (Self, Task<Message>) {
        let name = request.display_name.as_str().to_owned();
        let list = Task::perform(
            async {
                tokio::task::spawn_blocking(devices::list)
                    .await
                    .unwrap_or_default()
            },
            Message::DevicesListed,
        );
        (
            Self {
                request,
                name,
                preferred,
                devices: DeviceLists::default(),
                choice: DeviceChoice::default(),
                camera: None,
                preview: None,
                frame: 0,
                level: 0.0,
                speaker_test: None,
                error: None,
            },
            list,
        )
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::DevicesListed(lists) => {
                self.choice = lists.choice_for(&self.preferred);
                self.devices = lists;
                self.start_camera();
            }
            Message::CameraPicked(choice) => {
                self.choice.camera = choice.value;
                self.start_camera();
            }
            Message::NameChanged(name) => {
                self.name = name;
                self.error = None;
            }
            Message::MicrophonePicked(choice) => {
                self.choice.microphone = choice.value;
                self.level = 0.0;
            }
            Message::SpeakerPicked(choice) => {
                self.choice.speaker = choice.value;
                self.speaker_test = None;
            }
            Message::PreviewTick => {
                self.frame = self.frame.wrapping_add(1);
                let camera_picture = match &self.camera {
                    Some(camera) if matches!(camera.status(), CameraStatus::Capturing { .. }) => {
                        // Cropped as it will be sent, so the preview shows what others see.
                        let sent = conclave_media::h264::VideoEncoderConfig::default();
                        camera
                            .latest()
                            .map(|frame| {
                                devices::camera::crop_to_aspect(frame, (sent.width, sent.height))
                            })
                            .as_ref()
                            .and_then(crate::video::to_image)
                    }
                    _ => None,
                };
                // The test pattern (chosen, or while a camera opens or has failed) is drawn
                // here once per tick, not in every `view`.
                self.preview = camera_picture.or_else(|| Some(pattern_picture(self.frame)));
            }
            Message::Level(level) => self.level = level,
            Message::TestSpeaker => {
                let Speaker::Device(name) = self.choice.speaker.clone() else {
                    return Action::None;
                };
                return Action::Run(Task::perform(test_speaker(name), Message::SpeakerTested));
            }
            Message::SpeakerTested(result) => self.speaker_test = Some(result),
            Message::Join => match DisplayName::new(&self.name) {
                Ok(display_name) => {
                    let mut request = self.request.clone();
                    request.display_name = display_name;
                    return Action::Join(Box::new(request), self.choice.clone());
                }
                Err(_) => self.error = Some(fl!("prejoin-name-invalid")),
            },
            Message::Cancel => return Action::Cancel,
        }
        Action::None
    }

    /// Opens the chosen camera for the preview (closing the previous one); its thread does the
    /// slow part.
    fn start_camera(&mut self) {
        self.preview = None;
        self.camera = match &self.choice.camera {
            Camera::Device(device) => Some(CameraCapture::start(device.index, true)),
            Camera::TestPattern => None,
        };
    }

    /// The preview and what to say under it.
    fn camera_view(&self) -> Element<'_, Message> {
        let (width, height) = (pattern::WIDTH, pattern::HEIGHT);
        let handle = self
            .preview
            .clone()
            .unwrap_or_else(|| pattern_picture(self.frame));
        let note = match self.camera.as_ref().map(CameraCapture::status) {
            None => text(fl!("prejoin-camera-note")).size(12),
            Some(CameraStatus::Failed(detail)) => {
                text(fl!("prejoin-camera-failed", detail = detail.as_str()))
                    .size(12)
                    .style(text::danger)
            }
            Some(CameraStatus::Idle) => text(fl!("prejoin-camera-starting")).size(12),
            Some(CameraStatus::Capturing { .. }) => text(fl!("prejoin-camera-note")).size(12),
        };
        let mut cameras: Vec<Labeled<Camera>> = self
            .devices
            .cameras
            .iter()
            .map(|c| camera_label(&Camera::Device(c.clone())))
            .collect();
        cameras.push(camera_label(&Camera::TestPattern));
        column![
            text(fl!("prejoin-camera")),
            pick_list(
                cameras,
                Some(camera_label(&self.choice.camera)),
                Message::CameraPicked
            ),
            image(handle).width(width).height(height),
            note,
        ]
        .spacing(6)
        .max_width(width)
        .into()
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let preview = iced::time::every(Duration::from_millis(1000 / PREVIEW_FPS))
            .map(|_| Message::PreviewTick);
        let meter = match &self.choice.microphone {
            Microphone::Off => Subscription::none(),
            microphone => Subscription::run_with(microphone.clone(), |microphone| {
                let microphone = microphone.clone();
                iced::stream::channel(4, async move |mut output| {
                    use iced::futures::SinkExt as _;
                    let Some(mut meter) = LevelMeter::open(microphone).await else {
                        return;
                    };
                    while let Some(peak) = meter.next_peak().await {
                        if output.send(Message::Level(peak)).await.is_err() {
                            return;
                        }
                    }
                })
            }),
        };
        Subscription::batch([preview, meter])
    }

    pub fn view(&self) -> Element<'_, Message> {
        let mut microphones: Vec<Labeled<Microphone>> = self
            .devices
            .microphones
            .iter()
            .map(|m| microphone_label(&Microphone::Device(m.clone())))
            .collect();
        microphones.push(microphone_label(&Microphone::TestTone));
        microphones.push(microphone_label(&Microphone::Off));
        let mut speakers: Vec<Labeled<Speaker>> = self
            .devices
            .speakers
            .iter()
            .map(|s| speaker_label(&Speaker::Device(s.clone())))
            .collect();
        speakers.push(speaker_label(&Speaker::Silent));

        let speaker_test = match &self.speaker_test {
            None => text(""),
            Some(Ok(())) => text(fl!("prejoin-speaker-tested")),
            Some(Err(detail)) => {
                text(fl!("prejoin-speaker-failed", detail = detail.as_str())).style(text::danger)
            }
        };
        let test_button = button(text(fl!("prejoin-test-speaker"))).on_press_maybe(
            matches!(self.choice.speaker, Speaker::Device(_)).then_some(Message::TestSpeaker),
        );
        let mut form = column![
            text(fl!("prejoin-title")).size(24),
            text(fl!(
                "lobby-meeting",
                number = self.request.meeting.to_string()
            )),
            text(fl!("prejoin-e2ee-note")).size(12),
            row![
                self.camera_view(),
                column![
                    text(fl!("prejoin-microphone")),
                    pick_list(
                        microphones,
                        Some(microphone_label(&self.choice.microphone)),
                        Message::MicrophonePicked
                    ),
                    text(fl!("prejoin-level")).size(12),
                    progress_bar(0.0..=1.0, self.level.clamp(0.0, 1.0)).girth(8),
                    text(fl!("prejoin-speaker")),
                    pick_list(
                        speakers,
                        Some(speaker_label(&self.choice.speaker)),
                        Message::SpeakerPicked
                    ),
                    test_button,
                    speaker_test,
                ]
                .spacing(6),
            ]
            .spacing(24),
            text(fl!("prejoin-name")),
            text_input(&fl!("prejoin-name"), &self.name)
                .id(NAME_INPUT)
                .on_input(Message::NameChanged)
                .on_submit(Message::Join),
        ]
        .spacing(10);
        if let Some(error) = &self.error {
            form = form.push(text(error.clone()).style(text::danger));
        }
        form = form.push(
            row![
                button(text(fl!("prejoin-join"))).on_press(Message::Join),
                button(text(fl!("prejoin-cancel")))
                    .style(button::secondary)
                    .on_press(Message::Cancel),
            ]
            .spacing(8),
        );
        page(form)
    }
}

/// Plays one second of the test tone on `name`.
async fn test_speaker(name: String) -> Result<(), String> {
    use conclave_media::{AudioSink, AudioSource, FRAME_SAMPLES};
    tokio::task::spawn_blocking(move || {
        let mut sink = devices::audio::Speakers::open(&name).map_err(|e| e.to_string())?;
        let mut tone = devices::test_tone();
        let mut frame = vec![0i16; FRAME_SAMPLES];
        for _ in 0..50 {
            tone.next_frame(&mut frame).map_err(|e| e.to_string())?;
            sink.play(&frame).map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(1_100));
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Language;
    use conclave_core::client::TlsTrust;
    use conclave_protocol::MeetingNumber;
    use iced::widget::Id;
    use iced_test::simulator;

    fn request() -> JoinRequest {
        JoinRequest {
            server: "127.0.0.1:8443".into(),
            trust: TlsTrust::PublicRoots,
            meeting: MeetingNumber::parse("123456789").expect("number"),
            password: None,
            display_name: DisplayName::new("Aiko").expect("name"),
            identity: None,
        }
    }

    fn run(
        state: &mut State,
        act: impl FnOnce(&mut iced_test::Simulator<'_, Message>),
    ) -> Vec<Action> {
        let messages = {
            let mut ui = simulator(state.view());
            act(&mut ui);
            ui.into_messages().collect::<Vec<_>>()
        };
        messages.into_iter().map(|m| state.update(m)).collect()
    }

    #[test]
    fn join_takes_the_typed_name_and_the_fallback_devices() {
        let _language = crate::test_language(Language::English);
        let (mut state, _) = State::new(request(), DevicePreference::default());
        state.update(Message::DevicesListed(DeviceLists::default()));
        run(&mut state, |ui| {
            ui.click(Id::new(NAME_INPUT)).expect("name field");
            ui.typewrite(" Tanaka");
        });
        let actions = run(&mut state, |ui| {
            ui.click(fl!("prejoin-join").as_str()).expect("join button");
        });
        let [Action::Join(request, choice)] = actions.as_slice() else {
            panic!("expected a join");
        };
        assert_eq!(request.display_name.as_str(), "Aiko Tanaka");
        assert_eq!(choice.microphone, Microphone::TestTone);
        assert_eq!(choice.speaker, Speaker::Silent);
    }

    #[test]
    fn an_empty_name_is_refused_on_screen_and_cancel_leaves() {
        let _language = crate::test_language(Language::Japanese);
        let (mut state, _) = State::new(request(), DevicePreference::default());
        state.update(Message::NameChanged("   ".into()));
        let actions = run(&mut state, |ui| {
            ui.click(fl!("prejoin-join").as_str()).expect("join button");
        });
        assert!(matches!(actions.as_slice(), [Action::None]));
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("prejoin-name-invalid")).is_ok());
        drop(ui);
        let actions = run(&mut state, |ui| {
            ui.click(fl!("prejoin-cancel").as_str()).expect("cancel");
        });
        assert!(matches!(actions.as_slice(), [Action::Cancel]));
    }

    #[test]
    fn a_camera_that_cannot_open_says_why_and_the_pattern_can_be_picked() {
        let _language = crate::test_language(Language::English);
        let (mut state, _) = State::new(request(), DevicePreference::default());
        let phantom = devices::camera::CameraDevice {
            index: 4_000,
            name: "Phantom Cam".into(),
        };
        state.update(Message::DevicesListed(DeviceLists {
            cameras: vec![phantom.clone()],
            ..DeviceLists::default()
        }));
        assert_eq!(state.choice.camera, Camera::Device(phantom.clone()));
        // The camera thread tries and fails (no such device); the screen says so.
        let mut detail = None;
        for _ in 0..200 {
            if let Some(CameraStatus::Failed(why)) = state.camera.as_ref().map(|c| c.status()) {
                detail = Some(why);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let detail = detail.expect("the phantom camera fails");
        state.update(Message::PreviewTick);
        let mut ui = simulator(state.view());
        assert!(
            ui.find(fl!("prejoin-camera-failed", detail = detail.as_str()))
                .is_ok()
        );
        drop(ui);
        // Picking the test pattern closes the camera; Join carries the pick.
        state.update(Message::CameraPicked(camera_label(&Camera::TestPattern)));
        assert!(state.camera.is_none());
        let actions = run(&mut state, |ui| {
            ui.click(fl!("prejoin-join").as_str()).expect("join button");
        });
        let [Action::Join(_, choice)] = actions.as_slice() else {
            panic!("expected a join");
        };
        assert_eq!(choice.camera, Camera::TestPattern);
    }

    #[test]
    fn devices_join_and_cancel_can_be_chosen_from_the_keyboard() {
        use iced::keyboard::key::Named;
        let _language = crate::test_language(Language::English);
        let (mut state, _) = State::new(request(), DevicePreference::default());
        state.update(Message::DevicesListed(DeviceLists {
            microphones: vec!["USB microphone".into()],
            speakers: vec!["Headphones".into()],
            cameras: Vec::new(),
        }));
        let messages = crate::controls::reachable(
            || state.view(),
            12,
            &[Named::ArrowDown, Named::ArrowUp, Named::Enter],
        );
        crate::controls::assert_reachable(
            &messages,
            &[
                "MicrophonePicked(",
                "SpeakerPicked(",
                "TestSpeaker",
                "Join",
                "Cancel",
            ],
        );
    }
}
