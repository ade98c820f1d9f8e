//! Per-stage latency: p50/p95 table and a plot of the recent frames.

use crate::app::player::Stats;
use crate::pipeline::stats::{percentiles, Stage};
use egui::Color32;

fn stage_color(stage: Stage) -> Color32 {
    match stage {
        Stage::Inference => Color32::from_rgb(240, 120, 40),
        Stage::Preprocess => Color32::from_rgb(80, 160, 240),
        Stage::Postprocess => Color32::from_rgb(120, 220, 120),
        _ => Color32::from_rgb(200, 200, 200),
    }
}

const SHOWN: [Stage; 4] = [
    Stage::Inference,
    Stage::Preprocess,
    Stage::Postprocess,
    Stage::EndToEnd,
];

pub fn show(stats: &Stats, ui: &mut egui::Ui) {
    ui.heading("Latency (ms)");
    if stats.history.is_empty() {
        ui.label("No frames yet.");
        return;
    }
    egui::Grid::new("latency_table")
        .num_columns(3)
        .show(ui, |ui| {
            ui.label("");
            ui.label("p50");
            ui.label("p95");
            ui.end_row();
            for stage in SHOWN {
                let v: Vec<f64> = stats
                    .history
                    .iter()
                    .map(|t| stage.of(t).unwrap_or(0.0))
                    .collect();
                let p = percentiles(&v);
                ui.label(egui::RichText::new(stage.name()).color(stage_color(stage)));
                ui.label(format!("{:.1}", p.median_ms));
                ui.label(format!("{:.1}", p.p95_ms));
                ui.end_row();
            }
        });
    egui_plot::Plot::new("latency_plot")
        .height(140.0)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show(ui, |plot| {
            for stage in SHOWN {
                let pts: Vec<[f64; 2]> = stats
                    .history
                    .iter()
                    .enumerate()
                    .map(|(i, t)| [i as f64, stage.of(t).unwrap_or(0.0)])
                    .collect();
                plot.line(egui_plot::Line::new(stage.name(), pts).color(stage_color(stage)));
            }
        });
}
