//! How a pipeline runs: mode, worker count, pacing, and the limits every caller shares.
//!
//! The limits live here (not in the CLI or the app) so `detect`, `bench` and the window all
//! refuse the same absurd values with the same words.

use crate::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Every-frame (files, batch: nothing skipped, back-pressure to the decoder) or live
/// (cameras, real-time playback: newest frame wins, stale ones are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    EveryFrame,
    Live,
}

impl Mode {
    /// The mode a source calls for: stills and batch work every frame; anything shown in real
    /// time (cameras, played files) live.
    pub fn for_display(kind: crate::source::SourceKind) -> Mode {
        if kind == crate::source::SourceKind::Image {
            Mode::EveryFrame
        } else {
            Mode::Live
        }
    }
}

/// Most worker loops per logical CPU: each holds a tract session (plans and feature maps), so
/// more than a few per core only costs memory.
pub const MAX_WORKERS_PER_CPU: usize = 4;
/// Absolute bounds, whatever the machine.
pub const MAX_WORKERS: usize = 256;
pub const MAX_MATMUL_THREADS: usize = 64;
/// Frames larger than this are refused (a 100-megapixel RGB frame is 300 MB).
pub const MAX_FRAME_PIXELS: u64 = 100_000_000;
/// Bytes of decoded frames that may be in flight at once (dispatched, in a worker, or waiting
/// to be reordered); the queue in front of the dispatcher holds at most as many again. Large
/// frames get fewer slots instead of more memory.
pub const FRAME_BUDGET_BYTES: u64 = 512 << 20;

/// Workers this machine can usefully hold.
pub fn max_workers() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (logical * MAX_WORKERS_PER_CPU).clamp(1, MAX_WORKERS)
}

/// Check a worker count against [`max_workers`].
pub fn check_workers(workers: usize) -> Result<usize> {
    let max = max_workers();
    if workers == 0 || workers > max {
        return Err(Error::InvalidArgument(format!(
            "{workers} workers is out of range: this machine takes 1 to {max} ({MAX_WORKERS_PER_CPU} per CPU)"
        )));
    }
    Ok(workers)
}

/// Check a frame size against [`MAX_FRAME_PIXELS`].
pub fn check_frame_size(name: &str, width: u32, height: u32) -> Result<()> {
    let pixels = width as u64 * height as u64;
    if pixels > MAX_FRAME_PIXELS {
        return Err(Error::Source(format!(
            "{name}: frames of {width}x{height} ({:.0} megapixels) are larger than the {} megapixels Centerscope processes; scale it down first (e.g. ffmpeg -i in -vf scale=iw/2:-2 out)",
            pixels as f64 / 1e6,
            MAX_FRAME_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

/// Physical cores: tract gains nothing from SMT siblings sharing one core's vector units, so
/// the default pool has one worker per core (Linux: distinct core ids in sysfs; elsewhere the
/// logical CPU count).
pub fn default_workers() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    physical_cores().unwrap_or(logical).clamp(1, logical)
}

fn physical_cores() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let mut cores = std::collections::HashSet::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let topo = entry.path().join("topology");
        let read = |f: &str| {
            std::fs::read_to_string(topo.join(f))
                .ok()
                .map(|s| s.trim().to_string())
        };
        if let (Some(pkg), Some(core)) = (read("physical_package_id"), read("core_id")) {
            cores.insert((pkg, core));
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[derive(Clone)]
pub struct PipelineConfig {
    pub workers: usize,
    pub mode: Mode,
    /// Process only frames whose index is a multiple of this.
    pub every: u64,
    /// Stop after frames past this time (ms).
    pub end_ms: Option<f64>,
    /// Pace frames at their presentation times (for playback); `speed` scales the clock.
    pub realtime: bool,
    pub speed: f64,
    /// Restart from the beginning at the end of a seekable source.
    pub looping: bool,
    /// Called whenever a result is ready (the GUI passes `request_repaint`).
    pub on_event: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Threads for tract's matrix products inside one inference (1 = single-threaded).
    /// More workers raise throughput; more matmul threads lower one frame's latency.
    pub matmul_threads: usize,
    /// Extra sleep per frame inside the worker, to simulate a slow model (tests only).
    pub debug_delay: Option<Duration>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: default_workers(),
            mode: Mode::EveryFrame,
            every: 1,
            end_ms: None,
            realtime: false,
            speed: 1.0,
            looping: false,
            on_event: None,
            matmul_threads: 1,
            debug_delay: None,
        }
    }
}

impl PipelineConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        check_workers(self.workers)?;
        if self.matmul_threads == 0 || self.matmul_threads > MAX_MATMUL_THREADS {
            return Err(Error::InvalidArgument(format!(
                "{} matrix threads is out of range (1 to {MAX_MATMUL_THREADS})",
                self.matmul_threads
            )));
        }
        if self.every == 0 {
            return Err(Error::InvalidArgument(
                "the frame step must be at least 1 (1 = every frame)".into(),
            ));
        }
        Ok(())
    }

    /// In-flight slots for frames of `frame_bytes`: two per worker, fewer when that would
    /// exceed [`FRAME_BUDGET_BYTES`] (never fewer than one).
    pub(crate) fn slots_for(&self, frame_bytes: u64) -> usize {
        let by_budget = (FRAME_BUDGET_BYTES / frame_bytes.max(1)) as usize;
        (self.workers * 2).min(by_budget).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_frames_get_fewer_slots_and_absurd_ones_are_refused() {
        let cfg = PipelineConfig {
            workers: 8,
            ..Default::default()
        };
        assert_eq!(cfg.slots_for(640 * 480 * 3), 16);
        assert_eq!(cfg.slots_for(9600 * 9600 * 3), 1);
        assert_eq!(cfg.slots_for(3840 * 2160 * 3), 16);
        assert_eq!(cfg.slots_for(u64::MAX), 1);
        assert!(check_frame_size("x", 9600, 9600).is_ok());
        assert!(check_frame_size("x", 20000, 20000).is_err());
        assert!(check_workers(0).is_err());
        assert!(check_workers(max_workers() + 1).is_err());
        assert!(check_workers(1).is_ok());
    }
}
