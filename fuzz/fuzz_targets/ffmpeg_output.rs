//! Arbitrary bytes as ffprobe's JSON (`parse_probe`) and as ffmpeg's `showinfo` log lines
//! (`showinfo_time_base`, `showinfo_pts`). A damaged or hostile video controls much of both:
//! must never panic, and what they return must be usable (sizes > 0, finite rates and times).
#![no_main]

use centerscope::source::video::{parse_probe, showinfo_pts, showinfo_time_base};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_probe(Path::new("fuzz.mp4"), data) {
        assert!(p.coded_width > 0 && p.coded_height > 0);
        assert!(p.fps.is_none_or(|f| f.is_finite() && f > 0.0), "{:?}", p.fps);
        let _ = p.display_size();
    }
    // ffmpeg's stderr is read as bytes and split into lines, lossily decoded.
    let text = String::from_utf8_lossy(data);
    let mut time_base = None;
    for line in text.lines() {
        if let Some(tb) = showinfo_time_base(line) {
            assert!(tb.0 > 0 && tb.1 > 0);
            time_base = Some(tb);
        }
        if let Some((_, secs)) = showinfo_pts(line, time_base) {
            assert!(secs.is_finite());
        }
    }
});
