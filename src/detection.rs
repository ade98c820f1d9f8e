//! What a detector finds in one frame, and what finding it cost.

use serde::Serialize;
use std::sync::Arc;

/// One object found in a frame, in source-pixel coordinates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub label: Arc<str>,
    pub class_id: usize,
    pub score: f32,
    /// `[x1, y1, x2, y2]` in source pixels, `x1 < x2`, `y1 < y2`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// `[x, y, score]` per keypoint in source pixels; empty when the model has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<[f32; 3]>,
    /// Identity of the object across frames (set by the tracker; `None` without tracking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
}

impl Detection {
    pub fn area(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).max(0.0) * (self.bbox[3] - self.bbox[1]).max(0.0)
    }

    pub fn iou(&self, other: &Detection) -> f32 {
        let [ax1, ay1, ax2, ay2] = self.bbox;
        let [bx1, by1, bx2, by2] = other.bbox;
        let iw = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
        let ih = (ay2.min(by2) - ay1.max(by1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Wall-clock time of each stage of one frame, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTimings {
    /// Reading the frame from its source (video decode / image load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode: Option<f64>,
    pub preprocess: f64,
    pub inference: f64,
    pub postprocess: f64,
    /// Time the frame waited for a free worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<f64>,
    /// Capture (frame ready) to result ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end: Option<f64>,
}

/// Everything known about one processed frame.
#[derive(Clone, Debug)]
pub struct FrameResult {
    pub frame: crate::Frame,
    pub model_id: Arc<str>,
    pub detections: Vec<Detection>,
    pub timings: StageTimings,
    /// The network's outputs, to decode the frame again with other settings.
    pub raw: Option<Arc<crate::model::RawOutputs>>,
    /// Tracked objects missed in this frame, at their predicted boxes (filled by the tracker
    /// when asked for; empty otherwise).
    pub predicted: Vec<Detection>,
}
