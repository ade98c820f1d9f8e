//! The real app state and UI driven through egui_kittest (no window, no GPU needed), with a real
//! model on a real clip.

use crate::common::*;
use centerscope::app::dialogs::DialogKind;
use centerscope::app::settings::Settings;
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
        // These tests are about 2 workers (ordering, restarts): not the automatic split.
        split_auto: false,
        workers: 2,
        ..Settings::default()
    }
}

const LONG: Duration = Duration::from_secs(120);

#[test]
fn open_switch_model_move_threshold_pause_step_and_toggle_overlays() {
    let mut h = harness(settings());
    wait_until(&mut h, "default model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    assert_eq!(
        h.state()
            .player()
            .model()
            .map(|m| m.id.to_string())
            .as_deref(),
        Some("centernet-mobilenetv3-coco")
    );

    // Open the clip through the same path the file dialogs use.
    h.state_mut().file_chosen(DialogKind::Video, photo_clip());
    wait_until(&mut h, "first frame with detections", LONG, |a| {
        a.player().shown().is_some()
    });

    // Pause, then step one frame.
    h.get_by_label("Pause").click();
    h.step();
    assert!(h.state().player().is_paused(), "paused");
    wait_until(&mut h, "in-flight frames settle", LONG, |a| {
        a.player().shown().is_some()
    });
    std::thread::sleep(Duration::from_millis(800));
    h.step();
    let at = h
        .state()
        .player()
        .shown()
        .map(|s| s.frame.index)
        .unwrap_or(0);
    h.get_by_label("frame >").click();
    wait_until(&mut h, "stepped one frame", LONG, |a| {
        a.player().shown().is_some_and(|s| s.frame.index == at + 1)
    });

    // Threshold slider: high, then low. The paused frame is decoded again from the network's
    // last outputs: no new inference.
    let mut counts = Vec::new();
    for value in [0.9, 0.05] {
        let before = h.state().player().stats().results_received;
        h.get_by_role_and_label(Role::Slider, "confidence")
            .set_value_accesskit(value);
        wait_until(&mut h, "re-decoded frame", LONG, |a| {
            (a.player().params().score_threshold as f64 - value).abs() < 1e-3
        });
        h.run_steps(2);
        let shown = h.state().player().shown().expect("frame on screen");
        assert!(shown
            .detections
            .iter()
            .all(|d| d.score as f64 >= value - 1e-6));
        counts.push(shown.detections.len());
        assert_eq!(
            h.state().player().stats().results_received,
            before,
            "only the decoder ran again"
        );
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
        a.player()
            .shown()
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
    h.state_mut()
        .player_mut()
        .set_debug_delay(Some(Duration::from_millis(400)));
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    h.state_mut().file_chosen(DialogKind::Video, photo_clip());
    wait_until(&mut h, "first result", LONG, |a| {
        a.player().shown().is_some()
    });
    let passes = |h: &Harness<'static, CenterscopeApp>| h.ctx.cumulative_pass_nr();
    let (ui0, res0) = (passes(&h), h.state().player().stats().results_received);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let (ui, res) = (
        passes(&h) - ui0,
        h.state().player().stats().results_received - res0,
    );
    // With ≥400 ms per inference and 2 workers at most ~5 results/s arrive; a UI that waited
    // on inference would paint about once per result.
    assert!(
        ui >= 10 * res.max(1),
        "UI frames {ui} vs results {res}: the UI waited on inference"
    );
    assert!(
        h.state().player().dropped() > 0,
        "slow model drops frames in live playback"
    );
}

#[test]
fn errors_become_notifications_and_the_app_keeps_working() {
    let mut h = harness(settings());
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    let dir = tmp();
    let bad = dir.path().join("broken.mp4");
    std::fs::write(&bad, b"definitely not a video").expect("write");
    h.state_mut().file_chosen(DialogKind::Video, bad);
    wait_until(&mut h, "error toast", LONG, |a| {
        a.toasts()
            .items()
            .iter()
            .any(|t| t.text.contains("not a video"))
    });
    assert_eq!(h.state().toasts().items().len(), 1, "handled exactly once");
    assert!(!h.state().player().is_playing());
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
        a.toasts().items().iter().any(|t| t.text.contains("broken"))
    });
    assert_eq!(
        h.state()
            .player()
            .model()
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
        a.player()
            .shown()
            .is_some_and(|s| s.detections.iter().any(|d| d.label.as_ref() == "cat"))
    });
}

