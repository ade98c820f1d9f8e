//! The real app state and UI driven through egui_kittest (no window, no GPU needed), with a real
//! model on a real clip.

use crate::common::*;
use centerscope::app::settings::Settings;
use centerscope::app::state::DialogKind;
use centerscope::app::CenterscopeApp;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use std::time::{Duration, Instant};

fn harness(settings: Settings) -> Harness<'static, CenterscopeApp> {
    app_harness(settings, (1280.0, 800.0))
}

fn settings() -> Settings {
    Settings {
        workers: 2,
        ..Settings::default()
    }
}

const LONG: Duration = Duration::from_secs(120);

#[test]
fn open_switch_model_move_threshold_pause_step_and_toggle_overlays() {
    let mut h = harness(settings());
    wait_until(&mut h, "default model loaded", LONG, |a| a.model.is_some());
    assert_eq!(
        h.state()
            .model
            .as_ref()
            .map(|m| m.id.to_string())
            .as_deref(),
        Some("centernet-mobilenetv3-coco")
    );

    // Open the clip through the same path the file dialogs use.
    h.state_mut().file_chosen(DialogKind::Video, photo_clip());
    wait_until(&mut h, "first frame with detections", LONG, |a| {
        a.shown.is_some()
    });

    // Pause, then step one frame.
    h.get_by_label("Pause").click();
    h.step();
    assert!(
        h.state().playing.as_ref().is_some_and(|p| p.paused),
        "paused"
    );
    wait_until(&mut h, "in-flight frames settle", LONG, |a| {
        a.shown.is_some()
    });
    std::thread::sleep(Duration::from_millis(800));
    h.step();
    let at = h.state().shown.as_ref().map(|s| s.frame.index).unwrap_or(0);
    h.get_by_label("frame >").click();
    wait_until(&mut h, "stepped one frame", LONG, |a| {
        a.shown.as_ref().is_some_and(|s| s.frame.index == at + 1)
    });

    // Threshold slider: high, then low; the paused frame is re-run each time.
    let mut counts = Vec::new();
    for value in [0.9, 0.05] {
        let before = h.state().results_received;
        h.get_by_role_and_label(Role::Slider, "confidence")
            .set_value_accesskit(value);
        wait_until(&mut h, "re-decoded frame", LONG, |a| {
            a.results_received > before && (a.params.score_threshold as f64 - value).abs() < 1e-3
        });
        let shown = h.state().shown.as_ref().expect("frame on screen");
        assert!(shown
            .detections
            .iter()
            .all(|d| d.score as f64 >= value - 1e-6));
        counts.push(shown.detections.len());
    }
    assert!(
        counts[1] > counts[0],
        "lower threshold shows more boxes: {counts:?}"
    );

    // Switch the model from the side panel's dropdown.
    h.get_by_value("CenterNet MobileNetV3 (COCO)").click();
    h.run_steps(3);
    h.get_by_label("CenterFace").click();
    wait_until(&mut h, "frame re-run with CenterFace", LONG, |a| {
        a.shown
            .as_ref()
            .is_some_and(|s| s.model_id.as_ref() == "centerface")
    });
    assert_eq!(h.state().settings.model_id, "centerface");

    // Overlay toggles in the View menu.
    h.get_by_label("View").click();
    h.run_steps(3);
    h.get_by_label("Labels").click();
    h.step();
    assert!(!h.state().settings.show_labels);
}

#[test]
fn ui_keeps_repainting_while_inference_is_slow() {
    let mut h = harness(settings());
    h.state_mut().debug_delay = Some(Duration::from_millis(400));
    wait_until(&mut h, "model loaded", LONG, |a| a.model.is_some());
    h.state_mut().file_chosen(DialogKind::Video, photo_clip());
    wait_until(&mut h, "first result", LONG, |a| a.shown.is_some());
    let (ui0, res0) = (h.state().ui_frames, h.state().results_received);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let (ui, res) = (h.state().ui_frames - ui0, h.state().results_received - res0);
    // With ≥400 ms per inference and 2 workers at most ~5 results/s arrive; a UI that waited
    // on inference would paint about once per result.
    assert!(
        ui >= 10 * res.max(1),
        "UI frames {ui} vs results {res}: the UI waited on inference"
    );
    assert!(
        h.state()
            .playing
            .as_ref()
            .is_some_and(|p| p.pipeline.controls().dropped() > 0),
        "slow model drops frames in live playback"
    );
}

#[test]
fn errors_become_notifications_and_the_app_keeps_working() {
    let mut h = harness(settings());
    wait_until(&mut h, "model loaded", LONG, |a| a.model.is_some());
    let dir = tmp();
    let bad = dir.path().join("broken.mp4");
    std::fs::write(&bad, b"definitely not a video").expect("write");
    h.state_mut().file_chosen(DialogKind::Video, bad);
    wait_until(&mut h, "error toast", LONG, |a| {
        a.toasts
            .items()
            .iter()
            .any(|t| t.text.contains("not a video"))
    });
    assert_eq!(h.state().toasts.items().len(), 1, "handled exactly once");
    assert!(h.state().playing.is_none());
    // A broken model keeps the previous good one.
    let onnx = dir.path().join("broken.onnx");
    std::fs::write(&onnx, b"not onnx").expect("write");
    std::fs::write(
        dir.path().join("broken.json"),
        std::fs::read_to_string(repo().join("models/centerface.json"))
            .expect("read")
            .replace("\"centerface\"", "\"broken\"")
            .replace("centerface.onnx", "broken.onnx"),
    )
    .expect("write");
    h.state_mut().file_chosen(DialogKind::Model, onnx);
    wait_until(&mut h, "model error toast", LONG, |a| {
        a.toasts.items().iter().any(|t| t.text.contains("broken"))
    });
    assert_eq!(
        h.state()
            .model
            .as_ref()
            .map(|m| m.id.to_string())
            .as_deref(),
        Some("centernet-mobilenetv3-coco")
    );
    // And a good file still opens afterwards.
    h.state_mut().file_chosen(
        DialogKind::Image,
        std::path::PathBuf::from(image("chelsea.jpg")),
    );
    wait_until(&mut h, "picture after errors", LONG, |a| {
        a.shown
            .as_ref()
            .is_some_and(|s| s.detections.iter().any(|d| d.label.as_ref() == "cat"))
    });
}

#[test]
fn welcome_view_offers_open_buttons_and_falls_back_to_the_in_app_picker() {
    // egui_file's picker draws emoji icons that egui's bundled fonts lack (tofu on screen).
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .allow_missing_glyphs()
        .build_ui_state(
            |ui, app: &mut CenterscopeApp| app.show(ui),
            CenterscopeApp::new(settings()),
        );
    h.step();
    h.get_by_label("Open image…");
    h.get_by_label("Open video…").click();
    // No desktop portal or zenity here: the native dialog answers "nothing" at once, which
    // nobody can do by hand, so the in-app picker opens instead.
    wait_until(&mut h, "a file dialog", Duration::from_secs(30), |a| {
        a.fallback_dialog.is_some() || a.dialog.is_none() && a.native_dialog_unavailable
    });
    assert!(
        h.state().fallback_dialog.is_some(),
        "in-app file picker shown"
    );
}
