//! Frame sources on generated clips: containers, rotation, odd sizes, VFR, audio, tiny files,
//! exact seeking, and the CLI on video.

use crate::common::*;
use centerscope::source::{self, SeekTarget};
use centerscope::Frame;

fn all_frames(path: &std::path::Path) -> Vec<Frame> {
    let mut src = source::open(&path.to_string_lossy()).expect("open clip");
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame() {
        frames.push(f.expect("frame"));
    }
    frames
}

fn mean(f: &Frame) -> f64 {
    f.rgb.iter().map(|v| *v as f64).sum::<f64>() / f.rgb.len() as f64
}

fn testsrc(name: &str, size: &str, frames: u32, extra: &[&str]) -> std::path::PathBuf {
    let spec = format!(
        "testsrc2=size={size}:rate=10:duration={}",
        frames as f64 / 10.0
    );
    let mut args = vec!["-f", "lavfi", "-i", &spec];
    args.extend_from_slice(extra);
    clip(name, &args)
}

#[test]
fn common_containers_decode_every_frame_with_timestamps() {
    for (name, codec) in [
        ("t.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"][..]),
        ("t.mkv", &["-c:v", "libx264"]),
        ("t.webm", &["-c:v", "libvpx-vp9", "-b:v", "200k"]),
        ("t.avi", &["-c:v", "mpeg4"]),
    ] {
        let path = testsrc(name, "160x120", 12, codec);
        let frames = all_frames(&path);
        assert_eq!(frames.len(), 12, "{name}");
        for (i, f) in frames.iter().enumerate() {
            assert_eq!((f.index, f.width, f.height), (i as u64, 160, 120), "{name}");
            assert!(
                (f.pts_ms - i as f64 * 100.0).abs() < 1.5,
                "{name}: frame {i} at {} ms",
                f.pts_ms
            );
        }
        let info = source::open(&path.to_string_lossy())
            .expect("open")
            .info()
            .clone();
        assert!(
            info.fps.is_some_and(|f| (f - 10.0).abs() < 0.01),
            "{name} fps {:?}",
            info.fps
        );
    }
}

