//! Notifications: each error is shown once, fades out after a while, and never blocks the app.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

#[derive(Clone, Debug)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    pub shown_at: Instant,
    /// A folder the notification offers to open ("Open folder").
    pub folder: Option<std::path::PathBuf>,
}

#[derive(Default)]
pub struct Toasts {
    items: Vec<Toast>,
}

const LIFETIME: Duration = Duration::from_secs(8);

impl Toasts {
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text.into());
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text.into());
    }

    /// A note with an "Open folder" button (a finished export).
    pub fn info_with_folder(&mut self, text: impl Into<String>, folder: std::path::PathBuf) {
        self.push(Level::Info, text.into());
        if let Some(last) = self.items.last_mut() {
            last.folder = Some(folder);
        }
    }

    fn push(&mut self, level: Level, text: String) {
        // The same message twice in a row is one notification.
        if let Some(last) = self.items.last_mut() {
            if last.text == text {
                last.shown_at = Instant::now();
                return;
            }
        }
        self.items.push(Toast {
            level,
            text,
            shown_at: Instant::now(),
            folder: None,
        });
        if self.items.len() > 5 {
            self.items.remove(0);
        }
    }

    pub fn items(&self) -> &[Toast] {
        &self.items
    }

    pub fn show(&mut self, ctx: &egui::Context) {
        self.items.retain(|t| t.shown_at.elapsed() < LIFETIME);
        if self.items.is_empty() {
            return;
        }
        let mut dismiss = None;
        let mut open_folder = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -48.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for (i, t) in self.items.iter().enumerate() {
                    let (fill, icon) = match t.level {
                        Level::Error => (egui::Color32::from_rgb(120, 28, 28), "Error"),
                        Level::Info => (egui::Color32::from_rgb(30, 60, 100), "Note"),
                    };
                    egui::Frame::popup(ui.style()).fill(fill).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            ui.label(
                                egui::RichText::new(icon)
                                    .strong()
                                    .color(egui::Color32::WHITE),
                            );
                            ui.label(egui::RichText::new(&t.text).color(egui::Color32::WHITE));
                            if let Some(folder) = &t.folder {
                                if ui.small_button("Open folder").clicked() {
                                    open_folder = Some(folder.clone());
                                }
                            }
                            if ui.small_button("x").on_hover_text("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = dismiss {
            self.items.remove(i);
        }
        if let Some(folder) = open_folder {
            if let Err(e) = crate::app::export::open_folder(&folder) {
                self.error(e.one_line());
            }
        }
        ctx.request_repaint_after(Duration::from_millis(500));
    }
}
