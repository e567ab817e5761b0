//! The live meeting, from connecting to the end: the waiting room ([`crate::screens::lobby`])
//! until this client is in the MLS group, then the meeting (grid, padlock, verification code,
//! participants, host controls), and a clear end state (left, expelled, ended, refused).
//!
//! The meeting connection is this screen's subscription ([`crate::meeting_link`]); every
//! request goes through the [`LinkHandle`] it hands over, never from the UI thread to a socket.

pub mod end;
pub mod grid;
pub mod host_controls;
pub mod knock;
pub mod padlock;
pub mod participants;
pub mod shortcuts;
pub mod verification;

use crate::controls::button;
use conclave_core::client::{Event, LeftReason, Phase};
use conclave_protocol::{ClientMessage, ErrorCode};
use iced::widget::{column, container, row, scrollable, space, text, tooltip};
use iced::{Element, Length, Subscription, Task, event, keyboard, window};

use crate::devices::Camera;
use crate::fl;
use crate::meeting_link::{
    self, AudioState, LinkCommand, LinkError, LinkEvent, LinkHandle, LinkKey, MeetingView,
};
use crate::screens::lobby;
use crate::service::network_notice::NetworkNotice;

pub struct State {
    key: LinkKey,
    link: Option<LinkHandle>,
    view: MeetingView,
    lobby: lobby::State,
    verification: verification::State,
    host: host_controls::State,
    muted: bool,
    camera_on: bool,
    /// Everyone's latest video picture, by media sender (MLS leaf).
    pictures: crate::video::Pictures,
    /// Who is speaking (media sender).
    speaker: Option<u32>,
    focused: bool,
    /// The latest knock ("X is waiting"), until the lobby empties or it is dismissed.
    knock: Option<String>,
    /// The latest error or security warning from the meeting.
    notice: Option<String>,
    audio: Option<AudioState>,
    /// Why the chosen camera cannot be used, once the media task says so.
    camera_problem: Option<String>,
    /// What our own uplink is doing to what the others get.
    network: NetworkNotice,
    /// The padlock panel (what is protected, what E2EE turns off) is open.
    padlock_open: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    Link(LinkEvent),
    Lobby(lobby::Message),
    Verification(verification::Message),
    Host(host_controls::Message),
    Participants(participants::Message),
    ToggleMute,
    ToggleCamera,
    Leave,
    Back,
    DismissNotice,
    WindowFocused(bool),
    Notified,
    Shortcut(shortcuts::Shortcut),
    CopyPassword,
    TogglePadlock,
}

pub enum Action {
    None,
    Run(Task<Message>),
    /// The meeting is over for this user and they went back (or cancelled the wait).
    Closed,
}

impl State {
    pub fn new(key: LinkKey) -> Self {
        let number = key.request.meeting.to_string();
        Self {
            key,
            link: None,
            view: MeetingView::default(),
            lobby: lobby::State::new(number),
            verification: verification::State::default(),
            host: host_controls::State::default(),
            muted: false,
            camera_on: false,
            pictures: crate::video::Pictures::new(),
            speaker: None,
            focused: true,
            knock: None,
            notice: None,
            audio: None,
            camera_problem: None,
            network: NetworkNotice::Fine,
            padlock_open: false,
        }
    }

    /// The meeting as last reported (for the shell's window title, tests).
    pub fn meeting(&self) -> &MeetingView {
        &self.view
    }

    fn send(&self, message: ClientMessage) {
        if let Some(link) = &self.link {
            link.send(LinkCommand::Send(message));
        }
    }

    fn apply_view(&mut self, view: MeetingView) {
        self.verification.observe(view.code);
        if view.lobby.is_empty() {
            self.knock = None;
        }
        self.lobby.phase = view.phase.clone();
        if let Some(Phase::Left(LeftReason::Denied(reason))) = &view.phase {
            self.lobby.problem = Some(end::denied_text(reason));
        }
        self.view = view;
    }

