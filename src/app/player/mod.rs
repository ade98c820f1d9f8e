//! The [`Player`]: the one owner of what is playing and how it is detected — the model, the
//! detection settings, the running pipeline, the frame on screen and its statistics.
//!
//! The UI reads from it and sends it intents (`open`, `toggle_pause`, `set_score_threshold`,
//! …); nothing else touches the pipeline's [`Controls`](crate::pipeline::Controls). Every
//! setter updates the player's value and the running pipeline in one place, so no view has to
//! remember to propagate a change. Problems become [`Notice`]s that the app shows once.
//!
//! This module holds the player's state, its construction, what the view reads, models,
//! sources and the per-frame poll; the rest is split by concern: [`detection`] (detection
//! settings), [`playback`] (pause, step, seek, speed, looping), [`tracking`] (the tracker and
//! trails) and [`stats`] (latency history and FPS).

mod detection;
mod playback;
mod stats;
mod tracking;

pub use stats::{Stats, HISTORY};
pub use tracking::TRAIL_MS;

use super::pending::{Pending, Poll};
use super::settings::Settings;
use crate::decode::DecodeParams;
use crate::model::{Model, Registry};
use crate::pipeline::{Event, Mode, Pipeline, PipelineConfig};
use crate::source::{FrameSource, SeekTarget, SourceInfo, SourceKind};
use crate::track::Tracker;
use crate::FrameResult;
use std::sync::Arc;
use std::time::Duration;
use tracking::Tracking;

/// Something the user should see once (the app turns it into a notification).
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Error(String),
    Warning(String),
}

/// A source being played through the pipeline.
struct Playing {
    pipeline: Pipeline,
    info: SourceInfo,
    spec: String,
    ended: bool,
}

/// Stop a pipeline without making the UI wait for its workers to finish their frames.
fn retire(p: Playing) {
    let spawned = std::thread::Builder::new()
        .name("pipeline-retire".into())
        .spawn(move || drop(p));
    if let Err(e) = spawned {
        eprintln!("centerscope: cannot stop the previous pipeline in the background: {e}");
    }
}

pub struct Player {
    registry: Registry,
    model: Option<Arc<Model>>,
    loading: Option<(String, Pending<Arc<Model>>)>,
    params: DecodeParams,
    class_filter: Vec<bool>,
    input_size: Option<[usize; 2]>,
    opening: Option<(String, Pending<Box<dyn FrameSource>>)>,
    /// A source opened before the model was ready.
    waiting_source: Option<(String, Box<dyn FrameSource>)>,
    playing: Option<Playing>,
    /// Where to continue after the pipeline restarts (workers changed).
    resume_at_ms: Option<f64>,
    shown: Option<Box<FrameResult>>,
    /// The shown frame changed since the view last asked (upload the texture).
    frame_changed: bool,
    /// A seek was asked for and its frame has not arrived yet.
    seeking: bool,
    stats: Stats,
    tracking: Tracking,
    wake: Option<Arc<dyn Fn() + Send + Sync>>,
    notices: Vec<Notice>,
    /// Slow every inference down (tests of a slow model; `CENTERSCOPE_DEBUG_DELAY_MS`).
    debug_delay: Option<Duration>,
}

impl Player {
    /// A player with `registry`'s models; starts loading `settings.model_id` (or the default).
    pub fn new(registry: Registry, settings: &Settings) -> Player {
        let mut p = Player {
            registry,
            model: None,
            loading: None,
            params: DecodeParams::default(),
            class_filter: Vec::new(),
            input_size: None,
            opening: None,
            waiting_source: None,
            playing: None,
            resume_at_ms: None,
            shown: None,
            frame_changed: false,
            seeking: false,
            stats: Stats::default(),
            tracking: Tracking {
                enabled: settings.show_tracks,
                tracker: Tracker::new(settings.tracker_params()),
                before_last: None,
                trails: Default::default(),
            },
            wake: None,
            notices: Vec::new(),
            debug_delay: crate::env::debug_delay(),
        };
        for w in p.registry.warnings.clone() {
            p.notices.push(Notice::Warning(w));
        }
        let id = if p.registry.get(&settings.model_id).is_some() {
            settings.model_id.clone()
        } else {
            crate::model::DEFAULT_MODEL.to_string()
        };
        p.select_model(&id);
        p
    }

    /// Called by pipeline threads when a result is ready (the UI's `request_repaint`).
    pub fn set_waker(&mut self, wake: Arc<dyn Fn() + Send + Sync>) {
        self.wake = Some(wake);
    }

    pub fn has_waker(&self) -> bool {
        self.wake.is_some()
    }

