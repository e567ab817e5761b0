//! The app's default font. iced falls back through the system's fonts (fontconfig on Linux) for
//! scripts the default face lacks, so Japanese renders when a CJK face such as Noto Sans CJK is
//! installed (`fonts-noto-cjk`; see scripts/system-deps.sh). A test checks one is there.

use iced::Font;

/// The UI's font: the system sans-serif, with CJK fallback.
pub const DEFAULT: Font = Font::DEFAULT;

#[cfg(test)]
mod tests {
    /// Japanese UI text needs a face that covers it; without one users see empty boxes.
    #[test]
    fn a_system_font_covers_japanese_ui_text() {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        let covers = |text: &str| {
            db.faces().any(|face| {
                db.with_face_data(face.id, |data, index| {
                    ttf_parser::Face::parse(data, index)
                        .is_ok_and(|parsed| text.chars().all(|c| parsed.glyph_index(c).is_some()))
                })
                .unwrap_or(false)
            })
        };
        assert!(
            covers("セキュリティ検証コード入室許可ロビー設定"),
            "no installed font covers Japanese; install fonts-noto-cjk"
        );
    }
}
