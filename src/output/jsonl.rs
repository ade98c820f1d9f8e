//! One JSON object per processed frame (the `--output` format documented in the README).

use crate::{Detection, Error, FrameResult, Result, StageTimings};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The JSON Lines record of one frame.
#[derive(Serialize)]
pub struct FrameRecord<'a> {
    pub frame: u64,
    pub pts_ms: f64,
    pub width: u32,
    pub height: u32,
    pub model: &'a str,
    pub detections: &'a [Detection],
    pub timing_ms: &'a StageTimings,
}

impl<'a> FrameRecord<'a> {
    pub fn new(r: &'a FrameResult) -> Self {
        FrameRecord {
            frame: r.frame.index,
            pts_ms: (r.frame.pts_ms * 1000.0).round() / 1000.0,
            width: r.frame.width,
            height: r.frame.height,
            model: &r.model_id,
            detections: &r.detections,
            timing_ms: &r.timings,
        }
    }
}

/// Writes records line by line and flushes each, so output already produced survives an error
/// or an interrupted run.
pub struct JsonlWriter {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    path: PathBuf,
}

impl JsonlWriter {
    /// `-` writes to stdout.
    pub fn create(path: &Path) -> Result<JsonlWriter> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::File::create(path)
                    .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?,
            )
        };
        Ok(JsonlWriter {
            out: std::io::BufWriter::new(out),
            path: path.to_path_buf(),
        })
    }

    pub fn write(&mut self, result: &FrameResult) -> Result<()> {
        let err = |e: std::io::Error| Error::io(format!("cannot write {}", self.path.display()), e);
        serde_json::to_writer(&mut self.out, &FrameRecord::new(result))
            .map_err(|e| Error::Other(format!("{}: {e}", self.path.display())))?;
        self.out.write_all(b"\n").map_err(err)?;
        self.out.flush().map_err(err)
    }
}
