//! The real binary in a real window on a virtual X display (Xvfb): it opens a clip, draws the
//! boxes, and quits cleanly when asked (Ctrl+Q).

use crate::common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn real_window_shows_boxes_and_quits_on_ctrl_q() {
    for t in ["Xvfb", "import", "xdotool"] {
        assert!(tool(t), "{t} is needed for the GUI smoke test (apt-get install xvfb imagemagick xdotool; .ci/run installs them)");
    }
    let display = format!(":{}", 90 + std::process::id() % 9);
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb"),
    );
    std::thread::sleep(Duration::from_millis(800));

    // A 2 s clip of the cat photo, so whatever frame is on screen shows the cat.
    let cat = clip(
        "cat.mp4",
        &[
            "-loop",
            "1",
            "-t",
            "2",
            "-framerate",
            "10",
            "-i",
            &image("chelsea.jpg"),
            "-vf",
            "scale=640:-2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let home = tmp();
    let mut app = Killed(
        Command::new(BIN)
            .arg(&cat)
            .env("DISPLAY", &display)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start centerscope"),
    );

    // Wait for the window and for the cat's box (class 15's colour) inside the picture.
    let [r, g, b] = centerscope::output::class_color(15);
    let shot = home.path().join("shot.png");
    let start = Instant::now();
    let mut painted = 0;
    while start.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(1000));
        let ok = Command::new("import")
            .args(["-display", &display, "-window", "root"])
            .arg(&shot)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            continue;
        }
        let Ok(img) = image::open(&shot) else {
            continue;
        };
        let img = img.to_rgb8();
        // The video area: left of the side panel, below the menu bar.
        painted = img
            .enumerate_pixels()
            .filter(|(x, y, _)| *x < 900 && *y > 30 && *y < 760)
            .filter(|(_, _, p)| {
                (p[0] as i32 - r as i32).abs() < 12
                    && (p[1] as i32 - g as i32).abs() < 12
                    && (p[2] as i32 - b as i32).abs() < 12
            })
            .count();
        if painted > 500 {
            break;
        }
    }
    if let Ok(dir) = std::env::var("CENTERSCOPE_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&shot, std::path::Path::new(&dir).join("smoke.png"));
    }
    assert!(
        painted > 500,
        "no box in the cat's colour on screen ({painted} pixels)"
    );

    // Ask it to quit like a user would.
    let win = Command::new("xdotool")
        .args(["search", "--name", "Centerscope"])
        .env("DISPLAY", &display)
        .output()
        .expect("xdotool");
    let id = String::from_utf8_lossy(&win.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(!id.is_empty(), "window titled Centerscope");
    let _ = Command::new("xdotool")
        .args(["windowfocus", "--sync", &id])
        .env("DISPLAY", &display)
        .status();
    let _ = Command::new("xdotool")
        .args(["key", "--window", &id, "ctrl+q"])
        .env("DISPLAY", &display)
        .status();
    let start = Instant::now();
    loop {
        if let Some(status) = app.0.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "app did not quit after Ctrl+Q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
