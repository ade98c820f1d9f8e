//! Still images and folders of stills (in file-name order) as frame sources.

use super::{FrameSource, SeekTarget, SourceInfo, SourceKind};
use crate::{Error, Frame, Result};
use std::path::{Path, PathBuf};

/// Nominal frame rate of an image sequence (ffmpeg's image2 default), for timestamps.
pub const SEQUENCE_FPS: f64 = 25.0;

/// Load an image with its EXIF orientation applied, as RGB24.
pub fn load_image(path: &Path) -> Result<image::RgbImage> {
    use image::ImageDecoder;
    let bad = |e: &dyn std::fmt::Display| {
        Error::input(
            path,
            format!(
                "not a readable image ({e}); check that the file is a PNG/JPEG/BMP/WebP picture"
            ),
        )
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_path_buf(),
            },
            _ => Error::io(format!("cannot open {}", path.display()), e),
        })?
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    let mut decoder = reader.into_decoder().map_err(|e| bad(&e))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::input(path, "image has no pixels"));
    }
    Ok(img.to_rgb8())
}

pub struct StillsSource {
    info: SourceInfo,
    paths: Vec<PathBuf>,
    next: usize,
    /// The first image, decoded at open time to fail early (and to know the size).
    first: Option<image::RgbImage>,
}

impl StillsSource {
    pub fn single(path: &Path) -> Result<StillsSource> {
        let img = load_image(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let info = SourceInfo {
            name,
            kind: SourceKind::Image,
            width: img.width(),
            height: img.height(),
            fps: None,
            duration_ms: None,
            frame_count: Some(1),
            details: String::new(),
        };
        Ok(StillsSource {
            info,
            paths: vec![path.to_path_buf()],
            next: 0,
            first: Some(img),
        })
    }

    pub fn folder(dir: &Path) -> Result<StillsSource> {
        let read = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && super::is_image_path(p))
            .collect();
        paths.sort();
        let Some(first_path) = paths.first() else {
            return Err(Error::input(dir, "no images (png/jpg/bmp/webp) in this folder; pick a folder of pictures or a video file"));
        };
        let img = load_image(first_path)?;
        let info = SourceInfo {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            kind: SourceKind::ImageFolder,
            width: img.width(),
            height: img.height(),
            fps: Some(SEQUENCE_FPS),
            duration_ms: Some(paths.len() as f64 * 1000.0 / SEQUENCE_FPS),
            frame_count: Some(paths.len() as u64),
            details: format!("{} images", paths.len()),
        };
        Ok(StillsSource {
            info,
            paths,
            next: 0,
            first: Some(img),
        })
    }
}

impl FrameSource for StillsSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let index = self.next;
        let path = self.paths.get(index)?;
        self.next += 1;
        let img = match (index, self.first.take()) {
            (0, Some(img)) => img,
            _ => match load_image(path) {
                Ok(img) => img,
                Err(e) => return Some(Err(e)),
            },
        };
        Some(Ok(Frame::from_image(
            index as u64,
            index as f64 * 1000.0 / SEQUENCE_FPS,
            img,
        )))
    }

    fn seek(&mut self, target: SeekTarget) -> Result<()> {
        let index = match target {
            SeekTarget::Frame(i) => i as usize,
            SeekTarget::TimeMs(t) => (t.max(0.0) * SEQUENCE_FPS / 1000.0).round() as usize,
        };
        self.next = index.min(self.paths.len());
        Ok(())
    }
}
