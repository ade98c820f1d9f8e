//! Issue 10: a user's files are never lost, a dying decoder is a failure, bad inputs get one
//! line and exit 2. Each test reproduces a defect found by trying the product.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn copy_to(dir: &Path, src: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(src, &p).expect("copy fixture");
    p
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn outputs_that_are_inputs_are_refused_and_the_input_survives() {
    let dir = tmp();
    let photo = copy_to(dir.path(), &fixture("images/coffee.jpg"), "photo.jpg");
    let before = std::fs::read(&photo).expect("read");
    run(&["detect", &s(&photo), "--output", &s(&photo)]).assert_user_error("input");
    run(&["detect", &s(&photo), "--annotate", &s(&photo)]).assert_user_error("input");
    // Through a symlink and through `..`.
    let link = dir.path().join("link.jpg");
    std::os::unix::fs::symlink(&photo, &link).expect("symlink");
    run(&["detect", &s(&photo), "--annotate", &s(&link)]).assert_user_error("input");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let dotdot = dir.path().join("sub/../photo.jpg");
    run(&["detect", &s(&photo), "--output", &s(&dotdot)]).assert_user_error("input");
    assert_eq!(
        std::fs::read(&photo).expect("read"),
        before,
        "photo untouched"
    );

    let clip = copy_to(dir.path(), &photo_clip(), "clip.mp4");
    let before = std::fs::read(&clip).expect("read");
    run(&["detect", &s(&clip), "--annotate", &s(&clip)]).assert_user_error("input");
    assert_eq!(
        std::fs::read(&clip).expect("read"),
        before,
        "clip untouched"
    );
    // A picture inside an input folder.
    let folder = dir.path().join("pics");
    std::fs::create_dir(&folder).expect("mkdir");
    let inside = copy_to(&folder, &fixture("images/dog.jpg"), "dog.jpg");
    run(&["detect", &s(&folder), "--output", &s(&inside)]).assert_user_error("input");
}

#[test]
fn a_run_that_fails_before_its_first_frame_leaves_existing_results_alone() {
    let dir = tmp();
    let out = dir.path().join("boxes.jsonl");
    std::fs::write(&out, "{\"frame\":0}\n").expect("write");
    // A model file that cannot load: the failure comes after argument checks.
    let onnx = dir.path().join("broken.onnx");
    std::fs::write(&onnx, b"not an onnx model").expect("write");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("classic/tiny-centernet.json")).expect("read"),
    )
    .expect("json");
    let mut manifest = manifest;
    manifest["file"] = "broken.onnx".into();
    std::fs::write(dir.path().join("broken.json"), manifest.to_string()).expect("write");
    run(&[
        "detect",
        &image("coffee.jpg"),
        "--model",
        &s(&onnx),
        "--output",
        &s(&out),
    ])
    .assert_user_error("onnx");
    assert_eq!(
        std::fs::read_to_string(&out).expect("read"),
        "{\"frame\":0}\n",
        "the existing file is untouched"
    );
    assert!(!dir.path().join("boxes.jsonl.partial").exists());

    // A successful run replaces it and leaves no partial file behind.
    let r = run(&["detect", &image("coffee.jpg"), "--output", &s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read_jsonl(&out).len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("partial")),
        "no partial file after success: {names:?}"
    );
}

