//! The app's state and everything that happens off the UI thread: loading models, opening
//! sources, file dialogs and camera discovery each run on a named thread and report back
//! through a channel that the UI polls once per frame. The UI thread never waits on any of them.

use super::settings::{Settings, STORAGE_KEY};
use super::toasts::Toasts;
use crate::decode::DecodeParams;
use crate::model::{Model, Registry};
use crate::pipeline::{Event, Mode, Pipeline, PipelineConfig};
use crate::source::camera::CameraDevice;
use crate::source::{FrameSource, SourceInfo, SourceKind};
use crate::{FrameResult, Result, StageTimings};
use crossbeam_channel::Receiver;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const HISTORY: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    Video,
    Image,
    Model,
}

impl DialogKind {
    fn title(self) -> &'static str {
        match self {
            DialogKind::Video => "Open video",
            DialogKind::Image => "Open image",
            DialogKind::Model => "Load ONNX model",
        }
    }
}

/// A source being played through the pipeline.
pub struct Playing {
    pub pipeline: Pipeline,
    pub info: SourceInfo,
    pub spec: String,
    pub ended: bool,
    pub paused: bool,
    pub speed: f64,
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

/// A background task's answer.
type Task<T> = Receiver<T>;
/// A source being opened on a background thread.
type Opening = (String, Task<Result<Box<dyn FrameSource>>>);

pub struct CenterscopeApp {
    pub settings: Settings,
    pub registry: Registry,
    pub model: Option<Arc<Model>>,
    pub model_loading: Option<(String, Task<Result<Arc<Model>>>)>,
    pub params: DecodeParams,
    pub class_filter: Vec<bool>,
    pub class_search: String,
    pub input_size: Option<[usize; 2]>,
    pub playing: Option<Playing>,
    pub opening: Option<Opening>,
    /// A source opened before the model was ready.
    pub waiting_source: Option<(String, Box<dyn FrameSource>)>,
    pub shown: Option<Box<FrameResult>>,
    pub texture: Option<egui::TextureHandle>,
    pub history: VecDeque<StageTimings>,
    /// Arrival times of recent results (for the fps readout).
    pub arrivals: VecDeque<Instant>,
    pub results_received: u64,
    pub ui_frames: u64,
    pub toasts: Toasts,
    pub dialog: Option<(DialogKind, Instant, Task<Option<PathBuf>>)>,
    pub fallback_dialog: Option<(DialogKind, egui_file::FileDialog)>,
    /// rfd answers "nothing" within this time when no dialog could be shown at all.
    pub native_dialog_unavailable: bool,
    pub cameras: Option<Vec<CameraDevice>>,
    pub cameras_task: Option<Task<Result<Vec<CameraDevice>>>>,
    /// Test hook: slow every inference down by this much.
    pub debug_delay: Option<Duration>,
    pub seek_drag: Option<f64>,
    /// Where to continue after the pipeline restarts (settings change).
    pub resume_at_ms: Option<f64>,
    /// A seek was asked for and its frame has not arrived yet.
    pub seeking: bool,
    /// Used by pipeline threads to wake the UI.
    pub repaint_ctx: Option<egui::Context>,
}

impl CenterscopeApp {
    /// A new app with these settings; starts loading the last-used model.
    pub fn new(settings: Settings) -> Self {
        let registry = Registry::with_user_models();
        let mut app = CenterscopeApp {
            settings,
            registry,
            model: None,
            model_loading: None,
            params: DecodeParams {
                score_threshold: 0.3,
                nms_iou: 0.5,
                top_k: 100,
                class_filter: None,
            },
            class_filter: Vec::new(),
            class_search: String::new(),
            input_size: None,
            playing: None,
            opening: None,
            waiting_source: None,
            shown: None,
            texture: None,
            history: VecDeque::with_capacity(HISTORY),
            arrivals: VecDeque::new(),
            results_received: 0,
            ui_frames: 0,
            toasts: Toasts::default(),
            dialog: None,
            fallback_dialog: None,
            native_dialog_unavailable: false,
            cameras: None,
            cameras_task: None,
            debug_delay: None,
            seek_drag: None,
            repaint_ctx: None,
            seeking: false,
            resume_at_ms: None,
        };
        for w in app.registry.warnings.clone() {
            app.toasts.error(w);
        }
        let id = app.settings.model_id.clone();
        let id = if app.registry.get(&id).is_some() {
            id
        } else {
            crate::model::DEFAULT_MODEL.to_string()
        };
        app.select_model(&id);
        app.refresh_cameras();
        app
    }

