//! `--save-frames DIR`: every decoded picture as a PNG file named by sender and index,
//! `DIR/leaf<sender>-<index>.png` (index counts that sender's pictures from 0).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use conclave_media::{VideoError, VideoFrame, VideoSink};

pub struct PngFrames {
    dir: PathBuf,
    next_index: HashMap<u32, u64>,
}

impl PngFrames {
    /// Saves into `dir`, creating it if needed.
    pub fn create(dir: &Path) -> Result<Self, VideoError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| VideoError::File(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            next_index: HashMap::new(),
        })
    }

    /// The file name of `sender`'s picture number `index`.
    pub fn path(&self, sender: u32, index: u64) -> PathBuf {
        self.dir.join(format!("leaf{sender}-{index:06}.png"))
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> VideoError {
    VideoError::File(format!("{}: {e}", path.display()))
}

impl VideoSink for PngFrames {
    fn show(&mut self, sender: u32, frame: &VideoFrame) -> Result<(), VideoError> {
        let index = self.next_index.entry(sender).or_insert(0);
        let number = *index;
        *index += 1;
        let path = self.path(sender, number);
        let (width, height) = (
            u32::try_from(frame.width).map_err(|e| file_error(&path, e))?,
            u32::try_from(frame.height).map_err(|e| file_error(&path, e))?,
        );
        let file = File::create(&path).map_err(|e| file_error(&path, e))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| file_error(&path, e))?;
        writer
            .write_image_data(&frame.rgb)
            .map_err(|e| file_error(&path, e))?;
        writer.finish().map_err(|e| file_error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::pattern::{DEFAULT_TOLERANCE, TestPattern, is_test_pattern};

    #[test]
    fn saved_pictures_read_back_as_the_same_pattern() {
        let dir = std::env::temp_dir().join(format!("conclave-frames-{}", std::process::id()));
        let mut sink = PngFrames::create(&dir).expect("dir");
        let picture = TestPattern::new(320, 240).expect("pattern").frame(3);
        sink.show(2, &picture).expect("save");
        sink.show(2, &picture).expect("save");
        let second = sink.path(2, 1);
        let decoder =
            png::Decoder::new(std::io::BufReader::new(File::open(&second).expect("file")));
        let mut reader = decoder.read_info().expect("png");
        let mut rgb = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut rgb).expect("pixels");
        rgb.truncate(info.buffer_size());
        let back = VideoFrame {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        };
        assert_eq!(back, picture);
        assert!(is_test_pattern(&back, DEFAULT_TOLERANCE));
        // A picture whose buffer does not match its size is an error, not a panic.
        let broken = VideoFrame {
            width: 320,
            height: 240,
            rgb: vec![0; 10],
        };
        assert!(sink.show(2, &broken).is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
