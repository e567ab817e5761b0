//! Getting a saved meeting out: the invitation (`.ics` and text) and the separate password
//! message, rendered by `conclave_core::invite`, and saving a file through the native dialog.

use std::path::{Path, PathBuf};

use chrono::Utc;
use conclave_core::invite::{
    InvitationInput, Language as InviteLanguage, render_ics, render_password_message, render_text,
};

use iced::Task;

use super::{Action, Message, Saved, State};
use crate::fl;
use crate::screens::UiError;

fn invite_language() -> InviteLanguage {
    InviteLanguage::from_tag(crate::i18n::current_language().tag())
}

impl State {
    /// Asks where to save the invitation `.ics` and writes it there.
    pub(super) fn export_ics(&mut self) -> Action {
        match self.invitation_ics() {
            Some(Ok(ics)) => {
                let file_name = self
                    .saved
                    .as_ref()
                    .map(|s| format!("conclave-{}.ics", s.meeting.number))
                    .unwrap_or_else(|| "conclave.ics".into());
                return Action::Run(Task::perform(
                    save_with_dialog(file_name, ics),
                    Message::Exported,
                ));
            }
            Some(Err(error)) => self.error = Some(error),
            None => {}
        }
        Action::None
    }

    fn input<'a>(&'a self, saved: &'a Saved) -> InvitationInput<'a> {
        InvitationInput {
            meeting: &saved.meeting,
            password: saved.password.as_deref(),
            language: invite_language(),
            organizer_email: None,
            now: Utc::now(),
        }
    }

    /// The invitation as `.ics` text (core's renderer; the password only if the host allowed it).
    pub fn invitation_ics(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        Some(render_ics(&self.input(saved)).map_err(|e| UiError::BadAnswer(e.to_string())))
    }

    pub fn invitation_text(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        Some(render_text(&self.input(saved)).map_err(|e| UiError::BadAnswer(e.to_string())))
    }

    pub fn password_message(&self) -> Option<Result<String, UiError>> {
        let saved = self.saved.as_ref()?;
        let password = saved.password.as_deref()?;
        Some(
            render_password_message(&saved.meeting, password, invite_language())
                .map_err(|e| UiError::BadAnswer(e.to_string())),
        )
    }
}

/// Asks where to save (native dialog) and writes the file; `None` if the user cancelled.
///
/// A dialog that "returns" faster than anyone could press Cancel never opened (on Linux
/// without an xdg portal or zenity, rfd gives up at once): the file then goes to the
/// Downloads folder (else the home folder) under a name not yet taken, and the notice says
/// where, so nothing is lost.
pub async fn save_with_dialog(
    file_name: String,
    content: String,
) -> Result<Option<PathBuf>, UiError> {
    let asked = std::time::Instant::now();
    let Some(handle) = rfd::AsyncFileDialog::new()
        .set_file_name(&file_name)
        .save_file()
        .await
    else {
        if asked.elapsed() >= NO_DIALOG_WITHIN {
            return Ok(None);
        }
        tracing::warn!("no file dialog could open; saving to the downloads folder");
        let folder = dirs::download_dir()
            .or_else(dirs::home_dir)
            .ok_or_else(|| UiError::File(fl!("common-no-save-folder")))?;
        let path = free_path(&folder, &file_name);
        tokio::fs::write(&path, content)
            .await
            .map_err(|e| UiError::File(format!("{}: {e}", path.display())))?;
        return Ok(Some(path));
    };
    let path = handle.path().to_path_buf();
    tokio::fs::write(&path, content)
        .await
        .map_err(|e| UiError::File(format!("{}: {e}", path.display())))?;
    Ok(Some(path))
}

/// Quicker than a person can cancel a dialog.
const NO_DIALOG_WITHIN: std::time::Duration = std::time::Duration::from_millis(300);

/// `folder/name`, or `folder/stem (2).ext` and so on if that is taken: never overwrite.
fn free_path(folder: &Path, name: &str) -> PathBuf {
    let candidate = folder.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) => (stem, format!(".{extension}")),
        None => (name, String::new()),
    };
    (2..)
        .map(|n| folder.join(format!("{stem} ({n}){extension}")))
        .find(|path| !path.exists())
        .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_save_never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = free_path(dir.path(), "invitation.ics");
        assert_eq!(first, dir.path().join("invitation.ics"));
        std::fs::write(&first, "kept").expect("write");
        let second = free_path(dir.path(), "invitation.ics");
        assert_eq!(second, dir.path().join("invitation (2).ics"));
        std::fs::write(&second, "kept too").expect("write");
        assert_eq!(
            free_path(dir.path(), "invitation.ics"),
            dir.path().join("invitation (3).ics")
        );
        assert_eq!(
            free_path(dir.path(), "notes"),
            dir.path().join("notes"),
            "no extension"
        );
    }
}
