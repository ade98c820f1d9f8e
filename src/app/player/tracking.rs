//! Tracking of what the [`Player`] shows: the [`Tracking`] state (the tracker, its state
//! before the last frame, track trails) and the player's tracking settings and queries.

use super::Player;
use crate::source::SourceKind;
use crate::track::{Tracker, TrackerParams};
use crate::FrameResult;
use std::collections::VecDeque;
use std::sync::Arc;

/// The tracker over the frames shown, and its state before the last frame (so a paused frame
/// decoded again keeps the identities of the frame before).
pub(super) struct Tracking {
    pub(super) enabled: bool,
    pub(super) tracker: Tracker,
    pub(super) before_last: Option<Tracker>,
    /// Recent centres per track id: `(pts_ms, [x, y])`.
    pub(super) trails: std::collections::BTreeMap<u64, VecDeque<(f64, [f32; 2])>>,
}

/// How far back track trails reach.
pub const TRAIL_MS: f64 = 2000.0;

impl Tracking {
    /// Assign track ids to `r`'s detections (and keep the tracker as it was before, to redo
    /// this frame). Detections below `threshold` (decoded only so a track whose score dips
    /// keeps its identity) are not shown.
    pub(super) fn track(&mut self, r: &mut FrameResult, threshold: f32) {
        self.before_last = Some(self.tracker.clone());
        self.tracker.update(r.frame.pts_ms, &mut r.detections);
        r.detections.retain(|d| d.score >= threshold);
        self.remember_centres(r);
    }

    fn remember_centres(&mut self, r: &FrameResult) {
        let now = r.frame.pts_ms;
        for d in &r.detections {
            if let Some(id) = d.track_id {
                let c = [(d.bbox[0] + d.bbox[2]) / 2.0, (d.bbox[1] + d.bbox[3]) / 2.0];
                self.trails.entry(id).or_default().push_back((now, c));
            }
        }
        for t in self.trails.values_mut() {
            while t
                .front()
                .is_some_and(|(at, _)| now - at > TRAIL_MS || *at > now)
            {
                t.pop_front();
            }
        }
        self.trails.retain(|_, t| !t.is_empty());
    }

    pub(super) fn reset(&mut self) {
        self.tracker.reset();
        self.before_last = None;
        self.trails.clear();
    }
}

impl Player {
    /// Are objects tracked in what is shown (on, and the source is a sequence)?
    pub fn tracking(&self) -> bool {
        self.playing
            .as_ref()
            .is_some_and(|p| self.tracks(p.info.kind))
    }

    /// Whether frames of a source of `kind` are tracked (not stills).
    pub(super) fn tracks(&self, kind: SourceKind) -> bool {
        self.tracking.enabled && kind != SourceKind::Image
    }
    /// Unique tracks per class since the source was opened.
    pub fn track_counts(&self) -> Vec<(Arc<str>, usize)> {
        self.tracking
            .tracker
            .unique_tracks_per_class()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
    /// Where each live track's centre was over the last [`TRAIL_MS`], oldest first.
    pub fn trails(&self) -> Vec<(u64, Vec<[f32; 2]>)> {
        self.tracking
            .trails
            .iter()
            .filter(|(_, t)| t.len() > 1)
            .map(|(id, t)| (*id, t.iter().map(|(_, c)| *c).collect()))
            .collect()
    }
    /// Predicted boxes of tracked objects missed in the frame on screen.
    pub fn predicted(&self) -> Vec<crate::Detection> {
        self.tracking.tracker.predicted_missing()
    }

    pub fn set_tracking(&mut self, enabled: bool, mut params: TrackerParams) {
        // The frame interval comes from the source, not from the settings.
        params.frame_interval_ms = self.tracking.tracker.params().frame_interval_ms;
        self.tracking.enabled = enabled;
        self.tracking.tracker.set_params(params);
        if let Some(p) = &self.playing {
            p.pipeline
                .controls()
                .set_params(self.pipeline_params(p.info.kind));
        }
        self.rerun_if_still(true);
    }

    pub(super) fn reset_tracks(&mut self) {
        self.tracking.reset();
    }
}
