//! The menu bar: File, Camera, Model, View, and what is loading.

use super::model_picker;
use crate::app::dialogs::DialogKind;
use crate::app::state::CenterscopeApp;

pub fn show(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| file_menu(app, ui));
        ui.menu_button("Camera", |ui| camera_menu(app, ui));
        ui.menu_button("Model", |ui| {
            model_picker::menu(app, ui);
            ui.separator();
            if ui.button("Load ONNX model…").clicked() {
                app.ask_file(DialogKind::Model);
            }
        });
        ui.menu_button("View", |ui| view_menu(app, ui));
        if let Some(id) = app.player().loading_model() {
            ui.separator();
            ui.spinner();
            ui.label(format!("loading {id}…"));
        }
        if let Some(task) = app.exports().running.as_ref() {
            ui.separator();
            let p = task.progress();
            ui.add(
                egui::ProgressBar::new(p.fraction().unwrap_or(0.0))
                    .desired_width(220.0)
                    .text(format!(
                        "export {}",
                        super::export_window::progress_text(&p)
                    )),
            );
        }
        if let Some(spec) = app.player().opening() {
            ui.separator();
            ui.spinner();
            ui.label(format!("opening {spec}…"));
        }
    });
}

fn file_menu(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    if ui.button("Open video…").clicked() {
        app.ask_file(DialogKind::Video);
    }
    if ui.button("Open image…").clicked() {
        app.ask_file(DialogKind::Image);
    }
    ui.menu_button("Recent files", |ui| {
        if app.settings.recent.is_empty() {
            ui.add_enabled(false, egui::Button::new("(none yet)"));
        }
        for path in app.settings.recent.clone() {
            if ui.button(&path).clicked() {
                app.open(&path);
            }
        }
    });
    let exportable = app.player().source().is_some_and(|s| {
        matches!(
            s.kind,
            crate::source::SourceKind::Video | crate::source::SourceKind::Image
        )
    });
    if ui
        .add_enabled(
            exportable && app.exports().running.is_none(),
            egui::Button::new("Export video…"),
        )
        .on_disabled_hover_text("Open a video file (or picture) first; one export at a time")
        .clicked()
    {
        super::export_window::open_form(app);
    }
    if ui
        .add_enabled(app.player().is_playing(), egui::Button::new("Close"))
        .clicked()
    {
        app.close_source();
    }
    ui.separator();
    if ui
        .add(egui::Button::new("Quit").shortcut_text("Ctrl+Q"))
        .clicked()
    {
        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

fn camera_menu(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    match app.cameras().map(<[_]>::to_vec) {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for cameras…");
            });
        }
        Some(c) if c.is_empty() => {
            ui.add_enabled(false, egui::Button::new("No camera found"));
        }
        Some(c) => {
            for cam in c {
                if ui
                    .button(format!("{} (camera:{})", cam.name, cam.index))
                    .clicked()
                {
                    app.open(&format!("camera:{}", cam.index));
                }
            }
        }
    }
    ui.separator();
    if ui.button("Refresh list").clicked() {
        app.refresh_cameras();
    }
}

fn view_menu(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let s = &mut app.settings;
    ui.checkbox(&mut s.show_labels, "Labels");
    ui.checkbox(&mut s.show_scores, "Scores");
    ui.checkbox(&mut s.show_keypoints, "Keypoints");
    let tracks = ui.checkbox(&mut s.show_tracks, "Tracks").changed();
    ui.add_enabled(
        s.show_tracks,
        egui::Checkbox::new(&mut s.show_predicted, "Predicted boxes of missed objects"),
    );
    ui.checkbox(&mut s.show_stats, "Latency badge");
    let anonymise = ui
        .checkbox(&mut s.anonymize_preview, "Anonymise")
        .on_hover_text("Cover what the model finds, as an anonymised export would")
        .changed();
    ui.checkbox(&mut s.show_side_panel, "Side panel");
    if anonymise {
        app.player_mut().mark_frame_changed();
    }
    if tracks {
        let (on, params) = (app.settings.show_tracks, app.settings.tracker);
        app.player_mut().set_tracking(on, params);
    }
}
