//! One JSON object per processed frame (the default `--output` format, documented in the
//! README).

use crate::{Detection, FrameResult, StageTimings};
use serde::Serialize;
use std::io::Write;

/// The JSON Lines record of one frame.
#[derive(Serialize)]
pub struct FrameRecord<'a> {
    pub frame: u64,
    pub pts_ms: f64,
    pub width: u32,
    pub height: u32,
    pub model: &'a str,
    pub detections: &'a [Detection],
    /// Tracked objects missed in this frame, at their predicted boxes (`--track-predicted`).
    #[serde(skip_serializing_if = "<[Detection]>::is_empty")]
    pub predicted: &'a [Detection],
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
            predicted: &r.predicted,
            timing_ms: &r.timings,
        }
    }
}

/// Write `result` as one JSON line.
pub fn write_record(out: &mut impl Write, result: &FrameResult) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &FrameRecord::new(result))?;
    out.write_all(b"\n")
}
