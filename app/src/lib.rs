//! The Conclave desktop app (`conclave`): an iced shell over the client engine in
//! `conclave-core`, with secrets in the OS keychain and an optional embedded server.

pub mod config;
pub mod devices;
pub mod diagnostics;
pub mod embedded;
pub mod fonts;
pub mod i18n;
pub mod join;
pub mod meeting_link;
pub mod screens;
pub mod secrets;
pub mod shell;

/// Serializes tests that depend on the (process-wide) UI language and sets it.
#[cfg(test)]
pub(crate) fn test_language(language: i18n::Language) -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    i18n::set_language(language);
    guard
}
