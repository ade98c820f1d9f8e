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
                "not a readable image ({e}); check that the file is a PNG/JPEG/BMP/WebP/GIF picture"
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
    let (w, h) = decoder.dimensions();
    crate::pipeline::check_frame_size(&path.display().to_string(), w, h)?;
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
    /// The first readable image, decoded at open time to fail early (and to know the size).
    first: Option<image::RgbImage>,
    /// Pictures skipped while looking for the first readable one, reported first.
    skipped: Vec<Error>,
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
            skipped: Vec::new(),
        })
    }

    /// Every picture in `dir`, in name order. Pictures that cannot be read are skipped with a
    /// warning ([`Error::Skipped`]) instead of ending the run; a folder with no readable picture
    /// is an error.
    pub fn folder(dir: &Path) -> Result<StillsSource> {
        let read = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && super::is_image_path(p))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::input(dir, "no images (png/jpg/bmp/webp/gif) in this folder; pick a folder of pictures or a video file"));
        }
        let mut skipped = Vec::new();
        let mut first = None;
        for (i, p) in paths.iter().enumerate() {
            match load_image(p) {
                Ok(img) => {
                    first = Some((i, img));
                    break;
                }
                Err(e) => skipped.push(skip(p, e)),
            }
        }
        let Some((first_index, img)) = first else {
            return Err(Error::input(
                dir,
                "none of its pictures could be read; check the files",
            ));
        };
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
            next: first_index,
            first: Some(img),
            skipped,
        })
    }
}

/// A folder's picture that could not be read, as a warning.
fn skip(path: &Path, e: Error) -> Error {
    let message = match e {
        Error::Input { message, .. } => message,
        other => other.one_line(),
    };
    Error::Skipped {
        path: path.to_path_buf(),
        message,
    }
}

impl FrameSource for StillsSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if !self.skipped.is_empty() {
            return Some(Err(self.skipped.remove(0)));
        }
        let index = self.next;
        let path = self.paths.get(index)?;
        self.next += 1;
        let img = match self.first.take() {
            Some(img) => img,
            None => match load_image(path) {
                Ok(img) => img,
                Err(e) if self.info.kind == SourceKind::ImageFolder => {
                    return Some(Err(skip(path, e)))
                }
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
        self.first = None; // decoded again when reached
        self.skipped.clear();
        Ok(())
    }
}
