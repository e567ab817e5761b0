//! The camera preview's stand-in when there is no camera (or until the camera is wired): SMPTE-
//! like colour bars with a bar that moves with each frame, so a frozen preview is noticeable.

/// Preview size in pixels.
pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 180;

const BARS: [[u8; 3]; 7] = [
    [192, 192, 192],
    [192, 192, 0],
    [0, 192, 192],
    [0, 192, 0],
    [192, 0, 192],
    [192, 0, 0],
    [0, 0, 192],
];

/// RGBA pixels of frame number `frame`.
pub fn frame(frame: u64) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 4) as usize);
    let moving_row = (frame % u64::from(HEIGHT)) as u32;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let bar = BARS[(x * BARS.len() as u32 / WIDTH) as usize];
            let [r, g, b] = if y.abs_diff(moving_row) < 4 {
                [255, 255, 255]
            } else {
                bar
            };
            pixels.extend_from_slice(&[r, g, b, 255]);
        }
    }
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_right_size_and_move() {
        let a = frame(0);
        assert_eq!(a.len(), (WIDTH * HEIGHT * 4) as usize);
        assert_ne!(a, frame(10), "the preview visibly moves");
    }
}
