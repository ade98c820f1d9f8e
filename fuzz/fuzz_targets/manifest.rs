//! Arbitrary bytes → UTF-8 → `Manifest::parse`. Must never panic, whatever the text.
//!
//! A manifest that parses is then held to what the rest of the app relies on: the size the
//! size policy picks for any source is one `check_size` accepts, and the size helpers never
//! panic (they run on every frame size a video or camera reports).
#![no_main]

use centerscope::model::Manifest;
use libfuzzer_sys::fuzz_target;

/// Source sizes (width, height) the size policy is asked about: ordinary, degenerate, extreme.
const SOURCES: [(u32, u32); 8] = [
    (640, 480),
    (1920, 1080),
    (1080, 1920),
    (1, 1),
    (0, 0),
    (1, u32::MAX),
    (u32::MAX, 1),
    (u32::MAX, u32::MAX),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Manifest::parse(text, "fuzz.json") else {
        return;
    };
    for (w, h) in SOURCES {
        let size = m.input_size_for(w, h);
        assert!(
            m.check_size(size).is_ok(),
            "input_size_for({w}, {h}) = {size:?} is rejected by check_size: {:?}",
            m.check_size(size)
        );
        // The long sides the desktop app offers in its "input size" menu.
        for long in [320usize, 480, 640, 960, 1280] {
            let s = m.input_size_for_long_side(w, h, long);
            assert!(s[0] > 0 && s[1] > 0, "input_size_for_long_side({w}, {h}, {long}) = {s:?}");
        }
    }
    let _ = m.flexible_size();
});
