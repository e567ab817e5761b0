//! The service layer (`src/service/`) holds the app's logic apart from its UI: no file there
//! may name the UI toolkit, so the rule cannot wear away unnoticed.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// Whether `text` names iced as a word (`iced::`, `iced_test`, "Iced"), not inside another
/// word such as "noticed".
fn mentions_iced(text: &str) -> bool {
    let text = text.to_lowercase();
    text.match_indices("iced").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + 4..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn the_word_check_finds_iced_and_nothing_else() {
    assert!(mentions_iced("use iced::widget::text;"));
    assert!(mentions_iced("iced_test::simulator"));
    assert!(mentions_iced("// the Iced runtime"));
    assert!(!mentions_iced("the member noticed it; sliced, spliced"));
}

#[test]
fn no_service_file_mentions_iced() {
    let service = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
    let mut files = Vec::new();
    rust_files(&service, &mut files);
    assert!(
        files.len() > 1,
        "the service layer is at {}",
        service.display()
    );
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable source");
            mentions_iced(&text)
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "UI code in the service layer: {offenders:?}"
    );
}
