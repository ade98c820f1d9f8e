//! The [`Annotator`] of `centerscope detect --annotate`: draws each frame's detections and
//! writes one image, numbered images (one per frame) or a video through ffmpeg.

use crate::output::atomic::{InputGuard, PartialPath};
use crate::output::draw_detections;
use crate::output::video::{EncodeSettings, VideoWriter, VIDEO_EXTENSIONS};
use crate::source::{self, SourceKind};
use crate::{Error, FrameResult, Result};
use std::path::{Path, PathBuf};

/// Writes annotated output: one image, numbered images, or a video through ffmpeg.
pub(super) enum Annotator {
    Image {
        path: PathBuf,
        numbered: bool,
        inputs: InputGuard,
    },
    Video(VideoWriter),
}

impl Annotator {
    pub(super) fn new(
        path: &Path,
        kind: SourceKind,
        settings: EncodeSettings,
        inputs: InputGuard,
    ) -> Result<Annotator> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            return Ok(Annotator::Video(VideoWriter::new(path, settings)));
        }
        if !source::is_image_path(path) {
            return Err(Error::InvalidArgument(format!(
                "--annotate {}: use an image (.png/.jpg) or video (.mp4/.mkv/.webm) file name",
                path.display()
            )));
        }
        Ok(Annotator::Image {
            path: path.to_path_buf(),
            numbered: kind != SourceKind::Image,
            inputs,
        })
    }

    pub(super) fn add(&mut self, r: &FrameResult, skeleton: &[[usize; 2]]) -> Result<()> {
        let mut img = r.frame.to_image();
        draw_detections(&mut img, &r.detections, skeleton);
        draw_detections(&mut img, &r.predicted, &[]);
        match self {
            Annotator::Image {
                path,
                numbered,
                inputs,
            } => {
                let target = if *numbered {
                    numbered_path(path, r.frame.index)
                } else {
                    path.clone()
                };
                inputs.check("--annotate", &target)?;
                let out = PartialPath::new(&target);
                let format = image::ImageFormat::from_path(&target)
                    .map_err(|e| Error::Other(format!("cannot write {}: {e}", target.display())))?;
                img.save_with_format(out.partial(), format)
                    .map_err(|e| Error::Other(format!("cannot write {}: {e}", target.display())))?;
                out.commit().map(|_| ())
            }
            Annotator::Video(w) => w.push(img, r.frame.pts_ms),
        }
    }

    pub(super) fn finish(self) -> Result<()> {
        match self {
            Annotator::Image { .. } => Ok(()),
            Annotator::Video(w) => {
                for warning in &w.warnings {
                    eprintln!("centerscope: warning: {warning}");
                }
                w.finish()
            }
        }
    }

    pub(super) fn abandon(self) -> Option<PathBuf> {
        match self {
            Annotator::Image { .. } => None,
            Annotator::Video(w) => w.abandon(),
        }
    }
}

fn numbered_path(path: &Path, index: u64) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "png".into());
    path.with_file_name(format!("{stem}-{index:06}.{ext}"))
}
