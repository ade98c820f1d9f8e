//! The desktop app (eframe/egui), in three layers like the rest of Centerscope:
//!
//! * ingestion: the pipeline's threads and the background [`pending`] tasks (model loading,
//!   opening sources, listing cameras, the native file dialog), each on a named thread;
//! * state: [`player`] owns what plays and how it is detected (model, settings, pipeline, the
//!   frame on screen, tracking); [`state`] owns the rest (persisted [`settings`], notifications,
//!   dialogs, cameras, the video texture, the running export);
//! * UI: [`ui`], one file per region of the window, reading state and sending intents.
//!
//! The UI thread only polls and paints; workers wake it with `request_repaint`. Errors from any
//! layer become one notification each ([`toasts`]).

pub mod dialogs;
pub mod export;
pub mod pending;
pub mod player;
pub mod settings;
pub mod state;
pub mod toasts;
pub mod ui;

pub use state::CenterscopeApp;

use crate::{Error, Result};

const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

impl eframe::App for CenterscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        CenterscopeApp::save(self, storage);
    }
}

/// Open the window (optionally with `open` loaded at start) and run until it is closed.
pub fn run(open: Option<String>) -> Result<()> {
    let icon = eframe::icon_data::from_png_bytes(ICON_PNG).ok();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Centerscope")
        .with_app_id("centerscope")
        .with_inner_size([1280.0, 800.0])
        .with_drag_and_drop(true);
    if let Some(icon) = icon {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "Centerscope",
        options,
        Box::new(move |cc| {
            let mut app = CenterscopeApp::from_storage(cc.storage);
            if let Some(spec) = &open {
                app.open(spec);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        Error::Other(format!(
            "cannot open the window ({e}); is a display available? Headless use: `centerscope detect`"
        ))
    })
}
