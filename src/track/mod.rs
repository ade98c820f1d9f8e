//! Multi-object tracking: gives detections that belong to the same object across frames the same
//! `track_id`, with ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating
//! Every Detection Box", ECCV 2022).
//!
//! # Why in-tree
//! The Rust ByteTrack ports we looked at (`trackforge`, `edgefirst-tracker`, `jamtrack-rs`)
//! are young, take their own box/tuple types, and follow the Python reference in counting time
//! in frames (one predict per call, a lost buffer given as a number of frames); some pull
//! `nalgebra`/`ndarray`/`lapjv`/`uuid` or Python bindings for what is an 8×8 filter. We needed:
//! prediction and expiry by presentation time (dropped frames, `--every N`, live sources),
//! matching gated by class, the caller's [`Detection`] passed through untouched (keypoints
//! included), cheap cloneable state for re-running a paused frame, and no new dependencies.
//! That is a few hundred lines, so it lives here.
//!
//! # How it works
//! Each track holds a constant-velocity Kalman filter ([`kalman`]) on the box centre, aspect
//! ratio and height. On [`Tracker::update`] every track is first predicted to the frame's
//! `pts_ms` (elapsed time in multiples of [`TrackerParams::frame_interval_ms`], so a gap of
//! three frames is one step three frames long). Then, as in ByteTrack:
//! 1. detections with `score >= high_thresh` are matched to all confirmed tracks, tracked or
//!    lost, by IoU with their predicted boxes (optimal assignment, [`assign`]; pairs with IoU
//!    below `match_iou` are forbidden);
//! 2. detections with `low_thresh <= score < high_thresh` are matched to the confirmed tracks
//!    that were being tracked up to the previous frame and are still unmatched, with the
//!    stricter `second_match_iou`. This is BYTE's point: a box whose score dropped because the
//!    object is partly occluded or blurred keeps its track alive, while a low-score box that
//!    overlaps no track is dropped as background;
//! 3. tentative tracks (born in the previous frame) are matched to the remaining high-score
//!    detections (`match_iou`); matched ones are confirmed and get their ID, unmatched ones
//!    are dropped, so a detection seen in one frame only never gets an ID;
//! 4. remaining high-score detections with `score >= new_track_thresh` start tentative
//!    tracks (confirmed at once on the first frame after [`Tracker::new`] / [`Tracker::reset`],
//!    as ByteTrack does on frame 1);
//! 5. confirmed tracks left unmatched become lost and are removed once unseen for longer than
//!    `lost_buffer_s` of presentation time.
//!
//! A track only ever matches detections of its own `class_id`. IDs are assigned on
//! confirmation, start at 1 and are never reused by one `Tracker`, across resets included.
//!
//! Differences from the reference implementation: IDs are consecutive (the reference also
//! spends IDs on tentative tracks that never confirm); step 3 uses `match_iou` where the
//! reference uses a fixed 0.3; the score is not fused into the IoU cost; the removal of lost
//! tracks that overlap a tracked one by IoU > 0.85 is left out (it discards an occluded
//! object's identity exactly when it hides behind another of its class).
//!
//! # Re-running a frame
//! [`Tracker`] is `Clone` and small. To redo the latest frame (a paused frame decoded again with
//! another score threshold), keep a clone taken before each update and run the update again on
//! that clone:
//! ```ignore
//! let before = tracker.clone();
//! tracker.update(pts_ms, &mut detections);
//! // … threshold changed while paused:
//! tracker = before.clone();
//! tracker.update(pts_ms, &mut redecoded);
//! ```

pub mod assign;
pub mod kalman;

use crate::Detection;
use kalman::{xyah_from_bbox, KalmanBox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

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

    fn frame_interval(&self) -> f64 {
        if self.frame_interval_ms > 0.0 && self.frame_interval_ms.is_finite() {
            self.frame_interval_ms
        } else {
            DEFAULT_FRAME_INTERVAL_MS
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Born in the previous update, not yet confirmed (no ID).
    Tentative,
    /// Matched in the latest update.
    Tracked,
    /// Confirmed, unmatched since `last_seen_ms`.
    Lost,
}

#[derive(Clone, Debug)]
struct Track {
    id: Option<u64>,
    state: State,
    kf: KalmanBox,
    class_id: usize,
    label: Arc<str>,
    score: f32,
    /// The last matched detection's box and keypoints (to carry keypoints onto predictions).
    bbox: [f32; 4],
    keypoints: Vec<[f32; 3]>,
    last_seen_ms: f64,
}

impl Track {
    fn new(det: &Detection, z: [f64; 4], pts_ms: f64) -> Self {
        Track {
            id: None,
            state: State::Tentative,
            kf: KalmanBox::new(z),
            class_id: det.class_id,
            label: det.label.clone(),
            score: det.score,
            bbox: det.bbox,
            keypoints: det.keypoints.clone(),
            last_seen_ms: pts_ms,
        }
    }

    fn hit(&mut self, det: &Detection, z: [f64; 4], pts_ms: f64) {
        if !self.kf.update(z) {
            self.kf = KalmanBox::new(z);
        }
        if self.state != State::Tentative {
            self.state = State::Tracked;
        }
        self.label = det.label.clone();
        self.score = det.score;
        self.bbox = det.bbox;
        self.keypoints.clone_from(&det.keypoints);
        self.last_seen_ms = pts_ms;
    }
}

/// ByteTrack over the detections of one stream. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Tracker {
    params: TrackerParams,
    tracks: Vec<Track>,
    next_id: u64,
    last_pts_ms: Option<f64>,
    counts: BTreeMap<Arc<str>, usize>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(TrackerParams::default())
    }
}

