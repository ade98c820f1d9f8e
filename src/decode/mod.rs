//! Turning raw network outputs into detections in source pixels.
//!
//! CenterNet decoding: keep heatmap cells that are the maximum of their 3×3 neighbourhood
//! (the max-pool "NMS" of the paper) and above the score threshold, take the top K, build a box
//! from the size head around each peak, map it back through the preprocessing transform, then a
//! class-aware greedy NMS removes the few duplicates peak suppression leaves.

pub mod families;
pub mod nms;
pub mod peaks;

pub use families::{decode, OutputView};
pub use nms::nms;
pub use peaks::{find_peaks, HeatmapView, Peak};

use std::sync::Arc;

/// User-adjustable decoding settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeParams {
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub top_k: usize,
    /// When set, only classes whose entry is `true` are reported.
    pub class_filter: Option<Arc<Vec<bool>>>,
}

/// Settings before any model is known; a loaded model's manifest supplies its own
/// ([`crate::model::Model::default_params`]).
impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            score_threshold: 0.3,
            nms_iou: 0.5,
            top_k: 100,
            class_filter: None,
        }
    }
}

impl DecodeParams {
    pub fn allows(&self, class_id: usize) -> bool {
        self.class_filter
            .as_ref()
            .is_none_or(|f| f.get(class_id).copied().unwrap_or(false))
    }
}
