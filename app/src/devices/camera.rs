//! Cameras through nokhwa (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).
//!
//! A camera is driven by its own thread: capturing blocks until the next picture, and opening a
//! device can take a moment, neither of which may happen on the UI thread or in the media loop.
//! The thread opens the camera only while `wanted` is set and closes it as soon as it is
//! cleared, so the camera light is on only while the preview shows or video is on. The media
//! loop and the preview read the latest picture without waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use conclave_media::pattern::TestPattern;
use conclave_media::{VideoError, VideoFrame, VideoSource};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

/// The capture size asked of the camera (the closest it offers is used).
const CAPTURE_WIDTH: u32 = 640;
const CAPTURE_HEIGHT: u32 = 480;
const CAPTURE_FPS: u32 = 30;
/// Consecutive failed captures after which the camera counts as gone.
const MAX_FAILED_CAPTURES: u32 = 30;
/// How often the idle thread looks at `wanted`.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// A camera the pickers can offer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraDevice {
    pub index: u32,
    pub name: String,
}

/// The cameras on this machine; none (with a note in the log) if they cannot be listed.
pub fn list() -> Vec<CameraDevice> {
    match nokhwa::query(ApiBackend::Auto) {
        Ok(cameras) => cameras
            .into_iter()
            .filter_map(|info| match info.index() {
                CameraIndex::Index(index) => Some(CameraDevice {
                    index: *index,
                    name: info.human_name(),
                }),
                CameraIndex::String(_) => None,
            })
            .collect(),
        Err(error) => {
            tracing::info!(%error, "cameras cannot be listed");
            Vec::new()
        }
    }
}

/// Where the capture thread is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraStatus {
    /// Not wanted yet, or opening.
    Idle,
    Capturing {
        width: u32,
        height: u32,
    },
    /// The camera could not be opened or stopped delivering; the detail is the driver's.
    Failed(String),
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Option<VideoFrame>>,
    status: Mutex<Option<CameraStatus>>,
    stop: AtomicBool,
}

/// A running camera thread.
pub struct CameraCapture {
    control: CameraControl,
    thread: Option<JoinHandle<()>>,
}

impl CameraCapture {
    /// Starts the thread for camera `index`; it opens the camera while it is wanted (see
    /// [`CameraControl::set_wanted`]), from the start if `wanted`.
    pub fn start(index: u32, wanted: bool) -> Self {
        let control = CameraControl {
            shared: Arc::new(Shared::default()),
            wanted: Arc::new(AtomicBool::new(wanted)),
        };
        let thread = {
            let control = control.clone();
            std::thread::Builder::new()
                .name("camera".into())
                .spawn(move || capture_loop(index, &control.shared, &control.wanted))
                .map_err(|error| tracing::warn!(%error, "cannot start the camera thread"))
                .ok()
        };
        if thread.is_none() {
            set_status(
                &control.shared,
                CameraStatus::Failed(crate::fl!("camera-no-thread")),
            );
        }
        Self { control, thread }
    }

    /// The newest picture, if the camera delivered one since it was opened.
    pub fn latest(&self) -> Option<VideoFrame> {
        self.control
            .shared
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn status(&self) -> CameraStatus {
        self.control.status()
    }

    /// A handle to switch the camera and read its status, also after the capture has been
    /// handed to the media pipeline.
    pub fn control(&self) -> &CameraControl {
        &self.control
    }
}

/// See [`CameraCapture::control`].
#[derive(Clone)]
pub struct CameraControl {
    shared: Arc<Shared>,
    wanted: Arc<AtomicBool>,
}

impl CameraControl {
    /// Whether the camera should be on.
    pub fn set_wanted(&self, wanted: bool) {
        self.wanted.store(wanted, Ordering::Relaxed);
    }

