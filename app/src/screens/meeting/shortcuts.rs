//! Keyboard shortcuts in the meeting, so every control a participant or host needs in a hurry
//! works without a mouse, without first tabbing to it.
//!
//! Ctrl (⌘ on macOS) + Shift + M mutes or unmutes, + V starts or stops video, + A admits
//! everyone waiting, + L locks or unlocks. The Shift keeps them clear of text editing
//! shortcuts (and they only act on keys no text field took).

use iced::keyboard::Modifiers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    ToggleMute,
    ToggleCamera,
    AdmitAll,
    ToggleLock,
}

/// The shortcut a key press stands for, if any. `latin` is the key's latin letter
/// (`Key::to_latin`), so the shortcuts also work with a Japanese or Cyrillic layout.
pub fn shortcut(latin: Option<char>, modifiers: Modifiers) -> Option<Shortcut> {
    if !(modifiers.command() && modifiers.shift()) || modifiers.alt() {
        return None;
    }
    match latin?.to_ascii_lowercase() {
        'm' => Some(Shortcut::ToggleMute),
        'v' => Some(Shortcut::ToggleCamera),
        'a' => Some(Shortcut::AdmitAll),
        'l' => Some(Shortcut::ToggleLock),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use iced::keyboard::Key;
    use iced::keyboard::key::{Code, Physical};

    #[test]
    fn command_shift_letters_are_shortcuts_and_plain_typing_is_not() {
        let chord = Modifiers::COMMAND | Modifiers::SHIFT;
        assert_eq!(shortcut(Some('M'), chord), Some(Shortcut::ToggleMute));
        assert_eq!(shortcut(Some('m'), chord), Some(Shortcut::ToggleMute));
        assert_eq!(shortcut(Some('A'), chord), Some(Shortcut::AdmitAll));
        assert_eq!(shortcut(Some('L'), chord), Some(Shortcut::ToggleLock));
        assert_eq!(shortcut(Some('V'), chord), Some(Shortcut::ToggleCamera));
        assert_eq!(shortcut(Some('x'), chord), None);
        assert_eq!(shortcut(Some('A'), Modifiers::SHIFT), None, "a capital A");
        assert_eq!(shortcut(Some('a'), Modifiers::COMMAND), None, "select all");
        assert_eq!(shortcut(Some('a'), chord | Modifiers::ALT), None);
        assert_eq!(shortcut(None, chord), None);
    }

    #[test]
    fn a_non_latin_layout_uses_the_physical_key() {
        let key = Key::Character("ь".into());
        let latin = key.to_latin(Physical::Code(Code::KeyM));
        assert_eq!(
            shortcut(latin, Modifiers::COMMAND | Modifiers::SHIFT),
            Some(Shortcut::ToggleMute)
        );
    }
}
