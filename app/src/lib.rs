//! The Conclave desktop app (`conclave`): an iced shell over the client engine in
//! `conclave-core`, with secrets in the OS keychain and an optional embedded server.

pub mod config;
pub mod controls;
pub mod devices;
pub mod diagnostics;
pub mod embedded;
pub mod focus;
pub mod fonts;
pub mod i18n;
pub mod icon;
pub mod meeting_link;
pub mod screens;
pub mod service;
pub mod shell;
pub mod video;

// `embedded.rs` still names these at the crate root.
pub use service::{join, secrets};

/// When the process started (set first thing in `main`), for the cold-start figure.
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Serializes tests that depend on the (process-wide) UI language and sets it.
#[cfg(test)]
pub(crate) fn test_language(language: i18n::Language) -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    i18n::set_language(language);
    guard
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn keys(language: &str) -> BTreeSet<String> {
        let path = format!(
            "{}/../i18n/{language}/conclave-app.ftl",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("the .ftl file exists");
        text.lines()
            .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
            .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim().to_owned()))
            .collect()
    }

    /// A key missing in one language would show the English fallback (or the raw key) there.
    #[test]
    fn english_and_japanese_have_exactly_the_same_keys() {
        let english = keys("en");
        let japanese = keys("ja");
        assert!(english.len() > 100, "the English file lost its keys");
        let only_en: Vec<_> = english.difference(&japanese).collect();
        let only_ja: Vec<_> = japanese.difference(&english).collect();
        assert!(
            only_en.is_empty() && only_ja.is_empty(),
            "only in en: {only_en:?}; only in ja: {only_ja:?}"
        );
    }
}
