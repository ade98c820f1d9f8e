//! The File → Export video… window: the form, then the running export's progress with Cancel.

use crate::app::export::{ExportForm, StyleChoice};
use crate::app::state::CenterscopeApp;

/// "120/795 frames · 31.2 fps · ETA 0:21"
pub fn progress_text(p: &crate::export::ExportProgress) -> String {
    let frames = match p.frames_total {
        Some(t) => format!("{}/{t} frames", p.frames_done),
        None => format!("{} frames", p.frames_done),
    };
    let eta = p
        .eta_s()
        .map(|s| {
            let s = s.round() as u64;
            format!(" · ETA {}:{:02}", s / 60, s % 60)
        })
        .unwrap_or_default();
    format!("{frames} · {:.1} fps{eta}", p.fps())
}

pub fn show(app: &mut CenterscopeApp, ctx: &egui::Context) {
    if app.exports().form.is_none() && app.exports().running.is_none() {
        return;
    }
    let mut open = true;
    egui::Window::new("Export video")
        .collapsible(false)
        .resizable(false)
        .open(&mut open)
        .show(ctx, |ui| {
            if app.exports().running.is_some() {
                running(app, ui);
            } else {
                form(app, ui);
            }
        });
    if !open {
        // Closing the window while an export runs only hides the form; the export goes on
        // (its progress stays in the menu bar).
        app.exports_mut().form = None;
    }
}

fn running(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let Some(task) = app.exports().running.as_ref() else {
        return;
    };
    let p = task.progress();
    ui.label(format!("Writing {}", task.output.display()));
    ui.add(
        egui::ProgressBar::new(p.fraction().unwrap_or(0.0))
            .desired_width(360.0)
            .text(progress_text(&p)),
    );
    let cancelling = task.is_cancelling();
    if ui
        .add_enabled(!cancelling, egui::Button::new("Cancel"))
        .clicked()
    {
        task.cancel();
    }
}

fn form(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let Some(form) = app.exports_mut().form.as_mut() else {
        return;
    };
    ui.label(format!("From {}", form.input));
    let was_anonymize = form.anonymize;
    ui.horizontal(|ui| {
        ui.radio_value(&mut form.anonymize, true, "Anonymise (cover faces)");
        ui.radio_value(&mut form.anonymize, false, "Annotate (draw boxes)");
    });
    if was_anonymize != form.anonymize {
        // Follow the kind in the default name unless the user typed another one.
        let mut other = form.clone();
        other.anonymize = was_anonymize;
        if form.output == other.default_output() {
            form.output = form.default_output();
        }
    }
    if form.anonymize {
        ui.horizontal(|ui| {
            ui.label("Style");
            ui.radio_value(&mut form.style, StyleChoice::Blur, "Blur");
            ui.radio_value(&mut form.style, StyleChoice::Pixelate, "Pixelate");
            ui.radio_value(&mut form.style, StyleChoice::Solid, "Solid");
        });
        ui.horizontal(|ui| {
            ui.label("Shape");
            ui.radio_value(&mut form.ellipse, true, "Ellipse");
            ui.radio_value(&mut form.ellipse, false, "Box");
        });
        ui.add(egui::Slider::new(&mut form.mask_scale, 1.0..=2.0).text("Region scale"));
        ui.checkbox(&mut form.draw_boxes, "Also draw boxes (for checking)");
    }
    ui.horizontal(|ui| {
        ui.label("Save as");
        ui.add(egui::TextEdit::singleline(&mut form.output).desired_width(320.0));
    });
    let exists = std::path::Path::new(form.output.trim()).exists();
    if exists {
        ui.colored_label(
            egui::Color32::from_rgb(230, 180, 60),
            "A file of this name exists and will be replaced.",
        );
    }
    let mut start = false;
    ui.horizontal(|ui| {
        start = ui.button("Export").clicked();
        if ui.button("Close").clicked() {
            app.exports_mut().form = None;
        }
    });
    if start {
        app.start_export();
    }
}

/// The form for what is open now (File → Export video…).
pub fn open_form(app: &mut CenterscopeApp) {
    if let Some(spec) = app.player().spec() {
        let form = ExportForm::for_input(spec);
        app.exports_mut().form = Some(form);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_has_frames_fps_and_eta() {
        let p = crate::export::ExportProgress {
            frames_done: 100,
            frames_total: Some(400),
            elapsed: std::time::Duration::from_secs(4),
        };
        assert_eq!(progress_text(&p), "100/400 frames · 25.0 fps · ETA 0:12");
    }
}
