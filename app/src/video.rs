//! Video from the media engine to the grid: the engine's [`VideoSink`] keeps only each sender's
//! latest decoded picture, and the meeting link takes the changed ones at most once per display
//! frame ([`DISPLAY_INTERVAL`]), converted to iced images off the UI thread. Pictures the UI
//! would never draw are dropped here, not queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conclave_media::{VideoError, VideoFrame, VideoSink, VideoSource};
use iced::widget::image;

/// The most pictures per second handed to the UI (a 30 Hz display's rate, the senders' rate).
pub const DISPLAY_INTERVAL: Duration = Duration::from_millis(33);
/// A sender's last picture leaves the grid after this long without a new one (camera off, gone).
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// Each sender's picture, by media sender id (their MLS leaf).
pub type Pictures = HashMap<u32, image::Handle>;

/// Where this device's own outgoing picture (the self-view) is kept in [`Pictures`]: no MLS
/// leaf index gets this high.
pub const SELF_VIEW: u32 = u32::MAX;

#[derive(Default)]
struct Latest {
    /// Decoded but not yet handed to the UI.
    fresh: HashMap<u32, VideoFrame>,
    shown: HashMap<u32, (image::Handle, Instant)>,
}

/// Shared between the engine's sink (writer) and the meeting link (reader).
#[derive(Clone, Default)]
pub struct FrameBoard(Arc<Mutex<Latest>>);

impl FrameBoard {
    fn lock(&self) -> MutexGuard<'_, Latest> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine's end of the board.
    pub fn sink(&self) -> Box<dyn VideoSink + Send> {
        Box::new(BoardSink(self.clone()))
    }

    /// Wraps the camera (or pattern) so each picture it gives the encoder also shows as the
    /// self-view ([`SELF_VIEW`]).
    pub fn self_view(&self, camera: Box<dyn VideoSource + Send>) -> Box<dyn VideoSource + Send> {
        Box::new(SelfView {
            camera,
            board: self.clone(),
        })
    }

    /// Every sender's current picture if anything changed since the last call (new pictures,
    /// or a sender gone quiet for [`STALE_AFTER`]); `None` otherwise.
    pub fn take_changed(&self, now: Instant) -> Option<Pictures> {
        let mut latest = self.lock();
        let fresh: Vec<(u32, VideoFrame)> = latest.fresh.drain().collect();
        let mut changed = !fresh.is_empty();
        for (sender, frame) in fresh {
            if let Some(handle) = to_image(&frame) {
                latest.shown.insert(sender, (handle, now));
            }
        }
        let before = latest.shown.len();
        latest
            .shown
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < STALE_AFTER);
        changed |= latest.shown.len() != before;
        changed.then(|| {
            latest
                .shown
                .iter()
                .map(|(sender, (handle, _))| (*sender, handle.clone()))
                .collect()
        })
    }
}

struct SelfView {
    camera: Box<dyn VideoSource + Send>,
    board: FrameBoard,
}

impl VideoSource for SelfView {
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        let frame = self.camera.next_frame()?;
        if let Some(frame) = &frame {
            self.board.lock().fresh.insert(SELF_VIEW, frame.clone());
        }
        Ok(frame)
    }
}

struct BoardSink(FrameBoard);

impl VideoSink for BoardSink {
    fn show(&mut self, sender: u32, frame: &VideoFrame) -> Result<(), VideoError> {
        self.0.lock().fresh.insert(sender, frame.clone());
        Ok(())
    }
}

/// RGB to the RGBA iced draws; `None` for a frame whose buffer does not match its size.
pub(crate) fn to_image(frame: &VideoFrame) -> Option<image::Handle> {
    let pixels = frame.width.checked_mul(frame.height)?;
    if frame.rgb.len() != pixels.checked_mul(3)? {
        return None;
    }
    let mut rgba = Vec::with_capacity(pixels * 4);
    for rgb in frame.rgb.chunks_exact(3) {
        rgba.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
    }
    Some(image::Handle::from_rgba(
        u32::try_from(frame.width).ok()?,
        u32::try_from(frame.height).ok()?,
        rgba,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: usize, height: usize) -> VideoFrame {
        VideoFrame {
            width,
            height,
            rgb: vec![200; width * height * 3],
        }
    }

    #[test]
    fn only_the_latest_picture_per_sender_reaches_the_ui() {
        let board = FrameBoard::default();
        let mut sink = board.sink();
        let start = Instant::now();
        assert!(board.take_changed(start).is_none(), "nothing yet");
        for _ in 0..5 {
            sink.show(3, &frame(64, 48)).expect("shown");
        }
        sink.show(4, &frame(64, 48)).expect("shown");
        let pictures = board.take_changed(start).expect("changed");
        assert_eq!(pictures.len(), 2);
        assert!(board.take_changed(start).is_none(), "no new pictures");
    }

    #[test]
    fn a_sender_gone_quiet_leaves_the_grid() {
        let board = FrameBoard::default();
        let mut sink = board.sink();
        let start = Instant::now();
        sink.show(3, &frame(64, 48)).expect("shown");
        assert_eq!(board.take_changed(start).map(|p| p.len()), Some(1));
        let later = start + STALE_AFTER + Duration::from_millis(1);
        assert_eq!(board.take_changed(later).map(|p| p.len()), Some(0));
    }

    #[test]
    fn a_frame_whose_buffer_does_not_match_its_size_is_dropped() {
        let board = FrameBoard::default();
        let mut sink = board.sink();
        let bad = VideoFrame {
            width: 64,
            height: 48,
            rgb: vec![0; 10],
        };
        sink.show(3, &bad).expect("accepted by the sink");
        assert_eq!(
            board.take_changed(Instant::now()).map(|p| p.len()),
            Some(0),
            "checked, nothing to draw"
        );
    }

    #[test]
    fn the_camera_pictures_also_show_as_the_self_view() {
        struct Still;
        impl VideoSource for Still {
            fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
                Ok(Some(frame(64, 48)))
            }
        }
        let board = FrameBoard::default();
        let mut camera = board.self_view(Box::new(Still));
        let sent = camera.next_frame().expect("frame").expect("a picture");
        assert_eq!(
            (sent.width, sent.height),
            (64, 48),
            "the encoder still gets it"
        );
        let pictures = board.take_changed(Instant::now()).expect("changed");
        assert!(pictures.contains_key(&SELF_VIEW));
    }
}
