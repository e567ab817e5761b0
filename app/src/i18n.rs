//! Every user-visible string goes through Fluent (`i18n/<lang>/conclave-app.ftl`).
//!
//! `fl!(key)` is checked at compile time against the English file; the language can be switched
//! at run time (Settings) with [`set_language`].

use i18n_embed::LanguageLoader;
use i18n_embed::fluent::{FluentLanguageLoader, fluent_language_loader};
use i18n_embed::unic_langid::LanguageIdentifier;
use rust_embed::RustEmbed;
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "../i18n"]
struct Localizations;

/// The languages the app ships, in the order the Settings picker lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    English,
    Japanese,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::Japanese];

    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Japanese => "ja",
        }
    }

    /// The language's own name, shown in the picker whatever the current language is.
    pub fn native_name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::Japanese => "日本語",
        }
    }

    /// The default from the OS locale: Japanese for `ja*`, English otherwise.
    pub fn from_os_locale() -> Self {
        Self::from_tag(&sys_locale::get_locale().unwrap_or_default())
    }

    pub fn from_tag(tag: &str) -> Self {
        if tag.to_ascii_lowercase().starts_with("ja") {
            Language::Japanese
        } else {
            Language::English
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.native_name())
    }
}

pub static LOADER: LazyLock<FluentLanguageLoader> = LazyLock::new(|| {
    let loader = fluent_language_loader!();
    // Unicode isolation marks around arguments render as boxes in some fonts; we have no RTL.
    loader.set_use_isolating(false);
    if let Err(error) = load(&loader, Language::from_os_locale()) {
        tracing::error!(%error, "could not load translations");
    }
    loader
});

fn load(
    loader: &FluentLanguageLoader,
    language: Language,
) -> Result<(), i18n_embed::I18nEmbedError> {
    let id: LanguageIdentifier = language
        .tag()
        .parse()
        .map_err(|e| i18n_embed::I18nEmbedError::ErrorParsingLocale(language.tag().into(), e))?;
    loader.load_languages(&Localizations, &[id])?;
    // Loading makes new bundles, which isolate arguments again unless told not to.
    loader.set_use_isolating(false);
    Ok(())
}

/// Switches every string the app shows from now on.
pub fn set_language(language: Language) {
    if let Err(error) = load(&LOADER, language) {
        tracing::error!(%error, "could not switch language");
    }
}

/// The language the strings currently come from.
pub fn current_language() -> Language {
    Language::from_tag(&LOADER.current_language().to_string())
}

/// `fl!("key")` or `fl!("key", name = value)`: a translated string, key checked at compile time.
#[macro_export]
macro_rules! fl {
    ($message_id:literal) => {{
        i18n_embed_fl::fl!($crate::i18n::LOADER, $message_id)
    }};
    ($message_id:literal, $($args:expr),*) => {{
        i18n_embed_fl::fl!($crate::i18n::LOADER, $message_id, $($args), *)
    }};
}