    pub fn status(&self) -> CameraStatus {
        read_status(&self.shared)
    }
}

fn read_status(shared: &Shared) -> CameraStatus {
    shared
        .status
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or(CameraStatus::Idle)
}

impl Drop for CameraCapture {
    fn drop(&mut self) {
        self.control.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread notices within one capture or idle poll; don't hold the caller up
            // longer than that for a driver that hangs.
            std::thread::spawn(move || {
                let _ = thread.join();
            });
        }
    }
}

impl std::fmt::Debug for CameraCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraCapture")
            .field("status", &self.status())
            .finish()
    }
}

fn set_status(shared: &Shared, status: CameraStatus) {
    *shared.status.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
}

fn open(index: u32) -> Result<nokhwa::Camera, nokhwa::NokhwaError> {
    let format =
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(CameraFormat::new_from(
            CAPTURE_WIDTH,
            CAPTURE_HEIGHT,
            FrameFormat::MJPEG,
            CAPTURE_FPS,
        )));
    let mut camera = nokhwa::Camera::new(CameraIndex::Index(index), format)?;
    camera.open_stream()?;
    Ok(camera)
}

fn capture_loop(index: u32, shared: &Shared, wanted: &AtomicBool) {
    let mut camera: Option<nokhwa::Camera> = None;
    let mut failures = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        if !wanted.load(Ordering::Relaxed) {
            if let Some(mut open) = camera.take() {
                // Closing turns the camera light off.
                let _ = open.stop_stream();
                set_status(shared, CameraStatus::Idle);
            }
            std::thread::sleep(IDLE_POLL);
            continue;
        }
        let Some(open_camera) = camera.as_mut() else {
            if matches!(read_status(shared), CameraStatus::Failed(_)) {
                // Failed once: don't retry in a tight loop; a new pick starts a new thread.
                std::thread::sleep(IDLE_POLL);
                continue;
            }
            match open(index) {
                Ok(opened) => {
                    let resolution = opened.resolution();
                    tracing::info!(
                        index,
                        width = resolution.width(),
                        height = resolution.height(),
                        "camera on"
                    );
                    set_status(
                        shared,
                        CameraStatus::Capturing {
                            width: resolution.width(),
                            height: resolution.height(),
                        },
                    );
                    camera = Some(opened);
                    failures = 0;
                }
                Err(error) => {
                    tracing::warn!(index, %error, "cannot open the camera");
                    set_status(shared, CameraStatus::Failed(error.to_string()));
                }
            }
            continue;
        };
        match open_camera
            .frame()
            .and_then(|buffer| buffer.decode_image::<RgbFormat>())
        {
            Ok(image) => {
                failures = 0;
                let (width, height) = (image.width() as usize, image.height() as usize);
                *shared.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(VideoFrame {
                    width,
                    height,
                    rgb: image.into_raw(),
                });
            }
            Err(error) => {
                failures += 1;
                tracing::debug!(%error, "camera picture lost");
                if failures >= MAX_FAILED_CAPTURES {
                    tracing::warn!(%error, "the camera stopped delivering pictures");
                    set_status(shared, CameraStatus::Failed(error.to_string()));
                    camera = None;
                }
            }
        }
    }
    if let Some(mut open) = camera {
        let _ = open.stop_stream();
    }
}

/// The camera as the meeting's video source: its newest picture each time the encoder asks;
/// the test pattern while the camera is unavailable (so the others see that video is on but the
/// camera is not, rather than a frozen picture).
pub struct CameraSource {
    capture: CameraCapture,
    fallback: TestPattern,
    frames: u64,
    /// The picture shape sent (the encoder's size): camera pictures of another shape are
    /// cropped to it around the centre rather than stretched.
    aspect: (usize, usize),
}

impl CameraSource {
    pub fn new(capture: CameraCapture, width: usize, height: usize) -> Result<Self, VideoError> {
        Ok(Self {
            capture,
            fallback: TestPattern::new(width, height)?,
            frames: 0,
            aspect: (width, height),
        })
    }
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        self.frames += 1;
        let live = matches!(self.capture.status(), CameraStatus::Capturing { .. });
        match self.capture.latest() {
            Some(frame) if live => Ok(Some(crop_to_aspect(frame, self.aspect))),
            _ => Ok(Some(self.fallback.frame(self.frames))),
        }
    }
}

