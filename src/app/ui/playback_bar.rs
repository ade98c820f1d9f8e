//! The playback bar: play/pause, frame steps, the seek slider, speed and loop.

use crate::app::state::CenterscopeApp;
use crate::source::SourceKind;
use egui::Vec2;

fn fmt_time(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0);
    format!("{}:{:05.2}", (s / 60.0) as u64, s % 60.0)
}

enum Action {
    TogglePause,
    Step(i64),
    Seek(f64),
    Speed(f64),
    Loop(bool),
}

pub fn show(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let player = app.player();
    let Some(info) = player.source().cloned() else {
        ui.label("Source closed.");
        return;
    };
    let (paused, ended, speed) = (player.is_paused(), player.is_ended(), player.speed());
    let shown_index = player.shown().map(|s| s.frame.index);
    let now_ms = player.shown().map(|s| s.frame.pts_ms).unwrap_or(0.0);
    let seeking = player.is_seeking();
    let mut action = None;
    ui.horizontal(|ui| {
        if info.kind == SourceKind::Image {
            ui.label(format!("{} · {}×{}", info.name, info.width, info.height));
            return;
        }
        let play_label = if paused || ended { "Play" } else { "Pause" };
        if ui
            .add(egui::Button::new(play_label).min_size(Vec2::new(56.0, 0.0)))
            .on_hover_text("Space")
            .clicked()
        {
            action = Some(Action::TogglePause);
        }
        if info.kind != SourceKind::Camera {
            if ui
                .button("< frame")
                .on_hover_text("Previous frame (←)")
                .clicked()
            {
                action = Some(Action::Step(-1));
            }
            if ui
                .button("frame >")
                .on_hover_text("Next frame (→)")
                .clicked()
            {
                action = Some(Action::Step(1));
            }
            if let Some(total) = info.duration_ms.filter(|d| *d > 0.0) {
                let mut pos = app.view.seek_drag.unwrap_or(now_ms).clamp(0.0, total);
                let width = (ui.available_width() - 340.0).max(120.0);
                ui.spacing_mut().slider_width = width;
                let r = ui.add(egui::Slider::new(&mut pos, 0.0..=total).show_value(false));
                if r.dragged() || r.changed() {
                    app.view.seek_drag = Some(pos);
                }
                if r.drag_stopped() || (r.changed() && !r.dragged()) {
                    action = Some(Action::Seek(pos));
                    app.view.seek_drag = None;
                }
                ui.label(format!("{} / {}", fmt_time(pos), fmt_time(total)));
            }
            let mut s = speed;
            let speed_label = ui.label("speed");
            egui::ComboBox::from_id_salt("speed")
                .selected_text(format!("{s}×"))
                .width(60.0)
                .show_ui(ui, |ui| {
                    for v in [0.25, 0.5, 1.0, 2.0, 4.0] {
                        ui.selectable_value(&mut s, v, format!("{v}×"));
                    }
                })
                .response
                .labelled_by(speed_label.id);
            if s != speed {
                action = Some(Action::Speed(s));
            }
            let mut looping = app.settings.looping;
            if ui.checkbox(&mut looping, "loop").changed() {
                action = Some(Action::Loop(looping));
            }
        }
        if let Some(i) = shown_index {
            ui.label(format!("frame {i}"));
        }
        if seeking {
            ui.spinner();
            ui.label("seeking…");
        }
    });
    let (player, settings) = app.player_and_settings();
    match action {
        Some(Action::TogglePause) => player.toggle_pause(),
        Some(Action::Step(d)) => player.step(d),
        Some(Action::Seek(ms)) => player.seek_ms(ms),
        Some(Action::Speed(s)) => player.set_speed(s),
        Some(Action::Loop(l)) => player.set_looping(settings, l),
        None => {}
    }
}
