//! What the window shows before anything is open: open buttons and the drop hint.

use crate::app::dialogs::DialogKind;
use crate::app::state::CenterscopeApp;
use egui::{Color32, Vec2};

pub fn show(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space((ui.available_height() / 2.0 - 120.0).max(20.0));
        ui.heading(
            egui::RichText::new("Centerscope")
                .size(32.0)
                .color(Color32::WHITE),
        );
        ui.label(
            egui::RichText::new("Find objects in video with CenterNet detectors on your CPU")
                .color(Color32::LIGHT_GRAY),
        );
        ui.add_space(20.0);
        if app.player().opening().is_some() {
            ui.spinner();
            return;
        }
        let big = |t: &str| {
            egui::Button::new(egui::RichText::new(t).size(18.0)).min_size(Vec2::new(220.0, 36.0))
        };
        if ui.add(big("Open video…")).clicked() {
            app.ask_file(DialogKind::Video);
        }
        let first_camera = app.cameras().and_then(|c| c.first()).map(|c| c.index);
        let cam = ui.add_enabled(first_camera.is_some(), big("Open camera"));
        let cam = if first_camera.is_some() {
            cam
        } else {
            cam.on_disabled_hover_text("No camera found")
        };
        if let (true, Some(index)) = (cam.clicked(), first_camera) {
            app.open(&format!("camera:{index}"));
        }
        if ui.add(big("Open image…")).clicked() {
            app.ask_file(DialogKind::Image);
        }
        ui.add_space(12.0);
        ui.label(egui::RichText::new("or drop a file onto this window").color(Color32::GRAY));
    });
}
