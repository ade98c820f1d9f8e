//! Annotated video output: raw RGB frames piped into the system ffmpeg (H.264 in MP4/MKV/MOV,
//! VP9 in WebM). Written as `name.partial.ext` beside the target and renamed when complete.

use super::atomic::PartialPath;
use crate::source::video::{file_url, INSTALL_HINT};
use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct VideoWriter {
    path: PathBuf,
    out: PartialPath,
    fps: f64,
    child: Option<(Child, u32, u32)>,
}

impl VideoWriter {
    /// The encoder starts with the first frame (which fixes the size).
    pub fn new(path: &Path, fps: f64) -> VideoWriter {
        VideoWriter {
            path: path.to_path_buf(),
            out: PartialPath::new(path),
            fps: if fps.is_finite() && fps > 0.0 {
                fps
            } else {
                25.0
            },
            child: None,
        }
    }

    pub fn push(&mut self, img: &image::RgbImage) -> Result<()> {
        if self.child.is_none() {
            let ext = self
                .path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let webm = ext == "webm";
            // The muxer is named, not guessed from the (partial) file name.
            let muxer = match ext.as_str() {
                "mkv" => "matroska",
                "webm" => "webm",
                "mov" => "mov",
                "avi" => "avi",
                _ => "mp4",
            };
            let codec: &[&str] = if webm {
                &["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "35"]
            } else {
                &["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
            };
            let child = Command::new(ffmpeg_sidecar::paths::ffmpeg_path())
                .args([
                    "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                ])
                .arg(format!("{}x{}", img.width(), img.height()))
                .args([
                    "-r",
                    &format!("{}", self.fps),
                    "-i",
                    "pipe:0",
                    "-vf",
                    "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                    "-pix_fmt",
                    "yuv420p",
                ])
                .args(codec)
                .args(["-f", muxer])
                .arg(file_url(self.out.partial()))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        Error::Source(format!("ffmpeg not found: {INSTALL_HINT}"))
                    }
                    _ => Error::io("cannot start ffmpeg", e),
                })?;
            self.child = Some((child, img.width(), img.height()));
        }
        let Some((child, w, h)) = self.child.as_mut() else {
            return Ok(());
        };
        if (img.width(), img.height()) != (*w, *h) {
            return Err(Error::Other(format!(
                "{}: frame size changed mid-stream; cannot encode",
                self.path.display()
            )));
        }
        let stdin = child
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Other("ffmpeg stdin closed".into()))?;
        stdin
            .write_all(img.as_raw())
            .map_err(|e| Error::io(format!("cannot write {}", self.path.display()), e))
    }

    /// Finish encoding and move the file into place.
    pub fn finish(mut self) -> Result<()> {
        self.close()?;
        self.out.commit().map(|_| ())
    }

    /// Finish encoding but leave the file under its partial name (the run failed); returns
    /// that name when there is a file.
    pub fn abandon(mut self) -> Option<PathBuf> {
        let started = self.child.is_some();
        let _ = self.close();
        started.then(|| self.out.partial().to_path_buf())
    }

    fn close(&mut self) -> Result<()> {
        let Some((mut child, _, _)) = self.child.take() else {
            return Err(Error::Other(format!(
                "{}: no frame to encode",
                self.path.display()
            )));
        };
        drop(child.stdin.take());
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io("ffmpeg", e))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Other(format!(
                "{}: ffmpeg could not encode ({})",
                self.path.display(),
                msg.lines().last().unwrap_or("unknown error")
            )));
        }
        Ok(())
    }
}