    pub fn set_debug_delay(&mut self, delay: Option<Duration>) {
        self.debug_delay = delay;
    }

    /// Notices since the last call, each returned once.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.notices.push(Notice::Error(e.to_string()));
    }

    // ---- what the view reads ------------------------------------------------------------

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    pub fn model(&self) -> Option<&Arc<Model>> {
        self.model.as_ref()
    }
    /// The id of the model being loaded.
    pub fn loading_model(&self) -> Option<&str> {
        self.loading.as_ref().map(|(id, _)| id.as_str())
    }
    /// The source being opened.
    pub fn opening(&self) -> Option<&str> {
        self.opening.as_ref().map(|(spec, _)| spec.as_str())
    }
    pub fn params(&self) -> &DecodeParams {
        &self.params
    }
    pub fn class_filter(&self) -> &[bool] {
        &self.class_filter
    }
    pub fn input_size(&self) -> Option<[usize; 2]> {
        self.input_size
    }
    pub fn shown(&self) -> Option<&FrameResult> {
        self.shown.as_deref()
    }
    /// True once after the shown frame changed.
    pub fn take_frame_changed(&mut self) -> bool {
        std::mem::take(&mut self.frame_changed)
    }
    /// What is open (the path or `camera:N` it was opened with).
    pub fn spec(&self) -> Option<&str> {
        self.playing.as_ref().map(|p| p.spec.as_str())
    }
    /// The shown frame must be uploaded again (a view setting that changes its pixels).
    pub fn mark_frame_changed(&mut self) {
        self.frame_changed = true;
    }
    /// The callback that repaints the window (for background work that reports progress).
    pub fn waker(&self) -> Option<Arc<dyn Fn() + Send + Sync>> {
        self.wake.clone()
    }
    pub fn source(&self) -> Option<&SourceInfo> {
        self.playing.as_ref().map(|p| &p.info)
    }
    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }
    pub fn is_paused(&self) -> bool {
        self.playing
            .as_ref()
            .is_some_and(|p| p.pipeline.controls().is_paused())
    }
    pub fn is_ended(&self) -> bool {
        self.playing.as_ref().is_some_and(|p| p.ended)
    }
    pub fn speed(&self) -> f64 {
        self.playing
            .as_ref()
            .map(|p| p.pipeline.controls().speed())
            .unwrap_or(1.0)
    }
    /// Frames the pipeline skipped (live mode) plus frames the camera replaced.
    pub fn dropped(&self) -> u64 {
        self.playing
            .as_ref()
            .map(|p| p.pipeline.controls().dropped())
            .unwrap_or(0)
    }
    pub fn is_seeking(&self) -> bool {
        self.seeking
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Is anything happening in the background (the UI keeps polling while so)?
    pub fn busy(&self) -> bool {
        self.loading.is_some() || self.opening.is_some()
    }
    // ---- models -------------------------------------------------------------------------

    /// Start loading a model (by id or path) in the background.
    pub fn select_model(&mut self, id_or_path: &str) {
        let entry = match self.registry.resolve(id_or_path) {
            Ok(e) => e,
            Err(e) => return self.error(e.one_line()),
        };
        let id = entry.manifest.id.clone();
        match Pending::spawn(
            &format!("load-model-{id}"),
            format!("loading model {id}"),
            move || entry.load(),
        ) {
            Ok(task) => self.loading = Some((id, task)),
            Err(e) => self.error(e.one_line()),
        }
    }

    fn model_ready(&mut self, model: Arc<Model>, settings: &mut Settings) {
        let id = model.id.to_string();
        let mut params = model.default_params();
        if let Some(t) = settings.thresholds.get(&id) {
            params.score_threshold = *t;
        }
        if let Some(n) = settings.nms_iou.get(&id) {
            params.nms_iou = *n;
        }
        self.params = params;
        self.class_filter = vec![true; model.labels.len()];
        self.input_size = None;
        settings.model_id = id;
        self.reset_tracks();
        if let Some(p) = &self.playing {
            let c = p.pipeline.controls();
            c.set_input_size(None);
            c.set_params(self.pipeline_params(p.info.kind));
            c.set_model(model.clone());
        }
        self.model = Some(model);
        self.rerun_if_still(false);
        if let Some((spec, src)) = self.waiting_source.take() {
            self.start_playing(spec, src, settings);
        }
    }

    // ---- sources ------------------------------------------------------------------------

    /// Open a file, folder or `camera:N` in the background.
    pub fn open(&mut self, spec: &str) {
        let s = spec.to_string();
        match Pending::spawn("open-source", format!("opening {spec}"), move || {
            crate::source::open(&s)
        }) {
            Ok(task) => self.opening = Some((spec.to_string(), task)),
            Err(e) => self.error(e.one_line()),
        }
    }

    fn start_playing(
        &mut self,
        spec: String,
        source: Box<dyn FrameSource>,
        settings: &mut Settings,
    ) {
        let Some(model) = self.model.clone() else {
            self.waiting_source = Some((spec, source));
            return;
        };
        let info = source.info().clone();
        let video_like = matches!(info.kind, SourceKind::Video | SourceKind::ImageFolder);
        let config = PipelineConfig {
            workers: settings.view_split().0,
            mode: Mode::for_display(info.kind),
            realtime: video_like,
            looping: settings.looping && video_like,
            on_event: self.wake.clone(),
            debug_delay: self.debug_delay,
            matmul_threads: settings.view_split().1,
            ..Default::default()
        };
        if let Some(old) = self.playing.take() {
            retire(old);
        }
        match Pipeline::start(source, model, self.pipeline_params(info.kind), config) {
            Ok(pipeline) => {
                pipeline.controls().set_input_size(self.input_size);
                if let Some(t) = self.resume_at_ms.take() {
                    pipeline.controls().seek(SeekTarget::TimeMs(t));
                }
                if info.kind != SourceKind::Camera {
                    settings.push_recent(&spec);
                }
                self.shown = None;
                self.frame_changed = true;
                self.stats.clear();
                self.reset_tracks();
                self.tracking.tracker.clear_counts();
                if let Some(fps) = info.fps.filter(|f| *f > 0.0) {
                    let mut t = *self.tracking.tracker.params();
                    t.frame_interval_ms = 1000.0 / fps;
                    self.tracking.tracker.set_params(t);
                }
                self.playing = Some(Playing {
                    pipeline,
                    info,
                    spec,
                    ended: false,
                });
            }
            Err(e) => self.error(e.one_line()),
        }
    }

    /// Restart the current source at the frame on screen (the worker count changed).
    pub fn restart_at_current(&mut self) {
        let Some(p) = self.playing.take() else { return };
        let spec = p.spec.clone();
        self.resume_at_ms = self
            .shown
            .as_ref()
            .map(|s| s.frame.pts_ms)
            .filter(|t| *t > 0.0);
        retire(p);
        self.open(&spec);
    }

    pub fn close(&mut self) {
        if let Some(p) = self.playing.take() {
            retire(p);
        }
        self.shown = None;
        self.frame_changed = true;
        self.stats.clear();
        self.reset_tracks();
    }

    // ---- once per UI frame --------------------------------------------------------------

    /// Collect what background work produced since the last frame.
    pub fn poll(&mut self, settings: &mut Settings) {
        if let Some((id, task)) = &self.loading {
            if let Poll::Done(result) = task.poll() {
                let id = id.clone();
                self.loading = None;
                match result {
                    Ok(m) => self.model_ready(m, settings),
                    Err(e) => {
                        self.error(e.one_line());
                        // Keep the previous good model; if there is none, fall back to the
                        // default.
                        if self.model.is_none() && id != crate::model::DEFAULT_MODEL {
                            self.select_model(crate::model::DEFAULT_MODEL);
                        }
                    }
                }
            }
        }
        if let Some((spec, task)) = &self.opening {
            if let Poll::Done(result) = task.poll() {
                let spec = spec.clone();
                self.opening = None;
                match result {
                    Ok(src) => self.start_playing(spec, src, settings),
                    Err(e) => self.error(e.one_line()),
                }
            }
        }
        self.poll_pipeline();
    }

    fn poll_pipeline(&mut self) {
        let tracking = self.tracking();
        let Some(p) = &mut self.playing else { return };
        let mut newest = None;
        let mut error = None;
        while let Some(ev) = p.pipeline.try_recv() {
            match ev {
                Event::Frame(mut r) => {
                    self.stats.push(r.timings);
                    if tracking {
                        self.tracking.track(&mut r, self.params.score_threshold);
                    }
                    newest = Some(r);
                }
                Event::Skipped(e) => self.notices.push(Notice::Warning(e.one_line())),
                Event::EndOfStream => p.ended = true,
                Event::Error(e) | Event::FrameFailed(_, e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        self.stats.forget_old();
        if let Some(r) = newest {
            self.shown = Some(r);
            self.frame_changed = true;
            self.seeking = false;
        }
        if let Some(e) = error {
            // The source is finished; keep the last picture on screen.
            self.error(e.one_line());
            if let Some(p) = self.playing.take() {
                retire(p);
            }
        }
    }
}
