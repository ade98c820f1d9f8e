//! Frame sources: video files (system ffmpeg), stills and folders of stills, cameras (nokhwa).
//!
//! Everything that produces pictures implements [`FrameSource`], so the pipeline, the CLI and
//! the GUI never care where frames come from. Sources deliver upright RGB24 frames (display
//! rotation and EXIF orientation already applied) with their index and presentation time.

pub mod camera;
pub mod memory;
pub mod stills;
pub mod video;

use crate::{Error, Frame, Result};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Video,
    Image,
    ImageFolder,
    Camera,
}

/// What is known about a source before reading it.
#[derive(Clone, Debug)]
pub struct SourceInfo {
    /// Human-readable name (file name, camera name).
    pub name: String,
    pub kind: SourceKind,
    /// Size of the displayed (rotated) picture; may be 0 until the first frame for cameras.
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
    pub duration_ms: Option<f64>,
    pub frame_count: Option<u64>,
    /// Extra facts worth showing (codec, negotiated camera format, rotation).
    pub details: String,
}

impl SourceInfo {
    /// Live sources (cameras) produce frames in real time and cannot seek.
    pub fn is_live(&self) -> bool {
        self.kind == SourceKind::Camera
    }
}

/// Where to jump to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeekTarget {
    TimeMs(f64),
    Frame(u64),
}

/// A producer of frames. `next_frame` blocks until a frame is ready; `None` is the end.
pub trait FrameSource: Send {
    fn info(&self) -> &SourceInfo;
    fn next_frame(&mut self) -> Option<Result<Frame>>;
    /// Frames the source itself discarded because a newer one arrived before anyone took them
    /// (cameras); shown with the pipeline's own drops.
    fn dropped_frames(&self) -> u64 {
        0
    }
    /// Position so that the next frame returned is the target (exact, not the nearest keyframe).
    fn seek(&mut self, _target: SeekTarget) -> Result<()> {
        Err(Error::Source(format!(
            "{}: this source cannot seek",
            self.info().name
        )))
    }
}

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "webp", "gif"];

pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Parse `camera:N`.
pub fn parse_camera_spec(spec: &str) -> Option<Result<u32>> {
    let rest = spec.strip_prefix("camera:")?;
    Some(rest.parse::<u32>().map_err(|_| {
        Error::InvalidArgument(format!(
            "\"{spec}\": camera index must be a number, e.g. camera:0 (see `centerscope sources`)"
        ))
    }))
}

/// Open `spec`: `camera:N`, a folder of stills, a still image, or a video file.
pub fn open(spec: &str) -> Result<Box<dyn FrameSource>> {
    if let Some(index) = parse_camera_spec(spec) {
        return Ok(Box::new(camera::CameraSource::open(index?)?));
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Ok(Box::new(stills::StillsSource::folder(path)?));
    }
    if is_image_path(path) {
        return Ok(Box::new(stills::StillsSource::single(path)?));
    }
    Ok(Box::new(video::VideoSource::open(path)?))
}