    fn on_link(&mut self, event: LinkEvent) -> Action {
        match event {
            LinkEvent::Ready(link) => self.link = Some(link),
            LinkEvent::View(view) => self.apply_view(*view),
            LinkEvent::Audio(state) => self.audio = Some(state),
            LinkEvent::Video(pictures) => self.pictures = pictures,
            LinkEvent::Speaker(speaker) => self.speaker = speaker,
            LinkEvent::CameraFailed(detail) => self.camera_problem = Some(detail),
            LinkEvent::Network(notice) => self.network = notice,
            LinkEvent::Failed(error) => {
                self.lobby.problem = Some(match error {
                    LinkError::Connect(detail) | LinkError::Identity(detail) => {
                        fl!("meeting-connect-failed", detail = detail)
                    }
                    LinkError::Unauthorized => fl!("meeting-unauthorized"),
                    LinkError::Policy(refusal) => refusal,
                    LinkError::UpdateRequired { minimum, url } => {
                        let explain = fl!(
                            "update-required-explain",
                            minimum = minimum.as_str(),
                            current = conclave_core::client::CLIENT_VERSION
                        );
                        match url {
                            Some(url) => format!(
                                "{explain} {}",
                                fl!("update-required-where", url = url.as_str())
                            ),
                            None => explain,
                        }
                    }
                });
            }
            LinkEvent::Engine(event) => return self.on_engine(event),
        }
        Action::None
    }