    /// From eframe's creation context: restore settings (corrupt ones fall back to defaults).
    pub fn from_storage(storage: Option<&dyn eframe::Storage>) -> Self {
        let text = storage.and_then(|s| s.get_string(STORAGE_KEY));
        CenterscopeApp::new(Settings::from_json(text.as_deref()))
    }

    // ---- models -------------------------------------------------------------------------

    /// Start loading a model (by id or path) in the background.
    pub fn select_model(&mut self, id_or_path: &str) {
        let entry = match self.registry.resolve(id_or_path) {
            Ok(e) => e,
            Err(e) => return self.toasts.error(e.one_line()),
        };
        let id = entry.manifest.id.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name(format!("load-model-{id}"))
            .spawn(move || {
                let _ = tx.send(entry.load());
            });
        match spawned {
            Ok(_) => self.model_loading = Some((id, rx)),
            Err(e) => self.toasts.error(format!("cannot start model loader: {e}")),
        }
    }

    fn model_ready(&mut self, model: Arc<Model>) {
        let id = model.id.to_string();
        let d = &model.manifest.defaults;
        self.params = DecodeParams {
            score_threshold: self
                .settings
                .thresholds
                .get(&id)
                .copied()
                .unwrap_or(d.score_threshold),
            nms_iou: self.settings.nms_iou.get(&id).copied().unwrap_or(d.nms_iou),
            top_k: d.top_k,
            class_filter: None,
        };
        self.class_filter = vec![true; model.labels.len()];
        self.input_size = None;
        self.settings.model_id = id;
        if let Some(p) = &self.playing {
            let c = p.pipeline.controls();
            c.set_input_size(None);
            c.set_params(self.params.clone());
            c.set_model(model.clone());
        }
        self.model = Some(model);
        self.reprocess_if_paused();
        if let Some((spec, src)) = self.waiting_source.take() {
            self.start_playing(spec, src);
        }
    }

    /// Push changed thresholds/filters to the pipeline (effective at the next frame).
    pub fn params_changed(&mut self) {
        let all = self.class_filter.iter().all(|b| *b);
        self.params.class_filter = if all {
            None
        } else {
            Some(Arc::new(self.class_filter.clone()))
        };
        if let Some(m) = &self.model {
            self.settings
                .thresholds
                .insert(m.id.to_string(), self.params.score_threshold);
            self.settings
                .nms_iou
                .insert(m.id.to_string(), self.params.nms_iou);
        }
        if let Some(p) = &self.playing {
            p.pipeline.controls().set_params(self.params.clone());
        }
        self.reprocess_if_paused();
    }

    pub fn input_size_changed(&mut self) {
        if let Some(p) = &self.playing {
            p.pipeline.controls().set_input_size(self.input_size);
        }
        self.reprocess_if_paused();
    }

    /// When nothing new is coming (paused, ended, a still), run the frame on screen again so a
    /// settings change is visible at once.
    fn reprocess_if_paused(&mut self) {
        let (Some(p), Some(shown)) = (&self.playing, &self.shown) else {
            return;
        };
        if p.paused || p.ended || p.info.kind == SourceKind::Image {
            p.pipeline.controls().reprocess(shown.frame.clone());
        }
    }

    // ---- sources ------------------------------------------------------------------------

    /// Open a file, folder or `camera:N` in the background.
    pub fn open(&mut self, spec: &str) {
        let spec = spec.to_string();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let s = spec.clone();
        match std::thread::Builder::new()
            .name("open-source".into())
            .spawn(move || {
                let _ = tx.send(crate::source::open(&s));
            }) {
            Ok(_) => self.opening = Some((spec, rx)),
            Err(e) => self.toasts.error(format!("cannot open {spec}: {e}")),
        }
    }