impl Tracker {
    pub fn new(params: TrackerParams) -> Self {
        Tracker {
            params,
            tracks: Vec::new(),
            next_id: 1,
            last_pts_ms: None,
            counts: BTreeMap::new(),
        }
    }

    pub fn params(&self) -> &TrackerParams {
        &self.params
    }

    /// New parameters apply from the next update on; existing tracks are kept.
    pub fn set_params(&mut self, params: TrackerParams) {
        self.params = params;
    }

    /// Forgets all tracks (on seek, model switch, source change); the next update counts as a
    /// first frame. The ID counter and [`Tracker::unique_tracks_per_class`] are kept, so IDs
    /// are never reused by this tracker.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.last_pts_ms = None;
    }

    /// Zeroes the per-class track counts (IDs still continue from where they were).
    pub fn clear_counts(&mut self) {
        self.counts.clear();
    }

    /// Number of confirmed tracks started so far, per class label.
    pub fn unique_tracks_per_class(&self) -> &BTreeMap<Arc<str>, usize> {
        &self.counts
    }

    /// Tracks the detections of the frame at `pts_ms` and sets `track_id` on each of them:
    /// `Some(id)` for those that belong to a confirmed track, `None` for the rest (low-score
    /// boxes that continue nothing, the first sighting of a new object, degenerate boxes).
    ///
    /// A `pts_ms` earlier than the previous update's is a seek: the tracker is
    /// [reset](Tracker::reset) first. A non-finite `pts_ms` is taken as one nominal frame after
    /// the previous update.
    pub fn update(&mut self, pts_ms: f64, detections: &mut [Detection]) {
        let p = self.params;
        let interval = p.frame_interval();
        for d in detections.iter_mut() {
            d.track_id = None;
        }
        let pts = if pts_ms.is_finite() {
            pts_ms
        } else {
            self.last_pts_ms.map_or(0.0, |t| t + interval)
        };
        if self.last_pts_ms.is_some_and(|t| pts < t) {
            self.reset();
        }
        let first_frame = self.last_pts_ms.is_none();
        let steps = self.last_pts_ms.map_or(0.0, |t| (pts - t) / interval);
        self.last_pts_ms = Some(pts);

        for t in &mut self.tracks {
            t.kf.predict(steps, t.state != State::Tracked);
        }
        let predicted: Vec<[f32; 4]> = self.tracks.iter().map(|t| t.kf.bbox()).collect();
        let measured: Vec<Option<[f64; 4]>> = detections
            .iter()
            .map(|d| {
                d.score
                    .is_finite()
                    .then(|| xyah_from_bbox(d.bbox))
                    .flatten()
            })
            .collect();
        let (mut high, mut low) = (Vec::new(), Vec::new());
        for (j, d) in detections.iter().enumerate() {
            if measured[j].is_none() {
                continue;
            }
            if d.score >= p.high_thresh {
                high.push(j);
            } else if d.score >= p.low_thresh {
                low.push(j);
            }
        }
        let indices = |want: &dyn Fn(State) -> bool| -> Vec<usize> {
            (0..self.tracks.len())
                .filter(|&i| want(self.tracks[i].state))
                .collect()
        };
        let confirmed = indices(&|s| s != State::Tentative);
        let tentative = indices(&|s| s == State::Tentative);

        // 1. High-score detections against every confirmed track.
        let m = associate(
            &self.tracks,
            &predicted,
            &confirmed,
            detections,
            &high,
            p.match_iou,
        );
        for &(i, j) in &m.pairs {
            self.hit(i, &mut detections[j], measured[j], pts);
        }
        // 2. Low-score detections against the still unmatched tracks that were tracked.
        let was_tracked: Vec<usize> = m
            .rows_left
            .into_iter()
            .filter(|&i| self.tracks[i].state == State::Tracked)
            .collect();
        let m2 = associate(
            &self.tracks,
            &predicted,
            &was_tracked,
            detections,
            &low,
            p.second_match_iou,
        );
        for &(i, j) in &m2.pairs {
            self.hit(i, &mut detections[j], measured[j], pts);
        }
        for i in m2.rows_left {
            self.tracks[i].state = State::Lost;
        }
        // 3. Remaining high-score detections confirm the tentative tracks they continue.
        let m3 = associate(
            &self.tracks,
            &predicted,
            &tentative,
            detections,
            &m.cols_left,
            p.match_iou,
        );
        for &(i, j) in &m3.pairs {
            self.hit(i, &mut detections[j], measured[j], pts);
        }
        let mut drop = vec![false; self.tracks.len()];
        for i in m3.rows_left {
            drop[i] = true;
        }
        // 4. New tracks.
        for j in m3.cols_left {
            let (d, Some(z)) = (&detections[j], measured[j]) else {
                continue;
            };
            if d.score >= p.new_track_thresh {
                self.tracks.push(Track::new(d, z, pts));
                if first_frame {
                    let i = self.tracks.len() - 1;
                    detections[j].track_id = Some(self.confirm(i));
                }
            }
        }
        // 5. Expiry.
        let buffer_ms = p.lost_buffer_s.max(0.0) * 1000.0;
        let mut k = 0;
        self.tracks.retain(|t| {
            let dropped = drop.get(k).copied().unwrap_or(false);
            k += 1;
            let expired = t.state == State::Lost && pts - t.last_seen_ms > buffer_ms;
            !(dropped || expired)
        });
    }

    /// The tracks that are lost but still within the buffer, as detections at their predicted
    /// position for the latest update, with their ID and last label, class, score and keypoints
    /// (moved and scaled with the box). For drawing predicted boxes, or for anonymisation to
    /// keep covering an object the detector missed.
    pub fn predicted_missing(&self) -> Vec<Detection> {
        self.tracks
            .iter()
            .filter(|t| t.state == State::Lost)
            .filter_map(|t| {
                let bbox = t.kf.bbox();
                Some(Detection {
                    label: t.label.clone(),
                    class_id: t.class_id,
                    score: t.score,
                    bbox,
                    keypoints: move_keypoints(&t.keypoints, t.bbox, bbox),
                    track_id: Some(t.id?),
                })
            })
            .collect()
    }

    fn hit(&mut self, i: usize, det: &mut Detection, z: Option<[f64; 4]>, pts_ms: f64) {
        let Some(z) = z else { return };
        self.tracks[i].hit(det, z, pts_ms);
        det.track_id = Some(match self.tracks[i].id {
            Some(id) => id,
            None => self.confirm(i),
        });
    }

    fn confirm(&mut self, i: usize) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let t = &mut self.tracks[i];
        t.id = Some(id);
        t.state = State::Tracked;
        *self.counts.entry(t.label.clone()).or_insert(0) += 1;
        id
    }
}

