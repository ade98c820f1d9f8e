//! The app: who owns what. [`CenterscopeApp`] holds the persisted [`Settings`], the
//! [`Player`] (model, detection settings, pipeline, frame on screen), the notifications, the
//! file dialogs, the camera list and the one texture the video is drawn with. The UI (`ui/`)
//! reads these and calls intents; background work runs in [`Pending`] tasks polled here once
//! per frame.

use super::dialogs::{DialogKind, Dialogs};
use super::export::{ExportOutcome, ExportTask, Exports};
use super::pending::{take_done, Pending};
use super::player::{Notice, Player};
use super::settings::{Settings, STORAGE_KEY};
use super::toasts::Toasts;
use crate::model::Registry;
use crate::source::camera::CameraDevice;
use std::path::PathBuf;
use std::sync::Arc;

pub struct CenterscopeApp {
    pub settings: Settings,
    player: Player,
    toasts: Toasts,
    dialogs: Dialogs,
    exports: Exports,
    cameras: Option<Vec<CameraDevice>>,
    cameras_task: Option<Pending<Vec<CameraDevice>>>,
    /// The video frame on screen (one texture, reused while the size stays the same).
    pub(super) texture: Option<egui::TextureHandle>,
    /// View-only state: what the UI is in the middle of.
    pub(super) view: ViewState,
}

/// State that belongs to the widgets, not to the app's data.
#[derive(Default)]
pub struct ViewState {
    pub class_search: String,
    /// Position of the seek slider while it is dragged.
    pub seek_drag: Option<f64>,
    /// The icon glyphs the in-app file picker draws are installed.
    pub icons_installed: bool,
}

/// The seven symbols the in-app file picker (egui_file) draws — folder, document, refresh,
/// up, drive, open/closed folder — which egui's bundled fonts lack: a 2 KB subset of
/// Symbola (George Douros, "free for any use"; see assets/fonts/README.md).
const FILE_ICONS_TTF: &[u8] = include_bytes!("../../assets/fonts/symbola-file-icons.ttf");

fn install_file_icons(ctx: &egui::Context) {
    use egui::epaint::text::{FontData, FontInsert, FontPriority, InsertFontFamily};
    let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
        .into_iter()
        .map(|family| InsertFontFamily {
            family,
            priority: FontPriority::Lowest,
        })
        .collect();
    ctx.add_font(FontInsert::new(
        "symbola-file-icons",
        FontData::from_static(FILE_ICONS_TTF),
        families,
    ));
}

impl CenterscopeApp {
    /// A new app with these settings; starts loading the last-used model and listing cameras.
    pub fn new(settings: Settings) -> Self {
        let player = Player::new(Registry::with_user_models(), &settings);
        let mut app = CenterscopeApp {
            settings,
            player,
            toasts: Toasts::default(),
            dialogs: Dialogs::default(),
            exports: Exports::default(),
            cameras: None,
            cameras_task: None,
            texture: None,
            view: ViewState::default(),
        };
        app.refresh_cameras();
        app
    }

    /// From eframe's creation context: restore settings (unreadable fields fall back to their
    /// defaults).
    pub fn from_storage(storage: Option<&dyn eframe::Storage>) -> Self {
        let text = storage.and_then(|s| s.get_string(STORAGE_KEY));
        CenterscopeApp::new(Settings::from_json(text.as_deref()))
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        storage.set_string(STORAGE_KEY, self.settings.to_json());
    }

    pub fn player(&self) -> &Player {
        &self.player
    }
    pub fn player_mut(&mut self) -> &mut Player {
        &mut self.player
    }
    /// The player with the settings it persists into (for intents that change settings).
    pub fn player_and_settings(&mut self) -> (&mut Player, &mut Settings) {
        (&mut self.player, &mut self.settings)
    }
    pub fn toasts(&self) -> &Toasts {
        &self.toasts
    }
    pub(super) fn toasts_mut(&mut self) -> &mut Toasts {
        &mut self.toasts
    }
    pub(super) fn dialogs_mut(&mut self) -> &mut Dialogs {
        &mut self.dialogs
    }
    pub fn dialogs(&self) -> &Dialogs {
        &self.dialogs
    }
    pub fn exports(&self) -> &Exports {
        &self.exports
    }
    pub fn exports_mut(&mut self) -> &mut Exports {
        &mut self.exports
    }

