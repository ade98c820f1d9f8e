//! Everything drawn each frame, one file per region of the window:
//!
//! ```text
//! ┌ menu_bar.rs ───────────────────────────────────────┐
//! │ video_view.rs (frame + overlay.rs)  │ side_panel.rs │
//! │ welcome.rs when nothing is open     │ model_picker  │
//! │                                     │ latency_plot  │
//! ├ playback_bar.rs ────────────────────┴───────────────┤
//! └ toasts (../toasts.rs), in-app file picker (../dialogs.rs), export_window.rs
//! ```
//!
//! The UI reads the app and the [`Player`](super::player::Player) and sends intents; it keeps
//! no copies of their state.

pub mod export_window;
mod latency_plot;
mod menu_bar;
mod model_picker;
pub mod overlay;
mod playback_bar;
mod side_panel;
mod video_view;
mod welcome;

use super::dialogs::DialogKind;
use super::state::CenterscopeApp;
use egui::Color32;

impl CenterscopeApp {
    /// The whole UI (eframe's `App::ui` and the kittest harness both call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        self.handle_input(&ctx);
        egui::Panel::top("menu_bar").show(ui, |ui| menu_bar::show(self, ui));
        if self.player().is_playing() || self.player().shown().is_some() {
            egui::Panel::bottom("playback").show(ui, |ui| playback_bar::show(self, ui));
        }
        if self.settings.show_side_panel {
            egui::Panel::right("side_panel")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| side_panel::show(self, ui));
                });
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(Color32::from_gray(18)))
            .show(ui, |ui| video_view::show(self, ui));
        export_window::show(self, &ctx);
        if let Some((kind, path)) = self.dialogs_mut().show_fallback(&ctx) {
            self.file_chosen(kind, path);
        }
        self.toasts_mut().show(&ctx);
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (space, left, right, quit, dropped) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
                i.modifiers.command && i.key_pressed(egui::Key::Q),
                i.raw
                    .dropped_files
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .find(|p| !p.as_os_str().is_empty()),
            )
        });
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if let Some(path) = dropped {
            self.file_chosen(DialogKind::for_path(&path), path);
        }
        if typing {
            return;
        }
        if space {
            self.player_mut().toggle_pause();
        }
        if right {
            self.player_mut().step(1);
        }
        if left {
            self.player_mut().step(-1);
        }
    }
}
