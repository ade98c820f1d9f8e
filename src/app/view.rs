//! Everything drawn each frame: menu bar, side panel, playback bar, the video with its overlay.

use super::state::{CenterscopeApp, DialogKind};
use crate::output::class_color;
use crate::source::SourceKind;
use egui::{Align2, Color32, FontId, Pos2, Rect, Stroke, StrokeKind, Vec2};

fn color(class_id: usize) -> Color32 {
    let [r, g, b] = class_color(class_id);
    Color32::from_rgb(r, g, b)
}

/// Latency badge text for one frame.
pub fn latency_text(t: &crate::StageTimings, fps: f64, dropped: u64) -> String {
    format!(
        "inference {:.0} ms · pre {:.0} ms · post {:.0} ms · {fps:.1} fps · dropped {dropped}",
        t.inference, t.preprocess, t.postprocess
    )
}

fn fmt_time(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0);
    format!("{}:{:05.2}", (s / 60.0) as u64, s % 60.0)
}

impl CenterscopeApp {
    /// The whole UI (eframe's `App::ui` and the kittest harness both call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ui_frames += 1;
        self.poll(&ctx);
        self.handle_input(&ctx);
        egui::Panel::top("menu_bar").show(ui, |ui| self.menu_bar(ui));
        if self.playing.is_some() || self.shown.is_some() {
            egui::Panel::bottom("playback").show(ui, |ui| self.playback_bar(ui));
        }
        if self.settings.show_side_panel {
            egui::Panel::right("side_panel")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
                });
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(Color32::from_gray(18)))
            .show(ui, |ui| self.central(ui));
        self.fallback_dialog_ui(&ctx);
        self.toasts.show(&ctx);
        if self.model_loading.is_some()
            || self.opening.is_some()
            || self.dialog.is_some()
            || self.cameras_task.is_some()
        {
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
            let is_model = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
            self.file_chosen(
                if is_model {
                    DialogKind::Model
                } else {
                    DialogKind::Video
                },
                path,
            );
        }
        if typing {
            return;
        }
        if space {
            self.toggle_pause();
        }
        if right {
            self.step(1);
        }
        if left {
            self.step(-1);
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open video…").clicked() {
                    self.ask_file(DialogKind::Video);
                }
                if ui.button("Open image…").clicked() {
                    self.ask_file(DialogKind::Image);
                }
                ui.menu_button("Recent files", |ui| {
                    if self.settings.recent.is_empty() {
                        ui.add_enabled(false, egui::Button::new("(none yet)"));
                    }
                    for path in self.settings.recent.clone() {
                        if ui.button(&path).clicked() {
                            self.open(&path);
                        }
                    }
                });
                if ui
                    .add_enabled(self.playing.is_some(), egui::Button::new("Close"))
                    .clicked()
                {
                    self.close_source();
                }
                ui.separator();
                if ui
                    .add(egui::Button::new("Quit").shortcut_text("Ctrl+Q"))
                    .clicked()
                {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Camera", |ui| {
                match &self.cameras {
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
                        for cam in c.clone() {
                            if ui
                                .button(format!("{} (camera:{})", cam.name, cam.index))
                                .clicked()
                            {
                                self.open(&format!("camera:{}", cam.index));
                            }
                        }
                    }
                }
                ui.separator();
                if ui.button("Refresh list").clicked() {
                    self.refresh_cameras();
                }
            });
            ui.menu_button("Model", |ui| {
                let current = self.model.as_ref().map(|m| m.id.to_string());
                for entry in self.registry.entries().to_vec() {
                    let m = &entry.manifest;
                    let selected = current.as_deref() == Some(m.id.as_str());
                    if ui
                        .radio(selected, format!("{} — {}", m.name, m.task))
                        .clicked()
                        && !selected
                    {
                        self.select_model(&m.id);
                    }
                }
                ui.separator();
                if ui.button("Load ONNX model…").clicked() {
                    self.ask_file(DialogKind::Model);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.show_labels, "Labels");
                ui.checkbox(&mut self.settings.show_scores, "Scores");
                ui.checkbox(&mut self.settings.show_keypoints, "Keypoints");
                ui.checkbox(&mut self.settings.show_stats, "Latency badge");
                ui.checkbox(&mut self.settings.show_side_panel, "Side panel");
            });
            if let Some((id, _)) = &self.model_loading {
                ui.separator();
                ui.spinner();
                ui.label(format!("loading {id}…"));
            }
            if let Some((spec, _)) = &self.opening {
                ui.separator();
                ui.spinner();
                ui.label(format!("opening {spec}…"));
            }
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        let heading = ui.heading("Model");
        let current_id = self
            .model
            .as_ref()
            .map(|m| m.id.to_string())
            .unwrap_or_default();
        let current_name = self
            .model
            .as_ref()
            .map(|m| m.manifest.name.clone())
            .unwrap_or_else(|| "loading…".into());
        let mut chosen = None;
        egui::ComboBox::from_id_salt("model_combo")
            .selected_text(current_name)
            .width(260.0)
            .show_ui(ui, |ui| {
                for entry in self.registry.entries() {
                    let m = &entry.manifest;
                    if ui.selectable_label(m.id == current_id, &m.name).clicked()
                        && m.id != current_id
                    {
                        chosen = Some(m.id.clone());
                    }
                }
            })
            .response
            .labelled_by(heading.id);
        if let Some(id) = chosen {
            self.select_model(&id);
        }
        if self.model_loading.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading model…");
            });
        }
        let Some(model) = self.model.clone() else {
            return;
        };
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
        ui.separator();
        ui.heading("Detection");
        let mut changed = false;
        changed |= ui
            .add(egui::Slider::new(&mut self.params.score_threshold, 0.01..=1.0).text("confidence"))
            .changed();
        changed |= ui
            .add(egui::Slider::new(&mut self.params.nms_iou, 0.05..=1.0).text("NMS IoU"))
            .changed();
        if m.labels.len() > 1 {
            egui::CollapsingHeader::new(format!(
                "Classes ({} of {})",
                self.class_filter.iter().filter(|b| **b).count(),
                m.labels.len()
            ))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut self.class_search)
                            .hint_text("search")
                            .desired_width(120.0),
                    );
                    if ui.small_button("all").clicked() {
                        self.class_filter.iter_mut().for_each(|b| *b = true);
                        changed = true;
                    }
                    if ui.small_button("none").clicked() {
                        self.class_filter.iter_mut().for_each(|b| *b = false);
                        changed = true;
                    }
                });
                let needle = self.class_search.to_lowercase();
                egui::ScrollArea::vertical()
                    .max_height(160.0)
                    .id_salt("classes")
                    .show(ui, |ui| {
                        for (i, label) in m.labels.iter().enumerate() {
                            if !needle.is_empty() && !label.to_lowercase().contains(&needle) {
                                continue;
                            }
                            if let Some(on) = self.class_filter.get_mut(i) {
                                changed |= ui
                                    .checkbox(on, egui::RichText::new(label).color(color(i)))
                                    .changed();
                            }
                        }
                    });
            });
        }
        if changed {
            self.params_changed();
        }
        if m.flexible_size() {
            let frame_wh = self
                .playing
                .as_ref()
                .map(|p| (p.info.width, p.info.height))
                .unwrap_or((640, 480));
            let auto = m.input_size_for(frame_wh.0, frame_wh.1);
            let label = |s: Option<[usize; 2]>| match s {
                None => format!("auto ({}×{})", auto[1], auto[0]),
                Some([h, w]) => format!("{w}×{h}"),
            };
            let mut size = self.input_size;
            egui::ComboBox::from_label("input size")
                .selected_text(label(size))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut size, None, label(None));
                    for long in [320usize, 480, 640, 960, 1280] {
                        let s = m.input_size_for_long_side(frame_wh.0, frame_wh.1, long);
                        ui.selectable_value(&mut size, Some(s), label(Some(s)));
                    }
                });
            if size != self.input_size {
                self.input_size = size;
                self.input_size_changed();
            }
        }
        let mut restart = false;
        ui.horizontal(|ui| {
            // Restarting the pipeline is not free: apply when the value is let go, not on every
            // step of a drag.
            let settled = |r: &egui::Response| r.drag_stopped() || (r.changed() && !r.dragged());
            ui.label("workers");
            let a = ui
                .add(egui::DragValue::new(&mut self.settings.workers).range(1..=32))
                .on_hover_text("Frames processed in parallel: more throughput");
            ui.label("threads/frame");
            let b = ui
                .add(egui::DragValue::new(&mut self.settings.matmul_threads).range(1..=16))
                .on_hover_text("Threads inside one inference: lower latency per frame");
            restart = settled(&a) || settled(&b);
        });
        if restart {
            self.restart_at_current();
        }
        ui.separator();
        self.latency_plot(ui);
    }

    fn latency_plot(&mut self, ui: &mut egui::Ui) {
        use crate::pipeline::stats::percentiles;
        ui.heading("Latency (ms)");
        if self.history.is_empty() {
            ui.label("No frames yet.");
            return;
        }
        type Stage = (&'static str, fn(&crate::StageTimings) -> f64, Color32);
        let stages: [Stage; 4] = [
            (
                "inference",
                |t| t.inference,
                Color32::from_rgb(240, 120, 40),
            ),
            (
                "preprocess",
                |t| t.preprocess,
                Color32::from_rgb(80, 160, 240),
            ),
            (
                "postprocess",
                |t| t.postprocess,
                Color32::from_rgb(120, 220, 120),
            ),
            (
                "end-to-end",
                |t| t.end_to_end.unwrap_or(0.0),
                Color32::from_rgb(200, 200, 200),
            ),
        ];
        egui::Grid::new("latency_table")
            .num_columns(3)
            .show(ui, |ui| {
                ui.label("");
                ui.label("p50");
                ui.label("p95");
                ui.end_row();
                for (name, get, col) in stages {
                    let v: Vec<f64> = self.history.iter().map(get).collect();
                    let p = percentiles(&v);
                    ui.label(egui::RichText::new(name).color(col));
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
                for (name, get, col) in stages {
                    let pts: Vec<[f64; 2]> = self
                        .history
                        .iter()
                        .enumerate()
                        .map(|(i, t)| [i as f64, get(t)])
                        .collect();
                    plot.line(egui_plot::Line::new(name, pts).color(col));
                }
            });
    }

    fn playback_bar(&mut self, ui: &mut egui::Ui) {
        let Some(p) = &self.playing else {
            ui.label("Source closed.");
            return;
        };
        let (kind, paused, ended, duration, speed) =
            (p.info.kind, p.paused, p.ended, p.info.duration_ms, p.speed);
        let now_ms = self.shown.as_ref().map(|s| s.frame.pts_ms).unwrap_or(0.0);
        let mut action = None;
        ui.horizontal(|ui| {
            if kind == SourceKind::Image {
                ui.label(format!(
                    "{} · {}×{}",
                    p.info.name, p.info.width, p.info.height
                ));
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
            if kind != SourceKind::Camera {
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
                if let Some(total) = duration.filter(|d| *d > 0.0) {
                    let mut pos = self.seek_drag.unwrap_or(now_ms).clamp(0.0, total);
                    let width = (ui.available_width() - 340.0).max(120.0);
                    ui.spacing_mut().slider_width = width;
                    let r = ui.add(egui::Slider::new(&mut pos, 0.0..=total).show_value(false));
                    if r.dragged() || r.changed() {
                        self.seek_drag = Some(pos);
                    }
                    if r.drag_stopped() || (r.changed() && !r.dragged()) {
                        action = Some(Action::Seek(pos));
                        self.seek_drag = None;
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
                if ui.checkbox(&mut self.settings.looping, "loop").changed() {
                    action = Some(Action::Loop(self.settings.looping));
                }
            }
            if let Some(shown) = &self.shown {
                ui.label(format!("frame {}", shown.frame.index));
            }
            if self.seeking {
                ui.spinner();
                ui.label("seeking…");
            }
        });
        match action {
            Some(Action::TogglePause) => self.toggle_pause(),
            Some(Action::Step(d)) => self.step(d),
            Some(Action::Seek(ms)) => self.seek_ms(ms),
            Some(Action::Speed(s)) => {
                if let Some(p) = &mut self.playing {
                    p.speed = s;
                    p.pipeline.controls().set_speed(s);
                }
            }
            Some(Action::Loop(l)) => {
                if let Some(p) = &self.playing {
                    p.pipeline.controls().set_looping(l);
                }
            }
            None => {}
        }
    }

    fn central(&mut self, ui: &mut egui::Ui) {
        let (Some(texture), Some(shown)) = (&self.texture, &self.shown) else {
            self.welcome(ui);
            return;
        };
        let avail = ui.available_rect_before_wrap();
        let (fw, fh) = (shown.frame.width as f32, shown.frame.height as f32);
        let scale = (avail.width() / fw).min(avail.height() / fh);
        let rect = Rect::from_center_size(avail.center(), Vec2::new(fw * scale, fh * scale));
        let painter = ui.painter_at(avail);
        painter.image(
            texture.id(),
            rect,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
        let to_screen = |x: f32, y: f32| Pos2::new(rect.min.x + x * scale, rect.min.y + y * scale);
        let model = self.model.as_ref().filter(|m| m.id == shown.model_id);
        let skeleton: &[[usize; 2]] = model.map(|m| m.manifest.skeleton.as_slice()).unwrap_or(&[]);
        for d in &shown.detections {
            let col = color(d.class_id);
            let r = Rect::from_min_max(
                to_screen(d.bbox[0], d.bbox[1]),
                to_screen(d.bbox[2], d.bbox[3]),
            );
            painter.rect_stroke(r, 2.0, Stroke::new(2.5, col), StrokeKind::Outside);
            if self.settings.show_keypoints && !d.keypoints.is_empty() {
                for [a, b] in skeleton {
                    if let (Some(p), Some(q)) = (d.keypoints.get(*a), d.keypoints.get(*b)) {
                        if p[2] >= 0.2 && q[2] >= 0.2 {
                            painter.line_segment(
                                [to_screen(p[0], p[1]), to_screen(q[0], q[1])],
                                Stroke::new(2.0, Color32::from_rgb(255, 255, 255)),
                            );
                        }
                    }
                }
                for kp in &d.keypoints {
                    if kp[2] >= 0.2 {
                        painter.circle_filled(
                            to_screen(kp[0], kp[1]),
                            3.5,
                            Color32::from_rgb(255, 64, 64),
                        );
                    }
                }
            }
            let text = match (self.settings.show_labels, self.settings.show_scores) {
                (true, true) => format!("{} {:.2}", d.label, d.score),
                (true, false) => d.label.to_string(),
                (false, true) => format!("{:.2}", d.score),
                (false, false) => String::new(),
            };
            if !text.is_empty() {
                let galley =
                    painter.layout_no_wrap(text, FontId::proportional(14.0), Color32::BLACK);
                // Above the box, or inside its top edge when there is no room above.
                let above = r.min.y - galley.size().y - 2.0;
                let pos = Pos2::new(
                    r.min.x - 1.0,
                    if above >= rect.min.y {
                        above
                    } else {
                        r.min.y + 1.0
                    },
                );
                painter.rect_filled(
                    Rect::from_min_size(pos, galley.size() + Vec2::new(6.0, 2.0)),
                    2.0,
                    col,
                );
                painter.galley(pos + Vec2::new(3.0, 1.0), galley, Color32::BLACK);
            }
        }
        if self.settings.show_stats {
            let dropped = self
                .playing
                .as_ref()
                .map(|p| p.pipeline.controls().dropped())
                .unwrap_or(0);
            let text = format!(
                "{} · {} objects · {}",
                shown.model_id,
                shown.detections.len(),
                latency_text(&shown.timings, self.fps(), dropped)
            );
            let galley = painter.layout_no_wrap(text, FontId::monospace(13.0), Color32::WHITE);
            let pos = Pos2::new(rect.min.x + 8.0, rect.max.y - galley.size().y - 16.0);
            painter.rect_filled(
                Rect::from_min_size(pos, galley.size() + Vec2::new(12.0, 8.0)),
                4.0,
                Color32::from_black_alpha(170),
            );
            painter.galley(pos + Vec2::new(6.0, 4.0), galley, Color32::WHITE);
        }
        if let Some(p) = &self.playing {
            if p.ended && p.info.kind != SourceKind::Image {
                let galley = painter.layout_no_wrap(
                    "end — press Play to restart".into(),
                    FontId::proportional(16.0),
                    Color32::WHITE,
                );
                let at = Align2::CENTER_TOP
                    .align_size_within_rect(galley.size(), rect.shrink(12.0))
                    .min;
                painter.rect_filled(
                    Rect::from_min_size(at - Vec2::splat(6.0), galley.size() + Vec2::splat(12.0)),
                    4.0,
                    Color32::from_black_alpha(170),
                );
                painter.galley(at, galley, Color32::WHITE);
            }
        }
    }

    fn welcome(&mut self, ui: &mut egui::Ui) {
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
            if self.opening.is_some() {
                ui.spinner();
                return;
            }
            let big = |t: &str| {
                egui::Button::new(egui::RichText::new(t).size(18.0))
                    .min_size(Vec2::new(220.0, 36.0))
            };
            if ui.add(big("Open video…")).clicked() {
                self.ask_file(DialogKind::Video);
            }
            let has_camera = self.cameras.as_ref().is_some_and(|c| !c.is_empty());
            let cam = ui.add_enabled(has_camera, big("Open camera"));
            let cam = if has_camera {
                cam
            } else {
                cam.on_disabled_hover_text("No camera found")
            };
            if cam.clicked() {
                if let Some(c) = self.cameras.as_ref().and_then(|c| c.first()) {
                    self.open(&format!("camera:{}", c.index));
                }
            }
            if ui.add(big("Open image…")).clicked() {
                self.ask_file(DialogKind::Image);
            }
            ui.add_space(12.0);
            ui.label(egui::RichText::new("or drop a file onto this window").color(Color32::GRAY));
        });
    }

    fn fallback_dialog_ui(&mut self, ctx: &egui::Context) {
        let Some((kind, dialog)) = &mut self.fallback_dialog else {
            return;
        };
        let kind = *kind;
        if dialog.show(ctx).selected() {
            let path = dialog.path().map(|p| p.to_path_buf());
            self.fallback_dialog = None;
            if let Some(p) = path {
                self.file_chosen(kind, p);
            }
        } else if !dialog.visible() {
            self.fallback_dialog = None;
        }
    }
}

enum Action {
    TogglePause,
    Step(i64),
    Seek(f64),
    Speed(f64),
    Loop(bool),
}
