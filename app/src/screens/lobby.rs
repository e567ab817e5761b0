//! The participant's waiting room: "waiting for the host to let you in", with Cancel. Shown by
//! the meeting screen while this client is connecting, in the lobby, or admitted and waiting
//! for its MLS Welcome; refusals (denied, wrong password, …) show as a clear message.

use crate::controls::button;
use conclave_core::client::Phase;
use iced::widget::{column, text};
use iced::{Element, Task};

use crate::fl;
use crate::screens::page;

/// What the waiting room knows.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub meeting_number: String,
    pub phase: Option<Phase>,
    /// A refusal or failure in the user's language; the wait is over.
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Cancel,
}

pub enum Action {
    None,
    Run(Task<Message>),
    /// The user gave up waiting (or acknowledged a refusal).
    Cancel,
}

impl State {
    pub fn new(meeting_number: String) -> Self {
        Self {
            meeting_number,
            phase: None,
            problem: None,
        }
    }

    pub fn update(&mut self, message: Message) -> Action {
        match message {
            Message::Cancel => Action::Cancel,
        }
    }

    pub fn view(&self) -> Element<'_, Message> {
        let status = match (&self.problem, &self.phase) {
            (Some(problem), _) => text(problem.clone()).style(text::danger),
            (None, Some(Phase::InLobby)) => text(fl!("lobby-title")).size(24),
            (None, Some(Phase::Admitted)) => text(fl!("lobby-admitted")).size(24),
            (None, _) => text(fl!("lobby-connecting")).size(24),
        };
        let hint = if self.problem.is_none() && self.phase == Some(Phase::InLobby) {
            text(fl!("lobby-hint"))
        } else {
            text("")
        };
        let cancel = if self.problem.is_some() {
            fl!("meeting-back")
        } else {
            fl!("lobby-cancel")
        };
        page(
            column![
                text(fl!("lobby-meeting", number = self.meeting_number.as_str())).size(16),
                status,
                hint,
                button(text(cancel)).on_press(Message::Cancel),
            ]
            .spacing(16),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Language;
    use iced_test::simulator;

    #[test]
    fn waiting_shows_the_message_and_cancel_gives_up() {
        let _language = crate::test_language(Language::English);
        let mut state = State::new("123 456 789".into());
        state.phase = Some(Phase::InLobby);
        let messages = {
            let mut ui = simulator(state.view());
            assert!(ui.find(fl!("lobby-title")).is_ok());
            ui.click(fl!("lobby-cancel").as_str())
                .expect("cancel button");
            ui.into_messages().collect::<Vec<_>>()
        };
        let actions: Vec<Action> = messages.into_iter().map(|m| state.update(m)).collect();
        assert!(matches!(actions.as_slice(), [Action::Cancel]));
    }

    #[test]
    fn a_refusal_is_shown_instead_of_waiting() {
        let _language = crate::test_language(Language::Japanese);
        let mut state = State::new("123".into());
        state.phase = Some(Phase::InLobby);
        state.problem = Some(fl!("meeting-denied-by-host"));
        let mut ui = simulator(state.view());
        assert!(ui.find(fl!("meeting-denied-by-host")).is_ok());
        assert!(ui.find(fl!("lobby-title")).is_err());
        assert!(ui.find(fl!("meeting-back")).is_ok());
    }
}
