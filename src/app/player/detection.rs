//! The [`Player`]'s detection settings (score threshold, NMS IoU, class filter, input size)
//! and showing their effect at once on a frame that is not moving.

use super::super::settings::Settings;
use super::{Notice, Player};
use crate::decode::DecodeParams;
use crate::source::SourceKind;
use std::sync::Arc;

impl Player {
    pub fn set_score_threshold(&mut self, settings: &mut Settings, v: f32) {
        self.params.score_threshold = v.clamp(0.0, 1.0);
        self.detection_changed(settings);
    }

    pub fn set_nms_iou(&mut self, settings: &mut Settings, v: f32) {
        self.params.nms_iou = v.clamp(0.0, 1.0);
        self.detection_changed(settings);
    }

    /// Which classes are reported (one flag per label).
    pub fn set_class_filter(&mut self, settings: &mut Settings, filter: Vec<bool>) {
        self.class_filter = filter;
        self.detection_changed(settings);
    }

    fn detection_changed(&mut self, settings: &mut Settings) {
        let all = self.class_filter.iter().all(|b| *b);
        self.params.class_filter = (!all).then(|| Arc::new(self.class_filter.clone()));
        if let Some(m) = &self.model {
            let id = m.id.to_string();
            settings
                .thresholds
                .insert(id.clone(), self.params.score_threshold);
            settings.nms_iou.insert(id, self.params.nms_iou);
        }
        if let Some(p) = &self.playing {
            p.pipeline
                .controls()
                .set_params(self.pipeline_params(p.info.kind));
        }
        self.rerun_if_still(true);
    }

    /// Force the network input size (`None`: the model's policy).
    pub fn set_input_size(&mut self, size: Option<[usize; 2]>) {
        self.input_size = size;
        if let Some(p) = &self.playing {
            p.pipeline.controls().set_input_size(size);
        }
        self.rerun_if_still(false);
    }

    /// What the pipeline decodes with: when tracking, down to the tracker's low score, so
    /// ByteTrack's second stage can keep the identity of an object whose score dips (what is
    /// shown is filtered back to the user's threshold).
    pub(super) fn pipeline_params(&self, kind: SourceKind) -> DecodeParams {
        let mut p = self.params.clone();
        if self.tracks(kind) {
            p.score_threshold = p
                .score_threshold
                .min(self.tracking.tracker.params().low_thresh);
        }
        p
    }

    /// When nothing new is coming (paused, ended, a still), show the effect of a settings
    /// change at once: decode the network's last outputs again when only decoding settings
    /// changed, or run the frame through the network again.
    pub(super) fn rerun_if_still(&mut self, decode_only: bool) {
        let Some(kind) = self.playing.as_ref().map(|p| p.info.kind) else {
            return;
        };
        let (tracking, params) = (self.tracks(kind), self.pipeline_params(kind));
        let (Some(p), Some(shown)) = (&self.playing, &mut self.shown) else {
            return;
        };
        if !(p.pipeline.controls().is_paused() || p.ended || kind == SourceKind::Image) {
            return;
        }
        let current_model = self.model.as_ref();
        let raw = shown
            .raw
            .clone()
            .filter(|r| current_model.is_some_and(|m| Arc::ptr_eq(r.model(), m)));
        match raw {
            Some(raw) if decode_only => match raw.decode(&params) {
                Ok(detections) => {
                    shown.detections = detections;
                    if tracking {
                        // Redo this frame from what the tracker knew before it.
                        if let Some(before) = self.tracking.before_last.clone() {
                            self.tracking.tracker = before;
                        }
                        self.tracking.track(shown, self.params.score_threshold);
                    }
                    self.frame_changed = true;
                }
                Err(e) => self.notices.push(Notice::Error(e.one_line())),
            },
            _ => p.pipeline.controls().reprocess(shown.frame.clone()),
        }
    }
}