    fn start_playing(&mut self, spec: String, source: Box<dyn FrameSource>) {
        let Some(model) = self.model.clone() else {
            self.waiting_source = Some((spec, source));
            return;
        };
        let info = source.info().clone();
        let video_like = matches!(info.kind, SourceKind::Video | SourceKind::ImageFolder);
        let ctx = self.repaint_ctx.clone();
        let config = PipelineConfig {
            workers: self.settings.workers,
            mode: if info.kind == SourceKind::Image {
                Mode::EveryFrame
            } else {
                Mode::Live
            },
            realtime: video_like,
            looping: self.settings.looping && video_like,
            on_event: ctx
                .map(|c| Arc::new(move || c.request_repaint()) as Arc<dyn Fn() + Send + Sync>),
            debug_delay: self.debug_delay,
            matmul_threads: self.settings.matmul_threads,
            ..Default::default()
        };
        if let Some(old) = self.playing.take() {
            retire(old);
        }
        match Pipeline::start(source, model, self.params.clone(), config) {
            Ok(pipeline) => {
                pipeline.controls().set_input_size(self.input_size);
                if let Some(t) = self.resume_at_ms.take() {
                    pipeline
                        .controls()
                        .seek(crate::source::SeekTarget::TimeMs(t));
                }
                if info.kind != SourceKind::Camera {
                    self.settings.push_recent(&spec);
                }
                self.shown = None;
                self.history.clear();
                self.arrivals.clear();
                self.playing = Some(Playing {
                    pipeline,
                    info,
                    spec,
                    ended: false,
                    paused: false,
                    speed: 1.0,
                });
            }
            Err(e) => self.toasts.error(e.one_line()),
        }
    }

    /// Restart the current source at the frame on screen (e.g. after the worker count changed).
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

    pub fn close_source(&mut self) {
        if let Some(p) = self.playing.take() {
            retire(p);
        }
        self.shown = None;
        self.texture = None;
        self.history.clear();
        self.arrivals.clear();
    }

    pub fn refresh_cameras(&mut self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if std::thread::Builder::new()
            .name("list-cameras".into())
            .spawn(move || {
                let _ = tx.send(crate::source::camera::list_cameras());
            })
            .is_ok()
        {
            self.cameras_task = Some(rx);
        }
    }

    // ---- playback -----------------------------------------------------------------------

    pub fn toggle_pause(&mut self) {
        if let Some(p) = &mut self.playing {
            p.paused = !p.paused;
            p.pipeline.controls().set_paused(p.paused);
            if !p.paused && p.ended {
                p.ended = false;
                p.pipeline
                    .controls()
                    .seek(crate::source::SeekTarget::Frame(0));
            }
        }
    }

    /// Step one frame forward (`delta` = 1) or back (-1), pausing first.
    pub fn step(&mut self, delta: i64) {
        let current = self.shown.as_ref().map(|s| s.frame.index);
        let Some(p) = &mut self.playing else { return };
        if p.info.is_live() {
            return;
        }
        p.paused = true;
        p.pipeline.controls().set_paused(true);
        if delta >= 0 {
            p.pipeline.controls().step();
        } else if let Some(i) = current {
            p.ended = false;
            p.pipeline
                .controls()
                .seek(crate::source::SeekTarget::Frame(i.saturating_sub(1)));
            self.seeking = true;
        }
    }

    pub fn seek_ms(&mut self, ms: f64) {
        if let Some(p) = &mut self.playing {
            p.ended = false;
            p.pipeline
                .controls()
                .seek(crate::source::SeekTarget::TimeMs(ms));
            self.seeking = true;
        }
    }

    // ---- per-frame polling --------------------------------------------------------------

    /// Collect everything background work produced since the last frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.repaint_ctx = Some(ctx.clone());
        if let Some((id, rx)) = &self.model_loading {
            if let Ok(res) = rx.try_recv() {
                let id = id.clone();
                self.model_loading = None;
                match res {
                    Ok(m) => self.model_ready(m),
                    Err(e) => {
                        self.toasts.error(e.one_line());
                        // Keep the previous good model; if there is none, fall back to the default.
                        if self.model.is_none() && id != crate::model::DEFAULT_MODEL {
                            self.select_model(crate::model::DEFAULT_MODEL);
                        }
                    }
                }
            }
        }
        if let Some((spec, rx)) = &self.opening {
            if let Ok(res) = rx.try_recv() {
                let spec = spec.clone();
                self.opening = None;
                match res {
                    Ok(src) => self.start_playing(spec, src),
                    Err(e) => self.toasts.error(e.one_line()),
                }
            }
        }
        if let Some(rx) = &self.cameras_task {
            if let Ok(res) = rx.try_recv() {
                self.cameras_task = None;
                match res {
                    Ok(c) => self.cameras = Some(c),
                    Err(e) => {
                        self.cameras = Some(Vec::new());
                        self.toasts.error(e.one_line());
                    }
                }
            }
        }
        self.poll_dialog();
        self.poll_pipeline(ctx);
    }

