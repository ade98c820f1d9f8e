//! Snapshot images of the main views, rasterised on the CPU (`cpu_render.rs`: no GPU driver,
//! no wgpu in the test build). Baselines live in tests/snapshots/; after an intended UI change
//! regenerate them with `UPDATE_SNAPSHOTS=true cargo test --test integration gui_snapshots`
//! and look at the new PNGs before committing. Only deterministic content is captured: the
//! latency numbers and plot (which vary run to run) are hidden or absent.

use crate::common::*;
use centerscope::app::dialogs::DialogKind;
use centerscope::app::settings::Settings;
use centerscope::app::CenterscopeApp;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use std::time::Duration;

fn harness(settings: Settings) -> Harness<'static, CenterscopeApp> {
    app_harness(settings, (1100.0, 700.0))
}

/// Wait, then let animations settle so the picture is stable.
fn settle_until(
    h: &mut Harness<'static, CenterscopeApp>,
    what: &str,
    cond: impl Fn(&CenterscopeApp) -> bool,
) {
    wait_until(h, what, Duration::from_secs(120), cond);
    h.run_steps(4);
}

/// No camera list spinner, no stats: what is left is the same on every run.
fn quiet_settings() -> Settings {
    Settings {
        show_stats: false,
        // The automatic split names the core count: manual keeps the picture machine-free.
        split_auto: false,
        workers: 1,
        ..Settings::default()
    }
}

#[test]
fn snapshot_welcome_detections_dropdown_and_error() {
    let mut h = harness(quiet_settings());
    settle_until(&mut h, "model loaded and cameras listed", |a| {
        a.player().model().is_some() && a.cameras().is_some()
    });
    h.snapshot("welcome");

    // A still with boxes and labels (no latency badge, side panel without frames yet shows
    // no numbers: hide it for the picture).
    h.state_mut().settings.show_side_panel = false;
    h.state_mut().file_chosen(
        DialogKind::Image,
        std::path::PathBuf::from(image("person.jpg")),
    );
    settle_until(&mut h, "detections on screen", |a| {
        a.player().shown().is_some_and(|s| !s.detections.is_empty())
    });
    h.snapshot("detections");

    // The model dropdown, open.
    h.state_mut().close_source();
    h.state_mut().settings.show_side_panel = true;
    h.run_steps(2);
    h.get_by_value("CenterNet MobileNetV3 (COCO)").click();
    h.run_steps(3);
    h.snapshot("model_dropdown");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);

    // An error notification.
    h.state_mut().file_chosen(
        DialogKind::Video,
        std::path::PathBuf::from("/nonexistent/holiday.mp4"),
    );
    settle_until(&mut h, "error toast", |a| !a.toasts().items().is_empty());
    h.snapshot("error_toast");
}
