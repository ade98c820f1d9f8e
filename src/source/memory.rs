//! Frames already in memory, replayed in order (optionally cycling): used by `bench` so that
//! throughput is measured without the file decoder in the way, and by tests.

use super::{FrameSource, SeekTarget, SourceInfo, SourceKind};
use crate::{Frame, Result};

pub struct MemorySource {
    info: SourceInfo,
    frames: Vec<Frame>,
    total: u64,
    next: u64,
}

impl MemorySource {
    /// Deliver `total` frames, cycling through `frames` (indices keep counting up).
    pub fn new(name: &str, frames: Vec<Frame>, total: u64, fps: Option<f64>) -> MemorySource {
        let (width, height) = frames
            .first()
            .map(|f| (f.width, f.height))
            .unwrap_or((0, 0));
        let info = SourceInfo {
            name: name.to_string(),
            kind: SourceKind::Video,
            width,
            height,
            fps,
            duration_ms: fps.map(|f| total as f64 * 1000.0 / f),
            frame_count: Some(total),
            details: format!("{} frame(s) in memory", frames.len()),
        };
        MemorySource {
            info,
            frames,
            total,
            next: 0,
        }
    }
}

impl FrameSource for MemorySource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if self.next >= self.total || self.frames.is_empty() {
            return None;
        }
        let mut f = self.frames[(self.next % self.frames.len() as u64) as usize].clone();
        f.index = self.next;
        f.pts_ms = self
            .info
            .fps
            .map(|fps| self.next as f64 * 1000.0 / fps)
            .unwrap_or(0.0);
        self.next += 1;
        Some(Ok(f))
    }

    fn seek(&mut self, target: SeekTarget) -> Result<()> {
        self.next = match target {
            SeekTarget::Frame(i) => i,
            SeekTarget::TimeMs(t) => self
                .info
                .fps
                .map(|f| (t * f / 1000.0).round() as u64)
                .unwrap_or(0),
        }
        .min(self.total);
        Ok(())
    }
}