    fn poll_pipeline(&mut self, ctx: &egui::Context) {
        let Some(p) = &mut self.playing else { return };
        let mut newest = None;
        let mut error = None;
        while let Some(ev) = p.pipeline.try_recv() {
            match ev {
                Event::Frame(r) => {
                    self.results_received += 1;
                    self.arrivals.push_back(Instant::now());
                    if self.history.len() == HISTORY {
                        self.history.pop_front();
                    }
                    self.history.push_back(r.timings);
                    newest = Some(r);
                }
                Event::EndOfStream => p.ended = true,
                Event::Error(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        while self
            .arrivals
            .front()
            .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
        {
            self.arrivals.pop_front();
        }
        if let Some(r) = newest {
            let image = egui::ColorImage::from_rgb(
                [r.frame.width as usize, r.frame.height as usize],
                &r.frame.rgb,
            );
            match &mut self.texture {
                Some(t) if t.size() == image.size => t.set(image, egui::TextureOptions::LINEAR),
                _ => {
                    self.texture =
                        Some(ctx.load_texture("video-frame", image, egui::TextureOptions::LINEAR))
                }
            }
            self.shown = Some(r);
            self.seeking = false;
        }
        if let Some(e) = error {
            // The source is finished; keep the last picture on screen.
            self.toasts.error(e.one_line());
            if let Some(p) = self.playing.take() {
                retire(p);
            }
        }
    }

    /// Results per second over the last two seconds.
    pub fn fps(&self) -> f64 {
        match (self.arrivals.front(), self.arrivals.back()) {
            (Some(a), Some(b)) if self.arrivals.len() > 1 => {
                (self.arrivals.len() - 1) as f64 / (*b - *a).as_secs_f64().max(1e-3)
            }
            _ => 0.0,
        }
    }

    // ---- dialogs ------------------------------------------------------------------------

    /// Ask for a file with the native dialog on its own thread.
    pub fn ask_file(&mut self, kind: DialogKind) {
        if self.native_dialog_unavailable {
            return self.open_fallback_dialog(kind);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title(kind.title());
                let dialog = match kind {
                    DialogKind::Video => dialog
                        .add_filter(
                            "Videos",
                            &["mp4", "mkv", "mov", "webm", "avi", "m4v", "mpg", "ts"],
                        )
                        .add_filter("All files", &["*"]),
                    DialogKind::Image => {
                        dialog.add_filter("Images", &["png", "jpg", "jpeg", "bmp", "webp", "gif"])
                    }
                    DialogKind::Model => dialog.add_filter("ONNX models", &["onnx", "json"]),
                };
                let _ = tx.send(dialog.pick_file());
            });
        match spawned {
            Ok(_) => self.dialog = Some((kind, Instant::now(), rx)),
            Err(_) => self.open_fallback_dialog(kind),
        }
    }

    fn open_fallback_dialog(&mut self, kind: DialogKind) {
        let start = self
            .settings
            .recent
            .first()
            .and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()));
        let mut d = egui_file::FileDialog::open_file().title(kind.title());
        if let Some(dir) = start.or_else(|| std::env::current_dir().ok()) {
            d = d.initial_path(dir);
        }
        d.open();
        self.fallback_dialog = Some((kind, d));
    }

    fn poll_dialog(&mut self) {
        let Some((kind, asked, rx)) = &self.dialog else {
            return;
        };
        let Ok(answer) = rx.try_recv() else { return };
        let (kind, quick) = (*kind, asked.elapsed() < Duration::from_millis(400));
        self.dialog = None;
        match answer {
            Some(path) => self.file_chosen(kind, path),
            // No portal/zenity: rfd answers at once with nothing. Nobody cancels that fast.
            None if quick => {
                self.native_dialog_unavailable = true;
                self.open_fallback_dialog(kind);
            }
            None => {}
        }
    }

    pub fn file_chosen(&mut self, kind: DialogKind, path: PathBuf) {
        let spec = path.to_string_lossy().into_owned();
        match kind {
            DialogKind::Video | DialogKind::Image => self.open(&spec),
            DialogKind::Model => self.select_model(&spec),
        }
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        storage.set_string(STORAGE_KEY, self.settings.to_json());
    }
}
