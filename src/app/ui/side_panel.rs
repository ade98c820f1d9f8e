//! The side panel: model choice and facts, detection settings (threshold, NMS, classes, input
//! size), tracking, worker settings, latency.

use super::overlay::color;
use super::{latency_plot, model_picker};
use crate::app::state::CenterscopeApp;
use crate::model::Model;
use crate::output::style::class_color;
use std::sync::Arc;

pub fn show(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let heading = ui.heading("Model");
    model_picker::combo(app, ui, heading.id);
    if app.player().loading_model().is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Loading model…");
        });
    }
    let Some(model) = app.player().model().cloned() else {
        return;
    };
    model_facts(&model, ui);
    ui.separator();
    ui.heading("Detection");
    detection_settings(app, &model, ui);
    input_size(app, &model, ui);
    workers(app, ui);
    if app.player().tracking() {
        ui.separator();
        tracks(app, ui);
    }
    ui.separator();
    latency_plot::show(app.player().stats(), ui);
}

fn model_facts(model: &Model, ui: &mut egui::Ui) {
    let m = &model.manifest;
    egui::Grid::new("model_facts")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Task");
            ui.label(&m.task);
            ui.end_row();
            ui.label("Input");
            let [h, w] = m.input.size;
            ui.label(format!(
                "{w}×{h} {:?}{}",
                m.input.resize,
                if m.flexible_size() { " (flexible)" } else { "" }
            ));
            ui.end_row();
            ui.label("Parameters");
            ui.label(format!("{:.2} M", model.params as f64 / 1e6));
            ui.end_row();
            ui.label("File");
            ui.label(format!("{:.1} MB", model.file_bytes as f64 / 1e6));
            ui.end_row();
            ui.label("Classes");
            ui.label(format!("{}", m.labels.len()));
            ui.end_row();
        });
}

fn detection_settings(app: &mut CenterscopeApp, model: &Arc<Model>, ui: &mut egui::Ui) {
    let labels = &model.manifest.labels;
    let mut threshold = app.player().params().score_threshold;
    let mut nms = app.player().params().nms_iou;
    let mut filter = app.player().class_filter().to_vec();
    let t = ui.add(egui::Slider::new(&mut threshold, 0.01..=1.0).text("confidence"));
    let n = ui.add(egui::Slider::new(&mut nms, 0.05..=1.0).text("NMS IoU"));
    let mut filter_changed = false;
    if labels.len() > 1 {
        egui::CollapsingHeader::new(format!(
            "Classes ({} of {})",
            filter.iter().filter(|b| **b).count(),
            labels.len()
        ))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut app.view.class_search)
                        .hint_text("search")
                        .desired_width(120.0),
                );
                if ui.small_button("all").clicked() {
                    filter.iter_mut().for_each(|b| *b = true);
                    filter_changed = true;
                }
                if ui.small_button("none").clicked() {
                    filter.iter_mut().for_each(|b| *b = false);
                    filter_changed = true;
                }
            });
            let needle = app.view.class_search.to_lowercase();
            egui::ScrollArea::vertical()
                .max_height(160.0)
                .id_salt("classes")
                .show(ui, |ui| {
                    for (i, label) in labels.iter().enumerate() {
                        if !needle.is_empty() && !label.to_lowercase().contains(&needle) {
                            continue;
                        }
                        if let Some(on) = filter.get_mut(i) {
                            let text = egui::RichText::new(label).color(color(class_color(i)));
                            filter_changed |= ui.checkbox(on, text).changed();
                        }
                    }
                });
        });
    }
    let (player, settings) = app.player_and_settings();
    if t.changed() {
        player.set_score_threshold(settings, threshold);
    }
    if n.changed() {
        player.set_nms_iou(settings, nms);
    }
    if filter_changed {
        player.set_class_filter(settings, filter);
    }
}

fn input_size(app: &mut CenterscopeApp, model: &Arc<Model>, ui: &mut egui::Ui) {
    let m = &model.manifest;
    if !m.flexible_size() {
        return;
    }
    let (fw, fh) = app
        .player()
        .source()
        .map(|i| (i.width, i.height))
        .unwrap_or((640, 480));
    let auto = m.input_size_for(fw, fh);
    let label = |s: Option<[usize; 2]>| match s {
        None => format!("auto ({}×{})", auto[1], auto[0]),
        Some([h, w]) => format!("{w}×{h}"),
    };
    let current = app.player().input_size();
    let mut size = current;
    egui::ComboBox::from_label("input size")
        .selected_text(label(size))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut size, None, label(None));
            for long in [320usize, 480, 640, 960, 1280] {
                let s = m.input_size_for_long_side(fw, fh, long);
                ui.selectable_value(&mut size, Some(s), label(Some(s)));
            }
        });
    if size != current {
        app.player_mut().set_input_size(size);
    }
}

fn workers(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let mut restart = ui
        .checkbox(&mut app.settings.split_auto, "Lowest latency (auto)")
        .on_hover_text(
            "One frame at a time on every core: the shown frame is as fresh as it can be",
        )
        .changed();
    if app.settings.split_auto {
        let (w, t) = app.settings.view_split();
        ui.label(format!("{w} worker × {t} threads/frame"));
        if restart {
            app.player_mut().restart_at_current();
        }
        return;
    }
    let max_workers = crate::pipeline::max_workers();
    ui.horizontal(|ui| {
        // Restarting the pipeline is not free: apply when the value is let go, not on every
        // step of a drag.
        let settled = |r: &egui::Response| r.drag_stopped() || (r.changed() && !r.dragged());
        ui.label("workers");
        let a = ui
            .add(egui::DragValue::new(&mut app.settings.workers).range(1..=max_workers))
            .on_hover_text("Frames processed in parallel: more throughput");
        ui.label("threads/frame");
        let b = ui
            .add(
                egui::DragValue::new(&mut app.settings.matmul_threads)
                    .range(1..=crate::pipeline::MAX_MATMUL_THREADS),
            )
            .on_hover_text("Threads inside one inference: lower latency per frame");
        restart |= settled(&a) || settled(&b);
    });
    if restart {
        app.player_mut().restart_at_current();
    }
}

fn tracks(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    ui.heading("Tracks");
    let counts = app.player().track_counts();
    if counts.is_empty() {
        ui.label("No tracks yet.");
    }
    egui::Grid::new("track_counts")
        .num_columns(2)
        .show(ui, |ui| {
            for (label, n) in counts {
                ui.label(label.as_ref());
                ui.label(format!("{n}"));
                ui.end_row();
            }
        });
    let mut p = app.settings.tracker;
    let mut changed = false;
    egui::CollapsingHeader::new("Tracker settings").show(ui, |ui| {
        changed |= ui
            .add(egui::Slider::new(&mut p.high_thresh, 0.05..=1.0).text("high score"))
            .changed();
        changed |= ui
            .add(egui::Slider::new(&mut p.low_thresh, 0.01..=1.0).text("low score"))
            .changed();
        changed |= ui
            .add(egui::Slider::new(&mut p.match_iou, 0.05..=0.95).text("match IoU"))
            .changed();
        changed |= ui
            .add(egui::Slider::new(&mut p.lost_buffer_s, 0.0..=10.0).text("keep lost (s)"))
            .changed();
    });
    if changed {
        let p = p.with_high_thresh(p.high_thresh);
        app.settings.tracker = p;
        let on = app.settings.show_tracks;
        app.player_mut().set_tracking(on, p);
    }
}