/// Result of one association step, in the caller's track and detection indices.
struct Matches {
    pairs: Vec<(usize, usize)>,
    rows_left: Vec<usize>,
    cols_left: Vec<usize>,
}

/// Matches `rows` (track indices) to `cols` (detection indices) of the same class, maximising
/// the summed `IoU - min_iou` over pairs with `IoU >= min_iou` (and `IoU > 0`).
fn associate(
    tracks: &[Track],
    predicted: &[[f32; 4]],
    rows: &[usize],
    dets: &[Detection],
    cols: &[usize],
    min_iou: f32,
) -> Matches {
    let pairs = assign::match_gated(rows.len(), cols.len(), |r, c| {
        let (t, d) = (&tracks[rows[r]], &dets[cols[c]]);
        if t.class_id != d.class_id {
            return None;
        }
        let iou = iou(predicted[rows[r]], d.bbox);
        (iou > 0.0 && iou >= min_iou).then(|| f64::from(iou - min_iou))
    });
    let (mut row_used, mut col_used) = (vec![false; rows.len()], vec![false; cols.len()]);
    for &(r, c) in &pairs {
        row_used[r] = true;
        col_used[c] = true;
    }
    let left = |idx: &[usize], used: &[bool]| -> Vec<usize> {
        idx.iter()
            .zip(used)
            .filter(|(_, &u)| !u)
            .map(|(&i, _)| i)
            .collect()
    };
    Matches {
        rows_left: left(rows, &row_used),
        cols_left: left(cols, &col_used),
        pairs: pairs.into_iter().map(|(r, c)| (rows[r], cols[c])).collect(),
    }
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area = |b: [f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Maps keypoints from box `from` to box `to` (same relative position in the box).
fn move_keypoints(points: &[[f32; 3]], from: [f32; 4], to: [f32; 4]) -> Vec<[f32; 3]> {
    let sx = (to[2] - to[0]) / (from[2] - from[0]);
    let sy = (to[3] - to[1]) / (from[3] - from[1]);
    points
        .iter()
        .map(|&[x, y, s]| [to[0] + (x - from[0]) * sx, to[1] + (y - from[1]) * sy, s])
        .collect()
}

#[cfg(test)]
pub(crate) mod test_rng {
    /// xorshift64*: a tiny deterministic generator for tests.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }

        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in `[0, 1)`.
        pub(crate) fn f64(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Uniform in `[-a, a)`.
        pub(crate) fn noise(&mut self, a: f32) -> f32 {
            ((self.f64() * 2.0 - 1.0) as f32) * a
        }
    }
}

#[cfg(test)]
mod tests;
