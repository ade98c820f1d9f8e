//! Progress on stderr for long runs: frames, fps and ETA on one self-overwriting line when
//! stderr is a terminal; nothing when it is piped or redirected (logs stay clean).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    name: String,
    total: Option<u64>,
    started: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
    drawn: bool,
}

impl Progress {
    /// `total`: frames expected, when known.
    pub fn new(name: &str, total: Option<u64>) -> Progress {
        Progress {
            name: name.to_string(),
            total: total.filter(|t| *t > 1),
            started: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Report `done` frames (redrawn at most 5 times a second).
    pub fn update(&mut self, done: u64) {
        if !self.enabled
            || self
                .last_draw
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let line = progress_line(&self.name, done, self.total, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clear the line before the summary is printed.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `clip.mp4: 120/795 frames (15%), 31.2 fps, ETA 0:21`
pub fn progress_line(name: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let fps = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    match total {
        Some(t) if t >= done => {
            let eta = if fps > 0.0 {
                clock((t - done) as f64 / fps)
            } else {
                "?".into()
            };
            format!(
                "{name}: {done}/{t} frames ({:.0}%), {fps:.1} fps, ETA {eta}",
                done as f64 * 100.0 / t as f64
            )
        }
        _ => format!("{name}: {done} frames, {fps:.1} fps, {}", clock(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_frames_fps_and_eta() {
        let l = progress_line("clip.mp4", 100, Some(400), Duration::from_secs(4));
        assert_eq!(l, "clip.mp4: 100/400 frames (25%), 25.0 fps, ETA 0:12");
        let l = progress_line("camera", 30, None, Duration::from_secs(3700));
        assert!(l.ends_with("1:01:40"), "{l}");
    }
}