    /// Start the export the form describes (File → Export video…), with the model and
    /// detection settings on screen.
    pub fn start_export(&mut self) {
        let Some(form) = self.exports.form.clone() else {
            return;
        };
        if self.exports.running.is_some() {
            self.toasts
                .error("an export is already running; wait for it or cancel it");
            return;
        }
        let Some(model) = self.player.model().cloned() else {
            self.toasts
                .error("no model is loaded yet; wait for it, then export");
            return;
        };
        let mut params = self.player.params().clone();
        params.class_filter = Some(Arc::new(self.player.class_filter().to_vec()));
        let started = ExportTask::start(
            &form,
            model,
            params,
            self.player.input_size(),
            self.settings.workers,
            self.settings.tracker_params(),
            self.player.waker(),
        );
        match started {
            Ok(task) => self.exports.running = Some(task),
            Err(e) => self.toasts.error(e.one_line()),
        }
    }
    /// Size of the video texture, if one is shown.
    pub fn texture_size(&self) -> Option<[usize; 2]> {
        self.texture.as_ref().map(|t| t.size())
    }
    /// Cameras found (`None` while still looking).
    pub fn cameras(&self) -> Option<&[CameraDevice]> {
        self.cameras.as_deref()
    }

    pub fn refresh_cameras(&mut self) {
        match Pending::spawn(
            "list-cameras",
            "listing cameras",
            crate::source::camera::list_cameras,
        ) {
            Ok(t) => self.cameras_task = Some(t),
            Err(e) => self.toasts.error(e.one_line()),
        }
    }

    /// Open a file, folder or `camera:N`.
    pub fn open(&mut self, spec: &str) {
        self.player.open(spec);
    }

    /// Close what is playing.
    pub fn close_source(&mut self) {
        self.player.close();
        self.texture = None;
    }

    /// Ask for a file with the native dialog (or the in-app one).
    pub fn ask_file(&mut self, kind: DialogKind) {
        let start = self.recent_folder();
        self.dialogs.ask(kind, start);
    }

    fn recent_folder(&self) -> Option<PathBuf> {
        self.settings
            .recent
            .first()
            .and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()))
    }

    /// A file chosen in a dialog or dropped on the window.
    pub fn file_chosen(&mut self, kind: DialogKind, path: PathBuf) {
        let spec = path.to_string_lossy().into_owned();
        match kind {
            DialogKind::Video | DialogKind::Image => self.player.open(&spec),
            DialogKind::Model => self.player.select_model(&spec),
        }
    }

    /// Collect everything background work produced since the last frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if !self.view.icons_installed {
            install_file_icons(ctx);
            self.view.icons_installed = true;
        }
        if !self.player.has_waker() {
            let repaint = ctx.clone();
            self.player
                .set_waker(Arc::new(move || repaint.request_repaint()));
        }
        self.player.poll(&mut self.settings);
        for n in self.player.take_notices() {
            match n {
                Notice::Error(t) => self.toasts.error(t),
                Notice::Warning(t) => self.toasts.info(t),
            }
        }
        match take_done(&mut self.cameras_task) {
            Some(Ok(c)) => self.cameras = Some(c),
            Some(Err(e)) => {
                self.cameras = Some(Vec::new());
                self.toasts.error(e.one_line());
            }
            None => {}
        }
        match self.exports.poll() {
            Some(ExportOutcome::Done(s)) => {
                for w in &s.warnings {
                    self.toasts.info(w.clone());
                }
                let folder = s
                    .output
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."));
                self.toasts.info_with_folder(
                    format!(
                        "Exported {} frame(s) to {} in {:.1} s",
                        s.frames,
                        s.output.display(),
                        s.seconds
                    ),
                    folder,
                );
                self.exports.form = None;
            }
            Some(ExportOutcome::Cancelled) => {
                self.toasts.info("Export cancelled; nothing was written")
            }
            Some(ExportOutcome::Failed(e)) => self.toasts.error(e.one_line()),
            None => {}
        }
        let start = self.recent_folder();
        match self.dialogs.poll(start) {
            Some(Ok((kind, path))) => self.file_chosen(kind, path),
            Some(Err(e)) => self.toasts.error(e.one_line()),
            None => {}
        }
    }

    /// Is background work running that the UI should keep polling for?
    pub fn busy(&self) -> bool {
        self.player.busy()
            || self.dialogs.native_open()
            || self.cameras_task.is_some()
            || self.exports.running.is_some()
    }
}
