//! What the app remembers between runs (eframe storage). A corrupt or older settings blob
//! falls back to defaults field by field instead of failing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STORAGE_KEY: &str = "centerscope-settings";
pub const MAX_RECENT: usize = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub model_id: String,
    /// Per-model score threshold chosen by the user.
    pub thresholds: BTreeMap<String, f32>,
    pub nms_iou: BTreeMap<String, f32>,
    pub recent: Vec<String>,
    pub show_labels: bool,
    pub show_scores: bool,
    pub show_keypoints: bool,
    pub show_stats: bool,
    pub show_side_panel: bool,
    /// Track objects across frames (video and cameras): IDs, colours per track, trails.
    pub show_tracks: bool,
    /// Draw the predicted box of a tracked object missed in this frame.
    pub show_predicted: bool,
    pub tracker: crate::track::TrackerParams,
    /// Pick workers × threads for the lowest latency (1 worker using every core: measured with
    /// `bench --live`, docs/benchmarks.md); off: `workers` and `matmul_threads` as set.
    pub split_auto: bool,
    pub workers: usize,
    /// Threads per inference for tract's matrix products.
    pub matmul_threads: usize,
    pub looping: bool,
    /// View → Anonymise: the frame on screen shows what the model finds covered (blurred).
    pub anonymize_preview: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_id: crate::model::DEFAULT_MODEL.to_string(),
            thresholds: BTreeMap::new(),
            nms_iou: BTreeMap::new(),
            recent: Vec::new(),
            show_labels: true,
            show_scores: true,
            show_keypoints: true,
            show_stats: true,
            show_side_panel: true,
            show_tracks: true,
            show_predicted: false,
            tracker: crate::track::TrackerParams::default(),
            split_auto: true,
            workers: crate::pipeline::default_workers(),
            matmul_threads: 1,
            looping: false,
            anonymize_preview: false,
        }
    }
}

impl Settings {
    /// Workers and threads per frame for the view: with `split_auto`, one worker using every
    /// core (a shown frame's latency matters more than throughput, and one frame on two cores
    /// arrives sooner than two frames on one core each); otherwise as set.
    pub fn view_split(&self) -> (usize, usize) {
        if self.split_auto {
            (1, crate::pipeline::default_workers().max(1))
        } else {
            (self.workers, self.matmul_threads)
        }
    }

    /// Parse stored settings field by field: a field of the wrong type or out of range falls
    /// back to its default and leaves the others alone; unreadable text yields the defaults.
    pub fn from_json(text: Option<&str>) -> Settings {
        let defaults = Settings::default();
        let stored = text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
        let (Some(serde_json::Value::Object(stored)), Ok(serde_json::Value::Object(mut merged))) =
            (stored, serde_json::to_value(&defaults))
        else {
            return defaults;
        };
        for (key, value) in stored {
            let Some(old) = merged.get(&key).cloned() else {
                continue; // a field of an older version
            };
            merged.insert(key.clone(), value);
            if serde_json::from_value::<Settings>(serde_json::Value::Object(merged.clone()))
                .is_err()
            {
                merged.insert(key, old);
            }
        }
        let mut s = serde_json::from_value::<Settings>(serde_json::Value::Object(merged))
            .unwrap_or(defaults);
        s.sanitize();
        s
    }

    /// Bring every value into its allowed range.
    fn sanitize(&mut self) {
        self.workers = self.workers.clamp(1, crate::pipeline::max_workers());
        self.matmul_threads = self
            .matmul_threads
            .clamp(1, crate::pipeline::MAX_MATMUL_THREADS);
        let unit = |v: &f32| v.is_finite() && (0.0..=1.0).contains(v);
        self.thresholds.retain(|_, v| unit(v));
        self.nms_iou.retain(|_, v| unit(v));
        self.recent.retain(|p| !p.is_empty());
        self.recent.truncate(MAX_RECENT);
        let t = &mut self.tracker;
        let ok = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        let valid = ok(t.high_thresh)
            && ok(t.low_thresh)
            && ok(t.match_iou)
            && ok(t.second_match_iou)
            && t.lost_buffer_s.is_finite()
            && (0.0..=3600.0).contains(&t.lost_buffer_s)
            && t.frame_interval_ms.is_finite()
            && t.frame_interval_ms > 0.0;
        if !valid {
            *t = crate::track::TrackerParams::default();
        }
        if self.model_id.trim().is_empty() {
            self.model_id = crate::model::DEFAULT_MODEL.to_string();
        }
    }

    pub fn tracker_params(&self) -> crate::track::TrackerParams {
        self.tracker
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn push_recent(&mut self, path: &str) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_string());
        self.recent.truncate(MAX_RECENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_or_partial_settings_fall_back_to_defaults() {
        assert_eq!(Settings::from_json(Some("{not json")), Settings::default());
        assert_eq!(Settings::from_json(None), Settings::default());
        let s = Settings::from_json(Some(
            r#"{"model_id":"centerface","workers":0,"unknown_old_field":3}"#,
        ));
        assert_eq!(s.model_id, "centerface");
        assert_eq!(s.workers, 1);
        assert!(s.show_labels);
    }

    #[test]
    fn one_bad_field_keeps_the_others() {
        // Issue 10: a wrongly typed field used to reset every setting.
        let s = Settings::from_json(Some(
            r#"{"model_id":"centerface","show_labels":"yes","workers":2,"recent":["a.mp4"],
                "thresholds":{"centerface":0.7,"x":7.0},"nms_iou":{"centerface":"high"}}"#,
        ));
        assert_eq!(s.model_id, "centerface");
        assert!(s.show_labels, "bad field: default");
        assert_eq!(s.workers, 2.min(crate::pipeline::max_workers()));
        assert_eq!(s.recent, vec!["a.mp4".to_string()]);
        assert_eq!(s.thresholds.get("centerface"), Some(&0.7));
        assert_eq!(s.thresholds.get("x"), None, "out of range: dropped");
        assert!(s.nms_iou.is_empty());
        let s = Settings::from_json(Some(r#"{"workers":100000,"matmul_threads":0}"#));
        assert_eq!(s.workers, crate::pipeline::max_workers());
        assert_eq!(s.matmul_threads, 1);
        // The view's split is automatic unless turned off.
        assert_eq!(
            Settings::default().view_split(),
            (1, crate::pipeline::default_workers())
        );
        let manual = Settings {
            split_auto: false,
            workers: 3,
            matmul_threads: 2,
            ..Settings::default()
        };
        assert_eq!(manual.view_split(), (3, 2));
    }

    #[test]
    fn recent_files_are_unique_and_bounded() {
        let mut s = Settings::default();
        for i in 0..15 {
            s.push_recent(&format!("f{i}"));
        }
        s.push_recent("f3");
        assert_eq!(s.recent.len(), MAX_RECENT);
        assert_eq!(s.recent[0], "f3");
        assert_eq!(s.recent.iter().filter(|p| *p == "f3").count(), 1);
    }
}