/// The largest centred part of `frame` with the shape `aspect` (width, height); even sizes,
/// as H.264 4:2:0 needs. A frame already of that shape is returned as it is.
pub fn crop_to_aspect(frame: VideoFrame, (aspect_w, aspect_h): (usize, usize)) -> VideoFrame {
    if aspect_w == 0 || aspect_h == 0 || frame.width == 0 || frame.height == 0 {
        return frame;
    }
    // Compare width/height ratios without floating point.
    let (width, height) = if frame.width * aspect_h > frame.height * aspect_w {
        (frame.height * aspect_w / aspect_h, frame.height)
    } else {
        (frame.width, frame.width * aspect_h / aspect_w)
    };
    let (width, height) = (width & !1, height & !1);
    if (width, height) == (frame.width, frame.height) || width == 0 || height == 0 {
        return frame;
    }
    let (left, top) = ((frame.width - width) / 2, (frame.height - height) / 2);
    let mut rgb = Vec::with_capacity(width * height * 3);
    for row in frame
        .rgb
        .chunks_exact(frame.width * 3)
        .skip(top)
        .take(height)
    {
        rgb.extend_from_slice(&row[left * 3..(left + width) * 3]);
    }
    VideoFrame { width, height, rgb }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_camera_picture_is_cropped_around_the_centre_not_stretched() {
        // 16:9, 32×18: left quarter red, the rest blue.
        let mut frame = VideoFrame::black(32, 18);
        for y in 0..18 {
            for x in 0..32 {
                let at = (y * 32 + x) * 3;
                frame.rgb[at..at + 3].copy_from_slice(if x < 8 {
                    &[255, 0, 0]
                } else {
                    &[0, 0, 255]
                });
            }
        }
        let cropped = crop_to_aspect(frame.clone(), (320, 240));
        assert_eq!((cropped.width, cropped.height), (24, 18), "4:3");
        assert_eq!(cropped.rgb.len(), 24 * 18 * 3);
        assert_eq!(
            cropped.pixel(0, 0),
            Some([255, 0, 0]),
            "4 columns of red remain"
        );
        assert_eq!(cropped.pixel(4, 9), Some([0, 0, 255]));
        // Already the right shape: untouched. Taller than wide: cropped top and bottom.
        assert_eq!(crop_to_aspect(frame.clone(), (16, 9)), frame);
        let tall = crop_to_aspect(VideoFrame::black(20, 40), (4, 3));
        assert_eq!((tall.width, tall.height), (20, 14));
    }

    /// No machine running the tests is assumed to have a camera; a camera that is not there
    /// must fail clearly, not hang or panic, and the source must keep sending the pattern.
    #[test]
    fn a_missing_camera_fails_clearly_and_the_source_sends_the_pattern() {
        let capture = CameraCapture::start(4_000, false);
        std::thread::sleep(IDLE_POLL * 2);
        assert_eq!(capture.status(), CameraStatus::Idle, "not opened unasked");
        capture.control().set_wanted(true);
        let mut status = capture.status();
        for _ in 0..100 {
            if matches!(status, CameraStatus::Failed(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            status = capture.status();
        }
        let CameraStatus::Failed(detail) = status else {
            panic!("camera 4000 should not open: {status:?}");
        };
        assert!(!detail.is_empty());
        let mut source = CameraSource::new(capture, 320, 240).expect("source");
        let frame = source.next_frame().expect("frame").expect("a picture");
        assert!(conclave_media::pattern::is_test_pattern(
            &frame,
            conclave_media::pattern::DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn listing_cameras_never_fails() {
        // On a machine without cameras (CI) this is empty; with cameras, every entry is named.
        for camera in list() {
            assert!(!camera.name.is_empty());
        }
    }
}
