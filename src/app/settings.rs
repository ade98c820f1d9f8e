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
    pub workers: usize,
    /// Threads per inference for tract's matrix products.
    pub matmul_threads: usize,
    pub looping: bool,
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
            workers: crate::pipeline::default_workers(),
            matmul_threads: 1,
            looping: false,
        }
    }
}

impl Settings {
    /// Parse stored settings; anything unreadable yields the defaults.
    pub fn from_json(text: Option<&str>) -> Settings {
        let mut s: Settings = text
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        s.workers = s.workers.clamp(1, 64);
        s.matmul_threads = s.matmul_threads.clamp(1, 64);
        s.recent.truncate(MAX_RECENT);
        s
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