#[test]
fn welcome_view_offers_open_buttons_and_falls_back_to_the_in_app_picker() {
    // egui_file's picker draws symbols egui's bundled fonts lack; the app installs a font with
    // them, so the harness (which fails on a missing glyph) sees no tofu.
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
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
        a.dialogs().fallback_open()
            || !a.dialogs().native_open() && a.dialogs().native_unavailable()
    });
    assert!(
        h.state().dialogs().fallback_open(),
        "in-app file picker shown"
    );
}

/// A 2 s clip at 5 fps.
fn short_clip() -> std::path::PathBuf {
    clip(
        "short-2s.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=5:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

#[test]
fn one_press_of_play_at_the_end_restarts_the_clip() {
    // Issue 10: at the end the first press only paused; it took two to restart.
    let mut h = harness(settings());
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    h.state_mut().file_chosen(DialogKind::Video, short_clip());
    for round in 0..3 {
        wait_until(&mut h, "end of clip", LONG, |a| a.player().is_ended());
        let last = h.state().player().shown().map(|s| s.frame.index);
        h.get_by_label("Play").click();
        h.step();
        assert!(!h.state().player().is_paused(), "round {round}: playing");
        wait_until(&mut h, "frames from the start again", LONG, |a| {
            a.player()
                .shown()
                .is_some_and(|s| Some(s.frame.index) != last && s.frame.index < 5)
        });
    }
}

#[test]
fn a_panorama_wider_than_the_gpu_allows_is_shown_downscaled() {
    // Issue 10: a 20000x600 picture aborted the app (texture wider than the GPU maximum).
    let dir = tmp();
    let pano = dir.path().join("pano.png");
    image::RgbImage::from_fn(20000, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .save(&pano)
    .expect("write panorama");
    let mut h = harness(settings());
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    h.state_mut().file_chosen(DialogKind::Image, pano);
    wait_until(&mut h, "panorama on screen", LONG, |a| {
        a.player().shown().is_some_and(|s| s.frame.width == 20000)
    });
    h.run_steps(3);
    let max = h.ctx.input(|i| i.max_texture_side);
    let size = h.state().texture_size().expect("a texture");
    assert!(
        size[0] <= max && size[1] <= max,
        "texture {size:?} within the GPU limit {max}"
    );
    assert!(h.state().toasts().items().is_empty(), "no error");
}

/// A file dropped onto the window, as the desktop integration hands it over.
#[derive(Debug)]
struct PathDrop(std::path::PathBuf);

impl egui::DroppedFile for PathDrop {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_manifest_loads_as_a_model() {
    // Issue 11: a dropped .json manifest was opened as a video.
    let mut h = harness(settings());
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(PathDrop(fixture(
            "classic/tiny-centernet.json",
        ))));
    wait_until(&mut h, "tiny model selected", LONG, |a| {
        a.player()
            .model()
            .is_some_and(|m| m.id.as_ref() == "tiny-centernet")
    });
}

#[test]
fn export_video_from_the_file_menu_writes_the_anonymised_file() {
    let dir = tmp();
    let input = dir.path().join("faces.mp4");
    std::fs::copy(photo_clip(), &input).unwrap();
    let mut h = harness(Settings {
        model_id: "centerface".into(),
        ..settings()
    });
    wait_until(&mut h, "model loaded", LONG, |a| {
        a.player().model().is_some()
    });
    h.state_mut().file_chosen(DialogKind::Video, input.clone());
    wait_until(&mut h, "first frame", LONG, |a| {
        a.player().shown().is_some()
    });

    h.get_by_role_and_label(Role::Button, "File").click();
    h.run_steps(2);
    h.get_by_label("Export video…").click();
    h.run_steps(2);
    let form = h
        .state()
        .exports()
        .form
        .clone()
        .expect("the export form is open");
    let default = dir.path().join("faces_anonymized.mp4");
    assert_eq!(form.output, default.to_string_lossy());
    h.get_by_label("Pixelate").click();
    h.run_steps(1);
    h.get_by_label("Export").click();
    h.run_steps(1);
    // The export runs in the background while the window keeps painting.
    wait_until(&mut h, "export finished", LONG, |a| {
        a.exports().running.is_none()
            && a.toasts()
                .items()
                .iter()
                .any(|t| t.text.starts_with("Exported"))
    });
    let toast = h
        .state()
        .toasts()
        .items()
        .iter()
        .find(|t| t.text.starts_with("Exported"))
        .cloned()
        .unwrap();
    assert_eq!(toast.folder.as_deref(), Some(dir.path()));
    assert!(default.exists(), "{}", toast.text);
    // Every frame of the input (15), not just those played on screen.
    assert!(toast.text.contains("15 frame(s)"), "{}", toast.text);
    assert!(!dir.path().join("faces_anonymized.partial.mp4").exists());
}