#[test]
fn display_matrix_rotation_is_applied() {
    // A red marker in the top-left corner of a landscape clip, tagged as rotated by 90°.
    let plain = clip(
        "marker.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=320x180:r=10:d=0.5",
            "-vf",
            "drawbox=x=0:y=0:w=40:h=40:color=red:t=fill",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let rotated = clip(
        "rotated.mp4",
        &[
            "-i",
            &plain.to_string_lossy(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let frames = all_frames(&rotated);
    assert_eq!(frames.len(), 5);
    let f = &frames[0];
    assert_eq!((f.width, f.height), (180, 320), "portrait after rotation");
    let px = |x: u32, y: u32| {
        let i = ((y * f.width + x) * 3) as usize;
        [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]]
    };
    // The display matrix says 90° counter-clockwise: the top-left corner ends bottom-left.
    let red = |p: [u8; 3]| p[0] > 180 && p[1] < 80 && p[2] < 80;
    assert!(
        red(px(10, 310)),
        "marker bottom-left, got {:?}",
        px(10, 310)
    );
    for (x, y) in [(10, 10), (170, 10), (170, 310)] {
        assert!(
            !red(px(x, y)),
            "({x},{y}) should be blue, got {:?}",
            px(x, y)
        );
    }
}

#[test]
fn odd_size_audio_track_and_tiny_files() {
    let odd = testsrc(
        "odd.mp4",
        "642x362",
        5,
        &["-c:v", "libx264", "-pix_fmt", "yuv444p"],
    );
    let f = all_frames(&odd);
    assert_eq!(f.len(), 5);
    assert_eq!((f[0].width, f[0].height), (642, 362));

    let audio = clip(
        "audio.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=10:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    assert_eq!(all_frames(&audio).len(), 10);

    for n in [1u32, 3] {
        let p = testsrc(
            &format!("n{n}.mp4"),
            "160x120",
            n,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        assert_eq!(all_frames(&p).len(), n as usize);
    }
}

#[test]
fn variable_frame_rate_keeps_real_timestamps() {
    // Frames 0-4 every 40 ms, then every 200 ms.
    let vfr = clip(
        "vfr.mkv",
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
    let f = all_frames(&vfr);
    assert_eq!(f.len(), 10);
    let want = [
        0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 400.0, 600.0, 800.0, 1000.0,
    ];
    for (frame, w) in f.iter().zip(want) {
        assert!(
            (frame.pts_ms - w).abs() < 2.0,
            "pts {} want {w}",
            frame.pts_ms
        );
    }
}

/// A clip whose frame n is uniformly grey with level 8n, keyframes every 10 frames.
fn counter_clip() -> std::path::PathBuf {
    clip(
        "counter.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:r=10:d=3",
            "-vf",
            "geq=lum='8*N':cb=128:cr=128",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

#[test]
fn seeking_is_exact_by_frame_and_time() {
    let path = counter_clip();
    let seq = all_frames(&path);
    assert_eq!(seq.len(), 30);
    let mut src = source::open(&path.to_string_lossy()).expect("open");
    for target in [13u64, 27, 5, 0, 10, 29] {
        src.seek(SeekTarget::Frame(target)).expect("seek");
        let f = src.next_frame().expect("a frame").expect("ok");
        assert_eq!(f.index, target, "index after seek");
        assert!(
            (mean(&f) - mean(&seq[target as usize])).abs() < 0.5,
            "frame {target}: picture differs ({} vs {})",
            mean(&f),
            mean(&seq[target as usize])
        );
        assert!(
            (f.pts_ms - target as f64 * 100.0).abs() < 1.5,
            "pts {}",
            f.pts_ms
        );
        let next = src.next_frame().map(|r| r.expect("ok").index);
        assert_eq!(
            next,
            (target < 29).then_some(target + 1),
            "frame after {target}"
        );
    }
    src.seek(SeekTarget::TimeMs(1530.0)).expect("seek time");
    let f = src.next_frame().expect("frame").expect("ok");
    assert_eq!(f.index, 15, "1530 ms falls in frame 15");
}

#[test]
fn detect_on_video_writes_one_line_per_frame_in_order() {
    let clip = photo_clip();
    let dir = tmp();
    let out = dir.path().join("v.jsonl");
    let r = run(&[
        "detect",
        &clip.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let recs = read_jsonl(&out);
    assert_eq!(recs.len(), 15);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec["frame"], i as u64);
        assert_eq!(
            (rec["width"].as_u64(), rec["height"].as_u64()),
            (Some(640), Some(360))
        );
        assert!((rec["pts_ms"].as_f64().unwrap_or(-1.0) - i as f64 * 200.0).abs() < 1.5);
    }
    let top = |i: usize| {
        recs[i]["detections"][0]["label"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        (top(2).as_str(), top(7).as_str(), top(12).as_str()),
        ("cat", "cup", "person")
    );

    // --every, --start and --duration select frames by index and time.
    let out2 = dir.path().join("v2.jsonl");
    let r = run(&[
        "detect",
        &clip.to_string_lossy(),
        "--output",
        &out2.to_string_lossy(),
        "--every",
        "2",
        "--start",
        "1",
        "--duration",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let frames: Vec<u64> = read_jsonl(&out2)
        .iter()
        .filter_map(|r| r["frame"].as_u64())
        .collect();
    assert_eq!(frames, vec![6, 8, 10]);
}

#[test]
fn bad_video_inputs_fail_cleanly() {
    let dir = tmp();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is text, not a video\n".repeat(10)).expect("write");
    run(&["detect", &text.to_string_lossy()]).assert_user_error("not a video");

    let good = std::fs::read(photo_clip()).expect("read clip");
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    let r = run(&["detect", &truncated.to_string_lossy()]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, 2, "truncated mp4: {}", r.stderr);

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    run(&["detect", &empty.to_string_lossy()]).assert_user_error("no images");
    run(&["detect", "/nonexistent/video.mkv"]).assert_user_error("no such file");
    run(&["detect", "camera:99"]).assert_user_error("camera");
    run(&["detect", "camera:abc"]).assert_user_error("camera index");
}

#[test]
fn camera_listing_works_without_devices() {
    let cams =
        centerscope::source::camera::list_cameras().expect("listing cameras never fails here");
    let r = run(&["sources"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    if cams.is_empty() {
        assert!(r.stdout.contains("no cameras found"));
        assert!(centerscope::source::camera::CameraSource::open(0).is_err());
    }
}

/// Run the binary with `CENTERSCOPE_DEBUG_CAMERA=stall-after:N`: `camera:K` is a synthetic
/// 30 fps camera whose driver blocks forever after N frames (no video device exists on these
/// machines).
fn run_with_stalling_camera(frames: u32, args: &[&str]) -> Run {
    let value = std::ffi::OsString::from(format!("stall-after:{frames}"));
    run_env(
        args,
        &[("CENTERSCOPE_DEBUG_CAMERA", value.as_os_str())],
        std::time::Duration::from_secs(120),
    )
}

/// `anonymize camera:0 -o out --duration seconds` with a camera that stalls after N frames.
fn record_stalling_camera(frames: u32, out: &std::path::Path, seconds: &str) -> Run {
    let out = out.to_string_lossy();
    let args = ["anonymize", "camera:0", "-o", &out, "--duration", seconds];
    run_with_stalling_camera(frames, &args)
}

#[test]
fn detect_on_a_camera_that_stalls_ends_within_seconds_keeping_what_it_wrote() {
    let dir = tmp();
    let out = dir.path().join("cam.jsonl");
    let started = std::time::Instant::now();
    let r = run_with_stalling_camera(
        12,
        &["detect", "camera:0", "--output", &out.to_string_lossy()],
    );
    // 12 frames (0.4 s), the 5 s frame wait, the 2 s wait for the stuck capture thread.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    r.assert_user_error("delivered no frame for 5 s");
    // What was written before the stall is kept, under a name that says it is partial.
    assert!(!out.exists());
    assert!(r.stderr.contains("kept in"), "{}", r.stderr);
    let lines = read_jsonl(&dir.path().join("cam.jsonl.partial"));
    assert!(
        !lines.is_empty() && lines.len() <= 12,
        "{} lines kept: {}",
        lines.len(),
        r.stderr
    );
}

#[test]
fn a_camera_recording_is_written_and_a_stall_keeps_the_frames_before_it() {
    let dir = tmp();
    // A recording that ends by --duration.
    let rec = dir.path().join("rec.mp4");
    let r = record_stalling_camera(1000, &rec, "1");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let frames = all_frames(&rec);
    // Live mode drops frames when the detector falls behind (a busy machine): count loosely,
    // and check that the recording spans the second asked for.
    assert!((5..=31).contains(&frames.len()), "{} frames", frames.len());
    assert_eq!((frames[0].width, frames[0].height), (640, 480));
    let span_ms = frames[frames.len() - 1].pts_ms - frames[0].pts_ms;
    assert!((500.0..=1100.0).contains(&span_ms), "{span_ms} ms recorded");

    // A recording cut short by a stalled camera: exit 2, one line, the frames kept.
    let cut = dir.path().join("cut.mp4");
    let r = record_stalling_camera(15, &cut, "60");
    r.assert_user_error("delivered no frame for 5 s");
    assert!(r.stderr.contains("kept in"), "{}", r.stderr);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains("cut"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let frames = all_frames(&kept[0]);
    assert!((1..=15).contains(&frames.len()), "{} frames", frames.len());
}

/// A JPEG APP1 segment holding only an EXIF orientation tag.

#[test]
fn exif_orientation_of_stills_is_applied() {
    // 40x20, left half red; EXIF orientation 6 = "rotate 90° clockwise to display".
    let tagged = exif_tagged_jpeg(6);
    let dir = tmp();
    let path = dir.path().join("phone.jpg");
    std::fs::write(&path, tagged).expect("write");
    let f = all_frames(&path);
    assert_eq!((f[0].width, f[0].height), (20, 40), "upright portrait");
    let px = |x: u32, y: u32| f[0].rgb[((y * 20 + x) * 3) as usize];
    assert!(px(10, 5) > 200, "red on top after rotation");
    assert!(px(10, 35) < 60, "blue at the bottom");
}

#[test]
fn missing_ffmpeg_is_explained() {
    let empty = tmp();
    let r = run_env(
        &["detect", &photo_clip().to_string_lossy()],
        &[("PATH", empty.path().as_os_str())],
        std::time::Duration::from_secs(60),
    );
    r.assert_user_error("install FFmpeg");
}
