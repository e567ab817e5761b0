//! The window icon: the 64 px render of `assets/icon/conclave.svg` that `cargo xtask icons`
//! writes (a test in xtask keeps it equal to a fresh render).

const WINDOW_ICON_PNG: &[u8] = include_bytes!("../../assets/icon/conclave-64.png");

/// The icon for the window and taskbar; `None` (the system's default icon) if it cannot be
/// decoded, which the test below rules out.
pub fn window_icon() -> Option<iced::window::Icon> {
    let (rgba, width, height) = decode_rgba(WINDOW_ICON_PNG)
        .map_err(|error| tracing::warn!(%error, "the window icon could not be decoded"))
        .ok()?;
    iced::window::icon::from_rgba(rgba, width, height)
        .map_err(|error| tracing::warn!(%error, "the window icon was refused"))
        .ok()
}

/// An 8-bit RGBA PNG as its pixels, width and height.
fn decode_rgba(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "the icon is too large".to_owned())?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(|e| e.to_string())?;
    if frame.color_type != png::ColorType::Rgba || frame.bit_depth != png::BitDepth::Eight {
        return Err(format!(
            "the icon is {:?} {:?}, not 8-bit RGBA",
            frame.color_type, frame.bit_depth
        ));
    }
    pixels.truncate(frame.buffer_size());
    Ok((pixels, frame.width, frame.height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_icon_decodes_to_64_by_64_pixels() {
        let (rgba, width, height) = decode_rgba(WINDOW_ICON_PNG).expect("decodes");
        assert_eq!((width, height, rgba.len()), (64, 64, 64 * 64 * 4));
        assert!(window_icon().is_some());
    }

    #[test]
    fn a_damaged_icon_is_an_error_not_a_panic() {
        assert!(decode_rgba(&WINDOW_ICON_PNG[..40]).is_err());
        assert!(decode_rgba(b"not a png").is_err());
    }
}
