//! Bad input never panics or hangs: exit 2 and one line naming the problem.

use crate::common::*;
use std::time::Duration;

fn quick(args: &[&str]) -> Run {
    run_with_timeout(args, Duration::from_secs(120))
}

#[test]
fn missing_input_file() {
    quick(&["detect", "/nonexistent/clip.mp4"]).assert_user_error("no such file");
}

#[test]
fn text_file_named_png() {
    let dir = tmp();
    let p = dir.path().join("fake.png");
    std::fs::write(&p, "hello, I am not a picture\n").expect("write");
    quick(&["detect", &p.to_string_lossy()]).assert_user_error("not a readable image");
}

#[test]
fn absurd_threshold_and_workers() {
    quick(&["detect", &image("coffee.jpg"), "--threshold", "7"]).assert_user_error("threshold");
    quick(&["detect", &image("coffee.jpg"), "--threshold", "-1"]).assert_user_error("threshold");
    quick(&["detect", &image("coffee.jpg"), "--workers", "0"]).assert_user_error("workers");
    quick(&["detect", &image("coffee.jpg"), "--every", "0"]).assert_user_error("every");
    quick(&[
        "detect",
        &image("coffee.jpg"),
        "--model",
        "centernet-mobilenetv3-coco",
        "--size",
        "640x480",
    ])
    .assert_user_error("only accepts");
}

#[test]
fn unknown_model_id() {
    quick(&["detect", &image("coffee.jpg"), "--model", "yolo9000"])
        .assert_user_error("unknown model");
}

fn user_model(
    dir: &std::path::Path,
    onnx_bytes: &[u8],
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let onnx = dir.join("user.onnx");
    std::fs::write(&onnx, onnx_bytes).expect("write onnx");
    let mut manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("models/centerface.json")).expect("read"),
    )
    .expect("json");
    manifest["id"] = "user".into();
    manifest["file"] = "user.onnx".into();
    manifest.as_object_mut().map(|m| m.remove("sha256"));
    edit(&mut manifest);
    std::fs::write(dir.join("user.json"), manifest.to_string()).expect("write manifest");
    onnx.to_string_lossy().into_owned()
}

#[test]
fn truncated_onnx() {
    let dir = tmp();
    let bytes = std::fs::read(repo().join("models/centerface.onnx")).expect("read");
    let path = user_model(dir.path(), &bytes[..bytes.len() / 3], |_| {});
    quick(&["detect", &image("astronaut.jpg"), "--model", &path])
        .assert_user_error("not a readable ONNX");
}

#[test]
fn onnx_whose_outputs_do_not_fit_the_manifest() {
    let dir = tmp();
    let bytes = std::fs::read(repo().join("models/centerface.onnx")).expect("read");
    // Claim it is a COCO-style CenterNet: its heads have the wrong shapes for that.
    let path = user_model(dir.path(), &bytes, |m| {
        m["family"] = "centernet-ltrb".into();
        m["outputs"] = serde_json::json!({"heatmap": "537", "wh": "538"});
    });
    quick(&["detect", &image("astronaut.jpg"), "--model", &path])
        .assert_user_error("outputs do not fit");
    // Name an output that does not exist.
    let path = user_model(dir.path(), &bytes, |m| {
        m["outputs"]["heatmap"] = "hm".into()
    });
    quick(&["detect", &image("astronaut.jpg"), "--model", &path]).assert_user_error("\"hm\"");
}

#[test]
fn manifest_checksum_mismatch() {
    let dir = tmp();
    let bytes = std::fs::read(repo().join("models/centerface.onnx")).expect("read");
    let path = user_model(dir.path(), &bytes, |m| m["sha256"] = "00".repeat(32).into());
    quick(&["detect", &image("astronaut.jpg"), "--model", &path]).assert_user_error("SHA-256");
}

#[test]
fn unwritable_output() {
    quick(&[
        "detect",
        &image("coffee.jpg"),
        "--output",
        "/nonexistent-dir/out.jsonl",
    ])
    .assert_user_error("cannot create");
}