    fn on_engine(&mut self, event: Event) -> Action {
        match event {
            Event::Knock(entry) => {
                let name = entry.display_name.as_str().to_owned();
                self.knock = Some(fl!("meeting-knock", name = name.as_str()));
                if !self.focused {
                    let speaker = self.key.devices.speaker.clone();
                    return Action::Run(Task::perform(knock::alert(name, speaker), |()| {
                        Message::Notified
                    }));
                }
            }
            Event::Error { code, message, .. } => {
                let text = end::error_text(code, &message);
                // Before admission a refusal ends the wait; afterwards it is a notice.
                if self.view.me.is_none()
                    && matches!(
                        code,
                        ErrorCode::WrongPassword
                            | ErrorCode::Throttled
                            | ErrorCode::MeetingNotFound
                            | ErrorCode::SignInRequired
                            | ErrorCode::Unauthorized
                    )
                {
                    self.lobby.problem = Some(text);
                } else {
                    self.notice = Some(text);
                }
            }
            Event::SecurityWarning(detail) => {
                self.notice = Some(fl!("meeting-security-warning", detail = detail));
            }
            _ => {}
        }
        Action::None
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Link(event) => return self.on_link(event),
            Message::Lobby(lobby::Message::Cancel) | Message::Back => {
                self.send(ClientMessage::Leave);
                return Action::Closed;
            }
            Message::Verification(message) => self.verification.update(message),
            Message::Host(message) => {
                if let Some(request) = self.host.update(message) {
                    self.send(request);
                }
            }
            Message::Participants(participants::Message::Expel(participant)) => {
                self.send(ClientMessage::Expel { participant });
            }
            Message::Participants(participants::Message::MakeCoHost(participant)) => {
                self.send(ClientMessage::AssignCoHost { participant });
            }
            Message::ToggleMute => {
                self.muted = !self.muted;
                if let Some(link) = &self.link {
                    link.send(LinkCommand::SetMuted(self.muted));
                }
            }
            Message::ToggleCamera => {
                self.camera_on = !self.camera_on;
                if let Some(link) = &self.link {
                    link.send(LinkCommand::SetCamera(self.camera_on));
                }
            }
            Message::Leave => self.send(ClientMessage::Leave),
            Message::TogglePadlock => self.padlock_open = !self.padlock_open,
            Message::DismissNotice => {
                self.notice = None;
                self.knock = None;
            }
            Message::WindowFocused(focused) => self.focused = focused,
            Message::Notified => {}
            Message::Shortcut(shortcut) => return self.on_shortcut(shortcut),
            Message::CopyPassword => {
                if let Some(password) = &self.key.request.password {
                    return Action::Run(iced::clipboard::write(password.expose().to_owned()));
                }
            }
        }
        Action::None
    }

    fn on_shortcut(&mut self, shortcut: shortcuts::Shortcut) -> Action {
        let in_meeting = matches!(self.view.phase, Some(Phase::InMeeting));
        match shortcut {
            shortcuts::Shortcut::ToggleMute if in_meeting => {
                return self.update(Message::ToggleMute);
            }
            shortcuts::Shortcut::ToggleCamera if in_meeting => {
                return self.update(Message::ToggleCamera);
            }
            shortcuts::Shortcut::AdmitAll
                if self.view.is_moderator() && !self.view.lobby.is_empty() =>
            {
                self.send(ClientMessage::AdmitAll);
            }
            shortcuts::Shortcut::ToggleLock if self.view.is_moderator() => {
                let locked = self.view.meeting.as_ref().is_some_and(|m| m.locked);
                self.send(if locked {
                    ClientMessage::Unlock
                } else {
                    ClientMessage::Lock
                });
            }
            _ => {}
        }
        Action::None
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let link = meeting_link::subscription(self.key.clone()).map(Message::Link);
        let focus = event::listen_with(|event, status, _window| match event {
            iced::Event::Window(window::Event::Focused) => Some(Message::WindowFocused(true)),
            iced::Event::Window(window::Event::Unfocused) => Some(Message::WindowFocused(false)),
            iced::Event::Keyboard(keyboard::Event::KeyPressed {
                key,
                physical_key,
                modifiers,
                ..
            }) if status == event::Status::Ignored => {
                shortcuts::shortcut(key.to_latin(physical_key), modifiers).map(Message::Shortcut)
            }
            _ => None,
        });
        Subscription::batch([link, focus])
    }

    pub fn view(&self) -> Element<'_, Message> {
        match &self.view.phase {
            Some(Phase::Left(LeftReason::Denied(_))) => {
                return self.lobby.view().map(Message::Lobby);
            }
            Some(Phase::Left(reason)) => return end::view(end::left_text(reason)),
            // Lost while waiting in the lobby or for the keys too, not only in the meeting.
            Some(_) if !self.view.connected => {
                return end::view(fl!("meeting-disconnected"));
            }
            Some(Phase::InMeeting) => {}
            _ => return self.lobby.view().map(Message::Lobby),
        }
        self.meeting_view()
    }

    /// The meeting number, and the password to pass on by another channel (never shown in
    /// clear: it is copied, so it does not end up in screenshots or screen shares).
    fn invite_view(&self) -> Element<'_, Message> {
        let mut panel = column![text(fl!(
            "meeting-invite-number",
            number = self.lobby.meeting_number.as_str()
        ))]
        .spacing(6);
        if self.key.request.password.is_some() {
            panel = panel.push(
                row![
                    text(fl!("meeting-invite-password")).width(Length::Fill),
                    button(text(fl!("meeting-invite-copy-password")))
                        .on_press(Message::CopyPassword),
                ]
                .spacing(8),
            );
        }
        container(panel)
            .padding(8)
            .width(Length::Fill)
            .style(container::rounded_box)
            .into()
    }

    fn meeting_view(&self) -> Element<'_, Message> {
        let body = row![
            container(grid::view(&grid::Tiles {
                view: &self.view,
                muted: self.muted,
                camera_on: self.camera_on,
                pictures: &self.pictures,
                speaker: self.speaker,
            }))
            .width(Length::Fill),
            scrollable(self.side_panel()).width(420),
        ]
        .spacing(12)
        .height(Length::Fill);

        column![self.top_bar(), self.banners(), body, self.controls_bar()]
            .spacing(12)
            .padding(16)
            .into()
    }

    /// The meeting number and the padlock button.
    fn top_bar(&self) -> Element<'_, Message> {
        row![
            text(fl!(
                "lobby-meeting",
                number = self.lobby.meeting_number.as_str()
            ))
            .size(18),
            space::horizontal(),
            button(padlock::view(
                self.view.end_to_end_encrypted,
                self.view.unannounced()
            ))
            .style(button::text)
            .padding(0)
            .on_press(Message::TogglePadlock),
        ]
        .spacing(12)
        .into()
    }

    /// Mute, camera (its device in a tooltip) and Leave.
    fn controls_bar(&self) -> Element<'_, Message> {
        let mute_label = if self.muted {
            fl!("meeting-unmute")
        } else {
            fl!("meeting-mute")
        };
        let camera_label = if self.camera_on {
            fl!("meeting-camera-stop")
        } else {
            fl!("meeting-camera-start")
        };
        row![
            button(text(mute_label)).on_press(Message::ToggleMute),
            tooltip(
                button(text(camera_label)).on_press(Message::ToggleCamera),
                container(text(match &self.key.devices.camera {
                    Camera::Device(device) => {
                        fl!("meeting-camera-device", name = device.name.as_str())
                    }
                    Camera::TestPattern => fl!("meeting-camera-pattern"),
                }))
                .padding(8)
                .style(container::rounded_box),
                tooltip::Position::Top,
            ),
            space::horizontal(),
            button(text(fl!("meeting-leave")))
                .style(button::danger)
                .on_press(Message::Leave),
        ]
        .spacing(8)
        .into()
    }

    /// The lines above the tiles: the padlock panel, knocks and notices (dismissable), the
    /// audio state, the network notice and a camera problem.
    fn banners(&self) -> Element<'_, Message> {
        let mut banners = column![].spacing(6);
        if self.padlock_open {
            banners = banners.push(padlock::panel(
                self.view.end_to_end_encrypted,
                self.view.unannounced(),
            ));
        }
        for line in [&self.knock, &self.notice].into_iter().flatten() {
            banners = banners.push(
                container(
                    row![
                        text(line.clone()).width(Length::Fill),
                        button(text(fl!("meeting-dismiss"))).on_press(Message::DismissNotice),
                    ]
                    .spacing(8),
                )
                .padding(8)
                .style(container::rounded_box),
            );
        }
        if let Some(audio) = &self.audio {
            let line = match audio {
                AudioState::Connected { source } => {
                    fl!("meeting-audio-connected", source = source.as_str())
                }
                AudioState::Failed(detail) => {
                    fl!("meeting-audio-failed", detail = detail.as_str())
                }
            };
            banners = banners.push(text(line).size(12));
        }
        let network = match self.network {
            NetworkNotice::Fine => None,
            NetworkNotice::AudioLossy => Some(fl!("meeting-network-audio-lossy")),
            NetworkNotice::VideoReduced => Some(fl!("meeting-network-video-reduced")),
        };
        if let Some(line) = network {
            banners = banners.push(text(line).size(12).style(text::warning));
        }
        if let Some(detail) = &self.camera_problem {
            banners = banners.push(
                text(fl!("meeting-camera-failed", detail = detail.as_str()))
                    .size(12)
                    .style(text::danger),
            );
        }
        banners.into()
    }

    /// The side panel: the lobby for moderators, verification, the invitation, participants
    /// and host controls.
    fn side_panel(&self) -> Element<'_, Message> {
        let mut side = column![].spacing(12).padding(iced::Padding::ZERO.right(14));
        if self.view.is_moderator() && !self.view.lobby.is_empty() {
            side = side.push(
                container(host_controls::lobby_view(&self.view).map(Message::Host))
                    .padding(12)
                    .width(Length::Fill)
                    .style(container::bordered_box),
            );
        }
        side = side
            .push(
                self.verification
                    .view(self.view.unannounced())
                    .map(Message::Verification),
            )
            .push(self.invite_view())
            .push(participants::view(&self.view).map(Message::Participants));
        if self.view.is_moderator() {
            side = side.push(self.host.view(&self.view).map(Message::Host));
        }
        side = side.push(text(fl!("meeting-shortcuts")).size(12));
        side.into()
    }
}

#[cfg(test)]
mod tests;
