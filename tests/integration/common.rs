//! Helpers shared by the integration tests: run the binary with a timeout, make test media.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_centerscope");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

pub fn image(name: &str) -> String {
    fixture(&format!("images/{name}"))
        .to_string_lossy()
        .into_owned()
}

/// Result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit 2 with a single-line message on stderr that mentions `needle`, and no panic.
    pub fn assert_user_error(&self, needle: &str) {
        assert_eq!(
            self.code, 2,
            "expected exit 2, got {}; stderr: {}",
            self.code, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let error_lines: Vec<&&str> = lines.iter().filter(|l| l.contains("error")).collect();
        assert_eq!(
            error_lines.len(),
            1,
            "expected one error line, got: {}",
            self.stderr
        );
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr should mention {needle:?}: {}",
            self.stderr
        );
    }
}

/// Run the binary with `args`, killing it after `timeout`.
pub fn run_with_timeout(args: &[&str], timeout: Duration) -> Run {
    run_env(args, &[], timeout)
}

/// Like [`run_with_timeout`] with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)], timeout: Duration) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn centerscope");
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "centerscope {args:?} timed out after {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Run {
    run_with_timeout(args, Duration::from_secs(240))
}

/// Parse a JSON Lines file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// A directory for generated media, shared by all tests of this run.
pub fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("media");
        std::fs::create_dir_all(&d).expect("media dir");
        d
    })
    .clone()
}

/// Generate `name` with ffmpeg (once per run; concurrent callers wait for the same file).
pub fn clip(name: &str, ffmpeg_args: &[&str]) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = media_dir().join(name);
    if path.exists() {
        return path;
    }
    let tmp = media_dir().join(format!("tmp-{name}"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(ffmpeg_args)
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg must be installed to run the tests (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg failed making {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &path).expect("rename clip");
    path
}

/// A clip of the COCO fixture photos (cat, cup, person), `seconds` each at `fps`, as mp4.
pub fn photo_clip() -> PathBuf {
    let (a, b, c) = (
        image("chelsea.jpg"),
        image("coffee.jpg"),
        image("astronaut.jpg"),
    );
    clip(
        "photos.mp4",
        &[
            "-loop", "1", "-t", "1", "-framerate", "5", "-i", &a,
            "-loop", "1", "-t", "1", "-framerate", "5", "-i", &b,
            "-loop", "1", "-t", "1", "-framerate", "5", "-i", &c,
            "-filter_complex",
            "[0]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1[a];\
             [1]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1[b];\
             [2]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1[c];\
             [a][b][c]concat=n=3:v=1:a=0,fps=5[v]",
            "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5",
        ],
    )
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The real app state in an egui_kittest harness of `size` (logical pixels).
pub fn app_harness(
    settings: centerscope::app::settings::Settings,
    size: (f32, f32),
) -> egui_kittest::Harness<'static, centerscope::app::CenterscopeApp> {
    egui_kittest::Harness::builder()
        .with_size(egui::Vec2::new(size.0, size.1))
        .renderer(crate::cpu_render::CpuRenderer::default())
        .build_ui_state(
            |ui, app: &mut centerscope::app::CenterscopeApp| app.show(ui),
            centerscope::app::CenterscopeApp::new(settings),
        )
}

/// Step the UI (as a display would, ~60 Hz) until `cond` holds.
pub fn wait_until(
    h: &mut egui_kittest::Harness<'static, centerscope::app::CenterscopeApp>,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&centerscope::app::CenterscopeApp) -> bool,
) {
    let start = Instant::now();
    while !cond(h.state()) {
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(16));
    }
}

/// A 40x20 JPEG, left half red, right half blue, tagged with EXIF `orientation`.
pub fn exif_tagged_jpeg(orientation: u16) -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0];
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut tagged = jpeg[..2].to_vec();
    tagged.extend_from_slice(&[0xFF, 0xE1]);
    tagged.extend(((payload.len() + 2) as u16).to_be_bytes());
    tagged.extend(payload);
    tagged.extend_from_slice(&jpeg[2..]);
    tagged
}
