//! [`TrackerParams`]: the tuning of the [`Tracker`](super::Tracker), with ByteTrack's
//! defaults.

use serde::{Deserialize, Serialize};

/// Tuning of the [`Tracker`].
///
/// The defaults are ByteTrack's (track_thresh 0.5, det_thresh = track_thresh + 0.1,
/// match_thresh 0.8 as a cost, i.e. IoU 0.2, second-stage IoU 0.5, a 30-frame buffer at
/// 30 fps) and suit detectors whose display threshold is about 0.3–0.5. The second stage only
/// sees what the detector emits: to benefit from it, decode with a score threshold of
/// `low_thresh` while tracking and hide the boxes that end up without an ID if they are
/// below the display threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackerParams {
    /// Detections at or above this score take part in the first association and can start
    /// tracks.
    pub high_thresh: f32,
    /// Detections below this score are ignored; those in `[low_thresh, high_thresh)` can only
    /// continue a track that is currently tracked.
    pub low_thresh: f32,
    /// Minimum IoU between a track's predicted box and a high-score detection.
    pub match_iou: f32,
    /// Minimum IoU between a track's predicted box and a low-score detection.
    pub second_match_iou: f32,
    /// Minimum score for a detection to start a track (see [`TrackerParams::with_high_thresh`]).
    pub new_track_thresh: f32,
    /// How long a lost track is kept for re-identification, in seconds of presentation time.
    pub lost_buffer_s: f64,
    /// The source's nominal frame interval in ms (`1000 / fps`; not multiplied by `--every`),
    /// the unit of the filter's velocities and process noise. A parameter rather than an
    /// estimate from the timestamps, which would learn 3 frames as the unit under `--every 3`
    /// and drift with dropped frames. Only its order of magnitude matters; non-positive values
    /// mean the default 1000/30.
    pub frame_interval_ms: f64,
}

const DEFAULT_FRAME_INTERVAL_MS: f64 = 1000.0 / 30.0;

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            high_thresh: 0.5,
            low_thresh: 0.1,
            match_iou: 0.2,
            second_match_iou: 0.5,
            new_track_thresh: 0.6,
            lost_buffer_s: 1.0,
            frame_interval_ms: DEFAULT_FRAME_INTERVAL_MS,
        }
    }
}

impl TrackerParams {
    /// Sets `high_thresh` and derives `new_track_thresh` as ByteTrack does (`+ 0.1`), clamped
    /// to at most halfway between `high_thresh` and 1 so that a high threshold still lets
    /// tracks start.
    pub fn with_high_thresh(mut self, high_thresh: f32) -> Self {
        self.high_thresh = high_thresh;
        self.new_track_thresh = (high_thresh + 0.1).min((high_thresh + 1.0) / 2.0);
        self
    }

    pub(super) fn frame_interval(&self) -> f64 {
        if self.frame_interval_ms > 0.0 && self.frame_interval_ms.is_finite() {
            self.frame_interval_ms
        } else {
            DEFAULT_FRAME_INTERVAL_MS
        }
    }
}