/// Lines in a file that may not exist yet.
fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string(), name])
        .output()
        .expect("pgrep (procps)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_decoder_killed_mid_run_is_a_failure_that_keeps_the_frames_written() {
    // Issue 10: killing ffmpeg 4 s into a 795-frame clip ended with exit 0 and 45 frames.
    let clip = clip(
        "long-795.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-frames:v",
            "795",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let dir = tmp();
    let out = dir.path().join("boxes.jsonl");
    let partial = dir.path().join("boxes.jsonl.partial");
    let mut child = Command::new(BIN)
        .args([
            "detect",
            &s(&clip),
            "--model",
            "centerface",
            "--workers",
            "1",
        ])
        .args(["--output", &s(&out)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while lines_in(&partial) < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no frames written"
        );
        assert!(child.try_wait().expect("wait").is_none(), "ended too early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ffmpeg = children_named(child.id(), "ffmpeg");
    assert_eq!(ffmpeg.len(), 1, "one decoder child");
    let killed = Command::new("kill")
        .args(["-KILL", &ffmpeg[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "hung after the decoder died");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("decoding stopped"), "{stderr}");
    assert!(
        stderr.contains("boxes.jsonl.partial"),
        "names the kept file: {stderr}"
    );
    let kept = read_jsonl(&partial);
    assert!(
        kept.len() >= 5 && kept.len() < 795,
        "{} frames kept",
        kept.len()
    );
    assert!(!out.exists(), "never presented as complete");
}

#[test]
fn an_unreadable_picture_in_a_folder_is_skipped_with_a_warning() {
    let dir = tmp();
    let folder = dir.path().join("pics");
    std::fs::create_dir(&folder).expect("mkdir");
    copy_to(&folder, &fixture("images/coffee.jpg"), "a.jpg");
    std::fs::write(folder.join("b.png"), "not a picture").expect("write");
    copy_to(&folder, &fixture("images/dog.jpg"), "c.jpg");
    let out = dir.path().join("out.jsonl");
    let r = run(&["detect", &s(&folder), "--output", &s(&out)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains("b.png")),
        "a warning names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("skipped"), "{}", r.stderr);
    let frames: Vec<u64> = read_jsonl(&out)
        .iter()
        .filter_map(|r| r["frame"].as_u64())
        .collect();
    assert_eq!(frames, vec![0, 2], "the rest is processed");
}

#[test]
fn gif_pictures_are_read() {
    let dir = tmp();
    let gif = dir.path().join("cat.gif");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", &image("chelsea.jpg"), &s(&gif)])
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let out = dir.path().join("out.jsonl");
    let r = run(&["detect", &s(&gif), "--output", &s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rec = &read_jsonl(&out)[0];
    assert!(
        rec["detections"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["label"] == "cat")),
        "{rec}"
    );
}

#[test]
fn file_names_that_look_like_protocols_open() {
    let dir = tmp();
    copy_to(dir.path(), &photo_clip(), "a:b.mp4");
    let out = Command::new(BIN)
        .args(["detect", "a:b.mp4", "--output", "o.jsonl"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_jsonl(&dir.path().join("o.jsonl")).len(), 15);
}

fn tiny_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("classic/tiny-centernet.json")).expect("read"),
    )
    .expect("json");
    for f in ["tiny-centernet.onnx", "valid-conv.onnx"] {
        std::fs::copy(fixture(&format!("classic/{f}")), dir.join(f)).expect("copy");
    }
    edit(&mut m);
    let p = dir.join("tiny.json");
    std::fs::write(&p, m.to_string()).expect("write");
    p
}

#[test]
fn a_manifest_naming_a_device_or_fifo_is_refused_at_once() {
    let dir = tmp();
    let m = tiny_manifest(dir.path(), |m| m["file"] = "/dev/zero".into());
    run_with_timeout(
        &["detect", &image("coffee.jpg"), "--model", &s(&m)],
        Duration::from_secs(60),
    )
    .assert_user_error("not a regular file");
    // A FIFO among the user's models must not hang listing them.
    let models = dir.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");
    let fifo = models.join("stuck.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let r = run_env(
        &["models"],
        &[("CENTERSCOPE_MODEL_DIR", models.as_os_str())],
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("stuck.json"), "{}", r.stderr);
}

#[test]
fn a_model_with_an_empty_feature_map_is_rejected_with_a_message() {
    // A valid-padded 5x5 convolution on a 4x4 input leaves nothing: the kernels must never
    // see it (tools/make_classic_fixture.py writes the model).
    let dir = tmp();
    let m = tiny_manifest(dir.path(), |m| {
        m["file"] = "valid-conv.onnx".into();
        m["input"]["size"] = serde_json::json!([4, 4]);
    });
    run(&["detect", &image("coffee.jpg"), "--model", &s(&m)])
        .assert_user_error("empty feature map");
}

#[test]
fn absurd_worker_counts_are_refused_before_any_work() {
    let r = run(&["detect", &image("coffee.jpg"), "--workers", "200"]);
    r.assert_user_error("workers");
}

/// Peak resident memory of `pid` so far, in MB (Linux).
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[test]
fn huge_frames_run_in_bounded_memory_and_absurd_ones_are_refused() {
    // 9600x9600 frames are 276 MB each: the pipeline holds a bounded number of them.
    let big = clip(
        "huge-9600.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:size=9600x9600:rate=5",
            "-frames:v",
            "4",
            "-c:v",
            "ffv1",
        ],
    );
    let mut child = Command::new(BIN)
        .args([
            "detect",
            &s(&big),
            "--workers",
            "2",
            "--model",
            "centerface",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut peak = 0.0f64;
    let start = Instant::now();
    let status = loop {
        if let Some(v) = peak_rss_mb(child.id()) {
            peak = peak.max(v);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "too slow");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "9600x9600 runs");
    assert!(peak < 2000.0, "peak RSS {peak:.0} MB for 276 MB frames");

    let absurd = clip(
        "absurd-12000.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:size=12000x9000:rate=5",
            "-frames:v",
            "1",
            "-c:v",
            "ffv1",
        ],
    );
    run(&["detect", &s(&absurd)]).assert_user_error("megapixels");
}

/// Load the `tiny-centernet` manifest with the ONNX bytes of `fixture` through the library's
/// `Model::load`; the error it must give (a panic fails the test).
fn onnx_refused(fixture: &str) -> String {
    let manifest = centerscope::model::Manifest::parse(
        include_str!("../fixtures/classic/tiny-centernet.json"),
        "tiny-centernet.json",
    )
    .unwrap();
    let bytes = std::fs::read(crate::common::fixture(fixture)).unwrap();
    let loaded = std::panic::catch_unwind(|| centerscope::model::Model::load(manifest, &bytes))
        .expect("no panic");
    match loaded {
        Err(err) => err.to_string(),
        Ok(_) => panic!("{fixture}: the model was accepted"),
    }
}

#[test]
fn an_onnx_file_whose_output_nothing_produces_is_refused_without_a_panic() {
    // Found by the onnx_load fuzz target (fuzz/README.md): tract-onnx 0.23.9 panicked with
    // "no entry found for key" on a graph output that no node produces.
    let err = onnx_refused("fuzz/onnx-output-not-produced.onnx");
    assert!(err.contains("is not produced by any node"), "{err}");
}

#[test]
fn an_onnx_pooling_whose_strides_do_not_match_its_kernel_is_refused_without_a_panic() {
    // Found by the onnx_load fuzz target on 2026-12-02: an AveragePool with a 3×3 kernel and
    // one stride made tract-core 0.23.9 index out of bounds while inferring shapes
    // (ops/cnn/padding.rs:77), inside Model::load.
    let err = onnx_refused("fuzz/onnx-pool-strides-rank.onnx");
    assert!(
        err.contains("AveragePool") && err.contains("strides"),
        "{err}"
    );
}

#[test]
fn an_onnx_file_with_a_string_tensor_in_raw_bytes_is_refused_without_a_panic() {
    // Found by the onnx_load fuzz target on 2026-12-02 (second run): an initializer of data
    // type STRING stored as raw bytes hit tract-onnx 0.23.9's `unimplemented!("FIXME, raw
    // tensor loading")` inside Model::load.
    let err = onnx_refused("fuzz/onnx-string-initializer-raw.onnx");
    assert!(err.contains("w_zero"), "{err}");
}

#[test]
fn an_onnx_pooling_with_a_zero_kernel_side_is_refused_without_a_panic() {
    // Found by the onnx_load fuzz target on 2026-12-02 (third run): kernel_shape [3, 0] made
    // tract-core 0.23.9 compute `kernel - 1` on 0 while inferring shapes: a panic where
    // overflow checks are on (the fuzz build, `cargo test` in the dev profile), a wrapped
    // size and some later, unrelated error in release builds. Now refused by name.
    let err = onnx_refused("fuzz/onnx-pool-zero-kernel.onnx");
    assert!(
        err.contains("AveragePool") && err.contains("kernel_shape"),
        "{err}"
    );
}

#[test]
fn an_onnx_pooling_with_fewer_kernel_sides_than_its_input_has_axes_is_refused_without_a_panic() {
    // Found by the onnx_load fuzz target on 2026-12-02 (fourth run): a one-sided kernel_shape
    // on the 4-D image input made tract-core 0.23.9 index out of bounds (padding.rs:75).
    let err = onnx_refused("fuzz/onnx-pool-kernel-rank.onnx");
    assert!(
        err.contains("AveragePool") && err.contains("spatial axes"),
        "{err}"
    );
}

#[test]
fn a_panic_inside_tract_deeper_in_the_graph_is_an_error_of_the_library_and_one_line_in_the_cli() {
    // The gap left by the fourth onnx_load finding: the same one-sided kernel_shape on a node
    // that does not read the graph input (no rank is known before shape inference, so it is
    // not pre-checked) still made tract-core 0.23.9 index out of bounds inside Model::load.
    // Model::load itself now turns a panic into an error naming the model.
    // (Here the panic comes while compiling the plan for the default size, whose own guard
    // reports it; Model::load's guard covers the reading and checking before it.)
    let err = onnx_refused("fuzz/onnx-deep-pool-kernel-rank.onnx");
    assert!(
        err.starts_with("model tiny-centernet: ") && err.contains("internal error"),
        "{err}"
    );
    // In the CLI (the model is loaded on the main thread): one line, exit 2, nothing else.
    let dir = tmp();
    std::fs::copy(
        crate::common::fixture("fuzz/onnx-deep-pool-kernel-rank.onnx"),
        dir.path().join("tiny-centernet.onnx"),
    )
    .unwrap();
    std::fs::copy(
        crate::common::fixture("classic/tiny-centernet.json"),
        dir.path().join("tiny-centernet.json"),
    )
    .unwrap();
    let model = dir.path().join("tiny-centernet.json");
    // (RUST_BACKTRACE=1 would add the panic's location on a line of its own.)
    let r = run_env(
        &[
            "detect",
            &image("coffee.jpg"),
            "--model",
            &model.to_string_lossy(),
        ],
        &[("RUST_BACKTRACE", "0".as_ref())],
        Duration::from_secs(120),
    );
    r.assert_user_error("internal error");
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.stderr);
}

/// The non-empty lines of a run's stderr.
fn stderr_lines(r: &Run) -> Vec<String> {
    r.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_panic_in_the_command_thread_is_one_line_and_exit_2() {
    let photo = image("coffee.jpg");
    let quiet = run_env(
        &["detect", &photo],
        &[
            ("CENTERSCOPE_DEBUG_PANIC", "main".as_ref()),
            ("RUST_BACKTRACE", "0".as_ref()),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(quiet.code, 2, "stderr: {}", quiet.stderr);
    let lines = stderr_lines(&quiet);
    assert_eq!(lines.len(), 1, "one line expected: {}", quiet.stderr);
    assert!(
        lines[0].starts_with("centerscope: error: internal error"),
        "{lines:?}"
    );
    assert!(lines[0].contains("deliberate panic"), "{lines:?}");
    assert!(!quiet.stderr.contains("panicked at"), "{}", quiet.stderr);
    // With RUST_BACKTRACE=1 the one line says where.
    let verbose = run_env(
        &["detect", &photo],
        &[
            ("CENTERSCOPE_DEBUG_PANIC", "main".as_ref()),
            ("RUST_BACKTRACE", "1".as_ref()),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(verbose.code, 2, "stderr: {}", verbose.stderr);
    let lines = stderr_lines(&verbose);
    assert_eq!(lines.len(), 1, "one line expected: {}", verbose.stderr);
    assert!(lines[0].contains("src/cli/mod.rs:"), "{lines:?}");
}

#[test]
fn a_panic_in_the_detection_worker_is_one_error_line_and_exit_2() {
    let r = run_env(
        &["detect", &image("coffee.jpg")],
        &[
            ("CENTERSCOPE_DEBUG_PANIC", "worker".as_ref()),
            ("RUST_BACKTRACE", "0".as_ref()),
        ],
        Duration::from_secs(120),
    );
    r.assert_user_error("internal error");
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}
